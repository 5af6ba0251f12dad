/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.h - file-system helpers shared by the cache, image, run-directory and libvirt modules
 */
#ifndef NESTLAB_FS_H
#define NESTLAB_FS_H

#include "error.h"

/* fs_mkdir_p() - create @path and its missing parents (mode 0755); existing directories are fine */
int fs_mkdir_p(const char *path, nl_error_t *err);

/*
 * fs_lock_wait() - flock(@fd, LOCK_EX), waiting while another process holds it, but never past a
 * SIGINT or SIGTERM (blocked by the supervisor loop) or the process deadline (loop_interrupt_pending()):
 * those end the wait with errnum EINTR. @path names the lock in messages; @waiting_note, when not NULL,
 * is printed on stderr once if the lock is busy. Return: 0 with the lock held, or -1.
 */
int fs_lock_wait(int fd, const char *path, const char *waiting_note, nl_error_t *err);

#endif /* NESTLAB_FS_H */
