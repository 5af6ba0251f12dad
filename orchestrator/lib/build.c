/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build.c - the build pipeline of build.h: cache key, cache lookup, staging, steps, publication
 *
 * The cache under <cache>/<component>/ holds one directory per key (the artefacts and a manifest), a
 * `current` symlink to the last one built or found, `progress-steps` (how many counted steps the last
 * build took, for the next estimate) and `.lock` (one build of a component at a time). A build runs in
 * .staging-<key>-<pid> and is renamed into place only when every step, check and artefact succeeded;
 * on any failure, and on SIGINT or SIGTERM (read through the loop's signalfd), the staging directory is
 * removed and the child processes are killed, so the cache is what it was before.
 *
 * sha256 comes from sha256.c (OpenSSL's libcrypto).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#include "fs.h"
#include "sha256.h"
#include "build.h"
#include "proc.h"

#define BUILD_KEY_VERSION 1
#define LOCK_POLL_MS 1000

/* ---- sha256 ------------------------------------------------------------------------------------ */

void build_sha256_hex(const void *data, size_t len, char hex[BUILD_SHA256_HEX_LEN + 1])
{
	struct sha256 h;

	sha256_init(&h);
	sha256_update(&h, data, len);
	sha256_final_hex(&h, hex);
}

int build_sha256_file(const char *path, char hex[BUILD_SHA256_HEX_LEN + 1], nl_error_t *err)
{
	return sha256_file_hex(path, hex, err);
}

/* ---- files ------------------------------------------------------------------------------------- */

int build_log_open(struct build *b, const char *path, nl_error_t *err)
{
	cleanup_free char *dir = xstrdup(path);

	build_log_close(b);
	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, err) < 0)
		return -1;
	b->log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
	if (b->log_fd < 0)
		return nl_error(err, errno, "create the log %s", path);
	return 0;
}

void build_log_close(struct build *b)
{
	if (b->log_fd >= 0)
		close(b->log_fd);
	b->log_fd = -1;
}

void build_error_note_log(nl_error_t *err, const char *path)
{
	char *msg;

	if (!*err || !path)
		return;
	if (strchr((*err)->msg, '\n'))	/* after the output's last lines */
		msg = xasprintf("%s\n  full log: %s", (*err)->msg, path);
	else
		msg = xasprintf("%s (full log: %s)", (*err)->msg, path);
	free((*err)->msg);
	(*err)->msg = msg;
}

char *build_current_path(const char *cache_dir, const char *component, const char *artefact)
{
	return xasprintf("%s/%s/current/%s", cache_dir, component, artefact);
}

/* ---- templates --------------------------------------------------------------------------------- */

char *build_expand(const struct build *b, const char *tmpl)
{
	const char *path_env = getenv("PATH");
	cleanup_free char *jobs = xasprintf("%u", b->jobs);
	const struct {
		const char *name, *value;
	} vars[] = {
		{ "@SRC@", b->src_dir }, { "@BUILD@", b->build_dir }, { "@TOOLS@", b->tools_dir },
		{ "@JOBS@", jobs }, { "@PATH@", path_env ? path_env : "/usr/bin:/bin" },
	};
	struct strbuf sb = STRBUF_INIT;

	for (const char *p = tmpl; *p;) {
		size_t i;

		for (i = 0; i < ARRAY_SIZE(vars); i++)
			if (!strncmp(p, vars[i].name, strlen(vars[i].name)))
				break;
		if (i < ARRAY_SIZE(vars)) {
			strbuf_puts(&sb, vars[i].value ? vars[i].value : "");
			p += strlen(vars[i].name);
		} else {
			strbuf_add(&sb, p, 1);
			p++;
		}
	}
	if (!sb.str)
		strbuf_puts(&sb, "");
	return strbuf_detach(&sb);
}

/* expand_argv() - a step's argv with the templates filled in; @CONFIGS@ becomes one word per fragment */
static char **expand_argv(const struct build *b, const char *const *tmpl)
{
	char **argv = xcalloc(1, sizeof(char *));

	for (size_t i = 0; tmpl[i]; i++) {
		if (!strcmp(tmpl[i], "@CONFIGS@")) {
			for (size_t c = 0; b->configs && b->configs[c]; c++)
				strv_push(&argv, b->configs[c]);
			continue;
		}
		{
			cleanup_free char *word = build_expand(b, tmpl[i]);

			strv_push(&argv, word);
		}
	}
	return argv;
}

static char **expand_env(const struct build *b)
{
	char **env = xcalloc(1, sizeof(char *));

	for (size_t i = 0; b->comp->env && b->comp->env[i]; i++) {
		cleanup_free char *value = build_expand(b, b->comp->env[i]);

		strv_push(&env, value);
	}
	return env;
}

/* ---- the cache key ----------------------------------------------------------------------------- */

/* key_add_file() - "WHAT NAME SHA256" for a patch or config fragment */
static int key_add_file(struct strbuf *sb, const char *what, const char *path, nl_error_t *err)
{
	char hex[BUILD_SHA256_HEX_LEN + 1];
	const char *slash = strrchr(path, '/');

	if (build_sha256_file(path, hex, err) < 0)
		return nl_error_wrap(err, "%s", what);
	strbuf_printf(sb, "%s %s %s\n", what, slash ? slash + 1 : path, hex);
	return 0;
}

int build_key_text(const struct build *b, const char *compiler, char **out, nl_error_t *err)
{
	const struct build_component *comp = b->comp;
	struct strbuf sb = STRBUF_INIT;

	strbuf_printf(&sb, "nestlab-build-key %d\ncomponent %s\nsource %s\ntools %s\ncompiler %s\n",
		      BUILD_KEY_VERSION, comp->name, b->source_id ? b->source_id : "none",
		      b->tools_id ? b->tools_id : "none", compiler ? compiler : "unknown");
	for (size_t i = 0; b->patches && b->patches[i]; i++)
		if (key_add_file(&sb, "patch", b->patches[i], err) < 0)
			goto fail;
	for (size_t i = 0; b->configs && b->configs[i]; i++)
		if (key_add_file(&sb, "config", b->configs[i], err) < 0)
			goto fail;
	for (size_t i = 0; comp->env && comp->env[i]; i++)
		strbuf_printf(&sb, "env %s\n", comp->env[i]);
	for (size_t i = 0; i < comp->n_steps; i++) {
		const struct build_step *s = &comp->steps[i];

		strbuf_printf(&sb, "step %s cwd=%s progress=%d argv=", s->name, s->cwd ? s->cwd : "",
			      (int)s->progress);
		for (size_t a = 0; s->argv[a]; a++)
			strbuf_printf(&sb, "%s%s", a ? " " : "", s->argv[a]);
		strbuf_puts(&sb, "\n");
	}
	for (size_t i = 0; i < comp->n_artefacts; i++)
		strbuf_printf(&sb, "artefact %s %s\n", comp->artefacts[i].from, comp->artefacts[i].name);
	*out = strbuf_detach(&sb);
	return 0;
fail:
	strbuf_release(&sb);
	return -1;
}

char *build_key_from_text(const char *text)
{
	char hex[BUILD_SHA256_HEX_LEN + 1];

	build_sha256_hex(text, strlen(text), hex);
	return xstrndup(hex, BUILD_KEY_HEX_LEN);
}

/* compiler_line() - first line of `gcc --version`, "unknown" when gcc is missing (the build will say) */
static char *compiler_line(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *output = NULL;
	char *argv[] = { "gcc", "--version", NULL };

	if (proc_run(argv, 30000, &output, &err) < 0)
		return xstrdup("unknown");
	output[strcspn(output, "\n")] = '\0';
	return xstrdup(output);
}

/* ---- set-up ------------------------------------------------------------------------------------ */

/* abs_path() - @path made absolute against the working directory (the file need not exist) */
static char *abs_path(const char *path)
{
	char cwd[4096];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return xstrdup(path);
	return xasprintf("%s/%s", cwd, path);
}

/* build_prepare() - paths, series, config fragments */
static int build_prepare(struct build *b, nl_error_t *err)
{
	const struct build_component *comp = b->comp;
	cleanup_free char *config_dir = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	b->jobs = b->opts->jobs ? b->opts->jobs : (cpus > 0 ? (unsigned)cpus : 1);
	b->cache_dir = abs_path(b->opts->cache_dir);
	b->comp_dir = xasprintf("%s/%s", b->cache_dir, comp->name);
	b->tools_dir = xasprintf("%s/tools/%s", b->cache_dir, comp->name);
	if (b->src->patches) {
		b->series_dir = abs_path(b->src->patches);
		if (build_series_read(b->series_dir, &b->patches, err) < 0)
			return -1;
	}
	/* the config fragments live beside the series; with no series, in the default directory */
	if (b->series_dir || comp->default_patches)
		config_dir = abs_path(b->series_dir ? b->series_dir : comp->default_patches);
	b->configs = xcalloc(1, sizeof(char *));
	for (size_t i = 0; config_dir && comp->configs && comp->configs[i]; i++) {
		cleanup_free char *path = xasprintf("%s/%s", config_dir, comp->configs[i]);

		if (access(path, R_OK) < 0)
			return nl_error(err, errno, "config fragment %s (it belongs beside the series file)", path);
		strv_push(&b->configs, path);
	}
	if (b->src->config) {
		cleanup_free char *extra = abs_path(b->src->config);

		if (access(extra, R_OK) < 0)
			return nl_error(err, errno, "config fragment %s (sources.linux.config)", extra);
		strv_push(&b->configs, extra);
	}
	return fs_mkdir_p(b->comp_dir, err);
}

/* lock_component() - one build per component at a time; waits (Ctrl-C still works) while another runs */
static int lock_component(struct build *b, int *lock_fd, nl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/.lock", b->comp_dir);
	cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	bool told = false;

	if (fd < 0)
		return nl_error(err, errno, "open %s", path);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return nl_error(err, errno, "lock %s", path);
		if (!told && b->opts->progress)
			fprintf(b->opts->progress, "[%s] waiting for another nestlab build of %s (%s)\n",
				b->comp->name, b->comp->name, path);
		told = true;
		if (loop_run_until(&b->loop, NULL, NULL, LOCK_POLL_MS, err) < 0) {
			if ((*err)->errnum != ETIMEDOUT)
				return -1;
			nl_error_release(err);
		}
	}
	*lock_fd = fd;
	fd = -1;
	return 0;
}

static unsigned read_progress_steps(const struct build *b)
{
	cleanup_free char *path = xasprintf("%s/progress-steps", b->comp_dir);
	cleanup_free char *text = read_file_text(path);

	return text ? (unsigned)strtoul(text, NULL, 10) : 0;
}

/* ---- the work ---------------------------------------------------------------------------------- */

/* run_steps() - every step of the component, with its check */
static int run_steps(struct build *b, nl_error_t *err)
{
	const struct build_component *comp = b->comp;

	for (size_t i = 0; i < comp->n_steps; i++) {
		const struct build_step *s = &comp->steps[i];
		cleanup_strv char **argv = expand_argv(b, s->argv);
		cleanup_strv char **env = expand_env(b);
		cleanup_free char *cwd = build_expand(b, s->cwd ? s->cwd : "@BUILD@");
		struct build_exec x = { .what = s->name, .argv = argv, .env = env, .cwd = cwd, .progress = s->progress };

		if (build_exec_run(b, &x, err) < 0)
			return nl_error_wrap(err, "%s", s->name);
		if (comp->after_step && comp->after_step(b, i, err) < 0)
			return nl_error_wrap(err, "%s", s->name);
	}
	return 0;
}

/* collect() - move the artefacts into @out_dir, write the manifest */
static int collect(struct build *b, const char *out_dir, nl_error_t *err)
{
	struct strbuf manifest = STRBUF_INIT;
	cleanup_free char *manifest_path = xasprintf("%s/manifest", out_dir);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int ret = -1;

	if (mkdir(out_dir, 0755) < 0)
		return nl_error(err, errno, "create %s", out_dir);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	strbuf_printf(&manifest, "# nestlab build manifest: the key is the sha256 of the lines before \"key\"\n%s"
				 "key %s\nbuilt %s\nbuild-seconds %llu\nprogress-steps %u\n",
		      b->key_text, b->key, stamp, (unsigned long long)((now_ms() - b->started_ms) / 1000),
		      b->progress_steps);
	for (size_t i = 0; i < b->comp->n_artefacts; i++) {
		const struct build_artefact *a = &b->comp->artefacts[i];
		cleanup_free char *from = build_expand(b, a->from);
		cleanup_free char *to = xasprintf("%s/%s", out_dir, a->name);
		struct stat st;

		if (stat(from, &st) < 0 || !S_ISREG(st.st_mode)) {
			nl_error(err, errno ? errno : EINVAL, "the build did not produce %s (expected at %s)", a->name, from);
			goto out;
		}
		if (rename(from, to) < 0) {
			nl_error(err, errno, "move %s to %s", from, to);
			goto out;
		}
		strbuf_printf(&manifest, "artefact %s %lld\n", a->name, (long long)st.st_size);
	}
	ret = fs_write_text(manifest_path, manifest.str, err);
out:
	strbuf_release(&manifest);
	return ret;
}

/* set_current() - <comp_dir>/current -> <key>, replaced atomically and durably */
static int set_current(const struct build *b, nl_error_t *err)
{
	cleanup_free char *link = xasprintf("%s/current", b->comp_dir);

	return fs_symlink_replace(link, b->key, err);
}

/* publish() - the staging output becomes <comp_dir>/<key>; `current` follows */
static int publish(struct build *b, nl_error_t *err)
{
	cleanup_free char *out_dir = xasprintf("%s/out", b->staging);
	cleanup_free char *final = xasprintf("%s/%s", b->comp_dir, b->key);
	cleanup_free char *steps = xasprintf("%u\n", b->progress_steps);
	cleanup_free char *steps_path = xasprintf("%s/progress-steps", b->comp_dir);

	/* the artefacts and the manifest, then the directory, then its name, then `current` (fs.h) */
	if (collect(b, out_dir, err) < 0 || fs_publish(out_dir, final, err) < 0)
		return -1;
	if (b->progress_steps && fs_write_text(steps_path, steps, err) < 0)
		return -1;
	return set_current(b, err);
}

/* build_work() - everything that happens in the staging directory */
static int build_work(struct build *b, nl_error_t *err)
{
	b->staging = xasprintf("%s/.staging-%s-%d", b->comp_dir, b->key, (int)getpid());
	b->src_dir = xasprintf("%s/src", b->staging);
	b->build_dir = xasprintf("%s/build", b->staging);
	if (fs_mkdir_p(b->build_dir, err) < 0)
		return -1;
	b->log_path = xasprintf("%s/logs/build-%s-%s.log", b->cache_dir, b->comp->name, b->key);
	if (build_log_open(b, b->log_path, err) < 0)
		return -1;
	build_log(b, "build %s, key %s, %u jobs\n%s", b->comp->name, b->key, b->jobs, b->key_text);
	b->progress_last_total = read_progress_steps(b);
	if (build_source_extract(b, err) < 0)
		return nl_error_wrap(err, "extract the source");
	if (build_apply_series(b, err) < 0)
		return -1;
	if (run_steps(b, err) < 0)
		return -1;
	return publish(b, err);
}

/* build_identify() - everything the key is made of, then the key */
static int build_identify(struct build *b, nl_error_t *err)
{
	cleanup_free char *compiler = NULL;

	if (build_source_resolve(b, err) < 0)
		return -1;
	if (b->comp->tools && b->comp->tools(b, err) < 0)
		return nl_error_wrap(err, "tools");
	compiler = compiler_line();
	if (build_key_text(b, compiler, &b->key_text, err) < 0)
		return -1;
	b->key = build_key_from_text(b->key_text);
	return 0;
}

static bool is_built(const struct build *b)
{
	cleanup_free char *manifest = xasprintf("%s/%s/manifest", b->comp_dir, b->key);

	return access(manifest, F_OK) == 0;
}

static void build_release(struct build *b)
{
	build_log_close(b);
	loop_release(&b->loop);
	free(b->cache_dir);
	free(b->comp_dir);
	free(b->series_dir);
	strv_free(b->patches);
	strv_free(b->configs);
	free(b->tools_dir);
	free(b->tools_id);
	free(b->source_id);
	free(b->source_tarball);
	free(b->source_git);
	free(b->source_commit);
	free(b->key);
	free(b->key_text);
	free(b->staging);
	free(b->src_dir);
	free(b->build_dir);
	free(b->log_path);
}

/* fill_result() - what the caller learns; moves strings out of @b */
static void fill_result(struct build *b, struct build_result *res, bool cached)
{
	res->key = xstrdup(b->key);
	res->dir = xasprintf("%s/%s", b->comp_dir, b->key);
	res->log = b->log_path ? xstrdup(b->log_path)
			       : xasprintf("%s/logs/build-%s-%s.log", b->cache_dir, b->comp->name, b->key);
	res->source = xstrdup(b->source_id ? b->source_id : "none");
	res->cached = cached;
	res->elapsed_ms = now_ms() - b->started_ms;
}

/* build_locked() - under the component's lock: look again, then build */
static int build_locked(struct build *b, struct build_result *res, nl_error_t *err)
{
	fs_remove_stale(b->comp_dir, ".staging-");	/* builds that died: we hold the lock */
	if (is_built(b)) {	/* another nestlab built it while we waited */
		fill_result(b, res, true);
		return set_current(b, err);
	}
	if (build_work(b, err) < 0) {
		cleanup_error nl_error_t rm_err = NULL;

		if (b->log_fd >= 0)
			build_log(b, "FAILED: %s", *err ? (*err)->msg : "unknown error");
		if (b->staging)
			fs_error_mark_full(err, b->staging);	/* while the partial build still fills it */
		if (b->staging && fs_remove_tree(b->staging, &rm_err) < 0 && b->log_fd >= 0)
			build_log(b, "%s", rm_err->msg);
		build_error_note_log(err, b->log_path);
		return -1;
	}
	{
		cleanup_error nl_error_t rm_err = NULL;

		fs_remove_tree(b->staging, &rm_err);
	}
	build_log(b, "done in %llu s", (unsigned long long)((now_ms() - b->started_ms) / 1000));
	fill_result(b, res, false);
	return 0;
}

int build_run(const struct build_component *comp, const struct plan_source *src, const struct build_options *opts,
	      struct build_result *res, nl_error_t *err)
{
	struct build b = { .comp = comp, .src = src, .opts = opts, .log_fd = -1, .loop = LOOP_INIT };
	cleanup_close int lock_fd = -1;
	int ret = -1;

	*res = (struct build_result){ 0 };
	b.started_ms = now_ms();
	if (loop_init(&b.loop, err) < 0)
		goto out;
	if (build_prepare(&b, err) < 0 || build_identify(&b, err) < 0)
		goto out;
	if (is_built(&b)) {
		fill_result(&b, res, true);
		ret = set_current(&b, err);
		goto out;
	}
	if (lock_component(&b, &lock_fd, err) < 0)
		goto out;
	ret = build_locked(&b, res, err);
out:
	if (ret < 0) {
		cleanup_free char *what = xasprintf("the build of %s", comp->name);

		/* the staging directory is gone by now: the free space shown is what a new try starts with */
		fs_error_explain_full(err, b.cache_dir ? b.cache_dir : opts->cache_dir, what);
		nl_error_wrap(err, "build %s", comp->name);
	}
	build_release(&b);
	return ret;
}

void build_result_release(struct build_result *res)
{
	free(res->key);
	free(res->dir);
	free(res->log);
	free(res->source);
	*res = (struct build_result){ 0 };
}
