/*
 * plugins.h -- handlers loaded from shared objects (plugins.c): NAME.so
 * in the plugin directory, checked against <echochat/plugin.h>'s ABI and
 * kept loaded for the life of the process.
 */
#ifndef ECHOCHAT_PLUGINS_H
#define ECHOCHAT_PLUGINS_H

#include "handler.h"

/*
 * The handler of dir/NAME.so, loaded on first use (the same record ever
 * after).  NULL and *cause (allocated) when it cannot be loaded.
 */
const struct handler *plugin_load(const char *dir, const char *name,
		    char **cause);
/* A plugin's own version, or NULL if h is built in. */
const char	*plugin_version(const struct handler *h);
/* The file a plugin came from, or NULL if h is built in. */
const char	*plugin_path(const struct handler *h);
/* Is name usable as a plugin's NAME (letters, digits, _ and -)? */
int		 plugin_name_ok(const char *name);

#endif
