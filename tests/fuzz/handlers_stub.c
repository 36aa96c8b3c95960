/*
 * handlers_stub.c -- the built-in handlers as the config loader sees them:
 * names, framing, sections and settings keys, and nothing that serves.
 * fuzz_config links these instead of the handlers themselves, so it is
 * built from the configuration code alone.  A handler added to the
 * registry without a stub here fails to link, which keeps the two in step.
 */
#include "handler.h"
#include "handlers/chat.h"

const struct handler handler_echo = {
	.name = "echo",
	.framing = FRAMING_BYTES,
};

const struct handler handler_upper = {
	.name = "upper",
	.framing = FRAMING_BYTES,
};

const struct handler handler_chat = {
	.name = "chat",
	.framing = FRAMING_LINES,
	.section = "chat",
	.settings = chat_settings,
	.check_room = chat_check_room,
};
