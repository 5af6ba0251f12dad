/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main.c - nestlab-vfio-nic: global options, then one of
 *
 *	nestlab-vfio-nic [OPTIONS] COMMAND [--opt value]...     one command, device opened and closed
 *	                                                        (not for help, udp-* and pkt-*: no VFIO)
 *	nestlab-vfio-nic [OPTIONS] serve [--socket PATH]        keep the device; commands from stdin/socket
 *	nestlab-vfio-nic --socket PATH [--wait-ms MS] call COMMAND [--opt value]...
 *	nestlab-vfio-nic [--device BDF] bind                    bind the NIC to vfio-pci
 *
 * Output is the line protocol of docs/vfio-nic.md on stdout; diagnostics (--verbose) go to stderr.
 * Exit status: 0 ok, 1 the command failed, 2 the command line was wrong.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "vnic.h"

volatile sig_atomic_t vnic_stop;

static const char usage_text[] =
	"usage: nestlab-vfio-nic [OPTIONS] COMMAND [--opt value]...\n"
	"       nestlab-vfio-nic [OPTIONS] serve [--socket PATH]\n"
	"       nestlab-vfio-nic --socket PATH [--wait-ms MS] call COMMAND [--opt value]...\n"
	"       nestlab-vfio-nic [--device BDF] bind\n"
	"A polling userspace VFIO driver for QEMU's igb (82576) and e1000e (82574L); see docs/vfio-nic.md.\n"
	"options:\n"
	"  --device BDF          PCI function (default: the first igb/e1000e, preferring one on vfio-pci)\n"
	"  --ring-size N         descriptors per ring, 8..4096, multiple of 8 [128]\n"
	"  --iova-base X         first IOVA of the driver's layout [0x10000000]\n"
	"  --link-timeout-ms MS  wait for link up [5000]\n"
	"  --socket PATH         serve: listen here instead of stdin; call: connect here\n"
	"  --wait-ms MS          call: wait this long for the socket to appear [10000]\n"
	"  --verbose             set-up steps on stderr\n"
	"commands:\n";

static void on_signal(int sig)
{
	(void)sig;
	vnic_stop = 1;
}

/* install_signals() - SIGTERM/SIGINT end the current wait and the program, without SA_RESTART */
static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void usage(FILE *out)
{
	cleanup_free char *help = vnic_cmd_help();

	fputs(usage_text, out);
	fputs(help, out);
}

/* parse_number_option() - a numeric global option, or exit 2 with a message */
static uint64_t parse_number_option(const char *name, const char *value, uint64_t max)
{
	uint64_t v;

	if (vnic_parse_u64(value, max, &v) < 0) {
		printf("error cmd=? msg=--%s %s: expected a number up to %llu\n", name, value, (unsigned long long)max);
		exit(2);
	}
	return v;
}

/* run_bind() - `bind`: put the NIC on vfio-pci */
static int run_bind(const struct nic_config *cfg)
{
	cleanup_strbuf struct strbuf summary = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	char bdf[64];
	int rc;

	if (!cfg->device || !strcmp(cfg->device, "auto"))
		rc = vfio_find_device(bdf, sizeof(bdf), &err);
	else
		rc = snprintf(bdf, sizeof(bdf), "%s", cfg->device) > 0 ? 0 : -1;
	if (rc == 0)
		rc = vfio_bind(bdf, &err);
	if (rc == 0)
		strbuf_printf(&summary, "bdf=%s driver=vfio-pci", bdf);
	serve_status_line(stdout, "bind", rc, &summary, err);
	return rc < 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },	  { "ring-size", required_argument, NULL, 'r' },
		{ "iova-base", required_argument, NULL, 'i' },	  { "link-timeout-ms", required_argument, NULL, 'l' },
		{ "socket", required_argument, NULL, 's' },	  { "wait-ms", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },		  { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },		  { NULL, 0, NULL, 0 },
	};
	struct nic_config cfg = { .ring_size = VNIC_DEFAULT_RING, .iova_base = VNIC_DEFAULT_IOVA_BASE,
				  .link_timeout_ms = 5000 };
	struct serve_options sopts = { .wait_ms = 10000 };
	const char *command;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg.device = optarg; break;
		case 'r': cfg.ring_size = (uint32_t)parse_number_option("ring-size", optarg, VNIC_RING_MAX); break;
		case 'i': cfg.iova_base = parse_number_option("iova-base", optarg, UINT64_MAX); break;
		case 'l': cfg.link_timeout_ms = (uint32_t)parse_number_option("link-timeout-ms", optarg, 600000); break;
		case 's': sopts.socket_path = optarg; break;
		case 'w': sopts.wait_ms = (uint32_t)parse_number_option("wait-ms", optarg, 3600000); break;
		case 'v': cfg.verbose = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("nestlab-vfio-nic %s\n", NESTLAB_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	install_signals();
	command = argv[optind];
	if (!strcmp(command, "serve")) {
		if (optind + 1 < argc && !strcmp(argv[optind + 1], "--socket") && optind + 2 < argc)
			sopts.socket_path = argv[optind + 2];
		else if (optind + 1 < argc) {
			printf("error cmd=serve msg=serve takes only --socket PATH\n");
			return 2;
		}
		return serve_run(&cfg, &sopts);
	}
	if (!strcmp(command, "call"))
		return serve_call(&sopts, argc - optind - 1, argv + optind + 1);
	if (!strcmp(command, "bind"))
		return run_bind(&cfg);
	return serve_one_shot(&cfg, argc - optind, argv + optind);
}
