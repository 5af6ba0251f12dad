/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow_check.c - follow each L2 IOVA page through the views of the shadow chain, say where it breaks
 *
 * The chain, in order (shadow.h has the sources):
 *
 *	L2 table --> L1 QEMU walk --> L1 QEMU shadow --> L1 vfio --> L1 table --> L0 walk (--> L0 probes)
 *	  G             G                G                hva(G)       P            P
 *
 * The sweep visits the IOVA space in segments in which no view starts or ends a mapping, so every view
 * is linear over a segment and one comparison at its start speaks for all its pages; a segment is split
 * once more where L2's GPA crosses the edge of an L2 RAM region. For each piece the views are compared
 * with what they should hold, down the chain; the first that disagrees is the mismatch, the others that
 * disagree too are listed with it ("also"). Permissions follow what each hop does: L1 QEMU holds the
 * R/W of L2's walk; VFIO maps read always and write when the shadow has it (vfio_iommu_map_notify(),
 * IOMMU_WO -> !readonly), so vfio may add R but must match W; L1's table holds vfio's prot; L0's walk
 * holds L1's table.
 *
 * The views are read one after another, not atomically: the caller must take them while L2 is quiet
 * (no map or unmap in flight), as the run engine does between workload phases.
 */
#include <stdlib.h>
#include <string.h>

#include "shadow_internal.h"

#define SWEPT_VIEWS (SHADOW_VIEW_L0_GUEST + 1)	/* the views with a map (probes are looked up one by one) */

static const char *const view_names[SHADOW_VIEW_COUNT] = {
	[SHADOW_VIEW_L2_TABLE] = "L2 IOMMU table (debugfs)",
	[SHADOW_VIEW_L1_QEMU_GUEST] = "L1 QEMU walk of L2's table (x-query-vtd-mappings source=guest)",
	[SHADOW_VIEW_L1_QEMU_SHADOW] = "L1 QEMU shadow (x-query-vtd-mappings)",
	[SHADOW_VIEW_L1_VFIO] = "L1 vfio type1 (debugfs vfio/type1/N/mappings)",
	[SHADOW_VIEW_L1_TABLE] = "L1 IOMMU table (debugfs)",
	[SHADOW_VIEW_L0_GUEST] = "L0 intel-iommu (x-query-vtd-mappings source=guest)",
	[SHADOW_VIEW_L0_TRANSLATE] = "L0 intel-iommu (x-vtd-translate)",
};

const char *shadow_view_name(enum shadow_view view)
{
	return (unsigned)view < SHADOW_VIEW_COUNT ? view_names[view] : "?";
}

const char *shadow_mismatch_kind_name(enum shadow_mismatch_kind kind)
{
	static const char *const names[] = {
		[SHADOW_MISSING] = "missing",
		[SHADOW_EXTRA] = "extra",
		[SHADOW_ADDRESS] = "address differs",
		[SHADOW_PERM] = "permissions differ",
		[SHADOW_STATE] = "not mapped in the IOMMU",
		[SHADOW_NOT_RAM] = "L2 GPA outside L2 RAM",
		[SHADOW_FAULT] = "translation faults",
		[SHADOW_STALE] = "still mapped after unmap",
	};

	return (unsigned)kind < ARRAY_SIZE(names) ? names[kind] : "?";
}

/* what one view should hold for a piece of the reference */
struct expect {
	bool addr_known;
	uint64_t addr;
	unsigned perm;
	bool perm_exact;	/* else: W must match and R may be added (vfio maps read always) */
};

struct sweep_view {
	const struct shadow_map *map;	/* NULL: not given */
	size_t cur;			/* first extent not wholly below the sweep position */
	const struct shadow_extent *at;	/* the extent over the current segment, or NULL */
};

struct sweep {
	const struct shadow_views *views;
	struct shadow_result *r;
	enum shadow_view ref;
	struct sweep_view v[SWEPT_VIEWS];
};

/* at_addr() - what extent @e translates @iova to */
static uint64_t at_addr(const struct shadow_extent *e, uint64_t iova)
{
	return e->addr + (iova - e->iova);
}

/* mergeable() - @m continues @last: same story, the next pages, every address one page further */
static bool mergeable(const struct shadow_mismatch *last, const struct shadow_mismatch *m)
{
	uint64_t step = last->pages * SHADOW_PAGE_BYTES;

	return last->view == m->view && last->kind == m->kind && last->also == m->also &&
	       last->iova + step == m->iova && last->expected_present == m->expected_present &&
	       last->expected_addr_known == m->expected_addr_known && last->found_present == m->found_present &&
	       last->expected_perm == m->expected_perm && last->found_perm == m->found_perm &&
	       last->found_state == m->found_state && last->fault_reason == m->fault_reason &&
	       (!m->expected_addr_known || last->expected_addr + step == m->expected_addr) &&
	       (!m->found_present || last->found_addr + step == m->found_addr) &&
	       (!m->expected_present || last->ref_addr + step == m->ref_addr);
}

/* result_add() - record a mismatch, merged into the previous one when it continues it */
static void result_add(struct shadow_result *r, const struct shadow_mismatch *m, bool merge)
{
	r->mismatch_pages += m->pages;
	if (merge && r->mismatch_count && mergeable(&r->mismatches[r->mismatch_count - 1], m)) {
		r->mismatches[r->mismatch_count - 1].pages += m->pages;
		return;
	}
	r->mismatch_total++;
	if (r->mismatch_count >= SHADOW_MISMATCHES_MAX)
		return;
	if (r->mismatch_count == r->mismatch_alloc) {
		r->mismatch_alloc = r->mismatch_alloc ? r->mismatch_alloc * 2 : 16;
		r->mismatches = xrealloc(r->mismatches, r->mismatch_alloc * sizeof(*r->mismatches));
	}
	r->mismatches[r->mismatch_count++] = *m;
}

/* perm_ok() - @found is what @x asks for */
static bool perm_ok(const struct expect *x, unsigned found)
{
	if (x->perm_exact)
		return found == x->perm;
	return (found & SHADOW_PERM_W) == (x->perm & SHADOW_PERM_W) && (found & x->perm) == x->perm;
}

/* judge() - how the extent @e (NULL: absent) at @iova disagrees with @x, or -1 when it agrees */
static int judge(enum shadow_view view, const struct shadow_extent *e, uint64_t iova, const struct expect *x)
{
	if (!e)
		return SHADOW_MISSING;
	if (view == SHADOW_VIEW_L1_VFIO && e->state != SHADOW_VFIO_MAPPED)
		return SHADOW_STATE;
	if (x->addr_known && at_addr(e, iova) != x->addr)
		return SHADOW_ADDRESS;
	if (!perm_ok(x, e->perm))
		return SHADOW_PERM;
	return -1;
}

/**
 * expect_for() - what @view should hold at @iova
 * @s:		sweep, positioned on the piece
 * @view:	a view down the chain from the reference
 * @iova:	first IOVA of the piece
 * @gpa:	the L2 GPA the reference gives
 * @hva:	hva(@gpa), when @hva_known
 * @hva_known:	the L2 RAM layout holds @gpa
 * @x:		filled
 */
static void expect_for(const struct sweep *s, enum shadow_view view, uint64_t iova, uint64_t gpa, uint64_t hva,
		       bool hva_known, struct expect *x)
{
	const struct shadow_extent *ref = s->v[s->ref].at, *vfio = s->v[SHADOW_VIEW_L1_VFIO].at,
				   *l1 = s->v[SHADOW_VIEW_L1_TABLE].at;

	*x = (struct expect){ .perm = ref->perm };
	switch (view) {
	case SHADOW_VIEW_L1_QEMU_GUEST:
	case SHADOW_VIEW_L1_QEMU_SHADOW:
		*x = (struct expect){ true, gpa, ref->perm, true };
		break;
	case SHADOW_VIEW_L1_VFIO:
		x->addr_known = hva_known;
		x->addr = hva;
		break;
	case SHADOW_VIEW_L1_TABLE:
		if (vfio)
			*x = (struct expect){ .perm = vfio->perm, .perm_exact = true };
		break;
	case SHADOW_VIEW_L0_GUEST:
		if (l1)
			*x = (struct expect){ true, at_addr(l1, iova), l1->perm, true };
		else if (vfio)
			*x = (struct expect){ .perm = vfio->perm, .perm_exact = true };
		break;
	default:
		break;
	}
}

/**
 * chain_piece() - compare the views over [@iova, @iova + @len), where the reference maps @iova to @gpa
 * @s:		sweep
 * @iova:	first IOVA
 * @len:	bytes, whole pages
 * @gpa:	L2 GPA of @iova
 * @hva:	its vaddr in L1 QEMU when @hva_known
 * @hva_known:	the L2 RAM layout holds the piece
 */
static void chain_piece(struct sweep *s, uint64_t iova, uint64_t len, uint64_t gpa, uint64_t hva, bool hva_known)
{
	struct shadow_mismatch m = { .iova = iova, .pages = len / SHADOW_PAGE_BYTES, .expected_present = true,
				     .ref_addr = gpa };
	bool broken = false;

	for (int view = s->ref + 1; view < SWEPT_VIEWS; view++) {
		const struct shadow_extent *e = s->v[view].at;
		struct expect x;
		int kind;

		if (!s->v[view].map)
			continue;
		expect_for(s, (enum shadow_view)view, iova, gpa, hva, hva_known, &x);
		kind = view == SHADOW_VIEW_L1_VFIO && s->views->l2_ram && !hva_known ? SHADOW_NOT_RAM
										     : judge(view, e, iova, &x);
		if (kind < 0)
			continue;
		if (broken) {
			m.also |= 1u << view;
			continue;
		}
		broken = true;
		m.view = (enum shadow_view)view;
		m.kind = (enum shadow_mismatch_kind)kind;
		m.expected_addr_known = x.addr_known;
		m.expected_addr = x.addr;
		m.expected_perm = x.perm;
		m.found_present = e != NULL;
		m.found_addr = e ? at_addr(e, iova) : 0;
		m.found_perm = e ? e->perm : 0;
		m.found_state = e ? e->state : SHADOW_VFIO_MAPPED;
	}
	if (broken)
		result_add(s->r, &m, true);
}

/* ref_segment() - the reference maps [@a, @b): cut it at L2 RAM region edges, compare each piece */
static void ref_segment(struct sweep *s, uint64_t a, uint64_t b)
{
	const struct shadow_ram_layout *ram = s->views->l2_ram;
	const struct shadow_extent *ref = s->v[s->ref].at;

	s->r->pages_checked += (b - a) / SHADOW_PAGE_BYTES;
	while (a < b) {
		uint64_t gpa = at_addr(ref, a), len = b - a, hva = 0;
		bool known = false;

		if (ram) {
			/* the region holding gpa, or the next one above it */
			size_t lo = shadow_ram_index_above(ram, gpa);

			if (lo < ram->count) {
				const struct shadow_ram_region *reg = &ram->regions[lo];

				if (gpa < reg->gpa) {
					if (reg->gpa - gpa < len)
						len = reg->gpa - gpa;
				} else {
					known = true;
					hva = reg->hva + (gpa - reg->gpa);
					if (reg->size_bytes - (gpa - reg->gpa) < len)
						len = reg->size_bytes - (gpa - reg->gpa);
				}
			}
		}
		chain_piece(s, a, len, gpa, hva, known);
		a += len;
	}
}

/* extra_segment() - the reference does not map [@a, @b), some other view does */
static void extra_segment(struct sweep *s, uint64_t a, uint64_t b)
{
	struct shadow_mismatch m = { .iova = a, .pages = (b - a) / SHADOW_PAGE_BYTES, .kind = SHADOW_EXTRA };
	bool first = true;

	for (int view = 0; view < SWEPT_VIEWS; view++) {
		const struct shadow_extent *e = s->v[view].at;

		if (view == (int)s->ref || !e)
			continue;
		if (!first) {
			m.also |= 1u << view;
			continue;
		}
		first = false;
		m.view = (enum shadow_view)view;
		m.found_present = true;
		m.found_addr = at_addr(e, a);
		m.found_perm = e->perm;
		m.found_state = e->state;
	}
	result_add(s->r, &m, true);
}

/* sweep_run() - visit every segment of the IOVA space that some view maps */
static void sweep_run(struct sweep *s)
{
	uint64_t pos = 0;

	for (;;) {
		uint64_t next = UINT64_MAX;
		bool any = false, covered = false;

		for (int i = 0; i < SWEPT_VIEWS; i++) {
			struct sweep_view *v = &s->v[i];
			const struct shadow_extent *e;

			v->at = NULL;
			if (!v->map)
				continue;
			while (v->cur < v->map->count &&
			       v->map->extents[v->cur].iova + v->map->extents[v->cur].size_bytes <= pos)
				v->cur++;
			if (v->cur == v->map->count)
				continue;
			any = true;
			e = &v->map->extents[v->cur];
			if (e->iova > pos) {
				if (e->iova < next)
					next = e->iova;
			} else {
				v->at = e;
				covered = true;
				if (e->iova + e->size_bytes < next)
					next = e->iova + e->size_bytes;
			}
		}
		if (!any)
			return;
		if (covered) {
			if (s->v[s->ref].at)
				ref_segment(s, pos, next);
			else
				extra_segment(s, pos, next);
		}
		pos = next;
	}
}

/**
 * check_probe() - one x-vtd-translate answer of L0 against the reference and L1's table
 * @s:	sweep (its maps; the cursors are not used)
 * @p:	the probe
 */
static void check_probe(struct sweep *s, const struct shadow_translation *p)
{
	const struct shadow_extent *ref = shadow_map_find(s->v[s->ref].map, p->iova);
	const struct shadow_extent *l1 = s->v[SHADOW_VIEW_L1_TABLE].map
						 ? shadow_map_find(s->v[SHADOW_VIEW_L1_TABLE].map, p->iova)
						 : NULL;
	const struct shadow_extent *l0 = s->v[SHADOW_VIEW_L0_GUEST].map
						 ? shadow_map_find(s->v[SHADOW_VIEW_L0_GUEST].map, p->iova)
						 : NULL;
	const struct shadow_extent *below = l1 ? l1 : l0;	/* what L0 should translate with */
	/* vfio maps read always: a write-only L2 page may read at L0, never the reverse */
	bool expect_ok = ref && (p->write ? (ref->perm & SHADOW_PERM_W) : ref->perm != 0);
	struct shadow_mismatch m = {
		.iova = p->iova, .pages = 1, .view = SHADOW_VIEW_L0_TRANSLATE, .expected_present = ref != NULL,
		.expected_perm = ref ? ref->perm : 0, .ref_addr = ref ? at_addr(ref, p->iova) : 0,
		.found_present = p->success, .found_addr = p->translated_addr, .found_perm = p->perm,
		.fault_reason = p->fault_reason,
	};

	s->r->probes_checked++;
	if (below) {
		m.expected_addr_known = true;
		m.expected_addr = at_addr(below, p->iova);
	}
	if (expect_ok && !p->success)
		m.kind = SHADOW_FAULT;
	else if (!expect_ok && p->success)
		m.kind = ref ? SHADOW_PERM : SHADOW_EXTRA;
	else if (p->success && m.expected_addr_known && p->translated_addr != m.expected_addr)
		m.kind = SHADOW_ADDRESS;
	else if (p->success && (p->perm & SHADOW_PERM_W) != (ref->perm & SHADOW_PERM_W))
		m.kind = SHADOW_PERM;
	else
		return;
	result_add(s->r, &m, false);
}

static int mismatch_cmp(const void *a, const void *b)
{
	const struct shadow_mismatch *x = a, *y = b;

	if (x->iova != y->iova)
		return x->iova < y->iova ? -1 : 1;
	return (int)x->view - (int)y->view;
}

/* view_maps() - the map of each view given, NULL for the others */
static void view_maps(const struct shadow_views *v, const struct shadow_map *maps[SWEPT_VIEWS])
{
	maps[SHADOW_VIEW_L2_TABLE] = v->l2_table ? &v->l2_table->map : NULL;
	maps[SHADOW_VIEW_L1_QEMU_GUEST] = v->l1_guest ? &v->l1_guest->map : NULL;
	maps[SHADOW_VIEW_L1_QEMU_SHADOW] = v->l1_shadow ? &v->l1_shadow->map : NULL;
	maps[SHADOW_VIEW_L1_VFIO] = v->l1_vfio ? &v->l1_vfio->map : NULL;
	maps[SHADOW_VIEW_L1_TABLE] = v->l1_table ? &v->l1_table->map : NULL;
	maps[SHADOW_VIEW_L0_GUEST] = v->l0_guest ? &v->l0_guest->map : NULL;
}

/**
 * result_init() - names, which views were given and their page counts; refuse a view of the wrong source
 * @r:		result
 * @v:		views
 * @maps:	set to each view's map (NULL: not given)
 * @err:	error
 *
 * Return: 0 or -1.
 */
static int result_init(struct shadow_result *r, const struct shadow_views *v,
		       const struct shadow_map *maps[SWEPT_VIEWS], nl_error_t *err)
{
	int vfio_id = v->l1_vfio && v->l1_vfio->container_id > 0 ? v->l1_vfio->container_id
			: v->l1_vfio_stats ? v->l1_vfio_stats->id : 0;

	if ((v->l1_guest && !v->l1_guest->guest) || (v->l0_guest && !v->l0_guest->guest))
		return nl_error(err, 0, "shadow check: a source=guest view holds a source=shadow reply; query "
				"x-query-vtd-mappings with \"source\": \"guest\" for it");
	if (v->l1_shadow && v->l1_shadow->guest)
		return nl_error(err, 0, "shadow check: L1 QEMU's shadow view holds a source=guest reply; query "
				"x-query-vtd-mappings without \"source\" for it");
	view_maps(v, maps);
	for (int i = 0; i < SHADOW_VIEW_COUNT; i++)
		snprintf(r->view_names[i], sizeof(r->view_names[i]), "%s", view_names[i]);
	if (vfio_id > 0)
		snprintf(r->view_names[SHADOW_VIEW_L1_VFIO], sizeof(r->view_names[0]),
			 "L1 vfio type1 (debugfs vfio/type1/%d/mappings)", vfio_id);
	for (int i = 0; i < SWEPT_VIEWS; i++) {
		if (!maps[i])
			continue;
		r->views_compared |= 1u << i;
		r->view_pages[i] = maps[i]->pages;
	}
	if (v->l0_probe_count) {
		r->views_compared |= 1u << SHADOW_VIEW_L0_TRANSLATE;
		r->view_pages[SHADOW_VIEW_L0_TRANSLATE] = v->l0_probe_count;
	}
	return 0;
}

/* add_notes() - what explains a result: a dropped MAP notification, tables that are not set up */
static void add_notes(struct shadow_result *r, const struct shadow_views *v)
{
	const struct shadow_vtd *sh = v->l1_shadow;
	const struct shadow_table *tables[] = { v->l2_table, v->l1_table };
	const char *levels[] = { "L2", "L1" };

	if (sh && sh->has_dropped)
		strv_pushf(&r->notes, "L1 QEMU did not send the MAP notification of iova 0x%llx size 0x%llx -> "
			   "0x%llx (x-drop-map-notify): the views below its shadow miss it",
			   (unsigned long long)sh->dropped.iova, (unsigned long long)sh->dropped.size_bytes,
			   (unsigned long long)sh->dropped.addr);
	else if (sh && sh->as.dropped_map_notifications)
		strv_pushf(&r->notes, "L1 QEMU dropped %llu MAP notification(s) of this device (x-drop-map-notify)",
			   (unsigned long long)sh->as.dropped_map_notifications);
	if (sh && !sh->map_notifier)
		strv_pushf(&r->notes, "L1 QEMU has no MAP notifier for the device: is it assigned with vfio-pci?");
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		if (!tables[i])
			continue;
		if (!tables[i]->found)
			strv_pushf(&r->notes, "%s IOMMU table: no translation set up for the device (empty "
				   "domain_translation_struct%s)", levels[i],
				   tables[i]->remapping_disabled ? "; DMA remapping is not enabled" : "");
	}
	if (!v->l2_ram && v->l1_vfio)
		strv_pushf(&r->notes, "vfio vaddrs not checked: no L2 RAM layout given");
}

/* vfio_stats_problems() - the stats must count what the mappings list */
static void vfio_stats_problems(struct shadow_result *r, const struct shadow_views *v)
{
	const struct shadow_vfio_stats *st = v->l1_vfio_stats;
	uint64_t held = 0;

	if (!st || !v->l1_vfio)
		return;
	for (size_t i = 0; i < v->l1_vfio->map.count; i++)
		held += v->l1_vfio->map.extents[i].size_bytes;
	if (st->dma_entries != v->l1_vfio->map.count)
		strv_pushf(&r->problems, "vfio/type1/%d: stats say dma_entries %llu, mappings lists %zu", st->id,
			   (unsigned long long)st->dma_entries, v->l1_vfio->map.count);
	if (st->mapped_bytes < st->unmapped_bytes || st->mapped_bytes - st->unmapped_bytes != held)
		strv_pushf(&r->problems, "vfio/type1/%d: stats say mapped_bytes %llu - unmapped_bytes %llu, mappings "
			   "hold %llu bytes (VFIO_DMA_MAP_FLAG_VADDR re-maps count twice)", st->id,
			   (unsigned long long)st->mapped_bytes, (unsigned long long)st->unmapped_bytes,
			   (unsigned long long)held);
}

int shadow_check(const struct shadow_views *views, struct shadow_result *out, nl_error_t *err)
{
	const struct shadow_map *maps[SWEPT_VIEWS];
	struct sweep s = { .views = views, .r = out };

	if (result_init(out, views, maps, err) < 0)
		return -1;
	if (!maps[SHADOW_VIEW_L2_TABLE] && !maps[SHADOW_VIEW_L1_QEMU_GUEST])
		return nl_error(err, 0, "shadow check: neither L2's IOMMU table (L2 debugfs) nor L1 QEMU's walk of it "
				"(x-query-vtd-mappings source=guest) was given; collect at least one");
	s.ref = maps[SHADOW_VIEW_L2_TABLE] ? SHADOW_VIEW_L2_TABLE : SHADOW_VIEW_L1_QEMU_GUEST;
	out->reference = s.ref;
	out->vfio_addresses_checked = views->l2_ram && views->l1_vfio;
	for (int i = 0; i < SWEPT_VIEWS; i++)
		s.v[i].map = maps[i];
	sweep_run(&s);
	for (size_t i = 0; i < views->l0_probe_count; i++)
		check_probe(&s, &views->l0_probes[i]);
	if (out->mismatch_count > 1)
		qsort(out->mismatches, out->mismatch_count, sizeof(*out->mismatches), mismatch_cmp);
	vfio_stats_problems(out, views);
	add_notes(out, views);
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct shadow_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

/* ranges_merge() - sorted, merged copy of @in; -1 for an empty, unaligned or wrapping range */
static int ranges_merge(const struct shadow_range *in, size_t n, struct shadow_range **out, size_t *count,
			nl_error_t *err)
{
	struct shadow_range *r = xcalloc(n ? n : 1, sizeof(*r));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!in[i].size_bytes || in[i].iova % SHADOW_PAGE_BYTES || in[i].size_bytes % SHADOW_PAGE_BYTES ||
		    in[i].iova + in[i].size_bytes < in[i].iova) {
			free(r);
			return nl_error(err, 0, "unmapped range %zu (iova 0x%llx size 0x%llx) is not a whole number "
					"of 4 KiB pages", i, (unsigned long long)in[i].iova,
					(unsigned long long)in[i].size_bytes);
		}
		r[i] = in[i];
	}
	if (n > 1)
		qsort(r, n, sizeof(*r), range_cmp);
	for (size_t i = 0; i < n; i++) {
		if (k && r[k - 1].iova + r[k - 1].size_bytes >= r[i].iova) {
			uint64_t end = r[i].iova + r[i].size_bytes;

			if (end > r[k - 1].iova + r[k - 1].size_bytes)
				r[k - 1].size_bytes = end - r[k - 1].iova;
		} else {
			r[k++] = r[i];
		}
	}
	*out = r;
	*count = k;
	return 0;
}

/* stale_in_map() - every part of @map inside @range is a STALE mismatch of @view */
static void stale_in_map(struct shadow_result *r, enum shadow_view view, const struct shadow_map *map,
			 const struct shadow_range *range)
{
	uint64_t end = range->iova + range->size_bytes;

	for (size_t i = shadow_map_index_above(map, range->iova); i < map->count && map->extents[i].iova < end;
	     i++) {
		const struct shadow_extent *e = &map->extents[i];
		uint64_t a = e->iova > range->iova ? e->iova : range->iova;
		uint64_t b = e->iova + e->size_bytes < end ? e->iova + e->size_bytes : end;
		struct shadow_mismatch m = {
			.iova = a, .pages = (b - a) / SHADOW_PAGE_BYTES, .view = view, .kind = SHADOW_STALE,
			.found_present = true, .found_addr = at_addr(e, a), .found_perm = e->perm,
			.found_state = e->state,
		};

		result_add(r, &m, false);
	}
}

int shadow_check_unmapped(const struct shadow_views *views, const struct shadow_range *unmapped, size_t count,
			  struct shadow_result *out, nl_error_t *err)
{
	const struct shadow_map *maps[SWEPT_VIEWS];
	cleanup_free struct shadow_range *ranges = NULL;
	size_t n = 0;

	out->unmap_check = true;
	if (result_init(out, views, maps, err) < 0 || ranges_merge(unmapped, count, &ranges, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		out->pages_checked += ranges[i].size_bytes / SHADOW_PAGE_BYTES;
		for (int view = 0; view < SWEPT_VIEWS; view++)
			if (maps[view])
				stale_in_map(out, (enum shadow_view)view, maps[view], &ranges[i]);
	}
	for (size_t i = 0; i < views->l0_probe_count; i++) {
		const struct shadow_translation *p = &views->l0_probes[i];

		out->probes_checked++;
		for (size_t k = 0; k < n && p->success; k++) {
			struct shadow_mismatch m = {
				.iova = p->iova, .pages = 1, .view = SHADOW_VIEW_L0_TRANSLATE, .kind = SHADOW_STALE,
				.found_present = true, .found_addr = p->translated_addr, .found_perm = p->perm,
			};

			if (p->iova >= ranges[k].iova && p->iova - ranges[k].iova < ranges[k].size_bytes) {
				result_add(out, &m, false);
				break;
			}
		}
	}
	if (out->mismatch_count > 1)
		qsort(out->mismatches, out->mismatch_count, sizeof(*out->mismatches), mismatch_cmp);
	return 0;
}

/* unmapped_add() - append [@a, @b) to the ranges, merged with the last one when they touch */
static int unmapped_add(struct shadow_range **ranges, size_t *n, size_t *alloc, uint64_t a, uint64_t b,
			nl_error_t *err)
{
	struct shadow_range *last = *n ? &(*ranges)[*n - 1] : NULL;

	if (last && last->iova + last->size_bytes == a) {
		last->size_bytes += b - a;
		return 0;
	}
	if (*n >= SHADOW_UNMAPPED_RANGES_MAX)
		return nl_error(err, 0, "more than %u unmapped IOVA ranges (the guest's views hold a mapping every "
				"few pages); nestlab follows at most that many: unmap less at once", SHADOW_UNMAPPED_RANGES_MAX);
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		*ranges = xrealloc(*ranges, *alloc * sizeof(**ranges));
	}
	(*ranges)[(*n)++] = (struct shadow_range){ .iova = a, .size_bytes = b - a };
	return 0;
}

int shadow_map_unmapped(const struct shadow_map *before, const struct shadow_map *now, struct shadow_range **out,
			size_t *count, uint64_t *pages, nl_error_t *err)
{
	struct shadow_range *ranges = NULL;
	size_t n = 0, alloc = 0, j = 0;
	uint64_t total = 0;

	*out = NULL;
	*count = 0;
	*pages = 0;
	/* both maps are sorted and free of overlaps: one merge-like pass over their extents */
	for (size_t i = 0; i < before->count; i++) {
		uint64_t cur = before->extents[i].iova, end = cur + before->extents[i].size_bytes;

		while (now && j < now->count && now->extents[j].iova + now->extents[j].size_bytes <= cur)
			j++;
		for (size_t k = j; now && k < now->count && now->extents[k].iova < end; k++) {
			uint64_t s = now->extents[k].iova, e = s + now->extents[k].size_bytes;

			if (s > cur) {
				if (unmapped_add(&ranges, &n, &alloc, cur, s, err) < 0)
					goto fail;
				total += (s - cur) / SHADOW_PAGE_BYTES;
			}
			if (e > cur)
				cur = e;
			if (cur >= end)
				break;
		}
		if (cur < end) {
			if (unmapped_add(&ranges, &n, &alloc, cur, end, err) < 0)
				goto fail;
			total += (end - cur) / SHADOW_PAGE_BYTES;
		}
	}
	*out = ranges;
	*count = n;
	*pages = total;
	return 0;
fail:
	free(ranges);
	return -1;
}

bool shadow_result_ok(const struct shadow_result *r)
{
	return r->pages_checked > 0 && !r->mismatch_total && !strv_len(r->problems);
}

void shadow_result_release(struct shadow_result *r)
{
	free(r->mismatches);
	strv_free(r->problems);
	strv_free(r->notes);
	memset(r, 0, sizeof(*r));
}

/* ---- baseline counts --------------------------------------------------------------------------- */

static const char *const count_names[SHADOW_COUNT_MAX] = {
	[SHADOW_COUNT_L1_SHADOW_PAGES] = "L1 QEMU shadow pages",
	[SHADOW_COUNT_L1_SHADOW_MAPPINGS] = "L1 QEMU shadow mappings",
	[SHADOW_COUNT_L1_GUEST_PAGES] = "L2 table pages (L1 QEMU walk)",
	[SHADOW_COUNT_L1_VFIO_PAGES] = "L1 vfio pages",
	[SHADOW_COUNT_L1_VFIO_MAPPINGS] = "L1 vfio mappings",
	[SHADOW_COUNT_L1_VFIO_DMA_ENTRIES] = "L1 vfio dma_entries (stats)",
	[SHADOW_COUNT_L1_VFIO_BYTES_HELD] = "L1 vfio bytes held (stats mapped_bytes - unmapped_bytes)",
	[SHADOW_COUNT_L1_TABLE_PAGES] = "L1 IOMMU table pages",
	[SHADOW_COUNT_L0_PAGES] = "L0 walk of L1's table pages",
};

const char *shadow_count_name(enum shadow_count count)
{
	return (unsigned)count < SHADOW_COUNT_MAX ? count_names[count] : "?";
}

static void count_set(struct shadow_counts *c, enum shadow_count k, uint64_t value)
{
	c->present[k] = true;
	c->value[k] = value;
}

void shadow_counts_take(struct shadow_counts *c, const struct shadow_views *v)
{
	memset(c, 0, sizeof(*c));
	if (v->l1_shadow) {
		count_set(c, SHADOW_COUNT_L1_SHADOW_PAGES, v->l1_shadow->map.pages);
		count_set(c, SHADOW_COUNT_L1_SHADOW_MAPPINGS, v->l1_shadow->map.count);
	}
	if (v->l1_guest)
		count_set(c, SHADOW_COUNT_L1_GUEST_PAGES, v->l1_guest->map.pages);
	if (v->l1_vfio) {
		count_set(c, SHADOW_COUNT_L1_VFIO_PAGES, v->l1_vfio->map.pages);
		count_set(c, SHADOW_COUNT_L1_VFIO_MAPPINGS, v->l1_vfio->map.count);
	}
	if (v->l1_vfio_stats) {
		const struct shadow_vfio_stats *st = v->l1_vfio_stats;

		count_set(c, SHADOW_COUNT_L1_VFIO_DMA_ENTRIES, st->dma_entries);
		count_set(c, SHADOW_COUNT_L1_VFIO_BYTES_HELD,
			  st->mapped_bytes >= st->unmapped_bytes ? st->mapped_bytes - st->unmapped_bytes : 0);
	}
	if (v->l1_table)
		count_set(c, SHADOW_COUNT_L1_TABLE_PAGES, v->l1_table->map.pages);
	if (v->l0_guest)
		count_set(c, SHADOW_COUNT_L0_PAGES, v->l0_guest->map.pages);
}

unsigned shadow_counts_compare(const struct shadow_counts *baseline, const struct shadow_counts *now,
			       unsigned *compared, struct strbuf *diag)
{
	unsigned differ = 0;

	*compared = 0;
	for (int k = 0; k < SHADOW_COUNT_MAX; k++) {
		if (!baseline->present[k] || !now->present[k])
			continue;
		(*compared)++;
		if (baseline->value[k] == now->value[k])
			continue;
		differ++;
		strbuf_printf(diag, "%s: %llu now, %llu at baseline\n", count_names[k],
			      (unsigned long long)now->value[k], (unsigned long long)baseline->value[k]);
	}
	return differ;
}
