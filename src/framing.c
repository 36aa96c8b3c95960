/*
 * framing.c -- bytes into lines for line-based handlers (README "Chat").
 *
 * A line ends at LF; a CR right before the LF is part of the terminator.
 * Lines are cut straight out of the read buffer when they arrive whole, so
 * the common case copies nothing; only a line split across reads is kept,
 * in an evbuffer that exists just while that partial line does.  Only the
 * new bytes are searched for LF, so a line trickled in byte by byte costs
 * linear time.  A line longer than max_line is reported once and the rest of it,
 * up to its LF, is discarded.  A partial line still held when the peer
 * closes its side is delivered as the last line.
 */
#include <string.h>

#include <event2/buffer.h>

#include "framing.h"

/* Length of a line without its LF and a CR before it. */
size_t
frame_strip_eol(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

/* Drop the partial line, freeing its buffer so an idle client owns none. */
void
framer_reset(struct framer *f)
{
	if (f->in != NULL) {
		evbuffer_free(f->in);
		f->in = NULL;
	}
	f->discarding = 0;
}

uint64_t
framer_age(const struct framer *f, uint64_t now)
{
	return (uint32_t)((uint32_t)now - f->started);
}

/* Hand one complete line (with its LF) to the right callback. */
static int
deliver(const struct frame_ops *ops, void *arg, size_t max_line, char *line,
    size_t len)
{
	len = frame_strip_eol(line, len);
	if (len > max_line)
		return ops->too_long(arg);
	return ops->line(arg, line, len);
}

/*
 * Finish a buffered partial line with the bytes up to and including the
 * first LF of new data.
 */
static int
complete_buffered(struct framer *f, const struct frame_ops *ops, void *arg,
    size_t max_line, const char *data, size_t upto)
{
	size_t len;
	char *line;
	int r;

	evbuffer_add(f->in, data, upto);
	len = evbuffer_get_length(f->in);
	if (len - 1 > max_line + 1) {
		/* Far too long: say so without pulling it all up. */
		framer_reset(f);
		return ops->too_long(arg);
	}
	line = (char *)evbuffer_pullup(f->in, -1);
	r = deliver(ops, arg, max_line, line, len);
	framer_reset(f);
	return r;
}

/* Keep a trailing partial line, or report it as too long. */
static int
keep_partial(struct framer *f, const struct frame_ops *ops, void *arg,
    size_t max_line, uint64_t now, const char *data, size_t len)
{
	if (f->in == NULL) {
		f->in = evbuffer_new();
		f->started = (uint32_t)now;	/* framer_age reads it */
	}
	evbuffer_add(f->in, data, len);
	/* max_line + 1: the last byte may be the CR of a coming CRLF. */
	if (evbuffer_get_length(f->in) > max_line + 1) {
		framer_reset(f);
		f->discarding = 1;
		return ops->too_long(arg);
	}
	return 0;
}

/*
 * The peer closed its side with a partial line held: hand it over as the
 * last line, as the unterminated last line of a datagram is.  Nothing is
 * left afterwards.
 */
int
framer_finish(struct framer *f, size_t max_line, const struct frame_ops *ops,
    void *arg)
{
	size_t len;
	char *line;
	int r;

	if (f->in == NULL || f->discarding) {
		framer_reset(f);
		return 0;
	}
	len = evbuffer_get_length(f->in);
	line = (char *)evbuffer_pullup(f->in, -1);
	r = deliver(ops, arg, max_line, line, len);
	framer_reset(f);
	return r;
}

/*
 * Feed newly read bytes that arrived at time now (any monotonic unit: it
 * is only stored, as f->started, when a partial line begins; its low 32
 * bits, see framer_age).  Calls
 * ops->line for each whole line and ops->too_long for each over-long one;
 * stops early and returns -1 when a callback returns -1 (the connection is
 * gone).
 */
int
framer_feed(struct framer *f, size_t max_line, uint64_t now, char *data,
    size_t len, const struct frame_ops *ops, void *arg)
{
	char *lf;
	size_t n;

	while (len > 0) {
		lf = memchr(data, '\n', len);
		if (f->discarding) {
			if (lf == NULL)
				return 0;
			f->discarding = 0;
			n = (size_t)(lf - data) + 1;
		} else if (lf == NULL) {
			return keep_partial(f, ops, arg, max_line, now, data,
			    len);
		} else if (f->in != NULL) {
			n = (size_t)(lf - data) + 1;
			if (complete_buffered(f, ops, arg, max_line, data,
			    n) == -1)
				return -1;
		} else {
			n = (size_t)(lf - data) + 1;
			if (deliver(ops, arg, max_line, data, n) == -1)
				return -1;
		}
		data += n;
		len -= n;
	}
	return 0;
}
