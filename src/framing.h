/*
 * framing.h -- bytes into lines for line-based handlers (framing.c).
 */
#ifndef ECHOCHAT_FRAMING_H
#define ECHOCHAT_FRAMING_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/*
 * A partial line between reads; in is NULL while there is none.  Every
 * connection has one, hence 16 bytes: the start time keeps its low 32
 * bits only, which framer_age reads modulo 2^32 (in ms, 49 days: far
 * beyond any line_timeout a partial line could wait for, since the
 * sweep drops it as soon as its age reaches line_timeout).
 */
struct framer {
	struct evbuffer	*in;
	uint32_t	 started;	/* when the partial line began */
	uint32_t	 discarding;	/* rest of an over-long line */
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
/* How long ago (in the unit of now) the partial line began. */
uint64_t framer_age(const struct framer *, uint64_t now);

#endif
