/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_agent_client.c - lib/agent_client.c against the real agents, and against hostile fakes
 *
 * The first half runs two real nestlab-agent processes ($NESTLAB_AGENT, default build/nestlab-agent)
 * as L1 and L2 would: the client talks to an l1 agent over a socketpair (--fd), and that agent relays
 * over a second socketpair (--relay-fd) to an l2 agent, so HELLO/READY, EXEC, READ_FILE, LOG lines and
 * the relay are the real thing; connect() is tested against a unix socket that appears late.
 *
 * The second half replaces the agent with a scripted fake in a child process (the process boundary is
 * the only place faked): garbage and stale replies around the real one, ERROR replies, replies of the
 * wrong type or with lying fields, a corrupted reply, silence (timeout), a pending SIGINT, a peer that
 * closes, and an L1 that refuses or garbles relays.
 *
 * Every wait has a generous deadline; nothing depends on timing beyond them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_client.h"
#include "agent_proto.h"
#include "error.h"
#include "proc.h"
#include "test.h"

#define WAIT_MS 20000		/* generous bound of every wait that should succeed */

/* ---- helpers ------------------------------------------------------------------------------------- */

static const char *agent_path(void)
{
	const char *p = getenv("NESTLAB_AGENT");

	return p && *p ? p : "build/nestlab-agent";
}

/* tmp_dir_new() - a fresh directory under /tmp (caller frees the name) */
static char *tmp_dir_new(void)
{
	char *dir = xstrdup("/tmp/nestlab-agent-client.XXXXXX");

	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* tmp_dir_remove() - remove @dir and the files in it (the tests create no subdirectories) */
static void tmp_dir_remove(const char *dir)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	while (d && (e = readdir(d))) {
		cleanup_free char *path = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	if (dir)
		rmdir(dir);
}

/* dump_file() - a file's lines as diagnostics (agent stderr, the client's log) */
static void dump_file(const char *what, const char *path)
{
	cleanup_file FILE *f = path ? fopen(path, "re") : NULL;
	char line[1024];

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		test_diag("%s: %s", what, line);
	}
}

/* write_file() - create @path with @len bytes of @data */
static int write_file(const char *path, const void *data, size_t len)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	return fd >= 0 && write(fd, data, len) == (ssize_t)len ? 0 : -1;
}

/* ---- real agents: L1 on a socketpair, relaying over another socketpair to L2 ----------------------- */

struct agents {
	char *dir;
	char *log_path;			/* the client's log */
	char *l1_err, *l2_err;		/* the agents' stderr */
	struct proc l1, l2;
	struct agent_client *client;
	bool started;			/* agents_start() got as far as proc_init() */
	bool failed;			/* dump the logs when stopping */
};

/*
 * agent_start() - run nestlab-agent with @args plus @extra (NULL-terminated, may be NULL), keeping the
 * descriptors @keep (the same numbers in the child), stderr into @err_path
 */
static int agent_start(struct proc *p, const char *const *args, const char *const *extra, int *keep,
		       size_t n_keep, const char *err_path)
{
	cleanup_error nl_error_t err = NULL;

	strv_push(&p->argv, agent_path());
	for (size_t i = 0; args[i]; i++)
		strv_push(&p->argv, args[i]);
	for (size_t i = 0; extra && extra[i]; i++)
		strv_push(&p->argv, extra[i]);
	p->keep_fds = keep;
	p->n_keep_fds = n_keep;
	p->stdin_io.mode = PROC_IO_NULL;
	p->stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, err_path };
	p->stderr_io.mode = PROC_IO_STDOUT;
	if (proc_start(p, &err) < 0) {
		test_diag("start %s: %s (run make, or set NESTLAB_AGENT)", agent_path(), err->msg);
		return -1;
	}
	return 0;
}

/*
 * agents_start() - an l2 agent, an l1 agent relaying to it, and a client on the l1 agent's channel;
 * @l1_extra and @l2_extra are more options (--watch) or NULL. Return: TEST_PASS, TEST_SKIP without
 * the agent binary, TEST_FAIL. Until the test clears a->failed, agents_stop() shows every log.
 */
static int agents_start(struct agents *a, const char *const *l1_extra, const char *const *l2_extra)
{
	cleanup_error nl_error_t err = NULL;
	int host[2] = { -1, -1 }, relay[2] = { -1, -1 };
	char host_fd[16], relay_fd[16], l2_fd[16];
	int keep1[2], keep2[1];
	int ret = TEST_FAIL;

	memset(a, 0, sizeof(*a));
	if (access(agent_path(), X_OK) < 0)
		return test_skip("%s: %s (run make, or set NESTLAB_AGENT)", agent_path(), strerror(errno));
	proc_init(&a->l1);
	proc_init(&a->l2);
	a->started = a->failed = true;
	a->dir = tmp_dir_new();
	if (!a->dir)
		return TEST_FAIL;
	a->log_path = xasprintf("%s/agent.log", a->dir);
	a->l1_err = xasprintf("%s/l1.stderr", a->dir);
	a->l2_err = xasprintf("%s/l2.stderr", a->dir);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, host) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, relay) < 0)
		goto out;
	snprintf(host_fd, sizeof(host_fd), "%d", host[1]);
	snprintf(relay_fd, sizeof(relay_fd), "%d", relay[0]);
	snprintf(l2_fd, sizeof(l2_fd), "%d", relay[1]);
	keep2[0] = relay[1];
	keep1[0] = host[1];
	keep1[1] = relay[0];
	{
		const char *l2_args[] = { "--level", "l2", "--fd", l2_fd, NULL };
		const char *l1_args[] = { "--level", "l1", "--fd", host_fd, "--relay-fd", relay_fd, NULL };

		if (agent_start(&a->l2, l2_args, l2_extra, keep2, 1, a->l2_err) < 0 ||
		    agent_start(&a->l1, l1_args, l1_extra, keep1, 2, a->l1_err) < 0)
			goto out;
	}
	if (agent_client_adopt_fd(host[0], "socketpair", a->log_path, &a->client, &err) < 0) {
		host[0] = -1;	/* the client closed it */
		test_diag("%s", err->msg);
		goto out;
	}
	host[0] = -1;
	ret = TEST_PASS;
out:
	for (int i = 0; i < 2; i++) {
		if (host[i] >= 0)
			close(host[i]);
		if (relay[i] >= 0)
			close(relay[i]);
	}
	a->l1.keep_fds = a->l2.keep_fds = NULL;	/* were on this stack */
	a->l1.n_keep_fds = a->l2.n_keep_fds = 0;
	return ret;
}

/* agents_stop() - close the client (the agents exit at end of file), reap them, show logs on failure */
static void agents_stop(struct agents *a)
{
	cleanup_error nl_error_t err1 = NULL, err2 = NULL;
	int rc1, rc2;

	if (!a->started)
		return;
	agent_client_free(a->client);
	a->client = NULL;
	rc1 = a->l1.pid ? proc_wait(&a->l1, 5000, &err1) : 0;
	rc2 = a->l2.pid ? proc_wait(&a->l2, 5000, &err2) : 0;
	if (rc1 < 0 || rc2 < 0)
		test_diag("agents did not stop cleanly: %s %s", err1 ? err1->msg : "", err2 ? err2->msg : "");
	if (a->failed || rc1 < 0 || rc2 < 0) {
		dump_file("client log", a->log_path);
		dump_file("l1 stderr", a->l1_err);
		dump_file("l2 stderr", a->l2_err);
	}
	proc_release(&a->l1);
	proc_release(&a->l2);
	tmp_dir_remove(a->dir);
	free(a->dir);
	free(a->log_path);
	free(a->l1_err);
	free(a->l2_err);
	memset(a, 0, sizeof(*a));
}

static void cleanup_agentsp(struct agents *a)
{
	agents_stop(a);
}
#define cleanup_agents __attribute__((cleanup(cleanup_agentsp)))

/* CHECK_OK() - CHECK that a call returning < 0 with err set succeeded, printing err otherwise */
#define CHECK_OK(call)                                                                              \
	do {                                                                                        \
		if ((call) < 0) {                                                                   \
			test_diag("%s:%d: %s failed: %s", __FILE__, __LINE__, #call,                \
				  err ? err->msg : "(no error)");                                   \
			return TEST_FAIL;                                                           \
		}                                                                                   \
	} while (0)

/* both levels answer HELLO; L1 says it relays */
static int test_ready_both_levels(void)
{
	cleanup_agents struct agents a = { 0 };
	cleanup_error nl_error_t err = NULL;
	struct agent_ready r1 = { 0 }, r2 = { 0 };
	cleanup_free char *log = NULL;
	int ret = TEST_FAIL, rc;

	rc = agents_start(&a, NULL, NULL);
	if (rc != TEST_PASS)
		return rc;
	CHECK_OK(agent_client_wait_ready(a.client, 1, WAIT_MS, &r1, &err));
	if (agent_client_wait_ready(a.client, 2, WAIT_MS, &r2, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	if (strcmp(r1.level, "l1") || !r1.has_relay || strcmp(r2.level, "l2") || r2.has_relay ||
	    !r1.boot_id[0] || !r2.agent_version[0])
		goto out;
	log = read_file_text(a.log_path);
	if (!log || !strstr(log, "l1 -> HELLO") || !strstr(log, "l2 <- READY") || !strstr(log, "l1 <- READY"))
		goto out;
	ret = TEST_PASS;
	a.failed = false;
out:
	agent_client_ready_release(&r1);
	agent_client_ready_release(&r2);
	return ret;
}

/*
 * exec_checks() - EXEC at @level: stdin through to stdout, stdout and exit status of sh -c, and a program
 * that cannot run, which is the agent's ERROR exec with the guest's errno
 */
static int exec_checks(struct agent_client *c, int level)
{
	char *cat[] = { "cat", NULL };
	char *missing[] = { "/nonexistent/program", NULL };
	cleanup_free char *want = xasprintf("L%d agent: EXEC /nonexistent/program: exec:", level);
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;
	struct agent_exec_result res;
	int status = 0;

	CHECK_OK(agent_client_exec(c, level, cat, "to stdin\n", 9, 10000, &res, &err));
	CHECK(res.exit_status == 0 && res.stdout_data.len == 9);
	CHECK(!memcmp(res.stdout_data.data, "to stdin\n", 9));
	agent_client_result_release(&res);
	CHECK_OK(agent_client_sh(c, level, "echo $((6 * 7)); echo err >&2; exit 3", 10000, &out, &status,
				 &err));
	CHECK_STR(out, "42\n");
	CHECK(status == 3);
	CHECK(agent_client_exec(c, level, missing, NULL, 0, 10000, &res, &err) < 0);
	CHECK_CONTAINS(err->msg, want);
	CHECK(err->errnum == ENOENT);
	return TEST_PASS;
}

/* EXEC in L1: exec_checks(), signals, timeouts, failures as errors */
static int test_exec_l1(void)
{
	cleanup_agents struct agents a = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;
	int status = 0, rc;

	rc = agents_start(&a, NULL, NULL);
	if (rc != TEST_PASS)
		return rc;
	CHECK_OK(agent_client_wait_ready(a.client, 1, WAIT_MS, NULL, &err));
	CHECK(exec_checks(a.client, 1) == TEST_PASS);
	CHECK_OK(agent_client_sh(a.client, 1, "kill -9 $$", 10000, NULL, &status, &err));
	CHECK(status == 128 + 9);
	CHECK_OK(agent_client_sh(a.client, 1, "sleep 20", 300, NULL, &status, &err));
	CHECK(status == -1);
	/* without @status, failure is an error that quotes stderr */
	CHECK(agent_client_sh(a.client, 1, "echo oops >&2; exit 2", 10000, &out, NULL, &err) < 0);
	CHECK_CONTAINS(err->msg, "exit status 2");
	CHECK_CONTAINS(err->msg, "oops");
	CHECK(out == NULL);
	nl_error_release(&err);
	/* the connection is still good */
	CHECK_OK(agent_client_sh(a.client, 1, "echo still", 10000, &out, NULL, &err));
	CHECK_STR(out, "still\n");
	a.failed = false;
	return TEST_PASS;
}

/* the same in L2 through the relay; L2's ERROR replies come back relayed; there is no level 3 */
static int test_exec_l2(void)
{
	cleanup_agents struct agents a = { 0 };
	cleanup_error nl_error_t err = NULL;
	char *cat[] = { "cat", NULL };
	struct agent_exec_result res;
	int rc;

	rc = agents_start(&a, NULL, NULL);
	if (rc != TEST_PASS)
		return rc;
	CHECK_OK(agent_client_wait_ready(a.client, 2, WAIT_MS, NULL, &err));
	CHECK(exec_checks(a.client, 2) == TEST_PASS);
	CHECK(agent_client_exec(a.client, 3, cat, NULL, 0, 1000, &res, &err) < 0);
	CHECK(err->errnum == EINVAL);
	a.failed = false;
	return TEST_PASS;
}

/* READ_FILE in loops of offsets: larger than one reply, capped, empty, missing; both levels */
static int test_read_file(void)
{
	cleanup_agents struct agents a = { 0 };
	cleanup_error nl_error_t err = NULL;
	size_t big_len = 2 * AGENT_MAX_DATA_BYTES + 12345, len = 0;
	cleanup_free char *big = xmalloc(big_len), *path = NULL, *empty = NULL, *missing = NULL;
	char *data = NULL;
	int rc;

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)(i * 7 + i / 4096);
	rc = agents_start(&a, NULL, NULL);
	if (rc != TEST_PASS)
		return rc;
	path = xasprintf("%s/big", a.dir);
	empty = xasprintf("%s/empty", a.dir);
	missing = xasprintf("%s/missing", a.dir);
	CHECK(write_file(path, big, big_len) == 0 && write_file(empty, "", 0) == 0);
	for (int level = 1; level <= 2; level++) {
		CHECK_OK(agent_client_wait_ready(a.client, level, WAIT_MS, NULL, &err));
		CHECK_OK(agent_client_read_file(a.client, level, path, 0, WAIT_MS, &data, &len, &err));
		CHECK(len == big_len && !memcmp(data, big, big_len) && data[len] == '\0');
		free(data);
		CHECK_OK(agent_client_read_file(a.client, level, path, 1000, WAIT_MS, &data, &len, &err));
		CHECK(len == 1000 && !memcmp(data, big, 1000));
		free(data);
		CHECK_OK(agent_client_read_file(a.client, level, empty, 0, WAIT_MS, &data, &len, &err));
		CHECK(len == 0 && data && data[0] == '\0');
		free(data);
		data = NULL;
		CHECK(agent_client_read_file(a.client, level, missing, 0, WAIT_MS, &data, &len, &err) < 0);
		CHECK_CONTAINS(err->msg, ": io: ");
		CHECK(err->errnum == ENOENT && data == NULL);
		nl_error_release(&err);
	}
	a.failed = false;
	return TEST_PASS;
}

struct log_seen {
	int l1, l2;
};

/* count_logs() - the log callback of test_logs() */
static void count_logs(void *opaque, int level, const struct agent_log *log)
{
	struct log_seen *seen = opaque;

	if (level == 1 && !strcmp(log->source, "w1") && !strcmp(log->text, "from l1 \x1b[1m"))
		seen->l1++;
	if (level == 2 && !strcmp(log->source, "w2") && !strcmp(log->text, "from l2"))
		seen->l2++;
}

/* LOG lines of both levels (L2's relayed) reach the callback and the log, escaped */
static int test_logs(void)
{
	cleanup_agents struct agents a = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *dir = tmp_dir_new(), *w1 = NULL, *w2 = NULL, *f1 = NULL, *f2 = NULL, *log = NULL;
	struct log_seen seen = { 0 };
	uint64_t deadline = now_ms() + WAIT_MS;
	int rc;

	CHECK(dir);
	f1 = xasprintf("%s/one", dir);
	f2 = xasprintf("%s/two", dir);
	w1 = xasprintf("w1=%s", f1);
	w2 = xasprintf("w2=%s", f2);
	CHECK(write_file(f1, "from l1 \x1b[1m\n", 13) == 0 && write_file(f2, "from l2\n", 8) == 0);
	{
		const char *l1_extra[] = { "--watch", w1, NULL };
		const char *l2_extra[] = { "--watch", w2, NULL };

		rc = agents_start(&a, l1_extra, l2_extra);
	}
	if (rc != TEST_PASS) {
		tmp_dir_remove(dir);
		return rc;
	}
	agent_client_set_log_fn(a.client, count_logs, &seen);
	CHECK(agent_client_fd(a.client) >= 0);
	while ((!seen.l1 || !seen.l2) && now_ms() < deadline)
		CHECK_OK(agent_client_poll_logs(a.client, 200, &err));
	CHECK(seen.l1 == 1 && seen.l2 == 1);
	CHECK(agent_client_poll_logs(a.client, 0, &err) >= 0);
	log = read_file_text(a.log_path);
	CHECK_CONTAINS(log, "l1 LOG w1 [");
	CHECK_CONTAINS(log, "]: from l1 \\x1b[1m\n");
	CHECK_CONTAINS(log, "l2 LOG w2 [");
	a.failed = false;
	tmp_dir_remove(dir);
	return TEST_PASS;
}

/* connect() retries until the socket exists and accepts; a real agent serves the accepted connection */
static int test_connect_late_socket(void)
{
	cleanup_free char *dir = tmp_dir_new(), *sock = NULL, *log = NULL, *agent_err = NULL;
	cleanup_error nl_error_t err = NULL;
	struct agent_client *c = NULL;
	struct agent_ready ready = { 0 };
	int status = -1;
	pid_t pid;

	if (access(agent_path(), X_OK) < 0)
		return test_skip("%s missing (run make)", agent_path());
	CHECK(dir);
	sock = xasprintf("%s/l1-agent.sock", dir);
	log = xasprintf("%s/agent.log", dir);
	agent_err = xasprintf("%s/agent.stderr", dir);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* QEMU's chardev, late: listen after a while, accept, hand the connection to the agent */
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int lfd, conn;

		usleep(300 * 1000);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 1) < 0)
			_exit(3);
		conn = accept(lfd, NULL, NULL);
		if (conn < 0 || dup2(conn, 3) < 0)
			_exit(4);
		close(STDERR_FILENO);
		if (open(agent_err, O_WRONLY | O_CREAT | O_TRUNC, 0644) != STDERR_FILENO)
			_exit(5);
		execl(agent_path(), agent_path(), "--level", "l1", "--fd", "3", (char *)NULL);
		_exit(127);
	}
	if (agent_client_connect(sock, WAIT_MS, log, &c, &err) < 0 ||
	    agent_client_wait_ready(c, 1, WAIT_MS, &ready, &err) < 0) {
		test_diag("%s", err->msg);
		dump_file("client log", log);
		dump_file("agent stderr", agent_err);
		kill(pid, SIGKILL);
	}
	agent_client_free(c);	/* the agent sees end of file and exits */
	waitpid(pid, &status, 0);
	CHECK(!err);
	CHECK_STR(ready.level, "l1");
	CHECK(!ready.has_relay);
	agent_client_ready_release(&ready);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tmp_dir_remove(dir);
	return TEST_PASS;
}

/* connect() gives up: a missing socket after its timeout, a path too long for sun_path at once */
static int test_connect_errors(void)
{
	cleanup_free char *dir = tmp_dir_new(), *sock = NULL, *longer = NULL;
	cleanup_error nl_error_t err = NULL;
	struct agent_client *c = NULL;
	uint64_t t0 = now_ms();

	CHECK(dir);
	sock = xasprintf("%s/none.sock", dir);
	CHECK(agent_client_connect(sock, 300, NULL, &c, &err) < 0 && c == NULL);
	CHECK(err->errnum == ETIMEDOUT && now_ms() - t0 >= 300);
	CHECK_CONTAINS(err->msg, "none.sock");
	nl_error_release(&err);
	longer = xasprintf("%s/%0200d.sock", dir, 0);
	CHECK(agent_client_connect(longer, 10000, NULL, &c, &err) < 0);
	CHECK(err->errnum == ENAMETOOLONG);
	nl_error_release(&err);
	CHECK(agent_client_adopt_fd(-1, "nothing", NULL, &c, &err) < 0 && c == NULL);
	rmdir(dir);
	return TEST_PASS;
}

/* ---- hostile fakes ---------------------------------------------------------------------------------- */

/* the fake agent's side of the connection, in a child process */
struct fake {
	int fd;
	struct agent_decoder dec;
};

/* fake_recv() - the next request; *@level 2 when it came inside a RELAY (then @msg is the inner one) */
static int fake_recv(struct fake *f, struct agent_msg *msg, int *level)
{
	for (;;) {
		cleanup_agent_frame struct agent_frame frame = { 0 }, inner = { 0 };
		cleanup_agent_msg struct agent_msg relay = { 0 };
		cleanup_error nl_error_t err = NULL;
		struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
		char buf[65536];
		ssize_t n;
		int rc = agent_decoder_next(&f->dec, &frame, &err);

		if (rc < 0)
			return -1;
		if (rc > 0 && frame.type != AGENT_MSG_RELAY) {
			*level = 1;
			return agent_msg_decode(&frame, msg, &err);
		}
		if (rc > 0) {
			*level = 2;
			if (agent_msg_decode(&frame, &relay, &err) < 0 ||
			    agent_frame_parse(relay.u.relay.frame.data, relay.u.relay.frame.len, &inner,
					      &err) < 0)
				return -1;
			return agent_msg_decode(&inner, msg, &err);
		}
		if (poll(&pfd, 1, WAIT_MS) <= 0)
			return -1;
		n = read(f->fd, buf, sizeof(buf));
		if (n <= 0)
			return -1;
		agent_decoder_feed(&f->dec, buf, (size_t)n);
	}
}

/* fake_expect() - receive a request of @type at @level; returns its id, 0 on anything else */
static uint32_t fake_expect(struct fake *f, uint8_t type, int level)
{
	cleanup_agent_msg struct agent_msg msg = { 0 };
	int got_level = 0;

	if (fake_recv(f, &msg, &got_level) < 0 || msg.type != type || got_level != level ||
	    (level == 2) != !!(msg.flags & AGENT_FLAG_INNER) || !msg.request_id)
		return 0;
	return msg.request_id;
}

static int fake_raw(struct fake *f, const void *data, size_t len)
{
	return write(f->fd, data, len) == (ssize_t)len ? 0 : -1;
}

/* fake_send() - send @msg as the agent at @level would (level 2: flagged, inside a RELAY from L1) */
static int fake_send(struct fake *f, int level, struct agent_msg *msg)
{
	cleanup_strbuf struct strbuf inner = STRBUF_INIT, frame = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg relay = { .type = AGENT_MSG_RELAY, .request_id = msg->request_id };

	if (level == 2) {
		msg->flags |= AGENT_FLAG_INNER;
		if (agent_msg_encode(msg, &inner, &err) < 0)
			return -1;
		relay.u.relay.frame = (struct agent_bytes){ (uint8_t *)inner.str, inner.len };
		msg = &relay;
	}
	if (agent_msg_encode(msg, &frame, &err) < 0)
		return -1;
	return fake_raw(f, frame.str, frame.len);
}

/* fake_error() - an ERROR reply */
static int fake_error(struct fake *f, int level, uint32_t id, int code, int errnum, const char *text)
{
	struct agent_msg e = { .type = AGENT_MSG_ERROR, .request_id = id };

	e.u.error.code = (uint64_t)code;
	e.u.error.errnum = (uint64_t)errnum;
	e.u.error.message = (char *)text;
	return fake_send(f, level, &e);
}

/* fake_exec_result() - an EXEC_RESULT with exit status @status and stdout @out */
static int fake_exec_result(struct fake *f, int level, uint32_t id, int status, const char *out)
{
	struct agent_msg r = { .type = AGENT_MSG_EXEC_RESULT, .request_id = id };

	r.u.exec_result.exit_status = (uint64_t)status;
	r.u.exec_result.stdout_data = (struct agent_bytes){ (uint8_t *)out, strlen(out) };
	return fake_send(f, level, &r);
}

/* fake_ready() - a READY claiming @level_name */
static int fake_ready(struct fake *f, int level, uint32_t id, const char *level_name)
{
	struct agent_msg r = { .type = AGENT_MSG_READY, .request_id = id };

	r.u.ready.agent_version = "fake";
	r.u.ready.level = (char *)level_name;
	r.u.ready.hostname = "fake";
	r.u.ready.boot_id = "0";
	return fake_send(f, level, &r);
}

typedef int (*fake_script)(struct fake *f);

struct fake_run {
	pid_t pid;
	struct agent_client *client;
	char *log_path;
};

/* fake_start() - fork a child running @script on one end of a socketpair, a client on the other */
static int fake_start(struct fake_run *run, fake_script script)
{
	cleanup_error nl_error_t err = NULL;
	int sv[2];

	memset(run, 0, sizeof(*run));
	run->log_path = xasprintf("/tmp/nestlab-agent-client-fake.%d.log", (int)getpid());
	unlink(run->log_path);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	run->pid = fork();
	if (run->pid == 0) {
		struct fake f = { .fd = sv[1] };

		close(sv[0]);
		agent_decoder_init(&f.dec);
		_exit(script(&f) == 0 ? 0 : 1);
	}
	close(sv[1]);
	if (run->pid < 0 || agent_client_adopt_fd(sv[0], "fake", run->log_path, &run->client, &err) < 0)
		return -1;
	return 0;
}

/* fake_finish() - close the client, reap the fake; TEST_PASS when its script succeeded */
static int fake_finish(struct fake_run *run, bool dump)
{
	int status = -1;

	agent_client_free(run->client);
	run->client = NULL;
	if (run->pid > 0 && waitpid(run->pid, &status, 0) != run->pid)
		status = -1;
	run->pid = 0;
	if (dump || !WIFEXITED(status) || WEXITSTATUS(status))
		dump_file("client log", run->log_path);
	if (run->log_path)
		unlink(run->log_path);
	free(run->log_path);
	run->log_path = NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		test_diag("the fake agent's script failed (status 0x%x)", status);
		return TEST_FAIL;
	}
	return TEST_PASS;
}

static void cleanup_fake_runp(struct fake_run *run)
{
	if (!run->log_path)
		return;	/* finished, or never started */
	if (run->pid > 0)
		kill(run->pid, SIGKILL);
	fake_finish(run, false);
}
#define cleanup_fake_run __attribute__((cleanup(cleanup_fake_runp)))

/* script: garbage, a LOG, a stale reply and a reply for another id around the real reply */
static int script_noise(struct fake *f)
{
	static const char garbage[] = "boot noise NLAG\x01\x02 more noise";
	struct agent_msg log = { .type = AGENT_MSG_LOG };
	uint32_t id = fake_expect(f, AGENT_MSG_EXEC, 1);

	log.u.log.source = "kmsg";
	log.u.log.text = "a line\nwith \x07 controls";
	if (!id || fake_raw(f, garbage, sizeof(garbage)) < 0 || fake_send(f, 1, &log) < 0 ||
	    fake_exec_result(f, 1, id - 1, 9, "stale") < 0 || fake_exec_result(f, 2, id, 9, "from L2") < 0 ||
	    fake_ready(f, 1, 0, "l1") < 0 || fake_exec_result(f, 1, id, 7, "real") < 0)
		return -1;
	/* a reply nobody waits for, then the next request */
	if (fake_exec_result(f, 1, id, 8, "late duplicate") < 0)
		return -1;
	id = fake_expect(f, AGENT_MSG_EXEC, 1);
	return id && fake_exec_result(f, 1, id, 0, "second") == 0 ? 0 : -1;
}

static int test_fake_noise(void)
{
	cleanup_fake_run struct fake_run run = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL, *log = NULL;
	int status = -1;

	CHECK(fake_start(&run, script_noise) == 0);
	CHECK_OK(agent_client_sh(run.client, 1, "true", 5000, &out, &status, &err));
	CHECK(status == 7);
	CHECK_STR(out, "real");
	free(out);
	CHECK_OK(agent_client_sh(run.client, 1, "true", 5000, &out, &status, &err));
	CHECK(status == 0);
	CHECK_STR(out, "second");
	log = read_file_text(run.log_path);
	CHECK_CONTAINS(log, "l1 LOG kmsg [0.000]: a line\\nwith \\x07 controls");
	CHECK_CONTAINS(log, "dropped: no request waits for it");
	CHECK_CONTAINS(log, "l2 <- EXEC_RESULT");
	CHECK_CONTAINS(log, "l1 <- READY #0");
	return fake_finish(&run, false);
}

/* script: a flood of LOG lines (small ones and maximum-size ones) and stale replies, then the real reply */
static int script_flood(struct fake *f)
{
	static char big[AGENT_MAX_DATA_BYTES];
	char small[4200];
	struct agent_msg log = { .type = AGENT_MSG_LOG };
	uint32_t id = fake_expect(f, AGENT_MSG_EXEC, 1);

	if (!id)
		return -1;
	memset(small, 'x', sizeof(small) - 1);
	small[sizeof(small) - 1] = '\0';
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log.u.log.source = "kmsg";
	for (int i = 0; i < 6000; i++) {
		log.u.log.text = i % 500 == 0 ? big : small;
		if (fake_send(f, 1, &log) < 0 || (i % 100 == 0 && fake_exec_result(f, 1, id - 1, 1, "stale") < 0))
			return -1;
	}
	return fake_exec_result(f, 1, id, 0, "after the flood");
}

/* a guest flooding the channel: the client's log stops at its cap for guest lines, the reply still comes */
static int test_fake_flood_log_capped(void)
{
	cleanup_fake_run struct fake_run run = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL, *log = NULL;
	struct stat st;
	int status = -1;

	CHECK(fake_start(&run, script_flood) == 0);
	CHECK_OK(agent_client_sh(run.client, 1, "true", 60000, &out, &status, &err));
	CHECK(status == 0);
	CHECK_STR(out, "after the flood");
	agent_client_free(run.client);
	run.client = NULL;
	CHECK(stat(run.log_path, &st) == 0);
	test_diag("client log: %lld bytes after about %d MiB of LOG lines", (long long)st.st_size,
		  (int)((6000 * 4200ull + 12 * AGENT_MAX_DATA_BYTES) >> 20));
	CHECK((uint64_t)st.st_size < AGENT_CLIENT_LOG_GUEST_MAX_BYTES + (1u << 20));
	log = read_file_text(run.log_path);
	CHECK_CONTAINS(log, "... (786431 bytes)");	/* a maximum-size LOG line is cut */
	CHECK_CONTAINS(log, "later ones are counted, not written; requests and replies still are]");
	CHECK_CONTAINS(log, "lines were not written because of the caps above]");
	CHECK_CONTAINS(log, "l1 <- EXEC_RESULT");	/* the transcript goes on */
	return fake_finish(&run, false);
}

/* script: an ERROR reply with control characters and an errno; a reply of the wrong type; lying data */
static int script_errors(struct fake *f)
{
	struct agent_msg pong = { .type = AGENT_MSG_PONG };
	struct agent_msg data = { .type = AGENT_MSG_FILE_DATA };
	uint32_t id = fake_expect(f, AGENT_MSG_EXEC, 1);

	if (!id || fake_error(f, 1, id, AGENT_ERR_EXEC, ENOENT, "execvp \x1b[31mred\x1b[0m: gone") < 0)
		return -1;
	pong.request_id = fake_expect(f, AGENT_MSG_READ_FILE, 1);
	if (!pong.request_id || fake_send(f, 1, &pong) < 0)
		return -1;
	/* FILE_DATA for another offset than asked */
	data.request_id = fake_expect(f, AGENT_MSG_READ_FILE, 1);
	data.u.file_data.offset = 5;
	data.u.file_data.data = (struct agent_bytes){ (uint8_t *)"xyz", 3 };
	if (!data.request_id || fake_send(f, 1, &data) < 0)
		return -1;
	/* more data than asked: the client asked for at most 4 */
	data.request_id = fake_expect(f, AGENT_MSG_READ_FILE, 1);
	data.u.file_data.offset = 0;
	data.u.file_data.data = (struct agent_bytes){ (uint8_t *)"too long", 8 };
	return data.request_id && fake_send(f, 1, &data) == 0 ? 0 : -1;
}

static int test_fake_errors(void)
{
	cleanup_fake_run struct fake_run run = { 0 };
	cleanup_error nl_error_t err = NULL;
	char *data = NULL;
	int status;

	CHECK(fake_start(&run, script_errors) == 0);
	CHECK(agent_client_sh(run.client, 1, "true", 5000, NULL, &status, &err) < 0);
	CHECK_STR(err->msg, "L1 agent: EXEC /bin/sh -c true: exec: execvp \\x1b[31mred\\x1b[0m: gone");
	CHECK(err->errnum == ENOENT);
	nl_error_release(&err);
	CHECK(agent_client_read_file(run.client, 1, "/f", 0, 5000, &data, NULL, &err) < 0);
	CHECK_CONTAINS(err->msg, "answered with PONG, not FILE_DATA");
	nl_error_release(&err);
	CHECK(agent_client_read_file(run.client, 1, "/f", 0, 5000, &data, NULL, &err) < 0);
	CHECK_CONTAINS(err->msg, "at offset 0, the agent sent 3 at offset 5");
	nl_error_release(&err);
	CHECK(agent_client_read_file(run.client, 1, "/f", 4, 5000, &data, NULL, &err) < 0);
	CHECK_CONTAINS(err->msg, "asked for at most 4 bytes");
	CHECK(data == NULL);
	return fake_finish(&run, false);
}

/* script: a reply with a valid header but a corrupted payload, then silence, then close */
static int script_corrupt_then_silent(struct fake *f)
{
	cleanup_strbuf struct strbuf frame = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg r = { .type = AGENT_MSG_EXEC_RESULT };

	r.request_id = fake_expect(f, AGENT_MSG_EXEC, 1);
	r.u.exec_result.stdout_data = (struct agent_bytes){ (uint8_t *)"payload", 7 };
	if (!r.request_id || agent_msg_encode(&r, &frame, &err) < 0)
		return -1;
	frame.str[frame.len - 1] ^= 0xff;
	if (fake_raw(f, frame.str, frame.len) < 0)
		return -1;
	if (!fake_expect(f, AGENT_MSG_READ_FILE, 1))	/* never answered: the client times out */
		return -1;
	if (!fake_expect(f, AGENT_MSG_EXEC, 1))		/* sent, then the client is interrupted */
		return -1;
	return 0;					/* exit: the client sees end of file */
}

static int test_fake_corrupt_timeout_interrupt_close(void)
{
	cleanup_fake_run struct fake_run run = { 0 };
	cleanup_error nl_error_t err = NULL;
	sigset_t mask, old;
	siginfo_t si;
	char *data = NULL;
	uint64_t t0;
	int status;

	CHECK(fake_start(&run, script_corrupt_then_silent) == 0);
	/* the corrupted reply carries our id: the request fails at once, not at its deadline */
	t0 = now_ms();
	CHECK(agent_client_sh(run.client, 1, "true", 60000, NULL, &status, &err) < 0);
	CHECK_CONTAINS(err->msg, "malformed");
	CHECK_CONTAINS(err->msg, "checksum");
	CHECK(now_ms() - t0 < WAIT_MS);
	nl_error_release(&err);
	/* no answer: a timeout, and the connection stays usable */
	CHECK(agent_client_read_file(run.client, 1, "/f", 0, 300, &data, NULL, &err) < 0);
	CHECK(err->errnum == ETIMEDOUT);
	CHECK_CONTAINS(err->msg, "no reply within 300 ms");
	nl_error_release(&err);
	/* SIGINT pending (blocked, as under the supervisor loop) ends the wait */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	CHECK(sigprocmask(SIG_BLOCK, &mask, &old) == 0);
	raise(SIGINT);
	t0 = now_ms();
	CHECK(agent_client_sh(run.client, 1, "sleep 100", 100000, NULL, &status, &err) < 0);
	CHECK(sigtimedwait(&mask, &si, &(struct timespec){ 0, 0 }) == SIGINT);
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	CHECK(err->errnum == EINTR && now_ms() - t0 < WAIT_MS);
	CHECK_CONTAINS(err->msg, "interrupted");
	nl_error_release(&err);
	/* the fake exits: end of file makes the connection unusable, and later calls say so */
	CHECK(agent_client_poll_logs(run.client, WAIT_MS, &err) < 0);
	CHECK_CONTAINS(err->msg, "closed its channel fake");
	nl_error_release(&err);
	CHECK(agent_client_sh(run.client, 1, "true", 5000, NULL, &status, &err) < 0);
	CHECK_CONTAINS(err->msg, "unusable after an earlier error");
	return fake_finish(&run, false);
}

/*
 * script: an L1 whose relay is not up yet, then up: "no-relay" to the first HELLO, an unsolicited L2
 * READY (which brings the next HELLO early), READY to the next; then relays gone wrong
 */
static int script_relay(struct fake *f)
{
	struct agent_msg ready0 = { .type = AGENT_MSG_READY };
	uint32_t id = fake_expect(f, AGENT_MSG_HELLO, 2);

	if (!id || fake_error(f, 1, id, AGENT_ERR_NO_RELAY, 0, "the L2 agent is not reachable") < 0)
		return -1;
	ready0.u.ready.agent_version = ready0.u.ready.hostname = ready0.u.ready.boot_id = "x";
	ready0.u.ready.level = "l2";
	if (fake_send(f, 2, &ready0) < 0)
		return -1;
	if (fake_expect(f, AGENT_MSG_HELLO, 2) != id || fake_ready(f, 2, id, "l2") < 0)
		return -1;
	/* an L2 reply whose inner frame lacks AGENT_FLAG_INNER */
	{
		cleanup_strbuf struct strbuf inner = STRBUF_INIT, frame = STRBUF_INIT;
		cleanup_error nl_error_t err = NULL;
		struct agent_msg r = { .type = AGENT_MSG_EXEC_RESULT }, relay = { .type = AGENT_MSG_RELAY };

		r.request_id = relay.request_id = fake_expect(f, AGENT_MSG_EXEC, 2);
		if (!r.request_id || agent_msg_encode(&r, &inner, &err) < 0)
			return -1;
		relay.u.relay.frame = (struct agent_bytes){ (uint8_t *)inner.str, inner.len };
		if (agent_msg_encode(&relay, &frame, &err) < 0 || fake_raw(f, frame.str, frame.len) < 0)
			return -1;
	}
	/* L1 refuses the relay */
	id = fake_expect(f, AGENT_MSG_EXEC, 2);
	if (!id || fake_error(f, 1, id, AGENT_ERR_BUSY, 0, "4 MiB wait for L2") < 0)
		return -1;
	/* an L1 that claims to be an l2 agent */
	id = fake_expect(f, AGENT_MSG_HELLO, 1);
	return id && fake_ready(f, 1, id, "l2") == 0 ? 0 : -1;
}

static int test_fake_relay(void)
{
	cleanup_fake_run struct fake_run run = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *log = NULL;
	struct agent_ready ready = { 0 };
	int status;

	CHECK(fake_start(&run, script_relay) == 0);
	CHECK_OK(agent_client_wait_ready(run.client, 2, WAIT_MS, &ready, &err));
	CHECK_STR(ready.level, "l2");
	agent_client_ready_release(&ready);
	CHECK(agent_client_sh(run.client, 2, "true", 5000, NULL, &status, &err) < 0);
	CHECK_CONTAINS(err->msg, "malformed");
	CHECK_CONTAINS(err->msg, "AGENT_FLAG_INNER");
	nl_error_release(&err);
	CHECK(agent_client_sh(run.client, 2, "true", 5000, NULL, &status, &err) < 0);
	CHECK_STR(err->msg, "L2 agent: EXEC /bin/sh -c true: the L1 agent did not relay it: busy: "
			    "4 MiB wait for L2");
	nl_error_release(&err);
	CHECK(agent_client_wait_ready(run.client, 1, WAIT_MS, &ready, &err) < 0);
	CHECK_CONTAINS(err->msg, "runs in l2, not in l1");
	CHECK(ready.level == NULL);
	log = read_file_text(run.log_path);
	CHECK_CONTAINS(log, "l1 <- ERROR");
	CHECK_CONTAINS(log, "no-relay");
	return fake_finish(&run, false);
}

/* script: READY without a relay, so that L2 is known to be unreachable */
static int script_no_relay(struct fake *f)
{
	uint32_t id = fake_expect(f, AGENT_MSG_HELLO, 1);

	return id && fake_ready(f, 1, id, "l1") == 0 ? 0 : -1;
}

static int test_fake_no_relay(void)
{
	cleanup_fake_run struct fake_run run = { 0 };
	cleanup_error nl_error_t err = NULL;
	uint64_t t0;

	CHECK(fake_start(&run, script_no_relay) == 0);
	CHECK_OK(agent_client_wait_ready(run.client, 1, WAIT_MS, NULL, &err));
	t0 = now_ms();
	CHECK(agent_client_wait_ready(run.client, 2, 600000, NULL, &err) < 0);
	CHECK_CONTAINS(err->msg, "without --relay");
	CHECK(now_ms() - t0 < WAIT_MS);
	return fake_finish(&run, false);
}

static const struct test_case tests[] = {
	TEST_CASE(test_ready_both_levels),
	TEST_CASE(test_exec_l1),
	TEST_CASE(test_exec_l2),
	TEST_CASE(test_read_file),
	TEST_CASE(test_logs),
	TEST_CASE(test_connect_late_socket),
	TEST_CASE(test_connect_errors),
	TEST_CASE(test_fake_noise),
	TEST_CASE(test_fake_errors),
	TEST_CASE(test_fake_flood_log_capped),
	TEST_CASE(test_fake_corrupt_timeout_interrupt_close),
	TEST_CASE(test_fake_relay),
	TEST_CASE(test_fake_no_relay),
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
