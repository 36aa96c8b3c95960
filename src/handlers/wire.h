/*
 * wire.h -- what servers of a cluster say to each other (wire.c): the
 * text format of one published payload, its header and its records
 * (README "Several servers").  Decoding trusts nothing: a record that is
 * not exactly right is skipped, and a bad header drops the payload.
 *
 * A payload is lines ending in "\n":
 *
 *	E1 NODE INCARNATION SEQ		header: version 1, who, which run,
 *					the sender's payload count
 *	A ID MS NICK #ROOM		a member arrived (nick taken at MS)
 *	S ID MS NICK #ROOM		a member that is there (state)
 *	R				what follows is all the sender has
 *	M ID #ROOM			moved
 *	L ID [REASON]			left
 *	N ID MS NICK			new nick
 *	m ID TEXT			a message
 *	c ID TEXT			a /me line
 *	T ID TEXT			set the topic
 *	O #ROOM TEXT			a room's topic (state)
 *	P NODE ID NICK TEXT		a private message from NICK to ID on NODE
 *	H				heartbeat
 *	Y				hello: tell me what you have
 *	Q				the sender is shutting down
 */
#ifndef ECHOCHAT_WIRE_H
#define ECHOCHAT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_NODE_MAX	64
#define WIRE_NICK_MAX	16
#define WIRE_ROOM_MAX	33
#define WIRE_TEXT_MAX	8192

struct wire_span {
	const char	*ptr;
	size_t		 len;
};

struct wire_header {
	char		 node[WIRE_NODE_MAX + 1];
	uint64_t	 inc;
	uint64_t	 seq;
};

struct wire_rec {
	char		 kind;
	uint64_t	 id;
	uint64_t	 ms;
	char		 node[WIRE_NODE_MAX + 1];	/* P */
	char		 nick[WIRE_NICK_MAX + 1];
	char		 room[WIRE_ROOM_MAX + 1];
	struct wire_span text;		/* L reason, m, c, T, O, P */
};

/*
 * The header of a payload: 0 and *rest past it, or -1 if it is not one
 * of ours (of this version).
 */
int	 wire_header(const char *data, size_t len, struct wire_header *,
	    struct wire_span *rest);
/*
 * The next record of *rest (advanced past it): 1 and *rec, 0 at the end.
 * Bad records are skipped.
 */
int	 wire_next(struct wire_span *rest, struct wire_rec *);
/* Is this a name that may travel (node, nick, room)? */
int	 wire_name_ok(const char *, size_t, size_t max);

#endif
