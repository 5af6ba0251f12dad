/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.c - file-system helpers shared by the cache, image, run-directory and libvirt modules
 */
#include <errno.h>
#include <sys/stat.h>

#include "fs.h"

/**
 * fs_mkdir_p() - mkdir -p
 * @path:	directory to create, with its parents
 * @err:	names the component that could not be created
 *
 * Return: 0, or -1 with @err set.
 */
int fs_mkdir_p(const char *path, nl_error_t *err)
{
	cleanup_free char *copy = xstrdup(path);

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			return nl_error(err, errno, "create directory %s", copy);
		*p = '/';
	}
	if (mkdir(copy, 0755) < 0 && errno != EEXIST)
		return nl_error(err, errno, "create directory %s", copy);
	return 0;
}
