/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_run.c - `nestlab run SCENARIO`: run a scenario, TAP 13 on stdout, JUnit XML in the run directory
 *
 * stdout carries TAP only (STYLE.md rule 13); progress and logs go to stderr and the run directory.
 * The stages are run.c's (run.h): set-up, L1, L2, traffic, checks, teardown. A stage that cannot go on
 * ends the TAP with "Bail out!" naming the file to read, and the exit status says set-up failed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "fs.h"
#include "run.h"
#include "rundir.h"
#include "runstate.h"
#include "scenario.h"

static void run_usage(FILE *out)
{
	fprintf(out, "Usage: nestlab run [--run-dir DIR] [--connect URI] [--no-setup] SCENARIO.yaml\n\n"
		     "Run a scenario end to end. TAP 13 goes to stdout; every other line goes to stderr.\n"
		     "The run directory (default $NESTLAB_CACHE/runs/NAME-DATE, with a latest-NAME link) keeps\n"
		     "plan.txt, consoles, QEMU logs, QMP transcripts, debugfs dumps, result.tap and junit.xml.\n\n"
		     "  --run-dir DIR   parent directory of the run directory\n"
		     "  --connect URI   libvirt URI for L0 (default: the embedded driver, root in the run's private\n"
		     "                  state directory; see nestlab clean --help)\n"
		     "  --no-setup      use the cache's current QEMU, Linux and images; build nothing\n"
		     "  -h, --help      this help\n\n"
		     "Exit status: 0 every TAP point ok, 1 a check failed, 3 invalid scenario, 4 set-up failed,\n"
		     "130 interrupted.\n");
}

int cmd_run(int argc, char **argv, nl_error_t *err)
{
	static const struct option opts[] = {
		{ "run-dir", required_argument, NULL, 'r' },
		{ "connect", required_argument, NULL, 'c' },
		{ "no-setup", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_free char *cache = NULL;
	cleanup_free char *runs_base = NULL;
	cleanup_free char *run_dir = NULL;
	struct run_options ro = { .tap_out = stdout };
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': free(runs_base); runs_base = xstrdup(optarg); break;
		case 'c': setenv("NESTLAB_CONNECT", optarg, 1); break;
		case 'n': ro.skip_setup = true; break;
		case 'h': run_usage(stdout); return NL_EXIT_OK;
		default: return cli_usage_error(err, "run", "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(err, "run", "expected exactly one scenario file");

	if (scenario_parse_file(argv[optind], &scn, err) < 0)
		return -NL_EXIT_INVALID;
	if (!runs_base) {
		cache = fs_cache_dir(err);
		if (!cache)
			return -NL_EXIT_SETUP;
		runs_base = xasprintf("%s/runs", cache);
	}
	if (rundir_create(runs_base, scn->name, &run_dir, err) < 0)
		return -NL_EXIT_SETUP;
	{
		/* what runs killed with SIGKILL left (runstate.h); live runs are left alone */
		cleanup_error nl_error_t clean_err = NULL;
		size_t cleaned = 0, live = 0;

		if (runstate_clean(stderr, &cleaned, &live, &clean_err) < 0)
			fprintf(stderr, "nestlab: warning: %s\n", clean_err->msg);
	}
	fprintf(stderr, "nestlab: run directory %s\n", run_dir);
	ro.run_dir = run_dir;
	ret = run_execute(scn, &ro, err);
	switch (ret) {
	case 0: return NL_EXIT_OK;
	case 1: return NL_EXIT_FAILED;
	case -2: return -NL_EXIT_INVALID;
	default: return *err && (*err)->errnum == EINTR ? -NL_EXIT_INTERRUPTED : -NL_EXIT_SETUP;
	}
}
