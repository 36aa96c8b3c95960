/*
 * rot13.c -- an echochatd handler plugin: every byte back, letters
 * rotated by 13 (ASCII only), on stream connections and datagrams.
 * The smallest complete plugin; man 3 echochat-plugin walks through it.
 */
#include <echochat/plugin.h>

/* Rotate a-z and A-Z by 13, in place; other bytes pass. */
static void
rot13(char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i], base = c >= 'a' ? 'a' : 'A';

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			data[i] = (char)(base + (c - base + 13) % 26);
	}
}

/* A read from a stream (connection's thread): answer it at once. */
static void
rot13_input(struct conn *c, char *data, size_t len)
{
	rot13(data, len);
	conn_send(c, data, len);
}

/* A datagram (main thread): answer its sender. */
static void
rot13_datagram(void *state, const struct dgram_src *src, char *data,
    size_t len)
{
	(void)state;
	rot13(data, len);
	dgram_reply(src, data, len);
}

static const struct handler rot13_handler = {
	.name = "rot13",
	.framing = FRAMING_BYTES,
	.input = rot13_input,
	.datagram = rot13_datagram,
};

ECHOCHAT_PLUGIN(rot13_handler, "1.0");
