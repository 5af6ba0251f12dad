/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_vm.c - the L0 backends for real: the host's QEMU (7.2, no igb: an e1000e plan) under TCG
 *
 * Each test resolves a real scenario into a plan whose run directory is a fresh temporary directory,
 * starts L1 with the backend paused (-S / VIR_DOMAIN_START_PAUSED), asks QMP for the status, attaches the
 * L1 console and resumes. The libvirt test attaches the console as `nestlab run` does (a capped `head -c`
 * child on the socket, console_capture_start()) and waits for the kernel's first lines in that log (the
 * guest then panics for want of a root filesystem, which does not matter here; a TCG boot costs seconds,
 * so the raw-QEMU test stops at "running"). Then the VM is stopped; afterwards /proc must hold no QEMU of
 * that VM. The libvirt test also checks vm_teardown_all(), the path the CLI takes on Ctrl-C. Both backends
 * must start QEMU under its seccomp filter (-sandbox on; "Seccomp: 2" in /proc/PID/status), and a QMP call
 * to a QEMU stopped with SIGSTOP must fail at the VM's QMP deadline instead of waiting for ever.
 *
 * Needs: qemu-system-x86_64 and a kernel in /boot (both backends), root and libvirt's QEMU driver
 * (libvirt). What is missing makes the test skip with the reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "fs.h"
#include "loop.h"
#include "peer.h"
#include "plan.h"
#include "proc.h"
#include "scenario.h"
#include "test.h"
#include "vm.h"

#define HOST_QEMU "/usr/bin/qemu-system-x86_64"
#define LIBVIRT_QEMU_DRIVER "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so"
/* the kernel's first message on ttyS0 (earlyprintk, see run_init(): "NX (Execute Disable) ...") */
#define BOOT_MARKER "^\\[ *[0-9]+\\.[0-9]{6}\\] "
#define BOOT_TIMEOUT_MS 30000

/* one run: directory, plan, loop, peer */
struct run {
	char dir[64];
	char kernel[256];
	struct plan *plan;
	struct loop loop;
	struct peer peer;
};

/* host_kernel() - a kernel in /boot for L1, or false */
static bool host_kernel(char *out, size_t size)
{
	glob_t g;
	bool found = false;

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
		snprintf(out, size, "%s", g.gl_pathv[g.gl_pathc - 1]);
		found = true;
	}
	globfree(&g);
	return found;
}

/* remove_tree() - rm -rf @path (test run directories only) */
static void remove_tree(const char *path)
{
	cleanup_strv char **argv = NULL;
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;

	strv_push(&argv, "rm");
	strv_push(&argv, "-rf");
	strv_push(&argv, path);
	(void)proc_run(argv, 30000, &out, &err);
}

/* run_init() - run directory, loop, plan for @backend, peer (the far end of the NIC's wire), qcow2 overlay */
/* the QEMU (and its -L directories, ':'-separated) that run_init() plans for: the host's unless a test says */
static const char *run_qemu = HOST_QEMU;
static const char *run_firmware;

static int run_init(struct run *r, const char *backend)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_free char *yaml = NULL, *out = NULL;
	cleanup_strv char **argv = NULL;
	struct peer_config pcfg = { .name = "peer" };
	struct plan_env env;
	cleanup_free char *libvirt_root = NULL;

	*r = (struct run){ .loop = LOOP_INIT, .peer = PEER_INIT };
	snprintf(r->dir, sizeof(r->dir), "/tmp/nlvm-XXXXXX");
	if (!mkdtemp(r->dir) || !host_kernel(r->kernel, sizeof(r->kernel)))
		return -1;
	if (loop_init(&r->loop, &err) < 0)
		goto fail;
	yaml = xasprintf("name: vmtest\nl0:\n  backend: %s\nl1:\n  memory: 1G\n  cpus: 1\n  accel: tcg\n"
			 "  kernel_args: [\"earlyprintk=serial,ttyS0,115200\", \"loglevel=7\"]\n"
			 "nic:\n  model: e1000e\n  mac: \"52:54:00:12:34:57\"\n", backend);
	if (scenario_parse_buffer("vmtest.yaml", yaml, strlen(yaml), &scn, &err) < 0)
		goto fail;
	env = (struct plan_env){
		.run_dir = r->dir, .run_id = strrchr(r->dir, '-') + 1, .cache_dir = r->dir,
		.qemu_binary = run_qemu, .firmware_dir = run_firmware, .l1_kernel = r->kernel,
		.l1_image = "/nonexistent/l1.img",
	};
	libvirt_root = xasprintf("%s/libvirt", r->dir);	/* a run's private directory (runstate.h) does the same */
	env.libvirt_root = libvirt_root;
	if (plan_resolve(scn, &env, &r->plan, &err) < 0)
		goto fail;
	pcfg.sock_path = r->plan->nic.peer_sock;
	if (peer_open(&r->peer, &r->loop, &pcfg, &err) < 0 || peer_set_remote(&r->peer, r->plan->nic.nic_sock, &err) < 0)
		goto fail;
	/* the overlay the image module would make: here an empty disk is enough */
	strv_push(&argv, "qemu-img");
	strv_push(&argv, "create");
	strv_push(&argv, "-q");
	strv_push(&argv, "-f");
	strv_push(&argv, "qcow2");
	strv_push(&argv, r->plan->l1_overlay);
	strv_push(&argv, "64M");
	if (proc_run(argv, 30000, &out, &err) < 0)
		goto fail;
	/* and the NoCloud seed disk the plan attaches (image_seed_write() in a run) */
	{
		int fd = open(r->plan->l1_seed, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		close(fd);
	}
	return 0;
fail:
	test_diag("run_init: %s", err ? err->msg : strerror(errno));
	return -1;
}

static void run_release(struct run *r)
{
	peer_release(&r->peer);
	loop_release(&r->loop);
	plan_free(r->plan);
	if (r->dir[0] && !getenv("NESTLAB_KEEP_TEST_RUN"))
		remove_tree(r->dir);
}

/* qemu_processes_named() - processes whose command line holds @needle (e.g. "guest=NAME") */
static unsigned qemu_processes_named(const char *needle)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	unsigned n = 0;

	while (proc && (de = readdir(proc))) {
		char path[300];
		FILE *f;
		char buf[4096];
		size_t len;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, "qemu-system") && strstr(buf, needle) && vm_pid_alive(atoi(de->d_name)))
			n++;
	}
	if (proc)
		closedir(proc);
	return n;
}

/* status_of() - QMP query-status "status" ("prelaunch", "running", ...) or NULL; caller frees */
static char *status_of(struct vm *vm)
{
	cleanup_error nl_error_t err = NULL;
	json_t *ret = NULL;
	char *status = NULL;

	if (vm_qmp(vm, "query-status", NULL, &ret, &err) < 0) {
		test_diag("query-status: %s", err->msg);
		return NULL;
	}
	if (json_string_value(json_object_get(ret, "status")))
		status = xstrdup(json_string_value(json_object_get(ret, "status")));
	json_decref(ret);
	return status;
}

/*
 * check_paused_vm() - a VM started paused: QMP status, QEMU alive, the L1 console connects, resume runs
 * it; with @boot, the kernel's first line must then show on the console. QMP error replies and
 * arguments are checked on the way.
 */
static int check_paused_vm(struct run *r, struct vm *vm, bool boot)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_console struct console con = CONSOLE_INIT;
	cleanup_free char *status = NULL, *first_line = NULL, *ts_log = xasprintf("%s/l1-console.ts.log", r->dir);
	struct console_config ccfg = { .name = "L1 console", .sock_path = r->plan->l1_console_sock,
				       .ts_log = ts_log };
	uint64_t t0 = now_ms();

	status = status_of(vm);
	CHECK(status && (!strcmp(status, "prelaunch") || !strcmp(status, "paused")));
	CHECK(vm_running(vm) && vm_qemu_pid(vm) > 0 && vm_pid_alive(vm_qemu_pid(vm)));
	/* an error reply is an error with QEMU's class and text */
	CHECK(vm_qmp(vm, "x-nestlab-no-such-command", NULL, NULL, &err) < 0);
	CHECK_CONTAINS(err->msg, "CommandNotFound");
	nl_error_release(&err);
	/* arguments travel: a wrong one is refused by name */
	{
		json_t *args = json_pack("{s:s}", "option", "no-such-option");

		CHECK(vm_qmp(vm, "query-command-line-options", args, NULL, &err) < 0);
		json_decref(args);
		CHECK_CONTAINS(err->msg, "no-such-option");
		nl_error_release(&err);
	}
	if (boot) {
		/* as `nestlab run` logs it: a head -c child on the socket, attached before the guest runs */
		struct console_capture cc = CONSOLE_CAPTURE_INIT;
		cleanup_free char *log = xasprintf("%s/l1-console.log", r->dir), *text = NULL;
		bool seen = false;

		if (console_capture_start(&cc, "L1 console", r->plan->l1_console_sock, log, 0, 5000, &err) < 0 ||
		    vm_resume(vm, &err) < 0) {
			console_capture_finish(&cc, 0);
			goto fail;
		}
		while (!seen && now_ms() - t0 < BOOT_TIMEOUT_MS) {
			usleep(100000);
			free(text);
			text = read_file_text(log);
			seen = text && strstr(text, "[    0.000000] ");	/* the first printk lines */
		}
		console_capture_finish(&cc, 0);	/* QEMU still runs: the child is stopped */
		if (!seen)
			test_diag("captured log: %.2000s", text ? text : "(none)");
		CHECK(seen);
		test_diag("the kernel's first lines in the captured L1 console log %llu ms after resume",
			  (unsigned long long)(now_ms() - t0));
		free(status);
		status = status_of(vm);
		CHECK_STR(status, "running");
		return TEST_PASS;
	}
	if (console_open(&con, &r->loop, &ccfg, &err) < 0 || vm_resume(vm, &err) < 0)
		goto fail;
	free(status);
	status = status_of(vm);
	CHECK_STR(status, "running");
	return TEST_PASS;
fail:
	test_diag("%s", err->msg);
	return TEST_FAIL;
}

/* the ops table follows l0.backend */
static int test_backend_for(void)
{
	CHECK(vm_backend_for(SCN_BACKEND_QEMU) == &vm_qemu_ops);
	CHECK(vm_backend_for(SCN_BACKEND_LIBVIRT) == &vm_libvirt_ops);
	CHECK(vm_backend_for(SCN_BACKEND_UNSET) == &vm_libvirt_ops);
	CHECK_STR(vm_qemu_ops.name, "qemu");
	CHECK_STR(vm_libvirt_ops.name, "libvirt");
	return TEST_PASS;
}

/* seccomp_filtered() - /proc/@pid/status says "Seccomp: 2": QEMU runs under its -sandbox filter */
static bool seccomp_filtered(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/status", (int)pid);
	cleanup_free char *status = read_file_text(path);
	const char *p = status ? strstr(status, "\nSeccomp:") : NULL;

	if (!p || atoi(p + strlen("\nSeccomp:")) != 2) {
		test_diag("QEMU pid %d: no seccomp filter (%s)", (int)pid, p ? p + 1 : "no Seccomp line");
		return false;
	}
	return true;
}

/* skip_reason() - why the real-QEMU tests cannot run here, or NULL */
static const char *skip_reason(bool need_libvirt)
{
	char kernel[256];

	if (access(HOST_QEMU, X_OK) != 0)
		return HOST_QEMU " is missing (apt-get install qemu-system-x86)";
	if (!host_kernel(kernel, sizeof(kernel)))
		return "no kernel in /boot for L1 (apt-get install linux-image-amd64)";
	if (access("/usr/bin/qemu-img", X_OK) != 0)
		return "qemu-img is missing (apt-get install qemu-utils)";
	if (need_libvirt && geteuid() != 0)
		return "libvirt's embedded driver runs QEMU as root: run as root";
	if (need_libvirt && access(LIBVIRT_QEMU_DRIVER, R_OK) != 0)
		return "libvirt's QEMU driver is missing (apt-get install libvirt-daemon-driver-qemu)";
	return NULL;
}

/* backend qemu: the host's QEMU as a child, QMP over its socket, stop leaves no process */
static int test_qemu_backend(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_vm struct vm *vm = NULL;
	const char *why = skip_reason(false);
	struct run r;
	pid_t pid;
	int ret = TEST_FAIL;
	uint64_t t0 = now_ms();

	if (why)
		return test_skip("%s", why);
	if (run_init(&r, "qemu") < 0)
		goto out;
	vm = vm_new(vm_backend_for(r.plan->backend), "L1");
	vm->start_paused = true;
	if (vm_start(vm, r.plan, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	test_diag("raw QEMU started paused in %llu ms, pid %d", (unsigned long long)(now_ms() - t0),
		  (int)vm_qemu_pid(vm));
	pid = vm_qemu_pid(vm);
	if (vm_registry_count() != 1 || !seccomp_filtered(pid) || check_paused_vm(&r, vm, false) != TEST_PASS)
		goto out;
	t0 = now_ms();
	if (vm_stop(vm, 5000, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	test_diag("stopped by QMP quit in %llu ms", (unsigned long long)(now_ms() - t0));
	if (vm_pid_alive(pid) || kill(pid, 0) == 0 || vm_running(vm) || vm_registry_count() != 0 ||
	    vm_qemu_pid(vm) != -1) {
		test_diag("QEMU pid %d is still there after vm_stop()", (int)pid);
		goto out;
	}
	{
		cleanup_free char *transcript = xasprintf("%s/qmp-l0.log", r.dir);
		cleanup_free char *text = read_file_text(transcript);

		CHECK_CONTAINS(text, "\"execute\":\"quit\"");
	}
	ret = TEST_PASS;
out:
	vm_free(vm);
	vm = NULL;
	run_release(&r);
	return ret;
}

/* backend qemu: QEMU refuses to start; the error quotes it and names its log; nothing keeps running */
static int test_qemu_start_failure(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_vm struct vm *vm = NULL;
	const char *why = skip_reason(false);
	struct run r;
	int ret = TEST_FAIL;

	if (why)
		return test_skip("%s", why);
	if (run_init(&r, "qemu") < 0)
		goto out;
	unlink(r.plan->l1_overlay);	/* QEMU cannot open the disk */
	vm = vm_new(&vm_qemu_ops, "L1");
	if (vm_start(vm, r.plan, &err) == 0) {
		test_diag("QEMU started without its disk");
		goto out;
	}
	test_diag("%s", err->msg);
	CHECK_CONTAINS(err->msg, "start L1 (qemu): L1 QEMU exited with status 1 during start-up; it said:");
	CHECK_CONTAINS(err->msg, "l1-overlay.qcow2");
	CHECK_CONTAINS(err->msg, "l0-qemu-stderr.log");
	CHECK(!vm->started && vm_registry_count() == 0 && proc_registry_count() == 0);
	ret = TEST_PASS;
out:
	vm_free(vm);
	vm = NULL;
	run_release(&r);
	return ret;
}

/*
 * check_qmp_deadline() - vm_qmp() to @vm's QEMU stopped with SIGSTOP fails with ETIMEDOUT once the VM's QMP
 * deadline (2 s here) has passed, instead of waiting for ever; then the VM can still be stopped and its QEMU
 * is gone. The libvirt backend kills QEMU at the deadline (its call cannot be cancelled). @vm is started.
 */
static int check_qmp_deadline(struct vm *vm)
{
	cleanup_error nl_error_t err = NULL;
	pid_t pid = vm_qemu_pid(vm);
	uint64_t t0, spent_ms;
	int ret = TEST_FAIL;

	vm->qmp_timeout_ms = 2000;
	if (pid <= 0 || kill(pid, SIGSTOP) < 0) {
		test_diag("no QEMU pid to stop (%d)", (int)pid);
		return TEST_FAIL;
	}
	t0 = now_ms();
	if (vm_qmp(vm, "query-status", NULL, NULL, &err) == 0) {
		test_diag("QMP answered although QEMU is stopped");
		goto out;
	}
	spent_ms = now_ms() - t0;
	test_diag("%s: QMP to a stopped QEMU failed after %llu ms: %s", vm->ops->name, (unsigned long long)spent_ms,
		  err->msg);
	if (err->errnum != ETIMEDOUT || !strstr(err->msg, "2000 ms")) {
		test_diag("expected ETIMEDOUT and the deadline in the message");
		goto out;
	}
	/* it returned: at the deadline, plus (libvirt) the wait for the killed QEMU's monitor to close */
	if (spent_ms < 2000 || spent_ms >= 2000 + 10000) {
		test_diag("the call returned after %llu ms", (unsigned long long)spent_ms);
		goto out;
	}
	(void)kill(pid, SIGCONT);
	nl_error_release(&err);
	if (vm_stop(vm, 0, &err) < 0)
		test_diag("stop: %s", err->msg);
	if (vm_pid_alive(pid) || vm_registry_count() != 0) {
		test_diag("QEMU pid %d is still there after vm_stop()", (int)pid);
		goto out;
	}
	ret = TEST_PASS;
out:
	(void)kill(pid, SIGCONT);
	return ret;
}

/* backend libvirt: a transient domain on qemu:///embed, QMP through libvirt, stop and teardown */
static int test_libvirt_backend(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_vm struct vm *vm = NULL;
	const char *why = skip_reason(true);
	cleanup_free char *guest_arg = NULL, *conf = NULL, *conf_path = NULL;
	struct run r;
	pid_t pid;
	int ret = TEST_FAIL;
	uint64_t t0 = now_ms();

	if (why)
		return test_skip("%s", why);
	if (run_init(&r, "libvirt") < 0)
		goto out;
	guest_arg = xasprintf("guest=%s", r.plan->domain_name);
	vm = vm_new(vm_backend_for(r.plan->backend), "L1");
	vm->start_paused = true;
	if (vm_start(vm, r.plan, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	test_diag("libvirt domain %s started paused in %llu ms (%s)", r.plan->domain_name,
		  (unsigned long long)(now_ms() - t0), r.plan->connect);
	/* the embedded driver's root is the URI's root= (short, outside the run directory: plan.c) */
	CHECK(!strncmp(r.plan->connect, "qemu:///embed?root=", 19));
	conf_path = xasprintf("%s/etc/qemu.conf", r.plan->connect + 19);
	conf = read_file_text(conf_path);
	CHECK_CONTAINS(conf, "stdio_handler = \"file\"");
	CHECK_CONTAINS(conf, "seccomp_sandbox = 1");
	pid = vm_qemu_pid(vm);
	CHECK(pid > 0 && qemu_processes_named(guest_arg) == 1);
	CHECK(seccomp_filtered(pid));	/* libvirt passed -sandbox on (qemu.conf seccomp_sandbox) */
	if (check_paused_vm(&r, vm, true) != TEST_PASS)
		goto out;
	t0 = now_ms();
	if (vm_stop(vm, 5000, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	test_diag("destroyed in %llu ms", (unsigned long long)(now_ms() - t0));
	CHECK(!vm_pid_alive(pid) && qemu_processes_named(guest_arg) == 0 && vm_registry_count() == 0);

	/* the exit path: a running domain, then vm_teardown_all() as the CLI calls it on Ctrl-C */
	vm->start_paused = true;
	if (vm_start(vm, r.plan, &err) < 0) {
		test_diag("second start: %s", err->msg);
		goto out;
	}
	pid = vm_qemu_pid(vm);
	CHECK(pid > 0 && vm_pid_alive(pid));
	CHECK(vm_teardown_all() == 1);
	CHECK(!vm_pid_alive(pid) && qemu_processes_named(guest_arg) == 0 && !vm_running(vm));
	CHECK(vm_teardown_all() == 0);

	/* the QMP deadline on this backend (here: libvirt allows one embedded root per process) */
	vm->start_paused = true;
	if (vm_start(vm, r.plan, &err) < 0) {
		test_diag("third start: %s", err->msg);
		goto out;
	}
	if (check_qmp_deadline(vm) != TEST_PASS)
		goto out;
	CHECK(qemu_processes_named(guest_arg) == 0);
	ret = TEST_PASS;
out:
	vm_free(vm);
	vm = NULL;
	if (r.plan && guest_arg && qemu_processes_named(guest_arg)) {
		test_diag("a QEMU of %s is left running", r.plan->domain_name);
		ret = TEST_FAIL;
	}
	run_release(&r);
	return ret;
}

/* backend qemu: the QMP deadline (qmp.h's poll bound) */
static int test_qemu_qmp_deadline(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_vm struct vm *vm = NULL;
	const char *why = skip_reason(false);
	struct run r;
	int ret = TEST_FAIL;

	if (why)
		return test_skip("%s", why);
	if (run_init(&r, "qemu") < 0)
		goto out;
	vm = vm_new(vm_backend_for(r.plan->backend), "L1");
	vm->start_paused = true;
	if (vm_start(vm, r.plan, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	ret = check_qmp_deadline(vm);
out:
	vm_free(vm);
	vm = NULL;
	run_release(&r);
	return ret;
}

/*
 * test_nestlab_qemu() - the QEMU that nestlab builds (the cache's current one; skipped until there is one):
 * it starts under its seccomp filter (built with seccomp, -sandbox on from the plan), and
 * x-query-vtd-mappings (patches/qemu/0004) takes max-entries and max-tables and checks their range. The
 * build before this change had neither: "-sandbox support is not enabled", "Parameter 'max-entries' is
 * unexpected".
 */
static int test_nestlab_qemu(void)
{
	cleanup_error nl_error_t err = NULL, cache_err = NULL;
	cleanup_vm struct vm *vm = NULL;
	cleanup_free char *cache = fs_cache_dir(&cache_err);
	cleanup_free char *qemu = cache ? xasprintf("%s/qemu/current/qemu-system-x86_64", cache) : NULL;
	const char *why = skip_reason(false);
	json_t *args, *res = NULL;
	struct run r;
	int rc, ret = TEST_FAIL;

	if (why)
		return test_skip("%s", why);
	if (!qemu || access(qemu, X_OK) != 0)
		return test_skip("no QEMU built by nestlab in the cache yet (nestlab build qemu)");
	run_qemu = qemu;
	run_firmware = "/usr/share/seabios:/usr/share/qemu";
	rc = run_init(&r, "qemu");
	run_qemu = HOST_QEMU;
	run_firmware = NULL;
	if (rc < 0)
		goto out;
	vm = vm_new(vm_backend_for(r.plan->backend), "L1");
	vm->start_paused = true;
	if (vm_start(vm, r.plan, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	if (!seccomp_filtered(vm_qemu_pid(vm)))
		goto out;
	args = json_pack("{s:s, s:i}", "device", "nic0", "max-entries", 0);
	rc = vm_qmp(vm, "x-query-vtd-mappings", args, NULL, &err);
	json_decref(args);
	if (rc == 0 || !strstr(err->msg, "Parameter 'max-entries' must be between 1 and 1048576")) {
		test_diag("max-entries 0: %s", rc == 0 ? "accepted" : err->msg);
		goto out;
	}
	nl_error_release(&err);
	/* DMA remapping is off before a guest enables it: an empty walk, within any limits */
	args = json_pack("{s:s, s:s, s:i, s:i}", "device", "nic0", "source", "guest", "max-entries", 1, "max-tables", 1);
	rc = vm_qmp(vm, "x-query-vtd-mappings", args, &res, &err);
	json_decref(args);
	if (rc < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	rc = json_array_size(json_object_get(res, "mappings")) == 0 ? 0 : -1;
	json_decref(res);
	if (rc < 0) {
		test_diag("mappings while DMA remapping is off");
		goto out;
	}
	if (vm_stop(vm, 5000, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	ret = TEST_PASS;
out:
	vm_free(vm);
	vm = NULL;
	run_release(&r);
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_backend_for),
	TEST_CASE(test_qemu_backend),
	TEST_CASE(test_qemu_start_failure),
	TEST_CASE(test_libvirt_backend),
	TEST_CASE(test_qemu_qmp_deadline),
	TEST_CASE(test_nestlab_qemu),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
