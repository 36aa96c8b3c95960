/*
 * fuzz_wsframe.c -- libFuzzer harness for wsframe.c (ws_decode), the
 * decoder of the frames WebSocket clients send.
 *
 * Input: one header byte, then the bytes a client sends.
 *   byte 0, bits 1-0: how the second pass cuts the bytes into reads
 *                     (1 byte, 1-16, 1-512, 1-4096; sizes from a PRNG)
 *   byte 0, bits 4-2: the message limit, 2^(bits*2) bytes (1 .. 16 KiB)
 *
 * The bytes are decoded twice, in one read and in many, each read a
 * malloc'd copy of exactly its size (ASan sees any pointer kept into
 * it).  What the decoder promises is checked: both passes give the same
 * events and the same result (cutting changes nothing); no data message
 * is longer than the limit; every completed text message is UTF-8 (by a
 * validator of this file's own); control payloads are at most 125 bytes;
 * once a status is returned nothing more is fed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe.h"
#include "fuzz.h"

struct run {
	uint8_t		*log;		/* the events, serialized */
	size_t		 loglen, logsize;
	uint8_t		*msg;		/* the open data message */
	size_t		 msglen;
	uint64_t	 max;
	struct ws_dec	*d;
	int		 text;		/* is the open message text? */
};

static void
log_put(struct run *r, const void *p, size_t n)
{
	if (r->loglen + n > r->logsize) {
		r->logsize = (r->loglen + n) * 2 + 64;
		r->log = realloc(r->log, r->logsize);
		CHECK(r->log != NULL);
	}
	memcpy(r->log + r->loglen, p, n);
	r->loglen += n;
}

/* UTF-8 as RFC 3629 has it, written without wsframe.c's tables. */
static int
valid_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = s[i] & 0x07;
		} else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

static int
on_data(void *arg, const uint8_t *p, size_t len)
{
	struct run *r = arg;

	CHECK(len > 0);
	r->text = r->d->msgop == WS_OP_TEXT;
	r->msg = realloc(r->msg, r->msglen + len);
	CHECK(r->msg != NULL);
	memcpy(r->msg + r->msglen, p, len);
	r->msglen += len;
	CHECK(r->msglen <= r->max);
	return 0;
}

static int
on_end(void *arg)
{
	struct run *r = arg;
	uint64_t n = r->msglen;

	if (r->text)
		CHECK(valid_utf8(r->msg, r->msglen));
	r->text = 0;
	log_put(r, "M", 1);
	log_put(r, &n, sizeof n);
	if (r->msglen > 0)
		log_put(r, r->msg, r->msglen);
	r->msglen = 0;
	return 0;
}

static int
on_control(void *arg, int op, const uint8_t *p, size_t len)
{
	struct run *r = arg;
	uint8_t o = op;

	CHECK(op == WS_OP_PING || op == WS_OP_PONG || op == WS_OP_CLOSE);
	CHECK(len <= WS_CONTROL_MAX);
	if (op == WS_OP_CLOSE && len > 0) {
		CHECK(len >= 2);
		CHECK(valid_utf8(p + 2, len - 2));
	}
	log_put(r, &o, 1);
	log_put(r, p, len);
	return 0;
}

static const struct ws_dec_ops ops = { on_data, on_end, on_control };

static int
decode(struct ws_dec *d, struct run *r, const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	CHECK(copy != NULL);
	memcpy(copy, data, len);
	rc = ws_decode(d, r->max, copy, len, &ops, r);
	free(copy);
	return rc;
}

static int
run_all(const uint8_t *data, size_t size, unsigned int cut, struct run *r)
{
	static const size_t most[] = { 1, 16, 512, 4096 };
	struct ws_dec d;
	uint32_t seed = 2463534242u;
	size_t at = 0, n;
	int rc = 0;

	ws_dec_init(&d);
	r->d = &d;
	while (at < size && rc == 0) {
		if (cut == 4)
			n = size - at;
		else {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			n = 1 + seed % most[cut];
			if (n > size - at)
				n = size - at;
		}
		rc = decode(&d, r, data + at, n);
		at += n;
		if (rc == 0)
			CHECK(d.msglen <= r->max);
	}
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a, b;
	int ra, rb;

	if (size < 1)
		return 0;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	a.max = b.max = (uint64_t)1 << (((data[0] >> 2) & 7) * 2);
	ra = run_all(data + 1, size - 1, 4, &a);
	rb = run_all(data + 1, size - 1, data[0] & 3, &b);
	CHECK(ra == rb);
	CHECK(ra == 0 || ra == WS_CLOSE_PROTOCOL || ra == WS_CLOSE_BAD_DATA ||
	    ra == WS_CLOSE_TOO_BIG);
	CHECK(a.loglen == b.loglen);
	CHECK(a.loglen == 0 || memcmp(a.log, b.log, a.loglen) == 0);
	free(a.log);
	free(b.log);
	free(a.msg);
	free(b.msg);
	return 0;
}
