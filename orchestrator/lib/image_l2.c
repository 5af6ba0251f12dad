/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_l2.c - the L2 "minimal" initramfs: what L1's QEMU boots L2 with (/boot/l2/minimal.cpio.gz)
 *
 * nestlab's kernel has every driver built in (virtio, vfio, the NICs), so the initramfs holds no
 * modules: a static busybox and its sh link, /init from images/l2/init, the static agent, the L2
 * userspace vfio driver when it was built, images/l2/files/ when present, and /dev/console and
 * /dev/null (the kernel opens /dev/console for init before anything mounts devtmpfs on /dev).
 * Written with image_cpio.c into memory and gzip'd with zlib; every entry has mtime 0, so equal
 * inputs give equal bytes.
 */
#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "image_internal.h"

static const char *const l2_dirs[] = {
	"bin", "sbin", "dev", "etc", "proc", "sys", "run", "root", "usr/bin", "usr/sbin", "var", "mnt",
};

/* add_tree_entry() - one entry of images/l2/files into the archive */
static int add_tree_entry(const struct image_tree_entry *e, void *opaque, nl_error_t *err)
{
	struct image_cpio *c = opaque;

	switch (e->type) {
	case IMAGE_TREE_DIR:
		return image_cpio_add_dir(c, e->rel, e->mode, err);
	case IMAGE_TREE_SYMLINK:
		return image_cpio_add_symlink(c, e->rel, e->link_target, err);
	case IMAGE_TREE_FILE:
		return image_cpio_add_host_file(c, e->rel, e->mode, e->host_path, err);
	}
	return 0;
}

/**
 * l2_contents() - every entry of the L2 initramfs
 * @cfg:	inputs
 * @c:		archive (not finished)
 * @err:	error
 */
static int l2_contents(const struct image_config *cfg, struct image_cpio *c, nl_error_t *err)
{
	cleanup_free char *init = xasprintf("%s/l2/init", cfg->recipe_dir);
	cleanup_free char *files = xasprintf("%s/l2/files", cfg->recipe_dir);

	for (size_t i = 0; i < ARRAY_SIZE(l2_dirs); i++)
		if (image_cpio_add_dir(c, l2_dirs[i], 0755, err) < 0)
			return -1;
	if (image_cpio_add_dir(c, "tmp", 01777, err) < 0 ||
	    image_cpio_add_chardev(c, "dev/console", 0600, 5, 1, err) < 0 ||
	    image_cpio_add_chardev(c, "dev/null", 0666, 1, 3, err) < 0 ||
	    image_cpio_add_host_file(c, "bin/busybox", 0755, cfg->busybox, err) < 0 ||
	    image_cpio_add_symlink(c, "bin/sh", "busybox", err) < 0 ||
	    image_cpio_add_host_file(c, "init", 0755, init, err) < 0 ||
	    image_cpio_add_host_file(c, IMAGE_L2_AGENT + 1, 0755, cfg->agent, err) < 0)
		return -1;
	if (cfg->vfio_nic && image_cpio_add_host_file(c, IMAGE_L2_VFIO_NIC + 1, 0755, cfg->vfio_nic, err) < 0)
		return -1;
	return image_tree_walk(files, add_tree_entry, c, err);
}

int image_l2_build(const struct image_config *cfg, const char *path, nl_error_t *err)
{
	struct image_cpio c;
	int ret;

	image_cpio_init(&c, 0);
	ret = l2_contents(cfg, &c, err);
	if (ret == 0) {
		image_cpio_finish(&c);
		ret = image_gzip_write(path, c.out.str, c.out.len, err);
	}
	image_cpio_release(&c);
	return ret;
}
