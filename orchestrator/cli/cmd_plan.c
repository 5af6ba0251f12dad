/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_plan.c - `nestlab plan SCENARIO`: print the resolved plan with every default filled in
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "plan.h"
#include "scenario.h"

static void plan_usage(FILE *out)
{
	fprintf(out, "Usage: nestlab plan [--run-dir DIR] SCENARIO.yaml\n\n"
		     "Print what 'nestlab run' would do: for each level the machine, accelerator and its\n"
		     "fallback, the vIOMMU options, the device path from L0 to L2, the exact libvirt domain\n"
		     "XML (or L0 QEMU argv) and L2 QEMU argv, the workload, checks, expectation, timeouts and\n"
		     "sources. Values that came from a default are marked '(default)'. Nothing is started.\n\n"
		     "  --run-dir DIR   show paths under DIR instead of $RUN\n"
		     "  -h, --help      this help\n");
}

int cmd_plan(int argc, char **argv, nl_error_t *err)
{
	static const struct option opts[] = {
		{ "run-dir", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *plan = NULL;
	const char *run_dir = NULL;
	struct plan_env env;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': run_dir = optarg; break;
		case 'h': plan_usage(stdout); return NL_EXIT_OK;
		default: return cli_usage_error(err, "plan", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(err, "plan", "expected exactly one scenario file");

	if (scenario_parse_file(argv[optind], &scn, err) < 0)
		return -NL_EXIT_INVALID;
	plan_env_init_default(&env, run_dir);
	env.env_placeholders = true;
	ret = plan_resolve(scn, &env, &plan, err);
	plan_env_release(&env);
	if (ret < 0)
		return -NL_EXIT_INVALID;
	plan_print(plan, stdout);
	return NL_EXIT_OK;
}
