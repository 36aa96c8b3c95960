/*
 * echo.c -- echo: every byte back, unchanged, as it arrives.
 */
/* Only the public plugin interface: echo is written as a plugin would be. */
#include <echochat/plugin.h>

/* A stream read: send it straight back. */
static void
echo_input(struct conn *c, char *data, size_t len)
{
	conn_send(c, data, len);
}

/* A datagram: the same payload back to its sender. */
static void
echo_datagram(void *state, const struct dgram_src *src, char *data,
    size_t len)
{
	(void)state;
	dgram_reply(src, data, len);
}

const struct handler handler_echo = {
	.name = "echo",
	.framing = FRAMING_BYTES,
	.input = echo_input,
	.datagram = echo_datagram,
};
