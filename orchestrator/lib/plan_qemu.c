/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan_qemu.c - QEMU command lines from a plan: L2 (run by L1's QEMU) and L1 (run by L0, backend qemu)
 *
 * The shape is the one that worked by hand on this machine class, with the per-run files of the plan instead of fixed paths:
 *   - `-device intel-iommu,...` is the first device, before anything that does DMA through it
 *     (QEMU docs/devel "VT-d": the IOMMU must exist when PCI devices are realized);
 *   - KVM plus intremap=on needs `-M q35,kernel-irqchip=split`: QEMU refuses "Interrupt Remapping
 *     cannot work with kernel-irqchip=on, please use 'split|off'." TCG needs no irqchip option;
 *   - `-accel kvm -cpu host`, or `-accel tcg -cpu max` (AMD SVM+NPT, so kvm_amd loads one level down);
 *   - `-nodefaults -no-user-config -display none`: nothing QEMU would add by itself;
 *   - `-sandbox PLAN_QEMU_SANDBOX`: QEMU's seccomp filter at every level (push_machine());
 *   - the NIC is pinned at 00:02.0 (bus=pcie.0,addr=0x2) so that the next level knows its BDF;
 *   - consoles and agent channels are unix sockets (`-chardev socket,...,server=on,wait=off`), the
 *     monitor is QMP (`-qmp unix:...`), trace output goes to `-D FILE`.
 * Values inside QEMU's KEY=VALUE option lists have ',' doubled (QemuOpts escaping).
 */
#include <string.h>

#include "plan.h"

/*
 * Trace events of L1's QEMU that show the shadow sync (docs/running.md). Only the rare
 * ones are on from the start: with the per-page ones (vtd_page_walk_one*, vfio_iommu_map_notify,
 * vtd_inv_desc_iotlb_pages) enabled while L2 boots, L2 under KVM in L1 (itself under TCG) stalled
 * with RCU warnings and never reached its agent. The run turns the per-page ones on with QMP
 * trace-event-set-state once L2 is up (plan_l2_runtime_trace_events).
 */
static const char *const shadow_trace_events[] = {
	"vtd_dmar_enable",
	"vtd_switch_address_space",
	"vtd_dmar_fault",
	"vfio_listener_region_add_iommu",
	"vfio_listener_region_del",
};

const char *const plan_l2_runtime_trace_events[] = {
	"vtd_inv_desc_iotlb_pages",
	"vtd_inv_desc_iotlb_domain",
	"vtd_inv_desc_iotlb_global",
	"vfio_iommu_map_notify",
	NULL,
};

/* opt_escape() - a value for a QEMU KEY=VALUE list: ',' becomes ",," (QemuOpts) */
static char *opt_escape(const char *value)
{
	struct strbuf sb = STRBUF_INIT;

	for (const char *p = value; *p; p++)
		strbuf_puts(&sb, *p == ',' ? ",," : (char[]){ *p, '\0' });
	return strbuf_detach(&sb);
}

/* push_opt() - push "-OPTION" and its value */
static void push_opt(char ***argv, const char *option, const char *value)
{
	strv_push(argv, option);
	strv_push(argv, value);
}

static void push_optf(char ***argv, const char *option, const char *fmt, ...) PRINTF_FMT(3, 4);
/* push_optf() - push "-OPTION" and a formatted value */
static void push_optf(char ***argv, const char *option, const char *fmt, ...)
{
	cleanup_free char *value = NULL;
	va_list ap;

	va_start(ap, fmt);
	value = xvasprintf(fmt, ap);
	va_end(ap);
	push_opt(argv, option, value);
}

/* memory_arg() - "-m" value: "6G" when a whole number of GiB, else "512M" */
static char *memory_arg(uint64_t bytes)
{
	const uint64_t mib = 1024 * 1024;

	if (bytes % (1024 * mib) == 0)
		return xasprintf("%lluG", (unsigned long long)(bytes / (1024 * mib)));
	return xasprintf("%lluM", (unsigned long long)(bytes / mib));
}

/**
 * push_machine() - machine, accelerator, CPU, memory, vCPUs and the options every level shares
 * @argv:	vector
 * @g:		the guest
 * @kvm:	KVM (else TCG)
 * @firmware:	-L directories, or NULL
 *
 * kernel-irqchip=split only with KVM, an intel-iommu and intremap=on (QEMU refuses the in-kernel
 * irqchip then); under TCG there is no kernel irqchip to choose.
 *
 * -sandbox (QEMU's seccomp filter, system/qemu-seccomp.c; docs/running.md "Confinement"): the default
 * set plus every optional deny. Nothing nestlab asks of QEMU needs an exception: no helper processes
 * (socket and dgram netdevs, no tap scripts, no -daemonize: spawn), no -runas or -chroot
 * (elevateprivileges), no thread pinning or priorities (resourcecontrol); vfio-pci, KVM, the QMP commands
 * of patches/qemu and the trace file are plain ioctl/mmap/socket/file work that the filter allows.
 */
static void push_machine(char ***argv, const struct plan_guest *g, bool kvm, char *const *firmware)
{
	cleanup_free char *mem = memory_arg(g->memory_bytes);
	bool split = kvm && g->viommu.present && g->viommu.intremap;

	push_optf(argv, "-M", "%s%s", g->machine, split ? ",kernel-irqchip=split" : "");
	push_opt(argv, "-accel", kvm ? "kvm" : "tcg");
	push_opt(argv, "-cpu", kvm ? "host" : "max");
	push_opt(argv, "-m", mem);
	push_optf(argv, "-smp", "%u", g->cpus);
	strv_push(argv, "-nodefaults");
	strv_push(argv, "-no-user-config");
	push_opt(argv, "-display", "none");
	push_opt(argv, "-sandbox", PLAN_QEMU_SANDBOX);
	for (size_t i = 0; firmware && firmware[i]; i++)
		push_opt(argv, "-L", firmware[i]);
}

/**
 * push_viommu() - `-device intel-iommu,...` with every property written out (hw/i386/intel_iommu.c)
 * @argv:	vector
 * @v:		the vIOMMU; nothing is pushed when absent
 *
 * caching-mode, intremap and aw-bits are always explicit so that the plan shows them;
 * x-scalable-mode and x-drop-map-notify (patched QEMU) only when on.
 */
static void push_viommu(char ***argv, const struct plan_viommu *v)
{
	struct strbuf dev = STRBUF_INIT;

	if (!v->present)
		return;
	strbuf_printf(&dev, "intel-iommu,caching-mode=%s,intremap=%s,aw-bits=%u", v->caching_mode ? "on" : "off",
		      v->intremap ? "on" : "off", v->aw_bits);
	if (v->scalable_mode)
		strbuf_puts(&dev, ",x-scalable-mode=on");
	if (v->drop_map_notify)
		strbuf_printf(&dev, ",x-drop-map-notify=%u", v->drop_map_notify);
	push_opt(argv, "-device", dev.str);
	strbuf_release(&dev);
}

/* push_agent() - the agent's virtio-serial port: chardev socket, virtio-serial-pci, virtserialport */
static void push_agent(char ***argv, const char *sock)
{
	cleanup_free char *path = opt_escape(sock);

	push_optf(argv, "-chardev", "socket,id=agent0,path=%s,server=on,wait=off", path);
	push_opt(argv, "-device", "virtio-serial-pci,id=vser0");
	push_opt(argv, "-device", "virtserialport,bus=vser0.0,chardev=agent0,name=" PLAN_AGENT_PORT);
}

char **plan_l2_qemu_argv(const struct plan *plan, bool kvm)
{
	const struct plan_guest *l2 = &plan->l2;
	char **argv = NULL;

	strv_push(&argv, plan->l2_qemu_binary);
	push_machine(&argv, l2, kvm, plan->l2_firmware_dirs);
	push_viommu(&argv, &l2->viommu);
	push_opt(&argv, "-kernel", l2->kernel);
	push_opt(&argv, "-initrd", l2->initrd);
	push_opt(&argv, "-append", l2->cmdline);
	if (plan->nic.l2_bdf)
		push_optf(&argv, "-device", "vfio-pci,host=%s,id=nic0,bus=pcie.0,addr=0x2", plan->nic.l2_bdf);
	push_opt(&argv, "-serial", plan->l2_serial);
	push_agent(&argv, plan->l2_agent_sock);
	push_optf(&argv, "-qmp", "unix:%s,server=on,wait=off", plan->l2_qmp_sock);
	push_opt(&argv, "-D", plan->l2_qemu_log);
	/* a reset of L2 (triple fault, reboot) ends its QEMU: the run reports it instead of talking to a
	 * freshly booted L2 whose state is gone */
	strv_push(&argv, "-no-reboot");
	if (plan->checks[SCN_CHECK_SHADOW] || plan->checks[SCN_CHECK_UNMAP]) {
		push_opt(&argv, "-msg", "timestamp=on");
		for (size_t i = 0; i < ARRAY_SIZE(shadow_trace_events); i++)
			push_opt(&argv, "-trace", shadow_trace_events[i]);
	}
	return argv;
}

/*
 * push_console() - one serial port: a socket L0 reads and writes; nestlab logs it through the socket,
 * capped (console_capture_start()), not with QEMU's logfile=, which has no size limit
 */
static void push_console(char ***argv, const char *id, const char *sock)
{
	cleanup_free char *path = opt_escape(sock);

	push_optf(argv, "-chardev", "socket,id=%s,path=%s,server=on,wait=off", id, path);
	push_optf(argv, "-serial", "chardev:%s", id);
}

char *plan_l0_netdev_opts(const char *id, const struct plan_nic *nic)
{
	cleanup_free char *nic_sock = opt_escape(nic->nic_sock);
	cleanup_free char *peer_sock = opt_escape(nic->peer_sock);

	return xasprintf("dgram,id=%s,local.type=unix,local.path=%s,remote.type=unix,remote.path=%s", id, nic_sock,
			 peer_sock);
}

/**
 * push_l0_nic() - the NIC L0 gives to L1, at 00:02.0
 * @argv:	vector
 * @plan:	plan
 *
 * emulated: `-netdev dgram` (one datagram per frame) between the unix datagram sockets RUN/wire-nic.sock
 * (QEMU binds it) and RUN/wire-peer.sock (the traffic peer's; plan.c says why paths and not ports), and
 * `-device igb|e1000e` without option ROM (romfile=);
 * lab: `-device vfio-pci,host=...` (the host NIC must be bound to vfio-pci).
 */
static void push_l0_nic(char ***argv, const struct plan *plan)
{
	const struct plan_nic *nic = &plan->nic;

	if (nic->mode == SCN_L0_LAB) {
		push_optf(argv, "-device", "vfio-pci,host=%s,id=nic0,bus=pcie.0,addr=0x2", nic->host_bdf);
		return;
	}
	cleanup_free char *netdev = plan_l0_netdev_opts("net0", nic);

	push_opt(argv, "-netdev", netdev);
	push_optf(argv, "-device", "%s,netdev=net0,mac=%s,romfile=,id=nic0,bus=pcie.0,addr=0x2",
		  plan_nic_model_name(nic->model), nic->mac);
}

char **plan_l0_qemu_argv(const struct plan *plan)
{
	const struct plan_guest *l1 = &plan->l1;
	cleanup_free char *overlay = opt_escape(plan->l1_overlay);
	char **argv = NULL;

	strv_push(&argv, plan->qemu_binary);
	push_optf(&argv, "-name", "%s,debug-threads=on", plan->domain_name);
	push_machine(&argv, l1, l1->accel == PLAN_ACCEL_KVM, plan->firmware_dirs);
	push_viommu(&argv, &l1->viommu);
	push_opt(&argv, "-kernel", l1->kernel);
	push_opt(&argv, "-append", l1->cmdline);
	/* a full host disk fails L1's write (and the run at its next save) instead of pausing L1 for good */
	push_optf(&argv, "-drive", "file=%s,if=none,id=disk0,format=qcow2,werror=report,rerror=report", overlay);
	push_opt(&argv, "-device", "virtio-blk-pci,drive=disk0");
	push_l0_nic(&argv, plan);
	/* after the NIC, which wants slot 2: devices without addr= take the first free slot */
	{
		cleanup_free char *seed = opt_escape(plan->l1_seed);

		push_optf(&argv, "-drive", "file=%s,if=none,id=seed0,format=raw,readonly=on", seed);
		push_opt(&argv, "-device", "virtio-blk-pci,drive=seed0");
	}
	push_console(&argv, "serial0", plan->l1_console_sock);
	push_console(&argv, "serial1", plan->l2_console_sock);
	push_agent(&argv, plan->l1_agent_sock);
	{
		cleanup_free char *qmp = opt_escape(plan->l1_qmp_sock);

		push_optf(&argv, "-qmp", "unix:%s,server=on,wait=off", qmp);
	}
	push_opt(&argv, "-D", plan->l0_qemu_log);
	return argv;
}

/* shell_safe() - characters a POSIX shell takes literally outside quotes */
static bool shell_safe(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("_./:=,+@%^-", c);
}

/**
 * plan_shell_quote() - quote a word so that a POSIX shell reads it back unchanged
 * @word:	the word
 *
 * Plain words stay as they are; words whose only specials are $, { and } (placeholders such as
 * "$RUN/l1.sock") are double-quoted so that the variable still expands when pasted; anything else is
 * single-quoted, with ' written as '\''.
 *
 * Return: the quoted word (caller frees).
 */
char *plan_shell_quote(const char *word)
{
	struct strbuf sb = STRBUF_INIT;
	bool plain = *word != '\0', placeholder = strchr(word, '$') != NULL;

	for (const char *p = word; *p; p++) {
		if (!shell_safe(*p))
			plain = false;
		if (!shell_safe(*p) && !strchr("${}", *p))
			placeholder = false;
	}
	if (plain)
		return xstrdup(word);
	if (placeholder)
		return xasprintf("\"%s\"", word);
	strbuf_puts(&sb, "'");
	for (const char *p = word; *p; p++) {
		if (*p == '\'')
			strbuf_puts(&sb, "'\\''");
		else
			strbuf_add(&sb, p, 1);
	}
	strbuf_puts(&sb, "'");
	return strbuf_detach(&sb);
}

/**
 * plan_format_argv() - a command line as a QEMU engineer would paste it
 * @sb:		output
 * @argv:	NULL-terminated vector
 * @indent:	prefix of every line
 *
 * argv[0] on the first line, then one option per line with its value (a word that does not start
 * with '-'), each line but the last ending in " \".
 */
void plan_format_argv(struct strbuf *sb, char *const *argv, const char *indent)
{
	for (size_t i = 0; argv && argv[i]; i++) {
		cleanup_free char *word = plan_shell_quote(argv[i]);
		bool option = i > 0 && argv[i][0] == '-';

		if (i == 0 || option)
			strbuf_printf(sb, "%s%s%s", i ? " \\\n" : "", indent, i ? "    " : "");
		else
			strbuf_puts(sb, " ");
		strbuf_puts(sb, word);
	}
	strbuf_puts(sb, "\n");
}
