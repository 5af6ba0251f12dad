/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_agent_proto.c - libFuzzer target for the agent wire format (lib/agent_proto.c)
 *
 * Each input is used twice:
 *   1. as a byte stream from a guest, fed to agent_decoder_feed() in chunks whose size the first byte
 *      picks; every frame is decoded as a message, a RELAY's inner frame once more (never deeper), and
 *      every message that decodes must survive encode -> decode -> encode unchanged;
 *   2. as a bare TLV payload (first byte = message type) handed straight to agent_msg_decode(), which
 *      reaches the field parser without needing a valid CRC.
 * The decoder's counters must add up: every byte fed is pending, skipped, discarded or part of a frame.
 *
 *	make build/fuzz/fuzz_agent_proto
 *	build/fuzz/fuzz_agent_proto build/fuzz/corpus-agent_proto orchestrator/fuzz/corpus/agent_proto
 */
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_reencode() - encode(decode(x)) is a fixed point of decode+encode */
static void check_reencode(const struct agent_msg *msg)
{
	cleanup_strbuf struct strbuf once = STRBUF_INIT, twice = STRBUF_INIT;
	cleanup_agent_decoder struct agent_decoder dec;
	cleanup_agent_frame struct agent_frame frame = { 0 };
	cleanup_agent_msg struct agent_msg again = { 0 };
	cleanup_error nl_error_t err = NULL;

	if (agent_msg_encode(msg, &once, &err) < 0)
		return;	/* e.g. a decoded payload that grows past the limit when defaults are added */
	agent_decoder_init(&dec);
	agent_decoder_feed(&dec, once.str, once.len);
	if (agent_decoder_next(&dec, &frame, &err) != 1 || agent_msg_decode(&frame, &again, &err) < 0 ||
	    agent_msg_encode(&again, &twice, &err) < 0 || once.len != twice.len ||
	    memcmp(once.str, twice.str, once.len))
		abort();
}

static void decode_frame(const struct agent_frame *frame, bool outer)
{
	cleanup_agent_msg struct agent_msg msg = { 0 };
	cleanup_error nl_error_t err = NULL;
	int rc = agent_msg_decode(frame, &msg, &err);

	if (rc < 0) {
		if (!err || !err->msg || rc < -AGENT_ERR_MAX)
			abort();
		return;
	}
	check_reencode(&msg);
	if (outer && msg.type == AGENT_MSG_RELAY) {
		cleanup_agent_frame struct agent_frame inner = { 0 };
		cleanup_error nl_error_t inner_err = NULL;

		if (agent_frame_parse(msg.u.relay.frame.data, msg.u.relay.frame.len, &inner, &inner_err) == 0)
			decode_frame(&inner, false);
	}
}

static void fuzz_stream(const uint8_t *data, size_t size)
{
	cleanup_agent_decoder struct agent_decoder dec;
	size_t chunk = size ? (size_t)(data[0] % 64) + 1 : 1;
	uint64_t in_frames = 0;

	agent_decoder_init(&dec);
	for (size_t off = 0; off < size; off += chunk) {
		agent_decoder_feed(&dec, data + off, size - off < chunk ? size - off : chunk);
		for (;;) {
			cleanup_agent_frame struct agent_frame frame = { 0 };
			cleanup_error nl_error_t err = NULL;
			int rc = agent_decoder_next(&dec, &frame, &err);

			if (rc == 0)
				break;
			if (rc < 0) {
				if (!err || rc < -AGENT_ERR_MAX || frame.payload)
					abort();
				continue;
			}
			in_frames += AGENT_HEADER_BYTES + (uint64_t)frame.payload_len;
			decode_frame(&frame, true);
		}
	}
	/* rejected frames: header bytes are not counted anywhere else, so allow for them */
	if (in_frames + dec.bytes_skipped + dec.bytes_discarded + agent_decoder_pending(&dec) +
		    dec.frames_rejected * AGENT_HEADER_BYTES != size)
		abort();
}

static void fuzz_tlv(const uint8_t *data, size_t size)
{
	struct agent_frame frame = { .version = AGENT_PROTO_VERSION, .request_id = 1 };

	if (!size || size - 1 > AGENT_MAX_PAYLOAD)
		return;
	frame.type = data[0];
	frame.payload_len = (uint32_t)(size - 1);
	frame.payload = (uint8_t *)data + 1;
	decode_frame(&frame, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_stream(data, size);
	fuzz_tlv(data, size);
	return 0;
}
