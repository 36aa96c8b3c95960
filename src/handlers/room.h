/*
 * room.h -- chat rooms (room.c): every room of the server, who is in
 * which, nicks, topics and history, and the few operations every change
 * goes through.
 *
 * The operations that change something are
 *
 *	room_arrive	a newcomer: a guest name, its first room, a welcome
 *	room_move	/join #room and /part: from one room to another
 *	room_leave	gone (/quit, disconnect, timeout)
 *	room_say	a message to one's room (kept in its history)
 *	room_act	a /me line to one's room (kept in its history)
 *	room_topic	set the topic of one's room
 *	room_nick	a new nick (nicks are server-wide)
 *	room_msg	a private message (server-wide)
 *
 * and nothing else touches a room, a topic or a history.  The chat
 * handler calls them for its own participants.  Anything else that can
 * stand for a member by an endpoint -- a bridge to other servers -- can
 * call them the same way: a member behind the bridge is a member here
 * whose endpoint is the bridge, and the bridge forwards each operation it
 * sees here and applies each one it hears with the same call.  The
 * queries (room_who, room_list, room_show_topic) only read.
 *
 * Every operation on a member runs on that member's loop (its
 * endpoint's); the room set's own lock guards what all loops look up.
 */
#ifndef ECHOCHAT_ROOM_H
#define ECHOCHAT_ROOM_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_cmd.h"
#include "handler.h"

struct room;

/*
 * A member, embedded in what the caller keeps per participant.  The rooms
 * never free one; after room_leave the caller may.  The caller sets ep
 * and home before room_arrive.
 */
/*
 * What a broadcast reads of every member (its loop's list, where its
 * lines go, whether it is here, when it entered) comes first, in the
 * first 32 bytes: a line walking a room of thousands then touches one
 * cache line per member instead of three.
 */
struct room_member {
	TAILQ_ENTRY(room_member) local;		/* its room's, on its loop */
	struct endpoint		*ep;		/* where its lines go */
	unsigned int		 remote;	/* 0: here; else the bridge's */
	uint32_t		 joined;	/* join count when it entered */
	char			 nick[CHAT_NICK_MAX + 1];	/* lock */
	char			 home[CHAT_ROOM_MAX + 1];	/* /part */
	uint64_t		 id;		/* set by room_arrive (local) */
	uint64_t		 nick_ms;	/* wall clock it took its nick */
	struct room		*room;		/* where it is (lock to change) */
	TAILQ_ENTRY(room_member) all;		/* every member (nicks) */
	TAILQ_ENTRY(room_member) entry;		/* its room's members */
};

struct rooms;

struct rooms	*rooms_new(void);
/* After every member has left. */
void		 rooms_free(struct rooms *);
/*
 * Settings (every loop held): at most rooms_max rooms, history lines kept
 * per room, and the rooms listeners name, which exist even when empty.
 */
void		 rooms_configure(struct rooms *, unsigned long rooms_max,
		    unsigned int history, const char *const *named,
		    size_t nnamed);

/*
 * What a bridge to other servers sees: each change a member here makes,
 * called on that member's loop after the change.  Members behind the
 * bridge (remote != 0) are not reported.  msg names the target behind
 * the bridge by its remote and id.
 */
struct room_bridge {
	void	(*arrive)(void *, struct room_member *);
	void	(*move)(void *, struct room_member *);
	void	(*leave)(void *, struct room_member *, const char *reason);
	void	(*say)(void *, struct room_member *, const char *, size_t);
	void	(*act)(void *, struct room_member *, const char *, size_t);
	void	(*topic)(void *, struct room_member *, const char *, size_t);
	void	(*nick)(void *, struct room_member *);
	void	(*msg)(void *, struct room_member *, unsigned int remote,
		    uint64_t id, const char *, size_t);
};
void		 rooms_set_bridge(struct rooms *, const struct room_bridge *,
		    void *arg);

/* The changes (see above). */
void		 room_arrive(struct rooms *, struct room_member *);
void		 room_move(struct rooms *, struct room_member *,
		    const char *room, size_t len);
void		 room_leave(struct rooms *, struct room_member *,
		    const char *reason);
void		 room_say(struct rooms *, struct room_member *,
		    const char *text, size_t len);
void		 room_act(struct rooms *, struct room_member *,
		    const char *text, size_t len);
void		 room_topic(struct rooms *, struct room_member *,
		    const char *text, size_t len);
void		 room_nick(struct rooms *, struct room_member *,
		    const char *nick, size_t len);
void		 room_msg(struct rooms *, struct room_member *,
		    const char *to, size_t tolen, const char *text, size_t len);

/* The queries: /who [#room] (len 0: one's own), /rooms, /topic. */
void		 room_who(struct rooms *, struct room_member *,
		    const char *room, size_t len);
void		 room_list(struct rooms *, struct room_member *);
void		 room_show_topic(struct rooms *, struct room_member *);

/* One line (a "\n" is added) to one member, from any loop. */
void		 room_tell(struct room_member *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/*
 * For the bridge, on the bridge's loop.  A member behind it arrives with
 * its nick and room (home) set, quietly (no notice) when it was there
 * before we could hear of it, and may leave quietly.
 */
void		 room_arrive_remote(struct rooms *, struct room_member *,
		    int quiet);
void		 room_leave_quiet(struct rooms *, struct room_member *);
/* The name of m's room (on m's loop, or with the lock held). */
const char	*room_name_of(const struct room_member *);
/* Set a room's topic as heard from elsewhere, with no notice. */
void		 room_topic_quiet(struct rooms *, const char *room,
		    const char *text);
/*
 * Who holds a nick: 1 and its id, nick_ms and remote, or 0 if nobody
 * (other than except) does.
 */
int		 room_nick_holder(struct rooms *, const char *nick,
		    const struct room_member *except, uint64_t *id,
		    uint64_t *nick_ms, unsigned int *remote);
/* A member here lost its nick to an earlier claim: a guest name. */
void		 room_rename_local(struct rooms *, uint64_t id);
/* A line (with "\n") to the member here with that id, if still there. */
void		 room_tell_local(struct rooms *, uint64_t id, const char *line,
		    size_t len);
/* fn for every member here (lock held: fn must not call the rooms). */
void		 rooms_each_local(struct rooms *,
		    void (*fn)(void *, struct room_member *), void *arg);
/* Every member here is told one line. */
void		 rooms_notice(struct rooms *, const char *line);
/* Each room with a topic: fn(arg, room, topic) (lock held). */
void		 rooms_each_topic(struct rooms *,
		    void (*fn)(void *, const char *, const char *), void *arg);

/* [chat] history: lines kept per room (0: none). */
unsigned int	 rooms_history(struct rooms *);
/* Each room: fn(arg, name) (lock held: fn must not call the rooms). */
void		 rooms_each_room(struct rooms *,
		    void (*fn)(void *, const char *), void *arg);
/*
 * A room's history as kept elsewhere (stamped lines, oldest first), if
 * the room exists and has none of its own yet.
 */
void		 room_history_fill(struct rooms *, const char *room,
		    const char *const *lines, const size_t *lens, size_t n);

/* The server is going: tell everyone, and no notices after that. */
void		 rooms_shutdown(struct rooms *);

#endif
