/*
 * tls.c -- the client side of TLS for echochat-bench's echo and upper
 * modes (--tls): one OpenSSL 3 context, and a non-blocking SSL per
 * connection driven from the mode's own epoll loop.
 *
 * The server's certificate is not verified: this is a load tool pointed
 * at the operator's own server, often with a throw-away self-signed
 * certificate, and what it measures is the cost of the encrypted stream,
 * not the trust in it.  The help text and the manual page say so.
 *
 * The caller sees four outcomes of a read or a write: bytes, "wait until
 * the socket is readable", "wait until it is writable" (either may come
 * from either call: a handshake, or a TLS 1.3 key update, reverses the
 * direction), or the end of the connection.  Built without OpenSSL,
 * tls_supported is 0, main.c refuses --tls, and the rest is never called.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "bench.h"

/* The first failure, for the report: later ones are usually the same. */
static char first_error[200];

const char *
tls_first_error(void)
{
	return first_error[0] ? first_error : NULL;
}

#ifdef HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/ssl.h>

const int tls_supported = 1;

static SSL_CTX *ctx; /* the run's one context; lives until exit */

void
tls_init(void)
{
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		fail2("TLS: cannot create a context: %s",
		    ERR_error_string(ERR_get_error(), NULL));
	/* What echochatd accepts: TLS 1.2 and 1.3. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Partial writes, because the write buffer holds many lines and the
	 * loop goes on with what was taken; a moving buffer, because
	 * echo_fill compacts it between a write that wanted to be retried and
	 * the retry. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

static void
note_error(const char *what, int err)
{
	if (first_error[0])
		return;
	unsigned long e = ERR_peek_error();
	if (e)
		snprintf(first_error, sizeof first_error, "%s: %s", what,
		    ERR_reason_error_string(e) ? ERR_reason_error_string(e)
					       : ERR_error_string(e, NULL));
	else if (err == SSL_ERROR_SYSCALL)
		snprintf(first_error, sizeof first_error,
		    "%s: connection closed or reset by the server", what);
	else
		snprintf(
		    first_error, sizeof first_error, "%s: error %d", what, err);
}

struct tls_conn *
tls_open(int fd)
{
	SSL *s = SSL_new(ctx);
	if (!s || !SSL_set_fd(s, fd))
		fail2("TLS: cannot create a connection: %s",
		    ERR_error_string(ERR_get_error(), NULL));
	SSL_set_connect_state(s);
	return (struct tls_conn *)s;
}

/* Map SSL_get_error onto the outcomes the loop knows.  The error queue is
 * emptied after a failure, so the next call's SSL_get_error sees only its
 * own errors. */
static long
outcome(SSL *s, int rc, const char *what)
{
	int err = SSL_get_error(s, rc);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	default:
		note_error(SSL_is_init_finished(s) ? what : "handshake", err);
		ERR_clear_error();
		return TLS_CLOSED;
	}
}

long
tls_read(struct tls_conn *t, char *buf, size_t n)
{
	SSL *s = (SSL *)t;
	int rc = SSL_read(s, buf, n > (1u << 30) ? 1 << 30 : (int)n);
	return rc > 0 ? rc : outcome(s, rc, "read");
}

long
tls_write(struct tls_conn *t, const char *buf, size_t n)
{
	SSL *s = (SSL *)t;
	int rc = SSL_write(s, buf, n > (1u << 30) ? 1 << 30 : (int)n);
	return rc > 0 ? rc : outcome(s, rc, "write");
}

/* No close_notify: the socket closes right after, and a connection that
 * failed must not be written to again. */
void
tls_free(struct tls_conn *t)
{
	SSL_free((SSL *)t);
}

void
tls_describe(const struct tls_conn *t, char *out, size_t n)
{
	const SSL *s = (const SSL *)t;
	snprintf(out, n, "%s, %s", SSL_get_version(s), SSL_get_cipher_name(s));
}

#else /* !HAVE_OPENSSL */

const int tls_supported = 0;

void
tls_init(void)
{
	fail2("built without OpenSSL: --tls is not available");
}

struct tls_conn *
tls_open(int fd)
{
	(void)fd;
	fail2("built without OpenSSL: --tls is not available");
}

long
tls_read(struct tls_conn *t, char *buf, size_t n)
{
	(void)t, (void)buf, (void)n;
	return TLS_CLOSED;
}

long
tls_write(struct tls_conn *t, const char *buf, size_t n)
{
	(void)t, (void)buf, (void)n;
	return TLS_CLOSED;
}

void
tls_free(struct tls_conn *t)
{
	(void)t;
}

void
tls_describe(const struct tls_conn *t, char *out, size_t n)
{
	(void)t;
	snprintf(out, n, "none");
}

#endif
