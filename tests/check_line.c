/*
 * check_line.c -- unit tests for line.c, the shared lines every output
 * queue references: shared_line_new copies its input (the caller's buffer
 * may change or go away at once), shared_line_printf formats exactly what
 * vsnprintf would, however long, and the reference count starts at one,
 * goes up and down by one and frees on the last unref.  A wrong count
 * here is a use-after-free or a leak in every broadcast, so the counts
 * are checked directly.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "line.h"
#include "sync.h"

static unsigned int
refs(struct shared_line *sl)
{
	return atomic_load(&sl->refs);
}

/* --- shared_line_new --- */

START_TEST(test_new_copies)
{
	char buf[] = "hello, world\n";
	struct shared_line *sl = shared_line_new(buf, sizeof buf - 1);

	ck_assert_uint_eq(sl->len, sizeof buf - 1);
	ck_assert_uint_eq(refs(sl), 1);
	ck_assert_ptr_ne(sl->data, buf);
	ck_assert_int_eq(memcmp(sl->data, "hello, world\n", sl->len), 0);
	/* The line is a copy: changing the source changes nothing. */
	memset(buf, 'x', sizeof buf - 1);
	ck_assert_int_eq(memcmp(sl->data, "hello, world\n", sl->len), 0);
	shared_line_unref(sl);
}
END_TEST

START_TEST(test_new_binary)
{
	static const char bytes[] = { 'a', '\0', 'b', '\r', '\n', '\xff' };
	struct shared_line *sl = shared_line_new(bytes, sizeof bytes);

	/* Every byte kept, NULs included: the length is not strlen. */
	ck_assert_uint_eq(sl->len, sizeof bytes);
	ck_assert_int_eq(memcmp(sl->data, bytes, sizeof bytes), 0);
	shared_line_unref(sl);
}
END_TEST

START_TEST(test_new_empty)
{
	struct shared_line *sl = shared_line_new("", 0);

	ck_assert_uint_eq(sl->len, 0);
	ck_assert_uint_eq(refs(sl), 1);
	shared_line_unref(sl);
}
END_TEST

START_TEST(test_new_large)
{
	size_t len = 256 * 1024, i;
	char *buf = malloc(len);
	struct shared_line *sl;

	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < len; i++)
		buf[i] = (char)(i * 7 + 3);
	sl = shared_line_new(buf, len);
	ck_assert_uint_eq(sl->len, len);
	ck_assert_int_eq(memcmp(sl->data, buf, len), 0);
	free(buf);
	shared_line_unref(sl);
}
END_TEST

/* --- shared_line_printf --- */

START_TEST(test_printf_formats)
{
	struct shared_line *sl;

	sl = shared_line_printf("* %s joined (%d online, %u%%)\n", "alice",
	    3, 42u);
	ck_assert_uint_eq(refs(sl), 1);
	ck_assert_uint_eq(sl->len, strlen("* alice joined (3 online, 42%)\n"));
	ck_assert_int_eq(memcmp(sl->data, "* alice joined (3 online, 42%)\n",
	    sl->len), 0);
	/* Formatted text is NUL-terminated past len (not counted). */
	ck_assert_int_eq(sl->data[sl->len], '\0');
	shared_line_unref(sl);
}
END_TEST

START_TEST(test_printf_empty)
{
	const char *empty = "";
	struct shared_line *sl = shared_line_printf("%s", empty);

	ck_assert_uint_eq(sl->len, 0);
	ck_assert_int_eq(sl->data[0], '\0');
	shared_line_unref(sl);
}
END_TEST

START_TEST(test_printf_long)
{
	/* Longer than any 4 KiB first-guess buffer a formatter might use. */
	size_t n = 10000, i;
	char *arg = malloc(n + 1), *want;
	struct shared_line *sl;
	int wlen;

	ck_assert_ptr_nonnull(arg);
	for (i = 0; i < n; i++)
		arg[i] = (char)('a' + i % 26);
	arg[n] = '\0';
	sl = shared_line_printf("<%s> %zu|%08x\n", arg, n, 0xbeefu);
	wlen = snprintf(NULL, 0, "<%s> %zu|%08x\n", arg, n, 0xbeefu);
	ck_assert_int_gt(wlen, 4096);
	want = malloc((size_t)wlen + 1);
	ck_assert_ptr_nonnull(want);
	snprintf(want, (size_t)wlen + 1, "<%s> %zu|%08x\n", arg, n, 0xbeefu);
	ck_assert_uint_eq(sl->len, (size_t)wlen);
	ck_assert_int_eq(memcmp(sl->data, want, sl->len), 0);
	ck_assert_int_eq(sl->data[sl->len], '\0');
	/* The tail, where a truncating formatter would have lost bytes. */
	ck_assert_int_eq(memcmp(sl->data + sl->len - 10, "|0000beef\n", 10),
	    0);
	free(want);
	free(arg);
	shared_line_unref(sl);
}
END_TEST

START_TEST(test_printf_exact_4k)
{
	/* Lengths around a power of two: 4095, 4096 and 4097 bytes. */
	int len;

	for (len = 4095; len <= 4097; len++) {
		struct shared_line *sl = shared_line_printf("%*s", len, "z");

		ck_assert_uint_eq(sl->len, (size_t)len);
		ck_assert_int_eq(sl->data[0], ' ');
		ck_assert_int_eq(sl->data[len - 1], 'z');
		ck_assert_int_eq(sl->data[len], '\0');
		shared_line_unref(sl);
	}
}
END_TEST

/* --- References --- */

START_TEST(test_ref_unref_counts)
{
	struct shared_line *sl = shared_line_new("x\n", 2);

	ck_assert_uint_eq(refs(sl), 1);
	shared_line_ref(sl);
	ck_assert_uint_eq(refs(sl), 2);
	shared_line_ref(sl);
	shared_line_ref(sl);
	ck_assert_uint_eq(refs(sl), 4);
	shared_line_unref(sl);
	ck_assert_uint_eq(refs(sl), 3);
	shared_line_unref(sl);
	shared_line_unref(sl);
	ck_assert_uint_eq(refs(sl), 1);
	/* Still whole while one reference remains. */
	ck_assert_int_eq(memcmp(sl->data, "x\n", 2), 0);
	shared_line_unref(sl);	/* the last: freed (valgrind sees a leak
				   or an invalid access otherwise) */
}
END_TEST

START_TEST(test_refs_threaded)
{
	/* The same counts with the atomic path sync.c takes for workers. */
	struct shared_line *sl = shared_line_printf("%d\n", 7);
	int i;

	sync_set_threaded(1);
	for (i = 0; i < 1000; i++)
		shared_line_ref(sl);
	ck_assert_uint_eq(refs(sl), 1001);
	for (i = 0; i < 1000; i++)
		shared_line_unref(sl);
	ck_assert_uint_eq(refs(sl), 1);
	shared_line_unref(sl);
	sync_set_threaded(0);
}
END_TEST

START_TEST(test_many_lines_independent)
{
	/* Each line has its own count: unref of one leaves the others. */
	struct shared_line *a = shared_line_new("a", 1);
	struct shared_line *b = shared_line_printf("%s", "b");

	shared_line_ref(a);
	ck_assert_uint_eq(refs(a), 2);
	ck_assert_uint_eq(refs(b), 1);
	shared_line_unref(a);
	ck_assert_uint_eq(refs(a), 1);
	ck_assert_uint_eq(refs(b), 1);
	ck_assert_int_eq(b->data[0], 'b');
	shared_line_unref(a);
	shared_line_unref(b);
}
END_TEST

static Suite *
line_suite(void)
{
	Suite *s = suite_create("line");
	TCase *tc;

	tc = tcase_create("new");
	tcase_add_test(tc, test_new_copies);
	tcase_add_test(tc, test_new_binary);
	tcase_add_test(tc, test_new_empty);
	tcase_add_test(tc, test_new_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("printf");
	tcase_add_test(tc, test_printf_formats);
	tcase_add_test(tc, test_printf_empty);
	tcase_add_test(tc, test_printf_long);
	tcase_add_test(tc, test_printf_exact_4k);
	suite_add_tcase(s, tc);

	tc = tcase_create("refs");
	tcase_add_test(tc, test_ref_unref_counts);
	tcase_add_test(tc, test_refs_threaded);
	tcase_add_test(tc, test_many_lines_independent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(line_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
