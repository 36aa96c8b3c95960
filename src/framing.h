/*
 * framing.h -- bytes into lines for line-based handlers (framing.c).
 */
#ifndef ECHOCHAT_FRAMING_H
#define ECHOCHAT_FRAMING_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* A partial line between reads; in is NULL while there is none. */
struct framer {
	struct evbuffer	*in;
	/* Both 32-bit: a held partial line is at most max_line + one read. */
	uint32_t	 scanned;
	uint32_t	 discarding;	/* rest of an over-long line */
	uint64_t	 started;	/* when the partial line began */
};

/* Callbacks of framer_feed; each returns -1 to stop (connection gone). */
struct frame_ops {
	int	(*line)(void *arg, char *line, size_t len);
	int	(*too_long)(void *arg);
};

size_t	 frame_strip_eol(const char *line, size_t len);
int	 framer_feed(struct framer *, size_t max_line, uint64_t now,
	    char *data, size_t len, const struct frame_ops *, void *arg);
int	 framer_finish(struct framer *, size_t max_line,
	    const struct frame_ops *, void *arg);
void	 framer_reset(struct framer *);

#endif
