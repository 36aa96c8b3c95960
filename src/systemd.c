/*
 * systemd.c -- life under systemd: readiness notifications (Type=notify)
 * and sockets passed by socket activation.  Built on libsystemd when
 * configure finds it.  Without it sockets cannot be passed in, but
 * notifications are still sent: the protocol is one datagram to the
 * socket named by $NOTIFY_SOCKET, which sd_notify(3) documents as stable
 * for exactly this purpose, and test harnesses rely on it for readiness.
 */
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "autoconf.h"
#include "log.h"
#include "systemd.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

/* Tell the service manager something; harmless without NOTIFY_SOCKET. */
void
notify(const char *state)
{
	int r = sd_notify(0, state);

	if (r < 0)
		log_debug("sd_notify %s: %s", state, strerror(-r));
}

/* How many sockets systemd passed (LISTEN_FDS); they start at fd 3. */
int
systemd_listen_fds(void)
{
	int n = sd_listen_fds(1);

	if (n < 0) {
		log_warnx("sockets passed by systemd: %s", strerror(-n));
		return 0;
	}
	return n;
}

/* Is the passed socket fd what the listener would have bound? */
int
systemd_socket_matches(int fd, const struct listener_conf *lc)
{
	switch (lc->proto) {
	case PROTO_UNIX:
		return sd_is_socket_unix(fd, SOCK_STREAM, 1, lc->bind, 0) > 0;
	case PROTO_TCP:
		return sd_is_socket_sockaddr(fd, SOCK_STREAM,
		    (const struct sockaddr *)&lc->addr, lc->addrlen, 1) > 0;
	case PROTO_UDP:
		return sd_is_socket_sockaddr(fd, SOCK_DGRAM,
		    (const struct sockaddr *)&lc->addr, lc->addrlen, -1) > 0;
	}
	return 0;
}

#else
#include <sys/un.h>
#include <stdlib.h>

/* sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
void
notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + len)) == -1)
		log_debug("notify %s: %s", state, strerror(errno));
	close(fd);
}

int
systemd_listen_fds(void)
{
	return 0;
}

int
systemd_socket_matches(int fd, const struct listener_conf *lc)
{
	(void)fd;
	(void)lc;
	return 0;
}

#endif
