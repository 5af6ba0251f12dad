/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build_qemu.c - the QEMU component: one static qemu-system-x86_64 for L0 and for L1
 *
 * Why static (a static QEMU 10.0 was built and run by hand on this machine class first): the same binary runs on the bookworm host as L0
 * and inside whatever rootfs L1 has, with no shared libraries to match, so one build serves both
 * levels. The feature set is QEMU's minimum plus what nestlab uses: KVM and TCG, q35 with intel-iommu,
 * igb/e1000e, vfio-pci, virtio, socket/stream/dgram/tap netdevs. slirp and gio are off because
 * bookworm has no libslirp.a and libmount.a; tools, guest agent and docs are not needed. seccomp is on
 * (libseccomp.a from Debian's libseccomp-dev) so that both levels can run QEMU with `-sandbox on`
 * (docs/running.md, "Confinement"); --without-default-features would otherwise leave it out.
 *
 * The +ds tarball Debian ships has no bundled meson wheel, and QEMU 10 needs meson >= 1.5 where
 * bookworm has 1.0.1: trixie's meson and python3-pycotap (architecture all) are fetched once into
 * <cache>/tools/qemu with dpkg -x, and PYTHONPATH points configure and ninja at them. Patch 0001 of
 * patches/qemu and --disable-install-blobs cope with the stripped firmware blobs.
 *
 * Only the emulator target is built (`ninja qemu-system-x86_64`): the unit tests' objects are not needed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "build.h"

#define QEMU_TOOLS_SUITE "trixie"
#define QEMU_TOOLS_STAMP ".nestlab-debs"

static const char *const qemu_tool_packages[] = { "meson", "python3-pycotap", NULL };

static const char *const qemu_env[] = {
	"PYTHONPATH=@TOOLS@/usr/lib/python3/dist-packages",
	"PATH=@TOOLS@/usr/bin:@PATH@",
	NULL,
};

static const char *const qemu_configure[] = {
	"@SRC@/configure",
	"--python=/usr/bin/python3",
	"--static",
	"--target-list=x86_64-softmmu",
	"--without-default-features",
	"--enable-kvm",
	"--enable-tcg",
	"--enable-seccomp",
	"--disable-slirp",
	"--disable-gio",
	"--disable-tools",
	"--disable-guest-agent",
	"--disable-docs",
	"--disable-download",
	"--disable-install-blobs",
	NULL,
};

static const char *const qemu_compile[] = { "ninja", "-j@JOBS@", "qemu-system-x86_64", NULL };

static const struct build_step qemu_steps[] = {
	{ "configure", "@BUILD@", qemu_configure, BUILD_PROGRESS_NONE },
	{ "compile", "@BUILD@", qemu_compile, BUILD_PROGRESS_NINJA },
};

static const struct build_artefact qemu_artefacts[] = {
	{ "@BUILD@/qemu-system-x86_64", "qemu-system-x86_64" },
};

/* qemu_tools_fetch() - download and unpack the trixie .debs into a staging root, stamp it */
static int qemu_tools_fetch(struct build *b, const char *staging, nl_error_t *err)
{
	cleanup_free char *debs_dir = xasprintf("%s/debs", staging);
	cleanup_free char *root = xasprintf("%s/root", staging);
	cleanup_free char *stamp = xasprintf("%s/%s", root, QEMU_TOOLS_STAMP);
	cleanup_strv char **debs = NULL;
	struct strbuf names = STRBUF_INIT;
	int ret = -1;

	if (fs_mkdir_p(debs_dir, err) < 0 || fs_mkdir_p(root, err) < 0)
		return -1;
	if (build_apt_debs(b, QEMU_TOOLS_SUITE, qemu_tool_packages, debs_dir, err) < 0)
		return -1;
	debs = build_apt_debs_in(debs_dir);
	if (strv_len(debs) != strv_len((char **)qemu_tool_packages))
		return nl_error(err, 0, "apt-get download left %zu .deb files in %s, expected %zu", strv_len(debs),
				debs_dir, strv_len((char **)qemu_tool_packages));
	for (size_t i = 0; debs[i]; i++) {
		cleanup_free char *deb = xasprintf("%s/%s", debs_dir, debs[i]);
		char *argv[] = { "dpkg", "-x", deb, root, NULL };
		struct build_exec x = { .what = "dpkg -x", .argv = argv };

		if (build_exec_run(b, &x, err) < 0)
			goto out;
		strbuf_printf(&names, "%s%s", i ? " " : "", debs[i]);
	}
	strbuf_puts(&names, "\n");
	ret = fs_write_text(stamp, names.str, err);
out:
	strbuf_release(&names);
	return ret;
}

/*
 * qemu_tools() - trixie's meson in <cache>/tools/qemu, fetched once; b->tools_id names the .debs, so
 * that another meson makes another cache key
 */
static int qemu_tools(struct build *b, nl_error_t *err)
{
	cleanup_free char *stamp = xasprintf("%s/%s", b->tools_dir, QEMU_TOOLS_STAMP);
	cleanup_free char *text = read_file_text(stamp);
	cleanup_free char *staging = NULL, *root = NULL, *log = NULL;
	cleanup_error nl_error_t rm_err = NULL;
	int ret;

	if (!text) {
		cleanup_free char *tools_parent = xasprintf("%s/tools", b->cache_dir);
		cleanup_free char *prefix = xasprintf("%s.staging-", b->comp->name);

		fs_remove_dead(tools_parent, prefix);	/* a fetch that was killed */
		staging = xasprintf("%s.staging-%d", b->tools_dir, (int)getpid());
		root = xasprintf("%s/root", staging);
		log = xasprintf("%s/logs/fetch-%s-tools.log", b->cache_dir, b->comp->name);
		if (build_log_open(b, log, err) < 0)
			return -1;
		ret = qemu_tools_fetch(b, staging, err);
		if (ret == 0)
			ret = fs_publish(root, b->tools_dir, err);
		build_log_close(b);
		fs_remove_tree(staging, &rm_err);
		if (ret < 0) {
			build_error_note_log(err, log);
			return nl_error_wrap(err, "meson and pycotap from %s", QEMU_TOOLS_SUITE);
		}
		text = read_file_text(stamp);
		if (!text)
			return nl_error(err, errno, "read %s", stamp);
	}
	text[strcspn(text, "\n")] = '\0';
	b->tools_id = xasprintf("%s-debs %s", QEMU_TOOLS_SUITE, text);
	return 0;
}

const struct build_component build_component_qemu = {
	.name = "qemu",
	.package = "qemu",
	.default_patches = "patches/qemu",
	.configs = NULL,
	.env = qemu_env,
	.steps = qemu_steps,
	.n_steps = ARRAY_SIZE(qemu_steps),
	.artefacts = qemu_artefacts,
	.n_artefacts = ARRAY_SIZE(qemu_artefacts),
	.progress_estimate = 0,
	.tools = qemu_tools,
	.after_step = NULL,
};
