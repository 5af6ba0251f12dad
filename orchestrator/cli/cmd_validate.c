/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_validate.c - `nestlab validate SCENARIO...`: parse and resolve each file, report every problem
 *
 * Validation is parse + plan resolution on this machine's environment, so that contradictions between
 * keys (which only plan resolution sees) are reported too. Nothing is started or written.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "plan.h"
#include "scenario.h"

static void validate_usage(FILE *out)
{
	fprintf(out, "Usage: nestlab validate [-q] SCENARIO.yaml...\n\n"
		     "Parse each scenario and resolve its plan; print every problem as\n"
		     "FILE:LINE:COL: error: WHAT; hint: WHAT TO DO. Nothing is started.\n\n"
		     "  -q, --quiet   print nothing for valid files\n"
		     "  -h, --help    this help\n\n"
		     "Exit status: 0 all valid, 3 at least one invalid, 2 bad command line.\n");
}

/**
 * validate_one() - parse and resolve one scenario
 * @path:	scenario file
 * @quiet:	do not print "ok" lines
 * @err:	problems found
 *
 * Return: 0 when valid, -1 with @err set otherwise.
 */
static int validate_one(const char *path, bool quiet, nl_error_t *err)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *plan = NULL;
	struct plan_env env;
	int ret;

	if (scenario_parse_file(path, &scn, err) < 0)
		return -1;
	plan_env_init_default(&env, NULL);
	env.env_placeholders = true;
	ret = plan_resolve(scn, &env, &plan, err);
	plan_env_release(&env);
	if (ret < 0)
		return -1;
	for (size_t i = 0; plan->notes && plan->notes[i]; i++)
		fprintf(stderr, "%s\n", plan->notes[i]);
	if (!quiet)
		printf("%s: ok (scenario %s)\n", path, plan->name);
	return 0;
}

int cmd_validate(int argc, char **argv, nl_error_t *err)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_strbuf struct strbuf problems = STRBUF_INIT;
	bool quiet = false;
	int c;

	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'h': validate_usage(stdout); return NL_EXIT_OK;
		default: return cli_usage_error(err, "validate", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(err, "validate", "no scenario file given");

	for (int i = optind; i < argc; i++) {
		cleanup_error nl_error_t one = NULL;

		if (validate_one(argv[i], quiet, &one) < 0) {
			if (problems.len)
				strbuf_puts(&problems, "\n");
			strbuf_puts(&problems, one->msg);
		}
	}
	if (problems.len) {
		nl_error(err, 0, "%s", problems.str);
		return -NL_EXIT_INVALID;
	}
	return NL_EXIT_OK;
}
