/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.h - file-system helpers shared by the cache, image, run-directory and libvirt modules
 *
 * Publishing into the cache ($NESTLAB_CACHE) goes through one path, so that a crash, a power cut or a
 * full disk never leaves something that looks complete but is not:
 *
 *   1. the result is written under a temporary name in the directory it will live in (a file
 *      NAME.tmp-PID, or a staging directory);
 *   2. fs_publish() fsyncs every file of it, then its directories bottom up, then renames it to its
 *      final name and fsyncs the parent directory, so the name only ever points at durable data;
 *   3. a `current` link moves with fs_symlink_replace(): a temporary symlink renamed over the old one,
 *      then the parent fsynced.
 *
 * On failure the temporary is removed (fs_remove_tree()), and the final name is left as it was.
 * fs_error_explain_full() turns a "No space left on device" into a message that says which file system
 * filled up and what to do.
 */
#ifndef NESTLAB_FS_H
#define NESTLAB_FS_H

#include <stdbool.h>
#include <stddef.h>

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

/*
 * fs_remove_tree() - rm -rf @path (a file or a directory; absent is fine); read-only directories of an
 * extracted tarball are made writable first. Return: 0, or -1 with @err naming what could not be removed.
 */
int fs_remove_tree(const char *path, nl_error_t *err);

/*
 * fs_remove_stale() - remove every entry of @dir whose name starts with @prefix: the temporaries of a
 * nestlab that died; call it only under the lock that every writer of @dir holds
 */
void fs_remove_stale(const char *dir, const char *prefix);

/*
 * fs_remove_dead() - remove every entry of @dir named @prefix...-PID (the number after the last '-')
 * whose process no longer runs: the temporaries of a nestlab that was killed, where no lock covers the
 * directory (a source download). An entry of a live process is left alone.
 */
void fs_remove_dead(const char *dir, const char *prefix);

/* fs_sync_path() - fsync one file or directory by name (0, or -1 with @err set) */
int fs_sync_path(const char *path, nl_error_t *err);
/* fs_sync_parent() - fsync the directory holding @path, after an entry in it was created or renamed */
int fs_sync_parent(const char *path, nl_error_t *err);
/*
 * fs_sync_tree() - fsync every regular file under @path, each directory after its entries, @path last
 * (a file @path: just that file). Symlinks, sockets and devices have no data to sync and are skipped.
 * A tree of more than 64 files is made durable with one syncfs(2) of its file system instead.
 */
int fs_sync_tree(const char *path, nl_error_t *err);

/**
 * fs_publish() - make @tmp appear as @final, durably and atomically
 * @tmp:	a file or a directory tree, on the same file system as @final
 * @final:	its published name; an existing directory there (a --rebuild, or what an older nestlab
 *		left) is swapped out atomically (renameat2 RENAME_EXCHANGE) and then removed
 * @err:	what failed
 *
 * fs_sync_tree(@tmp), rename(@tmp, @final), fs_sync_parent(@final). When the sync or the rename fails,
 * @tmp is removed and @final is what it was. Return: 0 or -1.
 */
int fs_publish(const char *tmp, const char *final, nl_error_t *err);

/*
 * fs_write_file() - @len bytes into @path through @path.tmp-PID and fs_publish(): readers see the old
 * file or the whole new one, never a part; the temporary is removed on failure. Return: 0 or -1.
 */
int fs_write_file(const char *path, const void *data, size_t len, nl_error_t *err);
/* fs_write_fd() - all @len bytes to @fd (through EINTR and short writes); @path names it in the error */
int fs_write_fd(int fd, const void *data, size_t len, const char *path, nl_error_t *err);
/* fs_write_text() - fs_write_file() of a string */
int fs_write_text(const char *path, const char *text, nl_error_t *err);

/*
 * fs_symlink_replace() - @link -> @target (the target as given, usually relative), replaced atomically
 * (a temporary symlink renamed over @link) and durably (the parent fsynced); nothing is written when
 * @link already points there. Return: 0 or -1.
 */
int fs_symlink_replace(const char *link, const char *target, nl_error_t *err);

/**
 * fs_require_room() - refuse to start work that would fill the file system of @dir
 * @dir:	an existing directory
 * @bytes:	the least the work needs
 * @what:	the work, for the message ("a run (L1's overlay, consoles, logs)")
 * @err:	ENOSPC with the full-disk advice when less than @bytes is free
 *
 * Return: 0 (also when the free space cannot be read), or -1.
 */
int fs_require_room(const char *dir, unsigned long long bytes, const char *what, nl_error_t *err);

/* fs_error_is_full() - @err says a file system was full (ENOSPC, EDQUOT, or a child's message saying so) */
bool fs_error_is_full(const nl_error_t *err);
/*
 * fs_error_mark_full() - before a failed step's partial files are removed: when the file system of @dir
 * has less than 1 MiB left, mark @err as a full disk (errno ENOSPC), whatever the child said
 * (libguestfs reports a full host disk as an I/O error in the guest); an interruption stays one
 */
void fs_error_mark_full(nl_error_t *err, const char *dir);
/**
 * fs_error_explain_full() - when @err is a full disk, add which file system filled up and what to do
 * @err:	an error (left alone when it is something else)
 * @dir:	a directory on the file system that was written (the cache, the run directory)
 * @what:	what was being written, for the message ("the build of linux", "the L1 image")
 *
 * The message gains: "the file system holding DIR (N MiB in all, M MiB free now) ran out of room for
 * WHAT: free space there, or point NESTLAB_CACHE at a file system with more room".
 * Return: true when it was a full disk.
 */
bool fs_error_explain_full(nl_error_t *err, const char *dir, const char *what);

/*
 * fs_cache_dir() - the cache root, the one place that decides it: $NESTLAB_CACHE if set and not empty,
 * else $HOME/.cache/nestlab, else (HOME unset or empty) the user's home directory from the password
 * database + /.cache/nestlab, the directory a login shell's ~ would name. A relative result is made
 * absolute against the working directory. Returns a new string, or NULL with @err set when none of the
 * three gives a directory.
 */
char *fs_cache_dir(nl_error_t *err);

#endif /* NESTLAB_FS_H */
