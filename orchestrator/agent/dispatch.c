/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dispatch.c - what the agent does with each frame: answer the host, forward to and from L2
 *
 * Frames from the host port are decoded (agent_msg_decode) and answered: HELLO with READY, PING with
 * PONG, EXEC and READ_FILE through exec.c and files.c, RELAY by forwarding its inner frame to the L2
 * agent. Frames from the relay (the L2 agent) are wrapped, unmodified, in a RELAY to the host. Every
 * failure becomes an ERROR frame carrying the request id of the frame that caused it.
 *
 * Relay depth is limited to one (docs/agent-protocol.md, "Relay"): only an l1 agent relays, an inner
 * frame must carry AGENT_FLAG_INNER and must not itself be a RELAY, and the l1 agent refuses frames with
 * AGENT_FLAG_INNER on its host port, so a frame meant for L2 cannot run at L1 after a resync.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

/* send_dropped_notice() - one LOG saying how many lines were dropped while the port was full */
static void send_dropped_notice(struct agent *a, struct channel *port)
{
	cleanup_free char *text = xasprintf("%llu log lines were dropped: the host did not read the port",
					    (unsigned long long)port->log_dropped);
	struct agent_msg msg = { .type = AGENT_MSG_LOG };

	port->log_dropped = 0;
	msg.u.log.source = "agent";
	msg.u.log.text = text;
	msg.u.log.time_ms = clock_boottime_ms();
	agent_send(a, &msg);
}

/**
 * agent_send() - encode a message and queue it on the host port
 * @a:		agent
 * @msg:	message; AGENT_FLAG_INNER is added at level l2
 *
 * A message that cannot be encoded (too large) is replaced by an ERROR with the same request id. LOG
 * frames are dropped, and counted, while the port has more than AGENT_OUTQ_LOG_LIMIT bytes queued.
 */
void agent_send(struct agent *a, struct agent_msg *msg)
{
	struct channel *port = &a->channels[CHANNEL_PORT];
	cleanup_strbuf struct strbuf out = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	int rc;

	if (msg->type == AGENT_MSG_LOG && port->outq.len - port->out_off > AGENT_OUTQ_LOG_LIMIT) {
		port->log_dropped++;
		return;
	}
	if (msg->type == AGENT_MSG_LOG && port->log_dropped)
		send_dropped_notice(a, port);
	msg->flags |= a->send_flags;
	rc = agent_msg_encode(msg, &out, &err);
	if (rc < 0) {
		if (msg->type == AGENT_MSG_ERROR) {
			fprintf(stderr, "nestlab-agent: cannot encode ERROR reply: %s\n", err->msg);
			return;
		}
		agent_send_error(a, msg->request_id, -rc, 0, "%s", err->msg);
		return;
	}
	channel_send_bytes(a, port, out.str, out.len);
}

/**
 * agent_send_error() - send an ERROR frame to the host
 * @a:		agent
 * @request_id:	id of the frame the error is about (0 if none)
 * @code:	AGENT_ERR_*
 * @errnum:	errno in the guest, or 0
 * @fmt:	what went wrong and what to do
 */
void agent_send_error(struct agent *a, uint32_t request_id, int code, int errnum, const char *fmt, ...)
{
	cleanup_free char *text = NULL;
	struct agent_msg msg = { .type = AGENT_MSG_ERROR, .request_id = request_id };
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	msg.u.error.code = (uint64_t)code;
	msg.u.error.errnum = (uint64_t)errnum;
	msg.u.error.message = text;
	agent_send(a, &msg);
}

/* read_line_file() - first line of a small file (boot_id), or "" */
static void read_line_file(const char *path, char *buf, size_t size)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* agent_send_ready() - READY with this guest's identity; @request_id 0 when unsolicited */
void agent_send_ready(struct agent *a, uint32_t request_id)
{
	struct agent_msg msg = { .type = AGENT_MSG_READY, .request_id = request_id };
	char hostname[256] = "", boot_id[64];

	if (gethostname(hostname, sizeof(hostname) - 1) < 0)
		hostname[0] = '\0';
	hostname[sizeof(hostname) - 1] = '\0';
	read_line_file("/proc/sys/kernel/random/boot_id", boot_id, sizeof(boot_id));
	msg.u.ready.agent_version = NESTLAB_VERSION;
	msg.u.ready.level = (char *)a->level;
	msg.u.ready.hostname = hostname;
	msg.u.ready.uptime_ms = clock_boottime_ms();
	msg.u.ready.boot_id = boot_id;
	msg.u.ready.has_relay = a->channels[CHANNEL_RELAY].mode != CHANNEL_UNUSED;
	agent_send(a, &msg);
}

/*
 * relay_forward() - send a RELAY's inner frame to the L2 agent
 * Return: 0, or -AGENT_ERR_* with @err set (the caller sends the ERROR)
 */
static int relay_forward(struct agent *a, const struct agent_msg *msg, nl_error_t *err)
{
	struct channel *relay = &a->channels[CHANNEL_RELAY];
	const struct agent_bytes *inner = &msg->u.relay.frame;
	cleanup_agent_frame struct agent_frame frame = { 0 };
	int rc;

	if (relay->mode == CHANNEL_UNUSED) {
		nl_error(err, 0, "this %s agent has no relay to a next level (start it with --relay PATH), "
			 "or the relay was closed", a->level);
		return -AGENT_ERR_NO_RELAY;
	}
	if (channel_connect(a, relay, err) < 0) {
		nl_error_wrap(err, "the L2 agent is not reachable (is L2 running?)");
		return -AGENT_ERR_NO_RELAY;
	}
	rc = agent_frame_parse(inner->data, inner->len, &frame, err);
	if (rc < 0) {
		nl_error_wrap(err, "RELAY %u", msg->request_id);
		return rc;
	}
	if (frame.type == AGENT_MSG_RELAY || !(frame.flags & AGENT_FLAG_INNER)) {
		nl_error(err, 0, "RELAY %u: the inner frame %s; relays nest one level only and inner "
			 "frames carry AGENT_FLAG_INNER", msg->request_id,
			 frame.type == AGENT_MSG_RELAY ? "is itself a RELAY" : "lacks AGENT_FLAG_INNER");
		return -AGENT_ERR_RELAY_DEPTH;
	}
	if (relay->outq.len - relay->out_off > AGENT_RELAY_QUEUE_LIMIT) {
		nl_error(err, 0, "RELAY %u: %zu bytes already wait for the L2 agent, which is not reading; "
			 "retry later", msg->request_id, relay->outq.len - relay->out_off);
		return -AGENT_ERR_BUSY;
	}
	channel_send_bytes(a, relay, inner->data, inner->len);
	return 0;
}

/* handle_request() - act on one decoded request; returns 0 or -AGENT_ERR_* with @err set */
static int handle_request(struct agent *a, const struct agent_msg *msg, nl_error_t *err)
{
	struct agent_msg reply = { .request_id = msg->request_id };

	switch (msg->type) {
	case AGENT_MSG_HELLO:
		agent_send_ready(a, msg->request_id);
		return 0;
	case AGENT_MSG_PING:
		reply.type = AGENT_MSG_PONG;
		reply.u.ping.data = msg->u.ping.data;
		agent_send(a, &reply);
		return 0;
	case AGENT_MSG_EXEC:
		return exec_start(a, msg, err);
	case AGENT_MSG_READ_FILE:
		return files_read(a, msg, err);
	case AGENT_MSG_RELAY:
		return relay_forward(a, msg, err);
	default:
		nl_error(err, 0, "frame %u: %s is not a request an agent accepts", msg->request_id,
			 agent_msg_type_name(msg->type));
		return -AGENT_ERR_UNEXPECTED;
	}
}

/**
 * dispatch_port_frame() - handle one frame from the host
 * @a:		agent
 * @frame:	a frame with a valid header and checksum; its payload is still untrusted
 */
void dispatch_port_frame(struct agent *a, const struct agent_frame *frame)
{
	cleanup_agent_msg struct agent_msg msg = { 0 };
	cleanup_error nl_error_t err = NULL;
	int rc;

	if (!a->send_flags && (frame->flags & AGENT_FLAG_INNER)) {
		agent_send_error(a, frame->request_id, AGENT_ERR_RELAY_DEPTH, 0,
				 "frame %u (%s) carries AGENT_FLAG_INNER but reached the %s agent directly: "
				 "frames for the next level go inside a RELAY", frame->request_id,
				 agent_msg_type_name(frame->type), a->level);
		return;
	}
	rc = agent_msg_decode(frame, &msg, &err);
	if (rc == 0)
		rc = handle_request(a, &msg, &err);
	if (rc < 0)
		agent_send_error(a, frame->request_id, -rc, err ? err->errnum : 0, "%s",
				 err ? err->msg : "request failed");
}

/**
 * dispatch_relay_frame() - wrap one frame from the L2 agent in a RELAY to the host
 * @a:		agent (level l1)
 * @frame:	a frame with a valid header and checksum from the relay channel
 *
 * The payload is not decoded here: the host decodes it. The frame must carry AGENT_FLAG_INNER and must
 * not be a RELAY; the wrapper reuses the inner request id so that the host can match replies.
 */
void dispatch_relay_frame(struct agent *a, const struct agent_frame *frame)
{
	cleanup_strbuf struct strbuf inner = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg msg = { .type = AGENT_MSG_RELAY, .request_id = frame->request_id };

	if (frame->type == AGENT_MSG_RELAY || !(frame->flags & AGENT_FLAG_INNER)) {
		agent_send_error(a, frame->request_id, AGENT_ERR_RELAY_PEER, 0,
				 "the L2 agent sent frame %u (%s) %s; dropped", frame->request_id,
				 agent_msg_type_name(frame->type),
				 frame->type == AGENT_MSG_RELAY ? "which is a RELAY" :
								  "without AGENT_FLAG_INNER");
		return;
	}
	if (agent_frame_encode(frame->type, frame->flags, frame->request_id, frame->payload,
			       frame->payload_len, &inner, &err) < 0 ||
	    inner.len > AGENT_MAX_INNER_FRAME) {
		agent_send_error(a, frame->request_id, AGENT_ERR_RELAY_PEER, 0,
				 "the L2 agent's frame %u (%s, %u payload bytes) is too large to relay",
				 frame->request_id, agent_msg_type_name(frame->type), frame->payload_len);
		return;
	}
	msg.u.relay.frame.data = (uint8_t *)inner.str;
	msg.u.relay.frame.len = inner.len;
	agent_send(a, &msg);
}

/**
 * dispatch_decode_error() - answer a frame the decoder rejected
 * @a:		agent
 * @ch:		channel it came from
 * @frame:	header fields of the rejected frame (request id for the reply)
 * @code:	AGENT_ERR_* from the decoder
 * @message:	the decoder's message
 */
void dispatch_decode_error(struct agent *a, struct channel *ch, const struct agent_frame *frame,
			   int code, const char *message)
{
	if (ch->id == CHANNEL_PORT)
		agent_send_error(a, frame->request_id, code, 0, "%s", message);
	else
		agent_send_error(a, frame->request_id, AGENT_ERR_RELAY_PEER, 0, "from the L2 agent: %s (%s)",
				 message, agent_error_code_name((unsigned int)code));
}
