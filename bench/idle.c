/*
 * idle.c -- idle mode: open C connections, hold them, and with --pid
 * report the server's RSS growth per connection and the descriptors it
 * took for them, read from /proc.  With --ws each connection is upgraded
 * to WebSocket first, so the figure is an idle browser's.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* idle --pid: how long the server may take to accept what we opened. */
/* Fewer connections than this cannot show memory per connection. */
#define IDLE_MEANINGFUL 500
#define ACCEPT_WAIT_NS (5 * NS_PER_S)
#define IDLE_QUIET_MAX_NS (2 * NS_PER_S)
#define IDLE_SETTLE_NS (250 * NS_PER_MS)

/* VmRSS of `pid` in kB, or -1 if it cannot be read. */
static long
read_rss_kb(long pid)
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

static long
rss_or_die(long pid)
{
	long kb = read_rss_kb(pid);
	if (kb < 0)
		fail2("cannot read VmRSS from /proc/%ld/status: %s", pid,
		    errno ? strerror(errno) : "no VmRSS line");
	return kb;
}

/* Descriptors open in process `pid`, or -1. */
static int
count_fds(long pid)
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

struct idle_run {
	int *fds;
	int n, ep, open;
	int dropped;
	/* --pid: the server's descriptors before; how many more it took */
	int fds0, held;
	long rss[3]; /* before, all open (+settle), after the hold */
};

/* Servers may greet (chat welcome, join notices): read and discard, and
 * notice connections the server closes. */
static void
idle_event(struct idle_run *r, uint32_t i)
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

static void
idle_poll(struct idle_run *r, int cap_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int k = epoll_wait(r->ep, evs, MAX_EVENTS, cap_ms);
	for (int j = 0; j < k; j++)
		idle_event(r, evs[j].data.u32);
}

static void
idle_hold(struct idle_run *r, const struct opts *o, int opened)
{
	uint64_t now = now_ns(), settle, end, deadline = now + ACCEPT_WAIT_NS;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < r->n; i++)
		if (r->fds[i] >= 0)
			ep_add(r->ep, r->fds[i], EPOLLIN | EPOLLRDHUP,
			    (uint32_t)i);
	/* The server accepts asynchronously: with --pid, wait (bounded) until
	 * it holds a descriptor for each connection, then sample "all open" a
	 * moment later still. */
	while (o->pid &&
	       (r->held = count_fds(o->pid) - r->fds0) < opened - r->dropped &&
	       (now = now_ns()) < deadline)
		idle_poll(r, 10);
	now = now_ns();
	settle = now + IDLE_SETTLE_NS;
	end = now + (uint64_t)o->seconds * NS_PER_S;
	while ((now = now_ns()) < end && !bench_stop) {
		if (o->pid && r->rss[1] < 0 && now >= settle)
			r->rss[1] = rss_or_die(o->pid);
		uint64_t wake =
		    r->rss[1] < 0 && o->pid && settle < end ? settle : end;
		idle_poll(r, ms_until(now, wake, 1000));
	}
	if (o->pid) {
		if (r->rss[1] < 0)
			r->rss[1] = rss_or_die(o->pid);
		r->rss[2] = rss_or_die(o->pid);
	}
}

static double
per_conn(long before_kb, long after_kb, int n)
{
	return n > 0 ? (double)(after_kb - before_kb) * 1024.0 / n : 0.0;
}

static int
idle_report(const struct idle_run *r, const struct opts *o,
    const struct target *t, const struct conn_report *cr)
{
	(void)t;
	printf("  connections:   %d of %d opened in %.1f ms, %d failed%s%s%s\n",
	    cr->ok, o->conns, cr->elapsed_ns / 1e6, cr->failed,
	    cr->why[0] ? " (first: " : "", cr->why, cr->why[0] ? ")" : "");
	printf("  held:          %d s, %d closed by the server\n", o->seconds,
	    r->dropped);
	int unseen = o->pid && r->held < cr->ok - r->dropped
			 ? cr->ok - r->dropped - r->held
			 : 0;
	if (o->pid) {
		printf("  server fds:    +%d (%d connections it never took)\n",
		    r->held, unseen);
		printf("  server RSS:    %ld kB before, %ld kB with all open, "
		       "%ld kB after %d s\n",
		    r->rss[0], r->rss[1], r->rss[2], o->seconds);
		printf("  RSS per conn:  %.0f bytes (all open), %.0f bytes "
		       "(after hold)\n",
		    per_conn(r->rss[0], r->rss[1], cr->ok),
		    per_conn(r->rss[0], r->rss[2], cr->ok));
		/* RSS moves by pages and allocator arenas: a few connections
		 * say nothing per connection. */
		if (cr->ok < IDLE_MEANINGFUL)
			printf("  note:          %d connections are too few to "
			       "measure memory per connection;\n"
			       "                 use -c %d or more\n",
			    cr->ok, IDLE_MEANINGFUL);
	}
	if (bench_stop)
		printf("  note:          interrupted (Ctrl-C) before the hold "
		       "time ended\n");
	printf("RESULT mode=idle conns=%d opened=%d failed=%d dropped=%d "
	       "seconds=%d connect_ms=%.1f",
	    o->conns, cr->ok, cr->failed, r->dropped, o->seconds,
	    cr->elapsed_ns / 1e6);
	if (o->pid)
		printf(" server_fds=%d rss_before_kb=%ld rss_open_kb=%ld"
		       " rss_held_kb=%ld rss_per_conn_bytes=%.0f"
		       " rss_per_conn_held_bytes=%.0f",
		    r->held, r->rss[0], r->rss[1], r->rss[2],
		    per_conn(r->rss[0], r->rss[1], cr->ok),
		    per_conn(r->rss[0], r->rss[2], cr->ok));
	if (o->ws)
		printf(" ws=1");
	printf(" errors=%d\n", cr->failed + r->dropped + unseen);
	return cr->failed || r->dropped || unseen ? 1 : 0;
}

/* --ws: upgrade every connection, one after the other, before the hold;
 * what the server sends after its 101 (a chat welcome) is read as idle
 * chatter, as on a plain connection. */
static void
idle_ws_upgrade(const struct idle_run *r, const struct target *t)
{
	char why[120];

	for (int i = 0; i < r->n; i++)
		if (r->fds[i] >= 0 &&
		    ws_upgrade(r->fds[i], why, sizeof why) < 0)
			fail2("%s: WebSocket: connection %d: %s", t->desc, i,
			    why);
}

int
run_idle(const struct opts *o)
{
	struct target t;
	struct conn_report cr;
	struct idle_run r = {.n = o->conns, .rss = {-1, -1, -1}};
	resolve_target(o, &t, SOCK_STREAM);
	print_header(o, &t);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)o->conns + 16)
		fprintf(stderr,
		    "echochat-bench: warning: "
		    "RLIMIT_NOFILE is %llu, below %d + a few\n",
		    (unsigned long long)rl.rlim_cur, o->conns);
	if (o->pid) {
		/* A server still closing the connections of a previous run
		 * would make "before" too high: wait (bounded) for its
		 * descriptor count to hold still for 100 ms. */
		uint64_t settle_end = now_ns() + IDLE_QUIET_MAX_NS;
		r.fds0 = count_fds(o->pid);
		if (r.fds0 < 0)
			fail2("cannot list /proc/%ld/fd: %s", o->pid,
			    strerror(errno));
		for (int prev = -1; r.fds0 != prev && now_ns() < settle_end;) {
			prev = r.fds0;
			usleep(100000);
			r.fds0 = count_fds(o->pid);
		}
		r.rss[0] = rss_or_die(o->pid);
	}
	r.fds = xcalloc((size_t)r.n, sizeof *r.fds);
	connect_all(
	    &t, r.n, r.fds, &cr, now_ns() + CONNECT_TIMEOUT_NS, NULL, NULL);
	if (cr.ok == 0)
		fail2(
		    "could not open any connection to %s (%s)", t.desc, cr.why);
	if (o->ws)
		idle_ws_upgrade(&r, &t);
	idle_hold(&r, o, cr.ok);
	return idle_report(&r, o, &t, &cr);
}
