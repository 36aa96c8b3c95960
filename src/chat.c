/*
 * chat.c -- the chat handler: one room shared by every chat listener,
 * TCP, Unix and UDP alike (SPEC §5).
 *
 * Each line a participant sends is cleaned, parsed and acted on; a message
 * is formatted once into a shared line that every recipient's output queue
 * references, so a broadcast copies the text only once.  Stream
 * participants are connections; UDP participants are addresses that
 * proved themselves with a token (SipHash of their address under a secret
 * key, so nothing is stored for addresses that never answer) and leave
 * after /quit or udp_peer_timeout of silence.
 *
 * With workers = N the room spans every loop.  Each participant lives on
 * one loop (its connection's; UDP participants on loop 0) and is written
 * to only from there: a broadcast hands the one shared line to every other
 * loop, which sends it to its own participants; a line for one remote
 * participant is posted to its loop.  The room lock guards what all loops
 * look up -- the member list, nicks, counts -- never the sending.
 */
#include <sys/random.h>
#include <netinet/in.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "echochat.h"
#include "chat.h"

#define UDP_BUCKETS		1024
/* Tokens are good for this long, and at least one more such period. */
#define TOKEN_PERIOD_S		300

struct participant {
	char			 nick[CHAT_NICK_MAX + 1]; /* room lock */
	struct conn		*conn;		/* stream; NULL for UDP */
	struct dgram_peer	 peer;		/* UDP */
	struct loop		*loop;		/* where it is written to */
	atomic_uint		 refs;		/* the room's + posted calls' */
	uint32_t		 joined;	/* room->joins when it joined */
	int			 left;		/* out of the room */
	uint64_t		 heard_ms;	/* UDP: last datagram */
	uint64_t		 budget_ms;	/* chat_rate: last refill */
	double			 budget;	/* lines it may send now */
	int			 slowed;	/* told to slow down */
	TAILQ_ENTRY(participant) entry;		/* room->members */
	TAILQ_ENTRY(participant) local;		/* room->local[its loop] */
	struct participant	*udp_next;	/* hash chain */
};
TAILQ_HEAD(participant_list, participant);

struct room {
	struct server		*server;
	pthread_mutex_t		 lock;		/* with workers */
	struct participant_list	 members;	/* room lock */
	unsigned int		 count;		/* room lock */
	unsigned int		 nloops;
	struct participant_list	*local;		/* per loop, its own */
	atomic_uint		*local_count;	/* per loop */
	atomic_uint		 joins;		/* ever; set under the room lock */
	unsigned int		 udp_count;
	unsigned long		 next_guest;	/* room lock */
	int			 closing;	/* shutting down: no notices */
	uint8_t			 key[16];
	struct participant	*udp[UDP_BUCKETS];
	struct event		*sweep;
};

static const char *help_lines[] = {
	"*** Commands:",
	"***   /me ACTION        tell what you do",
	"***   /nick NAME        change your name (1-16 of A-Z a-z 0-9 _ -)",
	"***   /who              list who is here",
	"***   /msg NAME TEXT    send TEXT to NAME alone",
	"***   /quit [REASON]    leave",
	"***   /help             this help",
	"***   //TEXT            send a line that starts with /",
	NULL
};

static void
room_lock(struct room *room)
{
	threads_lock(&room->lock);
}

static void
room_unlock(struct room *room)
{
	threads_unlock(&room->lock);
}

static void
participant_ref(struct participant *p)
{
	counter_add(&p->refs, 1);
}

/* The last reference frees, on whichever loop that is. */
static void
participant_unref(struct participant *p)
{
	if (counter_add(&p->refs, -1) == 0)
		free(p);
}

/* Send one already formatted line to one participant of this loop. */
static void
send_line(struct participant *p, struct shared_line *sl)
{
	if (p->left)
		return;
	if (p->conn != NULL)
		conn_send_shared(p->conn, sl);
	else
		udp_send(&p->peer, sl->data, sl->len);
}

/* Posted to a participant's loop: one line for it alone. */
static void
deliver_call(void *a, void *b, void *c)
{
	struct participant *p = a;
	struct shared_line *sl = b;

	(void)c;
	send_line(p, sl);
	shared_line_unref(sl);
	participant_unref(p);
}

/* Send a line to any participant; takes over one reference to sl. */
static void
deliver(struct participant *p, struct shared_line *sl)
{
	if (loop_is_here(p->loop)) {
		send_line(p, sl);
		shared_line_unref(sl);
		return;
	}
	participant_ref(p);
	loop_post(p->loop, deliver_call, p, sl, NULL);
}

/* printf a line (adding "\n") to one participant. */
static void __attribute__((format(printf, 2, 3)))
tell(struct participant *p, const char *fmt, ...)
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
		line = xmalloc((size_t)n + 2);
		va_start(ap, fmt);
		vsnprintf(line, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	line[n++] = '\n';
	if (!loop_is_here(p->loop))
		deliver(p, shared_line_new(line, (size_t)n));
	else if (p->conn != NULL)
		conn_send(p->conn, line, (size_t)n);
	else
		udp_send(&p->peer, line, (size_t)n);
	if (line != buf)
		free(line);
}

/* Everyone of loop i but except gets the line. */
static void
local_broadcast(struct room *room, unsigned int i,
    struct participant *except, struct shared_line *sl)
{
	struct participant *p;

	TAILQ_FOREACH(p, &room->local[i], local) {
		/*
		 * Who joined after the line was said (on another loop, before
		 * the line got here) is not meant to hear it.
		 */
		if (p != except && (int32_t)(p->joined - sl->tag) <= 0)
			send_line(p, sl);
	}
}

/* Posted to each other loop by broadcast. */
static void
broadcast_call(void *a, void *b, void *c)
{
	struct room *room = a;
	struct participant *except = b;
	struct shared_line *sl = c;

	local_broadcast(room, loop_index(loop_here()), except, sl);
	shared_line_unref(sl);
	if (except != NULL)
		participant_unref(except);
}

/*
 * Everyone but except who had joined by the time given as a join count
 * gets the line; it is built once and shared, by every loop that has
 * participants.  Takes over the reference to sl.
 */
static void
broadcast_since(struct room *room, struct participant *except,
    struct shared_line *sl, uint32_t joins)
{
	struct loop *loop;
	unsigned int i;

	sl->tag = joins;
	for (i = 0; i < room->nloops; i++) {
		loop = server_loop(room->server, i);
		if (loop_is_here(loop)) {
			local_broadcast(room, i, except, sl);
			continue;
		}
		if (counter_get(&room->local_count[i]) == 0)
			continue;
		shared_line_ref(sl);
		if (except != NULL)
			participant_ref(except);	/* its address stays its */
		if (loop_post(loop, broadcast_call, room, except, sl) >
		    LOOP_BEHIND && except != NULL && except->conn != NULL)
			conn_hold(except->conn);	/* let that loop catch up */
	}
	shared_line_unref(sl);
}

/* Everyone in the room now but except gets the line. */
static void
broadcast(struct room *room, struct participant *except,
    struct shared_line *sl)
{
	broadcast_since(room, except, sl,
	    atomic_load_explicit(&room->joins, memory_order_acquire));
}

/* The member whose nick matches, ignoring case (room lock held). */
static struct participant *
find_nick(struct room *room, const char *nick, size_t len)
{
	struct participant *p;

	TAILQ_FOREACH(p, &room->members, entry) {
		if (strlen(p->nick) == len && strncasecmp(p->nick, nick,
		    len) == 0)
			return p;
	}
	return NULL;
}

/* The next guestN not in use (room lock held). */
static void
name_guest(struct room *room, struct participant *p)
{
	do {
		snprintf(p->nick, sizeof p->nick, "guest%lu",
		    ++room->next_guest);
	} while (find_nick(room, p->nick, strlen(p->nick)) != NULL);
}

/* Add p (with its loop set) to the room: welcome it, tell the others. */
static void
join(struct room *room, struct participant *p)
{
	unsigned int i = loop_index(p->loop);

	atomic_init(&p->refs, 1);
	/*
	 * All under the lock, the join count last: a broadcast that sees
	 * this join in the count also sees this loop's member count grown.
	 */
	room_lock(room);
	name_guest(room, p);
	TAILQ_INSERT_TAIL(&room->members, p, entry);
	room->count++;
	TAILQ_INSERT_TAIL(&room->local[i], p, local);
	counter_add(&room->local_count[i], 1);
	p->joined = atomic_load_explicit(&room->joins,
	    memory_order_relaxed) + 1;
	atomic_store_explicit(&room->joins, p->joined, memory_order_release);
	room_unlock(room);
	tell(p, "*** Welcome to echochat, %s. Type /help for help.", p->nick);
	/* Only those who were in before p hear of it. */
	broadcast_since(room, p, shared_line_printf("*** %s has joined\n",
	    p->nick), p->joined);
}

/* Take p out of the room, telling the others why (reason may be NULL). */
static void
leave(struct room *room, struct participant *p, const char *reason)
{
	unsigned int i = loop_index(p->loop);
	uint32_t joins;

	room_lock(room);
	TAILQ_REMOVE(&room->members, p, entry);
	room->count--;
	TAILQ_REMOVE(&room->local[i], p, local);
	counter_add(&room->local_count[i], -1);
	joins = atomic_load_explicit(&room->joins, memory_order_relaxed);
	room_unlock(room);
	p->left = 1;
	if (room->closing)
		return;
	/* Only those who were in while p was hear of it. */
	if (reason != NULL && *reason != '\0')
		broadcast_since(room, NULL, shared_line_printf("*** %s has "
		    "left (%s)\n", p->nick, reason), joins);
	else
		broadcast_since(room, NULL, shared_line_printf("*** %s has "
		    "left\n", p->nick), joins);
}

/* /who: one sorted line. */
static int
compare_nicks(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int r = strcasecmp(x, y);

	return r != 0 ? r : strcmp(x, y);
}

static void
cmd_who(struct room *room, struct participant *p)
{
	const char **nicks;
	struct participant *q;
	struct evbuffer *line = evbuffer_new();
	size_t i = 0;

	room_lock(room);	/* others' nicks are theirs to change */
	nicks = xcalloc(room->count, sizeof *nicks);
	TAILQ_FOREACH(q, &room->members, entry)
		nicks[i++] = q->nick;
	qsort(nicks, i, sizeof *nicks, compare_nicks);
	evbuffer_add_printf(line, "*** Users (%u): ", room->count);
	for (i = 0; i < room->count; i++)
		evbuffer_add_printf(line, "%s%s", i ? ", " : "", nicks[i]);
	room_unlock(room);
	evbuffer_add(line, "\n", 1);
	if (p->conn != NULL)
		conn_send(p->conn, evbuffer_pullup(line, -1),
		    evbuffer_get_length(line));
	else
		udp_send(&p->peer, evbuffer_pullup(line, -1),
		    evbuffer_get_length(line));
	evbuffer_free(line);
	free(nicks);
}

/* /nick NAME */
static void
cmd_nick(struct room *room, struct participant *p, const struct chat_cmd *cmd)
{
	struct participant *other;
	char old[CHAT_NICK_MAX + 1];

	if (cmd->arg.len == 0 || cmd->text.len != 0) {
		tell(p, "*** error: usage: /nick NAME");
		return;
	}
	if (!chat_nick_valid(cmd->arg.ptr, cmd->arg.len)) {
		tell(p, "*** error: invalid nick (1-16 of A-Z a-z 0-9 _ -)");
		return;
	}
	room_lock(room);
	other = find_nick(room, cmd->arg.ptr, cmd->arg.len);
	if (other != NULL && other != p) {
		room_unlock(room);
		tell(p, "*** error: nick %.*s is already in use",
		    (int)cmd->arg.len, cmd->arg.ptr);
		return;
	}
	memcpy(old, p->nick, sizeof old);
	memcpy(p->nick, cmd->arg.ptr, cmd->arg.len);
	p->nick[cmd->arg.len] = '\0';
	room_unlock(room);
	/*
	 * The others first: once p reads its answer, the notice is on its
	 * way to every loop, ahead of anything p's answer may prompt.
	 */
	if (strcmp(old, p->nick) != 0)
		broadcast(room, p, shared_line_printf("*** %s is now known "
		    "as %s\n", old, p->nick));
	tell(p, "*** You are now %s", p->nick);
}

/* /msg NAME text */
static void
cmd_msg(struct room *room, struct participant *p, const struct chat_cmd *cmd)
{
	struct participant *to;
	char to_nick[CHAT_NICK_MAX + 1];

	if (cmd->arg.len == 0 || cmd->text.len == 0) {
		tell(p, "*** error: usage: /msg NAME TEXT");
		return;
	}
	room_lock(room);
	if ((to = find_nick(room, cmd->arg.ptr, cmd->arg.len)) != NULL) {
		participant_ref(to);	/* it may leave on its own loop */
		memcpy(to_nick, to->nick, sizeof to_nick);
	}
	room_unlock(room);
	if (to == NULL) {
		tell(p, "*** error: no such user %.*s", (int)cmd->arg.len,
		    cmd->arg.ptr);
		return;
	}
	tell(to, "*%s* %.*s", p->nick, (int)cmd->text.len, cmd->text.ptr);
	tell(p, "-> *%s* %.*s", to_nick, (int)cmd->text.len, cmd->text.ptr);
	participant_unref(to);
}

static void	udp_forget(struct room *, struct participant *);

/* /quit [reason]: say goodbye, tell the others, go. */
static void
cmd_quit(struct room *room, struct participant *p, const struct chat_cmd *cmd)
{
	char reason[512];

	snprintf(reason, sizeof reason, "%.*s", (int)cmd->text.len,
	    cmd->text.ptr);
	leave(room, p, reason);		/* the others first, as for /nick */
	tell(p, "*** Bye");
	if (p->conn != NULL) {
		conn_set_data(p->conn, NULL);	/* gone: close says nothing */
		conn_finish(p->conn);
	} else
		udp_forget(room, p);
	participant_unref(p);
}

/*
 * chat_rate: may p send another line now?  A token bucket of chat_burst
 * lines refilled at chat_rate per second; the first line dropped in an
 * episode earns one "slow down", the rest go silently.
 */
static int
within_budget(struct room *room, struct participant *p)
{
	const struct config *cf = room->server->config;
	uint64_t now = monotonic_ms();

	if (cf->chat_rate == 0)
		return 1;
	if (p->budget_ms == 0)
		p->budget = (double)cf->chat_burst;
	else
		p->budget += (double)(now - p->budget_ms) *
		    (double)cf->chat_rate / 1000.0;
	if (p->budget > (double)cf->chat_burst)
		p->budget = (double)cf->chat_burst;
	p->budget_ms = now;
	if (p->budget >= 1.0) {
		p->budget -= 1.0;
		p->slowed = 0;
		return 1;
	}
	if (!p->slowed) {
		p->slowed = 1;
		tell(p, "*** error: slow down");
		log_info("chat: %s sends more than chat_rate; dropping its "
		    "lines", p->nick);
	}
	return 0;
}

/* Act on one cleaned line from p. */
static void
chat_line(struct room *room, struct participant *p, char *line, size_t len)
{
	struct chat_cmd cmd;
	size_t i;

	len = chat_clean(line, len);
	chat_parse(line, len, &cmd);
	if (cmd.kind != CHAT_EMPTY && cmd.kind != CHAT_QUIT &&
	    !within_budget(room, p))
		return;
	switch (cmd.kind) {
	case CHAT_EMPTY:
		break;
	case CHAT_TEXT:
		broadcast(room, p, shared_line_printf("<%s> %.*s\n", p->nick,
		    (int)cmd.text.len, cmd.text.ptr));
		break;
	case CHAT_ME:
		if (cmd.text.len == 0)
			tell(p, "*** error: usage: /me ACTION");
		else
			broadcast(room, p, shared_line_printf("* %s %.*s\n",
			    p->nick, (int)cmd.text.len, cmd.text.ptr));
		break;
	case CHAT_NICK:
		cmd_nick(room, p, &cmd);
		break;
	case CHAT_WHO:
		cmd_who(room, p);
		break;
	case CHAT_MSG:
		cmd_msg(room, p, &cmd);
		break;
	case CHAT_QUIT:
		cmd_quit(room, p, &cmd);
		break;
	case CHAT_HELP:
		for (i = 0; help_lines[i] != NULL; i++)
			tell(p, "%s", help_lines[i]);
		break;
	case CHAT_JOIN:
		if (p->conn == NULL)
			break;	/* a repeated handshake: already in */
		/* FALLTHROUGH */
	case CHAT_UNKNOWN:
		tell(p, "*** error: unknown command /%.*s (try /help)",
		    (int)cmd.name.len, cmd.name.ptr);
		break;
	}
}

/* --- Stream participants. --- */

static int
chat_open(struct conn *c)
{
	struct room *room = conn_handler_state(c);
	struct participant *p = xcalloc(1, sizeof *p);

	p->conn = c;
	p->loop = conn_loop(c);
	conn_set_data(c, p);
	join(room, p);
	return 0;
}

static void
chat_input(struct conn *c, char *line, size_t len)
{
	struct participant *p = conn_get_data(c);

	if (p != NULL)
		chat_line(conn_handler_state(c), p, line, len);
}

static void
chat_close(struct conn *c, const char *reason)
{
	struct participant *p = conn_get_data(c);

	if (p == NULL)
		return;		/* already left with /quit */
	/* Only "too slow" is worth telling; a timeout is a plain leave. */
	leave(conn_handler_state(c), p,
	    reason != NULL && strcmp(reason, "too slow") == 0 ? reason : NULL);
	conn_set_data(c, NULL);
	participant_unref(p);
}

/* --- UDP participants. --- */

/* Hash bucket of a UDP address. */
static size_t
udp_bucket(const struct sockaddr_storage *ss, socklen_t len)
{
	static const uint8_t zero[16];

	return (size_t)(siphash(zero, ss, len) % UDP_BUCKETS);
}

/* Same UDP address and port? */
static int
same_peer(const struct dgram_peer *a, const struct dgram_peer *b)
{
	return a->listener == b->listener && a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

static struct participant *
udp_find(struct room *room, const struct dgram_peer *peer)
{
	struct participant *p;

	for (p = room->udp[udp_bucket(&peer->addr, peer->addrlen)]; p != NULL;
	    p = p->udp_next) {
		if (same_peer(&p->peer, peer))
			return p;
	}
	return NULL;
}

/* Remove a UDP participant from the address table. */
static void
udp_forget(struct room *room, struct participant *p)
{
	struct participant **pp;

	pp = &room->udp[udp_bucket(&p->peer.addr, p->peer.addrlen)];
	for (; *pp != NULL; pp = &(*pp)->udp_next) {
		if (*pp == p) {
			*pp = p->udp_next;
			room->udp_count--;
			return;
		}
	}
}

/* The token for an address in a given period: 16 hex digits. */
static void
make_token(struct room *room, const struct dgram_peer *peer, uint64_t period,
    char out[17])
{
	uint8_t buf[sizeof peer->addr + 8];

	memset(buf, 0, sizeof buf);
	memcpy(buf, &peer->addr, peer->addrlen);
	memcpy(buf + sizeof peer->addr, &period, sizeof period);
	snprintf(out, 17, "%016" PRIx64, siphash(room->key, buf, sizeof buf));
}

/* Is this the token of this address, now or in the previous period? */
static int
token_valid(struct room *room, const struct dgram_peer *peer,
    const struct chat_span *token)
{
	uint64_t period = (uint64_t)time(NULL) / TOKEN_PERIOD_S;
	char expect[17];
	int i;

	if (token->len != 16)
		return 0;
	for (i = 0; i < 2; i++) {
		make_token(room, peer, period - (uint64_t)i, expect);
		if (memcmp(expect, token->ptr, 16) == 0)
			return 1;
	}
	return 0;
}

/* One datagram from an unknown address: a join, or the challenge. */
static void
udp_stranger(struct room *room, const struct dgram_peer *peer, char *data,
    size_t len)
{
	struct participant *p;
	struct chat_cmd cmd;
	char token[17], *lf;
	size_t n;

	if ((lf = memchr(data, '\n', len)) != NULL)
		len = (size_t)(lf - data);
	n = frame_strip_eol(data, len);
	n = chat_clean(data, n);
	chat_parse(data, n, &cmd);
	if (cmd.kind != CHAT_JOIN || !token_valid(room, peer, &cmd.arg)) {
		char msg[64];
		int m;
		make_token(room, peer, (uint64_t)time(NULL) / TOKEN_PERIOD_S,
		    token);
		m = snprintf(msg, sizeof msg, "*** To join, send: /join %s\n",
		    token);
		udp_reply(peer, msg, (size_t)m);
		return;
	}
	if (room->udp_count >= room->server->config->udp_peers_max) {
		udp_reply(peer, "*** error: server full\n", 23);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->peer = *peer;
	p->loop = server_loop(room->server, 0);	/* UDP runs there */
	p->heard_ms = monotonic_ms();
	n = udp_bucket(&peer->addr, peer->addrlen);
	p->udp_next = room->udp[n];
	room->udp[n] = p;
	room->udp_count++;
	join(room, p);
}

/* A datagram on a chat UDP listener: each line is input. */
static void
chat_datagram(void *state, const struct dgram_peer *peer, char *data,
    size_t len)
{
	struct room *room = state;
	struct participant *p;
	char *lf;
	size_t n;

	if ((p = udp_find(room, peer)) == NULL) {
		udp_stranger(room, peer, data, len);
		return;
	}
	p->heard_ms = monotonic_ms();
	while (len > 0 && p != NULL) {
		lf = memchr(data, '\n', len);
		n = lf ? (size_t)(lf - data) + 1 : len;
		if (frame_strip_eol(data, n) > room->server->config->max_line)
			tell(p, "*** error: line too long (max %llu bytes)",
			    (unsigned long long)room->server->config->max_line);
		else
			chat_line(room, p, data, frame_strip_eol(data, n));
		data += n;
		len -= n;
		p = udp_find(room, peer);	/* /quit may have freed it */
	}
}

/* Once a second: UDP participants silent for too long leave. */
static void
chat_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct room *room = arg;
	struct participant *p, *next;
	uint64_t now = monotonic_ms(), limit;

	(void)fd;
	(void)what;
	limit = room->server->config->udp_peer_timeout_ms;
	TAILQ_FOREACH_SAFE(p, &room->local[0], local, next) {
		if (p->conn != NULL || now - p->heard_ms < limit)
			continue;
		udp_forget(room, p);
		leave(room, p, NULL);
		participant_unref(p);
	}
}

/* --- The room's life. --- */

static void *
chat_start(struct server *s, const char **cause)
{
	struct room *room = xcalloc(1, sizeof *room);
	struct timeval tv = { 1, 0 };
	unsigned int i;

	if (getrandom(room->key, sizeof room->key, 0) !=
	    (ssize_t)sizeof room->key) {
		*cause = "no random bytes for join tokens";
		free(room);
		return NULL;
	}
	room->server = s;
	pthread_mutex_init(&room->lock, NULL);
	TAILQ_INIT(&room->members);
	room->nloops = server_nloops(s);
	room->local = xcalloc(room->nloops, sizeof *room->local);
	room->local_count = xcalloc(room->nloops, sizeof *room->local_count);
	for (i = 0; i < room->nloops; i++)
		TAILQ_INIT(&room->local[i]);
	room->sweep = event_new(server_loop(s, 0)->base, -1, EV_PERSIST,
	    chat_sweep, room);
	event_add(room->sweep, &tv);
	return room;
}

/*
 * Tell everyone the server is going; no more notices after that.  Called
 * with every loop held, so each participant is written to directly.
 */
static void
chat_shutdown(void *state)
{
	struct room *room = state;
	struct participant *p;

	room_lock(room);
	TAILQ_FOREACH(p, &room->members, entry)
		tell(p, "*** server shutting down");
	room_unlock(room);
	room->closing = 1;
}

static void
chat_stop(void *state)
{
	struct room *room = state;
	struct participant *p, *next;

	room->closing = 1;
	TAILQ_FOREACH_SAFE(p, &room->members, entry, next) {
		if (p->conn == NULL) {
			TAILQ_REMOVE(&room->members, p, entry);
			free(p);
		}
	}
	event_free(room->sweep);
	pthread_mutex_destroy(&room->lock);
	free(room->local);
	free(room->local_count);
	free(room);
}

const struct handler handler_chat = {
	.name = "chat",
	.framing = FRAMING_LINES,
	.start = chat_start,
	.stop = chat_stop,
	.shutdown = chat_shutdown,
	.open = chat_open,
	.input = chat_input,
	.close = chat_close,
	.datagram = chat_datagram,
};
