/*
 * config.c -- the INI file (echochatd.ini(5)) into a struct config,
 * strictly.
 *
 * inih does the tokenising; a counting reader in front of it knows the
 * line number of everything inih hands over, takes section headers itself
 * (inih does not report empty sections) and turns away lines inih would
 * misread (over-long or indented continuation lines), so that every error
 * is reported with its own line and loading goes on to find the next one.
 * Nothing half-loaded is ever returned: any error means NULL.
 *
 * Defaults live in one place: the built-in configuration, which is
 * conf/echochatd.ini compiled in.  Every file is loaded on top of its
 * [server] and handler sections, and the printed settings are walked off
 * the same key tables that parse them.  A handler's own section ([chat])
 * is parsed with the key table the handler declares.
 *
 * A handler that is not built in is a plugin (plugins.c), loaded once the
 * whole file is read and [plugins] dir is known.  Its [handler NAME]
 * section is kept as read until then, and parsed on top of the plugin's
 * own defaults with the plugin's key table; then the plugin checks it.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "cluster.h"
#include "config.h"
#include "loop.h"
#include "parse.h"
#include "tls.h"
#include "ws.h"
#include "plugins.h"
#include "xmalloc.h"

/* inih's line buffer (INI_MAX_LINE) holds this much text plus LF and NUL. */
#define CONFIG_MAX_LINE		198
#define SUN_PATH_MAX		107

#ifndef PLUGINDIR
#define PLUGINDIR		"/usr/local/lib/echochat/plugins"
#endif

enum section_kind { SECTION_NONE, SECTION_SERVER, SECTION_LISTENER,
	SECTION_HANDLER, SECTION_PLUGINS, SECTION_PENDING, SECTION_METRICS,
	SECTION_SKIP, SECTION_BAD, SECTION_CLUSTER };

/* A key of a [handler NAME] section, kept until the plugin is loaded. */
struct pending_key {
	char			*key, *value;
	unsigned int		 line;
	TAILQ_ENTRY(pending_key) entry;
};

/* A [handler NAME] section as read. */
struct pending_section {
	char				*name;
	unsigned int			 line;
	TAILQ_HEAD(, pending_key)	 keys;
	TAILQ_ENTRY(pending_section)	 entry;
};
TAILQ_HEAD(pending_list, pending_section);

struct load_ctx {
	struct config		*config;
	void			(*report)(const char *);
	FILE			*file;		/* or text */
	const char		*text;
	char			*buf;
	size_t			 bufsize;
	unsigned int		 line;
	unsigned int		 errors;
	enum section_kind	 section;
	struct listener_conf	*listener;	/* current [listener] */
	struct hsettings	*hsettings;	/* current handler section */
	struct pending_section	*pending;	/* current [handler NAME] */
	struct pending_list	 pendings;
	const char		*defaults_of;	/* a plugin's defaults text */
	unsigned int		 server_seen;
	unsigned int		 plugins_seen;
	unsigned int		 metrics_seen;
	unsigned int		 cluster_seen;
	int			 defaults_only;	/* no listeners, please */
	int			 read_errno;	/* the file could not be read */
};

/* How a key's value is read and where it goes. */
enum key_type { KEY_SIZE, KEY_DURATION, KEY_COUNT, KEY_STRING,
	KEY_OPTIONAL,	/* a string where empty means none */
	KEY_BOOL, KEY_LEVEL, KEY_PROTO, KEY_HANDLER, KEY_LATER };

struct key_def {
	const char	*name;
	enum key_type	 type;
	size_t		 offset;	/* into struct config or listener_conf */
	uint64_t	 min, max;	/* for numbers */
};

static char	*read_line(char *, int, void *);
static int	 handle_key(void *, const char *, const char *, const char *);
static int	 parse_unix_key(struct load_ctx *, struct listener_conf *,
		    const char *, const char *);

#define CFG(field)	offsetof(struct config, field)
#define LST(field)	offsetof(struct listener_conf, field)
#define NOLIMIT		UINT64_MAX

static const struct key_def server_keys[] = {
	{ "daemonize", KEY_BOOL, CFG(daemonize), 0, 0 },
	{ "pidfile", KEY_OPTIONAL, CFG(pidfile), 0, 0 },
	{ "user", KEY_OPTIONAL, CFG(user), 0, 0 },
	{ "log", KEY_STRING, CFG(log), 0, 0 },
	{ "log_level", KEY_LEVEL, CFG(log_level), 0, 0 },
	{ "max_clients", KEY_COUNT, CFG(max_clients), 1, 10000000 },
	{ "max_clients_per_ip", KEY_COUNT, CFG(max_clients_per_ip), 0,
	    10000000 },
	{ "idle_timeout", KEY_DURATION, CFG(idle_timeout_ms), 0, NOLIMIT },
	{ "max_line", KEY_SIZE, CFG(max_line), 1, 1024 * 1024 },
	{ "output_limit", KEY_SIZE, CFG(output_limit), 1024,
	    (uint64_t)1 << 32 },
	{ "shutdown_timeout", KEY_DURATION, CFG(shutdown_timeout_ms), 0,
	    NOLIMIT },
	{ "workers", KEY_COUNT, CFG(workers), 0, WORKERS_MAX },
	{ "line_timeout", KEY_DURATION, CFG(line_timeout_ms), 0, NOLIMIT },
	{ "udp_rate", KEY_COUNT, CFG(udp_rate), 0, 1000000 },
	{ "udp_burst", KEY_COUNT, CFG(udp_burst), 1, 1000000 },
	{ "tls_handshake_timeout", KEY_DURATION, CFG(tls_handshake_timeout_ms),
	    1, NOLIMIT },
	{ NULL, 0, 0, 0, 0 }
};

static const struct key_def metrics_keys[] = {
	{ "bind", KEY_OPTIONAL, CFG(metrics_bind), 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

static const struct key_def cluster_keys[] = {
	{ "redis", KEY_OPTIONAL, CFG(cluster_redis), 0, 0 },
	{ "channel", KEY_STRING, CFG(cluster_channel), 0, 0 },
	{ "node", KEY_OPTIONAL, CFG(cluster_node), 0, 0 },
	{ "password", KEY_OPTIONAL, CFG(cluster_password), 0, 0 },
	{ "node_timeout", KEY_DURATION, CFG(cluster_node_timeout_ms), 1000,
	    3600 * 1000 },
	{ NULL, 0, 0, 0, 0 }
};

static const struct key_def listener_keys[] = {
	{ "proto", KEY_PROTO, LST(proto), 0, 0 },
	{ "bind", KEY_STRING, LST(bind), 0, 0 },
	{ "handler", KEY_HANDLER, LST(handler_name), 0, 0 },
	{ "banner", KEY_OPTIONAL, LST(banner), 0, 0 },
	{ "idle_timeout", KEY_DURATION, LST(idle_timeout_ms), 0, NOLIMIT },
	{ "room", KEY_STRING, LST(room), 0, 0 },
	{ "mode", KEY_OPTIONAL, LST(mode), 0, 0 },
	{ "owner", KEY_OPTIONAL, LST(owner), 0, 0 },
	{ "group", KEY_OPTIONAL, LST(group), 0, 0 },
	{ "tls_cert", KEY_OPTIONAL, LST(tls_cert), 0, 0 },
	{ "tls_key", KEY_OPTIONAL, LST(tls_key), 0, 0 },
	{ "tls_ca", KEY_OPTIONAL, LST(tls_ca), 0, 0 },
	{ "tls_verify", KEY_BOOL, LST(tls_verify), 0, 0 },
	{ "websocket", KEY_BOOL, LST(websocket), 0, 0 },
	{ "ws_origins", KEY_OPTIONAL, LST(ws_origins), 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

static const struct key_def plugins_keys[] = {
	{ "dir", KEY_OPTIONAL, CFG(plugin_dir), 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

/* Keys of handler sections that a later version of echochatd reads. */
static const struct { const char *section, *key; } later_keys[] = {
	{ NULL, NULL }
};

/* Sections of features this version does not have yet. */
static const char *later_sections[] = { NULL };

static const char *proto_names[] = { "tcp", "udp", "unix" };

/* Report "file:line: message" and count it. */
static void __attribute__((format(printf, 3, 4)))
config_error(struct load_ctx *ctx, unsigned int line, const char *fmt, ...)
{
	char *msg, *full;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (ctx->defaults_of != NULL)
		xasprintf(&full, "%s:%u: handler %s: its own defaults: %s",
		    ctx->config->file, line, ctx->defaults_of, msg ? msg : fmt);
	else if (line != 0)
		xasprintf(&full, "%s:%u: %s", ctx->config->file, line,
		    msg ? msg : fmt);
	else
		xasprintf(&full, "%s: %s", ctx->config->file, msg ? msg : fmt);
	ctx->report(full);
	free(full);
	free(msg);
	ctx->errors++;
}

/*
 * Relative paths in a configuration (log, pidfile, unix binds) mean the
 * directory echochatd was started in, even after a daemon's chdir("/")
 * and on every reload.
 */
static char *base_dir;

void
config_set_base_dir(const char *dir)
{
	free(base_dir);
	base_dir = dir != NULL ? xstrdup(dir) : NULL;
}

/* Make *path absolute against base_dir, in place. */
static void
absolutize(char **path)
{
	char *abs;

	if (*path == NULL || (*path)[0] == '/' || base_dir == NULL)
		return;
	xasprintf(&abs, "%s/%s", base_dir, *path);
	free(*path);
	*path = abs;
}

/* An empty configuration: no values yet, one section per handler. */
static struct config *
config_new_empty(void)
{
	struct config *c = xcalloc(1, sizeof *c);
	const struct handler *h;
	struct hsettings *hs;
	int i;

	c->file = xstrdup("(defaults)");
	c->cluster_channel = xstrdup("echochat");
	c->cluster_node_timeout_ms = 15000;
	TAILQ_INIT(&c->listeners);
	TAILQ_INIT(&c->handler_settings);
	for (i = 0; (h = handler_at(i)) != NULL; i++) {
		if (h->section == NULL)
			continue;
		hs = xcalloc(1, sizeof *hs);
		hs->handler = h;
		hs->listeners = &c->listeners;
		TAILQ_INSERT_TAIL(&c->handler_settings, hs, entry);
	}
	return c;
}

static void
ignore_report(const char *msg)
{
	(void)msg;
}

/* Forget which keys were given: the defaults are given by no one. */
static void
config_forget_seen(struct config *c)
{
	struct hsettings *hs;

	TAILQ_FOREACH(hs, &c->handler_settings, entry)
		hs->seen = 0;
}

/*
 * The built-in defaults without their listeners: what every file is
 * loaded on top of.
 */
struct config *
config_new_defaults(void)
{
	struct config *c = config_new_empty();
	struct load_ctx ctx;

	memset(&ctx, 0, sizeof ctx);
	ctx.config = c;
	TAILQ_INIT(&ctx.pendings);
	ctx.text = default_config_text;
	ctx.defaults_only = 1;
	ctx.report = ignore_report;
	if (ini_parse_stream(read_line, &ctx, handle_key, &ctx) != 0 ||
	    ctx.errors != 0)
		abort();	/* the built-in file is tested: cannot happen */
	free(ctx.buf);
	config_forget_seen(c);
	return c;
}

/* Free a configuration and its listeners. */
void
config_free(struct config *c)
{
	struct listener_conf *lc;
	struct hsettings *hs;

	if (c == NULL)
		return;
	while ((lc = TAILQ_FIRST(&c->listeners)) != NULL) {
		TAILQ_REMOVE(&c->listeners, lc, entry);
		listener_conf_free(lc);
	}
	while ((hs = TAILQ_FIRST(&c->handler_settings)) != NULL) {
		TAILQ_REMOVE(&c->handler_settings, hs, entry);
		hsettings_free(hs);
	}
	free(c->plugin_dir);
	if (c->metrics != NULL)
		listener_conf_free(c->metrics);
	free(c->metrics_bind);
	free(c->cluster_redis);
	free(c->cluster_channel);
	free(c->cluster_node);
	free(c->cluster_password);
	free(c->file);
	free(c->log);
	free(c->pidfile);
	free(c->user);
	free(c);
}

/* Is this a usable listener name: one word of printable characters? */
static int
valid_listener_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isgraph((unsigned char)*s))
			return 0;
	}
	return 1;
}

/* A "[listener NAME]" header. */
static void
begin_listener(struct load_ctx *ctx, const char *name)
{
	struct listener_conf *lc;

	while (*name == ' ' || *name == '\t')
		name++;
	if (ctx->defaults_only) {
		ctx->section = SECTION_SKIP;
		return;
	}
	if (!valid_listener_name(name)) {
		config_error(ctx, ctx->line, "bad listener name \"%s\" "
		    "(one word, e.g. [listener echo])", name);
		ctx->section = SECTION_BAD;
		return;
	}
	TAILQ_FOREACH(lc, &ctx->config->listeners, entry) {
		if (strcmp(lc->name, name) == 0) {
			config_error(ctx, ctx->line, "duplicate listener "
			    "\"%s\" (first defined at line %u)", name,
			    lc->line);
			ctx->section = SECTION_BAD;
			return;
		}
	}
	lc = xcalloc(1, sizeof *lc);
	lc->unix_mode = -1;
	lc->unix_uid = lc->unix_gid = -1;
	lc->name = xstrdup(name);
	lc->line = ctx->line;
	TAILQ_INSERT_TAIL(&ctx->config->listeners, lc, entry);
	ctx->listener = lc;
	ctx->section = SECTION_LISTENER;
}

/* A "[handler NAME]" header: keep its keys until the plugin is loaded. */
static void
begin_pending(struct load_ctx *ctx, const char *name)
{
	struct pending_section *ps;

	while (*name == ' ' || *name == '\t')
		name++;
	ctx->section = SECTION_BAD;
	if (handler_find(name) != NULL) {
		config_error(ctx, ctx->line, "[handler %s]: %s is built in; "
		    "[handler NAME] is for plugins", name, name);
		return;
	}
	if (!plugin_name_ok(name)) {
		config_error(ctx, ctx->line, "bad plugin name \"%s\" (letters, "
		    "digits, _ and -)", name);
		return;
	}
	TAILQ_FOREACH(ps, &ctx->pendings, entry) {
		if (strcmp(ps->name, name) == 0) {
			config_error(ctx, ctx->line, "duplicate section "
			    "[handler %s] (first at line %u)", name, ps->line);
			return;
		}
	}
	ps = xcalloc(1, sizeof *ps);
	ps->name = xstrdup(name);
	ps->line = ctx->line;
	TAILQ_INIT(&ps->keys);
	TAILQ_INSERT_TAIL(&ctx->pendings, ps, entry);
	ctx->pending = ps;
	ctx->section = SECTION_PENDING;
}

/* A section header line: decide what the following keys belong to. */
static void
begin_section(struct load_ctx *ctx, char *name)
{
	size_t i;

	ctx->listener = NULL;
	ctx->hsettings = NULL;
	ctx->pending = NULL;
	if (strcmp(name, "server") == 0) {
		ctx->section = SECTION_SERVER;
		return;
	}
	if (strcmp(name, "plugins") == 0) {
		ctx->section = SECTION_PLUGINS;
		return;
	}
	if (strncmp(name, "handler", 7) == 0 &&
	    (name[7] == ' ' || name[7] == '\t')) {
		begin_pending(ctx, name + 7);
		return;
	}
	if (strcmp(name, "metrics") == 0) {
		ctx->section = SECTION_METRICS;
		return;
	}
	if (strcmp(name, "cluster") == 0) {
		ctx->section = SECTION_CLUSTER;
		return;
	}
	TAILQ_FOREACH(ctx->hsettings, &ctx->config->handler_settings, entry) {
		if (plugin_version(ctx->hsettings->handler) == NULL &&
		    strcmp(name, ctx->hsettings->handler->section) == 0) {
			ctx->section = SECTION_HANDLER;
			return;
		}
	}
	if (strncmp(name, "listener", 8) == 0 &&
	    (name[8] == ' ' || name[8] == '\t' || name[8] == '\0')) {
		begin_listener(ctx, name + 8);
		return;
	}
	ctx->section = SECTION_BAD;
	for (i = 0; later_sections[i] != NULL; i++) {
		if (strcmp(name, later_sections[i]) == 0) {
			config_error(ctx, ctx->line, "section [%s] is not "
			    "supported by this version of echochatd", name);
			return;
		}
	}
	config_error(ctx, ctx->line, "unknown section [%s]", name);
}

/* Trim spaces at both ends, in place. */
static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Nothing but an optional comment? */
static int
ignorable(const char *rest)
{
	return *rest == '\0' || *rest == ';' || *rest == '#';
}

/*
 * Look at a raw line before inih does.  Returns the line for inih, or an
 * empty line when this function has handled (or rejected) it.
 */
static char *
screen_line(struct load_ctx *ctx, char *line, size_t len)
{
	char *t, *close;

	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len > CONFIG_MAX_LINE) {
		config_error(ctx, ctx->line, "line too long (max %d "
		    "characters)", CONFIG_MAX_LINE);
		return NULL;
	}
	t = trim(line);
	if (*t == '\0' || *t == ';' || *t == '#')
		return NULL;
	if (t != line) {
		config_error(ctx, ctx->line, "indented line (continuation "
		    "lines are not supported)");
		return NULL;
	}
	if (*t == '[') {
		if ((close = strchr(t, ']')) == NULL ||
		    !ignorable(trim(close + 1))) {
			config_error(ctx, ctx->line, "bad section header "
			    "(expected [name])");
			ctx->section = SECTION_BAD;
			return NULL;
		}
		*close = '\0';
		begin_section(ctx, trim(t + 1));
		return NULL;
	}
	if (strchr(t, '=') == NULL) {
		config_error(ctx, ctx->line, "expected key = value");
		return NULL;
	}
	if (ctx->section == SECTION_NONE) {
		config_error(ctx, ctx->line, "key outside any section");
		return NULL;
	}
	return t;
}

/* inih's reader: hand over one screened line at a time, counting them. */
static char *
read_line(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;
	ssize_t n;
	char *ok;

	for (;;) {
		if (ctx->file != NULL) {
			errno = 0;
			if ((n = getline(&ctx->buf, &ctx->bufsize,
			    ctx->file)) == -1) {
				if (ferror(ctx->file))
					ctx->read_errno = errno ? errno : EIO;
				return NULL;
			}
		} else {
			const char *nl;
			if (*ctx->text == '\0')
				return NULL;
			nl = strchr(ctx->text, '\n');
			n = nl ? nl - ctx->text + 1 : (ssize_t)strlen(ctx->text);
			if ((size_t)n + 1 > ctx->bufsize) {
				ctx->bufsize = (size_t)n + 1;
				ctx->buf = xrealloc(ctx->buf, ctx->bufsize);
			}
			memcpy(ctx->buf, ctx->text, (size_t)n);
			ctx->buf[n] = '\0';
			ctx->text += n;
		}
		ctx->line++;
		if (ctx->line == 1 && n >= 3 &&
		    memcmp(ctx->buf, "\xef\xbb\xbf", 3) == 0) {
			/* A UTF-8 byte order mark, as some editors write. */
			memmove(ctx->buf, ctx->buf + 3, (size_t)n - 2);
			n -= 3;
		}
		if (memchr(ctx->buf, '\0', (size_t)n) != NULL)
			config_error(ctx, ctx->line, "NUL byte in the line");
		else if ((ok = screen_line(ctx, ctx->buf, (size_t)n)) != NULL)
			break;
		/* inih counts lines too; keep its count in step. */
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	snprintf(str, (size_t)num, "%s\n", ok);
	return str;
}

/* Find a key in a table. */
static const struct key_def *
find_key(const struct key_def *table, const char *name, unsigned int *index)
{
	unsigned int i;

	for (i = 0; table[i].name != NULL; i++) {
		if (strcmp(table[i].name, name) == 0) {
			*index = i;
			return &table[i];
		}
	}
	return NULL;
}

/* A bound of a key's range, written the way the key is written. */
static char *
format_limit(const struct key_def *k, uint64_t v)
{
	char *s;

	if (k->type == KEY_DURATION)
		return format_duration(v);
	if (k->type == KEY_SIZE)
		return format_size(v);
	xasprintf(&s, "%llu", (unsigned long long)v);
	return s;
}

/* Store a number after its range check. */
static int
store_number(struct load_ctx *ctx, const struct key_def *k, const char *value,
    void *base)
{
	uint64_t v;
	int r;
	const char *what;

	switch (k->type) {
	case KEY_SIZE:
		r = parse_size(value, &v);
		what = "a size (e.g. 4096, 64k, 1m)";
		break;
	case KEY_DURATION:
		r = parse_duration_ms(value, &v);
		what = "a duration (e.g. 30, 500ms, 2s, 5m, 1h)";
		break;
	default:
		r = parse_uint(value, &v);
		what = "a whole number";
		break;
	}
	if (r == -1) {
		config_error(ctx, ctx->line, "bad value \"%s\" for %s: "
		    "expected %s", value, k->name, what);
		return -1;
	}
	if (v < k->min || v > k->max) {
		char *lo = format_limit(k, k->min), *hi = format_limit(k, k->max);
		if (k->max == NOLIMIT)
			config_error(ctx, ctx->line, "%s = %s is out of range "
			    "(at least %s)", k->name, value, lo);
		else
			config_error(ctx, ctx->line, "%s = %s is out of range "
			    "(%s to %s)", k->name, value, lo, hi);
		free(lo);
		free(hi);
		return -1;
	}
	*(uint64_t *)((char *)base + k->offset) = v;
	return 0;
}

/* Store one value of any type at its place. */
static int
store_value(struct load_ctx *ctx, const struct key_def *k, const char *value,
    void *base)
{
	char **sp;
	size_t i;

	switch (k->type) {
	case KEY_STRING:
	case KEY_HANDLER:
	case KEY_OPTIONAL:
		if (*value == '\0' && k->type != KEY_OPTIONAL) {
			config_error(ctx, ctx->line, "empty value for %s",
			    k->name);
			return -1;
		}
		sp = (char **)((char *)base + k->offset);
		free(*sp);
		/* "banner =" means no banner, not an empty line. */
		*sp = *value != '\0' ? xstrdup(value) : NULL;
		return 0;
	case KEY_BOOL:
		if (parse_bool(value, (int *)((char *)base + k->offset)) == -1) {
			config_error(ctx, ctx->line, "bad value \"%s\" for %s: "
			    "expected yes or no", value, k->name);
			return -1;
		}
		return 0;
	case KEY_LEVEL:
		if (parse_log_level(value, (enum log_level *)((char *)base +
		    k->offset)) == -1) {
			config_error(ctx, ctx->line, "bad log_level \"%s\" "
			    "(error, warn, info or debug)", value);
			return -1;
		}
		return 0;
	case KEY_PROTO:
		for (i = 0; i < 3; i++) {
			if (strcmp(value, proto_names[i]) == 0) {
				*(enum proto *)((char *)base + k->offset) = i;
				return 0;
			}
		}
		config_error(ctx, ctx->line, "bad proto \"%s\" (tcp, udp or "
		    "unix)", value);
		return -1;
	case KEY_LATER:
		config_error(ctx, ctx->line, "key \"%s\" is not supported by "
		    "this version of echochatd", k->name);
		return -1;
	default:
		return store_number(ctx, k, value, base);
	}
}

/* The section's name for messages: "[server]", "[listener echo]". */
static const char *
section_label(struct load_ctx *ctx, char *buf, size_t size)
{
	switch (ctx->section) {
	case SECTION_SERVER:
		return "[server]";
	case SECTION_PLUGINS:
		return "[plugins]";
	case SECTION_METRICS:
		return "[metrics]";
	case SECTION_CLUSTER:
		return "[cluster]";
	case SECTION_HANDLER:
		snprintf(buf, size, "[%s]", ctx->hsettings->handler->section);
		return buf;
	default:
		snprintf(buf, size, "[listener %s]", ctx->listener->name);
		return buf;
	}
}

/*
 * A key of a handler's section, as a key_def into hs->values: from the
 * handler's own table, or one a later version reads.
 */
static const struct key_def *
find_handler_key(const struct hsettings *hs, const char *name,
    struct key_def *kd, unsigned int *index)
{
	static const enum key_type types[] = { KEY_COUNT, KEY_SIZE,
		KEY_DURATION, KEY_OPTIONAL };
	const struct hsetting_def *d;
	int i;
	size_t j;

	if ((i = hsetting_index(hs->handler, name)) >= 0 &&
	    i < HSETTINGS_MAX) {
		d = &hs->handler->settings[i];
		kd->name = d->name;
		kd->type = types[d->type];
		/* Strings go to hs->strings, numbers to hs->values. */
		kd->offset = (size_t)i * (d->type == HSETTING_STRING ?
		    sizeof hs->strings[0] : sizeof hs->values[0]);
		kd->min = d->min;
		kd->max = d->max;
		*index = (unsigned int)i;
		return kd;
	}
	for (j = 0; later_keys[j].key != NULL; j++) {
		if (strcmp(later_keys[j].section, hs->handler->section) == 0 &&
		    strcmp(later_keys[j].key, name) == 0) {
			memset(kd, 0, sizeof *kd);
			kd->name = later_keys[j].key;
			kd->type = KEY_LATER;
			*index = HSETTINGS_MAX - 1 - (unsigned int)j;
			return kd;
		}
	}
	return NULL;
}

/*
 * A listener's tls_* key: refused by a build without OpenSSL; where the
 * files are named is remembered for messages about them.
 */
static int
listener_tls_key(struct load_ctx *ctx, const char *name)
{
	static const char *files[] = { "tls_cert", "tls_key", "tls_ca" };
	size_t i;

	if (!tls_supported()) {
		config_error(ctx, ctx->line, "key \"%s\" is not supported by "
		    "this build (echochatd was built without OpenSSL)", name);
		return -1;
	}
	for (i = 0; i < 3; i++) {
		if (strcmp(name, files[i]) == 0)
			ctx->listener->tls_lines[i] = ctx->line;
	}
	return 0;
}

/* websocket and ws_origins: refused by a build without WebSocket. */
static int
listener_ws_key(struct load_ctx *ctx, const char *name)
{
	if (ws_supported())
		return 0;
	config_error(ctx, ctx->line, "key \"%s\" is not supported by this "
	    "build (echochatd was built without libhttp-parser or OpenSSL)",
	    name);
	return -1;
}

/* A key of a [handler NAME] section, for when its plugin is loaded. */
static void
keep_pending(struct load_ctx *ctx, const char *name, const char *value)
{
	struct pending_key *pk = xcalloc(1, sizeof *pk);

	pk->key = xstrdup(name);
	pk->value = xstrdup(value);
	pk->line = ctx->line;
	TAILQ_INSERT_TAIL(&ctx->pending->keys, pk, entry);
}

static void
pending_free(struct pending_list *list)
{
	struct pending_section *ps;
	struct pending_key *pk;

	while ((ps = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, ps, entry);
		while ((pk = TAILQ_FIRST(&ps->keys)) != NULL) {
			TAILQ_REMOVE(&ps->keys, pk, entry);
			free(pk->key);
			free(pk->value);
			free(pk);
		}
		free(ps->name);
		free(ps);
	}
}

/* inih's handler: one key = value of the current section. */
static int
handle_key(void *user, const char *section, const char *name,
    const char *value)
{
	struct load_ctx *ctx = user;
	const struct key_def *table = NULL, *k;
	struct key_def handler_kd;
	unsigned int *seen, index;
	void *base;
	char label[300];

	(void)section;
	switch (ctx->section) {
	case SECTION_SERVER:
		table = server_keys;
		seen = &ctx->server_seen;
		base = ctx->config;
		break;
	case SECTION_HANDLER:
		seen = &ctx->hsettings->seen;
		base = ctx->hsettings->values;
		break;
	case SECTION_PLUGINS:
		table = plugins_keys;
		seen = &ctx->plugins_seen;
		base = ctx->config;
		break;
	case SECTION_PENDING:
		keep_pending(ctx, name, value);
		return 1;
	case SECTION_METRICS:
		table = metrics_keys;
		seen = &ctx->metrics_seen;
		base = ctx->config;
		ctx->config->metrics_line = ctx->line;
		break;
	case SECTION_CLUSTER:
		if (!cluster_supported()) {
			config_error(ctx, ctx->line, "key \"%s\" in [cluster] "
			    "is not supported by this build (no hiredis)",
			    name);
			return 1;
		}
		table = cluster_keys;
		seen = &ctx->cluster_seen;
		base = ctx->config;
		break;
	case SECTION_LISTENER:
		table = listener_keys;
		seen = &ctx->listener->seen;
		base = ctx->listener;
		break;
	default:
		return 1;	/* reported already, or skipped */
	}
	k = table != NULL ? find_key(table, name, &index) :
	    find_handler_key(ctx->hsettings, name, &handler_kd, &index);
	if (k == NULL) {
		config_error(ctx, ctx->line, "unknown key \"%s\" in %s", name,
		    section_label(ctx, label, sizeof label));
		return 1;
	}
	if (*seen & (1u << index)) {
		config_error(ctx, ctx->line, "duplicate key \"%s\" in %s",
		    name, section_label(ctx, label, sizeof label));
		return 1;
	}
	*seen |= 1u << index;
	if (ctx->section == SECTION_CLUSTER)
		ctx->config->cluster_lines[index] = ctx->line;
	if (ctx->section == SECTION_LISTENER &&
	    index < sizeof ctx->listener->key_line /
	    sizeof ctx->listener->key_line[0])
		ctx->listener->key_line[index] = ctx->line;
	if (ctx->section == SECTION_LISTENER && strncmp(name, "tls_", 4) == 0 &&
	    listener_tls_key(ctx, name) == -1) {
		ctx->listener->bad |= 1u << index;
		return 1;
	}
	if (ctx->section == SECTION_LISTENER && (strcmp(name, "websocket") ==
	    0 || strcmp(name, "ws_origins") == 0) &&
	    listener_ws_key(ctx, name) == -1) {
		ctx->listener->bad |= 1u << index;
		return 1;
	}
	if (ctx->section == SECTION_HANDLER) {
		ctx->hsettings->lines[index] = ctx->line;
		if (k->type == KEY_OPTIONAL)
			base = ctx->hsettings->strings;
	}
	if (ctx->section == SECTION_LISTENER && strcmp(name, "handler") == 0)
		ctx->listener->handler_line = ctx->line;
	if (store_value(ctx, k, value, base) == -1) {
		if (ctx->section == SECTION_LISTENER)
			ctx->listener->bad |= 1u << index;
		return 1;
	}
	if (ctx->section == SECTION_SERVER && strcmp(name, "user") == 0 &&
	    *value != '\0' && getpwnam(value) == NULL)
		/* Start-up would refuse it when switching; so does -t. */
		config_error(ctx, ctx->line, "unknown user \"%s\"", value);
	if (ctx->section == SECTION_LISTENER &&
	    strcmp(name, "idle_timeout") == 0)
		ctx->listener->has_idle_timeout = 1;
	if (ctx->section == SECTION_LISTENER && strcmp(name, "room") == 0)
		ctx->listener->room_line = ctx->line;
	if (ctx->section == SECTION_LISTENER &&
	    parse_unix_key(ctx, ctx->listener, name, value) == -1)
		ctx->listener->bad |= 1u << index;
	return 1;
}

/*
 * A unix socket's mode (octal, e.g. 0660), owner (a user) or group,
 * checked where it is written: the user and group must exist now.
 */
static int
parse_unix_key(struct load_ctx *ctx, struct listener_conf *lc,
    const char *name, const char *value)
{
	struct passwd *pw;
	struct group *gr;
	char *end;
	unsigned long m;

	if (*value == '\0')
		return 0;	/* as bind makes it */
	if (strcmp(name, "mode") == 0) {
		errno = 0;
		m = strtoul(value, &end, 8);
		if (!isdigit((unsigned char)*value) || *end != '\0' ||
		    errno != 0 || m > 0777) {
			config_error(ctx, ctx->line, "bad mode \"%s\": expected "
			    "octal permissions such as 0660", value);
			return -1;
		}
		lc->unix_mode = (int)m;
	} else if (strcmp(name, "owner") == 0) {
		if ((pw = getpwnam(value)) == NULL) {
			config_error(ctx, ctx->line, "unknown user \"%s\" for "
			    "owner", value);
			return -1;
		}
		lc->unix_uid = (long)pw->pw_uid;
	} else if (strcmp(name, "group") == 0) {
		if ((gr = getgrnam(value)) == NULL) {
			config_error(ctx, ctx->line, "unknown group \"%s\" for "
			    "group", value);
			return -1;
		}
		lc->unix_gid = (long)gr->gr_gid;
	}
	return 0;
}

/* Was a listener key given?  Its index in *index. */
static int
listener_has(const struct listener_conf *lc, const char *key,
    unsigned int *index)
{
	return find_key(listener_keys, key, index) != NULL &&
	    (lc->seen & (1u << *index));
}

/* Was a listener key given with a good value? */
static int
listener_key_ok(const struct listener_conf *lc, const char *key)
{
	unsigned int index;

	return listener_has(lc, key, &index) && !(lc->bad & (1u << index));
}

/* A listener's room: for handlers with rooms, and a good name. */
static void
check_room(struct load_ctx *ctx, struct listener_conf *lc)
{
	const char *why;

	if (lc->handler->check_room == NULL)
		config_error(ctx, lc->room_line, "[listener %s]: room is for "
		    "listeners of a handler with rooms (chat)", lc->name);
	else if ((why = lc->handler->check_room(lc->room)) != NULL)
		config_error(ctx, lc->room_line, "[listener %s]: bad room \"%s\": "
		    "%s", lc->name, lc->room, why);
}

/*
 * A TLS listener: its keys together, then its files loaded and checked
 * into the context its connections will use.
 */
static void
check_listener_tls(struct load_ctx *ctx, struct listener_conf *lc)
{
	struct tls_files files;
	unsigned int index, errors = ctx->errors;
	enum tls_bad bad;
	char *cause;

	if (lc->tls_cert == NULL && lc->tls_key == NULL && lc->tls_ca == NULL &&
	    !listener_has(lc, "tls_verify", &index))
		return;
	if (lc->proto != PROTO_TCP)
		config_error(ctx, lc->line, "[listener %s]: TLS is for tcp "
		    "listeners", lc->name);
	if (lc->tls_cert == NULL || lc->tls_key == NULL)
		config_error(ctx, lc->line, "[listener %s]: TLS needs both "
		    "tls_cert and tls_key", lc->name);
	if (lc->tls_verify && lc->tls_ca == NULL)
		config_error(ctx, lc->line, "[listener %s]: tls_verify = yes "
		    "needs tls_ca (the CAs client certificates must chain to)",
		    lc->name);
	if (ctx->errors != errors)
		return;
	files.cert = lc->tls_cert;
	files.key = lc->tls_key;
	files.ca = lc->tls_ca;
	files.verify = lc->tls_verify;
	if ((lc->tls = tls_ctx_new(&files, &bad, &cause)) == NULL) {
		config_error(ctx, lc->tls_lines[bad] != 0 ? lc->tls_lines[bad] :
		    lc->line, "[listener %s]: %s", lc->name, cause);
		free(cause);
	}
}

/* The line a listener key was given at (its header's if not given). */
static unsigned int
listener_key_line(const struct listener_conf *lc, const char *key)
{
	unsigned int index;

	if (!listener_has(lc, key, &index) ||
	    index >= sizeof lc->key_line / sizeof lc->key_line[0])
		return lc->line;
	return lc->key_line[index];
}

/* Check a listener's bind, knowing its proto; -1 if reported. */
static int
check_bind(struct load_ctx *ctx, struct listener_conf *lc)
{
	unsigned int line = listener_key_line(lc, "bind");
	const char *cause;

	if (lc->proto == PROTO_UNIX) {
		if (strlen(lc->bind) <= SUN_PATH_MAX)
			return 0;
		config_error(ctx, line, "[listener %s]: unix socket path too "
		    "long (max %d bytes)", lc->name, SUN_PATH_MAX);
		return -1;
	}
	if (parse_address(lc->bind, &lc->addr, &lc->addrlen, &lc->wildcard,
	    &cause) == 0)
		return 0;
	config_error(ctx, line, "[listener %s]: bad bind \"%s\": %s",
	    lc->name, lc->bind, cause);
	return -1;
}

/* hsettings_error's reporter while a plugin checks its section. */
static void
report_check(void *arg, unsigned int line, const char *msg)
{
	config_error(arg, line, "%s", msg);
}

/* A plugin's defaults text, parsed into hs as if it were a file. */
static void
plugin_defaults(struct load_ctx *ctx, struct hsettings *hs,
    unsigned int line)
{
	char *text, *p, *next, *eq;

	if (hs->handler->defaults == NULL)
		return;
	text = xstrdup(hs->handler->defaults);
	ctx->defaults_of = hs->handler->name;
	for (p = text; p != NULL; p = next) {
		if ((next = strchr(p, '\n')) != NULL)
			*next++ = '\0';
		p = trim(p);
		if (ignorable(p))
			continue;
		ctx->line = line;
		if ((eq = strchr(p, '=')) == NULL) {
			config_error(ctx, line, "expected key = value");
			continue;
		}
		*eq = '\0';
		handle_key(ctx, NULL, trim(p), trim(eq + 1));
	}
	ctx->defaults_of = NULL;
	free(text);
	hs->seen = 0;
}

/*
 * The settings of a loaded plugin: its defaults, then its [handler NAME]
 * section as read, then its own check.  Once per configuration.
 */
static void
plugin_settings(struct load_ctx *ctx, const struct handler *h,
    unsigned int line)
{
	struct pending_section *ps;
	struct pending_key *pk;
	struct hsettings *hs;
	unsigned int errors = ctx->errors;

	TAILQ_FOREACH(hs, &ctx->config->handler_settings, entry) {
		if (hs->handler == h)
			return;
	}
	hs = xcalloc(1, sizeof *hs);
	hs->handler = h;
	TAILQ_INSERT_TAIL(&ctx->config->handler_settings, hs, entry);
	ctx->section = SECTION_HANDLER;
	ctx->hsettings = hs;
	plugin_defaults(ctx, hs, line);
	TAILQ_FOREACH(ps, &ctx->pendings, entry) {
		if (strcmp(ps->name, h->name) != 0)
			continue;
		hs->line = ps->line;
		TAILQ_FOREACH(pk, &ps->keys, entry) {
			ctx->line = pk->line;
			handle_key(ctx, NULL, pk->key, pk->value);
		}
	}
	ctx->section = SECTION_NONE;
	ctx->hsettings = NULL;
	if (h->check != NULL && ctx->errors == errors) {
		if (hs->line == 0)
			hs->line = line;
		hs->report = report_check;
		hs->report_arg = ctx;
		h->check(hs);
		hs->report = NULL;
		hs->report_arg = NULL;
	}
}

/* Where plugins are: [plugins] dir, or the package's directory. */
static const char *
plugin_dir(const struct config *c)
{
	return c->plugin_dir != NULL ? c->plugin_dir : PLUGINDIR;
}

/* A listener's handler that is not built in: its plugin, or NULL. */
static const struct handler *
listener_plugin(struct load_ctx *ctx, struct listener_conf *lc)
{
	const struct handler *h;
	char *cause;

	if ((h = plugin_load(plugin_dir(ctx->config), lc->handler_name,
	    &cause)) == NULL) {
		config_error(ctx, lc->handler_line, "[listener %s]: unknown "
		    "handler \"%s\": not built in (%s), and no plugin: %s",
		    lc->name, lc->handler_name, handler_names(), cause);
		free(cause);
		return NULL;
	}
	plugin_settings(ctx, h, lc->handler_line);
	return h;
}

/* [handler NAME] sections no listener's plugin has taken: load theirs. */
static void
check_pending(struct load_ctx *ctx)
{
	struct pending_section *ps;
	const struct handler *h;
	char *cause;

	TAILQ_FOREACH(ps, &ctx->pendings, entry) {
		if ((h = plugin_load(plugin_dir(ctx->config), ps->name,
		    &cause)) == NULL) {
			config_error(ctx, ps->line, "[handler %s]: no plugin: "
			    "%s", ps->name, cause);
			free(cause);
			continue;
		}
		plugin_settings(ctx, h, ps->line);
	}
}

/*
 * Check one listener's keys together, once the whole file is read.  A
 * key already reported as wrong hides only the checks that need its
 * value (a bad proto leaves bind unchecked, not handler); each error is
 * reported at the line of the key it is about.
 */
static void
check_listener(struct load_ctx *ctx, struct listener_conf *lc)
{
	static const char *required[] = { "proto", "bind", "handler" };
	unsigned int index, errors = ctx->errors;
	int proto_ok;
	size_t i;

	for (i = 0; i < 3; i++) {
		if (!listener_has(lc, required[i], &index))
			config_error(ctx, lc->line, "missing key \"%s\" in "
			    "[listener %s]", required[i], lc->name);
	}
	proto_ok = listener_key_ok(lc, "proto");
	if (proto_ok && listener_key_ok(lc, "bind"))
		check_bind(ctx, lc);
	if (listener_key_ok(lc, "handler") &&
	    (lc->handler = handler_find(lc->handler_name)) == NULL)
		lc->handler = listener_plugin(ctx, lc);
	if (lc->handler != NULL && proto_ok && lc->proto == PROTO_UDP &&
	    lc->handler->datagram == NULL)
		config_error(ctx, lc->handler_line, "[listener %s]: handler "
		    "%s serves no datagrams", lc->name, lc->handler->name);
	if (lc->handler != NULL && proto_ok && lc->proto != PROTO_UDP &&
	    lc->handler->input == NULL)
		config_error(ctx, lc->handler_line, "[listener %s]: handler "
		    "%s serves no stream connections", lc->name,
		    lc->handler->name);
	if (proto_ok && lc->proto == PROTO_UDP && lc->banner != NULL)
		config_error(ctx, listener_key_line(lc, "banner"),
		    "[listener %s]: banner is for tcp and unix listeners",
		    lc->name);
	if (proto_ok && lc->proto == PROTO_UDP && lc->has_idle_timeout)
		config_error(ctx, listener_key_line(lc, "idle_timeout"),
		    "[listener %s]: idle_timeout is for tcp and unix listeners",
		    lc->name);
	if (lc->room != NULL && lc->handler != NULL)
		check_room(ctx, lc);
	if (proto_ok)
		check_listener_tls(ctx, lc);
	if (proto_ok && lc->proto != PROTO_TCP && (lc->websocket ||
	    listener_has(lc, "ws_origins", &index)))
		config_error(ctx, listener_key_line(lc, lc->websocket ?
		    "websocket" : "ws_origins"), "[listener %s]: websocket "
		    "is for tcp listeners", lc->name);
	else if (proto_ok && !lc->websocket &&
	    listener_has(lc, "ws_origins", &index))
		config_error(ctx, listener_key_line(lc, "ws_origins"),
		    "[listener %s]: ws_origins needs websocket = yes",
		    lc->name);
	for (i = 0; proto_ok && lc->proto != PROTO_UNIX && i < 3; i++) {
		static const char *unix_keys[] = { "mode", "owner", "group" };

		if (listener_has(lc, unix_keys[i], &index))
			config_error(ctx, listener_key_line(lc, unix_keys[i]),
			    "[listener %s]: %s is for unix listeners", lc->name,
			    unix_keys[i]);
	}
	lc->invalid = lc->bad != 0 || ctx->errors != errors;
}

/*
 * A unix socket path without doubled slashes and "." components, so that
 * /run/e.sock, /run//e.sock and /run/./e.sock are seen as one file.
 * (".." is left alone: what it means depends on symbolic links.)
 */
static void
normalize_path(const char *path, char *out, size_t size)
{
	size_t n = 0;
	const char *p = path;

	while (*p != '\0' && n + 1 < size) {
		if (p[0] == '/' && n > 0 && out[n - 1] == '/') {
			p++;
			continue;
		}
		if (p[0] == '.' && n > 0 && out[n - 1] == '/' &&
		    (p[1] == '/' || p[1] == '\0')) {
			p += p[1] == '/' ? 2 : 1;
			continue;
		}
		out[n++] = *p++;
	}
	if (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = '\0';
}

/* Are two unix binds the same file, as far as their text can tell? */
static int
same_unix_path(const char *a, const char *b)
{
	char na[SUN_PATH_MAX + 2], nb[SUN_PATH_MAX + 2];

	normalize_path(a, na, sizeof na);
	normalize_path(b, nb, sizeof nb);
	return strcmp(na, nb) == 0;
}

/*
 * Would two listeners fight over one address?  Same protocol and the same
 * address, or the same port where one is the "*" wildcard (it covers every
 * address), or 0.0.0.0 / [::] against an address of their family.  Port 0
 * never clashes: the kernel picks distinct ports.
 */
int
addresses_clash(const struct listener_conf *a, const struct listener_conf *b)
{
	if (a->proto != b->proto)
		return 0;
	if (a->proto == PROTO_UNIX)
		return same_unix_path(a->bind, b->bind);
	if (address_port(&a->addr) == 0 || address_port(&b->addr) == 0)
		return 0;
	if (address_port(&a->addr) != address_port(&b->addr))
		return 0;
	if (a->wildcard || b->wildcard)
		return 1;
	if (a->addr.ss_family != b->addr.ss_family)
		return 0;	/* IPv6 listeners other than "*" are v6only */
	if (address_is_any(&a->addr) || address_is_any(&b->addr))
		return 1;
	return a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/*
 * [metrics] bind, parsed into a listener of its own (the HTTP server's),
 * and kept off every tcp listener's address.
 */
static void
check_metrics(struct load_ctx *ctx)
{
	struct config *c = ctx->config;
	struct listener_conf *lc, *a;
	const char *cause;

	if (c->metrics_bind == NULL)
		return;
	lc = xcalloc(1, sizeof *lc);
	lc->name = xstrdup("[metrics]");
	lc->proto = PROTO_TCP;
	lc->bind = xstrdup(c->metrics_bind);
	lc->handler_name = xstrdup("http");
	lc->line = c->metrics_line;
	c->metrics = lc;
	if (parse_address(lc->bind, &lc->addr, &lc->addrlen, &lc->wildcard,
	    &cause) == -1) {
		config_error(ctx, lc->line, "[metrics]: bad bind \"%s\": %s",
		    lc->bind, cause);
		return;
	}
	TAILQ_FOREACH(a, &c->listeners, entry) {
		if (!a->invalid && a->addrlen != 0 && addresses_clash(a, lc))
			config_error(ctx, lc->line, "[metrics]: tcp %s is "
			    "already used by [listener %s] at line %u",
			    lc->bind, a->name, a->line);
	}
}

/* A channel or node name: what a key and the wire can carry. */
static int
cluster_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.:-") == n;
}

/* [cluster]: names the wire can carry; the node defaults. */
static void
check_cluster(struct load_ctx *ctx)
{
	struct config *c = ctx->config;
	struct listener_conf *lc;
	char host[256], node[300];
	const char *port;

	if (c->cluster_redis == NULL)
		return;
	if (!cluster_name_ok(c->cluster_channel))
		config_error(ctx, c->cluster_lines[1], "[cluster]: bad channel "
		    "\"%s\": 1-64 of A-Z a-z 0-9 _ . : -", c->cluster_channel);
	if (c->cluster_node != NULL && !cluster_name_ok(c->cluster_node))
		config_error(ctx, c->cluster_lines[2], "[cluster]: bad node "
		    "\"%s\": 1-64 of A-Z a-z 0-9 _ . : -", c->cluster_node);
	if (strchr(c->cluster_redis, '/') == NULL &&
	    ((port = strrchr(c->cluster_redis, ':')) == NULL ||
	    atoi(port + 1) <= 0 || atoi(port + 1) > 65535 ||
	    port == c->cluster_redis))
		config_error(ctx, c->cluster_lines[0], "[cluster]: bad redis "
		    "\"%s\": expected HOST:PORT or a socket path",
		    c->cluster_redis);
	if (c->cluster_node != NULL)
		return;
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	lc = TAILQ_FIRST(&c->listeners);
	port = lc != NULL && lc->bind != NULL && strrchr(lc->bind, ':') ?
	    strrchr(lc->bind, ':') + 1 : "0";
	snprintf(node, sizeof node, "%.60s:%s", host, port);
	node[strspn(node, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.:-")] = '\0';
	c->cluster_node = xstrdup(node);
}

/* Whole-file checks: each listener, then every pair for clashes. */
static void
check_config(struct load_ctx *ctx)
{
	struct listener_conf *a, *b;

	if (strcmp(ctx->config->log, "stderr") != 0 &&
	    strcmp(ctx->config->log, "syslog") != 0)
		absolutize(&ctx->config->log);
	absolutize(&ctx->config->pidfile);
	TAILQ_FOREACH(a, &ctx->config->listeners, entry) {
		if (a->proto == PROTO_UNIX && a->bind != NULL)
			absolutize(&a->bind);
		absolutize(&a->tls_cert);
		absolutize(&a->tls_key);
		absolutize(&a->tls_ca);
	}
	if (TAILQ_EMPTY(&ctx->config->listeners)) {
		config_error(ctx, 0, "no [listener NAME] section: nothing "
		    "to serve");
		return;
	}
	if (ctx->config->plugin_dir != NULL)
		absolutize(&ctx->config->plugin_dir);
	TAILQ_FOREACH(a, &ctx->config->listeners, entry)
		check_listener(ctx, a);
	check_pending(ctx);
	check_metrics(ctx);
	check_cluster(ctx);
	TAILQ_FOREACH(b, &ctx->config->listeners, entry) {
		if (b->invalid)
			continue;
		for (a = TAILQ_FIRST(&ctx->config->listeners); a != b;
		    a = TAILQ_NEXT(a, entry)) {
			if (!a->invalid && addresses_clash(a, b))
				config_error(ctx, listener_key_line(b, "bind"),
				    "[listener %s]: "
				    "%s %s is already used by [listener %s] "
				    "at line %u", b->name, proto_name(b->proto),
				    b->bind, a->name, a->line);
		}
	}
}

/*
 * Parse from an open stream or from text (one of them) into the built-in
 * defaults.  Each error goes to report as "name:line: message"; any error
 * means NULL and *nerrors set.
 */
static struct config *
load(const char *name, FILE *f, const char *text, int open_errno,
    void (*report)(const char *), unsigned int *nerrors)
{
	struct load_ctx ctx;
	struct config *c = text == default_config_text ? config_new_empty() :
	    config_new_defaults();
	int r;

	memset(&ctx, 0, sizeof ctx);
	ctx.config = c;
	ctx.report = report;
	ctx.file = f;
	ctx.text = text;
	TAILQ_INIT(&ctx.pendings);
	free(c->file);
	c->file = xstrdup(name);
	if (f == NULL && text == NULL) {
		config_error(&ctx, 0, "cannot open: %s", strerror(open_errno));
	} else {
		r = ini_parse_stream(read_line, &ctx, handle_key, &ctx);
		if (ctx.read_errno != 0)	/* what was read means nothing */
			config_error(&ctx, 0, "cannot read: %s",
			    strerror(ctx.read_errno));
		else {
			if (r != 0 && ctx.errors == 0)
				config_error(&ctx, r > 0 ? (unsigned int)r : 0,
				    "syntax error");
			check_config(&ctx);
		}
	}
	free(ctx.buf);
	pending_free(&ctx.pendings);
	*nerrors = ctx.errors;
	if (ctx.errors != 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

/*
 * Load a configuration: the built-in defaults overlaid by FILE, or by the
 * built-in default listeners when builtin is set.
 */
struct config *
config_load(const char *file, int builtin, void (*report)(const char *),
    unsigned int *nerrors)
{
	struct config *c;
	FILE *f;

	if (builtin)
		return load("(built-in defaults)", NULL, default_config_text, 0,
		    report, nerrors);
	f = fopen(file, "r");
	c = load(file, f, NULL, errno, report, nerrors);
	if (f != NULL)
		fclose(f);
	return c;
}

/* Load from a stream already open (the fuzzer's, for one). */
struct config *
config_load_stream(FILE *f, const char *name, void (*report)(const char *),
    unsigned int *nerrors)
{
	return load(name, f, NULL, 0, report, nerrors);
}

/*
 * Print "key = value" -- or "key=value" when the spaces would change how
 * it reads back: inih takes " ;" as the start of a comment, and the line
 * must stay within CONFIG_MAX_LINE.  Either way the output loads back to
 * the same settings.
 */
static void
print_key(FILE *f, const char *key, const char *value)
{
	if (value[0] == ';' || strlen(key) + strlen(value) + 3 > CONFIG_MAX_LINE)
		fprintf(f, "%s=%s\n", key, value);
	else
		fprintf(f, "%s = %s\n", key, value);
}

/* Print a size or duration key. */
static void
print_formatted(FILE *f, const char *key, char *value)
{
	print_key(f, key, value);
	free(value);
}

/* Print one key of a table, by its type. */
static void
print_typed(FILE *f, const struct key_def *k, const void *base)
{
	const void *p = (const char *)base + k->offset;
	uint64_t v = 0;

	if (k->type == KEY_SIZE || k->type == KEY_DURATION ||
	    k->type == KEY_COUNT)
		v = *(const uint64_t *)p;
	switch (k->type) {
	case KEY_SIZE:
		print_formatted(f, k->name, format_size(v));
		break;
	case KEY_DURATION:
		print_formatted(f, k->name, format_duration(v));
		break;
	case KEY_COUNT:
		fprintf(f, "%s = %llu\n", k->name, (unsigned long long)v);
		break;
	case KEY_STRING:
	case KEY_HANDLER:
	case KEY_OPTIONAL:
		print_key(f, k->name, *(char *const *)p ? *(char *const *)p :
		    "");
		break;
	case KEY_BOOL:
		fprintf(f, "%s = %s\n", k->name, *(const int *)p ? "yes" :
		    "no");
		break;
	case KEY_LEVEL:
		fprintf(f, "%s = %s\n", k->name,
		    log_level_name(*(const enum log_level *)p));
		break;
	case KEY_PROTO:
		fprintf(f, "%s = %s\n", k->name,
		    proto_name(*(const enum proto *)p));
		break;
	case KEY_LATER:
		break;
	}
}

/* A handler's section, walked off its settings table. */
static void
print_handler_settings(FILE *f, const struct hsettings *hs)
{
	struct key_def kd;
	unsigned int i, index;

	fprintf(f, "\n[%s]\n", hs->handler->section);
	for (i = 0; hs->handler->settings != NULL &&
	    hs->handler->settings[i].name != NULL; i++) {
		if (find_handler_key(hs, hs->handler->settings[i].name, &kd,
		    &index) != NULL)
			print_typed(f, &kd, kd.type == KEY_OPTIONAL ?
			    (const void *)hs->strings : hs->values);
	}
}

/* [plugins], and each plugin loaded for this configuration (comments). */
static void
print_plugins(FILE *f, const struct config *c)
{
	const struct hsettings *hs;
	char line[CONFIG_MAX_LINE + 1];

	fprintf(f, "\n[plugins]\n");
	print_key(f, "dir", plugin_dir(c));
	TAILQ_FOREACH(hs, &c->handler_settings, entry) {
		if (plugin_version(hs->handler) == NULL)
			continue;
		/* A comment too, must fit a line to load back. */
		snprintf(line, sizeof line, "; plugin %s %s loaded from %s",
		    hs->handler->name, plugin_version(hs->handler),
		    plugin_path(hs->handler));
		fprintf(f, "%s\n", line);
	}
}

/* A listener: its required keys, and the optional ones it was given. */
static void
print_listener(FILE *f, const struct listener_conf *lc)
{
	size_t i;

	fprintf(f, "\n[listener %s]\n", lc->name);
	for (i = 0; listener_keys[i].name != NULL; i++) {
		if (listener_keys[i].type == KEY_LATER ||
		    (listener_keys[i].type == KEY_OPTIONAL &&
		    *(char *const *)((const char *)lc +
		    listener_keys[i].offset) == NULL) ||
		    (strncmp(listener_keys[i].name, "tls_", 4) == 0 &&
		    lc->tls_cert == NULL) ||
		    (strcmp(listener_keys[i].name, "idle_timeout") == 0 &&
		    !lc->has_idle_timeout) ||
		    (strcmp(listener_keys[i].name, "room") == 0 &&
		    lc->room == NULL) ||
		    (strcmp(listener_keys[i].name, "websocket") == 0 &&
		    !lc->websocket))
			continue;
		print_typed(f, &listener_keys[i], lc);
	}
}

/* The effective settings, as an INI file that loads back the same. */
void
config_print(const struct config *c, FILE *f)
{
	const struct listener_conf *lc;
	const struct hsettings *hs;
	size_t i;

	fprintf(f, "[server]\n");
	for (i = 0; server_keys[i].name != NULL; i++)
		print_typed(f, &server_keys[i], c);
	print_plugins(f, c);
	TAILQ_FOREACH(hs, &c->handler_settings, entry)
		print_handler_settings(f, hs);
	if (c->metrics_bind != NULL) {
		fprintf(f, "\n[metrics]\n");
		print_typed(f, &metrics_keys[0], c);
	}
	if (c->cluster_redis != NULL) {
		fprintf(f, "\n[cluster]\n");
		for (i = 0; cluster_keys[i].name != NULL; i++) {
			if (strcmp(cluster_keys[i].name, "password") == 0)
				print_key(f, "password", c->cluster_password ?
				    "(set)" : "");
			else
				print_typed(f, &cluster_keys[i], c);
		}
	}
	TAILQ_FOREACH(lc, &c->listeners, entry)
		print_listener(f, lc);
}
