/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_vfio_nic.c - unit tests for the pure parts of nestlab-vfio-nic: ring index math and descriptor
 * encoding (vnic_ring.c), the command parser (vnic_cmd.c); and the built program's commands that need no
 * device, end to end: udp-send to udp-recv over loopback, and (as root) pkt-up / pkt-tx / pkt-rx /
 * pkt-wait over a veth pair in a network namespace of their own, byte-exact
 *
 * The driver itself needs a NIC behind an IOMMU bound to vfio-pci: it is tested in a guest, see
 * docs/vfio-nic.md ("Device test").
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame_gen.h"
#include "rundir.h"
#include "test.h"
#include "vnic_cmd.h"
#include "vnic_ring.h"

static int test_ring_math(void)
{
	struct vnic_ring r;
	uint32_t tail = 0;

	CHECK(vnic_ring_size_valid(8) && vnic_ring_size_valid(256) && vnic_ring_size_valid(4096));
	CHECK(!vnic_ring_size_valid(0) && !vnic_ring_size_valid(12) && !vnic_ring_size_valid(8192));
	vnic_ring_init(&r, 8);
	CHECK(vnic_ring_in_flight(&r) == 0 && vnic_ring_space(&r) == 7);
	for (int i = 0; i < 7; i++)
		tail = vnic_ring_give(&r);
	CHECK(tail == 7 && vnic_ring_in_flight(&r) == 7 && vnic_ring_space(&r) == 0);
	CHECK(vnic_ring_take(&r) == 0 && vnic_ring_take(&r) == 1);
	CHECK(vnic_ring_in_flight(&r) == 5 && vnic_ring_space(&r) == 2);
	CHECK(vnic_ring_give(&r) == 0);		/* wraps */
	CHECK(vnic_ring_give(&r) == 1);
	CHECK(vnic_ring_in_flight(&r) == 7);
	for (int i = 0; i < 7; i++)
		vnic_ring_take(&r);
	CHECK(r.clean == 1 && vnic_ring_in_flight(&r) == 0);
	CHECK(vnic_ring_next(&r, 7) == 0 && vnic_ring_next(&r, 3) == 4);
	return TEST_PASS;
}

/* the Rx ring after the driver's set-up: all slots armed, size - 1 given (RDT = size - 1) */
static int test_ring_rx_refill_invariant(void)
{
	struct vnic_ring r;

	vnic_ring_init(&r, 16);
	for (int i = 0; i < 15; i++)
		vnic_ring_give(&r);
	for (int round = 0; round < 100; round++) {
		uint32_t slot = vnic_ring_take(&r);
		uint32_t tail = vnic_ring_give(&r);

		CHECK(tail == slot);		/* the refilled slot becomes the unowned one */
		CHECK(vnic_ring_in_flight(&r) == 15);
	}
	return TEST_PASS;
}

static int test_desc_advanced(void)
{
	union vnic_desc d;
	struct vnic_rx_result res;

	CHECK(sizeof(d) == 16);
	memset(&d, 0xaa, sizeof(d));
	vnic_rx_desc_arm(VNIC_DESC_ADVANCED, &d, 0x10100000);
	CHECK(d.adv_rx_read.pkt_addr == 0x10100000 && d.adv_rx_read.hdr_addr == 0);
	CHECK(vnic_rx_desc_addr(VNIC_DESC_ADVANCED, &d) == 0x10100000);
	CHECK(!vnic_rx_desc_done(VNIC_DESC_ADVANCED, &d, &res));
	/* what QEMU's igb_write_adv_rx_descr() writes back: length at byte 12, DD|EOP at byte 8 */
	memset(&d, 0, sizeof(d));
	d.raw[8] = 0x03;
	d.raw[12] = 0xea;
	d.raw[13] = 0x05;
	CHECK(vnic_rx_desc_done(VNIC_DESC_ADVANCED, &d, &res));
	CHECK(res.length == 1514 && res.eop && res.errors == 0);
	d.raw[11] = 0x80;	/* RXE, bit 31 */
	CHECK(vnic_rx_desc_done(VNIC_DESC_ADVANCED, &d, &res) && res.errors == 0x80000000u);

	vnic_tx_desc_fill(VNIC_DESC_ADVANCED, &d, 0x10200000, 60);
	CHECK(d.adv_tx_read.buffer_addr == 0x10200000);
	CHECK(d.adv_tx_read.cmd_type_len == 0x2b30003cu);	/* DEXT RS IFCS EOP, DTYP 0011b, 60 */
	CHECK(d.adv_tx_read.olinfo_status == 60u << 14);
	CHECK(!vnic_tx_desc_done(VNIC_DESC_ADVANCED, &d));
	d.raw[12] |= 1;						/* DD in the write-back status */
	CHECK(vnic_tx_desc_done(VNIC_DESC_ADVANCED, &d));
	return TEST_PASS;
}

static int test_desc_legacy(void)
{
	union vnic_desc d;
	struct vnic_rx_result res;

	memset(&d, 0xaa, sizeof(d));
	vnic_rx_desc_arm(VNIC_DESC_LEGACY, &d, 0x10100000);
	CHECK(d.legacy_rx.buffer_addr == 0x10100000 && d.legacy_rx.status == 0 && d.legacy_rx.length == 0);
	CHECK(!vnic_rx_desc_done(VNIC_DESC_LEGACY, &d, &res));
	d.raw[8] = 60;
	d.raw[12] = 0x03;	/* status: DD | EOP */
	CHECK(vnic_rx_desc_done(VNIC_DESC_LEGACY, &d, &res) && res.length == 60 && res.eop && !res.errors);

	vnic_tx_desc_fill(VNIC_DESC_LEGACY, &d, 0x10200000, 1514);
	CHECK(d.legacy_tx.buffer_addr == 0x10200000 && d.legacy_tx.length == 1514);
	CHECK(d.raw[11] == 0x0b);				/* cmd: RS | IFCS | EOP */
	CHECK(!vnic_tx_desc_done(VNIC_DESC_LEGACY, &d));
	d.raw[12] = 0x01;
	CHECK(vnic_tx_desc_done(VNIC_DESC_LEGACY, &d));
	return TEST_PASS;
}

/* parse_words() - split a line and parse it; returns what vnic_cmd_parse returned */
static int parse_words(const char *line, struct vnic_cmd *cmd, nl_error_t *err)
{
	cleanup_strv char **words = NULL;
	int n = vnic_split_line(line, &words, err);

	if (n < 0)
		return -1;
	return vnic_cmd_parse(n, words, cmd, err);
}

static int test_parse_tx(void)
{
	cleanup_error nl_error_t err = NULL;
	struct vnic_cmd cmd;

	CHECK(parse_words("tx --count 1000 --size-min=60 --size-max 1514 --seed 0x10 --payload pattern "
			  "--dst 02:00:00:00:00:01 --first-index 5 --quiet",
			  &cmd, &err) == 0);
	CHECK(cmd.id == VNIC_CMD_TX && cmd.count == 1000 && cmd.spec.size_min == 60 &&
	      cmd.spec.size_max == 1514);
	CHECK(cmd.spec.seed == 16 && cmd.spec.payload == FRAME_PAYLOAD_PATTERN && cmd.first_index == 5);
	CHECK(cmd.dst_set && cmd.spec.dst[5] == 1 && cmd.quiet);
	vnic_cmd_release(&cmd);
	CHECK(parse_words("tx", &cmd, &err) == 0);
	CHECK(cmd.count == 1 && cmd.timeout_ms == 5000 && cmd.spec.dst[0] == 0xff && !cmd.dst_set);
	vnic_cmd_release(&cmd);
	/* the run hands L2 the scenario's whole 64-bit traffic.seed */
	CHECK(parse_words("tx --seed 18446744073709551615", &cmd, &err) == 0);
	CHECK(cmd.seed_set && cmd.spec.seed == UINT64_MAX);
	vnic_cmd_release(&cmd);
	return TEST_PASS;
}

static int test_parse_other_commands(void)
{
	cleanup_error nl_error_t err = NULL;
	struct vnic_cmd cmd;

	CHECK(parse_words("dma-to --iova 0x10105000 --via tx --length 128", &cmd, &err) == 0);
	CHECK(cmd.id == VNIC_CMD_DMA_TO && cmd.iova == 0x10105000 && cmd.via == VNIC_DMA_VIA_TX &&
	      cmd.length == 128);
	vnic_cmd_release(&cmd);
	CHECK(parse_words("rx --count 3 --timeout-ms 100 --pcap /tmp/x.pcap --seed 7", &cmd, &err) == 0);
	CHECK(cmd.id == VNIC_CMD_RX && cmd.count == 3 && cmd.timeout_ms == 100 && cmd.seed_set);
	CHECK_STR(cmd.pcap_path, "/tmp/x.pcap");
	vnic_cmd_release(&cmd);
	CHECK(parse_words("  maps \r", &cmd, &err) == 0 && cmd.id == VNIC_CMD_MAPS);
	CHECK(parse_words("udp-recv --bind 127.0.0.1:10000 --count 2", &cmd, &err) == 0);
	CHECK(!vnic_cmd_needs_device(cmd.id) && vnic_cmd_needs_device(VNIC_CMD_ECHO));
	vnic_cmd_release(&cmd);
	CHECK(parse_words("pkt-rx --ifname eth0 --count 1000 --seed 7 --background --output /run/rx.out "
			  "--ready-file /run/rx.ready --quiet", &cmd, &err) == 0);
	CHECK(cmd.id == VNIC_CMD_PKT_RX && cmd.count == 1000 && cmd.background && cmd.quiet);
	CHECK_STR(cmd.ifname, "eth0");
	CHECK_STR(cmd.output_path, "/run/rx.out");
	CHECK_STR(cmd.ready_file, "/run/rx.ready");
	CHECK(!vnic_cmd_needs_device(cmd.id));
	vnic_cmd_release(&cmd);
	CHECK(parse_words("pkt-tx --count 3 --dst 02:00:00:00:00:01 --gap-us 10", &cmd, &err) == 0);
	CHECK(cmd.id == VNIC_CMD_PKT_TX && !cmd.ifname && cmd.dst_set && cmd.gap_us == 10);
	CHECK(!vnic_cmd_needs_device(cmd.id) && !vnic_cmd_needs_device(VNIC_CMD_PKT_UP) &&
	      !vnic_cmd_needs_device(VNIC_CMD_PKT_WAIT));
	vnic_cmd_release(&cmd);
	return TEST_PASS;
}

static int test_parse_errors(void)
{
	static const struct {
		const char *line, *msg;
	} bad[] = {
		{ "tz", "unknown command tz: did you mean tx?" },
		{ "tx --cont 3", "tx: unknown option --cont: did you mean --count?" },
		{ "tx --iova 5", "tx does not take --iova" },
		{ "tx --count", "tx: --count needs a value (N)" },
		{ "tx --count 0", "tx: --count 0: expected a number from 1 to 10000000" },
		{ "tx --size 59", "--size 59: expected a number from 60 to 1514" },
		{ "tx --size-min 1000 --size-max 100", "--size-min 1000 is larger than --size-max 100" },
		{ "tx --dst 52:54:00:12:34", "expected a MAC address" },
		{ "tx --payload ones", "use random, zero or pattern" },
		{ "tx --quiet=1", "--quiet is a flag" },
		{ "tx count", "unexpected argument count" },
		{ "unmap", "unmap needs --iova X" },
		{ "unmap --iova -1", "--iova -1: expected a number" },
		{ "dma-to --iova 1 --via both", "use rx (device writes the IOVA) or tx" },
		{ "rx --count 1\x01", "control character 0x01" },
		{ "pkt-tx --src 02:00:00:00:00:01", "pkt-tx does not take --src" },
		{ "pkt-rx --ifname eth0123456789abc", "expected an interface name of 1 to 15 bytes" },
		{ "pkt-rx --ifname ../x", "expected an interface name" },
		{ "pkt-up --ifname eth0:1", "expected an interface name" },
		{ "pkt-rx --background", "--background and --output PATH go together" },
		{ "pkt-rx --output /tmp/x", "--background and --output PATH go together" },
		{ "pkt-wait", "pkt-wait needs --output PATH" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_error nl_error_t err = NULL;
		struct vnic_cmd cmd;
		int rc = parse_words(bad[i].line, &cmd, &err);

		vnic_cmd_release(&cmd);
		if (rc == 0 || !err || !strstr(err->msg, bad[i].msg)) {
			test_diag("line '%s': rc %d, message '%s', wanted '%s'", bad[i].line, rc,
				  err ? err->msg : "(none)", bad[i].msg);
			return TEST_FAIL;
		}
	}
	return TEST_PASS;
}

static int test_split_line(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_strv char **words = NULL;
	struct strbuf many = STRBUF_INIT;

	CHECK(vnic_split_line("", &words, &err) == 0 && words && !words[0]);
	strv_free(words);
	CHECK(vnic_split_line(" a\tbb  c ", &words, &err) == 3);
	CHECK_STR(words[1], "bb");
	CHECK(words[3] == NULL);
	strv_free(words);
	words = NULL;
	for (int i = 0; i < 65; i++)
		strbuf_puts(&many, "w ");
	CHECK(vnic_split_line(many.str, &words, &err) == -1 && !words);
	CHECK_CONTAINS(err->msg, "more than 64 words");
	strbuf_release(&many);
	return TEST_PASS;
}

static int test_mac_and_numbers(void)
{
	uint8_t mac[6];
	char text[18];
	uint64_t v;
	cleanup_free char *hex = NULL;

	CHECK(vnic_parse_mac("52:54:00:AB:cd:0f", mac) == 0 && mac[3] == 0xab && mac[5] == 0x0f);
	vnic_format_mac(mac, text);
	CHECK_STR(text, "52:54:00:ab:cd:0f");
	CHECK(vnic_parse_mac("52-54-00-ab-cd-0f", mac) == 0);
	CHECK(vnic_parse_mac("52:54:00:ab:cd:0f:", mac) == -1 && vnic_parse_mac("5:54:00:ab:cd:0f", mac) == -1);
	CHECK(vnic_parse_u64("0x10000000", UINT64_MAX, &v) == 0 && v == 0x10000000);
	CHECK(vnic_parse_u64("18446744073709551615", UINT64_MAX, &v) == 0 && v == UINT64_MAX);
	CHECK(vnic_parse_u64("18446744073709551616", UINT64_MAX, &v) == -1);
	CHECK(vnic_parse_u64("12x", 100, &v) == -1 && vnic_parse_u64("101", 100, &v) == -1);
	CHECK(vnic_parse_u64(" 1", 100, &v) == -1 && vnic_parse_u64("", 100, &v) == -1);
	hex = vnic_hex((const uint8_t *)"\x01\xab\xff", 3, 2);
	CHECK_STR(hex, "01ab");
	return TEST_PASS;
}

static int test_help_lists_every_command(void)
{
	cleanup_free char *help = vnic_cmd_help();

	for (int c = 0; c < VNIC_CMD__COUNT; c++)
		CHECK_CONTAINS(help, vnic_cmd_name((enum vnic_cmd_id)c));
	CHECK_CONTAINS(help, "unmap --iova X");
	CHECK_CONTAINS(help, "[--payload random|zero|pattern]");
	return TEST_PASS;
}

/* free_udp_port() - a port on 127.0.0.1 that was free a moment ago */
static int free_udp_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* a program started by child_start(), its stdout on a pipe */
struct child {
	pid_t pid;
	int out_fd;
};

/* child_start() - start argv with stdout on a pipe; returns 0 or -1 */
static int child_start(char *const argv[], struct child *c)
{
	int pipefd[2];

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	c->pid = fork();
	if (c->pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	c->out_fd = pipefd[0];
	if (c->pid < 0) {
		close(pipefd[0]);
		return -1;
	}
	return 0;
}

/* child_finish() - read its stdout to the end (trailing newlines cut) and reap it; returns the exit
 * status, or -1 */
static int child_finish(struct child *c, char **out)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	int status;
	ssize_t n;

	while ((n = read(c->out_fd, buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	close(c->out_fd);
	if (waitpid(c->pid, &status, 0) < 0) {
		strbuf_release(&sb);
		return -1;
	}
	strbuf_puts(&sb, "");
	while (sb.len && sb.str[sb.len - 1] == '\n')
		sb.str[--sb.len] = '\0';
	*out = strbuf_detach(&sb);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* run_capture() - run argv, its stdout into a new string; returns the exit status or -1 */
static int run_capture(char *const argv[], char **out)
{
	struct child c;

	if (child_start(argv, &c) < 0)
		return -1;
	return child_finish(&c, out);
}

/* the binary under test: $NESTLAB_VFIO_NIC, else build/nestlab-vfio-nic next to the tests */
static char *vfio_nic_bin(void)
{
	const char *env = getenv("NESTLAB_VFIO_NIC");

	return xstrdup(env && *env ? env : "build/nestlab-vfio-nic");
}

static int test_program_udp_roundtrip(void)
{
	cleanup_free char *bin = vfio_nic_bin();
	cleanup_free char *recv_out = NULL, *send_out = NULL;
	char bind_arg[64], remote_arg[64];
	int port = free_udp_port(), recv_rc;
	struct child receiver;

	if (access(bin, X_OK))
		return test_skip("%s not built", bin);
	CHECK(port > 0);
	snprintf(bind_arg, sizeof(bind_arg), "127.0.0.1:%d", port);
	snprintf(remote_arg, sizeof(remote_arg), "127.0.0.1:%d", port);
	{
		char *const recv_argv[] = { bin, "udp-recv", "--bind", bind_arg, "--count", "200", "--timeout-ms",
					   "10000", "--seed", "9", "--size-min", "60", "--size-max", "1514",
					   "--quiet", NULL };

		CHECK(child_start(recv_argv, &receiver) == 0);
	}
	usleep(200 * 1000);	/* let it bind */
	{
		char *const send_argv[] = { bin, "udp-send", "--remote", remote_arg, "--count", "200",
					   "--seed", "9", "--gap-us", "200", "--quiet", NULL };

		CHECK(run_capture(send_argv, &send_out) == 0);
	}
	recv_rc = child_finish(&receiver, &recv_out);
	test_diag("udp-send: %s", send_out);
	test_diag("udp-recv: %s", recv_out);
	CHECK(recv_rc == 0);
	CHECK_CONTAINS(send_out, "ok cmd=udp-send sent=200");
	CHECK_CONTAINS(recv_out, "ok cmd=udp-recv received=200 verified=200 bad=0");
	return TEST_PASS;
}

static int test_program_errors_are_lines(void)
{
	cleanup_free char *bin = vfio_nic_bin();
	cleanup_free char *out = NULL, *out2 = NULL;

	if (access(bin, X_OK))
		return test_skip("%s not built", bin);
	{
		char *const argv[] = { bin, "--device", "0000:ff:1f.7", "info", NULL };

		CHECK(run_capture(argv, &out) == 1);
		CHECK_CONTAINS(out, "error cmd=info msg=");
		CHECK_CONTAINS(out, "0000:ff:1f.7");
	}
	{
		char *const argv[] = { bin, "tx", "--count", "x", NULL };

		CHECK(run_capture(argv, &out2) == 2);
		CHECK_CONTAINS(out2, "error cmd=tx msg=tx: --count x: expected a number");
	}
	return TEST_PASS;
}

/* the pkt-* commands' errors need no root: a missing interface, a result file that never comes */
static int test_program_pkt_errors(void)
{
	cleanup_free char *bin = vfio_nic_bin();
	cleanup_free char *out = NULL, *out2 = NULL, *out3 = NULL;

	if (access(bin, X_OK))
		return test_skip("%s not built", bin);
	{
		char *const argv[] = { bin, "pkt-rx", "--ifname", "nlnosuch0", "--timeout-ms", "100", NULL };

		CHECK(run_capture(argv, &out) == 1);
		CHECK_CONTAINS(out, "error cmd=pkt-rx msg=");
		if (geteuid() == 0)
			CHECK_CONTAINS(out, "no network interface nlnosuch0");
	}
	{
		char *const argv[] = { bin, "pkt-wait", "--output", "/nonexistent/nestlab-rx.out", "--timeout-ms", "50",
				       NULL };

		CHECK(run_capture(argv, &out2) == 1);
		CHECK_CONTAINS(out2, "error cmd=pkt-wait msg=/nonexistent/nestlab-rx.out did not appear within 50 ms");
	}
	{
		char *const argv[] = { bin, "pkt-rx", "--background", NULL };

		CHECK(run_capture(argv, &out3) == 2);
		CHECK_CONTAINS(out3, "--background and --output PATH go together");
	}
	return TEST_PASS;
}

/* nl_attr() - append a netlink attribute (rtnetlink(7)) to @nh; a nest is closed by nl_nest_end() */
static struct rtattr *nl_attr(struct nlmsghdr *nh, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nl_nest_end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)nh + nh->nlmsg_len - (char *)nest);
}

/* veth_create() - `ip link add @a type veth peer name @b` through rtnetlink; returns 0 or -errno */
static int veth_create(const char *a, const char *b)
{
	/* one buffer for the whole message, so the attributes are written inside the object they belong to */
	uint32_t msg[128] = { 0 };
	struct nlmsghdr *nh = (struct nlmsghdr *)msg;
	struct ifinfomsg peer = { .ifi_family = AF_UNSPEC };
	struct rtattr *linkinfo, *data, *peer_nest;
	uint32_t reply[256];
	struct nlmsghdr *rh = (struct nlmsghdr *)reply;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = -EIO;
	ssize_t n;

	if (fd < 0)
		return -errno;
	nh->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));	/* the ifinfomsg stays zero: AF_UNSPEC */
	nh->nlmsg_type = RTM_NEWLINK;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nl_attr(nh, IFLA_IFNAME, a, strlen(a) + 1);
	linkinfo = nl_attr(nh, IFLA_LINKINFO, NULL, 0);
	nl_attr(nh, IFLA_INFO_KIND, "veth", 4);
	data = nl_attr(nh, IFLA_INFO_DATA, NULL, 0);
	peer_nest = nl_attr(nh, VETH_INFO_PEER, &peer, sizeof(peer));
	nl_attr(nh, IFLA_IFNAME, b, strlen(b) + 1);
	nl_nest_end(nh, peer_nest);
	nl_nest_end(nh, data);
	nl_nest_end(nh, linkinfo);
	if (send(fd, msg, nh->nlmsg_len, 0) == (ssize_t)nh->nlmsg_len &&
	    (n = recv(fd, reply, sizeof(reply), 0)) >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
	    rh->nlmsg_type == NLMSG_ERROR)
		rc = ((struct nlmsgerr *)NLMSG_DATA(rh))->error;
	close(fd);
	return rc;
}

/* if_mac() - the MAC address of interface @name; returns 0 or -1 */
static int if_mac(const char *name, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	rc = fd >= 0 ? ioctl(fd, SIOCGIFHWADDR, &ifr) : -1;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return rc;
}

/* wait_for_file() - poll until @path exists, at most @timeout_ms; returns true when it does */
static bool wait_for_file(const char *path, unsigned timeout_ms)
{
	for (unsigned waited = 0; access(path, F_OK); waited += 10) {
		if (waited >= timeout_ms)
			return false;
		usleep(10 * 1000);
	}
	return true;
}

/* the veth pair of the pkt-* tests: pkt-tx on PKT_A, pkt-rx on PKT_B */
#define PKT_A "nlpkta"
#define PKT_B "nlpktb"

/* pkt_link_up() - pkt-up both ends: without its peer an end has no carrier, then both come up */
static int pkt_link_up(char *bin)
{
	cleanup_free char *a_alone = NULL, *b_up = NULL, *a_up = NULL;
	char *const a_argv[] = { bin, "pkt-up", "--ifname", PKT_A, "--timeout-ms", "200", NULL };
	char *const b_argv[] = { bin, "pkt-up", "--ifname", PKT_B, "--timeout-ms", "5000", NULL };

	CHECK(run_capture(a_argv, &a_alone) == 1);
	CHECK_CONTAINS(a_alone, "error cmd=pkt-up msg=" PKT_A " is up but its link is not, after 200 ms");
	CHECK_CONTAINS(a_alone, "carrier=0 operstate=");
	CHECK(run_capture(b_argv, &b_up) == 0);
	CHECK_CONTAINS(b_up, "ok cmd=pkt-up ifname=" PKT_B);
	CHECK_CONTAINS(b_up, "driver=none bdf=none mtu=1500");
	CHECK_CONTAINS(b_up, "carrier=1 operstate=up");
	CHECK(run_capture(a_argv, &a_up) == 0);
	CHECK_CONTAINS(a_up, "carrier=1 operstate=up");
	test_diag("pkt-up: %s", a_up);
	return TEST_PASS;
}

/* pkt_burst() - pkt-rx --background on B, 1000 frames of 60..1514 bytes by pkt-tx on A, pkt-wait */
static int pkt_burst(char *bin, const char *dir)
{
	cleanup_free char *output = xasprintf("%s/rx.out", dir), *ready = xasprintf("%s/rx.ready", dir);
	cleanup_free char *progress = xasprintf("%s/rx.progress", dir), *progress_text = NULL;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *started = NULL, *sent = NULL, *result = NULL, *ready_text = NULL;
	char src[18];
	uint8_t mac[6];

	CHECK(if_mac(PKT_A, mac) == 0);
	vnic_format_mac(mac, src);
	{
		/* --device: the pkt-* commands must not touch VFIO (this BDF does not exist) */
		char *const argv[] = { bin, "--device", "0000:ff:1f.7", "pkt-rx", "--ifname", PKT_B, "--count", "1000",
				       "--timeout-ms", "20000", "--seed", "7", "--src", src, "--size-min", "60",
				       "--size-max", "1514", "--quiet", "--background", "--output", output,
				       "--ready-file", ready, "--progress", progress, NULL };

		/* a progress file of an earlier receiver must not be taken for this one's */
		CHECK(rundir_write_file(dir, "rx.progress", "received=999\n", &err) == 0);
		CHECK(run_capture(argv, &started) == 0);
	}
	progress_text = read_file_text(progress);
	CHECK(!progress_text || !strcmp(progress_text, "received=0\n"));
	CHECK_CONTAINS(started, "ok cmd=pkt-rx background=1 pid=");
	CHECK((ready_text = read_file_text(ready)) != NULL);	/* there before the command returned */
	CHECK_CONTAINS(ready_text, "ready cmd=pkt-rx ifname=" PKT_B);
	{
		char *const argv[] = { bin, "--device", "0000:ff:1f.7", "pkt-tx", "--ifname", PKT_A, "--count", "1000",
				       "--seed", "7", "--size-min", "60", "--size-max", "1514", "--quiet", NULL };

		CHECK(run_capture(argv, &sent) == 0);
	}
	{
		char *const argv[] = { bin, "pkt-wait", "--output", output, "--timeout-ms", "20000", NULL };

		CHECK(run_capture(argv, &result) == 0);
	}
	test_diag("pkt-tx: %s", sent);
	test_diag("pkt-wait: %s", result);
	CHECK_CONTAINS(sent, "ok cmd=pkt-tx sent=1000 bytes=794021 first_index=0 seed=7");
	CHECK_CONTAINS(result, "ok cmd=pkt-wait received=");
	CHECK_CONTAINS(result, " fg=1000 bad=0 ");
	CHECK_CONTAINS(result, " drops=0 ");
	/* the receiver's last report is the whole count (what the L0 peer's window reads) */
	free(progress_text);
	progress_text = read_file_text(progress);
	CHECK_STR(progress_text, "received=1000\n");
	return TEST_PASS;
}

/* send_raw() - one frame out of interface @ifname from the test itself, as the L0 peer would send it */
static int send_raw(const char *ifname, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(ifname),
				  .sll_halen = 6 };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	ssize_t n;

	if (fd < 0)
		return -1;
	memcpy(to.sll_addr, frame, 6);
	n = sendto(fd, frame, len, 0, (struct sockaddr *)&to, sizeof(to));
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/*
 * pkt_bad_frames() - pkt-rx in the foreground with --ready-file; its own pkt-tx on B must not be seen
 * (PACKET_IGNORE_OUTGOING); from A come a good frame_gen frame, a frame that is not one (`other`, not
 * counted for --count), one with a byte changed at offset 77 and another good one: exit 1, fg=bad diff_at=77
 */
static int pkt_bad_frames(char *bin, const char *dir)
{
	cleanup_free char *ready = xasprintf("%s/bad.ready", dir), *out = NULL, *own = NULL;
	struct frame_spec spec = { .src = { 0x02, 0, 0, 0, 0, 0x01 }, .seed = 3, .size_min = 100, .size_max = 100,
				   .payload = FRAME_PAYLOAD_PATTERN };
	uint8_t frame[100], other[60] = { 0 };
	struct child receiver;
	int rc;

	CHECK(if_mac(PKT_B, spec.dst) == 0);
	{
		char *const argv[] = { bin, "pkt-rx", "--ifname", PKT_B, "--count", "3", "--timeout-ms", "10000",
				       "--seed", "3", "--src", "02:00:00:00:00:01", "--size", "100", "--payload",
				       "pattern", "--ready-file", ready, NULL };

		CHECK(child_start(argv, &receiver) == 0);
	}
	CHECK(wait_for_file(ready, 5000));
	{
		char *const argv[] = { bin, "pkt-tx", "--ifname", PKT_B, "--count", "5", "--seed", "3", "--size",
				       "100", "--payload", "pattern", "--quiet", NULL };

		CHECK(run_capture(argv, &own) == 0);
	}
	memcpy(other, spec.dst, 6);
	memcpy(other + 6, spec.src, 6);
	other[12] = 0x88;
	other[13] = 0xb6;	/* IEEE 802 local experimental ethertype 2 */
	CHECK(frame_gen_build(&spec, 0, frame, sizeof(frame)) == 100 && send_raw(PKT_A, frame, 100) == 0);
	CHECK(send_raw(PKT_A, other, sizeof(other)) == 0);
	CHECK(frame_gen_build(&spec, 1, frame, sizeof(frame)) == 100);
	frame[77] ^= 0xff;
	CHECK(send_raw(PKT_A, frame, 100) == 0);
	CHECK(frame_gen_build(&spec, 2, frame, sizeof(frame)) == 100 && send_raw(PKT_A, frame, 100) == 0);
	rc = child_finish(&receiver, &out);
	test_diag("pkt-rx: %s", out);
	CHECK(rc == 1);
	CHECK_CONTAINS(out, "len=100 pkttype=host crc32=");
	CHECK_CONTAINS(out, "fg=ok index=0\n");
	CHECK_CONTAINS(out, "len=60 pkttype=host crc32=");
	CHECK_CONTAINS(out, "fg=none\n");
	CHECK_CONTAINS(out, "fg=bad index=1 diff_at=77\n");
	CHECK_CONTAINS(out, "fg=ok index=2\n");
	CHECK_CONTAINS(out, "error cmd=pkt-rx msg=1 frames differ from frame_gen; first: index 1 at offset 77; "
			    "received=");
	CHECK_CONTAINS(out, " fg=3 bad=1 ");
	return TEST_PASS;
}

/* pkt_too_few() - fewer frame_gen frames than --count within --timeout-ms is an error */
static int pkt_too_few(char *bin)
{
	cleanup_free char *out = NULL;
	char *const argv[] = { bin, "pkt-rx", "--ifname", PKT_B, "--count", "5", "--timeout-ms", "300", "--quiet",
			       NULL };

	CHECK(run_capture(argv, &out) == 1);
	CHECK_CONTAINS(out, "error cmd=pkt-rx msg=pkt-rx got 0 of 5 frame_gen frames on " PKT_B " in ");
	CHECK_CONTAINS(out, "(--timeout-ms); received=");
	return TEST_PASS;
}

/* pkt_in_netns() - the pkt-* steps, in a network namespace that holds the veth pair */
static int pkt_in_netns(char *bin)
{
	char dir[] = "/tmp/nestlab-pkt-XXXXXX";
	cleanup_free char *rm = NULL;
	int rc = veth_create(PKT_A, PKT_B);

	if (rc < 0)
		return test_skip("cannot create a veth pair: %s (CONFIG_VETH?)", strerror(-rc));
	CHECK(mkdtemp(dir) != NULL);
	rc = pkt_link_up(bin);
	if (rc == TEST_PASS)
		rc = pkt_burst(bin, dir);
	if (rc == TEST_PASS)
		rc = pkt_bad_frames(bin, dir);
	if (rc == TEST_PASS)
		rc = pkt_too_few(bin);
	rm = xasprintf("%s/rx.out", dir);
	unlink(rm);
	free(rm);
	rm = xasprintf("%s/rx.ready", dir);
	unlink(rm);
	free(rm);
	rm = xasprintf("%s/bad.ready", dir);
	unlink(rm);
	rmdir(dir);
	return rc;
}

/*
 * enter_netns() - a new network namespace and, so that /sys/class/net shows its interfaces (pkt-up reads
 * carrier, operstate, driver there), a new mount namespace with its own sysfs, as `ip netns exec` does.
 * Returns 0, or a TEST_SKIP reason.
 */
static int enter_netns(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
		return test_skip("unshare(CLONE_NEWNET | CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || mount("sysfs", "/sys", "sysfs", 0, NULL) < 0)
		return test_skip("a private sysfs for the network namespace: %s", strerror(errno));
	return 0;
}

/* leave_netns() - back to the namespaces in @host_net and @host_mnt and to the directory @cwd */
static int leave_netns(int host_net, int host_mnt, int cwd)
{
	if (setns(host_net, CLONE_NEWNET) < 0 || setns(host_mnt, CLONE_NEWNS) < 0 || fchdir(cwd) < 0) {
		test_diag("back to the host's namespaces: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * test_program_pkt_veth() - pkt-up, pkt-tx, pkt-rx, pkt-wait end to end over a veth pair. Needs root:
 * this process moves into new network and mount namespaces (its children follow) and back at the end
 * (setns of a mount namespace also moves the working directory, hence @cwd), so the host's interfaces and
 * mounts are never touched; the namespaces and the veth pair go away with the last process in them.
 */
static int test_program_pkt_veth(void)
{
	cleanup_free char *bin = vfio_nic_bin();
	cleanup_close int host_net = -1, host_mnt = -1, cwd = -1;
	int rc;

	if (access(bin, X_OK))
		return test_skip("%s not built", bin);
	if (geteuid() != 0)
		return test_skip("needs root: a network namespace with a veth pair");
	host_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	host_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (host_net < 0 || host_mnt < 0 || cwd < 0)
		return test_skip("/proc/self/ns/{net,mnt} or the working directory: %s", strerror(errno));
	rc = enter_netns();
	if (rc == 0)
		rc = pkt_in_netns(bin);
	if (leave_netns(host_net, host_mnt, cwd) < 0)
		rc = TEST_FAIL;
	return rc;
}

static const struct test_case tests[] = {
	TEST_CASE(test_ring_math),
	TEST_CASE(test_ring_rx_refill_invariant),
	TEST_CASE(test_desc_advanced),
	TEST_CASE(test_desc_legacy),
	TEST_CASE(test_parse_tx),
	TEST_CASE(test_parse_other_commands),
	TEST_CASE(test_parse_errors),
	TEST_CASE(test_split_line),
	TEST_CASE(test_mac_and_numbers),
	TEST_CASE(test_help_lists_every_command),
	TEST_CASE(test_program_udp_roundtrip),
	TEST_CASE(test_program_errors_are_lines),
	TEST_CASE(test_program_pkt_errors),
	TEST_CASE(test_program_pkt_veth),
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
