/*
 * tailq.h -- <sys/queue.h> with the _SAFE iterator glibc's lacks.
 */
#ifndef ECHOCHAT_TAILQ_H
#define ECHOCHAT_TAILQ_H

#include <sys/queue.h>

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#endif
