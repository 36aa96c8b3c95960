/*
 * chat_settings.c -- the keys of [chat] and their ranges, and the rule
 * for a listener's `room`.  Their defaults are in conf/echochatd.ini.  A
 * file of its own so that what reads configurations (the config fuzzer)
 * can know chat's keys without the rest of chat.
 */
#include <stdint.h>
#include <string.h>

#include "chat.h"
#include "chat_cmd.h"

const struct hsetting_def chat_settings[] = {
	{ "udp_peer_timeout", HSETTING_DURATION, 1000, UINT64_MAX },
	{ "udp_peers_max", HSETTING_COUNT, 0, 1000000 },
	{ "chat_rate", HSETTING_COUNT, 0, 1000000 },
	{ "chat_burst", HSETTING_COUNT, 1, 1000000 },
	{ "history", HSETTING_COUNT, 0, 10000 },
	{ "rooms_max", HSETTING_COUNT, 1, 1000000 },
	{ NULL, 0, 0, 0 }
};


/* A listener's room: '#' and 1-32 of A-Z a-z 0-9 _ -. */
const char *
chat_check_room(const char *room)
{
	if (!chat_room_valid(room, strlen(room)))
		return "a room is # and 1-32 of A-Z a-z 0-9 _ -";
	return NULL;
}
