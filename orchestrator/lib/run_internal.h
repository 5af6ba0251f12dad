/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run_internal.h - state shared by run.c (bring-up, teardown), run_traffic.c (the workload) and
 * run_checks.c (checks b-e)
 */
#ifndef NESTLAB_RUN_INTERNAL_H
#define NESTLAB_RUN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "agent_client.h"
#include "console.h"
#include "error.h"
#include "loop.h"
#include "runstate.h"
#include "peer.h"
#include "plan.h"
#include "run.h"
#include "tap.h"
#include "vm.h"

/* paths inside L1 and L2 the run uses besides the plan's */
#define RUN_L1_AGENT "/usr/local/sbin/nestlab-agent"
#define RUN_L2_VNIC "/bin/nestlab-vfio-nic"
#define RUN_GUEST_DIR "/run/nestlab"
#define RUN_VNIC_SOCK RUN_GUEST_DIR "/vfio-nic.sock"

struct run {
	const struct run_options *opts;
	struct plan *plan;
	const char *dir;		/* run directory */
	char run_id[8];			/* 6 hex digits, part of L1's domain name */
	FILE *log;			/* run.log */
	uint64_t t0_ms;
	struct tap tap;
	struct runstate state;		/* private directory, libvirt root, record for `nestlab clean` */
	uint64_t teardown_deadline_ms;	/* set while tearing down: timeouts.teardown caps every agent call */
	bool agent_silent;		/* an agent call timed out in the teardown: the agent is not asked again */
	bool failed;			/* a TAP point was not ok */
	nl_error_t save_err;		/* the first run_save() that failed (a full disk): ends the run */

	struct loop loop;
	struct peer peer;
	bool peer_open;
	uint64_t seed;			/* traffic seed (plan's, or chosen for this run) */

	struct vm *vm;			/* L1 at L0 */
	struct console_capture consoles[2];	/* capped logs of L1's ttyS0 and ttyS1 (L2's console) */
	bool l1_started;		/* L0 started L1 (its disk has logs worth collecting) */
	struct agent_client *agent;	/* L1's agent (L2's through its relay) */
	bool l2_kvm;			/* L2 runs under KVM in L1 */
	long l2_qemu_pid;		/* in L1, or 0 */
	bool l2_up;
	char *l2_ifname;		/* L2's netdev for the NIC (kernel driver), e.g. "eth0" */
	uint8_t nic_mac[6];
	long long progress_base;	/* the receiver's count before L0 -> L2 (testpmd's RX-packets, the echo's) */

	unsigned expected_l0_faults;	/* faults check d caused on purpose */
	unsigned expected_l1_faults;
	uint64_t l0_baseline_pages;	/* L0's view of L1's tables for the NIC before L2 started */
	bool l0_baseline_known;

	/* stage times for bench/ (ms) */
	uint64_t ms_setup, ms_l1_boot, ms_l2_boot, ms_traffic, ms_checks, ms_teardown;
};

/* run_logf() - one line in run.log (and on stderr, prefixed "nestlab: "), with the time since start */
void run_logf(struct run *r, const char *fmt, ...) PRINTF_FMT(2, 3);
/* run_path() - "<run dir>/<name>"; caller frees */
char *run_path(const struct run *r, const char *name);
/*
 * run_save() - write @len bytes to <run dir>/@name; an error is logged and kept in r->save_err, and
 * run_saves_ok() then ends the run with it (a full disk must not leave truncated evidence behind a pass)
 */
void run_save(struct run *r, const char *name, const char *data, size_t len);
/* run_saves_ok() - 0, or -1 with @err set to the first failed run_save() (which it takes) */
int run_saves_ok(struct run *r, nl_error_t *err);

/*
 * run_sh() - run @script (sh -c) at @level (1 or 2) through the agent; stdout in *@out (may be NULL),
 * exit status in *@status. Return 0 when the command ran (whatever its status), -1 with @err set when
 * the agent could not run it.
 */
int run_sh(struct run *r, int level, int timeout_ms, char **out, int *status, nl_error_t *err,
	   const char *fmt, ...) PRINTF_FMT(7, 8);
/* run_l1_qmp() - QMP on L1's QEMU (the one that runs L2) through `nestlab-agent qmp`; raw reply line */
int run_l1_qmp(struct run *r, const char *json_cmd, char **reply, nl_error_t *err);

/* run_point() - emit a TAP point; not ok marks the run failed */
void run_point(struct run *r, bool ok, uint64_t duration_ms, const char *message, const char *log,
	       const char *fmt, ...) PRINTF_FMT(6, 7);

/* run_traffic.c */
int run_traffic(struct run *r, nl_error_t *err);
/* run_loop_tick() - let the supervisor loop run for @ms (peer I/O); SIGINT ends it with EINTR */
int run_loop_tick(struct run *r, int ms, nl_error_t *err);
/* run_l2_bg() - start @cmd in L2 in the background: output in /run/nestlab/@name.out, status in @name.rc */
int run_l2_bg(struct run *r, const char *name, const char *cmd, nl_error_t *err);
/* run_l2_bg_wait() - wait for @name while the loop runs; output in *@out (saved as RUN/l2-@name.out) */
int run_l2_bg_wait(struct run *r, const char *name, uint64_t timeout_ms, char **out, int *rc, nl_error_t *err);
/* run_status_line() - the last "ok cmd=" / "error cmd=" line of nestlab-vfio-nic output, or NULL */
const char *run_status_line(const char *out);
/* run_status_value() - the number after " KEY=" in a status line, or 0 */
unsigned long run_status_value(const char *line, const char *key);
/* run_line_copy() - one line as a new string */
char *run_line_copy(const char *line);

/* run_checks.c */
int run_check_iommu_in_use(struct run *r, nl_error_t *err);
int run_check_shadow(struct run *r, nl_error_t *err);
int run_check_unmap(struct run *r, nl_error_t *err);
int run_check_faults(struct run *r, bool after_l2, nl_error_t *err);
/*
 * run_check_confinement() - the TAP point "QEMU confined": L0's QEMU and L1's QEMU (read through the agent)
 * run under a seccomp filter (/proc/PID/status "Seccomp: 2", from -sandbox on); -1 only when interrupted
 */
int run_check_confinement(struct run *r, nl_error_t *err);
/* run_l0_mapped_pages() - pages L0's vIOMMU finds in L1's tables for the NIC (x-query-vtd-mappings) */
int run_l0_mapped_pages(struct run *r, uint64_t *pages, nl_error_t *err);

#endif /* NESTLAB_RUN_INTERNAL_H */
