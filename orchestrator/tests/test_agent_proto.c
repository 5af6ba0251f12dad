/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_agent_proto.c - the agent wire format (lib/agent_proto.c) and the real agent binary end to end
 *
 * The first half drives the codec directly: round trips of every message, byte-by-byte feeding,
 * garbage, truncation, oversized and corrupted frames, and malformed TLV payloads. The second half runs
 * the built nestlab-agent ($NESTLAB_AGENT, default build/nestlab-agent) as a child on a socketpair
 * (--fd 3) and talks to it as the orchestrator would: HELLO, EXEC with and without timeouts, READ_FILE,
 * malformed frames followed by continued service, and RELAY through an l1 agent to an l2 agent. Every
 * wait has a timeout; agent stderr is copied into this test's log as diagnostics.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_proto.h"
#include "error.h"
#include "test.h"

#define RECV_TIMEOUT_MS 5000

/* ---- helpers: hand-made frames and TLVs ---------------------------------------------------- */

static void put_tlv(struct strbuf *sb, uint16_t tag, uint8_t kind, const void *v, uint32_t len)
{
	uint8_t h[8] = { (uint8_t)tag, (uint8_t)(tag >> 8), kind, 0,
			 (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };

	strbuf_add(sb, (const char *)h, sizeof(h));
	if (len)
		strbuf_add(sb, v, len);
}

static void put_tlv_u64(struct strbuf *sb, uint16_t tag, uint64_t v)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	put_tlv(sb, tag, AGENT_KIND_U64, le, 8);
}

static void put_tlv_str(struct strbuf *sb, uint16_t tag, const char *s)
{
	put_tlv(sb, tag, AGENT_KIND_STRING, s, (uint32_t)strlen(s));
}

/* frame_with_payload() - a frame of @type around a hand-made payload */
static void frame_with_payload(struct strbuf *out, uint8_t type, uint32_t id, const struct strbuf *p)
{
	cleanup_error nl_error_t err = NULL;

	agent_frame_encode(type, 0, id, p->str, p->len, out, &err);
}

/* header_with_len() - a header with a valid header CRC announcing @len payload bytes */
static void header_with_len(uint8_t hdr[AGENT_HEADER_BYTES], uint8_t version, uint32_t id, uint32_t len)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	uint32_t crc;

	agent_frame_encode(AGENT_MSG_PING, 0, id, NULL, 0, &sb, &err);
	memcpy(hdr, sb.str, AGENT_HEADER_BYTES);
	hdr[4] = version;
	for (int i = 0; i < 4; i++)
		hdr[12 + i] = (uint8_t)(len >> (8 * i));
	crc = agent_crc32c(0, hdr, 20);
	for (int i = 0; i < 4; i++)
		hdr[20 + i] = (uint8_t)(crc >> (8 * i));
}

/* decode_one() - feed @buf and decode exactly one message into @msg; returns the decoder's result */
static int decode_one(const void *buf, size_t len, struct agent_msg *msg, nl_error_t *err)
{
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_agent_frame struct agent_frame frame = { 0 };
	int rc;

	agent_decoder_init(&dec);
	agent_decoder_feed(&dec, buf, len);
	rc = agent_decoder_next(&dec, &frame, err);
	if (rc <= 0)
		return rc < 0 ? rc : -1000;
	return agent_msg_decode(&frame, msg, err);
}

static int roundtrip(const struct agent_msg *in, struct agent_msg *out)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	int rc = agent_msg_encode(in, &sb, &err);

	if (rc == 0)
		rc = decode_one(sb.str, sb.len, out, &err);
	if (rc < 0)
		test_diag("roundtrip of %s: %d %s", agent_msg_type_name(in->type), rc, err ? err->msg : "");
	return rc;
}

static bool bytes_eq(const struct agent_bytes *b, const void *data, size_t len)
{
	return b->len == len && (!len || !memcmp(b->data, data, len));
}

/* ---- codec tests --------------------------------------------------------------------------- */

static int test_crc32c(void)
{
	CHECK(agent_crc32c(0, "123456789", 9) == 0xe3069283);
	CHECK(agent_crc32c(agent_crc32c(0, "1234", 4), "56789", 5) == 0xe3069283);
	CHECK(agent_crc32c(0, NULL, 0) == 0);
	return TEST_PASS;
}

static int test_roundtrip_hello_ready(void)
{
	cleanup_agent_msg struct agent_msg h = { 0 }, r = { 0 };
	struct agent_msg hello = { .type = AGENT_MSG_HELLO, .request_id = 1 };
	struct agent_msg ready = { .type = AGENT_MSG_READY, .request_id = 2, .flags = AGENT_FLAG_INNER };

	hello.u.hello.client_version = "nestlab 1.0";
	ready.u.ready = (struct agent_ready){ "v1", "l2", "l2-guest", 12345, "b00t-1d", true };
	CHECK(roundtrip(&hello, &h) == 0);
	CHECK(h.type == AGENT_MSG_HELLO && h.request_id == 1);
	CHECK_STR(h.u.hello.client_version, "nestlab 1.0");
	CHECK(roundtrip(&ready, &r) == 0);
	CHECK(r.request_id == 2 && r.flags == AGENT_FLAG_INNER);
	CHECK_STR(r.u.ready.agent_version, "v1");
	CHECK_STR(r.u.ready.level, "l2");
	CHECK_STR(r.u.ready.hostname, "l2-guest");
	CHECK_STR(r.u.ready.boot_id, "b00t-1d");
	CHECK(r.u.ready.uptime_ms == 12345 && r.u.ready.has_relay);
	return TEST_PASS;
}

static int test_roundtrip_exec(void)
{
	cleanup_agent_msg struct agent_msg e = { 0 }, r = { 0 };
	char *argv[] = { "sh", "-c", "echo $X", "", NULL };
	char *env[] = { "X=1", NULL };
	struct agent_msg exec = { .type = AGENT_MSG_EXEC, .request_id = 7 };
	struct agent_msg res = { .type = AGENT_MSG_EXEC_RESULT, .request_id = 7 };

	exec.u.exec = (struct agent_exec){ argv, env, 1500, 200, 4096, { (uint8_t *)"in\0put", 6 } };
	CHECK(roundtrip(&exec, &e) == 0);
	CHECK(strv_len(e.u.exec.argv) == 4);
	CHECK_STR(e.u.exec.argv[2], "echo $X");
	CHECK_STR(e.u.exec.argv[3], "");
	CHECK_STR(e.u.exec.env[0], "X=1");
	CHECK(e.u.exec.env[1] == NULL);
	CHECK(e.u.exec.timeout_ms == 1500 && e.u.exec.kill_grace_ms == 200);
	CHECK(e.u.exec.max_output_bytes == 4096);
	CHECK(bytes_eq(&e.u.exec.stdin_data, "in\0put", 6));

	res.u.exec_result = (struct agent_exec_result){ 3, 0, true, { (uint8_t *)"out", 3 },
							{ (uint8_t *)"", 0 }, true, false, 99 };
	CHECK(roundtrip(&res, &r) == 0);
	CHECK(r.u.exec_result.exit_status == 3 && r.u.exec_result.term_signal == 0);
	CHECK(r.u.exec_result.timed_out && r.u.exec_result.stdout_truncated);
	CHECK(!r.u.exec_result.stderr_truncated && r.u.exec_result.duration_ms == 99);
	CHECK(bytes_eq(&r.u.exec_result.stdout_data, "out", 3));
	CHECK(r.u.exec_result.stderr_data.data && r.u.exec_result.stderr_data.len == 0);
	return TEST_PASS;
}

static int test_roundtrip_files_log_ping(void)
{
	cleanup_agent_msg struct agent_msg a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 }, e = { 0 };
	struct agent_msg rf = { .type = AGENT_MSG_READ_FILE, .request_id = 3 };
	struct agent_msg fd = { .type = AGENT_MSG_FILE_DATA, .request_id = 3 };
	struct agent_msg log = { .type = AGENT_MSG_LOG };
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 9 };
	struct agent_msg pong = { .type = AGENT_MSG_PONG, .request_id = 9 };

	rf.u.read_file = (struct agent_read_file){ "/sys/kernel/debug/iommu/x", 10, 100 };
	fd.u.file_data = (struct agent_file_data){ 10, { (uint8_t *)"\x00\x01\xff", 3 }, true };
	log.u.log = (struct agent_log){ "kmsg", "6,1,2,-;DMAR: IOMMU enabled", 777 };
	ping.u.ping.data = (struct agent_bytes){ (uint8_t *)"abc", 3 };
	CHECK(roundtrip(&rf, &a) == 0);
	CHECK_STR(a.u.read_file.path, "/sys/kernel/debug/iommu/x");
	CHECK(a.u.read_file.offset == 10 && a.u.read_file.max_bytes == 100);
	CHECK(roundtrip(&fd, &b) == 0);
	CHECK(b.u.file_data.offset == 10 && b.u.file_data.eof);
	CHECK(bytes_eq(&b.u.file_data.data, "\x00\x01\xff", 3));
	CHECK(roundtrip(&log, &c) == 0);
	CHECK(c.request_id == 0 && c.u.log.time_ms == 777);
	CHECK_STR(c.u.log.source, "kmsg");
	CHECK_STR(c.u.log.text, "6,1,2,-;DMAR: IOMMU enabled");
	CHECK(roundtrip(&ping, &d) == 0);
	CHECK(d.type == AGENT_MSG_PING && bytes_eq(&d.u.ping.data, "abc", 3));
	CHECK(roundtrip(&pong, &e) == 0);
	CHECK(e.type == AGENT_MSG_PONG && e.u.ping.data.data == NULL && e.u.ping.data.len == 0);
	return TEST_PASS;
}

static int test_roundtrip_relay_error(void)
{
	cleanup_agent_msg struct agent_msg r = { 0 }, e = { 0 }, inner_msg = { 0 };
	cleanup_agent_frame struct agent_frame inner = { 0 };
	cleanup_strbuf struct strbuf inner_buf = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 5, .flags = AGENT_FLAG_INNER };
	struct agent_msg relay = { .type = AGENT_MSG_RELAY, .request_id = 5 };
	struct agent_msg error = { .type = AGENT_MSG_ERROR, .request_id = 8 };

	CHECK(agent_msg_encode(&ping, &inner_buf, &err) == 0);
	relay.u.relay.frame = (struct agent_bytes){ (uint8_t *)inner_buf.str, inner_buf.len };
	CHECK(roundtrip(&relay, &r) == 0);
	CHECK(bytes_eq(&r.u.relay.frame, inner_buf.str, inner_buf.len));
	CHECK(agent_frame_parse(r.u.relay.frame.data, r.u.relay.frame.len, &inner, &err) == 0);
	CHECK(inner.type == AGENT_MSG_PING && inner.request_id == 5 && inner.flags == AGENT_FLAG_INNER);
	CHECK(agent_msg_decode(&inner, &inner_msg, &err) == 0);
	/* one byte too many or too few: not exactly one frame */
	agent_frame_release(&inner);
	CHECK(agent_frame_parse(r.u.relay.frame.data, r.u.relay.frame.len - 1, &inner, &err) ==
	      -AGENT_ERR_BAD_PAYLOAD);
	nl_error_release(&err);
	strbuf_add(&inner_buf, "x", 1);
	CHECK(agent_frame_parse((uint8_t *)inner_buf.str, inner_buf.len, &inner, &err) ==
	      -AGENT_ERR_BAD_PAYLOAD);
	CHECK(inner.request_id == 5);	/* header fields kept for the ERROR reply */

	error.u.error = (struct agent_error){ AGENT_ERR_IO, ENOENT, "open /x: No such file" };
	CHECK(roundtrip(&error, &e) == 0);
	CHECK(e.u.error.code == AGENT_ERR_IO && e.u.error.errnum == ENOENT);
	CHECK_STR(e.u.error.message, "open /x: No such file");
	CHECK_STR(agent_error_code_name(AGENT_ERR_RELAY_DEPTH), "relay-depth");
	CHECK_STR(agent_msg_type_name(200), "unknown");
	return TEST_PASS;
}

static int test_encode_errors(void)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg exec = { .type = AGENT_MSG_EXEC, .request_id = 1 };
	struct agent_msg fd = { .type = AGENT_MSG_FILE_DATA, .request_id = 1 };
	struct agent_msg bogus = { .type = 99 };
	cleanup_free uint8_t *big = xzalloc(AGENT_MAX_PAYLOAD);

	CHECK(agent_msg_encode(&exec, &sb, &err) == -AGENT_ERR_INVALID);	/* argv missing */
	CHECK_CONTAINS(err->msg, "exec.argv");
	nl_error_release(&err);
	CHECK(agent_msg_encode(&bogus, &sb, &err) == -AGENT_ERR_UNKNOWN_TYPE);
	nl_error_release(&err);
	fd.u.file_data.data = (struct agent_bytes){ big, AGENT_MAX_PAYLOAD };
	CHECK(agent_msg_encode(&fd, &sb, &err) == -AGENT_ERR_TOO_LARGE);
	CHECK(sb.len == 0);
	return TEST_PASS;
}

/* three frames fed one byte at a time come out whole, in order */
static int test_split_feeding(void)
{
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	uint32_t seen[3];
	size_t n_seen = 0;

	for (uint32_t id = 1; id <= 3; id++) {
		struct agent_msg log = { .type = AGENT_MSG_LOG, .request_id = id };

		log.u.log = (struct agent_log){ "test", "a line of text", id };
		CHECK(agent_msg_encode(&log, &sb, &err) == 0);
	}
	agent_decoder_init(&dec);
	for (size_t i = 0; i < sb.len; i++) {
		cleanup_agent_frame struct agent_frame frame = { 0 };
		int rc;

		agent_decoder_feed(&dec, sb.str + i, 1);
		rc = agent_decoder_next(&dec, &frame, &err);
		CHECK(rc >= 0);
		if (rc == 1) {
			cleanup_agent_msg struct agent_msg msg = { 0 };

			CHECK(n_seen < 3);
			CHECK(agent_msg_decode(&frame, &msg, &err) == 0);
			CHECK(msg.u.log.time_ms == msg.request_id);
			seen[n_seen++] = frame.request_id;
		}
	}
	CHECK(n_seen == 3 && seen[0] == 1 && seen[1] == 2 && seen[2] == 3);
	CHECK(dec.bytes_skipped == 0 && dec.frames_decoded == 3);
	CHECK(agent_decoder_pending(&dec) == 0);
	return TEST_PASS;
}

/* garbage, including a fake magic, is skipped and counted; the frame after it decodes */
static int test_garbage_skipped(void)
{
	static const char garbage[] = "boot noise NLAG NLA\x00\xffNL";
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_agent_frame struct agent_frame frame = { 0 };
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 42 };

	CHECK(agent_msg_encode(&ping, &sb, &err) == 0);
	agent_decoder_init(&dec);
	agent_decoder_feed(&dec, garbage, sizeof(garbage) - 1);
	CHECK(agent_decoder_next(&dec, &frame, &err) == 0);
	/* the fake "NLAG" holds its bytes until a whole header can be checked, then costs one byte */
	CHECK(agent_decoder_pending(&dec) == sizeof(garbage) - 1 - strlen("boot noise "));
	agent_decoder_feed(&dec, sb.str, sb.len);
	CHECK(agent_decoder_next(&dec, &frame, &err) == 1);
	CHECK(frame.request_id == 42 && frame.type == AGENT_MSG_PING);
	CHECK(dec.bytes_skipped == sizeof(garbage) - 1);
	agent_frame_release(&frame);
	CHECK(agent_decoder_next(&dec, &frame, &err) == 0);
	return TEST_PASS;
}

/* a frame cut anywhere waits for the rest */
static int test_truncated_waits(void)
{
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg log = { .type = AGENT_MSG_LOG, .request_id = 4 };

	log.u.log = (struct agent_log){ "s", "t", 0 };
	CHECK(agent_msg_encode(&log, &sb, &err) == 0);
	for (size_t cut = 0; cut < sb.len; cut++) {
		cleanup_agent_frame struct agent_frame frame = { 0 };

		agent_decoder_init(&dec);
		agent_decoder_feed(&dec, sb.str, cut);
		CHECK(agent_decoder_next(&dec, &frame, &err) == 0);
		CHECK(agent_decoder_pending(&dec) == cut);
		agent_decoder_feed(&dec, sb.str + cut, sb.len - cut);
		CHECK(agent_decoder_next(&dec, &frame, &err) == 1);
		CHECK(frame.request_id == 4 && dec.bytes_skipped == 0);
		agent_decoder_release(&dec);
	}
	return TEST_PASS;
}

/* a valid header announcing too much is rejected, its payload dropped unbuffered, and decoding goes on */
static int test_oversized_rejected(void)
{
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 11 };
	cleanup_free char *junk = xmalloc(65536);
	uint8_t hdr[AGENT_HEADER_BYTES];
	uint32_t big = AGENT_MAX_PAYLOAD + 1;
	struct agent_frame frame;

	memset(junk, 'N', 65536);
	header_with_len(hdr, AGENT_PROTO_VERSION, 10, big);
	agent_decoder_init(&dec);
	agent_decoder_feed(&dec, hdr, sizeof(hdr));
	CHECK(agent_decoder_next(&dec, &frame, &err) == -AGENT_ERR_TOO_LARGE);
	CHECK(frame.request_id == 10 && frame.payload == NULL);
	CHECK_CONTAINS(err->msg, "more than the limit");
	nl_error_release(&err);
	for (uint32_t sent = 0; sent < big; sent += 65536) {
		agent_decoder_feed(&dec, junk, big - sent < 65536 ? big - sent : 65536);
		CHECK(agent_decoder_next(&dec, &frame, &err) == 0);
		CHECK(dec.alloc <= 2 * 65536 + AGENT_HEADER_BYTES);	/* not buffered */
	}
	CHECK(dec.bytes_discarded == big && dec.bytes_skipped == 0);
	CHECK(agent_msg_encode(&ping, &sb, &err) == 0);
	agent_decoder_feed(&dec, sb.str, sb.len);
	CHECK(agent_decoder_next(&dec, &frame, &err) == 1);
	CHECK(frame.request_id == 11);
	agent_frame_release(&frame);
	CHECK(dec.frames_rejected == 1 && dec.frames_decoded == 1);
	return TEST_PASS;
}

/* a corrupted payload drops the frame (reported with its id); a corrupted header is garbage */
static int test_bad_checksum_rejected(void)
{
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg log = { .type = AGENT_MSG_LOG, .request_id = 21 };
	struct agent_frame frame;
	size_t one;

	log.u.log = (struct agent_log){ "src", "text", 1 };
	CHECK(agent_msg_encode(&log, &sb, &err) == 0);
	one = sb.len;
	log.request_id = 22;
	CHECK(agent_msg_encode(&log, &sb, &err) == 0);
	log.request_id = 23;
	CHECK(agent_msg_encode(&log, &sb, &err) == 0);
	sb.str[one - 1] ^= 0x01;		/* payload of frame 21 */
	sb.str[one + 9] ^= 0x40;		/* request id of frame 22: header CRC fails */
	agent_decoder_init(&dec);
	agent_decoder_feed(&dec, sb.str, sb.len);
	CHECK(agent_decoder_next(&dec, &frame, &err) == -AGENT_ERR_CHECKSUM);
	CHECK(frame.request_id == 21);
	CHECK_CONTAINS(err->msg, "checksum");
	nl_error_release(&err);
	CHECK(agent_decoder_next(&dec, &frame, &err) == 1);
	CHECK(frame.request_id == 23);
	agent_frame_release(&frame);
	CHECK(dec.bytes_skipped == one && dec.frames_rejected == 1);
	return TEST_PASS;
}

static int test_version_rejected(void)
{
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_error nl_error_t err = NULL;
	uint8_t hdr[AGENT_HEADER_BYTES];
	struct agent_frame frame;

	header_with_len(hdr, 2, 31, 4);
	agent_decoder_init(&dec);
	agent_decoder_feed(&dec, hdr, sizeof(hdr));
	agent_decoder_feed(&dec, "abcd", 4);
	CHECK(agent_decoder_next(&dec, &frame, &err) == -AGENT_ERR_VERSION);
	CHECK(frame.request_id == 31);
	CHECK(agent_decoder_next(&dec, &frame, &err) == 0);
	CHECK(dec.bytes_discarded == 4 && agent_decoder_pending(&dec) == 0);
	return TEST_PASS;
}

/* expect_bad_payload() - a hand-made payload of @type must be rejected with @code, mentioning @what */
static int expect_bad_payload(uint8_t type, const struct strbuf *payload, int code, const char *what)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_agent_msg struct agent_msg msg = { 0 };
	cleanup_error nl_error_t err = NULL;

	frame_with_payload(&sb, type, 77, payload);
	CHECK(decode_one(sb.str, sb.len, &msg, &err) == code);
	CHECK(msg.request_id == 77);
	CHECK_CONTAINS(err->msg, what);
	return TEST_PASS;
}

static int test_bad_tlv(void)
{
	struct strbuf p = STRBUF_INIT;
	int rc = TEST_PASS;

#define BAD(type, code, what, build)                                                          \
	do {                                                                                  \
		strbuf_release(&p);                                                           \
		build;                                                                        \
		if (rc == TEST_PASS)                                                          \
			rc = expect_bad_payload(type, &p, code, what);            \
	} while (0)

	BAD(AGENT_MSG_PING, -AGENT_ERR_BAD_PAYLOAD, "runs past the payload end",
	    put_tlv(&p, AGENT_TAG_DATA, AGENT_KIND_BYTES, "abc", 3); p.len--);
	BAD(AGENT_MSG_PING, -AGENT_ERR_BAD_PAYLOAD, "cut short", strbuf_add(&p, "\x33\x00\x03", 3));
	BAD(AGENT_MSG_PING, -AGENT_ERR_BAD_PAYLOAD, "unknown field tag 999",
	    put_tlv(&p, 999, AGENT_KIND_BYTES, "x", 1));
	BAD(AGENT_MSG_PING, -AGENT_ERR_BAD_PAYLOAD, "wrong value kind", put_tlv_str(&p, AGENT_TAG_DATA, "x"));
	BAD(AGENT_MSG_PING, -AGENT_ERR_BAD_PAYLOAD, "appears twice",
	    put_tlv(&p, AGENT_TAG_DATA, AGENT_KIND_BYTES, "x", 1);
	    put_tlv(&p, AGENT_TAG_DATA, AGENT_KIND_BYTES, "y", 1));
	BAD(AGENT_MSG_READ_FILE, -AGENT_ERR_BAD_PAYLOAD, "required field read_file.path is missing",
	    put_tlv_u64(&p, AGENT_TAG_OFFSET, 1));
	BAD(AGENT_MSG_READ_FILE, -AGENT_ERR_BAD_PAYLOAD, "NUL byte",
	    put_tlv(&p, AGENT_TAG_PATH, AGENT_KIND_STRING, "/a\0b", 4));
	BAD(AGENT_MSG_READ_FILE, -AGENT_ERR_BAD_PAYLOAD, "8 bytes",
	    put_tlv_str(&p, AGENT_TAG_PATH, "/a");
	    put_tlv(&p, AGENT_TAG_OFFSET, AGENT_KIND_U64, "1234", 4));
	BAD(AGENT_MSG_FILE_DATA, -AGENT_ERR_BAD_PAYLOAD, "0 or 1", put_tlv_u64(&p, AGENT_TAG_EOF, 2));
	BAD(AGENT_MSG_PING, -AGENT_ERR_BAD_PAYLOAD, "reserved byte",
	    put_tlv(&p, AGENT_TAG_DATA, AGENT_KIND_BYTES, "x", 1); p.str[3] = 1);
	BAD(AGENT_MSG_EXEC, -AGENT_ERR_BAD_PAYLOAD, "exec.argv is missing",
	    put_tlv_u64(&p, AGENT_TAG_TIMEOUT_MS, 5));
	BAD(AGENT_MSG_ERROR, -AGENT_ERR_BAD_PAYLOAD, "length 4294967295",
	    put_tlv(&p, AGENT_TAG_MESSAGE, AGENT_KIND_STRING, NULL, 0); memset(p.str + 4, 0xff, 4));
	BAD(0, -AGENT_ERR_UNKNOWN_TYPE, "unknown message type 0", (void)0);
	BAD(200, -AGENT_ERR_UNKNOWN_TYPE, "unknown message type 200", (void)0);
#undef BAD
	strbuf_release(&p);
	return rc;
}

/* argv may repeat (it is a list), up to AGENT_MAX_LIST entries */
static int test_list_limit(void)
{
	cleanup_strbuf struct strbuf p = STRBUF_INIT;
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_agent_msg struct agent_msg msg = { 0 };
	cleanup_error nl_error_t err = NULL;

	for (int i = 0; i < AGENT_MAX_LIST; i++)
		put_tlv_str(&p, AGENT_TAG_ARGV, "a");
	frame_with_payload(&sb, AGENT_MSG_EXEC, 1, &p);
	CHECK(decode_one(sb.str, sb.len, &msg, &err) == 0);
	CHECK(strv_len(msg.u.exec.argv) == AGENT_MAX_LIST);
	agent_msg_release(&msg);
	put_tlv_str(&p, AGENT_TAG_ARGV, "a");
	strbuf_release(&sb);
	frame_with_payload(&sb, AGENT_MSG_EXEC, 1, &p);
	CHECK(decode_one(sb.str, sb.len, &msg, &err) == -AGENT_ERR_BAD_PAYLOAD);
	CHECK_CONTAINS(err->msg, "more than 4096 entries");
	return TEST_PASS;
}

/* ---- end to end: the real agent on a socketpair ---------------------------------------------- */

struct peer {
	pid_t pid;
	int fd;				/* our end of the agent's host channel */
	struct agent_decoder dec;
	char log_path[64];		/* the agent's stderr */
};

static const char *agent_path(void)
{
	const char *p = getenv("NESTLAB_AGENT");

	return p && *p ? p : "build/nestlab-agent";
}

/* peer_dump_log() - copy the agent's stderr into the TAP log as diagnostics */
static void peer_dump_log(const struct peer *p)
{
	cleanup_file FILE *f = p->log_path[0] ? fopen(p->log_path, "r") : NULL;
	char line[1024];

	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		test_diag("agent stderr: %s", line);
	}
}

/* peer_stop() - close the channel (the agent exits on end of file), reap it; kill after 5 s */
static int peer_stop(struct peer *p)
{
	int status = -1;

	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	for (int i = 0; p->pid > 0 && i < 500; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			break;
		}
		usleep(10000);
	}
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &status, 0);
		p->pid = 0;
		status = -1;
	}
	peer_dump_log(p);
	if (p->log_path[0])
		unlink(p->log_path);
	p->log_path[0] = '\0';
	agent_decoder_release(&p->dec);
	return status;
}

static void cleanup_peerp(struct peer *p)
{
	peer_stop(p);
}
#define cleanup_peer __attribute__((cleanup(cleanup_peerp)))

/*
 * peer_spawn() - start the agent with @args, its fd 3 being a socketpair end we keep in p->fd and,
 * if @fd4 >= 0, @fd4 as its fd 4 (a relay)
 */
static int peer_spawn(struct peer *p, const char *const *args, int fd4)
{
	int sv[2];
	int log_fd;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	agent_decoder_init(&p->dec);
	snprintf(p->log_path, sizeof(p->log_path), "/tmp/nestlab-agent-test.XXXXXX");
	log_fd = mkostemp(p->log_path, O_CLOEXEC);
	if (log_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	p->pid = fork();
	if (p->pid == 0) {
		const char *argv[16] = { agent_path() };
		int a3 = fcntl(sv[1], F_DUPFD_CLOEXEC, 100);
		int a4 = fd4 >= 0 ? fcntl(fd4, F_DUPFD_CLOEXEC, 100) : -1;

		for (size_t i = 0; args[i] && i < 14; i++)
			argv[i + 1] = args[i];
		dup2(log_fd, STDERR_FILENO);
		dup2(a3, 3);
		if (a4 >= 0)
			dup2(a4, 4);
		execv(argv[0], (char **)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(log_fd);
	close(sv[1]);
	p->fd = sv[0];
	return p->pid > 0 ? 0 : -1;
}

static int peer_send_raw(struct peer *p, const void *buf, size_t len)
{
	const char *c = buf;

	while (len) {
		ssize_t n = write(p->fd, c, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int peer_send(struct peer *p, const struct agent_msg *msg)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;

	if (agent_msg_encode(msg, &sb, &err) < 0) {
		test_diag("encode: %s", err->msg);
		return -1;
	}
	return peer_send_raw(p, sb.str, sb.len);
}

/*
 * peer_recv() - the next message from the agent, skipping LOG frames unless @want_log; -1 on timeout,
 * end of file or a frame the host-side decoder rejects
 */
static int peer_recv_any(struct peer *p, struct agent_msg *msg, bool want_log)
{
	uint64_t deadline = now_ms() + RECV_TIMEOUT_MS;

	for (;;) {
		cleanup_agent_frame struct agent_frame frame = { 0 };
		cleanup_error nl_error_t err = NULL;
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		char buf[65536];
		uint64_t now = now_ms();
		ssize_t n;
		int rc = agent_decoder_next(&p->dec, &frame, &err);

		if (rc < 0 || (rc == 1 && agent_msg_decode(&frame, msg, &err) < 0)) {
			test_diag("host side rejected a frame: %s", err->msg);
			return -1;
		}
		if (rc == 1 && (msg->type != AGENT_MSG_LOG || want_log))
			return 0;
		if (rc == 1) {
			test_diag("LOG %s: %s", msg->u.log.source, msg->u.log.text);
			agent_msg_release(msg);
			continue;
		}
		if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0) {
			test_diag("no frame from the agent within %d ms", RECV_TIMEOUT_MS);
			return -1;
		}
		n = read(p->fd, buf, sizeof(buf));
		if (n <= 0) {
			test_diag("agent channel closed");
			return -1;
		}
		agent_decoder_feed(&p->dec, buf, (size_t)n);
	}
}

static int peer_recv(struct peer *p, struct agent_msg *msg)
{
	return peer_recv_any(p, msg, false);
}

/* peer_start() - spawn and consume the unsolicited READY; returns 0 or -1 */
static int peer_start(struct peer *p, const char *const *args, int fd4)
{
	cleanup_agent_msg struct agent_msg ready = { 0 };

	if (peer_spawn(p, args, fd4) < 0 || peer_recv(p, &ready) < 0)
		return -1;
	if (ready.type != AGENT_MSG_READY || ready.request_id != 0) {
		test_diag("first frame is %s %u, not an unsolicited READY", agent_msg_type_name(ready.type),
			  ready.request_id);
		return -1;
	}
	return 0;
}

static const char *const l2_args[] = { "--level", "l2", "--fd", "3", NULL };

static int test_e2e_hello(void)
{
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_agent_msg struct agent_msg r = { 0 };
	struct agent_msg hello = { .type = AGENT_MSG_HELLO, .request_id = 1 };
	char boot_id[64] = "";
	cleanup_file FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");

	if (access(agent_path(), X_OK) < 0) {
		test_diag("%s: %s (run make, or set NESTLAB_AGENT)", agent_path(), strerror(errno));
		return TEST_FAIL;
	}
	CHECK(peer_start(&p, l2_args, -1) == 0);
	CHECK(peer_send(&p, &hello) == 0);
	CHECK(peer_recv(&p, &r) == 0);
	CHECK(r.type == AGENT_MSG_READY && r.request_id == 1);
	CHECK(r.flags == AGENT_FLAG_INNER);	/* an l2 agent marks everything it sends */
	CHECK_STR(r.u.ready.level, "l2");
	CHECK(r.u.ready.uptime_ms > 0 && !r.u.ready.has_relay);
	CHECK(r.u.ready.hostname[0] != '\0' && r.u.ready.agent_version[0] != '\0');
	if (f && fgets(boot_id, sizeof(boot_id), f))
		boot_id[strcspn(boot_id, "\n")] = '\0';
	CHECK_STR(r.u.ready.boot_id, boot_id);
	CHECK(peer_stop(&p) == 0);	/* end of file on the channel: clean exit */
	return TEST_PASS;
}

/* exec_request() - send EXEC of @argv and return its EXEC_RESULT (or ERROR) in @r */
static int exec_request(struct peer *p, uint32_t id, char **argv, uint64_t timeout_ms,
			struct agent_msg *r)
{
	struct agent_msg exec = { .type = AGENT_MSG_EXEC, .request_id = id };

	exec.u.exec.argv = argv;
	exec.u.exec.timeout_ms = timeout_ms;
	exec.u.exec.kill_grace_ms = 300;
	if (peer_send(p, &exec) < 0 || peer_recv(p, r) < 0)
		return -1;
	if (r->request_id != id) {
		test_diag("reply to %u has id %u", id, r->request_id);
		return -1;
	}
	return 0;
}

static int test_e2e_exec(void)
{
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_agent_msg struct agent_msg r = { 0 }, r2 = { 0 }, r3 = { 0 };
	char *echo[] = { "echo", "hi", NULL };
	char *sh[] = { "sh", "-c", "echo err >&2; exit 3", NULL };
	char *missing[] = { "/nonexistent/program", NULL };

	CHECK(peer_start(&p, l2_args, -1) == 0);
	CHECK(exec_request(&p, 2, echo, 5000, &r) == 0);
	CHECK(r.type == AGENT_MSG_EXEC_RESULT);
	CHECK(r.u.exec_result.exit_status == 0 && r.u.exec_result.term_signal == 0);
	CHECK(!r.u.exec_result.timed_out && !r.u.exec_result.stdout_truncated);
	CHECK(bytes_eq(&r.u.exec_result.stdout_data, "hi\n", 3));
	CHECK(r.u.exec_result.stderr_data.len == 0);
	CHECK(exec_request(&p, 3, sh, 5000, &r2) == 0);
	CHECK(r2.u.exec_result.exit_status == 3);
	CHECK(bytes_eq(&r2.u.exec_result.stderr_data, "err\n", 4));
	CHECK(exec_request(&p, 4, missing, 5000, &r3) == 0);
	CHECK(r3.type == AGENT_MSG_ERROR && r3.u.error.code == AGENT_ERR_EXEC);
	CHECK(r3.u.error.errnum == ENOENT);
	CHECK_CONTAINS(r3.u.error.message, "exec /nonexistent/program");
	return TEST_PASS;
}

/* stdin reaches the command; output above the cap is cut and flagged */
static int test_e2e_exec_stdin_cap(void)
{
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_agent_msg struct agent_msg r = { 0 }, r2 = { 0 };
	char *cat[] = { "cat", NULL };
	char *yes[] = { "sh", "-c", "head -c 100000 /dev/zero", NULL };
	struct agent_msg exec = { .type = AGENT_MSG_EXEC, .request_id = 5 };

	CHECK(peer_start(&p, l2_args, -1) == 0);
	exec.u.exec.argv = cat;
	exec.u.exec.stdin_data = (struct agent_bytes){ (uint8_t *)"line 1\nline 2\n", 14 };
	CHECK(peer_send(&p, &exec) == 0);
	CHECK(peer_recv(&p, &r) == 0);
	CHECK(r.type == AGENT_MSG_EXEC_RESULT && r.request_id == 5);
	CHECK(bytes_eq(&r.u.exec_result.stdout_data, "line 1\nline 2\n", 14));
	exec.request_id = 6;
	exec.u.exec.argv = yes;
	exec.u.exec.stdin_data = (struct agent_bytes){ NULL, 0 };
	exec.u.exec.max_output_bytes = 1000;
	CHECK(peer_send(&p, &exec) == 0);
	CHECK(peer_recv(&p, &r2) == 0);
	CHECK(r2.type == AGENT_MSG_EXEC_RESULT && r2.request_id == 6);
	CHECK(r2.u.exec_result.exit_status == 0);
	CHECK(r2.u.exec_result.stdout_data.len == 1000 && r2.u.exec_result.stdout_truncated);
	return TEST_PASS;
}

/* a timeout sends SIGTERM to the group, then SIGKILL to what ignores it */
static int test_e2e_exec_timeout(void)
{
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_agent_msg struct agent_msg r = { 0 }, r2 = { 0 }, r3 = { 0 };
	char *sleep30[] = { "sleep", "30", NULL };
	char *stubborn[] = { "sh", "-c", "trap '' TERM; sleep 30", NULL };
	char *daemon[] = { "sh", "-c", "sleep 2 & echo started", NULL };
	uint64_t t0 = now_ms();

	CHECK(peer_start(&p, l2_args, -1) == 0);
	CHECK(exec_request(&p, 7, sleep30, 300, &r) == 0);
	CHECK(r.type == AGENT_MSG_EXEC_RESULT);
	CHECK(r.u.exec_result.timed_out && r.u.exec_result.term_signal == SIGTERM);
	CHECK(r.u.exec_result.duration_ms >= 300 && r.u.exec_result.duration_ms < 3000);
	CHECK(exec_request(&p, 8, stubborn, 300, &r2) == 0);
	CHECK(r2.u.exec_result.timed_out && r2.u.exec_result.term_signal == SIGKILL);
	CHECK(r2.u.exec_result.duration_ms >= 600);	/* timeout + grace */
	CHECK(now_ms() - t0 < 5000);
	/* a background child keeping stdout open does not hold the result beyond the drain time */
	CHECK(exec_request(&p, 9, daemon, 5000, &r3) == 0);
	CHECK(!r3.u.exec_result.timed_out && r3.u.exec_result.exit_status == 0);
	CHECK(bytes_eq(&r3.u.exec_result.stdout_data, "started\n", 8));
	CHECK(r3.u.exec_result.duration_ms < 1900);
	return TEST_PASS;
}

static int test_e2e_read_file(void)
{
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_agent_msg struct agent_msg r = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct agent_msg rf = { .type = AGENT_MSG_READ_FILE, .request_id = 10 };

	CHECK(peer_start(&p, l2_args, -1) == 0);
	/* procfs reports st_size 0: the agent must read until end of file */
	rf.u.read_file.path = "/proc/self/status";
	CHECK(peer_send(&p, &rf) == 0);
	CHECK(peer_recv(&p, &r) == 0);
	CHECK(r.type == AGENT_MSG_FILE_DATA && r.request_id == 10 && r.u.file_data.eof);
	CHECK_CONTAINS((char *)r.u.file_data.data.data, "Name:\tnestlab-agent\n");
	CHECK_CONTAINS((char *)r.u.file_data.data.data, "VmRSS:");
	rf.request_id = 11;
	rf.u.read_file.offset = 2;
	rf.u.read_file.max_bytes = 4;
	CHECK(peer_send(&p, &rf) == 0);
	CHECK(peer_recv(&p, &r2) == 0);
	CHECK(r2.u.file_data.offset == 2 && !r2.u.file_data.eof);
	CHECK(bytes_eq(&r2.u.file_data.data, "me:\t", 4));
	rf.request_id = 12;
	rf.u.read_file.path = "/nonexistent";
	CHECK(peer_send(&p, &rf) == 0);
	CHECK(peer_recv(&p, &r3) == 0);
	CHECK(r3.type == AGENT_MSG_ERROR && r3.request_id == 12);
	CHECK(r3.u.error.code == AGENT_ERR_IO && r3.u.error.errnum == ENOENT);
	return TEST_PASS;
}

/* expect_error() - the next message is an ERROR for @id with @code */
static int expect_error(struct peer *p, uint32_t id, int code)
{
	cleanup_agent_msg struct agent_msg r = { 0 };

	CHECK(peer_recv(p, &r) == 0);
	if (r.type != AGENT_MSG_ERROR || r.request_id != id || r.u.error.code != (uint64_t)code) {
		test_diag("wanted ERROR %s for %u, got %s %u code %llu: %s", agent_error_code_name(code),
			  id, agent_msg_type_name(r.type), r.request_id,
			  (unsigned long long)r.u.error.code,
			  r.type == AGENT_MSG_ERROR ? r.u.error.message : "");
		return TEST_FAIL;
	}
	return TEST_PASS;
}

/* malformed frames get ERROR replies; the agent keeps serving */
static int test_e2e_malformed(void)
{
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_strbuf struct strbuf bad = STRBUF_INIT, payload = STRBUF_INIT;
	cleanup_agent_msg struct agent_msg r = { 0 };
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 20 };
	struct agent_msg result = { .type = AGENT_MSG_EXEC_RESULT, .request_id = 25 };
	uint8_t hdr[AGENT_HEADER_BYTES];

	CHECK(peer_start(&p, l2_args, -1) == 0);
	CHECK(peer_send_raw(&p, "garbage NLAG garbage", 20) == 0);
	put_tlv(&payload, AGENT_TAG_DATA, AGENT_KIND_BYTES, "x", 1);
	frame_with_payload(&bad, AGENT_MSG_PING, 21, &payload);
	bad.str[bad.len - 1] ^= 0xff;				/* checksum */
	put_tlv(&payload, AGENT_TAG_DATA, AGENT_KIND_BYTES, "y", 1);
	frame_with_payload(&bad, AGENT_MSG_PING, 22, &payload);	/* duplicate field */
	frame_with_payload(&bad, 99, 23, &payload);		/* unknown type */
	header_with_len(hdr, AGENT_PROTO_VERSION, 24, 0xffffffffu);	/* oversized, never sent */
	CHECK(peer_send_raw(&p, bad.str, bad.len) == 0);
	CHECK(expect_error(&p, 21, AGENT_ERR_CHECKSUM) == TEST_PASS);
	CHECK(expect_error(&p, 22, AGENT_ERR_BAD_PAYLOAD) == TEST_PASS);
	CHECK(expect_error(&p, 23, AGENT_ERR_UNKNOWN_TYPE) == TEST_PASS);
	CHECK(peer_send(&p, &result) == 0);
	CHECK(expect_error(&p, 25, AGENT_ERR_UNEXPECTED) == TEST_PASS);
	CHECK(peer_send(&p, &ping) == 0);
	CHECK(peer_recv(&p, &r) == 0);
	CHECK(r.type == AGENT_MSG_PONG && r.request_id == 20);
	CHECK(peer_send_raw(&p, hdr, sizeof(hdr)) == 0);
	CHECK(expect_error(&p, 24, AGENT_ERR_TOO_LARGE) == TEST_PASS);
	return TEST_PASS;
}

/* send_relay() - RELAY around @inner encoded with AGENT_FLAG_INNER */
static int send_relay(struct peer *p, struct agent_msg *inner)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct agent_msg relay = { .type = AGENT_MSG_RELAY, .request_id = inner->request_id };

	inner->flags |= AGENT_FLAG_INNER;
	if (agent_msg_encode(inner, &sb, &err) < 0)
		return -1;
	relay.u.relay.frame = (struct agent_bytes){ (uint8_t *)sb.str, sb.len };
	return peer_send(p, &relay);
}

/* recv_relayed() - the next RELAY from L1, unwrapped into @inner */
static int recv_relayed(struct peer *p, struct agent_msg *inner)
{
	cleanup_agent_msg struct agent_msg outer = { 0 };
	cleanup_agent_frame struct agent_frame frame = { 0 };
	cleanup_error nl_error_t err = NULL;

	CHECK(peer_recv(p, &outer) == 0);
	if (outer.type != AGENT_MSG_RELAY) {
		test_diag("expected RELAY, got %s %u: %s", agent_msg_type_name(outer.type),
			  outer.request_id, outer.type == AGENT_MSG_ERROR ? outer.u.error.message : "");
		return -1;
	}
	CHECK(outer.flags == 0);
	CHECK(agent_frame_parse(outer.u.relay.frame.data, outer.u.relay.frame.len, &frame, &err) == 0);
	CHECK(frame.flags == AGENT_FLAG_INNER && frame.request_id == outer.request_id);
	CHECK(agent_msg_decode(&frame, inner, &err) == 0);
	return 0;
}

/* relay_session() - the checks shared by the fd and the unix socket relay tests */
static int relay_session(struct peer *l1)
{
	cleanup_agent_msg struct agent_msg ready = { 0 }, r = { 0 }, rr = { 0 };
	struct agent_msg hello = { .type = AGENT_MSG_HELLO, .request_id = 30 };
	struct agent_msg exec = { .type = AGENT_MSG_EXEC, .request_id = 31 };
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 32, .flags = AGENT_FLAG_INNER };
	char *argv[] = { "echo", "from", "l2", NULL };

	CHECK(send_relay(l1, &hello) == 0);
	CHECK(recv_relayed(l1, &ready) == 0);
	CHECK(ready.type == AGENT_MSG_READY && ready.request_id == 30);
	CHECK_STR(ready.u.ready.level, "l2");
	exec.u.exec.argv = argv;
	CHECK(send_relay(l1, &exec) == 0);
	CHECK(recv_relayed(l1, &r) == 0);
	CHECK(r.type == AGENT_MSG_EXEC_RESULT && r.request_id == 31);
	CHECK(bytes_eq(&r.u.exec_result.stdout_data, "from l2\n", 8));
	/* an inner-flagged frame sent to L1 directly is refused, not run at the wrong level */
	CHECK(peer_send(l1, &ping) == 0);
	CHECK(expect_error(l1, 32, AGENT_ERR_RELAY_DEPTH) == TEST_PASS);
	/* a RELAY inside a RELAY is refused */
	{
		cleanup_strbuf struct strbuf sb = STRBUF_INIT;
		cleanup_error nl_error_t err = NULL;
		struct agent_msg inner = { .type = AGENT_MSG_RELAY, .request_id = 33 };

		ping.flags = AGENT_FLAG_INNER;
		CHECK(agent_msg_encode(&ping, &sb, &err) == 0);
		inner.u.relay.frame = (struct agent_bytes){ (uint8_t *)sb.str, sb.len };
		CHECK(send_relay(l1, &inner) == 0);
		CHECK(expect_error(l1, 33, AGENT_ERR_RELAY_DEPTH) == TEST_PASS);
	}
	/* L1 still answers for itself */
	ping.flags = 0;
	ping.request_id = 34;
	CHECK(peer_send(l1, &ping) == 0);
	CHECK(peer_recv(l1, &rr) == 0);
	CHECK(rr.type == AGENT_MSG_PONG && rr.request_id == 34 && rr.flags == 0);
	return TEST_PASS;
}

/* host -> l1 agent -> l2 agent over a socketpair (--relay-fd) */
static int test_e2e_relay(void)
{
	static const char *const l1_args[] = { "--level", "l1", "--fd", "3", "--relay-fd", "4", NULL };
	cleanup_peer struct peer l1 = { .fd = -1 }, l2 = { .fd = -1 };
	cleanup_agent_msg struct agent_msg l2_ready = { 0 }, l1_ready = { 0 };
	struct agent_msg hello = { .type = AGENT_MSG_HELLO, .request_id = 1 };

	CHECK(peer_spawn(&l2, l2_args, -1) == 0);
	CHECK(peer_start(&l1, l1_args, l2.fd) == 0);
	close(l2.fd);	/* now only L1 holds L2's channel */
	l2.fd = -1;
	CHECK(recv_relayed(&l1, &l2_ready) == 0);	/* L2's unsolicited READY, relayed */
	CHECK(l2_ready.type == AGENT_MSG_READY && l2_ready.request_id == 0);
	CHECK(peer_send(&l1, &hello) == 0);
	CHECK(peer_recv(&l1, &l1_ready) == 0);
	CHECK(l1_ready.type == AGENT_MSG_READY && l1_ready.u.ready.has_relay);
	CHECK_STR(l1_ready.u.ready.level, "l1");
	CHECK(relay_session(&l1) == TEST_PASS);
	CHECK(peer_stop(&l1) == 0);
	CHECK(peer_stop(&l2) == 0);	/* L2 saw end of file when L1 exited */
	return TEST_PASS;
}

/* the production shape: L1's agent connects to a unix socket (L2 QEMU's chardev) that appears later */
static int test_e2e_relay_socket(void)
{
	cleanup_peer struct peer l1 = { .fd = -1 }, l2 = { .fd = -1 };
	cleanup_agent_msg struct agent_msg r = { 0 }, l2_ready = { 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct agent_msg hello = { .type = AGENT_MSG_HELLO, .request_id = 40 };
	char dir[] = "/tmp/nestlab-relay.XXXXXX";
	const char *l1_args[] = { "--level", "l1", "--fd", "3", "--relay", sun.sun_path, NULL };
	cleanup_close int lfd = -1, conn = -1;
	struct pollfd pfd;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(snprintf_checked(sun.sun_path, sizeof(sun.sun_path), "%s/l2.sock", dir) > 0);
	CHECK(peer_start(&l1, l1_args, -1) == 0);
	/* no L2 yet: a RELAY fails with no-relay, and L1 keeps retrying in the background */
	CHECK(send_relay(&l1, &hello) == 0);
	CHECK(expect_error(&l1, 40, AGENT_ERR_NO_RELAY) == TEST_PASS);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0 && listen(lfd, 1) == 0);
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	CHECK(poll(&pfd, 1, RECV_TIMEOUT_MS) == 1);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	CHECK(conn >= 0);
	/* L2's agent gets the accepted socket as its port, as if it were L2 QEMU's chardev */
	{
		const char *args[] = { "--level", "l2", "--fd", "4", NULL };

		CHECK(peer_spawn(&l2, args, conn) == 0);
	}
	close(conn);
	conn = -1;
	CHECK(recv_relayed(&l1, &l2_ready) == 0);
	CHECK(l2_ready.type == AGENT_MSG_READY);
	hello.request_id = 41;
	CHECK(send_relay(&l1, &hello) == 0);
	CHECK(recv_relayed(&l1, &r) == 0);
	CHECK(r.type == AGENT_MSG_READY && r.request_id == 41);
	CHECK(peer_stop(&l1) == 0);
	unlink(sun.sun_path);
	rmdir(dir);
	return TEST_PASS;
}

/* RELAY to an agent without a relay, and an l2 agent refusing --relay */
static int test_e2e_no_relay(void)
{
	static const char *const bad_args[] = { "--level", "l2", "--fd", "3", "--relay-fd", "3", NULL };
	cleanup_peer struct peer p = { .fd = -1 }, bad = { .fd = -1 };
	struct agent_msg ping = { .type = AGENT_MSG_PING, .request_id = 50 };

	CHECK(peer_start(&p, l2_args, -1) == 0);
	CHECK(send_relay(&p, &ping) == 0);
	CHECK(expect_error(&p, 50, AGENT_ERR_NO_RELAY) == TEST_PASS);
	CHECK(peer_spawn(&bad, bad_args, -1) == 0);
	CHECK(peer_stop(&bad) == 2 << 8);	/* usage error */
	return TEST_PASS;
}

/* recv_log() - the next LOG frame, skipping anything else */
static int recv_log(struct peer *p, struct agent_msg *msg)
{
	for (int i = 0; i < 8; i++) {
		if (peer_recv_any(p, msg, true) < 0)
			return -1;
		if (msg->type == AGENT_MSG_LOG)
			return 0;
		agent_msg_release(msg);
	}
	return -1;
}

/* open_fifo_writer() - open @path for writing once the agent has opened it for reading */
static int open_fifo_writer(const char *path)
{
	for (int i = 0; i < RECV_TIMEOUT_MS / 10; i++) {
		int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd >= 0 || errno != ENXIO)
			return fd;
		usleep(10000);
	}
	return -1;
}

/* --watch streams lines of a regular file (polled) and of a FIFO (epoll) as LOG frames */
static int test_e2e_watch(void)
{
	char dir[] = "/tmp/nestlab-watch.XXXXXX";
	cleanup_free char *file = NULL, *fifo = NULL, *file_opt = NULL, *fifo_opt = NULL;
	cleanup_peer struct peer p = { .fd = -1 };
	cleanup_agent_msg struct agent_msg a = { 0 }, b = { 0 }, c = { 0 };
	cleanup_close int wfd = -1;
	cleanup_file FILE *f = NULL;

	CHECK(mkdtemp(dir) != NULL);
	file = xasprintf("%s/log", dir);
	fifo = xasprintf("%s/fifo", dir);
	file_opt = xasprintf("file=%s", file);
	fifo_opt = xasprintf("pipe=%s", fifo);
	f = fopen(file, "w");
	CHECK(f && fputs("first line\n", f) >= 0 && fflush(f) == 0);
	CHECK(mkfifo(fifo, 0600) == 0);
	{
		const char *args[] = { "--level", "l2", "--fd", "3", "--watch", file_opt,
				       "--watch", fifo_opt, NULL };

		CHECK(peer_start(&p, args, -1) == 0);
	}
	CHECK(recv_log(&p, &a) == 0);
	CHECK_STR(a.u.log.source, "file");
	CHECK_STR(a.u.log.text, "first line");
	wfd = open_fifo_writer(fifo);
	CHECK(wfd >= 0);
	CHECK(write(wfd, "from a pipe\npartial", 19) == 19);
	CHECK(recv_log(&p, &b) == 0);
	CHECK_STR(b.u.log.source, "pipe");
	CHECK_STR(b.u.log.text, "from a pipe");
	CHECK(fputs("second line\n", f) >= 0 && fflush(f) == 0);
	CHECK(recv_log(&p, &c) == 0);
	CHECK_STR(c.u.log.source, "file");
	CHECK_STR(c.u.log.text, "second line");
	unlink(file);
	unlink(fifo);
	rmdir(dir);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_crc32c),
	TEST_CASE(test_roundtrip_hello_ready),
	TEST_CASE(test_roundtrip_exec),
	TEST_CASE(test_roundtrip_files_log_ping),
	TEST_CASE(test_roundtrip_relay_error),
	TEST_CASE(test_encode_errors),
	TEST_CASE(test_split_feeding),
	TEST_CASE(test_garbage_skipped),
	TEST_CASE(test_truncated_waits),
	TEST_CASE(test_oversized_rejected),
	TEST_CASE(test_bad_checksum_rejected),
	TEST_CASE(test_version_rejected),
	TEST_CASE(test_bad_tlv),
	TEST_CASE(test_list_limit),
	TEST_CASE(test_e2e_hello),
	TEST_CASE(test_e2e_exec),
	TEST_CASE(test_e2e_exec_stdin_cap),
	TEST_CASE(test_e2e_exec_timeout),
	TEST_CASE(test_e2e_read_file),
	TEST_CASE(test_e2e_malformed),
	TEST_CASE(test_e2e_relay),
	TEST_CASE(test_e2e_relay_socket),
	TEST_CASE(test_e2e_no_relay),
	TEST_CASE(test_e2e_watch),
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
