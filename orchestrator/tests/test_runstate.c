/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_runstate.c - a run's private directory and record, and `nestlab clean` of a run killed with SIGKILL
 *
 * The "run" is a forked child of the test that does what nestlab does (runstate_create(), the record,
 * processes that outlive it the way a daemonized QEMU does) and is then killed with SIGKILL. Real
 * processes, no fakes but the child standing in for nestlab. NESTLAB_STATE_DIR points at a temporary
 * base so that the machine's real runs are never looked at.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rundir.h"
#include "runstate.h"
#include "test.h"

/* fresh_base() - a new temporary state base in $NESTLAB_STATE_DIR; caller frees */
static char *fresh_base(void)
{
	char *tmp = xstrdup("/tmp/nestlab-test-runstate-XXXXXX");
	char *base;

	if (!mkdtemp(tmp))
		return NULL;
	base = xasprintf("%s/state", tmp);
	free(tmp);
	setenv("NESTLAB_STATE_DIR", base, 1);
	return base;
}

/* alive() - @pid runs (not a zombie) */
static bool alive(pid_t pid)
{
	char path[64];
	cleanup_free char *stat = NULL;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat = read_file_text(path);
	p = stat ? strrchr(stat, ')') : NULL;
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* execd() - /proc/@pid/cmdline starts with @prog (NULs read as spaces) */
static bool execd(pid_t pid, const char *prog)
{
	char path[64], buf[256];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	for (ssize_t i = 0; i < len; i++)
		if (!buf[i])
			buf[i] = ' ';
	buf[len] = '\0';
	return !strncmp(buf, prog, strlen(prog));
}

/* quiet_stdio() - in a child that outlives the test: not on the test's output (the TAP driver's pipe) */
static void quiet_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
}

/* spawned pids the test kills (by pid) whatever happened: see test_clean_abandoned() */
static pid_t spawned[4];

/* spawn_sleeper() - `sh -c 'exec sleep 600' @arg0`: a process that outlives its parent and names @arg0 */
static pid_t spawn_sleeper(const char *arg0)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		quiet_stdio();
		execl("/bin/sh", "sh", "-c", "exec sleep 600", arg0, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int test_base_is_private(void)
{
	cleanup_free char *base = fresh_base();
	cleanup_free char *got = NULL;
	cleanup_free char *link = NULL;
	cleanup_error nl_error_t err = NULL;
	struct stat st;

	CHECK(base);
	CHECK(runstate_base(&got, &err) == 0);
	CHECK_STR(got, base);
	CHECK(lstat(base, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	CHECK(chmod(base, 0755) == 0);
	free(got);
	got = NULL;
	CHECK(runstate_base(&got, &err) == -1);
	CHECK_CONTAINS(err->msg, "mode 0700");
	nl_error_release(&err);
	/* a link planted where the base goes is refused, not followed */
	link = xasprintf("%s-link", base);
	CHECK(symlink(base, link) == 0);
	setenv("NESTLAB_STATE_DIR", link, 1);
	CHECK(runstate_base(&got, &err) == -1);
	CHECK_CONTAINS(err->msg, "symbolic link");
	unsetenv("NESTLAB_STATE_DIR");
	return TEST_PASS;
}

/* test_live_run_untouched() - the record of a run that lives is left alone; runstate_remove() clears it */
static int test_live_run_untouched(void)
{
	cleanup_free char *base = fresh_base();
	cleanup_free char *record = NULL;
	cleanup_free char *dir = NULL;
	cleanup_error nl_error_t err = NULL;
	struct runstate rs = RUNSTATE_INIT, other = RUNSTATE_INIT;
	size_t cleaned, live;
	struct stat st;
	FILE *report = fopen("/dev/null", "we");

	CHECK(base && report);
	CHECK(runstate_create(&rs, "/srv/runs/x-1", &err) == 0);
	CHECK(runstate_create(&other, "/srv/runs/x-2", &err) == 0);
	CHECK(strncmp(rs.dir, base, strlen(base)) == 0 && strcmp(rs.dir, other.dir) != 0);
	CHECK(stat(rs.dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(runstate_set(&rs, "domain", "nestlab-x-abcdef", &err) == 0);
	{
		cleanup_free char *path = xasprintf("%s/state", rs.dir);

		record = read_file_text(path);
	}
	CHECK_CONTAINS(record, "run_dir /srv/runs/x-1\n");
	CHECK_CONTAINS(record, "domain nestlab-x-abcdef\n");
	CHECK_CONTAINS(record, "libvirt_root ");
	CHECK(runstate_clean(report, &cleaned, &live, &err) == 0);
	CHECK(cleaned == 0 && live == 2);
	CHECK(access(rs.dir, F_OK) == 0);
	dir = xstrdup(rs.dir);
	runstate_remove(&rs);
	CHECK(access(dir, F_OK) != 0);
	runstate_remove(&other);
	fclose(report);
	return TEST_PASS;
}

/*
 * fake_nestlab() - in a forked child: a run's record with an overlay, a domain, L1's QEMU log in the
 * libvirt root, a "QEMU" that names the private directory, one recorded by pid, and a pid recorded with
 * a wrong start time (a reused pid: @bystander, which must survive); then wait to be killed
 */
static void fake_nestlab(int out_fd, const char *run_dir, pid_t bystander)
{
	cleanup_error nl_error_t err = NULL;
	struct runstate rs = RUNSTATE_INIT;
	cleanup_free char *overlay = xasprintf("%s/l1-overlay.qcow2", run_dir);
	cleanup_free char *logdir = NULL;
	cleanup_free char *reused = xasprintf("%d 1", (int)bystander);
	pid_t named, recorded;

	if (runstate_create(&rs, run_dir, &err) < 0 || runstate_set(&rs, "overlay", overlay, &err) < 0 ||
	    rundir_write_file(run_dir, "l1-overlay.qcow2", "qcow2", &err) < 0 ||
	    runstate_set(&rs, "domain", "nestlab-fake-123456", &err) < 0)
		_exit(1);
	logdir = xasprintf("%s/log/qemu", rs.libvirt_root);
	if (mkdir(rs.libvirt_root, 0755) < 0 || mkdir(xasprintf("%s/log", rs.libvirt_root), 0755) < 0 ||
	    mkdir(logdir, 0755) < 0 || rundir_write_file(logdir, "nestlab-fake-123456.log", "QEMU said goodbye\n", &err) < 0)
		_exit(1);
	{
		/* a process whose command line names the private directory, as QEMU's does (its monitor socket) */
		cleanup_free char *fifo = xasprintf("%s/monitor.fifo", rs.dir);

		if (mkfifo(fifo, 0600) < 0)
			_exit(1);
		named = fork();
		if (named == 0) {
			setsid();
			quiet_stdio();
			execlp("cat", "cat", fifo, (char *)NULL);
			_exit(127);
		}
	}
	recorded = spawn_sleeper("fake-qemu");
	if (runstate_set_pid(&rs, "qemu", recorded, &err) < 0 || runstate_set(&rs, "pid", reused, &err) < 0)
		_exit(1);
	dprintf(out_fd, "%s %d %d\n", rs.dir, (int)named, (int)recorded);
	close(out_fd);
	for (;;)
		pause();
}

/*
 * test_clean_abandoned() - after SIGKILL of "nestlab", runstate_clean() stops its processes, keeps L1's
 * QEMU log in the run directory, removes the overlay and the private directory, says so, and leaves a
 * process whose pid was reused alone
 */
static int clean_abandoned(void)
{
	cleanup_free char *base = fresh_base();
	cleanup_free char *run_dir = base ? xasprintf("%.*s/run", (int)(strrchr(base, '/') - base), base) : NULL;
	cleanup_free char *report_text = NULL;
	cleanup_free char *kept = NULL;
	cleanup_free char *report_path = base ? xasprintf("%s.report", run_dir) : NULL;
	cleanup_error nl_error_t err = NULL;
	char line[512], dir[400];
	int fds[2], named = 0, recorded = 0;
	size_t cleaned, live;
	pid_t nestlab, bystander = spawned[0] = spawn_sleeper("bystander");
	FILE *in, *report;
	ssize_t len;

	CHECK(base && bystander > 0 && mkdir(run_dir, 0755) == 0 && pipe(fds) == 0);
	nestlab = fork();
	if (nestlab == 0) {
		close(fds[0]);
		fake_nestlab(fds[1], run_dir, bystander);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	CHECK(in && fgets(line, sizeof(line), in));
	fclose(in);
	CHECK(sscanf(line, "%399s %d %d", dir, &named, &recorded) == 3);
	spawned[1] = named;
	spawned[2] = recorded;
	CHECK(alive(named) && alive(recorded));
	/* until they have exec'd, the forked children still hold the inherited (O_CLOEXEC) lock */
	for (int i = 0; i < 200 && !(execd(named, "cat ") && execd(recorded, "sleep ")); i++)
		usleep(10000);
	CHECK(execd(named, "cat ") && execd(recorded, "sleep "));
	report = fopen(report_path, "we");
	/* alive: nothing happens */
	CHECK(runstate_clean(report, &cleaned, &live, &err) == 0);
	CHECK(cleaned == 0 && live == 1 && alive(named) && alive(recorded));
	CHECK(kill(nestlab, SIGKILL) == 0 && waitpid(nestlab, NULL, 0) == nestlab);
	CHECK(alive(named) && alive(recorded));	/* they outlive it, as a daemonized QEMU does */
	CHECK(runstate_clean(report, &cleaned, &live, &err) == 0);
	fclose(report);
	report_text = read_file_text(report_path);
	test_diag_run(report_text, NULL);
	test_diag("cleaned %zu, live %zu", cleaned, live);
	CHECK(cleaned == 1 && live == 0);
	for (int i = 0; i < 100 && (alive(named) || alive(recorded)); i++)
		usleep(50000);	/* init reaps them */
	CHECK(!alive(named) && !alive(recorded));
	CHECK(alive(bystander));
	CHECK(access(dir, F_OK) != 0);
	{
		cleanup_free char *overlay = xasprintf("%s/l1-overlay.qcow2", run_dir);

		CHECK(access(overlay, F_OK) != 0);
	}
	kept = xasprintf("%s/l1-qemu.log", run_dir);
	{
		cleanup_free char *text = read_file_text(kept);

		CHECK_STR(text, "QEMU said goodbye\n");
	}
	snprintf(line, sizeof(line), "stopped cat (pid %d)", named);
	CHECK_CONTAINS(report_text, line);
	snprintf(line, sizeof(line), "qemu (pid %d, recorded)", recorded);
	CHECK_CONTAINS(report_text, line);
	CHECK_CONTAINS(report_text, "of libvirt domain nestlab-fake-123456");
	CHECK_CONTAINS(report_text, "removed the overlay");
	CHECK_CONTAINS(report_text, "and the libvirt root in it");
	len = snprintf(line, sizeof(line), "pid %d", (int)bystander);
	CHECK(len > 0);
	CHECK(!strstr(report_text, line));
	kill(bystander, SIGKILL);
	waitpid(bystander, NULL, 0);
	/* nothing left: a second pass finds nothing */
	report = fopen("/dev/null", "we");
	CHECK(runstate_clean(report, &cleaned, &live, &err) == 0 && cleaned == 0 && live == 0);
	fclose(report);
	return TEST_PASS;
}

static int test_clean_abandoned(void)
{
	int ret = clean_abandoned();

	for (size_t i = 0; i < ARRAY_SIZE(spawned); i++)
		if (spawned[i] > 0 && alive(spawned[i]))
			kill(spawned[i], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_base_is_private),
	TEST_CASE(test_live_run_untouched),
	TEST_CASE(test_clean_abandoned),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
