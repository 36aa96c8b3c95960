/*
 * cluster.c -- the link to the other servers of a cluster: one Redis
 * channel through hiredis's asynchronous API on loop 0 (README "Several
 * servers").
 *
 * Two connections, as a subscriber cannot send commands: one SUBSCRIBEd
 * to the channel, one for PUBLISH.  hiredis 0.14's libevent adapter has
 * no timers, so the connect timeout and the retries are libevent timers
 * of ours: a link not subscribed within CONNECT_TIMEOUT_MS is dropped,
 * and retried after a backoff with jitter (the first within a second,
 * then at most every 5 s).  Nothing here waits: every call returns at
 * once and its answer comes back as a callback.
 *
 * What the chat gives during a turn of loop 0 goes out at its end as one
 * PUBLISH.  Output is bounded: beyond OUTPUT_MAX bytes published and not
 * yet answered (Redis is slow or gone), records are dropped and counted.
 * Whether the link is really alive is the chat's to judge (it listens
 * for its own heartbeat) and hcluster_reset starts it afresh.
 */
#include <poll.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconf.h"
#include "clock.h"
#include "cluster.h"
#include "handler.h"
#include "log.h"
#include "stats.h"
#include "xmalloc.h"

#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#define CONNECT_TIMEOUT_MS	2000
#define RETRY_MAX_MS		5000
#define OUTPUT_MAX		(8u * 1024 * 1024)
#define STOP_FLUSH_MS		500

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_UP };

struct link {
	struct loop		*loop;
	char			*host, *path;
	int			 port;
	char			*channel, *node, *password;
	uint64_t		 node_timeout_ms;
	enum link_state		 state;
	redisAsyncContext	*sub, *cmd;
	struct event		*timer;		/* connect timeout or retry */
	unsigned int		 attempt;
	int			 told_loss;	/* logged since last up */
	char			*batch;		/* this turn's records */
	size_t			 batch_len, batch_cap;
	size_t			 inflight;	/* published, unanswered */
	uint64_t		 dropped;	/* in this episode */
	const struct hcluster_ops *ops;
	void			*arg;
};

static struct link *the_link;

static void	link_connect(struct link *);

static void
drop_contexts(struct link *l)
{
	redisAsyncContext *sub = l->sub, *cmd = l->cmd;

	/* Callbacks of a context being freed see it is no longer ours. */
	l->sub = l->cmd = NULL;
	l->inflight = 0;
	if (sub != NULL)
		redisAsyncFree(sub);
	if (cmd != NULL)
		redisAsyncFree(cmd);
}

/* Next try: the first within a second, then up to 5 s, with jitter. */
static uint64_t
retry_delay(struct link *l)
{
	uint64_t base = l->attempt == 0 ? 1000 : 500u << (l->attempt < 4 ?
	    l->attempt : 4);

	if (base > RETRY_MAX_MS)
		base = RETRY_MAX_MS;
	return base / 2 + (uint64_t)random() % (base / 2 + 1);
}

static void
arm(struct link *l, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(l->timer, &tv);
}

/* The link failed or was lost: say so once, and try again later. */
static void
link_fail(struct link *l, const char *why)
{
	int was_up = l->state == LINK_UP;

	drop_contexts(l);
	if (l->state == LINK_DOWN)
		return;
	l->state = LINK_DOWN;
	if (!l->told_loss) {
		log_warnx("cluster: redis %s unreachable: %s; retrying",
		    l->path ? l->path : l->host, why);
		l->told_loss = 1;
	}
	if (was_up) {
		gstat_add(SG_CLUSTER_UP, -1);
		if (l->ops != NULL)
			l->ops->down(l->arg);
	}
	arm(l, retry_delay(l));
	l->attempt++;
}

static void
timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;

	(void)fd;
	(void)what;
	if (l->state == LINK_CONNECTING)
		link_fail(l, "connect timed out");
	else if (l->state == LINK_DOWN)
		link_connect(l);
}

/*
 * One of the link's contexts failed or closed: hiredis frees it after the
 * callback, so the link forgets it and fails.  A context the link no
 * longer holds is one it let go itself.
 */
static void
context_lost(const redisAsyncContext *ac, const char *what)
{
	struct link *l = ac->data;

	if (l == NULL)
		return;
	if (ac == l->sub)
		l->sub = NULL;
	else if (ac == l->cmd)
		l->cmd = NULL;
	else
		return;
	link_fail(l, ac->errstr[0] ? ac->errstr : what);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK)
		context_lost(ac, "connect failed");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	context_lost(ac, "connection closed");
}

static void
on_auth(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r;
	struct link *l = ac->data;

	(void)priv;
	if (reply == NULL || l == NULL || (ac != l->sub && ac != l->cmd))
		return;
	if (reply->type == REDIS_REPLY_ERROR)
		link_fail(l, reply->str);
}

/* The subscription: its confirmation first, then each message. */
static void
on_message(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r, *kind, *data;
	struct link *l = ac->data;

	(void)priv;
	if (reply == NULL || l == NULL || ac != l->sub)
		return;
	if (reply->type == REDIS_REPLY_ERROR) {
		link_fail(l, reply->str);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
		return;
	kind = reply->element[0];
	data = reply->element[2];
	if (kind->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "subscribe") == 0 && l->state ==
	    LINK_CONNECTING) {
		evtimer_del(l->timer);
		l->state = LINK_UP;
		l->attempt = 0;
		gstat_add(SG_CLUSTER_UP, 1);
		if (l->told_loss)
			log_info("cluster: redis %s reachable again",
			    l->path ? l->path : l->host);
		else
			log_info("cluster: connected to redis %s as node %s",
			    l->path ? l->path : l->host, l->node);
		l->told_loss = 0;
		if (l->ops != NULL)
			l->ops->up(l->arg);
		return;
	}
	if (strcmp(kind->str, "message") == 0 && data->type ==
	    REDIS_REPLY_STRING && l->ops != NULL && l->state == LINK_UP)
		l->ops->heard(l->arg, data->str, data->len);
}

static void
on_published(redisAsyncContext *ac, void *r, void *priv)
{
	struct link *l = ac->data;
	size_t len = (size_t)(uintptr_t)priv;

	(void)r;
	if (l == NULL || ac != l->cmd)
		return;
	l->inflight = l->inflight > len ? l->inflight - len : 0;
}

static redisAsyncContext *
new_context(struct link *l)
{
	redisAsyncContext *ac = l->path != NULL ?
	    redisAsyncConnectUnix(l->path) : redisAsyncConnect(l->host,
	    l->port);

	if (ac == NULL)
		return NULL;
	if (ac->err) {
		log_debug("cluster: redis: %s", ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = l;
	redisLibeventAttach(ac, l->loop->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (l->password != NULL)
		redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", l->password);
	return ac;
}

static void
link_connect(struct link *l)
{
	l->state = LINK_CONNECTING;
	if ((l->sub = new_context(l)) == NULL ||
	    (l->cmd = new_context(l)) == NULL) {
		link_fail(l, "cannot connect");
		return;
	}
	redisAsyncCommand(l->sub, on_message, NULL, "SUBSCRIBE %b",
	    l->channel, strlen(l->channel));
	arm(l, CONNECT_TIMEOUT_MS);
}

/* One episode of drops ends: its count in the log. */
static void
drops_over(struct link *l)
{
	if (l->dropped == 0)
		return;
	log_warnx("cluster: %llu records to other servers were dropped",
	    (unsigned long long)l->dropped);
	l->dropped = 0;
}

static void
count_drop(struct link *l)
{
	if (l->dropped++ == 0 && l->state == LINK_UP)
		log_warnx("cluster: output to redis backed up; dropping");
	gstat_add(SG_CLUSTER_DROPPED, 1);
}

/* End of a turn of loop 0: what it produced, as one PUBLISH. */
static void
flush_batch(void *arg)
{
	struct link *l = arg;
	size_t len = l->batch_len;

	if (len == 0)
		return;
	l->batch_len = 0;
	if (l->state != LINK_UP || l->cmd == NULL)
		return;
	redisAsyncCommand(l->cmd, on_published, (void *)(uintptr_t)len,
	    "PUBLISH %b %b", l->channel, strlen(l->channel), l->batch, len);
	l->inflight += len;
	if (l->batch_cap > 64 * 1024) {
		free(l->batch);	/* a burst's buffer is not kept */
		l->batch = NULL;
		l->batch_cap = 0;
	}
}

int
hcluster_send(const char *data, size_t len)
{
	struct link *l = the_link;

	if (l == NULL)
		return -1;
	if (l->state != LINK_UP || l->inflight + l->batch_len + len >
	    OUTPUT_MAX) {
		count_drop(l);
		return -1;
	}
	drops_over(l);
	if (l->batch_len == 0 && l->ops != NULL && l->ops->header != NULL) {
		char head[256];
		size_t hl = l->ops->header(l->arg, head, sizeof head);

		if (hl > l->batch_cap) {
			l->batch_cap = 4096 > hl ? 4096 : hl;
			l->batch = xrealloc(l->batch, l->batch_cap);
		}
		memcpy(l->batch, head, hl);
		l->batch_len = hl;
	}
	if (l->batch_len + len > l->batch_cap) {
		l->batch_cap = (l->batch_len + len) * 2;
		l->batch = xrealloc(l->batch, l->batch_cap);
	}
	memcpy(l->batch + l->batch_len, data, len);
	l->batch_len += len;
	loop_schedule(l->loop);
	return 0;
}

void
hcluster_reset(const char *why)
{
	if (the_link != NULL && the_link->state == LINK_UP)
		link_fail(the_link, why);
}

/* channel:key, the Redis key of a history. */
static char *
full_key(struct link *l, const char *key)
{
	size_t n = strlen(l->channel) + strlen(key) + 2;
	char *k = xmalloc(n);

	snprintf(k, n, "%s:%s", l->channel, key);
	return k;
}

static void
on_added(redisAsyncContext *ac, void *r, void *priv)
{
	(void)ac;
	(void)r;
	(void)priv;
}

void
hcluster_log_add(const char *key, const char *line, size_t len,
    unsigned int max)
{
	struct link *l = the_link;
	char *k, cap[24];

	if (l == NULL || l->state != LINK_UP || l->cmd == NULL ||
	    l->inflight + len > OUTPUT_MAX) {
		if (l != NULL)
			count_drop(l);
		return;
	}
	k = full_key(l, key);
	snprintf(cap, sizeof cap, "%u", max);
	redisAsyncCommand(l->cmd, on_added, NULL,
	    "XADD %s MAXLEN ~ %s * l %b", k, cap, line, len);
	free(k);
}

struct log_read {
	hcluster_log_fn	*fn;
	void		*arg;
	char		*key;
};

/* XREVRANGE's answer: [[id, [field, value]], ...], newest first. */
static void
on_read(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply *reply = r, *e, *fv;
	struct log_read *lr = priv;
	struct link *l = ac->data;
	const char **lines = NULL;
	size_t *lens = NULL, i, n = 0;

	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
	    reply->elements > 0) {
		lines = xcalloc(reply->elements, sizeof *lines);
		lens = xcalloc(reply->elements, sizeof *lens);
		for (i = reply->elements; i-- > 0;) {
			e = reply->element[i];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
				continue;
			fv = e->element[1];
			if (fv->type != REDIS_REPLY_ARRAY || fv->elements != 2 ||
			    fv->element[1]->type != REDIS_REPLY_STRING)
				continue;
			lines[n] = fv->element[1]->str;
			lens[n++] = fv->element[1]->len;
		}
	}
	if (reply != NULL && l != NULL && l->ops != NULL)
		lr->fn(lr->arg, lr->key, lines, lens, n);
	free(lines);
	free(lens);
	free(lr->key);
	free(lr);
}

void
hcluster_log_read(const char *key, unsigned int max, hcluster_log_fn *fn,
    void *arg)
{
	struct link *l = the_link;
	struct log_read *lr;
	char *k, count[24];

	if (l == NULL || l->state != LINK_UP || l->cmd == NULL)
		return;
	lr = xmalloc(sizeof *lr);
	lr->fn = fn;
	lr->arg = arg;
	lr->key = xstrdup(key);
	k = full_key(l, key);
	snprintf(count, sizeof count, "%u", max);
	redisAsyncCommand(l->cmd, on_read, lr, "XREVRANGE %s + - COUNT %s", k,
	    count);
	free(k);
}

int
cluster_supported(void)
{
	return 1;
}

static char *
dup_span(const char *p, size_t len)
{
	char *s = xmalloc(len + 1);

	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* HOST:PORT, [V6]:PORT or a path (it has a '/'). */
static void
parse_address(struct link *l, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	size_t hl;

	if (strchr(addr, '/') != NULL || colon == NULL) {
		l->path = xstrdup(addr);
		return;
	}
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl > 1 && addr[hl - 1] == ']')
		l->host = dup_span(addr + 1, hl - 2);
	else
		l->host = dup_span(addr, hl);
	l->port = atoi(colon + 1);
}

void
cluster_start(struct loop *loop, const struct cluster_conf *cf)
{
	struct link *l = xcalloc(1, sizeof *l);

	l->loop = loop;
	parse_address(l, cf->redis);
	l->channel = xstrdup(cf->channel);
	l->node = xstrdup(cf->node);
	l->password = cf->password != NULL ? xstrdup(cf->password) : NULL;
	l->node_timeout_ms = cf->node_timeout_ms;
	l->timer = evtimer_new(loop->base, timer_fired, l);
	srandom((unsigned int)monotonic_ms() ^ (unsigned int)getpid());
	loop_add_hook(loop, flush_batch, l);
	the_link = l;
}

void
cluster_connect(void)
{
	if (the_link != NULL && the_link->state == LINK_DOWN)
		link_connect(the_link);
}

/* Write what is queued for Redis, for at most STOP_FLUSH_MS. */
static void
flush_sync(struct link *l)
{
	uint64_t end = monotonic_ms() + STOP_FLUSH_MS, now;
	struct pollfd pfd;
	int done = 0;

	flush_batch(l);
	if (l->cmd == NULL || l->state != LINK_UP)
		return;
	while (!done && (now = monotonic_ms()) < end) {
		if (redisBufferWrite(&l->cmd->c, &done) == REDIS_ERR)
			return;
		if (done)
			break;
		pfd.fd = l->cmd->c.fd;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, (int)(end - now));
	}
}

void
cluster_stop(void)
{
	struct link *l = the_link;

	if (l == NULL)
		return;
	flush_sync(l);
	drops_over(l);
	l->ops = NULL;
	drop_contexts(l);
	event_free(l->timer);
	free(l->host);
	free(l->path);
	free(l->channel);
	free(l->node);
	free(l->password);
	free(l->batch);
	free(l);
	the_link = NULL;
}

const char *
hcluster_node(void)
{
	return the_link != NULL ? the_link->node : "";
}

uint64_t
hcluster_node_timeout_ms(void)
{
	return the_link != NULL ? the_link->node_timeout_ms : 0;
}

void
hcluster_attach(const struct hcluster_ops *ops, void *arg)
{
	if (the_link == NULL)
		return;
	the_link->ops = ops;
	the_link->arg = arg;
	if (the_link->state == LINK_UP)
		ops->up(arg);
}

#else	/* !HAVE_HIREDIS: config.c refuses [cluster]. */

int
cluster_supported(void)
{
	return 0;
}

void
cluster_start(struct loop *loop, const struct cluster_conf *cf)
{
	(void)loop;
	(void)cf;
}

void
cluster_connect(void)
{
}

void
cluster_stop(void)
{
}

const char *
hcluster_node(void)
{
	return "";
}

uint64_t
hcluster_node_timeout_ms(void)
{
	return 0;
}

void
hcluster_attach(const struct hcluster_ops *ops, void *arg)
{
	(void)ops;
	(void)arg;
}

int
hcluster_send(const char *data, size_t len)
{
	(void)data;
	(void)len;
	return -1;
}

void
hcluster_reset(const char *why)
{
	(void)why;
}

void
hcluster_log_add(const char *key, const char *line, size_t len,
    unsigned int max)
{
	(void)key;
	(void)line;
	(void)len;
	(void)max;
}

void
hcluster_log_read(const char *key, unsigned int max, hcluster_log_fn *fn,
    void *arg)
{
	(void)key;
	(void)max;
	(void)fn;
	(void)arg;
}

static void *the_link;
#endif

int
cluster_enabled(void)
{
	return the_link != NULL;
}

int
hcluster_enabled(void)
{
	return the_link != NULL;
}

void
hcluster_detach(void)
{
#ifdef HAVE_HIREDIS
	if (the_link != NULL)
		the_link->ops = NULL;
#endif
}
