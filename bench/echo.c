/*
 * echo.c -- echo and upper modes: C connections keep P pipelined lines in
 * flight; every reply is checked byte for byte (upper: against the line
 * with a-z uppercased) and its round-trip time goes into a histogram.
 * Every connection has had one answer before the clock starts.
 *
 * --tls: the same loop over TLS (tls.c).  The handshake is made by the
 * first line's write while priming, so it is done before the clock starts
 * and is not in the figures.  A TLS read or write may want the other
 * direction (the handshake, a key update): a write that wants to read
 * waits for EPOLLIN, which is always on; a read that wants to write arms
 * EPOLLOUT and is tried again when the socket is writable.  Decrypted
 * bytes may wait inside OpenSSL with nothing left on the socket, so a TLS
 * read goes on until OpenSSL itself wants more.  The plain path is the
 * one it was: a test of c->tls per call.
 *
 * --ws: the same loop over WebSocket (ws.c): each connection upgrades
 * before its first line, each line goes out as a frame and the frames
 * that come back are turned into the line stream that is checked.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define PRIME_TIMEOUT_NS (15 * NS_PER_S)
/* echo/upper: connections opened and primed at a time, below any listen
 * backlog (socat's default is 5). */
#define PRIME_BATCH 4

struct econn {
	int fd, want_out, bad;
	int read_wants_out; /* TLS: a read is waiting for a writable socket */
	/* NULL for plain TCP; owned, freed by echo_drop */
	struct tls_conn *tls;
	struct ws_rx rx; /* --ws: the frames coming back */
	uint32_t id;
	uint64_t next_send; /* seq of the next line to queue */
	uint64_t next_recv; /* seq of the reply being received */
	size_t roff;	    /* bytes of that reply verified so far */
	char *wbuf, *expect;
	size_t wlen, woff;
	uint64_t *sent_ns; /* send time of each line in flight, by seq % P */
};

struct echo_run {
	const struct opts *o;
	struct gen g;
	struct econn *c;
	int n, ep, alive, primed;
	int first_bad;	/* connections whose first reply was wrong */
	/* lines in flight per connection: 1 while priming, then P */
	uint64_t window;
	size_t wcap;
	uint64_t t_start, t_end;
	struct hist h;
	uint64_t count, mismatches, closed, unsolicited;
	/* the server's (--cpu-pgid) and the tool's CPU time in the window */
	struct cpuwin cpu;
	char tls_desc[80]; /* protocol and cipher, from the first handshake */
};

/* upper: the reply expected is the line with a-z uppercased; lines hold
 * only a-z and 0-9 (gen_line), so nothing else changes. */
static void
upcase(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] = (char)(p[i] - 'a' + 'A');
}

static void
echo_expect(struct echo_run *r, struct econn *c)
{
	gen_line(&r->g, c->id, c->next_recv, c->expect);
	if (r->o->mode == M_UPPER)
		upcase(c->expect, r->g.size);
}

/* Queue new lines while the window (P in flight) and the buffer allow.
 * The send time is taken when a line is queued, so time spent waiting for
 * a writable socket counts as latency, as a real client would see it. */
static void
echo_fill(struct echo_run *r, struct econn *c, uint64_t now)
{
	size_t S = r->g.size;
	uint64_t P = (uint64_t)r->o->inflight;
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	size_t room = r->o->ws ? S + WS_HEADER_MAX : S;
	if (r->wcap - c->wlen < room && c->woff > 0) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	while (
	    c->next_send < c->next_recv + r->window &&
	    r->wcap - c->wlen >= room) {
		size_t h = r->o->ws ? ws_frame_header(c->wbuf + c->wlen, S - 1)
				    : 0;
		gen_line(&r->g, c->id, c->next_send, c->wbuf + c->wlen + h);
		c->sent_ns[c->next_send % P] = now;
		c->next_send++;
		c->wlen += r->o->ws ? h + S - 1 : S; /* the frame ends the line */
	}
}

/* EPOLLOUT is wanted while a write is blocked or a TLS read waits for a
 * writable socket; epoll is told only when that changes. */
static void
echo_want_out(struct echo_run *r, struct econn *c, int out)
{
	if (out == c->want_out)
		return;
	c->want_out = out;
	ep_mod(r->ep, c->fd, out ? EPOLLIN | EPOLLOUT : EPOLLIN, c->id);
}

/* One write of the queued bytes: > 0 bytes taken, 0 to wait for EPOLLOUT,
 * TLS_WANT_READ to wait for EPOLLIN, -1 if the connection died. */
static ssize_t
echo_write(struct econn *c)
{
	if (c->tls) {
		long k =
		    tls_write(c->tls, c->wbuf + c->woff, c->wlen - c->woff);
		return k > 0 || k == TLS_WANT_READ ? k
		       : k == TLS_WANT_WRITE	   ? 0
						   : -1;
	}
	for (;;) {
		ssize_t k = send(
		    c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (k > 0)
			return k;
		if (k < 0 && would_block())
			return 0;
		if (!(k < 0 && errno == EINTR))
			return -1;
	}
}

/* Write as much as the socket takes; returns -1 if the connection died. */
static int
echo_pump(struct echo_run *r, struct econn *c)
{
	uint64_t now = now_ns();
	int blocked = 0;
	if (now >= r->t_end)
		return 0;
	for (;;) {
		echo_fill(r, c, now);
		if (c->woff == c->wlen)
			break;
		ssize_t k = echo_write(c);
		if (k > 0) {
			c->woff += (size_t)k;
			continue;
		}
		if (k < 0 && k != TLS_WANT_READ)
			return -1;
		blocked = k == 0;
		break;
	}
	echo_want_out(r, c, blocked || c->read_wants_out);
	return 0;
}

static void
echo_complete(struct echo_run *r, struct econn *c, uint64_t now)
{
	uint64_t sent = c->sent_ns[c->next_recv % (uint64_t)r->o->inflight];
	if (in_window(now, r->t_start, r->t_end)) {
		r->count++;
		hist_add(&r->h, now - sent);
	}
	if (c->bad)
		r->mismatches++;
	if (c->next_recv == 0) {
		r->primed++;
		if (c->bad)
			r->first_bad++;
	}
	c->bad = 0;
	c->roff = 0;
	c->next_recv++;
	echo_expect(r, c);
}

/* Verify received bytes against the expected reply stream.  On a mismatch
 * the rest of that line is skipped up to its '\n' so one bad line is one
 * error and the stream stays in step. */
static void
echo_consume(
    struct echo_run *r, struct econn *c, const char *p, size_t n, uint64_t now)
{
	size_t S = r->g.size;
	while (n > 0) {
		if (c->next_recv >= c->next_send) {
			r->unsolicited++; /* bytes nobody asked for */
			return;
		}
		if (c->bad) {
			const char *nl = memchr(p, '\n', n);
			if (!nl)
				return;
			n -= (size_t)(nl - p) + 1;
			p = nl + 1;
			echo_complete(r, c, now);
			continue;
		}
		size_t m = S - c->roff < n ? S - c->roff : n;
		size_t k = 0;
		while (k < m && p[k] == c->expect[c->roff + k])
			k++;
		c->roff += k, p += k, n -= k;
		if (k < m)
			c->bad = 1;
		else if (c->roff == S)
			echo_complete(r, c, now);
	}
}

struct ws_sink {
	struct echo_run *r;
	struct econn *c;
	uint64_t now;
};

static void
echo_ws_sink(void *arg, const char *p, size_t n)
{
	struct ws_sink *k = arg;
	echo_consume(k->r, k->c, p, n, k->now);
}

static void
echo_drop(struct echo_run *r, struct econn *c)
{
	if (c->tls) {
		tls_free(c->tls);
		c->tls = NULL;
	}
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	r->alive--;
	if (now_ns() < r->t_end)
		r->closed++;
}

/* TLS: read until OpenSSL wants more from the socket (or to write first);
 * returns -1 if the connection ended. */
static int
echo_tls_read(struct echo_run *r, struct econn *c)
{
	c->read_wants_out = 0;
	for (;;) {
		long k = tls_read(c->tls, rbuf, sizeof rbuf);
		if (k > 0) {
			echo_consume(r, c, rbuf, (size_t)k, now_ns());
			continue;
		}
		if (k == TLS_WANT_READ)
			return 0;
		if (k == TLS_WANT_WRITE) {
			c->read_wants_out = 1;
			return 0;
		}
		return -1;
	}
}

static void
echo_event(struct echo_run *r, struct econn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (c->tls) {
		if (((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
			c->read_wants_out) &&
		    echo_tls_read(r, c) < 0) {
			echo_drop(r, c);
			return;
		}
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t k = recv(c->fd, rbuf, sizeof rbuf, 0);
		if (k == 0 || (k < 0 && !would_block() && errno != EINTR)) {
			echo_drop(r, c);
			return;
		}
		if (k > 0 && r->o->ws) {
			struct ws_sink sk = {r, c, now_ns()};
			ws_rx_feed(&c->rx, rbuf, (size_t)k, echo_ws_sink, &sk);
		} else if (k > 0)
			echo_consume(r, c, rbuf, (size_t)k, now_ns());
	}
	if (echo_pump(r, c) < 0)
		echo_drop(r, c);
}

/* Connections are opened later, by echo_prime. */
static void
echo_setup(struct echo_run *r, const struct opts *o)
{
	size_t S = (size_t)o->size, P = (size_t)o->inflight;
	size_t lines = 65536 / S ? 65536 / S : 1;
	r->o = o;
	r->n = r->alive = o->conns;
	r->wcap = (o->ws ? S + WS_HEADER_MAX : S) * (lines < P ? lines : P);
	gen_init(&r->g, S);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->c = xcalloc((size_t)r->n, sizeof *r->c);
	for (int i = 0; i < r->n; i++) {
		struct econn *c = &r->c[i];
		c->fd = -1;
		c->id = (uint32_t)i;
		c->wbuf = xcalloc(r->wcap, 1);
		c->expect = xcalloc(S, 1);
		c->sent_ns = xcalloc(P, sizeof *c->sent_ns);
		c->rx.hneed = 2;
		echo_expect(r, c);
	}
}

static void
echo_poll(struct echo_run *r, int cap_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int k = epoll_wait(r->ep, evs, MAX_EVENTS, cap_ms);
	for (int j = 0; j < k; j++)
		echo_event(r, &r->c[evs[j].data.u32], evs[j].events);
}

/* Open the connections PRIME_BATCH at a time, each sending one line, and
 * wait for every answer before the next batch and before the clock
 * starts: every connection is then known to be served, and set-up (a
 * fork per connection for socat and ncat --exec) is not service time.
 * Small batches also keep a short listen backlog from overflowing where
 * connect_all cannot see the accept queue. */
static void
echo_prime(struct echo_run *r, const struct target *t)
{
	uint64_t now = now_ns(), deadline = now + PRIME_TIMEOUT_NS;
	int fds[PRIME_BATCH];
	r->window = 1;
	r->t_start = r->t_end = UINT64_MAX;
	for (int off = 0; off < r->n && now_ns() < deadline;
	     off += PRIME_BATCH) {
		int m = r->n - off < PRIME_BATCH ? r->n - off : PRIME_BATCH;
		struct conn_report cr;
		connect_all(t, m, fds, &cr, deadline, NULL, NULL);
		if (cr.ok != m)
			fail2("could not connect to %s: %d of %d connections "
			      "failed (%s)",
			    t->desc, r->n - off - cr.ok, r->n, cr.why);
		for (int j = 0; j < m; j++) {
			struct econn *c = &r->c[off + j];
			int one = 1;
			c->fd = fds[j];
			if (t->family != AF_UNIX)
				setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY,
				    &one, sizeof one);
			char why[120];
			if (r->o->ws && ws_upgrade(c->fd, why, sizeof why) < 0)
				fail2("%s: WebSocket: %s (a listener with "
				      "websocket = yes?)",
				    t->desc, why);
			ep_add(r->ep, c->fd, EPOLLIN, c->id);
			if (r->o->tls)
				c->tls = tls_open(c->fd);
			if (echo_pump(r, c) < 0)
				echo_drop(r, c);
		}
		while (r->primed < off + m && r->closed == 0 && !bench_stop &&
		       (now = now_ns()) < deadline)
			echo_poll(r, ms_until(now, deadline, 100));
		if (bench_stop)
			fail2("interrupted before the measurement began");
	}
	/* By first replies: a slow server may have sent more by now. */
	if (r->primed > 0 && r->first_bad == r->primed)
		fail2("every first reply from %s differed from what %s answers: "
		      "wrong port? (echochatd listens for echo on 7007, upper "
		      "on 7008, chat on 7009)",
		    t->desc, mode_names[r->o->mode]);
	if (r->primed < r->n)
		fail2("only %d of %d connections were opened and answered "
		      "their first line within %d s (%" PRIu64
		      " closed by the server%s%s)",
		    r->primed, r->n, (int)(PRIME_TIMEOUT_NS / NS_PER_S),
		    r->closed, tls_first_error() ? "; TLS " : "",
		    tls_first_error() ? tls_first_error()
		    : r->o->tls	      ? "; not a TLS port?"
		    : r->closed	      ? "; a TLS port? try --tls"
				      : "");
	for (int i = 0; i < r->n && r->o->tls && !r->tls_desc[0]; i++)
		if (r->c[i].tls)
			tls_describe(
			    r->c[i].tls, r->tls_desc, sizeof r->tls_desc);
	r->window = (uint64_t)r->o->inflight;
}

static void
echo_loop(struct echo_run *r, const struct target *t)
{
	struct progress pg;
	uint64_t now;
	echo_prime(r, t);
	progress_init(&pg, "lines");
	now = now_ns();
	r->t_start = now + (uint64_t)r->o->warmup * NS_PER_S;
	r->t_end = r->t_start + (uint64_t)r->o->seconds * NS_PER_S;
	for (int i = 0; i < r->n; i++)
		if (r->c[i].fd >= 0 && echo_pump(r, &r->c[i]) < 0)
			echo_drop(r, &r->c[i]);
	while ((now = now_ns()) < r->t_end && r->alive > 0 && !bench_stop) {
		uint64_t next = now < r->t_start ? r->t_start : r->t_end;
		if (now >= r->t_start)
			cpuwin_start(&r->cpu, r->o);
		progress_tick(&pg, now, r->t_start, r->count);
		echo_poll(r, ms_until(now, next, 1000));
	}
	cpuwin_end(&r->cpu, r->o);
	if (bench_stop)
		stop_window(&r->t_start, &r->t_end);
}

static int
echo_report(const struct echo_run *r, const struct target *t)
{
	const struct opts *o = r->o;
	uint64_t errors = r->mismatches + r->closed + r->unsolicited;
	double secs = measured_s(r->t_start, r->t_end);
	double rate = secs > 0 ? (double)r->count / secs : 0.0;
	(void)t;
	printf("  connections:   %d, %d lines of %d bytes in flight each\n",
	    o->conns, o->inflight, o->size);
	if (o->tls)
		printf("  tls:           %s (certificate not verified), "
		       "handshakes before the clock\n",
		    r->tls_desc);
	if (o->ws)
		printf("  websocket:     one text frame per line, upgrades "
		       "before the clock\n");
	printf("  time:          %d s warm-up, %.1f s measured\n", o->warmup,
	    secs);
	print_interrupted(secs);
	printf("  round trips:   %" PRIu64
	       " (%.1f lines/s, %.1f MB/s each way)\n",
	    r->count, rate, rate * o->size / 1e6);
	print_latency("latency (us):", &r->h);
	cpuwin_print(&r->cpu, o, secs, r->count, "round trip");
	printf("  errors:        %" PRIu64 " (mismatched lines %" PRIu64
	       ", connections closed %" PRIu64 ", unsolicited data %" PRIu64
	       ")\n",
	    errors, r->mismatches, r->closed, r->unsolicited);
	if (r->alive == 0)
		printf("  note:          every connection was closed; the run "
		       "ended early\n");
	if (r->count == 0)
		printf("  note:          no round trip completed in the "
		       "measured window\n");
	printf(
	    "RESULT mode=%s conns=%d inflight=%d size=%d seconds=%d rate=%.1f",
	    mode_names[o->mode], o->conns, o->inflight, o->size, o->seconds,
	    rate);
	if (o->tls)
		printf(" tls=1");
	if (o->ws)
		printf(" ws=1");
	result_latency(&r->h);
	printf(" errors=%" PRIu64 " mismatches=%" PRIu64 " closed=%" PRIu64
	       " count=%" PRIu64,
	    errors, r->mismatches, r->closed, r->count);
	cpuwin_result(&r->cpu, o, secs, r->count);
	printf("\n");
	return errors || r->count == 0 ? 1 : 0;
}

int
run_echo(const struct opts *o)
{
	struct target t;
	resolve_target(o, &t, SOCK_STREAM);
	print_header(o, &t);
	if (o->tls)
		tls_init();
	struct echo_run *r = xcalloc(1, sizeof *r);
	echo_setup(r, o);
	echo_loop(r, &t);
	return echo_report(r, &t);
}
