/*
 * conn.c -- a stream connection (TCP or Unix): reading through its
 * transport, framing, output queueing, backpressure, limits, timeouts and
 * teardown.
 *
 * A connection is one small struct with one embedded event and no buffers
 * until data has to wait: reads go into the loop's scratch buffer, lines
 * are cut from it in place, and output is written at once when the
 * connection answers itself, or queued and sent in one batch at the end of
 * the loop's turn when it comes from elsewhere (a broadcast).  Only output
 * the kernel will not take yet is kept, in an output queue (outq.c) freed
 * once it drains.  What a connection needs only once it has done
 * something (byte counts, the handler's data, a partial line, queued
 * output, why it closed) is a second struct, struct conn_more, made on
 * first use: one that only waits is struct conn alone.
 *
 * Backpressure: while output waits, the connection is not read (the one
 * event watches for writability instead), so a client that never reads is
 * slowed by TCP flow control and costs at most one read of memory.  Output
 * queued from elsewhere is not slowed this way: once more than
 * output_limit is still waiting after the socket took what it could, the
 * connection is dropped as too slow, and so is one whose answers to its
 * own read outgrow output_limit plus that read.
 *
 * Every byte goes through the connection's transport (io.h).  A transport
 * may need a handshake before the handler hears of the connection, may
 * need the socket writable to go on reading, and may hold input the
 * socket will not signal again; all three are handled here, so a new
 * transport needs no change to this file.
 *
 * Teardown is deferred: conn_drop only marks the connection and queues it;
 * the handler hears of it and the memory is freed at the end of the turn,
 * so no callback ever frees a connection that a caller up the stack (a
 * broadcast loop, say) still holds.
 *
 * A connection belongs to one loop and only that loop's thread touches it.
 * Whoever creates connections (the server) admits and counts them, and is
 * told through conn_hooks when each one is gone.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "endpoint.h"
#include "log.h"
#include "stats.h"
#include "sync.h"
#include "tls.h"
#include "ws.h"
#include "xmalloc.h"

static void	conn_event(evutil_socket_t, short, void *);
static void	conn_flush(struct conn *);
static void	conn_read(struct conn *);
static int	conn_push_unsent(struct conn *);
static int	conn_frame_line(void *, char *, size_t);
static int	conn_frame_too_long(void *);

static const struct frame_ops conn_frame_ops = {
	.line = conn_frame_line,
	.too_long = conn_frame_too_long,
};

/* The most one read of a line handler's connection takes with workers. */
#define THREADED_LINE_READ	(8 * 1024)

/* How often a held connection checks whether it may read again. */
#define HOLD_MS	1

/* An idle connection fits malloc's 208-byte class (conn.h). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct conn) <= 200,
    "struct conn outgrew its size class");

/*
 * c's struct conn_more, made on first use: what a connection that only
 * waits never needs (conn.h).
 */
static struct conn_more *
conn_more(struct conn *c)
{
	uint64_t now;

	if (c->more != NULL)
		return c->more;
	c->more = xcalloc(1, sizeof *c->more);
	io_plain_init(&c->more->io, event_get_fd(&c->ev));
	/* Exact for a connection made less than 49 days ago. */
	now = monotonic_ms();
	c->more->started_ms = now - (uint32_t)((uint32_t)now - c->started);
	return c->more;
}

struct io *
conn_io(struct conn *c)
{
	return &conn_more(c)->io;
}

/* Bytes c's transport holds that its socket will not signal. */
static size_t
conn_io_pending(struct conn *c)
{
	return c->more != NULL ? io_pending(&c->more->io) : 0;
}

/* Free c's struct conn_more and what it owns. */
static void
conn_more_free(struct conn *c)
{
	if (c->more == NULL)
		return;
	framer_reset(&c->more->framer);
	outq_free(c->more->out);
	free(c->more->user);
	free(c->more);
	c->more = NULL;
}

/* c's queued output, or NULL. */
static struct outq *
conn_out(const struct conn *c)
{
	return c->more != NULL ? c->more->out : NULL;
}

/* Free c's empty output queue. */
static void
conn_release_out(struct conn *c)
{
	outq_free(c->more->out);
	c->more->out = NULL;
}

/* c's output queue, made if need be. */
static struct outq *
conn_out_make(struct conn *c)
{
	if (conn_more(c)->out == NULL)
		c->more->out = outq_new();
	return c->more->out;
}

/* Does c hold part of a line? */
static int
conn_has_partial(const struct conn *c)
{
	return c->more != NULL && c->more->framer.in != NULL;
}

/* Count for c's listener on c's loop: a plain add (stats.h). */
static void
conn_count(struct conn *c, enum stat_listener which, uint64_t n)
{
	if (c->listener->stats != NULL)
		lstat_add(c->listener->stats, c->cl->loop->index, which, n);
}

/* n bytes left for c's client: for its disconnect line and the metrics. */
static void
conn_sent(struct conn *c, ssize_t n)
{
	if (n <= 0)
		return;
	conn_more(c)->bytes_out += (uint64_t)n;
	conn_count(c, SL_SENT_BYTES, (uint64_t)n);
}

/*
 * Line drops of chat connections are the chat's (README "Metrics"); the
 * other handlers take bytes, and a plugin's lines are its own business.
 */
static void
conn_count_chat_drop(struct conn *c, enum stat_global which)
{
	if (strcmp(c->b->handler->name, "chat") == 0)
		gstat_add(which, 1);
}

/*
 * Why c ended, in the metrics' words: the one cause conn_set_why kept
 * (README "Logging"), which speaks echochat_disconnects_total's reasons.
 */
static enum stat_end
conn_end_reason(const struct conn *c)
{
	static const enum stat_end ends[CONN_WHY_COUNT] = {
		[CONN_WHY_CLIENT] = END_CLIENT,
		[CONN_WHY_IDLE] = END_IDLE,
		[CONN_WHY_TOO_SLOW] = END_TOO_SLOW,
		[CONN_WHY_QUIT] = END_QUIT,
		[CONN_WHY_SHUTDOWN] = END_SHUTDOWN,
		[CONN_WHY_RELOAD] = END_RELOAD,
		[CONN_WHY_ERROR] = END_ERROR,
		[CONN_WHY_ANSWERED] = END_ANSWERED,
	};

	unsigned int why = c->more != NULL ? c->more->why : CONN_WHY_ERROR;

	return why < CONN_WHY_COUNT ? ends[why] : END_ERROR;
}

/* The idle timeout for this connection's listener, or 0. */
static uint64_t
conn_idle_ms(struct conn *c)
{
	if (c->listener->conf->has_idle_timeout)
		return c->listener->conf->idle_timeout_ms;
	return c->cl->limits->idle_timeout_ms;
}

/*
 * Watch for EV_READ or EV_WRITE, never both: a connection with output
 * waiting is not read (backpressure), and one that is read has nothing
 * waiting.
 */
static void
conn_watch_for(struct conn *c, short what, uint64_t ms)
{
	struct timeval tv, *tvp = NULL;

	if (event_initialized(&c->ev))
		event_del(&c->ev);
	event_assign(&c->ev, c->cl->loop->base, event_get_fd(&c->ev),
	    what | EV_PERSIST, conn_event, c);
	if (ms != 0) {
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		tvp = &tv;
	}
	event_add(&c->ev, tvp);
}

static void
conn_watch(struct conn *c, short what)
{
	c->flags &= ~CONN_HELD;
	conn_watch_for(c, what, conn_idle_ms(c));
}

/*
 * Watch for input again.  Input the transport already holds will not make
 * the socket readable: come back for it in the next round.
 */
static void
conn_watch_input(struct conn *c)
{
	conn_watch(c, EV_READ);
	if (conn_io_pending(c) > 0)
		event_active(&c->ev, EV_READ, 0);
}

/* Stop reading c for now: other loops are behind on what it caused. */
void
conn_hold(struct conn *c)
{
	if (c->flags & (CONN_HELD | CONN_WRITING | CONN_CLOSED))
		return;		/* a writing connection is not read anyway */
	conn_watch_for(c, 0, HOLD_MS);
	c->flags |= CONN_HELD;
}

/*
 * A held connection's timer: read again once the others caught up.  A
 * millisecond poll of a few counters is cheaper than having every loop
 * wake its holders, and holds are rare.
 */
static void
conn_held(struct conn *c)
{
	if (!loops_caught_up(c->cl->loop->set, c->cl->loop))
		return;		/* the persistent timer comes back */
	conn_watch_input(c);
}

/* The disconnect reasons' names, in enum conn_why's order. */
static const char *const conn_why_names[CONN_WHY_COUNT] = {
	[CONN_WHY_CLIENT] = "client",
	[CONN_WHY_IDLE] = "idle",
	[CONN_WHY_TOO_SLOW] = "too_slow",
	[CONN_WHY_QUIT] = "quit",
	[CONN_WHY_SHUTDOWN] = "shutdown",
	[CONN_WHY_RELOAD] = "reload",
	[CONN_WHY_ERROR] = "error",
	[CONN_WHY_ANSWERED] = "answered",
};

const char *
conn_why_name(enum conn_why why)
{
	return why < CONN_WHY_COUNT ? conn_why_names[why] : "error";
}

/*
 * Decide why c goes, once: the first cause wins (a write error while a
 * /quit drains is still a quit).  detail is static text for the log.
 */
static void
conn_set_why(struct conn *c, enum conn_why why, const char *detail,
    int error)
{
	if (c->flags & CONN_WHY_SET)
		return;
	c->flags |= CONN_WHY_SET;
	conn_more(c)->why = (uint8_t)why;
	c->more->detail = detail;
	c->more->error = (int16_t)error;	/* errno values are small */
}

/* A failed read or write: the client's doing (a reset) or an error. */
static void
conn_set_io_error(struct conn *c, int error)
{
	if (error == ECONNRESET || error == EPIPE)
		conn_set_why(c, CONN_WHY_CLIENT, "reset", 0);
	else
		conn_set_why(c, CONN_WHY_ERROR, NULL, error);
}

/* Who is on c, as its handler names them (a chat nick), for the log. */
void
conn_set_user(struct conn *c, const char *user)
{
	if (c->more == NULL && (user == NULL || *user == '\0'))
		return;
	free(conn_more(c)->user);
	c->more->user = user != NULL && *user != '\0' ? xstrdup(user) :
	    NULL;
}

/* Keep who c is, in struct conn's unpacked form. */
static void
conn_set_peer(struct conn *c, const struct sockaddr *sa)
{
	struct peer_addr p;

	peer_addr_set(&p, sa);
	memcpy(c->peer_ip, p.addr, sizeof c->peer_ip);
	c->peer_port = p.port;
	if (p.family == AF_INET)
		c->flags |= CONN_PEER_INET;
	else if (p.family == AF_INET6)
		c->flags |= CONN_PEER_INET6;
}

void
conn_peer(const struct conn *c, struct peer_addr *p)
{
	memset(p, 0, sizeof *p);
	if (c->flags & CONN_PEER_INET)
		p->family = AF_INET;
	else if (c->flags & CONN_PEER_INET6)
		p->family = AF_INET6;
	else
		p->family = AF_UNIX;
	memcpy(p->addr, c->peer_ip, sizeof p->addr);
	p->port = c->peer_port;
}

void
conn_set_ticket(struct conn *c, const struct admit_ticket *t)
{
	if (t->ip_counted)
		c->flags |= CONN_IP_COUNTED;
	else
		c->flags &= ~CONN_IP_COUNTED;
}

struct admit_ticket
conn_ticket(const struct conn *c)
{
	struct admit_ticket t = { .ip_counted = !!(c->flags &
	    CONN_IP_COUNTED) };

	return t;
}

/* "127.0.0.1:5555", "[::1]:5555" or "unix"; valid until the next call. */
const char *
conn_peer_name(struct conn *c)
{
	struct peer_addr p;

	conn_peer(c, &p);
	return peer_addr_name(&p);
}

/*
 * A connection for an accepted socket; it owns fd from now on.  It goes
 * to a loop with conn_start, on that loop's thread.
 */
struct conn *
conn_new(struct conn_loop *cl, int fd, const struct sockaddr *sa,
    struct listener *l, const struct handler_binding *b)
{
	struct conn *c = xcalloc(1, sizeof *c);
	int one = 1;

	c->cl = cl;
	counter_add(&cl->nconns, 1);
	c->listener = l;
	c->b = b;
	conn_set_peer(c, sa);
	c->started = (uint32_t)monotonic_ms();
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Only to hold fd: nothing is watched until conn_start. */
	event_assign(&c->ev, cl->loop->base, fd, EV_READ | EV_PERSIST,
	    conn_event, c);
	return c;
}

/* The transport is ready: the banner, then the handler's greeting. */
static void
conn_opened(struct conn *c)
{
	const char *banner = c->listener->conf->banner;

	c->flags &= ~CONN_HANDSHAKE;
	if (banner != NULL) {
		conn_send(c, banner, strlen(banner));
		conn_send(c, "\n", 1);
	}
	if (c->b->handler->open != NULL && c->b->handler->open(c) == -1) {
		conn_set_why(c, CONN_WHY_ERROR, "refused by handler", 0);
		conn_drop(c, "refused by handler");
	}
}

/*
 * How long a handshake still has: it is timed from the accept, not from
 * its last step, so a client that dribbles one byte at a time still runs
 * out.
 */
static uint64_t
conn_handshake_left_ms(struct conn *c)
{
	uint64_t limit = c->cl->limits->handshake_timeout_ms;
	uint64_t spent = monotonic_ms() - conn_more(c)->started_ms;

	/* An HTTP request head is a line as well: line_timeout bounds it. */
	if (ws_io_is(&c->more->io) && c->cl->limits->line_timeout_ms != 0 &&
	    (limit == 0 || c->cl->limits->line_timeout_ms < limit))
		limit = c->cl->limits->line_timeout_ms;

	if (limit == 0)
		return conn_idle_ms(c);
	return spent >= limit ? 1 : limit - spent;
}

/* Log what a TLS handshake agreed on, and the client's certificate. */
static void
conn_log_tls(struct conn *c, struct io *tls)
{
	char what[96], cn[256];

	tls_io_describe(tls, what, sizeof what, cn, sizeof cn);
	if (cn[0] != '\0')
		log_info("%s on listener %s: %s, client certificate CN=%s",
		    conn_peer_name(c), c->listener->conf->name, what, cn);
	else
		log_debug("%s on listener %s: %s", conn_peer_name(c),
		    c->listener->conf->name, what);
}

/* Drive the transport's handshake; the handler hears once it is done. */
static void
conn_handshake(struct conn *c)
{
	struct io *io, *inner;
	const char *why;

	if (c->more == NULL) {
		/* Still the plain transport, which has no handshake. */
		conn_watch_input(c);
		conn_opened(c);
		return;
	}
	io = &c->more->io;
	inner = ws_io_inner(io);	/* wss: TLS under it */
	switch (io_handshake(io)) {
	case 1:
		if (tls_io_is(inner))
			conn_log_tls(c, inner);
		conn_watch_input(c);
		conn_opened(c);
		break;
	case 0:
		conn_watch_for(c, io->want == IO_WANT_WRITE ? EV_WRITE :
		    EV_READ, conn_handshake_left_ms(c));
		break;
	case IO_ANSWERED:
		/* A web page or a 404: served, not a failure. */
		why = io_error(io);
		log_info("served %s on listener %s: %s", conn_peer_name(c),
		    c->listener->conf->name, why != NULL ? why : "answered");
		conn_set_why(c, CONN_WHY_ANSWERED, NULL, 0);
		conn_drop(c, NULL);
		break;
	default:
		why = io_error(io);
		log_info("handshake with %s on listener %s failed%s%s",
		    conn_peer_name(c), c->listener->conf->name,
		    why != NULL ? ": " : "", why != NULL ? why : "");
		conn_set_why(c, CONN_WHY_ERROR, "handshake failed", 0);
		conn_drop(c, "handshake failed");
		break;
	}
}

/* On the loop's thread: start watching c and greet it. */
void
conn_start(struct conn *c)
{
	struct conn_loop *cl = c->cl;

	TAILQ_INSERT_TAIL(&cl->conns, c, entry);
	if (cl->loop->set->n > 1)
		log_debug("connect %s on listener %s (loop %u)",
		    conn_peer_name(c), c->listener->conf->name,
		    cl->loop->index);
	else
		log_debug("connect %s on listener %s", conn_peer_name(c),
		    c->listener->conf->name);
	c->flags |= CONN_HANDSHAKE;
	if (c->listener->conf->tls != NULL &&
	    tls_io_start(conn_io(c), c->listener->conf->tls) == -1) {
		log_warnx("%s on listener %s: cannot start TLS",
		    conn_peer_name(c), c->listener->conf->name);
		conn_drop(c, "no TLS");
		return;
	}
	if (c->listener->conf->websocket &&
	    ws_io_start(conn_io(c), c->listener->conf->ws_origins) == -1) {
		conn_drop(c, "no WebSocket");
		return;
	}
	conn_handshake(c);
}

/* Close a connection that never started; its creator hears of it. */
void
conn_discard(struct conn *c)
{
	struct conn_loop *cl = c->cl;

	conn_count(c, SL_ENDED + (c->listener->retired ? END_RELOAD :
	    END_SHUTDOWN), 1);
	io_close(conn_io(c));
	counter_add(&cl->nconns, -1);
	cl->hooks->gone(cl->hooks_arg, c);
	conn_more_free(c);
	free(c);
}

/* Queue c for the end-of-turn flush. */
static void
conn_mark_dirty(struct conn *c)
{
	if (c->flags & CONN_DIRTY)
		return;
	c->flags |= CONN_DIRTY;
	conn_more(c);
	TAILQ_INSERT_TAIL(&c->cl->dirty, c, more->dirty);
	loop_schedule(c->cl->loop);
}

static size_t	conn_read_size(struct conn *);

/*
 * Past output_limit a connection is too slow to keep.  What its socket
 * takes at once is not waiting: before judging, the queue is tried on
 * the socket, so a reader with room in its kernel buffers is never cut
 * by one long line (or a burst of lines queued within one turn), while
 * one that stopped reading still is.  While it answers its own read it
 * may keep one read's worth more: backpressure (it is not read again
 * until that is sent) bounds such answers to what the read asked for,
 * and a read is at most output_limit.  A handler that answers far more
 * than it was sent (a plugin answering a line with megabytes) is cut all
 * the same.
 */
static int
conn_over_limit(struct conn *c)
{
	uint64_t limit = c->cl->limits->output_limit;
	uint64_t allowed = limit + (c == c->cl->current ?
	    conn_read_size(c) : 0);
	ssize_t n;

	if (c->more->out->cost <= allowed)
		return 0;
	if (!(c->flags & CONN_HANDSHAKE)) {
		n = outq_write(c->more->out, conn_io(c));
		if (n == -1 && errno != EAGAIN) {
			conn_set_io_error(c, errno);
			conn_drop(c, NULL);
			return 1;
		}
		conn_sent(c, n);
		if (c->more->out->cost <= allowed)
			return 0;
	}
	log_info("dropping %s on listener %s: output limit (%llu bytes) "
	    "exceeded", conn_peer_name(c), c->listener->conf->name,
	    (unsigned long long)limit);
	conn_set_why(c, CONN_WHY_TOO_SLOW, NULL, 0);
	conn_drop(c, "too slow");
	return 1;
}

/* Can c take output at all? */
static int
conn_accepts_output(struct conn *c)
{
	return !(c->flags & (CONN_CLOSED | CONN_FINISHING));
}

/* May output be written now, rather than queued? */
static int
conn_may_write_now(struct conn *c)
{
	return c == c->cl->current &&
	    !(c->flags & (CONN_WRITING | CONN_HANDSHAKE)) &&
	    (conn_out(c) == NULL || conn_out(c)->count == 0);
}

/*
 * Queue bytes (copied).  A connection answering itself, with nothing
 * queued, writes at once: that keeps an echo to one read and one write.
 */
void
conn_send(struct conn *c, const void *data, size_t len)
{
	struct iovec iov;
	ssize_t n = 0;

	if (!conn_accepts_output(c) || len == 0)
		return;
	if (conn_may_write_now(c)) {
		iov.iov_base = (void *)(uintptr_t)data;
		iov.iov_len = len;
		n = io_writev(conn_io(c), &iov, 1);
		conn_sent(c, n);
		if (n == (ssize_t)len)
			return;
		if (n == -1 && errno != EAGAIN) {
			conn_set_io_error(c, errno);
			conn_drop(c, NULL);
			return;
		}
		if (n == -1)
			n = 0;
	}
	outq_push(conn_out_make(c), shared_line_new((const char *)data + n,
	    len - (size_t)n));
	if (!conn_over_limit(c))
		conn_mark_dirty(c);
}

/* Queue a shared line without copying it, taking over one reference. */
static void
conn_send_line_owned(struct conn *c, struct shared_line *sl)
{
	if (!conn_accepts_output(c) || sl->len == 0) {
		shared_line_unref(sl);
		return;
	}
	outq_push(conn_out_make(c), sl);
	if (!conn_over_limit(c))
		conn_mark_dirty(c);
}

/* Send what is queued, then close, for this reason. */
static void
conn_finish_why(struct conn *c, enum conn_why why)
{
	if (c->flags & (CONN_CLOSED | CONN_FINISHING))
		return;
	conn_set_why(c, why, NULL, 0);
	c->flags |= CONN_FINISHING;
	if (c->more != NULL)
		framer_reset(&c->more->framer);
	conn_mark_dirty(c);
}

/* The handler is done with c (chat /quit): send what is queued, close. */
void
conn_finish(struct conn *c)
{
	conn_finish_why(c, CONN_WHY_QUIT);
}

/*
 * Close now; the handler hears of it and memory goes at end of turn.
 * Unless a cause was set first, a handler's drop counts as an error.
 */
void
conn_drop(struct conn *c, const char *reason)
{
	if (c->flags & CONN_CLOSED)
		return;
	conn_set_why(c, CONN_WHY_ERROR, reason, 0);
	c->flags |= CONN_CLOSED;
	c->more->close_reason = reason;	/* conn_set_why made c->more */
	if (c->flags & CONN_DIRTY) {
		TAILQ_REMOVE(&c->cl->dirty, c, more->dirty);
		c->flags &= ~CONN_DIRTY;
	}
	if (event_initialized(&c->ev))
		event_del(&c->ev);
	TAILQ_INSERT_TAIL(&c->cl->dead, c, more->dirty);
	loop_schedule(c->cl->loop);
}

/* Handler-private data. */
void *
conn_get_data(struct conn *c)
{
	return c->more != NULL ? c->more->hdata : NULL;
}

void
conn_set_data(struct conn *c, void *data)
{
	if (c->more != NULL || data != NULL)
		conn_more(c)->hdata = data;
}

/* The state of the handler the connection was accepted for. */
void *
conn_handler_state(struct conn *c)
{
	return c->b->state;
}

/* Still open for output? */
int
conn_is_open(struct conn *c)
{
	return conn_accepts_output(c);
}

/* The configured max_line. */
size_t
conn_max_line(struct conn *c)
{
	return (size_t)c->cl->limits->max_line;
}

/* Its listener's room key. */
const char *
conn_room(struct conn *c)
{
	return c->listener->conf->room;
}

/* --- The connection as an endpoint. --- */

static void
conn_ep_send(void *impl, const void *data, size_t len)
{
	conn_send(impl, data, len);
}

static void
conn_ep_send_line(void *impl, struct shared_line *sl)
{
	shared_line_ref(sl);
	conn_send_line_owned(impl, sl);
}

static void
conn_ep_send_line_owned(void *impl, struct shared_line *sl)
{
	conn_send_line_owned(impl, sl);
}

static void
conn_ep_finish(void *impl)
{
	conn_finish(impl);
}

static void
conn_ep_hold(void *impl)
{
	conn_hold(impl);
}

static const struct endpoint_ops conn_endpoint_ops = {
	.send = conn_ep_send,
	.send_line = conn_ep_send_line,
	.send_line_owned = conn_ep_send_line_owned,
	.finish = conn_ep_finish,
	.hold = conn_ep_hold,
};

/* Made on first use: only handlers that keep participants ask. */
struct endpoint *
conn_endpoint(struct conn *c)
{
	if (conn_more(c)->ep == NULL)
		c->more->ep = endpoint_new(&conn_endpoint_ops, c, c->cl->loop);
	return c->more->ep;
}

/* --- Input. --- */

/* Framer callback: one whole line for the handler. */
static int
conn_frame_line(void *arg, char *line, size_t len)
{
	struct conn *c = arg;

	c->b->handler->input(c, line, len);
	return conn_accepts_output(c) ? 0 : -1;
}

/* Framer callback: a line over max_line. */
static int
conn_frame_too_long(void *arg)
{
	struct conn *c = arg;
	char msg[96];
	int n;

	conn_count_chat_drop(c, SG_CHAT_DROPPED_TOO_LONG);
	n = snprintf(msg, sizeof msg, "*** error: line too long (max %zu "
	    "bytes)\n", conn_max_line(c));
	conn_send(c, msg, (size_t)n);
	return conn_accepts_output(c) ? 0 : -1;
}

/*
 * The client closed its side: a partial line it sent last is its last
 * line (printf hi | nc -N), then what is queued is finished and the
 * connection closed.
 */
static void
conn_peer_closed(struct conn *c)
{
	c->flags |= CONN_PEER_EOF;
	if (c->b->handler->framing == FRAMING_LINES && conn_has_partial(c) &&
	    !(c->flags & CONN_FINISHING)) {
		c->cl->current = c;
		framer_finish(&c->more->framer, conn_max_line(c),
		    &conn_frame_ops, c);
		c->cl->current = NULL;
		if (!conn_accepts_output(c))
			return;		/* the line was /quit, or it failed */
	}
	if (conn_out(c) != NULL && conn_out(c)->count != 0) {
		conn_finish_why(c, CONN_WHY_CLIENT);
		return;
	}
	conn_set_why(c, CONN_WHY_CLIENT, NULL, 0);
	conn_drop(c, NULL);
}

/*
 * How much one read may take: a read's answer can end up queued whole, so
 * never more than output_limit.  A connection then holds at most
 * output_limit of output plus max_line of partial input.
 */
static size_t
conn_read_size(struct conn *c)
{
	uint64_t limit = c->cl->limits->output_limit;

	/*
	 * With workers, each line of a line handler (chat) may become work
	 * queued for other loops before conn_hold can stop the next read:
	 * smaller reads keep that bounded to a few thousand lines.
	 */
	if (sync_threaded() && c->b->handler->framing == FRAMING_LINES &&
	    limit > THREADED_LINE_READ)
		limit = THREADED_LINE_READ;
	return limit < READ_CHUNK ? (size_t)limit : READ_CHUNK;
}

/* The transport needs the socket writable before it can read on. */
static void
conn_read_waits_for_write(struct conn *c)
{
	c->flags |= CONN_READ_WAITS;
	conn_watch(c, EV_WRITE);
}

/* telnet_scan's answer: straight into the output, ahead of any reply. */
static void
conn_telnet_answer(void *arg, const unsigned char *answer)
{
	conn_send(arg, answer, TELNET_ANSWER);
}

/*
 * After a read: what the transport queued while reading (a WebSocket
 * pong or close answer) must go out without waiting for other I/O.  A
 * read waiting for writability comes back here when it gets it.
 */
static void
conn_read_done(struct conn *c)
{
	if (!(c->flags & (CONN_CLOSED | CONN_WRITING | CONN_FINISHING |
	    CONN_READ_WAITS)))
		conn_push_unsent(c);
}

/* Readable: one read into scratch, through framing to the handler. */
static void
conn_read(struct conn *c)
{
	struct conn_loop *cl = c->cl;
	char *buf = cl->loop->scratch;
	ssize_t n;

	n = io_read(conn_io(c), buf, conn_read_size(c));
	if (n == -1) {
		int error = errno;	/* re-arming the event may change it */

		if (error == EAGAIN && conn_io(c)->want == IO_WANT_WRITE)
			conn_read_waits_for_write(c);
		if (error == EAGAIN || error == EINTR) {
			conn_read_done(c);	/* a pong may wait */
			return;
		}
		log_debug("read %s: %s", conn_peer_name(c), strerror(error));
		conn_set_io_error(c, error);
		conn_drop(c, NULL);
		return;
	}
	if (n == 0) {
		conn_peer_closed(c);
		return;
	}
	conn_more(c)->bytes_in += (uint64_t)n;
	conn_count(c, SL_RECEIVED_BYTES, (uint64_t)n);
	if (c->flags & CONN_FINISHING)
		return;		/* no longer listening */
	cl->current = c;
	if (c->b->handler->telnet)
		telnet_scan(&c->more->telnet, buf, (size_t)n,
		    conn_telnet_answer, c);
	if (c->b->handler->framing == FRAMING_BYTES)
		c->b->handler->input(c, buf, (size_t)n);
	else
		framer_feed(&c->more->framer, conn_max_line(c), monotonic_ms(), buf,
		    (size_t)n, &conn_frame_ops, c);
	cl->current = NULL;
	/*
	 * Input the transport already holds will not make the socket
	 * readable again: come back for it in the next round.
	 */
	if (!(c->flags & (CONN_CLOSED | CONN_WRITING | CONN_HELD)) &&
	    conn_io_pending(c) > 0)
		event_active(&c->ev, EV_READ, 0);
	conn_read_done(c);
}

/* The one event of a connection: readable, writable or idle too long. */
static void
conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if (c->flags & CONN_HELD) {
		conn_held(c);
		return;
	}
	if ((what & EV_TIMEOUT) && (c->flags & CONN_HANDSHAKE)) {
		log_info("closing %s on listener %s: handshake timeout",
		    conn_peer_name(c), c->listener->conf->name);
		conn_drop(c, "handshake timeout");
		return;
	}
	if (what & EV_TIMEOUT) {
		log_info("closing %s on listener %s: idle timeout",
		    conn_peer_name(c), c->listener->conf->name);
		conn_set_why(c, CONN_WHY_IDLE, NULL, 0);
		conn_drop(c, "idle timeout");
		return;
	}
	if (c->flags & CONN_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if ((what & EV_WRITE) && (c->flags & CONN_READ_WAITS)) {
		c->flags &= ~CONN_READ_WAITS;
		conn_watch(c, EV_READ);
		conn_read(c);
		/* Output that waited meanwhile: the socket takes it now. */
		if ((c->flags & (CONN_WRITING | CONN_READ_WAITS)) ==
		    CONN_WRITING)
			conn_flush(c);
	} else if (what & EV_WRITE)
		conn_flush(c);
	else if (what & EV_READ) {
		if (c->flags & CONN_WRITING)
			conn_flush(c);	/* the transport's write wanted this */
		else
			conn_read(c);
	}
}

/* Output is stuck: wait for what the transport says it needs. */
static void
conn_wait_to_write(struct conn *c)
{
	short what = conn_io(c)->want == IO_WANT_READ ? EV_READ : EV_WRITE;

	/* Already waiting, but perhaps for the other readiness. */
	if (!(c->flags & CONN_WRITING) || !(event_get_events(&c->ev) & what)) {
		c->flags |= CONN_WRITING;
		conn_watch(c, what);
	}
}

/*
 * A transport may report output taken that it still holds (the tail of a
 * WebSocket frame the socket would not take): push it on, and wait for
 * writability like queued output while some is left.  0: nothing held
 * any more, 1: c waits to write, -1: c was dropped.
 */
static int
conn_push_unsent(struct conn *c)
{
	int error;

	if (c->more == NULL || io_unsent(&c->more->io) == 0)
		return 0;	/* no more: still plain, which holds none */
	if (io_writev(conn_io(c), NULL, 0) == -1 && errno != EAGAIN) {
		error = errno;
		log_debug("write %s: %s", conn_peer_name(c), strerror(error));
		conn_set_io_error(c, error);
		conn_drop(c, NULL);
		return -1;
	}
	if (io_unsent(conn_io(c)) == 0)
		return 0;
	conn_wait_to_write(c);
	return 1;
}

/*
 * Write what is queued.  What the transport will not take waits for
 * writability (reading stops meanwhile); an emptied queue is freed.
 */
static void
conn_flush(struct conn *c)
{
	struct outq *out = conn_out(c);
	ssize_t n;

	if (c->flags & (CONN_CLOSED | CONN_HANDSHAKE))
		return;
	if (out != NULL && out->count != 0) {
		n = outq_write(out, conn_io(c));
		conn_sent(c, n);
		if (n == -1 && errno != EAGAIN) {
			int error = errno;

			log_debug("write %s: %s", conn_peer_name(c),
			    strerror(error));
			conn_set_io_error(c, error);
			conn_drop(c, NULL);
			return;
		}
		if (out->count != 0) {
			conn_wait_to_write(c);
			return;
		}
	}
	if (out != NULL && !outq_worth_keeping(out))
		conn_release_out(c);
	if (conn_push_unsent(c) != 0)
		return;
	if (c->flags & CONN_FINISHING) {
		conn_drop(c, NULL);
		return;
	}
	if (c->flags & CONN_WRITING) {
		c->flags &= ~CONN_WRITING;
		conn_watch_input(c);
	}
}

/*
 * The disconnect line (debug): the reason's name, what more is known,
 * how long, the bytes each way and who it was.
 *   disconnect 127.0.0.1:5555 on listener chat: client (reset) after
 *   12.031s, bytes in 120, out 3400, user alice
 */
static void
conn_log_disconnect(struct conn *c)
{
	static const struct conn_more none = { .why = CONN_WHY_ERROR };
	const struct conn_more *m = c->more != NULL ? c->more : &none;
	char detail[96] = "";
	uint64_t ms = c->more != NULL ? monotonic_ms() - c->more->started_ms :
	    0;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	if (m->detail != NULL)
		snprintf(detail, sizeof detail, " (%s)", m->detail);
	else if (m->error != 0)
		snprintf(detail, sizeof detail, " (%s)", strerror(m->error));
	log_debug("disconnect %s on listener %s: %s%s after %llu.%03llus, "
	    "bytes in %llu, out %llu%s%s", conn_peer_name(c),
	    c->listener->conf->name, conn_why_name(m->why), detail,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    (unsigned long long)m->bytes_in, (unsigned long long)m->bytes_out,
	    m->user != NULL ? ", user " : "", m->user != NULL ? m->user : "");
}

/* Tell the handler, release everything. */
static void
conn_free(struct conn *c)
{
	struct conn_loop *cl = c->cl;

	if (!(c->flags & CONN_HANDSHAKE) && c->b->handler->close != NULL)
		c->b->handler->close(c, c->more->close_reason);
	conn_log_disconnect(c);
	if (c->more->ep != NULL)
		endpoint_detach(c->more->ep);
	TAILQ_REMOVE(&cl->conns, c, entry);
	framer_reset(&c->more->framer);
	outq_free(c->more->out);
	c->more->out = NULL;
	/* Counted before the client can see the close. */
	conn_count(c, SL_ENDED + conn_end_reason(c), 1);
	io_shutdown(&c->more->io);
	io_close(&c->more->io);
	counter_add(&cl->nconns, -1);
	cl->hooks->gone(cl->hooks_arg, c);
	conn_more_free(c);
	free(c);
}

/*
 * End of turn: free the dead (their handlers may queue farewells to
 * others), then flush everyone with queued output.  Flushing can kill
 * more, so go round until both lists are empty.
 */
static void
conn_loop_flush(void *arg)
{
	struct conn_loop *cl = arg;
	struct conn *c;

	for (;;) {
		if ((c = TAILQ_FIRST(&cl->dead)) != NULL) {
			TAILQ_REMOVE(&cl->dead, c, more->dirty);
			conn_free(c);
			continue;
		}
		if ((c = TAILQ_FIRST(&cl->dirty)) != NULL) {
			TAILQ_REMOVE(&cl->dirty, c, more->dirty);
			c->flags &= ~CONN_DIRTY;
			conn_flush(c);
			continue;
		}
		break;
	}
}

/*
 * Once a second: drop partial lines older than line_timeout, so a client
 * dribbling a line (or stalling halfway) cannot hold a buffer forever,
 * and free the empty output queues kept for busy readers: a reader that
 * went quiet holds one for at most a second.
 */
static void
conn_loop_sweep(evutil_socket_t fd, short what, void *arg)
{
	static const char msg[] = "*** error: line timeout\n";
	struct conn_loop *cl = arg;
	struct conn *c;
	uint64_t limit = cl->limits->line_timeout_ms;
	uint64_t now = monotonic_ms();

	(void)fd;
	(void)what;
	TAILQ_FOREACH(c, &cl->conns, entry) {
		/* An empty queue kept for the next turn (conn_flush). */
		if (c->more != NULL && c->more->out != NULL &&
		    c->more->out->count == 0 && !(c->flags & CONN_DIRTY))
			conn_release_out(c);
		if (limit == 0 || !conn_has_partial(c) ||
		    framer_age(&c->more->framer, now) < limit ||
		    !conn_accepts_output(c))
			continue;
		log_info("dropping a partial line from %s on listener %s: "
		    "line timeout", conn_peer_name(c), c->listener->conf->name);
		framer_reset(&c->more->framer);
		conn_count_chat_drop(c, SG_CHAT_DROPPED_LINE_TIMEOUT);
		conn_send(c, msg, sizeof msg - 1);
	}
}

/* Set up a loop's connection set. */
void
conn_loop_init(struct conn_loop *cl, struct loop *loop,
    const struct conn_limits *limits, const struct conn_hooks *hooks,
    void *arg)
{
	static const struct timeval one_second = { 1, 0 };

	memset(cl, 0, sizeof *cl);
	cl->loop = loop;
	cl->limits = limits;
	cl->hooks = hooks;
	cl->hooks_arg = arg;
	TAILQ_INIT(&cl->conns);
	TAILQ_INIT(&cl->dirty);
	TAILQ_INIT(&cl->dead);
	loop_add_hook(loop, conn_loop_flush, cl);
	cl->sweep_ev = event_new(loop->base, -1, EV_PERSIST, conn_loop_sweep,
	    cl);
	event_add(cl->sweep_ev, &one_second);
}

/* Ask every connection to finish (shutdown). */
void
conn_loop_finish_all(struct conn_loop *cl)
{
	struct conn *c;

	TAILQ_FOREACH(c, &cl->conns, entry)
		conn_finish_why(c, CONN_WHY_SHUTDOWN);
}

/* Drop every connection of a listener (removed, or handler changed). */
void
conn_loop_drop_listener(struct conn_loop *cl, struct listener *l,
    const char *why)
{
	struct conn *c;

	TAILQ_FOREACH(c, &cl->conns, entry) {
		if (c->listener != l)
			continue;
		conn_set_why(c, CONN_WHY_RELOAD, why, 0);
		conn_drop(c, why);
	}
}

/* Drop every connection and free the set (every loop held). */
void
conn_loop_free(struct conn_loop *cl)
{
	struct conn *c;

	if (cl->loop == NULL)
		return;		/* never made */
	TAILQ_FOREACH(c, &cl->conns, entry) {
		conn_set_why(c, CONN_WHY_SHUTDOWN, NULL, 0);
		conn_drop(c, "server stopped");
	}
	conn_loop_flush(cl);
	event_free(cl->sweep_ev);
	cl->loop = NULL;
}
