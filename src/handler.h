/*
 * handler.h -- the interface between echochat's core and its handlers.
 *
 * The public part is <echochat/plugin.h>, the plugin interface: what a
 * handler is, and the calls echo, upper and every plugin make.  Below it
 * is the internal superset chat uses to speak across loops.  It is not
 * part of the plugin ABI: it exposes the loops, and may change in any
 * release.
 *
 * This header stands alone: it includes system headers and the public
 * header only, and every core type in it is opaque.
 *
 * Threads (see also the public header).  endpoint_send,
 * endpoint_deliver and hloop_run may be called from any thread: the core
 * carries the call to the right loop.  Shared state (a room's member
 * list) needs an hlock.
 */
#ifndef ECHOCHAT_HANDLER_H
#define ECHOCHAT_HANDLER_H

#include <echochat/plugin.h>

/* ---- Internal: not in the plugin ABI. ---- */

/*
 * A handler with its running state: what a connection is bound to.  One
 * per started handler, living until the handlers stop, so a connection
 * keeps a pointer to it (one word, not two) through reloads that give its
 * listener another handler.
 */
struct handler_binding {
	const struct handler	*handler;
	void			*state;
};

struct endpoint;	/* someone a handler can send lines to */
struct shared_line;	/* immutable, refcounted text */

/* The connection as an endpoint; borrowed: endpoint_ref to keep it. */
struct endpoint *conn_endpoint(struct conn *);

/* A proven datagram source as an endpoint (unrationed); one reference. */
struct endpoint *dgram_endpoint(const struct dgram_src *);

/* Its listener's `room`, or NULL if not set; valid during the call. */
const char *conn_room(struct conn *);
const char *dgram_room(const struct dgram_src *);
/*
 * The room the i-th listener of this handler names (dflt where it names
 * none), NULL after the last: with configure, the rooms listeners name.
 */
const char *hsettings_room(const struct hsettings *, size_t i,
	    const char *dflt);

/* --- Endpoints: stream connections and datagram peers alike. --- */

void	 endpoint_ref(struct endpoint *);
void	 endpoint_unref(struct endpoint *);
/* Which loop it lives on (0 .. hloops() - 1). */
unsigned int endpoint_loop(const struct endpoint *);
/* Still there to send to?  Meaningful on its own loop. */
int	 endpoint_is_open(const struct endpoint *);
/* Send bytes (copied), from any thread. */
void	 endpoint_send(struct endpoint *, const void *data, size_t len);
/*
 * Send a shared line, from any thread; the endpoint takes its own
 * reference.  If the line must travel to a loop that is far behind,
 * from (the sender, may be NULL) is not read until that loop catches up.
 */
void	 endpoint_deliver(struct endpoint *to, struct shared_line *,
	    struct endpoint *from);
/* The same, handing over one of the caller's references to the line. */
void	 endpoint_deliver_owned(struct endpoint *to, struct shared_line *,
	    struct endpoint *from);
/* On its loop: send what is queued, then close (a peer just stops). */
void	 endpoint_finish(struct endpoint *);

/* --- Shared lines. --- */

struct shared_line *shared_line_new(const char *data, size_t len);
struct shared_line *shared_line_printf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 shared_line_ref(struct shared_line *);
/* n more references at once; n < 0 gives back unused ones, never the last */
void	 shared_line_ref_n(struct shared_line *, int n);
void	 shared_line_unref(struct shared_line *);

/* --- Counters for the metrics (README "Metrics"): a plain add each. --- */

enum hcounter {
	HCOUNT_CHAT_PARTICIPANTS,	/* +1 as one joins, -1 as one leaves */
	HCOUNT_CHAT_ROOMS,		/* +1 as a room is made, -1 gone */
	HCOUNT_CHAT_MESSAGES,		/* lines accepted from participants */
	HCOUNT_CHAT_DELIVERIES,		/* lines delivered to participants */
	HCOUNT_CHAT_DROPPED_RATE,	/* input over chat_rate */
	HCOUNT_CHAT_DROPPED_TOO_LONG	/* input over max_line */
};
/* Count on the calling thread's loop (any loop's thread). */
void	 hcount(enum hcounter, long delta);
/* A datagram turned away: the handler has no room for its source. */
void	 dgram_count_full(const struct dgram_src *);

/* --- Loops. --- */

/* How many loops run, and which one this thread is on. */
unsigned int hloops(void);
unsigned int hloop_here(void);
/*
 * Run fn(arg) on loop i: now if that is this thread's loop, else at that
 * loop's next turn.  If loop i is far behind, on_behalf (may be NULL) is
 * not read until it catches up.
 */
void	 hloop_run(unsigned int i, void (*fn)(void *), void *arg,
	    struct endpoint *on_behalf);

/*
 * --- The cluster link (README "Several servers"): bytes to and from the
 * other servers over Redis pub/sub, on loop 0 only. ---
 */
struct hcluster_ops {
	/* What each payload starts with: its length, written into buf. */
	size_t	(*header)(void *arg, char *buf, size_t size);
	/* One payload another server (or we) published. */
	void	(*heard)(void *arg, const char *data, size_t len);
	/* Subscribed again (after each connect); and the link is lost. */
	void	(*up)(void *arg);
	void	(*down)(void *arg);
};
/* Is [cluster] redis set?  Then the rest may be called. */
int	 hcluster_enabled(void);
const char *hcluster_node(void);
uint64_t hcluster_node_timeout_ms(void);
void	 hcluster_attach(const struct hcluster_ops *, void *arg);
void	 hcluster_detach(void);
/*
 * Add a record (one or more lines) to what goes out at the end of this
 * turn of loop 0, as one PUBLISH.  Dropped and counted while the link
 * is down or its output is backed up; returns 0 if taken.
 */
int	 hcluster_send(const char *data, size_t len);
/*
 * Room history in Redis Streams, under the channel's prefix: append a
 * line to key, keeping about max; and read the newest max lines of key,
 * oldest first, into fn on loop 0 (not called once detached).  Both are
 * dropped while the link is down.
 */
void	 hcluster_log_add(const char *key, const char *line, size_t len,
	    unsigned int max);
typedef void hcluster_log_fn(void *arg, const char *key,
	    const char *const *lines, const size_t *lens, size_t n);
void	 hcluster_log_read(const char *key, unsigned int max,
	    hcluster_log_fn *fn, void *arg);
/* The link looks dead (our own heartbeat went unheard): start again. */
void	 hcluster_reset(const char *why);
/* An endpoint on loop 0 that takes lines and drops them: one reference. */
struct endpoint *hendpoint_null(void);

/* SipHash-2-4 of data under a 16-byte key (unguessable tokens, tables). */
uint64_t hsiphash(const uint8_t key[16], const void *data, size_t len);

#endif
