/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_escape.c - the escaper for guest text (escape.c): control bytes, C1 controls, invalid UTF-8,
 * the flags of each sink, and the cut at @max
 */
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "test.h"

#define CHECK_ESCAPE(in, flags, want)                                      \
	do {                                                               \
		cleanup_free char *got_ = escape_str((in), SIZE_MAX, (flags)); \
		CHECK_STR(got_, (want));                                   \
	} while (0)

static int test_controls(void)
{
	CHECK_ESCAPE("plain text: 1 + 1", 0, "plain text: 1 + 1");
	CHECK_ESCAPE("\x1b[31mred\x1b[0m", 0, "\\x1b[31mred\\x1b[0m");
	CHECK_ESCAPE("title\x1b]0;owned\x07", ESCAPE_MULTILINE, "title\\x1b]0;owned\\x07");
	CHECK_ESCAPE("a\nb\tc\rd\x7f", 0, "a\\nb\\tc\\x0dd\\x7f");
	CHECK_ESCAPE("a\nb\tc\rd", ESCAPE_MULTILINE, "a\nb\tc\\x0dd");
	CHECK_ESCAPE("back\\slash", 0, "back\\slash");
	CHECK_ESCAPE("back\\slash", ESCAPE_BACKSLASH, "back\\\\slash");
	CHECK_ESCAPE("", 0, "");
	CHECK_ESCAPE(NULL, 0, "");
	return TEST_PASS;
}

static int test_utf8(void)
{
	/* valid UTF-8 kept with ESCAPE_UTF8, escaped byte by byte without it */
	CHECK_ESCAPE("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", ESCAPE_UTF8, "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	CHECK_ESCAPE("\xc3\xa9", 0, "\\xc3\\xa9");
	/* C1 controls (CSI U+009B) and a raw 8-bit CSI are escaped even with ESCAPE_UTF8 */
	CHECK_ESCAPE("\xc2\x9b" "2J", ESCAPE_UTF8, "\\xc2\\x9b2J");
	CHECK_ESCAPE("\x9b" "2J", ESCAPE_MULTILINE, "\\x9b2J");
	/* overlong, surrogate, above U+10FFFF, truncated sequences */
	CHECK_ESCAPE("\xc0\xaf", ESCAPE_UTF8, "\\xc0\\xaf");
	CHECK_ESCAPE("\xe0\x80\xaf", ESCAPE_UTF8, "\\xe0\\x80\\xaf");
	CHECK_ESCAPE("\xed\xa0\x80", ESCAPE_UTF8, "\\xed\\xa0\\x80");
	CHECK_ESCAPE("\xf4\x90\x80\x80", ESCAPE_UTF8, "\\xf4\\x90\\x80\\x80");
	CHECK_ESCAPE("x\xe2\x82", ESCAPE_UTF8, "x\\xe2\\x82");
	CHECK_ESCAPE("\xff\xfe", ESCAPE_UTF8, "\\xff\\xfe");
	CHECK(escape_utf8_len("\xc2\xa0", 2) == 2 && escape_utf8_len("\xc2\x85", 2) == 0 && escape_utf8_len("a", 1) == 0);
	return TEST_PASS;
}

static int test_bytes_and_cut(void)
{
	static const unsigned char bin[] = { 'o', 'k', 0, 0x1b, 'z' };
	cleanup_free char *all = escape_bytes(bin, sizeof(bin), SIZE_MAX, 0);
	cleanup_free char *cut = escape_bytes(bin, sizeof(bin), 3, 0);
	cleanup_free char *none = escape_bytes(NULL, 0, 10, 0);

	CHECK_STR(all, "ok\\x00\\x1bz");
	CHECK_STR(cut, "ok\\x00... (5 bytes)");
	CHECK_STR(none, "");
	return TEST_PASS;
}

/* every byte value: the result never holds a control byte, and only kept UTF-8 above 0x7f */
static int test_every_byte(void)
{
	for (unsigned b = 0; b < 256; b++) {
		unsigned char in[3] = { 'a', (unsigned char)b, 'z' };
		cleanup_free char *one = escape_bytes(in, 3, SIZE_MAX, ESCAPE_UTF8);
		cleanup_free char *multi = escape_bytes(in, 3, SIZE_MAX, ESCAPE_MULTILINE);

		for (const unsigned char *p = (const unsigned char *)one; *p; p++)
			CHECK(*p >= 0x20 && *p < 0x7f);
		for (const unsigned char *p = (const unsigned char *)multi; *p; p++)
			CHECK((*p >= 0x20 && *p < 0x7f) || *p == '\n' || *p == '\t');
	}
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_controls),
	TEST_CASE(test_utf8),
	TEST_CASE(test_bytes_and_cut),
	TEST_CASE(test_every_byte),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
