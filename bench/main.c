/*
 * main.c -- echochat-bench - load generator for the echochat server, and
 * for the servers it is compared with (scripts/bench): the command line,
 * the usage text and the dispatch to a mode.
 *
 * It drives a server (TCP, UDP or a Unix stream socket; any address, with
 * a warning when it is not loopback) in one of five modes and reports
 * throughput and latency:
 *
 *   echo, upper  pipelined lines, every reply verified (echo.c), over
 *                TLS with --tls (tls.c);
 *   chat         a chat room: echochat's, a plain relay or Redis pub/sub
 *                (chat.c);
 *   udp          datagram round trips, loss after 1 s (udp.c);
 *   idle         connections held open, the server's memory and
 *                descriptors for them (idle.c).
 *
 * Every phase is bounded in time (connect, warm-up, measurement), so it
 * always stops by itself; Ctrl-C stops it early with the results so far.
 * The header comes at once, a progress line every second on stderr when
 * that is a terminal, then a human-readable block and one
 * "RESULT key=value ..." line for scripts.  Exit status: 0 clean
 * run, 1 errors/mismatches/losses, 2 usage error or the server could not
 * be reached.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#define UDP_MAX_SIZE 65507

static const char usage_text[] =
    "usage: echochat-bench MODE [-H HOST] [-p PORT] [-c CONNS] [-P INFLIGHT]"
    " [-s SIZE]\n"
    "                      [-d SECONDS] [-w WARMUP_SECONDS] [-k SENDERS] [-u"
    " UNIX_PATH]\n"
    "                      [--pid PID] [--proto echochat|plain|redis]"
    " [--redis] [--tls] [--ws]\n"
    "                      [--cpu-pgid PGID,...]\n"
    "modes:\n"
    "  echo    pipelined line round trips over C connections, replies"
    " verified\n"
    "  upper   like echo, replies must be the lines with a-z uppercased\n"
    "  chat    C participants, K senders; delivery rate, latency, loss, order\n"
    "  udp     datagram round trips over C UDP sockets; loss after 1 s\n"
    "  idle    open C connections and hold them for SECONDS\n"
    "options:\n"
    "  -H, --host HOST  server host (default 127.0.0.1); any address works,\n"
    "               with a warning when it is not loopback: this is load\n"
    "  -p PORT      server port (default: echochatd's for the mode: echo,"
    " udp\n"
    "               and idle 7007, upper 7008, chat 7009); chat:\n"
    "               PORT,PORT,... are servers of one cluster, participant i on the\n"
    "               (i mod N)th; each has heard every server before the\n"
    "               clock starts, and lines still missing after a drain are\n"
    "               losses\n"
    "  -c CONNS     connections / participants / UDP sockets (default 100;"
    " udp: 1)\n"
    "  -P INFLIGHT  lines or datagrams in flight per connection, chat: per"
    " sender\n"
    "               (default 16)\n"
    "  -s SIZE      line/datagram size in bytes, including the '\\n'"
    " (default 64)\n"
    "  -d SECONDS   measured duration; idle: hold time (default 5)\n"
    "  -w SECONDS   warm-up before measuring, not counted (default 1)\n"
    "  -k SENDERS   chat: number of sending participants (default 10)\n"
    "  -u PATH      connect to the Unix stream socket PATH instead of TCP\n"
    "               (echo, upper, chat, idle)\n"
    "  --pid PID    idle: report the server's VmRSS growth per connection\n"
    "  --proto P    chat: echochat (default: wait for each welcome line),"
    " plain\n"
    "               (no welcome: two participants send sync lines until"
    " everyone\n"
    "               has heard one; lines may carry any prefix, e.g. ncat"
    " --chat)\n"
    "               or redis (participants SUBSCRIBE, senders PUBLISH on an\n"
    "               extra connection each)\n"
    "  --redis      same as --proto redis\n"
    "  --rooms R    chat (echochat): after its welcome, participant i goes to\n"
    "               room #bench(i mod R) with /join, so sender s is heard in\n"
    "               its room only\n"
    "  --pace-all   chat: a sender waits for all its receivers, not for\n"
    "               the last participant only, before going P lines on\n"
    "  --ws         echo, upper, chat (echochat, plain), idle: speak\n"
    "               WebSocket to a listener with websocket = yes; each\n"
    "               connection upgrades before the clock, each line is one\n"
    "               text frame\n"
    "  --tls        echo, upper: speak TLS (1.2 or 1.3) to the server; each\n"
    "               handshake is done before the clock starts.  The server's\n"
    "               certificate is NOT verified: this is load for your own\n"
    "               server, not a client to trust\n"
    "  --cpu-pgid G echo, upper, chat, udp: the CPU time (user + system,\n"
    "               reaped children too) of the processes in these process\n"
    "               groups (a server, what fronts it, what it forks) over the\n"
    "               measured window, per round trip, delivery or reply (the\n"
    "               tool's own CPU time is always reported)\n"
    "  -h, --help   show this text\n"
    "Ctrl-C stops a run early and prints the results so far.\n";

const char *const mode_names[M_IDLE + 1] = {
    "echo", "upper", "chat", "udp", "idle"};
const char *const proto_names[PR_REDIS + 1] = {"echochat", "plain", "redis"};

_Noreturn void
usage_error(const char *fmt, ...)
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

/* The server runs with many descriptors too, but ours is the side that
 * opens C of them; take everything the hard limit allows. */
static void
raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ------------------------------------------------------------------ */
/* command line                                                         */

static long
parse_num(const char *s, long min, long max, const char *what)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error("%s must be an integer in %ld..%ld, got '%s'", what,
		    min, max, s);
	return v;
}

static enum mode
parse_mode(const char *s)
{
	for (unsigned i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
		if (strcmp(s, mode_names[i]) == 0)
			return (enum mode)i;
	usage_error("unknown mode '%s'", s);
	return M_ECHO;
}

static enum proto
parse_proto(const char *s)
{
	for (unsigned i = 0; i < sizeof proto_names / sizeof proto_names[0];
	     i++)
		if (strcmp(s, proto_names[i]) == 0)
			return (enum proto)i;
	usage_error("unknown --proto '%s' (echochat, plain or redis)", s);
	return PR_ECHOCHAT;
}

/*
 * A comma-separated list of numbers in [min, max] into out, at most max_n
 * of them; returns how many.  The errors name the option ("-p"), its
 * items ("ports") and one item ("-p PORT").
 */
static int
parse_list(const char *arg, long *out, int max_n, long min, long max,
    const char *name, const char *items, const char *what)
{
	char buf[256];
	int n = 0;

	snprintf(buf, sizeof buf, "%s", arg);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == max_n)
			usage_error("%s: at most %d %s", name, max_n, items);
		out[n++] = parse_num(tok, min, max, what);
	}
	return n;
}

/* --cpu-pgid PGID[,PGID...] */
static void
parse_pgids(struct opts *o, const char *arg)
{
	o->ncpu_pgid = parse_list(arg, o->cpu_pgid, MAX_PGIDS, 1, 1L << 30,
	    "--cpu-pgid", "groups", "--cpu-pgid PGID");
	if (!o->ncpu_pgid)
		usage_error("--cpu-pgid needs a process group");
}

/* -p PORT, or (chat) -p PORT,PORT,...: the servers of one cluster. */
static void
parse_ports(struct opts *o, const char *arg)
{
	long ports[MAX_TARGETS];

	o->nports = parse_list(arg, ports, MAX_TARGETS, 1, 65535, "-p",
	    "ports", "-p PORT");
	for (int i = 0; i < o->nports; i++)
		o->ports[i] = (int)ports[i];
	if (!o->nports)
		usage_error("-p needs a port");
	o->port = o->ports[0];
}

/* Several ports: chat with echochat's protocol, over TCP, one room. */
static void
check_ports(const struct opts *o)
{
	if (o->nports <= 1)
		return;
	if (o->mode != M_CHAT || o->proto != PR_ECHOCHAT)
		usage_error(
		    "-p with several ports is for chat --proto echochat");
	if (o->unix_path)
		usage_error("-p with several ports cannot use -u");
	if (o->rooms)
		usage_error("-p with several ports cannot use --rooms");
	if (o->conns < 2 * o->nports)
		usage_error("-p with %d ports needs -c %d or more (two "
			    "participants per server)",
		    o->nports, 2 * o->nports);
}

static void
parse_flag(struct opts *o, int c, const char *arg, int *conns_set)
{
	switch (c) {
	case 'H':
		o->host = arg;
		break;
	case 'p':
		parse_ports(o, arg);
		break;
	case 'c':
		o->conns = (int)parse_num(arg, 1, 1000000, "-c CONNS");
		*conns_set = 1;
		break;
	case 'P':
		o->inflight = (int)parse_num(arg, 1, 100000, "-P INFLIGHT");
		break;
	case 's':
		o->size = (int)parse_num(arg, 1, 1 << 24, "-s SIZE");
		break;
	case 'd':
		o->seconds = (int)parse_num(arg, 1, 3600, "-d SECONDS");
		break;
	case 'w':
		o->warmup = (int)parse_num(arg, 0, 3600, "-w WARMUP_SECONDS");
		break;
	case 'k':
		o->senders = (int)parse_num(arg, 1, 1000000, "-k SENDERS");
		break;
	case 'u':
		o->unix_path = arg;
		break;
	case 'I':
		o->pid = parse_num(arg, 1, 1L << 30, "--pid PID");
		break;
	case 'R':
		o->proto = parse_proto(arg);
		break;
	case 'S':
		o->proto = PR_REDIS;
		break;
	case 'M':
		o->rooms = (int)parse_num(arg, 1, 10000, "--rooms ROOMS");
		break;
	case 'A':
		o->pace_all = 1;
		break;
	case 'T':
		o->tls = 1;
		break;
	case 'W':
		o->ws = 1;
		break;
	case 'G':
		parse_pgids(o, arg);
		break;
	case 'h':
		fputs(usage_text, stdout);
		exit(0);
	default:
		usage_error("bad option");
	}
}

/* Cross-option checks that depend on the mode. */
static void
check_opts(struct opts *o, int conns_set)
{
	if (o->mode == M_UDP && !conns_set)
		o->conns = 1;
	if (o->mode == M_UDP && o->unix_path)
		usage_error("udp mode cannot use -u");
	if (o->mode == M_UDP &&
	    (o->size < HDR_LEN + 1 || o->size > UDP_MAX_SIZE))
		usage_error("udp datagram size must be %d..%d", HDR_LEN + 1,
		    UDP_MAX_SIZE);
	if (o->pid && o->mode != M_IDLE)
		usage_error("--pid is only meaningful in idle mode");
	if (o->tls && o->mode != M_ECHO && o->mode != M_UPPER)
		usage_error("--tls is only for echo and upper");
	if (o->ncpu_pgid && o->mode == M_IDLE)
		usage_error("--cpu-pgid is not for idle");
	/* Not a usage error: the same command works with another build. */
	if (o->ws && o->mode == M_UDP)
		usage_error("--ws is only for echo, upper, chat and idle");
	if (o->ws && o->mode == M_CHAT && o->proto == PR_REDIS)
		usage_error("--ws is not for --proto redis");
	if (o->ws && (o->tls || o->unix_path))
		usage_error("--ws is for a plain tcp listener");
	if (o->ws && o->mode != M_CHAT && o->mode != M_IDLE && o->size < 2)
		usage_error("--ws needs -s 2 or more (a line and its newline)");
	if (o->tls && !tls_supported)
		fail2("--tls: this echochat-bench was built without OpenSSL "
		      "(configure found no OpenSSL 3, or --without-openssl)");
	if (o->proto != PR_ECHOCHAT && o->mode != M_CHAT)
		usage_error("--proto/--redis are only meaningful in chat mode");
	if (o->mode != M_CHAT)
		return;
	if (o->conns < 2)
		usage_error("chat needs at least 2 participants (-c)");
	if (o->senders > o->conns - 1) {
		fprintf(stderr,
		    "echochat-bench: note: -k %d lowered to %d "
		    "(the last participant only observes)\n",
		    o->senders, o->conns - 1);
		o->senders = o->conns - 1;
	}
	if (o->rooms && o->proto != PR_ECHOCHAT)
		usage_error("--rooms needs --proto echochat");
	if (o->rooms && o->conns - o->senders < o->rooms)
		usage_error("--rooms: each room needs a participant that does "
		    "not send (-c - -k >= R)");
	if ((uint64_t)o->conns * (uint64_t)o->senders > 50000000ull)
		usage_error(
		    "chat: -c x -k too large for per-sender order tracking");
}

/* echochatd's default port for what the mode speaks. */
static int
default_port(enum mode m)
{
	return m == M_UPPER ? 7008 : m == M_CHAT ? 7009 : 7007;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"pid", required_argument, NULL, 'I'},
	    {"proto", required_argument, NULL, 'R'},
	    {"redis", no_argument, NULL, 'S'},
	    {"rooms", required_argument, NULL, 'M'},
	    {"pace-all", no_argument, NULL, 'A'},
	    {"tls", no_argument, NULL, 'T'},
	    {"ws", no_argument, NULL, 'W'},
	    {"cpu-pgid", required_argument, NULL, 'G'},
	    {"help", no_argument, NULL, 'h'},
	    {"host", required_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0},
	};
	int c, conns_set = 0;
	*o = (struct opts){.host = "127.0.0.1",
	    .port = 0,
	    .conns = 100,
	    .inflight = 16,
	    .size = 64,
	    .seconds = 5,
	    .warmup = 1,
	    .senders = 10};
	opterr = 0;
	while ((c = getopt_long(
		    argc, argv, "hH:p:c:P:s:d:w:k:u:", longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			usage_error(
			    "bad or incomplete option '%s'", argv[optind - 1]);
		parse_flag(o, c, optarg, &conns_set);
	}
	if (optind != argc - 1)
		usage_error(optind >= argc ? "missing MODE"
					   : "exactly one MODE expected");
	o->mode = parse_mode(argv[optind]);
	if (o->port == 0)
		o->port = default_port(o->mode);
	if (o->nports == 0)
		o->ports[o->nports++] = o->port;
	check_opts(o, conns_set);
	check_ports(o);
}

int
main(int argc, char **argv)
{
	struct opts o;
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv, &o);
	/* A dying server must be an error, not our death. */
	signal(SIGPIPE, SIG_IGN);
	bench_catch_sigint();
	raise_nofile();
	switch (o.mode) {
	case M_ECHO:
	case M_UPPER:
		return run_echo(&o);
	case M_CHAT:
		return run_chat(&o);
	case M_UDP:
		return run_udp(&o);
	case M_IDLE:
		return run_idle(&o);
	}
	return 2;
}
