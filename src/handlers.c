/*
 * handlers.c -- the handler registry: the one place that names handlers.
 * Everything else finds them here by the name a listener gives.  Each
 * handler has at most one running instance, started when its first
 * listener opens and stopped when the server goes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "xmalloc.h"

extern const struct handler handler_echo;
extern const struct handler handler_upper;
extern const struct handler handler_chat;

static const struct handler *registry[] = {
	&handler_echo,
	&handler_upper,
	&handler_chat,
	NULL
};

/* The handler called name, or NULL. */
const struct handler *
handler_find(const char *name)
{
	size_t i;

	for (i = 0; registry[i] != NULL; i++) {
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	}
	return NULL;
}

/* The handler whose settings live in [section], or NULL. */
const struct handler *
handler_for_section(const char *section)
{
	size_t i;

	for (i = 0; registry[i] != NULL; i++) {
		if (registry[i]->section != NULL &&
		    strcmp(registry[i]->section, section) == 0)
			return registry[i];
	}
	return NULL;
}

/* The handler at a registry position, or NULL past the end. */
const struct handler *
handler_at(int i)
{
	int n;

	for (n = 0; registry[n] != NULL; n++)
		continue;
	return i >= 0 && i < n ? registry[i] : NULL;
}

/* "echo, upper, chat" for error messages. */
const char *
handler_names(void)
{
	static char names[256];
	size_t i;

	if (names[0] != '\0')
		return names;
	for (i = 0; registry[i] != NULL; i++) {
		if (i > 0)
			strncat(names, ", ", sizeof names - strlen(names) - 1);
		strncat(names, registry[i]->name,
		    sizeof names - strlen(names) - 1);
	}
	return names;
}

/* Position of a key in a handler's settings table, or -1. */
int
hsetting_index(const struct handler *h, const char *key)
{
	int i;

	for (i = 0; h->settings != NULL && h->settings[i].name != NULL; i++) {
		if (strcmp(h->settings[i].name, key) == 0)
			return i;
	}
	return -1;
}

/* The configured section of h, if it has one. */
static const struct hsettings *
settings_of(const struct hsettings_list *list, const struct handler *h)
{
	const struct hsettings *hs;

	TAILQ_FOREACH(hs, list, entry) {
		if (hs->handler == h)
			return hs;
	}
	return NULL;
}

/* A key of the handler's section; an unknown key is a handler bug. */
uint64_t
hsettings_get(const struct hsettings *hs, const char *name)
{
	int i = hsetting_index(hs->handler, name);

	if (i < 0)
		abort();
	return hs->values[i];
}

const char *
hsettings_room(const struct hsettings *hs, size_t i, const char *dflt)
{
	const struct listener_conf *lc;

	TAILQ_FOREACH(lc, hs->listeners, entry) {
		if (lc->handler == hs->handler && i-- == 0)
			return lc->room != NULL ? lc->room : dflt;
	}
	return NULL;
}

/* A string key; "" when empty.  An unknown key is a handler bug. */
const char *
hsettings_get_string(const struct hsettings *hs, const char *name)
{
	int i = hsetting_index(hs->handler, name);

	if (i < 0 || hs->handler->settings[i].type != HSETTING_STRING)
		abort();
	return hs->strings[i] != NULL ? hs->strings[i] : "";
}

/* From a handler's check: one error at the key's line (or the section's). */
void
hsettings_error(const struct hsettings *hs, const char *key,
    const char *fmt, ...)
{
	unsigned int line = hs->line;
	char *msg, *full;
	va_list ap;
	int i;

	if (hs->report == NULL)
		return;		/* not called from check */
	if (key != NULL && (i = hsetting_index(hs->handler, key)) >= 0 &&
	    (hs->seen & (1u << i)))
		line = hs->lines[i];
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	xasprintf(&full, "[%s]: %s%s%s", hs->handler->section,
	    key != NULL ? key : "", key != NULL ? ": " : "",
	    msg != NULL ? msg : fmt);
	hs->report(hs->report_arg, line, full);
	free(full);
	free(msg);
}

/* Free one section's settings. */
void
hsettings_free(struct hsettings *hs)
{
	unsigned int i;

	for (i = 0; i < HSETTINGS_MAX; i++)
		free(hs->strings[i]);
	free(hs);
}

static void
instance_configure(struct handler_instance *hi,
    const struct hsettings_list *list)
{
	const struct hsettings *hs;

	if (hi->b.handler->configure != NULL &&
	    (hs = settings_of(list, hi->b.handler)) != NULL)
		hi->b.handler->configure(hi->b.state, hs);
}

struct handler_instance *
handlers_get(struct handler_instances *set, const struct handler *h,
    const struct hsettings_list *list, char **cause)
{
	struct handler_instance *hi;
	const char *why = NULL;
	void *state = NULL;

	TAILQ_FOREACH(hi, set, entry) {
		if (hi->b.handler == h)
			return hi;
	}
	if (h->start != NULL && (state = h->start(&why)) == NULL) {
		xasprintf(cause, "handler %s: %s", h->name,
		    why ? why : "failed to start");
		return NULL;
	}
	hi = xcalloc(1, sizeof *hi);
	hi->b.handler = h;
	hi->b.state = state;
	TAILQ_INSERT_TAIL(set, hi, entry);
	instance_configure(hi, list);
	return hi;
}

/* New settings after a reload (every loop held). */
void
handlers_configure(struct handler_instances *set,
    const struct hsettings_list *list)
{
	struct handler_instance *hi;

	TAILQ_FOREACH(hi, set, entry)
		instance_configure(hi, list);
}

/* The server is going down: tell each running handler, once. */
void
handlers_shutdown(struct handler_instances *set)
{
	struct handler_instance *hi;

	TAILQ_FOREACH(hi, set, entry) {
		if (!hi->told_shutdown && hi->b.handler->shutdown != NULL)
			hi->b.handler->shutdown(hi->b.state);
		hi->told_shutdown = 1;
	}
}

/* Stop and forget every instance (after every connection is gone). */
void
handlers_stop(struct handler_instances *set)
{
	struct handler_instance *hi;

	while ((hi = TAILQ_FIRST(set)) != NULL) {
		TAILQ_REMOVE(set, hi, entry);
		if (hi->b.handler->stop != NULL)
			hi->b.handler->stop(hi->b.state);
		free(hi);
	}
}
