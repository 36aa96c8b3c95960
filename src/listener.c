/*
 * listener.c -- listeners from configuration: TCP (IPv4, IPv6 or dual
 * stack), Unix stream and UDP sockets, bound, listening and watched by the
 * main loop.  What arrives goes to the caller's callbacks: this file knows
 * nothing of connections.  Accept errors such as running out of
 * descriptors pause the listener for a moment instead of letting it spin.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "parse.h"
#include "sock.h"
#include "sync.h"
#include "tls.h"
#include "xmalloc.h"

/* The kernel caps this at net.core.somaxconn; -1 would mean only 128. */
#define LISTEN_BACKLOG		4096
/* How long a listener rests after accept ran out of descriptors. */
#define ACCEPT_PAUSE_MS		100
/*
 * A shortage ends once accepting has gone this long without running out
 * again: descriptors come back a few at a time (from every worker), and
 * the log should tell one episode, not each dip.
 */
#define ACCEPT_CALM_MS		1000

/* Start (or keep) the quiet period that ends an EMFILE episode. */
static void
listener_calm_start(struct listener *l)
{
	struct timeval tv = { ACCEPT_CALM_MS / 1000,
	    (ACCEPT_CALM_MS % 1000) * 1000 };

	if (!evtimer_pending(l->calm, NULL))
		evtimer_add(l->calm, &tv);
}

/* evconnlistener callback: a connection is ready. */
static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct listener *l = arg;

	(void)evl;
	if (l->paused_logged) {
		l->took_since_pause = 1;
		listener_calm_start(l);
	}
	l->ops->accept(l->ops_arg, l, fd, sa, (socklen_t)len);
}

/* Timer: accepting has worked for a while; the shortage is over. */
static void
listener_calm(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	log_info("listener %s: accepting again", l->conf->name);
	l->paused_logged = 0;
}

/*
 * Timer: try accepting again after a pause.  If connections were taken
 * before the accept that failed, the quiet period starts over now: the
 * kernel wants a free descriptor before it looks at the backlog, so
 * taking the last waiting client with the last free descriptor makes
 * the next accept fail even though nobody is left waiting, and no
 * further accept would come to end the episode.
 */
static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	if (l->paused_logged && l->took_since_pause)
		listener_calm_start(l);
	l->took_since_pause = 0;
	evconnlistener_enable(l->evl);
}

/*
 * accept failed with something other than EAGAIN/EINTR/ECONNABORTED.
 * Out of descriptors: rest the listener so the loop does not spin, log
 * once per episode, and keep serving the clients we have.
 */
static void
listener_error(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int error = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	evconnlistener_disable(evl);
	evtimer_del(l->calm);
	if (!evtimer_pending(l->pause, NULL)) {
		if (!l->paused_logged)
			log_warnx("listener %s: accept: %s; pausing",
			    l->conf->name, strerror(error));
		l->paused_logged = 1;
	}
	evtimer_add(l->pause, &tv);
}

static const char *proto_names[] = { "tcp", "udp", "unix" };

/* "tcp", "udp" or "unix". */
const char *
proto_name(enum proto p)
{
	return proto_names[p];
}

/* Free one listener's settings. */
void
listener_conf_free(struct listener_conf *lc)
{
	free(lc->name);
	free(lc->bind);
	free(lc->handler_name);
	free(lc->banner);
	free(lc->room);
	free(lc->tls_cert);
	free(lc->tls_key);
	free(lc->tls_ca);
	tls_ctx_free(lc->tls);
	free(lc->ws_origins);
	free(lc->mode);
	free(lc->owner);
	free(lc->group);
	free(lc);
}

/* A bound socket for the listener's address, or an adopted passed one. */
static int
listener_socket(const struct listener_conf *lc, int passed_fd, char **cause)
{
	char *label;
	int fd;

	if (lc->proto == PROTO_UNIX && passed_fd == -1)
		return sock_bind_unix(lc->bind, cause);
	xasprintf(&label, "%s %s", proto_name(lc->proto), lc->bind);
	if (passed_fd != -1)
		fd = sock_adopt(passed_fd, label, cause);
	else
		fd = sock_bind_inet(&lc->addr, lc->addrlen, lc->proto ==
		    PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM, lc->wildcard, label,
		    cause);
	free(label);
	return fd;
}

/* The datagram socket is readable. */
static void
listener_readable(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	l->ops->readable(l->ops_arg, l);
}

/*
 * mode, owner and group of a unix listener's socket file (the keys it
 * was given; the rest stays as bind made it).  -1 and *cause on failure.
 */
int
listener_unix_perms(const struct listener_conf *lc, const char *path,
    char **cause)
{
	if (lc->unix_mode != -1 && chmod(path, (mode_t)lc->unix_mode) == -1) {
		xasprintf(cause, "unix %s: chmod %s: %s", path, lc->mode,
		    strerror(errno));
		return -1;
	}
	if ((lc->unix_uid != -1 || lc->unix_gid != -1) &&
	    chown(path, (uid_t)lc->unix_uid, (gid_t)lc->unix_gid) == -1) {
		xasprintf(cause, "unix %s: chown %s%s%s: %s", path,
		    lc->owner ? lc->owner : "", lc->group ? ":" : "",
		    lc->group ? lc->group : "", strerror(errno));
		return -1;
	}
	return 0;
}

/* Make the socket into a watched stream or datagram listener. */
static int
listener_watch(struct event_base *base, struct listener *l, int fd,
    char **cause)
{
	if (l->conf->proto == PROTO_UDP) {
		l->fd = fd;
		l->ev = event_new(base, fd, EV_READ | EV_PERSIST,
		    listener_readable, l);
		event_add(l->ev, NULL);
		return 0;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		xasprintf(cause, "%s %s: listen: %s", proto_name(l->conf->proto),
		    l->conf->bind, strerror(errno));
		return -1;
	}
	/* Backlog 0: the socket is already listening. */
	l->evl = evconnlistener_new(base, listener_accept, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	evconnlistener_set_error_cb(l->evl, listener_error);
	l->pause = evtimer_new(base, listener_resume, l);
	l->calm = evtimer_new(base, listener_calm, l);
	return 0;
}

/*
 * Bind and start one listener, or adopt passed_fd (-1: none) that is
 * already bound to its address.  On failure *cause says what and where
 * (caller frees) and nothing is left open.
 */
int
listener_open(struct listener_conf *lc, int passed_fd,
    struct event_base *base, const struct listener_ops *ops, void *ops_arg,
    struct listener **out, char **cause)
{
	struct listener *l;
	int fd;

	if ((fd = listener_socket(lc, passed_fd, cause)) == -1)
		return -1;
	l = xcalloc(1, sizeof *l);
	l->conf = lc;
	l->ops = ops;
	l->ops_arg = ops_arg;
	l->fd = -1;
	if (lc->proto == PROTO_UNIX && passed_fd == -1)
		l->unix_path = xstrdup(lc->bind);	/* ours to remove */
	/* Before listen(): nobody connects with the wrong permissions. */
	if (l->unix_path != NULL &&
	    listener_unix_perms(lc, l->unix_path, cause) == -1) {
		close(fd);
		listener_close(l);	/* removes the socket file */
		return -1;
	}
	if (lc->proto == PROTO_UNIX ||
	    (l->bound_name = sock_bound_name(fd, &l->port)) == NULL)
		l->bound_name = xstrdup(lc->bind);
	if (listener_watch(base, l, fd, cause) == -1) {
		if (l->fd == -1 && l->evl == NULL)
			close(fd);
		listener_close(l);
		return -1;
	}
	log_info("listener %s: listening on %s %s (handler %s)%s%s", lc->name,
	    proto_name(lc->proto), l->bound_name, lc->handler_name,
	    lc->tls != NULL ? " (TLS)" : "",
	    passed_fd != -1 ? " (socket from systemd)" : "");
	if (lc->tls != NULL) {
		char what[384];

		tls_ctx_describe(lc->tls, what, sizeof what);
		log_info("listener %s: TLS certificate %s", lc->name, what);
	}
	*out = l;
	return 0;
}

/*
 * Stop listening: close the socket (removing a Unix socket's file) but
 * keep the struct, which live connections still point to.
 */
void
listener_stop(struct listener *l)
{
	if (l->evl != NULL) {
		evconnlistener_free(l->evl);
		l->evl = NULL;
	}
	if (l->pause != NULL) {
		event_free(l->pause);
		event_free(l->calm);
		l->pause = l->calm = NULL;
	}
	if (l->ev != NULL) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->fd != -1) {
		if (l->ops->closing != NULL)
			l->ops->closing(l->ops_arg, l);
		close(l->fd);
		l->fd = -1;
	}
	if (l->unix_path != NULL) {
		if (unlink(l->unix_path) == -1 && errno != ENOENT)
			log_warn("listener %s: removing %s", l->conf->name,
			    l->unix_path);
		free(l->unix_path);
		l->unix_path = NULL;
	}
}

/* Stop and free; no connection may point to it any more. */
void
listener_close(struct listener *l)
{
	listener_stop(l);
	if (l->own_conf)
		listener_conf_free(l->conf);
	free(l->bound_name);
	free(l);
}

/*
 * A reload removed this listener: stop it now, free it once the last of
 * its users (connections, datagram peers) is gone.  It keeps its own
 * listener_conf meanwhile.
 */
void
listener_retire(struct listener *l)
{
	listener_stop(l);
	l->retired = 1;
	if (counter_get(&l->refs) == 0)
		listener_close(l);
}

/* Something that points to the listener (a connection) came. */
void
listener_ref(struct listener *l)
{
	counter_add(&l->refs, 1);
}

/*
 * ... and went (on any loop's thread).  A retired listener is only read,
 * never changed, until the last one goes.
 */
void
listener_release(struct listener *l)
{
	if (counter_add(&l->refs, -1) == 0 && l->retired)
		listener_close(l);
}
