/*
 * log.h -- the daemon's log (log.c): stderr, a file or syslog.
 */
#ifndef ECHOCHAT_LOG_H
#define ECHOCHAT_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG };

void	 log_init(void);
int	 log_open(const char *target, enum log_level, const char **cause);
void	 log_set_level(enum log_level);
void	 log_set_starting(int);
int	 log_reopen(void);
void	 log_close(void);
void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_vmessage(enum log_level, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
int	 log_enabled(enum log_level);

#endif
