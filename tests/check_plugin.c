/*
 * check_plugin.c -- unit tests for plugin loading (plugins.c) and plugin
 * settings (config.c): every way a plugin can be refused is a
 * configuration error at the line of the listener's handler key (or of
 * the [handler NAME] section) with the reason, and a plugin's own
 * settings are read on top of its defaults, checked by the plugin, and
 * every error reported at its own line.
 *
 * The plugins are tests/plugins/VARIANT.so, built from
 * tests/plugins/testplug.c (TEST_PLUGIN_DIR); files that are not plugins
 * at all are written at run time into a private directory.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "config.h"
#include "plugins.h"

#define MAX_MSGS	32

static char	 tmpdir[PATH_MAX];
static char	 ini_path[PATH_MAX + 16];
static char	*msgs[MAX_MSGS];
static unsigned int nmsgs;

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

static void
setup(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/check_plugin.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(ini_path, sizeof ini_path, "%s/test.ini", tmpdir);
	nmsgs = 0;
}

static void
teardown(void)
{
	struct dirent *de;
	char p[PATH_MAX + 300];
	DIR *d;

	clear_msgs();
	if ((d = opendir(tmpdir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
			if (de->d_name[0] != '.')
				unlink(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
}

static void
write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * Load "[plugins] dir = DIR" followed by body (whose first line is thus
 * line 3).  Messages are collected.
 */
static struct config *
load(const char *dir, const char *body, unsigned int *nerrors)
{
	char *text;
	struct config *c;

	ck_assert_int_ne(asprintf(&text, "[plugins]\ndir = %s\n%s", dir,
	    body), -1);
	write_bytes(ini_path, text, strlen(text));
	free(text);
	clear_msgs();
	c = config_load(ini_path, 0, collect, nerrors);
	return c;
}

/* A tcp listener on line 3 whose handler key is line 6. */
static char *
listener_with(const char *handler)
{
	char *s;

	ck_assert_int_ne(asprintf(&s, "[listener a]\nproto = tcp\n"
	    "bind = 127.0.0.1:0\nhandler = %s\n", handler), -1);
	return s;
}

/* Message i is "ini_path:line: " followed by text containing want. */
static void
check_msg(unsigned int i, unsigned int line, const char *want)
{
	char prefix[PATH_MAX + 64];

	ck_assert_uint_lt(i, nmsgs);
	snprintf(prefix, sizeof prefix, "%s:%u: ", ini_path, line);
	ck_assert_msg(strncmp(msgs[i], prefix, strlen(prefix)) == 0,
	    "message %u: \"%s\" is not at line %u", i, msgs[i], line);
	ck_assert_msg(strstr(msgs[i], want) != NULL,
	    "message %u: \"%s\" does not say \"%s\"", i, msgs[i], want);
}

/* handler = name from the test plugins is refused with reason. */
static void
expect_refused(const char *name, const char *reason)
{
	unsigned int nerrors;
	char *body = listener_with(name);
	struct config *c = load(TEST_PLUGIN_DIR, body, &nerrors);

	free(body);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(nerrors, 1);
	ck_assert_uint_eq(nmsgs, 1);
	check_msg(0, 6, "[listener a]: unknown handler");
	check_msg(0, 6, reason);
}

START_TEST(test_good_plugin_loads)
{
	unsigned int nerrors;
	char *body = listener_with("good"), *out = NULL;
	struct config *c = load(TEST_PLUGIN_DIR, body, &nerrors);
	const struct listener_conf *lc;
	size_t size = 0;
	FILE *f;

	free(body);
	ck_assert_msg(c != NULL, "refused: %s", nmsgs ? msgs[0] : "?");
	lc = TAILQ_FIRST(&c->listeners);
	ck_assert_str_eq(lc->handler->name, "good");
	ck_assert_int_eq(lc->handler->framing, FRAMING_LINES);
	ck_assert_str_eq(plugin_version(lc->handler), "0.1");
	ck_assert_ptr_null(plugin_version(handler_find("echo")));
	/* -t lists it with its version. */
	f = open_memstream(&out, &size);
	config_print(c, f);
	fclose(f);
	ck_assert_msg(strstr(out, "; plugin good 0.1 loaded from "
	    TEST_PLUGIN_DIR "/good.so\n") != NULL, "-t says:\n%s", out);
	free(out);
	config_free(c);
}
END_TEST

START_TEST(test_same_file_same_plugin)
{
	char *cause = NULL;
	const struct handler *a = plugin_load(TEST_PLUGIN_DIR, "good", &cause);
	const struct handler *b = plugin_load(TEST_PLUGIN_DIR, "good", &cause);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(a, b);
}
END_TEST

START_TEST(test_wrong_abi_major)
{
	expect_refused("badabi", "badabi.so: built for plugin ABI 99.0; "
	    "this echochatd has 1.0");
}
END_TEST

START_TEST(test_newer_abi_minor)
{
	expect_refused("newminor", "newminor.so: built for plugin ABI 1.1");
}
END_TEST

START_TEST(test_not_a_plugin)
{
	expect_refused("nosym", "nosym.so: not an echochat plugin (no symbol "
	    "echochat_plugin)");
}
END_TEST

START_TEST(test_bad_magic)
{
	expect_refused("badmagic", "is not an echochat plugin descriptor");
}
END_TEST

START_TEST(test_missing_symbol)
{
	expect_refused("undef", "undefined symbol: echochat_no_such_function");
}
END_TEST

START_TEST(test_wrong_name)
{
	expect_refused("wrongname", "its handler is called \"other\", not "
	    "\"wrongname\"");
}
END_TEST

START_TEST(test_serves_nothing)
{
	expect_refused("nothing", "neither input nor datagram");
}
END_TEST

START_TEST(test_missing_file)
{
	expect_refused("absent", "absent.so: No such file or directory");
}
END_TEST

START_TEST(test_bad_name)
{
	expect_refused("../good", "\"../good\" is not a plugin name");
}
END_TEST

/* Files that are no shared object at all, or half of one. */
START_TEST(test_not_elf_and_truncated)
{
	char path[PATH_MAX + 32], good[PATH_MAX];
	unsigned int nerrors;
	char *buf, *body;
	long len;
	FILE *f;

	snprintf(path, sizeof path, "%s/text.so", tmpdir);
	write_bytes(path, "this is not ELF\n", 16);
	body = listener_with("text");
	ck_assert_ptr_null(load(tmpdir, body, &nerrors));
	free(body);
	check_msg(0, 6, "text.so");
	snprintf(good, sizeof good, "%s/good.so", TEST_PLUGIN_DIR);
	ck_assert_ptr_nonnull(f = fopen(good, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc((size_t)len);
	ck_assert_int_eq(fread(buf, 1, (size_t)len, f), len);
	fclose(f);
	snprintf(path, sizeof path, "%s/trunc.so", tmpdir);
	write_bytes(path, buf, (size_t)len / 3);
	free(buf);
	body = listener_with("trunc");
	ck_assert_ptr_null(load(tmpdir, body, &nerrors));
	free(body);
	ck_assert_uint_eq(nerrors, 1);
	check_msg(0, 6, "trunc.so");
	snprintf(path, sizeof path, "%s/empty.so", tmpdir);
	write_bytes(path, "", 0);
	body = listener_with("empty");
	ck_assert_ptr_null(load(tmpdir, body, &nerrors));
	free(body);
	check_msg(0, 6, "empty.so");
}
END_TEST

START_TEST(test_settings_defaults_and_values)
{
	unsigned int nerrors;
	char *body = listener_with("settings"), *all;
	struct config *c;
	const struct hsettings *hs;

	c = load(TEST_PLUGIN_DIR, body, &nerrors);
	ck_assert_msg(c != NULL, "refused: %s", nmsgs ? msgs[0] : "?");
	TAILQ_FOREACH(hs, &c->handler_settings, entry) {
		if (strcmp(hs->handler->name, "settings") == 0)
			break;
	}
	ck_assert_ptr_nonnull(hs);
	ck_assert_uint_eq(hsettings_get(hs, "n"), 3);
	ck_assert_str_eq(hsettings_get_string(hs, "word"), "hello");
	config_free(c);
	ck_assert_int_ne(asprintf(&all, "%s[handler settings]\nn = 7\n"
	    "word = fine words\n", body), -1);
	c = load(TEST_PLUGIN_DIR, all, &nerrors);
	free(all);
	ck_assert_msg(c != NULL, "refused: %s", nmsgs ? msgs[0] : "?");
	TAILQ_FOREACH(hs, &c->handler_settings, entry) {
		if (strcmp(hs->handler->name, "settings") == 0)
			break;
	}
	ck_assert_uint_eq(hsettings_get(hs, "n"), 7);
	ck_assert_str_eq(hsettings_get_string(hs, "word"), "fine words");
	config_free(c);
	free(body);
}
END_TEST

/* Every error of a plugin's section, each at its own line. */
START_TEST(test_settings_errors_with_lines)
{
	unsigned int nerrors;
	struct config *c;

	c = load(TEST_PLUGIN_DIR,
	    "[handler settings]\n"		/* 3 */
	    "n = 11\n"				/* 4 */
	    "colour = red\n"			/* 5 */
	    "n = 2\n"				/* 6 */
	    "[listener a]\n"			/* 7 */
	    "proto = tcp\n"
	    "bind = 127.0.0.1:0\n"
	    "handler = settings\n",		/* 10 */
	    &nerrors);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(nerrors, 3);
	check_msg(0, 4, "n = 11 is out of range (1 to 10)");
	check_msg(1, 5, "unknown key \"colour\" in [handler settings]");
	check_msg(2, 6, "duplicate key \"n\" in [handler settings]");
}
END_TEST

/* The plugin's own check, at the line of the key it names. */
START_TEST(test_settings_refused_by_plugin)
{
	unsigned int nerrors;
	struct config *c;

	c = load(TEST_PLUGIN_DIR,
	    "[handler settings]\n"		/* 3 */
	    "n = 4\n"				/* 4 */
	    "word = bad\n"			/* 5 */
	    "[listener a]\n"
	    "proto = tcp\n"
	    "bind = 127.0.0.1:0\n"
	    "handler = echo\n",
	    &nerrors);
	ck_assert_ptr_null(c);
	/* No listener uses it: loaded for its section all the same. */
	ck_assert_uint_eq(nerrors, 1);
	check_msg(0, 5, "[handler settings]: word: \"bad\" is not a good word");
}
END_TEST

START_TEST(test_handler_section_problems)
{
	unsigned int nerrors;
	struct config *c;

	c = load(TEST_PLUGIN_DIR,
	    "[handler echo]\n"			/* 3 */
	    "[handler absent]\n"		/* 4 */
	    "[handler good]\n"			/* 5 */
	    "x = 1\n"				/* 6 */
	    "[handler good]\n"			/* 7 */
	    "[listener a]\n"			/* 8 */
	    "proto = udp\n"
	    "bind = 127.0.0.1:0\n"
	    "handler = good\n",			/* 11 */
	    &nerrors);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(nerrors, 4);
	check_msg(0, 3, "[handler echo]: echo is built in");
	check_msg(1, 7, "duplicate section [handler good] (first at line 5)");
	check_msg(2, 6, "unknown key \"x\" in [handler good]");
	check_msg(3, 4, "[handler absent]: no plugin: ");
}
END_TEST

static Suite *
plugin_suite(void)
{
	Suite *s = suite_create("plugin");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_plugin_loads);
	tcase_add_test(tc, test_same_file_same_plugin);
	tcase_add_test(tc, test_wrong_abi_major);
	tcase_add_test(tc, test_newer_abi_minor);
	tcase_add_test(tc, test_not_a_plugin);
	tcase_add_test(tc, test_bad_magic);
	tcase_add_test(tc, test_missing_symbol);
	tcase_add_test(tc, test_wrong_name);
	tcase_add_test(tc, test_serves_nothing);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_bad_name);
	tcase_add_test(tc, test_not_elf_and_truncated);
	suite_add_tcase(s, tc);
	tc = tcase_create("settings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_settings_defaults_and_values);
	tcase_add_test(tc, test_settings_errors_with_lines);
	tcase_add_test(tc, test_settings_refused_by_plugin);
	tcase_add_test(tc, test_handler_section_problems);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(plugin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
