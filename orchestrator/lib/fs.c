/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.c - file-system helpers shared by the cache, image, run-directory and libvirt modules
 */
#include <errno.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "fs.h"
#include "loop.h"

#define FS_LOCK_POLL_MS 100

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

/**
 * fs_lock_wait() - an exclusive flock() that Ctrl-C and the process deadline can end
 * @fd:			open descriptor of the lock file
 * @path:		its path, for messages
 * @waiting_note:	printed on stderr once when someone else holds the lock (NULL: nothing)
 * @err:		"lock PATH: interrupted ..." (EINTR), or flock's error
 *
 * flock(LOCK_EX) without LOCK_NB blocks in the kernel, where a blocked SIGINT never reaches it: the lock
 * is tried with LOCK_NB every FS_LOCK_POLL_MS instead.
 * Return: 0 with the lock held, or -1.
 */
int fs_lock_wait(int fd, const char *path, const char *waiting_note, nl_error_t *err)
{
	bool told = false;

	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		struct timespec slice = { 0, FS_LOCK_POLL_MS * 1000000L };

		if (errno != EWOULDBLOCK && errno != EINTR)
			return nl_error(err, errno, "lock %s", path);
		if (loop_interrupt_pending()) {
			const char *deadline = loop_deadline_message();

			nl_error(err, 0, "lock %s: %s while waiting for another nestlab that holds it", path,
				 deadline ? deadline : "interrupted by SIGINT or SIGTERM");
			(*err)->errnum = EINTR;
			return -1;
		}
		if (waiting_note && !told)
			fprintf(stderr, "%s\n", waiting_note);
		told = true;
		nanosleep(&slice, NULL);
	}
	return 0;
}
