/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow_report.c - the shadow check's result as text: a few lines for TAP diagnostics, and a full report
 * for the run directory
 *
 * One mismatch is one line that names the IOVA, the view where the chain breaks, what was expected there
 * and what was found:
 *
 *	iova 0xfff9c000 (1 page): L1 vfio type1 (debugfs vfio/type1/1/mappings): missing: expected vaddr
 *	0x7f8842e90000 rw (L2 GPA 0x30a7000), found nothing; also at: L1 IOMMU table (debugfs), ...
 *
 * (on one line). Addresses are named by their space: "L2 GPA" for L2's table and L1 QEMU's views,
 * "vaddr" (L1 QEMU's) for vfio, "L1 GPA" for L1's table and L0's views.
 */
#include <string.h>

#include "shadow_internal.h"

/* addr_space() - what an address of @view is */
static const char *addr_space(enum shadow_view view)
{
	switch (view) {
	case SHADOW_VIEW_L2_TABLE:
	case SHADOW_VIEW_L1_QEMU_GUEST:
	case SHADOW_VIEW_L1_QEMU_SHADOW:
		return "L2 GPA";
	case SHADOW_VIEW_L1_VFIO:
		return "vaddr";
	default:
		return "L1 GPA";
	}
}

/* format_mismatch() - one line (with '\n') for @m */
static void format_mismatch(const struct shadow_result *r, const struct shadow_mismatch *m, struct strbuf *out)
{
	static const char *const states[] = { "mapped", "not-mapped", "vaddr-invalid" };
	const char *space = addr_space(m->view);
	bool first = true;

	strbuf_printf(out, "iova 0x%llx (%llu page%s): %s: %s: expected ", (unsigned long long)m->iova,
		      (unsigned long long)m->pages, m->pages == 1 ? "" : "s", r->view_names[m->view],
		      shadow_mismatch_kind_name(m->kind));
	if (!m->expected_present)
		strbuf_puts(out, m->kind == SHADOW_STALE ? "nothing (unmapped)" : "nothing (not in the reference)");
	else if (m->kind == SHADOW_NOT_RAM)
		strbuf_printf(out, "L2 GPA 0x%llx to be L2 RAM", (unsigned long long)m->ref_addr);
	else if (m->expected_addr_known && !strcmp(space, "L2 GPA"))
		strbuf_printf(out, "%s 0x%llx %s", space, (unsigned long long)m->expected_addr,
			      shadow_perm_name(m->expected_perm));
	else if (m->expected_addr_known)
		strbuf_printf(out, "%s 0x%llx %s (L2 GPA 0x%llx)", space, (unsigned long long)m->expected_addr,
			      shadow_perm_name(m->expected_perm), (unsigned long long)m->ref_addr);
	else
		strbuf_printf(out, "a mapping %s (L2 GPA 0x%llx)", shadow_perm_name(m->expected_perm),
			      (unsigned long long)m->ref_addr);
	if (m->view == SHADOW_VIEW_L0_TRANSLATE && !m->found_present)
		strbuf_printf(out, ", found fault reason %u", m->fault_reason);
	else if (!m->found_present)
		strbuf_puts(out, ", found nothing");
	else
		strbuf_printf(out, ", found %s 0x%llx %s%s%s", space, (unsigned long long)m->found_addr,
			      shadow_perm_name(m->found_perm), m->found_state ? " " : "",
			      m->found_state ? states[m->found_state] : "");
	for (int v = 0; v < SHADOW_VIEW_COUNT; v++) {
		if (!(m->also & (1u << v)))
			continue;
		strbuf_printf(out, "%s%s", first ? "; also at: " : ", ", r->view_names[v]);
		first = false;
	}
	strbuf_puts(out, "\n");
}

/* format_summary() - the first line: what was checked against what, how many mismatches */
static void format_summary(const struct shadow_result *r, struct strbuf *out)
{
	if (r->unmap_check)
		strbuf_printf(out, "after unmap: %llu unmapped page(s) looked up in %u view(s)",
			      (unsigned long long)r->pages_checked, (unsigned)__builtin_popcount(r->views_compared));
	else
		strbuf_printf(out, "shadow: %llu page(s) of %s followed through %u other view(s)",
			      (unsigned long long)r->pages_checked, r->view_names[r->reference],
			      (unsigned)__builtin_popcount(r->views_compared) - 1);
	if (!r->mismatch_total)
		strbuf_puts(out, ": no mismatch\n");
	else
		strbuf_printf(out, ": %llu mismatch(es) over %llu page(s)\n", (unsigned long long)r->mismatch_total,
			      (unsigned long long)r->mismatch_pages);
	if (!r->pages_checked)
		strbuf_puts(out, r->unmap_check ? "nothing checked: no unmapped IOVA was given\n"
						: "nothing checked: the L2 domain maps no page (is L2's driver up and "
						  "its IOMMU on? an empty domain is not a pass)\n");
}

void shadow_format_tap(const struct shadow_result *r, size_t max_mismatches, const char *report_path,
		       struct strbuf *out)
{
	size_t shown = r->mismatch_count < max_mismatches ? r->mismatch_count : max_mismatches;

	format_summary(r, out);
	for (size_t i = 0; i < shown; i++)
		format_mismatch(r, &r->mismatches[i], out);
	if (r->mismatch_total > shown)
		strbuf_printf(out, "... and %llu more mismatch(es)\n", (unsigned long long)(r->mismatch_total - shown));
	for (size_t i = 0; r->problems && r->problems[i]; i++)
		strbuf_printf(out, "%s\n", r->problems[i]);
	if (r->mismatch_total || strv_len(r->problems))
		for (size_t i = 0; r->notes && r->notes[i]; i++)
			strbuf_printf(out, "note: %s\n", r->notes[i]);
	if (report_path)
		strbuf_printf(out, "full report: %s\n", report_path);
}

void shadow_format_report(const struct shadow_result *r, struct strbuf *out)
{
	strbuf_puts(out, r->unmap_check ? "# nestlab: views after unmap\n" : "# nestlab: shadow consistency\n");
	format_summary(r, out);
	strbuf_puts(out, "\nviews:\n");
	for (int v = 0; v < SHADOW_VIEW_COUNT; v++) {
		if (!(r->views_compared & (1u << v)))
			strbuf_printf(out, "  %-70s not collected\n", r->view_names[v]);
		else
			strbuf_printf(out, "  %-70s %llu %s%s\n", r->view_names[v], (unsigned long long)r->view_pages[v],
				      v == SHADOW_VIEW_L0_TRANSLATE ? "probe(s)" : "page(s)",
				      !r->unmap_check && v == (int)r->reference ? " (reference)" : "");
	}
	if (!r->unmap_check)
		strbuf_printf(out, "vfio vaddrs checked against L2 RAM: %s\n", r->vfio_addresses_checked ? "yes" : "no");
	strbuf_printf(out, "\nmismatches: %llu over %llu page(s)", (unsigned long long)r->mismatch_total,
		      (unsigned long long)r->mismatch_pages);
	if (r->mismatch_total > r->mismatch_count)
		strbuf_printf(out, ", the first %zu listed", r->mismatch_count);
	strbuf_puts(out, "\n");
	for (size_t i = 0; i < r->mismatch_count; i++) {
		strbuf_puts(out, "  ");
		format_mismatch(r, &r->mismatches[i], out);
	}
	strbuf_puts(out, "\nproblems:\n");
	for (size_t i = 0; r->problems && r->problems[i]; i++)
		strbuf_printf(out, "  %s\n", r->problems[i]);
	strbuf_puts(out, "\nnotes:\n");
	for (size_t i = 0; r->notes && r->notes[i]; i++)
		strbuf_printf(out, "  %s\n", r->notes[i]);
	strbuf_printf(out, "\nresult: %s\n", shadow_result_ok(r) ? "ok" : "FAIL");
}
