/*
 * chat.h -- what the chat handler shares between its files: the keys of
 * its [chat] section (chat_settings.c).
 */
#ifndef ECHOCHAT_CHAT_H
#define ECHOCHAT_CHAT_H

#include "handler.h"

extern const struct hsetting_def chat_settings[];

#endif
