/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tap.c - TAP 13 writer: test points, SKIP/TODO directives, YAML diagnostic blocks, Bail out!
 *
 * The output is read by people, by automake's tap-driver.sh and by TAP::Harness, so it stays within what
 * all of them accept (TAP 13 specification, "The test line" and "YAML blocks"):
 *
 *  - a description never holds a newline; '#' and '\' are escaped as "\#" and "\\" so that text such as
 *    "check # SKIP" cannot turn into a directive; points are always written "ok N - desc", so a
 *    description that starts with a digit cannot be read as the test number;
 *  - the YAML block is indented by two spaces, between "  ---" and "  ..."; a value is written plain when
 *    YAML reads it back as the same string, double-quoted with escapes when it holds ": ", " #", quotes,
 *    control characters, or would read as a number, boolean or null, and as a literal block scalar
 *    ("|", "|-", "|+") when it spans lines;
 *  - no line of a YAML block may start, after blanks, with "Bail out!" (tap-driver.sh honours indented
 *    bail-outs), so such multi-line text is double-quoted instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "tap.h"

void tap_init(struct tap *tap, FILE *out)
{
	memset(tap, 0, sizeof(*tap));
	tap->out = out;
	tap->planned = -1;
}

/* tap_result_free() - free the strings of one recorded result */
static void tap_result_free(struct tap_result *r)
{
	free(r->reason);
	free(r->description);
	free(r->message);
	free(r->log);
	strv_free(r->extra_keys);
	strv_free(r->extra_values);
}

void tap_release(struct tap *tap)
{
	for (unsigned i = 0; i < tap->count; i++)
		tap_result_free(&tap->results[i]);
	free(tap->results);
	free(tap->bail_out_reason);
	tap->results = NULL;
	tap->bail_out_reason = NULL;
	tap->count = 0;
	tap->results_alloc = 0;
}

/**
 * tap_begin() - start the stream
 * @tap:	writer
 * @planned:	number of points that will follow, or -1 when it is only known at tap_end()
 */
void tap_begin(struct tap *tap, int planned)
{
	fputs("TAP version 13\n", tap->out);
	tap->planned = planned;
	if (planned >= 0) {
		fprintf(tap->out, "1..%d\n", planned);
		tap->plan_printed = true;
	}
	fflush(tap->out);
}

/**
 * tap_put_line_text() - write text on the current line: line breaks and tabs become spaces, other
 * control bytes, C1 controls and bytes that are not UTF-8 become "\xNN" (escape.h)
 * @out:	stream
 * @s:		text (NULL writes nothing)
 * @escape:	also escape '#' and '\' (descriptions)
 */
static void tap_put_line_text(FILE *out, const char *s, bool escape)
{
	cleanup_free char *line = xstrdup(s ? s : "");
	cleanup_free char *shown = NULL;

	for (char *p = line; *p; p++)	/* one line: line breaks and tabs become spaces */
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	/* guest text: other control bytes, C1 controls and invalid UTF-8 as "\xNN" (escape.h) */
	shown = escape_str(line, ESCAPE_SINK_MAX_BYTES, ESCAPE_UTF8 | (escape ? ESCAPE_BACKSLASH : 0));
	for (const char *p = shown; *p; p++) {
		if (escape && *p == '#')
			fputc('\\', out);
		fputc(*p, out);
	}
}

/* non_ascii_unsafe() - @s holds a byte >= 0x80 that is not part of valid, non-C1 UTF-8 */
static bool non_ascii_unsafe(const char *s)
{
	size_t len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		size_t u;

		if ((unsigned char)s[i] < 0x80)
			continue;
		u = escape_utf8_len(s + i, len - i);
		if (!u)
			return true;
		i += u - 1;
	}
	return false;
}

/* yaml_is_reserved() - true for words YAML 1.1/1.2 read as null or booleans */
static bool yaml_is_reserved(const char *s)
{
	static const char *const words[] = { "null", "~", "true", "false", "yes", "no", "on", "off",
					     "y", "n" };

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcasecmp(s, words[i]))
			return true;
	return false;
}

/**
 * yaml_plain_ok() - can @s be written as a plain scalar and read back as the same string?
 * @s:	one-line value
 *
 * Conservative: anything that could be read as another type (number, boolean, null), that holds an
 * indicator where YAML gives it meaning (YAML 1.2 section 7.3.3, plain scalars), or that holds '#',
 * quotes or backslashes (legal inside plain scalars, but easy for simple TAP consumers to misread) is
 * quoted.
 */
static bool yaml_plain_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || yaml_is_reserved(s))
		return false;
	if (strchr("-?:,[]{}#&*!|>'\"%@` +.0123456789", s[0]))
		return false;
	if (s[len - 1] == ' ' || s[len - 1] == ':')
		return false;
	if (strstr(s, ": ") || strpbrk(s, "#'\"\\"))	/* legal, but quoted anyway */
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return !non_ascii_unsafe(s);
}

/**
 * yaml_block_ok() - can multi-line @s be written as a literal block scalar?
 * @s:	value holding at least one newline
 *
 * Not when it holds control characters other than tab and newline (a literal block cannot escape them,
 * and '\r' would be a line break), nor when a line starts with "Bail out!" after blanks.
 */
static bool yaml_block_ok(const char *s)
{
	bool line_start = true;

	if (non_ascii_unsafe(s))
		return false;

	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
			return false;
		if (line_start && c != ' ' && c != '\t') {
			if (!strncmp(p, "Bail out!", 9))
				return false;
			line_start = false;
		}
		if (c == '\n')
			line_start = true;
	}
	return true;
}

/* yaml_put_double_quoted() - write @s as a YAML double-quoted scalar (YAML 1.2 section 5.7 escapes) */
static void yaml_put_double_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\t': fputs("\\t", out); break;
		case '\r': fputs("\\r", out); break;
		default:
			if (c >= 0x80) {	/* valid UTF-8 as it is; C1 controls and other bytes escaped */
				size_t u = escape_utf8_len(s, strlen(s));

				if (!u) {
					fprintf(out, "\\x%02x", c);
				} else {
					fwrite(s, 1, u, out);
					s += u - 1;
				}
			} else if (c < 0x20 || c == 0x7f) {
				fprintf(out, "\\x%02x", c);
			} else {
				fputc(c, out);
			}
		}
	}
	fputc('"', out);
}

/**
 * yaml_put_block() - write multi-line @s as a literal block scalar indented under a key at column 2
 * @out:	stream, positioned after "key:"
 * @s:		value with at least one newline, accepted by yaml_block_ok()
 *
 * The chomping indicator keeps the trailing newlines exact ("-" none, clip one, "+" all); an explicit
 * indentation indicator is added when the first line starts with a space or is empty, where YAML could
 * not detect the indentation (YAML 1.2 section 8.1.1).
 */
static void yaml_put_block(FILE *out, const char *s)
{
	size_t len = strlen(s), trailing = 0;
	const char *p = s;

	while (trailing < len && s[len - 1 - trailing] == '\n')
		trailing++;
	fputs(" |", out);
	if (s[0] == ' ' || s[0] == '\n')
		fputc('2', out);
	if (trailing == 0)
		fputc('-', out);
	else if (trailing > 1)
		fputc('+', out);
	fputc('\n', out);
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		fputs("    ", out);
		fwrite(p, 1, n, out);
		fputc('\n', out);
		p += n + (eol ? 1 : 0);
	}
}

/**
 * tap_put_yaml_kv() - write one "  key: value" of a YAML block, quoting as needed
 * @out:	stream
 * @key:	key; characters outside [A-Za-z0-9_.-] are written as '_'
 * @value:	string value (NULL is written as "")
 */
static void tap_put_yaml_kv(FILE *out, const char *key, const char *value)
{
	cleanup_free char *cut = NULL;

	if (!value)
		value = "";
	if (strlen(value) > ESCAPE_SINK_MAX_BYTES) {	/* guest text can be long: show the start */
		cut = xasprintf("%.*s... (%zu bytes)", (int)ESCAPE_SINK_MAX_BYTES, value, strlen(value));
		value = cut;
	}
	fputs("  ", out);
	if (!key || !*key)
		fputc('_', out);
	for (const char *k = key; k && *k; k++) {
		char c = *k;
		bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '_' || c == '.' || c == '-';

		fputc(safe && !(k == key && c == '-') ? c : '_', out);
	}
	fputc(':', out);
	if (strchr(value, '\n') && yaml_block_ok(value)) {
		yaml_put_block(out, value);
		return;
	}
	fputc(' ', out);
	if (yaml_plain_ok(value))
		fputs(value, out);
	else
		yaml_put_double_quoted(out, value);
	fputc('\n', out);
}

/* tap_put_yaml() - write the YAML block of @point, if it has anything to say */
static void tap_put_yaml(FILE *out, const struct tap_point *point)
{
	if (!point->message && !point->log && !point->n_extra && !point->duration_ms)
		return;
	fputs("  ---\n", out);
	if (point->message)
		tap_put_yaml_kv(out, "message", point->message);
	if (point->log)
		tap_put_yaml_kv(out, "log", point->log);
	for (size_t i = 0; i < point->n_extra; i++)
		tap_put_yaml_kv(out, point->extra[i].key, point->extra[i].value);
	if (point->duration_ms)
		fprintf(out, "  duration_ms: %llu\n", (unsigned long long)point->duration_ms);
	fputs("  ...\n", out);
}

/* xstrdup_or_null() - copy @s, or NULL */
static char *xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* tap_record() - keep a copy of @point as result number @number */
static struct tap_result *tap_record(struct tap *tap, unsigned number, const struct tap_point *point)
{
	struct tap_result *r;

	if (tap->count == tap->results_alloc) {
		tap->results_alloc = tap->results_alloc ? 2 * tap->results_alloc : 16;
		tap->results = xrealloc(tap->results, tap->results_alloc * sizeof(*tap->results));
	}
	r = &tap->results[tap->count];
	memset(r, 0, sizeof(*r));
	r->number = number;
	r->ok = point->ok;
	r->directive = point->directive;
	r->reason = xstrdup_or_null(point->reason);
	r->description = xstrdup(point->description ? point->description : "");
	r->message = xstrdup_or_null(point->message);
	r->log = xstrdup_or_null(point->log);
	r->duration_ms = point->duration_ms;
	r->extra_keys = xcalloc(point->n_extra + 1, sizeof(char *));
	r->extra_values = xcalloc(point->n_extra + 1, sizeof(char *));
	for (size_t i = 0; i < point->n_extra; i++) {
		r->extra_keys[i] = xstrdup(point->extra[i].key ? point->extra[i].key : "");
		r->extra_values[i] = xstrdup(point->extra[i].value ? point->extra[i].value : "");
	}
	tap->count++;
	return r;
}

/**
 * tap_emit() - write one test point
 * @tap:	writer; after tap_bail_out() nothing is written (the point is still recorded)
 * @point:	result
 *
 * Writes "ok N - description[ # SKIP|TODO reason]" and the YAML block, flushes, records the result and
 * calls the result callback.
 * Return: the point's number, counting from 1.
 */
unsigned tap_emit(struct tap *tap, const struct tap_point *point)
{
	unsigned number = tap->count + 1;
	const struct tap_result *r;

	if (!tap->bailed_out) {
		fprintf(tap->out, "%sok %u", point->ok ? "" : "not ", number);
		if (point->description && *point->description) {
			fputs(" - ", tap->out);
			tap_put_line_text(tap->out, point->description, true);
		}
		if (point->directive != TAP_DIRECTIVE_NONE) {
			fputs(point->directive == TAP_DIRECTIVE_SKIP ? " # SKIP" : " # TODO", tap->out);
			if (point->reason && *point->reason) {
				fputc(' ', tap->out);
				tap_put_line_text(tap->out, point->reason, false);
			}
		}
		fputc('\n', tap->out);
		tap_put_yaml(tap->out, point);
		fflush(tap->out);
	}
	r = tap_record(tap, number, point);
	if (tap->on_result)
		tap->on_result(tap, r, tap->on_result_opaque);
	return number;
}

/* tap_emit_simple() - tap_emit() for a point without a YAML block */
static unsigned tap_emit_simple(struct tap *tap, bool ok, enum tap_directive directive, const char *reason,
				const char *fmt, va_list ap)
{
	cleanup_free char *description = xvasprintf(fmt, ap);
	struct tap_point point = {
		.ok = ok, .directive = directive, .reason = reason, .description = description,
	};

	return tap_emit(tap, &point);
}

unsigned tap_ok(struct tap *tap, const char *fmt, ...)
{
	unsigned n;
	va_list ap;

	va_start(ap, fmt);
	n = tap_emit_simple(tap, true, TAP_DIRECTIVE_NONE, NULL, fmt, ap);
	va_end(ap);
	return n;
}

unsigned tap_not_ok(struct tap *tap, const char *fmt, ...)
{
	unsigned n;
	va_list ap;

	va_start(ap, fmt);
	n = tap_emit_simple(tap, false, TAP_DIRECTIVE_NONE, NULL, fmt, ap);
	va_end(ap);
	return n;
}

unsigned tap_skip(struct tap *tap, const char *reason, const char *fmt, ...)
{
	unsigned n;
	va_list ap;

	va_start(ap, fmt);
	n = tap_emit_simple(tap, true, TAP_DIRECTIVE_SKIP, reason, fmt, ap);
	va_end(ap);
	return n;
}

/**
 * tap_comment() - write a diagnostic comment
 * @tap:	writer
 * @fmt:	text; each of its lines becomes one "# " line
 */
void tap_comment(struct tap *tap, const char *fmt, ...)
{
	cleanup_free char *text = NULL;
	const char *p;
	va_list ap;

	if (tap->bailed_out)
		return;
	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	p = text;
	do {
		const char *eol = strchr(p, '\n');
		cleanup_free char *line = xstrndup(p, eol ? (size_t)(eol - p) : strlen(p));

		fputs("# ", tap->out);
		tap_put_line_text(tap->out, line, false);
		fputc('\n', tap->out);
		p = eol ? eol + 1 : NULL;
	} while (p && *p);
	fflush(tap->out);
}

/**
 * tap_bail_out() - abort the TAP stream
 * @tap:	writer
 * @fmt:	why the run cannot continue (one line; newlines become spaces)
 *
 * Consumers stop reading at "Bail out!" and report the whole run as broken; later points are recorded
 * but not written.
 */
void tap_bail_out(struct tap *tap, const char *fmt, ...)
{
	cleanup_free char *reason = NULL;
	va_list ap;

	if (tap->bailed_out)
		return;
	va_start(ap, fmt);
	reason = xvasprintf(fmt, ap);
	va_end(ap);
	fputs("Bail out!", tap->out);
	if (*reason) {
		fputc(' ', tap->out);
		tap_put_line_text(tap->out, reason, false);
	}
	fputc('\n', tap->out);
	fflush(tap->out);
	tap->bailed_out = true;
	tap->bail_out_reason = reason;
	reason = NULL;
}

/**
 * tap_end() - finish the stream
 * @tap:	writer
 * @err:	error
 *
 * Prints "1..N" when the plan was not given up front (and the run did not bail out).
 * Return: 0; -1 when the planned and written counts differ or the stream had a write error.
 */
int tap_end(struct tap *tap, nl_error_t *err)
{
	if (!tap->plan_printed && !tap->bailed_out) {
		fprintf(tap->out, "1..%u\n", tap->count);
		tap->plan_printed = true;
	}
	if (fflush(tap->out) != 0 || ferror(tap->out))
		return nl_error(err, errno, "write TAP output");
	if (!tap->bailed_out && tap->planned >= 0 && (unsigned)tap->planned != tap->count)
		return nl_error(err, 0, "TAP: planned %d test points but wrote %u (a scenario step was "
				"skipped without a SKIP result: this is a nestlab bug)", tap->planned, tap->count);
	return 0;
}
