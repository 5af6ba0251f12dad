/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_cli.c - the nestlab binary as a user runs it: exit statuses, stdout/stderr split, messages
 *
 * Runs $NESTLAB_BIN (build/nestlab, set by make check) through the proc API with stdout and stderr
 * captured to separate files, so each test can check what went where.
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"
#include "test.h"

struct cli_result {
	int status;		/* exit status, or 128 + signal */
	char *out;		/* stdout */
	char *err;		/* stderr */
};

static char tmp_dir[] = "/tmp/nestlab-test-cli-XXXXXX";

/* slurp() - the file's text, "" when it cannot be read */
static char *slurp(const char *path)
{
	char *text = read_file_text(path);

	return text ? text : xstrdup("");
}

/* cli_run() - run nestlab with @args (NULL-terminated), NESTLAB_CACHE in the test's temp dir */
static void cli_run(struct cli_result *r, const char *const *args)
{
	cleanup_free char *out_path = xasprintf("%s/stdout", tmp_dir);
	cleanup_free char *err_path = xasprintf("%s/stderr", tmp_dir);
	cleanup_error nl_error_t err = NULL;
	const char *bin = getenv("NESTLAB_BIN");
	struct proc p;

	proc_init(&p);
	strv_push(&p.argv, bin ? bin : "build/nestlab");
	for (size_t i = 0; args[i]; i++)
		strv_push(&p.argv, args[i]);
	strv_pushf(&p.env, "NESTLAB_CACHE=%s/cache", tmp_dir);
	strv_push(&p.env, "NESTLAB_HOST_NIC");
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, out_path };
	p.stderr_io = (struct proc_io){ PROC_IO_FILE_TRUNC, err_path };
	r->status = -1;
	if (proc_start(&p, &err) == 0) {
		proc_wait(&p, 30000, &err);
		r->status = p.term_signal ? 128 + p.term_signal : p.exit_status;
	} else {
		test_diag("start nestlab: %s", err->msg);
	}
	proc_release(&p);
	r->out = slurp(out_path);
	r->err = slurp(err_path);
}

static void cli_result_release(struct cli_result *r)
{
	free(r->out);
	free(r->err);
}
#define cleanup_cli __attribute__((cleanup(cli_result_release)))

static int test_version_and_help(void)
{
	cleanup_cli struct cli_result v = { 0 }, h = { 0 };

	cli_run(&v, (const char *[]){ "--version", NULL });
	CHECK(v.status == 0);
	CHECK(!strncmp(v.out, "nestlab ", 8));
	cli_run(&h, (const char *[]){ "--help", NULL });
	CHECK(h.status == 0);
	CHECK_CONTAINS(h.out, "validate");
	CHECK_CONTAINS(h.out, "Exit status:");
	return TEST_PASS;
}

static int test_every_command_has_help(void)
{
	static const char *const cmds[] = { "validate", "plan", "run", "list", "build", "images" };

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		cleanup_cli struct cli_result r = { 0 };

		cli_run(&r, (const char *[]){ cmds[i], "--help", NULL });
		if (r.status != 0 || !strstr(r.out, "Usage: nestlab")) {
			test_diag("nestlab %s --help: status %d, stdout: %s", cmds[i], r.status, r.out);
			return TEST_FAIL;
		}
	}
	return TEST_PASS;
}

static int test_unknown_command_suggests(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "valdate", NULL });
	CHECK(r.status == 2);
	CHECK_CONTAINS(r.err, "did you mean 'validate'?");
	CHECK_STR(r.out, "");
	return TEST_PASS;
}

static int test_validate_good(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "validate", "scenarios/nested-igb.yaml", "scenarios/nested-e1000e.yaml",
				      "scenarios/nested-ixgbe.yaml", "scenarios/refuse-no-caching-mode.yaml",
				      NULL });
	CHECK(r.status == 0);
	CHECK_CONTAINS(r.out, "scenarios/nested-igb.yaml: ok");
	CHECK_CONTAINS(r.out, "scenarios/nested-ixgbe.yaml: ok");
	/* the lab NIC comes from the environment, unset here: a warning, not an error */
	CHECK_CONTAINS(r.err, "warning: nic.host names $NESTLAB_HOST_NIC");
	return TEST_PASS;
}

static int test_validate_bad_file_line_col(void)
{
	cleanup_cli struct cli_result r = { 0 };
	cleanup_free char *path = test_fixture("bad-unknown-key.yaml");

	cli_run(&r, (const char *[]){ "validate", path, NULL });
	CHECK(r.status == 3);
	CHECK_CONTAINS(r.err, "bad-unknown-key.yaml:4:5: error: unknown key \"cachng_mode\"");
	CHECK_CONTAINS(r.err, "hint: did you mean \"caching_mode\"?");
	CHECK_STR(r.out, "");
	return TEST_PASS;
}

static int test_validate_missing_file(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "validate", "no/such/scenario.yaml", NULL });
	CHECK(r.status == 3);
	CHECK_CONTAINS(r.err, "no/such/scenario.yaml");
	return TEST_PASS;
}

/* text that reaches an error message (a path here; guest text in a run) is printed with its control bytes escaped */
static int test_error_escapes_control_bytes(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "validate", "no/such/\x1b]0;owned\x07\x1b[2J\xc2\x9b" "31m\xff.yaml", NULL });
	CHECK(r.status == 3);
	CHECK_CONTAINS(r.err, "no/such/\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b31m\\xff.yaml");
	CHECK(!strchr(r.err, 0x1b) && !strchr(r.err, 0x07) && !strchr(r.err, (char)0x9b) && !strchr(r.err, (char)0xff));
	return TEST_PASS;
}

static int test_validate_plan_contradiction(void)
{
	cleanup_cli struct cli_result r = { 0 };
	cleanup_free char *path = xasprintf("%s/contradiction.yaml", tmp_dir);
	cleanup_file FILE *f = fopen(path, "we");

	CHECK(f);
	fputs("name: contradiction\nl2:\n  viommu:\n    caching_mode: false\n", f);
	fclose(f);
	f = NULL;
	cli_run(&r, (const char *[]){ "validate", path, NULL });
	CHECK(r.status == 3);
	CHECK_CONTAINS(r.err, "contradiction.yaml:4:");
	CHECK_CONTAINS(r.err, "caching-mode=on");
	CHECK_CONTAINS(r.err, "hint:");
	return TEST_PASS;
}

static int test_plan_nested_igb(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "plan", "scenarios/nested-igb.yaml", NULL });
	CHECK(r.status == 0);
	/* intel-iommu with caching-mode in front of L1 (libvirt XML) and of L2 (L1's QEMU argv) */
	CHECK_CONTAINS(r.out, "<iommu model='intel'>");
	CHECK_CONTAINS(r.out, "caching_mode='on'");
	CHECK_CONTAINS(r.out, "intel-iommu,caching-mode=on");
	/* vfio-pci at both levels: L1 binds the NIC, L2's QEMU assigns it */
	CHECK_CONTAINS(r.out, "vfio-pci in L1");
	CHECK_CONTAINS(r.out, "vfio-pci,host=0000:00:02.0");
	CHECK_CONTAINS(r.out, "<qemu:arg value='igb,netdev=nlwire0,id=net0,mac=52:54:00:12:34:56,romfile=,"
			      "bus=pcie.0,addr=0x2'/>");
	return TEST_PASS;
}

static int test_plan_nested_ixgbe(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "plan", "scenarios/nested-ixgbe.yaml", NULL });
	CHECK(r.status == 0);
	CHECK_CONTAINS(r.out, "<hostdev mode='subsystem' type='pci' managed='yes'>");
	CHECK_CONTAINS(r.out, "caching_mode='on'");
	CHECK_CONTAINS(r.out, "intel-iommu,caching-mode=on");
	CHECK_CONTAINS(r.out, "vfio-pci,host=0000:00:02.0");
	return TEST_PASS;
}

static int test_plan_usage_errors(void)
{
	cleanup_cli struct cli_result none = { 0 }, two = { 0 };

	cli_run(&none, (const char *[]){ "plan", NULL });
	CHECK(none.status == 2);
	CHECK_CONTAINS(none.err, "see 'nestlab plan --help'");
	cli_run(&two, (const char *[]){ "plan", "a.yaml", "b.yaml", NULL });
	CHECK(two.status == 2);
	return TEST_PASS;
}

/*
 * run --no-setup with an empty cache stops with a Bail out! naming what is missing and how to get it;
 * stdout carries TAP only, plan.txt and junit.xml are written
 */
static int test_run_bails_out_honestly(void)
{
	cleanup_cli struct cli_result r = { 0 };
	cleanup_free char *junit = xasprintf("%s/cache/runs/latest-nested-igb/junit.xml", tmp_dir);
	cleanup_free char *plan = xasprintf("%s/cache/runs/latest-nested-igb/plan.txt", tmp_dir);
	struct stat st;

	cli_run(&r, (const char *[]){ "run", "--no-setup", "scenarios/nested-igb.yaml", NULL });
	CHECK(r.status == 4);
	CHECK(!strncmp(r.out, "TAP version 13\n", 15));
	CHECK_CONTAINS(r.out, "\nBail out! ");
	CHECK_CONTAINS(r.out, "is not in the cache; hint: run without --no-setup");
	for (const char *line = r.out; *line; line = strchr(line, '\n') + 1) {
		if (strncmp(line, "TAP ", 4) && strncmp(line, "ok ", 3) && strncmp(line, "not ok ", 7) &&
		    strncmp(line, "# ", 2) && strncmp(line, "Bail out!", 9) && strncmp(line, "1..", 3) &&
		    strncmp(line, "  ", 2)) {
			test_diag("not a TAP line on stdout: %.80s", line);
			return TEST_FAIL;
		}
		if (!strchr(line, '\n'))
			break;
	}
	CHECK(stat(junit, &st) == 0);
	CHECK(stat(plan, &st) == 0);
	CHECK_CONTAINS(r.err, "run directory");
	return TEST_PASS;
}

static int test_build_images_refuse(void)
{
	cleanup_cli struct cli_result b = { 0 }, i = { 0 };

	/* `build all` for real takes half an hour: test_build.c builds a tiny component instead */
	cli_run(&b, (const char *[]){ "build", "everything", NULL });
	CHECK(b.status == 2);
	CHECK_CONTAINS(b.err, "expected one of qemu, linux, all");
	CHECK(b.out[0] == '\0');
	/* a real `images` runs mmdebstrap and libguestfs for minutes: test_image.c covers its parts */
	cli_run(&i, (const char *[]){ "images", "--no-such-option", NULL });
	CHECK(i.status == 2);
	CHECK_CONTAINS(i.err, "see 'nestlab images --help'");
	return TEST_PASS;
}

/*
 * test_numeric_options() - every numeric option (build's -j/--jobs and --timeout) takes digits in its
 * range and nothing else: exit 2, a message naming the option, the value and the range, nothing on
 * stdout. The target "everything" is invalid too, so that a value taken by mistake still builds
 * nothing; the option's own message must come first. (Before, atoi() made "-j abc" all CPUs.)
 */
static int test_numeric_options(void)
{
	static const struct {
		const char *opt, *value, *range;
	} bad[] = {
		{ "-j", "abc", "from 1 to 1024" },	   { "-j", "0", "from 1 to 1024" },
		{ "-j", "5x", "from 1 to 1024" },	   { "--jobs", "-3", "from 1 to 1024" },
		{ "--jobs", "", "from 1 to 1024" },	   { "-j", "18446744073709551617", "from 1 to 1024" },
		{ "--timeout", "abc", "from 0 to 604800" }, { "--timeout", "-1", "from 0 to 604800" },
		{ "--timeout", "1e3", "from 0 to 604800" }, { "--timeout", "604801", "from 0 to 604800" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_cli struct cli_result r = { 0 };
		cleanup_free char *want = xasprintf("'%s': expected a whole number %s", bad[i].value, bad[i].range);

		cli_run(&r, (const char *[]){ "build", bad[i].opt, bad[i].value, "everything", NULL });
		if (r.status != 2 || !strstr(r.err, want) || r.out[0]) {
			test_diag("build %s '%s': exit %d, stderr: %s", bad[i].opt, bad[i].value, r.status, r.err);
			return TEST_FAIL;
		}
	}
	{
		cleanup_cli struct cli_result ok = { 0 };

		/* good values pass the option check and reach the target check */
		cli_run(&ok, (const char *[]){ "build", "-j", "2", "--timeout", "0", "everything", NULL });
		CHECK(ok.status == 2);
		CHECK_CONTAINS(ok.err, "expected one of qemu, linux, all");
	}
	return TEST_PASS;
}

static int test_list(void)
{
	cleanup_cli struct cli_result r = { 0 };

	cli_run(&r, (const char *[]){ "list", NULL });
	CHECK(r.status == 0);
	CHECK_CONTAINS(r.out, "make scenario-nested-igb");
	CHECK_CONTAINS(r.out, "make scenario-nested-ixgbe");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_version_and_help),
	TEST_CASE(test_every_command_has_help),
	TEST_CASE(test_unknown_command_suggests),
	TEST_CASE(test_validate_good),
	TEST_CASE(test_validate_bad_file_line_col),
	TEST_CASE(test_validate_missing_file),
	TEST_CASE(test_error_escapes_control_bytes),
	TEST_CASE(test_validate_plan_contradiction),
	TEST_CASE(test_plan_nested_igb),
	TEST_CASE(test_plan_nested_ixgbe),
	TEST_CASE(test_plan_usage_errors),
	TEST_CASE(test_run_bails_out_honestly),
	TEST_CASE(test_build_images_refuse),
	TEST_CASE(test_numeric_options),
	TEST_CASE(test_list),
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(void)
{
	int ret;

	if (!mkdtemp(tmp_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	ret = test_main(tests, ARRAY_SIZE(tests));
	nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
