/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_l2.c - the L2 initramfs images: what L1's QEMU boots L2 with (/boot/l2/minimal.cpio.gz and
 * /boot/l2/dpdk.cpio.gz)
 *
 * nestlab's kernel has every driver built in (virtio, vfio, the NICs), so the initramfs holds no
 * modules: a static busybox and its sh link, /init from images/l2/init, the static agent, the L2
 * userspace vfio driver when it was built, images/l2/files/ when present, and /dev/console and
 * /dev/null (the kernel opens /dev/console for init before anything mounts devtmpfs on /dev).
 * Written with image_cpio.c into memory and gzip'd with zlib; every entry has mtime 0, so equal
 * inputs give equal bytes.
 *
 * The "dpdk" image is the same plus DPDK's testpmd from Debian: the packages of
 * images/l2/dpdk/packages are downloaded with apt-get through nestlab's private apt state
 * (build_apt_private_argv(), the host's apt sources stay untouched) and unpacked with dpkg -x, once per
 * key, into <cache>/images/debs/<key>/root; the files images/l2/dpdk/include names (dpdk-testpmd, the
 * EAL plugins it needs) go in with their shared-library closure (image_closure.c: ld.so, libc, the
 * librte_* libraries) at the paths Debian installs them, and images/l2/dpdk/files/ on top (the
 * nestlab-testpmd helper that sets up hugepages, binds the NIC to vfio-pci and drives testpmd).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "fs.h"
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

/* write_archive() - finish @c and gzip it to @path */
static int write_archive(struct image_cpio *c, const char *path, nl_error_t *err)
{
	image_cpio_finish(c);
	return image_gzip_write(path, c->out.str, c->out.len, err);
}

int image_l2_build(const struct image_config *cfg, const char *path, nl_error_t *err)
{
	struct image_cpio c;
	int ret;

	image_cpio_init(&c, 0);
	ret = l2_contents(cfg, &c, err);
	if (ret == 0)
		ret = write_archive(&c, path, err);
	image_cpio_release(&c);
	return ret;
}

/* add_closure() - every file and symlink of @cl, read from @root, at the same paths */
static int add_closure(struct image_cpio *c, const char *root, const struct image_closure *cl, nl_error_t *err)
{
	for (size_t i = 0; i < cl->count; i++) {
		const struct image_closure_entry *e = &cl->entries[i];
		cleanup_free char *host = xasprintf("%s/%s", root, e->rel);

		if ((e->link_target ? image_cpio_add_symlink(c, e->rel, e->link_target, err)
				    : image_cpio_add_host_file(c, e->rel, e->mode, host, err)) < 0)
			return -1;
	}
	return 0;
}

int image_l2_dpdk_build(const struct image_config *cfg, const char *debs_root, const char *path, nl_error_t *err)
{
	cleanup_free char *include = xasprintf("%s/l2/dpdk/include", cfg->recipe_dir);
	cleanup_free char *files = xasprintf("%s/l2/dpdk/files", cfg->recipe_dir);
	cleanup_strv char **roots = NULL;
	struct image_closure cl = { 0 };
	struct image_cpio c;
	int ret;

	if (image_recipe_lines(include, &roots, err) < 0)
		return -1;
	if (!roots[0])
		return nl_error(err, EINVAL, "%s names no file to put into the dpdk L2 image", include);
	if (image_closure_compute(debs_root, roots, &cl, err) < 0)
		return nl_error_wrap(err, "the files of %s in the packages of images/l2/dpdk/packages (add the "
					  "package that ships what is missing)", include);
	image_cpio_init(&c, 0);
	ret = l2_contents(cfg, &c, err);
	if (ret == 0)
		ret = add_closure(&c, debs_root, &cl, err);
	if (ret == 0)
		ret = image_tree_walk(files, add_tree_entry, &c, err);
	if (ret == 0)
		ret = write_archive(&c, path, err);
	image_cpio_release(&c);
	image_closure_release(&cl);
	return ret;
}

/* ---- the Debian packages of the dpdk image ----------------------------------------------------- */

/* debs_fetch() - download and unpack the packages into @staging/{debs,root}; @staging/manifest last */
static int debs_fetch(const struct image_config *cfg, struct image_ctx *ctx, const char *staging, nl_error_t *err)
{
	cleanup_free char *list = xasprintf("%s/l2/dpdk/packages", cfg->recipe_dir);
	cleanup_free char *debs_dir = xasprintf("%s/debs", staging);
	cleanup_free char *root = xasprintf("%s/root", staging);
	cleanup_free char *manifest = xasprintf("%s/manifest", staging);
	cleanup_strv char **packages = NULL, **update = NULL, **download = NULL, **debs = NULL;
	cleanup_strbuf struct strbuf man = STRBUF_INIT;

	if (image_package_list(list, &packages, err) < 0 || fs_mkdir_p(debs_dir, err) < 0 ||
	    fs_mkdir_p(root, err) < 0 ||
	    build_apt_private_commands(NULL, cfg->cache_dir, cfg->suite, (const char *const *)packages, &update,
				       &download, err) < 0)
		return -1;
	image_log(ctx, "L2 dpdk: apt-get download of %zu %s packages into %s", strv_len(packages), cfg->suite, debs_dir);
	if (image_exec(ctx, update, NULL, IMAGE_DEBS_TIMEOUT_MS, err) < 0 ||
	    image_exec(ctx, download, debs_dir, IMAGE_DEBS_TIMEOUT_MS, err) < 0)
		return -1;
	debs = build_apt_debs_in(debs_dir);
	if (strv_len(debs) != strv_len(packages))
		return nl_error(err, 0, "apt-get download left %zu .deb files in %s for the %zu packages of %s",
				strv_len(debs), debs_dir, strv_len(packages), list);
	for (size_t i = 0; debs[i]; i++) {
		cleanup_free char *deb = xasprintf("%s/%s", debs_dir, debs[i]);
		char *argv[] = { (char *)"dpkg", (char *)"-x", deb, root, NULL };
		char hex[SHA256_HEX_BYTES];

		if (sha256_file_hex(deb, hex, err) < 0 || image_exec(ctx, argv, NULL, IMAGE_DEBS_TIMEOUT_MS, err) < 0)
			return -1;
		strbuf_printf(&man, "%s %s\n", debs[i], hex);
	}
	return fs_write_text(manifest, man.str, err);
}

int image_l2_debs_ensure(const struct image_config *cfg, struct image_ctx *ctx, const char *key, char **root,
			 nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/images/debs/%s", cfg->cache_dir, key);
	cleanup_free char *manifest = xasprintf("%s/manifest", dir);
	cleanup_free char *staging = xasprintf("%s/images/debs/.staging-%s-%d", cfg->cache_dir, key, (int)getpid());
	cleanup_error nl_error_t rm_err = NULL;
	int ret;

	*root = xasprintf("%s/root", dir);
	if (!cfg->rebuild && image_file_exists(manifest)) {
		image_log(ctx, "L2 dpdk: packages cached in %s", dir);
		return 0;
	}
	fs_remove_tree(staging, &rm_err);
	nl_error_release(&rm_err);
	ret = debs_fetch(cfg, ctx, staging, err);
	if (ret < 0)
		fs_error_mark_full(err, staging);	/* while the partial download still fills it */
	if (ret == 0)
		ret = fs_publish(staging, dir, err);	/* --rebuild: replaces the old download */
	fs_remove_tree(staging, &rm_err);
	if (ret < 0)
		return nl_error_wrap(err, "the Debian packages of the dpdk L2 image");
	image_log(ctx, "L2 dpdk: packages unpacked in %s", *root);
	return 0;
}
