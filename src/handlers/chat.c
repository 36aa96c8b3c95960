/*
 * chat.c -- the chat handler: one set of rooms shared by every chat
 * listener, TCP, Unix and UDP alike (README "Chat").
 *
 * Each line a participant sends is cleaned, parsed, rate-limited and
 * turned into one of the rooms' operations (room.c).  A participant
 * starts in its listener's room, as the listener names it when the
 * participant arrives (a reload changes it for newcomers only).  Stream participants
 * are connections; UDP participants are addresses that proved themselves
 * with a token (SipHash of their address under a secret key, so nothing
 * is stored for addresses that never answer) and leave after /quit or
 * udp_peer_timeout of silence.  Both are endpoints to the rooms, so
 * nothing below cares which is which.
 */
#include <sys/random.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "chat.h"
#include "chat_cmd.h"
#include "handler.h"
#include "room.h"

#define UDP_BUCKETS		1024
/* Tokens are good for this long, and at least one more such period. */
#define TOKEN_PERIOD_S		300

struct participant {
	struct room_member	 m;
	struct conn		*conn;		/* stream; NULL for UDP */
	struct dgram_src	 src;		/* UDP: its address */
	uint64_t		 heard_ms;	/* UDP: last datagram */
	uint64_t		 budget_ms;	/* chat_rate: last refill */
	double			 budget;	/* lines it may send now */
	int			 slowed;	/* told to slow down */
	struct participant	*udp_next;	/* hash chain */
};

/* [chat], copied at start and at every reload. */
struct chat_settings {
	uint64_t	udp_peer_timeout_ms;
	uint64_t	udp_peers_max;
	uint64_t	chat_rate;
	uint64_t	chat_burst;
};

/* Named rooms a configuration may list before we give up counting. */
#define NAMED_MAX	1024

struct chat {
	struct rooms		*rooms;
	struct bridge		*bridge;	/* [cluster]; NULL: none */
	struct chat_settings	 cfg;
	uint8_t			 key[16];
	struct participant	*udp[UDP_BUCKETS];	/* main thread */
	unsigned int		 udp_count;
	struct htimer		*sweep;
};

static const char *help_lines[] = {
	"*** Commands:",
	"***   /me ACTION        tell what you do",
	"***   /nick NAME        change your name (1-16 of A-Z a-z 0-9 _ -)",
	"***   /who [#ROOM]      list who is here (or in #ROOM)",
	"***   /join #ROOM       go to #ROOM (made if it does not exist)",
	"***   /part             go back to the room you started in",
	"***   /rooms, /list     list the rooms and how many are in each",
	"***   /topic [TEXT]     show or set the topic of this room",
	"***   /msg NAME TEXT    send TEXT to NAME alone",
	"***   /quit [REASON]    leave",
	"***   /help             this help",
	"***   //TEXT            send a line that starts with /",
	NULL
};

static void	udp_forget(struct chat *, struct participant *);

/* The participant is gone from the room and from us: free it. */
static void
participant_free(struct participant *p)
{
	endpoint_unref(p->m.ep);
	free(p);
}

/* Where p is, for logs: "127.0.0.1:5555"; valid until the next call. */
static const char *
participant_addr(const struct participant *p)
{
	return p->conn != NULL ? conn_peer_name(p->conn) :
	    dgram_peer_name(&p->src);
}

/* Log (debug) that p is in the room, so a nick leads to an address. */
static void
participant_joined(struct participant *p)
{
	if (p->conn != NULL)
		conn_set_user(p->conn, p->m.nick);
	hlog(HLOG_DEBUG, "chat: %s %s joined as %s", p->conn ? "stream" :
	    "udp", participant_addr(p), p->m.nick);
}

/* /nick NAME */
static void
cmd_nick(struct chat *chat, struct participant *p, const struct chat_cmd *cmd)
{
	char old[sizeof p->m.nick];

	if (cmd->arg.len == 0 || cmd->text.len != 0) {
		room_tell(&p->m, "*** error: usage: /nick NAME");
		return;
	}
	if (!chat_nick_valid(cmd->arg.ptr, cmd->arg.len)) {
		room_tell(&p->m, "*** error: invalid nick (1-16 of A-Z a-z "
		    "0-9 _ -)");
		return;
	}
	memcpy(old, p->m.nick, sizeof old);
	room_nick(chat->rooms, &p->m, cmd->arg.ptr, cmd->arg.len);
	if (strcmp(old, p->m.nick) == 0)
		return;
	if (p->conn != NULL)
		conn_set_user(p->conn, p->m.nick);
	hlog(HLOG_DEBUG, "chat: %s at %s is now known as %s", old,
	    participant_addr(p), p->m.nick);
}

/* /msg NAME text */
static void
cmd_msg(struct chat *chat, struct participant *p, const struct chat_cmd *cmd)
{
	if (cmd->arg.len == 0 || cmd->text.len == 0) {
		room_tell(&p->m, "*** error: usage: /msg NAME TEXT");
		return;
	}
	hcount(HCOUNT_CHAT_MESSAGES, 1);
	room_msg(chat->rooms, &p->m, cmd->arg.ptr, cmd->arg.len, cmd->text.ptr,
	    cmd->text.len);
}

/* Is this a room name?  If not, p is told what one is. */
static int
room_name_ok(struct participant *p, const struct chat_span *name)
{
	if (chat_room_valid(name->ptr, name->len))
		return 1;
	room_tell(&p->m, "*** error: invalid room name (# and 1-32 of A-Z "
	    "a-z 0-9 _ -)");
	return 0;
}

/* /join #room; /join TOKEN is the UDP handshake, and p is in already. */
static void
cmd_join(struct chat *chat, struct participant *p, const struct chat_cmd *cmd)
{
	if (cmd->arg.len > 0 && cmd->arg.ptr[0] == '#') {
		if (room_name_ok(p, &cmd->arg))
			room_move(chat->rooms, &p->m, cmd->arg.ptr,
			    cmd->arg.len);
		return;
	}
	if (p->conn != NULL)
		room_tell(&p->m, "*** error: usage: /join #ROOM");
}

/* /who [#room] */
static void
cmd_who(struct chat *chat, struct participant *p, const struct chat_cmd *cmd)
{
	if (cmd->arg.len > 0 && cmd->arg.ptr[0] != '#') {
		room_tell(&p->m, "*** error: usage: /who [#ROOM]");
		return;
	}
	if (cmd->arg.len == 0 || room_name_ok(p, &cmd->arg))
		room_who(chat->rooms, &p->m, cmd->arg.ptr, cmd->arg.len);
}

/* Where a newcomer starts: its listener's room, as named now. */
static void
set_home(struct participant *p, const char *room)
{
	snprintf(p->m.home, sizeof p->m.home, "%s",
	    room != NULL ? room : CHAT_DEFAULT_ROOM);
}

/* /quit [reason]: tell the others, say goodbye, go. */
static void
cmd_quit(struct chat *chat, struct participant *p, const struct chat_cmd *cmd)
{
	char reason[512];

	snprintf(reason, sizeof reason, "%.*s", (int)cmd->text.len,
	    cmd->text.ptr);
	room_leave(chat->rooms, &p->m, reason);	/* the others first */
	hcount(HCOUNT_CHAT_PARTICIPANTS, -1);
	room_tell(&p->m, "*** Bye");
	if (p->conn != NULL) {
		conn_set_data(p->conn, NULL);	/* gone: close says nothing */
	} else {
		hlog(HLOG_DEBUG, "chat: udp %s (%s) left: quit",
		    participant_addr(p), p->m.nick);
		udp_forget(chat, p);
	}
	endpoint_finish(p->m.ep);
	participant_free(p);
}

/*
 * chat_rate: may p send another line now?  A token bucket of chat_burst
 * lines refilled at chat_rate per second; the first line dropped in an
 * episode earns one "slow down", the rest go silently.
 */
static int
within_budget(struct chat *chat, struct participant *p)
{
	const struct chat_settings *cf = &chat->cfg;
	uint64_t now = hclock_ms();

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
		room_tell(&p->m, "*** error: slow down");
		hlog(HLOG_INFO, "chat: %s sends more than chat_rate; "
		    "dropping its lines (from %s)", p->m.nick,
		    participant_addr(p));
	}
	hcount(HCOUNT_CHAT_DROPPED_RATE, 1);
	return 0;
}

/* Act on one line from p. */
static void
chat_line(struct chat *chat, struct participant *p, char *line, size_t len)
{
	struct chat_cmd cmd;
	size_t i;

	len = chat_clean(line, len);
	chat_parse(line, len, &cmd);
	if (cmd.kind != CHAT_EMPTY && cmd.kind != CHAT_QUIT &&
	    !within_budget(chat, p))
		return;
	switch (cmd.kind) {
	case CHAT_EMPTY:
		break;
	case CHAT_TEXT:
		hcount(HCOUNT_CHAT_MESSAGES, 1);
		room_say(chat->rooms, &p->m, cmd.text.ptr, cmd.text.len);
		break;
	case CHAT_ME:
		if (cmd.text.len == 0)
			room_tell(&p->m, "*** error: usage: /me ACTION");
		else {
			hcount(HCOUNT_CHAT_MESSAGES, 1);
			room_act(chat->rooms, &p->m, cmd.text.ptr,
			    cmd.text.len);
		}
		break;
	case CHAT_NICK:
		cmd_nick(chat, p, &cmd);
		break;
	case CHAT_WHO:
		cmd_who(chat, p, &cmd);
		break;
	case CHAT_PART:
		room_move(chat->rooms, &p->m, p->m.home, strlen(p->m.home));
		break;
	case CHAT_ROOMS:
		room_list(chat->rooms, &p->m);
		break;
	case CHAT_TOPIC:
		if (cmd.text.len == 0)
			room_show_topic(chat->rooms, &p->m);
		else
			room_topic(chat->rooms, &p->m, cmd.text.ptr,
			    cmd.text.len);
		break;
	case CHAT_MSG:
		cmd_msg(chat, p, &cmd);
		break;
	case CHAT_QUIT:
		cmd_quit(chat, p, &cmd);
		break;
	case CHAT_HELP:
		for (i = 0; help_lines[i] != NULL; i++)
			room_tell(&p->m, "%s", help_lines[i]);
		break;
	case CHAT_JOIN:
		cmd_join(chat, p, &cmd);
		break;
	case CHAT_UNKNOWN:
		room_tell(&p->m, "*** error: unknown command /%.*s (try "
		    "/help)", (int)cmd.name.len, cmd.name.ptr);
		break;
	}
}

/* --- Stream participants (on the connection's loop). --- */

static int
chat_open(struct conn *c)
{
	struct chat *chat = conn_handler_state(c);
	struct participant *p = calloc(1, sizeof *p);

	if (p == NULL)
		abort();
	p->conn = c;
	p->m.ep = conn_endpoint(c);
	endpoint_ref(p->m.ep);		/* ours until the participant goes */
	conn_set_data(c, p);
	hcount(HCOUNT_CHAT_PARTICIPANTS, 1);
	set_home(p, conn_room(c));
	room_arrive(chat->rooms, &p->m);
	participant_joined(p);
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
	struct chat *chat = conn_handler_state(c);
	struct participant *p = conn_get_data(c);

	if (p == NULL)
		return;		/* already left with /quit */
	/* Only "too slow" is worth telling; a timeout is a plain leave. */
	room_leave(chat->rooms, &p->m,
	    reason != NULL && strcmp(reason, "too slow") == 0 ? reason : NULL);
	hcount(HCOUNT_CHAT_PARTICIPANTS, -1);
	conn_set_data(c, NULL);
	participant_free(p);
}

/* --- UDP participants (main thread). --- */

/* Length of a line without its LF and a CR before it. */
static size_t
strip_eol(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

/* Hash bucket of a UDP address. */
static size_t
udp_bucket(const struct chat *chat, const struct dgram_src *src)
{
	return (size_t)(hsiphash(chat->key, &src->addr, src->addrlen) %
	    UDP_BUCKETS);
}

/* Same socket, address and port? */
static int
same_src(const struct dgram_src *a, const struct dgram_src *b)
{
	return a->origin == b->origin && a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

static struct participant *
udp_find(struct chat *chat, const struct dgram_src *src)
{
	struct participant *p;

	for (p = chat->udp[udp_bucket(chat, src)]; p != NULL; p = p->udp_next) {
		if (same_src(&p->src, src))
			return p;
	}
	return NULL;
}

/* Remove a UDP participant from the address table. */
static void
udp_forget(struct chat *chat, struct participant *p)
{
	struct participant **pp = &chat->udp[udp_bucket(chat, &p->src)];

	for (; *pp != NULL; pp = &(*pp)->udp_next) {
		if (*pp == p) {
			*pp = p->udp_next;
			chat->udp_count--;
			return;
		}
	}
}

/* The token for an address in a given period: 16 hex digits. */
static void
make_token(struct chat *chat, const struct dgram_src *src, uint64_t period,
    char out[17])
{
	uint8_t buf[sizeof src->addr + 8];

	memset(buf, 0, sizeof buf);
	memcpy(buf, &src->addr, src->addrlen);
	memcpy(buf + sizeof src->addr, &period, sizeof period);
	snprintf(out, 17, "%016" PRIx64, hsiphash(chat->key, buf, sizeof buf));
}

/* Is this the token of this address, now or in the previous period? */
static int
token_valid(struct chat *chat, const struct dgram_src *src,
    const struct chat_span *token)
{
	uint64_t period = (uint64_t)time(NULL) / TOKEN_PERIOD_S;
	char expect[17];
	int i;

	if (token->len != 16)
		return 0;
	for (i = 0; i < 2; i++) {
		make_token(chat, src, period - (uint64_t)i, expect);
		if (memcmp(expect, token->ptr, 16) == 0)
			return 1;
	}
	return 0;
}

/* Answer a stranger with the challenge to send back. */
static void
udp_challenge(struct chat *chat, const struct dgram_src *src)
{
	char token[17], msg[64];
	int m;

	make_token(chat, src, (uint64_t)time(NULL) / TOKEN_PERIOD_S, token);
	m = snprintf(msg, sizeof msg, "*** To join, send: /join %s\n", token);
	dgram_reply(src, msg, (size_t)m);
}

/* One datagram from an unknown address: a join, or the challenge. */
static void
udp_stranger(struct chat *chat, const struct dgram_src *src, char *data,
    size_t len)
{
	struct participant *p;
	struct chat_cmd cmd;
	char *lf;
	size_t n;

	if ((lf = memchr(data, '\n', len)) != NULL)
		len = (size_t)(lf - data);
	n = chat_clean(data, strip_eol(data, len));
	chat_parse(data, n, &cmd);
	if (cmd.kind != CHAT_JOIN || !token_valid(chat, src, &cmd.arg)) {
		udp_challenge(chat, src);
		return;
	}
	if (chat->udp_count >= chat->cfg.udp_peers_max) {
		dgram_count_full(src);
		dgram_reply(src, "*** error: server full\n", 23);
		return;
	}
	if ((p = calloc(1, sizeof *p)) == NULL)
		abort();
	p->src = *src;
	p->m.ep = dgram_endpoint(src);
	p->heard_ms = hclock_ms();
	n = udp_bucket(chat, src);
	p->udp_next = chat->udp[n];
	chat->udp[n] = p;
	chat->udp_count++;
	hcount(HCOUNT_CHAT_PARTICIPANTS, 1);
	set_home(p, dgram_room(src));
	room_arrive(chat->rooms, &p->m);
	participant_joined(p);
}

/* A datagram on a chat UDP listener: each line is input. */
static void
chat_datagram(void *state, const struct dgram_src *src, char *data,
    size_t len)
{
	struct chat *chat = state;
	struct participant *p;
	size_t n, max_line = dgram_max_line(src);
	char *lf;

	if ((p = udp_find(chat, src)) == NULL) {
		udp_stranger(chat, src, data, len);
		return;
	}
	p->heard_ms = hclock_ms();
	while (len > 0 && p != NULL) {
		lf = memchr(data, '\n', len);
		n = lf ? (size_t)(lf - data) + 1 : len;
		if (strip_eol(data, n) > max_line) {
			hcount(HCOUNT_CHAT_DROPPED_TOO_LONG, 1);
			room_tell(&p->m, "*** error: line too long (max %zu "
			    "bytes)", max_line);
		} else
			chat_line(chat, p, data, strip_eol(data, n));
		data += n;
		len -= n;
		p = udp_find(chat, src);	/* /quit may have freed it */
	}
}

/* Once a second: UDP participants silent for too long leave. */
static void
chat_sweep(void *arg)
{
	struct chat *chat = arg;
	struct participant *p, *next;
	uint64_t now = hclock_ms(), limit = chat->cfg.udp_peer_timeout_ms;
	size_t i;

	for (i = 0; i < UDP_BUCKETS; i++) {
		for (p = chat->udp[i]; p != NULL; p = next) {
			next = p->udp_next;
			if (now - p->heard_ms < limit)
				continue;
			hlog(HLOG_DEBUG, "chat: udp %s (%s) left: "
			    "udp_peer_timeout", participant_addr(p), p->m.nick);
			udp_forget(chat, p);
			room_leave(chat->rooms, &p->m, NULL);
			hcount(HCOUNT_CHAT_PARTICIPANTS, -1);
			participant_free(p);
		}
	}
}

/* --- The handler's life. --- */

static void *
chat_start(const char **cause)
{
	struct chat *chat = calloc(1, sizeof *chat);

	if (chat == NULL)
		abort();
	if (getrandom(chat->key, sizeof chat->key, 0) !=
	    (ssize_t)sizeof chat->key) {
		*cause = "no random bytes for join tokens";
		free(chat);
		return NULL;
	}
	chat->rooms = rooms_new();
	if (hcluster_enabled())
		chat->bridge = bridge_new(chat->rooms);
	chat->sweep = htimer_every(1000, chat_sweep, chat);
	return chat;
}

/* rooms_max, history, and the rooms listeners name (every loop held). */
static void
configure_rooms(struct chat *chat, const struct hsettings *hs)
{
	const char *named[NAMED_MAX];
	size_t n = 0;

	while (n < NAMED_MAX &&
	    (named[n] = hsettings_room(hs, n, CHAT_DEFAULT_ROOM)) != NULL)
		n++;
	rooms_configure(chat->rooms, (unsigned long)hsettings_get(hs,
	    "rooms_max"), (unsigned int)hsettings_get(hs, "history"), named,
	    n);
}

static void
chat_configure(void *state, const struct hsettings *hs)
{
	struct chat *chat = state;

	chat->cfg.udp_peer_timeout_ms = hsettings_get(hs, "udp_peer_timeout");
	chat->cfg.udp_peers_max = hsettings_get(hs, "udp_peers_max");
	chat->cfg.chat_rate = hsettings_get(hs, "chat_rate");
	chat->cfg.chat_burst = hsettings_get(hs, "chat_burst");
	configure_rooms(chat, hs);
}

static void
chat_shutdown(void *state)
{
	struct chat *chat = state;

	rooms_shutdown(chat->rooms);
	if (chat->bridge != NULL)
		bridge_shutdown(chat->bridge);
}

/* Every stream participant is gone by now; the UDP ones go here. */
static void
chat_stop(void *state)
{
	struct chat *chat = state;
	struct participant *p, *next;
	size_t i;

	for (i = 0; i < UDP_BUCKETS; i++) {
		for (p = chat->udp[i]; p != NULL; p = next) {
			next = p->udp_next;
			hcount(HCOUNT_CHAT_PARTICIPANTS, -1);
			participant_free(p);
		}
	}
	htimer_free(chat->sweep);
	if (chat->bridge != NULL)
		bridge_free(chat->bridge);
	rooms_free(chat->rooms);
	free(chat);
}

const struct handler handler_chat = {
	.name = "chat",
	.framing = FRAMING_LINES,
	.telnet = 1,
	.section = "chat",
	.settings = chat_settings,
	.check_room = chat_check_room,
	.start = chat_start,
	.configure = chat_configure,
	.stop = chat_stop,
	.shutdown = chat_shutdown,
	.open = chat_open,
	.input = chat_input,
	.close = chat_close,
	.datagram = chat_datagram,
};
