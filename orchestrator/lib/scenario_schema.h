/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario_schema.h - internal interface between the two halves of the scenario parser
 *
 * scenario.c reads the bytes, runs libyaml's event parser and builds a small tree of struct scn_node
 * (scalars, mappings, sequences; no aliases, anchors or tags), and collects problems.
 * scenario_schema.c walks that tree against the key tables of the language and fills struct scenario,
 * reading each value with the typed readers of scenario_value.c.
 * Nothing here is used outside these two files.
 */
#ifndef NESTLAB_SCENARIO_SCHEMA_H
#define NESTLAB_SCENARIO_SCHEMA_H

#include "scenario.h"

enum scn_node_kind {
	SCN_NODE_SCALAR,
	SCN_NODE_MAPPING,
	SCN_NODE_SEQUENCE,
	SCN_NODE_INVALID,	/* an alias or a scalar holding NUL: already reported, skipped quietly */
};

/* one YAML node; a mapping's items are key, value, key, value, ... in file order */
struct scn_node {
	enum scn_node_kind kind;
	struct scn_loc loc;		/* where the node starts */
	char *text;			/* scalar: the value, NUL terminated, no embedded NUL */
	size_t text_len;
	bool plain;			/* scalar written without quotes or block indicators */
	struct scn_node **items;
	size_t n_items, alloc_items;
};

/* one reported problem; the text is "WHAT; hint: WHAT TO DO" without the location prefix */
struct scn_problem {
	struct scn_loc loc;
	size_t seq;			/* order of reporting, to keep the sort stable */
	char *text;
};

#define SCN_MAX_PROBLEMS 20

/* the state of one parse */
struct scn_parse {
	const char *name;		/* file name used in messages */
	struct scenario *scn;		/* being filled */
	struct scn_problem kept[SCN_MAX_PROBLEMS];	/* the earliest problems by location */
	size_t n_kept;
	size_t n_problems;		/* every problem found, kept or not */
	char path[160];			/* dotted key path being parsed, e.g. "l1.viommu.aw_bits" */
};

/* scenario_problem() - record a problem at @loc; @fmt must read "WHAT; hint: WHAT TO DO" */
void scenario_problem(struct scn_parse *p, struct scn_loc loc, const char *fmt, ...) PRINTF_FMT(3, 4);

/* scenario_problem_unseen() - count, without formatting, a problem at @loc that would not be shown */
bool scenario_problem_unseen(struct scn_parse *p, struct scn_loc loc);

/* scenario_quote() - a user value for a message: quoted, escaped, cut at 40 characters */
char *scenario_quote(const char *text, size_t len);

/* scenario_node_is_null() - YAML null: a plain empty scalar, "~" or "null" */
bool scenario_node_is_null(const struct scn_node *node);

/* scenario_schema_apply() - walk the document @root into p->scn, reporting every problem */
void scenario_schema_apply(struct scn_parse *p, const struct scn_node *root);

/* ---- key tables (scenario_schema.c) and value types (scenario_value.c) ---------------------------- */

enum scn_field_type {
	SCN_FIELD_STRING,	/* one line of text */
	SCN_FIELD_TEXT,		/* free text, may span lines */
	SCN_FIELD_ENUM,		/* one of names[], stored as its index */
	SCN_FIELD_BOOL,		/* enum scn_tristate */
	SCN_FIELD_UINT,		/* unsigned, min..max */
	SCN_FIELD_SIZE,		/* uint64_t bytes, min..max */
	SCN_FIELD_DURATION,	/* uint64_t milliseconds, min..max */
	SCN_FIELD_SECTION,	/* a mapping of its own */
	SCN_FIELD_CUSTOM,	/* custom() reads it */
};

struct scn_field;
struct scn_section;
typedef void scn_field_fn(struct scn_parse *p, const struct scn_field *f, const struct scn_node *key,
			  const struct scn_node *val, void *obj);

/* one key of a section */
struct scn_field {
	const char *key;
	enum scn_field_type type;
	size_t offset;			/* of the member in the section's object */
	size_t loc_offset;		/* of its struct scn_loc, or SIZE_MAX for none */
	const char *const *names;	/* SCN_FIELD_ENUM: index = enum value, NULL entries skipped */
	size_t n_names;
	uint64_t min, max;		/* UINT, SIZE, DURATION: the range; CUSTOM: its own use */
	const char *example;		/* a valid value, for hints */
	const struct scn_section *section;	/* SCN_FIELD_SECTION */
	scn_field_fn *custom;		/* SCN_FIELD_CUSTOM */
};

/* a mapping of the language: its keys, and the checks across them */
struct scn_section {
	const struct scn_field *fields;
	size_t n_fields;
	/* cross-checks once all keys are read; @map may be a null scalar (section left empty) */
	void (*check)(struct scn_parse *p, const struct scn_node *map, void *obj);
};

/* scenario_value_join() - "a, b, c" from a names table, skipping NULL entries */
char *scenario_value_join(const char *const *names, size_t n);
/* scenario_value_nearest() - the name within edit distance 3 of @word (a likely typo), else NULL */
const char *scenario_value_nearest(const char *word, const char *const *names, size_t n);
/* scenario_value_kind() - "a mapping", "a list", "no value" or "a single value", for messages */
const char *scenario_value_kind(const struct scn_node *node);

/*
 * The readers: each returns 0 after storing the value, or -1 after reporting a problem at @val (or
 * quietly, for a node already reported). p->path names the key in messages.
 */
int scenario_value_string(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, char **out);
int scenario_value_enum(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, unsigned *out);
int scenario_value_bool(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, bool *out);
int scenario_value_uint(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, uint64_t min,
			uint64_t max, uint64_t *out);
int scenario_value_size(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val, uint64_t *out);
int scenario_value_duration(struct scn_parse *p, const struct scn_field *f, const struct scn_node *val,
			    uint64_t *out);

#endif /* NESTLAB_SCENARIO_SCHEMA_H */
