/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow_parse.c - parsers of the debugfs texts of the shadow check, and the L2 RAM layout
 *
 * domain_translation_struct (Linux 6.12 drivers/iommu/intel/debugfs.c, domain_translation_struct_show()
 * and dump_page_info()); per device, /sys/kernel/debug/iommu/intel/<bdf>/domain_translation_struct, or
 * .../<bdf>/<pasid in hex>/domain_translation_struct for a PASID domain:
 *
 *	DMA Remapping is not enabled on dmar1				(per IOMMU unit without DMAR, if any)
 *	Device 0000:00:01.0 @0x2f32000					(legacy mode; scalable mode:
 *									 "Device 0000:00:01.0 with pasid 0 @0x...")
 *	IOVA_PFN         \tPML5E             \tPML4E  ...  \tPTE		(column header)
 *	0x000000000100 |\t0x0000000000000000\t0x0000000003435003\t0x0000000003447003\t0x0000000002f30003\t0x0000000002117003
 *
 * An entry line is printed for each present leaf of the walk (pgtable_walk_level()): the IOVA page frame
 * number ("0x%013lx") and the entries on the path, path[5] (PML5E), path[4], path[3] always, then path[2]
 * and path[1] when set. So 5 columns end with a 4 KiB PTE, 4 with a 2 MiB PDE, 3 with a 1 GiB PDPE (VT-d
 * 3.4, section 9.8, "Second-Stage Paging Entries"). Leading zero columns are levels above the table's top
 * (path[5] of a 4-level table). The leaf gives the output address (bits 51:12, aligned to the page) and
 * the permission is R (bit 0) and W (bit 1) of every level ANDed, as QEMU's walk computes it
 * (vtd_page_walk_level()). A first-stage table (scalable mode) has P in bit 0 and R/W in bit 1, which
 * reads the same way.
 *
 * vfio/type1/<id>/mappings and stats: patches/linux/0001, vfio_iommu_mappings_show() and
 * vfio_iommu_stats_show().
 *
 * L2 RAM layout: QEMU 10.0 `info mtree -f` (system/memory.c mtree_print_flatview()) and `info ramblock`
 * (system/physmem.c ram_block_format()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_internal.h"

#define SHADOW_VTD_ADDR_MASK 0x000ffffffffff000ull	/* bits 51:12 of a paging entry */
#define SHADOW_VTD_PS (1ull << 7)			/* page size: a 2 MiB or 1 GiB leaf */
#define SHADOW_IOVA_PFN_MAX ((1ull << 52) - 1)		/* 64-bit IOVAs, as VT-d's 5-level tables reach */

/* ---- shared helpers ------------------------------------------------------------------------------ */

int shadow_lines_init(struct shadow_lines *it, const char *text, size_t len, nl_error_t *err)
{
	if (len > SHADOW_TEXT_MAX_BYTES)
		return nl_error(err, EFBIG, "text of %zu bytes is over the limit of %u bytes", len,
				SHADOW_TEXT_MAX_BYTES);
	it->p = text ? text : "";
	it->end = it->p + (text ? len : 0);
	it->lineno = 0;
	return 0;
}

int shadow_lines_next(struct shadow_lines *it, const char **line, size_t *len, nl_error_t *err)
{
	const char *nl, *stop;
	size_t n;

	if (it->p >= it->end)
		return 0;
	it->lineno++;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	stop = nl ? nl : it->end;
	n = (size_t)(stop - it->p);
	if (n > SHADOW_LINE_MAX_BYTES)
		return nl_error(err, 0, "line %u: longer than %d bytes; is this the right file?", it->lineno,
				SHADOW_LINE_MAX_BYTES);
	if (memchr(it->p, '\0', n))
		return nl_error(err, 0, "line %u: NUL byte in text; is this the right file?", it->lineno);
	*line = it->p;
	*len = n && it->p[n - 1] == '\r' ? n - 1 : n;
	it->p = nl ? nl + 1 : it->end;
	return 1;
}

char *shadow_snippet(const char *s, size_t len)
{
	size_t n = len < 60 ? len : 60;
	char *out = xmalloc(n + 4);

	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	strcpy(out + n, n < len ? "..." : "");
	return out;
}

size_t shadow_tokens(const char *line, size_t len, struct shadow_token *tok, size_t max)
{
	size_t n = 0, i = 0;

	while (i < len) {
		size_t start;

		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		if (n < max)
			tok[n] = (struct shadow_token){ line + start, i - start };
		n++;
	}
	return n;
}

bool shadow_token_is(const struct shadow_token *t, const char *word)
{
	return strlen(word) == t->len && !memcmp(t->s, word, t->len);
}

bool shadow_parse_hex(const struct shadow_token *t, uint64_t *v)
{
	uint64_t x = 0;

	if (t->len < 3 || t->len > 18 || t->s[0] != '0' || t->s[1] != 'x')
		return false;
	for (size_t i = 2; i < t->len; i++) {
		char c = t->s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

bool shadow_parse_dec(const struct shadow_token *t, uint64_t *v)
{
	uint64_t x = 0;

	if (!t->len || t->len > 20)
		return false;
	for (size_t i = 0; i < t->len; i++) {
		unsigned d = (unsigned)(t->s[i] - '0');

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

const char *shadow_perm_name(unsigned perm)
{
	static const char *const names[] = { "--", "r-", "-w", "rw" };

	return names[perm & SHADOW_PERM_RW];
}

void shadow_map_release(struct shadow_map *map)
{
	free(map->extents);
	memset(map, 0, sizeof(*map));
}

int shadow_map_push(struct shadow_map *m, const struct shadow_extent *e, const char *what, nl_error_t *err)
{
	if (m->count >= SHADOW_EXTENTS_MAX)
		return nl_error(err, 0, "%s: more than %u entries; refusing to go on", what, SHADOW_EXTENTS_MAX);
	if (m->count == m->alloc) {
		m->alloc = m->alloc ? m->alloc * 2 : 64;
		m->extents = xrealloc(m->extents, m->alloc * sizeof(*m->extents));
	}
	m->extents[m->count++] = *e;
	return 0;
}

static int extent_cmp(const void *a, const void *b)
{
	const struct shadow_extent *x = a, *y = b;

	if (x->iova != y->iova)
		return x->iova < y->iova ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

int shadow_map_finish(struct shadow_map *m, const char *unit, nl_error_t *err)
{
	uint64_t pages = 0;

	for (size_t i = 0; i < m->count; i++) {
		const struct shadow_extent *e = &m->extents[i];

		if (!e->size_bytes || e->size_bytes % SHADOW_PAGE_BYTES || e->iova % SHADOW_PAGE_BYTES ||
		    e->addr % SHADOW_PAGE_BYTES)
			return nl_error(err, 0, "%s %u: iova 0x%llx size 0x%llx -> 0x%llx is not a whole number "
					"of 4 KiB pages", unit, e->line, (unsigned long long)e->iova,
					(unsigned long long)e->size_bytes, (unsigned long long)e->addr);
		if (e->iova + e->size_bytes < e->iova || e->addr + e->size_bytes < e->addr)
			return nl_error(err, 0, "%s %u: iova 0x%llx size 0x%llx wraps around", unit, e->line,
					(unsigned long long)e->iova, (unsigned long long)e->size_bytes);
	}
	if (m->count > 1)
		qsort(m->extents, m->count, sizeof(*m->extents), extent_cmp);
	for (size_t i = 0; i < m->count; i++) {
		const struct shadow_extent *e = &m->extents[i];

		if (i && m->extents[i - 1].iova + m->extents[i - 1].size_bytes > e->iova)
			return nl_error(err, 0, "%s %u: iova 0x%llx overlaps the range of %s %u", unit, e->line,
					(unsigned long long)e->iova, unit, m->extents[i - 1].line);
		pages += e->size_bytes / SHADOW_PAGE_BYTES;
	}
	m->pages = pages;
	return 0;
}

size_t shadow_map_index_above(const struct shadow_map *map, uint64_t iova)
{
	size_t lo = 0, hi = map->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (map->extents[mid].iova + map->extents[mid].size_bytes <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct shadow_extent *shadow_map_find(const struct shadow_map *map, uint64_t iova)
{
	size_t i = shadow_map_index_above(map, iova);

	return i < map->count && map->extents[i].iova <= iova ? &map->extents[i] : NULL;
}

/* ---- domain_translation_struct --------------------------------------------------------------------- */

/* hex_digits() - 1..@max hex digits without "0x" (the PASID is printed "%x") */
static bool hex_digits(const struct shadow_token *t, size_t max, uint64_t *v)
{
	char buf[24];
	struct shadow_token prefixed = { buf, 0 };

	if (!t->len || t->len > max || t->len > 16)
		return false;
	prefixed.len = (size_t)snprintf(buf, sizeof(buf), "0x%.*s", (int)t->len, t->s);
	return shadow_parse_hex(&prefixed, v);
}

/* table_parse_device() - "Device SSSS:BB:DD.F @0xPGD" or "Device SSSS:BB:DD.F with pasid P @0xPGD" */
static int table_parse_device(struct shadow_table *t, const struct shadow_token *tok, size_t n, unsigned lineno,
			      nl_error_t *err)
{
	static const char shape[] = "hhhh:hh:hh.h";
	const struct shadow_token *bdf = &tok[1];
	struct shadow_token pgd;
	uint64_t pasid = 0;

	if (n != 3 && !(n == 6 && shadow_token_is(&tok[2], "with") && shadow_token_is(&tok[3], "pasid")))
		return nl_error(err, 0, "line %u: expected \"Device SSSS:BB:DD.F [with pasid P] @0xADDR\"", lineno);
	if (bdf->len != strlen(shape))
		return nl_error(err, 0, "line %u: device is not SSSS:BB:DD.F", lineno);
	for (size_t i = 0; i < bdf->len; i++) {
		char c = bdf->s[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');

		if (shape[i] == 'h' ? !hex : c != shape[i])
			return nl_error(err, 0, "line %u: device is not SSSS:BB:DD.F", lineno);
	}
	if (n == 6 && !hex_digits(&tok[4], 5, &pasid))
		return nl_error(err, 0, "line %u: PASID is not 1 to 5 hex digits", lineno);
	pgd = (struct shadow_token){ tok[n - 1].s + 1, tok[n - 1].len - 1 };
	if (tok[n - 1].s[0] != '@' || !shadow_parse_hex(&pgd, &t->pgd))
		return nl_error(err, 0, "line %u: expected \"@0xADDR\" at the end", lineno);
	memcpy(t->device, bdf->s, bdf->len);
	t->device[bdf->len] = '\0';
	t->scalable = n == 6;
	t->pasid = (uint32_t)pasid;
	t->found = true;
	return 0;
}

/**
 * table_parse_entry() - one leaf of the walk: "0xPFN |\tPML5E\tPML4E\tPDPE[\tPDE[\tPTE]]"
 * @t:		table
 * @tok:	the line's tokens: PFN, "|", 3 to 5 entries
 * @n:		their number
 * @lineno:	for messages
 * @err:	error
 *
 * Return: 0 or -1.
 */
static int table_parse_entry(struct shadow_table *t, const struct shadow_token *tok, size_t n, unsigned lineno,
			     nl_error_t *err)
{
	uint64_t pfn, entry[5], leaf;
	size_t cols = n - 2, top;
	unsigned leaf_level, perm = SHADOW_PERM_RW;
	struct shadow_extent e = { .line = lineno };

	if (n < 5 || n > 7 || !shadow_token_is(&tok[1], "|"))
		return nl_error(err, 0, "line %u: expected \"0xIOVA_PFN |\" and 3 to 5 entries, got %zu fields",
				lineno, n);
	if (!shadow_parse_hex(&tok[0], &pfn) || pfn > SHADOW_IOVA_PFN_MAX)
		return nl_error(err, 0, "line %u: IOVA_PFN is not a 52-bit hex number", lineno);
	for (size_t i = 0; i < cols; i++)
		if (!shadow_parse_hex(&tok[2 + i], &entry[i]))
			return nl_error(err, 0, "line %u: entry %zu is not a 64-bit hex number", lineno, i + 1);
	for (top = 0; top < cols && !entry[top]; top++)
		;
	if (top == cols)
		return nl_error(err, 0, "line %u: every entry is zero", lineno);
	for (size_t i = top; i < cols; i++) {
		if (!(entry[i] & SHADOW_PERM_RW))
			return nl_error(err, 0, "line %u: entry %zu (0x%llx) is not present (neither R nor W)",
					lineno, i + 1, (unsigned long long)entry[i]);
		perm &= (unsigned)entry[i] & SHADOW_PERM_RW;
	}
	/* column i is level 5 - i; the last one is the leaf */
	leaf = entry[cols - 1];
	leaf_level = (unsigned)(6 - cols);
	if (leaf_level > 1 && !(leaf & SHADOW_VTD_PS))
		return nl_error(err, 0, "line %u: level-%u leaf 0x%llx lacks the page-size bit", lineno, leaf_level,
				(unsigned long long)leaf);
	e.size_bytes = SHADOW_PAGE_BYTES << (9 * (leaf_level - 1));
	e.iova = pfn << 12;
	e.addr = leaf & SHADOW_VTD_ADDR_MASK & ~(e.size_bytes - 1);
	e.perm = perm;
	if (e.iova & (e.size_bytes - 1))
		return nl_error(err, 0, "line %u: IOVA 0x%llx is not aligned to its %llu KiB page", lineno,
				(unsigned long long)e.iova, (unsigned long long)(e.size_bytes >> 10));
	return shadow_map_push(&t->map, &e, "domain_translation_struct", err);
}

/* table_is_header() - the column header "IOVA_PFN PML5E PML4E PDPE PDE PTE" */
static bool table_is_header(const struct shadow_token *tok, size_t n)
{
	static const char *const names[] = { "IOVA_PFN", "PML5E", "PML4E", "PDPE", "PDE", "PTE" };

	if (n != ARRAY_SIZE(names))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!shadow_token_is(&tok[i], names[i]))
			return false;
	return true;
}

int shadow_table_parse(struct shadow_table *t, const char *text, size_t len, nl_error_t *err)
{
	enum { BEFORE_DEVICE, BEFORE_HEADER, ENTRIES } state = BEFORE_DEVICE;
	struct shadow_lines it;
	const char *line;
	size_t n, tlen;
	int rc;

	if (shadow_lines_init(&it, text, len, err) < 0)
		return -1;
	while ((rc = shadow_lines_next(&it, &line, &tlen, err)) > 0) {
		struct shadow_token tok[8];

		n = shadow_tokens(line, tlen, tok, ARRAY_SIZE(tok));
		if (!n)
			continue;
		if (state == BEFORE_DEVICE && n == 7 && tlen > 32 &&
		    !memcmp(line, "DMA Remapping is not enabled on ", 32)) {
			t->remapping_disabled++;
		} else if (state == BEFORE_DEVICE && shadow_token_is(&tok[0], "Device")) {
			if (table_parse_device(t, tok, n, it.lineno, err) < 0)
				return -1;
			state = BEFORE_HEADER;
		} else if (state == BEFORE_HEADER) {
			if (!table_is_header(tok, n))
				return nl_error(err, 0, "line %u: expected the column header \"IOVA_PFN PML5E PML4E "
						"PDPE PDE PTE\"", it.lineno);
			state = ENTRIES;
		} else if (state == ENTRIES) {
			if (table_parse_entry(t, tok, n, it.lineno, err) < 0)
				return -1;
		} else {
			cleanup_free char *s = shadow_snippet(line, tlen);

			return nl_error(err, 0, "line %u: expected \"Device ...\" or \"DMA Remapping is not enabled "
					"on ...\", got \"%s\"; is this a domain_translation_struct file?", it.lineno, s);
		}
	}
	if (rc < 0)
		return -1;
	if (state == BEFORE_HEADER)
		return nl_error(err, 0, "line %u: the column header is missing after the device (text cut short?)",
				it.lineno);
	return shadow_map_finish(&t->map, "line", err);
}

void shadow_table_release(struct shadow_table *t)
{
	shadow_map_release(&t->map);
	memset(t, 0, sizeof(*t));
}

/* ---- vfio/type1/<id>/mappings and stats -------------------------------------------------------- */

/* vfio_parse_prot() - "rw", "r-", "-w" (or "--") */
static bool vfio_parse_prot(const struct shadow_token *t, unsigned *perm)
{
	if (t->len != 2 || (t->s[0] != 'r' && t->s[0] != '-') || (t->s[1] != 'w' && t->s[1] != '-'))
		return false;
	*perm = (t->s[0] == 'r' ? SHADOW_PERM_R : 0) | (t->s[1] == 'w' ? SHADOW_PERM_W : 0);
	return true;
}

int shadow_vfio_parse(struct shadow_vfio *v, const char *text, size_t len, nl_error_t *err)
{
	static const char *const states[] = {
		[SHADOW_VFIO_MAPPED] = "mapped",
		[SHADOW_VFIO_NOT_MAPPED] = "not-mapped",
		[SHADOW_VFIO_VADDR_INVALID] = "vaddr-invalid",
	};
	struct shadow_lines it;
	const char *line;
	size_t tlen;
	int rc;

	if (shadow_lines_init(&it, text, len, err) < 0)
		return -1;
	while ((rc = shadow_lines_next(&it, &line, &tlen, err)) > 0) {
		struct shadow_token tok[8];
		struct shadow_extent e = { .line = it.lineno, .state = ARRAY_SIZE(states) };
		size_t n = shadow_tokens(line, tlen, tok, ARRAY_SIZE(tok));

		if (!n || tok[0].s[0] == '#')
			continue;
		if (n != 6)
			return nl_error(err, 0, "line %u: expected \"IOVA SIZE VADDR PROT PINNED STATE\", got %zu fields",
					it.lineno, n);
		if (!shadow_parse_hex(&tok[0], &e.iova) || !shadow_parse_hex(&tok[1], &e.size_bytes) ||
		    !shadow_parse_hex(&tok[2], &e.addr))
			return nl_error(err, 0, "line %u: IOVA, SIZE and VADDR must be 0x hex numbers", it.lineno);
		if (!vfio_parse_prot(&tok[3], &e.perm))
			return nl_error(err, 0, "line %u: PROT must be rw, r- or -w", it.lineno);
		if (!shadow_parse_dec(&tok[4], &e.pinned_pages))
			return nl_error(err, 0, "line %u: PINNED must be a decimal number", it.lineno);
		for (size_t i = 0; i < ARRAY_SIZE(states); i++)
			if (shadow_token_is(&tok[5], states[i]))
				e.state = (enum shadow_vfio_state)i;
		if (e.state == ARRAY_SIZE(states))
			return nl_error(err, 0, "line %u: STATE must be mapped, not-mapped or vaddr-invalid", it.lineno);
		if (shadow_map_push(&v->map, &e, "vfio mappings", err) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	return shadow_map_finish(&v->map, "line", err);
}

void shadow_vfio_release(struct shadow_vfio *v)
{
	shadow_map_release(&v->map);
	memset(v, 0, sizeof(*v));
}

/* the keys of vfio_iommu_stats_show(), each a decimal number unless it has no field here */
#define STAT_U64(name) { #name, offsetof(struct shadow_vfio_stats, name) }
static const struct {
	const char *key;
	size_t offset;
} vfio_stat_keys[] = {
	{ "id", 0 }, { "pid", 0 }, { "comm", 0 }, { "type", 0 },
	STAT_U64(domains), STAT_U64(dma_entries), STAT_U64(map_dma), STAT_U64(map_dma_failed),
	STAT_U64(mapped_bytes), STAT_U64(unmap_dma), STAT_U64(unmap_dma_failed), STAT_U64(unmapped_bytes),
};
#undef STAT_U64

/* vfio_stat_set() - store @value (the rest of the line) under key number @k */
static int vfio_stat_set(struct shadow_vfio_stats *s, size_t k, const char *value, size_t len, unsigned lineno,
			 nl_error_t *err)
{
	struct shadow_token t = { value, len };
	uint64_t v = 0;

	if (k == 2 || k == 3) {		/* comm (may hold blanks), type */
		char *dst = k == 2 ? s->comm : s->type;
		size_t cap = k == 2 ? sizeof(s->comm) : sizeof(s->type);

		if (!len || len >= cap)
			return nl_error(err, 0, "line %u: %s must be 1 to %zu bytes", lineno, vfio_stat_keys[k].key,
					cap - 1);
		memcpy(dst, value, len);
		dst[len] = '\0';
		return 0;
	}
	if (!shadow_parse_dec(&t, &v) || (k < 2 && v > INT32_MAX))
		return nl_error(err, 0, "line %u: %s must be a non-negative decimal number", lineno,
				vfio_stat_keys[k].key);
	if (k == 0)
		s->id = (int)v;
	else if (k == 1)
		s->pid = (int)v;
	else
		memcpy((char *)s + vfio_stat_keys[k].offset, &v, sizeof(v));
	return 0;
}

int shadow_vfio_stats_parse(struct shadow_vfio_stats *s, const char *text, size_t len, nl_error_t *err)
{
	bool seen[ARRAY_SIZE(vfio_stat_keys)] = { false };
	struct shadow_lines it;
	const char *line;
	size_t tlen;
	int rc;

	memset(s, 0, sizeof(*s));
	if (shadow_lines_init(&it, text, len, err) < 0)
		return -1;
	while ((rc = shadow_lines_next(&it, &line, &tlen, err)) > 0) {
		const char *sp = memchr(line, ' ', tlen);
		size_t klen = sp ? (size_t)(sp - line) : tlen;
		struct shadow_token key = { line, klen };

		if (!tlen)
			continue;
		if (!sp)
			return nl_error(err, 0, "line %u: expected \"KEY VALUE\"", it.lineno);
		for (size_t k = 0; k < ARRAY_SIZE(vfio_stat_keys); k++) {
			if (!shadow_token_is(&key, vfio_stat_keys[k].key))
				continue;
			if (seen[k])
				return nl_error(err, 0, "line %u: %s appears twice", it.lineno, vfio_stat_keys[k].key);
			seen[k] = true;
			if (vfio_stat_set(s, k, sp + 1, tlen - klen - 1, it.lineno, err) < 0)
				return -1;
		}
		/* other keys: a newer kernel's, ignored */
	}
	if (rc < 0)
		return -1;
	for (size_t k = 0; k < ARRAY_SIZE(vfio_stat_keys); k++)
		if (!seen[k])
			return nl_error(err, 0, "key %s is missing (text cut short, or not vfio/type1/<id>/stats?)",
					vfio_stat_keys[k].key);
	return 0;
}

/* ---- L2 RAM layout ----------------------------------------------------------------------------- */

void shadow_ram_layout_add(struct shadow_ram_layout *l, uint64_t gpa, uint64_t size_bytes, uint64_t hva)
{
	if (l->count == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 8;
		l->regions = xrealloc(l->regions, l->alloc * sizeof(*l->regions));
	}
	l->regions[l->count++] = (struct shadow_ram_region){ gpa, size_bytes, hva };
}

static int region_cmp(const void *a, const void *b)
{
	const struct shadow_ram_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int shadow_ram_layout_finish(struct shadow_ram_layout *l, nl_error_t *err)
{
	if (l->count > SHADOW_RAM_REGIONS_MAX)
		return nl_error(err, 0, "L2 RAM layout: %zu regions, more than %d", l->count, SHADOW_RAM_REGIONS_MAX);
	for (size_t i = 0; i < l->count; i++) {
		const struct shadow_ram_region *r = &l->regions[i];

		if (!r->size_bytes || r->gpa + r->size_bytes < r->gpa || r->hva + r->size_bytes < r->hva)
			return nl_error(err, 0, "L2 RAM layout: region gpa 0x%llx size 0x%llx is empty or wraps",
					(unsigned long long)r->gpa, (unsigned long long)r->size_bytes);
	}
	if (l->count > 1)
		qsort(l->regions, l->count, sizeof(*l->regions), region_cmp);
	for (size_t i = 1; i < l->count; i++)
		if (l->regions[i - 1].gpa + l->regions[i - 1].size_bytes > l->regions[i].gpa)
			return nl_error(err, 0, "L2 RAM layout: regions at gpa 0x%llx and 0x%llx overlap",
					(unsigned long long)l->regions[i - 1].gpa,
					(unsigned long long)l->regions[i].gpa);
	return 0;
}

void shadow_ram_layout_release(struct shadow_ram_layout *l)
{
	free(l->regions);
	memset(l, 0, sizeof(*l));
}

size_t shadow_ram_index_above(const struct shadow_ram_layout *l, uint64_t gpa)
{
	size_t lo = 0, hi = l->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->regions[mid].gpa + l->regions[mid].size_bytes <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool shadow_ram_hva(const struct shadow_ram_layout *l, uint64_t gpa, uint64_t *hva)
{
	size_t i = shadow_ram_index_above(l, gpa);

	if (i == l->count || l->regions[i].gpa > gpa)
		return false;
	*hva = l->regions[i].hva + (gpa - l->regions[i].gpa);
	return true;
}

/* a RAM block of `info ramblock` */
struct ramblock {
	char name[128];
	uint64_t used, hva;
};

/**
 * ramblocks_parse() - "%24s %8s  0x%016x 0x%016x 0x%016x 0x%016x %3s": name, page size ("4 KiB": two
 * tokens), offset, used, total, HVA, "ro"/"rw"; the header line starts with "Block Name"
 * @text:	`info ramblock` output
 * @len:	its length
 * @out:	set to the blocks (free() it)
 * @count:	their number
 * @err:	error
 *
 * Return: 0 or -1.
 */
static int ramblocks_parse(const char *text, size_t len, struct ramblock **out, size_t *count, nl_error_t *err)
{
	cleanup_free struct ramblock *blocks = NULL;
	struct shadow_lines it;
	const char *line;
	size_t tlen, n = 0;
	int rc;

	if (shadow_lines_init(&it, text, len, err) < 0)
		return -1;
	while ((rc = shadow_lines_next(&it, &line, &tlen, err)) > 0) {
		struct shadow_token tok[16];
		size_t nt = shadow_tokens(line, tlen, tok, ARRAY_SIZE(tok));
		struct ramblock b = { .name = "" };
		uint64_t offset, total;

		if (!nt || (nt >= 2 && shadow_token_is(&tok[0], "Block") && shadow_token_is(&tok[1], "Name")))
			continue;
		if (nt == 7 && shadow_parse_dec(&tok[0], &offset))
			continue;	/* no name: a RAM device (a mmap'ed BAR), not guest RAM */
		if (nt != 8 || tok[0].len >= sizeof(b.name) || !shadow_parse_hex(&tok[3], &offset) ||
		    !shadow_parse_hex(&tok[4], &b.used) || !shadow_parse_hex(&tok[5], &total) ||
		    !shadow_parse_hex(&tok[6], &b.hva))
			return nl_error(err, 0, "info ramblock line %u: expected \"NAME PSIZE UNIT OFFSET USED TOTAL "
					"HVA RO\"", it.lineno);
		if (n >= SHADOW_RAM_REGIONS_MAX)
			return nl_error(err, 0, "info ramblock: more than %d blocks", SHADOW_RAM_REGIONS_MAX);
		memcpy(b.name, tok[0].s, tok[0].len);
		blocks = xrealloc(blocks, (n + 1) * sizeof(*blocks));
		blocks[n++] = b;
	}
	if (rc < 0)
		return -1;
	*out = blocks;
	blocks = NULL;
	*count = n;
	return 0;
}

/**
 * mtree_parse_range() - "START-END (prio P, TYPE): NAME[ @OFFSET][ ...]" of a flat view; only TYPE "ram"
 * (and "nv-ram") count, the others (rom, romd, ramd: device memory, i/o) are not L2's RAM
 * @l:		layout to add to
 * @tok:	the line's tokens
 * @n:		their number
 * @blocks:	RAM blocks
 * @nblocks:	their number
 * @lineno:	for messages
 * @err:	error
 *
 * Return: 0 (added or not RAM) or -1.
 */
static int mtree_parse_range(struct shadow_ram_layout *l, const struct shadow_token *tok, size_t n,
			     const struct ramblock *blocks, size_t nblocks, unsigned lineno, nl_error_t *err)
{
	const char *dash = memchr(tok[0].s, '-', tok[0].len);
	struct shadow_token start, end;
	char hex0[24], hex1[24];
	uint64_t first, last, offset = 0;

	if (n < 4 || !shadow_token_is(&tok[1], "(prio") ||
	    !(shadow_token_is(&tok[3], "ram):") || shadow_token_is(&tok[3], "nv-ram):")))
		return 0;
	if (!dash || tok[0].len > 40)
		return nl_error(err, 0, "info mtree line %u: expected START-END", lineno);
	start = (struct shadow_token){ hex0, (size_t)snprintf(hex0, sizeof(hex0), "0x%.*s",
							      (int)(dash - tok[0].s), tok[0].s) };
	end = (struct shadow_token){ hex1, (size_t)snprintf(hex1, sizeof(hex1), "0x%.*s",
							    (int)(tok[0].s + tok[0].len - dash - 1), dash + 1) };
	if (!shadow_parse_hex(&start, &first) || !shadow_parse_hex(&end, &last) || last < first ||
	    last - first == UINT64_MAX)
		return nl_error(err, 0, "info mtree line %u: expected START-END in hex", lineno);
	if (n < 5)
		return nl_error(err, 0, "info mtree line %u: RAM range without a region name", lineno);
	if (n >= 6 && tok[5].len > 1 && tok[5].s[0] == '@') {
		struct shadow_token off;

		off = (struct shadow_token){ hex0, (size_t)snprintf(hex0, sizeof(hex0), "0x%.*s",
								    (int)(tok[5].len - 1), tok[5].s + 1) };
		if (tok[5].len > 17 || !shadow_parse_hex(&off, &offset))
			return nl_error(err, 0, "info mtree line %u: bad @OFFSET", lineno);
	}
	for (size_t i = 0; i < nblocks; i++) {
		if (!shadow_token_is(&tok[4], blocks[i].name))
			continue;
		if (offset > blocks[i].used || last - first >= blocks[i].used - offset)
			return nl_error(err, 0, "info mtree line %u: range is outside RAM block %s (0x%llx bytes)",
					lineno, blocks[i].name, (unsigned long long)blocks[i].used);
		if (l->count >= SHADOW_RAM_REGIONS_MAX)
			return nl_error(err, 0, "info mtree: more than %d RAM ranges", SHADOW_RAM_REGIONS_MAX);
		shadow_ram_layout_add(l, first, last - first + 1, blocks[i].hva + offset);
		return 0;
	}
	return nl_error(err, 0, "info mtree line %u: RAM region %.*s is not in `info ramblock`", lineno,
			(int)(tok[4].len < 64 ? tok[4].len : 64), tok[4].s);
}

int shadow_ram_layout_parse_hmp(struct shadow_ram_layout *l, const char *mtree, size_t mtree_len,
				const char *ramblock, size_t ramblock_len, nl_error_t *err)
{
	cleanup_free struct ramblock *blocks = NULL;
	struct shadow_lines it;
	size_t nblocks = 0, tlen;
	const char *line;
	bool in_memory = false, seen_memory = false, in_as_list = false;
	int rc;

	if (ramblocks_parse(ramblock, ramblock_len, &blocks, &nblocks, err) < 0)
		return -1;
	if (shadow_lines_init(&it, mtree, mtree_len, err) < 0)
		return -1;
	while ((rc = shadow_lines_next(&it, &line, &tlen, err)) > 0) {
		struct shadow_token tok[12];
		size_t n = shadow_tokens(line, tlen, tok, ARRAY_SIZE(tok));

		if (!n)
			continue;
		if (shadow_token_is(&tok[0], "FlatView")) {
			in_memory = false;
			in_as_list = true;
		} else if (shadow_token_is(&tok[0], "AS") && in_as_list) {
			/* ' AS "memory", root: system' */
			if (n >= 2 && shadow_token_is(&tok[1], "\"memory\","))
				in_memory = seen_memory = true;
		} else {
			in_as_list = false;
			if (in_memory && mtree_parse_range(l, tok, n, blocks, nblocks, it.lineno, err) < 0)
				return -1;
		}
	}
	if (rc < 0)
		return -1;
	if (!seen_memory)
		return nl_error(err, 0, "info mtree: no flat view of address space \"memory\"; give `info mtree -f`");
	if (!l->count)
		return nl_error(err, 0, "info mtree: no RAM range in address space \"memory\"");
	return shadow_ram_layout_finish(l, err);
}
