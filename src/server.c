/*
 * server.c -- the server: its event loops, signals, the listener set,
 * per-address connection counts, reloads and the orderly stop.  All of it
 * runs on the main thread; what touches every loop at once (a reload, the
 * start of a stop) holds the other loops still meanwhile (worker.c).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "echochat.h"

/* Per-address stream connection counts, for max_clients_per_ip. */
struct ip_count {
	uint8_t			 family;
	uint8_t			 addr[16];
	unsigned int		 count;
	struct ip_count		*next;
};

#define IP_BUCKETS	4096

static void	server_reload(struct server *);

/* The per-address table is shared by every loop's closing connections. */
static void
ip_lock(struct server *s)
{
	threads_lock(&s->ip_lock);
}

static void
ip_unlock(struct server *s)
{
	threads_unlock(&s->ip_lock);
}

/* FNV-1a over the address bytes. */
static size_t
ip_hash(const struct conn *c)
{
	uint32_t h = 2166136261u;
	size_t i, n = c->peer_family == AF_INET ? 4 : 16;

	for (i = 0; i < n; i++)
		h = (h ^ c->peer_addr[i]) * 16777619u;
	return h % IP_BUCKETS;
}

/* The count slot for c's address; created when create is set. */
static struct ip_count **
ip_find(struct server *s, const struct conn *c)
{
	struct ip_count **pp;
	size_t n = c->peer_family == AF_INET ? 4 : 16;

	for (pp = &s->ip_counts[ip_hash(c)]; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->family == c->peer_family &&
		    memcmp((*pp)->addr, c->peer_addr, n) == 0)
			break;
	}
	return pp;
}

/* Does this connection take part in per-address counting? */
static int
ip_counted(struct server *s, const struct conn *c)
{
	return s->config->max_clients_per_ip != 0 && s->ip_counts != NULL &&
	    (c->peer_family == AF_INET || c->peer_family == AF_INET6);
}

/* Count a new connection against its address; -1 if over the limit. */
int
server_ip_acquire(struct server *s, struct conn *c)
{
	struct ip_count **pp, *ic;

	int r = 0;

	if (!ip_counted(s, c))
		return 0;
	ip_lock(s);
	pp = ip_find(s, c);
	if ((ic = *pp) == NULL) {
		ic = *pp = xcalloc(1, sizeof *ic);
		ic->family = c->peer_family;
		memcpy(ic->addr, c->peer_addr, sizeof ic->addr);
	}
	if (ic->count >= s->config->max_clients_per_ip)
		r = -1;		/* a new entry has count 0: never refused */
	else {
		ic->count++;
		c->flags |= CONN_IP_COUNTED;
	}
	ip_unlock(s);
	return r;
}

/* A counted connection is gone. */
void
server_ip_release(struct server *s, struct conn *c)
{
	struct ip_count **pp, *ic;

	if (!(c->flags & CONN_IP_COUNTED))
		return;
	ip_lock(s);
	pp = ip_find(s, c);
	if ((ic = *pp) != NULL && --ic->count == 0) {
		*pp = ic->next;
		free(ic);
	}
	ip_unlock(s);
}

/* Free every listener. */
static void
server_close_listeners(struct server *s)
{
	struct listener *l;

	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, entry);
		listener_close(l);
	}
}

/* Tell every started handler that the server is going down. */
static void
server_handlers_shutdown(struct server *s)
{
	struct listener *l;
	int i;

	TAILQ_FOREACH(l, &s->listeners, entry) {
		i = handler_index(l->handler);
		if (s->hstarted[i] == 1 && l->handler->shutdown != NULL)
			l->handler->shutdown(l->hstate);
		s->hstarted[i] = 2;	/* told once */
	}
}

/* Every connection is gone during a stop: leave the main loop. */
static void
server_check_done(struct server *s)
{
	if (s->stopping && counter_get(&s->nconns) == 0)
		event_base_loopbreak(s->loops[0].base);
}

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
		event_base_loopbreak(s->loops[0].base);
		return;
	}
	log_info("shutting down (%s)", why);
	notify("STOPPING=1");
	world_stop(s);
	s->stopping = 1;
	server_handlers_shutdown(s);
	TAILQ_FOREACH(l, &s->listeners, entry)
		listener_stop(l);
	for (i = 0; i < s->nloops; i++)
		conn_finish_all(&s->loops[i]);
	world_resume(s);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->shutdown_timer, &tv);
	server_check_done(s);
}

/* Posted to the main loop when a worker's connection was the last. */
static void
server_check_done_call(void *a, void *b, void *c)
{
	(void)b;
	(void)c;
	server_check_done(a);
}

/*
 * A connection went away (on any loop): uncount it; the last one ends a
 * graceful stop.
 */
void
server_conn_gone(struct server *s)
{
	if (counter_add(&s->nconns, -1) != 0 || !s->stopping)
		return;
	if (loop_is_here(&s->loops[0]))
		server_check_done(s);
	else
		loop_post(&s->loops[0], server_check_done_call, s, NULL, NULL);
}

/* The drain time is up. */
static void
server_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	log_info("shutdown_timeout reached with %u connections left",
	    counter_get(&s->nconns));
	event_base_loopbreak(s->loops[0].base);
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
		world_stop(s);
		log_reopen();
		world_resume(s);
		break;
	}
}

/*
 * Set up the server with its loops, the first on the main thread's base;
 * listeners come with server_open_listeners and worker threads with
 * workers_start.  On failure *cause (caller frees) says why; server_free
 * still cleans up.
 */
int
server_init(struct server *s, struct config *config, struct event_base *base,
    char **cause)
{
	memset(s, 0, sizeof *s);
	s->config = config;
	TAILQ_INIT(&s->listeners);
	s->ip_counts = xcalloc(IP_BUCKETS, sizeof *s->ip_counts);
	s->sig_term = evsignal_new(base, SIGTERM, server_signal, s);
	s->sig_int = evsignal_new(base, SIGINT, server_signal, s);
	s->sig_hup = evsignal_new(base, SIGHUP, server_signal, s);
	s->sig_usr1 = evsignal_new(base, SIGUSR1, server_signal, s);
	evsignal_add(s->sig_usr1, NULL);
	s->shutdown_timer = evtimer_new(base, server_shutdown_timeout, s);
	evsignal_add(s->sig_term, NULL);
	evsignal_add(s->sig_int, NULL);
	evsignal_add(s->sig_hup, NULL);
	return workers_init(s, base, workers_resolve(config->workers), cause);
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
	char *why;

	s->npassed = systemd_listen_fds();
	s->passed_claimed = xcalloc((size_t)s->npassed + 1, 1);
	TAILQ_FOREACH(lc, &s->config->listeners, entry) {
		if (listener_open(s, lc, claim_passed_socket(s, lc), &l,
		    &why) == -1) {
			xasprintf(cause, "listener %s: %s", lc->name, why);
			free(why);
			server_close_listeners(s);
			return -1;
		}
		TAILQ_INSERT_TAIL(&s->listeners, l, entry);
	}
	reject_unclaimed_sockets(s);
	return 0;
}

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
		listener_close(l);
	}
	TAILQ_FOREACH(l, &s->listeners, entry)
		l->next_conf = NULL;
}

/* Drop every connection of a listener (removed, or handler changed). */
static void
drop_listener_conns(struct server *s, struct listener *l, const char *why)
{
	struct conn *c;

	unsigned int i;

	for (i = 0; i < s->nloops; i++) {
		TAILQ_FOREACH(c, &s->loops[i].conns, entry) {
			if (c->listener == l)
				conn_drop(c, why);
		}
	}
}

/*
 * A kept socket takes its new settings.  Its connections stay unless the
 * handler changed: they were speaking the old handler's protocol.
 */
static int
reload_keep(struct server *s, struct listener *l, char **cause)
{
	struct listener_conf *lc = l->next_conf;
	const struct handler *old = l->handler;

	l->next_conf = NULL;
	l->conf = lc;
	if (lc->handler == old)
		return 0;
	log_info("listener %s: handler %s -> %s; its connections are closed",
	    lc->name, old->name, lc->handler->name);
	drop_listener_conns(s, l, "listener changed");
	if (old->listener_gone != NULL && l->hstate != NULL)
		old->listener_gone(l->hstate, l);
	l->handler = lc->handler;
	return listener_start_handler(s, l, cause);
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
		if (listener_open(s, lc, -1, &l, &why) == -1) {
			xasprintf(cause, "listener %s: %s", lc->name, why);
			free(why);
			reload_undo(s, &added);
			return -1;
		}
		TAILQ_INSERT_TAIL(&added, l, entry);
	}
	TAILQ_FOREACH_SAFE(l, &s->listeners, entry, next) {
		if (l->next_conf != NULL) {
			if (reload_keep(s, l, &why) == -1) {
				log_error("%s", why);
				free(why);
			}
			continue;
		}
		log_info("listener %s: removed (%s %s)", l->conf->name,
		    proto_name(l->conf->proto), l->bound_name);
		TAILQ_REMOVE(&s->listeners, l, entry);
		TAILQ_REMOVE(&s->config->listeners, l->conf, entry);
		l->own_conf = 1;
		drop_listener_conns(s, l, "listener removed");
		listener_retire(l);
	}
	TAILQ_CONCAT(&s->listeners, &added, entry);
	config_free(s->config);
	s->config = new;
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
	if (new != NULL && workers_resolve(new->workers) != s->nloops)
		log_warnx("reload: workers = %llu takes effect at the next "
		    "start; %u running", (unsigned long long)new->workers,
		    s->nloops);
	world_stop(s);
	if (new == NULL) {
		log_error("reload failed: %u error%s; still running on the "
		    "previous configuration", nerrors, nerrors == 1 ? "" : "s");
	} else if (server_apply(s, new, &cause) == -1) {
		log_error("reload failed: %s; still running on the previous "
		    "configuration", cause);
		free(cause);
		config_free(new);
	} else if (log_open(server_log_target(s), s->config->log_level,
	    &why) == -1)
		log_error("reload: log %s: %s; logging stays where it was",
		    s->config->log, why);
	else
		log_info("reload done: %u listener%s", server_count_listeners(s),
		    server_count_listeners(s) == 1 ? "" : "s");
	log_reopen();
	world_resume(s);
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
	event_base_dispatch(s->loops[0].base);
}

/* Release everything the server holds (not the base or the config). */
void
server_free(struct server *s)
{
	const struct handler *h;
	size_t i;

	/* Late signals must not kill us mid-cleanup with default actions. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	/* Threads first; then connections: they point to their listeners. */
	workers_stop(s);
	for (i = 0; i < s->nloops; i++)
		loop_free(&s->loops[i]);
	server_close_listeners(s);
	for (i = 0; i < sizeof s->hstates / sizeof s->hstates[0]; i++) {
		if (s->hstarted[i] && s->hstates[i] != NULL &&
		    (h = handler_at((int)i)) != NULL && h->stop != NULL)
			h->stop(s->hstates[i]);
	}
	for (i = 0; i < IP_BUCKETS; i++) {
		struct ip_count *ic, *next;
		for (ic = s->ip_counts[i]; ic != NULL; ic = next) {
			next = ic->next;
			free(ic);
		}
	}
	free(s->ip_counts);
	udp_budget_free(s);
	event_free(s->sig_term);
	event_free(s->sig_int);
	event_free(s->sig_hup);
	event_free(s->sig_usr1);
	free(s->passed_claimed);
	event_free(s->shutdown_timer);
	workers_free(s);
}
