/*
 * systemd.h -- life under systemd (systemd.c): notifications and sockets
 * passed by socket activation.
 */
#ifndef ECHOCHAT_SYSTEMD_H
#define ECHOCHAT_SYSTEMD_H

#include "listener.h"

void	 notify(const char *state);
int	 systemd_listen_fds(void);
int	 systemd_socket_matches(int fd, const struct listener_conf *);

#endif
