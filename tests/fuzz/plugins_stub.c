/*
 * plugins_stub.c -- the plugin loader as the config fuzzer sees it: no
 * dlopen (a fuzzer must not load whatever file an input names), but one
 * plugin, "fuzzplug", with a string and a number key, defaults and a
 * check, so that [handler NAME] sections and plugin settings are fuzzed
 * along with the rest.  Every other name is refused as missing.
 */
#include <stdio.h>
#include <string.h>

#include "plugins.h"
#include "xmalloc.h"

static void
fuzzplug_input(struct conn *c, char *data, size_t len)
{
	(void)c;
	(void)data;
	(void)len;
}

static void
fuzzplug_check(const struct hsettings *hs)
{
	if (strchr(hsettings_get_string(hs, "word"), 'x') != NULL)
		hsettings_error(hs, "word", "no x, please");
	if (hsettings_get(hs, "n") == 7)
		hsettings_error(hs, NULL, "not 7");
}

static const struct hsetting_def fuzzplug_keys[] = {
	{ "word", HSETTING_STRING, 0, 0 },
	{ "n", HSETTING_COUNT, 0, 100 },
	{ "wait", HSETTING_DURATION, 0, 60000 },
	{ NULL, 0, 0, 0 }
};

static const struct handler fuzzplug = {
	.name = "fuzzplug",
	.framing = FRAMING_LINES,
	.section = "handler fuzzplug",
	.settings = fuzzplug_keys,
	.defaults = "word = hello\nn = 1\n",
	.check = fuzzplug_check,
	.input = fuzzplug_input,
};

const struct handler *
plugin_load(const char *dir, const char *name, char **cause)
{
	if (strcmp(name, "fuzzplug") == 0)
		return &fuzzplug;
	xasprintf(cause, "%s/%s.so: No such file or directory", dir, name);
	return NULL;
}

const char *
plugin_version(const struct handler *h)
{
	return h == &fuzzplug ? "1.0" : NULL;
}

const char *
plugin_path(const struct handler *h)
{
	return h == &fuzzplug ? "/fuzz/fuzzplug.so" : NULL;
}

int
plugin_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}
