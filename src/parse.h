/*
 * parse.h -- configuration values and their printed forms (parse.c):
 * pure functions, each returning 0 on success and -1 on a bad value.
 */
#ifndef ECHOCHAT_PARSE_H
#define ECHOCHAT_PARSE_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>

#include "log.h"

int	 parse_size(const char *, uint64_t *);
int	 parse_duration_ms(const char *, uint64_t *);
int	 parse_bool(const char *, int *);
int	 parse_uint(const char *, uint64_t *);
int	 parse_log_level(const char *, enum log_level *);
const char *log_level_name(enum log_level);
int	 parse_address(const char *, struct sockaddr_storage *, socklen_t *,
	    int *wildcard, const char **cause);
uint16_t address_port(const struct sockaddr_storage *);
int	 address_is_any(const struct sockaddr_storage *);
char	*format_address(const struct sockaddr *, socklen_t);
char	*format_size(uint64_t);
char	*format_duration(uint64_t ms);

#endif
