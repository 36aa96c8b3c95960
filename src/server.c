/*
 * server.c -- the server: its event base, signals, the listener set,
 * per-address connection counts, and the orderly stop.
 */
#include <sys/socket.h>
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

	if (!ip_counted(s, c))
		return 0;
	pp = ip_find(s, c);
	if ((ic = *pp) == NULL) {
		ic = *pp = xcalloc(1, sizeof *ic);
		ic->family = c->peer_family;
		memcpy(ic->addr, c->peer_addr, sizeof ic->addr);
	}
	if (ic->count >= s->config->max_clients_per_ip) {
		if (ic->count == 0) {
			*pp = ic->next;
			free(ic);
		}
		return -1;
	}
	ic->count++;
	c->flags |= CONN_IP_COUNTED;
	return 0;
}

/* A counted connection is gone. */
void
server_ip_release(struct server *s, struct conn *c)
{
	struct ip_count **pp, *ic;

	if (!(c->flags & CONN_IP_COUNTED))
		return;
	pp = ip_find(s, c);
	if ((ic = *pp) == NULL)
		return;
	if (--ic->count == 0) {
		*pp = ic->next;
		free(ic);
	}
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

/* SIGTERM/SIGINT: stop accepting, say goodbye, drain, then leave. */
static void
server_stop(struct server *s, const char *why)
{
	struct listener *l;
	struct timeval tv;
	uint64_t ms = s->config->shutdown_timeout_ms;

	if (s->stopping) {
		log_info("%s again: stopping now", why);
		event_base_loopbreak(s->loop.base);
		return;
	}
	log_info("shutting down (%s)", why);
	s->stopping = 1;
	server_handlers_shutdown(s);
	TAILQ_FOREACH(l, &s->listeners, entry)
		listener_stop(l);
	conn_finish_all(&s->loop);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(s->shutdown_timer, &tv);
	server_conn_gone(s);
}

/* A connection went away: the last one ends a graceful stop. */
void
server_conn_gone(struct server *s)
{
	if (s->stopping && s->loop.nconns == 0)
		event_base_loopbreak(s->loop.base);
}

/* The drain time is up. */
static void
server_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	log_info("shutdown_timeout reached with %u connections left",
	    s->loop.nconns);
	event_base_loopbreak(s->loop.base);
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
		log_info("SIGHUP: reopening the log (configuration reload "
		    "is not supported by this version)");
		log_reopen();
		break;
	}
}

/* Set up the server on a base; listeners come with server_open_listeners. */
int
server_init(struct server *s, struct config *config, struct event_base *base)
{
	memset(s, 0, sizeof *s);
	s->config = config;
	TAILQ_INIT(&s->listeners);
	loop_init(&s->loop, s, base);
	s->ip_counts = xcalloc(IP_BUCKETS, sizeof *s->ip_counts);
	s->sig_term = evsignal_new(base, SIGTERM, server_signal, s);
	s->sig_int = evsignal_new(base, SIGINT, server_signal, s);
	s->sig_hup = evsignal_new(base, SIGHUP, server_signal, s);
	s->shutdown_timer = evtimer_new(base, server_shutdown_timeout, s);
	evsignal_add(s->sig_term, NULL);
	evsignal_add(s->sig_int, NULL);
	evsignal_add(s->sig_hup, NULL);
	return 0;
}

/*
 * Bind every configured listener.  On failure everything is undone and
 * *cause (caller frees) says which listener and why.
 */
int
server_open_listeners(struct server *s, char **cause)
{
	struct listener_conf *lc;
	struct listener *l;
	char *why;

	TAILQ_FOREACH(lc, &s->config->listeners, entry) {
		if (listener_open(s, lc, &l, &why) == -1) {
			xasprintf(cause, "listener %s: %s", lc->name, why);
			free(why);
			server_close_listeners(s);
			return -1;
		}
		TAILQ_INSERT_TAIL(&s->listeners, l, entry);
	}
	return 0;
}

/* Run until stopped. */
void
server_run(struct server *s)
{
	event_base_dispatch(s->loop.base);
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
	/* Connections first: they point to their listeners. */
	loop_free(&s->loop);
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
	event_free(s->shutdown_timer);
}
