/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan_libvirt.c - the L1 domain XML for l0.backend libvirt (libvirt 9.0, "Domain XML format")
 *
 * The domain is transient (virDomainCreateXML) and runs under the embedded driver
 * (qemu:///embed?root=..., libvirt 9.0 from bookworm). What it says, element by element:
 *   <domain type='qemu'|'kvm'>            TCG or KVM at L0
 *   <os><type machine='q35'>, <kernel>, <cmdline>   direct kernel boot
 *   <features><acpi/><ioapic driver='qemu'/>        split irqchip, which intremap=on needs under KVM
 *   <cpu mode='maximum'/>                 -cpu max under TCG (AMD SVM+NPT for kvm_amd in L1);
 *   <cpu mode='host-passthrough'/>        under KVM
 *   <iommu model='intel'><driver .../>    intel-iommu, the first device libvirt puts on the command line
 *   (no <interface>)                      the emulated NIC is on <qemu:commandline>, see xml_commandline()
 *   <hostdev mode='subsystem' type='pci'> lab mode: the host NIC through vfio-pci
 *   <serial type='unix'> x2                ttyS0 (L1) and ttyS1 (handed to L2's QEMU), logged by nestlab
 *   <channel type='unix'> virtio          the L1 agent (org.nestlab.agent.0)
 *   <memballoon model='none'/>            no balloon device: nothing here needs one
 *   <controller type='usb' model='none'/> no USB controller: nothing here needs one
 *   <qemu:commandline>                    -L firmware directories (the +ds QEMU build has no blobs);
 *                                         the emulated NIC and its wire (-netdev dgram, -device at 00:02.0)
 * Every value is XML-escaped (strbuf_add_xml_escaped()).
 */
#include <string.h>

#include "plan.h"

/* attr() - append ` NAME='VALUE'` with VALUE escaped */
static void attr(struct strbuf *sb, const char *name, const char *value)
{
	strbuf_printf(sb, " %s='", name);
	strbuf_add_xml_escaped(sb, value);
	strbuf_puts(sb, "'");
}

/* element() - append `INDENT<NAME>TEXT</NAME>` and a newline, TEXT escaped */
static void element(struct strbuf *sb, const char *indent, const char *name, const char *text)
{
	strbuf_printf(sb, "%s<%s>", indent, name);
	strbuf_add_xml_escaped(sb, text);
	strbuf_printf(sb, "</%s>\n", name);
}

/* one_line() - a copy with line breaks as spaces (<title> must be a single line) */
static char *one_line(const char *s)
{
	char *out = xstrdup(s);

	for (char *p = out; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	return out;
}

/* pci_address() - append <address type='pci' .../> for "DDDD:BB:DD.F" (validated by plan_resolve()) */
static void pci_address(struct strbuf *sb, const char *indent, const char *bdf, bool with_type)
{
	unsigned domain = 0, bus = 0, slot = 0, function = 0;

	if (sscanf(bdf, "%4x:%2x:%2x.%1x", &domain, &bus, &slot, &function) != 4)
		domain = bus = slot = function = 0;
	strbuf_printf(sb, "%s<address%s domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>\n", indent,
		      with_type ? " type='pci'" : "", domain, bus, slot, function);
}

/* xml_os() - <os> with direct kernel boot, <features>, <cpu> */
static void xml_os(struct strbuf *sb, const struct plan *plan)
{
	const struct plan_guest *l1 = &plan->l1;

	strbuf_puts(sb, "  <os>\n    <type arch='x86_64'");
	attr(sb, "machine", l1->machine);
	strbuf_puts(sb, ">hvm</type>\n");
	element(sb, "    ", "kernel", l1->kernel);
	element(sb, "    ", "cmdline", l1->cmdline);
	strbuf_puts(sb, "  </os>\n");
	strbuf_puts(sb, "  <features>\n    <acpi/>\n    <ioapic driver='qemu'/>\n  </features>\n");
	if (l1->accel == PLAN_ACCEL_KVM)
		strbuf_puts(sb, "  <cpu mode='host-passthrough' check='none'/>\n");
	else
		strbuf_puts(sb, "  <cpu mode='maximum' check='none'/>\n");
	strbuf_puts(sb, "  <clock offset='utc'/>\n");
	strbuf_puts(sb, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n"
			"  <on_crash>destroy</on_crash>\n");
}

/*
 * xml_nic() - lab mode: <hostdev> at 0000:00:02.0 in L1. The emulated NIC is not in <devices>:
 * libvirt 9.0's <interface type='udp'> binds a UDP port QEMU picks from what nestlab found free, which
 * another run can take first, and its QEMU driver cannot be handed a bound socket; so the NIC comes
 * from xml_commandline() with its wire on unix sockets in the run directory (plan.c).
 */
static void xml_nic(struct strbuf *sb, const struct plan *plan)
{
	const struct plan_nic *nic = &plan->nic;

	if (nic->mode != SCN_L0_LAB)
		return;
	strbuf_puts(sb, "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
			"      <driver name='vfio'/>\n      <source>\n");
	pci_address(sb, "        ", nic->host_bdf, false);
	strbuf_puts(sb, "      </source>\n");
	pci_address(sb, "      ", nic->l1_bdf, true);
	strbuf_puts(sb, "    </hostdev>\n");
}

/* qemu_arg() - one <qemu:arg value='...'/> */
static void qemu_arg(struct strbuf *sb, const char *value)
{
	strbuf_puts(sb, "    <qemu:arg");
	attr(sb, "value", value);
	strbuf_puts(sb, "/>\n");
}

/*
 * xml_commandline() - <qemu:commandline>: -L firmware directories, and for the emulated NIC
 * `-netdev dgram` on the run's unix sockets plus `-device igb|e1000e` at bus pcie.0 slot 2 with the id
 * `net0` the checks ask L0's QEMU about. libvirt does not know the device, so it must not put one of its
 * own at 00:02.0: it places what it adds (pcie-root-ports for the virtio devices) from slot 1 on, and
 * with no USB controller and no video the few root ports this domain needs fit in slot 1; were slot 2
 * ever taken, QEMU refuses to start ("slot 2 function 0 not available"), which names the conflict.
 */
static void xml_commandline(struct strbuf *sb, const struct plan *plan)
{
	const struct plan_nic *nic = &plan->nic;
	bool emulated = nic->mode != SCN_L0_LAB;

	if (!plan->firmware_dirs && !emulated)
		return;
	strbuf_puts(sb, "  <qemu:commandline>\n");
	for (size_t i = 0; plan->firmware_dirs && plan->firmware_dirs[i]; i++) {
		qemu_arg(sb, "-L");
		qemu_arg(sb, plan->firmware_dirs[i]);
	}
	if (emulated) {
		cleanup_free char *netdev = plan_l0_netdev_opts("nlwire0", nic);
		cleanup_free char *device = xasprintf("%s,netdev=nlwire0,id=net0,mac=%s,romfile=,bus=pcie.0,addr=0x2",
						      plan_nic_model_name(nic->model), nic->mac);

		qemu_arg(sb, "-netdev");
		qemu_arg(sb, netdev);
		qemu_arg(sb, "-device");
		qemu_arg(sb, device);
	}
	strbuf_puts(sb, "  </qemu:commandline>\n");
}

/*
 * xml_serial() - one <serial type='unix'> bound in the run directory; no <log>: QEMU's log of a chardev
 * has no size limit, so nestlab logs the port through the socket, capped (console_capture_start())
 */
static void xml_serial(struct strbuf *sb, unsigned port, const char *sock)
{
	strbuf_puts(sb, "    <serial type='unix'>\n      <source mode='bind'");
	attr(sb, "path", sock);
	strbuf_printf(sb, "/>\n      <target type='isa-serial' port='%u'>\n"
			  "        <model name='isa-serial'/>\n      </target>\n    </serial>\n", port);
}

/* xml_devices() - <devices>: emulator, disk, iommu, NIC, consoles, agent channel, no balloon */
static void xml_devices(struct strbuf *sb, const struct plan *plan)
{
	const struct plan_viommu *v = &plan->l1.viommu;

	strbuf_puts(sb, "  <devices>\n");
	element(sb, "    ", "emulator", plan->qemu_binary);
	/* error_policy: as -drive werror= in plan_qemu.c (libvirt formatdomain, disk <driver>) */
	strbuf_puts(sb, "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2' "
			"error_policy='report' rerror_policy='report'/>\n      <source");
	attr(sb, "file", plan->l1_overlay);
	strbuf_puts(sb, "/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n");
	strbuf_puts(sb, "    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n"
			"      <source");
	attr(sb, "file", plan->l1_seed);
	strbuf_puts(sb, "/>\n      <target dev='vdb' bus='virtio'/>\n      <readonly/>\n    </disk>\n");
	if (v->present)
		strbuf_printf(sb, "    <iommu model='intel'>\n      <driver intremap='%s' caching_mode='%s' "
				  "aw_bits='%u'/>\n    </iommu>\n",
			      v->intremap ? "on" : "off", v->caching_mode ? "on" : "off", v->aw_bits);
	xml_nic(sb, plan);
	xml_serial(sb, 0, plan->l1_console_sock);
	xml_serial(sb, 1, plan->l2_console_sock);
	strbuf_puts(sb, "    <channel type='unix'>\n      <source mode='bind'");
	attr(sb, "path", plan->l1_agent_sock);
	strbuf_puts(sb, "/>\n      <target type='virtio' name='" PLAN_AGENT_PORT "'/>\n    </channel>\n");
	strbuf_puts(sb, "    <controller type='usb' model='none'/>\n");
	strbuf_puts(sb, "    <memballoon model='none'/>\n  </devices>\n");
}

char *plan_l1_domain_xml(const struct plan *plan)
{
	struct strbuf sb = STRBUF_INIT;
	cleanup_free char *title = one_line(plan->name);

	strbuf_printf(&sb, "<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n",
		      plan->l1.accel == PLAN_ACCEL_KVM ? "kvm" : "qemu");
	element(&sb, "  ", "name", plan->domain_name);
	strbuf_puts(&sb, "  <title>nestlab L1: ");
	strbuf_add_xml_escaped(&sb, title);
	strbuf_puts(&sb, "</title>\n");
	if (plan->description)
		element(&sb, "  ", "description", plan->description);
	strbuf_printf(&sb, "  <memory unit='KiB'>%llu</memory>\n",
		      (unsigned long long)(plan->l1.memory_bytes / 1024));
	strbuf_printf(&sb, "  <vcpu placement='static'>%u</vcpu>\n", plan->l1.cpus);
	xml_os(&sb, plan);
	xml_devices(&sb, plan);
	xml_commandline(&sb, plan);
	strbuf_puts(&sb, "</domain>\n");
	return strbuf_detach(&sb);
}
