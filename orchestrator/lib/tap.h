/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tap.h - TAP 13 writer for scenario results (https://testanything.org/tap-version-13-specification.html)
 *
 * `nestlab run` prints its results on stdout as TAP 13 and nothing else (STYLE.md rule 13). A result is a
 * test point, optionally followed by a YAML diagnostic block that says what went wrong and which log in the
 * run directory to read:
 *
 *	TAP version 13
 *	1..2
 *	ok 1 - L1 boots
 *	not ok 2 - L2 DMA lands through the shadow tables
 *	  ---
 *	  message: "ping 10.0.2.2: 100% packet loss"
 *	  log: RUN/l2-console.log
 *	  ...
 *
 * Every result is also kept in memory (struct tap_result) so that the JUnit writer can be fed from it,
 * and an optional callback sees each one as it is written.
 */
#ifndef NESTLAB_TAP_H
#define NESTLAB_TAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

enum tap_directive {
	TAP_DIRECTIVE_NONE = 0,
	TAP_DIRECTIVE_SKIP,	/* "ok N - desc # SKIP reason": not run, and why */
	TAP_DIRECTIVE_TODO,	/* "not ok N - desc # TODO reason": known failure, does not count */
};

/* one extra key/value of the YAML block; the key is limited to [A-Za-z0-9_.-], others become '_' */
struct tap_kv {
	const char *key;
	const char *value;
};

/* what the caller hands to tap_emit(); every pointer may be NULL, nothing is kept */
struct tap_point {
	bool ok;
	enum tap_directive directive;
	const char *reason;		/* explanation of SKIP or TODO */
	const char *description;
	const char *message;		/* YAML "message": what was wrong and what to do */
	const char *log;		/* YAML "log": the log to read, e.g. "RUN/l1-console.log" */
	const struct tap_kv *extra;	/* more YAML key/values, in order */
	size_t n_extra;
	uint64_t duration_ms;		/* YAML "duration_ms" when > 0; also JUnit's time */
};

/* the recorded copy of a point, owned by struct tap */
struct tap_result {
	unsigned number;
	bool ok;
	enum tap_directive directive;
	char *reason;
	char *description;	/* as given, before TAP escaping */
	char *message;
	char *log;
	char **extra_keys;	/* parallel NULL-terminated vectors */
	char **extra_values;
	uint64_t duration_ms;
};

struct tap;
typedef void (*tap_result_fn)(struct tap *tap, const struct tap_result *result, void *opaque);

struct tap {
	FILE *out;
	int planned;			/* -1: plan printed by tap_end() */
	bool plan_printed;
	bool bailed_out;
	char *bail_out_reason;
	unsigned count;			/* points written so far */
	struct tap_result *results;	/* count entries */
	size_t results_alloc;
	tap_result_fn on_result;	/* optional, called after each point is written */
	void *on_result_opaque;
};

/* tap_init() - prepare a writer on @out (not owned); prints nothing yet */
void tap_init(struct tap *tap, FILE *out);
/* tap_release() - free the recorded results; does not close the stream */
void tap_release(struct tap *tap);
/* tap_begin() - print "TAP version 13" and, when @planned >= 0, the plan "1..planned" */
void tap_begin(struct tap *tap, int planned);
/* tap_emit() - write one test point and its YAML block, record it; returns its number */
unsigned tap_emit(struct tap *tap, const struct tap_point *point);
unsigned tap_ok(struct tap *tap, const char *fmt, ...) PRINTF_FMT(2, 3);
unsigned tap_not_ok(struct tap *tap, const char *fmt, ...) PRINTF_FMT(2, 3);
unsigned tap_skip(struct tap *tap, const char *reason, const char *fmt, ...) PRINTF_FMT(3, 4);
/* tap_comment() - "# text" lines, one per line of the text */
void tap_comment(struct tap *tap, const char *fmt, ...) PRINTF_FMT(2, 3);
/* tap_bail_out() - "Bail out! reason": the run cannot go on; nothing else is written afterwards */
void tap_bail_out(struct tap *tap, const char *fmt, ...) PRINTF_FMT(2, 3);
/* tap_end() - print the trailing plan if none was given; error if the plan and the count differ */
int tap_end(struct tap *tap, nl_error_t *err);

#define cleanup_tap __attribute__((cleanup(tap_release)))

#endif /* NESTLAB_TAP_H */
