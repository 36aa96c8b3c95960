/*
 * conn.c -- a stream connection (TCP or Unix): reading, framing, output
 * queueing, backpressure, limits, timeouts and teardown.
 *
 * A connection is one small struct with one embedded event and no buffers
 * until data has to wait: reads go into the loop's scratch buffer, lines
 * are cut from it in place, and output is written at once when the
 * connection answers itself, or queued and sent in one batch per loop turn
 * when it comes from elsewhere (a broadcast).  Only output the kernel will
 * not take yet is kept, in an output queue (outq.c) freed once it drains.
 *
 * Backpressure: while output waits, the connection is not read (the one
 * event watches for writability instead), so a client that never reads is
 * slowed by TCP flow control and costs at most one read of memory.  Output
 * queued from elsewhere is not slowed this way: past output_limit the
 * connection is dropped as too slow.
 *
 * Teardown is deferred: conn_drop only marks the connection and queues it;
 * the handler hears of it and the memory is freed at the end of the turn,
 * so no callback ever frees a connection that a caller up the stack (a
 * broadcast loop, say) still holds.
 *
 * With workers, a connection belongs to one loop and only that loop's
 * thread touches it; conn_accept (main thread) counts it against the
 * process-wide limits and hands it over (worker.c).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "echochat.h"

static void	conn_event(evutil_socket_t, short, void *);
static void	conn_flush(struct conn *);
static void	loop_schedule(struct loop *);
static int	conn_frame_line(void *, char *, size_t);
static int	conn_frame_too_long(void *);

static const struct frame_ops conn_frame_ops = {
	.line = conn_frame_line,
	.too_long = conn_frame_too_long,
};

/* The idle timeout for this connection's listener, or 0. */
static uint64_t
conn_idle_ms(struct conn *c)
{
	if (c->listener->conf->has_idle_timeout)
		return c->listener->conf->idle_timeout_ms;
	return c->loop->server->config->idle_timeout_ms;
}

/* Watch for EV_READ or EV_WRITE (never both: see the top of the file). */
static void
conn_watch_for(struct conn *c, short what, uint64_t ms)
{
	struct timeval tv, *tvp = NULL;

	if (event_initialized(&c->ev))
		event_del(&c->ev);
	event_assign(&c->ev, c->loop->base, c->fd, what | EV_PERSIST,
	    conn_event, c);
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

/* The most one read of a line handler's connection takes with workers. */
#define THREADED_LINE_READ	(8 * 1024)

/* How often a held connection checks whether it may read again. */
#define HOLD_MS	1

/* Stop reading c for now: other loops are behind on what it caused. */
void
conn_hold(struct conn *c)
{
	if (c->flags & (CONN_HELD | CONN_WRITING | CONN_CLOSED))
		return;		/* a writing connection is not read anyway */
	conn_watch_for(c, 0, HOLD_MS);
	c->flags |= CONN_HELD;
}

/* A held connection's timer: read again once the others caught up. */
static void
conn_held(struct conn *c)
{
	if (loops_behind(c->loop))
		return;		/* the persistent timer comes back */
	conn_watch(c, EV_READ);
}

/* Remember the peer compactly: for limits and for logs. */
static void
conn_set_peer(struct conn *c, const struct sockaddr *sa)
{
	c->peer_family = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(c->peer_addr, &sin->sin_addr, 4);
		c->peer_port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		memcpy(c->peer_addr, &sin6->sin6_addr, 16);
		c->peer_port = ntohs(sin6->sin6_port);
	}
}

/* "127.0.0.1:5555", "[::1]:5555" or "unix"; valid until the next call. */
const char *
conn_peer_name(struct conn *c)
{
	static _Thread_local char buf[INET6_ADDRSTRLEN + 16];
	char host[INET6_ADDRSTRLEN];

	switch (c->peer_family) {
	case AF_INET:
		inet_ntop(AF_INET, c->peer_addr, host, sizeof host);
		snprintf(buf, sizeof buf, "%s:%u", host, c->peer_port);
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, c->peer_addr, host, sizeof host);
		snprintf(buf, sizeof buf, "[%s]:%u", host, c->peer_port);
		break;
	default:
		snprintf(buf, sizeof buf, "unix");
		break;
	}
	return buf;
}

/* Turn a client away with one line, before it becomes a connection. */
static void
conn_refuse(struct listener *l, int fd, const char *who, const char *why)
{
	char line[128];
	int n;

	n = snprintf(line, sizeof line, "*** error: %s\n", why);
	/* Best effort: a fresh socket's buffer always has room for a line. */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug("refusal to %s not sent: %s", who, strerror(errno));
	shutdown(fd, SHUT_WR);
	close(fd);
	log_info("refused %s on listener %s: %s", who, l->conf->name, why);
}

/*
 * The loop a new connection goes to: the one with the fewest, starting
 * the search one further each time so that ties are spread.  Connections
 * still on their way to a loop are counted already.
 */
static struct loop *
conn_pick_loop(struct server *s)
{
	unsigned int i, k, best, n = s->nloops;

	if (n == 1)
		return &s->loops[0];
	best = s->next_loop++ % n;
	for (k = 1; k < n; k++) {
		i = (best + k) % n;
		if (counter_get(&s->loops[i].nconns) <
		    counter_get(&s->loops[best].nconns))
			best = i;
	}
	return &s->loops[best];
}

/* Give back what an accepted connection was counted against. */
static void
conn_uncount(struct conn *c)
{
	struct server *s = c->loop->server;

	counter_add(&c->loop->nconns, -1);
	server_ip_release(s, c);
	listener_release(c->listener);
	server_conn_gone(s);
}

/*
 * On the connection's own loop: start watching it, send the banner and
 * let the handler greet it.  A connection that arrives after a shutdown
 * began, or whose listener a reload removed meanwhile, is closed.
 */
static void
conn_start(struct conn *c)
{
	struct loop *loop = c->loop;
	struct listener *l = c->listener;

	if (loop->server->stopping || l->retired) {
		close(c->fd);
		conn_uncount(c);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&loop->conns, c, entry);
	conn_watch(c, EV_READ);
	if (loop->server->nloops > 1)
		log_debug("connect %s on listener %s (loop %u)",
		    conn_peer_name(c), l->conf->name, loop->index);
	else
		log_debug("connect %s on listener %s", conn_peer_name(c),
		    l->conf->name);
	if (l->conf->banner != NULL) {
		conn_send(c, l->conf->banner, strlen(l->conf->banner));
		conn_send(c, "\n", 1);
	}
	if (c->handler->open != NULL && c->handler->open(c) == -1)
		conn_drop(c, "refused by handler");
}

/* Posted to a worker by conn_accept. */
static void
conn_start_call(void *a, void *b, void *unused)
{
	(void)b;
	(void)unused;
	conn_start(a);
}

/*
 * A new stream connection from a listener (main thread): check the
 * process-wide limits, count it, and hand it to a loop.
 */
void
conn_accept(struct listener *l, int fd, struct sockaddr *sa, socklen_t len)
{
	struct server *s = l->server;
	struct conn *c;
	int one = 1;
	char *who;

	if (s->stopping) {
		close(fd);
		return;
	}
	if (counter_get(&s->nconns) >= s->config->max_clients) {
		who = format_address(sa, len);
		conn_refuse(l, fd, who, "server full");
		free(who);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->listener = l;
	c->handler = l->handler;
	c->fd = fd;
	conn_set_peer(c, sa);
	if (server_ip_acquire(s, c) == -1) {
		who = format_address(sa, len);
		conn_refuse(l, fd, who, "too many connections from your "
		    "address");
		free(who);
		free(c);
		return;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	counter_add(&s->nconns, 1);
	counter_add(&l->nconns, 1);
	c->loop = conn_pick_loop(s);
	counter_add(&c->loop->nconns, 1);
	if (loop_is_here(c->loop))
		conn_start(c);
	else
		loop_post(c->loop, conn_start_call, c, NULL, NULL);
}

/* Queue c for the end-of-turn flush. */
static void
conn_mark_dirty(struct conn *c)
{
	if (c->flags & CONN_DIRTY)
		return;
	c->flags |= CONN_DIRTY;
	TAILQ_INSERT_TAIL(&c->loop->dirty, c, dirty);
	loop_schedule(c->loop);
}

/* Past output_limit a connection is too slow to keep. */
static int
conn_over_limit(struct conn *c)
{
	if (c->out->cost <= c->loop->server->config->output_limit)
		return 0;
	log_info("dropping %s on listener %s: output limit (%llu bytes) "
	    "exceeded", conn_peer_name(c), c->listener->conf->name,
	    (unsigned long long)c->loop->server->config->output_limit);
	conn_drop(c, "too slow");
	return 1;
}

/* Can c take output at all? */
static int
conn_accepts_output(struct conn *c)
{
	return !(c->flags & (CONN_CLOSED | CONN_FINISHING));
}

/*
 * Queue bytes (copied).  A connection answering itself, with nothing
 * queued, writes at once: that keeps an echo to one read and one write.
 */
void
conn_send(struct conn *c, const void *data, size_t len)
{
	ssize_t n = 0;

	if (!conn_accepts_output(c) || len == 0)
		return;
	if (c == c->loop->current && !(c->flags & CONN_WRITING) &&
	    (c->out == NULL || c->out->count == 0)) {
		n = write(c->fd, data, len);
		if (n == (ssize_t)len)
			return;
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			conn_drop(c, NULL);
			return;
		}
		if (n == -1)
			n = 0;
	}
	if (c->out == NULL)
		c->out = outq_new();
	outq_push(c->out, shared_line_new((const char *)data + n,
	    len - (size_t)n));
	/*
	 * A connection's answers to itself are bounded by backpressure (it
	 * is not read again until they are sent); only output pushed from
	 * elsewhere can outgrow the limit.
	 */
	if (c == c->loop->current || !conn_over_limit(c))
		conn_mark_dirty(c);
}

/* Queue a shared line without copying it. */
void
conn_send_shared(struct conn *c, struct shared_line *sl)
{
	if (!conn_accepts_output(c) || sl->len == 0)
		return;
	if (c->out == NULL)
		c->out = outq_new();
	shared_line_ref(sl);
	outq_push(c->out, sl);
	if (!conn_over_limit(c))
		conn_mark_dirty(c);
}

/* Send what is queued, then close. */
void
conn_finish(struct conn *c)
{
	if (c->flags & (CONN_CLOSED | CONN_FINISHING))
		return;
	c->flags |= CONN_FINISHING;
	framer_reset(&c->framer);
	conn_mark_dirty(c);
}

/* Close now; the handler hears of it and memory goes at end of turn. */
void
conn_drop(struct conn *c, const char *reason)
{
	if (c->flags & CONN_CLOSED)
		return;
	c->flags |= CONN_CLOSED;
	c->close_reason = reason;
	if (c->flags & CONN_DIRTY) {
		TAILQ_REMOVE(&c->loop->dirty, c, dirty);
		c->flags &= ~CONN_DIRTY;
	}
	event_del(&c->ev);
	TAILQ_INSERT_TAIL(&c->loop->dead, c, dirty);
	loop_schedule(c->loop);
}

/* Handler-private data. */
void *
conn_get_data(struct conn *c)
{
	return c->hdata;
}

void
conn_set_data(struct conn *c, void *data)
{
	c->hdata = data;
}

/*
 * The handler's process-wide state.  Looked up by the connection's own
 * handler: a reload may have given its listener another one.
 */
void *
conn_handler_state(struct conn *c)
{
	return c->loop->server->hstates[handler_index(c->handler)];
}

/* The loop a connection lives on. */
struct loop *
conn_loop(struct conn *c)
{
	return c->loop;
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
	return (size_t)c->loop->server->config->max_line;
}

/* Framer callback: one whole line for the handler. */
static int
conn_frame_line(void *arg, char *line, size_t len)
{
	struct conn *c = arg;

	c->handler->input(c, line, len);
	return conn_accepts_output(c) ? 0 : -1;
}

/* Framer callback: a line over max_line. */
static int
conn_frame_too_long(void *arg)
{
	struct conn *c = arg;
	char msg[96];
	int n;

	n = snprintf(msg, sizeof msg, "*** error: line too long (max %zu "
	    "bytes)\n", conn_max_line(c));
	conn_send(c, msg, (size_t)n);
	return conn_accepts_output(c) ? 0 : -1;
}

/* The client closed its side: finish what is queued, then close. */
static void
conn_peer_closed(struct conn *c)
{
	c->flags |= CONN_PEER_EOF;
	if (c->out != NULL && c->out->count != 0) {
		conn_finish(c);
		return;
	}
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
	uint64_t limit = c->loop->server->config->output_limit;

	/*
	 * With workers, each line of a line handler (chat) may become work
	 * queued for other loops before conn_hold can stop the next read:
	 * smaller reads keep that bounded to a few thousand lines.
	 */
	if (server_threaded() && c->handler->framing == FRAMING_LINES &&
	    limit > THREADED_LINE_READ)
		limit = THREADED_LINE_READ;
	return limit < READ_CHUNK ? (size_t)limit : READ_CHUNK;
}

/* Readable: one read into scratch, through framing to the handler. */
static void
conn_read(struct conn *c)
{
	struct loop *loop = c->loop;
	ssize_t n;

	n = read(c->fd, loop->scratch, conn_read_size(c));
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("read %s: %s", conn_peer_name(c), strerror(errno));
		conn_drop(c, NULL);
		return;
	}
	if (n == 0) {
		conn_peer_closed(c);
		return;
	}
	if (c->flags & CONN_FINISHING)
		return;		/* no longer listening */
	loop->current = c;
	if (c->handler->framing == FRAMING_BYTES)
		c->handler->input(c, loop->scratch, (size_t)n);
	else
		framer_feed(&c->framer, conn_max_line(c), monotonic_ms(),
		    loop->scratch, (size_t)n, &conn_frame_ops, c);
	loop->current = NULL;
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
	if (what & EV_TIMEOUT) {
		log_info("closing %s on listener %s: idle timeout",
		    conn_peer_name(c), c->listener->conf->name);
		conn_drop(c, "idle timeout");
		return;
	}
	if (what & EV_WRITE)
		conn_flush(c);
	else if (what & EV_READ)
		conn_read(c);
}

/*
 * Write what is queued.  What the kernel will not take waits for EV_WRITE
 * (reading stops meanwhile); an emptied queue is freed.
 */
static void
conn_flush(struct conn *c)
{
	ssize_t n;

	if (c->flags & CONN_CLOSED)
		return;
	if (c->out != NULL && c->out->count != 0) {
		n = outq_write(c->out, c->fd);
		if (n == -1 && errno != EAGAIN) {
			log_debug("write %s: %s", conn_peer_name(c),
			    strerror(errno));
			conn_drop(c, NULL);
			return;
		}
		if (c->out->count != 0) {
			if (!(c->flags & CONN_WRITING)) {
				c->flags |= CONN_WRITING;
				conn_watch(c, EV_WRITE);
			}
			return;
		}
	}
	if (c->out != NULL) {
		outq_free(c->out);
		c->out = NULL;
	}
	if (c->flags & CONN_FINISHING) {
		conn_drop(c, NULL);
		return;
	}
	if (c->flags & CONN_WRITING) {
		c->flags &= ~CONN_WRITING;
		conn_watch(c, EV_READ);
	}
}

/*
 * Close the socket after a last flush.  Reading what the client had sent
 * before closing keeps the kernel from answering with a reset that could
 * destroy our last line in flight.
 */
static void
conn_close_socket(struct conn *c)
{
	char sink[4096];
	int i;

	shutdown(c->fd, SHUT_WR);
	for (i = 0; i < 16 && read(c->fd, sink, sizeof sink) > 0; i++)
		continue;
	close(c->fd);
}

/* Tell the handler, release everything. */
static void
conn_free(struct conn *c)
{
	struct loop *loop = c->loop;

	if (c->handler->close != NULL)
		c->handler->close(c, c->close_reason);
	log_debug("disconnect %s on listener %s%s%s", conn_peer_name(c),
	    c->listener->conf->name, c->close_reason ? ": " : "",
	    c->close_reason ? c->close_reason : "");
	TAILQ_REMOVE(&loop->conns, c, entry);
	framer_reset(&c->framer);
	outq_free(c->out);
	conn_close_socket(c);
	conn_uncount(c);
	free(c);
}

/*
 * End of turn: free the dead (their handlers may queue farewells to
 * others), then flush everyone with queued output.  Flushing can kill
 * more, so go round until both lists are empty.
 */
static void
loop_flush(evutil_socket_t fd, short what, void *arg)
{
	struct loop *loop = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	for (;;) {
		if ((c = TAILQ_FIRST(&loop->dead)) != NULL) {
			TAILQ_REMOVE(&loop->dead, c, dirty);
			conn_free(c);
			continue;
		}
		if ((c = TAILQ_FIRST(&loop->dirty)) != NULL) {
			TAILQ_REMOVE(&loop->dirty, c, dirty);
			c->flags &= ~CONN_DIRTY;
			conn_flush(c);
			continue;
		}
		break;
	}
}

/*
 * Make sure loop_flush runs at the end of this turn: activating the event
 * again while it is already active does nothing.
 */
static void
loop_schedule(struct loop *loop)
{
	event_active(loop->flush_ev, EV_TIMEOUT, 0);
}

/* Milliseconds on a cheap monotonic clock. */
uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Once a second: drop partial lines older than line_timeout, so a client
 * dribbling a line (or stalling halfway) cannot hold a buffer forever.
 */
static void
loop_sweep(evutil_socket_t fd, short what, void *arg)
{
	static const char msg[] = "*** error: line timeout\n";
	struct loop *loop = arg;
	struct conn *c;
	uint64_t limit = loop->server->config->line_timeout_ms;
	uint64_t now = monotonic_ms();

	(void)fd;
	(void)what;
	if (limit == 0)
		return;
	TAILQ_FOREACH(c, &loop->conns, entry) {
		if (c->framer.in == NULL || now - c->framer.started < limit ||
		    !conn_accepts_output(c))
			continue;
		log_info("dropping a partial line from %s on listener %s: "
		    "line timeout", conn_peer_name(c), c->listener->conf->name);
		framer_reset(&c->framer);
		conn_send(c, msg, sizeof msg - 1);
	}
}

/* Ask every connection to finish (shutdown). */
void
conn_finish_all(struct loop *loop)
{
	struct conn *c;

	TAILQ_FOREACH(c, &loop->conns, entry)
		conn_finish(c);
}

/* Set up per-loop state on a base. */
void
loop_init(struct loop *loop, struct server *s, unsigned int index,
    struct event_base *base)
{
	static const struct timeval one_second = { 1, 0 };

	memset(loop, 0, sizeof *loop);
	loop->server = s;
	loop->index = index;
	loop->wake_fd = -1;
	loop->base = base;
	TAILQ_INIT(&loop->conns);
	TAILQ_INIT(&loop->dirty);
	TAILQ_INIT(&loop->dead);
	loop->scratch = xmalloc(READ_CHUNK + 1);
	loop->flush_ev = event_new(base, -1, 0, loop_flush, loop);
	loop->sweep_ev = event_new(base, -1, EV_PERSIST, loop_sweep, loop);
	event_add(loop->sweep_ev, &one_second);
}

/* Drop every connection and free per-loop state. */
void
loop_free(struct loop *loop)
{
	struct conn *c;

	if (loop->base == NULL)
		return;		/* never made */
	TAILQ_FOREACH(c, &loop->conns, entry)
		conn_drop(c, "server stopped");
	loop_flush(-1, 0, loop);
	event_free(loop->flush_ev);
	event_free(loop->sweep_ev);
	free(loop->scratch);
}

/* A new shared line holding a copy of data, one reference. */
struct shared_line *
shared_line_new(const char *data, size_t len)
{
	struct shared_line *sl = xmalloc(sizeof *sl + len);

	atomic_init(&sl->refs, 1);
	sl->tag = 0;
	sl->len = len;
	memcpy(sl->data, data, len);
	return sl;
}

/* A new shared line from a format, one reference. */
struct shared_line *
shared_line_printf(const char *fmt, ...)
{
	struct shared_line *sl;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sl = xmalloc(sizeof *sl + (size_t)n + 1);
	atomic_init(&sl->refs, 1);
	sl->tag = 0;
	sl->len = (size_t)n;
	va_start(ap, fmt);
	vsnprintf(sl->data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return sl;
}

/* Take one more reference. */
void
shared_line_ref(struct shared_line *sl)
{
	counter_add(&sl->refs, 1);
}

/* Drop a reference; the last one frees, on whichever thread that is. */
void
shared_line_unref(struct shared_line *sl)
{
	if (counter_add(&sl->refs, -1) == 0)
		free(sl);
}
