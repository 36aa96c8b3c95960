/*
 * tls.c -- the TLS transport: an OpenSSL SSL on the connection's own
 * socket, driven with SSL_accept, SSL_read and SSL_write behind io_ops,
 * so that a TLS connection keeps the plain one's struct, output queue
 * and backpressure (conn.c) and costs only its SSL on top.
 *
 * What OpenSSL asks of a non-blocking caller, and where it is met:
 *   - SSL_read may want the socket writable and SSL_write readable:
 *     io->want says so and conn.c waits for that readiness.
 *   - A record is decrypted whole, so bytes can wait inside the SSL
 *     (SSL_pending) with nothing left to read on the socket: pending
 *     reports them and conn.c comes back for them without an event.
 *   - A write that wanted to wait must be repeated with the same bytes:
 *     the output queue does repeat them, from wherever they now lie
 *     (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), perhaps with more behind.
 *   - After a fatal error SSL_shutdown must not be called: such an SSL
 *     is marked quiet and its shutdown is only the socket's.
 *   - A failed handshake frees its SSL like any other close (the close
 *     op), and an unclean end from the client reads as the end of input,
 *     so the connection is closed and the socket never lingers in
 *     CLOSE_WAIT.
 *   - SSL_MODE_RELEASE_BUFFERS gives the read and write buffers back
 *     whenever they are empty: an idle SSL keeps about 14 KB, not 47 KB.
 *     And no SSL is made before the client's first byte, so a silent
 *     connection costs what a plain one does.
 *   - A client may send at most TLS_HANDSHAKE_MAX bytes before its
 *     handshake is done, so that one cannot make OpenSSL hold a 128 KiB
 *     ClientHello or 100 KiB of client certificates while it waits.
 *
 * Contexts: TLS 1.2 and 1.3 only, OpenSSL's default ciphers at security
 * level 2 or more, no compression, no renegotiation, a bounded session
 * cache and one session ticket per connection.
 */
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autoconf.h"
#include "tls.h"
#include "xmalloc.h"

#ifdef HAVE_OPENSSL

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct tls_ctx {
	SSL_CTX		*ssl_ctx;
};

/* Sessions the server remembers for resumption, per context. */
#define TLS_SESSION_CACHE	1024
/* Small queued lines are gathered into records of up to this much. */
#define TLS_RECORD		16384
/*
 * What a client may send before its handshake is done.  OpenSSL would
 * take a ClientHello of up to 128 KiB and client certificates of up to
 * 100 KiB, holding all of it while the rest comes; real ones are a few
 * KiB.  Counted from the record headers as they arrive, so a handshake
 * holds at most this plus one record.
 */
#define TLS_HANDSHAKE_MAX	(32 * 1024)

static const struct io_ops tls_ops;

/* The reason of the last failure on this thread (io_error). */
static _Thread_local char tls_reason[160];

int
tls_supported(void)
{
	return 1;
}

const char *
tls_library_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

/* OpenSSL's newest error as text ("wrong version number"), or what. */
static const char *
tls_openssl_reason(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (r == NULL)
		r = what;
	snprintf(tls_reason, sizeof tls_reason, "%s", r);
	ERR_clear_error();
	return tls_reason;
}

/* An encrypted key is not for a daemon: fail instead of prompting. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* Can path be opened for reading?  If not, *cause says why. */
static int
tls_readable(const char *path, char **cause)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* The protocol rules every context follows. */
static void
tls_ctx_settings(SSL_CTX *ctx)
{
	static const unsigned char sid_ctx[] = "echochat";

	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_get_security_level(ctx) < 2)
		SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_sess_set_cache_size(ctx, TLS_SESSION_CACHE);
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
}

/* The certificate and key, loaded and checked against each other. */
static int
tls_ctx_load_pair(SSL_CTX *ctx, const struct tls_files *files,
    enum tls_bad *bad, char **cause)
{
	X509 *x;

	*bad = TLS_BAD_CERT;
	if (tls_readable(files->cert, cause) == -1)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1) {
		xasprintf(cause, "%s: not a usable PEM certificate (%s)",
		    files->cert, tls_openssl_reason("no certificate"));
		return -1;
	}
	x = SSL_CTX_get0_certificate(ctx);
	if (x == NULL || X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		xasprintf(cause, "%s: the certificate has expired", files->cert);
		return -1;
	}
	*bad = TLS_BAD_KEY;
	if (tls_readable(files->key, cause) == -1)
		return -1;
	if (SSL_CTX_use_PrivateKey_file(ctx, files->key, SSL_FILETYPE_PEM) !=
	    1 && ERR_GET_REASON(ERR_peek_last_error()) !=
	    X509_R_KEY_VALUES_MISMATCH) {
		xasprintf(cause, "%s: not a usable PEM private key (%s)",
		    files->key, tls_openssl_reason("no key"));
		return -1;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		xasprintf(cause, "%s: the key does not match the certificate "
		    "in %s", files->key, files->cert);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Client certificates: the CAs they must chain to, and whether asked. */
static int
tls_ctx_load_ca(SSL_CTX *ctx, const struct tls_files *files, char **cause)
{
	STACK_OF(X509_NAME) *names;

	if (files->ca == NULL)
		return 0;
	if (tls_readable(files->ca, cause) == -1)
		return -1;
	if (SSL_CTX_load_verify_locations(ctx, files->ca, NULL) != 1 ||
	    (names = SSL_load_client_CA_file(files->ca)) == NULL) {
		xasprintf(cause, "%s: not a usable PEM CA bundle (%s)",
		    files->ca, tls_openssl_reason("no certificate"));
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	if (files->verify)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return 0;
}

/* A checked server context from the files; NULL with *bad and *cause. */
struct tls_ctx *
tls_ctx_new(const struct tls_files *files, enum tls_bad *bad, char **cause)
{
	struct tls_ctx *t;
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*bad = TLS_BAD_CERT;
		xasprintf(cause, "cannot make a TLS context (%s)",
		    tls_openssl_reason("out of memory"));
		return NULL;
	}
	tls_ctx_settings(ctx);
	if (tls_ctx_load_pair(ctx, files, bad, cause) == -1)
		goto fail;
	*bad = TLS_BAD_CA;
	if (tls_ctx_load_ca(ctx, files, cause) == -1)
		goto fail;
	t = xmalloc(sizeof *t);
	t->ssl_ctx = ctx;
	return t;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

/* The connections made from it keep it alive as long as they need it. */
void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ssl_ctx);
	free(t);
}

/* The certificate's subject CN and expiry, for the log. */
void
tls_ctx_describe(const struct tls_ctx *t, char *buf, size_t size)
{
	X509 *x = SSL_CTX_get0_certificate(t->ssl_ctx);
	char cn[256] = "?", until[64] = "?";
	BIO *b;
	int n;

	if (x == NULL) {
		snprintf(buf, size, "no certificate");
		return;
	}
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof cn) < 0)
		snprintf(cn, sizeof cn, "?");
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		if (ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1 &&
		    (n = BIO_read(b, until, sizeof until - 1)) > 0)
			until[n] = '\0';
		BIO_free(b);
	}
	ERR_clear_error();
	snprintf(buf, size, "CN=%s, valid until %s", cn, until);
}

/*
 * An operation failed with err: set errno and io->want for conn.c.  The
 * end of input (close_notify, or the client just closing) reads as 0.
 */
static ssize_t
tls_failed(struct io *io, SSL *ssl, int err, int saved_errno)
{
	switch (err) {
	case SSL_ERROR_WANT_READ:
		io->want = IO_WANT_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		io->want = IO_WANT_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		SSL_set_quiet_shutdown(ssl, 1);
		snprintf(tls_reason, sizeof tls_reason, "%s", saved_errno != 0 ?
		    strerror(saved_errno) : "connection closed");
		ERR_clear_error();
		errno = saved_errno != 0 ? saved_errno : ECONNRESET;
		return -1;
	default:
		SSL_set_quiet_shutdown(ssl, 1);
		tls_openssl_reason("protocol error");
		errno = EPROTO;
		return -1;
	}
}

/*
 * The message callback, during the handshake only: count the bytes of the
 * records the client sends, in the SSL's application data.
 */
static void
tls_count_input(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	const unsigned char *h = buf;
	uintptr_t seen;

	(void)version;
	(void)arg;
	if (write_p || content_type != SSL3_RT_HEADER || len < 5)
		return;
	seen = (uintptr_t)SSL_get_app_data(ssl) + 5 + ((size_t)h[3] << 8 | h[4]);
	SSL_set_app_data(ssl, (void *)seen);
}

static int
tls_handshake(struct io *io)
{
	SSL *ssl = io->ctx;
	ssize_t r;
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_accept(ssl);
	if ((uintptr_t)SSL_get_app_data(ssl) > TLS_HANDSHAKE_MAX) {
		SSL_set_quiet_shutdown(ssl, 1);
		ERR_clear_error();
		snprintf(tls_reason, sizeof tls_reason, "handshake larger "
		    "than %d bytes", TLS_HANDSHAKE_MAX);
		return -1;
	}
	if (n == 1) {
		SSL_set_msg_callback(ssl, NULL);
		return 1;
	}
	r = tls_failed(io, ssl, SSL_get_error(ssl, n), errno);
	if (r == -1 && errno == EAGAIN)
		return 0;
	if (r == 0) {
		SSL_set_quiet_shutdown(ssl, 1);
		snprintf(tls_reason, sizeof tls_reason, "connection closed");
	}
	return -1;
}

static ssize_t
tls_read(struct io *io, void *buf, size_t len)
{
	SSL *ssl = io->ctx;
	int n;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	return tls_failed(io, ssl, SSL_get_error(ssl, n), errno);
}

/*
 * One SSL_write: the first buffer when it fills a record alone, else as
 * many buffers as fit in one record, gathered.  Repeating a write that
 * had to wait gathers at least the same bytes again, as OpenSSL needs.
 */
static ssize_t
tls_writev(struct io *io, const struct iovec *iov, int n)
{
	static _Thread_local char record[TLS_RECORD];
	SSL *ssl = io->ctx;
	const void *data = iov[0].iov_base;
	size_t len = iov[0].iov_len, take;
	ssize_t r;
	int i, w;

	if (n > 1 && len < TLS_RECORD) {
		for (i = 0, len = 0; i < n && len < TLS_RECORD; i++) {
			take = iov[i].iov_len;
			if (take > TLS_RECORD - len)
				take = TLS_RECORD - len;
			memcpy(record + len, iov[i].iov_base, take);
			len += take;
		}
		data = record;
	}
	if (len == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	w = SSL_write(ssl, data, len > INT_MAX ? INT_MAX : (int)len);
	if (w > 0)
		return w;
	if ((r = tls_failed(io, ssl, SSL_get_error(ssl, w), errno)) == 0) {
		errno = EPIPE;
		r = -1;
	}
	return r;
}

static size_t
tls_pending(struct io *io)
{
	int n = SSL_pending(io->ctx);

	return n > 0 ? (size_t)n : 0;
}

/*
 * A close_notify if the session is sound (never after a fatal error,
 * never mid-handshake), then the socket's own half-close.
 */
static void
tls_shutdown(struct io *io)
{
	SSL *ssl = io->ctx;

	if (!SSL_get_quiet_shutdown(ssl) && SSL_is_init_finished(ssl)) {
		ERR_clear_error();
		SSL_shutdown(ssl);
		ERR_clear_error();
	}
	io_socket_finish(io->fd);
}

static void
tls_close(struct io *io)
{
	SSL_free(io->ctx);
	io->ctx = NULL;
	close(io->fd);
	io->fd = -1;
}

static const char *
tls_error(struct io *io)
{
	(void)io;
	return tls_reason[0] != '\0' ? tls_reason : NULL;
}

static const struct io_ops tls_ops = {
	.name = "tls",
	.handshake = tls_handshake,
	.read = tls_read,
	.writev = tls_writev,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
	.error = tls_error,
};

/*
 * Before the client's first byte: no SSL yet, only a reference to the
 * context, so connections that never say anything (scanners, floods of
 * silent connects) cost no more than plain ones.  The first byte makes
 * the SSL and the handshake starts.
 */
static int
tls_wait_handshake(struct io *io)
{
	SSL_CTX *ctx = io->ctx;
	SSL *ssl;
	ssize_t n;
	char b;

	do
		n = recv(io->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == EAGAIN) {
		io->want = IO_WANT_READ;
		return 0;
	}
	if (n <= 0) {
		snprintf(tls_reason, sizeof tls_reason, "%s", n == 0 ?
		    "connection closed" : strerror(errno));
		return -1;
	}
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, io->fd) != 1) {
		SSL_free(ssl);
		tls_openssl_reason("out of memory");
		return -1;
	}
	SSL_set_accept_state(ssl);
	SSL_set_msg_callback(ssl, tls_count_input);
	SSL_CTX_free(ctx);		/* the SSL holds its own reference */
	io->ops = &tls_ops;
	io->ctx = ssl;
	return tls_handshake(io);
}

/* Nothing is read or written before the handshake (conn.c waits). */
static ssize_t
tls_wait_read(struct io *io, void *buf, size_t len)
{
	(void)io;
	(void)buf;
	(void)len;
	errno = ENOTCONN;
	return -1;
}

static ssize_t
tls_wait_writev(struct io *io, const struct iovec *iov, int n)
{
	(void)io;
	(void)iov;
	(void)n;
	errno = ENOTCONN;
	return -1;
}

static void
tls_wait_shutdown(struct io *io)
{
	io_socket_finish(io->fd);
}

static void
tls_wait_close(struct io *io)
{
	SSL_CTX_free(io->ctx);
	io->ctx = NULL;
	close(io->fd);
	io->fd = -1;
}

static const struct io_ops tls_wait_ops = {
	.name = "tls",
	.handshake = tls_wait_handshake,
	.read = tls_wait_read,
	.writev = tls_wait_writev,
	.shutdown = tls_wait_shutdown,
	.close = tls_wait_close,
	.error = tls_error,
};

/* io becomes a TLS server connection; the handshake is io_handshake's. */
int
tls_io_start(struct io *io, struct tls_ctx *t)
{
	if (SSL_CTX_up_ref(t->ssl_ctx) != 1)
		return -1;
	io->ops = &tls_wait_ops;
	io->ctx = t->ssl_ctx;
	io->want = 0;
	return 0;
}

int
tls_io_is(const struct io *io)
{
	return io->ops == &tls_ops || io->ops == &tls_wait_ops;
}

/* The protocol, cipher and client CN of a finished handshake. */
void
tls_io_describe(const struct io *io, char *buf, size_t size, char *cn,
    size_t cnsize)
{
	SSL *ssl = io->ctx;
	X509 *peer;
	char *p;

	snprintf(buf, size, "%s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
	cn[0] = '\0';
	if ((peer = SSL_get1_peer_certificate(ssl)) == NULL)
		return;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	    NID_commonName, cn, (int)(cnsize > INT_MAX ? INT_MAX : cnsize)) <
	    0)
		cn[0] = '\0';
	X509_free(peer);
	/* It goes into the log: no control bytes. */
	for (p = cn; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	}
}

#else /* !HAVE_OPENSSL */

int
tls_supported(void)
{
	return 0;
}

const char *
tls_library_version(void)
{
	return NULL;
}

struct tls_ctx *
tls_ctx_new(const struct tls_files *files, enum tls_bad *bad, char **cause)
{
	(void)files;
	*bad = TLS_BAD_CERT;
	*cause = xstrdup("TLS is not supported by this build (built without "
	    "OpenSSL)");
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *t)
{
	(void)t;
}

void
tls_ctx_describe(const struct tls_ctx *t, char *buf, size_t size)
{
	(void)t;
	snprintf(buf, size, "no TLS");
}

int
tls_io_start(struct io *io, struct tls_ctx *t)
{
	(void)io;
	(void)t;
	return -1;
}

int
tls_io_is(const struct io *io)
{
	(void)io;
	return 0;
}

void
tls_io_describe(const struct io *io, char *buf, size_t size, char *cn,
    size_t cnsize)
{
	(void)io;
	(void)cnsize;
	snprintf(buf, size, "plain");
	cn[0] = '\0';
}

#endif /* HAVE_OPENSSL */
