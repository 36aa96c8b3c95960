/*
 * endpoint.c -- sending to an endpoint from any thread.  On the
 * endpoint's own loop a send is a direct call into its ops; from another
 * loop it is posted there, holding a reference on the endpoint and on the
 * line until it has run, so neither can vanish on the way.  That hop is
 * the one place cross-loop delivery happens (as memcached's
 * notify_io_complete is for its workers); a sender whose lines pile up in
 * a far-behind loop is held back here too.
 */
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "sync.h"
#include "xmalloc.h"

struct delivery {
	struct endpoint		*to;
	struct shared_line	*line;
};

struct endpoint *
endpoint_new(const struct endpoint_ops *ops, void *impl, struct loop *loop)
{
	struct endpoint *ep = xmalloc(sizeof *ep);

	ep->ops = ops;
	ep->impl = impl;
	ep->loop = loop;
	atomic_init(&ep->refs, 1);
	return ep;
}

void
endpoint_ref(struct endpoint *ep)
{
	counter_add(&ep->refs, 1);
}

/* The last reference frees, telling a still attached owner first. */
void
endpoint_unref(struct endpoint *ep)
{
	if (counter_add(&ep->refs, -1) != 0)
		return;
	if (ep->impl != NULL && ep->ops->release != NULL)
		ep->ops->release(ep->impl);
	free(ep);
}

void
endpoint_detach(struct endpoint *ep)
{
	ep->impl = NULL;
	endpoint_unref(ep);
}

unsigned int
endpoint_loop(const struct endpoint *ep)
{
	return ep->loop->index;
}

int
endpoint_is_open(const struct endpoint *ep)
{
	return ep->impl != NULL;
}

void
endpoint_hold_if_behind(struct endpoint *from, struct loop *to)
{
	if (from != NULL && from->impl != NULL && from->ops->hold != NULL &&
	    loop_is_here(from->loop) && loop_behind(to))
		from->ops->hold(from->impl);
}

/* Posted to the endpoint's loop. */
static void
delivery_run(void *arg)
{
	struct delivery *d = arg;

	if (d->to->impl != NULL)
		d->to->ops->send_line(d->to->impl, d->line);
	shared_line_unref(d->line);
	endpoint_unref(d->to);
	free(d);
}

void
endpoint_deliver(struct endpoint *to, struct shared_line *sl,
    struct endpoint *from)
{
	struct delivery *d;

	if (loop_is_here(to->loop)) {
		if (to->impl != NULL)
			to->ops->send_line(to->impl, sl);
		return;
	}
	d = xmalloc(sizeof *d);
	d->to = to;
	d->line = sl;
	endpoint_ref(to);
	shared_line_ref(sl);
	loop_post_deferred(to->loop, delivery_run, d);
	endpoint_hold_if_behind(from, to->loop);
}

/*
 * As endpoint_deliver, but one of the caller's references to sl goes
 * with it: a broadcast takes its recipients' references in one go.
 */
void
endpoint_deliver_owned(struct endpoint *to, struct shared_line *sl,
    struct endpoint *from)
{
	if (loop_is_here(to->loop) && to->impl != NULL &&
	    to->ops->send_line_owned != NULL) {
		to->ops->send_line_owned(to->impl, sl);
		return;
	}
	endpoint_deliver(to, sl, from);
	shared_line_unref(sl);
}

void
endpoint_send(struct endpoint *ep, const void *data, size_t len)
{
	struct shared_line *sl;

	if (loop_is_here(ep->loop)) {
		if (ep->impl != NULL)
			ep->ops->send(ep->impl, data, len);
		return;
	}
	sl = shared_line_new(data, len);
	endpoint_deliver(ep, sl, NULL);
	shared_line_unref(sl);
}

void
endpoint_finish(struct endpoint *ep)
{
	if (ep->impl != NULL && ep->ops->finish != NULL)
		ep->ops->finish(ep->impl);
}
