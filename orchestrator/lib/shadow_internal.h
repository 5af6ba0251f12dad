/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadow_internal.h - what the shadow_*.c files share and nothing else sees: a bounded line reader for
 * untrusted text, strict number tokens, and the building of a struct shadow_map
 */
#ifndef NESTLAB_SHADOW_INTERNAL_H
#define NESTLAB_SHADOW_INTERNAL_H

#include "shadow.h"

/* cursor over a text, one line at a time; lines end at '\n' (a '\r' before it is dropped) */
struct shadow_lines {
	const char *p, *end;
	unsigned lineno;		/* of the line last returned, from 1 */
};

/* shadow_lines_init() - a reader over @text; -1 when @len is over SHADOW_TEXT_MAX_BYTES */
int shadow_lines_init(struct shadow_lines *it, const char *text, size_t len, nl_error_t *err);
/* shadow_lines_next() - 1 and the next line (not NUL-terminated), 0 at the end, -1 on a NUL byte or a long line */
int shadow_lines_next(struct shadow_lines *it, const char **line, size_t *len, nl_error_t *err);

/* shadow_snippet() - up to 60 bytes of @s for a message, non-printable bytes as '?' (free() it) */
char *shadow_snippet(const char *s, size_t len);

/* a token of a line: bytes between blanks (space or tab) */
struct shadow_token {
	const char *s;
	size_t len;
};

/* shadow_tokens() - split @line at blanks into at most @max tokens; returns how many there were (may be > @max) */
size_t shadow_tokens(const char *line, size_t len, struct shadow_token *tok, size_t max);
/* shadow_token_is() - the token is exactly @word */
bool shadow_token_is(const struct shadow_token *t, const char *word);
/* shadow_parse_hex() - "0x" and 1..16 hex digits, nothing else */
bool shadow_parse_hex(const struct shadow_token *t, uint64_t *v);
/* shadow_parse_dec() - 1..20 decimal digits, nothing else, no overflow */
bool shadow_parse_dec(const struct shadow_token *t, uint64_t *v);

/* shadow_map_push() - append an extent; -1 past SHADOW_EXTENTS_MAX ("@what: more than N entries") */
int shadow_map_push(struct shadow_map *m, const struct shadow_extent *e, const char *what, nl_error_t *err);
/*
 * shadow_map_finish() - sort by IOVA, refuse overlaps and ranges that are empty, unaligned or wrap
 * (@unit names an extent's origin in messages: "line" or "mappings entry"), count the pages
 */
int shadow_map_finish(struct shadow_map *m, const char *unit, nl_error_t *err);

/* shadow_map_index_above() - index of the first extent that ends above @iova (count: none) */
size_t shadow_map_index_above(const struct shadow_map *map, uint64_t iova);
/* shadow_ram_index_above() - index of the first region that ends above @gpa (count: none) */
size_t shadow_ram_index_above(const struct shadow_ram_layout *l, uint64_t gpa);

/* shadow_perm_name() - "rw", "r-", "-w", "--" */
const char *shadow_perm_name(unsigned perm);

#endif /* NESTLAB_SHADOW_INTERNAL_H */
