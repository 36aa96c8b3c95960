/*
 * wsframe.h -- RFC 6455 frames (wsframe.c): a streaming decoder of what
 * a client sends and the header of what the server sends.  It keeps no
 * message: payload is handed up as it arrives, unmasked in place, so a
 * connection's state is this struct (about 170 bytes) whatever the
 * message sizes.
 */
#ifndef ECHOCHAT_WSFRAME_H
#define ECHOCHAT_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY	0x2
#define WS_OP_CLOSE	0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xa

/* Close status codes (RFC 6455 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_TOO_BIG	1009

#define WS_CONTROL_MAX	125
#define WS_HEADER_MAX	10	/* of a server frame: never masked */

/* A UTF-8 validator's state between bytes (0: between characters). */
struct utf8_state {
	uint8_t		 need;		/* continuation bytes still to come */
	uint8_t		 lo, hi;	/* range of the next one */
};

struct ws_dec {
	uint64_t	 left;		/* payload bytes of this frame to come */
	uint64_t	 msglen;	/* of the data message so far */
	uint8_t		 hdr[14];
	uint8_t		 hlen;		/* header bytes held */
	uint8_t		 op;		/* of the frame being read */
	uint8_t		 fin;
	uint8_t		 msgop;		/* TEXT or BINARY while a message is open */
	uint8_t		 mask[4];
	uint8_t		 mpos;
	uint8_t		 ctllen;
	struct utf8_state u8;
	uint8_t		 ctl[WS_CONTROL_MAX];
};

/*
 * What the decoder found; each returns -1 to stop (the connection is
 * gone), 0 to go on.
 */
struct ws_dec_ops {
	/* Payload of a data message, in order, in pieces. */
	int	(*data)(void *arg, const uint8_t *p, size_t len);
	/* The data message is complete. */
	int	(*end)(void *arg);
	/* A whole ping, pong or close frame (close: checked already). */
	int	(*control)(void *arg, int op, const uint8_t *p, size_t len);
};

void	 ws_dec_init(struct ws_dec *);
/*
 * Decode len bytes of buf (unmasked in place).  0: all taken; -1: a
 * callback stopped; else the close status the client earned (1002,
 * 1007, 1009), after which the decoder must not be fed again.  A data
 * message longer than max_message is 1009.
 */
int	 ws_decode(struct ws_dec *, uint64_t max_message, uint8_t *buf,
	    size_t len, const struct ws_dec_ops *, void *arg);

/* A server frame's header into out (WS_HEADER_MAX bytes); its length. */
size_t	 ws_header(uint8_t *out, int fin, int op, uint64_t len);

/* One byte through a validator: 1 it completes a character, 0 it is
 * part of one, -1 invalid (the state is reset). */
int	 utf8_step(struct utf8_state *, uint8_t);

#endif
