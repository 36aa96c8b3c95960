/*
 * outq.h -- a connection's pending output (outq.c): a ring of references
 * to shared lines, written through the connection's transport.  cost is
 * bytes plus OUTQ_ENTRY_COST per line: what output_limit bounds.
 */
#ifndef ECHOCHAT_OUTQ_H
#define ECHOCHAT_OUTQ_H

#include <sys/types.h>
#include <stddef.h>

#include "io.h"
#include "line.h"

#define OUTQ_ENTRY_COST	16

struct outq {
	struct shared_line	**ring;
	unsigned int		  head, count, cap;
	size_t			  offset;	/* written of ring[head] */
	size_t			  bytes;
	size_t			  reported;	/* of bytes, in the gauge */
	size_t			  cost;
};

/* The largest ring an emptied queue keeps (outq_worth_keeping). */
#define OUTQ_KEEP_MAX	256

struct outq	*outq_new(void);
int		 outq_worth_keeping(const struct outq *);
void		 outq_free(struct outq *);
void		 outq_push(struct outq *, struct shared_line *);
ssize_t		 outq_write(struct outq *, struct io *);

#endif
