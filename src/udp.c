/*
 * udp.c -- datagram listeners: datagrams read a batch at a time with
 * recvmmsg and handed to the handler with their source; answers are
 * gathered and sent a batch at a time with sendmmsg at the end of the
 * loop's turn (or as soon as the batch is full).  One system call per
 * batch instead of one per datagram is what lets a UDP listener outrun a
 * plain recvfrom/sendto loop.  Replies of one size in a row to one address
 * (a client with several datagrams in flight) go as one UDP_SEGMENT send,
 * which the kernel cuts into the datagrams: one pass down the IP stack
 * for the run instead of one per reply.  A source the handler trusts (a chat
 * participant that joined) becomes an endpoint, sent to like any stream
 * connection.  Nothing waits beyond the turn: a reply the socket cannot
 * take is dropped, as UDP allows.
 *
 * Datagrams from source ports below 1024 are never answered: those are
 * other servers (echo, chargen, DNS, ...), and answering them is how
 * reply loops and reflection attacks start.  Nor are datagrams from the
 * port of any of our UDP listeners: one forged to come from ourselves
 * (echo to itself, or echo to chat and back), or from another echo server
 * on such a port, would otherwise bounce forever.
 *
 * Replies to datagrams from addresses that have proved nothing (echo,
 * upper, chat challenges) are rationed per source IP address with a token
 * bucket (udp_rate per second, udp_burst at once), so echochat cannot be
 * turned into a traffic reflector.  The buckets live in a fixed table of
 * small sets: an address not seen lately takes the place of the one
 * longest idle, so forged source addresses cannot grow memory.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "endpoint.h"
#include "log.h"
#include "siphash.h"
#include "sock.h"
#include "stats.h"
#include "sync.h"
#include "udp.h"
#include "xmalloc.h"

/*
 * Datagrams taken per wakeup before others get a turn (one recvmmsg), and
 * replies sent per sendmmsg.  Each datagram read has a slot of READ_CHUNK
 * bytes, as large as any UDP payload, so none is cut short: 4 MiB of
 * address space, of which only the pages datagrams actually filled are
 * ever made resident.
 */
#define UDP_BATCH	64
/* Reply bytes gathered before they must go out. */
#define UDP_OUT_BYTES	(64 * 1024)
/*
 * A segmented send: at most this many replies (the kernel's
 * UDP_MAX_SEGMENTS), this many bytes in all, of at most this size each,
 * so that a segment fits any path's MTU (IPv6's minimum, 1280, less the
 * headers); larger replies go one by one.
 */
#define GSO_SEGS	64
#define GSO_BYTES	60000
#define GSO_SEG_MAX	1232
#ifndef UDP_SEGMENT
#define UDP_SEGMENT	103
#endif
/* The budget table: SETS x WAYS buckets, about 128 KiB. */
#define BUDGET_SETS	1024
#define BUDGET_WAYS	4
/* Dropped replies are logged at most this often. */
#define DROP_LOG_MS	10000

struct udp_bucket {
	uint8_t		addr[16];
	uint8_t		family;
	uint64_t	last_ms;	/* last refill */
	double		tokens;
};

struct udp_budget {
	struct udp_bucket	buckets[BUDGET_SETS][BUDGET_WAYS];
};

/*
 * A datagram socket: the listener while it runs, and what its peers
 * need to be sent to.  Peers keep it (refs) after its listener stopped.
 */
struct udp_socket {
	struct udp_set		*set;
	struct listener		*listener;	/* NULL once detached */
	const struct handler	*handler;
	void			*hstate;
	atomic_uint		 refs;		/* the set's + its peers' */
	TAILQ_ENTRY(udp_socket)	 entry;
};

/* Datagrams as they are read, and replies until they are sent. */
struct udp_batch {
	char			*in;		/* UDP_BATCH slots of READ_CHUNK */
	struct mmsghdr		 inmsg[UDP_BATCH];
	struct iovec		 iniov[UDP_BATCH];
	struct dgram_src	 src[UDP_BATCH];

	size_t			 nout;		/* replies gathered */
	size_t			 outlen;	/* bytes of them in out */
	struct udp_socket	*outsock[UDP_BATCH];
	struct mmsghdr		 outmsg[UDP_BATCH];
	struct iovec		 outiov[UDP_BATCH];
	struct sockaddr_storage	 outaddr[UDP_BATCH];
	char			 out[UDP_OUT_BYTES];

	/* What goes to the kernel: a reply, or a run of them segmented */
	struct mmsghdr		 wire[UDP_BATCH];
	struct iovec		 wireiov[UDP_BATCH];
	size_t			 wirefirst[UDP_BATCH], wirecount[UDP_BATCH];
	union {
		char		 buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr	 align;
	}			 wirectl[UDP_BATCH];
	int			 no_gso;	/* the kernel refused it */
};

/* A proven peer: what its endpoint stands for. */
struct udp_peer {
	struct udp_socket	*sock;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
};

/*
 * Datagrams dropped, by reason, and when that was last logged (main
 * thread only: datagrams are handled there).
 */
static struct {
	uint64_t	over_rate, low_port;	/* since the last log line */
	uint64_t	total;
	uint64_t	logged_ms;		/* 0: never */
	char		last_over[64];		/* the last one over udp_rate */
} udp_drops;

/* "1 reply", "2 replies": a count with its noun, into buf. */
static const char *
counted(char *buf, size_t size, uint64_t n, const char *one,
    const char *many)
{
	snprintf(buf, size, "%llu %s", (unsigned long long)n,
	    n == 1 ? one : many);
	return buf;
}

/*
 * Count a dropped datagram (src: the address a reply over udp_rate was
 * for, else NULL); say so in the log at once, then at most every
 * DROP_LOG_MS, for the time since the last line.
 */
static void
udp_count_drop(uint64_t *reason, const struct dgram_src *src)
{
	uint64_t now = monotonic_ms();
	char over[48], low[48], when[32];
	struct peer_addr p;

	(*reason)++;
	udp_drops.total++;
	if (src != NULL) {
		peer_addr_set(&p, (const struct sockaddr *)&src->addr);
		snprintf(udp_drops.last_over, sizeof udp_drops.last_over, "%s",
		    peer_addr_name(&p));
	}
	if (now - udp_drops.logged_ms < DROP_LOG_MS && udp_drops.logged_ms)
		return;
	if (udp_drops.logged_ms == 0)
		snprintf(when, sizeof when, "since the start");
	else
		snprintf(when, sizeof when, "in the last %llus",
		    (unsigned long long)((now - udp_drops.logged_ms) / 1000));
	log_info("udp: dropped %s over udp_rate and %s from ports below 1024 "
	    "or our own %s (%llu in all)%s%s",
	    counted(over, sizeof over, udp_drops.over_rate, "reply",
	    "replies"),
	    counted(low, sizeof low, udp_drops.low_port, "datagram",
	    "datagrams"), when, (unsigned long long)udp_drops.total,
	    udp_drops.over_rate != 0 ? "; the last reply over udp_rate was "
	    "for " : "", udp_drops.over_rate != 0 ? udp_drops.last_over : "");
	udp_drops.over_rate = udp_drops.low_port = 0;
	udp_drops.logged_ms = now;
}

/* Count for the socket's listener (main thread: loop 0's counters). */
static void
udp_count(struct udp_socket *us, enum stat_listener which, uint64_t n)
{
	if (us->listener != NULL && us->listener->stats != NULL)
		lstat_add(us->listener->stats, us->set->loop->index, which, n);
}

/* The source port of a datagram. */
static uint16_t
src_port(const struct dgram_src *src)
{
	if (src->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&src->addr)->sin_port);
	if (src->addr.ss_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)&src->addr)->sin6_port);
	return 0;
}

/* Is port that of one of our UDP listeners?  (A handful: a short walk.) */
static int
is_own_port(struct udp_set *set, uint16_t port)
{
	struct udp_socket *us;

	TAILQ_FOREACH(us, &set->sockets, entry) {
		if (us->listener != NULL && us->listener->port == port)
			return 1;
	}
	return 0;
}

static void	udp_flush(struct udp_set *);

/* The set's batch, made on first use (a set may never see a datagram). */
static struct udp_batch *
udp_batch(struct udp_set *set)
{
	struct udp_batch *b;
	size_t i;

	if ((b = set->batch) != NULL)
		return b;
	b = set->batch = xcalloc(1, sizeof *b);
	b->in = xmalloc((size_t)UDP_BATCH * READ_CHUNK);
	for (i = 0; i < UDP_BATCH; i++) {
		b->iniov[i].iov_base = b->in + i * READ_CHUNK;
		b->iniov[i].iov_len = READ_CHUNK;
		b->outmsg[i].msg_hdr.msg_name = &b->outaddr[i];
		b->outmsg[i].msg_hdr.msg_iov = &b->outiov[i];
		b->outmsg[i].msg_hdr.msg_iovlen = 1;
	}
	return b;
}

/* Is this datagram one to turn away unread?  Counts it if so. */
static int
udp_guarded(struct udp_socket *us, const struct dgram_src *src)
{
	uint16_t port = src_port(src);

	if (port < 1024) {
		udp_count(us, SL_DROPPED + DROP_LOW_PORT, 1);
		udp_count_drop(&udp_drops.low_port, NULL);
		return 1;
	}
	if (is_own_port(us->set, port)) {
		udp_count(us, SL_DROPPED + DROP_OWN_PORT, 1);
		udp_count_drop(&udp_drops.low_port, NULL);
		return 1;
	}
	return 0;
}

/* The UDP socket is readable: take up to a batch of datagrams at once. */
static void
udp_readable(void *arg, struct listener *l)
{
	struct udp_socket *us = arg;
	struct udp_batch *b = udp_batch(us->set);
	struct msghdr *h;
	uint64_t bytes = 0;
	int i, n;

	for (i = 0; i < UDP_BATCH; i++) {
		h = &b->inmsg[i].msg_hdr;
		memset(h, 0, sizeof *h);
		h->msg_name = &b->src[i].addr;
		h->msg_namelen = sizeof b->src[i].addr;
		h->msg_iov = &b->iniov[i];
		h->msg_iovlen = 1;
	}
	n = recvmmsg(l->fd, b->inmsg, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("listener %s: recvmmsg", l->conf->name);
		return;
	}
	for (i = 0; i < n; i++)
		bytes += b->inmsg[i].msg_len;
	udp_count(us, SL_DATAGRAMS, (uint64_t)n);
	udp_count(us, SL_RECEIVED_BYTES, bytes);
	for (i = 0; i < n && l->fd != -1; i++) {
		b->src[i].origin = us;
		b->src[i].addrlen = b->inmsg[i].msg_hdr.msg_namelen;
		if (udp_guarded(us, &b->src[i]))
			continue;
		us->handler->datagram(us->hstate, &b->src[i],
		    b->iniov[i].iov_base, b->inmsg[i].msg_len);
	}
}

/* What was gathered for the socket goes before it closes. */
static void
udp_closing(void *arg, struct listener *l)
{
	struct udp_socket *us = arg;

	(void)l;
	if (us != NULL)		/* NULL: detached, and flushed then */
		udp_flush(us->set);
}

const struct listener_ops udp_listener_ops = {
	.readable = udp_readable,
	.closing = udp_closing,
};

/*
 * How many replies from i (before end) can go as one segmented send:
 * to the same address, contiguous in out, all of the first one's size but
 * the last, which may be shorter.  1 when segmenting is off.
 */
static size_t
gso_run(const struct udp_batch *b, size_t i, size_t end)
{
	const struct msghdr *first = &b->outmsg[i].msg_hdr;
	size_t seg = b->outiov[i].iov_len, total = seg, k;
	const char *next;

	if (b->no_gso || seg == 0 || seg > GSO_SEG_MAX)
		return 1;
	for (k = i + 1; k < end && k - i < GSO_SEGS; k++) {
		next = (const char *)b->outiov[k - 1].iov_base +
		    b->outiov[k - 1].iov_len;
		if (b->outmsg[k].msg_hdr.msg_namelen != first->msg_namelen ||
		    memcmp(&b->outaddr[k], &b->outaddr[i],
		    first->msg_namelen) != 0 ||
		    b->outiov[k].iov_base != next ||
		    b->outiov[k].iov_len == 0 || b->outiov[k].iov_len > seg ||
		    total + b->outiov[k].iov_len > GSO_BYTES)
			break;
		total += b->outiov[k].iov_len;
		if (b->outiov[k].iov_len < seg)
			return k + 1 - i;
	}
	return k - i;
}

/* Make wire message w of replies [k, k + n): one reply as it is, a run
 * as one buffer with its segment size. */
static void
wire_make(struct udp_batch *b, size_t w, size_t k, size_t n)
{
	struct msghdr *h = &b->wire[w].msg_hdr;
	struct cmsghdr *cm;
	uint16_t seg = (uint16_t)b->outiov[k].iov_len;
	size_t total = 0, i;

	*h = b->outmsg[k].msg_hdr;
	h->msg_control = NULL;
	h->msg_controllen = 0;
	b->wirefirst[w] = k;
	b->wirecount[w] = n;
	if (n == 1)
		return;
	for (i = k; i < k + n; i++)
		total += b->outiov[i].iov_len;
	b->wireiov[w].iov_base = b->outiov[k].iov_base;
	b->wireiov[w].iov_len = total;
	h->msg_iov = &b->wireiov[w];
	h->msg_control = b->wirectl[w].buf;
	h->msg_controllen = sizeof b->wirectl[w].buf;
	cm = CMSG_FIRSTHDR(h);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof seg);
	memcpy(CMSG_DATA(cm), &seg, sizeof seg);
}

/* Would this error go away sent without segmenting? */
static int
gso_refused(int err)
{
	return err == EINVAL || err == EIO || err == ENOPROTOOPT ||
	    err == EOPNOTSUPP;
}

/*
 * Send replies [i, end), all on socket us, as few wire messages per
 * sendmmsg as segmenting allows.  One the socket cannot take (a full
 * buffer) drops it and the rest of the run, as sendto failing one by one
 * would have.  A segmented send the kernel refuses turns segmenting off
 * and its replies go again one by one.
 */
static void
udp_flush_run(struct udp_batch *b, struct udp_socket *us, size_t i,
    size_t end)
{
	size_t nw = 0, w = 0, k, r;
	int n;

	for (k = i; k < end; k += b->wirecount[nw++])
		wire_make(b, nw, k, gso_run(b, k, end));
	loop_wake_owed();	/* what was posted goes first (loop.c) */
	while (w < nw && us->listener != NULL && us->listener->fd != -1) {
		n = sendmmsg(us->listener->fd, &b->wire[w],
		    (unsigned int)(nw - w), MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1 && b->wirecount[w] > 1 && gso_refused(errno)) {
			log_debug("listener %s: segmented send refused (%s): "
			    "replies go one by one", us->listener->conf->name,
			    strerror(errno));
			b->no_gso = 1;
			udp_flush_run(b, us, b->wirefirst[w], end);
			return;
		}
		if (n == -1) {
			log_debug("listener %s: sendmmsg: %s",
			    us->listener->conf->name, strerror(errno));
			w++;	/* that one cannot go: the next may */
			continue;
		}
		for (; n > 0; n--, w++)
			for (r = 0; r < b->wirecount[w]; r++)
				udp_count(us, SL_SENT_BYTES,
				    b->outiov[b->wirefirst[w] + r].iov_len);
	}
}

/* Send the replies gathered, a run of those on one socket at a time. */
static void
udp_flush(struct udp_set *set)
{
	struct udp_batch *b = set->batch;
	size_t i, j;

	if (b == NULL)
		return;
	for (i = 0; i < b->nout; i = j) {
		for (j = i + 1; j < b->nout && b->outsock[j] == b->outsock[i];
		    j++)
			;
		udp_flush_run(b, b->outsock[i], i, j);
	}
	b->nout = b->outlen = 0;
}

/* End of the loop's turn: what was gathered goes out. */
static void
udp_turn_end(void *arg)
{
	udp_flush(arg);
}

/* Gather one datagram to send at the end of the turn. */
static void
udp_send(struct udp_socket *us, const struct sockaddr_storage *addr,
    socklen_t addrlen, const void *data, size_t len)
{
	struct udp_set *set = us->set;
	struct udp_batch *b = udp_batch(set);
	size_t i;

	if (us->listener == NULL || us->listener->fd == -1)
		return;		/* the listener has stopped */
	if (len > UDP_OUT_BYTES) {
		log_debug("listener %s: a reply of %zu bytes not sent",
		    us->listener->conf->name, len);
		return;		/* larger than any UDP payload */
	}
	if (b->nout == UDP_BATCH || UDP_OUT_BYTES - b->outlen < len)
		udp_flush(set);
	if (b->nout == 0)
		loop_schedule(set->loop);
	i = b->nout++;
	b->outsock[i] = us;
	memcpy(&b->outaddr[i], addr, addrlen);
	b->outmsg[i].msg_hdr.msg_namelen = addrlen;
	b->outiov[i].iov_base = b->out + b->outlen;
	b->outiov[i].iov_len = len;
	memcpy(b->out + b->outlen, data, len);
	b->outlen += len;
}

/* The source IP of a datagram as 16 bytes (IPv4 in the first 4). */
static void
src_ip(const struct dgram_src *peer, uint8_t out[16], uint8_t *family)
{
	memset(out, 0, 16);
	*family = (uint8_t)peer->addr.ss_family;
	if (peer->addr.ss_family == AF_INET)
		memcpy(out, &((const struct sockaddr_in *)&peer->addr)->sin_addr,
		    4);
	else if (peer->addr.ss_family == AF_INET6)
		memcpy(out, &((const struct sockaddr_in6 *)&peer->addr)->sin6_addr,
		    16);
}

/* The bucket of an address: found in its set, or the set's stalest. */
static struct udp_bucket *
budget_bucket(struct udp_budget *b, const uint8_t ip[16], uint8_t family,
    double burst, uint64_t now)
{
	static const uint8_t zero[16];
	struct udp_bucket *set, *oldest;
	size_t i;

	set = b->buckets[siphash(zero, ip, 16) % BUDGET_SETS];
	oldest = &set[0];
	for (i = 0; i < BUDGET_WAYS; i++) {
		if (set[i].family == family && memcmp(set[i].addr, ip, 16) == 0)
			return &set[i];
		if (set[i].last_ms < oldest->last_ms)
			oldest = &set[i];
	}
	memcpy(oldest->addr, ip, 16);
	oldest->family = family;
	oldest->tokens = burst;
	oldest->last_ms = now;
	return oldest;
}

/* May this source get one more reply now?  Counts refusals. */
static int
budget_allows(struct udp_set *set, const struct dgram_src *src)
{
	struct udp_budget *b;
	struct udp_bucket *k;
	uint8_t ip[16], family;
	uint64_t now = monotonic_ms();
	double burst = (double)set->limits->burst;

	if (set->limits->rate == 0)
		return 1;
	if ((b = set->budget) == NULL)
		b = set->budget = xcalloc(1, sizeof *b);
	src_ip(src, ip, &family);
	k = budget_bucket(b, ip, family, burst, now);
	k->tokens += (double)(now - k->last_ms) *
	    (double)set->limits->rate / 1000.0;
	if (k->tokens > burst)
		k->tokens = burst;
	k->last_ms = now;
	if (k->tokens >= 1.0) {
		k->tokens -= 1.0;
		return 1;
	}
	udp_count_drop(&udp_drops.over_rate, src);
	return 0;
}

/* Answer a datagram from an unproven source, within its budget. */
void
dgram_reply(const struct dgram_src *src, const void *data, size_t len)
{
	struct udp_socket *us = (struct udp_socket *)(uintptr_t)src->origin;

	if (budget_allows(us->set, src))
		udp_send(us, &src->addr, src->addrlen, data, len);
	else
		udp_count(us, SL_DROPPED + DROP_RATE, 1);
}

/* The handler had no room for this source (udp_peers_max). */
void
dgram_count_full(const struct dgram_src *src)
{
	struct udp_socket *us = (struct udp_socket *)(uintptr_t)src->origin;

	udp_count(us, SL_DROPPED + DROP_PEERS_FULL, 1);
}

size_t
dgram_max_line(const struct dgram_src *src)
{
	const struct udp_socket *us = src->origin;

	return (size_t)us->set->limits->max_line;
}

/* Its listener's room key (none once the listener is gone). */
const char *
dgram_room(const struct dgram_src *src)
{
	const struct udp_socket *us = src->origin;

	return us->listener != NULL ? us->listener->conf->room : NULL;
}

/* "127.0.0.1:5555" or "[::1]:5555", for logs; valid until the next call. */
const char *
dgram_peer_name(const struct dgram_src *src)
{
	struct peer_addr p;

	peer_addr_set(&p, (const struct sockaddr *)&src->addr);
	return peer_addr_name(&p);
}

/* --- Sockets. --- */

void
udp_set_init(struct udp_set *set, struct loop *loop,
    const struct udp_limits *limits)
{
	memset(set, 0, sizeof *set);
	set->loop = loop;
	set->limits = limits;
	TAILQ_INIT(&set->sockets);
	loop_add_hook(loop, udp_turn_end, set);
}

/* After every socket was detached; peers still out hold their own. */
void
udp_set_free(struct udp_set *set)
{
	free(set->budget);
	set->budget = NULL;
	if (set->batch != NULL)
		free(set->batch->in);
	free(set->batch);
	set->batch = NULL;
}

struct udp_socket *
udp_socket_new(struct udp_set *set, const struct handler *h, void *hstate)
{
	struct udp_socket *us = xcalloc(1, sizeof *us);

	us->set = set;
	us->handler = h;
	us->hstate = hstate;
	atomic_init(&us->refs, 1);
	return us;
}

static void
udp_socket_unref(struct udp_socket *us)
{
	if (counter_add(&us->refs, -1) == 0)
		free(us);
}

/* The listener opened: datagrams arrive from now on. */
void
udp_socket_attach(struct udp_socket *us, struct listener *l)
{
	us->listener = l;
	TAILQ_INSERT_TAIL(&us->set->sockets, us, entry);
}

/* A reload gave the listener another handler. */
void
udp_socket_set_handler(struct udp_socket *us, const struct handler *h,
    void *hstate)
{
	us->handler = h;
	us->hstate = hstate;
}

/*
 * The listener is going: forget it, and drop the set's reference.  An
 * endpoint still pointing here sends nothing from now on.
 */
void
udp_socket_detach(struct udp_socket *us)
{
	udp_flush(us->set);	/* what it gathered still goes */
	if (us->listener != NULL)
		TAILQ_REMOVE(&us->set->sockets, us, entry);
	us->listener = NULL;
	udp_socket_unref(us);
}

/* --- Proven peers as endpoints. --- */

static void
peer_send(void *impl, const void *data, size_t len)
{
	struct udp_peer *p = impl;

	udp_send(p->sock, &p->addr, p->addrlen, data, len);
}

static void
peer_send_line(void *impl, struct shared_line *sl)
{
	peer_send(impl, sl->data, sl->len);
}

static void
peer_release(void *impl)
{
	struct udp_peer *p = impl;

	udp_socket_unref(p->sock);
	free(p);
}

static const struct endpoint_ops peer_endpoint_ops = {
	.send = peer_send,
	.send_line = peer_send_line,
	.release = peer_release,
};

/* A source the handler trusts, sent to without rationing. */
struct endpoint *
dgram_endpoint(const struct dgram_src *src)
{
	struct udp_socket *us = (struct udp_socket *)(uintptr_t)src->origin;
	struct udp_peer *p = xmalloc(sizeof *p);

	p->sock = us;
	counter_add(&us->refs, 1);
	p->addr = src->addr;
	p->addrlen = src->addrlen;
	return endpoint_new(&peer_endpoint_ops, p, us->set->loop);
}
