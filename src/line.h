/*
 * line.h -- shared lines (line.c): refcounted, immutable text that many
 * output queues reference at once, on any thread.  A broadcast is
 * formatted once into one of these.
 */
#ifndef ECHOCHAT_LINE_H
#define ECHOCHAT_LINE_H

#include <stdatomic.h>
#include <stddef.h>

struct shared_line {
	atomic_uint	refs;		/* atomic once workers run */
	size_t		len;
	char		data[];
};

struct shared_line *shared_line_new(const char *data, size_t len);
struct shared_line *shared_line_printf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 shared_line_ref(struct shared_line *);
void	 shared_line_ref_n(struct shared_line *, int);
void	 shared_line_unref(struct shared_line *);

#endif
