/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_build.c - unit tests for build*.c: the cache key, the series, patch failures, progress lines,
 * apt entries, the kernel config check, and whole builds of a tiny component through build_run()
 *
 * The tiny component is a tarball made here whose "compile" step is a shell script: it goes through
 * the same pipeline as QEMU and Linux (tar, patch, steps through the proc API, artefacts, manifest,
 * `current`), with real tar, patch, git and sh. Nothing touches the network or /etc/apt: the Debian
 * case is tested with a pre-filled cache and a fake apt directory.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "build.h"
#include "fs.h"
#include "plan.h"
#include "proc.h"
#include "scenario.h"
#include "loop.h"
#include "test.h"

static char tmp_root[] = "/tmp/nestlab-test-build-XXXXXX";
static unsigned tmp_serial;

/* ---- helpers ----------------------------------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
	cleanup_error nl_error_t err = NULL;

	return fs_write_text(path, text, &err);
}

/* new_dir() - a fresh directory under the test's temp root */
static char *new_dir(const char *what)
{
	char *dir = xasprintf("%s/%s-%u", tmp_root, what, ++tmp_serial);

	mkdir(dir, 0755);
	return dir;
}

/* run_quiet() - run a command, true when it exited 0 */
static bool run_quiet(char *const *argv)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *output = NULL;

	if (proc_run(argv, 30000, &output, &err) < 0) {
		test_diag("%s: %s", argv[0], err->msg);
		return false;
	}
	return true;
}

#define FAKE_BUILD_SH                                                                 \
	"set -e\n"                                                                    \
	"echo '[1/3] Compiling C object a.o'\n"                                        \
	"echo 'some warning on stderr' >&2\n"                                          \
	"echo '[2/3] Compiling C object b.o'\n"                                        \
	"echo '[3/3] Linking target out.bin'\n"                                        \
	"cat \"$(dirname \"$0\")/message\" > \"$1/out.bin\"\n"

/* make_source() - a tree fake-1.0/{build.sh,message} and its tarball; returns the tarball path */
static char *make_source(const char *build_sh)
{
	cleanup_free char *dir = new_dir("src");
	cleanup_free char *tree = xasprintf("%s/fake-1.0", dir);
	cleanup_free char *sh = xasprintf("%s/build.sh", tree);
	cleanup_free char *msg = xasprintf("%s/message", tree);
	char *tarball = xasprintf("%s/fake-1.0.tar.gz", dir);
	char *argv[] = { "tar", "-czf", tarball, "-C", dir, "fake-1.0", NULL };

	mkdir(tree, 0755);
	if (write_text(sh, build_sh) < 0 || write_text(msg, "original\n") < 0 || !run_quiet(argv)) {
		free(tarball);
		return NULL;
	}
	return tarball;
}

#define GOOD_PATCH "--- a/message\n+++ b/message\n@@ -1 +1 @@\n-original\n+patched\n"
#define BAD_PATCH "--- a/message\n+++ b/message\n@@ -1 +1 @@\n-something else\n+other\n"

/* make_series() - a series directory with the given patches (name, text pairs, NULL-terminated) */
static char *make_series(const char *series_text, const char *const *files)
{
	char *dir = new_dir("patches");
	cleanup_free char *series = xasprintf("%s/series", dir);

	write_text(series, series_text);
	for (size_t i = 0; files && files[i]; i += 2) {
		cleanup_free char *path = xasprintf("%s/%s", dir, files[i]);

		write_text(path, files[i + 1]);
	}
	return dir;
}

static const char *const fake_compile[] = { "sh", "@SRC@/build.sh", "@BUILD@", NULL };
static const struct build_step fake_steps[] = {
	{ "compile", "@BUILD@", fake_compile, BUILD_PROGRESS_NINJA },
};
static const struct build_artefact fake_artefacts[] = { { "@BUILD@/out.bin", "out.bin" } };
static const struct build_component fake_component = {
	.name = "fake",
	.package = "fake",
	.steps = fake_steps,
	.n_steps = ARRAY_SIZE(fake_steps),
	.artefacts = fake_artefacts,
	.n_artefacts = ARRAY_SIZE(fake_artefacts),
};

/* tarball_source() - a plan_source for @tarball with @patches (both borrowed: release with free_source) */
static struct plan_source tarball_source(const char *tarball, const char *patches)
{
	return (struct plan_source){ .kind = SCN_SRC_TARBALL, .tarball = xstrdup(tarball),
				     .patches = patches ? xstrdup(patches) : NULL };
}

static struct build_options quiet_options(const char *cache)
{
	return (struct build_options){ .cache_dir = cache, .jobs = 1, .step_timeout_ms = 60000 };
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* dir_listing() - the names in @dir (byte order), one per line, then where `current` points */
static char *dir_listing(const char *dir)
{
	cleanup_strv char **names = xcalloc(1, sizeof(char *));
	cleanup_free char *link = xasprintf("%s/current", dir);
	struct strbuf sb = STRBUF_INIT;
	char target[256] = "";
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strv_push(&names, de->d_name);
	if (d)
		closedir(d);
	qsort(names, strv_len(names), sizeof(char *), cmp_names);
	for (size_t i = 0; names[i]; i++)
		strbuf_printf(&sb, "%s\n", names[i]);
	if (n > 0)
		target[n] = '\0';
	strbuf_printf(&sb, "current -> %s\n", target);
	return strbuf_detach(&sb);
}

/* ---- sha256 and the key ------------------------------------------------------------------------ */

static int test_sha256_known_answer(void)
{
	char hex[BUILD_SHA256_HEX_LEN + 1];

	build_sha256_hex("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	build_sha256_hex("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	return TEST_PASS;
}

/* key_of() - the key of the fake component with the given patch and config files */
static char *key_of(char **patches, char **configs, const char *compiler, const struct build_component *comp)
{
	struct build b = { .comp = comp, .patches = patches, .configs = configs,
			   .source_id = "tarball fake-1.0.tar.gz sha256=00", .tools_id = NULL };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *text = NULL;

	if (build_key_text(&b, compiler, &text, &err) < 0)
		return xasprintf("error: %s", err->msg);
	return build_key_from_text(text);
}

static int test_key_stable_and_sensitive(void)
{
	const char *const files[] = { "0001-a.patch", GOOD_PATCH, "0002-b.patch", "+b\n", "extra.config", "CONFIG_A=y\n",
				      NULL };
	cleanup_free char *dir = make_series("0001-a.patch\n0002-b.patch\n", files);
	cleanup_free char *p1 = xasprintf("%s/0001-a.patch", dir);
	cleanup_free char *p2 = xasprintf("%s/0002-b.patch", dir);
	cleanup_free char *cfg = xasprintf("%s/extra.config", dir);
	char *patches[] = { p1, p2, NULL };
	char *swapped[] = { p2, p1, NULL };
	char *configs[] = { cfg, NULL };
	cleanup_free char *base = key_of(patches, configs, "gcc 12.2.0", &fake_component);
	cleanup_free char *again = key_of(patches, configs, "gcc 12.2.0", &fake_component);
	cleanup_free char *other_cc = key_of(patches, configs, "gcc 14.2.0", &fake_component);
	cleanup_free char *other_order = key_of(swapped, configs, "gcc 12.2.0", &fake_component);
	cleanup_free char *no_config = key_of(patches, NULL, "gcc 12.2.0", &fake_component);
	cleanup_free char *byte_changed = NULL, *config_changed = NULL, *flags_changed = NULL;
	struct build_component other_flags = fake_component;
	static const char *const other_compile[] = { "sh", "@SRC@/build.sh", "@BUILD@", "--fast", NULL };
	static const struct build_step other_steps[] = { { "compile", "@BUILD@", other_compile, BUILD_PROGRESS_NINJA } };

	test_diag("key %s", base);
	CHECK(strlen(base) == BUILD_KEY_HEX_LEN);
	/* stable across runs and releases: a change here invalidates every cache, so make it on purpose */
	CHECK_STR(base, "241112665d591f45");
	CHECK_STR(again, base);
	CHECK(strcmp(other_cc, base));
	CHECK(strcmp(other_order, base));
	CHECK(strcmp(no_config, base));

	write_text(p2, "+c\n");	/* one byte of one patch */
	byte_changed = key_of(patches, configs, "gcc 12.2.0", &fake_component);
	CHECK(strcmp(byte_changed, base));
	write_text(p2, "+b\n");
	write_text(cfg, "CONFIG_A=n\n");
	config_changed = key_of(patches, configs, "gcc 12.2.0", &fake_component);
	CHECK(strcmp(config_changed, base));
	write_text(cfg, "CONFIG_A=y\n");
	other_flags.steps = other_steps;
	flags_changed = key_of(patches, configs, "gcc 12.2.0", &other_flags);
	CHECK(strcmp(flags_changed, base));
	{
		cleanup_free char *back = key_of(patches, configs, "gcc 12.2.0", &fake_component);

		CHECK_STR(back, base);
	}
	return TEST_PASS;
}

/* ---- the series -------------------------------------------------------------------------------- */

static int test_series_comments_and_order(void)
{
	const char *const files[] = { "0001-a.patch", "x", "0002-b.patch", "y", NULL };
	cleanup_free char *dir = make_series("# the series\n\n0002-b.patch   # applied first\n  \n\t0001-a.patch\n# end\n",
					     files);
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **patches = NULL;
	cleanup_free char *want0 = xasprintf("%s/0002-b.patch", dir);
	cleanup_free char *want1 = xasprintf("%s/0001-a.patch", dir);

	CHECK(build_series_read(dir, &patches, &err) == 0);
	CHECK(strv_len(patches) == 2);
	CHECK_STR(patches[0], want0);
	CHECK_STR(patches[1], want1);
	return TEST_PASS;
}

static int test_series_missing_file(void)
{
	const char *const files[] = { "0001-a.patch", "x", NULL };
	cleanup_free char *dir = make_series("0001-a.patch\n\n0002-gone.patch\n", files);
	cleanup_free char *empty = new_dir("empty");
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **patches = NULL;

	CHECK(build_series_read(dir, &patches, &err) < 0);
	test_diag("%s", err->msg);
	CHECK_CONTAINS(err->msg, "series:3: 0002-gone.patch");
	CHECK_CONTAINS(err->msg, "No such file");
	nl_error_release(&err);
	CHECK(build_series_read(empty, &patches, &err) < 0);
	CHECK_CONTAINS(err->msg, "/series");
	return TEST_PASS;
}

static int test_series_quilt_options_refused(void)
{
	const char *const files[] = { "0001-a.patch", "x", NULL };
	cleanup_free char *dir = make_series("0001-a.patch -p0\n", files);
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **patches = NULL;

	CHECK(build_series_read(dir, &patches, &err) < 0);
	CHECK_CONTAINS(err->msg, "series:1: '0001-a.patch -p0'");
	return TEST_PASS;
}

/* ---- patch's output ---------------------------------------------------------------------------- */

static int test_patch_failure_text(void)
{
	static const char hunk_failed[] = "patching file include/qemu/iova-tree.h\n"
					  "patching file hw/i386/intel_iommu.c\n"
					  "Hunk #1 succeeded at 100 (offset 3 lines).\n"
					  "Hunk #2 FAILED at 250.\n"
					  "Hunk #4 FAILED at 1201.\n"
					  "2 out of 4 hunks FAILED -- saving rejects to file hw/i386/intel_iommu.c.rej\n";
	static const char missing[] = "can't find file to patch at input line 3\n"
				      "Perhaps you used the wrong -p or --strip option?\n"
				      "The text leading up to this was:\n"
				      "--------------------------\n"
				      "|--- a/hw/i386/gone.c\t2026-11-25 07:59:16.169251695 +0000\n"
				      "|+++ b/hw/i386/gone.c\t2026-11-25 07:59:16.182517095 +0000\n"
				      "--------------------------\n"
				      "No file to patch.  Skipping patch.\n"
				      "1 out of 1 hunk ignored\n";
	static const char reversed[] = "patching file meson.build\n"
				       "Reversed (or previously applied) patch detected!  Skipping patch.\n"
				       "1 out of 1 hunk ignored -- saving rejects to file meson.build.rej\n";
	cleanup_free char *a = build_patch_failure(hunk_failed);
	cleanup_free char *b = build_patch_failure(missing);
	cleanup_free char *c = build_patch_failure(reversed);
	cleanup_free char *d = build_patch_failure("patch: **** Only garbage was found in the patch input.\n");
	cleanup_free char *ok = build_patch_failure("patching file a.c\npatching file b.c\n");

	CHECK_STR(a, "hw/i386/intel_iommu.c: hunk #2 FAILED at line 250; hw/i386/intel_iommu.c: hunk #4 FAILED at "
		     "line 1201");
	CHECK_STR(b, "hw/i386/gone.c: no such file in the source tree");
	CHECK_STR(c, "meson.build: reversed or already applied");
	CHECK_STR(d, "Only garbage was found in the patch input.");
	CHECK(ok == NULL);
	return TEST_PASS;
}

/* ---- progress ---------------------------------------------------------------------------------- */

static int test_progress_ninja_lines(void)
{
	unsigned done = 0, total = 0;

	CHECK(build_progress_parse_ninja("[812/2843] Compiling C object libqemuutil.a.p/util_iova-tree.c.o", &done,
					 &total));
	CHECK(done == 812 && total == 2843);
	CHECK(build_progress_parse_ninja("[1568/1568] Linking target qemu-system-x86_64", &done, &total));
	CHECK(done == 1568 && total == 1568);
	CHECK(!build_progress_parse_ninja("[812/] x", &done, &total));
	CHECK(!build_progress_parse_ninja("[/2843] x", &done, &total));
	CHECK(!build_progress_parse_ninja("[9/3] more done than total", &done, &total));
	CHECK(!build_progress_parse_ninja("FAILED: libqemuutil.a.p/x.o", &done, &total));
	CHECK(!build_progress_parse_ninja("ninja: build stopped: subcommand failed.", &done, &total));
	CHECK(!build_progress_parse_ninja("", &done, &total));
	CHECK(done == 1568 && total == 1568);	/* untouched by the misses */
	return TEST_PASS;
}

static int test_progress_kbuild_lines(void)
{
	CHECK(build_progress_is_kbuild_step("  CC      kernel/fork.o"));
	CHECK(build_progress_is_kbuild_step("  LD      vmlinux.o"));
	CHECK(build_progress_is_kbuild_step("  AR      lib/lib.a"));
	CHECK(build_progress_is_kbuild_step("  CC [M]  drivers/net/ethernet/intel/igb/igb_main.o"));
	CHECK(!build_progress_is_kbuild_step("  HOSTCC  scripts/basic/fixdep"));
	CHECK(!build_progress_is_kbuild_step("  CHK     include/generated/compile.h"));
	CHECK(!build_progress_is_kbuild_step("  CC"));
	CHECK(!build_progress_is_kbuild_step("CC kernel/fork.o"));
	CHECK(!build_progress_is_kbuild_step("kernel/fork.c:12: warning: unused variable"));
	return TEST_PASS;
}

static int test_progress_format(void)
{
	cleanup_free char *line = build_progress_format("qemu", 812, 2843, false, 192000, 160000);
	cleanup_free char *start = build_progress_format("qemu", 0, 2843, false, 5000, 0);
	cleanup_free char *est = build_progress_format("linux", 900, 1800, true, 3723000, 600000);
	cleanup_free char *past = build_progress_format("linux", 1900, 1800, true, 60000, 60000);
	cleanup_free char *none = build_progress_format("linux", 12, 0, false, 1000, 1000);
	cleanup_free char *d1 = build_duration_format(45999);
	cleanup_free char *d2 = build_duration_format(3723000);

	/* eta: 160 s for 812 steps, 2031 to go: 400.2 s */
	CHECK_STR(line, "[qemu] step 812/2843 (28%) elapsed 3m12s eta 6m40s");
	CHECK_STR(start, "[qemu] step 0/2843 (0%) elapsed 5s eta ?");
	CHECK_STR(est, "[linux] step 900/~1800 (50%) elapsed 1h02m03s eta 10m00s");
	CHECK_CONTAINS(past, "[linux] step 1900/~1939 (97%)");
	CHECK_STR(none, "[linux] step 12 elapsed 1s");
	CHECK_STR(d1, "45s");
	CHECK_STR(d2, "1h02m03s");
	return TEST_PASS;
}

/* ---- whole builds of the tiny component -------------------------------------------------------- */

static int test_fake_build_then_noop(void)
{
	const char *const files[] = { "0001-message.patch", GOOD_PATCH, NULL };
	cleanup_free char *tarball = make_source(FAKE_BUILD_SH);
	cleanup_free char *series = make_series("0001-message.patch\n", files);
	cleanup_free char *cache = new_dir("cache");
	struct plan_source src = tarball_source(tarball, series);
	struct build_options opts = quiet_options(cache);
	struct build_result first, second;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL, *manifest = NULL, *manifest_path = NULL, *log = NULL, *current = NULL;
	cleanup_free char *steps = NULL, *steps_path = NULL;
	cleanup_free char *current_path = build_current_path(cache, "fake", "out.bin");
	char target[64] = "";

	CHECK(tarball != NULL);
	if (build_run(&fake_component, &src, &opts, &first, &err) < 0) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	CHECK(!first.cached);
	out = read_file_text(current_path);
	CHECK_STR(out, "patched\n");	/* the series was applied before the step ran */
	manifest_path = xasprintf("%s/manifest", first.dir);
	manifest = read_file_text(manifest_path);
	CHECK_CONTAINS(manifest, "patch 0001-message.patch ");
	CHECK_CONTAINS(manifest, "progress-steps 3\n");
	CHECK_CONTAINS(manifest, "artefact out.bin 8\n");
	log = read_file_text(first.log);
	CHECK_CONTAINS(log, "some warning on stderr");	/* stderr lands in the log too */
	CHECK_CONTAINS(log, "[3/3] Linking target out.bin");
	current = xasprintf("%s/fake/current", cache);
	CHECK(readlink(current, target, sizeof(target) - 1) == BUILD_KEY_HEX_LEN);
	CHECK_STR(target, first.key);
	steps_path = xasprintf("%s/fake/progress-steps", cache);
	steps = read_file_text(steps_path);
	CHECK_STR(steps, "3\n");	/* the next build's estimate */

	/* the same again: nothing is built, and fast */
	CHECK(build_run(&fake_component, &src, &opts, &second, &err) == 0);
	CHECK(second.cached);
	CHECK_STR(second.key, first.key);
	test_diag("no-op rebuild took %llu ms", (unsigned long long)second.elapsed_ms);
	CHECK(second.elapsed_ms < 2000);
	build_result_release(&first);
	build_result_release(&second);
	plan_source_release(&src);
	return TEST_PASS;
}

static int test_broken_patch_leaves_cache(void)
{
	const char *const good_files[] = { "0001-message.patch", GOOD_PATCH, NULL };
	const char *const bad_files[] = { "0001-message.patch", GOOD_PATCH, "0002-broken.patch", BAD_PATCH, NULL };
	cleanup_free char *tarball = make_source(FAKE_BUILD_SH);
	cleanup_free char *good = make_series("0001-message.patch\n", good_files);
	cleanup_free char *bad = make_series("0001-message.patch\n0002-broken.patch\n", bad_files);
	cleanup_free char *cache = new_dir("cache");
	cleanup_free char *comp_dir = xasprintf("%s/fake", cache);
	cleanup_free char *before = NULL, *after = NULL;
	struct plan_source good_src = tarball_source(tarball, good);
	struct plan_source bad_src = tarball_source(tarball, bad);
	struct build_options opts = quiet_options(cache);
	struct build_result res;
	cleanup_error nl_error_t err = NULL;

	CHECK(build_run(&fake_component, &good_src, &opts, &res, &err) == 0);
	build_result_release(&res);
	before = dir_listing(comp_dir);
	CHECK(build_run(&fake_component, &bad_src, &opts, &res, &err) < 0);
	test_diag("%s", err->msg);
	CHECK_CONTAINS(err->msg, "build fake: patch 0002-broken.patch (2 of 2 in ");
	CHECK_CONTAINS(err->msg, "does not apply: message: hunk #1 FAILED at line 1");
	CHECK_CONTAINS(err->msg, "(full log: ");
	CHECK_CONTAINS(err->msg, "/logs/build-fake-");
	after = dir_listing(comp_dir);
	CHECK_STR(after, before);	/* no staging left, no new key, current unchanged */
	plan_source_release(&good_src);
	plan_source_release(&bad_src);
	return TEST_PASS;
}

static int test_failed_step_names_log(void)
{
	cleanup_free char *tarball = make_source("echo '[1/2] Compiling C object a.o'\necho 'a.c:3: error: x' >&2\n"
						 "exit 3\n");
	cleanup_free char *cache = new_dir("cache");
	cleanup_free char *comp_dir = xasprintf("%s/fake", cache);
	cleanup_free char *listing = NULL;
	struct plan_source src = tarball_source(tarball, NULL);
	struct build_options opts = quiet_options(cache);
	struct build_result res;
	cleanup_error nl_error_t err = NULL;

	CHECK(build_run(&fake_component, &src, &opts, &res, &err) < 0);
	test_diag("%s", err->msg);
	CHECK_CONTAINS(err->msg, "build fake: compile: sh exited with status 3");
	CHECK_CONTAINS(err->msg, "    a.c:3: error: x\n  full log: ");
	listing = dir_listing(comp_dir);
	CHECK_STR(listing, ".lock\ncurrent -> \n");
	plan_source_release(&src);
	return TEST_PASS;
}

static int test_interrupt_kills_and_cleans(void)
{
	/* the step signals nestlab itself, as Ctrl-C would, then would run for a minute */
	cleanup_free char *tarball = make_source("echo '[1/9] started'\nkill -INT $PPID\nsleep 60\n");
	cleanup_free char *cache = new_dir("cache");
	cleanup_free char *comp_dir = xasprintf("%s/fake", cache);
	cleanup_free char *listing = NULL;
	struct plan_source src = tarball_source(tarball, NULL);
	struct build_options opts = quiet_options(cache);
	struct build_result res;
	cleanup_error nl_error_t err = NULL;
	uint64_t start = now_ms();

	CHECK(build_run(&fake_component, &src, &opts, &res, &err) < 0);
	test_diag("%s (after %llu ms)", err->msg, (unsigned long long)(now_ms() - start));
	CHECK(err->errnum == EINTR);
	CHECK_CONTAINS(err->msg, "interrupted by SIGINT");
	CHECK(now_ms() - start < 20000);
	CHECK(proc_registry_count() == 0);
	listing = dir_listing(comp_dir);
	CHECK_STR(listing, ".lock\ncurrent -> \n");
	plan_source_release(&src);
	return TEST_PASS;
}

/* test_deadline_ends_build() - the process deadline (a run's timeouts.build) stops a step that would go on */
static int test_deadline_ends_build(void)
{
	cleanup_free char *tarball = make_source("echo '[1/9] started'\nsleep 60\n");
	cleanup_free char *cache = new_dir("cache");
	struct plan_source src = tarball_source(tarball, NULL);
	struct build_options opts = quiet_options(cache);
	struct build_result res;
	cleanup_error nl_error_t err = NULL;
	uint64_t start = now_ms();
	int ret;

	loop_deadline_set(now_ms() + 1500, "the set-up's timeout (timeouts.build, 1 s)");
	ret = build_run(&fake_component, &src, &opts, &res, &err);
	loop_deadline_set(0, NULL);
	CHECK(ret < 0);
	test_diag("%s (after %llu ms)", err->msg, (unsigned long long)(now_ms() - start));
	CHECK(err->errnum == EINTR);
	CHECK_CONTAINS(err->msg, "timeouts.build, 1 s) expired");
	CHECK(now_ms() - start < 30000);
	CHECK(proc_registry_count() == 0);
	plan_source_release(&src);
	return TEST_PASS;
}

static int test_git_source(void)
{
	cleanup_free char *repo = new_dir("repo");
	cleanup_free char *sh = xasprintf("%s/build.sh", repo);
	cleanup_free char *msg = xasprintf("%s/message", repo);
	cleanup_free char *cache = new_dir("cache");
	char *init[] = { "git", "-C", repo, "init", "-q", NULL };
	char *add[] = { "git", "-C", repo, "add", "build.sh", "message", NULL };
	char *commit[] = { "git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x", NULL };
	struct plan_source src = { .kind = SCN_SRC_GIT, .git = xstrdup(repo), .ref = xstrdup("HEAD") };
	struct build_options opts = quiet_options(cache);
	struct build_result res;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL, *artefact = NULL;

	if (access("/usr/bin/git", X_OK) < 0)
		return test_skip("git is not installed");
	CHECK(write_text(sh, FAKE_BUILD_SH) == 0 && write_text(msg, "from git\n") == 0);
	CHECK(run_quiet(init) && run_quiet(add) && run_quiet(commit));
	write_text(msg, "uncommitted change\n");	/* git archive takes the commit, not the work tree */
	if (build_run(&fake_component, &src, &opts, &res, &err) < 0) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	CHECK(!strncmp(res.source, "git ", 4) && strlen(res.source) == 44);
	artefact = xasprintf("%s/out.bin", res.dir);
	out = read_file_text(artefact);
	CHECK_STR(out, "from git\n");
	build_result_release(&res);
	free(src.ref);
	src.ref = xstrdup("no-such-ref");
	CHECK(build_run(&fake_component, &src, &opts, &res, &err) < 0);
	CHECK_CONTAINS(err->msg, "ref no-such-ref of the git tree");
	plan_source_release(&src);
	return TEST_PASS;
}

/*
 * A Debian source already in the cache is used without apt; a pin that disagrees with what was
 * downloaded sends the build back to apt (here a fake, empty apt directory: an error, no network).
 */
static int test_debian_source_from_cache(void)
{
	cleanup_free char *tarball = make_source(FAKE_BUILD_SH);
	cleanup_free char *cache = new_dir("cache");
	cleanup_free char *src_dir = xasprintf("%s/src", cache);
	cleanup_free char *cached = xasprintf("%s/fake_1.0.orig.tar.gz", src_dir);
	cleanup_free char *info = xasprintf("%s/fake_1_1.0-1.nestlab", src_dir);
	cleanup_free char *apt = new_dir("apt");
	cleanup_free char *series = NULL, *sources = NULL, *record = NULL, *bad_sources = NULL;
	char sha[BUILD_SHA256_HEX_LEN + 1];
	char *cp[] = { "cp", tarball, cached, NULL };
	struct plan_source src = { .kind = SCN_SRC_DEBIAN };
	struct build_options opts = quiet_options(cache);
	struct build_result res;
	cleanup_error nl_error_t err = NULL;
	const char *const files[] = { "SOURCES", "", NULL };

	opts.apt_dir = apt;
	CHECK(build_sha256_file(tarball, sha, &err) == 0);
	mkdir(src_dir, 0755);
	CHECK(run_quiet(cp));
	record = xasprintf("version 1:1.0-1\norig-tarball fake_1.0.orig.tar.gz\nsha256 %s\n", sha);
	CHECK(write_text(info, record) == 0);
	series = make_series("", files);
	sources = xasprintf("%s/SOURCES", series);
	CHECK(write_text(sources, "# pins\npackage fake\ndebian-versions 1:1.0-1\norig-tarball fake_1.0.orig.tar.gz\n") ==
	      0);
	free(record);
	record = xasprintf("sha256 %s\n", sha);
	{
		cleanup_free char *text = read_file_text(sources);
		cleanup_free char *full = xasprintf("%s%s", text, record);

		CHECK(write_text(sources, full) == 0);
	}
	strv_push(&src.versions, "1:1.0-1");
	src.patches = xstrdup(series);
	if (build_run(&fake_component, &src, &opts, &res, &err) < 0) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	CHECK_CONTAINS(res.source, "debian fake=1:1.0-1 fake_1.0.orig.tar.gz sha256=");
	build_result_release(&res);

	bad_sources = xasprintf("debian-versions 1:1.0-1\norig-tarball fake_1.0.orig.tar.gz\nsha256 %064d\n", 0);
	CHECK(write_text(sources, bad_sources) == 0);
	CHECK(build_run(&fake_component, &src, &opts, &res, &err) < 0);
	test_diag("%s", err->msg);
	CHECK_CONTAINS(err->msg, "deb-src entry for trixie");
	plan_source_release(&src);
	return TEST_PASS;
}

/* ---- apt entries ------------------------------------------------------------------------------- */

static int test_apt_deb_src_added_once(void)
{
	cleanup_free char *apt = new_dir("apt");
	cleanup_free char *parts = xasprintf("%s/sources.list.d", apt);
	cleanup_free char *debian = xasprintf("%s/debian.sources", parts);
	cleanup_free char *added_path = xasprintf("%s/nestlab-trixie-src.sources", parts);
	cleanup_free char *text = NULL;
	cleanup_error nl_error_t err = NULL;
	bool added = false;

	mkdir(parts, 0755);
	CHECK(write_text(debian, "Types: deb\n# a comment inside the stanza\nURIs: http://archive.example/debian\n"
				 "Suites: bookworm bookworm-updates\nComponents: main\n"
				 "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
				 "Types: deb\nURIs: http://security.example/debian-security\n"
				 "Suites: bookworm-security\nComponents: main\n") == 0);
	CHECK(!build_apt_has_deb_src(apt, "trixie"));
	/* not root: an error that says what to write */
	CHECK(build_apt_ensure_deb_src(apt, "bookworm", "trixie", false, &added, &err) < 0);
	CHECK(!added);
	CHECK_CONTAINS(err->msg, "no deb-src entry for trixie");
	CHECK_CONTAINS(err->msg, "URIs: http://archive.example/debian\n");
	nl_error_release(&err);
	CHECK(access(added_path, F_OK) < 0);

	CHECK(build_apt_ensure_deb_src(apt, "bookworm", "trixie", true, &added, &err) == 0);
	CHECK(added);
	text = read_file_text(added_path);
	CHECK_CONTAINS(text, "Types: deb-src\nURIs: http://archive.example/debian\nSuites: trixie\nComponents: main\n"
			     "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n");
	CHECK(build_apt_has_deb_src(apt, "trixie"));
	CHECK(build_apt_ensure_deb_src(apt, "bookworm", "trixie", true, &added, &err) == 0);
	CHECK(!added);
	return TEST_PASS;
}

static int test_apt_one_line_format(void)
{
	cleanup_free char *apt = new_dir("apt");
	cleanup_free char *list = xasprintf("%s/sources.list", apt);
	cleanup_free char *uri = NULL, *signed_by = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(write_text(list, "# deb-src http://old.example/debian trixie main\n"
			       "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
			       "deb-src http://mirror.example/debian trixie main # sources\n") == 0);
	CHECK(build_apt_archive(apt, "bookworm", &uri, &signed_by, &err) == 0);
	CHECK_STR(uri, "http://mirror.example/debian");
	CHECK_STR(signed_by, "/k.gpg");
	CHECK(build_apt_has_deb_src(apt, "trixie"));
	CHECK(!build_apt_has_deb_src(apt, "bookworm"));
	free(uri);
	uri = NULL;
	CHECK(build_apt_archive(apt, "sid", &uri, &signed_by, &err) < 0);
	CHECK_CONTAINS(err->msg, "no apt entry for sid");
	return TEST_PASS;
}

/* ---- Linux ------------------------------------------------------------------------------------- */

static int test_linux_config_check(void)
{
	static const char dotconfig[] = "CONFIG_64BIT=y\nCONFIG_VFIO=y\n# CONFIG_KVM_AMD is not set\n"
					"CONFIG_IGB=m\nCONFIG_LOCALVERSION=\"-nestlab\"\n";
	static const char fragment[] = "# comment\nCONFIG_VFIO=y\nCONFIG_KVM_AMD=y\nCONFIG_IGB=y  \n"
				       "# CONFIG_MODULES is not set\nCONFIG_LOCALVERSION=\"-nestlab\"\nCONFIG_VFIO_PCI=y\n";
	cleanup_free char *missing = build_linux_missing_symbols(dotconfig, fragment);
	cleanup_free char *none = build_linux_missing_symbols(dotconfig, "CONFIG_VFIO=y\n");

	CHECK_STR(missing, "CONFIG_KVM_AMD CONFIG_IGB CONFIG_VFIO_PCI");
	CHECK(none == NULL);
	return TEST_PASS;
}

/* ---- the components and the plan --------------------------------------------------------------- */

static int test_components_match_plan(void)
{
	cleanup_free char *fixture = test_fixture("good-minimal.yaml");
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *plan = NULL;
	cleanup_error nl_error_t err = NULL;
	struct plan_source q, l;
	struct plan_env env;
	cleanup_free char *qemu = NULL, *kernel = NULL;

	CHECK(scenario_parse_file(fixture, &scn, &err) == 0);
	plan_env_init_default(&env, NULL);
	env.env_placeholders = true;
	CHECK(plan_resolve(scn, &env, &plan, &err) == 0);
	/* the paths the plan runs are the ones build_run() keeps current */
	qemu = build_current_path(env.cache_dir, build_component_qemu.name, "qemu-system-x86_64");
	kernel = build_current_path(env.cache_dir, build_component_linux.name, "bzImage");
	CHECK_STR(env.qemu_binary, qemu);
	CHECK_STR(env.l1_kernel, kernel);
	plan_env_release(&env);
	/* `nestlab build` without a scenario builds what a scenario without sources would */
	plan_source_init_default(&q, "qemu");
	plan_source_init_default(&l, "linux");
	CHECK(plan->qemu_src.kind == q.kind && plan->linux_src.kind == l.kind);
	CHECK(strv_len(plan->qemu_src.versions) == strv_len(q.versions));
	CHECK_STR(plan->qemu_src.versions[0], q.versions[0]);
	CHECK_STR(plan->linux_src.versions[1], l.versions[1]);
	CHECK_STR(plan->qemu_src.suite, q.suite);
	CHECK_STR(plan->qemu_src.patches, q.patches);
	CHECK_STR(plan->linux_src.patches, l.patches);
	CHECK(build_component_linux.n_artefacts == 2 && !strcmp(build_component_linux.artefacts[0].name, "bzImage"));
	plan_source_release(&q);
	plan_source_release(&l);
	return TEST_PASS;
}

/* ---- a full disk ---------------------------------------------------------------------------------- */

#define FULL_DISK_SIZE "64m"

/* mount_cache_tmpfs() - a FULL_DISK_SIZE tmpfs on a new directory, the cache of a full-disk test */
static char *mount_cache_tmpfs(void)
{
	char *dir = new_dir("tmpfs");

	if (mount("nestlab-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=" FULL_DISK_SIZE ",mode=0755") < 0) {
		test_diag("mount tmpfs on %s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

/* free_mib() - MiB free on the file system of @dir */
static unsigned long long free_mib(const char *dir)
{
	struct statvfs vfs;

	return statvfs(dir, &vfs) < 0 ? 0 : (unsigned long long)vfs.f_bavail * vfs.f_frsize >> 20;
}

/*
 * full_disk_case() - build @src into a 64 MiB tmpfs cache it overfills: a clear error, nothing
 * half-published, no temporaries; then the same build into a cache with room works
 */
static int full_disk_case(struct plan_source *src, const char *step)
{
	cleanup_free char *mnt = mount_cache_tmpfs();
	cleanup_free char *comp_dir = NULL, *listing = NULL, *good = new_dir("cache");
	cleanup_free char *good_out = build_current_path(good, "fake", "out.bin");
	cleanup_free char *out = NULL;
	struct build_options opts;
	struct build_result res;
	cleanup_error nl_error_t err = NULL;
	int ret = TEST_FAIL;

	if (!mnt)
		return TEST_FAIL;
	opts = quiet_options(mnt);
	comp_dir = xasprintf("%s/fake", mnt);
	if (build_run(&fake_component, src, &opts, &res, &err) == 0) {
		test_diag("the build fit into %s", FULL_DISK_SIZE);
		build_result_release(&res);
		goto out;
	}
	test_diag("%s", err->msg);
	listing = dir_listing(comp_dir);
	test_diag("left in the cache: %s; %llu MiB free", listing, free_mib(mnt));
	if (!strstr(err->msg, step) || !strstr(err->msg, "No space left on device") ||
	    !strstr(err->msg, "ran out of room for the build of fake: free space there, or point NESTLAB_CACHE at a "
			      "file system with more room") ||
	    !strstr(err->msg, mnt) || err->errnum != ENOSPC)
		goto out;
	if (strcmp(listing, ".lock\ncurrent -> \n"))	/* no key, no staging, no `current` */
		goto out;
	if (free_mib(mnt) < 60)		/* the partial build was removed */
		goto out;
	/* the next run on a cache with room works */
	opts = quiet_options(good);
	nl_error_release(&err);
	if (build_run(&fake_component, src, &opts, &res, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	build_result_release(&res);
	out = read_file_text(good_out);
	if (!out || strcmp(out, "built\n"))
		goto out;
	ret = TEST_PASS;
out:
	umount2(mnt, MNT_DETACH);
	return ret;
}

static int test_full_disk_in_a_step(void)
{
	cleanup_free char *tarball = make_source("set -e\nhead -c 100M /dev/zero > \"$1/big\"\n"
						 "echo built > \"$1/out.bin\"\n");
	struct plan_source src = tarball_source(tarball, NULL);
	int ret;

	if (geteuid() != 0)
		return test_skip("needs root to mount a " FULL_DISK_SIZE " tmpfs as the cache");
	CHECK(tarball != NULL);
	ret = full_disk_case(&src, "build fake: compile: sh exited with status 1");
	plan_source_release(&src);
	return ret;
}

/* big_source() - a source tarball whose tree holds 100 MiB of zeros (100 KiB gzip'd) */
static char *big_source(void)
{
	cleanup_free char *dir = new_dir("bigsrc");
	cleanup_free char *tree = xasprintf("%s/fake-1.0", dir);
	cleanup_free char *sh = xasprintf("%s/build.sh", tree);
	cleanup_free char *zeros = xasprintf("%s/zeros", tree);
	char *tarball = xasprintf("%s/fake-1.0.tar.gz", dir);
	char *fill[] = { "truncate", "-s", "100M", zeros, NULL };
	char *tar[] = { "tar", "-czf", tarball, "-C", dir, "fake-1.0", NULL };

	mkdir(tree, 0755);
	if (write_text(sh, "echo built > \"$1/out.bin\"\n") < 0 || !run_quiet(fill) || !run_quiet(tar)) {
		free(tarball);
		return NULL;
	}
	return tarball;
}

static int test_full_disk_extracting(void)
{
	cleanup_free char *tarball = NULL;
	struct plan_source src = { 0 };
	int ret;

	if (geteuid() != 0)
		return test_skip("needs root to mount a " FULL_DISK_SIZE " tmpfs as the cache");
	tarball = big_source();
	CHECK(tarball != NULL);
	src = tarball_source(tarball, NULL);
	ret = full_disk_case(&src, "build fake: extract the source: tar exited with status 2");
	plan_source_release(&src);
	return ret;
}

/* run_cli() - build/nestlab @args with NESTLAB_CACHE=@cache: exit status, stderr in *@err_text */
static int run_cli(const char *cache, const char *const *args, char **err_text)
{
	cleanup_free char *err_path = xasprintf("%s.stderr", cache);
	cleanup_error nl_error_t err = NULL;
	const char *bin = getenv("NESTLAB_BIN");
	cleanup_proc struct proc p = PROC_INIT;
	int status = -1;

	strv_push(&p.argv, bin ? bin : "build/nestlab");
	for (size_t i = 0; args[i]; i++)
		strv_push(&p.argv, args[i]);
	strv_pushf(&p.env, "NESTLAB_CACHE=%s", cache);
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io.mode = PROC_IO_NULL;
	p.stderr_io = (struct proc_io){ PROC_IO_FILE_TRUNC, err_path };
	if (proc_start(&p, &err) == 0) {
		proc_wait(&p, 120000, &err);
		status = p.term_signal ? 128 + p.term_signal : p.exit_status;
	} else {
		test_diag("%s", err->msg);
	}
	*err_text = read_file_text(err_path);
	return status;
}

static int test_full_disk_cli_exit_status(void)
{
	cleanup_free char *tarball = NULL, *mnt = NULL, *stderr_text = NULL, *listing = NULL, *comp_dir = NULL;
	int status, ret = TEST_FAIL;

	if (geteuid() != 0)
		return test_skip("needs root to mount a " FULL_DISK_SIZE " tmpfs as the cache");
	tarball = big_source();
	CHECK(tarball != NULL);
	mnt = mount_cache_tmpfs();
	CHECK(mnt != NULL);
	/* the real Linux component and CLI, from a tarball that fills the cache while it is extracted */
	status = run_cli(mnt, (const char *[]){ "build", "linux", "--linux-tarball", tarball, NULL }, &stderr_text);
	test_diag("exit status %d, stderr:", status);
	test_diag_run(stderr_text, NULL);
	comp_dir = xasprintf("%s/linux", mnt);
	listing = dir_listing(comp_dir);
	test_diag("left: %s; %llu MiB free", listing, free_mib(mnt));
	if (status == 4 && stderr_text && strstr(stderr_text, "No space left on device") &&
	    strstr(stderr_text, "free space there, or point NESTLAB_CACHE at a file system with more room") &&
	    !strcmp(listing, ".lock\ncurrent -> \n") && free_mib(mnt) >= 60)
		ret = TEST_PASS;
	umount2(mnt, MNT_DETACH);
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_sha256_known_answer),
	TEST_CASE(test_key_stable_and_sensitive),
	TEST_CASE(test_series_comments_and_order),
	TEST_CASE(test_series_missing_file),
	TEST_CASE(test_series_quilt_options_refused),
	TEST_CASE(test_patch_failure_text),
	TEST_CASE(test_progress_ninja_lines),
	TEST_CASE(test_progress_kbuild_lines),
	TEST_CASE(test_progress_format),
	TEST_CASE(test_fake_build_then_noop),
	TEST_CASE(test_broken_patch_leaves_cache),
	TEST_CASE(test_failed_step_names_log),
	TEST_CASE(test_interrupt_kills_and_cleans), TEST_CASE(test_deadline_ends_build),
	TEST_CASE(test_git_source),
	TEST_CASE(test_debian_source_from_cache),
	TEST_CASE(test_apt_deb_src_added_once),
	TEST_CASE(test_apt_one_line_format),
	TEST_CASE(test_linux_config_check),
	TEST_CASE(test_components_match_plan),
	TEST_CASE(test_full_disk_in_a_step),
	TEST_CASE(test_full_disk_extracting),
	TEST_CASE(test_full_disk_cli_exit_status),
};

int main(void)
{
	cleanup_error nl_error_t err = NULL;
	int ret;

	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return 1;
	}
	ret = test_main(tests, ARRAY_SIZE(tests));
	if (fs_remove_tree(tmp_root, &err) < 0)
		fprintf(stderr, "%s\n", err->msg);
	return ret;
}
