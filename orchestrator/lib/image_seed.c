/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * image_seed.c - the per-run NoCloud seed of L1: three texts and the small vfat disk that carries them
 *
 * cloud-init's NoCloud datasource (cloud-init docs, reference/datasources/nocloud.rst) reads a file
 * system labelled "cidata" or "CIDATA" of type vfat or iso9660 holding the files
 *   meta-data       instance-id (a new id makes cloud-init treat the boot as a new instance, so every
 *                   run's user-data is applied), local-hostname
 *   user-data       here a "#cloud-config" document: write_files, runcmd, final_message, and
 *                   growpart/resize_rootfs/locale off for cloud images that run those modules
 *   network-config  here "config: disabled" (reference/network-config.rst, "Disabling network
 *                   configuration"); the images also carry network: {config: disabled} as system config
 * The seed is written fresh for every run, attached read-only as L1's second virtio disk (/dev/vdb).
 *
 * The disk is a 1 MiB FAT12 file system written here (no mkfs.vfat, no libguestfs appliance per run),
 * after Microsoft's "FAT: General Overview of On-Disk Format" (BPB, FAT12 packing, directory entries,
 * long-name entries and their checksum). One sector per cluster, two FATs, 64 root entries.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "plan.h"

#define FAT_SECTOR_BYTES 512
#define FAT_TOTAL_SECTORS (IMAGE_SEED_BYTES / FAT_SECTOR_BYTES)
#define FAT_RESERVED_SECTORS 1
#define FAT_COUNT 2
#define FAT_ROOT_ENTRIES 64
#define FAT_ROOT_SECTORS (FAT_ROOT_ENTRIES * 32 / FAT_SECTOR_BYTES)
#define FAT_SECTORS_PER_FAT 6	/* 2048 FAT12 entries * 1.5 bytes = 3072 bytes */
#define FAT_FIRST_DATA_SECTOR (FAT_RESERVED_SECTORS + FAT_COUNT * FAT_SECTORS_PER_FAT + FAT_ROOT_SECTORS)
#define FAT_CLUSTERS (FAT_TOTAL_SECTORS - FAT_FIRST_DATA_SECTOR)
#define FAT_MAX_FILES 16
#define FAT_LFN_CHARS 13
#define FAT_ATTR_ARCHIVE 0x20
#define FAT_ATTR_VOLUME_ID 0x08
#define FAT_ATTR_LFN 0x0f
/* 2025-01-01 00:00: every seed carries the same timestamps (the content is what differs) */
#define FAT_DATE (((2025 - 1980) << 9) | (1 << 5) | 1)

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

/* fat12_set() - entry @cluster of a FAT12 table: 12 bits, two entries in three bytes */
static void fat12_set(uint8_t *fat, unsigned cluster, unsigned value)
{
	uint8_t *p = fat + cluster + cluster / 2;

	if (cluster & 1) {
		p[0] = (uint8_t)((p[0] & 0x0f) | ((value << 4) & 0xf0));
		p[1] = (uint8_t)(value >> 4);
	} else {
		p[0] = (uint8_t)value;
		p[1] = (uint8_t)((p[1] & 0xf0) | ((value >> 8) & 0x0f));
	}
}

/* boot_sector() - jump, OEM name, BPB (FAT12/16 layout) and the 0x55AA signature */
static void boot_sector(uint8_t *s, const char *label, uint32_t volume_id)
{
	static const uint8_t jump[3] = { 0xeb, 0x3c, 0x90 };
	char vol_label[11];

	memset(vol_label, ' ', sizeof(vol_label));
	memcpy(vol_label, label, strlen(label));
	memcpy(s, jump, sizeof(jump));
	memcpy(s + 3, "NESTLAB ", 8);
	put16(s + 11, FAT_SECTOR_BYTES);	/* BPB_BytsPerSec */
	s[13] = 1;				/* BPB_SecPerClus */
	put16(s + 14, FAT_RESERVED_SECTORS);	/* BPB_RsvdSecCnt */
	s[16] = FAT_COUNT;			/* BPB_NumFATs */
	put16(s + 17, FAT_ROOT_ENTRIES);	/* BPB_RootEntCnt */
	put16(s + 19, FAT_TOTAL_SECTORS);	/* BPB_TotSec16 */
	s[21] = 0xf8;				/* BPB_Media: fixed disk */
	put16(s + 22, FAT_SECTORS_PER_FAT);	/* BPB_FATSz16 */
	put16(s + 24, 32);			/* BPB_SecPerTrk */
	put16(s + 26, 64);			/* BPB_NumHeads */
	s[36] = 0x80;				/* BS_DrvNum */
	s[38] = 0x29;				/* BS_BootSig: the next three fields are present */
	put32(s + 39, volume_id);		/* BS_VolID */
	memcpy(s + 43, vol_label, 11);		/* BS_VolLab */
	memcpy(s + 54, "FAT12   ", 8);		/* BS_FilSysType */
	s[510] = 0x55;
	s[511] = 0xaa;
}

/* short_name() - the 8.3 alias "NAME~N" of a long name (valid characters, upper case) */
static void short_name(const char *name, unsigned n, uint8_t out[11])
{
	size_t len = 0;

	memset(out, ' ', 11);
	for (const char *p = name; *p && len < 6; p++) {
		char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;

		if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
			out[len++] = (uint8_t)c;
	}
	if (!len)
		out[len++] = '_';
	out[len++] = '~';
	out[len] = (uint8_t)('0' + n);
}

/* lfn_checksum() - checksum of the 8.3 name that every long-name entry of a file carries */
static uint8_t lfn_checksum(const uint8_t name[11])
{
	uint8_t sum = 0;

	for (int i = 0; i < 11; i++)
		sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + name[i]);
	return sum;
}

/* lfn_char() - UCS-2 character @i of a long name: the name, one NUL, then 0xFFFF padding */
static unsigned lfn_char(const char *name, size_t len, size_t i)
{
	if (i < len)
		return (unsigned char)name[i];
	return i == len ? 0 : 0xffff;
}

/**
 * dir_entries() - the long-name entries and the 8.3 entry of one file, at @dir
 * @dir:	where to write (32 bytes per entry)
 * @name:	long name
 * @alias:	8.3 name
 * @cluster:	first cluster (0 for an empty file)
 * @size:	bytes
 *
 * Return: number of entries written.
 */
static size_t dir_entries(uint8_t *dir, const char *name, const uint8_t alias[11], unsigned cluster,
			  uint32_t size)
{
	static const int offsets[FAT_LFN_CHARS] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
	size_t len = strlen(name), n_lfn = (len + FAT_LFN_CHARS - 1) / FAT_LFN_CHARS;
	uint8_t sum = lfn_checksum(alias);

	for (size_t k = 0; k < n_lfn; k++) {
		uint8_t *e = dir + 32 * k;
		size_t ord = n_lfn - k;		/* entries are stored last piece first */

		e[0] = (uint8_t)(ord | (k == 0 ? 0x40 : 0));
		e[11] = FAT_ATTR_LFN;
		e[13] = sum;
		for (int i = 0; i < FAT_LFN_CHARS; i++)
			put16(e + offsets[i], lfn_char(name, len, (ord - 1) * FAT_LFN_CHARS + (size_t)i));
	}
	dir += 32 * n_lfn;
	memcpy(dir, alias, 11);
	dir[11] = FAT_ATTR_ARCHIVE;
	put16(dir + 16, FAT_DATE);	/* DIR_CrtDate */
	put16(dir + 18, FAT_DATE);	/* DIR_LstAccDate */
	put16(dir + 24, FAT_DATE);	/* DIR_WrtDate */
	put16(dir + 26, cluster);	/* DIR_FstClusLO */
	put32(dir + 28, size);		/* DIR_FileSize */
	return n_lfn + 1;
}

/* check_fat_files() - names are printable ASCII without '/' and the files fit the image */
static int check_fat_files(const char *label, const struct image_fat_file *files, size_t n_files, nl_error_t *err)
{
	size_t entries = 1, clusters = 0;

	if (strlen(label) > 11)
		return nl_error(err, EINVAL, "FAT label '%s' is longer than 11 characters", label);
	if (n_files > FAT_MAX_FILES)
		return nl_error(err, EINVAL, "%zu files: a seed image holds at most %d", n_files, FAT_MAX_FILES);
	for (size_t i = 0; i < n_files; i++) {
		size_t len = strlen(files[i].name);

		if (!len || len > 255)
			return nl_error(err, EINVAL, "FAT file name '%s': 1 to 255 characters", files[i].name);
		for (const char *p = files[i].name; *p; p++)
			if (*p < 0x20 || *p > 0x7e || strchr("/\\:*?\"<>|", *p))
				return nl_error(err, EINVAL, "FAT file name '%s': character not allowed",
						files[i].name);
		entries += 1 + (len + FAT_LFN_CHARS - 1) / FAT_LFN_CHARS;
		clusters += (files[i].len + FAT_SECTOR_BYTES - 1) / FAT_SECTOR_BYTES;
	}
	if (entries > FAT_ROOT_ENTRIES)
		return nl_error(err, EINVAL, "seed file names need %zu directory entries, more than %d", entries,
				FAT_ROOT_ENTRIES);
	if (clusters > FAT_CLUSTERS)
		return nl_error(err, EFBIG, "seed files need %zu KiB, more than the %d KiB of the seed image",
				clusters / 2, FAT_CLUSTERS / 2);
	return 0;
}

int image_fat_build(const char *label, uint32_t volume_id, const struct image_fat_file *files, size_t n_files,
		    struct strbuf *out, nl_error_t *err)
{
	uint8_t *img, *fat, *root;
	size_t dir_used = 1;
	unsigned next_cluster = 2;

	if (check_fat_files(label, files, n_files, err) < 0)
		return -1;
	img = xzalloc(IMAGE_SEED_BYTES);
	fat = img + FAT_RESERVED_SECTORS * FAT_SECTOR_BYTES;
	root = img + (FAT_RESERVED_SECTORS + FAT_COUNT * FAT_SECTORS_PER_FAT) * FAT_SECTOR_BYTES;
	boot_sector(img, label, volume_id);
	fat12_set(fat, 0, 0xff8);	/* media byte in entry 0 */
	fat12_set(fat, 1, 0xfff);	/* end-of-chain marker in entry 1 */
	memset(root, ' ', 11);		/* volume label entry: blkid reads the label from here first */
	memcpy(root, label, strlen(label));
	root[11] = FAT_ATTR_VOLUME_ID;
	for (size_t i = 0; i < n_files; i++) {
		unsigned n_clusters = (unsigned)((files[i].len + FAT_SECTOR_BYTES - 1) / FAT_SECTOR_BYTES);
		unsigned first = n_clusters ? next_cluster : 0;
		uint8_t alias[11];

		short_name(files[i].name, (unsigned)(i % 9) + 1, alias);
		if (i >= 9)	/* aliases only need to be unique: the 7th character takes the tens */
			alias[5] = (uint8_t)('0' + (i + 1) / 10);
		for (unsigned c = 0; c < n_clusters; c++)
			fat12_set(fat, next_cluster + c, c + 1 < n_clusters ? next_cluster + c + 1 : 0xfff);
		if (files[i].len)
			memcpy(img + (FAT_FIRST_DATA_SECTOR + next_cluster - 2) * FAT_SECTOR_BYTES, files[i].data,
			       files[i].len);
		dir_used += dir_entries(root + 32 * dir_used, files[i].name, alias, first, (uint32_t)files[i].len);
		next_cluster += n_clusters;
	}
	memcpy(fat + FAT_SECTORS_PER_FAT * FAT_SECTOR_BYTES, fat, FAT_SECTORS_PER_FAT * FAT_SECTOR_BYTES);
	strbuf_add(out, (const char *)img, IMAGE_SEED_BYTES);
	free(img);
	return 0;
}

/* yaml_quote() - a YAML single-quoted scalar ('' stands for ') */
static void yaml_quote(struct strbuf *sb, const char *s)
{
	strbuf_puts(sb, "'");
	for (; *s; s++) {
		if (*s == '\'')
			strbuf_puts(sb, "''");
		else
			strbuf_add(sb, s, 1);
	}
	strbuf_puts(sb, "'");
}

/* printable() - @s with control characters as '?': a newline would end a YAML line or block */
static char *printable(const char *s)
{
	char *copy = xstrdup(s);

	for (char *p = copy; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return copy;
}

/* user_data_files() - write_files (cc_write_files): the run's settings for scripts and the agent */
static void user_data_files(struct strbuf *sb, const struct plan *plan, const struct image_seed_opts *opts)
{
	const char *agent_args = opts && opts->agent_args ? opts->agent_args : "--watch kmsg=/dev/kmsg";
	cleanup_free char *q_args = plan_shell_quote(agent_args);
	cleanup_free char *name = printable(plan->name);
	cleanup_free char *q_name = plan_shell_quote(name);
	cleanup_free char *q_domain = plan_shell_quote(plan->domain_name);

	strbuf_puts(sb, "# write_files: path, permissions, content (module cc_write_files)\n"
			"write_files:\n"
			"  - path: " IMAGE_L1_RUN_ENV "\n"
			"    permissions: '0644'\n"
			"    content: |\n");
	strbuf_printf(sb, "      NESTLAB_SCENARIO=%s\n", q_name);
	strbuf_printf(sb, "      NESTLAB_RUN=%s\n", q_domain);
	strbuf_printf(sb, "      NESTLAB_NIC_BDF=%s\n", plan->nic.l1_bdf);
	strbuf_printf(sb, "      NESTLAB_L2_ASSIGN=%s\n", plan->nic.l2_assign == SCN_ASSIGN_NONE ? "none" : "vfio-pci");
	strbuf_printf(sb, "      NESTLAB_L2_AGENT_SOCK=%s\n", plan->l2_agent_sock);
	strbuf_puts(sb, "  - path: " IMAGE_L1_AGENT_ENV "\n"
			"    permissions: '0644'\n"
			"    content: |\n");
	strbuf_printf(sb, "      NESTLAB_AGENT_RELAY=%s\n", plan->l2_agent_sock);
	strbuf_printf(sb, "      NESTLAB_AGENT_ARGS=%s\n", q_args);
}

/* user_data() - the #cloud-config document: write_files, runcmd (cc_runcmd via cc_scripts_user) */
static char *user_data(const struct plan *plan, const struct image_seed_opts *opts)
{
	cleanup_free char *name = printable(plan->name);
	struct strbuf sb = STRBUF_INIT;

	strbuf_puts(&sb, "#cloud-config\n");
	strbuf_printf(&sb, "# nestlab run %s (scenario %s): NoCloud user-data written by nestlab\n",
		      plan->domain_name, name);
	user_data_files(&sb, plan, opts);
	strbuf_puts(&sb, "# runcmd: commands run once per instance by scripts_user (module cc_runcmd)\n"
			"runcmd:\n");
	if (plan->nic.l2_assign != SCN_ASSIGN_NONE) {
		strbuf_puts(&sb, "  - [" IMAGE_L1_VFIO_BIND ", ");
		yaml_quote(&sb, plan->nic.l1_bdf);
		strbuf_puts(&sb, "]\n");
	}
	/* the unit is ordered after cloud-init; --no-block: queue it, do not wait for ourselves */
	strbuf_puts(&sb, "  - [systemctl, --no-block, restart, nestlab-agent.service]\n"
			"# final_message: printed on the console when cloud-init is done (cc_final_message)\n"
			"final_message: 'NESTLAB-L1-CLOUD-INIT-DONE uptime $UPTIME'\n"
			"# for cloud images (l1.image) whose module lists have them: the root stays as it is\n"
			"# (every run boots a throwaway overlay) and no locale is generated (cc_growpart mode,\n"
			"# cc_resizefs resize_rootfs, cc_locale locale)\n"
			"growpart: {mode: 'off'}\n"
			"resize_rootfs: false\n"
			"locale: false\n");
	return strbuf_detach(&sb);
}

void image_seed_format(const struct plan *plan, const struct image_seed_opts *opts, struct image_seed *seed)
{
	struct strbuf md = STRBUF_INIT;

	strbuf_puts(&md, "# NoCloud meta-data: a new instance-id per run makes cloud-init apply user-data again\n"
			 "instance-id: ");
	yaml_quote(&md, plan->domain_name);
	strbuf_puts(&md, "\nlocal-hostname: l1\n");
	seed->meta_data = strbuf_detach(&md);
	seed->user_data = user_data(plan, opts);
	seed->network_config = xstrdup("# NoCloud network-config: L1 configures no interface (its NIC goes to "
				       "vfio-pci or to the scenario)\nconfig: disabled\n");
}

void image_seed_release(struct image_seed *seed)
{
	free(seed->meta_data);
	free(seed->user_data);
	free(seed->network_config);
	*seed = (struct image_seed){ 0 };
}

/* write_bytes() - create @path with @len bytes of @data; returns 0 or -1 with @err set */
static int write_bytes(const char *path, const void *data, size_t len, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	if (fd < 0)
		return nl_error(err, errno, "create %s", path);
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "write %s", path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int image_seed_write(const char *run_dir, const struct plan *plan, const struct image_seed_opts *opts,
		     char **seed_path, nl_error_t *err)
{
	cleanup_free char *dir = xasprintf("%s/l1-seed", run_dir);
	cleanup_free char *img_path = xasprintf("%s/l1-seed.img", run_dir);
	cleanup_strbuf struct strbuf img = STRBUF_INIT;
	struct image_seed seed = { 0 };
	struct sha256 h;
	uint8_t id[SHA256_BYTES];
	int ret = -1;

	image_seed_format(plan, opts, &seed);
	{
		const struct image_fat_file files[] = {
			{ "meta-data", seed.meta_data, strlen(seed.meta_data) },
			{ "user-data", seed.user_data, strlen(seed.user_data) },
			{ "network-config", seed.network_config, strlen(seed.network_config) },
		};

		sha256_init(&h);
		sha256_update_str(&h, plan->domain_name);
		sha256_final(&h, id);
		if (image_fat_build(IMAGE_SEED_LABEL, (uint32_t)id[0] << 24 | id[1] << 16 | id[2] << 8 | id[3],
				    files, ARRAY_SIZE(files), &img, err) < 0)
			goto out;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			nl_error(err, errno, "create %s", dir);
			goto out;
		}
		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			cleanup_free char *path = xasprintf("%s/%s", dir, files[i].name);

			if (write_bytes(path, files[i].data, files[i].len, err) < 0)
				goto out;
		}
	}
	if (write_bytes(img_path, img.str, img.len, err) < 0)
		goto out;
	*seed_path = img_path;
	img_path = NULL;
	ret = 0;
out:
	image_seed_release(&seed);
	if (ret < 0)
		nl_error_wrap(err, "NoCloud seed for L1");
	return ret;
}
