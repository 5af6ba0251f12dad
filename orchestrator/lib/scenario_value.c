/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario_value.c - the value types of the scenario language: text, enum names, booleans, whole
 * numbers, sizes and durations
 *
 * Each scenario_value_*() reads one node against the struct scn_field describing its key, stores the value
 * on success and otherwise reports one problem that says what was found, what was expected and an
 * example (scenario_problem()). YAML 1.1 leaves many spellings open (010 as octal, 1_000, 0x1f,
 * "true" in quotes); the scenario language accepts exactly one spelling and names it in the hint.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scenario_schema.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

/* ---- names ---------------------------------------------------------------------------------------- */

/* scenario_value_join() - "a, b, c" from a names table, skipping NULL entries */
char *scenario_value_join(const char *const *names, size_t n)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < n; i++)
		if (names[i])
			strbuf_printf(&sb, "%s%s", sb.len ? ", " : "", names[i]);
	return strbuf_detach(&sb);
}

/*
 * scenario_value_nearest() - the name closest to @word when close enough to be a likely typo, else NULL:
 * at most 3 edits, and fewer edits than either word has characters (so "c" suggests nothing)
 */
const char *scenario_value_nearest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	size_t best_distance = SIZE_MAX, word_len = strlen(word);

	if (word_len > 64)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (!names[i])
			continue;
		d = edit_distance(word, names[i]);
		if (d <= 3 && d < strlen(names[i]) && d < word_len && d < best_distance) {
			best = names[i];
			best_distance = d;
		}
	}
	return best;
}

const char *scenario_value_kind(const struct scn_node *n)
{
	if (n->kind == SCN_NODE_MAPPING)
		return "a mapping";
	if (n->kind == SCN_NODE_SEQUENCE)
		return "a list";
	return scenario_node_is_null(n) ? "no value" : "a single value";
}

/* ---- scalar values ------------------------------------------------------------------------------ */

/*
 * scalar_of() - @val if it is a scalar with a value; otherwise report that @expected was wanted and
 * return NULL (quietly for a node already reported, such as an alias)
 */
static const struct scn_node *scalar_of(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val,
					const char *expected)
{
	if (val->kind == SCN_NODE_INVALID)
		return NULL;
	if (val->kind != SCN_NODE_SCALAR) {
		scenario_problem(p, val->loc, "%s: expected %s, found %s; hint: write it like \"%s: %s\"", p->path,
				 expected, scenario_value_kind(val), f->key, f->example);
		return NULL;
	}
	if (scenario_node_is_null(val)) {
		scenario_problem(p, val->loc, "%s has no value; hint: give it one, like \"%s: %s\"", p->path,
				 f->key, f->example);
		return NULL;
	}
	return val;
}

/* scenario_value_string() - a text value into *@out (which must be NULL); one line unless SCN_FIELD_TEXT */
int scenario_value_string(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, char **out)
{
	const struct scn_node *s = scalar_of(p, f, val, "text");

	if (!s)
		return -1;
	if (!s->text_len) {
		scenario_problem(p, s->loc, "%s is empty; hint: give it a value, like \"%s: %s\"",
				 p->path, f->key, f->example);
		return -1;
	}
	if (f->type != SCN_FIELD_TEXT) {
		for (size_t i = 0; i < s->text_len; i++) {
			unsigned char c = (unsigned char)s->text[i];

			if (c < 0x20 || c == 0x7f) {
				cleanup_free char *q = scenario_quote(s->text, s->text_len);

				scenario_problem(p, s->loc, "%s: %s holds a control character (newline or tab); "
						 "hint: write it on one line, without tabs", p->path, q);
				return -1;
			}
		}
	}
	*out = xstrdup(s->text);
	return 0;
}

/* scenario_value_enum() - one of f->names into *@out (its index) */
int scenario_value_enum(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, unsigned *out)
{
	cleanup_free char *valid = scenario_value_join(f->names, f->n_names);
	cleanup_free char *expected = xasprintf("one of %s", valid);
	cleanup_free char *q = NULL;
	const struct scn_node *s = scalar_of(p, f, val, expected);
	const char *guess;

	if (!s)
		return -1;
	for (size_t i = 0; i < f->n_names; i++) {
		if (f->names[i] && !strcmp(s->text, f->names[i])) {
			*out = (unsigned)i;
			return 0;
		}
	}
	q = scenario_quote(s->text, s->text_len);
	guess = scenario_value_nearest(s->text, f->names, f->n_names);
	if (guess)
		scenario_problem(p, s->loc, "%s: unknown value %s; hint: did you mean \"%s\"? valid values: %s",
				 p->path, q, guess, valid);
	else
		scenario_problem(p, s->loc, "%s: unknown value %s; hint: use one of %s", p->path, q, valid);
	return -1;
}

/* scenario_value_bool() - true/yes/on or false/no/off, unquoted, any case (YAML 1.1 booleans) */
int scenario_value_bool(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	const struct scn_node *s = scalar_of(p, f, val, "true or false");
	cleanup_free char *q = NULL;

	if (!s)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(yes) && s->plain; i++) {
		if (!strcasecmp(s->text, yes[i]) || !strcasecmp(s->text, no[i])) {
			*out = !strcasecmp(s->text, yes[i]);
			return 0;
		}
	}
	q = scenario_quote(s->text, s->text_len);
	if (!s->plain)
		scenario_problem(p, s->loc, "%s: expected true or false, found the quoted text %s; hint: remove "
				 "the quotes", p->path, q);
	else
		scenario_problem(p, s->loc, "%s: %s is not a boolean; hint: use true or false (yes/no and on/off "
				 "also work)", p->path, q);
	return -1;
}

enum decimal { DEC_OK, DEC_SYNTAX, DEC_LEADING_ZERO, DEC_NEGATIVE, DEC_OVERFLOW };

/* parse_decimal() - the first @len bytes of @s as a plain decimal uint64 (no sign, no 0x, no '_') */
static enum decimal parse_decimal(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	bool overflow = false;

	if (!len)
		return DEC_SYNTAX;
	if (s[0] == '-' && len > 1 && strspn(s + 1, "0123456789") >= len - 1)
		return DEC_NEGATIVE;
	for (size_t i = 0; i < len; i++) {
		unsigned digit = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9')
			return DEC_SYNTAX;
		if (v > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			v = v * 10 + digit;
	}
	if (s[0] == '0' && len > 1)
		return DEC_LEADING_ZERO;
	*out = v;
	return overflow ? DEC_OVERFLOW : DEC_OK;
}

/* scenario_value_uint() - an unquoted decimal in @min..@max */
int scenario_value_uint(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	const struct scn_node *s = scalar_of(p, f, val, "a whole number");
	cleanup_free char *q = NULL;
	uint64_t v = 0;

	if (!s)
		return -1;
	q = scenario_quote(s->text, s->text_len);
	if (!s->plain) {
		scenario_problem(p, s->loc, "%s: expected a number, found the quoted text %s; hint: remove the quotes",
				 p->path, q);
		return -1;
	}
	switch (parse_decimal(s->text, s->text_len, &v)) {
	case DEC_SYNTAX:
		scenario_problem(p, s->loc, "%s: %s is not a whole number; hint: write plain decimal digits (no sign, "
				 "0x, '_' or exponent), like \"%s: %s\"", p->path, q, f->key, f->example);
		return -1;
	case DEC_LEADING_ZERO:
		scenario_problem(p, s->loc, "%s: %s starts with 0; hint: remove the leading zeros (YAML may read "
				 "them as octal)", p->path, q);
		return -1;
	case DEC_NEGATIVE:
	case DEC_OVERFLOW:
		scenario_problem(p, s->loc, "%s: %s is out of range; hint: use a value from %llu to %llu", p->path,
				 q, (unsigned long long)min, (unsigned long long)max);
		return -1;
	case DEC_OK:
		break;
	}
	if (v < min || v > max) {
		scenario_problem(p, s->loc, "%s: %llu is out of range; hint: use a value from %llu to %llu", p->path,
				 (unsigned long long)v, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t factor;
};

/*
 * parse_with_unit() - "DIGITS[UNIT]" with UNIT from @units (the first entry being "" for a bare
 * number); returns DEC_* as parse_decimal, DEC_OVERFLOW also when the product overflows
 */
static enum decimal parse_with_unit(const char *s, const struct unit *units, size_t n_units, uint64_t *out)
{
	size_t digits = strspn(s, "0123456789");
	enum decimal rc;
	uint64_t v;

	if (s[0] == '-')
		return DEC_NEGATIVE;
	rc = parse_decimal(s, digits, &v);
	if (rc != DEC_OK && rc != DEC_OVERFLOW)
		return rc;
	for (size_t i = 0; i < n_units; i++) {
		if (strcmp(s + digits, units[i].suffix))
			continue;
		if (rc == DEC_OVERFLOW || v > UINT64_MAX / units[i].factor)
			return DEC_OVERFLOW;
		*out = v * units[i].factor;
		return DEC_OK;
	}
	return DEC_SYNTAX;
}

static const struct unit size_units[] = {
	{ "", 1 },	  { "K", KiB },	  { "M", MiB },	  { "G", GiB },	  { "T", TiB },
	{ "KiB", KiB }, { "MiB", MiB }, { "GiB", GiB }, { "TiB", TiB },
};

static const struct unit duration_units[] = {
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
};

/* size_text() - bytes as the shortest exact K/M/G/T form, for messages */
static char *size_text(uint64_t bytes)
{
	static const char suffix[] = "TGMK";

	for (int i = 0; i < 4; i++) {
		uint64_t factor = UINT64_C(1) << (10 * (4 - i));

		if (bytes && bytes % factor == 0)
			return xasprintf("%llu%c", (unsigned long long)(bytes / factor), suffix[i]);
	}
	return xasprintf("%llu", (unsigned long long)bytes);
}

/* scenario_value_size() - bytes, with an optional K/M/G/T suffix (powers of 1024), in f->min..f->max */
int scenario_value_size(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, uint64_t *out)
{
	const struct scn_node *s = scalar_of(p, f, val, "a size");
	cleanup_free char *q = NULL, *min = size_text(f->min), *max = size_text(f->max);
	enum decimal rc;
	uint64_t v = 0;

	if (!s)
		return -1;
	q = scenario_quote(s->text, s->text_len);
	rc = parse_with_unit(s->text, size_units, ARRAY_SIZE(size_units), &v);
	if (rc == DEC_SYNTAX || rc == DEC_LEADING_ZERO) {
		scenario_problem(p, s->loc, "%s: %s is not a size; hint: write bytes, or a number with K, M, G or T "
				 "(powers of 1024; KiB, MiB, GiB, TiB also work), like \"%s: %s\"", p->path, q,
				 f->key, f->example);
		return -1;
	}
	if (rc == DEC_OK && v >= f->min && v <= f->max) {
		*out = v;
		return 0;
	}
	if (rc == DEC_OK && v < f->min && strspn(s->text, "0123456789") == s->text_len)
		scenario_problem(p, s->loc, "%s: %s bytes is less than %s; hint: a number without a unit counts "
				 "bytes: did you mean \"%sG\" or \"%sM\"?", p->path, s->text, min, s->text, s->text);
	else
		scenario_problem(p, s->loc, "%s: %s is out of range; hint: use a size from %s to %s", p->path, q,
				 min, max);
	return -1;
}

/* scenario_value_duration() - milliseconds from "90s", "2m", "500ms", "1h" or a number of seconds */
int scenario_value_duration(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, uint64_t *out)
{
	const struct scn_node *s = scalar_of(p, f, val, "a duration");
	cleanup_free char *q = NULL;
	enum decimal rc;
	uint64_t v = 0;

	if (!s)
		return -1;
	q = scenario_quote(s->text, s->text_len);
	rc = parse_with_unit(s->text, duration_units, ARRAY_SIZE(duration_units), &v);
	if (rc == DEC_SYNTAX || rc == DEC_LEADING_ZERO) {
		scenario_problem(p, s->loc, "%s: %s is not a duration; hint: write a number with ms, s, m or h "
				 "(like 90s, 2m, 500ms, 1h), or a number of seconds", p->path, q);
		return -1;
	}
	if (rc != DEC_OK || v < f->min || v > f->max) {
		scenario_problem(p, s->loc, "%s: %s is out of range; hint: use a duration from 1ms to 168h, or "
				 "remove the key to use the default", p->path, q);
		return -1;
	}
	*out = v;
	return 0;
}

