/*
 * bridge.c -- one chat across several servers (README "Several
 * servers").  Each change a participant here makes (room.c reports it) is
 * published on the cluster link; each change heard from another server
 * is applied to a stand-in member here, a "ghost" whose endpoint drops
 * what is sent to it (its own server delivers to it).  So rooms, /who,
 * /rooms, topics and history need nothing of their own: the ghosts are
 * members like any other.  A private message to a ghost is sent to its
 * server instead.
 *
 * Everything here runs on loop 0; a change made on another loop is
 * encoded there and handed over with hloop_run, in the order it was made.
 *
 * Order and exactly once: each payload carries the sender's node, its
 * incarnation (the run's start time) and a payload count; one run's
 * payloads reach every subscriber in the order published, and a payload
 * not newer than the last one heard from that run is dropped, as is
 * every payload of our own (socket.io's redis adapter drops its own
 * echoes the same way).
 *
 * Presence: every node publishes a heartbeat four times per node_timeout;
 * one not heard of for node_timeout is gone, and its participants leave
 * with "(server gone)".  A node that stops says Q, and its participants
 * leave with "(server shutting down)".  We hear our own heartbeat too: if
 * we do not, the subscription is dead whatever the socket says, and the
 * link starts again.  After each (re)connect a node says hello (Y) and
 * sends its state (R, then every participant and topic); whoever hears a
 * hello answers with its own state.  While the link is down the ghosts
 * are dropped quietly: the participants here go on as a server of their
 * own, told once that the others are unreachable, and once that they
 * are back.
 *
 * Nicks: a nick is claimed optimistically, here, at once; a claim heard
 * from elsewhere for a nick a participant here holds is settled as IRC's
 * TS6 does, by the time each was taken (then by node name): the earlier
 * claim keeps it, and the later one is renamed to a guest name with a
 * notice, by its own server.  Both servers decide the same without
 * asking each other, also for claims made while they could not talk.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bridge.h"
#include "wire.h"

#define GHOST_BUCKETS	256
#define PEERS_MAX	256
#define REC_MAX		(64 + 2 * CHAT_NICK_MAX + CHAT_ROOM_MAX + 8192)

struct ghost {
	struct room_member	 m;
	unsigned int		 gen;		/* state round it was in */
	struct ghost		*next;
};

struct peer {
	char			 node[WIRE_NODE_MAX + 1];
	unsigned int		 index;		/* members' remote - 1 */
	uint64_t		 inc, seq;
	uint64_t		 heard_ms;
	unsigned int		 gen;
	unsigned int		 nghosts;
	struct ghost		*ghosts[GHOST_BUCKETS];
};

struct bridge {
	struct rooms		*rooms;
	const char		*node;
	uint64_t		 inc;
	uint64_t		 seq;
	uint64_t		 timeout_ms;
	struct endpoint		*null_ep;
	struct htimer		*beat;
	uint64_t		 own_heard_ms;
	int			 up;
	int			 told_down;
	atomic_int		 closing;
	struct peer		*peers[PEERS_MAX];
	unsigned int		 npeers;
};

/* --- Sending (loop 0). --- */

/*
 * A record for this turn's payload (the link writes our header first);
 * while the link is down it is dropped there, and counted.
 */
static void
send_rec(struct bridge *b, const char *rec, size_t len)
{
	(void)b;
	(void)hcluster_send(rec, len);
}

/* Each payload starts with who we are and its number. */
static size_t
header(void *arg, char *buf, size_t size)
{
	struct bridge *b = arg;
	int n;

	n = snprintf(buf, size, "E1 %s %llu %llu\n", b->node,
	    (unsigned long long)b->inc, (unsigned long long)++b->seq);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

static void
send_printf(struct bridge *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
send_printf(struct bridge *b, const char *fmt, ...)
{
	char buf[REC_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		return;
	send_rec(b, buf, (size_t)n);
}

/* A record made on another loop, on its way to loop 0. */
struct posted {
	struct bridge	*b;
	char		 key[48];	/* a history line for it; "": a record */
	size_t		 len;
	char		 data[];
};

static void
posted_run(void *arg)
{
	struct posted *p = arg;

	if (atomic_load(&p->b->closing))
		;
	else if (p->key[0] != '\0')
		hcluster_log_add(p->key, p->data, p->len,
		    rooms_history(p->b->rooms));
	else
		send_rec(p->b, p->data, p->len);
	free(p);
}

/* The Redis key of a room's history: its name, ignoring case. */
static void
history_key(const char *room, char out[48])
{
	size_t i;

	snprintf(out, 48, "hist:%s", room);
	for (i = 0; out[i] != '\0'; i++) {
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
	}
}

/*
 * From a member's loop: len bytes handed to loop 0, a record to publish,
 * or with room a line for that room's history.
 */
static void
post(struct bridge *b, struct room_member *m, const char *data, size_t len,
    const char *room)
{
	struct posted *p;

	if ((p = malloc(sizeof *p + len)) == NULL)
		abort();
	memcpy(p->data, data, len);
	p->b = b;
	p->len = len;
	if (room != NULL)
		history_key(room, p->key);
	else
		p->key[0] = '\0';
	hloop_run(0, posted_run, p, m->ep);
}

/* From a member's loop: its line, stamped, into its room's history. */
static void
post_history(struct bridge *b, struct room_member *m, const char *fmt,
    const char *text, size_t len)
{
	char buf[REC_MAX], stamp[16];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (rooms_history(b->rooms) == 0 || atomic_load(&b->closing))
		return;
	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	snprintf(stamp, sizeof stamp, "[%02d:%02d] ", tm.tm_hour, tm.tm_min);
	n = snprintf(buf, sizeof buf, fmt, stamp, m->nick, (int)len, text);
	if (n >= 0 && n < REC_MAX)
		post(b, m, buf, (size_t)n, room_name_of(m));
}

/* From a member's loop: encode now, send on loop 0. */
static void
post_printf(struct bridge *b, struct room_member *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
post_printf(struct bridge *b, struct room_member *m, const char *fmt, ...)
{
	char buf[REC_MAX];
	va_list ap;
	int n;

	if (atomic_load(&b->closing))
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n >= 0 && n < REC_MAX)
		post(b, m, buf, (size_t)n, NULL);
}

/* --- What the rooms report (on the member's loop). --- */

static void
on_arrive(void *arg, struct room_member *m)
{
	post_printf(arg, m, "A %llu %llu %s %s\n", (unsigned long long)m->id,
	    (unsigned long long)m->nick_ms, m->nick, room_name_of(m));
}

static void
on_move(void *arg, struct room_member *m)
{
	post_printf(arg, m, "M %llu %s\n", (unsigned long long)m->id,
	    room_name_of(m));
}

static void
on_leave(void *arg, struct room_member *m, const char *reason)
{
	post_printf(arg, m, "L %llu%s%s\n", (unsigned long long)m->id,
	    reason != NULL && *reason ? " " : "", reason ? reason : "");
}

static void
on_say(void *arg, struct room_member *m, const char *text, size_t len)
{
	post_printf(arg, m, "m %llu %.*s\n", (unsigned long long)m->id,
	    (int)len, text);
	post_history(arg, m, "%s<%s> %.*s", text, len);
}

static void
on_act(void *arg, struct room_member *m, const char *text, size_t len)
{
	post_printf(arg, m, "c %llu %.*s\n", (unsigned long long)m->id,
	    (int)len, text);
	post_history(arg, m, "%s* %s %.*s", text, len);
}

static void
on_topic(void *arg, struct room_member *m, const char *text, size_t len)
{
	post_printf(arg, m, "T %llu %.*s\n", (unsigned long long)m->id,
	    (int)len, text);
}

static void
on_nick(void *arg, struct room_member *m)
{
	post_printf(arg, m, "N %llu %llu %s\n", (unsigned long long)m->id,
	    (unsigned long long)m->nick_ms, m->nick);
}

static void
on_msg(void *arg, struct room_member *m, unsigned int remote, uint64_t id,
    const char *text, size_t len)
{
	struct bridge *b = arg;

	/* Peers are never freed nor renamed while the bridge runs. */
	if (remote == 0 || remote > b->npeers)
		return;
	post_printf(b, m, "P %s %llu %s %.*s\n", b->peers[remote - 1]->node,
	    (unsigned long long)id, m->nick, (int)len, text);
}

static const struct room_bridge bridge_ops = {
	.arrive = on_arrive,
	.move = on_move,
	.leave = on_leave,
	.say = on_say,
	.act = on_act,
	.topic = on_topic,
	.nick = on_nick,
	.msg = on_msg,
};

/* --- Our state, for a hello (loop 0). --- */

static void
state_member(void *arg, struct room_member *m)
{
	send_printf(arg, "S %llu %llu %s %s\n", (unsigned long long)m->id,
	    (unsigned long long)m->nick_ms, m->nick, room_name_of(m));
}

static void
state_topic(void *arg, const char *room, const char *topic)
{
	send_printf(arg, "O %s %s\n", room, topic);
}

static void
send_state(struct bridge *b)
{
	send_printf(b, "R\n");
	rooms_each_local(b->rooms, state_member, b);
	rooms_each_topic(b->rooms, state_topic, b);
}

/* --- Ghosts. --- */

static struct ghost **
ghost_slot(struct peer *p, uint64_t id)
{
	struct ghost **gp = &p->ghosts[id % GHOST_BUCKETS];

	while (*gp != NULL && (*gp)->m.id != id)
		gp = &(*gp)->next;
	return gp;
}

static void
ghost_free(struct bridge *b, struct peer *p, struct ghost **gp,
    const char *reason, int quiet)
{
	struct ghost *g = *gp;

	*gp = g->next;
	p->nghosts--;
	if (quiet)
		room_leave_quiet(b->rooms, &g->m);
	else
		room_leave(b->rooms, &g->m, reason);
	endpoint_unref(g->m.ep);
	free(g);
}

/* Every ghost of p leaves (with reason, or quietly). */
static void
peer_clear(struct bridge *b, struct peer *p, const char *reason, int quiet)
{
	size_t i;

	for (i = 0; i < GHOST_BUCKETS; i++) {
		while (p->ghosts[i] != NULL)
			ghost_free(b, p, &p->ghosts[i], reason, quiet);
	}
}

/*
 * A claim of nick from p at ms: a participant here holding it with a
 * later claim loses it (their server does the same for ours).
 */
static void
settle_nick(struct bridge *b, struct peer *p, const char *nick, uint64_t ms,
    struct room_member *except)
{
	uint64_t id, held_ms;
	unsigned int remote;

	if (!room_nick_holder(b->rooms, nick, except, &id, &held_ms, &remote) ||
	    remote != 0)
		return;
	if (held_ms > ms || (held_ms == ms && strcmp(b->node, p->node) > 0))
		room_rename_local(b->rooms, id);
}

/* A: a new ghost (or S: one that is there); known ones are updated. */
static void
apply_member(struct bridge *b, struct peer *p, const struct wire_rec *r)
{
	struct ghost **gp = ghost_slot(p, r->id), *g = *gp;
	int quiet = r->kind == 'S';

	if (g != NULL) {
		g->gen = p->gen;
		if (strcmp(g->m.nick, r->nick) != 0) {
			settle_nick(b, p, r->nick, r->ms, &g->m);
			room_nick(b->rooms, &g->m, r->nick, strlen(r->nick));
			g->m.nick_ms = r->ms;
		}
		if (strcasecmp(room_name_of(&g->m), r->room) != 0)
			room_move(b->rooms, &g->m, r->room, strlen(r->room));
		return;
	}
	if ((g = calloc(1, sizeof *g)) == NULL)
		abort();
	snprintf(g->m.nick, sizeof g->m.nick, "%s", r->nick);
	snprintf(g->m.home, sizeof g->m.home, "%s", r->room);
	g->m.id = r->id;
	g->m.nick_ms = r->ms;
	g->m.remote = p->index + 1;
	g->m.ep = b->null_ep;
	endpoint_ref(g->m.ep);
	g->gen = p->gen;
	g->next = p->ghosts[r->id % GHOST_BUCKETS];
	p->ghosts[r->id % GHOST_BUCKETS] = g;
	p->nghosts++;
	settle_nick(b, p, r->nick, r->ms, NULL);
	room_arrive_remote(b->rooms, &g->m, quiet);
}

/* After a state round: ghosts it did not name are gone. */
static void
drop_stale(struct bridge *b, struct peer *p)
{
	struct ghost **gp;
	size_t i;

	for (i = 0; i < GHOST_BUCKETS; i++) {
		for (gp = &p->ghosts[i]; *gp != NULL;) {
			if ((*gp)->gen != p->gen)
				ghost_free(b, p, gp, NULL, 1);
			else
				gp = &(*gp)->next;
		}
	}
}

static void
apply(struct bridge *b, struct peer *p, const struct wire_rec *r,
    int *state)
{
	struct ghost **gp = ghost_slot(p, r->id), *g = *gp;
	char line[REC_MAX];
	int n;

	switch (r->kind) {
	case 'A':
	case 'S':
		apply_member(b, p, r);
		return;
	case 'R':
		p->gen++;
		*state = 1;
		return;
	case 'O':
		room_topic_quiet(b->rooms, r->room, "");
		snprintf(line, sizeof line, "%.*s", (int)r->text.len,
		    r->text.ptr);
		room_topic_quiet(b->rooms, r->room, line);
		return;
	case 'P':
		if (strcmp(r->node, b->node) != 0)
			return;
		n = snprintf(line, sizeof line, "*%s* %.*s\n", r->nick,
		    (int)r->text.len, r->text.ptr);
		if (n > 0 && (size_t)n < sizeof line)
			room_tell_local(b->rooms, r->id, line, (size_t)n);
		return;
	case 'Y':
		send_state(b);
		return;
	case 'Q':
		peer_clear(b, p, "server shutting down", 0);
		p->inc = 0;
		return;
	case 'H':
		return;
	}
	if (g == NULL)
		return;		/* joined before we heard: the state tells */
	switch (r->kind) {
	case 'M':
		room_move(b->rooms, &g->m, r->room, strlen(r->room));
		break;
	case 'L':
		snprintf(line, sizeof line, "%.*s", (int)r->text.len,
		    r->text.ptr);
		ghost_free(b, p, gp, line, 0);
		break;
	case 'N':
		settle_nick(b, p, r->nick, r->ms, &g->m);
		room_nick(b->rooms, &g->m, r->nick, strlen(r->nick));
		g->m.nick_ms = r->ms;
		break;
	case 'm':
		room_say(b->rooms, &g->m, r->text.ptr, r->text.len);
		break;
	case 'c':
		room_act(b->rooms, &g->m, r->text.ptr, r->text.len);
		break;
	case 'T':
		room_topic(b->rooms, &g->m, r->text.ptr, r->text.len);
		break;
	}
}

/* --- The link (loop 0). --- */

static struct peer *
peer_get(struct bridge *b, const char *node)
{
	struct peer *p;
	unsigned int i;

	for (i = 0; i < b->npeers; i++) {
		if (strcmp(b->peers[i]->node, node) == 0)
			return b->peers[i];
	}
	if (b->npeers == PEERS_MAX)
		return NULL;
	if ((p = calloc(1, sizeof *p)) == NULL)
		abort();
	snprintf(p->node, sizeof p->node, "%s", node);
	p->index = b->npeers;
	b->peers[b->npeers++] = p;
	return p;
}

static void
heard(void *arg, const char *data, size_t len)
{
	struct bridge *b = arg;
	struct wire_header h;
	struct wire_span rest;
	struct wire_rec r;
	struct peer *p;
	int state = 0;

	if (wire_header(data, len, &h, &rest) == -1) {
		hlog(HLOG_DEBUG, "cluster: a payload not of ours ignored");
		return;
	}
	if (strcmp(h.node, b->node) == 0) {
		if (h.inc == b->inc)
			b->own_heard_ms = hclock_ms();
		else
			hlog(HLOG_WARN, "cluster: another server calls itself "
			    "%s too (node must be unique)", b->node);
		return;
	}
	if ((p = peer_get(b, h.node)) == NULL)
		return;
	if (p->inc != h.inc) {
		/* A new run of that node: the old one is gone. */
		if (p->nghosts != 0)
			peer_clear(b, p, "server gone", 0);
		p->inc = h.inc;
		p->seq = 0;
	}
	if (h.seq <= p->seq)
		return;		/* had it already */
	p->seq = h.seq;
	p->heard_ms = hclock_ms();
	while (wire_next(&rest, &r))
		apply(b, p, &r, &state);
	if (state)
		drop_stale(b, p);
}

/* A room's history as Redis kept it, for a room that has none yet. */
static void
history_read(void *arg, const char *key, const char *const *lines,
    const size_t *lens, size_t n)
{
	struct bridge *b = arg;
	char room[WIRE_ROOM_MAX + 1];

	if (n == 0 || strncmp(key, "hist:", 5) != 0)
		return;
	snprintf(room, sizeof room, "%s", key + 5);
	room_history_fill(b->rooms, room, lines, lens, n);
}

struct names {
	char	(*v)[WIRE_ROOM_MAX + 1];
	size_t	 n, cap;
};

static void
collect_room(void *arg, const char *name)
{
	struct names *ns = arg;

	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		if ((ns->v = realloc(ns->v, ns->cap * sizeof *ns->v)) == NULL)
			abort();
	}
	snprintf(ns->v[ns->n++], sizeof ns->v[0], "%s", name);
}

/* After a (re)connect: each room here takes what Redis kept. */
static void
load_histories(struct bridge *b)
{
	struct names ns = { NULL, 0, 0 };
	char key[48];
	size_t i;

	if (rooms_history(b->rooms) == 0)
		return;
	rooms_each_room(b->rooms, collect_room, &ns);
	for (i = 0; i < ns.n; i++) {
		history_key(ns.v[i], key);
		hcluster_log_read(key, rooms_history(b->rooms), history_read,
		    b);
	}
	free(ns.v);
}

static void
link_up(void *arg)
{
	struct bridge *b = arg;

	b->up = 1;
	b->own_heard_ms = hclock_ms();
	if (b->told_down) {
		rooms_notice(b->rooms, "*** other servers are reachable again");
		b->told_down = 0;
	}
	send_printf(b, "Y\n");
	send_state(b);
	load_histories(b);
}

static void
link_down(void *arg)
{
	struct bridge *b = arg;
	unsigned int i;

	b->up = 0;
	for (i = 0; i < b->npeers; i++) {
		peer_clear(b, b->peers[i], NULL, 1);
		b->peers[i]->heard_ms = 0;
	}
	if (!b->told_down && !atomic_load(&b->closing)) {
		rooms_notice(b->rooms, "*** other servers are unreachable");
		b->told_down = 1;
	}
}

static const struct hcluster_ops link_ops = {
	.header = header,
	.heard = heard,
	.up = link_up,
	.down = link_down,
};

/* Four times per node_timeout: our heartbeat, and who is gone. */
static void
beat(void *arg)
{
	struct bridge *b = arg;
	uint64_t now = hclock_ms(), deaf = b->timeout_ms / 2;
	struct peer *p;
	unsigned int i;

	if (!b->up || atomic_load(&b->closing))
		return;
	if (now - b->own_heard_ms > (deaf > 1000 ? deaf : 1000)) {
		hcluster_reset("our own heartbeat went unheard");
		return;
	}
	send_printf(b, "H\n");
	for (i = 0; i < b->npeers; i++) {
		p = b->peers[i];
		if (p->nghosts == 0 || p->heard_ms == 0 ||
		    now - p->heard_ms <= b->timeout_ms)
			continue;
		hlog(HLOG_INFO, "cluster: node %s silent for %llu ms: gone",
		    p->node, (unsigned long long)(now - p->heard_ms));
		peer_clear(b, p, "server gone", 0);
		p->inc = 0;
	}
}

struct bridge *
bridge_new(struct rooms *rs)
{
	struct bridge *b = calloc(1, sizeof *b);
	struct timespec ts;
	uint64_t period;

	if (b == NULL)
		abort();
	b->rooms = rs;
	b->node = hcluster_node();
	clock_gettime(CLOCK_REALTIME, &ts);
	b->inc = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	b->timeout_ms = hcluster_node_timeout_ms();
	b->null_ep = hendpoint_null();
	atomic_init(&b->closing, 0);
	period = b->timeout_ms / 4;
	b->beat = htimer_every(period > 100 ? period : 100, beat, b);
	rooms_set_bridge(rs, &bridge_ops, b);
	hcluster_attach(&link_ops, b);
	return b;
}

void
bridge_shutdown(struct bridge *b)
{
	send_printf(b, "Q\n");
	atomic_store(&b->closing, 1);
}

void
bridge_free(struct bridge *b)
{
	unsigned int i;

	hcluster_detach();
	htimer_free(b->beat);
	for (i = 0; i < b->npeers; i++) {
		peer_clear(b, b->peers[i], NULL, 1);
		free(b->peers[i]);
	}
	endpoint_unref(b->null_ep);
	free(b);
}
