/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_shadow.c - libFuzzer target for the parsers of the shadow check and the check itself (make fuzz)
 *
 * The input is cut at lines "=====" into up to five texts: L2's domain_translation_struct, L1 QEMU's
 * x-query-vtd-mappings reply, vfio/type1/<id>/mappings, L1's domain_translation_struct and L0's
 * x-query-vtd-mappings reply. Each text also goes through every other parser (tables, vfio mappings and
 * stats, both QMP replies, the HMP RAM layout). A parser must either succeed or fail with a message
 * (never both, never neither); whatever parsed is then compared with shadow_check() and
 * shadow_check_unmapped(), and formatted, which must not crash either.
 *
 *	make build/fuzz/fuzz_shadow
 *	build/fuzz/fuzz_shadow build/fuzz/corpus-shadow orchestrator/fuzz/corpus/shadow
 */
#include <stdlib.h>
#include <string.h>

#include "shadow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS 5

/* contract() - a parser's return code and error agree */
static void contract(int rc, nl_error_t *err)
{
	if (rc < 0 ? !*err || !(*err)->msg || !*(*err)->msg : *err != NULL)
		abort();
	nl_error_release(err);
}

/* every_parser() - @text through each parser that is not the one its part is for */
static void every_parser(const char *text, size_t len)
{
	struct shadow_table t = { 0 };
	struct shadow_vfio v = { 0 };
	struct shadow_vfio_stats st;
	struct shadow_vtd q = { 0 };
	struct shadow_translation tr;
	struct shadow_ram_layout l = { 0 };
	nl_error_t err = NULL;

	contract(shadow_table_parse(&t, text, len, &err), &err);
	contract(shadow_vfio_parse(&v, text, len, &err), &err);
	contract(shadow_vfio_stats_parse(&st, text, len, &err), &err);
	contract(shadow_vtd_parse_text(&q, text, len, &err), &err);
	contract(shadow_translation_parse_text(&tr, text, len, &err), &err);
	contract(shadow_ram_layout_parse_hmp(&l, text, len, text, len, &err), &err);
	shadow_table_release(&t);
	shadow_vfio_release(&v);
	shadow_vtd_release(&q);
	shadow_ram_layout_release(&l);
}

/* compare() - the check over whatever parsed, then its reports */
static void compare(const struct shadow_views *views)
{
	struct shadow_result r = { 0 };
	struct strbuf sb = STRBUF_INIT;
	struct shadow_range unmapped = { 0x1000, 0x10000 };
	nl_error_t err = NULL;
	int rc = shadow_check(views, &r, &err);

	contract(rc, &err);
	if (rc == 0) {
		if (r.mismatch_count > SHADOW_MISMATCHES_MAX || r.mismatch_count > r.mismatch_total)
			abort();
		shadow_format_tap(&r, 5, "report.txt", &sb);
		shadow_format_report(&r, &sb);
	}
	shadow_result_release(&r);
	contract(shadow_check_unmapped(views, &unmapped, 1, &r, &err), &err);
	shadow_format_report(&r, &sb);
	shadow_result_release(&r);
	strbuf_release(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = text + size, *part[PARTS] = { NULL };
	size_t len[PARTS] = { 0 }, n = 0;
	struct shadow_table l2 = { 0 }, l1 = { 0 };
	struct shadow_vtd shadow = { 0 }, l0 = { 0 };
	struct shadow_vfio vfio = { 0 };
	struct shadow_views views = { 0 };
	nl_error_t err = NULL;

	for (const char *p = text; n < PARTS; n++) {
		const char *sep = memmem(p, (size_t)(end - p), "\n=====\n", 7);

		part[n] = p;
		len[n] = sep ? (size_t)(sep - p) : (size_t)(end - p);
		if (!sep) {
			n++;
			break;
		}
		p = sep + 7;
	}
	for (size_t i = 0; i < n; i++)
		every_parser(part[i], len[i]);

	if (n > 0 && shadow_table_parse(&l2, part[0], len[0], &err) == 0)
		views.l2_table = &l2;
	nl_error_release(&err);
	if (n > 1 && shadow_vtd_parse_text(&shadow, part[1], len[1], &err) == 0)
		(shadow.guest ? (views.l1_guest = &shadow) : (views.l1_shadow = &shadow));
	nl_error_release(&err);
	if (n > 2 && shadow_vfio_parse(&vfio, part[2], len[2], &err) == 0)
		views.l1_vfio = &vfio;
	nl_error_release(&err);
	if (n > 3 && shadow_table_parse(&l1, part[3], len[3], &err) == 0)
		views.l1_table = &l1;
	nl_error_release(&err);
	if (n > 4 && shadow_vtd_parse_text(&l0, part[4], len[4], &err) == 0 && l0.guest)
		views.l0_guest = &l0;
	nl_error_release(&err);
	compare(&views);

	shadow_table_release(&l2);
	shadow_table_release(&l1);
	shadow_vtd_release(&shadow);
	shadow_vtd_release(&l0);
	shadow_vfio_release(&vfio);
	return 0;
}
