/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_cpio.c - a newc cpio writer for initramfs images, and gzip through zlib
 *
 * The format is the one the kernel unpacks (Linux Documentation/driver-api/early-userspace/
 * buffer-format.rst, cpio(5) "New ASCII Format"): each entry is a 110-byte header, "070701" and
 * thirteen 8-digit hex fields (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
 * rdevmajor, rdevminor, namesize including the NUL, check = 0), then the name and its NUL padded to a
 * multiple of 4 bytes, then the data padded to a multiple of 4. The archive ends with an entry named
 * "TRAILER!!!". A symlink's data is its target without a NUL.
 *
 * The kernel creates no missing parent directories, so the writer adds them (mode 0755) before the
 * first entry below them. Every entry is owned by root with the same mtime: equal inputs give equal
 * bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "fs.h"
#include "image.h"

#define CPIO_NEWC_MAGIC "070701"
#define CPIO_TRAILER "TRAILER!!!"

void image_cpio_init(struct image_cpio *c, uint32_t mtime)
{
	*c = (struct image_cpio){ .out = STRBUF_INIT, .next_ino = 1, .mtime = mtime };
}

void image_cpio_release(struct image_cpio *c)
{
	strbuf_release(&c->out);
	strv_free(c->dirs);
	c->dirs = NULL;
}

/* pad() - zero bytes up to the next multiple of 4 of the archive length */
static void pad(struct strbuf *sb)
{
	static const char zeros[4];

	strbuf_add(sb, zeros, (4 - sb->len % 4) % 4);
}

/**
 * put_entry() - one header, name and data
 * @c:		archive
 * @name:	entry name
 * @mode:	type and permission bits (st_mode)
 * @rdev_major, @rdev_minor:	device nodes
 * @data:	file data or link target
 * @len:	its length
 */
static void put_entry(struct image_cpio *c, const char *name, unsigned mode, unsigned rdev_major,
		      unsigned rdev_minor, const void *data, size_t len)
{
	bool trailer = !strcmp(name, CPIO_TRAILER);

	strbuf_printf(&c->out, CPIO_NEWC_MAGIC "%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		      trailer ? 0 : c->next_ino++, mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u,
		      trailer ? 0 : c->mtime, (unsigned)len, 0u, 0u, rdev_major, rdev_minor,
		      (unsigned)strlen(name) + 1, 0u);
	strbuf_add(&c->out, name, strlen(name) + 1);
	pad(&c->out);
	if (len)
		strbuf_add(&c->out, data, len);
	pad(&c->out);
}

/* have_dir() - whether directory @name was written already */
static bool have_dir(const struct image_cpio *c, const char *name, size_t len)
{
	for (size_t i = 0; c->dirs && c->dirs[i]; i++)
		if (strlen(c->dirs[i]) == len && !strncmp(c->dirs[i], name, len))
			return true;
	return false;
}

/**
 * check_name() - validate an entry name and add its missing parent directories
 * @c:		archive
 * @name:	"a/b/c": relative, no empty, "." or ".." component, shorter than PATH_MAX
 * @err:	error
 */
static int check_name(struct image_cpio *c, const char *name, nl_error_t *err)
{
	const char *p = name;

	if (c->finished)
		return nl_error(err, 0, "cpio: %s added after the trailer", name);
	if (!*name || *name == '/' || strlen(name) >= 4096 || !strcmp(name, CPIO_TRAILER))
		return nl_error(err, EINVAL, "cpio: bad entry name '%s' (relative, not empty, no trailer name)", name);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t comp = slash ? (size_t)(slash - p) : strlen(p);

		if (comp == 0 || (comp == 1 && p[0] == '.') || (comp == 2 && !strncmp(p, "..", 2)))
			return nl_error(err, EINVAL, "cpio: bad entry name '%s' (empty, . or .. component)", name);
		if (!slash)
			return 0;
		if (!have_dir(c, name, (size_t)(slash - name))) {
			cleanup_free char *dir = xstrndup(name, (size_t)(slash - name));

			put_entry(c, dir, S_IFDIR | 0755, 0, 0, NULL, 0);
			strv_push(&c->dirs, dir);
		}
		p = slash + 1;
	}
}

int image_cpio_add_dir(struct image_cpio *c, const char *name, unsigned mode, nl_error_t *err)
{
	if (check_name(c, name, err) < 0)
		return -1;
	if (have_dir(c, name, strlen(name)))
		return 0;
	put_entry(c, name, S_IFDIR | (mode & 07777), 0, 0, NULL, 0);
	strv_push(&c->dirs, name);
	return 0;
}

int image_cpio_add_file(struct image_cpio *c, const char *name, unsigned mode, const void *data, size_t len,
			nl_error_t *err)
{
	if (len > UINT32_MAX)
		return nl_error(err, EFBIG, "cpio: %s: %zu bytes is more than newc's 4 GiB", name, len);
	if (check_name(c, name, err) < 0)
		return -1;
	put_entry(c, name, S_IFREG | (mode & 07777), 0, 0, data, len);
	return 0;
}

int image_cpio_add_host_file(struct image_cpio *c, const char *name, unsigned mode, const char *host_path,
			     nl_error_t *err)
{
	cleanup_close int fd = open(host_path, O_RDONLY | O_CLOEXEC);
	cleanup_strbuf struct strbuf data = STRBUF_INIT;
	char buf[65536];

	if (fd < 0)
		return nl_error(err, errno, "cpio: open %s", host_path);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "cpio: read %s", host_path);
		if (n == 0)
			break;
		strbuf_add(&data, buf, (size_t)n);
	}
	return image_cpio_add_file(c, name, mode, data.str, data.len, err);
}

int image_cpio_add_symlink(struct image_cpio *c, const char *name, const char *target, nl_error_t *err)
{
	if (!*target)
		return nl_error(err, EINVAL, "cpio: symlink %s has an empty target", name);
	if (check_name(c, name, err) < 0)
		return -1;
	put_entry(c, name, S_IFLNK | 0777, 0, 0, target, strlen(target));
	return 0;
}

int image_cpio_add_chardev(struct image_cpio *c, const char *name, unsigned mode, unsigned major,
			   unsigned minor, nl_error_t *err)
{
	if (check_name(c, name, err) < 0)
		return -1;
	put_entry(c, name, S_IFCHR | (mode & 07777), major, minor, NULL, 0);
	return 0;
}

void image_cpio_finish(struct image_cpio *c)
{
	if (c->finished)
		return;
	put_entry(c, CPIO_TRAILER, 0, 0, 0, NULL, 0);
	c->finished = true;
}

/**
 * gzip_to_fd() - deflate @data with a gzip wrapper (windowBits 15 + 16) and write it to @fd
 * @fd:		output
 * @data, @len:	input
 * @path:	for messages
 * @err:	error
 */
static int gzip_to_fd(int fd, const void *data, size_t len, const char *path, nl_error_t *err)
{
	unsigned char out[65536];
	z_stream zs = { 0 };
	int zrc;

	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return nl_error(err, 0, "gzip %s: deflateInit2 failed", path);
	zs.next_in = (unsigned char *)data;
	zs.avail_in = 0;
	do {
		size_t in_left = len - (size_t)((const unsigned char *)zs.next_in - (const unsigned char *)data);

		if (zs.avail_in == 0 && in_left)
			zs.avail_in = in_left > (1u << 30) ? (1u << 30) : (unsigned)in_left;
		zs.next_out = out;
		zs.avail_out = sizeof(out);
		zrc = deflate(&zs, zs.avail_in == in_left ? Z_FINISH : Z_NO_FLUSH);
		if (zrc == Z_STREAM_ERROR) {
			deflateEnd(&zs);
			return nl_error(err, 0, "gzip %s: deflate failed", path);
		}
		for (size_t done = 0, have = sizeof(out) - zs.avail_out; done < have;) {
			ssize_t n = write(fd, out + done, have - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				deflateEnd(&zs);
				return nl_error(err, errno, "write %s", path);
			}
			done += (size_t)n;
		}
	} while (zrc != Z_STREAM_END);
	deflateEnd(&zs);
	return 0;
}

int image_gzip_write(const char *path, const void *data, size_t len, nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return nl_error(err, errno, "create %s", tmp);
	if (gzip_to_fd(fd, data, len, tmp, err) < 0 || close(fd) < 0) {
		if (!*err)
			nl_error(err, errno, "write %s", tmp);
		else
			close(fd);
		unlink(tmp);
		return -1;
	}
	return fs_publish(tmp, path, err);	/* fsync, rename, fsync the directory */
}
