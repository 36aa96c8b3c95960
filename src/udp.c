/*
 * udp.c -- datagram listeners: each datagram read into the loop's scratch
 * buffer and handed to the handler with its origin; answers go straight
 * back with sendto.  Nothing is queued: a reply the socket cannot take is
 * dropped, as UDP allows.
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
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "echochat.h"

/* Datagrams taken per wakeup before others get a turn. */
#define UDP_BATCH	64
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

/* Datagrams dropped, by reason, and when that was last logged. */
static struct {
	uint64_t	over_rate, low_port;	/* since the last log line */
	uint64_t	total;
	uint64_t	logged_ms;
} udp_drops;

/* Count a dropped datagram; say so in the log now and then. */
static void
udp_count_drop(uint64_t *reason)
{
	uint64_t now = monotonic_ms();

	(*reason)++;
	udp_drops.total++;
	if (now - udp_drops.logged_ms < DROP_LOG_MS && udp_drops.logged_ms)
		return;
	log_info("udp: dropped %llu replies over udp_rate and %llu datagrams "
	    "from ports below 1024 or our own (%llu in all)",
	    (unsigned long long)udp_drops.over_rate,
	    (unsigned long long)udp_drops.low_port,
	    (unsigned long long)udp_drops.total);
	udp_drops.over_rate = udp_drops.low_port = 0;
	udp_drops.logged_ms = now;
}

/* The source port of a datagram. */
static uint16_t
peer_port(const struct dgram_peer *peer)
{
	if (peer->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&peer->addr)->sin_port);
	if (peer->addr.ss_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)&peer->addr)->sin6_port);
	return 0;
}

/* Is port that of one of our UDP listeners?  (A handful: a short walk.) */
static int
is_own_port(struct server *s, uint16_t port)
{
	struct listener *l;

	TAILQ_FOREACH(l, &s->listeners, entry) {
		if (l->port == port && l->conf->proto == PROTO_UDP)
			return 1;
	}
	return 0;
}

/* The UDP socket is readable: take up to a batch of datagrams. */
void
udp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	char *buf = l->server->loops[0].scratch;	/* UDP: main loop */
	struct dgram_peer peer;
	ssize_t n;
	int i;

	(void)what;
	peer.listener = l;
	for (i = 0; i < UDP_BATCH; i++) {
		peer.addrlen = sizeof peer.addr;
		n = recvfrom(fd, buf, READ_CHUNK, MSG_DONTWAIT,
		    (struct sockaddr *)&peer.addr, &peer.addrlen);
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("listener %s: recvfrom",
				    l->conf->name);
			return;
		}
		if (peer_port(&peer) < 1024 ||
		    is_own_port(l->server, peer_port(&peer))) {
			udp_count_drop(&udp_drops.low_port);
			continue;
		}
		l->handler->datagram(l->hstate, &peer, buf, (size_t)n);
	}
}

/* Send one datagram to a peer; a full socket buffer drops it. */
void
udp_send(const struct dgram_peer *peer, const void *data, size_t len)
{
	if (peer->listener->fd == -1)
		return;		/* the listener has stopped */
	if (sendto(peer->listener->fd, data, len, MSG_DONTWAIT,
	    (const struct sockaddr *)&peer->addr, peer->addrlen) == -1 &&
	    errno != EAGAIN)
		log_debug("listener %s: sendto: %s", peer->listener->conf->name,
		    strerror(errno));
}

/* The source IP of a peer as 16 bytes (IPv4 in the first 4). */
static void
peer_ip(const struct dgram_peer *peer, uint8_t out[16], uint8_t *family)
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
budget_allows(struct server *s, const struct dgram_peer *peer)
{
	struct udp_budget *b;
	struct udp_bucket *k;
	uint8_t ip[16], family;
	uint64_t now = monotonic_ms();
	double burst = (double)s->config->udp_burst;

	if (s->config->udp_rate == 0)
		return 1;
	if ((b = s->udp_budget) == NULL)
		b = s->udp_budget = xcalloc(1, sizeof *b);
	peer_ip(peer, ip, &family);
	k = budget_bucket(b, ip, family, burst, now);
	k->tokens += (double)(now - k->last_ms) *
	    (double)s->config->udp_rate / 1000.0;
	if (k->tokens > burst)
		k->tokens = burst;
	k->last_ms = now;
	if (k->tokens >= 1.0) {
		k->tokens -= 1.0;
		return 1;
	}
	udp_count_drop(&udp_drops.over_rate);
	return 0;
}

/* Answer a datagram from an unproven source, within its budget. */
void
udp_reply(const struct dgram_peer *peer, const void *data, size_t len)
{
	if (budget_allows(peer->listener->server, peer))
		udp_send(peer, data, len);
}

/* Free the budget table. */
void
udp_budget_free(struct server *s)
{
	free(s->udp_budget);
	s->udp_budget = NULL;
}
