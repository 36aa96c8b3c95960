/*
 * udp.c -- udp mode: C UDP sockets keep P datagrams in flight; replies
 * are verified, datagrams unanswered after 1 s count as lost.  Any UDP
 * echo server will do.
 *
 * A socket's replies are taken up to UDP_BATCH at a time with recvmmsg
 * and the datagrams that replace them go out together with sendmmsg, so
 * that the tool spends two system calls per batch rather than two per
 * datagram: a server that answers faster than one recvfrom and one sendto
 * per datagram can show it instead of waiting for the tool.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define UDP_LOSS_NS (1 * NS_PER_S)
#define UDP_BATCH 64
/* A batch longer than one datagram goes as one UDP_SEGMENT send of at
 * most this many bytes, which the kernel cuts into the datagrams: one
 * pass down the stack per batch.  Refused (an old kernel), it is sent
 * with sendmmsg from then on. */
#define UDP_GSO_MAX 60000
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define UDP_TICK_MS 20
/* Below this many replies a second, losses hint at a per-address ration. */
#define UDP_RATION_HINT 5000.0

enum { U_FREE, U_FLIGHT, U_PENDING };

/* Slot i of a socket carries seqs i, i+P, i+2P, ... so a reply's seq
 * names its slot directly and a late reply (seq below the slot's current
 * one) is recognised as belonging to a datagram already written off. */
struct uconn {
	int fd, want_out;
	uint64_t *seq, *sent_ns;
	unsigned char *st;
};

struct udp_run {
	const struct opts *o;
	struct gen g;
	struct uconn *c;
	int n, ep;
	char *scratch;
	/* one batch: datagrams received and datagrams to send, with the slot
	 * each outgoing one fills */
	int batch;
	size_t in_size;
	struct mmsghdr in[UDP_BATCH], out[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
	char *out_buf;
	unsigned out_slot[UDP_BATCH];
	int nout, no_gso;
	uint64_t t_start, t_end;
	/* the server's (--cpu-pgid) and the tool's CPU time in the window */
	struct cpuwin cpu;
	struct hist h;
	uint64_t replies, all_replies, losses, late, mismatches, refused;
};

/* A reply's header, as gen_line (common.c) wrote it: which socket and
 * which seq it answers. */
static int
b36_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	return -1;
}

static int
decode_hdr(const char *p, uint64_t *conn, uint64_t *seq)
{
	uint64_t v[2] = {0, 0};
	for (int i = 0; i < HDR_LEN; i++) {
		int d = b36_val(p[i]);
		if (d < 0)
			return 0;
		v[i >= 4] = v[i >= 4] * 36 + (uint64_t)d;
	}
	*conn = v[0];
	*seq = v[1];
	return 1;
}

static void
udp_send_slot(struct udp_run *r, uint32_t ci, unsigned slot, uint64_t now)
{
	struct uconn *c = &r->c[ci];
	gen_line(&r->g, ci, c->seq[slot], r->scratch);
	ssize_t k = send(c->fd, r->scratch, r->g.size, 0);
	if (k == (ssize_t)r->g.size) {
		c->st[slot] = U_FLIGHT;
		c->sent_ns[slot] = now;
		return;
	}
	c->st[slot] = U_PENDING; /* retried on EPOLLOUT or on the next tick */
	if (k < 0 && errno == ECONNREFUSED)
		r->refused++;
	if (k < 0 && would_block() && !c->want_out) {
		c->want_out = 1;
		ep_mod(r->ep, c->fd, EPOLLIN | EPOLLOUT, ci);
	}
}

/* A slot whose reply came in: its next datagram joins the batch. */
static void
udp_queue_slot(struct udp_run *r, uint32_t ci, unsigned slot)
{
	struct uconn *c = &r->c[ci];
	int j = r->nout++;
	gen_line(&r->g, ci, c->seq[slot], r->out_buf + (size_t)j * r->g.size);
	r->out_slot[j] = slot;
}

/* The batch as one segmented send; 0 if it must go datagram by
 * datagram (one datagram, too long, or segmenting refused). */
static int
udp_send_gso(struct udp_run *r, struct uconn *c, uint64_t now)
{
	size_t size = r->g.size, len = (size_t)r->nout * size;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = r->out_buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof ctl.buf};
	if (r->no_gso || r->nout < 2 || len > UDP_GSO_MAX)
		return 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	uint16_t seg = (uint16_t)size;
	memcpy(CMSG_DATA(cm), &seg, sizeof seg);
	if (sendmsg(c->fd, &m, 0) != (ssize_t)len) {
		if (errno == EINVAL || errno == ENOPROTOOPT || errno == EIO ||
		    errno == EOPNOTSUPP)
			r->no_gso = 1;
		return 0;
	}
	for (int j = 0; j < r->nout; j++) {
		c->st[r->out_slot[j]] = U_FLIGHT;
		c->sent_ns[r->out_slot[j]] = now;
	}
	return 1;
}

/* Send the batch on socket ci; what does not go out waits as in
 * udp_send_slot. */
static void
udp_flush(struct udp_run *r, uint32_t ci, uint64_t now)
{
	struct uconn *c = &r->c[ci];
	int done = 0;
	if (udp_send_gso(r, c, now))
		done = r->nout;
	while (done < r->nout) {
		int k = sendmmsg(c->fd, &r->out[done],
		    (unsigned)(r->nout - done), 0);
		if (k <= 0)
			break;
		for (int j = done; j < done + k; j++) {
			c->st[r->out_slot[j]] = U_FLIGHT;
			c->sent_ns[r->out_slot[j]] = now;
		}
		done += k;
	}
	if (done < r->nout) {
		for (int j = done; j < r->nout; j++)
			c->st[r->out_slot[j]] = U_PENDING;
		if (errno == ECONNREFUSED)
			r->refused++;
		if (would_block() && !c->want_out) {
			c->want_out = 1;
			ep_mod(r->ep, c->fd, EPOLLIN | EPOLLOUT, ci);
		}
	}
	r->nout = 0;
}

static void
udp_reply(
    struct udp_run *r, uint32_t ci, const char *buf, size_t len, uint64_t now)
{
	struct uconn *c = &r->c[ci];
	uint64_t P = (uint64_t)r->o->inflight, conn, seq;
	if (len != r->g.size || !decode_hdr(buf, &conn, &seq) || conn != ci) {
		r->mismatches++;
		return;
	}
	unsigned slot = (unsigned)(seq % P);
	if (c->st[slot] != U_FLIGHT || c->seq[slot] != seq) {
		if (seq < c->seq[slot])
			r->late++;
		else
			r->mismatches++;
		return;
	}
	gen_line(&r->g, ci, seq, r->scratch);
	if (memcmp(buf, r->scratch, len) != 0)
		r->mismatches++;
	r->all_replies++;
	if (in_window(now, r->t_start, r->t_end)) {
		r->replies++;
		hist_add(&r->h, now - c->sent_ns[slot]);
	}
	c->seq[slot] += P;
	udp_queue_slot(r, ci, slot);
}

static void
udp_event(struct udp_run *r, uint32_t ci, uint32_t events)
{
	struct uconn *c = &r->c[ci];
	for (int i = 0; i < 4 && (events & (EPOLLIN | EPOLLERR)); i++) {
		int k = recvmmsg(c->fd, r->in, (unsigned)r->batch, 0, NULL);
		if (k < 0 && errno == ECONNREFUSED) {
			/* ICMP port unreachable: nobody listening */
			r->refused++;
			continue;
		}
		if (k <= 0)
			break;
		uint64_t now = now_ns();
		for (int j = 0; j < k; j++) {
			size_t len = r->in[j].msg_len;
			if (r->in[j].msg_hdr.msg_flags & MSG_TRUNC)
				len = r->in_size;
			udp_reply(r, ci, rbuf + (size_t)j * r->in_size, len,
			    now);
		}
		udp_flush(r, ci, now);
		if (k < r->batch)
			break;
	}
	if (events & EPOLLOUT) {
		c->want_out = 0;
		ep_mod(r->ep, c->fd, EPOLLIN, ci);
		uint64_t now = now_ns();
		for (unsigned s = 0; s < (unsigned)r->o->inflight; s++)
			if (c->st[s] == U_PENDING)
				udp_send_slot(r, ci, s, now);
	}
}

/* Write off datagrams unanswered for UDP_LOSS_NS and replace them; retry
 * sends that could not go out. */
static void
udp_tick(struct udp_run *r, uint64_t now)
{
	uint64_t P = (uint64_t)r->o->inflight;
	for (int ci = 0; ci < r->n; ci++) {
		struct uconn *c = &r->c[ci];
		for (unsigned s = 0; s < P; s++) {
			if (c->st[s] == U_FLIGHT &&
			    now - c->sent_ns[s] > UDP_LOSS_NS) {
				if (in_window(now, r->t_start, r->t_end))
					r->losses++;
				c->seq[s] += P;
				udp_send_slot(r, (uint32_t)ci, s, now);
			} else if (c->st[s] == U_PENDING) {
				udp_send_slot(r, (uint32_t)ci, s, now);
			}
		}
	}
}

/* The batch's buffers: incoming slots cut from rbuf, one byte longer
 * than a datagram so that a longer reply shows as one; outgoing ones
 * of the datagram's size. */
static void
udp_batch_setup(struct udp_run *r)
{
	size_t size = r->g.size;
	r->in_size = size + 1;
	r->batch = (int)(RBUF_SIZE / r->in_size);
	if (r->batch > UDP_BATCH)
		r->batch = UDP_BATCH;
	if (r->batch < 1)
		r->batch = 1;
	r->out_buf = xcalloc(UDP_BATCH, size);
	for (int j = 0; j < UDP_BATCH; j++) {
		if (j < r->batch) {
			r->in_iov[j].iov_base = rbuf + (size_t)j * r->in_size;
			r->in_iov[j].iov_len = r->in_size;
			r->in[j].msg_hdr.msg_iov = &r->in_iov[j];
			r->in[j].msg_hdr.msg_iovlen = 1;
		}
		r->out_iov[j].iov_base = r->out_buf + (size_t)j * size;
		r->out_iov[j].iov_len = size;
		r->out[j].msg_hdr.msg_iov = &r->out_iov[j];
		r->out[j].msg_hdr.msg_iovlen = 1;
	}
}

static void
udp_setup(struct udp_run *r, const struct opts *o, const struct target *t)
{
	size_t P = (size_t)o->inflight;
	const struct sockaddr *sa = (const struct sockaddr *)&t->addr;
	r->o = o;
	r->n = o->conns;
	gen_init(&r->g, (size_t)o->size);
	r->scratch = xcalloc((size_t)o->size, 1);
	udp_batch_setup(r);
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->c = xcalloc((size_t)r->n, sizeof *r->c);
	for (int i = 0; i < r->n; i++) {
		struct uconn *c = &r->c[i];
		/* connect() so we only hear from the server and get ICMP
		 * errors */
		c->fd = socket(
		    t->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, sa, t->len) < 0)
			fail2("udp socket %d for %s: %s", i, t->desc,
			    strerror(errno));
		c->seq = xcalloc(P, sizeof *c->seq);
		c->sent_ns = xcalloc(P, sizeof *c->sent_ns);
		c->st = xcalloc(P, 1);
		for (size_t s = 0; s < P; s++)
			c->seq[s] = s;
		ep_add(r->ep, c->fd, EPOLLIN, (uint32_t)i);
	}
}

static void
udp_loop(struct udp_run *r)
{
	struct epoll_event evs[MAX_EVENTS];
	struct progress pg;
	uint64_t now = now_ns(), next_tick = now;
	progress_init(&pg, "replies");
	r->t_start = now + (uint64_t)r->o->warmup * NS_PER_S;
	r->t_end = r->t_start + (uint64_t)r->o->seconds * NS_PER_S;
	for (int ci = 0; ci < r->n; ci++)
		for (unsigned s = 0; s < (unsigned)r->o->inflight; s++)
			udp_send_slot(r, (uint32_t)ci, s, now);
	while ((now = now_ns()) < r->t_end && !bench_stop) {
		if (now >= r->t_start)
			cpuwin_start(&r->cpu, r->o);
		progress_tick(&pg, now, r->t_start, r->replies);
		if (now >= next_tick) {
			udp_tick(r, now);
			next_tick = now + UDP_TICK_MS * NS_PER_MS;
		}
		int k = epoll_wait(r->ep, evs, MAX_EVENTS,
		    ms_until(now, next_tick, UDP_TICK_MS));
		for (int j = 0; j < k; j++)
			udp_event(r, evs[j].data.u32, evs[j].events);
	}
	cpuwin_end(&r->cpu, r->o);
	if (bench_stop)
		stop_window(&r->t_start, &r->t_end);
}

static int
udp_report(const struct udp_run *r, const struct target *t)
{
	const struct opts *o = r->o;
	double secs = measured_s(r->t_start, r->t_end);
	double rate = secs > 0 ? (double)r->replies / secs : 0.0;
	(void)t;
	printf("  sockets:       %d, %d datagrams of %d bytes in flight each\n",
	    o->conns, o->inflight, o->size);
	printf("  time:          %d s warm-up, %.1f s measured\n", o->warmup,
	    secs);
	print_interrupted(secs);
	printf("  replies:       %" PRIu64 " (%.1f replies/s)\n", r->replies,
	    rate);
	print_latency("latency (us):", &r->h);
	printf("  lost:          %" PRIu64 " (no reply within 1 s; %" PRIu64
	       " late replies)\n",
	    r->losses, r->late);
	printf("  errors:        %" PRIu64 " (mismatched replies)\n",
	    r->mismatches);
	cpuwin_print(&r->cpu, o, secs, r->replies, "reply");
	/* Losses from one address at a steady, low rate: a server that
	 * rations replies per source (echochatd's udp_rate) looks so. */
	if (r->losses > 0 && rate < UDP_RATION_HINT)
		printf("  note:          replies stopped at about %.0f/s while "
		       "datagrams were lost:\n"
		       "                 the server may ration replies per "
		       "address (echochatd: [server]\n"
		       "                 udp_rate, 100/s by default; udp_rate = 0 "
		       "to measure it)\n",
		    rate);
	printf(
	    "RESULT mode=udp conns=%d inflight=%d size=%d seconds=%d rate=%.1f",
	    o->conns, o->inflight, o->size, o->seconds, rate);
	result_latency(&r->h);
	printf(" errors=%" PRIu64 " losses=%" PRIu64 " late=%" PRIu64,
	    r->mismatches, r->losses, r->late);
	cpuwin_result(&r->cpu, o, secs, r->replies);
	printf("\n");
	return r->mismatches || r->replies == 0 ? 1 : 0;
}

int
run_udp(const struct opts *o)
{
	struct target t;
	resolve_target(o, &t, SOCK_DGRAM);
	print_header(o, &t);
	struct udp_run *r = xcalloc(1, sizeof *r);
	udp_setup(r, o, &t);
	udp_loop(r);
	if (r->all_replies == 0)
		fail2("no reply from %s (%s)", t.desc,
		    r->refused ? "connection refused: nothing listening"
			       : "every datagram lost");
	return udp_report(r, &t);
}
