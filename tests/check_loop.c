/*
 * check_loop.c -- unit tests for loop.c, the event loops and their
 * inboxes.  Checked here, with real threads: how many loops "workers"
 * resolves to; that with one loop a post is a direct call; that calls
 * posted to a worker run on that worker's thread, each exactly once and
 * in the order each poster posted them, also when several threads post
 * at once; that a stopped world runs nothing posted to a parked worker
 * until it resumes, while the main thread may act on every loop; that
 * the inbox length is reported (loop_behind, loops_caught_up) and falls
 * back once the loop has worked through it; that an end-of-turn hook runs
 * once per turn however often it was scheduled; that a deferred post
 * wakes its loop only when the poster's turn ends, unless an immediate
 * post to the same loop comes first; and that loops_stop runs whatever
 * was still waiting, so nothing posted is lost at exit.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "loop.h"

/* --- Helpers --- */

/* Wait until *v reaches want, for at most about ten seconds. */
static int
wait_for(atomic_uint *v, unsigned int want)
{
	struct timespec ts = { 0, 1000 * 1000 };
	int i;

	for (i = 0; i < 10000; i++) {
		if (atomic_load(v) >= want)
			return 1;
		nanosleep(&ts, NULL);
	}
	return atomic_load(v) >= want;
}

static void
start_loops(struct loops *set, struct event_base **main_base,
    unsigned int n)
{
	char *cause = NULL;

	*main_base = loop_base_new();
	ck_assert_ptr_nonnull(*main_base);
	ck_assert_int_eq(loops_init(set, *main_base, n, &cause), 0);
	ck_assert_int_eq(loops_start(set, &cause), 0);
}

static void
end_loops(struct loops *set, struct event_base *main_base)
{
	loops_stop(set);
	loops_free(set);
	event_base_free(main_base);
}

/* A record of calls: which loop ran each, in which order. */
#define CALLS	20000
struct calls {
	struct loop	*expect;	/* where every call must run */
	atomic_uint	 ran;
	atomic_uint	 wrong_loop;
	atomic_uint	 out_of_order;
	unsigned int	 next[4];	/* per poster: the sequence expected */
};
struct call {
	struct calls	*calls;
	unsigned int	 poster;
	unsigned int	 seq;
};

static void
record_call(void *arg)
{
	struct call *c = arg;
	struct calls *calls = c->calls;

	if (loop_here() != calls->expect)
		atomic_fetch_add(&calls->wrong_loop, 1);
	/* Only the worker's thread runs these: next[] needs no lock. */
	if (calls->next[c->poster] != c->seq)
		atomic_fetch_add(&calls->out_of_order, 1);
	calls->next[c->poster] = c->seq + 1;
	atomic_fetch_add(&calls->ran, 1);
}

struct poster {
	struct loop	*to;
	struct call	*v;
	unsigned int	 n;
};

static void *
post_all(void *arg)
{
	struct poster *p = arg;
	unsigned int i;

	for (i = 0; i < p->n; i++)
		loop_post(p->to, record_call, &p->v[i]);
	return NULL;
}

static void
count_call(void *arg)
{
	atomic_fetch_add((atomic_uint *)arg, 1);
}

/* --- Cases --- */

START_TEST(workers_resolve)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	ck_assert_uint_eq(loops_resolve(3), 3);
	ck_assert_uint_eq(loops_resolve(1), 1);
	ck_assert_uint_eq(loops_resolve(WORKERS_MAX), WORKERS_MAX);
	ck_assert_uint_eq(loops_resolve(WORKERS_MAX + 1), WORKERS_MAX);
	ck_assert_uint_eq(loops_resolve(UINT64_MAX), WORKERS_MAX);
	ck_assert_uint_eq(loops_resolve(0),
	    cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : cpus);
}
END_TEST

START_TEST(one_loop_posts_are_direct_calls)
{
	struct event_base *base;
	struct loops set;
	atomic_uint ran = 0;

	start_loops(&set, &base, 1);
	ck_assert_ptr_eq(loop_here(), &set.v[0]);
	ck_assert(loop_is_here(&set.v[0]));
	ck_assert_int_eq(set.v[0].wake_fd, -1);
	ck_assert_uint_eq(loop_post(&set.v[0], count_call, &ran), 0);
	ck_assert_uint_eq(atomic_load(&ran), 1);	/* already ran */
	end_loops(&set, base);
}
END_TEST

START_TEST(posts_run_on_the_worker_in_order_once)
{
	struct event_base *base;
	struct loops set;
	struct calls calls = { 0 };
	struct poster p;
	unsigned int i;

	start_loops(&set, &base, 3);
	ck_assert(!loop_is_here(&set.v[2]));
	calls.expect = &set.v[2];
	p.to = &set.v[2];
	p.n = CALLS;
	p.v = calloc(CALLS, sizeof *p.v);
	for (i = 0; i < CALLS; i++)
		p.v[i] = (struct call){ &calls, 0, i };
	post_all(&p);
	ck_assert(wait_for(&calls.ran, CALLS));
	end_loops(&set, base);
	ck_assert_uint_eq(atomic_load(&calls.ran), CALLS);	/* not more */
	ck_assert_uint_eq(atomic_load(&calls.wrong_loop), 0);
	ck_assert_uint_eq(atomic_load(&calls.out_of_order), 0);
	free(p.v);
}
END_TEST

START_TEST(concurrent_posters_keep_their_own_order)
{
	struct event_base *base;
	struct loops set;
	struct calls calls = { 0 };
	struct poster p[4];
	pthread_t t[4];
	unsigned int i, j;

	start_loops(&set, &base, 2);
	calls.expect = &set.v[1];
	for (j = 0; j < 4; j++) {
		p[j].to = &set.v[1];
		p[j].n = CALLS / 4;
		p[j].v = calloc(p[j].n, sizeof *p[j].v);
		for (i = 0; i < p[j].n; i++)
			p[j].v[i] = (struct call){ &calls, j, i };
	}
	for (j = 0; j < 4; j++)
		ck_assert_int_eq(pthread_create(&t[j], NULL, post_all, &p[j]),
		    0);
	for (j = 0; j < 4; j++)
		pthread_join(t[j], NULL);
	ck_assert(wait_for(&calls.ran, CALLS));
	end_loops(&set, base);
	ck_assert_uint_eq(atomic_load(&calls.ran), CALLS);
	ck_assert_uint_eq(atomic_load(&calls.wrong_loop), 0);
	ck_assert_uint_eq(atomic_load(&calls.out_of_order), 0);
	for (j = 0; j < 4; j++) {
		ck_assert_uint_eq(calls.next[j], CALLS / 4);
		free(p[j].v);
	}
}
END_TEST

START_TEST(stopped_world_runs_nothing_until_resumed)
{
	struct event_base *base;
	struct loops set;
	atomic_uint ran = 0;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	unsigned int i, n = LOOP_BEHIND + 10;

	start_loops(&set, &base, 2);
	world_stop(&set);
	ck_assert(loop_is_here(&set.v[1]));	/* main holds every loop */
	for (i = 0; i < n; i++)
		loop_post(&set.v[1], count_call, &ran);
	nanosleep(&ts, NULL);
	ck_assert_uint_eq(atomic_load(&ran), 0);
	ck_assert(loop_behind(&set.v[1]));
	ck_assert(!loops_caught_up(&set, &set.v[0]));
	ck_assert(loops_caught_up(&set, &set.v[1]));	/* but itself */
	world_resume(&set);
	ck_assert(!loop_is_here(&set.v[1]));
	ck_assert(wait_for(&ran, n));
	ck_assert(!loop_behind(&set.v[1]));
	ck_assert(loops_caught_up(&set, &set.v[0]));
	end_loops(&set, base);
	ck_assert_uint_eq(atomic_load(&ran), n);
}
END_TEST

START_TEST(stop_runs_what_is_still_waiting)
{
	struct event_base *base;
	struct loops set;
	atomic_uint ran = 0;
	unsigned int i, n = 5000;

	start_loops(&set, &base, 3);
	world_stop(&set);	/* so that the calls pile up */
	for (i = 0; i < n; i++) {
		loop_post(&set.v[1], count_call, &ran);
		loop_post(&set.v[2], count_call, &ran);
	}
	world_resume(&set);
	loops_stop(&set);
	ck_assert_uint_eq(atomic_load(&ran), 2 * n);
	/* The main thread holds every loop for good; posts still work. */
	ck_assert(loop_is_here(&set.v[2]));
	loops_free(&set);
	event_base_free(base);
}
END_TEST

static void
hook_counts(void *arg)
{
	atomic_fetch_add((atomic_uint *)arg, 1);
}

START_TEST(hook_runs_once_per_turn)
{
	struct event_base *base;
	struct loops set;
	atomic_uint turns = 0;

	start_loops(&set, &base, 1);
	loop_add_hook(&set.v[0], hook_counts, &turns);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(atomic_load(&turns), 0);	/* not scheduled */
	loop_schedule(&set.v[0]);
	loop_schedule(&set.v[0]);
	loop_schedule(&set.v[0]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(atomic_load(&turns), 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(atomic_load(&turns), 1);
	loop_schedule(&set.v[0]);
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_uint_eq(atomic_load(&turns), 2);
	end_loops(&set, base);
}
END_TEST

START_TEST(deferred_posts_wake_at_turn_end)
{
	struct event_base *base;
	struct loops set;
	atomic_uint ran = 0;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	unsigned int i, n = 100;

	start_loops(&set, &base, 3);
	for (i = 0; i < n; i++) {
		loop_post_deferred(&set.v[1], count_call, &ran);
		loop_post_deferred(&set.v[2], count_call, &ran);
	}
	nanosleep(&ts, NULL);
	ck_assert_uint_eq(atomic_load(&ran), 0);	/* nobody woken yet */
	event_base_loop(base, EVLOOP_NONBLOCK);		/* the turn ends */
	ck_assert(wait_for(&ran, 2 * n));
	end_loops(&set, base);
	ck_assert_uint_eq(atomic_load(&ran), 2 * n);
}
END_TEST

START_TEST(immediate_post_wakes_for_deferred_ones_too)
{
	struct event_base *base;
	struct loops set;
	atomic_uint ran = 0;

	start_loops(&set, &base, 2);
	loop_post_deferred(&set.v[1], count_call, &ran);
	loop_post_deferred(&set.v[1], count_call, &ran);
	loop_post(&set.v[1], count_call, &ran);	/* the inbox was not empty */
	ck_assert(wait_for(&ran, 3));
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* A deferred post with no turn ending before the stop still runs. */
	loop_post_deferred(&set.v[1], count_call, &ran);
	end_loops(&set, base);
	ck_assert_uint_eq(atomic_load(&ran), 4);
}
END_TEST

static Suite *
loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("loop");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, workers_resolve);
	tcase_add_test(tc, one_loop_posts_are_direct_calls);
	tcase_add_test(tc, posts_run_on_the_worker_in_order_once);
	tcase_add_test(tc, concurrent_posters_keep_their_own_order);
	tcase_add_test(tc, stopped_world_runs_nothing_until_resumed);
	tcase_add_test(tc, stop_runs_what_is_still_waiting);
	tcase_add_test(tc, hook_runs_once_per_turn);
	tcase_add_test(tc, deferred_posts_wake_at_turn_end);
	tcase_add_test(tc, immediate_post_wakes_for_deferred_ones_too);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(loop_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
