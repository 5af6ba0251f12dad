/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm.h - how L0 runs L1: one interface, two backends (libvirt, raw QEMU) behind an ops table
 *
 * (After crun's custom-handler.h.) A backend starts the L1 guest the plan describes, gives access to
 * L0 QEMU's QMP monitor whatever the backend (so that checks can call the patched x-query-vtd-mappings /
 * x-vtd-translate, or query-status), resumes a guest started paused, and stops it:
 *
 *	struct vm *vm = vm_new(vm_backend_for(plan->backend), "L1");
 *
 *	vm->start_paused = true;	// attach the consoles before the guest prints anything
 *	if (vm_start(vm, plan, err) < 0)
 *		return -1;		// "start L1 (libvirt): ...; see RUN/libvirt/log/qemu/NAME.log"
 *	... console_open() on plan->l1_console_sock ...
 *	vm_resume(vm, err);
 *	vm_qmp(vm, "query-status", NULL, &status, err);
 *	vm_stop(vm, 5000, err);
 *	vm_free(vm);
 *
 *   libvirt  (vm_libvirt.c) a transient domain (virDomainCreateXML of plan_l1_domain_xml()) on
 *            plan->connect, by default the embedded driver qemu:///embed?root=RUN/libvirt; QMP through
 *            virDomainQemuMonitorCommand() (libvirt-qemu.h).
 *   qemu     (vm_qemu.c) plan_l0_qemu_argv() as a child process (proc.h, no -daemonize); QMP over the
 *            -qmp unix socket (qmp.h).
 *
 * Teardown. Every started VM sits in a registry until vm_free(). vm_teardown_all() destroys every one of
 * them; it is meant for the CLI's exit path and its SIGINT/SIGTERM handling (from the supervisor loop,
 * not from a signal handler), and vm_start() also registers it with atexit(). This matters for libvirt:
 * a transient domain of the embedded driver outlives the process that created it (seen with libvirt 9.0), and
 * the embedded driver has no VIR_DOMAIN_START_AUTODESTROY. Only a SIGKILL of nestlab (or a fatal signal
 * that is not blocked) can leave a domain's QEMU behind.
 *
 * VMs are heap objects (vm_new()) so that the registry never points into a stack frame that is gone by
 * the time atexit() runs. Not thread-safe: call everything from the supervisor thread.
 */
#ifndef NESTLAB_VM_H
#define NESTLAB_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "plan.h"

#define VM_START_TIMEOUT_MS_DEFAULT 60000	/* QEMU up and its monitor answering */
#define VM_QMP_TIMEOUT_MS_DEFAULT 30000		/* one QMP command (or libvirt call that waits on the monitor) */
#define VM_STOP_GRACE_MS_DEFAULT 5000

struct vm;

struct vm_backend_ops {
	const char *name;	/* "libvirt", "qemu" */
	/* start L1 as @plan says (paused when vm->start_paused); on failure nothing is left running */
	int (*start)(struct vm *vm, const struct plan *plan, nl_error_t *err);
	/*
	 * run QMP @cmd with @args (an object, borrowed; NULL: none) on L0's QEMU within vm->qmp_timeout_ms;
	 * *@result (if not NULL) gets the "return" value (json_decref() it); an error reply is
	 * "QMP CMD: CLASS: DESC", no reply in time is an error with errnum ETIMEDOUT
	 */
	int (*qmp)(struct vm *vm, const char *cmd, json_t *args, json_t **result, nl_error_t *err);
	/* let a guest started paused run */
	int (*resume)(struct vm *vm, nl_error_t *err);
	/* orderly stop: ask QEMU to quit, wait up to @grace_ms, then kill; QEMU is gone afterwards */
	int (*stop)(struct vm *vm, unsigned grace_ms, nl_error_t *err);
	/* immediate stop for teardown paths: no error, idempotent */
	void (*destroy)(struct vm *vm);
	/* destroy if running, free the backend state (vm->priv) */
	void (*release)(struct vm *vm);
	/* true while L0's QEMU runs */
	bool (*running)(struct vm *vm);
	/* pid of L0's QEMU, or -1 when unknown or not running */
	pid_t (*qemu_pid)(struct vm *vm);
};

struct vm {
	const struct vm_backend_ops *ops;
	char *name;		/* for messages: "L1" */
	bool start_paused;	/* set before vm_start(): QEMU -S / VIR_DOMAIN_START_PAUSED */
	int start_timeout_ms;	/* QEMU started and its monitor answering; VM_START_TIMEOUT_MS_DEFAULT */
	/*
	 * deadline of one vm_qmp() / vm_resume(), VM_QMP_TIMEOUT_MS_DEFAULT. Past it the call fails; the libvirt
	 * backend also kills L0's QEMU, since libvirt's own call cannot be cancelled (vm_libvirt.c)
	 */
	int qmp_timeout_ms;
	bool started;		/* vm_start() succeeded and the VM was not stopped since */
	char *log_hint;		/* the file to read when something goes wrong (set by the backend) */
	void *priv;		/* backend state */
	struct vm *reg_prev, *reg_next;	/* registry of started VMs (private) */
};

extern const struct vm_backend_ops vm_libvirt_ops;
extern const struct vm_backend_ops vm_qemu_ops;

/* vm_backend_for() - the ops of l0.backend @backend (libvirt when unset) */
const struct vm_backend_ops *vm_backend_for(enum scn_backend backend);

/* vm_new() - a stopped VM of backend @ops called @name ("L1"); free with vm_free() */
struct vm *vm_new(const struct vm_backend_ops *ops, const char *name);
/* vm_free() - destroy it if it runs, unregister, free; NULL is fine */
void vm_free(struct vm *vm);
void cleanup_vmp(struct vm **vm);
#define cleanup_vm __attribute__((cleanup(cleanup_vmp)))

/* vm_start() - start the backend; registers the VM for vm_teardown_all(); errors name the log to read */
int vm_start(struct vm *vm, const struct plan *plan, nl_error_t *err);
/* vm_qmp() - QMP on L0's QEMU through the backend (see struct vm_backend_ops) */
int vm_qmp(struct vm *vm, const char *cmd, json_t *args, json_t **result, nl_error_t *err);
/* vm_resume() - run a guest started paused */
int vm_resume(struct vm *vm, nl_error_t *err);
/* vm_stop() - orderly stop (QMP quit / libvirt destroy), kill after @grace_ms; unregisters */
int vm_stop(struct vm *vm, unsigned grace_ms, nl_error_t *err);
/* vm_running() - L0's QEMU is alive */
bool vm_running(struct vm *vm);
/* vm_qemu_pid() - pid of L0's QEMU, or -1 */
pid_t vm_qemu_pid(struct vm *vm);

/* vm_registry_count() - started VMs not stopped or freed yet */
size_t vm_registry_count(void);
/*
 * vm_teardown_all() - destroy every started VM (libvirt domains and raw QEMUs); safe to call more than
 * once and from the exit path. Return: how many it had to destroy.
 */
size_t vm_teardown_all(void);

/* helpers shared by the backends (vm.c) */

/*
 * vm_signal_pending() - give up waiting: SIGINT or SIGTERM is pending (blocked by the supervisor loop) or
 * the process deadline passed (loop_interrupt_pending(); loop_deadline_expired() tells which)
 */
bool vm_signal_pending(void);
/* vm_pid_alive() - @pid exists and is not a zombie (/proc/PID/stat) */
bool vm_pid_alive(pid_t pid);
/* vm_sleep_ms() - sleep @ms milliseconds (restarted after signals) */
void vm_sleep_ms(unsigned ms);
/* vm_file_tail() - the last @max_lines lines of a text file, indented "  | ", or NULL; caller frees */
char *vm_file_tail(const char *path, unsigned max_lines);

#endif /* NESTLAB_VM_H */
