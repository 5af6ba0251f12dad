/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_interrupt.c - Ctrl-C or a timeout at any stage of `nestlab run` leaves nothing running (issue 5)
 *
 * End to end, no fakes: the real binary ($NESTLAB_BIN, default build/nestlab) runs
 * `run --no-setup scenarios/nested-igb.yaml` with its stdout (TAP) and stderr in files. When a line that
 * marks a stage shows up in either, the test sends SIGINT to nestlab's process group, as a terminal's
 * Ctrl-C does (SIGTERM in one case, as a CI job's timeout does), and checks that
 *   - nestlab exits by itself (not killed by the signal) with status 130 within 60 s of the signal;
 *   - its TAP ends with "Bail out!" naming the interruption and the run directory, and not a timeout;
 *   - nothing of the run is left: no process that descends from nestlab (the test is a child subreaper,
 *     PR_SET_CHILD_SUBREAPER, so the QEMU libvirt daemonizes is adopted by the test instead of init),
 *     no process at all whose command line names the L1 domain (nestlab-nested-igb-ID), the run
 *     directory or the embedded libvirt root, and no domain in that root: ROOT/run/qemu/NAME.xml (the
 *     status file from which the embedded driver reconnects to a running domain), ROOT/run/qemu/NAME.pid
 *     and ROOT/lib/qemu/domain-N-NAME/ exist exactly while libvirt runs the domain.
 * The stages: L1 starting (the signal lands while libvirt creates the domain), L1 booting (6 s later,
 * waiting for the agent), L2 up, traffic (the signal is read by the supervisor loop's signalfd instead
 * of polled), the checks (SIGTERM). A timeout: a copy of the scenario with timeouts.l1_boot: 2s must exit
 * 4 within 90 s, its Bail out naming the timeout and the console log to read, with nothing left either.
 * The embedded libvirt root (the run's private directory, named on stderr) must be gone after each run.
 *
 * kill -9 (issue 9): SIGKILL to nestlab alone as L1 boots, once L2 is up and during traffic. nestlab
 * cannot tear down, so L1's QEMU outlives it; `nestlab clean` must then say what it stopped and removed,
 * and leave no process naming the run, no libvirt root and no overlay.
 *
 * While nestlab runs, the test reaps the zombies it adopted every 100 ms, so that libvirt's wait for a
 * killed QEMU (kill(pid, 0) until ESRCH) ends as promptly as under init. Processes found left over are
 * reported and then killed (SIGKILL, by pid), so a failing case does not leave a guest running.
 *
 * The runs use --no-setup, so the first case first does what a run's set-up does: `nestlab build all`
 * and `nestlab images` (no-ops when the cache already matches this tree; on a fresh machine they build
 * QEMU, Linux and the images). A cold cache is thus filled here, whatever order the tests run in, and a
 * failed set-up is a failure, not a skip.
 *
 * Skips: NESTLAB_QUICK (the end-to-end runs take 2-3 min in all on 2 cores), not root (libvirt's embedded
 * driver runs QEMU as root).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "fs.h"
#include "rundir.h"
#include "test.h"
#include "vm.h"

#define SCENARIO "scenarios/nested-igb.yaml"
#define EXIT_LIMIT_MS 60000		/* signal -> nestlab exited */
#define TRIGGER_LIMIT_MS (15 * 60000)	/* start -> the stage's line (the scenario's own timeouts are shorter) */
#define TIMEOUT_RUN_LIMIT_MS 90000	/* start -> exit of the run with l1_boot: 2s */
#define POLL_MS 100
#define SETUP_LIMIT_MS (90 * 60000)	/* a cold cache: QEMU, Linux and the images from source */

/* one `nestlab run` under test */
struct irun {
	struct proc proc;
	char *tmp_dir;			/* the test's files: tap, stderr, a scenario copy */
	char *tap_path, *err_path;
	char *tap, *err;		/* what the run printed, read after it exited */
	char *run_dir, *domain, *embed_root;	/* from its stderr and RUN/libvirt; NULL if not seen */
	uint64_t start_ms, signal_ms, exit_ms;
};

/* ---- processes ---------------------------------------------------------------------------------- */

struct pentry {
	pid_t pid, ppid;
	char state;		/* R, S, D, Z, ... from /proc/PID/stat */
};

/* pentry_read() - state and parent of @pid; -1 when it is gone */
static int pentry_read(pid_t pid, struct pentry *e)
{
	char path[64];
	cleanup_free char *stat = NULL;
	const char *paren;
	int ppid;

	if (snprintf_checked(path, sizeof(path), "/proc/%d/stat", (int)pid) < 0)
		return -1;
	stat = read_file_text(path);
	/* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses */
	paren = stat ? strrchr(stat, ')') : NULL;
	if (!paren || sscanf(paren + 1, " %c %d", &e->state, &ppid) != 2)
		return -1;
	e->pid = pid;
	e->ppid = (pid_t)ppid;
	return 0;
}

/* ptable_read() - every process of the machine; caller frees */
static struct pentry *ptable_read(size_t *n)
{
	DIR *dir = opendir("/proc");
	struct pentry *table = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	if (!dir)
		return NULL;
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 512;
			table = xrealloc(table, cap * sizeof(*table));
		}
		if (pentry_read((pid_t)pid, &table[*n]) == 0)
			(*n)++;
	}
	closedir(dir);
	return table;
}

/* descends_from() - @pid has @ancestor among its parents in @table */
static bool descends_from(const struct pentry *table, size_t n, pid_t pid, pid_t ancestor)
{
	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		pid_t parent = 0;

		for (size_t i = 0; i < n; i++)
			if (table[i].pid == pid)
				parent = table[i].ppid;
		if (parent == ancestor)
			return true;
		pid = parent;
	}
	return false;
}

/* cmdline_read() - /proc/@pid/cmdline with its NULs as spaces, or NULL (kernel thread, gone) */
static char *cmdline_read(pid_t pid)
{
	char path[64], buf[8192];
	cleanup_close int fd = -1;
	ssize_t len;

	if (snprintf_checked(path, sizeof(path), "/proc/%d/cmdline", (int)pid) < 0)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len <= 0)
		return NULL;
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[len] = '\0';
	return xstrdup(buf);
}

/* reap_adopted() - reap the zombies the subreaper test adopted (not @keep, nestlab: proc_wait() reaps it) */
static void reap_adopted(pid_t keep)
{
	size_t n;
	cleanup_free struct pentry *table = ptable_read(&n);

	for (size_t i = 0; i < n; i++)
		if (table[i].ppid == getpid() && table[i].state == 'Z' && table[i].pid != keep)
			(void)waitpid(table[i].pid, NULL, WNOHANG);
}

/*
 * leftovers() - processes of the run still alive after nestlab exited (@nestlab_pid, a zombie yet):
 * descendants of the test, and any process whose command line names the domain, the run directory or
 * the embedded root. Each is described in @report; with @kill, SIGKILLed. Return: how many.
 */
static size_t leftovers(const struct irun *r, struct strbuf *report, bool kill_them)
{
	const char *names[] = { r->domain, r->run_dir, r->embed_root };
	size_t n, found = 0;
	cleanup_free struct pentry *table = ptable_read(&n);

	for (size_t i = 0; i < n; i++) {
		const struct pentry *e = &table[i];
		cleanup_free char *cmd = NULL;
		const char *why = NULL;

		if (e->pid == getpid() || e->pid == r->proc.pid || e->state == 'Z' || e->state == 'X')
			continue;
		cmd = cmdline_read(e->pid);
		for (size_t k = 0; k < ARRAY_SIZE(names) && cmd && !why; k++)
			if (names[k] && strstr(cmd, names[k]))
				why = names[k];
		if (!why && descends_from(table, n, e->pid, getpid()))
			why = "a descendant of nestlab";
		if (!why)
			continue;
		strbuf_printf(report, "  pid %d (parent %d, state %c) names %s: %.300s\n", (int)e->pid, (int)e->ppid,
			      e->state, why, cmd ? cmd : "(no command line)");
		if (kill_them)
			(void)kill(e->pid, SIGKILL);
		found++;
	}
	return found;
}

/* ---- the embedded libvirt root ------------------------------------------------------------------- */

/* root_domains() - libvirt's state of running domains under @root, described in @report; how many */
static size_t root_domains(const char *root, struct strbuf *report)
{
	static const struct {
		const char *dir, *prefix, *suffix;
	} state[] = {
		{ "run/qemu", "", ".xml" },	/* status XML: the driver reconnects to the domain from it */
		{ "run/qemu", "", ".pid" },	/* QEMU's pid file (driver.pid is the driver's own lock) */
		{ "lib/qemu", "domain-", "" },	/* domain-ID-SHORTNAME: monitor socket, master key */
	};
	size_t found = 0;

	for (size_t i = 0; i < ARRAY_SIZE(state); i++) {
		cleanup_free char *path = xasprintf("%s/%s", root, state[i].dir);
		DIR *dir = opendir(path);
		struct dirent *de;

		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			size_t len = strlen(de->d_name), slen = strlen(state[i].suffix);

			if (de->d_name[0] == '.' || !strcmp(de->d_name, "driver.pid") ||
			    strncmp(de->d_name, state[i].prefix, strlen(state[i].prefix)) ||
			    len < slen || strcmp(de->d_name + len - slen, state[i].suffix))
				continue;
			strbuf_printf(report, "  %s/%s\n", path, de->d_name);
			found++;
		}
		closedir(dir);
	}
	return found;
}

/* ---- one run ----------------------------------------------------------------------------------- */

/* irun_release() - kill and reap nestlab if it still runs, remove the test's files */
static void irun_release(struct irun *r)
{
	proc_release(&r->proc);
	if (r->tap_path)
		unlink(r->tap_path);
	if (r->err_path)
		unlink(r->err_path);
	if (r->tmp_dir) {
		cleanup_free char *scn = xasprintf("%s/scenario.yaml", r->tmp_dir);

		unlink(scn);
		rmdir(r->tmp_dir);
	}
	free(r->tmp_dir);
	free(r->tap_path);
	free(r->err_path);
	free(r->tap);
	free(r->err);
	free(r->run_dir);
	free(r->domain);
	free(r->embed_root);
}

/* irun_init() - a temporary directory for the run's stdout and stderr */
static int irun_init(struct irun *r)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	*r = (struct irun){ .proc = PROC_INIT };
	r->tmp_dir = xasprintf("%s/nestlab-test-interrupt-XXXXXX", tmp);
	if (!mkdtemp(r->tmp_dir)) {
		test_diag("mkdtemp %s: %s", r->tmp_dir, strerror(errno));
		return -1;
	}
	r->tap_path = xasprintf("%s/tap", r->tmp_dir);
	r->err_path = xasprintf("%s/stderr", r->tmp_dir);
	return 0;
}

/* irun_start() - `nestlab run --no-setup @scenario` in its own process group */
static int irun_start(struct irun *r, const char *scenario)
{
	const char *bin = getenv("NESTLAB_BIN") ? getenv("NESTLAB_BIN") : "build/nestlab";
	cleanup_error nl_error_t err = NULL;

	strv_push(&r->proc.argv, bin);
	strv_push(&r->proc.argv, "run");
	strv_push(&r->proc.argv, "--no-setup");
	strv_push(&r->proc.argv, scenario);
	r->proc.stdin_io.mode = PROC_IO_NULL;
	r->proc.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, r->tap_path };
	r->proc.stderr_io = (struct proc_io){ PROC_IO_FILE_TRUNC, r->err_path };
	r->start_ms = now_ms();
	if (proc_start(&r->proc, &err) < 0) {
		test_diag("start %s: %s", bin, err->msg);
		return -1;
	}
	return 0;
}

/* irun_printed() - @needle is in the run's stdout or stderr so far */
static bool irun_printed(const struct irun *r, const char *needle)
{
	cleanup_free char *tap = read_file_text(r->tap_path);
	cleanup_free char *err = read_file_text(r->err_path);

	return (tap && strstr(tap, needle)) || (err && strstr(err, needle));
}

/*
 * irun_wait() - poll until nestlab has exited (a zombie, not reaped yet, so that its process group still
 * stands for the leftover check), reaping what the test adopted. With @trigger: send @sig to nestlab's
 * group @delay_ms after @trigger appeared, and allow @limit_ms from the signal; without: @limit_ms from
 * the start. Return 0 when it exited in time and as planned, -1 otherwise (diagnostic printed).
 */
static int irun_wait(struct irun *r, const char *trigger, unsigned delay_ms, int sig, uint64_t limit_ms)
{
	uint64_t seen_ms = 0;

	while (vm_pid_alive(r->proc.pid)) {
		uint64_t now = now_ms();

		reap_adopted(r->proc.pid);
		if (trigger && !seen_ms && irun_printed(r, trigger))
			seen_ms = now;
		if (seen_ms && !r->signal_ms && now - seen_ms >= delay_ms) {
			/* SIGKILL: nestlab alone, as `kill -9 PID` does; else its group, as a terminal's Ctrl-C */
			if ((sig == SIGKILL ? kill(r->proc.pid, sig) : proc_signal(&r->proc, sig)) < 0) {
				test_diag("kill(-%d, %s): %s", (int)r->proc.pid, sigabbrev_np(sig), strerror(errno));
				return -1;
			}
			r->signal_ms = now;
			test_diag("SIG%s %.1f s after the start, %u ms after \"%s\"", sigabbrev_np(sig),
				  (now - r->start_ms) / 1000.0, delay_ms, trigger);
		}
		if (trigger && !r->signal_ms && now - r->start_ms > TRIGGER_LIMIT_MS) {
			test_diag("\"%s\" did not appear within %d s", trigger, TRIGGER_LIMIT_MS / 1000);
			return -1;
		}
		if ((trigger ? r->signal_ms : r->start_ms) && now - (trigger ? r->signal_ms : r->start_ms) > limit_ms) {
			test_diag("nestlab still runs %.0f s after the %s", limit_ms / 1000.0, trigger ? "signal" : "start");
			return -1;
		}
		vm_sleep_ms(POLL_MS);
	}
	r->exit_ms = now_ms();
	reap_adopted(r->proc.pid);
	if (trigger && !r->signal_ms) {
		test_diag("nestlab exited before \"%s\" appeared", trigger);
		return -1;
	}
	test_diag("nestlab exited %.1f s after the %s", (r->exit_ms - (trigger ? r->signal_ms : r->start_ms)) / 1000.0,
		  trigger ? "signal" : "start");
	return 0;
}

/* line_after() - a copy of the rest of the line that follows @prefix in @text, up to @stop chars */
static char *line_after(const char *text, const char *prefix, const char *stop)
{
	const char *p = text ? strstr(text, prefix) : NULL;

	if (!p)
		return NULL;
	p += strlen(prefix);
	return xstrndup(p, strcspn(p, stop));
}

/* irun_collect() - the run's output, its run directory, L1's domain name and libvirt's root */
static void irun_collect(struct irun *r)
{
	char link[PATH_MAX];
	ssize_t len;

	r->tap = read_file_text(r->tap_path);
	r->err = read_file_text(r->err_path);
	r->run_dir = line_after(r->err, "nestlab: run directory ", "\n");
	r->domain = line_after(r->err, "L1: starting ", " \n");
	r->embed_root = line_after(r->err, "L1: libvirt root ", " \n");
	if (!r->embed_root && r->run_dir) {
		cleanup_free char *path = xasprintf("%s/libvirt", r->run_dir);

		len = readlink(path, link, sizeof(link) - 1);
		if (len > 0)
			r->embed_root = xstrndup(link, (size_t)len);
	}
}

/* tap_last_line() - the last non-empty line of @tap; caller frees */
static char *tap_last_line(const char *tap)
{
	const char *last = NULL;

	for (const char *line = tap; line && *line;) {
		size_t n = strcspn(line, "\n");

		if (n)
			last = line;
		line += n + (line[n] == '\n');
	}
	return last ? xstrndup(last, strcspn(last, "\n")) : NULL;
}

/*
 * irun_finish() - after irun_wait(): collect, look for leftovers (before nestlab is reaped), reap it,
 * kill nestlab and leftovers when the wait failed. Return 0 when nestlab exited with @want_status (not
 * by a signal) and left nothing running, -1 otherwise.
 */
static int irun_finish(struct irun *r, bool waited, int want_status)
{
	cleanup_strbuf struct strbuf report = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	size_t procs, domains = 0;
	int ret = waited ? 0 : -1;

	if (!waited)
		proc_kill(&r->proc);	/* SIGTERM to its group, grace, SIGKILL: what a user would do next */
	irun_collect(r);
	reap_adopted(r->proc.pid);
	procs = leftovers(r, &report, true);
	if (procs) {
		test_diag("%zu process(es) of the run left running (now killed):\n%s", procs, report.str);
		ret = -1;
		/* reap the ones the test adopted, so that the next case starts clean */
		for (int i = 0; i < 50; i++) {
			cleanup_strbuf struct strbuf again = STRBUF_INIT;

			reap_adopted(r->proc.pid);
			if (!leftovers(r, &again, false))
				break;
			vm_sleep_ms(POLL_MS);
		}
	}
	if (r->proc.running)
		(void)proc_wait(&r->proc, 10000, &err);
	reap_adopted(0);
	if (!r->domain || !r->run_dir || !r->embed_root) {
		test_diag("the run's domain, run directory or libvirt root is unknown (domain %s, run directory %s, "
			  "root %s)", r->domain ? r->domain : "?", r->run_dir ? r->run_dir : "?",
			  r->embed_root ? r->embed_root : "?");
		ret = -1;
	} else {
		strbuf_release(&report);
		domains = root_domains(r->embed_root, &report);
		if (domains) {
			test_diag("libvirt's root %s still holds a running domain:\n%s", r->embed_root, report.str);
			ret = -1;
		}
		if (access(r->embed_root, F_OK) == 0) {
			test_diag("libvirt's root %s is still there: the run's teardown removes it", r->embed_root);
			ret = -1;
		}
	}
	if (waited && (r->proc.term_signal || r->proc.exit_status != want_status)) {
		cleanup_free char *msg = proc_status_message(&r->proc);

		test_diag("%s; expected exit status %d", msg, want_status);
		ret = -1;
	}
	if (ret == 0)
		test_diag("exit status %d; domain %s, run directory %s: no process and no domain left", want_status,
			  r->domain, r->run_dir);
	return ret;
}

/* check_bail_out() - the TAP ends with a Bail out! holding each of @needles and none of @forbidden */
static int check_bail_out(const struct irun *r, const char *const *needles, const char *const *forbidden)
{
	cleanup_free char *last = tap_last_line(r->tap);

	if (!last || strncmp(last, "Bail out!", 9)) {
		test_diag("the TAP does not end with \"Bail out!\" but with: %s", last ? last : "(nothing)");
		return -1;
	}
	for (; needles && *needles; needles++)
		if (!strstr(last, *needles)) {
			test_diag("the Bail out does not name \"%s\": %s", *needles, last);
			return -1;
		}
	for (; forbidden && *forbidden; forbidden++)
		if (strstr(last, *forbidden)) {
			test_diag("the Bail out says \"%s\": %s", *forbidden, last);
			return -1;
		}
	test_diag("%s", last);
	return 0;
}

/* ---- cases -------------------------------------------------------------------------------------- */

/* setup_step() - run `nestlab @args...` with its output in @log; 0, or -1 with the log's end as diagnostics */
static int setup_step(const char *log, const char *const *args)
{
	const char *bin = getenv("NESTLAB_BIN") ? getenv("NESTLAB_BIN") : "build/nestlab";
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf what = STRBUF_INIT;
	cleanup_free char *text = NULL;
	uint64_t t0 = now_ms();
	struct proc p;
	int ret;

	proc_init(&p);
	strv_push(&p.argv, bin);
	strbuf_puts(&what, "nestlab");
	for (size_t i = 0; args[i]; i++) {
		strv_push(&p.argv, args[i]);
		strbuf_printf(&what, " %s", args[i]);
	}
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io = (struct proc_io){ PROC_IO_FILE_APPEND, log };
	p.stderr_io = (struct proc_io){ PROC_IO_STDOUT, NULL };
	ret = proc_start(&p, &err) < 0 ? -1 : proc_wait(&p, SETUP_LIMIT_MS, &err);
	proc_release(&p);
	test_diag("set-up: %s %s in %.1f s", what.str, ret ? "failed" : "done", (double)(now_ms() - t0) / 1000.0);
	if (ret < 0) {
		text = read_file_text(log);
		test_diag("%s (output in %s)", err ? err->msg : "failed", log);
		test_diag_run("", text ? text : "");
	}
	return ret;
}

/*
 * setup_cache() - QEMU, Linux and the images in the cache for this tree, as a run's set-up makes them
 * (`nestlab build all`, `nestlab images`); done once per test binary. Return: 0, or -1 (reported).
 */
static int setup_cache(void)
{
	static int state;	/* 0 not tried, 1 done, -1 failed */
	char dir[] = "/tmp/nestlab-test-interrupt-setup-XXXXXX";
	cleanup_free char *log = NULL;

	if (state)
		return state > 0 ? 0 : -1;
	state = -1;
	if (!mkdtemp(dir)) {
		test_diag("mkdtemp: %s", strerror(errno));
		return -1;
	}
	log = xasprintf("%s/setup.log", dir);
	if (setup_step(log, (const char *const[]){ "build", "all", NULL }) < 0 ||
	    setup_step(log, (const char *const[]){ "images", NULL }) < 0)
		return -1;	/* the log stays for reading */
	unlink(log);
	rmdir(dir);
	state = 1;
	return 0;
}

/* prerequisites() - 0 when the runs can go ahead (the cache set up), TEST_SKIP with the reason, or TEST_FAIL */
static int prerequisites(void)
{
	const char *quick = getenv("NESTLAB_QUICK");

	if (quick && *quick && strcmp(quick, "0"))
		return test_skip("NESTLAB_QUICK is set: the end-to-end interrupt runs are skipped");
	if (geteuid() != 0)
		return test_skip("needs root: libvirt's embedded driver runs L1's QEMU as root");
	if (setup_cache() < 0)
		return TEST_FAIL;
	/* the QEMU libvirt daemonizes comes back to the test, not to init, when nestlab does not kill it */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		test_diag("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
		return TEST_FAIL;
	}
	return 0;
}

/*
 * interrupt_case() - run nested-igb, send @sig @delay_ms after @trigger appeared: exit status 130 within
 * EXIT_LIMIT_MS, a Bail out naming the interruption, nothing left running
 */
static int interrupt_case(const char *trigger, unsigned delay_ms, int sig)
{
	const char *const needles[] = { "interrupted", sig == SIGINT ? "SIGINT" : "SIGTERM", "run directory", NULL };
	const char *const forbidden[] = { "ready within", "timed out", NULL };
	struct irun r;
	int ret = prerequisites();
	bool waited;

	if (ret)
		return ret;
	if (irun_init(&r) < 0 || irun_start(&r, SCENARIO) < 0) {
		irun_release(&r);
		return TEST_FAIL;
	}
	waited = irun_wait(&r, trigger, delay_ms, sig, EXIT_LIMIT_MS) == 0;
	ret = irun_finish(&r, waited, 130) == 0 && check_bail_out(&r, needles, forbidden) == 0 ? TEST_PASS : TEST_FAIL;
	if (ret != TEST_PASS)
		test_diag_run(r.tap, r.err);
	irun_release(&r);
	return ret;
}

/* test_sigint_l1_starting() - Ctrl-C as soon as L1 starts: libvirt is creating the domain */
static int test_sigint_l1_starting(void)
{
	return interrupt_case("L1: starting", 0, SIGINT);
}

/* test_sigint_l1_booting() - Ctrl-C while L1's kernel boots and the run waits for its agent */
static int test_sigint_l1_booting(void)
{
	return interrupt_case("L1: starting", 6000, SIGINT);
}

/* test_sigint_l2_up() - Ctrl-C once L2's agent answered: L1's QEMU runs L2 */
static int test_sigint_l2_up(void)
{
	return interrupt_case("L2 up", 0, SIGINT);
}

/* test_sigint_traffic() - Ctrl-C during L2 -> L0 traffic, read by the supervisor loop's signalfd */
static int test_sigint_traffic(void)
{
	return interrupt_case("traffic L0->L2", 0, SIGINT);
}

/* test_sigterm_checks() - SIGTERM (a CI timeout) during the shadow check */
static int test_sigterm_checks(void)
{
	return interrupt_case("IOMMU in use", 0, SIGTERM);
}

/* scenario_with() - @src with timeouts.@key set to @value, written to @dir/scenario.yaml */
static int scenario_with(const char *src, const char *dir, const char *key, const char *value)
{
	cleanup_free char *text = read_file_text(src);
	cleanup_free char *out = NULL;
	cleanup_free char *needle = xasprintf("\n  %s:", key);
	cleanup_error nl_error_t err = NULL;
	const char *at = text ? strstr(text, needle) : NULL;

	if (!at) {
		test_diag("%s has no \"  %s:\" line under timeouts (run the test from the repository root)", src, key);
		return -1;
	}
	at++;
	out = xasprintf("%.*s  %s: %s%s", (int)(at - text), text, key, value, at + strcspn(at, "\n"));
	if (rundir_write_file(dir, "scenario.yaml", out, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	return 0;
}

/*
 * test_timeout_l1_boot() - timeouts.l1_boot: 2s: exit status 4 within TIMEOUT_RUN_LIMIT_MS, a Bail out
 * naming the timeout and L1's console log (which exists), nothing left running
 */
static int test_timeout_l1_boot(void)
{
	const char *const forbidden[] = { "interrupted", NULL };
	cleanup_free char *scenario = NULL, *console = NULL;
	struct irun r;
	int ret = prerequisites();
	bool waited;

	if (ret)
		return ret;
	if (irun_init(&r) < 0 || scenario_with(SCENARIO, r.tmp_dir, "l1_boot", "2s") < 0) {
		irun_release(&r);
		return TEST_FAIL;
	}
	scenario = xasprintf("%s/scenario.yaml", r.tmp_dir);
	if (irun_start(&r, scenario) < 0) {
		irun_release(&r);
		return TEST_FAIL;
	}
	waited = irun_wait(&r, NULL, 0, 0, TIMEOUT_RUN_LIMIT_MS) == 0;
	ret = irun_finish(&r, waited, 4) == 0 ? TEST_PASS : TEST_FAIL;
	if (ret == TEST_PASS) {
		console = xasprintf("%s/l1-console.log", r.run_dir);
		{
			const char *const needles[] = { "within 2000 ms", console, NULL };

			if (check_bail_out(&r, needles, forbidden) < 0)
				ret = TEST_FAIL;
		}
		if (ret == TEST_PASS && access(console, R_OK) != 0) {
			test_diag("the Bail out names %s, which does not exist", console);
			ret = TEST_FAIL;
		}
	}
	if (ret != TEST_PASS)
		test_diag_run(r.tap, r.err);
	irun_release(&r);
	return ret;
}

/* ---- the teardown's budget ---------------------------------------------------------------------- */

#define TEARDOWN_BUDGET_S 15
#define TEARDOWN_SLACK_MS 20000		/* process exit, libvirt's destroy of a killed QEMU */
#define STOPPED_L1_LIMIT_MS (5 * 60000)	/* SIGSTOP -> nestlab exited (a stage times out first) */

/* l1_qemu_pid() - L1's QEMU from libvirt's pid file in the run's root (named on stderr); -1 when unknown */
static pid_t l1_qemu_pid(const struct irun *r)
{
	cleanup_free char *err = read_file_text(r->err_path);
	cleanup_free char *root = line_after(err, "L1: libvirt root ", " \n");
	cleanup_free char *domain = line_after(err, "L1: starting ", " \n");
	cleanup_free char *path = NULL;
	cleanup_free char *text = NULL;

	if (!root && err) {	/* a nestlab that does not name it: the RUN/libvirt link */
		cleanup_free char *run_dir = line_after(err, "nestlab: run directory ", "\n");
		cleanup_free char *link = run_dir ? xasprintf("%s/libvirt", run_dir) : NULL;
		char target[PATH_MAX];
		ssize_t len = link ? readlink(link, target, sizeof(target) - 1) : -1;

		if (len > 0)
			root = xstrndup(target, (size_t)len);
	}
	if (!root || !domain)
		return -1;
	path = xasprintf("%s/run/qemu/%s.pid", root, domain);
	text = read_file_text(path);
	return text ? (pid_t)strtol(text, NULL, 10) : -1;
}

/*
 * test_teardown_budget_stopped_l1() - during the traffic, L1's QEMU is stopped (SIGSTOP): its agent answers
 * nothing. The stage that waits for it fails, and the teardown must end within timeouts.teardown (15 s
 * here, plus slack for the process exit), give up on the agent after its first timeout instead of
 * waiting out every request (minutes before), SIGKILL the stopped QEMU, exit 4 and leave nothing.
 */
static int test_teardown_budget_stopped_l1(void)
{
	cleanup_free char *scenario = NULL, *budget = xasprintf("%ds", TEARDOWN_BUDGET_S);
	cleanup_free char *log = NULL, *log_path = NULL;
	uint64_t stopped_at = 0, teardown_at = 0;
	pid_t qemu = -1;
	struct irun r;
	int ret = prerequisites();
	bool waited = false;

	if (ret)
		return ret;
	if (irun_init(&r) < 0 || scenario_with(SCENARIO, r.tmp_dir, "teardown", budget) < 0) {
		irun_release(&r);
		return TEST_FAIL;
	}
	scenario = xasprintf("%s/scenario.yaml", r.tmp_dir);
	if (irun_start(&r, scenario) < 0) {
		irun_release(&r);
		return TEST_FAIL;
	}
	ret = TEST_FAIL;
	while (vm_pid_alive(r.proc.pid)) {
		uint64_t now = now_ms();

		reap_adopted(r.proc.pid);
		if (!stopped_at && irun_printed(&r, "traffic L0->L2")) {
			qemu = l1_qemu_pid(&r);
			if (qemu <= 0 || kill(qemu, SIGSTOP) < 0) {
				test_diag("L1's QEMU pid not found (%d)", (int)qemu);
				break;
			}
			stopped_at = now;
			test_diag("L1's QEMU (pid %d) stopped %.1f s after the start", (int)qemu, (now - r.start_ms) / 1000.0);
		}
		if (stopped_at && !teardown_at && irun_printed(&r, "stopped: "))
			teardown_at = now;
		if (!stopped_at && now - r.start_ms > TRIGGER_LIMIT_MS) {
			test_diag("\"traffic L0->L2\" did not appear");
			break;
		}
		if (stopped_at && now - stopped_at > STOPPED_L1_LIMIT_MS) {
			test_diag("nestlab still runs %d s after L1 was stopped", STOPPED_L1_LIMIT_MS / 1000);
			break;
		}
		vm_sleep_ms(POLL_MS);
	}
	if (!vm_pid_alive(r.proc.pid)) {
		r.exit_ms = now_ms();
		waited = stopped_at != 0;
	}
	if (irun_finish(&r, waited, 4) == 0 && waited) {
		log_path = xasprintf("%s/run.log", r.run_dir);
		log = read_file_text(log_path);
		if (!teardown_at)
			test_diag("no \"stopped: \" line: the run did not fail as planned");
		else if (r.exit_ms - teardown_at > TEARDOWN_BUDGET_S * 1000 + TEARDOWN_SLACK_MS)
			test_diag("the teardown took %.1f s, more than timeouts.teardown (%d s) allows",
				  (r.exit_ms - teardown_at) / 1000.0, TEARDOWN_BUDGET_S);
		else if (!log || !strstr(log, "not asked again") || !strstr(log, "gets SIGKILL"))
			test_diag("run.log does not say that the agent was given up and L1's QEMU killed");
		else if (strstr(log, "L2 reset") || !strstr(log, "L1 stopped answering"))
			test_diag("run.log does not name the stopped L1 (or calls it an L2 reset)");
		else {
			test_diag("failed stage to exit: %.1f s (budget %d s)", (r.exit_ms - teardown_at) / 1000.0,
				  TEARDOWN_BUDGET_S);
			ret = TEST_PASS;
		}
	}
	if (qemu > 0)
		(void)kill(qemu, SIGKILL);	/* in case it is still there, stopped */
	if (ret != TEST_PASS)
		test_diag_run(r.tap, r.err);
	reap_adopted(0);
	irun_release(&r);
	return ret;
}

/* ---- kill -9 and `nestlab clean` ----------------------------------------------------------------- */

/*
 * kill9_case() - run nested-igb, SIGKILL nestlab alone @delay_ms after @trigger: it cannot tear anything
 * down, so L1's QEMU (and its libvirt domain) outlives it. Then `nestlab clean` must say what it
 * stopped and removed, and afterwards no process names the domain, the run directory or the root, the
 * root is gone, and so is the overlay.
 */
static int kill9_case(const char *trigger, unsigned delay_ms)
{
	const char *bin = getenv("NESTLAB_BIN") ? getenv("NESTLAB_BIN") : "build/nestlab";
	cleanup_strbuf struct strbuf report = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL, *overlay = NULL;
	cleanup_strv char **argv = NULL;
	struct irun r;
	size_t before, after;
	int ret = prerequisites();

	if (ret)
		return ret;
	if (irun_init(&r) < 0 || irun_start(&r, SCENARIO) < 0) {
		irun_release(&r);
		return TEST_FAIL;
	}
	ret = TEST_FAIL;
	if (irun_wait(&r, trigger, delay_ms, SIGKILL, EXIT_LIMIT_MS) < 0) {
		proc_kill(&r.proc);
		goto out;
	}
	irun_collect(&r);
	reap_adopted(r.proc.pid);
	(void)proc_wait(&r.proc, 10000, &err);
	nl_error_release(&err);
	if (!r.domain || !r.run_dir || !r.embed_root) {
		test_diag("the run's domain, run directory or libvirt root is unknown");
		goto out;
	}
	before = leftovers(&r, &report, false);
	test_diag("nestlab killed; %zu process(es) of the run left running, root %s %s", before, r.embed_root,
		  access(r.embed_root, F_OK) == 0 ? "still there" : "gone");
	strv_push(&argv, bin);
	strv_push(&argv, "clean");
	if (proc_run(argv, 60000, &out, &err) < 0) {
		test_diag("nestlab clean: %s", err->msg);
		test_diag_run(out, NULL);
		goto out;
	}
	test_diag_run(out, NULL);
	reap_adopted(0);
	strbuf_release(&report);
	after = leftovers(&r, &report, true);
	overlay = xasprintf("%s/l1-overlay.qcow2", r.run_dir);
	if (after)
		test_diag("after nestlab clean, %zu process(es) of the run still run (now killed):\n%s", after, report.str);
	else if (access(r.embed_root, F_OK) == 0)
		test_diag("after nestlab clean, the root %s is still there", r.embed_root);
	else if (access(overlay, F_OK) == 0)
		test_diag("after nestlab clean, the overlay %s is still there", overlay);
	else if (before && (!strstr(out, "stopped ") || !strstr(out, r.domain)))
		test_diag("nestlab clean did not say what it stopped (the domain %s)", r.domain);
	else if (!strstr(out, "removed ") || !strstr(out, "1 abandoned run(s) cleaned"))
		test_diag("nestlab clean did not say what it removed");
	else
		ret = TEST_PASS;
out:
	if (ret != TEST_PASS) {
		cleanup_strbuf struct strbuf rest = STRBUF_INIT;

		test_diag_run(r.tap, r.err);
		/* a failing case must not leave a guest running for the next one */
		if (leftovers(&r, &rest, true))
			test_diag("killed what the run left:\n%s", rest.str);
	}
	reap_adopted(0);
	irun_release(&r);
	return ret;
}

/* test_kill9_l1_booting() - kill -9 while L1 boots: its QEMU and domain are left, `nestlab clean` stops them */
static int test_kill9_l1_booting(void)
{
	return kill9_case("L1: starting", 6000);
}

/* test_kill9_l2_up() - kill -9 once L2 runs inside L1 */
static int test_kill9_l2_up(void)
{
	return kill9_case("L2 up", 0);
}

/* test_kill9_traffic() - kill -9 during the L0 -> L2 traffic */
static int test_kill9_traffic(void)
{
	return kill9_case("traffic L0->L2", 0);
}

/*
 * make check runs the Ctrl-C, SIGTERM and timeout cases; the teardown budget and the kill -9 cases, three
 * more end-to-end runs plus `nestlab clean`, are the slow tier's (make check-slow, which CI runs too):
 * orchestrator/tests/slow/test_interrupt_slow.c builds this file with TEST_INTERRUPT_SLOW set to 1.
 */
#ifndef TEST_INTERRUPT_SLOW
#define TEST_INTERRUPT_SLOW 0
#endif

static const struct test_case check_tests[] = {
	TEST_CASE(test_sigint_l1_starting),
	TEST_CASE(test_sigint_l1_booting),
	TEST_CASE(test_sigint_l2_up),
	TEST_CASE(test_sigint_traffic),
	TEST_CASE(test_sigterm_checks),
	TEST_CASE(test_timeout_l1_boot),
};

static const struct test_case slow_tests[] = {
	TEST_CASE(test_teardown_budget_stopped_l1),
	TEST_CASE(test_kill9_l1_booting),
	TEST_CASE(test_kill9_l2_up),
	TEST_CASE(test_kill9_traffic),
};

int main(void)
{
	if (TEST_INTERRUPT_SLOW)
		return test_main(slow_tests, ARRAY_SIZE(slow_tests));
	return test_main(check_tests, ARRAY_SIZE(check_tests));
}
