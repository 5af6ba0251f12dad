/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.h - the one child-process API of nestlab (after git's run-command.h)
 *
 * Every program nestlab runs (QEMU, ssh, make, virt-customize, ...) goes through struct proc: an argv
 * vector executed without a shell, its standard streams each inherited, /dev/null, a pipe back to the
 * parent or a file, and nothing else: every other descriptor is closed in the child before exec.
 *
 *	cleanup_proc struct proc p = PROC_INIT;	// or proc_init(&p)
 *
 *	strv_push(&p.argv, "qemu-system-x86_64");
 *	strv_push(&p.argv, "-nodefaults");
 *	p.stderr_io = (struct proc_io){ PROC_IO_FILE_APPEND, "RUN/l0-qemu.log" };
 *	if (proc_start(&p, err) < 0)
 *		return -1;
 *	...
 *	if (proc_wait(&p, 5000, err) < 0)	// "qemu-system-x86_64 killed by signal 9 (SIGKILL) after ..."
 *		return -1;
 *
 * The child leads its own process group and gets PR_SET_PDEATHSIG(SIGKILL), so it dies with nestlab;
 * termination always goes to the whole group (SIGTERM, p->grace_ms, then SIGKILL) so that grandchildren
 * go too, and every started child sits in a registry until it is reaped, from which
 * proc_registry_kill_all() tears everything down on any exit path.
 *
 * A started struct proc is linked into the registry by address: do not copy or move it until it has
 * been reaped (proc_wait(), proc_kill(), proc_release()).
 *
 * Not thread-safe: processes are started, waited for and killed from the supervisor thread only, and
 * nothing else in nestlab may wait for children it did not start (no waitpid(-1), no SIGCHLD SIG_IGN).
 */
#ifndef NESTLAB_PROC_H
#define NESTLAB_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define PROC_GRACE_MS_DEFAULT 2000
#define PROC_RUN_OUTPUT_MAX_BYTES (4u << 20)	/* proc_run() keeps at most this much output */

enum proc_io_mode {
	PROC_IO_INHERIT = 0,	/* the parent's descriptor */
	PROC_IO_NULL,		/* /dev/null */
	PROC_IO_PIPE,		/* a pipe; the parent's end is p->stdin_fd / stdout_fd / stderr_fd */
	PROC_IO_FILE_TRUNC,	/* path, created or truncated (0644) */
	PROC_IO_FILE_APPEND,	/* path, created or appended to (0644) */
	PROC_IO_STDOUT,		/* stderr only: the same as the child's stdout (2>&1) */
	PROC_IO_FD,		/* stdin only: a copy of p->stdin_src_fd (a connected socket, say) */
};

struct proc_io {
	enum proc_io_mode mode;
	const char *path;	/* PROC_IO_FILE_*: not copied, must live until proc_start() returns */
};

struct proc {
	/* set by the caller between proc_init() and proc_start() */
	char **argv;		/* NULL-terminated; argv[0] is looked up in $PATH unless it holds a '/' */
	char **env;		/* additions: "KEY=VALUE" sets, "KEY" unsets; the rest is inherited */
	char *name;		/* for messages (owned: xstrdup() it); NULL: the basename of argv[0] */
	const char *cwd;	/* NULL: inherit */
	struct proc_io stdin_io, stdout_io, stderr_io;
	int stdin_src_fd;	/* PROC_IO_FD: duplicated by proc_start(); the caller keeps and closes its own */
	int *keep_fds;		/* more descriptors the child keeps, at the same numbers */
	size_t n_keep_fds;
	unsigned grace_ms;	/* SIGTERM -> SIGKILL delay; PROC_GRACE_MS_DEFAULT after proc_init() */

	/* set by proc_start(): the parent's ends of PROC_IO_PIPE streams, else -1 */
	int stdin_fd, stdout_fd, stderr_fd;
	pid_t pid;		/* 0 when not started; the group id is the same */
	int pidfd;		/* pidfd_open(2) of pid for the loop (LOOP_KIND_CHILD_EXIT); -1 when the
				 * kernel (or valgrind) has none: rely on the loop's SIGCHLD then */

	/* set when the child has been reaped */
	bool running;
	bool reaped;
	int exit_status;	/* valid when term_signal == 0 */
	int term_signal;	/* signal that ended the child, or 0 */
	bool timed_out;		/* killed by proc_wait() because its timeout expired */
	int timeout_ms;		/* that timeout */

	/* registry of started, unreaped children (private) */
	struct proc *reg_prev, *reg_next;
};

#define PROC_INIT                                                                                  \
	{ .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .pidfd = -1, .grace_ms = PROC_GRACE_MS_DEFAULT }

/* proc_init() - empty process description: every stream inherited, grace PROC_GRACE_MS_DEFAULT */
void proc_init(struct proc *p);
/* proc_release() - kill and reap the child if it still runs (proc_kill()), close fds, free argv/env */
void proc_release(struct proc *p);
/* proc_start() - fork and exec; exec failure in the child is returned here with the child's errno */
int proc_start(struct proc *p, nl_error_t *err);
/*
 * proc_wait() - wait for the child to exit, at most @timeout_ms (< 0: forever); on timeout SIGTERM the
 * group, wait p->grace_ms, SIGKILL it; always reap. Whatever is left of the group when the child exits
 * is killed too. Return: 0 when it exited with status 0; -1 otherwise, with a message from
 * proc_status_message() (p->exit_status, p->term_signal, p->timed_out tell what happened).
 */
int proc_wait(struct proc *p, int timeout_ms, nl_error_t *err);
/* proc_kill() - SIGTERM the group, grace, SIGKILL, reap; no-op if not running */
void proc_kill(struct proc *p);
/* proc_signal() - send @sig to the child's process group; -1 with errno on failure */
int proc_signal(struct proc *p, int sig);
/* proc_status_message() - "NAME exited with status 1", "NAME killed by signal 9 (SIGKILL) after ..." */
char *proc_status_message(const struct proc *p);
/*
 * proc_run() - run @argv with stdin from /dev/null, capture stdout and stderr together (at most
 * PROC_RUN_OUTPUT_MAX_BYTES) into *@output (always set, even on failure; free it), wait at most
 * @timeout_ms. Return: as proc_wait(); start failures too.
 */
int proc_run(char *const *argv, int timeout_ms, char **output, nl_error_t *err);

/* proc_registry_count() - number of started children not reaped yet */
size_t proc_registry_count(void);
/*
 * proc_registry_kill_all() - SIGTERM every registered group, wait up to PROC_GRACE_MS_DEFAULT for them
 * all, SIGKILL what is left, reap everything. For the CLI's exit path and SIGINT/SIGTERM handling (from
 * the supervisor loop, not from a signal handler). Return: number of children it had to stop.
 */
size_t proc_registry_kill_all(void);

/* proc_testing_disable_close_range() - tests: close fds in the child by the /proc/self/fd walk */
void proc_testing_disable_close_range(bool disable);

#define cleanup_proc __attribute__((cleanup(proc_release)))

#endif /* NESTLAB_PROC_H */
