/*
 * hapi.c -- what handler.h offers handlers besides connections and
 * endpoints: the loops (by index only), running a call on a loop, locks,
 * timers on the caller's loop, the log and the clock.  These wrap the core's
 * own, so that a handler needs no core header and no threading details.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "endpoint.h"
#include "hapi.h"
#include "log.h"
#include "siphash.h"
#include "stats.h"
#include "sync.h"
#include "xmalloc.h"

static struct loops *loops;

struct hlock {
	pthread_mutex_t	mutex;
};

struct htimer {
	struct event	*ev;
	void		(*fn)(void *);
	void		*arg;
};

void
hapi_init(struct loops *set)
{
	loops = set;
}

unsigned int
hloops(void)
{
	return loops->n;
}

unsigned int
hloop_here(void)
{
	return loop_here()->index;
}

void
hloop_run(unsigned int i, void (*fn)(void *), void *arg,
    struct endpoint *on_behalf)
{
	struct loop *to = &loops->v[i];

	if (loop_is_here(to)) {
		fn(arg);
		return;
	}
	loop_post_deferred(to, fn, arg);		/* a handler's fn is a loop_fn */
	endpoint_hold_if_behind(on_behalf, to);
}

struct hlock *
hlock_new(void)
{
	struct hlock *l = xmalloc(sizeof *l);

	pthread_mutex_init(&l->mutex, NULL);
	return l;
}

void
hlock_acquire(struct hlock *l)
{
	threads_lock(&l->mutex);
}

void
hlock_release(struct hlock *l)
{
	threads_unlock(&l->mutex);
}

void
hlock_free(struct hlock *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mutex);
	free(l);
}

static void
htimer_fire(evutil_socket_t fd, short what, void *arg)
{
	struct htimer *t = arg;

	(void)fd;
	(void)what;
	t->fn(t->arg);
}

struct htimer *
htimer_every(uint64_t ms, void (*fn)(void *), void *arg)
{
	struct htimer *t = xmalloc(sizeof *t);
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	t->fn = fn;
	t->arg = arg;
	/* On the caller's loop: a connection's timer may send to it. */
	t->ev = event_new(loop_here() != NULL ? loop_here()->base :
	    loops->v[0].base, -1, EV_PERSIST, htimer_fire, t);
	event_add(t->ev, &tv);
	return t;
}

void
htimer_free(struct htimer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	free(t);
}

static void
null_send(void *impl, const void *data, size_t len)
{
	(void)impl;
	(void)data;
	(void)len;
}

static void
null_send_line(void *impl, struct shared_line *sl)
{
	(void)impl;
	(void)sl;
}

/* Members behind a bridge: their own server sends to them. */
static const struct endpoint_ops null_ops = {
	.send = null_send,
	.send_line = null_send_line,
};

struct endpoint *
hendpoint_null(void)
{
	static char impl;

	return endpoint_new(&null_ops, &impl, &loops->v[0]);
}

/* The handler levels are the log's, in the same order. */
void
hlog(enum hlog_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmessage((enum log_level)level, fmt, ap);
	va_end(ap);
}

uint64_t
hclock_ms(void)
{
	return monotonic_ms();
}

uint64_t
hsiphash(const uint8_t key[16], const void *data, size_t len)
{
	return siphash(key, data, len);
}

/* The handler's counters are these process-wide ones. */
void
hcount(enum hcounter which, long delta)
{
	static const enum stat_global map[] = {
		[HCOUNT_CHAT_PARTICIPANTS] = SG_CHAT_PARTICIPANTS,
		[HCOUNT_CHAT_ROOMS] = SG_CHAT_ROOMS,
		[HCOUNT_CHAT_MESSAGES] = SG_CHAT_MESSAGES,
		[HCOUNT_CHAT_DELIVERIES] = SG_CHAT_DELIVERIES,
		[HCOUNT_CHAT_DROPPED_RATE] = SG_CHAT_DROPPED_RATE,
		[HCOUNT_CHAT_DROPPED_TOO_LONG] = SG_CHAT_DROPPED_TOO_LONG,
	};

	if ((unsigned int)which < sizeof map / sizeof map[0])
		gstat_add(map[which], delta);
}
