/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_build.c - `nestlab build qemu|linux|all` and `nestlab images`
 *
 * build: the sources come from a scenario's plan (--scenario) or from the defaults with the command
 * line's --qemu-* and --linux-* changes; build_run() (lib/build.c) does the work. One result line per
 * component goes to stdout; the progress line goes to stderr.
 *
 * images: not implemented yet (issue 4): it says so and fails, rather than pretend.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "cmd.h"
#include "fs.h"
#include "plan.h"
#include "scenario.h"

#define BUILD_JOBS_MAX 1024u
#define BUILD_TIMEOUT_MAX_S 604800u	/* a week; the limit is kept in milliseconds in an int */

static void build_usage(FILE *out)
{
	fprintf(out,
		"Usage: nestlab build [OPTIONS] qemu|linux|all\n\n"
		"Build the patched QEMU (one static qemu-system-x86_64 for L0 and L1) and Linux (one bzImage\n"
		"for L1 and L2) from source, with the series in patches/qemu and patches/linux. Builds are\n"
		"cached by content under $NESTLAB_CACHE: a second run with the same sources, patches, config\n"
		"and compiler does nothing. Results:\n"
		"  $NESTLAB_CACHE/qemu/current/qemu-system-x86_64\n"
		"  $NESTLAB_CACHE/linux/current/{bzImage,config}\n"
		"Logs: $NESTLAB_CACHE/logs/build-<qemu|linux>-<key>.log. Run from the repository root (the\n"
		"patch directories are relative to it).\n\n"
		"Sources (default: the Debian trixie source packages pinned in patches/*/SOURCES):\n"
		"  --scenario FILE        the sources of a scenario (its sources.qemu and sources.linux)\n"
		"  --qemu-git DIR         a local git tree ...\n"
		"  --qemu-ref REF         ... at REF (default HEAD)\n"
		"  --qemu-tarball FILE    a source tarball\n"
		"  --qemu-patches DIR     the series directory (default patches/qemu); 'none' for no patches\n"
		"  --linux-git DIR, --linux-ref REF, --linux-tarball FILE, --linux-patches DIR\n"
		"  --linux-config FILE    one more config fragment after base.config and nestlab.config\n\n"
		"Other options:\n"
		"  -j, --jobs N           parallel jobs, 1 to %u (default: the number of online CPUs)\n"
		"  --timeout SECONDS      limit for each step, 0 for none, at most %u (default 10800)\n"
		"  -h, --help             this help\n\n"
		"A build is fsynced before it is renamed into the cache and `current` moves to it, so a crash\n"
		"never leaves a key that looks complete. When the cache's file system fills up, the message\n"
		"names it and its free space: free space there or point NESTLAB_CACHE elsewhere.\n\n"
		"Exit status: 0 built or up to date, 2 bad command line, 4 the build failed (the message\n"
		"names the log; a full disk too), 130 interrupted (the cache is left as it was).\n",
		BUILD_JOBS_MAX, BUILD_TIMEOUT_MAX_S);
}

/* the command line's changes to the default sources */
struct build_cli {
	const char *scenario;
	const char *git[2], *ref[2], *tarball[2], *patches[2];
	const char *linux_config;
	bool any_source_option;
	unsigned jobs;
	int timeout_s;
};

enum { OPT_SCENARIO = 256, OPT_GIT, OPT_REF, OPT_TARBALL, OPT_PATCHES, OPT_LINUX_CONFIG, OPT_TIMEOUT,
       OPT_SECOND = 64 };

/* apply_cli() - the default source of @what with the command line's changes */
static void apply_cli(const struct build_cli *cli, int which, const char *what, struct plan_source *src)
{
	plan_source_init_default(src, what);
	if (cli->git[which]) {
		src->kind = SCN_SRC_GIT;
		src->git = xstrdup(cli->git[which]);
		src->ref = xstrdup(cli->ref[which] ? cli->ref[which] : "HEAD");
	} else if (cli->tarball[which]) {
		src->kind = SCN_SRC_TARBALL;
		src->tarball = xstrdup(cli->tarball[which]);
	}
	if (cli->patches[which]) {
		free(src->patches);
		src->patches = strcmp(cli->patches[which], "none") ? xstrdup(cli->patches[which]) : NULL;
	}
	if (which == 1 && cli->linux_config)
		src->config = xstrdup(cli->linux_config);
}

/* build_one() - one component; prints its result line */
static int build_one(const struct build_component *comp, const struct plan_source *src,
		     const struct build_options *opts, nl_error_t *err)
{
	struct build_result res;
	cleanup_free char *took = NULL;

	if (build_run(comp, src, opts, &res, err) < 0)
		return (*err)->errnum == EINTR ? -NL_EXIT_INTERRUPTED : -NL_EXIT_SETUP;
	took = build_duration_format(res.elapsed_ms);
	if (res.cached)
		printf("%s: up to date (%llu ms): %s (key %s)\n", comp->name, (unsigned long long)res.elapsed_ms,
		       res.dir, res.key);
	else
		printf("%s: built in %s: %s (key %s, log %s)\n", comp->name, took, res.dir, res.key, res.log);
	fflush(stdout);
	build_result_release(&res);
	return NL_EXIT_OK;
}

/* parse_options() - fill @cli; returns 0 or a negative exit status */
static int parse_options(int argc, char **argv, struct build_cli *cli, nl_error_t *err)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, OPT_SCENARIO },
		{ "qemu-git", required_argument, NULL, OPT_GIT },
		{ "qemu-ref", required_argument, NULL, OPT_REF },
		{ "qemu-tarball", required_argument, NULL, OPT_TARBALL },
		{ "qemu-patches", required_argument, NULL, OPT_PATCHES },
		{ "linux-git", required_argument, NULL, OPT_GIT + OPT_SECOND },
		{ "linux-ref", required_argument, NULL, OPT_REF + OPT_SECOND },
		{ "linux-tarball", required_argument, NULL, OPT_TARBALL + OPT_SECOND },
		{ "linux-patches", required_argument, NULL, OPT_PATCHES + OPT_SECOND },
		{ "linux-config", required_argument, NULL, OPT_LINUX_CONFIG },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long number;
	int c;

	while ((c = getopt_long(argc, argv, "hj:", opts, NULL)) != -1) {
		int which = c >= OPT_GIT + OPT_SECOND;
		int base = which ? c - OPT_SECOND : c;

		if (c != 'h' && c != 'j' && c != OPT_SCENARIO && c != OPT_TIMEOUT && c != '?')
			cli->any_source_option = true;
		switch (base) {
		case OPT_SCENARIO: cli->scenario = optarg; break;
		case OPT_GIT: cli->git[which] = optarg; break;
		case OPT_REF: cli->ref[which] = optarg; break;
		case OPT_TARBALL: cli->tarball[which] = optarg; break;
		case OPT_PATCHES: cli->patches[which] = optarg; break;
		case OPT_LINUX_CONFIG: cli->linux_config = optarg; break;
		case OPT_TIMEOUT:
			if (cli_parse_number("build", "--timeout", optarg, 0, BUILD_TIMEOUT_MAX_S, &number, err) < 0)
				return -NL_EXIT_USAGE;
			cli->timeout_s = (int)number;
			break;
		case 'j':
			if (cli_parse_number("build", "-j/--jobs", optarg, 1, BUILD_JOBS_MAX, &number, err) < 0)
				return -NL_EXIT_USAGE;
			cli->jobs = (unsigned)number;
			break;
		case 'h': build_usage(stdout); return 1;
		default: return cli_usage_error(err, "build", "unknown option");
		}
	}
	for (int i = 0; i < 2; i++)
		if (cli->git[i] && cli->tarball[i])
			return cli_usage_error(err, "build", "--%s-git and --%s-tarball exclude each other",
					       i ? "linux" : "qemu", i ? "linux" : "qemu");
	if (cli->scenario && cli->any_source_option)
		return cli_usage_error(err, "build", "--scenario takes the sources from the scenario: drop the "
						     "--qemu-* and --linux-* options, or --scenario");
	if (optind != argc - 1 || (strcmp(argv[optind], "qemu") && strcmp(argv[optind], "linux") &&
				   strcmp(argv[optind], "all")))
		return cli_usage_error(err, "build", "expected one of qemu, linux, all");
	return 0;
}

int cmd_build(int argc, char **argv, nl_error_t *err)
{
	struct build_cli cli = { .timeout_s = 10800 };
	cleanup_free char *cache = NULL;
	cleanup_scenario struct scenario *scn = NULL;
	cleanup_plan struct plan *plan = NULL;
	struct plan_source qemu_src = { 0 }, linux_src = { 0 };
	struct build_options opts = { 0 };
	const char *what;
	int ret;

	ret = parse_options(argc, argv, &cli, err);
	if (ret != 0)
		return ret > 0 ? NL_EXIT_OK : ret;
	what = argv[optind];
	cache = fs_cache_dir(err);
	if (!cache)
		return -NL_EXIT_SETUP;
	if (cli.scenario) {
		struct plan_env env;

		if (scenario_parse_file(cli.scenario, &scn, err) < 0)
			return -NL_EXIT_INVALID;
		plan_env_init_default(&env, NULL);
		env.env_placeholders = true;
		ret = plan_resolve(scn, &env, &plan, err);
		plan_env_release(&env);
		if (ret < 0)
			return -NL_EXIT_INVALID;
	} else {
		apply_cli(&cli, 0, "qemu", &qemu_src);
		apply_cli(&cli, 1, "linux", &linux_src);
	}
	opts = (struct build_options){
		.cache_dir = cache, .jobs = cli.jobs, .step_timeout_ms = cli.timeout_s ? cli.timeout_s * 1000 : -1,
		.progress = stderr, .progress_tty = isatty(STDERR_FILENO),
	};
	ret = NL_EXIT_OK;
	if (!strcmp(what, "qemu") || !strcmp(what, "all"))
		ret = build_one(&build_component_qemu, plan ? &plan->qemu_src : &qemu_src, &opts, err);
	if (ret == NL_EXIT_OK && (!strcmp(what, "linux") || !strcmp(what, "all")))
		ret = build_one(&build_component_linux, plan ? &plan->linux_src : &linux_src, &opts, err);
	plan_source_release(&qemu_src);
	plan_source_release(&linux_src);
	return ret;
}
