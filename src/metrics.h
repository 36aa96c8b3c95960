/*
 * metrics.h -- the HTTP endpoint of [metrics] (metrics.c): /metrics in
 * Prometheus' text format and /healthz, served on the main loop.
 */
#ifndef ECHOCHAT_METRICS_H
#define ECHOCHAT_METRICS_H

#include <event2/event.h>

#include "listener.h"

enum metrics_state { METRICS_STARTING, METRICS_SERVING, METRICS_STOPPING };

struct metrics;

struct metrics	*metrics_new(struct event_base *main_base);
/*
 * Serve on lc's address (copied), or nowhere (NULL).  An unchanged
 * address keeps its socket; a new one is bound before the old one is
 * closed, so a failure (-1, *cause for the caller to free) changes
 * nothing.
 */
int		 metrics_listen(struct metrics *, const struct listener_conf *,
		    char **cause);
void		 metrics_set_state(struct metrics *, enum metrics_state);
void		 metrics_free(struct metrics *);

#endif
