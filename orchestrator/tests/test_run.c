/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_run.c - unit tests for run.c's helpers that need no guest: what a failed write into the run
 * directory does to the run (test_scenarios and test_interrupt run whole scenarios)
 *
 * /dev/full stands for a full disk: the kernel answers every write to it with ENOSPC.
 */
#include <errno.h>
#include <unistd.h>

#include "run_internal.h"
#include "test.h"

static int test_save_full_disk_ends_run(void)
{
	struct run r = { .dir = "/dev", .t0_ms = now_ms() };
	cleanup_error nl_error_t err = NULL;

	if (access("/dev/full", W_OK) < 0)
		return test_skip("no writable /dev/full");
	run_save(&r, "null", "fine\n", 5);
	CHECK(run_saves_ok(&r, &err) == 0);
	CHECK(err == NULL);
	run_save(&r, "full", "shadow.txt's lines\n", 19);
	run_save(&r, "full", "and more\n", 9);	/* the first failure is the one reported */
	CHECK(r.save_err != NULL);
	CHECK(run_saves_ok(&r, &err) < 0);
	test_diag("%s", err->msg);
	CHECK(err->errnum == ENOSPC);
	CHECK_CONTAINS(err->msg, "the run's evidence is incomplete: write /dev/full: No space left on device");
	CHECK_CONTAINS(err->msg, "the file system holding /dev (");
	CHECK_CONTAINS(err->msg, "ran out of room for the run directory: free space there, or point NESTLAB_CACHE at");
	CHECK(r.save_err == NULL);	/* taken: reported once */
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_save_full_disk_ends_run),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
