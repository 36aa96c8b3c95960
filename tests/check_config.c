/*
 * check_config.c -- unit tests for config.c: loading the INI file of
 * echochatd.ini(5).  Every class of error must be reported as "file:line: message"
 * (each at its own line, all of them in one pass) and make config_load
 * return NULL; a valid file must load with every value as written; the
 * built-in defaults must be those of conf/echochatd.ini; and config_print
 * must print something that loads back to the same configuration.
 *
 * The test files are written at run time into a private temporary
 * directory, so the suite needs no data files and runs from any build dir.
 */
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "cluster.h"
#include "config.h"
#include "parse.h"
#include "tls.h"
#include "ws.h"
#include "xmalloc.h"

/* A key of the [chat] section, through the handler's own settings. */
static uint64_t
chat_setting(const struct config *c, const char *key)
{
	const struct hsettings *hs;

	TAILQ_FOREACH(hs, &c->handler_settings, entry) {
		if (strcmp(hs->handler->name, "chat") == 0)
			return hsettings_get(hs, key);
	}
	ck_abort_msg("no [chat] settings");
	return 0;
}

/* --- Fixture: a temporary directory and collected messages. --- */

#define MAX_MSGS	64

static char	 basedir[PATH_MAX];	/* per test case, made by the runner */
static char	 tmpdir[PATH_MAX];	/* per test, inside basedir */
static char	 ini_path[PATH_MAX + 16];	/* tmpdir/test.ini */
static char	*msgs[MAX_MSGS];
static unsigned int nmsgs;

/* config_load's report callback: keep a copy of each message. */
static void
collect(const char *msg)
{
	if (nmsgs < MAX_MSGS)
		msgs[nmsgs] = strdup(msg);
	nmsgs++;
}

static void
clear_msgs(void)
{
	unsigned int i;

	for (i = 0; i < nmsgs && i < MAX_MSGS; i++)
		free(msgs[i]);
	nmsgs = 0;
}

/* Remove a directory and what is in it, one level of subdirectories. */
static void
remove_tree(const char *dir, int depth)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	char p[PATH_MAX + 256];

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
			if (depth > 0 && lstat(p, &st) == 0 &&
			    S_ISDIR(st.st_mode))
				remove_tree(p, depth - 1);
			else
				unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

/*
 * Unchecked fixture (runs in the runner's process): a base directory for
 * the test case, removed afterwards even if a test crashed.
 */
static void
case_setup(void)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(basedir, sizeof basedir, "%s/check_config.XXXXXX", base);
	if (mkdtemp(basedir) == NULL) {
		perror(basedir);
		exit(1);
	}
}

static void
case_teardown(void)
{
	remove_tree(basedir, 1);
}

/* Checked fixture: a fresh directory for each test. */
static void
setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "%.*s/t.XXXXXX", PATH_MAX - 16,
	    basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(ini_path, sizeof ini_path, "%s/test.ini", tmpdir);
	nmsgs = 0;
}

static void
teardown(void)
{
	clear_msgs();
	remove_tree(tmpdir, 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* Write text as the test file and load it; messages are collected. */
static struct config *
load_text(const char *text, unsigned int *nerrors)
{
	write_file(ini_path, text);
	clear_msgs();
	*nerrors = 12345;
	return config_load(ini_path, 0, collect, nerrors);
}

/* The text loads fine (no message at all); the caller frees. */
static struct config *
load_ok(const char *text)
{
	struct config *c;
	unsigned int nerrors;

	c = load_text(text, &nerrors);
	ck_assert_msg(c != NULL, "valid file rejected: %s",
	    nmsgs > 0 ? msgs[0] : "(no message)");
	ck_assert_uint_eq(nerrors, 0);
	ck_assert_uint_eq(nmsgs, 0);
	return c;
}

/* Message number i is "ini_path:line: msg" (or "ini_path: msg", line 0). */
static void
check_msg(unsigned int i, unsigned int line, const char *msg)
{
	char *want;

	ck_assert_uint_lt(i, nmsgs);
	if (line != 0)
		ck_assert_int_ne(asprintf(&want, "%s:%u: %s", ini_path, line,
		    msg), -1);
	else
		ck_assert_int_ne(asprintf(&want, "%s: %s", ini_path, msg), -1);
	ck_assert_msg(strcmp(msgs[i], want) == 0,
	    "message %u:\n  got      \"%s\"\n  expected \"%s\"", i, msgs[i],
	    want);
	free(want);
}

/* The text is rejected with exactly n errors (messages checked after). */
static void
expect_rejected(const char *text, unsigned int n)
{
	struct config *c;
	unsigned int nerrors, i;

	c = load_text(text, &nerrors);
	if (c != NULL)
		config_free(c);
	ck_assert_msg(c == NULL, "invalid file accepted");
	if (nerrors != n || nmsgs != n) {
		for (i = 0; i < nmsgs && i < MAX_MSGS; i++)
			fprintf(stderr, "  message %u: %s\n", i, msgs[i]);
	}
	ck_assert_uint_eq(nerrors, n);
	ck_assert_uint_eq(nmsgs, n);
}

/* The text is rejected with one error: line, message. */
static void
expect_error(const char *text, unsigned int line, const char *msg)
{
	expect_rejected(text, 1);
	check_msg(0, line, msg);
}

/* A valid listener, four lines, to complete files about other things. */
#define LISTENER_OK \
	"[listener echo]\n" \
	"proto = tcp\n" \
	"bind = 127.0.0.1:7007\n" \
	"handler = echo\n"

/* --- One test per error class. --- */

START_TEST(test_unknown_section)
{
	expect_error(
	    "[server]\n"
	    "log = stderr\n"
	    "[bogus]\n"
	    "foo = 1\n"			/* not reported again */
	    LISTENER_OK,
	    3, "unknown section [bogus]");
	expect_error(
	    "[Server]\n"
	    LISTENER_OK,
	    1, "unknown section [Server]");
	expect_error(
	    "[listenerx]\n"
	    LISTENER_OK,
	    1, "unknown section [listenerx]");
}
END_TEST

START_TEST(test_unknown_key_server)
{
	expect_error(
	    "[server]\n"
	    "log = stderr\n"
	    "max_clientz = 5\n"
	    LISTENER_OK,
	    3, "unknown key \"max_clientz\" in [server]");
}
END_TEST

START_TEST(test_unknown_key_listener)
{
	expect_error(
	    "[listener echo]\n"
	    "proto = tcp\n"
	    "prot = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n",
	    3, "unknown key \"prot\" in [listener echo]");
	/* A [server] key is not a listener key. */
	expect_error(
	    LISTENER_OK
	    "max_line = 10\n",
	    5, "unknown key \"max_line\" in [listener echo]");
}
END_TEST

START_TEST(test_unknown_key_chat)
{
	expect_error(
	    "[chat]\n"
	    "udp_peers = 5\n"
	    LISTENER_OK,
	    2, "unknown key \"udp_peers\" in [chat]");
}
END_TEST

START_TEST(test_bad_size)
{
	expect_error(
	    "[server]\n"
	    "max_line = 4kb\n"
	    LISTENER_OK,
	    2, "bad value \"4kb\" for max_line: expected a size (e.g. 4096, "
	    "64k, 1m)");
	expect_error(
	    "[server]\n"
	    "output_limit = 1.5m\n"
	    LISTENER_OK,
	    2, "bad value \"1.5m\" for output_limit: expected a size (e.g. "
	    "4096, 64k, 1m)");
}
END_TEST

START_TEST(test_bad_duration)
{
	expect_error(
	    "[server]\n"
	    "idle_timeout = 5x\n"
	    LISTENER_OK,
	    2, "bad value \"5x\" for idle_timeout: expected a duration (e.g. "
	    "30, 500ms, 2s, 5m, 1h)");
	expect_error(
	    LISTENER_OK
	    "idle_timeout = -1\n",
	    5, "bad value \"-1\" for idle_timeout: expected a duration (e.g. "
	    "30, 500ms, 2s, 5m, 1h)");
}
END_TEST

START_TEST(test_bad_count)
{
	/* A count is not a boolean, nor a size. */
	expect_error(
	    "[server]\n"
	    "max_clients = yes\n"
	    LISTENER_OK,
	    2, "bad value \"yes\" for max_clients: expected a whole number");
	expect_error(
	    "[chat]\n"
	    "udp_peers_max = 1k\n"
	    LISTENER_OK,
	    2, "bad value \"1k\" for udp_peers_max: expected a whole number");
}
END_TEST

START_TEST(test_bad_log_level)
{
	expect_error(
	    "[server]\n"
	    "log_level = verbose\n"
	    LISTENER_OK,
	    2, "bad log_level \"verbose\" (error, warn, info or debug)");
}
END_TEST

START_TEST(test_bad_proto)
{
	expect_error(
	    "[listener echo]\n"
	    "proto = sctp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n",
	    2, "bad proto \"sctp\" (tcp, udp or unix)");
}
END_TEST

START_TEST(test_out_of_range)
{
	expect_error(
	    "[server]\n"
	    "max_clients = 0\n"
	    LISTENER_OK,
	    2, "max_clients = 0 is out of range (1 to 10000000)");
	expect_error(
	    "[server]\n"
	    "max_clients = 10000001\n"
	    LISTENER_OK,
	    2, "max_clients = 10000001 is out of range (1 to "
	    "10000000)");
	expect_error(
	    "[server]\n"
	    "max_line = 0\n"
	    LISTENER_OK,
	    2, "max_line = 0 is out of range (1 to 1m)");
	expect_error(
	    "[server]\n"
	    "output_limit = 1000\n"
	    LISTENER_OK,
	    2, "output_limit = 1000 is out of range (1k to 4g)");
	expect_error(
	    "[chat]\n"
	    "udp_peer_timeout = 500ms\n"
	    LISTENER_OK,
	    2, "udp_peer_timeout = 500ms is out of range (at least 1s)");
}
END_TEST

START_TEST(test_range_limits_accepted)
{
	struct config *c;

	c = load_ok(
	    "[server]\n"
	    "max_clients = 1\n"
	    "max_line = 1m\n"
	    "output_limit = 1k\n"
	    "[chat]\n"
	    "udp_peer_timeout = 1s\n"
	    "udp_peers_max = 0\n"
	    LISTENER_OK);
	ck_assert_uint_eq(c->max_clients, 1);
	ck_assert_uint_eq(c->max_line, 1024 * 1024);
	ck_assert_uint_eq(c->output_limit, 1024);
	ck_assert_uint_eq(chat_setting(c, "udp_peer_timeout"), 1000);
	ck_assert_uint_eq(chat_setting(c, "udp_peers_max"), 0);
	config_free(c);
}
END_TEST

START_TEST(test_duplicate_listener)
{
	expect_error(
	    LISTENER_OK
	    "\n"
	    "[listener echo]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7008\n"
	    "handler = echo\n",
	    6, "duplicate listener \"echo\" (first defined at line 1)");
}
END_TEST

START_TEST(test_duplicate_key)
{
	expect_error(
	    "[server]\n"
	    "log = stderr\n"
	    "log = syslog\n"
	    LISTENER_OK,
	    3, "duplicate key \"log\" in [server]");
	expect_error(
	    "[listener echo]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "bind = 127.0.0.1:7008\n",
	    5, "duplicate key \"bind\" in [listener echo]");
	/* The same key in two [server] sections is still one key twice. */
	expect_error(
	    "[server]\n"
	    "max_line = 100\n"
	    "[chat]\n"
	    "[server]\n"
	    "max_line = 200\n"
	    LISTENER_OK,
	    5, "duplicate key \"max_line\" in [server]");
}
END_TEST

START_TEST(test_duplicate_address)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "[listener b]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = upper\n",
	    7, "[listener b]: tcp 127.0.0.1:7007 is already used by "
	    "[listener a] at line 1");
}
END_TEST

START_TEST(test_duplicate_address_wildcard)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = *:7007\n"
	    "handler = echo\n"
	    "\n"
	    "[listener b]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = upper\n",
	    8, "[listener b]: tcp 127.0.0.1:7007 is already used by "
	    "[listener a] at line 1");
	expect_error(
	    "[listener a]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "[listener b]\n"
	    "proto = udp\n"
	    "bind = *:7007\n"
	    "handler = upper\n",
	    7, "[listener b]: udp *:7007 is already used by "
	    "[listener a] at line 1");
}
END_TEST

START_TEST(test_no_clash_allowed)
{
	struct config *c;

	/* tcp and udp on one address, port 0 twice, distinct ports. */
	c = load_ok(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = *:7007\n"
	    "handler = echo\n"
	    "[listener b]\n"
	    "proto = udp\n"
	    "bind = *:7007\n"
	    "handler = echo\n"
	    "[listener c]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:0\n"
	    "handler = echo\n"
	    "[listener d]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:0\n"
	    "handler = echo\n"
	    "[listener e]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7008\n"
	    "handler = echo\n");
	config_free(c);
}
END_TEST

START_TEST(test_missing_key)
{
	expect_error(
	    "[server]\n"
	    "log = stderr\n"
	    "\n"
	    "[listener a]\n"
	    "proto = tcp\n"
	    "handler = echo\n",
	    4, "missing key \"bind\" in [listener a]");
	/* All three, each reported at the header. */
	expect_rejected(
	    "[listener a]\n"
	    "banner = hi\n",
	    3);
	check_msg(0, 1, "missing key \"proto\" in [listener a]");
	check_msg(1, 1, "missing key \"bind\" in [listener a]");
	check_msg(2, 1, "missing key \"handler\" in [listener a]");
}
END_TEST

START_TEST(test_unknown_handler)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = ehco\n",
	    4, "[listener a]: unknown handler \"ehco\": not built in (echo, "
	    "upper, chat), and no plugin: " PLUGINDIR "/ehco.so: No such file "
	    "or directory");
}
END_TEST

START_TEST(test_bad_bind)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1\n"
	    "handler = echo\n",
	    3, "[listener a]: bad bind \"127.0.0.1\": expected HOST:PORT");
	expect_error(
	    "[listener a]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:65536\n"
	    "handler = echo\n",
	    3, "[listener a]: bad bind \"127.0.0.1:65536\": bad port "
	    "(0-65535)");
	expect_error(
	    "[listener a]\n"
	    "proto = unix\n"
	    "bind = /tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n"
	    "handler = echo\n",
	    3, "[listener a]: unix socket path too long (max 107 bytes)");
}
END_TEST

START_TEST(test_expected_key_value)
{
	expect_error(
	    "[server]\n"
	    "log stderr\n"
	    LISTENER_OK,
	    2, "expected key = value");
}
END_TEST

START_TEST(test_key_outside_section)
{
	expect_error(
	    "log = stderr\n"
	    LISTENER_OK,
	    1, "key outside any section");
}
END_TEST

START_TEST(test_line_too_long)
{
	char text[1024], value[256];
	struct config *c;

	/* "log = /" and 192 characters: 199 in all. */
	memset(value, 'x', 192);
	value[192] = '\0';
	snprintf(text, sizeof text, "[server]\nlog = /%s\n" LISTENER_OK,
	    value);
	expect_error(text, 2, "line too long (max 198 characters)");

	/* 198 is fine, with LF or CRLF. */
	value[191] = '\0';
	snprintf(text, sizeof text, "[server]\r\nlog = /%s\r\n" LISTENER_OK,
	    value);
	c = load_ok(text);
	ck_assert_uint_eq(strlen(c->log), 192);
	ck_assert_int_eq(c->log[0], '/');
	config_free(c);

	/* Even a comment line has the limit. */
	memset(value, ';', 199);
	value[199] = '\0';
	snprintf(text, sizeof text, "%s\n" LISTENER_OK, value);
	expect_error(text, 1, "line too long (max 198 characters)");
}
END_TEST

START_TEST(test_indented_line)
{
	expect_error(
	    "[server]\n"
	    "log = stderr\n"
	    "  log_level = debug\n"
	    LISTENER_OK,
	    3, "indented line (continuation lines are not supported)");
	expect_error(
	    "[server]\n"
	    "\tmax_line = 10\n"
	    LISTENER_OK,
	    2, "indented line (continuation lines are not supported)");
}
END_TEST

/* A listener's room: a room name, and on a handler with rooms only. */
START_TEST(test_listener_room)
{
	struct config *c;
	unsigned int nerrors;

	c = load_text(
	    "[listener chat]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7009\n"
	    "handler = chat\n"
	    "room = #Help_2-a\n", &nerrors);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(TAILQ_FIRST(&c->listeners)->room, "#Help_2-a");
	config_free(c);
	expect_error(
	    "[listener chat]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7009\n"
	    "handler = chat\n"
	    "room = help\n",
	    5, "[listener chat]: bad room \"help\": a room is # and 1-32 of "
	    "A-Z a-z 0-9 _ -");
	expect_error(
	    "[listener echo]\n"
	    "proto = tcp\n"
	    "room = #x\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n",
	    3, "[listener echo]: room is for listeners of a handler with "
	    "rooms (chat)");
	expect_error(
	    "[listener chat]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7009\n"
	    "handler = chat\n"
	    "room =\n",
	    5, "empty value for room");
	expect_error(
	    "[chat]\n"
	    "rooms_max = 0\n"
	    LISTENER_OK,
	    2, "rooms_max = 0 is out of range (1 to 1000000)");
	expect_error(
	    "[chat]\n"
	    "history = 10001\n"
	    LISTENER_OK,
	    2, "history = 10001 is out of range (0 to 10000)");
}
END_TEST

/* TLS keys: refused without OpenSSL, checked together with it. */
START_TEST(test_tls_keys)
{
	if (!tls_supported()) {
		expect_error(
		    LISTENER_OK
		    "tls_cert = /etc/ssl/x.pem\n",
		    5, "key \"tls_cert\" is not supported by this build "
		    "(echochatd was built without OpenSSL)");
		return;
	}
	expect_error(
	    "[listener u]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "tls_cert = /nonexistent/c.pem\n"
	    "tls_key = /nonexistent/k.pem\n",
	    1, "[listener u]: TLS is for tcp listeners");
	expect_error(
	    LISTENER_OK
	    "tls_cert = /nonexistent/c.pem\n",
	    1, "[listener echo]: TLS needs both tls_cert and tls_key");
	expect_error(
	    LISTENER_OK
	    "tls_cert = /nonexistent/c.pem\n"
	    "tls_key = /nonexistent/k.pem\n"
	    "tls_verify = yes\n",
	    1, "[listener echo]: tls_verify = yes needs tls_ca (the CAs "
	    "client certificates must chain to)");
	expect_error(
	    LISTENER_OK
	    "tls_key = /nonexistent/k.pem\n"
	    "tls_cert = /nonexistent/c.pem\n",
	    6, "[listener echo]: /nonexistent/c.pem: No such file or "
	    "directory");
}
END_TEST

/*
 * ws_origins without websocket = yes: refused the same way whether it
 * lists origins or is empty.
 */
START_TEST(test_ws_origins_needs_websocket)
{
	if (!ws_supported()) {
		expect_error(
		    LISTENER_OK
		    "ws_origins =\n",
		    5, "key \"ws_origins\" is not supported by this build "
		    "(echochatd was built without libhttp-parser or OpenSSL)");
		return;
	}
	expect_error(
	    LISTENER_OK
	    "ws_origins = https://a.example\n",
	    5, "[listener echo]: ws_origins needs websocket = yes");
	expect_error(
	    LISTENER_OK
	    "ws_origins =\n",
	    5, "[listener echo]: ws_origins needs websocket = yes");
	config_free(load_ok(
	    LISTENER_OK
	    "websocket = yes\n"
	    "ws_origins =\n"));
}
END_TEST

/* [cluster]: checked with hiredis, refused key by key without. */
START_TEST(test_unsupported_section)
{
	if (cluster_supported()) {
		expect_error(
		    "[cluster]\n"
		    "redis = nowhere\n"
		    LISTENER_OK,
		    2, "[cluster]: bad redis \"nowhere\": expected HOST:PORT "
		    "or a socket path");
		expect_error(
		    LISTENER_OK
		    "[cluster]\n"
		    "redis = 127.0.0.1:6379\n"
		    "node = a/b\n",
		    7, "[cluster]: bad node \"a/b\": 1-64 of A-Z a-z 0-9 _ . "
		    ": -");
		return;
	}
	expect_error(
	    "[cluster]\n"
	    "redis = 127.0.0.1:6379\n"
	    LISTENER_OK,
	    2, "key \"redis\" in [cluster] is not supported by this build "
	    "(no hiredis)");
}
END_TEST

/* [metrics] bind: an address, not a tcp listener's; empty is off. */
START_TEST(test_metrics_bind)
{
	struct config *c;
	unsigned int nerrors;

	expect_error(
	    LISTENER_OK
	    "[metrics]\n"
	    "bind = localhost\n",
	    6, "[metrics]: bad bind \"localhost\": expected HOST:PORT");
	expect_error(
	    LISTENER_OK
	    "[metrics]\n"
	    "bind = 127.0.0.1:7007\n",
	    6, "[metrics]: tcp 127.0.0.1:7007 is already used by "
	    "[listener echo] at line 1");
	expect_error(
	    LISTENER_OK
	    "[metrics]\n"
	    "bind = 127.0.0.1:9309\n"
	    "bind = 127.0.0.1:9310\n",
	    7, "duplicate key \"bind\" in [metrics]");
	expect_error(
	    LISTENER_OK
	    "[metrics]\n"
	    "port = 9309\n",
	    6, "unknown key \"port\" in [metrics]");
	c = load_text(LISTENER_OK "[metrics]\nbind =\n", &nerrors);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->metrics);
	config_free(c);
	c = load_text(LISTENER_OK "[metrics]\nbind = *:9309\n", &nerrors);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(c->metrics);
	ck_assert_str_eq(c->metrics->bind, "*:9309");
	ck_assert_int_eq(c->metrics->wildcard, 1);
	config_free(c);
}
END_TEST

START_TEST(test_banner_udp)
{
	expect_error(
	    "[listener u]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "banner = hello\n",
	    5, "[listener u]: banner is for tcp and unix listeners");
}
END_TEST

START_TEST(test_idle_timeout_udp)
{
	expect_error(
	    "[listener u]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "idle_timeout = 10\n",
	    5, "[listener u]: idle_timeout is for tcp and unix listeners");
}
END_TEST

START_TEST(test_bad_section_header)
{
	expect_error(
	    "[server\n"
	    LISTENER_OK,
	    1, "bad section header (expected [name])");
	expect_error(
	    "[server] x\n"
	    LISTENER_OK,
	    1, "bad section header (expected [name])");
	expect_error(
	    "[listener]\n"
	    "proto = tcp\n"
	    LISTENER_OK,
	    1, "bad listener name \"\" (one word, e.g. [listener echo])");
	expect_error(
	    "[listener two words]\n"
	    LISTENER_OK,
	    1, "bad listener name \"two words\" (one word, e.g. "
	    "[listener echo])");
}
END_TEST

START_TEST(test_no_listener)
{
	expect_error(
	    "[server]\n"
	    "log = stderr\n",
	    0, "no [listener NAME] section: nothing to serve");
}
END_TEST

START_TEST(test_cannot_open)
{
	struct config *c;
	unsigned int nerrors = 0;

	clear_msgs();
	c = config_load(ini_path, 0, collect, &nerrors);	/* not written */
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(nerrors, 1);
	ck_assert_uint_eq(nmsgs, 1);
	check_msg(0, 0, "cannot open: No such file or directory");
}
END_TEST

START_TEST(test_several_errors)
{
	expect_rejected(
	    "; a file with one mistake after another\n"	/* 1 */
	    "[server]\n"				/* 2 */
	    "max_clients = 0\n"				/* 3 */
	    "bogus = 1\n"				/* 4 */
	    "log_level = loud\n"			/* 5 */
	    "workers = 4000\n"			/* 6 */
	    "[nope]\n"					/* 7 */
	    "x = y\n"					/* 8 */
	    "[listener a]\n"				/* 9 */
	    "proto = tcp\n"				/* 10 */
	    "bind = 127.0.0.1:7007\n"			/* 11 */
	    "handler = echo\n"				/* 12 */
	    "  banner = hi\n"				/* 13 */
	    "just some words\n"				/* 14 */
	    "proto = tcp\n"				/* 15 */
	    "[listener a]\n"				/* 16 */
	    "[later]\n"				/* 17 */
	    "[listener b]\n"				/* 18 */
	    "proto = udp\n"				/* 19 */
	    "handler = nope\n",				/* 20 */
	    12);
	check_msg(0, 3, "max_clients = 0 is out of range (1 to 10000000)");
	check_msg(1, 4, "unknown key \"bogus\" in [server]");
	check_msg(2, 5, "bad log_level \"loud\" (error, warn, info or debug)");
	check_msg(3, 6, "workers = 4000 is out of range (0 to 256)");
	check_msg(4, 7, "unknown section [nope]");
	check_msg(5, 13, "indented line (continuation lines are not "
	    "supported)");
	check_msg(6, 14, "expected key = value");
	check_msg(7, 15, "duplicate key \"proto\" in [listener a]");
	check_msg(8, 16, "duplicate listener \"a\" (first defined at line 9)");
	check_msg(9, 17, "unknown section [later]");
	check_msg(10, 18, "missing key \"bind\" in [listener b]");
	/* A missing bind hides nothing else about the listener. */
	check_msg(11, 20, "[listener b]: unknown handler \"nope\": not built "
	    "in (echo, upper, chat), and no plugin: " PLUGINDIR "/nope.so: No "
	    "such file or directory");
}
END_TEST

/*
 * An empty value for a required listener key is reported once, at its
 * line, and loading goes on safely (no crash on the NULL string later).
 */
START_TEST(test_empty_required_value)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind =\n"
	    "handler = echo\n",
	    3, "empty value for bind");
}
END_TEST

START_TEST(test_empty_required_value_handler)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler =\n",
	    4, "empty value for handler");
}
END_TEST

START_TEST(test_empty_required_value_unix)
{
	expect_error(
	    "[listener a]\n"
	    "proto = unix\n"
	    "bind =\n"
	    "handler = echo\n",
	    3, "empty value for bind");
}
END_TEST

/* See test_clash_any_address in check_parse.c. */
START_TEST(test_duplicate_address_any)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 0.0.0.0:7007\n"
	    "handler = echo\n"
	    "[listener b]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = upper\n",
	    7, "[listener b]: tcp 127.0.0.1:7007 is already used by "
	    "[listener a] at line 1");
}
END_TEST

/* A bad proto hides only what needs the proto (bind), not the handler. */
START_TEST(test_bad_proto_hides_nothing_else)
{
	expect_rejected(
	    "[listener a]\n"
	    "proto = sctp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = nope\n"
	    "[listener b]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n", 2);
	check_msg(0, 2, "bad proto \"sctp\" (tcp, udp or unix)");
	check_msg(1, 4, "[listener a]: unknown handler \"nope\": not built in "
	    "(echo, upper, chat), and no plugin: " PLUGINDIR "/nope.so: No such "
	    "file or directory");
}
END_TEST

/* A clash is reported even when other listeners have errors. */
START_TEST(test_clash_reported_beside_other_errors)
{
	expect_rejected(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "[listener b]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "[listener c]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = nope\n", 2);
	check_msg(0, 12, "[listener c]: unknown handler \"nope\": not built in "
	    "(echo, upper, chat), and no plugin: " PLUGINDIR "/nope.so: No such "
	    "file or directory");
	check_msg(1, 7, "[listener b]: tcp 127.0.0.1:7007 is already used by "
	    "[listener a] at line 1");
}
END_TEST

/* One socket file written two ways is one address. */
START_TEST(test_unix_same_file_two_spellings)
{
	static const char *other[] = { "/p//s.sock", "/p/./s.sock",
		"//p/s.sock", "/p/././/s.sock" };
	char text[512];
	size_t i;

	for (i = 0; i < sizeof other / sizeof other[0]; i++) {
		snprintf(text, sizeof text,
		    "[listener a]\n"
		    "proto = unix\n"
		    "bind = /p/s.sock\n"
		    "handler = echo\n"
		    "[listener b]\n"
		    "proto = unix\n"
		    "bind = %s\n"
		    "handler = echo\n", other[i]);
		expect_rejected(text, 1);
		ck_assert_ptr_nonnull(strstr(msgs[0], ":7: [listener b]: unix "));
		ck_assert_ptr_nonnull(strstr(msgs[0], "is already used by "
		    "[listener a] at line 1"));
	}
	/* Different files stay different. */
	config_free(load_ok(
	    "[listener a]\n"
	    "proto = unix\n"
	    "bind = /p/s.sock\n"
	    "handler = echo\n"
	    "[listener b]\n"
	    "proto = unix\n"
	    "bind = /p/s.sock.2\n"
	    "handler = echo\n"));
}
END_TEST

/* The kernel refuses IPv4-mapped addresses on IPv6-only sockets. */
START_TEST(test_ipv4_mapped_refused)
{
	expect_error(
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = [::ffff:127.0.0.1]:7007\n"
	    "handler = echo\n",
	    3, "[listener a]: bad bind \"[::ffff:127.0.0.1]:7007\": an "
	    "IPv4-mapped address cannot be bound: write it as HOST:PORT");
}
END_TEST

/* A UTF-8 byte order mark at the start is not part of the first line. */
START_TEST(test_bom_ignored)
{
	config_free(load_ok("\xef\xbb\xbf" LISTENER_OK));
	/* Only at the very start. */
	expect_error("[server]\n\xef\xbb\xbfmax_clients = 5\n" LISTENER_OK,
	    2, "unknown key \"\xef\xbb\xbfmax_clients\" in [server]");
}
END_TEST

/* A NUL inside a line is an error, not the end of the value. */
START_TEST(test_nul_in_line)
{
	static const char text[] = "[server]\nmax_clients = 5\0junk\n"
	    LISTENER_OK;
	struct config *c;
	unsigned int nerrors;
	FILE *f = fopen(ini_path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
	ck_assert_int_eq(fclose(f), 0);
	clear_msgs();
	c = config_load(ini_path, 0, collect, &nerrors);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(nerrors, 1);
	check_msg(0, 2, "NUL byte in the line");
}
END_TEST

/* A directory says why it cannot be read, and nothing else. */
START_TEST(test_directory)
{
	struct config *c;
	unsigned int nerrors;
	char *want;

	clear_msgs();
	c = config_load(tmpdir, 0, collect, &nerrors);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(nerrors, 1);
	ck_assert_uint_eq(nmsgs, 1);
	ck_assert_int_ne(asprintf(&want, "%s: cannot read: Is a directory",
	    tmpdir), -1);
	ck_assert_str_eq(msgs[0], want);
	free(want);
}
END_TEST

/* --- Valid files. --- */

static const char full_ini[] =
    "[server]\n"
    "log = /var/log/echochat/test.log\n"
    "log_level = debug\n"
    "max_clients = 50\n"
    "max_clients_per_ip = 3\n"
    "idle_timeout = 90s\n"
    "max_line = 8k\n"
    "output_limit = 2m\n"
    "shutdown_timeout = 500ms\n"
    "\n"
    "[chat]\n"
    "udp_peer_timeout = 2m\n"
    "udp_peers_max = 10\n"
    "\n"
    "[listener one]\n"				/* line 15 */
    "proto = tcp\n"
    "bind = [::1]:7100\n"
    "handler = upper\n"
    "banner = Hello there, welcome: have fun!\n"
    "idle_timeout = 1h\n"
    "\n"
    "[listener two]\n"				/* line 22 */
    "proto = udp\n"
    "bind = *:7101\n"
    "handler = chat\n"
    "\n"
    "[listener sock]\n"				/* line 27 */
    "handler = echo\n"
    "bind = /tmp/echochat-test.sock\n"
    "proto = unix\n"
    "idle_timeout = 0\n";

START_TEST(test_valid_file)
{
	struct config *c = load_ok(full_ini);
	struct listener_conf *lc;
	struct sockaddr_in6 *sin6;

	ck_assert_str_eq(c->file, ini_path);
	ck_assert_str_eq(c->log, "/var/log/echochat/test.log");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(c->max_clients, 50);
	ck_assert_uint_eq(c->max_clients_per_ip, 3);
	ck_assert_uint_eq(c->idle_timeout_ms, 90000);
	ck_assert_uint_eq(c->max_line, 8192);
	ck_assert_uint_eq(c->output_limit, 2 * 1024 * 1024);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 500);
	ck_assert_uint_eq(chat_setting(c, "udp_peer_timeout"), 120000);
	ck_assert_uint_eq(chat_setting(c, "udp_peers_max"), 10);

	lc = TAILQ_FIRST(&c->listeners);
	ck_assert_ptr_nonnull(lc);
	ck_assert_str_eq(lc->name, "one");
	ck_assert_int_eq(lc->proto, PROTO_TCP);
	ck_assert_str_eq(lc->bind, "[::1]:7100");
	ck_assert_int_eq(lc->addr.ss_family, AF_INET6);
	sin6 = (struct sockaddr_in6 *)&lc->addr;
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 7100);
	ck_assert_int_eq(lc->wildcard, 0);
	ck_assert_str_eq(lc->handler_name, "upper");
	ck_assert_ptr_eq(lc->handler, handler_find("upper"));
	ck_assert_ptr_nonnull(lc->handler);
	ck_assert_str_eq(lc->banner, "Hello there, welcome: have fun!");
	ck_assert_int_eq(lc->has_idle_timeout, 1);
	ck_assert_uint_eq(lc->idle_timeout_ms, 3600000);
	ck_assert_uint_eq(lc->line, 15);

	lc = TAILQ_NEXT(lc, entry);
	ck_assert_ptr_nonnull(lc);
	ck_assert_str_eq(lc->name, "two");
	ck_assert_int_eq(lc->proto, PROTO_UDP);
	ck_assert_str_eq(lc->bind, "*:7101");
	ck_assert_int_eq(lc->wildcard, 1);
	sin6 = (struct sockaddr_in6 *)&lc->addr;
	ck_assert_int_eq(lc->addr.ss_family, AF_INET6);
	ck_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 7101);
	ck_assert_str_eq(lc->handler_name, "chat");
	ck_assert_ptr_eq(lc->handler, handler_find("chat"));
	ck_assert_ptr_null(lc->banner);
	ck_assert_int_eq(lc->has_idle_timeout, 0);
	ck_assert_uint_eq(lc->line, 22);

	lc = TAILQ_NEXT(lc, entry);
	ck_assert_ptr_nonnull(lc);
	ck_assert_str_eq(lc->name, "sock");
	ck_assert_int_eq(lc->proto, PROTO_UNIX);
	ck_assert_str_eq(lc->bind, "/tmp/echochat-test.sock");
	ck_assert_str_eq(lc->handler_name, "echo");
	ck_assert_ptr_eq(lc->handler, handler_find("echo"));
	ck_assert_int_eq(lc->has_idle_timeout, 1);
	ck_assert_uint_eq(lc->idle_timeout_ms, 0);
	ck_assert_uint_eq(lc->line, 27);

	ck_assert_ptr_null(TAILQ_NEXT(lc, entry));
	config_free(c);
}
END_TEST

/* Keys left out keep the built-in values. */
START_TEST(test_partial_file_keeps_defaults)
{
	struct config *c = load_ok(
	    "[server]\n"
	    "max_line = 100\n"
	    LISTENER_OK);

	ck_assert_uint_eq(c->max_line, 100);
	ck_assert_str_eq(c->log, "stderr");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(c->max_clients, 10000);
	ck_assert_uint_eq(c->output_limit, 1024 * 1024);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 2000);
	ck_assert_uint_eq(chat_setting(c, "udp_peer_timeout"), 300000);
	ck_assert_uint_eq(chat_setting(c, "udp_peers_max"), 1000);
	/* Only the file's listeners: the default ones are not added. */
	ck_assert_ptr_nonnull(TAILQ_FIRST(&c->listeners));
	ck_assert_ptr_null(TAILQ_NEXT(TAILQ_FIRST(&c->listeners), entry));
	config_free(c);
}
END_TEST

START_TEST(test_comments)
{
	struct config *c = load_ok(
	    "; a comment\n"
	    "# another comment\n"
	    "\n"
	    "   \n"
	    "[server]\n"
	    ";log = syslog\n"
	    "#max_clients = 1\n"
	    "  ; an indented comment is still a comment\n"
	    "log = syslog ; where to log\n"
	    "max_clients = 77   ; inline comment after spaces\n"
	    "log_level = warn ;\n"
	    "\n"
	    "[listener echo]\n"
	    "proto = tcp ; the protocol\n"
	    "bind = 127.0.0.1:7007 ; loopback\n"
	    "handler = echo ; echo it\n"
	    "banner = hi there ; friendly\n"
	    "; the end\n"
	    "# really\n");

	ck_assert_str_eq(c->log, "syslog");
	ck_assert_uint_eq(c->max_clients, 77);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_WARN);
	ck_assert_str_eq(TAILQ_FIRST(&c->listeners)->banner, "hi there");
	ck_assert_str_eq(TAILQ_FIRST(&c->listeners)->bind, "127.0.0.1:7007");
	config_free(c);
}
END_TEST

/* "banner =" means no banner (and is fine on udp, then). */
START_TEST(test_empty_banner)
{
	struct config *c = load_ok(
	    LISTENER_OK
	    "banner =\n"
	    "[listener u]\n"
	    "proto = udp\n"
	    "bind = 127.0.0.1:7007\n"
	    "handler = echo\n"
	    "banner =\n");

	ck_assert_ptr_null(TAILQ_FIRST(&c->listeners)->banner);
	ck_assert_ptr_null(TAILQ_LAST(&c->listeners,
	    listener_conf_list)->banner);
	config_free(c);
}
END_TEST

/* CRLF line ends and a missing final newline are fine. */
START_TEST(test_crlf_and_no_final_newline)
{
	struct config *c = load_ok(
	    "[server]\r\n"
	    "log = syslog\r\n"
	    "[listener echo]\r\n"
	    "proto = tcp\r\n"
	    "bind = 127.0.0.1:7007\r\n"
	    "handler = echo");

	ck_assert_str_eq(c->log, "syslog");
	ck_assert_str_eq(TAILQ_FIRST(&c->listeners)->handler_name, "echo");
	config_free(c);
}
END_TEST

/* --- Built-in defaults (conf/echochatd.ini). --- */

static void
check_listener(struct listener_conf *lc, const char *name, enum proto proto,
    const char *bind, uint16_t port, const char *handler)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&lc->addr;

	ck_assert_ptr_nonnull(lc);
	ck_assert_str_eq(lc->name, name);
	ck_assert_int_eq(lc->proto, proto);
	ck_assert_str_eq(lc->bind, bind);
	ck_assert_int_eq(lc->addr.ss_family, AF_INET);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	ck_assert_uint_eq(ntohs(sin->sin_port), port);
	ck_assert_int_eq(lc->wildcard, 0);
	ck_assert_str_eq(lc->handler_name, handler);
	ck_assert_ptr_eq(lc->handler, handler_find(handler));
	ck_assert_ptr_nonnull(lc->handler);
	ck_assert_ptr_null(lc->banner);
	ck_assert_int_eq(lc->has_idle_timeout, 0);
}

START_TEST(test_builtin_defaults)
{
	struct config *c;
	struct listener_conf *lc;
	unsigned int nerrors = 99;

	c = config_load(NULL, 1, collect, &nerrors);
	ck_assert_msg(c != NULL, "built-in defaults rejected: %s",
	    nmsgs > 0 ? msgs[0] : "?");
	ck_assert_uint_eq(nerrors, 0);
	ck_assert_uint_eq(nmsgs, 0);
	ck_assert_str_eq(c->file, "(built-in defaults)");

	/* [server], as echochatd.ini(5) gives them */
	ck_assert_str_eq(c->log, "stderr");
	ck_assert_int_eq(c->log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(c->max_clients, 10000);
	ck_assert_uint_eq(c->max_clients_per_ip, 0);
	ck_assert_uint_eq(c->idle_timeout_ms, 0);
	ck_assert_uint_eq(c->max_line, 4096);
	ck_assert_uint_eq(c->output_limit, 1024 * 1024);
	ck_assert_uint_eq(c->shutdown_timeout_ms, 2000);
	/* [chat] */
	ck_assert_uint_eq(chat_setting(c, "udp_peer_timeout"), 5 * 60 * 1000);
	ck_assert_uint_eq(chat_setting(c, "udp_peers_max"), 1000);
	/* The listeners of README "Two commands", in this order and no more. */
	lc = TAILQ_FIRST(&c->listeners);
	check_listener(lc, "echo", PROTO_TCP, "127.0.0.1:7007", 7007, "echo");
	lc = TAILQ_NEXT(lc, entry);
	check_listener(lc, "echo-udp", PROTO_UDP, "127.0.0.1:7007", 7007,
	    "echo");
	lc = TAILQ_NEXT(lc, entry);
	check_listener(lc, "upper", PROTO_TCP, "127.0.0.1:7008", 7008,
	    "upper");
	lc = TAILQ_NEXT(lc, entry);
	check_listener(lc, "chat", PROTO_TCP, "127.0.0.1:7009", 7009, "chat");
	lc = TAILQ_NEXT(lc, entry);
	check_listener(lc, "chat-udp", PROTO_UDP, "127.0.0.1:7009", 7009,
	    "chat");
	ck_assert_ptr_null(TAILQ_NEXT(lc, entry));
	config_free(c);
}
END_TEST

/* config_new_defaults agrees with the built-in file on every setting. */
START_TEST(test_new_defaults_match_builtin)
{
	struct config *a = config_new_defaults(), *b;
	unsigned int nerrors;

	b = config_load(NULL, 1, collect, &nerrors);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(a->log, b->log);
	ck_assert_int_eq(a->log_level, b->log_level);
	ck_assert_uint_eq(a->max_clients, b->max_clients);
	ck_assert_uint_eq(a->max_clients_per_ip, b->max_clients_per_ip);
	ck_assert_uint_eq(a->idle_timeout_ms, b->idle_timeout_ms);
	ck_assert_uint_eq(a->max_line, b->max_line);
	ck_assert_uint_eq(a->output_limit, b->output_limit);
	ck_assert_uint_eq(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
	ck_assert_uint_eq(chat_setting(a, "udp_peer_timeout"), chat_setting(b, "udp_peer_timeout"));
	ck_assert_uint_eq(chat_setting(a, "udp_peers_max"), chat_setting(b, "udp_peers_max"));
	ck_assert(TAILQ_EMPTY(&a->listeners));
	config_free(a);
	config_free(b);
}
END_TEST

/* --- config_print round trips. --- */

/* config_print's output as a string; the caller frees. */
static char *
print_to_string(const struct config *c)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	ck_assert_ptr_nonnull(f);
	config_print(c, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

/* Print c, load that, print again: the two prints must be equal. */
static void
check_round_trip(struct config *c)
{
	char *first, *second, path[PATH_MAX + 32];
	struct config *again;
	unsigned int nerrors;

	first = print_to_string(c);
	snprintf(path, sizeof path, "%s/printed.ini", tmpdir);
	write_file(path, first);
	clear_msgs();
	again = config_load(path, 0, collect, &nerrors);
	ck_assert_msg(again != NULL, "printed config rejected: %s\n%s",
	    nmsgs > 0 ? msgs[0] : "?", first);
	second = print_to_string(again);
	ck_assert_str_eq(second, first);
	free(first);
	free(second);
	config_free(again);
}

START_TEST(test_round_trip_builtin)
{
	struct config *c;
	unsigned int nerrors;
	char *s;

	c = config_load(NULL, 1, collect, &nerrors);
	ck_assert_ptr_nonnull(c);
	check_round_trip(c);
	/* And it says what the defaults are. */
	s = print_to_string(c);
	ck_assert_ptr_nonnull(strstr(s, "[server]\ndaemonize = no\n"
	    "pidfile = \nuser = \nlog = stderr\n"
	    "log_level = info\nmax_clients = 10000\nmax_clients_per_ip = 0\n"
	    "idle_timeout = 0\nmax_line = 4k\noutput_limit = 1m\n"
	    "shutdown_timeout = 2s\nworkers = 1\nline_timeout = 1m\nudp_rate = 100\n"
	    "udp_burst = 200\n"));
	ck_assert_ptr_nonnull(strstr(s, "[chat]\nudp_peer_timeout = 5m\n"
	    "udp_peers_max = 1000\n"));
	ck_assert_ptr_nonnull(strstr(s, "[listener chat-udp]\nproto = udp\n"
	    "bind = 127.0.0.1:7009\nhandler = chat\n"));
	free(s);
	config_free(c);
}
END_TEST

START_TEST(test_round_trip_full)
{
	struct config *c = load_ok(full_ini);
	char *s;

	check_round_trip(c);
	s = print_to_string(c);
	ck_assert_ptr_nonnull(strstr(s, "\n[listener one]\nproto = tcp\n"
	    "bind = [::1]:7100\nhandler = upper\n"
	    "banner = Hello there, welcome: have fun!\n"
	    "idle_timeout = 1h\n"));
	ck_assert_ptr_nonnull(strstr(s, "shutdown_timeout = 500ms\n"));
	ck_assert_ptr_nonnull(strstr(s, "max_line = 8k\n"));
	free(s);
	config_free(c);
}
END_TEST

/*
 * Defaults live in one place: every key -t prints for [server] and the
 * handler sections is given in the built-in file.  A key added to a table but not to conf/echochatd.ini
 * fails here instead of silently defaulting to zero.
 */
START_TEST(test_every_key_has_its_default_in_the_builtin_ini)
{
	struct config *c = config_new_defaults();
	char *out = NULL, *line, *save, want[256];
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);
	int keys = 0;

	config_print(c, f);
	fclose(f);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '[' || line[0] == '\0')
			continue;
		/* The key; its value may be written another way (4096, 4k). */
		line[strcspn(line, " =")] = '\0';
		snprintf(want, sizeof want, "\n%s =", line);
		ck_assert_msg(strstr(default_config_text, want) != NULL,
		    "key %s is not in the built-in configuration", line);
		keys++;
	}
	ck_assert_int_ge(keys, 19);	/* 15 of [server], 4 of [chat] */
	free(out);
	config_free(c);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_unknown_key_server);
	tcase_add_test(tc, test_unknown_key_listener);
	tcase_add_test(tc, test_unknown_key_chat);
	tcase_add_test(tc, test_bad_size);
	tcase_add_test(tc, test_bad_duration);
	tcase_add_test(tc, test_bad_count);
	tcase_add_test(tc, test_bad_log_level);
	tcase_add_test(tc, test_bad_proto);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_range_limits_accepted);
	tcase_add_test(tc, test_duplicate_listener);
	tcase_add_test(tc, test_duplicate_key);
	tcase_add_test(tc, test_duplicate_address);
	tcase_add_test(tc, test_duplicate_address_wildcard);
	tcase_add_test(tc, test_no_clash_allowed);
	tcase_add_test(tc, test_missing_key);
	tcase_add_test(tc, test_unknown_handler);
	tcase_add_test(tc, test_bad_bind);
	tcase_add_test(tc, test_expected_key_value);
	tcase_add_test(tc, test_key_outside_section);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_indented_line);
	tcase_add_test(tc, test_listener_room);
	tcase_add_test(tc, test_tls_keys);
	tcase_add_test(tc, test_ws_origins_needs_websocket);
	tcase_add_test(tc, test_unsupported_section);
	tcase_add_test(tc, test_metrics_bind);
	tcase_add_test(tc, test_banner_udp);
	tcase_add_test(tc, test_idle_timeout_udp);
	tcase_add_test(tc, test_bad_section_header);
	tcase_add_test(tc, test_no_listener);
	tcase_add_test(tc, test_cannot_open);
	tcase_add_test(tc, test_several_errors);
	tcase_add_test(tc, test_bad_proto_hides_nothing_else);
	tcase_add_test(tc, test_unix_same_file_two_spellings);
	tcase_add_test(tc, test_clash_reported_beside_other_errors);
	tcase_add_test(tc, test_ipv4_mapped_refused);
	tcase_add_test(tc, test_bom_ignored);
	tcase_add_test(tc, test_nul_in_line);
	tcase_add_test(tc, test_directory);
	suite_add_tcase(s, tc);

	tc = tcase_create("empty_values");
	tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_required_value);
	tcase_add_test(tc, test_empty_required_value_handler);
	tcase_add_test(tc, test_empty_required_value_unix);
	suite_add_tcase(s, tc);

	tc = tcase_create("any_address");
	tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_duplicate_address_any);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid_file);
	tcase_add_test(tc, test_partial_file_keeps_defaults);
	tcase_add_test(tc, test_comments);
	tcase_add_test(tc, test_empty_banner);
	tcase_add_test(tc, test_crlf_and_no_final_newline);
	tcase_add_test(tc, test_builtin_defaults);
	tcase_add_test(tc, test_new_defaults_match_builtin);
	tcase_add_test(tc, test_every_key_has_its_default_in_the_builtin_ini);
	tcase_add_test(tc, test_round_trip_builtin);
	tcase_add_test(tc, test_round_trip_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
