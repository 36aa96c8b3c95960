/*
 * chat.c -- chat mode: C participants join a chat room, K of them send
 * timestamped lines, every receiver checks per-sender ordering and
 * records the delivery latency.
 *
 * --proto says whose room, and changes only how participants get in and
 * how a delivered line is framed; pacing, ordering and the report are the
 * same for all three, so they are one mode here:
 *   echochat  wait for the welcome line (and with --rooms R, for the
 *             answer to "/join #bench(i mod R)": sender s is then heard
 *             in its own room only, and paced by a listener there);
 *   plain     any server that relays each line to the others, with or
 *             without a prefix, such as ncat --chat: no welcome, so sync
 *             lines prove everybody is in;
 *   redis     SUBSCRIBE and PUBLISH over RESP, each sender publishing on
 *             an extra connection of its own.
 *
 * --ws (echochat, plain): every participant upgrades to WebSocket before
 * the clock (ws.c), each line goes out as one masked text frame and the
 * frames coming back are turned into the line stream first, so every
 * delivery is checked as over TCP.
 *
 * With -p P1,P2,... (echochat only) the participants are spread over the
 * servers of one cluster, participant i on server i mod N: a line then
 * crosses Redis to reach most of its receivers.  Membership across
 * servers is asynchronous, so before the clock starts participant t < N
 * (on server t) sends marker lines "M <t> <round>" until everybody has
 * heard one from every server; after the window a drain lets the last
 * lines arrive, and whatever a participant has still not heard of each
 * sender is counted as lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define WELCOME_TIMEOUT_NS (15 * NS_PER_S)
#define CHAT_DRAIN_NS (500 * NS_PER_MS)
#define CHAT_STALL_NS (1 * NS_PER_S)
#define CHAT_LBUF 2048
#define CHAT_WBUF 4096

enum chat_phase { CP_WELCOME, CP_DRAIN, CP_RUN };

/* redis: the channel everybody subscribes to.  plain: how often the two
 * sync senders speak while waiting for everybody to be in the room. */
#define REDIS_CHANNEL "echochat-bench"
#define SYNC_EVERY_NS (500 * NS_PER_MS)
/* The sync rounds before a plain participant that heard nothing nudges
 * the server (chat_join): time enough for a slow one to relay a sync
 * line to all, so that only a connection the server never saw nudges. */
#define NUDGE_ROUND 3
/* Room kept in a sender's buffer for one more line (RESP framing included). */
#define CHAT_LINE_MAX 128
#define CHAT_CONNECT_BATCH 32
/* Lines a sender may have on their way at most, whatever window a stall
 * has granted: the size of its ring of receipt counts. */
#define CHAT_RING 4096
/* Several servers: how long the lines in flight at the window's end get
 * to arrive before the missing ones are counted as losses. */
#define CLUSTER_DRAIN_NS (2 * NS_PER_S)

/* What the first element of a RESP array says the array is. */
enum { RK_OTHER, RK_MESSAGE, RK_SUBSCRIBE };

struct part {
	int fd, welcomed, overflow;
	int heard_any; /* has received a byte: its handshake is complete */
	size_t llen;
	char lbuf[CHAT_LBUF + 1];
	uint32_t *exp; /* next seq expected from each sender */
	struct ws_rx rx; /* --ws: the frames coming in */
	unsigned heard; /* several servers: whose markers it has heard */
	/* redis: where this subscriber is in the current RESP array */
	int resp_left; /* elements still to come */
	int resp_idx;  /* index of the next element */
	int resp_kind; /* RK_* */
	int resp_bulk; /* the next line is a bulk string's contents */
	/* sender-only state */
	int wfd; /* where lines go: fd, or (redis) a publisher connection */
	int want_out; /* EPOLLOUT requested on wfd */
	int pub_bol;  /* redis publisher: at the start of a reply line */
	int pump_due; /* its pacing moved on: pump after this batch of events */
	char *wbuf;
	size_t wlen, woff;
	uint64_t sent;	   /* lines sent = next seq */
	uint64_t extra;	   /* window credit granted after a stall */
	uint64_t progress; /* last time its pacing saw a new line of it */
	/* sender-only, --pace-all: got[q % CHAT_RING] counts the receivers that
	 * have had (or lost) line q; done is how many lines all of them have;
	 * a receiver dropped counts as having every later line. */
	uint32_t *got;
	uint64_t done;
	uint32_t audience, gone;
};

struct chat_run {
	const struct opts *o;
	struct part *p;
	int n, k, observer, ep, welcomed;
	/* the servers (-p P1,P2,...): participant i is on tg[i % nt]; marked
	 * counts the participants that have heard every server's marker */
	struct target *tg;
	int nt, marked;
	int *obs; /* per sender: who paces it (a non-sender in its room) */
	enum chat_phase phase;
	uint64_t t_start, t_end, sync_round;
	/* the server's (--cpu-pgid) and the tool's CPU time in the window */
	struct cpuwin cpu;
	struct hist h;
	uint64_t deliveries, sent, losses, dups, self, unparsed, closed, stalls,
	    refused;
	/* the first complaint the server made, for the report */
	char said[160];
};

struct tmsg {
	uint64_t s, q, t;
};

/* Epoll ids: participant i is i; the publisher connection of redis
 * sender s is n + s. */
static uint32_t
wid(const struct chat_run *r, int s)
{
	return (uint32_t)(r->o->proto == PR_REDIS ? r->n + s : s);
}

static void
note_said(struct chat_run *r, const char *line, size_t len)
{
	if (!r->said[0])
		snprintf(r->said, sizeof r->said, "%.*s", (int)len, line);
}

/* Strict unsigned decimal followed by `term`. */
static int
parse_u64(const char **pp, char term, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	if (*p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	if (*p != term)
		return 0;
	*out = v;
	*pp = p + 1;
	return 1;
}

/* The token "T <sender> <seq> <time-ns>" ending the line, at its start or
 * after a space: whatever a server puts in front ("<guest3> ", "<user7> ",
 * nothing at all) does not matter, but a token cut or glued to something
 * else does not parse, so a mangled line is never counted as delivered. */
static int
parse_tmsg(const char *line, struct tmsg *m)
{
	/* strchr, not strstr: on lines this short strstr's set-up was
	 * most of the tool's parsing time. */
	for (const char *p = line; (p = strchr(p, 'T')) != NULL; p++) {
		if (p[1] != ' ' || (p != line && p[-1] != ' '))
			continue;
		const char *q = p + 2;
		if (parse_u64(&q, ' ', &m->s) && parse_u64(&q, ' ', &m->q) &&
		    parse_u64(&q, '\0', &m->t))
			return 1;
	}
	return 0;
}

/* plain: "S <round>" (with any prefix) proves the receiver is in the room. */
static int
is_sync(const char *line)
{
	for (const char *p = line; (p = strstr(p, "S ")) != NULL; p++) {
		const char *q = p + 2;
		uint64_t round;
		if ((p == line || p[-1] == ' ') && parse_u64(&q, '\0', &round))
			return 1;
	}
	return 0;
}

/* Several servers: "M <server> <round>" (after the sender's prefix). */
static int
is_marker(const char *line, uint64_t *server)
{
	for (const char *p = line; (p = strstr(p, "M ")) != NULL; p++) {
		const char *q = p + 2;
		uint64_t round;
		if ((p == line || p[-1] == ' ') && parse_u64(&q, ' ', server) &&
		    parse_u64(&q, '\0', &round))
			return 1;
	}
	return 0;
}

/* Participant i has heard the marker of server t: once it has heard
 * every server's (its own marker's but itself), it is in everywhere. */
static void
heard_marker(struct chat_run *r, int i, uint64_t t)
{
	struct part *pt = &r->p[i];
	unsigned want = (1u << r->nt) - 1;
	if (i < r->nt)
		want &= ~(1u << i);
	if (t >= (uint64_t)r->nt || (pt->heard & want) == want)
		return;
	pt->heard |= 1u << t;
	if ((pt->heard & want) == want)
		r->marked++;
}

static void
chat_close(struct chat_run *r, int *fdp)
{
	epoll_ctl(r->ep, EPOLL_CTL_DEL, *fdp, NULL);
	close(*fdp);
	*fdp = -1;
	if (r->phase != CP_RUN || now_ns() < r->t_end)
		r->closed++;
}

static void	chat_heard(struct chat_run *, int, uint64_t, uint64_t,
		    uint64_t);
static int	chat_hears(const struct chat_run *, int, int);

/* A participant gone (an error the report counts) no longer holds its
 * senders back: it counts as having had what they sent and will send. */
static void
chat_drop(struct chat_run *r, int i)
{
	struct part *pt = &r->p[i];
	if (pt->wfd == pt->fd)
		pt->wfd = -1;
	chat_close(r, &pt->fd);
	for (int s = 0; s < r->k && r->o->pace_all; s++)
		if (chat_hears(r, i, s)) {
			r->p[s].gone++;
			chat_heard(r, s, pt->exp[s], r->p[s].sent, now_ns());
		}
}

/* --ws: a line (without its '\n') as one client text frame; dst has room
 * for WS_HEADER_MAX more bytes than the line. */
static size_t
chat_ws_format(const char *body, size_t len, char *dst)
{
	size_t h = ws_frame_header(dst, len);

	memcpy(dst + h, body, len);
	return h + len;
}

/* One line from sender s: a text line, a WebSocket frame (--ws) or
 * (redis) a PUBLISH command. */
static size_t
chat_format(
    const struct chat_run *r, int s, uint64_t now, char *dst, size_t cap)
{
	char body[80];
	int n = snprintf(body, sizeof body, "T %d %" PRIu64 " %" PRIu64, s,
	    r->p[s].sent, now);
	if (r->o->ws)
		return chat_ws_format(body, (size_t)n, dst);
	if (r->o->proto != PR_REDIS)
		return (size_t)snprintf(dst, cap, "%s\n", body);
	return (size_t)snprintf(dst, cap,
	    "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
	    strlen(REDIS_CHANNEL), REDIS_CHANNEL, n, body);
}

/* Does participant i hear sender s's lines? */
static int
chat_hears(const struct chat_run *r, int i, int s)
{
	int rooms = r->o->rooms;
	return i != s && (!rooms || i % rooms == s % rooms);
}

/* How far sender s may go: P lines (and any stall's credit) past what
 * its observer has had (a sender never hears its own lines, so a
 * receiver's view is what tells us a line made it through the server);
 * with --pace-all, past the last line that every one of its receivers
 * has had.  Pacing on one receiver lets the order in which a server
 * writes to its receivers into the figures: one that writes to the
 * observer first gets the next lines while it writes to the others, and
 * so more lines per write.  Pacing on all of them keeps that order out:
 * a line is in flight until the last receiver has it. */
static uint64_t
chat_allowed(const struct chat_run *r, int s)
{
	const struct part *pt = &r->p[s];
	uint64_t credit = (uint64_t)r->o->inflight + pt->extra;
	if (!r->o->pace_all)
		return r->p[r->obs[s]].exp[s] + credit;
	return pt->done + (credit < CHAT_RING ? credit : CHAT_RING);
}

/* Queue and send a sender's lines while it is fewer than P lines ahead
 * of its observer (or all its receivers). */
static void
chat_pump(struct chat_run *r, int s)
{
	struct part *pt = &r->p[s];
	uint64_t now = now_ns();
	if (pt->wfd < 0 || r->phase != CP_RUN)
		return;
	uint64_t allowed = chat_allowed(r, s);
	if (pt->woff == pt->wlen)
		pt->woff = pt->wlen = 0;
	/* After the window only what is queued goes out (for a drain). */
	while (now < r->t_end && pt->sent < allowed &&
	       CHAT_WBUF - pt->wlen >= CHAT_LINE_MAX) {
		pt->wlen += chat_format(
		    r, s, now, pt->wbuf + pt->wlen, CHAT_WBUF - pt->wlen);
		pt->got[pt->sent % CHAT_RING] = pt->gone;
		pt->sent++;
		if (in_window(now, r->t_start, r->t_end))
			r->sent++;
	}
	while (pt->woff < pt->wlen) {
		ssize_t k = send(pt->wfd, pt->wbuf + pt->woff,
		    pt->wlen - pt->woff, MSG_NOSIGNAL);
		if (k > 0) {
			pt->woff += (size_t)k;
		} else if (k < 0 && would_block()) {
			pt->want_out = 1;
			ep_mod(r->ep, pt->wfd, EPOLLIN | EPOLLOUT, wid(r, s));
			return;
		} else if (!(k < 0 && errno == EINTR)) {
			if (pt->wfd == pt->fd)
				chat_drop(r, s);
			else
				chat_close(r, &pt->wfd);
			return;
		}
	}
	if (pt->want_out) {
		pt->want_out = 0;
		ep_mod(r->ep, pt->wfd, EPOLLIN, wid(r, s));
	}
}

/* Lines [from, to) of sender s have reached (or passed) one more of its
 * receivers: count them, and let s go on past those all have had. */
static void
chat_heard(struct chat_run *r, int s, uint64_t from, uint64_t to,
    uint64_t now)
{
	struct part *pt = &r->p[s];
	uint64_t was = pt->done;

	for (uint64_t q = from > pt->done ? from : pt->done;
	     q < to && q < pt->sent; q++)
		pt->got[q % CHAT_RING]++;
	while (pt->done < pt->sent &&
	       pt->got[pt->done % CHAT_RING] >= pt->audience)
		pt->got[pt->done++ % CHAT_RING] = 0;
	if (pt->done != was) {
		pt->progress = now;
		pt->pump_due = 1;
	}
}

static void
chat_deliver(struct chat_run *r, int i, const struct tmsg *m, uint64_t now)
{
	uint32_t *e = &r->p[i].exp[m->s];
	uint64_t from;
	if (m->s == (uint64_t)i) {
		/* A sender's own line came back: an error for a chat room, what
		 * pub/sub always does to a sender that is also subscribed. */
		r->self++;
		return;
	}
	if (m->q < *e) {
		r->dups++;
		return;
	}
	if (m->q > *e)
		r->losses += m->q - *e;
	from = *e;
	*e = (uint32_t)(m->q + 1);
	if (in_window(now, r->t_start, r->t_end)) {
		r->deliveries++;
		hist_add(&r->h, now > m->t ? now - m->t : 0);
	}
	if (r->o->pace_all && chat_hears(r, i, (int)m->s))
		chat_heard(r, (int)m->s, from, m->q + 1, now);
	else if (!r->o->pace_all && i == r->obs[m->s]) {
		r->p[m->s].progress = now;
		r->p[m->s].pump_due = 1;
	}
}

static void
mark_in(struct chat_run *r, struct part *pt)
{
	if (!pt->welcomed) {
		pt->welcomed = 1;
		r->welcomed++;
	}
}

/* A delivered line (redis: a message's payload). */
static void
chat_text(struct chat_run *r, int i, const char *line, uint64_t now)
{
	/* Anything before the run (e.g. join chatter) is drained. */
	if (r->phase != CP_RUN)
		return;
	struct tmsg m;
	if (!parse_tmsg(line, &m) || m.s >= (uint64_t)r->k) {
		r->unparsed++;
		return;
	}
	chat_deliver(r, i, &m, now);
}

/* redis: one element of the RESP array being received.  A subscriber
 * only ever gets ["subscribe", channel, count] and then
 * ["message", channel, payload]. */
static void
resp_element(struct chat_run *r, int i, const char *el, uint64_t now)
{
	struct part *pt = &r->p[i];
	if (pt->resp_left <= 0) {
		r->unparsed++;
		return;
	}
	if (pt->resp_idx == 0)
		pt->resp_kind = strcmp(el, "message") == 0     ? RK_MESSAGE
				: strcmp(el, "subscribe") == 0 ? RK_SUBSCRIBE
							       : RK_OTHER;
	else if (pt->resp_idx == 2 && pt->resp_kind == RK_MESSAGE)
		chat_text(r, i, el, now);
	else if (pt->resp_idx == 2 && pt->resp_kind == RK_SUBSCRIBE)
		mark_in(r, pt);
	pt->resp_idx++;
	pt->resp_left--;
}

/* redis: RESP2 is CRLF-terminated lines, and our payloads hold no CR or
 * LF, so a bulk string's contents are exactly the line after its "$len". */
static void
resp_line(struct chat_run *r, int i, const char *line, size_t len, uint64_t now)
{
	struct part *pt = &r->p[i];
	if (pt->resp_bulk) {
		pt->resp_bulk = 0;
		resp_element(r, i, line, now);
	} else if (line[0] == '*') {
		pt->resp_left = atoi(line + 1);
		pt->resp_idx = 0;
		pt->resp_kind = RK_OTHER;
	} else if (line[0] == '$') {
		if (atoi(line + 1) >= 0)
			pt->resp_bulk = 1;
		else
			resp_element(r, i, "", now); /* null bulk string */
	} else if (line[0] == ':') {
		resp_element(r, i, line + 1, now);
	} else {
		if (line[0] == '-')
			note_said(r, line, len);
		r->unparsed++;
	}
}

static void send_small(struct chat_run *r, int i, const char *buf,
    size_t len);

/* Welcomed: in with one room; with --rooms, once /join has answered. */
static void
go_to_room(struct chat_run *r, int i)
{
	char cmd[40];
	int len;

	if (!r->o->rooms) {
		mark_in(r, &r->p[i]);
		return;
	}
	len = snprintf(cmd, sizeof cmd, "/join #bench%d\n", i % r->o->rooms);
	send_small(r, i, cmd, (size_t)len);
}

static void
chat_line(struct chat_run *r, int i, char *line, size_t len, uint64_t now)
{
	struct part *pt = &r->p[i];
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	switch (r->o->proto) {
	case PR_ECHOCHAT:
		if (len >= 4 && memcmp(line, "*** ", 4) == 0) {
			if (!pt->welcomed &&
			    strncmp(line + 4, "Welcome", 7) == 0)
				go_to_room(r, i);
			else if (!pt->welcomed && r->o->rooms &&
			    strncmp(line + 4, "You are now in ", 15) == 0)
				mark_in(r, pt);
			else if (strncmp(line + 4, "error", 5) == 0)
				note_said(r, line, len);
			return;
		}
		uint64_t server;
		if (r->nt > 1 && is_marker(line, &server)) {
			heard_marker(r, i, server);
			return;
		}
		break;
	case PR_PLAIN:
		if (is_sync(line)) {
			mark_in(r, pt);
			return;
		}
		/* Someone's empty line from the join, as the server passed it
		 * on ("<user5> "): chatter, not a mangled delivery. */
		if (len == 0 || line[len - 1] == ' ')
			return;
		break;
	case PR_REDIS:
		resp_line(r, i, line, len, now);
		return;
	}
	chat_text(r, i, line, now);
}

/* Split the byte stream into lines; a line longer than the buffer is
 * dropped whole (and counted as unparsed) rather than misparsed. */
static void
chat_feed(struct chat_run *r, int i, const char *p, size_t n, uint64_t now)
{
	struct part *pt = &r->p[i];
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (pt->llen + take > CHAT_LBUF) {
			pt->overflow = 1;
			pt->llen = 0;
		} else if (!pt->overflow) {
			memcpy(pt->lbuf + pt->llen, p, take);
			pt->llen += take;
		}
		if (!nl)
			return;
		pt->lbuf[pt->llen] = '\0';
		if (pt->overflow) {
			if (r->phase == CP_RUN)
				r->unparsed++;
		} else {
			chat_line(r, i, pt->lbuf, pt->llen, now);
		}
		pt->llen = 0;
		pt->overflow = 0;
		p = nl + 1;
		n -= take + 1;
	}
}

/* chat_feed for a buffer of our own, as recv filled it: a line that is
 * whole in it is handled where it lies, not copied first. */
static void
chat_feed_in_place(
    struct chat_run *r, int i, char *p, size_t n, uint64_t now)
{
	struct part *pt = &r->p[i];
	while (n > 0) {
		char *nl = memchr(p, '\n', n);
		if (!nl || pt->llen > 0 || pt->overflow) {
			size_t take = nl ? (size_t)(nl - p) + 1 : n;
			chat_feed(r, i, p, take, now);
			p += take;
			n -= take;
			continue;
		}
		size_t len = (size_t)(nl - p);
		if (len <= CHAT_LBUF) {
			*nl = '\0';
			chat_line(r, i, p, len, now);
		} else if (r->phase == CP_RUN) {
			r->unparsed++;
		}
		p = nl + 1;
		n -= len + 1;
	}
}

/* --ws: the frames' payloads, one line per message, into chat_feed. */
struct chat_ws_sink {
	struct chat_run *r;
	int i;
	uint64_t now;
};

static void
chat_ws_sink(void *arg, const char *p, size_t n)
{
	struct chat_ws_sink *k = arg;

	if (k->r->p[k->i].fd >= 0)
		chat_feed(k->r, k->i, p, n, k->now);
}

static void
chat_ws_feed(struct chat_run *r, int i, const char *p, size_t n)
{
	struct chat_ws_sink k = {r, i, now_ns()};

	ws_rx_feed(&r->p[i].rx, p, n, chat_ws_sink, &k);
}

/* redis publisher connection: every reply to PUBLISH must be an integer
 * (":N", the number of subscribers reached); anything else is an error. */
static void
pub_event(struct chat_run *r, int s, uint32_t events)
{
	struct part *pt = &r->p[s];
	if (pt->wfd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t k = recv(pt->wfd, rbuf, sizeof rbuf, 0);
		if (k == 0 || (k < 0 && !would_block() && errno != EINTR)) {
			chat_close(r, &pt->wfd);
			return;
		}
		for (ssize_t j = 0; j < k; j++) {
			if (pt->pub_bol && rbuf[j] != ':') {
				const char *nl =
				    memchr(rbuf + j, '\n', (size_t)(k - j));
				note_said(r, rbuf + j,
				    nl ? (size_t)(nl - (rbuf + j))
				       : (size_t)(k - j));
				r->refused++;
			}
			pt->pub_bol = rbuf[j] == '\n';
		}
	}
	if ((events & EPOLLOUT) && pt->wfd >= 0)
		chat_pump(r, s);
}

/*
 * Send what the senders whose pacing moved on may now send.  Run once per
 * batch of events rather than per line received: the receipts a batch
 * brings may free several lines of a sender, and they then go in one
 * send, which spares the tool a system call per line (at chat-100's rates
 * its sends were a line each and the tool was the bottleneck).
 */
static void
chat_pump_due(struct chat_run *r)
{
	for (int s = 0; s < r->k; s++)
		if (r->p[s].pump_due) {
			r->p[s].pump_due = 0;
			chat_pump(r, s);
		}
}

static void
chat_event(struct chat_run *r, uint32_t id, uint32_t events)
{
	if (id >= (uint32_t)r->n) {
		pub_event(r, (int)(id - (uint32_t)r->n), events);
		return;
	}
	int i = (int)id;
	struct part *pt = &r->p[i];
	if (pt->fd < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t k = recv(pt->fd, rbuf, sizeof rbuf, 0);
		if (k == 0 || (k < 0 && !would_block() && errno != EINTR)) {
			chat_drop(r, i);
			return;
		}
		if (k > 0)
			pt->heard_any = 1;
		if (k > 0 && r->o->ws)
			chat_ws_feed(r, i, rbuf, (size_t)k);
		else if (k > 0)
			chat_feed_in_place(r, i, rbuf, (size_t)k, now_ns());
	}
	if ((events & EPOLLOUT) && pt->fd >= 0 && pt->wfd == pt->fd && i < r->k)
		chat_pump(r, i);
}

/* Run the event loop until `deadline`, or (if `until_welcomed`) until
 * everybody is in the room. */
static void
chat_poll_until(struct chat_run *r, uint64_t deadline, int until_welcomed)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now;
	while ((now = now_ns()) < deadline) {
		if (until_welcomed && r->welcomed == r->n)
			return;
		int k = epoll_wait(
		    r->ep, evs, MAX_EVENTS, ms_until(now, deadline, 100));
		for (int j = 0; j < k; j++)
			chat_event(r, evs[j].data.u32, evs[j].events);
		chat_pump_due(r);
	}
}

/* If a blocked sender's observer (or, with --pace-all, all its
 * receivers) has not had a new line of it for a while (lines lost,
 * observer gone), grant another window so the run goes on; the gap
 * shows up as losses and the stall is reported. */
static void
chat_check_stalls(struct chat_run *r, uint64_t now)
{
	for (int s = 0; s < r->k; s++) {
		struct part *pt = &r->p[s];
		if (pt->wfd >= 0 && pt->sent >= chat_allowed(r, s) &&
		    now - pt->progress > CHAT_STALL_NS) {
			r->stalls++;
			pt->extra += (uint64_t)r->o->inflight;
			pt->progress = now;
			chat_pump(r, s);
		}
	}
}

static void
chat_run_phase(struct chat_run *r)
{
	uint64_t now = now_ns();
	r->phase = CP_RUN;
	r->t_start = now + (uint64_t)r->o->warmup * NS_PER_S;
	r->t_end = r->t_start + (uint64_t)r->o->seconds * NS_PER_S;
	for (int s = 0; s < r->k; s++) {
		r->p[s].progress = now;
		chat_pump(r, s);
	}
	struct progress pg;
	progress_init(&pg, "deliveries");
	while ((now = now_ns()) < r->t_end && !bench_stop) {
		uint64_t step = now + 100 * NS_PER_MS;
		if (now >= r->t_start)
			cpuwin_start(&r->cpu, r->o);
		else if (step > r->t_start)
			step = r->t_start;
		progress_tick(&pg, now, r->t_start, r->deliveries);
		chat_poll_until(r, step < r->t_end ? step : r->t_end, 0);
		chat_check_stalls(r, now_ns());
	}
	cpuwin_end(&r->cpu, r->o);
	if (bench_stop)
		stop_window(&r->t_start, &r->t_end);
}

/* Participants are attached as they connect (chat_connect). */
static void
chat_setup(struct chat_run *r, const struct opts *o)
{
	r->o = o;
	r->n = o->conns;
	r->k = o->senders;
	r->observer = r->n - 1; /* never a sender, so it hears every sender */
	r->obs = xcalloc((size_t)r->k, sizeof *r->obs);
	for (int s = 0; s < r->k; s++) {
		r->obs[s] = r->observer;
		/* With rooms: the last non-sender of s's room. */
		for (int i = r->n - 1; o->rooms && i >= r->k; i--)
			if (i % o->rooms == s % o->rooms) {
				r->obs[s] = i;
				break;
			}
	}
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->p = xcalloc((size_t)r->n, sizeof *r->p);
	for (int i = 0; i < r->n; i++) {
		struct part *pt = &r->p[i];
		pt->fd = pt->wfd = -1;
		pt->rx.hneed = 2;
		pt->exp = xcalloc((size_t)r->k, sizeof *pt->exp);
		if (i < r->k) {
			pt->wbuf = xcalloc(CHAT_WBUF, 1);
			pt->got = xcalloc(CHAT_RING, sizeof *pt->got);
			pt->pub_bol = 1;
		}
	}
	for (int s = 0; s < r->k; s++)
		for (int i = 0; i < r->n; i++)
			r->p[s].audience += (uint32_t)chat_hears(r, i, s);
}

/* Connection j: participant j, or (redis) the publisher of sender j - n. */
static void
chat_attach(struct chat_run *r, int j, int fd)
{
	if (j < r->n) {
		r->p[j].fd = fd;
		if (j < r->k && r->o->proto != PR_REDIS)
			r->p[j].wfd = fd;
		ep_add(r->ep, fd, EPOLLIN, (uint32_t)j);
	} else {
		r->p[j - r->n].wfd = fd;
		ep_add(r->ep, fd, EPOLLIN, wid(r, j - r->n));
	}
}

/* Read whatever has arrived, without waiting. */
static void
chat_service(void *ctx)
{
	struct chat_run *r = ctx;
	struct epoll_event evs[MAX_EVENTS];
	int k;
	do {
		k = epoll_wait(r->ep, evs, MAX_EVENTS, 0);
		for (int j = 0; j < k; j++)
			chat_event(r, evs[j].data.u32, evs[j].events);
		chat_pump_due(r);
	} while (k == MAX_EVENTS);
}

/* --ws: the upgrade, before the connection is attached, so that nothing
 * but its 101 is read from it here (ws_upgrade stops at the head's end). */
static void
chat_ws_upgrade(const struct target *t, int fd)
{
	char why[120];

	if (ws_upgrade(fd, why, sizeof why) < 0)
		fail2("%s: WebSocket: %s", t->desc, why);
}

/* Open every connection, CHAT_CONNECT_BATCH at a time, reading what
 * arrives on those already open in between: a server that greets
 * newcomers and announces them to everybody (ncat --chat does both, with
 * blocking writes) would otherwise stall on participants that are not
 * read yet, as no real chat client would let it. */
static void
chat_connect_to(struct chat_run *r, const struct target *t, int first,
    int step, int total);

/* Participant i on server i mod N: each server's share in turn. */
static void
chat_connect(struct chat_run *r, int total)
{
	for (int t = 0; t < r->nt; t++)
		chat_connect_to(r, &r->tg[t], t, r->nt,
		    (total - t + r->nt - 1) / r->nt);
}

/* Connections first, first + step, ...: `total` of them, to t. */
static void
chat_connect_to(struct chat_run *r, const struct target *t, int first,
    int step, int total)
{
	int fds[CHAT_CONNECT_BATCH];
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_NS;
	for (int off = 0; off < total; off += CHAT_CONNECT_BATCH) {
		int m = total - off < CHAT_CONNECT_BATCH ? total - off
							 : CHAT_CONNECT_BATCH;
		struct conn_report cr;
		connect_all(t, m, fds, &cr, deadline, chat_service, r);
		if (cr.ok != m)
			fail2("could not connect to %s: %d of %d connections "
			      "failed (%s)",
			    t->desc, total - off - cr.ok, total, cr.why);
		for (int j = 0; j < m; j++) {
			int one = 1;
			if (t->family != AF_UNIX)
				setsockopt(fds[j], IPPROTO_TCP, TCP_NODELAY,
				    &one, sizeof one);
			if (r->o->ws)
				chat_ws_upgrade(t, fds[j]);
			chat_attach(r, first + (off + j) * step, fds[j]);
		}
		chat_service(r);
	}
}

/* A short command on a fresh connection: it fits the socket buffer. */
static void
send_small(struct chat_run *r, int i, const char *buf, size_t len)
{
	int fd = r->p[i].fd;
	char frame[CHAT_LINE_MAX + WS_HEADER_MAX];

	if (r->o->ws && len > 0 && len <= CHAT_LINE_MAX) {
		/* One frame per line, its '\n' left out; an empty line is an
		 * empty message, which the server reads as an empty line. */
		len = chat_ws_format(buf, len - 1, frame);
		buf = frame;
	}
	if (fd >= 0 && send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		chat_drop(r, i);
}

/* Get everybody into the room: echochat says welcome; redis confirms each
 * SUBSCRIBE; a plain server says nothing, so participants 0 and 1 send
 * "S <round>" lines until everybody has heard one (0 and 1 hear each
 * other), which proves the server relays to every connection.
 *
 * From the fourth round on, a plain participant still waiting that has
 * received nothing at all sends an empty line: should a burst of connects
 * have overflowed the listen backlog after all (connect_all paces them
 * only where the kernel shows the accept queue), the kernel answered with
 * SYN cookies and dropped final ACKs, and only data from our side
 * completes such a handshake.  One that has received anything is
 * connected and only waits for a sync line: nudging it too had a slow
 * server (asyncio, 1,000 participants) relay hundreds of empty lines to
 * everybody, which then held the measured lines back past the window. */
static void
chat_join(struct chat_run *r)
{
	uint64_t now = now_ns(), deadline = now + WELCOME_TIMEOUT_NS,
		 next_sync = now;
	if (r->o->proto == PR_REDIS) {
		char cmd[96];
		int len = snprintf(cmd, sizeof cmd,
		    "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n",
		    strlen(REDIS_CHANNEL), REDIS_CHANNEL);
		for (int i = 0; i < r->n; i++)
			send_small(r, i, cmd, (size_t)len);
	}
	while (r->welcomed < r->n && (now = now_ns()) < deadline) {
		if (r->o->proto == PR_PLAIN && now >= next_sync) {
			char line[32];
			int len = snprintf(line, sizeof line, "S %" PRIu64 "\n",
			    r->sync_round++);
			send_small(r, 0, line, (size_t)len);
			send_small(r, 1, line, (size_t)len);
			for (int i = 2; r->sync_round > NUDGE_ROUND && i < r->n;
			     i++)
				if (!r->p[i].welcomed && !r->p[i].heard_any)
					send_small(r, i, "\n", 1);
			next_sync = now + SYNC_EVERY_NS;
		}
		uint64_t until = r->o->proto == PR_PLAIN && next_sync < deadline
				     ? next_sync
				     : deadline;
		chat_poll_until(r, until, 1);
		if (bench_stop)
			fail2("interrupted before the measurement began");
	}
}

/* Several servers: run the loop until `deadline` or until everybody has
 * heard every server's marker. */
static void
cluster_poll_until(struct chat_run *r, uint64_t deadline)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t now;
	while (r->marked < r->n && (now = now_ns()) < deadline) {
		int k = epoll_wait(
		    r->ep, evs, MAX_EVENTS, ms_until(now, deadline, 100));
		for (int j = 0; j < k; j++)
			chat_event(r, evs[j].data.u32, evs[j].events);
		chat_pump_due(r);
	}
}

/* Several servers: participant t, on server t, sends "M <t> <round>"
 * every SYNC_EVERY_NS until everybody has heard every server's: then each
 * server knows, through Redis, the others' participants, and a line from
 * any of them reaches everybody. */
static void
cluster_mark(struct chat_run *r)
{
	uint64_t now, deadline = now_ns() + WELCOME_TIMEOUT_NS, round = 0;
	while (r->marked < r->n && (now = now_ns()) < deadline) {
		for (int t = 0; t < r->nt; t++) {
			char line[48];
			int len = snprintf(line, sizeof line,
			    "M %d %" PRIu64 "\n", t, round);
			send_small(r, t, line, (size_t)len);
		}
		round++;
		cluster_poll_until(r, now + SYNC_EVERY_NS);
		if (bench_stop)
			fail2("interrupted before the measurement began");
	}
	if (r->marked < r->n)
		fail2("only %d of %d participants heard every one of the %d "
		      "servers within %d s (are they one cluster?)",
		    r->marked, r->n, r->nt,
		    (int)(WELCOME_TIMEOUT_NS / NS_PER_S));
}

/* Lines sent that a participant still connected has not had. */
static uint64_t
cluster_missing(const struct chat_run *r)
{
	uint64_t missing = 0;
	for (int i = 0; i < r->n; i++) {
		if (r->p[i].fd < 0)
			continue;
		for (int s = 0; s < r->k; s++)
			if (s != i && r->p[s].sent > r->p[i].exp[s])
				missing += r->p[s].sent - r->p[i].exp[s];
	}
	return missing;
}

/* Several servers: a gap in a sender's sequence shows a loss only once a
 * later line arrives, and a server may drop the tail of what crosses
 * Redis; so after the window the lines in flight get CLUSTER_DRAIN_NS to
 * arrive, and what is still missing is lost. */
static void
cluster_drain(struct chat_run *r)
{
	uint64_t now, deadline = now_ns() + CLUSTER_DRAIN_NS;
	while (!bench_stop && (now = now_ns()) < deadline &&
	       cluster_missing(r) > 0)
		chat_poll_until(r,
		    now + 100 * NS_PER_MS < deadline ? now + 100 * NS_PER_MS
						      : deadline,
		    0);
	r->losses += cluster_missing(r);
}

static const char *
join_what(enum proto p)
{
	return p == PR_REDIS   ? "had their SUBSCRIBE confirmed"
	       : p == PR_PLAIN ? "heard a sync line"
			       : "got a welcome line";
}

/* How many hear each line, on average over the senders. */
static double
receivers_per_line(const struct chat_run *r)
{
	int rooms = r->o->rooms, total = 0;

	if (!rooms)
		return r->n - 1;
	for (int s = 0; s < r->k; s++) /* its room's members but itself */
		total += (r->n - 1 - s % rooms) / rooms;
	return (double)total / r->k;
}

static int
chat_report(const struct chat_run *r, const struct target *t)
{
	const struct opts *o = r->o;
	int redis = o->proto == PR_REDIS;
	uint64_t errors = (redis ? 0 : r->self) + r->closed + r->refused;
	double secs = measured_s(r->t_start, r->t_end);
	double rate = secs > 0 ? (double)r->deliveries / secs : 0.0;
	double srate = secs > 0 ? (double)r->sent / secs : 0.0;
	(void)t;
	printf("  protocol:      %s%s\n", proto_names[o->proto],
	    o->ws ? " over WebSocket" : "");
	if (o->pace_all)
		printf("  participants:  %d (%d senders, each paced by all its "
		       "receivers)\n",
		    r->n, r->k);
	else
		printf("  participants:  %d (%d senders, participant %d "
		       "observes for pacing)\n",
		    r->n, r->k, r->observer);
	printf("  window:        %d lines per sender; %d s warm-up, %.1f s "
	       "measured\n",
	    o->inflight, o->warmup, secs);
	print_interrupted(secs);
	printf("  sent:          %" PRIu64 " lines (%.1f lines/s)\n", r->sent,
	    srate);
	printf("  deliveries:    %" PRIu64
	       " (%.1f deliveries/s, %.1f receivers per line)\n",
	    r->deliveries, rate, receivers_per_line(r));
	if (o->rooms)
		printf("  rooms:         %d (participant i in #bench(i mod %d))"
		       "\n", o->rooms, o->rooms);
	for (int j = 0; r->nt > 1 && j < r->nt; j++)
		printf("  server %d:      %s (participants i mod %d = %d)\n", j,
		    r->tg[j].desc, r->nt, j);
	print_latency("latency (us):", &r->h);
	cpuwin_print(&r->cpu, o, secs, r->deliveries, "delivery");
	printf("  losses:        %" PRIu64 "\n", r->losses);
	printf("  dups/reorder:  %" PRIu64 "\n", r->dups);
	if (redis)
		printf("  errors:        %" PRIu64
		       " (connections closed %" PRIu64
		       ", PUBLISH refused %" PRIu64 ")\n",
		    errors, r->closed, r->refused);
	else
		printf("  errors:        %" PRIu64 " (own line echoed %" PRIu64
		       ", connections closed %" PRIu64 ")\n",
		    errors, r->self, r->closed);
	printf("  other:         unparsed lines %" PRIu64
	       ", pacing stalls %" PRIu64 "\n",
	    r->unparsed, r->stalls);
	if (redis)
		printf("  note:          %" PRIu64
		       " own lines heard back (pub/sub delivers to the"
		       " sender's own subscription; not counted)\n",
		    r->self);
	if (r->said[0])
		printf("  server said:   %s\n", r->said);
	if (r->deliveries == 0)
		printf("  note:          no line was delivered in the measured "
		       "window\n");
	printf("RESULT mode=chat proto=%s conns=%d senders=%d inflight=%d "
	       "seconds=%d rooms=%d rate=%.1f",
	    proto_names[o->proto], r->n, r->k, o->inflight, o->seconds,
	    o->rooms, rate);
	if (o->ws)
		printf(" ws=1");
	result_latency(&r->h);
	printf(" losses=%" PRIu64 " dups=%" PRIu64 " errors=%" PRIu64
	       " sent_rate=%.1f"
	       " unparsed=%" PRIu64 " stalls=%" PRIu64,
	    r->losses, r->dups, errors, srate, r->unparsed, r->stalls);
	if (r->nt > 1)
		printf(" servers=%d", r->nt);
	cpuwin_result(&r->cpu, o, secs, r->deliveries);
	printf("\n");
	return r->losses || r->dups || errors || r->deliveries == 0 ? 1 : 0;
}

int
run_chat(const struct opts *o)
{
	struct target *tg = xcalloc((size_t)o->nports, sizeof *tg);
	for (int j = 0; j < o->nports; j++) {
		struct opts oj = *o;
		oj.port = o->ports[j];
		resolve_target(&oj, &tg[j], SOCK_STREAM);
	}
	print_header(o, &tg[0]);
	int extra = o->proto == PR_REDIS ? o->senders : 0;
	struct chat_run *r = xcalloc(1, sizeof *r);
	chat_setup(r, o);
	r->tg = tg;
	r->nt = o->nports;
	chat_connect(r, o->conns + extra);
	chat_join(r);
	if (r->welcomed != r->n)
		fail2("only %d of %d participants %s from %s (%" PRIu64
		      " connections closed%s%s)",
		    r->welcomed, r->n, join_what(o->proto), tg[0].desc,
		    r->closed, r->said[0] ? "; server said: " : "", r->said);
	if (r->nt > 1)
		cluster_mark(r);
	r->phase = CP_DRAIN;
	chat_poll_until(r, now_ns() + CHAT_DRAIN_NS, 0);
	if (r->closed)
		fail2("%" PRIu64
		      " participants were disconnected before the run%s%s",
		    r->closed, r->said[0] ? "; server said: " : "", r->said);
	chat_run_phase(r);
	if (r->nt > 1)
		cluster_drain(r);
	return chat_report(r, &tg[0]);
}
