/*
 * telnet.c -- the part of the telnet protocol a line server must speak
 * (README "Chat"): every option telnet asks for is refused, IAC DO opt
 * with IAC WONT opt and IAC WILL opt with IAC DONT opt.  That matters
 * most for TIMING-MARK: on Ctrl-C telnet sends IAC IP IAC DO TIMING-MARK
 * and throws away all output until the server answers the mark, so a
 * server that never answers leaves the user deaf.  WONT and DONT need no
 * answer (RFC 1143: never acknowledge a refusal, or two sides loop).
 *
 * The scan only reads: removing the commands from the text is the
 * handler's business.  Commands split across reads are followed, so the
 * state lives with the connection.
 */
#include "telnet.h"

#define IAC	0xFF
#define DONT	0xFE
#define DO	0xFD
#define WONT	0xFC
#define WILL	0xFB
#define SB	0xFA
#define SE	0xF0

enum { T_DATA, T_IAC, T_OPTION, T_SB, T_SB_IAC };

/* The verb and option of a request: answer DO and WILL, nothing else. */
static void
telnet_request(unsigned char verb, unsigned char option,
    telnet_answer_fn answer, void *arg)
{
	unsigned char a[TELNET_ANSWER] = { IAC, 0, option };

	if (verb == DO)
		a[1] = WONT;
	else if (verb == WILL)
		a[1] = DONT;
	else
		return;
	answer(arg, a);
}

/* Follow len bytes of input; answer's each request as it completes. */
void
telnet_scan(struct telnet *t, const char *data, size_t len,
    telnet_answer_fn answer, void *arg)
{
	const unsigned char *s = (const unsigned char *)data;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = s[i];

		switch (t->state) {
		case T_DATA:
			if (ch == IAC)
				t->state = T_IAC;
			break;
		case T_IAC:
			if (ch >= WILL && ch <= DONT) {
				t->verb = ch;
				t->state = T_OPTION;
			} else {
				t->state = ch == SB ? T_SB : T_DATA;
			}
			break;
		case T_OPTION:
			telnet_request(t->verb, ch, answer, arg);
			t->state = T_DATA;
			break;
		case T_SB:
			if (ch == IAC)
				t->state = T_SB_IAC;
			break;
		case T_SB_IAC:
			t->state = ch == SE ? T_DATA : T_SB;
			break;
		}
	}
}
