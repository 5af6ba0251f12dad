/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.c - `nestlab-agent qmp [--timeout MS] SOCKET JSON-COMMAND...`: a QMP client for the QEMU that runs
 * in L1 (the one running L2), so that the host reaches its monitor through an agent EXEC without python
 * or socat in L1:
 *
 *	nestlab-agent qmp /run/nestlab/l2-qmp.sock \
 *		'{"execute":"x-query-vtd-mappings","arguments":{"device":"nic0"}}'
 *
 * The protocol is QEMU's docs/interop/qmp-spec.rst: the server greets with {"QMP": {...}} ("Server
 * Greeting"), the client leaves capabilities negotiation mode with qmp_capabilities ("Capabilities
 * Negotiation"), then each command gets one reply, {"return": ...} or {"error": ...} ("Commands
 * Responses"), with asynchronous {"event": ...} messages in between ("Asynchronous events"). The server
 * writes every message as one JSON object on one line ending in CRLF ("General Definitions"), so no JSON
 * library is needed: qmp_scan() walks a line once, tracking strings and nesting, to check that it is
 * exactly one object and to find the names at its top level ("return", "error", "event", "QMP"; QEMU's
 * dictionaries print in hash order, so "id" may come first). Commands are checked with the same scanner
 * before anything is sent, because QEMU waits forever for the end of an unterminated object.
 *
 * Each reply is printed raw (without its CR) on a line of stdout, events are skipped. Exit status: 0 when
 * every reply was "return", 1 when one was "error" (printed too; the later commands still run), 2 for a
 * usage, connection or protocol failure, with a message on stderr. Replies can be several MB
 * (x-query-vtd-mappings lists every mapping), so a line may grow to QMP_LINE_MAX_BYTES.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"

#define QMP_LINE_MAX_BYTES (64u << 20)	/* a longer line from the monitor is a protocol failure */
#define QMP_READ_BYTES 65536
#define QMP_TIMEOUT_MS_DEFAULT 60000	/* per reply, and for the greeting */
#define QMP_SNIPPET_BYTES 80		/* of a line quoted in a message */

enum qmp_exit { QMP_EXIT_OK = 0, QMP_EXIT_ERROR_REPLY = 1, QMP_EXIT_FAILURE = 2 };

/* names that matter at the top level of a message */
enum qmp_key {
	QMP_KEY_RETURN = 1u << 0,
	QMP_KEY_ERROR = 1u << 1,
	QMP_KEY_EVENT = 1u << 2,
	QMP_KEY_GREETING = 1u << 3,	/* "QMP" */
};

struct qmp_conn {
	int fd;
	const char *path;
	int timeout_ms;
	struct strbuf in;		/* received bytes: in.str[in_off .. in.len) not consumed yet */
	size_t in_off;
	size_t in_scanned;		/* bytes after in_off known to hold no newline */
};

static const char qmp_usage_text[] =
	"usage: nestlab-agent qmp [--timeout MS] SOCKET JSON-COMMAND...\n"
	"  Connect to the QMP unix socket SOCKET, negotiate capabilities, send each JSON-COMMAND (one\n"
	"  object, e.g. '{\"execute\":\"query-status\"}') and print each reply as one line on stdout;\n"
	"  events are skipped. --timeout: per reply, in ms (default 60000).\n"
	"  Exit status: 0 all replies were \"return\", 1 one was \"error\", 2 connection or protocol\n"
	"  failure (a message on stderr).\n";

/* qmp_key_bit() - the enum qmp_key of the name @name (@len bytes, as written between quotes), or 0 */
static unsigned qmp_key_bit(const char *name, size_t len)
{
	static const struct { const char *name; unsigned bit; } keys[] = {
		{ "return", QMP_KEY_RETURN }, { "error", QMP_KEY_ERROR },
		{ "event", QMP_KEY_EVENT },   { "QMP", QMP_KEY_GREETING },
	};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strlen(keys[i].name) == len && !memcmp(keys[i].name, name, len))
			return keys[i].bit;
	return 0;
}

/**
 * qmp_scan() - check that @s is exactly one JSON object and find the names at its top level
 * @s:		text (a received line, or a command); need not be NUL-terminated
 * @len:	its length
 * @keys:	set to the enum qmp_key bits of the names found at the top level
 *
 * Strings in double or single quotes (QEMU's parser takes both) are skipped with their escapes, braces
 * and brackets are counted as QEMU's JSON streamer (qobject/json-streamer.c) counts them: the object
 * ends when both counts are back at zero. Only structure is checked; QEMU reports anything else.
 * Return: 0, or -1 when @s is not one complete object with nothing but white space around it.
 */
static int qmp_scan(const char *s, size_t len, unsigned *keys)
{
	long braces = 0, brackets = 0;
	size_t i = 0, key_start = 0;
	bool want_key = false, in_key = false, done = false;
	char quote = 0;

	*keys = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i == len || s[i] != '{')
		return -1;
	for (; i < len; i++) {
		char ch = s[i];

		if (quote) {
			if (ch == '\\' && i + 1 < len)
				i++;
			else if (ch == quote) {
				quote = 0;
				if (in_key)
					*keys |= qmp_key_bit(s + key_start, i - key_start);
				in_key = false;
			} else if ((unsigned char)ch < 0x20)
				return -1;
			continue;
		}
		if (done) {
			if (!isspace((unsigned char)ch))
				return -1;
			continue;
		}
		switch (ch) {
		case '"':
		case '\'':
			quote = ch;
			in_key = want_key && braces + brackets == 1;
			want_key = false;
			key_start = i + 1;
			break;
		case '{':
			braces++;
			want_key = true;
			break;
		case '[':
			brackets++;
			break;
		case '}':
		case ']':
			if ((ch == '}' ? --braces : --brackets) < 0)
				return -1;
			done = braces == 0 && brackets == 0;
			break;
		case ',':
			want_key = true;
			break;
		default:
			break;
		}
	}
	return done && !quote ? 0 : -1;
}

/* qmp_snippet() - the start of a line for a message, control bytes as '?' (caller frees) */
static char *qmp_snippet(const char *line, size_t len)
{
	size_t n = len < QMP_SNIPPET_BYTES ? len : QMP_SNIPPET_BYTES;
	char *s = xasprintf("%.*s%s", (int)n, line, n < len ? "..." : "");

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			s[i] = '?';
	return s;
}

/* qmp_open() - connect to the unix socket @path; returns the fd or -1 with @err set */
static int qmp_open(const char *path, nl_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf_checked(addr.sun_path, sizeof(addr.sun_path), "%s", path) < 0)
		return nl_error(err, ENAMETOOLONG, "QMP socket %s is longer than %zu bytes", path,
				sizeof(addr.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nl_error(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int errnum = errno;

		close(fd);
		return nl_error(err, errnum, "connect %s (is QEMU running with -qmp unix:%s,server=on?)",
				path, path);
	}
	return fd;
}

/* qmp_send_line() - write @text and a newline; returns 0 or -1 with @err set */
static int qmp_send_line(struct qmp_conn *q, const char *text, nl_error_t *err)
{
	cleanup_free char *line = xasprintf("%s\n", text);
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t n = send(q->fd, line + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nl_error(err, n < 0 ? errno : EIO, "write to %s", q->path);
		off += (size_t)n;
	}
	return 0;
}

/**
 * qmp_take_line() - cut the next complete line out of the input buffer
 * @q:		connection
 * @line:	set to its start (valid until the next read), without CR LF, NUL-terminated
 * @len:	set to its length
 *
 * Return: true when a line was there
 */
static bool qmp_take_line(struct qmp_conn *q, char **line, size_t *len)
{
	char *start = q->in.str + q->in_off;
	size_t avail = q->in.len - q->in_off;
	char *nl = avail ? memchr(start + q->in_scanned, '\n', avail - q->in_scanned) : NULL;

	if (!nl) {
		q->in_scanned = avail;
		return false;
	}
	*line = start;
	*len = (size_t)(nl - start);
	if (*len && start[*len - 1] == '\r')
		(*len)--;
	start[*len] = '\0';
	q->in_off += (size_t)(nl - start) + 1;
	q->in_scanned = 0;
	return true;
}

/* qmp_fill() - read more from the monitor by @deadline; returns 0 or -1 with @err set */
static int qmp_fill(struct qmp_conn *q, uint64_t deadline, const char *waiting_for, nl_error_t *err)
{
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
	char buf[QMP_READ_BYTES];
	uint64_t now;
	ssize_t n;
	int r;

	if (q->in_off && q->in_off == q->in.len) {
		q->in.len = q->in_off = 0;
	} else if (q->in_off > QMP_READ_BYTES) {
		memmove(q->in.str, q->in.str + q->in_off, q->in.len - q->in_off);
		q->in.len -= q->in_off;
		q->in_off = 0;
	}
	if (q->in.len - q->in_off > QMP_LINE_MAX_BYTES)
		return nl_error(err, 0, "%s sent a line longer than %u bytes", q->path, QMP_LINE_MAX_BYTES);
	do {
		now = now_ms();
		r = poll(&pfd, 1, now >= deadline ? 0 : (int)(deadline - now));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return nl_error(err, errno, "poll %s", q->path);
	if (r == 0)
		return nl_error(err, 0, "no %s from %s within %d ms (is QEMU hung? --timeout sets the limit)",
				waiting_for, q->path, q->timeout_ms);
	do
		n = read(q->fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return nl_error(err, errno, "read from %s", q->path);
	if (n == 0)
		return nl_error(err, 0, "%s closed the connection before the %s%s (did QEMU exit?)", q->path,
				waiting_for, q->in.len > q->in_off ? " was complete" : "");
	strbuf_add(&q->in, buf, (size_t)n);
	return 0;
}

/**
 * qmp_next_message() - the next non-blank line, which must be one JSON object
 * @q:		connection
 * @waiting_for: "greeting", "reply to X": for messages
 * @line:	set to the line (valid until the next call)
 * @len:	set to its length
 * @keys:	set to the enum qmp_key bits of its top-level names
 * @err:	error
 *
 * Return: 0 or -1
 */
static int qmp_next_message(struct qmp_conn *q, const char *waiting_for, char **line, size_t *len,
			    unsigned *keys, nl_error_t *err)
{
	uint64_t deadline = now_ms() + (uint64_t)q->timeout_ms;

	for (;;) {
		while (qmp_take_line(q, line, len)) {
			cleanup_free char *start = NULL;

			if (strspn(*line, " \t") == *len)
				continue;
			if (qmp_scan(*line, *len, keys) == 0)
				return 0;
			start = qmp_snippet(*line, *len);
			return nl_error(err, 0, "waiting for the %s, %s sent something that is not one JSON "
					"object: %s", waiting_for, q->path, start);
		}
		if (qmp_fill(q, deadline, waiting_for, err) < 0)
			return -1;
	}
}

/**
 * qmp_reply() - read until the reply to @command, skipping events
 * @q:		connection
 * @command:	the command sent, for messages
 * @line:	set to the reply line
 * @len:	set to its length
 * @err:	error
 *
 * Return: QMP_EXIT_OK for "return", QMP_EXIT_ERROR_REPLY for "error", or -1 with @err set
 */
static int qmp_reply(struct qmp_conn *q, const char *command, char **line, size_t *len, nl_error_t *err)
{
	cleanup_free char *cmd = qmp_snippet(command, strlen(command));
	cleanup_free char *what = xasprintf("reply to %s", cmd);

	for (;;) {
		cleanup_free char *start = NULL;
		unsigned keys;

		if (qmp_next_message(q, what, line, len, &keys, err) < 0)
			return -1;
		if (keys & QMP_KEY_RETURN)
			return QMP_EXIT_OK;
		if (keys & QMP_KEY_ERROR)
			return QMP_EXIT_ERROR_REPLY;
		if (keys & QMP_KEY_EVENT)
			continue;
		start = qmp_snippet(*line, *len);
		return nl_error(err, 0, "waiting for the %s, %s sent neither a reply nor an event: %s", what,
				q->path, start);
	}
}

/* qmp_handshake() - read the greeting, leave capabilities negotiation mode; 0 or -1 with @err set */
static int qmp_handshake(struct qmp_conn *q, nl_error_t *err)
{
	static const char capabilities[] = "{\"execute\":\"qmp_capabilities\"}";
	cleanup_free char *start = NULL;
	unsigned keys;
	char *line;
	size_t len;
	int r;

	if (qmp_next_message(q, "greeting", &line, &len, &keys, err) < 0)
		return -1;
	if (!(keys & QMP_KEY_GREETING)) {
		start = qmp_snippet(line, len);
		return nl_error(err, 0, "%s did not greet with {\"QMP\": ...} but with %s (is it a QMP "
				"socket?)", q->path, start);
	}
	if (qmp_send_line(q, capabilities, err) < 0)
		return -1;
	r = qmp_reply(q, capabilities, &line, &len, err);
	if (r < 0)
		return -1;
	if (r != QMP_EXIT_OK) {
		start = qmp_snippet(line, len);
		return nl_error(err, 0, "qmp_capabilities failed: %s", start);
	}
	return 0;
}

/* qmp_print() - one reply line on stdout; 0 or -1 with @err set */
static int qmp_print(const char *line, size_t len, nl_error_t *err)
{
	if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF || fflush(stdout) == EOF)
		return nl_error(err, errno, "write the reply to stdout");
	return 0;
}

/*
 * qmp_parse_args() - [--timeout MS] SOCKET JSON-COMMAND... after "qmp"; *@first is the index of the
 * first command. Return: 0, 1 for --help, -1 with @err set.
 */
static int qmp_parse_args(int argc, char **argv, struct qmp_conn *q, int *first, nl_error_t *err)
{
	int i = 1;

	if (i < argc && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
		fputs(qmp_usage_text, stdout);
		return 1;
	}
	if (i < argc && !strcmp(argv[i], "--timeout")) {
		char *end;
		long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;

		if (i + 1 >= argc || *end || end == argv[i + 1] || v <= 0 || v > INT_MAX)
			return nl_error(err, 0, "--timeout takes a number of milliseconds");
		q->timeout_ms = (int)v;
		i += 2;
	}
	if (argc - i < 2)
		return nl_error(err, 0, "give a socket and at least one JSON command; see nestlab-agent qmp "
				"--help");
	q->path = argv[i];
	*first = i + 1;
	for (int c = *first; c < argc; c++) {
		unsigned keys;

		if (strchr(argv[c], '\n') || qmp_scan(argv[c], strlen(argv[c]), &keys) < 0) {
			cleanup_free char *start = qmp_snippet(argv[c], strlen(argv[c]));

			return nl_error(err, 0, "command %d is not one JSON object on one line: %s", c - i,
					start);
		}
	}
	return 0;
}

/**
 * qmp_main() - `nestlab-agent qmp ...`
 * @argc:	argument count, argv[0] being "qmp"
 * @argv:	arguments
 *
 * Return: the exit status (enum qmp_exit)
 */
int qmp_main(int argc, char **argv)
{
	struct qmp_conn q = { .fd = -1, .timeout_ms = QMP_TIMEOUT_MS_DEFAULT };
	cleanup_error nl_error_t err = NULL;
	int status = QMP_EXIT_OK, first = 0, r;

	signal(SIGPIPE, SIG_IGN);
	r = qmp_parse_args(argc, argv, &q, &first, &err);
	if (r > 0)
		return QMP_EXIT_OK;
	if (r == 0)
		q.fd = qmp_open(q.path, &err);
	if (q.fd >= 0 && qmp_handshake(&q, &err) == 0) {
		for (int c = first; c < argc; c++) {
			char *line;
			size_t len;

			if (qmp_send_line(&q, argv[c], &err) < 0)
				break;
			r = qmp_reply(&q, argv[c], &line, &len, &err);
			if (r < 0 || qmp_print(line, len, &err) < 0)
				break;
			if (r == QMP_EXIT_ERROR_REPLY)
				status = QMP_EXIT_ERROR_REPLY;
		}
	}
	if (q.fd >= 0)
		close(q.fd);
	strbuf_release(&q.in);
	if (err) {
		fprintf(stderr, "nestlab-agent qmp: %s\n", err->msg);
		return QMP_EXIT_FAILURE;
	}
	return status;
}
