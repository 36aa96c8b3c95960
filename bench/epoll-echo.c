/*
 * epoll-echo - the speed limit for echochat's benchmarks.
 *
 * The least a server can do and still be an echo server, so that
 * scripts/bench can say how far any other server is from the ceiling set
 * by the kernel and the load tool:
 *
 *   TCP (default)  one thread, one level-triggered epoll set; non-blocking
 *                  accept; each readable connection gets one read into a
 *                  64 KiB buffer and what was read is written back.  Only
 *                  what the socket would not take is kept (and reading from
 *                  that connection stops until it has gone), because an echo
 *                  that drops bytes would not be an honest upper bound.
 *                  TCP_NODELAY is set so large lines are not held back by
 *                  Nagle's algorithm.
 *   UDP (-u)       a blocking recvfrom/sendto loop on one socket.
 *
 * It binds 127.0.0.1 only, on PORT (0: the kernel chooses), and prints
 * "epoll-echo: listening on tcp|udp 127.0.0.1:PORT" once ready.  It runs
 * until killed.
 *
 * usage: epoll-echo [-u] PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

/* Output a connection could not send yet.  Indexed by descriptor, and
 * empty (all zero) for nearly every connection, so idle connections cost
 * 24 bytes here plus what the kernel keeps. */
struct pending {
	char *buf;
	size_t len, off;
};

static struct pending *pend;
static size_t npend;
static char buf[BUF_SIZE];

static void die(const char *what)
{
	fprintf(stderr, "epoll-echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct pending *pending_of(int fd)
{
	if ((size_t)fd >= npend) {
		size_t n = npend ? npend : 1024;
		while (n <= (size_t)fd)
			n *= 2;
		struct pending *p = realloc(pend, n * sizeof *p);
		if (!p)
			die("realloc");
		memset(p + npend, 0, (n - npend) * sizeof *p);
		pend = p;
		npend = n;
	}
	return &pend[fd];
}

static int bound_socket(int type, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, type, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind 127.0.0.1");
	socklen_t len = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("getsockname");
	printf("epoll-echo: listening on %s 127.0.0.1:%d\n", type == SOCK_DGRAM ? "udp" : "tcp",
	       ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

static void udp_loop(int port)
{
	int fd = bound_socket(SOCK_DGRAM, port);
	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof from;
		ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
		if (n < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			die("recvfrom");
		}
		/* A lost reply is the client's loss to count, not ours to retry. */
		sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
	}
}

static void drop(int ep, int fd)
{
	struct pending *p = pending_of(fd);
	free(p->buf);
	*p = (struct pending){ 0 };
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

/* Send buf[off..len); keep the rest and wait for EPOLLOUT if the socket
 * is full.  Returns -1 if the connection is dead. */
static int send_or_keep(int ep, int fd, const char *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t k = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (k > 0) {
			off += (size_t)k;
		} else if (k < 0 && errno == EINTR) {
			continue;
		} else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pending *p = pending_of(fd);
			char *rest = malloc(len - off);
			if (!rest)
				die("malloc");
			memcpy(rest, data + off, len - off);
			free(p->buf);
			*p = (struct pending){ rest, len - off, 0 };
			struct epoll_event ev = { .events = EPOLLOUT, .data.fd = fd };
			epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
			return 0;
		} else {
			return -1;
		}
	}
	return 0;
}

static void on_writable(int ep, int fd)
{
	struct pending *p = pending_of(fd);
	char *old = p->buf;
	size_t len = p->len - p->off;
	const char *data = p->buf + p->off;
	*p = (struct pending){ 0 };
	int rc = send_or_keep(ep, fd, data, len);
	free(old);
	if (rc < 0) {
		drop(ep, fd);
	} else if (!pending_of(fd)->buf) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
	}
}

static void on_readable(int ep, int fd)
{
	ssize_t n = recv(fd, buf, sizeof buf, 0);
	if (n > 0) {
		if (send_or_keep(ep, fd, buf, (size_t)n) < 0)
			drop(ep, fd);
	} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
		drop(ep, fd);
	}
}

static void accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* EAGAIN: backlog empty.  EMFILE and the like: the
			 * connection waits in the backlog for a free descriptor. */
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			close(fd);
	}
}

static void tcp_loop(int port)
{
	int lfd = bound_socket(SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, port);
	if (listen(lfd, 4096) < 0)
		die("listen");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int k = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd)
				accept_all(ep, lfd);
			else if (evs[i].events & EPOLLOUT)
				on_writable(ep, fd);
			else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(ep, fd);
		}
	}
}

int main(int argc, char **argv)
{
	int udp = argc == 3 && strcmp(argv[1], "-u") == 0;
	const char *ps = argc == 2 ? argv[1] : udp ? argv[2] : NULL;
	char *end;
	long port = ps ? strtol(ps, &end, 10) : -1;
	if (!ps || *end || end == ps || port < 0 || port > 65535) {
		fputs("usage: epoll-echo [-u] PORT   (127.0.0.1 only; PORT 0: any free port)\n",
		      stderr);
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	if (udp)
		udp_loop((int)port);
	else
		tcp_loop((int)port);
	return 0;
}
