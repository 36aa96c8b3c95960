/*
 * handler.h -- the interface between echochat's core and its handlers.
 *
 * A handler decides what to answer.  The core owns sockets, transports,
 * buffers, framing, limits, timeouts and threads; a handler sees a stream
 * connection as a series of input calls (raw bytes or whole lines, as it
 * asks) and a datagram listener as a series of datagrams.  Built-in
 * handlers fill in the same const table a plugin will; the core only ever
 * calls through it.
 *
 * This header stands alone: it includes system headers only, and every
 * core type in it is opaque.
 *
 * Threads.  With workers = N the core runs N event loops, each on its own
 * thread.  A stream connection lives on one loop for its whole life, and
 * open, input and close for it run on that loop's thread.  start,
 * configure, shutdown, stop, datagram and timers run on the main thread,
 * which is loop 0.  Functions taking a struct conn are for the thread of
 * that connection's loop; endpoint_send, endpoint_deliver and hloop_run
 * may be called from any thread: the core carries the call to the right
 * loop.  Shared state (a room's member list) needs an hlock.
 */
#ifndef ECHOCHAT_HANDLER_H
#define ECHOCHAT_HANDLER_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

struct conn;		/* a stream connection (TCP, Unix) */
struct endpoint;	/* someone a handler can send lines to */
struct shared_line;	/* immutable, refcounted text */
struct hsettings;	/* a handler's own [section] of the configuration */
struct htimer;
struct hlock;

/* How the core cuts a stream before handing it to the handler. */
enum framing {
	FRAMING_BYTES,	/* every read as it arrives; the buffer may be modified */
	FRAMING_LINES	/* one whole line at a time, terminator removed */
};

/* Where a datagram came from: enough to answer it or to remember it. */
struct dgram_src {
	const void		*origin;	/* the socket, opaque */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
};

/* A key of the handler's own section; defaults are in the built-in INI. */
enum hsetting_type { HSETTING_COUNT, HSETTING_SIZE, HSETTING_DURATION };
struct hsetting_def {
	const char		*name;
	enum hsetting_type	 type;
	uint64_t		 min, max;	/* durations in ms */
};

struct handler {
	const char	*name;
	enum framing	 framing;

	/* Its own settings: [section] with these keys.  Optional. */
	const char			*section;
	const struct hsetting_def	*settings;	/* NULL-terminated */

	/*
	 * Process-wide state, created before the first listener of this
	 * handler opens and destroyed after the last one is gone.  Optional.
	 * Returns NULL and sets *cause (static string) on failure.
	 */
	void	*(*start)(const char **cause);
	/* Settings, after start and after every reload.  Optional. */
	void	 (*configure)(void *state, const struct hsettings *);
	void	 (*stop)(void *state);

	/* The server is shutting down: a last word to everyone.  Optional. */
	void	 (*shutdown)(void *state);

	/* A stream connection arrived (after the banner).  -1 refuses it. */
	int	 (*open)(struct conn *);

	/* Input from a stream: raw bytes or one line without terminator. */
	void	 (*input)(struct conn *, char *data, size_t len);

	/*
	 * The connection is going away; reason is NULL for an orderly
	 * disconnect, otherwise a short word such as "too slow".  Sending to
	 * this connection from here is a no-op.
	 */
	void	 (*close)(struct conn *, const char *reason);

	/* One datagram on a datagram listener of this handler. */
	void	 (*datagram)(void *state, const struct dgram_src *,
		     char *data, size_t len);
};

/* --- Stream connections (on the connection's own loop). --- */

/* Queue bytes (copied); sent at once or at the end of this turn. */
void	 conn_send(struct conn *, const void *data, size_t len);
/* Send what is queued, then close.  Input from now on is ignored. */
void	 conn_finish(struct conn *);
/* Close now (queued output is dropped); reason as for handler close. */
void	 conn_drop(struct conn *, const char *reason);
/* Handler-private per-connection data. */
void	*conn_get_data(struct conn *);
void	 conn_set_data(struct conn *, void *);
/* The handler's process-wide state (from start). */
void	*conn_handler_state(struct conn *);
/* "127.0.0.1:5555", "[::1]:5555" or "unix" for logs. */
const char *conn_peer_name(struct conn *);
/* Is the connection still open for output? */
int	 conn_is_open(struct conn *);
/* The configured max_line (for messages). */
size_t	 conn_max_line(struct conn *);
/* The connection as an endpoint; borrowed: endpoint_ref to keep it. */
struct endpoint *conn_endpoint(struct conn *);

/* --- Datagrams (main thread). --- */

/*
 * Answer a datagram from a source that has proved nothing (echo, a chat
 * challenge): within the per-address budget (udp_rate, udp_burst), else
 * dropped and counted.
 */
void	 dgram_reply(const struct dgram_src *, const void *data, size_t len);
/* A proven source as an endpoint (unrationed); one reference. */
struct endpoint *dgram_endpoint(const struct dgram_src *);
/* The configured max_line. */
size_t	 dgram_max_line(const struct dgram_src *);

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
/* On its loop: send what is queued, then close (a peer just stops). */
void	 endpoint_finish(struct endpoint *);

/* --- Shared lines. --- */

struct shared_line *shared_line_new(const char *data, size_t len);
struct shared_line *shared_line_printf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 shared_line_ref(struct shared_line *);
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

/* --- Loops, locks, timers, settings, log, clock. --- */

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

/* A lock that costs nothing with one loop. */
struct hlock *hlock_new(void);
void	 hlock_acquire(struct hlock *);
void	 hlock_release(struct hlock *);
void	 hlock_free(struct hlock *);

/* fn(arg) every ms milliseconds on the main thread, until freed. */
struct htimer *htimer_every(uint64_t ms, void (*fn)(void *), void *arg);
void	 htimer_free(struct htimer *);

/* A key of the handler's section (from its settings table). */
uint64_t hsettings_get(const struct hsettings *, const char *name);

enum hlog_level { HLOG_ERROR, HLOG_WARN, HLOG_INFO, HLOG_DEBUG };
void	 hlog(enum hlog_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Milliseconds on a monotonic clock. */
uint64_t hclock_ms(void);
/* SipHash-2-4 of data under a 16-byte key (unguessable tokens, tables). */
uint64_t hsiphash(const uint8_t key[16], const void *data, size_t len);

#endif
