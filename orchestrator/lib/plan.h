/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * plan.h - a scenario with every default resolved and every contradiction rejected
 *
 * plan_resolve() turns a parsed struct scenario (values left unset are 0, NULL or the _UNSET members) plus the facts
 * of the machine it runs on (struct plan_env, injected so that tests are deterministic) into an
 * immutable struct plan. Executors take `const struct plan *`; nothing after plan_resolve() decides a
 * default again. `nestlab plan` prints the plan with plan_format()/plan_print(): per level (L0, L1,
 * L2), the device path, the exact libvirt domain XML (or L0 QEMU argv), the exact L2 QEMU argv in its
 * KVM and TCG variants, the workload, checks, expectation, timeouts and sources.
 *
 * The command lines follow what worked by hand on this machine class:
 * intel-iommu first among the devices, caching-mode=on for assignment, kernel-irqchip=split whenever
 * KVM meets intremap=on, TCG with -cpu max (AMD SVM+NPT, so kvm_amd loads one level down).
 *
 * Sizes are in bytes, times in milliseconds.
 */
#ifndef NESTLAB_PLAN_H
#define NESTLAB_PLAN_H

#include "error.h"
#include "scenario.h"

/*
 * Facts from outside the scenario. Strings are borrowed; they must outlive plan_resolve() only (the
 * plan copies what it keeps). NULL strings take the placeholder shown in brackets.
 */
struct plan_env {
	const char *run_dir;		/* run directory ["$RUN"], e.g. "$RUN" when only printing */
	const char *run_id;		/* short id of the run, part of the domain name ["$ID"] */
	const char *libvirt_root;	/* root of libvirt's embedded driver, the run's private directory
					 * (runstate.h) ["$NESTLAB_STATE/run-XXXXXX/libvirt"] */
	const char *cache_dir;		/* e.g. ~/.cache/nestlab ["$NESTLAB_CACHE"] */
	const char *qemu_binary;	/* patched QEMU for L0 (path in the cache) */
	const char *firmware_dir;	/* -L path(s) for L0's QEMU, ':'-separated; NULL or "" = none */
	const char *l1_kernel;		/* L1 kernel (host side) */
	const char *l1_image;		/* L1 root filesystem image, base of the per-run qcow2 overlay */
	const char *l1_root;		/* L1's root device on the kernel command line ["/dev/vda"] */
	const char *l2_qemu_binary;	/* QEMU inside L1 that runs L2 ["qemu-system-x86_64"] */
	const char *l2_firmware_dir;	/* -L path(s) inside L1, ':'-separated; NULL or "" = none */
	const char *l2_kernel;		/* L2 kernel, path inside L1 */
	const char *l2_initrd;		/* L2 initramfs for image "minimal", path inside L1 */
	const char *l2_initrd_dpdk;	/* L2 initramfs for image "dpdk", path inside L1 */
	bool host_has_kvm;		/* /dev/kvm usable at L0 */
	const char *(*getenv)(const char *name);	/* for nic.host "$VAR"; NULL = no environment */
	bool env_placeholders;		/* an unset $VAR in nic.host stays "$VAR" with a warning (validate,
					 * plan) instead of being an error (run) */
	char *owned_[16];		/* private: strings plan_env_init_default() allocated */
};

/**
 * plan_env_init_default() - the environment the CLI sees
 * @env:	filled; release with plan_env_release()
 * @run_dir:	run directory, or NULL for "$RUN" (printing only)
 *
 * Cache: fs_cache_dir() ("$NESTLAB_CACHE" as a placeholder when there is none). KVM: /dev/kvm opens read-write. Artefact paths
 * are placeholders under the cache (<cache>/qemu/current/qemu-system-x86_64, <cache>/images/...)
 * until the build and image modules provide real ones. getenv is the process environment.
 */
void plan_env_init_default(struct plan_env *env, const char *run_dir);
void plan_env_release(struct plan_env *env);

/* how a level runs its guest */
enum plan_accel {
	PLAN_ACCEL_KVM = 1,
	PLAN_ACCEL_TCG,
	PLAN_ACCEL_RUNTIME,	/* L2 auto: kvm if kvm_amd or kvm_intel gives L1 a /dev/kvm, else tcg */
};

/*
 * QEMU's seccomp filter at both levels (-sandbox; libvirt's qemu.conf seccomp_sandbox = 1 gives L0's QEMU
 * the same): the default deny list plus obsolete, elevateprivileges, spawn and resourcecontrol
 */
#define PLAN_QEMU_SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

/*
 * Defaults of l*.viommu.max_mappings and max_tables. 262144 mappings (1 GiB of 4 KiB pages) keep a reply near
 * 24 MB, under the agent's 64 MiB QMP line and shadow.h's SHADOW_EXTENTS_MAX; 16384 tables is QEMU's own default.
 */
#define PLAN_VTD_MAX_ENTRIES_DEFAULT 262144u
#define PLAN_VTD_MAX_TABLES_DEFAULT 16384u

/* intel-iommu in front of a guest (QEMU hw/i386/intel_iommu.c; libvirt <iommu model='intel'>) */
struct plan_viommu {
	bool present;			/* false: no vIOMMU (l*.viommu.model none) */
	bool caching_mode;		/* caching-mode: needed for device assignment behind it */
	bool intremap;			/* intremap: interrupt remapping */
	bool scalable_mode;		/* x-scalable-mode */
	unsigned aw_bits;		/* aw-bits: 39 or 48 */
	unsigned drop_map_notify;	/* x-drop-map-notify=N (patched QEMU); 0 = off */
	/*
	 * x-query-vtd-mappings limits that nestlab passes to the QEMU emulating this vIOMMU (patches/qemu/0004):
	 * max-entries (the most mappings listed) and max-tables (the most page tables a walk enters); past
	 * either, QEMU answers with an error that the shadow check reports
	 */
	unsigned query_max_entries, query_max_tables;
};

/*
 * Which values came from a default rather than from the scenario file (README: "nestlab plan ...
 * says which value came from the file and which from a default"): bits of plan_guest.defaulted ...
 */
enum plan_guest_field {
	PLAN_G_MACHINE, PLAN_G_MEMORY, PLAN_G_CPUS, PLAN_G_ACCEL, PLAN_G_IMAGE,
	PLAN_G_VIOMMU_MODEL, PLAN_G_CACHING_MODE, PLAN_G_INTREMAP, PLAN_G_AW_BITS, PLAN_G_SCALABLE_MODE,
};

/* ... and of plan.defaulted */
enum plan_field {
	PLAN_F_MODE, PLAN_F_BACKEND, PLAN_F_CONNECT, PLAN_F_NIC_MODEL, PLAN_F_MAC, PLAN_F_L2_ASSIGN,
	PLAN_F_DRIVER, PLAN_F_FRAMES, PLAN_F_SIZES, PLAN_F_DIRECTION, PLAN_F_PAYLOAD, PLAN_F_CHECKS,
	PLAN_F_EXPECT, PLAN_F_EXPECT_MESSAGE,
	PLAN_F_T_BUILD, PLAN_F_T_L1_BOOT, PLAN_F_T_L2_BOOT, PLAN_F_T_TRAFFIC, PLAN_F_T_CHECKS,
	PLAN_F_T_TEARDOWN, PLAN_F_T_TOTAL, PLAN_F_QEMU_SRC, PLAN_F_LINUX_SRC,
};

#define PLAN_BIT(field) (1ULL << (field))
/* plan_defaulted() - true when bit @field of @mask says the value is a default */
#define plan_defaulted(mask, field) (((mask) & PLAN_BIT(field)) != 0)

/* one guest level as L0 (for L1) or L1 (for L2) runs it */
struct plan_guest {
	uint32_t defaulted;		/* PLAN_BIT(enum plan_guest_field) of values left to the default */
	char *machine;			/* "q35" or a versioned q35 */
	uint64_t memory_bytes;		/* a whole number of MiB */
	unsigned cpus;
	enum scn_accel accel_requested;	/* auto, kvm or tcg as the scenario asked (auto when unset) */
	enum plan_accel accel;		/* L1: KVM or TCG; L2: RUNTIME, KVM or TCG */
	struct plan_viommu viommu;
	char *kernel;			/* L1: host path; L2: path inside L1 */
	char *initrd;			/* L2 only: path inside L1 (L1 boots from its disk) */
	char *cmdline;			/* complete kernel command line */
	char *image;			/* L1: base image (host path); L2: "minimal" or "dpdk" */
	char *image_source;		/* L1: the scenario's l1.image (what the image is made from), or NULL */
};

/* the NIC and the path it takes down to L2 */
struct plan_nic {
	enum scn_l0_mode mode;		/* emulated: L0's QEMU emulates it; lab: a real host NIC */
	enum scn_nic_model model;	/* emulated model; in lab mode the host NIC decides */
	char *host_bdf;			/* lab: host PCI address DDDD:BB:DD.F, $VAR resolved */
	char *host_bdf_var;		/* lab: the variable it came from ("NESTLAB_HOST_NIC"), or NULL */
	char *mac;			/* emulated: MAC address */
	char *l1_bdf;			/* where L1 sees it: always 0000:00:02.0 */
	char *l2_bdf;			/* where L2 sees it: 0000:00:02.0 (NULL when L1 keeps it) */
	enum scn_l2_assign l2_assign;	/* vfio-pci, or none (L1 keeps the NIC) */
	char *peer_sock, *nic_sock;	/* emulated: the wire's unix datagram sockets, RUN/wire-peer.sock (the
					 * traffic peer binds it) and RUN/wire-nic.sock (L0's QEMU binds it) */
};

struct plan_traffic {
	unsigned frames;		/* per direction */
	unsigned size_min, size_max;	/* Ethernet frame bytes without FCS */
	enum scn_direction direction;
	enum scn_payload payload;
	bool seed_set;			/* false: chosen at run time and recorded in the run directory */
	uint64_t seed;
};

struct plan_timeouts {
	uint64_t build_ms, l1_boot_ms, l2_boot_kvm_ms, l2_boot_tcg_ms, traffic_ms, checks_ms,
		teardown_ms, total_ms;
};

struct plan_source {
	enum scn_source_kind kind;
	char **versions;		/* debian: source versions, tried in order */
	char *suite;			/* debian: last resort, whatever this suite lists (NULL = none) */
	char *version_prefix;		/* debian: the suite's version must start with this */
	char *git, *ref, *tarball;
	char *patches;			/* series directory; NULL = no patches */
	char *config;			/* linux: extra config fragment, or NULL */
};

/*
 * plan_source_init_default() - the source of "qemu" or "linux" when the scenario says nothing (the
 * pinned Debian versions, patches/<what>); for `nestlab build` without a scenario. Release with
 * plan_source_release().
 */
void plan_source_init_default(struct plan_source *out, const char *what);
void plan_source_release(struct plan_source *s);

struct plan {
	char *scenario_path;
	char *name;			/* the scenario's name */
	char *description;		/* or NULL */
	char *domain_name;		/* nestlab-<name>-<id>, restricted to [A-Za-z0-9._-] */
	bool complete;			/* run dir absolute and ports known: the plan can be executed */

	/* L0 */
	enum scn_backend backend;
	char *connect;			/* libvirt URI (backend libvirt) */
	char *qemu_binary;
	char **firmware_dirs;		/* -L for L0's QEMU, in order */
	char *run_dir;
	bool host_has_kvm;

	struct plan_guest l1, l2;
	struct plan_nic nic;

	/* files in the run directory (L0 side) */
	char *l1_overlay;		/* qcow2 overlay over l1.image */
	char *l1_seed;			/* NoCloud seed (image_seed_write()), read-only second disk (vdb) */
	char *l1_console_sock, *l1_console_log;	/* L1 ttyS0 */
	char *l2_console_sock, *l2_console_log;	/* L1 ttyS1, which L1 hands to L2's QEMU */
	char *l1_agent_sock;		/* virtio-serial org.nestlab.agent.0 of L1 */
	char *l1_qmp_sock;		/* backend qemu: L0 QEMU's QMP */
	char *l0_qemu_log;		/* backend qemu: -D */
	/* files inside L1 */
	char *l2_qemu_binary;
	char **l2_firmware_dirs;
	char *l2_serial;		/* "/dev/ttyS1" */
	char *l2_agent_sock, *l2_qmp_sock, *l2_qemu_log;

	enum scn_driver driver;
	struct plan_traffic traffic;
	bool checks[SCN_CHECK__COUNT];
	char *checks_dropped;		/* why default checks were left out, or NULL */

	enum scn_expect expect;
	enum scn_stage expect_stage;	/* refusal: stage */
	char *expect_message;		/* refusal: substring the refusal must contain, or NULL */
	char *refusal_reason;		/* refusal: why this configuration is refused */

	struct plan_timeouts timeouts;
	struct plan_source qemu_src, linux_src;

	char **notes;			/* warnings, "FILE:LINE:COL: warning: ...; hint: ..." */
	uint64_t defaulted;		/* PLAN_BIT(enum plan_field) of values left to the default */
};

/* the agent channel's virtio-serial port name, at both levels */
#define PLAN_AGENT_PORT "org.nestlab.agent.0"

/**
 * plan_resolve() - resolve every default of a scenario and reject contradictions
 * @scn:	parsed scenario
 * @env:	facts of this machine
 * @out:	on success, the plan (free with plan_free())
 * @err:	on failure, every contradiction found, one per line, each
 *		"FILE:LINE:COL: error: WHAT; hint: WHAT TO DO" ("FILE: error: ..." when no location)
 *
 * Return: 0, or -1 with @err set.
 */
int plan_resolve(const struct scenario *scn, const struct plan_env *env, struct plan **out, nl_error_t *err);

void plan_free(struct plan *plan);
void cleanup_planp(struct plan **plan);
#define cleanup_plan __attribute__((cleanup(cleanup_planp)))

/* plan_format() - the plan as `nestlab plan` prints it; caller frees */
char *plan_format(const struct plan *plan);
/* plan_print() - write plan_format() to @out */
void plan_print(const struct plan *plan, FILE *out);

/* plan_accel_name() - "kvm", "tcg", or "auto (decided in L1)" */
const char *plan_accel_name(enum plan_accel accel);
/* plan_check_meaning() - one line: what a check proves */
const char *plan_check_meaning(enum scn_check check);
/* plan_nic_model_name() - "igb" or "e1000e": QEMU's -device name and libvirt's <model type> */
const char *plan_nic_model_name(enum scn_nic_model model);

/* plan_qemu.c: QEMU command lines */

/**
 * plan_l2_qemu_argv() - the QEMU command line L1 runs for L2
 * @plan:	resolved plan
 * @kvm:	true for the KVM variant, false for the TCG one
 *
 * Return: NULL-terminated argv (free with strv_free()); argv[0] is L1's QEMU.
 */
char **plan_l2_qemu_argv(const struct plan *plan, bool kvm);
/*
 * plan_l2_runtime_trace_events - NULL-terminated trace events of L1's QEMU (the MAP/UNMAP notifications
 * and invalidations) that the run enables with QMP trace-event-set-state once L2 is up: they are too
 * costly while L2 boots (see plan_qemu.c)
 */
extern const char *const plan_l2_runtime_trace_events[];
/* plan_l0_qemu_argv() - the QEMU command line L0 runs for L1 (l0.backend qemu) */
char **plan_l0_qemu_argv(const struct plan *plan);
/* plan_shell_quote() - quote one word for a POSIX shell; "$VAR/x" keeps $VAR expandable */
char *plan_shell_quote(const char *word);
/* plan_format_argv() - append argv to @sb one option (and its value) per line, shell-quoted */
void plan_format_argv(struct strbuf *sb, char *const *argv, const char *indent);

/* plan_libvirt.c: the L1 domain (l0.backend libvirt) */

/*
 * plan_l0_netdev_opts() - `-netdev` of the emulated NIC's wire with id @id: dgram between the unix
 * sockets nic->nic_sock (QEMU's) and nic->peer_sock (the traffic peer's); caller frees
 */
char *plan_l0_netdev_opts(const char *id, const struct plan_nic *nic);
/* plan_l1_domain_xml() - libvirt domain XML for L1 (libvirt 9.0 schema); caller frees */
char *plan_l1_domain_xml(const struct plan *plan);

#endif /* NESTLAB_PLAN_H */
