/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_parallel_runs.c - (make check-slow) three end-to-end runs share the host: nested-igb twice and
 * nested-e1000e, started together, all pass
 *
 * Each run is the real `nestlab run --no-setup` (L1 under TCG, L2 under KVM in L1, 1000 frames each way
 * and every check), so this takes minutes: one run alone is about 35 s on an idle machine, three at once
 * on two cores several times that. What must hold: every run exits 0 with no `not ok`, the two runs of
 * nested-igb get run directories of their own although they start in the same second, latest-nested-igb
 * names one of them, and nothing a run uses (its wire sockets, its libvirt root, its domain) is another's.
 * `sh bench/parallel-runs.sh` gives the times; this test only checks the behaviour.
 *
 * The cache is filled first (`nestlab build all`, `nestlab images`: no-ops when warm), so that the runs
 * themselves take no build lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "fs.h"
#include "proc.h"

#define RUNS 3
#define RUN_TIMEOUT_MS (45 * 60 * 1000)		/* three runs at once on a busy two-core host */

static const char *const scenarios[RUNS] = { "nested-igb", "nested-igb", "nested-e1000e" };

struct one_run {
	struct proc proc;
	char *tap_path, *err_path;
	char *tap, *dir;
	uint64_t t0_ms, wall_ms;
};

/* run_dir_of() - the run directory that a run's TAP names ("# scenario X, run directory DIR"); or NULL */
static char *run_dir_of(const char *tap)
{
	const char *p = tap ? strstr(tap, ", run directory ") : NULL;

	if (!p)
		return NULL;
	p += strlen(", run directory ");
	return xstrndup(p, strcspn(p, "\n"));
}

/* start_run() - nestlab run --no-setup scenarios/@name.yaml, TAP into @dir/run-@i.tap */
static int start_run(struct one_run *r, const char *name, const char *dir, int i)
{
	cleanup_error nl_error_t err = NULL;

	proc_init(&r->proc);
	r->tap_path = xasprintf("%s/run-%d.tap", dir, i);
	r->err_path = xasprintf("%s/run-%d.stderr", dir, i);
	strv_push(&r->proc.argv, test_nestlab_bin());
	strv_push(&r->proc.argv, "run");
	strv_push(&r->proc.argv, "--no-setup");
	strv_pushf(&r->proc.argv, "scenarios/%s.yaml", name);
	r->proc.name = xasprintf("nestlab run %s (%d)", name, i);
	r->proc.stdin_io.mode = PROC_IO_NULL;
	r->proc.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, r->tap_path };
	r->proc.stderr_io = (struct proc_io){ PROC_IO_FILE_TRUNC, r->err_path };
	r->t0_ms = now_ms();
	if (proc_start(&r->proc, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	return 0;
}

/* check_run() - it exited 0 with TAP and no `not ok`; diagnoses and returns false otherwise */
static bool check_run(struct one_run *r, const char *name, int i)
{
	cleanup_error nl_error_t err = NULL;
	bool ok = true;

	if (proc_wait(&r->proc, RUN_TIMEOUT_MS, &err) < 0) {
		test_diag("run %d (%s): %s", i, name, err->msg);
		ok = false;
	}
	r->wall_ms = now_ms() - r->t0_ms;
	r->tap = read_file_text(r->tap_path);
	r->dir = run_dir_of(r->tap);
	if (!r->tap || !strstr(r->tap, "\nok ") || strstr(r->tap, "\nnot ok ") || strstr(r->tap, "Bail out!")) {
		cleanup_free char *stderr_text = read_file_text(r->err_path);

		test_diag("run %d (%s) did not pass; its TAP and the end of its stderr:", i, name);
		test_diag_run(r->tap, stderr_text);
		ok = false;
	}
	if (!r->dir) {
		test_diag("run %d (%s): no run directory in its TAP", i, name);
		ok = false;
	}
	return ok;
}

/*
 * test_three_runs_at_once() - nested-igb twice and nested-e1000e, started together: all pass, in run
 * directories of their own; latest-nested-igb names one of the two nested-igb runs
 */
static int test_three_runs_at_once(void)
{
	char tmp[] = "/tmp/nestlab-test-parallel-XXXXXX";
	struct one_run runs[RUNS] = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *cache = fs_cache_dir(&err), *link = NULL, *latest = NULL;
	bool ok = true;
	uint64_t t0;

	if (access(test_nestlab_bin(), X_OK) < 0)
		return test_skip("%s is not built (make)", test_nestlab_bin());
	if (!cache) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	CHECK(mkdtemp(tmp) != NULL);
	if (test_setup_cache() < 0)
		return TEST_FAIL;
	t0 = now_ms();
	for (int i = 0; i < RUNS; i++)
		CHECK(start_run(&runs[i], scenarios[i], tmp, i) == 0);
	for (int i = 0; i < RUNS; i++)
		ok = check_run(&runs[i], scenarios[i], i) && ok;
	test_diag("three runs at once: %.1f s wall", (double)(now_ms() - t0) / 1000);
	for (int i = 0; i < RUNS; i++)
		test_diag("  run %d %-14s %.1f s  %s", i, scenarios[i], (double)runs[i].wall_ms / 1000,
			  runs[i].dir ? runs[i].dir : "?");
	if (ok) {
		CHECK(strcmp(runs[0].dir, runs[1].dir) && strcmp(runs[0].dir, runs[2].dir) &&
		      strcmp(runs[1].dir, runs[2].dir));
		link = xasprintf("%s/runs/latest-nested-igb", cache);
		latest = realpath(link, NULL);
		CHECK(latest && (!strcmp(latest, runs[0].dir) || !strcmp(latest, runs[1].dir)));
	}
	for (int i = 0; i < RUNS; i++) {
		unlink(runs[i].tap_path);
		unlink(runs[i].err_path);
		free(runs[i].tap_path);
		free(runs[i].err_path);
		free(runs[i].tap);
		free(runs[i].dir);
		proc_release(&runs[i].proc);
	}
	rmdir(tmp);
	return ok ? TEST_PASS : TEST_FAIL;
}

static const struct test_case tests[] = {
	TEST_CASE(test_three_runs_at_once),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
