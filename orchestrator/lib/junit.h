/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * junit.h - JUnit XML report of one run, for CI systems that read test results in that format
 *
 *	<testsuites>
 *	  <testsuite name="nested-igb" tests="3" failures="1" skipped="1" errors="0" time="12.345">
 *	    <testcase classname="nested-igb" name="L1 boots" time="3.200"/>
 *	    <testcase ...><failure message="...">text</failure></testcase>
 *	    <testcase ...><skipped message="no KVM"/></testcase>
 *	  </testsuite>
 *	</testsuites>
 *
 * The report is built in memory (junit_add(), or junit_add_tap() from the TAP writer's results) and
 * written atomically, so a reader never sees half a file.
 */
#ifndef NESTLAB_JUNIT_H
#define NESTLAB_JUNIT_H

#include <stdint.h>

#include "error.h"
#include "tap.h"

enum junit_status {
	JUNIT_PASS = 0,
	JUNIT_FAILURE,	/* a check failed */
	JUNIT_ERROR,	/* the test could not run to its end (set-up failure, bail out) */
	JUNIT_SKIPPED,
};

/* one test case; junit_add() copies every string, NULLs are fine */
struct junit_case {
	const char *classname;	/* NULL: the suite name */
	const char *name;
	enum junit_status status;
	const char *message;	/* failure/error/skipped message attribute */
	const char *text;	/* failure/error element text (details) */
	const char *system_out;	/* <system-out>: e.g. the log path and diagnostics */
	uint64_t duration_ms;
};

struct junit_entry {
	char *classname, *name, *message, *text, *system_out;
	enum junit_status status;
	uint64_t duration_ms;
};

struct junit {
	char *suite_name;
	uint64_t duration_ms;	/* of the whole suite; 0: the sum of the cases */
	struct junit_entry *entries;
	size_t count, alloc;
};

/* junit_init() - an empty report for the suite @suite_name */
void junit_init(struct junit *junit, const char *suite_name);
/* junit_release() - free everything */
void junit_release(struct junit *junit);
/* junit_add() - append a copy of @tc */
void junit_add(struct junit *junit, const struct junit_case *tc);
/*
 * junit_add_tap() - append every result recorded by @tap; SKIP and failed TODO become <skipped>, not ok
 * becomes <failure> with the YAML message, a bail-out becomes one more case with <error>
 */
void junit_add_tap(struct junit *junit, const struct tap *tap);
/* junit_render() - the XML document, a string to free */
char *junit_render(const struct junit *junit);
/* junit_write() - write the XML document to @path atomically (temporary file in the same dir + rename) */
int junit_write(const struct junit *junit, const char *path, nl_error_t *err);

#define cleanup_junit __attribute__((cleanup(junit_release)))

#endif /* NESTLAB_JUNIT_H */
