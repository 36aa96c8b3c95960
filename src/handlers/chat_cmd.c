/*
 * chat_cmd.c -- the pure part of chat: cleaning text of control bytes and
 * telnet commands, telling commands from messages, nick and room name
 * rules.  No
 * sockets and no state, so it can be unit-tested and fuzzed on its own.
 */
#include <string.h>
#include <strings.h>

#include "chat_cmd.h"

#define IAC	0xFF
#define SB	0xFA
#define SE	0xF0
#define WILL	0xFB
#define DONT	0xFE

/* Is this byte a control byte chat text must not carry? */
static int
is_control(unsigned char ch)
{
	return (ch < 0x20 && ch != '\t') || ch == 0x7F;
}

/*
 * How many bytes of the telnet command at s[0] == IAC to skip:
 * IAC IAC (an escaped 0xFF, which still must not reach anyone), IAC
 * WILL/WONT/DO/DONT opt, IAC SB ... IAC SE, IAC and any other command
 * byte; a stray IAC alone goes by itself.
 */
static size_t
telnet_skip(const unsigned char *s, size_t len)
{
	size_t i;

	if (len < 2)
		return len;
	if (s[1] >= WILL && s[1] <= DONT)
		return len < 3 ? len : 3;
	if (s[1] == SB) {
		for (i = 2; i + 1 < len; i++) {
			if (s[i] == IAC && s[i + 1] == SE)
				return i + 2;
		}
		return len;	/* unterminated: the rest of the line */
	}
	if (s[1] >= SE)
		return 2;	/* IAC IAC, IP, AYT, NOP, DM, ... */
	return 1;
}

/* Remove control bytes and telnet commands in place; the new length. */
size_t
chat_clean(char *text, size_t len)
{
	unsigned char *s = (unsigned char *)text;
	size_t in = 0, out = 0;

	while (in < len) {
		if (s[in] == IAC) {
			in += telnet_skip(s + in, len - in);
			continue;
		}
		if (!is_control(s[in]))
			s[out++] = s[in];
		in++;
	}
	return out;
}

/* Is the whole text spaces and tabs (or empty)? */
static int
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	}
	return 1;
}

/* Skip spaces and tabs. */
static size_t
skip_blanks(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* The word at s[i..]; returns the index after it. */
static size_t
take_word(const char *s, size_t len, size_t i, struct chat_span *word)
{
	size_t start = i;

	while (i < len && s[i] != ' ' && s[i] != '\t')
		i++;
	word->ptr = s + start;
	word->len = i - start;
	return i;
}

static const struct {
	const char		*name;
	enum chat_cmd_kind	 kind;
} commands[] = {
	{ "me", CHAT_ME },
	{ "nick", CHAT_NICK },
	{ "who", CHAT_WHO },
	{ "msg", CHAT_MSG },
	{ "quit", CHAT_QUIT },
	{ "help", CHAT_HELP },
	{ "join", CHAT_JOIN },
	{ "part", CHAT_PART },
	{ "rooms", CHAT_ROOMS },
	{ "list", CHAT_ROOMS },		/* as IRC users type it */
	{ "topic", CHAT_TOPIC },
};

/* Which command a name is (any case), or CHAT_UNKNOWN. */
static enum chat_cmd_kind
command_kind(const struct chat_span *name)
{
	size_t i;

	for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strlen(commands[i].name) == name->len &&
		    strncasecmp(commands[i].name, name->ptr, name->len) == 0)
			return commands[i].kind;
	}
	return CHAT_UNKNOWN;
}

/*
 * Read one cleaned line: a message, an empty line, or a command with its
 * arguments.  "//text" is the message "/text".  Spans point into line.
 */
void
chat_parse(const char *line, size_t len, struct chat_cmd *cmd)
{
	size_t i;

	memset(cmd, 0, sizeof *cmd);
	if (is_blank(line, len)) {
		cmd->kind = CHAT_EMPTY;
		return;
	}
	if (line[0] != '/' || (len > 1 && line[1] == '/')) {
		cmd->kind = CHAT_TEXT;
		cmd->text.ptr = line[0] == '/' ? line + 1 : line;
		cmd->text.len = line[0] == '/' ? len - 1 : len;
		return;
	}
	i = take_word(line, len, 1, &cmd->name);
	cmd->kind = command_kind(&cmd->name);
	i = skip_blanks(line, len, i);
	if (cmd->kind == CHAT_NICK || cmd->kind == CHAT_MSG ||
	    cmd->kind == CHAT_JOIN || cmd->kind == CHAT_WHO) {
		i = take_word(line, len, i, &cmd->arg);
		i = skip_blanks(line, len, i);
	}
	cmd->text.ptr = line + i;
	cmd->text.len = len - i;
	/* Trailing blanks are not part of a reason or a nick's message. */
	while (cmd->text.len > 0 && (cmd->text.ptr[cmd->text.len - 1] == ' ' ||
	    cmd->text.ptr[cmd->text.len - 1] == '\t'))
		cmd->text.len--;
}

/* Is every byte one of A-Z a-z 0-9 _ -? */
static int
all_name_chars(const char *s, size_t len)
{
	size_t i;
	char ch;

	for (i = 0; i < len; i++) {
		ch = s[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* 1-16 of A-Z a-z 0-9 _ -. */
int
chat_nick_valid(const char *nick, size_t len)
{
	return len >= 1 && len <= CHAT_NICK_MAX && all_name_chars(nick, len);
}

/* '#' and 1-32 of A-Z a-z 0-9 _ -. */
int
chat_room_valid(const char *room, size_t len)
{
	return len >= 2 && len <= CHAT_ROOM_MAX && room[0] == '#' &&
	    all_name_chars(room + 1, len - 1);
}
