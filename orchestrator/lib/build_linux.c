/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build_linux.c - the Linux component: one bzImage for L1 and L2
 *
 * The configuration is patches/linux/base.config (a lean base applied on top of allnoconfig) plus
 * patches/linux/nestlab.config (what the appliance needs: VFIO, INTEL_IOMMU and its debugfs, KVM,
 * the NICs, virtio, hugetlbfs, tracing) plus, optionally, the scenario's own fragment, merged by the
 * kernel's scripts/kconfig/merge_config.sh -n. Kconfig silently drops a symbol whose dependencies are
 * off, so after the merge every CONFIG_X=y of the fragments after the base must be =y in the result;
 * the build stops naming those that are not.
 *
 * Progress: kbuild prints one CC/LD/AR line per object; they are counted against the count of the
 * last build (<cache>/linux/progress-steps), or about 1,800 (the lean config's first build) before that.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"

static const char *const linux_configs[] = { "base.config", "nestlab.config", NULL };

static const char *const linux_env[] = {
	"KBUILD_BUILD_USER=nestlab",
	"KBUILD_BUILD_HOST=nestlab",
	NULL,
};

static const char *const linux_config[] = {
	"sh", "@SRC@/scripts/kconfig/merge_config.sh", "-n", "-O", "@BUILD@", "@CONFIGS@", NULL,
};

static const char *const linux_compile[] = { "make", "-C", "@SRC@", "O=@BUILD@", "-j@JOBS@", "bzImage", NULL };

static const struct build_step linux_steps[] = {
	{ "config", "@SRC@", linux_config, BUILD_PROGRESS_NONE },
	{ "compile", "@SRC@", linux_compile, BUILD_PROGRESS_KBUILD },
};

static const struct build_artefact linux_artefacts[] = {
	{ "@BUILD@/arch/x86/boot/bzImage", "bzImage" },
	{ "@BUILD@/.config", "config" },
};

/* has_line() - whether @text holds @line as a whole line */
static bool has_line(const char *text, const char *line)
{
	size_t len = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return false;
}

char *build_linux_missing_symbols(const char *dotconfig, const char *fragment)
{
	struct strbuf missing = STRBUF_INIT;

	for (const char *line = fragment; line && *line;) {
		size_t len = strcspn(line, "\n");
		cleanup_free char *l = xstrndup(line, len);
		size_t end = strlen(l);

		line += len + (line[len] == '\n');
		while (end && strchr(" \t\r", l[end - 1]))
			l[--end] = '\0';
		if (strncmp(l, "CONFIG_", 7) || end < 2 || strcmp(l + end - 2, "=y"))
			continue;
		if (!has_line(dotconfig, l)) {
			l[end - 2] = '\0';
			strbuf_printf(&missing, "%s%s", missing.len ? " " : "", l);
		}
	}
	return missing.len ? strbuf_detach(&missing) : NULL;
}

/* linux_check_config() - after the merge: every =y of the fragments after the base is =y */
static int linux_check_config(struct build *b, size_t index, nl_error_t *err)
{
	cleanup_free char *path = xasprintf("%s/.config", b->build_dir);
	cleanup_free char *dotconfig = NULL;
	struct strbuf problems = STRBUF_INIT;
	int ret = 0;

	if (index != 0)
		return 0;
	dotconfig = read_file_text(path);
	if (!dotconfig)
		return nl_error(err, errno, "the merged kernel config %s", path);
	for (size_t i = 1; b->configs && b->configs[i]; i++) {
		cleanup_free char *fragment = read_file_text(b->configs[i]);
		cleanup_free char *missing = NULL;

		if (!fragment) {
			ret = nl_error(err, errno, "read %s", b->configs[i]);
			goto out;
		}
		missing = build_linux_missing_symbols(dotconfig, fragment);
		if (missing)
			strbuf_printf(&problems, "%s%s asks for %s", problems.len ? "; " : "", b->configs[i], missing);
	}
	if (problems.len) {
		build_log(b, "config check failed: %s", problems.str);
		ret = nl_error(err, 0, "the merged kernel config is missing =y symbols: %s; Kconfig drops a symbol "
				       "whose dependencies are off: add them to the fragment (`make menuconfig`, / "
				       "searches a symbol and shows what it depends on)",
			       problems.str);
	}
out:
	strbuf_release(&problems);
	return ret;
}

const struct build_component build_component_linux = {
	.name = "linux",
	.package = "linux",
	.default_patches = "patches/linux",
	.configs = linux_configs,
	.env = linux_env,
	.steps = linux_steps,
	.n_steps = ARRAY_SIZE(linux_steps),
	.artefacts = linux_artefacts,
	.n_artefacts = ARRAY_SIZE(linux_artefacts),
	.progress_estimate = 1800,
	.tools = NULL,
	.after_step = linux_check_config,
};
