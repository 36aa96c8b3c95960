/*
 * fuzz_config.c -- libFuzzer harness for the configuration loader
 * (config.c, parse.c): config_load_stream, config_print, config_free.
 *
 * Plugins come from tests/fuzz/plugins_stub.c: one plugin, fuzzplug,
 * with settings and a check, and no dlopen.
 *
 * The input is an INI file.  Every error message must read
 * "fuzz.ini:LINE: ..." or "fuzz.ini: ...", one line each, and there must
 * be one per error counted; a file with errors gives NULL, one without a
 * configuration.  A configuration is printed with config_print, and that
 * text must load back without errors and print the same (config_print
 * promises "an INI file that loads back the same").
 *
 * The loader resolves host names in bind values with getaddrinfo(), which
 * must not reach DNS from a fuzzer: this file defines getaddrinfo and
 * freeaddrinfo itself, and those definitions in the executable take the
 * place of libc's (and of ASan's interceptors, which are weak).  They know
 * numeric addresses and "localhost" only.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "parse.h"
#include "xmalloc.h"
#include "fuzz.h"

#define NAME	"fuzz.ini"

/* --- getaddrinfo without the network. --- */

/* One result: the addrinfo and its address in a single allocation. */
struct fake_ai {
	struct addrinfo		ai;
	struct sockaddr_storage	addr;
};

static int
parse_service(const char *service, uint16_t *port)
{
	unsigned long v = 0;
	const char *p;

	*port = 0;
	if (service == NULL)
		return 0;
	if (*service == '\0')
		return -1;
	for (p = service; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	int family = hints != NULL ? hints->ai_family : AF_UNSPEC;
	struct in_addr a4;
	struct in6_addr a6;
	struct fake_ai *f;
	uint16_t port;
	int is4;

	*res = NULL;
	if (node == NULL)
		return EAI_NONAME;	/* passive lookups are not needed */
	if (parse_service(service, &port) == -1)
		return EAI_SERVICE;
	if (strcmp(node, "localhost") == 0) {
		is4 = 1;
		a4.s_addr = htonl(INADDR_LOOPBACK);
		if (family == AF_INET6) {
			is4 = 0;
			a6 = in6addr_loopback;
		}
	} else if (inet_pton(AF_INET, node, &a4) == 1) {
		is4 = 1;
	} else if (inet_pton(AF_INET6, node, &a6) == 1) {
		is4 = 0;
	} else {
		return EAI_NONAME;
	}
	if ((is4 && family == AF_INET6) || (!is4 && family == AF_INET))
		return EAI_NONAME;
	if ((f = calloc(1, sizeof *f)) == NULL)
		return EAI_MEMORY;
	if (is4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&f->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr = a4;
		f->ai.ai_addrlen = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = a6;
		f->ai.ai_addrlen = sizeof *sin6;
	}
	f->ai.ai_family = is4 ? AF_INET : AF_INET6;
	f->ai.ai_socktype = hints != NULL ? hints->ai_socktype : 0;
	f->ai.ai_protocol = hints != NULL ? hints->ai_protocol : 0;
	f->ai.ai_addr = (struct sockaddr *)&f->addr;
	f->ai.ai_canonname = NULL;
	f->ai.ai_next = NULL;
	*res = &f->ai;
	return 0;
}

/* Frees what getaddrinfo above returned: a list of struct fake_ai. */
void
freeaddrinfo(struct addrinfo *ai)
{
	struct addrinfo *next;

	for (; ai != NULL; ai = next) {
		next = ai->ai_next;
		/* ai is the first member: the same address as its fake_ai. */
		free((struct fake_ai *)(void *)ai);
	}
}

/* --- The harness. --- */

static unsigned int nreports;
static int verbose;		/* the round trip: show every message */

static void
report(const char *msg)
{
	size_t n = strlen(NAME);

	nreports++;
	if (verbose)
		fprintf(stderr, "round trip: %s\n", msg);
	CHECK(strncmp(msg, NAME, n) == 0 && msg[n] == ':');
	CHECK(strchr(msg, '\n') == NULL);
}

/* Load text of size bytes (size > 0). */
static struct config *
load(const void *text, size_t size, unsigned int *nerrors)
{
	struct config *c;
	FILE *f;

	f = fmemopen((void *)(uintptr_t)text, size, "r");
	CHECK(f != NULL);
	nreports = 0;
	*nerrors = 12345;
	c = config_load_stream(f, NAME, report, nerrors);
	fclose(f);
	CHECK(*nerrors == nreports);
	CHECK((c == NULL) == (*nerrors != 0));
	return c;
}

/* config_print into a malloc'd string. */
static char *
print(const struct config *c, size_t *len)
{
	char *buf = NULL;
	FILE *f;

	f = open_memstream(&buf, len);
	CHECK(f != NULL);
	config_print(c, f);
	CHECK(fclose(f) == 0);
	CHECK(buf != NULL && *len > 0 && strlen(buf) == *len);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c, *c2;
	char *text, *text2, *input;
	size_t len, len2;
	unsigned int nerrors;

	if (size == 0)
		return 0;	/* fmemopen refuses a size of 0 */
	input = malloc(size);	/* fmemopen's buffer is not const */
	CHECK(input != NULL);
	memcpy(input, data, size);
	c = load(input, size, &nerrors);
	free(input);
	if (c == NULL)
		return 0;

	text = print(c, &len);
	verbose = 1;
	c2 = load(text, len, &nerrors);
	verbose = 0;
	if (c2 == NULL) {
		fprintf(stderr, "config_print output does not load back "
		    "(%u errors):\n%s", nerrors, text);
		abort();
	}
	text2 = print(c2, &len2);
	if (len2 != len || memcmp(text, text2, len) != 0) {
		fprintf(stderr, "config_print output loads back "
		    "differently:\n--- printed\n%s--- reprinted\n%s", text,
		    text2);
		abort();
	}
	free(text2);
	free(text);
	config_free(c2);
	config_free(c);
	return 0;
}
