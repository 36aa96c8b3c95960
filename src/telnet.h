/*
 * telnet.h -- answering telnet option negotiation in a line stream
 * (telnet.c), for handlers that talk to telnet users.
 */
#ifndef ECHOCHAT_TELNET_H
#define ECHOCHAT_TELNET_H

#include <stddef.h>

/* Where the scan stands between reads; all zero at the start. */
struct telnet {
	unsigned char	state;
	unsigned char	verb;	/* WILL, WONT, DO or DONT, awaiting its option */
};

/* An answer of TELNET_ANSWER bytes to send back at once. */
#define TELNET_ANSWER	3
typedef void (*telnet_answer_fn)(void *arg, const unsigned char *answer);

void	telnet_scan(struct telnet *, const char *data, size_t len,
	    telnet_answer_fn, void *arg);

#endif
