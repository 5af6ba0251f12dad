/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runstate.h - what a run has started, written down before it starts it, so that a run killed with
 * SIGKILL is cleaned up by the next nestlab (`nestlab clean`, and `nestlab run` before it starts)
 *
 * Every run owns a private directory made by mkdtemp(3) under a root-only base (runstate_base()):
 *
 *	BASE/run-XXXXXX/          0700, never a predictable path
 *	BASE/run-XXXXXX/lock      flock()ed by the run for its whole life
 *	BASE/run-XXXXXX/state     the record: "key value" lines, rewritten (tmp + rename) before each
 *	                          resource is created, so that it always lists everything that may exist
 *	BASE/run-XXXXXX/libvirt/  libvirt's embedded driver root (short: its monitor socket paths must fit
 *	                          the 108 bytes of sun_path)
 *
 *	struct runstate rs = RUNSTATE_INIT;
 *
 *	runstate_create(&rs, run_dir, err);		// record: nestlab's pid and start time, run_dir
 *	runstate_set(&rs, "domain", name, err);		// before virDomainCreateXML()
 *	runstate_set_pid(&rs, "qemu", pid, err);	// once QEMU's pid is known
 *	...
 *	runstate_remove(&rs);				// everything stopped: the directory goes
 *
 * A record is abandoned when its lock can be taken (nestlab holds it until it exits, however it exits)
 * and its nestlab pid is gone or has another start time (pid reuse). runstate_clean() stops what an
 * abandoned record lists: processes that name the run's private directory, its domain or its run
 * directory (QEMU, whatever the run started), the pids recorded with their start times, and removes its
 * overlays and the private directory with the libvirt root in it (after copying L1's QEMU log into the
 * run directory). A record of a live run, and anything it lists, is never touched.
 */
#ifndef NESTLAB_RUNSTATE_H
#define NESTLAB_RUNSTATE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "error.h"

struct runstate {
	char *dir;		/* BASE/run-XXXXXX, or NULL */
	char *libvirt_root;	/* dir/libvirt (created by libvirt's embedded driver set-up) */
	int lock_fd;
	char **record;		/* "key value" lines, in order */
};

#define RUNSTATE_INIT { .lock_fd = -1 }

/*
 * runstate_base() - the base directory: $NESTLAB_STATE_DIR, else /run/nestlab as root, else
 * $XDG_RUNTIME_DIR/nestlab, else <cache>/state; created 0700 and checked (a directory, not a link,
 * owned by us, no access for group and others). Caller frees *@out.
 */
int runstate_base(char **out, nl_error_t *err);
/* runstate_create() - the run's private directory, its lock and a first record naming @run_dir */
int runstate_create(struct runstate *rs, const char *run_dir, nl_error_t *err);
/* runstate_set() - add "@key @value" to the record (keys may repeat: overlay) and write it to disk */
int runstate_set(struct runstate *rs, const char *key, const char *value, nl_error_t *err);
/* runstate_set_pid() - "@what PID STARTTIME" (starttime from /proc/PID/stat) for a process the run owns */
int runstate_set_pid(struct runstate *rs, const char *what, pid_t pid, nl_error_t *err);
/* runstate_remove() - the run ended and stopped everything: remove the private directory, drop the lock */
void runstate_remove(struct runstate *rs);
/* runstate_release() - free memory and close the lock (the directory stays: see runstate_remove()) */
void runstate_release(struct runstate *rs);

/*
 * runstate_clean() - stop and remove what abandoned records list; one line per thing stopped or removed
 * goes to @report ("nestlab clean: ..."). *@cleaned counts the abandoned runs, *@live the runs that are
 * still alive (left alone). Return: 0, or -1 when something could not be stopped (the record stays).
 */
int runstate_clean(FILE *report, size_t *cleaned, size_t *live, nl_error_t *err);

/* runstate_pid_start() - field 22 of /proc/@pid/stat (start time in clock ticks), 0 when gone */
unsigned long long runstate_pid_start(pid_t pid);

#endif /* NESTLAB_RUNSTATE_H */
