/*
 * io.c -- the plain transport: the socket itself.  Reads and writes are
 * the system calls; nothing is ever pending and there is no handshake.
 */
#include <sys/socket.h>
#include <errno.h>
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

static ssize_t
plain_writev(struct io *io, const struct iovec *iov, int n)
{
	ssize_t w;

	do
		w = writev(io->fd, iov, n);
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
