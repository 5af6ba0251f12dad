/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * frame_find.h - check c's frame search: find the traffic peer's last frames in a dump of the pages of
 * L2's DMA domain and compare the bytes with what the peer built
 *
 * The dump comes from L1 (its QEMU's pmemsave of each extent, concatenated and read back through the
 * agent), so it is untrusted input: its length must be exactly the pages asked for, and nothing is read
 * outside it. The run engine (run_checks.c, frame_landed()) does the I/O; this part is pure so that a
 * test can feed it short, long and odd dumps.
 *
 *	struct frame_find hit;
 *
 *	if (!frame_find_last(&spec, frames, dump, dump_len, pages, &hit, &why))
 *		return 0;				// @why says what is wrong
 *	// hit.index, hit.offset (in the dump), hit.len bytes compared (to the end of that page)
 */
#ifndef NESTLAB_FRAME_FIND_H
#define NESTLAB_FRAME_FIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame_gen.h"
#include "util.h"

#define FRAME_FIND_PAGE_BYTES 4096u
#define FRAME_FIND_PAGES_MAX 16384u	/* pages nestlab searches (64 MiB of dump) */
#define FRAME_FIND_BACK 16u		/* the last frames looked for, newest first */

struct frame_find {
	uint32_t index;			/* the frame found */
	size_t offset;			/* where it starts in the dump */
	size_t len;			/* bytes compared: the frame, cut at the end of its page */
};

/**
 * frame_find_last() - look for the newest of the peer's last FRAME_FIND_BACK frames in @dump
 * @spec:	the peer's L0 -> L2 frames
 * @frames:	how many the peer sent (indices 0 .. @frames - 1)
 * @dump:	the pages, one after the other (may be NULL when @dump_len is 0)
 * @dump_len:	its length; anything but @pages * FRAME_FIND_PAGE_BYTES is a failure
 * @pages:	the pages asked for, at most FRAME_FIND_PAGES_MAX
 * @hit:	where the frame was found (zeroed when it was not)
 * @why:	on failure, one "frame bytes: ...; " sentence is appended
 *
 * A frame counts as found when its frame_gen header (magic, seed, index) lies within one page; its bytes
 * are then compared up to the end of that page.
 * Return: true when a frame was found and its bytes equal what the peer built.
 */
bool frame_find_last(const struct frame_spec *spec, uint32_t frames, const uint8_t *dump, size_t dump_len,
		     size_t pages, struct frame_find *hit, struct strbuf *why);

#endif /* NESTLAB_FRAME_FIND_H */
