/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * escape.h - guest text made safe to print: the one escaper used wherever bytes a guest chose reach a
 * terminal, a log line, a TAP line or an error message
 *
 * A guest is untrusted. What it prints or answers (console output, command output, agent messages, file
 * contents) may hold terminal control sequences (ESC [ ... that move the cursor, retitle the window or
 * hide text), a C1 control (U+0080..U+009F: 0x9b is CSI on some terminals), bytes that are not UTF-8, or
 * newlines that would start a forged TAP line. escape_append() writes such bytes as "\xNN" and keeps the
 * rest; the flags say what "the rest" is for each sink:
 *
 *	sink					flags
 *	agent log lines, quoted guest text	ESCAPE_BACKSLASH (everything but printable ASCII escaped: one line)
 *	stderr, run.log, error messages		ESCAPE_MULTILINE (newlines, tabs and valid UTF-8 kept)
 *	TAP lines				ESCAPE_UTF8 (one line: newlines escaped too)
 *
 *	cleanup_free char *shown = escape_bytes(out, out_len, 512, ESCAPE_BACKSLASH);
 *	// "abc\x1b[31mred\n..." then "... (70000 bytes)" when cut at 512 input bytes
 */
#ifndef NESTLAB_ESCAPE_H
#define NESTLAB_ESCAPE_H

#include <stddef.h>

#include "util.h"

#define ESCAPE_NEWLINE 0x1u		/* keep '\n' (else "\n") */
#define ESCAPE_TAB 0x2u			/* keep '\t' (else "\t") */
#define ESCAPE_UTF8 0x4u		/* keep valid UTF-8 sequences other than C1 controls (else "\xNN") */
#define ESCAPE_BACKSLASH 0x8u		/* write '\' as "\\" so that the result reads back unambiguously */
#define ESCAPE_MULTILINE (ESCAPE_NEWLINE | ESCAPE_TAB | ESCAPE_UTF8)

/* what a sink (stderr, run.log, a TAP line or YAML value) shows of one message at most */
#define ESCAPE_SINK_MAX_BYTES 65536

/* escape_append() - append @len bytes of @data to @sb, escaped as @flags say (ESCAPE_*) */
void escape_append(struct strbuf *sb, const void *data, size_t len, unsigned flags);
/*
 * escape_bytes() - @data escaped as a new string (free it); at most @max input bytes are shown, then
 * "... (N bytes)" with the full length
 */
char *escape_bytes(const void *data, size_t len, size_t max, unsigned flags);
/* escape_str() - escape_bytes() of a NUL-terminated string (NULL is "") */
char *escape_str(const char *s, size_t max, unsigned flags);
/*
 * escape_utf8_len() - length of the valid UTF-8 sequence (RFC 3629) at @p, @left bytes available;
 * 0 when there is none there, and for C1 controls (U+0080..U+009F), which ESCAPE_UTF8 escapes too
 */
size_t escape_utf8_len(const void *p, size_t left);

#endif /* NESTLAB_ESCAPE_H */
