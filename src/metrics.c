/*
 * metrics.c -- [metrics] bind (README "Metrics"): an HTTP server on the
 * main loop, with libevent's evhttp, answering GET /metrics with every
 * counter in Prometheus' text exposition format 0.0.4 and GET /healthz
 * with 200 "ok" while serving (503 while starting or stopping).
 *
 * Everything here runs on the main thread, loop 0: evhttp's replies must
 * come from the thread its base runs on (libevent #1420, #1015, #883),
 * and the counters it reads are per loop, summed here (stats.h).  A
 * scrape takes one snapshot of them first and writes every family from
 * it, so the families agree with each other (connections open are
 * accepted less ended, in the same scrape).
 *
 * The port is open to whoever can reach it, so it is bounded like the
 * chat: headers of at most 8 KiB, no body, 10 s of silence closes a
 * connection, and at most METRICS_CONNS_MAX connections at once (more
 * wait in the kernel's backlog until one goes).  A client that trickles a request (slowloris) holds
 * one of those, never the chat, and never more memory than its headers.
 */
#include <sys/resource.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "autoconf.h"
#include "cluster.h"
#include "log.h"
#include "metrics.h"
#include "sock.h"
#include "stats.h"
#include "tailq.h"
#include "xmalloc.h"

#define METRICS_CONNS_MAX	64
#define METRICS_HEADERS_MAX	8192
#define METRICS_TIMEOUT_S	10
#define METRICS_BACKLOG		64
#define METRICS_PAUSE_MS	100

struct metrics {
	struct event_base	*base;
	struct evhttp		*http;		/* made when first bound */
	struct evhttp_bound_socket *bound;	/* NULL: not serving */
	char			*bind;		/* as configured */
	char			*bound_name;	/* the real address */
	struct event		*pause;		/* accept resting */
	struct event		*sweep;		/* metrics_sweep_conns */
	enum metrics_state	 state;
	unsigned int		 nconns;	/* HTTP connections open */
	TAILQ_HEAD(, metrics_conn) conns;
};

/* The words of echochat_disconnects_total's reason label (enum stat_end). */
static const char *end_names[END_MAX] = {
	[END_CLIENT] = "client", [END_IDLE] = "idle",
	[END_TOO_SLOW] = "too_slow", [END_QUIT] = "quit",
	[END_SHUTDOWN] = "shutdown", [END_RELOAD] = "reload",
	[END_ERROR] = "error", [END_ANSWERED] = "answered",
};

static const char *drop_names[DROP_MAX] = {
	[DROP_LOW_PORT] = "low_port", [DROP_OWN_PORT] = "own_port",
	[DROP_RATE] = "rate", [DROP_PEERS_FULL] = "peers_full",
};

/* --- The exposition. --- */

/* One listener's counters, read once. */
struct listener_snap {
	struct listener_stats	*ls;
	uint64_t		 v[SL_MAX];
	uint64_t		 open;
};

struct snapshot {
	struct listener_snap	*l;
	size_t			 n;
	uint64_t		 g[SG_MAX];
};

static void
snapshot_take(struct snapshot *s)
{
	const struct listener_stats_list *list = stats_listeners();
	struct listener_stats *ls;
	uint64_t ended;
	unsigned int i;

	s->n = 0;
	TAILQ_FOREACH(ls, list, entry)
		s->n++;
	s->l = xcalloc(s->n + 1, sizeof *s->l);
	s->n = 0;
	TAILQ_FOREACH(ls, list, entry) {
		struct listener_snap *ln = &s->l[s->n++];

		ln->ls = ls;
		for (i = 0; i < SL_MAX; i++)
			ln->v[i] = lstat_sum(ls, i);
		for (ended = 0, i = 0; i < END_MAX; i++)
			ended += ln->v[SL_ENDED + i];
		/* An end read before its accept: never below 0. */
		if (ln->v[SL_ACCEPTED] < ended)
			ln->v[SL_ACCEPTED] = ended;
		ln->open = ln->v[SL_ACCEPTED] - ended;
	}
	for (i = 0; i < SG_MAX; i++)
		s->g[i] = gstat_sum(i);
}

/* A label value: backslash, quote and newline escaped. */
static void
add_label_value(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

static void
family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* name{listener="L"[,reason="R"]} value */
static void
listener_sample(struct evbuffer *b, const char *name,
    const struct listener_snap *ln, const char *reason, uint64_t v)
{
	evbuffer_add_printf(b, "%s{listener=\"", name);
	add_label_value(b, ln->ls->name);
	if (reason != NULL)
		evbuffer_add_printf(b, "\",reason=\"%s", reason);
	evbuffer_add_printf(b, "\"} %llu\n", (unsigned long long)v);
}

/* One family of per-listener counters, for listeners of that kind. */
static void
listener_family(struct evbuffer *b, const struct snapshot *s,
    unsigned int kind, const char *name, const char *type, const char *help,
    unsigned int which)
{
	size_t i;

	family(b, name, type, help);
	for (i = 0; i < s->n; i++) {
		if (s->l[i].ls->kinds & kind)
			listener_sample(b, name, &s->l[i], NULL,
			    s->l[i].v[which]);
	}
}

/* A per-listener family with a reason label, one sample per reason. */
static void
reason_family(struct evbuffer *b, const struct snapshot *s,
    unsigned int kind, const char *name, const char *help,
    unsigned int first, const char *const *reasons, unsigned int nreasons)
{
	size_t i;
	unsigned int r;

	family(b, name, "counter", help);
	for (i = 0; i < s->n; i++) {
		if (!(s->l[i].ls->kinds & kind))
			continue;
		for (r = 0; r < nreasons; r++)
			listener_sample(b, name, &s->l[i], reasons[r],
			    s->l[i].v[first + r]);
	}
}

static void
write_listener_families(struct evbuffer *b, const struct snapshot *s)
{
	static const char *refusals[] = { "full", "per_ip" };
	size_t i;

	family(b, "echochat_connections", "gauge",
	    "stream connections open now");
	for (i = 0; i < s->n; i++) {
		if (s->l[i].ls->kinds & STATS_STREAM)
			listener_sample(b, "echochat_connections", &s->l[i],
			    NULL, s->l[i].open);
	}
	listener_family(b, s, STATS_STREAM,
	    "echochat_connections_accepted_total", "counter",
	    "stream connections accepted", SL_ACCEPTED);
	reason_family(b, s, STATS_STREAM,
	    "echochat_connections_refused_total", "refused at accept",
	    SL_REFUSED_FULL, refusals, 2);
	reason_family(b, s, STATS_STREAM, "echochat_disconnects_total",
	    "connections closed", SL_ENDED, end_names, END_MAX);
	listener_family(b, s, STATS_STREAM | STATS_DGRAM,
	    "echochat_received_bytes_total", "counter",
	    "payload bytes read (stream and datagram)", SL_RECEIVED_BYTES);
	listener_family(b, s, STATS_STREAM | STATS_DGRAM,
	    "echochat_sent_bytes_total", "counter", "payload bytes written",
	    SL_SENT_BYTES);
	listener_family(b, s, STATS_DGRAM,
	    "echochat_datagrams_received_total", "counter",
	    "UDP datagrams read", SL_DATAGRAMS);
	reason_family(b, s, STATS_DGRAM, "echochat_datagrams_dropped_total",
	    "datagrams not answered", SL_DROPPED, drop_names, DROP_MAX);
}

static void
global_sample(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	family(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void
write_global_families(struct evbuffer *b, const struct snapshot *s)
{
	family(b, "echochat_build_info", "gauge", "always 1");
	evbuffer_add_printf(b, "echochat_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	global_sample(b, "echochat_chat_participants", "gauge",
	    "chat participants on this server", s->g[SG_CHAT_PARTICIPANTS]);
	global_sample(b, "echochat_chat_rooms", "gauge", "rooms that exist",
	    s->g[SG_CHAT_ROOMS]);
	global_sample(b, "echochat_chat_messages_total", "counter",
	    "chat lines accepted from participants", s->g[SG_CHAT_MESSAGES]);
	global_sample(b, "echochat_chat_deliveries_total", "counter",
	    "lines delivered to participants", s->g[SG_CHAT_DELIVERIES]);
	family(b, "echochat_chat_dropped_total", "counter",
	    "chat input dropped");
	evbuffer_add_printf(b,
	    "echochat_chat_dropped_total{reason=\"rate\"} %llu\n"
	    "echochat_chat_dropped_total{reason=\"too_long\"} %llu\n"
	    "echochat_chat_dropped_total{reason=\"line_timeout\"} %llu\n",
	    (unsigned long long)s->g[SG_CHAT_DROPPED_RATE],
	    (unsigned long long)s->g[SG_CHAT_DROPPED_TOO_LONG],
	    (unsigned long long)s->g[SG_CHAT_DROPPED_LINE_TIMEOUT]);
	global_sample(b, "echochat_output_queued_bytes", "gauge",
	    "bytes waiting in output queues for clients that read slower "
	    "than they are sent to", s->g[SG_OUTPUT_QUEUED]);
	if (cluster_enabled()) {
		global_sample(b, "echochat_cluster_up", "gauge", "1 when "
		    "connected to the cluster's broker", s->g[SG_CLUSTER_UP]);
		global_sample(b, "echochat_cluster_dropped_total", "counter",
		    "records for other servers dropped (broker unreachable "
		    "or backed up)", s->g[SG_CLUSTER_DROPPED]);
	}
	family(b, "echochat_reloads_total", "counter", "SIGHUP reloads");
	evbuffer_add_printf(b, "echochat_reloads_total{result=\"ok\"} %llu\n"
	    "echochat_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)s->g[SG_RELOADS_OK],
	    (unsigned long long)s->g[SG_RELOADS_FAILED]);
}

/* The process' own figures, from /proc/self as Prometheus defines them. */
static void
write_process_families(struct evbuffer *b)
{
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0,
	    btime = 0;
	long long rss = 0;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	char buf[1024], *p;
	struct rlimit rl;
	unsigned int fds = 0;
	struct dirent *de;
	FILE *f;
	DIR *d;

	if ((f = fopen("/proc/self/stat", "r")) != NULL) {
		/* Fields after the command name, which may hold spaces. */
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			    "%*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu "
			    "%lld", &utime, &stime, &start, &vsize, &rss);
		fclose(f);
	}
	if ((f = fopen("/proc/stat", "r")) != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL &&
		    sscanf(buf, "btime %llu", &btime) != 1)
			;
		fclose(f);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				fds++;
		closedir(d);
		fds--;		/* the one opendir holds */
	}
	if (ticks <= 0)
		ticks = 100;
	family(b, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	evbuffer_add_printf(b, "process_cpu_seconds_total %.2f\n",
	    (double)(utime + stime) / (double)ticks);
	family(b, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds.");
	evbuffer_add_printf(b, "process_start_time_seconds %.2f\n",
	    (double)btime + (double)start / (double)ticks);
	global_sample(b, "process_resident_memory_bytes", "gauge",
	    "Resident memory size in bytes.",
	    (uint64_t)(rss > 0 ? rss : 0) * (uint64_t)page);
	global_sample(b, "process_virtual_memory_bytes", "gauge",
	    "Virtual memory size in bytes.", vsize);
	global_sample(b, "process_open_fds", "gauge",
	    "Number of open file descriptors.", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		global_sample(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.", rl.rlim_cur);
}

/* Every family, from one snapshot. */
static void
metrics_write(struct evbuffer *b)
{
	struct snapshot s;

	snapshot_take(&s);
	write_global_families(b, &s);
	write_listener_families(b, &s);
	write_process_families(b);
	free(s.l);
}

/* --- HTTP. --- */

/*
 * Send a reply with its body.  evhttp would send the body of a HEAD too:
 * HEAD gets the length alone.
 */
static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	char len[32];

	evhttp_add_header(headers, "Content-Type", type);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof len, "%zu", evbuffer_get_length(body));
		evhttp_add_header(headers, "Content-Length", len);
		evhttp_send_reply(req, code, reason, NULL);
	} else
		evhttp_send_reply(req, code, reason, body);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer *body = evbuffer_new();

	evbuffer_add(body, text, strlen(text));
	reply(req, code, reason, "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

/* One request, on the main loop: answered here and now. */
static void
metrics_request(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
	    req));
	struct evbuffer *body;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		reply_text(req, 405, "Method Not Allowed",
		    "method not allowed\n");
	} else if (path != NULL && strcmp(path, "/metrics") == 0) {
		body = evbuffer_new();
		metrics_write(body);
		reply(req, 200, "OK", "text/plain; version=0.0.4", body);
		evbuffer_free(body);
	} else if (path != NULL && strcmp(path, "/healthz") == 0) {
		if (m->state == METRICS_SERVING)
			reply_text(req, 200, "OK", "ok\n");
		else
			reply_text(req, 503, "Service Unavailable",
			    m->state == METRICS_STARTING ? "starting\n" :
			    "stopping\n");
	} else
		reply_text(req, 404, "Not Found", "not found\n");
}

/* One HTTP connection's bufferevent, which we keep a reference to. */
struct metrics_conn {
	struct bufferevent	*bev;
	TAILQ_ENTRY(metrics_conn) entry;
};

/*
 * Let go of the connections evhttp has freed.  evhttp tells nobody when
 * it frees a connection that never made a request (a slowloris timed
 * out), so each connection's bufferevent carries a reference of ours:
 * evhttp's bufferevent_free clears its callbacks, and the struct stays
 * until we drop ours here.
 *
 * Until then its read and write events are still registered for its
 * descriptor, so the descriptor must stay open: were it closed (as
 * evhttp closes descriptors it does not own), the next connection
 * accepted would get the same number, and libevent, which still counts
 * the old events for it, would never tell epoll about the new one -- that
 * connection would never be read.  So the bufferevent owns it
 * (BEV_OPT_CLOSE_ON_FREE: evhttp then only shuts down its writing side)
 * and closes it once our reference is gone and the events with it.  The
 * sweep runs every 100 ms, which bounds how long a dead connection lasts.
 */
static void
metrics_sweep_conns(struct metrics *m)
{
	struct metrics_conn *mc, *next;
	bufferevent_data_cb readcb, writecb;
	bufferevent_event_cb eventcb;
	void *arg;

	TAILQ_FOREACH_SAFE(mc, &m->conns, entry, next) {
		bufferevent_getcb(mc->bev, &readcb, &writecb, &eventcb, &arg);
		if (readcb != NULL || eventcb != NULL)
			continue;	/* evhttp still has it */
		TAILQ_REMOVE(&m->conns, mc, entry);
		bufferevent_decref(mc->bev);
		free(mc);
		m->nconns--;
	}
	if (m->nconns < METRICS_CONNS_MAX && m->bound != NULL &&
	    !evtimer_pending(m->pause, NULL))
		evconnlistener_enable(evhttp_bound_socket_get_listener(
		    m->bound));
}

/* Every 100 ms, while connections are open. */
static void
metrics_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	metrics_sweep_conns(m);
	if (m->nconns == 0)
		evtimer_del(m->sweep);
}

/*
 * evhttp's bufferevent for a new connection, counted against the cap.
 * At the cap the port stops accepting: newcomers wait in the kernel's
 * backlog, not in our descriptors.
 */
static struct bufferevent *
metrics_bev(struct event_base *base, void *arg)
{
	static const struct timeval sweep_every = { 0, 100 * 1000 };
	struct metrics *m = arg;
	struct metrics_conn *mc;

	metrics_sweep_conns(m);
	mc = xcalloc(1, sizeof *mc);
	if ((mc->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(mc);
		return NULL;	/* evhttp makes one itself */
	}
	bufferevent_incref(mc->bev);
	TAILQ_INSERT_TAIL(&m->conns, mc, entry);
	if (++m->nconns >= METRICS_CONNS_MAX && m->bound != NULL)
		evconnlistener_disable(evhttp_bound_socket_get_listener(
		    m->bound));
	if (!evtimer_pending(m->sweep, NULL))
		evtimer_add(m->sweep, &sweep_every);
	return mc->bev;
}

/* Out of descriptors (say): rest the port a moment instead of spinning. */
static void
metrics_accept_error(struct evconnlistener *evl, void *arg)
{
	struct metrics *m = arg;
	struct timeval tv = { 0, METRICS_PAUSE_MS * 1000 };

	log_debug("metrics: accept: %s", strerror(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(evl);
	evtimer_add(m->pause, &tv);
}

static void
metrics_resume(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	if (m->bound != NULL && m->nconns < METRICS_CONNS_MAX)
		evconnlistener_enable(evhttp_bound_socket_get_listener(
		    m->bound));
}

struct metrics *
metrics_new(struct event_base *base)
{
	struct metrics *m = xcalloc(1, sizeof *m);

	m->base = base;
	TAILQ_INIT(&m->conns);
	m->state = METRICS_STARTING;
	m->pause = evtimer_new(base, metrics_resume, m);
	m->sweep = event_new(base, -1, EV_PERSIST, metrics_sweep, m);
	return m;
}

/* The HTTP server, made when first needed. */
static void
metrics_http_start(struct metrics *m)
{
	if (m->http != NULL)
		return;
	if ((m->http = evhttp_new(m->base)) == NULL) {
		log_error("metrics: cannot create the HTTP server");
		abort();	/* out of memory */
	}
	/* Every method reaches metrics_request, which answers 405. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(m->http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_bevcb(m->http, metrics_bev, m);
	evhttp_set_gencb(m->http, metrics_request, m);
}

/* Stop listening on the port (connections being served stay). */
static void
metrics_unbind(struct metrics *m)
{
	if (m->bound == NULL)
		return;
	log_info("metrics: no longer serving on %s", m->bound_name);
	evhttp_del_accept_socket(m->http, m->bound);
	m->bound = NULL;
	free(m->bind);
	free(m->bound_name);
	m->bind = m->bound_name = NULL;
}

int
metrics_listen(struct metrics *m, const struct listener_conf *lc,
    char **cause)
{
	struct evhttp_bound_socket *bound;
	uint16_t port;
	char *label;
	int fd;

	if (lc == NULL) {
		metrics_unbind(m);
		return 0;
	}
	if (m->bind != NULL && strcmp(m->bind, lc->bind) == 0)
		return 0;	/* unchanged: the same socket */
	xasprintf(&label, "[metrics] bind %s", lc->bind);
	fd = sock_bind_inet(&lc->addr, lc->addrlen, SOCK_STREAM, lc->wildcard,
	    label, cause);
	free(label);
	if (fd == -1)
		return -1;
	if (listen(fd, METRICS_BACKLOG) == -1) {
		xasprintf(cause, "[metrics] bind %s: listen: %s", lc->bind,
		    strerror(errno));
		close(fd);
		return -1;
	}
	metrics_http_start(m);
	if ((bound = evhttp_accept_socket_with_handle(m->http, fd)) == NULL) {
		xasprintf(cause, "[metrics] bind %s: cannot serve HTTP",
		    lc->bind);
		close(fd);
		return -1;
	}
	metrics_unbind(m);
	m->bound = bound;
	m->bind = xstrdup(lc->bind);
	if ((m->bound_name = sock_bound_name(fd, &port)) == NULL)
		m->bound_name = xstrdup(lc->bind);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound),
	    metrics_accept_error);
	if (m->nconns >= METRICS_CONNS_MAX)
		evconnlistener_disable(evhttp_bound_socket_get_listener(bound));
	log_info("metrics: serving http on %s", m->bound_name);
	return 0;
}

void
metrics_set_state(struct metrics *m, enum metrics_state state)
{
	m->state = state;
}

/* Close the port and every HTTP connection. */
void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);	/* its sockets and connections */
	m->bound = NULL;
	metrics_sweep_conns(m);		/* every one, now */
	event_free(m->sweep);
	event_free(m->pause);
	free(m->bind);
	free(m->bound_name);
	free(m);
}
