/*
 * ws.h -- the WebSocket transport (ws.c): HTTP/1.1 on a listener with
 * websocket = yes, over the plain or TLS transport already in place.
 * Its handshake reads the request head; GET / is answered with the web
 * page and closed, an upgrade switches to RFC 6455 frames, anything else
 * gets a short error.  After the upgrade each message a client sends
 * reads as its bytes plus a final newline, and each line written goes
 * out as one text message without it (README "Browsers").
 *
 * In a build without libhttp-parser or OpenSSL the functions refuse.
 */
#ifndef ECHOCHAT_WS_H
#define ECHOCHAT_WS_H

#include <stddef.h>

#include "io.h"

/* The longest data message a client may send (longer: close 1009). */
#define WS_MESSAGE_MAX		(1024 * 1024)
/* The longest request head. */
#define WS_HEAD_MAX		8192

/* Was this build made with WebSocket support? */
int	 ws_supported(void);

/*
 * Put the WebSocket transport over io (plain, or TLS not yet shaken
 * hands).  origins: space-separated allowed Origin values, NULL or ""
 * for any; copied.  Its handshake (io_handshake) is the inner one, then
 * the HTTP exchange.  -1 if it cannot (io is left as it was).
 */
int	 ws_io_start(struct io *, const char *origins);
int	 ws_io_is(const struct io *);
/* The transport under a WebSocket one (TLS for wss), else io itself. */
struct io *ws_io_inner(struct io *);

/* The page (webpage.c, generated from web/echochat.html). */
extern const char webpage_text[];

#endif
