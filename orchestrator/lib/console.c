/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * console.c - serial consoles of the guests: connect, clean, log, match (see console.h)
 *
 * The byte stream from the guest goes through a small decoder (ECMA-48 control sequences: CSI "ESC [",
 * OSC "ESC ]" terminated by BEL or ST "ESC \", two-byte escapes "ESC x" and the character-set
 * designations "ESC ( x"), then into the current line (timestamped log) and the match window. Every
 * buffer has a fixed size; nothing the guest sends can make nestlab allocate more or crash.
 */
#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"

#define CONSOLE_CONNECT_RETRY_MS 50
#define CONSOLE_READS_PER_CALLBACK 16	/* at most 1 MiB per callback, then other registrations run */
#define CONSOLE_TAIL_MAX_BYTES 2000

/* ---- logs --------------------------------------------------------------------------------------- */

/* log_open() - create or truncate @path as a log capped at @max_bytes; NULL @path: no log */
static int log_open(struct console_log *log, const char *path, uint64_t max_bytes, nl_error_t *err)
{
	log->max_bytes = max_bytes;
	if (!path)
		return 0;
	log->f = fopen(path, "we");
	if (!log->f)
		return nl_error(err, errno, "open console log %s", path);
	log->path = xstrdup(path);
	return 0;
}

/* log_write() - append to a log up to its cap, then one note that the rest is not logged */
static void log_write(struct console_log *log, const char *data, size_t len)
{
	if (!log->f || log->capped)
		return;
	if (log->bytes + len > log->max_bytes) {
		size_t room = (size_t)(log->max_bytes - log->bytes);

		fwrite(data, 1, room, log->f);
		fprintf(log->f, "\n[nestlab: log capped at %llu bytes; later output is not logged]\n",
			(unsigned long long)log->max_bytes);
		fflush(log->f);
		log->bytes = log->max_bytes;
		log->capped = true;
		return;
	}
	fwrite(data, 1, len, log->f);
	log->bytes += len;
}

static void log_close(struct console_log *log)
{
	if (log->f)
		fclose(log->f);
	free(log->path);
	*log = (struct console_log){ 0 };
}

/* ts_write() - one timestamped line "[  12.345] text" */
static void ts_write(struct console *con, uint64_t at_ms, const char *text, size_t len)
{
	uint64_t t = at_ms > con->t0_ms ? at_ms - con->t0_ms : 0;
	char stamp[32];
	int n;

	if (!con->ts.f)
		return;
	n = snprintf(stamp, sizeof(stamp), "[%4llu.%03llu] ", (unsigned long long)(t / 1000),
		     (unsigned long long)(t % 1000));
	log_write(&con->ts, stamp, (size_t)n);
	log_write(&con->ts, text, len);
	log_write(&con->ts, "\n", 1);
}

/* console_note() - a line of nestlab's own in the timestamped log, "### nestlab: ..." */
static void console_note(struct console *con, const char *fmt, ...) PRINTF_FMT(2, 3);
static void console_note(struct console *con, const char *fmt, ...)
{
	cleanup_free char *text = NULL, *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	line = xasprintf("### nestlab: %s", text);
	ts_write(con, now_ms(), line, strlen(line));
	if (con->ts.f)
		fflush(con->ts.f);
}

/* ---- the match window --------------------------------------------------------------------------- */

/* window_trim() - drop the older half of the window when it is full; positions follow */
static void window_trim(struct console *con)
{
	size_t drop = con->window_len / 2;

	memmove(con->window, con->window + drop, con->window_len - drop);
	con->window_len -= drop;
	con->window[con->window_len] = '\0';
	con->cursor = con->cursor > drop ? con->cursor - drop : 0;
	con->scanned = con->scanned > drop ? con->scanned - drop : 0;
	con->window_dropped_bytes += drop;
}

static void window_add(struct console *con, char c)
{
	if (con->window_len >= CONSOLE_WINDOW_BYTES)
		window_trim(con);
	con->window[con->window_len++] = c;
	con->window[con->window_len] = '\0';
}

/* ---- decoder ------------------------------------------------------------------------------------ */

/* line_flush() - write the current line to the timestamped log */
static void line_flush(struct console *con)
{
	ts_write(con, con->line_start_ms, con->line, con->line_len);
	con->line_len = 0;
}

/* line_end() - a line ended: log it, put the newline into the window */
static void line_end(struct console *con)
{
	if (!con->line_open)
		con->line_start_ms = now_ms();
	line_flush(con);
	con->line_open = false;
	con->lines++;
	window_add(con, '\n');
}

/* emit() - one printable byte of cleaned text */
static void emit(struct console *con, char c)
{
	if (!con->line_open) {
		con->line_open = true;
		con->line_start_ms = now_ms();
	}
	if (con->line_len == sizeof(con->line))
		line_flush(con);	/* an over-long line continues on the next log line */
	con->line[con->line_len++] = c;
	window_add(con, c);
}

/*
 * decode_escape() - one byte inside an escape sequence; returns true when the byte was consumed, false
 * when the sequence was abandoned and the byte must be treated as text
 */
static bool decode_escape(struct console *con, unsigned char c)
{
	if (++con->esc_len > CONSOLE_ESCAPE_MAX_BYTES) {
		con->esc = CONSOLE_ESC_NONE;
		return false;
	}
	switch (con->esc) {
	case CONSOLE_ESC_ESC:
		if (c == '[')
			con->esc = CONSOLE_ESC_CSI;
		else if (c == ']')
			con->esc = CONSOLE_ESC_OSC;
		else if (c >= 0x20 && c <= 0x2f)
			con->esc = CONSOLE_ESC_INTER;	/* ESC ( B and friends: one more byte */
		else
			con->esc = CONSOLE_ESC_NONE;	/* ESC 7, ESC c, ...: done */
		return true;
	case CONSOLE_ESC_INTER:
		if (c < 0x20 || c > 0x2f)
			con->esc = CONSOLE_ESC_NONE;
		return true;
	case CONSOLE_ESC_CSI:
		if (c >= 0x40 && c <= 0x7e) {
			con->esc = CONSOLE_ESC_NONE;	/* final byte */
			return true;
		}
		if (c >= 0x20 && c <= 0x3f)
			return true;			/* parameter or intermediate byte */
		con->esc = CONSOLE_ESC_NONE;		/* malformed: the byte is text again */
		return false;
	case CONSOLE_ESC_OSC:
		if (c == 0x07)
			con->esc = CONSOLE_ESC_NONE;
		else if (c == 0x1b)
			con->esc = CONSOLE_ESC_OSC_ESC;
		return true;
	case CONSOLE_ESC_OSC_ESC:
		con->esc = c == '\\' ? CONSOLE_ESC_NONE : CONSOLE_ESC_OSC;
		return true;
	case CONSOLE_ESC_NONE:
	default:
		return false;
	}
}

/* decode() - clean @len bytes from the guest into lines and the window */
static void decode(struct console *con, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];

		if (con->esc != CONSOLE_ESC_NONE && decode_escape(con, c))
			continue;
		if (c == '\r') {
			con->pending_cr = true;
			continue;
		}
		if (con->pending_cr) {
			con->pending_cr = false;
			line_end(con);		/* CR LF, or a lone CR */
			if (c == '\n')
				continue;
		}
		if (c == 0x1b) {
			con->esc = CONSOLE_ESC_ESC;
			con->esc_len = 0;
			con->escapes_removed++;
		} else if (c == '\n') {
			line_end(con);
		} else if (c == '\t' || c >= 0x80 || (c >= 0x20 && c != 0x7f)) {
			emit(con, (char)c);
		}
		/* other control bytes, NUL included, are dropped */
	}
}

/* ---- I/O ---------------------------------------------------------------------------------------- */

/* console_closed() - the socket ended: stop reading, note why */
static void console_closed(struct console *con, const char *why)
{
	if (con->line_open && con->line_len)
		line_flush(con);
	con->line_open = false;
	con->eof = true;
	free(con->eof_reason);
	con->eof_reason = xstrdup(why);
	console_note(con, "console closed: %s", why);
	loop_remove(con->loop, con->id);
	con->id = 0;
	close(con->fd);
	con->fd = -1;
}

/* console_on_io() - read what the guest printed; errors of the guest side end the console, not the loop */
static int console_on_io(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	struct console *con = ev->opaque;
	unsigned char buf[CONSOLE_READ_CHUNK_BYTES];

	for (int i = 0; i < CONSOLE_READS_PER_CALLBACK && con->fd >= 0; i++) {
		ssize_t n = read(con->fd, buf, sizeof(buf));

		if (n > 0) {
			con->bytes_read += (uint64_t)n;
			log_write(&con->raw, (const char *)buf, (size_t)n);
			decode(con, buf, (size_t)n);
			continue;
		}
		if (n == 0) {
			console_closed(con, "end of file: QEMU exited or closed the serial port");
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			console_closed(con, strerror(errno));
		break;
	}
	if (con->raw.f)
		fflush(con->raw.f);
	if (con->ts.f)
		fflush(con->ts.f);
	return 0;
}

static bool flag_is_set(void *opaque)
{
	return *(bool *)opaque;
}

static int on_retry_timer(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	*(bool *)ev->opaque = true;
	return 0;
}

/* loop_sleep() - let the loop run for @ms (other registrations and signals are served meanwhile) */
static int loop_sleep(struct loop *loop, unsigned ms, nl_error_t *err)
{
	bool fired = false;
	loop_id_t timer = loop_add_timer(loop, ms, on_retry_timer, &fired, "console connect retry", err);

	if (!timer)
		return -1;
	if (loop_run_until(loop, flag_is_set, &fired, -1, err) < 0) {
		loop_remove(loop, timer);
		return -1;
	}
	return 0;
}

/*
 * console_connect() - connect to the unix socket, retrying while it is missing or refuses
 * Return: the connected, non-blocking descriptor, or -1.
 */
static int console_connect(struct console *con, int timeout_ms, nl_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	int last_errno = 0;

	if (snprintf_checked(addr.sun_path, sizeof(addr.sun_path), "%s", con->sock_path) < 0)
		return nl_error(err, ENAMETOOLONG, "%s: socket path %s is longer than %zu bytes (use a shorter run "
				"directory)", con->name, con->sock_path, sizeof(addr.sun_path) - 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		if (fd < 0)
			return nl_error(err, errno, "%s: socket", con->name);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		last_errno = errno;
		close(fd);
		if (last_errno != ENOENT && last_errno != ECONNREFUSED && last_errno != EAGAIN)
			return nl_error(err, last_errno, "%s: connect %s", con->name, con->sock_path);
		if (now_ms() >= deadline)
			break;
		if (loop_sleep(con->loop, CONSOLE_CONNECT_RETRY_MS, err) < 0)
			return nl_error_wrap(err, "%s: waiting for %s", con->name, con->sock_path);
	}
	return nl_error(err, last_errno, "%s: serial socket %s did not accept a connection within %d ms (did QEMU "
			"start? read its log in the run directory)", con->name, con->sock_path, timeout_ms);
}

int console_open(struct console *con, struct loop *loop, const struct console_config *cfg, nl_error_t *err)
{
	uint64_t log_max = cfg->log_max_bytes ? cfg->log_max_bytes : CONSOLE_LOG_MAX_BYTES_DEFAULT;

	*con = (struct console)CONSOLE_INIT;
	con->name = xstrdup(cfg->name ? cfg->name : "console");
	con->sock_path = xstrdup(cfg->sock_path);
	con->loop = loop;
	con->t0_ms = cfg->t0_ms ? cfg->t0_ms : now_ms();
	con->window = xmalloc(CONSOLE_WINDOW_BYTES + 1);
	con->window[0] = '\0';
	if (log_open(&con->raw, cfg->raw_log, log_max, err) < 0 || log_open(&con->ts, cfg->ts_log, log_max, err) < 0)
		return nl_error_wrap(err, "%s", con->name);
	con->fd = console_connect(con, cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms
								   : CONSOLE_CONNECT_TIMEOUT_MS_DEFAULT, err);
	if (con->fd < 0)
		return -1;
	con->id = loop_add_fd(loop, LOOP_KIND_CONSOLE, con->fd, EPOLLIN | EPOLLRDHUP, console_on_io, con, con->name,
			      err);
	if (!con->id)
		return nl_error_wrap(err, "%s", con->name);
	console_note(con, "connected to %s", con->sock_path);
	return 0;
}

void console_release(struct console *con)
{
	if (con->fd >= 0) {
		if (con->line_open && con->line_len)
			line_flush(con);
		console_note(con, "console released: %llu bytes, %llu lines", (unsigned long long)con->bytes_read,
			     (unsigned long long)con->lines);
		if (con->loop)
			loop_remove(con->loop, con->id);
		close(con->fd);
	}
	log_close(&con->raw);
	log_close(&con->ts);
	free(con->name);
	free(con->sock_path);
	free(con->window);
	free(con->eof_reason);
	*con = (struct console)CONSOLE_INIT;
}

/* ---- waiting for markers ------------------------------------------------------------------------ */

struct console_wait {
	struct console *con;
	const char *substring;
	const regex_t *re;
	bool found;
	size_t match_start, match_end;
};

/* wait_search_substring() - look for the substring in the unscanned text after the cursor */
static bool wait_search_substring(struct console_wait *w)
{
	struct console *con = w->con;
	size_t plen = strlen(w->substring);
	size_t from = con->scanned > con->cursor ? con->scanned : con->cursor;
	const char *hit;

	if (from >= con->window_len)
		return false;
	hit = memmem(con->window + from, con->window_len - from, w->substring, plen);
	if (hit) {
		w->match_start = (size_t)(hit - con->window);
		w->match_end = w->match_start + plen;
		return true;
	}
	/* the next search starts where a match could still begin */
	con->scanned = con->window_len >= plen ? con->window_len - plen + 1 : 0;
	return false;
}

/* wait_search_regex() - run the regex from the start of the first line not fully searched yet */
static bool wait_search_regex(struct console_wait *w)
{
	struct console *con = w->con;
	size_t from = con->scanned > con->cursor ? con->scanned : con->cursor;
	int eflags = 0;
	regmatch_t m;
	const char *nl;

	if (from > con->window_len)
		return false;
	if (from > 0 && con->window[from - 1] != '\n')
		eflags |= REG_NOTBOL;
	if (con->window_len == 0 || con->window[con->window_len - 1] != '\n')
		eflags |= REG_NOTEOL;	/* the last line is not complete: '$' must wait for its end */
	if (regexec(w->re, con->window + from, 1, &m, eflags) == 0 && m.rm_eo >= m.rm_so) {
		w->match_start = from + (size_t)m.rm_so;
		w->match_end = from + (size_t)m.rm_eo;
		return true;
	}
	nl = memrchr(con->window + from, '\n', con->window_len - from);
	con->scanned = nl ? (size_t)(nl - con->window) + 1 : from;
	return false;
}

/* console_wait_done() - loop predicate: a match, or the console is gone */
static bool console_wait_done(void *opaque)
{
	struct console_wait *w = opaque;

	if (w->found)
		return true;
	w->found = w->re ? wait_search_regex(w) : wait_search_substring(w);
	return w->found || w->con->eof;
}

/* console_wait_error() - why a wait ended without a match, with the last output and the log to read */
static int console_wait_error(struct console *con, const char *what, int timeout_ms, nl_error_t *err)
{
	cleanup_free char *tail = console_tail(con, CONSOLE_TAIL_LINES);
	int errnum = *err ? (*err)->errnum : 0;
	cleanup_free char *cause = NULL;

	if (con->eof && errnum != EINTR) {
		nl_error(err, 0, "%s: the console closed (%s) before %s appeared; last output:\n%s\nsee %s", con->name,
			 con->eof_reason, what, tail, console_log_hint(con));
		(*err)->errnum = EPIPE;
		return -1;
	}
	if (errnum == ETIMEDOUT) {
		nl_error(err, 0, "%s: %s did not appear within %d ms; last output:\n%s\nsee %s", con->name, what,
			 timeout_ms, tail, console_log_hint(con));
		(*err)->errnum = ETIMEDOUT;
		return -1;
	}
	return nl_error_wrap(err, "%s: waiting for %s", con->name, what);
}

/* console_wait() - the common part of both waits */
static int console_wait(struct console *con, struct console_wait *w, const char *what, int timeout_ms,
			nl_error_t *err)
{
	con->scanned = con->cursor;
	if (loop_run_until(con->loop, console_wait_done, w, timeout_ms, err) < 0 || !w->found)
		return console_wait_error(con, what, timeout_ms, err);
	con->cursor = w->match_end;
	con->scanned = con->cursor;
	return 0;
}

int console_wait_for(struct console *con, const char *substring, int timeout_ms, nl_error_t *err)
{
	struct console_wait w = { .con = con, .substring = substring };
	cleanup_free char *what = xasprintf("'%s'", substring);

	if (!*substring)
		return 0;
	return console_wait(con, &w, what, timeout_ms, err);
}

int console_wait_for_regex(struct console *con, const char *regex, int timeout_ms, char **line, nl_error_t *err)
{
	cleanup_free char *what = xasprintf("/%s/", regex);
	struct console_wait w = { .con = con };
	regex_t re;
	int rc;

	rc = regcomp(&re, regex, REG_EXTENDED | REG_NEWLINE);
	if (rc) {
		char msg[256];

		regerror(rc, &re, msg, sizeof(msg));
		return nl_error(err, EINVAL, "%s: regular expression %s: %s", con->name, what, msg);
	}
	w.re = &re;
	rc = console_wait(con, &w, what, timeout_ms, err);
	regfree(&re);
	if (rc == 0 && line) {
		const char *start = con->window + w.match_start, *end;

		while (start > con->window && start[-1] != '\n')
			start--;
		end = strchr(con->window + w.match_start, '\n');
		*line = xstrndup(start, end ? (size_t)(end - start) : strlen(start));
	}
	return rc;
}

void console_skip(struct console *con)
{
	con->cursor = con->window_len;
	con->scanned = con->cursor;
}

/* ---- writing and diagnostics -------------------------------------------------------------------- */

int console_write(struct console *con, const void *data, size_t len, int timeout_ms, nl_error_t *err)
{
	const char *p = data;
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);

	if (con->fd < 0)
		return nl_error(err, EPIPE, "%s: write: the console is closed (%s)", con->name,
				con->eof_reason ? con->eof_reason : "not connected");
	while (len) {
		ssize_t n = send(con->fd, p, len, MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = con->fd, .events = POLLOUT };
		uint64_t now = now_ms();

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return nl_error(err, errno, "%s: write", con->name);
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0)
			return nl_error(err, ETIMEDOUT, "%s: the guest did not take input within %d ms", con->name,
					timeout_ms);
	}
	return 0;
}

int console_send_line(struct console *con, const char *text, int timeout_ms, nl_error_t *err)
{
	cleanup_free char *line = xasprintf("%s\n", text);

	return console_write(con, line, strlen(line), timeout_ms, err);
}

char *console_tail(const struct console *con, unsigned n)
{
	size_t end = con->window_len, start;
	struct strbuf sb = STRBUF_INIT;

	if (end && con->window[end - 1] == '\n')
		end--;
	start = end;
	while (start > 0 && n) {
		start--;
		if (con->window[start] == '\n' && --n == 0) {
			start++;
			break;
		}
	}
	if (end - start > CONSOLE_TAIL_MAX_BYTES)
		start = end - CONSOLE_TAIL_MAX_BYTES;
	if (start == end)
		return xstrdup("  | (nothing)");
	/* indent every line so that the block stands out inside a message */
	strbuf_puts(&sb, "  | ");
	for (size_t i = start; i < end; i++) {
		strbuf_add(&sb, &con->window[i], 1);
		if (con->window[i] == '\n')
			strbuf_puts(&sb, "  | ");
	}
	return strbuf_detach(&sb);
}

const char *console_log_hint(const struct console *con)
{
	if (con->ts.path)
		return con->ts.path;
	if (con->raw.path)
		return con->raw.path;
	return con->sock_path ? con->sock_path : "(no log)";
}

/* ---- capture by a child process ----------------------------------------------------------------- */

int console_capture_start(struct console_capture *cc, const char *name, const char *sock_path,
			  const char *log_path, uint64_t max_bytes, int connect_timeout_ms, nl_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + (uint64_t)(connect_timeout_ms > 0 ? connect_timeout_ms : 0);
	cleanup_close int fd = -1;
	struct proc *p;

	*cc = (struct console_capture)CONSOLE_CAPTURE_INIT;
	cc->name = xstrdup(name);
	cc->log_path = xstrdup(log_path);
	cc->max_bytes = max_bytes ? max_bytes : CONSOLE_CAPTURE_MAX_BYTES_DEFAULT;
	if (snprintf_checked(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path) < 0)
		return nl_error(err, ENAMETOOLONG, "%s: socket path %s is longer than %zu bytes (use a shorter run "
				"directory)", name, sock_path, sizeof(addr.sun_path) - 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return nl_error(err, errno, "%s: socket", name);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() >= deadline)
			return nl_error(err, errno, "%s: connect %s (did QEMU start? read its log in the run directory)",
					name, sock_path);
		close(fd);
		fd = -1;
		usleep(CONSOLE_CONNECT_RETRY_MS * 1000);
	}
	p = xzalloc(sizeof(*p));
	proc_init(p);
	strv_push(&p->argv, "head");
	strv_push(&p->argv, "-c");
	strv_pushf(&p->argv, "%llu", (unsigned long long)cc->max_bytes);
	p->name = xasprintf("%s log writer (head)", name);
	p->stdin_io.mode = PROC_IO_FD;
	p->stdin_src_fd = fd;
	p->stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, log_path };
	p->stderr_io.mode = PROC_IO_NULL;
	if (proc_start(p, err) < 0) {
		proc_release(p);
		free(p);
		return nl_error_wrap(err, "%s: start the log writer", name);
	}
	cc->proc = p;
	return 0;
}

void console_capture_finish(struct console_capture *cc, int timeout_ms)
{
	cleanup_error nl_error_t err = NULL;
	struct stat st;

	if (cc->proc) {
		proc_wait(cc->proc, timeout_ms, &err);	/* end of file once QEMU is gone; killed after that */
		proc_release(cc->proc);
		free(cc->proc);
		cc->proc = NULL;
		if (cc->log_path && stat(cc->log_path, &st) == 0 && (uint64_t)st.st_size >= cc->max_bytes) {
			FILE *f = fopen(cc->log_path, "ae");

			if (f) {
				fprintf(f, "\n[nestlab: %s log capped at %llu bytes; later output was not logged]\n",
					cc->name, (unsigned long long)cc->max_bytes);
				fclose(f);
			}
		}
	}
	free(cc->name);
	free(cc->log_path);
	*cc = (struct console_capture)CONSOLE_CAPTURE_INIT;
}
