/*
 * echochat-bench - load generator for the echochat server, and for the
 * servers it is compared with (scripts/bench).
 *
 * It drives a server on loopback (TCP, UDP or a Unix stream socket) in one
 * of five modes and reports throughput and latency:
 *
 *   echo, upper  C connections keep P pipelined lines in flight; every reply
 *                is checked byte for byte (upper: against the line with a-z
 *                uppercased) and its round-trip time goes into a histogram.
 *                Every connection has had one answer before the clock starts.
 *   chat         C participants join a chat room, K of them send timestamped
 *                lines, every receiver checks per-sender ordering and records
 *                the delivery latency.  --proto says whose room: echochat
 *                (wait for the welcome line), plain (any server that relays
 *                each line to the others with or without a prefix, such as
 *                ncat --chat) or redis (SUBSCRIBE and PUBLISH over RESP).
 *   udp          C UDP sockets keep P datagrams in flight; replies are
 *                verified, datagrams unanswered after 1 s count as lost.
 *                Any UDP echo server will do.
 *   idle         open C connections, hold them, optionally report the
 *                server's RSS growth per connection and the descriptors it
 *                took for them (--pid).
 *
 * Connections are opened keeping the server's accept queue at most half
 * full (the kernel tells, through sock_diag), so that a short listen
 * backlog is not what gets measured.
 *
 * The tool only talks to loopback addresses, and every phase is bounded in
 * time (connect, warm-up, measurement), so it always stops by itself.  The
 * output is a human-readable block followed by one "RESULT key=value ..."
 * line for scripts.  Exit status: 0 clean run, 1 errors/mismatches/losses,
 * 2 usage error or the server could not be reached.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
 *            bench/echochat-bench.c -o echochat-bench -lm
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
/* At most this many non-blocking connects outstanding, so that a server
 * listen backlog of 1024 is never overrun by our SYNs alone. */
#define CONNECT_BATCH 500
#define CONNECT_TIMEOUT_NS (30 * NS_PER_S)
/* idle --pid: how long the server may take to accept what we opened. */
#define ACCEPT_WAIT_NS (5 * NS_PER_S)
#define IDLE_QUIET_MAX_NS (2 * NS_PER_S)
#define WELCOME_TIMEOUT_NS (15 * NS_PER_S)
#define PRIME_TIMEOUT_NS (15 * NS_PER_S)
/* echo/upper: connections opened and primed at a time, below any listen
 * backlog (socat's default is 5). */
#define PRIME_BATCH 4
#define CHAT_DRAIN_NS (500 * NS_PER_MS)
#define CHAT_STALL_NS (1 * NS_PER_S)
#define UDP_LOSS_NS (1 * NS_PER_S)
#define UDP_TICK_MS 20
#define IDLE_SETTLE_NS (250 * NS_PER_MS)
#define MAX_EVENTS 1024
#define CHAT_LBUF 2048
#define CHAT_WBUF 4096
#define UDP_MAX_SIZE 65507

static const char usage_text[] =
	"usage: echochat-bench MODE [-h HOST] [-p PORT] [-c CONNS] [-P INFLIGHT] [-s SIZE]\n"
	"                      [-d SECONDS] [-w WARMUP_SECONDS] [-k SENDERS] [-u UNIX_PATH]\n"
	"                      [--pid PID] [--proto echochat|plain|redis] [--redis]\n"
	"modes:\n"
	"  echo    pipelined line round trips over C connections, replies verified\n"
	"  upper   like echo, replies must be the lines with a-z uppercased\n"
	"  chat    C participants, K senders; delivery rate, latency, loss, order\n"
	"  udp     datagram round trips over C UDP sockets; loss after 1 s\n"
	"  idle    open C connections and hold them for SECONDS\n"
	"options:\n"
	"  -h HOST      server host, loopback only (default 127.0.0.1)\n"
	"  -p PORT      server port (default 7007)\n"
	"  -c CONNS     connections / participants / UDP sockets (default 100; udp: 1)\n"
	"  -P INFLIGHT  lines or datagrams in flight per connection, chat: per sender\n"
	"               (default 16)\n"
	"  -s SIZE      line/datagram size in bytes, including the '\\n' (default 64)\n"
	"  -d SECONDS   measured duration; idle: hold time (default 5)\n"
	"  -w SECONDS   warm-up before measuring, not counted (default 1)\n"
	"  -k SENDERS   chat: number of sending participants (default 10)\n"
	"  -u PATH      connect to the Unix stream socket PATH instead of TCP\n"
	"               (echo, upper, chat, idle)\n"
	"  --pid PID    idle: report the server's VmRSS growth per connection\n"
	"  --proto P    chat: echochat (default: wait for each welcome line), plain\n"
	"               (no welcome: two participants send sync lines until everyone\n"
	"               has heard one; lines may carry any prefix, e.g. ncat --chat)\n"
	"               or redis (participants SUBSCRIBE, senders PUBLISH on an\n"
	"               extra connection each)\n"
	"  --redis      same as --proto redis\n"
	"  --help       show this text\n";

enum mode { M_ECHO, M_UPPER, M_CHAT, M_UDP, M_IDLE };
static const char *const mode_names[] = { "echo", "upper", "chat", "udp", "idle" };

/* Whose chat room: how participants know they are in, how lines go out
 * and how deliveries come back. */
enum proto { PR_ECHOCHAT, PR_PLAIN, PR_REDIS };
static const char *const proto_names[] = { "echochat", "plain", "redis" };

struct opts {
	enum mode mode;
	enum proto proto;
	const char *host;
	const char *unix_path;
	int port, conns, inflight, size, seconds, warmup, senders;
	long pid;
};

struct target {
	struct sockaddr_storage addr;
	socklen_t len;
	int family;
	char desc[160];
};

/* One receive buffer for everybody: the loop is single-threaded and each
 * connection keeps its own parse state, so the bytes never need to stay. */
static char rbuf[1 << 18];

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void fail2(const char *fmt, ...)
{
	va_list ap;
	fputs("echochat-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("echochat-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(usage_text, stderr);
	exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		fail2("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* Milliseconds to wait in epoll so we wake up at `deadline`, capped so
 * periodic work (stall and loss checks) still runs. */
static int ms_until(uint64_t now, uint64_t deadline, int cap)
{
	if (deadline <= now)
		return 0;
	uint64_t ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > (uint64_t)cap ? cap : (int)ms;
}

static int would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static void ep_add(int ep, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = { .events = events, .data.u32 = id };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fail2("epoll_ctl: %s", strerror(errno));
}

/* Level-triggered epoll: EPOLLOUT is only requested while a write is
 * blocked, otherwise every writable socket would wake us up for nothing. */
static void ep_mod(int ep, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = { .events = events, .data.u32 = id };
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* The server runs with many descriptors too, but ours is the side that
 * opens C of them; take everything the hard limit allows. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ------------------------------------------------------------------ */
/* latency histogram                                                    */

/* Log-linear buckets (HdrHistogram style): values below 256 ns are exact,
 * above that each power of two is split into 128 linear sub-buckets, so a
 * value is known to within 1/128 (< 0.8%).  Covers up to 2^44 ns (~4.9 h). */
#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_MAX_SHIFT 36
#define H_BUCKETS ((H_MAX_SHIFT + 2) * H_SUB)

struct hist {
	uint64_t n[H_BUCKETS];
	uint64_t total, max;
};

static unsigned h_index(uint64_t v)
{
	if (v < 2 * H_SUB)
		return (unsigned)v;
	unsigned shift = 63u - (unsigned)__builtin_clzll(v) - H_SUB_BITS;
	if (shift > H_MAX_SHIFT)
		return H_BUCKETS - 1;
	return shift * H_SUB + (unsigned)(v >> shift);
}

/* Highest value that maps to bucket `i` (what HdrHistogram reports). */
static uint64_t h_upper(unsigned i)
{
	if (i < 2 * H_SUB)
		return i;
	unsigned shift = i / H_SUB - 1;
	uint64_t m = i - (uint64_t)shift * H_SUB;
	return ((m + 1) << shift) - 1;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->n[h_index(v)]++;
	h->total++;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_pct(const struct hist *h, double pct)
{
	if (!h->total)
		return 0;
	uint64_t want = (uint64_t)ceil(pct / 100.0 * (double)h->total);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= want) {
			uint64_t v = h_upper(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

static void print_latency(const char *label, const struct hist *h)
{
	printf("  %-14s p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%" PRIu64 " samples)\n",
	       label, hist_pct(h, 50) / 1e3, hist_pct(h, 99) / 1e3, hist_pct(h, 99.9) / 1e3,
	       h->max / 1e3, h->total);
}

static void result_latency(const struct hist *h)
{
	printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f", hist_pct(h, 50) / 1e3,
	       hist_pct(h, 99) / 1e3, hist_pct(h, 99.9) / 1e3, h->max / 1e3);
}

/* ------------------------------------------------------------------ */
/* line contents                                                        */

/* Every line is "<conn:4 base36><seq:9 base36>" followed by filler and
 * '\n'.  The header makes each line distinct (and lets udp find the slot a
 * reply belongs to); the filler is a slice of a fixed pseudo-random pattern
 * so large lines cost a memcpy rather than a generator loop.  Only a-z and
 * 0-9 are used, so `upper` changes exactly the letters. */
#define HDR_LEN 13
#define PAT_SPREAD 4096

struct gen {
	size_t size;
	char *pat;
};

static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

static void gen_init(struct gen *g, size_t size)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	g->size = size;
	g->pat = xcalloc(size + PAT_SPREAD, 1);
	for (size_t i = 0; i < size + PAT_SPREAD; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		g->pat[i] = b36[(x >> 32) % 36];
	}
}

static void put_b36(char *dst, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 36)
		dst[i] = b36[v % 36];
}

static void gen_line(const struct gen *g, uint32_t conn, uint64_t seq, char *out)
{
	size_t body = g->size - 1;
	char hdr[HDR_LEN];
	put_b36(hdr, conn, 4);
	put_b36(hdr + 4, seq, 9);
	size_t h = body < HDR_LEN ? body : HDR_LEN;
	memcpy(out, hdr, h);
	if (body > h)
		memcpy(out + h, g->pat + (seq * 31 + conn) % PAT_SPREAD, body - h);
	out[body] = '\n';
}

static void upcase(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] >= 'a' && p[i] <= 'z')
			p[i] = (char)(p[i] - 'a' + 'A');
}

static int b36_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	return -1;
}

static int decode_hdr(const char *p, uint64_t *conn, uint64_t *seq)
{
	uint64_t v[2] = { 0, 0 };
	for (int i = 0; i < HDR_LEN; i++) {
		int d = b36_val(p[i]);
		if (d < 0)
			return 0;
		v[i >= 4] = v[i >= 4] * 36 + (uint64_t)d;
	}
	*conn = v[0];
	*seq = v[1];
	return 1;
}

/* ------------------------------------------------------------------ */
/* target address                                                       */

static int is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

static void resolve_unix(const char *path, struct target *t)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&t->addr;
	if (strlen(path) >= sizeof un->sun_path)
		usage_error("unix socket path too long: %s", path);
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, path);
	t->len = sizeof *un;
	t->family = AF_UNIX;
	snprintf(t->desc, sizeof t->desc, "unix:%s", path);
}

/* Resolve HOST:PORT and refuse anything that is not loopback: this is a
 * load generator and must never be pointed at somebody else's machine. */
static void resolve_target(const struct opts *o, struct target *t, int socktype)
{
	memset(t, 0, sizeof *t);
	if (o->unix_path) {
		resolve_unix(o->unix_path, t);
		return;
	}
	char port[16];
	snprintf(port, sizeof port, "%d", o->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(o->host, port, &hints, &res);
	if (rc != 0)
		fail2("cannot resolve %s: %s", o->host, gai_strerror(rc));
	if (!is_loopback(res->ai_addr)) {
		freeaddrinfo(res);
		fail2("refusing non-loopback target %s (loopback only)", o->host);
	}
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->len = res->ai_addrlen;
	t->family = res->ai_family;
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *a = t->family == AF_INET
		? (const void *)&((struct sockaddr_in *)&t->addr)->sin_addr
		: (const void *)&((struct sockaddr_in6 *)&t->addr)->sin6_addr;
	inet_ntop(t->family, a, ip, sizeof ip);
	snprintf(t->desc, sizeof t->desc, "%s %s:%d", socktype == SOCK_DGRAM ? "udp" : "tcp",
		 ip, o->port);
	freeaddrinfo(res);
}

/* ------------------------------------------------------------------ */
/* batched non-blocking connects                                        */

struct conn_report {
	int ok, failed;
	uint64_t elapsed_ns;
	char why[200];
};

static void note_failure(struct conn_report *r, int err, const char *what)
{
	r->failed++;
	if (!r->why[0])
		snprintf(r->why, sizeof r->why, "%s: %s", what, strerror(err));
}

/* Returns 0 connected, 1 in progress, or -errno.  fd is set on 0 and 1. */
static int start_connect(const struct target *t, int *fdp)
{
	int fd = socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&t->addr, t->len) == 0) {
		*fdp = fd;
		return 0;
	}
	int err = errno;
	if (err == EINPROGRESS) {
		*fdp = fd;
		return 1;
	}
	close(fd);
	return -err;
}

static void finish_connect(int ep, int *fds, char *pending, uint32_t i, struct conn_report *r)
{
	int err = 0;
	socklen_t len = sizeof err;
	epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
	pending[i] = 0;
	if (getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		r->ok++;
		return;
	}
	close(fds[i]);
	fds[i] = -1;
	note_failure(r, err, "connect");
}

/* Launch connects (up to index `limit`) until CONNECT_BATCH are
 * outstanding.  Returns 1 if the listener pushed back (Unix socket backlog
 * full: EAGAIN) and we should retry after a short pause. */
static int launch_connects(const struct target *t, int ep, int n, int limit, int *fds,
			   char *pending, int *next, int *outstanding, struct conn_report *r)
{
	while (*next < limit && *outstanding < CONNECT_BATCH) {
		int fd = -1, rc = start_connect(t, &fd);
		if (rc == -EAGAIN)
			return 1;
		if (rc == -EMFILE || rc == -ENFILE) {
			/* Out of descriptors: every later connect would fail too. */
			for (; *next < n; (*next)++)
				note_failure(r, -rc, "socket");
			return 0;
		}
		if (rc < 0) {
			note_failure(r, -rc, "connect");
		} else if (rc == 0) {
			fds[*next] = fd;
			r->ok++;
		} else {
			fds[*next] = fd;
			pending[*next] = 1;
			ep_add(ep, fd, EPOLLOUT, (uint32_t)*next);
			(*outstanding)++;
		}
		(*next)++;
	}
	return 0;
}

/* Descriptors open in process `pid`, or -1. */
static int count_fds(long pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The accept queue of the TCP listener that t names, from the kernel
 * (sock_diag): connections waiting to be accepted, and the backlog.  With
 * several listeners on the port (SO_REUSEPORT) the fullest one counts.
 * Returns -1 if unknown (a Unix socket, no netlink). */
static int listen_queue(const struct target *t, unsigned *queued, unsigned *backlog)
{
	if (t->family != AF_INET && t->family != AF_INET6)
		return -1;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	memset(&msg, 0, sizeof msg);
	msg.nlh.nlmsg_len = sizeof msg;
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.req.sdiag_family = (uint8_t)t->family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = 1u << 10; /* TCP_LISTEN */
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	uint16_t port = t->family == AF_INET ? ((const struct sockaddr_in *)&t->addr)->sin_port
					     : ((const struct sockaddr_in6 *)&t->addr)->sin6_port;
	int found = -1, done = 0;
	double fullest = -1;
	if (sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&nl, sizeof nl) < 0)
		done = 1;
	static char buf[32768];
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		int len = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			double fill = (double)m->idiag_rqueue / (m->idiag_wqueue ? m->idiag_wqueue : 1);
			if (m->id.idiag_sport == port && fill > fullest) {
				fullest = fill;
				*queued = m->idiag_rqueue;
				*backlog = m->idiag_wqueue;
				found = 0;
			}
		}
	}
	close(fd);
	return found;
}

/* Open n connections, keeping the server's accept queue at most half full.
 * On loopback connect() completes in the kernel at once, so a burst would
 * overflow a short backlog (ncat listens with 10, redis with 511); the
 * kernel then answers with SYN cookies and drops final ACKs, leaving
 * connections that we think are open and the server never saw until data
 * from our side, retransmitted with backoff, revives them (idle
 * connections send none).  That would measure the backlog, not the
 * server.  `service`, if given, is called between steps, so connections
 * opened earlier keep being read (chat). */
static void connect_all(const struct target *t, int n, int *fds, struct conn_report *r,
			uint64_t deadline, void (*service)(void *), void *ctx)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	char *pending = xcalloc((size_t)n, 1);
	struct epoll_event evs[MAX_EVENTS];
	int next = 0, outstanding = 0;
	uint64_t t0 = now_ns();
	memset(r, 0, sizeof *r);
	for (int i = 0; i < n; i++)
		fds[i] = -1;
	while ((next < n || outstanding > 0) && now_ns() < deadline) {
		int limit = n, gated = 0;
		unsigned queued, backlog;
		if (next < n && listen_queue(t, &queued, &backlog) == 0) {
			unsigned half = backlog > 1 ? backlog / 2 : 1;
			unsigned room = queued < half ? half - queued : 0;
			if ((unsigned)(n - next) > room) {
				limit = next + (int)room;
				gated = 1; /* look again soon */
			}
		}
		int backoff = launch_connects(t, ep, n, limit, fds, pending, &next, &outstanding, r);
		if (service)
			service(ctx);
		int k = epoll_wait(ep, evs, MAX_EVENTS, backoff || gated || service ? 1 : 50);
		for (int j = 0; j < k; j++, outstanding--)
			finish_connect(ep, fds, pending, evs[j].data.u32, r);
	}
	for (int i = 0; i < n; i++) {
		if (pending[i] || (i >= next && fds[i] < 0)) {
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = -1;
			note_failure(r, ETIMEDOUT, "connect");
		}
	}
	r->elapsed_ns = now_ns() - t0;
	free(pending);
	close(ep);
}

static void print_header(const struct opts *o, const struct target *t)
{
	printf("echochat-bench %s -> %s\n", mode_names[o->mode], t->desc);
}

/* ------------------------------------------------------------------ */
/* echo / upper                                                         */

struct econn {
	int fd, want_out, bad;
	uint32_t id;
	uint64_t next_send; /* seq of the next line to queue */
	uint64_t next_recv; /* seq of the reply being received */
	size_t roff;        /* bytes of that reply verified so far */
	char *wbuf, *expect;
	size_t wlen, woff;
	uint64_t *sent_ns;  /* send time of each line in flight, by seq % P */
};

struct echo_run {
	const struct opts *o;
	struct gen g;
	struct econn *c;
	int n, ep, alive, primed;
	uint64_t window;    /* lines in flight per connection: 1 while priming, then P */
	size_t wcap;
	uint64_t t_start, t_end;
	struct hist h;
	uint64_t count, mismatches, closed, unsolicited;
};

static int in_window(uint64_t t, uint64_t start, uint64_t end)
{
	return t >= start && t < end;
}

static void echo_expect(struct echo_run *r, struct econn *c)
{
	gen_line(&r->g, c->id, c->next_recv, c->expect);
	if (r->o->mode == M_UPPER)
		upcase(c->expect, r->g.size);
}

/* Queue new lines while the window (P in flight) and the buffer allow.
 * The send time is taken when a line is queued, so time spent waiting for
 * a writable socket counts as latency, as a real client would see it. */
static void echo_fill(struct echo_run *r, struct econn *c, uint64_t now)
{
	size_t S = r->g.size;
	uint64_t P = (uint64_t)r->o->inflight;
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	if (r->wcap - c->wlen < S && c->woff > 0) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
		c->wlen -= c->woff;
		c->woff = 0;
	}
	while (c->next_send < c->next_recv + r->window && r->wcap - c->wlen >= S) {
		gen_line(&r->g, c->id, c->next_send, c->wbuf + c->wlen);
		c->sent_ns[c->next_send % P] = now;
		c->next_send++;
		c->wlen += S;
	}
}

/* Write as much as the socket takes; returns -1 if the connection died. */
static int echo_pump(struct echo_run *r, struct econn *c)
{
	uint64_t now = now_ns();
	if (now >= r->t_end)
		return 0;
	for (;;) {
		echo_fill(r, c, now);
		if (c->woff == c->wlen)
			break;
		ssize_t k = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (k > 0) {
			c->woff += (size_t)k;
		} else if (k < 0 && would_block()) {
			c->want_out = 1;
			ep_mod(r->ep, c->fd, EPOLLIN | EPOLLOUT, c->id);
			return 0;
		} else if (!(k < 0 && errno == EINTR)) {
			return -1;
		}
	}
	if (c->want_out) {
		c->want_out = 0;
		ep_mod(r->ep, c->fd, EPOLLIN, c->id);
	}
	return 0;
}

static void echo_complete(struct echo_run *r, struct econn *c, uint64_t now)
{
	uint64_t sent = c->sent_ns[c->next_recv % (uint64_t)r->o->inflight];
	if (in_window(now, r->t_start, r->t_end)) {
		r->count++;
		hist_add(&r->h, now - sent);
	}
	if (c->bad)
		r->mismatches++;
	if (c->next_recv == 0)
		r->primed++;
	c->bad = 0;
	c->roff = 0;
	c->next_recv++;
	echo_expect(r, c);
}

/* Verify received bytes against the expected reply stream.  On a mismatch
 * the rest of that line is skipped up to its '\n' so one bad line is one
 * error and the stream stays in step. */
static void echo_consume(struct echo_run *r, struct econn *c, const char *p, size_t n,
			 uint64_t now)
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

static void echo_drop(struct echo_run *r, struct econn *c)
{
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	r->alive--;
	if (now_ns() < r->t_end)
		r->closed++;
}

static void echo_event(struct echo_run *r, struct econn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t k = recv(c->fd, rbuf, sizeof rbuf, 0);
		if (k == 0 || (k < 0 && !would_block() && errno != EINTR)) {
			echo_drop(r, c);
			return;
		}
		if (k > 0)
			echo_consume(r, c, rbuf, (size_t)k, now_ns());
	}
	if (echo_pump(r, c) < 0)
		echo_drop(r, c);
}

/* Connections are opened later, by echo_prime. */
static void echo_setup(struct echo_run *r, const struct opts *o)
{
	size_t S = (size_t)o->size, P = (size_t)o->inflight;
	size_t lines = 65536 / S ? 65536 / S : 1;
	r->o = o;
	r->n = r->alive = o->conns;
	r->wcap = S * (lines < P ? lines : P);
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
		echo_expect(r, c);
	}
}

static void echo_poll(struct echo_run *r, int cap_ms)
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
static void echo_prime(struct echo_run *r, const struct target *t)
{
	uint64_t now = now_ns(), deadline = now + PRIME_TIMEOUT_NS;
	int fds[PRIME_BATCH];
	r->window = 1;
	r->t_start = r->t_end = UINT64_MAX;
	for (int off = 0; off < r->n && now_ns() < deadline; off += PRIME_BATCH) {
		int m = r->n - off < PRIME_BATCH ? r->n - off : PRIME_BATCH;
		struct conn_report cr;
		connect_all(t, m, fds, &cr, deadline, NULL, NULL);
		if (cr.ok != m)
			fail2("could not connect to %s: %d of %d connections failed (%s)", t->desc,
			      r->n - off - cr.ok, r->n, cr.why);
		for (int j = 0; j < m; j++) {
			struct econn *c = &r->c[off + j];
			int one = 1;
			c->fd = fds[j];
			if (t->family != AF_UNIX)
				setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			ep_add(r->ep, c->fd, EPOLLIN, c->id);
			if (echo_pump(r, c) < 0)
				echo_drop(r, c);
		}
		while (r->primed < off + m && r->closed == 0 && (now = now_ns()) < deadline)
			echo_poll(r, ms_until(now, deadline, 100));
	}
	if (r->primed < r->n)
		fail2("only %d of %d connections were opened and answered their first line within"
		      " %d s (%" PRIu64 " closed by the server)", r->primed, r->n,
		      (int)(PRIME_TIMEOUT_NS / NS_PER_S),
		      r->closed);
	r->window = (uint64_t)r->o->inflight;
}

static void echo_loop(struct echo_run *r, const struct target *t)
{
	uint64_t now;
	echo_prime(r, t);
	now = now_ns();
	r->t_start = now + (uint64_t)r->o->warmup * NS_PER_S;
	r->t_end = r->t_start + (uint64_t)r->o->seconds * NS_PER_S;
	for (int i = 0; i < r->n; i++)
		if (r->c[i].fd >= 0 && echo_pump(r, &r->c[i]) < 0)
			echo_drop(r, &r->c[i]);
	while ((now = now_ns()) < r->t_end && r->alive > 0) {
		uint64_t next = now < r->t_start ? r->t_start : r->t_end;
		echo_poll(r, ms_until(now, next, 1000));
	}
}

static int echo_report(const struct echo_run *r, const struct target *t)
{
	const struct opts *o = r->o;
	uint64_t errors = r->mismatches + r->closed + r->unsolicited;
	double rate = (double)r->count / o->seconds;
	print_header(o, t);
	printf("  connections:   %d, %d lines of %d bytes in flight each\n", o->conns,
	       o->inflight, o->size);
	printf("  time:          %d s warm-up, %d s measured\n", o->warmup, o->seconds);
	printf("  round trips:   %" PRIu64 " (%.1f lines/s, %.1f MB/s each way)\n", r->count,
	       rate, rate * o->size / 1e6);
	print_latency("latency (us):", &r->h);
	printf("  errors:        %" PRIu64 " (mismatched lines %" PRIu64
	       ", connections closed %" PRIu64 ", unsolicited data %" PRIu64 ")\n",
	       errors, r->mismatches, r->closed, r->unsolicited);
	if (r->alive == 0)
		printf("  note:          every connection was closed; the run ended early\n");
	if (r->count == 0)
		printf("  note:          no round trip completed in the measured window\n");
	printf("RESULT mode=%s conns=%d inflight=%d size=%d seconds=%d rate=%.1f", mode_names[o->mode],
	       o->conns, o->inflight, o->size, o->seconds, rate);
	result_latency(&r->h);
	printf(" errors=%" PRIu64 " mismatches=%" PRIu64 " closed=%" PRIu64 " count=%" PRIu64 "\n",
	       errors, r->mismatches, r->closed, r->count);
	return errors || r->count == 0 ? 1 : 0;
}

static int run_echo(const struct opts *o)
{
	struct target t;
	resolve_target(o, &t, SOCK_STREAM);
	struct echo_run *r = xcalloc(1, sizeof *r);
	echo_setup(r, o);
	echo_loop(r, &t);
	return echo_report(r, &t);
}

/* ------------------------------------------------------------------ */
/* chat                                                                 */

enum chat_phase { CP_WELCOME, CP_DRAIN, CP_RUN };

/* redis: the channel everybody subscribes to.  plain: how often the two
 * sync senders speak while waiting for everybody to be in the room. */
#define REDIS_CHANNEL "echochat-bench"
#define SYNC_EVERY_NS (500 * NS_PER_MS)
/* Room kept in a sender's buffer for one more line (RESP framing included). */
#define CHAT_LINE_MAX 128
#define CHAT_CONNECT_BATCH 32

/* What the first element of a RESP array says the array is. */
enum { RK_OTHER, RK_MESSAGE, RK_SUBSCRIBE };

struct part {
	int fd, welcomed, overflow;
	size_t llen;
	char lbuf[CHAT_LBUF + 1];
	uint32_t *exp;       /* next seq expected from each sender */
	/* redis: where this subscriber is in the current RESP array */
	int resp_left;       /* elements still to come */
	int resp_idx;        /* index of the next element */
	int resp_kind;       /* RK_* */
	int resp_bulk;       /* the next line is a bulk string's contents */
	/* sender-only state */
	int wfd;             /* where lines go: fd, or (redis) a publisher connection */
	int want_out;        /* EPOLLOUT requested on wfd */
	int pub_bol;         /* redis publisher: at the start of a reply line */
	char *wbuf;
	size_t wlen, woff;
	uint64_t sent;       /* lines sent = next seq */
	uint64_t extra;      /* window credit granted after a stall */
	uint64_t progress;   /* last time the observer saw this sender advance */
};

struct chat_run {
	const struct opts *o;
	struct part *p;
	int n, k, observer, ep, welcomed;
	enum chat_phase phase;
	uint64_t t_start, t_end, sync_round;
	struct hist h;
	uint64_t deliveries, sent, losses, dups, self, unparsed, closed, stalls, refused;
	char said[160];      /* the first complaint the server made, for the report */
};

struct tmsg {
	uint64_t s, q, t;
};

/* Epoll ids: participant i is i; the publisher connection of redis
 * sender s is n + s. */
static uint32_t wid(const struct chat_run *r, int s)
{
	return (uint32_t)(r->o->proto == PR_REDIS ? r->n + s : s);
}

static void note_said(struct chat_run *r, const char *line, size_t len)
{
	if (!r->said[0])
		snprintf(r->said, sizeof r->said, "%.*s", (int)len, line);
}

/* Strict unsigned decimal followed by `term`. */
static int parse_u64(const char **pp, char term, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (*p != term)
		return 0;
	*out = v;
	*pp = p + 1;
	return 1;
}

/* The token "T <sender> <seq> <time-ns>" ending the line, at its start or
 * after a space: whatever a server puts in front ("<guest3> ", "<user7> ",
 * nothing at all) does not matter, but a token cut or glued to something
 * else does not parse, so a mangled line is never counted as delivered. */
static int parse_tmsg(const char *line, struct tmsg *m)
{
	for (const char *p = line; (p = strstr(p, "T ")) != NULL; p++) {
		if (p != line && p[-1] != ' ')
			continue;
		const char *q = p + 2;
		if (parse_u64(&q, ' ', &m->s) && parse_u64(&q, ' ', &m->q) &&
		    parse_u64(&q, '\0', &m->t))
			return 1;
	}
	return 0;
}

/* plain: "S <round>" (with any prefix) proves the receiver is in the room. */
static int is_sync(const char *line)
{
	for (const char *p = line; (p = strstr(p, "S ")) != NULL; p++) {
		const char *q = p + 2;
		uint64_t round;
		if ((p == line || p[-1] == ' ') && parse_u64(&q, '\0', &round))
			return 1;
	}
	return 0;
}

static void chat_close(struct chat_run *r, int *fdp)
{
	epoll_ctl(r->ep, EPOLL_CTL_DEL, *fdp, NULL);
	close(*fdp);
	*fdp = -1;
	if (r->phase != CP_RUN || now_ns() < r->t_end)
		r->closed++;
}

static void chat_drop(struct chat_run *r, int i)
{
	struct part *pt = &r->p[i];
	if (pt->wfd == pt->fd)
		pt->wfd = -1;
	chat_close(r, &pt->fd);
}

/* One line from sender s: a text line, or (redis) a PUBLISH command. */
static size_t chat_format(const struct chat_run *r, int s, uint64_t now, char *dst, size_t cap)
{
	char body[80];
	int n = snprintf(body, sizeof body, "T %d %" PRIu64 " %" PRIu64, s, r->p[s].sent, now);
	if (r->o->proto != PR_REDIS)
		return (size_t)snprintf(dst, cap, "%s\n", body);
	return (size_t)snprintf(dst, cap, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
				strlen(REDIS_CHANNEL), REDIS_CHANNEL, n, body);
}

/* Queue and send a sender's lines while the observer is fewer than P lines
 * behind it: a sender never hears its own lines, so the observer's view is
 * what tells us a line has made it through the server. */
static void chat_pump(struct chat_run *r, int s)
{
	struct part *pt = &r->p[s];
	uint64_t now = now_ns();
	if (pt->wfd < 0 || r->phase != CP_RUN || now >= r->t_end)
		return;
	uint64_t allowed = r->p[r->observer].exp[s] + (uint64_t)r->o->inflight + pt->extra;
	if (pt->woff == pt->wlen)
		pt->woff = pt->wlen = 0;
	while (pt->sent < allowed && CHAT_WBUF - pt->wlen >= CHAT_LINE_MAX) {
		pt->wlen += chat_format(r, s, now, pt->wbuf + pt->wlen, CHAT_WBUF - pt->wlen);
		pt->sent++;
		if (in_window(now, r->t_start, r->t_end))
			r->sent++;
	}
	while (pt->woff < pt->wlen) {
		ssize_t k = send(pt->wfd, pt->wbuf + pt->woff, pt->wlen - pt->woff, MSG_NOSIGNAL);
		if (k > 0) {
			pt->woff += (size_t)k;
		} else if (k < 0 && would_block()) {
			pt->want_out = 1;
			ep_mod(r->ep, pt->wfd, EPOLLIN | EPOLLOUT, wid(r, s));
			return;
		} else if (!(k < 0 && errno == EINTR)) {
			if (pt->wfd == pt->fd)
				chat_drop(r, s);
			else
				chat_close(r, &pt->wfd);
			return;
		}
	}
	if (pt->want_out) {
		pt->want_out = 0;
		ep_mod(r->ep, pt->wfd, EPOLLIN, wid(r, s));
	}
}

static void chat_deliver(struct chat_run *r, int i, const struct tmsg *m, uint64_t now)
{
	uint32_t *e = &r->p[i].exp[m->s];
	if (m->s == (uint64_t)i) {
		/* A sender's own line came back: an error for a chat room, what
		 * pub/sub always does to a sender that is also subscribed. */
		r->self++;
		return;
	}
	if (m->q < *e) {
		r->dups++;
		return;
	}
	if (m->q > *e)
		r->losses += m->q - *e;
	*e = (uint32_t)(m->q + 1);
	if (in_window(now, r->t_start, r->t_end)) {
		r->deliveries++;
		hist_add(&r->h, now > m->t ? now - m->t : 0);
	}
	if (i == r->observer) {
		r->p[m->s].progress = now;
		chat_pump(r, (int)m->s);
	}
}

static void mark_in(struct chat_run *r, struct part *pt)
{
	if (!pt->welcomed) {
		pt->welcomed = 1;
		r->welcomed++;
	}
}

/* A delivered line (redis: a message's payload). */
static void chat_text(struct chat_run *r, int i, const char *line, uint64_t now)
{
	if (r->phase != CP_RUN)
		return; /* anything before the run (e.g. join chatter) is drained */
	struct tmsg m;
	if (!parse_tmsg(line, &m) || m.s >= (uint64_t)r->k) {
		r->unparsed++;
		return;
	}
	chat_deliver(r, i, &m, now);
}

/* redis: one element of the RESP array being received.  A subscriber
 * only ever gets ["subscribe", channel, count] and then
 * ["message", channel, payload]. */
static void resp_element(struct chat_run *r, int i, const char *el, uint64_t now)
{
	struct part *pt = &r->p[i];
	if (pt->resp_left <= 0) {
		r->unparsed++;
		return;
	}
	if (pt->resp_idx == 0)
		pt->resp_kind = strcmp(el, "message") == 0 ? RK_MESSAGE
			      : strcmp(el, "subscribe") == 0 ? RK_SUBSCRIBE : RK_OTHER;
	else if (pt->resp_idx == 2 && pt->resp_kind == RK_MESSAGE)
		chat_text(r, i, el, now);
	else if (pt->resp_idx == 2 && pt->resp_kind == RK_SUBSCRIBE)
		mark_in(r, pt);
	pt->resp_idx++;
	pt->resp_left--;
}

/* redis: RESP2 is CRLF-terminated lines, and our payloads hold no CR or
 * LF, so a bulk string's contents are exactly the line after its "$len". */
static void resp_line(struct chat_run *r, int i, const char *line, size_t len, uint64_t now)
{
	struct part *pt = &r->p[i];
	if (pt->resp_bulk) {
		pt->resp_bulk = 0;
		resp_element(r, i, line, now);
	} else if (line[0] == '*') {
		pt->resp_left = atoi(line + 1);
		pt->resp_idx = 0;
		pt->resp_kind = RK_OTHER;
	} else if (line[0] == '$') {
		if (atoi(line + 1) >= 0)
			pt->resp_bulk = 1;
		else
			resp_element(r, i, "", now); /* null bulk string */
	} else if (line[0] == ':') {
		resp_element(r, i, line + 1, now);
	} else {
		if (line[0] == '-')
			note_said(r, line, len);
		r->unparsed++;
	}
}

static void chat_line(struct chat_run *r, int i, char *line, size_t len, uint64_t now)
{
	struct part *pt = &r->p[i];
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	switch (r->o->proto) {
	case PR_ECHOCHAT:
		if (len >= 4 && memcmp(line, "*** ", 4) == 0) {
			if (!pt->welcomed && strncmp(line + 4, "Welcome", 7) == 0)
				mark_in(r, pt);
			else if (strncmp(line + 4, "error", 5) == 0)
				note_said(r, line, len);
			return;
		}
		break;
	case PR_PLAIN:
		if (is_sync(line)) {
			mark_in(r, pt);
			return;
		}
		break;
	case PR_REDIS:
		resp_line(r, i, line, len, now);
		return;
	}
	chat_text(r, i, line, now);
}

/* Split the byte stream into lines; a line longer than the buffer is
 * dropped whole (and counted as unparsed) rather than misparsed. */
static void chat_feed(struct chat_run *r, int i, const char *p, size_t n, uint64_t now)
{
	struct part *pt = &r->p[i];
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (pt->llen + take > CHAT_LBUF) {
			pt->overflow = 1;
			pt->llen = 0;
		} else if (!pt->overflow) {
			memcpy(pt->lbuf + pt->llen, p, take);
			pt->llen += take;
		}
		if (!nl)
			return;
		pt->lbuf[pt->llen] = '\0';
		if (pt->overflow) {
			if (r->phase == CP_RUN)
				r->unparsed++;
		} else {
			chat_line(r, i, pt->lbuf, pt->llen, now);
		}
		pt->llen = 0;
		pt->overflow = 0;
		p = nl + 1;
		n -= take + 1;
	}
}

/* redis publisher connection: every reply to PUBLISH must be an integer
 * (":N", the number of subscribers reached); anything else is an error. */
static void pub_event(struct chat_run *r, int s, uint32_t events)
{
	struct part *pt = &r->p[s];
	if (pt->wfd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t k = recv(pt->wfd, rbuf, sizeof rbuf, 0);
		if (k == 0 || (k < 0 && !would_block() && errno != EINTR)) {
			chat_close(r, &pt->wfd);
			return;
		}
		for (ssize_t j = 0; j < k; j++) {
			if (pt->pub_bol && rbuf[j] != ':') {
				const char *nl = memchr(rbuf + j, '\n', (size_t)(k - j));
				note_said(r, rbuf + j, nl ? (size_t)(nl - (rbuf + j)) : (size_t)(k - j));
				r->refused++;
			}
			pt->pub_bol = rbuf[j] == '\n';
		}
	}
	if ((events & EPOLLOUT) && pt->wfd >= 0)
		chat_pump(r, s);
}

static void chat_event(struct chat_run *r, uint32_t id, uint32_t events)
{
	if (id >= (uint32_t)r->n) {
		pub_event(r, (int)(id - (uint32_t)r->n), events);
		return;
	}
	int i = (int)id;
	struct part *pt = &r->p[i];
	if (pt->fd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t k = recv(pt->fd, rbuf, sizeof rbuf, 0);
		if (k == 0 || (k < 0 && !would_block() && errno != EINTR)) {
			chat_drop(r, i);
			return;
		}
		if (k > 0)
			chat_feed(r, i, rbuf, (size_t)k, now_ns());
	}
	if ((events & EPOLLOUT) && pt->fd >= 0 && pt->wfd == pt->fd && i < r->k)
		chat_pump(r, i);
}

/* Run the event loop until `deadline`, or (if `until_welcomed`) until
 * everybody is in the room. */
static void chat_poll_until(struct chat_run *r, uint64_t deadline, int until_welcomed)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now;
	while ((now = now_ns()) < deadline) {
		if (until_welcomed && r->welcomed == r->n)
			return;
		int k = epoll_wait(r->ep, evs, MAX_EVENTS, ms_until(now, deadline, 100));
		for (int j = 0; j < k; j++)
			chat_event(r, evs[j].data.u32, evs[j].events);
	}
}

/* If the observer has seen nothing from a blocked sender for a while
 * (lines lost, observer gone), grant another window so the run goes on;
 * the gap shows up as losses and the stall is reported. */
static void chat_check_stalls(struct chat_run *r, uint64_t now)
{
	for (int s = 0; s < r->k; s++) {
		struct part *pt = &r->p[s];
		uint64_t allowed = r->p[r->observer].exp[s] + (uint64_t)r->o->inflight + pt->extra;
		if (pt->wfd >= 0 && pt->sent >= allowed && now - pt->progress > CHAT_STALL_NS) {
			r->stalls++;
			pt->extra += (uint64_t)r->o->inflight;
			pt->progress = now;
			chat_pump(r, s);
		}
	}
}

static void chat_run_phase(struct chat_run *r)
{
	uint64_t now = now_ns();
	r->phase = CP_RUN;
	r->t_start = now + (uint64_t)r->o->warmup * NS_PER_S;
	r->t_end = r->t_start + (uint64_t)r->o->seconds * NS_PER_S;
	for (int s = 0; s < r->k; s++) {
		r->p[s].progress = now;
		chat_pump(r, s);
	}
	while ((now = now_ns()) < r->t_end) {
		chat_poll_until(r, now + 100 * NS_PER_MS < r->t_end ? now + 100 * NS_PER_MS : r->t_end,
				0);
		chat_check_stalls(r, now_ns());
	}
}

/* Participants are attached as they connect (chat_connect). */
static void chat_setup(struct chat_run *r, const struct opts *o)
{
	r->o = o;
	r->n = o->conns;
	r->k = o->senders;
	r->observer = r->n - 1; /* never a sender, so it hears every sender */
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->p = xcalloc((size_t)r->n, sizeof *r->p);
	for (int i = 0; i < r->n; i++) {
		struct part *pt = &r->p[i];
		pt->fd = pt->wfd = -1;
		pt->exp = xcalloc((size_t)r->k, sizeof *pt->exp);
		if (i < r->k) {
			pt->wbuf = xcalloc(CHAT_WBUF, 1);
			pt->pub_bol = 1;
		}
	}
}

/* Connection j: participant j, or (redis) the publisher of sender j - n. */
static void chat_attach(struct chat_run *r, int j, int fd)
{
	if (j < r->n) {
		r->p[j].fd = fd;
		if (j < r->k && r->o->proto != PR_REDIS)
			r->p[j].wfd = fd;
		ep_add(r->ep, fd, EPOLLIN, (uint32_t)j);
	} else {
		r->p[j - r->n].wfd = fd;
		ep_add(r->ep, fd, EPOLLIN, wid(r, j - r->n));
	}
}

/* Read whatever has arrived, without waiting. */
static void chat_service(void *ctx)
{
	struct chat_run *r = ctx;
	struct epoll_event evs[MAX_EVENTS];
	int k;
	do {
		k = epoll_wait(r->ep, evs, MAX_EVENTS, 0);
		for (int j = 0; j < k; j++)
			chat_event(r, evs[j].data.u32, evs[j].events);
	} while (k == MAX_EVENTS);
}

/* Open every connection, CHAT_CONNECT_BATCH at a time, reading what
 * arrives on those already open in between: a server that greets
 * newcomers and announces them to everybody (ncat --chat does both, with
 * blocking writes) would otherwise stall on participants that are not
 * read yet, as no real chat client would let it. */
static void chat_connect(struct chat_run *r, const struct target *t, int total)
{
	int fds[CHAT_CONNECT_BATCH];
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_NS;
	for (int off = 0; off < total; off += CHAT_CONNECT_BATCH) {
		int m = total - off < CHAT_CONNECT_BATCH ? total - off : CHAT_CONNECT_BATCH;
		struct conn_report cr;
		connect_all(t, m, fds, &cr, deadline, chat_service, r);
		if (cr.ok != m)
			fail2("could not connect to %s: %d of %d connections failed (%s)", t->desc,
			      total - off - cr.ok, total, cr.why);
		for (int j = 0; j < m; j++) {
			int one = 1;
			if (t->family != AF_UNIX)
				setsockopt(fds[j], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			chat_attach(r, off + j, fds[j]);
		}
		chat_service(r);
	}
}

/* A short command on a fresh connection: it fits the socket buffer. */
static void send_small(struct chat_run *r, int i, const char *buf, size_t len)
{
	int fd = r->p[i].fd;
	if (fd >= 0 && send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		chat_drop(r, i);
}

/* Get everybody into the room: echochat says welcome; redis confirms each
 * SUBSCRIBE; a plain server says nothing, so participants 0 and 1 send
 * "S <round>" lines until everybody has heard one (0 and 1 hear each
 * other), which proves the server relays to every connection.
 *
 * From the second round on, a plain participant still waiting sends an
 * empty line: should a burst of connects have overflowed the listen
 * backlog after all (connect_all paces them only where the kernel shows
 * the accept queue), the kernel answered with SYN cookies and dropped
 * final ACKs, and only data from our side completes such a handshake. */
static void chat_join(struct chat_run *r)
{
	uint64_t now = now_ns(), deadline = now + WELCOME_TIMEOUT_NS, next_sync = now;
	if (r->o->proto == PR_REDIS) {
		char cmd[96];
		int len = snprintf(cmd, sizeof cmd, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n",
				   strlen(REDIS_CHANNEL), REDIS_CHANNEL);
		for (int i = 0; i < r->n; i++)
			send_small(r, i, cmd, (size_t)len);
	}
	while (r->welcomed < r->n && (now = now_ns()) < deadline) {
		if (r->o->proto == PR_PLAIN && now >= next_sync) {
			char line[32];
			int len = snprintf(line, sizeof line, "S %" PRIu64 "\n", r->sync_round++);
			send_small(r, 0, line, (size_t)len);
			send_small(r, 1, line, (size_t)len);
			for (int i = 2; r->sync_round > 1 && i < r->n; i++)
				if (!r->p[i].welcomed)
					send_small(r, i, "\n", 1);
			next_sync = now + SYNC_EVERY_NS;
		}
		uint64_t until = r->o->proto == PR_PLAIN && next_sync < deadline ? next_sync : deadline;
		chat_poll_until(r, until, 1);
	}
}

static const char *join_what(enum proto p)
{
	return p == PR_REDIS ? "had their SUBSCRIBE confirmed"
	     : p == PR_PLAIN ? "heard a sync line" : "got a welcome line";
}

static int chat_report(const struct chat_run *r, const struct target *t)
{
	const struct opts *o = r->o;
	int redis = o->proto == PR_REDIS;
	uint64_t errors = (redis ? 0 : r->self) + r->closed + r->refused;
	double rate = (double)r->deliveries / o->seconds;
	double srate = (double)r->sent / o->seconds;
	print_header(o, t);
	printf("  protocol:      %s\n", proto_names[o->proto]);
	printf("  participants:  %d (%d senders, participant %d observes for pacing)\n", r->n,
	       r->k, r->observer);
	printf("  window:        %d lines per sender; %d s warm-up, %d s measured\n", o->inflight,
	       o->warmup, o->seconds);
	printf("  sent:          %" PRIu64 " lines (%.1f lines/s)\n", r->sent, srate);
	printf("  deliveries:    %" PRIu64 " (%.1f deliveries/s, %d receivers per line)\n",
	       r->deliveries, rate, r->n - 1);
	print_latency("latency (us):", &r->h);
	printf("  losses:        %" PRIu64 "\n", r->losses);
	printf("  dups/reorder:  %" PRIu64 "\n", r->dups);
	if (redis)
		printf("  errors:        %" PRIu64 " (connections closed %" PRIu64
		       ", PUBLISH refused %" PRIu64 ")\n", errors, r->closed, r->refused);
	else
		printf("  errors:        %" PRIu64 " (own line echoed %" PRIu64
		       ", connections closed %" PRIu64 ")\n", errors, r->self, r->closed);
	printf("  other:         unparsed lines %" PRIu64 ", pacing stalls %" PRIu64 "\n",
	       r->unparsed, r->stalls);
	if (redis)
		printf("  note:          %" PRIu64 " own lines heard back (pub/sub delivers to the"
		       " sender's own subscription; not counted)\n", r->self);
	if (r->said[0])
		printf("  server said:   %s\n", r->said);
	if (r->deliveries == 0)
		printf("  note:          no line was delivered in the measured window\n");
	printf("RESULT mode=chat proto=%s conns=%d senders=%d inflight=%d seconds=%d rate=%.1f",
	       proto_names[o->proto], r->n, r->k, o->inflight, o->seconds, rate);
	result_latency(&r->h);
	printf(" losses=%" PRIu64 " dups=%" PRIu64 " errors=%" PRIu64 " sent_rate=%.1f"
	       " unparsed=%" PRIu64 " stalls=%" PRIu64 "\n",
	       r->losses, r->dups, errors, srate, r->unparsed, r->stalls);
	return r->losses || r->dups || errors || r->deliveries == 0 ? 1 : 0;
}

static int run_chat(const struct opts *o)
{
	struct target t;
	resolve_target(o, &t, SOCK_STREAM);
	int extra = o->proto == PR_REDIS ? o->senders : 0;
	struct chat_run *r = xcalloc(1, sizeof *r);
	chat_setup(r, o);
	chat_connect(r, &t, o->conns + extra);
	chat_join(r);
	if (r->welcomed != r->n)
		fail2("only %d of %d participants %s from %s (%" PRIu64 " connections closed%s%s)",
		      r->welcomed, r->n, join_what(o->proto), t.desc, r->closed,
		      r->said[0] ? "; server said: " : "", r->said);
	r->phase = CP_DRAIN;
	chat_poll_until(r, now_ns() + CHAT_DRAIN_NS, 0);
	if (r->closed)
		fail2("%" PRIu64 " participants were disconnected before the run%s%s", r->closed,
		      r->said[0] ? "; server said: " : "", r->said);
	chat_run_phase(r);
	return chat_report(r, &t);
}

/* ------------------------------------------------------------------ */
/* udp                                                                  */

enum { U_FREE, U_FLIGHT, U_PENDING };

/* Slot i of a socket carries seqs i, i+P, i+2P, ... so a reply's seq
 * names its slot directly and a late reply (seq below the slot's current
 * one) is recognised as belonging to a datagram already written off. */
struct uconn {
	int fd, want_out;
	uint64_t *seq, *sent_ns;
	unsigned char *st;
};

struct udp_run {
	const struct opts *o;
	struct gen g;
	struct uconn *c;
	int n, ep;
	char *scratch;
	uint64_t t_start, t_end;
	struct hist h;
	uint64_t replies, all_replies, losses, late, mismatches, refused;
};

static void udp_send_slot(struct udp_run *r, uint32_t ci, unsigned slot, uint64_t now)
{
	struct uconn *c = &r->c[ci];
	gen_line(&r->g, ci, c->seq[slot], r->scratch);
	ssize_t k = send(c->fd, r->scratch, r->g.size, 0);
	if (k == (ssize_t)r->g.size) {
		c->st[slot] = U_FLIGHT;
		c->sent_ns[slot] = now;
		return;
	}
	c->st[slot] = U_PENDING; /* retried on EPOLLOUT or on the next tick */
	if (k < 0 && errno == ECONNREFUSED)
		r->refused++;
	if (k < 0 && would_block() && !c->want_out) {
		c->want_out = 1;
		ep_mod(r->ep, c->fd, EPOLLIN | EPOLLOUT, ci);
	}
}

static void udp_reply(struct udp_run *r, uint32_t ci, const char *buf, size_t len, uint64_t now)
{
	struct uconn *c = &r->c[ci];
	uint64_t P = (uint64_t)r->o->inflight, conn, seq;
	if (len != r->g.size || !decode_hdr(buf, &conn, &seq) || conn != ci) {
		r->mismatches++;
		return;
	}
	unsigned slot = (unsigned)(seq % P);
	if (c->st[slot] != U_FLIGHT || c->seq[slot] != seq) {
		if (seq < c->seq[slot])
			r->late++;
		else
			r->mismatches++;
		return;
	}
	gen_line(&r->g, ci, seq, r->scratch);
	if (memcmp(buf, r->scratch, len) != 0)
		r->mismatches++;
	r->all_replies++;
	if (in_window(now, r->t_start, r->t_end)) {
		r->replies++;
		hist_add(&r->h, now - c->sent_ns[slot]);
	}
	c->seq[slot] += P;
	udp_send_slot(r, ci, slot, now);
}

static void udp_event(struct udp_run *r, uint32_t ci, uint32_t events)
{
	struct uconn *c = &r->c[ci];
	for (int i = 0; i < 64 && (events & (EPOLLIN | EPOLLERR)); i++) {
		ssize_t k = recv(c->fd, rbuf, sizeof rbuf, 0);
		if (k < 0 && errno == ECONNREFUSED) {
			r->refused++; /* ICMP port unreachable: nobody listening */
			continue;
		}
		if (k < 0)
			break;
		udp_reply(r, ci, rbuf, (size_t)k, now_ns());
	}
	if (events & EPOLLOUT) {
		c->want_out = 0;
		ep_mod(r->ep, c->fd, EPOLLIN, ci);
		uint64_t now = now_ns();
		for (unsigned s = 0; s < (unsigned)r->o->inflight; s++)
			if (c->st[s] == U_PENDING)
				udp_send_slot(r, ci, s, now);
	}
}

/* Write off datagrams unanswered for UDP_LOSS_NS and replace them; retry
 * sends that could not go out. */
static void udp_tick(struct udp_run *r, uint64_t now)
{
	uint64_t P = (uint64_t)r->o->inflight;
	for (int ci = 0; ci < r->n; ci++) {
		struct uconn *c = &r->c[ci];
		for (unsigned s = 0; s < P; s++) {
			if (c->st[s] == U_FLIGHT && now - c->sent_ns[s] > UDP_LOSS_NS) {
				if (in_window(now, r->t_start, r->t_end))
					r->losses++;
				c->seq[s] += P;
				udp_send_slot(r, (uint32_t)ci, s, now);
			} else if (c->st[s] == U_PENDING) {
				udp_send_slot(r, (uint32_t)ci, s, now);
			}
		}
	}
}

static void udp_setup(struct udp_run *r, const struct opts *o, const struct target *t)
{
	size_t P = (size_t)o->inflight;
	r->o = o;
	r->n = o->conns;
	gen_init(&r->g, (size_t)o->size);
	r->scratch = xcalloc((size_t)o->size, 1);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->c = xcalloc((size_t)r->n, sizeof *r->c);
	for (int i = 0; i < r->n; i++) {
		struct uconn *c = &r->c[i];
		/* connect() so we only hear from the server and get ICMP errors */
		c->fd = socket(t->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&t->addr, t->len) < 0)
			fail2("udp socket %d for %s: %s", i, t->desc, strerror(errno));
		c->seq = xcalloc(P, sizeof *c->seq);
		c->sent_ns = xcalloc(P, sizeof *c->sent_ns);
		c->st = xcalloc(P, 1);
		for (size_t s = 0; s < P; s++)
			c->seq[s] = s;
		ep_add(r->ep, c->fd, EPOLLIN, (uint32_t)i);
	}
}

static void udp_loop(struct udp_run *r)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now = now_ns(), next_tick = now;
	r->t_start = now + (uint64_t)r->o->warmup * NS_PER_S;
	r->t_end = r->t_start + (uint64_t)r->o->seconds * NS_PER_S;
	for (int ci = 0; ci < r->n; ci++)
		for (unsigned s = 0; s < (unsigned)r->o->inflight; s++)
			udp_send_slot(r, (uint32_t)ci, s, now);
	while ((now = now_ns()) < r->t_end) {
		if (now >= next_tick) {
			udp_tick(r, now);
			next_tick = now + UDP_TICK_MS * NS_PER_MS;
		}
		int k = epoll_wait(r->ep, evs, MAX_EVENTS, ms_until(now, next_tick, UDP_TICK_MS));
		for (int j = 0; j < k; j++)
			udp_event(r, evs[j].data.u32, evs[j].events);
	}
}

static int udp_report(const struct udp_run *r, const struct target *t)
{
	const struct opts *o = r->o;
	double rate = (double)r->replies / o->seconds;
	print_header(o, t);
	printf("  sockets:       %d, %d datagrams of %d bytes in flight each\n", o->conns,
	       o->inflight, o->size);
	printf("  time:          %d s warm-up, %d s measured\n", o->warmup, o->seconds);
	printf("  replies:       %" PRIu64 " (%.1f replies/s)\n", r->replies, rate);
	print_latency("latency (us):", &r->h);
	printf("  lost:          %" PRIu64 " (no reply within 1 s; %" PRIu64 " late replies)\n",
	       r->losses, r->late);
	printf("  errors:        %" PRIu64 " (mismatched replies)\n", r->mismatches);
	printf("RESULT mode=udp conns=%d inflight=%d size=%d seconds=%d rate=%.1f", o->conns,
	       o->inflight, o->size, o->seconds, rate);
	result_latency(&r->h);
	printf(" errors=%" PRIu64 " losses=%" PRIu64 " late=%" PRIu64 "\n", r->mismatches,
	       r->losses, r->late);
	return r->mismatches || r->replies == 0 ? 1 : 0;
}

static int run_udp(const struct opts *o)
{
	struct target t;
	resolve_target(o, &t, SOCK_DGRAM);
	struct udp_run *r = xcalloc(1, sizeof *r);
	udp_setup(r, o, &t);
	udp_loop(r);
	if (r->all_replies == 0)
		fail2("no reply from %s (%s)", t.desc,
		      r->refused ? "connection refused: nothing listening" : "every datagram lost");
	return udp_report(r, &t);
}

/* ------------------------------------------------------------------ */
/* idle                                                                 */

/* VmRSS of `pid` in kB, or -1 if it cannot be read. */
static long read_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static long rss_or_die(long pid)
{
	long kb = read_rss_kb(pid);
	if (kb < 0)
		fail2("cannot read VmRSS from /proc/%ld/status: %s", pid,
		      errno ? strerror(errno) : "no VmRSS line");
	return kb;
}

struct idle_run {
	int *fds;
	int n, ep, open;
	int dropped;
	int fds0, held; /* --pid: the server's descriptors before; how many more it took */
	long rss[3]; /* before, all open (+settle), after the hold */
};

/* Servers may greet (chat welcome, join notices): read and discard, and
 * notice connections the server closes. */
static void idle_event(struct idle_run *r, uint32_t i)
{
	int fd = r->fds[i];
	if (fd < 0)
		return;
	ssize_t k = recv(fd, rbuf, sizeof rbuf, 0);
	if (k > 0 || (k < 0 && (would_block() || errno == EINTR)))
		return;
	epoll_ctl(r->ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	r->fds[i] = -1;
	r->dropped++;
}

static void idle_poll(struct idle_run *r, int cap_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int k = epoll_wait(r->ep, evs, MAX_EVENTS, cap_ms);
	for (int j = 0; j < k; j++)
		idle_event(r, evs[j].data.u32);
}

static void idle_hold(struct idle_run *r, const struct opts *o, int opened)
{
	uint64_t now = now_ns(), settle, end, deadline = now + ACCEPT_WAIT_NS;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < r->n; i++)
		if (r->fds[i] >= 0)
			ep_add(r->ep, r->fds[i], EPOLLIN | EPOLLRDHUP, (uint32_t)i);
	/* The server accepts asynchronously: with --pid, wait (bounded) until
	 * it holds a descriptor for each connection, then sample "all open" a
	 * moment later still. */
	while (o->pid && (r->held = count_fds(o->pid) - r->fds0) < opened - r->dropped &&
	       (now = now_ns()) < deadline)
		idle_poll(r, 10);
	now = now_ns();
	settle = now + IDLE_SETTLE_NS;
	end = now + (uint64_t)o->seconds * NS_PER_S;
	while ((now = now_ns()) < end) {
		if (o->pid && r->rss[1] < 0 && now >= settle)
			r->rss[1] = rss_or_die(o->pid);
		uint64_t wake = r->rss[1] < 0 && o->pid && settle < end ? settle : end;
		idle_poll(r, ms_until(now, wake, 1000));
	}
	if (o->pid) {
		if (r->rss[1] < 0)
			r->rss[1] = rss_or_die(o->pid);
		r->rss[2] = rss_or_die(o->pid);
	}
}

static double per_conn(long before_kb, long after_kb, int n)
{
	return n > 0 ? (double)(after_kb - before_kb) * 1024.0 / n : 0.0;
}

static int idle_report(const struct idle_run *r, const struct opts *o, const struct target *t,
		       const struct conn_report *cr)
{
	print_header(o, t);
	printf("  connections:   %d of %d opened in %.1f ms, %d failed%s%s%s\n", cr->ok, o->conns,
	       cr->elapsed_ns / 1e6, cr->failed, cr->why[0] ? " (first: " : "", cr->why,
	       cr->why[0] ? ")" : "");
	printf("  held:          %d s, %d closed by the server\n", o->seconds, r->dropped);
	int unseen = o->pid && r->held < cr->ok - r->dropped ? cr->ok - r->dropped - r->held : 0;
	if (o->pid) {
		printf("  server fds:    +%d (%d connections it never took)\n", r->held, unseen);
		printf("  server RSS:    %ld kB before, %ld kB with all open, %ld kB after %d s\n",
		       r->rss[0], r->rss[1], r->rss[2], o->seconds);
		printf("  RSS per conn:  %.0f bytes (all open), %.0f bytes (after hold)\n",
		       per_conn(r->rss[0], r->rss[1], cr->ok), per_conn(r->rss[0], r->rss[2], cr->ok));
	}
	printf("RESULT mode=idle conns=%d opened=%d failed=%d dropped=%d seconds=%d connect_ms=%.1f",
	       o->conns, cr->ok, cr->failed, r->dropped, o->seconds, cr->elapsed_ns / 1e6);
	if (o->pid)
		printf(" server_fds=%d rss_before_kb=%ld rss_open_kb=%ld rss_held_kb=%ld"
		       " rss_per_conn_bytes=%.0f rss_per_conn_held_bytes=%.0f", r->held, r->rss[0],
		       r->rss[1], r->rss[2], per_conn(r->rss[0], r->rss[1], cr->ok),
		       per_conn(r->rss[0], r->rss[2], cr->ok));
	printf(" errors=%d\n", cr->failed + r->dropped + unseen);
	return cr->failed || r->dropped || unseen ? 1 : 0;
}

static int run_idle(const struct opts *o)
{
	struct target t;
	struct conn_report cr;
	struct idle_run r = { .n = o->conns, .rss = { -1, -1, -1 } };
	resolve_target(o, &t, SOCK_STREAM);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)o->conns + 16)
		fprintf(stderr, "echochat-bench: warning: RLIMIT_NOFILE is %llu, below %d + a few\n",
			(unsigned long long)rl.rlim_cur, o->conns);
	if (o->pid) {
		/* A server still closing the connections of a previous run would
		 * make "before" too high: wait (bounded) for its descriptor count
		 * to hold still for 100 ms. */
		uint64_t settle_end = now_ns() + IDLE_QUIET_MAX_NS;
		r.fds0 = count_fds(o->pid);
		if (r.fds0 < 0)
			fail2("cannot list /proc/%ld/fd: %s", o->pid, strerror(errno));
		for (int prev = -1; r.fds0 != prev && now_ns() < settle_end;) {
			prev = r.fds0;
			usleep(100000);
			r.fds0 = count_fds(o->pid);
		}
		r.rss[0] = rss_or_die(o->pid);
	}
	r.fds = xcalloc((size_t)r.n, sizeof *r.fds);
	connect_all(&t, r.n, r.fds, &cr, now_ns() + CONNECT_TIMEOUT_NS, NULL, NULL);
	if (cr.ok == 0)
		fail2("could not open any connection to %s (%s)", t.desc, cr.why);
	idle_hold(&r, o, cr.ok);
	return idle_report(&r, o, &t, &cr);
}

/* ------------------------------------------------------------------ */
/* command line                                                         */

static long parse_num(const char *s, long min, long max, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error("%s must be an integer in %ld..%ld, got '%s'", what, min, max, s);
	return v;
}

static enum mode parse_mode(const char *s)
{
	for (unsigned i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
		if (strcmp(s, mode_names[i]) == 0)
			return (enum mode)i;
	usage_error("unknown mode '%s'", s);
	return M_ECHO;
}

static enum proto parse_proto(const char *s)
{
	for (unsigned i = 0; i < sizeof proto_names / sizeof proto_names[0]; i++)
		if (strcmp(s, proto_names[i]) == 0)
			return (enum proto)i;
	usage_error("unknown --proto '%s' (echochat, plain or redis)", s);
	return PR_ECHOCHAT;
}

static void parse_flag(struct opts *o, int c, const char *arg, int *conns_set)
{
	switch (c) {
	case 'h': o->host = arg; break;
	case 'p': o->port = (int)parse_num(arg, 1, 65535, "-p PORT"); break;
	case 'c': o->conns = (int)parse_num(arg, 1, 1000000, "-c CONNS"); *conns_set = 1; break;
	case 'P': o->inflight = (int)parse_num(arg, 1, 100000, "-P INFLIGHT"); break;
	case 's': o->size = (int)parse_num(arg, 1, 1 << 24, "-s SIZE"); break;
	case 'd': o->seconds = (int)parse_num(arg, 1, 3600, "-d SECONDS"); break;
	case 'w': o->warmup = (int)parse_num(arg, 0, 3600, "-w WARMUP_SECONDS"); break;
	case 'k': o->senders = (int)parse_num(arg, 1, 1000000, "-k SENDERS"); break;
	case 'u': o->unix_path = arg; break;
	case 'I': o->pid = parse_num(arg, 1, 1L << 30, "--pid PID"); break;
	case 'R': o->proto = parse_proto(arg); break;
	case 'S': o->proto = PR_REDIS; break;
	case 'H': fputs(usage_text, stdout); exit(0);
	default: usage_error("bad option");
	}
}

/* Cross-option checks that depend on the mode. */
static void check_opts(struct opts *o, int conns_set)
{
	if (o->mode == M_UDP && !conns_set)
		o->conns = 1;
	if (o->mode == M_UDP && o->unix_path)
		usage_error("udp mode cannot use -u");
	if (o->mode == M_UDP && (o->size < HDR_LEN + 1 || o->size > UDP_MAX_SIZE))
		usage_error("udp datagram size must be %d..%d", HDR_LEN + 1, UDP_MAX_SIZE);
	if (o->pid && o->mode != M_IDLE)
		usage_error("--pid is only meaningful in idle mode");
	if (o->proto != PR_ECHOCHAT && o->mode != M_CHAT)
		usage_error("--proto/--redis are only meaningful in chat mode");
	if (o->mode != M_CHAT)
		return;
	if (o->conns < 2)
		usage_error("chat needs at least 2 participants (-c)");
	if (o->senders > o->conns - 1) {
		fprintf(stderr, "echochat-bench: note: -k %d lowered to %d (the last participant "
			"only observes)\n", o->senders, o->conns - 1);
		o->senders = o->conns - 1;
	}
	if ((uint64_t)o->conns * (uint64_t)o->senders > 50000000ull)
		usage_error("chat: -c x -k too large for per-sender order tracking");
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'I' },
		{ "proto", required_argument, NULL, 'R' },
		{ "redis", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c, conns_set = 0;
	*o = (struct opts){ .host = "127.0.0.1", .port = 7007, .conns = 100, .inflight = 16,
			    .size = 64, .seconds = 5, .warmup = 1, .senders = 10 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h:p:c:P:s:d:w:k:u:", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			usage_error("bad or incomplete option '%s'", argv[optind - 1]);
		parse_flag(o, c, optarg, &conns_set);
	}
	if (optind != argc - 1)
		usage_error(optind >= argc ? "missing MODE" : "exactly one MODE expected");
	o->mode = parse_mode(argv[optind]);
	check_opts(o, conns_set);
}

int main(int argc, char **argv)
{
	struct opts o;
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN); /* a dying server must be an error, not our death */
	raise_nofile();
	switch (o.mode) {
	case M_ECHO:
	case M_UPPER: return run_echo(&o);
	case M_CHAT: return run_chat(&o);
	case M_UDP: return run_udp(&o);
	case M_IDLE: return run_idle(&o);
	}
	return 2;
}
