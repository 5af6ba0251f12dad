/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_frame_gen.c - unit tests for frame_gen.c: layout, determinism, verification, CRC-32
 *
 * The golden CRCs below were computed by an independent Python implementation written from the format
 * description in docs/vfio-nic.md, so a change to the byte format fails here before it breaks a peer.
 */
#include <string.h>

#include "frame_gen.h"
#include "test.h"

static const struct frame_spec base_spec = {
	.dst = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
	.src = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 },
	.seed = 42,
	.size_min = 60,
	.size_max = 1514,
	.payload = FRAME_PAYLOAD_RANDOM,
};

static int test_crc32_known_answer(void)
{
	CHECK(frame_gen_crc32((const uint8_t *)"123456789", 9) == 0xcbf43926u);
	CHECK(frame_gen_crc32((const uint8_t *)"", 0) == 0);
	return TEST_PASS;
}

static int test_layout(void)
{
	struct frame_spec spec = base_spec;
	uint8_t buf[FRAME_GEN_MAX_LEN];
	struct frame_header hdr;
	size_t len;

	spec.size_min = spec.size_max = 100;
	spec.payload = FRAME_PAYLOAD_PATTERN;
	len = frame_gen_build(&spec, 7, buf, sizeof(buf));
	CHECK(len == 100);
	CHECK(!memcmp(buf, spec.dst, 6) && !memcmp(buf + 6, spec.src, 6));
	CHECK(buf[12] == 0x88 && buf[13] == 0xb5);
	CHECK(!memcmp(buf + 14, "NLFG", 4));
	for (int i = 18; i < 25; i++)
		CHECK(buf[i] == 0);
	CHECK(buf[25] == 42);
	CHECK(buf[26] == 0 && buf[27] == 0 && buf[28] == 0 && buf[29] == 7);
	CHECK(buf[30] == 0 && buf[31] == 100 && buf[32] == 2 && buf[33] == 2);
	CHECK(buf[34] == (uint8_t)(34 + 7) && buf[99] == (uint8_t)(99 + 7));
	CHECK(frame_gen_parse(buf, len, &hdr) == 0);
	CHECK(hdr.seed == 42 && hdr.index == 7 && hdr.length == 100 && hdr.payload == 2 && hdr.version == 2);
	/* the whole 64-bit seed goes on the wire, most significant byte first */
	spec.seed = 0x0123456789abcdefull;
	CHECK(frame_gen_build(&spec, 7, buf, sizeof(buf)) == 100);
	CHECK(buf[18] == 0x01 && buf[21] == 0x67 && buf[22] == 0x89 && buf[25] == 0xef);
	CHECK(frame_gen_parse(buf, len, &hdr) == 0 && hdr.seed == 0x0123456789abcdefull);
	return TEST_PASS;
}

/* independent reference values (see the file comment) */
static int test_golden(void)
{
	static const struct {
		uint64_t seed;
		enum frame_payload payload;
		uint32_t index;
		size_t len;
		uint32_t crc;
	} golden[] = {
		{ 42, FRAME_PAYLOAD_RANDOM, 0, 657, 0xe1aed6a4u },
		{ 42, FRAME_PAYLOAD_RANDOM, 1, 439, 0x1a66c37fu },
		{ 42, FRAME_PAYLOAD_RANDOM, 999, 1240, 0x6d745f0fu },
		{ 42, FRAME_PAYLOAD_ZERO, 3, 911, 0x2d1f87bbu },
		{ 42, FRAME_PAYLOAD_PATTERN, 4, 202, 0x9e65d876u },
		{ 0x0123456789abcdefull, FRAME_PAYLOAD_RANDOM, 0, 71, 0xa877dd07u },
		{ 42 | 1ull << 32, FRAME_PAYLOAD_RANDOM, 0, 925, 0x0de7cf7au },
	};
	uint8_t buf[FRAME_GEN_MAX_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(golden); i++) {
		struct frame_spec spec = base_spec;
		size_t len;

		spec.seed = golden[i].seed;
		spec.payload = golden[i].payload;
		len = frame_gen_build(&spec, golden[i].index, buf, sizeof(buf));
		if (len != golden[i].len || frame_gen_crc32(buf, len) != golden[i].crc) {
			test_diag("golden %zu: len %zu crc 0x%08x, expected len %zu crc 0x%08x", i, len,
				  frame_gen_crc32(buf, len), golden[i].len, golden[i].crc);
			return TEST_FAIL;
		}
	}
	return TEST_PASS;
}

static int test_sizes_in_range_and_spread(void)
{
	struct frame_spec spec = base_spec;
	size_t seen_min = 99999, seen_max = 0;

	for (uint32_t i = 0; i < 5000; i++) {
		size_t len = frame_gen_length(&spec, i);

		CHECK(len >= 60 && len <= 1514);
		seen_min = len < seen_min ? len : seen_min;
		seen_max = len > seen_max ? len : seen_max;
	}
	CHECK(seen_min < 70 && seen_max > 1500);
	spec.size_min = spec.size_max = 64;
	CHECK(frame_gen_length(&spec, 12345) == 64);
	return TEST_PASS;
}

static int test_verify_finds_first_difference(void)
{
	uint8_t buf[FRAME_GEN_MAX_LEN];
	size_t len = frame_gen_build(&base_spec, 5, buf, sizeof(buf));

	CHECK(len > 100);
	CHECK(frame_gen_verify(&base_spec, 5, buf, len) == -1);
	buf[77] ^= 0x10;
	buf[90] ^= 0x01;
	CHECK(frame_gen_verify(&base_spec, 5, buf, len) == 77);
	buf[77] ^= 0x10;
	buf[90] ^= 0x01;
	CHECK(frame_gen_verify(&base_spec, 5, buf, len - 1) == (long)len - 1);	/* truncated */
	CHECK(frame_gen_verify(&base_spec, 6, buf, len) == 29);			/* wrong index byte */
	return TEST_PASS;
}

static int test_deterministic_and_distinct(void)
{
	uint8_t a[FRAME_GEN_MAX_LEN], b[FRAME_GEN_MAX_LEN];
	struct frame_spec other = base_spec;
	size_t la = frame_gen_build(&base_spec, 10, a, sizeof(a));
	size_t lb = frame_gen_build(&base_spec, 10, b, sizeof(b));

	CHECK(la == lb && !memcmp(a, b, la));
	other.seed = 43;
	lb = frame_gen_build(&other, 10, b, sizeof(b));
	CHECK(la != lb || memcmp(a, b, la));
	return TEST_PASS;
}

/*
 * test_seed_high_bits() - traffic.seed is a uint64: two seeds that differ only above bit 31 give other
 * frames (header and payload), and a receiver reads back the whole seed. With the seed cut to 32 bits
 * on the way (as it was), both frames were the same bytes.
 */
static int test_seed_high_bits(void)
{
	uint8_t a[FRAME_GEN_MAX_LEN], b[FRAME_GEN_MAX_LEN];
	struct frame_spec lo = base_spec, hi = base_spec, got;
	uint32_t index;
	size_t la, lb;

	lo.size_min = lo.size_max = hi.size_min = hi.size_max = 1000;
	hi.seed = base_spec.seed | 0xdeadbeefull << 32;
	la = frame_gen_build(&lo, 10, a, sizeof(a));
	lb = frame_gen_build(&hi, 10, b, sizeof(b));
	CHECK(la == 1000 && lb == 1000);
	CHECK(memcmp(a, b, la) != 0);
	CHECK(memcmp(a + FRAME_GEN_HDR_LEN, b + FRAME_GEN_HDR_LEN, la - FRAME_GEN_HDR_LEN) != 0);
	CHECK(frame_gen_verify(&lo, 10, b, lb) >= 0 && frame_gen_verify(&hi, 10, b, lb) == -1);
	CHECK(frame_gen_self_spec(b, lb, &got, &index) == 0 && got.seed == hi.seed && index == 10);
	/* and every single bit of the seed matters for the payload */
	for (int bit = 0; bit < 64; bit++) {
		struct frame_spec flip = lo;

		flip.seed ^= 1ull << bit;
		CHECK(frame_gen_build(&flip, 10, b, sizeof(b)) == 1000);
		CHECK(memcmp(a + FRAME_GEN_HDR_LEN, b + FRAME_GEN_HDR_LEN, la - FRAME_GEN_HDR_LEN) != 0);
	}
	return TEST_PASS;
}

static int test_self_spec(void)
{
	uint8_t buf[FRAME_GEN_MAX_LEN];
	struct frame_spec spec;
	uint32_t index;
	size_t len = frame_gen_build(&base_spec, 31, buf, sizeof(buf));

	CHECK(frame_gen_self_spec(buf, len, &spec, &index) == 0);
	CHECK(index == 31 && spec.seed == 42 && spec.size_min == len && spec.size_max == len);
	CHECK(frame_gen_verify(&spec, index, buf, len) == -1);
	buf[len - 1] ^= 0xff;
	CHECK(frame_gen_verify(&spec, index, buf, len) == (long)len - 1);
	buf[14] = 'X';
	CHECK(frame_gen_self_spec(buf, len, &spec, &index) == -1);
	return TEST_PASS;
}

static int test_rejects_bad_input(void)
{
	struct frame_spec spec = base_spec;
	uint8_t small[40];
	struct frame_header hdr;
	enum frame_payload payload;

	CHECK(frame_gen_length(&spec, 0) > sizeof(small));
	CHECK(frame_gen_build(&spec, 0, small, sizeof(small)) == 0);
	spec.size_min = 20;
	CHECK(!frame_gen_spec_valid(&spec));
	spec.size_min = 100;
	spec.size_max = 99;
	CHECK(!frame_gen_spec_valid(&spec));
	CHECK(frame_gen_verify(&spec, 0, small, sizeof(small)) == 0);
	CHECK(frame_gen_parse(small, 10, &hdr) == -1);
	memset(small, 0, sizeof(small));
	CHECK(frame_gen_parse(small, sizeof(small), &hdr) == -1);
	CHECK(frame_payload_parse("pattern", &payload) == 0 && payload == FRAME_PAYLOAD_PATTERN);
	CHECK(frame_payload_parse("ones", &payload) == -1);
	CHECK(!strcmp(frame_payload_name(FRAME_PAYLOAD_ZERO), "zero"));
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_crc32_known_answer),	  TEST_CASE(test_layout),
	TEST_CASE(test_golden),			  TEST_CASE(test_sizes_in_range_and_spread),
	TEST_CASE(test_verify_finds_first_difference), TEST_CASE(test_deterministic_and_distinct),
	TEST_CASE(test_seed_high_bits),		  TEST_CASE(test_self_spec),
	TEST_CASE(test_rejects_bad_input),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
