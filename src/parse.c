/*
 * parse.c -- configuration values: sizes, durations, booleans, counts,
 * log levels and listener addresses, and their printed forms.  Pure
 * functions, each returning 0 on success and -1 on a bad value.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "xmalloc.h"

/* Split "123k" into 123 and "k"; -1 when no digits or overflow. */
static int
parse_number_and_suffix(const char *s, uint64_t *n, const char **suffix)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*n = v;
	*suffix = p;
	return 0;
}

/* Multiply with an overflow check. */
static int
scale(uint64_t v, uint64_t by, uint64_t *out)
{
	if (by != 0 && v > UINT64_MAX / by)
		return -1;
	*out = v * by;
	return 0;
}

/* A plain non-negative integer. */
int
parse_uint(const char *s, uint64_t *out)
{
	const char *suffix;

	if (parse_number_and_suffix(s, out, &suffix) == -1 || *suffix != '\0')
		return -1;
	return 0;
}

/* Bytes with an optional k, m or g suffix (1024-based, either case). */
int
parse_size(const char *s, uint64_t *out)
{
	uint64_t n, by;
	const char *suffix;

	if (parse_number_and_suffix(s, &n, &suffix) == -1)
		return -1;
	if (*suffix == '\0')
		by = 1;
	else if (suffix[1] != '\0')
		return -1;
	else if (*suffix == 'k' || *suffix == 'K')
		by = 1024;
	else if (*suffix == 'm' || *suffix == 'M')
		by = 1024 * 1024;
	else if (*suffix == 'g' || *suffix == 'G')
		by = 1024 * 1024 * 1024;
	else
		return -1;
	return scale(n, by, out);
}

/* Seconds, or a number with ms, s, m or h; result in milliseconds. */
int
parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t n, by;
	const char *suffix;

	if (parse_number_and_suffix(s, &n, &suffix) == -1)
		return -1;
	if (*suffix == '\0' || strcmp(suffix, "s") == 0)
		by = 1000;
	else if (strcmp(suffix, "ms") == 0)
		by = 1;
	else if (strcmp(suffix, "m") == 0)
		by = 60 * 1000;
	else if (strcmp(suffix, "h") == 0)
		by = 60 * 60 * 1000;
	else
		return -1;
	return scale(n, by, out);
}

/* yes/no/true/false/on/off/1/0, any case. */
int
parse_bool(const char *s, int *out)
{
	static const char *truths[] = { "yes", "true", "on", "1" };
	static const char *lies[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, truths[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, lies[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static const char *level_names[] = { "error", "warn", "info", "debug" };

/* error, warn, info or debug. */
int
parse_log_level(const char *s, enum log_level *out)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* The word for a level. */
const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

/* The port after the last colon: 0..65535, digits only. */
static int
parse_port(const char *s, uint16_t *port)
{
	uint64_t v;

	if (parse_uint(s, &v) == -1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Resolve a host part (numeric or a name such as localhost). */
static int
resolve_host(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len, const char **cause)
{
	struct addrinfo hints, *res;
	int error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if ((error = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		hints.ai_flags = 0;
		if ((error = getaddrinfo(host, NULL, &hints, &res)) != 0) {
			*cause = "unknown host";
			return -1;
		}
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	return 0;
}

/*
 * HOST:PORT, [IPV6]:PORT or *:PORT.  "*" means every address, IPv4 and
 * IPv6: it is stored as [::] with *wildcard set so the listener turns off
 * IPV6_V6ONLY (and falls back to 0.0.0.0 on a host without IPv6).
 */
int
parse_address(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    int *wildcard, const char **cause)
{
	char host[256];
	const char *colon, *hstart, *hend;
	uint16_t port;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	*wildcard = 0;
	if ((colon = strrchr(s, ':')) == NULL) {
		*cause = "expected HOST:PORT";
		return -1;
	}
	if (parse_port(colon + 1, &port) == -1) {
		*cause = "bad port (0-65535)";
		return -1;
	}
	hstart = s;
	hend = colon;
	if (*s == '[') {
		if (colon == s || colon[-1] != ']') {
			*cause = "expected [IPV6]:PORT";
			return -1;
		}
		hstart = s + 1;
		hend = colon - 1;
	} else if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
		*cause = "IPv6 addresses need brackets: [IPV6]:PORT";
		return -1;
	}
	if (hend <= hstart || (size_t)(hend - hstart) >= sizeof host) {
		*cause = "missing host";
		return -1;
	}
	memcpy(host, hstart, (size_t)(hend - hstart));
	host[hend - hstart] = '\0';
	if (strcmp(host, "*") == 0 && *s != '[') {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
		*len = sizeof *sin6;
		*wildcard = 1;
		return 0;
	}
	if (*s == '[' && inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
		*cause = "bad IPv6 address";
		return -1;
	}
	if (*s == '[' && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		/* IPv6 listeners are IPv6 only: the kernel refuses these. */
		*cause = "an IPv4-mapped address cannot be bound: write it as "
		    "HOST:PORT";
		return -1;
	}
	if (*s == '[') {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof *sin6;
		return 0;
	}
	return resolve_host(host, port, ss, len, cause);
}

/* The port of an inet address. */
uint16_t
address_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* 0.0.0.0 or [::]: every address of its family. */
int
address_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* "1.2.3.4:5", "[::1]:5" or a unix path; caller frees. */
char *
format_address(const struct sockaddr *sa, socklen_t len)
{
	char host[INET6_ADDRSTRLEN], *s;

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		xasprintf(&s, "%s:%u", host, ntohs(sin->sin_port));
		return s;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		xasprintf(&s, "[%s]:%u", host, ntohs(sin6->sin6_port));
		return s;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		if (len <= offsetof(struct sockaddr_un, sun_path) ||
		    sun->sun_path[0] == '\0')
			return xstrdup("unix");
		return xstrdup(sun->sun_path);
	}
	}
	return xstrdup("?");
}

/* The shortest exact form of a size: 1m, 64k, 1000. */
char *
format_size(uint64_t n)
{
	char *s;

	if (n != 0 && n % (1024 * 1024 * 1024) == 0)
		xasprintf(&s, "%llug", (unsigned long long)(n >> 30));
	else if (n != 0 && n % (1024 * 1024) == 0)
		xasprintf(&s, "%llum", (unsigned long long)(n >> 20));
	else if (n != 0 && n % 1024 == 0)
		xasprintf(&s, "%lluk", (unsigned long long)(n >> 10));
	else
		xasprintf(&s, "%llu", (unsigned long long)n);
	return s;
}

/* The shortest exact form of a duration: 0, 2s, 5m, 1h, 250ms. */
char *
format_duration(uint64_t ms)
{
	char *s;

	if (ms == 0)
		return xstrdup("0");
	if (ms % 3600000 == 0)
		xasprintf(&s, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		xasprintf(&s, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		xasprintf(&s, "%llus", (unsigned long long)(ms / 1000));
	else
		xasprintf(&s, "%llums", (unsigned long long)ms);
	return s;
}
