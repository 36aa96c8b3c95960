/*
 * daemon.c -- running as a service: detaching with a readiness handshake,
 * the pid file, and dropping root privileges (echochatd(8), DAEMON).
 *
 * Detaching happens before anything is bound, so that the pid file holds
 * the daemon's own pid and the listeners belong to it; the foreground
 * process waits on a pipe and exits only when the daemon says how start-up
 * went: one byte, 0 for ready or the exit status of the failure.  Until
 * then the daemon still has the caller's stderr, so a failure is explained
 * where the operator is looking.  If the daemon dies without a word the
 * pipe closes and the foreground process reports that.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

/* The foreground process: wait for the daemon's word, exit with it. */
static void __attribute__((noreturn))
await_daemon(int fd)
{
	unsigned char status;
	ssize_t n;

	do
		n = read(fd, &status, 1);
	while (n == -1 && errno == EINTR);
	if (n != 1) {
		fprintf(stderr, "echochatd: the daemon exited during start-up\n");
		_exit(EXIT_OSERR);
	}
	_exit(status);
}

/*
 * Become a daemon: fork, new session, fork again (so the daemon can never
 * reacquire a terminal), chdir /, a umask.  Returns in the daemon with
 * *ready_fd to pass to daemon_ready or daemon_fail; -1 on failure (still
 * in the foreground, nothing started).
 */
int
daemon_detach(int *ready_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid != 0) {
		close(p[1]);
		await_daemon(p[0]);
	}
	close(p[0]);
	if (setsid() == -1)
		_exit(EXIT_OSERR);
	if ((pid = fork()) == -1)
		_exit(EXIT_OSERR);
	if (pid != 0)
		_exit(0);	/* the session leader goes; the pipe stays open */
	if (chdir("/") == -1)
		_exit(EXIT_OSERR);
	umask(027);
	*ready_fd = p[1];
	return 0;
}

/* Point stdin, stdout and stderr at /dev/null. */
static void
stdio_to_null(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd == -1)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Start-up is done: let the foreground process exit 0; let go of stdio. */
void
daemon_ready(int ready_fd)
{
	unsigned char ok = 0;

	if (ready_fd == -1)
		return;
	stdio_to_null();
	if (write(ready_fd, &ok, 1) != 1)
		log_warn("telling the foreground process we are ready");
	close(ready_fd);
}

/* Start-up failed (already explained on stderr): pass on the status. */
void
daemon_fail(int ready_fd, int status)
{
	unsigned char code = (unsigned char)status;

	if (ready_fd == -1)
		return;
	if (write(ready_fd, &code, 1) != 1)
		log_warn("telling the foreground process we failed");
	close(ready_fd);
}

/* Read the pid a locked pid file holds, for the message; 0 if none. */
static long
pidfile_read(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/*
 * Create and lock the pid file, writing our pid.  The lock (flock, held
 * while the descriptor is open) is the truth: a file left by a killed
 * instance is unlocked and simply taken over.  Returns the descriptor, or
 * -1 with *status set (75 when another instance holds it) after printing
 * why.
 */
int
pidfile_open(const char *path, int *status)
{
	char buf[32];
	int fd, n;
	long other;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_error("pid file %s: %s", path, strerror(errno));
		*status = EXIT_OSERR;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			other = pidfile_read(fd);
			log_error("pid file %s is held by a running echochatd "
			    "(pid %ld)", path, other);
			*status = EXIT_TEMPFAIL;
		} else {
			log_error("pid file %s: lock: %s", path,
			    strerror(errno));
			*status = EXIT_OSERR;
		}
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		log_error("pid file %s: write: %s", path, strerror(errno));
		close(fd);
		*status = EXIT_OSERR;
		return -1;
	}
	return fd;
}

/*
 * Remove the pid file at a clean exit.  After dropping privileges the
 * directory may not let us unlink; then empty it, which reads as stale.
 */
void
pidfile_close(const char *path, int fd)
{
	if (fd == -1)
		return;
	if (unlink(path) == -1 && ftruncate(fd, 0) == -1)
		log_warn("pid file %s", path);
	close(fd);
}

/*
 * Become user (and its groups) for good.  Unix socket files made as root
 * are handed to that user first, so it can remove them at exit.  Refuses
 * (returns -1 after logging) rather than run with more privilege than
 * asked for.
 */
int
drop_privileges(const char *user, char *const *chown_paths)
{
	struct passwd *pw;
	size_t i;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		log_error("user %s: %s", user, errno ? strerror(errno) :
		    "no such user");
		return -1;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;	/* already that user */
		log_error("user %s: only root can switch users", user);
		return -1;
	}
	for (i = 0; chown_paths != NULL && chown_paths[i] != NULL; i++) {
		if (chown(chown_paths[i], pw->pw_uid, pw->pw_gid) == -1)
			log_warn("chown %s to %s", chown_paths[i], user);
	}
	if (setgid(pw->pw_gid) == -1 || initgroups(pw->pw_name,
	    pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_error("switching to user %s: %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		log_error("switching to user %s: root could be regained", user);
		return -1;
	}
	log_info("running as user %s (uid %ld, gid %ld)", pw->pw_name,
	    (long)pw->pw_uid, (long)pw->pw_gid);
	return 0;
}
