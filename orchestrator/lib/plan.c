/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan.c - resolve a scenario into a plan: every default filled, every contradiction reported
 *
 * plan_resolve() walks the scenario once per topic (L0, L1, L2, NIC, workload, checks, expectation,
 * timeouts, sources). Each step fills the plan from the scenario or from the documented default (the
 * table below and scenarios/README.md), and reports every problem it finds instead of stopping at the
 * first one, in the format of the scenario parser: "FILE:LINE:COL: error: WHAT; hint: WHAT TO DO".
 * Warnings (things that are allowed but known to go wrong on this machine) become plan->notes.
 *
 * The rules come from what was measured by hand on this machine class before nestlab existed:
 *   - assignment behind intel-iommu needs caching-mode=on (QEMU hw/vfio/pci.c refuses otherwise);
 *   - KVM with intremap=on needs kernel-irqchip=split (QEMU refuses the in-kernel irqchip);
 *   - under TCG, -cpu max offers AMD SVM+NPT, so kvm_amd loads one level down; kvm_intel cannot (no VMX);
 *   - the 6.12 guest kernel panicked with intremap=off ("timer doesn't work through Interrupt-remapped
 *     IO-APIC").
 * The printer (plan_format()) is at the end of this file.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "plan.h"
#include "fs.h"

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)
#define SEC_MS 1000ULL
#define MIN_MS (60 * SEC_MS)

/* ---- the documented defaults, in one place ------------------------------------------------------ */

/*
 * The embedded driver's root is short and outside the run directory: libvirt puts the QEMU monitor
 * socket at ROOT/lib/qemu/domain-N-NAME/monitor.sock, and a run directory under ~/.cache makes that
 * longer than a unix socket path may be (108 bytes). It is the run's private directory (runstate.h,
 * made by mkdtemp under a 0700 base), which the plan only knows at run time: printed, it is
 * DEF_LIBVIRT_ROOT. The run links RUN/libvirt to it while it exists.
 */
#define DEF_CONNECT_FMT "qemu:///embed?root=%s"
#define DEF_LIBVIRT_ROOT "$NESTLAB_STATE/run-XXXXXX/libvirt"
#define DEF_L1_MEMORY (6 * GiB)
#define DEF_L1_CPUS 2
#define DEF_L2_MEMORY (512 * MiB)
#define DEF_L2_CPUS 1
#define DEF_MACHINE "q35"
#define DEF_AW_BITS 48
#define DEF_MAC "52:54:00:00:00:02"
#define DEF_L2_IMAGE "minimal"
#define DEF_FRAMES 1000
#define DEF_SIZE_MIN 60
#define DEF_SIZE_MAX 1514
#define DEF_T_BUILD (60 * MIN_MS)
#define DEF_T_L1_BOOT (60 * SEC_MS)
#define DEF_T_L2_BOOT_KVM (120 * SEC_MS)
#define DEF_T_L2_BOOT_TCG (600 * SEC_MS)
#define DEF_T_TRAFFIC (60 * SEC_MS)
#define DEF_T_CHECKS (60 * SEC_MS)
#define DEF_T_TEARDOWN (60 * SEC_MS)
#define DEF_T_TOTAL (90 * MIN_MS)
/* where the NIC sits in L1 and in L2 (pinned with addr= / <address>, so that guests can find it) */
#define NIC_GUEST_BDF "0000:00:02.0"
/* the kernel words every guest gets; intel_iommu=on is added when a vIOMMU is present */
#define KERNEL_BASE_ARGS "quiet loglevel=4 mitigations=off"

/*
 * Source versions: the Debian source index may list a version the archive no longer
 * serves (6.12.117-1 answered 404), so each is pinned with fallbacks, tried in order. QEMU must stay
 * in 10.0.x because patches/qemu is written against it; the last resort is whatever trixie lists.
 */
static const char *const qemu_debian_versions[] = { "1:10.0.13+ds-0+deb13u1", NULL };
#define QEMU_DEBIAN_SUITE "trixie"
#define QEMU_DEBIAN_PREFIX "1:10.0."
static const char *const linux_debian_versions[] = { "6.12.107-1", "6.12.38-1", NULL };

/* the 6.12 kernel's panic when intel-iommu has intremap=off (seen under TCG on this machine class) */
#define INTREMAP_PANIC "timer doesn't work through Interrupt-remapped IO-APIC"
/* QEMU's refusal of assignment behind intel-iommu without caching-mode (hw/vfio/pci.c, vtd) */
#define CACHING_MODE_REFUSAL                                                                     \
	"We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU " \
	"protection."

/* ---- names ------------------------------------------------------------------------------------- */

static const char *const check_meanings[SCN_CHECK__COUNT] = {
	[SCN_CHECK_TRAFFIC] = "frames sent each way arrive byte-exact, none lost",
	[SCN_CHECK_IOMMU_IN_USE] = "L2's IOMMU group type is DMA and the NIC's MSI-X vectors are IR-PCI-MSI",
	[SCN_CHECK_SHADOW] = "each L2 IOVA agrees at L2, L1 QEMU's shadow map, L1 vfio and L0's translation",
	[SCN_CHECK_UNMAP] = "unmapped IOVAs vanish from every level and a stale DMA is blocked",
	[SCN_CHECK_FAULTS] = "no unexpected DMAR faults at L1 or L2; counts return to baseline",
};

const char *plan_check_meaning(enum scn_check check)
{
	return check < SCN_CHECK__COUNT ? check_meanings[check] : "?";
}

const char *plan_accel_name(enum plan_accel accel)
{
	switch (accel) {
	case PLAN_ACCEL_KVM: return "kvm";
	case PLAN_ACCEL_TCG: return "tcg";
	case PLAN_ACCEL_RUNTIME: return "auto";
	}
	return "?";
}

/* the YAML names of models, drivers, stages, checks are scenario.h's (scn_*_name()); QEMU's device names: */
const char *plan_nic_model_name(enum scn_nic_model model)
{
	return model == SCN_NIC_E1000E ? "e1000e" : "igb";
}

/* ---- problem reporting ------------------------------------------------------------------------- */

struct resolver {
	const struct scenario *scn;
	const struct plan_env *env;
	struct plan *plan;
	struct strbuf errors;	/* one line per error */
	unsigned error_count;
};

/* loc_or() - the first location that was written */
static struct scn_loc loc_or(struct scn_loc a, struct scn_loc b)
{
	return a.line ? a : b;
}

/**
 * report() - format one problem the way the scenario parser does
 * @r:		resolver (for the file name)
 * @severity:	"error" or "warning"
 * @loc:	where the offending value was written; 0:0 prints the file name alone
 * @hint:	what to do, or NULL
 * @fmt:	what is wrong
 *
 * Return: the formatted line (caller frees).
 */
static char *report(struct resolver *r, const char *severity, struct scn_loc loc, const char *hint,
		    const char *fmt, va_list ap)
{
	cleanup_free char *what = xvasprintf(fmt, ap);
	const char *file = r->scn->path ? r->scn->path : "scenario";
	cleanup_free char *where = loc.line ? xasprintf("%s:%u:%u", file, loc.line, loc.col) : xstrdup(file);

	if (hint)
		return xasprintf("%s: %s: %s; hint: %s", where, severity, what, hint);
	return xasprintf("%s: %s: %s", where, severity, what);
}

static void fail(struct resolver *r, struct scn_loc loc, const char *hint, const char *fmt, ...)
	PRINTF_FMT(4, 5);
/* fail() - record an error; resolution goes on so that every problem is reported at once */
static void fail(struct resolver *r, struct scn_loc loc, const char *hint, const char *fmt, ...)
{
	cleanup_free char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = report(r, "error", loc, hint, fmt, ap);
	va_end(ap);
	if (r->error_count++)
		strbuf_puts(&r->errors, "\n");
	strbuf_puts(&r->errors, line);
}

static void warn(struct resolver *r, struct scn_loc loc, const char *hint, const char *fmt, ...)
	PRINTF_FMT(4, 5);
/* warn() - record a warning in plan->notes; it is printed with the plan, it does not stop anything */
static void warn(struct resolver *r, struct scn_loc loc, const char *hint, const char *fmt, ...)
{
	cleanup_free char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = report(r, "warning", loc, hint, fmt, ap);
	va_end(ap);
	strv_push(&r->plan->notes, line);
}

/* ---- small helpers ----------------------------------------------------------------------------- */

static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* set_default() - record in @mask whether value @field was left to its default */
static void set_default(uint64_t *mask, unsigned field, bool left_unset)
{
	if (left_unset)
		*mask |= PLAN_BIT(field);
}

static bool tristate(enum scn_tristate t, bool def)
{
	return t == SCN_UNSET ? def : t == SCN_TRUE;
}

/* split_path_list() - "a:b" into {"a", "b"}; NULL or "" gives NULL */
static char **split_path_list(const char *list)
{
	char **out = NULL;

	while (list && *list) {
		const char *colon = strchrnul(list, ':');

		if (colon > list) {
			cleanup_free char *dir = xstrndup(list, colon - list);

			strv_push(&out, dir);
		}
		list = *colon ? colon + 1 : colon;
	}
	return out;
}

/* valid_bdf() - "DDDD:BB:DD.F" in hex, device <= 0x1f, function <= 7 (PCI Local Bus Spec) */
static bool valid_bdf(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";
	unsigned dev, fn;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x' ? !isxdigit((unsigned char)s[i]) : s[i] != shape[i])
			return false;
	}
	if (sscanf(s + 8, "%2x.%1x", &dev, &fn) != 2)
		return false;
	return dev <= 0x1f && fn <= 7;
}

/* valid_unicast_mac() - "xx:xx:xx:xx:xx:xx" with the group bit of the first octet clear */
static bool valid_unicast_mac(const char *s)
{
	unsigned first;

	if (strlen(s) != 17)
		return false;
	for (size_t i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return sscanf(s, "%2x", &first) == 1 && !(first & 1);
}

/* sanitize_name() - keep [A-Za-z0-9._-] (libvirt domain names, file names), others become '-' */
static char *sanitize_name(const char *s)
{
	char *out = xstrdup(s);

	for (char *p = out; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			*p = '-';
	}
	return out;
}

/* has_control_char() - a kernel argument with a control character would break the command line */
static bool has_control_char(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* ---- L0 ---------------------------------------------------------------------------------------- */

/**
 * resolve_run_files() - name the files of the run directory (L0 side) and inside L1
 * @r:	resolver; plan->run_dir is set
 *
 * Socket paths must fit sun_path (108 bytes with the NUL); only checked when the run directory is real.
 */
static void resolve_run_files(struct resolver *r)
{
	struct plan *p = r->plan;
	const char *run = p->run_dir;
	char *socks[6];

	p->l1_overlay = xasprintf("%s/l1-overlay.qcow2", run);
	p->l1_seed = xasprintf("%s/l1-seed.img", run);
	p->l1_console_sock = xasprintf("%s/l1-console.sock", run);
	p->l1_console_log = xasprintf("%s/l1-console.log", run);
	p->l2_console_sock = xasprintf("%s/l2-console.sock", run);
	p->l2_console_log = xasprintf("%s/l2-console.log", run);
	p->l1_agent_sock = xasprintf("%s/agent-l1.sock", run);
	p->l1_qmp_sock = xasprintf("%s/l1-qmp.sock", run);
	p->l0_qemu_log = xasprintf("%s/l0-qemu.log", run);
	/*
	 * The NIC's wire: unix datagram sockets in the run directory, not UDP ports. A path here cannot be
	 * taken by another run (each has its own directory), where a UDP port found free by bind + close
	 * could be bound by another QEMU before this one (QEMU sets SO_REUSEADDR: both would bind, and
	 * frames would cross between runs). libvirt's embedded driver cannot hand QEMU a bound descriptor
	 * (virDomainCreateXMLWithFiles is not implemented by its QEMU driver, and <interface type='udp'>
	 * knows only ports), but a path works for both backends (docs/running.md, "Runs side by side").
	 */
	p->nic.peer_sock = xasprintf("%s/wire-peer.sock", run);
	p->nic.nic_sock = xasprintf("%s/wire-nic.sock", run);
	p->l2_serial = xstrdup("/dev/ttyS1");
	p->l2_agent_sock = xstrdup("/run/nestlab/agent-l2.sock");
	p->l2_qmp_sock = xstrdup("/run/nestlab/l2-qmp.sock");
	p->l2_qemu_log = xstrdup("/run/nestlab/l2-qemu.log");

	socks[0] = p->l1_console_sock;
	socks[1] = p->l2_console_sock;
	socks[2] = p->l1_agent_sock;
	socks[3] = p->l1_qmp_sock;
	socks[4] = p->nic.peer_sock;
	socks[5] = p->nic.nic_sock;
	for (size_t i = 0; run[0] == '/' && i < ARRAY_SIZE(socks); i++) {
		if (strlen(socks[i]) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			fail(r, (struct scn_loc){ 0, 0 }, "use a shorter run directory",
			     "the run directory is too long: %s is %zu bytes, a unix socket path allows %zu",
			     socks[i], strlen(socks[i]), sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
}

/* resolve_l0() - mode, backend and URI, QEMU binary, firmware, run directory (libvirt <emulator>) */
static void resolve_l0(struct resolver *r)
{
	const struct scn_l0 *l0 = &r->scn->l0;
	const struct plan_env *env = r->env;
	struct plan *p = r->plan;

	set_default(&p->defaulted, PLAN_F_MODE, !l0->mode);
	set_default(&p->defaulted, PLAN_F_BACKEND, !l0->backend);
	set_default(&p->defaulted, PLAN_F_CONNECT, !l0->connect);
	p->nic.mode = l0->mode == SCN_L0_LAB ? SCN_L0_LAB : SCN_L0_EMULATED;
	p->backend = l0->backend == SCN_BACKEND_QEMU ? SCN_BACKEND_QEMU : SCN_BACKEND_LIBVIRT;
	p->run_dir = xstrdup(env->run_dir ? env->run_dir : "$RUN");
	p->host_has_kvm = env->host_has_kvm;
	if (p->backend == SCN_BACKEND_LIBVIRT)
		p->connect = l0->connect ? xstrdup(l0->connect) : xasprintf(DEF_CONNECT_FMT, env->libvirt_root ? env->libvirt_root : DEF_LIBVIRT_ROOT);
	else if (l0->connect)
		fail(r, loc_or(l0->connect_loc, l0->loc), "remove l0.connect, or set l0.backend: libvirt",
		     "l0.connect is a libvirt URI, but l0.backend is qemu");
	p->qemu_binary = xstrdup(env->qemu_binary ? env->qemu_binary
				 : "$NESTLAB_CACHE/qemu/current/qemu-system-x86_64");
	p->firmware_dirs = split_path_list(env->firmware_dir);
	p->l2_qemu_binary = xstrdup(env->l2_qemu_binary ? env->l2_qemu_binary : "qemu-system-x86_64");
	p->l2_firmware_dirs = split_path_list(env->l2_firmware_dir);
	resolve_run_files(r);
}

/* ---- guests ------------------------------------------------------------------------------------ */

/**
 * resolve_viommu() - intel-iommu properties of one level, defaults: caching-mode, intremap on, aw-bits 48
 * @r:		resolver
 * @level:	"l1" or "l2", for messages
 * @in:		the scenario's values
 * @out:	resolved
 * @defaulted:	PLAN_BIT(enum plan_guest_field) set for each value left to its default
 */
static void resolve_viommu(struct resolver *r, const char *level, const struct scn_viommu *in,
			   struct plan_viommu *out, uint64_t *defaulted)
{
	set_default(defaulted, PLAN_G_VIOMMU_MODEL, !in->model);
	set_default(defaulted, PLAN_G_CACHING_MODE, !in->caching_mode);
	set_default(defaulted, PLAN_G_INTREMAP, !in->intremap);
	set_default(defaulted, PLAN_G_AW_BITS, !in->aw_bits);
	set_default(defaulted, PLAN_G_SCALABLE_MODE, !in->scalable_mode);
	out->present = in->model != SCN_VIOMMU_NONE;
	out->caching_mode = tristate(in->caching_mode, true);
	out->intremap = tristate(in->intremap, true);
	out->scalable_mode = tristate(in->scalable_mode, false);
	out->aw_bits = in->aw_bits ? in->aw_bits : DEF_AW_BITS;
	out->drop_map_notify = in->drop_map_notify;
	out->query_max_entries = in->max_mappings ? in->max_mappings : PLAN_VTD_MAX_ENTRIES_DEFAULT;
	out->query_max_tables = in->max_tables ? in->max_tables : PLAN_VTD_MAX_TABLES_DEFAULT;

	if (!out->present) {
		if (in->caching_mode || in->intremap || in->aw_bits || in->scalable_mode || in->drop_map_notify ||
		    in->max_mappings || in->max_tables)
			warn(r, in->loc, "remove them, or set the model to intel",
			     "%s.viommu.model is none: its other vIOMMU keys have no effect", level);
		*out = (struct plan_viommu){ .present = false };
		return;
	}
	if (out->aw_bits != 39 && out->aw_bits != 48)
		fail(r, loc_or(in->aw_bits_loc, in->loc), "use 39 or 48",
		     "%s.viommu.aw_bits %u: intel-iommu supports 39 or 48 address bits", level, out->aw_bits);
	if (!out->intremap)
		warn(r, loc_or(in->intremap_loc, in->loc),
		     "set intremap: true unless that panic is what this scenario tests",
		     "%s.viommu.intremap is off: the 6.12 guest kernel panicked at boot on this machine with \""
		     INTREMAP_PANIC "\"", level);
	if (out->scalable_mode)
		warn(r, in->loc, NULL, "%s.viommu.scalable_mode (x-scalable-mode=on) was never tried on this "
		     "machine; only legacy mode was measured", level);
}

/**
 * resolve_guest() - one level's VM: machine, memory, cpus, vIOMMU, kernel command line
 * @r:		resolver
 * @level:	"l1" or "l2"
 * @in:		the scenario's values
 * @out:	resolved
 *
 * The accelerator is decided by the callers (the rule differs per level).
 */
static void resolve_guest(struct resolver *r, const char *level, const struct scn_guest *in,
			  struct plan_guest *out)
{
	bool l1 = !strcmp(level, "l1");
	struct strbuf cmdline = STRBUF_INIT;
	uint64_t defaulted = 0;

	out->machine = xstrdup(in->machine ? in->machine : DEF_MACHINE);
	out->memory_bytes = in->memory_bytes ? in->memory_bytes : l1 ? DEF_L1_MEMORY : DEF_L2_MEMORY;
	out->cpus = in->cpus ? in->cpus : l1 ? DEF_L1_CPUS : DEF_L2_CPUS;
	out->accel_requested = in->accel ? in->accel : SCN_ACCEL_AUTO;
	resolve_viommu(r, level, &in->viommu, &out->viommu, &defaulted);
	set_default(&defaulted, PLAN_G_MACHINE, !in->machine);
	set_default(&defaulted, PLAN_G_MEMORY, !in->memory_bytes);
	set_default(&defaulted, PLAN_G_CPUS, !in->cpus);
	set_default(&defaulted, PLAN_G_ACCEL, !in->accel);
	set_default(&defaulted, PLAN_G_IMAGE, !in->image);
	out->defaulted = (uint32_t)defaulted;

	if (out->memory_bytes % MiB)
		fail(r, loc_or(in->memory_loc, in->loc), "write it in M or G",
		     "%s.memory is %llu bytes, not a whole number of MiB", level,
		     (unsigned long long)out->memory_bytes);
	if (out->viommu.present && strncmp(out->machine, "q35", 3) && strncmp(out->machine, "pc-q35", 6))
		fail(r, in->loc, "use machine q35 (or a versioned pc-q35-*), or viommu model none",
		     "%s.machine %s: intel-iommu needs a q35 machine", level, out->machine);

	strbuf_puts(&cmdline, "console=ttyS0");
	if (out->viommu.present)
		strbuf_puts(&cmdline, " intel_iommu=on");
	if (l1)
		strbuf_printf(&cmdline, " root=%s rw", r->env->l1_root ? r->env->l1_root : "/dev/vda");
	strbuf_puts(&cmdline, " " KERNEL_BASE_ARGS);
	/*
	 * L2 under KVM in an L1 that TCG runs: with kvmclock, 4 of 7 runs stalled in the igb probe
	 * (rcu_sched self-detected stall); with no-kvmclock 5 of 5 passed (docs/patches.md). Harmless under TCG.
	 */
	if (!l1)
		strbuf_puts(&cmdline, " no-kvmclock");
	for (size_t i = 0; in->kernel_args && in->kernel_args[i]; i++) {
		if (has_control_char(in->kernel_args[i]))
			fail(r, in->loc, "remove control characters (newlines, tabs) from the argument",
			     "%s.kernel_args[%zu] contains a control character", level, i);
		strbuf_printf(&cmdline, " %s", in->kernel_args[i]);
	}
	out->cmdline = strbuf_detach(&cmdline);
}

/**
 * resolve_l1() - L1 as L0 runs it; accel auto is kvm when L0 has /dev/kvm, else tcg with -cpu max
 * @r:	resolver
 */
static void resolve_l1(struct resolver *r)
{
	const struct scn_guest *in = &r->scn->l1;
	const struct plan_env *env = r->env;
	struct plan *p = r->plan;
	struct plan_guest *l1 = &p->l1;

	resolve_guest(r, "l1", in, l1);
	switch (l1->accel_requested) {
	case SCN_ACCEL_KVM:
		l1->accel = PLAN_ACCEL_KVM;
		if (!env->host_has_kvm)
			fail(r, loc_or(in->accel_loc, in->loc), "use accel auto or tcg",
			     "l1.accel is kvm, but this host has no usable /dev/kvm");
		break;
	case SCN_ACCEL_TCG:
		l1->accel = PLAN_ACCEL_TCG;
		break;
	default:
		l1->accel = env->host_has_kvm ? PLAN_ACCEL_KVM : PLAN_ACCEL_TCG;
	}
	l1->kernel = xstrdup(env->l1_kernel ? env->l1_kernel : "$NESTLAB_CACHE/linux/current/bzImage");
	l1->image = xstrdup(env->l1_image ? env->l1_image : "$NESTLAB_CACHE/images/current/l1.img");
	l1->image_source = xstrdup_or_null(in->image);

	/* what libvirt 9.0's <iommu><driver> cannot say, and what L0's QEMU has nothing to apply to */
	if (l1->viommu.scalable_mode && p->backend == SCN_BACKEND_LIBVIRT)
		fail(r, in->viommu.loc, "set l0.backend: qemu",
		     "l1.viommu.scalable_mode: libvirt 9.0's <iommu><driver> has no scalable-mode attribute");
	if (l1->viommu.drop_map_notify && p->nic.mode == SCN_L0_EMULATED)
		fail(r, loc_or(in->viommu.drop_map_notify_loc, in->viommu.loc),
		     "set x_drop_map_notify on l2.viommu, where L1's QEMU shadows L2's mappings",
		     "l1.viommu.x_drop_map_notify: in emulated mode L0's QEMU assigns no device, so it sends "
		     "no MAP notifications to drop");
	else if (l1->viommu.drop_map_notify && p->backend == SCN_BACKEND_LIBVIRT)
		fail(r, loc_or(in->viommu.drop_map_notify_loc, in->viommu.loc), "set l0.backend: qemu",
		     "l1.viommu.x_drop_map_notify: libvirt 9.0's <iommu> cannot pass x-drop-map-notify");
}

/**
 * resolve_l2() - L2 as L1's QEMU runs it; accel auto is decided in L1 at run time
 * @r:	resolver
 *
 * auto: kvm if `modprobe kvm_amd` (or kvm_intel) gives L1 a /dev/kvm, else tcg. The plan keeps both
 * argv variants. L2 must fit inside L1: less memory, no more vCPUs.
 */
static void resolve_l2(struct resolver *r)
{
	const struct scenario *scn = r->scn;
	const struct plan_env *env = r->env;
	struct plan *p = r->plan;
	struct plan_guest *l2 = &p->l2;

	resolve_guest(r, "l2", &scn->l2, l2);
	l2->accel = l2->accel_requested == SCN_ACCEL_KVM   ? PLAN_ACCEL_KVM
		    : l2->accel_requested == SCN_ACCEL_TCG ? PLAN_ACCEL_TCG
							   : PLAN_ACCEL_RUNTIME;
	l2->kernel = xstrdup(env->l2_kernel ? env->l2_kernel : "/boot/l2/vmlinuz");

	if (l2->memory_bytes >= p->l1.memory_bytes)
		fail(r, loc_or(scn->l2.memory_loc, scn->l1.memory_loc),
		     "give L1 more memory than L2 (L1 also runs L2's QEMU), e.g. l2.memory 512M",
		     "l2.memory (%llu MiB) is not less than l1.memory (%llu MiB)",
		     (unsigned long long)(l2->memory_bytes / MiB), (unsigned long long)(p->l1.memory_bytes / MiB));
	if (l2->cpus > p->l1.cpus)
		fail(r, loc_or(scn->l2.cpus_loc, scn->l1.cpus_loc), "lower l2.cpus or raise l1.cpus",
		     "l2.cpus (%u) is more than l1.cpus (%u)", l2->cpus, p->l1.cpus);
}

/* ---- NIC --------------------------------------------------------------------------------------- */

/**
 * resolve_host_nic() - lab mode: the host PCI address, "$VAR" or "${VAR}" looked up in the environment
 * @r:	resolver
 */
static void resolve_host_nic(struct resolver *r)
{
	const struct scn_nic *in = &r->scn->nic;
	struct plan_nic *nic = &r->plan->nic;
	struct scn_loc loc = loc_or(in->host_loc, in->loc);
	const char *value = in->host;

	if (!value) {
		fail(r, loc_or(in->loc, r->scn->l0.mode_loc),
		     "set nic.host to the host NIC's PCI address, e.g. \"$NESTLAB_HOST_NIC\" or 0000:03:00.0",
		     "l0.mode is lab, but nic.host is not set");
		return;
	}
	if (value[0] == '$') {
		bool braced = value[1] == '{';
		size_t len = strlen(value);

		if (braced && value[len - 1] != '}') {
			fail(r, loc, "write $VAR or ${VAR}", "nic.host %s: unterminated ${", value);
			return;
		}
		nic->host_bdf_var = braced ? xstrndup(value + 2, len - 3) : xstrdup(value + 1);
		value = r->env->getenv ? r->env->getenv(nic->host_bdf_var) : NULL;
		if ((!value || !*value) && r->env->env_placeholders) {
			cleanup_free char *hint = xasprintf(
				"export %s=DDDD:BB:DD.F before 'nestlab run' (see lspci -D)", nic->host_bdf_var);

			warn(r, loc, hint, "nic.host names $%s, which is not set: shown as a placeholder",
			     nic->host_bdf_var);
			nic->host_bdf = xasprintf("$%s", nic->host_bdf_var);
			return;
		}
		if (!value || !*value) {
			cleanup_free char *hint = xasprintf(
				"export %s=DDDD:BB:DD.F (the host NIC's PCI address, see lspci -D)", nic->host_bdf_var);

			fail(r, loc, hint, "nic.host names $%s, which is not set in the environment",
			     nic->host_bdf_var);
			return;
		}
	}
	nic->host_bdf = xstrdup(value);
	if (!valid_bdf(value)) {
		cleanup_free char *from = nic->host_bdf_var ? xasprintf(" (from $%s)", nic->host_bdf_var)
							    : xstrdup("");

		fail(r, loc, "write the full address as lspci -D shows it, e.g. 0000:03:00.0",
		     "nic.host %s%s is not a PCI address DDDD:BB:DD.F", value, from);
	}
}

/* resolve_nic() - model and MAC (emulated) or host address (lab); where L1 and L2 see it */
static void resolve_nic(struct resolver *r)
{
	const struct scn_nic *in = &r->scn->nic;
	struct plan_nic *nic = &r->plan->nic;

	set_default(&r->plan->defaulted, PLAN_F_NIC_MODEL, !in->model);
	set_default(&r->plan->defaulted, PLAN_F_MAC, !in->mac);
	set_default(&r->plan->defaulted, PLAN_F_L2_ASSIGN, !in->l2_assign);
	nic->model = in->model ? in->model : SCN_NIC_IGB;
	nic->l2_assign = in->l2_assign == SCN_ASSIGN_NONE ? SCN_ASSIGN_NONE : SCN_ASSIGN_VFIO_PCI;
	nic->l1_bdf = xstrdup(NIC_GUEST_BDF);
	nic->l2_bdf = nic->l2_assign == SCN_ASSIGN_VFIO_PCI ? xstrdup(NIC_GUEST_BDF) : NULL;
	nic->mac = xstrdup(in->mac ? in->mac : DEF_MAC);
	if (!valid_unicast_mac(nic->mac))
		fail(r, loc_or(in->mac_loc, in->loc), "use a unicast address such as 52:54:00:00:00:02",
		     "nic.mac %s is not a unicast MAC address xx:xx:xx:xx:xx:xx", nic->mac);

	if (nic->mode == SCN_L0_LAB) {
		resolve_host_nic(r);
		if (in->model)
			warn(r, loc_or(in->model_loc, in->loc), "remove nic.model",
			     "nic.model has no effect in lab mode: the host NIC is what it is");
	} else if (in->host) {
		warn(r, loc_or(in->host_loc, in->loc), "remove nic.host, or set l0.mode: lab",
		     "nic.host has no effect in emulated mode");
	}
}

/* ---- workload ---------------------------------------------------------------------------------- */

/**
 * resolve_workload() - driver, L2 image and traffic
 * @r:	resolver
 *
 * driver dpdk needs the dpdk L2 image: an unset l2.image resolves to it (with a note), another one
 * is an error. User-space drivers bind the NIC to vfio-pci inside L2, which needs L2's vIOMMU.
 */
static void resolve_workload(struct resolver *r)
{
	const struct scenario *scn = r->scn;
	const struct scn_traffic *t = &scn->workload.traffic;
	struct plan *p = r->plan;
	const char *image = scn->l2.image;

	set_default(&p->defaulted, PLAN_F_DRIVER, !scn->workload.driver);
	set_default(&p->defaulted, PLAN_F_FRAMES, !t->frames);
	set_default(&p->defaulted, PLAN_F_SIZES, !t->size_min && !t->size_max);
	set_default(&p->defaulted, PLAN_F_DIRECTION, !t->direction);
	set_default(&p->defaulted, PLAN_F_PAYLOAD, !t->payload);
	p->driver = scn->workload.driver ? scn->workload.driver : SCN_DRIVER_KERNEL;
	if (p->driver == SCN_DRIVER_DPDK && !image) {
		image = "dpdk";
		warn(r, scn->workload.driver_loc, NULL, "l2.image resolved to dpdk because workload.driver is dpdk");
	} else if (p->driver == SCN_DRIVER_DPDK && strcmp(image, "dpdk")) {
		fail(r, loc_or(scn->l2.image_loc, scn->l2.loc), "set l2.image: dpdk, or remove it",
		     "workload.driver dpdk needs l2.image dpdk, not %s", image);
	}
	if (!image)
		image = DEF_L2_IMAGE;
	if (strcmp(image, "minimal") && strcmp(image, "dpdk"))
		fail(r, loc_or(scn->l2.image_loc, scn->l2.loc), "use minimal or dpdk",
		     "l2.image %s is not an L2 image nestlab builds", image);
	p->l2.image = xstrdup(image);
	if (!strcmp(image, "dpdk"))
		p->l2.initrd = xstrdup(r->env->l2_initrd_dpdk ? r->env->l2_initrd_dpdk : "/boot/l2/dpdk.cpio.gz");
	else
		p->l2.initrd = xstrdup(r->env->l2_initrd ? r->env->l2_initrd : "/boot/l2/minimal.cpio.gz");

	if (p->driver != SCN_DRIVER_KERNEL && p->nic.l2_assign == SCN_ASSIGN_NONE)
		fail(r, loc_or(scn->workload.driver_loc, scn->workload.loc),
		     "set nic.l2_assign: vfio-pci, or workload.driver: kernel",
		     "workload.driver %s runs in L2, but nic.l2_assign is none (L1 keeps the NIC)",
		     scn_driver_name(p->driver));

	p->traffic.frames = t->frames ? t->frames : DEF_FRAMES;
	p->traffic.size_min = t->size_min ? t->size_min : DEF_SIZE_MIN;
	p->traffic.size_max = t->size_max ? t->size_max : DEF_SIZE_MAX;
	p->traffic.direction = t->direction ? t->direction : SCN_DIR_BOTH;
	p->traffic.payload = t->payload ? t->payload : SCN_PAYLOAD_RANDOM;
	p->traffic.seed_set = t->seed_set;
	p->traffic.seed = t->seed;
	if (p->traffic.size_min < DEF_SIZE_MIN || p->traffic.size_max > DEF_SIZE_MAX ||
	    p->traffic.size_min > p->traffic.size_max)
		fail(r, loc_or(t->sizes_loc, t->loc),
		     "frames are Ethernet frames without FCS: 60 <= min <= max <= 1514",
		     "workload.traffic.sizes %u..%u is not a valid range", p->traffic.size_min, p->traffic.size_max);
}

/* ---- checks and expectation -------------------------------------------------------------------- */

/* check_needs_l2_iommu() - checks that look at L2's vIOMMU and the shadow tables L1 keeps for it */
static bool check_needs_l2_iommu(enum scn_check check)
{
	return check == SCN_CHECK_IOMMU_IN_USE || check == SCN_CHECK_SHADOW || check == SCN_CHECK_UNMAP;
}

/**
 * resolve_checks() - the checks that run, in order; default: all that apply
 * @r:	resolver
 *
 * iommu_in_use, shadow and unmap need an intel-iommu in L2 with the NIC assigned to L2. Left to the
 * default, they are dropped (and the plan says why); asked for explicitly, that is an error.
 */
static void resolve_checks(struct resolver *r)
{
	const struct scenario *scn = r->scn;
	struct plan *p = r->plan;
	const char *why = !p->l2.viommu.present			? "l2.viommu.model is none"
			  : p->nic.l2_assign == SCN_ASSIGN_NONE ? "nic.l2_assign is none"
								: NULL;
	struct strbuf dropped = STRBUF_INIT;

	set_default(&p->defaulted, PLAN_F_CHECKS, !scn->checks_set);
	for (int c = 0; c < SCN_CHECK__COUNT; c++) {
		p->checks[c] = scn->checks_set ? scn->checks[c] : true;
		if (!why || !check_needs_l2_iommu(c) || !p->checks[c])
			continue;
		if (scn->checks_set && scn->expect.outcome != SCN_EXPECT_REFUSAL) {
			cleanup_free char *hint = xasprintf("remove %s from checks, or give L2 an intel vIOMMU "
							    "and the NIC through vfio-pci", scn_check_name(c));

			fail(r, loc_or(scn->checks_loc, scn->l2.loc), hint,
			     "check %s needs L2's vIOMMU and the NIC assigned to L2, but %s", scn_check_name(c), why);
		} else if (!scn->checks_set) {
			p->checks[c] = false;
			strbuf_printf(&dropped, "%s%s", dropped.len ? ", " : "", scn_check_name(c));
		}
	}
	if (dropped.len) {
		strbuf_printf(&dropped, " left out: %s", why);
		p->checks_dropped = strbuf_detach(&dropped);
	}
}

struct refusal {
	enum scn_stage stage;
	const char *message;	/* what the refusal says, or NULL when not known exactly */
	char *reason;		/* why (allocated) */
	struct scn_loc loc;	/* the value that causes it */
	const char *fix;	/* how to make the configuration pass */
};

/**
 * predict_refusal() - the first stage at which this configuration is refused, if any
 * @r:		resolver; levels and NIC resolved
 * @out:	filled when refused (out->reason allocated)
 *
 * Return: true when some level refuses. The rules, in stage order:
 *   l1-start: a host NIC (lab) behind L0's intel-iommu without caching-mode (QEMU refuses);
 *   l2-start: the NIC to L2 through vfio-pci, but L1 has no vIOMMU (vfio in L1 has no IOMMU group);
 *   l2-start: the NIC to L2 through vfio-pci behind L2's intel-iommu without caching-mode (QEMU refuses);
 *   l2-boot:  a user-space driver in L2 (vfio) without L2's vIOMMU (no IOMMU group in L2).
 */
static bool predict_refusal(struct resolver *r, struct refusal *out)
{
	const struct scenario *scn = r->scn;
	const struct plan *p = r->plan;
	bool assign = p->nic.l2_assign == SCN_ASSIGN_VFIO_PCI;

	if (p->nic.mode == SCN_L0_LAB && p->l1.viommu.present && !p->l1.viommu.caching_mode)
		*out = (struct refusal){ SCN_STAGE_L1_START, CACHING_MODE_REFUSAL,
			xstrdup("the host NIC is assigned to L1 behind L0's intel-iommu without caching-mode"),
			loc_or(scn->l1.viommu.caching_mode_loc, scn->l1.viommu.loc),
			"set l1.viommu.caching_mode: true" };
	else if (assign && !p->l1.viommu.present)
		*out = (struct refusal){ SCN_STAGE_L2_START, "iommu_group",
			xstrdup("L1 has no vIOMMU, so vfio-pci in L1 finds no IOMMU group for the NIC"),
			loc_or(scn->l1.viommu.loc, scn->l1.loc), "set l1.viommu.model: intel" };
	else if (assign && p->l2.viommu.present && !p->l2.viommu.caching_mode)
		*out = (struct refusal){ SCN_STAGE_L2_START, CACHING_MODE_REFUSAL,
			xstrdup("the NIC is assigned to L2 through vfio-pci behind L2's intel-iommu without "
				"caching-mode, which L1's QEMU refuses"),
			loc_or(scn->l2.viommu.caching_mode_loc, scn->l2.viommu.loc),
			"set l2.viommu.caching_mode: true" };
	else if (assign && !p->l2.viommu.present && p->driver != SCN_DRIVER_KERNEL)
		*out = (struct refusal){ SCN_STAGE_L2_BOOT, NULL,
			xasprintf("workload.driver %s binds the NIC to vfio-pci inside L2, which has no vIOMMU "
				  "and so no IOMMU group", scn_driver_name(p->driver)),
			loc_or(scn->l2.viommu.loc, scn->l2.loc), "set l2.viommu.model: intel, or driver kernel" };
	else
		return false;
	return true;
}

/* why_accepted() - a sentence saying why nothing refuses this configuration */
static char *why_accepted(const struct plan *p)
{
	if (p->nic.l2_assign == SCN_ASSIGN_NONE)
		return xstrdup("the NIC stays in L1 (nic.l2_assign none), so no level assigns it behind a vIOMMU");
	if (!p->l2.viommu.present)
		return xstrdup("L2 has no vIOMMU, so L1's QEMU assigns the NIC without IOMMU protection and accepts it");
	return xstrdup("L1 and L2 both have intel-iommu with caching-mode=on and the NIC reaches L2 through "
		       "vfio-pci, which QEMU accepts at every level");
}

/**
 * resolve_expect() - pass, or refusal at a stage; both checked against predict_refusal()
 * @r:	resolver
 */
static void resolve_expect(struct resolver *r)
{
	const struct scenario *scn = r->scn;
	const struct scn_expectation *in = &scn->expect;
	struct plan *p = r->plan;
	struct refusal ref = { 0 };
	bool refused = predict_refusal(r, &ref);
	cleanup_free char *reason = ref.reason;

	set_default(&p->defaulted, PLAN_F_EXPECT, !in->outcome);
	set_default(&p->defaulted, PLAN_F_EXPECT_MESSAGE, !in->message);
	p->expect = in->outcome == SCN_EXPECT_REFUSAL ? SCN_EXPECT_REFUSAL : SCN_EXPECT_PASS;
	p->expect_message = xstrdup_or_null(in->message);
	if (p->expect == SCN_EXPECT_PASS) {
		if (refused) {
			cleanup_free char *hint = xasprintf("%s, or expect refusal at %s", ref.fix, scn_stage_name(ref.stage));

			fail(r, ref.loc, hint, "expect pass, but this is refused at %s: %s%s%s%s", scn_stage_name(ref.stage),
			     reason, ref.message ? " (\"" : "", ref.message ? ref.message : "", ref.message ? "\")" : "");
		}
		if (scn->l2.viommu.drop_map_notify && !p->checks[SCN_CHECK_SHADOW])
			warn(r, scn->l2.viommu.drop_map_notify_loc, "enable the shadow check",
			     "x_drop_map_notify drops a MAP notification, but the shadow check that would see it is off");
		return;
	}

	if (scn->l2.viommu.drop_map_notify || scn->l1.viommu.drop_map_notify)
		fail(r, loc_or(scn->l2.viommu.drop_map_notify_loc, scn->l1.viommu.drop_map_notify_loc),
		     "expect pass and let the shadow check catch the dropped mapping, or remove x_drop_map_notify",
		     "x_drop_map_notify with expect refusal: the fault is injected after L2 starts, a refusal "
		     "happens before any DMA");
	if (!refused) {
		cleanup_free char *why = why_accepted(p);

		fail(r, loc_or(in->outcome_loc, in->loc),
		     "expect pass, or change the configuration so that it is refused (e.g. l2.viommu.caching_mode: false)",
		     "expect refusal, but nothing refuses this configuration: %s", why);
		return;
	}
	if (in->stage && in->stage != ref.stage)
		fail(r, loc_or(in->stage_loc, in->loc), NULL,
		     "expect refusal at %s, but it is refused at %s: %s; hint: set expect.stage: %s",
		     scn_stage_name(in->stage), scn_stage_name(ref.stage), reason, scn_stage_name(ref.stage));
	p->expect_stage = ref.stage;
	if (p->expect_message && ref.message && !strstr(ref.message, p->expect_message))
		warn(r, loc_or(in->message_loc, in->loc), "check the text, or remove expect.message",
		     "expect.message \"%s\" is not part of the refusal QEMU is known to print: \"%s\"",
		     p->expect_message, ref.message);
	if (!p->expect_message && ref.message)
		p->expect_message = xstrdup(ref.message);
	p->refusal_reason = reason;
	reason = NULL;
	if (scn->checks_set)
		warn(r, scn->checks_loc, NULL, "checks are not run when a refusal is expected");
}

/* ---- timeouts and sources ---------------------------------------------------------------------- */

/* resolve_timeouts() - per stage; L2's boot gets 600 s when it may run under TCG in TCG */
static void resolve_timeouts(struct resolver *r)
{
	const struct scn_timeouts *in = &r->scn->timeouts;
	struct plan_timeouts *t = &r->plan->timeouts;
	uint64_t *mask = &r->plan->defaulted;
	uint64_t stages;

	set_default(mask, PLAN_F_T_BUILD, !in->build_ms);
	set_default(mask, PLAN_F_T_L1_BOOT, !in->l1_boot_ms);
	set_default(mask, PLAN_F_T_L2_BOOT, !in->l2_boot_ms);
	set_default(mask, PLAN_F_T_TRAFFIC, !in->traffic_ms);
	set_default(mask, PLAN_F_T_CHECKS, !in->checks_ms);
	set_default(mask, PLAN_F_T_TEARDOWN, !in->teardown_ms);
	set_default(mask, PLAN_F_T_TOTAL, !in->total_ms);
	t->build_ms = in->build_ms ? in->build_ms : DEF_T_BUILD;
	t->l1_boot_ms = in->l1_boot_ms ? in->l1_boot_ms : DEF_T_L1_BOOT;
	t->l2_boot_kvm_ms = in->l2_boot_ms ? in->l2_boot_ms : DEF_T_L2_BOOT_KVM;
	t->l2_boot_tcg_ms = in->l2_boot_ms ? in->l2_boot_ms : DEF_T_L2_BOOT_TCG;
	t->traffic_ms = in->traffic_ms ? in->traffic_ms : DEF_T_TRAFFIC;
	t->checks_ms = in->checks_ms ? in->checks_ms : DEF_T_CHECKS;
	t->teardown_ms = in->teardown_ms ? in->teardown_ms : DEF_T_TEARDOWN;
	t->total_ms = in->total_ms ? in->total_ms : DEF_T_TOTAL;

	stages = t->build_ms + t->l1_boot_ms +
		 (r->plan->l2.accel == PLAN_ACCEL_KVM ? t->l2_boot_kvm_ms : t->l2_boot_tcg_ms) +
		 t->traffic_ms + t->checks_ms + t->teardown_ms;
	if (t->total_ms < stages)
		fail(r, in->loc, "raise timeouts.total or lower the stage timeouts",
		     "timeouts.total (%llu s) is shorter than the stages it covers (%llu s)",
		     (unsigned long long)(t->total_ms / SEC_MS), (unsigned long long)(stages / SEC_MS));
}

/**
 * resolve_source() - where QEMU or Linux comes from
 * @r:			resolver
 * @what:		"qemu" or "linux", for messages and the default patches/<what>
 * @in:			the scenario's values
 * @pinned:		Debian versions tried in order when the scenario names none
 * @suite, @prefix:	last resort for Debian (NULL = none)
 * @out:		resolved
 */
static void resolve_source(struct resolver *r, const char *what, const struct scn_source *in,
			   const char *const *pinned, const char *suite, const char *prefix, struct plan_source *out)
{
	out->kind = in->kind ? in->kind : SCN_SRC_DEBIAN;
	if (out->kind == SCN_SRC_DEBIAN && in->version) {
		strv_push(&out->versions, in->version);
	} else if (out->kind == SCN_SRC_DEBIAN) {
		for (size_t i = 0; pinned[i]; i++)
			strv_push(&out->versions, pinned[i]);
		out->suite = xstrdup_or_null(suite);
		out->version_prefix = xstrdup_or_null(prefix);
	}
	out->git = xstrdup_or_null(in->git);
	out->ref = xstrdup_or_null(in->ref);
	out->tarball = xstrdup_or_null(in->tarball);
	out->config = xstrdup_or_null(in->config);
	if (!in->patches)
		out->patches = xasprintf("patches/%s", what);
	else if (strcmp(in->patches, "none"))
		out->patches = xstrdup(in->patches);
	if (out->kind == SCN_SRC_GIT && !in->git)
		fail(r, loc_or(in->kind_loc, in->loc), "set the path of a local git tree",
		     "sources.%s is git, but no git path is given", what);
	if (out->kind == SCN_SRC_TARBALL && !in->tarball)
		fail(r, loc_or(in->kind_loc, in->loc), "set the path of the tarball",
		     "sources.%s is tarball, but no tarball path is given", what);
}

void plan_source_init_default(struct plan_source *out, const char *what)
{
	bool qemu = !strcmp(what, "qemu");
	const char *const *pinned = qemu ? qemu_debian_versions : linux_debian_versions;

	*out = (struct plan_source){ .kind = SCN_SRC_DEBIAN };
	for (size_t i = 0; pinned[i]; i++)
		strv_push(&out->versions, pinned[i]);
	out->suite = qemu ? xstrdup(QEMU_DEBIAN_SUITE) : NULL;
	out->version_prefix = qemu ? xstrdup(QEMU_DEBIAN_PREFIX) : NULL;
	out->patches = xasprintf("patches/%s", what);
}

/* ---- entry points ------------------------------------------------------------------------------ */

/* resolve_identity() - name, description, libvirt domain name, whether the plan can run as is */
static void resolve_identity(struct resolver *r)
{
	const struct scenario *scn = r->scn;
	const struct plan_env *env = r->env;
	struct plan *p = r->plan;
	cleanup_free char *safe = NULL;

	p->scenario_path = xstrdup(scn->path ? scn->path : "scenario");
	if (!scn->name)
		fail(r, (struct scn_loc){ 0, 0 }, "add name: <short-name> at the top", "the scenario has no name");
	p->name = xstrdup(scn->name ? scn->name : "unnamed");
	p->description = xstrdup_or_null(scn->description);
	safe = sanitize_name(p->name);
	p->domain_name = env->run_id ? xasprintf("nestlab-%s-%s", safe, env->run_id)
				     : xasprintf("nestlab-%s-$ID", safe);
	p->complete = env->run_dir && env->run_dir[0] == '/' && env->run_id &&
		      (!p->connect || !strstr(p->connect, DEF_LIBVIRT_ROOT));
}

int plan_resolve(const struct scenario *scn, const struct plan_env *env, struct plan **out, nl_error_t *err)
{
	struct resolver r = { .scn = scn, .env = env, .plan = xzalloc(sizeof(struct plan)) };

	resolve_l0(&r);
	resolve_identity(&r);
	resolve_l1(&r);
	resolve_l2(&r);
	resolve_nic(&r);
	resolve_workload(&r);
	resolve_checks(&r);
	resolve_expect(&r);
	resolve_timeouts(&r);
	set_default(&r.plan->defaulted, PLAN_F_QEMU_SRC, !scn->qemu.kind && !scn->qemu.version && !scn->qemu.patches);
	set_default(&r.plan->defaulted, PLAN_F_LINUX_SRC,
		    !scn->linux_src.kind && !scn->linux_src.version && !scn->linux_src.patches && !scn->linux_src.config);
	resolve_source(&r, "qemu", &scn->qemu, qemu_debian_versions, QEMU_DEBIAN_SUITE, QEMU_DEBIAN_PREFIX,
		       &r.plan->qemu_src);
	resolve_source(&r, "linux", &scn->linux_src, linux_debian_versions, NULL, NULL, &r.plan->linux_src);
	if (r.plan->nic.host_bdf && r.plan->nic.host_bdf[0] == '$')
		r.plan->complete = false;	/* an environment placeholder is left */

	if (r.error_count) {
		nl_error(err, 0, "%s", r.errors.str);
		strbuf_release(&r.errors);
		plan_free(r.plan);
		return -1;
	}
	*out = r.plan;
	return 0;
}

static void plan_guest_release(struct plan_guest *g)
{
	free(g->machine);
	free(g->kernel);
	free(g->initrd);
	free(g->cmdline);
	free(g->image);
	free(g->image_source);
}

void plan_source_release(struct plan_source *s)
{
	strv_free(s->versions);
	free(s->suite);
	free(s->version_prefix);
	free(s->git);
	free(s->ref);
	free(s->tarball);
	free(s->patches);
	free(s->config);
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	char *strings[] = {
		p->scenario_path, p->name, p->description, p->domain_name, p->connect, p->qemu_binary,
		p->run_dir, p->l1_overlay, p->l1_seed, p->l1_console_sock, p->l1_console_log, p->l2_console_sock,
		p->l2_console_log, p->l1_agent_sock, p->l1_qmp_sock, p->l0_qemu_log, p->l2_qemu_binary,
		p->l2_serial, p->l2_agent_sock, p->l2_qmp_sock, p->l2_qemu_log, p->checks_dropped,
		p->expect_message, p->refusal_reason, p->nic.host_bdf, p->nic.host_bdf_var, p->nic.mac,
		p->nic.l1_bdf, p->nic.l2_bdf, p->nic.peer_sock, p->nic.nic_sock,
	};

	for (size_t i = 0; i < ARRAY_SIZE(strings); i++)
		free(strings[i]);
	strv_free(p->firmware_dirs);
	strv_free(p->l2_firmware_dirs);
	strv_free(p->notes);
	plan_guest_release(&p->l1);
	plan_guest_release(&p->l2);
	plan_source_release(&p->qemu_src);
	plan_source_release(&p->linux_src);
	free(p);
}

void cleanup_planp(struct plan **plan)
{
	plan_free(*plan);
	*plan = NULL;
}

/* ---- the default environment ------------------------------------------------------------------- */

/* env_own() - keep @s in env->owned_ (released by plan_env_release()) and return it */
static const char *env_own(struct plan_env *env, char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(env->owned_); i++) {
		if (!env->owned_[i]) {
			env->owned_[i] = s;
			return s;
		}
	}
	abort(); /* more strings than slots: a programming error */
}

/* process_getenv() - getenv(3) with the plan_env signature */
static const char *process_getenv(const char *name)
{
	return getenv(name);
}

/*
 * cpu_has_hw_virt() - /proc/cpuinfo lists vmx or svm
 *
 * A /dev/kvm that opens is not enough: on a host that is itself a microVM, /dev/kvm can exist and run
 * a few instructions while a real kernel hangs at its first steps (seen on this project's CI machines:
 * KVM_CREATE_VM and KVM_RUN work, a Linux guest stops after "Probing EDD"). KVM without the hardware
 * extensions advertised to this kernel is not a KVM the appliance can rely on.
 */
static bool cpu_has_hw_virt(void)
{
	cleanup_file FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *tok = strtok(line, " \t\n"); tok; tok = strtok(NULL, " \t\n"))
			if (!strcmp(tok, "vmx") || !strcmp(tok, "svm"))
				return true;
		return false;
	}
	return false;
}

/* host_kvm_usable() - /dev/kvm opens read-write and the CPU advertises VT-x or AMD-V */
static bool host_kvm_usable(void)
{
	cleanup_close int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	return fd >= 0 && cpu_has_hw_virt();
}

void plan_env_init_default(struct plan_env *env, const char *run_dir)
{
	cleanup_error nl_error_t err = NULL;
	char *cache = fs_cache_dir(&err);

	*env = (struct plan_env){ 0 };
	/* without a cache root the paths print as placeholders; run, build and images stop on the error */
	env->cache_dir = env_own(env, cache ? cache : xstrdup("$NESTLAB_CACHE"));
	env->run_dir = run_dir ? env_own(env, xstrdup(run_dir)) : NULL;
	env->qemu_binary = env_own(env, xasprintf("%s/qemu/current/qemu-system-x86_64", env->cache_dir));
	env->firmware_dir = "/usr/share/seabios:/usr/share/qemu";	/* Debian seabios, qemu-system-data */
	env->l1_kernel = env_own(env, xasprintf("%s/linux/current/bzImage", env->cache_dir));
	env->l1_image = env_own(env, xasprintf("%s/images/current/l1.img", env->cache_dir));
	env->l1_root = "/dev/vda";
	env->l2_qemu_binary = "qemu-system-x86_64";
	env->l2_firmware_dir = "/usr/share/seabios:/usr/share/qemu";
	env->l2_kernel = "/boot/l2/vmlinuz";
	env->l2_initrd = "/boot/l2/minimal.cpio.gz";
	env->l2_initrd_dpdk = "/boot/l2/dpdk.cpio.gz";
	env->host_has_kvm = host_kvm_usable();
	env->getenv = process_getenv;
}

void plan_env_release(struct plan_env *env)
{
	for (size_t i = 0; i < ARRAY_SIZE(env->owned_); i++) {
		free(env->owned_[i]);
		env->owned_[i] = NULL;
	}
}

/* ---- the printer (`nestlab plan`) --------------------------------------------------------------- */

static void kv(struct strbuf *sb, const char *key, const char *fmt, ...) PRINTF_FMT(3, 4);
/* kv() - one "  key        value" line */
static void kv(struct strbuf *sb, const char *key, const char *fmt, ...)
{
	cleanup_free char *value = NULL;
	va_list ap;

	va_start(ap, fmt);
	value = xvasprintf(fmt, ap);
	va_end(ap);
	strbuf_printf(sb, "  %-11s %s\n", key, value);
}

/* dflt() - the mark the printer puts after a value that came from a default */
static const char *dflt(uint64_t mask, unsigned field)
{
	return plan_defaulted(mask, field) ? " (default)" : "";
}

/* size_str() - "6G" when a whole number of GiB, else "512M" (as written in the scenario and -m) */
static char *size_str(uint64_t bytes)
{
	if (bytes % GiB == 0)
		return xasprintf("%lluG", (unsigned long long)(bytes / GiB));
	return xasprintf("%lluM", (unsigned long long)(bytes / MiB));
}

/* duration_str() - "90m" above 10 minutes, else "600s" or "1500ms" (as the defaults are written) */
static char *duration_str(uint64_t ms)
{
	if (ms > 10 * MIN_MS && ms % MIN_MS == 0)
		return xasprintf("%llum", (unsigned long long)(ms / MIN_MS));
	if (ms % SEC_MS == 0)
		return xasprintf("%llus", (unsigned long long)(ms / SEC_MS));
	return xasprintf("%llums", (unsigned long long)ms);
}

/**
 * viommu_str() - the vIOMMU as QEMU's -device properties, or "none", and which are defaults
 * @g:	the guest (its vIOMMU and its defaulted bits)
 */
static char *viommu_str(const struct plan_guest *g)
{
	static const struct {
		unsigned field;
		const char *name;
	} props[] = {
		{ PLAN_G_VIOMMU_MODEL, "model" },	  { PLAN_G_CACHING_MODE, "caching-mode" }, { PLAN_G_INTREMAP, "intremap" },
		{ PLAN_G_AW_BITS, "aw-bits" },		  { PLAN_G_SCALABLE_MODE, "x-scalable-mode" },
	};
	const struct plan_viommu *v = &g->viommu;
	struct strbuf sb = STRBUF_INIT, names = STRBUF_INIT;
	size_t defaults = 0;

	if (!v->present)
		return xasprintf("none%s", dflt(g->defaulted, PLAN_G_VIOMMU_MODEL));
	strbuf_printf(&sb, "intel-iommu caching-mode=%s intremap=%s aw-bits=%u x-scalable-mode=%s",
		      v->caching_mode ? "on" : "off",
		      v->intremap ? "on" : "off", v->aw_bits, v->scalable_mode ? "on" : "off");
	if (v->drop_map_notify)
		strbuf_printf(&sb, " x-drop-map-notify=%u", v->drop_map_notify);
	for (size_t i = 0; i < ARRAY_SIZE(props); i++) {
		if (plan_defaulted(g->defaulted, props[i].field))
			strbuf_printf(&names, "%s%s", defaults++ ? ", " : "", props[i].name);
	}
	if (defaults == ARRAY_SIZE(props))
		strbuf_puts(&sb, " (all default)");
	else if (defaults)
		strbuf_printf(&sb, " (default: %s)", names.str);
	strbuf_printf(&sb, "; x-query-vtd-mappings max-entries=%u max-tables=%u", v->query_max_entries,
		      v->query_max_tables);
	strbuf_release(&names);
	return strbuf_detach(&sb);
}

/* format_l0() - the host: mode, backend and URI, QEMU binary, firmware path */
static void format_l0(struct strbuf *sb, const struct plan *p)
{
	cleanup_free char *firmware = NULL;
	struct strbuf fw = STRBUF_INIT;

	for (size_t i = 0; p->firmware_dirs && p->firmware_dirs[i]; i++)
		strbuf_printf(&fw, "%s-L %s", i ? " " : "", p->firmware_dirs[i]);
	firmware = fw.len ? strbuf_detach(&fw) : xstrdup("(none)");
	strbuf_puts(sb, "L0  host\n");
	if (p->nic.mode == SCN_L0_LAB) {
		kv(sb, "mode", "lab%s: this host's NIC goes to L1", dflt(p->defaulted, PLAN_F_MODE));
		kv(sb, "NIC", "host %s%s%s", p->nic.host_bdf, p->nic.host_bdf_var ? " from $" : "",
		   p->nic.host_bdf_var ? p->nic.host_bdf_var : "");
	} else {
		kv(sb, "mode", "emulated%s: L0's QEMU emulates the NIC", dflt(p->defaulted, PLAN_F_MODE));
		kv(sb, "NIC", "%s%s, mac %s%s", plan_nic_model_name(p->nic.model), dflt(p->defaulted, PLAN_F_NIC_MODEL),
		   p->nic.mac, dflt(p->defaulted, PLAN_F_MAC));
	}
	kv(sb, "", "to L2: %s%s", p->nic.l2_assign == SCN_ASSIGN_NONE ? "none, L1 keeps it" : "vfio-pci",
	   dflt(p->defaulted, PLAN_F_L2_ASSIGN));
	if (p->backend == SCN_BACKEND_LIBVIRT)
		kv(sb, "backend", "libvirt%s, %s%s", dflt(p->defaulted, PLAN_F_BACKEND), p->connect,
		   dflt(p->defaulted, PLAN_F_CONNECT));
	else
		kv(sb, "backend", "qemu: L0 runs QEMU itself, QMP %s", p->l1_qmp_sock);
	kv(sb, "QEMU", "%s", p->qemu_binary);
	kv(sb, "sandbox", "-sandbox %s (%s)", PLAN_QEMU_SANDBOX,
	   p->backend == SCN_BACKEND_LIBVIRT ? "libvirt, qemu.conf seccomp_sandbox = 1" : "on the argv below");
	kv(sb, "firmware", "%s", firmware);
	kv(sb, "/dev/kvm", "%s", p->host_has_kvm ? "usable" : "not usable: L1 runs under TCG");
	kv(sb, "run dir", "%s", p->run_dir);
	strbuf_puts(sb, "\n");
}

/* accel_str() - the accelerator of a level and the rule that chose it */
static char *accel_str(const struct plan *p, bool l1)
{
	const struct plan_guest *g = l1 ? &p->l1 : &p->l2;
	const char *how = plan_defaulted(g->defaulted, PLAN_G_ACCEL) ? "auto, the default"
			  : g->accel_requested == SCN_ACCEL_AUTO   ? "auto"
								   : "set by the scenario";

	if (l1 && g->accel == PLAN_ACCEL_KVM)
		return xasprintf("kvm, -cpu host (%s: L0 has /dev/kvm)", how);
	if (l1)
		return xasprintf("tcg, -cpu max (%s%s): TCG offers AMD SVM+NPT, so kvm_amd loads in L1; "
				 "kvm_intel cannot (no VMX under TCG)", how,
				 g->accel_requested == SCN_ACCEL_AUTO ? ": no usable KVM at L0 (/dev/kvm plus vmx/svm)" : "");
	if (g->accel == PLAN_ACCEL_RUNTIME)
		return xasprintf("auto%s, decided in L1 at run time: kvm (-cpu host) if `modprobe kvm_amd` "
				 "(or kvm_intel) gives /dev/kvm, else tcg (-cpu max); both argv below",
				 dflt(g->defaulted, PLAN_G_ACCEL));
	return xasprintf("%s (%s)", plan_accel_name(g->accel), how);
}

/* format_guest() - one level: machine, size, accel, vIOMMU, kernel, image, consoles, agent */
static void format_guest(struct strbuf *sb, const struct plan *p, bool l1)
{
	const struct plan_guest *g = l1 ? &p->l1 : &p->l2;
	cleanup_free char *mem = size_str(g->memory_bytes);
	cleanup_free char *accel = accel_str(p, l1);
	cleanup_free char *viommu = viommu_str(g);

	strbuf_puts(sb, l1 ? "L1  guest of L0, run by L0's QEMU\n" : "L2  guest of L1, run by L1's QEMU\n");
	kv(sb, "machine", "%s%s", g->machine, dflt(g->defaulted, PLAN_G_MACHINE));
	kv(sb, "memory", "%s%s", mem, dflt(g->defaulted, PLAN_G_MEMORY));
	kv(sb, "cpus", "%u%s", g->cpus, dflt(g->defaulted, PLAN_G_CPUS));
	kv(sb, "accel", "%s", accel);
	kv(sb, "vIOMMU", "%s", viommu);
	kv(sb, "kernel", "%s%s", g->kernel, l1 ? "" : " (in L1)");
	if (!l1)
		kv(sb, "initrd", "%s (in L1, image %s%s)", g->initrd, g->image, dflt(g->defaulted, PLAN_G_IMAGE));
	kv(sb, "cmdline", "%s", g->cmdline);
	if (l1) {
		kv(sb, "image", "%s%s%s, per-run overlay %s", g->image, g->image_source ? " made from " : "",
		   g->image_source ? g->image_source : "", p->l1_overlay);
		kv(sb, "consoles", "ttyS0 %s (log %s)", p->l1_console_sock, p->l1_console_log);
		kv(sb, "", "ttyS1 %s (log %s), handed to L2's QEMU", p->l2_console_sock, p->l2_console_log);
		kv(sb, "agent", "virtio-serial " PLAN_AGENT_PORT " at %s", p->l1_agent_sock);
	} else {
		kv(sb, "consoles", "ttyS0 -> L1 %s -> L0 %s", p->l2_serial, p->l2_console_sock);
		kv(sb, "agent", "virtio-serial " PLAN_AGENT_PORT " at %s (in L1)", p->l2_agent_sock);
		kv(sb, "monitor", "QMP %s, log %s (in L1)", p->l2_qmp_sock, p->l2_qemu_log);
	}
	strbuf_puts(sb, "\n");
}

/* driver_str() - what drives the NIC at the end of the path */
static char *driver_str(const struct plan *p)
{
	const char *where = p->nic.l2_assign == SCN_ASSIGN_NONE ? "L1" : "L2";
	const char *model = p->nic.mode == SCN_L0_LAB ? "the host NIC's" : plan_nic_model_name(p->nic.model);

	switch (p->driver) {
	case SCN_DRIVER_DPDK: return xasprintf("DPDK (vfio-pci PMD) in %s", where);
	case SCN_DRIVER_VFIO_USER: return xasprintf("user-space vfio driver in %s", where);
	default: return xasprintf("%s driver in %s", model, where);
	}
}

/* format_device_path() - the NIC from L0 to the driver that uses it, one arrow per hop */
static void format_device_path(struct strbuf *sb, const struct plan *p)
{
	cleanup_free char *driver = driver_str(p);
	cleanup_free char *l0_iommu = p->l1.viommu.present ? xstrdup("behind intel-iommu (L0)")
							   : xstrdup("with no vIOMMU (L0)");

	strbuf_puts(sb, "Device path\n  ");
	if (p->nic.mode == SCN_L0_LAB)
		strbuf_printf(sb, "host %s on vfio-pci (L0 kernel, host IOMMU)\n  -> %s", p->nic.host_bdf,
			      p->backend == SCN_BACKEND_LIBVIRT ? "libvirt <hostdev> (vfio-pci in L0's QEMU)"
								: "L0 QEMU vfio-pci");
	else
		strbuf_printf(sb, "L0 QEMU %s (netdev dgram, unix %s <-> peer %s)",
			      plan_nic_model_name(p->nic.model), p->nic.nic_sock, p->nic.peer_sock);
	strbuf_printf(sb, "\n  -> L1 %s %s", p->nic.l1_bdf, l0_iommu);
	if (p->nic.l2_assign == SCN_ASSIGN_VFIO_PCI) {
		strbuf_printf(sb, "\n  -> vfio-pci in L1\n  -> L2 QEMU vfio-pci host=%s %s\n  -> L2 %s",
			      p->nic.l1_bdf, p->l2.viommu.present ? "behind intel-iommu (L1)" : "with no vIOMMU (L1)",
			      p->nic.l2_bdf);
	}
	strbuf_printf(sb, "\n  -> %s\n\n", driver);
}

/* format_commands() - the L1 domain XML or L0 argv, then L2's argv in each variant the plan allows */
static void format_commands(struct strbuf *sb, const struct plan *p)
{
	if (p->backend == SCN_BACKEND_LIBVIRT) {
		cleanup_free char *xml = plan_l1_domain_xml(p);

		strbuf_printf(sb, "L1 domain XML (libvirt, %s)\n", p->connect);
		strbuf_puts(sb, xml);
	} else {
		cleanup_strv char **argv = plan_l0_qemu_argv(p);

		strbuf_puts(sb, "L0 QEMU argv (runs L1)\n");
		plan_format_argv(sb, argv, "");
	}
	for (int kvm = 1; kvm >= 0; kvm--) {
		cleanup_strv char **argv = NULL;

		if ((kvm && p->l2.accel == PLAN_ACCEL_TCG) || (!kvm && p->l2.accel == PLAN_ACCEL_KVM))
			continue;
		argv = plan_l2_qemu_argv(p, kvm);
		if (kvm)
			strbuf_puts(sb, "\nL2 QEMU argv, KVM (run in L1 once kvm_amd or kvm_intel gives /dev/kvm)\n");
		else if (p->l2.accel == PLAN_ACCEL_RUNTIME)
			strbuf_puts(sb, "\nL2 QEMU argv, TCG fallback (run in L1 when L1 has no /dev/kvm)\n");
		else
			strbuf_puts(sb, "\nL2 QEMU argv, TCG (run in L1)\n");
		plan_format_argv(sb, argv, "");
	}
	strbuf_puts(sb, "\n");
}

/* format_workload() - driver and traffic */
static void format_workload(struct strbuf *sb, const struct plan *p)
{
	const struct plan_traffic *t = &p->traffic;
	cleanup_free char *driver = driver_str(p);
	cleanup_free char *seed = t->seed_set ? xasprintf("%llu", (unsigned long long)t->seed)
					      : xstrdup("chosen at run time (recorded in the run directory)");

	strbuf_puts(sb, "Workload\n");
	kv(sb, "driver", "%s%s: %s", scn_driver_name(p->driver), dflt(p->defaulted, PLAN_F_DRIVER), driver);
	kv(sb, "frames", "%u per direction%s", t->frames, dflt(p->defaulted, PLAN_F_FRAMES));
	kv(sb, "sizes", "%u..%u bytes without FCS%s", t->size_min, t->size_max, dflt(p->defaulted, PLAN_F_SIZES));
	kv(sb, "direction", "%s%s", scn_direction_name(t->direction), dflt(p->defaulted, PLAN_F_DIRECTION));
	kv(sb, "payload", "%s%s", scn_payload_name(t->payload), dflt(p->defaulted, PLAN_F_PAYLOAD));
	kv(sb, "seed", "%s", seed);
	strbuf_puts(sb, "\n");
}

/* format_checks() - each check with its one-line meaning, and the expectation */
static void format_checks(struct strbuf *sb, const struct plan *p)
{
	strbuf_printf(sb, "Checks%s\n", plan_defaulted(p->defaulted, PLAN_F_CHECKS) ? " (default: all that apply)" : "");
	if (p->expect == SCN_EXPECT_REFUSAL)
		strbuf_printf(sb, "  (not run: a refusal is expected at %s)\n", scn_stage_name(p->expect_stage));
	for (int c = 0; c < SCN_CHECK__COUNT; c++) {
		if (p->checks[c])
			strbuf_printf(sb, "  %-13s %s\n", scn_check_name(c), check_meanings[c]);
	}
	if (p->checks_dropped)
		strbuf_printf(sb, "  (%s)\n", p->checks_dropped);
	strbuf_puts(sb, "\nExpectation\n");
	if (p->expect == SCN_EXPECT_PASS) {
		strbuf_printf(sb, "  pass%s: every stage starts and every check above holds\n\n",
			      dflt(p->defaulted, PLAN_F_EXPECT));
		return;
	}
	strbuf_printf(sb, "  refusal at %s: %s\n", scn_stage_name(p->expect_stage), p->refusal_reason);
	if (p->expect_message)
		strbuf_printf(sb, "  the refusal must contain \"%s\"%s\n", p->expect_message,
			      plan_defaulted(p->defaulted, PLAN_F_EXPECT_MESSAGE) ? " (QEMU's message, the default)" : "");
	strbuf_puts(sb, "\n");
}

/* format_timeouts() - every stage's deadline */
static void format_timeouts(struct strbuf *sb, const struct plan *p)
{
	const struct plan_timeouts *t = &p->timeouts;
	struct {
		const char *name;
		uint64_t ms;
		unsigned field;
	} rows[] = {
		{ "build", t->build_ms, PLAN_F_T_BUILD },
		{ "l1_boot", t->l1_boot_ms, PLAN_F_T_L1_BOOT },
		{ "l2_boot", p->l2.accel == PLAN_ACCEL_TCG ? t->l2_boot_tcg_ms : t->l2_boot_kvm_ms, PLAN_F_T_L2_BOOT },
		{ "traffic", t->traffic_ms, PLAN_F_T_TRAFFIC },
		{ "checks", t->checks_ms, PLAN_F_T_CHECKS },
		{ "teardown", t->teardown_ms, PLAN_F_T_TEARDOWN },
		{ "total", t->total_ms, PLAN_F_T_TOTAL },
	};

	strbuf_puts(sb, "Timeouts\n");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *d = duration_str(rows[i].ms);
		cleanup_free char *tcg = duration_str(t->l2_boot_tcg_ms);
		bool fallback = rows[i].field == PLAN_F_T_L2_BOOT && p->l2.accel == PLAN_ACCEL_RUNTIME &&
				t->l2_boot_tcg_ms != t->l2_boot_kvm_ms;

		if (fallback)
			kv(sb, rows[i].name, "%s (%s when L2 falls back to TCG)%s", d, tcg, dflt(p->defaulted, rows[i].field));
		else
			kv(sb, rows[i].name, "%s%s", d, dflt(p->defaulted, rows[i].field));
	}
	strbuf_puts(sb, "\n");
}

/* format_source() - one source line: debian versions in order, git, or tarball; then patches */
static void format_source(struct strbuf *sb, const char *what, const struct plan_source *s, bool defaulted)
{
	struct strbuf line = STRBUF_INIT;

	if (s->kind == SCN_SRC_GIT) {
		strbuf_printf(&line, "git %s%s%s", s->git, s->ref ? " at " : "", s->ref ? s->ref : "");
	} else if (s->kind == SCN_SRC_TARBALL) {
		strbuf_printf(&line, "tarball %s", s->tarball);
	} else {
		strbuf_printf(&line, "debian source %s", what);
		for (size_t i = 0; s->versions && s->versions[i]; i++)
			strbuf_printf(&line, "%s%s", i ? ", then " : " ", s->versions[i]);
		if (s->suite)
			strbuf_printf(&line, ", then what %s lists (%s*)", s->suite, s->version_prefix);
	}
	strbuf_printf(&line, "; patches %s", s->patches ? s->patches : "none");
	if (s->config)
		strbuf_printf(&line, "; config %s", s->config);
	kv(sb, what, "%s%s", line.str, defaulted ? " (default)" : "");
	strbuf_release(&line);
}

char *plan_format(const struct plan *p)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_printf(&sb, "Plan %s (%s)%s\n", p->name, p->scenario_path,
		      p->complete ? "" : ", placeholders ($RUN, $ID, $NESTLAB_STATE) are filled at run time");
	for (const char *line = p->description; line && *line;) {
		size_t len = strcspn(line, "\n");

		strbuf_puts(&sb, "  ");
		strbuf_add(&sb, line, len);
		strbuf_puts(&sb, "\n");
		line += len + (line[len] == '\n');
	}
	strbuf_puts(&sb, "\n");
	format_l0(&sb, p);
	format_guest(&sb, p, true);
	format_guest(&sb, p, false);
	format_device_path(&sb, p);
	format_commands(&sb, p);
	format_workload(&sb, p);
	format_checks(&sb, p);
	format_timeouts(&sb, p);
	strbuf_puts(&sb, "Sources\n");
	format_source(&sb, "qemu", &p->qemu_src, plan_defaulted(p->defaulted, PLAN_F_QEMU_SRC));
	format_source(&sb, "linux", &p->linux_src, plan_defaulted(p->defaulted, PLAN_F_LINUX_SRC));
	if (p->notes) {
		strbuf_puts(&sb, "\nNotes\n");
		for (size_t i = 0; p->notes[i]; i++)
			strbuf_printf(&sb, "  %s\n", p->notes[i]);
	}
	return strbuf_detach(&sb);
}

void plan_print(const struct plan *plan, FILE *out)
{
	cleanup_free char *text = plan_format(plan);

	fputs(text, out);
}
