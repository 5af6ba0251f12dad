/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.c - QMP client: framing, greeting, capabilities negotiation, commands matched by id, event queue
 *
 * Framing: the server ends every JSON object it sends with CRLF (qmp-spec.rst, "General Definitions")
 * and never breaks one over lines, so input is cut at '\n', a trailing '\r' dropped, blank lines
 * ignored, and each line parsed on its own. A line is bounded by QMP_LINE_MAX_BYTES; the buffer keeps an
 * offset of consumed bytes and a scan position, so neither many small lines nor one huge one costs
 * quadratic time.
 *
 * Messages: {"QMP": ...} is the greeting ("Server Greeting"), {"return": ...} and {"error": ...} are
 * replies ("Commands Responses"), {"event": ...} are asynchronous events ("Asynchronous events"). Replies
 * carrying an id other than the one in flight are dropped, as the spec asks; an error reply without an
 * id is taken as the answer to the command in flight, because the server omits the id when it could not
 * parse the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmp.h"

#define QMP_READ_CHUNK_BYTES 65536
#define QMP_TRANSCRIPT_LINE_MAX 4096	/* longer lines are cut in the transcript */

void qmp_init(struct qmp *q, const char *name)
{
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	q->name = xstrdup(name ? name : "qmp");
	q->timeout_ms = QMP_TIMEOUT_MS_DEFAULT;
	q->start_ms = now_ms();
}

void qmp_release(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	if (q->transcript)
		fclose(q->transcript);
	while (q->events_count)
		json_decref(qmp_next_event(q));
	json_decref(q->greeting);
	strbuf_release(&q->in);
	free(q->name);
	free(q->broken);
	memset(q, 0, sizeof(*q));
	q->fd = -1;
}

int qmp_set_transcript(struct qmp *q, const char *path, nl_error_t *err)
{
	FILE *f = fopen(path, "ae");

	if (!f)
		return nl_error(err, errno, "open QMP transcript %s", path);
	if (q->transcript)
		fclose(q->transcript);
	q->transcript = f;
	return 0;
}

/* qmp_log() - append one line to the transcript: "SECONDS.MS NAME -> TEXT" (cut when very long) */
static void qmp_log(struct qmp *q, const char *direction, const char *line, size_t len)
{
	uint64_t t = now_ms() - q->start_ms;

	if (!q->transcript)
		return;
	fprintf(q->transcript, "%llu.%03llu %s %s ", (unsigned long long)(t / 1000),
		(unsigned long long)(t % 1000), q->name, direction);
	fwrite(line, 1, len < QMP_TRANSCRIPT_LINE_MAX ? len : QMP_TRANSCRIPT_LINE_MAX, q->transcript);
	if (len > QMP_TRANSCRIPT_LINE_MAX)
		fprintf(q->transcript, "... (%zu bytes)", len);
	fputc('\n', q->transcript);
	fflush(q->transcript);
}

/* snippet() - the first bytes of a line for a message, non-printable bytes as '?' */
static char *snippet(const char *line, size_t len)
{
	size_t n = len < 60 ? len : 60;
	char *s = xstrndup(line, n);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			s[i] = '?';
	if (n < len) {
		char *longer = xasprintf("%s...", s);

		free(s);
		s = longer;
	}
	return s;
}

/**
 * qmp_broken() - fail with a protocol error and mark the connection unusable
 * @q:		client
 * @err:	error
 * @fmt:	message, starting with "QMP <what>: "
 *
 * Return: -1
 */
static int PRINTF_FMT(3, 4) qmp_broken(struct qmp *q, nl_error_t *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(q->broken);
	q->broken = xvasprintf(fmt, ap);
	va_end(ap);
	return nl_error(err, 0, "%s", q->broken);
}

/* qmp_usable() - 0 when the connection can be used, else -1 with a message naming the first error */
static int qmp_usable(struct qmp *q, const char *what, nl_error_t *err)
{
	if (q->broken)
		return nl_error(err, 0, "QMP %s: connection unusable after an earlier error (%s)", what,
				q->broken);
	if (q->fd < 0)
		return nl_error(err, ENOTCONN, "QMP %s", what);
	return 0;
}

/* remaining_ms() - milliseconds until @deadline, 0 when past */
static int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* qmp_timeout() - "no reply within N ms" with errnum ETIMEDOUT (the connection stays usable) */
static int qmp_timeout(nl_error_t *err, const char *what, const char *waiting_for, int timeout_ms)
{
	nl_error(err, 0, "QMP %s: no %s within %d ms (is QEMU hung? see its log)", what, waiting_for,
		 timeout_ms);
	(*err)->errnum = ETIMEDOUT;
	return -1;
}

/**
 * qmp_take_line() - cut the next complete line out of the input buffer
 * @q:		client
 * @line:	set to its start (valid until the next read), without "\r\n"
 * @len:	set to its length
 *
 * Return: true when a line was available.
 */
static bool qmp_take_line(struct qmp *q, const char **line, size_t *len)
{
	char *start = q->in.str + q->in_off;
	size_t avail = q->in.len - q->in_off;
	char *nl;

	if (!avail)
		return false;
	nl = memchr(start + q->in_scanned, '\n', avail - q->in_scanned);
	if (!nl) {
		q->in_scanned = avail;
		return false;
	}
	*line = start;
	*len = (size_t)(nl - start);
	if (*len && start[*len - 1] == '\r')
		(*len)--;
	*nl = '\0';
	q->in_off += (size_t)(nl - start) + 1;
	q->in_scanned = 0;
	return true;
}

/* qmp_compact() - drop consumed bytes from the front of the input buffer once they dominate it */
static void qmp_compact(struct qmp *q)
{
	if (q->in_off == q->in.len) {
		q->in.len = q->in_off = 0;
		if (q->in.str)
			q->in.str[0] = '\0';
	} else if (q->in_off > QMP_READ_CHUNK_BYTES && q->in_off > q->in.len / 2) {
		memmove(q->in.str, q->in.str + q->in_off, q->in.len - q->in_off + 1);
		q->in.len -= q->in_off;
		q->in_off = 0;
	}
}

/**
 * qmp_fill() - read more input
 * @q:		client
 * @deadline:	now_ms() value to give up at
 * @what:	context for messages
 * @err:	error
 *
 * Return: 1 when bytes were read, 0 on timeout, -1 on end of file, read error or an oversized line.
 */
static int qmp_fill(struct qmp *q, uint64_t deadline, const char *what, nl_error_t *err)
{
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
	char buf[QMP_READ_CHUNK_BYTES];
	ssize_t n;
	int r;

	qmp_compact(q);
	if (q->in.len - q->in_off > QMP_LINE_MAX_BYTES)
		return qmp_broken(q, err, "QMP %s: the monitor sent a line longer than %u bytes", what,
				  QMP_LINE_MAX_BYTES);
	do
		r = poll(&pfd, 1, remaining_ms(deadline));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return nl_error(err, errno, "QMP %s: poll", what);
	if (r == 0)
		return 0;
	do
		n = read(q->fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 1;
	if (n < 0)
		return qmp_broken(q, err, "QMP %s: read from the monitor: %s", what, strerror(errno));
	if (n == 0)
		return qmp_broken(q, err, "QMP %s: the monitor closed the connection%s (did QEMU exit? see "
				  "its log)", what, q->in.len > q->in_off ? " in the middle of a message" : "");
	strbuf_add(&q->in, buf, (size_t)n);
	return 1;
}

/**
 * qmp_parse_line() - parse one received line into a JSON object
 * @q:		client
 * @line:	the line, without its line end
 * @len:	its length
 * @what:	context for messages
 * @msg:	set to the object
 * @err:	error
 *
 * Return: 1 with *@msg, 0 for a blank line, -1 for anything but a JSON object.
 */
static int qmp_parse_line(struct qmp *q, const char *line, size_t len, const char *what, json_t **msg,
			  nl_error_t *err)
{
	cleanup_free char *start = NULL;
	json_error_t jerr;
	json_t *json;

	if (strspn(line, " \t\r") == len)
		return 0;
	qmp_log(q, "<-", line, len);
	json = json_loadb(line, len, JSON_DECODE_ANY, &jerr);
	start = snippet(line, len);
	if (!json)
		return qmp_broken(q, err, "QMP %s: invalid JSON from the monitor (%s at column %d): %s", what,
				  jerr.text, jerr.column, start);
	if (!json_is_object(json)) {
		json_decref(json);
		return qmp_broken(q, err, "QMP %s: the monitor sent JSON that is not an object: %s", what,
				  start);
	}
	*msg = json;
	return 1;
}

/**
 * qmp_read_message() - the next JSON object from the monitor
 * @q:		client
 * @deadline:	now_ms() value to give up at
 * @what:	context for messages
 * @msg:	set to the object (json_decref() it)
 * @err:	error
 *
 * Return: 1 with *@msg, 0 on timeout (no error set), -1 on a protocol or connection error.
 */
static int qmp_read_message(struct qmp *q, uint64_t deadline, const char *what, json_t **msg,
			    nl_error_t *err)
{
	for (;;) {
		const char *line;
		size_t len;
		int r;

		while (qmp_take_line(q, &line, &len)) {
			r = qmp_parse_line(q, line, len, what, msg, err);
			if (r != 0)
				return r;
		}
		r = qmp_fill(q, deadline, what, err);
		if (r <= 0)
			return r;
	}
}

/* qmp_queue_event() - keep an event (taking the reference); the oldest is dropped when full */
static void qmp_queue_event(struct qmp *q, json_t *event)
{
	if (q->events_count == QMP_EVENT_QUEUE_MAX) {
		json_decref(qmp_next_event(q));
		q->events_dropped++;
	}
	q->events[(q->events_head + q->events_count) % QMP_EVENT_QUEUE_MAX] = event;
	q->events_count++;
}

json_t *qmp_next_event(struct qmp *q)
{
	json_t *event;

	if (!q->events_count)
		return NULL;
	event = q->events[q->events_head];
	q->events[q->events_head] = NULL;
	q->events_head = (q->events_head + 1) % QMP_EVENT_QUEUE_MAX;
	q->events_count--;
	return event;
}

size_t qmp_events_pending(const struct qmp *q)
{
	return q->events_count;
}

/* qmp_write_all() - send @len bytes before @deadline; SIGPIPE-free on sockets */
static int qmp_write_all(struct qmp *q, const char *data, size_t len, uint64_t deadline, const char *what,
			 nl_error_t *err)
{
	while (len) {
		struct pollfd pfd = { .fd = q->fd, .events = POLLOUT };
		ssize_t n;
		int r = poll(&pfd, 1, remaining_ms(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return qmp_timeout(err, what, "room to send the command", q->timeout_ms);
		n = send(q->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(q->fd, data, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return qmp_broken(q, err, "QMP %s: send to the monitor: %s", what, strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* qmp_send() - send @msg as one line and log it */
static int qmp_send(struct qmp *q, json_t *msg, uint64_t deadline, const char *what, nl_error_t *err)
{
	cleanup_free char *text = json_dumps(msg, JSON_COMPACT);
	cleanup_free char *line = NULL;

	if (!text)
		return nl_error(err, EINVAL, "QMP %s: cannot encode the command", what);
	qmp_log(q, "->", text, strlen(text));
	line = xasprintf("%s\n", text);
	return qmp_write_all(q, line, strlen(line), deadline, what, err);
}

/**
 * qmp_reply_error() - turn an error reply into an nl_error
 * @q:		client
 * @command:	the command it answers
 * @error:	its "error" member
 * @err:	error
 *
 * Return: -1 ("QMP query-foo: CommandNotFound: The command query-foo has not been found").
 */
static int qmp_reply_error(struct qmp *q, const char *command, json_t *error, nl_error_t *err)
{
	const char *class = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));

	if (!json_is_object(error) || !class || !desc)
		return qmp_broken(q, err, "QMP %s: malformed error reply (no class or desc)", command);
	return nl_error(err, 0, "QMP %s: %s: %s", command, class, desc);
}

/**
 * qmp_classify() - handle a message that is not the awaited reply
 * @q:		client
 * @msg:	message (reference taken)
 * @what:	context for messages
 * @err:	error
 *
 * Events are queued, replies to other ids dropped; a second greeting or anything unknown is a
 * protocol error.
 * Return: 0 or -1.
 */
static int qmp_classify(struct qmp *q, json_t *msg, const char *what, nl_error_t *err)
{
	cleanup_free char *text = NULL;

	if (json_is_string(json_object_get(msg, "event"))) {
		qmp_queue_event(q, msg);
		return 0;
	}
	if (json_object_get(msg, "return") || json_object_get(msg, "error")) {
		json_decref(msg);	/* a late reply to a command that timed out */
		return 0;
	}
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return qmp_broken(q, err, "QMP %s: unexpected message from the monitor: %.80s", what,
			  text ? text : "?");
}

/* qmp_is_reply_to() - whether @msg answers the command with @id */
static bool qmp_is_reply_to(json_t *msg, json_t *id)
{
	json_t *msg_id = json_object_get(msg, "id");
	bool is_reply = json_object_get(msg, "return") || json_object_get(msg, "error");

	if (!is_reply)
		return false;
	if (msg_id)
		return json_equal(msg_id, id);
	return json_object_get(msg, "error") != NULL;	/* the server could not parse our id */
}

/**
 * qmp_await_reply() - read until the reply to @id arrives
 * @q:		client
 * @command:	the command, for messages
 * @id:		its id
 * @deadline:	now_ms() value to give up at
 * @result:	set to the "return" value when not NULL
 * @err:	error
 *
 * Return: 0 or -1.
 */
static int qmp_await_reply(struct qmp *q, const char *command, json_t *id, uint64_t deadline,
			   json_t **result, nl_error_t *err)
{
	for (;;) {
		json_t *msg = NULL;
		json_t *error;
		int r = qmp_read_message(q, deadline, command, &msg, err);

		if (r < 0)
			return -1;
		if (r == 0)
			return qmp_timeout(err, command, "reply", q->timeout_ms);
		if (!qmp_is_reply_to(msg, id)) {
			if (qmp_classify(q, msg, command, err) < 0)
				return -1;
			continue;
		}
		error = json_object_get(msg, "error");
		if (error) {
			r = qmp_reply_error(q, command, error, err);
			json_decref(msg);
			return r;
		}
		if (result)
			*result = json_incref(json_object_get(msg, "return"));
		json_decref(msg);
		return 0;
	}
}

/**
 * qmp_execute() - run one command
 * @q:		connected client
 * @command:	QMP command name, e.g. "query-status"
 * @args:	its "arguments" object (borrowed), or NULL
 * @result:	set to the "return" value (json_decref() it), or NULL when not wanted
 * @err:	error
 *
 * Return: 0, or -1 on an error reply, a protocol error or a timeout (q->timeout_ms).
 */
int qmp_execute(struct qmp *q, const char *command, json_t *args, json_t **result, nl_error_t *err)
{
	uint64_t deadline = now_ms() + (uint64_t)(q->timeout_ms > 0 ? q->timeout_ms : 0);
	cleanup_free char *id_text = NULL;
	json_t *msg, *id;
	int ret;

	if (result)
		*result = NULL;
	if (qmp_usable(q, command, err) < 0)
		return -1;
	if (args && !json_is_object(args))
		return nl_error(err, EINVAL, "QMP %s: arguments must be a JSON object", command);
	id_text = xasprintf("nestlab-%llu", (unsigned long long)++q->next_id);
	id = json_string(id_text);
	msg = json_pack("{s:s, s:O}", "execute", command, "id", id);
	if (!msg) {
		json_decref(id);
		return nl_error(err, EINVAL, "QMP %s: command name is not valid UTF-8", command);
	}
	if (args)
		json_object_set(msg, "arguments", args);
	ret = qmp_send(q, msg, deadline, command, err);
	json_decref(msg);
	if (ret == 0)
		ret = qmp_await_reply(q, command, id, deadline, result, err);
	json_decref(id);
	return ret;
}

/**
 * qmp_read_greeting() - read and check {"QMP": {"version": {...}, "capabilities": [...]}}
 * @q:		client with a fresh connection
 * @err:	error
 *
 * Return: 0 or -1.
 */
static int qmp_read_greeting(struct qmp *q, nl_error_t *err)
{
	json_t *msg = NULL, *qmp, *qemu;
	cleanup_free char *text = NULL;
	int r = qmp_read_message(q, now_ms() + (uint64_t)q->timeout_ms, "greeting", &msg, err);

	if (r < 0)
		return -1;
	if (r == 0)
		return qmp_timeout(err, "greeting", "greeting", q->timeout_ms);
	qmp = json_object_get(msg, "QMP");
	if (!json_is_object(qmp) || !json_is_object(json_object_get(qmp, "version")) ||
	    !json_is_array(json_object_get(qmp, "capabilities"))) {
		text = json_dumps(msg, JSON_COMPACT);
		json_decref(msg);
		return qmp_broken(q, err, "QMP greeting: expected {\"QMP\": {\"version\": ..., \"capabilities\": "
				  "...}}, got %.80s (is this a QMP socket?)", text ? text : "?");
	}
	q->greeting = json_incref(qmp);
	json_decref(msg);
	qemu = json_object_get(json_object_get(q->greeting, "version"), "qemu");
	q->qemu_version[0] = (int)json_integer_value(json_object_get(qemu, "major"));
	q->qemu_version[1] = (int)json_integer_value(json_object_get(qemu, "minor"));
	q->qemu_version[2] = (int)json_integer_value(json_object_get(qemu, "micro"));
	return 0;
}

int qmp_adopt_fd(struct qmp *q, int fd, nl_error_t *err)
{
	int flags;

	if (q->fd >= 0)
		close(q->fd);
	q->fd = fd;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return nl_error(err, errno, "QMP %s: set up descriptor %d", q->name, fd);
	if (qmp_read_greeting(q, err) < 0)
		return -1;
	return qmp_execute(q, "qmp_capabilities", NULL, NULL, err);
}

/**
 * qmp_connect() - connect to a QMP unix socket and negotiate capabilities
 * @q:		client from qmp_init()
 * @path:	socket path (QEMU -qmp unix:PATH,server=on,wait=off), at most 107 bytes
 * @err:	error
 *
 * Return: 0 or -1.
 */
int qmp_connect(struct qmp *q, const char *path, nl_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (snprintf_checked(addr.sun_path, sizeof(addr.sun_path), "%s", path) < 0)
		return nl_error(err, ENAMETOOLONG, "QMP socket path %s is longer than %zu bytes (use a shorter "
				"run directory)", path, sizeof(addr.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nl_error(err, errno, "QMP %s: socket", q->name);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int errnum = errno;

		close(fd);
		return nl_error(err, errnum, "QMP %s: connect %s (is QEMU running with -qmp on it?)", q->name,
				path);
	}
	return qmp_adopt_fd(q, fd, err);
}

/**
 * qmp_read_events() - queue the events that arrive within a time
 * @q:		connected client
 * @timeout_ms:	how long to read (0: only what has arrived, e.g. when the loop saw the fd readable)
 * @err:	error
 *
 * Return: the number of events queued, or -1.
 */
int qmp_read_events(struct qmp *q, int timeout_ms, nl_error_t *err)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	size_t before = q->events_count + q->events_dropped;

	if (qmp_usable(q, "events", err) < 0)
		return -1;
	for (;;) {
		json_t *msg = NULL;
		int r = qmp_read_message(q, deadline, "events", &msg, err);

		if (r < 0)
			return -1;
		if (r == 0)
			return (int)(q->events_count + q->events_dropped - before);
		if (qmp_classify(q, msg, "events", err) < 0)
			return -1;
	}
}

/* qmp_take_queued() - remove and return the first queued event named @name, or NULL */
static json_t *qmp_take_queued(struct qmp *q, const char *name)
{
	for (size_t i = 0; i < q->events_count; i++) {
		size_t at = (q->events_head + i) % QMP_EVENT_QUEUE_MAX;
		json_t *ev = q->events[at];

		if (strcmp(json_string_value(json_object_get(ev, "event")), name))
			continue;
		/* close the gap, keeping the order of the others */
		for (size_t j = i; j + 1 < q->events_count; j++)
			q->events[(q->events_head + j) % QMP_EVENT_QUEUE_MAX] =
				q->events[(q->events_head + j + 1) % QMP_EVENT_QUEUE_MAX];
		q->events[(q->events_head + q->events_count - 1) % QMP_EVENT_QUEUE_MAX] = NULL;
		q->events_count--;
		return ev;
	}
	return NULL;
}

int qmp_wait_event(struct qmp *q, const char *event, int timeout_ms, json_t **out, nl_error_t *err)
{
	cleanup_free char *what = xasprintf("waiting for %s", event);
	int limit_ms = timeout_ms < 0 ? q->timeout_ms : timeout_ms;
	uint64_t deadline = now_ms() + (uint64_t)limit_ms;
	json_t *ev;

	if (out)
		*out = NULL;
	while (!(ev = qmp_take_queued(q, event))) {
		json_t *msg = NULL;
		int r;

		if (qmp_usable(q, what, err) < 0)
			return -1;
		r = qmp_read_message(q, deadline, what, &msg, err);
		if (r < 0)
			return -1;
		if (r == 0)
			return qmp_timeout(err, what, "event", limit_ms);
		if (qmp_classify(q, msg, what, err) < 0)
			return -1;
	}
	if (out)
		*out = ev;
	else
		json_decref(ev);
	return 0;
}
