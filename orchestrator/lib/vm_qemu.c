/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm_qemu.c - backend "qemu": L0 runs QEMU itself (l0.backend: qemu)
 *
 * QEMU runs as a child process (proc.h) with plan_l0_qemu_argv(): no -daemonize, its own process group,
 * PR_SET_PDEATHSIG, so it cannot outlive nestlab. Its stdout and stderr go to RUN/l0-qemu-stderr.log.
 * The monitor is QMP (QEMU docs/interop/qmp-spec.rst) on the -qmp unix socket of the plan, spoken by
 * qmp.h with a transcript in RUN/qmp-l0.log. Start-up waits until the monitor answers; a QEMU that exits
 * meanwhile (a refused option, a missing file) is reported with the end of its stderr.
 * Stop: QMP "quit", wait for the exit up to the grace time, then SIGTERM/SIGKILL (proc_wait()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"
#include "qmp.h"
#include "vm.h"

#define QMP_CONNECT_RETRY_MS 20
#define STDERR_TAIL_LINES 12
#define EXIT_GRACE_MS 2000	/* how long a QEMU that dropped its monitor at start-up gets to exit */

struct vm_qemu {
	struct proc proc;
	struct qmp qmp;
	char *qmp_sock;
	char *stderr_log;
	char *transcript;
};

/* qemu_has_exited() - the child is a zombie (not reaped: WNOWAIT), so proc_wait() can still collect it */
static bool qemu_has_exited(struct vm_qemu *q)
{
	siginfo_t info = { 0 };

	if (!q->proc.running)
		return true;
	if (waitid(P_PID, (id_t)q->proc.pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return info.si_pid == q->proc.pid;
}

/* qemu_wait_exit() - wait at most @timeout_ms for QEMU to exit; true when it did */
static bool qemu_wait_exit(struct vm_qemu *q, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	while (!qemu_has_exited(q)) {
		if (now_ms() >= deadline)
			return false;
		vm_sleep_ms(QMP_CONNECT_RETRY_MS);
	}
	return true;
}

/* qemu_exit_error() - QEMU ended during start-up: its status and the end of its stderr */
static int qemu_exit_error(struct vm_qemu *q, nl_error_t *err)
{
	cleanup_error nl_error_t wait_err = NULL;
	cleanup_free char *status = NULL, *tail = NULL;

	proc_wait(&q->proc, 0, &wait_err);
	status = proc_status_message(&q->proc);
	tail = vm_file_tail(q->stderr_log, STDERR_TAIL_LINES);
	nl_error(err, 0, "%s during start-up; it said:\n%s\nsee %s", status, tail ? tail : "  | (nothing)",
		 q->stderr_log);
	(*err)->errnum = ECHILD;
	return -1;
}

/*
 * qemu_connect_qmp() - connect to the monitor once QEMU has created its socket
 *
 * Retries while the socket is missing or refuses, for at most @timeout_ms; stops early when QEMU exits
 * or when SIGINT/SIGTERM is pending. Return: 0, or -1 (QEMU is still running then; the caller kills it).
 */
static int qemu_connect_qmp(struct vm_qemu *q, int timeout_ms, nl_error_t *err)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		cleanup_error nl_error_t connect_err = NULL;

		qmp_release(&q->qmp);
		qmp_init(&q->qmp, "l0");
		if (qmp_set_transcript(&q->qmp, q->transcript, err) < 0)
			return -1;
		if (qmp_connect(&q->qmp, q->qmp_sock, &connect_err) == 0)
			return 0;
		if (connect_err->errnum != ENOENT && connect_err->errnum != ECONNREFUSED) {
			/* the monitor went away in the handshake: QEMU is most likely exiting, tell why */
			if (qemu_wait_exit(q, EXIT_GRACE_MS))
				return qemu_exit_error(q, err);
			*err = connect_err;
			connect_err = NULL;
			return -1;
		}
		if (qemu_has_exited(q))
			return qemu_exit_error(q, err);
		if (vm_signal_pending())
			return nl_error(err, EINTR, "interrupted while QEMU was starting");
		if (now_ms() >= deadline) {
			nl_error(err, 0, "QEMU's monitor %s did not answer within %d ms; see %s", q->qmp_sock,
				 timeout_ms, q->stderr_log);
			(*err)->errnum = ETIMEDOUT;
			return -1;
		}
		vm_sleep_ms(QMP_CONNECT_RETRY_MS);
	}
}

static void qemu_release(struct vm *vm);

/*
 * qemu_start() - run plan_l0_qemu_argv() (+ -S when paused) and connect to its QMP monitor; on failure
 * QEMU is killed and the error quotes the end of its stderr
 */
static int qemu_start(struct vm *vm, const struct plan *plan, nl_error_t *err)
{
	struct vm_qemu *q;

	qemu_release(vm);
	q = vm->priv = xzalloc(sizeof(*q));
	proc_init(&q->proc);
	qmp_init(&q->qmp, "l0");
	q->qmp_sock = xstrdup(plan->l1_qmp_sock);
	q->stderr_log = xasprintf("%s/l0-qemu-stderr.log", plan->run_dir);
	q->transcript = xasprintf("%s/qmp-l0.log", plan->run_dir);
	free(vm->log_hint);
	vm->log_hint = xstrdup(q->stderr_log);

	q->proc.argv = plan_l0_qemu_argv(plan);
	if (vm->start_paused)
		strv_push(&q->proc.argv, "-S");
	q->proc.name = xasprintf("%s QEMU", vm->name);
	q->proc.stdin_io = (struct proc_io){ PROC_IO_NULL, NULL };
	q->proc.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, q->stderr_log };
	q->proc.stderr_io = (struct proc_io){ PROC_IO_STDOUT, NULL };
	(void)unlink(q->qmp_sock);	/* a stale socket would be connected to nothing */
	if (proc_start(&q->proc, err) < 0)
		return nl_error_wrap(err, "run %s", plan->qemu_binary);
	if (qemu_connect_qmp(q, vm->start_timeout_ms > 0 ? vm->start_timeout_ms : VM_START_TIMEOUT_MS_DEFAULT,
			     err) < 0) {
		qmp_release(&q->qmp);
		proc_kill(&q->proc);
		return -1;
	}
	return 0;
}

/*
 * qemu_qmp() - QMP over the -qmp socket: qmp_execute(), one command in flight, every read bounded by
 * vm->qmp_timeout_ms (qmp.h): a QEMU that does not answer in time gives an ETIMEDOUT error
 */
static int qemu_qmp(struct vm *vm, const char *cmd, json_t *args, json_t **result, nl_error_t *err)
{
	struct vm_qemu *q = vm->priv;

	q->qmp.timeout_ms = vm->qmp_timeout_ms > 0 ? vm->qmp_timeout_ms : VM_QMP_TIMEOUT_MS_DEFAULT;
	return qmp_execute(&q->qmp, cmd, args, result, err);
}

/* qemu_resume() - QMP "cont" */
static int qemu_resume(struct vm *vm, nl_error_t *err)
{
	return qemu_qmp(vm, "cont", NULL, NULL, err);
}

/* qemu_stop() - QMP quit, then wait for the exit at most @grace_ms, then SIGTERM, SIGKILL */
static int qemu_stop(struct vm *vm, unsigned grace_ms, nl_error_t *err UNUSED)
{
	struct vm_qemu *q = vm->priv;
	cleanup_error nl_error_t quit_err = NULL, wait_err = NULL;

	if (!q)
		return 0;
	/* QEMU may close the monitor before it replies to quit: that is not an error */
	if (q->qmp.fd >= 0 && !q->qmp.broken)
		(void)qmp_execute(&q->qmp, "quit", NULL, NULL, &quit_err);
	qmp_release(&q->qmp);
	if (q->proc.running)
		(void)proc_wait(&q->proc, (int)grace_ms, &wait_err);
	return 0;
}

/* qemu_destroy() - SIGTERM the process group, grace, SIGKILL, reap (proc_kill()) */
static void qemu_destroy(struct vm *vm)
{
	struct vm_qemu *q = vm->priv;

	if (!q)
		return;
	qmp_release(&q->qmp);
	proc_kill(&q->proc);
}

static void qemu_release(struct vm *vm)
{
	struct vm_qemu *q = vm->priv;

	if (!q)
		return;
	qmp_release(&q->qmp);
	proc_release(&q->proc);
	free(q->qmp_sock);
	free(q->stderr_log);
	free(q->transcript);
	free(q);
	vm->priv = NULL;
}

static bool qemu_running(struct vm *vm)
{
	struct vm_qemu *q = vm->priv;

	return q && !qemu_has_exited(q);
}

static pid_t qemu_pid(struct vm *vm)
{
	struct vm_qemu *q = vm->priv;

	return q && q->proc.running ? q->proc.pid : -1;
}

const struct vm_backend_ops vm_qemu_ops = {
	.name = "qemu",
	.start = qemu_start,
	.qmp = qemu_qmp,
	.resume = qemu_resume,
	.stop = qemu_stop,
	.destroy = qemu_destroy,
	.release = qemu_release,
	.running = qemu_running,
	.qemu_pid = qemu_pid,
};
