/*
 * ws.c -- the WebSocket transport: an HTTP/1.1 request head, then
 * RFC 6455 frames, over the transport the connection already has (the
 * plain socket or TLS), behind the same io_ops, so that conn.c keeps
 * its output queue, limits and backpressure for browser users too.
 *
 *   - The head is read during the handshake, at most WS_HEAD_MAX bytes,
 *     and parsed by libhttp-parser; the handshake is timed by conn.c.
 *     GET / is answered with the page, an upgrade with 101, anything else
 *     with a short error; only the upgrade goes on to open the connection.
 *   - Input: frames are decoded as they arrive (wsframe.c) straight into
 *     the caller's buffer; a message's end adds the newline it lacks.
 *     A read never returns more than it read plus one byte, so it asks
 *     the inner transport for one byte less than it was given.
 *   - Output: the bytes written are cut at newlines; each line goes out
 *     as one text message (a line written in pieces goes out as a
 *     fragmented one).  Text messages must be UTF-8: what is not is
 *     replaced with U+FFFD, so one client's bytes cannot make another's
 *     browser drop the connection.  Framed bytes the socket did not take
 *     are held (at most one gathering buffer) and nothing more is taken
 *     until they are gone: the queue above keeps the backpressure.
 *   - Control frames: pings are answered, a close is answered with the
 *     same status and reads as the end of input, a protocol error sends
 *     its close status and fails the read.
 *
 * Idle, a connection costs this struct (about 330 bytes) on top of the
 * plain one; a head buffer of its own exists only while a head comes in
 * pieces.
 */
#include <sys/socket.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "autoconf.h"
#include "ws.h"
#include "wsframe.h"
#include "xmalloc.h"

#if defined(HAVE_HTTP_PARSER) && defined(HAVE_OPENSSL)

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

/* Output gathered into frames per write. */
#define WS_GATHER		16384
/* Pongs and closes are dropped rather than held past this. */
#define WS_CONTROL_HELD		4096

enum ws_phase { WS_INNER, WS_HEAD, WS_REPLY, WS_OPEN };

struct ws {
	struct io	 inner;
	struct ws_dec	 dec;
	uint8_t		 phase;
	uint8_t		 open_after;	/* the reply is a 101 */
	uint8_t		 served;	/* a sound request, answered */
	uint8_t		 peer_closed;	/* a close came: input has ended */
	uint8_t		 close_sent;
	uint8_t		 in_msg;	/* an output message is open */
	uint8_t		 last;		/* last byte of the input message */
	uint8_t		 ncarry;	/* of an output character */
	uint8_t		 carry[4];
	struct utf8_state ou8;
	uint8_t		*out;		/* framed, not yet written */
	size_t		 outlen, outoff;
	const char	*body;		/* the page, after the reply head */
	size_t		 bodylen, bodyoff;
	char		*head;		/* during WS_HEAD */
	size_t		 headlen;
	uint8_t		*early;		/* bytes after the head */
	size_t		 earlylen, earlyoff;
	char		*origins;	/* NULL: any */
	char		 status[48];	/* of a refusal, for the log */
};

/* The head as the parser saw it. */
struct ws_req {
	char		 path[256];
	size_t		 pathlen;
	int		 field;		/* which header the value is of */
	char		 upgrade[64], connection[128], key[64], version[8];
	char		 origin[256], host[256];
	int		 done;
};

enum { H_OTHER, H_UPGRADE, H_CONNECTION, H_KEY, H_VERSION, H_ORIGIN,
    H_HOST };

static const struct io_ops ws_ops;
static _Thread_local char ws_reason[160];

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The Content-Security-Policy hashes of the page's inline blocks. */
static pthread_once_t ws_page_once = PTHREAD_ONCE_INIT;
static char ws_script_hash[64], ws_style_hash[64];
static size_t ws_page_len;

int
ws_supported(void)
{
	return 1;
}

/* base64(SHA-256) of what lies between open and close in the page. */
static void
ws_hash_block(const char *open, const char *close, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	const char *s, *e;

	out[0] = '\0';
	if ((s = strstr(webpage_text, open)) == NULL)
		return;
	s += strlen(open);
	if ((e = strstr(s, close)) == NULL)
		return;
	SHA256((const unsigned char *)s, e - s, md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

static void
ws_page_init(void)
{
	ws_page_len = strlen(webpage_text);
	ws_hash_block("<script>", "</script>", ws_script_hash);
	ws_hash_block("<style>", "</style>", ws_style_hash);
}

/* Append len bytes to what is waiting for the inner transport. */
static void
ws_queue(struct ws *w, const void *p, size_t len)
{
	if (w->outoff > 0) {
		memmove(w->out, w->out + w->outoff, w->outlen - w->outoff);
		w->outlen -= w->outoff;
		w->outoff = 0;
	}
	w->out = xrealloc(w->out, w->outlen + len);
	memcpy(w->out + w->outlen, p, len);
	w->outlen += len;
}

/* Write what is waiting: 0 all gone, -1 with errno (EAGAIN: io->want). */
static int
ws_flush(struct io *io, struct ws *w)
{
	struct iovec iov;
	ssize_t n;

	while (w->outoff < w->outlen) {
		iov.iov_base = w->out + w->outoff;
		iov.iov_len = w->outlen - w->outoff;
		if ((n = io_writev(&w->inner, &iov, 1)) == -1) {
			io->want = w->inner.want;
			return -1;
		}
		w->outoff += n;
	}
	free(w->out);
	w->out = NULL;
	w->outlen = w->outoff = 0;
	return 0;
}

/*
 * A control frame.  Pongs are dropped once too much is waiting (a peer
 * pinging a reader that does not read must not grow the output); a
 * close is sent once and at most 4 bytes, so it is always queued: the
 * peer is owed it, and close_sent says it went.
 */
static void
ws_queue_control(struct ws *w, int op, const uint8_t *p, size_t len)
{
	uint8_t h[WS_HEADER_MAX];

	if (op != WS_OP_CLOSE && w->outlen - w->outoff > WS_CONTROL_HELD)
		return;
	ws_queue(w, h, ws_header(h, 1, op, len));
	if (len > 0)
		ws_queue(w, p, len);
}

static void
ws_send_close(struct ws *w, unsigned int code)
{
	uint8_t p[2] = { code >> 8, code & 0xff };

	if (w->close_sent)
		return;
	w->close_sent = 1;
	ws_queue_control(w, WS_OP_CLOSE, p, code != 0 ? 2 : 0);
}

/* --- the request head --- */

static int
ws_on_url(http_parser *p, const char *at, size_t len)
{
	struct ws_req *r = p->data;

	if (len > sizeof r->path - 1 - r->pathlen)
		len = sizeof r->path - 1 - r->pathlen;
	memcpy(r->path + r->pathlen, at, len);
	r->pathlen += len;
	r->path[r->pathlen] = '\0';
	return 0;
}

static int
ws_on_field(http_parser *p, const char *at, size_t len)
{
	static const struct { const char *name; int id; } names[] = {
		{ "upgrade", H_UPGRADE }, { "connection", H_CONNECTION },
		{ "sec-websocket-key", H_KEY },
		{ "sec-websocket-version", H_VERSION },
		{ "origin", H_ORIGIN }, { "host", H_HOST },
	};
	struct ws_req *r = p->data;
	size_t i;

	r->field = H_OTHER;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strlen(names[i].name) == len &&
		    strncasecmp(names[i].name, at, len) == 0)
			r->field = names[i].id;
	}
	return 0;
}

/* Append to a header's value; one too long is cut (and fails later). */
static void
ws_append(char *dst, size_t size, const char *at, size_t len)
{
	size_t have = strlen(dst);

	if (have > 0 && have < size - 1)
		dst[have++] = ',';	/* repeated headers: a list */
	if (len > size - 1 - have)
		len = size - 1 - have;
	memcpy(dst + have, at, len);
	dst[have + len] = '\0';
}

static int
ws_on_value(http_parser *p, const char *at, size_t len)
{
	struct ws_req *r = p->data;

	switch (r->field) {
	case H_UPGRADE:
		ws_append(r->upgrade, sizeof r->upgrade, at, len);
		break;
	case H_CONNECTION:
		ws_append(r->connection, sizeof r->connection, at, len);
		break;
	case H_KEY:
		ws_append(r->key, sizeof r->key, at, len);
		break;
	case H_VERSION:
		ws_append(r->version, sizeof r->version, at, len);
		break;
	case H_ORIGIN:
		ws_append(r->origin, sizeof r->origin, at, len);
		break;
	case H_HOST:
		ws_append(r->host, sizeof r->host, at, len);
		break;
	}
	return 0;
}

static int
ws_on_headers(http_parser *p)
{
	struct ws_req *r = p->data;

	r->done = 1;
	return 1;	/* no body is read */
}

/* Does the comma-separated list hold token (ignoring case and blanks)? */
static int
ws_has_token(const char *list, const char *token)
{
	size_t n = strlen(token);
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' ||
		    p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		while (*p != '\0' && *p != ',')
			p++;
	}
	return 0;
}

/* Is origin one of the space-separated list? */
static int
ws_origin_allowed(const char *list, const char *origin)
{
	size_t n = strlen(origin);
	const char *p = list, *e;

	if (n == 0)
		return 0;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			continue;
		if ((size_t)(e - p) == n && strncasecmp(p, origin, n) == 0)
			return 1;
		p = e;
	}
	return 0;
}

/* A key is the base64 of 16 bytes: 22 characters and "==". */
static int
ws_key_valid(const char *key)
{
	size_t i;

	if (strlen(key) != 24 || strcmp(key + 22, "==") != 0)
		return 0;
	for (i = 0; i < 22; i++) {
		/* key[i] is never NUL here: strlen is 24. */
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/", key[i]) == NULL)
			return 0;
	}
	return 1;
}

/* A short error reply, then the connection closes. */
static void
ws_reply_error(struct ws *w, int code, const char *reason,
    const char *extra)
{
	char *s;
	int n;

	n = xasprintf(&s, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "%s\r\n%s\n", code, reason, strlen(reason) + 1, extra, reason);
	ws_queue(w, s, n);
	free(s);
	snprintf(w->status, sizeof w->status, "HTTP %d %s", code, reason);
	w->open_after = 0;
}

/* Only host name characters, or nothing: the policy must not break. */
static int
ws_host_sane(const char *h)
{
	if (*h == '\0' || strlen(h) > 200)
		return 0;
	for (; *h != '\0'; h++) {
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-:[]", *h) == NULL)
			return 0;
	}
	return 1;
}

/*
 * The page, with a policy that lets it run only its own inline script
 * and style and connect only back here.  connect-src names ws: and wss:
 * of the Host explicitly: 'self' covers them only in newer browsers.
 */
static void
ws_reply_page(struct ws *w, const struct ws_req *r)
{
	char *s, hosts[512] = "";
	int n;

	pthread_once(&ws_page_once, ws_page_init);
	if (ws_host_sane(r->host))
		snprintf(hosts, sizeof hosts, " ws://%s wss://%s", r->host,
		    r->host);
	n = xasprintf(&s, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Content-Security-Policy: default-src 'none'; "
	    "script-src 'sha256-%s'; style-src 'sha256-%s'; "
	    "connect-src 'self'%s; img-src data:; base-uri 'none'; "
	    "form-action 'none'; frame-ancestors 'none'\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: close\r\n\r\n", ws_page_len, ws_script_hash,
	    ws_style_hash, hosts);
	ws_queue(w, s, n);
	free(s);
	w->body = webpage_text;
	w->bodylen = ws_page_len;
	snprintf(w->status, sizeof w->status, "HTTP 200, the web page");
	w->open_after = 0;
}

static void
ws_reply_upgrade(struct ws *w, const struct ws_req *r)
{
	unsigned char md[SHA_DIGEST_LENGTH], accept[32];
	char buf[128], *s;
	int n;

	snprintf(buf, sizeof buf, "%s%s", r->key, ws_guid);
	SHA1((const unsigned char *)buf, strlen(buf), md);
	EVP_EncodeBlock(accept, md, sizeof md);
	n = xasprintf(&s, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	ws_queue(w, s, n);
	free(s);
	w->open_after = 1;
}

/* The whole head is in: decide the reply. */
static void
ws_answer(struct ws *w, http_parser *p, const struct ws_req *r)
{
	int upgrade = ws_has_token(r->upgrade, "websocket");

	/* Not WebSocket but good HTTP: the page, a 405 or a 404. */
	w->served = p->method != HTTP_GET || !upgrade;
	if (p->method != HTTP_GET)
		ws_reply_error(w, 405, "Method Not Allowed", "Allow: GET\r\n");
	else if (upgrade && (!ws_has_token(r->connection, "upgrade") ||
	    !ws_key_valid(r->key)))
		ws_reply_error(w, 400, "Bad Request", "");
	else if (upgrade && strcmp(r->version, "13") != 0)
		ws_reply_error(w, 400, "Bad Request",
		    "Sec-WebSocket-Version: 13\r\n");
	else if (upgrade && w->origins != NULL &&
	    !ws_origin_allowed(w->origins, r->origin))
		ws_reply_error(w, 403, "Forbidden", "");
	else if (upgrade)
		ws_reply_upgrade(w, r);
	else if (strcmp(r->path, "/") == 0 || strncmp(r->path, "/?", 2) == 0)
		ws_reply_page(w, r);
	else
		ws_reply_error(w, 404, "Not Found", "");
}

/*
 * Parse the head so far, from its start (it is at most WS_HEAD_MAX).
 * 0: incomplete; 1: a reply is queued.
 */
static int
ws_parse_head(struct ws *w)
{
	http_parser_settings s;
	struct ws_req r;
	http_parser p;
	size_t n;

	memset(&s, 0, sizeof s);
	s.on_url = ws_on_url;
	s.on_header_field = ws_on_field;
	s.on_header_value = ws_on_value;
	s.on_headers_complete = ws_on_headers;
	memset(&r, 0, sizeof r);
	http_parser_init(&p, HTTP_REQUEST);
	p.data = &r;
	n = http_parser_execute(&p, &s, w->head, w->headlen);
	if (HTTP_PARSER_ERRNO(&p) != HPE_OK && !r.done) {
		ws_reply_error(w, 400, "Bad Request", "");
		return 1;
	}
	if (!r.done) {
		if (w->headlen < WS_HEAD_MAX)
			return 0;
		ws_reply_error(w, 431, "Request Header Fields Too Large", "");
		return 1;
	}
	ws_answer(w, &p, &r);
	if (w->open_after && n < w->headlen) {
		w->earlylen = w->headlen - n;
		w->early = xmalloc(w->earlylen);
		memcpy(w->early, w->head + n, w->earlylen);
	}
	return 1;
}

/*
 * Is the head worth parsing after n more bytes?  Its first bytes (so
 * that garbage, a TLS hello, is answered at once), a full buffer, or new
 * bytes that, with the 3 before them, hold the blank line ending it.
 * A head dribbled a byte at a time is then parsed once, not once a byte.
 */
static int
ws_head_may_end(const char *buf, size_t len, size_t n)
{
	size_t from = len - n >= 3 ? len - n - 3 : 0, i;

	if (len == n || len == WS_HEAD_MAX)
		return 1;
	for (i = from; i + 1 < len; i++)
		if (buf[i] == '\n' && (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')))
			return 1;
	return 0;
}

/*
 * Read the head: 1 a reply is queued, 0 wait (want set), -1 failed.  A
 * head that comes in one read is parsed where it was read (the thread's
 * scratch buffer); only one that comes in pieces is kept in a buffer of
 * the connection's own until it is whole.
 */
static int
ws_read_head(struct io *io, struct ws *w)
{
	static _Thread_local char scratch[WS_HEAD_MAX];
	char *buf = w->head != NULL ? w->head : scratch;
	ssize_t n;
	int done;

	for (;;) {
		n = io_read(&w->inner, buf + w->headlen,
		    WS_HEAD_MAX - w->headlen);
		if (n == -1 && errno == EAGAIN) {
			io->want = w->inner.want;
			break;
		}
		if (n <= 0) {
			snprintf(ws_reason, sizeof ws_reason, "%s", n == 0 ?
			    "connection closed during the HTTP request" :
			    strerror(errno));
			return -1;
		}
		w->headlen += n;
		if (!ws_head_may_end(buf, w->headlen, n))
			continue;
		w->head = buf;
		done = ws_parse_head(w);
		w->head = buf == scratch ? NULL : buf;
		if (done) {
			free(w->head);
			w->head = NULL;
			return 1;
		}
	}
	if (w->head == NULL && w->headlen > 0) {
		w->head = xmalloc(WS_HEAD_MAX);
		memcpy(w->head, scratch, w->headlen);
	}
	return 0;
}

/* Send the reply and the page: 1 done, 0 wait, -1 failed. */
static int
ws_send_reply(struct io *io, struct ws *w)
{
	struct iovec iov;
	ssize_t n;

	if (ws_flush(io, w) == -1)
		return errno == EAGAIN ? 0 : -1;
	while (w->bodyoff < w->bodylen) {
		iov.iov_base = (void *)(w->body + w->bodyoff);
		iov.iov_len = w->bodylen - w->bodyoff;
		if ((n = io_writev(&w->inner, &iov, 1)) == -1) {
			io->want = w->inner.want;
			return errno == EAGAIN ? 0 : -1;
		}
		w->bodyoff += n;
	}
	return 1;
}

static int
ws_handshake(struct io *io)
{
	struct ws *w = io->ctx;
	int r;

	ws_reason[0] = '\0';
	if (w->phase == WS_INNER) {
		if ((r = io_handshake(&w->inner)) != 1) {
			io->want = w->inner.want;
			return r;
		}
		w->phase = WS_HEAD;
	}
	if (w->phase == WS_HEAD) {
		if ((r = ws_read_head(io, w)) != 1)
			return r;
		w->phase = WS_REPLY;
	}
	if ((r = ws_send_reply(io, w)) != 1) {
		if (r == -1)
			snprintf(ws_reason, sizeof ws_reason, "%s",
			    strerror(errno));
		return r;
	}
	if (!w->open_after) {
		/* Answered: the connection ends here, as it should. */
		snprintf(ws_reason, sizeof ws_reason, "%s", w->status);
		return w->served ? IO_ANSWERED : -1;
	}
	w->phase = WS_OPEN;
	free(w->origins);
	w->origins = NULL;
	return 1;
}

/* --- input --- */

struct ws_rd {
	struct ws	*w;
	uint8_t		*out;
	size_t		 n;
};

static int
ws_rd_data(void *arg, const uint8_t *p, size_t len)
{
	struct ws_rd *rd = arg;

	memcpy(rd->out + rd->n, p, len);
	rd->n += len;
	rd->w->last = p[len - 1];
	return 0;
}

static int
ws_rd_end(void *arg)
{
	struct ws_rd *rd = arg;

	if (rd->w->last != '\n')
		rd->out[rd->n++] = '\n';
	rd->w->last = 0;
	return 0;
}

static int
ws_rd_control(void *arg, int op, const uint8_t *p, size_t len)
{
	struct ws_rd *rd = arg;
	struct ws *w = rd->w;

	if (op == WS_OP_PING)
		ws_queue_control(w, WS_OP_PONG, p, len);
	else if (op == WS_OP_CLOSE) {
		/* Answer with its status (1000 if it gave none): the end. */
		ws_send_close(w, len >= 2 ? (unsigned int)p[0] << 8 | p[1] :
		    WS_CLOSE_NORMAL);
		w->peer_closed = 1;
		return -1;
	}
	return 0;
}

static const struct ws_dec_ops ws_rd_ops = {
	ws_rd_data, ws_rd_end, ws_rd_control
};

/* Raw bytes: those that came after the head first, then the inner. */
static ssize_t
ws_read_raw(struct io *io, struct ws *w, uint8_t *buf, size_t len)
{
	ssize_t n;

	if (w->early != NULL) {
		n = w->earlylen - w->earlyoff < len ? w->earlylen -
		    w->earlyoff : len;
		memcpy(buf, w->early + w->earlyoff, n);
		if ((w->earlyoff += n) == w->earlylen) {
			free(w->early);
			w->early = NULL;
		}
		return n;
	}
	n = io_read(&w->inner, buf, len);
	if (n == -1)
		io->want = w->inner.want;
	return n;
}

static ssize_t
ws_read(struct io *io, void *buf, size_t len)
{
	static _Thread_local uint8_t raw[WS_GATHER];
	struct ws *w = io->ctx;
	struct ws_rd rd = { w, buf, 0 };
	ssize_t n;
	short want;
	int r, saved;

	ws_reason[0] = '\0';
	if (len < 2) {
		errno = EINVAL;
		return -1;
	}
	if (w->out != NULL && ws_flush(io, w) == -1 && errno != EAGAIN)
		return -1;
	while (rd.n == 0 && !w->peer_closed) {
		n = ws_read_raw(io, w, raw, len - 1 < sizeof raw ? len - 1 :
		    sizeof raw);
		if (n <= 0) {
			/* A pong may wait: it goes before the socket is left. */
			saved = errno;
			want = io->want;
			if (w->out != NULL && ws_flush(io, w) == -1 &&
			    errno != EAGAIN)
				return -1;
			errno = saved;
			io->want = want;
			return n;
		}
		r = ws_decode(&w->dec, WS_MESSAGE_MAX, raw, n, &ws_rd_ops, &rd);
		if (r > 0) {
			ws_send_close(w, r);
			ws_flush(io, w);
			snprintf(ws_reason, sizeof ws_reason, "websocket: %s",
			    r == WS_CLOSE_TOO_BIG ? "message too big" :
			    r == WS_CLOSE_BAD_DATA ? "text is not UTF-8" :
			    "protocol error");
			errno = EPROTO;
			return -1;
		}
	}
	if (w->out != NULL && ws_flush(io, w) == -1 && errno != EAGAIN)
		return -1;
	return rd.n;
}

/* --- output --- */

/* The output being framed: payload goes after room for its header. */
struct ws_wr {
	uint8_t		*buf;
	size_t		 len;		/* finished frames */
	size_t		 pl;		/* payload of the open frame */
};

static void
ws_wr_put(struct ws_wr *o, const uint8_t *p, size_t n)
{
	memcpy(o->buf + o->len + WS_HEADER_MAX + o->pl, p, n);
	o->pl += n;
}

/* Close the open frame (fin: the line ended) if there is one to send. */
static void
ws_wr_frame(struct ws *w, struct ws_wr *o, int fin)
{
	uint8_t *at = o->buf + o->len;
	size_t hl;

	if (o->pl == 0 && !fin)
		return;
	hl = ws_header(at, fin, w->in_msg ? WS_OP_CONT : WS_OP_TEXT, o->pl);
	memmove(at + hl, at + WS_HEADER_MAX, o->pl);
	o->len += hl + o->pl;
	o->pl = 0;
	w->in_msg = !fin;
}

/* One byte of a line, as UTF-8: a bad sequence becomes U+FFFD. */
static void
ws_wr_byte(struct ws *w, struct ws_wr *o, uint8_t c)
{
	static const uint8_t repl[] = { 0xef, 0xbf, 0xbd };

	switch (utf8_step(&w->ou8, c)) {
	case 1:
		ws_wr_put(o, w->carry, w->ncarry);
		ws_wr_put(o, &c, 1);
		w->ncarry = 0;
		return;
	case 0:
		w->carry[w->ncarry++] = c;
		return;
	}
	ws_wr_put(o, repl, sizeof repl);
	if (w->ncarry == 0)
		return;		/* c itself started nothing */
	w->ncarry = 0;
	ws_wr_byte(w, o, c);	/* c may start a character */
}

/* A line ends: an unfinished character is replaced, the frame closed. */
static void
ws_wr_eol(struct ws *w, struct ws_wr *o)
{
	static const uint8_t repl[] = { 0xef, 0xbf, 0xbd };

	if (w->ncarry > 0) {
		ws_wr_put(o, repl, sizeof repl);
		w->ncarry = 0;
		memset(&w->ou8, 0, sizeof w->ou8);
	}
	ws_wr_frame(w, o, 1);
}

/*
 * How many of p's first len bytes (at most max) are ASCII other than
 * '\n': those need no UTF-8 step and go into a frame as they are.  Eight
 * at a time: a high bit, or a byte equal to '\n', shows in the masks.
 */
static size_t
ws_ascii_run(const uint8_t *p, size_t len, size_t max)
{
	const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
	uint64_t v, x;
	size_t i = 0;

	if (len > max)
		len = max;
	for (; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		x = v ^ (ones * '\n');
		if ((v & high) != 0 || ((x - ones) & ~x & high) != 0)
			break;
	}
	while (i < len && p[i] < 0x80 && p[i] != '\n')
		i++;
	return i;
}

/*
 * Frame what iov holds from byte skip on into gather, as far as it fits:
 * the bytes framed (o->len says how much gather holds).
 */
static size_t
ws_wr_gather(struct ws *w, struct ws_wr *o, const struct iovec *iov, int n,
    size_t skip)
{
	size_t taken = 0, j, run, used;
	int i;

	for (i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		for (j = skip; j < iov[i].iov_len; j++) {
			/* Room for a header, this byte's U+FFFDs, the carry. */
			used = o->len + WS_HEADER_MAX + o->pl + 12;
			if (used > WS_GATHER)
				goto full;
			/* Between characters, ASCII goes in as a block. */
			if (w->ou8.need == 0 && w->ncarry == 0 &&
			    (run = ws_ascii_run(p + j, iov[i].iov_len - j,
			    WS_GATHER - used + 1)) > 0) {
				ws_wr_put(o, p + j, run);
				taken += run;
				j += run - 1;
				continue;
			}
			if (p[j] == '\n')
				ws_wr_eol(w, o);
			else
				ws_wr_byte(w, o, p[j]);
			taken++;
		}
		skip = 0;
	}
full:
	ws_wr_frame(w, o, 0);
	return taken;
}

/*
 * Frame and write a gather at a time while the inner transport takes
 * each whole, so one call moves as much as the socket takes (as a plain
 * writev would).  What it takes of the last gather is all reported
 * taken; the rest is held (ws_unsent) and goes first next time.
 */
static ssize_t
ws_writev(struct io *io, const struct iovec *iov, int n)
{
	static _Thread_local uint8_t gather[WS_GATHER];
	struct ws *w = io->ctx;
	struct ws_wr o;
	struct iovec out;
	size_t taken = 0;
	ssize_t wr;

	ws_reason[0] = '\0';
	if (w->out != NULL && ws_flush(io, w) == -1)
		return -1;
	for (;;) {
		o.buf = gather;
		o.len = o.pl = 0;
		taken += ws_wr_gather(w, &o, iov, n, taken);
		if (o.len == 0)
			return taken;
		out.iov_base = gather;
		out.iov_len = o.len;
		wr = io_writev(&w->inner, &out, 1);
		if (wr == -1 && errno != EAGAIN)
			return -1;	/* the connection ends */
		if (wr == -1)
			wr = 0;
		if ((size_t)wr < o.len) {
			ws_queue(w, gather + wr, o.len - wr);
			return taken;
		}
	}
}

static size_t
ws_pending(struct io *io)
{
	struct ws *w = io->ctx;

	return (w->early != NULL ? w->earlylen - w->earlyoff : 0) +
	    io_pending(&w->inner);
}

/* Framed output the inner transport has not taken yet. */
static size_t
ws_unsent(struct io *io)
{
	struct ws *w = io->ctx;

	return w->outlen - w->outoff + io_unsent(&w->inner);
}

/* A close frame first if the connection is open, then the inner end. */
static void
ws_shutdown(struct io *io)
{
	struct ws *w = io->ctx;

	if (w->phase == WS_OPEN) {
		ws_send_close(w, w->peer_closed ? 0 : WS_CLOSE_GOING_AWAY);
		ws_flush(io, w);
	}
	io_shutdown(&w->inner);
}

static void
ws_close(struct io *io)
{
	struct ws *w = io->ctx;

	io_close(&w->inner);
	free(w->out);
	free(w->head);
	free(w->early);
	free(w->origins);
	free(w);
	io->ctx = NULL;
	io->fd = -1;
}

static const char *
ws_error(struct io *io)
{
	struct ws *w = io->ctx;

	if (ws_reason[0] != '\0')
		return ws_reason;
	return io_error(&w->inner);
}

static const struct io_ops ws_ops = {
	.name = "websocket",
	.handshake = ws_handshake,
	.read = ws_read,
	.writev = ws_writev,
	.pending = ws_pending,
	.unsent = ws_unsent,
	.shutdown = ws_shutdown,
	.close = ws_close,
	.error = ws_error,
};

int
ws_io_start(struct io *io, const char *origins)
{
	struct ws *w = xcalloc(1, sizeof *w);

	w->inner = *io;
	w->phase = WS_INNER;
	ws_dec_init(&w->dec);
	if (origins != NULL && *origins != '\0')
		w->origins = xstrdup(origins);
	io->ops = &ws_ops;
	io->ctx = w;
	io->want = 0;
	return 0;
}

int
ws_io_is(const struct io *io)
{
	return io->ops == &ws_ops;
}

struct io *
ws_io_inner(struct io *io)
{
	struct ws *w = io->ctx;

	return ws_io_is(io) ? &w->inner : io;
}

#else /* no libhttp-parser or no OpenSSL */

int
ws_supported(void)
{
	return 0;
}

int
ws_io_start(struct io *io, const char *origins)
{
	(void)io;
	(void)origins;
	return -1;
}

int
ws_io_is(const struct io *io)
{
	(void)io;
	return 0;
}

struct io *
ws_io_inner(struct io *io)
{
	return io;
}

#endif
