/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_qmp.c - unit tests for qmp.c against a fake QMP peer at the process boundary
 *
 * The peer is a forked child on the other end of a socketpair (or of a unix socket) that plays a script:
 * send a line, expect a line containing some text (and remember its "id" for the next "%ID%"), sleep,
 * flood, or hang up. The child's exit status says whether the client sent what the script expected.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "qmp.h"
#include "test.h"

enum step_kind { SEND, EXPECT, SLEEP_MS, FLOOD, HOLD, END };

struct step {
	enum step_kind kind;
	const char *text;	/* SEND: line(s) to write, "%ID%" replaced; EXPECT: text the line must hold */
	unsigned n;		/* SLEEP_MS: milliseconds; FLOOD: bytes of 'x' without a newline */
};

#define GREETING                                                                                   \
	{ SEND, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 1, \"minor\": 2, \"major\": 8}, "  \
		"\"package\": \"v8.2.1\"}, \"capabilities\": [\"oob\"]}}\r\n", 0 }
#define NEGOTIATION                                                                                \
	{ EXPECT, "\"execute\":\"qmp_capabilities\"", 0 }, { SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0 }
#define HANDSHAKE GREETING, NEGOTIATION

/* peer_read_line() - read one line from @fd (byte by byte; the peer is small) */
static char *peer_read_line(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	char c;

	while (read(fd, &c, 1) == 1) {
		if (c == '\n')
			return strbuf_detach(&sb);
		strbuf_add(&sb, &c, 1);
	}
	strbuf_release(&sb);
	return NULL;
}

/* peer_send() - write @text with "%ID%" replaced by the JSON of @id */
static bool peer_send(int fd, const char *text, const char *id)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = text, *at;
	bool ok;

	while ((at = strstr(p, "%ID%"))) {
		strbuf_add(&sb, p, (size_t)(at - p));
		strbuf_puts(&sb, id);
		p = at + 4;
	}
	strbuf_puts(&sb, p);
	ok = write(fd, sb.str, sb.len) == (ssize_t)sb.len;
	strbuf_release(&sb);
	return ok;
}

/* peer_flood() - write @n bytes of 'x' */
static bool peer_flood(int fd, unsigned n)
{
	char buf[65536];

	memset(buf, 'x', sizeof(buf));
	while (n) {
		ssize_t w = write(fd, buf, n < sizeof(buf) ? n : sizeof(buf));

		if (w <= 0)
			return false;
		n -= (unsigned)w;
	}
	return true;
}

/* peer_run() - play @script on @fd; the exit status is 0, or 10 + the index of the failed step */
__attribute__((noreturn)) static void peer_run(int fd, const struct step *script)
{
	char id[256] = "null";

	signal(SIGPIPE, SIG_DFL);
	for (int i = 0; script[i].kind != END; i++) {
		const struct step *s = &script[i];
		char *line = NULL;
		json_t *msg;
		bool ok = true;

		switch (s->kind) {
		case SEND:
			ok = peer_send(fd, s->text, id);
			break;
		case EXPECT:
			line = peer_read_line(fd);
			ok = line && strstr(line, s->text);
			msg = line ? json_loads(line, 0, NULL) : NULL;
			if (json_object_get(msg, "id")) {
				char *dump = json_dumps(json_object_get(msg, "id"), JSON_ENCODE_ANY);

				snprintf(id, sizeof(id), "%s", dump);
				free(dump);
			}
			json_decref(msg);
			free(line);
			break;
		case SLEEP_MS:
			usleep(s->n * 1000);
			break;
		case FLOOD:
			ok = peer_flood(fd, s->n);
			break;
		case HOLD:
			while ((line = peer_read_line(fd)))
				free(line);
			break;
		case END:
			break;
		}
		if (!ok)
			_exit(10 + i);
	}
	_exit(0);
}

/* peer_start() - fork a peer playing @script; *@client_fd gets our end of the socketpair */
static pid_t peer_start(const struct step *script, int *client_fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		peer_run(sv[1], script);
	}
	close(sv[1]);
	*client_fd = sv[0];
	return pid;
}

/* peer_finish() - reap the peer; its exit status (0: the script went as planned), or -1 */
static int peer_finish(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* connect_peer() - start @script and run the client handshake on it */
static pid_t connect_peer(struct qmp *q, const struct step *script, int *ret, nl_error_t *err)
{
	int fd = -1;
	pid_t pid = peer_start(script, &fd);

	qmp_init(q, "l0");
	q->timeout_ms = 5000;
	*ret = pid < 0 ? -1 : qmp_adopt_fd(q, fd, err);
	return pid;
}

static int test_qmp_handshake_and_execute(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "\"execute\":\"query-status\"", 0 },
		{ SEND, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": %ID%}\r\n", 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	char path[] = "/tmp/nestlab-qmp-XXXXXX";
	cleanup_close int tfd = mkostemp(path, O_CLOEXEC);
	char log[4096] = "";
	json_t *status = NULL;
	pid_t pid;
	int fd, ret;

	CHECK(tfd >= 0);
	qmp_init(&q, "l0");
	CHECK(qmp_set_transcript(&q, path, &err) == 0);
	pid = peer_start(script, &fd);
	CHECK(pid > 0);
	ret = qmp_adopt_fd(&q, fd, &err);
	CHECK(ret == 0);
	CHECK(q.qemu_version[0] == 8 && q.qemu_version[1] == 2 && q.qemu_version[2] == 1);
	CHECK(json_is_array(json_object_get(q.greeting, "capabilities")));
	CHECK(qmp_execute(&q, "query-status", NULL, &status, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(status, "status")), "running");
	json_decref(status);
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	CHECK(pread(tfd, log, sizeof(log) - 1, 0) > 0);
	unlink(path);
	CHECK_CONTAINS(log, " l0 <- {\"QMP\": {\"version\"");
	CHECK_CONTAINS(log, " l0 -> {\"execute\":\"qmp_capabilities\",\"id\":\"nestlab-1\"}\n");
	CHECK_CONTAINS(log, " l0 -> {\"execute\":\"query-status\",\"id\":\"nestlab-2\"}\n");
	CHECK_CONTAINS(log, " l0 <- {\"return\": {\"status\": \"running\"");
	return TEST_PASS;
}

static int test_qmp_events_before_reply_queued(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "\"execute\":\"cont\"", 0 },
		{ SEND, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n"
			"{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"hostdev0\"}}\r\n"
			"{\"return\": {}, \"id\": %ID%}\r\n", 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	json_t *ev, *result = NULL;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	CHECK(qmp_execute(&q, "cont", NULL, &result, &err) == 0);
	CHECK(json_is_object(result) && json_object_size(result) == 0);
	json_decref(result);
	CHECK(qmp_events_pending(&q) == 2);
	ev = qmp_next_event(&q);
	CHECK_STR(json_string_value(json_object_get(ev, "event")), "RESUME");
	json_decref(ev);
	ev = qmp_next_event(&q);
	CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "data"), "device")), "hostdev0");
	json_decref(ev);
	CHECK(qmp_next_event(&q) == NULL);
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	return TEST_PASS;
}

static int test_qmp_error_reply(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "\"execute\":\"query-foo\"", 0 },
		{ SEND, "{\"id\": %ID%, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
			"query-foo has not been found\"}}\r\n", 0 },
		{ EXPECT, "\"execute\":\"query-kvm\"", 0 },
		{ SEND, "{\"return\": {\"enabled\": true, \"present\": true}, \"id\": %ID%}\r\n", 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	json_t *kvm = NULL;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	CHECK(qmp_execute(&q, "query-foo", NULL, NULL, &err) == -1);
	CHECK_STR(err->msg, "QMP query-foo: CommandNotFound: The command query-foo has not been found");
	nl_error_release(&err);
	/* an error reply does not break the connection */
	CHECK(qmp_execute(&q, "query-kvm", NULL, &kvm, &err) == 0);
	CHECK(json_is_true(json_object_get(kvm, "enabled")));
	json_decref(kvm);
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	return TEST_PASS;
}

static int test_qmp_reply_matching_by_id(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "\"execute\":\"query-name\"", 0 },
		{ SEND, "{\"return\": {\"name\": \"stale\"}, \"id\": \"someone-else\"}\r\n"
			"{\"return\": {\"name\": \"l1\"}, \"id\": %ID%}\r\n", 0 },
		{ EXPECT, "\"execute\":\"bad\"", 0 },
		{ SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, expecting "
			"value\"}}\r\n", 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	json_t *name = NULL;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	CHECK(qmp_execute(&q, "query-name", NULL, &name, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(name, "name")), "l1");
	json_decref(name);
	/* an error without id answers the command in flight (the server could not read our id) */
	CHECK(qmp_execute(&q, "bad", NULL, NULL, &err) == -1);
	CHECK_STR(err->msg, "QMP bad: GenericError: JSON parse error, expecting value");
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	return TEST_PASS;
}

static int test_qmp_timeout_then_late_reply_dropped(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "\"execute\":\"query-slow\"", 0 },
		{ SLEEP_MS, NULL, 300 },
		{ SEND, "{\"return\": {\"late\": true}, \"id\": %ID%}\r\n", 0 },
		{ EXPECT, "\"execute\":\"query-fast\"", 0 },
		{ SEND, "{\"return\": {\"fast\": true}, \"id\": %ID%}\r\n", 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	json_t *r = NULL;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	q.timeout_ms = 100;
	CHECK(qmp_execute(&q, "query-slow", NULL, NULL, &err) == -1);
	CHECK(err->errnum == ETIMEDOUT);
	CHECK_STR(err->msg, "QMP query-slow: no reply within 100 ms (is QEMU hung? see its log)");
	nl_error_release(&err);
	q.timeout_ms = 5000;
	CHECK(qmp_execute(&q, "query-fast", NULL, &r, &err) == 0);
	CHECK(json_is_true(json_object_get(r, "fast")));
	json_decref(r);
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	return TEST_PASS;
}

/* run_bad_reply() - handshake, send query-status, get @reply (or a hang-up), return the error message */
static char *run_bad_reply(const char *reply, bool hang_up)
{
	const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "query-status", 0 },
		{ SEND, reply, 0 },
		{ hang_up ? END : HOLD, NULL, 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	struct strbuf sb = STRBUF_INIT;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	if (ret < 0 || qmp_execute(&q, "query-status", NULL, NULL, &err) == 0)
		strbuf_puts(&sb, ret < 0 ? "handshake failed" : "unexpected success");
	else {
		strbuf_puts(&sb, err->msg);
		nl_error_release(&err);
		/* a protocol error leaves the connection unusable */
		if (qmp_execute(&q, "query-status", NULL, NULL, &err) == -1)
			strbuf_printf(&sb, "\n%s", err->msg);
	}
	qmp_release(&q);
	peer_finish(pid);
	return strbuf_detach(&sb);
}

static int test_qmp_garbage(void)
{
	cleanup_free char *msg = run_bad_reply("this is not json\r\n", false);

	CHECK_CONTAINS(msg, "QMP query-status: invalid JSON from the monitor (");
	CHECK_CONTAINS(msg, "): this is not json");
	CHECK_CONTAINS(msg, "\nQMP query-status: connection unusable after an earlier error (QMP query-status: "
			    "invalid JSON");
	return TEST_PASS;
}

static int test_qmp_not_an_object(void)
{
	cleanup_free char *array = run_bad_reply("[1, 2, 3]\r\n", false);
	cleanup_free char *number = run_bad_reply("42\r\n", false);
	cleanup_free char *binary = run_bad_reply("{\"return\": \"\x01\xff\"}\r\n", false);

	CHECK_CONTAINS(array, "QMP query-status: the monitor sent JSON that is not an object: [1, 2, 3]");
	CHECK_CONTAINS(number, "the monitor sent JSON that is not an object: 42");
	CHECK_CONTAINS(binary, "invalid JSON from the monitor");
	return TEST_PASS;
}

static int test_qmp_unexpected_message(void)
{
	cleanup_free char *msg = run_bad_reply("{\"hello\": \"world\"}\r\n", false);

	CHECK_CONTAINS(msg, "QMP query-status: unexpected message from the monitor: {\"hello\":\"world\"}");
	return TEST_PASS;
}

static int test_qmp_closed_mid_reply(void)
{
	cleanup_free char *mid = run_bad_reply("{\"return\": {\"sta", true);
	cleanup_free char *between = run_bad_reply("", true);

	CHECK_CONTAINS(mid, "QMP query-status: the monitor closed the connection in the middle of a message "
			    "(did QEMU exit? see its log)");
	CHECK_CONTAINS(between, "QMP query-status: the monitor closed the connection (did QEMU exit?");
	return TEST_PASS;
}

static int test_qmp_oversized_line(void)
{
	const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "query-status", 0 },
		{ FLOOD, NULL, QMP_LINE_MAX_BYTES + 2 * 65536 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	CHECK(qmp_execute(&q, "query-status", NULL, NULL, &err) == -1);
	CHECK_STR(err->msg, "QMP query-status: the monitor sent a line longer than 16777216 bytes");
	CHECK(q.in.alloc <= 2 * (QMP_LINE_MAX_BYTES + 65536));	/* memory stayed bounded */
	qmp_release(&q);
	peer_finish(pid);
	return TEST_PASS;
}

static int test_qmp_bad_greetings(void)
{
	static const struct step closed[] = { { END, NULL, 0 } };
	static const struct step wrong[] = { { SEND, "{\"hello\": 1}\r\n", 0 }, { HOLD, NULL, 0 }, { END, NULL, 0 } };
	static const struct step silent[] = { { HOLD, NULL, 0 }, { END, NULL, 0 } };
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	int ret;
	pid_t pid;

	pid = connect_peer(&q, closed, &ret, &err);
	CHECK(ret == -1);
	CHECK_STR(err->msg, "QMP greeting: the monitor closed the connection (did QEMU exit? see its log)");
	qmp_release(&q);
	peer_finish(pid);
	nl_error_release(&err);

	pid = connect_peer(&q, wrong, &ret, &err);
	CHECK(ret == -1);
	CHECK_STR(err->msg, "QMP greeting: expected {\"QMP\": {\"version\": ..., \"capabilities\": ...}}, got "
			    "{\"hello\":1} (is this a QMP socket?)");
	qmp_release(&q);
	peer_finish(pid);
	nl_error_release(&err);

	qmp_init(&q, "l1");
	q.timeout_ms = 100;
	pid = peer_start(silent, &ret);
	CHECK(qmp_adopt_fd(&q, ret, &err) == -1);
	CHECK(err->errnum == ETIMEDOUT);
	CHECK_CONTAINS(err->msg, "QMP greeting: no greeting within 100 ms");
	qmp_release(&q);
	peer_finish(pid);
	return TEST_PASS;
}

static int test_qmp_arguments(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ EXPECT, "{\"execute\":\"device_del\",\"id\":\"nestlab-2\",\"arguments\":{\"id\":\"hostdev0\"}}", 0 },
		{ SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	json_t *args = json_pack("{s:s}", "id", "hostdev0");
	json_t *not_object = json_integer(1);
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	ret = qmp_execute(&q, "device_del", args, NULL, &err);
	json_decref(args);
	CHECK(ret == 0);
	ret = qmp_execute(&q, "device_del", not_object, NULL, &err);
	json_decref(not_object);
	CHECK(ret == -1 && err->errnum == EINVAL);
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	return TEST_PASS;
}

static int test_qmp_event_queue_bounded(void)
{
	struct step script[] = {
		HANDSHAKE, { SEND, NULL, 0 }, { HOLD, NULL, 0 }, { END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	struct strbuf events = STRBUF_INIT;
	json_t *first;
	int ret, queued;
	pid_t pid;

	for (int i = 0; i < QMP_EVENT_QUEUE_MAX + 44; i++)
		strbuf_printf(&events, "{\"event\": \"E%d\"}\r\n", i);
	script[3].text = events.str;
	pid = connect_peer(&q, script, &ret, &err);
	CHECK(ret == 0);
	queued = 0;
	while (queued < QMP_EVENT_QUEUE_MAX + 44) {
		int n = qmp_read_events(&q, 200, &err);

		if (n <= 0)
			break;
		queued += n;
	}
	strbuf_release(&events);
	CHECK(queued == QMP_EVENT_QUEUE_MAX + 44);
	CHECK(qmp_events_pending(&q) == QMP_EVENT_QUEUE_MAX);
	CHECK(q.events_dropped == 44);
	first = qmp_next_event(&q);
	CHECK_STR(json_string_value(json_object_get(first, "event")), "E44");
	json_decref(first);
	qmp_release(&q);
	peer_finish(pid);
	return TEST_PASS;
}

static int test_qmp_wait_event(void)
{
	static const struct step script[] = {
		HANDSHAKE,
		{ SEND, "{\"event\": \"STOP\"}\r\n", 0 },
		{ SLEEP_MS, NULL, 50 },
		{ SEND, "{\"event\": \"POWERDOWN\"}\r\n{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true}}\r\n", 0 },
		{ HOLD, NULL, 0 },
		{ END, NULL, 0 },
	};
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	json_t *ev = NULL;
	int ret;
	pid_t pid = connect_peer(&q, script, &ret, &err);

	CHECK(ret == 0);
	CHECK(qmp_wait_event(&q, "SHUTDOWN", 5000, &ev, &err) == 0);
	CHECK(json_is_true(json_object_get(json_object_get(ev, "data"), "guest")));
	json_decref(ev);
	/* the others stay queued, in order */
	CHECK(qmp_events_pending(&q) == 2);
	CHECK(qmp_wait_event(&q, "POWERDOWN", 0, NULL, &err) == 0);
	ev = qmp_next_event(&q);
	CHECK_STR(json_string_value(json_object_get(ev, "event")), "STOP");
	json_decref(ev);
	CHECK(qmp_wait_event(&q, "RESET", 50, NULL, &err) == -1);
	CHECK_STR(err->msg, "QMP waiting for RESET: no event within 50 ms (is QEMU hung? see its log)");
	qmp_release(&q);
	peer_finish(pid);
	return TEST_PASS;
}

static int test_qmp_connect_unix_socket(void)
{
	static const struct step script[] = { HANDSHAKE, { END, NULL, 0 } };
	cleanup_qmp struct qmp q = QMP_INIT;
	cleanup_error nl_error_t err = NULL;
	char dir[] = "/tmp/nestlab-qmp-sock-XXXXXX";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	cleanup_free char *path = NULL;
	cleanup_free char *long_path = xasprintf("/tmp/%0120d/qmp.sock", 0);
	cleanup_close int listener = -1;
	pid_t pid;

	CHECK(mkdtemp(dir));
	path = xasprintf("%s/qmp.sock", dir);
	CHECK(snprintf_checked(addr.sun_path, sizeof(addr.sun_path), "%s", path) > 0);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(listener >= 0);
	CHECK(bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(listener, 1) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int conn = accept(listener, NULL, NULL);

		if (conn < 0)
			_exit(2);
		peer_run(conn, script);
	}
	qmp_init(&q, "l1");
	CHECK(qmp_connect(&q, path, &err) == 0);
	qmp_release(&q);
	CHECK(peer_finish(pid) == 0);
	unlink(path);
	rmdir(dir);

	qmp_init(&q, "l1");
	CHECK(qmp_connect(&q, path, &err) == -1);
	CHECK(err->errnum == ENOENT);
	CHECK_CONTAINS(err->msg, "QMP l1: connect /tmp/nestlab-qmp-sock-");
	nl_error_release(&err);
	CHECK(qmp_connect(&q, long_path, &err) == -1);
	CHECK(err->errnum == ENAMETOOLONG);
	CHECK_CONTAINS(err->msg, "is longer than 107 bytes (use a shorter run directory)");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_qmp_handshake_and_execute),
	TEST_CASE(test_qmp_events_before_reply_queued),
	TEST_CASE(test_qmp_error_reply),
	TEST_CASE(test_qmp_reply_matching_by_id),
	TEST_CASE(test_qmp_timeout_then_late_reply_dropped),
	TEST_CASE(test_qmp_garbage),
	TEST_CASE(test_qmp_not_an_object),
	TEST_CASE(test_qmp_unexpected_message),
	TEST_CASE(test_qmp_closed_mid_reply),
	TEST_CASE(test_qmp_oversized_line),
	TEST_CASE(test_qmp_bad_greetings),
	TEST_CASE(test_qmp_arguments),
	TEST_CASE(test_qmp_event_queue_bounded),
	TEST_CASE(test_qmp_wait_event),
	TEST_CASE(test_qmp_connect_unix_socket),
};

int main(void)
{
	/* a peer that hangs up must give an error, not kill the test with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
