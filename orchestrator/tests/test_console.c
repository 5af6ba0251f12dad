/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_console.c - unit tests for console.c against a fake guest at the process boundary
 *
 * The fake guest is the server end of a unix socket, as QEMU's `-chardev socket,server=on,wait=off` is:
 * the test listens, the console connects, the test accepts and prints. Output that must arrive while
 * the console waits is written from loop timers (one supervisor loop, no threads); a flood comes from a
 * forked child so that it can block on a full socket while the console reads.
 */
#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console.h"
#include "test.h"

struct fixture {
	char dir[64];
	char *sock, *raw, *ts;
	int listen_fd, guest_fd;
};

/* listen_unix() - a listening unix socket at @path, or -1 */
static int listen_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* fixture_init() - a temporary directory with socket and log paths; listening unless @listen is false */
static int fixture_init(struct fixture *f, bool listen)
{
	*f = (struct fixture){ .listen_fd = -1, .guest_fd = -1 };
	snprintf(f->dir, sizeof(f->dir), "/tmp/nestlab-test-console-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->sock = xasprintf("%s/con.sock", f->dir);
	f->raw = xasprintf("%s/con.raw", f->dir);
	f->ts = xasprintf("%s/con.ts.log", f->dir);
	if (listen && (f->listen_fd = listen_unix(f->sock)) < 0)
		return -1;
	return 0;
}

static void fixture_release(struct fixture *f)
{
	if (f->guest_fd >= 0)
		close(f->guest_fd);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	unlink(f->sock);
	unlink(f->raw);
	unlink(f->ts);
	rmdir(f->dir);
	free(f->sock);
	free(f->raw);
	free(f->ts);
}

/* open_console() - loop, console connected to the fixture's socket, the guest's end accepted */
static int open_console(struct fixture *f, struct loop *loop, struct console *con, uint64_t log_max)
{
	cleanup_error nl_error_t err = NULL;
	struct console_config cfg = { .name = "test console", .sock_path = f->sock, .raw_log = f->raw,
				      .ts_log = f->ts, .log_max_bytes = log_max };

	if (loop_init(loop, &err) < 0 || console_open(con, loop, &cfg, &err) < 0) {
		test_diag("open_console: %s", err->msg);
		return -1;
	}
	f->guest_fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	return f->guest_fd < 0 ? -1 : 0;
}

static bool guest_print(struct fixture *f, const char *text, size_t len)
{
	return write(f->guest_fd, text, len) == (ssize_t)len;
}

#define PRINT(f, s) guest_print((f), (s), sizeof(s) - 1)

/* a piece of output written by a loop timer */
struct later {
	struct fixture *f;
	const char *text;
	size_t len;
};

static int on_later(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	struct later *l = ev->opaque;

	(void)guest_print(l->f, l->text, l->len);
	return 0;
}

/* print_later() - write @l->text after @ms */
static bool print_later(struct loop *loop, struct later *l, unsigned ms)
{
	cleanup_error nl_error_t err = NULL;

	return loop_add_timer(loop, ms, on_later, l, "fake guest", &err) != 0;
}

/* strip_stamps() - the timestamped log without its "[  12.345] " prefixes; NULL if one is malformed */
static char *strip_stamps(const char *text)
{
	struct strbuf sb = STRBUF_INIT;
	regex_t re;
	regmatch_t m;

	if (!text || regcomp(&re, "^\\[ *[0-9]+\\.[0-9]{3}\\] ", REG_EXTENDED | REG_NEWLINE))
		return NULL;
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);

		if (regexec(&re, p, 1, &m, 0) || m.rm_so != 0) {
			regfree(&re);
			strbuf_release(&sb);
			return NULL;
		}
		strbuf_add(&sb, p + m.rm_eo, len - (size_t)m.rm_eo);
		p += len;
	}
	regfree(&re);
	return sb.str ? strbuf_detach(&sb) : xstrdup("");
}

/* CR LF, lone CR, escapes, control bytes, partial lines and a marker split by an escape */
static int test_lines_and_escapes(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	struct fixture f;
	static const char first[] = "Booting\r\n\x1b[1;32mOK\x1b[0m started\r\nprogress 10%\rprogress 100%\r\n"
				    "title\x1b]0;window title\x07 done\n\x1b(Bbin\x00\x01\x7f ary\r\r\ntab\there\n"
				    "caf\xc3\xa9\n\x1b[?25lpartial ";
	struct later l1 = { &f, "line\nL1-RE", 10 }, l2 = { &f, "\x1b[0mADY\r\n", 9 };
	cleanup_free char *raw = NULL, *ts = NULL, *lines = NULL;
	int ret = TEST_FAIL;

	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 0) < 0)
		goto out;
	if (!guest_print(&f, first, sizeof(first) - 1) || !print_later(&loop, &l1, 50) || !print_later(&loop, &l2, 100))
		goto out;
	if (console_wait_for(&con, "L1-READY", 5000, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	CHECK(con.escapes_removed == 6);
	console_release(&con);
	raw = read_file_text(f.raw);
	ts = read_file_text(f.ts);
	lines = strip_stamps(ts);
	/* the raw log holds every byte, NUL included */
	{
		struct stat st;
		size_t total = sizeof(first) - 1 + l1.len + l2.len;

		CHECK(raw && stat(f.raw, &st) == 0 && (size_t)st.st_size == total);
		CHECK(!memcmp(raw, first, strlen(first)));
	}
	CHECK(lines);
	test_diag("timestamped log:\n%s", ts);
	CHECK_CONTAINS(lines, "\nBooting\nOK started\nprogress 10%\nprogress 100%\ntitle done\nbin ary\ntab\there\n"
			      "caf\xc3\xa9\npartial line\nL1-READY\n### nestlab: console released");
	ret = TEST_PASS;
out:
	fixture_release(&f);
	return ret;
}

/* a marker that never comes: ETIMEDOUT after the timeout, with the last output and the log to read */
static int test_wait_timeout(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	struct fixture f;
	uint64_t t0, elapsed;
	int ret = TEST_FAIL;

	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 0) < 0 || !PRINT(&f, "hello\nworld\n"))
		goto out;
	t0 = now_ms();
	CHECK(console_wait_for(&con, "NEVER", 200, &err) < 0);
	elapsed = now_ms() - t0;
	test_diag("%s", err->msg);
	CHECK(err->errnum == ETIMEDOUT && elapsed >= 200 && elapsed < 2000);
	CHECK_CONTAINS(err->msg, "test console: 'NEVER' did not appear within 200 ms");
	CHECK_CONTAINS(err->msg, "  | hello\n  | world\n");
	CHECK_CONTAINS(err->msg, f.ts);
	ret = TEST_PASS;
out:
	fixture_release(&f);
	return ret;
}

/* regex with the matched line; the cursor: each marker once, early output counts, skip forgets */
static int test_regex_and_cursor(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	cleanup_free char *line = NULL;
	struct fixture f;
	int ret = TEST_FAIL;

	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 0) < 0 ||
	    !PRINT(&f, "noise L2-LAUNCH-RC=17 tail\nREADY\nREADY\nxRC=3\n"))
		goto out;
	CHECK(console_wait_for_regex(&con, "L2-LAUNCH-RC=([0-9]+)", 2000, &line, &err) == 0);
	CHECK_STR(line, "noise L2-LAUNCH-RC=17 tail");
	CHECK(console_wait_for(&con, "READY", 2000, &err) == 0);
	CHECK(console_wait_for(&con, "READY", 2000, &err) == 0);
	CHECK(console_wait_for(&con, "READY", 50, &err) < 0 && err->errnum == ETIMEDOUT);
	nl_error_release(&err);
	CHECK(console_wait_for_regex(&con, "^RC=", 50, NULL, &err) < 0);	/* "xRC=" is no line start */
	nl_error_release(&err);
	/* a prompt without newline matches; '$' waits for the end of the line */
	CHECK(PRINT(&f, "login: "));
	CHECK(console_wait_for(&con, "login:", 2000, &err) == 0);
	CHECK(PRINT(&f, "DONE-42"));
	CHECK(console_wait_for_regex(&con, "DONE-[0-9]+$", 100, NULL, &err) < 0);
	nl_error_release(&err);
	CHECK(PRINT(&f, "\n"));
	CHECK(console_wait_for_regex(&con, "DONE-[0-9]+$", 2000, NULL, &err) == 0);
	/* skip: what came before is not seen any more */
	CHECK(PRINT(&f, "OLD\n"));
	CHECK(console_wait_for(&con, "OLD", 2000, &err) == 0);
	CHECK(PRINT(&f, "OLD\n"));
	loop_run_until(&loop, NULL, NULL, 50, &err);
	nl_error_release(&err);
	console_skip(&con);
	CHECK(console_wait_for(&con, "OLD", 50, &err) < 0);
	nl_error_release(&err);
	CHECK(console_wait_for_regex(&con, "(", 50, NULL, &err) < 0 && err->errnum == EINVAL);
	CHECK_CONTAINS(err->msg, "regular expression /(/");
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	fixture_release(&f);
	return ret;
}

/* the guest side closes: waits end at once with EPIPE; writing fails */
static int test_eof(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	cleanup_free char *ts = NULL;
	struct fixture f;
	uint64_t t0;
	int ret = TEST_FAIL;

	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 0) < 0 || !PRINT(&f, "Kernel panic - bye"))
		goto out;
	close(f.guest_fd);
	f.guest_fd = -1;
	t0 = now_ms();
	CHECK(console_wait_for(&con, "L1-READY", 10000, &err) < 0);
	test_diag("%s", err->msg);
	CHECK(err->errnum == EPIPE && now_ms() - t0 < 2000);
	CHECK_CONTAINS(err->msg, "the console closed (end of file: QEMU exited");
	CHECK_CONTAINS(err->msg, "  | Kernel panic - bye");
	nl_error_release(&err);
	CHECK(console_send_line(&con, "reboot", 100, &err) < 0 && err->errnum == EPIPE);
	ts = read_file_text(f.ts);
	CHECK_CONTAINS(ts, "] Kernel panic - bye\n");
	CHECK_CONTAINS(ts, "### nestlab: console closed: end of file");
	ret = TEST_PASS;
out:
	fixture_release(&f);
	return ret;
}

/* flood_child() - print @random_bytes of noise, @line_bytes of one endless line, then the marker */
static void flood_child(int fd, size_t random_bytes, size_t line_bytes)
{
	static unsigned char buf[65536];
	uint64_t rng = 42;

	for (size_t done = 0; done < random_bytes; done += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			buf[i] = (unsigned char)(rng >> 56);
		}
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			_exit(1);
	}
	memset(buf, 'x', sizeof(buf));
	for (size_t done = 0; done < line_bytes; done += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			_exit(1);
	/* two BELs end any escape sequence the noise left open (OSC, OSC + ESC) */
	if (write(fd, "\a\a\nFLOOD-END\n", 13) != 13)
		_exit(1);
	_exit(0);
}

/* a guest flooding 16 MiB of noise and an 8 MiB line: bounded window, capped logs, marker found */
static int test_flood(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	struct fixture f;
	struct stat st;
	int ret = TEST_FAIL, status = 0;
	pid_t pid = -1;
	uint64_t t0 = now_ms();

	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 1 << 20) < 0)
		goto out;
	pid = fork();
	if (pid == 0)
		flood_child(f.guest_fd, 16 << 20, 8 << 20);
	if (pid < 0 || console_wait_for(&con, "FLOOD-END", 30000, &err) < 0) {
		test_diag("flood: %s", err ? err->msg : strerror(errno));
		goto out;
	}
	test_diag("24 MiB in %llu ms: %llu lines, %llu escapes removed, %llu bytes dropped from the window",
		  (unsigned long long)(now_ms() - t0), (unsigned long long)con.lines,
		  (unsigned long long)con.escapes_removed, (unsigned long long)con.window_dropped_bytes);
	CHECK(con.bytes_read == (16u << 20) + (8u << 20) + 13);
	CHECK(con.window_len <= CONSOLE_WINDOW_BYTES && con.window_dropped_bytes > 0);
	CHECK(stat(f.raw, &st) == 0 && st.st_size > (1 << 20) && st.st_size < (1 << 20) + 200);
	CHECK(stat(f.ts, &st) == 0 && st.st_size < (1 << 20) + 200);
	console_release(&con);
	{
		cleanup_free char *ts = read_file_text(f.ts);

		CHECK(ts && strstr(ts, "[nestlab: log capped at 1048576 bytes; later output is not logged]"));
	}
	ret = TEST_PASS;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	fixture_release(&f);
	return ret;
}

/* endless_child() - print until the reader goes away (write fails), as a guest printing forever */
static void endless_child(int fd)
{
	static char buf[65536];

	signal(SIGPIPE, SIG_IGN);
	memset(buf, 'y', sizeof(buf));
	memcpy(buf, "\x1b[2J", 4);
	for (;;)
		if (write(fd, buf, sizeof(buf)) < 0)
			_exit(errno == EPIPE || errno == ECONNRESET ? 0 : 1);
}

/* wait_child() - reap @pid within @timeout_ms; -1 (and kill it) when it is still running */
static int wait_child(pid_t pid, int timeout_ms, int *status)
{
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

/*
 * console_capture: a guest printing forever fills its log up to the cap, then its writes fail (the
 * reader is gone: QEMU would drop the output) and the log ends with a line saying it was capped
 */
static int test_capture_endless(void)
{
	cleanup_error nl_error_t err = NULL;
	struct console_capture cc = CONSOLE_CAPTURE_INIT;
	cleanup_free char *log = NULL;
	struct fixture f;
	struct stat st;
	int ret = TEST_FAIL, status = 0;
	pid_t pid = -1;

	if (fixture_init(&f, true) < 0 || console_capture_start(&cc, "test console", f.sock, f.raw, 1 << 20, 2000,
								 &err) < 0 ||
	    (f.guest_fd = accept4(f.listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		test_diag("capture: %s", err ? err->msg : strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid == 0)
		endless_child(f.guest_fd);
	if (pid < 0 || wait_child(pid, 30000, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		test_diag("the endless writer did not end with EPIPE (status 0x%x)", status);
		goto out;
	}
	close(f.guest_fd);
	f.guest_fd = -1;
	console_capture_finish(&cc, 5000);
	CHECK(stat(f.raw, &st) == 0);
	test_diag("log %lld bytes", (long long)st.st_size);
	CHECK(st.st_size > (1 << 20) && st.st_size < (1 << 20) + 200);
	log = read_file_text(f.raw);
	CHECK(log && strstr(log + (1 << 20), "[nestlab: test console log capped at 1048576 bytes; later output was "
						"not logged]"));
	CHECK(!strncmp(log, "\x1b[2J", 4));	/* the log keeps every byte as received */
	ret = TEST_PASS;
out:
	console_capture_finish(&cc, 1000);
	fixture_release(&f);
	return ret;
}

/* console_capture: short output is logged exactly, without a note; the writer ends with the socket */
static int test_capture_short(void)
{
	cleanup_error nl_error_t err = NULL;
	struct console_capture cc = CONSOLE_CAPTURE_INIT;
	cleanup_free char *log = NULL;
	struct fixture f;
	int ret = TEST_FAIL;

	if (fixture_init(&f, true) < 0 || console_capture_start(&cc, "test console", f.sock, f.raw, 0, 2000, &err) < 0 ||
	    (f.guest_fd = accept4(f.listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0 || write(f.guest_fd, "boot\r\nok\n", 10) != 10) {
		test_diag("capture: %s", err ? err->msg : strerror(errno));
		goto out;
	}
	close(f.guest_fd);
	f.guest_fd = -1;
	console_capture_finish(&cc, 5000);
	log = read_file_text(f.raw);
	CHECK(log && !strcmp(log, "boot\r\nok\n"));
	ret = TEST_PASS;
out:
	console_capture_finish(&cc, 1000);
	fixture_release(&f);
	return ret;
}

static int on_create_listener(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	struct fixture *f = ev->opaque;

	f->listen_fd = listen_unix(f->sock);
	return 0;
}

/* the socket appears 300 ms late: console_open() waits for it; one that never appears times out */
static int test_connect_retry(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT, never = CONSOLE_INIT, too_long = CONSOLE_INIT;
	struct fixture f;
	struct console_config cfg = { .name = "late console", .connect_timeout_ms = 5000 };
	cleanup_free char *long_path = NULL;
	uint64_t t0;
	int ret = TEST_FAIL;

	if (fixture_init(&f, false) < 0 || loop_init(&loop, &err) < 0 ||
	    !loop_add_timer(&loop, 300, on_create_listener, &f, "late listener", &err))
		goto out;
	cfg.sock_path = f.sock;
	t0 = now_ms();
	if (console_open(&con, &loop, &cfg, &err) < 0)
		goto out;
	CHECK(now_ms() - t0 >= 300 && f.listen_fd >= 0);
	cfg.sock_path = "/nonexistent/nestlab.sock";
	cfg.connect_timeout_ms = 200;
	t0 = now_ms();
	CHECK(console_open(&never, &loop, &cfg, &err) < 0);
	test_diag("%s", err->msg);
	CHECK(now_ms() - t0 >= 200 && err->errnum == ENOENT);
	CHECK_CONTAINS(err->msg, "did not accept a connection within 200 ms");
	nl_error_release(&err);
	long_path = xasprintf("/tmp/%0200d.sock", 0);
	cfg.sock_path = long_path;
	CHECK(console_open(&too_long, &loop, &cfg, &err) < 0 && err->errnum == ENAMETOOLONG);
	nl_error_release(&err);
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	fixture_release(&f);
	return ret;
}

/* typing: the guest receives the line, its answer is matched */
static int test_write_and_answer(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	struct fixture f;
	char buf[64] = "";
	int ret = TEST_FAIL;

	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 0) < 0)
		goto out;
	CHECK(console_send_line(&con, "echo DONE-$((40+2))", 1000, &err) == 0);
	CHECK(read(f.guest_fd, buf, sizeof(buf) - 1) == 20);
	CHECK_STR(buf, "echo DONE-$((40+2))\n");
	CHECK(PRINT(&f, "echo DONE-$((40+2))\r\nDONE-42\r\n# "));
	CHECK(console_wait_for(&con, "DONE-42", 2000, &err) == 0);
	CHECK(console_wait_for(&con, "# ", 2000, &err) == 0);
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	fixture_release(&f);
	return ret;
}

/* a 10000-byte line is logged in pieces of at most CONSOLE_LINE_MAX_BYTES; a marker at its end matches */
static int test_long_line(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_console struct console con = CONSOLE_INIT;
	cleanup_free char *text = xmalloc(10000), *ts = NULL, *lines = NULL;
	struct fixture f;
	int ret = TEST_FAIL;

	memset(text, 'y', 10000);
	memcpy(text + 9990, "LONG-MARK\n", 10);
	if (fixture_init(&f, true) < 0 || open_console(&f, &loop, &con, 0) < 0 || !guest_print(&f, text, 10000))
		goto out;
	CHECK(console_wait_for(&con, "LONG-MARK", 2000, &err) == 0);
	console_release(&con);
	ts = read_file_text(f.ts);
	lines = strip_stamps(ts);
	CHECK(lines);
	{
		size_t n_lines = 0, longest = 0;

		for (char *p = lines, *eol; (eol = strchr(p, '\n')); p = eol + 1) {
			size_t len = (size_t)(eol - p);

			n_lines++;
			longest = len > longest ? len : longest;
		}
		CHECK(longest == CONSOLE_LINE_MAX_BYTES);
		CHECK(n_lines == 1 + 3 + 1);	/* connected, 4096 + 4096 + 1808, released */
	}
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	fixture_release(&f);
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_lines_and_escapes),
	TEST_CASE(test_wait_timeout),
	TEST_CASE(test_regex_and_cursor),
	TEST_CASE(test_eof),
	TEST_CASE(test_flood),
	TEST_CASE(test_capture_endless),
	TEST_CASE(test_capture_short),
	TEST_CASE(test_connect_retry),
	TEST_CASE(test_write_and_answer),
	TEST_CASE(test_long_line),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
