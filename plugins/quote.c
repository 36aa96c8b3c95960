/*
 * quote.c -- an echochatd handler plugin with settings and a timer: each
 * line (or datagram) is answered with the next line of a file of quotes,
 * and a stream connection that is quiet hears "* keep-alive" every
 * keepalive.
 *
 *   [handler quote]
 *   file = /usr/share/games/fortunes/quotes   ; one quote per line
 *   keepalive = 30s                           ; 0: never
 *
 * The quotes are read on the main thread by check (to refuse a file that
 * cannot be read) and configure (to use it).  configure runs while every
 * loop is held, so input on the connections' threads reads the table
 * without a lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <echochat/plugin.h>

#define QUOTES_MAX	10000	/* lines kept from the file */
#define QUOTE_LEN_MAX	1000	/* bytes kept of each line */

struct quotes {
	char		**v;
	size_t		  n;
};

struct quote_state {
	struct quotes	  q;
	uint64_t	  keepalive_ms;
	size_t		  next_dgram;	/* main thread only */
};

/* Per connection (its own thread only). */
struct quote_conn {
	struct conn	 *conn;
	size_t		  next;
	uint64_t	  last_ms;	/* last time it sent us a line */
	struct htimer	 *timer;
};

static void
quotes_free(struct quotes *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->v[i]);
	free(q->v);
	q->v = NULL;
	q->n = 0;
}

/* Read path into q: non-empty lines, bounded.  0, or -1 and errno. */
static int
quotes_read(const char *path, struct quotes *q)
{
	char *line = NULL, **v;
	size_t size = 0;
	ssize_t n;
	FILE *f;

	q->v = NULL;
	q->n = 0;
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (q->n < QUOTES_MAX && (n = getline(&line, &size, f)) != -1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if (n > QUOTE_LEN_MAX)
			line[QUOTE_LEN_MAX] = '\0';
		if ((v = realloc(q->v, (q->n + 1) * sizeof *v)) == NULL)
			break;
		q->v = v;
		if ((q->v[q->n] = strdup(line)) == NULL)
			break;
		q->n++;
	}
	free(line);
	fclose(f);
	return 0;
}

/* check (main thread): the file must give at least one quote. */
static void
quote_check(const struct hsettings *hs)
{
	const char *path = hsettings_get_string(hs, "file");
	struct quotes q;

	if (*path == '\0') {
		hsettings_error(hs, "file", "missing: the file of quotes");
		return;
	}
	if (quotes_read(path, &q) == -1) {
		hsettings_error(hs, "file", "%s: %s", path, strerror(errno));
		return;
	}
	if (q.n == 0)
		hsettings_error(hs, "file", "%s has no quotes", path);
	quotes_free(&q);
}

static void *
quote_start(const char **cause)
{
	struct quote_state *st = calloc(1, sizeof *st);

	if (st == NULL)
		*cause = "out of memory";
	return st;
}

/* configure (main thread, every loop held): take the new settings. */
static void
quote_configure(void *state, const struct hsettings *hs)
{
	struct quote_state *st = state;
	const char *path = hsettings_get_string(hs, "file");
	struct quotes q;

	st->keepalive_ms = hsettings_get(hs, "keepalive");
	if (quotes_read(path, &q) == -1 || q.n == 0) {
		hlog(HLOG_WARN, "quote: %s: no quotes now; keeping the old "
		    "ones", path);
		quotes_free(&q);
		return;
	}
	quotes_free(&st->q);
	st->q = q;
	hlog(HLOG_INFO, "quote: %zu quotes from %s", q.n, path);
}

static void
quote_stop(void *state)
{
	struct quote_state *st = state;

	quotes_free(&st->q);
	free(st);
}

/* Send quote i (mod n) and a newline. */
static void
send_quote(struct conn *c, const struct quotes *q, size_t i)
{
	const char *s = q->n > 0 ? q->v[i % q->n] : "* no quotes";

	conn_send(c, s, strlen(s));
	conn_send(c, "\n", 1);
}

/* The keep-alive timer (the connection's thread). */
static void
quote_tick(void *arg)
{
	struct quote_conn *qc = arg;
	struct quote_state *st = conn_handler_state(qc->conn);

	if (hclock_ms() - qc->last_ms >= st->keepalive_ms)
		conn_send(qc->conn, "* keep-alive\n", 13);
}

static int
quote_open(struct conn *c)
{
	struct quote_state *st = conn_handler_state(c);
	struct quote_conn *qc = calloc(1, sizeof *qc);

	if (qc == NULL)
		return -1;
	qc->conn = c;
	qc->last_ms = hclock_ms();
	if (st->keepalive_ms > 0)
		qc->timer = htimer_every(st->keepalive_ms, quote_tick, qc);
	conn_set_data(c, qc);
	return 0;
}

static void
quote_input(struct conn *c, char *line, size_t len)
{
	struct quote_state *st = conn_handler_state(c);
	struct quote_conn *qc = conn_get_data(c);

	(void)line;
	(void)len;
	qc->last_ms = hclock_ms();
	send_quote(c, &st->q, qc->next++);
}

static void
quote_close(struct conn *c, const char *reason)
{
	struct quote_conn *qc = conn_get_data(c);

	(void)reason;
	htimer_free(qc->timer);
	free(qc);
}

/* A datagram (main thread): the next quote, as one datagram. */
static void
quote_datagram(void *state, const struct dgram_src *src, char *data,
    size_t len)
{
	struct quote_state *st = state;
	const char *s = st->q.n > 0 ? st->q.v[st->next_dgram++ % st->q.n] :
	    "* no quotes";

	(void)data;
	(void)len;
	dgram_reply(src, s, strlen(s));
}

static const struct hsetting_def quote_settings[] = {
	{ "file", HSETTING_STRING, 0, 0 },
	{ "keepalive", HSETTING_DURATION, 0, 24 * 3600 * 1000 },
	{ NULL, 0, 0, 0 }
};

static const struct handler quote_handler = {
	.name = "quote",
	.framing = FRAMING_LINES,
	.settings = quote_settings,
	.defaults = "file =\nkeepalive = 0\n",
	.check = quote_check,
	.start = quote_start,
	.configure = quote_configure,
	.stop = quote_stop,
	.open = quote_open,
	.input = quote_input,
	.close = quote_close,
	.datagram = quote_datagram,
};

ECHOCHAT_PLUGIN(quote_handler, "1.0");
