/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_scenario.c - libFuzzer target for the scenario parser (make fuzz)
 *
 * Feeds arbitrary bytes to scenario_parse_buffer(). Besides crashes, leaks and undefined behaviour
 * (ASan, UBSan), it aborts when the error contract is broken: a failure must come with a message of
 * 1..20 lines, each "NAME:LINE:COL: error: WHAT; hint: WHAT TO DO"; a success must have a name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_error() - abort unless every line of @msg has the documented shape */
static void check_error(const char *msg)
{
	static const char prefix[] = "fuzz.yaml:";
	size_t lines = 0;

	for (const char *line = msg; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t len = strcspn(line, "\n");
		const char *error = memmem(line, len, ": error: ", 9);
		const char *hint = memmem(line, len, "; hint: ", 8);
		unsigned row = 0, col = 0;

		lines++;
		if (strncmp(line, prefix, sizeof(prefix) - 1) ||
		    sscanf(line + sizeof(prefix) - 1, "%u:%u: error: ", &row, &col) != 2 || !row || !col ||
		    !error || !hint || hint < error || hint + 8 == line + len)
			abort();
	}
	if (lines < 1 || lines > 20)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *scn = NULL;
	nl_error_t err = NULL;

	if (scenario_parse_buffer("fuzz.yaml", (const char *)data, size, &scn, &err) < 0) {
		if (!err || !err->msg || scn)
			abort();
		check_error(err->msg);
		nl_error_release(&err);
		return 0;
	}
	if (!scn || !scn->name || err)
		abort();
	scenario_free(scn);
	return 0;
}
