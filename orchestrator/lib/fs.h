/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.h - file-system helpers shared by the cache, image, run-directory and libvirt modules
 */
#ifndef NESTLAB_FS_H
#define NESTLAB_FS_H

#include "error.h"

/* fs_mkdir_p() - create @path and its missing parents (mode 0755); existing directories are fine */
int fs_mkdir_p(const char *path, nl_error_t *err);

#endif /* NESTLAB_FS_H */
