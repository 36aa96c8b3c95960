/*
 * log.c -- one line per event, to stderr, a file or syslog (README "Logging"):
 *   2026-11-20T19:43:14Z echochatd[1234] info: ...
 * libevent's own warnings are routed here too.  A log file is opened in
 * append mode and can be reopened after logrotate renames it.  A file that
 * cannot be reopened (its directory is gone, say) is not written to any
 * more: lines go to stderr, or to syslog when stderr leads nowhere (a
 * daemon's /dev/null), saying so there, until a later reopen succeeds.
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "xmalloc.h"

enum log_target_kind { TARGET_STDERR, TARGET_FILE, TARGET_SYSLOG };

static struct {
	enum log_target_kind	kind;
	enum log_level		level;
	char			*path;
	FILE			*file;		/* NULL: the file is lost */
	enum log_target_kind	 fallback;	/* meanwhile: stderr or syslog */
	int			 starting;	/* mirror problems to stderr */
} log_state = { TARGET_STDERR, LOG_LEVEL_INFO, NULL, NULL, TARGET_STDERR,
	1 };

static const char *level_words[] = { "error", "warn", "info", "debug" };
static const int syslog_priorities[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
	LOG_DEBUG };

static void	log_vwrite(enum log_level, int errnum, const char *, va_list);

/* Route libevent's messages through our levels. */
static void
log_from_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
		break;
	}
}

/* Start logging to stderr at info, before any configuration is read. */
void
log_init(void)
{
	event_set_log_callback(log_from_libevent);
}

/* Open the file target; the FILE is line buffered so lines are whole. */
static FILE *
open_log_file(const char *path)
{
	int fd;
	FILE *f;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return NULL;
	if ((f = fdopen(fd, "a")) == NULL) {
		close(fd);
		return NULL;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

/* Switch to a target ("stderr", "syslog" or a path); -1 with cause. */
int
log_open(const char *target, enum log_level level, const char **cause)
{
	FILE *f = NULL;
	enum log_target_kind kind;

	if (strcmp(target, "stderr") == 0)
		kind = TARGET_STDERR;
	else if (strcmp(target, "syslog") == 0)
		kind = TARGET_SYSLOG;
	else {
		kind = TARGET_FILE;
		if ((f = open_log_file(target)) == NULL) {
			*cause = strerror(errno);
			return -1;
		}
	}
	log_close();
	log_state.kind = kind;
	log_state.level = level;
	if (kind == TARGET_FILE) {
		log_state.file = f;
		log_state.path = xstrdup(target);
	} else if (kind == TARGET_SYSLOG)
		openlog("echochatd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	return 0;
}

/* Change the level only. */
void
log_set_level(enum log_level level)
{
	log_state.level = level;
}

/* Does stderr lead somewhere (not /dev/null, not closed)? */
static int
stderr_usable(void)
{
	struct stat err, null;

	if (fstat(STDERR_FILENO, &err) == -1)
		return 0;
	if (stat("/dev/null", &null) == 0 && S_ISCHR(err.st_mode) &&
	    err.st_rdev == null.st_rdev)
		return 0;
	return 1;
}

/* The file cannot be reopened: stop writing to it, say so elsewhere. */
static void
log_lose_file(int error)
{
	int already = log_state.file == NULL;

	if (!already) {
		fclose(log_state.file);
		log_state.file = NULL;
		log_state.fallback = stderr_usable() ? TARGET_STDERR :
		    TARGET_SYSLOG;
		if (log_state.fallback == TARGET_SYSLOG)
			openlog("echochatd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
	log_warnx("cannot reopen log %s: %s; logging to %s until it can be "
	    "reopened", log_state.path, strerror(error),
	    log_state.fallback == TARGET_SYSLOG ? "syslog" : "stderr");
}

/* Reopen a log file (after logrotate); other targets need nothing. */
int
log_reopen(void)
{
	FILE *f;
	int lost = log_state.file == NULL;

	if (log_state.kind != TARGET_FILE)
		return 0;
	if ((f = open_log_file(log_state.path)) == NULL) {
		log_lose_file(errno);
		return -1;
	}
	if (lost) {
		if (log_state.fallback == TARGET_SYSLOG)
			closelog();
		log_state.file = f;
		log_info("log %s reopened", log_state.path);
		return 0;
	}
	fclose(log_state.file);
	log_state.file = f;
	return 0;
}

/* Back to stderr, closing whatever was open. */
void
log_close(void)
{
	if (log_state.kind == TARGET_FILE && log_state.file != NULL)
		fclose(log_state.file);
	if (log_state.kind == TARGET_SYSLOG || (log_state.kind == TARGET_FILE &&
	    log_state.file == NULL && log_state.fallback == TARGET_SYSLOG))
		closelog();
	free(log_state.path);
	log_state.path = NULL;
	log_state.file = NULL;
	log_state.kind = TARGET_STDERR;
}

/*
 * Start-up is over (or not): until it is, errors and warnings also go to
 * stderr when the log is elsewhere, so whoever started echochatd sees why
 * it failed.
 */
void
log_set_starting(int starting)
{
	log_state.starting = starting;
}

/* Would a message at this level be written? */
int
log_enabled(enum log_level level)
{
	return level <= log_state.level;
}

/* Format and write one line; errnum >= 0 appends strerror. */
static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], stamp[32];
	struct tm tm;
	time_t now;
	FILE *out;
	enum log_target_kind kind = log_state.kind;

	if (!log_enabled(level))
		return;
	if (kind == TARGET_FILE && log_state.file == NULL)
		kind = log_state.fallback;	/* the file is lost */
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum >= 0) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(errnum));
	}
	if (log_state.starting && kind != TARGET_STDERR &&
	    level <= LOG_LEVEL_WARN)
		fprintf(stderr, "echochatd: %s\n", msg);
	if (kind == TARGET_SYSLOG) {
		syslog(syslog_priorities[level], "%s", msg);
		return;
	}
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	out = kind == TARGET_FILE ? log_state.file : stderr;
	fprintf(out, "%s echochatd[%ld] %s: %s\n", stamp, (long)getpid(),
	    level_words[level], msg);
}

#define LOG_FUNCTION(name, level, with_errno)				\
void									\
name(const char *fmt, ...)						\
{									\
	int saved = errno;						\
	va_list ap;							\
	va_start(ap, fmt);						\
	log_vwrite(level, with_errno ? saved : -1, fmt, ap);		\
	va_end(ap);							\
	errno = saved;							\
}

/* log_warn appends strerror(errno); the others do not. */
LOG_FUNCTION(log_error, LOG_LEVEL_ERROR, 0)
LOG_FUNCTION(log_warn, LOG_LEVEL_WARN, 1)
LOG_FUNCTION(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO, 0)
LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG, 0)

/* A line at a level chosen at run time (handlers log through this). */
void
log_vmessage(enum log_level level, const char *fmt, va_list ap)
{
	int saved = errno;

	log_vwrite(level, -1, fmt, ap);
	errno = saved;
}
