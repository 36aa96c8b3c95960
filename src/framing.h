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
	size_t		 scanned;
	uint64_t	 started;	/* when the partial line began */
	int		 discarding;	/* rest of an over-long line */
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
