/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario_schema.c - the scenario language: key tables, and the checks that a file alone can settle
 *
 * scenario.c hands over a node tree; this file walks it section by section, reading values with the
 * typed readers of scenario_value.c. Each section is a table of keys (struct scn_field) with a type, the
 * offset of the member of struct scenario it fills, and the offset of the struct scn_loc remembering
 * where it was written. A *_loc holds the location of the value
 * (for a section such as l1: or viommu:, of its key; for sources.*.kind_loc, of the debian/git/tarball
 * key). A loc is set whenever the key is written, even when its value is then refused.
 *
 * Defaults are not filled in here (plan.c resolves them); scenarios/README.md documents them. What is
 * checked: types, ranges, enum values, duplicates, required keys, and contradictions visible in the file
 * (two source kinds, ref without git, nic.host on an emulated L0, ...). Every problem is reported with
 * scenario_problem() and the walk goes on, so that a user sees all of them at once.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scenario_schema.h"

/* ---- names used in the YAML (index = enum value) ------------------------------------------------ */

static const char *const l0_mode_names[] = { NULL, "emulated", "lab" };
static const char *const backend_names[] = { NULL, "libvirt", "qemu" };
static const char *const accel_names[] = { NULL, "auto", "kvm", "tcg" };
static const char *const viommu_model_names[] = { NULL, "intel", "none" };
static const char *const nic_model_names[] = { NULL, "igb", "e1000e" };
static const char *const l2_assign_names[] = { NULL, "vfio-pci", "none" };
static const char *const driver_names[] = { NULL, "kernel", "vfio-user", "dpdk" };
static const char *const direction_names[] = { NULL, "both", "to-l2", "from-l2" };
static const char *const payload_names[] = { NULL, "random", "zero", "pattern" };
static const char *const outcome_names[] = { NULL, "pass", "refusal" };
static const char *const stage_names[] = { NULL, "l1-start", "l2-start", "l2-boot" };
static const char *const source_kind_names[] = { NULL, "debian", "git", "tarball" };
static const char *const l2_image_names[] = { "minimal", "dpdk" };
static const char *const check_names[SCN_CHECK__COUNT] = {
	[SCN_CHECK_TRAFFIC] = "traffic",
	[SCN_CHECK_IOMMU_IN_USE] = "iommu-in-use",
	[SCN_CHECK_SHADOW] = "shadow",
	[SCN_CHECK_UNMAP] = "unmap",
	[SCN_CHECK_FAULTS] = "faults",
};

static const char *name_of(const char *const *names, size_t n, unsigned value)
{
	if (value >= n)
		return "invalid";
	return names[value] ? names[value] : "unset";
}

const char *scn_check_name(enum scn_check check) { return name_of(check_names, ARRAY_SIZE(check_names), check); }
const char *scn_accel_name(enum scn_accel accel) { return name_of(accel_names, ARRAY_SIZE(accel_names), accel); }
const char *scn_driver_name(enum scn_driver driver)
{
	return name_of(driver_names, ARRAY_SIZE(driver_names), driver);
}
const char *scn_nic_model_name(enum scn_nic_model model)
{
	return name_of(nic_model_names, ARRAY_SIZE(nic_model_names), model);
}
const char *scn_direction_name(enum scn_direction dir)
{
	return name_of(direction_names, ARRAY_SIZE(direction_names), dir);
}
const char *scn_payload_name(enum scn_payload payload)
{
	return name_of(payload_names, ARRAY_SIZE(payload_names), payload);
}
const char *scn_stage_name(enum scn_stage stage) { return name_of(stage_names, ARRAY_SIZE(stage_names), stage); }

/* enums are stored through an unsigned pointer */
_Static_assert(sizeof(enum scn_accel) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum scn_tristate) == sizeof(unsigned), "enum size");

/* ---- key tables ---------------------------------------------------------------------------------- */

#define NO_LOC SIZE_MAX
#define SECTION_MAX_FIELDS 16
#define NAMES(a) .names = (a), .n_names = ARRAY_SIZE(a)
#define AT(T, m) .offset = offsetof(T, m)
#define LOC(T, m) .loc_offset = offsetof(T, m)
#define NOLOC .loc_offset = NO_LOC

#define MiB (UINT64_C(1) << 20)
#define TiB (UINT64_C(1) << 40)
#define MAX_DURATION_MS (UINT64_C(168) * 3600 * 1000)

static scn_field_fn field_name, field_machine, field_kernel_args, field_aw_bits, field_host, field_mac,
	field_connect, field_sizes, field_seed, field_checks, field_source_kind, field_debian_version;
static void l0_nic_check(struct scn_parse *p, const struct scn_node *map, void *obj);
static void l2_check(struct scn_parse *p, const struct scn_node *map, void *obj);
static void viommu_check(struct scn_parse *p, const struct scn_node *map, void *obj);
static void expect_check(struct scn_parse *p, const struct scn_node *map, void *obj);
static void source_check(struct scn_parse *p, const struct scn_node *map, void *obj);

#define T struct scn_viommu
static const struct scn_field viommu_fields[] = {
	{ "model", SCN_FIELD_ENUM, AT(T, model), NOLOC, NAMES(viommu_model_names), .example = "intel" },
	{ "caching_mode", SCN_FIELD_BOOL, AT(T, caching_mode), LOC(T, caching_mode_loc), .example = "true" },
	{ "intremap", SCN_FIELD_BOOL, AT(T, intremap), LOC(T, intremap_loc), .example = "true" },
	{ "aw_bits", SCN_FIELD_CUSTOM, AT(T, aw_bits), LOC(T, aw_bits_loc), .example = "48", .custom = field_aw_bits },
	{ "scalable_mode", SCN_FIELD_BOOL, AT(T, scalable_mode), NOLOC, .example = "false" },
	{ "x_drop_map_notify", SCN_FIELD_UINT, AT(T, drop_map_notify), LOC(T, drop_map_notify_loc), .min = 0,
	  .max = UINT32_MAX, .example = "3" },
	{ "max_mappings", SCN_FIELD_UINT, AT(T, max_mappings), NOLOC, .min = 1, .max = SCN_VTD_MAX_ENTRIES_LIMIT,
	  .example = "262144" },
	{ "max_tables", SCN_FIELD_UINT, AT(T, max_tables), NOLOC, .min = 1, .max = SCN_VTD_MAX_TABLES_LIMIT,
	  .example = "16384" },
};
#undef T
static const struct scn_section viommu_section = { viommu_fields, ARRAY_SIZE(viommu_fields), viommu_check };

#define T struct scn_guest
static const struct scn_field guest_fields[] = {
	{ "memory", SCN_FIELD_SIZE, AT(T, memory_bytes), LOC(T, memory_loc), .min = 64 * MiB, .max = TiB,
	  .example = "6G" },
	{ "cpus", SCN_FIELD_UINT, AT(T, cpus), LOC(T, cpus_loc), .min = 1, .max = 64, .example = "2" },
	{ "accel", SCN_FIELD_ENUM, AT(T, accel), LOC(T, accel_loc), NAMES(accel_names), .example = "auto" },
	{ "machine", SCN_FIELD_CUSTOM, AT(T, machine), NOLOC, .example = "q35", .custom = field_machine },
	{ "image", SCN_FIELD_STRING, AT(T, image), LOC(T, image_loc), .example = "minimal" },
	{ "kernel_args", SCN_FIELD_CUSTOM, AT(T, kernel_args), NOLOC, .example = "[\"loglevel=4\"]",
	  .custom = field_kernel_args },
	{ "viommu", SCN_FIELD_SECTION, AT(T, viommu), LOC(T, viommu.loc), .section = &viommu_section },
};
#undef T
static const struct scn_section l1_section = { guest_fields, ARRAY_SIZE(guest_fields), NULL };
static const struct scn_section l2_section = { guest_fields, ARRAY_SIZE(guest_fields), l2_check };

#define T struct scn_l0
static const struct scn_field l0_fields[] = {
	{ "mode", SCN_FIELD_ENUM, AT(T, mode), LOC(T, mode_loc), NAMES(l0_mode_names), .example = "emulated" },
	{ "backend", SCN_FIELD_ENUM, AT(T, backend), LOC(T, backend_loc), NAMES(backend_names), .example = "libvirt" },
	{ "connect", SCN_FIELD_CUSTOM, AT(T, connect), LOC(T, connect_loc), .example = "qemu:///system",
	  .custom = field_connect },
};
#undef T
static const struct scn_section l0_section = { l0_fields, ARRAY_SIZE(l0_fields), NULL };

#define T struct scn_nic
static const struct scn_field nic_fields[] = {
	{ "model", SCN_FIELD_ENUM, AT(T, model), LOC(T, model_loc), NAMES(nic_model_names), .example = "igb" },
	{ "host", SCN_FIELD_CUSTOM, AT(T, host), LOC(T, host_loc), .example = "\"0000:03:00.0\"", .custom = field_host },
	{ "mac", SCN_FIELD_CUSTOM, AT(T, mac), LOC(T, mac_loc), .example = "\"52:54:00:12:34:56\"", .custom = field_mac },
	{ "l2_assign", SCN_FIELD_ENUM, AT(T, l2_assign), LOC(T, l2_assign_loc), NAMES(l2_assign_names),
	  .example = "vfio-pci" },
};
#undef T
static const struct scn_section nic_section = { nic_fields, ARRAY_SIZE(nic_fields), NULL };

#define T struct scn_traffic
static const struct scn_field traffic_fields[] = {
	{ "frames", SCN_FIELD_UINT, AT(T, frames), LOC(T, frames_loc), .min = 1, .max = 1000000, .example = "1000" },
	{ "sizes", SCN_FIELD_CUSTOM, 0, LOC(T, sizes_loc), .min = 60, .max = 1514, .example = "[60, 1514]",
	  .custom = field_sizes },
	{ "direction", SCN_FIELD_ENUM, AT(T, direction), LOC(T, direction_loc), NAMES(direction_names),
	  .example = "both" },
	{ "payload", SCN_FIELD_ENUM, AT(T, payload), NOLOC, NAMES(payload_names), .example = "random" },
	{ "seed", SCN_FIELD_CUSTOM, AT(T, seed), NOLOC, .example = "42", .custom = field_seed },
};
#undef T
static const struct scn_section traffic_section = { traffic_fields, ARRAY_SIZE(traffic_fields), NULL };

#define T struct scn_workload
static const struct scn_field workload_fields[] = {
	{ "driver", SCN_FIELD_ENUM, AT(T, driver), LOC(T, driver_loc), NAMES(driver_names), .example = "kernel" },
	{ "traffic", SCN_FIELD_SECTION, AT(T, traffic), LOC(T, traffic.loc), .section = &traffic_section },
};
#undef T
static const struct scn_section workload_section = { workload_fields, ARRAY_SIZE(workload_fields), NULL };

#define T struct scn_expectation
static const struct scn_field expect_fields[] = {
	{ "outcome", SCN_FIELD_ENUM, AT(T, outcome), LOC(T, outcome_loc), NAMES(outcome_names), .example = "refusal" },
	{ "stage", SCN_FIELD_ENUM, AT(T, stage), LOC(T, stage_loc), NAMES(stage_names), .example = "l2-start" },
	{ "message", SCN_FIELD_STRING, AT(T, message), LOC(T, message_loc), .example = "\"caching-mode=on\"" },
};
#undef T
static const struct scn_section expect_section = { expect_fields, ARRAY_SIZE(expect_fields), expect_check };

#define T struct scn_timeouts
#define DURATION(k, m, ex) { k, SCN_FIELD_DURATION, AT(T, m), NOLOC, .min = 1, .max = MAX_DURATION_MS, .example = ex }
static const struct scn_field timeout_fields[] = {
	DURATION("build", build_ms, "60m"),	  DURATION("l1_boot", l1_boot_ms, "60s"),
	DURATION("l2_boot", l2_boot_ms, "120s"),  DURATION("traffic", traffic_ms, "60s"),
	DURATION("checks", checks_ms, "60s"),	  DURATION("teardown", teardown_ms, "60s"),
	DURATION("total", total_ms, "90m"),
};
#undef DURATION
#undef T
static const struct scn_section timeouts_section = { timeout_fields, ARRAY_SIZE(timeout_fields), NULL };

#define T struct scn_source
#define SOURCE_FIELDS                                                                                      \
	{ "debian", SCN_FIELD_CUSTOM, AT(T, version), NOLOC, .min = SCN_SRC_DEBIAN, .example = "\"10.0.13+ds-1\"",  \
	  .custom = field_source_kind },                                                                   \
	{ "git", SCN_FIELD_CUSTOM, AT(T, git), NOLOC, .min = SCN_SRC_GIT, .example = "/src/qemu",              \
	  .custom = field_source_kind },                                                                   \
	{ "ref", SCN_FIELD_STRING, AT(T, ref), NOLOC, .example = "v10.0.0" },                                  \
	{ "tarball", SCN_FIELD_CUSTOM, AT(T, tarball), NOLOC, .min = SCN_SRC_TARBALL,                          \
	  .example = "/src/qemu-10.0.0.tar.xz", .custom = field_source_kind },                             \
	{ "patches", SCN_FIELD_STRING, AT(T, patches), NOLOC, .example = "patches/qemu" }
static const struct scn_field qemu_source_fields[] = { SOURCE_FIELDS };
static const struct scn_field linux_source_fields[] = {
	SOURCE_FIELDS,
	{ "config", SCN_FIELD_STRING, AT(T, config), NOLOC, .example = "configs/l1.fragment" },
};
#undef SOURCE_FIELDS
#undef T
static const struct scn_section qemu_source_section = { qemu_source_fields, ARRAY_SIZE(qemu_source_fields),
						    source_check };
static const struct scn_section linux_source_section = { linux_source_fields, ARRAY_SIZE(linux_source_fields),
						     source_check };

#define T struct scenario
static const struct scn_field sources_fields[] = {
	{ "qemu", SCN_FIELD_SECTION, AT(T, qemu), LOC(T, qemu.loc), .section = &qemu_source_section },
	{ "linux", SCN_FIELD_SECTION, AT(T, linux_src), LOC(T, linux_src.loc), .section = &linux_source_section },
};
static const struct scn_section sources_section = { sources_fields, ARRAY_SIZE(sources_fields), NULL };

static const struct scn_field top_fields[] = {
	{ "name", SCN_FIELD_CUSTOM, AT(T, name), NOLOC, .example = "nested-igb", .custom = field_name },
	{ "description", SCN_FIELD_TEXT, AT(T, description), NOLOC, .example = "\"what this scenario shows\"" },
	{ "l0", SCN_FIELD_SECTION, AT(T, l0), LOC(T, l0.loc), .section = &l0_section },
	{ "l1", SCN_FIELD_SECTION, AT(T, l1), LOC(T, l1.loc), .section = &l1_section },
	{ "l2", SCN_FIELD_SECTION, AT(T, l2), LOC(T, l2.loc), .section = &l2_section },
	{ "nic", SCN_FIELD_SECTION, AT(T, nic), LOC(T, nic.loc), .section = &nic_section },
	{ "workload", SCN_FIELD_SECTION, AT(T, workload), LOC(T, workload.loc), .section = &workload_section },
	{ "checks", SCN_FIELD_CUSTOM, 0, LOC(T, checks_loc), .example = "[traffic, shadow]", .custom = field_checks },
	{ "expect", SCN_FIELD_SECTION, AT(T, expect), LOC(T, expect.loc), .section = &expect_section },
	{ "timeouts", SCN_FIELD_SECTION, AT(T, timeouts), LOC(T, timeouts.loc), .section = &timeouts_section },
	{ "sources", SCN_FIELD_SECTION, 0, NOLOC, .section = &sources_section },
};
#undef T
static const struct scn_section top_section = { top_fields, ARRAY_SIZE(top_fields), l0_nic_check };

_Static_assert(ARRAY_SIZE(top_fields) <= SECTION_MAX_FIELDS, "top_fields");
_Static_assert(ARRAY_SIZE(guest_fields) <= SECTION_MAX_FIELDS, "guest_fields");
_Static_assert(ARRAY_SIZE(timeout_fields) <= SECTION_MAX_FIELDS, "timeout_fields");
_Static_assert(ARRAY_SIZE(linux_source_fields) <= SECTION_MAX_FIELDS, "linux_source_fields");

/* ---- helpers ------------------------------------------------------------------------------------- */

/* path_push() - append ".KEY" (or "[N]") to the key path used in messages; returns the old length */
static size_t path_push(struct scn_parse *p, const char *fmt, ...) PRINTF_FMT(2, 3);
static size_t path_push(struct scn_parse *p, const char *fmt, ...)
{
	size_t len = strlen(p->path);
	va_list ap;

	if (len && fmt[0] != '[' && len + 1 < sizeof(p->path))
		p->path[len++] = '.';
	va_start(ap, fmt);
	vsnprintf(p->path + len, sizeof(p->path) - len, fmt, ap);
	va_end(ap);
	return len && fmt[0] != '[' ? len - 1 : len;
}

static void path_pop(struct scn_parse *p, size_t len)
{
	p->path[len] = '\0';
}

/* find_key() - the key node of @name in mapping @map, or NULL */
static const struct scn_node *find_key(const struct scn_node *map, const char *name)
{
	if (!map || map->kind != SCN_NODE_MAPPING)
		return NULL;
	for (size_t i = 0; i + 1 < map->n_items; i += 2)
		if (map->items[i]->kind == SCN_NODE_SCALAR && !strcmp(map->items[i]->text, name))
			return map->items[i];
	return NULL;
}

/* ---- custom values ------------------------------------------------------------------------------ */

/* the member of @obj a field fills */
#define MEMBER(obj, f, type) ((type *)((char *)(obj) + (f)->offset))

/* name: required; [a-z0-9][a-z0-9-]*, at most 64 characters (it names run directories) */
static void field_name(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
		       const struct scn_node *val, void *obj)
{
	cleanup_free char *name = NULL, *q = NULL;
	size_t len;

	if (scenario_value_string(p, f, val, &name) < 0)
		return;
	len = strlen(name);
	q = scenario_quote(name, len);
	if (len > 64)
		scenario_problem(p, val->loc, "name: %s is %zu characters long; hint: keep it to at most 64", q, len);
	else if (!(islower((unsigned char)name[0]) || isdigit((unsigned char)name[0])) ||
		 strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != len)
		scenario_problem(p, val->loc, "name: %s is not a valid scenario name; hint: use lower-case letters, "
				 "digits and '-', starting with a letter or digit (like nested-igb)", q);
	else {
		*MEMBER(obj, f, char *) = name;
		name = NULL;
	}
}

/* machine: only q35, since intel-iommu needs the Q35 chipset */
static void field_machine(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
			  const struct scn_node *val, void *obj)
{
	cleanup_free char *machine = NULL, *q = NULL;

	if (scenario_value_string(p, f, val, &machine) < 0)
		return;
	if (strcmp(machine, "q35")) {
		q = scenario_quote(machine, strlen(machine));
		scenario_problem(p, val->loc, "%s: machine type %s is not supported; hint: use q35 (intel-iommu "
				 "needs the Q35 chipset; QEMU refuses it on pc/i440fx)", p->path, q);
		return;
	}
	*MEMBER(obj, f, char *) = machine;
	machine = NULL;
}

/*
 * kernel_args: a list of command-line words; a word with a space would silently become two. Together
 * they must leave room for nestlab's own words in the kernel's command line (COMMAND_LINE_SIZE is 2048
 * on x86).
 */
#define KERNEL_ARGS_MAX_BYTES 1024

static void field_kernel_args(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
			      const struct scn_node *val, void *obj)
{
	cleanup_strv char **words = NULL;
	size_t n_words = 0, total_bytes = 0;
	bool ok = true;

	if (val->kind == SCN_NODE_INVALID || scenario_node_is_null(val))
		return;
	if (val->kind != SCN_NODE_SEQUENCE) {
		scenario_problem(p, val->loc, "%s: expected a list of words, found %s; hint: write it like "
				 "\"kernel_args: [\\\"loglevel=4\\\", \\\"quiet\\\"]\"", p->path, scenario_value_kind(val));
		return;
	}
	words = xcalloc(val->n_items + 1, sizeof(*words));	/* not strv_push(): O(n) per word */
	for (size_t i = 0; i < val->n_items; i++) {
		const struct scn_node *item = val->items[i];
		size_t old = path_push(p, "[%zu]", i);
		cleanup_free char *word = NULL;

		if (scenario_value_string(p, f, item, &word) == 0 && strchr(word, ' ')) {
			cleanup_free char *q = scenario_quote(word, strlen(word));

			scenario_problem(p, item->loc, "%s: %s holds a space; hint: give each kernel command-line "
					 "word as its own list entry", p->path, q);
			ok = false;
		} else if (word) {
			total_bytes += strlen(word) + 1;
			words[n_words++] = word;
			word = NULL;
		} else {
			ok = false;
		}
		path_pop(p, old);
	}
	if (ok && total_bytes > KERNEL_ARGS_MAX_BYTES) {
		scenario_problem(p, val->loc, "%s: the words take %zu bytes of the kernel command line; hint: keep them "
				 "under %d bytes (the whole line holds 2048 on x86, and nestlab adds its own words)",
				 p->path, total_bytes, KERNEL_ARGS_MAX_BYTES);
		ok = false;
	}
	if (ok) {
		*MEMBER(obj, f, char **) = words;
		words = NULL;
	}
}

/* viommu.aw_bits: 39 or 48, the widths intel-iommu implements (VT-d spec, Capability Register, SAGAW field) */
static void field_aw_bits(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
			  const struct scn_node *val, void *obj)
{
	uint64_t bits;

	if (scenario_value_uint(p, f, val, 0, UINT32_MAX, &bits) < 0)
		return;
	if (bits != 39 && bits != 48) {
		scenario_problem(p, val->loc, "%s: %llu is not supported; hint: use 39 or 48 (the address widths "
				 "of QEMU's intel-iommu aw-bits property)", p->path, (unsigned long long)bits);
		return;
	}
	*MEMBER(obj, f, unsigned) = (unsigned)bits;
}

/* pci_address_ok() - "DDDD:BB:DD.F" in hex, device <= 0x1f, function <= 7 (as `lspci -D` prints) */
static bool pci_address_ok(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.f";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x' && !isxdigit((unsigned char)s[i]))
			return false;
		if (shape[i] == 'f' && (s[i] < '0' || s[i] > '7'))
			return false;
		if ((shape[i] == ':' || shape[i] == '.') && s[i] != shape[i])
			return false;
	}
	return strtoul((char[3]){ s[8], s[9], 0 }, NULL, 16) <= 0x1f;
}

static bool env_name_ok(const char *s)
{
	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* nic.host: a PCI address as "lspci -D" prints it, or "$NAME" resolved at plan time */
static void field_host(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
		       const struct scn_node *val, void *obj)
{
	cleanup_free char *host = NULL, *q = NULL;

	if (scenario_value_string(p, f, val, &host) < 0)
		return;
	if (host[0] == '$' ? !env_name_ok(host + 1) : !pci_address_ok(host)) {
		q = scenario_quote(host, strlen(host));
		scenario_problem(p, val->loc, "%s: %s is not a PCI address; hint: write domain:bus:device.function "
				 "as \"lspci -D\" shows it, like \"0000:03:00.0\", or \"$NAME\" to read it from the "
				 "environment variable NAME", p->path, q);
		return;
	}
	*MEMBER(obj, f, char *) = host;
	host = NULL;
}

/* nic.mac: six hex bytes, colon separated, unicast (I/G bit clear) and not all zeros */
static void field_mac(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
		      const struct scn_node *val, void *obj)
{
	cleanup_free char *mac = NULL, *q = NULL;
	unsigned octet[6];
	char end;

	if (scenario_value_string(p, f, val, &mac) < 0)
		return;
	q = scenario_quote(mac, strlen(mac));
	if (strlen(mac) != 17 || strspn(mac, "0123456789abcdefABCDEF:") != 17 ||
	    sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &octet[0], &octet[1], &octet[2], &octet[3], &octet[4],
		   &octet[5], &end) != 6 ||
	    mac[2] != ':' || mac[5] != ':' || mac[8] != ':' || mac[11] != ':' || mac[14] != ':') {
		scenario_problem(p, val->loc, "%s: %s is not a MAC address; hint: write six hex bytes separated by "
				 "colons, like \"52:54:00:12:34:56\"", p->path, q);
		return;
	}
	if (octet[0] & 1) {
		scenario_problem(p, val->loc, "%s: %s is a multicast address (lowest bit of the first byte set); "
				 "hint: use a unicast address, like \"52:54:00:12:34:56\"", p->path, q);
		return;
	}
	if (!(octet[0] | octet[1] | octet[2] | octet[3] | octet[4] | octet[5])) {
		scenario_problem(p, val->loc, "%s: %s is all zeros; hint: use a unicast address, like "
				 "\"52:54:00:12:34:56\"", p->path, q);
		return;
	}
	*MEMBER(obj, f, char *) = mac;
	mac = NULL;
}

/* l0.connect: a libvirt URI ("driver[+transport]://[host]/path") */
static void field_connect(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
			  const struct scn_node *val, void *obj)
{
	cleanup_free char *uri = NULL, *q = NULL;

	if (scenario_value_string(p, f, val, &uri) < 0)
		return;
	if (!strstr(uri, "://") || !isalpha((unsigned char)uri[0])) {
		q = scenario_quote(uri, strlen(uri));
		scenario_problem(p, val->loc, "%s: %s is not a libvirt URI; hint: write it like \"qemu:///system\", "
				 "or remove it to use nestlab's embedded driver", p->path, q);
		return;
	}
	*MEMBER(obj, f, char *) = uri;
	uri = NULL;
}

/* traffic.sizes: [min, max], each 60..1514 (frame bytes without FCS), min <= max */
static void field_sizes(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
			const struct scn_node *val, void *obj)
{
	struct scn_traffic *traffic = obj;
	uint64_t size[2];
	bool ok = true;

	if (val->kind == SCN_NODE_INVALID)
		return;
	if (val->kind != SCN_NODE_SEQUENCE || val->n_items != 2) {
		scenario_problem(p, val->loc, "%s: expected a list [min, max], found %s; hint: write it like "
				 "\"sizes: [60, 1514]\" (frame bytes without FCS; [N, N] for one size)", p->path,
				 val->kind == SCN_NODE_SEQUENCE ? "a list of another length" : scenario_value_kind(val));
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		size_t old = path_push(p, "[%zu]", i);

		if (scenario_value_uint(p, f, val->items[i], f->min, f->max, &size[i]) < 0)
			ok = false;
		path_pop(p, old);
	}
	if (!ok)
		return;
	if (size[0] > size[1]) {
		scenario_problem(p, val->loc, "%s: the minimum %llu is larger than the maximum %llu; hint: write "
				 "[min, max], like [%llu, %llu]", p->path, (unsigned long long)size[0],
				 (unsigned long long)size[1], (unsigned long long)size[1], (unsigned long long)size[0]);
		return;
	}
	traffic->size_min = (unsigned)size[0];
	traffic->size_max = (unsigned)size[1];
}

/* traffic.seed: any uint64; seed_set tells 0 from unset */
static void field_seed(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
		       const struct scn_node *val, void *obj)
{
	struct scn_traffic *traffic = obj;

	if (scenario_value_uint(p, f, val, 0, UINT64_MAX, &traffic->seed) == 0)
		traffic->seed_set = true;
}

/* checks: a non-empty list of check names without duplicates */
static void field_checks(struct scn_parse *p, const struct scn_field *f UNUSED, const struct scn_node *key UNUSED,
			 const struct scn_node *val, void *obj)
{
	static const struct scn_field entry = { "checks", SCN_FIELD_ENUM, NAMES(check_names), .example = "[traffic, shadow]" };
	struct scenario *scn = obj;
	struct scn_loc first[SCN_CHECK__COUNT] = { { 0, 0 } };
	cleanup_free char *valid = scenario_value_join(check_names, ARRAY_SIZE(check_names));

	if (val->kind == SCN_NODE_INVALID)
		return;
	if (val->kind != SCN_NODE_SEQUENCE || !val->n_items) {
		scenario_problem(p, val->loc, "checks: expected a list of checks, found %s; hint: list some of %s, "
				 "like [traffic, shadow], or remove checks to run all of them", val->kind ==
				 SCN_NODE_SEQUENCE ? "an empty list" : scenario_value_kind(val), valid);
		return;
	}
	for (size_t i = 0; i < val->n_items; i++) {
		size_t old = path_push(p, "[%zu]", i);
		unsigned check;

		if (scenario_value_enum(p, &entry, val->items[i], &check) == 0) {
			if (first[check].line)
				scenario_problem(p, val->items[i]->loc, "checks: %s is listed twice (first at %u:%u); "
						 "hint: remove one of them", check_names[check], first[check].line,
						 first[check].col);
			first[check] = first[check].line ? first[check] : val->items[i]->loc;
			scn->checks[check] = true;
		}
		path_pop(p, old);
	}
	scn->checks_set = true;
}

/* sources.*.debian, .git, .tarball: exactly one of them says where the sources come from */
static void field_source_kind(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key,
			      const struct scn_node *val, void *obj)
{
	struct scn_source *src = obj;

	if (src->kind) {
		scenario_problem(p, key->loc, "%s: %s is already given at %u:%u; hint: give exactly one of debian, "
				 "git or tarball (none for the pinned Debian version)", p->path,
				 source_kind_names[src->kind], src->kind_loc.line, src->kind_loc.col);
		return;
	}
	src->kind = (enum scn_source_kind)f->min;
	src->kind_loc = key->loc;
	if (src->kind == SCN_SRC_DEBIAN)
		field_debian_version(p, f, key, val, obj);
	else
		scenario_value_string(p, f, val, MEMBER(obj, f, char *));
}

/* sources.*.debian: a Debian version (Debian Policy 5.6.12) */
static void field_debian_version(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key UNUSED,
				 const struct scn_node *val, void *obj)
{
	cleanup_free char *version = NULL, *q = NULL;

	if (scenario_value_string(p, f, val, &version) < 0)
		return;
	/* Debian Policy 5.6.12: [epoch:]upstream[-revision], upstream starting with a digit */
	if (!isdigit((unsigned char)version[0]) ||
	    strspn(version, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+~:-") != strlen(version)) {
		q = scenario_quote(version, strlen(version));
		scenario_problem(p, val->loc, "%s: %s is not a Debian version; hint: write the version as "
				 "\"apt-cache policy\" shows it, like \"10.0.13+ds-1\"", p->path, q);
		return;
	}
	*MEMBER(obj, f, char *) = version;
	version = NULL;
}

/* ---- the walk ----------------------------------------------------------------------------------- */

/*
 * key_homes() - where else in the language a key named @key lives ("l1.viommu, nic"), so that a key
 * written at the wrong level gets a precise hint; appends to @sb, at most 4 places
 */
static void key_homes(const struct scn_section *sec, const char *prefix, const char *key, struct strbuf *sb,
		      unsigned *found)
{
	for (size_t i = 0; i < sec->n_fields && *found < 4; i++) {
		const struct scn_field *f = &sec->fields[i];
		cleanup_free char *path = *prefix ? xasprintf("%s.%s", prefix, f->key) : xstrdup(f->key);

		if (!strcmp(f->key, key)) {
			strbuf_printf(sb, "%s%s", (*found)++ ? " or " : "", *prefix ? prefix : "the top level");
			continue;
		}
		if (f->type == SCN_FIELD_SECTION)
			key_homes(f->section, path, key, sb, found);
	}
}

/* unknown_key() - report @key, which @sec does not have, with the best hint we can give */
static void unknown_key(struct scn_parse *p, const struct scn_section *sec, const struct scn_node *key)
{
	const char *keys[SECTION_MAX_FIELDS];
	cleanup_free char *q = NULL, *valid = NULL, *where = NULL;
	cleanup_strbuf struct strbuf homes = STRBUF_INIT;
	const char *dot = strchr(key->text, '.'), *guess;
	unsigned found = 0;

	if (scenario_problem_unseen(p, key->loc))
		return;
	q = scenario_quote(key->text, key->text_len);
	where = *p->path ? xasprintf("in %s", p->path) : xstrdup("at the top level");
	for (size_t i = 0; i < sec->n_fields; i++)
		keys[i] = sec->fields[i].key;
	guess = scenario_value_nearest(key->text, keys, sec->n_fields);
	valid = scenario_value_join(keys, sec->n_fields);
	for (size_t i = 0; dot && i < sec->n_fields; i++) {
		size_t head_len = (size_t)(dot - key->text);

		if (strlen(keys[i]) == head_len && !strncmp(key->text, keys[i], head_len)) {
			scenario_problem(p, key->loc, "unknown key %s %s; hint: YAML does not split dotted keys: "
					 "write \"%s:\" on its own line and the rest indented below it", q, where, keys[i]);
			return;
		}
	}
	if (key->text_len < 64)
		key_homes(&top_section, "", key->text, &homes, &found);
	if (found)
		scenario_problem(p, key->loc, "unknown key %s %s; hint: %s belongs in %s", q, where, key->text,
				 homes.str);
	else if (guess)
		scenario_problem(p, key->loc, "unknown key %s %s; hint: did you mean \"%s\"?", q, where, guess);
	else
		scenario_problem(p, key->loc, "unknown key %s %s; hint: valid keys here are %s", q, where, valid);
}

/* field_apply() - read one key's value into @obj, the object of the section holding the key */
static void field_apply(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key,
			const struct scn_node *val, void *obj);

/**
 * section_walk() - read mapping @map into @obj following the key table of @sec
 * @p:		the parse; p->path names the section ("" at the top)
 * @sec:	the key table
 * @map:	the mapping node, or a null scalar when the section was left empty ("l1:")
 * @obj:	the object the keys fill
 *
 * Reports non-scalar keys, unknown keys and duplicate keys, reads the known ones and runs the section's
 * cross-checks.
 */
static void section_walk(struct scn_parse *p, const struct scn_section *sec, const struct scn_node *map, void *obj)
{
	struct scn_loc seen[SECTION_MAX_FIELDS] = { { 0, 0 } };

	if (map->kind == SCN_NODE_INVALID)
		return;
	if (map->kind != SCN_NODE_MAPPING && !scenario_node_is_null(map)) {
		scenario_problem(p, map->loc, "%s: expected a mapping of keys, found %s; hint: write its keys on the "
				 "lines below, indented, like \"  %s: %s\"", p->path, scenario_value_kind(map), sec->fields[0].key,
				 sec->fields[0].example ? sec->fields[0].example : "...");
		return;
	}
	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		const struct scn_node *key = map->items[i], *val = map->items[i + 1];
		const struct scn_field *f = NULL;
		size_t old;

		if (key->kind == SCN_NODE_INVALID)
			continue;
		if (key->kind != SCN_NODE_SCALAR) {
			scenario_problem(p, key->loc, "a key must be a plain name, found %s used as a key; hint: "
					 "check the indentation and the brackets here", scenario_value_kind(key));
			continue;
		}
		for (size_t j = 0; j < sec->n_fields && !f; j++)
			if (!strcmp(key->text, sec->fields[j].key))
				f = &sec->fields[j];
		if (!f) {
			unknown_key(p, sec, key);
			continue;
		}
		old = path_push(p, "%s", f->key);
		if (seen[f - sec->fields].line)
			scenario_problem(p, key->loc, "%s is given twice (first at %u:%u); hint: remove one of them",
					 p->path, seen[f - sec->fields].line, seen[f - sec->fields].col);
		else {
			seen[f - sec->fields] = key->loc;
			field_apply(p, f, key, val, obj);
		}
		path_pop(p, old);
	}
	if (sec->check)
		sec->check(p, map, obj);
}

static void field_apply(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key,
			const struct scn_node *val, void *obj)
{
	uint64_t number;
	unsigned index;
	bool yes;

	if (f->loc_offset != NO_LOC)
		*(struct scn_loc *)((char *)obj + f->loc_offset) = f->type == SCN_FIELD_SECTION ? key->loc : val->loc;
	switch (f->type) {
	case SCN_FIELD_STRING:
	case SCN_FIELD_TEXT:
		scenario_value_string(p, f, val, MEMBER(obj, f, char *));
		break;
	case SCN_FIELD_ENUM:
		if (scenario_value_enum(p, f, val, &index) == 0)
			*MEMBER(obj, f, unsigned) = index;
		break;
	case SCN_FIELD_BOOL:
		if (scenario_value_bool(p, f, val, &yes) == 0)
			*MEMBER(obj, f, unsigned) = yes ? SCN_TRUE : SCN_FALSE;
		break;
	case SCN_FIELD_UINT:
		if (scenario_value_uint(p, f, val, f->min, f->max, &number) == 0)
			*MEMBER(obj, f, unsigned) = (unsigned)number;
		break;
	case SCN_FIELD_SIZE:
		scenario_value_size(p, f, val, MEMBER(obj, f, uint64_t));
		break;
	case SCN_FIELD_DURATION:
		scenario_value_duration(p, f, val, MEMBER(obj, f, uint64_t));
		break;
	case SCN_FIELD_SECTION:
		section_walk(p, f->section, val, MEMBER(obj, f, void));
		break;
	case SCN_FIELD_CUSTOM:
		f->custom(p, f, key, val, obj);
		break;
	}
}

/* ---- checks across keys ----------------------------------------------------------------------- */

static bool written(struct scn_loc loc)
{
	return loc.line != 0;
}

/* viommu_check() - with model: none there is no vIOMMU, so its properties contradict it */
static void viommu_check(struct scn_parse *p, const struct scn_node *map, void *obj)
{
	const struct scn_viommu *viommu = obj;

	if (viommu->model != SCN_VIOMMU_NONE)
		return;
	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		const struct scn_node *key = map->items[i];

		if (key->kind != SCN_NODE_SCALAR || !strcmp(key->text, "model"))
			continue;
		for (size_t j = 0; j < ARRAY_SIZE(viommu_fields); j++)
			if (!strcmp(key->text, viommu_fields[j].key))
				scenario_problem(p, key->loc, "%s.%s is set, but %s.model is none (no vIOMMU); hint: "
						 "remove %s, or set model: intel", p->path, key->text, p->path, key->text);
	}
}

/* l2_check() - L2's image is one nestlab builds: minimal or dpdk */
static void l2_check(struct scn_parse *p, const struct scn_node *map UNUSED, void *obj)
{
	const struct scn_guest *l2 = obj;
	cleanup_free char *q = NULL;
	const char *guess;

	if (!l2->image || !strcmp(l2->image, "minimal") || !strcmp(l2->image, "dpdk"))
		return;
	q = scenario_quote(l2->image, strlen(l2->image));
	guess = scenario_value_nearest(l2->image, l2_image_names, ARRAY_SIZE(l2_image_names));
	scenario_problem(p, l2->image_loc, "%s.image: %s is not an L2 image; hint: %s%s%suse minimal or dpdk "
			 "(nestlab builds L2's image itself; a path is accepted for l1.image only)", p->path, q,
			 guess ? "did you mean \"" : "", guess ? guess : "", guess ? "\"? " : "");
}

/* expect_check() - stage is required for a refusal and meaningless for a pass; message likewise */
static void expect_check(struct scn_parse *p, const struct scn_node *map UNUSED, void *obj)
{
	const struct scn_expectation *expect = obj;
	const char *outcome = expect->outcome == SCN_EXPECT_PASS ? "outcome is pass" : "outcome defaults to pass";

	if (written(expect->outcome_loc) && expect->outcome == SCN_EXPECT_UNSET)
		return;		/* outcome itself was refused */
	if (expect->outcome == SCN_EXPECT_REFUSAL && !written(expect->stage_loc))
		scenario_problem(p, expect->outcome_loc, "expect.stage is missing: a refusal must say where it "
				 "happens; hint: add \"stage: l1-start\", \"stage: l2-start\" or \"stage: l2-boot\"");
	if (expect->outcome == SCN_EXPECT_REFUSAL)
		return;
	if (written(expect->stage_loc))
		scenario_problem(p, expect->stage_loc, "expect.stage is set but %s; hint: add \"outcome: refusal\", "
				 "or remove stage", outcome);
	if (written(expect->message_loc))
		scenario_problem(p, expect->message_loc, "expect.message is set but %s; hint: add \"outcome: "
				 "refusal\", or remove message", outcome);
}

/* source_check() - ref goes with git and git needs a ref */
static void source_check(struct scn_parse *p, const struct scn_node *map, void *obj)
{
	const struct scn_source *src = obj;
	const struct scn_node *ref = find_key(map, "ref");

	if (ref && src->kind != SCN_SRC_GIT)
		scenario_problem(p, ref->loc, "%s.ref is only used with git; hint: add \"git: PATH\" next to it, or "
				 "remove ref", p->path);
	if (!ref && src->kind == SCN_SRC_GIT)
		scenario_problem(p, src->kind_loc, "%s.ref is missing: git needs a ref to build; hint: add "
				 "\"ref: BRANCH-TAG-OR-COMMIT\" next to git", p->path);
}

/* l0_nic_check() - the top-level checks: name is required; the NIC must suit l0.mode and l0.backend */
static void l0_nic_check(struct scn_parse *p, const struct scn_node *map, void *obj)
{
	const struct scenario *scn = obj;
	const struct scn_l0 *l0 = &scn->l0;
	const struct scn_nic *nic = &scn->nic;
	bool mode_refused = written(l0->mode_loc) && l0->mode == SCN_L0_MODE_UNSET;

	if (!find_key(map, "name"))
		scenario_problem(p, map->loc, "name is missing; hint: add \"name: my-scenario\" (lower-case letters, "
				 "digits and -)");
	if (written(nic->host_loc) && !mode_refused && l0->mode != SCN_L0_LAB)
		scenario_problem(p, nic->host_loc, "nic.host names a host NIC, but l0.mode is %s; hint: set "
				 "l0.mode: lab to test a real NIC, or remove nic.host to use an emulated one",
				 written(l0->mode_loc) ? "emulated" : "emulated (the default)");
	if (written(nic->model_loc) && l0->mode == SCN_L0_LAB)
		scenario_problem(p, nic->model_loc, "nic.model picks an emulated NIC, but l0.mode is lab; hint: "
				 "remove nic.model (the lab NIC is nic.host), or set l0.mode: emulated");
	if (l0->mode == SCN_L0_LAB && !written(nic->host_loc))
		scenario_problem(p, l0->mode_loc, "nic.host is missing: l0.mode lab needs the host NIC; hint: add "
				 "nic.host: \"0000:03:00.0\" (as \"lspci -D\" shows it) or \"$NESTLAB_HOST_NIC\"");
	if (l0->backend == SCN_BACKEND_QEMU && written(l0->connect_loc))
		scenario_problem(p, l0->connect_loc, "l0.connect is a libvirt URI, but l0.backend is qemu; hint: "
				 "remove connect, or set backend: libvirt");
}

/**
 * scenario_schema_apply() - read the document into p->scn
 * @p:		the parse
 * @root:	the document's root node (not NULL, not null)
 */
void scenario_schema_apply(struct scn_parse *p, const struct scn_node *root)
{
	p->path[0] = '\0';
	if (root->kind == SCN_NODE_INVALID)
		return;
	if (root->kind != SCN_NODE_MAPPING) {
		scenario_problem(p, root->loc, "the top level must be a mapping of keys (name:, l1:, ...), found %s; "
				 "hint: start the file with \"name: my-scenario\" (see scenarios/README.md)",
				 scenario_value_kind(root));
		return;
	}
	section_walk(p, &top_section, root, p->scn);
}
