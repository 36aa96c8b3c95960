/*
 * worker.c -- workers = N: N event loops on N threads.
 *
 * Loop 0 runs on the main thread and owns everything that is not a stream
 * connection: the listeners (it accepts for every loop), the UDP sockets,
 * signals and the server's timers.  Each further loop runs on a thread of
 * its own and owns the connections handed to it.  A loop's connections are
 * touched only by its own thread; other threads reach it by posting calls
 * to its inbox, which it runs at its next turn (an eventfd wakes it).  The
 * loops' bases are never shared, so libevent needs no locking of its own.
 *
 * What must change everything at once -- a reload, the start of a
 * shutdown, reopening the log -- stops the world: every other loop parks
 * inside its inbox until the main thread is done, and meanwhile the main
 * thread may act on any loop as if it were its own (loop_is_here).  After
 * the threads have been joined at exit the main thread holds them all for
 * good.
 *
 * With workers = 1 there is one loop, no thread, no inbox and no lock:
 * counters and reference counts are then plain loads and stores.
 */
#include <sys/eventfd.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echochat.h"

/* The loop this thread runs. */
static _Thread_local struct loop *here;
/* Set once, before any thread starts: are there several loops? */
static int threaded;

int
server_threaded(void)
{
	return threaded;
}

void
threads_lock(pthread_mutex_t *m)
{
	if (threaded)
		pthread_mutex_lock(m);
}

void
threads_unlock(pthread_mutex_t *m)
{
	if (threaded)
		pthread_mutex_unlock(m);
}

/*
 * Add to a counter that other threads may read or change; returns the new
 * value.  Without threads no atomic instruction is needed.
 */
unsigned int
counter_add(atomic_uint *c, int delta)
{
	unsigned int v;

	if (threaded)
		return atomic_fetch_add_explicit(c, (unsigned int)delta,
		    memory_order_acq_rel) + (unsigned int)delta;
	v = atomic_load_explicit(c, memory_order_relaxed) +
	    (unsigned int)delta;
	atomic_store_explicit(c, v, memory_order_relaxed);
	return v;
}

unsigned int
counter_get(atomic_uint *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* workers = 0 means one loop per CPU. */
unsigned int
workers_resolve(uint64_t configured)
{
	long n;

	if (configured != 0)
		return (unsigned int)configured;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > WORKERS_MAX ? WORKERS_MAX : (unsigned int)n;
}

struct loop *
loop_here(void)
{
	return here;
}

void
loop_set_here(struct loop *loop)
{
	here = loop;
}

unsigned int
server_nloops(struct server *s)
{
	return s->nloops;
}

struct loop *
server_loop(struct server *s, unsigned int i)
{
	return &s->loops[i];
}

unsigned int
loop_index(struct loop *loop)
{
	return loop->index;
}

/* This loop's own thread, or the main thread holding every loop. */
int
loop_is_here(struct loop *loop)
{
	return loop == here || (here == loop->server->loops &&
	    loop->server->world_held);
}

/*
 * A new event base.  With epoll's changelist, a connection that switches
 * between watching for input and for output within one turn (see conn.c)
 * costs one epoll_ctl(MOD) instead of a DEL and an ADD.  echochat never
 * dup()s a watched descriptor, the one case the changelist mishandles.
 */
struct event_base *
loop_base_new(void)
{
	struct event_config *cfg;
	struct event_base *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* Append a call to a vector, growing it. */
static void
call_vec_push(struct call_vec *cv, const struct loop_call *call)
{
	if (cv->len == cv->cap) {
		cv->cap = cv->cap ? cv->cap * 2 : 64;
		cv->v = xrealloc(cv->v, cv->cap * sizeof *cv->v);
	}
	cv->v[cv->len++] = *call;
}

/*
 * Post a call.  Only the first call into an empty inbox writes the
 * eventfd: the loop takes the whole inbox at once when it wakes.
 */
unsigned int
loop_post(struct loop *loop, void (*fn)(void *, void *, void *), void *a,
    void *b, void *c)
{
	struct loop_call call = { fn, a, b, c };
	uint64_t one = 1;
	size_t waiting;

	if (loop->wake_fd == -1) {
		fn(a, b, c);	/* one loop: no other thread to wait for */
		return 0;
	}
	pthread_mutex_lock(&loop->inbox_lock);
	call_vec_push(&loop->inbox, &call);
	waiting = loop->inbox.len;
	pthread_mutex_unlock(&loop->inbox_lock);
	if (waiting == 1 && write(loop->wake_fd, &one, sizeof one) == -1 &&
	    errno != EAGAIN)
		log_warn("waking loop %u", loop->index);
	return (unsigned int)waiting;
}

/* Is some other loop still working through a long inbox? */
int
loops_behind(struct loop *self)
{
	struct server *s = self->server;
	unsigned int i;
	size_t waiting;

	for (i = 0; i < s->nloops; i++) {
		if (&s->loops[i] == self || s->loops[i].wake_fd == -1)
			continue;
		pthread_mutex_lock(&s->loops[i].inbox_lock);
		waiting = s->loops[i].inbox.len;
		pthread_mutex_unlock(&s->loops[i].inbox_lock);
		if (waiting > LOOP_BEHIND / 4)
			return 1;
	}
	return 0;
}

/* Run what was posted so far; calls posted meanwhile wait for a wakeup. */
static size_t
loop_run_inbox(struct loop *loop)
{
	struct call_vec taken;
	size_t i, n;

	pthread_mutex_lock(&loop->inbox_lock);
	taken = loop->inbox;
	loop->inbox = loop->running;
	pthread_mutex_unlock(&loop->inbox_lock);
	for (i = 0; i < taken.len; i++)
		taken.v[i].fn(taken.v[i].a, taken.v[i].b, taken.v[i].c);
	n = taken.len;
	taken.len = 0;
	if (taken.cap > 4096) {
		/* A burst is over: do not keep its memory for good. */
		free(taken.v);
		taken.v = NULL;
		taken.cap = 0;
	}
	loop->running = taken;
	return n;
}

/* The eventfd: calls are waiting. */
static void
loop_wake(evutil_socket_t fd, short what, void *arg)
{
	uint64_t count;

	(void)what;
	if (read(fd, &count, sizeof count) == -1 && errno != EAGAIN)
		log_warn("loop wakeup");
	loop_run_inbox(arg);
}

/* The inbox of one loop: a lock, two vectors and an eventfd. */
static int
loop_inbox_init(struct loop *loop, char **cause)
{
	loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->wake_fd == -1) {
		xasprintf(cause, "eventfd: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_init(&loop->inbox_lock, NULL);
	loop->wake_ev = event_new(loop->base, loop->wake_fd,
	    EV_READ | EV_PERSIST, loop_wake, loop);
	event_priority_set(loop->wake_ev, 0);
	event_add(loop->wake_ev, NULL);
	return 0;
}

/*
 * Make n loops: loop 0 on the given base (the main thread's), the others
 * on bases of their own, not yet running.
 */
int
workers_init(struct server *s, struct event_base *base, unsigned int n,
    char **cause)
{
	unsigned int i;

	pthread_mutex_init(&s->world_lock, NULL);
	pthread_cond_init(&s->world_cond, NULL);
	pthread_mutex_init(&s->ip_lock, NULL);
	s->loops = xcalloc(n, sizeof *s->loops);
	s->nloops = n;
	threaded = n > 1;
	for (i = 0; i < n; i++) {
		s->loops[i].wake_fd = -1;
		if (i > 0 && (base = loop_base_new()) == NULL) {
			xasprintf(cause, "cannot create event loop %u", i);
			return -1;
		}
		/*
		 * Posted calls (priority 0) run before the connections' own
		 * events: a line another loop sent before a client's next move
		 * reaches that client before the move is acted on.  Events made
		 * from now on get priority 1.
		 */
		if (threaded && event_base_priority_init(base, 2) == -1) {
			xasprintf(cause, "loop %u: cannot set priorities", i);
			if (i > 0)
				event_base_free(base);
			return -1;
		}
		loop_init(&s->loops[i], s, i, base);
		if (threaded && loop_inbox_init(&s->loops[i], cause) == -1)
			return -1;
	}
	here = &s->loops[0];
	return 0;
}

/* A worker thread: run its loop until told to stop. */
static void *
loop_thread(void *arg)
{
	struct loop *loop = arg;

	here = loop;
	event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/*
 * Start the threads of loops 1..n-1.  They block every signal: signals
 * are the main thread's business.
 */
int
workers_start(struct server *s, char **cause)
{
	sigset_t all, old;
	unsigned int i;
	int error = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < s->nloops && error == 0; i++) {
		error = pthread_create(&s->loops[i].thread, NULL, loop_thread,
		    &s->loops[i]);
		if (error == 0)
			s->loops[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0) {
		xasprintf(cause, "cannot start worker thread %u: %s", i - 1,
		    strerror(error));
		return -1;
	}
	return 0;
}

/* Posted to a worker: leave its loop. */
static void
loop_exit_call(void *a, void *b, void *c)
{
	struct loop *loop = a;

	(void)b;
	(void)c;
	event_base_loopbreak(loop->base);
}

/*
 * Stop and join every worker thread; from then on the main thread holds
 * every loop.  Calls still in the inboxes run here, so that what they
 * carry (lines, new connections) is delivered or released.
 */
void
workers_stop(struct server *s)
{
	unsigned int i;
	size_t ran;

	if (s->world_held && !s->world_stopping)
		return;		/* already done */
	for (i = 1; i < s->nloops; i++) {
		if (!s->loops[i].started)
			continue;
		loop_post(&s->loops[i], loop_exit_call, &s->loops[i], NULL,
		    NULL);
		pthread_join(s->loops[i].thread, NULL);
		s->loops[i].started = 0;
	}
	s->world_held = 1;
	do {
		ran = 0;
		for (i = 0; i < s->nloops && s->loops[i].wake_fd != -1; i++)
			ran += loop_run_inbox(&s->loops[i]);
	} while (ran != 0);
}

/* Free what workers_init made, after loop_free of every loop. */
void
workers_free(struct server *s)
{
	unsigned int i;
	struct loop *loop;

	for (i = 0; i < s->nloops; i++) {
		loop = &s->loops[i];
		if (loop->wake_fd != -1) {
			event_free(loop->wake_ev);
			close(loop->wake_fd);
			pthread_mutex_destroy(&loop->inbox_lock);
		}
		free(loop->inbox.v);
		free(loop->running.v);
		if (i > 0 && loop->base != NULL)
			event_base_free(loop->base);
	}
	free(s->loops);
	s->loops = NULL;
	s->nloops = 0;
	pthread_mutex_destroy(&s->ip_lock);
	pthread_cond_destroy(&s->world_cond);
	pthread_mutex_destroy(&s->world_lock);
}

/* Posted to every worker by world_stop: wait until the world resumes. */
static void
loop_park_call(void *a, void *b, void *c)
{
	struct server *s = a;

	(void)b;
	(void)c;
	pthread_mutex_lock(&s->world_lock);
	s->parked++;
	pthread_cond_broadcast(&s->world_cond);
	while (s->world_stopping)
		pthread_cond_wait(&s->world_cond, &s->world_lock);
	s->parked--;
	pthread_cond_broadcast(&s->world_cond);
	pthread_mutex_unlock(&s->world_lock);
}

/*
 * Park every worker at a safe point (between two calls of its inbox, never
 * inside a connection's callback) and take hold of every loop.  Main
 * thread only; no lock may be held.
 */
void
world_stop(struct server *s)
{
	unsigned int i, running = 0;

	if (!threaded || s->world_held)
		return;
	pthread_mutex_lock(&s->world_lock);
	s->world_stopping = 1;
	pthread_mutex_unlock(&s->world_lock);
	for (i = 1; i < s->nloops; i++) {
		if (s->loops[i].started) {
			loop_post(&s->loops[i], loop_park_call, s, NULL, NULL);
			running++;
		}
	}
	pthread_mutex_lock(&s->world_lock);
	while (s->parked < running)
		pthread_cond_wait(&s->world_cond, &s->world_lock);
	s->world_held = 1;
	pthread_mutex_unlock(&s->world_lock);
}

/* Let the workers go again, and wait until they have. */
void
world_resume(struct server *s)
{
	if (!threaded || !s->world_stopping)
		return;
	pthread_mutex_lock(&s->world_lock);
	s->world_held = 0;
	s->world_stopping = 0;
	pthread_cond_broadcast(&s->world_cond);
	while (s->parked > 0)
		pthread_cond_wait(&s->world_cond, &s->world_lock);
	pthread_mutex_unlock(&s->world_lock);
}
