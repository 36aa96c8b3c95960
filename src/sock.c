/*
 * sock.c -- socket helpers that know nothing of the server (after Redis's
 * anet.c): bind, Unix socket paths, adoption of passed sockets, names.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "sock.h"
#include "xmalloc.h"

/* Options a listening inet socket needs. */
static int
inet_options(int fd, int family, int type, int dual_stack)
{
	int one = 1, v6only = dual_stack ? 0 : 1;

	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &one, sizeof one) == -1)
		return -1;
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
	    &v6only, sizeof v6only) == -1)
		return -1;
	return 0;
}

/*
 * A bound inet socket.  A dual-stack [::] on a host without IPv6 becomes
 * 0.0.0.0 instead.
 */
int
sock_bind_inet(const struct sockaddr_storage *addr, socklen_t addrlen,
    int type, int dual_stack, const char *label, char **cause)
{
	struct sockaddr_storage ss = *addr;
	socklen_t len = addrlen;
	int fd;

	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 && dual_stack && errno == EAFNOSUPPORT) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uint16_t port = ((const struct sockaddr_in6 *)addr)->sin6_port;
		memset(&ss, 0, sizeof ss);
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		len = sizeof *sin;
		fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd == -1)
		goto fail;
	if ((ss.ss_family == AF_INET6 || type == SOCK_STREAM) &&
	    inet_options(fd, ss.ss_family, type, dual_stack) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		goto fail;
	return fd;
fail:
	xasprintf(cause, "%s: %s", label, strerror(errno));
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
int
sock_bind_unix(const char *path, char **cause)
{
	struct sockaddr_un sun;
	int fd = -1;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
	*cause = NULL;
	if (unix_clear_path(&sun, path, cause) == -1)
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		goto fail;
	return fd;
fail:
	if (*cause == NULL)
		xasprintf(cause, "unix %s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* A passed socket (socket activation) made ours. */
int
sock_adopt(int fd, const char *label, char **cause)
{
	int flags = fcntl(fd, F_GETFL);

	/* systemd may hand over blocking sockets; the loop needs them not. */
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		xasprintf(cause, "%s: passed socket %d: %s", label, fd,
		    strerror(errno));
		return -1;
	}
	return fd;
}

/* What an inet socket is really bound to (port 0 resolved). */
char *
sock_bound_name(int fd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	*port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return NULL;
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
		*port = address_port(&ss);
	return format_address((struct sockaddr *)&ss, len);
}

/* Remember a peer's address and port. */
void
peer_addr_set(struct peer_addr *p, const struct sockaddr *sa)
{
	memset(p, 0, sizeof *p);
	p->family = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(p->addr, &sin->sin_addr, 4);
		p->port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		memcpy(p->addr, &sin6->sin6_addr, 16);
		p->port = ntohs(sin6->sin6_port);
	}
}

int
peer_addr_is_inet(const struct peer_addr *p)
{
	return p->family == AF_INET || p->family == AF_INET6;
}

/* "127.0.0.1:5555", "[::1]:5555" or "unix"; valid until the next call. */
const char *
peer_addr_name(const struct peer_addr *p)
{
	static _Thread_local char buf[INET6_ADDRSTRLEN + 16];
	char host[INET6_ADDRSTRLEN];

	switch (p->family) {
	case AF_INET:
		inet_ntop(AF_INET, p->addr, host, sizeof host);
		snprintf(buf, sizeof buf, "%s:%u", host, p->port);
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, p->addr, host, sizeof host);
		snprintf(buf, sizeof buf, "[%s]:%u", host, p->port);
		break;
	default:
		snprintf(buf, sizeof buf, "unix");
		break;
	}
	return buf;
}

/* Turn a client away with one line, before it becomes a connection. */
void
sock_refuse(int fd, const char *line, size_t len)
{
	/* A fresh socket's buffer always has room for a line. */
	if (send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_debug("refusal not sent: %s", strerror(errno));
	shutdown(fd, SHUT_WR);
	close(fd);
}
