/*
 * check_framing.c -- unit tests for framing.c, the line framer (README "Chat")
 * used by line-based handlers (chat): lines end at LF with an optional CR
 * before it, every other byte is kept, a line longer than max_line is
 * reported once through too_long and the rest of it discarded, a callback
 * returning -1 stops everything, no buffer is held unless a partial
 * line is pending, and framer_finish hands a held partial line over as the
 * last line.  Also telnet.c, which runs over the same bytes for telnet
 * users: DO is refused with WONT and WILL with DONT, also when a command
 * is split across reads; WONT, DONT, subnegotiation and other commands get
 * no answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "framing.h"
#include "telnet.h"

/* --- A recording frame_ops. --- */

#define MAX_EVENTS	64

struct event_rec {
	int	 too_long;	/* 1: a too_long call; 0: a line */
	char	*data;
	size_t	 len;
};

struct recorder {
	struct event_rec events[MAX_EVENTS];
	size_t	 nevents;	/* all calls, even beyond MAX_EVENTS */
	size_t	 nlines;
	size_t	 ntoo_long;
	size_t	 stop_after;	/* return -1 from call number N (1-based) */
};

static int
rec_call(struct recorder *r, int too_long, const char *data, size_t len)
{
	struct event_rec *e;

	r->nevents++;
	if (r->nevents <= MAX_EVENTS) {
		e = &r->events[r->nevents - 1];
		e->too_long = too_long;
		e->len = len;
		e->data = NULL;
		if (!too_long) {
			e->data = malloc(len + 1);
			ck_assert_ptr_nonnull(e->data);
			memcpy(e->data, data, len);
			e->data[len] = '\0';
		}
	}
	if (too_long)
		r->ntoo_long++;
	else
		r->nlines++;
	return r->stop_after != 0 && r->nevents >= r->stop_after ? -1 : 0;
}

static int
rec_line(void *arg, char *line, size_t len)
{
	return rec_call(arg, 0, line, len);
}

static int
rec_too_long(void *arg)
{
	return rec_call(arg, 1, NULL, 0);
}

static const struct frame_ops rec_ops = { rec_line, rec_too_long };

static void
rec_init(struct recorder *r)
{
	memset(r, 0, sizeof *r);
}

static void
rec_free(struct recorder *r)
{
	size_t i;

	for (i = 0; i < r->nevents && i < MAX_EVENTS; i++)
		free(r->events[i].data);
	memset(r, 0, sizeof *r);
}

/* Event i is the line (data, len). */
static void
expect_line(struct recorder *r, size_t i, const char *data, size_t len)
{
	ck_assert_uint_lt(i, r->nevents);
	ck_assert_msg(!r->events[i].too_long, "event %zu is too_long", i);
	ck_assert_uint_eq(r->events[i].len, len);
	ck_assert_mem_eq(r->events[i].data, data, len);
}

static void
expect_too_long(struct recorder *r, size_t i)
{
	ck_assert_uint_lt(i, r->nevents);
	ck_assert_msg(r->events[i].too_long, "event %zu is a line \"%s\"", i,
	    r->events[i].data);
}

/* Feed a string (copied: the framer may be given writable data). */
static int
feed(struct framer *f, size_t max_line, const char *s, size_t len,
    struct recorder *r)
{
	char *copy = malloc(len + 1);
	int ret;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, s, len);
	ret = framer_feed(f, max_line, 0, copy, len, &rec_ops, r);
	free(copy);	/* lines must not point into old reads */
	return ret;
}

static int
feed_str(struct framer *f, size_t max_line, const char *s, struct recorder *r)
{
	return feed(f, max_line, s, strlen(s), r);
}

/* Feed a string one byte per framer_feed call. */
static void
trickle(struct framer *f, size_t max_line, const char *s, size_t len,
    struct recorder *r)
{
	size_t i;

	for (i = 0; i < len; i++)
		ck_assert_int_eq(feed(f, max_line, s + i, 1, r), 0);
}

/* --- Tests. --- */

START_TEST(test_whole_lines)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 100, "one\ntwo\n\nthree\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 4);
	expect_line(&r, 0, "one", 3);
	expect_line(&r, 1, "two", 3);
	expect_line(&r, 2, "", 0);
	expect_line(&r, 3, "three", 5);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
	framer_reset(&f);
}
END_TEST

START_TEST(test_crlf_stripped)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 100, "a\r\nbc\r\n\r\nd\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 4);
	expect_line(&r, 0, "a", 1);
	expect_line(&r, 1, "bc", 2);
	expect_line(&r, 2, "", 0);
	expect_line(&r, 3, "d", 1);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
}
END_TEST

START_TEST(test_lone_cr_kept)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 100, "a\rb\n\rx\r\r\n\r\r\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 3);
	expect_line(&r, 0, "a\rb", 3);
	expect_line(&r, 1, "\rx\r", 3);		/* only one CR is the end */
	expect_line(&r, 2, "\r", 1);
	/* A CR that is the last byte of a read, then not an LF. */
	ck_assert_int_eq(feed_str(&f, 100, "y\r", &r), 0);
	ck_assert_int_eq(feed_str(&f, 100, "z\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 4);
	expect_line(&r, 3, "y\rz", 3);
	rec_free(&r);
}
END_TEST

START_TEST(test_binary_bytes_kept)
{
	static const char in[] = "a\0b\xff" "c\x01\x7f\x80\n\0\n\xff\xfe\r\n";
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed(&f, 100, in, sizeof in - 1, &r), 0);
	ck_assert_uint_eq(r.nevents, 3);
	expect_line(&r, 0, "a\0b\xff" "c\x01\x7f\x80", 8);
	expect_line(&r, 1, "\0", 1);
	expect_line(&r, 2, "\xff\xfe", 2);
	/* The same, split inside the lines. */
	rec_free(&r);
	rec_init(&r);
	ck_assert_int_eq(feed(&f, 100, in, 3, &r), 0);
	ck_assert_int_eq(feed(&f, 100, in + 3, sizeof in - 1 - 3 - 2, &r), 0);
	ck_assert_int_eq(feed(&f, 100, in + sizeof in - 1 - 2, 2, &r), 0);
	ck_assert_uint_eq(r.nevents, 3);
	expect_line(&r, 0, "a\0b\xff" "c\x01\x7f\x80", 8);
	expect_line(&r, 1, "\0", 1);
	expect_line(&r, 2, "\xff\xfe", 2);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
}
END_TEST

START_TEST(test_one_byte_feeds)
{
	static const char in[] = "hello world\r\nsecond\n\nthird\r\n";
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	trickle(&f, 100, in, sizeof in - 1, &r);
	ck_assert_uint_eq(r.nevents, 4);
	expect_line(&r, 0, "hello world", 11);
	expect_line(&r, 1, "second", 6);
	expect_line(&r, 2, "", 0);
	expect_line(&r, 3, "third", 5);
	ck_assert_ptr_null(f.in);
	ck_assert_uint_eq(r.ntoo_long, 0);
	rec_free(&r);
}
END_TEST

/* Lines arriving in pieces of every size, across read boundaries. */
START_TEST(test_split_everywhere)
{
	static const char in[] = "ab\ncde\r\nf\n\nghij\r\n";
	struct framer f = { 0 };
	struct recorder r;
	size_t cut1, cut2, n = sizeof in - 1;

	for (cut1 = 0; cut1 <= n; cut1++) {
		for (cut2 = cut1; cut2 <= n; cut2++) {
			rec_init(&r);
			ck_assert_int_eq(feed(&f, 4, in, cut1, &r), 0);
			ck_assert_int_eq(feed(&f, 4, in + cut1, cut2 - cut1,
			    &r), 0);
			ck_assert_int_eq(feed(&f, 4, in + cut2, n - cut2, &r),
			    0);
			ck_assert_uint_eq(r.nevents, 5);
			expect_line(&r, 0, "ab", 2);
			expect_line(&r, 1, "cde", 3);
			expect_line(&r, 2, "f", 1);
			expect_line(&r, 3, "", 0);
			expect_line(&r, 4, "ghij", 4);
			ck_assert_ptr_null(f.in);
			rec_free(&r);
		}
	}
}
END_TEST

/* The peer closed its side: a held partial line is the last line. */
START_TEST(test_finish_delivers_partial)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed(&f, 8, "one\ntw", 6, &r), 0);
	ck_assert_int_eq(framer_finish(&f, 8, &rec_ops, &r), 0);
	ck_assert_uint_eq(r.nlines, 2);
	expect_line(&r, 1, "tw", 2);
	ck_assert_ptr_null(f.in);
	/* Nothing held: nothing delivered. */
	ck_assert_int_eq(framer_finish(&f, 8, &rec_ops, &r), 0);
	ck_assert_uint_eq(r.nevents, 2);
	/* A CR last is the start of a terminator, not text. */
	ck_assert_int_eq(feed(&f, 8, "hi\r", 3, &r), 0);
	ck_assert_int_eq(framer_finish(&f, 8, &rec_ops, &r), 0);
	expect_line(&r, 2, "hi", 2);
	/* max_line + 1 bytes held (the last might have been a CR): too long. */
	ck_assert_int_eq(feed(&f, 4, "abcde", 5, &r), 0);
	ck_assert_int_eq(framer_finish(&f, 4, &rec_ops, &r), 0);
	expect_too_long(&r, 3);
	/* The rest of an over-long line is not a line. */
	ck_assert_int_eq(feed(&f, 4, "abcdefgh", 8, &r), 0);
	expect_too_long(&r, 4);
	ck_assert_int_eq(framer_finish(&f, 4, &rec_ops, &r), 0);
	ck_assert_uint_eq(r.nevents, 5);
	ck_assert_int_eq(f.discarding, 0);
	rec_free(&r);
}
END_TEST

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* 100 KB one byte at a time: correct, and linear (no rescanning). */
START_TEST(test_trickle_100k)
{
	const size_t n = 100 * 1024;
	struct framer f = { 0 };
	struct recorder r;
	char *big, ch;
	size_t i;
	double t0, elapsed;

	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = '\n';
	rec_init(&r);
	t0 = now();
	for (i = 0; i < n + 1; i++) {
		ch = big[i];
		ck_assert_int_eq(framer_feed(&f, 1024 * 1024, 0, &ch, 1, &rec_ops,
		    &r), 0);
		if (r.nevents != 0)
			break;
	}
	elapsed = now() - t0;
	ck_assert_uint_eq(i, n);	/* nothing before the LF */
	ck_assert_uint_eq(r.nevents, 1);
	expect_line(&r, 0, big, n);
	ck_assert_ptr_null(f.in);
	/*
	 * Linear work is a fraction of a second; rescanning the pending
	 * line on every byte would be ~5e9 steps.  Valgrind (seen by its
	 * preload library) is some 10 times slower.
	 */
	ck_assert_msg(elapsed < (under_valgrind() ? 20.0 : 2.0),
	    "100 KB trickle took %.2f s", elapsed);
	rec_free(&r);
	free(big);
}
END_TEST

START_TEST(test_exactly_max_line)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 5, "abcde\n", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "ab", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "cde\n", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "abcde", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "\n", &r), 0);
	trickle(&f, 5, "abcde\n", 6, &r);
	ck_assert_uint_eq(r.ntoo_long, 0);
	ck_assert_uint_eq(r.nevents, 4);
	expect_line(&r, 0, "abcde", 5);
	expect_line(&r, 1, "abcde", 5);
	expect_line(&r, 2, "abcde", 5);
	expect_line(&r, 3, "abcde", 5);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
}
END_TEST

START_TEST(test_max_line_plus_one)
{
	struct framer f = { 0 };
	struct recorder r;

	/* In one read, with more after it. */
	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 5, "abcdef\nnext\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 2);
	expect_too_long(&r, 0);
	expect_line(&r, 1, "next", 4);
	ck_assert_ptr_null(f.in);
	rec_free(&r);

	/* max_line + 1 bytes buffered, then the LF. */
	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 5, "abcdef", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "\nnext\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 2);
	expect_too_long(&r, 0);
	expect_line(&r, 1, "next", 4);
	ck_assert_ptr_null(f.in);
	rec_free(&r);

	/* Too long in the first read, the rest of it in the next. */
	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 5, "abcdefgh", &r), 0);
	ck_assert_ptr_null(f.in);
	ck_assert_int_eq(feed_str(&f, 5, "ij\nnext\r\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 2);
	expect_too_long(&r, 0);
	expect_line(&r, 1, "next", 4);
	rec_free(&r);

	/* One byte at a time. */
	rec_init(&r);
	trickle(&f, 5, "abcdef\nok\n", 10, &r);
	ck_assert_uint_eq(r.nevents, 2);
	expect_too_long(&r, 0);
	expect_line(&r, 1, "ok", 2);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
}
END_TEST

START_TEST(test_too_long_spanning_feeds)
{
	struct framer f = { 0 };
	struct recorder r;
	char big[5000];

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 5, "first\nab", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "cdef", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "ghijk", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "lmnopqrstuvwxyz", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "0123\r", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "\nlast\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 3);
	expect_line(&r, 0, "first", 5);
	expect_too_long(&r, 1);
	expect_line(&r, 2, "last", 4);
	ck_assert_uint_eq(r.ntoo_long, 1);
	ck_assert_ptr_null(f.in);
	rec_free(&r);

	/* A long one in big reads, then two short lines in one read. */
	memset(big, 'x', sizeof big);
	rec_init(&r);
	ck_assert_int_eq(feed(&f, 100, big, sizeof big, &r), 0);
	ck_assert_int_eq(feed(&f, 100, big, sizeof big, &r), 0);
	ck_assert_int_eq(feed(&f, 100, big, sizeof big, &r), 0);
	ck_assert_int_eq(feed_str(&f, 100, "xx\ny\nz\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 3);
	expect_too_long(&r, 0);
	expect_line(&r, 1, "y", 1);
	expect_line(&r, 2, "z", 1);
	rec_free(&r);

	/* Trickled: still exactly one report. */
	rec_init(&r);
	trickle(&f, 3, "abcdefghijklmnop\r\nqrs\n", 22, &r);
	ck_assert_uint_eq(r.nevents, 2);
	expect_too_long(&r, 0);
	expect_line(&r, 1, "qrs", 3);
	rec_free(&r);
}
END_TEST

START_TEST(test_max_line_with_crlf)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 5, "abcde\r\n", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "abcde\r", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "\n", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "abcde", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "\r\n", &r), 0);
	trickle(&f, 5, "abcde\r\n", 7, &r);
	ck_assert_uint_eq(r.ntoo_long, 0);
	ck_assert_uint_eq(r.nevents, 4);
	expect_line(&r, 0, "abcde", 5);
	expect_line(&r, 1, "abcde", 5);
	expect_line(&r, 2, "abcde", 5);
	expect_line(&r, 3, "abcde", 5);
	/* But max_line bytes and a CR that is not an end are too long. */
	ck_assert_int_eq(feed_str(&f, 5, "abcde\r", &r), 0);
	ck_assert_int_eq(feed_str(&f, 5, "\r\nok\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 6);
	expect_too_long(&r, 4);
	expect_line(&r, 5, "ok", 2);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
}
END_TEST

START_TEST(test_callback_stops)
{
	struct framer f = { 0 };
	struct recorder r;

	/* The first line says stop: nothing more is delivered. */
	rec_init(&r);
	r.stop_after = 1;
	ck_assert_int_eq(feed_str(&f, 100, "a\nb\nc\n", &r), -1);
	ck_assert_uint_eq(r.nevents, 1);
	expect_line(&r, 0, "a", 1);
	rec_free(&r);
	framer_reset(&f);
	memset(&f, 0, sizeof f);

	/* The second. */
	rec_init(&r);
	r.stop_after = 2;
	ck_assert_int_eq(feed_str(&f, 100, "a\nb\nc\nd", &r), -1);
	ck_assert_uint_eq(r.nevents, 2);
	rec_free(&r);
	framer_reset(&f);
	memset(&f, 0, sizeof f);

	/* A line completing a buffered one. */
	rec_init(&r);
	r.stop_after = 1;
	ck_assert_int_eq(feed_str(&f, 100, "par", &r), 0);
	ck_assert_int_eq(feed_str(&f, 100, "tial\nmore\n", &r), -1);
	ck_assert_uint_eq(r.nevents, 1);
	expect_line(&r, 0, "partial", 7);
	rec_free(&r);
	framer_reset(&f);
	memset(&f, 0, sizeof f);

	/* too_long says stop, from a complete line in one read. */
	rec_init(&r);
	r.stop_after = 1;
	ck_assert_int_eq(feed_str(&f, 2, "abcd\nx\n", &r), -1);
	ck_assert_uint_eq(r.nevents, 1);
	expect_too_long(&r, 0);
	rec_free(&r);
	framer_reset(&f);
	memset(&f, 0, sizeof f);

	/* too_long says stop, from a partial line. */
	rec_init(&r);
	r.stop_after = 1;
	ck_assert_int_eq(feed_str(&f, 2, "abcd", &r), -1);
	ck_assert_uint_eq(r.nevents, 1);
	expect_too_long(&r, 0);
	rec_free(&r);
	framer_reset(&f);
	memset(&f, 0, sizeof f);

	/* too_long says stop, when a buffered line is completed. */
	rec_init(&r);
	r.stop_after = 1;
	ck_assert_int_eq(feed_str(&f, 2, "abc", &r), 0);
	ck_assert_int_eq(feed_str(&f, 2, "d\nx\n", &r), -1);
	ck_assert_uint_eq(r.nevents, 1);
	expect_too_long(&r, 0);
	rec_free(&r);
	framer_reset(&f);
	memset(&f, 0, sizeof f);
}
END_TEST

START_TEST(test_reset_frees)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	/* No buffer for whole lines. */
	ck_assert_int_eq(feed_str(&f, 100, "abc\n", &r), 0);
	ck_assert_ptr_null(f.in);
	/* A partial line is kept... */
	ck_assert_int_eq(feed_str(&f, 100, "def\nghi", &r), 0);
	ck_assert_ptr_nonnull(f.in);
	/* ...until the line is complete: no buffer after it. */
	ck_assert_int_eq(feed_str(&f, 100, "jkl\n", &r), 0);
	ck_assert_ptr_null(f.in);
	ck_assert_uint_eq(r.nevents, 3);
	expect_line(&r, 2, "ghijkl", 6);
	/* Completed and a new partial started in the same read. */
	ck_assert_int_eq(feed_str(&f, 100, "mn", &r), 0);
	ck_assert_int_eq(feed_str(&f, 100, "o\npq", &r), 0);
	ck_assert_ptr_nonnull(f.in);
	/* framer_reset drops the partial line and its buffer. */
	framer_reset(&f);
	ck_assert_ptr_null(f.in);
	ck_assert_uint_eq(f.discarding, 0);
	ck_assert_int_eq(feed_str(&f, 100, "rs\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 5);
	expect_line(&r, 3, "mno", 3);
	expect_line(&r, 4, "rs", 2);	/* "pq" is gone */
	/* Reset twice, and on a fresh framer: harmless. */
	framer_reset(&f);
	framer_reset(&f);
	ck_assert_ptr_null(f.in);
	/* No buffer while discarding an over-long line either. */
	ck_assert_int_eq(feed_str(&f, 3, "abcdefgh", &r), 0);
	ck_assert_ptr_null(f.in);
	ck_assert_int_eq(feed_str(&f, 3, "ijk", &r), 0);
	ck_assert_ptr_null(f.in);
	rec_free(&r);
}
END_TEST

/*
 * framer_reset drops the partial line; that includes the rest of an
 * over-long line being discarded.  Otherwise a framer reset while
 * discarding (e.g. when a future line_timeout drops a partial line, or
 * anything else that reuses the framer) silently eats the next line.
 */
START_TEST(test_reset_forgets_discarding)
{
	struct framer f = { 0 };
	struct recorder r;

	rec_init(&r);
	ck_assert_int_eq(feed_str(&f, 3, "abcdefgh", &r), 0);	/* too long */
	ck_assert_uint_eq(r.ntoo_long, 1);
	framer_reset(&f);
	ck_assert_int_eq(feed_str(&f, 3, "new\n", &r), 0);
	ck_assert_uint_eq(r.nevents, 2);
	expect_line(&r, 1, "new", 3);
	rec_free(&r);
	framer_reset(&f);
}
END_TEST

START_TEST(test_strip_eol)
{
	ck_assert_uint_eq(frame_strip_eol("abc\n", 4), 3);
	ck_assert_uint_eq(frame_strip_eol("abc\r\n", 5), 3);
	ck_assert_uint_eq(frame_strip_eol("abc", 3), 3);
	ck_assert_uint_eq(frame_strip_eol("", 0), 0);
	ck_assert_uint_eq(frame_strip_eol("\n", 1), 0);
	ck_assert_uint_eq(frame_strip_eol("\r\n", 2), 0);
	ck_assert_uint_eq(frame_strip_eol("a\r\r\n", 4), 2);
	ck_assert_uint_eq(frame_strip_eol("a\rb\n", 4), 3);
	ck_assert_uint_eq(frame_strip_eol("a\n\n", 3), 2);
	ck_assert_uint_eq(frame_strip_eol("a\n\r", 3), 2);
	/* Only the length counts: bytes beyond it are not looked at. */
	ck_assert_uint_eq(frame_strip_eol("ab\ncd", 3), 2);
}
END_TEST

/* The start time of a partial line is the time its first byte came. */
START_TEST(test_partial_start_time)
{
	struct framer f = { 0 };
	struct recorder r;
	char a[] = "ab", b[] = "cd", c[] = "\nxy";

	rec_init(&r);
	ck_assert_int_eq(framer_feed(&f, 100, 5, a, 2, &rec_ops, &r), 0);
	ck_assert_uint_eq(f.started, 5);
	ck_assert_int_eq(framer_feed(&f, 100, 9, b, 2, &rec_ops, &r), 0);
	ck_assert_uint_eq(f.started, 5);	/* same line, same start */
	ck_assert_int_eq(framer_feed(&f, 100, 12, c, 3, &rec_ops, &r), 0);
	ck_assert_uint_eq(r.nevents, 1);
	expect_line(&r, 0, "abcd", 4);
	ck_assert_uint_eq(f.started, 12);	/* a new partial line */
	ck_assert_uint_eq(framer_age(&f, 20), 8);
	framer_reset(&f);
	rec_free(&r);
}
END_TEST

/* Only the low 32 bits of the start are kept: the age wraps with them. */
START_TEST(test_partial_age_across_wrap)
{
	struct framer f = { 0 };
	struct recorder r;
	char a[] = "ab";
	uint64_t start = ((uint64_t)7 << 32) - 3;

	rec_init(&r);
	ck_assert_int_eq(framer_feed(&f, 100, start, a, 2, &rec_ops, &r), 0);
	ck_assert_uint_eq(framer_age(&f, start), 0);
	ck_assert_uint_eq(framer_age(&f, start + 10), 10);
	ck_assert_uint_eq(framer_age(&f, start + 3000000000u), 3000000000u);
	framer_reset(&f);
	rec_free(&r);
}
END_TEST

/* --- telnet.c --- */

struct answers {
	unsigned char	 buf[64];
	size_t		 len;
};

static void
record_answer(void *arg, const unsigned char *a)
{
	struct answers *r = arg;

	ck_assert_uint_le(r->len + TELNET_ANSWER, sizeof r->buf);
	memcpy(r->buf + r->len, a, TELNET_ANSWER);
	r->len += TELNET_ANSWER;
}

/* Scan data one way or another; what was answered. */
static void
scan(struct telnet *t, struct answers *r, const char *data, size_t len)
{
	telnet_scan(t, data, len, record_answer, r);
}

START_TEST(test_telnet_timing_mark)
{
	/* Ctrl-C: IAC IP IAC DO TIMING-MARK, then a line. */
	static const char in[] = "\xff\xf4\xff\xfd\x06/who\r\n";
	struct telnet t = { 0 };
	struct answers r = { .len = 0 };

	scan(&t, &r, in, sizeof in - 1);
	ck_assert_uint_eq(r.len, 3);
	ck_assert_mem_eq(r.buf, "\xff\xfc\x06", 3);	/* WONT TIMING-MARK */
}
END_TEST

START_TEST(test_telnet_split_and_refusals)
{
	static const char in[] = "a\xff\xfb\x01" "b\xff\xfd\x03\xff\xfc\x01"
	    "\xff\xfe\x03\xff\xff\xfd\x05\xff\xfa\x18\xff\xfd\x01\xff\xf0";
	struct telnet t;
	struct answers whole = { .len = 0 }, bytes = { .len = 0 };
	size_t i;

	/* WILL ECHO -> DONT, DO SGA -> WONT; WONT, DONT, an escaped 0xFF
	 * followed by text and a subnegotiation get nothing. */
	memset(&t, 0, sizeof t);
	scan(&t, &whole, in, sizeof in - 1);
	ck_assert_uint_eq(whole.len, 6);
	ck_assert_mem_eq(whole.buf, "\xff\xfe\x01\xff\xfc\x03", 6);
	/* The same, a byte per read. */
	memset(&t, 0, sizeof t);
	for (i = 0; i < sizeof in - 1; i++)
		scan(&t, &bytes, in + i, 1);
	ck_assert_uint_eq(bytes.len, whole.len);
	ck_assert_mem_eq(bytes.buf, whole.buf, whole.len);
	/* And the state is back to plain text. */
	scan(&t, &bytes, "\xff\xfd\x06", 3);
	ck_assert_uint_eq(bytes.len, 9);
}
END_TEST

static Suite *
framing_suite(void)
{
	Suite *s = suite_create("framing");
	TCase *tc;

	tc = tcase_create("lines");
	tcase_add_test(tc, test_whole_lines);
	tcase_add_test(tc, test_crlf_stripped);
	tcase_add_test(tc, test_lone_cr_kept);
	tcase_add_test(tc, test_binary_bytes_kept);
	tcase_add_test(tc, test_one_byte_feeds);
	tcase_add_test(tc, test_split_everywhere);
	tcase_add_test(tc, test_finish_delivers_partial);
	tcase_add_test(tc, test_trickle_100k);
	tcase_add_test(tc, test_strip_eol);
	tcase_set_timeout(tc, 30);	/* valgrind */
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, test_exactly_max_line);
	tcase_add_test(tc, test_max_line_plus_one);
	tcase_add_test(tc, test_too_long_spanning_feeds);
	tcase_add_test(tc, test_max_line_with_crlf);
	suite_add_tcase(s, tc);

	tc = tcase_create("control");
	tcase_add_test(tc, test_callback_stops);
	tcase_add_test(tc, test_reset_frees);
	tcase_add_test(tc, test_partial_start_time);
	tcase_add_test(tc, test_partial_age_across_wrap);
	suite_add_tcase(s, tc);

	tc = tcase_create("reset_state");
	tcase_add_test(tc, test_reset_forgets_discarding);
	suite_add_tcase(s, tc);

	tc = tcase_create("telnet");
	tcase_add_test(tc, test_telnet_timing_mark);
	tcase_add_test(tc, test_telnet_split_and_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(framing_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
