/*
 * plugins.c -- loading handler plugins (echochat-plugin(3)).
 *
 * A plugin is dir/NAME.so, opened with RTLD_NOW so that a function this
 * echochatd lacks is a refusal now and not a crash later, and RTLD_LOCAL
 * so that plugins do not see each other.  Its descriptor, the symbol
 * echochat_plugin, is checked before anything in it runs: magic, ABI
 * version, the sizes of the structures it was built with, and its
 * handler.  The handler and its settings table are copied into structures
 * of this echochatd's size, so that what an older plugin did not have
 * reads as NULL.
 *
 * A plugin that loaded stays loaded until the process exits: listeners,
 * connections, timers and settings may point into it, and there is no
 * moment of a reload at which all of them are known to be gone.  Loading
 * the same file again gives the same record.  Everything here runs on
 * the main thread (configuration loading).
 */
#include "autoconf.h"

#include <sys/stat.h>
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>
#ifdef HAVE_PLUGINS
#include <dlfcn.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "plugins.h"
#include "tailq.h"
#include "xmalloc.h"

/*
 * The sizes ABI 1.0 defined.  When a structure grows in a later minor
 * version these stay, as offsetof() of its first new field.
 */
#define PLUGIN_SIZE_1_0		sizeof(struct echochat_plugin)
#define HANDLER_SIZE_1_0	sizeof(struct handler)
#define NAME_MAX_LEN		64

struct plugin {
	char			*path;
	char			*name;
	char			*version;
	char			*section;	/* "handler NAME" */
	void			*dl;
	struct handler		 handler;	/* this echochatd's size */
	struct hsetting_def	*settings;	/* copied, NULL-terminated */
	TAILQ_ENTRY(plugin)	 entry;
};
TAILQ_HEAD(plugin_list, plugin);

static struct plugin_list plugins = TAILQ_HEAD_INITIALIZER(plugins);

int
plugin_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-") == n;
}

static struct plugin *
plugin_of(const struct handler *h)
{
	struct plugin *p;

	TAILQ_FOREACH(p, &plugins, entry) {
		if (&p->handler == h)
			return p;
	}
	return NULL;
}

const char *
plugin_version(const struct handler *h)
{
	struct plugin *p = plugin_of(h);

	return p != NULL ? p->version : NULL;
}

const char *
plugin_path(const struct handler *h)
{
	struct plugin *p = plugin_of(h);

	return p != NULL ? p->path : NULL;
}

static void
plugin_free(struct plugin *p)
{
#ifdef HAVE_PLUGINS
	if (p->dl != NULL)
		dlclose(p->dl);
#endif
	free(p->path);
	free(p->name);
	free(p->version);
	free(p->section);
	free(p->settings);
	free(p);
}

/* Copy the settings table, element by element at the plugin's stride. */
static const char *
copy_settings(struct plugin *p, const struct hsetting_def *table,
    size_t stride)
{
	const struct hsetting_def *d;
	size_t n;

	if (table == NULL)
		return NULL;
	p->settings = xcalloc(HSETTINGS_MAX + 1, sizeof *p->settings);
	for (n = 0;; n++) {
		d = (const void *)((const char *)table + n * stride);
		if (d->name == NULL)
			break;
		if (n == HSETTINGS_MAX)
			return "more settings keys than echochatd takes (32)";
		if (d->type > HSETTING_STRING)
			return "a settings key of an unknown type";
		if (d->type != HSETTING_STRING && d->min > d->max)
			return "a settings key whose min is above its max";
		p->settings[n] = *d;
	}
	p->handler.settings = p->settings;
	return NULL;
}

/* Check the descriptor and copy what it describes; NULL or why not. */
static const char *
adopt(struct plugin *p, const struct echochat_plugin *d, char *buf,
    size_t size)
{
	const struct handler *h;

	if (d->magic != ECHOCHAT_PLUGIN_MAGIC)
		return "echochat_plugin is not an echochat plugin descriptor";
	if (d->abi_major != ECHOCHAT_PLUGIN_ABI_MAJOR ||
	    d->abi_minor > ECHOCHAT_PLUGIN_ABI_MINOR) {
		snprintf(buf, size, "built for plugin ABI %u.%u; this "
		    "echochatd has %u.%u (rebuild it against this "
		    "echochatd's <echochat/plugin.h>)", d->abi_major,
		    d->abi_minor, ECHOCHAT_PLUGIN_ABI_MAJOR,
		    ECHOCHAT_PLUGIN_ABI_MINOR);
		return buf;
	}
	if (d->size < PLUGIN_SIZE_1_0 || d->handler_size < HANDLER_SIZE_1_0 ||
	    d->setting_size != sizeof(struct hsetting_def))
		return "its descriptor's structure sizes do not match its ABI "
		    "version";
	if ((h = d->handler) == NULL || h->name == NULL)
		return "its descriptor names no handler";
	if (strcmp(h->name, p->name) != 0) {
		snprintf(buf, size, "its handler is called \"%.64s\", not "
		    "\"%s\"", h->name, p->name);
		return buf;
	}
	memcpy(&p->handler, h, d->handler_size < sizeof p->handler ?
	    d->handler_size : sizeof p->handler);
	if (p->handler.framing != FRAMING_BYTES &&
	    p->handler.framing != FRAMING_LINES)
		return "its handler has an unknown framing";
	if (p->handler.input == NULL && p->handler.datagram == NULL)
		return "its handler has neither input nor datagram";
	p->handler.name = p->name;
	p->handler.section = p->section;
	p->version = xstrdup(d->version != NULL ? d->version : "");
	p->handler.settings = NULL;
	return copy_settings(p, h->settings, d->setting_size);
}

#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Ehdr ElfW_Ehdr;
typedef Elf64_Phdr ElfW_Phdr;
#define ELF_CLASS	ELFCLASS64
#else
typedef Elf32_Ehdr ElfW_Ehdr;
typedef Elf32_Phdr ElfW_Phdr;
#define ELF_CLASS	ELFCLASS32
#endif

/*
 * Before dlopen: is this a whole shared object of our kind?  The dynamic
 * loader maps a truncated file as if it were whole, and touching the
 * missing pages kills the process with SIGBUS; a file that is cut short
 * must be a refusal instead.
 */
static const char *
elf_whole(int fd, off_t size)
{
	ElfW_Ehdr eh;
	ElfW_Phdr ph;
	unsigned int i;

	if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return "not a shared object (no ELF header)";
	if (eh.e_ident[EI_CLASS] != ELF_CLASS || eh.e_type != ET_DYN)
		return "not a shared object of this machine's kind";
	if (eh.e_phentsize != sizeof ph || eh.e_phnum == 0 ||
	    eh.e_phoff > (uint64_t)size ||
	    (uint64_t)eh.e_phnum * sizeof ph > (uint64_t)size - eh.e_phoff)
		return "truncated or corrupt (program headers)";
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff +
		    (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph)
			return "truncated or corrupt (program headers)";
		if (ph.p_type == PT_LOAD && (ph.p_offset > (uint64_t)size ||
		    ph.p_filesz > (uint64_t)size - ph.p_offset))
			return "truncated (a segment runs past the end of the "
			    "file)";
	}
	return NULL;
}

/* A regular, whole ELF shared object?  NULL, or why not. */
static const char *
check_file(const char *path, char *buf, size_t size)
{
	struct stat sb;
	const char *why;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1) {
		snprintf(buf, size, "%s", strerror(errno));
		if (fd != -1)
			close(fd);
		return buf;
	}
	if (!S_ISREG(sb.st_mode))
		why = "not a regular file";
	else
		why = elf_whole(fd, sb.st_size);
	close(fd);
	return why;
}

#ifdef HAVE_PLUGINS
/* dlopen and check; the new record, or NULL and *cause. */
static struct plugin *
plugin_open(const char *path, const char *name, char **cause)
{
	const struct echochat_plugin *d;
	struct plugin *p;
	const char *why;
	char buf[256];

	if ((why = check_file(path, buf, sizeof buf)) != NULL) {
		xasprintf(cause, "%s: %s", path, why);
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->path = xstrdup(path);
	p->name = xstrdup(name);
	xasprintf(&p->section, "handler %s", name);
	dlerror();
	if ((p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *e = dlerror();
		xasprintf(cause, "%s", e != NULL ? e : "dlopen failed");
		plugin_free(p);
		return NULL;
	}
	if ((d = dlsym(p->dl, "echochat_plugin")) == NULL) {
		xasprintf(cause, "%s: not an echochat plugin (no symbol "
		    "echochat_plugin)", path);
		plugin_free(p);
		return NULL;
	}
	if ((why = adopt(p, d, buf, sizeof buf)) != NULL) {
		xasprintf(cause, "%s: %s", path, why);
		plugin_free(p);
		return NULL;
	}
	return p;
}
#else
/* Built without dlopen (configure --without-plugins): every file refused. */
static struct plugin *
plugin_open(const char *path, const char *name, char **cause)
{
	(void)name;
	(void)adopt;
	(void)plugin_free;
	(void)check_file;
	xasprintf(cause, "%s: %s", path, access(path, F_OK) == -1 ?
	    strerror(errno) : "this echochatd was built without plugins "
	    "(configure --without-plugins)");
	return NULL;
}
#endif

const struct handler *
plugin_load(const char *dir, const char *name, char **cause)
{
	struct plugin *p;
	char *path;

	if (!plugin_name_ok(name)) {
		xasprintf(cause, "\"%s\" is not a plugin name (letters, "
		    "digits, _ and -, at most %d)", name, NAME_MAX_LEN);
		return NULL;
	}
	xasprintf(&path, "%s/%s.so", dir, name);
	TAILQ_FOREACH(p, &plugins, entry) {
		if (strcmp(p->path, path) == 0) {
			free(path);
			return &p->handler;
		}
	}
	p = plugin_open(path, name, cause);
	free(path);
	if (p == NULL)
		return NULL;
	TAILQ_INSERT_TAIL(&plugins, p, entry);
	return &p->handler;
}
