/*
 * line.c -- shared lines: one allocation holding the count, the length
 * and the text, freed by whichever thread drops the last reference.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line.h"
#include "sync.h"
#include "xmalloc.h"

/* A new shared line holding a copy of data, one reference. */
struct shared_line *
shared_line_new(const char *data, size_t len)
{
	struct shared_line *sl = xmalloc(sizeof *sl + len);

	atomic_init(&sl->refs, 1);
	sl->len = len;
	memcpy(sl->data, data, len);
	return sl;
}

/* A new shared line from a format, one reference. */
struct shared_line *
shared_line_printf(const char *fmt, ...)
{
	struct shared_line *sl;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	sl = xmalloc(sizeof *sl + (size_t)n + 1);
	atomic_init(&sl->refs, 1);
	sl->len = (size_t)n;
	va_start(ap, fmt);
	vsnprintf(sl->data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return sl;
}

/* Take one more reference. */
void
shared_line_ref(struct shared_line *sl)
{
	counter_add(&sl->refs, 1);
}

/*
 * Take n more references at once (one atomic operation for a whole
 * broadcast), or give back -n taken ahead and not used: never the last.
 */
void
shared_line_ref_n(struct shared_line *sl, int n)
{
	counter_add(&sl->refs, n);
}

/* Drop a reference; the last one frees. */
void
shared_line_unref(struct shared_line *sl)
{
	if (counter_add(&sl->refs, -1) == 0)
		free(sl);
}
