/*
 * check_admit.c -- unit tests for admit.c, admission of stream
 * connections: max_clients refuses with ADMIT_FULL once that many are in,
 * max_clients_per_ip refuses with ADMIT_IP_FULL per address (IPv4 and
 * IPv6 each on their own, the port not mattering), Unix peers are counted
 * only against max_clients, admit_release gives back exactly what the
 * ticket says was taken, admit_configure changes the limits for new
 * connections without disturbing those already in, max_per_ip 0
 * means no per-address limit, and connections from an address are
 * counted also while there is no limit, so that a limit set by a reload
 * counts those already open.  These are the limits that keep one client
 * from taking the whole server, so each refusal and each give-back is
 * checked through admit_count and admit_ip_count.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "admit.h"
#include "sock.h"

static struct admit a;

static void
setup(void)
{
	admit_init(&a);
}

static void
teardown(void)
{
	admit_free(&a);
}

static struct peer_addr
v4(const char *host, uint16_t port)
{
	struct sockaddr_in sin;
	struct peer_addr p;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	peer_addr_set(&p, (struct sockaddr *)&sin);
	return p;
}

static struct peer_addr
v6(const char *host, uint16_t port)
{
	struct sockaddr_in6 sin6;
	struct peer_addr p;

	memset(&sin6, 0, sizeof sin6);
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6.sin6_addr), 1);
	peer_addr_set(&p, (struct sockaddr *)&sin6);
	return p;
}

static struct peer_addr
unix_peer(void)
{
	struct sockaddr_un sun;
	struct peer_addr p;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	peer_addr_set(&p, (struct sockaddr *)&sun);
	return p;
}

/* --- peer_addr_set, as admission sees it --- */

START_TEST(test_peer_addr_set)
{
	struct peer_addr p4 = v4("192.0.2.7", 4242);
	struct peer_addr p6 = v6("2001:db8::1", 7);
	struct peer_addr pu = unix_peer();
	static const uint8_t want4[4] = { 192, 0, 2, 7 };

	ck_assert_uint_eq(p4.family, AF_INET);
	ck_assert_uint_eq(p4.port, 4242);
	ck_assert_int_eq(memcmp(p4.addr, want4, 4), 0);
	ck_assert_int_eq(peer_addr_is_inet(&p4), 1);
	ck_assert_uint_eq(p6.family, AF_INET6);
	ck_assert_uint_eq(p6.port, 7);
	ck_assert_uint_eq(p6.addr[0], 0x20);
	ck_assert_uint_eq(p6.addr[15], 1);
	ck_assert_int_eq(peer_addr_is_inet(&p6), 1);
	ck_assert_uint_eq(pu.family, AF_UNIX);
	ck_assert_int_eq(peer_addr_is_inet(&pu), 0);
	ck_assert_str_eq(peer_addr_name(&p4), "192.0.2.7:4242");
	ck_assert_str_eq(peer_addr_name(&p6), "[2001:db8::1]:7");
	ck_assert_str_eq(peer_addr_name(&pu), "unix");
}
END_TEST

/* --- max_clients --- */

START_TEST(test_max_clients)
{
	struct admit_ticket t[4], extra;
	struct peer_addr p[4];
	char host[32];
	int i;

	admit_configure(&a, 3, 0);
	for (i = 0; i < 3; i++) {
		snprintf(host, sizeof host, "10.0.0.%d", i + 1);
		p[i] = v4(host, 1000);
		ck_assert_int_eq(admit_acquire(&a, &p[i], &t[i]), ADMIT_OK);
		ck_assert_uint_eq(admit_count(&a), (unsigned int)i + 1);
	}
	/* A fourth, from any address or a Unix socket, is refused. */
	p[3] = v4("10.0.0.9", 1000);
	ck_assert_int_eq(admit_acquire(&a, &p[3], &extra), ADMIT_FULL);
	ck_assert_int_eq(extra.ip_counted, 0);
	p[3] = unix_peer();
	ck_assert_int_eq(admit_acquire(&a, &p[3], &extra), ADMIT_FULL);
	ck_assert_uint_eq(admit_count(&a), 3);
	/* One leaves: one more gets in, and no more. */
	ck_assert_uint_eq(admit_release(&a, &p[1], &t[1]), 2);
	ck_assert_int_eq(admit_acquire(&a, &p[3], &t[1]), ADMIT_OK);
	ck_assert_uint_eq(admit_count(&a), 3);
	ck_assert_int_eq(admit_acquire(&a, &p[3], &extra), ADMIT_FULL);
	ck_assert_uint_eq(admit_release(&a, &p[0], &t[0]), 2);
	ck_assert_uint_eq(admit_release(&a, &p[2], &t[2]), 1);
	ck_assert_uint_eq(admit_release(&a, &p[3], &t[1]), 0);
	ck_assert_uint_eq(admit_count(&a), 0);
}
END_TEST

START_TEST(test_full_checked_before_ip)
{
	struct admit_ticket t1, t2;
	struct peer_addr p = v4("198.51.100.1", 1), q = v4("198.51.100.2", 1);

	/* Full wins over per-IP, and a refusal counts nothing. */
	admit_configure(&a, 1, 1);
	ck_assert_int_eq(admit_acquire(&a, &p, &t1), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &t2), ADMIT_FULL);
	ck_assert_int_eq(admit_acquire(&a, &q, &t2), ADMIT_FULL);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 1);
	ck_assert_uint_eq(admit_ip_count(&a, &q), 0);
	ck_assert_uint_eq(admit_count(&a), 1);
	admit_release(&a, &p, &t1);
}
END_TEST

/* --- max_clients_per_ip --- */

START_TEST(test_per_ip_v4)
{
	struct admit_ticket t[3], extra;
	struct peer_addr p1 = v4("203.0.113.5", 40000);
	struct peer_addr p2 = v4("203.0.113.5", 40001);	/* same host */
	struct peer_addr other = v4("203.0.113.6", 40000);

	admit_configure(&a, 100, 2);
	ck_assert_int_eq(admit_acquire(&a, &p1, &t[0]), ADMIT_OK);
	ck_assert_int_eq(t[0].ip_counted, 1);
	ck_assert_int_eq(admit_acquire(&a, &p2, &t[1]), ADMIT_OK);
	ck_assert_uint_eq(admit_ip_count(&a, &p1), 2);
	/* A third from that address, whatever its port, is refused... */
	ck_assert_int_eq(admit_acquire(&a, &p2, &extra), ADMIT_IP_FULL);
	ck_assert_int_eq(extra.ip_counted, 0);
	ck_assert_uint_eq(admit_ip_count(&a, &p1), 2);
	ck_assert_uint_eq(admit_count(&a), 2);
	/* ...while another address is not affected. */
	ck_assert_int_eq(admit_acquire(&a, &other, &t[2]), ADMIT_OK);
	ck_assert_uint_eq(admit_ip_count(&a, &other), 1);
	ck_assert_uint_eq(admit_count(&a), 3);
	/* One of the two leaves: the address may connect once more. */
	ck_assert_uint_eq(admit_release(&a, &p1, &t[0]), 2);
	ck_assert_int_eq(t[0].ip_counted, 0);
	ck_assert_uint_eq(admit_ip_count(&a, &p1), 1);
	ck_assert_int_eq(admit_acquire(&a, &p1, &t[0]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p1, &extra), ADMIT_IP_FULL);
	admit_release(&a, &p1, &t[0]);
	admit_release(&a, &p2, &t[1]);
	admit_release(&a, &other, &t[2]);
	ck_assert_uint_eq(admit_ip_count(&a, &p1), 0);
	ck_assert_uint_eq(admit_ip_count(&a, &other), 0);
	ck_assert_uint_eq(admit_count(&a), 0);
}
END_TEST

START_TEST(test_per_ip_v6)
{
	struct admit_ticket t[2], extra;
	struct peer_addr p = v6("2001:db8::5", 1);
	struct peer_addr near = v6("2001:db8::6", 1);	/* last byte differs */
	struct peer_addr far = v6("2001:db9::5", 1);	/* an early byte */

	admit_configure(&a, 100, 1);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[0]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_IP_FULL);
	ck_assert_int_eq(admit_acquire(&a, &near, &t[1]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &far, &extra), ADMIT_OK);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 1);
	ck_assert_uint_eq(admit_ip_count(&a, &near), 1);
	ck_assert_uint_eq(admit_ip_count(&a, &far), 1);
	ck_assert_uint_eq(admit_count(&a), 3);
	admit_release(&a, &far, &extra);
	admit_release(&a, &near, &t[1]);
	admit_release(&a, &p, &t[0]);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 0);
	ck_assert_uint_eq(admit_count(&a), 0);
}
END_TEST

START_TEST(test_v4_and_v6_independent)
{
	struct admit_ticket t4, t6, tm, extra;
	/*
	 * 192.0.2.1 as IPv4, the IPv6 address whose first four bytes are
	 * the same (c000:0201::), and the IPv4-mapped form: three different
	 * peers to the table, each with its own count.
	 */
	struct peer_addr p4 = v4("192.0.2.1", 1);
	struct peer_addr p6 = v6("c000:201::", 1);
	struct peer_addr pm = v6("::ffff:192.0.2.1", 1);

	admit_configure(&a, 100, 1);
	ck_assert_int_eq(admit_acquire(&a, &p4, &t4), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p6, &t6), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &pm, &tm), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p4, &extra), ADMIT_IP_FULL);
	ck_assert_int_eq(admit_acquire(&a, &p6, &extra), ADMIT_IP_FULL);
	ck_assert_uint_eq(admit_ip_count(&a, &p4), 1);
	ck_assert_uint_eq(admit_ip_count(&a, &p6), 1);
	/* Releasing the IPv6 one leaves the IPv4 one counted. */
	admit_release(&a, &p6, &t6);
	ck_assert_uint_eq(admit_ip_count(&a, &p6), 0);
	ck_assert_uint_eq(admit_ip_count(&a, &p4), 1);
	ck_assert_int_eq(admit_acquire(&a, &p4, &extra), ADMIT_IP_FULL);
	ck_assert_int_eq(admit_acquire(&a, &p6, &t6), ADMIT_OK);
	admit_release(&a, &p4, &t4);
	admit_release(&a, &p6, &t6);
	admit_release(&a, &pm, &tm);
	ck_assert_uint_eq(admit_count(&a), 0);
}
END_TEST

START_TEST(test_unix_not_per_ip)
{
	struct admit_ticket t[5];
	struct peer_addr u = unix_peer();
	int i;

	/* Five Unix peers under a per-IP limit of 1: only max_clients. */
	admit_configure(&a, 5, 1);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(admit_acquire(&a, &u, &t[i]), ADMIT_OK);
		ck_assert_int_eq(t[i].ip_counted, 0);
	}
	ck_assert_uint_eq(admit_count(&a), 5);
	ck_assert_uint_eq(admit_ip_count(&a, &u), 0);
	ck_assert_int_eq(admit_acquire(&a, &u, &t[0]), ADMIT_FULL);
	for (i = 0; i < 5; i++)
		ck_assert_uint_eq(admit_release(&a, &u, &t[i]),
		    (unsigned int)(4 - i));
}
END_TEST

START_TEST(test_no_per_ip_limit)
{
	struct admit_ticket t[50];
	struct peer_addr p = v4("127.0.0.1", 9);
	int i;

	/* 0: any number from one address, each still counted for it. */
	admit_configure(&a, 1000, 0);
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(admit_acquire(&a, &p, &t[i]), ADMIT_OK);
		ck_assert_int_eq(t[i].ip_counted, 1);
	}
	ck_assert_uint_eq(admit_count(&a), 50);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 50);
	for (i = 0; i < 50; i++)
		admit_release(&a, &p, &t[i]);
	ck_assert_uint_eq(admit_count(&a), 0);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 0);
}
END_TEST

/* --- admit_configure on a live table (reload) --- */

START_TEST(test_configure_raise_lower)
{
	struct admit_ticket t[4], extra;
	struct peer_addr p = v4("192.0.2.50", 1);
	int i;

	admit_configure(&a, 2, 0);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[0]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[1]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_FULL);
	/* Raised: room for more at once. */
	admit_configure(&a, 4, 0);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[2]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[3]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_FULL);
	/* Lowered below what is in: those stay, nobody new comes in. */
	admit_configure(&a, 1, 0);
	ck_assert_uint_eq(admit_count(&a), 4);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_FULL);
	for (i = 3; i >= 1; i--) {
		admit_release(&a, &p, &t[i]);
		ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_FULL);
	}
	admit_release(&a, &p, &t[0]);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[0]), ADMIT_OK);
	admit_release(&a, &p, &t[0]);
	ck_assert_uint_eq(admit_count(&a), 0);
}
END_TEST

START_TEST(test_configure_per_ip_changes)
{
	struct admit_ticket before, t[3], extra;
	struct peer_addr p = v4("192.0.2.60", 1);

	/* Admitted with no per-IP limit: counted for its address all the same. */
	admit_configure(&a, 100, 0);
	ck_assert_int_eq(admit_acquire(&a, &p, &before), ADMIT_OK);
	ck_assert_int_eq(before.ip_counted, 1);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 1);
	/* A per-IP limit of 2 (a reload) counts the one already in. */
	admit_configure(&a, 100, 2);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[0]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_IP_FULL);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 2);
	/* The first one leaving makes room for one more. */
	ck_assert_uint_eq(admit_release(&a, &p, &before), 1);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 1);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[1]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_IP_FULL);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 2);
	/* Lowered to 1: still 2 in, nobody new until below 1. */
	admit_configure(&a, 100, 1);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_IP_FULL);
	admit_release(&a, &p, &t[0]);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_IP_FULL);
	/* Raised to 3: two more fit beside the one left. */
	admit_configure(&a, 100, 3);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[0]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &t[2]), ADMIT_OK);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_IP_FULL);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 3);
	/* Back to 0: no limit, and every one gives back its count. */
	admit_configure(&a, 100, 0);
	ck_assert_int_eq(admit_acquire(&a, &p, &extra), ADMIT_OK);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 4);
	admit_release(&a, &p, &extra);
	admit_release(&a, &p, &t[0]);
	admit_release(&a, &p, &t[1]);
	admit_release(&a, &p, &t[2]);
	ck_assert_uint_eq(admit_ip_count(&a, &p), 0);
	ck_assert_uint_eq(admit_count(&a), 0);
}
END_TEST

START_TEST(test_many_addresses)
{
	/* More addresses than hash buckets: chains, release in any order. */
	enum { N = 5000 };
	struct admit_ticket *t = calloc(N, sizeof *t);
	struct peer_addr *p = calloc(N, sizeof *p);
	char host[64];
	int i;

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_nonnull(p);
	admit_configure(&a, N, 1);
	for (i = 0; i < N; i++) {
		if (i % 2)
			snprintf(host, sizeof host, "10.%d.%d.1", i / 256,
			    i % 256);
		else
			snprintf(host, sizeof host, "2001:db8::%x:1", i);
		p[i] = i % 2 ? v4(host, 1) : v6(host, 1);
		ck_assert_int_eq(admit_acquire(&a, &p[i], &t[i]), ADMIT_OK);
	}
	ck_assert_uint_eq(admit_count(&a), N);
	for (i = 0; i < N; i += 3)
		admit_release(&a, &p[i], &t[i]);
	for (i = 0; i < N; i++)
		ck_assert_uint_eq(admit_ip_count(&a, &p[i]), i % 3 ? 1 : 0);
	for (i = 0; i < N; i++) {
		if (i % 3)
			admit_release(&a, &p[i], &t[i]);
	}
	ck_assert_uint_eq(admit_count(&a), 0);
	for (i = 0; i < N; i++)
		ck_assert_uint_eq(admit_ip_count(&a, &p[i]), 0);
	free(t);
	free(p);
}
END_TEST

static Suite *
admit_suite(void)
{
	Suite *s = suite_create("admit");
	TCase *tc;

	tc = tcase_create("peer_addr");
	tcase_add_test(tc, test_peer_addr_set);
	suite_add_tcase(s, tc);

	tc = tcase_create("max_clients");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_max_clients);
	tcase_add_test(tc, test_full_checked_before_ip);
	suite_add_tcase(s, tc);

	tc = tcase_create("per_ip");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_per_ip_v4);
	tcase_add_test(tc, test_per_ip_v6);
	tcase_add_test(tc, test_v4_and_v6_independent);
	tcase_add_test(tc, test_unix_not_per_ip);
	tcase_add_test(tc, test_no_per_ip_limit);
	tcase_add_test(tc, test_many_addresses);
	suite_add_tcase(s, tc);

	tc = tcase_create("configure");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_configure_raise_lower);
	tcase_add_test(tc, test_configure_per_ip_changes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(admit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
