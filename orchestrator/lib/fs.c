/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fs.c - file-system helpers shared by the cache, image, run-directory and libvirt modules
 *
 * The publish path of fs.h: fsync the files, then the directories, rename into place, fsync the parent
 * (rename(2) and fsync(2); for directories the same, see "Notes" in fsync(2): an fsync of the file does
 * not make its directory entry durable). Trees are walked with openat()/fdopendir() on O_NOFOLLOW
 * descriptors, so a symlink inside a tree is never followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "loop.h"

#define FS_LOCK_POLL_MS 100

/* a tree with more regular files than this is synced with one syncfs(2) (fs_sync_tree()) */
#define FS_SYNC_EACH_MAX_FILES 64
/* below this much free space a file system counts as full (fs_error_mark_full()) */
#define FS_FULL_BYTES (1ULL << 20)

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

/* ---- removal ----------------------------------------------------------------------------------- */

/*
 * remove_at() - remove @name in the directory @dirfd (@path names it for messages), recursively;
 * directories are made writable and searchable first (a tarball may extract read-only ones)
 */
static int remove_at(int dirfd, const char *name, const char *path, nl_error_t *err)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	int fd, ret = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : nl_error(err, errno, "remove %s", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return nl_error(err, errno, "remove %s", path);
		return 0;
	}
	if ((st.st_mode & 0700) != 0700)
		fchmodat(dirfd, name, (st.st_mode & 07777) | 0700, 0);
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return nl_error(err, errno, "remove %s", path);
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return nl_error(err, errno, "remove %s", path);
	}
	while (ret == 0 && (de = readdir(dir))) {
		cleanup_free char *sub = NULL;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		ret = remove_at(fd, de->d_name, sub, err);
	}
	closedir(dir);
	if (ret == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		ret = nl_error(err, errno, "remove %s", path);
	return ret;
}

int fs_remove_tree(const char *path, nl_error_t *err)
{
	return remove_at(AT_FDCWD, path, path, err);
}

void fs_remove_stale(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_error nl_error_t err = NULL;
		cleanup_free char *path = NULL;

		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (fs_remove_tree(path, &err) < 0)
			fprintf(stderr, "nestlab: warning: %s\n", err->msg);
	}
	if (d)
		closedir(d);
}

void fs_remove_dead(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_error nl_error_t err = NULL;
		cleanup_free char *path = NULL;
		const char *dash = strrchr(de->d_name, '-');
		char *end;
		long pid;

		if (strncmp(de->d_name, prefix, strlen(prefix)) || !dash)
			continue;
		pid = strtol(dash + 1, &end, 10);
		if (*end || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (fs_remove_tree(path, &err) < 0)
			fprintf(stderr, "nestlab: warning: %s\n", err->msg);
	}
	if (d)
		closedir(d);
}

/* ---- fsync --------------------------------------------------------------------------------------- */

int fs_sync_path(const char *path, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return nl_error(err, errno, "open %s to sync it", path);
	if (fsync(fd) < 0)
		return nl_error(err, errno, "fsync %s", path);
	return 0;
}

int fs_sync_parent(const char *path, nl_error_t *err)
{
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (!slash)
		return fs_sync_path(".", err);
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return fs_sync_path(dir, err);
}

/* sync_fd_tree() - fsync the tree open at @fd (named @path): regular files, then subdirectories, then @fd */
static int sync_fd_tree(int fd, const char *path, nl_error_t *err)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	int ret = 0;

	if (fstat(fd, &st) < 0)
		return nl_error(err, errno, "stat %s", path);
	if (S_ISDIR(st.st_mode)) {
		int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* its own read position */

		dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
		if (!dir) {
			if (dup_fd >= 0)
				close(dup_fd);
			return nl_error(err, errno, "read directory %s", path);
		}
		while (ret == 0 && (de = readdir(dir))) {
			cleanup_free char *sub = NULL;
			int sub_fd;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (de->d_type != DT_REG && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
				continue;
			sub = xasprintf("%s/%s", path, de->d_name);
			sub_fd = openat(fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (sub_fd < 0) {
				if (errno == ELOOP || errno == ENXIO)	/* a symlink or a socket (DT_UNKNOWN) */
					continue;
				ret = nl_error(err, errno, "open %s to sync it", sub);
				break;
			}
			if (fstat(sub_fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
				ret = sync_fd_tree(sub_fd, sub, err);
			close(sub_fd);
		}
		closedir(dir);
		if (ret < 0)
			return -1;
	}
	if (fsync(fd) < 0)
		return nl_error(err, errno, "fsync %s", path);
	return 0;
}

/* count_files_at() - regular files under the directory open at @fd, counting stops past @limit */
static unsigned count_files_at(int fd, unsigned limit)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);	/* its own read position */
	DIR *dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	struct dirent *de;
	unsigned n = 0;

	if (!dir) {
		if (dup_fd >= 0)
			close(dup_fd);
		return 0;
	}
	while (n <= limit && (de = readdir(dir))) {
		if (de->d_type == DT_REG) {
			n++;
		} else if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				n += count_files_at(sub, limit - n);
				close(sub);
			}
		}
	}
	closedir(dir);
	return n;
}

int fs_sync_tree(const char *path, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return nl_error(err, errno, "open %s to sync it", path);
	/*
	 * Many files (the dpdk image's 943 unpacked files): one syncfs(2) commits them all, with their
	 * directories, at once. An fsync each costs a journal commit each: 4.6-5.7 s against 0.1-0.15 s
	 * for that tree on this machine's ext4. syncfs also writes back others' dirty data on the same
	 * file system, so a few files still get their own fsync.
	 */
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	    count_files_at(fd, FS_SYNC_EACH_MAX_FILES) > FS_SYNC_EACH_MAX_FILES) {
		if (syncfs(fd) < 0)
			return nl_error(err, errno, "sync the file system of %s", path);
		return 0;
	}
	return sync_fd_tree(fd, path, err);
}

/* ---- publishing -------------------------------------------------------------------------------- */

/* rename_into_place() - rename(@tmp, @final); an existing directory @final is exchanged, then removed */
static int rename_into_place(const char *tmp, const char *final, nl_error_t *err)
{
	cleanup_error nl_error_t rm_err = NULL;

	if (rename(tmp, final) == 0)
		return 0;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return nl_error(err, errno, "rename %s to %s", tmp, final);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
		/* @tmp now holds what was published before: readers that opened files in it keep them */
		if (fs_remove_tree(tmp, &rm_err) < 0)
			fprintf(stderr, "nestlab: warning: %s\n", rm_err->msg);
		return 0;
	}
	if (errno != EINVAL && errno != ENOSYS)
		return nl_error(err, errno, "replace %s with %s", final, tmp);
	{
		/* a file system without RENAME_EXCHANGE: the old one aside first (@final is briefly absent) */
		cleanup_free char *old = xasprintf("%s.old-%d", final, (int)getpid());

		if (rename(final, old) < 0)
			return nl_error(err, errno, "move %s aside to %s", final, old);
		if (rename(tmp, final) < 0) {
			int e = errno;

			rename(old, final);
			return nl_error(err, e, "rename %s to %s", tmp, final);
		}
		if (fs_remove_tree(old, &rm_err) < 0)
			fprintf(stderr, "nestlab: warning: %s\n", rm_err->msg);
	}
	return 0;
}

int fs_publish(const char *tmp, const char *final, nl_error_t *err)
{
	cleanup_error nl_error_t rm_err = NULL;

	if (fs_sync_tree(tmp, err) < 0 || rename_into_place(tmp, final, err) < 0) {
		fs_remove_tree(tmp, &rm_err);
		return -1;
	}
	return fs_sync_parent(final, err);
}

int fs_write_fd(int fd, const void *data, size_t len, const char *path, nl_error_t *err)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "write %s", path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_write_file(const char *path, const void *data, size_t len, nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0)
		return nl_error(err, errno, "create %s", tmp);
	if (fs_write_fd(fd, data, len, tmp, err) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {	/* NFS reports a failed write at close */
		nl_error(err, errno, "write %s", tmp);
		unlink(tmp);
		return -1;
	}
	return fs_publish(tmp, path, err);
}

int fs_write_text(const char *path, const char *text, nl_error_t *err)
{
	return fs_write_file(path, text, strlen(text), err);
}

int fs_symlink_replace(const char *link, const char *target, nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", link, (int)getpid());
	char old[4096];
	ssize_t n = readlink(link, old, sizeof(old) - 1);

	if (n >= 0 && (size_t)n == strlen(target) && !memcmp(old, target, (size_t)n))
		return 0;
	unlink(tmp);
	if (symlink(target, tmp) < 0)
		return nl_error(err, errno, "create the link %s", tmp);
	if (rename(tmp, link) < 0) {
		nl_error(err, errno, "replace %s", link);
		unlink(tmp);
		return -1;
	}
	return fs_sync_parent(link, err);
}

/* ---- a full disk ------------------------------------------------------------------------------- */

bool fs_error_is_full(const nl_error_t *err)
{
	if (!err || !*err)
		return false;
	if ((*err)->errnum == ENOSPC || (*err)->errnum == EDQUOT)
		return true;
	/*
	 * a child (tar, cp, dpkg, mmdebstrap, a compiler) that ran out of space says so in its output;
	 * apt-get checks the space before it downloads ("You don't have enough free space in DIR")
	 */
	return strstr((*err)->msg, "No space left on device") || strstr((*err)->msg, "Disk quota exceeded") ||
	       strstr((*err)->msg, "have enough free space in");
}

void fs_error_mark_full(nl_error_t *err, const char *dir)
{
	struct statvfs vfs;

	if (!*err || (*err)->errnum == EINTR || fs_error_is_full(err) || statvfs(dir, &vfs) < 0)
		return;
	if ((unsigned long long)vfs.f_bavail * vfs.f_frsize < FS_FULL_BYTES)
		(*err)->errnum = ENOSPC;
}

/* size_text() - "64 MiB", or "900 KiB" below a MiB; caller frees */
static char *size_text(unsigned long long bytes)
{
	if (bytes < (1ULL << 20))
		return xasprintf("%llu KiB", bytes >> 10);
	return xasprintf("%llu MiB", bytes >> 20);
}

bool fs_error_explain_full(nl_error_t *err, const char *dir, const char *what)
{
	struct statvfs vfs;
	char *msg;

	if (!fs_error_is_full(err))
		return false;
	if (strstr((*err)->msg, "ran out of room for"))	/* explained on the way up already */
		return true;
	if (statvfs(dir, &vfs) == 0) {
		cleanup_free char *total = size_text((unsigned long long)vfs.f_blocks * vfs.f_frsize);
		cleanup_free char *avail = size_text((unsigned long long)vfs.f_bavail * vfs.f_frsize);

		msg = xasprintf("%s\n  the file system holding %s (%s in all, %s free now) ran out of room for %s: "
				"free space there, or point NESTLAB_CACHE at a file system with more room",
				(*err)->msg, dir, total, avail, what);
	} else {
		msg = xasprintf("%s\n  the file system holding %s ran out of room for %s: free space there, or point "
				"NESTLAB_CACHE at a file system with more room", (*err)->msg, dir, what);
	}
	free((*err)->msg);
	(*err)->msg = msg;
	(*err)->errnum = ENOSPC;
	return true;
}

int fs_require_room(const char *dir, unsigned long long bytes, const char *what, nl_error_t *err)
{
	struct statvfs vfs;
	cleanup_free char *need = size_text(bytes);
	cleanup_free char *avail = NULL;

	if (statvfs(dir, &vfs) < 0 || (unsigned long long)vfs.f_bavail * vfs.f_frsize >= bytes)
		return 0;
	avail = size_text((unsigned long long)vfs.f_bavail * vfs.f_frsize);
	nl_error(err, 0, "%s needs at least %s in %s, and only %s is free", what, need, dir, avail);
	(*err)->errnum = ENOSPC;
	fs_error_explain_full(err, dir, what);
	return -1;
}

/* ---- the cache root ------------------------------------------------------------------------------ */

/* absolute() - @path, or the working directory joined with it when it is relative; takes @path */
static char *absolute(char *path, nl_error_t *err)
{
	cleanup_free char *cwd = NULL;
	char *joined;

	if (path[0] == '/')
		return path;
	cwd = getcwd(NULL, 0);
	if (!cwd) {
		nl_error(err, errno, "cache directory %s is relative and the working directory is unknown; hint: "
				     "set NESTLAB_CACHE to an absolute path", path);
		free(path);
		return NULL;
	}
	joined = xasprintf("%s/%s", cwd, path);
	free(path);
	return joined;
}

/**
 * fs_cache_dir() - where sources, builds, images and run directories are kept
 * @err:	set when neither the environment nor the password database names a directory
 *
 * Every module (build, images, run directories, the plan's artefact paths) takes the cache from here,
 * so that one environment gives one answer. HOME unset is the common case under sudo -i or a bare
 * service: the password database then gives the same directory a shell would.
 *
 * Return: a new absolute path (not created here), or NULL with @err set
 */
char *fs_cache_dir(nl_error_t *err)
{
	const char *cache = getenv("NESTLAB_CACHE");
	const char *home = getenv("HOME");
	const struct passwd *pw;

	if (cache && *cache)
		return absolute(xstrdup(cache), err);
	if (home && *home)
		return absolute(xasprintf("%s/.cache/nestlab", home), err);
	errno = 0;
	pw = getpwuid(geteuid());
	if (pw && pw->pw_dir && *pw->pw_dir)
		return absolute(xasprintf("%s/.cache/nestlab", pw->pw_dir), err);
	nl_error(err, errno, "no cache directory: NESTLAB_CACHE and HOME are unset and user %u has no home "
			     "directory in the password database; hint: set NESTLAB_CACHE (e.g. to /var/cache/nestlab)",
		 (unsigned)geteuid());
	return NULL;
}
