/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * junit.c - JUnit XML report: built in memory, rendered with every string escaped, written atomically
 *
 * The format is the de-facto one read by Jenkins, GitLab and GitHub reporters (the "JUnit XML" schema of
 * Ant's junitreport: testsuites/testsuite/testcase with failure, error, skipped and system-out). Test
 * names and messages come from scenarios and guests, so they are treated as hostile: markup characters are
 * escaped, characters XML 1.0 cannot carry become '?', and invalid UTF-8 bytes become '?' too, so that the
 * document always parses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "junit.h"

void junit_init(struct junit *junit, const char *suite_name)
{
	memset(junit, 0, sizeof(*junit));
	junit->suite_name = xstrdup(suite_name ? suite_name : "nestlab");
}

void junit_release(struct junit *junit)
{
	for (size_t i = 0; i < junit->count; i++) {
		struct junit_entry *e = &junit->entries[i];

		free(e->classname);
		free(e->name);
		free(e->message);
		free(e->text);
		free(e->system_out);
	}
	free(junit->entries);
	free(junit->suite_name);
	memset(junit, 0, sizeof(*junit));
}

/* dup_or_null() - copy @s, or NULL */
static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void junit_add(struct junit *junit, const struct junit_case *tc)
{
	struct junit_entry *e;

	if (junit->count == junit->alloc) {
		junit->alloc = junit->alloc ? 2 * junit->alloc : 16;
		junit->entries = xrealloc(junit->entries, junit->alloc * sizeof(*junit->entries));
	}
	e = &junit->entries[junit->count++];
	e->classname = xstrdup(tc->classname ? tc->classname : junit->suite_name);
	e->name = xstrdup(tc->name ? tc->name : "");
	e->status = tc->status;
	e->message = dup_or_null(tc->message);
	e->text = dup_or_null(tc->text);
	e->system_out = dup_or_null(tc->system_out);
	e->duration_ms = tc->duration_ms;
}

/* tap_result_details() - "message\nlog: ...\nkey: value\n" of a TAP result; NULL when it has none */
static char *tap_result_details(const struct tap_result *r)
{
	struct strbuf sb = STRBUF_INIT;

	if (r->message)
		strbuf_printf(&sb, "%s\n", r->message);
	if (r->log)
		strbuf_printf(&sb, "log: %s\n", r->log);
	for (size_t i = 0; r->extra_keys && r->extra_keys[i]; i++)
		strbuf_printf(&sb, "%s: %s\n", r->extra_keys[i], r->extra_values[i]);
	return sb.len ? strbuf_detach(&sb) : NULL;
}

/**
 * junit_add_tap() - append the results recorded by a TAP writer
 * @junit:	report
 * @tap:	writer whose results to convert
 *
 * ok -> pass; not ok -> failure (message: the YAML message, text: message, log and extra keys);
 * SKIP and failed TODO -> skipped; a passing TODO -> pass; "Bail out!" -> one more case with an error.
 */
void junit_add_tap(struct junit *junit, const struct tap *tap)
{
	for (unsigned i = 0; i < tap->count; i++) {
		const struct tap_result *r = &tap->results[i];
		cleanup_free char *details = tap_result_details(r);
		cleanup_free char *todo = NULL;
		cleanup_free char *unnamed = NULL;
		struct junit_case tc = { .name = r->description, .duration_ms = r->duration_ms };

		if (!*r->description)
			tc.name = unnamed = xasprintf("test point %u", r->number);
		if (r->directive == TAP_DIRECTIVE_SKIP) {
			tc.status = JUNIT_SKIPPED;
			tc.message = r->reason ? r->reason : "skipped";
		} else if (r->directive == TAP_DIRECTIVE_TODO && !r->ok) {
			tc.status = JUNIT_SKIPPED;
			tc.message = todo = xasprintf("TODO %s", r->reason ? r->reason : "");
		} else if (!r->ok && r->directive == TAP_DIRECTIVE_NONE) {
			tc.status = JUNIT_FAILURE;
			tc.message = r->message ? r->message : "not ok";
			tc.text = details;
		}
		if (tc.status != JUNIT_FAILURE)
			tc.system_out = details;
		junit_add(junit, &tc);
	}
	if (tap->bailed_out) {
		struct junit_case tc = {
			.name = "Bail out!", .status = JUNIT_ERROR,
			.message = tap->bail_out_reason ? tap->bail_out_reason : "bailed out",
		};

		junit_add(junit, &tc);
	}
}

/**
 * utf8_sequence_len() - length of the valid UTF-8 sequence at @s, 0 when invalid
 * @s:	NUL-terminated text, first byte >= 0x80
 *
 * Rejects overlong forms, surrogates, code points above U+10FFFF and U+FFFE/U+FFFF, none of which
 * XML 1.0 accepts (XML 1.0 section 2.2, production [2] Char).
 */
static size_t utf8_sequence_len(const unsigned char *s)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff)
		return 0;
	return len;
}

/**
 * junit_put_text() - append @s escaped for XML text and attribute values
 * @sb:	buffer
 * @s:	hostile text (NULL appends nothing)
 * @attribute:	the text goes into an attribute value
 *
 * Invalid UTF-8 bytes become '?'; the rest goes through strbuf_add_xml_escaped(). Newlines in attribute
 * values are written as "&#10;" so that parsers do not normalise them to spaces.
 */
static void junit_put_text(struct strbuf *sb, const char *s, bool attribute)
{
	cleanup_strbuf struct strbuf clean = STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)s;

	if (!s)
		return;
	while (*p) {
		size_t n = *p < 0x80 ? 1 : utf8_sequence_len(p);

		if (!n) {
			strbuf_puts(&clean, "?");
			p++;
			continue;
		}
		if (attribute && (*p == '\n' || *p == '\r' || *p == '\t')) {
			if (clean.len)
				strbuf_add_xml_escaped(sb, clean.str);
			strbuf_printf(sb, "&#%d;", *p);
			strbuf_release(&clean);
		} else
			strbuf_add(&clean, (const char *)p, n);
		p += n;
	}
	if (clean.len)
		strbuf_add_xml_escaped(sb, clean.str);
}

/* junit_put_time() - append a time attribute value in seconds with millisecond precision */
static void junit_put_time(struct strbuf *sb, uint64_t ms)
{
	strbuf_printf(sb, "%llu.%03llu", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

/* junit_put_case() - append one <testcase> element */
static void junit_put_case(struct strbuf *sb, const struct junit_entry *e)
{
	static const char *const element[] = {
		[JUNIT_FAILURE] = "failure", [JUNIT_ERROR] = "error", [JUNIT_SKIPPED] = "skipped",
	};

	strbuf_puts(sb, "    <testcase classname=\"");
	junit_put_text(sb, e->classname, true);
	strbuf_puts(sb, "\" name=\"");
	junit_put_text(sb, e->name, true);
	strbuf_puts(sb, "\" time=\"");
	junit_put_time(sb, e->duration_ms);
	strbuf_puts(sb, "\"");
	if (e->status == JUNIT_PASS && !e->system_out) {
		strbuf_puts(sb, "/>\n");
		return;
	}
	strbuf_puts(sb, ">\n");
	if (e->status != JUNIT_PASS) {
		strbuf_printf(sb, "      <%s message=\"", element[e->status]);
		junit_put_text(sb, e->message ? e->message : "", true);
		if (e->status == JUNIT_SKIPPED || !e->text)
			strbuf_puts(sb, "\"/>\n");
		else {
			strbuf_puts(sb, "\">");
			junit_put_text(sb, e->text, false);
			strbuf_printf(sb, "</%s>\n", element[e->status]);
		}
	}
	if (e->system_out) {
		strbuf_puts(sb, "      <system-out>");
		junit_put_text(sb, e->system_out, false);
		strbuf_puts(sb, "</system-out>\n");
	}
	strbuf_puts(sb, "    </testcase>\n");
}

/**
 * junit_render() - render the report
 * @junit:	report
 *
 * Return: the XML document (UTF-8, newline-terminated); free() it.
 */
char *junit_render(const struct junit *junit)
{
	struct strbuf sb = STRBUF_INIT;
	size_t failures = 0, errors = 0, skipped = 0;
	uint64_t total_ms = 0;

	for (size_t i = 0; i < junit->count; i++) {
		failures += junit->entries[i].status == JUNIT_FAILURE;
		errors += junit->entries[i].status == JUNIT_ERROR;
		skipped += junit->entries[i].status == JUNIT_SKIPPED;
		total_ms += junit->entries[i].duration_ms;
	}
	if (junit->duration_ms)
		total_ms = junit->duration_ms;
	strbuf_puts(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"");
	junit_put_text(&sb, junit->suite_name, true);
	strbuf_printf(&sb, "\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" errors=\"%zu\" time=\"",
		      junit->count, failures, skipped, errors);
	junit_put_time(&sb, total_ms);
	strbuf_puts(&sb, "\">\n");
	for (size_t i = 0; i < junit->count; i++)
		junit_put_case(&sb, &junit->entries[i]);
	strbuf_puts(&sb, "  </testsuite>\n</testsuites>\n");
	return strbuf_detach(&sb);
}

/* write_all() - write @len bytes of @data to @fd, retrying short writes; returns 0 or -1 with errno */
static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/**
 * junit_write() - write the report to @path atomically
 * @junit:	report
 * @path:	destination, e.g. "RUN/junit.xml"; replaced if it exists
 * @err:	error
 *
 * Writes a temporary file next to @path, syncs it and renames it over @path, so that a reader sees the
 * old report or the new one, never a partial one.
 * Return: 0 or -1.
 */
int junit_write(const struct junit *junit, const char *path, nl_error_t *err)
{
	cleanup_free char *xml = junit_render(junit);
	cleanup_free char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);

	if (fd < 0)
		return nl_error(err, errno, "create %s (is the run directory writable?)", tmp);
	if (fchmod(fd, 0644) < 0 || write_all(fd, xml, strlen(xml)) < 0 || fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	nl_error(err, errno, "write JUnit report %s", path);
	unlink(tmp);
	return -1;
}
