/*
 * check_conn.c -- unit tests for conn.c's use of the transport seam (io.h,
 * README "Inside"), on a real libevent loop and a real socketpair.
 *
 * The plain transport never needs a handshake, never wants the other
 * readiness and never holds input back; TLS (tls.c) does all three, but
 * when depends on OpenSSL and the network.  Here a scripted fake
 * transport wraps the real socket and makes conn.c take each path at
 * will:
 *
 *   - a handshake of several steps, wanting READ or WRITE, before the
 *     banner and the handler's open(); a failed handshake drops the
 *     connection without open() or close(), and the creator hears of it;
 *     one that goes on too long is dropped at the handshake timeout,
 *     counted from the start however often it makes progress;
 *   - a read that fails with EAGAIN wanting the socket writable (the
 *     transport has taken the bytes off the socket, so only writability
 *     can wake the connection);
 *   - a write that fails wanting the socket readable (it needs a byte from
 *     the peer first), alone and followed by a plain want-write, and
 *     output that waits while a read waits for writability;
 *   - input the transport holds that the socket will not signal again
 *     (io_pending), after a read, after the handshake, and while the
 *     answer to the first line waits for the socket;
 *
 * and the plain transport is the baseline: an answer reaches the peer,
 * conn_finish ends in EOF, the creator's gone() is called once.
 *
 * Every case asserts what the peer or the handler sees, within a bounded
 * number of loop turns, so a connection that stalls fails the case.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "clock.h"
#include "conn.h"
#include "log.h"

/* --- A scripted transport over the real socket. --- */

#define HELD_MAX	4096

struct fake {
	/*
	 * The handshake, one step a character: 'R' needs one byte from the
	 * peer (0 wanting READ until it comes), 'W' returns 0 wanting WRITE
	 * once, 'F' fails.  At the end it is done (1).  NULL: no handshake.
	 */
	const char	*hs_script;
	size_t		 hs_step;
	int		 hs_calls;
	/* Input the handshake read beyond itself (held, pending). */
	const char	*hs_leftover;

	/* Reads: fail this many times wanting WRITE, taking the bytes. */
	int		 read_wants_write;
	/* Hand up only this many bytes of the next read, hold the rest. */
	size_t		 read_split;
	int		 reads;

	/* Bytes taken off the socket, not yet handed up. */
	char		 held[HELD_MAX];
	size_t		 held_len;
	int		 held_ready;	/* reported by pending() */

	/* Writes: need this many bytes from the peer first (want READ). */
	int		 write_wants_read;
	/* Then fail this many times wanting WRITE. */
	int		 write_wants_write;
	int		 writes;
	/*
	 * Like WebSocket framing: a write reports everything taken but puts
	 * at most this many bytes on the socket, holding the rest (unsent)
	 * until later writes, empty ones included, push it on.  0: off.
	 */
	size_t		 write_max;
	char		 out[HELD_MAX];
	size_t		 out_len;

	int		 shutdowns;
	int		 closes;
};

static void
fake_hold(struct fake *f, const char *data, size_t len, int ready)
{
	ck_assert_uint_le(f->held_len + len, HELD_MAX);
	memcpy(f->held + f->held_len, data, len);
	f->held_len += len;
	f->held_ready = ready;
}

static int
fake_handshake(struct io *io)
{
	struct fake *f = io->ctx;
	char b;

	f->hs_calls++;
	for (;;) {
		switch (f->hs_script[f->hs_step]) {
		case 'R':
			if (read(io->fd, &b, 1) != 1) {
				ck_assert_int_eq(errno, EAGAIN);
				io->want = IO_WANT_READ;
				return 0;
			}
			f->hs_step++;
			break;
		case 'W':
			f->hs_step++;
			io->want = IO_WANT_WRITE;
			return 0;
		case 'F':
			return -1;
		default:
			if (f->hs_leftover != NULL)
				fake_hold(f, f->hs_leftover,
				    strlen(f->hs_leftover), 1);
			return 1;
		}
	}
}

static ssize_t
fake_read(struct io *io, void *buf, size_t len)
{
	struct fake *f = io->ctx;
	char tmp[HELD_MAX];
	ssize_t n;
	size_t give;

	f->reads++;
	if (f->read_wants_write > 0) {
		/*
		 * Like TLS reading a record and then having to answer it:
		 * the bytes are off the socket, and nothing can be handed up
		 * until the socket takes a write.
		 */
		n = read(io->fd, tmp, sizeof tmp);
		if (n > 0)
			fake_hold(f, tmp, (size_t)n, 0);
		if (n == -1 && errno == EAGAIN && f->held_len == 0) {
			io->want = IO_WANT_READ;
			return -1;
		}
		f->read_wants_write--;
		io->want = IO_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	if (f->held_len > 0) {
		give = f->held_len < len ? f->held_len : len;
		memcpy(buf, f->held, give);
		memmove(f->held, f->held + give, f->held_len - give);
		f->held_len -= give;
		f->held_ready = f->held_len > 0;
		return (ssize_t)give;
	}
	n = read(io->fd, buf, len);
	if (n == -1 && errno == EAGAIN)
		io->want = IO_WANT_READ;
	if (n > 0 && f->read_split > 0 && (size_t)n > f->read_split) {
		fake_hold(f, (char *)buf + f->read_split,
		    (size_t)n - f->read_split, 1);
		n = (ssize_t)f->read_split;
		f->read_split = 0;
	}
	return n;
}

/* write_max: take all, put write_max bytes of what is held out. */
static ssize_t
fake_write_held(struct io *io, struct fake *f, const struct iovec *iov,
    int iovcnt)
{
	size_t taken = 0, n;
	ssize_t wr;
	int i;

	for (i = 0; i < iovcnt; i++) {
		ck_assert_uint_le(f->out_len + iov[i].iov_len, HELD_MAX);
		memcpy(f->out + f->out_len, iov[i].iov_base, iov[i].iov_len);
		f->out_len += iov[i].iov_len;
		taken += iov[i].iov_len;
	}
	n = f->out_len < f->write_max ? f->out_len : f->write_max;
	if (n == 0)
		return (ssize_t)taken;
	if ((wr = write(io->fd, f->out, n)) == -1) {
		if (errno != EAGAIN)
			return -1;
		wr = 0;
	}
	memmove(f->out, f->out + wr, f->out_len - (size_t)wr);
	f->out_len -= (size_t)wr;
	if (taken == 0 && f->out_len > 0) {
		io->want = IO_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)taken;
}

static ssize_t
fake_writev(struct io *io, const struct iovec *iov, int iovcnt)
{
	struct fake *f = io->ctx;
	ssize_t n;
	char b;

	f->writes++;
	if (f->write_wants_read > 0) {
		if (read(io->fd, &b, 1) != 1) {
			ck_assert_int_eq(errno, EAGAIN);
			io->want = IO_WANT_READ;
			return -1;
		}
		f->write_wants_read--;
	}
	if (f->write_wants_write > 0) {
		f->write_wants_write--;
		io->want = IO_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	}
	if (f->write_max > 0)
		return fake_write_held(io, f, iov, iovcnt);
	n = writev(io->fd, iov, iovcnt);
	if (n == -1 && errno == EAGAIN)
		io->want = IO_WANT_WRITE;
	return n;
}

static size_t
fake_unsent(struct io *io)
{
	struct fake *f = io->ctx;

	return f->out_len;
}

static size_t
fake_pending(struct io *io)
{
	struct fake *f = io->ctx;

	return f->held_ready ? f->held_len : 0;
}

static void
fake_shutdown(struct io *io)
{
	struct fake *f = io->ctx;

	f->shutdowns++;
	shutdown(io->fd, SHUT_WR);
}

static void
fake_close(struct io *io)
{
	struct fake *f = io->ctx;

	f->closes++;
	close(io->fd);
	io->fd = -1;
}

static const struct io_ops fake_ops = {
	.name = "fake",
	.handshake = fake_handshake,
	.read = fake_read,
	.writev = fake_writev,
	.pending = fake_pending,
	.unsent = fake_unsent,
	.shutdown = fake_shutdown,
	.close = fake_close,
};

/* Without a handshake script the op is absent, as for plain sockets. */
static const struct io_ops fake_ops_no_handshake = {
	.name = "fake",
	.read = fake_read,
	.writev = fake_writev,
	.pending = fake_pending,
	.unsent = fake_unsent,
	.shutdown = fake_shutdown,
	.close = fake_close,
};

/* --- The world of one test: a loop, a listener, a handler, a peer. --- */

#define PEER_MAX	4096

static struct {
	struct event_base	*base;
	struct loops		 set;
	struct conn_limits	 limits;
	struct conn_hooks	 hooks;
	struct conn_loop	 cl;
	struct listener_conf	 lconf;
	struct listener		 listener;
	struct handler		 handler;
	struct handler_binding	 bind;
	struct fake		 fake;
	struct conn		*c;
	int			 peer;		/* the far end */

	char			 peer_buf[PEER_MAX + 1];
	size_t			 peer_len;
	int			 peer_eof;

	int			 opens;
	int			 closes;
	const char		*close_reason;
	int			 gone;
	enum conn_why		 why;		/* as it went */
	uint64_t		 bytes_in, bytes_out;
	int			 hooks_arg_ok;
	char			 input[PEER_MAX]; /* "line|line|" */
	size_t			 input_len;
	int			 ninput;
	int			 echo;		/* answer each line */
	const char		*open_send;	/* open() sends this */
} w;

static void
t_gone(void *arg, struct conn *c)
{
	w.hooks_arg_ok = arg == &w && c == w.c;
	if (c->more != NULL) {
		w.why = c->more->why;
		w.bytes_in = c->more->bytes_in;
		w.bytes_out = c->more->bytes_out;
	}
	w.gone++;
	w.c = NULL;
}

static int
t_open(struct conn *c)
{
	w.opens++;
	if (w.open_send != NULL)
		conn_send(c, w.open_send, strlen(w.open_send));
	return 0;
}

static void
t_input(struct conn *c, char *data, size_t len)
{
	char answer[PEER_MAX];

	w.ninput++;
	ck_assert_uint_lt(w.input_len + len + 1, sizeof w.input);
	memcpy(w.input + w.input_len, data, len);
	w.input_len += len;
	w.input[w.input_len++] = '|';
	w.input[w.input_len] = '\0';
	if (w.echo) {
		ck_assert_uint_lt(len + 1, sizeof answer);
		memcpy(answer, data, len);
		answer[len] = '\n';
		conn_send(c, answer, len + 1);
	}
	if (len == 3 && memcmp(data, "bye", 3) == 0)
		conn_finish(c);
}

static void
t_close(struct conn *c, const char *reason)
{
	(void)c;
	w.closes++;
	w.close_reason = reason;
}

static void
setup(void)
{
	struct sockaddr_un sun;
	char *cause = NULL;
	int sv[2];

	memset(&w, 0, sizeof w);
	log_set_level(LOG_LEVEL_ERROR);
	w.base = loop_base_new();
	ck_assert_ptr_nonnull(w.base);
	ck_assert_int_eq(loops_init(&w.set, w.base, 1, &cause), 0);
	w.limits.max_line = 4096;
	w.limits.output_limit = 1024 * 1024;
	w.hooks.gone = t_gone;
	conn_loop_init(&w.cl, &w.set.v[0], &w.limits, &w.hooks, &w);
	w.lconf.name = (char *)"t";
	w.lconf.proto = PROTO_UNIX;
	w.listener.conf = &w.lconf;
	w.handler.name = "test";
	w.handler.framing = FRAMING_LINES;
	w.handler.open = t_open;
	w.handler.input = t_input;
	w.handler.close = t_close;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	w.peer = sv[0];
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	w.bind.handler = &w.handler;
	w.c = conn_new(&w.cl, sv[1], (struct sockaddr *)&sun, &w.listener,
	    &w.bind);
	ck_assert_ptr_nonnull(w.c);
}

static void
teardown(void)
{
	conn_loop_free(&w.cl);
	loops_stop(&w.set);
	loops_free(&w.set);
	event_base_free(w.base);
	close(w.peer);
}

/* Serve the connection through the fake transport from now on. */
static void
use_fake(void)
{
	conn_io(w.c)->ops = w.fake.hs_script != NULL ? &fake_ops :
	    &fake_ops_no_handshake;
	conn_io(w.c)->ctx = &w.fake;
}

/* Take whatever the connection sent us so far. */
static void
peer_drain(void)
{
	ssize_t n;

	while (!w.peer_eof && w.peer_len < PEER_MAX) {
		n = read(w.peer, w.peer_buf + w.peer_len,
		    PEER_MAX - w.peer_len);
		if (n == 0)
			w.peer_eof = 1;
		if (n <= 0)
			break;
		w.peer_len += (size_t)n;
	}
	w.peer_buf[w.peer_len] = '\0';
}

static void
peer_send(const char *s)
{
	size_t len = strlen(s);

	ck_assert_int_eq(write(w.peer, s, len), (ssize_t)len);
}

/* One turn of the loop, without waiting, then what reached the peer. */
static void
turn(void)
{
	ck_assert_int_ne(event_base_loop(w.base,
	    EVLOOP_ONCE | EVLOOP_NONBLOCK), -1);
	peer_drain();
}

/* Turn the loop until cond holds, at most 200 times: 1 if it did. */
static int
run_until(int (*cond)(void))
{
	int i;

	for (i = 0; i < 200; i++) {
		turn();
		if (cond())
			return 1;
		usleep(1000);
	}
	return 0;
}

/* Turn the loop a few times (for "nothing happens"). */
static void
run_a_while(void)
{
	int i;

	for (i = 0; i < 20; i++) {
		turn();
		usleep(1000);
	}
}

static int	peer_got(const char *s) { return strcmp(w.peer_buf, s) == 0; }

static const char *want_peer;
static int	cond_peer(void) { return peer_got(want_peer); }
static const char *want_input;
static int	cond_input(void) { return strcmp(w.input, want_input) == 0; }
static int	cond_gone(void) { return w.gone > 0; }
static int	cond_opened(void) { return w.opens > 0; }
static int	cond_peer_eof(void) { return w.peer_eof; }

static int
until_peer(const char *s)
{
	want_peer = s;
	return run_until(cond_peer);
}

static int
until_input(const char *s)
{
	want_input = s;
	return run_until(cond_input);
}

/* --- The plain transport: the baseline. --- */

START_TEST(test_plain_echo_and_finish)
{
	w.lconf.banner = (char *)"hi";
	w.echo = 1;
	conn_start(w.c);
	ck_assert_int_eq(w.opens, 1);
	ck_assert_msg(until_peer("hi\n"), "banner: got \"%s\"", w.peer_buf);

	peer_send("ping\n");
	ck_assert_msg(until_peer("hi\nping\n"), "echo: got \"%s\"",
	    w.peer_buf);
	ck_assert_str_eq(w.input, "ping|");

	peer_send("bye\n");
	ck_assert_msg(run_until(cond_peer_eof), "no EOF after conn_finish");
	ck_assert_str_eq(w.peer_buf, "hi\nping\nbye\n");
	ck_assert(run_until(cond_gone));
	run_a_while();
	ck_assert_int_eq(w.gone, 1);
	ck_assert(w.hooks_arg_ok);
	ck_assert_int_eq(w.opens, 1);
	ck_assert_int_eq(w.closes, 1);
	ck_assert_ptr_null(w.close_reason);
	/* The handler finished it; the bytes each way, banner included. */
	ck_assert_str_eq(conn_why_name(w.why), "quit");
	ck_assert_uint_eq(w.bytes_in, strlen("ping\nbye\n"));
	ck_assert_uint_eq(w.bytes_out, strlen("hi\nping\nbye\n"));
}
END_TEST

/* The disconnect reasons, by the names the log and counts use. */
START_TEST(test_why_names)
{
	static const char *const names[] = { "client", "idle", "too_slow",
	    "quit", "shutdown", "reload", "error", "answered" };
	size_t i;

	ck_assert_uint_eq(CONN_WHY_COUNT, sizeof names / sizeof names[0]);
	for (i = 0; i < CONN_WHY_COUNT; i++)
		ck_assert_str_eq(conn_why_name((enum conn_why)i), names[i]);
	ck_assert_str_eq(conn_why_name(CONN_WHY_COUNT), "error");
}
END_TEST

START_TEST(test_peer_close_is_client)
{
	conn_start(w.c);
	peer_send("x\n");
	ck_assert(until_input("x|"));
	close(w.peer);
	w.peer = -1;
	ck_assert_msg(run_until(cond_gone), "not dropped");
	ck_assert_str_eq(conn_why_name(w.why), "client");
	ck_assert_uint_eq(w.bytes_in, 2);
}
END_TEST

/*
 * A connection that only waits owns nothing beyond struct conn (README
 * "Performance"), and still closes with the whole story: why, no bytes.
 */
START_TEST(test_waiting_owns_no_more)
{
	w.why = CONN_WHY_ERROR;	/* the gone hook must say otherwise */
	conn_start(w.c);
	run_a_while();
	ck_assert_int_eq(w.opens, 1);
	ck_assert_ptr_null(w.c->more);
	close(w.peer);
	w.peer = -1;
	ck_assert_msg(run_until(cond_gone), "not dropped");
	ck_assert_str_eq(conn_why_name(w.why), "client");
	ck_assert_uint_eq(w.bytes_in, 0);
	ck_assert_uint_eq(w.bytes_out, 0);
}
END_TEST

START_TEST(test_idle_timeout_without_more)
{
	w.limits.idle_timeout_ms = 20;
	w.why = CONN_WHY_ERROR;
	conn_start(w.c);
	ck_assert_ptr_null(w.c->more);
	ck_assert_msg(run_until(cond_gone), "not closed at idle_timeout");
	ck_assert_str_eq(conn_why_name(w.why), "idle");
	ck_assert_int_eq(w.closes, 1);
	ck_assert_str_eq(w.close_reason, "idle timeout");
}
END_TEST

/* --- Handshakes. --- */

START_TEST(test_handshake_before_open)
{
	w.lconf.banner = (char *)"hi";
	w.open_send = "welcome\n";
	w.fake.hs_script = "RRW";
	use_fake();
	conn_start(w.c);

	/* The transport waits for the peer: nothing is said, nobody told. */
	run_a_while();
	ck_assert_int_eq(w.fake.hs_calls, 1);
	ck_assert_int_eq(w.opens, 0);
	ck_assert_uint_eq(w.peer_len, 0);

	peer_send("1");
	run_a_while();
	ck_assert_int_eq(w.fake.hs_calls, 2);
	ck_assert_int_eq(w.opens, 0);
	ck_assert_uint_eq(w.peer_len, 0);

	/* The last byte; then one step waits for writability, then done. */
	peer_send("2");
	ck_assert(run_until(cond_opened));
	ck_assert_msg(until_peer("hi\nwelcome\n"), "got \"%s\"", w.peer_buf);
	ck_assert_int_eq(w.fake.hs_calls, 4);
	ck_assert_int_eq(w.opens, 1);

	/* Now it is a connection like any other; no handshake again. */
	peer_send("x\n");
	ck_assert(until_input("x|"));
	ck_assert_int_eq(w.fake.hs_calls, 4);
	ck_assert_int_eq(w.opens, 1);
	ck_assert_int_eq(w.gone, 0);
}
END_TEST

START_TEST(test_handshake_failure)
{
	w.lconf.banner = (char *)"hi";
	w.open_send = "welcome\n";
	w.fake.hs_script = "WF";
	use_fake();
	conn_start(w.c);

	ck_assert_msg(run_until(cond_gone), "not dropped");
	ck_assert(run_until(cond_peer_eof));
	run_a_while();
	ck_assert_int_eq(w.fake.hs_calls, 2);
	ck_assert_int_eq(w.gone, 1);
	ck_assert(w.hooks_arg_ok);
	ck_assert_int_eq(w.opens, 0);
	ck_assert_int_eq(w.closes, 0);
	ck_assert_uint_eq(w.peer_len, 0);	/* no banner */
	ck_assert_int_eq(w.fake.closes, 1);
	ck_assert_str_eq(conn_why_name(w.why), "error");
}
END_TEST

/* A handshake dribbled a byte at a time still ends at the timeout. */
START_TEST(test_handshake_timeout)
{
	uint64_t start;
	int i;

	w.limits.handshake_timeout_ms = 50;
	w.fake.hs_script = "RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR";
	use_fake();
	start = monotonic_ms();
	conn_start(w.c);
	for (i = 0; i < 200 && w.gone == 0; i++) {
		if (i % 5 == 0)
			peer_send("1");
		turn();
		usleep(1000);
	}
	ck_assert_msg(w.gone == 1, "a dribbling handshake was kept");
	/* libevent times from the turn's cached clock: a little early. */
	ck_assert_uint_ge(monotonic_ms() - start, 40);
	ck_assert_int_ge(w.fake.hs_calls, 3);	/* it did make progress */
	ck_assert_int_eq(w.opens, 0);
	ck_assert_int_eq(w.closes, 0);
	ck_assert_int_eq(w.fake.closes, 1);
}
END_TEST

/*
 * The transport read bytes beyond its handshake (a WebSocket upgrade
 * request with the first frame behind it): they are delivered although
 * the socket will not become readable for them.
 */
START_TEST(test_pending_after_handshake)
{
	w.fake.hs_script = "W";
	w.fake.hs_leftover = "early\n";
	use_fake();
	conn_start(w.c);

	ck_assert(run_until(cond_opened));
	ck_assert_msg(until_input("early|"),
	    "input held after the handshake not delivered: \"%s\"", w.input);
}
END_TEST

/* --- Reads. --- */

START_TEST(test_read_wants_write)
{
	w.fake.read_wants_write = 1;
	use_fake();
	conn_start(w.c);

	peer_send("x\n");
	ck_assert_msg(until_input("x|"),
	    "a read waiting for writability never resumed");
	ck_assert_int_eq(w.fake.read_wants_write, 0);
	ck_assert_int_eq(w.ninput, 1);

	/* And reading goes on as usual. */
	peer_send("y\n");
	ck_assert(until_input("x|y|"));
	ck_assert_int_eq(w.gone, 0);
}
END_TEST

START_TEST(test_pending_after_read)
{
	w.fake.read_split = 2;		/* "a\n" now, "b\n" held */
	use_fake();
	conn_start(w.c);

	peer_send("a\nb\n");
	ck_assert_msg(until_input("a|b|"), "got \"%s\"", w.input);
	ck_assert_uint_eq(w.fake.held_len, 0);
	ck_assert_int_eq(w.ninput, 2);
}
END_TEST

/*
 * The answer to the first line has to wait for the socket, and the
 * connection stops reading meanwhile; once the answer is out, the input
 * the transport still holds must be delivered all the same.
 */
START_TEST(test_pending_while_output_waits)
{
	w.echo = 1;
	w.fake.read_split = 2;
	w.fake.write_wants_write = 2;	/* the answer, the first flush */
	use_fake();
	conn_start(w.c);

	peer_send("a\nb\n");
	ck_assert_msg(until_peer("a\nb\n"), "peer got \"%s\", input \"%s\"",
	    w.peer_buf, w.input);
	ck_assert_str_eq(w.input, "a|b|");
}
END_TEST

/* --- Writes. --- */

START_TEST(test_write_wants_read)
{
	w.echo = 1;
	w.fake.write_wants_read = 1;
	use_fake();
	conn_start(w.c);

	peer_send("hello\n");
	ck_assert(until_input("hello|"));
	/* The write waits for a byte from the peer: nothing goes out. */
	run_a_while();
	ck_assert_uint_eq(w.peer_len, 0);
	/* ... and the connection waits for it rather than spinning. */
	ck_assert_int_le(w.fake.writes, 3);

	peer_send("k");
	ck_assert_msg(until_peer("hello\n"), "got \"%s\"", w.peer_buf);
	ck_assert_int_eq(w.fake.write_wants_read, 0);

	/* Reading resumed once the output was out. */
	peer_send("again\n");
	ck_assert(until_peer("hello\nagain\n"));
	ck_assert_int_eq(w.gone, 0);
}
END_TEST

/*
 * A write that first needs readability and then, with that done, needs
 * writability (TLS renegotiation, then a full socket buffer): the
 * connection must switch to waiting for what the transport wants now.
 */
START_TEST(test_write_wants_read_then_write)
{
	w.echo = 1;
	w.fake.write_wants_read = 1;
	w.fake.write_wants_write = 1;
	use_fake();
	conn_start(w.c);

	peer_send("hello\n");
	ck_assert(until_input("hello|"));
	run_a_while();
	ck_assert_uint_eq(w.peer_len, 0);

	peer_send("k");
	ck_assert_msg(until_peer("hello\n"),
	    "output stuck after the transport switched to want-write: "
	    "\"%s\"", w.peer_buf);
	ck_assert_int_eq(w.fake.write_wants_write, 0);
}
END_TEST

/*
 * Output from elsewhere (a broadcast) arrives while a read waits for
 * writability, and the kernel will not take it at once either: when the
 * socket becomes writable the read goes on, and the output must not be
 * left waiting on a watch for readability.
 */
START_TEST(test_output_waits_while_read_waits)
{
	int i;

	w.fake.read_wants_write = 1;
	w.fake.write_wants_write = 1;
	use_fake();
	conn_start(w.c);

	peer_send("x\n");
	for (i = 0; i < 200 && w.fake.reads == 0; i++) {
		turn();
		usleep(1000);
	}
	ck_assert_int_eq(w.fake.reads, 1);
	ck_assert(w.c->flags & CONN_READ_WAITS);
	conn_send(w.c, "out\n", 4);		/* not an answer: queued */

	ck_assert(until_input("x|"));
	ck_assert_msg(until_peer("out\n"), "output stuck: \"%s\"",
	    w.peer_buf);
	ck_assert_int_eq(w.fake.write_wants_write, 0);

	/* Both directions work as usual afterwards. */
	peer_send("y\n");
	ck_assert(until_input("x|y|"));
	conn_send(w.c, "more\n", 5);
	ck_assert(until_peer("out\nmore\n"));
}
END_TEST

/*
 * A transport that holds part of what it took (a frame's tail the
 * socket would not take): the held bytes go out by themselves, without
 * further input or output to carry them, and before a finish closes.
 */
START_TEST(test_held_output_goes_out)
{
	w.echo = 1;
	w.fake.write_max = 3;
	use_fake();
	conn_start(w.c);

	peer_send("hello world\n");
	ck_assert(until_input("hello world|"));
	ck_assert_msg(until_peer("hello world\n"), "held output stuck: "
	    "\"%s\"", w.peer_buf);
	ck_assert_uint_eq(w.fake.out_len, 0);

	/* Queued output (not an answer) and then the end. */
	conn_send(w.c, "queued line\n", 12);
	conn_finish(w.c);
	ck_assert(run_until(cond_peer_eof));
	ck_assert_str_eq(w.peer_buf, "hello world\nqueued line\n");
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc;

	tc = tcase_create("plain");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_plain_echo_and_finish);
	tcase_set_timeout(tc, 30);	/* valgrind */
	suite_add_tcase(s, tc);

	tc = tcase_create("handshake");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake_before_open);
	tcase_add_test(tc, test_handshake_failure);
	tcase_add_test(tc, test_handshake_timeout);
	tcase_add_test(tc, test_pending_after_handshake);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_read_wants_write);
	tcase_add_test(tc, test_pending_after_read);
	tcase_add_test(tc, test_pending_while_output_waits);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("write");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_write_wants_read);
	tcase_add_test(tc, test_write_wants_read_then_write);
	tcase_add_test(tc, test_output_waits_while_read_waits);
	tcase_add_test(tc, test_held_output_goes_out);
	tcase_add_test(tc, test_why_names);
	tcase_add_test(tc, test_peer_close_is_client);
	tcase_add_test(tc, test_waiting_owns_no_more);
	tcase_add_test(tc, test_idle_timeout_without_more);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
