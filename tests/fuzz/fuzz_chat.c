/*
 * fuzz_chat.c -- libFuzzer harness for chat input processing (chat_cmd.c):
 * chat_clean, chat_parse, chat_nick_valid and chat_room_valid, as chat.c
 * applies them to each line a client sends (the room commands /join
 * #room, /part, /rooms, /list, /who #room and /topic among them).
 *
 * The input is what a client sends; it is split at LF into lines, each
 * line loses its LF and a CR before it (frame_strip_eol, as the framer
 * does), is cleaned and parsed.  Every buffer handed to the code under
 * test is a malloc'd copy of exactly the bytes it may look at, so ASan
 * catches a read past the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "handlers/chat_cmd.h"
#include "fuzz.h"

/* A copy of exactly len bytes (a valid pointer even for len 0). */
static char *
copy(const void *p, size_t len)
{
	char *c = malloc(len > 0 ? len : 1);

	CHECK(c != NULL);
	memcpy(c, p, len);
	return c;
}

/* The nick rule written out again: 1-16 of A-Z a-z 0-9 _ -. */
static int
ref_nick_valid(const char *s, size_t len)
{
	size_t i;
	unsigned char ch;

	if (len < 1 || len > 16)
		return 0;
	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* The room rule written out again: '#' and 1-32 of the nick bytes. */
static int
ref_room_valid(const char *s, size_t len)
{
	size_t i;
	unsigned char ch;

	if (len < 2 || len > 33 || s[0] != '#')
		return 0;
	for (i = 1; i < len; i++) {
		ch = (unsigned char)s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A span is unset, or lies inside line[0..len]. */
static void
check_span(const struct chat_span *s, const char *line, size_t len)
{
	if (s->ptr == NULL) {
		CHECK(s->len == 0);
		return;
	}
	CHECK(s->ptr >= line && s->ptr <= line + len);
	CHECK(s->len <= (size_t)(line + len - s->ptr));
}

static void
check_nick(const struct chat_span *s)
{
	if (s->ptr != NULL) {
		CHECK(chat_nick_valid(s->ptr, s->len) ==
		    ref_nick_valid(s->ptr, s->len));
		CHECK(chat_room_valid(s->ptr, s->len) ==
		    ref_room_valid(s->ptr, s->len));
	}
}

/* Is a a subsequence of b? */
static int
subsequence(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j;

	for (j = 0; j < blen && i < alen; j++) {
		if (a[i] == b[j])
			i++;
	}
	return i == alen;
}

/* Parse one cleaned line and check what comes back. */
static void
parse_line(const char *clean, size_t len)
{
	char *line = copy(clean, len);
	struct chat_cmd cmd;
	size_t i;
	int blank = 1;

	for (i = 0; i < len; i++)
		blank = blank && is_blank(line[i]);
	memset(&cmd, 0xA5, sizeof cmd);
	chat_parse(line, len, &cmd);
	CHECK(cmd.kind >= CHAT_EMPTY && cmd.kind <= CHAT_UNKNOWN);
	check_span(&cmd.name, line, len);
	check_span(&cmd.arg, line, len);
	check_span(&cmd.text, line, len);
	check_nick(&cmd.name);
	check_nick(&cmd.arg);
	check_nick(&cmd.text);

	switch (cmd.kind) {
	case CHAT_EMPTY:
		CHECK(blank);
		CHECK(cmd.name.ptr == NULL && cmd.arg.ptr == NULL &&
		    cmd.text.ptr == NULL);
		break;
	case CHAT_TEXT:
		CHECK(!blank);
		CHECK(cmd.name.ptr == NULL && cmd.arg.ptr == NULL);
		if (line[0] == '/') {
			/* "//text" is the message "/text". */
			CHECK(len >= 2 && line[1] == '/');
			CHECK(cmd.text.ptr == line + 1 &&
			    cmd.text.len == len - 1);
		} else {
			CHECK(cmd.text.ptr == line && cmd.text.len == len);
		}
		break;
	default:
		/* A command: "/" NAME [ARG] [TEXT]. */
		CHECK(!blank && len >= 1 && line[0] == '/');
		CHECK(len == 1 || line[1] != '/');
		CHECK(cmd.name.ptr == line + 1);
		for (i = 0; i < cmd.name.len; i++)
			CHECK(!is_blank(cmd.name.ptr[i]));
		if (cmd.kind == CHAT_NICK || cmd.kind == CHAT_MSG ||
		    cmd.kind == CHAT_JOIN || cmd.kind == CHAT_WHO) {
			CHECK(cmd.arg.ptr != NULL);
			CHECK(cmd.arg.ptr >= cmd.name.ptr + cmd.name.len);
			for (i = 0; i < cmd.arg.len; i++)
				CHECK(!is_blank(cmd.arg.ptr[i]));
			CHECK(cmd.text.ptr >= cmd.arg.ptr + cmd.arg.len);
		} else {
			CHECK(cmd.arg.ptr == NULL);
			CHECK(cmd.text.ptr >= cmd.name.ptr + cmd.name.len);
		}
		CHECK(cmd.text.ptr != NULL);
		/* Text has no blanks at either end. */
		if (cmd.text.len > 0) {
			CHECK(!is_blank(cmd.text.ptr[0]));
			CHECK(!is_blank(cmd.text.ptr[cmd.text.len - 1]));
		}
		/* Only blanks after the text. */
		for (i = (size_t)(cmd.text.ptr - line) + cmd.text.len;
		    i < len; i++)
			CHECK(is_blank(line[i]));
		break;
	}
	free(line);
}

/* One line as the framer hands it over: with its LF, if it had one. */
static void
chat_input(const uint8_t *raw, size_t rawlen)
{
	char *line = copy(raw, rawlen), *again;
	size_t len, clean, i;
	unsigned char ch;

	len = frame_strip_eol(line, rawlen);
	CHECK(len <= rawlen && rawlen - len <= 2);
	CHECK(chat_nick_valid(line, len) == ref_nick_valid(line, len));
	CHECK(chat_room_valid(line, len) == ref_room_valid(line, len));

	clean = chat_clean(line, len);
	CHECK(clean <= len);
	for (i = 0; i < clean; i++) {
		ch = (unsigned char)line[i];
		CHECK(ch >= 0x20 || ch == '\t');
		CHECK(ch != 0x7F && ch != 0xFF);
	}
	/* Cleaning only removes bytes... */
	CHECK(subsequence(line, clean, (const char *)raw, len));
	/* ...and clean text stays as it is. */
	again = copy(line, clean);
	CHECK(chat_clean(again, clean) == clean);
	CHECK(memcmp(again, line, clean) == 0);
	free(again);

	parse_line(line, clean);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf;
	size_t n;

	while (size > 0) {
		lf = memchr(data, '\n', size);
		n = lf != NULL ? (size_t)(lf - data) + 1 : size;
		chat_input(data, n);
		data += n;
		size -= n;
	}
	return 0;
}
