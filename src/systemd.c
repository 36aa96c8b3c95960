/*
 * systemd.c -- life under systemd: readiness notifications (Type=notify)
 * and sockets passed by socket activation.  Built on libsystemd when
 * configure finds it; without it every function here is a no-op and the
 * daemon runs as Type=simple.
 */
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "echochat.h"

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

void
notify(const char *state)
{
	(void)state;
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
