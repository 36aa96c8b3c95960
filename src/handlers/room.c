/*
 * room.c -- a chat room shared by every chat listener and every loop.
 *
 * A message is formatted once into a shared line that every recipient's
 * output queue references, so a broadcast copies the text only once.
 *
 * With workers = N the room spans every loop.  Each member lives on one
 * loop (its endpoint's) and is written to only from there: a broadcast
 * hands the one shared line to every other loop that has members, which
 * sends it to its own; a line for one member elsewhere travels with
 * endpoint_deliver.  The room lock guards what all loops look up -- the
 * member list, nicks, counts -- never the sending.
 *
 * Joins are numbered.  A line carries the join count at the time it was
 * said, and a member who joined later (on another loop, before the line
 * got there) does not hear it.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "room.h"

TAILQ_HEAD(member_list, room_member);

struct room {
	struct hlock		*lock;
	struct member_list	 members;	/* room lock */
	unsigned int		 count;		/* room lock */
	unsigned int		 nloops;
	struct member_list	*local;		/* per loop, its own */
	atomic_uint		*local_count;	/* per loop */
	atomic_uint		 joins;		/* ever; set under the lock */
	unsigned long		 next_guest;	/* room lock */
	int			 closing;	/* shutting down: no notices */
};

/* A broadcast on its way to one other loop. */
struct room_post {
	struct room		*room;
	unsigned int		 loop;
	struct endpoint		*except;	/* ref'd; may be NULL */
	struct shared_line	*line;
	uint32_t		 joins;
};

struct room *
room_new(void)
{
	struct room *room = calloc(1, sizeof *room);
	unsigned int i;

	if (room == NULL)
		abort();
	room->lock = hlock_new();
	TAILQ_INIT(&room->members);
	room->nloops = hloops();
	room->local = calloc(room->nloops, sizeof *room->local);
	room->local_count = calloc(room->nloops, sizeof *room->local_count);
	if (room->local == NULL || room->local_count == NULL)
		abort();
	for (i = 0; i < room->nloops; i++) {
		TAILQ_INIT(&room->local[i]);
		atomic_init(&room->local_count[i], 0);
	}
	hcount(HCOUNT_CHAT_ROOMS, 1);
	return room;
}

void
room_free(struct room *room)
{
	hcount(HCOUNT_CHAT_ROOMS, -1);
	hlock_free(room->lock);
	free(room->local);
	free(room->local_count);
	free(room);
}

unsigned int
room_count(struct room *room)
{
	unsigned int n;

	hlock_acquire(room->lock);
	n = room->count;
	hlock_release(room->lock);
	return n;
}

/* printf a line (adding "\n") to one member, wherever it is. */
void
room_tell(struct room_member *m, const char *fmt, ...)
{
	char buf[CHAT_NICK_MAX * 2 + 4096 + 64], *line = buf;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof buf - 1) {
		if ((line = malloc((size_t)n + 2)) == NULL)
			abort();
		va_start(ap, fmt);
		vsnprintf(line, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	line[n++] = '\n';
	endpoint_send(m->ep, line, (size_t)n);
	if (line != buf)
		free(line);
}

/* Everyone of loop i but except, who had joined by joins, gets the line. */
static void
local_broadcast(struct room *room, unsigned int i, struct endpoint *except,
    struct shared_line *sl, uint32_t joins)
{
	struct room_member *m;
	long n = 0;

	TAILQ_FOREACH(m, &room->local[i], local) {
		if (m->ep != except && (int32_t)(m->joined - joins) <= 0) {
			endpoint_deliver(m->ep, sl, NULL);
			n++;
		}
	}
	hcount(HCOUNT_CHAT_DELIVERIES, n);
}

/* On one other loop: its share of a broadcast. */
static void
room_post_run(void *arg)
{
	struct room_post *rp = arg;

	local_broadcast(rp->room, rp->loop, rp->except, rp->line, rp->joins);
	shared_line_unref(rp->line);
	if (rp->except != NULL)
		endpoint_unref(rp->except);
	free(rp);
}

/*
 * Everyone but except who had joined by the given join count gets the
 * line; it is built once and shared by every loop that has members.
 * Takes over the reference to sl.
 */
static void
broadcast_since(struct room *room, struct room_member *except,
    struct shared_line *sl, uint32_t joins)
{
	struct endpoint *from = except != NULL ? except->ep : NULL;
	struct room_post *rp;
	unsigned int i, here = hloop_here();

	for (i = 0; i < room->nloops; i++) {
		if (i == here) {
			local_broadcast(room, i, from, sl, joins);
			continue;
		}
		if (atomic_load_explicit(&room->local_count[i],
		    memory_order_relaxed) == 0)
			continue;
		if ((rp = malloc(sizeof *rp)) == NULL)
			abort();
		rp->room = room;
		rp->loop = i;
		rp->except = from;
		rp->line = sl;
		rp->joins = joins;
		shared_line_ref(sl);
		if (from != NULL)
			endpoint_ref(from);	/* its address stays its */
		hloop_run(i, room_post_run, rp, from);
	}
	shared_line_unref(sl);
}

/* Everyone in the room now but except gets the line. */
static void
broadcast(struct room *room, struct room_member *except,
    struct shared_line *sl)
{
	broadcast_since(room, except, sl,
	    atomic_load_explicit(&room->joins, memory_order_acquire));
}

/* The member whose nick matches, ignoring case (room lock held). */
static struct room_member *
find_nick(struct room *room, const char *nick, size_t len)
{
	struct room_member *m;

	TAILQ_FOREACH(m, &room->members, entry) {
		if (strlen(m->nick) == len && strncasecmp(m->nick, nick,
		    len) == 0)
			return m;
	}
	return NULL;
}

/* The next guestN not in use (room lock held). */
static void
name_guest(struct room *room, struct room_member *m)
{
	do {
		snprintf(m->nick, sizeof m->nick, "guest%lu",
		    ++room->next_guest);
	} while (find_nick(room, m->nick, strlen(m->nick)) != NULL);
}

void
room_join(struct room *room, struct room_member *m)
{
	unsigned int i = endpoint_loop(m->ep);

	/*
	 * All under the lock, the join count last: a broadcast that sees
	 * this join in the count also sees this loop's member count grown.
	 */
	hlock_acquire(room->lock);
	name_guest(room, m);
	TAILQ_INSERT_TAIL(&room->members, m, entry);
	room->count++;
	TAILQ_INSERT_TAIL(&room->local[i], m, local);
	atomic_fetch_add_explicit(&room->local_count[i], 1,
	    memory_order_relaxed);
	m->joined = atomic_load_explicit(&room->joins,
	    memory_order_relaxed) + 1;
	atomic_store_explicit(&room->joins, m->joined, memory_order_release);
	hlock_release(room->lock);
	room_tell(m, "*** Welcome to echochat, %s. Type /help for help.",
	    m->nick);
	/* Only those who were in before m hear of it. */
	broadcast_since(room, m, shared_line_printf("*** %s has joined\n",
	    m->nick), m->joined);
}

void
room_leave(struct room *room, struct room_member *m, const char *reason)
{
	unsigned int i = endpoint_loop(m->ep);
	uint32_t joins;

	hlock_acquire(room->lock);
	TAILQ_REMOVE(&room->members, m, entry);
	room->count--;
	TAILQ_REMOVE(&room->local[i], m, local);
	atomic_fetch_sub_explicit(&room->local_count[i], 1,
	    memory_order_relaxed);
	joins = atomic_load_explicit(&room->joins, memory_order_relaxed);
	hlock_release(room->lock);
	if (room->closing)
		return;
	/* Only those who were in while m was hear of it. */
	if (reason != NULL && *reason != '\0')
		broadcast_since(room, NULL, shared_line_printf("*** %s has "
		    "left (%s)\n", m->nick, reason), joins);
	else
		broadcast_since(room, NULL, shared_line_printf("*** %s has "
		    "left\n", m->nick), joins);
}

void
room_say(struct room *room, struct room_member *m, const char *text,
    size_t len)
{
	broadcast(room, m, shared_line_printf("<%s> %.*s\n", m->nick,
	    (int)len, text));
}

void
room_act(struct room *room, struct room_member *m, const char *text,
    size_t len)
{
	broadcast(room, m, shared_line_printf("* %s %.*s\n", m->nick,
	    (int)len, text));
}

/* Nicks are validated by the caller; the room decides who has which. */
void
room_nick(struct room *room, struct room_member *m, const char *nick,
    size_t len)
{
	struct room_member *other;
	char old[CHAT_NICK_MAX + 1];

	hlock_acquire(room->lock);
	other = find_nick(room, nick, len);
	if (other != NULL && other != m) {
		hlock_release(room->lock);
		room_tell(m, "*** error: nick %.*s is already in use",
		    (int)len, nick);
		return;
	}
	memcpy(old, m->nick, sizeof old);
	memcpy(m->nick, nick, len);
	m->nick[len] = '\0';
	hlock_release(room->lock);
	/*
	 * The others first: once m reads its answer, the notice is on its
	 * way to every loop, ahead of anything m's answer may prompt.
	 */
	if (strcmp(old, m->nick) != 0)
		broadcast(room, m, shared_line_printf("*** %s is now known "
		    "as %s\n", old, m->nick));
	room_tell(m, "*** You are now %s", m->nick);
}

void
room_msg(struct room *room, struct room_member *m, const char *to,
    size_t tolen, const char *text, size_t len)
{
	struct room_member *target;
	struct endpoint *ep = NULL;
	struct shared_line *sl;
	char to_nick[CHAT_NICK_MAX + 1];

	hlock_acquire(room->lock);
	if ((target = find_nick(room, to, tolen)) != NULL) {
		ep = target->ep;
		endpoint_ref(ep);	/* it may leave on its own loop */
		memcpy(to_nick, target->nick, sizeof to_nick);
	}
	hlock_release(room->lock);
	if (ep == NULL) {
		room_tell(m, "*** error: no such user %.*s", (int)tolen, to);
		return;
	}
	sl = shared_line_printf("*%s* %.*s\n", m->nick, (int)len, text);
	endpoint_deliver(ep, sl, m->ep);
	hcount(HCOUNT_CHAT_DELIVERIES, 1);
	shared_line_unref(sl);
	room_tell(m, "-> *%s* %.*s", to_nick, (int)len, text);
	endpoint_unref(ep);
}

static int
compare_nicks(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int r = strcasecmp(x, y);

	return r != 0 ? r : strcmp(x, y);
}

/* /who: one sorted line. */
void
room_who(struct room *room, struct room_member *m)
{
	struct room_member *q;
	const char **nicks;
	char *line, *p;
	size_t i = 0, size;

	hlock_acquire(room->lock);	/* others' nicks are theirs to change */
	size = 64 + (size_t)room->count * (CHAT_NICK_MAX + 2);
	nicks = calloc(room->count + 1, sizeof *nicks);
	line = malloc(size);
	if (nicks == NULL || line == NULL)
		abort();
	TAILQ_FOREACH(q, &room->members, entry)
		nicks[i++] = q->nick;
	qsort(nicks, i, sizeof *nicks, compare_nicks);
	p = line + snprintf(line, size, "*** Users (%u): ", room->count);
	for (i = 0; i < room->count; i++)
		p += snprintf(p, size - (size_t)(p - line), "%s%s",
		    i ? ", " : "", nicks[i]);
	hlock_release(room->lock);
	*p++ = '\n';
	endpoint_send(m->ep, line, (size_t)(p - line));
	free(line);
	free(nicks);
}

/*
 * Tell everyone the server is going; no more notices after that.  Called
 * with every loop held, so each member is written to directly.
 */
void
room_shutdown(struct room *room)
{
	struct room_member *m;

	hlock_acquire(room->lock);
	TAILQ_FOREACH(m, &room->members, entry)
		room_tell(m, "*** server shutting down");
	hlock_release(room->lock);
	room->closing = 1;
}
