/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_hostile_run.c - (make check-slow) a real run whose L1 agent is hostile
 *
 * `nestlab run --no-setup scenarios/nested-igb.yaml` with NESTLAB_TEST_L1_AGENT=build/tests/nestlab-agent-hostile
 * (orchestrator/tests/hostile_agent.c; nestlab puts it into the run's overlay in place of L1's agent). It
 * floods both consoles and the agent channel, sends maximum-size and malformed frames, answers with
 * truncated and endless files and leaves a request unanswered. The run must end with a clear failure
 * (exit 1 or 4, the NIC check quoting the agent's output escaped), with nestlab's own peak RSS (VmHWM) and
 * the run directory (without the qcow2 overlay) bounded, each log under its cap, and no process or
 * libvirt domain of the run left. The cache is filled first (`nestlab build all`, `nestlab images`:
 * no-ops when warm). The run itself takes a few minutes on 2 cores (L1 boot under TCG, libguestfs putting
 * the agent in, one EXEC left unanswered). Skips: not root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"
#include "agent_client.h"
#include "console.h"
#include "proc.h"

#define MIB (1ull << 20)

static const char *hostile_path(void)
{
	const char *p = getenv("NESTLAB_HOSTILE_AGENT");

	return p ? p : "build/tests/nestlab-agent-hostile";
}

/* ---- a run whose L1 agent is hostile --------------------------------------------------------------- */

/* du_bytes() - bytes allocated under @path (st_blocks), without files whose name ends in @skip_suffix */
static uint64_t du_bytes(const char *path, const char *skip_suffix, uint64_t *skipped)
{
	struct stat st;
	uint64_t total = 0;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		size_t n = strlen(path), k = strlen(skip_suffix);

		if (n > k && !strcmp(path + n - k, skip_suffix)) {
			*skipped += (uint64_t)st.st_blocks * 512;
			return 0;
		}
		return (uint64_t)st.st_blocks * 512;
	}
	d = opendir(path);
	while (d && (e = readdir(d))) {
		cleanup_free char *sub = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = xasprintf("%s/%s", path, e->d_name);
		total += du_bytes(sub, skip_suffix, skipped);
	}
	if (d)
		closedir(d);
	return total;
}

/* file_size() - st_size of @dir/@name, or 0 */
static uint64_t file_size(const char *dir, const char *name)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	struct stat st;

	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* leftovers() - processes whose command line names @needle (other than this test), listed in @report */
static size_t leftovers(const char *needle, struct strbuf *report)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d))) {
		cleanup_free char *path = NULL, *cmd = NULL;
		char buf[8192];
		ssize_t len;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
			continue;
		path = xasprintf("/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		for (ssize_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, needle)) {
			strbuf_printf(report, "  pid %s: %.200s\n", e->d_name, buf);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* line_value() - the rest of the line after @prefix in @text (a new string), or NULL */
static char *line_value(const char *text, const char *prefix)
{
	const char *p = text ? strstr(text, prefix) : NULL;

	if (!p)
		return NULL;
	p += strlen(prefix);
	return xstrndup(p, strcspn(p, " \n"));
}

/*
 * own_peak_rss_kib() - VmHWM of @pid (its own peak RSS, children not counted), or -1. wait4's ru_maxrss
 * is the largest of the process and the children it waited for, so it reports the QEMU of libguestfs's
 * appliance (which puts the agent into the overlay, ~500 MiB), not what the guest made nestlab hold.
 */
static long own_peak_rss_kib(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/status", (int)pid);
	cleanup_free char *text = read_file_text(path);
	const char *hwm = text ? strstr(text, "\nVmHWM:") : NULL;

	return hwm ? strtol(hwm + 8, NULL, 10) : -1;
}

static int test_run_with_hostile_l1(void)
{
	const char *bin = test_nestlab_bin();
	cleanup_free char *agent = NULL, *out_path = NULL, *err_path = NULL;
	cleanup_free char *out = NULL, *errs = NULL, *run_dir = NULL, *domain = NULL, *root = NULL, *link = NULL;
	cleanup_free char *agent_log = NULL;
	cleanup_strbuf struct strbuf report = STRBUF_INIT;
	struct rusage ru = { 0 };
	uint64_t t0, dir_bytes, overlay_bytes = 0;
	long peak_kib = -1;
	int status = 0;
	pid_t pid;

	if (geteuid() != 0)
		return test_skip("not root: libvirt's embedded driver and L1's overlay need root");
	agent = realpath(hostile_path(), NULL);
	if (!agent || access(bin, X_OK) < 0)
		return test_skip("%s or %s is not built (make)", hostile_path(), bin);
	if (test_setup_cache() < 0)
		return TEST_FAIL;
	out_path = xasprintf("/tmp/nestlab-test-hostile-run.%d.tap", (int)getpid());
	err_path = xasprintf("/tmp/nestlab-test-hostile-run.%d.err", (int)getpid());
	t0 = now_ms();
	pid = fork();
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		setenv("NESTLAB_TEST_L1_AGENT", agent, 1);
		execl(bin, "nestlab", "run", "--no-setup", "scenarios/nested-igb.yaml", (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	/* the run ends by itself within its timeouts; 20 minutes is a hang */
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &ru);

		if (w == pid)
			break;
		{
			long hwm = own_peak_rss_kib(pid);	/* monotonic: the last read is its peak */

			if (hwm > peak_kib)
				peak_kib = hwm;
		}
		if (now_ms() - t0 > 20 * 60 * 1000) {
			kill(pid, SIGKILL);
			wait4(pid, &status, 0, &ru);
			test_diag("the run did not end within 20 minutes");
			return TEST_FAIL;
		}
		usleep(200000);
	}
	out = read_file_text(out_path);
	errs = read_file_text(err_path);
	unlink(out_path);
	unlink(err_path);
	run_dir = line_value(errs, "nestlab: run directory ");
	domain = line_value(errs, "L1: starting ");
	test_diag("exit status %d after %.1f s; nestlab's own peak RSS %ld KiB (with the children it waited for, "
		  "libguestfs's appliance among them: %ld KiB); TAP:\n%s", WIFEXITED(status) ?
		  WEXITSTATUS(status) : 128 + WTERMSIG(status), (now_ms() - t0) / 1000.0, peak_kib, ru.ru_maxrss,
		  out ? out : "");
	test_diag_run(NULL, errs);
	CHECK(run_dir && domain);
	CHECK(WIFEXITED(status) && (WEXITSTATUS(status) == 1 || WEXITSTATUS(status) == 4));
	/* the failure is clear: the NIC check, with the agent's (escaped, cut) output */
	CHECK_CONTAINS(errs, "is not bound to vfio-pci (kvm=yes\\ndriver=\\x1b[2J");
	CHECK(out && (strstr(out, "not ok") || strstr(out, "Bail out!")));
	for (const unsigned char *p = (const unsigned char *)errs; *p; p++)
		CHECK(*p != 0x1b && *p != 0x9b);
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		CHECK(*p != 0x1b && *p != 0x9b);
	CHECK(peak_kib > 0 && peak_kib < 512 * 1024);
	/* the hostile agent ran, and every log stayed under its cap */
	agent_log = xasprintf("%s/agent.log", run_dir);
	{
		cleanup_free char *text = read_file_text(agent_log);

		CHECK_CONTAINS(text, "agent hostile");
	}
	dir_bytes = du_bytes(run_dir, ".qcow2", &overlay_bytes);
	test_diag("run directory %s: %.1f MiB without the overlay, overlay %.1f MiB; l1-console.log %.1f MiB, "
		  "l2-console.log %.1f MiB, agent.log %.1f MiB", run_dir, dir_bytes / (double)MIB,
		  overlay_bytes / (double)MIB, file_size(run_dir, "l1-console.log") / (double)MIB,
		  file_size(run_dir, "l2-console.log") / (double)MIB, file_size(run_dir, "agent.log") / (double)MIB);
	CHECK(file_size(run_dir, "l1-console.log") <= CONSOLE_CAPTURE_MAX_BYTES_DEFAULT + 4096);
	CHECK(file_size(run_dir, "l2-console.log") <= CONSOLE_CAPTURE_MAX_BYTES_DEFAULT + 4096);
	CHECK(file_size(run_dir, "agent.log") <= AGENT_CLIENT_LOG_MAX_BYTES + 4096);
	CHECK(dir_bytes < 2 * CONSOLE_CAPTURE_MAX_BYTES_DEFAULT + AGENT_CLIENT_LOG_MAX_BYTES + 64 * MIB);
	CHECK(overlay_bytes < 2048 * MIB);
	/* nothing of the run is left: no process naming its domain or directory, no domain in its root */
	CHECK(leftovers(domain, &report) == 0 && leftovers(run_dir, &report) == 0);
	link = xasprintf("%s/libvirt", run_dir);
	root = realpath(link, NULL);
	if (root) {
		cleanup_free char *status_xml = xasprintf("%s/run/qemu/%s.xml", root, domain);

		CHECK(access(status_xml, F_OK) < 0);
	}
	if (report.len)
		test_diag("left over:\n%s", report.str);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_run_with_hostile_l1),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
