/*
 * naive-chat - the simplest libevent chat broadcaster, a peer for
 * echochat's chat benchmarks.
 *
 * What a reader of the libevent book writes first: one bufferevent per
 * connection (TCP_NODELAY set), evbuffer_readln for each line, and
 * "<userN> line" formatted once and copied into the output bufferevent
 * of every other connection.  No limits, no commands, no shared buffers:
 * whatever echochatd costs per delivery beyond this is its own overhead.
 *
 * It binds 127.0.0.1 only, on PORT (0: the kernel chooses), and prints
 * "naive-chat: listening on tcp 127.0.0.1:PORT" once ready.  It runs
 * until killed.
 *
 * usage: naive-chat PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* A line longer than this is cut: the benchmark's lines are short. */
#define LINE_MAX_OUT 4096

struct client {
	struct bufferevent *bev;
	unsigned id;
	TAILQ_ENTRY(client) entry;
};

static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static unsigned next_id = 1;

static void
client_free(struct client *c)
{
	TAILQ_REMOVE(&clients, c, entry);
	bufferevent_free(c->bev);
	free(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg, *o;
	struct evbuffer *in = bufferevent_get_input(bev);
	char out[LINE_MAX_OUT];
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		int n = snprintf(out, sizeof out, "<user%u> %s\n", c->id, line);
		free(line);
		if (n < 0)
			continue;
		if ((size_t)n >= sizeof out)
			n = sizeof out - 1;
		TAILQ_FOREACH(o, &clients, entry)
			if (o != c)
				bufferevent_write(o->bev, out, (size_t)n);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct event_base *base = arg;
	struct client *c;
	int one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((c = calloc(1, sizeof *c)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->id = next_id++;
	TAILQ_INSERT_TAIL(&clients, c, entry);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evconnlistener *l;
	struct sockaddr_in sin;
	socklen_t slen = sizeof sin;

	if (argc != 2) {
		fprintf(stderr, "usage: naive-chat PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)atoi(argv[1]));
	if ((base = event_base_new()) == NULL)
		return 1;
	l = evconnlistener_new_bind(base, on_accept, base,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&sin, sizeof sin);
	if (l == NULL) {
		perror("naive-chat: bind");
		return 1;
	}
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &slen);
	printf("naive-chat: listening on tcp 127.0.0.1:%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	evconnlistener_free(l);
	event_base_free(base);
	return 0;
}
