/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_scenario.c - unit tests for the scenario parser (scenario.c, scenario_schema.c, scenario_value.c)
 *
 * Good fixtures and the shipped scenarios/ files must parse into the fields they say; each bad fixture
 * (orchestrator/tests/fixtures/bad-*.yaml) must fail with its problem at an exact FILE:LINE:COL, and
 * every line of every error must carry a hint. Run from the repository root (make check does).
 */
#include <errno.h>
#include <stdlib.h>

#include "scenario.h"
#include "test.h"

/* parse_fixture() - parse fixtures/@name, or @name itself when it holds a '/' */
static int parse_fixture(const char *name, struct scenario **out, nl_error_t *err)
{
	cleanup_free char *path = strchr(name, '/') ? xstrdup(name) : test_fixture(name);

	return scenario_parse_file(path, out, err);
}

/* all_lines_have_hints() - every line is "FILE:LINE:COL: error: WHAT; hint: WHAT TO DO" */
static bool all_lines_have_hints(const char *msg, size_t *n_lines)
{
	cleanup_free char *copy = xstrdup(msg);
	char *save = NULL;

	*n_lines = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *hint = strstr(line, "; hint: ");
		const char *error = strstr(line, ": error: ");

		(*n_lines)++;
		if (!error || !hint || hint < error || !hint[8]) {
			test_diag("line without a hint: %s", line);
			return false;
		}
	}
	return true;
}

/**
 * expect_bad() - a fixture must fail, first at @line:@col, with @what in the first line
 * @name:	fixture file name
 * @line:	1-based line of the first problem
 * @col:	1-based column of the first problem
 * @n_lines:	how many problems (lines) the message holds
 * @what:	a substring of the first line
 */
static int expect_bad(const char *name, unsigned line, unsigned col, size_t n_lines, const char *what)
{
	cleanup_free char *path = test_fixture(name);
	cleanup_free char *prefix = xasprintf("%s:%u:%u: error: ", path, line, col);
	cleanup_free char *first = NULL;
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	size_t lines;

	CHECK(scenario_parse_file(path, &scn, &err) == -1);
	CHECK(scn == NULL);
	CHECK(err && err->msg);
	CHECK(err->errnum == EINVAL);
	first = xstrndup(err->msg, strcspn(err->msg, "\n"));
	if (strncmp(first, prefix, strlen(prefix))) {
		test_diag("expected the first problem at %s", prefix);
		test_diag("got: %s", err->msg);
		return TEST_FAIL;
	}
	CHECK_CONTAINS(first, what);
	CHECK(all_lines_have_hints(err->msg, &lines));
	if (lines != n_lines) {
		test_diag("expected %zu problems, got %zu:\n%s", n_lines, lines, err->msg);
		return TEST_FAIL;
	}
	return TEST_PASS;
}

/* expect_bad_buffer() - as expect_bad(), for bytes in memory */
static int expect_bad_buffer(const char *data, size_t len, unsigned line, unsigned col, const char *what)
{
	cleanup_free char *prefix = xasprintf("mem.yaml:%u:%u: error: ", line, col);
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	size_t lines;

	CHECK(scenario_parse_buffer("mem.yaml", data, len, &scn, &err) == -1);
	CHECK(scn == NULL);
	if (strncmp(err->msg, prefix, strlen(prefix))) {
		test_diag("expected %s, got: %s", prefix, err->msg);
		return TEST_FAIL;
	}
	CHECK_CONTAINS(err->msg, what);
	CHECK(all_lines_have_hints(err->msg, &lines));
	CHECK(lines == 1);
	return TEST_PASS;
}

/* ---- good files --------------------------------------------------------------------------------- */

static int test_good_minimal(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(parse_fixture("good-minimal.yaml", &scn, &err) == 0);
	CHECK_STR(scn->name, "minimal");
	CHECK_CONTAINS(scn->path, "good-minimal.yaml");
	/* nothing else is set: defaults are plan.c's business */
	CHECK(scn->l0.mode == SCN_L0_MODE_UNSET && scn->l0.backend == SCN_BACKEND_UNSET);
	CHECK(scn->l1.memory_bytes == 0 && scn->l1.cpus == 0 && scn->l1.accel == SCN_ACCEL_UNSET);
	CHECK(scn->l2.viommu.model == SCN_VIOMMU_UNSET && scn->l2.viommu.caching_mode == SCN_UNSET);
	CHECK(scn->l2.viommu.aw_bits == 0 && scn->l2.viommu.loc.line == 0);
	CHECK(scn->nic.model == SCN_NIC_UNSET && !scn->nic.host && !scn->nic.mac);
	CHECK(!scn->checks_set && !scn->workload.traffic.seed_set);
	CHECK(scn->expect.outcome == SCN_EXPECT_UNSET && scn->timeouts.total_ms == 0);
	CHECK(scn->qemu.kind == SCN_SRC_UNSET && scn->linux_src.kind == SCN_SRC_UNSET);
	return TEST_PASS;
}

static int test_good_full_guests(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(parse_fixture("good-full.yaml", &scn, &err) == 0);
	CHECK_STR(scn->name, "full-0");
	CHECK_STR(scn->description, "Two lines\nof text.\n");
	CHECK(scn->l0.mode == SCN_L0_EMULATED && scn->l0.backend == SCN_BACKEND_QEMU && !scn->l0.connect);
	CHECK(scn->l1.memory_bytes == 8ULL << 30 && scn->l1.cpus == 4 && scn->l1.accel == SCN_ACCEL_KVM);
	CHECK_STR(scn->l1.machine, "q35");
	CHECK_STR(scn->l1.image, "/var/lib/images/debian-12.qcow2");
	CHECK(strv_len(scn->l1.kernel_args) == 2);
	CHECK_STR(scn->l1.kernel_args[1], "intel_iommu=on");
	CHECK(scn->l1.viommu.model == SCN_VIOMMU_INTEL && scn->l1.viommu.caching_mode == SCN_TRUE);
	CHECK(scn->l1.viommu.intremap == SCN_FALSE && scn->l1.viommu.aw_bits == 39);
	CHECK(scn->l1.viommu.scalable_mode == SCN_TRUE && scn->l1.viommu.drop_map_notify == 3);
	CHECK(scn->l1.viommu.max_mappings == 100 && scn->l1.viommu.max_tables == 50);
	CHECK(scn->l2.memory_bytes == 1073741824ULL && scn->l2.cpus == 1 && scn->l2.accel == SCN_ACCEL_TCG);
	CHECK_STR(scn->l2.image, "dpdk");
	CHECK(strv_len(scn->l2.kernel_args) == 1);
	CHECK_STR(scn->l2.kernel_args[0], "quiet");
	CHECK(scn->l2.viommu.model == SCN_VIOMMU_NONE);
	return TEST_PASS;
}

static int test_good_full_rest(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	const struct scn_traffic *t;

	CHECK(parse_fixture("good-full.yaml", &scn, &err) == 0);
	t = &scn->workload.traffic;
	CHECK(scn->nic.model == SCN_NIC_E1000E && scn->nic.l2_assign == SCN_ASSIGN_NONE);
	CHECK_STR(scn->nic.mac, "52:54:00:ab:cd:ef");
	CHECK(scn->workload.driver == SCN_DRIVER_DPDK);
	CHECK(t->frames == 1000000 && t->size_min == 64 && t->size_max == 64);
	CHECK(t->direction == SCN_DIR_FROM_L2 && t->payload == SCN_PAYLOAD_PATTERN);
	CHECK(t->seed_set && t->seed == UINT64_MAX);
	CHECK(scn->checks_set && scn->checks[SCN_CHECK_FAULTS] && scn->checks[SCN_CHECK_TRAFFIC]);
	CHECK(!scn->checks[SCN_CHECK_SHADOW] && !scn->checks[SCN_CHECK_UNMAP] && !scn->checks[SCN_CHECK_IOMMU_IN_USE]);
	CHECK(scn->expect.outcome == SCN_EXPECT_REFUSAL && scn->expect.stage == SCN_STAGE_L2_BOOT);
	CHECK_STR(scn->expect.message, "caching-mode=on");
	CHECK(scn->timeouts.build_ms == 3600000 && scn->timeouts.l1_boot_ms == 90000);
	CHECK(scn->timeouts.l2_boot_ms == 120000 && scn->timeouts.traffic_ms == 500);
	CHECK(scn->timeouts.checks_ms == 45000 && scn->timeouts.teardown_ms == 20000);
	CHECK(scn->timeouts.total_ms == 168ULL * 3600 * 1000);
	CHECK(scn->qemu.kind == SCN_SRC_GIT);
	CHECK_STR(scn->qemu.git, "/src/qemu");
	CHECK_STR(scn->qemu.ref, "v10.0.0");
	CHECK_STR(scn->qemu.patches, "none");
	CHECK(scn->linux_src.kind == SCN_SRC_DEBIAN);
	CHECK_STR(scn->linux_src.version, "6.1.140-1");
	CHECK_STR(scn->linux_src.config, "configs/extra.fragment");
	return TEST_PASS;
}

/* each value remembers where it was written: the value's position, a section's key position */
static int test_good_full_locations(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(parse_fixture("good-full.yaml", &scn, &err) == 0);
	CHECK(scn->l0.loc.line == 6 && scn->l0.loc.col == 1);
	CHECK(scn->l0.mode_loc.line == 7 && scn->l0.mode_loc.col == 9);
	CHECK(scn->l1.loc.line == 9 && scn->l1.memory_loc.line == 10 && scn->l1.memory_loc.col == 11);
	CHECK(scn->l1.viommu.loc.line == 16 && scn->l1.viommu.loc.col == 3);
	CHECK(scn->l1.viommu.caching_mode_loc.line == 18 && scn->l1.viommu.caching_mode_loc.col == 19);
	CHECK(scn->l1.viommu.drop_map_notify_loc.line == 22);
	CHECK(scn->workload.traffic.sizes_loc.line == 42 && scn->workload.traffic.sizes_loc.col == 12);
	CHECK(scn->checks_loc.line == 47 && scn->checks_loc.col == 3);
	CHECK(scn->expect.stage_loc.line == 51 && scn->expect.stage_loc.col == 10);
	CHECK(scn->qemu.kind_loc.line == 62 && scn->qemu.kind_loc.col == 11);
	CHECK(scn->timeouts.loc.line == 53);
	return TEST_PASS;
}

static int test_good_lab(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(parse_fixture("good-lab.yaml", &scn, &err) == 0);
	CHECK_STR(scn->name, "lab-1");
	CHECK(scn->l0.mode == SCN_L0_LAB && scn->l0.backend == SCN_BACKEND_LIBVIRT);
	CHECK_STR(scn->l0.connect, "qemu:///system");
	CHECK_STR(scn->nic.host, "0000:af:1f.7");
	CHECK(scn->l1.loc.line == 5 && scn->l1.cpus == 0);	/* "l1:" with no keys */
	CHECK(scn->linux_src.kind == SCN_SRC_TARBALL);
	CHECK_STR(scn->linux_src.tarball, "/src/linux-6.12.tar.xz");
	CHECK_STR(scn->linux_src.patches, "patches/linux");
	return TEST_PASS;
}

/* nested-igb.yaml and nested-e1000e.yaml differ only in the NIC model (and MAC) */
static int check_nested_emulated(const char *file, const char *name, enum scn_nic_model model)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	const struct scn_guest *guests[] = { NULL, NULL };

	if (scenario_parse_file(file, &scn, &err) < 0) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	guests[0] = &scn->l1;
	guests[1] = &scn->l2;
	CHECK_STR(scn->name, name);
	CHECK(scn->l0.mode == SCN_L0_EMULATED && scn->nic.model == model);
	for (size_t i = 0; i < ARRAY_SIZE(guests); i++) {
		CHECK(guests[i]->accel == SCN_ACCEL_AUTO);
		CHECK(guests[i]->viommu.model == SCN_VIOMMU_INTEL && guests[i]->viommu.caching_mode == SCN_TRUE);
		CHECK(guests[i]->viommu.intremap == SCN_TRUE && guests[i]->viommu.aw_bits == 48);
	}
	CHECK(scn->workload.driver == SCN_DRIVER_KERNEL && scn->workload.traffic.frames == 1000);
	CHECK(scn->workload.traffic.size_min == 60 && scn->workload.traffic.size_max == 1514);
	CHECK(scn->workload.traffic.direction == SCN_DIR_BOTH);
	CHECK(scn->workload.traffic.payload == SCN_PAYLOAD_RANDOM && !scn->workload.traffic.seed_set);
	for (int c = 0; c < SCN_CHECK__COUNT; c++)
		CHECK(scn->checks[c]);
	/* L1 boots in 13-20 s; L2 in 20-28 s under KVM, 130-200 s TCG in TCG */
	CHECK(scn->timeouts.l1_boot_ms >= 40000 && scn->timeouts.l2_boot_ms >= 300000);
	CHECK(scn->expect.outcome == SCN_EXPECT_UNSET);
	return TEST_PASS;
}

static int test_scenario_nested_igb(void)
{
	return check_nested_emulated("scenarios/nested-igb.yaml", "nested-igb", SCN_NIC_IGB);
}

static int test_scenario_nested_e1000e(void)
{
	return check_nested_emulated("scenarios/nested-e1000e.yaml", "nested-e1000e", SCN_NIC_E1000E);
}

static int test_scenario_nested_ixgbe(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(scenario_parse_file("scenarios/nested-ixgbe.yaml", &scn, &err) == 0);
	CHECK_STR(scn->name, "nested-ixgbe");
	CHECK(scn->l0.mode == SCN_L0_LAB && scn->nic.model == SCN_NIC_UNSET);
	CHECK_STR(scn->nic.host, "$NESTLAB_HOST_NIC");
	CHECK(scn->nic.l2_assign == SCN_ASSIGN_VFIO_PCI);
	CHECK(scn->l2.viommu.caching_mode == SCN_TRUE);
	return TEST_PASS;
}

static int test_scenario_refuse_no_caching_mode(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(scenario_parse_file("scenarios/refuse-no-caching-mode.yaml", &scn, &err) == 0);
	CHECK(scn->l1.viommu.caching_mode == SCN_TRUE && scn->l2.viommu.caching_mode == SCN_FALSE);
	CHECK(scn->l2.viommu.model == SCN_VIOMMU_INTEL);
	CHECK(scn->expect.outcome == SCN_EXPECT_REFUSAL && scn->expect.stage == SCN_STAGE_L2_START);
	CHECK_STR(scn->expect.message, "caching-mode=on");
	/* the message QEMU prints (hw/i386/intel_iommu.c) must contain the expected substring */
	CHECK_CONTAINS("We need to set caching-mode=on for intel-iommu to enable device assignment with IOMMU "
		       "protection.", scn->expect.message);
	return TEST_PASS;
}

/* the same text through scenario_parse_buffer(), with the name standing in for a path */
static int test_buffer_ok(void)
{
	static const char text[] = "name: buf\nl1: {cpus: 3, memory: 2048M}\ncheckS: []\n";
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	/* "checkS" is a typo: one problem, suggesting "checks" */
	CHECK(scenario_parse_buffer("buf.yaml", text, sizeof(text) - 1, &scn, &err) == -1);
	CHECK_STR(err->msg, "buf.yaml:3:1: error: unknown key \"checkS\" at the top level; hint: did you mean "
		  "\"checks\"?");
	nl_error_release(&err);
	CHECK(scenario_parse_buffer("buf.yaml", text, sizeof(text) - 12, &scn, &err) == 0);
	CHECK(scn->l1.cpus == 3 && scn->l1.memory_bytes == 2048ULL << 20);
	CHECK_STR(scn->path, "buf.yaml");
	return TEST_PASS;
}

static int test_names(void)
{
	CHECK_STR(scn_check_name(SCN_CHECK_IOMMU_IN_USE), "iommu-in-use");
	CHECK_STR(scn_accel_name(SCN_ACCEL_TCG), "tcg");
	CHECK_STR(scn_accel_name(SCN_ACCEL_UNSET), "unset");
	CHECK_STR(scn_driver_name(SCN_DRIVER_VFIO_USER), "vfio-user");
	CHECK_STR(scn_nic_model_name(SCN_NIC_E1000E), "e1000e");
	CHECK_STR(scn_direction_name(SCN_DIR_TO_L2), "to-l2");
	CHECK_STR(scn_payload_name(SCN_PAYLOAD_ZERO), "zero");
	CHECK_STR(scn_stage_name(SCN_STAGE_L2_START), "l2-start");
	CHECK_STR(scn_stage_name((enum scn_stage)99), "invalid");
	return TEST_PASS;
}

/* ---- bad files: syntax and structure ------------------------------------------------------------ */

#define BAD(fn, file, line, col, n_lines, what) \
	static int fn(void) { return expect_bad(file, line, col, n_lines, what); }

BAD(test_bad_syntax_indent, "bad-syntax-indent.yaml", 4, 2, 1, "invalid YAML: did not find expected key")
BAD(test_bad_syntax_tab, "bad-syntax-tab.yaml", 3, 1, 1, "replace the tabs")
BAD(test_bad_syntax_quote, "bad-syntax-quote.yaml", 5, 1, 1, "quoted scalar that starts at 2:14")
BAD(test_bad_alias, "bad-alias.yaml", 2, 5, 2, "YAML anchor &guest is not accepted")
BAD(test_bad_tag, "bad-tag.yaml", 3, 9, 1, "YAML tag !!int is not accepted")
BAD(test_bad_multidoc, "bad-multidoc.yaml", 2, 1, 1, "a second YAML document")
BAD(test_bad_toplevel_list, "bad-toplevel-list.yaml", 1, 1, 1, "top level must be a mapping")
BAD(test_bad_toplevel_scalar, "bad-toplevel-scalar.yaml", 1, 1, 1, "found a single value")
BAD(test_bad_empty, "bad-empty.yaml", 1, 1, 1, "the scenario is empty")
BAD(test_bad_deep, "bad-deep.yaml", 2, 12, 1, "nesting is deeper than 8 levels")
BAD(test_bad_complex_key, "bad-complex-key.yaml", 2, 3, 1, "a key must be a plain name")

/* ---- bad files: keys --------------------------------------------------------------------------- */

BAD(test_bad_unknown_key, "bad-unknown-key.yaml", 4, 5, 1,
    "unknown key \"cachng_mode\" in l1.viommu; hint: did you mean \"caching_mode\"?")
BAD(test_bad_unknown_key_list, "bad-unknown-key-list.yaml", 3, 3, 1,
    "hint: valid keys here are model, host, mac, l2_assign")
BAD(test_bad_key_wrong_level, "bad-key-wrong-level.yaml", 3, 3, 1,
    "hint: caching_mode belongs in l1.viommu or l2.viommu")
BAD(test_bad_dotted_key, "bad-dotted-key.yaml", 2, 1, 1, "YAML does not split dotted keys")
BAD(test_bad_duplicate_key, "bad-duplicate-key.yaml", 5, 3, 1, "l1.cpus is given twice (first at 3:3)")
BAD(test_bad_missing_name, "bad-missing-name.yaml", 2, 1, 1, "name is missing")

/* ---- bad files: values ------------------------------------------------------------------------- */

BAD(test_bad_type_mapping, "bad-type-mapping.yaml", 2, 5, 1, "l1: expected a mapping of keys, found a single value")
BAD(test_bad_type_scalar, "bad-type-scalar.yaml", 4, 5, 1, "l1.cpus: expected a whole number, found a mapping")
BAD(test_bad_null_value, "bad-null-value.yaml", 3, 9, 1, "l1.accel has no value")
BAD(test_bad_bool, "bad-bool.yaml", 4, 19, 1, "\"maybe\" is not a boolean; hint: use true or false")
BAD(test_bad_bool_quoted, "bad-bool-quoted.yaml", 4, 15, 1, "found the quoted text \"true\"; hint: remove the quotes")
BAD(test_bad_int_overflow, "bad-int-overflow.yaml", 4, 11, 1,
    "is out of range; hint: use a value from 0 to 18446744073709551615")
BAD(test_bad_int_octal, "bad-int-octal.yaml", 3, 9, 1, "starts with 0")
BAD(test_bad_range, "bad-range.yaml", 3, 9, 1, "l1.cpus: 65 is out of range; hint: use a value from 1 to 64")
BAD(test_bad_frames, "bad-frames.yaml", 4, 13, 1, "from 1 to 1000000")
BAD(test_bad_enum, "bad-enum.yaml", 3, 10, 1, "did you mean \"tcg\"? valid values: auto, kvm, tcg")
BAD(test_bad_machine, "bad-machine.yaml", 3, 12, 1, "hint: use q35")
BAD(test_bad_memory, "bad-memory.yaml", 3, 11, 1, "\"6GB\" is not a size")
BAD(test_bad_memory_unitless, "bad-memory-unitless.yaml", 3, 11, 1, "did you mean \"512G\" or \"512M\"?")
BAD(test_bad_duration, "bad-duration.yaml", 3, 12, 1, "\"2 min\" is not a duration")
BAD(test_bad_aw_bits, "bad-aw-bits.yaml", 4, 14, 1, "hint: use 39 or 48")
BAD(test_bad_mac, "bad-mac.yaml", 3, 8, 1, "is a multicast address")
BAD(test_bad_host_format, "bad-host-format.yaml", 5, 9, 1, "\"03:00.0\" is not a PCI address")
BAD(test_bad_name, "bad-name.yaml", 1, 7, 1, "\"Nested_IGB\" is not a valid scenario name")
BAD(test_bad_kernel_args, "bad-kernel-args.yaml", 3, 17, 1, "l1.kernel_args[0]: \"quiet splash\" holds a space")
BAD(test_bad_l2_image, "bad-l2-image.yaml", 3, 10, 1, "is not an L2 image; hint: use minimal or dpdk")
BAD(test_bad_checks_unknown, "bad-checks-unknown.yaml", 2, 19, 1,
    "checks[1]: unknown value \"shadows\"; hint: did you mean \"shadow\"?")
BAD(test_bad_sizes_range, "bad-sizes-range.yaml", 4, 13, 2, "sizes[0]: 59 is out of range")

/* ---- bad files: contradictions and missing keys ---------------------------------------------- */

BAD(test_bad_refusal_no_stage, "bad-refusal-no-stage.yaml", 3, 12, 1, "expect.stage is missing")
BAD(test_bad_stage_with_pass, "bad-stage-with-pass.yaml", 3, 10, 2, "expect.stage is set but outcome defaults to pass")
BAD(test_bad_git_no_ref, "bad-git-no-ref.yaml", 4, 5, 1, "sources.qemu.ref is missing")
BAD(test_bad_ref_without_git, "bad-ref-without-git.yaml", 4, 5, 1, "sources.linux.ref is only used with git")
BAD(test_bad_two_kinds, "bad-two-kinds.yaml", 3, 35, 1, "sources.qemu.tarball: debian is already given at 3:11")
BAD(test_bad_host_emulated, "bad-host-emulated.yaml", 3, 9, 1,
    "nic.host names a host NIC, but l0.mode is emulated (the default)")
BAD(test_bad_model_lab, "bad-model-lab.yaml", 5, 10, 1, "nic.model picks an emulated NIC, but l0.mode is lab")
BAD(test_bad_lab_no_host, "bad-lab-no-host.yaml", 3, 9, 1, "nic.host is missing")
BAD(test_bad_connect_qemu, "bad-connect-qemu.yaml", 4, 12, 1, "l0.connect is a libvirt URI, but l0.backend is qemu")
BAD(test_bad_viommu_none, "bad-viommu-none.yaml", 5, 5, 1, "l2.viommu.caching_mode is set, but l2.viommu.model is none")
BAD(test_bad_checks_dup, "bad-checks-dup.yaml", 2, 27, 1, "checks: traffic is listed twice (first at 2:10)")
BAD(test_bad_sizes, "bad-sizes.yaml", 4, 12, 1, "the minimum 1514 is larger than the maximum 60")
BAD(test_bad_max_mappings, "bad-max-mappings.yaml", 4, 19, 1,
    "l2.viommu.max_mappings: 2000000 is out of range; hint: use a value from 1 to 1048576")

/* all problems of a file are reported at once, in file order */
static int test_bad_several(void)
{
	cleanup_free char *path = test_fixture("bad-several.yaml");
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *expected = xasprintf(
		"%1$s:3:9: error: l1.cpus: 0 is out of range; hint: use a value from 1 to 64\n"
		"%1$s:4:10: error: l1.accel: unknown value \"fast\"; hint: did you mean \"auto\"? valid values: auto, kvm, tcg\n"
		"%1$s:6:11: error: l2.memory: \"lots\" is not a size; hint: write bytes, or a number with K, M, G or T "
		"(powers of 1024; KiB, MiB, GiB, TiB also work), like \"memory: 6G\"\n"
		"%1$s:7:18: error: checks: shadow is listed twice (first at 7:10); hint: remove one of them", path);

	CHECK(scenario_parse_file(path, &scn, &err) == -1);
	CHECK_STR(err->msg, expected);
	return TEST_PASS;
}

/* at most 20 lines: 19 problems, then how many more there are */
static int test_bad_many(void)
{
	int rc = expect_bad("bad-many.yaml", 2, 1, 20, "unknown key \"k00\" at the top level");
	cleanup_free char *path = test_fixture("bad-many.yaml");
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *last = xasprintf("%s:21:1: error: 11 more problems from here on are not shown", path);

	if (rc != TEST_PASS)
		return rc;
	CHECK(scenario_parse_file(path, &scn, &err) == -1);
	CHECK_CONTAINS(err->msg, last);
	return TEST_PASS;
}

/* ---- bad bytes ------------------------------------------------------------------------------------ */

static int test_bad_nul_byte(void)
{
	static const char text[] = "name: a\nl1:\n  cpus: 2\0\n";

	return expect_bad_buffer(text, sizeof(text) - 1, 3, 10, "holds a NUL byte");
}

static int test_bad_nul_escape(void)
{
	static const char text[] = "name: \"a\\0b\"\n";

	return expect_bad_buffer(text, sizeof(text) - 1, 1, 7, "NUL character");
}

static int test_bad_utf8(void)
{
	static const char text[] = "name: a\ndescription: caf\xe9\n";

	return expect_bad_buffer(text, sizeof(text) - 1, 2, 17, "not valid UTF-8");
}

static int test_bad_too_big(void)
{
	size_t len = 1024 * 1024 + 1;
	cleanup_free char *text = xmalloc(len);

	memset(text, '#', len);
	return expect_bad_buffer(text, len, 1, 1, "larger than 1 MiB");
}

static int test_bad_empty_buffer(void)
{
	int rc = expect_bad_buffer("", 0, 1, 1, "the scenario is empty");

	if (rc != TEST_PASS)
		return rc;
	return expect_bad_buffer(NULL, 0, 1, 1, "the scenario is empty");
}

/* found by the fuzzer: a dotted key holding a newline once leaked it, unescaped, into the hint */
static int test_bad_dotted_key_newline(void)
{
	static const char text[] = "name: x\n\"l1\\n.x\": 1\n\"l1.\\ny\": 2\n";
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	size_t lines;

	CHECK(scenario_parse_buffer("mem.yaml", text, sizeof(text) - 1, &scn, &err) == -1);
	CHECK(all_lines_have_hints(err->msg, &lines) && lines == 2);
	CHECK_CONTAINS(err->msg, "mem.yaml:2:1: error: unknown key \"l1\\x0a.x\" at the top level; hint: valid keys");
	CHECK_CONTAINS(err->msg, "mem.yaml:3:1: error: unknown key \"l1.\\x0ay\" at the top level; hint: YAML does not "
		       "split dotted keys: write \"l1:\"");
	return TEST_PASS;
}

/* kernel_args must leave room on the kernel command line: at most 1024 bytes of words */
static int test_bad_kernel_args_long(void)
{
	cleanup_strbuf struct strbuf text = STRBUF_INIT;

	strbuf_puts(&text, "name: long\nl1:\n  kernel_args: [");
	for (int i = 0; i < 100; i++)
		strbuf_printf(&text, "%sword%06d=1", i ? ", " : "", i);
	strbuf_puts(&text, "]\n");
	return expect_bad_buffer(text.str, text.len, 3, 16, "the words take 1300 bytes of the kernel command line");
}

/* a billion-laughs document fails fast on the first anchor and never expands anything */
static int test_bad_billion_laughs(void)
{
	static const char text[] = "name: lol\n"
				   "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
				   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				   "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;
	size_t lines;

	CHECK(scenario_parse_buffer("lol.yaml", text, sizeof(text) - 1, &scn, &err) == -1);
	CHECK_CONTAINS(err->msg, "lol.yaml:2:1: error: unknown key \"a\"");
	CHECK_CONTAINS(err->msg, "lol.yaml:2:4: error: YAML anchor &a is not accepted");
	CHECK(all_lines_have_hints(err->msg, &lines) && lines == 20);
	return TEST_PASS;
}

static int test_bad_missing_file(void)
{
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_error nl_error_t err = NULL;

	CHECK(scenario_parse_file("scenarios/no-such-scenario.yaml", &scn, &err) == -1);
	CHECK(err->errnum == ENOENT && scn == NULL);
	CHECK_CONTAINS(err->msg, "scenarios/no-such-scenario.yaml: error: cannot open the scenario");
	CHECK_CONTAINS(err->msg, "; hint: ");
	nl_error_release(&err);
	CHECK(scenario_parse_file("scenarios", &scn, &err) == -1);
	CHECK(err->errnum == EISDIR);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_good_minimal),
	TEST_CASE(test_good_full_guests),
	TEST_CASE(test_good_full_rest),
	TEST_CASE(test_good_full_locations),
	TEST_CASE(test_good_lab),
	TEST_CASE(test_scenario_nested_igb),
	TEST_CASE(test_scenario_nested_e1000e),
	TEST_CASE(test_scenario_nested_ixgbe),
	TEST_CASE(test_scenario_refuse_no_caching_mode),
	TEST_CASE(test_buffer_ok),
	TEST_CASE(test_names),
	TEST_CASE(test_bad_syntax_indent),
	TEST_CASE(test_bad_syntax_tab),
	TEST_CASE(test_bad_syntax_quote),
	TEST_CASE(test_bad_alias),
	TEST_CASE(test_bad_tag),
	TEST_CASE(test_bad_multidoc),
	TEST_CASE(test_bad_toplevel_list),
	TEST_CASE(test_bad_toplevel_scalar),
	TEST_CASE(test_bad_empty),
	TEST_CASE(test_bad_deep),
	TEST_CASE(test_bad_complex_key),
	TEST_CASE(test_bad_unknown_key),
	TEST_CASE(test_bad_unknown_key_list),
	TEST_CASE(test_bad_key_wrong_level),
	TEST_CASE(test_bad_dotted_key),
	TEST_CASE(test_bad_duplicate_key),
	TEST_CASE(test_bad_missing_name),
	TEST_CASE(test_bad_type_mapping),
	TEST_CASE(test_bad_type_scalar),
	TEST_CASE(test_bad_null_value),
	TEST_CASE(test_bad_bool),
	TEST_CASE(test_bad_bool_quoted),
	TEST_CASE(test_bad_int_overflow),
	TEST_CASE(test_bad_int_octal),
	TEST_CASE(test_bad_range),
	TEST_CASE(test_bad_frames),
	TEST_CASE(test_bad_enum),
	TEST_CASE(test_bad_machine),
	TEST_CASE(test_bad_memory),
	TEST_CASE(test_bad_memory_unitless),
	TEST_CASE(test_bad_duration),
	TEST_CASE(test_bad_aw_bits),
	TEST_CASE(test_bad_mac),
	TEST_CASE(test_bad_host_format),
	TEST_CASE(test_bad_name),
	TEST_CASE(test_bad_kernel_args),
	TEST_CASE(test_bad_l2_image),
	TEST_CASE(test_bad_checks_unknown),
	TEST_CASE(test_bad_sizes_range),
	TEST_CASE(test_bad_refusal_no_stage),
	TEST_CASE(test_bad_stage_with_pass),
	TEST_CASE(test_bad_git_no_ref),
	TEST_CASE(test_bad_ref_without_git),
	TEST_CASE(test_bad_two_kinds),
	TEST_CASE(test_bad_host_emulated),
	TEST_CASE(test_bad_model_lab),
	TEST_CASE(test_bad_lab_no_host),
	TEST_CASE(test_bad_connect_qemu),
	TEST_CASE(test_bad_viommu_none),
	TEST_CASE(test_bad_checks_dup),
	TEST_CASE(test_bad_sizes),
	TEST_CASE(test_bad_max_mappings),
	TEST_CASE(test_bad_several),
	TEST_CASE(test_bad_many),
	TEST_CASE(test_bad_nul_byte),
	TEST_CASE(test_bad_nul_escape),
	TEST_CASE(test_bad_utf8),
	TEST_CASE(test_bad_too_big),
	TEST_CASE(test_bad_empty_buffer),
	TEST_CASE(test_bad_dotted_key_newline),
	TEST_CASE(test_bad_kernel_args_long),
	TEST_CASE(test_bad_billion_laughs),
	TEST_CASE(test_bad_missing_file),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
