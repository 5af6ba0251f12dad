/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_images.c - `nestlab images`: build the L1 and L2 images (image.h), cached by content
 *
 *	nestlab images [--kernel BZIMAGE] [--qemu BINARY] [--agent BINARY] [--vfio-nic BINARY] [--rebuild]
 *	nestlab images --from-cloud IMAGE ...	an L1 made from a cloud-style image (what l1.image does)
 *	nestlab images --collect-logs DISK DIR	copy a crashed L1's logs out of its disk into DIR
 *
 * stdout gets the artefacts, one "name value" line each; progress and notes go to stderr, everything
 * (mmdebstrap, libguestfs) to the build log under <cache>/images/logs/.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "image.h"

static void images_usage(FILE *out)
{
	fprintf(out,
		"Usage: nestlab images [OPTIONS]\n"
		"       nestlab images --collect-logs DISK RUN_DIR\n\n"
		"Build the L1 and L2 images from images/l1, images/l2 and images/l2/dpdk (DPDK's testpmd\n"
		"from Debian's packages) into $NESTLAB_CACHE/images, each\n"
		"step cached by the sha256 of its inputs; <cache>/images/current/l1.img is the L1 disk\n"
		"(raw ext4, root=/dev/vda). A second run with nothing changed only hashes its inputs.\n\n"
		"Options:\n"
		"  --kernel PATH      bzImage for L1 and L2 (default <cache>/linux/current/bzImage)\n"
		"  --qemu PATH        static QEMU for L1 (default <cache>/qemu/current/qemu-system-x86_64)\n"
		"  --agent PATH       static guest agent (default: nestlab-agent beside this binary)\n"
		"  --vfio-nic PATH    L2 userspace vfio driver (default: nestlab-vfio-nic beside the agent)\n"
		"  --rebuild          ignore every cached artefact\n"
		"  --from-cloud IMG   make an L1 from a cloud-style image (systemd + cloud-init) instead\n"
		"  --collect-logs     copy /var/log and cloud-init's state out of DISK into RUN_DIR/l1-guest-logs\n"
		"  --quiet            no progress lines on stderr\n\n"
		"Each artefact is made under a temporary name, fsynced and renamed into place whole, so a\n"
		"failure, Ctrl-C or a full disk leaves no half-made image. Exit status: 0 done, 2 bad command\n"
		"line, 4 a step failed (a full cache file system is named, with what to do), 130 interrupted.\n");
}

/* print_result() - the artefacts on stdout */
static void print_result(const struct image_result *res, const struct image_ctx *ctx)
{
	printf("l1.img   %s (%s)\n", res->l1_image, res->l1_built ? "built" : "cached");
	printf("root     %s\n", res->l1_root);
	if (res->l2_initrd)
		printf("l2       %s (%s)\n", res->l2_initrd, res->l2_built ? "built" : "cached");
	if (res->l2_dpdk_initrd)
		printf("l2-dpdk  %s (%s)\n", res->l2_dpdk_initrd, res->l2_dpdk_built ? "built" : "cached");
	printf("dir      %s\n", res->dir);
	if (res->rootfs_built)
		printf("timing   rootfs %.1f s\n", res->rootfs_ms / 1000.0);
	if (res->l2_built)
		printf("timing   l2 %.1f s\n", res->l2_ms / 1000.0);
	if (res->l2_dpdk_built)
		printf("timing   l2-dpdk %.1f s\n", res->l2_dpdk_ms / 1000.0);
	if (res->l1_built)
		printf("timing   l1 %.1f s\n", res->l1_ms / 1000.0);
	printf("log      %s\n", ctx->log_path);
}

/* collect_logs() - --collect-logs DISK RUN_DIR */
static int collect_logs(int argc, char **argv, nl_error_t *err)
{
	if (argc - optind != 2)
		return cli_usage_error(err, "images", "--collect-logs takes DISK and RUN_DIR");
	if (image_collect_logs(argv[optind], argv[optind + 1], err) < 0)
		return -NL_EXIT_SETUP;
	printf("logs     %s/l1-guest-logs\n", argv[optind + 1]);
	return NL_EXIT_OK;
}

int cmd_images(int argc, char **argv, nl_error_t *err)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, 'k' },   { "qemu", required_argument, NULL, 'q' },
		{ "agent", required_argument, NULL, 'a' },    { "vfio-nic", required_argument, NULL, 'v' },
		{ "rebuild", no_argument, NULL, 'r' },	      { "from-cloud", required_argument, NULL, 'c' },
		{ "collect-logs", no_argument, NULL, 'l' },   { "quiet", no_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
	};
	struct image_config_opts opts = { 0 };
	struct image_config cfg;
	struct image_ctx ctx = { .progress = true };
	struct image_result res = { 0 };
	const char *cloud = NULL;
	bool collect = false;
	uint64_t start = now_ms();
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': opts.kernel = optarg; break;
		case 'q': opts.qemu = optarg; break;
		case 'a': opts.agent = optarg; break;
		case 'v': opts.vfio_nic = optarg; break;
		case 'r': opts.rebuild = true; break;
		case 'c': cloud = optarg; break;
		case 'l': collect = true; break;
		case 'Q': ctx.progress = false; break;
		case 'h': images_usage(stdout); return NL_EXIT_OK;
		default: return cli_usage_error(err, "images", "unknown option");
		}
	}
	if (collect)
		return collect_logs(argc, argv, err);
	if (optind < argc)
		return cli_usage_error(err, "images", "unexpected argument '%s'", argv[optind]);
	if (image_config_init_default(&cfg, &opts, err) < 0) {
		image_config_release(&cfg);
		return -NL_EXIT_SETUP;
	}
	for (size_t i = 0; cfg.notes && cfg.notes[i]; i++)
		fprintf(stderr, "nestlab: note: %s\n", cfg.notes[i]);
	ret = image_ctx_open(&ctx, &cfg, err);
	if (ret == 0)
		ret = cloud ? image_l1_from_cloud(&cfg, &ctx, cloud, &res, err) : image_build(&cfg, &ctx, &res, err);
	if (ret == 0) {
		print_result(&res, &ctx);
		image_log(&ctx, "done in %.1f s", (now_ms() - start) / 1000.0);
	}
	image_result_release(&res);
	image_ctx_close(&ctx);
	image_config_release(&cfg);
	if (ret < 0)
		return *err && (*err)->errnum == EINTR ? -NL_EXIT_INTERRUPTED : -NL_EXIT_SETUP;
	return NL_EXIT_OK;
}
