/*
 * handlers.h -- the handler registry (handlers.c): the one place that
 * names handlers, the running instance of each, and the settings each
 * handler's own [section] gives it.
 */
#ifndef ECHOCHAT_HANDLERS_H
#define ECHOCHAT_HANDLERS_H

#include <sys/queue.h>
#include <stdint.h>

#include "handler.h"
#include "listener.h"

/* The most keys one handler's section may have. */
#define HSETTINGS_MAX	32

/* One handler's section, as configured (config.c fills it). */
struct hsettings {
	const struct handler	*handler;
	uint64_t		 values[HSETTINGS_MAX];
	char			*strings[HSETTINGS_MAX]; /* NULL: empty */
	unsigned int		 lines[HSETTINGS_MAX];	/* where given */
	unsigned int		 line;		/* of the section header */
	unsigned int		 seen;		/* keys given in the file */
	const struct listener_conf_list *listeners;	/* the config's */
	/* While the handler's check runs: where hsettings_error reports. */
	void			(*report)(void *, unsigned int line,
				    const char *msg);
	void			*report_arg;
	TAILQ_ENTRY(hsettings)	 entry;
};
TAILQ_HEAD(hsettings_list, hsettings);

/* A started handler: its process-wide state. */
struct handler_instance {
	struct handler_binding		 b;		/* what conns point to */
	int				 told_shutdown;
	TAILQ_ENTRY(handler_instance)	 entry;
};
TAILQ_HEAD(handler_instances, handler_instance);

const struct handler *handler_find(const char *name);
const struct handler *handler_for_section(const char *section);
const struct handler *handler_at(int);
const char	*handler_names(void);
int		 hsetting_index(const struct handler *, const char *key);
void		 hsettings_free(struct hsettings *);

/* The running instance of h, started (and configured) on first use. */
struct handler_instance *handlers_get(struct handler_instances *,
		    const struct handler *, const struct hsettings_list *,
		    char **cause);
void		 handlers_configure(struct handler_instances *,
		    const struct hsettings_list *);
void		 handlers_shutdown(struct handler_instances *);
void		 handlers_stop(struct handler_instances *);

#endif
