/*
 * wire.c -- decoding what other servers of a cluster published (the
 * format is in wire.h).  Every field is checked before it is used: names
 * have the characters nicks, rooms and nodes may have, numbers are
 * decimal and fit, text has no control bytes, so nothing another server
 * sends can put into a participant's session what a participant could
 * not have typed.
 */
#include <string.h>

#include "wire.h"

static int
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	    c == ':' || c == '#';
}

int
wire_name_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return 0;
	for (i = 0; i < len; i++) {
		if (!name_char((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Text another server may send: no control bytes, no 0xFF (telnet). */
static int
text_ok(const struct wire_span *t)
{
	size_t i;
	unsigned char c;

	if (t->len > WIRE_TEXT_MAX)
		return 0;
	for (i = 0; i < t->len; i++) {
		c = (unsigned char)t->ptr[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f || c == 0xff)
			return 0;
	}
	return 1;
}

/* The next space-separated field of *s (advanced past it and a space). */
static int
field(struct wire_span *s, struct wire_span *out)
{
	const char *sp;

	if (s->len == 0)
		return 0;
	out->ptr = s->ptr;
	if ((sp = memchr(s->ptr, ' ', s->len)) == NULL) {
		out->len = s->len;
		s->ptr += s->len;
		s->len = 0;
	} else {
		out->len = (size_t)(sp - s->ptr);
		s->len -= out->len + 1;
		s->ptr = sp + 1;
	}
	return out->len > 0;
}

static int
number(struct wire_span *s, uint64_t *v)
{
	struct wire_span f;
	size_t i;

	if (!field(s, &f) || f.len > 19)
		return 0;
	*v = 0;
	for (i = 0; i < f.len; i++) {
		if (f.ptr[i] < '0' || f.ptr[i] > '9')
			return 0;
		*v = *v * 10 + (uint64_t)(f.ptr[i] - '0');
	}
	return 1;
}

static int
name(struct wire_span *s, char *out, size_t max)
{
	struct wire_span f;

	if (!field(s, &f) || !wire_name_ok(f.ptr, f.len, max))
		return 0;
	memcpy(out, f.ptr, f.len);
	out[f.len] = '\0';
	return 1;
}

/* A nick has what a participant may choose: A-Z a-z 0-9 _ - only. */
static int
nick(struct wire_span *s, char *out)
{
	return name(s, out, WIRE_NICK_MAX) &&
	    strpbrk(out, "#.:") == NULL;
}

static int
room(struct wire_span *s, char *out)
{
	return name(s, out, WIRE_ROOM_MAX) && out[0] == '#' &&
	    out[1] != '\0' && strpbrk(out + 1, "#.:") == NULL;
}

int
wire_header(const char *data, size_t len, struct wire_header *h,
    struct wire_span *rest)
{
	const char *lf = memchr(data, '\n', len);
	struct wire_span line, f;

	if (lf == NULL)
		return -1;
	line.ptr = data;
	line.len = (size_t)(lf - data);
	if (!field(&line, &f) || f.len != 2 || memcmp(f.ptr, "E1", 2) != 0 ||
	    !name(&line, h->node, WIRE_NODE_MAX) || !number(&line, &h->inc) ||
	    !number(&line, &h->seq) || line.len != 0)
		return -1;
	rest->ptr = lf + 1;
	rest->len = len - (size_t)(lf + 1 - data);
	return 0;
}

/* One record's fields after its kind; 1 if they are right. */
static int
parse_record(struct wire_span *s, struct wire_rec *r)
{
	switch (r->kind) {
	case 'A':
	case 'S':
		return number(s, &r->id) && number(s, &r->ms) &&
		    nick(s, r->nick) && room(s, r->room) && s->len == 0;
	case 'M':
		return number(s, &r->id) && room(s, r->room) && s->len == 0;
	case 'N':
		return number(s, &r->id) && number(s, &r->ms) &&
		    nick(s, r->nick) && s->len == 0;
	case 'L':
		if (!number(s, &r->id))
			return 0;
		r->text = *s;
		return text_ok(&r->text);
	case 'm':
	case 'c':
	case 'T':
		if (!number(s, &r->id))
			return 0;
		r->text = *s;
		return r->text.len > 0 && text_ok(&r->text);
	case 'O':
		if (!room(s, r->room))
			return 0;
		r->text = *s;
		return r->text.len > 0 && text_ok(&r->text);
	case 'P':
		if (!name(s, r->node, WIRE_NODE_MAX) || !number(s, &r->id) ||
		    !nick(s, r->nick))
			return 0;
		r->text = *s;
		return r->text.len > 0 && text_ok(&r->text);
	case 'R':
	case 'H':
	case 'Y':
	case 'Q':
		return s->len == 0;
	default:
		return 0;
	}
}

int
wire_next(struct wire_span *rest, struct wire_rec *r)
{
	struct wire_span line;
	const char *lf;

	while (rest->len > 0) {
		line.ptr = rest->ptr;
		if ((lf = memchr(rest->ptr, '\n', rest->len)) == NULL)
			line.len = rest->len;
		else
			line.len = (size_t)(lf - rest->ptr);
		rest->ptr += line.len;
		rest->len -= line.len;
		if (rest->len > 0) {
			rest->ptr++;
			rest->len--;
		}
		memset(r, 0, sizeof *r);
		if (line.len == 0)
			continue;
		r->kind = line.ptr[0];
		if (line.len > 1 && line.ptr[1] != ' ')
			continue;
		line.ptr += line.len > 1 ? 2 : 1;
		line.len -= line.len > 1 ? 2 : 1;
		if (parse_record(&line, r))
			return 1;
	}
	return 0;
}
