/*
 * udp.h -- datagram listeners (udp.c): datagrams to the handler with
 * their source, replies rationed per source address, and proven peers as
 * endpoints.  Everything here runs on one loop (the main one).
 */
#ifndef ECHOCHAT_UDP_H
#define ECHOCHAT_UDP_H

#include <sys/queue.h>
#include <stdatomic.h>
#include <stdint.h>

#include "handler.h"
#include "listener.h"
#include "loop.h"

/* Changed only while every loop is held (a reload). */
struct udp_limits {
	uint64_t	rate;		/* replies/s per source IP; 0: none */
	uint64_t	burst;
	uint64_t	max_line;
};

struct udp_batch;
struct udp_budget;
struct udp_socket;
TAILQ_HEAD(udp_socket_list, udp_socket);

/* Every datagram socket of the process. */
struct udp_set {
	struct loop			*loop;
	const struct udp_limits		*limits;
	struct udp_budget		*budget;	/* made on first use */
	struct udp_batch		*batch;		/* made on first use */
	struct udp_socket_list		 sockets;
};

void	 udp_set_init(struct udp_set *, struct loop *,
	    const struct udp_limits *);
void	 udp_set_free(struct udp_set *);

extern const struct listener_ops udp_listener_ops;

/* A datagram socket's half of a listener: made before it opens. */
struct udp_socket *udp_socket_new(struct udp_set *, const struct handler *,
	    void *hstate);
void	 udp_socket_attach(struct udp_socket *, struct listener *);
void	 udp_socket_set_handler(struct udp_socket *, const struct handler *,
	    void *hstate);
/* The listener stops: no more datagrams, and peers of it go quiet. */
void	 udp_socket_detach(struct udp_socket *);

#endif
