/*
 * fuzz_framer.c -- libFuzzer harness for framing.c (framer_feed,
 * framer_reset, frame_strip_eol).
 *
 * Input: two header bytes, then the bytes a client sends.
 *   byte 0, bits 7-6: how the bytes are cut into reads
 *                     (0 one read, 1 byte by byte, 2 reads of 1-16 bytes,
 *                      3 reads of 1-512 bytes; sizes from a PRNG)
 *   byte 0, bit 5:    callbacks sometimes return -1 (connection gone)
 *   byte 0, bits 4-0 and byte 1: max_line - 1 (so max_line is 1..8192)
 *
 * Each read is a malloc'd copy of exactly its size, freed once
 * framer_feed returns, so ASan sees any pointer kept into it.  The
 * callbacks compare what they get against a model of the framing the README describes
 * worked out from the whole input (which, the framer promises, does not
 * depend on how the bytes are cut): every LF-terminated line gives exactly
 * one callback -- the line without its LF and one CR before it if that is
 * at most max_line bytes, too_long otherwise -- and a final unterminated
 * partial line gives one too_long if it is longer than max_line + 1
 * (the last byte could be the CR of a CRLF), nothing otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "framing.h"
#include "fuzz.h"

/* One callback the model expects. */
struct expect {
	int		 too_long;
	size_t		 off;		/* of the line in the input */
	size_t		 len;		/* without its terminator */
};

struct state {
	const uint8_t	*input;		/* the client's bytes */
	size_t		 max_line;
	struct expect	*expect;
	size_t		 nexpect;
	size_t		 ncalls;	/* callbacks so far */
	int		 may_stop;
	uint32_t	 rng;		/* decides when to stop */
	int		 stopped;	/* a callback returned -1 */
	int		 stopped_this_feed;
};

static uint32_t
xorshift32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* Every callback: in order, never after a -1, as the model says. */
static int
callback(struct state *st, int too_long, char *line, size_t len)
{
	const struct expect *e;
	size_t i;

	CHECK(!st->stopped);
	CHECK(st->ncalls < st->nexpect);
	e = &st->expect[st->ncalls++];
	CHECK(e->too_long == too_long);
	if (!too_long) {
		CHECK(len <= st->max_line);
		CHECK(len == e->len);
		CHECK(memchr(line, '\n', len) == NULL);
		CHECK(memcmp(line, st->input + e->off, len) == 0);
		/* The line is the handler's to change (chat cleans in place). */
		for (i = 0; i < len; i++)
			line[i] ^= 0x5A;
	}
	if (st->may_stop && (xorshift32(&st->rng) & 7) == 0) {
		st->stopped = 1;
		st->stopped_this_feed = 1;
		return -1;
	}
	return 0;
}

static int
on_line(void *arg, char *line, size_t len)
{
	return callback(arg, 0, line, len);
}

static int
on_too_long(void *arg)
{
	return callback(arg, 1, NULL, 0);
}

static const struct frame_ops ops = { on_line, on_too_long };

/*
 * The model: the callbacks the whole input must produce.  Returns how
 * many; *partial is the length of the final unterminated line.
 */
static size_t
model(const uint8_t *in, size_t size, size_t max_line, struct expect *out,
    size_t *partial)
{
	size_t start = 0, n = 0, end, len;
	const uint8_t *lf;

	while (start < size) {
		lf = memchr(in + start, '\n', size - start);
		if (lf == NULL)
			break;
		end = (size_t)(lf - in) + 1;
		len = frame_strip_eol((const char *)in + start, end - start);
		out[n].too_long = len > max_line;
		out[n].off = start;
		out[n].len = len;
		n++;
		start = end;
	}
	*partial = size - start;
	if (*partial > max_line + 1) {
		out[n].too_long = 1;
		out[n].off = start;
		out[n].len = 0;
		n++;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framer f;
	struct state st;
	size_t pos, n, partial, partial_start;
	uint32_t chunk_rng;
	uint64_t now = 0, partial_began = 0;
	unsigned int mode;
	char *chunk;
	int r;

	if (size < 2)
		return 0;
	memset(&st, 0, sizeof st);
	mode = data[0] >> 6;
	st.may_stop = (data[0] >> 5) & 1;
	st.max_line = 1 + ((((size_t)data[0] & 0x1F) << 8 | data[1]) % 8192);
	chunk_rng = 0x9E3779B9u ^ ((uint32_t)data[0] << 8 | data[1]) ^
	    (uint32_t)size;
	st.rng = chunk_rng * 2654435761u | 1;
	data += 2;
	size -= 2;
	st.input = data;

	st.expect = malloc((size + 1) * sizeof *st.expect);
	CHECK(st.expect != NULL);
	st.nexpect = model(data, size, st.max_line, st.expect, &partial);
	partial_start = size - partial;

	memset(&f, 0, sizeof f);
	for (pos = 0; pos < size && !st.stopped; pos += n) {
		switch (mode) {
		case 0:
			n = size - pos;
			break;
		case 1:
			n = 1;
			break;
		case 2:
			n = 1 + xorshift32(&chunk_rng) % 16;
			break;
		default:
			n = 1 + xorshift32(&chunk_rng) % 512;
			break;
		}
		if (n > size - pos)
			n = size - pos;
		now++;
		/* The read in which the final partial line begins. */
		if (partial > 0 && pos <= partial_start &&
		    partial_start < pos + n)
			partial_began = now;
		chunk = malloc(n);
		CHECK(chunk != NULL);
		memcpy(chunk, data + pos, n);
		st.stopped_this_feed = 0;
		r = framer_feed(&f, st.max_line, now, chunk, n, &ops, &st);
		free(chunk);
		CHECK(r == 0 || r == -1);
		CHECK((r == -1) == st.stopped_this_feed);
	}

	if (!st.stopped) {
		/* Everything fed: every expected callback happened. */
		CHECK(st.ncalls == st.nexpect);
		if (partial == 0) {
			CHECK(f.in == NULL);
			CHECK(!f.discarding);
		} else if (partial > st.max_line + 1) {
			/* Reported; the rest of it is being thrown away. */
			CHECK(f.in == NULL);
			CHECK(f.discarding);
		} else {
			/* Kept, whole, stamped with the read it began in. */
			CHECK(f.in != NULL);
			CHECK(!f.discarding);
			CHECK(evbuffer_get_length(f.in) == partial);
			CHECK(f.started == (uint32_t)partial_began);
			CHECK(framer_age(&f, now) == now - partial_began);
			CHECK(memcmp(evbuffer_pullup(f.in, -1),
			    data + partial_start, partial) == 0);
		}
	}

	framer_reset(&f);
	CHECK(f.in == NULL && !f.discarding);
	framer_reset(&f);	/* twice is harmless */
	free(st.expect);
	return 0;
}
