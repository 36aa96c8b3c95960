/*
 * wsframe.c -- the RFC 6455 frame codec: a byte-at-a-time header parser
 * and a payload pass that unmasks in place, with the checks that earn a
 * close status: 1002 for a broken frame (reserved bits or opcodes, an
 * unmasked client frame, a fragmented or long control frame, a
 * continuation of nothing, a new message inside one, a bad close
 * payload), 1007 for a text message that is not UTF-8, 1009 for a message
 * longer than the caller allows.  Everything is checked as it arrives,
 * so a client never makes the server hold more than one control frame.
 */
#include <string.h>

#include "wsframe.h"

void
ws_dec_init(struct ws_dec *d)
{
	memset(d, 0, sizeof *d);
}

int
utf8_step(struct utf8_state *u, uint8_t c)
{
	if (u->need != 0) {
		if (c < u->lo || c > u->hi) {
			u->need = 0;
			return -1;
		}
		u->lo = 0x80;
		u->hi = 0xbf;
		return --u->need == 0;
	}
	if (c < 0x80)
		return 1;
	u->lo = 0x80;
	u->hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		u->need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		u->need = 2;
		if (c == 0xe0)
			u->lo = 0xa0;	/* no overlong forms */
		else if (c == 0xed)
			u->hi = 0x9f;	/* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		u->need = 3;
		if (c == 0xf0)
			u->lo = 0x90;
		else if (c == 0xf4)
			u->hi = 0x8f;	/* nothing past U+10FFFF */
	} else
		return -1;
	return 0;
}

size_t
ws_header(uint8_t *out, int fin, int op, uint64_t len)
{
	int i;

	out[0] = (fin ? 0x80 : 0) | (op & 0x0f);
	if (len < 126) {
		out[1] = len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = len >> 8;
		out[3] = len;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = len >> (56 - 8 * i);
	return 10;
}

/* Header bytes a frame needs, from what is held (at least 2 held). */
static size_t
ws_header_len(const struct ws_dec *d)
{
	size_t n = 2 + 4;	/* client frames are masked */

	if ((d->hdr[1] & 0x7f) == 126)
		n += 2;
	else if ((d->hdr[1] & 0x7f) == 127)
		n += 8;
	return n;
}

/* A close payload: empty, or a status code a client may send + UTF-8. */
static int
ws_check_close(const uint8_t *p, size_t len)
{
	struct utf8_state u = { 0, 0, 0 };
	unsigned int code;
	size_t i;

	if (len == 0)
		return 0;
	if (len == 1)
		return WS_CLOSE_PROTOCOL;
	code = (unsigned int)p[0] << 8 | p[1];
	if (!((code >= 1000 && code <= 1003) || (code >= 1007 &&
	    code <= 1011) || (code >= 3000 && code <= 4999)))
		return WS_CLOSE_PROTOCOL;
	for (i = 2; i < len; i++) {
		if (utf8_step(&u, p[i]) == -1)
			return WS_CLOSE_BAD_DATA;
	}
	return u.need != 0 ? WS_CLOSE_BAD_DATA : 0;
}

/* A whole header is held: check it and start its payload. */
static int
ws_begin_frame(struct ws_dec *d, uint64_t max_message)
{
	const uint8_t *h = d->hdr;
	uint64_t len = h[1] & 0x7f;
	size_t i, at = 2;

	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		at = 4;
	} else if (len == 127) {
		for (len = 0, i = 0; i < 8; i++)
			len = len << 8 | h[2 + i];
		if (len >> 63)
			return WS_CLOSE_PROTOCOL;
		at = 10;
	}
	memcpy(d->mask, h + at, 4);
	d->mpos = 0;
	d->left = len;
	d->hlen = 0;
	if (d->op >= WS_OP_CLOSE) {
		d->ctllen = 0;
		return 0;
	}
	if (d->op == WS_OP_CONT) {
		if (d->msgop == 0)
			return WS_CLOSE_PROTOCOL;
	} else {
		if (d->msgop != 0)
			return WS_CLOSE_PROTOCOL;
		d->msgop = d->op;
		d->msglen = 0;
		memset(&d->u8, 0, sizeof d->u8);
	}
	/* msglen never passes max_message, so this cannot wrap. */
	if (len > max_message - d->msglen)
		return WS_CLOSE_TOO_BIG;
	d->msglen += len;
	return 0;
}

/* One header byte; the checks that need only the first two are here. */
static int
ws_header_byte(struct ws_dec *d, uint8_t c, uint64_t max_message)
{
	d->hdr[d->hlen++] = c;
	if (d->hlen == 1) {
		d->op = c & 0x0f;
		d->fin = (c & 0x80) != 0;
		if ((c & 0x70) != 0 || (d->op > WS_OP_BINARY &&
		    d->op < WS_OP_CLOSE) || d->op > WS_OP_PONG)
			return WS_CLOSE_PROTOCOL;
		return 0;
	}
	if (d->hlen == 2) {
		if ((c & 0x80) == 0)
			return WS_CLOSE_PROTOCOL;	/* unmasked */
		if (d->op >= WS_OP_CLOSE && (!d->fin ||
		    (c & 0x7f) > WS_CONTROL_MAX))
			return WS_CLOSE_PROTOCOL;
	}
	if (d->hlen < ws_header_len(d))
		return 0;
	return ws_begin_frame(d, max_message);
}

/* Unmask n payload bytes in place. */
static void
ws_unmask(struct ws_dec *d, uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] ^= d->mask[(d->mpos + i) & 3];
	d->mpos = (d->mpos + n) & 3;
}

/* The frame's payload is all here: finish it. */
static int
ws_end_frame(struct ws_dec *d, const struct ws_dec_ops *ops, void *arg)
{
	int r;

	if (d->op >= WS_OP_CLOSE) {
		if (d->op == WS_OP_CLOSE &&
		    (r = ws_check_close(d->ctl, d->ctllen)) != 0)
			return r;
		return ops->control(arg, d->op, d->ctl, d->ctllen);
	}
	if (!d->fin)
		return 0;
	if (d->msgop == WS_OP_TEXT && d->u8.need != 0)
		return WS_CLOSE_BAD_DATA;
	d->msgop = 0;
	return ops->end(arg);
}

/* Payload bytes of a data frame: checked, then handed up. */
static int
ws_data(struct ws_dec *d, uint8_t *p, size_t n, const struct ws_dec_ops *ops,
    void *arg)
{
	size_t i;

	if (d->msgop == WS_OP_TEXT) {
		for (i = 0; i < n; i++) {
			if (utf8_step(&d->u8, p[i]) == -1)
				return WS_CLOSE_BAD_DATA;
		}
	}
	return n != 0 ? ops->data(arg, p, n) : 0;
}

int
ws_decode(struct ws_dec *d, uint64_t max_message, uint8_t *buf, size_t len,
    const struct ws_dec_ops *ops, void *arg)
{
	size_t n;
	int r;

	while (len > 0) {
		if (d->hlen > 0 || d->left == 0) {
			/* In a header (a frame with no payload ends at once). */
			if ((r = ws_header_byte(d, *buf, max_message)) != 0)
				return r;
			buf++;
			len--;
			if (d->hlen == 0 && d->left == 0 &&
			    (r = ws_end_frame(d, ops, arg)) != 0)
				return r;
			continue;
		}
		n = len < d->left ? len : (size_t)d->left;
		ws_unmask(d, buf, n);
		if (d->op >= WS_OP_CLOSE) {
			memcpy(d->ctl + d->ctllen, buf, n);
			d->ctllen += n;
		} else if ((r = ws_data(d, buf, n, ops, arg)) != 0)
			return r;
		buf += n;
		len -= n;
		d->left -= n;
		if (d->left == 0 && (r = ws_end_frame(d, ops, arg)) != 0)
			return r;
	}
	return 0;
}
