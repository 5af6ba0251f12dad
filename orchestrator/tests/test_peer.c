/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_peer.c - unit tests for peer.c: the traffic peer on real unix datagram sockets
 *
 * Two peers in one supervisor loop exchange frames as QEMU's dgram netdev would carry them; a plain unix
 * datagram socket plays the NIC where a test needs to craft frames (ARP, ICMP, garbage) or read
 * replies. The window is tested against a fake receiver in a child process (the process boundary): it
 * takes datagrams into a small ring that it empties only when the wire has been quiet for a while, as
 * a slowed L2 does, reports progress in a file the way nestlab-vfio-nic --progress does, and drops what
 * does not fit its ring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "peer.h"
#include "rundir.h"
#include "test.h"

#define MAC_A { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }
#define MAC_B { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 }

static const uint8_t mac_a[6] = MAC_A, mac_b[6] = MAC_B;

/* stream() - frame_gen frames from @src to @dst, random sizes 60..1514 and payload */
static struct frame_spec stream(const uint8_t *src, const uint8_t *dst, uint32_t seed)
{
	struct frame_spec s = { .seed = seed, .size_min = 60, .size_max = 1514, .payload = FRAME_PAYLOAD_RANDOM };

	memcpy(s.src, src, 6);
	memcpy(s.dst, dst, 6);
	return s;
}

static char sock_dir[] = "/tmp/nestlab-test-peer-XXXXXX";	/* mkdtemp() in main() */
static unsigned sock_counter;

/* sock_path() - a fresh socket path in this test's directory; caller frees */
static char *sock_path(const char *what)
{
	return xasprintf("%s/%s-%u.sock", sock_dir, what, sock_counter++);
}

/* open_pair() - peers A (10.0.0.1) and B (10.0.0.2) wired to each other, @n frames expected each way */
static int open_pair(struct loop *loop, struct peer *a, struct peer *b, uint32_t n)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *path_a = sock_path("a"), *path_b = sock_path("b");
	struct peer_config ca = { .name = "peer A", .mac = MAC_A, .sock_path = path_a, .tx = stream(mac_a, mac_b, 11),
				  .rx = stream(mac_b, mac_a, 22), .rx_expected = n };
	struct peer_config cb = { .name = "peer B", .mac = MAC_B, .ip = "10.0.0.2", .sock_path = path_b,
				  .tx = stream(mac_b, mac_a, 22), .rx = stream(mac_a, mac_b, 11), .rx_expected = n };

	if (peer_open(a, loop, &ca, &err) < 0 || peer_open(b, loop, &cb, &err) < 0 ||
	    peer_set_remote(a, path_b, &err) < 0 || peer_set_remote(b, path_a, &err) < 0) {
		test_diag("open_pair: %s", err->msg);
		return -1;
	}
	return 0;
}

/* both_done() - loop predicate over two peers */
static bool both_done(void *opaque)
{
	struct peer *p = opaque;

	return peer_done(&p[0]) && peer_done(&p[1]);
}

/* two peers exchange 1000 frames each way, byte-exact, random sizes 60..1514 */
static int test_exchange_1000(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	struct peer p[2] = { PEER_INIT, PEER_INIT };
	int ret = TEST_FAIL;
	uint64_t t0 = now_ms();

	if (loop_init(&loop, &err) < 0 || open_pair(&loop, &p[0], &p[1], 1000) < 0)
		goto out;
	if (peer_send_frames(&p[0], 0, 1000, &err) < 0 || peer_send_frames(&p[1], 0, 1000, &err) < 0 ||
	    loop_run_until(&loop, both_done, p, 10000, &err) < 0) {
		cleanup_free char *a = peer_stats_format(&p[0]), *b = peer_stats_format(&p[1]);

		test_diag("exchange: %s\n  A: %s\n  B: %s", err->msg, a, b);
		goto out;
	}
	test_diag("1000 frames each way in %llu ms", (unsigned long long)(now_ms() - t0));
	for (int i = 0; i < 2; i++) {
		const struct peer_stats *st = &p[i].stats;

		if (st->tx_frames != 1000 || st->rx_verified != 1000 || st->rx_mismatched || st->rx_duplicates ||
		    st->rx_other || st->rx_foreign || st->last_rx_index != 999 || st->last_tx_index != 999) {
			cleanup_free char *s = peer_stats_format(&p[i]);

			test_diag("peer %d: %s", i, s);
			goto out;
		}
	}
	ret = TEST_PASS;
out:
	peer_release(&p[0]);
	peer_release(&p[1]);
	return ret;
}

/* a corrupted, a truncated and a duplicated frame are reported with their index and offset */
static int test_corrupted_frame(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	struct peer p[2] = { PEER_INIT, PEER_INIT };
	struct frame_spec s = stream(mac_a, mac_b, 11);
	uint8_t frame[FRAME_GEN_MAX_LEN];
	size_t len;
	int ret = TEST_FAIL;

	if (loop_init(&loop, &err) < 0 || open_pair(&loop, &p[0], &p[1], 10) < 0)
		goto out;
	/* frames 0..9 of A are what B expects: send 5 corrupted at offset 100, 6 cut short, 3 twice */
	for (uint32_t i = 0; i < 10; i++) {
		len = frame_gen_build(&s, i, frame, sizeof(frame));
		if (i == 5)
			frame[100] ^= 0x40;
		if (i == 6)
			len = 70;
		if (peer_send_raw(&p[0], frame, len, &err) < 0)
			goto out;
		if (i == 3 && peer_send_raw(&p[0], frame, len, &err) < 0)
			goto out;
	}
	if (loop_run_until(&loop, NULL, NULL, 200, &err) < 0 && err->errnum != ETIMEDOUT)
		goto out;
	nl_error_release(&err);
	{
		const struct peer_stats *st = &p[1].stats;
		const struct peer_mismatch *m = &st->first_mismatch;
		cleanup_free char *text = peer_stats_format(&p[1]);

		test_diag("B: %s", text);
		CHECK(st->rx_test_frames == 11 && st->rx_verified == 8 && st->rx_mismatched == 2);
		CHECK(st->rx_duplicates == 1);
		CHECK(st->mismatch_seen && m->index == 5 && m->offset == 100);
		len = frame_gen_build(&s, 5, frame, sizeof(frame));
		CHECK(m->len == len && m->expected_len == len);
		CHECK(m->expected == frame[100] && m->got == (frame[100] ^ 0x40));
		CHECK_CONTAINS(text, "first mismatch: frame 5 at offset 100");
		CHECK(m->seed == 11);
		CHECK(!peer_rx_complete(&p[1]));
	}
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	peer_release(&p[0]);
	peer_release(&p[1]);
	return ret;
}

/* nic_socket() - a plain unix datagram socket playing QEMU's side, bound to a new path (*@path) */
static int nic_socket(char **path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	*path = sock_path("nic");
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", *path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	return fd;
}

/*
 * send_to_peer() - one datagram from @fd to the peer; while the peer's queue is full (a unix datagram
 * waits for room instead of being dropped) the loop runs, so that the peer reads. errno is set when the
 * kernel refused it.
 */
static bool send_to_peer(struct loop *loop, int fd, const struct peer *peer, const void *data, size_t len)
{
	struct sockaddr_un to = { .sun_family = AF_UNIX };

	snprintf(to.sun_path, sizeof(to.sun_path), "%s", peer_sock_path(peer));
	for (int i = 0; i < 500; i++) {
		cleanup_error nl_error_t err = NULL;

		if (sendto(fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len)
			return true;
		if (errno != EAGAIN)
			return false;
		loop_run_until(loop, NULL, NULL, 10, &err);
	}
	return false;
}

/* wait_reply() - run the loop in 10 ms steps until a datagram arrives on @fd, at most @max_ms; or -1 */
static ssize_t wait_reply(struct loop *loop, int fd, uint8_t *buf, size_t size, int max_ms)
{
	cleanup_error nl_error_t err = NULL;

	for (int i = 0; i < max_ms / 10; i++) {
		ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);

		if (n >= 0)
			return n;
		loop_run_until(loop, NULL, NULL, 10, &err);
		nl_error_release(&err);
	}
	return -1;
}

/* checksum() - RFC 1071 over @len bytes: 0 when a block with its checksum field is valid */
static uint16_t checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* open_nic_and_peer() - the peer at 10.0.0.1 and a NIC socket wired to it */
static int open_nic_and_peer(struct loop *loop, struct peer *peer, int *nic)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *path = sock_path("peer"), *nic_path = NULL;
	struct peer_config cfg = { .name = "peer", .log_path = NULL, .sock_path = path };

	*nic = nic_socket(&nic_path);
	if (*nic < 0 || loop_init(loop, &err) < 0 || peer_open(peer, loop, &cfg, &err) < 0 ||
	    peer_set_remote(peer, nic_path, &err) < 0) {
		test_diag("set-up: %s", err ? err->msg : strerror(errno));
		return -1;
	}
	return 0;
}

/* an ARP request for 10.0.0.1 gets a well-formed reply; one for another address none */
static int test_arp_reply(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	cleanup_close int nic = -1;
	static const uint8_t l2_mac[6] = MAC_B, peer_mac[6] = MAC_A;
	uint8_t req[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 0x08, 0x06,
			    0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 10, 0, 0, 2,
			    0, 0, 0, 0, 0, 0, 10, 0, 0, 1 };
	uint8_t reply[2048];
	ssize_t n;

	if (open_nic_and_peer(&loop, &peer, &nic) < 0)
		return TEST_FAIL;
	CHECK(send_to_peer(&loop, nic, &peer, req, sizeof(req)));
	n = wait_reply(&loop, nic, reply, sizeof(reply), 2000);
	CHECK(n == 60);
	CHECK(!memcmp(reply, l2_mac, 6) && !memcmp(reply + 6, peer_mac, 6));
	CHECK(reply[12] == 0x08 && reply[13] == 0x06);
	CHECK(!memcmp(reply + 14, "\x00\x01\x08\x00\x06\x04\x00\x02", 8));	/* Ethernet/IPv4, op reply */
	CHECK(!memcmp(reply + 22, peer_mac, 6) && !memcmp(reply + 28, "\x0a\x00\x00\x01", 4));
	CHECK(!memcmp(reply + 32, l2_mac, 6) && !memcmp(reply + 38, "\x0a\x00\x00\x02", 4));
	CHECK(peer.stats.arp_requests == 1 && peer.stats.arp_replies == 1);
	/* who-has 10.0.0.9: not ours, no reply */
	req[41] = 9;
	CHECK(send_to_peer(&loop, nic, &peer, req, sizeof(req)));
	CHECK(wait_reply(&loop, nic, reply, sizeof(reply), 150) < 0);
	CHECK(peer.stats.arp_replies == 1 && peer.stats.rx_other == 1);
	return TEST_PASS;
}

/* build_echo() - an ICMP echo request 10.0.0.2 -> @dst_ip with @payload_len bytes; returns the length */
static size_t build_echo(uint8_t *f, uint8_t dst_last, size_t payload_len)
{
	static const uint8_t hdr[14] = { 0x02, 0, 0, 0, 0, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 0x08, 0x00 };
	uint8_t *ip = f + 14, *icmp = ip + 20;
	size_t icmp_len = 8 + payload_len;

	memcpy(f, hdr, 14);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + icmp_len) >> 8);
	ip[3] = (uint8_t)(20 + icmp_len);
	ip[4] = 0x12;
	ip[5] = 0x34;
	ip[6] = 0x40;	/* DF */
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, "\x0a\x00\x00\x02", 4);
	memcpy(ip + 16, "\x0a\x00\x00\x00", 4);
	ip[19] = dst_last;
	ip[10] = ip[11] = 0;
	{
		uint16_t c = checksum(ip, 20);

		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	memset(icmp, 0, 8);
	icmp[0] = 8;
	icmp[4] = 0xbe;
	icmp[5] = 0xef;	/* id */
	icmp[7] = 3;	/* seq */
	for (size_t i = 0; i < payload_len; i++)
		icmp[8 + i] = (uint8_t)(i * 7);
	{
		uint16_t c = checksum(icmp, icmp_len);

		icmp[2] = (uint8_t)(c >> 8);
		icmp[3] = (uint8_t)c;
	}
	return 14 + 20 + icmp_len;
}

/* an ICMP echo request gets a well-formed reply with the same id, sequence and data */
static int test_icmp_echo(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	cleanup_close int nic = -1;
	uint8_t req[1514], reply[2048];
	size_t len;
	ssize_t n;
	const uint8_t *ip = reply + 14, *icmp = reply + 34;

	if (open_nic_and_peer(&loop, &peer, &nic) < 0)
		return TEST_FAIL;
	len = build_echo(req, 1, 56);
	CHECK(send_to_peer(&loop, nic, &peer, req, len));
	n = wait_reply(&loop, nic, reply, sizeof(reply), 2000);
	CHECK(n == (ssize_t)len);
	CHECK(!memcmp(reply, req + 6, 6) && !memcmp(reply + 6, req, 6) && reply[12] == 0x08 && reply[13] == 0);
	CHECK(ip[0] == 0x45 && ((ip[2] << 8) | ip[3]) == 20 + 64 && ip[9] == 1 && ip[8] > 0);
	CHECK(checksum(ip, 20) == 0);
	CHECK(!memcmp(ip + 12, "\x0a\x00\x00\x01", 4) && !memcmp(ip + 16, "\x0a\x00\x00\x02", 4));
	CHECK(icmp[0] == 0 && icmp[1] == 0 && checksum(icmp, 64) == 0);
	CHECK(!memcmp(icmp + 4, req + 38, 4 + 56));	/* id, seq, data */
	CHECK(peer.stats.icmp_echo_requests == 1 && peer.stats.icmp_echo_replies == 1);
	/* a short echo is padded to 60 bytes */
	len = build_echo(req, 1, 0);
	CHECK(send_to_peer(&loop, nic, &peer, req, len));
	CHECK(wait_reply(&loop, nic, reply, sizeof(reply), 2000) == 60);
	/* bad checksum, another destination: ignored */
	len = build_echo(req, 1, 8);
	req[40] ^= 1;
	CHECK(send_to_peer(&loop, nic, &peer, req, len));
	len = build_echo(req, 7, 8);
	CHECK(send_to_peer(&loop, nic, &peer, req, len));
	CHECK(wait_reply(&loop, nic, reply, sizeof(reply), 150) < 0);
	CHECK(peer.stats.icmp_echo_replies == 2 && peer.stats.rx_other == 2);
	return TEST_PASS;
}

/* peer A pings peer B (10.0.0.2), which answers: the ping path both ways */
static int test_ping_between_peers(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	struct peer p[2] = { PEER_INIT, PEER_INIT };
	int ret = TEST_FAIL;

	if (loop_init(&loop, &err) < 0 || open_pair(&loop, &p[0], &p[1], 0) < 0)
		goto out;
	for (uint16_t seq = 1; seq <= 3; seq++)
		if (peer_send_ping(&p[0], "10.0.0.2", mac_b, 7, seq, &err) < 0)
			goto out;
	for (int i = 0; i < 50 && p[0].stats.ping_replies < 3; i++) {
		loop_run_until(&loop, NULL, NULL, 10, &err);
		nl_error_release(&err);
	}
	if (p[0].stats.ping_replies != 3 || p[1].stats.icmp_echo_replies != 3) {
		cleanup_free char *a = peer_stats_format(&p[0]);

		test_diag("A: %s", a);
		goto out;
	}
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	peer_release(&p[0]);
	peer_release(&p[1]);
	return ret;
}

/* garbage of every length and datagrams from a foreign address: counted, never a crash */
static int test_garbage_and_foreign(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_close int nic = -1, stranger = -1;
	cleanup_free char *stranger_path = NULL;
	uint8_t junk[9000], reply[2048];
	uint64_t rng = 0x12345678;

	if (open_nic_and_peer(&loop, &peer, &nic) < 0)
		return TEST_FAIL;
	stranger = nic_socket(&stranger_path);
	CHECK(stranger >= 0);
	for (size_t len = 0; len < 200; len++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			junk[i] = (uint8_t)(rng >> 56);
		}
		/* every few: look like ARP, IPv4 to us (with absurd header lengths), or a test frame */
		if (len % 4 == 1 && len > 14) {
			junk[12] = 0x08;
			junk[13] = 0x06;
		} else if (len % 4 == 2 && len > 34) {
			junk[12] = 0x08;
			junk[13] = 0x00;
			junk[14] = 0x4f;
			memcpy(junk + 30, "\x0a\x00\x00\x01", 4);
			memset(junk, 0xff, 6);
		} else if (len % 4 == 3 && len > 34) {
			junk[12] = 0x88;
			junk[13] = 0xb5;
			memcpy(junk + 14, "NLFG", 4);
			junk[33] = FRAME_GEN_VERSION;
		}
		CHECK(send_to_peer(&loop, nic, &peer, junk, len % 4 == 0 ? len * 45 : len));
	}
	/* before the peer connects to the NIC, the stranger's datagram arrives and is dropped as foreign */
	CHECK(send_to_peer(&loop, stranger, &peer, junk, 100));
	/* a jumbo ICMP echo to us: not answered (the reply would not fit a standard frame) */
	{
		size_t len = build_echo(junk, 1, 3000);

		CHECK(send_to_peer(&loop, nic, &peer, junk, len));
	}
	wait_reply(&loop, nic, reply, sizeof(reply), 150);
	CHECK(peer.stats.rx_datagrams == 201 && peer.stats.rx_foreign == 1);
	CHECK(peer.stats.rx_verified == 0 && peer.stats.icmp_echo_replies == 0);
	/* connected, the kernel refuses anyone but the NIC's socket */
	CHECK(peer_connect_remote(&peer, &err) == 0);
	CHECK(!send_to_peer(&loop, stranger, &peer, junk, 100) && errno == EPERM);
	CHECK(send_to_peer(&loop, nic, &peer, junk, 100));
	unlink(stranger_path);
	return TEST_PASS;
}

/* pacing: batches of 10 every 5 ms; all 50 frames arrive, and it takes at least 4 intervals */
static int test_paced_send(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	struct peer p[2] = { PEER_INIT, PEER_INIT };
	cleanup_free char *path_a = sock_path("paced"), *path_b = sock_path("receiver");
	struct peer_config ca = { .name = "paced", .sock_path = path_a, .tx = stream(mac_a, mac_b, 5), .tx_batch = 10,
				  .tx_interval_ms = 5 };
	struct peer_config cb = { .name = "receiver", .mac = MAC_B, .sock_path = path_b, .rx = stream(mac_a, mac_b, 5),
				  .rx_expected = 50 };
	int ret = TEST_FAIL;
	uint64_t t0;

	if (loop_init(&loop, &err) < 0 || peer_open(&p[0], &loop, &ca, &err) < 0 ||
	    peer_open(&p[1], &loop, &cb, &err) < 0 || peer_set_remote(&p[0], path_b, &err) < 0 ||
	    peer_set_remote(&p[1], path_a, &err) < 0)
		goto out;
	t0 = now_ms();
	if (peer_send_frames(&p[0], 0, 50, &err) < 0 || loop_run_until(&loop, peer_rx_complete, &p[1], 5000, &err) < 0)
		goto out;
	CHECK(now_ms() - t0 >= 20);
	CHECK(peer_tx_done(&p[0]) && p[1].stats.rx_verified == 50);
	ret = TEST_PASS;
out:
	if (err)
		test_diag("%s", err->msg);
	peer_release(&p[0]);
	peer_release(&p[1]);
	return ret;
}

/*
 * the log names events; the socket is removed at release; sending before set_remote is an error; a
 * path too long for a unix socket, or taken by something that is not a socket, is an error
 */
static int test_log_and_socket(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	cleanup_free char *log = xasprintf("%s/peer.log", sock_dir), *text = NULL, *path = sock_path("log");
	cleanup_free char *file = xasprintf("%s/plain-file", sock_dir);
	char long_path[200];

	{
		struct peer_config cfg = { .log_path = log, .sock_path = path };

		CHECK(loop_init(&loop, &err) == 0 && peer_open(&peer, &loop, &cfg, &err) == 0);
	}
	CHECK_STR(peer_sock_path(&peer), path);
	CHECK(access(path, F_OK) == 0);
	CHECK(peer_send_frames(&peer, 0, 1, &err) < 0);
	CHECK_CONTAINS(err->msg, "not set");
	nl_error_release(&err);
	CHECK(peer_set_remote(&peer, "", &err) < 0);
	nl_error_release(&err);
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	CHECK(peer_set_remote(&peer, long_path, &err) < 0);
	CHECK_CONTAINS(err->msg, "shorter run directory");
	nl_error_release(&err);
	/* the NIC's socket is not there: connecting says so */
	CHECK(peer_set_remote(&peer, file, &err) == 0);
	CHECK(peer_connect_remote(&peer, &err) < 0);
	CHECK_CONTAINS(err->msg, "QEMU binds it");
	nl_error_release(&err);
	{
		struct peer_config bad = { .ip = "10.0.0", .sock_path = path };
		struct peer other = PEER_INIT;

		CHECK(peer_open(&other, &loop, &bad, &err) < 0);
		CHECK_CONTAINS(err->msg, "dotted quad");
		peer_release(&other);
		nl_error_release(&err);
	}
	{
		struct peer_config on_file = { .sock_path = file };
		struct peer other = PEER_INIT;

		CHECK(rundir_write_file(sock_dir, "plain-file", "x", &err) == 0);
		CHECK(peer_open(&other, &loop, &on_file, &err) < 0);
		CHECK_CONTAINS(err->msg, "bind");
		peer_release(&other);
		nl_error_release(&err);
		unlink(file);
	}
	peer_release(&peer);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	text = read_file_text(log);
	CHECK_CONTAINS(text, "listening on /tmp/nestlab-test-peer-");
	CHECK_CONTAINS(text, "final: tx 0 frames");
	unlink(log);
	return TEST_PASS;
}

/* ---- the window, against a fake receiver in a child process ---------------------------------- */

#define FAKE_RING 16		/* the fake receiver's ring: what it holds before it must drop */
#define FAKE_QUIET_MS 20	/* it empties its ring once the wire has been quiet this long */
#define FAKE_IDLE_END_MS 1500	/* it ends after this long without a frame */
#define WINDOW_FRAMES 300

struct fake {
	pid_t pid;
	char *sock, *progress, *result;
};

/* fake_report() - "received=N" into @path through PATH.tmp and rename(), as nestlab-vfio-nic does */
static void fake_report(const char *path, unsigned received)
{
	char tmp[512], line[64];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(line, sizeof(line), "received=%u\n", received);
	f = fopen(tmp, "w");
	if (f && fputs(line, f) >= 0 && fclose(f) == 0)
		rename(tmp, path);
}

/*
 * fake_receiver() - the child: read every datagram at once into a ring of FAKE_RING; a datagram that
 * finds the ring full is dropped (an overrun). The ring is emptied (each frame verified against @spec)
 * when nothing came for FAKE_QUIET_MS, and the count reported, unless @stall (it then never reports).
 * At the end (@count verified, or FAKE_IDLE_END_MS without a frame) "received= dropped= bad=" goes to
 * the result file. Never returns.
 */
static void fake_receiver(const struct fake *f, const struct frame_spec *spec, unsigned count, bool stall)
{
	static uint8_t ring[FAKE_RING][FRAME_GEN_MAX_LEN];
	size_t lens[FAKE_RING];
	unsigned held = 0, received = 0, dropped = 0, bad = 0;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	uint64_t last = now_ms();
	char line[128];

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->sock);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		_exit(2);
	fake_report(f->progress, 0);
	while (received < count && now_ms() - last < FAKE_IDLE_END_MS) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint8_t buf[FRAME_GEN_MAX_LEN + 1];

		if (poll(&pfd, 1, FAKE_QUIET_MS) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			if (n < 0)
				continue;
			last = now_ms();
			if (held == FAKE_RING) {
				dropped++;
				continue;
			}
			memcpy(ring[held], buf, (size_t)n);
			lens[held++] = (size_t)n;
			continue;
		}
		if (stall || !held)
			continue;
		for (unsigned i = 0; i < held; i++) {
			struct frame_header hdr;

			if (frame_gen_parse(ring[i], lens[i], &hdr) < 0 ||
			    frame_gen_verify(spec, hdr.index, ring[i], lens[i]) >= 0)
				bad++;
			received++;
		}
		held = 0;
		fake_report(f->progress, received);
	}
	snprintf(line, sizeof(line), "received=%u dropped=%u bad=%u\n", received, dropped, bad);
	fake_report(f->result, 0);	/* make sure the path is writable, then the real line */
	{
		FILE *out = fopen(f->result, "w");

		if (out) {
			fputs(line, out);
			fclose(out);
		}
	}
	_exit(0);
}

/* fake_start() - fork the fake receiver listening on a new socket */
static int fake_start(struct fake *f, const struct frame_spec *spec, unsigned count, bool stall)
{
	f->sock = sock_path("fake");
	f->progress = xasprintf("%s.progress", f->sock);
	f->result = xasprintf("%s.result", f->sock);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0)
		fake_receiver(f, spec, count, stall);
	for (int i = 0; i < 500 && access(f->progress, F_OK) < 0; i++)
		usleep(10000);
	return access(f->progress, F_OK);
}

/* fake_finish() - wait for the child (killed when @kill_it) and read its result line; caller frees */
static char *fake_finish(struct fake *f, bool kill_it)
{
	char *text;
	int status;

	if (kill_it)
		kill(f->pid, SIGKILL);
	waitpid(f->pid, &status, 0);
	text = read_file_text(f->result);
	unlink(f->sock);
	unlink(f->progress);
	unlink(f->result);
	free(f->sock);
	free(f->progress);
	free(f->result);
	return text;
}

/* fake_progress() - peer_progress_fn: the child's progress file, as the run reads L2's */
static int fake_progress(void *opaque, uint64_t *received, nl_error_t *err)
{
	const struct fake *f = opaque;
	cleanup_free char *text = read_file_text(f->progress);

	if (!text || strncmp(text, "received=", 9))
		return nl_error(err, EPROTO, "progress file %s: %s", f->progress, text ? text : strerror(errno));
	*received = strtoull(text + 9, NULL, 10);
	return 0;
}

/* window_peer() - a peer sending the fake's stream to its socket */
static int window_peer(struct loop *loop, struct peer *peer, const struct fake *f, const struct frame_spec *spec,
		       nl_error_t *err)
{
	cleanup_free char *path = sock_path("sender");
	struct peer_config cfg = { .name = "sender", .sock_path = path, .tx = *spec };

	if (loop_init(loop, err) < 0 || peer_open(peer, loop, &cfg, err) < 0 || peer_set_remote(peer, f->sock, err) < 0)
		return -1;
	return 0;
}

/*
 * test_window_slow_receiver() - 300 frames to a receiver that takes 16 at a time and only when the wire
 * is quiet: with a window of 16 every frame arrives byte-exact, none is dropped; it is slower, not wrong
 */
static int test_window_slow_receiver(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	cleanup_free char *result = NULL;
	struct frame_spec spec = stream(mac_a, mac_b, 31);
	struct fake f = { 0 };
	struct peer_window w = { .frames = FAKE_RING, .progress = fake_progress, .opaque = &f, .poll_ms = 10,
				 .timeout_ms = 60000 };
	uint64_t t0 = now_ms();

	CHECK(fake_start(&f, &spec, WINDOW_FRAMES, false) == 0);
	if (window_peer(&loop, &peer, &f, &spec, &err) < 0 || peer_send_windowed(&peer, 0, WINDOW_FRAMES, &w, &err) < 0) {
		test_diag("%s", err->msg);
		free(fake_finish(&f, true));
		return TEST_FAIL;
	}
	result = fake_finish(&f, false);
	test_diag("window %u: %.*s in %llu ms; peer: %llu sent", FAKE_RING, (int)strcspn(result ? result : "", "\n"),
		  result ? result : "",
		  (unsigned long long)(now_ms() - t0), (unsigned long long)peer.stats.tx_frames);
	CHECK(peer.stats.tx_frames == WINDOW_FRAMES);
	CHECK_STR(result, "received=300 dropped=0 bad=0\n");
	return TEST_PASS;
}

/*
 * test_no_window_overruns() - the same receiver without a window (what the peer did before): frames
 * are dropped, so the window above is what keeps them all. The sender outruns a receiver that waits
 * for FAKE_QUIET_MS of quiet before it empties 16 slots.
 */
static int test_no_window_overruns(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	cleanup_free char *result = NULL;
	struct frame_spec spec = stream(mac_a, mac_b, 32);
	unsigned received = 0, dropped = 0, bad = 0;
	struct fake f = { 0 };

	CHECK(fake_start(&f, &spec, WINDOW_FRAMES, false) == 0);
	if (window_peer(&loop, &peer, &f, &spec, &err) < 0 || peer_send_frames(&peer, 0, WINDOW_FRAMES, &err) < 0 ||
	    loop_run_until(&loop, peer_tx_done, &peer, 30000, &err) < 0) {
		test_diag("%s", err->msg);
		free(fake_finish(&f, true));
		return TEST_FAIL;
	}
	result = fake_finish(&f, false);
	test_diag("no window: %.*s", (int)strcspn(result ? result : "", "\n"), result ? result : "");
	CHECK(result && sscanf(result, "received=%u dropped=%u bad=%u", &received, &dropped, &bad) == 3);
	CHECK(dropped > 0 && received + dropped == WINDOW_FRAMES && bad == 0);
	return TEST_PASS;
}

/*
 * test_window_stalled_receiver() - a receiver that never reports: the peer stops after one window and
 * the send ends with ETIMEDOUT and a message that says how far it got; a receiver that reports more
 * than was sent gains nothing beyond what was sent (counted)
 */
static int test_window_stalled_receiver(void)
{
	cleanup_error nl_error_t err = NULL;
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_peer struct peer peer = PEER_INIT;
	struct frame_spec spec = stream(mac_a, mac_b, 33);
	struct fake f = { 0 };
	struct peer_window w = { .frames = 8, .progress = fake_progress, .opaque = &f, .poll_ms = 10,
				 .timeout_ms = 300 };

	CHECK(fake_start(&f, &spec, WINDOW_FRAMES, true) == 0);
	CHECK(window_peer(&loop, &peer, &f, &spec, &err) == 0);
	CHECK(peer_send_windowed(&peer, 0, WINDOW_FRAMES, &w, &err) < 0);
	free(fake_finish(&f, true));
	test_diag("%s", err->msg);
	CHECK(err->errnum == ETIMEDOUT);
	CHECK_CONTAINS(err->msg, "reported 0 of 300 frames");
	CHECK(peer.stats.tx_frames == 8 && peer_tx_done(&peer));
	nl_error_release(&err);
	/* an over-reporting receiver: clamped to what was sent */
	peer_set_window(&peer, 8);
	CHECK(peer_send_frames(&peer, 0, 20, &err) == 0);
	CHECK(peer_ack(&peer, 1000000, &err) == 0);
	CHECK(peer.stats.acks_beyond_sent == 1 && peer.tx_acked == 0);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_exchange_1000),
	TEST_CASE(test_corrupted_frame),
	TEST_CASE(test_arp_reply),
	TEST_CASE(test_icmp_echo),
	TEST_CASE(test_ping_between_peers),
	TEST_CASE(test_garbage_and_foreign),
	TEST_CASE(test_paced_send),
	TEST_CASE(test_log_and_socket),
	TEST_CASE(test_window_slow_receiver),
	TEST_CASE(test_no_window_overruns),
	TEST_CASE(test_window_stalled_receiver),
};

int main(void)
{
	int ret;

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(sock_dir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = test_main(tests, ARRAY_SIZE(tests));
	rmdir(sock_dir);
	return ret;
}
