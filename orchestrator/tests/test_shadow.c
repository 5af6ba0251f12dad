/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_shadow.c - unit tests for the shadow consistency check (shadow_parse.c, shadow_qmp.c,
 * shadow_check.c, shadow_report.c)
 *
 * Fixtures (orchestrator/tests/fixtures/shadow/, see its README): "ok" and "drop100" are the "up" dumps of
 * the manual nested runs (igb L0 -> L1 -> L2), without and with x-drop-map-notify=100 on L1's
 * intel-iommu: the QMP replies and vfio files as captured, the debugfs tables and HMP texts written in
 * the kernel's and QEMU's formats from the captured mappings. Large pages, garbage and corner cases are
 * built in the tests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "shadow.h"
#include "test.h"

#define GIB (1ull << 30)
#define MIB (1ull << 20)

/* the views of one dump, parsed */
struct set {
	struct shadow_table l2, l1;
	struct shadow_vtd guest, shadow, l0;
	struct shadow_vfio vfio;
	struct shadow_vfio_stats stats;
	struct shadow_ram_layout ram;
};

/* fixture_text() - the fixture's text (free() it), NULL with a diagnostic */
static char *fixture_text(const char *set, const char *file, size_t *len)
{
	cleanup_free char *rel = xasprintf("shadow/%s/%s", set, file);
	cleanup_free char *path = test_fixture(rel);
	char *text = read_file_text(path);

	if (!text)
		test_diag("cannot read %s", path);
	else
		*len = strlen(text);
	return text;
}

static void set_release(struct set *s)
{
	shadow_table_release(&s->l2);
	shadow_table_release(&s->l1);
	shadow_vtd_release(&s->guest);
	shadow_vtd_release(&s->shadow);
	shadow_vtd_release(&s->l0);
	shadow_vfio_release(&s->vfio);
	shadow_ram_layout_release(&s->ram);
}

/* set_load() - parse every file of fixture set @name; -1 with a diagnostic */
static int set_load(struct set *s, const char *name)
{
	static const char *const files[] = {
		"l2-table.txt", "l1-guest.json", "l1-shadow.json", "l1-vfio-mappings.txt", "l1-vfio-stats.txt",
		"l1-table.txt", "l0-guest.json", "l1-qemu-info-mtree.txt",
	};
	cleanup_error nl_error_t err = NULL;

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *text = NULL, *text2 = NULL;
		size_t len = 0, len2 = 0;
		int rc;

		text = fixture_text(name, files[i], &len);
		if (!text)
			return -1;
		switch (i) {
		case 0: rc = shadow_table_parse(&s->l2, text, len, &err); break;
		case 1: rc = shadow_vtd_parse_text(&s->guest, text, len, &err); break;
		case 2: rc = shadow_vtd_parse_text(&s->shadow, text, len, &err); break;
		case 3: rc = shadow_vfio_parse(&s->vfio, text, len, &err); break;
		case 4: rc = shadow_vfio_stats_parse(&s->stats, text, len, &err); break;
		case 5: rc = shadow_table_parse(&s->l1, text, len, &err); break;
		case 6: rc = shadow_vtd_parse_text(&s->l0, text, len, &err); break;
		default:
			text2 = fixture_text(name, "l1-qemu-info-ramblock.txt", &len2);
			if (!text2)
				return -1;
			rc = shadow_ram_layout_parse_hmp(&s->ram, text, len, text2, len2, &err);
		}
		if (rc < 0) {
			test_diag("%s/%s: %s", name, files[i], err->msg);
			return -1;
		}
	}
	s->vfio.container_id = s->stats.id;
	return 0;
}

static void set_views(struct set *s, struct shadow_views *v)
{
	*v = (struct shadow_views){
		.l2_table = &s->l2, .l1_guest = &s->guest, .l1_shadow = &s->shadow, .l1_vfio = &s->vfio,
		.l1_vfio_stats = &s->stats, .l1_table = &s->l1, .l0_guest = &s->l0, .l2_ram = &s->ram,
	};
}

/* check_set() - load fixture set @name and check all its views; -1 with a diagnostic */
static int check_set(struct set *s, const char *name, struct shadow_result *r)
{
	struct shadow_views v;
	cleanup_error nl_error_t err = NULL;

	if (set_load(s, name) < 0)
		return -1;
	set_views(s, &v);
	if (shadow_check(&v, r, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	return 0;
}

/* report_diag() - print the TAP lines of @r (shows up in the test log) */
static void report_diag(const struct shadow_result *r)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;

	shadow_format_tap(r, 5, "RUN/shadow.txt", &sb);
	test_diag("%s", sb.str);
}

/* ---- domain_translation_struct ----------------------------------------------------------------- */

static int test_table_real_format(void)
{
	struct set s;
	const struct shadow_extent *e;

	CHECK(set_load(&s, "drop100") == 0);
	CHECK(s.l2.found && !s.l2.scalable && s.l2.pgd == 0x4a1e000);
	CHECK_STR(s.l2.device, "0000:00:01.0");
	CHECK(s.l2.map.count == 257 && s.l2.map.pages == 257);
	e = &s.l2.map.extents[0];
	CHECK(e->iova == 0xffeff000 && e->size_bytes == 4096 && e->addr == 0x3148000 && e->perm == SHADOW_PERM_RW);
	e = shadow_map_find(&s.l2.map, 0xfff9c123);
	CHECK(e && e->iova == 0xfff9c000 && e->addr == 0x30a8000);
	CHECK(s.l1.map.pages == 256 && !shadow_map_find(&s.l1.map, 0xfff9c000));
	set_release(&s);
	return TEST_PASS;
}

/* the path of each leaf, as dump_page_info() prints it */
#define HDR "Device 0000:00:03.0 @0x1000\nIOVA_PFN         \tPML5E             \tPML4E             \tPDPE" \
	    "              \tPDE               \tPTE\n"

static int test_table_large_pages(void)
{
	static const char text[] = HDR
		/* 1 GiB at 1 GiB, read-only at the PML4E: R of every level ANDed */
		"0x0000000040000 |\t0x0000000000000000\t0x0000000000002001\t0x0000000080000083\n"
		/* 2 MiB at 0x80000000 */
		"0x0000000080000 |\t0x0000000000000000\t0x0000000000002003\t0x0000000000003003\t0x0000000000a00083\n"
		/* 4 KiB at 0x80200000, with SNP (bit 11) and a high ignored bit, write-only */
		"0x0000000080200 |\t0x0000000000000000\t0x0000000000002003\t0x0000000000003003\t0x0000000000004003"
		"\t0x4000000012345802\n";
	static const char five_level[] =
		"Device 0000:00:03.0 with pasid 1f @0x1000\n"
		"IOVA_PFN         \tPML5E             \tPML4E             \tPDPE              \tPDE               \tPTE\n"
		"0x1000000000000 |\t0x0000000000005003\t0x0000000000002003\t0x0000000000003003\t0x0000000000004003"
		"\t0x0000000000777003\n";
	struct shadow_table t = { 0 };
	cleanup_error nl_error_t err = NULL;
	const struct shadow_extent *e;

	CHECK(shadow_table_parse(&t, text, strlen(text), &err) == 0);
	CHECK(t.map.count == 3 && t.map.pages == 262144 + 512 + 1);
	e = &t.map.extents[0];
	CHECK(e->iova == GIB && e->size_bytes == GIB && e->addr == 0x80000000 && e->perm == SHADOW_PERM_R);
	e = &t.map.extents[1];
	CHECK(e->iova == 0x80000000 && e->size_bytes == 2 * MIB && e->addr == 0xa00000 && e->perm == SHADOW_PERM_RW);
	e = &t.map.extents[2];
	CHECK(e->iova == 0x80200000 && e->size_bytes == 4096 && e->addr == 0x12345000 && e->perm == SHADOW_PERM_W);
	e = shadow_map_find(&t.map, GIB + 0x12345678);
	CHECK(e && e->iova == GIB);
	shadow_table_release(&t);

	CHECK(shadow_table_parse(&t, five_level, strlen(five_level), &err) == 0);
	CHECK(t.scalable && t.pasid == 0x1f && t.map.count == 1 && t.map.extents[0].iova == 1ull << 60);
	shadow_table_release(&t);
	return TEST_PASS;
}

static int test_table_empty(void)
{
	static const char disabled[] = "DMA Remapping is not enabled on dmar0\n";
	struct shadow_table t = { 0 };
	cleanup_error nl_error_t err = NULL;

	CHECK(shadow_table_parse(&t, "", 0, &err) == 0);
	CHECK(!t.found && !t.map.count);
	shadow_table_release(&t);
	CHECK(shadow_table_parse(&t, disabled, strlen(disabled), &err) == 0);
	CHECK(!t.found && t.remapping_disabled == 1);
	shadow_table_release(&t);
	CHECK(shadow_table_parse(&t, HDR, strlen(HDR), &err) == 0);
	CHECK(t.found && !t.map.count);
	shadow_table_release(&t);
	return TEST_PASS;
}

static int test_table_errors(void)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "hello\n", "line 1: expected \"Device ...\"" },
		{ "Device 0000:00:03.0 @0x1000\n0x1 |\t0x0\t0x1\t0x3\n", "line 2: expected the column header" },
		{ "Device 0000:00:03.0 @0x1000\n", "column header is missing" },
		{ "Device 00:03.0 @0x1000\n", "line 1: device is not SSSS:BB:DD.F" },
		{ "Device 0000:00:03.0 0x1000\n", "line 1: expected \"@0xADDR\"" },
		{ "Device 0000:00:03.0 with pasid zz @0x1000\n", "PASID" },
		{ HDR "0x10 |\t0x0\t0x3\n", "line 3: expected \"0xIOVA_PFN |\" and 3 to 5 entries" },
		{ HDR "0x10 \t0x0\t0x3\t0x3\t0x3\n", "line 3: expected \"0xIOVA_PFN |\"" },
		{ HDR "16 |\t0x0\t0x3\t0x3\t0x3\t0x3\n", "line 3: IOVA_PFN is not" },
		{ HDR "0x10000000000000 |\t0x0\t0x3\t0x3\t0x3\t0x3\n", "line 3: IOVA_PFN is not a 52-bit" },
		{ HDR "0x10 |\t0x0\t0x3\t0xg\t0x3\t0x3\n", "line 3: entry 3 is not" },
		{ HDR "0x10 |\t0x0\t0x3\t0x3\t0x3\t0x10000\n", "line 3: entry 5 (0x10000) is not present" },
		{ HDR "0x10 |\t0x0\t0x0\t0x0\n", "line 3: every entry is zero" },
		{ HDR "0x200 |\t0x0\t0x3\t0x3\t0x200003\n", "line 3: level-2 leaf 0x200003 lacks the page-size bit" },
		{ HDR "0x201 |\t0x0\t0x3\t0x3\t0x200083\n", "line 3: IOVA 0x201000 is not aligned to its 2048 KiB" },
		{ HDR "0x200 |\t0x0\t0x3\t0x3\t0x200083\n0x2ff |\t0x0\t0x3\t0x3\t0x3\t0x5003\n",
		  "line 4: iova 0x2ff000 overlaps the range of line 3" },
		{ HDR "0x10 |\t0x0\t0x3\t0x3\t0x3\t0x3\nDevice 0000:00:04.0 @0x1000\n", "line 4: expected" },
	};
	char nul[] = HDR "0x10 |\t0x0\t0x3\t0x3\0\t0x3\t0x3\n";
	cleanup_free char *longline = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct shadow_table t = { 0 };
		cleanup_error nl_error_t err = NULL;
		int rc = shadow_table_parse(&t, cases[i].text, strlen(cases[i].text), &err);

		shadow_table_release(&t);
		if (rc == 0)
			test_diag("case %zu parsed", i);
		CHECK(rc < 0);
		CHECK_CONTAINS(err->msg, cases[i].message);
	}
	{
		struct shadow_table t = { 0 };
		cleanup_error nl_error_t err = NULL;

		CHECK(shadow_table_parse(&t, nul, sizeof(nul) - 1, &err) < 0);
		CHECK_CONTAINS(err->msg, "line 3: NUL byte");
		shadow_table_release(&t);
		longline = xmalloc(4000);
		memset(longline, 'x', 3999);
		longline[3999] = '\0';
		CHECK(shadow_table_parse(&t, longline, 3999, &err) < 0);
		CHECK_CONTAINS(err->msg, "line 1: longer than");
		shadow_table_release(&t);
	}
	return TEST_PASS;
}

/* ---- vfio --------------------------------------------------------------------------------------- */

static int test_vfio_real_format(void)
{
	struct set s;
	const struct shadow_extent *e;

	CHECK(set_load(&s, "drop100") == 0);
	CHECK(s.vfio.map.count == 256 && s.vfio.map.pages == 256);
	e = &s.vfio.map.extents[0];
	CHECK(e->iova == 0xffeff000 && e->size_bytes == 4096 && e->addr == 0x7f8842f48000 && e->perm == SHADOW_PERM_RW &&
	      e->pinned_pages == 1 && e->state == SHADOW_VFIO_MAPPED);
	CHECK(s.stats.id == 1 && s.stats.pid == 68 && s.stats.dma_entries == 256 && s.stats.map_dma == 295 &&
	      s.stats.mapped_bytes == 1345593344 && s.stats.unmapped_bytes == 1344544768);
	CHECK_STR(s.stats.comm, "qemu-system-x86");
	CHECK_STR(s.stats.type, "type1v2");
	set_release(&s);
	return TEST_PASS;
}

static int test_vfio_formats_and_errors(void)
{
	/* the format of docs/patches.md and the one-level run: several pages per mapping, a 2 MiB one */
	static const char good[] = "# iova size vaddr prot pinned state\n"
				   "0x100000 0x4000 0x7f8f44daf000 rw 4 mapped\n"
				   "0x40000000 0x200000 0x7f8f44a00000 r- 512 not-mapped\r\n"
				   "0x50000000 0x1000 0x7f8f44c00000 -w 0 vaddr-invalid\n";
	static const struct {
		const char *text, *message;
	} bad[] = {
		{ "0x100000 0x4000 0x7f8f44daf000 rw 4\n", "line 1: expected \"IOVA SIZE VADDR PROT PINNED STATE\"" },
		{ "0x100000 4000 0x7f8f44daf000 rw 4 mapped\n", "line 1: IOVA, SIZE and VADDR" },
		{ "0x100000 0x4000 0x7f8f44daf000 wr 4 mapped\n", "line 1: PROT" },
		{ "0x100000 0x4000 0x7f8f44daf000 rw -4 mapped\n", "line 1: PINNED" },
		{ "0x100000 0x4000 0x7f8f44daf000 rw 4 mapped?\n", "line 1: STATE" },
		{ "0x100800 0x4000 0x7f8f44daf000 rw 4 mapped\n", "line 1: iova 0x100800 size 0x4000" },
		{ "0x100000 0x0 0x7f8f44daf000 rw 4 mapped\n", "line 1: iova 0x100000 size 0x0" },
		{ "0xfffffffffffff000 0x2000 0x1000 rw 4 mapped\n", "wraps around" },
		{ "#\n0x100000 0x4000 0x1000 rw 4 mapped\n0x101000 0x1000 0x1000 rw 1 mapped\n",
		  "line 3: iova 0x101000 overlaps the range of line 2" },
	};
	struct shadow_vfio v = { 0 };
	cleanup_error nl_error_t err = NULL;

	CHECK(shadow_vfio_parse(&v, good, strlen(good), &err) == 0);
	CHECK(v.map.count == 3 && v.map.pages == 4 + 512 + 1);
	CHECK(v.map.extents[1].state == SHADOW_VFIO_NOT_MAPPED && v.map.extents[1].perm == SHADOW_PERM_R &&
	      v.map.extents[1].pinned_pages == 512);
	CHECK(v.map.extents[2].state == SHADOW_VFIO_VADDR_INVALID && v.map.extents[2].perm == SHADOW_PERM_W);
	shadow_vfio_release(&v);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		nl_error_release(&err);
		CHECK(shadow_vfio_parse(&v, bad[i].text, strlen(bad[i].text), &err) < 0);
		CHECK_CONTAINS(err->msg, bad[i].message);
		shadow_vfio_release(&v);
	}
	return TEST_PASS;
}

static int test_vfio_stats_errors(void)
{
	static const char base[] = "id 3\npid 64\ncomm my qemu\ntype type1v2\ndomains 1\ndma_entries 2\nmap_dma 2\n"
				   "map_dma_failed 0\nmapped_bytes 2113536\nunmap_dma 0\nunmap_dma_failed 0\n"
				   "unmapped_bytes 0\nfuture_key 7\n";
	struct shadow_vfio_stats st;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *dup = xasprintf("%sid 4\n", base);

	CHECK(shadow_vfio_stats_parse(&st, base, strlen(base), &err) == 0);
	CHECK(st.id == 3 && st.pid == 64 && st.mapped_bytes == 2113536);
	CHECK_STR(st.comm, "my qemu");
	CHECK(shadow_vfio_stats_parse(&st, dup, strlen(dup), &err) < 0);
	CHECK_CONTAINS(err->msg, "line 14: id appears twice");
	nl_error_release(&err);
	CHECK(shadow_vfio_stats_parse(&st, base, (size_t)(strstr(base, "domains") - base), &err) < 0);
	CHECK_CONTAINS(err->msg, "is missing");
	nl_error_release(&err);
	CHECK(shadow_vfio_stats_parse(&st, "id -1\n", 6, &err) < 0);
	CHECK_CONTAINS(err->msg, "line 1: id must be a non-negative decimal number");
	nl_error_release(&err);
	CHECK(shadow_vfio_stats_parse(&st, "id\n", 3, &err) < 0);
	CHECK_CONTAINS(err->msg, "line 1: expected \"KEY VALUE\"");
	return TEST_PASS;
}

/* ---- QMP replies -------------------------------------------------------------------------------- */

static int test_vtd_real_replies(void)
{
	struct set s;

	CHECK(set_load(&s, "drop100") == 0);
	CHECK(!s.shadow.guest && s.guest.guest && s.l0.guest);
	CHECK_STR(s.shadow.device, "/machine/peripheral/nic0");
	CHECK(s.shadow.sid == 8 && s.shadow.dmar_enabled && !s.shadow.bypass && s.shadow.map_notifier);
	CHECK(s.shadow.map.count == 257 && s.guest.map.count == 257 && s.l0.map.count == 256);
	CHECK(s.shadow.has_dropped && s.shadow.dropped.iova == 0xfff9c000 && s.shadow.dropped.addr == 51019776 &&
	      s.shadow.dropped.size_bytes == 4096 && s.shadow.dropped.perm == SHADOW_PERM_RW);
	CHECK(s.shadow.as.page_walks == 259 && s.shadow.as.map_notifications == 256 &&
	      s.shadow.as.dropped_map_notifications == 1 && s.shadow.as.unmap_notifications == 0);
	CHECK(s.shadow.iommu.inv_iotlb_page == 257 && s.shadow.iommu.inv_wait == 289 &&
	      s.shadow.iommu.dropped_map_notifications == 1 && s.shadow.iommu.inv_iec_index == 19);
	CHECK(!s.l0.map_notifier && !s.l0.has_dropped);
	set_release(&s);
	return TEST_PASS;
}

static int test_vtd_json_forms(void)
{
	/* the QAPI example of patches/qemu/0004 (without the 0006 members), wrapped and as a json_t */
	static const char example[] =
		"{ \"return\": { \"device\": \"/machine/peripheral/nic0\", \"sid\": 16, \"dmar-enabled\": true, "
		"\"bypass\": false, \"map-notifier\": true, \"source\": \"shadow\", \"mappings\": [ "
		"{ \"iova\": 4294963200, \"size\": 4096, \"translated-addr\": 1130524672, \"perm\": \"rw\" } ], "
		"\"counters\": { \"page-walks\": 12, \"map-notifications\": 1, \"unmap-notifications\": 8, "
		"\"dmar-faults\": 0 }, \"iommu\": { \"invalidations\": { \"context-global\": 1, "
		"\"context-domain\": 0, \"context-device\": 2, \"iotlb-global\": 3, \"iotlb-domain\": 0, "
		"\"iotlb-page\": 9, \"pasid-iotlb-pasid\": 0, \"pasid-iotlb-page\": 0, \"pasid-cache\": 0, "
		"\"iec-global\": 1, \"iec-index\": 4, \"device-iotlb\": 0, \"pasid-device-iotlb\": 0, "
		"\"wait\": 20, \"errors\": 0 }, \"map-notifications\": 1, \"dmar-faults\": 0, \"ir-faults\": 0, "
		"\"fpd-faults\": 0, \"recorded-faults\": 0 } } }";
	struct shadow_vtd v = { 0 };
	cleanup_error nl_error_t err = NULL;
	json_error_t jerr;
	json_t *j = json_loads(example, 0, &jerr);

	CHECK(j);
	CHECK(shadow_vtd_parse_json(&v, json_object_get(j, "return"), &err) == 0);
	CHECK(v.sid == 16 && v.map.count == 1 && v.map.extents[0].iova == 0xfffff000 && v.as.page_walks == 12 &&
	      v.as.dropped_map_notifications == 0 && v.iommu.inv_iotlb_page == 9);
	shadow_vtd_release(&v);
	CHECK(shadow_vtd_parse_json(&v, j, &err) == 0 && v.map.count == 1);
	shadow_vtd_release(&v);

	/* a member of the wrong type is named */
	json_object_set_new(json_array_get(json_object_get(json_object_get(j, "return"), "mappings"), 0), "perm",
			    json_string("xx"));
	CHECK(shadow_vtd_parse_json(&v, j, &err) < 0);
	CHECK_STR(err->msg, "x-query-vtd-mappings reply: mappings[0].perm: expected one of none, ro, wo, rw");
	shadow_vtd_release(&v);
	json_object_del(json_object_get(json_object_get(j, "return"), "counters"), "page-walks");
	json_object_set_new(json_array_get(json_object_get(json_object_get(j, "return"), "mappings"), 0), "perm",
			    json_string("ro"));
	nl_error_release(&err);
	CHECK(shadow_vtd_parse_json(&v, j, &err) < 0);
	CHECK_STR(err->msg, "x-query-vtd-mappings reply: counters.page-walks: missing");
	shadow_vtd_release(&v);
	json_decref(j);
	return TEST_PASS;
}

static int test_vtd_text_errors(void)
{
	static const struct {
		const char *text, *message;
	} bad[] = {
		{ "", "not JSON" },
		{ "{\"return\": {}} trailing", "not JSON" },
		{ "[1]", "the reply is not a JSON object" },
		{ "{\"return\": 5}", "\"return\" is not a JSON object" },
		{ "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'nic9' not found\"}}",
		  "x-query-vtd-mappings: DeviceNotFound: Device 'nic9' not found" },
		{ "{\"return\": {\"device\": 1}}", "device: expected a string" },
		{ "{\"return\": {\"device\": \"d\", \"sid\": 70000, \"dmar-enabled\": true, \"bypass\": false, "
		  "\"map-notifier\": true}}", "sid: 70000 is not a 16-bit" },
		{ "{\"return\": {\"device\": \"d\", \"sid\": 8, \"dmar-enabled\": true, \"bypass\": false, "
		  "\"map-notifier\": true, \"source\": \"both\"}}", "source: expected" },
		{ "{\"return\": {\"device\": \"d\", \"sid\": 8, \"dmar-enabled\": true, \"bypass\": false, "
		  "\"map-notifier\": true, \"source\": \"guest\", \"mappings\": [{\"iova\": -4096, \"size\": 4096, "
		  "\"translated-addr\": 0, \"perm\": \"rw\"}]}}", "mappings[0].iova: expected a non-negative integer" },
		{ "{\"return\": {\"device\": \"d\", \"sid\": 8, \"dmar-enabled\": true, \"bypass\": false, "
		  "\"map-notifier\": true, \"source\": \"guest\", \"mappings\": [{\"iova\": 4096, \"size\": 8192, "
		  "\"translated-addr\": 0, \"perm\": \"rw\"}, {\"iova\": 8192, \"size\": 4096, "
		  "\"translated-addr\": 0, \"perm\": \"rw\"}]}}", "mappings entry 2: iova 0x2000 overlaps" },
		{ "{\"return\": {\"device\": \"d\", \"device\": \"e\"}}", "not JSON" },
		{ "{\"return\": {\"iova\": 99999999999999999999999}}", "not JSON" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct shadow_vtd v = { 0 };
		cleanup_error nl_error_t err = NULL;

		CHECK(shadow_vtd_parse_text(&v, bad[i].text, strlen(bad[i].text), &err) < 0);
		CHECK_CONTAINS(err->msg, bad[i].message);
		shadow_vtd_release(&v);
	}
	return TEST_PASS;
}

/*
 * test_vtd_limit_errors() - x-query-vtd-mappings' errors for its limits (patches/qemu/0004, as QEMU words them)
 * come through whole, with errnum E2BIG; other errors do not get it
 */
static int test_vtd_limit_errors(void)
{
	static const char *const limits[] = {
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"Device 'nic0' has more than max-entries (8) "
		"mappings in its shadow IOVA tree; raise 'max-entries' (at most 1048576) to list them all\"}}",
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"The walk of the I/O page tables of device "
		"'nic0' stopped at max-tables (1 tables): they are very sparse or loop; raise 'max-tables' (at most "
		"65536) to walk further\"}}",
	};
	static const char other[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter "
				    "'max-entries' must be between 1 and 1048576 (default 65536)\"}}";
	struct shadow_vtd v = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		cleanup_error nl_error_t err = NULL;

		CHECK(shadow_vtd_parse_text(&v, limits[i], strlen(limits[i]), &err) < 0);
		CHECK(err->errnum == E2BIG && shadow_vtd_limit_error(err->msg));
		CHECK_CONTAINS(err->msg, i ? "to walk further" : "to list them all");	/* not cut short */
		CHECK(!strstr(err->msg, strerror(E2BIG)));
		shadow_vtd_release(&v);
	}
	{
		cleanup_error nl_error_t err = NULL;

		CHECK(shadow_vtd_parse_text(&v, other, strlen(other), &err) < 0);
		CHECK(err->errnum == 0 && !shadow_vtd_limit_error(err->msg));
		shadow_vtd_release(&v);
	}
	return TEST_PASS;
}

static int test_translation_replies(void)
{
	/* as L0's QEMU answered in the one-level run (out-l0test/qmp.log) */
	static const char ok[] = "{\"return\": {\"device\": \"/machine/peripheral/nic0\", \"perm\": \"rw\", "
				 "\"success\": true, \"bypass\": false, \"sid\": 8, \"iova\": 1073742080, "
				 "\"translated-addr\": 52429056, \"addr-mask\": 2097151, \"write\": true}}";
	static const char fault[] = "{\"return\": {\"device\": \"/machine/peripheral/nic0\", \"perm\": \"none\", "
				    "\"fault-description\": \"no read permission\", \"success\": false, \"bypass\": "
				    "false, \"sid\": 8, \"iova\": 1048576, \"write\": false, \"fault-reason\": 6, "
				    "\"fault-recorded\": false}}";
	static const char refused[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"IOVA 0xfee00000 is in the "
				      "interrupt address range 0xfee00000-0xfeefffff\"}}";
	static const char bad_mask[] = "{\"return\": {\"perm\": \"rw\", \"success\": true, \"bypass\": false, "
				       "\"iova\": 0, \"translated-addr\": 0, \"addr-mask\": 4000, \"write\": true}}";
	struct shadow_translation t;
	cleanup_error nl_error_t err = NULL;

	CHECK(shadow_translation_parse_text(&t, ok, strlen(ok), &err) == 0);
	CHECK(t.success && t.write && t.iova == 0x40000100 && t.translated_addr == 0x3200100 &&
	      t.addr_mask == 0x1fffff && t.perm == SHADOW_PERM_RW);
	CHECK(shadow_translation_parse_text(&t, fault, strlen(fault), &err) == 0);
	CHECK(!t.success && t.fault_reason == 6 && !t.fault_recorded && t.perm == 0);
	CHECK_STR(t.fault_description, "no read permission");
	CHECK(shadow_translation_parse_text(&t, refused, strlen(refused), &err) < 0);
	CHECK_CONTAINS(err->msg, "x-vtd-translate: GenericError: IOVA 0xfee00000 is in the interrupt");
	nl_error_release(&err);
	CHECK(shadow_translation_parse_text(&t, bad_mask, strlen(bad_mask), &err) < 0);
	CHECK_CONTAINS(err->msg, "addr-mask 0xfa0 is not a page size - 1");
	return TEST_PASS;
}

/* ---- L2 RAM layout ------------------------------------------------------------------------------ */

static int test_ram_layout(void)
{
	struct set s;
	struct shadow_ram_layout l = { 0 };
	cleanup_error nl_error_t err = NULL;
	uint64_t hva = 0;
	static const char mtree_no_memory[] = "FlatView #0\n AS \"I/O\", root: io\n";
	static const char mtree_unknown[] = "FlatView #0\n AS \"memory\", root: system\n"
					    "  0000000000000000-0000000000000fff (prio 0, ram): other.ram KVM\n";
	static const char mtree_too_big[] = "FlatView #0\n AS \"memory\", root: system\n"
					    "  0000000000000000-0000000020000000 (prio 0, ram): pc.ram KVM\n";
	cleanup_free char *ramblock = NULL;
	size_t len = 0;

	CHECK(set_load(&s, "ok") == 0);
	CHECK(s.ram.count == 2);
	CHECK(s.ram.regions[0].gpa == 0 && s.ram.regions[0].size_bytes == 0xa0000 &&
	      s.ram.regions[0].hva == 0x7ff19be00000);
	CHECK(s.ram.regions[1].gpa == 0x100000 && s.ram.regions[1].size_bytes == 0xff00000 &&
	      s.ram.regions[1].hva == 0x7ff19bf00000);
	CHECK(shadow_ram_hva(&s.ram, 0x3148000, &hva) && hva == 0x7ff19be00000 + 0x3148000);
	CHECK(!shadow_ram_hva(&s.ram, 0xb0000, &hva) && !shadow_ram_hva(&s.ram, 0x10000000, &hva));
	set_release(&s);

	ramblock = fixture_text("ok", "l1-qemu-info-ramblock.txt", &len);
	CHECK(ramblock);
	CHECK(shadow_ram_layout_parse_hmp(&l, mtree_no_memory, strlen(mtree_no_memory), ramblock, len, &err) < 0);
	CHECK_CONTAINS(err->msg, "no flat view of address space \"memory\"");
	shadow_ram_layout_release(&l);
	nl_error_release(&err);
	CHECK(shadow_ram_layout_parse_hmp(&l, mtree_unknown, strlen(mtree_unknown), ramblock, len, &err) < 0);
	CHECK_CONTAINS(err->msg, "info mtree line 3: RAM region other.ram is not in `info ramblock`");
	shadow_ram_layout_release(&l);
	nl_error_release(&err);
	CHECK(shadow_ram_layout_parse_hmp(&l, mtree_too_big, strlen(mtree_too_big), ramblock, len, &err) < 0);
	CHECK_CONTAINS(err->msg, "outside RAM block pc.ram");
	shadow_ram_layout_release(&l);
	nl_error_release(&err);
	CHECK(shadow_ram_layout_parse_hmp(&l, mtree_unknown, strlen(mtree_unknown), "pc.ram 4 KiB 0x0\n", 17, &err) < 0);
	CHECK_CONTAINS(err->msg, "info ramblock line 1");
	shadow_ram_layout_release(&l);

	shadow_ram_layout_add(&l, 0x1000, 0x2000, 0x7000);
	shadow_ram_layout_add(&l, 0x0, 0x2000, 0x9000);
	nl_error_release(&err);
	CHECK(shadow_ram_layout_finish(&l, &err) < 0);
	CHECK_CONTAINS(err->msg, "regions at gpa 0x0 and 0x1000 overlap");
	shadow_ram_layout_release(&l);
	return TEST_PASS;
}

/* ---- the check on the real dumps --------------------------------------------------------------- */

static int test_check_all_agree(void)
{
	struct set s;
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_strbuf struct strbuf report = STRBUF_INIT;

	CHECK(check_set(&s, "ok", &r) == 0);
	if (!shadow_result_ok(&r))
		report_diag(&r);
	CHECK(shadow_result_ok(&r));
	CHECK(r.reference == SHADOW_VIEW_L2_TABLE && r.pages_checked == 257 && r.vfio_addresses_checked);
	CHECK(r.views_compared == 0x3f);
	for (int i = 0; i < SHADOW_VIEW_L0_TRANSLATE; i++)
		CHECK(r.view_pages[i] == 257);
	shadow_format_report(&r, &report);
	CHECK_CONTAINS(report.str, "shadow: 257 page(s) of L2 IOMMU table (debugfs) followed through 5 other "
				   "view(s): no mismatch");
	CHECK_CONTAINS(report.str, "L0 intel-iommu (x-vtd-translate)");
	CHECK_CONTAINS(report.str, "not collected");
	CHECK_CONTAINS(report.str, "result: ok");
	set_release(&s);
	return TEST_PASS;
}

static int test_check_drop100(void)
{
	struct set s;
	struct shadow_views v;
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf tap = STRBUF_INIT;
	const struct shadow_mismatch *m;

	CHECK(check_set(&s, "drop100", &r) == 0);
	CHECK(!shadow_result_ok(&r));
	CHECK(r.pages_checked == 257 && r.mismatch_total == 1 && r.mismatch_count == 1 && r.mismatch_pages == 1);
	CHECK(!r.problems);
	m = &r.mismatches[0];
	CHECK(m->iova == 0xfff9c000 && m->pages == 1 && m->view == SHADOW_VIEW_L1_VFIO && m->kind == SHADOW_MISSING);
	CHECK(m->expected_addr_known && m->expected_addr == 0x7f883fe00000 + 0x30a8000 && m->ref_addr == 0x30a8000);
	CHECK(m->also == ((1u << SHADOW_VIEW_L1_TABLE) | (1u << SHADOW_VIEW_L0_GUEST)));
	shadow_format_tap(&r, 5, "RUN/shadow-up.txt", &tap);
	test_diag("%s", tap.str);
	set_views(&s, &v);
	CHECK_CONTAINS(tap.str, "iova 0xfff9c000 (1 page): L1 vfio type1 (debugfs vfio/type1/1/mappings): missing: "
				"expected vaddr 0x7f8842ea8000 rw (L2 GPA 0x30a8000), found nothing; also at: "
				"L1 IOMMU table (debugfs), L0 intel-iommu (x-query-vtd-mappings source=guest)\n");
	CHECK_CONTAINS(tap.str, "1 mismatch(es) over 1 page(s)");
	CHECK_CONTAINS(tap.str, "note: L1 QEMU did not send the MAP notification of iova 0xfff9c000");
	CHECK_CONTAINS(tap.str, "full report: RUN/shadow-up.txt");

	/* without vfio's view the chain breaks one level lower; without L1's table too, at L0 */
	v.l1_vfio = NULL;
	v.l1_vfio_stats = NULL;
	shadow_result_release(&r);
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(r.mismatch_count == 1 && r.mismatches[0].view == SHADOW_VIEW_L1_TABLE &&
	      r.mismatches[0].also == 1u << SHADOW_VIEW_L0_GUEST);
	v.l1_table = NULL;
	shadow_result_release(&r);
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(r.mismatch_count == 1 && r.mismatches[0].view == SHADOW_VIEW_L0_GUEST && !r.mismatches[0].also);
	CHECK(!(r.views_compared & (1u << SHADOW_VIEW_L1_VFIO)));
	set_release(&s);
	return TEST_PASS;
}

static int test_check_views_absent(void)
{
	struct set s;
	struct shadow_views v = { 0 };
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf report = STRBUF_INIT;

	CHECK(set_load(&s, "drop100") == 0);
	v.l1_shadow = &s.shadow;
	CHECK(shadow_check(&v, &r, &err) < 0);
	CHECK_CONTAINS(err->msg, "neither L2's IOMMU table");
	shadow_result_release(&r);
	nl_error_release(&err);

	/* L1 QEMU's walk stands in for L2's debugfs; the shadow holds the dropped page, so they agree */
	v.l1_guest = &s.guest;
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(shadow_result_ok(&r) && r.reference == SHADOW_VIEW_L1_QEMU_GUEST && r.pages_checked == 257);
	CHECK(r.views_compared == ((1u << SHADOW_VIEW_L1_QEMU_GUEST) | (1u << SHADOW_VIEW_L1_QEMU_SHADOW)));
	shadow_format_report(&r, &report);
	CHECK_CONTAINS(report.str, "L1 vfio type1 (debugfs vfio/type1/N/mappings)");
	CHECK_CONTAINS(report.str, "not collected");
	shadow_result_release(&r);

	/* a reply of the wrong source is the caller's mistake */
	v.l1_guest = &s.shadow;
	CHECK(shadow_check(&v, &r, &err) < 0);
	CHECK_CONTAINS(err->msg, "source=guest view holds a source=shadow reply");
	set_release(&s);
	return TEST_PASS;
}

static int test_check_empty_domain(void)
{
	struct shadow_table l2 = { 0 };
	struct shadow_views v = { .l2_table = &l2 };
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf tap = STRBUF_INIT;

	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(r.pages_checked == 0 && !r.mismatch_total && !shadow_result_ok(&r));
	shadow_format_tap(&r, 5, NULL, &tap);
	CHECK_CONTAINS(tap.str, "nothing checked: the L2 domain maps no page");
	return TEST_PASS;
}

/* ---- the check on built views ------------------------------------------------------------------ */

/* push() - add an extent to @m (not finished: the caller runs finish()) */
static void push(struct shadow_map *m, uint64_t iova, uint64_t size, uint64_t addr, unsigned perm)
{
	if (m->count == m->alloc) {
		m->alloc = m->alloc ? 2 * m->alloc : 16;
		m->extents = xrealloc(m->extents, m->alloc * sizeof(*m->extents));
	}
	m->extents[m->count] = (struct shadow_extent){ .iova = iova, .size_bytes = size, .addr = addr, .perm = perm,
						       .line = (unsigned)m->count + 1 };
	m->count++;
}

/* finish() - count the pages, as the parsers do; -1 when the extents are not in IOVA order */
static int finish(struct shadow_map *m)
{
	uint64_t pages = 0;

	for (size_t i = 0; i < m->count; i++)
		pages += m->extents[i].size_bytes / 4096;
	m->pages = pages;
	for (size_t i = 1; i < m->count; i++)
		if (m->extents[i - 1].iova > m->extents[i].iova)
			return -1;
	return 0;
}

/* a chain built from scratch: L2 pages -> G, vfio at HVA_BASE + G, L1 scattered P */
struct built {
	struct shadow_table l2, l1;
	struct shadow_vtd shadow, l0;
	struct shadow_vfio vfio;
	struct shadow_ram_layout ram;
};

#define HVA_BASE 0x7f0000000000ull

static void built_release(struct built *b)
{
	shadow_table_release(&b->l2);
	shadow_table_release(&b->l1);
	shadow_vtd_release(&b->shadow);
	shadow_vtd_release(&b->l0);
	shadow_vfio_release(&b->vfio);
	shadow_ram_layout_release(&b->ram);
}

/*
 * built_init() - L2 maps a 2 MiB page at 0x200000 -> G 0x4000000 and 16 4 KiB pages at 0x1000000 ->
 * G 0x5000000.. (the first 8 rw, the others read-only); L2 RAM is [0, 0x8000000); L1 maps every page
 * with 4 KiB entries at scattered P. In the sorted maps, l2/shadow/vfio extent 1 + i is 4 KiB page i,
 * l1/l0 extent 512 + i.
 */
static void built_init(struct built *b)
{
	nl_error_t err = NULL;

	memset(b, 0, sizeof(*b));
	b->l2.found = b->l1.found = true;
	b->l0.guest = true;
	b->shadow.map_notifier = true;
	push(&b->l2.map, 0x200000, 2 * MIB, 0x4000000, SHADOW_PERM_RW);
	push(&b->shadow.map, 0x200000, 2 * MIB, 0x4000000, SHADOW_PERM_RW);
	push(&b->vfio.map, 0x200000, 2 * MIB, HVA_BASE + 0x4000000, SHADOW_PERM_RW);
	for (uint64_t i = 0; i < 512; i++) {
		push(&b->l1.map, 0x200000 + i * 4096, 4096, 0x90000000 + (511 - i) * 8192, SHADOW_PERM_RW);
		push(&b->l0.map, 0x200000 + i * 4096, 4096, 0x90000000 + (511 - i) * 8192, SHADOW_PERM_RW);
	}
	for (uint64_t i = 0; i < 16; i++) {
		unsigned perm = i < 8 ? SHADOW_PERM_RW : SHADOW_PERM_R;
		uint64_t iova = 0x1000000 + i * 4096, gpa = 0x5000000 + i * 4096;

		push(&b->l2.map, iova, 4096, gpa, perm);
		push(&b->shadow.map, iova, 4096, gpa, perm);
		push(&b->vfio.map, iova, 4096, HVA_BASE + gpa, perm);
		push(&b->l1.map, iova, 4096, 0xa0000000 + i * 4096, perm);
		push(&b->l0.map, iova, 4096, 0xa0000000 + i * 4096, perm);
	}
	shadow_ram_layout_add(&b->ram, 0, 0x8000000, HVA_BASE);
	if (shadow_ram_layout_finish(&b->ram, &err) < 0)
		abort();
}

static int built_finish(struct built *b)
{
	return finish(&b->l2.map) | finish(&b->l1.map) | finish(&b->shadow.map) | finish(&b->l0.map) |
	       finish(&b->vfio.map);
}

static void built_views(struct built *b, struct shadow_views *v)
{
	*v = (struct shadow_views){ .l2_table = &b->l2, .l1_shadow = &b->shadow, .l1_vfio = &b->vfio,
				    .l1_table = &b->l1, .l0_guest = &b->l0, .l2_ram = &b->ram };
}

/* run_built() - check @b; the result in @r */
static int run_built(struct built *b, struct shadow_result *r)
{
	struct shadow_views v;
	cleanup_error nl_error_t err = NULL;

	if (built_finish(b) < 0)
		return -1;
	built_views(b, &v);
	shadow_result_release(r);
	return shadow_check(&v, r, &err);
}

static int test_check_large_pages(void)
{
	struct built b;
	cleanup_shadow_result struct shadow_result r = { 0 };

	built_init(&b);
	CHECK(run_built(&b, &r) == 0);
	if (!shadow_result_ok(&r))
		report_diag(&r);
	CHECK(shadow_result_ok(&r) && r.pages_checked == 512 + 16);
	CHECK(r.view_pages[SHADOW_VIEW_L1_TABLE] == 528 && r.view_pages[SHADOW_VIEW_L1_VFIO] == 528);

	/* one 4 KiB entry of L0 inside the 2 MiB page points elsewhere: exactly that page */
	b.l0.map.extents[100].addr += 0x1000000;
	CHECK(run_built(&b, &r) == 0);
	CHECK(r.mismatch_count == 1 && r.mismatches[0].iova == 0x200000 + 100 * 4096 && r.mismatches[0].pages == 1);
	CHECK(r.mismatches[0].view == SHADOW_VIEW_L0_GUEST && r.mismatches[0].kind == SHADOW_ADDRESS);
	CHECK(r.mismatches[0].expected_addr == b.l1.map.extents[100].addr &&
	      r.mismatches[0].found_addr == b.l1.map.extents[100].addr + 0x1000000);
	built_release(&b);
	return TEST_PASS;
}

static int test_check_one_gib(void)
{
	struct shadow_table l2 = { .found = true }, l1 = { .found = true };
	struct shadow_vtd shadow = { .map_notifier = true };
	struct shadow_vfio vfio = { 0 };
	struct shadow_views v = { .l2_table = &l2, .l1_shadow = &shadow, .l1_vfio = &vfio, .l1_table = &l1 };
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_error nl_error_t err = NULL;
	uint64_t t0 = now_ms();

	/* 1 GiB everywhere, but vfio split in two halves and L1 in 2 MiB leaves: 262144 pages, few segments */
	push(&l2.map, GIB, GIB, 4 * GIB, SHADOW_PERM_RW);
	push(&shadow.map, GIB, GIB, 4 * GIB, SHADOW_PERM_RW);
	push(&vfio.map, GIB, GIB / 2, HVA_BASE, SHADOW_PERM_RW);
	push(&vfio.map, GIB + GIB / 2, GIB / 2, HVA_BASE + GIB / 2, SHADOW_PERM_RW);
	for (uint64_t i = 0; i < 512; i++)
		push(&l1.map, GIB + i * 2 * MIB, 2 * MIB, 8 * GIB + (511 - i) * 2 * MIB, SHADOW_PERM_RW);
	CHECK(finish(&l2.map) == 0 && finish(&shadow.map) == 0 && finish(&vfio.map) == 0 && finish(&l1.map) == 0);
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(shadow_result_ok(&r) && r.pages_checked == 262144);
	/* the vfio half that is missing is one mismatch of 131072 pages */
	vfio.map.count = 1;
	vfio.map.pages = 131072;
	shadow_result_release(&r);
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(r.mismatch_count == 1 && r.mismatches[0].iova == GIB + GIB / 2 && r.mismatches[0].pages == 131072 &&
	      r.mismatches[0].view == SHADOW_VIEW_L1_VFIO && r.mismatches[0].kind == SHADOW_MISSING);
	/* L1's table still holds the half: it agrees with L2, so it is not listed under "also" */
	CHECK(!r.mismatches[0].also);
	CHECK(now_ms() - t0 < 2000);
	shadow_table_release(&l2);
	shadow_table_release(&l1);
	shadow_vtd_release(&shadow);
	shadow_vfio_release(&vfio);
	return TEST_PASS;
}

static int test_check_kinds(void)
{
	struct built b;
	cleanup_shadow_result struct shadow_result r = { 0 };
	const struct shadow_mismatch *m;

	built_init(&b);
	CHECK(built_finish(&b) == 0);
	for (int i = 1; i <= 3; i++)				/* pages 0-2: the shadow points elsewhere */
		b.shadow.map.extents[i].addr += 0x100000;
	b.vfio.map.extents[4].addr += 0x1000;			/* page 3: vfio vaddr one page off */
	b.vfio.map.extents[5].perm = SHADOW_PERM_R;		/* page 4: vfio lacks W; L1 has it */
	b.vfio.map.extents[6].state = SHADOW_VFIO_NOT_MAPPED;	/* page 5 */
	b.l1.map.extents[512 + 9].perm = SHADOW_PERM_RW;	/* page 9: L1 grants W that vfio does not */
	b.l2.map.extents[11].addr = 0x9000000;			/* page 10: outside L2 RAM */
	b.shadow.map.extents[11].addr = 0x9000000;
	push(&b.vfio.map, 0x2000000, 0x3000, HVA_BASE, SHADOW_PERM_RW);	/* 3 pages that L2 does not map */
	push(&b.l1.map, 0x2000000, 0x3000, 0xb0000000, SHADOW_PERM_RW);
	CHECK(run_built(&b, &r) == 0);
	report_diag(&r);
	CHECK(r.mismatch_count == 7 && r.mismatch_total == 7 && r.mismatch_pages == 3 + 1 + 1 + 1 + 1 + 1 + 3);
	m = &r.mismatches[0];
	CHECK(m->iova == 0x1000000 && m->pages == 3 && m->view == SHADOW_VIEW_L1_QEMU_SHADOW &&
	      m->kind == SHADOW_ADDRESS && m->expected_addr == 0x5000000 && m->found_addr == 0x5100000 && !m->also);
	m = &r.mismatches[1];
	CHECK(m->iova == 0x1003000 && m->view == SHADOW_VIEW_L1_VFIO && m->kind == SHADOW_ADDRESS &&
	      m->expected_addr == HVA_BASE + 0x5003000 && m->found_addr == HVA_BASE + 0x5004000 && !m->also);
	m = &r.mismatches[2];
	CHECK(m->iova == 0x1004000 && m->view == SHADOW_VIEW_L1_VFIO && m->kind == SHADOW_PERM &&
	      m->found_perm == SHADOW_PERM_R && m->expected_perm == SHADOW_PERM_RW &&
	      m->also == 1u << SHADOW_VIEW_L1_TABLE);
	m = &r.mismatches[3];
	CHECK(m->iova == 0x1005000 && m->view == SHADOW_VIEW_L1_VFIO && m->kind == SHADOW_STATE &&
	      m->found_state == SHADOW_VFIO_NOT_MAPPED);
	m = &r.mismatches[4];
	CHECK(m->iova == 0x1009000 && m->view == SHADOW_VIEW_L1_TABLE && m->kind == SHADOW_PERM &&
	      m->expected_perm == SHADOW_PERM_R && m->found_perm == SHADOW_PERM_RW &&
	      m->also == 1u << SHADOW_VIEW_L0_GUEST);
	m = &r.mismatches[5];
	CHECK(m->iova == 0x100a000 && m->view == SHADOW_VIEW_L1_VFIO && m->kind == SHADOW_NOT_RAM &&
	      m->ref_addr == 0x9000000);
	m = &r.mismatches[6];
	CHECK(m->iova == 0x2000000 && m->pages == 3 && m->view == SHADOW_VIEW_L1_VFIO && m->kind == SHADOW_EXTRA &&
	      !m->expected_present && m->found_addr == HVA_BASE && m->also == 1u << SHADOW_VIEW_L1_TABLE);
	built_release(&b);
	return TEST_PASS;
}

static int test_check_probes(void)
{
	struct built b;
	cleanup_shadow_result struct shadow_result r = { 0 };
	struct shadow_translation probes[] = {
		/* agree: a read of page 0 with an offset, a write in the 2 MiB page */
		{ .iova = 0x1000010, .success = true, .translated_addr = 0xa0000010, .addr_mask = 0xfff,
		  .perm = SHADOW_PERM_RW },
		{ .iova = 0x200000 + 5 * 4096, .write = true, .success = true,
		  .translated_addr = 0x90000000 + 506 * 8192, .addr_mask = 0xfff, .perm = SHADOW_PERM_RW },
		/* a write to read-only page 8 faults, as it should */
		{ .iova = 0x1008000, .write = true, .fault_reason = 5 },
		/* mismatches: a fault on a mapped page, a translation of an unmapped one, a wrong address */
		{ .iova = 0x1001000, .fault_reason = 6 },
		{ .iova = 0x3000000, .success = true, .translated_addr = 0xc0000000, .perm = SHADOW_PERM_RW },
		{ .iova = 0x1002000, .success = true, .translated_addr = 0xa0003000, .perm = SHADOW_PERM_RW },
	};
	struct shadow_views v;
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf tap = STRBUF_INIT;

	built_init(&b);
	CHECK(built_finish(&b) == 0);
	built_views(&b, &v);
	v.l0_probes = probes;
	v.l0_probe_count = ARRAY_SIZE(probes);
	CHECK(shadow_check(&v, &r, &err) == 0);
	report_diag(&r);
	CHECK(r.probes_checked == 6 && r.mismatch_count == 3);
	CHECK(r.views_compared & (1u << SHADOW_VIEW_L0_TRANSLATE));
	CHECK(r.mismatches[0].iova == 0x1001000 && r.mismatches[0].kind == SHADOW_FAULT &&
	      r.mismatches[0].view == SHADOW_VIEW_L0_TRANSLATE && r.mismatches[0].fault_reason == 6);
	CHECK(r.mismatches[1].iova == 0x1002000 && r.mismatches[1].kind == SHADOW_ADDRESS &&
	      r.mismatches[1].expected_addr == 0xa0002000);
	CHECK(r.mismatches[2].iova == 0x3000000 && r.mismatches[2].kind == SHADOW_EXTRA);
	shadow_format_tap(&r, 1, NULL, &tap);
	CHECK_CONTAINS(tap.str, "iova 0x1001000 (1 page): L0 intel-iommu (x-vtd-translate): translation faults: "
				"expected L1 GPA 0xa0001000 rw (L2 GPA 0x5001000), found fault reason 6\n");
	CHECK_CONTAINS(tap.str, "... and 2 more mismatch(es)");
	built_release(&b);
	return TEST_PASS;
}

static int test_check_unmapped(void)
{
	struct built b;
	cleanup_shadow_result struct shadow_result r = { 0 };
	struct shadow_views v;
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf tap = STRBUF_INIT;
	struct shadow_translation probe = { .iova = 0x1004000, .success = true, .translated_addr = 0xa0004000,
					    .perm = SHADOW_PERM_RW };
	/* L2 unmapped pages 2-5 and the whole 2 MiB page; the views below it kept page 4 and 1 MiB of it */
	const struct shadow_range unmapped[] = { { 0x1004000, 0x2000 }, { 0x200000, 2 * MIB }, { 0x1002000, 0x3000 } };

	built_init(&b);
	b.l2.map.count = 0;
	b.shadow.map.count = 0;
	b.vfio.map.count = 0;
	b.l1.map.count = 0;
	b.l0.map.count = 0;
	push(&b.vfio.map, 0x1004000, 4096, HVA_BASE + 0x5004000, SHADOW_PERM_RW);
	push(&b.l0.map, 0x300000, MIB, 0x90000000, SHADOW_PERM_RW);
	push(&b.l0.map, 0x1000000, 4096, 0xa0000000, SHADOW_PERM_RW);	/* page 0 was not unmapped */
	CHECK(built_finish(&b) == 0);
	built_views(&b, &v);
	v.l0_probes = &probe;
	v.l0_probe_count = 1;
	CHECK(shadow_check_unmapped(&v, unmapped, ARRAY_SIZE(unmapped), &r, &err) == 0);
	report_diag(&r);
	CHECK(r.unmap_check && r.pages_checked == 4 + 512 && !shadow_result_ok(&r));
	CHECK(r.mismatch_count == 3);
	CHECK(r.mismatches[0].iova == 0x300000 && r.mismatches[0].pages == 256 &&
	      r.mismatches[0].view == SHADOW_VIEW_L0_GUEST && r.mismatches[0].kind == SHADOW_STALE);
	CHECK(r.mismatches[1].iova == 0x1004000 && r.mismatches[1].view == SHADOW_VIEW_L1_VFIO &&
	      r.mismatches[1].found_addr == HVA_BASE + 0x5004000);
	CHECK(r.mismatches[2].iova == 0x1004000 && r.mismatches[2].view == SHADOW_VIEW_L0_TRANSLATE);
	shadow_format_tap(&r, 5, NULL, &tap);
	CHECK_CONTAINS(tap.str, "after unmap: 516 unmapped page(s) looked up in 6 view(s): 3 mismatch(es)");
	CHECK_CONTAINS(tap.str, "iova 0x1004000 (1 page): L1 vfio type1 (debugfs vfio/type1/N/mappings): still mapped "
				"after unmap: expected nothing (unmapped), found vaddr 0x7f0005004000 rw");

	/* nothing unmapped: nothing checked; a range off the page grid is refused */
	shadow_result_release(&r);
	CHECK(shadow_check_unmapped(&v, NULL, 0, &r, &err) == 0);
	CHECK(r.pages_checked == 0 && !shadow_result_ok(&r));
	shadow_result_release(&r);
	CHECK(shadow_check_unmapped(&v, &(struct shadow_range){ 0x1000800, 4096 }, 1, &r, &err) < 0);
	CHECK_CONTAINS(err->msg, "unmapped range 0 (iova 0x1000800 size 0x1000) is not a whole number");
	built_release(&b);
	return TEST_PASS;
}

/* shadow_map_unmapped(): before minus after, extent by extent, merged */
static int test_unmapped_ranges(void)
{
	struct shadow_map before = { 0 }, now = { 0 };
	cleanup_free struct shadow_range *ranges = NULL;
	cleanup_error nl_error_t err = NULL;
	size_t n = 0;
	uint64_t pages = 0;

	push(&before, 0x1000, 0x4000, 0x10000, SHADOW_PERM_RW);
	push(&before, 0x5000, 0x1000, 0x90000, SHADOW_PERM_RW);	/* adjacent: one range with the one above */
	push(&before, 0x100000, 2 * MIB, 0x200000, SHADOW_PERM_RW);
	push(&before, GIB, GIB, 0, SHADOW_PERM_RW);
	push(&now, 0x2000, 0x1000, 0x11000, SHADOW_PERM_RW);
	push(&now, 0x180000, 0x10000, 0x280000, SHADOW_PERM_RW);
	push(&now, 0x280000, 0x200000, 0, SHADOW_PERM_RW);		/* reaches past the 2 MiB extent */
	push(&now, GIB, GIB, 0, SHADOW_PERM_RW);
	push(&now, 8 * GIB, 0x1000, 0, SHADOW_PERM_RW);		/* mapped after: not unmapped */
	CHECK(finish(&before) == 0 && finish(&now) == 0);
	CHECK(shadow_map_unmapped(&before, &now, &ranges, &n, &pages, &err) == 0);
	CHECK(n == 4);
	CHECK(ranges[0].iova == 0x1000 && ranges[0].size_bytes == 0x1000);
	CHECK(ranges[1].iova == 0x3000 && ranges[1].size_bytes == 0x3000);
	CHECK(ranges[2].iova == 0x100000 && ranges[2].size_bytes == 0x80000);
	CHECK(ranges[3].iova == 0x190000 && ranges[3].size_bytes == 0xf0000);
	CHECK(pages == 1 + 3 + 0x80 + 0xf0);
	free(ranges);
	ranges = NULL;
	CHECK(shadow_map_unmapped(&before, NULL, &ranges, &n, &pages, &err) == 0);	/* nothing left */
	CHECK(n == 3 && ranges[0].iova == 0x1000 && ranges[0].size_bytes == 0x5000 && ranges[2].iova == GIB);
	CHECK(pages == before.pages);
	free(ranges);
	ranges = NULL;
	CHECK(shadow_map_unmapped(&before, &before, &ranges, &n, &pages, &err) == 0);	/* nothing unmapped */
	CHECK(n == 0 && pages == 0);
	shadow_map_release(&before);
	shadow_map_release(&now);
	return TEST_PASS;
}

/* max_rss_kib() - this process's peak resident set */
static long max_rss_kib(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/*
 * a guest that declares 2^40 pages (a 4 PiB extent) before the unmap: the answer comes from the extents,
 * without an allocation or a loop per page; too many ranges are a clear error
 */
static int test_unmapped_huge(void)
{
	struct shadow_map before = { 0 }, now = { 0 }, holes = { 0 };
	cleanup_free struct shadow_range *ranges = NULL;
	cleanup_error nl_error_t err = NULL;
	size_t n = 0;
	uint64_t pages = 0, span = (1ull << 40) * 4096;
	long rss0 = max_rss_kib();

	push(&before, 0, span, 0, SHADOW_PERM_RW);
	push(&now, span / 2, 0x1000, 0, SHADOW_PERM_RW);
	CHECK(finish(&before) == 0 && finish(&now) == 0 && before.pages == 1ull << 40);
	CHECK(shadow_map_unmapped(&before, &now, &ranges, &n, &pages, &err) == 0);
	CHECK(n == 2 && pages == (1ull << 40) - 1);
	CHECK(ranges[0].iova == 0 && ranges[0].size_bytes == span / 2);
	CHECK(ranges[1].iova == span / 2 + 0x1000 && ranges[1].size_bytes == span / 2 - 0x1000);
	test_diag("peak RSS %ld KiB before, %ld KiB after", rss0, max_rss_kib());
	CHECK(max_rss_kib() - rss0 < 64 * 1024);
	free(ranges);
	ranges = NULL;
	/* every other page still mapped: more ranges than the check follows */
	for (uint64_t i = 0; i <= SHADOW_UNMAPPED_RANGES_MAX; i++)
		push(&holes, 2 * i * 0x1000, 0x1000, 0, SHADOW_PERM_RW);
	CHECK(finish(&holes) == 0);
	CHECK(shadow_map_unmapped(&before, &holes, &ranges, &n, &pages, &err) < 0);
	CHECK(!ranges && n == 0);
	CHECK_CONTAINS(err->msg, "more than 65536 unmapped IOVA ranges");
	shadow_map_release(&before);
	shadow_map_release(&now);
	shadow_map_release(&holes);
	return TEST_PASS;
}

static int test_counts_baseline(void)
{
	struct set up;
	struct shadow_views v, empty = { 0 };
	struct shadow_counts base, now;
	struct shadow_vfio_stats down_stats;
	struct shadow_vtd down_shadow = { 0 };
	struct shadow_vfio down_vfio = { 0 };
	cleanup_strbuf struct strbuf diag = STRBUF_INIT;
	unsigned compared = 0;

	CHECK(set_load(&up, "ok") == 0);
	set_views(&up, &v);
	/* "down" of the run: every view empty, the stats back to mapped == unmapped */
	down_stats = up.stats;
	down_stats.dma_entries = 0;
	down_stats.unmapped_bytes = down_stats.mapped_bytes;
	shadow_counts_take(&base, &(struct shadow_views){ .l1_shadow = &down_shadow, .l1_vfio = &down_vfio,
							  .l1_vfio_stats = &down_stats });
	shadow_counts_take(&now, &v);
	CHECK(shadow_counts_compare(&base, &now, &compared, &diag) == 6 && compared == 6);
	CHECK_CONTAINS(diag.str, "L1 QEMU shadow pages: 257 now, 0 at baseline\n");
	CHECK_CONTAINS(diag.str, "L1 vfio dma_entries (stats): 257 now, 0 at baseline\n");
	CHECK_CONTAINS(diag.str, "L1 vfio bytes held (stats mapped_bytes - unmapped_bytes): 1052672 now");
	strbuf_release(&diag);
	shadow_counts_take(&now, &(struct shadow_views){ .l1_shadow = &down_shadow, .l1_vfio = &down_vfio,
							 .l1_vfio_stats = &down_stats, .l0_guest = &up.l0 });
	CHECK(shadow_counts_compare(&base, &now, &compared, &diag) == 0 && compared == 6 && !diag.len);
	shadow_counts_take(&now, &empty);
	CHECK(shadow_counts_compare(&base, &now, &compared, &diag) == 0 && compared == 0);
	CHECK_STR(shadow_count_name(SHADOW_COUNT_L0_PAGES), "L0 walk of L1's table pages");
	set_release(&up);
	return TEST_PASS;
}

static int test_vfio_stats_problems(void)
{
	struct set s;
	struct shadow_views v;
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf report = STRBUF_INIT;

	CHECK(set_load(&s, "ok") == 0);
	set_views(&s, &v);
	s.stats.dma_entries = 256;
	s.stats.unmapped_bytes -= 4096;
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(!r.mismatch_total && !shadow_result_ok(&r) && strv_len(r.problems) == 2);
	CHECK_CONTAINS(r.problems[0], "vfio/type1/1: stats say dma_entries 256, mappings lists 257");
	CHECK_CONTAINS(r.problems[1], "mappings hold 1052672 bytes");
	shadow_format_report(&r, &report);
	CHECK_CONTAINS(report.str, "problems:\n  vfio/type1/1: stats say dma_entries 256");
	CHECK_CONTAINS(report.str, "result: FAIL");
	set_release(&s);
	return TEST_PASS;
}

static int test_mismatch_cap(void)
{
	struct shadow_table l2 = { .found = true };
	struct shadow_vfio vfio = { 0 };
	struct shadow_views v = { .l2_table = &l2, .l1_vfio = &vfio };
	cleanup_shadow_result struct shadow_result r = { 0 };
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf tap = STRBUF_INIT;
	const uint64_t pages = 2 * SHADOW_MISMATCHES_MAX + 100;

	/* vfio holds every other page: no two missing pages are consecutive, nothing merges */
	for (uint64_t i = 0; i < pages; i++) {
		push(&l2.map, i * 4096, 4096, i * 4096, SHADOW_PERM_RW);
		if (i % 2)
			push(&vfio.map, i * 4096, 4096, HVA_BASE + i * 4096, SHADOW_PERM_RW);
	}
	CHECK(finish(&l2.map) == 0 && finish(&vfio.map) == 0);
	CHECK(shadow_check(&v, &r, &err) == 0);
	CHECK(r.mismatch_count == SHADOW_MISMATCHES_MAX && r.mismatch_total == pages / 2 &&
	      r.mismatch_pages == pages / 2);
	shadow_format_tap(&r, 3, NULL, &tap);
	CHECK_CONTAINS(tap.str, "... and 4143 more mismatch(es)");
	shadow_table_release(&l2);
	shadow_vfio_release(&vfio);
	return TEST_PASS;
}

/* parse_any() - every parser on @text: none may crash, each must say yes or no with a message */
static int parse_any(const char *text, size_t len)
{
	struct shadow_table t = { 0 };
	struct shadow_vfio v = { 0 };
	struct shadow_vfio_stats st;
	struct shadow_vtd q = { 0 };
	struct shadow_translation tr;
	struct shadow_ram_layout l = { 0 };
	int rcs[6];
	nl_error_t errs[6] = { NULL };

	rcs[0] = shadow_table_parse(&t, text, len, &errs[0]);
	rcs[1] = shadow_vfio_parse(&v, text, len, &errs[1]);
	rcs[2] = shadow_vfio_stats_parse(&st, text, len, &errs[2]);
	rcs[3] = shadow_vtd_parse_text(&q, text, len, &errs[3]);
	rcs[4] = shadow_translation_parse_text(&tr, text, len, &errs[4]);
	rcs[5] = shadow_ram_layout_parse_hmp(&l, text, len, text, len, &errs[5]);
	shadow_table_release(&t);
	shadow_vfio_release(&v);
	shadow_vtd_release(&q);
	shadow_ram_layout_release(&l);
	for (int i = 0; i < 6; i++) {
		bool bad = rcs[i] < 0 ? !errs[i] || !errs[i]->msg : errs[i] != NULL;

		nl_error_release(&errs[i]);
		if (bad)
			return -1;
	}
	return 0;
}

static int test_parsers_garbage(void)
{
	static const char *const files[] = {
		"l2-table.txt", "l1-shadow.json", "l1-vfio-mappings.txt", "l1-vfio-stats.txt", "l1-qemu-info-mtree.txt",
	};
	uint32_t seed = 12345;

	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		size_t len = 0;
		cleanup_free char *text = fixture_text("drop100", files[f], &len);

		CHECK(text);
		/* every cut, and the text with bytes flipped */
		for (size_t cut = 0; cut <= len; cut += 1 + cut / 16)
			CHECK(parse_any(text, cut) == 0);
		for (int round = 0; round < 200; round++) {
			cleanup_free char *copy = xstrndup(text, len);

			for (int k = 0; k < 4; k++) {
				seed = seed * 1103515245 + 12345;
				copy[(seed >> 8) % len] = (char)(seed >> 20);
			}
			CHECK(parse_any(copy, len) == 0);
		}
	}
	CHECK(parse_any(NULL, 0) == 0);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_table_real_format),
	TEST_CASE(test_table_large_pages),
	TEST_CASE(test_table_empty),
	TEST_CASE(test_table_errors),
	TEST_CASE(test_vfio_real_format),
	TEST_CASE(test_vfio_formats_and_errors),
	TEST_CASE(test_vfio_stats_errors),
	TEST_CASE(test_vtd_real_replies),
	TEST_CASE(test_vtd_json_forms),
	TEST_CASE(test_vtd_text_errors),
	TEST_CASE(test_vtd_limit_errors),
	TEST_CASE(test_translation_replies),
	TEST_CASE(test_ram_layout),
	TEST_CASE(test_check_all_agree),
	TEST_CASE(test_check_drop100),
	TEST_CASE(test_check_views_absent),
	TEST_CASE(test_check_empty_domain),
	TEST_CASE(test_check_large_pages),
	TEST_CASE(test_check_one_gib),
	TEST_CASE(test_check_kinds),
	TEST_CASE(test_check_probes),
	TEST_CASE(test_check_unmapped),
	TEST_CASE(test_unmapped_ranges),
	TEST_CASE(test_unmapped_huge),
	TEST_CASE(test_counts_baseline),
	TEST_CASE(test_vfio_stats_problems),
	TEST_CASE(test_mismatch_cap),
	TEST_CASE(test_parsers_garbage),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
