/*
 * sync.c -- counters and locks that cost nothing without threads.
 */
#include "sync.h"

/* Set once, before any thread starts: are there several loops? */
static int threaded;

void
sync_set_threaded(int on)
{
	threaded = on;
}

int
sync_threaded(void)
{
	return threaded;
}

/*
 * With threads an atomic add; without, a plain load and store (no locked
 * instruction on the path of every reference count).
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
