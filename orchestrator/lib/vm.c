/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm.c - the backend-independent part of running L1: backend choice, the registry of started VMs and
 * vm_teardown_all(), context on errors, and helpers both backends use (see vm.h)
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "vm.h"

static struct vm *registry;	/* started VMs, most recent first */

/* vm_teardown_at_exit() - atexit() handler: whatever is still registered is destroyed */
static void vm_teardown_at_exit(void)
{
	vm_teardown_all();
}

/* registry_add() - link @vm in; the first VM ever started also installs the atexit() teardown */
static void registry_add(struct vm *vm)
{
	static bool atexit_done;

	if (!atexit_done)
		atexit_done = atexit(vm_teardown_at_exit) == 0;
	vm->reg_prev = NULL;
	vm->reg_next = registry;
	if (registry)
		registry->reg_prev = vm;
	registry = vm;
	vm->started = true;
}

/* registry_del() - unlink @vm if it is linked */
static void registry_del(struct vm *vm)
{
	if (!vm->started)
		return;
	if (vm->reg_prev)
		vm->reg_prev->reg_next = vm->reg_next;
	else if (registry == vm)
		registry = vm->reg_next;
	if (vm->reg_next)
		vm->reg_next->reg_prev = vm->reg_prev;
	vm->reg_prev = vm->reg_next = NULL;
	vm->started = false;
}

const struct vm_backend_ops *vm_backend_for(enum scn_backend backend)
{
	return backend == SCN_BACKEND_QEMU ? &vm_qemu_ops : &vm_libvirt_ops;
}

struct vm *vm_new(const struct vm_backend_ops *ops, const char *name)
{
	struct vm *vm = xzalloc(sizeof(*vm));

	vm->ops = ops;
	vm->name = xstrdup(name ? name : "L1");
	vm->start_timeout_ms = VM_START_TIMEOUT_MS_DEFAULT;
	vm->qmp_timeout_ms = VM_QMP_TIMEOUT_MS_DEFAULT;
	return vm;
}

void vm_free(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->started)
		vm->ops->destroy(vm);
	registry_del(vm);
	vm->ops->release(vm);
	free(vm->name);
	free(vm->log_hint);
	free(vm);
}

void cleanup_vmp(struct vm **vm)
{
	vm_free(*vm);
	*vm = NULL;
}

int vm_start(struct vm *vm, const struct plan *plan, nl_error_t *err)
{
	if (vm->started)
		return nl_error(err, EBUSY, "start %s: it is already running (stop it first)", vm->name);
	if (!plan->complete)
		return nl_error(err, EINVAL, "start %s: the plan still has placeholders (run directory or UDP ports "
				"unknown); resolve it with the run's environment", vm->name);
	if (vm->ops->start(vm, plan, err) < 0)
		return nl_error_wrap(err, "start %s (%s)", vm->name, vm->ops->name);
	registry_add(vm);
	return 0;
}

int vm_qmp(struct vm *vm, const char *cmd, json_t *args, json_t **result, nl_error_t *err)
{
	if (result)
		*result = NULL;
	if (!vm->started)
		return nl_error(err, ENOTCONN, "%s: QMP %s: the VM is not running", vm->name, cmd);
	if (vm->ops->qmp(vm, cmd, args, result, err) < 0)
		return nl_error_wrap(err, "%s (%s)", vm->name, vm->ops->name);
	return 0;
}

int vm_resume(struct vm *vm, nl_error_t *err)
{
	if (!vm->started)
		return nl_error(err, ENOTCONN, "%s: resume: the VM is not running", vm->name);
	if (vm->ops->resume(vm, err) < 0)
		return nl_error_wrap(err, "resume %s (%s)", vm->name, vm->ops->name);
	return 0;
}

int vm_stop(struct vm *vm, unsigned grace_ms, nl_error_t *err)
{
	int ret = 0;

	if (!vm->started)
		return 0;
	if (vm->ops->stop(vm, grace_ms, err) < 0) {
		ret = nl_error_wrap(err, "stop %s (%s)", vm->name, vm->ops->name);
		vm->ops->destroy(vm);
	}
	registry_del(vm);
	return ret;
}

bool vm_running(struct vm *vm)
{
	return vm->started && vm->ops->running(vm);
}

pid_t vm_qemu_pid(struct vm *vm)
{
	return vm->ops->qemu_pid(vm);
}

size_t vm_registry_count(void)
{
	size_t n = 0;

	for (struct vm *vm = registry; vm; vm = vm->reg_next)
		n++;
	return n;
}

size_t vm_teardown_all(void)
{
	size_t n = 0;

	while (registry) {
		struct vm *vm = registry;

		vm->ops->destroy(vm);
		registry_del(vm);
		n++;
	}
	return n;
}

/* ---- helpers for the backends ------------------------------------------------------------------- */

bool vm_signal_pending(void)
{
	return loop_interrupt_pending();
}

bool vm_pid_alive(pid_t pid)
{
	char path[64];
	cleanup_free char *stat = NULL;
	const char *paren;

	if (pid <= 0 || snprintf_checked(path, sizeof(path), "/proc/%d/stat", (int)pid) < 0)
		return false;
	stat = read_file_text(path);
	if (!stat)
		return false;
	/* "PID (COMM) STATE ...": COMM may hold spaces and parentheses, the state follows the last ')' */
	paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X' && paren[2] != '\0';
}

void vm_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

char *vm_file_tail(const char *path, unsigned max_lines)
{
	cleanup_free char *text = read_file_text(path);
	struct strbuf sb = STRBUF_INIT;
	size_t len, start;

	if (!text || !*text)
		return NULL;
	len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		len--;
	start = len;
	while (start > 0 && max_lines) {
		if (text[start - 1] == '\n' && --max_lines == 0)
			break;
		start--;
	}
	if (len - start > 2000)
		start = len - 2000;
	strbuf_puts(&sb, "  | ");
	for (size_t i = start; i < len; i++) {
		strbuf_add(&sb, &text[i], 1);
		if (text[i] == '\n')
			strbuf_puts(&sb, "  | ");
	}
	return strbuf_detach(&sb);
}
