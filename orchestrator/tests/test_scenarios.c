/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_scenarios.c - the main job end to end: `nestlab run` of real scenarios on the real chain
 *
 * No fakes: the binary under test ($NESTLAB_BIN) builds what the cache lacks (QEMU, Linux, images;
 * tens of minutes on a fresh machine, seconds when cached), boots L1 under libvirt's embedded driver,
 * L2 inside it, and runs the checks. Each case reads the TAP the run printed.
 *   nested-igb            every TAP point ok (QEMU confined by seccomp at both levels among them), exit status 0
 *   nested-igb-vfio       the same with nestlab's userspace VFIO driver in L2; check d also points the NIC
 *                         at a receive buffer's IOVA after L2 unmapped it: the write must be blocked
 *   nested-igb-drop-map   x-drop-map-notify=100 in L1's QEMU: the shadow check is `not ok`, its
 *                         diagnostic names an IOVA and the level where the views part, exit status 1
 *   nested-igb-walk-limits x-query-vtd-mappings limited to 8 mappings and 1 page table on L1's QEMU: the
 *                         shadow check is `not ok` and quotes QEMU's max-entries and max-tables errors
 * NESTLAB_QUICK=1 skips them (a development loop on the unit tests); the skip says so.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"
#include "test.h"

#define RUN_TIMEOUT_MS (90 * 60 * 1000)	/* a cold cache builds QEMU, Linux and the images first */

struct run_result {
	int status;		/* exit status of nestlab run */
	char *tap;		/* its stdout */
	char *err;		/* its stderr */
};

static void run_result_release(struct run_result *r)
{
	free(r->tap);
	free(r->err);
	r->tap = r->err = NULL;
}

/*
 * run_scenario() - `nestlab run scenarios/@name.yaml`, stdout and stderr kept apart. Once, with no retry:
 * a run that fails by chance (an L2 that resets by itself, say) fails the test, so that a flake is seen
 * and counted (bench/repeat-run.sh) rather than hidden.
 */
static int run_scenario(const char *name, struct run_result *res)
{
	const char *bin = getenv("NESTLAB_BIN") ? getenv("NESTLAB_BIN") : "build/nestlab";
	cleanup_free char *dir = xasprintf("%s/nestlab-test-scenarios-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cleanup_free char *tap = NULL, *errp = NULL, *script = NULL, *out = NULL;
	cleanup_error nl_error_t err = NULL;
	char *argv[] = { (char *)"sh", (char *)"-c", NULL, NULL };
	int rc;

	if (!mkdtemp(dir))
		return -1;
	tap = xasprintf("%s/tap", dir);
	errp = xasprintf("%s/stderr", dir);
	script = xasprintf("%s run scenarios/%s.yaml >%s 2>%s; echo status=$?", bin, name, tap, errp);
	argv[2] = script;
	rc = proc_run(argv, RUN_TIMEOUT_MS, &out, &err);
	res->tap = read_file_text(tap);
	res->err = read_file_text(errp);
	res->status = -1;
	if (rc < 0 || !out || !strstr(out, "status=")) {
		test_diag("nestlab run %s: %s", name, err ? err->msg : "no status");
		return -1;
	}
	res->status = atoi(strstr(out, "status=") + 7);
	test_diag("nestlab run %s: exit status %d", name, res->status);
	return 0;
}

/* show() - the run's TAP and the end of its stderr as diagnostics */
static void show(const struct run_result *r)
{
	test_diag_run(r->tap, r->err);
}

/* tap_line() - the first line of @tap that starts with @prefix and contains @needle, or NULL */
static const char *tap_line(const char *tap, const char *prefix, const char *needle)
{
	for (const char *line = tap; line && *line;) {
		size_t n = strcspn(line, "\n");

		if (!strncmp(line, prefix, strlen(prefix)) && memmem(line, n, needle, strlen(needle)))
			return line;
		line += n + (line[n] == '\n');
	}
	return NULL;
}

static bool quick(void)
{
	return getenv("NESTLAB_QUICK") && *getenv("NESTLAB_QUICK") && strcmp(getenv("NESTLAB_QUICK"), "0");
}

/*
 * expect_all_ok() - run scenario @name: exit status 0, no `not ok`, no Bail out!, and an `ok` point
 * containing each of the NULL-terminated @points
 */
static int expect_all_ok(const char *name, const char *const *points)
{
	struct run_result r = { 0 };
	bool ok;

	if (quick())
		return test_skip("NESTLAB_QUICK is set: the end-to-end scenario run is skipped");
	if (run_scenario(name, &r) < 0 || !r.tap) {
		run_result_release(&r);
		return TEST_FAIL;
	}
	ok = r.status == 0 && !tap_line(r.tap, "not ok", "") && !strstr(r.tap, "Bail out!");
	for (const char *const *p = points; ok && *p; p++)
		if (!tap_line(r.tap, "ok ", *p)) {
			test_diag("no `ok` point containing \"%s\"", *p);
			ok = false;
		}
	if (!ok)
		show(&r);
	run_result_release(&r);
	return ok ? TEST_PASS : TEST_FAIL;
}

/* test_nested_igb() - make scenario-nested-igb: every point ok */
static int test_nested_igb(void)
{
	return expect_all_ok("nested-igb", (const char *const[]){ "traffic L0->L2", "traffic L2->L0", "IOMMU in use",
								  "QEMU confined", "shadow consistency", "after unmap",
								  "no unexpected DMAR faults", NULL });
}

/* test_nested_igb_vfio() - the userspace VFIO driver in L2, and a DMA to a stale IOVA blocked */
static int test_nested_igb_vfio(void)
{
	return expect_all_ok("nested-igb-vfio", (const char *const[]){ "shadow consistency", "write to stale IOVA",
								       "no unexpected DMAR faults", NULL });
}

/* test_drop_map_is_caught() - the injected fault makes the shadow check fail and name an IOVA */
static int test_drop_map_is_caught(void)
{
	struct run_result r = { 0 };
	const char *nok;
	int ret = TEST_FAIL;

	if (quick())
		return test_skip("NESTLAB_QUICK is set: the end-to-end scenario run is skipped");
	if (run_scenario("nested-igb-drop-map", &r) < 0 || !r.tap)
		goto out;
	nok = tap_line(r.tap, "not ok", "shadow consistency");
	if (r.status != 1 || !nok || strstr(r.tap, "Bail out!")) {
		test_diag("expected exit status 1 and `not ok ... shadow consistency`");
		show(&r);
		goto out;
	}
	/* the point's YAML block follows its line: it must name an IOVA and the view that lacks it */
	{
		const char *end = strstr(nok, "\n  ...");
		cleanup_free char *block = end ? xstrndup(nok, (size_t)(end - nok)) : xstrdup(nok);

		if (!strstr(block, "iova 0x") && !strstr(block, "IOVA 0x")) {
			test_diag("the shadow diagnostic names no IOVA");
			show(&r);
			goto out;
		}
		if (!strstr(block, "vfio") && !strstr(block, "L0")) {
			test_diag("the shadow diagnostic names no level below L1 QEMU's shadow");
			show(&r);
			goto out;
		}
		test_diag("%s", block);
	}
	ret = TEST_PASS;
out:
	run_result_release(&r);
	return ret;
}

/*
 * test_walk_limits_refused() - L1's QEMU refuses x-query-vtd-mappings past max-entries and max-tables, and
 * the run ends with a failed shadow check that says which limit and how to raise it (patches/qemu/0004)
 */
static int test_walk_limits_refused(void)
{
	static const char *const needles[] = {
		"has more than max-entries (8) mappings", "raise 'max-entries'",
		"stopped at max-tables (1 tables)", "raise 'max-tables'",
	};
	struct run_result r = { 0 };
	const char *nok;
	int ret = TEST_FAIL;

	if (quick())
		return test_skip("NESTLAB_QUICK is set: the end-to-end scenario run is skipped");
	if (run_scenario("nested-igb-walk-limits", &r) < 0 || !r.tap)
		goto out;
	nok = tap_line(r.tap, "not ok", "shadow consistency");
	if (r.status != 1 || !nok || strstr(r.tap, "Bail out!")) {
		test_diag("expected exit status 1 and `not ok ... shadow consistency`");
		show(&r);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(needles); i++)
		if (!strstr(nok, needles[i])) {
			test_diag("the shadow diagnostic lacks \"%s\"", needles[i]);
			show(&r);
			goto out;
		}
	ret = TEST_PASS;
out:
	run_result_release(&r);
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_nested_igb),
	TEST_CASE(test_nested_igb_vfio),
	TEST_CASE(test_drop_map_is_caught),
	TEST_CASE(test_walk_limits_refused),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
