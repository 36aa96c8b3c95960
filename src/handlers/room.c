/*
 * room.c -- the chat rooms, shared by every chat listener and every loop
 * (README "Rooms").
 *
 * A message is formatted once into a shared line that every recipient's
 * output queue references, so a broadcast copies the text only once.
 *
 * With workers = N a room spans every loop.  Each member lives on one
 * loop (its endpoint's) and is written to only from there: a broadcast
 * hands the one shared line to every other loop that has members in the
 * room, which sends it to its own; a line for one member elsewhere
 * travels with endpoint_deliver.  Each room keeps, per loop, the list of
 * its members on that loop, changed only by that loop's thread, so a
 * loop walks its own list without a lock.  One lock for the whole set
 * guards what all loops look up -- the room table, member lists, nicks,
 * counts, topics, history -- never the sending.
 *
 * Entries into rooms are numbered.  A line carries the entry count at the
 * time it was said, and a member who entered its room later (on another
 * loop, before the line got there) does not hear it: a member that moves
 * away and back never hears a line twice, and one that moved away is no
 * longer on the list of the room the line was said in.  A room is freed
 * when it has left the table and no broadcast on its way still names it.
 *
 * History: each room keeps its last `history` messages and /me lines in
 * a ring of shared lines (grown by doubling up to `history`, then fixed)
 * already stamped "[HH:MM] ", so a replay
 * references them and copies nothing.  Appending and taking a newcomer's
 * copy both happen under the lock together with the entry count, so a
 * line is either in a newcomer's replay or delivered to it live, never
 * both and never neither.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "room.h"

#define ROOM_BUCKETS	1024

TAILQ_HEAD(member_list, room_member);

struct room {
	char			 name[CHAT_ROOM_MAX + 1];	/* as written */
	atomic_uint		 refs;		/* the table's, posts' */
	int			 named;		/* a listener names it (lock) */
	int			 listed;	/* in the table (lock) */
	unsigned int		 count;		/* lock */
	struct member_list	 members;	/* lock */
	struct member_list	*local;		/* per loop, its own */
	atomic_uint		*local_count;	/* per loop */
	char			*topic;		/* lock; NULL: none */
	struct shared_line	**hist;		/* ring (lock) */
	unsigned int		 hist_cap, hist_len, hist_head;
	struct room		*next;		/* hash chain (lock) */
};

struct rooms {
	struct hlock		*lock;
	struct room		*table[ROOM_BUCKETS];	/* lock */
	unsigned long		 nrooms;	/* lock */
	unsigned long		 rooms_max;	/* set with every loop held */
	unsigned int		 history;	/* set with every loop held */
	struct member_list	 all;		/* lock */
	unsigned int		 nloops;
	atomic_uint		 joins;		/* ever; set under the lock */
	unsigned long		 next_guest;	/* lock */
	int			 closing;	/* shutting down: no notices */
	uint64_t		 next_id;	/* lock */
	const struct room_bridge *bridge;	/* set before any member */
	void			*bridge_arg;
};

/* Tell the bridge of a change a member here made. */
#define BRIDGE(rs, m, op, ...) do {					\
	if ((rs)->bridge != NULL && !(m)->remote)			\
		(rs)->bridge->op((rs)->bridge_arg, (m), ##__VA_ARGS__);	\
} while (0)

/* A broadcast on its way to one other loop. */
struct room_post {
	struct room		*room;		/* ref'd */
	unsigned int		 loop;
	struct endpoint		*except;	/* ref'd; may be NULL */
	struct shared_line	*line;
	uint32_t		 joins;
};

/* What a newcomer gets after entering: the topic and the history. */
struct entry_view {
	char			*topic;		/* NULL: none */
	struct shared_line	**hist;
	unsigned int		 nhist;
	unsigned int		 count;		/* members, the newcomer too */
};

/* --- Rooms themselves. --- */

static struct room *
room_new(struct rooms *rs, const char *name, size_t len)
{
	struct room *r = calloc(1, sizeof *r);
	unsigned int i;

	if (r == NULL)
		abort();
	memcpy(r->name, name, len);
	r->name[len] = '\0';
	atomic_init(&r->refs, 1);
	TAILQ_INIT(&r->members);
	r->local = calloc(rs->nloops, sizeof *r->local);
	r->local_count = calloc(rs->nloops, sizeof *r->local_count);
	if (r->local == NULL || r->local_count == NULL)
		abort();
	for (i = 0; i < rs->nloops; i++) {
		TAILQ_INIT(&r->local[i]);
		atomic_init(&r->local_count[i], 0);
	}
	return r;
}

/* Drop the history ring and its lines (lock held, or the room alone). */
static void
history_clear(struct room *r)
{
	unsigned int i;

	for (i = 0; i < r->hist_len; i++)
		shared_line_unref(r->hist[(r->hist_head + i) % r->hist_cap]);
	free(r->hist);
	r->hist = NULL;
	r->hist_cap = r->hist_len = r->hist_head = 0;
}

static void
room_ref(struct room *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

/* The last reference frees: the room has left the table by then. */
static void
room_unref(struct room *r)
{
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	history_clear(r);
	free(r->topic);
	free(r->local);
	free(r->local_count);
	free(r);
}

/* Case-insensitive FNV-1a of a room name. */
static size_t
room_bucket(const char *name, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;
	unsigned char ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)name[i];
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		h = (h ^ ch) * 16777619u;
	}
	return h % ROOM_BUCKETS;
}

/* The room of that name, ignoring case (lock held). */
static struct room *
room_find(struct rooms *rs, const char *name, size_t len)
{
	struct room *r;

	for (r = rs->table[room_bucket(name, len)]; r != NULL; r = r->next) {
		if (strlen(r->name) == len && strncasecmp(r->name, name,
		    len) == 0)
			return r;
	}
	return NULL;
}

/* A new room in the table, which holds its first reference (lock held). */
static struct room *
room_create(struct rooms *rs, const char *name, size_t len)
{
	struct room *r = room_new(rs, name, len);
	size_t b = room_bucket(name, len);

	r->next = rs->table[b];
	rs->table[b] = r;
	r->listed = 1;
	rs->nrooms++;
	hcount(HCOUNT_CHAT_ROOMS, 1);
	return r;
}

/*
 * Take an empty room no listener names out of the table (lock held); the
 * table's reference goes to the caller, who drops it after the lock.
 * Returns whether it did.
 */
static int
room_unlist_if_idle(struct rooms *rs, struct room *r)
{
	struct room **rp;

	if (r->count != 0 || r->named || !r->listed)
		return 0;
	for (rp = &rs->table[room_bucket(r->name, strlen(r->name))];
	    *rp != NULL; rp = &(*rp)->next) {
		if (*rp == r) {
			*rp = r->next;
			break;
		}
	}
	r->listed = 0;
	rs->nrooms--;
	hcount(HCOUNT_CHAT_ROOMS, -1);
	return 1;
}

/* Keep the newest lines that fit a ring of cap (lock held). */
static void
history_resize(struct room *r, unsigned int cap)
{
	struct shared_line **ring = NULL;
	unsigned int i, keep = r->hist_len < cap ? r->hist_len : cap;

	if (cap == r->hist_cap)
		return;
	if (cap != 0 && (ring = calloc(cap, sizeof *ring)) == NULL)
		abort();
	for (i = 0; i < r->hist_len; i++) {
		struct shared_line *sl =
		    r->hist[(r->hist_head + i) % r->hist_cap];

		if (i >= r->hist_len - keep)
			ring[i - (r->hist_len - keep)] = sl;
		else
			shared_line_unref(sl);
	}
	free(r->hist);
	r->hist = ring;
	r->hist_cap = cap;
	r->hist_len = keep;
	r->hist_head = 0;
}

/*
 * Append a stamped line to the history, taking its reference (lock).  The
 * ring grows by doubling up to `history`, so a quiet room does not hold a
 * ring for lines it never had.
 */
static void
history_push(struct rooms *rs, struct room *r, struct shared_line *sl)
{
	unsigned int grown;

	if (r->hist_cap > rs->history)
		history_resize(r, rs->history);
	if (r->hist_len == r->hist_cap && r->hist_cap < rs->history) {
		grown = r->hist_cap < 8 ? 16 : r->hist_cap * 2;
		history_resize(r, grown < rs->history ? grown : rs->history);
	}
	if (r->hist_cap == 0) {
		shared_line_unref(sl);
		return;
	}
	if (r->hist_len == r->hist_cap) {
		shared_line_unref(r->hist[r->hist_head]);
		r->hist[r->hist_head] = sl;
		r->hist_head = (r->hist_head + 1) % r->hist_cap;
		return;
	}
	r->hist[(r->hist_head + r->hist_len++) % r->hist_cap] = sl;
}

/* --- The set. --- */

struct rooms *
rooms_new(void)
{
	struct rooms *rs = calloc(1, sizeof *rs);

	if (rs == NULL)
		abort();
	rs->lock = hlock_new();
	TAILQ_INIT(&rs->all);
	rs->nloops = hloops();
	rs->rooms_max = 1000;
	atomic_init(&rs->joins, 0);
	return rs;
}

void
rooms_free(struct rooms *rs)
{
	struct room *r, *next;
	size_t b;

	for (b = 0; b < ROOM_BUCKETS; b++) {
		for (r = rs->table[b]; r != NULL; r = next) {
			next = r->next;
			room_unref(r);
		}
	}
	hlock_free(rs->lock);
	free(rs);
}

void
rooms_configure(struct rooms *rs, unsigned long rooms_max,
    unsigned int history, const char *const *named, size_t nnamed)
{
	struct room *r, *next, *idle = NULL;
	size_t b, i, len;

	hlock_acquire(rs->lock);
	rs->rooms_max = rooms_max;
	rs->history = history;
	for (b = 0; b < ROOM_BUCKETS; b++) {
		for (r = rs->table[b]; r != NULL; r = r->next) {
			r->named = 0;
			if (r->hist_cap > history)
				history_resize(r, history);
		}
	}
	for (i = 0; i < nnamed; i++) {
		len = strlen(named[i]);
		if ((r = room_find(rs, named[i], len)) == NULL)
			r = room_create(rs, named[i], len);
		r->named = 1;
	}
	/* Rooms no listener names any more go if they are empty. */
	for (b = 0; b < ROOM_BUCKETS; b++) {
		for (r = rs->table[b]; r != NULL; r = next) {
			next = r->next;
			if (room_unlist_if_idle(rs, r)) {
				r->next = idle;
				idle = r;
			}
		}
	}
	hlock_release(rs->lock);
	for (r = idle; r != NULL; r = next) {
		next = r->next;
		room_unref(r);
	}
}

void
rooms_set_bridge(struct rooms *rs, const struct room_bridge *b, void *arg)
{
	rs->bridge = b;
	rs->bridge_arg = arg;
}

/* Wall-clock milliseconds: when a nick was claimed, across servers. */
static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

/* --- Broadcasts. --- */

/* Everyone of loop i but except, who had entered by joins, gets it. */
static void
local_broadcast(struct room *r, unsigned int i, struct endpoint *except,
    struct shared_line *sl, uint32_t joins)
{
	struct room_member *m;
	long n = 0;
	/*
	 * The recipients' references to the line in one atomic operation
	 * instead of one each (with workers, a locked add on a line every
	 * loop touches): as many as this loop has members, the unused ones
	 * given back after.  The list is this loop's own, so its count
	 * cannot change during the walk; past it, one reference each.
	 */
	int ahead = (int)atomic_load_explicit(&r->local_count[i],
	    memory_order_relaxed);

	if (ahead > 0)
		shared_line_ref_n(sl, ahead);
	TAILQ_FOREACH(m, &r->local[i], local) {
		if (m->ep != except && !m->remote &&
		    (int32_t)(m->joined - joins) <= 0) {
			if (ahead > 0) {
				ahead--;
				endpoint_deliver_owned(m->ep, sl, NULL);
			} else
				endpoint_deliver(m->ep, sl, NULL);
			n++;
		}
	}
	if (ahead > 0)
		shared_line_ref_n(sl, -ahead);
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
	room_unref(rp->room);
	free(rp);
}

/*
 * Everyone in r but except who had entered by the given count gets the
 * line; it is built once and shared by every loop that has members.
 * Takes over the reference to sl.  The caller keeps r alive meanwhile.
 */
static void
broadcast_since(struct rooms *rs, struct room *r, struct room_member *except,
    struct shared_line *sl, uint32_t joins)
{
	struct endpoint *from = except != NULL ? except->ep : NULL;
	struct room_post *rp;
	unsigned int i, here = hloop_here();

	for (i = 0; i < rs->nloops; i++) {
		if (i == here) {
			local_broadcast(r, i, from, sl, joins);
			continue;
		}
		if (atomic_load_explicit(&r->local_count[i],
		    memory_order_relaxed) == 0)
			continue;
		if ((rp = malloc(sizeof *rp)) == NULL)
			abort();
		rp->room = r;
		rp->loop = i;
		rp->except = from;
		rp->line = sl;
		rp->joins = joins;
		room_ref(r);
		shared_line_ref(sl);
		if (from != NULL)
			endpoint_ref(from);	/* its address stays its */
		hloop_run(i, room_post_run, rp, from);
	}
	shared_line_unref(sl);
}

/* Everyone in r now but except gets the line. */
static void
broadcast(struct rooms *rs, struct room *r, struct room_member *except,
    struct shared_line *sl)
{
	broadcast_since(rs, r, except, sl,
	    atomic_load_explicit(&rs->joins, memory_order_acquire));
}

/* --- Entering and leaving (lock held). --- */

/* m goes into r, and takes a copy of what a newcomer gets. */
static void
enter_locked(struct rooms *rs, struct room *r, struct room_member *m,
    struct entry_view *v)
{
	unsigned int i = endpoint_loop(m->ep), k;

	TAILQ_INSERT_TAIL(&r->members, m, entry);
	r->count++;
	TAILQ_INSERT_TAIL(&r->local[i], m, local);
	atomic_fetch_add_explicit(&r->local_count[i], 1,
	    memory_order_relaxed);
	m->room = r;
	/*
	 * The entry count last: a broadcast that sees this entry in the
	 * count also sees this loop's member count grown.
	 */
	m->joined = atomic_load_explicit(&rs->joins,
	    memory_order_relaxed) + 1;
	atomic_store_explicit(&rs->joins, m->joined, memory_order_release);
	memset(v, 0, sizeof *v);
	v->count = r->count;
	if (r->topic != NULL && (v->topic = strdup(r->topic)) == NULL)
		abort();
	if (r->hist_len == 0)
		return;
	if ((v->hist = malloc(r->hist_len * sizeof *v->hist)) == NULL)
		abort();
	for (k = 0; k < r->hist_len; k++) {
		v->hist[k] = r->hist[(r->hist_head + k) % r->hist_cap];
		shared_line_ref(v->hist[k]);
	}
	v->nhist = r->hist_len;
}

/*
 * m leaves its room; returns the entry count by then.  *gone is set when
 * the room left the table with it (the caller drops that reference);
 * otherwise the caller gets a reference of its own, for the notice.
 */
static uint32_t
leave_locked(struct rooms *rs, struct room_member *m, int *gone)
{
	struct room *r = m->room;
	unsigned int i = endpoint_loop(m->ep);

	TAILQ_REMOVE(&r->members, m, entry);
	r->count--;
	TAILQ_REMOVE(&r->local[i], m, local);
	atomic_fetch_sub_explicit(&r->local_count[i], 1,
	    memory_order_relaxed);
	m->room = NULL;
	if (!(*gone = room_unlist_if_idle(rs, r)))
		room_ref(r);
	return atomic_load_explicit(&rs->joins, memory_order_relaxed);
}

/* Send a shared line to m alone, through its output limit. */
static void
tell_line(struct room_member *m, struct shared_line *sl)
{
	endpoint_deliver(m->ep, sl, NULL);
	shared_line_unref(sl);
}

/*
 * What a newcomer gets after its first line: the topic, then the
 * history.  As shared lines, so a replay that a client cannot take runs
 * into output_limit like any broadcast.
 */
static void
tell_view(struct room_member *m, struct entry_view *v)
{
	unsigned int k;

	if (v->topic != NULL)
		tell_line(m, shared_line_printf("*** Topic: %s\n", v->topic));
	if (v->nhist != 0) {
		tell_line(m, shared_line_printf("*** Recent messages (%u):\n",
		    v->nhist));
		for (k = 0; k < v->nhist; k++)
			tell_line(m, v->hist[k]);
		hcount(HCOUNT_CHAT_DELIVERIES, v->nhist);
		tell_line(m, shared_line_printf("*** End of recent "
		    "messages\n"));
	}
	free(v->topic);
	free(v->hist);
}

/* A view a member behind the bridge has no use for. */
static void
view_drop(struct entry_view *v)
{
	unsigned int k;

	for (k = 0; k < v->nhist; k++)
		shared_line_unref(v->hist[k]);
	free(v->topic);
	free(v->hist);
}

/* The member whose nick matches, ignoring case (lock held). */
static struct room_member *
find_nick(struct rooms *rs, const char *nick, size_t len)
{
	struct room_member *m;

	TAILQ_FOREACH(m, &rs->all, all) {
		if (strlen(m->nick) == len && strncasecmp(m->nick, nick,
		    len) == 0)
			return m;
	}
	return NULL;
}

/* The next guestN not in use (lock held). */
static void
name_guest(struct rooms *rs, struct room_member *m)
{
	do {
		snprintf(m->nick, sizeof m->nick, "guest%lu",
		    ++rs->next_guest);
	} while (find_nick(rs, m->nick, strlen(m->nick)) != NULL);
}

/* A guestN from elsewhere: ours start past it (lock held). */
static void
saw_guest(struct rooms *rs, const char *nick)
{
	unsigned long n;
	char *end;

	if (strncmp(nick, "guest", 5) != 0 || nick[5] < '1' || nick[5] > '9')
		return;
	n = strtoul(nick + 5, &end, 10);
	if (*end == '\0' && n > rs->next_guest)
		rs->next_guest = n;
}

/* --- The changes. --- */

/* In, to its home; a newcomer here is named and welcomed. */
static void
arrive(struct rooms *rs, struct room_member *m, int quiet)
{
	size_t len = strlen(m->home);
	struct entry_view v;
	struct room *r;

	hlock_acquire(rs->lock);
	if (!m->remote) {
		name_guest(rs, m);
		m->id = ++rs->next_id;
		m->nick_ms = wall_ms();
	} else
		saw_guest(rs, m->nick);
	TAILQ_INSERT_TAIL(&rs->all, m, all);
	/* A listener's room exists; past a reload it is made again. */
	if ((r = room_find(rs, m->home, len)) == NULL)
		r = room_create(rs, m->home, len);
	enter_locked(rs, r, m, &v);
	hlock_release(rs->lock);
	if (!m->remote) {
		room_tell(m, "*** Welcome to echochat, %s. Type /help for "
		    "help.", m->nick);
		tell_view(m, &v);
	} else
		view_drop(&v);
	/* Only those who were in before m hear of it. */
	if (!quiet)
		broadcast_since(rs, r, m, shared_line_printf("*** %s has "
		    "joined\n", m->nick), m->joined);
	BRIDGE(rs, m, arrive);
}

void
room_arrive(struct rooms *rs, struct room_member *m)
{
	arrive(rs, m, 0);
}

void
room_arrive_remote(struct rooms *rs, struct room_member *m, int quiet)
{
	arrive(rs, m, quiet);
}

void
room_move(struct rooms *rs, struct room_member *m, const char *name,
    size_t len)
{
	struct room *from, *to;
	struct entry_view v;
	uint32_t left;
	int gone;

	hlock_acquire(rs->lock);
	to = room_find(rs, name, len);
	if (to == m->room) {
		hlock_release(rs->lock);
		room_tell(m, "*** error: you are already in %s", to->name);
		return;
	}
	/* Elsewhere the room was allowed: it exists here too. */
	if (to == NULL && rs->nrooms >= rs->rooms_max && !m->remote) {
		hlock_release(rs->lock);
		room_tell(m, "*** error: too many rooms");
		return;
	}
	if (to == NULL)
		to = room_create(rs, name, len);
	from = m->room;
	left = leave_locked(rs, m, &gone);
	enter_locked(rs, to, m, &v);
	hlock_release(rs->lock);
	if (!gone)
		broadcast_since(rs, from, NULL, shared_line_printf("*** %s "
		    "has left for %s\n", m->nick, to->name), left);
	room_unref(from);
	broadcast_since(rs, to, m, shared_line_printf("*** %s has joined\n",
	    m->nick), m->joined);
	if (m->remote) {
		view_drop(&v);
		return;
	}
	room_tell(m, "*** You are now in %s (%u users)", to->name, v.count);
	tell_view(m, &v);
	BRIDGE(rs, m, move);
}

static void
leave(struct rooms *rs, struct room_member *m, const char *reason, int quiet)
{
	struct room *r = m->room;
	uint32_t joins;
	int gone;

	hlock_acquire(rs->lock);
	TAILQ_REMOVE(&rs->all, m, all);
	joins = leave_locked(rs, m, &gone);
	hlock_release(rs->lock);
	BRIDGE(rs, m, leave, reason);
	/* Only those who were in while m was hear of it. */
	if (!gone && !rs->closing && !quiet) {
		if (reason != NULL && *reason != '\0')
			broadcast_since(rs, r, NULL, shared_line_printf("*** "
			    "%s has left (%s)\n", m->nick, reason), joins);
		else
			broadcast_since(rs, r, NULL, shared_line_printf("*** "
			    "%s has left\n", m->nick), joins);
	}
	room_unref(r);
}

void
room_leave(struct rooms *rs, struct room_member *m, const char *reason)
{
	leave(rs, m, reason, 0);
}

void
room_leave_quiet(struct rooms *rs, struct room_member *m)
{
	leave(rs, m, NULL, 1);
}

/* "[HH:MM] " of now, UTC: what history lines start with. */
static void
stamp_now(char out[16])
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	snprintf(out, 16, "[%02d:%02d] ", tm.tm_hour, tm.tm_min);
}

/*
 * A line of m's room that history keeps: sl as delivered now, kept (NULL
 * without history) as it goes into the history.  Takes both references.
 */
static void
say_kept(struct rooms *rs, struct room_member *m, struct shared_line *sl,
    struct shared_line *kept)
{
	struct room *r = m->room;
	uint32_t joins;

	if (kept == NULL) {
		broadcast(rs, r, m, sl);
		return;
	}
	hlock_acquire(rs->lock);
	history_push(rs, r, kept);
	joins = atomic_load_explicit(&rs->joins, memory_order_relaxed);
	hlock_release(rs->lock);
	broadcast_since(rs, r, m, sl, joins);
}

void
room_say(struct rooms *rs, struct room_member *m, const char *text,
    size_t len)
{
	struct shared_line *kept = NULL;
	char stamp[16];

	if (rs->history > 0) {
		stamp_now(stamp);
		kept = shared_line_printf("%s<%s> %.*s\n", stamp, m->nick,
		    (int)len, text);
	}
	say_kept(rs, m, shared_line_printf("<%s> %.*s\n", m->nick, (int)len,
	    text), kept);
	BRIDGE(rs, m, say, text, len);
}

void
room_act(struct rooms *rs, struct room_member *m, const char *text,
    size_t len)
{
	struct shared_line *kept = NULL;
	char stamp[16];

	if (rs->history > 0) {
		stamp_now(stamp);
		kept = shared_line_printf("%s* %s %.*s\n", stamp, m->nick,
		    (int)len, text);
	}
	say_kept(rs, m, shared_line_printf("* %s %.*s\n", m->nick, (int)len,
	    text), kept);
	BRIDGE(rs, m, act, text, len);
}

/* Everyone in the room, the setter too, sees who set it. */
void
room_topic(struct rooms *rs, struct room_member *m, const char *text,
    size_t len)
{
	struct room *r = m->room;
	char *topic = malloc(len + 1);

	if (topic == NULL)
		abort();
	memcpy(topic, text, len);
	topic[len] = '\0';
	hlock_acquire(rs->lock);
	free(r->topic);
	r->topic = topic;
	hlock_release(rs->lock);
	broadcast(rs, r, NULL, shared_line_printf("*** %s set the topic: "
	    "%.*s\n", m->nick, (int)len, text));
	BRIDGE(rs, m, topic, text, len);
}

void
room_topic_quiet(struct rooms *rs, const char *name, const char *text)
{
	struct room *r;
	char *topic;

	hlock_acquire(rs->lock);
	if ((r = room_find(rs, name, strlen(name))) != NULL &&
	    (r->topic == NULL || strcmp(r->topic, text) != 0)) {
		if ((topic = strdup(text)) == NULL)
			abort();
		free(r->topic);
		r->topic = topic;
	}
	hlock_release(rs->lock);
}

/* Nicks are validated by the caller; the set decides who has which. */
void
room_nick(struct rooms *rs, struct room_member *m, const char *nick,
    size_t len)
{
	struct room_member *other;
	char old[CHAT_NICK_MAX + 1];

	hlock_acquire(rs->lock);
	other = find_nick(rs, nick, len);
	/* Behind the bridge the claim was checked where it was made. */
	if (other != NULL && other != m && !m->remote) {
		hlock_release(rs->lock);
		room_tell(m, "*** error: nick %.*s is already in use",
		    (int)len, nick);
		return;
	}
	memcpy(old, m->nick, sizeof old);
	memcpy(m->nick, nick, len);
	m->nick[len] = '\0';
	if (!m->remote)
		m->nick_ms = wall_ms();
	else
		saw_guest(rs, m->nick);
	hlock_release(rs->lock);
	/*
	 * The others first: once m reads its answer, the notice is on its
	 * way to every loop, ahead of anything m's answer may prompt.
	 */
	if (strcmp(old, m->nick) != 0)
		broadcast(rs, m->room, m, shared_line_printf("*** %s is now "
		    "known as %s\n", old, m->nick));
	if (m->remote)
		return;
	room_tell(m, "*** You are now %s", m->nick);
	if (strcmp(old, m->nick) != 0)
		BRIDGE(rs, m, nick);
}

void
room_msg(struct rooms *rs, struct room_member *m, const char *to,
    size_t tolen, const char *text, size_t len)
{
	struct room_member *target;
	struct endpoint *ep = NULL;
	struct shared_line *sl;
	char to_nick[CHAT_NICK_MAX + 1];
	unsigned int remote = 0;
	uint64_t id = 0;

	hlock_acquire(rs->lock);
	if ((target = find_nick(rs, to, tolen)) != NULL) {
		ep = target->ep;
		endpoint_ref(ep);	/* it may leave on its own loop */
		memcpy(to_nick, target->nick, sizeof to_nick);
		remote = target->remote;
		id = target->id;
	}
	hlock_release(rs->lock);
	if (ep == NULL) {
		room_tell(m, "*** error: no such user %.*s", (int)tolen, to);
		return;
	}
	if (remote != 0) {
		/* Its own server delivers it. */
		if (!m->remote)
			BRIDGE(rs, m, msg, remote, id, text, len);
		room_tell(m, "-> *%s* %.*s", to_nick, (int)len, text);
		endpoint_unref(ep);
		return;
	}
	sl = shared_line_printf("*%s* %.*s\n", m->nick, (int)len, text);
	endpoint_deliver(ep, sl, m->ep);
	hcount(HCOUNT_CHAT_DELIVERIES, 1);
	shared_line_unref(sl);
	room_tell(m, "-> *%s* %.*s", to_nick, (int)len, text);
	endpoint_unref(ep);
}

/* --- The queries. --- */

static int
compare_names(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int r = strcasecmp(x, y);

	return r != 0 ? r : strcmp(x, y);
}

/* Send a line built in a buffer of its own, and free it. */
static void
send_built(struct room_member *m, char *line, char *end)
{
	*end++ = '\n';
	endpoint_send(m->ep, line, (size_t)(end - line));
	free(line);
}

/* /who: one sorted line, of m's room or of the named one. */
void
room_who(struct rooms *rs, struct room_member *m, const char *name,
    size_t len)
{
	struct room_member *q;
	struct room *r;
	const char **nicks;
	char *line, *p;
	size_t i = 0, size;

	hlock_acquire(rs->lock);	/* others' nicks are theirs to change */
	r = len == 0 ? m->room : room_find(rs, name, len);
	if (r == NULL) {
		hlock_release(rs->lock);
		room_tell(m, "*** error: no such room %.*s", (int)len, name);
		return;
	}
	size = 64 + (size_t)r->count * (CHAT_NICK_MAX + 2);
	nicks = calloc(r->count + 1, sizeof *nicks);
	line = malloc(size);
	if (nicks == NULL || line == NULL)
		abort();
	TAILQ_FOREACH(q, &r->members, entry)
		nicks[i++] = q->nick;
	qsort(nicks, i, sizeof *nicks, compare_names);
	p = line + snprintf(line, size, "*** Users (%u): ", r->count);
	for (i = 0; i < r->count; i++)
		p += snprintf(p, size - (size_t)(p - line), "%s%s",
		    i ? ", " : "", nicks[i]);
	hlock_release(rs->lock);
	free(nicks);
	send_built(m, line, p);
}

/* A room and its member count, for /rooms. */
struct room_count {
	char		 name[CHAT_ROOM_MAX + 1];
	unsigned int	 count;
};

static int
compare_counts(const void *a, const void *b)
{
	const struct room_count *x = a, *y = b;
	int r = strcasecmp(x->name, y->name);

	return r != 0 ? r : strcmp(x->name, y->name);
}

/* /rooms: one sorted line with member counts. */
void
room_list(struct rooms *rs, struct room_member *m)
{
	struct room_count *rc;
	struct room *r;
	char *line, *p;
	size_t b, i = 0, n, size;

	hlock_acquire(rs->lock);
	n = rs->nrooms;
	if ((rc = calloc(n + 1, sizeof *rc)) == NULL)
		abort();
	for (b = 0; b < ROOM_BUCKETS; b++) {
		for (r = rs->table[b]; r != NULL; r = r->next) {
			memcpy(rc[i].name, r->name, sizeof rc[i].name);
			rc[i++].count = r->count;
		}
	}
	hlock_release(rs->lock);
	qsort(rc, n, sizeof *rc, compare_counts);
	size = 64 + n * (CHAT_ROOM_MAX + 16);
	if ((line = malloc(size)) == NULL)
		abort();
	p = line + snprintf(line, size, "*** Rooms (%zu): ", n);
	for (i = 0; i < n; i++)
		p += snprintf(p, size - (size_t)(p - line), "%s%s (%u)",
		    i ? ", " : "", rc[i].name, rc[i].count);
	free(rc);
	send_built(m, line, p);
}

/* /topic alone. */
void
room_show_topic(struct rooms *rs, struct room_member *m)
{
	char *topic = NULL;

	hlock_acquire(rs->lock);
	if (m->room->topic != NULL && (topic = strdup(m->room->topic)) == NULL)
		abort();
	hlock_release(rs->lock);
	if (topic != NULL)
		room_tell(m, "*** Topic: %s", topic);
	else
		room_tell(m, "*** No topic");
	free(topic);
}

/* --- For the bridge. --- */

const char *
room_name_of(const struct room_member *m)
{
	return m->room->name;
}

int
room_nick_holder(struct rooms *rs, const char *nick,
    const struct room_member *except, uint64_t *id, uint64_t *nick_ms,
    unsigned int *remote)
{
	struct room_member *m;
	int found = 0;

	hlock_acquire(rs->lock);
	TAILQ_FOREACH(m, &rs->all, all) {
		if (m != except && strcasecmp(m->nick, nick) == 0) {
			*id = m->id;
			*nick_ms = m->nick_ms;
			*remote = m->remote;
			found = 1;
			break;
		}
	}
	hlock_release(rs->lock);
	return found;
}

/* The member here with that id (lock held). */
static struct room_member *
find_local(struct rooms *rs, uint64_t id)
{
	struct room_member *m;

	TAILQ_FOREACH(m, &rs->all, all) {
		if (!m->remote && m->id == id)
			return m;
	}
	return NULL;
}

/* On the member's loop, so it cannot go meanwhile. */
struct rename {
	struct rooms	*rs;
	uint64_t	 id;
};

static void
rename_run(void *arg)
{
	struct rename *rn = arg;
	struct rooms *rs = rn->rs;
	struct room_member *m;
	char guest[CHAT_NICK_MAX + 1], old[CHAT_NICK_MAX + 1];
	struct room_member tmp;

	hlock_acquire(rs->lock);
	m = find_local(rs, rn->id);
	if (m != NULL && endpoint_loop(m->ep) != hloop_here())
		m = NULL;	/* not ours to change from here */
	if (m != NULL) {
		memcpy(old, m->nick, sizeof old);
		name_guest(rs, &tmp);
		memcpy(guest, tmp.nick, sizeof guest);
	}
	hlock_release(rs->lock);
	free(rn);
	if (m == NULL)
		return;
	room_tell(m, "*** error: nick %s is already in use on another server",
	    old);
	room_nick(rs, m, guest, strlen(guest));
}

void
room_rename_local(struct rooms *rs, uint64_t id)
{
	struct rename *rn = malloc(sizeof *rn);
	struct room_member *m;
	unsigned int loop = 0;
	int found;

	if (rn == NULL)
		abort();
	rn->rs = rs;
	rn->id = id;
	hlock_acquire(rs->lock);
	if ((found = (m = find_local(rs, id)) != NULL))
		loop = endpoint_loop(m->ep);
	hlock_release(rs->lock);
	if (!found) {
		free(rn);
		return;
	}
	hloop_run(loop, rename_run, rn, NULL);
}

void
room_tell_local(struct rooms *rs, uint64_t id, const char *line, size_t len)
{
	struct room_member *m;
	struct endpoint *ep = NULL;

	hlock_acquire(rs->lock);
	if ((m = find_local(rs, id)) != NULL) {
		ep = m->ep;
		endpoint_ref(ep);
	}
	hlock_release(rs->lock);
	if (ep == NULL)
		return;
	endpoint_send(ep, line, len);
	hcount(HCOUNT_CHAT_DELIVERIES, 1);
	endpoint_unref(ep);
}

void
rooms_each_local(struct rooms *rs, void (*fn)(void *, struct room_member *),
    void *arg)
{
	struct room_member *m;

	hlock_acquire(rs->lock);
	TAILQ_FOREACH(m, &rs->all, all) {
		if (!m->remote)
			fn(arg, m);
	}
	hlock_release(rs->lock);
}

static void
notice_one(void *arg, struct room_member *m)
{
	room_tell(m, "%s", (const char *)arg);
}

void
rooms_notice(struct rooms *rs, const char *line)
{
	if (!rs->closing)
		rooms_each_local(rs, notice_one, (void *)line);
}

void
rooms_each_topic(struct rooms *rs,
    void (*fn)(void *, const char *, const char *), void *arg)
{
	struct room *r;
	size_t b;

	hlock_acquire(rs->lock);
	for (b = 0; b < ROOM_BUCKETS; b++) {
		for (r = rs->table[b]; r != NULL; r = r->next) {
			if (r->topic != NULL)
				fn(arg, r->name, r->topic);
		}
	}
	hlock_release(rs->lock);
}

/* A line another may have written: no control bytes, no 0xFF. */
static int
plain_text(const char *p, size_t len)
{
	size_t i;
	unsigned char c;

	if (len == 0 || len > 8192)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f || c == 0xff)
			return 0;
	}
	return 1;
}

unsigned int
rooms_history(struct rooms *rs)
{
	return rs->history;
}

void
rooms_each_room(struct rooms *rs, void (*fn)(void *, const char *),
    void *arg)
{
	struct room *r;
	size_t b;

	hlock_acquire(rs->lock);
	for (b = 0; b < ROOM_BUCKETS; b++) {
		for (r = rs->table[b]; r != NULL; r = r->next)
			fn(arg, r->name);
	}
	hlock_release(rs->lock);
}

void
room_history_fill(struct rooms *rs, const char *name,
    const char *const *lines, const size_t *lens, size_t n)
{
	struct room *r;
	size_t i;

	hlock_acquire(rs->lock);
	if ((r = room_find(rs, name, strlen(name))) != NULL &&
	    r->hist_len == 0) {
		for (i = 0; i < n; i++) {
			if (!plain_text(lines[i], lens[i]))
				continue;
			history_push(rs, r, shared_line_printf("%.*s\n",
			    (int)lens[i], lines[i]));
		}
	}
	hlock_release(rs->lock);
}

/*
 * Tell everyone the server is going; no more notices after that.  Called
 * with every loop held, so each member is written to directly.
 */
void
rooms_shutdown(struct rooms *rs)
{
	struct room_member *m;

	hlock_acquire(rs->lock);
	TAILQ_FOREACH(m, &rs->all, all) {
		if (!m->remote)
			room_tell(m, "*** server shutting down");
	}
	hlock_release(rs->lock);
	rs->closing = 1;
}
