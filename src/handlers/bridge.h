/*
 * bridge.h -- the chat's side of a cluster (bridge.c): the rooms of this
 * server joined to those of the others through the cluster link.
 */
#ifndef ECHOCHAT_BRIDGE_H
#define ECHOCHAT_BRIDGE_H

#include "room.h"

struct bridge;

/* On loop 0, when [cluster] is set; the rooms report to it from then. */
struct bridge	*bridge_new(struct rooms *);
/* The server is going: the others are told, and no more is said. */
void		 bridge_shutdown(struct bridge *);
/* After every member here has left: the others' go too. */
void		 bridge_free(struct bridge *);

#endif
