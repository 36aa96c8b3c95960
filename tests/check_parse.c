/*
 * check_parse.c -- unit tests for parse.c: the configuration value parsers
 * (sizes, durations, booleans, counts, log levels, listener addresses),
 * the listener address clash rule and the printed forms of sizes and
 * durations (echochatd.ini(5)).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "config.h"
#include "parse.h"
#include "xmalloc.h"

/* --- parse_size --- */

START_TEST(test_size_plain)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(parse_size("007", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_size("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_size_suffixes)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("64k", &v), 0);
	ck_assert_uint_eq(v, 64 * 1024);
	ck_assert_int_eq(parse_size("64K", &v), 0);
	ck_assert_uint_eq(v, 64 * 1024);
	ck_assert_int_eq(parse_size("1m", &v), 0);
	ck_assert_uint_eq(v, 1024 * 1024);
	ck_assert_int_eq(parse_size("3M", &v), 0);
	ck_assert_uint_eq(v, 3 * 1024 * 1024);
	ck_assert_int_eq(parse_size("1g", &v), 0);
	ck_assert_uint_eq(v, (uint64_t)1 << 30);
	ck_assert_int_eq(parse_size("4G", &v), 0);
	ck_assert_uint_eq(v, (uint64_t)4 << 30);
	ck_assert_int_eq(parse_size("0k", &v), 0);
	ck_assert_uint_eq(v, 0);
	/* The largest that fits, and one more. */
	ck_assert_int_eq(parse_size("17179869183g", &v), 0);
	ck_assert_uint_eq(v, ((uint64_t)17179869183) << 30);
}
END_TEST

START_TEST(test_size_overflow)
{
	uint64_t v = 42;

	ck_assert_int_eq(parse_size("18446744073709551616", &v), -1);
	ck_assert_int_eq(parse_size("99999999999999999999999", &v), -1);
	ck_assert_int_eq(parse_size("17179869184g", &v), -1);	/* 2^64 */
	ck_assert_int_eq(parse_size("18014398509481984k", &v), -1); /* 2^64 */
	ck_assert_int_eq(parse_size("17592186044416m", &v), -1);   /* 2^64 */
	ck_assert_uint_eq(v, 42);	/* untouched on failure */
}
END_TEST

START_TEST(test_size_bad)
{
	uint64_t v;

	ck_assert_int_eq(parse_size("", &v), -1);
	ck_assert_int_eq(parse_size("-1", &v), -1);
	ck_assert_int_eq(parse_size("-1k", &v), -1);
	ck_assert_int_eq(parse_size("+1", &v), -1);
	ck_assert_int_eq(parse_size("10kb", &v), -1);
	ck_assert_int_eq(parse_size("1.5m", &v), -1);
	ck_assert_int_eq(parse_size("k", &v), -1);
	ck_assert_int_eq(parse_size("10 k", &v), -1);
	ck_assert_int_eq(parse_size(" 10", &v), -1);
	ck_assert_int_eq(parse_size("10 ", &v), -1);
	ck_assert_int_eq(parse_size("10t", &v), -1);
	ck_assert_int_eq(parse_size("0x10", &v), -1);
}
END_TEST

/* --- parse_duration_ms --- */

START_TEST(test_duration_units)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ms("30", &v), 0);
	ck_assert_uint_eq(v, 30000);
	ck_assert_int_eq(parse_duration_ms("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_duration_ms("500ms", &v), 0);
	ck_assert_uint_eq(v, 500);
	ck_assert_int_eq(parse_duration_ms("2s", &v), 0);
	ck_assert_uint_eq(v, 2000);
	ck_assert_int_eq(parse_duration_ms("5m", &v), 0);
	ck_assert_uint_eq(v, 300000);
	ck_assert_int_eq(parse_duration_ms("1h", &v), 0);
	ck_assert_uint_eq(v, 3600000);
	ck_assert_int_eq(parse_duration_ms("0ms", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_duration_ms("18446744073709551615ms", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(test_duration_overflow)
{
	uint64_t v;

	/* UINT64_MAX / 1000 + 1 seconds. */
	ck_assert_int_eq(parse_duration_ms("18446744073709552", &v), -1);
	ck_assert_int_eq(parse_duration_ms("18446744073709552s", &v), -1);
	ck_assert_int_eq(parse_duration_ms("18446744073709551", &v), 0);
	ck_assert_uint_eq(v, UINT64_C(18446744073709551000));
	ck_assert_int_eq(parse_duration_ms("5124095576030432h", &v), -1);
	ck_assert_int_eq(parse_duration_ms("307445734561825861m", &v), -1);
	ck_assert_int_eq(parse_duration_ms("18446744073709551616ms", &v), -1);
}
END_TEST

START_TEST(test_duration_bad)
{
	uint64_t v;

	ck_assert_int_eq(parse_duration_ms("", &v), -1);
	ck_assert_int_eq(parse_duration_ms("-5", &v), -1);
	ck_assert_int_eq(parse_duration_ms("5x", &v), -1);
	ck_assert_int_eq(parse_duration_ms("5sec", &v), -1);
	ck_assert_int_eq(parse_duration_ms("5d", &v), -1);
	ck_assert_int_eq(parse_duration_ms("5 s", &v), -1);
	ck_assert_int_eq(parse_duration_ms("1.5s", &v), -1);
	ck_assert_int_eq(parse_duration_ms("ms", &v), -1);
	ck_assert_int_eq(parse_duration_ms("5mss", &v), -1);
	ck_assert_int_eq(parse_duration_ms("5hm", &v), -1);
}
END_TEST

/* --- parse_bool --- */

START_TEST(test_bool_spellings)
{
	static const char *truths[] = { "yes", "true", "on", "1", "YES",
		"True", "oN", "TRUE" };
	static const char *lies[] = { "no", "false", "off", "0", "NO",
		"False", "oFF", "FALSE" };
	size_t i;
	int b;

	for (i = 0; i < sizeof truths / sizeof truths[0]; i++) {
		b = -7;
		ck_assert_msg(parse_bool(truths[i], &b) == 0, "%s", truths[i]);
		ck_assert_int_eq(b, 1);
	}
	for (i = 0; i < sizeof lies / sizeof lies[0]; i++) {
		b = -7;
		ck_assert_msg(parse_bool(lies[i], &b) == 0, "%s", lies[i]);
		ck_assert_int_eq(b, 0);
	}
}
END_TEST

START_TEST(test_bool_junk)
{
	static const char *junk[] = { "", "y", "n", "2", "01", "yes ", " no",
		"enable", "t", "f", "yess", "of" };
	size_t i;
	int b = -7;

	for (i = 0; i < sizeof junk / sizeof junk[0]; i++)
		ck_assert_msg(parse_bool(junk[i], &b) == -1, "\"%s\"", junk[i]);
	ck_assert_int_eq(b, -7);
}
END_TEST

/* --- parse_uint --- */

START_TEST(test_uint)
{
	uint64_t v;

	ck_assert_int_eq(parse_uint("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_uint("10000", &v), 0);
	ck_assert_uint_eq(v, 10000);
	ck_assert_int_eq(parse_uint("18446744073709551615", &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_uint("18446744073709551616", &v), -1);
	ck_assert_int_eq(parse_uint("", &v), -1);
	ck_assert_int_eq(parse_uint("-1", &v), -1);
	ck_assert_int_eq(parse_uint("1k", &v), -1);
	ck_assert_int_eq(parse_uint("12 ", &v), -1);
	ck_assert_int_eq(parse_uint("1e3", &v), -1);
	ck_assert_int_eq(parse_uint("yes", &v), -1);
}
END_TEST

/* --- parse_log_level --- */

START_TEST(test_log_level)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	enum log_level l;
	int i;

	for (i = 0; i < 4; i++) {
		l = (enum log_level)-1;
		ck_assert_int_eq(parse_log_level(names[i], &l), 0);
		ck_assert_int_eq(l, i);
		ck_assert_str_eq(log_level_name(l), names[i]);
	}
	ck_assert_int_eq(LOG_LEVEL_ERROR, 0);
	ck_assert_int_eq(LOG_LEVEL_DEBUG, 3);
	ck_assert_int_eq(parse_log_level("", &l), -1);
	ck_assert_int_eq(parse_log_level("warning", &l), -1);
	ck_assert_int_eq(parse_log_level("verbose", &l), -1);
	ck_assert_int_eq(parse_log_level("info ", &l), -1);
	ck_assert_int_eq(parse_log_level("2", &l), -1);
}
END_TEST

/* --- parse_address --- */

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

START_TEST(test_address_ipv4)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	socklen_t len = 0;
	int wild = -1;
	const char *cause = NULL;
	char *s;

	ck_assert_int_eq(parse_address("127.0.0.1:7007", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_uint_eq(ntohs(sin->sin_port), 7007);
	ck_assert_int_eq(wild, 0);
	s = format_address((struct sockaddr *)&ss, len);
	ck_assert_str_eq(s, "127.0.0.1:7007");
	free(s);

	ck_assert_int_eq(parse_address("0.0.0.0:0", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(port_of(&ss), 0);
	ck_assert_int_eq(parse_address("10.1.2.3:65535", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_uint_eq(port_of(&ss), 65535);
}
END_TEST

START_TEST(test_address_ipv6)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = 0;
	int wild = -1;
	const char *cause = NULL;
	char *s;

	ck_assert_int_eq(parse_address("[::1]:7007", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 7007);
	ck_assert_int_eq(wild, 0);
	s = format_address((struct sockaddr *)&ss, len);
	ck_assert_str_eq(s, "[::1]:7007");
	free(s);

	/* An explicit [::] is not the "*" wildcard. */
	ck_assert_int_eq(parse_address("[::]:80", &ss, &len, &wild, &cause),
	    0);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	ck_assert_int_eq(wild, 0);
	ck_assert_int_eq(parse_address("[fe80::1:2]:1", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_uint_eq(port_of(&ss), 1);
}
END_TEST

START_TEST(test_address_wildcard)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = 0;
	int wild = 0;
	const char *cause = NULL;

	ck_assert_int_eq(parse_address("*:7007", &ss, &len, &wild, &cause),
	    0);
	ck_assert_int_eq(wild, 1);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 7007);

	/* A later parse clears the flag. */
	ck_assert_int_eq(parse_address("127.0.0.1:7007", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_int_eq(wild, 0);
	/* "[*]" is not the wildcard, and not an IPv6 address either. */
	ck_assert_int_eq(parse_address("[*]:7007", &ss, &len, &wild, &cause),
	    -1);
}
END_TEST

START_TEST(test_address_localhost)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int wild = -1;
	const char *cause = NULL;

	ck_assert_int_eq(parse_address("localhost:80", &ss, &len, &wild,
	    &cause), 0);
	ck_assert_int_eq(wild, 0);
	ck_assert_uint_eq(port_of(&ss), 80);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		ck_assert_uint_eq(len, sizeof *sin);
		ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr) >> 24, 127);
	} else {
		const struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		ck_assert_int_eq(ss.ss_family, AF_INET6);
		ck_assert_uint_eq(len, sizeof *sin6);
		ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	}
}
END_TEST

/* Each rejected address with the cause it must give. */
static const struct {
	const char	*input;
	const char	*cause;
} bad_addresses[] = {
	{ "127.0.0.1", "expected HOST:PORT" },
	{ "", "expected HOST:PORT" },
	{ "127.0.0.1:", "bad port (0-65535)" },
	{ "127.0.0.1:65536", "bad port (0-65535)" },
	{ "127.0.0.1:99999999999999999999999", "bad port (0-65535)" },
	{ "127.0.0.1:-1", "bad port (0-65535)" },
	{ "127.0.0.1:80x", "bad port (0-65535)" },
	{ "127.0.0.1: 80", "bad port (0-65535)" },
	{ "::1:80", "IPv6 addresses need brackets: [IPV6]:PORT" },
	{ "[::1]", "bad port (0-65535)" },
	{ ":80", "missing host" },
	{ "[]:80", "missing host" },
	{ "[zz::1]:80", "bad IPv6 address" },
	{ "[127.0.0.1]:80", "bad IPv6 address" },
	{ "[::1]x:80", "expected [IPV6]:PORT" },
};

START_TEST(test_address_bad)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int wild;
	const char *cause = NULL;
	const char *in = bad_addresses[_i].input;

	ck_assert_msg(parse_address(in, &ss, &len, &wild, &cause) == -1,
	    "\"%s\" accepted", in);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strcmp(cause, bad_addresses[_i].cause) == 0,
	    "\"%s\": cause \"%s\", expected \"%s\"", in, cause,
	    bad_addresses[_i].cause);
}
END_TEST

/* --- addresses_clash --- */

static void
mk(struct listener_conf *lc, enum proto proto, const char *bind)
{
	const char *cause = NULL;

	memset(lc, 0, sizeof *lc);
	lc->proto = proto;
	lc->bind = (char *)bind;
	if (proto != PROTO_UNIX)
		ck_assert_msg(parse_address(bind, &lc->addr, &lc->addrlen,
		    &lc->wildcard, &cause) == 0, "%s: %s", bind, cause);
}

START_TEST(test_clash_same_address)
{
	struct listener_conf a, b;

	mk(&a, PROTO_TCP, "127.0.0.1:7007");
	mk(&b, PROTO_TCP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	mk(&a, PROTO_UDP, "[::1]:7007");
	mk(&b, PROTO_UDP, "[::1]:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	/* Spelled differently, the same address. */
	mk(&a, PROTO_UDP, "[::1]:7007");
	mk(&b, PROTO_UDP, "[0:0::1]:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	/* Different hosts, same port. */
	mk(&a, PROTO_TCP, "127.0.0.1:7007");
	mk(&b, PROTO_TCP, "127.0.0.2:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&a, PROTO_TCP, "127.0.0.1:7007");
	mk(&b, PROTO_TCP, "[::1]:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
}
END_TEST

START_TEST(test_clash_wildcard)
{
	struct listener_conf a, b;

	mk(&a, PROTO_TCP, "*:7007");
	mk(&b, PROTO_TCP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	ck_assert_int_eq(addresses_clash(&b, &a), 1);
	mk(&b, PROTO_TCP, "[::1]:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	ck_assert_int_eq(addresses_clash(&b, &a), 1);
	mk(&b, PROTO_TCP, "*:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	mk(&b, PROTO_TCP, "127.0.0.1:7008");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&b, PROTO_UDP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&b, PROTO_UDP, "*:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
}
END_TEST

START_TEST(test_clash_ports)
{
	struct listener_conf a, b;

	mk(&a, PROTO_TCP, "127.0.0.1:7007");
	mk(&b, PROTO_TCP, "127.0.0.1:7008");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	ck_assert_int_eq(addresses_clash(&b, &a), 0);
	/* Port 0: the kernel picks distinct ports. */
	mk(&a, PROTO_TCP, "127.0.0.1:0");
	mk(&b, PROTO_TCP, "127.0.0.1:0");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&a, PROTO_TCP, "*:0");
	mk(&b, PROTO_TCP, "127.0.0.1:0");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	ck_assert_int_eq(addresses_clash(&b, &a), 0);
	mk(&a, PROTO_UDP, "*:0");
	mk(&b, PROTO_UDP, "*:0");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
}
END_TEST

START_TEST(test_clash_protocols)
{
	struct listener_conf a, b;

	mk(&a, PROTO_TCP, "127.0.0.1:7007");
	mk(&b, PROTO_UDP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	ck_assert_int_eq(addresses_clash(&b, &a), 0);
	mk(&a, PROTO_UDP, "*:7009");
	mk(&b, PROTO_TCP, "*:7009");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&a, PROTO_UNIX, "/tmp/x.sock");
	mk(&b, PROTO_TCP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	ck_assert_int_eq(addresses_clash(&b, &a), 0);
}
END_TEST

START_TEST(test_clash_unix)
{
	struct listener_conf a, b;

	mk(&a, PROTO_UNIX, "/run/echochat.sock");
	mk(&b, PROTO_UNIX, "/run/echochat.sock");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	mk(&b, PROTO_UNIX, "/run/echochat2.sock");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
}
END_TEST

/*
 * 0.0.0.0 covers every IPv4 address and an explicit [::] every IPv6 one,
 * just as "*" covers both: a specific address of that family on the same
 * port and protocol cannot be bound next to it (EADDRINUSE at start-up,
 * exit 71, although -t called the configuration valid).
 */
START_TEST(test_clash_any_address)
{
	struct listener_conf a, b;

	mk(&a, PROTO_TCP, "0.0.0.0:7007");
	mk(&b, PROTO_TCP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	ck_assert_int_eq(addresses_clash(&b, &a), 1);
	mk(&a, PROTO_UDP, "0.0.0.0:7007");
	mk(&b, PROTO_UDP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	mk(&a, PROTO_TCP, "[::]:7007");
	mk(&b, PROTO_TCP, "[::1]:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 1);
	ck_assert_int_eq(addresses_clash(&b, &a), 1);
	/* Other family, other port, other protocol: no clash. */
	mk(&a, PROTO_TCP, "0.0.0.0:7007");
	mk(&b, PROTO_TCP, "[::1]:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&b, PROTO_TCP, "127.0.0.1:7008");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
	mk(&b, PROTO_UDP, "127.0.0.1:7007");
	ck_assert_int_eq(addresses_clash(&a, &b), 0);
}
END_TEST

/* --- format_size / format_duration --- */

START_TEST(test_format_size)
{
	static const struct {
		uint64_t	 n;
		const char	*s;
	} cases[] = {
		{ 0, "0" }, { 1, "1" }, { 1000, "1000" }, { 1024, "1k" },
		{ 1536, "1536" }, { 4096, "4k" }, { 65536, "64k" },
		{ 1048576, "1m" }, { 1049600, "1025k" },
		{ (uint64_t)1 << 30, "1g" }, { (uint64_t)3 << 30, "3g" },
		{ (uint64_t)1 << 32, "4g" }, { ((uint64_t)1 << 30) + 1024,
		    "1048577k" },
		{ UINT64_MAX, "18446744073709551615" },
	};
	size_t i;
	uint64_t v;
	char *s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = format_size(cases[i].n);
		ck_assert_str_eq(s, cases[i].s);
		ck_assert_int_eq(parse_size(s, &v), 0);
		ck_assert_uint_eq(v, cases[i].n);
		free(s);
	}
}
END_TEST

START_TEST(test_format_duration)
{
	static const struct {
		uint64_t	 ms;
		const char	*s;
	} cases[] = {
		{ 0, "0" }, { 1, "1ms" }, { 250, "250ms" }, { 1000, "1s" },
		{ 1500, "1500ms" }, { 2000, "2s" }, { 90000, "90s" },
		{ 60000, "1m" }, { 300000, "5m" }, { 3600000, "1h" },
		{ 5400000, "90m" }, { 86400000, "24h" },
		{ UINT64_MAX, "18446744073709551615ms" },
	};
	size_t i;
	uint64_t v;
	char *s;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = format_duration(cases[i].ms);
		ck_assert_str_eq(s, cases[i].s);
		ck_assert_int_eq(parse_duration_ms(s, &v), 0);
		ck_assert_uint_eq(v, cases[i].ms);
		free(s);
	}
}
END_TEST

/* A small fixed-seed generator, so failures are reproducible. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

START_TEST(test_format_round_trip)
{
	uint64_t state = 0x9e3779b97f4a7c15ULL, n, v;
	char *s;
	int i;

	for (i = 0; i < 20000; i++) {
		n = next_random(&state);
		/* Mostly multiples of units, sometimes anything at all. */
		switch (i % 5) {
		case 0: n &= ~(uint64_t)0 >> 34; n <<= 30; break;
		case 1: n &= 0xfffff; n *= 1024; break;
		case 2: n %= 100000; n *= 60000; break;
		case 3: n %= 100000; n *= 1000; break;
		default: break;
		}
		s = format_size(n);
		ck_assert_int_eq(parse_size(s, &v), 0);
		ck_assert_uint_eq(v, n);
		free(s);
		s = format_duration(n);
		ck_assert_int_eq(parse_duration_ms(s, &v), 0);
		ck_assert_uint_eq(v, n);
		free(s);
	}
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite *s = suite_create("parse");
	TCase *tc;

	tc = tcase_create("size");
	tcase_add_test(tc, test_size_plain);
	tcase_add_test(tc, test_size_suffixes);
	tcase_add_test(tc, test_size_overflow);
	tcase_add_test(tc, test_size_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_duration_overflow);
	tcase_add_test(tc, test_duration_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("bool_uint_level");
	tcase_add_test(tc, test_bool_spellings);
	tcase_add_test(tc, test_bool_junk);
	tcase_add_test(tc, test_uint);
	tcase_add_test(tc, test_log_level);
	suite_add_tcase(s, tc);

	tc = tcase_create("address");
	tcase_add_test(tc, test_address_ipv4);
	tcase_add_test(tc, test_address_ipv6);
	tcase_add_test(tc, test_address_wildcard);
	tcase_add_test(tc, test_address_localhost);
	tcase_add_loop_test(tc, test_address_bad, 0,
	    (int)(sizeof bad_addresses / sizeof bad_addresses[0]));
	/* Name resolution can be slow on a badly configured host. */
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("clash");
	tcase_add_test(tc, test_clash_same_address);
	tcase_add_test(tc, test_clash_wildcard);
	tcase_add_test(tc, test_clash_ports);
	tcase_add_test(tc, test_clash_protocols);
	tcase_add_test(tc, test_clash_unix);
	suite_add_tcase(s, tc);

	tc = tcase_create("clash_any_address");
	tcase_add_test(tc, test_clash_any_address);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_size);
	tcase_add_test(tc, test_format_duration);
	tcase_add_test(tc, test_format_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(parse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
