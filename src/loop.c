/*
 * loop.c -- event loops, one per thread (workers = N).
 *
 * Loop 0 runs on the main thread; each further loop runs on a thread of
 * its own.  What lives on a loop is touched only by that loop's thread;
 * other threads reach it by posting calls to its inbox, which it runs at
 * its next turn (an eventfd wakes it).  The loops' bases are never shared,
 * so libevent needs no locking of its own.
 *
 * Work that is best done once per turn (flushing every connection that
 * got output, freeing the dead) registers an end-of-turn hook: the layer
 * above calls loop_schedule when it has such work, and the hooks run after
 * the events of this turn, as Redis's beforeSleep does.
 *
 * What must change everything at once -- a reload, the start of a
 * shutdown, reopening the log -- stops the world: every other loop parks
 * inside its inbox until the main thread is done, and meanwhile the main
 * thread may act on any loop as if it were its own (loop_is_here).  After
 * the threads have been joined at exit the main thread holds them all for
 * good.
 *
 * A call posted in the course of a turn (a line for members on another
 * loop) wakes its loop later than at once: the calls of a whole turn then
 * arrive together, and each recipient's queue takes the turn's lines in
 * one write, rather than the other loop waking (and on a shared CPU,
 * preempting the poster) for the first of them.  The wake is paid before
 * anything this loop writes to a client goes out (loop_wake_owed, from
 * every transport's write) and at the end of the turn: a client that has
 * seen what came after a post can never get ahead of the post itself.
 *
 * With one loop there is no thread, no inbox and no lock, and a post is
 * a direct call.
 */
#include <sys/eventfd.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "sync.h"
#include "xmalloc.h"

/* The loop this thread runs. */
static _Thread_local struct loop *here;

/* A burst's inbox memory is given back once it has drained. */
#define INBOX_KEEP	4096

/*
 * A new event base.  With epoll's changelist, a connection that switches
 * between watching for input and for output within one turn costs one
 * epoll_ctl(MOD) instead of a DEL and an ADD.  echochat never dup()s a
 * watched descriptor, the one case the changelist mishandles.
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

/* workers = 0 means one loop per CPU. */
unsigned int
loops_resolve(uint64_t configured)
{
	long n;

	if (configured != 0)
		return configured > WORKERS_MAX ? WORKERS_MAX :
		    (unsigned int)configured;
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

/* This loop's own thread, or the main thread holding every loop. */
int
loop_is_here(struct loop *loop)
{
	return loop == here || (here == loop->set->v && loop->set->world_held);
}

/* Write a loop's eventfd: calls wait in its inbox. */
static void
loop_wake_up(struct loop *loop)
{
	uint64_t one = 1;

	if (write(loop->wake_fd, &one, sizeof one) == -1 && errno != EAGAIN)
		log_warn("waking loop %u", loop->index);
}

/* Wake the loops this one posted to in its turn, if still needed. */
static void
loop_pay_wakes(struct loop *loop)
{
	struct loop *to;
	unsigned int i;

	for (i = 0; i < loop->nowed; i++) {
		to = &loop->set->v[loop->owed[i]];
		loop->owes[loop->owed[i]] = 0;
		if (atomic_load_explicit(&to->waiting,
		    memory_order_relaxed) != 0)
			loop_wake_up(to);
	}
	loop->nowed = 0;
}

/*
 * About to write to a client: first wake the loops this thread's loop
 * posted to, so that what they were sent is on its way before anything
 * said after it.
 */
void
loop_wake_owed(void)
{
	if (here != NULL && here->nowed != 0)
		loop_pay_wakes(here);
}

/*
 * End of turn: wake whom the turn posted to, then run every hook once
 * (they flush output), then wake whom the hooks posted to.
 */
static void
loop_turn_end(evutil_socket_t fd, short what, void *arg)
{
	struct loop *loop = arg;
	unsigned int i;

	(void)fd;
	(void)what;
	if (loop->nowed != 0)
		loop_pay_wakes(loop);
	for (i = 0; i < loop->nhooks; i++)
		loop->hooks[i].fn(loop->hooks[i].arg);
	if (loop->nowed != 0)
		loop_pay_wakes(loop);
}

/* Register an end-of-turn hook (at set-up, on the loop's thread). */
void
loop_add_hook(struct loop *loop, loop_fn *fn, void *arg)
{
	if (loop->nhooks == LOOP_HOOKS_MAX)
		abort();	/* a fixed set of layers: cannot happen */
	loop->hooks[loop->nhooks].fn = fn;
	loop->hooks[loop->nhooks].arg = arg;
	loop->nhooks++;
}

/*
 * Make sure the hooks run at the end of this turn: activating the event
 * again while it is already active does nothing.
 */
void
loop_schedule(struct loop *loop)
{
	event_active(loop->turn_ev, EV_TIMEOUT, 0);
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

/* Put a call in a loop's inbox; returns how many now wait there. */
static size_t
loop_inbox_push(struct loop *loop, loop_fn *fn, void *arg)
{
	struct loop_call call = { fn, arg };
	size_t waiting;

	pthread_mutex_lock(&loop->inbox_lock);
	call_vec_push(&loop->inbox, &call);
	waiting = loop->inbox.len;
	atomic_store_explicit(&loop->waiting, waiting, memory_order_relaxed);
	pthread_mutex_unlock(&loop->inbox_lock);
	return waiting;
}

/*
 * Post a call and wake its loop now; returns how many now wait there.
 * Only the first call into an empty inbox writes the eventfd (the loop
 * takes the whole inbox at once when it wakes), unless this thread's
 * loop still owes it a wake from a deferred post.
 */
unsigned int
loop_post(struct loop *loop, loop_fn *fn, void *arg)
{
	size_t waiting;

	if (loop->wake_fd == -1) {
		fn(arg);	/* one loop: no other thread to wait for */
		return 0;
	}
	waiting = loop_inbox_push(loop, fn, arg);
	if (waiting == 1 || (here != NULL && here->set == loop->set &&
	    here->owes[loop->index]))
		loop_wake_up(loop);
	return (unsigned int)waiting;
}

/*
 * Post a call made in the course of this thread's turn: its loop is woken
 * when the turn ends (loop_turn_end), together with whatever else the
 * turn posted there.  Not from outside a loop's thread.
 */
unsigned int
loop_post_deferred(struct loop *loop, loop_fn *fn, void *arg)
{
	size_t waiting;

	if (loop->wake_fd == -1 || here == NULL || here->set != loop->set ||
	    here == loop)
		return loop_post(loop, fn, arg);
	waiting = loop_inbox_push(loop, fn, arg);
	if (!here->owes[loop->index]) {
		here->owes[loop->index] = 1;
		here->owed[here->nowed++] = (uint16_t)loop->index;
		loop_schedule(here);
	}
	return (unsigned int)waiting;
}

/* Is this loop's inbox long enough to hold back who feeds it? */
int
loop_behind(struct loop *loop)
{
	return atomic_load_explicit(&loop->waiting, memory_order_relaxed) >
	    LOOP_BEHIND;
}

/* Has every other loop worked its inbox down? (No lock: a hint.) */
int
loops_caught_up(struct loops *set, struct loop *self)
{
	unsigned int i;

	for (i = 0; i < set->n; i++) {
		if (&set->v[i] != self && atomic_load_explicit(
		    &set->v[i].waiting, memory_order_relaxed) > LOOP_CAUGHT_UP)
			return 0;
	}
	return 1;
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
	atomic_store_explicit(&loop->waiting, 0, memory_order_relaxed);
	pthread_mutex_unlock(&loop->inbox_lock);
	for (i = 0; i < taken.len; i++)
		taken.v[i].fn(taken.v[i].arg);
	n = taken.len;
	taken.len = 0;
	if (taken.cap > INBOX_KEEP) {
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

/* One loop on a base. */
static int
loop_init(struct loops *set, unsigned int i, struct event_base *base,
    char **cause)
{
	struct loop *loop = &set->v[i];

	loop->set = set;
	loop->index = i;
	loop->base = base;
	/*
	 * Posted calls (priority 0) run before the connections' own events:
	 * a line another loop sent before a client's next move reaches that
	 * client before the move is acted on.  Events made from now on get
	 * priority 1.
	 */
	if (set->n > 1 && event_base_priority_init(base, 2) == -1) {
		xasprintf(cause, "loop %u: cannot set priorities", i);
		return -1;
	}
	loop->scratch = xmalloc(READ_CHUNK + 1);
	loop->turn_ev = event_new(base, -1, 0, loop_turn_end, loop);
	if (set->n > 1 && loop_inbox_init(loop, cause) == -1)
		return -1;
	return 0;
}

/*
 * Make n loops: loop 0 on the given base (the main thread's), the others
 * on bases of their own, not yet running.  On failure loops_free cleans
 * up.
 */
int
loops_init(struct loops *set, struct event_base *main_base, unsigned int n,
    char **cause)
{
	struct event_base *base;
	unsigned int i;

	memset(set, 0, sizeof *set);
	pthread_mutex_init(&set->world_lock, NULL);
	pthread_cond_init(&set->world_cond, NULL);
	set->v = xcalloc(n, sizeof *set->v);
	set->n = n;
	sync_set_threaded(n > 1);
	for (i = 0; i < n; i++)
		set->v[i].wake_fd = -1;
	for (i = 0; i < n; i++) {
		base = main_base;
		if (i > 0 && (base = loop_base_new()) == NULL) {
			xasprintf(cause, "cannot create event loop %u", i);
			return -1;
		}
		set->v[i].base = base;
		if (loop_init(set, i, base, cause) == -1)
			return -1;
	}
	here = &set->v[0];
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
loops_start(struct loops *set, char **cause)
{
	sigset_t all, old;
	unsigned int i;
	int error = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 1; i < set->n && error == 0; i++) {
		error = pthread_create(&set->v[i].thread, NULL, loop_thread,
		    &set->v[i]);
		if (error == 0)
			set->v[i].started = 1;
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
loop_exit_call(void *arg)
{
	struct loop *loop = arg;

	event_base_loopbreak(loop->base);
}

/*
 * Stop and join every worker thread; from then on the main thread holds
 * every loop.  Calls still in the inboxes run here, so that what they
 * carry (lines, new connections) is delivered or released.
 */
void
loops_stop(struct loops *set)
{
	unsigned int i;
	size_t ran;

	if (set->world_held && !set->world_stopping)
		return;		/* already done */
	for (i = 1; i < set->n; i++) {
		if (!set->v[i].started)
			continue;
		loop_post(&set->v[i], loop_exit_call, &set->v[i]);
		loop_wake_up(&set->v[i]);	/* whatever deferred wakes owe */
		pthread_join(set->v[i].thread, NULL);
		set->v[i].started = 0;
		/* It may have left before its turn ended: pay what it owed. */
		if (set->v[i].nowed != 0)
			loop_pay_wakes(&set->v[i]);
	}
	set->world_held = 1;
	do {
		ran = 0;
		for (i = 0; i < set->n; i++) {
			if (set->v[i].wake_fd != -1)
				ran += loop_run_inbox(&set->v[i]);
		}
	} while (ran != 0);
}

/* Free every loop (after loops_stop and after what ran on them). */
void
loops_free(struct loops *set)
{
	struct loop *loop;
	unsigned int i;

	for (i = 0; i < set->n; i++) {
		loop = &set->v[i];
		if (loop->wake_fd != -1) {
			event_free(loop->wake_ev);
			close(loop->wake_fd);
			pthread_mutex_destroy(&loop->inbox_lock);
		}
		if (loop->turn_ev != NULL)
			event_free(loop->turn_ev);
		free(loop->scratch);
		free(loop->inbox.v);
		free(loop->running.v);
		if (i > 0 && loop->base != NULL)
			event_base_free(loop->base);
	}
	free(set->v);
	set->v = NULL;
	set->n = 0;
	pthread_cond_destroy(&set->world_cond);
	pthread_mutex_destroy(&set->world_lock);
}

/* Posted to every worker by world_stop: wait until the world resumes. */
static void
loop_park_call(void *arg)
{
	struct loops *set = arg;

	loop_wake_owed();	/* others may have to park too */
	pthread_mutex_lock(&set->world_lock);
	set->parked++;
	pthread_cond_broadcast(&set->world_cond);
	while (set->world_stopping)
		pthread_cond_wait(&set->world_cond, &set->world_lock);
	set->parked--;
	pthread_cond_broadcast(&set->world_cond);
	pthread_mutex_unlock(&set->world_lock);
}

/*
 * Park every worker at a safe point (between two calls of its inbox, never
 * inside a connection's callback) and take hold of every loop.  Main
 * thread only; no lock may be held.
 */
void
world_stop(struct loops *set)
{
	unsigned int i, running = 0;

	if (!sync_threaded() || set->world_held)
		return;
	pthread_mutex_lock(&set->world_lock);
	set->world_stopping = 1;
	pthread_mutex_unlock(&set->world_lock);
	for (i = 1; i < set->n; i++) {
		if (set->v[i].started) {
			loop_post(&set->v[i], loop_park_call, set);
			/* at once, whatever a deferred post before it owes */
			loop_wake_up(&set->v[i]);
			running++;
		}
	}
	pthread_mutex_lock(&set->world_lock);
	while (set->parked < running)
		pthread_cond_wait(&set->world_cond, &set->world_lock);
	set->world_held = 1;
	pthread_mutex_unlock(&set->world_lock);
}

/* Let the workers go again, and wait until they have. */
void
world_resume(struct loops *set)
{
	if (!sync_threaded() || !set->world_stopping)
		return;
	pthread_mutex_lock(&set->world_lock);
	set->world_held = 0;
	set->world_stopping = 0;
	pthread_cond_broadcast(&set->world_cond);
	while (set->parked > 0)
		pthread_cond_wait(&set->world_cond, &set->world_lock);
	pthread_mutex_unlock(&set->world_lock);
}
