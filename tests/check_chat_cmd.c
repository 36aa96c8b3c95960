/*
 * check_chat_cmd.c -- unit tests for chat_cmd.c, the pure part of the chat
 * handler (README "Chat"): chat_clean (control bytes and telnet IAC sequences
 * removed, nothing else touched), chat_parse (messages, empty lines and
 * the /commands with their arguments, the room commands among them),
 * chat_nick_valid (the nick rule) and chat_room_valid (the room rule).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "handlers/chat_cmd.h"

/* --- chat_clean --- */

/* Clean a copy of in (len bytes) and compare with want (wlen bytes). */
static void
expect_clean(const char *in, size_t len, const char *want, size_t wlen)
{
	char *buf = malloc(len + 1);
	size_t n;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, in, len);
	n = chat_clean(buf, len);
	ck_assert_uint_eq(n, wlen);
	ck_assert_mem_eq(buf, want, wlen);
	free(buf);
}

#define CLEAN(in, want) \
	expect_clean(in, sizeof(in) - 1, want, sizeof(want) - 1)

START_TEST(test_clean_plain)
{
	CLEAN("", "");
	CLEAN("hello, world!", "hello, world!");
	CLEAN(" ~`!@#$%^&*()_+{}|:\"<>?[]\\;',./", " ~`!@#$%^&*()_+{}|:\"<>?[]\\;',./");
}
END_TEST

START_TEST(test_clean_controls)
{
	char in[40], want[8];
	int ch;

	/* Every C0 control but TAB, and DEL, goes. */
	for (ch = 0; ch < 0x20; ch++) {
		in[0] = 'a';
		in[1] = (char)ch;
		in[2] = 'b';
		if (ch == '\t') {
			expect_clean(in, 3, "a\tb", 3);
		} else {
			want[0] = 'a';
			want[1] = 'b';
			expect_clean(in, 3, want, 2);
		}
	}
	CLEAN("a\x7f" "b", "ab");
	CLEAN("\0\0\0", "");
	CLEAN("tab\there", "tab\there");
	CLEAN("\r\nline\r\n", "line");
	CLEAN("bell\a\b\f\v!", "bell!");
	CLEAN("\t\t", "\t\t");
}
END_TEST

START_TEST(test_clean_utf8_kept)
{
	CLEAN("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac");
	/* High bytes that are not 0xFF stay (any encoding). */
	CLEAN("\x80\x9b\xa0\xfe", "\x80\x9b\xa0\xfe");
}
END_TEST

START_TEST(test_clean_escape)
{
	CLEAN("\x1b[31mred", "[31mred");
	CLEAN("\x1b[2J\x1b[H" "clear", "[2J[H" "clear");
	CLEAN("\x1b]0;title\x07" "x", "]0;titlex");
}
END_TEST

START_TEST(test_clean_iac_iac)
{
	/* An escaped 0xFF: still must not reach anyone. */
	CLEAN("a\xff\xff" "b", "ab");
	CLEAN("\xff\xff", "");
	CLEAN("\xff\xff\xff\xff", "");
	CLEAN("x\xff\xff\xff\xff" "y", "xy");
}
END_TEST

START_TEST(test_clean_iac_options)
{
	/* IAC WILL/WONT/DO/DONT option: three bytes. */
	CLEAN("a\xff\xfb\x01" "b", "ab");	/* WILL ECHO */
	CLEAN("a\xff\xfc\x03" "b", "ab");	/* WONT SGA */
	CLEAN("a\xff\xfd\x18" "b", "ab");	/* DO TTYPE */
	CLEAN("a\xff\xfe\x22" "b", "ab");	/* DONT LINEMODE */
	/* The option byte goes whatever it is, even a letter or IAC. */
	CLEAN("a\xff\xfdxb", "ab");
	CLEAN("a\xff\xfb\xff" "b", "ab");
	/* What a telnet client sends on connect. */
	CLEAN("\xff\xfd\x03\xff\xfb\x18\xff\xfb\x1f\xff\xfb\x20\xff\xfb\x21"
	    "\xff\xfb\x22\xff\xfb\x27\xff\xfd\x05" "hi", "hi");
}
END_TEST

START_TEST(test_clean_iac_subnegotiation)
{
	/* IAC SB ... IAC SE. */
	CLEAN("a\xff\xfa\x18\x01\xff\xf0" "b", "ab");
	CLEAN("a\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0" "b", "ab");	/* NAWS */
	CLEAN("\xff\xfa\x18\x00VT100\xff\xf0" "ok", "ok");
	CLEAN("\xff\xfa\xff\xf0", "");
	/* Unterminated: nothing of it gets through. */
	CLEAN("a\xff\xfa\x18\x00secret", "a");
}
END_TEST

START_TEST(test_clean_iac_two_byte)
{
	CLEAN("a\xff\xf4" "b", "ab");	/* IP */
	CLEAN("a\xff\xf6" "b", "ab");	/* AYT */
	CLEAN("a\xff\xf1" "b", "ab");	/* NOP */
	CLEAN("a\xff\xf2" "b", "ab");	/* DM */
	CLEAN("a\xff\xf3" "b", "ab");	/* BRK */
	CLEAN("a\xff\xf9" "b", "ab");	/* GA */
	CLEAN("a\xff\xf0" "b", "ab");	/* stray SE */
}
END_TEST

START_TEST(test_clean_iac_at_end)
{
	CLEAN("abc\xff", "abc");
	CLEAN("\xff", "");
	CLEAN("abc\xff\xfb", "abc");	/* WILL without its option */
	CLEAN("abc\xff\xfa", "abc");	/* SB without anything */
	CLEAN("abc\xff\xfa\x18\xff", "abc");
}
END_TEST

/* A small fixed-seed generator, so failures are reproducible. */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

START_TEST(test_clean_property)
{
	/* Bytes that matter to the cleaner come up often. */
	static const unsigned char interesting[] = { 0xff, 0xff, 0xff, 0xfa,
		0xf0, 0xfb, 0xfd, 0xf4, 0x00, 0x1b, 0x7f, '\t', '\r', '\n',
		'a', ' ' };
	uint64_t state = 0x243f6a8885a308d3ULL;
	unsigned char buf[128], orig[128];
	size_t len, n, i;
	int round;

	for (round = 0; round < 10000; round++) {
		len = (size_t)(next_random(&state) % sizeof buf);
		for (i = 0; i < len; i++) {
			uint64_t r = next_random(&state);
			buf[i] = (r & 1) ? interesting[(r >> 1) %
			    sizeof interesting] : (unsigned char)(r >> 8);
		}
		memcpy(orig, buf, len);
		n = chat_clean((char *)buf, len);
		ck_assert_uint_le(n, len);
		for (i = 0; i < n; i++) {
			ck_assert_msg(buf[i] != 0xff, "0xFF left at %zu of "
			    "round %d", i, round);
			ck_assert_msg(buf[i] >= 0x20 || buf[i] == '\t',
			    "control 0x%02x left at %zu of round %d", buf[i],
			    i, round);
			ck_assert_msg(buf[i] != 0x7f, "DEL left at %zu of "
			    "round %d", i, round);
		}
		/* Cleaning is idempotent. */
		ck_assert_uint_eq(chat_clean((char *)buf, n), n);
		/* Input without control bytes or IAC is untouched. */
		for (i = 0; i < len; i++) {
			if (orig[i] == 0xff || orig[i] == 0x7f ||
			    (orig[i] < 0x20 && orig[i] != '\t'))
				break;
		}
		if (i == len) {
			ck_assert_uint_eq(n, len);
			ck_assert_mem_eq(buf, orig, len);
		}
	}
}
END_TEST

/* --- chat_parse --- */

static void
parse(const char *line, struct chat_cmd *cmd)
{
	memset(cmd, 0xa5, sizeof *cmd);		/* no stale fields */
	chat_parse(line, strlen(line), cmd);
}

/* A span equals a string. */
static void
span_is(const struct chat_span *sp, const char *want, const char *what)
{
	size_t wlen = strlen(want);

	ck_assert_msg(sp->len == wlen && (wlen == 0 ||
	    memcmp(sp->ptr, want, wlen) == 0), "%s is \"%.*s\", expected "
	    "\"%s\"", what, (int)sp->len, sp->len ? sp->ptr : "", want);
}

START_TEST(test_parse_text)
{
	struct chat_cmd cmd;
	const char *line = "hello there";

	chat_parse(line, strlen(line), &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "hello there", "text");
	ck_assert_ptr_eq(cmd.text.ptr, line);	/* a span of the input */
	parse("  leading blanks, trailing too  ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "  leading blanks, trailing too  ", "text");
	parse(" /me is not a command", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, " /me is not a command", "text");
	parse("a/b", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "a/b", "text");
}
END_TEST

START_TEST(test_parse_double_slash)
{
	struct chat_cmd cmd;

	parse("//text", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "/text", "text");
	parse("//", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "/", "text");
	parse("//me waves", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "/me waves", "text");
}
END_TEST

START_TEST(test_parse_empty)
{
	struct chat_cmd cmd;

	parse("", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_EMPTY);
	parse(" ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_EMPTY);
	parse(" \t  \t", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_EMPTY);
}
END_TEST

START_TEST(test_parse_me)
{
	struct chat_cmd cmd;

	parse("/me waves", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ME);
	span_is(&cmd.name, "me", "name");
	span_is(&cmd.text, "waves", "text");
	parse("/me   waves at  everyone \t", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ME);
	span_is(&cmd.text, "waves at  everyone", "text");
	parse("/me", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ME);
	span_is(&cmd.text, "", "text");
	parse("/ME shouts", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ME);
	span_is(&cmd.text, "shouts", "text");
}
END_TEST

START_TEST(test_parse_nick)
{
	struct chat_cmd cmd;

	parse("/nick bob", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_NICK);
	span_is(&cmd.name, "nick", "name");
	span_is(&cmd.arg, "bob", "arg");
	span_is(&cmd.text, "", "text");
	parse("/nick\tbob  ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_NICK);
	span_is(&cmd.arg, "bob", "arg");
	span_is(&cmd.text, "", "text");
	parse("/nick", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_NICK);
	span_is(&cmd.arg, "", "arg");
	/* Extra words are left in text, for the handler to refuse. */
	parse("/nick bob smith", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_NICK);
	span_is(&cmd.arg, "bob", "arg");
	span_is(&cmd.text, "smith", "text");
}
END_TEST

START_TEST(test_parse_msg)
{
	struct chat_cmd cmd;

	parse("/msg bob hello there", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_MSG);
	span_is(&cmd.name, "msg", "name");
	span_is(&cmd.arg, "bob", "arg");
	span_is(&cmd.text, "hello there", "text");
	parse("/msg  bob   hello  there  ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_MSG);
	span_is(&cmd.arg, "bob", "arg");
	span_is(&cmd.text, "hello  there", "text");
	parse("/msg bob", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_MSG);
	span_is(&cmd.arg, "bob", "arg");
	span_is(&cmd.text, "", "text");
	parse("/msg", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_MSG);
	span_is(&cmd.arg, "", "arg");
	span_is(&cmd.text, "", "text");
}
END_TEST

START_TEST(test_parse_quit)
{
	struct chat_cmd cmd;

	parse("/quit", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_QUIT);
	span_is(&cmd.name, "quit", "name");
	span_is(&cmd.text, "", "text");
	parse("/quit   ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_QUIT);
	span_is(&cmd.text, "", "text");
	parse("/quit gone fishing", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_QUIT);
	span_is(&cmd.text, "gone fishing", "text");
	parse("/quit  gone fishing \t ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_QUIT);
	span_is(&cmd.text, "gone fishing", "text");
}
END_TEST

START_TEST(test_parse_who_help)
{
	struct chat_cmd cmd;

	parse("/who", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_WHO);
	span_is(&cmd.name, "who", "name");
	parse("/help", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_HELP);
	span_is(&cmd.name, "help", "name");
	parse("/HELP", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_HELP);
	span_is(&cmd.name, "HELP", "name");
	parse("/HeLp ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_HELP);
	parse("/Who", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_WHO);
	parse("/NICK bob", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_NICK);
	span_is(&cmd.arg, "bob", "arg");
}
END_TEST

START_TEST(test_parse_join)
{
	struct chat_cmd cmd;

	parse("/join 0123456789abcdefTOKEN", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_JOIN);
	span_is(&cmd.name, "join", "name");
	span_is(&cmd.arg, "0123456789abcdefTOKEN", "arg");
	span_is(&cmd.text, "", "text");
	parse("/join", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_JOIN);
	span_is(&cmd.arg, "", "arg");
}
END_TEST

START_TEST(test_parse_unknown)
{
	struct chat_cmd cmd;

	parse("/frobnicate", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	span_is(&cmd.name, "frobnicate", "name");
	parse("/frobnicate the widgets", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	span_is(&cmd.name, "frobnicate", "name");
	/* Prefixes and extensions of commands are not the commands. */
	parse("/he", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	span_is(&cmd.name, "he", "name");
	parse("/helpme", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	span_is(&cmd.name, "helpme", "name");
	parse("/m", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
}
END_TEST

START_TEST(test_parse_slash_alone)
{
	struct chat_cmd cmd;

	parse("/", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	span_is(&cmd.name, "", "name");
	parse("/ hello", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	span_is(&cmd.name, "", "name");
}
END_TEST

START_TEST(test_parse_rooms)
{
	struct chat_cmd cmd;

	parse("/join #Dev", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_JOIN);
	span_is(&cmd.arg, "#Dev", "arg");
	span_is(&cmd.text, "", "text");
	parse("/JOIN \t#dev  extra ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_JOIN);
	span_is(&cmd.arg, "#dev", "arg");
	span_is(&cmd.text, "extra", "text");
	parse("/part", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_PART);
	span_is(&cmd.name, "part", "name");
	parse("/Part bye now", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_PART);
	span_is(&cmd.text, "bye now", "text");
	parse("/rooms", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ROOMS);
	parse("/list", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ROOMS);
	span_is(&cmd.name, "list", "name");
	parse("/LiSt", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_ROOMS);
	parse("/roomsx", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_UNKNOWN);
	parse("/who #dev", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_WHO);
	span_is(&cmd.arg, "#dev", "arg");
	parse("/who", &cmd);
	span_is(&cmd.arg, "", "arg");
	parse("/topic", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TOPIC);
	span_is(&cmd.text, "", "text");
	parse("/topic  Release on\tFriday  ", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TOPIC);
	span_is(&cmd.arg, "", "arg");
	span_is(&cmd.text, "Release on\tFriday", "text");
	/* "//join #x" is a message. */
	parse("//join #x", &cmd);
	ck_assert_int_eq(cmd.kind, CHAT_TEXT);
	span_is(&cmd.text, "/join #x", "text");
}
END_TEST

/* Spans always lie inside the line, whatever it is. */
START_TEST(test_parse_spans_in_bounds)
{
	static const char alphabet[] =
	    "/ \tmsgnickquitjoinhelpwhoparttopicroomslist# ab/";
	uint64_t state = 0x13198a2e03707344ULL;
	char line[24];
	struct chat_cmd cmd;
	const struct chat_span *sp[3];
	size_t len, i, k;
	int round;

	for (round = 0; round < 20000; round++) {
		len = (size_t)(next_random(&state) % sizeof line);
		for (i = 0; i < len; i++)
			line[i] = alphabet[next_random(&state) %
			    (sizeof alphabet - 1)];
		chat_parse(line, len, &cmd);
		sp[0] = &cmd.name;
		sp[1] = &cmd.arg;
		sp[2] = &cmd.text;
		for (k = 0; k < 3; k++) {
			if (sp[k]->len == 0)
				continue;
			ck_assert(sp[k]->ptr >= line);
			ck_assert(sp[k]->ptr + sp[k]->len <= line + len);
		}
	}
}
END_TEST

/* --- chat_nick_valid --- */

START_TEST(test_nick_lengths)
{
	static const char s17[] = "abcdefghijklmnopq";

	ck_assert_int_eq(chat_nick_valid("a", 1), 1);
	ck_assert_int_eq(chat_nick_valid("bob", 3), 1);
	ck_assert_int_eq(chat_nick_valid(s17, 16), 1);
	ck_assert_int_eq(chat_nick_valid(s17, 17), 0);
	ck_assert_int_eq(chat_nick_valid("", 0), 0);
	ck_assert_int_eq(CHAT_NICK_MAX, 16);
}
END_TEST

START_TEST(test_nick_charset)
{
	char nick[2] = { 0, 0 };
	int ch, ok;

	ck_assert_int_eq(chat_nick_valid("Az09_-", 6), 1);
	ck_assert_int_eq(chat_nick_valid("guest1", 6), 1);
	ck_assert_int_eq(chat_nick_valid("-_-", 3), 1);
	ck_assert_int_eq(chat_nick_valid("ZZ", 2), 1);
	ck_assert_int_eq(chat_nick_valid("bob smith", 9), 0);
	ck_assert_int_eq(chat_nick_valid("bob.smith", 9), 0);
	ck_assert_int_eq(chat_nick_valid("caf\xc3\xa9", 5), 0);
	ck_assert_int_eq(chat_nick_valid("bob\t", 4), 0);
	ck_assert_int_eq(chat_nick_valid("bob\0x", 5), 0);
	ck_assert_int_eq(chat_nick_valid("*bob*", 5), 0);
	/* Every single byte: exactly A-Z a-z 0-9 _ - pass. */
	for (ch = 0; ch < 256; ch++) {
		nick[0] = (char)ch;
		ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
		ck_assert_msg(chat_nick_valid(nick, 1) == ok, "byte 0x%02x",
		    ch);
	}
}
END_TEST

/* --- chat_room_valid --- */

START_TEST(test_room_names)
{
	static const char s33[] = "#abcdefghijklmnopqrstuvwxyzABCDEF";
	char room[3] = { '#', 0, 0 };
	int ch, ok;

	ck_assert_int_eq(CHAT_ROOM_MAX, 33);
	ck_assert_int_eq(chat_room_valid("#lobby", 6), 1);
	ck_assert_int_eq(chat_room_valid("#a", 2), 1);
	ck_assert_int_eq(chat_room_valid("#Az09_-", 7), 1);
	ck_assert_int_eq(chat_room_valid(s33, 33), 1);
	ck_assert_int_eq(chat_room_valid(s33, 34), 0);
	ck_assert_int_eq(chat_room_valid("#", 1), 0);
	ck_assert_int_eq(chat_room_valid("", 0), 0);
	ck_assert_int_eq(chat_room_valid("lobby", 5), 0);
	ck_assert_int_eq(chat_room_valid("##a", 3), 0);
	ck_assert_int_eq(chat_room_valid("#a b", 4), 0);
	ck_assert_int_eq(chat_room_valid("#caf\xc3\xa9", 6), 0);
	ck_assert_int_eq(chat_room_valid("#a\0", 3), 0);
	/* Only the length given is looked at. */
	ck_assert_int_eq(chat_room_valid("#ab cd", 3), 1);
	for (ch = 0; ch < 256; ch++) {
		room[1] = (char)ch;
		ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
		ck_assert_msg(chat_room_valid(room, 2) == ok, "byte 0x%02x",
		    ch);
	}
}
END_TEST

static Suite *
chat_cmd_suite(void)
{
	Suite *s = suite_create("chat_cmd");
	TCase *tc;

	tc = tcase_create("clean");
	tcase_add_test(tc, test_clean_plain);
	tcase_add_test(tc, test_clean_controls);
	tcase_add_test(tc, test_clean_utf8_kept);
	tcase_add_test(tc, test_clean_escape);
	tcase_add_test(tc, test_clean_iac_iac);
	tcase_add_test(tc, test_clean_iac_options);
	tcase_add_test(tc, test_clean_iac_subnegotiation);
	tcase_add_test(tc, test_clean_iac_two_byte);
	tcase_add_test(tc, test_clean_iac_at_end);
	tcase_add_test(tc, test_clean_property);
	tcase_set_timeout(tc, 30);	/* valgrind */
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_test(tc, test_parse_text);
	tcase_add_test(tc, test_parse_double_slash);
	tcase_add_test(tc, test_parse_empty);
	tcase_add_test(tc, test_parse_me);
	tcase_add_test(tc, test_parse_nick);
	tcase_add_test(tc, test_parse_msg);
	tcase_add_test(tc, test_parse_quit);
	tcase_add_test(tc, test_parse_who_help);
	tcase_add_test(tc, test_parse_join);
	tcase_add_test(tc, test_parse_rooms);
	tcase_add_test(tc, test_parse_unknown);
	tcase_add_test(tc, test_parse_slash_alone);
	tcase_add_test(tc, test_parse_spans_in_bounds);
	tcase_set_timeout(tc, 30);	/* valgrind */
	suite_add_tcase(s, tc);

	tc = tcase_create("nick");
	tcase_add_test(tc, test_nick_lengths);
	tcase_add_test(tc, test_nick_charset);
	suite_add_tcase(s, tc);

	tc = tcase_create("room");
	tcase_add_test(tc, test_room_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(chat_cmd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
