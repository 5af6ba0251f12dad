/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image.h - the L1 and L2 images: recipes in images/, built in content-keyed steps into the cache
 *
 * `nestlab images` runs image_build(), which makes three artefacts, each cached under a key that is the
 * sha256 of everything it is made from (so a no-op run only hashes its inputs):
 *
 *   rootfs   <cache>/images/rootfs/<key>.tar       Debian bookworm minbase + images/l1/packages, by
 *                                                   mmdebstrap; key: the package list, suite, mirror and
 *                                                   mmdebstrap options (the slow step, ~1-3 min)
 *   L2       <cache>/images/l2/<key>/minimal.cpio.gz  newc initramfs written here (image_cpio.c): static
 *                                                   busybox, images/l2/init, the agent, the L2 vfio driver
 *   debs     <cache>/images/debs/<key>/root/       Debian packages of images/l2/dpdk/packages, fetched
 *                                                   with apt-get download and unpacked with dpkg -x;
 *                                                   key: the package list and suite
 *   L2 dpdk  <cache>/images/l2/<key>/dpdk.cpio.gz  the minimal contents plus DPDK's testpmd with its
 *                                                   shared-library closure (image_closure.c) and
 *                                                   images/l2/dpdk/files; key: the L2 and debs keys and
 *                                                   images/l2/dpdk
 *   L1       <cache>/images/l1/<key>/l1.img         unpartitioned ext4 (raw) composed with libguestfs from
 *                                                   the rootfs, images/l1/files*, the agent, the static
 *                                                   QEMU and /boot/l2 (kernel + L2 initramfs); booted with
 *                                                   root=/dev/vda by direct kernel boot
 *
 * and points <cache>/images/current at the L1 directory (l1.img, l1.info, minimal.cpio.gz, dpdk.cpio.gz,
 * manifest). L1 carries both initramfs images in /boot/l2/.
 * Each run boots a throwaway qcow2 overlay of l1.img (`qemu-img create -f qcow2 -F raw -b ...`; use the
 * realpath of current/l1.img as the backing file so that a later rebuild cannot change a run's base),
 * plus the per-run NoCloud seed of image_seed_write() as a second, read-only virtio disk.
 *
 * `l1.image: PATH` (a cloud-style image with systemd and cloud-init, e.g. Debian genericcloud) goes through
 * image_l1_from_cloud(): converted to raw and injected with the same payload; its root partition is
 * reported in l1.info (root=/dev/vda1, ...) because nestlab still boots its own kernel directly.
 *
 * Parse, plan, execute: image_config_init_default() resolves every input (and records the fallbacks it
 * took as notes); the builders take `const struct image_config *` and a runtime context for logs.
 */
#ifndef NESTLAB_IMAGE_H
#define NESTLAB_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "sha256.h"
#include "util.h"

struct plan;

#define IMAGE_SUITE "bookworm"
#define IMAGE_MIRROR "http://deb.debian.org/debian"
#define IMAGE_L1_SIZE_BYTES (2ULL << 30)	/* ext4 size of l1.img (sparse; overlays grow on write) */
#define IMAGE_L1_LABEL "nestlab-l1"
#define IMAGE_MMDEBSTRAP_TIMEOUT_MS (30 * 60 * 1000)
#define IMAGE_MMDEBSTRAP_GRACE_MS 30000	/* SIGTERM -> SIGKILL: time to unmount its chroot's /proc, /sys */
#define IMAGE_SEED_LABEL "CIDATA"	/* NoCloud: vfat or iso9660 labelled cidata or CIDATA */
#define IMAGE_SEED_BYTES (1u << 20)	/* FAT12 seed image size */

/* paths inside L1 (plan_env_init_default() uses the same ones) */
#define IMAGE_L1_AGENT "/usr/local/sbin/nestlab-agent"
#define IMAGE_L1_QEMU "/usr/local/bin/qemu-system-x86_64"
#define IMAGE_L1_L2_KERNEL "/boot/l2/vmlinuz"
#define IMAGE_L1_L2_INITRD "/boot/l2/minimal.cpio.gz"
#define IMAGE_L1_L2_INITRD_DPDK "/boot/l2/dpdk.cpio.gz"
#define IMAGE_L1_VFIO_BIND "/usr/local/sbin/nestlab-vfio-bind"
#define IMAGE_L1_AGENT_ENV "/etc/nestlab/agent.env"
#define IMAGE_L1_RUN_ENV "/etc/nestlab/run.env"
/* paths inside L2 */
#define IMAGE_L2_AGENT "/sbin/nestlab-agent"
/* what image_collect_logs() copies out of an L1 disk (paths inside L1) */
#define IMAGE_GUEST_LOG_DIR "/var/log"
#define IMAGE_GUEST_JOURNAL_DIR IMAGE_GUEST_LOG_DIR "/journal"
#define IMAGE_GUEST_CLOUD_DATA "/var/lib/cloud/data"
#define IMAGE_GUEST_CLOUD_INSTANCES "/var/lib/cloud/instances"
/* image_collect_logs() copies a guest directory only up to this size, and this much of the journal */
#define IMAGE_COLLECT_DIR_MAX_BYTES (64ull << 20)
#define IMAGE_COLLECT_JOURNAL_MAX_BYTES (32ull << 20)
#define IMAGE_L2_VFIO_NIC "/bin/nestlab-vfio-nic"
#define IMAGE_L2_TESTPMD "/bin/nestlab-testpmd"	/* dpdk image: starts and drives dpdk-testpmd */
#define IMAGE_DEBS_TIMEOUT_MS (10 * 60 * 1000)	/* apt-get update / download of the dpdk packages */

/* every input of a build, resolved (image_config_init_default()); strings owned */
struct image_config {
	char *recipe_dir;	/* images/ of the source tree (l1/, l2/) */
	char *cache_dir;	/* $NESTLAB_CACHE */
	char *kernel;		/* bzImage: L1 boots it from the host and L2 from /boot/l2/vmlinuz */
	bool kernel_is_fallback; /* not nestlab's kernel (modules needed, L1 will not boot as planned) */
	char *qemu;		/* static QEMU installed in L1, or NULL: L1 gets none (a note says so) */
	char *agent;		/* static nestlab-agent (build/nestlab-agent) */
	char *vfio_nic;		/* L2 userspace vfio driver (build/nestlab-vfio-nic), or NULL */
	char *busybox;		/* static busybox for L2 (Debian busybox-static: /bin/busybox) */
	char *firmware_dirs;	/* host firmware copied into cloud images that lack it, ':'-separated */
	char *suite, *mirror;	/* mmdebstrap's */
	bool rebuild;		/* ignore cached artefacts */
	char **notes;		/* fallbacks taken, one line each, for the CLI to print */
};

/* where image_config_init_default() looks when an option is NULL */
struct image_config_opts {
	const char *recipe_dir;	/* NULL: <exe>/../../images, else ./images */
	const char *kernel;	/* NULL: <cache>/linux/current/bzImage, else /boot/vmlinuz-* (note) */
	const char *qemu;	/* NULL: <cache>/qemu/current/qemu-system-x86_64, else none (note) */
	const char *agent;	/* NULL: nestlab-agent beside the running nestlab binary, else build/ */
	const char *vfio_nic;	/* NULL: nestlab-vfio-nic beside the agent when it exists */
	const char *busybox;	/* NULL: /bin/busybox */
	bool rebuild;
};

/**
 * image_config_init_default() - resolve the inputs of an image build
 * @cfg:	filled; release with image_config_release()
 * @opts:	explicit choices, or NULL for the defaults
 * @err:	error: a required input (recipes, agent, busybox) is missing
 *
 * Return: 0 or -1 with @err set (the message says how to get the missing input).
 */
int image_config_init_default(struct image_config *cfg, const struct image_config_opts *opts, nl_error_t *err);
void image_config_release(struct image_config *cfg);

/* runtime context of a build: the log every step appends to (mmdebstrap, libguestfs, timings) */
struct image_ctx {
	FILE *log;		/* the build log, or NULL */
	char *log_path;
	bool progress;		/* also print one line per step on stderr */
};

/* image_ctx_open() - open <cache>/images/logs/images-<stamp>.log; returns 0 or -1 with @err set */
int image_ctx_open(struct image_ctx *ctx, const struct image_config *cfg, nl_error_t *err);
void image_ctx_close(struct image_ctx *ctx);
/* image_log() - one line to the build log and, when ctx->progress, to stderr */
void image_log(struct image_ctx *ctx, const char *fmt, ...) PRINTF_FMT(2, 3);

/* the cache keys of one build (64 hex digits each) */
struct image_keys {
	char rootfs[SHA256_HEX_BYTES];
	char l2[SHA256_HEX_BYTES];
	char debs[SHA256_HEX_BYTES];	/* the Debian packages of the dpdk L2 image */
	char l2_dpdk[SHA256_HEX_BYTES];
	char l1[SHA256_HEX_BYTES];
	char **manifest;	/* "what: identity" lines the L1 key was computed from */
};

/**
 * image_keys_compute() - the keys of every artefact, from the recipe files' bytes and the artefacts'
 * sha256 (nothing is built)
 * @cfg:	inputs
 * @keys:	filled; release with image_keys_release()
 * @err:	an input cannot be read
 *
 * Return: 0 or -1 with @err set.
 */
int image_keys_compute(const struct image_config *cfg, struct image_keys *keys, nl_error_t *err);
void image_keys_release(struct image_keys *keys);
/* image_hash_tree() - feed a recipe directory (sorted paths, types, modes, bytes, link targets) */
int image_hash_tree(struct sha256 *h, const char *dir, nl_error_t *err);

/* what a build produced */
struct image_result {
	char *l1_image;		/* the L1 disk (raw) */
	char *l1_root;		/* its root device on L1's kernel command line, e.g. /dev/vda */
	char *l2_initrd;	/* host copy of the L2 initramfs */
	char *l2_dpdk_initrd;	/* host copy of the dpdk L2 initramfs */
	char *dir;		/* the keyed directory; <cache>/images/current points here (default image) */
	bool rootfs_built, l2_built, l2_dpdk_built, l1_built;	/* false: taken from the cache */
	uint64_t rootfs_ms, l2_ms, l2_dpdk_ms, l1_ms;	/* time spent building each (0 when cached) */
};
void image_result_release(struct image_result *res);

/**
 * image_build() - build what is missing of rootfs, L2 and L1, and point <cache>/images/current at L1
 * @cfg:	inputs
 * @ctx:	log
 * @res:	artefacts; release with image_result_release()
 * @err:	error, naming the build log
 *
 * Holds <cache>/images/.lock while it runs. Return: 0 or -1 with @err set.
 */
int image_build(const struct image_config *cfg, struct image_ctx *ctx, struct image_result *res, nl_error_t *err);

/**
 * image_l1_from_cloud() - turn a cloud-style image (systemd + cloud-init) into an L1, cached
 * @cfg:	inputs (the L2 initramfs is built if missing)
 * @ctx:	log
 * @source:	the image file (any format qemu-img reads); it is never written
 * @res:	artefacts (<cache>/images/cloud/<key>/l1.img, raw, and its root partition)
 * @err:	error
 *
 * The key covers the source's identity (realpath, size, mtime: hashing a multi-GB image would break the
 * no-op budget), the injected recipe files and the artefacts. Return: 0 or -1 with @err set.
 */
int image_l1_from_cloud(const struct image_config *cfg, struct image_ctx *ctx, const char *source,
			struct image_result *res, nl_error_t *err);

/* what <dir>/l1.info says about an L1 image */
struct image_l1_info {
	char *root;		/* root= for L1's kernel command line */
	char *key;
	char *source;		/* the cloud image it was made from, or NULL */
};
/* image_l1_info_read() - read l1.info beside @l1_image; returns 0 or -1 with @err set */
int image_l1_info_read(const char *l1_image, struct image_l1_info *info, nl_error_t *err);
void image_l1_info_release(struct image_l1_info *info);

/**
 * image_overlay_create() - a run's throwaway qcow2 over a raw L1 image (`qemu-img create -f qcow2 -F raw
 * -b`), backed by the image's real path so that a later rebuild of `current` cannot change a run's base
 * @image:	the raw L1 image (e.g. <cache>/images/current/l1.img)
 * @overlay:	the qcow2 to create
 * @err:	error, with qemu-img's output
 *
 * Return: 0 or -1 with @err set.
 */
int image_overlay_create(const char *image, const char *overlay, nl_error_t *err);

/**
 * image_collect_logs() - after a failed or crashed run, copy the guest's logs out of its disk
 * @disk:	the run's L1 overlay (qcow2) or any L1 disk; opened read-only
 * @run_dir:	logs go to @run_dir/l1-guest-logs/ (var-log/..., cloud/..., journal.txt)
 * @err:	error
 *
 * /run is a tmpfs and gone; what persists is /var/log (the journal, cloud-init.log and
 * cloud-init-output.log) and cloud-init's status in /var/lib/cloud/data. The journal is also exported
 * as text through libguestfs's journal API when the appliance supports it.
 * Return: 0 or -1 with @err set.
 */
int image_collect_logs(const char *disk, const char *run_dir, nl_error_t *err);

/* ---- image_l2.c: the L2 initramfs ----------------------------------------------------------- */

/**
 * image_l2_build() - write the L2 initramfs (gzip'd newc cpio) to @path
 * @cfg:	busybox, agent, vfio_nic and images/l2/ (init and files/)
 * @path:	output file (written to @path.tmp, then renamed)
 * @err:	error
 *
 * Return: 0 or -1 with @err set.
 */
int image_l2_build(const struct image_config *cfg, const char *path, nl_error_t *err);

/**
 * image_l2_dpdk_build() - write the dpdk L2 initramfs: the minimal contents, the shared-library closure
 * of the files images/l2/dpdk/include names inside @debs_root, and images/l2/dpdk/files
 * @cfg:	as image_l2_build(), and images/l2/dpdk/
 * @debs_root:	the unpacked Debian packages (image_l2_debs_ensure())
 * @path:	output file (written to @path.tmp, then renamed)
 * @err:	error; a library no package provides is named with the object that needs it
 *
 * Return: 0 or -1 with @err set.
 */
int image_l2_dpdk_build(const struct image_config *cfg, const char *debs_root, const char *path, nl_error_t *err);

/**
 * image_l2_debs_ensure() - the packages of images/l2/dpdk/packages, downloaded (apt-get download through
 * nestlab's private apt state, build_apt_private_argv()) and unpacked (dpkg -x) once per key
 * @cfg, @ctx:	inputs (suite, cache) and log
 * @key:	keys->debs
 * @root:	<cache>/images/debs/@key/root (caller frees)
 * @err:	error, naming the build log
 *
 * <cache>/images/debs/@key/manifest (each .deb and its sha256) is written last: it marks a complete
 * download. Return: 0 or -1 with @err set.
 */
int image_l2_debs_ensure(const struct image_config *cfg, struct image_ctx *ctx, const char *key, char **root,
			 nl_error_t *err);

/* ---- image_closure.c: shared-library closure of ELF files in an unpacked root ---------------------- */

/* what the dynamic loader reads of one ELF file (strings owned) */
struct image_elf_deps {
	char *interp;		/* PT_INTERP, e.g. "/lib64/ld-linux-x86-64.so.2", or NULL (static, library) */
	char **needed;		/* DT_NEEDED in order */
	char *runpath, *rpath;	/* DT_RUNPATH, DT_RPATH, or NULL */
};

/**
 * image_closure_elf_parse() - PT_INTERP, DT_NEEDED, DT_RUNPATH and DT_RPATH of an x86-64 ELF in memory
 * @data, @len:	the file's bytes (untrusted: every offset is checked)
 * @out:	filled (empty lists for a static file); release with image_closure_elf_release(), also on error
 * @err:	not an x86-64 ELF, or a header, segment or string outside the file
 *
 * Return: 0 or -1 with @err set.
 */
int image_closure_elf_parse(const void *data, size_t len, struct image_elf_deps *out, nl_error_t *err);
void image_closure_elf_release(struct image_elf_deps *deps);

/* one file or symlink of a closure */
struct image_closure_entry {
	char *rel;		/* path relative to the root: "usr/lib/x86_64-linux-gnu/librte_eal.so.23" */
	char *link_target;	/* symlinks: the target as stored; NULL for a regular file */
	unsigned mode;		/* files: 0755 when executable, else 0644 */
};

/* the files a program needs, sorted by rel */
struct image_closure {
	struct image_closure_entry *entries;
	size_t count;
};

/**
 * image_closure_compute() - @roots and everything ld.so loads for them, resolved inside @root
 * @root:	an unpacked root (host path)
 * @roots:	paths inside it ("/usr/bin/dpdk-testpmd", a plugin the program dlopen()s), NULL-terminated
 * @out:	the files and the symlinks that lead to them, sorted; release with image_closure_release()
 * @err:	a root or a needed library that is missing (named with the object that needs it and the
 *		directories searched), a malformed ELF, a symlink loop
 *
 * Return: 0 or -1 with @err set.
 */
int image_closure_compute(const char *root, char *const *roots, struct image_closure *out, nl_error_t *err);
void image_closure_release(struct image_closure *cl);
/* image_closure_entry_cmp() - qsort order of entries: by rel */
int image_closure_entry_cmp(const void *a, const void *b);

/* ---- image_guestfs.c: composing and injecting L1 with libguestfs -------------------------------- */

/* the L2 initramfs images L1 carries in /boot/l2/ (host paths) */
struct image_l2_initrds {
	const char *minimal;	/* IMAGE_L1_L2_INITRD */
	const char *dpdk;	/* IMAGE_L1_L2_INITRD_DPDK */
};

/* image_l1_compose() - make the ext4 @out from the rootfs tarball, recipes and artefacts */
int image_l1_compose(const struct image_config *cfg, struct image_ctx *ctx, const char *rootfs_tar,
		     const struct image_l2_initrds *l2, const char *out, nl_error_t *err);
/* image_l1_inject() - inject the L1 payload into the raw disk @disk; *root: root device for L1 */
int image_l1_inject(const struct image_config *cfg, struct image_ctx *ctx, const char *disk,
		    const struct image_l2_initrds *l2, char **root, nl_error_t *err);

/* image_overlay_put_file() - replace guest file @to in the qcow2 @disk by host file @from (mode @mode) */
int image_overlay_put_file(const char *disk, const char *from, const char *to, int mode, const char *log_path,
			   nl_error_t *err);

/*
 * image_testing_cloud_image() - tests: a cloud-style disk like Debian's genericcloud (qcow2, GPT, ext4
 * root on partition 1 mounted by PARTUUID) from a rootfs tarball with systemd and cloud-init
 */
int image_testing_cloud_image(const char *rootfs_tar, const char *out, nl_error_t *err);

/* ---- image_cpio.c: newc cpio writer (Linux Documentation/driver-api/early-userspace/buffer-format.rst) */

/* an archive being written to memory; entries must not repeat */
struct image_cpio {
	struct strbuf out;	/* the archive bytes */
	uint32_t next_ino;
	uint32_t mtime;		/* every entry's mtime (reproducible archives) */
	char **dirs;		/* directories written so far (parents are added automatically) */
	bool finished;
};

void image_cpio_init(struct image_cpio *c, uint32_t mtime);
void image_cpio_release(struct image_cpio *c);
/* image_cpio_add_dir() - directory @name ("bin", "usr/local/bin": no leading '/') with @mode 07777 */
int image_cpio_add_dir(struct image_cpio *c, const char *name, unsigned mode, nl_error_t *err);
/* image_cpio_add_file() - regular file from memory */
int image_cpio_add_file(struct image_cpio *c, const char *name, unsigned mode, const void *data, size_t len,
			nl_error_t *err);
/* image_cpio_add_host_file() - regular file with the bytes of @host_path */
int image_cpio_add_host_file(struct image_cpio *c, const char *name, unsigned mode, const char *host_path,
			     nl_error_t *err);
/* image_cpio_add_symlink() - symbolic link @name -> @target */
int image_cpio_add_symlink(struct image_cpio *c, const char *name, const char *target, nl_error_t *err);
/* image_cpio_add_chardev() - character device node (e.g. dev/console 5:1) */
int image_cpio_add_chardev(struct image_cpio *c, const char *name, unsigned mode, unsigned major,
			   unsigned minor, nl_error_t *err);
/* image_cpio_finish() - append the TRAILER!!! entry; nothing can be added afterwards */
void image_cpio_finish(struct image_cpio *c);
/* image_gzip_write() - gzip @len bytes (zlib, RFC 1952) into @path via @path.tmp + rename */
int image_gzip_write(const char *path, const void *data, size_t len, nl_error_t *err);

/* ---- image_seed.c: the per-run NoCloud seed ------------------------------------------------------ */

/* the three NoCloud seed files of one run */
struct image_seed {
	char *meta_data;	/* instance-id, local-hostname */
	char *user_data;	/* #cloud-config: write_files, runcmd, final_message */
	char *network_config;	/* config: disabled */
};

struct image_seed_opts {
	const char *agent_args;	/* extra nestlab-agent arguments in L1; NULL: "--watch kmsg=/dev/kmsg" */
};

/* image_seed_format() - the seed texts for @plan (pure: tests compare them) */
void image_seed_format(const struct plan *plan, const struct image_seed_opts *opts, struct image_seed *seed);
void image_seed_release(struct image_seed *seed);

/* one file of a FAT image */
struct image_fat_file {
	const char *name;	/* long name, ASCII, no '/' */
	const void *data;
	size_t len;
};

/**
 * image_fat_build() - a FAT12 file system image of IMAGE_SEED_BYTES with @files in its root directory
 * @label:	volume label (at most 11 characters, upper case)
 * @volume_id:	volume serial number
 * @files:	files (long names: VFAT LFN entries)
 * @n_files:	count (at most 16)
 * @out:	image bytes (IMAGE_SEED_BYTES)
 * @err:	files too large or too many, bad name
 *
 * Return: 0 or -1 with @err set.
 */
int image_fat_build(const char *label, uint32_t volume_id, const struct image_fat_file *files, size_t n_files,
		    struct strbuf *out, nl_error_t *err);

/**
 * image_seed_write() - write a run's NoCloud seed: @run_dir/l1-seed.img (vfat, label CIDATA) and, for
 * people reading the run directory, @run_dir/l1-seed/{meta-data,user-data,network-config}
 * @run_dir:	run directory
 * @plan:	the run's plan
 * @opts:	NULL for the defaults
 * @seed_path:	on success, the image path (caller frees); attach it read-only as a second virtio disk
 *		(plan->l1_seed: plan_l0_qemu_argv() and plan_l1_domain_xml() attach it)
 * @err:	error
 *
 * Return: 0 or -1 with @err set.
 */
int image_seed_write(const char *run_dir, const struct plan *plan, const struct image_seed_opts *opts,
		     char **seed_path, nl_error_t *err);

#endif /* NESTLAB_IMAGE_H */
