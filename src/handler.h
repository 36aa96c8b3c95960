/*
 * handler.h -- the interface between echochat's core and its handlers.
 *
 * A handler decides what to answer.  The core owns sockets, buffers,
 * framing, limits and timeouts; a handler sees a stream connection as a
 * series of input calls (raw bytes or whole lines, as it asks) and a UDP
 * listener as a series of datagrams.  Built-in handlers and future plugins
 * fill in the same const table; the core only ever calls through it.
 */
#ifndef ECHOCHAT_HANDLER_H
#define ECHOCHAT_HANDLER_H

#include <sys/types.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct loop;
struct listener;
struct server;
struct shared_line;

/* How the core cuts a stream before handing it to the handler. */
enum framing {
	FRAMING_BYTES,	/* every read as it arrives; the buffer may be modified */
	FRAMING_LINES	/* one whole line at a time, terminator removed */
};

/* A UDP datagram's origin, enough to answer it. */
struct dgram_peer {
	struct listener		*listener;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
};

struct handler {
	const char	*name;
	enum framing	 framing;

	/*
	 * Process-wide state, created once before the first listener of this
	 * handler opens and destroyed after the last one is gone.  Optional.
	 * Returns NULL and sets *cause (static string) on failure.
	 */
	void	*(*start)(struct server *, const char **cause);
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

	/*
	 * A UDP listener of this handler is going away (a reload removed or
	 * changed it): forget whatever refers to it.  Optional.
	 */
	void	 (*listener_gone)(void *state, struct listener *);

	/* One datagram on a UDP listener of this handler. */
	void	 (*datagram)(void *state, const struct dgram_peer *,
		     char *data, size_t len);
};

/* --- What the core offers handlers. --- */

/* Queue bytes for a connection (copied); sent at the end of this turn. */
void	 conn_send(struct conn *, const void *data, size_t len);
/* Queue a shared line without copying it; takes a reference. */
void	 conn_send_shared(struct conn *, struct shared_line *);
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
/* The server's configured max_line (for messages). */
size_t	 conn_max_line(struct conn *);

/*
 * A refcounted, immutable line shared by many output queues, on any
 * thread (the count is atomic once workers run).
 */
struct shared_line {
	atomic_uint	refs;
	uint32_t	tag;		/* the sender's (chat: a join count) */
	size_t		len;
	char		data[];
};
struct shared_line *shared_line_new(const char *data, size_t len);
struct shared_line *shared_line_printf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 shared_line_ref(struct shared_line *);
void	 shared_line_unref(struct shared_line *);

/*
 * --- Threads (workers = N). ---
 * Each stream connection lives on one event loop and only that loop's
 * thread may touch it; UDP listeners live on the first loop.  A handler
 * whose state spans connections (a chat room) reaches another loop's
 * connections by posting a call to that loop.
 */
/* The loop a connection lives on. */
struct loop	*conn_loop(struct conn *);
/* How many loops there are, and each by index (0 runs UDP). */
unsigned int	 server_nloops(struct server *);
struct loop	*server_loop(struct server *, unsigned int);
unsigned int	 loop_index(struct loop *);
/*
 * May this thread act on that loop's connections now?  True on the loop's
 * own thread, and on the main thread while every other loop is held
 * (reload, shutdown start, teardown).
 */
int		 loop_is_here(struct loop *);
/*
 * Run fn(a, b, c) on that loop's thread at its next turn.  Returns how
 * many calls now wait there: a handler that posts on a client's behalf
 * should conn_hold that client when it passes LOOP_BEHIND.
 */
#define LOOP_BEHIND	1024
unsigned int	 loop_post(struct loop *, void (*fn)(void *, void *, void *),
		    void *a, void *b, void *c);
/*
 * Stop reading this connection until every other loop has caught up with
 * what was posted to it (checked every millisecond): backpressure for a
 * client whose input makes work for other threads.
 */
void		 conn_hold(struct conn *);
/* With more than one loop, handlers must lock what loops share. */
int		 server_threaded(void);
/* Lock and unlock a mutex only when there are threads to keep out. */
void		 threads_lock(pthread_mutex_t *);
void		 threads_unlock(pthread_mutex_t *);

/*
 * Answer a datagram from a source that has proved nothing (echo, a chat
 * challenge): within the per-address budget (udp_rate, udp_burst), else
 * dropped and counted.
 */
void	 udp_reply(const struct dgram_peer *, const void *data, size_t len);
/* Send to a proven peer (a joined chat participant), unrationed. */
void	 udp_send(const struct dgram_peer *, const void *data, size_t len);

#endif
