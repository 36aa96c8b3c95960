/*
 * chat_settings.c -- the keys of [chat] and their ranges.  Their defaults
 * are in conf/echochatd.ini.  A file of its own so that what reads
 * configurations (the config fuzzer) can know chat's keys without the
 * rest of chat.
 */
#include <stdint.h>

#include "chat.h"

const struct hsetting_def chat_settings[] = {
	{ "udp_peer_timeout", HSETTING_DURATION, 1000, UINT64_MAX },
	{ "udp_peers_max", HSETTING_COUNT, 0, 1000000 },
	{ "chat_rate", HSETTING_COUNT, 0, 1000000 },
	{ "chat_burst", HSETTING_COUNT, 1, 1000000 },
	{ NULL, 0, 0, 0 }
};

