/*
 * udp.c -- datagram listeners: each datagram read into the loop's scratch
 * buffer and handed to the handler with its origin; answers go straight
 * back with sendto.  Nothing is queued: a reply the socket cannot take is
 * dropped, as UDP allows.
 */
#include <sys/socket.h>
#include <errno.h>
#include <string.h>

#include "echochat.h"

/* Datagrams taken per wakeup before others get a turn. */
#define UDP_BATCH	64

/* The UDP socket is readable: take up to a batch of datagrams. */
void
udp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	char *buf = l->server->loop.scratch;
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
		l->handler->datagram(l->hstate, &peer, buf, (size_t)n);
	}
}

/* Answer a datagram; a full socket buffer drops it. */
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
