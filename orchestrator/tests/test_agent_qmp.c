/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_agent_qmp.c - `nestlab-agent qmp` (orchestrator/agent/qmp.c) against a fake QMP server
 *
 * The built agent ($NESTLAB_AGENT, default build/nestlab-agent) runs as a child, as an EXEC in L1
 * would run it; the server on the other end of its unix socket is a scripted child of this test that
 * checks every line the agent sends (qmp_capabilities first, then the commands in order) and answers
 * as QEMU does (docs/interop/qmp-spec.rst): a greeting, events before replies, "id" before "return",
 * error replies, a reply of several MB written in pieces; and as QEMU should not: garbage, a close in
 * the middle of a reply, silence. Every wait has a generous deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "proc.h"
#include "test.h"

#define WAIT_MS 20000
#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 9}}, " \
		 "\"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}}\r\n"
/* replies with braces and quotes inside strings, and "id" before "return" (QEMU prints in hash order) */
#define STATUS_REPLY "{\"return\": {\"status\": \"running\", \"running\": true}}"
#define ERROR_REPLY "{\"id\": 7, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no {\\\"event\\\"\"}}"
#define ID_REPLY "{\"id\": {\"x\": \"}\"}, \"return\": \"{\\\"error\\\": 1}\"}"
#define EVENT "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n"

static const char *agent_path(void)
{
	const char *p = getenv("NESTLAB_AGENT");

	return p && *p ? p : "build/nestlab-agent";
}

/* one step of the fake server: read a line holding @expect (NULL: none), send @send, maybe close */
struct step {
	const char *expect;
	const char *send;
	bool close;		/* close the connection after sending */
};

/* server_read_line() - one line from the client into @buf; -1 on end of file or timeout */
static int server_read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (poll(&pfd, 1, WAIT_MS) <= 0 || read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

/* server_send() - write @text in pieces of at most 100000 bytes, as a socket would deliver them */
static int server_send(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		size_t piece = len - off < 100000 ? len - off : 100000;
		ssize_t n = write(fd, text + off, piece);

		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/*
 * server_run() - the child: accept one client, greet it with @greeting, play @steps (up to one with
 * neither expect nor send), then read until the client closes; exit 0 when every expectation held
 */
static void server_run(int lfd, const char *greeting, const struct step *steps)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	char line[4096];
	int fd;

	if (poll(&pfd, 1, WAIT_MS) <= 0 || (fd = accept(lfd, NULL, NULL)) < 0)
		_exit(10);
	if (server_send(fd, greeting) < 0)
		_exit(11);
	for (size_t i = 0; steps[i].expect || steps[i].send; i++) {
		if (steps[i].expect &&
		    (server_read_line(fd, line, sizeof(line)) < 0 || !strstr(line, steps[i].expect)))
			_exit(20 + (int)i);
		if (steps[i].send && server_send(fd, steps[i].send) < 0)
			_exit(40 + (int)i);
		if (steps[i].close) {
			close(fd);
			_exit(0);
		}
	}
	/* the client is done: it closes */
	while (read(fd, line, sizeof(line)) > 0)
		;
	_exit(0);
}

struct run {
	int status;		/* the agent's exit status, -1 when it did not exit */
	char *out, *err;	/* its stdout and stderr */
	int server_status;	/* the fake server's exit status */
};

static void run_release(struct run *r)
{
	free(r->out);
	free(r->err);
}
#define cleanup_run __attribute__((cleanup(run_release)))

/* server_reap() - the fake server's exit status; it gets 5 s to finish after the client, then SIGKILL */
static int server_reap(pid_t server)
{
	int wstatus = -1;

	for (int i = 0; i < 500; i++) {
		if (waitpid(server, &wstatus, WNOHANG) == server)
			return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
		usleep(10000);
	}
	kill(server, SIGKILL);
	waitpid(server, &wstatus, 0);
	return -1;
}

/*
 * run_qmp() - serve @steps on a fresh socket (NULL: no server) and run `nestlab-agent qmp [ARGS] SOCKET
 * COMMANDS...` (@args: the options, NULL-terminated, may be NULL; @commands NULL-terminated)
 */
static int run_qmp(const char *greeting, const struct step *steps, const char *const *args,
		   const char *const *commands, struct run *r)
{
	char dir[] = "/tmp/nestlab-agent-qmp.XXXXXX";
	cleanup_free char *out_path = NULL, *err_path = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_proc struct proc p = PROC_INIT;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	pid_t server = 0;
	int lfd;

	memset(r, 0, sizeof(*r));
	r->status = r->server_status = -1;
	if (!mkdtemp(dir) || snprintf_checked(sun.sun_path, sizeof(sun.sun_path), "%s/qmp.sock", dir) < 0)
		return -1;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(lfd, 1) < 0)
		return -1;
	if (steps)
		server = fork();
	if (server == 0 && steps)
		server_run(lfd, greeting, steps);
	close(lfd);
	out_path = xasprintf("%s/stdout", dir);
	err_path = xasprintf("%s/stderr", dir);
	strv_push(&p.argv, agent_path());
	strv_push(&p.argv, "qmp");
	for (size_t i = 0; args && args[i]; i++)
		strv_push(&p.argv, args[i]);
	strv_push(&p.argv, sun.sun_path);
	for (size_t i = 0; commands[i]; i++)
		strv_push(&p.argv, commands[i]);
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, out_path };
	p.stderr_io = (struct proc_io){ PROC_IO_FILE_TRUNC, err_path };
	if (proc_start(&p, &err) == 0) {
		proc_wait(&p, WAIT_MS, &err);
		r->status = p.term_signal || p.timed_out ? -1 : p.exit_status;
	} else {
		test_diag("%s", err->msg);
	}
	r->server_status = server > 0 ? server_reap(server) : 0;
	r->out = read_file_text(out_path);
	r->err = read_file_text(err_path);
	test_diag("agent exit %d, server exit %d, stderr: %.*s", r->status, r->server_status,
		  r->err ? (int)strcspn(r->err, "\n") : 0, r->err ? r->err : "");
	unlink(out_path);
	unlink(err_path);
	unlink(sun.sun_path);
	rmdir(dir);
	return 0;
}

/* an event before a reply is skipped; "id" may come before "return"; an error reply is printed, exit 1 */
static int test_qmp_replies(void)
{
	static const struct step steps[] = {
		{ "\"qmp_capabilities\"", EVENT CAPS_OK, false },
		{ "query-status", EVENT EVENT STATUS_REPLY "\r\n", false },
		{ "nope", ERROR_REPLY "\r\n", false },
		{ "query-name", "\r\n" ID_REPLY "\r\n", false },
		{ NULL, NULL, false },
	};
	static const char *const commands[] = { "{\"execute\":\"query-status\"}",
						"{\"execute\":\"nope\",\"id\":7}",
						"{'execute': 'query-name', 'id': {'x': '}'}}", NULL };
	cleanup_run struct run r = { 0 };

	if (access(agent_path(), X_OK) < 0)
		return test_skip("%s missing (run make)", agent_path());
	CHECK(run_qmp(GREETING, steps, NULL, commands, &r) == 0);
	CHECK(r.server_status == 0);
	CHECK(r.status == 1);
	CHECK_STR(r.out, STATUS_REPLY "\n" ERROR_REPLY "\n" ID_REPLY "\n");
	CHECK_STR(r.err, "");
	return TEST_PASS;
}

/* a reply of 8 MB on one line, delivered in pieces, comes out whole */
static int test_qmp_big_reply(void)
{
	size_t entries = 150000;
	struct strbuf big = STRBUF_INIT;
	cleanup_free char *expected = NULL;
	cleanup_run struct run r = { 0 };
	static const char *const commands[] = {
		"{\"execute\":\"x-query-vtd-mappings\",\"arguments\":{\"device\":\"nic0\"}}", NULL };

	if (access(agent_path(), X_OK) < 0)
		return test_skip("%s missing (run make)", agent_path());
	strbuf_puts(&big, "{\"return\": [");
	for (size_t i = 0; i < entries; i++)
		strbuf_printf(&big, "%s{\"iova\": %zu, \"gpa\": %zu, \"size\": 4096, \"perm\": \"rw\"}",
			      i ? ", " : "", i << 12, (i << 12) + 0x100000000ul);
	strbuf_puts(&big, "]}");
	expected = xasprintf("%s\n", big.str);
	strbuf_puts(&big, "\r\n");
	{
		const struct step steps[] = {
			{ "qmp_capabilities", CAPS_OK, false },
			{ "x-query-vtd-mappings", big.str, false },
			{ NULL, NULL, false },
		};

		CHECK(big.len > (8u << 20));
		CHECK(run_qmp(GREETING, steps, NULL, commands, &r) == 0);
	}
	strbuf_release(&big);
	CHECK(r.server_status == 0 && r.status == 0);
	CHECK(r.out && strlen(r.out) == strlen(expected) && !strcmp(r.out, expected));
	return TEST_PASS;
}

/* failures are exit 2 with a message: not QMP, a close before the reply, silence, bad arguments */
static int test_qmp_failures(void)
{
	static const struct step caps_then_close[] = {
		{ "qmp_capabilities", CAPS_OK, false },
		{ "query-status", "{\"return\": {\"status\": ", true },
		{ NULL, NULL, false },
	};
	static const struct step caps_then_silence[] = {
		{ "qmp_capabilities", CAPS_OK, false },
		{ "query-status", "", false },
		{ NULL, NULL, false },
	};
	static const struct step caps_then_garbage[] = {
		{ "qmp_capabilities", CAPS_OK, false },
		{ "query-status", "Segmentation fault\r\n", false },
		{ NULL, NULL, false },
	};
	static const struct step none[] = { { NULL, NULL, false } };
	static const char *const status[] = { "{\"execute\":\"query-status\"}", NULL };
	static const char *const timeout[] = { "--timeout", "300", NULL };
	static const char *const unterminated[] = { "{\"execute\":\"query-status\"", NULL };
	cleanup_run struct run a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, e = { 0 };

	if (access(agent_path(), X_OK) < 0)
		return test_skip("%s missing (run make)", agent_path());
	CHECK(run_qmp("Welcome to a shell\r\n", none, NULL, status, &a) == 0);
	CHECK(a.status == 2 && a.out && !a.out[0]);
	CHECK_CONTAINS(a.err, "not one JSON object");
	CHECK(run_qmp(GREETING, caps_then_close, NULL, status, &b) == 0);
	CHECK(b.status == 2);
	CHECK_CONTAINS(b.err, "closed the connection before the reply to");
	CHECK(run_qmp(GREETING, caps_then_silence, timeout, status, &c) == 0);
	CHECK(c.status == 2);
	CHECK_CONTAINS(c.err, "within 300 ms");
	CHECK(run_qmp(GREETING, caps_then_garbage, NULL, status, &d) == 0);
	CHECK(d.status == 2);
	CHECK_CONTAINS(d.err, "Segmentation fault");
	/* a command that is not one object is refused before connecting (QEMU would wait for its end) */
	CHECK(run_qmp(GREETING, NULL, NULL, unterminated, &e) == 0);
	CHECK(e.status == 2);
	CHECK_CONTAINS(e.err, "command 1 is not one JSON object");
	return TEST_PASS;
}

/* a missing socket, a missing command */
static int test_qmp_usage(void)
{
	static char *const missing_socket[] = { NULL, "qmp", "/nonexistent/qmp.sock", "{\"execute\":\"x\"}",
						 NULL };
	static char *const no_command[] = { NULL, "qmp", "/nonexistent/qmp.sock", NULL };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out1 = NULL, *out2 = NULL;
	char *argv1[5], *argv2[4];

	if (access(agent_path(), X_OK) < 0)
		return test_skip("%s missing (run make)", agent_path());
	memcpy(argv1, missing_socket, sizeof(argv1));
	memcpy(argv2, no_command, sizeof(argv2));
	argv1[0] = argv2[0] = (char *)agent_path();
	CHECK(proc_run(argv1, WAIT_MS, &out1, &err) < 0);
	CHECK_CONTAINS(out1, "connect /nonexistent/qmp.sock");
	CHECK_CONTAINS(err->msg, "status 2");
	nl_error_release(&err);
	CHECK(proc_run(argv2, WAIT_MS, &out2, &err) < 0);
	CHECK_CONTAINS(out2, "at least one JSON command");
	CHECK_CONTAINS(err->msg, "status 2");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_qmp_replies),
	TEST_CASE(test_qmp_big_reply),
	TEST_CASE(test_qmp_failures),
	TEST_CASE(test_qmp_usage),
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
