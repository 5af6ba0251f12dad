/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_tap.c - unit tests for tap.c: exact TAP 13 output, YAML quoting (read back with libyaml),
 * description escaping, bail out, plan checks and the recorded results
 */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "error.h"
#include "tap.h"
#include "test.h"

/* a TAP writer on a memory stream; tap_capture_text() flushes and returns what was written */
struct tap_capture {
	char *buf;
	size_t len;
	FILE *f;
	struct tap tap;
};

static void tap_capture_init(struct tap_capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	tap_init(&c->tap, c->f);
}

static const char *tap_capture_text(struct tap_capture *c)
{
	fflush(c->f);
	return c->buf;
}

static void tap_capture_release(struct tap_capture *c)
{
	tap_release(&c->tap);
	if (c->f)
		fclose(c->f);
	free(c->buf);
}
#define cleanup_capture __attribute__((cleanup(tap_capture_release)))

static int test_tap_small_run(void)
{
	cleanup_capture struct tap_capture c;
	cleanup_error nl_error_t err = NULL;
	struct tap_kv extra[] = { { "qemu", "exited with status 1" }, { "pci", "0000:00:03.0" } };
	struct tap_point fail = {
		.ok = false, .description = "L2 DMA lands", .message = "ping: 100% loss",
		.log = "RUN/l2-console.log", .extra = extra, .n_extra = ARRAY_SIZE(extra), .duration_ms = 1500,
	};
	struct tap_point todo = {
		.ok = false, .directive = TAP_DIRECTIVE_TODO, .reason = "needs QEMU 9.1",
		.description = "ATS",
	};

	tap_capture_init(&c);
	tap_begin(&c.tap, 5);
	CHECK(tap_ok(&c.tap, "L1 boots") == 1);
	CHECK(tap_emit(&c.tap, &fail) == 2);
	CHECK(tap_skip(&c.tap, "no /dev/kvm", "L2 boots") == 3);
	CHECK(tap_emit(&c.tap, &todo) == 4);
	tap_comment(&c.tap, "teardown took %d ms", 12);
	CHECK(tap_ok(&c.tap, "teardown") == 5);
	CHECK(tap_end(&c.tap, &err) == 0);
	CHECK_STR(tap_capture_text(&c),
		  "TAP version 13\n"
		  "1..5\n"
		  "ok 1 - L1 boots\n"
		  "not ok 2 - L2 DMA lands\n"
		  "  ---\n"
		  "  message: \"ping: 100% loss\"\n"
		  "  log: RUN/l2-console.log\n"
		  "  qemu: exited with status 1\n"
		  "  pci: \"0000:00:03.0\"\n"
		  "  duration_ms: 1500\n"
		  "  ...\n"
		  "ok 3 - L2 boots # SKIP no /dev/kvm\n"
		  "not ok 4 - ATS # TODO needs QEMU 9.1\n"
		  "# teardown took 12 ms\n"
		  "ok 5 - teardown\n");
	return TEST_PASS;
}

static int test_tap_plan_at_end(void)
{
	cleanup_capture struct tap_capture c;
	cleanup_error nl_error_t err = NULL;

	tap_capture_init(&c);
	tap_begin(&c.tap, -1);
	tap_ok(&c.tap, "a");
	tap_ok(&c.tap, "b");
	CHECK(tap_end(&c.tap, &err) == 0);
	CHECK_STR(tap_capture_text(&c), "TAP version 13\nok 1 - a\nok 2 - b\n1..2\n");
	return TEST_PASS;
}

static int test_tap_plan_mismatch(void)
{
	cleanup_capture struct tap_capture c;
	cleanup_error nl_error_t err = NULL;

	tap_capture_init(&c);
	tap_begin(&c.tap, 3);
	tap_ok(&c.tap, "only one");
	CHECK(tap_end(&c.tap, &err) == -1);
	CHECK_CONTAINS(err->msg, "planned 3 test points but wrote 1");
	return TEST_PASS;
}

static int test_tap_description_escaping(void)
{
	cleanup_capture struct tap_capture c;

	tap_capture_init(&c);
	tap_begin(&c.tap, -1);
	tap_ok(&c.tap, "multi\nline\r\tdesc");
	tap_not_ok(&c.tap, "looks skipped # SKIP but is not");
	tap_ok(&c.tap, "back\\slash #5");
	tap_ok(&c.tap, "2 leading digits");
	tap_skip(&c.tap, "reason\nwith newline", "s");
	tap_ok(&c.tap, "%s", "");
	CHECK_STR(tap_capture_text(&c),
		  "TAP version 13\n"
		  "ok 1 - multi line  desc\n"
		  "not ok 2 - looks skipped \\# SKIP but is not\n"
		  "ok 3 - back\\\\slash \\#5\n"
		  "ok 4 - 2 leading digits\n"
		  "ok 5 - s # SKIP reason with newline\n"
		  "ok 6\n");
	/* the record keeps the description as given */
	CHECK_STR(c.tap.results[1].description, "looks skipped # SKIP but is not");
	return TEST_PASS;
}

static int test_tap_yaml_exact_quoting(void)
{
	cleanup_capture struct tap_capture c;
	struct tap_kv extra[] = {
		{ "plain", "RUN/l1-console.log" },	{ "colon", "a: b" },
		{ "hash", "x#y" },			{ "quotes", "say \"hi\"" },
		{ "number", "5000" },			{ "bool", "yes" },
		{ "empty", "" },			{ "ctrl", "bell\a" },
		{ "lines", "one\ntwo\n" },		{ "nofinal", "one\ntwo" },
		{ "keep", "a\n\n" },			{ "indented", "  x\ny" },
		{ "bail", "ok\nBail out! not really" },	{ "bad key!", "v" },
	};
	struct tap_point p = { .ok = true, .description = "d", .extra = extra, .n_extra = ARRAY_SIZE(extra) };

	tap_capture_init(&c);
	tap_emit(&c.tap, &p);
	CHECK_STR(tap_capture_text(&c),
		  "ok 1 - d\n"
		  "  ---\n"
		  "  plain: RUN/l1-console.log\n"
		  "  colon: \"a: b\"\n"
		  "  hash: \"x#y\"\n"
		  "  quotes: \"say \\\"hi\\\"\"\n"
		  "  number: \"5000\"\n"
		  "  bool: \"yes\"\n"
		  "  empty: \"\"\n"
		  "  ctrl: \"bell\\x07\"\n"
		  "  lines: |\n    one\n    two\n"
		  "  nofinal: |-\n    one\n    two\n"
		  "  keep: |+\n    a\n    \n"
		  "  indented: |2-\n      x\n    y\n"
		  "  bail: \"ok\\nBail out! not really\"\n"
		  "  bad_key_: v\n"
		  "  ...\n");
	return TEST_PASS;
}

/*
 * yaml_lookup() - parse a TAP YAML block (without its two-space indent and markers) with libyaml and
 * return the scalar value of @key, or NULL
 */
static char *yaml_lookup(const char *doc, const char *key)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	char *found = NULL;
	bool want_value = false, is_key = true, done = false;
	int depth = 0;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)doc, strlen(doc));
	while (!done && yaml_parser_parse(&parser, &ev)) {
		if (ev.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (ev.type == YAML_SCALAR_EVENT && depth == 1) {
			const char *v = (const char *)ev.data.scalar.value;

			if (!is_key && want_value && !found)
				found = xstrdup(v);
			want_value = is_key && !strcmp(v, key);
			is_key = !is_key;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
	}
	if (!done) {
		free(found);
		found = NULL;
	}
	yaml_parser_delete(&parser);
	return found;
}

/* unindent_block() - the YAML document inside "  ---" ... "  ...", with the two-space indent removed */
static char *unindent_block(const char *tap_text)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = strstr(tap_text, "  ---\n");

	if (!p)
		return NULL;
	p += 6;
	while (*p && strncmp(p, "  ...\n", 6)) {
		const char *eol = strchr(p, '\n');

		if (!eol)
			break;
		if (!strncmp(p, "  ", 2))
			p += 2;
		strbuf_add(&sb, p, (size_t)(eol - p) + 1);
		p = eol + 1;
	}
	return strbuf_detach(&sb);
}

static int test_tap_yaml_round_trip(void)
{
	static const char *const values[] = {
		"plain text", "a: b", "#lead", "trail #x", "'single'", "\"double\"", "line1\nline2",
		"\nstarts with newline", "  two spaces\n  more", "tabs\there", "ends with colon:", "-dash",
		"null", "~", "0x1f", "1e3", "cr\r\nlf", "three\n\n\n", "unicode \xc3\xa9t\xc3\xa9",
		"back\\slash", "[flow]", "{x: 1}", "* star", "& amp", "! bang", "%percent", "@at", "`tick",
		"|pipe", ">gt", "? q", ", comma", "Bail out!\n  Bail out! indented", "trailing space ",
		"a\n\tb\n",
	};

	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		cleanup_capture struct tap_capture c;
		cleanup_free char *doc = NULL;
		cleanup_free char *back = NULL;
		struct tap_kv kv = { "v", values[i] };
		struct tap_point p = { .ok = true, .description = "x", .extra = &kv, .n_extra = 1 };

		tap_capture_init(&c);
		tap_emit(&c.tap, &p);
		doc = unindent_block(tap_capture_text(&c));
		back = yaml_lookup(doc ? doc : "", "v");
		if (!back || strcmp(back, values[i])) {
			test_diag("value %zu did not round-trip; TAP was:\n%s", i, tap_capture_text(&c));
			return TEST_FAIL;
		}
	}
	return TEST_PASS;
}

/* guest text in a description, a SKIP reason, a comment and the YAML block never reaches the terminal raw */
static int test_tap_guest_text_escaped(void)
{
	cleanup_capture struct tap_capture c;
	const char *guest = "L2 said \x1b[2J\x1b]0;owned\x07 \xc2\x9b" "31m \x9b" "1m \xff caf\xc3\xa9";
	struct tap_kv kv = { "out", guest };
	struct tap_point p = { .ok = false, .description = guest, .message = guest, .extra = &kv, .n_extra = 1 };
	cleanup_free char *multi = xasprintf("%s\nsecond line \x1b[1m", guest);
	struct tap_kv kv2 = { "lines", multi };
	const char *text;

	tap_capture_init(&c);
	tap_emit(&c.tap, &p);
	tap_skip(&c.tap, guest, "skipped");
	tap_comment(&c.tap, "%s", multi);
	p.extra = &kv2;
	tap_emit(&c.tap, &p);
	tap_bail_out(&c.tap, "%s", guest);
	text = tap_capture_text(&c);
	test_diag("%s", text);
	for (const unsigned char *q = (const unsigned char *)text; *q; q++)
		CHECK(*q != 0x1b && *q != 0x07 && *q != 0x9b && *q != 0xff);
	CHECK_CONTAINS(text, "not ok 1 - L2 said \\x1b[2J\\x1b]0;owned\\x07 \\xc2\\x9b31m \\x9b1m \\xff caf\xc3\xa9\n");
	CHECK_CONTAINS(text, "# L2 said \\x1b[2J");
	CHECK_CONTAINS(text, "Bail out! L2 said \\x1b[2J");
	CHECK_CONTAINS(text, "caf\xc3\xa9");	/* valid UTF-8 stays */
	return TEST_PASS;
}

static int test_tap_bail_out(void)
{
	cleanup_capture struct tap_capture c;
	cleanup_error nl_error_t err = NULL;

	tap_capture_init(&c);
	tap_begin(&c.tap, 3);
	tap_ok(&c.tap, "first");
	tap_bail_out(&c.tap, "L0 QEMU died:\nsee RUN/l0.log");
	tap_ok(&c.tap, "after");
	tap_comment(&c.tap, "not printed");
	CHECK(tap_end(&c.tap, &err) == 0);
	CHECK_STR(tap_capture_text(&c),
		  "TAP version 13\n1..3\nok 1 - first\nBail out! L0 QEMU died: see RUN/l0.log\n");
	CHECK(c.tap.bailed_out);
	CHECK_STR(c.tap.bail_out_reason, "L0 QEMU died:\nsee RUN/l0.log");
	CHECK(c.tap.count == 2);
	return TEST_PASS;
}

static int test_tap_comment_lines(void)
{
	cleanup_capture struct tap_capture c;

	tap_capture_init(&c);
	tap_comment(&c.tap, "one\ntwo\n");
	tap_comment(&c.tap, "%s", "");
	CHECK_STR(tap_capture_text(&c), "# one\n# two\n# \n");
	return TEST_PASS;
}

static void count_results(struct tap *tap UNUSED, const struct tap_result *r, void *opaque)
{
	unsigned *seen = opaque;

	*seen = *seen * 10 + r->number;
}

static int test_tap_records_and_callback(void)
{
	cleanup_capture struct tap_capture c;
	unsigned seen = 0;
	struct tap_kv kv = { "k", "v" };
	struct tap_point p = { .ok = false, .description = "d", .message = "m", .log = "RUN/x.log",
			       .extra = &kv, .n_extra = 1, .duration_ms = 7 };

	tap_capture_init(&c);
	c.tap.on_result = count_results;
	c.tap.on_result_opaque = &seen;
	tap_ok(&c.tap, "a");
	tap_emit(&c.tap, &p);
	CHECK(seen == 12);
	CHECK(c.tap.count == 2);
	CHECK(c.tap.results[0].ok && !c.tap.results[1].ok);
	CHECK_STR(c.tap.results[1].message, "m");
	CHECK_STR(c.tap.results[1].log, "RUN/x.log");
	CHECK_STR(c.tap.results[1].extra_keys[0], "k");
	CHECK_STR(c.tap.results[1].extra_values[0], "v");
	CHECK(c.tap.results[1].extra_keys[1] == NULL);
	CHECK(c.tap.results[1].duration_ms == 7);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_tap_small_run),		TEST_CASE(test_tap_plan_at_end),
	TEST_CASE(test_tap_plan_mismatch),	TEST_CASE(test_tap_description_escaping),
	TEST_CASE(test_tap_yaml_exact_quoting),	TEST_CASE(test_tap_yaml_round_trip),
	TEST_CASE(test_tap_bail_out),		TEST_CASE(test_tap_comment_lines),
	TEST_CASE(test_tap_records_and_callback),
	TEST_CASE(test_tap_guest_text_escaped),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
