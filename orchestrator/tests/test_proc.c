/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_proc.c - unit tests for proc.c with real children: exit status, capture, streams, environment,
 * timeouts (SIGTERM then SIGKILL), process-group killing, reaping, descriptor leaks, exec failures,
 * signal state of the child, PR_SET_PDEATHSIG and the registry
 *
 * Timing is asserted as behaviour with generous bounds, never as tight numbers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "proc.h"
#include "test.h"

/* proc_state() - the state letter of /proc/PID/stat, or 0 when the process does not exist */
static char proc_state(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_file FILE *f = fopen(path, "re");
	char buf[512];
	char *paren;

	if (!f || !fgets(buf, sizeof(buf), f))
		return 0;
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* dead_within() - whether @pid is gone or a zombie (someone else's to reap) within @ms */
static bool dead_within(pid_t pid, unsigned ms)
{
	for (uint64_t until = now_ms() + ms;; usleep(10000)) {
		char state = proc_state(pid);

		if (state == 0 || state == 'Z' || state == 'X')
			return true;
		if (now_ms() > until)
			return false;
	}
}

/* start_sh() - start "sh -c SCRIPT" in @p with stdout on a pipe */
static int start_sh(struct proc *p, const char *script, nl_error_t *err)
{
	proc_init(p);
	strv_push(&p->argv, "sh");
	strv_push(&p->argv, "-c");
	strv_push(&p->argv, script);
	p->stdout_io.mode = PROC_IO_PIPE;
	return proc_start(p, err);
}

/* read_line_fd() - read up to a newline from @fd into @buf */
static bool read_line_fd(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return true;
}

static int test_proc_exit_status(void)
{
	cleanup_proc struct proc ok = PROC_INIT, bad = PROC_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(start_sh(&ok, "exit 0", &err) == 0);
	CHECK(proc_wait(&ok, 10000, &err) == 0);
	CHECK(ok.reaped && !ok.running && ok.exit_status == 0);
	CHECK(start_sh(&bad, "exit 3", &err) == 0);
	CHECK(proc_wait(&bad, 10000, &err) == -1);
	CHECK(bad.exit_status == 3 && bad.term_signal == 0 && !bad.timed_out);
	CHECK_STR(err->msg, "sh exited with status 3");
	return TEST_PASS;
}

static int test_proc_status_messages(void)
{
	struct proc p;
	cleanup_free char *a = NULL;
	cleanup_free char *b = NULL;
	cleanup_free char *c = NULL;

	proc_init(&p);
	p.name = xstrdup("qemu-system-x86_64");
	p.reaped = true;
	p.exit_status = 1;
	a = proc_status_message(&p);
	p.term_signal = SIGKILL;
	p.timed_out = true;
	p.timeout_ms = 5000;
	b = proc_status_message(&p);
	p.reaped = false;
	c = proc_status_message(&p);
	proc_release(&p);
	CHECK_STR(a, "qemu-system-x86_64 exited with status 1");
	CHECK_STR(b, "qemu-system-x86_64 killed by signal 9 (SIGKILL) after timeout 5000 ms");
	CHECK_STR(c, "qemu-system-x86_64 is not started");
	return TEST_PASS;
}

static int test_proc_run_capture(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 0", NULL };

	CHECK(proc_run(argv, 10000, &out, &err) == 0);
	CHECK_STR(out, "out\nerr\n");
	return TEST_PASS;
}

static int test_proc_run_failure_keeps_output(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;
	char *argv[] = { "sh", "-c", "echo 'qemu: cannot open /dev/kvm' >&2; exit 1", NULL };

	CHECK(proc_run(argv, 10000, &out, &err) == -1);
	CHECK_STR(out, "qemu: cannot open /dev/kvm\n");
	CHECK_STR(err->msg, "sh exited with status 1");
	return TEST_PASS;
}

static int test_proc_run_output_cap(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;
	char *argv[] = { "sh", "-c", "yes | head -c 5000000", NULL };

	CHECK(proc_run(argv, 30000, &out, &err) == 0);
	CHECK(strlen(out) > PROC_RUN_OUTPUT_MAX_BYTES);
	CHECK(strlen(out) < PROC_RUN_OUTPUT_MAX_BYTES + 200);
	CHECK_CONTAINS(out + PROC_RUN_OUTPUT_MAX_BYTES, "output truncated, 805696 more bytes dropped");
	return TEST_PASS;
}

static int test_proc_stdin_pipe_and_files(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	char path[] = "/tmp/nestlab-proc-XXXXXX";
	cleanup_close int tmp = mkostemp(path, O_CLOEXEC);
	char buf[64] = "";

	CHECK(tmp >= 0);
	for (int round = 0; round < 2; round++) {
		proc_init(&p);
		strv_push(&p.argv, "cat");
		p.stdin_io.mode = PROC_IO_PIPE;
		p.stdout_io = (struct proc_io){ round ? PROC_IO_FILE_APPEND : PROC_IO_FILE_TRUNC, path };
		p.stderr_io.mode = PROC_IO_NULL;
		CHECK(proc_start(&p, &err) == 0);
		CHECK(p.stdin_fd >= 0 && p.stdout_fd == -1);
		CHECK(write(p.stdin_fd, "line\n", 5) == 5);
		close(p.stdin_fd);
		p.stdin_fd = -1;
		CHECK(proc_wait(&p, 10000, &err) == 0);
		proc_release(&p);
	}
	CHECK(pread(tmp, buf, sizeof(buf) - 1, 0) == 10);
	unlink(path);
	CHECK_STR(buf, "line\nline\n");
	return TEST_PASS;
}

static int test_proc_env_and_cwd(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	char line[256];

	setenv("NESTLAB_TEST_GONE", "still here", 1);
	proc_init(&p);
	strv_push(&p.argv, "sh");
	strv_push(&p.argv, "-c");
	strv_push(&p.argv, "echo \"$NESTLAB_TEST_A|${NESTLAB_TEST_GONE-unset}|$(pwd)\"");
	strv_push(&p.env, "NESTLAB_TEST_A=a=b");
	strv_push(&p.env, "NESTLAB_TEST_GONE");
	p.cwd = "/";
	p.stdout_io.mode = PROC_IO_PIPE;
	CHECK(proc_start(&p, &err) == 0);
	CHECK(read_line_fd(p.stdout_fd, line, sizeof(line)));
	CHECK(proc_wait(&p, 10000, &err) == 0);
	unsetenv("NESTLAB_TEST_GONE");
	CHECK_STR(line, "a=b|unset|/");
	return TEST_PASS;
}

static int test_proc_timeout_term_ignored_then_kill(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	uint64_t start;

	proc_init(&p);
	strv_push(&p.argv, "sh");
	strv_push(&p.argv, "-c");
	strv_push(&p.argv, "trap '' TERM; sleep 30");
	p.grace_ms = 300;
	CHECK(proc_start(&p, &err) == 0);
	start = now_ms();
	CHECK(proc_wait(&p, 200, &err) == -1);
	CHECK(now_ms() - start >= 200 + 300);	/* it did wait for the grace period */
	CHECK(now_ms() - start < 10000);	/* and did not wait for sleep 30 */
	CHECK(p.timed_out && p.term_signal == SIGKILL);
	CHECK(err->errnum == ETIMEDOUT);
	CHECK_CONTAINS(err->msg, "sh killed by signal 9 (SIGKILL) after timeout 200 ms");
	return TEST_PASS;
}

static int test_proc_timeout_term_honoured(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	uint64_t start;

	proc_init(&p);
	strv_push(&p.argv, "sleep");
	strv_push(&p.argv, "30");
	p.grace_ms = 20000;
	CHECK(proc_start(&p, &err) == 0);
	start = now_ms();
	CHECK(proc_wait(&p, 100, &err) == -1);
	CHECK(now_ms() - start < 10000);	/* SIGTERM worked: no need to sit out the grace period */
	CHECK(p.term_signal == SIGTERM);
	CHECK_CONTAINS(err->msg, "sleep killed by signal 15 (SIGTERM) after timeout 100 ms");
	return TEST_PASS;
}

static int test_proc_group_killed_on_timeout(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	char line[64];
	pid_t grandchild;

	CHECK(start_sh(&p, "trap '' TERM; sleep 30 & echo $!; wait", &err) == 0);
	p.grace_ms = 200;
	CHECK(read_line_fd(p.stdout_fd, line, sizeof(line)));
	grandchild = (pid_t)atoi(line);
	CHECK(grandchild > 0 && proc_state(grandchild) != 0);
	CHECK(proc_wait(&p, 100, &err) == -1);
	CHECK(dead_within(grandchild, 5000));
	return TEST_PASS;
}

static int test_proc_group_leftovers_killed_on_exit(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	char line[64];
	pid_t grandchild;

	CHECK(start_sh(&p, "sleep 30 & echo $!", &err) == 0);
	CHECK(read_line_fd(p.stdout_fd, line, sizeof(line)));
	grandchild = (pid_t)atoi(line);
	CHECK(proc_wait(&p, 10000, &err) == 0);
	CHECK(dead_within(grandchild, 5000));
	return TEST_PASS;
}

static int test_proc_reaped_no_zombie(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	pid_t pid;

	CHECK(start_sh(&p, "exit 0", &err) == 0);
	pid = p.pid;
	CHECK(proc_registry_count() == 1);
	CHECK(proc_wait(&p, 10000, &err) == 0);
	CHECK(proc_registry_count() == 0);
	CHECK(proc_state(pid) == 0);	/* not even a zombie */
	CHECK(waitpid(pid, NULL, WNOHANG) == -1 && errno == ECHILD);
	CHECK(p.pidfd == -1);
	return TEST_PASS;
}

/*
 * check_fd_listing() - run "ls /proc/self/fd" with non-CLOEXEC descriptors open in the parent at 40 and
 * 41 (and 41 passed on purpose when @keep_41) and check that the child sees only 0, 1, 2, its own
 * directory descriptor and the passed one
 */
static int check_fd_listing(bool keep_41)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;
	char buf[4096];
	ssize_t n;
	int keep = 41, seen = 0, extra = 0;

	CHECK(dup2(STDERR_FILENO, 40) == 40 && dup2(STDERR_FILENO, 41) == 41);	/* no O_CLOEXEC */
	proc_init(&p);
	strv_push(&p.argv, "ls");
	strv_push(&p.argv, "/proc/self/fd");
	p.stdout_io.mode = PROC_IO_PIPE;
	if (keep_41) {
		p.keep_fds = &keep;
		p.n_keep_fds = 1;
	}
	CHECK(proc_start(&p, &err) == 0);
	n = read(p.stdout_fd, buf, sizeof(buf) - 1);
	CHECK(proc_wait(&p, 10000, &err) == 0);
	close(40);
	close(41);
	CHECK(n > 0);
	buf[n] = '\0';
	for (char *tok = strtok(buf, "\n"); tok; tok = strtok(NULL, "\n")) {
		int fd = atoi(tok);

		if (fd <= 2)
			seen++;
		else if (fd == 41 && keep_41)
			seen++;
		else if (fd == 40 || fd == 41)
			return test_diag("descriptor %d leaked into the child", fd), TEST_FAIL;
		else
			extra++;
	}
	CHECK(seen == (keep_41 ? 4 : 3));
	CHECK(extra <= 1);	/* ls's own descriptor of /proc/self/fd */
	return TEST_PASS;
}

static int test_proc_no_leaked_fds(void)
{
	return check_fd_listing(false);
}

static int test_proc_keep_fds_passed(void)
{
	return check_fd_listing(true);
}

static int test_proc_no_leaked_fds_proc_walk(void)
{
	int ret;

	proc_testing_disable_close_range(true);
	ret = check_fd_listing(false);
	proc_testing_disable_close_range(false);
	return ret;
}

static int test_proc_exec_failures(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	char path[] = "/tmp/nestlab-noexec-XXXXXX";
	int fd;

	proc_init(&p);
	strv_push(&p.argv, "nestlab-no-such-binary");
	CHECK(proc_start(&p, &err) == -1);
	CHECK(err->errnum == ENOENT);
	CHECK_CONTAINS(err->msg, "nestlab-no-such-binary not found in PATH");
	nl_error_release(&err);
	proc_release(&p);

	proc_init(&p);
	strv_push(&p.argv, "/nonexistent/qemu-system-x86_64");
	CHECK(proc_start(&p, &err) == -1);
	CHECK(err->errnum == ENOENT);
	CHECK_STR(err->msg, "start qemu-system-x86_64: exec /nonexistent/qemu-system-x86_64: "
			    "No such file or directory");
	CHECK(proc_registry_count() == 0);
	nl_error_release(&err);
	proc_release(&p);

	fd = mkostemp(path, O_CLOEXEC);	/* a file without the execute bit */
	CHECK(fd >= 0);
	close(fd);
	proc_init(&p);
	strv_push(&p.argv, path);
	p.stdout_io.mode = PROC_IO_PIPE;
	CHECK(proc_start(&p, &err) == -1);
	unlink(path);
	CHECK(err->errnum == EACCES);
	CHECK(p.stdout_fd == -1);	/* nothing left open on failure */
	nl_error_release(&err);
	proc_release(&p);

	proc_init(&p);
	strv_push(&p.argv, "true");
	p.cwd = "/nonexistent-dir";
	CHECK(proc_start(&p, &err) == -1);
	CHECK(err->errnum == ENOENT);
	CHECK_CONTAINS(err->msg, "start true: chdir /nonexistent-dir");
	return TEST_PASS;
}

/*
 * sig_masks() - the SigBlk and SigIgn masks of /proc/PID/status, read in one go so that both describe the
 * same moment; false when the process is gone
 */
static bool sig_masks(pid_t pid, unsigned long long *blocked, unsigned long long *ignored)
{
	cleanup_free char *path = xasprintf("/proc/%d/status", (int)pid);
	cleanup_file FILE *f = fopen(path, "re");
	char line[256];
	int found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SigBlk:", 7) && ++found)
			*blocked = strtoull(line + 7, NULL, 16);
		else if (!strncmp(line, "SigIgn:", 7) && ++found)
			*ignored = strtoull(line + 7, NULL, 16);
	}
	return found == 2;
}

static int test_proc_child_signal_state_reset(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	sigset_t term, old_mask;
	unsigned long long blocked = ~0ull, ignored = ~0ull;
	bool read_ok;

	/* the supervisor loop blocks SIGTERM and nestlab may ignore SIGPIPE: children must not inherit that */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old_mask);
	sigaction(SIGPIPE, &ign, &old_pipe);
	proc_init(&p);
	strv_push(&p.argv, "sleep");
	strv_push(&p.argv, "30");
	CHECK(proc_start(&p, &err) == 0);
	read_ok = sig_masks(p.pid, &blocked, &ignored);
	proc_kill(&p);
	sigaction(SIGPIPE, &old_pipe, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (!read_ok || blocked || ignored)
		test_diag("child %d: status %s, SigBlk %llx, SigIgn %llx, ended by signal %d", (int)p.pid,
			  read_ok ? "read" : "unreadable", blocked, ignored, p.term_signal);
	CHECK(read_ok);
	CHECK(blocked == 0);
	CHECK(ignored == 0);
	CHECK(p.term_signal == SIGTERM);
	return TEST_PASS;
}

static int test_proc_own_process_group(void)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	pid_t pgid;

	proc_init(&p);
	strv_push(&p.argv, "sleep");
	strv_push(&p.argv, "30");
	CHECK(proc_start(&p, &err) == 0);
	pgid = getpgid(p.pid);
	proc_kill(&p);
	CHECK(pgid == p.pid);
	CHECK(pgid != getpgrp());
	return TEST_PASS;
}

static int test_proc_dies_with_parent(void)
{
	int fds[2];
	pid_t middle, victim = 0;
	int status;

	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	middle = fork();
	CHECK(middle >= 0);
	if (middle == 0) {
		/* an intermediate nestlab: start a child, report its pid, die without cleaning up */
		struct proc p;
		nl_error_t err = NULL;

		proc_init(&p);
		strv_push(&p.argv, "sleep");
		strv_push(&p.argv, "30");
		if (proc_start(&p, &err) < 0)
			_exit(1);
		if (write(fds[1], &p.pid, sizeof(p.pid)) != sizeof(p.pid))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	CHECK(read(fds[0], &victim, sizeof(victim)) == sizeof(victim));
	close(fds[0]);
	CHECK(waitpid(middle, &status, 0) == middle && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(victim > 0);
	CHECK(dead_within(victim, 5000));	/* PR_SET_PDEATHSIG(SIGKILL) */
	return TEST_PASS;
}

static int test_proc_registry_kill_all(void)
{
	struct proc p[3];
	cleanup_error nl_error_t err = NULL;
	static const char *const scripts[] = {
		"echo ready; sleep 30", "trap '' TERM; echo ready; sleep 30", "echo ready; exec sleep 30",
	};
	char line[16];
	pid_t pids[3];

	for (int i = 0; i < 3; i++) {
		CHECK(start_sh(&p[i], scripts[i], &err) == 0);
		CHECK(read_line_fd(p[i].stdout_fd, line, sizeof(line)));	/* its trap is set */
		pids[i] = p[i].pid;
	}
	CHECK(proc_registry_count() == 3);
	CHECK(proc_registry_kill_all() == 3);
	CHECK(proc_registry_count() == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(p[i].reaped && !p[i].running);
		CHECK(proc_state(pids[i]) == 0);
		proc_release(&p[i]);
	}
	CHECK(p[1].term_signal == SIGKILL);
	CHECK(proc_registry_kill_all() == 0);
	return TEST_PASS;
}

static int test_proc_release_kills_running(void)
{
	struct proc p;
	cleanup_error nl_error_t err = NULL;
	pid_t pid;

	proc_init(&p);
	strv_push(&p.argv, "sleep");
	strv_push(&p.argv, "30");
	CHECK(proc_start(&p, &err) == 0);
	pid = p.pid;
	proc_release(&p);
	CHECK(proc_state(pid) == 0);
	CHECK(proc_registry_count() == 0);
	return TEST_PASS;
}

static int test_proc_run_timeout(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;
	char *argv[] = { "sh", "-c", "echo started; exec sleep 30", NULL };

	CHECK(proc_run(argv, 300, &out, &err) == -1);
	CHECK(err->errnum == ETIMEDOUT);
	CHECK_STR(err->msg, "sh killed by signal 15 (SIGTERM) after timeout 300 ms");
	CHECK_STR(out, "started\n");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_proc_exit_status),
	TEST_CASE(test_proc_status_messages),
	TEST_CASE(test_proc_run_capture),
	TEST_CASE(test_proc_run_failure_keeps_output),
	TEST_CASE(test_proc_run_output_cap),
	TEST_CASE(test_proc_stdin_pipe_and_files),
	TEST_CASE(test_proc_env_and_cwd),
	TEST_CASE(test_proc_timeout_term_ignored_then_kill),
	TEST_CASE(test_proc_timeout_term_honoured),
	TEST_CASE(test_proc_group_killed_on_timeout),
	TEST_CASE(test_proc_group_leftovers_killed_on_exit),
	TEST_CASE(test_proc_reaped_no_zombie),
	TEST_CASE(test_proc_no_leaked_fds),
	TEST_CASE(test_proc_keep_fds_passed),
	TEST_CASE(test_proc_no_leaked_fds_proc_walk),
	TEST_CASE(test_proc_exec_failures),
	TEST_CASE(test_proc_child_signal_state_reset),
	TEST_CASE(test_proc_own_process_group),
	TEST_CASE(test_proc_dies_with_parent),
	TEST_CASE(test_proc_registry_kill_all),
	TEST_CASE(test_proc_release_kills_running),
	TEST_CASE(test_proc_run_timeout),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
