/*
 * daemon.h -- running as a service (daemon.c): detaching with a readiness
 * handshake, the pid file, dropping root privileges.
 */
#ifndef ECHOCHAT_DAEMON_H
#define ECHOCHAT_DAEMON_H

int	 daemon_detach(int *ready_fd);
void	 daemon_ready(int ready_fd);
void	 daemon_fail(int ready_fd, int status);
int	 pidfile_open(const char *path, int *status);
void	 pidfile_close(const char *path, int fd);
/* chown_paths: NULL-terminated files to hand to the user first. */
int	 drop_privileges(const char *user, char *const *chown_paths);

#endif
