/*
 * check_outq.c -- unit tests for outq.c, a connection's pending output:
 * a ring of shared-line references written with one writev.  Checked
 * here: lines leave in the order they were pushed, every byte exactly
 * once, when a write stops in the middle of a line, when the ring's head
 * has wrapped past its capacity and when the ring grows while wrapped;
 * bytes and cost (bytes + OUTQ_ENTRY_COST per queued line, what
 * output_limit bounds) stay exact after every push and write; a full
 * socket gives -1/EAGAIN with io.want = IO_WANT_WRITE and leaves the
 * queue as it was; and every shared-line reference the queue took is
 * given back, by writing or by outq_free.
 *
 * Two transports: the plain one (io_plain_init) on a non-blocking
 * AF_UNIX socketpair with a small send buffer, so that the kernel really
 * takes only part of a writev; and a capped test transport behind the
 * same io_ops seam that takes exactly as many bytes as a test allows, so
 * that the ring's head can be put precisely where a case needs it.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "io.h"
#include "line.h"
#include "outq.h"

/* --- Helpers --- */

static unsigned int
refs(struct shared_line *sl)
{
	return atomic_load(&sl->refs);
}

/* bytes and cost agree with what the ring actually holds. */
static void
check_accounting(struct outq *q)
{
	size_t bytes = 0;
	unsigned int i;

	ck_assert_uint_le(q->count, q->cap);
	ck_assert_uint_lt(q->head, q->cap == 0 ? 1 : q->cap);
	for (i = 0; i < q->count; i++)
		bytes += q->ring[(q->head + i) % q->cap]->len;
	if (q->count > 0) {
		ck_assert_uint_lt(q->offset, q->ring[q->head]->len);
		bytes -= q->offset;
	} else
		ck_assert_uint_eq(q->offset, 0);
	ck_assert_uint_eq(q->bytes, bytes);
	ck_assert_uint_eq(q->cost, q->bytes + (size_t)q->count *
	    OUTQ_ENTRY_COST);
}

/* A growing byte string: what was pushed, or what arrived. */
struct bytes {
	char	*v;
	size_t	 len, cap;
};

static void
bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->v = realloc(b->v, b->cap);
		ck_assert_ptr_nonnull(b->v);
	}
	memcpy(b->v + b->len, p, n);
	b->len += n;
}

/* Push a line, remembering its bytes in *sent. */
static void
push(struct outq *q, struct bytes *sent, const char *fmt, unsigned int i)
{
	struct shared_line *sl = shared_line_printf(fmt, i);

	if (sent != NULL)
		bytes_add(sent, sl->data, sl->len);
	outq_push(q, sl);
	check_accounting(q);
}

/* Line i of a stream, len bytes of a pattern that moves with i. */
static struct shared_line *
patterned_line(unsigned int i, size_t len)
{
	struct shared_line *sl;
	char *buf = malloc(len);
	size_t k;

	ck_assert_ptr_nonnull(buf);
	for (k = 0; k < len; k++)
		buf[k] = (char)('!' + (i + k) % 90);
	buf[len - 1] = '\n';
	sl = shared_line_new(buf, len);
	free(buf);
	return sl;
}

/* Line i of a stream of lines of varied length, 1 to 997 bytes. */
static struct shared_line *
varied_line(unsigned int i)
{
	return patterned_line(i, 1 + (i * 131u) % 997);
}

/* The capped transport: takes at most budget bytes, then EAGAIN. */
struct capped {
	struct bytes	got;
	size_t		budget;
	unsigned int	calls;
};

static ssize_t
capped_writev(struct io *io, const struct iovec *iov, int n)
{
	struct capped *c = io->ctx;
	size_t w = 0, take;
	int i;

	c->calls++;
	if (c->budget == 0 && n > 0) {
		io->want = IO_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	for (i = 0; i < n && c->budget > 0; i++) {
		take = iov[i].iov_len < c->budget ? iov[i].iov_len : c->budget;
		bytes_add(&c->got, iov[i].iov_base, take);
		c->budget -= take;
		w += take;
	}
	return (ssize_t)w;
}

static const struct io_ops capped_ops = {
	.name = "capped",
	.writev = capped_writev,
};

static void
capped_init(struct io *io, struct capped *c)
{
	memset(c, 0, sizeof *c);
	memset(io, 0, sizeof *io);
	io->ops = &capped_ops;
	io->ctx = c;
	io->fd = -1;
}

/* Write exactly n bytes through the capped transport. */
static void
capped_write(struct outq *q, struct io *io, size_t n)
{
	struct capped *c = io->ctx;

	c->budget = n;
	ck_assert_int_eq(outq_write(q, io), (ssize_t)n);
	ck_assert_uint_eq(c->budget, 0);
	check_accounting(q);
}

/* A non-blocking socketpair; fds[0] with the given send buffer. */
static void
pair(int fds[2], int sndbuf)
{
	int i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(fcntl(fds[i], F_SETFL, O_NONBLOCK), 0);
	if (sndbuf > 0)
		ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF,
		    &sndbuf, sizeof sndbuf), 0);
}

/* Read everything waiting on fd. */
static void
drain(int fd, struct bytes *got)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0)
		bytes_add(got, buf, (size_t)n);
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, EAGAIN);
}

/* --- Pushing --- */

START_TEST(test_push_accounting)
{
	struct outq *q = outq_new();

	ck_assert_uint_eq(q->count, 0);
	ck_assert_uint_eq(q->bytes, 0);
	ck_assert_uint_eq(q->cost, 0);
	outq_push(q, shared_line_new("hello\n", 6));
	ck_assert_uint_eq(q->count, 1);
	ck_assert_uint_eq(q->bytes, 6);
	ck_assert_uint_eq(q->cost, 6 + OUTQ_ENTRY_COST);
	outq_push(q, shared_line_new("a\n", 2));
	ck_assert_uint_eq(q->count, 2);
	ck_assert_uint_eq(q->bytes, 8);
	ck_assert_uint_eq(q->cost, 8 + 2 * OUTQ_ENTRY_COST);
	check_accounting(q);
	outq_free(q);
	outq_free(NULL);	/* nothing to free: no crash */
}
END_TEST

/* Only an empty queue that has held many lines, but not too many, is
 * kept for the next turn. */
START_TEST(test_worth_keeping)
{
	struct capped c;
	struct io io;
	struct outq *q = outq_new();
	unsigned int i;

	capped_init(&io, &c);
	outq_push(q, shared_line_new("one\n", 4));
	ck_assert(!outq_worth_keeping(q));	/* not empty */
	capped_write(q, &io, 4);
	ck_assert(!outq_worth_keeping(q));	/* a few lines: room for 8 */
	for (i = 0; i < 40; i++)
		outq_push(q, shared_line_new("many\n", 5));
	ck_assert(!outq_worth_keeping(q));
	capped_write(q, &io, 40 * 5);
	ck_assert(outq_worth_keeping(q));	/* busy, and emptied */
	for (i = 0; i < 2 * OUTQ_KEEP_MAX; i++)
		outq_push(q, shared_line_new("slow\n", 5));
	capped_write(q, &io, 2 * OUTQ_KEEP_MAX * 5);
	ck_assert_uint_eq(q->count, 0);
	ck_assert(!outq_worth_keeping(q));	/* grown for a slow reader */
	outq_free(q);
	free(c.got.v);
}
END_TEST

/* --- Writing through the capped transport --- */

START_TEST(test_partial_line)
{
	struct capped c;
	struct io io;
	struct outq *q = outq_new();

	capped_init(&io, &c);
	outq_push(q, shared_line_new("0123456789\n", 11));
	outq_push(q, shared_line_new("abc\n", 4));
	/* Four bytes into the first line: offset, bytes and cost move. */
	capped_write(q, &io, 4);
	ck_assert_uint_eq(q->count, 2);
	ck_assert_uint_eq(q->offset, 4);
	ck_assert_uint_eq(q->bytes, 11);
	ck_assert_uint_eq(q->cost, 11 + 2 * OUTQ_ENTRY_COST);
	/* The rest of it exactly: the line leaves, offset resets. */
	capped_write(q, &io, 7);
	ck_assert_uint_eq(q->count, 1);
	ck_assert_uint_eq(q->offset, 0);
	ck_assert_uint_eq(q->cost, 4 + OUTQ_ENTRY_COST);
	/* Across nothing else: then the last line whole. */
	capped_write(q, &io, 4);
	ck_assert_uint_eq(q->count, 0);
	ck_assert_uint_eq(q->cost, 0);
	ck_assert_uint_eq(c.got.len, 15);
	ck_assert_int_eq(memcmp(c.got.v, "0123456789\nabc\n", 15), 0);
	/* An empty queue writes nothing. */
	c.budget = 100;
	ck_assert_int_eq(outq_write(q, &io), 0);
	ck_assert_uint_eq(c.got.len, 15);
	outq_free(q);
	free(c.got.v);
}
END_TEST

START_TEST(test_ring_wraps_then_grows)
{
	struct bytes sent = { 0 };
	struct capped c;
	struct io io;
	struct outq *q = outq_new();
	unsigned int i, cap, tail;

	capped_init(&io, &c);
	/* Fill the first ring exactly: lines "line 0\n" .. "line 7\n". */
	for (i = 0; i < 8; i++)
		push(q, &sent, "line %u\n", i);
	cap = q->cap;
	ck_assert_uint_eq(q->count, cap);
	/* Three whole lines and two bytes of the fourth go out. */
	capped_write(q, &io, 3 * 7 + 2);
	ck_assert_uint_eq(q->head, 3);
	ck_assert_uint_eq(q->offset, 2);
	ck_assert_uint_eq(q->count, cap - 3);
	/* Three more fit without growing: the tail wraps round to 0..2. */
	for (i = 8; i < 11; i++)
		push(q, &sent, "line %u\n", i);
	ck_assert_uint_eq(q->cap, cap);
	ck_assert_uint_eq(q->count, cap);
	tail = (q->head + q->count - 1) % q->cap;
	ck_assert_uint_lt(tail, q->head);
	ck_assert_ptr_eq(q->ring[2], q->ring[tail]);
	ck_assert_int_eq(memcmp(q->ring[0]->data, "line 8\n", 7), 0);
	/* A write across the wrap keeps the order. */
	capped_write(q, &io, 5 + 4 * 7 + 3);	/* to 3 bytes into line 8 */
	ck_assert_uint_eq(q->head, 0);
	ck_assert_uint_eq(q->offset, 3);
	/* Wrap again, then grow while wrapped. */
	for (i = 11; i < 16; i++)
		push(q, &sent, "line %u\n", i);
	ck_assert_uint_eq(q->cap, cap);
	capped_write(q, &io, 4 + 7);		/* line 8's rest, line 9 */
	ck_assert_uint_eq(q->head, 2);
	for (i = 16; i < 18; i++)
		push(q, &sent, "line %u\n", i);
	ck_assert_uint_eq(q->count, cap);
	tail = (q->head + q->count - 1) % q->cap;
	ck_assert_uint_lt(tail, q->head);
	capped_write(q, &io, 3);		/* mid-line at the grow */
	ck_assert_uint_eq(q->offset, 3);
	push(q, &sent, "line %u\n", 18);	/* the ring is full: grows */
	ck_assert_uint_gt(q->cap, cap);
	ck_assert_uint_eq(q->count, cap + 1);
	ck_assert_uint_eq(q->offset, 3);
	for (i = 0; i < q->count; i++) {
		char want[16];
		int n = snprintf(want, sizeof want, "line %u\n", 10 + i);

		ck_assert_int_eq(memcmp(q->ring[(q->head + i) % q->cap]->data,
		    want, (size_t)n), 0);
	}
	/* Everything out: every byte once, in push order. */
	capped_write(q, &io, q->bytes);
	ck_assert_uint_eq(q->count, 0);
	ck_assert_uint_eq(q->cost, 0);
	ck_assert_uint_eq(c.got.len, sent.len);
	ck_assert_int_eq(memcmp(c.got.v, sent.v, sent.len), 0);
	outq_free(q);
	free(c.got.v);
	free(sent.v);
}
END_TEST

START_TEST(test_random_schedule)
{
	/* Pushes and writes of pseudo-random sizes against a model. */
	struct bytes sent = { 0 };
	struct capped c;
	struct io io;
	struct outq *q = outq_new();
	uint32_t x = 12345;
	unsigned int round, k, line = 0;
	size_t n;

	capped_init(&io, &c);
	for (round = 0; round < 2000; round++) {
		x = x * 1103515245u + 12345u;
		for (k = (x >> 16) % 4; k > 0; k--) {
			struct shared_line *sl = varied_line(line++);

			bytes_add(&sent, sl->data, sl->len);
			outq_push(q, sl);
			check_accounting(q);
		}
		x = x * 1103515245u + 12345u;
		n = (x >> 8) % 1500;
		if (n > q->bytes)
			n = q->bytes;
		if (n > 0)
			capped_write(q, &io, n);
		ck_assert_uint_eq(c.got.len + q->bytes, sent.len);
	}
	capped_write(q, &io, q->bytes);
	ck_assert_uint_eq(q->count, 0);
	ck_assert_uint_eq(c.got.len, sent.len);
	ck_assert_int_eq(memcmp(c.got.v, sent.v, sent.len), 0);
	outq_free(q);
	free(c.got.v);
	free(sent.v);
}
END_TEST

/* --- Writing through the plain transport --- */

START_TEST(test_plain_write_all)
{
	struct bytes sent = { 0 }, got = { 0 };
	struct outq *q = outq_new();
	struct io io;
	int fds[2];
	unsigned int i;

	pair(fds, 0);
	io_plain_init(&io, fds[0]);
	for (i = 0; i < 5; i++)
		push(q, &sent, "message %u\n", i);
	ck_assert_int_eq(outq_write(q, &io), (ssize_t)sent.len);
	ck_assert_uint_eq(q->count, 0);
	ck_assert_uint_eq(q->bytes, 0);
	ck_assert_uint_eq(q->cost, 0);
	drain(fds[1], &got);
	ck_assert_uint_eq(got.len, sent.len);
	ck_assert_int_eq(memcmp(got.v, sent.v, sent.len), 0);
	outq_free(q);
	io_close(&io);
	ck_assert_int_eq(io.fd, -1);
	close(fds[1]);
	free(sent.v);
	free(got.v);
}
END_TEST

START_TEST(test_plain_many_lines)
{
	/*
	 * More lines than one writev carries: one call goes on with the
	 * next writev while the socket takes everything it is offered.
	 */
	struct bytes sent = { 0 }, got = { 0 };
	struct outq *q = outq_new();
	struct io io;
	int fds[2], bufsz = 1 << 20;
	unsigned int i, calls = 0, first_left = 0;
	ssize_t w;

	pair(fds, bufsz);
	ck_assert_int_eq(setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &bufsz,
	    sizeof bufsz), 0);
	io_plain_init(&io, fds[0]);
	for (i = 0; i < 3000; i++)
		push(q, &sent, "%u\n", i);
	while (q->count > 0) {
		w = outq_write(q, &io);
		if (w == -1 && errno == EAGAIN)
			drain(fds[1], &got);
		else
			ck_assert_int_gt(w, 0);
		check_accounting(q);
		if (calls == 0)
			first_left = q->count;
		ck_assert_uint_lt(++calls, 100000);
	}
	/* 3000 lines of at most 5 bytes fit the 1 MiB buffers at once */
	ck_assert_uint_eq(first_left, 0);
	drain(fds[1], &got);
	ck_assert_uint_eq(got.len, sent.len);
	ck_assert_int_eq(memcmp(got.v, sent.v, sent.len), 0);
	outq_free(q);
	io_close(&io);
	close(fds[1]);
	free(sent.v);
	free(got.v);
}
END_TEST

/*
 * A small send buffer: the kernel takes part of a write, often stopping
 * inside a line; drained from the other end, every byte arrives once and
 * in order.  n lines made by make.
 */
static void
partial_writes(struct shared_line *(*make)(unsigned int), unsigned int n)
{
	struct bytes sent = { 0 }, got = { 0 };
	struct outq *q = outq_new();
	struct io io;
	int fds[2];
	unsigned int i, midline = 0, eagain = 0, rounds = 0;
	size_t before;
	ssize_t w;

	pair(fds, 4096);
	io_plain_init(&io, fds[0]);
	for (i = 0; i < n; i++) {
		struct shared_line *sl = make(i);

		bytes_add(&sent, sl->data, sl->len);
		outq_push(q, sl);
	}
	check_accounting(q);
	while (q->count > 0) {
		/* Write until the socket is full... */
		for (;;) {
			before = q->bytes;
			io.want = 0;
			w = outq_write(q, &io);
			check_accounting(q);
			if (w == -1) {
				ck_assert_int_eq(errno, EAGAIN);
				ck_assert_int_eq(io.want, IO_WANT_WRITE);
				ck_assert_uint_eq(q->bytes, before);
				eagain++;
				break;
			}
			ck_assert_int_gt(w, 0);
			ck_assert_uint_eq(before - q->bytes, (size_t)w);
			if (q->count == 0)
				break;
			/* outq never splits a line: the kernel did. */
			if (q->offset != 0)
				midline++;
		}
		/* ...then read everything out of it. */
		drain(fds[1], &got);
		ck_assert_uint_eq(got.len + q->bytes, sent.len);
		ck_assert_uint_lt(++rounds, 100000);
	}
	drain(fds[1], &got);
	ck_assert_uint_gt(midline, 0);
	ck_assert_uint_gt(eagain, 0);
	ck_assert_uint_eq(got.len, sent.len);
	ck_assert_int_eq(memcmp(got.v, sent.v, sent.len), 0);
	outq_free(q);
	io_close(&io);
	close(fds[1]);
	free(sent.v);
	free(got.v);
}

/* Lines up to 997 bytes: writes of more than the transport gathers. */
START_TEST(test_plain_partial_writev)
{
	partial_writes(varied_line, 600);
}
END_TEST

/* Line i of a stream of short lines, 1 to 96 bytes, as chat sends. */
static struct shared_line *
short_line(unsigned int i)
{
	return patterned_line(i, 1 + (i * 37u) % 96);
}

/* Short lines: the transport copies them into one buffer first. */
START_TEST(test_plain_partial_gathered)
{
	partial_writes(short_line, 3000);
}
END_TEST

/*
 * Short lines with now and then one longer than the transport gathers:
 * some writes gathered, some not, and switching mid-line.
 */
static struct shared_line *
mixed_line(unsigned int i)
{
	return i % 500 == 250 ? patterned_line(i, 70000) : short_line(i);
}

START_TEST(test_plain_partial_mixed)
{
	partial_writes(mixed_line, 3000);
}
END_TEST

START_TEST(test_plain_eagain_when_full)
{
	struct outq *q = outq_new();
	struct shared_line *sl;
	struct io io;
	char fill[4096];
	int fds[2];
	unsigned int head, count;
	size_t offset, bytes, cost;

	pair(fds, 4096);
	io_plain_init(&io, fds[0]);
	memset(fill, 'f', sizeof fill);
	while (write(fds[0], fill, sizeof fill) > 0)
		continue;
	ck_assert_int_eq(errno, EAGAIN);
	/* Exactly full: even one more byte would not fit. */
	while (write(fds[0], fill, 1) > 0)
		continue;
	sl = shared_line_new("waiting\n", 8);
	shared_line_ref(sl);
	outq_push(q, sl);
	outq_push(q, shared_line_new("too\n", 4));
	head = q->head;
	count = q->count;
	offset = q->offset;
	bytes = q->bytes;
	cost = q->cost;
	errno = 0;
	ck_assert_int_eq(io.want, 0);
	ck_assert_int_eq(outq_write(q, &io), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(io.want, IO_WANT_WRITE);
	/* Nothing consumed, nothing released. */
	ck_assert_uint_eq(q->head, head);
	ck_assert_uint_eq(q->count, count);
	ck_assert_uint_eq(q->offset, offset);
	ck_assert_uint_eq(q->bytes, bytes);
	ck_assert_uint_eq(q->cost, cost);
	ck_assert_uint_eq(refs(sl), 2);
	outq_free(q);
	ck_assert_uint_eq(refs(sl), 1);
	shared_line_unref(sl);
	io_close(&io);
	close(fds[1]);
}
END_TEST

START_TEST(test_plain_peer_closed)
{
	/* The reader gone: -1 with EPIPE, not EAGAIN, and no want. */
	struct outq *q = outq_new();
	struct io io;
	int fds[2];

	pair(fds, 0);
	io_plain_init(&io, fds[0]);
	close(fds[1]);
	outq_push(q, shared_line_new("lost\n", 5));
	ck_assert_ptr_ne(signal(SIGPIPE, SIG_IGN), SIG_ERR);
	ck_assert_int_eq(outq_write(q, &io), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(io.want, 0);
	ck_assert_uint_eq(q->count, 1);
	check_accounting(q);
	outq_free(q);
	io_close(&io);
}
END_TEST

/* --- References --- */

START_TEST(test_write_releases_refs)
{
	struct capped c;
	struct io io;
	struct outq *q = outq_new();
	struct shared_line *sl = shared_line_new("shared\n", 7);
	unsigned int i;

	capped_init(&io, &c);
	/* The same line queued five times, as a broadcast would. */
	for (i = 0; i < 5; i++) {
		shared_line_ref(sl);
		outq_push(q, sl);
	}
	ck_assert_uint_eq(refs(sl), 6);
	capped_write(q, &io, 7 + 3);	/* one whole, one begun */
	ck_assert_uint_eq(refs(sl), 5);	/* only the whole one let go */
	capped_write(q, &io, 4 + 7);
	ck_assert_uint_eq(refs(sl), 3);
	capped_write(q, &io, 14);
	ck_assert_uint_eq(refs(sl), 1);
	ck_assert_uint_eq(q->count, 0);
	outq_free(q);
	ck_assert_uint_eq(refs(sl), 1);
	shared_line_unref(sl);
	free(c.got.v);
}
END_TEST

START_TEST(test_free_releases_refs)
{
	struct capped c;
	struct io io;
	struct outq *q = outq_new();
	struct shared_line *sl = shared_line_new("kept\n", 5);
	unsigned int i;

	capped_init(&io, &c);
	/* Wrapped and mid-line when freed: every reference given back. */
	for (i = 0; i < 8; i++) {
		shared_line_ref(sl);
		outq_push(q, sl);
	}
	capped_write(q, &io, 5 * 5 + 2);
	ck_assert_uint_eq(refs(sl), 1 + 3);
	for (i = 0; i < 5; i++) {
		shared_line_ref(sl);
		outq_push(q, sl);
	}
	ck_assert_uint_eq(q->count, 8);
	ck_assert_uint_lt((q->head + q->count - 1) % q->cap, q->head);
	for (i = 0; i < 20; i++) {		/* and grown */
		shared_line_ref(sl);
		outq_push(q, sl);
	}
	ck_assert_uint_eq(refs(sl), 1 + 28);
	outq_free(q);
	ck_assert_uint_eq(refs(sl), 1);
	shared_line_unref(sl);
	free(c.got.v);
}
END_TEST

static Suite *
outq_suite(void)
{
	Suite *s = suite_create("outq");
	TCase *tc;

	tc = tcase_create("ring");
	tcase_add_test(tc, test_push_accounting);
	tcase_add_test(tc, test_worth_keeping);
	tcase_add_test(tc, test_partial_line);
	tcase_add_test(tc, test_ring_wraps_then_grows);
	tcase_add_test(tc, test_random_schedule);
	suite_add_tcase(s, tc);

	tc = tcase_create("plain");
	tcase_add_test(tc, test_plain_write_all);
	tcase_add_test(tc, test_plain_many_lines);
	tcase_add_test(tc, test_plain_partial_writev);
	tcase_add_test(tc, test_plain_partial_gathered);
	tcase_add_test(tc, test_plain_partial_mixed);
	tcase_add_test(tc, test_plain_eagain_when_full);
	tcase_add_test(tc, test_plain_peer_closed);
	/* Under valgrind the byte-by-byte checks take a while. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("refs");
	tcase_add_test(tc, test_write_releases_refs);
	tcase_add_test(tc, test_free_releases_refs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(outq_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
