/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_clean.c - `nestlab clean`: stop and remove what runs killed with SIGKILL left behind (runstate.h)
 *
 * One line per thing stopped or removed on stdout; runs that are still alive are left alone (they hold
 * their record's lock). `nestlab run` does the same before it starts, on stderr.
 */
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "runstate.h"

static void clean_usage(FILE *out)
{
	fprintf(out, "Usage: nestlab clean\n\n"
		     "Find the runs whose nestlab was killed (kill -9, a crash, a lost machine session) and stop\n"
		     "what they left: L1's QEMU and libvirt domain, processes that name the run, its overlay, and\n"
		     "its private directory with libvirt's embedded root (L1's QEMU log is kept as\n"
		     "RUN/l1-qemu.log). Each run's record is in the state directory: $NESTLAB_STATE_DIR, else\n"
		     "/run/nestlab as root, else $XDG_RUNTIME_DIR/nestlab, else $NESTLAB_CACHE/state. A run that\n"
		     "is still alive is never touched. `nestlab run` does this first, too.\n\n"
		     "Exit status: 0 done (also when there was nothing to clean), 4 something could not be\n"
		     "stopped (named on stdout and in the error).\n");
}

int cmd_clean(int argc, char **argv, nl_error_t *err)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t cleaned = 0, live = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h': clean_usage(stdout); return NL_EXIT_OK;
		default: return cli_usage_error(err, "clean", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(err, "clean", "takes no arguments");
	ret = runstate_clean(stdout, &cleaned, &live, err);
	printf("nestlab clean: %zu abandoned run(s) cleaned, %zu live run(s) left alone\n", cleaned, live);
	return ret < 0 ? -NL_EXIT_SETUP : NL_EXIT_OK;
}
