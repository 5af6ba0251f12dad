/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_guestfs.c - L1 disks through libguestfs's C API (guestfs(3)): compose nestlab's own L1, inject
 * the L1 payload into a cloud-style image, and copy a crashed run's logs out of its disk
 *
 * libguestfs boots a small appliance VM (LIBGUESTFS_BACKEND direct: QEMU, here under TCG) and runs
 * every call in it, so nothing is mounted on the host and no root is needed for the disk itself. It
 * needs a kernel in /boot on the host for the appliance (Debian's linux-image-amd64). The appliance's
 * QEMU is libguestfs's child, not ours: libguestfs reaps it and its recovery process kills it if
 * nestlab dies.
 *
 * A disk that is written is added with add_writable_disk(): by default QEMU pauses the appliance when a
 * write fails for want of space on the host (werror=enospc), and libguestfs then waits for it forever;
 * with werror=report the write fails inside the appliance and the call returns the error.
 *
 * With a build log, library and warning messages go into the log (never to the terminal), and with
 * LIBGUESTFS_DEBUG=1 (read by guestfs_create()) the appliance's console too; a failed call's message
 * is guestfs_last_error().
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <guestfs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "image.h"
#include "image_internal.h"

static void guestfs_closep(guestfs_h **g)
{
	if (*g)
		guestfs_close(*g);
	*g = NULL;
}
#define cleanup_guestfs __attribute__((cleanup(guestfs_closep)))

static void free_strvp(char ***v)
{
	/* libguestfs lists are malloc'd arrays of malloc'd strings, like nestlab's strv */
	strv_free(*v);
	*v = NULL;
}
#define cleanup_gstrv __attribute__((cleanup(free_strvp)))

static int gerr(guestfs_h *g, nl_error_t *err, const char *fmt, ...) PRINTF_FMT(3, 4);
/* gerr() - set @err from the failed call's message: "WHAT: libguestfs's message" */
static int gerr(guestfs_h *g, nl_error_t *err, const char *fmt, ...)
{
	cleanup_free char *what = NULL;
	const char *msg = guestfs_last_error(g);
	va_list ap;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return nl_error(err, guestfs_last_errno(g), "%s: %s", what, msg ? msg : "libguestfs error");
}

/*
 * log_event() - libguestfs event callback: library, appliance and warning messages into the build log;
 * appliance output (its serial console) arrives in arbitrary pieces and is written as it comes
 */
static void log_event(guestfs_h *g UNUSED, void *opaque, uint64_t event, int handle UNUSED, int flags UNUSED,
		      const char *buf, size_t len, const uint64_t *array UNUSED, size_t array_len UNUSED)
{
	FILE *log = opaque;

	if (!log || !len)
		return;
	if (event != GUESTFS_EVENT_APPLIANCE)
		fputs("libguestfs: ", log);
	fwrite(buf, 1, len, log);
	if (event != GUESTFS_EVENT_APPLIANCE && buf[len - 1] != '\n')
		fputc('\n', log);
}

/**
 * add_writable_disk() - add the raw disk @path as the appliance's first drive, its write and read errors
 * reported to the appliance instead of pausing it
 * @g:		a handle not launched yet, with no drive
 * @path:	the disk
 * @err:	error
 *
 * libguestfs's direct backend names its first drive hd0 (-drive ...,id=hd0); QEMU's -set changes the
 * error policy of that -drive (qemu(1): -drive werror=, rerror=; -set group.id.arg=value).
 * Return: 0 or -1.
 */
static int add_writable_disk(guestfs_h *g, const char *path, nl_error_t *err)
{
	if (guestfs_add_drive_opts(g, path, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw", -1) < 0)
		return gerr(g, err, "add %s", path);
	if (guestfs_config(g, "-set", "drive.hd0.werror=report") < 0 ||
	    guestfs_config(g, "-set", "drive.hd0.rerror=report") < 0)
		return gerr(g, err, "error policy of %s", path);
	return 0;
}

/*
 * hw_kvm_usable() - /dev/kvm opens and the CPU has VT-x or AMD-V. This machine kind has a /dev/kvm
 * from kvm-pvm without either flag, under which libguestfs's appliance kernel never boots: then the
 * appliance must run under TCG (backend setting force_tcg), as plan.c decides for L1.
 */
static bool hw_kvm_usable(void)
{
	cleanup_close int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	cleanup_free char *cpuinfo = NULL;

	if (fd < 0)
		return false;
	cpuinfo = read_file_text("/proc/cpuinfo");
	return cpuinfo && (strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm"));
}

/**
 * open_handle() - a libguestfs handle with backend direct, errors kept for gerr(), messages to @log
 * @log:	build log, or NULL
 * @out:	the handle
 * @err:	error
 */
static int open_handle(FILE *log, guestfs_h **out, nl_error_t *err)
{
	guestfs_h *g = guestfs_create();

	if (!g)
		return nl_error(err, errno, "libguestfs: cannot create a handle (install libguestfs0, 'make deps')");
	guestfs_set_error_handler(g, NULL, NULL);
	if (guestfs_set_backend(g, "direct") < 0 ||
	    (!hw_kvm_usable() && guestfs_set_backend_settings(g, (char *const[]){ (char *)"force_tcg", NULL }) < 0)) {
		gerr(g, err, "libguestfs: backend direct");
		guestfs_close(g);
		return -1;
	}
	if (log) {
		/* verbose (the appliance's console, every call) only with LIBGUESTFS_DEBUG=1: it is megabytes */
		guestfs_set_event_callback(g, log_event,
					   GUESTFS_EVENT_LIBRARY | GUESTFS_EVENT_APPLIANCE | GUESTFS_EVENT_WARNING,
					   0, log);
	}
	*out = g;
	return 0;
}

/* mkdir_for() - create the guest directory that will hold @path */
static int mkdir_for(guestfs_h *g, const char *path, nl_error_t *err)
{
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');

	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (guestfs_mkdir_p(g, dir) < 0)
		return gerr(g, err, "mkdir -p %s", dir);
	return 0;
}

/* upload() - copy host file @from to guest path @to with @mode (parents created) */
static int upload(guestfs_h *g, const char *from, const char *to, int mode, nl_error_t *err)
{
	if (mkdir_for(g, to, err) < 0)
		return -1;
	if (guestfs_upload(g, from, to) < 0)
		return gerr(g, err, "upload %s to %s", from, to);
	if (guestfs_chmod(g, mode, to) < 0)
		return gerr(g, err, "chmod %o %s", (unsigned)mode, to);
	return 0;
}

/* copy_entry() - one recipe tree entry into the guest at "/" + rel */
static int copy_entry(const struct image_tree_entry *e, void *opaque, nl_error_t *err)
{
	guestfs_h *g = opaque;
	cleanup_free char *path = xasprintf("/%s", e->rel);

	switch (e->type) {
	case IMAGE_TREE_DIR:
		if (guestfs_mkdir_p(g, path) < 0)
			return gerr(g, err, "mkdir -p %s", path);
		return 0;
	case IMAGE_TREE_SYMLINK:
		if (guestfs_ln_sf(g, e->link_target, path) < 0)
			return gerr(g, err, "ln -sf %s %s", e->link_target, path);
		return 0;
	case IMAGE_TREE_FILE:
		return upload(g, e->host_path, path, (int)e->mode, err);
	}
	return 0;
}

/* copy_tree() - images/l1/<name>/ into the guest's root */
static int copy_tree(guestfs_h *g, const struct image_config *cfg, const char *name, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/l1/%s", cfg->recipe_dir, name);

	if (image_tree_walk(dir, copy_entry, g, err) < 0)
		return nl_error_wrap(err, "copy images/l1/%s", name);
	return 0;
}

/**
 * install_payload() - what every L1 needs: the agent and its unit, QEMU, the L2 kernel and initramfs,
 * and images/l1/files
 * @g:		handle with the L1 root mounted at /
 * @cfg:	inputs
 * @ctx:	log
 * @l2:		the L2 initramfs images (host paths)
 * @err:	error
 */
static int install_payload(guestfs_h *g, const struct image_config *cfg, struct image_ctx *ctx,
			   const struct image_l2_initrds *l2, nl_error_t *err)
{
	image_log(ctx, "L1 payload: agent, %s, L2 kernel %s, L2 initramfs minimal and dpdk",
		  cfg->qemu ? cfg->qemu : "no QEMU", cfg->kernel);
	if (upload(g, cfg->agent, IMAGE_L1_AGENT, 0755, err) < 0 ||
	    (cfg->qemu && upload(g, cfg->qemu, IMAGE_L1_QEMU, 0755, err) < 0) ||
	    upload(g, cfg->kernel, IMAGE_L1_L2_KERNEL, 0644, err) < 0 ||
	    upload(g, l2->minimal, IMAGE_L1_L2_INITRD, 0644, err) < 0 ||
	    upload(g, l2->dpdk, IMAGE_L1_L2_INITRD_DPDK, 0644, err) < 0 || copy_tree(g, cfg, "files", err) < 0)
		return -1;
	if (guestfs_mkdir_p(g, "/etc/nestlab") < 0)
		return gerr(g, err, "mkdir /etc/nestlab");
	return 0;
}

/* finish() - unmount and shut the appliance down, which reports errors of the final sync */
static int finish(guestfs_h *g, nl_error_t *err)
{
	if (guestfs_umount_all(g) < 0)
		return gerr(g, err, "umount");
	if (guestfs_shutdown(g) < 0)
		return gerr(g, err, "shut the libguestfs appliance down");
	return 0;
}

/* create_sparse() - a sparse file of IMAGE_L1_SIZE_BYTES at @path */
static int create_sparse(const char *path, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return nl_error(err, errno, "create %s", path);
	if (ftruncate(fd, (off_t)IMAGE_L1_SIZE_BYTES) < 0)
		return nl_error(err, errno, "size %s", path);
	return 0;
}

int image_l1_compose(const struct image_config *cfg, struct image_ctx *ctx, const char *rootfs_tar,
		     const struct image_l2_initrds *l2, const char *out, nl_error_t *err)
{
	cleanup_guestfs guestfs_h *g = NULL;
	uint64_t start = now_ms();

	if (create_sparse(out, err) < 0 || open_handle(ctx->log, &g, err) < 0)
		return -1;
	if (add_writable_disk(g, out, err) < 0)
		return -1;
	if (guestfs_launch(g) < 0)
		return gerr(g, err, "start the libguestfs appliance (is a kernel installed in /boot? "
				    "Debian: linux-image-amd64)");
	image_log(ctx, "L1: appliance up in %.1f s", (now_ms() - start) / 1000.0);
	if (guestfs_mkfs_opts(g, "ext4", "/dev/sda", GUESTFS_MKFS_OPTS_LABEL, IMAGE_L1_LABEL, -1) < 0)
		return gerr(g, err, "mkfs.ext4");
	if (guestfs_mount(g, "/dev/sda", "/") < 0)
		return gerr(g, err, "mount the new file system");
	if (guestfs_tar_in(g, rootfs_tar, "/") < 0)
		return gerr(g, err, "unpack %s", rootfs_tar);
	image_log(ctx, "L1: rootfs unpacked at %.1f s", (now_ms() - start) / 1000.0);
	if (install_payload(g, cfg, ctx, l2, err) < 0 || copy_tree(g, cfg, "files-built", err) < 0)
		return -1;
	/* every run is a new machine: systemd makes a machine-id on first boot of each overlay */
	if (guestfs_write(g, "/etc/machine-id", "", 0) < 0)
		return gerr(g, err, "empty /etc/machine-id");
	if (finish(g, err) < 0)
		return -1;
	image_log(ctx, "L1: composed in %.1f s", (now_ms() - start) / 1000.0);
	return 0;
}

/* ---- cloud-style images ------------------------------------------------------------------------ */

/* mount_inspected() - inspect the OS on the disk and mount its file systems (read-only or not) */
static int mount_inspected(guestfs_h *g, bool readonly, char **root_out, nl_error_t *err)
{
	cleanup_gstrv char **roots = guestfs_inspect_os(g);
	cleanup_gstrv char **mps = NULL;
	size_t n;

	if (!roots)
		return gerr(g, err, "inspect the image");
	if (strv_len(roots) != 1)
		return nl_error(err, 0, "found %zu operating systems in the image, expected one", strv_len(roots));
	mps = guestfs_inspect_get_mountpoints(g, roots[0]);
	if (!mps)
		return gerr(g, err, "mount points of %s", roots[0]);
	n = strv_len(mps) / 2;
	/* mount parents first: sort the (mountpoint, device) pairs by mountpoint length */
	for (size_t len = 1; len < 4096; len++) {
		for (size_t i = 0; i < n; i++) {
			int rc;

			if (strlen(mps[2 * i]) != len)
				continue;
			rc = readonly ? guestfs_mount_ro(g, mps[2 * i + 1], mps[2 * i])
				      : guestfs_mount(g, mps[2 * i + 1], mps[2 * i]);
			if (rc < 0 && len == 1)
				return gerr(g, err, "mount %s on /", mps[2 * i + 1]);
		}
	}
	if (root_out)
		*root_out = xstrdup(roots[0]);
	return 0;
}

/**
 * kernel_root() - root= for nestlab's kernel: the appliance's /dev/sdXN is L1's /dev/vdXN
 * @g:		handle
 * @root:	inspected root file system
 * @out:	root device (caller frees)
 * @err:	LVM, btrfs subvolumes or file systems the kernel lacks (it boots without an initramfs)
 */
static int kernel_root(guestfs_h *g, const char *root, char **out, nl_error_t *err)
{
	cleanup_free char *fstype = guestfs_vfs_type(g, root);

	if (strncmp(root, "/dev/sd", 7) != 0)
		return nl_error(err, 0, "root file system %s: nestlab boots its own kernel without an initramfs, so the "
				"root must be a plain disk or partition (no LVM, no btrfs subvolume)", root);
	if (!fstype || (strcmp(fstype, "ext4") && strcmp(fstype, "ext3") && strcmp(fstype, "ext2")))
		return nl_error(err, 0, "root file system %s is %s: nestlab's kernel has ext4 (ext2/3/4) built in",
				root, fstype ? fstype : "unknown");
	*out = xasprintf("/dev/vd%s", root + 7);
	return 0;
}

/* install_firmware() - images/l1/firmware files the image lacks, from the host */
static int install_firmware(guestfs_h *g, const struct image_config *cfg, nl_error_t *err)
{
	cleanup_free char *list = xasprintf("%s/l1/firmware", cfg->recipe_dir);
	cleanup_free char *text = read_file_text(list);

	if (!text)
		return nl_error(err, errno, "read %s", list);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] != '/')
			continue;
		if (guestfs_exists(g, line) > 0)
			continue;
		if (!image_file_exists(line))
			return nl_error(err, ENOENT, "firmware %s: not on this host either; install seabios and "
					"qemu-system-data ('make deps')", line);
		if (upload(g, line, line, 0644, err) < 0)
			return -1;
	}
	return 0;
}

int image_l1_inject(const struct image_config *cfg, struct image_ctx *ctx, const char *disk,
		    const struct image_l2_initrds *l2, char **root, nl_error_t *err)
{
	cleanup_guestfs guestfs_h *g = NULL;
	cleanup_free char *inspected = NULL;

	if (open_handle(ctx->log, &g, err) < 0)
		return -1;
	if (add_writable_disk(g, disk, err) < 0)
		return -1;
	if (guestfs_launch(g) < 0)
		return gerr(g, err, "start the libguestfs appliance");
	if (mount_inspected(g, false, &inspected, err) < 0 || kernel_root(g, inspected, root, err) < 0)
		return -1;
	if (guestfs_is_file(g, "/usr/bin/cloud-init") <= 0 || guestfs_exists(g, "/lib/systemd/systemd") <= 0)
		return nl_error(err, 0, "no systemd and cloud-init in the image (/lib/systemd/systemd, "
				"/usr/bin/cloud-init): use a cloud image such as Debian's genericcloud");
	image_log(ctx, "cloud L1: root %s (%s), injecting", inspected, *root);
	if (install_payload(g, cfg, ctx, l2, err) < 0 || install_firmware(g, cfg, err) < 0)
		return -1;
	return finish(g, err);
}

/* ---- logs of a crashed run ----------------------------------------------------------------------- */

/* export_journal() - the journal as text lines "usec identifier: message" into @path */
static int export_journal(guestfs_h *g, const char *path, nl_error_t *err)
{
	const char *journal_group[] = { "journal", NULL };
	cleanup_file FILE *out = NULL;

	if (guestfs_feature_available(g, (char *const *)journal_group) <= 0 || guestfs_is_dir(g, IMAGE_GUEST_JOURNAL_DIR) <= 0)
		return 0;
	if (guestfs_journal_open(g, IMAGE_GUEST_JOURNAL_DIR) < 0)
		return gerr(g, err, "open the journal");
	out = fopen(path, "we");
	if (!out) {
		guestfs_journal_close(g);
		return nl_error(err, errno, "create %s", path);
	}
	while (guestfs_journal_next(g) > 0) {
		if (ftello(out) > (off_t)IMAGE_COLLECT_JOURNAL_MAX_BYTES) {	/* the guest wrote it: capped */
			fprintf(out, "[nestlab: journal export capped at %llu MiB]\n",
				(unsigned long long)(IMAGE_COLLECT_JOURNAL_MAX_BYTES >> 20));
			break;
		}
		struct guestfs_xattr_list *fields = guestfs_journal_get(g);
		const char *ident = "-", *msg = "";
		int msg_len = 0;

		if (!fields)
			break;
		for (uint32_t i = 0; i < fields->len; i++) {
			struct guestfs_xattr *f = &fields->val[i];

			if (!strcmp(f->attrname, "MESSAGE")) {
				msg = f->attrval;
				msg_len = (int)f->attrval_len;
			} else if (!strcmp(f->attrname, "SYSLOG_IDENTIFIER")) {
				ident = f->attrval;
			}
		}
		fprintf(out, "%lld %.*s: %.*s\n", (long long)guestfs_journal_get_realtime_usec(g),
			(int)strcspn(ident, "\n"), ident, msg_len, msg);
		guestfs_free_xattr_list(fields);
	}
	guestfs_journal_close(g);
	return 0;
}

/* copy_out_if() - copy guest directory @from into host directory @to when it exists */
static int copy_out_if(guestfs_h *g, const char *from, const char *to, nl_error_t *err)
{
	int64_t kib;

	if (guestfs_is_dir(g, from) <= 0)
		return 0;
	if (fs_mkdir_p(to, err) < 0)
		return -1;
	/* the guest chose what is there: a directory larger than the cap is not copied, a note says so */
	kib = guestfs_du(g, from);
	if (kib < 0 || (uint64_t)kib * 1024 > IMAGE_COLLECT_DIR_MAX_BYTES) {
		cleanup_free char *note = xasprintf("%s/NOT-COPIED.txt", to);
		cleanup_file FILE *f = fopen(note, "ae");

		if (f)
			fprintf(f, "%s holds %lld KiB in L1, more than the %llu MiB nestlab copies out of a guest\n", from,
				(long long)kib, (unsigned long long)(IMAGE_COLLECT_DIR_MAX_BYTES >> 20));
		return 0;
	}
	if (guestfs_copy_out(g, from, to) < 0)
		return gerr(g, err, "copy %s out", from);
	return 0;
}

int image_collect_logs(const char *disk, const char *run_dir, nl_error_t *err)
{
	cleanup_guestfs guestfs_h *g = NULL;
	cleanup_free char *out = xasprintf("%s/l1-guest-logs", run_dir);
	cleanup_free char *cloud = xasprintf("%s/cloud", out);
	cleanup_free char *journal = xasprintf("%s/journal.txt", out);
	cleanup_free char *log_path = xasprintf("%s/l1-guest-logs.libguestfs.log", run_dir);
	cleanup_file FILE *log = fopen(log_path, "we");
	size_t len = strlen(disk);
	const char *format = len > 6 && !strcmp(disk + len - 6, ".qcow2") ? "qcow2" : "raw";

	if (fs_mkdir_p(out, err) < 0 || open_handle(log, &g, err) < 0)
		return -1;
	if (guestfs_add_drive_opts(g, disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT, format, GUESTFS_ADD_DRIVE_OPTS_READONLY,
				   1, -1) < 0)
		return gerr(g, err, "add %s", disk);
	if (guestfs_launch(g) < 0)
		return gerr(g, err, "start the libguestfs appliance (messages in %s)", log_path);
	if (mount_inspected(g, true, NULL, err) < 0) {
		/* nestlab's own L1 is one bare ext4 file system: mount it directly */
		nl_error_release(err);
		if (guestfs_mount_ro(g, "/dev/sda", "/") < 0)
			return gerr(g, err, "mount %s read-only", disk);
	}
	if (copy_out_if(g, IMAGE_GUEST_LOG_DIR, out, err) < 0 || copy_out_if(g, IMAGE_GUEST_CLOUD_DATA, cloud, err) < 0 ||
	    copy_out_if(g, IMAGE_GUEST_CLOUD_INSTANCES, cloud, err) < 0 || export_journal(g, journal, err) < 0)
		return nl_error_wrap(err, "L1 logs from %s", disk);
	guestfs_umount_all(g);
	return 0;
}

/**
 * image_overlay_put_file() - replace one file in a run's L1 overlay before it boots (tests substitute
 * L1's agent this way, NESTLAB_TEST_L1_AGENT)
 * @disk:	the qcow2 overlay (nothing runs on it)
 * @from:	host file
 * @to:		absolute guest path, replaced
 * @mode:	its mode
 * @log_path:	libguestfs's messages, or NULL
 * @err:	error
 *
 * Return: 0 or -1 with @err set.
 */
int image_overlay_put_file(const char *disk, const char *from, const char *to, int mode, const char *log_path,
			   nl_error_t *err)
{
	cleanup_guestfs guestfs_h *g = NULL;
	cleanup_file FILE *log = log_path ? fopen(log_path, "we") : NULL;

	if (open_handle(log, &g, err) < 0)
		return -1;
	if (guestfs_add_drive_opts(g, disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2", -1) < 0)
		return gerr(g, err, "add %s", disk);
	if (guestfs_launch(g) < 0)
		return gerr(g, err, "start the libguestfs appliance for %s", disk);
	if (mount_inspected(g, false, NULL, err) < 0) {
		/* nestlab's own L1 is one bare ext4 file system: mount it directly */
		nl_error_release(err);
		if (guestfs_mount(g, "/dev/sda", "/") < 0)
			return gerr(g, err, "mount %s", disk);
	}
	if (upload(g, from, to, mode, err) < 0 || finish(g, err) < 0)
		return nl_error_wrap(err, "put %s into %s as %s", from, disk, to);
	return 0;
}

/* ---- testing ------------------------------------------------------------------------------------ */

int image_testing_cloud_image(const char *rootfs_tar, const char *out, nl_error_t *err)
{
	cleanup_guestfs guestfs_h *g = NULL;
	cleanup_free char *guid = NULL;
	cleanup_free char *fstab = NULL;

	if (open_handle(NULL, &g, err) < 0)
		return -1;
	if (guestfs_disk_create(g, out, "qcow2", (int64_t)(3ULL << 30), -1) < 0)
		return gerr(g, err, "create %s", out);
	if (guestfs_add_drive_opts(g, out, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2", -1) < 0 || guestfs_launch(g) < 0)
		return gerr(g, err, "start the libguestfs appliance");
	if (guestfs_part_disk(g, "/dev/sda", "gpt") < 0 ||
	    guestfs_mkfs_opts(g, "ext4", "/dev/sda1", GUESTFS_MKFS_OPTS_LABEL, "root", -1) < 0 ||
	    guestfs_mount(g, "/dev/sda1", "/") < 0 || guestfs_tar_in(g, rootfs_tar, "/") < 0)
		return gerr(g, err, "partition, format and fill %s", out);
	guid = guestfs_part_get_gpt_guid(g, "/dev/sda", 1);
	if (!guid)
		return gerr(g, err, "partition GUID");
	for (char *p = guid; *p; p++)	/* udev's /dev/disk/by-partuuid names are lower case */
		*p = (char)tolower((unsigned char)*p);
	/* as Debian's cloud images do: the root by PARTUUID, which the kernel resolves without an initramfs */
	fstab = xasprintf("PARTUUID=%s / ext4 rw,discard,errors=remount-ro 0 1\n", guid);
	if (guestfs_write(g, "/etc/fstab", fstab, strlen(fstab)) < 0 || guestfs_write(g, "/etc/hostname", "debian\n", 7) < 0)
		return gerr(g, err, "write /etc/fstab");
	return finish(g, err);
}
