/*
 * upper.c -- upper: echo with ASCII a-z mapped to A-Z.  Other
 * bytes, UTF-8 included, pass through untouched (toupper() would consult
 * the locale; this must not).
 */
/* Only the public plugin interface, as a plugin would be. */
#include <echochat/plugin.h>

/* Map a-z to A-Z in place. */
static void
upper_ascii(char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (data[i] >= 'a' && data[i] <= 'z')
			data[i] = (char)(data[i] - 'a' + 'A');
	}
}

/* A stream read: uppercase in place and send back. */
static void
upper_input(struct conn *c, char *data, size_t len)
{
	upper_ascii(data, len);
	conn_send(c, data, len);
}

/* A datagram: uppercase and answer. */
static void
upper_datagram(void *state, const struct dgram_src *src, char *data,
    size_t len)
{
	(void)state;
	upper_ascii(data, len);
	dgram_reply(src, data, len);
}

const struct handler handler_upper = {
	.name = "upper",
	.framing = FRAMING_BYTES,
	.input = upper_input,
	.datagram = upper_datagram,
};
