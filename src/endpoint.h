/*
 * endpoint.h -- the core's side of endpoints (endpoint.c): one way to send
 * to a participant whatever carries it.  A stream connection and a
 * datagram peer each provide the ops; a bridge to another server can too.
 * The endpoint outlives what it stands for: once its owner is gone it is
 * detached, and sends to it do nothing.
 */
#ifndef ECHOCHAT_ENDPOINT_H
#define ECHOCHAT_ENDPOINT_H

#include <stdatomic.h>
#include <stddef.h>

#include "handler.h"
#include "line.h"
#include "loop.h"

struct endpoint_ops {
	/* Each runs on the endpoint's loop, with impl attached. */
	void	(*send)(void *impl, const void *data, size_t len);
	void	(*send_line)(void *impl, struct shared_line *);
	/* optional: send_line taking over one of the caller's references */
	void	(*send_line_owned)(void *impl, struct shared_line *);
	void	(*finish)(void *impl);
	void	(*hold)(void *impl);		/* optional: stop reading */
	void	(*release)(void *impl);		/* last reference dropped */
};

struct endpoint {
	const struct endpoint_ops	*ops;
	void				*impl;	/* NULL once detached */
	struct loop			*loop;
	atomic_uint			 refs;
};

/* A new endpoint with one reference, the owner's. */
struct endpoint	*endpoint_new(const struct endpoint_ops *, void *impl,
		    struct loop *);
/* The owner is going (on the endpoint's loop): detach and drop its ref. */
void		 endpoint_detach(struct endpoint *);
/* Hold from if it is here and to's loop is far behind. */
void		 endpoint_hold_if_behind(struct endpoint *from, struct loop *to);

#endif
