/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run.h - `nestlab run`: one scenario end to end, TAP on the way
 *
 *	set-up     builds (QEMU, Linux) and images from the cache, building what is missing
 *	L1         the traffic peer opens its UDP port, the plan is resolved with the real artefacts and
 *	           ports, the overlay and the NoCloud seed are written, L0 starts L1 (libvirt or QEMU),
 *	           the L1 agent says READY
 *	L2         L1 loads kvm_amd (or falls back to TCG as the plan allows), starts L2's QEMU with the
 *	           plan's argv, L2's agent says READY through the relay (or, for a refusal scenario, L1's
 *	           QEMU exits and its message is matched)
 *	workload   frames both ways between the peer and L2's driver
 *	checks     a-e (scenario `checks`), each a TAP point with diagnostics naming the file to read
 *	teardown   L2's QEMU is told to quit, L1 is stopped, nothing is left running (also on Ctrl-C,
 *	           a timeout or any failure: vm_teardown_all() and proc_registry_kill_all())
 *
 * Every file a run writes is in its run directory: plan.txt, run.log (what nestlab did, with times),
 * consoles, QEMU logs, agent transcript, QMP and debugfs dumps per check, result.tap and junit.xml.
 */
#ifndef NESTLAB_RUN_H
#define NESTLAB_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"
#include "scenario.h"

struct run_options {
	const char *run_dir;		/* an existing, empty run directory (rundir_create()) */
	FILE *tap_out;			/* TAP 13 (stdout) */
	bool skip_setup;		/* use the cache's current artefacts, build nothing (tests) */
};

/**
 * run_execute() - run @scn as the plan says
 * @scn:	parsed scenario
 * @opts:	run directory and outputs
 * @err:	why the run could not be carried out (set-up failure, interruption); failed checks are
 *		TAP `not ok` points, not errors
 *
 * Return: 0 every TAP point ok, 1 a check failed; -2 the scenario does not resolve into a plan, -1 the
 * run could not go on (errnum EINTR: interrupted by SIGINT/SIGTERM); both with @err set. Whatever the
 * result, everything the run started has been stopped when it returns.
 */
int run_execute(const struct scenario *scn, const struct run_options *opts, nl_error_t *err);

#endif /* NESTLAB_RUN_H */
