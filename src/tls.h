/*
 * tls.h -- the TLS transport (tls.c): an OpenSSL SSL driven over the
 * connection's own socket, behind the same io_ops as the plain socket,
 * and the server contexts (certificate, key, client CAs) it is made from.
 *
 * A context is built and checked when the configuration is loaded, then
 * only read: every loop makes its connections' SSLs from it, and a reload
 * builds a new one instead of changing it.  An SSL holds its own
 * reference to the context it was made from, so freeing a context that
 * connections still use is safe.
 *
 * In a build without OpenSSL the same functions exist and refuse.
 */
#ifndef ECHOCHAT_TLS_H
#define ECHOCHAT_TLS_H

#include <stddef.h>

#include "io.h"

struct tls_ctx;

/* The files of a TLS listener (tls_cert, tls_key, tls_ca, tls_verify). */
struct tls_files {
	const char	*cert;		/* PEM: the certificate and its chain */
	const char	*key;		/* PEM: its private key */
	const char	*ca;		/* PEM bundle of client CAs, or NULL */
	int		 verify;	/* require a client certificate */
};

/* Which file tls_ctx_new found wrong. */
enum tls_bad { TLS_BAD_CERT, TLS_BAD_KEY, TLS_BAD_CA };

/* Was this build made with OpenSSL? */
int		 tls_supported(void);
/* The OpenSSL in use ("OpenSSL 3.0.17 1 Jul 2025"), or NULL without. */
const char	*tls_library_version(void);

/*
 * A server context from these files, checked (readable, the key matches
 * the certificate, not expired).  NULL on failure, with *bad saying which
 * file and *cause (caller frees) why.
 */
struct tls_ctx	*tls_ctx_new(const struct tls_files *, enum tls_bad *bad,
		    char **cause);
void		 tls_ctx_free(struct tls_ctx *);
/* "CN=chat.example.org, valid until Mar  1 12:00:00 2027 GMT" into buf. */
void		 tls_ctx_describe(const struct tls_ctx *, char *buf,
		    size_t size);

/*
 * Turn io (a plain socket, just accepted) into a TLS server connection
 * made from ctx; its handshake comes first, and the SSL is made when the
 * client's first byte arrives.  -1 if it cannot (io is left plain, to be
 * closed).
 */
int		 tls_io_start(struct io *, struct tls_ctx *);

/* Is io a TLS connection? */
int		 tls_io_is(const struct io *);

/*
 * After the handshake: "TLSv1.3 TLS_AES_256_GCM_SHA384" into buf, and
 * the client certificate's subject CN (or "") into cn.
 */
void		 tls_io_describe(const struct io *, char *buf, size_t size,
		    char *cn, size_t cnsize);

#endif
