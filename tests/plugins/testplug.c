/*
 * testplug.c -- plugins for the tests, one per VARIANT_x: the loader's
 * refusals (check_plugin) and a handler that answers much more than it
 * is sent (test_plugins.py).
 *
 *   good       lines: "flood N" is answered with N KiB, anything else
 *              with "good: LINE"; datagrams with "good: DATAGRAM".
 *   settings   good, with [handler settings] keys n (1..10) and word
 *              (refused if "bad"), defaults n = 3, word = hello.
 *   badabi     ABI major 99.
 *   newminor   a minor version newer than this header's.
 *   nosym      no echochat_plugin descriptor.
 *   undef      calls a function echochatd does not have.
 *   badmagic   a descriptor with the wrong magic.
 *   wrongname  its handler is called "other".
 *   nothing    neither input nor datagram.
 */
#include <stdio.h>
#include <string.h>

#include <echochat/plugin.h>

#if defined(VARIANT_undef)
void	echochat_no_such_function(void);
#endif

static void __attribute__((unused))
good_input(struct conn *c, char *line, size_t len)
{
	static const char kib[1024] = { 'x' };
	unsigned int n, i;
	char num[16];

#if defined(VARIANT_undef)
	echochat_no_such_function();
#endif
	/* A line is not NUL-terminated: copy the number out first. */
	if (len > 6 && len - 6 < sizeof num && memcmp(line, "flood ", 6) == 0) {
		memcpy(num, line + 6, len - 6);
		num[len - 6] = '\0';
		if (sscanf(num, "%u", &n) != 1)
			n = 0;
		for (i = 0; i < n; i++)
			conn_send(c, kib, sizeof kib);
		return;
	}
	conn_send(c, "good: ", 6);
	conn_send(c, line, len);
	conn_send(c, "\n", 1);
}

static void __attribute__((unused))
good_datagram(void *state, const struct dgram_src *src, char *data,
    size_t len)
{
	char buf[2048];

	(void)state;
	if (len > sizeof buf - 6)
		len = sizeof buf - 6;
	memcpy(buf, "good: ", 6);
	memcpy(buf + 6, data, len);
	dgram_reply(src, buf, len + 6);
}

#if defined(VARIANT_settings)
static void
settings_check(const struct hsettings *hs)
{
	if (strcmp(hsettings_get_string(hs, "word"), "bad") == 0)
		hsettings_error(hs, "word", "\"bad\" is not a good word");
}

static const struct hsetting_def settings_keys[] = {
	{ "n", HSETTING_COUNT, 1, 10 },
	{ "word", HSETTING_STRING, 0, 0 },
	{ NULL, 0, 0, 0 }
};
#endif

static const struct handler test_handler = {
#if defined(VARIANT_wrongname)
	.name = "other",
#elif defined(VARIANT_settings)
	.name = "settings",
	.settings = settings_keys,
	.defaults = "n = 3\nword = hello\n",
	.check = settings_check,
#elif defined(VARIANT_nothing)
	.name = "nothing",
#else
	.name = "good",
#endif
	.framing = FRAMING_LINES,
#if !defined(VARIANT_nothing)
	.input = good_input,
	.datagram = good_datagram,
#endif
};

#if defined(VARIANT_nosym)
/* Something, so that the object is not empty; but no descriptor. */
const struct handler *test_handler_p = &test_handler;
#elif defined(VARIANT_badabi) || defined(VARIANT_newminor) || \
    defined(VARIANT_badmagic)
__attribute__((visibility("default")))
const struct echochat_plugin echochat_plugin = {
#if defined(VARIANT_badmagic)
	0x12345678u,
#else
	ECHOCHAT_PLUGIN_MAGIC,
#endif
#if defined(VARIANT_badabi)
	99, 0,
#elif defined(VARIANT_newminor)
	ECHOCHAT_PLUGIN_ABI_MAJOR, ECHOCHAT_PLUGIN_ABI_MINOR + 1,
#else
	ECHOCHAT_PLUGIN_ABI_MAJOR, ECHOCHAT_PLUGIN_ABI_MINOR,
#endif
	sizeof (struct echochat_plugin), sizeof (struct handler),
	sizeof (struct hsetting_def), "0", &test_handler
};
#else
ECHOCHAT_PLUGIN(test_handler, "0.1");
#endif
