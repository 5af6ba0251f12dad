/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario.c - read a scenario file: bytes -> libyaml events -> a small node tree -> struct scenario
 *
 * The file is untrusted input. Before libyaml sees it, it must be at most 1 MiB and hold no NUL byte.
 * libyaml's event API (yaml_parser_parse(), YAML 1.1) then yields events that become a tree of
 * struct scn_node, keeping each node's mark for messages. Aliases, anchors and tags are refused, not
 * expanded (so no "billion laughs"); only one document is read; nesting deeper than SCN_MAX_DEPTH
 * stops the parse. scenario_schema.c then walks the tree into struct scenario.
 *
 * Every problem is collected, not just the first: the error message holds up to SCN_MAX_PROBLEMS lines,
 * in file order, each "FILE:LINE:COL: error: WHAT; hint: WHAT TO DO" with 1-based line and column.
 * Nothing here runs anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "scenario.h"
#include "scenario_schema.h"

#define SCN_MAX_FILE_BYTES (1024 * 1024)
/* the language needs 4 levels (workload.traffic.sizes[]); anything deeper than this is a mistake */
#define SCN_MAX_DEPTH 8

/* ---- problems --------------------------------------------------------------------------------- */

static bool loc_before(struct scn_loc a, struct scn_loc b)
{
	return a.line < b.line || (a.line == b.line && a.col < b.col);
}

/**
 * scenario_problem() - record one problem
 * @p:		the parse
 * @loc:	1-based line and column of the offending key or value
 * @fmt:	"WHAT; hint: WHAT TO DO"
 *
 * Only the SCN_MAX_PROBLEMS earliest problems (by location) are kept, so that a hostile file with a
 * million errors costs neither memory nor time for formatting; all are counted.
 */
void scenario_problem(struct scn_parse *p, struct scn_loc loc, const char *fmt, ...)
{
	size_t slot;
	va_list ap;

	if (!loc.line) {
		loc.line = 1;
		loc.col = 1;
	}
	p->n_problems++;
	if (p->n_kept < SCN_MAX_PROBLEMS) {
		slot = p->n_kept++;
	} else {
		slot = 0;
		for (size_t i = 1; i < p->n_kept; i++)
			if (loc_before(p->kept[slot].loc, p->kept[i].loc))
				slot = i;
		if (!loc_before(loc, p->kept[slot].loc))
			return;
		free(p->kept[slot].text);
	}
	va_start(ap, fmt);
	p->kept[slot].text = xvasprintf(fmt, ap);
	va_end(ap);
	p->kept[slot].loc = loc;
	p->kept[slot].seq = p->n_problems;
}

/**
 * scenario_problem_unseen() - count a problem at @loc without formatting it, if it would not be shown
 * @p:		the parse
 * @loc:	where the problem is
 *
 * For problems whose message is costly to build (unknown keys look through the whole language):
 * a file with a hundred thousand of them must not cost a hundred thousand hints.
 * Return: true when the problem was counted and the caller must not report it.
 */
bool scenario_problem_unseen(struct scn_parse *p, struct scn_loc loc)
{
	size_t last = 0;

	if (p->n_kept < SCN_MAX_PROBLEMS)
		return false;
	for (size_t i = 1; i < p->n_kept; i++)
		if (loc_before(p->kept[last].loc, p->kept[i].loc))
			last = i;
	if (loc_before(loc, p->kept[last].loc))
		return false;
	p->n_problems++;
	return true;
}

static int problem_cmp(const void *a, const void *b)
{
	const struct scn_problem *pa = a, *pb = b;

	if (loc_before(pa->loc, pb->loc))
		return -1;
	if (loc_before(pb->loc, pa->loc))
		return 1;
	return pa->seq < pb->seq ? -1 : pa->seq > pb->seq;
}

/*
 * problems_to_error() - turn the collected problems into one nl_error, one line per problem, in file
 * order; when more than SCN_MAX_PROBLEMS were found the last line says how many were left out.
 */
static int problems_to_error(struct scn_parse *p, nl_error_t *err)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	size_t shown = p->n_kept;

	qsort(p->kept, p->n_kept, sizeof(p->kept[0]), problem_cmp);
	if (p->n_problems > p->n_kept)
		shown = p->n_kept - 1;
	for (size_t i = 0; i < shown; i++)
		strbuf_printf(&sb, "%s%s:%u:%u: error: %s", i ? "\n" : "", p->name, p->kept[i].loc.line,
			      p->kept[i].loc.col, p->kept[i].text);
	if (shown < p->n_kept)
		strbuf_printf(&sb, "\n%s:%u:%u: error: %zu more problems from here on are not shown; "
			      "hint: fix the problems above and run again", p->name, p->kept[shown].loc.line,
			      p->kept[shown].loc.col, p->n_problems - shown);
	nl_error(err, 0, "%s", sb.str);
	(*err)->errnum = EINVAL;
	return -1;
}

static void parse_release(struct scn_parse *p)
{
	for (size_t i = 0; i < p->n_kept; i++)
		free(p->kept[i].text);
	p->n_kept = 0;
}

/**
 * scenario_quote() - show a user-supplied value inside a message
 * @text:	the value (may hold any byte)
 * @len:	its length
 *
 * Return: a new string in double quotes, with '"', '\' and non-printable bytes escaped and anything
 * past 40 characters replaced by "...", so that one problem stays on one line.
 */
char *scenario_quote(const char *text, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	size_t shown = len > 40 ? 40 : len;

	strbuf_puts(&sb, "\"");
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '"' || c == '\\')
			strbuf_printf(&sb, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			strbuf_printf(&sb, "\\x%02x", c);
		else
			strbuf_add(&sb, (const char *)&c, 1);
	}
	strbuf_puts(&sb, len > shown ? "...\"" : "\"");
	return strbuf_detach(&sb);
}

/* ---- the node tree ------------------------------------------------------------------------------ */

bool scenario_node_is_null(const struct scn_node *node)
{
	if (!node || node->kind != SCN_NODE_SCALAR || !node->plain)
		return false;
	return !strcmp(node->text, "") || !strcmp(node->text, "~") || !strcmp(node->text, "null") ||
	       !strcmp(node->text, "Null") || !strcmp(node->text, "NULL");
}

static void node_free(struct scn_node *node)
{
	if (!node)
		return;
	for (size_t i = 0; i < node->n_items; i++)
		node_free(node->items[i]);	/* depth is bounded by SCN_MAX_DEPTH */
	free(node->items);
	free(node->text);
	free(node);
}

static void cleanup_nodep(struct scn_node **node)
{
	node_free(*node);
}
#define cleanup_node __attribute__((cleanup(cleanup_nodep)))

static struct scn_loc mark_loc(yaml_mark_t mark)
{
	return (struct scn_loc){ .line = (unsigned)mark.line + 1, .col = (unsigned)mark.column + 1 };
}

/* the tree being built from events: the root and the open mappings and sequences */
struct tree_builder {
	struct scn_node *root;
	struct scn_node *open[SCN_MAX_DEPTH];
	size_t depth;
	unsigned documents;
};

static void builder_attach(struct tree_builder *b, struct scn_node *node)
{
	struct scn_node *parent;

	if (!b->depth) {
		node_free(b->root);	/* only one document is kept; see builder_event() */
		b->root = node;
		return;
	}
	parent = b->open[b->depth - 1];
	if (parent->n_items == parent->alloc_items) {
		parent->alloc_items = parent->alloc_items ? 2 * parent->alloc_items : 8;
		parent->items = xrealloc(parent->items, parent->alloc_items * sizeof(*parent->items));
	}
	parent->items[parent->n_items++] = node;
}

/*
 * builder_properties() - refuse anchors (&a) and explicit tags (!!str, !custom) on a node; aliases
 * need anchors, and tags would change how a value is read, so neither has a place in a scenario.
 */
static void builder_properties(struct scn_parse *p, const yaml_event_t *ev, const yaml_char_t *anchor,
			       const yaml_char_t *tag)
{
	static const char yaml_tag_prefix[] = "tag:yaml.org,2002:";

	if (anchor) {
		cleanup_free char *q = scenario_quote((const char *)anchor, strlen((const char *)anchor));

		scenario_problem(p, mark_loc(ev->start_mark), "YAML anchor &%.*s is not accepted in a scenario; "
				 "hint: remove the anchor and write every value out in full", (int)strlen(q) - 2, q + 1);
	}
	if (tag) {
		const char *shown = (const char *)tag;
		bool core = !strncmp(shown, yaml_tag_prefix, sizeof(yaml_tag_prefix) - 1);
		cleanup_free char *q = NULL;

		if (core)
			shown += sizeof(yaml_tag_prefix) - 1;
		q = scenario_quote(shown, strlen(shown));
		scenario_problem(p, mark_loc(ev->start_mark), "YAML tag %s%.*s is not accepted in a scenario; "
				 "hint: remove the tag; quote the value if it must be read as text", core ? "!!" : "",
				 (int)strlen(q) - 2, q + 1);
	}
}

static struct scn_node *builder_scalar(struct scn_parse *p, const yaml_event_t *ev)
{
	struct scn_node *node = xzalloc(sizeof(*node));
	const char *value = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	node->loc = mark_loc(ev->start_mark);
	builder_properties(p, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
	if (memchr(value, '\0', len)) {
		/* a double-quoted "\0" escape: C strings cannot carry it, and no key needs it */
		scenario_problem(p, node->loc, "value holds a NUL character (\"\\0\" escape); "
				 "hint: remove the \\0 escape");
		node->kind = SCN_NODE_INVALID;
		return node;
	}
	node->kind = SCN_NODE_SCALAR;
	node->text = xstrndup(value, len);
	node->text_len = len;
	node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return node;
}

/* builder_open() - a mapping or sequence starts: attach it and make it the open container */
static int builder_open(struct scn_parse *p, struct tree_builder *b, const yaml_event_t *ev)
{
	struct scn_node *node;
	bool mapping = ev->type == YAML_MAPPING_START_EVENT;

	if (mapping)
		builder_properties(p, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
	else
		builder_properties(p, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
	if (b->depth == SCN_MAX_DEPTH) {
		scenario_problem(p, mark_loc(ev->start_mark), "nesting is deeper than %d levels; no scenario key "
				 "needs more than 4; hint: check the indentation and the brackets here",
				 SCN_MAX_DEPTH);
		return -1;
	}
	node = xzalloc(sizeof(*node));
	node->kind = mapping ? SCN_NODE_MAPPING : SCN_NODE_SEQUENCE;
	node->loc = mark_loc(ev->start_mark);
	builder_attach(b, node);
	b->open[b->depth++] = node;
	return 0;
}

/**
 * builder_event() - add one libyaml event to the tree
 * @p:		the parse, for problems
 * @b:		the tree being built
 * @ev:		the event
 *
 * Return: 0 to go on, 1 when the stream (or the first document) is complete, -1 when the tree cannot
 * be completed (then only the problems found so far are reported).
 */
static int builder_event(struct scn_parse *p, struct tree_builder *b, const yaml_event_t *ev)
{
	cleanup_free char *q = NULL;
	struct scn_node *node;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->documents++) {
			scenario_problem(p, mark_loc(ev->start_mark), "a second YAML document starts here; a "
					 "scenario file holds exactly one; hint: remove this \"---\" and what follows, "
					 "or put each scenario in its own file");
			return 1;
		}
		if (ev->data.document_start.tag_directives.start != ev->data.document_start.tag_directives.end)
			scenario_problem(p, mark_loc(ev->start_mark), "%%TAG directives are not accepted in a "
					 "scenario; hint: remove the %%TAG line");
		return 0;
	case YAML_ALIAS_EVENT:
		q = scenario_quote((const char *)ev->data.alias.anchor, strlen((const char *)ev->data.alias.anchor));
		scenario_problem(p, mark_loc(ev->start_mark), "YAML alias *%.*s is not accepted in a scenario "
				 "(aliases are never expanded); hint: write the value out in full", (int)strlen(q) - 2,
				 q + 1);
		node = xzalloc(sizeof(*node));
		node->kind = SCN_NODE_INVALID;
		node->loc = mark_loc(ev->start_mark);
		builder_attach(b, node);
		return 0;
	case YAML_SCALAR_EVENT:
		builder_attach(b, builder_scalar(p, ev));
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return builder_open(p, b, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth)
			b->depth--;
		return 0;
	case YAML_STREAM_END_EVENT:
		return 1;
	default:
		return 0;
	}
}

/* offset_loc() - the 1-based line and column (in characters) of byte @offset of @data */
static struct scn_loc offset_loc(const char *data, size_t len, size_t offset)
{
	struct scn_loc loc = { 1, 1 };

	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		if (data[i] == '\n') {
			loc.line++;
			loc.col = 1;
		} else if (((unsigned char)data[i] & 0xc0) != 0x80) {
			loc.col++;
		}
	}
	return loc;
}

/* line_has_tab() - whether 1-based line @line of @data holds a tab (libyaml's usual complaint) */
static bool line_has_tab(const char *data, size_t len, unsigned line)
{
	const char *p = data, *end = data + len;

	for (unsigned l = 1; l < line && p < end; l++) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (!p)
			return false;
		p++;
	}
	for (; p < end && *p != '\n'; p++)
		if (*p == '\t')
			return true;
	return false;
}

/* syntax_hint() - what usually causes libyaml's @problem at @loc */
static const char *syntax_hint(const char *problem, const char *data, size_t len, struct scn_loc loc)
{
	if (line_has_tab(data, len, loc.line) || (loc.line > 1 && line_has_tab(data, len, loc.line - 1)))
		return "YAML indentation must use spaces; replace the tabs on this line with spaces";
	if (strstr(problem, "mapping values are not allowed"))
		return "quote a value that contains \": \", or check that this key is indented like its siblings";
	if (strstr(problem, "did not find expected key") || strstr(problem, "block end"))
		return "keys of one mapping must start in the same column; check the indentation here";
	if (strstr(problem, "cannot start any token"))
		return "quote a value that starts with one of @ ` % or another reserved character";
	if (strstr(problem, "found unexpected end of stream") || strstr(problem, "did not find expected"))
		return "close the quote or bracket that was opened here";
	return "check the indentation (spaces only) and the quotes and brackets around this point";
}

/* report_syntax() - turn libyaml's error state into one problem with a location and a hint */
static void report_syntax(struct scn_parse *p, const yaml_parser_t *parser, const char *data, size_t len)
{
	const char *problem = parser->problem ? parser->problem : "unknown error";
	struct scn_loc loc;

	if (parser->error == YAML_READER_ERROR) {
		loc = offset_loc(data, len, parser->problem_offset);
		scenario_problem(p, loc, "the file is not valid UTF-8 text (%s); hint: save the file as UTF-8",
				 problem);
		return;
	}
	if (parser->error == YAML_MEMORY_ERROR) {
		scenario_problem(p, (struct scn_loc){ 1, 1 }, "out of memory while reading YAML; "
				 "hint: free some memory and run again");
		return;
	}
	loc = mark_loc(parser->problem_mark);
	if (parser->context)
		scenario_problem(p, loc, "invalid YAML: %s (%s that starts at %u:%u); hint: %s", problem,
				 parser->context, (unsigned)parser->context_mark.line + 1,
				 (unsigned)parser->context_mark.column + 1, syntax_hint(problem, data, len, loc));
	else
		scenario_problem(p, loc, "invalid YAML: %s; hint: %s", problem, syntax_hint(problem, data, len, loc));
}

static void cleanup_yaml_parserp(yaml_parser_t *parser)
{
	yaml_parser_delete(parser);
}
#define cleanup_yaml_parser __attribute__((cleanup(cleanup_yaml_parserp)))

/**
 * tree_build() - run libyaml over @data and build the node tree of its (single) document
 * @p:		the parse, for problems
 * @data:	the file contents, NUL free
 * @len:	their length
 * @root:	the root node, or NULL when the file holds no document
 *
 * Return: 0 when the tree is complete (problems may still have been reported), -1 when it is not.
 */
static int tree_build(struct scn_parse *p, const char *data, size_t len, struct scn_node **root)
{
	cleanup_yaml_parser yaml_parser_t parser;
	struct tree_builder b = { 0 };
	int rc = 0;

	if (!yaml_parser_initialize(&parser)) {
		fprintf(stderr, "nestlab: out of memory\n");
		abort();
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	while (rc == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			report_syntax(p, &parser, data, len);
			rc = -1;
			break;
		}
		rc = builder_event(p, &b, &ev);
		yaml_event_delete(&ev);
	}
	if (rc < 0) {
		node_free(b.root);
		return -1;
	}
	*root = b.root;
	return 0;
}

/* ---- entry points ------------------------------------------------------------------------------ */

/* check_bytes() - the checks made before libyaml sees the data: size, NUL bytes */
static int check_bytes(struct scn_parse *p, const char *data, size_t len)
{
	const char *nul;

	if (len > SCN_MAX_FILE_BYTES) {
		scenario_problem(p, (struct scn_loc){ 1, 1 }, "the file is larger than 1 MiB; hint: a "
				 "scenario is a few dozen lines: check that this is the right file");
		return -1;
	}
	nul = memchr(data, '\0', len);
	if (nul) {
		scenario_problem(p, offset_loc(data, len, (size_t)(nul - data)), "the file holds a NUL byte, so "
				 "it is not a text file (or it is UTF-16); hint: save the scenario as UTF-8 text");
		return -1;
	}
	return 0;
}

int scenario_parse_buffer(const char *name, const char *data, size_t len, struct scenario **out, nl_error_t *err)
{
	struct scn_parse p = { .name = name ? name : "<buffer>" };
	cleanup_scenario struct scenario *scn = xzalloc(sizeof(*scn));
	cleanup_node struct scn_node *root = NULL;
	int rc = 0;

	scn->path = xstrdup(p.name);
	p.scn = scn;
	if (!data) {
		data = "";
		len = 0;
	}
	if (check_bytes(&p, data, len) == 0 && tree_build(&p, data, len, &root) == 0) {
		if (!root || scenario_node_is_null(root))
			scenario_problem(&p, root ? root->loc : (struct scn_loc){ 1, 1 }, "the scenario is empty; "
					 "hint: start with \"name: my-scenario\" and see scenarios/README.md for the keys");
		else
			scenario_schema_apply(&p, root);
	}
	if (p.n_problems)
		rc = problems_to_error(&p, err);
	else {
		*out = scn;
		scn = NULL;
	}
	parse_release(&p);
	return rc;
}

/* read_all() - read @fd into a new buffer, stopping one byte past the size limit */
static int read_all(int fd, char **data, size_t *len)
{
	cleanup_free char *buf = xmalloc(SCN_MAX_FILE_BYTES + 1);
	size_t have = 0;

	while (have < SCN_MAX_FILE_BYTES + 1) {
		ssize_t n = read(fd, buf + have, SCN_MAX_FILE_BYTES + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	*len = have;
	*data = buf;
	buf = NULL;
	return 0;
}

int scenario_parse_file(const char *path, struct scenario **out, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free char *data = NULL;
	struct stat st;
	size_t len = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		int errnum = errno;

		nl_error(err, 0, "%s: error: cannot open the scenario: %s; hint: check the path (the shipped "
			 "scenarios are scenarios/*.yaml)", path, strerror(errnum));
		(*err)->errnum = errnum;
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		nl_error(err, 0, "%s: error: is a directory; hint: name a scenario file, e.g. %s/nested-igb.yaml",
			 path, path);
		(*err)->errnum = EISDIR;
		return -1;
	}
	if (read_all(fd, &data, &len) < 0) {
		int errnum = errno;

		nl_error(err, 0, "%s: error: cannot read the scenario: %s; hint: check that the file is readable",
			 path, strerror(errnum));
		(*err)->errnum = errnum;
		return -1;
	}
	return scenario_parse_buffer(path, data, len, out, err);
}

/* ---- release ----------------------------------------------------------------------------------- */

static void source_release(struct scn_source *src)
{
	free(src->version);
	free(src->git);
	free(src->ref);
	free(src->tarball);
	free(src->patches);
	free(src->config);
}

static void guest_release(struct scn_guest *guest)
{
	free(guest->machine);
	free(guest->image);
	strv_free(guest->kernel_args);
}

/* scenario_free() - free a scenario from scenario_parse_*(); NULL is fine */
void scenario_free(struct scenario *scn)
{
	if (!scn)
		return;
	free(scn->path);
	free(scn->name);
	free(scn->description);
	free(scn->l0.connect);
	guest_release(&scn->l1);
	guest_release(&scn->l2);
	free(scn->nic.host);
	free(scn->nic.mac);
	free(scn->expect.message);
	source_release(&scn->qemu);
	source_release(&scn->linux_src);
	free(scn);
}

void cleanup_scenariop(struct scenario **scn)
{
	scenario_free(*scn);
	*scn = NULL;
}
