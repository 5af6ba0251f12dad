/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_frame_find.c - check c's frame search (frame_find.c) on dumps of L2's pages that L1 returns:
 * exact, short (cut inside the frame), long, empty, and a frame whose header is the dump's last bytes
 *
 * Every dump is a heap buffer of exactly its length, so that a read past it is caught by ASan (make
 * CFLAGS='-O1 -g -fsanitize=address') and, without it, by the results checked here.
 */
#include <stdlib.h>
#include <string.h>

#include "frame_find.h"
#include "test.h"

#define PAGE FRAME_FIND_PAGE_BYTES

static const struct frame_spec spec = {
	.dst = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, .src = { 0x02, 0, 0, 0, 0, 1 }, .seed = 0x1234abcd5678ef01ull,
	.size_min = 1000, .size_max = 1400, .payload = FRAME_PAYLOAD_RANDOM,
};

/* dump_with_frame() - @pages pages of 0x5a with frame @index at @offset; exactly @len bytes allocated */
static uint8_t *dump_with_frame(size_t pages, uint32_t index, size_t offset, size_t len)
{
	uint8_t frame[FRAME_GEN_MAX_LEN];
	size_t flen = frame_gen_build(&spec, index, frame, sizeof(frame));
	uint8_t *full = xmalloc(pages * PAGE + flen), *dump = xmalloc(len ? len : 1);

	memset(full, 0x5a, pages * PAGE + flen);
	memcpy(full + offset, frame, flen);
	memcpy(dump, full, len < pages * PAGE + flen ? len : pages * PAGE + flen);
	free(full);
	return dump;
}

static int test_found(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT;
	cleanup_free uint8_t *dump = dump_with_frame(4, 99, 2 * PAGE + 128, 4 * PAGE);
	struct frame_find hit;

	CHECK(frame_find_last(&spec, 100, dump, 4 * PAGE, 4, &hit, &why));
	CHECK(!why.len);
	CHECK(hit.index == 99 && hit.offset == 2 * PAGE + 128);
	CHECK(hit.len == frame_gen_length(&spec, 99));
	return TEST_PASS;
}

/* an older frame is found when the newest is not there; a frame across a page end is compared to it */
static int test_older_and_page_end(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT;
	cleanup_free uint8_t *dump = dump_with_frame(2, 90, PAGE - 200, 2 * PAGE);
	struct frame_find hit;

	CHECK(frame_find_last(&spec, 100, dump, 2 * PAGE, 2, &hit, &why));
	CHECK(hit.index == 90 && hit.offset == PAGE - 200 && hit.len == 200);
	return TEST_PASS;
}

/* a dump cut inside the frame (L1 returned less than it was asked for): a clear failure, no read past it */
static int test_short_dump(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT;
	size_t len = 3 * PAGE + 64;	/* the frame at 3 * PAGE + 20: its header is in, most of it is not */
	cleanup_free uint8_t *dump = dump_with_frame(4, 99, 3 * PAGE + 20, len);
	struct frame_find hit;

	CHECK(!frame_find_last(&spec, 100, dump, len, 4, &hit, &why));
	CHECK_CONTAINS(why.str, "L1 returned 12352 bytes of L2's pages, not the 16384 of the 4 pages asked for");
	return TEST_PASS;
}

/* the dump ends right after a frame header */
static int test_header_at_end(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT;
	size_t len = FRAME_GEN_HDR_LEN;
	cleanup_free uint8_t *dump = dump_with_frame(1, 99, 0, len);
	struct frame_find hit;

	CHECK(!frame_find_last(&spec, 100, dump, len, 1, &hit, &why));
	CHECK_CONTAINS(why.str, "not the 4096 of the 1 pages asked for");
	return TEST_PASS;
}

static int test_long_and_empty_dump(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT, why2 = STRBUF_INIT;
	cleanup_free uint8_t *dump = dump_with_frame(2, 99, 100, 2 * PAGE + 1);
	struct frame_find hit;

	CHECK(!frame_find_last(&spec, 100, dump, 2 * PAGE + 1, 2, &hit, &why));
	CHECK_CONTAINS(why.str, "L1 returned 8193 bytes of L2's pages, not the 8192");
	CHECK(!frame_find_last(&spec, 100, NULL, 0, 2, &hit, &why2));
	CHECK_CONTAINS(why2.str, "L1 returned 0 bytes");
	return TEST_PASS;
}

static int test_too_many_pages_and_no_frames(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT, why2 = STRBUF_INIT, why3 = STRBUF_INIT;
	cleanup_free uint8_t *dump = dump_with_frame(1, 5, 0, PAGE);
	struct frame_find hit;

	CHECK(!frame_find_last(&spec, 100, dump, PAGE, (size_t)FRAME_FIND_PAGES_MAX + 1, &hit, &why));
	CHECK_CONTAINS(why.str, "more than nestlab searches");
	CHECK(!frame_find_last(&spec, 0, dump, PAGE, 1, &hit, &why2));
	CHECK_CONTAINS(why2.str, "none of the last");
	CHECK(!frame_find_last(&spec, 100, dump, PAGE, 1, &hit, &why3));	/* frame 5 is too old */
	CHECK_CONTAINS(why3.str, "none of the last 16 frames");
	return TEST_PASS;
}

/* a frame whose bytes differ: the first differing byte is named */
static int test_differs(void)
{
	cleanup_strbuf struct strbuf why = STRBUF_INIT;
	cleanup_free uint8_t *dump = dump_with_frame(1, 99, 0, PAGE);
	struct frame_find hit;

	dump[500] ^= 0xff;
	CHECK(!frame_find_last(&spec, 100, dump, PAGE, 1, &hit, &why));
	CHECK_CONTAINS(why.str, "frame 99 differs from what the peer sent at byte 500");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_found),
	TEST_CASE(test_older_and_page_end),
	TEST_CASE(test_short_dump),
	TEST_CASE(test_header_at_end),
	TEST_CASE(test_long_and_empty_dump),
	TEST_CASE(test_too_many_pages_and_no_frames),
	TEST_CASE(test_differs),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
