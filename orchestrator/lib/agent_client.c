/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent_client.c - the host side of the agent protocol: requests to L1's agent and, inside RELAY
 * frames, to L2's; replies matched by request id; LOG lines into the log
 *
 * The wire format is agent_proto.c's (docs/agent-protocol.md). Reading is one loop, ac_await(): feed
 * what the socket gives to the stream decoder, then classify each frame. A frame is a reply when it
 * carries the id of the request in flight; for a level-2 request that is either a RELAY whose inner
 * frame (AGENT_FLAG_INNER, same id) answers it, or an ERROR from L1 about the RELAY itself ("Relay").
 * Everything else is unsolicited (LOG, READY with id 0) or stale (a reply to a request that timed out)
 * and is logged, never mistaken for an answer. Frames that do not decode are logged and dropped, unless
 * they carry the id in flight: then the request fails at once instead of waiting for its deadline.
 *
 * The connection is non-blocking; every poll(2) lasts at most AGENT_CLIENT_POLL_SLICE_MS so that a
 * pending SIGINT or SIGTERM (blocked by the supervisor, see vm_signal_pending()) ends the wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_client.h"
#include "escape.h"
#include "vm.h"

#define AC_READ_CHUNK_BYTES 65536
#define AC_LATE_READ_MAX_BYTES (256u << 10)	/* read at most this much more once a deadline passed */
#define AC_HELLO_MIN_GAP_MS 500			/* an unsolicited READY brings the next HELLO this close */
#define AC_SNIPPET_BYTES 512			/* command output quoted in the log */
#define AC_MESSAGE_MAX_BYTES 1024		/* guest text quoted in a log line or an error */
#define AC_LOG_TEXT_MAX_BYTES 4096		/* of a LOG line's text, written to the log */
#define AC_WHAT_MAX_BYTES 200			/* a command line quoted in messages */
#define AC_GUEST_ERRNO_MAX 4095			/* a guest errno above this is not one */

struct agent_client {
	int fd;
	char *name;			/* socket path, or what the caller called the fd */
	struct agent_decoder dec;
	uint32_t next_id;
	FILE *log;
	uint64_t start_ms;
	char *broken;			/* why the connection is unusable, or NULL */
	agent_client_log_fn log_fn;
	void *log_opaque;
	bool l1_ready_seen;		/* a READY from L1 arrived: l1_has_relay is known */
	bool l1_has_relay;
	uint64_t log_bytes, log_max_bytes;		/* written to the log, and its cap */
	uint64_t log_guest_bytes, log_guest_max_bytes;	/* of which lines the guest caused unasked */
	uint64_t log_lines_dropped;			/* not written because of a cap */
	bool logging_unasked;				/* ac_log() lines count as ac_log_unasked() ones */
};

/* what a call waits for while it reads frames */
struct ac_wait {
	int level;			/* of the request: 1 or 2 */
	uint32_t request_id;		/* 0: none in flight (agent_client_poll_logs()) */
	uint8_t reply_type;		/* AGENT_MSG_* that answers it; an ERROR always does */
	const char *what;		/* "EXEC uname -r", for messages */
	bool stop_on_ready;		/* return when an unsolicited READY from @level arrives */
	bool ready_seen;
	struct agent_msg reply;		/* the answer, decoded: reply_type or ERROR */
	int reply_level;		/* the agent that sent it */
	int log_lines;
	size_t late_bytes;		/* read after the deadline had passed */
};

/* ac_agent_name() - "L1 agent" or "L2 agent", for messages */
static const char *ac_agent_name(int level)
{
	return level == 2 ? "L2 agent" : "L1 agent";
}

/* ac_escape() - guest bytes as one printable line, at most @max of them shown (escape.h) */
static char *ac_escape(const void *data, size_t len, size_t max)
{
	return escape_bytes(data, len, max, ESCAPE_BACKSLASH);
}

/* ac_escape_str() - ac_escape() of a NUL-terminated guest string */
static char *ac_escape_str(const char *s, size_t max)
{
	return escape_str(s, max, ESCAPE_BACKSLASH);
}

/**
 * ac_vlog() - append "SECONDS.MS TEXT" to the log, if there is one, within its caps
 * @c:		client
 * @guest:	the line is there because the guest sent something unasked (a LOG line, a frame nobody
 *		waits for): it counts against AGENT_CLIENT_LOG_GUEST_MAX_BYTES as well
 * @fmt:	text
 * @ap:		arguments
 *
 * Past a cap one line says so; later lines are counted (and the count written when the client closes),
 * so a guest that floods the channel cannot fill the disk, and the transcript of nestlab's own requests
 * keeps its room.
 */
static void PRINTF_FMT(3, 0) ac_vlog(struct agent_client *c, bool guest, const char *fmt, va_list ap)
{
	off_t before, after;

	if (!c->log)
		return;
	if (c->log_bytes >= c->log_max_bytes || (guest && c->log_guest_bytes >= c->log_guest_max_bytes)) {
		c->log_lines_dropped++;
		return;
	}
	before = ftello(c->log);
	log_vline(c->log, LOG_STAMP_PLAIN, c->start_ms, fmt, ap);
	after = ftello(c->log);
	if (before >= 0 && after > before) {
		c->log_bytes += (uint64_t)(after - before);
		if (guest)
			c->log_guest_bytes += (uint64_t)(after - before);
	}
	if (c->log_bytes >= c->log_max_bytes)
		fprintf(c->log, "[nestlab: this log is capped at %llu bytes; later lines are not written]\n",
			(unsigned long long)c->log_max_bytes);
	else if (guest && c->log_guest_bytes >= c->log_guest_max_bytes)
		fprintf(c->log, "[nestlab: %llu bytes of lines the guest caused (LOG lines, frames nobody waited for) "
			"written; later ones are counted, not written; requests and replies still are]\n",
			(unsigned long long)c->log_guest_max_bytes);
	else
		return;
	fflush(c->log);
}

/* ac_log() - a line of the transcript (nestlab's requests, their replies, its own events) */
static void PRINTF_FMT(2, 3) ac_log(struct agent_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ac_vlog(c, c->logging_unasked, fmt, ap);
	va_end(ap);
}

/* ac_log_unasked() - a line about something the guest sent unasked (see ac_vlog()) */
static void PRINTF_FMT(2, 3) ac_log_unasked(struct agent_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ac_vlog(c, true, fmt, ap);
	va_end(ap);
}

/**
 * ac_broken() - fail and mark the connection unusable (closed, read error, half-written frame)
 * @c:		client
 * @err:	error
 * @fmt:	what happened, starting with the request
 *
 * Return: -1
 */
static int PRINTF_FMT(3, 4) ac_broken(struct agent_client *c, nl_error_t *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(c->broken);
	c->broken = xvasprintf(fmt, ap);
	va_end(ap);
	ac_log(c, "connection unusable: %s", c->broken);
	return nl_error(err, 0, "%s", c->broken);
}

/* ac_usable() - 0 when requests can be sent, else -1 naming the error that broke the connection */
static int ac_usable(struct agent_client *c, const char *what, nl_error_t *err)
{
	if (c->broken)
		return nl_error(err, 0, "%s: the connection to the L1 agent (%s) is unusable after an "
				"earlier error (%s); reconnect", what, c->name, c->broken);
	return 0;
}

/* ac_check_level() - 0 for level 1 or 2 */
static int ac_check_level(int level, const char *what, nl_error_t *err)
{
	if (level != 1 && level != 2)
		return nl_error(err, EINVAL, "%s: level %d: agents run in L1 and L2 only", what, level);
	return 0;
}

/* ac_interrupted() - "WHAT: interrupted by SIGINT or SIGTERM", errnum EINTR */
static int ac_interrupted(struct agent_client *c, const char *what, nl_error_t *err)
{
	ac_log(c, "%s: interrupted", what);
	nl_error(err, 0, "%s: interrupted by SIGINT or SIGTERM", what);
	(*err)->errnum = EINTR;
	return -1;
}

/* ac_next_id() - a request id not used on this connection yet (never 0) */
static uint32_t ac_next_id(struct agent_client *c)
{
	if (++c->next_id == 0)
		c->next_id = 1;
	return c->next_id;
}

/**
 * ac_poll() - wait until the connection is ready for @events, in slices that look for SIGINT/SIGTERM
 * @c:		client
 * @events:	POLLIN or POLLOUT
 * @deadline:	now_ms() value to give up at; a past one polls once without waiting
 * @what:	the request, for messages
 * @err:	error
 *
 * Return: 1 when ready (or hung up: the read or write tells), 0 at the deadline, -1 when interrupted
 */
static int ac_poll(struct agent_client *c, short events, uint64_t deadline, const char *what,
		   nl_error_t *err)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = events };
		uint64_t now = now_ms();
		uint64_t left_ms = deadline > now ? deadline - now : 0;
		int slice_ms = left_ms < AGENT_CLIENT_POLL_SLICE_MS ? (int)left_ms : AGENT_CLIENT_POLL_SLICE_MS;
		int r;

		if (vm_signal_pending())
			return ac_interrupted(c, what, err);
		r = poll(&pfd, 1, slice_ms);
		if (r < 0 && errno != EINTR)
			return nl_error(err, errno, "%s: poll", what);
		if (r > 0)
			return 1;
		if (r == 0 && left_ms == 0)
			return 0;
	}
}

/* ac_write_all() - write a whole frame by @deadline; a frame cut short leaves the channel unusable */
static int ac_write_all(struct agent_client *c, const char *buf, size_t len, uint64_t deadline,
			const char *what, nl_error_t *err)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		int r;

		if (n < 0 && errno == ENOTSOCK)
			n = write(c->fd, buf + off, len - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return ac_broken(c, err, "%s: write to the L1 agent (%s): %s", what, c->name,
					 n == 0 ? "nothing written" : strerror(errno));
		r = ac_poll(c, POLLOUT, deadline, what, err);
		if (r < 0)
			return -1;
		if (r == 0 && off)
			return ac_broken(c, err, "%s: the L1 agent (%s) stopped reading in the middle of a "
					 "request", what, c->name);
		if (r == 0) {
			nl_error(err, 0, "%s: the L1 agent (%s) does not read its channel (is L1 hung?)",
				 what, c->name);
			(*err)->errnum = ETIMEDOUT;
			return -1;
		}
	}
	return 0;
}

/**
 * ac_send() - encode a request for the agent at @level and write it
 * @c:		client
 * @level:	1: as it is; 2: with AGENT_FLAG_INNER, inside a RELAY carrying the same request id
 * @msg:	the request (type, request id, fields); its flags are set here
 * @deadline:	give up writing at this now_ms() value
 * @what:	the request, for messages and the log
 * @err:	error
 *
 * Return: 0 or -1
 */
static int ac_send(struct agent_client *c, int level, struct agent_msg *msg, uint64_t deadline,
		   const char *what, nl_error_t *err)
{
	cleanup_strbuf struct strbuf inner = STRBUF_INIT;
	cleanup_strbuf struct strbuf frame = STRBUF_INIT;
	struct agent_msg relay = { .type = AGENT_MSG_RELAY, .request_id = msg->request_id };
	const struct agent_msg *outer = msg;

	msg->flags = level == 2 ? AGENT_FLAG_INNER : 0;
	if (level == 2) {
		if (agent_msg_encode(msg, &inner, err) < 0)
			return nl_error_wrap(err, "%s", what);
		if (inner.len > AGENT_MAX_INNER_FRAME)
			return nl_error(err, E2BIG, "%s: the request (%zu bytes) is too large to relay to "
					"L2; send less data", what, inner.len);
		relay.u.relay.frame = (struct agent_bytes){ (uint8_t *)inner.str, inner.len };
		outer = &relay;
	}
	if (agent_msg_encode(outer, &frame, err) < 0)
		return nl_error_wrap(err, "%s", what);
	ac_log(c, "l%d -> %s #%u", level, what, msg->request_id);
	return ac_write_all(c, frame.str, frame.len, deadline, what, err);
}

/**
 * ac_fill() - read what the agent sent into the decoder
 * @c:		client
 * @w:		the wait (request for messages; bytes read late are counted in it)
 * @deadline:	now_ms() value to give up at
 * @err:	error
 *
 * Return: 1 when bytes were read, 0 at the deadline (and, once it has passed, after
 * AC_LATE_READ_MAX_BYTES more, so that a peer that never stops cannot hold the caller), -1
 */
static int ac_fill(struct agent_client *c, struct ac_wait *w, uint64_t deadline, nl_error_t *err)
{
	char buf[AC_READ_CHUNK_BYTES];
	bool late = now_ms() >= deadline;
	ssize_t n;
	int r;

	if (late && w->late_bytes >= AC_LATE_READ_MAX_BYTES)
		return 0;
	r = ac_poll(c, POLLIN, deadline, w->what, err);
	if (r <= 0)
		return r;
	do
		n = read(c->fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	if (n < 0)
		return ac_broken(c, err, "%s: read from the L1 agent (%s): %s", w->what, c->name,
				 strerror(errno));
	if (n == 0)
		return ac_broken(c, err, "%s: the L1 agent closed its channel %s (did L1 shut down or its "
				 "QEMU exit? see the L1 console log)", w->what, c->name);
	if (late)
		w->late_bytes += (size_t)n;
	agent_decoder_feed(&c->dec, buf, (size_t)n);
	return 1;
}

/* ac_log_line() - a LOG line from @level into the log and to the callback */
static void ac_log_line(struct agent_client *c, int level, const struct agent_log *log)
{
	cleanup_free char *source = ac_escape_str(log->source, 64);
	cleanup_free char *text = ac_escape_str(log->text, AC_LOG_TEXT_MAX_BYTES);

	ac_log_unasked(c, "l%d LOG %s [%llu.%03llu]: %s", level, source, (unsigned long long)(log->time_ms / 1000),
	       (unsigned long long)(log->time_ms % 1000), text);
	if (c->log_fn)
		c->log_fn(c->log_opaque, level, log);
}

/* ac_log_exec_result() - the transcript line of an EXEC_RESULT */
static void ac_log_exec_result(struct agent_client *c, int level, const struct agent_msg *msg)
{
	const struct agent_exec_result *r = &msg->u.exec_result;
	cleanup_free char *out = ac_escape(r->stdout_data.data, r->stdout_data.len, AC_SNIPPET_BYTES);
	cleanup_free char *errs = ac_escape(r->stderr_data.data, r->stderr_data.len, AC_SNIPPET_BYTES);
	const char *how = r->timed_out ? "timed out, signal" : r->term_signal ? "signal" : "exit";

	ac_log(c, "l%d <- EXEC_RESULT #%u %s %llu after %llu ms; stdout%s: %s; stderr%s: %s", level,
	       msg->request_id, how, (unsigned long long)(r->term_signal ? r->term_signal : r->exit_status),
	       (unsigned long long)r->duration_ms, r->stdout_truncated ? " (truncated)" : "", out,
	       r->stderr_truncated ? " (truncated)" : "", errs);
}

/* ac_log_reply() - the transcript line of a reply (or unsolicited READY) from @level */
static void ac_log_reply(struct agent_client *c, int level, const struct agent_msg *msg)
{
	cleanup_free char *a = NULL, *b = NULL, *d = NULL;

	switch (msg->type) {
	case AGENT_MSG_READY:
		a = ac_escape_str(msg->u.ready.level, 16);
		b = ac_escape_str(msg->u.ready.hostname, 256);
		d = ac_escape_str(msg->u.ready.agent_version, 64);
		ac_log(c, "l%d <- READY #%u level %s, hostname %s, agent %s, uptime %llu ms, relay %s", level,
		       msg->request_id, a, b, d, (unsigned long long)msg->u.ready.uptime_ms,
		       msg->u.ready.has_relay ? "yes" : "no");
		return;
	case AGENT_MSG_EXEC_RESULT:
		ac_log_exec_result(c, level, msg);
		return;
	case AGENT_MSG_FILE_DATA:
		ac_log(c, "l%d <- FILE_DATA #%u offset %llu, %zu bytes%s", level, msg->request_id,
		       (unsigned long long)msg->u.file_data.offset, msg->u.file_data.data.len,
		       msg->u.file_data.eof ? ", end of file" : "");
		return;
	case AGENT_MSG_ERROR:
		a = ac_escape_str(msg->u.error.message, AC_MESSAGE_MAX_BYTES);
		ac_log(c, "l%d <- ERROR #%u %s (errno %llu): %s", level, msg->request_id,
		       agent_error_code_name((unsigned int)msg->u.error.code),
		       (unsigned long long)msg->u.error.errnum, a);
		return;
	default:
		ac_log(c, "l%d <- %s #%u", level, agent_msg_type_name(msg->type), msg->request_id);
		return;
	}
}

/**
 * ac_bad_frame() - a frame that did not decode or breaks the relay rules
 * @c:		client
 * @level:	where it came from
 * @request_id:	the id its header carries
 * @why:	the decoder's message
 * @w:		the wait
 * @err:	error
 *
 * Return: 0 (logged and dropped), or -1 when it carries the id of the request in flight
 */
static int ac_bad_frame(struct agent_client *c, int level, uint32_t request_id, const char *why,
			struct ac_wait *w, nl_error_t *err)
{
	ac_log_unasked(c, "l%d <- frame #%u dropped: %s", level, request_id, why);
	if (!w->request_id || request_id != w->request_id || (level != w->level && level != 1))
		return 0;
	return nl_error(err, 0, "%s: the reply from the %s is malformed: %s", w->what, ac_agent_name(level),
			why);
}

/* ac_unsolicited() - a decoded frame that answers nothing in flight: log it; returns 0 */
static int ac_unsolicited(struct agent_client *c, int level, const struct agent_msg *msg, struct ac_wait *w)
{
	if (msg->type == AGENT_MSG_LOG) {
		ac_log_line(c, level, &msg->u.log);
		w->log_lines++;
		return 0;
	}
	if (msg->type == AGENT_MSG_READY && msg->request_id == 0) {
		c->logging_unasked = true;
		ac_log_reply(c, level, msg);
		c->logging_unasked = false;
		if (level == w->level)
			w->ready_seen = true;
		return 0;
	}
	ac_log_unasked(c, "l%d <- %s #%u dropped: no request waits for it (a reply after its timeout, or to a "
	       "repeated HELLO)", level, agent_msg_type_name(msg->type), msg->request_id);
	return 0;
}

/**
 * ac_message() - one frame from the agent at @level (for level 2, the inside of a RELAY)
 * @c:		client
 * @level:	1 or 2
 * @frame:	a frame with valid checksums; the payload is still untrusted
 * @w:		the wait
 * @err:	error
 *
 * Return: 1 when it answers the request in flight (moved into w->reply), 0 when it was something else,
 * -1 when it carries the request's id but is no answer to it
 */
static int ac_message(struct agent_client *c, int level, const struct agent_frame *frame, struct ac_wait *w,
		      nl_error_t *err)
{
	cleanup_agent_msg struct agent_msg msg = { 0 };
	cleanup_error nl_error_t derr = NULL;

	if (agent_msg_decode(frame, &msg, &derr) < 0)
		return ac_bad_frame(c, level, frame->request_id, derr->msg, w, err);
	/* ids are unique across levels; only L1 answers for L2, with an ERROR about the RELAY */
	if (!w->request_id || frame->request_id != w->request_id ||
	    (level != w->level && !(level == 1 && msg.type == AGENT_MSG_ERROR)))
		return ac_unsolicited(c, level, &msg, w);
	ac_log_reply(c, level, &msg);
	if (msg.type != AGENT_MSG_ERROR && msg.type != w->reply_type)
		return nl_error(err, 0, "%s: the %s answered with %s, not %s", w->what, ac_agent_name(level),
				agent_msg_type_name(msg.type), agent_msg_type_name(w->reply_type));
	w->reply = msg;
	w->reply_level = level;
	memset(&msg, 0, sizeof(msg));	/* moved: nothing left for the cleanup */
	return 1;
}

/* ac_relay() - a RELAY from L1: check and parse its inner frame, then treat that as an L2 frame */
static int ac_relay(struct agent_client *c, const struct agent_frame *frame, struct ac_wait *w,
		    nl_error_t *err)
{
	cleanup_agent_msg struct agent_msg relay = { 0 };
	cleanup_agent_frame struct agent_frame inner = { 0 };
	cleanup_error nl_error_t derr = NULL;

	if (agent_msg_decode(frame, &relay, &derr) < 0 ||
	    agent_frame_parse(relay.u.relay.frame.data, relay.u.relay.frame.len, &inner, &derr) < 0)
		return ac_bad_frame(c, 2, frame->request_id, derr->msg, w, err);
	if (!(inner.flags & AGENT_FLAG_INNER) || inner.type == AGENT_MSG_RELAY ||
	    inner.request_id != frame->request_id)
		return ac_bad_frame(c, 2, frame->request_id, "the relayed frame lacks AGENT_FLAG_INNER, is a "
				    "RELAY itself, or carries another request id than its RELAY", w, err);
	return ac_message(c, 2, &inner, w, err);
}

/* ac_frame() - one frame from the connection: L1's own, or a RELAY from L2 */
static int ac_frame(struct agent_client *c, const struct agent_frame *frame, struct ac_wait *w,
		    nl_error_t *err)
{
	if (frame->flags & AGENT_FLAG_INNER)
		return ac_bad_frame(c, 1, frame->request_id, "AGENT_FLAG_INNER set outside a RELAY (is an l2 "
				    "agent on this channel?)", w, err);
	if (frame->type == AGENT_MSG_RELAY)
		return ac_relay(c, frame, w, err);
	return ac_message(c, 1, frame, w, err);
}

/**
 * ac_await() - read and handle frames until the answer to w->request_id arrives
 * @c:		client
 * @w:		the wait; request_id 0 reads only unsolicited frames
 * @deadline:	now_ms() value to give up at
 * @err:	error
 *
 * Return: 1 with w->reply, 0 at the deadline (or, with w->stop_on_ready, when an unsolicited READY from
 * w->level arrived), -1
 */
static int ac_await(struct agent_client *c, struct ac_wait *w, uint64_t deadline, nl_error_t *err)
{
	if (ac_usable(c, w->what, err) < 0)
		return -1;
	for (;;) {
		int rc;

		for (;;) {
			cleanup_agent_frame struct agent_frame frame = { 0 };
			cleanup_error nl_error_t derr = NULL;

			rc = agent_decoder_next(&c->dec, &frame, &derr);
			if (rc == 0)
				break;
			rc = rc < 0 ? ac_bad_frame(c, 1, frame.request_id, derr->msg, w, err) :
				      ac_frame(c, &frame, w, err);
			if (rc != 0)
				return rc;
			if (w->stop_on_ready && w->ready_seen)
				return 0;
		}
		rc = ac_fill(c, w, deadline, err);
		if (rc <= 0)
			return rc;
	}
}

/* ac_error_reply() - an ERROR reply as an nl_error "WHAT: CODE: MESSAGE" carrying the guest's errno */
static int ac_error_reply(const struct ac_wait *w, nl_error_t *err)
{
	const struct agent_error *e = &w->reply.u.error;
	cleanup_free char *text = ac_escape_str(e->message, AC_MESSAGE_MAX_BYTES);

	nl_error(err, 0, "%s: %s%s: %s", w->what,
		 w->level == 2 && w->reply_level == 1 ? "the L1 agent did not relay it: " : "",
		 agent_error_code_name((unsigned int)e->code), text);
	if (e->errnum > 0 && e->errnum <= AC_GUEST_ERRNO_MAX)
		(*err)->errnum = (int)e->errnum;
	return -1;
}

/**
 * ac_request() - send one request and wait for its answer
 * @c:		client
 * @req:	the request; its id and flags are set here
 * @w:		level, reply type and what of the request; w->reply gets the answer (not an ERROR)
 * @timeout_ms:	how long to wait for the answer
 * @err:	error, with the agent's name in front
 *
 * Return: 0 with w->reply, or -1 (ERROR reply, timeout, connection, interrupted)
 */
static int ac_request(struct agent_client *c, struct agent_msg *req, struct ac_wait *w, uint64_t timeout_ms,
		      nl_error_t *err)
{
	uint64_t deadline = now_ms() + timeout_ms;
	int r;

	if (ac_usable(c, w->what, err) < 0)
		return nl_error_wrap(err, "%s", ac_agent_name(w->level));
	req->request_id = w->request_id = ac_next_id(c);
	if (ac_send(c, w->level, req, deadline, w->what, err) < 0)
		return nl_error_wrap(err, "%s", ac_agent_name(w->level));
	r = ac_await(c, w, deadline, err);
	if (r == 0) {
		ac_log(c, "l%d %s #%u: no reply within %llu ms", w->level, w->what, w->request_id,
		       (unsigned long long)timeout_ms);
		nl_error(err, 0, "%s: %s: no reply within %llu ms (is L%d hung? see its console log)",
			 ac_agent_name(w->level), w->what, (unsigned long long)timeout_ms, w->level);
		(*err)->errnum = ETIMEDOUT;
		return -1;
	}
	if (r < 0)
		return nl_error_wrap(err, "%s", ac_agent_name(w->level));
	if (w->reply.type == AGENT_MSG_ERROR) {
		ac_error_reply(w, err);
		agent_msg_release(&w->reply);
		return nl_error_wrap(err, "%s", ac_agent_name(w->level));
	}
	return 0;
}

/* ---- connection ---------------------------------------------------------------------------------- */

int agent_client_adopt_fd(int fd, const char *name, const char *log_path, struct agent_client **out,
			  nl_error_t *err)
{
	struct agent_client *c = xzalloc(sizeof(*c));
	int flags = fd < 0 ? -1 : fcntl(fd, F_GETFL);

	*out = NULL;
	c->fd = fd;
	c->name = xstrdup(name ? name : "the agent channel");
	c->start_ms = now_ms();
	c->log_max_bytes = AGENT_CLIENT_LOG_MAX_BYTES;
	c->log_guest_max_bytes = AGENT_CLIENT_LOG_GUEST_MAX_BYTES;
	/* ids start somewhere else on every connection, so replies queued for an earlier client of the
	 * same port do not match this one's requests */
	c->next_id = (uint32_t)(c->start_ms * 2654435761u) ^ ((uint32_t)getpid() << 16);
	agent_decoder_init(&c->dec);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		nl_error(err, fd < 0 ? EBADF : errno, "L1 agent: set up descriptor %d (%s)", fd, c->name);
		agent_client_free(c);
		return -1;
	}
	if (log_path) {
		c->log = fopen(log_path, "ae");
		if (!c->log) {
			nl_error(err, errno, "L1 agent: open the agent log %s", log_path);
			agent_client_free(c);
			return -1;
		}
	}
	ac_log(c, "connected to %s", c->name);
	*out = c;
	return 0;
}

/**
 * agent_client_connect() - connect to L1's agent port through QEMU's chardev socket
 * @sock_path:	the socket (-chardev socket,server=on,wait=off), at most 107 bytes
 * @timeout_ms:	how long to retry while it is missing or refuses (QEMU starting)
 * @log_path:	log to append to, or NULL
 * @out:	the client
 * @err:	error
 *
 * Return: 0 or -1
 */
int agent_client_connect(const char *sock_path, uint64_t timeout_ms, const char *log_path,
			 struct agent_client **out, nl_error_t *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ms() + timeout_ms;

	*out = NULL;
	if (snprintf_checked(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path) < 0)
		return nl_error(err, ENAMETOOLONG, "L1 agent socket %s is longer than %zu bytes (use a "
				"shorter run directory)", sock_path, sizeof(addr.sun_path) - 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int errnum;

		if (fd < 0)
			return nl_error(err, errno, "L1 agent: socket");
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return agent_client_adopt_fd(fd, sock_path, log_path, out, err);
		errnum = errno;
		close(fd);
		if (errnum != ENOENT && errnum != ECONNREFUSED && errnum != EAGAIN && errnum != EINTR)
			return nl_error(err, errnum, "L1 agent: connect %s", sock_path);
		if (vm_signal_pending()) {
			nl_error(err, 0, "L1 agent: connect %s: interrupted by SIGINT or SIGTERM", sock_path);
			(*err)->errnum = EINTR;
			return -1;
		}
		if (now_ms() >= deadline) {
			nl_error(err, errnum, "L1 agent: connect %s: nothing accepted within %llu ms (did "
				 "QEMU start? see its log)", sock_path, (unsigned long long)timeout_ms);
			(*err)->errnum = ETIMEDOUT;
			return -1;
		}
		vm_sleep_ms(AGENT_CLIENT_CONNECT_RETRY_MS);
	}
}

void agent_client_free(struct agent_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->log) {
		if (c->log_lines_dropped)
			fprintf(c->log, "[nestlab: %llu lines were not written because of the caps above]\n",
				(unsigned long long)c->log_lines_dropped);
		ac_log(c, "closed");
		fclose(c->log);
	}
	agent_decoder_release(&c->dec);
	free(c->name);
	free(c->broken);
	free(c);
}

void cleanup_agent_clientp(struct agent_client **c)
{
	agent_client_free(*c);
	*c = NULL;
}

void agent_client_set_log_fn(struct agent_client *c, agent_client_log_fn fn, void *opaque)
{
	c->log_fn = fn;
	c->log_opaque = opaque;
}

int agent_client_fd(const struct agent_client *c)
{
	return c->fd;
}

/* ---- requests ------------------------------------------------------------------------------------ */

void agent_client_ready_release(struct agent_ready *ready)
{
	if (!ready)
		return;
	free(ready->agent_version);
	free(ready->level);
	free(ready->hostname);
	free(ready->boot_id);
	memset(ready, 0, sizeof(*ready));
}

/* ac_ready_take() - check that the READY in w->reply names @level, remember L1's relay, hand it out */
static int ac_ready_take(struct agent_client *c, struct ac_wait *w, struct agent_ready *out, nl_error_t *err)
{
	struct agent_ready *ready = &w->reply.u.ready;
	const char *want = w->level == 2 ? "l2" : "l1";
	int ret = 0;

	if (strcmp(ready->level, want)) {
		cleanup_free char *level = ac_escape_str(ready->level, 16);

		ret = nl_error(err, 0, "%s: HELLO: the agent says it runs in %s, not in %s (is the channel "
			       "connected to the right guest?)", ac_agent_name(w->level), level, want);
	} else if (w->level == 1) {
		c->l1_ready_seen = true;
		c->l1_has_relay = ready->has_relay;
	}
	if (ret == 0 && out) {
		*out = *ready;
		memset(ready, 0, sizeof(*ready));
	}
	agent_msg_release(&w->reply);
	return ret;
}

/* ac_ready_timeout() - no READY in time; quotes what L1 said about the relay, if anything */
static int ac_ready_timeout(int level, uint64_t timeout_ms, const char *refusal, nl_error_t *err)
{
	nl_error(err, 0, "%s: HELLO: no READY within %llu ms (is L%d booting? see its console log)%s%s",
		 ac_agent_name(level), (unsigned long long)timeout_ms, level,
		 refusal ? "; the L1 agent last said: " : "", refusal ? refusal : "");
	(*err)->errnum = ETIMEDOUT;
	return -1;
}

/**
 * agent_client_wait_ready() - HELLO until the agent at @level answers READY
 * @c:		client
 * @level:	1 or 2
 * @timeout_ms:	how long to try
 * @out:	the READY's fields (agent_client_ready_release()), or NULL
 * @err:	error
 *
 * All HELLOs of one call carry the same request id, so a READY answering any of them will do.
 * Return: 0 or -1
 */
int agent_client_wait_ready(struct agent_client *c, int level, uint64_t timeout_ms, struct agent_ready *out,
			    nl_error_t *err)
{
	uint64_t start = now_ms(), deadline = start + timeout_ms, next_hello = start, last_hello = 0;
	struct ac_wait w = { .level = level, .reply_type = AGENT_MSG_READY, .what = "HELLO",
			     .stop_on_ready = true };
	struct agent_msg hello = { .type = AGENT_MSG_HELLO };
	cleanup_free char *refusal = NULL;

	if (out)
		memset(out, 0, sizeof(*out));
	if (ac_check_level(level, "HELLO", err) < 0 || ac_usable(c, "HELLO", err) < 0)
		return nl_error_wrap(err, "%s", ac_agent_name(level));
	if (level == 2 && c->l1_ready_seen && !c->l1_has_relay)
		return nl_error(err, 0, "L2 agent: HELLO: the L1 agent runs without --relay, so L2 cannot be "
				"reached (check the L1 image's agent service)");
	hello.request_id = w.request_id = ac_next_id(c);
	hello.u.hello.client_version = (char *)NESTLAB_VERSION;
	for (;;) {
		uint64_t now = now_ms();
		int r;

		if (now >= deadline)
			return ac_ready_timeout(level, timeout_ms, refusal, err);
		if (now >= next_hello) {
			if (ac_send(c, level, &hello, deadline, "HELLO", err) < 0)
				return nl_error_wrap(err, "%s", ac_agent_name(level));
			last_hello = now;
			next_hello = now + AGENT_CLIENT_HELLO_RESEND_MS;
		}
		w.ready_seen = false;
		r = ac_await(c, &w, next_hello < deadline ? next_hello : deadline, err);
		if (r < 0)
			return nl_error_wrap(err, "%s", ac_agent_name(level));
		if (r == 0) {
			if (w.ready_seen && last_hello + AC_HELLO_MIN_GAP_MS < next_hello)
				next_hello = last_hello + AC_HELLO_MIN_GAP_MS;
			continue;
		}
		if (w.reply.type == AGENT_MSG_READY)
			return ac_ready_take(c, &w, out, err);
		if (level == 2 && w.reply_level == 1 && w.reply.u.error.code == AGENT_ERR_NO_RELAY) {
			free(refusal);
			refusal = ac_escape_str(w.reply.u.error.message, AC_MESSAGE_MAX_BYTES);
			agent_msg_release(&w.reply);
			continue;	/* L2 not reachable yet: HELLO again at next_hello */
		}
		ac_error_reply(&w, err);
		agent_msg_release(&w.reply);
		return nl_error_wrap(err, "%s", ac_agent_name(level));
	}
}

/* ac_describe_argv() - "EXEC ARGV..." escaped and cut at AC_WHAT_MAX_BYTES, for messages */
static char *ac_describe_argv(char *const argv[])
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_puts(&sb, "EXEC");
	for (size_t i = 0; argv[i] && sb.len < AC_WHAT_MAX_BYTES; i++) {
		cleanup_free char *arg = ac_escape_str(argv[i], AC_WHAT_MAX_BYTES);

		strbuf_printf(&sb, " %s", arg);
	}
	if (sb.len > AC_WHAT_MAX_BYTES) {
		sb.len = AC_WHAT_MAX_BYTES;
		strbuf_puts(&sb, "...");
	}
	return strbuf_detach(&sb);
}

void agent_client_result_release(struct agent_exec_result *res)
{
	if (!res)
		return;
	free(res->stdout_data.data);
	free(res->stderr_data.data);
	memset(res, 0, sizeof(*res));
}

int agent_client_exec(struct agent_client *c, int level, char *const argv[], const void *stdin_data,
		      size_t stdin_len, uint64_t timeout_ms, struct agent_exec_result *res, nl_error_t *err)
{
	struct ac_wait w = { .level = level, .reply_type = AGENT_MSG_EXEC_RESULT };
	struct agent_msg req = { .type = AGENT_MSG_EXEC };
	cleanup_free char *what = NULL;

	memset(res, 0, sizeof(*res));
	if (!argv || !argv[0] || !argv[0][0])
		return nl_error(err, EINVAL, "%s: EXEC without a command", ac_agent_name(level));
	what = ac_describe_argv(argv);
	if (ac_check_level(level, what, err) < 0)
		return -1;
	w.what = what;
	req.u.exec.argv = (char **)argv;
	req.u.exec.timeout_ms = timeout_ms ? timeout_ms : AGENT_DEFAULT_TIMEOUT_MS;
	if (stdin_data)
		req.u.exec.stdin_data = (struct agent_bytes){ (uint8_t *)stdin_data, stdin_len };
	if (ac_request(c, &req, &w, req.u.exec.timeout_ms + AGENT_DEFAULT_KILL_GRACE_MS +
			   AGENT_CLIENT_REPLY_MARGIN_MS, err) < 0)
		return -1;
	*res = w.reply.u.exec_result;
	memset(&w.reply, 0, sizeof(w.reply));
	return 0;
}

/* ac_exit_code() - shell-style status: exit status, 128+signal, -1 when timed out */
static int ac_exit_code(const struct agent_exec_result *res)
{
	if (res->timed_out)
		return -1;
	if (res->term_signal)
		return 128 + (int)(res->term_signal < 128 ? res->term_signal : 127);
	return (int)(res->exit_status < 256 ? res->exit_status : 255);
}

int agent_client_sh(struct agent_client *c, int level, const char *script, uint64_t timeout_ms, char **out,
		    int *status, nl_error_t *err)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)script, NULL };
	struct agent_exec_result res;
	int code;

	if (out)
		*out = NULL;
	if (status)
		*status = -1;
	if (agent_client_exec(c, level, argv, NULL, 0, timeout_ms, &res, err) < 0)
		return -1;
	code = ac_exit_code(&res);
	if (!status && code != 0) {
		size_t len = res.stderr_data.len, keep = len < AC_SNIPPET_BYTES ? len : AC_SNIPPET_BYTES;
		cleanup_free char *what = ac_describe_argv(argv);
		cleanup_free char *tail = ac_escape(res.stderr_data.data + (len - keep), keep, keep);

		nl_error(err, 0, "%s: %s: %s %d; stderr ends: %s", ac_agent_name(level), what,
			 code < 0 ? "timed out, status" : "exit status", code, tail);
		agent_client_result_release(&res);
		return -1;
	}
	if (status)
		*status = code;
	if (out) {
		*out = res.stdout_data.data ? (char *)res.stdout_data.data : xstrdup("");
		res.stdout_data.data = NULL;
	}
	agent_client_result_release(&res);
	return 0;
}

/**
 * ac_read_chunk() - one READ_FILE at @offset for at most @want bytes, appended to @sb
 * @c:		client
 * @w:		level and what of the read
 * @path:	the guest file
 * @want:	at most this many bytes (<= AGENT_MAX_DATA_BYTES)
 * @timeout_ms:	how long to wait
 * @sb:		the data so far; its length is the offset
 * @done:	set when there is no more to read: end of file, or fewer bytes than asked for
 * @err:	error
 *
 * Return: 0 or -1
 */
static int ac_read_chunk(struct agent_client *c, struct ac_wait *w, const char *path, size_t want,
			 uint64_t timeout_ms, struct strbuf *sb, bool *done, nl_error_t *err)
{
	struct agent_msg req = { .type = AGENT_MSG_READ_FILE };
	const struct agent_file_data *data = &w->reply.u.file_data;
	int ret = 0;

	req.u.read_file.path = (char *)path;
	req.u.read_file.offset = sb->len;
	req.u.read_file.max_bytes = want;
	if (ac_request(c, &req, w, timeout_ms, err) < 0)
		return -1;
	if (data->offset != sb->len || data->data.len > want)
		ret = nl_error(err, 0, "%s: %s: asked for at most %zu bytes at offset %zu, the agent sent "
			       "%zu at offset %llu", ac_agent_name(w->level), w->what, want, sb->len,
			       data->data.len, (unsigned long long)data->offset);
	else if (data->data.len)
		strbuf_add(sb, (const char *)data->data.data, data->data.len);
	*done = data->eof || data->data.len < want;
	agent_msg_release(&w->reply);
	return ret;
}

int agent_client_read_file(struct agent_client *c, int level, const char *path, size_t max_total,
			   uint64_t timeout_ms, char **data, size_t *len, nl_error_t *err)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	uint64_t deadline = now_ms() + timeout_ms;
	cleanup_free char *what = NULL, *shown = NULL;
	bool done = false;

	*data = NULL;
	if (len)
		*len = 0;
	if (!path || !*path)
		return nl_error(err, EINVAL, "%s: READ_FILE without a path", ac_agent_name(level));
	shown = ac_escape_str(path, AC_WHAT_MAX_BYTES);
	what = xasprintf("READ_FILE %s", shown);
	if (ac_check_level(level, what, err) < 0)
		return -1;
	if (!max_total)
		max_total = AGENT_CLIENT_READ_MAX_DEFAULT;
	while (!done && sb.len < max_total) {
		struct ac_wait w = { .level = level, .reply_type = AGENT_MSG_FILE_DATA, .what = what };
		size_t left = max_total - sb.len;
		size_t want = left < AGENT_MAX_DATA_BYTES ? left : AGENT_MAX_DATA_BYTES;
		uint64_t now = now_ms(), wait_ms = deadline > now ? deadline - now : 0;

		if (ac_read_chunk(c, &w, path, want, wait_ms, &sb, &done, err) < 0)
			return -1;
	}
	if (len)
		*len = sb.len;
	*data = strbuf_detach(&sb);
	return 0;
}

int agent_client_poll_logs(struct agent_client *c, uint64_t timeout_ms, nl_error_t *err)
{
	struct ac_wait w = { .level = 1, .what = "reading LOG lines" };

	if (ac_await(c, &w, now_ms() + timeout_ms, err) < 0)
		return nl_error_wrap(err, "L1 agent");
	return w.log_lines;
}
