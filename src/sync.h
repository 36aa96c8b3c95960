/*
 * sync.h -- counters and locks that cost nothing without threads
 * (sync.c).  Whether there are threads is decided once, before any starts
 * (workers = N); with one loop every call here is a plain load, store or
 * no-op.
 */
#ifndef ECHOCHAT_SYNC_H
#define ECHOCHAT_SYNC_H

#include <pthread.h>
#include <stdatomic.h>

void	 sync_set_threaded(int);
int	 sync_threaded(void);

/* Add to a counter other threads may read; returns the new value. */
unsigned int counter_add(atomic_uint *, int delta);
unsigned int counter_get(atomic_uint *);

/* Lock and unlock a mutex only when there are threads to keep out. */
void	 threads_lock(pthread_mutex_t *);
void	 threads_unlock(pthread_mutex_t *);

#endif
