/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario.h - the scenario language as parsed: what the YAML file says, nothing resolved
 *
 * scenario_parse_file() turns a YAML file (scenarios/README.md documents every key) into an immutable
 * struct scenario. Keys the file does not set keep their "unset" value (0, NULL, or an explicit *_UNSET
 * enum member) so that plan resolution (plan.c) can tell "left to the default" from "set to the default"
 * and report contradictions precisely. Each value remembers where it was written (struct scn_loc) so that
 * plan resolution can point at file:line:col too.
 *
 * Sizes are in bytes, times in milliseconds.
 */
#ifndef NESTLAB_SCENARIO_H
#define NESTLAB_SCENARIO_H

#include "error.h"

/* where a value was written; line and col are 1-based, 0 when the key was not written */
struct scn_loc {
	unsigned line;
	unsigned col;
};

enum scn_tristate { SCN_UNSET = 0, SCN_FALSE, SCN_TRUE };

enum scn_l0_mode { SCN_L0_MODE_UNSET = 0, SCN_L0_EMULATED, SCN_L0_LAB };
enum scn_backend { SCN_BACKEND_UNSET = 0, SCN_BACKEND_LIBVIRT, SCN_BACKEND_QEMU };
enum scn_accel { SCN_ACCEL_UNSET = 0, SCN_ACCEL_AUTO, SCN_ACCEL_KVM, SCN_ACCEL_TCG };
enum scn_viommu_model { SCN_VIOMMU_UNSET = 0, SCN_VIOMMU_INTEL, SCN_VIOMMU_NONE };
enum scn_nic_model { SCN_NIC_UNSET = 0, SCN_NIC_IGB, SCN_NIC_E1000E };
/* how the NIC is handed from L1 to L2: through vfio-pci, or not at all (L1 keeps it) */
enum scn_l2_assign { SCN_ASSIGN_UNSET = 0, SCN_ASSIGN_VFIO_PCI, SCN_ASSIGN_NONE };
enum scn_driver { SCN_DRIVER_UNSET = 0, SCN_DRIVER_KERNEL, SCN_DRIVER_VFIO_USER, SCN_DRIVER_DPDK };
enum scn_direction { SCN_DIR_UNSET = 0, SCN_DIR_BOTH, SCN_DIR_TO_L2, SCN_DIR_FROM_L2 };
enum scn_payload { SCN_PAYLOAD_UNSET = 0, SCN_PAYLOAD_RANDOM, SCN_PAYLOAD_ZERO, SCN_PAYLOAD_PATTERN };
enum scn_expect { SCN_EXPECT_UNSET = 0, SCN_EXPECT_PASS, SCN_EXPECT_REFUSAL };
enum scn_source_kind { SCN_SRC_UNSET = 0, SCN_SRC_DEBIAN, SCN_SRC_GIT, SCN_SRC_TARBALL };
/* stage at which a refusal is expected */
enum scn_stage {
	SCN_STAGE_UNSET = 0,
	SCN_STAGE_L1_START,	/* L0 refuses to start L1 */
	SCN_STAGE_L2_START,	/* L1's QEMU refuses to start L2 */
	SCN_STAGE_L2_BOOT,	/* L2 boots but refuses to drive the NIC */
};

/* the checks of issue 5, in the order they run */
enum scn_check {
	SCN_CHECK_TRAFFIC = 0,	/* frames both ways arrive byte-exact */
	SCN_CHECK_IOMMU_IN_USE,	/* L2's group type is DMA, interrupts remapped */
	SCN_CHECK_SHADOW,	/* each L2 IOVA agrees at L2, L1 QEMU shadow, L1 vfio, L0 translation */
	SCN_CHECK_UNMAP,	/* unmapped IOVAs vanish from every level and a stale DMA is blocked */
	SCN_CHECK_FAULTS,	/* no unexpected DMAR faults, counts return to baseline */
	SCN_CHECK__COUNT
};

/* the most that x-query-vtd-mappings accepts for max-entries and max-tables (patches/qemu/0004) */
#define SCN_VTD_MAX_ENTRIES_LIMIT 1048576u
#define SCN_VTD_MAX_TABLES_LIMIT 65536u

/* a vIOMMU in front of a guest: intel-iommu properties (QEMU hw/i386/intel_iommu.c) */
struct scn_viommu {
	enum scn_viommu_model model;
	enum scn_tristate caching_mode;
	enum scn_tristate intremap;
	unsigned aw_bits;		/* 0 = unset; 39 or 48 */
	enum scn_tristate scalable_mode;
	/* fault injection: drop the Nth MAP notification (1-based); 0 = unset/off (patched QEMU only) */
	unsigned drop_map_notify;
	/* x-query-vtd-mappings limits (patches/qemu/0004) on the QEMU that emulates it; 0 = unset */
	unsigned max_mappings, max_tables;
	struct scn_loc loc, caching_mode_loc, intremap_loc, aw_bits_loc, drop_map_notify_loc;
};

/* a guest level (l1 or l2): the VM at that level and the vIOMMU it sees */
struct scn_guest {
	uint64_t memory_bytes;		/* 0 = unset */
	unsigned cpus;			/* 0 = unset */
	enum scn_accel accel;
	char *machine;			/* NULL = unset ("q35") */
	char *image;			/* l1: a cloud-style image to turn into L1; l2: "minimal" or "dpdk" */
	char **kernel_args;		/* extra kernel command line words, NULL = none */
	struct scn_viommu viommu;
	struct scn_loc loc, memory_loc, cpus_loc, accel_loc, image_loc;
};

/* l0: the host, emulated NIC or a lab machine */
struct scn_l0 {
	enum scn_l0_mode mode;
	enum scn_backend backend;	/* how L0 runs L1: libvirt (default) or raw qemu */
	char *connect;			/* libvirt URI, NULL = embedded driver */
	struct scn_loc loc, mode_loc, backend_loc, connect_loc;
};

struct scn_nic {
	enum scn_nic_model model;	/* emulated model (l0.mode emulated) */
	char *host;			/* host PCI address "0000:03:00.0" (l0.mode lab); "$ENV" allowed */
	char *mac;			/* NULL = unset */
	enum scn_l2_assign l2_assign;
	struct scn_loc loc, model_loc, host_loc, mac_loc, l2_assign_loc;
};

struct scn_traffic {
	unsigned frames;		/* per direction; 0 = unset */
	unsigned size_min, size_max;	/* Ethernet frame bytes without FCS; 0 = unset */
	enum scn_direction direction;
	enum scn_payload payload;
	uint64_t seed;
	bool seed_set;
	struct scn_loc loc, frames_loc, sizes_loc, direction_loc;
};

struct scn_workload {
	enum scn_driver driver;
	struct scn_traffic traffic;
	struct scn_loc loc, driver_loc;
};

struct scn_expectation {
	enum scn_expect outcome;
	enum scn_stage stage;		/* for a refusal: where it must happen */
	char *message;			/* for a refusal: a substring the refusal must contain */
	struct scn_loc loc, outcome_loc, stage_loc, message_loc;
};

/* timeouts per stage, milliseconds; 0 = unset */
struct scn_timeouts {
	uint64_t build_ms, l1_boot_ms, l2_boot_ms, traffic_ms, checks_ms, teardown_ms, total_ms;
	struct scn_loc loc;
};

/* where QEMU or Linux sources come from, and which patch series to apply */
struct scn_source {
	enum scn_source_kind kind;
	char *version;			/* debian: source package version, NULL = pinned default */
	char *git;			/* git: path to a local tree */
	char *ref;			/* git: ref to build */
	char *tarball;			/* tarball: path */
	char *patches;			/* series directory, NULL = patches/<qemu|linux>; "none" = no patches */
	char *config;			/* linux only: extra config fragment */
	struct scn_loc loc, kind_loc;
};

struct scenario {
	char *path;			/* file it was read from */
	char *name;			/* required */
	char *description;
	struct scn_l0 l0;
	struct scn_guest l1, l2;
	struct scn_nic nic;
	struct scn_workload workload;
	bool checks_set;		/* false: the default set applies */
	bool checks[SCN_CHECK__COUNT];
	struct scn_loc checks_loc;
	struct scn_expectation expect;
	struct scn_timeouts timeouts;
	struct scn_source qemu, linux_src;
};

/**
 * scenario_parse_file() - read and parse a scenario file
 * @path:	YAML file
 * @out:	on success, the new scenario (free with scenario_free())
 * @err:	on failure, every problem found, one per line, each "FILE:LINE:COL: error: WHAT; hint: WHAT TO DO"
 *
 * Return: 0, or -1 with @err set. Never runs anything.
 */
int scenario_parse_file(const char *path, struct scenario **out, nl_error_t *err);

/* scenario_parse_buffer() - same, from memory; @name is used in messages in place of a file name */
int scenario_parse_buffer(const char *name, const char *data, size_t len, struct scenario **out, nl_error_t *err);

void scenario_free(struct scenario *scn);
void cleanup_scenariop(struct scenario **scn);
#define cleanup_scenario __attribute__((cleanup(cleanup_scenariop)))

/* names used in the YAML, for messages and for the plan printer */
const char *scn_check_name(enum scn_check check);
const char *scn_accel_name(enum scn_accel accel);
const char *scn_driver_name(enum scn_driver driver);
const char *scn_nic_model_name(enum scn_nic_model model);
const char *scn_direction_name(enum scn_direction dir);
const char *scn_payload_name(enum scn_payload payload);
const char *scn_stage_name(enum scn_stage stage);

#endif /* NESTLAB_SCENARIO_H */
