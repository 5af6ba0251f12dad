/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_internal.h - what the image_*.c files share and nothing else uses
 */
#ifndef NESTLAB_IMAGE_INTERNAL_H
#define NESTLAB_IMAGE_INTERNAL_H

#include "image.h"

enum image_tree_type { IMAGE_TREE_FILE = 1, IMAGE_TREE_DIR, IMAGE_TREE_SYMLINK };

/* one entry of a recipe tree (images/l1/files, ...), parents before children, names sorted */
struct image_tree_entry {
	enum image_tree_type type;
	char *rel;		/* path relative to the tree: "etc/cloud/cloud.cfg.d/90-nestlab.cfg" */
	char *host_path;	/* where it is on the host */
	unsigned mode;		/* files: 0755 when executable, else 0644 (what git keeps); dirs: 0755 */
	uint64_t size;		/* files */
	const char *link_target; /* symlinks */
};

typedef int (*image_tree_fn)(const struct image_tree_entry *entry, void *opaque, nl_error_t *err);

/* image_tree_walk() - call @fn for every entry under @root (absent root: nothing); stops at the first error */
int image_tree_walk(const char *root, image_tree_fn fn, void *opaque, nl_error_t *err);
/* image_file_exists() - @path is a regular file (after symlinks) */
bool image_file_exists(const char *path);
/*
 * image_package_list() - the package names of a recipe list (one per line, '#' comments, blank lines),
 * each checked to be a Debian package name; at least one. Return: 0 or -1 with @err set.
 */
int image_package_list(const char *path, char ***names, nl_error_t *err);
/* image_recipe_lines() - the non-comment, non-blank lines of @path, trimmed (none is fine) */
int image_recipe_lines(const char *path, char ***lines, nl_error_t *err);
/*
 * image_exec() - run @argv (in @cwd, or inherited when NULL) with its output appended to the build log,
 * at most @timeout_ms; SIGINT and SIGTERM end it (EINTR). Return: 0 or -1 with @err naming the log.
 */
int image_exec(struct image_ctx *ctx, char **argv, const char *cwd, int timeout_ms, nl_error_t *err);

#endif /* NESTLAB_IMAGE_INTERNAL_H */
