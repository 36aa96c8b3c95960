/*
 * io.c -- the plain transport: the socket itself.  Reads and writes are
 * the system calls; nothing is ever pending and there is no handshake.
 * Many short pieces are gathered into one buffer before they are written
 * (see plain_gather).
 */
#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

static ssize_t
plain_read(struct io *io, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(io->fd, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN)
		io->want = IO_WANT_READ;
	return n;
}

/*
 * A chat reader's turn is often a hundred lines of seventy bytes.  The
 * kernel pays for every iovec it copies from (a user-access window and a
 * short copy each), and on loopback that costs more than copying the
 * lines into one buffer here: a third less sender CPU per line at 70
 * bytes, still less at 1 KB, and nothing gained at 4 KB.  So pieces that
 * average at most PLAIN_GATHER_PIECE bytes, up to PLAIN_GATHER_MAX in
 * all, are written from one buffer per thread; anything else goes to
 * writev as it is.
 */
#define PLAIN_GATHER_MAX	(64 * 1024)
#define PLAIN_GATHER_PIECE	1024

static _Thread_local char plain_gathered[PLAIN_GATHER_MAX];

/* The pieces copied into plain_gathered; 0: not worth it. */
static size_t
plain_gather(const struct iovec *iov, int n)
{
	size_t total = 0, at = 0;
	int i;

	if (n < 2)
		return 0;
	for (i = 0; i < n; i++) {
		total += iov[i].iov_len;
		if (total > PLAIN_GATHER_MAX)
			return 0;
	}
	if (total > (size_t)n * PLAIN_GATHER_PIECE)
		return 0;
	for (i = 0; i < n; i++) {
		memcpy(plain_gathered + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	return total;
}

static ssize_t
plain_writev(struct io *io, const struct iovec *iov, int n)
{
	size_t gathered = plain_gather(iov, n);
	ssize_t w;

	do
		w = gathered != 0 ? write(io->fd, plain_gathered, gathered) :
		    writev(io->fd, iov, n);
	while (w == -1 && errno == EINTR);
	if (w == -1 && errno == EAGAIN)
		io->want = IO_WANT_WRITE;
	return w;
}

/*
 * Half-close, then read what the client had sent before it saw our end:
 * closing with unread input makes the kernel answer with a reset, which
 * could destroy our last line in flight.
 */
void
io_socket_finish(int fd)
{
	char sink[4096];
	int i;

	shutdown(fd, SHUT_WR);
	for (i = 0; i < 16 && read(fd, sink, sizeof sink) > 0; i++)
		continue;
}

static void
plain_shutdown(struct io *io)
{
	io_socket_finish(io->fd);
}

static void
plain_close(struct io *io)
{
	close(io->fd);
	io->fd = -1;
}

static const struct io_ops plain_ops = {
	.name = "plain",
	.read = plain_read,
	.writev = plain_writev,
	.shutdown = plain_shutdown,
	.close = plain_close,
};

/* The socket as its own transport. */
void
io_plain_init(struct io *io, int fd)
{
	io->ops = &plain_ops;
	io->ctx = NULL;
	io->fd = fd;
	io->want = 0;
}
