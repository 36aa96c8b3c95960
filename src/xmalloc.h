/*
 * xmalloc.h -- allocation that cannot fail (xmalloc.c).
 */
#ifndef ECHOCHAT_XMALLOC_H
#define ECHOCHAT_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
