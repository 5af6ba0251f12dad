/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd.h - the nestlab command table: one thin cmd_*.c per command
 *
 * A command parses its own options and calls library entry points. It returns an exit status (>= 0), or
 * the negated exit status with *err set; main.c alone prints the error (crun src/crun.c does the same).
 */
#ifndef NESTLAB_CMD_H
#define NESTLAB_CMD_H

#include "error.h"

/* exit statuses, documented in `nestlab --help` and README.md */
enum nl_exit {
	NL_EXIT_OK = 0,		/* everything asked for worked; for run: every TAP point ok */
	NL_EXIT_FAILED = 1,	/* run: at least one check failed (the TAP says which) */
	NL_EXIT_USAGE = 2,	/* bad command line */
	NL_EXIT_INVALID = 3,	/* a scenario file is invalid (file:line:col messages on stderr) */
	NL_EXIT_SETUP = 4,	/* set-up failed: packages, build, images, boot, a timeout */
	NL_EXIT_INTERRUPTED = 130, /* SIGINT or SIGTERM; everything started was torn down */
};

struct command {
	const char *name;
	int (*fn)(int argc, char **argv, nl_error_t *err);
	const char *summary;
};

int cmd_validate(int argc, char **argv, nl_error_t *err);
int cmd_plan(int argc, char **argv, nl_error_t *err);
int cmd_run(int argc, char **argv, nl_error_t *err);
int cmd_list(int argc, char **argv, nl_error_t *err);
int cmd_build(int argc, char **argv, nl_error_t *err);
int cmd_images(int argc, char **argv, nl_error_t *err);
int cmd_clean(int argc, char **argv, nl_error_t *err);

/* cli_usage_error() - set *err to a usage message that names the command's --help; returns -NL_EXIT_USAGE */
int cli_usage_error(nl_error_t *err, const char *cmd, const char *fmt, ...) PRINTF_FMT(3, 4);

/*
 * cli_parse_number() - the value of a numeric option: decimal digits only, @min..@max; anything else
 * (empty, a sign, trailing text, out of range) is a usage error naming the option and the range.
 * Returns 0, or -NL_EXIT_USAGE with *err set.
 */
int cli_parse_number(const char *cmd, const char *opt, const char *text, unsigned long long min,
		     unsigned long long max, unsigned long long *value, nl_error_t *err);

#endif /* NESTLAB_CMD_H */
