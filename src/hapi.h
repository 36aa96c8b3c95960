/*
 * hapi.h -- the core services handler.h promises (hapi.c): loops, locks,
 * timers, log and clock for handlers.  The server tells it the loops.
 */
#ifndef ECHOCHAT_HAPI_H
#define ECHOCHAT_HAPI_H

#include "loop.h"

void	 hapi_init(struct loops *);

#endif
