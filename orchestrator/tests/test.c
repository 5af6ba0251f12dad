/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test.c - TAP 13 output for the unit tests (see test.h)
 */
#include <stdarg.h>
#include <stdlib.h>

#include "error.h"
#include "proc.h"
#include "test.h"

static char skip_reason[512];

int test_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	return TEST_SKIP;
}

void test_diag(const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* keep each diagnostic on "# " lines, whatever newlines the text holds */
	fputs("# ", stdout);
	for (const char *p = line; *p; p++) {
		fputc(*p, stdout);
		if (*p == '\n' && p[1])
			fputs("# ", stdout);
	}
	fputc('\n', stdout);
	fflush(stdout);
}

void test_diag_run(const char *out, const char *err)
{
	const char *e = err ? err : "";
	size_t len = strlen(e);

	for (const char *line = out ? out : ""; *line;) {
		size_t n = strcspn(line, "\n");

		test_diag("| %.*s", (int)n, line);
		line += n + (line[n] == '\n');
	}
	test_diag("stderr (end):\n%s", len > 3000 ? e + len - 3000 : e);
}

/* selected() - @name is in $NESTLAB_TESTS (comma-separated), or that variable is unset or empty */
static bool selected(const char *name)
{
	const char *list = getenv("NESTLAB_TESTS");
	size_t len = strlen(name);

	if (!list || !*list)
		return true;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, name, len))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

int test_main(const struct test_case *cases, size_t n)
{
	int failed = 0;

	/* unbuffered: a test that crashes must not lose the lines before it */
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("TAP version 13\n1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		int rc;

		skip_reason[0] = '\0';
		rc = selected(cases[i].name) ? cases[i].fn() : test_skip("not in NESTLAB_TESTS");
		if (rc == TEST_PASS)
			printf("ok %zu - %s\n", i + 1, cases[i].name);
		else if (rc == TEST_SKIP)
			printf("ok %zu - %s # SKIP %s\n", i + 1, cases[i].name, skip_reason);
		else {
			printf("not ok %zu - %s\n", i + 1, cases[i].name);
			failed++;
		}
	}
	return failed ? 1 : 0;
}

char *test_fixture(const char *name)
{
	const char *dir = getenv("NESTLAB_FIXTURES");

	return xasprintf("%s/%s", dir ? dir : "orchestrator/tests/fixtures", name);
}

const char *test_nestlab_bin(void)
{
	const char *bin = getenv("NESTLAB_BIN");

	return bin && *bin ? bin : "build/nestlab";
}

int test_setup_cache(void)
{
	static const char *const steps[][3] = { { "build", "all", NULL }, { "images", NULL, NULL } };

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		cleanup_error nl_error_t err = NULL;
		cleanup_free char *out = NULL;
		char *const argv[] = { (char *)test_nestlab_bin(), (char *)steps[i][0], (char *)steps[i][1], NULL };

		if (proc_run(argv, 90 * 60 * 1000, &out, &err) < 0) {
			test_diag("nestlab %s: %s", steps[i][0], err->msg);
			test_diag_run(out, NULL);
			return -1;
		}
	}
	return 0;
}
