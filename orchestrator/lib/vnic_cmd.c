/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vnic_cmd.c - command table and option parser of nestlab-vfio-nic (see vnic_cmd.h, docs/vfio-nic.md)
 *
 * A command allows a set of options (a bit mask over the option table); every option is parsed and
 * range-checked here, so the executors in orchestrator/vfio-nic/ only see valid values. A line from the
 * serve socket is untrusted input: anything wrong is an error message, never a crash.
 */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "vnic_cmd.h"

enum vnic_opt_id {
	OPT_COUNT,
	OPT_TIMEOUT_MS,
	OPT_SIZE,
	OPT_SIZE_MIN,
	OPT_SIZE_MAX,
	OPT_SEED,
	OPT_PAYLOAD,
	OPT_DST,
	OPT_SRC,
	OPT_FIRST_INDEX,
	OPT_GAP_US,
	OPT_IOVA,
	OPT_VIA,
	OPT_LENGTH,
	OPT_PCAP,
	OPT_BIND,
	OPT_REMOTE,
	OPT_QUIET,
	OPT_SWAP_MAC,
	OPT_IFNAME,
	OPT_READY_FILE,
	OPT_OUTPUT,
	OPT_BACKGROUND,
	OPT_PROGRESS,
	OPT__COUNT,
};

#define O(id) (1u << (id))
#define EXPECT_OPTS (O(OPT_SEED) | O(OPT_SRC) | O(OPT_DST) | O(OPT_PAYLOAD) | O(OPT_SIZE) | \
		     O(OPT_SIZE_MIN) | O(OPT_SIZE_MAX))
#define GEN_OPTS (O(OPT_COUNT) | O(OPT_SIZE) | O(OPT_SIZE_MIN) | O(OPT_SIZE_MAX) | O(OPT_SEED) | \
		  O(OPT_PAYLOAD) | O(OPT_DST) | O(OPT_FIRST_INDEX) | O(OPT_GAP_US) | O(OPT_QUIET))
#define RECV_OPTS (O(OPT_COUNT) | O(OPT_TIMEOUT_MS) | O(OPT_PCAP) | O(OPT_QUIET) | EXPECT_OPTS)

struct vnic_opt {
	const char *name;
	const char *arg;		/* value placeholder for help; NULL for a flag */
	uint64_t min, max;		/* numbers */
};

static const struct vnic_opt opts[OPT__COUNT] = {
	[OPT_COUNT] = { "count", "N", 1, 10000000 },
	[OPT_TIMEOUT_MS] = { "timeout-ms", "MS", 0, 3600000 },
	[OPT_SIZE] = { "size", "BYTES", FRAME_GEN_ETH_MIN, FRAME_GEN_ETH_MAX },
	[OPT_SIZE_MIN] = { "size-min", "BYTES", FRAME_GEN_ETH_MIN, FRAME_GEN_ETH_MAX },
	[OPT_SIZE_MAX] = { "size-max", "BYTES", FRAME_GEN_ETH_MIN, FRAME_GEN_ETH_MAX },
	[OPT_SEED] = { "seed", "S", 0, UINT64_MAX },
	[OPT_PAYLOAD] = { "payload", "random|zero|pattern", 0, 0 },
	[OPT_DST] = { "dst", "MAC", 0, 0 },
	[OPT_SRC] = { "src", "MAC", 0, 0 },
	[OPT_FIRST_INDEX] = { "first-index", "I", 0, UINT32_MAX },
	[OPT_GAP_US] = { "gap-us", "US", 0, 10000000 },
	[OPT_IOVA] = { "iova", "X", 0, UINT64_MAX },
	[OPT_VIA] = { "via", "rx|tx", 0, 0 },
	[OPT_LENGTH] = { "length", "BYTES", 1, 4096 },
	[OPT_PCAP] = { "pcap", "PATH", 0, 0 },
	[OPT_BIND] = { "bind", "HOST:PORT", 0, 0 },
	[OPT_REMOTE] = { "remote", "HOST:PORT", 0, 0 },
	[OPT_QUIET] = { "quiet", NULL, 0, 0 },
	[OPT_SWAP_MAC] = { "swap-mac", NULL, 0, 0 },
	[OPT_IFNAME] = { "ifname", "IF", 0, 0 },
	[OPT_READY_FILE] = { "ready-file", "PATH", 0, 0 },
	[OPT_OUTPUT] = { "output", "PATH", 0, 0 },
	[OPT_BACKGROUND] = { "background", NULL, 0, 0 },
	[OPT_PROGRESS] = { "progress", "PATH", 0, 0 },
};

struct vnic_cmd_desc {
	const char *name;
	uint32_t allowed;		/* O(option) mask */
	uint32_t required;
	bool needs_device;
	const char *help;
};

static const struct vnic_cmd_desc cmds[VNIC_CMD__COUNT] = {
	[VNIC_CMD_INFO] = { "info", 0, 0, true, "device, MAC, link, ring and buffer IOVAs" },
	[VNIC_CMD_RX] = { "rx", RECV_OPTS | O(OPT_PROGRESS), 0, true,
			  "receive frames: length, buffer IOVA, CRC-32, first bytes, frame_gen check" },
	[VNIC_CMD_TX] = { "tx", GEN_OPTS | O(OPT_TIMEOUT_MS), 0, true,
			  "transmit frame_gen frames from (seed, index)" },
	[VNIC_CMD_ECHO] = { "echo", O(OPT_COUNT) | O(OPT_TIMEOUT_MS) | O(OPT_SWAP_MAC) | O(OPT_PCAP) | O(OPT_QUIET),
			    0, true, "receive frames and transmit each one back" },
	[VNIC_CMD_MAPS] = { "maps", 0, 0, true, "every IOVA -> vaddr (and guest-physical) mapping held" },
	[VNIC_CMD_UNMAP] = { "unmap", O(OPT_IOVA), O(OPT_IOVA), true,
			     "VFIO_IOMMU_UNMAP_DMA one buffer; an Rx buffer is replaced at a fresh IOVA" },
	[VNIC_CMD_DMA_TO] = { "dma-to", O(OPT_IOVA) | O(OPT_VIA) | O(OPT_TIMEOUT_MS) | O(OPT_LENGTH), O(OPT_IOVA),
			      true, "let the device DMA to/from an IOVA (e.g. a stale one) once" },
	[VNIC_CMD_REGS] = { "regs", 0, 0, true, "the main device registers" },
	[VNIC_CMD_HELP] = { "help", 0, 0, false, "this list" },
	[VNIC_CMD_QUIT] = { "quit", 0, 0, false, "end serve mode" },
	[VNIC_CMD_UDP_SEND] = { "udp-send", GEN_OPTS | O(OPT_SRC) | O(OPT_BIND) | O(OPT_REMOTE), O(OPT_REMOTE),
				false, "host side: send frame_gen frames as UDP datagrams (QEMU dgram netdev)" },
	[VNIC_CMD_UDP_RECV] = { "udp-recv", RECV_OPTS | O(OPT_BIND), O(OPT_BIND), false,
				"host side: receive datagrams and verify frame_gen frames" },
	[VNIC_CMD_PKT_UP] = { "pkt-up", O(OPT_IFNAME) | O(OPT_TIMEOUT_MS), 0, false,
			      "kernel driver: set the interface up and promiscuous, wait for carrier" },
	[VNIC_CMD_PKT_TX] = { "pkt-tx", GEN_OPTS | O(OPT_TIMEOUT_MS) | O(OPT_IFNAME), 0, false,
			      "kernel driver: transmit frame_gen frames through an AF_PACKET socket" },
	[VNIC_CMD_PKT_RX] = { "pkt-rx", RECV_OPTS | O(OPT_IFNAME) | O(OPT_READY_FILE) | O(OPT_OUTPUT) |
						O(OPT_BACKGROUND) | O(OPT_PROGRESS),
			      0, false, "kernel driver: receive and verify frame_gen frames on an AF_PACKET socket" },
	[VNIC_CMD_PKT_WAIT] = { "pkt-wait", O(OPT_OUTPUT) | O(OPT_TIMEOUT_MS), O(OPT_OUTPUT), false,
				"wait for the result file of pkt-rx --background and print it" },
};

const char *vnic_cmd_name(enum vnic_cmd_id id)
{
	return (unsigned)id < VNIC_CMD__COUNT ? cmds[id].name : "?";
}

bool vnic_cmd_needs_device(enum vnic_cmd_id id)
{
	return (unsigned)id < VNIC_CMD__COUNT && cmds[id].needs_device;
}

/**
 * vnic_cmd_help() - one line per command: name, options, summary
 *
 * Return: a new string
 */
char *vnic_cmd_help(void)
{
	struct strbuf sb = STRBUF_INIT;

	for (int c = 0; c < VNIC_CMD__COUNT; c++) {
		strbuf_printf(&sb, "  %s", cmds[c].name);
		for (int o = 0; o < OPT__COUNT; o++) {
			bool req = cmds[c].required & O(o);

			if (!(cmds[c].allowed & O(o)))
				continue;
			strbuf_printf(&sb, " %s--%s%s%s%s", req ? "" : "[", opts[o].name, opts[o].arg ? " " : "",
				      opts[o].arg ? opts[o].arg : "", req ? "" : "]");
		}
		strbuf_printf(&sb, "\n        %s\n", cmds[c].help);
	}
	return strbuf_detach(&sb);
}

int vnic_parse_u64(const char *s, uint64_t max, uint64_t *value)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*value = v;
	return 0;
}

int vnic_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return -1;
		mac[i] = (uint8_t)strtoul((char[]){ s[0], s[1], 0 }, NULL, 16);
		s += 2;
		if (i < 5 && *s != ':' && *s != '-')
			return -1;
		if (i < 5)
			s++;
	}
	return *s ? -1 : 0;
}

void vnic_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

char *vnic_hex(const uint8_t *buf, size_t len, size_t max)
{
	size_t n = len < max ? len : max;
	char *out = xmalloc(2 * n + 1);

	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", buf[i]);
	out[2 * n] = '\0';
	return out;
}

/* cmd_defaults() - every field at its documented default */
static void cmd_defaults(struct vnic_cmd *cmd, enum vnic_cmd_id id)
{
	static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

	memset(cmd, 0, sizeof(*cmd));
	cmd->id = id;
	cmd->count = 1;
	cmd->timeout_ms = 5000;
	memset(cmd->spec.dst, 0xff, 6);
	memcpy(cmd->spec.src, peer_mac, 6);
	cmd->spec.seed = 1;
	cmd->spec.size_min = FRAME_GEN_ETH_MIN;
	cmd->spec.size_max = FRAME_GEN_ETH_MAX;
	cmd->spec.payload = FRAME_PAYLOAD_RANDOM;
	cmd->via = VNIC_DMA_VIA_RX;
	cmd->length = 64;
}

/* closest() - the name in a table closest to @word (edit distance < 3), for "did you mean"; or NULL */
static const char *closest(const char *word, const char *(*name_at)(int), int n)
{
	const char *best = NULL;
	size_t best_d = 3;	/* suggest only close matches */

	for (int i = 0; i < n; i++) {
		size_t d = edit_distance(word, name_at(i));

		if (d < best_d) {
			best_d = d;
			best = name_at(i);
		}
	}
	return best;
}

static const char *cmd_name_at(int i)
{
	return cmds[i].name;
}

static const char *opt_name_at(int i)
{
	return opts[i].name;
}

/* ifname_valid() - what the kernel accepts as a device name (net/core/dev.c dev_valid_name()); such a
 * name also cannot leave /sys/class/net when it is put into a path */
static bool ifname_valid(const char *name)
{
	if (!*name || strlen(name) >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p))
			return false;
	}
	return true;
}

/* apply_number() - the numeric options */
static int apply_number(struct vnic_cmd *cmd, enum vnic_opt_id o, uint64_t v)
{
	switch (o) {
	case OPT_COUNT: cmd->count = (uint32_t)v; break;
	case OPT_TIMEOUT_MS: cmd->timeout_ms = (uint32_t)v; break;
	case OPT_SIZE: cmd->spec.size_min = cmd->spec.size_max = (uint16_t)v; cmd->sizes_set = true; break;
	case OPT_SIZE_MIN: cmd->spec.size_min = (uint16_t)v; cmd->sizes_set = true; break;
	case OPT_SIZE_MAX: cmd->spec.size_max = (uint16_t)v; cmd->sizes_set = true; break;
	case OPT_SEED: cmd->spec.seed = v; cmd->seed_set = true; break;
	case OPT_FIRST_INDEX: cmd->first_index = (uint32_t)v; break;
	case OPT_GAP_US: cmd->gap_us = (uint32_t)v; break;
	case OPT_IOVA: cmd->iova = v; cmd->iova_set = true; break;
	case OPT_LENGTH: cmd->length = (uint16_t)v; break;
	default: return -1;
	}
	return 0;
}

/**
 * apply_option() - parse the value of one option into @cmd
 * @cmd:	command being filled
 * @o:		option
 * @value:	its text (NULL for a flag)
 * @err:	what was wrong with the value
 *
 * Return: 0 or -1
 */
static int apply_option(struct vnic_cmd *cmd, enum vnic_opt_id o, const char *value, nl_error_t *err)
{
	const struct vnic_opt *opt = &opts[o];
	uint64_t v;

	switch (o) {
	case OPT_QUIET: cmd->quiet = true; return 0;
	case OPT_SWAP_MAC: cmd->swap_mac = true; return 0;
	case OPT_BACKGROUND: cmd->background = true; return 0;
	case OPT_IFNAME:
		if (!ifname_valid(value))
			return nl_error(err, 0, "--ifname %s: expected an interface name of 1 to %d bytes without "
					"'/', ':' or blanks, like eth0", value, IFNAMSIZ - 1);
		free(cmd->ifname);
		cmd->ifname = xstrdup(value);
		return 0;
	case OPT_PAYLOAD:
		if (frame_payload_parse(value, &cmd->spec.payload) < 0)
			return nl_error(err, 0, "--payload %s: use random, zero or pattern", value);
		cmd->payload_set = true;
		return 0;
	case OPT_DST:
	case OPT_SRC:
		if (vnic_parse_mac(value, o == OPT_DST ? cmd->spec.dst : cmd->spec.src) < 0)
			return nl_error(err, 0, "--%s %s: expected a MAC address like 52:54:00:12:34:56",
					opt->name, value);
		*(o == OPT_DST ? &cmd->dst_set : &cmd->src_set) = true;
		return 0;
	case OPT_VIA:
		if (strcmp(value, "rx") && strcmp(value, "tx"))
			return nl_error(err, 0, "--via %s: use rx (device writes the IOVA) or tx (device reads it)",
					value);
		cmd->via = strcmp(value, "rx") ? VNIC_DMA_VIA_TX : VNIC_DMA_VIA_RX;
		return 0;
	case OPT_PCAP:
	case OPT_BIND:
	case OPT_REMOTE:
	case OPT_READY_FILE:
	case OPT_OUTPUT:
	case OPT_PROGRESS: {
		char **slot = o == OPT_PCAP ? &cmd->pcap_path : o == OPT_BIND ? &cmd->bind_addr :
			      o == OPT_REMOTE ? &cmd->remote_addr : o == OPT_READY_FILE ? &cmd->ready_file :
			      o == OPT_PROGRESS ? &cmd->progress_path : &cmd->output_path;

		if (!*value)
			return nl_error(err, 0, "--%s needs a non-empty value", opt->name);
		free(*slot);
		*slot = xstrdup(value);
		return 0;
	}
	default:
		if (vnic_parse_u64(value, opt->max, &v) < 0 || v < opt->min)
			return nl_error(err, 0, "--%s %s: expected a number from %llu to %llu (decimal or 0x hex)",
					opt->name, value, (unsigned long long)opt->min, (unsigned long long)opt->max);
		return apply_number(cmd, o, v);
	}
}

/* find_command() - the command named @name, or -1 with a hint in @err */
static int find_command(const char *name, nl_error_t *err)
{
	const char *hint;

	for (int c = 0; c < VNIC_CMD__COUNT; c++) {
		if (!strcmp(name, cmds[c].name))
			return c;
	}
	hint = closest(name, cmd_name_at, VNIC_CMD__COUNT);
	if (hint)
		return nl_error(err, 0, "unknown command %s: did you mean %s? (see help)", name, hint);
	return nl_error(err, 0, "unknown command %s (see help)", name);
}

/* find_option() - option @name allowed for @c, or -1 with a hint in @err */
static int find_option(int c, const char *name, nl_error_t *err)
{
	const char *hint;

	for (int o = 0; o < OPT__COUNT; o++) {
		if (strcmp(name, opts[o].name))
			continue;
		if (!(cmds[c].allowed & O(o)))
			return nl_error(err, 0, "%s does not take --%s (see help)", cmds[c].name, name);
		return o;
	}
	hint = closest(name, opt_name_at, OPT__COUNT);
	if (hint)
		return nl_error(err, 0, "%s: unknown option --%s: did you mean --%s?", cmds[c].name, name, hint);
	return nl_error(err, 0, "%s: unknown option --%s (see help)", cmds[c].name, name);
}

/* check_command() - constraints across options, after all were read */
static int check_command(const struct vnic_cmd *cmd, int c, uint32_t seen, nl_error_t *err)
{
	uint32_t missing = cmds[c].required & ~seen;

	for (int o = 0; o < OPT__COUNT; o++) {
		if (missing & O(o))
			return nl_error(err, 0, "%s needs --%s %s", cmds[c].name, opts[o].name, opts[o].arg);
	}
	if (cmd->spec.size_min > cmd->spec.size_max)
		return nl_error(err, 0, "%s: --size-min %u is larger than --size-max %u", cmds[c].name,
				cmd->spec.size_min, cmd->spec.size_max);
	if (c == VNIC_CMD_PKT_RX && cmd->background != !!cmd->output_path)
		return nl_error(err, 0, "pkt-rx: --background and --output PATH go together (the detached "
				"receiver writes its result to PATH; read it with pkt-wait --output PATH)");
	return 0;
}

/**
 * vnic_cmd_parse() - words into a command
 * @argc:	number of words, at least 1
 * @argv:	the command name, then its options
 * @cmd:	filled (with defaults for what is not given); release with vnic_cmd_release() also on error
 * @err:	what was wrong, with a hint
 *
 * Return: 0 or -1
 */
int vnic_cmd_parse(int argc, char *const *argv, struct vnic_cmd *cmd, nl_error_t *err)
{
	uint32_t seen = 0;
	int c;

	memset(cmd, 0, sizeof(*cmd));
	if (argc < 1 || !argv[0])
		return nl_error(err, 0, "no command (see help)");
	c = find_command(argv[0], err);
	if (c < 0)
		return -1;
	cmd_defaults(cmd, (enum vnic_cmd_id)c);
	for (int i = 1; i < argc; i++) {
		cleanup_free char *name = NULL;
		const char *value = NULL, *eq;
		int o;

		if (strncmp(argv[i], "--", 2) || !argv[i][2])
			return nl_error(err, 0, "%s: unexpected argument %s: options are --name value", cmds[c].name,
					argv[i]);
		eq = strchr(argv[i] + 2, '=');
		name = eq ? xstrndup(argv[i] + 2, (size_t)(eq - argv[i] - 2)) : xstrdup(argv[i] + 2);
		o = find_option(c, name, err);
		if (o < 0)
			return -1;
		if (opts[o].arg) {
			if (eq)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else
				return nl_error(err, 0, "%s: --%s needs a value (%s)", cmds[c].name, name, opts[o].arg);
		} else if (eq) {
			return nl_error(err, 0, "%s: --%s is a flag and takes no value", cmds[c].name, name);
		}
		if (apply_option(cmd, (enum vnic_opt_id)o, value, err) < 0)
			return nl_error_wrap(err, "%s", cmds[c].name);
		seen |= O(o);
	}
	return check_command(cmd, c, seen, err);
}

void vnic_cmd_release(struct vnic_cmd *cmd)
{
	free(cmd->pcap_path);
	free(cmd->bind_addr);
	free(cmd->remote_addr);
	free(cmd->ifname);
	free(cmd->ready_file);
	free(cmd->output_path);
	free(cmd->progress_path);
	cmd->pcap_path = cmd->bind_addr = cmd->remote_addr = NULL;
	cmd->ifname = cmd->ready_file = cmd->output_path = cmd->progress_path = NULL;
}

/**
 * vnic_split_line() - words of one protocol line
 * @line:	text without the newline (a trailing '\r' is dropped)
 * @words:	set to a new NULL-terminated vector (free with strv_free), also when 0 words
 * @err:	set for control characters or too many words
 *
 * Return: the number of words, or -1
 */
int vnic_split_line(const char *line, char ***words, nl_error_t *err)
{
	char **v = xcalloc(1, sizeof(char *));
	int n = 0;

	*words = NULL;
	for (const char *p = line; *p;) {
		const char *start;

		if (*p == ' ' || *p == '\t' || (*p == '\r' && !p[1])) {
			p++;
			continue;
		}
		start = p;
		while (*p && *p != ' ' && *p != '\t' && !(*p == '\r' && !p[1])) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				strv_free(v);
				return nl_error(err, 0, "control character 0x%02x in the command line",
						(unsigned char)*p);
			}
			p++;
		}
		if (n == 64) {
			strv_free(v);
			return nl_error(err, 0, "more than 64 words in one command line");
		}
		v = xrealloc(v, (size_t)(n + 2) * sizeof(char *));
		v[n++] = xstrndup(start, (size_t)(p - start));
		v[n] = NULL;
	}
	*words = v;
	return n;
}
