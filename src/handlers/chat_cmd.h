/*
 * chat_cmd.h -- the chat handler's pure helpers (chat_cmd.c), shared with
 * chat.c, the room (room.c), the unit tests and the fuzzers.
 */
#ifndef ECHOCHAT_CHAT_CMD_H
#define ECHOCHAT_CHAT_CMD_H

#include <stddef.h>

#define CHAT_NICK_MAX	16

enum chat_cmd_kind {
	CHAT_EMPTY,	/* nothing to do */
	CHAT_TEXT,	/* a message to everyone */
	CHAT_ME, CHAT_NICK, CHAT_WHO, CHAT_MSG, CHAT_QUIT, CHAT_HELP,
	CHAT_JOIN,	/* UDP handshake */
	CHAT_UNKNOWN	/* a /word we do not know */
};

/* A piece of the input line (not NUL-terminated). */
struct chat_span {
	const char	*ptr;
	size_t		 len;
};

struct chat_cmd {
	enum chat_cmd_kind	kind;
	struct chat_span	name;	/* the command word, without '/' */
	struct chat_span	arg;	/* NAME of /nick, /msg; TOKEN of /join */
	struct chat_span	text;	/* message, action, reason */
};

size_t	chat_clean(char *text, size_t len);
void	chat_parse(const char *line, size_t len, struct chat_cmd *);
int	chat_nick_valid(const char *nick, size_t len);

#endif
