/*
 * ws.c -- the client side of WebSocket for echochat-bench's echo and
 * upper modes (--ws): the upgrade request, made and answered before the
 * clock starts, a client frame around each line, and a reader that turns
 * the server's frames back into the line stream echo.c checks.
 *
 * Each line goes out as one masked text frame without its '\n' (the
 * server adds it back); each message the server sends is a line, so a
 * message's end is a '\n' in the stream.  The mask key is zero: a client
 * must mask, but the key need not be secret for a load test, and a zero
 * key leaves the payload as it is, so framing costs a header per line.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"

#define WS_REQUEST \
	"GET / HTTP/1.1\r\nHost: echochat-bench\r\nUpgrade: websocket\r\n" \
	"Connection: Upgrade\r\nSec-WebSocket-Key: " \
	"ZWNob2NoYXQtYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

/* Send the upgrade and read the 101's head, waiting at most 10 s. */
int
ws_upgrade(int fd, char *why, size_t whylen)
{
	char head[1024];
	size_t got = 0, off = 0, len = strlen(WS_REQUEST);
	struct pollfd p = {.fd = fd};

	while (off < len || !memmem(head, got, "\r\n\r\n", 4)) {
		p.events = off < len ? POLLOUT : POLLIN;
		if (poll(&p, 1, 10000) <= 0) {
			snprintf(why, whylen, "no answer to the upgrade");
			return -1;
		}
		ssize_t k = off < len
		    ? send(fd, WS_REQUEST + off, len - off, MSG_NOSIGNAL)
		    : recv(fd, head + got, 1, 0);
		if (k <= 0 && !(k < 0 && (would_block() || errno == EINTR))) {
			snprintf(why, whylen, "closed during the upgrade");
			return -1;
		}
		if (k > 0 && off < len)
			off += (size_t)k;
		else if (k > 0 && ++got == sizeof head) {
			snprintf(why, whylen, "an upgrade answer too long");
			return -1;
		}
	}
	if (strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
		snprintf(why, whylen, "upgrade refused: %.*s", 40, head);
		return -1;
	}
	return 0;
}

/* The frame header for a line of len bytes (its '\n' not sent). */
size_t
ws_frame_header(char *out, size_t len)
{
	size_t n;

	out[0] = (char)0x81;
	if (len < 126) {
		out[1] = (char)(0x80 | len);
		n = 2;
	} else if (len < 65536) {
		out[1] = (char)(0x80 | 126);
		out[2] = (char)(len >> 8);
		out[3] = (char)len;
		n = 4;
	} else {
		out[1] = (char)(0x80 | 127);
		for (int i = 0; i < 8; i++)
			out[2 + i] = (char)((uint64_t)len >> (56 - 8 * i));
		n = 10;
	}
	memset(out + n, 0, 4); /* the mask key */
	return n + 4;
}

/* Frames in, the line stream out through sink (a frame's payload, then
 * '\n' at each message's end).  Control frames are skipped. */
void
ws_rx_feed(struct ws_rx *rx, const char *p, size_t n,
    void (*sink)(void *, const char *, size_t), void *arg)
{
	while (n > 0) {
		if (rx->left == 0 && rx->hlen < rx->hneed) {
			rx->hdr[rx->hlen++] = (unsigned char)*p++;
			n--;
			if (rx->hlen == 2) {
				unsigned l = rx->hdr[1] & 0x7f;
				rx->hneed = l == 126 ? 4 : l == 127 ? 10 : 2;
			}
			if (rx->hlen < rx->hneed)
				continue;
			uint64_t l = rx->hdr[1] & 0x7f;
			if (l == 126)
				l = (uint64_t)rx->hdr[2] << 8 | rx->hdr[3];
			else if (l == 127)
				for (int i = l = 0; i < 8; i++)
					l = l << 8 | rx->hdr[2 + i];
			rx->left = l;
			rx->hlen = 0;
			rx->hneed = 2;
			rx->fin = rx->hdr[0] & 0x80;
			rx->control = rx->hdr[0] & 0x08;
			if (l == 0 && rx->fin && !rx->control)
				sink(arg, "\n", 1);
			continue;
		}
		size_t m = rx->left < n ? (size_t)rx->left : n;
		if (!rx->control)
			sink(arg, p, m);
		p += m;
		n -= m;
		rx->left -= m;
		if (rx->left == 0 && rx->fin && !rx->control)
			sink(arg, "\n", 1);
	}
}
