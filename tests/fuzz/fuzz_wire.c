/*
 * fuzz_wire.c -- libFuzzer harness for the cluster's wire decoder
 * (handlers/wire.c): what another server of a cluster published, as
 * bridge.c takes it apart.
 *
 * The input is one payload.  Its header is decoded, then every record;
 * each field decoded is checked against the rules the decoder promises
 * (names of the allowed characters and lengths, text without control
 * bytes), so a decoder that let anything else through fails here.  The
 * payload is a malloc'd copy of exactly its bytes, so ASan catches a
 * read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/wire.h"
#include "fuzz.h"

static void
check_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	CHECK(n <= max);
	CHECK(n == 0 || wire_name_ok(s, n, max));
}

static void
check_text(const struct wire_span *t, const char *base, size_t len)
{
	size_t i;
	unsigned char c;

	if (t->len == 0)
		return;
	CHECK(t->ptr >= base && t->ptr + t->len <= base + len);
	CHECK(t->len <= WIRE_TEXT_MAX);
	for (i = 0; i < t->len; i++) {
		c = (unsigned char)t->ptr[i];
		CHECK(c >= 0x20 || c == '\t');
		CHECK(c != 0x7f && c != 0xff);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *buf = malloc(len > 0 ? len : 1);
	struct wire_header h;
	struct wire_span rest;
	struct wire_rec r;
	unsigned int n = 0;

	CHECK(buf != NULL);
	memcpy(buf, data, len);
	if (wire_header(buf, len, &h, &rest) == 0) {
		check_name(h.node, WIRE_NODE_MAX);
		CHECK(h.node[0] != '\0');
		CHECK(rest.ptr >= buf && rest.ptr + rest.len == buf + len);
		while (wire_next(&rest, &r)) {
			CHECK(strchr("ASRMLNmcTOPHYQ", r.kind) != NULL);
			check_name(r.node, WIRE_NODE_MAX);
			check_name(r.nick, WIRE_NICK_MAX);
			check_name(r.room, WIRE_ROOM_MAX);
			CHECK(r.room[0] == '\0' || r.room[0] == '#');
			CHECK(strchr(r.nick, '#') == NULL);
			check_text(&r.text, buf, len);
			CHECK(++n <= len);
		}
		CHECK(rest.len == 0);
	}
	free(buf);
	return 0;
}
