/*
 * cluster.h -- the link to the other servers of a cluster (cluster.c):
 * one Redis pub/sub channel, kept connected without ever blocking a loop.
 * What travels on it is the chat's business (handler.h, hcluster_*).
 */
#ifndef ECHOCHAT_CLUSTER_H
#define ECHOCHAT_CLUSTER_H

#include <stdint.h>

#include "loop.h"

struct cluster_conf {
	const char	*redis;		/* HOST:PORT or a path */
	const char	*channel;
	const char	*node;
	const char	*password;	/* NULL: no AUTH */
	uint64_t	 node_timeout_ms;
};

/* Was echochatd built with hiredis? */
int	 cluster_supported(void);
/* Is a link configured (and started)? */
int	 cluster_enabled(void);
/* Set up on loop 0 (the main thread); connect once serving. */
void	 cluster_start(struct loop *, const struct cluster_conf *);
void	 cluster_connect(void);
/* After the loops ended: push out what is queued (briefly), and free. */
void	 cluster_stop(void);

#endif
