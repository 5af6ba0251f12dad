/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_hostile.c - a hostile L1 agent (build/tests/nestlab-agent-hostile, orchestrator/tests/hostile_agent.c)
 * against the host side
 *
 * test_client_vs_hostile_agent: the agent client on a socketpair with the hostile agent (no console
 * flood): READY comes through the noise, every answer is bounded and checked, the client's log stays
 * under its cap, and this process's memory stays bounded. A few seconds. The same agent in a real L1
 * is the slow tier's test (orchestrator/tests/slow/test_hostile_run.c, make check-slow).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_client.h"
#include "test.h"

#define MIB (1ull << 20)

static const char *hostile_path(void)
{
	const char *p = getenv("NESTLAB_HOSTILE_AGENT");

	return p ? p : "build/tests/nestlab-agent-hostile";
}

static long max_rss_kib(int who)
{
	struct rusage ru;

	return getrusage(who, &ru) == 0 ? ru.ru_maxrss : -1;
}

/* ---- the agent client against the hostile agent ---------------------------------------------------- */

static int test_client_vs_hostile_agent(void)
{
	cleanup_agent_client struct agent_client *c = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *log_path = xasprintf("/tmp/nestlab-test-hostile.%d.log", (int)getpid());
	cleanup_free char *out = NULL, *data = NULL, *log = NULL;
	struct agent_ready ready = { 0 };
	struct stat st;
	size_t len = 0;
	int sv[2], status = -1;
	pid_t pid;

	if (access(hostile_path(), X_OK) < 0)
		return test_skip("%s is not built (make %s)", hostile_path(), hostile_path());
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	pid = fork();
	if (pid == 0) {
		char fd[16];

		snprintf(fd, sizeof(fd), "%d", sv[1]);
		fcntl(sv[1], F_SETFD, 0);
		execl(hostile_path(), "nestlab-agent-hostile", "--level", "l1", "--fd", fd, "--no-console",
		      "--flood-bytes", "48000000", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	CHECK(pid > 0);
	unlink(log_path);
	CHECK(agent_client_adopt_fd(sv[0], "hostile", log_path, &c, &err) == 0);
	/* garbage, a too-large header, bad version, bad CRC, unknown type, a broken RELAY, a READY for the
	 * wrong level and 4 maximum-size LOG frames come first */
	CHECK(agent_client_wait_ready(c, 1, 30000, &ready, &err) == 0);
	CHECK_STR(ready.hostname, "hostile-l1");
	agent_client_ready_release(&ready);
	/* EXEC 1: maximum-size output full of escape sequences, while LOG frames keep coming */
	CHECK(agent_client_sh(c, 1, "true", 10000, &out, &status, &err) == 0);
	CHECK(status == 0 && strlen(out) == AGENT_MAX_EXEC_OUTPUT);
	/* READ_FILE 1: truncated (short, not at end of file): what came is what the caller gets */
	CHECK(agent_client_read_file(c, 1, "/f", 0, 30000, &data, &len, &err) == 0);
	CHECK(len == AGENT_MAX_DATA_BYTES / 2);
	free(data);
	data = NULL;
	/* READ_FILE 2: data for another offset: refused */
	CHECK(agent_client_read_file(c, 1, "/f", 0, 30000, &data, &len, &err) < 0);
	CHECK_CONTAINS(err->msg, "the agent sent 786432 at offset 4096");
	nl_error_release(&err);
	/* READ_FILE 3: a file without end: the read stops at its maximum */
	CHECK(agent_client_read_file(c, 1, "/f", 0, 60000, &data, &len, &err) == 0);
	CHECK(len == AGENT_CLIENT_READ_MAX_DEFAULT);
	free(data);
	data = NULL;
	/* the rest of the LOG flood (48 MB in all) */
	for (int i = 0; i < 600 && agent_client_poll_logs(c, 500, &err) > 0; i++)
		;
	CHECK(!err);
	agent_client_free(c);
	c = NULL;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(stat(log_path, &st) == 0);
	log = read_file_text(log_path);
	test_diag("client log %lld bytes; this process's peak RSS %ld KiB", (long long)st.st_size,
		  max_rss_kib(RUSAGE_SELF));
	CHECK((uint64_t)st.st_size <= AGENT_CLIENT_LOG_MAX_BYTES + 4096);
	CHECK(log && strstr(log, "later ones are counted, not written"));
	CHECK(strstr(log, "frame #7 dropped"));			/* the malformed frames */
	CHECK(strstr(log, "l1 <- READY #0 level l1\\x1b[2J"));	/* escaped in the log */
	CHECK(max_rss_kib(RUSAGE_SELF) < 256 * 1024);
	unlink(log_path);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_client_vs_hostile_agent),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
