/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build_source.c - where a build's source comes from, how it is extracted, and the patch series
 *
 * Three kinds of source (struct plan_source):
 *  - debian: a source package version, tried in order (seen here: the newest version the index lists
 *    can answer 404), then optionally whatever the suite lists with a version prefix. The orig tarball is
 *    fetched once with `apt-get source --download-only` into <cache>/src/ and checked against the sha256
 *    that patches/<name>/SOURCES pins for that version ("debian-versions" in order; the first version's
 *    keys are orig-tarball and sha256, the second's fallback-orig-tarball and fallback-sha256). A
 *    <cache>/src/<package>_<version>.nestlab file remembers what was downloaded, so that a cached source
 *    is found without the network and without hashing 150 MB again.
 *  - git: a local tree and a ref, resolved to a commit and exported with `git archive`.
 *  - tarball: a local file, identified by its sha256.
 *
 * The series is applied with `patch -p1 --batch --forward`; when a patch does not apply, patch's output
 * ("patching file X", "Hunk #N FAILED at L", "can't find file to patch") is turned into an error that
 * names the patch, the file and the hunk.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "build.h"

/* ---- the series -------------------------------------------------------------------------------- */

int build_series_read(const char *series_dir, char ***out, nl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/series", series_dir);
	cleanup_free char *text = read_file_text(path);
	cleanup_strv char **patches = xcalloc(1, sizeof(char *));
	unsigned lineno = 0;

	if (!text)
		return nl_error(err, errno, "patch series %s (a series directory holds a file named series)", path);
	for (char *line = text, *next; line; line = next) {
		char *name, *end, *hash;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		name = line + strspn(line, " \t\r");
		if (*name == '#' || *name == '\0')
			continue;
		hash = strstr(name, " #");
		if (!hash)
			hash = strstr(name, "\t#");
		if (hash)
			*hash = '\0';
		end = name + strlen(name);
		while (end > name && strchr(" \t\r", end[-1]))
			*--end = '\0';
		if (strpbrk(name, " \t"))
			return nl_error(err, 0, "%s:%u: '%s': one patch file name per line (quilt options are not supported)",
					path, lineno, name);
		{
			cleanup_free char *patch = name[0] == '/' ? xstrdup(name) : xasprintf("%s/%s", series_dir, name);
			struct stat st;

			if (stat(patch, &st) < 0)
				return nl_error(err, errno, "%s:%u: %s", path, lineno, name);
			if (!S_ISREG(st.st_mode))
				return nl_error(err, 0, "%s:%u: %s is not a file", path, lineno, name);
			strv_push(&patches, patch);
		}
	}
	*out = patches;
	patches = NULL;
	return 0;
}

/* ---- patch's output ---------------------------------------------------------------------------- */

/* file_word() - the file name in "patching file 'x'" or "|+++ b/x\t2024-..."; caller frees */
static char *file_word(const char *s, bool strip_component)
{
	size_t len = strcspn(s, "\t\n");

	while (len && s[len - 1] == ' ')
		len--;
	if (len >= 2 && s[0] == '\'' && s[len - 1] == '\'') {
		s++;
		len -= 2;
	}
	if (strip_component) {
		const char *slash = memchr(s, '/', len);

		if (slash) {
			len -= (size_t)(slash + 1 - s);
			s = slash + 1;
		}
	}
	return xstrndup(s, len);
}

char *build_patch_failure(const char *output)
{
	struct strbuf sb = STRBUF_INIT;
	cleanup_free char *current = NULL;
	cleanup_free char *missing = NULL;
	bool want_missing = false;

	for (const char *line = output; line && *line;) {
		size_t len = strcspn(line, "\n");
		cleanup_free char *l = xstrndup(line, len);
		unsigned hunk, at;

		line += len + (line[len] == '\n');
		if (!strncmp(l, "patching file ", 14) || !strncmp(l, "checking file ", 14)) {
			free(current);
			current = file_word(l + 14, false);
		} else if (sscanf(l, "Hunk #%u FAILED at %u", &hunk, &at) == 2) {
			strbuf_printf(&sb, "%s%s: hunk #%u FAILED at line %u", sb.len ? "; " : "",
				      current ? current : "?", hunk, at);
		} else if (strstr(l, "Reversed (or previously applied) patch detected")) {
			strbuf_printf(&sb, "%s%s: reversed or already applied", sb.len ? "; " : "",
				      current ? current : "?");
		} else if (!strncmp(l, "can't find file to patch", 24)) {
			want_missing = true;
			free(missing);
			missing = NULL;
		} else if (want_missing && !strncmp(l, "|+++ ", 5)) {
			missing = file_word(l + 5, true);
		} else if (want_missing && !strncmp(l, "|--- ", 5) && !missing) {
			missing = file_word(l + 5, true);
		} else if (want_missing && strstr(l, "No file to patch")) {
			strbuf_printf(&sb, "%s%s: no such file in the source tree", sb.len ? "; " : "",
				      missing ? missing : "?");
			want_missing = false;
		} else if (!strncmp(l, "patch: **** ", 12)) {
			strbuf_printf(&sb, "%s%s", sb.len ? "; " : "", l + 12);
		}
	}
	return sb.len ? strbuf_detach(&sb) : NULL;
}

int build_apply_series(struct build *b, nl_error_t *err)
{
	for (size_t i = 0; b->patches && b->patches[i]; i++) {
		const char *name = strrchr(b->patches[i], '/') ? strrchr(b->patches[i], '/') + 1 : b->patches[i];
		char *argv[] = { "patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-d", b->src_dir,
				 "-i", b->patches[i], NULL };
		cleanup_strbuf struct strbuf output = STRBUF_INIT;
		struct build_exec x = { .what = "patch", .argv = argv, .capture = &output };
		cleanup_free char *what = NULL;

		if (build_exec_run(b, &x, err) == 0)
			continue;
		what = build_patch_failure(output.str ? output.str : "");
		if (what && (*err)->errnum != EINTR)
			nl_error(err, 0, "patch %s (%zu of %zu in %s/series) does not apply: %s", name, i + 1,
				 strv_len(b->patches), b->series_dir, what);
		else
			nl_error_wrap(err, "patch %s", name);
		return -1;
	}
	return 0;
}

/* ---- SOURCES pins ------------------------------------------------------------------------------ */

/* sources_get() - the value of @key in a SOURCES text ("key value" lines), or NULL; caller frees */
static char *sources_get(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line;) {
		size_t len = strcspn(line, "\n");

		if (len > klen && !strncmp(line, key, klen) && (line[klen] == ' ' || line[klen] == '\t')) {
			const char *v = line + klen + strspn(line + klen, " \t");
			size_t vlen = len - (size_t)(v - line);

			while (vlen && strchr(" \t\r", v[vlen - 1]))
				vlen--;
			return xstrndup(v, vlen);
		}
		line += len + (line[len] == '\n');
	}
	return NULL;
}

/* source_pin() - the orig tarball and sha256 SOURCES pins for @version; false when none */
static bool source_pin(const struct build *b, const char *version, char **orig, char **sha256)
{
	cleanup_free char *path = b->series_dir ? xasprintf("%s/SOURCES", b->series_dir) : NULL;
	cleanup_free char *text = path ? read_file_text(path) : NULL;
	cleanup_free char *versions = text ? sources_get(text, "debian-versions") : NULL;
	unsigned index = 0;

	if (!versions)
		return false;
	for (char *save = NULL, *v = strtok_r(versions, " \t", &save); v; v = strtok_r(NULL, " \t", &save), index++) {
		cleanup_free char *prefix = index == 0 ? xstrdup("") : index == 1 ? xstrdup("fallback-")
										    : xasprintf("fallback%u-", index);
		cleanup_free char *orig_key = xasprintf("%sorig-tarball", prefix);
		cleanup_free char *sha_key = xasprintf("%ssha256", prefix);

		if (strcmp(v, version))
			continue;
		*orig = sources_get(text, orig_key);
		*sha256 = sources_get(text, sha_key);
		if (*orig && *sha256)
			return true;
		free(*orig);
		free(*sha256);
		*orig = *sha256 = NULL;
		return false;
	}
	return false;
}

/* ---- Debian source packages -------------------------------------------------------------------- */

/* info_path() - <cache>/src/<package>_<request>.nestlab, ':' and '/' made safe */
static char *info_path(const struct build *b, const char *request)
{
	char *path = xasprintf("%s/src/%s_%s.nestlab", b->cache_dir, b->comp->package, request);

	for (char *p = path + strlen(b->cache_dir) + 5; *p; p++)
		if (*p == ':' || *p == '/')
			*p = '_';
	return path;
}

/* debian_use() - take a downloaded tarball: identity and path */
static void debian_use(struct build *b, const char *version, const char *orig, const char *sha256)
{
	b->source_id = xasprintf("debian %s=%s %s sha256=%s", b->comp->package, version, orig, sha256);
	b->source_tarball = xasprintf("%s/src/%s", b->cache_dir, orig);
}

/*
 * debian_cached() - @request (a version, or a suite) downloaded before and still in the cache; with a
 * pin, only when the recorded sha256 is the pinned one
 */
static bool debian_cached(struct build *b, const char *request, const char *prefix)
{
	cleanup_free char *path = info_path(b, request);
	cleanup_free char *text = read_file_text(path);
	cleanup_free char *version = text ? sources_get(text, "version") : NULL;
	cleanup_free char *orig = text ? sources_get(text, "orig-tarball") : NULL;
	cleanup_free char *sha = text ? sources_get(text, "sha256") : NULL;
	cleanup_free char *pin_orig = NULL, *pin_sha = NULL;
	cleanup_free char *tarball = NULL;

	if (!version || !orig || !sha || strchr(orig, '/'))
		return false;
	if (prefix && strncmp(version, prefix, strlen(prefix)))
		return false;
	if (source_pin(b, version, &pin_orig, &pin_sha) && (strcmp(pin_sha, sha) || strcmp(pin_orig, orig)))
		return false;
	tarball = xasprintf("%s/src/%s", b->cache_dir, orig);
	if (access(tarball, R_OK) < 0)
		return false;
	debian_use(b, version, orig, sha);
	return true;
}

/* find_suffix() - the one file in @dir whose name contains @part; caller frees; NULL if none or several */
static char *find_in_dir(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;
	unsigned n = 0;

	if (!d)
		return NULL;
	while ((de = readdir(d)))
		if (strstr(de->d_name, part) && n++ == 0)
			found = xstrdup(de->d_name);
	closedir(d);
	if (n != 1) {
		free(found);
		return NULL;
	}
	return found;
}

/* dsc_version() - "Version:" of the one .dsc in @dir; caller frees */
static char *dsc_version(const char *dir)
{
	cleanup_free char *dsc = find_in_dir(dir, ".dsc");
	cleanup_free char *path = dsc ? xasprintf("%s/%s", dir, dsc) : NULL;
	cleanup_free char *text = path ? read_file_text(path) : NULL;
	char *v = text ? strstr(text, "\nVersion: ") : NULL;

	return v ? xstrndup(v + 10, strcspn(v + 10, "\n")) : NULL;
}

/* debian_take() - check and keep what apt-get source put in @dir; writes the .nestlab record */
static int debian_take(struct build *b, const char *request, const char *dir, const char *prefix, nl_error_t *err)
{
	cleanup_free char *version = dsc_version(dir);
	cleanup_free char *pin_orig = NULL, *pin_sha = NULL;
	cleanup_free char *orig = NULL, *from = NULL, *to = NULL, *info = NULL, *record = NULL;
	char sha[BUILD_SHA256_HEX_LEN + 1];

	if (!version)
		return nl_error(err, 0, "%s: apt-get source left no .dsc in %s", request, dir);
	if (prefix && strncmp(version, prefix, strlen(prefix)))
		return nl_error(err, 0, "%s gave version %s, which does not start with %s", request, version, prefix);
	if (source_pin(b, version, &pin_orig, &pin_sha))
		orig = xstrdup(pin_orig);
	else
		orig = find_in_dir(dir, ".orig.tar.");
	if (!orig)
		return nl_error(err, 0, "%s: no single .orig.tar.* in %s", request, dir);
	from = xasprintf("%s/%s", dir, orig);
	if (build_sha256_file(from, sha, err) < 0)
		return -1;
	if (pin_sha && strcmp(sha, pin_sha))
		return nl_error(err, 0, "%s: sha256 %s, but %s/SOURCES pins %s: the archive's file differs from the "
					"one the patches were checked against; check it, then update SOURCES",
				orig, sha, b->series_dir, pin_sha);
	to = xasprintf("%s/src/%s", b->cache_dir, orig);
	/* the tarball is durable under its name before the record that names it is written */
	if (fs_publish(from, to, err) < 0)
		return -1;
	record = xasprintf("version %s\norig-tarball %s\nsha256 %s\n", version, orig, sha);
	info = info_path(b, request);
	if (fs_write_text(info, record, err) < 0)
		return -1;
	if (strcmp(request, version)) {	/* a suite request: record the version too */
		cleanup_free char *vinfo = info_path(b, version);

		if (fs_write_text(vinfo, record, err) < 0)
			return -1;
	}
	debian_use(b, version, orig, sha);
	return 0;
}

/* debian_download() - one request ("1:10.0.13+ds-0+deb13u1" or suite "trixie") through apt-get source */
static int debian_download(struct build *b, const char *request, bool is_suite, const char *prefix,
			   nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/src/.download-%d", b->cache_dir, (int)getpid());
	cleanup_free char *arg = xasprintf("%s%s%s", b->comp->package, is_suite ? "/" : "=", request);
	cleanup_error nl_error_t rm_err = NULL;
	int ret;

	fs_remove_tree(dir, &rm_err);
	if (fs_mkdir_p(dir, err) < 0)
		return -1;
	ret = build_apt_source(b, arg, dir, err);
	if (ret == 0)
		ret = debian_take(b, request, dir, prefix, err);
	fs_remove_tree(dir, &rm_err);
	return ret;
}

/* debian_fetch() - no cached version: ensure the deb-src entry, then download the first that works */
static int debian_fetch(struct build *b, nl_error_t *err)
{
	const struct plan_source *src = b->src;
	struct strbuf failures = STRBUF_INIT;
	int ret = -1;

	for (size_t i = 0; src->versions && src->versions[i]; i++) {
		cleanup_error nl_error_t one = NULL;

		if (debian_download(b, src->versions[i], false, NULL, &one) == 0) {
			ret = 0;
			goto out;
		}
		if (one->errnum == EINTR) {
			*err = one;
			one = NULL;
			goto out;
		}
		strbuf_printf(&failures, "\n  %s=%s: %s", b->comp->package, src->versions[i], one->msg);
	}
	if (src->suite) {
		cleanup_error nl_error_t one = NULL;

		if (debian_download(b, src->suite, true, src->version_prefix, &one) == 0) {
			ret = 0;
			goto out;
		}
		strbuf_printf(&failures, "\n  %s/%s: %s", b->comp->package, src->suite, one->msg);
	}
	nl_error(err, 0, "no Debian source of %s could be downloaded (pin another version in the scenario's "
			 "sources, or build from --%s-git / --%s-tarball):%s",
		 b->comp->package, b->comp->name, b->comp->name, failures.str ? failures.str : " no versions given");
out:
	strbuf_release(&failures);
	return ret;
}

static int source_debian(struct build *b, nl_error_t *err)
{
	const struct plan_source *src = b->src;
	cleanup_free char *src_dir = xasprintf("%s/src", b->cache_dir);
	cleanup_free char *suite = NULL;
	cleanup_free char *log = NULL;
	bool added = false;
	int ret;

	for (size_t i = 0; src->versions && src->versions[i]; i++)
		if (debian_cached(b, src->versions[i], NULL))
			return 0;
	if (src->suite && debian_cached(b, src->suite, src->version_prefix))
		return 0;

	/* the network: the archive's deb-src entry (trixie, or the suite the plan names) */
	suite = xstrdup(src->suite ? src->suite : "trixie");
	if (fs_mkdir_p(src_dir, err) < 0)
		return -1;
	fs_remove_dead(src_dir, ".download-");	/* a download that was killed: a source tarball's worth */
	if (build_apt_ensure_deb_src(b->opts->apt_dir ? b->opts->apt_dir : "/etc/apt", NULL, suite, geteuid() == 0,
				     &added, err) < 0)
		return -1;
	log = xasprintf("%s/logs/fetch-%s.log", b->cache_dir, b->comp->name);
	if (build_log_open(b, log, err) < 0)
		return -1;
	if (added) {
		char *argv[] = { "apt-get", "-q", "update", NULL };
		struct build_exec x = { .what = "apt-get update", .argv = argv };

		if (build_exec_run(b, &x, err) < 0)
			ret = -1;
		else
			ret = debian_fetch(b, err);
	} else {
		ret = debian_fetch(b, err);
	}
	build_log_close(b);
	if (ret < 0)
		build_error_note_log(err, log);
	return ret;
}

/* ---- git and tarballs -------------------------------------------------------------------------- */

static int source_git(struct build *b, nl_error_t *err)
{
	const char *ref = b->src->ref ? b->src->ref : "HEAD";
	cleanup_free char *spec = xasprintf("%s^{commit}", ref);
	char *argv[] = { "git", "-C", b->src->git, "rev-parse", "--verify", "--quiet", spec, NULL };
	cleanup_strbuf struct strbuf out = STRBUF_INIT;
	struct build_exec x = { .what = "git rev-parse", .argv = argv, .capture = &out };

	if (build_exec_run(b, &x, err) < 0)
		return nl_error_wrap(err, "ref %s of the git tree %s", ref, b->src->git);
	if (!out.str || strlen(out.str) < 40)
		return nl_error(err, 0, "ref %s of the git tree %s: git printed no commit", ref, b->src->git);
	b->source_commit = xstrndup(out.str, strcspn(out.str, "\n"));
	b->source_git = xstrdup(b->src->git);
	b->source_id = xasprintf("git %s", b->source_commit);
	return 0;
}

static int source_tarball(struct build *b, nl_error_t *err)
{
	char sha[BUILD_SHA256_HEX_LEN + 1];
	const char *name = strrchr(b->src->tarball, '/');

	if (build_sha256_file(b->src->tarball, sha, err) < 0)
		return nl_error_wrap(err, "source tarball");
	b->source_tarball = xstrdup(b->src->tarball);
	b->source_id = xasprintf("tarball %s sha256=%s", name ? name + 1 : b->src->tarball, sha);
	return 0;
}

int build_source_resolve(struct build *b, nl_error_t *err)
{
	switch (b->src->kind) {
	case SCN_SRC_GIT:
		if (!b->src->git)
			return nl_error(err, 0, "the source is a git tree, but no path is given");
		return source_git(b, err);
	case SCN_SRC_TARBALL:
		if (!b->src->tarball)
			return nl_error(err, 0, "the source is a tarball, but no path is given");
		return source_tarball(b, err);
	case SCN_SRC_DEBIAN:
	case SCN_SRC_UNSET:
		return source_debian(b, err);
	}
	return nl_error(err, EINVAL, "unknown source kind %d", (int)b->src->kind);
}

/* ---- extraction -------------------------------------------------------------------------------- */

/* only_subdir() - the name of the single directory in @dir, or NULL when @dir holds anything else */
static char *only_subdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *found = NULL;
	unsigned n = 0;

	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n++ == 0 && de->d_type == DT_DIR)
			found = xstrdup(de->d_name);
	}
	closedir(d);
	if (n != 1) {
		free(found);
		return NULL;
	}
	return found;
}

static int extract_tarball(struct build *b, nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s/extract", b->staging);
	cleanup_free char *top = NULL;
	char *argv[] = { "tar", "-xf", b->source_tarball, "-C", tmp, "--no-same-owner", NULL };
	struct build_exec x = { .what = "extract", .argv = argv };

	if (fs_mkdir_p(tmp, err) < 0 || build_exec_run(b, &x, err) < 0)
		return -1;
	top = only_subdir(tmp);
	if (top) {
		cleanup_free char *from = xasprintf("%s/%s", tmp, top);

		if (rename(from, b->src_dir) < 0)
			return nl_error(err, errno, "rename %s to %s", from, b->src_dir);
		rmdir(tmp);
		return 0;
	}
	if (rename(tmp, b->src_dir) < 0)
		return nl_error(err, errno, "rename %s to %s", tmp, b->src_dir);
	return 0;
}

static int extract_git(struct build *b, nl_error_t *err)
{
	cleanup_free char *tar = xasprintf("%s/src.tar", b->staging);
	cleanup_free char *out = xasprintf("--output=%s", tar);
	char *archive[] = { "git", "-C", b->source_git, "archive", "--format=tar", out, b->source_commit, NULL };
	char *untar[] = { "tar", "-xf", tar, "-C", b->src_dir, "--no-same-owner", NULL };
	struct build_exec x1 = { .what = "git archive", .argv = archive };
	struct build_exec x2 = { .what = "extract", .argv = untar };

	if (build_exec_run(b, &x1, err) < 0 || fs_mkdir_p(b->src_dir, err) < 0 || build_exec_run(b, &x2, err) < 0)
		return -1;
	unlink(tar);
	return 0;
}

int build_source_extract(struct build *b, nl_error_t *err)
{
	if (b->source_git)
		return extract_git(b, err);
	return extract_tarball(b, err);
}
