/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run.c - `nestlab run`: set-up, L0 -> L1 -> L2 bring-up, the workload and checks, teardown (run.h)
 *
 * Synchronous stages on one thread. SIGINT and SIGTERM are blocked by the supervisor loop and polled
 * (loop_run_until(), vm_signal_pending() in the agent client), so Ctrl-C ends the current wait with an
 * EINTR error and the run tears down on its normal error path. timeouts.total (and timeouts.build during
 * the set-up) is the process deadline of loop.h: it ends the current wait the same way, and
 * loop_deadline_expired() makes it a timeout (exit 4) rather than an interruption.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "escape.h"
#include "fs.h"
#include "image.h"
#include "junit.h"
#include "kvm_trace.h"
#include "proc.h"
#include "fs.h"
#include "rundir.h"
#include "run_internal.h"

/* a graceful stop of L1 (libvirt: SIGTERM, its own wait of about 10 s) needs this much teardown budget left */
#define TEARDOWN_GRACEFUL_MS 15000

/* ---- small helpers --------------------------------------------------------------------------- */

void run_logf(struct run *r, const char *fmt, ...)
{
	cleanup_free char *raw = NULL, *text = NULL;
	va_list ap;
	double t = (now_ms() - r->t0_ms) / 1000.0;

	va_start(ap, fmt);
	raw = xvasprintf(fmt, ap);
	va_end(ap);
	text = escape_str(raw, ESCAPE_SINK_MAX_BYTES, ESCAPE_MULTILINE);	/* it may quote guest text */
	if (r->log) {
		fprintf(r->log, "[%7.1f] %s\n", t, text);
		fflush(r->log);
	}
	fprintf(stderr, "nestlab: [%6.1fs] %s\n", t, text);
}

char *run_path(const struct run *r, const char *name)
{
	return xasprintf("%s/%s", r->dir, name);
}

void run_save(struct run *r, const char *name, const char *data, size_t len)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *path = run_path(r, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		nl_error(&err, errno, "create %s", path);
	} else {
		int wrote = fs_write_fd(fd, data, len, path, &err);

		if (close(fd) < 0 && wrote == 0)
			nl_error(&err, errno, "write %s", path);
	}
	if (!err)
		return;
	run_logf(r, "error: %s", err->msg);
	if (!r->save_err) {	/* the run ends at its next stage (run_saves_ok()) */
		fs_error_explain_full(&err, r->dir, "the run directory");
		r->save_err = err;
		err = NULL;
	}
}

int run_saves_ok(struct run *r, nl_error_t *err)
{
	if (!r->save_err)
		return 0;
	nl_error_release(err);
	*err = r->save_err;
	r->save_err = NULL;
	return nl_error_wrap(err, "the run's evidence is incomplete");
}

void run_point(struct run *r, bool ok, uint64_t duration_ms, const char *message, const char *log,
	       const char *fmt, ...)
{
	cleanup_free char *desc = NULL;
	struct tap_point p = { .ok = ok, .message = message, .log = log, .duration_ms = duration_ms };
	va_list ap;

	va_start(ap, fmt);
	desc = xvasprintf(fmt, ap);
	va_end(ap);
	p.description = desc;
	tap_emit(&r->tap, &p);
	fflush(r->opts->tap_out);
	run_logf(r, "%s - %s%s%s", ok ? "ok" : "NOT OK", desc, message ? ": " : "", message ? message : "");
	if (!ok)
		r->failed = true;
}

static int l2_qemu_alive(struct run *r, nl_error_t *err);
static char *l2_vanished(struct run *r);

/*
 * run_teardown_cap() - during the teardown, an agent call gets at most what is left of timeouts.teardown,
 * and none at all once the agent has let one call time out (a stopped or hung L1 would make every
 * request wait its full timeout). Outside the teardown it does nothing. Return: 0, or -1 (ETIMEDOUT).
 */
static int run_teardown_cap(struct run *r, int *timeout_ms, nl_error_t *err)
{
	uint64_t now = now_ms();

	if (!r->teardown_deadline_ms)
		return 0;
	if (r->agent_silent)
		return nl_error(err, ETIMEDOUT, "L1's agent let a request time out during the teardown: not asked again");
	if (now >= r->teardown_deadline_ms)
		return nl_error(err, ETIMEDOUT, "no time left of the teardown's budget (timeouts.teardown)");
	if ((uint64_t)*timeout_ms > r->teardown_deadline_ms - now)
		*timeout_ms = (int)(r->teardown_deadline_ms - now);
	return 0;
}

/* run_teardown_note_timeout() - a timed-out agent call in the teardown silences the agent (run_teardown_cap()) */
static void run_teardown_note_timeout(struct run *r, nl_error_t e)
{
	if (r->teardown_deadline_ms && e && e->errnum == ETIMEDOUT && !r->agent_silent) {
		r->agent_silent = true;
		run_logf(r, "teardown: L1's agent did not answer in time (%s); it is not asked again", e->msg);
	}
}

int run_sh(struct run *r, int level, int timeout_ms, char **out, int *status, nl_error_t *err,
	   const char *fmt, ...)
{
	cleanup_free char *script = NULL;
	cleanup_free char *stdout_text = NULL;
	int st = -1;
	va_list ap;

	va_start(ap, fmt);
	script = xvasprintf(fmt, ap);
	va_end(ap);
	if (run_teardown_cap(r, &timeout_ms, err) < 0)
		return -1;
	if (agent_client_sh(r->agent, level, script, (uint64_t)timeout_ms, &stdout_text, &st, err) < 0) {
		run_teardown_note_timeout(r, *err);
		/* L2 unreachable: say so when its QEMU is gone (-no-reboot: L2 reset or crashed) */
		if (level == 2 && r->l2_up && (*err)->errnum != EINTR && !vm_signal_pending()) {
			cleanup_error nl_error_t l1_err = NULL;
			cleanup_free char *how = NULL;
			int alive = l2_qemu_alive(r, &l1_err);

			if (alive > 0)
				return -1;
			if (alive < 0)	/* not an L2 reset: L1 itself stopped answering */
				return nl_error_wrap(err, "L1 stopped answering too (%s), so L2's state is unknown; see "
							  "%s", l1_err->msg, r->plan->l1_console_log);

			r->l2_up = false;
			r->l2_qemu_pid = 0;
			how = l2_vanished(r);
			return nl_error_wrap(err, "L2 reset or crashed: its QEMU in L1 has exited (it runs with "
						  "-no-reboot); %s; see %s, l2-qemu.out and l1-kvm-trace.txt", how,
					     r->plan->l2_console_log);
		}
		return -1;
	}
	if (status)
		*status = st;
	if (out) {
		*out = stdout_text;
		stdout_text = NULL;
	}
	return 0;
}

int run_l1_qmp(struct run *r, const char *json_cmd, char **reply, nl_error_t *err)
{
	cleanup_free char *q = plan_shell_quote(json_cmd);
	cleanup_free char *out = NULL;
	int status;

	if (run_sh(r, 1, 120000, &out, &status, err, "%s qmp %s %s", RUN_L1_AGENT, r->plan->l2_qmp_sock, q) < 0)
		return -1;
	if (status == 2 || !out || !*out)
		return nl_error(err, 0, "L1 QEMU monitor %s: no reply to %s", r->plan->l2_qmp_sock, json_cmd);
	*reply = out;
	out = NULL;
	return 0;
}

/* ---- set-up: builds and images ------------------------------------------------------------------ */

struct artefacts {
	char *qemu, *kernel, *l1_image, *l1_root;
};

static void artefacts_release(struct artefacts *a)
{
	free(a->qemu);
	free(a->kernel);
	free(a->l1_image);
	free(a->l1_root);
}

/* stage_setup() - build QEMU and Linux as the plan's sources say, then the images (all cached) */
static int stage_setup(struct run *r, const struct plan *plan, struct artefacts *a, nl_error_t *err)
{
	cleanup_free char *cache = fs_cache_dir(err);
	struct build_options bo = { .cache_dir = cache, .step_timeout_ms = -1, .progress = stderr,
				    .progress_tty = isatty(STDERR_FILENO) };
	struct build_result qr = { 0 }, lr = { 0 };
	struct image_config_opts io = { 0 };
	struct image_config cfg;
	struct image_ctx ctx = { .progress = true };
	struct image_result ir = { 0 };
	uint64_t t0 = now_ms();
	int ret = -1;

	if (!cache)
		return -1;
	if (r->opts->skip_setup) {
		a->qemu = xasprintf("%s/qemu/current/qemu-system-x86_64", cache);
		a->kernel = xasprintf("%s/linux/current/bzImage", cache);
		a->l1_image = xasprintf("%s/images/current/l1.img", cache);
		a->l1_root = xstrdup("/dev/vda");
		for (const char *const *f = (const char *const[]){ a->qemu, a->kernel, a->l1_image, NULL }; *f; f++)
			if (access(*f, R_OK) != 0)
				return nl_error(err, errno, "set-up (--no-setup): %s is not in the cache; hint: run without "
							    "--no-setup, or `make build images` first", *f);
		run_point(r, true, 0, NULL, NULL, "set-up: QEMU, Linux and images taken from the cache (--no-setup)");
		return 0;
	}
	run_logf(r, "set-up: QEMU and Linux from source, then the images (cached by content)");
	if (build_run(&build_component_qemu, &plan->qemu_src, &bo, &qr, err) < 0)
		goto out;
	run_logf(r, "QEMU %s: %s", qr.cached ? "cached" : "built", qr.dir);
	if (build_run(&build_component_linux, &plan->linux_src, &bo, &lr, err) < 0)
		goto out;
	run_logf(r, "Linux %s: %s", lr.cached ? "cached" : "built", lr.dir);
	a->qemu = xasprintf("%s/qemu-system-x86_64", qr.dir);
	a->kernel = xasprintf("%s/bzImage", lr.dir);
	io.qemu = a->qemu;
	io.kernel = a->kernel;
	if (image_config_init_default(&cfg, &io, err) < 0) {
		image_config_release(&cfg);
		goto out;
	}
	ret = image_ctx_open(&ctx, &cfg, err);
	if (ret == 0)
		ret = image_build(&cfg, &ctx, &ir, err);
	image_ctx_close(&ctx);
	image_config_release(&cfg);
	if (ret < 0)
		goto out;
	a->l1_image = xstrdup(ir.l1_image);
	a->l1_root = xstrdup(ir.l1_root);
	r->ms_setup = now_ms() - t0;
	run_point(r, true, r->ms_setup, NULL, NULL, "set-up: QEMU %s, Linux %s, images %s",
		  qr.cached ? "cached" : "built", lr.cached ? "cached" : "built",
		  ir.l1_built || ir.l2_built ? "built" : "cached");
	ret = 0;
out:
	build_result_release(&qr);
	build_result_release(&lr);
	image_result_release(&ir);
	if (ret < 0)
		nl_error_wrap(err, "set-up");
	return ret;
}

/* ---- plan ---------------------------------------------------------------------------------------- */

/* resolve_plan() - the executable plan: real artefacts and the peer's ports */
static int resolve_plan(struct run *r, const struct scenario *scn, const struct artefacts *a, nl_error_t *err)
{
	cleanup_free char *text = NULL;
	struct plan_env env;
	int ret;

	plan_env_init_default(&env, r->dir);
	env.run_id = r->run_id;
	env.libvirt_root = r->state.libvirt_root;
	if (a) {
		env.qemu_binary = a->qemu;
		env.l1_kernel = a->kernel;
		env.l1_image = a->l1_image;
		env.l1_root = a->l1_root;
	}
	plan_free(r->plan);
	r->plan = NULL;
	ret = plan_resolve(scn, &env, &r->plan, err);
	plan_env_release(&env);
	if (ret < 0)
		return -1;
	text = plan_format(r->plan);
	return rundir_write_file(r->dir, "plan.txt", text, err);
}

/* parse_mac() - "52:54:00:12:34:56" */
static int parse_mac(const char *text, uint8_t mac[6])
{
	unsigned v[6];

	if (!text || sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* open_peer() - nestlab's traffic peer on 127.0.0.1 and a port for QEMU's side of the wire */
static int open_peer(struct run *r, const struct plan *plan, nl_error_t *err)
{
	static const enum frame_payload payloads[] = {
		[SCN_PAYLOAD_UNSET] = FRAME_PAYLOAD_RANDOM, [SCN_PAYLOAD_RANDOM] = FRAME_PAYLOAD_RANDOM,
		[SCN_PAYLOAD_ZERO] = FRAME_PAYLOAD_ZERO, [SCN_PAYLOAD_PATTERN] = FRAME_PAYLOAD_PATTERN,
	};
	cleanup_free char *log = run_path(r, "peer.log");
	/* no fixed pace: the wire makes the peer wait while QEMU's queue is full, and the traffic stage
	 * sends with a window of what L2 reported received (run_traffic.c) */
	struct peer_config cfg = { .name = "peer", .log_path = log, .sock_path = plan->nic.peer_sock };
	const struct plan_traffic *t = &plan->traffic;

	if (t->seed_set) {
		r->seed = t->seed;
	} else if (getrandom(&r->seed, sizeof(r->seed), 0) != sizeof(r->seed)) {
		r->seed = now_ms();
	}
	if (plan->nic.mode == SCN_L0_EMULATED && parse_mac(plan->nic.mac, r->nic_mac) < 0)
		return nl_error(err, 0, "NIC MAC '%s' is not a MAC address", plan->nic.mac);
	cfg.tx = (struct frame_spec){ .seed = r->seed, .size_min = (uint16_t)t->size_min,
				      .size_max = (uint16_t)t->size_max, .payload = payloads[t->payload] };
	memcpy(cfg.tx.dst, r->nic_mac, 6);
	cfg.rx = (struct frame_spec){ .seed = r->seed + 1, .size_min = (uint16_t)t->size_min,
				      .size_max = (uint16_t)t->size_max, .payload = payloads[t->payload] };
	memcpy(cfg.rx.src, r->nic_mac, 6);
	cfg.rx_expected = t->frames;
	if (peer_open(&r->peer, &r->loop, &cfg, err) < 0)
		return nl_error_wrap(err, "traffic peer");
	r->peer_open = true;
	if (peer_set_remote(&r->peer, plan->nic.nic_sock, err) < 0)
		return nl_error_wrap(err, "traffic peer");
	run_logf(r, "traffic peer on %s, NIC side %s, seed %llu (L0->L2) and %llu (L2->L0)", peer_sock_path(&r->peer),
		 plan->nic.nic_sock, (unsigned long long)r->seed, (unsigned long long)(r->seed + 1));
	return 0;
}

/* ---- L1 ------------------------------------------------------------------------------------------ */

/* run_embedded_root() - L1 runs under libvirt's embedded driver in this run's private root */
static bool run_embedded_root(const struct run *r)
{
	return r->plan && r->plan->backend == SCN_BACKEND_LIBVIRT && r->state.libvirt_root &&
	       !strncmp(r->plan->connect, "qemu:///embed?root=", 19) &&
	       !strcmp(r->plan->connect + 19, r->state.libvirt_root);
}

/*
 * keep_l1_qemu_log() - L1's QEMU log (its stderr, ROOT/log/qemu/NAME.log under the embedded driver)
 * into RUN/l1-qemu.log before the root goes; the RUN/libvirt link goes with the root
 */
static void keep_l1_qemu_log(struct run *r)
{
	cleanup_free char *from = NULL;
	cleanup_free char *text = NULL;
	cleanup_free char *link = run_path(r, "libvirt");

	if (!run_embedded_root(r))
		return;
	from = xasprintf("%s/log/qemu/%s.log", r->state.libvirt_root, r->plan->domain_name);
	text = read_file_text(from);
	if (text)
		run_save(r, "l1-qemu.log", text, strlen(text));
	unlink(link);
}

/* stage_l1() - start L1 and wait for its agent */
static int stage_l1(struct run *r, nl_error_t *err)
{
	const struct plan *plan = r->plan;
	cleanup_free char *seed = NULL;
	cleanup_free char *transcript = run_path(r, "agent.log");
	cleanup_free char *msg = NULL;
	struct agent_ready ready = { 0 };
	uint64_t t0 = now_ms();

	/* written down before it exists, for `nestlab clean` after a SIGKILL (runstate.h) */
	if (runstate_set(&r->state, "overlay", plan->l1_overlay, err) < 0)
		return -1;
	if (image_overlay_create(plan->l1.image, plan->l1_overlay, err) < 0 || image_seed_write(r->dir, plan, NULL, &seed, err) < 0)
		return nl_error_wrap(err, "L1 disks");
	if (getenv("NESTLAB_TEST_L1_AGENT") && *getenv("NESTLAB_TEST_L1_AGENT")) {
		/* tests only (test_hostile): another agent in this run's overlay; the image is not touched */
		cleanup_free char *glog = run_path(r, "test-l1-agent.libguestfs.log");

		run_logf(r, "warning: NESTLAB_TEST_L1_AGENT is set: L1 runs %s as its agent (a test build), not the "
			    "image's", getenv("NESTLAB_TEST_L1_AGENT"));
		if (image_overlay_put_file(plan->l1_overlay, getenv("NESTLAB_TEST_L1_AGENT"), RUN_L1_AGENT, 0755, glog,
					   err) < 0)
			return nl_error_wrap(err, "NESTLAB_TEST_L1_AGENT");
	}
	if (run_embedded_root(r)) {
		/* the embedded driver's root (short, see plan.c) is reachable from the run directory */
		cleanup_free char *link = run_path(r, "libvirt");

		if (symlink(r->state.libvirt_root, link) < 0)
			run_logf(r, "warning: symlink %s: %s", link, strerror(errno));
		run_logf(r, "L1: libvirt root %s (private to this run, removed at its end)", r->state.libvirt_root);
	}
	if (runstate_set(&r->state, "domain", plan->domain_name, err) < 0)
		return -1;
	r->vm = vm_new(vm_backend_for(plan->backend), "L1");
	run_logf(r, "L1: starting %s under %s (%s backend)", plan->domain_name,
		 plan->l1.accel == PLAN_ACCEL_KVM ? "KVM" : "TCG", r->vm->ops->name);
	r->vm->start_paused = true;	/* the consoles' capped logs are attached before L1 prints anything */
	if (vm_start(r->vm, plan, err) < 0) {
		if (plan->expect == SCN_EXPECT_REFUSAL && plan->expect_stage == SCN_STAGE_L1_START)
			return 1;
		return -1;
	}
	r->l1_started = true;
	if (runstate_set_pid(&r->state, "qemu", vm_qemu_pid(r->vm), err) < 0)
		return -1;
	/* QEMU has bound the NIC's socket: connect now, before L1's own frames come (peer.h) */
	if (plan->nic.mode == SCN_L0_EMULATED && peer_connect_remote(&r->peer, err) < 0)
		return nl_error_wrap(err, "traffic peer");
	if (console_capture_start(&r->consoles[0], "L1 console", plan->l1_console_sock, plan->l1_console_log, 0,
				  5000, err) < 0 ||
	    console_capture_start(&r->consoles[1], "L2 console", plan->l2_console_sock, plan->l2_console_log, 0,
				  5000, err) < 0 ||
	    vm_resume(r->vm, err) < 0)
		return nl_error_wrap(err, "L1 start");
	if (agent_client_connect(plan->l1_agent_sock, 30000, transcript, &r->agent, err) < 0)
		return nl_error_wrap(err, "L1 agent channel");
	if (agent_client_wait_ready(r->agent, 1, plan->timeouts.l1_boot_ms, &ready, err) < 0) {
		agent_client_ready_release(&ready);
		if ((*err)->errnum == EINTR)	/* Ctrl-C, not a timeout: say so */
			return nl_error_wrap(err, "L1 boot");
		return nl_error_wrap(err, "L1 did not become ready within %llu ms; see %s",
				     (unsigned long long)plan->timeouts.l1_boot_ms, plan->l1_console_log);
	}
	r->ms_l1_boot = now_ms() - t0;
	msg = xasprintf("guest uptime %.1f s, hostname %s", ready.uptime_ms / 1000.0, ready.hostname);
	agent_client_ready_release(&ready);
	run_point(r, true, r->ms_l1_boot, NULL, NULL, "L1 up: agent ready %.1f s after start (%s, %s)",
		  r->ms_l1_boot / 1000.0, plan->l1.accel == PLAN_ACCEL_KVM ? "KVM" : "TCG", msg);
	return 0;
}

/* ---- L2 ------------------------------------------------------------------------------------------ */

/*
 * l1_prepare() - kvm_amd/kvm_intel for L2, the NIC on vfio-pci, L1's view before L2; kvm_amd's
 * parameters go to l1-prepare.txt, and L1's KVM trace starts (kvm_trace.h: evidence if L2 vanishes)
 */
static int l1_prepare(struct run *r, nl_error_t *err)
{
	const struct plan *plan = r->plan;
	cleanup_free char *trace = kvm_trace_start_script();
	cleanup_free char *out = NULL;
	int status;

	if (run_sh(r, 1, 60000, &out, &status, err,
		   "mkdir -p %s; (modprobe kvm_amd || modprobe kvm_intel) >/dev/null 2>&1;"
		   " test -c /dev/kvm && echo kvm=yes || echo kvm=no;"
		   " echo driver=$(basename \"$(readlink /sys/bus/pci/devices/%s/driver)\");"
		   " echo group=$(basename \"$(readlink /sys/bus/pci/devices/%s/iommu_group)\");"
		   " uname -r; grep -H . /sys/module/kvm_amd/parameters/* 2>/dev/null; %s",
		   RUN_GUEST_DIR, plan->nic.l1_bdf, plan->nic.l1_bdf, trace) < 0)
		return -1;
	run_save(r, "l1-prepare.txt", out, strlen(out));
	switch (plan->l2.accel) {
	case PLAN_ACCEL_KVM:
		if (!strstr(out, "kvm=yes"))
			return nl_error(err, 0, "L2 needs KVM in L1 (l2.accel: kvm) but L1 has no /dev/kvm after "
						"modprobe kvm_amd/kvm_intel; hint: use l2.accel: auto or tcg");
		r->l2_kvm = true;
		break;
	case PLAN_ACCEL_TCG:
		r->l2_kvm = false;
		break;
	default:
		r->l2_kvm = strstr(out, "kvm=yes") != NULL;
		break;
	}
	if (plan->nic.l2_assign != SCN_ASSIGN_NONE && !strstr(out, "driver=vfio-pci")) {
		cleanup_free char *shown = escape_bytes(out, strlen(out), 512, ESCAPE_BACKSLASH);

		return nl_error(err, 0, "the NIC %s in L1 is not bound to vfio-pci (%s); see l1-prepare.txt and "
					"the L1 console %s (cloud-init runcmd)", plan->nic.l1_bdf, shown, plan->l1_console_log);
	}
	if (!strstr(out, "kvm-trace=on"))
		run_logf(r, "warning: no KVM trace in L1 (tracefs instance %s)", KVM_TRACE_INSTANCE);
	run_logf(r, "L1: NIC %s on vfio-pci, L2 will run under %s", plan->nic.l1_bdf, r->l2_kvm ? "KVM" : "TCG");
	return 0;
}

/* l2_start_qemu() - start L1's QEMU for L2 in the background; its pid in r->l2_qemu_pid */
static int l2_start_qemu(struct run *r, nl_error_t *err)
{
	cleanup_strv char **argv = plan_l2_qemu_argv(r->plan, r->l2_kvm);
	cleanup_strbuf struct strbuf cmd = STRBUF_INIT;
	cleanup_free char *out = NULL;
	int status;

	strbuf_printf(&cmd, "rm -f %s %s; setsid", r->plan->l2_qmp_sock, r->plan->l2_agent_sock);
	for (size_t i = 0; argv[i]; i++) {
		cleanup_free char *q = plan_shell_quote(argv[i]);

		strbuf_printf(&cmd, " %s", q);
	}
	strbuf_printf(&cmd, " </dev/null >%s/l2-qemu.out 2>&1 & echo pid=$!", RUN_GUEST_DIR);
	run_save(r, "l2-qemu.cmd", cmd.str, cmd.len);
	if (run_sh(r, 1, 30000, &out, &status, err, "%s", cmd.str) < 0)
		return -1;
	if (!out || sscanf(out, "pid=%ld", &r->l2_qemu_pid) != 1 || r->l2_qemu_pid <= 0)
		return nl_error(err, 0, "L1 did not start L2's QEMU: %s", out ? out : "");
	return 0;
}

/* l2_qemu_output() - what L1's QEMU printed (stdout and stderr); caller frees */
static char *l2_qemu_output(struct run *r)
{
	cleanup_error nl_error_t err = NULL;
	char *out = NULL;

	if (run_sh(r, 1, 30000, &out, NULL, &err, "cat %s/l2-qemu.out", RUN_GUEST_DIR) < 0)
		return xasprintf("(could not read %s/l2-qemu.out in L1: %s)", RUN_GUEST_DIR, err->msg);
	return out;
}

/*
 * l2_qemu_alive() - whether L2's QEMU still runs in L1
 * Return: 1 it runs, 0 it has exited (or never started), -1 L1's agent did not answer (@err set): an L1
 * that stopped answering must not be reported as an L2 that reset
 */
static int l2_qemu_alive(struct run *r, nl_error_t *err)
{
	int status = -1;

	if (r->l2_qemu_pid <= 0)
		return 0;
	if (run_sh(r, 1, 30000, NULL, &status, err, "kill -0 %ld", r->l2_qemu_pid) < 0)
		return -1;
	return status == 0;
}

/*
 * l2_vanished() - L2's QEMU exited by itself (L2 reset, -no-reboot, or QEMU crashed), or L2 never became
 * ready: L1's KVM trace into RUN/l1-kvm-trace.txt, and how L2's vCPU last left KVM according to it
 * (kvm_trace_summary()), or why that is unknown. Caller frees.
 */
static char *l2_vanished(struct run *r)
{
	static const char path[] = RUN_GUEST_DIR "/l1-kvm-trace.txt";
	cleanup_free char *script = kvm_trace_save_script(path, 20000);
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *data = NULL;
	char *summary;
	size_t len = 0;
	int status = -1;

	if (run_sh(r, 1, 60000, NULL, &status, &err, "%s", script) < 0 || status != 0 ||
	    agent_client_read_file(r->agent, 1, path, 64u << 20, 60000, &data, &len, &err) < 0)
		return xasprintf("L1's KVM trace could not be read (%s)", err ? err->msg : "no trace instance");
	run_save(r, "l1-kvm-trace.txt", data, len);
	summary = kvm_trace_summary(data);
	return summary ? summary : xstrdup("L1's KVM trace holds no exit of L2's vCPU");
}

/* stage_refusal() - a scenario that expects L1's QEMU to refuse: wait for it to exit, match the message */
static int stage_refusal(struct run *r, nl_error_t *err)
{
	const struct plan *plan = r->plan;
	cleanup_free char *out = NULL;
	uint64_t t0 = now_ms();
	int alive = 1;

	while (now_ms() - t0 < 60000 && (alive = l2_qemu_alive(r, err)) > 0)
		vm_sleep_ms(500);
	if (vm_signal_pending())
		return nl_error(err, EINTR, "interrupted");
	if (alive < 0)
		return nl_error_wrap(err, "L1 stopped answering while its QEMU was expected to refuse L2");
	out = l2_qemu_output(r);
	run_save(r, "l2-qemu.out", out, strlen(out));
	if (alive) {
		run_point(r, false, now_ms() - t0,
			  "L1's QEMU kept running: the configuration was accepted where a refusal was expected",
			  "l2-qemu.out", "L1's QEMU refuses the L2 configuration (%s)", plan->refusal_reason);
		return 0;
	}
	r->l2_qemu_pid = 0;
	if (plan->expect_message && !strstr(out, plan->expect_message)) {
		cleanup_free char *m = xasprintf("QEMU exited, but its output does not contain \"%s\": %s",
						 plan->expect_message, out);

		run_point(r, false, now_ms() - t0, m, "l2-qemu.out", "L1's QEMU refuses the L2 configuration");
		return 0;
	}
	{
		char *nl = strchr(out, '\n');

		if (nl && nl[1] == '\0')
			*nl = '\0';
		run_point(r, true, now_ms() - t0, NULL, "l2-qemu.out", "L1's QEMU refuses the L2 configuration: %s",
			  out);
	}
	return 0;
}

/* stage_l2() - start L2 and wait for its agent through L1's relay */
static int stage_l2(struct run *r, nl_error_t *err)
{
	const struct plan *plan = r->plan;
	uint64_t timeout = r->l2_kvm ? plan->timeouts.l2_boot_kvm_ms : plan->timeouts.l2_boot_tcg_ms;
	struct agent_ready ready = { 0 };
	uint64_t t0;

	if (l1_prepare(r, err) < 0)
		return -1;
	if (run_l0_mapped_pages(r, &r->l0_baseline_pages, err) == 0) {
		r->l0_baseline_known = true;
		run_logf(r, "L0: L1's IOMMU tables map %llu pages for the NIC before L2 starts",
			 (unsigned long long)r->l0_baseline_pages);
	} else {
		run_logf(r, "warning: no L0 baseline: %s", (*err)->msg);
		nl_error_release(err);
	}
	t0 = now_ms();
	if (l2_start_qemu(r, err) < 0)
		return -1;
	run_logf(r, "L2: QEMU started in L1 (pid %ld, %s)", r->l2_qemu_pid, r->l2_kvm ? "KVM" : "TCG");
	if (plan->expect == SCN_EXPECT_REFUSAL)
		return stage_refusal(r, err);
	for (;;) {
		uint64_t spent = now_ms() - t0;
		uint64_t slice = spent >= timeout ? 0 : timeout - spent < 15000 ? timeout - spent : 15000;
		int alive;

		if (!slice) {
			/* a hung L2 is as unexplained as a vanished one: keep L1's KVM trace of it too */
			cleanup_free char *how = l2_vanished(r);

			return nl_error(err, ETIMEDOUT, "L2 not ready within %llu ms (%s in L1); %s; see %s, l2-qemu.log "
					"and l1-kvm-trace.txt", (unsigned long long)timeout, r->l2_kvm ? "KVM" : "TCG", how,
					plan->l2_console_log);
		}
		/* in slices, so that an L2 QEMU that died is noticed */
		if (agent_client_wait_ready(r->agent, 2, slice, &ready, err) == 0)
			break;
		agent_client_ready_release(&ready);
		if (vm_signal_pending() || ((*err) && (*err)->errnum == EINTR))
			return -1;
		nl_error_release(err);
		alive = l2_qemu_alive(r, err);
		if (alive < 0)
			return nl_error_wrap(err, "L1 stopped answering while L2 booted; see %s", plan->l1_console_log);
		if (!alive) {
			cleanup_free char *out = l2_qemu_output(r);
			cleanup_free char *how = NULL;

			r->l2_qemu_pid = 0;
			run_save(r, "l2-qemu.out", out, strlen(out));
			how = l2_vanished(r);
			return nl_error(err, 0, "L1's QEMU exited before L2 was ready: %s%s (see l2-qemu.out, "
						"l1-kvm-trace.txt and %s)", out, how, plan->l2_console_log);
		}
	}
	r->ms_l2_boot = now_ms() - t0;
	r->l2_up = true;
	run_point(r, true, r->ms_l2_boot, NULL, NULL, "L2 up: agent ready %.1f s after its QEMU started (%s in L1, "
		  "guest uptime %.1f s)", r->ms_l2_boot / 1000.0, r->l2_kvm ? "KVM" : "TCG", ready.uptime_ms / 1000.0);
	agent_client_ready_release(&ready);
	if (run_check_confinement(r, err) < 0)
		return -1;
	/* the per-page shadow trace events, now that L2 has booted (plan_qemu.c) */
	for (size_t i = 0; plan_l2_runtime_trace_events[i]; i++) {
		cleanup_free char *cmd = xasprintf("{\"execute\":\"trace-event-set-state\",\"arguments\":"
						   "{\"name\":\"%s\",\"enable\":true}}", plan_l2_runtime_trace_events[i]);
		cleanup_free char *reply = NULL;

		if (run_l1_qmp(r, cmd, &reply, err) < 0) {
			if ((*err)->errnum == EINTR)
				return -1;
			run_logf(r, "warning: trace event %s: %s", plan_l2_runtime_trace_events[i], (*err)->msg);
			nl_error_release(err);
		}
	}
	return 0;
}

/* ---- teardown ------------------------------------------------------------------------------------ */

/* stop_l2() - ask L1's QEMU to quit through QMP, then kill it; collect L1-side files */
static void stop_l2(struct run *r)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *out = NULL;

	if (!r->agent || r->l2_qemu_pid <= 0)
		return;
	if (run_l1_qmp(r, "{\"execute\":\"quit\"}", &out, &err) < 0)
		nl_error_release(&err);
	free(out);
	out = NULL;
	if (run_sh(r, 1, 30000, &out, NULL, &err,
		   "for i in $(seq 50); do kill -0 %ld 2>/dev/null || break; sleep 0.2; done;"
		   " kill -0 %ld 2>/dev/null && { kill -9 %ld; echo killed; }; echo stopped",
		   r->l2_qemu_pid, r->l2_qemu_pid, r->l2_qemu_pid) == 0)
		run_logf(r, "L2: QEMU in L1 %s", out && strstr(out, "killed") ? "killed after 10 s" : "quit");
	r->l2_qemu_pid = 0;
	r->l2_up = false;
}

/* collect_l1_files() - L1's QEMU log and output into the run directory */
static void collect_l1_files(struct run *r)
{
	static const char *const files[][2] = {
		{ "/run/nestlab/l2-qemu.log", "l2-qemu.log" },
		{ "/run/nestlab/l2-qemu.out", "l2-qemu.out" },
	};

	if (!r->agent)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_error nl_error_t err = NULL;
		cleanup_free char *data = NULL;
		size_t len = 0;

		int timeout_ms = 60000;

		if (run_teardown_cap(r, &timeout_ms, &err) < 0)
			return;
		if (agent_client_read_file(r->agent, 1, files[i][0], 64u << 20, (uint64_t)timeout_ms, &data, &len, &err) == 0)
			run_save(r, files[i][1], data, len);
		else
			run_teardown_note_timeout(r, err);
	}
	{
		cleanup_error nl_error_t err = NULL;
		cleanup_free char *out = NULL;

		if (run_sh(r, 1, 30000, &out, NULL, &err, "dmesg") == 0 && out)
			run_save(r, "l1-dmesg.txt", out, strlen(out));
	}
}

/*
 * teardown() - stop everything this run started, within timeouts.teardown: every agent call gets what is
 * left of it (run_teardown_cap()), the agent is dropped after its first timeout, and an L1 that let it
 * time out, or that the budget no longer covers, gets SIGKILL instead of a graceful stop
 */
static void teardown(struct run *r, bool interrupted)
{
	cleanup_error nl_error_t err = NULL;
	uint64_t t0 = now_ms();
	uint64_t budget_ms = r->plan ? r->plan->timeouts.teardown_ms : 20000;
	size_t left;

	r->teardown_deadline_ms = t0 + budget_ms;
	/* only from an L1 that was ready (ms_l1_boot set): a boot that timed out would wait for its agent */
	if (!interrupted && r->agent && r->ms_l1_boot) {
		collect_l1_files(r);
		stop_l2(r);
	}
	agent_client_free(r->agent);
	r->agent = NULL;
	if (r->vm) {
		uint64_t now = now_ms();
		unsigned grace_ms = now + TEARDOWN_GRACEFUL_MS < r->teardown_deadline_ms ?
				    (unsigned)(r->teardown_deadline_ms - now) : 0;

		if (vm_running(r->vm) && (r->agent_silent || !grace_ms)) {
			pid_t pid = vm_qemu_pid(r->vm);

			/* libvirt would give a stopped or hung QEMU its own SIGTERM grace first */
			run_logf(r, "L1: QEMU (pid %d) gets SIGKILL: %s", (int)pid,
				 r->agent_silent ? "its agent stopped answering" : "the teardown's budget is spent");
			if (pid > 0)
				kill(pid, SIGKILL);
			grace_ms = 0;
		}
		if (vm_running(r->vm) && vm_stop(r->vm, grace_ms, &err) < 0)
			run_logf(r, "L1 stop: %s", err->msg);
		vm_free(r->vm);
		r->vm = NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(r->consoles); i++)	/* QEMU is gone: end of file */
		console_capture_finish(&r->consoles[i], 2000);
	left = vm_teardown_all() + proc_registry_kill_all();
	keep_l1_qemu_log(r);
	r->ms_teardown = now_ms() - t0;
	run_logf(r, "teardown done in %.1f s%s", r->ms_teardown / 1000.0, left ? " (had to kill leftovers)" : "");
}

/* collect_done() - loop_run_until() predicate: the log collector exited */
static bool collect_done(void *opaque)
{
	return *(bool *)opaque;
}

static int collect_exited(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	*(bool *)ev->opaque = true;
	return 0;
}

/*
 * collect_l1_disk_logs() - what L1 logged to its disk (journal, cloud-init), read with libguestfs by a
 * child `nestlab images --collect-logs` so that what is left of timeouts.teardown and Ctrl-C bound it
 * (libguestfs' appliance start has no deadline of its own); the child's group is killed when they end it
 */
static void collect_l1_disk_logs(struct run *r)
{
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *log = run_path(r, "l1-guest-logs.out");
	uint64_t now = now_ms();
	bool exited = false;
	loop_id_t id;

	if (now >= r->teardown_deadline_ms) {
		run_logf(r, "L1's disk logs not collected: no time left of timeouts.teardown (%llu s)",
			 (unsigned long long)(r->plan->timeouts.teardown_ms / 1000));
		return;
	}
	run_logf(r, "collecting L1's logs from its disk into l1-guest-logs/ (%.0f s left of timeouts.teardown)",
		 (r->teardown_deadline_ms - now) / 1000.0);
	strv_push(&p.argv, "/proc/self/exe");
	strv_push(&p.argv, "images");
	strv_push(&p.argv, "--quiet");
	strv_push(&p.argv, "--collect-logs");
	strv_push(&p.argv, r->plan->l1_overlay);
	strv_push(&p.argv, r->dir);
	p.name = xstrdup("nestlab images --collect-logs");
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, log };
	p.stderr_io.mode = PROC_IO_STDOUT;
	if (proc_start(&p, &err) < 0) {
		run_logf(r, "warning: %s", err->msg);
		return;
	}
	id = p.pidfd >= 0 ? loop_add_fd(&r->loop, LOOP_KIND_CHILD_EXIT, p.pidfd, EPOLLIN, collect_exited, &exited,
					"log collector", &err) : 0;
	if (id && loop_run_until(&r->loop, collect_done, &exited, (int)(r->teardown_deadline_ms - now_ms()), &err) < 0) {
		run_logf(r, "warning: L1's disk logs: %s; the collector is stopped (see l1-guest-logs.out)", err->msg);
		loop_remove(&r->loop, id);
		proc_kill(&p);
		return;
	}
	if (id)
		loop_remove(&r->loop, id);
	nl_error_release(&err);
	if (proc_wait(&p, id ? 0 : (int)(r->teardown_deadline_ms > now_ms() ? r->teardown_deadline_ms - now_ms() : 0),
		      &err) < 0)
		run_logf(r, "warning: L1's disk logs: %s (see l1-guest-logs.out)", err->msg);
}

/* ---- the run ------------------------------------------------------------------------------------- */

/* write_results() - result.tap, junit.xml and the stage times */
static void write_results(struct run *r, const char *name)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *junit_path = run_path(r, "junit.xml");
	cleanup_free char *times = xasprintf("setup_ms %llu\nl1_boot_ms %llu\nl2_boot_ms %llu\ntraffic_ms %llu\n"
					     "checks_ms %llu\nteardown_ms %llu\ntotal_ms %llu\n",
					     (unsigned long long)r->ms_setup, (unsigned long long)r->ms_l1_boot,
					     (unsigned long long)r->ms_l2_boot, (unsigned long long)r->ms_traffic,
					     (unsigned long long)r->ms_checks, (unsigned long long)r->ms_teardown,
					     (unsigned long long)(now_ms() - r->t0_ms));
	struct junit junit;

	junit_init(&junit, name);
	junit_add_tap(&junit, &r->tap);
	if (junit_write(&junit, junit_path, &err) < 0)
		run_logf(r, "warning: %s", err->msg);
	junit_release(&junit);
	run_save(r, "times.txt", times, strlen(times));
}

/*
 * run_set_deadline() - the process deadline (loop.h) for what comes next: timeouts.total from the start
 * of the run, or during the set-up the earlier of it and timeouts.build from @setup_start_ms (0: not in
 * the set-up). Every wait of every stage ends when it passes (EINTR), and run_execute() knows it was
 * the deadline by loop_deadline_expired(), not by guessing from the clock.
 */
static void run_set_deadline(struct run *r, uint64_t setup_start_ms)
{
	const struct plan_timeouts *t = &r->plan->timeouts;
	uint64_t total_at = r->t0_ms + t->total_ms;
	cleanup_free char *what = xasprintf("the scenario's total timeout (timeouts.total, %llu s)",
					    (unsigned long long)(t->total_ms / 1000));

	if (setup_start_ms && setup_start_ms + t->build_ms < total_at) {
		cleanup_free char *build = xasprintf("the set-up's timeout (timeouts.build, %llu s)",
						     (unsigned long long)(t->build_ms / 1000));

		loop_deadline_set(setup_start_ms + t->build_ms, build);
		return;
	}
	loop_deadline_set(total_at, what);
}

/* run_stages() - everything between the plan and the teardown */
static int run_stages(struct run *r, const struct scenario *scn, nl_error_t *err)
{
	struct artefacts a = { 0 };
	uint64_t t0;
	int ret;

	/* a first plan for the sources to build; the final one has the artefacts */
	if (resolve_plan(r, scn, NULL, err) < 0)
		return -2;
	run_set_deadline(r, now_ms());
	ret = stage_setup(r, r->plan, &a, err);
	if (ret == 0 && loop_deadline_expired())	/* a cached set-up waits for nothing: check */
		ret = nl_error(err, EINTR, "set-up");	/* run_execute() names the deadline */
	if (ret == 0)
		run_set_deadline(r, 0);
	if (ret == 0)
		ret = open_peer(r, r->plan, err);
	if (ret == 0 && resolve_plan(r, scn, &a, err) < 0)
		ret = -2;
	artefacts_release(&a);
	if (ret < 0)
		return ret;
	tap_comment(&r->tap, "plan: %s/plan.txt; L1 %s, seed %llu", r->dir, r->plan->domain_name,
		    (unsigned long long)r->seed);

	ret = stage_l1(r, err);
	if (ret != 0)
		return ret > 0 ? 0 : -1;
	if (run_saves_ok(r, err) < 0 || stage_l2(r, err) < 0 || run_saves_ok(r, err) < 0)
		return -1;
	if (r->plan->expect == SCN_EXPECT_REFUSAL)
		return 0;

	t0 = now_ms();
	if (run_traffic(r, err) < 0 || run_saves_ok(r, err) < 0)
		return -1;
	r->ms_traffic = now_ms() - t0;
	t0 = now_ms();
	if (r->plan->checks[SCN_CHECK_IOMMU_IN_USE] && run_check_iommu_in_use(r, err) < 0)
		return -1;
	if (r->plan->checks[SCN_CHECK_SHADOW] && run_check_shadow(r, err) < 0)
		return -1;
	if (r->plan->checks[SCN_CHECK_UNMAP] && run_check_unmap(r, err) < 0)
		return -1;
	if (r->plan->checks[SCN_CHECK_FAULTS]) {
		if (run_check_faults(r, false, err) < 0)
			return -1;
		stop_l2(r);
		if (run_check_faults(r, true, err) < 0)
			return -1;
	}
	r->ms_checks = now_ms() - t0;
	return 0;
}

/* TAP goes to the caller's stream and to RUN/result.tap */
struct tee {
	FILE *a, *b;
};

static ssize_t tee_write(void *cookie, const char *buf, size_t len)
{
	struct tee *t = cookie;

	fwrite(buf, 1, len, t->a);
	fflush(t->a);
	if (t->b)
		fwrite(buf, 1, len, t->b);
	return (ssize_t)len;
}

static int tee_close(void *cookie)
{
	struct tee *t = cookie;

	if (t->b)
		fclose(t->b);
	return 0;
}

int run_execute(const struct scenario *scn, const struct run_options *opts, nl_error_t *err)
{
	struct run r = { .opts = opts, .dir = opts->run_dir, .t0_ms = now_ms() };
	cleanup_free char *log_path = xasprintf("%s/run.log", opts->run_dir);
	cleanup_free char *tap_path = xasprintf("%s/result.tap", opts->run_dir);
	struct tee tee = { .a = opts->tap_out, .b = fopen(tap_path, "we") };
	FILE *tap_out = fopencookie(&tee, "w", (cookie_io_functions_t){ .write = tee_write, .close = tee_close });
	struct run_options o = *opts;
	bool interrupted;
	int ret;

	if (!tap_out)
		tap_out = opts->tap_out;
	else
		setvbuf(tap_out, NULL, _IOLBF, 0);
	o.tap_out = tap_out;
	r.opts = &o;
	opts = &o;
	r.log = fopen(log_path, "we");
	{
		uint32_t id = 0;

		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint32_t)now_ms();
		snprintf(r.run_id, sizeof(r.run_id), "%06x", id & 0xffffff);
	}
	tap_init(&r.tap, opts->tap_out);
	tap_begin(&r.tap, -1);
	tap_comment(&r.tap, "scenario %s, run directory %s", scn->name, opts->run_dir);
	r.state = (struct runstate)RUNSTATE_INIT;
	if (runstate_create(&r.state, opts->run_dir, err) < 0 || loop_init(&r.loop, err) < 0) {
		runstate_remove(&r.state);
		tap_bail_out(&r.tap, "%s", (*err)->msg);
		tap_release(&r.tap);
		if (r.log)
			fclose(r.log);
		if (tap_out != tee.a)
			fclose(tap_out);
		else if (tee.b)
			fclose(tee.b);
		return -1;
	}
	ret = run_stages(&r, scn, err);
	if (ret == 0 && run_saves_ok(&r, err) < 0)
		ret = -1;
	if (loop_deadline_expired()) {
		/* timeouts.total or timeouts.build, not a SIGTERM: a timeout (exit 4), and the teardown runs */
		cleanup_free char *what = xstrdup(loop_deadline_message());

		if (ret < 0)
			nl_error_release(err);
		ret = -1;
		nl_error(err, ETIMEDOUT, "%s; see %s/run.log for the stage it stopped", what, opts->run_dir);
	}
	loop_deadline_set(0, NULL);
	interrupted = vm_signal_pending() || (ret < 0 && *err && (*err)->errnum == EINTR);
	if (ret < 0 && interrupted && (*err)->errnum != EINTR) {
		/*
		 * Ctrl-C reaches the whole process group: a child (libvirt's QEMU capability probe, say) can die of
		 * it first and the stage then fails with that child's error. Name the interruption first, so that
		 * the failure is not mistaken for QEMU's.
		 */
		cleanup_free char *msg = xstrdup((*err)->msg);

		nl_error_release(err);
		nl_error(err, EINTR, "interrupted by SIGINT or SIGTERM; the stage then failed: %s", msg);
	}
	if (ret < 0) {
		run_logf(&r, "stopped: %s", (*err)->msg);
		tap_bail_out(&r.tap, "%s (run directory %s)", (*err)->msg, opts->run_dir);
	}
	teardown(&r, interrupted);
	if ((ret < 0 || r.failed) && !interrupted && r.l1_started && r.plan)
		collect_l1_disk_logs(&r);	/* journal, cloud-init (libguestfs, read-only) */
	r.teardown_deadline_ms = 0;
	if (ret == 0)
		tap_end(&r.tap, NULL);
	write_results(&r, scn->name);
	if (r.peer_open)
		peer_release(&r.peer);
	loop_release(&r.loop);
	runstate_remove(&r.state);	/* everything is stopped: the private directory and libvirt root go */
	plan_free(r.plan);
	nl_error_release(&r.save_err);
	tap_release(&r.tap);
	run_logf(&r, "run directory %s", opts->run_dir);
	if (r.log)
		fclose(r.log);
	if (tap_out != tee.a)
		fclose(tap_out);	/* flushes and closes result.tap (tee_close) */
	else if (tee.b)
		fclose(tee.b);
	if (ret == -2)
		return -2;
	if (ret < 0) {
		if (interrupted && (*err)->errnum != EINTR) {
			nl_error_release(err);
			nl_error(err, EINTR, "interrupted; everything started was torn down");
		}
		return -1;
	}
	return r.failed ? 1 : 0;
}
