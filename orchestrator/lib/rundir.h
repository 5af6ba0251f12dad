/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rundir.h - the per-run directory that keeps every log of a run, and the cache location
 */
#ifndef NESTLAB_RUNDIR_H
#define NESTLAB_RUNDIR_H

#include "error.h"

/**
 * rundir_create() - make a new run directory
 * @base:	parent directory (created if missing), e.g. <cache>/runs
 * @name:	scenario name, the first part of the directory name
 * @out:	on success, the absolute path "<base>/<name>-<YYYYmmdd-HHMMSS>[-N]"; caller frees
 * @err:	error
 *
 * The directory is claimed with mkdir(), so concurrent runs of one scenario in the same second get
 * distinct directories (-1, -2, ...). A "latest-<name>" symlink in @base is then pointed at the new
 * directory by renaming a fresh symlink over it: it is never missing, whoever reads it. With less than
 * 512 MiB free under @base no run starts (ENOSPC, with the full-disk advice).
 * Return: 0 or -1 with @err set.
 */
int rundir_create(const char *base, const char *name, char **out, nl_error_t *err);

/* rundir_write_file() - write @text to @dir/@name (truncate); returns 0 or -1 with @err set */
int rundir_write_file(const char *dir, const char *name, const char *text, nl_error_t *err);

#endif /* NESTLAB_RUNDIR_H */
