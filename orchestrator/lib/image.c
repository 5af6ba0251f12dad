/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image.c - `nestlab images`: resolve the inputs, key every artefact by content, build what is missing
 *
 * The steps and their caches are described in image.h. This file holds the parts that are not
 * libguestfs (image_guestfs.c), cpio (image_cpio.c), the L2 contents and their Debian packages
 * (image_l2.c, image_closure.c) or the seed (image_seed.c): input resolution, the recipe tree walk shared
 * by hashing and copying, the keys, mmdebstrap, the cache directories and the `current` link, and l1.info.
 *
 * Recipe files are hashed by what git keeps of them: relative path, type, the executable bit, bytes
 * or link target. So a fresh checkout with another umask or mtime has the same keys.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "image.h"
#include "image_internal.h"
#include "loop.h"
#include "proc.h"

/* bump when the way an artefact is made changes without any recipe file changing */
#define IMAGE_ROOTFS_FORMAT "nestlab-rootfs-1"
#define IMAGE_L2_FORMAT "nestlab-l2-1"
#define IMAGE_DEBS_FORMAT "nestlab-l2-debs-1"
#define IMAGE_L2_DPDK_FORMAT "nestlab-l2-dpdk-1"
#define IMAGE_L1_FORMAT "nestlab-l1-1"

/* mmdebstrap options, part of the rootfs key (man mmdebstrap) */
static const char *const mmdebstrap_options[] = {
	"--variant=minbase",
	"--format=tar",
	"--aptopt=APT::Install-Recommends \"false\"",
	"--dpkgopt=path-exclude=/usr/share/man/*",
	"--dpkgopt=path-exclude=/usr/share/doc/*",
	"--dpkgopt=path-include=/usr/share/doc/*/copyright",
	"--dpkgopt=path-exclude=/usr/share/locale/*",
	"--dpkgopt=path-exclude=/usr/share/info/*",
};

/* ---- small file helpers ------------------------------------------------------------------------ */

bool image_file_exists(const char *path)
{
	struct stat st;

	return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- configuration --------------------------------------------------------------------------- */

/* exe_dir() - directory of the running nestlab binary, or NULL */
static char *exe_dir(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	char *slash;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return xstrdup(buf);
}

/* default_recipe_dir() - <exe>/../images (build/nestlab in a checkout), else ./images */
static char *default_recipe_dir(const char *bin_dir)
{
	if (bin_dir) {
		cleanup_free char *candidate = xasprintf("%s/../images", bin_dir);
		cleanup_free char *packages = xasprintf("%s/l1/packages", candidate);

		if (image_file_exists(packages))
			return realpath(candidate, NULL);
	}
	return realpath("images", NULL);
}

/* newest_boot_kernel() - the last /boot/vmlinuz-* in version order, or NULL */
static char *newest_boot_kernel(void)
{
	glob_t g;
	char *ret = NULL;

	if (glob("/boot/vmlinuz-*", 0, NULL, &g) == 0 && g.gl_pathc)
		ret = xstrdup(g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	return ret;
}

/**
 * resolve_kernel() - the kernel option, <cache>/linux/current/bzImage, or a distribution kernel
 * @cfg:	cfg->cache_dir set; kernel and kernel_is_fallback set here
 * @opt:	--kernel, or NULL
 * @err:	error
 */
static int resolve_kernel(struct image_config *cfg, const char *opt, nl_error_t *err)
{
	cleanup_free char *built = xasprintf("%s/linux/current/bzImage", cfg->cache_dir);

	if (opt) {
		if (!image_file_exists(opt))
			return nl_error(err, ENOENT, "kernel %s: not a file", opt);
		cfg->kernel = realpath(opt, NULL);
		return 0;
	}
	if (image_file_exists(built)) {
		cfg->kernel = realpath(built, NULL);
		return 0;
	}
	cfg->kernel = newest_boot_kernel();
	if (!cfg->kernel)
		return nl_error(err, ENOENT, "no kernel: %s is missing; run 'nestlab build linux' (or pass --kernel)",
				built);
	cfg->kernel_is_fallback = true;
	strv_pushf(&cfg->notes, "no nestlab kernel at %s: using %s for testing. It needs modules and an initrd, so "
		   "L1 will not boot with root=/dev/vda; run 'nestlab build linux' and then 'nestlab images'",
		   built, cfg->kernel);
	return 0;
}

/*
 * check_kernel_config() - a note when the kernel's config (the "config" file `nestlab build linux` keeps
 * beside bzImage) lacks what L1 needs from it: vfat for the NoCloud seed, which is a vfat disk
 */
static void check_kernel_config(struct image_config *cfg)
{
	cleanup_free char *dir = xstrdup(cfg->kernel);
	cleanup_free char *path = NULL;
	cleanup_free char *config = NULL;

	*strrchr(dir, '/') = '\0';
	path = xasprintf("%s/config", dir);
	config = read_file_text(path);
	if (config && !strstr(config, "\nCONFIG_VFAT_FS=y\n"))
		strv_pushf(&cfg->notes, "%s has no CONFIG_VFAT_FS=y: L1 cannot read its NoCloud seed (a vfat disk "
			   "labelled CIDATA), so cloud-init will not configure it; add CONFIG_VFAT_FS=y, "
			   "CONFIG_NLS_CODEPAGE_437=y and CONFIG_NLS_ISO8859_1=y to the kernel config", path);
}

/* resolve_qemu() - the qemu option, <cache>/qemu/current/qemu-system-x86_64, or none (note) */
static int resolve_qemu(struct image_config *cfg, const char *opt, nl_error_t *err)
{
	cleanup_free char *built = xasprintf("%s/qemu/current/qemu-system-x86_64", cfg->cache_dir);

	if (opt) {
		if (!image_file_exists(opt))
			return nl_error(err, ENOENT, "QEMU %s: not a file", opt);
		cfg->qemu = realpath(opt, NULL);
		return 0;
	}
	if (image_file_exists(built)) {
		cfg->qemu = realpath(built, NULL);
		return 0;
	}
	strv_pushf(&cfg->notes, "no nestlab QEMU at %s: L1 gets no QEMU and cannot start L2; run 'nestlab build "
		   "qemu' and then 'nestlab images'", built);
	return 0;
}

/* resolve_required() - an input that must exist: @opt, else @fallback */
static int resolve_required(char **out, const char *what, const char *opt, const char *fallback, const char *hint,
			    nl_error_t *err)
{
	const char *path = opt ? opt : fallback;

	if (!path || !image_file_exists(path))
		return nl_error(err, ENOENT, "%s %s: missing; %s", what, path ? path : "(none)", hint);
	*out = realpath(path, NULL);
	return 0;
}

int image_config_init_default(struct image_config *cfg, const struct image_config_opts *opts, nl_error_t *err)
{
	static const struct image_config_opts none;
	cleanup_free char *bin_dir = exe_dir();
	cleanup_free char *agent = NULL, *vfio_nic = NULL;

	if (!opts)
		opts = &none;
	*cfg = (struct image_config){ .rebuild = opts->rebuild };
	cfg->cache_dir = fs_cache_dir(err);
	if (!cfg->cache_dir)
		return -1;
	cfg->suite = xstrdup(IMAGE_SUITE);
	cfg->mirror = xstrdup(IMAGE_MIRROR);
	cfg->firmware_dirs = xstrdup("/usr/share/seabios:/usr/share/qemu");
	cfg->recipe_dir = opts->recipe_dir ? realpath(opts->recipe_dir, NULL) : default_recipe_dir(bin_dir);
	if (!cfg->recipe_dir)
		return nl_error(err, ENOENT, "recipes: no images/ directory found; run nestlab from its checkout");
	agent = bin_dir ? xasprintf("%s/nestlab-agent", bin_dir) : xstrdup("build/nestlab-agent");
	if (!image_file_exists(agent) && image_file_exists("build/nestlab-agent")) {
		free(agent);
		agent = xstrdup("build/nestlab-agent");
	}
	if (resolve_required(&cfg->agent, "agent", opts->agent, agent, "run 'make' to build build/nestlab-agent",
			     err) < 0 ||
	    resolve_required(&cfg->busybox, "busybox", opts->busybox, "/bin/busybox",
			     "install Debian's busybox-static ('make deps')", err) < 0)
		return -1;
	if (opts->vfio_nic) {
		if (resolve_required(&cfg->vfio_nic, "L2 vfio driver", opts->vfio_nic, NULL, "build it first", err) < 0)
			return -1;
	} else {
		cleanup_free char *dir = xstrdup(cfg->agent);

		*strrchr(dir, '/') = '\0';
		vfio_nic = xasprintf("%s/nestlab-vfio-nic", dir);
		if (image_file_exists(vfio_nic))
			cfg->vfio_nic = realpath(vfio_nic, NULL);
		else
			strv_pushf(&cfg->notes, "no %s: the L2 image has no userspace vfio driver", vfio_nic);
	}
	if (resolve_kernel(cfg, opts->kernel, err) < 0 || resolve_qemu(cfg, opts->qemu, err) < 0)
		return -1;
	if (!cfg->kernel_is_fallback)
		check_kernel_config(cfg);
	return 0;
}

void image_config_release(struct image_config *cfg)
{
	free(cfg->recipe_dir);
	free(cfg->cache_dir);
	free(cfg->kernel);
	free(cfg->qemu);
	free(cfg->agent);
	free(cfg->vfio_nic);
	free(cfg->busybox);
	free(cfg->firmware_dirs);
	free(cfg->suite);
	free(cfg->mirror);
	strv_free(cfg->notes);
	*cfg = (struct image_config){ 0 };
}

/* ---- build log ------------------------------------------------------------------------------- */

int image_ctx_open(struct image_ctx *ctx, const struct image_config *cfg, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/images/logs", cfg->cache_dir);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	if (fs_mkdir_p(dir, err) < 0)
		return nl_error_wrap(err, "image build log (set NESTLAB_CACHE to a writable place)");
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	ctx->log_path = xasprintf("%s/images-%s-%d.log", dir, stamp, (int)getpid());
	ctx->log = fopen(ctx->log_path, "we");
	if (!ctx->log)
		return nl_error(err, errno, "create %s", ctx->log_path);
	setvbuf(ctx->log, NULL, _IOLBF, 0);
	return 0;
}

void image_ctx_close(struct image_ctx *ctx)
{
	if (ctx->log)
		fclose(ctx->log);
	ctx->log = NULL;
	free(ctx->log_path);
	ctx->log_path = NULL;
}

void image_log(struct image_ctx *ctx, const char *fmt, ...)
{
	cleanup_free char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	if (ctx && ctx->log)
		fprintf(ctx->log, "[%llu] %s\n", (unsigned long long)now_ms(), line);
	if (ctx && ctx->progress)
		fprintf(stderr, "images: %s\n", line);
}

/* ---- recipe trees ---------------------------------------------------------------------------- */

/* walk() - recursion of image_tree_walk(); @rel is "" at the top */
static int walk(const char *root, const char *rel, image_tree_fn fn, void *opaque, nl_error_t *err)
{
	cleanup_free char *dir_path = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	struct dirent **names = NULL;
	int n = scandir(dir_path, &names, NULL, alphasort), ret = 0;

	if (n < 0)
		return nl_error(err, errno, "read directory %s", dir_path);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct image_tree_entry e = { 0 };
		char target[PATH_MAX];
		struct stat st;

		if (ret < 0 || !strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		e.rel = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		e.host_path = xasprintf("%s/%s", root, e.rel);
		if (lstat(e.host_path, &st) < 0) {
			ret = nl_error(err, errno, "stat %s", e.host_path);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t len = readlink(e.host_path, target, sizeof(target) - 1);

			if (len < 0) {
				ret = nl_error(err, errno, "readlink %s", e.host_path);
			} else {
				target[len] = '\0';
				e.type = IMAGE_TREE_SYMLINK;
				e.link_target = target;
				ret = fn(&e, opaque, err);
			}
		} else if (S_ISDIR(st.st_mode)) {
			e.type = IMAGE_TREE_DIR;
			e.mode = 0755;
			ret = fn(&e, opaque, err);
			if (ret >= 0)
				ret = walk(root, e.rel, fn, opaque, err);
		} else if (S_ISREG(st.st_mode)) {
			e.type = IMAGE_TREE_FILE;
			e.mode = st.st_mode & 0111 ? 0755 : 0644;	/* what git keeps */
			e.size = (uint64_t)st.st_size;
			ret = fn(&e, opaque, err);
		} else {
			ret = nl_error(err, EINVAL, "%s: only files, directories and symlinks go into an image",
				       e.host_path);
		}
		free(e.rel);
		free(e.host_path);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int image_tree_walk(const char *root, image_tree_fn fn, void *opaque, nl_error_t *err)
{
	struct stat st;

	if (stat(root, &st) < 0 && errno == ENOENT)
		return 0;	/* an absent tree is an empty one */
	return walk(root, "", fn, opaque, err);
}

/* hash_entry() - one tree entry into the hash: type, relative path, mode, bytes or target */
static int hash_entry(const struct image_tree_entry *e, void *opaque, nl_error_t *err)
{
	struct sha256 *h = opaque;
	char head[32];

	snprintf(head, sizeof(head), "%d %o", (int)e->type, e->mode);
	sha256_update_str(h, head);
	sha256_update_str(h, e->rel);
	if (e->type == IMAGE_TREE_SYMLINK)
		sha256_update_str(h, e->link_target);
	if (e->type == IMAGE_TREE_FILE) {
		char size[32];

		snprintf(size, sizeof(size), "%llu", (unsigned long long)e->size);
		sha256_update_str(h, size);
		return sha256_update_file(h, e->host_path, err);
	}
	return 0;
}

int image_hash_tree(struct sha256 *h, const char *dir, nl_error_t *err)
{
	sha256_update_str(h, "tree");
	return image_tree_walk(dir, hash_entry, h, err);
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* add_file_identity() - sha256 of an artefact into @h and a manifest line */
static int add_file_identity(struct sha256 *h, char ***manifest, const char *what, const char *path, nl_error_t *err)
{
	char hex[SHA256_HEX_BYTES];

	if (!path) {
		sha256_update_str(h, what);
		sha256_update_str(h, "none");
		strv_pushf(manifest, "%s: none", what);
		return 0;
	}
	if (sha256_file_hex(path, hex, err) < 0)
		return nl_error_wrap(err, "%s", what);
	sha256_update_str(h, what);
	sha256_update_str(h, hex);
	strv_pushf(manifest, "%s: %s sha256 %s", what, path, hex);
	return 0;
}

/* rootfs_key() - the package list, suite, mirror and mmdebstrap options */
static int rootfs_key(const struct image_config *cfg, char key[SHA256_HEX_BYTES], nl_error_t *err)
{
	cleanup_free char *packages = xasprintf("%s/l1/packages", cfg->recipe_dir);
	struct sha256 h;

	sha256_init(&h);
	sha256_update_str(&h, IMAGE_ROOTFS_FORMAT);
	if (sha256_update_file(&h, packages, err) < 0) {
		sha256_final_hex(&h, key);	/* frees the digest context (sha256.h); the key is not used */
		return nl_error_wrap(err, "L1 package list");
	}
	sha256_update_str(&h, cfg->suite);
	sha256_update_str(&h, cfg->mirror);
	for (size_t i = 0; i < ARRAY_SIZE(mmdebstrap_options); i++)
		sha256_update_str(&h, mmdebstrap_options[i]);
	sha256_final_hex(&h, key);
	return 0;
}

/*
 * l2_key() - what the minimal initramfs is made of: images/l2/init, images/l2/files/ and the binaries
 * (not images/l2/dpdk/, which only the dpdk image uses)
 */
static int l2_key(const struct image_config *cfg, char ***manifest, char key[SHA256_HEX_BYTES], nl_error_t *err)
{
	cleanup_free char *init = xasprintf("%s/l2/init", cfg->recipe_dir);
	cleanup_free char *files = xasprintf("%s/l2/files", cfg->recipe_dir);
	struct sha256 h;
	struct stat st;

	sha256_init(&h);
	sha256_update_str(&h, IMAGE_L2_FORMAT);
	sha256_update_str(&h, "init");
	if (sha256_update_file(&h, init, err) < 0 ||
	    (stat(files, &st) == 0 && (sha256_update_str(&h, "files"), image_hash_tree(&h, files, err) < 0)) ||
	    add_file_identity(&h, manifest, "agent", cfg->agent, err) < 0 ||
	    add_file_identity(&h, manifest, "busybox", cfg->busybox, err) < 0 ||
	    add_file_identity(&h, manifest, "vfio-nic", cfg->vfio_nic, err) < 0) {
		sha256_final_hex(&h, key);
		return -1;
	}
	sha256_final_hex(&h, key);
	return 0;
}

/* debs_key() - the dpdk image's package list and the suite they come from */
static int debs_key(const struct image_config *cfg, char key[SHA256_HEX_BYTES], nl_error_t *err)
{
	cleanup_free char *packages = xasprintf("%s/l2/dpdk/packages", cfg->recipe_dir);
	struct sha256 h;

	sha256_init(&h);
	sha256_update_str(&h, IMAGE_DEBS_FORMAT);
	if (sha256_update_file(&h, packages, err) < 0) {
		sha256_final_hex(&h, key);
		return nl_error_wrap(err, "dpdk L2 package list");
	}
	sha256_update_str(&h, cfg->suite);
	sha256_final_hex(&h, key);
	return 0;
}

/* l2_dpdk_key() - the minimal image's key, the packages' key and images/l2/dpdk */
static int l2_dpdk_key(const struct image_config *cfg, const struct image_keys *keys, char key[SHA256_HEX_BYTES],
		       nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/l2/dpdk", cfg->recipe_dir);
	struct sha256 h;
	int ret;

	sha256_init(&h);
	sha256_update_str(&h, IMAGE_L2_DPDK_FORMAT);
	sha256_update_str(&h, keys->l2);
	sha256_update_str(&h, keys->debs);
	ret = image_hash_tree(&h, dir, err);
	sha256_final_hex(&h, key);
	return ret;
}

int image_keys_compute(const struct image_config *cfg, struct image_keys *keys, nl_error_t *err)
{
	cleanup_free char *l1_dir = xasprintf("%s/l1", cfg->recipe_dir);
	struct sha256 h;
	char size[32];

	*keys = (struct image_keys){ 0 };
	if (rootfs_key(cfg, keys->rootfs, err) < 0 || l2_key(cfg, &keys->manifest, keys->l2, err) < 0 ||
	    debs_key(cfg, keys->debs, err) < 0 || l2_dpdk_key(cfg, keys, keys->l2_dpdk, err) < 0) {
		image_keys_release(keys);
		return -1;
	}
	strv_pushf(&keys->manifest, "rootfs: %s (%s %s)", keys->rootfs, cfg->suite, cfg->mirror);
	strv_pushf(&keys->manifest, "l2: %s", keys->l2);
	strv_pushf(&keys->manifest, "debs: %s (images/l2/dpdk/packages, %s)", keys->debs, cfg->suite);
	strv_pushf(&keys->manifest, "l2-dpdk: %s", keys->l2_dpdk);
	sha256_init(&h);
	sha256_update_str(&h, IMAGE_L1_FORMAT);
	sha256_update_str(&h, keys->rootfs);
	sha256_update_str(&h, keys->l2);
	sha256_update_str(&h, keys->l2_dpdk);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)IMAGE_L1_SIZE_BYTES);
	sha256_update_str(&h, size);
	if (image_hash_tree(&h, l1_dir, err) < 0 || add_file_identity(&h, &keys->manifest, "kernel", cfg->kernel, err) < 0 ||
	    add_file_identity(&h, &keys->manifest, "qemu", cfg->qemu, err) < 0) {
		sha256_final_hex(&h, keys->l1);
		image_keys_release(keys);
		return -1;
	}
	sha256_final_hex(&h, keys->l1);
	strv_pushf(&keys->manifest, "recipes: %s", cfg->recipe_dir);
	strv_pushf(&keys->manifest, "l1: %s", keys->l1);
	return 0;
}

void image_keys_release(struct image_keys *keys)
{
	strv_free(keys->manifest);
	keys->manifest = NULL;
}

/* ---- the steps --------------------------------------------------------------------------------- */

int image_recipe_lines(const char *path, char ***lines, nl_error_t *err)
{
	cleanup_free char *text = read_file_text(path);

	*lines = xcalloc(1, sizeof(char *));
	if (!text)
		return nl_error(err, errno, "read %s", path);
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *end;

		line += strspn(line, " \t");
		end = line + strcspn(line, "#");
		while (end > line && strchr(" \t\r", end[-1]))
			end--;
		if (line == end)
			continue;
		*end = '\0';
		strv_push(lines, line);
	}
	return 0;
}

int image_package_list(const char *path, char ***names, nl_error_t *err)
{
	if (image_recipe_lines(path, names, err) < 0)
		return -1;
	for (size_t i = 0; (*names)[i]; i++)
		if (strspn((*names)[i], "abcdefghijklmnopqrstuvwxyz0123456789+-.:=") != strlen((*names)[i]))
			return nl_error(err, EINVAL, "%s: '%s' is not a Debian package name", path, (*names)[i]);
	if (!(*names)[0])
		return nl_error(err, EINVAL, "%s: no packages", path);
	return 0;
}

/* package_list() - the packages of images/l1/packages joined by commas (mmdebstrap --include) */
static int package_list(const struct image_config *cfg, char **out, nl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/l1/packages", cfg->recipe_dir);
	cleanup_strv char **names = NULL;
	struct strbuf sb = STRBUF_INIT;

	if (image_package_list(path, &names, err) < 0)
		return -1;
	for (size_t i = 0; names[i]; i++)
		strbuf_printf(&sb, "%s%s", i ? "," : "", names[i]);
	*out = strbuf_detach(&sb);
	return 0;
}

/* child_exited() - loop callback on the child's pidfd */
static int child_exited(struct loop *loop, const struct loop_event *ev UNUSED, nl_error_t *err UNUSED)
{
	loop_stop(loop);
	return 0;
}

/**
 * wait_interruptible() - wait for @p at most @timeout_ms while SIGINT and SIGTERM go through the
 * supervisor loop: on either (or the timeout) the child's group gets SIGTERM and p->grace_ms to clean
 * up (mmdebstrap unmounts what it mounted in its chroot), then SIGKILL
 * @p:		started child
 * @timeout_ms:	limit
 * @err:	"interrupted by SIGINT", "timed out after ...", or the child's status
 */
static int wait_interruptible(struct proc *p, int timeout_ms, nl_error_t *err)
{
	cleanup_loop struct loop loop = LOOP_INIT;

	if (p->pidfd < 0)
		return proc_wait(p, timeout_ms, err);
	if (loop_init(&loop, err) < 0 ||
	    !loop_add_fd(&loop, LOOP_KIND_CHILD_EXIT, p->pidfd, EPOLLIN, child_exited, NULL, p->argv[0], err) ||
	    loop_run_until(&loop, NULL, NULL, timeout_ms, err) < 0) {
		proc_kill(p);
		return -1;
	}
	return proc_wait(p, 0, err);
}

/**
 * exec_logged() - run @argv with its output appended to the build log; SIGINT/SIGTERM end it
 * @ctx:	log
 * @argv:	the program and its arguments
 * @cwd:	working directory, or NULL
 * @timeout_ms:	limit
 * @grace_ms:	SIGTERM -> SIGKILL delay when it is stopped
 * @err:	start failure, exit status, timeout or EINTR
 */
static int exec_logged(struct image_ctx *ctx, char **argv, const char *cwd, int timeout_ms, unsigned grace_ms,
		       nl_error_t *err)
{
	cleanup_proc struct proc p = PROC_INIT;

	for (size_t i = 0; argv[i]; i++)
		strv_push(&p.argv, argv[i]);
	p.cwd = cwd;
	p.stdin_io.mode = PROC_IO_NULL;
	if (ctx->log_path) {
		fflush(ctx->log);
		p.stdout_io = (struct proc_io){ PROC_IO_FILE_APPEND, ctx->log_path };
		p.stderr_io.mode = PROC_IO_STDOUT;
	}
	p.grace_ms = grace_ms;
	/* started before the loop blocks SIGINT/SIGTERM, so that the child does not inherit the mask */
	if (proc_start(&p, err) < 0)
		return -1;
	return wait_interruptible(&p, timeout_ms, err);
}

int image_exec(struct image_ctx *ctx, char **argv, const char *cwd, int timeout_ms, nl_error_t *err)
{
	if (exec_logged(ctx, argv, cwd, timeout_ms, PROC_GRACE_MS_DEFAULT, err) < 0)
		return nl_error_wrap(err, "%s (its output is in %s)", argv[0], ctx->log_path ? ctx->log_path : "the build log");
	return 0;
}

/**
 * rootfs_build() - mmdebstrap the L1 root file system into @out (via @out.tmp)
 * @cfg:	suite, mirror, package list
 * @ctx:	mmdebstrap's output goes to the build log
 * @out:	tarball path
 * @err:	error, naming the log
 */
static int rootfs_build(const struct image_config *cfg, struct image_ctx *ctx, const char *out, nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", out, (int)getpid());
	cleanup_free char *include = NULL;
	cleanup_strv char **argv = xcalloc(1, sizeof(char *));

	if (package_list(cfg, &include, err) < 0)
		return -1;
	strv_push(&argv, "mmdebstrap");
	for (size_t i = 0; i < ARRAY_SIZE(mmdebstrap_options); i++)
		strv_push(&argv, mmdebstrap_options[i]);
	strv_pushf(&argv, "--include=%s", include);
	strv_push(&argv, cfg->suite);
	strv_push(&argv, tmp);
	strv_push(&argv, cfg->mirror);
	image_log(ctx, "rootfs: mmdebstrap %s (%s) -> %s", cfg->suite, include, out);
	if (exec_logged(ctx, argv, NULL, IMAGE_MMDEBSTRAP_TIMEOUT_MS, IMAGE_MMDEBSTRAP_GRACE_MS, err) < 0) {
		unlink(tmp);
		if ((*err)->errnum == ENOENT)
			nl_error_wrap(err, "rootfs: install mmdebstrap ('make deps')");
		return nl_error_wrap(err, "rootfs: mmdebstrap failed (its output is in %s)",
				     ctx->log_path ? ctx->log_path : "the build log");
	}
	return fs_publish(tmp, out, err);
}

/* since() - milliseconds since @start */
static uint64_t since(uint64_t start)
{
	return now_ms() - start;
}

/**
 * ensure_rootfs() - the cached rootfs tarball, built when missing
 * @cfg, @ctx:	inputs, log
 * @keys:	keys
 * @res:	rootfs_built, rootfs_ms
 * @path:	the tarball (caller frees)
 * @err:	error
 */
static int ensure_rootfs(const struct image_config *cfg, struct image_ctx *ctx, const struct image_keys *keys,
			 struct image_result *res, char **path, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/images/rootfs", cfg->cache_dir);
	uint64_t start = now_ms();

	*path = xasprintf("%s/%s.tar", dir, keys->rootfs);
	if (!cfg->rebuild && image_file_exists(*path)) {
		image_log(ctx, "rootfs: cached %s", *path);
		return 0;
	}
	if (fs_mkdir_p(dir, err) < 0 || rootfs_build(cfg, ctx, *path, err) < 0)
		return -1;
	res->rootfs_built = true;
	res->rootfs_ms = since(start);
	image_log(ctx, "rootfs: built in %.1f s", res->rootfs_ms / 1000.0);
	return 0;
}

/* the host paths of both L2 initramfs images (owned) */
struct l2_paths {
	char *minimal, *dpdk;
};

static void l2_paths_release(struct l2_paths *l2)
{
	free(l2->minimal);
	free(l2->dpdk);
	*l2 = (struct l2_paths){ 0 };
}

/**
 * ensure_l2() - both cached L2 initramfs images, each built when missing
 * @cfg, @ctx, @keys:	inputs, log, keys
 * @res:		l2_built, l2_ms, l2_dpdk_built, l2_dpdk_ms
 * @l2:			their paths (l2_paths_release())
 * @err:		error
 *
 * The dpdk image needs the Debian packages only when it is built: a cached one needs no network.
 */
static int ensure_l2(const struct image_config *cfg, struct image_ctx *ctx, const struct image_keys *keys,
		     struct image_result *res, struct l2_paths *l2, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/images/l2/%s", cfg->cache_dir, keys->l2);
	cleanup_free char *dpdk_dir = xasprintf("%s/images/l2/%s", cfg->cache_dir, keys->l2_dpdk);
	cleanup_free char *debs_root = NULL;
	uint64_t start = now_ms();

	l2->minimal = xasprintf("%s/minimal.cpio.gz", dir);
	l2->dpdk = xasprintf("%s/dpdk.cpio.gz", dpdk_dir);
	if (!cfg->rebuild && image_file_exists(l2->minimal)) {
		image_log(ctx, "L2: cached %s", l2->minimal);
	} else {
		if (fs_mkdir_p(dir, err) < 0 || image_l2_build(cfg, l2->minimal, err) < 0 || fs_sync_parent(dir, err) < 0)
			return nl_error_wrap(err, "L2 initramfs");
		res->l2_built = true;
		res->l2_ms = since(start);
		image_log(ctx, "L2: built %s in %.1f s", l2->minimal, res->l2_ms / 1000.0);
	}
	if (!cfg->rebuild && image_file_exists(l2->dpdk)) {
		image_log(ctx, "L2 dpdk: cached %s", l2->dpdk);
		return 0;
	}
	start = now_ms();
	if (image_l2_debs_ensure(cfg, ctx, keys->debs, &debs_root, err) < 0 || fs_mkdir_p(dpdk_dir, err) < 0 ||
	    image_l2_dpdk_build(cfg, debs_root, l2->dpdk, err) < 0 || fs_sync_parent(dpdk_dir, err) < 0)
		return nl_error_wrap(err, "dpdk L2 initramfs");
	res->l2_dpdk_built = true;
	res->l2_dpdk_ms = since(start);
	image_log(ctx, "L2 dpdk: built %s in %.1f s", l2->dpdk, res->l2_dpdk_ms / 1000.0);
	return 0;
}

/* write_info() - l1.info (root=, key=, source=) and the manifest beside the image */
static int write_info(const char *dir, const char *root, const char *key, const char *source,
		      char *const *manifest, nl_error_t *err)
{
	cleanup_free char *info_path = xasprintf("%s/l1.info", dir);
	cleanup_free char *manifest_path = xasprintf("%s/manifest", dir);
	cleanup_strbuf struct strbuf info = STRBUF_INIT;
	cleanup_strbuf struct strbuf man = STRBUF_INIT;

	strbuf_printf(&info, "root=%s\nkey=%s\n", root, key);
	if (source)
		strbuf_printf(&info, "source=%s\n", source);
	for (size_t i = 0; manifest && manifest[i]; i++)
		strbuf_printf(&man, "%s\n", manifest[i]);
	if (fs_write_text(info_path, info.str, err) < 0 || fs_write_text(manifest_path, man.len ? man.str : "", err) < 0)
		return -1;
	return 0;
}

/* copy_file() - copy @from to @to (small files: the L2 initramfs beside l1.img); fs_publish() syncs it */
static int copy_file(const char *from, const char *to, nl_error_t *err)
{
	cleanup_close int in = open(from, O_RDONLY | O_CLOEXEC);
	cleanup_close int out = -1;
	char buf[65536];

	if (in < 0)
		return nl_error(err, errno, "open %s", from);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return nl_error(err, errno, "create %s", to);
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "read %s", from);
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return nl_error(err, errno, "write %s", to);
			done += w;
		}
	}
	if (close(out) < 0) {
		out = -1;
		return nl_error(err, errno, "write %s", to);
	}
	out = -1;
	return 0;
}

/* point_current() - <cache>/images/current -> l1/<key>, replaced atomically and durably */
static int point_current(const struct image_config *cfg, const char *key, nl_error_t *err)
{
	cleanup_free char *link = xasprintf("%s/images/current", cfg->cache_dir);
	cleanup_free char *target = xasprintf("l1/%s", key);

	return fs_symlink_replace(link, target, err);
}

/* current_key() - the key <cache>/images/current points at, or NULL */
static char *current_key(const struct image_config *cfg)
{
	cleanup_free char *link = xasprintf("%s/images/current", cfg->cache_dir);
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	if (n <= 0)
		return NULL;
	target[n] = '\0';
	return xstrdup(strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
}

/**
 * prune_l1() - remove the l1/<key> directories other than the new one and the one `current` pointed
 * at before (a run started just before may still open it): each holds a 2 GiB sparse image
 * @cfg, @ctx:	cache, log
 * @keep:	the new key
 * @previous:	the previous key, or NULL
 *
 * Only the files a build writes are removed; a directory holding anything else stays.
 */
static void prune_l1(const struct image_config *cfg, struct image_ctx *ctx, const char *keep, const char *previous)
{
	static const char *const files[] = { "l1.img", "l1.img.tmp", "l1.info", "l1.info.tmp", "manifest",
					     "manifest.tmp", "minimal.cpio.gz", "dpdk.cpio.gz" };
	cleanup_free char *dir = xasprintf("%s/images/l1", cfg->cache_dir);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		cleanup_free char *sub = NULL;

		if (strlen(de->d_name) != SHA256_HEX_BYTES - 1 || !strcmp(de->d_name, keep) ||
		    (previous && !strcmp(de->d_name, previous)))
			continue;
		sub = xasprintf("%s/%s", dir, de->d_name);
		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			cleanup_free char *path = xasprintf("%s/%s", sub, files[i]);

			unlink(path);
		}
		if (rmdir(sub) == 0)
			image_log(ctx, "L1: removed the old image %s", sub);
	}
	if (d)
		closedir(d);
}

/* lock_images() - exclusive lock on <cache>/images/.lock for the whole build (Ctrl-C ends the wait); the fd */
static int lock_images(const struct image_config *cfg, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/images", cfg->cache_dir);
	cleanup_free char *path = xasprintf("%s/.lock", dir);
	cleanup_free char *note = NULL;
	int fd;

	if (fs_mkdir_p(dir, err) < 0)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return nl_error(err, errno, "open %s", path);
	note = xasprintf("images: waiting for another 'nestlab images' (%s)", path);
	if (fs_lock_wait(fd, path, note, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * remove_stale() - what a `nestlab images` that died left half-made (staging directories, temporaries
 * of fs_write_file() and of the rootfs tarball); called under the images lock, so none is in use
 */
static void remove_stale(const struct image_config *cfg)
{
	static const char *const dirs[] = { "l1", "cloud", "debs", "rootfs" };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_free char *dir = xasprintf("%s/images/%s", cfg->cache_dir, dirs[i]);

		fs_remove_stale(dir, ".staging-");
	}
	{
		cleanup_free char *rootfs = xasprintf("%s/images/rootfs", cfg->cache_dir);
		DIR *d = opendir(rootfs);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			cleanup_free char *path = NULL;

			if (!strstr(de->d_name, ".tar.tmp"))
				continue;
			path = xasprintf("%s/%s", rootfs, de->d_name);
			unlink(path);
		}
		if (d)
			closedir(d);
	}
}

/* explain_full() - a full cache: which file system, and what to do (fs_error_explain_full()) */
static void explain_full(const struct image_config *cfg, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/images", cfg->cache_dir);

	fs_error_explain_full(err, dir, "the images");
}

/*
 * staging_failed() - after a failed step in @staging: mark a full file system (a child such as
 * libguestfs may report it as a plain write error) while the partial files still fill it, then remove them
 */
static void staging_failed(const char *staging, nl_error_t *err)
{
	cleanup_error nl_error_t rm_err = NULL;

	fs_error_mark_full(err, staging);
	if (fs_remove_tree(staging, &rm_err) < 0)
		fprintf(stderr, "images: warning: %s\n", rm_err->msg);
}

/**
 * ensure_l1() - the cached L1 image, composed when missing
 * @cfg, @ctx, @keys:	inputs, log, keys
 * @rootfs, @l2:	the rootfs tarball and L2 initramfs
 * @res:		l1_image, dir, l1_built, l1_ms
 * @err:		error
 *
 * Everything is made in images/l1/.staging-<key>-<pid> and published whole as images/l1/<key>
 * (fs_publish()), so a failure or a full disk leaves no l1/<key> and no 2 GiB temporary.
 */
static int ensure_l1(const struct image_config *cfg, struct image_ctx *ctx, const struct image_keys *keys,
		     const char *rootfs, const struct l2_paths *l2, struct image_result *res, nl_error_t *err)
{
	const struct image_l2_initrds initrds = { l2->minimal, l2->dpdk };
	cleanup_free char *staging = xasprintf("%s/images/l1/.staging-%s-%d", cfg->cache_dir, keys->l1, (int)getpid());
	cleanup_free char *image = xasprintf("%s/l1.img", staging);
	cleanup_free char *minimal = xasprintf("%s/minimal.cpio.gz", staging);
	cleanup_free char *dpdk = xasprintf("%s/dpdk.cpio.gz", staging);
	uint64_t start = now_ms();

	res->dir = xasprintf("%s/images/l1/%s", cfg->cache_dir, keys->l1);
	res->l1_image = xasprintf("%s/l1.img", res->dir);
	res->l1_root = xstrdup("/dev/vda");
	res->l2_initrd = xasprintf("%s/minimal.cpio.gz", res->dir);
	res->l2_dpdk_initrd = xasprintf("%s/dpdk.cpio.gz", res->dir);
	if (!cfg->rebuild && image_file_exists(res->l1_image)) {
		image_log(ctx, "L1: cached %s", res->l1_image);
		return 0;
	}
	if (fs_mkdir_p(staging, err) < 0)
		return -1;
	image_log(ctx, "L1: composing %s with libguestfs", res->l1_image);
	if (image_l1_compose(cfg, ctx, rootfs, &initrds, image, err) < 0) {
		nl_error_wrap(err, "L1 image (libguestfs messages are in %s)", ctx->log_path ? ctx->log_path : "the build log");
		staging_failed(staging, err);
		return -1;
	}
	if (copy_file(l2->minimal, minimal, err) < 0 || copy_file(l2->dpdk, dpdk, err) < 0 ||
	    write_info(staging, res->l1_root, keys->l1, NULL, keys->manifest, err) < 0) {
		staging_failed(staging, err);
		return -1;
	}
	if (fs_publish(staging, res->dir, err) < 0)
		return -1;
	res->l1_built = true;
	res->l1_ms = since(start);
	image_log(ctx, "L1: built %s in %.1f s", res->l1_image, res->l1_ms / 1000.0);
	return 0;
}

int image_build(const struct image_config *cfg, struct image_ctx *ctx, struct image_result *res, nl_error_t *err)
{
	cleanup_close int lock = -1;
	cleanup_free char *rootfs = NULL;
	cleanup_free char *l1_path = NULL;
	cleanup_free char *previous = NULL;
	struct l2_paths l2 = { 0 };
	struct image_keys keys;
	int ret = -1;

	*res = (struct image_result){ 0 };
	lock = lock_images(cfg, err);
	if (lock < 0)
		return -1;
	remove_stale(cfg);
	if (image_keys_compute(cfg, &keys, err) < 0)
		return nl_error_wrap(err, "image keys");
	image_log(ctx, "keys: rootfs %.12s, L2 %.12s, L2 dpdk %.12s, L1 %.12s", keys.rootfs, keys.l2, keys.l2_dpdk,
		  keys.l1);
	/* a cached L1 needs neither the rootfs nor the L2 initramfs (it holds its own copy) */
	l1_path = xasprintf("%s/images/l1/%s/l1.img", cfg->cache_dir, keys.l1);
	if ((cfg->rebuild || !image_file_exists(l1_path)) &&
	    (ensure_l2(cfg, ctx, &keys, res, &l2, err) < 0 || ensure_rootfs(cfg, ctx, &keys, res, &rootfs, err) < 0))
		goto out;
	previous = current_key(cfg);
	if (ensure_l1(cfg, ctx, &keys, rootfs, &l2, res, err) < 0 || point_current(cfg, keys.l1, err) < 0)
		goto out;
	prune_l1(cfg, ctx, keys.l1, previous);
	ret = 0;
out:
	if (ret < 0)
		explain_full(cfg, err);
	l2_paths_release(&l2);
	image_keys_release(&keys);
	return ret;
}

void image_result_release(struct image_result *res)
{
	free(res->l1_image);
	free(res->l1_root);
	free(res->l2_initrd);
	free(res->l2_dpdk_initrd);
	free(res->dir);
	*res = (struct image_result){ 0 };
}

/* ---- cloud-style images ---------------------------------------------------------------------- */

/* cloud_key() - the source's identity, the injected recipes and the artefacts */
static int cloud_key(const struct image_config *cfg, const struct image_keys *keys, const char *source,
		     char key[SHA256_HEX_BYTES], nl_error_t *err)
{
	cleanup_free char *files = xasprintf("%s/l1/files", cfg->recipe_dir);
	cleanup_free char *firmware = xasprintf("%s/l1/firmware", cfg->recipe_dir);
	cleanup_free char *ident = NULL;
	struct sha256 h;
	struct stat st;

	if (stat(source, &st) < 0)
		return nl_error(err, errno, "l1.image %s", source);
	ident = xasprintf("%s %lld %lld.%09ld", source, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
			  st.st_mtim.tv_nsec);
	sha256_init(&h);
	sha256_update_str(&h, "nestlab-cloud-l1-1");
	sha256_update_str(&h, ident);
	sha256_update_str(&h, keys->l2);
	sha256_update_str(&h, keys->l2_dpdk);
	if (image_hash_tree(&h, files, err) < 0 || sha256_update_file(&h, firmware, err) < 0) {
		sha256_final_hex(&h, key);
		return -1;
	}
	for (size_t i = 0; keys->manifest && keys->manifest[i]; i++)
		if (!strncmp(keys->manifest[i], "kernel:", 7) || !strncmp(keys->manifest[i], "qemu:", 5))
			sha256_update_str(&h, keys->manifest[i]);
	sha256_final_hex(&h, key);
	return 0;
}

/* convert_to_raw() - qemu-img convert -O raw @source @out (the source is never written) */
static int convert_to_raw(struct image_ctx *ctx, const char *source, const char *out, nl_error_t *err)
{
	cleanup_strv char **argv = NULL;
	cleanup_free char *output = NULL;

	strv_push(&argv, "qemu-img");
	strv_push(&argv, "convert");
	strv_push(&argv, "-O");
	strv_push(&argv, "raw");
	strv_push(&argv, source);
	strv_push(&argv, out);
	image_log(ctx, "cloud L1: qemu-img convert -O raw %s %s", source, out);
	if (proc_run(argv, 30 * 60 * 1000, &output, err) < 0) {
		image_log(ctx, "%s", output);
		return nl_error_wrap(err, "convert %s (qemu-img from qemu-utils; output: %s)", source, output);
	}
	return 0;
}

int image_l1_from_cloud(const struct image_config *cfg, struct image_ctx *ctx, const char *source,
			struct image_result *res, nl_error_t *err)
{
	cleanup_close int lock = -1;
	cleanup_free char *abs = realpath(source, NULL);
	cleanup_free char *tmp = NULL, *staging = NULL;
	char key[SHA256_HEX_BYTES];
	struct l2_paths l2 = { 0 };
	struct image_keys keys;
	uint64_t start = now_ms();
	int ret = -1;

	*res = (struct image_result){ 0 };
	if (!abs)
		return nl_error(err, errno, "l1.image %s", source);
	lock = lock_images(cfg, err);
	if (lock < 0 || image_keys_compute(cfg, &keys, err) < 0)
		return -1;
	if (cloud_key(cfg, &keys, abs, key, err) < 0)
		goto out;
	res->dir = xasprintf("%s/images/cloud/%s", cfg->cache_dir, key);
	res->l1_image = xasprintf("%s/l1.img", res->dir);
	if (!cfg->rebuild && image_file_exists(res->l1_image)) {
		struct image_l1_info info;

		if (image_l1_info_read(res->l1_image, &info, err) < 0)
			goto out;
		res->l1_root = xstrdup(info.root);
		image_l1_info_release(&info);
		image_log(ctx, "cloud L1: cached %s (root %s)", res->l1_image, res->l1_root);
		ret = 0;
		goto out;
	}
	/* made in a staging directory and published whole, like ensure_l1() */
	staging = xasprintf("%s/images/cloud/.staging-%s-%d", cfg->cache_dir, key, (int)getpid());
	tmp = xasprintf("%s/l1.img", staging);
	if (ensure_l2(cfg, ctx, &keys, res, &l2, err) < 0 || fs_mkdir_p(staging, err) < 0)
		goto out;
	if (convert_to_raw(ctx, abs, tmp, err) < 0) {
		staging_failed(staging, err);
		goto out;
	}
	if (image_l1_inject(cfg, ctx, tmp, &(const struct image_l2_initrds){ l2.minimal, l2.dpdk }, &res->l1_root,
			    err) < 0) {
		nl_error_wrap(err, "l1.image %s (libguestfs messages are in %s)", source,
			      ctx->log_path ? ctx->log_path : "the build log");
		staging_failed(staging, err);
		goto out;
	}
	if (write_info(staging, res->l1_root, key, abs, keys.manifest, err) < 0) {
		staging_failed(staging, err);
		goto out;
	}
	if (fs_publish(staging, res->dir, err) < 0)
		goto out;
	res->l2_initrd = xstrdup(l2.minimal);
	res->l2_dpdk_initrd = xstrdup(l2.dpdk);
	res->l1_built = true;
	res->l1_ms = since(start);
	image_log(ctx, "cloud L1: built %s (root %s) in %.1f s", res->l1_image, res->l1_root, res->l1_ms / 1000.0);
	ret = 0;
out:
	if (ret < 0)
		explain_full(cfg, err);
	l2_paths_release(&l2);
	image_keys_release(&keys);
	return ret;
}

/* ---- l1.info ---------------------------------------------------------------------------------- */

int image_l1_info_read(const char *l1_image, struct image_l1_info *info, nl_error_t *err)
{
	cleanup_free char *dir = xstrdup(l1_image);
	cleanup_free char *path = NULL;
	cleanup_free char *text = NULL;
	char *slash = strrchr(dir, '/');

	*info = (struct image_l1_info){ 0 };
	if (slash)
		*slash = '\0';
	path = slash ? xasprintf("%s/l1.info", dir) : xstrdup("l1.info");
	text = read_file_text(path);
	if (!text)
		return nl_error(err, errno, "read %s (run 'nestlab images')", path);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "root=", 5))
			info->root = xstrdup(line + 5);
		else if (!strncmp(line, "key=", 4))
			info->key = xstrdup(line + 4);
		else if (!strncmp(line, "source=", 7))
			info->source = xstrdup(line + 7);
	}
	if (!info->root || !info->key) {
		image_l1_info_release(info);
		return nl_error(err, EINVAL, "%s: no root= or key= line (rebuild with 'nestlab images --rebuild')", path);
	}
	return 0;
}

void image_l1_info_release(struct image_l1_info *info)
{
	free(info->root);
	free(info->key);
	free(info->source);
	*info = (struct image_l1_info){ 0 };
}

int image_overlay_create(const char *image, const char *overlay, nl_error_t *err)
{
	cleanup_free char *real = realpath(image, NULL);
	cleanup_free char *out = NULL;
	char *argv[] = { (char *)"qemu-img", (char *)"create", (char *)"-q", (char *)"-f", (char *)"qcow2",
			 (char *)"-F", (char *)"raw", (char *)"-b", NULL, (char *)overlay, NULL };

	if (!real)
		return nl_error(err, errno, "L1 image %s; hint: run `nestlab images`", image);
	argv[8] = real;
	if (proc_run(argv, 60000, &out, err) < 0)
		return nl_error_wrap(err, "qemu-img create %s (qemu-utils): %s", overlay, out ? out : "");
	return 0;
}
