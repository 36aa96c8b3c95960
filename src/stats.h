/*
 * stats.h -- the counters behind the metrics (stats.c): per loop, written
 * only by that loop's thread, summed when read.
 *
 * Each loop has its own block of counters, on cache lines of its own, so
 * counting costs a plain add and no loop ever writes a line another loop
 * writes.  The reader (a scrape, the SIGUSR2 line, on the main thread)
 * adds the blocks of every loop while the loops go on counting.
 *
 * Why relaxed atomics and not plain integers: a scrape reads counters
 * other threads are writing, and in C11 that is only defined behaviour
 * if both sides are atomic.  A relaxed load and a relaxed store (never a
 * read-modify-write) compile to the same plain load, add and store as a
 * uint64_t would, so the hot path pays nothing.  Posting a gather call to
 * each loop (loop_post) would give an exact cut across loops, but a scrape
 * would then wait for the busiest loop; the sum of relaxed reads is exact
 * per counter and never waits.
 *
 * Per-listener counters are kept by listener name, for the life of the
 * process: a listener a reload re-creates (or renames back) goes on with
 * the same counts, so counters only ever grow.
 */
#ifndef ECHOCHAT_STATS_H
#define ECHOCHAT_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tailq.h"

/* Why a stream connection ended (echochat_disconnects_total reason). */
enum stat_end {
	END_CLIENT, END_IDLE, END_TOO_SLOW, END_QUIT, END_SHUTDOWN,
	END_RELOAD, END_ERROR, END_ANSWERED, END_MAX
};

/* Why a datagram went unanswered. */
enum stat_dgram_drop {
	DROP_LOW_PORT, DROP_OWN_PORT, DROP_RATE, DROP_PEERS_FULL, DROP_MAX
};

/* One listener's counters on one loop. */
enum stat_listener {
	SL_ACCEPTED,
	SL_REFUSED_FULL, SL_REFUSED_PER_IP,
	SL_RECEIVED_BYTES, SL_SENT_BYTES,
	SL_DATAGRAMS,
	SL_DROPPED,			/* + enum stat_dgram_drop */
	SL_ENDED = SL_DROPPED + DROP_MAX, /* + enum stat_end */
	SL_MAX = SL_ENDED + END_MAX
};

/* Process-wide counters on one loop.  Gauges count ups and downs. */
enum stat_global {
	SG_CHAT_PARTICIPANTS, SG_CHAT_ROOMS,
	SG_CHAT_MESSAGES, SG_CHAT_DELIVERIES,
	SG_CHAT_DROPPED_RATE, SG_CHAT_DROPPED_TOO_LONG,
	SG_CHAT_DROPPED_LINE_TIMEOUT,
	SG_RELOADS_OK, SG_RELOADS_FAILED,
	SG_OUTPUT_QUEUED,		/* bytes in output queues (outq.c) */
	SG_CLUSTER_UP,			/* 1 while subscribed (cluster.c) */
	SG_CLUSTER_DROPPED,		/* records not sent to the cluster */
	SG_MAX
};

#define STATS_LINE	64

struct stat_block {
	_Alignas(STATS_LINE) _Atomic uint64_t v[SL_MAX];
};
struct stat_global_block {
	_Alignas(STATS_LINE) _Atomic uint64_t v[SG_MAX];
};

/* What a listener's counters are about (both, if a reload changed it). */
#define STATS_STREAM	0x01
#define STATS_DGRAM	0x02

/* A listener's counters: one block per loop. */
struct listener_stats {
	char			*name;
	unsigned int		 kinds;		/* STATS_STREAM, STATS_DGRAM */
	struct stat_block	*loop;		/* [nloops] */
	TAILQ_ENTRY(listener_stats) entry;
};
TAILQ_HEAD(listener_stats_list, listener_stats);

/* Add on the counting thread's own counter: a plain load, add, store. */
static inline void
stat_add(_Atomic uint64_t *x, uint64_t n)
{
	atomic_store_explicit(x, atomic_load_explicit(x,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

static inline uint64_t
stat_get(_Atomic uint64_t *x)
{
	return atomic_load_explicit(x, memory_order_relaxed);
}

/* Count for listener ls on loop i (the calling thread's loop). */
static inline void
lstat_add(struct listener_stats *ls, unsigned int i, enum stat_listener w,
    uint64_t n)
{
	stat_add(&ls->loop[i].v[w], n);
}

void	 stats_init(unsigned int nloops);
void	 stats_free(void);
/* The counters of listener name, made at first use (main thread). */
struct listener_stats *stats_listener(const char *name, unsigned int kind);
const struct listener_stats_list *stats_listeners(void);
/* Count a process-wide figure on this thread's loop (delta may be < 0). */
void	 gstat_add(enum stat_global, int64_t delta);
/* Sums over every loop. */
uint64_t lstat_sum(struct listener_stats *, unsigned int which);
uint64_t gstat_sum(enum stat_global);
/* Stream connections open now (accepted less ended, never below 0). */
uint64_t lstat_open(struct listener_stats *);
/* The headline figures as one line (SIGUSR2), into buf. */
void	 stats_summary(char *buf, size_t size);

#endif
