/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow.h - the shadow consistency check: parse each view of a device's DMA mappings, follow every L2
 * IOVA page through them, and say exactly where they disagree
 *
 * nestlab assigns one NIC L0 -> L1 -> L2 through vfio-pci, with QEMU's intel-iommu (caching-mode=on) at
 * both levels. A mapping that L2's driver makes travels down a chain, and each hop leaves a view that can
 * be read back:
 *
 *	view				source (raw text the run engine collects)		maps IOVA to
 *	L2 IOMMU table			L2 debugfs iommu/intel/<bdf>/domain_translation_struct	L2 GPA
 *	L1 QEMU walk of L2's table	L1 QEMU x-query-vtd-mappings source=guest		L2 GPA
 *	L1 QEMU shadow			L1 QEMU x-query-vtd-mappings (source=shadow)		L2 GPA
 *	L1 vfio type1			L1 debugfs vfio/type1/<id>/mappings			L1 QEMU vaddr
 *	L1 IOMMU table			L1 debugfs iommu/intel/<bdf>/domain_translation_struct	L1 GPA
 *	L0 intel-iommu			L0 QEMU x-query-vtd-mappings source=guest		L1 GPA
 *	L0 intel-iommu probes		L0 QEMU x-vtd-translate, one IOVA each			L1 GPA or a fault
 *
 * Parsing (shadow_parse.c, shadow_qmp.c) turns each text into a struct shadow_map: IOVA extents with the
 * address they translate to and their permissions. Every text is untrusted (a guest wrote it): sizes are
 * bounded, garbage is an error naming the line (or the JSON member), never a crash.
 *
 * The check (shadow_check.c) takes the views it is given (any may be NULL: not collected) and walks the
 * IOVA space once, in segments where no view changes, so a 1 GiB page costs no more than a 4 KiB one:
 *   - the reference is the L2 IOMMU table, or L1 QEMU's walk of it when L2's debugfs is missing;
 *   - every reference page G = L2 GPA must be in L1 QEMU's walk and shadow as G, in vfio as hva_of(G)
 *     (struct shadow_ram_layout, when given), in L1's IOMMU table as some P, and in L0's view as that P;
 *   - a page that a view holds and the reference does not is a mismatch too;
 *   - a mismatch names the first view down the chain that disagrees, what was expected there and what
 *     was found, and the views further down that disagree as well. Consecutive pages with the same
 *     story are one mismatch with a page count.
 * pages_checked counts the reference pages: an empty L2 domain checks nothing, and the caller must fail
 * on that (shadow_result_ok() does).
 *
 * The same result struct carries the "after unmap" check (shadow_check_unmapped(): which view still holds
 * an IOVA that was unmapped) and is printed by shadow_format_tap() (a few lines for TAP diagnostics) and
 * shadow_format_report() (everything, for a file in the run directory).
 *
 *	struct shadow_table l2 = { 0 };		// and l1, shadow, vfio, ... likewise
 *	cleanup_shadow_result struct shadow_result res = { 0 };
 *	cleanup_strbuf struct strbuf diag = STRBUF_INIT, report = STRBUF_INIT;
 *
 *	if (shadow_table_parse(&l2, text, len, err) < 0)	// L2's domain_translation_struct
 *		return nl_error_wrap(err, "L2 debugfs iommu/intel/0000:00:01.0/domain_translation_struct");
 *	struct shadow_views v = { .l2_table = &l2, .l1_shadow = &shadow, .l1_vfio = &vfio, .l2_ram = &ram };
 *	if (shadow_check(&v, &res, err) < 0)
 *		return -1;
 *	shadow_format_report(&res, &report);		// -> RUN/shadow-up.txt
 *	if (!shadow_result_ok(&res))			// also false when no page was checked
 *		shadow_format_tap(&res, 5, "RUN/shadow-up.txt", &diag);	// -> tap_comment() / message
 *
 * "Disagrees" means: with the reference, except where a view has a concrete upstream value (L0's walk
 * must hold L1's P; L1's table the permissions of vfio). A view down the chain that still agrees with
 * the reference after a break is not listed under "also".
 */
#ifndef NESTLAB_SHADOW_H
#define NESTLAB_SHADOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SHADOW_PAGE_BYTES 4096ull		/* the granularity of every view (VT-d and x86 4 KiB pages) */
#define SHADOW_TEXT_MAX_BYTES (256u << 20)	/* a longer debugfs text or QMP reply is refused */
#define SHADOW_LINE_MAX_BYTES 1024		/* a longer debugfs line is an error */
#define SHADOW_EXTENTS_MAX (1u << 21)		/* entries in one view: 8 GiB of 4 KiB pages */
#define SHADOW_MISMATCHES_MAX 4096		/* mismatch records kept; the rest are only counted */
#define SHADOW_RAM_REGIONS_MAX 4096
#define SHADOW_UNMAPPED_RANGES_MAX (1u << 16)	/* unmapped IOVA ranges the unmap check follows */

/* the debugfs files, for messages and for the engine (Linux 6.12 drivers/iommu/intel/debugfs.c) */
#define SHADOW_DEBUGFS_TABLE_FMT "/sys/kernel/debug/iommu/intel/%s/domain_translation_struct"
#define SHADOW_DEBUGFS_PASID_TABLE_FMT "/sys/kernel/debug/iommu/intel/%s/%x/domain_translation_struct"
#define SHADOW_DEBUGFS_VFIO_DIR "/sys/kernel/debug/vfio/type1"	/* <id>/{mappings,stats} */

/* permissions, as the VT-d second-level entry bits R (0) and W (1) */
#define SHADOW_PERM_R 1u
#define SHADOW_PERM_W 2u
#define SHADOW_PERM_RW (SHADOW_PERM_R | SHADOW_PERM_W)

/* vfio type1 mapping states ("state" column of vfio/type1/<id>/mappings) */
enum shadow_vfio_state {
	SHADOW_VFIO_MAPPED = 0,		/* "mapped": in the IOMMU domains (also every other view's entries) */
	SHADOW_VFIO_NOT_MAPPED,		/* "not-mapped": no IOMMU-backed domain yet */
	SHADOW_VFIO_VADDR_INVALID,	/* "vaddr-invalid": between VFIO_DMA_UNMAP_FLAG_VADDR and a new vaddr */
};

/* one mapped IOVA range of a view */
struct shadow_extent {
	uint64_t iova;
	uint64_t size_bytes;		/* > 0, a multiple of SHADOW_PAGE_BYTES */
	uint64_t addr;			/* what @iova translates to: L2 GPA, L1 QEMU vaddr or L1 GPA */
	unsigned perm;			/* SHADOW_PERM_* */
	enum shadow_vfio_state state;	/* vfio only; SHADOW_VFIO_MAPPED elsewhere */
	uint64_t pinned_pages;		/* vfio only: the "pinned" column */
	unsigned line;			/* where it came from: text line, or index in "mappings" + 1 */
};

/* a view's mappings: sorted by IOVA, no two overlapping (checked by the parsers) */
struct shadow_map {
	struct shadow_extent *extents;
	size_t count, alloc;
	uint64_t pages;			/* 4 KiB pages covered */
};

/*
 * A domain_translation_struct file (Linux 6.12 drivers/iommu/intel/debugfs.c,
 * domain_translation_struct_show()): leaf entries of the device's I/O page table.
 */
struct shadow_table {
	bool found;			/* a "Device ..." header was there (else: no translation set up) */
	char device[16];		/* "0000:00:01.0" */
	bool scalable;			/* "with pasid N": scalable mode */
	uint32_t pasid;
	uint64_t pgd;			/* page-table root ("@0x...") */
	unsigned remapping_disabled;	/* "DMA Remapping is not enabled on dmarN" lines */
	struct shadow_map map;		/* addr: output address of the leaf; perm: R/W of all levels ANDed */
};

/* the reply of x-query-vtd-mappings (patches/qemu/0004, 0006; qapi/misc-target.json VtdMappingsInfo) */
struct shadow_vtd {
	char device[128];		/* canonical QOM path (cut if longer) */
	unsigned sid;			/* requester ID, bus << 8 | devfn */
	bool guest;			/* "source": true for "guest" (a walk of the guest's tables) */
	bool dmar_enabled, bypass, map_notifier;
	struct shadow_map map;		/* "mappings"; addr: translated-addr */
	bool has_dropped;		/* "dropped-mapping" (x-drop-map-notify): the MAP event not sent */
	struct shadow_extent dropped;
	struct {			/* "counters": this device's address space */
		uint64_t page_walks, map_notifications, unmap_notifications, dropped_map_notifications,
			dmar_faults;
	} as;
	struct {			/* "iommu": the whole intel-iommu unit */
		uint64_t map_notifications, dropped_map_notifications, dmar_faults, ir_faults, fpd_faults,
			recorded_faults;
		uint64_t inv_context_global, inv_context_domain, inv_context_device, inv_iotlb_global,
			inv_iotlb_domain, inv_iotlb_page, inv_pasid_iotlb_pasid, inv_pasid_iotlb_page,
			inv_pasid_cache, inv_iec_global, inv_iec_index, inv_device_iotlb,
			inv_pasid_device_iotlb, inv_wait, inv_errors;
	} iommu;
};

/* the reply of x-vtd-translate (patches/qemu/0005; VtdTranslation): one IOVA, as the device's DMA sees it */
struct shadow_translation {
	uint64_t iova;
	bool write;			/* translated for a DMA write */
	bool bypass;
	bool success;
	uint64_t translated_addr;	/* on success: the full address, page base | offset */
	uint64_t addr_mask;		/* on success: page size - 1 */
	unsigned perm;			/* SHADOW_PERM_*; 0 on failure */
	unsigned fault_reason;		/* on failure: VT-d fault reason (FRCD.FR), e.g. 6 no read permission */
	char fault_description[96];	/* on failure (cut if longer) */
	bool fault_recorded;
};

/* vfio/type1/<id>/mappings (patches/linux/0001): "<iova> <size> <vaddr> <prot> <pinned> <state>" */
struct shadow_vfio {
	int container_id;		/* <id> when known (shadow_vfio_parse() leaves it, the caller sets it) */
	struct shadow_map map;		/* addr: vaddr in L1 QEMU; pinned_pages and state filled */
};

/* vfio/type1/<id>/stats: "key value" lines */
struct shadow_vfio_stats {
	int id;
	int pid;			/* tgid that set the IOMMU: L1's QEMU */
	char comm[32];
	char type[16];			/* "type1", "type1v2", "nesting" */
	uint64_t domains, dma_entries, map_dma, map_dma_failed, mapped_bytes, unmap_dma, unmap_dma_failed,
		unmapped_bytes;
};

/*
 * L2's RAM as L1's QEMU maps it: L2 GPA -> QEMU vaddr, for vfio's column. Build it with
 * shadow_ram_layout_add() (e.g. from a known memory-backend) or shadow_ram_layout_parse_hmp().
 */
struct shadow_ram_region {
	uint64_t gpa;
	uint64_t size_bytes;
	uint64_t hva;
};

struct shadow_ram_layout {
	struct shadow_ram_region *regions;	/* sorted by gpa, no overlaps once finished */
	size_t count, alloc;
};

enum shadow_view {
	SHADOW_VIEW_L2_TABLE = 0,
	SHADOW_VIEW_L1_QEMU_GUEST,
	SHADOW_VIEW_L1_QEMU_SHADOW,
	SHADOW_VIEW_L1_VFIO,
	SHADOW_VIEW_L1_TABLE,
	SHADOW_VIEW_L0_GUEST,
	SHADOW_VIEW_L0_TRANSLATE,
	SHADOW_VIEW_COUNT
};

/* what shadow_check() compares; NULL (or count 0) is a view that was not collected */
struct shadow_views {
	const struct shadow_table *l2_table;
	const struct shadow_vtd *l1_guest;		/* must be a source=guest reply */
	const struct shadow_vtd *l1_shadow;		/* must be a source=shadow reply */
	const struct shadow_vfio *l1_vfio;
	const struct shadow_vfio_stats *l1_vfio_stats;	/* checked against l1_vfio (entries, bytes) */
	const struct shadow_table *l1_table;
	const struct shadow_vtd *l0_guest;		/* must be a source=guest reply */
	const struct shadow_translation *l0_probes;
	size_t l0_probe_count;
	const struct shadow_ram_layout *l2_ram;		/* NULL: vfio vaddrs are not checked */
};

enum shadow_mismatch_kind {
	SHADOW_MISSING = 0,	/* the reference maps the page, this view does not */
	SHADOW_EXTRA,		/* this view maps a page the reference does not */
	SHADOW_ADDRESS,		/* both map it, to different addresses */
	SHADOW_PERM,		/* permissions that the reference does not grant, or that lack what it grants */
	SHADOW_STATE,		/* vfio holds it but not "mapped" */
	SHADOW_NOT_RAM,		/* the reference maps it to an L2 GPA outside the L2 RAM layout */
	SHADOW_FAULT,		/* an x-vtd-translate probe faulted where the page is mapped */
	SHADOW_STALE,		/* shadow_check_unmapped(): still held after it was unmapped */
};

struct shadow_mismatch {
	uint64_t iova;			/* first page */
	uint64_t pages;			/* consecutive pages with the same story */
	enum shadow_view view;		/* the first view down the chain that disagrees */
	enum shadow_mismatch_kind kind;
	bool expected_present;
	bool expected_addr_known;	/* the address the view should hold is known */
	uint64_t expected_addr;
	unsigned expected_perm;
	uint64_t ref_addr;		/* the reference's address (L2 GPA) when it maps the page */
	bool found_present;
	uint64_t found_addr;
	unsigned found_perm;
	enum shadow_vfio_state found_state;
	unsigned fault_reason;		/* SHADOW_FAULT: VT-d fault reason */
	unsigned also;			/* views further down that disagree too: bit (1u << view) */
};

struct shadow_result {
	bool unmap_check;			/* filled by shadow_check_unmapped() */
	unsigned views_compared;		/* bit (1u << view) for every view given */
	enum shadow_view reference;
	char view_names[SHADOW_VIEW_COUNT][80];	/* "L1 vfio type1 (debugfs vfio/type1/3/mappings)" */
	uint64_t view_pages[SHADOW_VIEW_COUNT];	/* 4 KiB pages each view maps (probes: probes given) */
	uint64_t pages_checked;			/* reference pages (unmap check: unmapped pages); 0: fail */
	size_t probes_checked;
	bool vfio_addresses_checked;		/* an L2 RAM layout was given */
	uint64_t mismatch_pages;		/* pages in all mismatches, including those not kept */
	uint64_t mismatch_total;		/* mismatches, including those not kept */
	struct shadow_mismatch *mismatches;	/* sorted by IOVA; at most SHADOW_MISMATCHES_MAX */
	size_t mismatch_count, mismatch_alloc;
	char **problems;			/* failures that are not about one IOVA (vfio stats vs mappings) */
	char **notes;				/* facts that explain a result (x-drop-map-notify's dropped MAP) */
};

/* a range of IOVAs, for shadow_check_unmapped() */
struct shadow_range {
	uint64_t iova;
	uint64_t size_bytes;
};

/* counts for the baseline comparison (mappings back to what they were once L2 released the NIC) */
enum shadow_count {
	SHADOW_COUNT_L1_SHADOW_PAGES = 0,	/* pages in L1 QEMU's shadow */
	SHADOW_COUNT_L1_SHADOW_MAPPINGS,	/* entries in L1 QEMU's shadow */
	SHADOW_COUNT_L1_GUEST_PAGES,		/* pages in L2's tables as L1 QEMU walks them */
	SHADOW_COUNT_L1_VFIO_PAGES,		/* pages in the L1 vfio container */
	SHADOW_COUNT_L1_VFIO_MAPPINGS,		/* entries in the L1 vfio container */
	SHADOW_COUNT_L1_VFIO_DMA_ENTRIES,	/* stats "dma_entries" */
	SHADOW_COUNT_L1_VFIO_BYTES_HELD,	/* stats "mapped_bytes" - "unmapped_bytes" */
	SHADOW_COUNT_L1_TABLE_PAGES,		/* pages in L1's IOMMU table for the NIC */
	SHADOW_COUNT_L0_PAGES,			/* pages in L1's tables as L0 QEMU walks them */
	SHADOW_COUNT_MAX
};

struct shadow_counts {
	bool present[SHADOW_COUNT_MAX];
	uint64_t value[SHADOW_COUNT_MAX];
};

/* ---- maps and parsers (shadow_parse.c, shadow_qmp.c) ------------------------------------------ */

void shadow_map_release(struct shadow_map *map);
/* shadow_map_find() - the extent that holds @iova, or NULL */
const struct shadow_extent *shadow_map_find(const struct shadow_map *map, uint64_t iova);

/**
 * shadow_table_parse() - parse a domain_translation_struct file of Linux 6.12
 * @t:		zeroed on entry; filled (shadow_table_release() it, also on error)
 * @text:	the file's bytes (need not be NUL-terminated); an empty file is a device without
 *		translation (t->found false, no error)
 * @len:	their number, at most SHADOW_TEXT_MAX_BYTES
 * @err:	"line N: ..." on garbage
 *
 * Return: 0 or -1.
 */
int shadow_table_parse(struct shadow_table *t, const char *text, size_t len, nl_error_t *err);
void shadow_table_release(struct shadow_table *t);

/* shadow_vfio_parse() - parse vfio/type1/<id>/mappings into @v (zeroed; shadow_vfio_release() it) */
int shadow_vfio_parse(struct shadow_vfio *v, const char *text, size_t len, nl_error_t *err);
void shadow_vfio_release(struct shadow_vfio *v);
/* shadow_vfio_stats_parse() - parse vfio/type1/<id>/stats; every key of the patch must be there once */
int shadow_vfio_stats_parse(struct shadow_vfio_stats *s, const char *text, size_t len, nl_error_t *err);

/**
 * shadow_vtd_parse_json() - take an x-query-vtd-mappings reply
 * @v:		zeroed on entry; filled (shadow_vtd_release() it, also on error)
 * @reply:	the "return" value as qmp_execute() gives it, or a whole {"return": ...} or {"error": ...}
 *		reply as read from a log (borrowed)
 * @err:	names the JSON member that is wrong
 *
 * Return: 0 or -1.
 */
int shadow_vtd_parse_json(struct shadow_vtd *v, const json_t *reply, nl_error_t *err);
/* shadow_vtd_parse_text() - the same from JSON text (one reply, at most SHADOW_TEXT_MAX_BYTES) */
int shadow_vtd_parse_text(struct shadow_vtd *v, const char *text, size_t len, nl_error_t *err);
/*
 * shadow_vtd_limit_error() - @msg quotes x-query-vtd-mappings' error for its max-entries or max-tables limit
 * (patches/qemu/0004: "... raise 'max-entries' (at most N) ..."); the parsers above give such an error
 * errnum E2BIG
 */
bool shadow_vtd_limit_error(const char *msg);
void shadow_vtd_release(struct shadow_vtd *v);

/* shadow_translation_parse_json() / _text() - take an x-vtd-translate reply (nothing to release) */
int shadow_translation_parse_json(struct shadow_translation *t, const json_t *reply, nl_error_t *err);
int shadow_translation_parse_text(struct shadow_translation *t, const char *text, size_t len,
				  nl_error_t *err);

/* shadow_ram_layout_add() - append a region (checked by shadow_ram_layout_finish()) */
void shadow_ram_layout_add(struct shadow_ram_layout *l, uint64_t gpa, uint64_t size_bytes, uint64_t hva);
/* shadow_ram_layout_finish() - sort the regions; overlapping or empty ones are an error */
int shadow_ram_layout_finish(struct shadow_ram_layout *l, nl_error_t *err);
/**
 * shadow_ram_layout_parse_hmp() - L2's RAM layout from two HMP commands of L1's QEMU (QEMU 10.0
 * system/memory.c mtree_print_flatview(), system/physmem.c ram_block_format())
 * @l:		zeroed on entry; filled and finished (shadow_ram_layout_release() it)
 * @mtree:	`info mtree -f`: the "ram" ranges of the flat view of address space "memory"
 * @ramblock:	`info ramblock`: the HVA of each RAM block
 * @err:	error
 *
 * Return: 0 or -1 (also when no RAM range was found).
 */
int shadow_ram_layout_parse_hmp(struct shadow_ram_layout *l, const char *mtree, size_t mtree_len,
				const char *ramblock, size_t ramblock_len, nl_error_t *err);
void shadow_ram_layout_release(struct shadow_ram_layout *l);
/* shadow_ram_hva() - the vaddr of L2 GPA @gpa, or false when it is not in a region */
bool shadow_ram_hva(const struct shadow_ram_layout *l, uint64_t gpa, uint64_t *hva);

/* ---- the checks (shadow_check.c) -------------------------------------------------------------- */

/* shadow_view_name() - "L1 QEMU shadow (x-query-vtd-mappings)", for messages */
const char *shadow_view_name(enum shadow_view view);
const char *shadow_mismatch_kind_name(enum shadow_mismatch_kind kind);

/**
 * shadow_check() - follow every page of the L2 domain through the views
 * @views:	the views collected (see struct shadow_views)
 * @out:	zeroed on entry; the result (shadow_result_release() it, also on error)
 * @err:	error: neither the L2 table nor L1 QEMU's walk of it was given (nothing to compare with),
 *		or a view of the wrong source
 *
 * Return: 0 (the result says whether the views agree) or -1.
 */
int shadow_check(const struct shadow_views *views, struct shadow_result *out, nl_error_t *err);

/**
 * shadow_check_unmapped() - the "after unmap" check: report every view that still holds an IOVA of
 * @unmapped (pages_checked counts the unmapped pages; a probe that translates one is a mismatch too)
 * @views:	the views collected after the unmap
 * @unmapped:	IOVA ranges (page-aligned) that were unmapped
 * @count:	their number
 * @out:	zeroed on entry; the result (shadow_result_release() it)
 * @err:	error: a range not page-aligned, or empty
 *
 * Return: 0 or -1.
 */
int shadow_check_unmapped(const struct shadow_views *views, const struct shadow_range *unmapped, size_t count,
			  struct shadow_result *out, nl_error_t *err);

/**
 * shadow_map_unmapped() - the IOVA ranges @before maps and @now does not ("what was unmapped")
 * @before:	the reference map before the unmap (sizes come from a guest: any page count)
 * @now:	the same view after it; NULL maps nothing
 * @out:	the ranges, sorted and merged (free() it); NULL when there are none
 * @count:	their number
 * @pages:	4 KiB pages in them
 * @err:	more than SHADOW_UNMAPPED_RANGES_MAX ranges
 *
 * Works extent by extent (never page by page), so the time and memory it takes depend on the number of
 * extents, not on the pages a guest says they cover.
 * Return: 0 or -1.
 */
int shadow_map_unmapped(const struct shadow_map *before, const struct shadow_map *now, struct shadow_range **out,
			size_t *count, uint64_t *pages, nl_error_t *err);

/* shadow_result_ok() - pages were checked, no mismatch, no problem */
bool shadow_result_ok(const struct shadow_result *r);
void shadow_result_release(struct shadow_result *r);
#define cleanup_shadow_result __attribute__((cleanup(shadow_result_release)))

/* shadow_counts_take() - the counts of the views given (those not given are not present) */
void shadow_counts_take(struct shadow_counts *c, const struct shadow_views *views);
const char *shadow_count_name(enum shadow_count count);
/**
 * shadow_counts_compare() - are the counts back to the baseline?
 * @baseline:	counts taken before (e.g. before L2 brought the NIC up)
 * @now:	counts taken after (e.g. after L2 released it)
 * @compared:	set to the number of counts present in both; 0 means nothing was compared: fail
 * @diag:	one line per count that differs, "NAME: N now, M at baseline"
 *
 * Return: the number of counts that differ.
 */
unsigned shadow_counts_compare(const struct shadow_counts *baseline, const struct shadow_counts *now,
			       unsigned *compared, struct strbuf *diag);

/* ---- reports (shadow_report.c) ---------------------------------------------------------------- */

/**
 * shadow_format_tap() - a few lines for TAP diagnostics (no "# " prefix: give them to tap_comment() or
 * to a point's message): the summary, the first @max_mismatches mismatches, then how many there are
 * @r:			result
 * @max_mismatches:	mismatches to show
 * @report_path:	the full report's file, named in the last line (NULL: not named)
 * @out:		appended to
 */
void shadow_format_tap(const struct shadow_result *r, size_t max_mismatches, const char *report_path,
		       struct strbuf *out);
/* shadow_format_report() - every view, count, mismatch, problem and note, for a file in the run directory */
void shadow_format_report(const struct shadow_result *r, struct strbuf *out);

#endif /* NESTLAB_SHADOW_H */
