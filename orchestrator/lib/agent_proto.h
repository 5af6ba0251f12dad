/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent_proto.h - the wire format between the orchestrator and the guest agents (docs/agent-protocol.md)
 *
 * Shared by the host (which talks to the L1 agent over virtio-serial) and the agent itself (which also
 * talks to the L2 agent when it relays). Everything from a guest is untrusted input: every length is
 * checked against what was received, nothing recurses on received data, and a bad frame or field is an
 * error the caller answers with an ERROR frame, never a crash.
 *
 * Layers:
 *   frame    24-byte header (magic "NLAG", version, type, flags, request id, payload length, CRC32C of
 *            the payload, CRC32C of the header) followed by the payload; agent_frame_encode/parse.
 *   decoder  a streaming reassembler for a byte stream (agent_decoder_feed + agent_decoder_next) that
 *            skips and counts garbage, discards oversized frames and rejects bad checksums.
 *   message  the payload is a list of TLV fields (tag u16, kind u8, 0, length u32, value); each message
 *            type has a schema, so agent_msg_encode/agent_msg_decode turn frames into typed structs.
 *
 * Errors follow nestlab's contract (error.h), and the negative return value is also the protocol error
 * code to send back (-AGENT_ERR_*), so that `rc = agent_msg_decode(...); if (rc < 0) reply(-rc, err)`.
 */
#ifndef NESTLAB_AGENT_PROTO_H
#define NESTLAB_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define AGENT_PROTO_VERSION 1
#define AGENT_MAGIC "NLAG"
#define AGENT_MAGIC_LEN 4
#define AGENT_HEADER_BYTES 24
#define AGENT_TLV_HEADER_BYTES 8
/* largest payload either side accepts; a RELAY wraps a whole frame, so inner frames are a bit smaller */
#define AGENT_MAX_PAYLOAD (1024u * 1024u)
#define AGENT_MAX_INNER_FRAME (AGENT_MAX_PAYLOAD - AGENT_TLV_HEADER_BYTES)
/* largest single data field an agent puts in a reply (file data; stdout and stderr get half each) */
#define AGENT_MAX_DATA_BYTES (768u * 1024u)
#define AGENT_MAX_EXEC_OUTPUT (AGENT_MAX_DATA_BYTES / 2)
/* most entries of a repeated field (argv, env) */
#define AGENT_MAX_LIST 4096

/* header flags */
#define AGENT_FLAG_INNER 0x0001u	/* frame travels between the L1 and the L2 agent (inside a RELAY) */
#define AGENT_FLAGS_KNOWN AGENT_FLAG_INNER

enum agent_msg_type {
	AGENT_MSG_HELLO = 1,		/* host -> agent: identify yourself */
	AGENT_MSG_READY = 2,		/* agent -> host: identity; unsolicited (id 0) at start, or HELLO's reply */
	AGENT_MSG_EXEC = 3,		/* host -> agent: run a command */
	AGENT_MSG_EXEC_RESULT = 4,	/* agent -> host */
	AGENT_MSG_READ_FILE = 5,	/* host -> agent */
	AGENT_MSG_FILE_DATA = 6,	/* agent -> host */
	AGENT_MSG_LOG = 7,		/* agent -> host, unsolicited (id 0): one line of a watched file */
	AGENT_MSG_PING = 8,
	AGENT_MSG_PONG = 9,
	AGENT_MSG_RELAY = 10,		/* either way between host and L1: wraps one frame for/from L2 */
	AGENT_MSG_ERROR = 11,		/* agent -> host: a request failed or a frame was rejected */
	AGENT_MSG_TYPE_MAX = AGENT_MSG_ERROR,
};

/* protocol error codes, in ERROR frames and as negative return values of the decoders */
enum agent_error_code {
	AGENT_ERR_CHECKSUM = 1,		/* payload CRC32C mismatch */
	AGENT_ERR_TOO_LARGE = 2,	/* payload length above AGENT_MAX_PAYLOAD; payload discarded */
	AGENT_ERR_VERSION = 3,		/* header version is not AGENT_PROTO_VERSION */
	AGENT_ERR_BAD_PAYLOAD = 4,	/* TLV malformed: short, unknown tag, wrong kind, duplicate, missing */
	AGENT_ERR_UNKNOWN_TYPE = 5,	/* message type not known to this side */
	AGENT_ERR_UNEXPECTED = 6,	/* known type, but not one this side accepts (e.g. EXEC_RESULT to agent) */
	AGENT_ERR_EXEC = 7,		/* the command could not be started */
	AGENT_ERR_IO = 8,		/* READ_FILE failed */
	AGENT_ERR_NO_RELAY = 9,		/* RELAY to an agent with no relay port, or the L2 agent unreachable */
	AGENT_ERR_RELAY_DEPTH = 10,	/* RELAY inside RELAY, or inner/outer flags wrong */
	AGENT_ERR_RELAY_PEER = 11,	/* the L2 agent sent a malformed frame */
	AGENT_ERR_BUSY = 12,		/* too many commands running */
	AGENT_ERR_INVALID = 13,		/* well-formed request with a bad value (empty argv, ...) */
	AGENT_ERR_MAX = AGENT_ERR_INVALID,
};

/* TLV field tags; one namespace for all messages (docs/agent-protocol.md lists which message has which) */
enum agent_tag {
	AGENT_TAG_CLIENT_VERSION = 1,
	AGENT_TAG_AGENT_VERSION = 2,
	AGENT_TAG_LEVEL = 3,
	AGENT_TAG_HOSTNAME = 4,
	AGENT_TAG_UPTIME_MS = 5,
	AGENT_TAG_BOOT_ID = 6,
	AGENT_TAG_HAS_RELAY = 7,
	AGENT_TAG_ARGV = 16,
	AGENT_TAG_ENV = 17,
	AGENT_TAG_TIMEOUT_MS = 18,
	AGENT_TAG_KILL_GRACE_MS = 19,
	AGENT_TAG_MAX_OUTPUT_BYTES = 20,
	AGENT_TAG_STDIN = 21,
	AGENT_TAG_EXIT_STATUS = 32,
	AGENT_TAG_TERM_SIGNAL = 33,
	AGENT_TAG_TIMED_OUT = 34,
	AGENT_TAG_STDOUT = 35,
	AGENT_TAG_STDERR = 36,
	AGENT_TAG_STDOUT_TRUNCATED = 37,
	AGENT_TAG_STDERR_TRUNCATED = 38,
	AGENT_TAG_DURATION_MS = 39,
	AGENT_TAG_PATH = 48,
	AGENT_TAG_OFFSET = 49,
	AGENT_TAG_MAX_BYTES = 50,
	AGENT_TAG_DATA = 51,
	AGENT_TAG_EOF = 52,
	AGENT_TAG_SOURCE = 64,
	AGENT_TAG_TEXT = 65,
	AGENT_TAG_TIME_MS = 66,
	AGENT_TAG_FRAME = 80,
	AGENT_TAG_CODE = 96,
	AGENT_TAG_ERRNO = 97,
	AGENT_TAG_MESSAGE = 98,
};

/* TLV value kinds on the wire */
enum agent_kind {
	AGENT_KIND_STRING = 1,	/* bytes without NUL; decoded to a NUL-terminated char * */
	AGENT_KIND_U64 = 2,	/* exactly 8 bytes, little endian */
	AGENT_KIND_BYTES = 3,	/* arbitrary bytes */
};

/* one frame: header fields and the payload (owned by the frame when it came from a decoder or parse) */
struct agent_frame {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t request_id;
	uint32_t payload_len;
	uint8_t *payload;
};

/* a bytes value; decoded values are owned by the message and NUL terminated (not counted in len) */
struct agent_bytes {
	uint8_t *data;
	size_t len;
};

struct agent_hello {
	char *client_version;		/* optional */
};

struct agent_ready {
	char *agent_version;
	char *level;			/* "l1" or "l2" */
	char *hostname;
	uint64_t uptime_ms;		/* CLOCK_BOOTTIME of the guest */
	char *boot_id;			/* /proc/sys/kernel/random/boot_id */
	bool has_relay;			/* the agent was started with --relay */
};

struct agent_exec {
	char **argv;			/* NULL terminated, at least one entry; no shell unless argv names one */
	char **env;			/* optional "KEY=VALUE" entries added to the agent's environment */
	uint64_t timeout_ms;		/* 0: AGENT_DEFAULT_TIMEOUT_MS */
	uint64_t kill_grace_ms;		/* SIGTERM to SIGKILL; 0: AGENT_DEFAULT_KILL_GRACE_MS */
	uint64_t max_output_bytes;	/* per stream; 0 or above AGENT_MAX_EXEC_OUTPUT: AGENT_MAX_EXEC_OUTPUT */
	struct agent_bytes stdin_data;	/* optional; without it stdin is /dev/null */
};
#define AGENT_DEFAULT_TIMEOUT_MS 60000
#define AGENT_DEFAULT_KILL_GRACE_MS 2000

struct agent_exec_result {
	uint64_t exit_status;		/* when term_signal == 0 */
	uint64_t term_signal;		/* signal that ended the command, or 0 */
	bool timed_out;
	struct agent_bytes stdout_data;
	struct agent_bytes stderr_data;
	bool stdout_truncated;
	bool stderr_truncated;
	uint64_t duration_ms;
};

struct agent_read_file {
	char *path;
	uint64_t offset;
	uint64_t max_bytes;		/* 0 or above AGENT_MAX_DATA_BYTES: AGENT_MAX_DATA_BYTES */
};

struct agent_file_data {
	uint64_t offset;
	struct agent_bytes data;
	bool eof;			/* the read hit end of file (false: max_bytes reached or would block) */
};

struct agent_log {
	char *source;			/* name given to --watch, e.g. "kmsg", or "agent" */
	char *text;			/* one line without its newline */
	uint64_t time_ms;		/* guest CLOCK_BOOTTIME when the line was read */
};

struct agent_ping {
	struct agent_bytes data;	/* echoed in the PONG */
};

struct agent_relay {
	struct agent_bytes frame;	/* one complete frame with AGENT_FLAG_INNER set */
};

struct agent_error {
	uint64_t code;			/* enum agent_error_code */
	uint64_t errnum;		/* errno in the guest, or 0 */
	char *message;
};

/* a typed message: the header's type and request id plus the fields of that type */
struct agent_msg {
	uint8_t type;
	uint16_t flags;
	uint32_t request_id;		/* 0 for unsolicited frames; requests use non-zero ids */
	union {
		struct agent_hello hello;
		struct agent_ready ready;
		struct agent_exec exec;
		struct agent_exec_result exec_result;
		struct agent_read_file read_file;
		struct agent_file_data file_data;
		struct agent_log log;
		struct agent_ping ping;		/* PING and PONG */
		struct agent_relay relay;
		struct agent_error error;
	} u;
};

/* streaming decoder state; see agent_decoder_next() */
struct agent_decoder {
	uint8_t *buf;
	size_t start;			/* first unconsumed byte */
	size_t len;			/* end of received data */
	size_t alloc;
	uint64_t discard_remaining;	/* payload bytes of a rejected oversized frame still to drop */
	uint64_t bytes_skipped;		/* garbage dropped while looking for a valid header */
	uint64_t bytes_discarded;	/* payload bytes of rejected frames */
	uint64_t frames_decoded;
	uint64_t frames_rejected;
};

uint32_t agent_crc32c(uint32_t crc, const void *buf, size_t len);
const char *agent_msg_type_name(unsigned int type);
const char *agent_error_code_name(unsigned int code);

int agent_frame_encode(uint8_t type, uint16_t flags, uint32_t request_id, const void *payload,
		       size_t payload_len, struct strbuf *out, nl_error_t *err);
int agent_frame_parse(const uint8_t *buf, size_t len, struct agent_frame *frame, nl_error_t *err);
void agent_frame_release(struct agent_frame *frame);

void agent_decoder_init(struct agent_decoder *dec);
void agent_decoder_release(struct agent_decoder *dec);
void agent_decoder_feed(struct agent_decoder *dec, const void *buf, size_t len);
int agent_decoder_next(struct agent_decoder *dec, struct agent_frame *frame, nl_error_t *err);
size_t agent_decoder_pending(const struct agent_decoder *dec);

int agent_msg_encode(const struct agent_msg *msg, struct strbuf *out, nl_error_t *err);
int agent_msg_decode(const struct agent_frame *frame, struct agent_msg *msg, nl_error_t *err);
void agent_msg_release(struct agent_msg *msg);

#define cleanup_agent_frame __attribute__((cleanup(agent_frame_release)))
#define cleanup_agent_msg __attribute__((cleanup(agent_msg_release)))
#define cleanup_agent_decoder __attribute__((cleanup(agent_decoder_release)))

#endif /* NESTLAB_AGENT_PROTO_H */
