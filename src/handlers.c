/*
 * handlers.c -- the handler registry: the one place that names handlers.
 * Everything else finds them here by the name a listener gives.
 */
#include <string.h>

#include "echochat.h"

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

/* Position in the registry, for per-handler state slots. */
int
handler_index(const struct handler *h)
{
	int i;

	for (i = 0; registry[i] != NULL; i++) {
		if (registry[i] == h)
			return i;
	}
	return -1;
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

/* The handler at a registry position, or NULL. */
const struct handler *
handler_at(int i)
{
	int n;

	for (n = 0; registry[n] != NULL; n++)
		continue;
	return i >= 0 && i < n ? registry[i] : NULL;
}
