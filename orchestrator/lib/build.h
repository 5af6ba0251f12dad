/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build.h - patched QEMU and Linux built from source, cached by content (issue 3)
 *
 * A component (QEMU, Linux, or a test's tiny fake) is data: its build steps are argv templates run
 * through the proc API, its artefacts are paths in the build tree, and two optional hooks fetch tools
 * and check a step's result. build_run() does the rest the same way for every component:
 *
 *   1. read the patch series (patches/<name>/series) and the source pins (patches/<name>/SOURCES);
 *   2. resolve the source: a Debian source package (downloaded once into <cache>/src/ with
 *      `apt-get source --download-only`, orig tarball sha256 checked against SOURCES), a local git
 *      tree and ref, or a tarball;
 *   3. compute the cache key: sha256 over the source identity (version + tarball sha256, or git commit),
 *      the bytes of every patch in series order, the config fragments, the step templates (configure
 *      flags), the tools and the first line of `gcc --version`;
 *   4. when <cache>/<name>/<key>/manifest exists, point <cache>/<name>/current at it and stop: a no-op;
 *   5. otherwise, in a staging directory <cache>/<name>/.staging-<key>-<pid>: extract, apply the series
 *      with `patch -p1 --batch --forward`, run the steps (one progress line, full log in
 *      <cache>/logs/build-<name>-<key>.log), collect the artefacts and a manifest, rename the result to
 *      <cache>/<name>/<key> and repoint `current`. Any failure or Ctrl-C removes the staging directory,
 *      so the cache stays as it was; every error names the log.
 *
 * Templates in argv, cwd and env: @SRC@ (patched source tree), @BUILD@ (build tree), @TOOLS@ (the
 * component's tools directory), @JOBS@ (parallel jobs), @PATH@ (nestlab's $PATH), and @CONFIGS@, which
 * stands alone in argv and expands to the absolute paths of the config fragments, one word each.
 */
#ifndef NESTLAB_BUILD_H
#define NESTLAB_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "loop.h"
#include "plan.h"

#define BUILD_KEY_HEX_LEN 16		/* the cache key: the first 16 hex digits of the sha256 */
#define BUILD_SHA256_HEX_LEN 64

/* how a step's output tells its progress */
enum build_progress {
	BUILD_PROGRESS_NONE = 0,	/* elapsed time only */
	BUILD_PROGRESS_NINJA,		/* "[812/2843] Compiling C object ..." */
	BUILD_PROGRESS_KBUILD,		/* "  CC      kernel/fork.o" lines, counted against the last build */
};

struct build_step {
	const char *name;		/* "configure", "compile": messages and the log */
	const char *cwd;		/* template, e.g. "@BUILD@" */
	const char *const *argv;	/* NULL-terminated templates */
	enum build_progress progress;
};

struct build_artefact {
	const char *from;		/* template of its path after the steps, e.g. "@BUILD@/.config" */
	const char *name;		/* its file name in <cache>/<component>/<key>/ */
};

struct build;

struct build_component {
	const char *name;		/* "qemu": cache directory, log names, progress prefix */
	const char *package;		/* Debian source package */
	const char *default_patches;	/* series directory when the plan names none: "patches/qemu" */
	const char *const *configs;	/* config fragment file names in the series directory, or NULL */
	const char *const *env;		/* "KEY=VALUE" templates for every step, or NULL */
	const struct build_step *steps;
	size_t n_steps;
	const struct build_artefact *artefacts;
	size_t n_artefacts;
	unsigned progress_estimate;	/* BUILD_PROGRESS_KBUILD: steps assumed before any build ran */
	/* tools() - optional, before the key: make b->tools_dir usable, set b->tools_id (free text) */
	int (*tools)(struct build *b, nl_error_t *err);
	/* after_step() - optional: check what step @index produced (e.g. the merged kernel config) */
	int (*after_step)(struct build *b, size_t index, nl_error_t *err);
};

/* the QEMU and Linux components (build_qemu.c, build_linux.c) */
extern const struct build_component build_component_qemu;
extern const struct build_component build_component_linux;

struct build_options {
	const char *cache_dir;		/* $NESTLAB_CACHE */
	unsigned jobs;			/* parallel jobs; 0 = online CPUs */
	int step_timeout_ms;		/* per child process; < 0 = none */
	FILE *progress;			/* progress line (stderr), NULL = none */
	bool progress_tty;		/* rewrite one line in place; else a line every interval */
	unsigned progress_interval_ms;	/* 0: 1 s on a tty, 10 s otherwise */
	const char *apt_dir;		/* NULL: /etc/apt (Debian sources only) */
};

struct build_result {
	char *key;			/* BUILD_KEY_HEX_LEN hex digits */
	char *dir;			/* <cache>/<component>/<key> */
	char *log;			/* the build log (named even when cached: it may be gone) */
	char *source;			/* the source identity, e.g. "debian qemu=1:10.0.13+ds-0+deb13u1 ..." */
	bool cached;			/* nothing was built */
	uint64_t elapsed_ms;
};

/* the runtime state of one build_run(); hooks read it and may set tools_id */
struct build {
	const struct build_component *comp;
	const struct plan_source *src;
	const struct build_options *opts;
	char *cache_dir;
	char *comp_dir;			/* <cache>/<name> */
	char *series_dir;		/* patches directory, or NULL */
	char **patches;			/* absolute paths, series order */
	char **configs;			/* absolute paths of the config fragments */
	char *tools_dir;		/* <cache>/tools/<name> */
	char *tools_id;			/* set by comp->tools() */
	char *source_id;		/* source identity */
	char *source_tarball;		/* tarball to extract, or NULL (git) */
	char *source_git, *source_commit;
	char *key, *key_text;
	char *staging;			/* <comp_dir>/.staging-<key>-<pid> */
	char *src_dir, *build_dir;	/* in staging */
	char *log_path;
	int log_fd;
	unsigned jobs;
	struct loop loop;		/* SIGINT/SIGTERM end the build; children are killed */
	uint64_t started_ms;
	unsigned progress_last_total;	/* BUILD_PROGRESS_KBUILD steps of the last build, 0 = unknown */
	unsigned progress_steps;	/* steps counted in this build */
};

/**
 * build_run() - build one component from @src, or find it in the cache
 * @comp:	what to build
 * @src:	where the source comes from (the plan's qemu_src or linux_src)
 * @opts:	cache, jobs, progress output
 * @res:	on success, the key, the output directory and whether it was cached (build_result_release())
 * @err:	on failure, what went wrong and the log to read; errnum EINTR when interrupted
 *
 * Return: 0, or -1 with @err set; the cache is left as it was on failure.
 */
int build_run(const struct build_component *comp, const struct plan_source *src, const struct build_options *opts,
	      struct build_result *res, nl_error_t *err);
void build_result_release(struct build_result *res);

/* build_current_path() - <cache>/<component>/current/<artefact>, the path plan.c uses; caller frees */
char *build_current_path(const char *cache_dir, const char *component, const char *artefact);

/* ---- pieces, exposed for the tests ---------------------------------------------------------------- */

/* build_sha256_hex() - sha256 of @len bytes as 64 hex digits in @hex (65 bytes) */
void build_sha256_hex(const void *data, size_t len, char hex[BUILD_SHA256_HEX_LEN + 1]);
/* build_sha256_file() - sha256 of a file's bytes; 0 or -1 with @err set */
int build_sha256_file(const char *path, char hex[BUILD_SHA256_HEX_LEN + 1], nl_error_t *err);

/**
 * build_key_text() - the text the cache key is the sha256 of
 * @b:		comp, patches, configs, tools_id and source_id set
 * @compiler:	first line of `gcc --version`
 * @out:	the text (caller frees)
 * @err:	a patch or config that cannot be read
 *
 * Return: 0 or -1.
 */
int build_key_text(const struct build *b, const char *compiler, char **out, nl_error_t *err);
/* build_key_from_text() - the first BUILD_KEY_HEX_LEN hex digits of sha256(@text); caller frees */
char *build_key_from_text(const char *text);

/**
 * build_series_read() - the patches of a series file, in order
 * @series_dir:	directory holding `series` and the patches
 * @out:	absolute paths (strv_free())
 * @err:	"DIR/series:3: 0003-x.patch: No such file or directory", bad lines
 *
 * One patch file name per line; blank lines and lines starting with '#' are skipped, and a '#' after
 * white space starts a comment. Return: 0 or -1.
 */
int build_series_read(const char *series_dir, char ***out, nl_error_t *err);

/**
 * build_patch_failure() - turn `patch` output into "FILE: hunk #N FAILED at L" lines
 * @output:	what `patch -p1 --batch --forward` printed
 *
 * Return: one line per failed hunk, missing file or reversed patch (caller frees), or NULL when the
 * output names none.
 */
char *build_patch_failure(const char *output);

/* build_apply_series() - apply b->patches to b->src_dir in order; an error names patch, file and hunk */
int build_apply_series(struct build *b, nl_error_t *err);

/* progress lines: ninja's "[n/N]", kbuild's "  CC  file" */
bool build_progress_parse_ninja(const char *line, unsigned *done, unsigned *total);
bool build_progress_is_kbuild_step(const char *line);
/*
 * build_progress_format() - "[qemu] step 812/2843 (28%) elapsed 3m12s eta 8m05s"; @total 0: unknown;
 * @estimated: the total is the last build's count ("~2000"); @step_ms: time spent in this counting
 * step, for the estimate; caller frees
 */
char *build_progress_format(const char *name, unsigned done, unsigned total, bool estimated, uint64_t elapsed_ms,
			    uint64_t step_ms);
/* build_duration_format() - "3m12s", "1h02m03s", "45s"; caller frees */
char *build_duration_format(uint64_t ms);

/* build_exec.c: every child of a build, with its output in the log */
struct build_exec {
	const char *what;		/* "configure": messages */
	char **argv;
	char **env;
	const char *cwd;
	enum build_progress progress;
	struct strbuf *capture;		/* optional: the output is kept here too */
};

/**
 * build_exec_run() - run one child; its stdout and stderr go to the log, progress to the progress line
 * @b:		build (loop, log, options)
 * @x:		what to run
 * @err:	"NAME exited with status 2 (log: PATH)", with the last lines of output; EINTR on Ctrl-C
 *
 * Return: 0 or -1.
 */
int build_exec_run(struct build *b, const struct build_exec *x, nl_error_t *err);
/* build_log() - a line in the build log, prefixed with "nestlab: " */
void build_log(struct build *b, const char *fmt, ...) PRINTF_FMT(2, 3);
/* build_expand() - @tmpl with the templates filled in; caller frees */
char *build_expand(const struct build *b, const char *tmpl);

/* build_source.c: sources */

/**
 * build_source_resolve() - decide where the source comes from; downloads a Debian source when needed
 * @b:		comp, src, series_dir, cache_dir set; sets source_id and source_tarball or source_git/commit
 * @err:	error
 *
 * Return: 0 or -1.
 */
int build_source_resolve(struct build *b, nl_error_t *err);
/* build_source_extract() - the source tree into b->src_dir (tar -x, or git archive | tar -x) */
int build_source_extract(struct build *b, nl_error_t *err);

/* build_apt.c: Debian's archive, found through the host's apt configuration */

/**
 * build_apt_archive() - the URI and Signed-By of the host's Debian archive entry
 * @apt_dir:	/etc/apt (or a test's copy)
 * @host_suite:	the host's codename (bookworm); the entry whose Suites holds it is the archive
 * @uri, @signed_by: results (caller frees); *signed_by may be NULL
 *
 * Reads sources.list.d/ *.sources (deb822) and sources.list / *.list (one-line). Return: 0 or -1.
 */
int build_apt_archive(const char *apt_dir, const char *host_suite, char **uri, char **signed_by, nl_error_t *err);
/* build_apt_has_deb_src() - true when an enabled deb-src entry for @suite exists under @apt_dir */
bool build_apt_has_deb_src(const char *apt_dir, const char *suite);
/**
 * build_apt_ensure_deb_src() - add the deb-src entry for @suite when no entry has it
 * @apt_dir:	/etc/apt
 * @host_suite:	the host's codename, NULL = build_apt_host_suite()
 * @suite:	"trixie"
 * @may_write:	false when not root: then a missing entry is an error that says what to add
 * @added:	set true when the file nestlab-@suite-src.sources was written (then run apt-get update)
 *
 * Return: 0 or -1.
 */
int build_apt_ensure_deb_src(const char *apt_dir, const char *host_suite, const char *suite, bool may_write, bool *added,
			     nl_error_t *err);
/* build_apt_host_suite() - VERSION_CODENAME of /etc/os-release; caller frees; NULL when unknown */
char *build_apt_host_suite(void);
/**
 * build_apt_source() - `apt-get source --download-only PKG=VERSION` (or PKG/SUITE) into @dir
 * Return: 0 or -1; the error has apt's message.
 */
int build_apt_source(struct build *b, const char *request, const char *dir, nl_error_t *err);
/**
 * build_apt_private_commands() - `apt-get update` and `apt-get download PKG/@suite...` on the private apt
 * state of @suite under <@cache_dir>/apt/@suite (its sources.list is written here from the host's Debian
 * entry, so the host's own apt sources stay untouched)
 * @apt_dir:	/etc/apt (or a test's copy); NULL: /etc/apt
 * @cache_dir:	$NESTLAB_CACHE
 * @suite:	the Debian suite whose binary packages it reaches
 * @packages:	package names, NULL-terminated
 * @update, @download:	the two argv vectors (strv_free()); run download in the directory for the .debs
 * @err:	no Debian entry to copy the archive from, or the state cannot be written
 *
 * Return: 0 or -1.
 */
int build_apt_private_commands(const char *apt_dir, const char *cache_dir, const char *suite,
			       const char *const *packages, char ***update, char ***download, nl_error_t *err);
/* build_apt_debs_in() - the names of the .deb files in @dir, sorted (strv_free()) */
char **build_apt_debs_in(const char *dir);
/**
 * build_apt_debs() - binary packages of @suite into @dir, through a private apt state under the cache
 * (the host's apt sources are not touched: a `deb` entry for another suite would let apt upgrade the host)
 */
int build_apt_debs(struct build *b, const char *suite, const char *const *packages, const char *dir,
		   nl_error_t *err);

/* build_log_open() - send build_log() and the children's output to @path (truncated) until build_log_close() */
int build_log_open(struct build *b, const char *path, nl_error_t *err);
void build_log_close(struct build *b);
/* build_error_note_log() - append " (full log: PATH)" to the message in *@err */
void build_error_note_log(nl_error_t *err, const char *path);

/**
 * build_linux_missing_symbols() - the CONFIG_X=y lines of @fragment that @dotconfig lacks
 * @dotconfig:	text of the merged .config
 * @fragment:	text of a fragment
 *
 * Return: "CONFIG_A CONFIG_B" (caller frees), or NULL when every =y symbol is =y.
 */
char *build_linux_missing_symbols(const char *dotconfig, const char *fragment);

#endif /* NESTLAB_BUILD_H */
