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
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config.h"
#include "loop.h"
#include "parse.h"
#include "xmalloc.h"

/* inih's line buffer (INI_MAX_LINE) holds this much text plus LF and NUL. */
#define CONFIG_MAX_LINE		198
#define SUN_PATH_MAX		107

enum section_kind { SECTION_NONE, SECTION_SERVER, SECTION_LISTENER,
	SECTION_HANDLER, SECTION_METRICS, SECTION_SKIP, SECTION_BAD };

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
	unsigned int		 server_seen;
	unsigned int		 metrics_seen;
	int			 defaults_only;	/* no listeners, please */
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
	{ NULL, 0, 0, 0, 0 }
};

static const struct key_def metrics_keys[] = {
	{ "bind", KEY_OPTIONAL, CFG(metrics_bind), 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

static const struct key_def listener_keys[] = {
	{ "proto", KEY_PROTO, LST(proto), 0, 0 },
	{ "bind", KEY_STRING, LST(bind), 0, 0 },
	{ "handler", KEY_HANDLER, LST(handler_name), 0, 0 },
	{ "banner", KEY_OPTIONAL, LST(banner), 0, 0 },
	{ "idle_timeout", KEY_DURATION, LST(idle_timeout_ms), 0, NOLIMIT },
	{ "tls_cert", KEY_LATER, 0, 0, 0 },
	{ "tls_key", KEY_LATER, 0, 0, 0 },
	{ NULL, 0, 0, 0, 0 }
};

/* Keys of handler sections that a later version of echochatd reads. */
static const struct { const char *section, *key; } later_keys[] = {
	{ "chat", "history" },
	{ NULL, NULL }
};

/* Sections of features this version does not have yet. */
static const char *later_sections[] = { "cluster", "plugins", NULL };

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
	if (line != 0)
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
	TAILQ_INIT(&c->listeners);
	TAILQ_INIT(&c->handler_settings);
	for (i = 0; (h = handler_at(i)) != NULL; i++) {
		if (h->section == NULL)
			continue;
		hs = xcalloc(1, sizeof *hs);
		hs->handler = h;
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
		free(hs);
	}
	if (c->metrics != NULL)
		listener_conf_free(c->metrics);
	free(c->metrics_bind);
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
	lc->name = xstrdup(name);
	lc->line = ctx->line;
	TAILQ_INSERT_TAIL(&ctx->config->listeners, lc, entry);
	ctx->listener = lc;
	ctx->section = SECTION_LISTENER;
}

/* A section header line: decide what the following keys belong to. */
static void
begin_section(struct load_ctx *ctx, char *name)
{
	size_t i;

	ctx->listener = NULL;
	ctx->hsettings = NULL;
	if (strcmp(name, "server") == 0) {
		ctx->section = SECTION_SERVER;
		return;
	}
	if (strcmp(name, "metrics") == 0) {
		ctx->section = SECTION_METRICS;
		return;
	}
	TAILQ_FOREACH(ctx->hsettings, &ctx->config->handler_settings, entry) {
		if (strcmp(name, ctx->hsettings->handler->section) == 0) {
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
			if ((n = getline(&ctx->buf, &ctx->bufsize,
			    ctx->file)) == -1)
				return NULL;
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
		if ((ok = screen_line(ctx, ctx->buf, (size_t)n)) != NULL)
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
	case SECTION_METRICS:
		return "[metrics]";
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
		KEY_DURATION };
	const struct hsetting_def *d;
	int i;
	size_t j;

	if ((i = hsetting_index(hs->handler, name)) >= 0 &&
	    i < HSETTINGS_MAX) {
		d = &hs->handler->settings[i];
		kd->name = d->name;
		kd->type = types[d->type];
		kd->offset = (size_t)i * sizeof hs->values[0];
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
	case SECTION_METRICS:
		table = metrics_keys;
		seen = &ctx->metrics_seen;
		base = ctx->config;
		ctx->config->metrics_line = ctx->line;
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
	if (store_value(ctx, k, value, base) == -1) {
		if (ctx->section == SECTION_LISTENER)
			ctx->listener->bad = 1;
		return 1;
	}
	if (ctx->section == SECTION_LISTENER &&
	    strcmp(name, "idle_timeout") == 0)
		ctx->listener->has_idle_timeout = 1;
	return 1;
}

/* Was a listener key given? */
static int
listener_has(const struct listener_conf *lc, const char *key)
{
	unsigned int index;

	return find_key(listener_keys, key, &index) != NULL &&
	    (lc->seen & (1u << index));
}

/* Check one listener's keys together, once the whole file is read. */
static void
check_listener(struct load_ctx *ctx, struct listener_conf *lc)
{
	static const char *required[] = { "proto", "bind", "handler" };
	const char *cause;
	size_t i;
	int missing = 0;

	if (lc->bad)
		return;		/* a key was already reported as wrong */
	for (i = 0; i < 3; i++) {
		if (!listener_has(lc, required[i])) {
			config_error(ctx, lc->line, "missing key \"%s\" in "
			    "[listener %s]", required[i], lc->name);
			missing = 1;
		}
	}
	if (missing)
		return;
	if (lc->proto == PROTO_UNIX) {
		if (strlen(lc->bind) > SUN_PATH_MAX)
			config_error(ctx, lc->line, "[listener %s]: unix "
			    "socket path too long (max %d bytes)", lc->name,
			    SUN_PATH_MAX);
	} else if (parse_address(lc->bind, &lc->addr, &lc->addrlen,
	    &lc->wildcard, &cause) == -1)
		config_error(ctx, lc->line, "[listener %s]: bad bind \"%s\": "
		    "%s", lc->name, lc->bind, cause);
	if ((lc->handler = handler_find(lc->handler_name)) == NULL)
		config_error(ctx, lc->line, "[listener %s]: unknown handler "
		    "\"%s\" (known: %s)", lc->name, lc->handler_name,
		    handler_names());
	if (lc->proto == PROTO_UDP && lc->banner != NULL)
		config_error(ctx, lc->line, "[listener %s]: banner is for "
		    "tcp and unix listeners", lc->name);
	if (lc->proto == PROTO_UDP && lc->has_idle_timeout)
		config_error(ctx, lc->line, "[listener %s]: idle_timeout is "
		    "for tcp and unix listeners", lc->name);
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
		return strcmp(a->bind, b->bind) == 0;
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
		if (!a->bad && a->addrlen != 0 && addresses_clash(a, lc))
			config_error(ctx, lc->line, "[metrics]: tcp %s is "
			    "already used by [listener %s] at line %u",
			    lc->bind, a->name, a->line);
	}
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
	}
	if (TAILQ_EMPTY(&ctx->config->listeners)) {
		config_error(ctx, 0, "no [listener NAME] section: nothing "
		    "to serve");
		return;
	}
	TAILQ_FOREACH(a, &ctx->config->listeners, entry)
		check_listener(ctx, a);
	check_metrics(ctx);
	if (ctx->errors != 0)
		return;
	TAILQ_FOREACH(b, &ctx->config->listeners, entry) {
		for (a = TAILQ_FIRST(&ctx->config->listeners); a != b;
		    a = TAILQ_NEXT(a, entry)) {
			if (addresses_clash(a, b))
				config_error(ctx, b->line, "[listener %s]: "
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
	free(c->file);
	c->file = xstrdup(name);
	if (f == NULL && text == NULL) {
		config_error(&ctx, 0, "cannot open: %s", strerror(open_errno));
	} else {
		r = ini_parse_stream(read_line, &ctx, handle_key, &ctx);
		if (r != 0 && ctx.errors == 0)
			config_error(&ctx, r > 0 ? (unsigned int)r : 0,
			    "syntax error");
		if (f != NULL && ferror(f))
			config_error(&ctx, 0, "read error");
		check_config(&ctx);
	}
	free(ctx.buf);
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
	for (i = 0; hs->handler->settings[i].name != NULL; i++) {
		if (find_handler_key(hs, hs->handler->settings[i].name, &kd,
		    &index) != NULL)
			print_typed(f, &kd, hs->values);
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
		    (strcmp(listener_keys[i].name, "banner") == 0 &&
		    lc->banner == NULL) ||
		    (strcmp(listener_keys[i].name, "idle_timeout") == 0 &&
		    !lc->has_idle_timeout))
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
	TAILQ_FOREACH(hs, &c->handler_settings, entry)
		print_handler_settings(f, hs);
	if (c->metrics_bind != NULL) {
		fprintf(f, "\n[metrics]\n");
		print_typed(f, &metrics_keys[0], c);
	}
	TAILQ_FOREACH(lc, &c->listeners, entry)
		print_listener(f, lc);
}
