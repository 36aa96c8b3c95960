/*
 * stats.c -- per-loop counters, summed when read (stats.h says why they
 * are relaxed atomics).  The blocks are made before any worker starts and
 * freed after every one stopped; listener records are added only on the
 * main thread while the other loops are held or not yet running (start-up
 * and reloads), so a loop never sees the list change under it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"
#include "stats.h"
#include "xmalloc.h"

static unsigned int nloops;
static struct stat_global_block *global;	/* [nloops] */
static struct listener_stats_list listeners =
    TAILQ_HEAD_INITIALIZER(listeners);

/* Zeroed blocks of counters, each on cache lines of its own. */
static void *
blocks_new(size_t size)
{
	void *p;

	if (posix_memalign(&p, STATS_LINE, size * nloops) != 0)
		abort();
	memset(p, 0, size * nloops);
	return p;
}

void
stats_init(unsigned int n)
{
	nloops = n;
	global = blocks_new(sizeof *global);
}

void
stats_free(void)
{
	struct listener_stats *ls;

	while ((ls = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, ls, entry);
		free(ls->name);
		free(ls->loop);
		free(ls);
	}
	free(global);
	global = NULL;
	nloops = 0;
}

struct listener_stats *
stats_listener(const char *name, unsigned int kind)
{
	struct listener_stats *ls;

	TAILQ_FOREACH(ls, &listeners, entry) {
		if (strcmp(ls->name, name) == 0) {
			ls->kinds |= kind;
			return ls;
		}
	}
	ls = xcalloc(1, sizeof *ls);
	ls->kinds = kind;
	ls->name = xstrdup(name);
	ls->loop = blocks_new(sizeof *ls->loop);
	TAILQ_INSERT_TAIL(&listeners, ls, entry);
	return ls;
}

const struct listener_stats_list *
stats_listeners(void)
{
	return &listeners;
}

/*
 * The thread's loop, or loop 0's block for the main thread when it has
 * none yet (start-up) or no more (exit).
 */
void
gstat_add(enum stat_global which, int64_t delta)
{
	struct loop *here = loop_here();

	if (global == NULL)
		return;		/* a unit test without a server */
	stat_add(&global[here != NULL ? here->index : 0].v[which],
	    (uint64_t)delta);
}

uint64_t
lstat_sum(struct listener_stats *ls, unsigned int which)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < nloops; i++)
		sum += stat_get(&ls->loop[i].v[which]);
	return sum;
}

/* Gauges wrap around as they go down; the sum of all loops does not. */
uint64_t
gstat_sum(enum stat_global which)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; global != NULL && i < nloops; i++)
		sum += stat_get(&global[i].v[which]);
	return (int64_t)sum < 0 ? 0 : sum;
}

/*
 * Ends are read first: an end is counted after its accept, so reading
 * them in this order cannot see more ends than accepts, except for the
 * relaxed reads' own reordering, which the floor at 0 covers.
 */
uint64_t
lstat_open(struct listener_stats *ls)
{
	uint64_t ended = 0, accepted;
	unsigned int e;

	for (e = 0; e < END_MAX; e++)
		ended += lstat_sum(ls, SL_ENDED + e);
	accepted = lstat_sum(ls, SL_ACCEPTED);
	return accepted > ended ? accepted - ended : 0;
}

void
stats_summary(char *buf, size_t size)
{
	struct listener_stats *ls;
	uint64_t open = 0, in = 0, out = 0;

	TAILQ_FOREACH(ls, &listeners, entry) {
		open += lstat_open(ls);
		in += lstat_sum(ls, SL_RECEIVED_BYTES);
		out += lstat_sum(ls, SL_SENT_BYTES);
	}
	snprintf(buf, size, "stats: %llu connections, %llu chat "
	    "participants, %llu rooms, %llu bytes in, %llu bytes out",
	    (unsigned long long)open,
	    (unsigned long long)gstat_sum(SG_CHAT_PARTICIPANTS),
	    (unsigned long long)gstat_sum(SG_CHAT_ROOMS),
	    (unsigned long long)in, (unsigned long long)out);
}
