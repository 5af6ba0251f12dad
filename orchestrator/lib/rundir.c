/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rundir.c - per-run directories: every run keeps its consoles, QEMU logs, QMP transcripts, debugfs
 * dumps, TAP and JUnit under one directory that failure messages point to (STYLE.md rule 16)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "rundir.h"

#define RUNDIR_SAME_SECOND_MAX 1000	/* NAME-STAMP, NAME-STAMP-1 .. -999 */
#define RUNDIR_MIN_FREE_BYTES (512ULL << 20)	/* what a run may write: L1's overlay grows most */

/*
 * rundir_link_latest() - point @base/latest-@name at @target (relative) by renaming a new symlink over it
 *
 * rename(2) replaces the old link atomically, so a reader always finds a link (the old or the new one),
 * and two runs that finish rundir_create() at once never fail on each other's link (unlink + symlink
 * had a window without any link, and the second symlink() failed with EEXIST). The temporary name
 * carries the pid and a counter, so concurrent runs never share it.
 */
static int rundir_link_latest(const char *base, const char *name, const char *target, nl_error_t *err)
{
	static unsigned tmp_counter;
	cleanup_free char *link = xasprintf("%s/latest-%s", base, name);
	cleanup_free char *tmp = xasprintf("%s/.latest-%s.%ld.%u", base, name, (long)getpid(), tmp_counter++);

	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return nl_error(err, errno, "symlink %s", tmp);
	if (rename(tmp, link) < 0) {
		int saved = errno;

		unlink(tmp);
		return nl_error(err, saved, "rename %s to %s", tmp, link);
	}
	return 0;
}

int rundir_create(const char *base, const char *name, char **out, nl_error_t *err)
{
	cleanup_free char *abs_base = NULL;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (fs_mkdir_p(base, err) < 0)
		return nl_error_wrap(err, "run directory (set NESTLAB_CACHE to a writable place)");
	abs_base = realpath(base, NULL);
	if (!abs_base)
		return nl_error(err, errno, "resolve %s", base);
	/* a run that fills the disk halfway stops L1 (QEMU pauses it) and leaves truncated evidence */
	if (fs_require_room(abs_base, RUNDIR_MIN_FREE_BYTES, "a run (L1's overlay, consoles, logs)", err) < 0)
		return -1;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	/* mkdir() is the claim: of two runs that try the same name, exactly one gets it, the other takes -N */
	for (unsigned n = 0; n < RUNDIR_SAME_SECOND_MAX; n++) {
		cleanup_free char *path = n ? xasprintf("%s/%s-%s-%u", abs_base, name, stamp, n)
					    : xasprintf("%s/%s-%s", abs_base, name, stamp);

		if (mkdir(path, 0755) == 0) {
			if (rundir_link_latest(abs_base, name, path + strlen(abs_base) + 1, err) < 0)
				return -1;
			*out = path;
			path = NULL;
			return 0;
		}
		if (errno != EEXIST)
			return nl_error(err, errno, "create run directory %s", path);
	}
	return nl_error(err, EEXIST, "create a run directory for %s in %s: %u runs started in the same second "
			"(%s); try again", name, abs_base, RUNDIR_SAME_SECOND_MAX, stamp);
}

int rundir_write_file(const char *dir, const char *name, const char *text, nl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, name);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text), done = 0;

	if (fd < 0)
		return nl_error(err, errno, "create %s", path);
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "write %s", path);
		done += (size_t)n;
	}
	return 0;
}
