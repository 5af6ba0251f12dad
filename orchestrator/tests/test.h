/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test.h - the unit-test harness: each test binary prints TAP 13, read by automake's tap-driver.sh
 *
 *	static int test_parse_ok(void) { CHECK(x == 1); return TEST_PASS; }
 *	static const struct test_case tests[] = { TEST_CASE(test_parse_ok), };
 *	int main(void) { return test_main(tests, ARRAY_SIZE(tests)); }
 *
 * A test returns TEST_PASS, TEST_FAIL, or test_skip("reason") (what needs root, KVM or hardware
 * skips with a reason, never fails for that). CHECK() prints the failed condition with file:line as a TAP
 * diagnostic and fails the test.
 * NESTLAB_TESTS=name,name runs only the cases named (the others skip), to iterate on one slow case.
 */
#ifndef NESTLAB_TEST_H
#define NESTLAB_TEST_H

#include <stdio.h>
#include <string.h>

#include "util.h"

enum { TEST_PASS = 0, TEST_FAIL = 1, TEST_SKIP = 77 };

struct test_case {
	const char *name;
	int (*fn)(void);
};
#define TEST_CASE(fn) { #fn, fn }

/* test_skip() - record why the current test skips; returns TEST_SKIP */
int test_skip(const char *fmt, ...) PRINTF_FMT(1, 2);
/* test_diag() - print a "# " diagnostic line (stdout, so it lands in the test log next to its test) */
void test_diag(const char *fmt, ...) PRINTF_FMT(1, 2);
/* test_diag_run() - what a command printed: each line of @out as "# | LINE", then the end of @err */
void test_diag_run(const char *out, const char *err);
/* test_main() - run every case, print TAP; exit status 0 when none failed */
int test_main(const struct test_case *cases, size_t n);
/* test_fixture() - path of a file under orchestrator/tests/fixtures (honours $NESTLAB_FIXTURES) */
char *test_fixture(const char *name);

/* test_nestlab_bin() - $NESTLAB_BIN (make sets it), else build/nestlab */
const char *test_nestlab_bin(void);
/*
 * test_setup_cache() - `nestlab build all` then `nestlab images`, as a run's set-up does (no-ops on a warm
 * cache; a cold one is filled, up to 90 minutes). Return: 0, or -1 with the output as diagnostics.
 */
int test_setup_cache(void);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			test_diag("%s:%d: CHECK failed: %s", __FILE__, __LINE__, #cond); \
			return TEST_FAIL;                                              \
		}                                                                      \
	} while (0)

#define CHECK_STR(a, b)                                                                        \
	do {                                                                                   \
		const char *a_ = (a), *b_ = (b);                                               \
		if (!a_ || !b_ || strcmp(a_, b_)) {                                            \
			test_diag("%s:%d: CHECK_STR failed: %s == %s", __FILE__, __LINE__, #a, #b); \
			test_diag("  got:      %s", a_ ? a_ : "(null)");                       \
			test_diag("  expected: %s", b_ ? b_ : "(null)");                       \
			return TEST_FAIL;                                                      \
		}                                                                              \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                              \
	do {                                                                                     \
		const char *h_ = (hay), *n_ = (needle);                                          \
		if (!h_ || !strstr(h_, n_)) {                                                    \
			test_diag("%s:%d: CHECK_CONTAINS failed: %s contains %s", __FILE__, __LINE__, \
				  #hay, #needle);                                                \
			test_diag("  text:   %s", h_ ? h_ : "(null)");                               \
			test_diag("  wanted: %s", n_);                                            \
			return TEST_FAIL;                                                        \
		}                                                                                \
	} while (0)

#endif /* NESTLAB_TEST_H */
