/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent_proto.c - frames, the streaming decoder and the TLV message codec of the guest agent protocol
 *
 * The layout is described in docs/agent-protocol.md and agent_proto.h. This file is linked into the
 * orchestrator and into the static guest agent, so it uses nothing but libc and util.c/error.c.
 * All input is untrusted: lengths are checked before every access, the decoder never needs more than
 * one header plus AGENT_MAX_PAYLOAD bytes to make progress, and message decoding is a flat loop over
 * the fields driven by a per-type schema (no recursion; a RELAY's inner frame is parsed only when the
 * caller asks for it with agent_frame_parse()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 and virtio-net */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

/**
 * agent_crc32c() - CRC32C of a buffer, continuing from a previous value
 * @crc:	0 to start, or the result of a previous call over the preceding bytes
 * @buf:	data
 * @len:	bytes in @buf
 *
 * Return: the CRC32C (agent_crc32c(0, "123456789", 9) == 0xe3069283)
 */
uint32_t agent_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static const char *const msg_type_names[] = {
	[AGENT_MSG_HELLO] = "HELLO",		[AGENT_MSG_READY] = "READY",
	[AGENT_MSG_EXEC] = "EXEC",		[AGENT_MSG_EXEC_RESULT] = "EXEC_RESULT",
	[AGENT_MSG_READ_FILE] = "READ_FILE",	[AGENT_MSG_FILE_DATA] = "FILE_DATA",
	[AGENT_MSG_LOG] = "LOG",		[AGENT_MSG_PING] = "PING",
	[AGENT_MSG_PONG] = "PONG",		[AGENT_MSG_RELAY] = "RELAY",
	[AGENT_MSG_ERROR] = "ERROR",
};

/* agent_msg_type_name() - "EXEC" for AGENT_MSG_EXEC; "unknown" for anything else */
const char *agent_msg_type_name(unsigned int type)
{
	if (type < ARRAY_SIZE(msg_type_names) && msg_type_names[type])
		return msg_type_names[type];
	return "unknown";
}

static const char *const error_code_names[] = {
	[AGENT_ERR_CHECKSUM] = "checksum",	[AGENT_ERR_TOO_LARGE] = "too-large",
	[AGENT_ERR_VERSION] = "version",	[AGENT_ERR_BAD_PAYLOAD] = "bad-payload",
	[AGENT_ERR_UNKNOWN_TYPE] = "unknown-type", [AGENT_ERR_UNEXPECTED] = "unexpected",
	[AGENT_ERR_EXEC] = "exec",		[AGENT_ERR_IO] = "io",
	[AGENT_ERR_NO_RELAY] = "no-relay",	[AGENT_ERR_RELAY_DEPTH] = "relay-depth",
	[AGENT_ERR_RELAY_PEER] = "relay-peer",	[AGENT_ERR_BUSY] = "busy",
	[AGENT_ERR_INVALID] = "invalid",
};

/* agent_error_code_name() - short name of an AGENT_ERR_* code, "unknown" for anything else */
const char *agent_error_code_name(unsigned int code)
{
	if (code < ARRAY_SIZE(error_code_names) && error_code_names[code])
		return error_code_names[code];
	return "unknown";
}

/* ---- frames ---------------------------------------------------------------------------------- */

/**
 * agent_frame_encode() - append one frame to a buffer
 * @type:	AGENT_MSG_* (not checked: tests send unknown types on purpose)
 * @flags:	AGENT_FLAG_*
 * @request_id:	0 for unsolicited frames
 * @payload:	TLV payload, may be NULL when @payload_len is 0
 * @payload_len: bytes of payload, at most AGENT_MAX_PAYLOAD
 * @out:	buffer the frame is appended to
 * @err:	error
 *
 * Return: 0, or -AGENT_ERR_TOO_LARGE with nothing appended
 */
int agent_frame_encode(uint8_t type, uint16_t flags, uint32_t request_id, const void *payload,
		       size_t payload_len, struct strbuf *out, nl_error_t *err)
{
	uint8_t hdr[AGENT_HEADER_BYTES];

	if (payload_len > AGENT_MAX_PAYLOAD) {
		nl_error(err, 0, "%s frame payload of %zu bytes exceeds the protocol limit of %u bytes: "
			 "ask for less data", agent_msg_type_name(type), payload_len, AGENT_MAX_PAYLOAD);
		return -AGENT_ERR_TOO_LARGE;
	}
	memcpy(hdr, AGENT_MAGIC, AGENT_MAGIC_LEN);
	hdr[4] = AGENT_PROTO_VERSION;
	hdr[5] = type;
	put_le16(hdr + 6, flags);
	put_le32(hdr + 8, request_id);
	put_le32(hdr + 12, (uint32_t)payload_len);
	put_le32(hdr + 16, agent_crc32c(0, payload, payload_len));
	put_le32(hdr + 20, agent_crc32c(0, hdr, 20));
	strbuf_add(out, (const char *)hdr, sizeof(hdr));
	if (payload_len)
		strbuf_add(out, payload, payload_len);
	return 0;
}

/*
 * header_valid() - does @h (AGENT_HEADER_BYTES long) start a frame: magic and header CRC match?
 * A header with a good CRC is trusted for its length and request id even when its version or size is
 * then refused; anything else is garbage to skip.
 */
static bool header_valid(const uint8_t *h)
{
	return !memcmp(h, AGENT_MAGIC, AGENT_MAGIC_LEN) && agent_crc32c(0, h, 20) == get_le32(h + 20);
}

static void header_unpack(const uint8_t *h, struct agent_frame *frame)
{
	frame->version = h[4];
	frame->type = h[5];
	frame->flags = get_le16(h + 6);
	frame->request_id = get_le32(h + 8);
	frame->payload_len = get_le32(h + 12);
	frame->payload = NULL;
}

/* header_check() - version and size of a valid header; returns 0 or -AGENT_ERR_* with @err set */
static int header_check(const struct agent_frame *frame, nl_error_t *err)
{
	if (frame->version != AGENT_PROTO_VERSION) {
		nl_error(err, 0, "frame %u (%s) has protocol version %u, this side speaks %u: "
			 "use an agent and orchestrator built from the same nestlab", frame->request_id,
			 agent_msg_type_name(frame->type), frame->version, AGENT_PROTO_VERSION);
		return -AGENT_ERR_VERSION;
	}
	if (frame->payload_len > AGENT_MAX_PAYLOAD) {
		nl_error(err, 0, "frame %u (%s) announces a payload of %u bytes, more than the limit of "
			 "%u: the frame was dropped", frame->request_id, agent_msg_type_name(frame->type),
			 frame->payload_len, AGENT_MAX_PAYLOAD);
		return -AGENT_ERR_TOO_LARGE;
	}
	return 0;
}

static int payload_check(const struct agent_frame *frame, const uint8_t *payload, nl_error_t *err)
{
	if (agent_crc32c(0, payload, frame->payload_len) != get_le32(payload - AGENT_HEADER_BYTES + 16)) {
		nl_error(err, 0, "frame %u (%s): payload checksum mismatch, the channel corrupted it; "
			 "the frame was dropped", frame->request_id, agent_msg_type_name(frame->type));
		return -AGENT_ERR_CHECKSUM;
	}
	return 0;
}

/**
 * agent_frame_parse() - parse a buffer that must hold exactly one frame (the inside of a RELAY)
 * @buf:	bytes
 * @len:	length of @buf
 * @frame:	filled on success; the payload is a copy owned by @frame (agent_frame_release())
 * @err:	error
 *
 * On failure @frame still holds the header fields when the header itself was valid, so that an
 * ERROR reply can carry the request id.
 * Return: 0, or -AGENT_ERR_* (BAD_PAYLOAD for a short, overlong or not-a-frame buffer)
 */
int agent_frame_parse(const uint8_t *buf, size_t len, struct agent_frame *frame, nl_error_t *err)
{
	int rc;

	memset(frame, 0, sizeof(*frame));
	if (len < AGENT_HEADER_BYTES || !header_valid(buf)) {
		nl_error(err, 0, "inner frame of %zu bytes does not start with a valid frame header", len);
		return -AGENT_ERR_BAD_PAYLOAD;
	}
	header_unpack(buf, frame);
	rc = header_check(frame, err);
	if (rc < 0)
		return rc;
	if (len - AGENT_HEADER_BYTES != frame->payload_len) {
		nl_error(err, 0, "inner frame %u (%s) announces %u payload bytes but carries %zu",
			 frame->request_id, agent_msg_type_name(frame->type), frame->payload_len,
			 len - AGENT_HEADER_BYTES);
		return -AGENT_ERR_BAD_PAYLOAD;
	}
	rc = payload_check(frame, buf + AGENT_HEADER_BYTES, err);
	if (rc < 0)
		return rc;
	frame->payload = xmalloc(frame->payload_len);
	memcpy(frame->payload, buf + AGENT_HEADER_BYTES, frame->payload_len);
	return 0;
}

/* agent_frame_release() - free the payload of a frame (NULL-safe; usable as a cleanup function) */
void agent_frame_release(struct agent_frame *frame)
{
	if (!frame)
		return;
	free(frame->payload);
	frame->payload = NULL;
	frame->payload_len = 0;
}

/* ---- streaming decoder ----------------------------------------------------------------------- */

/* agent_decoder_init() - an empty decoder with zeroed counters */
void agent_decoder_init(struct agent_decoder *dec)
{
	memset(dec, 0, sizeof(*dec));
}

/* agent_decoder_release() - free the buffer; the counters stay readable */
void agent_decoder_release(struct agent_decoder *dec)
{
	free(dec->buf);
	dec->buf = NULL;
	dec->start = dec->len = dec->alloc = 0;
}

/* agent_decoder_pending() - received bytes not yet returned as a frame or skipped */
size_t agent_decoder_pending(const struct agent_decoder *dec)
{
	return dec->len - dec->start;
}

/**
 * agent_decoder_feed() - append received bytes
 * @dec:	decoder
 * @buf:	bytes as read from the channel, any split
 * @len:	number of bytes
 *
 * The decoder buffers what it is given; callers drain it with agent_decoder_next() after each feed,
 * which keeps the buffer below one header plus AGENT_MAX_PAYLOAD plus one read.
 */
void agent_decoder_feed(struct agent_decoder *dec, const void *buf, size_t len)
{
	if (!len)
		return;
	if (dec->start) {
		memmove(dec->buf, dec->buf + dec->start, dec->len - dec->start);
		dec->len -= dec->start;
		dec->start = 0;
	}
	if (dec->len + len > dec->alloc) {
		size_t want = dec->alloc ? dec->alloc : 4096;

		while (want < dec->len + len)
			want *= 2;
		dec->buf = xrealloc(dec->buf, want);
		dec->alloc = want;
	}
	memcpy(dec->buf + dec->len, buf, len);
	dec->len += len;
}

/*
 * decoder_sync() - drop discarded payload and garbage so that the buffer starts with the magic
 * Return: true when the buffer now starts with the (full) magic
 */
static bool decoder_sync(struct agent_decoder *dec)
{
	size_t avail = dec->len - dec->start;
	const uint8_t *p = dec->buf + dec->start;
	size_t i;

	if (dec->discard_remaining) {
		size_t n = avail < dec->discard_remaining ? avail : (size_t)dec->discard_remaining;

		dec->start += n;
		dec->discard_remaining -= n;
		dec->bytes_discarded += n;
		avail -= n;
		p += n;
		if (dec->discard_remaining)
			return false;
	}
	for (i = 0; i < avail; i++) {
		size_t n = avail - i < AGENT_MAGIC_LEN ? avail - i : AGENT_MAGIC_LEN;

		/* a partial magic at the very end is kept until more bytes arrive */
		if (!memcmp(p + i, AGENT_MAGIC, n))
			break;
	}
	dec->start += i;
	dec->bytes_skipped += i;
	return avail - i >= AGENT_MAGIC_LEN;
}

/**
 * agent_decoder_next() - take the next complete frame out of the decoder
 * @dec:	decoder fed with agent_decoder_feed()
 * @frame:	overwritten; on 1, the frame (payload copied, release with agent_frame_release() before
 *		reusing @frame); on a negative return, the header fields of the rejected frame (payload
 *		NULL) for the ERROR reply
 * @err:	set on a negative return
 *
 * Garbage before a frame is skipped (counted in bytes_skipped): the decoder scans for the magic and
 * accepts a header only if its own CRC matches, so a stray "NLAG" costs one byte of rescanning. A
 * valid header with a payload above AGENT_MAX_PAYLOAD is rejected and its announced payload dropped
 * as it arrives without being buffered; a payload with a bad checksum drops the whole frame. The
 * decoder stays usable after any error: call again until it returns 0.
 *
 * Return: 1 with a frame, 0 when more bytes are needed, or -AGENT_ERR_CHECKSUM / -AGENT_ERR_TOO_LARGE /
 * -AGENT_ERR_VERSION for a rejected frame
 */
int agent_decoder_next(struct agent_decoder *dec, struct agent_frame *frame, nl_error_t *err)
{
	const uint8_t *hdr;
	int rc;

	memset(frame, 0, sizeof(*frame));
	for (;;) {
		if (!decoder_sync(dec) || dec->len - dec->start < AGENT_HEADER_BYTES)
			return 0;
		hdr = dec->buf + dec->start;
		if (header_valid(hdr))
			break;
		dec->start++;
		dec->bytes_skipped++;
	}
	header_unpack(hdr, frame);
	rc = header_check(frame, err);
	if (rc < 0) {
		dec->start += AGENT_HEADER_BYTES;
		dec->discard_remaining = frame->payload_len;
		dec->frames_rejected++;
		return rc;
	}
	if (dec->len - dec->start - AGENT_HEADER_BYTES < frame->payload_len)
		return 0;
	rc = payload_check(frame, hdr + AGENT_HEADER_BYTES, err);
	dec->start += AGENT_HEADER_BYTES + (size_t)frame->payload_len;
	if (rc < 0) {
		dec->bytes_discarded += frame->payload_len;
		dec->frames_rejected++;
		return rc;
	}
	frame->payload = xmalloc(frame->payload_len);
	memcpy(frame->payload, hdr + AGENT_HEADER_BYTES, frame->payload_len);
	dec->frames_decoded++;
	if (dec->start == dec->len)
		dec->start = dec->len = 0;
	return 1;
}

/* ---- messages: a schema per type, one flat codec ---------------------------------------------- */

enum field_kind { F_STRING, F_U64, F_BOOL, F_BYTES, F_STRV };

struct field_spec {
	uint16_t tag;
	uint8_t kind;		/* enum field_kind: how the value is stored in struct agent_msg */
	bool required;
	size_t offset;		/* of the value inside struct agent_msg */
	const char *name;
};

#define FIELD(tag_, kind_, req_, member_) \
	{ AGENT_TAG_##tag_, F_##kind_, req_, offsetof(struct agent_msg, u.member_), #member_ }
#define MAX_FIELDS 16

static const struct field_spec hello_fields[] = {
	FIELD(CLIENT_VERSION, STRING, false, hello.client_version),
};
static const struct field_spec ready_fields[] = {
	FIELD(AGENT_VERSION, STRING, true, ready.agent_version),
	FIELD(LEVEL, STRING, true, ready.level),
	FIELD(HOSTNAME, STRING, true, ready.hostname),
	FIELD(UPTIME_MS, U64, false, ready.uptime_ms),
	FIELD(BOOT_ID, STRING, true, ready.boot_id),
	FIELD(HAS_RELAY, BOOL, false, ready.has_relay),
};
static const struct field_spec exec_fields[] = {
	FIELD(ARGV, STRV, true, exec.argv),
	FIELD(ENV, STRV, false, exec.env),
	FIELD(TIMEOUT_MS, U64, false, exec.timeout_ms),
	FIELD(KILL_GRACE_MS, U64, false, exec.kill_grace_ms),
	FIELD(MAX_OUTPUT_BYTES, U64, false, exec.max_output_bytes),
	FIELD(STDIN, BYTES, false, exec.stdin_data),
};
static const struct field_spec exec_result_fields[] = {
	FIELD(EXIT_STATUS, U64, true, exec_result.exit_status),
	FIELD(TERM_SIGNAL, U64, false, exec_result.term_signal),
	FIELD(TIMED_OUT, BOOL, false, exec_result.timed_out),
	FIELD(STDOUT, BYTES, false, exec_result.stdout_data),
	FIELD(STDERR, BYTES, false, exec_result.stderr_data),
	FIELD(STDOUT_TRUNCATED, BOOL, false, exec_result.stdout_truncated),
	FIELD(STDERR_TRUNCATED, BOOL, false, exec_result.stderr_truncated),
	FIELD(DURATION_MS, U64, false, exec_result.duration_ms),
};
static const struct field_spec read_file_fields[] = {
	FIELD(PATH, STRING, true, read_file.path),
	FIELD(OFFSET, U64, false, read_file.offset),
	FIELD(MAX_BYTES, U64, false, read_file.max_bytes),
};
static const struct field_spec file_data_fields[] = {
	FIELD(OFFSET, U64, false, file_data.offset),
	FIELD(DATA, BYTES, false, file_data.data),
	FIELD(EOF, BOOL, false, file_data.eof),
};
static const struct field_spec log_fields[] = {
	FIELD(SOURCE, STRING, true, log.source),
	FIELD(TEXT, STRING, true, log.text),
	FIELD(TIME_MS, U64, false, log.time_ms),
};
static const struct field_spec ping_fields[] = {
	FIELD(DATA, BYTES, false, ping.data),
};
static const struct field_spec relay_fields[] = {
	FIELD(FRAME, BYTES, true, relay.frame),
};
static const struct field_spec error_fields[] = {
	FIELD(CODE, U64, true, error.code),
	FIELD(ERRNO, U64, false, error.errnum),
	FIELD(MESSAGE, STRING, true, error.message),
};

struct msg_spec {
	const struct field_spec *fields;
	size_t n_fields;
};

#define SPEC(type_, fields_) [AGENT_MSG_##type_] = { fields_, ARRAY_SIZE(fields_) }
static const struct msg_spec msg_specs[] = {
	SPEC(HELLO, hello_fields),		SPEC(READY, ready_fields),
	SPEC(EXEC, exec_fields),		SPEC(EXEC_RESULT, exec_result_fields),
	SPEC(READ_FILE, read_file_fields),	SPEC(FILE_DATA, file_data_fields),
	SPEC(LOG, log_fields),			SPEC(PING, ping_fields),
	SPEC(PONG, ping_fields),		SPEC(RELAY, relay_fields),
	SPEC(ERROR, error_fields),
};

static const struct msg_spec *msg_spec_of(unsigned int type)
{
	if (type < ARRAY_SIZE(msg_specs) && msg_specs[type].fields)
		return &msg_specs[type];
	return NULL;
}

static uint8_t wire_kind(uint8_t field_kind)
{
	switch (field_kind) {
	case F_STRING:
	case F_STRV:
		return AGENT_KIND_STRING;
	case F_U64:
	case F_BOOL:
		return AGENT_KIND_U64;
	default:
		return AGENT_KIND_BYTES;
	}
}

static void tlv_put(struct strbuf *sb, uint16_t tag, uint8_t kind, const void *value, size_t len)
{
	uint8_t hdr[AGENT_TLV_HEADER_BYTES];

	put_le16(hdr, tag);
	hdr[2] = kind;
	hdr[3] = 0;
	put_le32(hdr + 4, (uint32_t)len);
	strbuf_add(sb, (const char *)hdr, sizeof(hdr));
	if (len)
		strbuf_add(sb, value, len);
}

static void tlv_put_u64(struct strbuf *sb, uint16_t tag, uint64_t v)
{
	uint8_t le[8];

	put_le64(le, v);
	tlv_put(sb, tag, AGENT_KIND_U64, le, sizeof(le));
}

static int field_missing(const struct agent_msg *msg, const struct field_spec *f, nl_error_t *err)
{
	return nl_error(err, 0, "%s: required field %s is not set", agent_msg_type_name(msg->type), f->name);
}

static int strv_encode(const struct agent_msg *msg, const struct field_spec *f, char *const *v,
		       struct strbuf *sb, nl_error_t *err)
{
	size_t n = strv_len(v);

	if (f->required && !n)
		return field_missing(msg, f, err);
	if (n > AGENT_MAX_LIST)
		return nl_error(err, 0, "%s: list %s has %zu entries, more than %d",
				agent_msg_type_name(msg->type), f->name, n, AGENT_MAX_LIST);
	for (size_t i = 0; i < n; i++)
		tlv_put(sb, f->tag, AGENT_KIND_STRING, v[i], strlen(v[i]));
	return 0;
}

/*
 * field_encode() - append the TLV(s) of one field of @msg; absent optional strings and bytes are
 * left out, numbers and flags are always written. Returns 0 or -1 with @err set.
 */
static int field_encode(const struct agent_msg *msg, const struct field_spec *f, struct strbuf *sb,
			nl_error_t *err)
{
	const char *base = (const char *)msg + f->offset;
	const struct agent_bytes *b;
	const char *s;

	switch (f->kind) {
	case F_STRING:
		s = *(char *const *)base;
		if (s)
			tlv_put(sb, f->tag, AGENT_KIND_STRING, s, strlen(s));
		else if (f->required)
			return field_missing(msg, f, err);
		return 0;
	case F_STRV:
		return strv_encode(msg, f, *(char **const *)base, sb, err);
	case F_U64:
		tlv_put_u64(sb, f->tag, *(const uint64_t *)base);
		return 0;
	case F_BOOL:
		tlv_put_u64(sb, f->tag, *(const bool *)base ? 1 : 0);
		return 0;
	default:
		b = (const struct agent_bytes *)base;
		if (b->len && !b->data)
			return nl_error(err, 0, "%s: field %s has a length but no data",
					agent_msg_type_name(msg->type), f->name);
		if (b->len > AGENT_MAX_PAYLOAD)
			return nl_error(err, 0, "%s: field %s of %zu bytes exceeds the payload limit",
					agent_msg_type_name(msg->type), f->name, b->len);
		if (b->data)
			tlv_put(sb, f->tag, AGENT_KIND_BYTES, b->data, b->len);
		else if (f->required)
			return field_missing(msg, f, err);
		return 0;
	}
}

/**
 * agent_msg_encode() - append a message as one frame
 * @msg:	type, flags, request id and the fields of that type (pointers are only read)
 * @out:	buffer the frame is appended to
 * @err:	error
 *
 * Return: 0, -AGENT_ERR_UNKNOWN_TYPE, -AGENT_ERR_INVALID for a missing required field, or
 * -AGENT_ERR_TOO_LARGE when the payload would exceed AGENT_MAX_PAYLOAD; nothing is appended on error.
 */
int agent_msg_encode(const struct agent_msg *msg, struct strbuf *out, nl_error_t *err)
{
	const struct msg_spec *spec = msg_spec_of(msg->type);
	cleanup_strbuf struct strbuf payload = STRBUF_INIT;

	if (!spec) {
		nl_error(err, 0, "cannot encode message type %u: not a protocol message", msg->type);
		return -AGENT_ERR_UNKNOWN_TYPE;
	}
	for (size_t i = 0; i < spec->n_fields; i++) {
		if (field_encode(msg, &spec->fields[i], &payload, err) < 0)
			return -AGENT_ERR_INVALID;
		if (payload.len > AGENT_MAX_PAYLOAD)
			break;	/* agent_frame_encode() reports it */
	}
	return agent_frame_encode(msg->type, msg->flags, msg->request_id, payload.str, payload.len, out,
				  err);
}

static const struct field_spec *field_by_tag(const struct msg_spec *spec, uint16_t tag, size_t *index)
{
	for (size_t i = 0; i < spec->n_fields; i++) {
		if (spec->fields[i].tag == tag) {
			*index = i;
			return &spec->fields[i];
		}
	}
	return NULL;
}

static void strv_append(char ***v, size_t count, const uint8_t *value, uint32_t len)
{
	*v = xrealloc(*v, (count + 2) * sizeof(char *));
	(*v)[count] = xstrndup((const char *)value, len);
	(*v)[count + 1] = NULL;
}

/*
 * field_store() - check one TLV value against its field and store it in @msg
 * @count:	entries stored so far for this field (list length for F_STRV)
 * Returns 0 or -1 with @err set; what was stored before an error is freed by agent_msg_release().
 */
static int field_store(struct agent_msg *msg, const struct field_spec *f, const uint8_t *value,
		       uint32_t len, size_t count, nl_error_t *err)
{
	char *base = (char *)msg + f->offset;
	struct agent_bytes *b;

	switch (f->kind) {
	case F_U64:
	case F_BOOL:
		if (len != 8)
			return nl_error(err, 0, "field %s: a number is 8 bytes, got %u", f->name, len);
		if (f->kind == F_U64) {
			*(uint64_t *)base = get_le64(value);
			return 0;
		}
		if (get_le64(value) > 1)
			return nl_error(err, 0, "field %s: a flag is 0 or 1", f->name);
		*(bool *)base = get_le64(value) == 1;
		return 0;
	case F_STRING:
	case F_STRV:
		if (memchr(value, '\0', len))
			return nl_error(err, 0, "field %s: string contains a NUL byte", f->name);
		if (f->kind == F_STRING)
			*(char **)base = xstrndup((const char *)value, len);
		else if (count >= AGENT_MAX_LIST)
			return nl_error(err, 0, "field %s: more than %d entries", f->name, AGENT_MAX_LIST);
		else
			strv_append((char ***)base, count, value, len);
		return 0;
	default:
		b = (struct agent_bytes *)base;
		b->data = xmalloc((size_t)len + 1);
		if (len)
			memcpy(b->data, value, len);
		b->data[len] = '\0';
		b->len = len;
		return 0;
	}
}

/*
 * tlv_decode_all() - walk the payload's TLVs into @msg (no recursion: RELAY's frame stays bytes)
 * Returns 0 or -1 with @err set.
 */
static int tlv_decode_all(const struct msg_spec *spec, const uint8_t *p, size_t len,
			  struct agent_msg *msg, nl_error_t *err)
{
	size_t count[MAX_FIELDS] = { 0 };
	size_t pos = 0;

	while (pos < len) {
		const struct field_spec *f;
		size_t index;
		uint32_t vlen;
		uint16_t tag;

		if (len - pos < AGENT_TLV_HEADER_BYTES)
			return nl_error(err, 0, "field header at offset %zu is cut short (%zu bytes left)",
					pos, len - pos);
		tag = get_le16(p + pos);
		vlen = get_le32(p + pos + 4);
		if (p[pos + 3] != 0)
			return nl_error(err, 0, "field at offset %zu: reserved byte is not 0", pos);
		if (vlen > len - pos - AGENT_TLV_HEADER_BYTES)
			return nl_error(err, 0, "field at offset %zu: length %u runs past the payload end",
					pos, vlen);
		f = field_by_tag(spec, tag, &index);
		if (!f)
			return nl_error(err, 0, "unknown field tag %u", tag);
		if (p[pos + 2] != wire_kind(f->kind))
			return nl_error(err, 0, "field %s: wrong value kind %u", f->name, p[pos + 2]);
		if (f->kind != F_STRV && count[index])
			return nl_error(err, 0, "field %s appears twice", f->name);
		if (field_store(msg, f, p + pos + AGENT_TLV_HEADER_BYTES, vlen, count[index], err) < 0)
			return -1;
		count[index]++;
		pos += AGENT_TLV_HEADER_BYTES + (size_t)vlen;
	}
	for (size_t i = 0; i < spec->n_fields; i++) {
		if (spec->fields[i].required && !count[i])
			return nl_error(err, 0, "required field %s is missing", spec->fields[i].name);
	}
	return 0;
}

/**
 * agent_msg_decode() - turn a frame's TLV payload into a typed message
 * @frame:	a frame from agent_decoder_next() or agent_frame_parse()
 * @msg:	filled on success (release with agent_msg_release()); zeroed apart from type, flags and
 *		request id on failure
 * @err:	error, naming the message type and request id
 *
 * Rejects unknown types, truncated or overlong fields, unknown tags, wrong kinds, duplicate fields
 * (only argv and env may repeat), strings with NUL bytes, flags other than 0/1 and missing required
 * fields.
 * Return: 0, -AGENT_ERR_UNKNOWN_TYPE or -AGENT_ERR_BAD_PAYLOAD
 */
int agent_msg_decode(const struct agent_frame *frame, struct agent_msg *msg, nl_error_t *err)
{
	const struct msg_spec *spec = msg_spec_of(frame->type);

	memset(msg, 0, sizeof(*msg));
	msg->type = frame->type;
	msg->flags = frame->flags;
	msg->request_id = frame->request_id;
	if (!spec) {
		nl_error(err, 0, "frame %u has unknown message type %u: the peer speaks a newer protocol "
			 "or the channel is corrupted", frame->request_id, frame->type);
		return -AGENT_ERR_UNKNOWN_TYPE;
	}
	if (frame->payload_len && !frame->payload) {
		nl_error(err, 0, "frame %u (%s) has no payload buffer", frame->request_id,
			 agent_msg_type_name(frame->type));
		return -AGENT_ERR_BAD_PAYLOAD;
	}
	if (tlv_decode_all(spec, frame->payload, frame->payload_len, msg, err) < 0) {
		agent_msg_release(msg);
		nl_error_wrap(err, "frame %u (%s)", frame->request_id, agent_msg_type_name(frame->type));
		return -AGENT_ERR_BAD_PAYLOAD;
	}
	return 0;
}

/**
 * agent_msg_release() - free the fields of a decoded message and zero them
 * @msg:	a message filled by agent_msg_decode(); not for messages built by hand for encoding
 *		whose pointers the caller owns
 */
void agent_msg_release(struct agent_msg *msg)
{
	const struct msg_spec *spec;

	if (!msg)
		return;
	spec = msg_spec_of(msg->type);
	for (size_t i = 0; spec && i < spec->n_fields; i++) {
		char *base = (char *)msg + spec->fields[i].offset;

		switch (spec->fields[i].kind) {
		case F_STRING:
			free(*(char **)base);
			break;
		case F_STRV:
			strv_free(*(char ***)base);
			break;
		case F_BYTES:
			free(((struct agent_bytes *)base)->data);
			break;
		default:
			break;
		}
	}
	memset(&msg->u, 0, sizeof(msg->u));
}
