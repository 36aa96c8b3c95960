/*
 * io.h -- the transport seam (io.c): every byte a stream connection reads
 * or writes goes through one of these ops tables.  Plain sockets are the
 * only transport today; one that encrypts (TLS) or frames (WebSocket)
 * fills in the same table, and the connection above it need not change.
 *
 * A transport may need the socket to become writable to go on reading,
 * or readable to go on writing (TLS does both): after an operation fails
 * with EAGAIN, io->want says which readiness to wait for.  It may also
 * hold bytes already read from the socket but not yet handed up
 * (pending): the socket will not become readable for those again.
 */
#ifndef ECHOCHAT_IO_H
#define ECHOCHAT_IO_H

#include <sys/types.h>
#include <sys/uio.h>
#include <stddef.h>

#include "loop.h"

/* What an operation that gave EAGAIN waits for (io->want). */
#define IO_WANT_READ	0x02	/* EV_READ */
#define IO_WANT_WRITE	0x04	/* EV_WRITE */

/* A handshake that answered by itself: see io_ops.handshake. */
#define IO_ANSWERED	2

struct io;

struct io_ops {
	const char	*name;
	/*
	 * Before any data: 1 done, 0 in progress (io->want says for what),
	 * -1 failed, IO_ANSWERED: the transport served a request of its
	 * own (a WebSocket listener's web page or 404) and the connection
	 * ends cleanly, with no data (io->error says what was served).
	 * NULL: nothing to do.
	 */
	int	 (*handshake)(struct io *);
	/* As read(2) and writev(2): -1 with errno, EAGAIN setting want. */
	ssize_t	 (*read)(struct io *, void *buf, size_t len);
	ssize_t	 (*writev)(struct io *, const struct iovec *, int n);
	/* Bytes the transport holds that the socket will not signal. */
	size_t	 (*pending)(struct io *);
	/*
	 * Bytes a write reported taken but the transport still holds
	 * (the tail of a frame the socket would not take); writev with no
	 * iovecs pushes them on.  NULL: a transport that holds none.
	 */
	size_t	 (*unsent)(struct io *);
	/* No more output: a clean end (FIN, close_notify). */
	void	 (*shutdown)(struct io *);
	/* Release everything and close the socket. */
	void	 (*close)(struct io *);
	/*
	 * Why the last failed operation failed, for the log, valid until
	 * the next operation on this thread; NULL: errno says it all.
	 */
	const char *(*error)(struct io *);
};

struct io {
	const struct io_ops	*ops;
	void			*ctx;	/* the transport's own state */
	int			 fd;
	short			 want;	/* IO_WANT_* after an EAGAIN */
};

void	 io_plain_init(struct io *, int fd);
void	 io_socket_finish(int fd);

static inline ssize_t
io_read(struct io *io, void *buf, size_t len)
{
	return io->ops->read(io, buf, len);
}

/* Calls this loop posted go before anything it writes (loop.c). */
static inline ssize_t
io_writev(struct io *io, const struct iovec *iov, int n)
{
	loop_wake_owed();
	return io->ops->writev(io, iov, n);
}

static inline size_t
io_pending(struct io *io)
{
	return io->ops->pending != NULL ? io->ops->pending(io) : 0;
}

static inline size_t
io_unsent(struct io *io)
{
	return io->ops->unsent != NULL ? io->ops->unsent(io) : 0;
}

static inline int
io_handshake(struct io *io)
{
	return io->ops->handshake != NULL ? io->ops->handshake(io) : 1;
}

static inline void
io_shutdown(struct io *io)
{
	io->ops->shutdown(io);
}

static inline const char *
io_error(struct io *io)
{
	return io->ops->error != NULL ? io->ops->error(io) : NULL;
}

static inline void
io_close(struct io *io)
{
	io->ops->close(io);
}

#endif
