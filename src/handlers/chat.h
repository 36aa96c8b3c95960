/*
 * chat.h -- what the chat handler shares between its files: the keys of
 * its [chat] section and the rule for a listener's room (chat_settings.c).
 */
#ifndef ECHOCHAT_CHAT_H
#define ECHOCHAT_CHAT_H

#include "handler.h"

extern const struct hsetting_def chat_settings[];
const char	*chat_check_room(const char *room);

/* Where newcomers start when their listener names no room. */
#define CHAT_DEFAULT_ROOM	"#lobby"

#endif
