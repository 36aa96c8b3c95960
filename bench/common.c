/*
 * common.c -- what more than one mode of echochat-bench uses: the clock,
 * the exits and the epoll helpers, the latency histogram, the line
 * generator, the target address and the paced opening of connections.
 *
 * Any address may be measured; one that is not loopback gets a warning,
 * since the load then reaches a real deployment and the network between.
 * Connections are opened keeping the server's accept
 * queue at most half full (the kernel tells, through sock_diag), so that
 * a short listen backlog is not what gets measured.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* At most this many non-blocking connects outstanding, so that a server
 * listen backlog of 1024 is never overrun by our SYNs alone. */
#define CONNECT_BATCH 500

char rbuf[RBUF_SIZE];

volatile sig_atomic_t bench_stop;

/* ------------------------------------------------------------------ */
/* Ctrl-C and progress                                                  */

static void
on_sigint(int sig)
{
	(void)sig;
	bench_stop = 1;
}

/* The first SIGINT ends the measurement early, with the results so far;
 * no SA_RESTART, so epoll_wait returns at once.  A second one kills. */
void
bench_catch_sigint(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

/* A progress line a second on stderr, only when that is a terminal: a
 * script reading stdout sees the same output as before. */
void
progress_init(struct progress *p, const char *unit)
{
	memset(p, 0, sizeof *p);
	p->on = isatty(STDERR_FILENO);
	p->unit = unit;
	p->next_ns = now_ns() + NS_PER_S;
}

void
progress_tick(struct progress *p, uint64_t now, uint64_t t_start,
    uint64_t count)
{
	if (!p->on || now < p->next_ns)
		return;
	if (now < t_start)
		fprintf(stderr, "  warming up (%" PRIu64 " s to go)\n",
		    (uint64_t)((t_start - now + NS_PER_S - 1) / NS_PER_S));
	else
		fprintf(stderr, "  %4" PRIu64 " s  %12.1f %s/s  (%" PRIu64
		    " in all)\n", (uint64_t)((now - t_start) / NS_PER_S),
		    (double)(count - p->last) * NS_PER_S /
			(double)(now - p->next_ns + NS_PER_S), p->unit, count);
	p->last = now < t_start ? 0 : count;
	p->next_ns = now + NS_PER_S;
}

/* Seconds measured: the planned window, or less after Ctrl-C (t_end is
 * moved to the moment of the interrupt). */
double
measured_s(uint64_t t_start, uint64_t t_end)
{
	return t_end > t_start && t_start != UINT64_MAX
		   ? (double)(t_end - t_start) / NS_PER_S
		   : 0.0;
}

/* After Ctrl-C: the window ends now, and the report says so. */
void
stop_window(uint64_t *t_start, uint64_t *t_end)
{
	uint64_t now = now_ns();
	if (*t_end > now)
		*t_end = now;
	if (*t_start > *t_end)
		*t_start = *t_end;
}

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

_Noreturn void
fail2(const char *fmt, ...)
{
	va_list ap;
	fputs("echochat-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		fail2("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* Milliseconds to wait in epoll so we wake up at `deadline`, capped so
 * periodic work (stall and loss checks) still runs. */
int
ms_until(uint64_t now, uint64_t deadline, int cap)
{
	if (deadline <= now)
		return 0;
	uint64_t ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > (uint64_t)cap ? cap : (int)ms;
}

int
would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

void
ep_add(int ep, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = {.events = events, .data.u32 = id};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fail2("epoll_ctl: %s", strerror(errno));
}

/* Level-triggered epoll: EPOLLOUT is only requested while a write is
 * blocked, otherwise every writable socket would wake us up for nothing. */
void
ep_mod(int ep, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = {.events = events, .data.u32 = id};
	epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

long
clock_ticks(void)
{
	long t = sysconf(_SC_CLK_TCK);
	return t > 0 ? t : 100;
}

/* The CPU time, in clock ticks, of every process in these process groups:
 * user and system, with what each has reaped of its children (utime,
 * stime, cutime, cstime of /proc/PID/stat, which count all threads).  A
 * server, what fronts it and what it forks are all in it.  One pass over
 * /proc: taken once at each end of the window, where a few milliseconds
 * do not matter. */
uint64_t
pgroups_cpu_ticks(const long *pgids, int n)
{
	uint64_t sum = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[1024];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* gone meanwhile */
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = '\0';
		/* pid (comm) state ppid pgrp ... : comm may hold anything */
		char *p = strrchr(buf, ')');
		long pgrp;
		unsigned long long ut, st, cut, cst;
		if (!p || sscanf(p + 2,
			      "%*c %*d %ld %*d %*d %*d %*u %*u %*u %*u %*u "
			      "%llu %llu %llu %llu",
			      &pgrp, &ut, &st, &cut, &cst) != 5)
			continue;
		for (int i = 0; i < n; i++)
			if (pgids[i] == pgrp)
				sum += ut + st + cut + cst;
	}
	closedir(d);
	return sum;
}

static uint64_t
self_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

void
cpuwin_start(struct cpuwin *w, const struct opts *o)
{
	if (w->started)
		return;
	w->started = 1;
	w->tool0 = self_cpu_ns();
	if (o->ncpu_pgid)
		w->srv0 = pgroups_cpu_ticks(o->cpu_pgid, o->ncpu_pgid);
}

/* Before anything is closed: what a server forks per connection (ncat
 * --exec) is still there to be counted. */
void
cpuwin_end(struct cpuwin *w, const struct opts *o)
{
	if (!w->started || w->ended)
		return;
	w->ended = 1;
	w->tool1 = self_cpu_ns();
	if (o->ncpu_pgid)
		w->srv1 = pgroups_cpu_ticks(o->cpu_pgid, o->ncpu_pgid);
}

static double
cpuwin_server_s(const struct cpuwin *w)
{
	return w->ended ? (double)(w->srv1 - w->srv0) / (double)clock_ticks()
			: 0.0;
}

static double
cpuwin_tool_s(const struct cpuwin *w)
{
	return w->ended ? (double)(w->tool1 - w->tool0) / 1e9 : 0.0;
}

void
cpuwin_print(const struct cpuwin *w, const struct opts *o, double secs,
    uint64_t units, const char *unit)
{
	double srv = cpuwin_server_s(w), tool = cpuwin_tool_s(w);
	if (o->ncpu_pgid)
		printf("  server cpu:    %.2f s in the window (%.0f%% of one "
		       "CPU), %.0f ns per %s\n",
		    srv, secs > 0 ? srv * 100 / secs : 0.0,
		    units ? srv * 1e9 / (double)units : 0.0, unit);
	printf("  tool cpu:      %.2f s in the window (%.0f%% of one CPU)\n",
	    tool, secs > 0 ? tool * 100 / secs : 0.0);
}

void
cpuwin_result(const struct cpuwin *w, const struct opts *o, double secs,
    uint64_t units)
{
	double srv = cpuwin_server_s(w), tool = cpuwin_tool_s(w);
	if (o->ncpu_pgid)
		printf(" server_cpu_s=%.2f server_cpu_pct=%.1f server_ns_per=%.1f",
		    srv, secs > 0 ? srv * 100 / secs : 0.0,
		    units ? srv * 1e9 / (double)units : 0.0);
	printf(" tool_cpu_pct=%.1f", secs > 0 ? tool * 100 / secs : 0.0);
}

/* Whether a sample taken at `t` falls in the measured window: warm-up and
 * what comes after the end are not counted. */
int
in_window(uint64_t t, uint64_t start, uint64_t end)
{
	return t >= start && t < end;
}

/* ------------------------------------------------------------------ */
/* latency histogram                                                    */

static unsigned
h_index(uint64_t v)
{
	if (v < 2 * H_SUB)
		return (unsigned)v;
	unsigned shift = 63u - (unsigned)__builtin_clzll(v) - H_SUB_BITS;
	if (shift > H_MAX_SHIFT)
		return H_BUCKETS - 1;
	return shift * H_SUB + (unsigned)(v >> shift);
}

/* Highest value that maps to bucket `i` (what HdrHistogram reports). */
static uint64_t
h_upper(unsigned i)
{
	if (i < 2 * H_SUB)
		return i;
	unsigned shift = i / H_SUB - 1;
	uint64_t m = i - (uint64_t)shift * H_SUB;
	return ((m + 1) << shift) - 1;
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->n[h_index(v)]++;
	h->total++;
	if (v > h->max)
		h->max = v;
}

static uint64_t
hist_pct(const struct hist *h, double pct)
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

void
print_latency(const char *label, const struct hist *h)
{
	printf("  %-14s p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%" PRIu64
	       " samples)\n",
	    label, hist_pct(h, 50) / 1e3, hist_pct(h, 99) / 1e3,
	    hist_pct(h, 99.9) / 1e3, h->max / 1e3, h->total);
}

void
result_latency(const struct hist *h)
{
	printf(" p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
	    hist_pct(h, 50) / 1e3, hist_pct(h, 99) / 1e3,
	    hist_pct(h, 99.9) / 1e3, h->max / 1e3);
}

/* ------------------------------------------------------------------ */
/* line contents                                                        */

/* Where a line's filler may start in the pattern (bench.h). */
#define PAT_SPREAD 4096

static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

void
gen_init(struct gen *g, size_t size)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	g->size = size;
	g->pat = xcalloc(size + PAT_SPREAD, 1);
	for (size_t i = 0; i < size + PAT_SPREAD; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		g->pat[i] = b36[(x >> 32) % 36];
	}
}

static void
put_b36(char *dst, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 36)
		dst[i] = b36[v % 36];
}

void
gen_line(const struct gen *g, uint32_t conn, uint64_t seq, char *out)
{
	size_t body = g->size - 1;
	char hdr[HDR_LEN];
	put_b36(hdr, conn, 4);
	put_b36(hdr + 4, seq, 9);
	size_t h = body < HDR_LEN ? body : HDR_LEN;
	memcpy(out, hdr, h);
	if (body > h) {
		size_t at = (size_t)((seq * 31 + conn) % PAT_SPREAD);
		memcpy(out + h, g->pat + at, body - h);
	}
	out[body] = '\n';
}

/* ------------------------------------------------------------------ */
/* target address                                                       */

static int
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

static void
resolve_unix(const char *path, struct target *t)
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
void
resolve_target(const struct opts *o, struct target *t, int socktype)
{
	memset(t, 0, sizeof *t);
	if (o->unix_path) {
		resolve_unix(o->unix_path, t);
		return;
	}
	char port[16];
	snprintf(port, sizeof port, "%d", o->port);
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = socktype};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(o->host, port, &hints, &res);
	if (rc != 0)
		fail2("cannot resolve %s: %s", o->host, gai_strerror(rc));
	if (!is_loopback(res->ai_addr))
		fprintf(stderr,
		    "echochat-bench: warning: %s is not a loopback address: "
		    "this generates real load on that server and the network "
		    "in between\n",
		    o->host);
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->len = res->ai_addrlen;
	t->family = res->ai_family;
	char ip[INET6_ADDRSTRLEN] = "?";
	const void *a =
	    t->family == AF_INET
		? (const void *)&((struct sockaddr_in *)&t->addr)->sin_addr
		: (const void *)&((struct sockaddr_in6 *)&t->addr)->sin6_addr;
	inet_ntop(t->family, a, ip, sizeof ip);
	snprintf(t->desc, sizeof t->desc, "%s %s:%d",
	    socktype == SOCK_DGRAM ? "udp" : "tcp", ip, o->port);
	freeaddrinfo(res);
}

/* ------------------------------------------------------------------ */
/* batched non-blocking connects                                        */

static void
note_failure(struct conn_report *r, int err, const char *what)
{
	r->failed++;
	if (!r->why[0])
		snprintf(r->why, sizeof r->why, "%s: %s", what, strerror(err));
}

/* Returns 0 connected, 1 in progress, or -errno.  fd is set on 0 and 1. */
static int
start_connect(const struct target *t, int *fdp)
{
	int fd =
	    socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

static void
finish_connect(
    int ep, int *fds, char *pending, uint32_t i, struct conn_report *r)
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
static int
launch_connects(const struct target *t, int ep, int n, int limit, int *fds,
    char *pending, int *next, int *outstanding, struct conn_report *r)
{
	while (*next < limit && *outstanding < CONNECT_BATCH) {
		int fd = -1, rc = start_connect(t, &fd);
		if (rc == -EAGAIN)
			return 1;
		if (rc == -EMFILE || rc == -ENFILE) {
			/* Out of descriptors: every later connect would
			 * fail too. */
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

/* NLMSG_OK with its comparisons spelled out: the macro compares the
 * message's u32 length with our int remainder, which clang rightly flags.
 * The remainder stays an int because NLMSG_NEXT may take it below zero,
 * and that must end the walk; it is known positive where it is cast. */
static int
nlmsg_fits(const struct nlmsghdr *h, int len)
{
	return len >= (int)sizeof *h && h->nlmsg_len >= sizeof *h &&
	       h->nlmsg_len <= (unsigned)len;
}

/* The accept queue of the TCP listener that t names, from the kernel
 * (sock_diag): connections waiting to be accepted, and the backlog.  With
 * several listeners on the port (SO_REUSEPORT) the fullest one counts.
 * Returns -1 if unknown (a Unix socket, no netlink). */
static int
listen_queue(const struct target *t, unsigned *queued, unsigned *backlog)
{
	if (t->family != AF_INET && t->family != AF_INET6)
		return -1;
	int fd =
	    socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
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
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	uint16_t port =
	    t->family == AF_INET
		? ((const struct sockaddr_in *)&t->addr)->sin_port
		: ((const struct sockaddr_in6 *)&t->addr)->sin6_port;
	int found = -1, done = 0;
	double fullest = -1;
	struct sockaddr *to = (struct sockaddr *)&nl;
	if (sendto(fd, &msg, sizeof msg, 0, to, sizeof nl) < 0)
		done = 1;
	static char buf[32768];
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		int len = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf;
		     nlmsg_fits(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE ||
			    h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			double fill = (double)m->idiag_rqueue /
				      (m->idiag_wqueue ? m->idiag_wqueue : 1);
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
void
connect_all(const struct target *t, int n, int *fds, struct conn_report *r,
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
		int backoff = launch_connects(
		    t, ep, n, limit, fds, pending, &next, &outstanding, r);
		if (service)
			service(ctx);
		int k = epoll_wait(
		    ep, evs, MAX_EVENTS, backoff || gated || service ? 1 : 50);
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

/* The first line of every report: the mode and the target it measured. */
void
print_header(const struct opts *o, const struct target *t)
{
	printf("echochat-bench %s -> %s\n", mode_names[o->mode], t->desc);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "  (Ctrl-C stops early with the results so "
				"far)\n");
}

/* A stopped run says so in its report. */
void
print_interrupted(double secs)
{
	if (bench_stop)
		printf("  note:          interrupted (Ctrl-C) after %.1f s "
		       "measured; rates are over that time\n",
		    secs);
}
