/*
 * chat_cmd.h -- the chat handler's pure helpers (chat_cmd.c), shared with
 * chat.c, the room (room.c), the unit tests and the fuzzers.
 */
#ifndef ECHOCHAT_CHAT_CMD_H
#define ECHOCHAT_CHAT_CMD_H

#include <stddef.h>

#define CHAT_NICK_MAX	16
/* A room name: '#' and 1-32 of A-Z a-z 0-9 _ - (README "Rooms"). */
#define CHAT_ROOM_MAX	33

enum chat_cmd_kind {
	CHAT_EMPTY,	/* nothing to do */
	CHAT_TEXT,	/* a message to everyone */
	CHAT_ME, CHAT_NICK, CHAT_WHO, CHAT_MSG, CHAT_QUIT, CHAT_HELP,
	CHAT_JOIN,	/* /join #room, or the UDP handshake /join TOKEN */
	CHAT_PART, CHAT_ROOMS, CHAT_TOPIC,
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
	struct chat_span	arg;	/* NAME of /nick, /msg; #room or TOKEN
					   of /join; #room of /who */
	struct chat_span	text;	/* message, action, reason */
};

size_t	chat_clean(char *text, size_t len);
void	chat_parse(const char *line, size_t len, struct chat_cmd *);
int	chat_nick_valid(const char *nick, size_t len);
int	chat_room_valid(const char *room, size_t len);

#endif
