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
	char			 nick[CHAT_NICK_MAX + 1];
	struct conn		*conn;		/* stream; NULL for UDP */
	struct dgram_peer	 peer;		/* UDP */
	uint64_t		 heard_ms;	/* UDP: last datagram */
	uint64_t		 budget_ms;	/* chat_rate: last refill */
	double			 budget;	/* lines it may send now */
	int			 slowed;	/* told to slow down */
	TAILQ_ENTRY(participant) entry;
	struct participant	*udp_next;	/* hash chain */
};
TAILQ_HEAD(participant_list, participant);

struct room {
	struct server		*server;
	struct participant_list	 members;
	unsigned int		 count;
	unsigned int		 udp_count;
	unsigned long		 next_guest;
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

/* Send one already formatted line to one participant. */
static void
send_line(struct participant *p, struct shared_line *sl)
{
	if (p->conn != NULL)
		conn_send_shared(p->conn, sl);
	else
		udp_send(&p->peer, sl->data, sl->len);
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
	if (p->conn != NULL)
		conn_send(p->conn, line, (size_t)n);
	else
		udp_send(&p->peer, line, (size_t)n);
	if (line != buf)
		free(line);
}

/* Everyone but except gets the line; it is built once and shared. */
static void
broadcast(struct room *room, struct participant *except,
    struct shared_line *sl)
{
	struct participant *p;

	TAILQ_FOREACH(p, &room->members, entry) {
		if (p != except)
			send_line(p, sl);
	}
	shared_line_unref(sl);
}

/* The member whose nick matches, ignoring case. */
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

/* The next guestN not in use. */
static void
name_guest(struct room *room, struct participant *p)
{
	do {
		snprintf(p->nick, sizeof p->nick, "guest%lu",
		    ++room->next_guest);
	} while (find_nick(room, p->nick, strlen(p->nick)) != NULL);
}

/* Add p to the room: welcome it, tell the others. */
static void
join(struct room *room, struct participant *p)
{
	name_guest(room, p);
	TAILQ_INSERT_TAIL(&room->members, p, entry);
	room->count++;
	tell(p, "*** Welcome to echochat, %s. Type /help for help.", p->nick);
	broadcast(room, p, shared_line_printf("*** %s has joined\n",
	    p->nick));
}

/* Take p out of the room, telling the others why (reason may be NULL). */
static void
leave(struct room *room, struct participant *p, const char *reason)
{
	TAILQ_REMOVE(&room->members, p, entry);
	room->count--;
	if (room->closing)
		return;
	if (reason != NULL && *reason != '\0')
		broadcast(room, NULL, shared_line_printf("*** %s has left "
		    "(%s)\n", p->nick, reason));
	else
		broadcast(room, NULL, shared_line_printf("*** %s has left\n",
		    p->nick));
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
	const char **nicks = xcalloc(room->count, sizeof *nicks);
	struct participant *q;
	struct evbuffer *line = evbuffer_new();
	size_t i = 0;

	TAILQ_FOREACH(q, &room->members, entry)
		nicks[i++] = q->nick;
	qsort(nicks, i, sizeof *nicks, compare_nicks);
	evbuffer_add_printf(line, "*** Users (%u): ", room->count);
	for (i = 0; i < room->count; i++)
		evbuffer_add_printf(line, "%s%s", i ? ", " : "", nicks[i]);
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
	other = find_nick(room, cmd->arg.ptr, cmd->arg.len);
	if (other != NULL && other != p) {
		tell(p, "*** error: nick %.*s is already in use",
		    (int)cmd->arg.len, cmd->arg.ptr);
		return;
	}
	memcpy(old, p->nick, sizeof old);
	memcpy(p->nick, cmd->arg.ptr, cmd->arg.len);
	p->nick[cmd->arg.len] = '\0';
	tell(p, "*** You are now %s", p->nick);
	if (strcmp(old, p->nick) != 0)
		broadcast(room, p, shared_line_printf("*** %s is now known "
		    "as %s\n", old, p->nick));
}

/* /msg NAME text */
static void
cmd_msg(struct room *room, struct participant *p, const struct chat_cmd *cmd)
{
	struct participant *to;

	if (cmd->arg.len == 0 || cmd->text.len == 0) {
		tell(p, "*** error: usage: /msg NAME TEXT");
		return;
	}
	if ((to = find_nick(room, cmd->arg.ptr, cmd->arg.len)) == NULL) {
		tell(p, "*** error: no such user %.*s", (int)cmd->arg.len,
		    cmd->arg.ptr);
		return;
	}
	tell(to, "*%s* %.*s", p->nick, (int)cmd->text.len, cmd->text.ptr);
	tell(p, "-> *%s* %.*s", to->nick, (int)cmd->text.len, cmd->text.ptr);
}

static void	udp_forget(struct room *, struct participant *);

/* /quit [reason]: say goodbye, tell the others, go. */
static void
cmd_quit(struct room *room, struct participant *p, const struct chat_cmd *cmd)
{
	char reason[512];

	snprintf(reason, sizeof reason, "%.*s", (int)cmd->text.len,
	    cmd->text.ptr);
	tell(p, "*** Bye");
	leave(room, p, reason);
	if (p->conn != NULL) {
		conn_set_data(p->conn, NULL);	/* gone: close says nothing */
		conn_finish(p->conn);
	} else
		udp_forget(room, p);
	free(p);
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
	free(p);
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
	TAILQ_FOREACH_SAFE(p, &room->members, entry, next) {
		if (p->conn != NULL || now - p->heard_ms < limit)
			continue;
		udp_forget(room, p);
		leave(room, p, NULL);
		free(p);
	}
}

/* --- The room's life. --- */

static void *
chat_start(struct server *s, const char **cause)
{
	struct room *room = xcalloc(1, sizeof *room);
	struct timeval tv = { 1, 0 };

	if (getrandom(room->key, sizeof room->key, 0) !=
	    (ssize_t)sizeof room->key) {
		*cause = "no random bytes for join tokens";
		free(room);
		return NULL;
	}
	room->server = s;
	TAILQ_INIT(&room->members);
	room->sweep = event_new(s->loop.base, -1, EV_PERSIST, chat_sweep, room);
	event_add(room->sweep, &tv);
	return room;
}

/* Tell everyone the server is going; no more notices after that. */
static void
chat_shutdown(void *state)
{
	struct room *room = state;
	struct participant *p;

	TAILQ_FOREACH(p, &room->members, entry)
		tell(p, "*** server shutting down");
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
