/*
 * room.h -- a chat room (room.c): members, nicks, and the few operations
 * everything said in a room goes through: join, leave, say, act, nick,
 * private message, who.  The chat handler calls these for its own
 * participants; anything else that can represent a member by an endpoint
 * (a bridge to other servers) can call them the same way.
 */
#ifndef ECHOCHAT_ROOM_H
#define ECHOCHAT_ROOM_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_cmd.h"
#include "handler.h"

/*
 * A member, embedded in what the caller keeps per participant.  The room
 * never frees one; after room_leave the caller may.
 */
struct room_member {
	char			 nick[CHAT_NICK_MAX + 1];	/* room lock */
	struct endpoint		*ep;		/* where its lines go */
	uint32_t		 joined;	/* the room's join count */
	TAILQ_ENTRY(room_member) entry;		/* every member */
	TAILQ_ENTRY(room_member) local;		/* members on its loop */
};

struct room;

struct room	*room_new(void);
void		 room_free(struct room *);

/* On m's loop: give it a guest name, welcome it, tell the others. */
void		 room_join(struct room *, struct room_member *);
/* On m's loop: take it out, telling the others (reason may be NULL). */
void		 room_leave(struct room *, struct room_member *,
		    const char *reason);
/* A message, an action (/me), a nick change, a private message, /who. */
void		 room_say(struct room *, struct room_member *,
		    const char *text, size_t len);
void		 room_act(struct room *, struct room_member *,
		    const char *text, size_t len);
void		 room_nick(struct room *, struct room_member *,
		    const char *nick, size_t len);
void		 room_msg(struct room *, struct room_member *,
		    const char *to, size_t tolen, const char *text, size_t len);
void		 room_who(struct room *, struct room_member *);
/* One line (a "\n" is added) to one member, from any loop. */
void		 room_tell(struct room_member *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* The server is going: tell everyone, and no notices after that. */
void		 room_shutdown(struct room *);
unsigned int	 room_count(struct room *);

#endif
