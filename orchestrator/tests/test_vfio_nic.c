/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_vfio_nic.c - unit tests for the pure parts of nestlab-vfio-nic: ring index math and descriptor
 * encoding (vnic_ring.c), the command parser (vnic_cmd.c); and the built program's host-side commands
 * end to end (udp-send to udp-recv over loopback, byte-exact), which need no device
 *
 * The driver itself needs a NIC behind an IOMMU bound to vfio-pci: it is tested in a guest, see
 * docs/vfio-nic.md ("Device test").
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* run_capture() - run argv, its stdout into a new string; returns the exit status or -1 */
static int run_capture(char *const argv[], char **out)
{
	struct strbuf sb = STRBUF_INIT;
	int pipefd[2], status;
	char buf[4096];
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	close(pipefd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		strbuf_release(&sb);
		return -1;
	}
	strbuf_puts(&sb, "");
	while (sb.len && sb.str[sb.len - 1] == '\n')
		sb.str[--sb.len] = '\0';
	*out = strbuf_detach(&sb);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
	int port = free_udp_port(), pipefd[2], status;
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	pid_t pid;

	if (access(bin, X_OK))
		return test_skip("%s not built", bin);
	CHECK(port > 0);
	snprintf(bind_arg, sizeof(bind_arg), "127.0.0.1:%d", port);
	snprintf(remote_arg, sizeof(remote_arg), "127.0.0.1:%d", port);
	CHECK(pipe(pipefd) == 0);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(bin, bin, "udp-recv", "--bind", bind_arg, "--count", "200", "--timeout-ms", "10000",
		      "--seed", "9", "--size-min", "60", "--size-max", "1514", "--quiet", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	usleep(200 * 1000);	/* let it bind */
	{
		char *const send_argv[] = { bin, "udp-send", "--remote", remote_arg, "--count", "200",
					   "--seed", "9", "--gap-us", "200", "--quiet", NULL };

		CHECK(run_capture(send_argv, &send_out) == 0);
	}
	while ((n = read(pipefd[0], buf, sizeof(buf))) > 0)
		strbuf_add(&sb, buf, (size_t)n);
	close(pipefd[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	strbuf_puts(&sb, "");
	while (sb.len && sb.str[sb.len - 1] == '\n')
		sb.str[--sb.len] = '\0';
	recv_out = strbuf_detach(&sb);
	test_diag("udp-send: %s", send_out);
	test_diag("udp-recv: %s", recv_out);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
};

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return test_main(tests, ARRAY_SIZE(tests));
}
