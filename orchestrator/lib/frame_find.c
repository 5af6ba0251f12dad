/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * frame_find.c - find the peer's last frames in a dump of L2's mapped pages (see frame_find.h)
 *
 * The frame_gen header's identity (frame_gen_id(): magic "NLFG", seed and index at frame offset
 * FRAME_GEN_ID_OFFSET) is what is searched for; the dump's length is checked before anything is read, and every comparison stays
 * inside the page the header is in.
 */
#include <string.h>

#include "frame_find.h"

/* find_in_page() - the first offset of @pat in @dump (@len bytes) at which the frame starts in one page */
static size_t find_header(const uint8_t *dump, size_t len, const uint8_t pat[FRAME_GEN_ID_LEN])
{
	size_t from = FRAME_GEN_ID_OFFSET;

	while (from + FRAME_GEN_ID_LEN <= len) {
		const uint8_t *p = memmem(dump + from, len - from, pat, FRAME_GEN_ID_LEN);
		size_t off;

		if (!p)
			break;
		off = (size_t)(p - dump);
		if ((off - FRAME_GEN_ID_OFFSET) / FRAME_FIND_PAGE_BYTES ==
		    (off + FRAME_GEN_ID_LEN - 1) / FRAME_FIND_PAGE_BYTES)
			return off - FRAME_GEN_ID_OFFSET;
		from = off + 1;
	}
	return SIZE_MAX;
}

bool frame_find_last(const struct frame_spec *spec, uint32_t frames, const uint8_t *dump, size_t dump_len,
		     size_t pages, struct frame_find *hit, struct strbuf *why)
{
	uint8_t expect[FRAME_GEN_MAX_LEN];
	size_t found_at = SIZE_MAX, elen, page_left;
	uint32_t index = 0;

	memset(hit, 0, sizeof(*hit));
	if (pages > FRAME_FIND_PAGES_MAX) {
		strbuf_printf(why, "frame bytes: L2's domain maps %zu pages, more than nestlab searches (%u); ", pages,
			      FRAME_FIND_PAGES_MAX);
		return false;
	}
	if (dump_len != pages * FRAME_FIND_PAGE_BYTES) {
		strbuf_printf(why, "frame bytes: L1 returned %zu bytes of L2's pages, not the %zu of the %zu pages asked "
				   "for (its pmemsave was cut short or the agent misbehaved); ", dump_len,
			      pages * FRAME_FIND_PAGE_BYTES, pages);
		return false;
	}
	for (uint32_t back = 0; back < FRAME_FIND_BACK && back < frames && found_at == SIZE_MAX; back++) {
		uint8_t pat[FRAME_GEN_ID_LEN];

		index = frames - 1 - back;
		frame_gen_id(spec->seed, index, pat);
		found_at = find_header(dump, dump_len, pat);
	}
	if (found_at == SIZE_MAX) {
		strbuf_printf(why, "frame bytes: none of the last %u frames the peer sent (seed %llu) is in the %zu pages "
				   "of L2's domain (checks/ has the views); ", FRAME_FIND_BACK,
			      (unsigned long long)spec->seed, pages);
		return false;
	}
	elen = frame_gen_build(spec, index, expect, sizeof(expect));
	page_left = FRAME_FIND_PAGE_BYTES - found_at % FRAME_FIND_PAGE_BYTES;
	if (elen > page_left)
		elen = page_left;	/* compare what is in this page (the dump holds all of it) */
	hit->index = index;
	hit->offset = found_at;
	hit->len = elen;
	if (memcmp(dump + found_at, expect, elen)) {
		size_t d = 0;

		while (d < elen && dump[found_at + d] == expect[d])
			d++;
		strbuf_printf(why, "frame bytes: frame %u differs from what the peer sent at byte %zu; ", index, d);
		return false;
	}
	return true;
}
