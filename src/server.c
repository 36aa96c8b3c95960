/*
 * server.c -- the server: the composition root.  It wires the loops, the
 * listeners, admission, the connections of each loop, the datagram
 * sockets and the handler instances together, and runs what concerns all
 * of them: signals, reloads and the orderly stop.  All of it runs on the
 * main thread; what touches every loop at once (a reload, the start of a
 * stop) holds the other loops still meanwhile (loop.c).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "cluster.h"
#include "hapi.h"
#include "log.h"
#include "parse.h"
#include "server.h"
#include "sock.h"
#include "stats.h"
#include "sync.h"
#include "systemd.h"
#include "tls.h"
#include "xmalloc.h"

static void	server_reload(struct server *);
static void	server_conn_gone(void *, struct conn *);
static void	server_accept(void *, struct listener *, int,
		    struct sockaddr *, socklen_t);

static const struct conn_hooks server_conn_hooks = {
	.gone = server_conn_gone,
};

static const struct listener_ops server_stream_ops = {
	.accept = server_accept,
};

/* The limits connections and datagrams obey, from a configuration. */
static void
server_take_limits(struct server *s, const struct config *c)
{
	s->limits.max_line = c->max_line;
	s->limits.output_limit = c->output_limit;
	s->limits.idle_timeout_ms = c->idle_timeout_ms;
	s->limits.line_timeout_ms = c->line_timeout_ms;
	s->limits.handshake_timeout_ms = c->tls_handshake_timeout_ms;
	s->udp_limits.rate = c->udp_rate;
	s->udp_limits.burst = c->udp_burst;
	s->udp_limits.max_line = c->max_line;
	admit_configure(&s->admit, c->max_clients, c->max_clients_per_ip);
}

/* --- Accepting. --- */

/* Turn a client away with one line, before it becomes a connection. */
static void
server_refuse(struct listener *l, int fd, struct sockaddr *sa,
    socklen_t len, const char *why)
{
	char body[96], line[256], *who = format_address(sa, len);
	int n;

	n = snprintf(body, sizeof body, "*** error: %s\n", why);
	/* A plain WebSocket listener's clients speak HTTP: say it in HTTP. */
	if (l->conf->websocket && l->conf->tls == NULL) {
		n = snprintf(line, sizeof line, "HTTP/1.1 503 Service "
		    "Unavailable\r\nContent-Type: text/plain; charset=utf-8"
		    "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
		    "%s", n, body);
		sock_refuse(fd, line, (size_t)n);
	} else
		sock_refuse(fd, body, (size_t)n);
	log_info("refused %s on listener %s: %s", who, l->conf->name, why);
	free(who);
}

/*
 * The loop a new connection goes to: the one with the fewest, starting
 * the search one further each time so that ties are spread.  Connections
 * still on their way to a loop are counted already.
 */
static struct conn_loop *
server_pick_loop(struct server *s)
{
	unsigned int i, k, best, n = s->loops.n;

	if (n == 1)
		return &s->cls[0];
	best = s->next_loop++ % n;
	for (k = 1; k < n; k++) {
		i = (best + k) % n;
		if (counter_get(&s->cls[i].nconns) <
		    counter_get(&s->cls[best].nconns))
			best = i;
	}
	return &s->cls[best];
}

/*
 * On the connection's loop: start it, unless a stop began or a reload
 * removed its listener while it was on its way.
 */
static void
server_conn_start(void *arg)
{
	struct conn *c = arg;
	struct server *s = c->cl->hooks_arg;

	if (s->stopping || c->listener->retired)
		conn_discard(c);
	else
		conn_start(c);
}

/* A stream connection from a listener: admit it, hand it to a loop. */
static void
server_accept(void *arg, struct listener *l, int fd, struct sockaddr *sa,
    socklen_t len)
{
	struct server *s = arg;
	struct handler_instance *hi = l->owner;
	struct admit_ticket ticket;
	struct peer_addr peer;
	struct conn_loop *cl;
	struct conn *c;

	if (s->stopping) {
		close(fd);
		return;
	}
	peer_addr_set(&peer, sa);
	/* Counted on loop 0, the main thread's: accepting runs here. */
	switch (admit_acquire(&s->admit, &peer, &ticket)) {
	case ADMIT_FULL:
		lstat_add(l->stats, 0, SL_REFUSED_FULL, 1);
		server_refuse(l, fd, sa, len, "server full");
		return;
	case ADMIT_IP_FULL:
		lstat_add(l->stats, 0, SL_REFUSED_PER_IP, 1);
		server_refuse(l, fd, sa, len, "too many connections from "
		    "your address");
		return;
	case ADMIT_OK:
		break;
	}
	lstat_add(l->stats, 0, SL_ACCEPTED, 1);
	cl = server_pick_loop(s);
	c = conn_new(cl, fd, sa, l, &hi->b);
	conn_set_ticket(c, &ticket);
	listener_ref(l);
	if (loop_is_here(cl->loop))
		server_conn_start(c);
	else
		loop_post(cl->loop, server_conn_start, c);
}

/* Every connection is gone during a stop: leave the main loop. */
static void
server_check_done(void *arg)
{
	struct server *s = arg;

	if (s->stopping && admit_count(&s->admit) == 0)
		event_base_loopbreak(s->loops.v[0].base);
}

/*
 * A connection is gone (on its loop): give back its admission and its
 * listener; the last one ends a graceful stop.
 */
static void
server_conn_gone(void *arg, struct conn *c)
{
	struct server *s = arg;
	struct admit_ticket ticket = conn_ticket(c);
	struct peer_addr peer;

	conn_peer(c, &peer);
	listener_release(c->listener);
	if (admit_release(&s->admit, &peer, &ticket) != 0 ||
	    !s->stopping)
		return;
	if (loop_is_here(&s->loops.v[0]))
		server_check_done(s);
	else
		loop_post(&s->loops.v[0], server_check_done, s);
}

/* --- Listeners. --- */

/* A listener's counters, by name: a re-created one goes on counting. */
static struct listener_stats *
server_listener_stats(const struct listener_conf *lc)
{
	return stats_listener(lc->name, lc->proto == PROTO_UDP ?
	    STATS_DGRAM : STATS_STREAM);
}

/*
 * Open one listener for lc with its handler's instance, as a stream
 * acceptor or a datagram socket.
 */
static int
server_listener_open(struct server *s, const struct config *config,
    struct listener_conf *lc, int passed_fd, struct listener **out,
    char **cause)
{
	struct event_base *base = s->loops.v[0].base;
	struct handler_instance *hi;
	struct udp_socket *us;
	char *why;

	hi = handlers_get(&s->handlers, lc->handler, &config->handler_settings,
	    &why);
	if (hi == NULL) {
		xasprintf(cause, "listener %s: %s", lc->name, why);
		free(why);
		return -1;
	}
	if (lc->proto == PROTO_UDP) {
		us = udp_socket_new(&s->udp, hi->b.handler, hi->b.state);
		if (listener_open(lc, passed_fd, base, &udp_listener_ops, us,
		    out, &why) == -1) {
			udp_socket_detach(us);
			goto fail;
		}
		udp_socket_attach(us, *out);
	} else if (listener_open(lc, passed_fd, base, &server_stream_ops, s,
	    out, &why) == -1)
		goto fail;
	(*out)->owner = hi;
	(*out)->stats = server_listener_stats(lc);
	return 0;
fail:
	xasprintf(cause, "listener %s: %s", lc->name, why);
	free(why);
	return -1;
}

/* A datagram listener's socket half goes with it. */
static void
server_listener_detach(struct listener *l)
{
	if (l->conf->proto == PROTO_UDP && l->ops_arg != NULL) {
		udp_socket_detach(l->ops_arg);
		l->ops_arg = NULL;
	}
}

static void
server_listener_close(struct listener *l)
{
	server_listener_detach(l);
	listener_close(l);
}

/* Free every listener. */
static void
server_close_listeners(struct server *s)
{
	struct listener *l;

	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, entry);
		server_listener_close(l);
	}
}

/* Drop every connection of a listener, on every loop (world held). */
static void
drop_listener_conns(struct server *s, struct listener *l, const char *why)
{
	unsigned int i;

	for (i = 0; i < s->loops.n; i++)
		conn_loop_drop_listener(&s->cls[i], l, why);
}

/* First descriptor of socket activation (SD_LISTEN_FDS_START). */
#define PASSED_FDS_START	3

/* A passed socket for this listener, claimed; -1 if none. */
static int
claim_passed_socket(struct server *s, const struct listener_conf *lc)
{
	int i;

	/* Port 0 asks the kernel for a port: no passed socket is meant. */
	if (lc->proto != PROTO_UNIX && (lc->addr.ss_family == AF_INET ?
	    ((const struct sockaddr_in *)&lc->addr)->sin_port :
	    ((const struct sockaddr_in6 *)&lc->addr)->sin6_port) == 0)
		return -1;
	for (i = 0; i < s->npassed; i++) {
		if (!s->passed_claimed[i] &&
		    systemd_socket_matches(PASSED_FDS_START + i, lc)) {
			s->passed_claimed[i] = 1;
			return PASSED_FDS_START + i;
		}
	}
	return -1;
}

/* Passed sockets no listener wanted are configuration mistakes. */
static void
reject_unclaimed_sockets(struct server *s)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char *where;
	int i, fd;

	for (i = 0; i < s->npassed; i++) {
		if (s->passed_claimed[i])
			continue;
		fd = PASSED_FDS_START + i;
		len = sizeof ss;
		memset(&ss, 0, sizeof ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
			where = xstrdup("?");
		else
			where = format_address((struct sockaddr *)&ss, len);
		log_error("socket %d (%s) passed by systemd matches no "
		    "listener's bind; closing it", fd, where);
		free(where);
		close(fd);
	}
}

/*
 * Bind every configured listener, adopting sockets passed by systemd
 * where one matches.  On failure everything is undone and *cause (caller
 * frees) says which listener and why.
 */
int
server_open_listeners(struct server *s, char **cause)
{
	struct listener_conf *lc;
	struct listener *l;

	s->npassed = systemd_listen_fds();
	s->passed_claimed = xcalloc((size_t)s->npassed + 1, 1);
	TAILQ_FOREACH(lc, &s->config->listeners, entry) {
		if (server_listener_open(s, s->config, lc,
		    claim_passed_socket(s, lc), &l, cause) == -1) {
			server_close_listeners(s);
			return -1;
		}
		TAILQ_INSERT_TAIL(&s->listeners, l, entry);
	}
	if (metrics_listen(s->metrics, s->config->metrics, cause) == -1) {
		server_close_listeners(s);
		return -1;
	}
	reject_unclaimed_sockets(s);
	return 0;
}

/*
 * Unix socket files to hand over when dropping privileges: those whose
 * listener names no owner or group of its own.
 */
char **
server_unix_paths(struct server *s)
{
	struct listener *l;
	char **paths;
	size_t n = 0;

	paths = xcalloc(server_count_listeners(s) + 1, sizeof *paths);
	TAILQ_FOREACH(l, &s->listeners, entry) {
		if (l->unix_path != NULL && l->conf->owner == NULL &&
		    l->conf->group == NULL)
			paths[n++] = l->unix_path;
	}
	return paths;
}

/* --- Stopping. --- */

/* SIGTERM/SIGINT: stop accepting, say goodbye, drain, then leave. */
static void
server_stop(struct server *s, const char *why)
{
	struct listener *l;
	struct timeval tv;
	uint64_t ms = s->config->shutdown_timeout_ms;
	unsigned int i;

	if (s->stopping) {
		log_info("%s again: stopping now", why);
		event_base_loopbreak(s->loops.v[0].base);
		return;
	}
	log_info("shutting down (%s)", why);
	notify("STOPPING=1");
	metrics_set_state(s->metrics, METRICS_STOPPING);
	world_stop(&s->loops);
	s->stopping = 1;
	handlers_shutdown(&s->handlers);
	TAILQ_FOREACH(l, &s->listeners, entry)
		listener_stop(l);
	for (i = 0; i < s->loops.n; i++)
		conn_loop_finish_all(&s->cls[i]);
	world_resume(&s->loops);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->shutdown_timer, &tv);
	server_check_done(s);
}

/* The drain time is up. */
static void
server_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	log_info("shutdown_timeout reached with %u connections left",
	    admit_count(&s->admit));
	event_base_loopbreak(s->loops.v[0].base);
}

/* SIGUSR2: the headline figures in one line, for those without scrapes. */
static void
server_log_summary(void)
{
	char line[256];

	stats_summary(line, sizeof line);
	log_info("SIGUSR2: %s", line);
}

/* Signals are delivered inside the loop, never in signal context. */
static void
server_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	switch (sig) {
	case SIGTERM:
		server_stop(s, "SIGTERM");
		break;
	case SIGINT:
		server_stop(s, "SIGINT");
		break;
	case SIGHUP:
		if (!s->stopping)
			server_reload(s);
		break;
	case SIGUSR1:
		log_info("SIGUSR1: reopening the log");
		world_stop(&s->loops);
		/* The first line of a new file says why it begins there. */
		if (log_reopen() == 0)
			log_info("log reopened (SIGUSR1)");
		world_resume(&s->loops);
		break;
	case SIGUSR2:
		server_log_summary();
		break;
	}
}

/*
 * Set up the server with its loops, the first on the main thread's base;
 * listeners come with server_open_listeners and worker threads with
 * server_start_workers.  On failure *cause (caller frees) says why;
 * server_free still cleans up.
 */
int
server_init(struct server *s, struct config *config, struct event_base *base,
    char **cause)
{
	unsigned int i;

	memset(s, 0, sizeof *s);
	s->config = config;
	TAILQ_INIT(&s->listeners);
	TAILQ_INIT(&s->handlers);
	admit_init(&s->admit);
	server_take_limits(s, config);
	s->sig_term = evsignal_new(base, SIGTERM, server_signal, s);
	s->sig_int = evsignal_new(base, SIGINT, server_signal, s);
	s->sig_hup = evsignal_new(base, SIGHUP, server_signal, s);
	s->sig_usr1 = evsignal_new(base, SIGUSR1, server_signal, s);
	s->sig_usr2 = evsignal_new(base, SIGUSR2, server_signal, s);
	evsignal_add(s->sig_usr2, NULL);
	evsignal_add(s->sig_term, NULL);
	evsignal_add(s->sig_int, NULL);
	evsignal_add(s->sig_hup, NULL);
	evsignal_add(s->sig_usr1, NULL);
	s->shutdown_timer = evtimer_new(base, server_shutdown_timeout, s);
	if (loops_init(&s->loops, base, loops_resolve(config->workers),
	    cause) == -1)
		return -1;
	hapi_init(&s->loops);
	if (config->cluster_redis != NULL) {
		struct cluster_conf cc = {
			.redis = config->cluster_redis,
			.channel = config->cluster_channel,
			.node = config->cluster_node,
			.password = config->cluster_password,
			.node_timeout_ms = config->cluster_node_timeout_ms,
		};

		cluster_start(&s->loops.v[0], &cc);
	}
	stats_init(s->loops.n);
	s->metrics = metrics_new(base);
	s->cls = xcalloc(s->loops.n, sizeof *s->cls);
	for (i = 0; i < s->loops.n; i++)
		conn_loop_init(&s->cls[i], &s->loops.v[i], &s->limits,
		    &server_conn_hooks, s);
	udp_set_init(&s->udp, &s->loops.v[0], &s->udp_limits);
	return 0;
}

/* Threads after the fork of -d and after dropping privileges. */
int
server_start_workers(struct server *s, char **cause)
{
	/* After the fork of -d: the link's sockets are the daemon's. */
	cluster_connect();
	return loops_start(&s->loops, cause);
}

/* --- Reloading. --- */

/* The running listener a new listener_conf can take over, or NULL. */
static struct listener *
find_reusable(struct server *s, const struct listener_conf *lc)
{
	struct listener *l;

	TAILQ_FOREACH(l, &s->listeners, entry) {
		if (l->next_conf == NULL && l->conf->proto == lc->proto &&
		    strcmp(l->conf->bind, lc->bind) == 0)
			return l;
	}
	return NULL;
}

/* Forget a half-made reload: new listeners closed, old ones untouched. */
static void
reload_undo(struct server *s, struct listener_list *added)
{
	struct listener *l;

	while ((l = TAILQ_FIRST(added)) != NULL) {
		TAILQ_REMOVE(added, l, entry);
		server_listener_close(l);
	}
	TAILQ_FOREACH(l, &s->listeners, entry)
		l->next_conf = NULL;
}

/*
 * A kept socket takes its new settings.  Its connections stay unless the
 * handler changed: they were speaking the old handler's protocol.
 */
static int
reload_keep(struct server *s, struct config *new, struct listener *l,
    char **cause)
{
	struct listener_conf *lc = l->next_conf;
	struct handler_instance *old = l->owner, *hi;
	char *why;

	l->next_conf = NULL;
	l->conf = lc;
	if (lc->tls != NULL) {
		char what[384];

		tls_ctx_describe(lc->tls, what, sizeof what);
		log_info("listener %s: TLS certificate read again: %s",
		    lc->name, what);
	}
	/* New mode, owner, group; after dropping privileges chown may fail. */
	if (l->unix_path != NULL &&
	    listener_unix_perms(lc, l->unix_path, &why) == -1) {
		log_warnx("listener %s: %s", lc->name, why);
		free(why);
	}
	l->stats = server_listener_stats(lc);	/* it may have a new name */
	if (lc->handler == old->b.handler)
		return 0;
	log_info("listener %s: handler %s -> %s; its connections are closed",
	    lc->name, old->b.handler->name, lc->handler->name);
	drop_listener_conns(s, l, "listener changed");
	if ((hi = handlers_get(&s->handlers, lc->handler,
	    &new->handler_settings, &why)) == NULL) {
		xasprintf(cause, "listener %s: %s", lc->name, why);
		free(why);
		return -1;
	}
	l->owner = hi;
	if (lc->proto == PROTO_UDP)
		udp_socket_set_handler(l->ops_arg, hi->b.handler, hi->b.state);
	return 0;
}

/* A listener the new configuration does not have: stop and retire it. */
static void
reload_remove(struct server *s, struct listener *l)
{
	log_info("listener %s: removed (%s %s)", l->conf->name,
	    proto_name(l->conf->proto), l->bound_name);
	TAILQ_REMOVE(&s->listeners, l, entry);
	TAILQ_REMOVE(&s->config->listeners, l->conf, entry);
	l->own_conf = 1;
	drop_listener_conns(s, l, "listener removed");
	server_listener_detach(l);
	listener_retire(l);
}

/*
 * Apply a new, valid configuration: open what is new first (so a failure
 * changes nothing), then keep, change or retire what runs.  Listeners are
 * matched by protocol and bind, so an unchanged one keeps its socket and
 * its connections.
 */
static int
server_apply(struct server *s, struct config *new, char **cause)
{
	struct listener_list added;
	struct listener_conf *lc;
	struct listener *l, *next;
	char *why;

	TAILQ_INIT(&added);
	TAILQ_FOREACH(lc, &new->listeners, entry) {
		if ((l = find_reusable(s, lc)) != NULL) {
			l->next_conf = lc;
			continue;
		}
		/* A handler started here starts on the new settings. */
		if (server_listener_open(s, new, lc, -1, &l, cause) == -1) {
			reload_undo(s, &added);
			return -1;
		}
		TAILQ_INSERT_TAIL(&added, l, entry);
	}
	if (metrics_listen(s->metrics, new->metrics, cause) == -1) {
		reload_undo(s, &added);
		return -1;
	}
	TAILQ_FOREACH_SAFE(l, &s->listeners, entry, next) {
		if (l->next_conf == NULL)
			reload_remove(s, l);
		else if (reload_keep(s, new, l, &why) == -1) {
			log_error("%s", why);
			free(why);
		}
	}
	TAILQ_CONCAT(&s->listeners, &added, entry);
	config_free(s->config);
	s->config = new;
	server_take_limits(s, new);
	handlers_configure(&s->handlers, &new->handler_settings);
	return 0;
}

/* config_load's reporter during a reload: the log. */
static void
report_to_log(const char *msg)
{
	log_error("%s", msg);
}

/*
 * SIGHUP: read the same file again and apply it.  A file with errors, or
 * one whose new listeners cannot be bound, changes nothing.
 */
static void
server_reload(struct server *s)
{
	struct config *new;
	unsigned int nerrors;
	const char *why;
	char *cause;

	notify("RELOADING=1");
	log_info("SIGHUP: reloading %s", s->config_path ? s->config_path :
	    "the built-in defaults");
	new = config_load(s->config_path, s->config_path == NULL,
	    report_to_log, &nerrors);
	if (new != NULL && s->have_log_level)
		new->log_level = s->log_level;
	if (new != NULL && loops_resolve(new->workers) != s->loops.n)
		log_warnx("reload: workers = %llu takes effect at the next "
		    "start; %u running", (unsigned long long)new->workers,
		    s->loops.n);
	world_stop(&s->loops);
	if (new == NULL) {
		gstat_add(SG_RELOADS_FAILED, 1);
		log_error("reload failed: %u error%s; still running on the "
		    "previous configuration", nerrors, nerrors == 1 ? "" : "s");
	} else if (server_apply(s, new, &cause) == -1) {
		gstat_add(SG_RELOADS_FAILED, 1);
		log_error("reload failed: %s; still running on the previous "
		    "configuration", cause);
		free(cause);
		config_free(new);
	} else {
		gstat_add(SG_RELOADS_OK, 1);
		if (log_open(server_log_target(s), s->config->log_level,
		    &why) == -1)
			log_error("reload: log %s: %s; logging stays where it "
			    "was", s->config->log, why);
		else
			log_info("reload done: %u listener%s",
			    server_count_listeners(s),
			    server_count_listeners(s) == 1 ? "" : "s");
	}
	if (log_reopen() == 0)
		log_info("log reopened (SIGHUP)");
	world_resume(&s->loops);
	server_notify_ready(s);
}

/*
 * Where the log goes: as configured, except that a detached daemon has no
 * stderr, so "stderr" means syslog there.
 */
const char *
server_log_target(struct server *s)
{
	if (s->detached && strcmp(s->config->log, "stderr") == 0)
		return "syslog";
	return s->config->log;
}

/* How many listeners run. */
unsigned int
server_count_listeners(struct server *s)
{
	struct listener *l;
	unsigned int n = 0;

	TAILQ_FOREACH(l, &s->listeners, entry)
		n++;
	return n;
}

/*
 * READY=1, with a STATUS line naming every listener and the address it
 * really listens on ("ready; listeners: echo tcp 127.0.0.1:7007, ..."):
 * systemctl status shows it, and whoever started us with port 0 learns
 * the ports without reading the log.
 */
void
server_notify_ready(struct server *s)
{
	struct evbuffer *msg = evbuffer_new();
	struct listener *l;
	const char *sep = "";

	if (!s->stopping)
		metrics_set_state(s->metrics, METRICS_SERVING);
	evbuffer_add_printf(msg, "READY=1\nSTATUS=ready; listeners: ");
	TAILQ_FOREACH(l, &s->listeners, entry) {
		evbuffer_add_printf(msg, "%s%s %s %s", sep, l->conf->name,
		    proto_name(l->conf->proto), l->bound_name);
		sep = ", ";
	}
	evbuffer_add(msg, "", 1);
	notify((const char *)evbuffer_pullup(msg, -1));
	evbuffer_free(msg);
}

/* Run until stopped. */
void
server_run(struct server *s)
{
	event_base_dispatch(s->loops.v[0].base);
}

/* Release everything the server holds (not the base or the config). */
void
server_free(struct server *s)
{
	static const int stop_signals[] = {
		SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2
	};
	sigset_t late;
	unsigned int i;

	/*
	 * Late signals must not kill us mid-cleanup with default actions.
	 * Freeing a signal event puts back the action from before libevent's,
	 * the default one, so ignoring them first would not last to the exit;
	 * and between the free and the ignore a SIGTERM (a supervisor that
	 * asks twice) would end the process with its default action.  So they
	 * are blocked across both steps (worker threads block them anyway);
	 * one that came meanwhile is dropped once it is ignored.
	 */
	sigemptyset(&late);
	for (i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
		sigaddset(&late, stop_signals[i]);
	pthread_sigmask(SIG_BLOCK, &late, NULL);
	event_free(s->sig_term);
	event_free(s->sig_int);
	event_free(s->sig_hup);
	event_free(s->sig_usr1);
	if (s->sig_usr2 != NULL)
		event_free(s->sig_usr2);
	for (i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
		signal(stop_signals[i], SIG_IGN);
	/* Threads first; then connections: they point to their listeners. */
	if (s->loops.v != NULL)
		loops_stop(&s->loops);
	for (i = 0; s->cls != NULL && i < s->loops.n; i++)
		conn_loop_free(&s->cls[i]);
	server_close_listeners(s);
	handlers_stop(&s->handlers);
	cluster_stop();
	metrics_free(s->metrics);
	s->metrics = NULL;
	udp_set_free(&s->udp);
	admit_free(&s->admit);
	free(s->passed_claimed);
	event_free(s->shutdown_timer);
	free(s->cls);
	s->cls = NULL;
	loops_free(&s->loops);
	stats_free();
}
