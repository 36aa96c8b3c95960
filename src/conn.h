/*
 * conn.h -- stream connections (conn.c): reading through a transport,
 * framing, output queueing, backpressure, limits, timeouts and teardown,
 * on the loop that owns them.
 */
#ifndef ECHOCHAT_CONN_H
#define ECHOCHAT_CONN_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "admit.h"
#include "framing.h"
#include "handler.h"
#include "io.h"
#include "listener.h"
#include "loop.h"
#include "outq.h"
#include "sock.h"
#include "telnet.h"

/*
 * Limits every connection obeys; one struct for the process, changed only
 * while every loop is held (a reload).
 */
struct conn_limits {
	uint64_t	max_line;
	uint64_t	output_limit;
	uint64_t	idle_timeout_ms;	/* unless the listener says */
	uint64_t	line_timeout_ms;
	uint64_t	handshake_timeout_ms;	/* TLS: from accept to done */
};

struct conn;

/*
 * Why a connection closed.  The names (conn_why_name) are the one list of
 * disconnect reasons: the disconnect log line starts with them, and a
 * count of disconnects by reason uses the same words.
 */
enum conn_why {
	CONN_WHY_CLIENT,	/* the client closed or reset it */
	CONN_WHY_IDLE,		/* idle_timeout */
	CONN_WHY_TOO_SLOW,	/* output_limit exceeded */
	CONN_WHY_QUIT,		/* the handler ended it (chat /quit) */
	CONN_WHY_SHUTDOWN,	/* the server is stopping */
	CONN_WHY_RELOAD,	/* a reload removed or changed its listener */
	CONN_WHY_ERROR,		/* a socket error, handshake, handler refusal */
	CONN_WHY_ANSWERED,	/* the transport served a request (web page) */
	CONN_WHY_COUNT
};

const char	*conn_why_name(enum conn_why);

/* What the creator of connections hears back. */
struct conn_hooks {
	/* c is gone for good (on its loop); give back what it was counted. */
	void	(*gone)(void *arg, struct conn *c);
};

TAILQ_HEAD(conn_list, conn);

/* The connections of one loop. */
struct conn_loop {
	struct loop		*loop;
	const struct conn_limits *limits;
	const struct conn_hooks	*hooks;
	void			*hooks_arg;
	struct conn_list	 conns;
	struct conn_list	 dirty;		/* output queued this turn */
	struct conn_list	 dead;		/* closed, to be freed */
	struct event		*sweep_ev;	/* line_timeout, once a second */
	struct conn		*current;	/* being read; answers go at once */
	atomic_uint		 nconns;	/* written by this loop only */
};

/* Connection state bits. */
#define CONN_WRITING	0x01	/* waiting for the socket to take output */
#define CONN_FINISHING	0x02	/* close once output is sent */
#define CONN_CLOSED	0x04	/* handler told; free pending */
#define CONN_HANDSHAKE	0x08	/* the transport is not ready yet */
#define CONN_DIRTY	0x10	/* on the loop's flush list */
#define CONN_PEER_EOF	0x20	/* client half-closed */
#define CONN_READ_WAITS	0x40	/* a read needs the socket writable */
#define CONN_HELD	0x80	/* not read while other loops catch up */
#define CONN_WHY_SET	0x100	/* why (and detail) are decided */
#define CONN_IP_COUNTED	0x200	/* admission counted its IP (admit.h) */
#define CONN_PEER_INET	0x400	/* peer_ip is IPv4, in its first bytes */
#define CONN_PEER_INET6	0x800	/* peer_ip is IPv6; neither: unix */

/*
 * What a connection needs only once it has done something: it is made on
 * first use (the first bytes each way, the handler's data, a partial
 * line, queued output's turn, the close) and freed with the connection,
 * so a connection that only waits costs struct conn alone.
 */
struct conn_more {
	struct io		 io;		/* the transport; plain at first */
	uint64_t		 started_ms;	/* accepted, widened from conn's */
	void			*hdata;
	struct outq		*out;		/* pending output, or NULL */
	struct framer		 framer;	/* line handlers only */
	struct endpoint		*ep;		/* made on demand */
	const char		*detail;	/* static words for the log */
	const char		*close_reason;	/* for the handler's close */
	char			*user;		/* who, as the handler says */
	uint64_t		 bytes_in, bytes_out;
	TAILQ_ENTRY(conn)	 dirty;		/* cl->dirty or cl->dead */
	int16_t			 error;		/* errno of an error close */
	struct telnet		 telnet;	/* handlers with .telnet */
	uint8_t			 why;		/* enum conn_why, once set */
};

/*
 * A stream connection.  Small on purpose, and without holes: an idle one
 * owns no buffers and no struct conn_more (README "Performance": memory
 * per idle connection).  Its socket is ev's; its transport lives in
 * struct conn_more, made at the first readiness, because a connection
 * that has never been readable has nothing to read or write.  The peer
 * and the admission ticket are kept unpacked, their kinds in flags:
 * 200 bytes, so that malloc's 208-byte class holds it.
 */
struct conn {
	struct conn_loop	*cl;
	struct listener		*listener;
	const struct handler_binding *b;	/* its handler and state */
	struct conn_more	*more;		/* NULL until needed */
	uint32_t		 started;	/* monotonic_ms() at accept, low
						   32 bits (conn_more widens) */
	uint16_t		 flags;
	uint16_t		 peer_port;
	uint8_t			 peer_ip[16];
	struct event		 ev;
	TAILQ_ENTRY(conn)	 entry;		/* cl->conns */
};

void	 conn_loop_init(struct conn_loop *, struct loop *,
	    const struct conn_limits *, const struct conn_hooks *, void *arg);
void	 conn_loop_free(struct conn_loop *);
void	 conn_loop_finish_all(struct conn_loop *);
void	 conn_loop_drop_listener(struct conn_loop *, struct listener *,
	    const char *why);

/*
 * A connection for an accepted socket, bound for cl and counted there
 * already; it owns fd.  Then, on cl's loop: conn_start serves it, or
 * conn_discard closes it unserved.
 */
struct conn *conn_new(struct conn_loop *, int fd, const struct sockaddr *,
	    struct listener *, const struct handler_binding *);
void	 conn_start(struct conn *);
void	 conn_discard(struct conn *);
/* Stop reading c until the other loops have caught up. */
void	 conn_hold(struct conn *);
/* c's transport, made (plain) on first use. */
struct io *conn_io(struct conn *);
/* Who c is, and what admission counted for it. */
void	 conn_peer(const struct conn *, struct peer_addr *);
void	 conn_set_ticket(struct conn *, const struct admit_ticket *);
struct admit_ticket conn_ticket(const struct conn *);

#endif
