/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.c - allocation, cleanup helpers, string vectors and buffers shared by every module
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void oom(void)
{
	static const char msg[] = "nestlab: out of memory\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xzalloc(size_t size)
{
	return xcalloc(1, size);
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom();
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void cleanup_freep(void *p)
{
	void **pp = p;

	free(*pp);
	*pp = NULL;
}

void cleanup_closep(int *fd)
{
	int saved_errno = errno;

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = saved_errno;
}

void cleanup_filep(FILE **f)
{
	if (*f)
		fclose(*f);
	*f = NULL;
}

void cleanup_strvp(char ***strv)
{
	strv_free(*strv);
	*strv = NULL;
}

size_t strv_len(char *const *strv)
{
	size_t n = 0;

	while (strv && strv[n])
		n++;
	return n;
}

void strv_push(char ***strv, const char *s)
{
	size_t n = strv_len(*strv);

	*strv = xrealloc(*strv, (n + 2) * sizeof(char *));
	(*strv)[n] = xstrdup(s);
	(*strv)[n + 1] = NULL;
}

void strv_pushf(char ***strv, const char *fmt, ...)
{
	cleanup_free char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	strv_push(strv, s);
}

void strv_free(char **strv)
{
	for (size_t i = 0; strv && strv[i]; i++)
		free(strv[i]);
	free(strv);
}

void strbuf_add(struct strbuf *sb, const char *data, size_t len)
{
	if (sb->len + len + 1 > sb->alloc) {
		size_t want = sb->alloc ? sb->alloc : 64;

		while (want < sb->len + len + 1)
			want *= 2;
		sb->str = xrealloc(sb->str, want);
		sb->alloc = want;
	}
	memcpy(sb->str + sb->len, data, len);
	sb->len += len;
	sb->str[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_add(sb, s, strlen(s));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	cleanup_free char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	strbuf_puts(sb, s);
}

/**
 * strbuf_add_xml_escaped() - append text escaped for XML character data and attribute values
 * @sb:	buffer
 * @s:	UTF-8 text; control characters other than tab/newline are written as U+FFFD's
 *	ASCII stand-in '?' because XML 1.0 cannot carry them at all
 */
void strbuf_add_xml_escaped(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '<': strbuf_puts(sb, "&lt;"); break;
		case '>': strbuf_puts(sb, "&gt;"); break;
		case '&': strbuf_puts(sb, "&amp;"); break;
		case '"': strbuf_puts(sb, "&quot;"); break;
		case '\'': strbuf_puts(sb, "&apos;"); break;
		default:
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				strbuf_puts(sb, "?");
			else
				strbuf_add(sb, (const char *)&c, 1);
		}
	}
}

char *strbuf_detach(struct strbuf *sb)
{
	char *s = sb->str ? sb->str : xstrdup("");

	sb->str = NULL;
	sb->len = sb->alloc = 0;
	return s;
}

void strbuf_release(struct strbuf *sb)
{
	free(sb->str);
	sb->str = NULL;
	sb->len = sb->alloc = 0;
}

void cleanup_strbufp(struct strbuf *sb)
{
	strbuf_release(sb);
}

int snprintf_checked(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return n;
}

char *read_file_text(const char *path)
{
	cleanup_file FILE *f = fopen(path, "re");
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sb, buf, n);
	if (ferror(f)) {
		strbuf_release(&sb);
		errno = EIO;
		return NULL;
	}
	return strbuf_detach(&sb);
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/**
 * edit_distance() - Levenshtein distance between two short strings
 * @a:	first string
 * @b:	second string
 *
 * Used to suggest the nearest valid key or value; keys are short, so the O(n*m) table is fine.
 * Return: number of single-character edits turning @a into @b
 */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	cleanup_free size_t *row = xcalloc(lb + 1, sizeof(size_t));

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

void log_vline(FILE *f, enum log_stamp stamp, uint64_t t0_ms, const char *fmt, va_list ap)
{
	uint64_t t = now_ms() - t0_ms;
	unsigned long long sec = t / 1000, msec = t % 1000;

	if (!f)
		return;
	if (stamp == LOG_STAMP_BRACKETED)
		fprintf(f, "[%4llu.%03llu] ", sec, msec);
	else
		fprintf(f, "%llu.%03llu ", sec, msec);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}
