/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_plan.c - unit tests for plan.c, plan_qemu.c and plan_libvirt.c
 *
 * Scenarios are built by hand (every value unset, then the few a test cares about), resolved against
 * a fixed struct plan_env, and the plan, argv, domain XML and printed text are checked. The domain XML
 * is checked against libvirt's own RELAX NG schema when xmllint and the schema are installed.
 */
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan.h"
#include "proc.h"
#include "test.h"

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)
#define LIBVIRT_DOMAIN_RNG "/usr/share/libvirt/schemas/domain.rng"

/* fake_getenv() - the environment the lab tests see */
static const char *fake_getenv(const char *name)
{
	if (!strcmp(name, "NESTLAB_HOST_NIC"))
		return "0000:03:00.1";
	if (!strcmp(name, "BAD_NIC"))
		return "03:00.1";
	return NULL;
}

/* test_env() - a deterministic environment: no KVM, real-looking run directory and ports */
static struct plan_env test_env(void)
{
	return (struct plan_env){
		.run_dir = "/srv/nestlab/run-1",
		.run_id = "a1b2c3",
		.libvirt_root = "/run/nestlab/run-a1b2c3/libvirt",
		.cache_dir = "/srv/nestlab/cache",
		.qemu_binary = "/srv/nestlab/cache/qemu/current/qemu-system-x86_64",
		.firmware_dir = "/usr/share/seabios:/usr/share/qemu",
		.l1_kernel = "/srv/nestlab/cache/linux/current/bzImage",
		.l1_image = "/srv/nestlab/cache/images/current/l1.img",
		.l2_kernel = "/boot/l2/vmlinuz",
		.l2_initrd = "/boot/l2/minimal.cpio.gz",
		.l2_initrd_dpdk = "/boot/l2/dpdk.cpio.gz",
		.host_has_kvm = false,
		.getenv = fake_getenv,
	};
}

/* scn_init() - a scenario with every value unset but its name and path */
static void scn_init(struct scenario *scn)
{
	*scn = (struct scenario){ 0 };
	scn->path = (char *)"scenarios/t.yaml";
	scn->name = (char *)"t";
}

/* resolve_ok() - resolve and print the error on failure */
static struct plan *resolve_ok(const struct scenario *scn, const struct plan_env *env)
{
	cleanup_error nl_error_t err = NULL;
	struct plan *plan = NULL;

	if (plan_resolve(scn, env, &plan, &err) < 0) {
		test_diag("plan_resolve failed: %s", err->msg);
		return NULL;
	}
	return plan;
}

/* resolve_err() - resolve, expecting failure; returns the message (caller frees) */
static char *resolve_err(const struct scenario *scn, const struct plan_env *env)
{
	cleanup_error nl_error_t err = NULL;
	struct plan *plan = NULL;
	char *msg;

	if (plan_resolve(scn, env, &plan, &err) == 0) {
		plan_free(plan);
		return NULL;
	}
	msg = err->msg;
	err->msg = NULL;
	return msg;
}

/* argv_index() - first index of an argv word starting with @prefix, or -1 */
static int argv_index(char *const *argv, const char *prefix)
{
	for (int i = 0; argv && argv[i]; i++) {
		if (!strncmp(argv[i], prefix, strlen(prefix)))
			return i;
	}
	return -1;
}

/* argv_value() - the word after the first @option whose value starts with @prefix, or NULL */
static const char *argv_value(char *const *argv, const char *option, const char *prefix)
{
	for (int i = 0; argv && argv[i] && argv[i + 1]; i++) {
		if (!strcmp(argv[i], option) && !strncmp(argv[i + 1], prefix, strlen(prefix)))
			return argv[i + 1];
	}
	return NULL;
}

static int test_defaults(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;

	scn_init(&scn);
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->nic.mode == SCN_L0_EMULATED);
	CHECK(p->backend == SCN_BACKEND_LIBVIRT);
	CHECK_STR(p->connect, "qemu:///embed?root=/run/nestlab/run-a1b2c3/libvirt");
	CHECK(p->l1.memory_bytes == 6 * GiB && p->l1.cpus == 2);
	CHECK(p->l2.memory_bytes == 512 * MiB && p->l2.cpus == 1);
	CHECK_STR(p->l1.machine, "q35");
	CHECK_STR(p->l2.machine, "q35");
	for (int level = 0; level < 2; level++) {
		const struct plan_viommu *v = level ? &p->l2.viommu : &p->l1.viommu;

		CHECK(v->present && v->caching_mode && v->intremap && !v->scalable_mode);
		CHECK(v->aw_bits == 48 && v->drop_map_notify == 0);
		CHECK(v->query_max_entries == PLAN_VTD_MAX_ENTRIES_DEFAULT);
		CHECK(v->query_max_tables == PLAN_VTD_MAX_TABLES_DEFAULT);
	}
	CHECK(p->nic.model == SCN_NIC_IGB);
	CHECK_STR(p->nic.mac, "52:54:00:00:00:02");
	CHECK(p->nic.l2_assign == SCN_ASSIGN_VFIO_PCI);
	CHECK_STR(p->nic.l1_bdf, "0000:00:02.0");
	CHECK(p->driver == SCN_DRIVER_KERNEL);
	CHECK_STR(p->l2.image, "minimal");
	CHECK(p->traffic.frames == 1000 && p->traffic.size_min == 60 && p->traffic.size_max == 1514);
	CHECK(p->traffic.direction == SCN_DIR_BOTH && p->traffic.payload == SCN_PAYLOAD_RANDOM);
	CHECK(!p->traffic.seed_set);
	for (int c = 0; c < SCN_CHECK__COUNT; c++)
		CHECK(p->checks[c]);
	CHECK(p->expect == SCN_EXPECT_PASS);
	CHECK(p->timeouts.build_ms == 60 * 60000 && p->timeouts.l1_boot_ms == 60000);
	CHECK(p->timeouts.l2_boot_kvm_ms == 120000 && p->timeouts.l2_boot_tcg_ms == 600000);
	CHECK(p->timeouts.traffic_ms == 60000 && p->timeouts.checks_ms == 60000);
	CHECK(p->timeouts.teardown_ms == 60000 && p->timeouts.total_ms == 90 * 60000);
	CHECK(p->qemu_src.kind == SCN_SRC_DEBIAN && p->linux_src.kind == SCN_SRC_DEBIAN);
	CHECK_STR(p->qemu_src.versions[0], "1:10.0.13+ds-0+deb13u1");
	CHECK_STR(p->qemu_src.suite, "trixie");
	CHECK_STR(p->linux_src.versions[0], "6.12.107-1");
	CHECK_STR(p->linux_src.versions[1], "6.12.38-1");
	CHECK_STR(p->qemu_src.patches, "patches/qemu");
	CHECK_STR(p->linux_src.patches, "patches/linux");
	CHECK_STR(p->domain_name, "nestlab-t-a1b2c3");
	CHECK(p->complete);
	CHECK(p->notes == NULL);
	return TEST_PASS;
}

static int test_placeholders_when_printing(void)
{
	struct plan_env env = { 0 };
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *text = NULL;

	scn_init(&scn);
	scn.l0.backend = SCN_BACKEND_QEMU;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(!p->complete);
	CHECK_STR(p->nic.peer_sock, "$RUN/wire-peer.sock");
	CHECK_STR(p->domain_name, "nestlab-t-$ID");
	text = plan_format(p);
	CHECK_CONTAINS(text, "placeholders ($RUN, $ID, $NESTLAB_STATE) are filled at run time");
	CHECK_CONTAINS(text, "\n\"$NESTLAB_CACHE/qemu/current/qemu-system-x86_64\" \\\n");
	CHECK_CONTAINS(text, "    -chardev \"socket,id=serial0,path=$RUN/l1-console.sock,server=on,wait=off\" \\\n");
	CHECK(!strstr(text, "logfile="));	/* nestlab logs the consoles, capped */
	CHECK_CONTAINS(text, "dgram,id=net0,local.type=unix,local.path=$RUN/wire-nic.sock,remote.type=unix,"
			     "remote.path=$RUN/wire-peer.sock");
	return TEST_PASS;
}

static int test_l1_accel_rule(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *tcg = NULL;
	cleanup_plan struct plan *kvm = NULL;
	cleanup_free char *xml_tcg = NULL, *xml_kvm = NULL;

	scn_init(&scn);
	CHECK((tcg = resolve_ok(&scn, &env)) != NULL);
	CHECK(tcg->l1.accel == PLAN_ACCEL_TCG);
	env.host_has_kvm = true;
	CHECK((kvm = resolve_ok(&scn, &env)) != NULL);
	CHECK(kvm->l1.accel == PLAN_ACCEL_KVM);

	xml_tcg = plan_l1_domain_xml(tcg);
	CHECK_CONTAINS(xml_tcg, "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>");
	CHECK_CONTAINS(xml_tcg, "<cpu mode='maximum' check='none'/>");
	xml_kvm = plan_l1_domain_xml(kvm);
	CHECK_CONTAINS(xml_kvm, "<domain type='kvm'");
	CHECK_CONTAINS(xml_kvm, "<cpu mode='host-passthrough' check='none'/>");
	return TEST_PASS;
}

static int test_l1_kvm_without_host_kvm(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;
	cleanup_plan struct plan *p = NULL;

	scn_init(&scn);
	scn.l1.accel = SCN_ACCEL_KVM;
	scn.l1.accel_loc = (struct scn_loc){ 7, 10 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(msg, "scenarios/t.yaml:7:10: error: l1.accel is kvm, but this host has no usable /dev/kvm; "
		       "hint: use accel auto or tcg");
	env.host_has_kvm = true;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->l1.accel == PLAN_ACCEL_KVM);
	return TEST_PASS;
}

static int test_l2_accel_variants(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **kvm = NULL;
	cleanup_strv char **tcg = NULL;

	scn_init(&scn);
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->l2.accel == PLAN_ACCEL_RUNTIME);
	kvm = plan_l2_qemu_argv(p, true);
	tcg = plan_l2_qemu_argv(p, false);
	CHECK(argv_value(kvm, "-accel", "kvm") && argv_value(kvm, "-cpu", "host"));
	CHECK(argv_value(tcg, "-accel", "tcg") && argv_value(tcg, "-cpu", "max"));
	CHECK(!argv_value(kvm, "-accel", "tcg") && !argv_value(tcg, "-accel", "kvm"));
	CHECK_STR(argv_value(kvm, "-m", ""), "512M");
	CHECK_STR(argv_value(kvm, "-smp", ""), "1");
	CHECK(argv_index(kvm, "-nodefaults") > 0 && argv_index(kvm, "-no-user-config") > 0);
	CHECK_STR(argv_value(kvm, "-display", ""), "none");
	/* L1's QEMU runs as root in L1: its seccomp filter with every optional deny (docs/running.md) */
	CHECK_STR(argv_value(kvm, "-sandbox", ""), "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	CHECK_STR(argv_value(tcg, "-sandbox", ""), "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	CHECK_STR(argv_value(kvm, "-serial", ""), "/dev/ttyS1");
	CHECK_STR(argv_value(kvm, "-qmp", ""), "unix:/run/nestlab/l2-qmp.sock,server=on,wait=off");
	CHECK_STR(argv_value(kvm, "-D", ""), "/run/nestlab/l2-qemu.log");
	CHECK(argv_value(kvm, "-chardev", "socket,id=agent0,path=/run/nestlab/agent-l2.sock,server=on,wait=off"));
	CHECK(argv_value(kvm, "-device", "virtserialport,bus=vser0.0,chardev=agent0,name=org.nestlab.agent.0"));
	CHECK_STR(argv_value(kvm, "-append", ""), "console=ttyS0 intel_iommu=on quiet loglevel=4 mitigations=off no-kvmclock");
	CHECK_STR(argv_value(kvm, "-kernel", ""), "/boot/l2/vmlinuz");
	CHECK_STR(argv_value(kvm, "-initrd", ""), "/boot/l2/minimal.cpio.gz");
	/* shadow and unmap checks are on by default: L1's QEMU traces the rare shadow events from the
	 * start, the per-page ones only once L2 is up (they stall L2's boot) */
	CHECK(argv_value(kvm, "-trace", "vtd_dmar_fault"));
	CHECK(!argv_value(kvm, "-trace", "vfio_iommu_map_notify"));
	CHECK(!argv_value(kvm, "-trace", "vtd_page_walk_one"));
	CHECK_STR(plan_l2_runtime_trace_events[3], "vfio_iommu_map_notify");
	return TEST_PASS;
}

static int test_irqchip_split_only_kvm_intremap(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_plan struct plan *noir = NULL;
	cleanup_plan struct plan *none = NULL;
	cleanup_strv char **kvm = NULL;
	cleanup_strv char **tcg = NULL;
	cleanup_strv char **kvm_noir = NULL;
	cleanup_strv char **kvm_none = NULL;

	scn_init(&scn);
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	kvm = plan_l2_qemu_argv(p, true);
	tcg = plan_l2_qemu_argv(p, false);
	CHECK_STR(argv_value(kvm, "-M", ""), "q35,kernel-irqchip=split");
	CHECK_STR(argv_value(tcg, "-M", ""), "q35");

	scn.l2.viommu.intremap = SCN_FALSE;
	CHECK((noir = resolve_ok(&scn, &env)) != NULL);
	kvm_noir = plan_l2_qemu_argv(noir, true);
	CHECK_STR(argv_value(kvm_noir, "-M", ""), "q35");

	scn.l2.viommu.intremap = SCN_UNSET;
	scn.l2.viommu.model = SCN_VIOMMU_NONE;
	CHECK((none = resolve_ok(&scn, &env)) != NULL);
	kvm_none = plan_l2_qemu_argv(none, true);
	CHECK_STR(argv_value(kvm_none, "-M", ""), "q35");
	return TEST_PASS;
}

static int test_intel_iommu_first_device(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **l2 = NULL;
	cleanup_strv char **l0 = NULL;
	int iommu, vfio, first_device;

	scn_init(&scn);
	scn.l0.backend = SCN_BACKEND_QEMU;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	l2 = plan_l2_qemu_argv(p, true);
	iommu = argv_index(l2, "intel-iommu,");
	vfio = argv_index(l2, "vfio-pci,");
	first_device = argv_index(l2, "-device");
	CHECK(iommu > 0 && vfio > iommu && first_device == iommu - 1);
	CHECK_STR(l2[iommu], "intel-iommu,caching-mode=on,intremap=on,aw-bits=48");
	CHECK_STR(l2[vfio], "vfio-pci,host=0000:00:02.0,id=nic0,bus=pcie.0,addr=0x2");

	l0 = plan_l0_qemu_argv(p);
	iommu = argv_index(l0, "intel-iommu,");
	CHECK(iommu > 0 && argv_index(l0, "-device") == iommu - 1);
	CHECK(argv_index(l0, "igb,") > iommu);
	return TEST_PASS;
}

static int test_caching_mode_contradiction(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;

	scn_init(&scn);
	scn.l2.viommu.caching_mode = SCN_FALSE;
	scn.l2.viommu.caching_mode_loc = (struct scn_loc){ 12, 19 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(msg, "scenarios/t.yaml:12:19: error: expect pass, but this is refused at l2-start: the NIC is "
		       "assigned to L2 through vfio-pci behind L2's intel-iommu without caching-mode, which L1's "
		       "QEMU refuses (\"We need to set caching-mode=on for intel-iommu to enable device assignment "
		       "with IOMMU protection.\"); hint: set l2.viommu.caching_mode: true, or expect refusal at "
		       "l2-start");
	return TEST_PASS;
}

static int test_caching_mode_refusal_expected(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **argv = NULL;
	cleanup_free char *text = NULL;

	scn_init(&scn);
	scn.l2.viommu.caching_mode = SCN_FALSE;
	scn.expect.outcome = SCN_EXPECT_REFUSAL;
	scn.expect.stage = SCN_STAGE_L2_START;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->expect == SCN_EXPECT_REFUSAL && p->expect_stage == SCN_STAGE_L2_START);
	CHECK_CONTAINS(p->expect_message, "We need to set caching-mode=on");
	argv = plan_l2_qemu_argv(p, false);
	CHECK(argv_value(argv, "-device", "intel-iommu,caching-mode=off,"));
	text = plan_format(p);
	CHECK_CONTAINS(text, "refusal at l2-start: the NIC is assigned to L2 through vfio-pci");
	CHECK_CONTAINS(text, "(not run: a refusal is expected at l2-start)");
	return TEST_PASS;
}

static int test_refusal_not_refused(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;
	cleanup_free char *stage_msg = NULL;

	scn_init(&scn);
	scn.expect.outcome = SCN_EXPECT_REFUSAL;
	scn.expect.stage = SCN_STAGE_L2_START;
	scn.expect.outcome_loc = (struct scn_loc){ 20, 12 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(msg, "scenarios/t.yaml:20:12: error: expect refusal, but nothing refuses this configuration: "
			    "L1 and L2 both have intel-iommu with caching-mode=on");
	CHECK_CONTAINS(msg, "; hint: expect pass, or change");

	/* refused, but at another stage than the one expected */
	scn.l2.viommu.caching_mode = SCN_FALSE;
	scn.expect.stage = SCN_STAGE_L2_BOOT;
	scn.expect.stage_loc = (struct scn_loc){ 21, 10 };
	CHECK((stage_msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(stage_msg, "scenarios/t.yaml:21:10: error: expect refusal at l2-boot, but it is refused at "
				  "l2-start");
	CHECK_CONTAINS(stage_msg, "hint: set expect.stage: l2-start");
	return TEST_PASS;
}

static int test_drop_map_notify(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **argv = NULL;
	cleanup_free char *msg = NULL;
	cleanup_free char *l1_msg = NULL;

	scn_init(&scn);
	scn.l2.viommu.drop_map_notify = 3;
	scn.l2.viommu.drop_map_notify_loc = (struct scn_loc){ 15, 26 };
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	argv = plan_l2_qemu_argv(p, true);
	CHECK(argv_value(argv, "-device", "intel-iommu,caching-mode=on,intremap=on,aw-bits=48,x-drop-map-notify=3"));

	scn.l2.viommu.caching_mode = SCN_FALSE;
	scn.expect.outcome = SCN_EXPECT_REFUSAL;
	scn.expect.stage = SCN_STAGE_L2_START;
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(msg, "scenarios/t.yaml:15:26: error: x_drop_map_notify with expect refusal");

	/* at L1, in emulated mode, there is nothing to drop */
	scn_init(&scn);
	scn.l1.viommu.drop_map_notify = 1;
	CHECK((l1_msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(l1_msg, "l1.viommu.x_drop_map_notify: in emulated mode");
	return TEST_PASS;
}

static int test_l2_must_fit_l1(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;
	char *second;

	scn_init(&scn);
	scn.l1.memory_bytes = 1 * GiB;
	scn.l2.memory_bytes = 1 * GiB;
	scn.l2.memory_loc = (struct scn_loc){ 9, 11 };
	scn.l2.cpus = 3;
	scn.l2.cpus_loc = (struct scn_loc){ 10, 9 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	/* both problems at once, one per line */
	CHECK((second = strchr(msg, '\n')) != NULL);
	*second++ = '\0';
	CHECK_STR(msg, "scenarios/t.yaml:9:11: error: l2.memory (1024 MiB) is not less than l1.memory (1024 MiB); "
		       "hint: give L1 more memory than L2 (L1 also runs L2's QEMU), e.g. l2.memory 512M");
	CHECK_STR(second, "scenarios/t.yaml:10:9: error: l2.cpus (3) is more than l1.cpus (2); "
			  "hint: lower l2.cpus or raise l1.cpus");
	return TEST_PASS;
}

static int test_checks_need_l2_iommu(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **argv = NULL;

	scn_init(&scn);
	scn.l2.viommu.model = SCN_VIOMMU_NONE;
	scn.checks_set = true;
	scn.checks[SCN_CHECK_TRAFFIC] = scn.checks[SCN_CHECK_SHADOW] = true;
	scn.checks_loc = (struct scn_loc){ 30, 9 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(msg, "scenarios/t.yaml:30:9: error: check shadow needs L2's vIOMMU and the NIC assigned to L2, "
		       "but l2.viommu.model is none; hint: remove shadow from checks, or give L2 an intel vIOMMU "
		       "and the NIC through vfio-pci");

	/* left to the default, the checks that cannot apply are dropped and the plan says so */
	scn.checks_set = false;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->checks[SCN_CHECK_TRAFFIC] && p->checks[SCN_CHECK_FAULTS]);
	CHECK(!p->checks[SCN_CHECK_SHADOW] && !p->checks[SCN_CHECK_UNMAP] && !p->checks[SCN_CHECK_IOMMU_IN_USE]);
	CHECK_STR(p->checks_dropped, "iommu-in-use, shadow, unmap left out: l2.viommu.model is none");
	argv = plan_l2_qemu_argv(p, false);
	CHECK(argv_index(argv, "intel-iommu") < 0 && argv_index(argv, "-trace") < 0);
	CHECK_STR(argv_value(argv, "-append", ""), "console=ttyS0 quiet loglevel=4 mitigations=off no-kvmclock");
	return TEST_PASS;
}

static int test_intremap_off_is_a_note(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *text = NULL;

	scn_init(&scn);
	scn.l2.viommu.intremap = SCN_FALSE;
	scn.l2.viommu.intremap_loc = (struct scn_loc){ 14, 17 };
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->notes && p->notes[0] && !p->notes[1]);
	CHECK_CONTAINS(p->notes[0], "scenarios/t.yaml:14:17: warning: l2.viommu.intremap is off");
	CHECK_CONTAINS(p->notes[0], "timer doesn't work through Interrupt-remapped IO-APIC");
	text = plan_format(p);
	CHECK_CONTAINS(text, "\nNotes\n  scenarios/t.yaml:14:17: warning:");
	return TEST_PASS;
}

static int test_lab_hostdev(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_plan struct plan *q = NULL;
	cleanup_free char *xml = NULL;
	cleanup_free char *text = NULL;
	cleanup_strv char **l0 = NULL;

	scn_init(&scn);
	scn.l0.mode = SCN_L0_LAB;
	scn.nic.host = (char *)"0000:81:00.1";
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	xml = plan_l1_domain_xml(p);
	CHECK_CONTAINS(xml, "<hostdev mode='subsystem' type='pci' managed='yes'>");
	CHECK_CONTAINS(xml, "<address domain='0x0000' bus='0x81' slot='0x00' function='0x1'/>");
	CHECK_CONTAINS(xml, "<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>");
	CHECK(strstr(xml, "<interface") == NULL && strstr(xml, "-netdev") == NULL);
	text = plan_format(p);
	CHECK_CONTAINS(text, "host 0000:81:00.1 on vfio-pci");

	scn.l0.backend = SCN_BACKEND_QEMU;
	CHECK((q = resolve_ok(&scn, &env)) != NULL);
	l0 = plan_l0_qemu_argv(q);
	CHECK(argv_value(l0, "-device", "vfio-pci,host=0000:81:00.1,id=nic0,bus=pcie.0,addr=0x2"));
	CHECK(argv_index(l0, "dgram") < 0 && argv_index(l0, "igb") < 0);
	return TEST_PASS;
}

static int test_lab_env_variable(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_plan struct plan *braced = NULL;
	cleanup_free char *unset = NULL;
	cleanup_free char *noenv = NULL;
	cleanup_free char *bad = NULL;

	scn_init(&scn);
	scn.l0.mode = SCN_L0_LAB;
	scn.nic.host = (char *)"$NESTLAB_HOST_NIC";
	scn.nic.host_loc = (struct scn_loc){ 5, 9 };
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK_STR(p->nic.host_bdf, "0000:03:00.1");
	CHECK_STR(p->nic.host_bdf_var, "NESTLAB_HOST_NIC");
	scn.nic.host = (char *)"${NESTLAB_HOST_NIC}";
	CHECK((braced = resolve_ok(&scn, &env)) != NULL);
	CHECK_STR(braced->nic.host_bdf, "0000:03:00.1");

	scn.nic.host = (char *)"$LAB_NIC";
	CHECK((unset = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(unset, "scenarios/t.yaml:5:9: error: nic.host names $LAB_NIC, which is not set in the "
			 "environment; hint: export LAB_NIC=DDDD:BB:DD.F (the host NIC's PCI address, see lspci -D)");
	env.getenv = NULL;
	scn.nic.host = (char *)"$NESTLAB_HOST_NIC";
	CHECK((noenv = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(noenv, "nic.host names $NESTLAB_HOST_NIC, which is not set");

	env.getenv = fake_getenv;
	scn.nic.host = (char *)"$BAD_NIC";
	CHECK((bad = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(bad, "nic.host 03:00.1 (from $BAD_NIC) is not a PCI address DDDD:BB:DD.F");
	return TEST_PASS;
}

static int test_lab_needs_host(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;
	cleanup_free char *bad = NULL;

	scn_init(&scn);
	scn.l0.mode = SCN_L0_LAB;
	scn.l0.mode_loc = (struct scn_loc){ 3, 9 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(msg, "scenarios/t.yaml:3:9: error: l0.mode is lab, but nic.host is not set; hint:");
	scn.nic.host = (char *)"0000:03:20.0";	/* device 0x20 > 0x1f */
	CHECK((bad = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(bad, "nic.host 0000:03:20.0 is not a PCI address DDDD:BB:DD.F");
	return TEST_PASS;
}

static int test_lab_caching_mode_refused_at_l1(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;

	scn_init(&scn);
	scn.l0.mode = SCN_L0_LAB;
	scn.nic.host = (char *)"0000:03:00.0";
	scn.l1.viommu.caching_mode = SCN_FALSE;
	scn.expect.outcome = SCN_EXPECT_REFUSAL;
	scn.expect.stage = SCN_STAGE_L1_START;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->expect_stage == SCN_STAGE_L1_START);
	CHECK_CONTAINS(p->refusal_reason, "behind L0's intel-iommu without caching-mode");
	return TEST_PASS;
}

static int test_dpdk_image(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *msg = NULL;
	cleanup_free char *refused = NULL;

	scn_init(&scn);
	scn.workload.driver = SCN_DRIVER_DPDK;
	scn.workload.driver_loc = (struct scn_loc){ 25, 11 };
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK_STR(p->l2.image, "dpdk");
	CHECK_STR(p->l2.initrd, "/boot/l2/dpdk.cpio.gz");
	CHECK(p->notes && !strcmp(p->notes[0], "scenarios/t.yaml:25:11: warning: l2.image resolved to dpdk "
					       "because workload.driver is dpdk"));

	scn.l2.image = (char *)"minimal";
	scn.l2.image_loc = (struct scn_loc){ 18, 10 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(msg, "scenarios/t.yaml:18:10: error: workload.driver dpdk needs l2.image dpdk, not minimal; "
		       "hint: set l2.image: dpdk, or remove it");

	/* a user-space driver in L2 needs L2's vIOMMU */
	scn.l2.image = NULL;
	scn.l2.viommu.model = SCN_VIOMMU_NONE;
	CHECK((refused = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(refused, "refused at l2-boot: workload.driver dpdk binds the NIC to vfio-pci inside L2");
	return TEST_PASS;
}

/* has_raw() - true when @xml contains @needle outside an escape (a hostile string came through) */
static bool has_raw(const char *xml, const char *needle)
{
	return strstr(xml, needle) != NULL;
}

/**
 * xmllint_check() - run xmllint on @xml; with @rng, validate against that RELAX NG schema
 *
 * Return: TEST_PASS, TEST_FAIL, or TEST_SKIP when xmllint (or the schema) is not installed.
 */
static int xmllint_check(const char *xml, const char *rng)
{
	char path[] = "/tmp/nestlab-test-plan-XXXXXX";
	struct strbuf output = STRBUF_INIT;
	cleanup_free char *cmd = NULL;
	cleanup_file FILE *f = NULL;
	FILE *lint;
	char line[512];
	int fd, rc;

	if (access("/usr/bin/xmllint", X_OK))
		return test_skip("xmllint is not installed (Debian package libxml2-utils)");
	if (rng && access(rng, R_OK))
		return test_skip("%s is not installed (Debian package libvirt0)", rng);
	CHECK((fd = mkstemp(path)) >= 0);
	CHECK((f = fdopen(fd, "w")) != NULL);
	CHECK(fputs(xml, f) >= 0);
	CHECK(fflush(f) == 0);
	cmd = rng ? xasprintf("xmllint --noout --relaxng %s %s 2>&1", rng, path)
		  : xasprintf("xmllint --noout %s 2>&1", path);
	CHECK((lint = popen(cmd, "r")) != NULL);
	while (fgets(line, sizeof(line), lint))	/* stdout carries TAP only: keep xmllint's words */
		strbuf_puts(&output, line);
	rc = pclose(lint);
	unlink(path);
	if (rc != 0)
		test_diag("%s failed (%d): %s\nthe XML:\n%s", cmd, rc, output.str ? output.str : "", xml);
	strbuf_release(&output);
	return rc == 0 ? TEST_PASS : TEST_FAIL;
}

static int test_xml_escaping(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *xml = NULL;
	char *hostile_args[] = { (char *)"nestlab.x=<a href='x'>&amp;\"y\"", NULL };

	scn_init(&scn);
	scn.name = (char *)"evil</name><devices>&'\"";
	scn.description = (char *)"</description><qemu:commandline><qemu:arg value='-S'/>";
	scn.l1.kernel_args = hostile_args;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK_STR(p->domain_name, "nestlab-evil--name--devices-----a1b2c3");
	xml = plan_l1_domain_xml(p);
	CHECK(!has_raw(xml, "<devices>&"));
	CHECK(!has_raw(xml, "<qemu:arg value='-S'/>"));
	CHECK(!has_raw(xml, "<a href"));
	CHECK_CONTAINS(xml, "<title>nestlab L1: evil&lt;/name&gt;&lt;devices&gt;&amp;&apos;&quot;</title>");
	CHECK_CONTAINS(xml, "&lt;/description&gt;&lt;qemu:commandline&gt;");
	CHECK_CONTAINS(xml, "nestlab.x=&lt;a href=&apos;x&apos;&gt;&amp;amp;&quot;y&quot;</cmdline>");
	return xmllint_check(xml, NULL);
}

static int test_xml_libvirt_schema(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_plan struct plan *lab = NULL;
	cleanup_free char *xml = NULL;
	cleanup_free char *lab_xml = NULL;
	int rc;

	scn_init(&scn);
	scn.description = (char *)"igb through two intel-iommus";
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	xml = plan_l1_domain_xml(p);
	CHECK_CONTAINS(xml, "<iommu model='intel'>\n      <driver intremap='on' caching_mode='on' aw_bits='48'/>");
	/* the emulated NIC: on the command line, its wire on the run's unix sockets (plan_libvirt.c) */
	CHECK(strstr(xml, "<interface") == NULL);
	CHECK_CONTAINS(xml, "<qemu:arg value='-netdev'/>\n    <qemu:arg value='dgram,id=nlwire0,local.type=unix,"
			    "local.path=/srv/nestlab/run-1/wire-nic.sock,remote.type=unix,"
			    "remote.path=/srv/nestlab/run-1/wire-peer.sock'/>\n"
			    "    <qemu:arg value='-device'/>\n    <qemu:arg value='igb,netdev=nlwire0,id=net0,"
			    "mac=52:54:00:00:00:02,romfile=,bus=pcie.0,addr=0x2'/>");
	CHECK_CONTAINS(xml, "<controller type='usb' model='none'/>");
	CHECK_CONTAINS(xml, "<channel type='unix'>\n      <source mode='bind' path='/srv/nestlab/run-1/agent-l1.sock'/>"
			    "\n      <target type='virtio' name='org.nestlab.agent.0'/>");
	CHECK_CONTAINS(xml, "<source mode='bind' path='/srv/nestlab/run-1/l2-console.sock'/>");
	CHECK_CONTAINS(xml, "<target type='isa-serial' port='1'>");
	CHECK_CONTAINS(xml, "<memballoon model='none'/>");
	CHECK_CONTAINS(xml, "<qemu:arg value='-L'/>\n    <qemu:arg value='/usr/share/seabios'/>");
	CHECK_CONTAINS(xml, "<emulator>/srv/nestlab/cache/qemu/current/qemu-system-x86_64</emulator>");
	CHECK_CONTAINS(xml, "<source file='/srv/nestlab/run-1/l1-overlay.qcow2'/>");
	CHECK_CONTAINS(xml, "<memory unit='KiB'>6291456</memory>");
	CHECK_CONTAINS(xml, "<features>\n    <acpi/>\n    <ioapic driver='qemu'/>\n  </features>");
	if ((rc = xmllint_check(xml, LIBVIRT_DOMAIN_RNG)) != TEST_PASS)
		return rc;

	scn.l0.mode = SCN_L0_LAB;
	scn.nic.host = (char *)"0000:03:00.0";
	CHECK((lab = resolve_ok(&scn, &env)) != NULL);
	lab_xml = plan_l1_domain_xml(lab);
	return xmllint_check(lab_xml, LIBVIRT_DOMAIN_RNG);
}

static int test_l0_qemu_argv(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **argv = NULL;
	cleanup_free char *msg = NULL;

	scn_init(&scn);
	scn.l0.backend = SCN_BACKEND_QEMU;
	scn.nic.model = SCN_NIC_E1000E;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->connect == NULL);
	argv = plan_l0_qemu_argv(p);
	CHECK_STR(argv[0], "/srv/nestlab/cache/qemu/current/qemu-system-x86_64");
	CHECK_STR(argv_value(argv, "-M", ""), "q35");
	CHECK(argv_value(argv, "-accel", "tcg") && argv_value(argv, "-cpu", "max"));
	CHECK_STR(argv_value(argv, "-m", ""), "6G");
	CHECK_STR(argv_value(argv, "-sandbox", ""), "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	CHECK_STR(argv_value(argv, "-L", ""), "/usr/share/seabios");
	CHECK(argv_value(argv, "-netdev", "dgram,id=net0,local.type=unix,local.path=/srv/nestlab/run-1/wire-nic.sock,"
					  "remote.type=unix,remote.path=/srv/nestlab/run-1/wire-peer.sock"));
	CHECK(argv_value(argv, "-device", "e1000e,netdev=net0,mac=52:54:00:00:00:02,romfile=,id=nic0,bus=pcie.0,"
					  "addr=0x2"));
	CHECK(argv_value(argv, "-chardev", "socket,id=serial0,path=/srv/nestlab/run-1/l1-console.sock,server=on,"
					   "wait=off"));
	CHECK(argv_value(argv, "-serial", "chardev:serial1"));
	CHECK_STR(argv_value(argv, "-qmp", ""), "unix:/srv/nestlab/run-1/l1-qmp.sock,server=on,wait=off");
	CHECK_STR(argv_value(argv, "-append", ""),
		  "console=ttyS0 intel_iommu=on root=/dev/vda rw quiet loglevel=4 mitigations=off");

	scn.l0.connect = (char *)"qemu:///system";
	scn.l0.connect_loc = (struct scn_loc){ 4, 12 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(msg, "scenarios/t.yaml:4:12: error: l0.connect is a libvirt URI, but l0.backend is qemu; "
		       "hint: remove l0.connect, or set l0.backend: libvirt");
	return TEST_PASS;
}

static int test_qemu_option_comma_escape(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **argv = NULL;

	scn_init(&scn);
	scn.l0.backend = SCN_BACKEND_QEMU;
	env.run_dir = "/srv/odd,dir";
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	argv = plan_l0_qemu_argv(p);
	CHECK(argv_value(argv, "-drive", "file=/srv/odd,,dir/l1-overlay.qcow2,if=none"));
	CHECK_STR(argv_value(argv, "-qmp", ""), "unix:/srv/odd,,dir/l1-qmp.sock,server=on,wait=off");
	CHECK_STR(argv_value(argv, "-D", ""), "/srv/odd,dir/l0-qemu.log");
	return TEST_PASS;
}

static int test_shell_quote(void)
{
	cleanup_free char *plain = plan_shell_quote("intel-iommu,caching-mode=on");
	cleanup_free char *space = plan_shell_quote("console=ttyS0 intel_iommu=on");
	cleanup_free char *quote = plan_shell_quote("it's");
	cleanup_free char *var = plan_shell_quote("$RUN/l1.sock");
	cleanup_free char *empty = plan_shell_quote("");
	cleanup_free char *mixed = plan_shell_quote("$RUN/a b");
	struct strbuf sb = STRBUF_INIT;
	char *argv[] = { (char *)"qemu", (char *)"-nodefaults", (char *)"-m", (char *)"512M",
			 (char *)"-append", (char *)"a b", NULL };

	CHECK_STR(plain, "intel-iommu,caching-mode=on");
	CHECK_STR(space, "'console=ttyS0 intel_iommu=on'");
	CHECK_STR(quote, "'it'\\''s'");
	CHECK_STR(var, "\"$RUN/l1.sock\"");
	CHECK_STR(empty, "''");
	CHECK_STR(mixed, "'$RUN/a b'");
	plan_format_argv(&sb, argv, "");
	CHECK_STR(sb.str, "qemu \\\n    -nodefaults \\\n    -m 512M \\\n    -append 'a b'\n");
	strbuf_release(&sb);
	return TEST_PASS;
}

static int test_location_free_error(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;

	scn_init(&scn);
	scn.name = NULL;
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_STR(msg, "scenarios/t.yaml: error: the scenario has no name; hint: add name: <short-name> at the top");
	return TEST_PASS;
}

static int test_run_dir_too_long(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;
	char dir[120];

	memset(dir, 'r', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	env.run_dir = dir;
	scn_init(&scn);
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(msg, "scenarios/t.yaml: error: the run directory is too long:");
	CHECK_CONTAINS(msg, "a unix socket path allows 107; hint: use a shorter run directory");
	return TEST_PASS;
}

static int test_timeouts_and_sources(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *msg = NULL;
	cleanup_free char *git = NULL;

	scn_init(&scn);
	scn.timeouts.l2_boot_ms = 300000;
	scn.qemu.version = (char *)"1:10.0.8+ds-1";
	scn.qemu.patches = (char *)"none";
	scn.linux_src.config = (char *)"configs/extra.fragment";
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->timeouts.l2_boot_kvm_ms == 300000 && p->timeouts.l2_boot_tcg_ms == 300000);
	CHECK_STR(p->qemu_src.versions[0], "1:10.0.8+ds-1");
	CHECK(p->qemu_src.versions[1] == NULL && p->qemu_src.suite == NULL);
	CHECK(p->qemu_src.patches == NULL);
	CHECK_STR(p->linux_src.config, "configs/extra.fragment");

	scn.timeouts.total_ms = 10 * 60000;
	scn.timeouts.loc = (struct scn_loc){ 40, 1 };
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(msg, "scenarios/t.yaml:40:1: error: timeouts.total (600 s) is shorter than the stages it "
			    "covers (4140 s)");

	scn_init(&scn);
	scn.linux_src.kind = SCN_SRC_GIT;
	CHECK((git = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(git, "sources.linux is git, but no git path is given");
	return TEST_PASS;
}

static int test_mac_and_sizes(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_free char *msg = NULL;

	scn_init(&scn);
	scn.nic.mac = (char *)"53:54:00:00:00:02";	/* multicast bit set */
	scn.workload.traffic.size_min = 1500;
	scn.workload.traffic.size_max = 100;
	CHECK((msg = resolve_err(&scn, &env)) != NULL);
	CHECK_CONTAINS(msg, "nic.mac 53:54:00:00:00:02 is not a unicast MAC address");
	CHECK_CONTAINS(msg, "workload.traffic.sizes 1500..100 is not a valid range");
	return TEST_PASS;
}

static int test_print_key_lines(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *text = NULL;

	scn_init(&scn);
	scn.description = (char *)"igb assigned L0 -> L1 -> L2";
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	text = plan_format(p);
	CHECK_CONTAINS(text, "Plan t (scenarios/t.yaml)\n  igb assigned L0 -> L1 -> L2\n");
	CHECK_CONTAINS(text, "\nL0  host\n  mode        emulated (default): L0's QEMU emulates the NIC\n"
			     "  NIC         igb (default), mac 52:54:00:00:00:02 (default)\n"
			     "              to L2: vfio-pci (default)\n");
	CHECK_CONTAINS(text, "  backend     libvirt (default), qemu:///embed?root=/run/nestlab/run-a1b2c3/libvirt (default)\n");
	CHECK_CONTAINS(text, "  firmware    -L /usr/share/seabios -L /usr/share/qemu\n");
	CHECK_CONTAINS(text, "  sandbox     -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny "
			     "(libvirt, qemu.conf seccomp_sandbox = 1)\n");
	CHECK_CONTAINS(text, "\nL1  guest of L0, run by L0's QEMU\n  machine     q35 (default)\n"
			     "  memory      6G (default)\n");
	CHECK_CONTAINS(text, "  accel       tcg, -cpu max (auto, the default: no usable KVM at L0 (/dev/kvm plus vmx/svm)): TCG offers AMD SVM+NPT");
	CHECK_CONTAINS(text, "  vIOMMU      intel-iommu caching-mode=on intremap=on aw-bits=48 x-scalable-mode=off "
			     "(all default); x-query-vtd-mappings max-entries=262144 max-tables=16384\n");
	CHECK_CONTAINS(text, "  accel       auto (default), decided in L1 at run time: kvm (-cpu host) if "
			     "`modprobe kvm_amd`");
	CHECK_CONTAINS(text, "Device path\n  L0 QEMU igb (netdev dgram, unix /srv/nestlab/run-1/wire-nic.sock <-> peer "
			     "/srv/nestlab/run-1/wire-peer.sock)\n"
			     "  -> L1 0000:00:02.0 behind intel-iommu (L0)\n  -> vfio-pci in L1\n"
			     "  -> L2 QEMU vfio-pci host=0000:00:02.0 behind intel-iommu (L1)\n"
			     "  -> L2 0000:00:02.0\n  -> igb driver in L2\n");
	CHECK_CONTAINS(text, "L1 domain XML (libvirt, qemu:///embed?root=/run/nestlab/run-a1b2c3/libvirt)\n<domain ");
	CHECK_CONTAINS(text, "\nL2 QEMU argv, KVM (run in L1 once kvm_amd or kvm_intel gives /dev/kvm)\n"
			     "qemu-system-x86_64 \\\n    -M q35,kernel-irqchip=split \\\n    -accel kvm \\\n");
	CHECK_CONTAINS(text, "\nL2 QEMU argv, TCG fallback (run in L1 when L1 has no /dev/kvm)\n"
			     "qemu-system-x86_64 \\\n    -M q35 \\\n    -accel tcg \\\n    -cpu max \\\n");
	CHECK_CONTAINS(text, "    -device intel-iommu,caching-mode=on,intremap=on,aw-bits=48 \\\n");
	CHECK_CONTAINS(text, "    -append 'console=ttyS0 intel_iommu=on quiet loglevel=4 mitigations=off no-kvmclock' \\\n");
	CHECK_CONTAINS(text, "  seed        chosen at run time (recorded in the run directory)\n");
	CHECK_CONTAINS(text, "  frames      1000 per direction (default)\n  sizes       60..1514 bytes without FCS "
			     "(default)\n  direction   both (default)\n  payload     random (default)\n");
	CHECK_CONTAINS(text, "Checks (default: all that apply)\n  traffic       frames sent each way");
	CHECK_CONTAINS(text, "  shadow        each L2 IOVA agrees at L2, L1 QEMU's shadow map");
	CHECK_CONTAINS(text, "Expectation\n  pass (default):");
	CHECK_CONTAINS(text, "  l2_boot     120s (600s when L2 falls back to TCG) (default)\n");
	CHECK_CONTAINS(text, "  build       60m (default)\n");
	CHECK_CONTAINS(text, "  total       90m (default)\n");
	CHECK_CONTAINS(text, "  qemu        debian source qemu 1:10.0.13+ds-0+deb13u1, then what trixie lists "
			     "(1:10.0.*); patches patches/qemu (default)\n");
	CHECK_CONTAINS(text, "  linux       debian source linux 6.12.107-1, then 6.12.38-1; patches patches/linux "
			     "(default)\n");
	CHECK(strstr(text, "Notes") == NULL);
	return TEST_PASS;
}

static int test_print_marks_only_defaults(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *text = NULL;

	scn_init(&scn);
	scn.description = (char *)"first line\nsecond line\n";
	scn.l1.memory_bytes = 4 * GiB;
	scn.l1.accel = SCN_ACCEL_TCG;
	scn.l2.viommu.model = SCN_VIOMMU_INTEL;
	scn.l2.viommu.caching_mode = SCN_TRUE;
	scn.l2.accel = SCN_ACCEL_TCG;
	scn.timeouts.l2_boot_ms = 7 * 60000;
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(!plan_defaulted(p->l1.defaulted, PLAN_G_MEMORY) && plan_defaulted(p->l1.defaulted, PLAN_G_CPUS));
	text = plan_format(p);
	CHECK_CONTAINS(text, "Plan t (scenarios/t.yaml)\n  first line\n  second line\n\nL0  host\n");
	CHECK_CONTAINS(text, "  memory      4G\n  cpus        2 (default)\n");
	CHECK_CONTAINS(text, "  accel       tcg, -cpu max (set by the scenario): TCG offers");
	CHECK_CONTAINS(text, "intel-iommu caching-mode=on intremap=on aw-bits=48 x-scalable-mode=off "
			     "(default: intremap, aw-bits, x-scalable-mode); x-query-vtd-mappings max-entries=262144 "
			     "max-tables=16384\n");
	CHECK_CONTAINS(text, "  accel       tcg (set by the scenario)\n");
	CHECK_CONTAINS(text, "  l2_boot     420s\n");
	/* L2 fixed to TCG: only the TCG argv is printed */
	CHECK_CONTAINS(text, "\nL2 QEMU argv, TCG (run in L1)\n");
	CHECK(strstr(text, "L2 QEMU argv, KVM") == NULL);
	return TEST_PASS;
}

static int test_expect_message_mismatch_note(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;

	scn_init(&scn);
	scn.l2.viommu.caching_mode = SCN_FALSE;
	scn.expect.outcome = SCN_EXPECT_REFUSAL;
	scn.expect.stage = SCN_STAGE_L2_START;
	scn.expect.message = (char *)"caching mode required";
	scn.expect.message_loc = (struct scn_loc){ 23, 12 };
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	CHECK(p->notes && p->notes[0]);
	CHECK_CONTAINS(p->notes[0], "scenarios/t.yaml:23:12: warning: expect.message \"caching mode required\" is not "
				    "part of the refusal QEMU is known to print");
	CHECK_STR(p->expect_message, "caching mode required");
	return TEST_PASS;
}

static int test_golden_print(void)
{
	struct plan_env env = test_env();
	struct scenario scn;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *text = NULL;
	cleanup_free char *path = test_fixture("plan-default.txt");
	cleanup_free char *golden = NULL;
	cleanup_file FILE *f = NULL;
	size_t len = 0;

	scn_init(&scn);
	scn.name = (char *)"nested-igb";
	scn.path = (char *)"scenarios/nested-igb.yaml";
	CHECK((p = resolve_ok(&scn, &env)) != NULL);
	text = plan_format(p);
	if (getenv("NESTLAB_UPDATE_GOLDEN")) {
		CHECK((f = fopen(path, "w")) != NULL);
		CHECK(fputs(text, f) >= 0);
		return TEST_PASS;
	}
	if (!(f = fopen(path, "r")))
		return test_skip("no golden file %s (NESTLAB_UPDATE_GOLDEN=1 writes it): %s", path, strerror(errno));
	CHECK(getdelim(&golden, &len, '\0', f) >= 0);
	if (strcmp(golden, text))
		test_diag("the plan differs from %s; if the change is intended, rerun with NESTLAB_UPDATE_GOLDEN=1 "
			  "and review the diff. Now:\n%s", path, text);
	CHECK_STR(golden, text);
	return TEST_PASS;
}

/* parse_scenario() - parse scenarios/NAME (found from the fixtures directory); NULL with a diagnostic */
static struct scenario *parse_scenario(const char *name)
{
	cleanup_free char *rel = xasprintf("../../../scenarios/%s", name);
	cleanup_free char *path = test_fixture(rel);
	cleanup_error nl_error_t err = NULL;
	struct scenario *scn = NULL;

	if (scenario_parse_file(path, &scn, &err) < 0) {
		test_diag("scenario_parse_file(%s): %s", path, err->msg);
		return NULL;
	}
	return scn;
}

/* line_of() - 1-based line of the first line of @scn's file that starts with @prefix, or 0 */
static unsigned line_of(const struct scenario *scn, const char *prefix)
{
	cleanup_file FILE *f = fopen(scn->path, "r");
	char line[1024];
	unsigned n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		n++;
		if (!strncmp(line, prefix, strlen(prefix)))
			return n;
	}
	return 0;
}

static int test_scenario_nested_igb(void)
{
	struct plan_env env = test_env();
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *xml = NULL;
	cleanup_free char *text = NULL;
	cleanup_strv char **l2 = NULL;

	CHECK((scn = parse_scenario("nested-igb.yaml")) != NULL);
	CHECK((p = resolve_ok(scn, &env)) != NULL);
	CHECK_STR(p->name, "nested-igb");
	CHECK(p->nic.mode == SCN_L0_EMULATED && p->backend == SCN_BACKEND_LIBVIRT && p->nic.model == SCN_NIC_IGB);
	CHECK_STR(p->nic.mac, "52:54:00:12:34:56");
	CHECK(!plan_defaulted(p->defaulted, PLAN_F_MAC) && !plan_defaulted(p->defaulted, PLAN_F_CHECKS));
	CHECK(p->l1.accel == PLAN_ACCEL_TCG && p->l2.accel == PLAN_ACCEL_RUNTIME);
	CHECK(p->l1.viommu.caching_mode && p->l2.viommu.caching_mode);
	for (int c = 0; c < SCN_CHECK__COUNT; c++)
		CHECK(p->checks[c]);
	CHECK(p->timeouts.l2_boot_kvm_ms == 7 * 60000 && p->timeouts.l2_boot_tcg_ms == 7 * 60000);
	CHECK(p->expect == SCN_EXPECT_PASS && p->notes == NULL);
	l2 = plan_l2_qemu_argv(p, true);
	CHECK(argv_index(l2, "intel-iommu,caching-mode=on") < argv_index(l2, "vfio-pci,host=0000:00:02.0"));
	text = plan_format(p);
	CHECK_CONTAINS(text, "Plan nested-igb (");
	CHECK_CONTAINS(text, "\n  Emulated igb assigned L0 -> L1 -> L2 with vfio-pci behind intel-iommu (caching-mode=on)");
	CHECK_CONTAINS(text, "  NIC         igb, mac 52:54:00:12:34:56\n");
	CHECK_CONTAINS(text, "  l2_boot     420s\n");
	xml = plan_l1_domain_xml(p);
	CHECK_CONTAINS(xml, "igb,netdev=nlwire0,id=net0,mac=52:54:00:12:34:56,romfile=");
	return xmllint_check(xml, LIBVIRT_DOMAIN_RNG);
}

static int test_scenario_nested_ixgbe(void)
{
	struct plan_env env = test_env();
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *p = NULL;
	cleanup_free char *xml = NULL;
	cleanup_free char *msg = NULL;
	cleanup_free char *where = NULL;

	CHECK((scn = parse_scenario("nested-ixgbe.yaml")) != NULL);
	CHECK((p = resolve_ok(scn, &env)) != NULL);
	CHECK(p->nic.mode == SCN_L0_LAB);
	CHECK_STR(p->nic.host_bdf, "0000:03:00.1");
	CHECK_STR(p->nic.host_bdf_var, "NESTLAB_HOST_NIC");
	xml = plan_l1_domain_xml(p);
	CHECK_CONTAINS(xml, "<address domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>");
	CHECK(strstr(xml, "<interface") == NULL);

	/* the variable unset: the error points at nic.host in the file */
	env.getenv = NULL;
	CHECK((msg = resolve_err(scn, &env)) != NULL);
	CHECK(line_of(scn, "  host:") > 0);
	where = xasprintf("%s:%u:", scn->path, line_of(scn, "  host:"));
	CHECK(!strncmp(msg, where, strlen(where)));
	CHECK_CONTAINS(msg, ": error: nic.host names $NESTLAB_HOST_NIC, which is not set in the environment; "
			    "hint: export NESTLAB_HOST_NIC=DDDD:BB:DD.F");
	return xmllint_check(xml, LIBVIRT_DOMAIN_RNG);
}

static int test_scenario_refusal(void)
{
	struct plan_env env = test_env();
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *p = NULL;
	cleanup_strv char **l2 = NULL;

	CHECK((scn = parse_scenario("refuse-no-caching-mode.yaml")) != NULL);
	CHECK((p = resolve_ok(scn, &env)) != NULL);
	CHECK(p->expect == SCN_EXPECT_REFUSAL && p->expect_stage == SCN_STAGE_L2_START);
	CHECK_STR(p->expect_message, "caching-mode=on");
	CHECK(p->notes == NULL);
	l2 = plan_l2_qemu_argv(p, false);
	CHECK(argv_value(l2, "-device", "intel-iommu,caching-mode=off,"));
	return TEST_PASS;
}

static int test_every_scenario_resolves(void)
{
	struct plan_env env = test_env();
	cleanup_free char *pattern = test_fixture("../../../scenarios/*.yaml");
	glob_t files;
	size_t n;

	if (glob(pattern, 0, NULL, &files) != 0)
		return test_skip("no scenarios match %s", pattern);
	n = files.gl_pathc;
	for (size_t i = 0; i < files.gl_pathc; i++) {
		cleanup_scenario struct scenario *scn = NULL;
		cleanup_error nl_error_t err = NULL;
		cleanup_plan struct plan *p = NULL;
		cleanup_free char *text = NULL;

		if (scenario_parse_file(files.gl_pathv[i], &scn, &err) < 0 || plan_resolve(scn, &env, &p, &err) < 0) {
			test_diag("%s: %s", files.gl_pathv[i], err->msg);
			globfree(&files);
			return TEST_FAIL;
		}
		text = plan_format(p);
		if (!strstr(text, "\nSources\n")) {
			globfree(&files);
			return TEST_FAIL;
		}
	}
	globfree(&files);
	test_diag("%zu scenarios resolve", n);
	return TEST_PASS;
}

static int test_env_default(void)
{
	struct plan_env env;
	cleanup_free char *saved = getenv("NESTLAB_CACHE") ? xstrdup(getenv("NESTLAB_CACHE")) : NULL;

	setenv("NESTLAB_CACHE", "/srv/cache-x", 1);
	plan_env_init_default(&env, NULL);
	CHECK_STR(env.cache_dir, "/srv/cache-x");
	CHECK_STR(env.qemu_binary, "/srv/cache-x/qemu/current/qemu-system-x86_64");
	CHECK(env.run_dir == NULL);
	CHECK(env.getenv != NULL && !strcmp(env.getenv("NESTLAB_CACHE"), "/srv/cache-x"));
	/* KVM counts only where /dev/kvm opens and the CPU advertises vmx or svm */
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		CHECK(!env.host_has_kvm);
	{
		cleanup_free char *out = NULL;
		cleanup_error nl_error_t perr = NULL;
		const char *argv[] = { "grep", "-qwE", "vmx|svm", "/proc/cpuinfo", NULL };
		bool hw = proc_run((char **)argv, 5000, &out, &perr) == 0;

		if (!hw)
			CHECK(!env.host_has_kvm);
	}
	plan_env_release(&env);
	if (saved)
		setenv("NESTLAB_CACHE", saved, 1);
	else
		unsetenv("NESTLAB_CACHE");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_defaults),
	TEST_CASE(test_placeholders_when_printing),
	TEST_CASE(test_l1_accel_rule),
	TEST_CASE(test_l1_kvm_without_host_kvm),
	TEST_CASE(test_l2_accel_variants),
	TEST_CASE(test_irqchip_split_only_kvm_intremap),
	TEST_CASE(test_intel_iommu_first_device),
	TEST_CASE(test_caching_mode_contradiction),
	TEST_CASE(test_caching_mode_refusal_expected),
	TEST_CASE(test_refusal_not_refused),
	TEST_CASE(test_drop_map_notify),
	TEST_CASE(test_l2_must_fit_l1),
	TEST_CASE(test_checks_need_l2_iommu),
	TEST_CASE(test_intremap_off_is_a_note),
	TEST_CASE(test_lab_hostdev),
	TEST_CASE(test_lab_env_variable),
	TEST_CASE(test_lab_needs_host),
	TEST_CASE(test_lab_caching_mode_refused_at_l1),
	TEST_CASE(test_dpdk_image),
	TEST_CASE(test_xml_escaping),
	TEST_CASE(test_xml_libvirt_schema),
	TEST_CASE(test_l0_qemu_argv),
	TEST_CASE(test_qemu_option_comma_escape),
	TEST_CASE(test_shell_quote),
	TEST_CASE(test_location_free_error),
	TEST_CASE(test_run_dir_too_long),
	TEST_CASE(test_timeouts_and_sources),
	TEST_CASE(test_mac_and_sizes),
	TEST_CASE(test_print_key_lines),
	TEST_CASE(test_print_marks_only_defaults),
	TEST_CASE(test_expect_message_mismatch_note),
	TEST_CASE(test_golden_print),
	TEST_CASE(test_scenario_nested_igb),
	TEST_CASE(test_scenario_nested_ixgbe),
	TEST_CASE(test_scenario_refusal),
	TEST_CASE(test_every_scenario_resolves),
	TEST_CASE(test_env_default),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
