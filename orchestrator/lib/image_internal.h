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

#endif /* NESTLAB_IMAGE_INTERNAL_H */
