/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_list.c - `nestlab list [DIR]`: the scenarios in a directory, with their description and validity
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "scenario.h"

static void list_usage(FILE *out)
{
	fprintf(out, "Usage: nestlab list [DIR]\n\n"
		     "List DIR/*.yaml (default: scenarios/) with each scenario's name, 'make' target and\n"
		     "description. Files that do not parse are listed as invalid; 'nestlab validate' says why.\n");
}

static int yaml_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_list(int argc, char **argv, nl_error_t *err)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_strv char **files = NULL;
	const char *dir = "scenarios";
	DIR *d;
	struct dirent *de;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			list_usage(stdout);
			return NL_EXIT_OK;
		}
		return cli_usage_error(err, "list", "unknown option");
	}
	if (optind < argc)
		dir = argv[optind++];
	if (optind < argc)
		return cli_usage_error(err, "list", "expected at most one directory");

	d = opendir(dir);
	if (!d) {
		nl_error(err, errno, "open scenario directory %s (run from the nestlab checkout, or name the directory)",
			 dir);
		return -NL_EXIT_USAGE;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 5 && !strcmp(de->d_name + n - 5, ".yaml"))
			strv_push(&files, de->d_name);
	}
	closedir(d);
	if (files)
		qsort(files, strv_len(files), sizeof(char *), yaml_name_cmp);

	for (size_t i = 0; files && files[i]; i++) {
		cleanup_scenario struct scenario *scn = NULL;
		cleanup_error nl_error_t perr = NULL;
		cleanup_free char *path = xasprintf("%s/%s", dir, files[i]);
		cleanup_free char *target = xstrndup(files[i], strlen(files[i]) - 5);

		if (scenario_parse_file(path, &scn, &perr) < 0)
			printf("%-28s make scenario-%-22s (invalid: see 'nestlab validate %s')\n", target, target,
			       path);
		else
			printf("%-28s make scenario-%-22s %.*s\n", scn->name, target,
			       scn->description ? (int)strcspn(scn->description, "\n") : 0,
			       scn->description ? scn->description : "");
	}
	return NL_EXIT_OK;
}
