/*
 * outq.c -- a connection's pending output: a ring of references to shared
 * lines, written with one writev through the connection's transport.
 *
 * A broadcast line is formatted once and every slow recipient's queue
 * holds a pointer to it, so a queued line costs its recipient eight bytes
 * of ring, not a copy.  (evbuffer_add_reference would also share the text,
 * but it gives each reference a chain of about a kilobyte: a reader stuck
 * behind thousands of short chat lines would hold megabytes.)  Each entry
 * is charged OUTQ_ENTRY_COST on top of its bytes, so that output_limit
 * bounds what a queue really costs.
 */
#include <sys/uio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outq.h"
#include "stats.h"
#include "xmalloc.h"

/* Capacities are powers of two, so a ring index is a mask, not a
 * division: outq_push and outq_write run once per line per recipient. */
#define OUTQ_FIRST_CAP	8
#define OUTQ_AT(q, i)	((q)->ring[((q)->head + (i)) & ((q)->cap - 1)])
/* Lines per writev: a turn's broadcast to a reader is often more than 64. */
#define OUTQ_IOV	256

/* A new, empty queue. */
struct outq *
outq_new(void)
{
	return xcalloc(1, sizeof(struct outq));
}

/* Release every line and the queue. */
void
outq_free(struct outq *q)
{
	unsigned int i;

	if (q == NULL)
		return;
	if (q->reported != 0)
		gstat_add(SG_OUTPUT_QUEUED, -(int64_t)q->reported);
	for (i = 0; i < q->count; i++)
		shared_line_unref(OUTQ_AT(q, i));
	free(q->ring);
	free(q);
}

/*
 * Should an emptied queue stay with its connection for the next turn?
 * One that took more lines in a turn than a new queue has room for
 * belongs to a reader that gets many every turn (a chat participant):
 * freeing and remaking it each turn costs a malloc of up to 2 KB per
 * reader per turn, which glibc serves slowly when hundreds are freed at
 * once.  A queue that only ever held a few lines, or one grown for a slow
 * reader, goes at once.  The owner frees kept ones that stay empty.
 */
int
outq_worth_keeping(const struct outq *q)
{
	return q->count == 0 && q->cap > OUTQ_FIRST_CAP &&
	    q->cap <= OUTQ_KEEP_MAX;
}

/* Double the ring, unrolling it to start at 0. */
static void
outq_grow(struct outq *q)
{
	unsigned int i, cap = q->cap ? q->cap * 2 : OUTQ_FIRST_CAP;
	struct shared_line **ring = xmalloc(cap * sizeof *ring);

	for (i = 0; i < q->count; i++)
		ring[i] = OUTQ_AT(q, i);
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
}

/* Append a line; the queue takes over one reference. */
void
outq_push(struct outq *q, struct shared_line *sl)
{
	if (q->count == q->cap)
		outq_grow(q);
	OUTQ_AT(q, q->count) = sl;
	q->count++;
	q->bytes += sl->len;
	q->cost += sl->len + OUTQ_ENTRY_COST;
}

/* Drop n written bytes from the front. */
static void
outq_consume(struct outq *q, size_t n)
{
	struct shared_line *sl;
	size_t left;

	q->bytes -= n;
	while (n > 0) {
		sl = q->ring[q->head];
		left = sl->len - q->offset;
		if (n < left) {
			q->offset += n;
			q->cost -= n;
			return;
		}
		n -= left;
		q->cost -= left + OUTQ_ENTRY_COST;
		q->offset = 0;
		q->head = (q->head + 1) & (q->cap - 1);
		q->count--;
		shared_line_unref(sl);
	}
}

/*
 * Bring the process-wide gauge of queued bytes to this queue's figure.
 * Done once per write attempt rather than per line pushed and written
 * (twice per line per recipient): every queue that grew is tried at the
 * end of its turn, so the gauge is exact between turns, when it is read.
 */
static void
outq_report(struct outq *q)
{
	if (q->bytes == q->reported)
		return;
	gstat_add(SG_OUTPUT_QUEUED, (int64_t)q->bytes - (int64_t)q->reported);
	q->reported = q->bytes;
}

/*
 * One writev of up to OUTQ_IOV lines; *want is what it offered.
 */
static ssize_t
outq_write_some(struct outq *q, struct io *io, size_t *want)
{
	struct iovec iov[OUTQ_IOV];
	struct shared_line *sl;
	unsigned int i, n = q->count < OUTQ_IOV ? q->count : OUTQ_IOV;
	ssize_t w;

	*want = 0;
	for (i = 0; i < n; i++) {
		sl = OUTQ_AT(q, i);
		iov[i].iov_base = sl->data + (i == 0 ? q->offset : 0);
		iov[i].iov_len = sl->len - (i == 0 ? q->offset : 0);
		*want += iov[i].iov_len;
	}
	w = io_writev(io, iov, (int)n);
	if (w > 0)
		outq_consume(q, (size_t)w);
	return w;
}

/*
 * Write as much as the socket takes.  Returns bytes written, or -1 with
 * errno (EAGAIN: nothing could be written).  A queue longer than one
 * writev's worth goes on while the transport takes all it is offered:
 * stopping after the first would leave the rest to a wait for
 * writability (two epoll_ctl and a turn) with the socket still empty.
 */
ssize_t
outq_write(struct outq *q, struct io *io)
{
	ssize_t w, total = 0;
	size_t want;
	int error;

	do {
		w = outq_write_some(q, io, &want);
		if (w <= 0)
			break;
		total += w;
	} while ((size_t)w == want && q->count != 0);
	if (total > 0) {
		outq_report(q);
		return total;
	}
	error = errno;
	outq_report(q);
	errno = error;
	return w;
}
