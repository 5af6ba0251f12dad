/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * escape.c - guest text made safe to print (see escape.h)
 *
 * UTF-8 is checked as RFC 3629 defines it (no overlong forms, no surrogates, nothing above U+10FFFF);
 * a byte that does not start a valid sequence is escaped alone and decoding resumes at the next byte.
 */
#include <string.h>

#include "escape.h"

size_t escape_utf8_len(const void *data, size_t left)
{
	const unsigned char *p = data;
	unsigned char c = left ? p[0] : 0, lo = 0x80, hi = 0xbf;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;	/* overlong */
	else if (c == 0xed)
		hi = 0x9f;	/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;	/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;	/* above U+10FFFF */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	if (c == 0xc2 && p[1] <= 0x9f)
		return 0;	/* U+0080..U+009F: C1 controls */
	return n;
}

void escape_append(struct strbuf *sb, const void *data, size_t len, unsigned flags)
{
	const unsigned char *p = data;
	size_t i = 0, plain = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t u;
		const char *esc = NULL;
		char hex[5];

		if (c >= 0x20 && c < 0x7f && !(c == '\\' && (flags & ESCAPE_BACKSLASH))) {
			i++;
			continue;
		}
		if (c >= 0x80 && (flags & ESCAPE_UTF8) && (u = escape_utf8_len(p + i, len - i))) {
			i += u;
			continue;
		}
		if ((c == '\n' && (flags & ESCAPE_NEWLINE)) || (c == '\t' && (flags & ESCAPE_TAB))) {
			i++;
			continue;
		}
		/* flush the run of bytes kept as they are, then the escape */
		strbuf_add(sb, (const char *)p + plain, i - plain);
		if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\t')
			esc = "\\t";
		else {
			static const char digits[] = "0123456789abcdef";

			hex[0] = '\\';
			hex[1] = 'x';
			hex[2] = digits[c >> 4];
			hex[3] = digits[c & 15];
			hex[4] = '\0';
			esc = hex;
		}
		strbuf_puts(sb, esc);
		i++;
		plain = i;
	}
	strbuf_add(sb, (const char *)p + plain, len - plain);
}

char *escape_bytes(const void *data, size_t len, size_t max, unsigned flags)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n = len < max ? len : max;

	strbuf_add(&sb, "", 0);
	if (n)
		escape_append(&sb, data, n, flags);
	if (n < len)
		strbuf_printf(&sb, "... (%zu bytes)", len);
	return strbuf_detach(&sb);
}

char *escape_str(const char *s, size_t max, unsigned flags)
{
	return escape_bytes(s, s ? strlen(s) : 0, max, flags);
}
