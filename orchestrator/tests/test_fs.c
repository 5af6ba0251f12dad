/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_fs.c - unit tests for fs.c: the publish path of the cache (fsync, rename, fsync the parent), the
 * atomic file and link writers, tree removal, and what a full file system looks like to the user
 *
 * The order of the system calls is observed for real: the test runs itself under strace (Debian's strace)
 * with NESTLAB_TEST_FS_PUBLISH set, which makes main() publish a small tree and a link and exit. The full
 * disk is a real one: a 1 MiB tmpfs mounted on a temp directory (root only; skipped with the reason
 * otherwise).
 *
 * fs_cache_dir() is checked against the environment it reads (NESTLAB_CACHE, HOME, the password
 * database), and the modules that need the cache (the plan's artefact paths, the image builder) are
 * checked to take the same answer from it: before there was one function, HOME unset gave
 * "./.cache/nestlab" for runs and builds but the password database's home + "/.cache/nestlab" for images.
 */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "image.h"
#include "plan.h"
#include "proc.h"
#include "test.h"

static char tmp_root[] = "/tmp/nestlab-test-fs-XXXXXX";
static unsigned tmp_serial;

/* new_dir() - a fresh directory under the test's temp root */
static char *new_dir(const char *what)
{
	char *dir = xasprintf("%s/%s-%u", tmp_root, what, ++tmp_serial);

	mkdir(dir, 0755);
	return dir;
}

/* write_raw() - plain create+write, to set up trees */
static void write_raw(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* listing() - the names in @dir, sorted, space-separated ("" when empty or absent) */
static char *listing(const char *dir)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	struct strbuf sb = STRBUF_INIT;

	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
			strbuf_printf(&sb, "%s%s", sb.len ? " " : "", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	if (!sb.str)
		strbuf_puts(&sb, "");
	return strbuf_detach(&sb);
}

/* make_tree() - @dir/{a, sub/b} */
static void make_tree(const char *dir, const char *a_text)
{
	cleanup_free char *a = xasprintf("%s/a", dir);
	cleanup_free char *sub = xasprintf("%s/sub", dir);
	cleanup_free char *b = xasprintf("%s/sub/b", dir);

	mkdir(dir, 0755);
	mkdir(sub, 0755);
	write_raw(a, a_text);
	write_raw(b, "b\n");
}

/* ---- the writers ------------------------------------------------------------------------------- */

static int test_write_file_whole_or_nothing(void)
{
	cleanup_free char *dir = new_dir("write");
	cleanup_free char *path = xasprintf("%s/manifest", dir);
	cleanup_free char *text = NULL, *names = NULL, *after = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(fs_write_text(path, "one\n", &err) == 0);
	CHECK(fs_write_text(path, "two\n", &err) == 0);
	text = read_file_text(path);
	CHECK_STR(text, "two\n");
	names = listing(dir);
	CHECK_STR(names, "manifest");	/* no temporary left */

	/* a rename that fails after the data was written and synced: the temporary goes, the target stays */
	{
		cleanup_free char *blocker = xasprintf("%s/blocker", dir);
		cleanup_free char *inside = xasprintf("%s/blocker/x", dir);

		mkdir(blocker, 0755);
		write_raw(inside, "x");
		CHECK(fs_write_text(blocker, "data\n", &err) < 0);
		test_diag("%s", err->msg);
		CHECK_CONTAINS(err->msg, "blocker");
	}
	after = listing(dir);
	CHECK_STR(after, "blocker manifest");
	return TEST_PASS;
}

static int test_publish_directory(void)
{
	cleanup_free char *dir = new_dir("publish");
	cleanup_free char *staging = xasprintf("%s/.staging-k-1", dir);
	cleanup_free char *final = xasprintf("%s/KEY", dir);
	cleanup_free char *a = xasprintf("%s/a", final);
	cleanup_free char *text = NULL, *names = NULL, *inside = NULL;
	cleanup_error nl_error_t err = NULL;

	make_tree(staging, "first\n");
	CHECK(fs_publish(staging, final, &err) == 0);
	text = read_file_text(a);
	CHECK_STR(text, "first\n");
	names = listing(dir);
	CHECK_STR(names, "KEY");

	/* a directory already there (a --rebuild) is replaced whole, and the old one removed */
	make_tree(staging, "second\n");
	CHECK(fs_publish(staging, final, &err) == 0);
	free(text);
	text = read_file_text(a);
	CHECK_STR(text, "second\n");
	free(names);
	names = listing(dir);
	CHECK_STR(names, "KEY");
	inside = listing(final);
	CHECK_STR(inside, "a sub");
	return TEST_PASS;
}

static int test_publish_failure_leaves_nothing(void)
{
	cleanup_free char *dir = new_dir("fail");
	cleanup_free char *staging = xasprintf("%s/.staging-k-1", dir);
	cleanup_free char *final = xasprintf("%s/missing-parent/KEY", dir);
	cleanup_free char *names = NULL;
	cleanup_error nl_error_t err = NULL;
	struct stat st;

	/* the tree is synced, then the rename fails (no parent): nothing published, the staging removed */
	make_tree(staging, "x\n");
	CHECK(fs_publish(staging, final, &err) < 0);
	test_diag("%s", err->msg);
	CHECK(err->errnum == ENOENT);
	CHECK(lstat(final, &st) < 0);
	names = listing(dir);
	CHECK_STR(names, "");

	/* a staging that cannot be synced (it does not exist) is an error too, and publishes nothing */
	nl_error_release(&err);
	CHECK(fs_publish(staging, final, &err) < 0);
	CHECK_CONTAINS(err->msg, "to sync it");
	return TEST_PASS;
}

static int test_symlink_replace(void)
{
	cleanup_free char *dir = new_dir("link");
	cleanup_free char *link = xasprintf("%s/current", dir);
	cleanup_free char *names = NULL;
	cleanup_error nl_error_t err = NULL;
	char target[64] = "";
	struct stat before, after;

	CHECK(fs_symlink_replace(link, "aaaa", &err) == 0);
	CHECK(fs_symlink_replace(link, "bbbb", &err) == 0);
	CHECK(readlink(link, target, sizeof(target) - 1) == 4);
	CHECK_STR(target, "bbbb");
	CHECK(lstat(link, &before) == 0);
	CHECK(fs_symlink_replace(link, "bbbb", &err) == 0);	/* already there: untouched */
	CHECK(lstat(link, &after) == 0);
	CHECK(before.st_ino == after.st_ino);
	names = listing(dir);
	CHECK_STR(names, "current");
	return TEST_PASS;
}

static int test_remove_tree(void)
{
	cleanup_free char *dir = new_dir("remove");
	cleanup_free char *tree = xasprintf("%s/t", dir);
	cleanup_free char *ro = xasprintf("%s/t/sub", dir);
	cleanup_free char *link = xasprintf("%s/t/link-out", dir);
	cleanup_free char *outside = xasprintf("%s/outside", dir);
	cleanup_free char *names = NULL;
	cleanup_error nl_error_t err = NULL;
	struct stat st;

	make_tree(tree, "a\n");
	write_raw(outside, "keep\n");
	CHECK(symlink(outside, link) == 0);	/* a link is removed, never followed */
	chmod(ro, 0555);			/* what a tarball may extract */
	CHECK(fs_remove_tree(tree, &err) == 0);
	CHECK(lstat(tree, &st) < 0);
	names = listing(dir);
	CHECK_STR(names, "outside");
	CHECK(fs_remove_tree(tree, &err) == 0);	/* absent is fine */
	return TEST_PASS;
}

static int test_remove_stale(void)
{
	cleanup_free char *dir = new_dir("stale");
	cleanup_free char *s1 = xasprintf("%s/.staging-a-1", dir);
	cleanup_free char *s2 = xasprintf("%s/.staging-b-2", dir);
	cleanup_free char *keep = xasprintf("%s/0123abcd", dir);
	cleanup_free char *names = NULL;

	make_tree(s1, "x");
	make_tree(s2, "y");
	make_tree(keep, "z");
	fs_remove_stale(dir, ".staging-");
	names = listing(dir);
	CHECK_STR(names, "0123abcd");
	return TEST_PASS;
}

static int test_remove_dead(void)
{
	cleanup_free char *dir = new_dir("dead");
	cleanup_free char *live = NULL, *dead = NULL, *names = NULL, *expected = NULL;
	pid_t child = fork();

	if (child == 0)
		_exit(0);
	CHECK(child > 0);
	CHECK(waitpid(child, NULL, 0) == child);	/* reaped: its pid names no process now */
	live = xasprintf("%s/.download-%d", dir, (int)getppid());
	dead = xasprintf("%s/.download-%d", dir, (int)child);
	make_tree(live, "x");
	make_tree(dead, "y");
	fs_remove_dead(dir, ".download-");
	names = listing(dir);
	expected = xasprintf(".download-%d", (int)getppid());
	CHECK_STR(names, expected);
	return TEST_PASS;
}

/* ---- the order of the system calls --------------------------------------------------------------- */

/* publish_demo() - what the strace test observes: a tree published as KEY, then current -> KEY */
static int publish_demo(const char *dir)
{
	cleanup_free char *staging = xasprintf("%s/.staging-KEY-1", dir);
	cleanup_free char *final = xasprintf("%s/KEY", dir);
	cleanup_free char *link = xasprintf("%s/current", dir);
	cleanup_error nl_error_t err = NULL;

	const char *files = getenv("NESTLAB_TEST_FS_PUBLISH_FILES");

	make_tree(staging, "a\n");
	for (unsigned i = 0; files && i < (unsigned)atoi(files); i++) {
		cleanup_free char *path = xasprintf("%s/sub/f%u", staging, i);

		write_raw(path, "f\n");
	}
	if (fs_publish(staging, final, &err) < 0 || fs_symlink_replace(link, "KEY", &err) < 0) {
		fprintf(stderr, "%s\n", err->msg);
		return 1;
	}
	return 0;
}

/* line_of() - the index of the first line of @lines at or after @from containing every @needles[], or -1 */
static int line_of(char **lines, int from, const char *const *needles)
{
	for (int i = from < 0 ? 0 : from; lines[i]; i++) {
		size_t k;

		for (k = 0; needles[k] && strstr(lines[i], needles[k]); k++)
			;
		if (!needles[k])
			return i;
	}
	return -1;
}

/* strace_demo() - publish_demo() in @dir with @files more files, under strace: the traced lines (strv) */
static char **strace_demo(const char *dir, unsigned files)
{
	cleanup_free char *trace = xasprintf("%s.trace", dir);
	cleanup_free char *text = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_proc struct proc p = PROC_INIT;
	char **lines = xcalloc(1, sizeof(char *));
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return lines;
	self[n] = '\0';
	strv_push(&p.argv, "strace");
	strv_push(&p.argv, "-y");
	strv_push(&p.argv, "-e");
	strv_push(&p.argv, "trace=fsync,syncfs,rename,renameat,renameat2,symlink,symlinkat");
	strv_push(&p.argv, "-o");
	strv_push(&p.argv, trace);
	strv_push(&p.argv, self);
	strv_pushf(&p.env, "NESTLAB_TEST_FS_PUBLISH=%s", dir);
	strv_pushf(&p.env, "NESTLAB_TEST_FS_PUBLISH_FILES=%u", files);
	p.stdin_io.mode = PROC_IO_NULL;
	if (proc_start(&p, &err) < 0 || proc_wait(&p, 30000, &err) < 0) {
		test_diag("%s", err->msg);
		return lines;
	}
	text = read_file_text(trace);
	for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		strv_push(&lines, l);
	return lines;
}

static int test_publish_sync_order(void)
{
	cleanup_free char *dir = new_dir("strace");
	cleanup_strv char **lines = NULL;
	int file_a, file_b, dir_sub, dir_staging, ren, parent, sym, link_ren, link_parent;

	if (access("/usr/bin/strace", X_OK) < 0)
		return test_skip("strace is not installed ('make deps' installs it)");
	lines = strace_demo(dir, 0);
	CHECK(lines[0] != NULL);
	for (size_t i = 0; lines[i]; i++)
		test_diag("| %s", lines[i]);
	/* files, then their directories bottom up, then the rename, then the parent; then the link */
	file_a = line_of(lines, 0, (const char *[]){ "fsync(", "/.staging-KEY-1/a>", NULL });
	file_b = line_of(lines, 0, (const char *[]){ "fsync(", "/.staging-KEY-1/sub/b>", NULL });
	dir_sub = line_of(lines, 0, (const char *[]){ "fsync(", "/.staging-KEY-1/sub>", NULL });
	dir_staging = line_of(lines, 0, (const char *[]){ "fsync(", "/.staging-KEY-1>", NULL });
	ren = line_of(lines, 0, (const char *[]){ "rename", "/.staging-KEY-1\"", "/KEY\"", NULL });
	parent = line_of(lines, ren, (const char *[]){ "fsync(", "strace-", ">)", NULL });
	sym = line_of(lines, 0, (const char *[]){ "symlink", "\"KEY\"", "current.tmp-", NULL });
	link_ren = line_of(lines, 0, (const char *[]){ "rename", "current.tmp-", "/current\"", NULL });
	link_parent = line_of(lines, link_ren, (const char *[]){ "fsync(", "strace-", ">)", NULL });
	test_diag("a %d, sub/b %d, sub %d, staging %d, rename %d, parent %d, symlink %d, rename %d, parent %d", file_a,
		  file_b, dir_sub, dir_staging, ren, parent, sym, link_ren, link_parent);
	CHECK(file_a >= 0 && file_b >= 0 && dir_sub >= 0 && dir_staging >= 0);
	CHECK(file_b < dir_sub && dir_sub < dir_staging && file_a < dir_staging);
	CHECK(dir_staging < ren);
	CHECK(ren < parent && parent < sym);
	CHECK(sym < link_ren && link_ren < link_parent);
	return TEST_PASS;
}

static int test_publish_many_files_one_syncfs(void)
{
	cleanup_free char *dir = new_dir("strace-many");
	cleanup_free char *copy = NULL;
	cleanup_strv char **lines = NULL;
	int syncfs_line, ren, file_fsync;

	if (access("/usr/bin/strace", X_OK) < 0)
		return test_skip("strace is not installed ('make deps' installs it)");
	/* 100 files more than the 64 synced one by one: one syncfs before the rename, no fsync of a file */
	lines = strace_demo(dir, 100);
	for (size_t i = 0; lines[i]; i++)
		test_diag("| %s", lines[i]);
	syncfs_line = line_of(lines, 0, (const char *[]){ "syncfs(", "/.staging-KEY-1>", NULL });
	ren = line_of(lines, 0, (const char *[]){ "rename", "/.staging-KEY-1\"", "/KEY\"", NULL });
	file_fsync = line_of(lines, 0, (const char *[]){ "fsync(", "/.staging-KEY-1/", NULL });
	CHECK(syncfs_line >= 0 && ren > syncfs_line);
	CHECK(file_fsync < 0);
	copy = xasprintf("%s/KEY/sub/f99", dir);
	CHECK(access(copy, F_OK) == 0);
	return TEST_PASS;
}

/* ---- a full file system ----------------------------------------------------------------------------- */

/* mount_small_tmpfs() - a tmpfs of @size ("1m") on a new directory; NULL (and a skip reason) if not root */
static char *mount_small_tmpfs(const char *size)
{
	char *dir;
	cleanup_free char *opts = xasprintf("size=%s,mode=0755", size);

	if (geteuid() != 0)
		return NULL;
	dir = new_dir("tmpfs");
	if (mount("nestlab-test", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		test_diag("mount tmpfs on %s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

static int test_full_disk_write(void)
{
	cleanup_free char *mnt = mount_small_tmpfs("1m");
	cleanup_free char *path = NULL, *names = NULL, *big = NULL;
	cleanup_error nl_error_t err = NULL;
	struct statvfs vfs;
	size_t len = 2u << 20;
	int ret = TEST_FAIL;

	if (!mnt)
		return test_skip("needs root to mount a small tmpfs as a full disk");
	path = xasprintf("%s/manifest", mnt);
	big = xmalloc(len);
	memset(big, 'x', len);
	if (fs_write_file(path, big, len, &err) == 0) {
		test_diag("a 2 MiB file fit in a 1 MiB tmpfs");
		goto out;
	}
	test_diag("%s", err->msg);
	if (err->errnum != ENOSPC || !fs_error_explain_full(&err, mnt, "the test's manifest"))
		goto out;
	test_diag("%s", err->msg);
	names = listing(mnt);
	if (strcmp(names, "") || statvfs(mnt, &vfs) < 0 || vfs.f_bfree != vfs.f_blocks) {
		test_diag("left behind: '%s'", names);	/* the temporary must be gone, and its blocks free */
		goto out;
	}
	if (!strstr(err->msg, "ran out of room for the test's manifest: free space there, or point "
			      "NESTLAB_CACHE at a file system with more room") ||
	    !strstr(err->msg, mnt) || !strstr(err->msg, "1 MiB in all"))
		goto out;
	ret = TEST_PASS;
out:
	umount2(mnt, MNT_DETACH);
	return ret;
}

static int test_full_error_recognised(void)
{
	cleanup_error nl_error_t child = NULL, intr = NULL, other = NULL, apt = NULL;
	cleanup_free char *dir = new_dir("full");

	nl_error(&child, 0, "extract: tar exited with status 2:\n    tar: x: Cannot write: No space left on device");
	nl_error(&intr, EINTR, "interrupted");
	nl_error(&other, EACCES, "create x");
	nl_error(&apt, 0, "linux=6.12.38-1: apt-get exited with status 100:\n    E: You don't have enough free space in ..");
	CHECK(fs_error_is_full(&child));
	CHECK(fs_error_is_full(&apt));
	CHECK(!fs_error_is_full(&intr));
	CHECK(!fs_error_is_full(&other));
	CHECK(fs_error_explain_full(&child, dir, "the build of fake"));
	CHECK(child->errnum == ENOSPC);
	CHECK_CONTAINS(child->msg, "the file system holding ");
	CHECK(!fs_error_explain_full(&other, dir, "x"));
	CHECK(!strstr(other->msg, "file system holding"));
	/* marking: a file system with room is not called full, and an interruption stays one */
	fs_error_mark_full(&other, dir);
	CHECK(other->errnum == EACCES);
	fs_error_mark_full(&intr, dir);
	CHECK(intr->errnum == EINTR);
	return TEST_PASS;
}

/* ---- the cache root ------------------------------------------------------------------------------ */

/* saved_env - NESTLAB_CACHE and HOME as the test found them, put back by env_restore() */
struct saved_env {
	char *cache, *home;
};

static struct saved_env env_save(void)
{
	const char *cache = getenv("NESTLAB_CACHE"), *home = getenv("HOME");

	return (struct saved_env){ cache ? xstrdup(cache) : NULL, home ? xstrdup(home) : NULL };
}

static void env_restore(struct saved_env *s)
{
	if (s->cache)
		setenv("NESTLAB_CACHE", s->cache, 1);
	else
		unsetenv("NESTLAB_CACHE");
	if (s->home)
		setenv("HOME", s->home, 1);
	else
		unsetenv("HOME");
	free(s->cache);
	free(s->home);
}
#define cleanup_env __attribute__((cleanup(env_restore)))

/* the order: NESTLAB_CACHE, then HOME, then the password database; relative becomes absolute */
static int test_cache_dir_sources(void)
{
	cleanup_env struct saved_env saved = env_save();
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *cwd = getcwd(NULL, 0), *rel = NULL;
	cleanup_free char *pw_expect = NULL, *home_expect = NULL;
	static const char fake_home[] = "/home/someone";
	const struct passwd *pw = getpwuid(geteuid());

	setenv("NESTLAB_CACHE", "/srv/nl-cache", 1);
	setenv("HOME", fake_home, 1);
	home_expect = xasprintf("%s/.cache/nestlab", fake_home);
	a = fs_cache_dir(&err);
	CHECK_STR(a, "/srv/nl-cache");
	setenv("NESTLAB_CACHE", "", 1);
	b = fs_cache_dir(&err);
	CHECK_STR(b, home_expect);
	setenv("NESTLAB_CACHE", "rel/cache", 1);
	c = fs_cache_dir(&err);
	rel = xasprintf("%s/rel/cache", cwd);
	CHECK_STR(c, rel);
	unsetenv("NESTLAB_CACHE");
	unsetenv("HOME");
	d = fs_cache_dir(&err);
	CHECK(pw && pw->pw_dir);
	pw_expect = xasprintf("%s/.cache/nestlab", pw->pw_dir);
	CHECK_STR(d, pw_expect);
	CHECK(!err);
	return TEST_PASS;
}

/*
 * test_cache_dir_one_answer() - with HOME unset, the plan (runs, builds: its artefact paths) and the image
 * builder name the same cache; this is where the old resolutions disagreed
 */
static int test_cache_dir_one_answer(void)
{
	cleanup_env struct saved_env saved = env_save();
	cleanup_error nl_error_t err = NULL, ierr = NULL;
	cleanup_free char *root = NULL;
	struct image_config cfg = { 0 };
	struct plan_env env;
	int same_plan, same_image;

	unsetenv("NESTLAB_CACHE");
	unsetenv("HOME");
	root = fs_cache_dir(&err);
	CHECK(root && root[0] == '/');
	plan_env_init_default(&env, NULL);
	/* image_config_init_default() sets the cache first; a missing agent or busybox later does not matter */
	image_config_init_default(&cfg, NULL, &ierr);
	same_plan = env.cache_dir && !strcmp(env.cache_dir, root);
	same_image = cfg.cache_dir && !strcmp(cfg.cache_dir, root);
	test_diag("fs_cache_dir %s, plan %s, images %s", root, env.cache_dir ? env.cache_dir : "(null)",
		  cfg.cache_dir ? cfg.cache_dir : "(null)");
	plan_env_release(&env);
	image_config_release(&cfg);
	CHECK(same_plan);
	CHECK(same_image);
	return TEST_PASS;
}

/* no NESTLAB_CACHE, no HOME, a user without a passwd entry: one clear error that says what to set */
static int test_cache_dir_none(void)
{
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return test_skip("needs root to become a user without a password entry");
	if (getpwuid(54321))
		return test_skip("uid 54321 has a password entry here");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		nl_error_t err = NULL;
		char *dir;

		unsetenv("NESTLAB_CACHE");
		unsetenv("HOME");
		if (setgid(54321) < 0 || setuid(54321) < 0)
			_exit(10);
		dir = fs_cache_dir(&err);
		if (dir)
			_exit(11);
		if (!err || !strstr(err->msg, "NESTLAB_CACHE and HOME are unset") ||
		    !strstr(err->msg, "hint: set NESTLAB_CACHE"))
			_exit(12);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		test_diag("child exit status %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_write_file_whole_or_nothing),
	TEST_CASE(test_publish_directory),
	TEST_CASE(test_publish_failure_leaves_nothing),
	TEST_CASE(test_symlink_replace),
	TEST_CASE(test_remove_tree),
	TEST_CASE(test_remove_stale),
	TEST_CASE(test_remove_dead),
	TEST_CASE(test_publish_sync_order),
	TEST_CASE(test_publish_many_files_one_syncfs),
	TEST_CASE(test_full_disk_write),
	TEST_CASE(test_full_error_recognised),
	TEST_CASE(test_cache_dir_sources),
	TEST_CASE(test_cache_dir_one_answer),
	TEST_CASE(test_cache_dir_none),
};

int main(void)
{
	const char *demo = getenv("NESTLAB_TEST_FS_PUBLISH");
	cleanup_error nl_error_t err = NULL;
	int ret;

	if (demo)
		return publish_demo(demo);
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		return 1;
	}
	ret = test_main(tests, ARRAY_SIZE(tests));
	fs_remove_tree(tmp_root, &err);
	return ret;
}
