/*
 * listener.c -- listeners from configuration: TCP (IPv4, IPv6 or dual
 * stack), Unix stream and UDP sockets, bound, listening and watched by the
 * loop.  Accept errors such as running out of descriptors pause the
 * listener for a moment instead of letting it spin.
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

#include "echochat.h"

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

/* evconnlistener callback: a connection is ready. */
static void
listener_accept(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct listener *l = arg;

	(void)evl;
	if (l->paused_logged && !evtimer_pending(l->calm, NULL)) {
		struct timeval tv = { ACCEPT_CALM_MS / 1000,
		    (ACCEPT_CALM_MS % 1000) * 1000 };
		evtimer_add(l->calm, &tv);
	}
	conn_accept(l, fd, sa, (socklen_t)len);
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

/* Timer: try accepting again after a pause. */
static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
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

/* Apply socket options a listening inet socket needs. */
static int
inet_options(int fd, const struct listener_conf *lc)
{
	int one = 1, v6only = lc->wildcard ? 0 : 1;

	if (lc->proto == PROTO_TCP && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &one, sizeof one) == -1)
		return -1;
	if (lc->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, sizeof v6only) == -1)
		return -1;
	return 0;
}

/*
 * A bound inet socket.  "*" is [::] in dual-stack mode; a host without
 * IPv6 gets 0.0.0.0 instead.
 */
static int
bind_inet(const struct listener_conf *lc, int type, char **cause)
{
	struct sockaddr_storage ss = lc->addr;
	socklen_t len = lc->addrlen;
	int fd;

	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && lc->wildcard && errno == EAFNOSUPPORT) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uint16_t port = ((struct sockaddr_in6 *)&lc->addr)->sin6_port;
		memset(&ss, 0, sizeof ss);
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		len = sizeof *sin;
		fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1)
		goto fail;
	if (ss.ss_family == AF_INET6 || lc->proto == PROTO_TCP) {
		if (inet_options(fd, lc) == -1)
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		goto fail;
	return fd;
fail:
	xasprintf(cause, "%s %s: %s", proto_name(lc->proto), lc->bind,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * Clear the way for a Unix socket: a socket file nobody listens on is a
 * leftover of an earlier run and goes; a live one or another file stays.
 */
static int
unix_clear_path(const struct sockaddr_un *sun, const char *path,
    char **cause)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		xasprintf(cause, "unix %s: exists and is not a socket", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	close(fd);
	if (r == 0) {
		xasprintf(cause, "unix %s: %s", path, strerror(EADDRINUSE));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}

/* A bound Unix stream socket. */
static int
bind_unix(const struct listener_conf *lc, char **cause)
{
	struct sockaddr_un sun;
	int fd = -1;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, lc->bind, sizeof sun.sun_path - 1);
	*cause = NULL;
	if (unix_clear_path(&sun, lc->bind, cause) == -1)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		goto fail;
	return fd;
fail:
	if (*cause == NULL)
		xasprintf(cause, "unix %s: %s", lc->bind, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * What the socket is really bound to (port 0 resolved): its name for the
 * log, and its port.
 */
static char *
bound_name(int fd, const struct listener_conf *lc, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	*port = 0;
	if (lc->proto == PROTO_UNIX ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return xstrdup(lc->bind);
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return format_address((struct sockaddr *)&ss, len);
}

/* Start the handler's process-wide state on its first listener. */
int
listener_start_handler(struct server *s, struct listener *l, char **cause)
{
	int i = handler_index(l->handler);
	const char *why = NULL;

	if (!s->hstarted[i] && l->handler->start != NULL) {
		s->hstates[i] = l->handler->start(s, &why);
		if (s->hstates[i] == NULL) {
			xasprintf(cause, "handler %s: %s", l->handler->name,
			    why ? why : "failed to start");
			return -1;
		}
	}
	s->hstarted[i] = 1;
	l->hstate = s->hstates[i];
	return 0;
}

/* Make the socket into a watched stream or datagram listener. */
static int
listener_watch(struct server *s, struct listener *l, int fd, char **cause)
{
	struct event_base *base = s->loops[0].base;

	if (l->conf->proto == PROTO_UDP) {
		l->fd = fd;
		l->ev = event_new(base, fd, EV_READ | EV_PERSIST, udp_readable,
		    l);
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

/* A socket passed in (socket activation): make it ours. */
static int
adopt_socket(int fd, const struct listener_conf *lc, char **cause)
{
	int flags = fcntl(fd, F_GETFL);

	/* systemd may hand over blocking sockets; the loop needs them not. */
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		xasprintf(cause, "%s %s: passed socket %d: %s",
		    proto_name(lc->proto), lc->bind, fd, strerror(errno));
		return -1;
	}
	return fd;
}

/*
 * Bind and start one listener, or adopt passed_fd (-1: none) that is
 * already bound to its address.  On failure *cause says what and where
 * (caller frees) and nothing is left open.
 */
int
listener_open(struct server *s, struct listener_conf *lc, int passed_fd,
    struct listener **out, char **cause)
{
	struct listener *l;
	int fd;

	if (passed_fd != -1)
		fd = adopt_socket(passed_fd, lc, cause);
	else if (lc->proto == PROTO_UNIX)
		fd = bind_unix(lc, cause);
	else
		fd = bind_inet(lc, lc->proto == PROTO_UDP ? SOCK_DGRAM :
		    SOCK_STREAM, cause);
	if (fd == -1)
		return -1;
	l = xcalloc(1, sizeof *l);
	l->server = s;
	l->conf = lc;
	l->handler = lc->handler;
	l->fd = -1;
	if (lc->proto == PROTO_UNIX && passed_fd == -1)
		l->unix_path = xstrdup(lc->bind);	/* ours to remove */
	l->bound_name = bound_name(fd, lc, &l->port);
	if (listener_start_handler(s, l, cause) == -1 ||
	    listener_watch(s, l, fd, cause) == -1) {
		if (l->fd == -1 && l->evl == NULL)
			close(fd);
		listener_close(l);
		return -1;
	}
	log_info("listener %s: listening on %s %s (handler %s)%s", lc->name,
	    proto_name(lc->proto), l->bound_name, lc->handler_name,
	    passed_fd != -1 ? " (socket from systemd)" : "");
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
 * A reload removed this listener: stop it now, free it once its last
 * connection is gone.  It keeps its own listener_conf meanwhile.
 */
void
listener_retire(struct listener *l)
{
	const struct handler *h = l->handler;

	listener_stop(l);
	if (h->listener_gone != NULL && l->hstate != NULL)
		h->listener_gone(l->hstate, l);
	l->retired = 1;
	if (counter_get(&l->nconns) == 0)
		listener_close(l);
}

/*
 * One of the listener's connections is gone (on its loop's thread).  A
 * retired listener is only read, never changed, until the last one goes.
 */
void
listener_release(struct listener *l)
{
	if (counter_add(&l->nconns, -1) == 0 && l->retired)
		listener_close(l);
}
