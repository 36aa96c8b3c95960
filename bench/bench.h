/*
 * bench.h -- what the parts of echochat-bench share: the options, the
 * target, the latency histogram, the line generator, the connection
 * pacing and the small helpers (common.c), and each mode's entry point.
 *
 * The tool is one program, split by mode so that each mode's state and
 * event loop can be read on its own: main.c parses the command line and
 * dispatches to run_echo (echo.c), run_chat (chat.c), run_udp (udp.c) or
 * run_idle (idle.c); common.c has everything more than one mode uses, and
 * tls.c the client side of TLS (echo and upper, --tls).
 *
 * Build by hand: gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror \
 *     bench/main.c bench/common.c bench/echo.c bench/chat.c bench/udp.c \
 *     bench/idle.c bench/tls.c -o echochat-bench -lm
 * (with -DHAVE_OPENSSL ... -lssl -lcrypto for --tls; tls.c includes the
 * autoconf.h that configure writes, an empty one will do).
 */
#ifndef ECHOCHAT_BENCH_H
#define ECHOCHAT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define CONNECT_TIMEOUT_NS (30 * NS_PER_S)
#define MAX_EVENTS 1024
#define MAX_PGIDS 8
#define MAX_TARGETS 8 /* chat: -p P1,P2,...: servers of one cluster */

enum mode { M_ECHO, M_UPPER, M_CHAT, M_UDP, M_IDLE };
extern const char *const mode_names[M_IDLE + 1];

/* Whose chat room: how participants know they are in, how lines go out
 * and how deliveries come back. */
enum proto { PR_ECHOCHAT, PR_PLAIN, PR_REDIS };
extern const char *const proto_names[PR_REDIS + 1];

struct opts {
	enum mode mode;
	enum proto proto;
	const char *host;
	const char *unix_path;
	int port, conns, inflight, size, seconds, warmup, senders;
	int rooms; /* chat: spread participants over this many rooms (0: one) */
	int pace_all; /* chat: pace each sender on all its receivers */
	long pid;
	int tls; /* echo, upper: over TLS (tls.c) */
	int ws;	 /* echo, upper, chat: over WebSocket (ws.c) */
	/* the server's process groups, whose CPU time over the window is
	 * reported (--cpu-pgid) */
	long cpu_pgid[MAX_PGIDS];
	int ncpu_pgid;
	/* chat: the ports of several servers of one cluster (-p P1,P2,...);
	 * ports[0] is port */
	int ports[MAX_TARGETS];
	int nports;
};

struct target {
	struct sockaddr_storage addr;
	socklen_t len;
	int family;
	char desc[160];
};

/* One receive buffer for everybody: the loop is single-threaded and each
 * connection keeps its own parse state, so the bytes never need to stay. */
#define RBUF_SIZE (1 << 18)
extern char rbuf[RBUF_SIZE];

/* Set by the first Ctrl-C: every mode ends its measurement and reports
 * what it has (common.c). */
#include <signal.h>
extern volatile sig_atomic_t bench_stop;
void bench_catch_sigint(void);

/* One line a second on stderr while measuring, when it is a terminal. */
struct progress {
	int on;
	const char *unit;
	uint64_t next_ns, last;
};
void progress_init(struct progress *p, const char *unit);
void progress_tick(struct progress *p, uint64_t now, uint64_t t_start,
    uint64_t count);
double measured_s(uint64_t t_start, uint64_t t_end);
void stop_window(uint64_t *t_start, uint64_t *t_end);
void print_interrupted(double secs);

/* main.c: the command line's error exit (status 2, usage on stderr). */
_Noreturn void usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Each mode: the exit status, 0 for a clean run, 1 for errors, losses or
 * nothing measured (a server that cannot be used exits 2 in fail2). */
int run_echo(const struct opts *o);
int run_chat(const struct opts *o);
int run_udp(const struct opts *o);
int run_idle(const struct opts *o);

/* common.c: small helpers.  fail2 is the exit for a server that cannot
 * be reached or used (status 2). */
uint64_t now_ns(void);
_Noreturn void fail2(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
int ms_until(uint64_t now, uint64_t deadline, int cap);
int would_block(void);
int in_window(uint64_t t, uint64_t start, uint64_t end);
void ep_add(int ep, int fd, uint32_t events, uint32_t id);
void ep_mod(int ep, int fd, uint32_t events, uint32_t id);
long clock_ticks(void);
uint64_t pgroups_cpu_ticks(const long *pgids, int n);

/* The CPU time spent over the measured window: the server's (its process
 * groups, --cpu-pgid) and the tool's own, so that a run where the tool is
 * the bottleneck can say so.  cpuwin_start at the window's start,
 * cpuwin_end at its end; then the report line and the RESULT keys
 * server_cpu_s, server_cpu_pct, server_ns_per (server CPU ns per unit:
 * round trip, delivery, reply) and tool_cpu_pct. */
struct cpuwin {
	int started, ended;
	uint64_t srv0, srv1; /* clock ticks */
	uint64_t tool0, tool1; /* ns of this process's CPU time */
};
void cpuwin_start(struct cpuwin *w, const struct opts *o);
void cpuwin_end(struct cpuwin *w, const struct opts *o);
void cpuwin_print(const struct cpuwin *w, const struct opts *o, double secs,
    uint64_t units, const char *unit);
void cpuwin_result(const struct cpuwin *w, const struct opts *o, double secs,
    uint64_t units);

/* Latency histogram.  Log-linear buckets (HdrHistogram style): values
 * below 256 ns are exact, above that each power of two is split into 128
 * linear sub-buckets, so a value is known to within 1/128 (< 0.8%).
 * Covers up to 2^44 ns (~4.9 h). */
#define H_SUB_BITS 7
#define H_SUB (1u << H_SUB_BITS)
#define H_MAX_SHIFT 36
#define H_BUCKETS ((H_MAX_SHIFT + 2) * H_SUB)

struct hist {
	uint64_t n[H_BUCKETS];
	uint64_t total, max;
};

void hist_add(struct hist *h, uint64_t v);
void print_latency(const char *label, const struct hist *h);
void result_latency(const struct hist *h);

/* Line contents.  Every line is "<conn:4 base36><seq:9 base36>" followed
 * by filler and '\n'.  The header makes each line distinct (and lets udp
 * find the slot a reply belongs to); the filler is a slice of a fixed
 * pseudo-random pattern so large lines cost a memcpy rather than a
 * generator loop.  Only a-z and 0-9 are used, so `upper` changes exactly
 * the letters. */
#define HDR_LEN 13

struct gen {
	size_t size;
	char *pat;
};

void gen_init(struct gen *g, size_t size);
void gen_line(const struct gen *g, uint32_t conn, uint64_t seq, char *out);

/* The target, and opening connections to it. */
struct conn_report {
	int ok, failed;
	uint64_t elapsed_ns;
	char why[200];
};

void resolve_target(const struct opts *o, struct target *t, int socktype);
void connect_all(const struct target *t, int n, int *fds, struct conn_report *r,
    uint64_t deadline, void (*service)(void *), void *ctx);
void print_header(const struct opts *o, const struct target *t);

/* tls.c: the client side of TLS.  A tls_conn is an OpenSSL SSL, owned by
 * the connection that opened it and freed (tls_free) when it closes.
 * tls_read and tls_write return bytes (> 0), or one of these. */
#define TLS_CLOSED 0	    /* closed, reset or failed: drop the connection */
#define TLS_WANT_READ (-2)  /* call again once the socket is readable */
#define TLS_WANT_WRITE (-3) /* call again once the socket is writable */
struct tls_conn;
extern const int tls_supported;
void tls_init(void);
struct tls_conn *tls_open(int fd);
long tls_read(struct tls_conn *t, char *buf, size_t n);
long tls_write(struct tls_conn *t, const char *buf, size_t n);
void tls_free(struct tls_conn *t);
void tls_describe(const struct tls_conn *t, char *out, size_t n);
const char *tls_first_error(void);

/* ws.c: the client side of WebSocket (--ws).  A ws_rx is a connection's
 * reader state, zeroed with hneed = 2 before its first byte. */
struct ws_rx {
	unsigned char hdr[10];
	unsigned hlen, hneed;
	uint64_t left;
	int fin, control;
};
#define WS_HEADER_MAX 14
int ws_upgrade(int fd, char *why, size_t whylen);
size_t ws_frame_header(char *out, size_t len);
void ws_rx_feed(struct ws_rx *rx, const char *p, size_t n,
    void (*sink)(void *, const char *, size_t), void *arg);

#endif
