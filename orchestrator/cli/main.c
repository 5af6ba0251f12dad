/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - the nestlab command line: dispatch through the command table, print errors, exit
 *
 * This is the only file that prints errors (STYLE.md rule 7). Diagnostics that already start with a
 * file location ("scenarios/x.yaml:3:5: error: ...") are printed as they are, like a compiler's, so
 * that editors can jump to them; anything else is prefixed with "nestlab: ".
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "escape.h"

static const struct command commands[] = {
	{ "validate", cmd_validate, "check scenario files and report every problem with file:line:col" },
	{ "plan", cmd_plan, "print the resolved plan of a scenario: every default, argv and domain XML" },
	{ "run", cmd_run, "run a scenario end to end; TAP 13 on stdout, JUnit XML in the run directory" },
	{ "list", cmd_list, "list the scenarios in a directory (default: scenarios/)" },
	{ "build", cmd_build, "build the patched QEMU and Linux (qemu | linux | all), cached by content" },
	{ "images", cmd_images, "build the L1 and L2 images, cached by content" },
	{ "clean", cmd_clean, "stop and remove what runs killed with SIGKILL left (QEMU, domains, roots)" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: nestlab [--version] [--help] COMMAND [ARGS]\n\n"
		     "nestlab brings up L0 -> L1 -> L2 with one NIC assigned twice through vfio-pci and\n"
		     "intel-iommu (caching-mode), and checks that L2's DMA lands through the shadow tables.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'nestlab COMMAND --help' describes a command.\n\n"
		     "Exit status:\n"
		     "  0    success (run: every TAP point ok)\n"
		     "  1    run: at least one check failed\n"
		     "  2    bad command line\n"
		     "  3    invalid scenario (file:line:col messages on stderr)\n"
		     "  4    set-up failed (packages, build, images, boot, timeout)\n"
		     "  130  interrupted; everything started was torn down\n\n"
		     "Environment:\n"
		     "  NESTLAB_CACHE     cache of sources, builds and images (default ~/.cache/nestlab)\n"
		     "  NESTLAB_HOST_NIC  host PCI address of the lab NIC, for scenarios that name it\n");
}

int cli_usage_error(nl_error_t *err, const char *cmd, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	nl_error(err, 0, "%s: %s (see 'nestlab %s --help')", cmd, msg, cmd);
	return -NL_EXIT_USAGE;
}

/**
 * cli_parse_number() - parse a numeric option value strictly
 * @cmd:	command name, for the message
 * @opt:	the option as the user writes it ("-j", "--timeout")
 * @text:	its value
 * @min:	smallest accepted value
 * @max:	largest accepted value
 * @value:	the number on success
 * @err:	usage error
 *
 * strtoull() alone takes "abc" as 0, "-1" as a huge number and "5x" as 5; here each of those is an error.
 *
 * Return: 0, or -NL_EXIT_USAGE with *err set
 */
int cli_parse_number(const char *cmd, const char *opt, const char *text, unsigned long long min,
		     unsigned long long max, unsigned long long *value, nl_error_t *err)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (!*text || !isdigit((unsigned char)text[0]) || *end || errno == ERANGE || v < min || v > max)
		return cli_usage_error(err, cmd, "%s '%s': expected a whole number from %llu to %llu", opt, text,
				       min, max);
	*value = v;
	return 0;
}

/* print_error() - print an error message; location-prefixed lines are printed as they are */
static void print_error(const char *raw)
{
	/* messages may quote guest text: control bytes never reach the terminal as they are */
	cleanup_free char *msg = escape_str(raw, ESCAPE_SINK_MAX_BYTES, ESCAPE_MULTILINE);
	const char *colon = strchr(msg, ':');
	bool located = colon && colon != msg && strncmp(colon, ": ", 2) != 0;

	if (located)
		fprintf(stderr, "%s\n", msg);
	else
		fprintf(stderr, "nestlab: %s\n", msg);
}

int main(int argc, char **argv)
{
	cleanup_error nl_error_t err = NULL;
	const struct command *cmd = NULL;
	int ret;

	if (argc < 2) {
		usage(stderr);
		return NL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return NL_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("nestlab %s\n", NESTLAB_VERSION);
		return NL_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		const char *best = NULL;
		size_t best_dist = 3;

		for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
			size_t d = edit_distance(argv[1], commands[i].name);

			if (d < best_dist) {
				best_dist = d;
				best = commands[i].name;
			}
		}
		fprintf(stderr, "nestlab: unknown command '%s'%s%s%s; see 'nestlab --help'\n", argv[1],
			best ? " (did you mean '" : "", best ? best : "", best ? "'?)" : "");
		return NL_EXIT_USAGE;
	}

	optind = 1;
	ret = cmd->fn(argc - 1, argv + 1, &err);
	if (ret < 0) {
		print_error(err ? err->msg : "unknown error");
		return -ret;
	}
	return ret;
}
