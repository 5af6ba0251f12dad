/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_util.c - unit tests for util.c and error.c
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static void log_line(FILE *f, enum log_stamp stamp, uint64_t t0, const char *fmt, ...) PRINTF_FMT(4, 5);
static void log_line(FILE *f, enum log_stamp stamp, uint64_t t0, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(f, stamp, t0, fmt, ap);
	va_end(ap);
}

/* test_log_vline() - both stamps, the time since t0, one flushed line each; a NULL log is fine */
static int test_log_vline(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	uint64_t t0 = now_ms() - 12345;
	unsigned long long s1, ms1, s2, ms2;
	char w1[16], w2[16];
	int ret = TEST_FAIL;

	CHECK(f);
	log_line(f, LOG_STAMP_PLAIN, t0, "hello %d", 1);
	log_line(f, LOG_STAMP_BRACKETED, t0, "world");
	log_line(NULL, LOG_STAMP_PLAIN, t0, "nowhere");
	if (sscanf(text, "%llu.%3llu %15s 1\n[%llu.%3llu] %15s", &s1, &ms1, w1, &s2, &ms2, w2) == 6 &&
	    s1 * 1000 + ms1 >= 12345 && s1 < 20 && s2 * 1000 + ms2 >= s1 * 1000 + ms1 && !strcmp(w1, "hello") &&
	    !strcmp(w2, "world") && strstr(text, "hello 1\n[") && text[len - 1] == '\n' && text[0] != '[')
		ret = TEST_PASS;
	else
		test_diag("log: %s", text);
	fclose(f);
	free(text);
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_error_wrap), TEST_CASE(test_strbuf_xml), TEST_CASE(test_strv),
	TEST_CASE(test_edit_distance), TEST_CASE(test_snprintf_checked), TEST_CASE(test_log_vline),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
