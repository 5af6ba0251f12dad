/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_util.c - unit tests for util.c and error.c
 */
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "test.h"

static int test_error_wrap(void)
{
	cleanup_error nl_error_t err = NULL;

	CHECK(nl_error(&err, ENOENT, "open %s", "qmp.sock") == -1);
	CHECK(err->errnum == ENOENT);
	CHECK(nl_error_wrap(&err, "L1 monitor") == -1);
	CHECK_STR(err->msg, "L1 monitor: open qmp.sock: No such file or directory");
	return TEST_PASS;
}

static int test_strbuf_xml(void)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;

	strbuf_add_xml_escaped(&sb, "a<b>&\"'\x01");
	CHECK_STR(sb.str, "a&lt;b&gt;&amp;&quot;&apos;?");
	return TEST_PASS;
}

static int test_strv(void)
{
	cleanup_strv char **v = NULL;

	strv_push(&v, "qemu-system-x86_64");
	strv_pushf(&v, "-m %dM", 512);
	CHECK(strv_len(v) == 2);
	CHECK_STR(v[1], "-m 512M");
	CHECK(v[2] == NULL);
	return TEST_PASS;
}

static int test_edit_distance(void)
{
	CHECK(edit_distance("caching_mode", "caching_mode") == 0);
	CHECK(edit_distance("cachng_mode", "caching_mode") == 1);
	CHECK(edit_distance("", "abc") == 3);
	return TEST_PASS;
}

static int test_snprintf_checked(void)
{
	char buf[8];

	CHECK(snprintf_checked(buf, sizeof(buf), "%s", "1234567") == 7);
	CHECK(snprintf_checked(buf, sizeof(buf), "%s", "12345678") == -1);
	CHECK(errno == ENAMETOOLONG);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_error_wrap), TEST_CASE(test_strbuf_xml), TEST_CASE(test_strv),
	TEST_CASE(test_edit_distance), TEST_CASE(test_snprintf_checked),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
