/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_image.c - unit tests for image.c, image_cpio.c, image_l2.c, image_closure.c, image_seed.c and
 * image_guestfs.c
 *
 * Archives and file systems are parsed back by readers written here from the format descriptions
 * (not by the writer's own code), and cross-checked with GNU cpio, fsck.fat and mtools when they are
 * installed. One test boots the libguestfs appliance (about 30 s under TCG); NESTLAB_QUICK=1 skips it.
 */
#include <elf.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <yaml.h>
#include <zlib.h>

#include "agent_client.h"
#include "fs.h"
#include "image.h"
#include "image_internal.h"
#include "loop.h"
#include "plan.h"
#include "proc.h"
#include "rundir.h"
#include "test.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

/* tmp_dir() - a fresh directory under $TMPDIR (caller frees the path; files are left for inspection) */
static char *tmp_dir(const char *what)
{
	const char *base = getenv("TMPDIR");
	char *path = xasprintf("%s/nestlab-test-image-%s-XXXXXX", base && *base ? base : "/tmp", what);

	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return -1;
	return fchmod(fd, mode);
}

static bool have_program(const char *name)
{
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;
	char *argv[] = { (char *)"sh", (char *)"-c", NULL, NULL };
	cleanup_free char *cmd = xasprintf("command -v %s", name);

	argv[2] = cmd;
	return proc_run(argv, 5000, &out, &err) == 0;
}

/* ---- cpio: a newc reader written from cpio(5) -------------------------------------------------- */

struct cpio_entry {
	char name[256];
	unsigned mode, nlink, rdev_major, rdev_minor, mtime;
	size_t size;
	const char *data;
};

/* hex8() - one 8-digit hex field; -1 when not hex */
static long hex8(const char *p)
{
	long v = 0;

	for (int i = 0; i < 8; i++) {
		int c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/*
 * cpio_parse() - entries of a newc archive into @out (at most @max); checks magic, hex fields, the
 * 4-byte alignment of every header and data start, and that TRAILER!!! ends the archive exactly.
 * Return: number of entries without the trailer, or -1 (diagnostic printed).
 */
static int cpio_parse(const char *buf, size_t len, struct cpio_entry *out, int max)
{
	size_t off = 0;
	int n = 0;

	while (off + 110 <= len) {
		struct cpio_entry e = { 0 };
		long f[13];
		size_t namesize;

		if (off % 4 || memcmp(buf + off, "070701", 6)) {
			test_diag("cpio: bad magic or alignment at %zu", off);
			return -1;
		}
		for (int i = 0; i < 13; i++)
			if ((f[i] = hex8(buf + off + 6 + 8 * i)) < 0) {
				test_diag("cpio: field %d not hex at %zu", i, off);
				return -1;
			}
		e.mode = (unsigned)f[1], e.nlink = (unsigned)f[4], e.mtime = (unsigned)f[5], e.size = (size_t)f[6];
		e.rdev_major = (unsigned)f[9], e.rdev_minor = (unsigned)f[10];
		namesize = (size_t)f[11];
		if (namesize < 2 || namesize > sizeof(e.name) || off + 110 + namesize > len ||
		    buf[off + 110 + namesize - 1]) {
			test_diag("cpio: bad name size at %zu", off);
			return -1;
		}
		memcpy(e.name, buf + off + 110, namesize);
		off = (off + 110 + namesize + 3) & ~(size_t)3;
		if (off + e.size > len)
			return -1;
		e.data = buf + off;
		off = (off + e.size + 3) & ~(size_t)3;
		if (!strcmp(e.name, "TRAILER!!!"))
			return off == len ? n : -1;
		if (n < max)
			out[n] = e;
		n++;
	}
	test_diag("cpio: no trailer");
	return -1;
}

/* gunzip_file() - the decompressed bytes of @path appended to @out (nothing when it cannot be read) */
static void gunzip_file(const char *path, struct strbuf *out)
{
	gzFile gz = gzopen(path, "rb");
	char buf[65536];
	int n;

	while (gz && (n = gzread(gz, buf, sizeof(buf))) > 0)
		strbuf_add(out, buf, (size_t)n);
	if (gz)
		gzclose(gz);
}

static const struct cpio_entry *cpio_find(const struct cpio_entry *e, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return &e[i];
	return NULL;
}

/* sample_archive() - every entry type, a nested path (parents added), an odd-length file */
static int sample_archive(struct image_cpio *c)
{
	cleanup_error nl_error_t err = NULL;

	image_cpio_init(c, 1700000000);
	if (image_cpio_add_dir(c, "bin", 0755, &err) < 0 || image_cpio_add_file(c, "init", 0755, "#!/bin/sh\n", 10, &err) < 0 ||
	    image_cpio_add_file(c, "usr/local/share/odd", 0644, "abcde", 5, &err) < 0 ||
	    image_cpio_add_symlink(c, "bin/sh", "busybox", &err) < 0 ||
	    image_cpio_add_chardev(c, "dev/console", 0600, 5, 1, &err) < 0 ||
	    image_cpio_add_file(c, "empty", 0600, NULL, 0, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	image_cpio_finish(c);
	return 0;
}

static int test_cpio_roundtrip(void)
{
	struct cpio_entry e[32];
	struct image_cpio c;
	const struct cpio_entry *f;
	int n;

	CHECK(sample_archive(&c) == 0);
	n = cpio_parse(c.out.str, c.out.len, e, 32);
	CHECK(n == 10);	/* bin init usr usr/local usr/local/share odd bin/sh dev dev/console empty */
	CHECK((f = cpio_find(e, n, "init")) && f->mode == (S_IFREG | 0755) && f->size == 10 &&
	      !memcmp(f->data, "#!/bin/sh\n", 10) && f->mtime == 1700000000 && f->nlink == 1);
	CHECK((f = cpio_find(e, n, "usr/local/share/odd")) && f->size == 5 && !memcmp(f->data, "abcde", 5));
	CHECK((f = cpio_find(e, n, "usr/local")) && f->mode == (S_IFDIR | 0755));
	CHECK(cpio_find(e, n, "usr") < cpio_find(e, n, "usr/local"));	/* parents first */
	CHECK(cpio_find(e, n, "usr/local/share") < cpio_find(e, n, "usr/local/share/odd"));
	CHECK((f = cpio_find(e, n, "bin/sh")) && f->mode == (S_IFLNK | 0777) && f->size == 7 &&
	      !memcmp(f->data, "busybox", 7));
	CHECK((f = cpio_find(e, n, "dev/console")) && f->mode == (S_IFCHR | 0600) && f->rdev_major == 5 &&
	      f->rdev_minor == 1);
	CHECK((f = cpio_find(e, n, "empty")) && f->size == 0);
	CHECK(c.out.len % 4 == 0);
	image_cpio_release(&c);
	return TEST_PASS;
}

static int test_cpio_bad_names(void)
{
	static const char *const bad[] = { "", "/abs", "a/../b", "a//b", "./x", "TRAILER!!!", "x/." };
	struct image_cpio c;

	image_cpio_init(&c, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error nl_error_t err = NULL;

		CHECK(image_cpio_add_file(&c, bad[i], 0644, "x", 1, &err) < 0);
		CHECK_CONTAINS(err->msg, "bad entry name");
	}
	{
		cleanup_error nl_error_t err = NULL;

		image_cpio_finish(&c);
		CHECK(image_cpio_add_dir(&c, "late", 0755, &err) < 0);
		CHECK_CONTAINS(err->msg, "after the trailer");
	}
	image_cpio_release(&c);
	return TEST_PASS;
}

/* test_cpio_gnu() - GNU cpio lists what the writer wrote */
static int test_cpio_gnu(void)
{
	cleanup_free char *dir = tmp_dir("cpio");
	cleanup_free char *path = NULL;
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **argv = NULL;
	struct image_cpio c;

	if (!have_program("cpio"))
		return test_skip("GNU cpio is not installed (the own reader covers the format)");
	CHECK(dir && sample_archive(&c) == 0);
	path = xasprintf("%s/a.cpio", dir);
	CHECK(write_file(path, "", 0644) == 0);
	{
		cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);

		CHECK(write(fd, c.out.str, c.out.len) == (ssize_t)c.out.len);
	}
	image_cpio_release(&c);
	strv_push(&argv, "cpio");
	strv_push(&argv, "-i");
	strv_push(&argv, "-t");
	strv_push(&argv, "-v");
	strv_pushf(&argv, "--file=%s", path);
	CHECK(proc_run(argv, 10000, &out, &err) == 0);
	CHECK_CONTAINS(out, "bin/sh -> busybox");
	CHECK_CONTAINS(out, "usr/local/share/odd");
	CHECK_CONTAINS(out, "-rwxr-xr-x");
	CHECK_CONTAINS(out, "crw-------");
	CHECK(!strstr(out, "warning") && !strstr(out, "error"));
	return TEST_PASS;
}

static int test_gzip(void)
{
	cleanup_free char *dir = tmp_dir("gzip");
	cleanup_free char *path = NULL;
	cleanup_error nl_error_t err = NULL;
	char data[100000], back[100001];
	gzFile gz;
	int n;

	CHECK(dir);
	path = xasprintf("%s/x.gz", dir);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 % 251);
	CHECK(image_gzip_write(path, data, sizeof(data), &err) == 0);
	gz = gzopen(path, "rb");
	CHECK(gz);
	n = gzread(gz, back, sizeof(back));
	gzclose(gz);
	CHECK(n == (int)sizeof(data) && !memcmp(back, data, sizeof(data)));
	return TEST_PASS;
}

/* ---- FAT: a reader written from the FAT specification -------------------------------------------- */

static unsigned get16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static unsigned fat12_get(const uint8_t *fat, unsigned cluster)
{
	const uint8_t *p = fat + cluster + cluster / 2;

	return cluster & 1 ? (p[0] >> 4) | (p[1] << 4) : p[0] | ((p[1] & 0x0f) << 8);
}

/*
 * fat_read() - the file @want of the root directory (long names, checksums verified), following its
 * cluster chain; *label gets the volume label entry. Return: malloc'd contents or NULL.
 */
static char *fat_read(const uint8_t *img, const char *want, char label[12], size_t *size_out)
{
	unsigned bps = get16(img + 11), rsvd = get16(img + 14), nfats = img[16], roots = get16(img + 17);
	unsigned fatsz = get16(img + 22), spc = img[13];
	const uint8_t *fat = img + rsvd * bps, *root = fat + nfats * fatsz * bps;
	size_t data_start = (rsvd + nfats * fatsz) * bps + roots * 32;
	char lfn[256] = "";
	int lfn_sum = -1;

	for (unsigned i = 0; i < roots; i++) {
		const uint8_t *e = root + 32 * i;

		if (e[0] == 0)
			break;
		if (e[11] == 0x0f) {
			static const int offs[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
			int ord = e[0] & 0x3f;

			if (e[0] & 0x40)
				memset(lfn, 0, sizeof(lfn));
			lfn_sum = e[13];
			for (int k = 0; k < 13; k++) {
				unsigned ch = get16(e + offs[k]);

				if (ch && ch != 0xffff && (ord - 1) * 13 + k < 255)
					lfn[(ord - 1) * 13 + k] = (char)ch;
			}
			continue;
		}
		if (e[11] & 0x08) {
			memcpy(label, e, 11);
			label[11] = '\0';
			continue;
		}
		{
			uint8_t sum = 0;

			for (int k = 0; k < 11; k++)
				sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + e[k]);
			if (lfn_sum != sum || strcmp(lfn, want)) {
				lfn_sum = -1;
				continue;
			}
		}
		{
			uint32_t size = get32(e + 28);
			char *out = xzalloc(size + 1);
			unsigned cl = get16(e + 26);

			for (uint32_t done = 0; done < size; cl = fat12_get(fat, cl)) {
				size_t take = size - done < bps * spc ? size - done : bps * spc;

				if (cl < 2 || cl >= 0xff8) {
					free(out);
					return NULL;
				}
				memcpy(out + done, img + data_start + (cl - 2) * bps * spc, take);
				done += (uint32_t)take;
			}
			*size_out = size;
			return out;
		}
	}
	return NULL;
}

static int test_fat_layout(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf img = STRBUF_INIT;
	char big[3000], label[12] = "";
	size_t size;
	const struct image_fat_file files[] = {
		{ "meta-data", "instance-id: x\n", 15 },
		{ "network-config", "config: disabled\n", 17 },
		{ "a-name-longer-than-twenty-six-characters", big, sizeof(big) },
		{ "empty", "", 0 },
	};
	const uint8_t *b;
	cleanup_free char *md = NULL, *nc = NULL, *lg = NULL, *em = NULL;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	CHECK(image_fat_build("CIDATA", 0x12345678, files, ARRAY_SIZE(files), &img, &err) == 0);
	CHECK(img.len == IMAGE_SEED_BYTES);
	b = (const uint8_t *)img.str;
	CHECK(b[0] == 0xeb && b[510] == 0x55 && b[511] == 0xaa);
	CHECK(get16(b + 11) == 512 && get16(b + 19) == IMAGE_SEED_BYTES / 512 && b[38] == 0x29);
	CHECK(!memcmp(b + 43, "CIDATA     ", 11) && !memcmp(b + 54, "FAT12   ", 8));
	CHECK(get32(b + 39) == 0x12345678);
	CHECK((md = fat_read(b, "meta-data", label, &size)) && size == 15 && !strcmp(md, "instance-id: x\n"));
	CHECK_STR(label, "CIDATA     ");
	CHECK((nc = fat_read(b, "network-config", label, &size)) && !strcmp(nc, "config: disabled\n"));
	CHECK((lg = fat_read(b, "a-name-longer-than-twenty-six-characters", label, &size)) && size == sizeof(big) &&
	      !memcmp(lg, big, sizeof(big)));
	CHECK((em = fat_read(b, "empty", label, &size)) && size == 0);
	CHECK(!memcmp(b + 512, b + 512 + 6 * 512, 6 * 512));	/* both FATs equal */
	return TEST_PASS;
}

static int test_fat_limits(void)
{
	cleanup_strbuf struct strbuf img = STRBUF_INIT;
	static char huge[IMAGE_SEED_BYTES];
	const struct image_fat_file too_big[] = { { "user-data", huge, sizeof(huge) } };
	const struct image_fat_file bad_name[] = { { "a/b", "x", 1 } };
	struct image_fat_file many[17];
	cleanup_error nl_error_t e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct image_fat_file){ "f", "x", 1 };
	CHECK(image_fat_build("CIDATA", 1, too_big, 1, &img, &e1) < 0);
	CHECK_CONTAINS(e1->msg, "KiB");
	CHECK(image_fat_build("CIDATA", 1, bad_name, 1, &img, &e2) < 0);
	CHECK(image_fat_build("CIDATA", 1, many, ARRAY_SIZE(many), &img, &e3) < 0);
	CHECK(image_fat_build("TWELVE-CHARS", 1, bad_name, 0, &img, &e4) < 0);
	CHECK(img.len == 0);
	return TEST_PASS;
}

/* ---- the seed of a plan ----------------------------------------------------------------------- */

/* seed_plan() - a resolved plan of a minimal scenario; @assign: l2_assign */
static struct plan *seed_plan(enum scn_l2_assign assign)
{
	cleanup_error nl_error_t err = NULL;
	struct scenario scn = { 0 };
	struct plan *plan = NULL;
	struct plan_env env = {
		.run_dir = "/srv/nestlab/run-1", .run_id = "a1b2c3", .cache_dir = "/srv/nestlab/cache",
	};

	scn.path = (char *)"scenarios/seed-test.yaml";
	scn.name = (char *)"seed-test";
	scn.nic.l2_assign = assign;
	if (plan_resolve(&scn, &env, &plan, &err) < 0) {
		test_diag("plan_resolve: %s", err->msg);
		return NULL;
	}
	return plan;
}

/* yaml_ok() - @text is one well-formed YAML document (libyaml) */
static bool yaml_ok(const char *text)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	bool ok;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	ok = yaml_parser_load(&parser, &doc) && yaml_document_get_root_node(&doc);
	if (ok)
		yaml_document_delete(&doc);
	else
		test_diag("YAML error: %s at line %zu", parser.problem ? parser.problem : "?", parser.problem_mark.line + 1);
	yaml_parser_delete(&parser);
	return ok;
}

static int test_seed_format(void)
{
	cleanup_plan struct plan *plan = seed_plan(SCN_ASSIGN_UNSET);
	struct image_seed seed;

	CHECK(plan);
	image_seed_format(plan, NULL, &seed);
	CHECK_STR(seed.meta_data, "# NoCloud meta-data: a new instance-id per run makes cloud-init apply user-data again\n"
				  "instance-id: 'nestlab-seed-test-a1b2c3'\nlocal-hostname: l1\n");
	CHECK(!strncmp(seed.user_data, "#cloud-config\n", 14));
	CHECK_CONTAINS(seed.user_data, "  - path: /etc/nestlab/run.env\n");
	CHECK_CONTAINS(seed.user_data, "      NESTLAB_NIC_BDF=0000:00:02.0\n");
	CHECK_CONTAINS(seed.user_data, "      NESTLAB_L2_ASSIGN=vfio-pci\n");
	CHECK_CONTAINS(seed.user_data, "      NESTLAB_AGENT_RELAY=/run/nestlab/agent-l2.sock\n");
	CHECK_CONTAINS(seed.user_data, "      NESTLAB_AGENT_ARGS='--watch kmsg=/dev/kmsg'\n");
	CHECK_CONTAINS(seed.user_data, "runcmd:\n  - [/usr/local/sbin/nestlab-vfio-bind, '0000:00:02.0']\n"
				       "  - [systemctl, --no-block, restart, nestlab-agent.service]\n");
	CHECK_CONTAINS(seed.user_data, "final_message: 'NESTLAB-L1-CLOUD-INIT-DONE uptime $UPTIME'\n");
	CHECK(strstr(seed.network_config, "\nconfig: disabled\n"));
	CHECK(yaml_ok(seed.meta_data) && yaml_ok(seed.user_data) && yaml_ok(seed.network_config));
	image_seed_release(&seed);
	return TEST_PASS;
}

static int test_seed_no_assign(void)
{
	cleanup_plan struct plan *plan = seed_plan(SCN_ASSIGN_NONE);
	struct image_seed_opts opts = { .agent_args = "--watch trace=/sys/kernel/tracing/trace_pipe" };
	struct image_seed seed;

	CHECK(plan);
	image_seed_format(plan, &opts, &seed);
	CHECK(!strstr(seed.user_data, "nestlab-vfio-bind"));
	CHECK_CONTAINS(seed.user_data, "NESTLAB_L2_ASSIGN=none\n");
	CHECK_CONTAINS(seed.user_data, "NESTLAB_AGENT_ARGS='--watch trace=/sys/kernel/tracing/trace_pipe'\n");
	CHECK(yaml_ok(seed.user_data));
	image_seed_release(&seed);
	return TEST_PASS;
}

/* test_seed_write() - the seed disk holds the three texts, checked by the reader above and mtools */
static int test_seed_write(void)
{
	cleanup_plan struct plan *plan = seed_plan(SCN_ASSIGN_UNSET);
	cleanup_free char *dir = tmp_dir("seed");
	cleanup_free char *seed_path = NULL, *img = NULL, *ud = NULL, *ud_file = NULL, *ud_path = NULL;
	cleanup_error nl_error_t err = NULL;
	struct image_seed seed;
	char label[12] = "";
	size_t size;

	CHECK(plan && dir);
	CHECK(image_seed_write(dir, plan, NULL, &seed_path, &err) == 0);
	CHECK(!strcmp(seed_path + strlen(dir), "/l1-seed.img"));
	img = read_file_text(seed_path);
	CHECK(img);
	image_seed_format(plan, NULL, &seed);
	ud = fat_read((const uint8_t *)img, "user-data", label, &size);
	CHECK(ud && !strcmp(ud, seed.user_data));
	CHECK_STR(label, "CIDATA     ");
	ud_path = xasprintf("%s/l1-seed/user-data", dir);
	ud_file = read_file_text(ud_path);
	CHECK(ud_file && !strcmp(ud_file, seed.user_data));
	image_seed_release(&seed);
	/* the plan attaches <run dir>/l1-seed.img (plan_l0_qemu_argv(), plan_l1_domain_xml()) */
	CHECK_STR(plan->l1_seed, "/srv/nestlab/run-1/l1-seed.img");
	return TEST_PASS;
}

/* test_seed_fsck() - dosfstools and mtools accept the image and read the files by their long names */
static int test_seed_fsck(void)
{
	cleanup_plan struct plan *plan = seed_plan(SCN_ASSIGN_UNSET);
	cleanup_free char *dir = tmp_dir("fsck");
	cleanup_free char *seed_path = NULL, *out = NULL, *out2 = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **fsck = NULL, **mtype = NULL;
	struct image_seed seed;

	if (!have_program("fsck.fat") || !have_program("mtype"))
		return test_skip("fsck.fat (dosfstools) or mtype (mtools) not installed");
	CHECK(plan && dir && image_seed_write(dir, plan, NULL, &seed_path, &err) == 0);
	strv_push(&fsck, "fsck.fat");
	strv_push(&fsck, "-n");
	strv_push(&fsck, "-v");
	strv_push(&fsck, seed_path);
	if (proc_run(fsck, 10000, &out, &err) < 0) {
		test_diag("%s\n%s", err->msg, out);
		return TEST_FAIL;
	}
	CHECK_CONTAINS(out, "4 files");	/* fsck.fat counts the volume label entry too */
	if (have_program("blkid")) {	/* what cloud-init's NoCloud looks for: TYPE=vfat LABEL=CIDATA */
		cleanup_strv char **blkid = NULL;
		cleanup_free char *id = NULL;

		strv_push(&blkid, "blkid");
		strv_push(&blkid, "-p");
		strv_push(&blkid, "-o");
		strv_push(&blkid, "export");
		strv_push(&blkid, seed_path);
		CHECK(proc_run(blkid, 10000, &id, &err) == 0);
		CHECK_CONTAINS(id, "\nLABEL=CIDATA\n");
		CHECK_CONTAINS(id, "\nTYPE=vfat\n");
	}
	strv_push(&mtype, "mtype");
	strv_push(&mtype, "-i");
	strv_push(&mtype, seed_path);
	strv_push(&mtype, "::network-config");
	CHECK(proc_run(mtype, 10000, &out2, &err) == 0);
	image_seed_format(plan, NULL, &seed);
	CHECK_STR(out2, seed.network_config);
	image_seed_release(&seed);
	return TEST_PASS;
}

/* ---- recipe trees and keys ---------------------------------------------------------------------- */

struct fixture {
	char *dir;
	struct image_config cfg;
};

/* fixture_init() - recipes (l1/packages, l1/files, l2/init) and fake artefacts in a temp directory */
static int fixture_init(struct fixture *fx)
{
	char *d;

	*fx = (struct fixture){ 0 };
	fx->dir = d = tmp_dir("keys");
	if (!d)
		return -1;
	{
		cleanup_free char *l1 = xasprintf("%s/images/l1/files/etc", d);
		cleanup_free char *l2 = xasprintf("%s/images/l2", d);
		cleanup_free char *dpdk = xasprintf("%s/images/l2/dpdk/files/bin", d);
		cleanup_free char *art = xasprintf("%s/art", d);
		cleanup_error nl_error_t err = NULL;

		if (fs_mkdir_p(l1, &err) < 0 || fs_mkdir_p(l2, &err) < 0 || fs_mkdir_p(dpdk, &err) < 0 ||
		    fs_mkdir_p(art, &err) < 0)
			return -1;
	}
	{
		static const char *const files[][2] = {
			{ "images/l1/packages", "systemd\ncloud-init # the datasource\n" },
			{ "images/l1/files/etc/x.conf", "x=1\n" },
			{ "images/l2/init", "#!/bin/sh\n" },
			{ "images/l2/dpdk/packages", "dpdk-dev # testpmd\nlibc6\n" },
			{ "images/l2/dpdk/include", "# the program\n/usr/bin/app\n" },
			{ "images/l2/dpdk/files/bin/helper", "#!/bin/sh\n" },
			{ "art/agent", "agent" },	{ "art/busybox", "busybox" },
			{ "art/bzImage", "kernel" },	{ "art/qemu", "qemu" },
		};

		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			cleanup_free char *p = xasprintf("%s/%s", d, files[i][0]);

			if (write_file(p, files[i][1], 0644) < 0)
				return -1;
		}
	}
	fx->cfg.recipe_dir = xasprintf("%s/images", d);
	fx->cfg.cache_dir = xasprintf("%s/cache", d);
	fx->cfg.agent = xasprintf("%s/art/agent", d);
	fx->cfg.busybox = xasprintf("%s/art/busybox", d);
	fx->cfg.kernel = xasprintf("%s/art/bzImage", d);
	fx->cfg.qemu = xasprintf("%s/art/qemu", d);
	fx->cfg.suite = xstrdup("bookworm");
	fx->cfg.mirror = xstrdup("http://deb.debian.org/debian");
	return 0;
}

static void fixture_release(struct fixture *fx)
{
	image_config_release(&fx->cfg);
	free(fx->dir);
}

static int keys_of(const struct image_config *cfg, struct image_keys *keys)
{
	cleanup_error nl_error_t err = NULL;

	if (image_keys_compute(cfg, keys, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	return 0;
}

/* changed() - apply @edit to the fixture file @rel and say which keys changed: rootfs, L2, L2 dpdk, L1 */
static int changed(struct fixture *fx, const struct image_keys *base, const char *rel, const char *text, mode_t mode,
		   char which[5])
{
	cleanup_free char *p = xasprintf("%s/%s", fx->dir, rel);
	struct image_keys k;

	if (write_file(p, text, mode) < 0 || keys_of(&fx->cfg, &k) < 0)
		return -1;
	which[0] = strcmp(k.rootfs, base->rootfs) ? 'R' : '-';
	which[1] = strcmp(k.l2, base->l2) ? '2' : '-';
	which[2] = strcmp(k.l2_dpdk, base->l2_dpdk) ? 'D' : '-';
	which[3] = strcmp(k.l1, base->l1) ? '1' : '-';
	which[4] = '\0';
	image_keys_release(&k);
	return 0;
}

static int test_keys_sensitivity(void)
{
	struct fixture fx;
	struct image_keys base, again;
	char which[5];
	int ret = TEST_FAIL;

	CHECK(fixture_init(&fx) == 0);
	if (keys_of(&fx.cfg, &base) < 0 || keys_of(&fx.cfg, &again) < 0)
		goto out;
	/* stable, and an mtime alone changes nothing */
	if (strcmp(base.l1, again.l1) || strlen(base.l1) != 64 || changed(&fx, &base, "images/l1/files/etc/x.conf", "x=1\n", 0644, which) ||
	    strcmp(which, "----"))
		goto out;
	{
		static const struct {
			const char *rel, *text;
			mode_t mode;
			const char *expect;
		} cases[] = {
			{ "images/l1/files/etc/x.conf", "x=2\n", 0644, "---1" },
			{ "images/l1/files/etc/x.conf", "x=2\n", 0755, "---1" },	/* the exec bit counts */
			{ "images/l1/packages", "systemd\ncloud-init\npciutils\n", 0644, "R--1" },
			/* the dpdk image holds the minimal one: it changes with it */
			{ "images/l2/init", "#!/bin/sh\necho\n", 0755, "-2D1" },
			{ "art/agent", "agent2", 0755, "-2D1" },
			{ "art/busybox", "busybox2", 0755, "-2D1" },
			{ "images/l2/dpdk/packages", "dpdk-dev\nlibc6\nlibnuma1\n", 0644, "--D1" },
			{ "images/l2/dpdk/include", "/usr/bin/app\n/usr/lib/plugin.so\n", 0644, "--D1" },
			{ "images/l2/dpdk/files/bin/helper", "#!/bin/sh\nexit 0\n", 0755, "--D1" },
			{ "art/bzImage", "kernel2", 0644, "---1" },
			{ "art/qemu", "qemu2", 0755, "---1" },
		};
		struct image_keys cur = base;

		base.manifest = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
			if (changed(&fx, &cur, cases[i].rel, cases[i].text, cases[i].mode, which) < 0)
				goto out;
			if (strcmp(which, cases[i].expect)) {
				test_diag("%s: changed %s, expected %s", cases[i].rel, which, cases[i].expect);
				goto out;
			}
			image_keys_release(&cur);
			if (keys_of(&fx.cfg, &cur) < 0)
				goto out;
		}
		CHECK(cur.manifest && strv_len(cur.manifest) > 6);
		image_keys_release(&cur);
	}
	ret = TEST_PASS;
out:
	image_keys_release(&base);
	image_keys_release(&again);
	fixture_release(&fx);
	return ret;
}

static int collect_rel(const struct image_tree_entry *e, void *opaque, nl_error_t *err UNUSED)
{
	strv_pushf(opaque, "%d %s %o", (int)e->type, e->rel, e->mode);
	return 0;
}

static int test_tree_walk(void)
{
	cleanup_free char *d = tmp_dir("tree");
	cleanup_free char *b = NULL, *a = NULL, *l = NULL, *fifo = NULL, *none = NULL;
	cleanup_strv char **seen = NULL;
	cleanup_error nl_error_t err = NULL, err2 = NULL;

	CHECK(d);
	b = xasprintf("%s/b", d);
	a = xasprintf("%s/a", d);
	l = xasprintf("%s/b/link", d);
	CHECK(mkdir(b, 0700) == 0 && write_file(a, "x", 0700) == 0 && symlink("/dev/null", l) == 0);
	CHECK(image_tree_walk(d, collect_rel, &seen, &err) == 0);
	CHECK(strv_len(seen) == 3);
	CHECK_STR(seen[0], "1 a 755");
	CHECK_STR(seen[1], "2 b 755");
	CHECK_STR(seen[2], "3 b/link 0");
	fifo = xasprintf("%s/b/fifo", d);
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK(image_tree_walk(d, collect_rel, &seen, &err2) < 0);
	CHECK_CONTAINS(err2->msg, "only files, directories and symlinks");
	none = xasprintf("%s/absent", d);
	CHECK(image_tree_walk(none, collect_rel, &seen, &err2) == 0);
	return TEST_PASS;
}

/* test_l2_initramfs() - the L2 archive has init, busybox and sh, the agent, console and the trailer */
static int test_l2_initramfs(void)
{
	struct fixture fx;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *path = NULL;
	cleanup_strbuf struct strbuf raw = STRBUF_INIT;
	struct cpio_entry e[64];
	const struct cpio_entry *f;
	int n, ret = TEST_FAIL;

	CHECK(fixture_init(&fx) == 0);
	path = xasprintf("%s/minimal.cpio.gz", fx.dir);
	if (image_l2_build(&fx.cfg, path, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	gunzip_file(path, &raw);
	n = cpio_parse(raw.str, raw.len, e, 64);
	if (n < 10 || !(f = cpio_find(e, n, "init")) || f->mode != (S_IFREG | 0755) ||
	    !(f = cpio_find(e, n, "bin/busybox")) || f->size != 7 || !(f = cpio_find(e, n, "bin/sh")) ||
	    !S_ISLNK(f->mode) || !(f = cpio_find(e, n, "sbin/nestlab-agent")) || f->size != 5 ||
	    !(f = cpio_find(e, n, "dev/console")) || !S_ISCHR(f->mode) || !(f = cpio_find(e, n, "tmp")) ||
	    f->mode != (S_IFDIR | 01777) || cpio_find(e, n, "bin/nestlab-vfio-nic")) {
		test_diag("unexpected L2 archive (%d entries)", n);
		goto out;
	}
	ret = TEST_PASS;
out:
	fixture_release(&fx);
	return ret;
}

/* ---- the shared-library closure (image_closure.c) ------------------------------------------------- */

#define ELF_BASE 0x400000u

/*
 * make_elf() - a small x86-64 ELF written from the gABI: one PT_LOAD over the whole file, PT_INTERP when
 * @interp is set, and a PT_DYNAMIC with DT_NEEDED for each of @needed, DT_RUNPATH @runpath when set,
 * DT_STRTAB (an address inside the PT_LOAD) and DT_STRSZ. Returns its length.
 */
static size_t make_elf(uint8_t *buf, size_t cap, const char *interp, const char *const *needed, const char *runpath)
{
	Elf64_Ehdr eh = { .e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
			  .e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 3 };
	Elf64_Phdr ph[3] = { 0 };
	Elf64_Dyn dyn[16];
	size_t off = sizeof(eh) + sizeof(ph), interp_off = off, str_off, str_len = 1, dyn_off, n = 0;

	memset(buf, 0, cap);
	if (interp) {
		memcpy(buf + off, interp, strlen(interp) + 1);
		off += strlen(interp) + 1;
	}
	str_off = off;
	for (size_t i = 0; needed && needed[i]; i++) {
		memcpy(buf + str_off + str_len, needed[i], strlen(needed[i]) + 1);
		dyn[n++] = (Elf64_Dyn){ .d_tag = DT_NEEDED, .d_un.d_val = str_len };
		str_len += strlen(needed[i]) + 1;
	}
	if (runpath) {
		memcpy(buf + str_off + str_len, runpath, strlen(runpath) + 1);
		dyn[n++] = (Elf64_Dyn){ .d_tag = DT_RUNPATH, .d_un.d_val = str_len };
		str_len += strlen(runpath) + 1;
	}
	dyn[n++] = (Elf64_Dyn){ .d_tag = DT_STRTAB, .d_un.d_ptr = ELF_BASE + str_off };
	dyn[n++] = (Elf64_Dyn){ .d_tag = DT_STRSZ, .d_un.d_val = str_len };
	dyn[n++] = (Elf64_Dyn){ .d_tag = DT_NULL };
	dyn_off = (str_off + str_len + 7) & ~(size_t)7;
	memcpy(buf + dyn_off, dyn, n * sizeof(*dyn));
	off = dyn_off + n * sizeof(*dyn);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0, .p_vaddr = ELF_BASE, .p_filesz = off, .p_memsz = off };
	ph[1] = (Elf64_Phdr){ .p_type = interp ? PT_INTERP : PT_NULL, .p_offset = interp_off,
			      .p_filesz = interp ? strlen(interp) + 1 : 0 };
	ph[2] = (Elf64_Phdr){ .p_type = PT_DYNAMIC, .p_offset = dyn_off, .p_vaddr = ELF_BASE + dyn_off,
			      .p_filesz = n * sizeof(*dyn) };
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), ph, sizeof(ph));
	return off;
}

static int test_closure_elf_parse(void)
{
	static uint8_t buf[4096];
	const char *const needed[] = { "librte_eal.so.23", "libc.so.6", NULL };
	struct image_elf_deps deps;
	cleanup_error nl_error_t err = NULL;
	size_t len = make_elf(buf, sizeof(buf), "/lib64/ld-linux-x86-64.so.2", needed, "$ORIGIN/../lib");

	CHECK(image_closure_elf_parse(buf, len, &deps, &err) == 0);
	CHECK_STR(deps.interp, "/lib64/ld-linux-x86-64.so.2");
	CHECK(strv_len(deps.needed) == 2);
	CHECK_STR(deps.needed[0], "librte_eal.so.23");
	CHECK_STR(deps.needed[1], "libc.so.6");
	CHECK_STR(deps.runpath, "$ORIGIN/../lib");
	CHECK(deps.rpath == NULL);
	image_closure_elf_release(&deps);
	/* untrusted bytes: every cut of the file is an error or a smaller answer, never a crash */
	for (size_t cut = 0; cut < len; cut++) {
		nl_error_t e2 = NULL;

		if (image_closure_elf_parse(buf, cut, &deps, &e2) < 0)
			nl_error_release(&e2);
		image_closure_elf_release(&deps);
	}
	CHECK(image_closure_elf_parse("#!/bin/sh\nexit 0\n", 17, &deps, &err) < 0);
	CHECK_CONTAINS(err->msg, "not an ELF file");
	image_closure_elf_release(&deps);
	nl_error_release(&err);
	{
		const char *const bad[] = { "../evil.so", NULL };

		len = make_elf(buf, sizeof(buf), NULL, bad, NULL);
		CHECK(image_closure_elf_parse(buf, len, &deps, &err) < 0);
		image_closure_elf_release(&deps);
		nl_error_release(&err);
	}
	/* DT_STRTAB pointing outside every PT_LOAD */
	len = make_elf(buf, sizeof(buf), NULL, needed, NULL);
	for (size_t off = 0; off + sizeof(Elf64_Dyn) <= len; off += 8) {
		Elf64_Dyn d;

		memcpy(&d, buf + off, sizeof(d));
		if (d.d_tag == DT_STRTAB && d.d_un.d_ptr >= ELF_BASE && d.d_un.d_ptr < ELF_BASE + len) {
			d.d_un.d_ptr = 0x7fff0000;
			memcpy(buf + off, &d, sizeof(d));
			break;
		}
	}
	CHECK(image_closure_elf_parse(buf, len, &deps, &err) < 0);
	CHECK_CONTAINS(err->msg, "DT_STRTAB");
	image_closure_elf_release(&deps);
	return TEST_PASS;
}

/* put_elf() - make_elf() into @root/@rel (parents created) */
static int put_elf(const char *root, const char *rel, const char *interp, const char *const *needed,
		   const char *runpath)
{
	static uint8_t buf[4096];
	cleanup_free char *path = xasprintf("%s/%s", root, rel);
	cleanup_free char *dir = xstrdup(path);
	cleanup_error nl_error_t err = NULL;
	cleanup_close int fd = -1;
	size_t len = make_elf(buf, sizeof(buf), interp, needed, runpath);

	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, &err) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	return fd >= 0 && write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

/* put_link() - symlink @root/@rel -> @target */
static int put_link(const char *root, const char *rel, const char *target)
{
	cleanup_free char *path = xasprintf("%s/%s", root, rel);

	return symlink(target, path);
}

/*
 * closure_root() - an unpacked root like Debian's: a program with a loader behind an absolute symlink,
 * RUNPATH with $ORIGIN to a library behind a relative symlink, a plugin reached through a directory
 * symlink, a decoy of an already loaded soname in a system directory, and files nothing needs
 */
static char *closure_root(void)
{
	char *d = tmp_dir("closure");
	const char *const app[] = { "liba.so.1", "libb.so.2", NULL };
	const char *const libc[] = { "ld-linux-x86-64.so.2", NULL };
	const char *const a[] = { "libc.so.6", NULL };
	const char *const b[] = { "libc.so.6", "liba.so.1", NULL };
	const char *const plugin[] = { "libb.so.2", "libc.so.6", NULL };
	const char *const app2[] = { "libmissing.so.9", NULL };

	if (!d || put_elf(d, "usr/bin/app", "/lib64/ld-linux-x86-64.so.2", app, "$ORIGIN/../lib/app") < 0 ||
	    put_elf(d, "usr/bin/app2", "/lib64/ld-linux-x86-64.so.2", app2, NULL) < 0 ||
	    put_elf(d, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", NULL, NULL, NULL) < 0 ||
	    put_elf(d, "lib/x86_64-linux-gnu/libc.so.6", NULL, libc, NULL) < 0 ||
	    put_elf(d, "usr/lib/app/liba.so.1.0", NULL, a, NULL) < 0 ||
	    put_elf(d, "usr/lib/x86_64-linux-gnu/liba.so.1", NULL, NULL, NULL) < 0 ||	/* decoy */
	    put_elf(d, "usr/lib/x86_64-linux-gnu/libb.so.2", NULL, b, NULL) < 0 ||
	    put_elf(d, "usr/lib/x86_64-linux-gnu/plug/p.so.1", NULL, plugin, NULL) < 0 ||
	    put_elf(d, "usr/lib/x86_64-linux-gnu/unused.so.1", NULL, NULL, NULL) < 0 ||
	    put_link(d, "usr/lib/app/liba.so.1", "liba.so.1.0") < 0 || mkdir(xasprintf("%s/lib64", d), 0755) < 0 ||
	    put_link(d, "lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") < 0 ||
	    put_link(d, "usr/lib/plugins", "x86_64-linux-gnu/plug") < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static int test_closure_compute(void)
{
	static const char *const expect[][2] = {
		{ "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", NULL },
		{ "lib/x86_64-linux-gnu/libc.so.6", NULL },
		{ "lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" },
		{ "usr/bin/app", NULL },
		{ "usr/lib/app/liba.so.1", "liba.so.1.0" },
		{ "usr/lib/app/liba.so.1.0", NULL },
		{ "usr/lib/plugins", "x86_64-linux-gnu/plug" },
		{ "usr/lib/x86_64-linux-gnu/libb.so.2", NULL },
		{ "usr/lib/x86_64-linux-gnu/plug/p.so.1", NULL },
	};
	cleanup_free char *root = closure_root();
	char *roots[] = { (char *)"/usr/bin/app", (char *)"usr/lib/plugins/p.so.1", NULL };
	char *missing[] = { (char *)"/usr/bin/app2", NULL };
	char *absent[] = { (char *)"/usr/bin/none", NULL };
	struct image_closure cl;
	cleanup_error nl_error_t err = NULL;

	CHECK(root);
	if (image_closure_compute(root, roots, &cl, &err) < 0) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	for (size_t i = 0; i < cl.count; i++)
		test_diag("%s %s", cl.entries[i].rel, cl.entries[i].link_target ? cl.entries[i].link_target : "");
	CHECK(cl.count == ARRAY_SIZE(expect));
	for (size_t i = 0; i < ARRAY_SIZE(expect); i++) {
		CHECK_STR(cl.entries[i].rel, expect[i][0]);
		CHECK(!expect[i][1] == !cl.entries[i].link_target);
		if (expect[i][1])
			CHECK_STR(cl.entries[i].link_target, expect[i][1]);
	}
	CHECK(cl.entries[3].mode == 0755);
	image_closure_release(&cl);

	CHECK(image_closure_compute(root, missing, &cl, &err) < 0);
	CHECK_CONTAINS(err->msg, "/usr/bin/app2 needs libmissing.so.9, which is in none of");
	CHECK_CONTAINS(err->msg, "/usr/lib/x86_64-linux-gnu");
	CHECK(cl.count == 0);
	nl_error_release(&err);
	CHECK(image_closure_compute(root, absent, &cl, &err) < 0);
	CHECK_CONTAINS(err->msg, "/usr/bin/none: not found");
	nl_error_release(&err);
	/* a symlink loop ends */
	CHECK(put_link(root, "usr/bin/loop", "loop") == 0);
	absent[0] = (char *)"usr/bin/loop";
	CHECK(image_closure_compute(root, absent, &cl, &err) < 0);
	CHECK_CONTAINS(err->msg, "too many symbolic links");
	return TEST_PASS;
}

/*
 * test_l2_dpdk_initramfs() - the dpdk archive is the minimal one plus the closure of
 * images/l2/dpdk/include in the unpacked packages plus images/l2/dpdk/files, each entry once
 */
static int test_l2_dpdk_initramfs(void)
{
	struct fixture fx;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *path = NULL, *root = closure_root();
	cleanup_strbuf struct strbuf raw = STRBUF_INIT;
	static struct cpio_entry e[128];
	const struct cpio_entry *f;
	int n, ret = TEST_FAIL;

	CHECK(root);
	CHECK(fixture_init(&fx) == 0);
	path = xasprintf("%s/dpdk.cpio.gz", fx.dir);
	if (image_l2_dpdk_build(&fx.cfg, root, path, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	gunzip_file(path, &raw);
	n = cpio_parse(raw.str, raw.len, e, 128);
	if (n < 0 || n > 128)
		goto out;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (!strcmp(e[i].name, e[j].name)) {
				test_diag("%s twice in the archive", e[i].name);
				goto out;
			}
	if (!(f = cpio_find(e, n, "init")) || !(f = cpio_find(e, n, "bin/busybox")) ||
	    !(f = cpio_find(e, n, "sbin/nestlab-agent")) || !(f = cpio_find(e, n, "usr/bin/app")) ||
	    f->mode != (S_IFREG | 0755) || f->size < 64 || memcmp(f->data, ELFMAG, SELFMAG) ||
	    !(f = cpio_find(e, n, "lib64/ld-linux-x86-64.so.2")) || !S_ISLNK(f->mode) ||
	    f->size != strlen("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") ||
	    !(f = cpio_find(e, n, "usr/lib/app/liba.so.1")) || !S_ISLNK(f->mode) ||
	    !cpio_find(e, n, "usr/lib/app/liba.so.1.0") || !cpio_find(e, n, "lib/x86_64-linux-gnu/libc.so.6") ||
	    !(f = cpio_find(e, n, "usr/lib/app")) || !S_ISDIR(f->mode) ||
	    !(f = cpio_find(e, n, "bin/helper")) || f->mode != (S_IFREG | 0644) ||
	    cpio_find(e, n, "usr/lib/x86_64-linux-gnu/liba.so.1") || cpio_find(e, n, "usr/bin/app2") ||
	    cpio_find(e, n, "usr/lib/x86_64-linux-gnu/unused.so.1")) {
		test_diag("unexpected dpdk L2 archive (%d entries)", n);
		for (int i = 0; i < n; i++)
			test_diag("  %s %o", e[i].name, e[i].mode);
		goto out;
	}
	/* a library the packages lack is named with what needs it */
	{
		cleanup_free char *include = xasprintf("%s/images/l2/dpdk/include", fx.dir);
		nl_error_t e2 = NULL;

		if (write_file(include, "/usr/bin/app2\n", 0644) < 0 || image_l2_dpdk_build(&fx.cfg, root, path, &e2) == 0)
			goto out;
		if (!strstr(e2->msg, "needs libmissing.so.9") || !strstr(e2->msg, "images/l2/dpdk/packages")) {
			test_diag("%s", e2->msg);
			nl_error_release(&e2);
			goto out;
		}
		nl_error_release(&e2);
	}
	ret = TEST_PASS;
out:
	fixture_release(&fx);
	return ret;
}

static int test_l1_info(void)
{
	cleanup_free char *d = tmp_dir("info");
	cleanup_free char *info_path = NULL, *img = NULL;
	cleanup_error nl_error_t err = NULL, err2 = NULL;
	struct image_l1_info info;

	CHECK(d);
	info_path = xasprintf("%s/l1.info", d);
	img = xasprintf("%s/l1.img", d);
	CHECK(write_file(info_path, "root=/dev/vda1\nkey=abc\nsource=/x.qcow2\n", 0644) == 0);
	CHECK(image_l1_info_read(img, &info, &err) == 0);
	CHECK_STR(info.root, "/dev/vda1");
	CHECK_STR(info.key, "abc");
	CHECK_STR(info.source, "/x.qcow2");
	image_l1_info_release(&info);
	CHECK(write_file(info_path, "key=abc\n", 0644) == 0);
	CHECK(image_l1_info_read(img, &info, &err2) < 0);
	CHECK_CONTAINS(err2->msg, "no root=");
	return TEST_PASS;
}

/* ---- libguestfs (one appliance boot) ------------------------------------------------------------ */

/* test_collect_logs() - logs come out of a bare ext4 disk made with mke2fs -d (no OS to inspect) */
static int test_collect_logs(void)
{
	cleanup_free char *d = tmp_dir("logs");
	cleanup_free char *root = NULL, *disk = NULL, *out = NULL, *log = NULL, *status = NULL, *got = NULL;
	cleanup_free char *got_status = NULL, *mkfs_out = NULL, *big_dir = NULL, *big = NULL, *got_note = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **mkfs = NULL;
	const char *quick = getenv("NESTLAB_QUICK");

	if (quick && *quick && strcmp(quick, "0"))
		return test_skip("NESTLAB_QUICK is set (this test boots the libguestfs appliance, ~30 s)");
	if (!have_program("mke2fs") || !have_program("qemu-system-x86_64"))
		return test_skip("mke2fs (e2fsprogs) or qemu-system-x86_64 is not installed");
	if (!have_program("ls /boot/vmlinuz-*"))
		return test_skip("no kernel in /boot for the libguestfs appliance (Debian: linux-image-amd64)");
	CHECK(d);
	/* a guest tree with what image_collect_logs() looks for, at the paths it uses */
	root = xasprintf("%s/root" IMAGE_GUEST_LOG_DIR, d);
	status = xasprintf("%s/root" IMAGE_GUEST_CLOUD_DATA, d);
	CHECK(fs_mkdir_p(root, &err) == 0 && fs_mkdir_p(status, &err) == 0);
	log = xasprintf("%s/cloud-init.log", root);
	CHECK(write_file(log, "cloud-init ran\n", 0644) == 0);
	free(status);
	status = xasprintf("%s/root" IMAGE_GUEST_CLOUD_DATA "/status.json", d);
	CHECK(write_file(status, "{\"v1\": {}}\n", 0644) == 0);
	/* a guest directory above the cap is not copied (a guest chooses what its disk holds) */
	big_dir = xasprintf("%s/root" IMAGE_GUEST_CLOUD_INSTANCES, d);
	CHECK(fs_mkdir_p(big_dir, &err) == 0);
	big = xasprintf("%s/big.bin", big_dir);
	{
		cleanup_file FILE *f = fopen(big, "we");
		static char chunk[1 << 20];

		memset(chunk, 'x', sizeof(chunk));
		CHECK(f);
		for (uint64_t done = 0; done <= IMAGE_COLLECT_DIR_MAX_BYTES; done += sizeof(chunk))
			CHECK(fwrite(chunk, 1, sizeof(chunk), f) == sizeof(chunk));
	}
	disk = xasprintf("%s/disk.img", d);
	strv_push(&mkfs, "mke2fs");
	strv_push(&mkfs, "-q");
	strv_push(&mkfs, "-t");
	strv_push(&mkfs, "ext4");
	strv_pushf(&mkfs, "-d%s/root", d);
	strv_push(&mkfs, disk);
	strv_push(&mkfs, "128M");
	CHECK(proc_run(mkfs, 30000, &mkfs_out, &err) == 0);
	if (image_collect_logs(disk, d, &err) < 0) {
		test_diag("%s", err->msg);
		return TEST_FAIL;
	}
	out = xasprintf("%s/l1-guest-logs/log/cloud-init.log", d);
	got = read_file_text(out);
	CHECK(got && !strcmp(got, "cloud-init ran\n"));
	free(out);
	out = xasprintf("%s/l1-guest-logs/cloud/data/status.json", d);
	got_status = read_file_text(out);
	CHECK(got_status && strstr(got_status, "v1"));
	free(out);
	out = xasprintf("%s/l1-guest-logs/cloud/instances/big.bin", d);
	CHECK(access(out, F_OK) < 0);
	free(out);
	out = xasprintf("%s/l1-guest-logs/cloud/NOT-COPIED.txt", d);
	got_note = read_file_text(out);
	CHECK(got_note && strstr(got_note, IMAGE_GUEST_CLOUD_INSTANCES " holds ") && strstr(got_note, "more than the 64 MiB"));
	return TEST_PASS;
}


/* ---- end to end: boot L1 from the cached image and wait for the agent (opt-in) ------------------ */

/*
 * boot_plan() - the plan of an emulated-e1000e scenario over the given image, kernel and QEMU, in the
 * environment the CLI sees otherwise (plan_env_init_default(): paths inside L1, firmware, KVM)
 */
static struct plan *boot_plan(const char *run_dir, const char *image, const char *root, const char *kernel,
			      const char *qemu)
{
	cleanup_error nl_error_t err = NULL;
	struct scenario scn = { 0 };
	struct plan *plan = NULL;
	struct plan_env env;

	plan_env_init_default(&env, run_dir);
	env.run_id = "boot";
	env.qemu_binary = qemu;
	env.l1_kernel = kernel;
	env.l1_image = image;
	env.l1_root = root;
	scn.path = (char *)"scenarios/image-boot.yaml";
	scn.name = (char *)"image-boot";
	scn.l0.mode = SCN_L0_EMULATED;
	scn.l0.backend = SCN_BACKEND_QEMU;
	scn.nic.model = SCN_NIC_E1000E;
	if (plan_resolve(&scn, &env, &plan, &err) < 0)
		test_diag("plan_resolve: %s", err->msg);
	plan_env_release(&env);
	return plan;
}

/* boot_sh() - run @cmd (sh -c, stderr into stdout) in L@level through the agent; its output, or NULL */
static char *boot_sh(struct agent_client *agent, int level, const char *cmd)
{
	cleanup_free char *script = xasprintf("exec 2>&1; %s", cmd);
	cleanup_error nl_error_t err = NULL;
	char *out = NULL;
	int status;

	if (agent_client_sh(agent, level, script, 30000, &out, &status, &err) < 0) {
		test_diag("%s", err->msg);
		return NULL;
	}
	return out;
}

/* boot_opt_in() - the end-to-end tests run only with NESTLAB_IMAGE_BOOT=1 */
static bool boot_opt_in(void)
{
	const char *opt = getenv("NESTLAB_IMAGE_BOOT");

	return opt && !strcmp(opt, "1");
}

/* boot_kernel() - NESTLAB_TEST_KERNEL, else <cache>/linux/current/bzImage (caller frees) */
static char *boot_kernel(const char *cache)
{
	const char *k = getenv("NESTLAB_TEST_KERNEL");

	return k ? xstrdup(k) : xasprintf("%s/linux/current/bzImage", cache);
}

/* boot_qemu() - NESTLAB_TEST_QEMU, else the host's qemu-system-x86_64 */
static const char *boot_qemu(void)
{
	const char *q = getenv("NESTLAB_TEST_QEMU");

	return q ? q : "qemu-system-x86_64";
}

/* l2_exec() - run a command in L2 through the relay and check its output */
static int l2_exec(struct agent_client *agent)
{
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;
	int status = -1;

	if (agent_client_sh(agent, 2, "uname -r; hostname; ls /bin/nestlab-vfio-nic /sbin/nestlab-agent; cat /proc/cmdline",
			    20000, &out, &status, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	test_diag("L2 EXEC (exit %d): %s", status, out);
	return status == 0 && strstr(out, "l2\n") ? 0 : -1;
}

/*
 * boot_l2() - from a booted L1: start L2's QEMU (the plan's argv, KVM when L1 has /dev/kvm) through
 * the agent, then reach L2's agent through the relay and wait for its READY. Returns 0 or -1.
 */
static int boot_l2(struct agent_client *agent, const struct plan *plan)
{
	cleanup_free char *kvm = boot_sh(agent, 1, "test -c /dev/kvm && echo kvm || echo tcg");
	cleanup_strv char **argv = NULL;
	cleanup_strbuf struct strbuf cmd = STRBUF_INIT;
	cleanup_free char *started = NULL, *log = NULL;
	cleanup_error nl_error_t err = NULL;
	struct agent_ready ready = { 0 };
	const char *accel = getenv("NESTLAB_TEST_L2_ACCEL");	/* kvm or tcg: override what L1 offers */
	bool use_kvm = accel ? !strcmp(accel, "kvm") : kvm && !strncmp(kvm, "kvm", 3);
	uint64_t t0;

	argv = plan_l2_qemu_argv(plan, use_kvm);
	strbuf_puts(&cmd, "setsid");
	for (size_t i = 0; argv[i]; i++) {
		cleanup_free char *q = plan_shell_quote(argv[i]);

		/* NESTLAB_TEST_L2_NOTRACE=1: without the plan's shadow trace events (a timing experiment) */
		if (getenv("NESTLAB_TEST_L2_NOTRACE") && argv[i + 1] &&
		    (!strcmp(argv[i], "-trace") || !strcmp(argv[i], "-msg"))) {
			i++;
			continue;
		}
		strbuf_printf(&cmd, " %s", q);
	}
	strbuf_puts(&cmd, " </dev/null >/run/nestlab/l2-qemu.out 2>&1 & echo started");
	t0 = now_ms();
	started = boot_sh(agent, 1, cmd.str);
	if (!started || !strstr(started, "started"))
		return -1;
	/* the L1 agent connects to L2's chardev socket lazily: HELLO is resent until L2 answers */
	if (agent_client_wait_ready(agent, 2, use_kvm ? 240000 : 600000, &ready, &err) == 0) {
		test_diag("L2 (%s in L1): READY %.1f s after its QEMU was started (level %s, guest uptime %.1f s)",
			  use_kvm ? "KVM" : "TCG", (now_ms() - t0) / 1000.0, ready.level, ready.uptime_ms / 1000.0);
		agent_client_ready_release(&ready);
		return l2_exec(agent);
	}
	log = boot_sh(agent, 1, "cat /run/nestlab/l2-qemu.out; tail -5 /run/nestlab/l2-qemu.log");
	test_diag("%s; L2 QEMU said: %s", err->msg, log ? log : "");
	return -1;
}

/*
 * boot_l1() - boot the L1 disk @image (root @root) as a run would: qcow2 overlay, NoCloud seed, the
 * plan's L0 QEMU command line, under TCG; wait for the agent's READY, check what cloud-init did
 * through an EXEC, and report QEMU start -> READY. @what names the test in diagnostics.
 */
static int boot_l1(const char *what, const char *image, const char *root, const char *kernel, const char *qemu,
		   bool with_l2)
{
	cleanup_free char *dir = tmp_dir("boot");
	cleanup_free char *seed = NULL, *exec_out = NULL, *stderr_path = NULL, *agent_log = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_proc struct proc p = PROC_INIT;
	cleanup_plan struct plan *plan = NULL;
	cleanup_agent_client struct agent_client *agent = NULL;
	struct agent_ready ready = { 0 };
	uint64_t t0;
	int ret = TEST_FAIL;

	CHECK(dir && image_file_exists(kernel));
	plan = boot_plan(dir, image, root, kernel, qemu);
	CHECK(plan && image_overlay_create(image, plan->l1_overlay, &err) == 0);
	CHECK(image_seed_write(dir, plan, NULL, &seed, &err) == 0);
	p.argv = plan_l0_qemu_argv(plan);
	stderr_path = xasprintf("%s/qemu.stderr", dir);
	agent_log = xasprintf("%s/agent.log", dir);
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io = (struct proc_io){ PROC_IO_FILE_TRUNC, stderr_path };
	p.stderr_io.mode = PROC_IO_STDOUT;
	test_diag("%s: run directory %s, kernel %s, QEMU %s, root %s", what, dir, kernel, qemu, root);
	t0 = now_ms();
	if (proc_start(&p, &err) < 0 ||
	    agent_client_connect(plan->l1_agent_sock, 10000, agent_log, &agent, &err) < 0) {
		test_diag("QEMU did not start: %s (see %s)", err->msg, stderr_path);
		goto out;
	}
	if (agent_client_wait_ready(agent, 1, 300000, &ready, &err) < 0) {
		test_diag("%s: see %s, %s and %s", err->msg, plan->l1_console_log, stderr_path, agent_log);
		goto out;
	}
	test_diag("%s: READY after %.1f s (level %s, hostname %s, guest uptime %.1f s)", what,
		  (now_ms() - t0) / 1000.0, ready.level, ready.hostname, ready.uptime_ms / 1000.0);
	/* cloud-init status says "running" in nestlab's image because the config and final stages never
	 * run (masked): final_message's boot-finished and the init stage's error list say it is done */
	exec_out = boot_sh(agent, 1, "cat /etc/nestlab/run.env; readlink /sys/bus/pci/devices/0000:00:02.0/driver;"
				       " test -e /var/lib/cloud/instance/boot-finished && echo boot-finished;"
				       " tr -d ' \\n' < /run/cloud-init/status.json; echo; systemctl --failed --plain --no-legend;"
				       " ls -l /usr/local/bin/qemu-system-x86_64 /boot/l2 /usr/share/seabios/bios-256k.bin;"
				       " systemd-analyze; systemd-analyze blame | head -8");
	if (!exec_out)
		goto out;
	test_diag("%s", exec_out);
	if (strcmp(ready.level, "l1") || strcmp(ready.hostname, "l1") ||
	    !strstr(exec_out, "NESTLAB_NIC_BDF=0000:00:02.0") || !strstr(exec_out, "drivers/vfio-pci") ||
	    !strstr(exec_out, "boot-finished") || !strstr(exec_out, "\"init\":{\"errors\":[]") ||
	    !strstr(exec_out, "minimal.cpio.gz")) {
		test_diag("%s: L1 is not as the seed asked", what);
		goto out;
	}
	if (with_l2 && boot_l2(agent, plan) < 0)
		goto out;
	ret = TEST_PASS;
out:
	agent_client_ready_release(&ready);
	return ret;
}

/*
 * test_l1_boot() - boot <cache>/images/current/l1.img under TCG and measure QEMU start -> agent READY.
 * Opt-in (NESTLAB_IMAGE_BOOT=1): it needs `nestlab images` and takes 20-60 s. NESTLAB_TEST_KERNEL and
 * NESTLAB_TEST_QEMU override the kernel and QEMU from the cache; NESTLAB_TEST_L2_ACCEL=kvm|tcg chooses
 * how L1 runs L2 (default: KVM when L1 has /dev/kvm).
 */
static int test_l1_boot(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *cache = fs_cache_dir(&err);
	cleanup_free char *current = NULL, *image = NULL, *kernel = NULL;
	struct image_l1_info info = { 0 };
	int ret;

	CHECK(cache);

	if (!boot_opt_in())
		return test_skip("end to end; set NESTLAB_IMAGE_BOOT=1 after 'nestlab images' (20-60 s under TCG)");
	current = xasprintf("%s/images/current/l1.img", cache);
	image = realpath(current, NULL);
	if (!image || image_l1_info_read(image, &info, &err) < 0)
		return test_skip("no image at %s: run 'nestlab images'", current);
	kernel = boot_kernel(cache);
	ret = boot_l1("nestlab L1", image, info.root, kernel, boot_qemu(), true);
	image_l1_info_release(&info);
	return ret;
}

/* cloud_rootfs() - mmdebstrap a genericcloud-like rootfs once into @tar (cached by the package list) */
static int cloud_rootfs(const char *tar)
{
	cleanup_strv char **argv = NULL;
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;

	if (image_file_exists(tar))
		return 0;
	strv_push(&argv, "mmdebstrap");
	strv_push(&argv, "--variant=minbase");
	strv_push(&argv, "--format=tar");
	strv_push(&argv, "--aptopt=APT::Install-Recommends \"false\"");
	strv_push(&argv, "--include=systemd,systemd-sysv,udev,dbus,cloud-init,ifupdown,openssh-server,sudo");
	strv_push(&argv, "bookworm");
	strv_push(&argv, tar);
	strv_push(&argv, "http://deb.debian.org/debian");
	if (proc_run(argv, 30 * 60 * 1000, &out, &err) < 0) {
		test_diag("%s\n%s", err->msg, out);
		unlink(tar);
		return -1;
	}
	return 0;
}

/*
 * test_cloud_l1_boot() - the l1.image path end to end: a cloud-style qcow2 built from Debian packages
 * (GPT, ext4 root by PARTUUID, systemd, stock cloud-init with all four stages, no nestlab files),
 * turned into an L1 by image_l1_from_cloud(), booted with nestlab's kernel to agent READY. Opt-in
 * like test_l1_boot; the first run also runs mmdebstrap and two libguestfs appliances (~5 min).
 */
static int test_cloud_l1_boot(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *cache = fs_cache_dir(&err);
	cleanup_free char *dir = NULL, *tar = NULL, *qcow2 = NULL, *kernel = NULL;
	struct image_config_opts opts = { 0 };
	struct image_config cfg = { 0 };
	struct image_ctx ctx = { .progress = true };
	struct image_result res = { 0 };
	int ret = TEST_FAIL;

	if (!boot_opt_in())
		return test_skip("end to end; set NESTLAB_IMAGE_BOOT=1 (mmdebstrap, libguestfs and a boot, ~5 min)");
	CHECK(cache);
	kernel = boot_kernel(cache);
	dir = xasprintf("%s/images/test-cloud", cache);
	tar = xasprintf("%s/genericcloud-like.tar", dir);
	qcow2 = xasprintf("%s/genericcloud-like.qcow2", dir);
	CHECK(fs_mkdir_p(dir, &err) == 0 && cloud_rootfs(tar) == 0);
	if (!image_file_exists(qcow2) && image_testing_cloud_image(tar, qcow2, &err) < 0) {
		test_diag("%s", err->msg);
		unlink(qcow2);
		return TEST_FAIL;
	}
	opts.kernel = kernel;
	opts.qemu = getenv("NESTLAB_TEST_L1_QEMU");
	if (image_config_init_default(&cfg, &opts, &err) < 0 || image_ctx_open(&ctx, &cfg, &err) < 0 ||
	    image_l1_from_cloud(&cfg, &ctx, qcow2, &res, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	CHECK_STR(res.l1_root, "/dev/vda1");
	ret = boot_l1("cloud-style L1", res.l1_image, res.l1_root, kernel, boot_qemu(), false);
out:
	image_result_release(&res);
	image_ctx_close(&ctx);
	image_config_release(&cfg);
	return ret;
}

/*
 * test_images_lock_interruptible() - while another nestlab holds <cache>/images/.lock, image_build()
 * waits for it, but a Ctrl-C (SIGINT blocked by the supervisor loop, pending) or the process deadline
 * ends the wait with EINTR instead of blocking in flock() for good. alarm() ends the test binary (a
 * failure) if the wait does not end.
 */
static int test_images_lock_interruptible(void)
{
	cleanup_free char *dir = tmp_dir("lock");
	cleanup_free char *images = xasprintf("%s/images", dir);
	cleanup_free char *lock_path = xasprintf("%s/.lock", images);
	cleanup_error nl_error_t err = NULL;
	cleanup_close int held = -1;
	struct image_config cfg = { .cache_dir = dir };
	struct image_ctx ctx = { 0 };
	struct image_result res = { 0 };
	sigset_t block, old;

	CHECK(fs_mkdir_p(images, &err) == 0);
	held = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(held >= 0 && flock(held, LOCK_EX) == 0);	/* "another nestlab" (a second open file description) */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	alarm(60);
	CHECK(raise(SIGINT) == 0);
	CHECK(image_build(&cfg, &ctx, &res, &err) == -1);
	CHECK(err->errnum == EINTR);
	CHECK_CONTAINS(err->msg, lock_path);
	CHECK_CONTAINS(err->msg, "interrupted");
	nl_error_release(&err);
	{
		struct timespec zero = { 0, 0 };

		CHECK(sigtimedwait(&block, NULL, &zero) == SIGINT);	/* left pending for the caller's loop */
	}
	loop_deadline_set(now_ms() + 200, "timeouts.build (0 s)");
	CHECK(image_build(&cfg, &ctx, &res, &err) == -1);
	loop_deadline_set(0, NULL);
	alarm(0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	CHECK(err->errnum == EINTR);
	CHECK_CONTAINS(err->msg, "timeouts.build (0 s) expired");
	image_result_release(&res);
	return TEST_PASS;
}

/* ---- a full cache ------------------------------------------------------------------------------ */

/* count_files() - regular files under @dir (recursively), their names appended to @names */
static unsigned count_files(const char *dir, struct strbuf *names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d))) {
		cleanup_free char *path = NULL;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			n += count_files(path, names);
		} else {
			strbuf_printf(names, " %s", path);
			n++;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * test_full_disk_images() - `nestlab images` with a cache too small for the L2 initramfs (a 1 MiB tmpfs;
 * the L2 step is the first that writes, a couple of MiB): exit status 4, an error that says what
 * filled up and what to do, no half-written initramfs, no temporary, no `current`
 */
static int test_full_disk_images(void)
{
	cleanup_free char *dir = NULL, *cache = NULL, *kernel = NULL, *err_path = NULL, *stderr_text = NULL;
	cleanup_free char *l2 = NULL, *current = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_strbuf struct strbuf left = STRBUF_INIT;
	cleanup_proc struct proc p = PROC_INIT;
	const char *bin = getenv("NESTLAB_BIN");
	struct stat st;
	unsigned files;
	int status = -1, ret = TEST_FAIL;

	if (geteuid() != 0)
		return test_skip("needs root to mount a small tmpfs as the cache");
	dir = tmp_dir("full");
	CHECK(dir != NULL);
	cache = xasprintf("%s/cache", dir);
	kernel = xasprintf("%s/vmlinuz", dir);	/* only hashed into the L1 key: L1 is never reached */
	err_path = xasprintf("%s/stderr", dir);
	CHECK(mkdir(cache, 0755) == 0);
	CHECK(write_file(kernel, "not a kernel\n", 0644) == 0);
	if (mount("nestlab-test", cache, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0) {
		test_diag("mount tmpfs on %s: %s", cache, strerror(errno));
		return TEST_FAIL;
	}
	strv_push(&p.argv, bin ? bin : "build/nestlab");
	strv_push(&p.argv, "images");
	strv_push(&p.argv, "--kernel");
	strv_push(&p.argv, kernel);
	strv_pushf(&p.env, "NESTLAB_CACHE=%s", cache);
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io.mode = PROC_IO_NULL;
	p.stderr_io = (struct proc_io){ PROC_IO_FILE_TRUNC, err_path };
	if (proc_start(&p, &err) == 0) {
		proc_wait(&p, 120000, &err);	/* fails: the status says how */
		status = p.term_signal ? 128 + p.term_signal : p.exit_status;
	}
	stderr_text = read_file_text(err_path);
	test_diag("exit status %d; stderr:", status);
	test_diag_run(stderr_text, NULL);
	l2 = xasprintf("%s/images/l2", cache);
	current = xasprintf("%s/images/current", cache);
	files = count_files(l2, &left);
	test_diag("files under images/l2:%s", left.str ? left.str : " none");
	if (status == 4 && stderr_text && strstr(stderr_text, "L2 initramfs") &&
	    strstr(stderr_text, "No space left on device") &&
	    strstr(stderr_text, "ran out of room for the images: free space there, or point NESTLAB_CACHE at a file "
				"system with more room") &&
	    files == 0 && lstat(current, &st) < 0)
		ret = TEST_PASS;
	umount2(cache, MNT_DETACH);
	return ret;
}

/* rootfs_filler() - a rootfs tarball in @dir: etc/ and @mib MiB of zeros, what fills a small cache */
static char *rootfs_filler(const char *dir, unsigned mib)
{
	cleanup_free char *tree = xasprintf("%s/rootfs", dir);
	cleanup_free char *etc = xasprintf("%s/etc", tree);
	cleanup_free char *fill = xasprintf("%s/fill", tree);
	cleanup_free char *size = xasprintf("%uM", mib);
	cleanup_free char *out = NULL;
	cleanup_error nl_error_t err = NULL;
	char *tar = xasprintf("%s/rootfs.tar", dir);
	char *truncate_argv[] = { (char *)"truncate", (char *)"-s", size, fill, NULL };
	char *tar_argv[] = { (char *)"tar", (char *)"-cf", tar, (char *)"-C", tree, (char *)".", NULL };

	if (mkdir(tree, 0755) < 0 || mkdir(etc, 0755) < 0 || proc_run(truncate_argv, 30000, &out, &err) < 0) {
		free(tar);
		return NULL;
	}
	free(out);
	out = NULL;
	if (proc_run(tar_argv, 120000, &out, &err) < 0) {
		test_diag("%s", err->msg);
		free(tar);
		return NULL;
	}
	return tar;
}

/*
 * seed_cache() - the rootfs tarball and placeholder L2 archives under their keys in cfg->cache_dir, so
 * that image_build() goes straight to composing L1 (which only carries the archives)
 */
static int seed_cache(const struct image_config *cfg, const char *tar)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *rootfs_dir = xasprintf("%s/images/rootfs", cfg->cache_dir);
	cleanup_free char *rootfs = NULL, *l2 = NULL, *dpdk = NULL, *l2_file = NULL, *dpdk_file = NULL;
	struct image_keys keys;

	if (image_keys_compute(cfg, &keys, &err) < 0) {
		test_diag("%s", err->msg);
		return -1;
	}
	rootfs = xasprintf("%s/%s.tar", rootfs_dir, keys.rootfs);
	l2 = xasprintf("%s/images/l2/%s", cfg->cache_dir, keys.l2);
	dpdk = xasprintf("%s/images/l2/%s", cfg->cache_dir, keys.l2_dpdk);
	l2_file = xasprintf("%s/minimal.cpio.gz", l2);
	dpdk_file = xasprintf("%s/dpdk.cpio.gz", dpdk);
	image_keys_release(&keys);
	if (fs_mkdir_p(rootfs_dir, &err) < 0 || fs_mkdir_p(l2, &err) < 0 || fs_mkdir_p(dpdk, &err) < 0 ||
	    symlink(tar, rootfs) < 0 || write_file(l2_file, "placeholder\n", 0644) < 0 ||
	    write_file(dpdk_file, "placeholder\n", 0644) < 0)
		return -1;
	return 0;
}

/* build_images_in() - image_build() with the cache at @cache and a placeholder kernel; 0 or -1 */
static int build_images_in(const char *cache, const char *tar, const char *kernel, struct image_result *res,
			   nl_error_t *err)
{
	struct image_config_opts opts = { .kernel = kernel, .agent = "build/nestlab-agent" };
	struct image_config cfg;
	struct image_ctx ctx = { 0 };
	int ret = -1;

	setenv("NESTLAB_CACHE", cache, 1);	/* read by image_config_init_default(); restored by the caller */
	if (image_config_init_default(&cfg, &opts, err) < 0)
		goto out;
	if (seed_cache(&cfg, tar) < 0) {
		nl_error(err, errno, "seed %s", cache);
		goto out;
	}
	if (image_ctx_open(&ctx, &cfg, err) < 0)
		goto out;
	ret = image_build(&cfg, &ctx, res, err);
	image_ctx_close(&ctx);
out:
	image_config_release(&cfg);
	return ret;
}

/*
 * test_full_disk_l1() - L1 composed into a 64 MiB cache by a rootfs of 100 MiB. With QEMU's default
 * werror=enospc the appliance is paused at the first failed write and libguestfs waits forever; it must
 * fail instead, with the full disk explained, leave no l1/<key>, no staging and no `current`, and give the space
 * back; the same build into a cache with room then works.
 */
static int test_full_disk_l1(void)
{
	const char *saved = getenv("NESTLAB_CACHE");
	cleanup_free char *saved_copy = saved ? xstrdup(saved) : NULL;
	cleanup_free char *dir = NULL, *tar = NULL, *full = NULL, *good = NULL, *kernel = NULL;
	cleanup_free char *l1_dir = NULL, *current = NULL, *good_current = NULL;
	cleanup_strbuf struct strbuf left = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	struct image_result res = { 0 };
	struct statvfs vfs;
	struct stat st;
	int ret = TEST_FAIL;

	if (getenv("NESTLAB_QUICK"))
		return test_skip("NESTLAB_QUICK is set (this test boots the libguestfs appliance twice, ~2 min)");
	if (geteuid() != 0)
		return test_skip("needs root to mount a 64 MiB tmpfs as the cache");
	dir = tmp_dir("full-l1");
	CHECK(dir != NULL);
	tar = rootfs_filler(dir, 100);
	CHECK(tar != NULL);
	full = xasprintf("%s/full", dir);
	good = xasprintf("%s/good", dir);
	kernel = xasprintf("%s/vmlinuz", dir);	/* carried into L1 as a file, never booted here */
	CHECK(write_file(kernel, "not a kernel\n", 0644) == 0);
	CHECK(mkdir(full, 0755) == 0 && mkdir(good, 0755) == 0);
	if (mount("nestlab-test", full, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755") < 0) {
		test_diag("mount tmpfs on %s: %s", full, strerror(errno));
		return TEST_FAIL;
	}
	alarm(900);	/* a paused appliance would wait forever: SIGALRM ends the test binary, a failure */
	if (build_images_in(full, tar, kernel, &res, &err) == 0) {
		test_diag("100 MiB of rootfs fit into 64 MiB");
		goto out;
	}
	test_diag("%s", err->msg);
	image_result_release(&res);
	l1_dir = xasprintf("%s/images/l1", full);
	current = xasprintf("%s/images/current", full);
	test_diag("files left under images/l1: %u%s", count_files(l1_dir, &left), left.str ? left.str : "");
	if (err->errnum != ENOSPC ||
	    !strstr(err->msg, "ran out of room for the images: free space there, or point NESTLAB_CACHE at") ||
	    left.len || lstat(current, &st) == 0 || statvfs(full, &vfs) < 0 ||
	    (unsigned long long)vfs.f_bavail * vfs.f_frsize < (60ULL << 20))
		goto out;
	/* the next run on a cache with room works */
	nl_error_release(&err);
	if (build_images_in(good, tar, kernel, &res, &err) < 0) {
		test_diag("%s", err->msg);
		goto out;
	}
	good_current = xasprintf("%s/images/current/l1.img", good);
	if (!res.l1_built || !image_file_exists(good_current))
		goto out;
	ret = TEST_PASS;
out:
	alarm(0);
	image_result_release(&res);
	umount2(full, MNT_DETACH);
	if (ret == TEST_PASS) {	/* 300 MiB: the rootfs tarball and the good cache's L1 (kept on a failure) */
		nl_error_release(&err);
		fs_remove_tree(dir, &err);
	}
	if (saved_copy)
		setenv("NESTLAB_CACHE", saved_copy, 1);
	else
		unsetenv("NESTLAB_CACHE");
	return ret;
}

static const struct test_case tests[] = {
	TEST_CASE(test_images_lock_interruptible),
	TEST_CASE(test_cpio_roundtrip), TEST_CASE(test_cpio_bad_names),
	TEST_CASE(test_cpio_gnu),	TEST_CASE(test_gzip),		TEST_CASE(test_fat_layout),
	TEST_CASE(test_fat_limits),	TEST_CASE(test_seed_format),	TEST_CASE(test_seed_no_assign),
	TEST_CASE(test_seed_write),	TEST_CASE(test_seed_fsck),	TEST_CASE(test_keys_sensitivity),
	TEST_CASE(test_tree_walk),	TEST_CASE(test_l2_initramfs),	TEST_CASE(test_closure_elf_parse),
	TEST_CASE(test_closure_compute), TEST_CASE(test_l2_dpdk_initramfs),	TEST_CASE(test_l1_info),
	TEST_CASE(test_collect_logs),	TEST_CASE(test_l1_boot),		TEST_CASE(test_cloud_l1_boot),
	TEST_CASE(test_full_disk_images),	TEST_CASE(test_full_disk_l1),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
