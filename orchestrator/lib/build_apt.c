/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build_apt.c - Debian's archive as the build reaches it: deb-src entries and private binary downloads
 *
 * nestlab never names an archive host itself: the URI (and Signed-By keyring) are copied from the host's
 * own Debian entry, the one whose Suites hold the host's codename (VERSION_CODENAME of /etc/os-release),
 * read from /etc/apt/sources.list.d/ *.sources (deb822, sources.list(5)) or the one-line sources.list
 * and *.list files.
 *
 * Source packages (QEMU, Linux) come through `apt-get source --download-only`, which needs a deb-src
 * entry for the suite (trixie): when none exists, nestlab writes
 * /etc/apt/sources.list.d/nestlab-<suite>-src.sources (root only) and the caller runs apt-get update.
 * A deb-src entry changes nothing that apt installs.
 *
 * Binary packages of another suite (trixie's meson for QEMU's configure, docs/patches.md "Building QEMU") come through a
 * private apt state under <cache>/apt/<suite>/ (its own sources.list, lists and archives, selected with
 * apt-get -o Dir::...), because a host-wide `deb` entry for trixie on a bookworm host would let the next
 * `apt-get upgrade` or `make deps` pull trixie packages into the host.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "build.h"

/* one apt source entry, from either format */
struct apt_entry {
	bool deb, deb_src, enabled;
	char **uris, **suites;
	char *signed_by;	/* NULL when none or an inline key */
};

static void apt_entry_release(struct apt_entry *e)
{
	strv_free(e->uris);
	strv_free(e->suites);
	free(e->signed_by);
	*e = (struct apt_entry){ 0 };
}

static bool has_word(char *const *words, const char *word)
{
	for (size_t i = 0; words && words[i]; i++)
		if (!strcmp(words[i], word))
			return true;
	return false;
}

/* split_words() - white-space separated words of @s */
static char **split_words(const char *s)
{
	char **words = xcalloc(1, sizeof(char *));
	cleanup_free char *copy = xstrdup(s);

	for (char *save = NULL, *w = strtok_r(copy, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save))
		strv_push(&words, w);
	return words;
}

/* entry_cb() - called per entry; returns true to stop */
typedef bool (*entry_cb)(const struct apt_entry *e, void *opaque);

/* deb822_field() - apply "Name: value" of a stanza to @e */
static void deb822_field(struct apt_entry *e, const char *name, const char *value)
{
	if (!strcasecmp(name, "Types")) {
		cleanup_strv char **types = split_words(value);

		e->deb = has_word(types, "deb");
		e->deb_src = has_word(types, "deb-src");
	} else if (!strcasecmp(name, "URIs")) {
		strv_free(e->uris);
		e->uris = split_words(value);
	} else if (!strcasecmp(name, "Suites")) {
		strv_free(e->suites);
		e->suites = split_words(value);
	} else if (!strcasecmp(name, "Signed-By")) {
		free(e->signed_by);
		e->signed_by = *value ? xstrdup(value) : NULL;	/* an inline key starts on the next line: skip */
	} else if (!strcasecmp(name, "Enabled")) {
		e->enabled = strcasecmp(value, "no") != 0;
	}
}

/* parse_deb822() - the stanzas of a .sources file */
static bool parse_deb822(const char *text, entry_cb cb, void *opaque)
{
	struct apt_entry e = { .enabled = true };
	bool stop = false, any = false;

	for (const char *line = text; !stop;) {
		size_t len = line ? strcspn(line, "\n") : 0;
		cleanup_free char *l = line ? xstrndup(line, len) : NULL;
		char *colon;

		if (!line || l[strspn(l, " \t\r")] == '\0') {	/* end of a stanza */
			if (any && e.uris && e.suites)
				stop = cb(&e, opaque);
			apt_entry_release(&e);
			e.enabled = true;
			any = false;
			if (!line)
				break;
		} else if (l[0] != '#' && l[0] != ' ' && l[0] != '\t' && (colon = strchr(l, ':'))) {
			char *value = colon + 1 + strspn(colon + 1, " \t");
			size_t vlen = strlen(value);

			while (vlen && strchr(" \t\r", value[vlen - 1]))
				value[--vlen] = '\0';
			*colon = '\0';
			deb822_field(&e, l, value);
			any = true;
		}
		line = line[len] ? line + len + 1 : NULL;
	}
	apt_entry_release(&e);
	return stop;
}

/* parse_one_line() - "deb [signed-by=K arch=...] URI SUITE COMPONENT..." lines */
static bool parse_one_line(const char *text, entry_cb cb, void *opaque)
{
	for (const char *line = text; line && *line;) {
		size_t len = strcspn(line, "\n");
		cleanup_free char *l = xstrndup(line, len);
		cleanup_strv char **w = NULL;
		struct apt_entry e = { .enabled = true };
		size_t i = 1;
		bool stop = false;

		line += len + (line[len] == '\n');
		l[strcspn(l, "#")] = '\0';
		w = split_words(l);
		if (!w[0] || (strcmp(w[0], "deb") && strcmp(w[0], "deb-src")))
			continue;
		e.deb = !strcmp(w[0], "deb");
		e.deb_src = !e.deb;
		if (w[i] && w[i][0] == '[') {
			for (; w[i]; i++) {
				const char *opt = w[i] + (w[i][0] == '[');

				if (!strncmp(opt, "signed-by=", 10)) {
					e.signed_by = xstrdup(opt + 10);
					e.signed_by[strcspn(e.signed_by, "]")] = '\0';
				}
				if (strchr(w[i], ']'))
					break;
			}
			i++;
		}
		if (i + 1 < strv_len(w)) {
			e.uris = xcalloc(1, sizeof(char *));
			strv_push(&e.uris, w[i]);
			e.suites = xcalloc(1, sizeof(char *));
			strv_push(&e.suites, w[i + 1]);
			stop = cb(&e, opaque);
		}
		apt_entry_release(&e);
		if (stop)
			return true;
	}
	return false;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* for_each_entry() - every entry of sources.list, then sources.list.d in name order, until @cb says stop */
static bool for_each_entry(const char *apt_dir, entry_cb cb, void *opaque)
{
	cleanup_free char *main_list = xasprintf("%s/sources.list", apt_dir);
	cleanup_free char *text = read_file_text(main_list);
	cleanup_free char *parts = xasprintf("%s/sources.list.d", apt_dir);
	cleanup_strv char **names = xcalloc(1, sizeof(char *));
	DIR *d;
	struct dirent *de;

	if (text && parse_one_line(text, cb, opaque))
		return true;
	d = opendir(parts);
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if ((n > 5 && !strcmp(de->d_name + n - 5, ".list")) || (n > 8 && !strcmp(de->d_name + n - 8, ".sources")))
			strv_push(&names, de->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, strv_len(names), sizeof(char *), cmp_names);
	for (size_t i = 0; names[i]; i++) {
		cleanup_free char *path = xasprintf("%s/%s", parts, names[i]);
		cleanup_free char *t = read_file_text(path);
		size_t n = strlen(names[i]);

		if (!t)
			continue;
		if (n > 8 && !strcmp(names[i] + n - 8, ".sources") ? parse_deb822(t, cb, opaque)
								   : parse_one_line(t, cb, opaque))
			return true;
	}
	return false;
}

/* ---- queries ----------------------------------------------------------------------------------- */

struct archive_query {
	const char *suite;
	char *uri, *signed_by;
};

static bool match_archive(const struct apt_entry *e, void *opaque)
{
	struct archive_query *q = opaque;

	if (!e->enabled || !has_word(e->suites, q->suite) || !e->uris[0])
		return false;
	q->uri = xstrdup(e->uris[0]);
	q->signed_by = e->signed_by ? xstrdup(e->signed_by) : NULL;
	return true;
}

char *build_apt_host_suite(void)
{
	cleanup_free char *text = read_file_text("/etc/os-release");
	char *v = text ? strstr(text, "VERSION_CODENAME=") : NULL;

	if (!v || (v != text && v[-1] != '\n'))
		return NULL;
	v += 17;
	v += *v == '"';
	return xstrndup(v, strcspn(v, "\"\n"));
}

int build_apt_archive(const char *apt_dir, const char *host_suite, char **uri, char **signed_by, nl_error_t *err)
{
	struct archive_query q = { .suite = host_suite };

	if (!host_suite)
		return nl_error(err, 0, "the host's Debian codename is unknown (no VERSION_CODENAME in /etc/os-release)");
	if (!for_each_entry(apt_dir, match_archive, &q))
		return nl_error(err, 0, "no apt entry for %s in %s/sources.list or %s/sources.list.d to copy Debian's "
					"archive URI from; add a Debian entry for %s first",
				host_suite, apt_dir, apt_dir, host_suite);
	*uri = q.uri;
	*signed_by = q.signed_by;
	return 0;
}

static bool match_deb_src(const struct apt_entry *e, void *opaque)
{
	return e->enabled && e->deb_src && has_word(e->suites, opaque);
}

bool build_apt_has_deb_src(const char *apt_dir, const char *suite)
{
	return for_each_entry(apt_dir, match_deb_src, (void *)suite);
}

int build_apt_ensure_deb_src(const char *apt_dir, const char *host_suite, const char *suite, bool may_write, bool *added,
			     nl_error_t *err)
{
	cleanup_free char *own_suite = host_suite ? NULL : build_apt_host_suite();
	cleanup_free char *uri = NULL, *signed_by = NULL, *text = NULL;
	cleanup_free char *path = xasprintf("%s/sources.list.d/nestlab-%s-src.sources", apt_dir, suite);

	*added = false;
	if (build_apt_has_deb_src(apt_dir, suite))
		return 0;
	if (build_apt_archive(apt_dir, host_suite ? host_suite : own_suite, &uri, &signed_by, err) < 0)
		return nl_error_wrap(err, "deb-src entry for %s", suite);
	text = xasprintf("# Added by `nestlab build`: Debian %s source packages (QEMU, Linux) for apt-get source.\n"
			 "# The URI is the one of this host's Debian entry. Delete this file to undo.\n"
			 "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n%s%s%s",
			 suite, uri, suite, signed_by ? "Signed-By: " : "", signed_by ? signed_by : "",
			 signed_by ? "\n" : "");
	if (!may_write)
		return nl_error(err, EACCES,
				"apt has no deb-src entry for %s, which `apt-get source` needs to fetch the sources; "
				"run `nestlab build` once as root, or write %s yourself and run apt-get update:\n%s",
				suite, path, text);
	if (fs_write_text(path, text, err) < 0)
		return nl_error_wrap(err, "deb-src entry for %s", suite);
	*added = true;
	return 0;
}

/* ---- apt-get ----------------------------------------------------------------------------------- */

int build_apt_source(struct build *b, const char *request, const char *dir, nl_error_t *err)
{
	char *argv[] = { "apt-get", "-q", "source", "--download-only", (char *)request, NULL, NULL, NULL };
	struct build_exec x = { .what = "apt-get source", .argv = argv, .cwd = dir };

	if (geteuid() == 0) {	/* downloads into the cache, which apt's sandbox user may not reach */
		argv[4] = "-o";
		argv[5] = "APT::Sandbox::User=root";
		argv[6] = (char *)request;
	}
	return build_exec_run(b, &x, err);
}

/* private_argv() - "apt-get -q -oDir::..." of the private state of @suite under <@cache_dir>/apt/@suite */
static int private_argv(const char *apt_dir, const char *cache_dir, const char *suite, char ***argv, nl_error_t *err)
{
	cleanup_free char *host = build_apt_host_suite();
	cleanup_free char *uri = NULL, *signed_by = NULL, *list_text = NULL;
	cleanup_free char *state = xasprintf("%s/apt/%s", cache_dir, suite);
	cleanup_free char *list = xasprintf("%s/sources.list", state);
	const char *const dirs[] = { "lists/partial", "archives/partial", "parts" };
	char **opts;

	if (build_apt_archive(apt_dir ? apt_dir : "/etc/apt", host, &uri, &signed_by, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_free char *d = xasprintf("%s/%s", state, dirs[i]);

		if (fs_mkdir_p(d, err) < 0)
			return -1;
	}
	list_text = xasprintf("deb %s%s%s %s %s main\n", signed_by ? "[signed-by=" : "", signed_by ? signed_by : "",
			      signed_by ? "] " : "", uri, suite);
	if (fs_write_text(list, list_text, err) < 0)
		return -1;
	opts = xcalloc(1, sizeof(char *));
	strv_push(&opts, "apt-get");
	strv_push(&opts, "-q");
	strv_pushf(&opts, "-oDir::Etc::SourceList=%s", list);
	strv_pushf(&opts, "-oDir::Etc::SourceParts=%s/parts", state);
	strv_pushf(&opts, "-oDir::Etc::Preferences=/dev/null");
	strv_pushf(&opts, "-oDir::Etc::PreferencesParts=%s/parts", state);
	strv_pushf(&opts, "-oDir::State::Lists=%s/lists", state);
	strv_pushf(&opts, "-oDir::Cache=%s", state);
	strv_pushf(&opts, "-oDir::Cache::Archives=%s/archives", state);
	strv_push(&opts, "-oDebug::NoLocking=1");
	if (geteuid() == 0)
		strv_push(&opts, "-oAPT::Sandbox::User=root");
	*argv = opts;
	return 0;
}

int build_apt_private_commands(const char *apt_dir, const char *cache_dir, const char *suite,
			       const char *const *packages, char ***update, char ***download, nl_error_t *err)
{
	cleanup_strv char **opts = NULL;

	if (private_argv(apt_dir, cache_dir, suite, &opts, err) < 0)
		return -1;
	*update = xcalloc(1, sizeof(char *));
	*download = xcalloc(1, sizeof(char *));
	for (size_t i = 0; opts[i]; i++) {
		strv_push(update, opts[i]);
		strv_push(download, opts[i]);
	}
	strv_push(update, "update");
	strv_push(download, "download");
	for (size_t i = 0; packages[i]; i++)
		strv_pushf(download, "%s/%s", packages[i], suite);
	return 0;
}

static int cmp_deb_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **build_apt_debs_in(const char *dir)
{
	char **names = xcalloc(1, sizeof(char *));
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 4 && !strcmp(de->d_name + n - 4, ".deb"))
			strv_push(&names, de->d_name);
	}
	if (d)
		closedir(d);
	qsort(names, strv_len(names), sizeof(char *), cmp_deb_names);
	return names;
}

int build_apt_debs(struct build *b, const char *suite, const char *const *packages, const char *dir, nl_error_t *err)
{
	cleanup_strv char **update = NULL;
	cleanup_strv char **download = NULL;

	if (build_apt_private_commands(b->opts->apt_dir, b->cache_dir, suite, packages, &update, &download, err) < 0)
		return -1;
	{
		struct build_exec x1 = { .what = "apt-get update (private)", .argv = update };
		struct build_exec x2 = { .what = "apt-get download", .argv = download, .cwd = dir };

		if (build_exec_run(b, &x1, err) < 0 || build_exec_run(b, &x2, err) < 0)
			return -1;
	}
	return 0;
}
