/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_rundir.c - unit tests for rundir.c: run directories of concurrent runs never collide, and the
 * latest-NAME link is never missing while runs replace it
 *
 * The runs are real processes (fork), as concurrent `nestlab run` invocations are; only the clock is
 * not controlled: the writers create many directories within a few seconds, so most of them share a
 * second with another writer, which is the case that must not collide.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "rundir.h"
#include "test.h"

#define WRITERS 6
#define RUNS_PER_WRITER 40

/* make_base() - a fresh directory under /tmp; caller frees */
static char *make_base(void)
{
	char tmpl[] = "/tmp/nestlab-test-rundir-XXXXXX";

	if (!mkdtemp(tmpl))
		return NULL;
	return xstrdup(tmpl);
}

/* remove_base() - remove @base and the run directories and links in it (one level) */
static void remove_base(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		cleanup_free char *p = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", base, e->d_name);
		if (unlink(p) < 0)
			rmdir(p);
	}
	if (d)
		closedir(d);
	rmdir(base);
}

/* writer() - child: create @n run directories of "scn", print each path on @fd; exit 1 on an error */
static void writer(const char *base, int fd, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		cleanup_error nl_error_t err = NULL;
		cleanup_free char *dir = NULL;
		cleanup_free char *line = NULL;

		if (rundir_create(base, "scn", &dir, &err) < 0) {
			dprintf(fd, "ERROR %s\n", err->msg);
			_exit(1);
		}
		line = xasprintf("%s\n", dir);
		if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
			_exit(1);
	}
	_exit(0);
}

/* cmp_str() - qsort of strings */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * test_concurrent_same_second() - WRITERS processes create RUNS_PER_WRITER run directories each at
 * once: every call succeeds, every path is distinct and exists, and latest-scn points at one of them.
 * Before the rename: a second symlink() after another run's unlink() + symlink() failed with EEXIST.
 */
static int test_concurrent_same_second(void)
{
	cleanup_free char *base = make_base();
	cleanup_free char *text = NULL;
	cleanup_free char *link = NULL;
	char **paths = xzalloc(sizeof(char *) * (WRITERS * RUNS_PER_WRITER + 1));
	struct strbuf sb = STRBUF_INIT;
	int pipefd[2], failed = 0;
	size_t count = 0;
	char target[4096], buf[4096];
	ssize_t n;
	int ret = TEST_FAIL;

	CHECK(base && pipe(pipefd) == 0);
	for (int w = 0; w < WRITERS; w++) {
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0) {
			close(pipefd[0]);
			writer(base, pipefd[1], RUNS_PER_WRITER);
		}
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	close(pipefd[0]);
	for (int w = 0; w < WRITERS; w++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	text = strbuf_detach(&sb);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "ERROR ", 6))
			test_diag("rundir_create: %s", line + 6);
		else if (count < WRITERS * RUNS_PER_WRITER)
			paths[count++] = line;
	}
	if (failed) {
		test_diag("%d of %d writers failed", failed, WRITERS);
		goto out;
	}
	if (count != WRITERS * RUNS_PER_WRITER) {
		test_diag("%zu run directories reported, %d expected", count, WRITERS * RUNS_PER_WRITER);
		goto out;
	}
	qsort(paths, count, sizeof(char *), cmp_str);
	for (size_t i = 0; i < count; i++) {
		struct stat st;

		if (i && !strcmp(paths[i], paths[i - 1])) {
			test_diag("two runs got %s", paths[i]);
			goto out;
		}
		if (stat(paths[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			test_diag("%s is not a directory", paths[i]);
			goto out;
		}
	}
	link = xasprintf("%s/latest-scn", base);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0) {
		test_diag("readlink %s: %s", link, strerror(errno));
		goto out;
	}
	target[n] = '\0';
	for (size_t i = 0; i < count; i++) {
		const char *slash = strrchr(paths[i], '/');

		if (slash && !strcmp(slash + 1, target))
			ret = TEST_PASS;
	}
	if (ret != TEST_PASS)
		test_diag("latest-scn -> %s, which is none of the runs", target);
	test_diag("%zu run directories from %d processes", count, WRITERS);
out:
	free(paths);
	remove_base(base);
	return ret;
}

/*
 * test_latest_never_missing() - while writers replace latest-scn again and again, a reader that looks
 * at it in a tight loop always finds it, and it always resolves to a directory. Before the rename, the
 * reader saw it missing between another run's unlink() and symlink().
 */
static int test_latest_never_missing(void)
{
	cleanup_free char *base = make_base();
	cleanup_free char *link = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *first = NULL;
	pid_t writers[WRITERS];
	unsigned looks = 0, missing = 0, dangling = 0;
	int running = WRITERS, failed = 0;

	CHECK(base);
	CHECK(rundir_create(base, "scn", &first, &err) == 0);
	link = xasprintf("%s/latest-scn", base);
	for (int w = 0; w < WRITERS; w++) {
		writers[w] = fork();
		CHECK(writers[w] >= 0);
		if (writers[w] == 0) {
			int null_fd = open("/dev/null", O_WRONLY);

			writer(base, null_fd, RUNS_PER_WRITER);
		}
	}
	while (running > 0) {
		struct stat st;
		int status;
		pid_t pid;

		looks++;
		if (lstat(link, &st) < 0)
			missing++;
		else if (stat(link, &st) < 0 || !S_ISDIR(st.st_mode))
			dangling++;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
	}
	remove_base(base);
	test_diag("%u looks at latest-scn while %d processes replaced it %d times: %u missing, %u dangling", looks,
		  WRITERS, WRITERS * RUNS_PER_WRITER, missing, dangling);
	CHECK(failed == 0);
	CHECK(missing == 0);
	CHECK(dangling == 0);
	return TEST_PASS;
}

/* test_dir_and_file() - the path has the scenario name and a time stamp; rundir_write_file() writes it */
static int test_dir_and_file(void)
{
	cleanup_free char *base = make_base();
	cleanup_free char *dir = NULL, *again = NULL, *file = NULL, *text = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(base);
	CHECK(rundir_create(base, "nested-igb", &dir, &err) == 0);
	CHECK(!strncmp(dir, base, strlen(base)) && strstr(dir, "/nested-igb-20"));
	CHECK(rundir_create(base, "nested-igb", &again, &err) == 0);
	CHECK(strcmp(dir, again) != 0);
	CHECK(rundir_write_file(dir, "plan.txt", "hello\n", &err) == 0);
	file = xasprintf("%s/plan.txt", dir);
	text = read_file_text(file);
	CHECK_STR(text, "hello\n");
	CHECK(rundir_write_file("/nonexistent-dir", "x", "y", &err) < 0);
	CHECK_CONTAINS(err->msg, "/nonexistent-dir/x");
	unlink(file);
	remove_base(base);
	return TEST_PASS;
}

/*
 * test_no_room_no_run() - a runs directory on a file system with less than 512 MiB free (a 256 MiB tmpfs)
 * gets no run directory and a full-disk error; with room (a 1 GiB tmpfs, which allocates nothing) it does
 */
static int test_no_room_no_run(void)
{
	cleanup_free char *base = make_base();
	cleanup_free char *small = NULL, *big = NULL, *dir = NULL;
	cleanup_error nl_error_t err = NULL;
	int ret = TEST_FAIL;

	if (geteuid() != 0)
		return test_skip("needs root to mount a small tmpfs");
	CHECK(base != NULL);
	small = xasprintf("%s/small", base);
	big = xasprintf("%s/big", base);
	CHECK(mkdir(small, 0755) == 0 && mkdir(big, 0755) == 0);
	if (mount("nestlab-test", small, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m") < 0 ||
	    mount("nestlab-test", big, "tmpfs", MS_NOSUID | MS_NODEV, "size=1g") < 0) {
		test_diag("mount tmpfs: %s", strerror(errno));
		goto out;
	}
	if (rundir_create(small, "scn", &dir, &err) == 0) {
		test_diag("a run directory was made with 256 MiB free: %s", dir);
		goto out;
	}
	test_diag("%s", err->msg);
	if (err->errnum != ENOSPC || !strstr(err->msg, "a run (L1's overlay, consoles, logs) needs at least 512 MiB") ||
	    !strstr(err->msg, "free space there, or point NESTLAB_CACHE at a file system with more room"))
		goto out;
	{
		DIR *d = opendir(small);
		struct dirent *e;
		unsigned entries = 0;

		while (d && (e = readdir(d)))
			entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
		if (d)
			closedir(d);
		if (entries) {
			test_diag("%u entries left in %s", entries, small);
			goto out;
		}
	}
	nl_error_release(&err);
	if (rundir_create(big, "scn", &dir, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	ret = TEST_PASS;
out:
	umount2(small, MNT_DETACH);
	umount2(big, MNT_DETACH);
	rmdir(small);
	rmdir(big);
	rmdir(base);
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_concurrent_same_second),
	TEST_CASE(test_latest_never_missing),
	TEST_CASE(test_dir_and_file),
	TEST_CASE(test_no_room_no_run),
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
