/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_junit.c - unit tests for junit.c: counts, escaping of hostile names and messages, the TAP bridge,
 * atomic writing, and well-formedness checked by xmllint (skipped with a reason when not installed)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "junit.h"
#include "tap.h"
#include "test.h"

/* make_tmpdir() - a fresh directory under $TMPDIR, a string to free */
static char *make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/nestlab-junit-XXXXXX", base ? base : "/tmp");

	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* count() - occurrences of @needle in @hay */
static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * xml_well_formed_lite() - a tiny structural check used when xmllint is missing: no raw '<' or '&' in
 * attribute values or text other than markup and entities, and matching element nesting
 */
static bool xml_well_formed_lite(const char *xml)
{
	const char *stack[16];
	size_t depth = 0, stack_len[16];
	const char *p = strstr(xml, "?>");

	if (!p)
		return false;
	for (p += 2; *p; p++) {
		if (*p == '&' && !(strncmp(p, "&lt;", 4) == 0 || strncmp(p, "&gt;", 4) == 0 ||
				   strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&quot;", 6) == 0 ||
				   strncmp(p, "&apos;", 6) == 0 || strncmp(p, "&#", 2) == 0))
			return false;
		if (*p != '<')
			continue;
		const char *end = strchr(p, '>');
		const char *name = p + 1 + (p[1] == '/');
		size_t len = strcspn(name, " />");

		if (!end || memchr(p + 1, '<', (size_t)(end - p - 1)))
			return false;
		if (p[1] == '/') {
			if (!depth || stack_len[depth - 1] != len || strncmp(stack[depth - 1], name, len))
				return false;
			depth--;
		} else if (end[-1] != '/') {
			if (depth == ARRAY_SIZE(stack))
				return false;
			stack[depth] = name;
			stack_len[depth++] = len;
		}
		p = end;
	}
	return depth == 0;
}

/* xmllint_ok() - 1: xmllint accepts @path, 0: it rejects it, -1: xmllint is not installed */
static int xmllint_ok(const char *path)
{
	pid_t pid;
	int status;

	if (access("/usr/bin/xmllint", X_OK) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		execl("/usr/bin/xmllint", "xmllint", "--noout", path, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return 0;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void add_hostile_cases(struct junit *j)
{
	struct junit_case pass = { .name = "L1 <boots> & \"runs\"", .duration_ms = 3200 };
	struct junit_case fail = {
		.name = "DMA 'shadow'", .status = JUNIT_FAILURE, .duration_ms = 5,
		.message = "expected <1>\nline two & \"more\"", .text = "]]> </failure> <x>\x01\x1b[0m",
		.system_out = "log: RUN/l2 & console.log",
	};
	struct junit_case skip = { .name = "bad utf8 \xff\xfe \xc3\xa9", .status = JUNIT_SKIPPED,
				   .message = "no /dev/kvm" };
	struct junit_case error = { .classname = "set-up", .name = "boot", .status = JUNIT_ERROR,
				    .message = "timeout", .text = "qemu killed" };

	junit_add(j, &pass);
	junit_add(j, &fail);
	junit_add(j, &skip);
	junit_add(j, &error);
}

static int test_junit_counts_and_structure(void)
{
	cleanup_junit struct junit j = { 0 };
	cleanup_free char *xml = NULL;

	junit_init(&j, "nested-igb");
	add_hostile_cases(&j);
	xml = junit_render(&j);
	CHECK_CONTAINS(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
	CHECK_CONTAINS(xml, "<testsuite name=\"nested-igb\" tests=\"4\" failures=\"1\" skipped=\"1\" "
			    "errors=\"1\" time=\"3.205\">");
	CHECK_CONTAINS(xml, "<testcase classname=\"nested-igb\" name=\"L1 &lt;boots&gt; &amp; "
			    "&quot;runs&quot;\" time=\"3.200\"/>");
	CHECK_CONTAINS(xml, "<testcase classname=\"set-up\" name=\"boot\" time=\"0.000\">");
	CHECK_CONTAINS(xml, "<error message=\"timeout\">qemu killed</error>");
	CHECK_CONTAINS(xml, "<skipped message=\"no /dev/kvm\"/>");
	CHECK(count(xml, "<testcase ") == 4);
	CHECK(xml_well_formed_lite(xml));
	return TEST_PASS;
}

static int test_junit_escaping(void)
{
	cleanup_junit struct junit j = { 0 };
	cleanup_free char *xml = NULL;

	junit_init(&j, "suite \"<&>\"");
	add_hostile_cases(&j);
	xml = junit_render(&j);
	CHECK_CONTAINS(xml, "<testsuite name=\"suite &quot;&lt;&amp;&gt;&quot;\"");
	CHECK_CONTAINS(xml, "name=\"DMA &apos;shadow&apos;\"");
	CHECK_CONTAINS(xml, "<failure message=\"expected &lt;1&gt;&#10;line two &amp; &quot;more&quot;\">"
			    "]]&gt; &lt;/failure&gt; &lt;x&gt;??[0m</failure>");
	CHECK_CONTAINS(xml, "<system-out>log: RUN/l2 &amp; console.log</system-out>");
	CHECK_CONTAINS(xml, "name=\"bad utf8 ?? \xc3\xa9\"");
	return TEST_PASS;
}

static int test_junit_from_tap(void)
{
	cleanup_junit struct junit j = { 0 };
	cleanup_tap struct tap tap = { 0 };
	cleanup_free char *xml = NULL;
	cleanup_file FILE *devnull = fopen("/dev/null", "we");
	struct tap_point fail = { .ok = false, .description = "ping", .message = "100% loss",
				  .log = "RUN/l2.log", .duration_ms = 1234 };
	struct tap_point todo = { .ok = false, .directive = TAP_DIRECTIVE_TODO, .reason = "later",
				  .description = "ats" };

	CHECK(devnull);
	tap_init(&tap, devnull);
	tap_begin(&tap, -1);
	tap_ok(&tap, "boot");
	tap_emit(&tap, &fail);
	tap_skip(&tap, "no kvm", "l2");
	tap_emit(&tap, &todo);
	tap_bail_out(&tap, "L0 died");
	junit_init(&j, "s");
	junit_add_tap(&j, &tap);
	xml = junit_render(&j);
	CHECK_CONTAINS(xml, "tests=\"5\" failures=\"1\" skipped=\"2\" errors=\"1\" time=\"1.234\"");
	CHECK_CONTAINS(xml, "<testcase classname=\"s\" name=\"boot\" time=\"0.000\"/>");
	CHECK_CONTAINS(xml, "<failure message=\"100% loss\">100% loss\nlog: RUN/l2.log\n</failure>");
	CHECK_CONTAINS(xml, "<skipped message=\"no kvm\"/>");
	CHECK_CONTAINS(xml, "<skipped message=\"TODO later\"/>");
	CHECK_CONTAINS(xml, "name=\"Bail out!\" time=\"0.000\">\n      <error message=\"L0 died\"/>");
	return TEST_PASS;
}

static int test_junit_write_atomic_and_valid(void)
{
	cleanup_junit struct junit j = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *dir = make_tmpdir();
	cleanup_free char *path = NULL;
	cleanup_free char *a = NULL;
	cleanup_free char *b = NULL;
	struct stat st;
	int lint;

	CHECK(dir);
	path = xasprintf("%s/junit.xml", dir);
	junit_init(&j, "nested-igb");
	add_hostile_cases(&j);
	CHECK(junit_write(&j, path, &err) == 0);
	a = read_file_text(path);
	b = junit_render(&j);
	CHECK_STR(a, b);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	/* a second write replaces the file and leaves no temporary behind */
	CHECK(junit_write(&j, path, &err) == 0);
	lint = xmllint_ok(path);
	unlink(path);
	CHECK(rmdir(dir) == 0);	/* fails if a temporary file was left */
	if (lint < 0)
		return test_skip("xmllint not installed (apt-get install libxml2-utils); structure checked "
				 "by the built-in check only");
	CHECK(lint == 1);
	return TEST_PASS;
}

static int test_junit_write_error(void)
{
	cleanup_junit struct junit j = { 0 };
	cleanup_error nl_error_t err = NULL;

	junit_init(&j, "s");
	CHECK(junit_write(&j, "/nonexistent-dir/junit.xml", &err) == -1);
	CHECK(err->errnum == ENOENT);
	CHECK_CONTAINS(err->msg, "create /nonexistent-dir/junit.xml.tmp.");
	return TEST_PASS;
}

static int test_junit_empty_suite(void)
{
	cleanup_junit struct junit j = { 0 };
	cleanup_free char *xml = NULL;

	junit_init(&j, NULL);
	j.duration_ms = 61001;
	xml = junit_render(&j);
	CHECK_STR(xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
		       "  <testsuite name=\"nestlab\" tests=\"0\" failures=\"0\" skipped=\"0\" errors=\"0\" "
		       "time=\"61.001\">\n  </testsuite>\n</testsuites>\n");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_junit_counts_and_structure), TEST_CASE(test_junit_escaping),
	TEST_CASE(test_junit_from_tap),		    TEST_CASE(test_junit_write_atomic_and_valid),
	TEST_CASE(test_junit_write_error),	    TEST_CASE(test_junit_empty_suite),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
