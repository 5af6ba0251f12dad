/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peer.c - the traffic peer on the emulated NIC's UDP wire (see peer.h)
 *
 * Wire: QEMU's dgram netdev (net/dgram.c) sends each frame the guest transmits as one datagram to the
 * remote address and delivers each datagram it receives as one frame; no length header, no FCS. Both
 * ends are unix-domain datagram sockets (unix(7)) in the run directory: the peer binds its path, QEMU
 * binds the NIC's (local.type=unix), and the peer connects its socket to QEMU's once QEMU is up. The
 * paths cannot collide with another run's, and a unix datagram is never dropped for lack of room: a
 * full receiver makes the sender wait. Because the peer is connected to QEMU's socket, the kernel does
 * not cap the peer's receive queue for QEMU's datagrams (only QEMU's send buffer limits them, and
 * QEMU's poll then waits properly), and the peer's EPOLLOUT waits for room in QEMU's queue.
 *
 * Frames the peer understands (all parsing is bounds-checked; anything else is counted):
 *   - test frames (lib/frame_gen: EtherType 0x88b5, "NLFG"): rebuilt from the rx spec and the index in
 *     their header, and compared byte for byte;
 *   - ARP requests for our IPv4 address (RFC 826; Ethernet/IPv4 only): answered with a reply;
 *   - IPv4 (RFC 791) ICMP echo requests to us (RFC 792): answered with an echo reply carrying the same
 *     identifier, sequence number and data; echo replies to our own pings are counted.
 * Checksums are the Internet checksum (RFC 1071); requests with a bad checksum are ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "peer.h"

#define ETH_HDR 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ARP_LEN 28
#define IPV4_MIN_HDR 20
#define ICMP_HDR 8
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define PING_PAYLOAD_BYTES 32
#define RX_PER_CALLBACK 256	/* datagrams read per callback before other registrations get a turn */
#define PEER_RCVBUF_BYTES (4 << 20)

static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- byte order helpers (frames are not aligned) ------------------------------------------------ */

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- logging ------------------------------------------------------------------------------------ */

static void peer_log(struct peer *peer, const char *fmt, ...) PRINTF_FMT(2, 3);
/* peer_log() - "[  12.345] text" in the peer's log, if it has one */
static void peer_log(struct peer *peer, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(peer->log, LOG_STAMP_BRACKETED, peer->t0_ms, fmt, ap);
	va_end(ap);
}

/* ---- Internet checksum (RFC 1071) ----------------------------------------------------------------- */

static uint16_t inet_checksum(const uint8_t *data, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(data + i);
	if (len & 1)
		sum += (uint32_t)data[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- sending ------------------------------------------------------------------------------------ */

/* peer_connect() - connect to the NIC's socket (QEMU binds it when it starts); 0, or -1 with errno */
static int peer_connect(struct peer *peer)
{
	if (peer->connected)
		return 0;
	if (!peer->remote_set) {
		errno = ENOTCONN;
		return -1;
	}
	if (connect(peer->fd, (const struct sockaddr *)&peer->remote, sizeof(peer->remote)) < 0)
		return -1;
	peer->connected = true;
	peer_log(peer, "connected to the NIC at %s", peer->remote.sun_path);
	return 0;
}

/* peer_sendto() - one datagram to the NIC; 0, or -1 with errno (EAGAIN when its queue is full) */
static int peer_sendto(struct peer *peer, const void *data, size_t len)
{
	ssize_t n;

	if (peer_connect(peer) < 0)
		return -1;
	do
		n = send(peer->fd, data, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* peer_send_reply() - send an ARP/ICMP reply padded to the minimum frame length; drops are counted */
static void peer_send_reply(struct peer *peer, uint8_t *frame, size_t len, const char *what)
{
	if (len < FRAME_GEN_ETH_MIN) {
		memset(frame + len, 0, FRAME_GEN_ETH_MIN - len);
		len = FRAME_GEN_ETH_MIN;
	}
	if (peer_sendto(peer, frame, len) < 0) {
		peer->stats.replies_dropped++;
		peer_log(peer, "%s reply dropped: %s", what, strerror(errno));
	}
}

/* peer_want_out() - ask the loop for EPOLLOUT or stop asking */
static int peer_want_out(struct peer *peer, bool want, nl_error_t *err)
{
	if (peer->want_out == want)
		return 0;
	if (loop_modify(peer->loop, peer->io_id, EPOLLIN | (want ? EPOLLOUT : 0), err) < 0)
		return nl_error_wrap(err, "%s", peer->name);
	peer->want_out = want;
	return 0;
}

static int peer_on_tx_timer(struct loop *loop, const struct loop_event *ev, nl_error_t *err);

/*
 * peer_tx_limit() - the end of what may be sent now: the queue's end, or with a window, @tx_window
 * frames past what the receiver reported (tx_first + tx_acked)
 */
static uint32_t peer_tx_limit(const struct peer *peer)
{
	uint64_t limit;

	if (!peer->tx_window)
		return peer->tx_end;
	limit = (uint64_t)peer->tx_first + peer->tx_acked + peer->tx_window;
	return limit < peer->tx_end ? (uint32_t)limit : peer->tx_end;
}

/*
 * peer_tx_batch() - send up to tx_batch queued test frames
 *
 * A full socket (EAGAIN) waits for EPOLLOUT; another send error drops that frame (counted, logged once
 * per batch) so that a missing NIC side cannot stall the run. With pacing, the next batch is a timer.
 */
static int peer_tx_batch(struct peer *peer, nl_error_t *err)
{
	uint32_t limit = peer_tx_limit(peer);
	bool blocked = false;

	for (unsigned n = 0; n < peer->tx_batch && peer->tx_next < limit; n++) {
		size_t len = frame_gen_build(&peer->tx, peer->tx_next, peer->frame, FRAME_GEN_MAX_LEN);

		if (peer_sendto(peer, peer->frame, len) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				blocked = true;
				break;
			}
			peer->stats.tx_errors++;
			peer_log(peer, "tx frame %u dropped: %s", peer->tx_next, strerror(errno));
		} else {
			peer->stats.tx_frames++;
			peer->stats.tx_bytes += len;
			peer->stats.last_tx_index = peer->tx_next;
		}
		peer->tx_next++;
	}
	if (peer->tx_next >= limit)
		return peer_want_out(peer, false, err);	/* all sent, or the window is full: peer_ack() */
	if (peer->tx_interval_ms && !blocked) {
		if (peer_want_out(peer, false, err) < 0)
			return -1;
		peer->tx_timer_id = loop_add_timer(peer->loop, peer->tx_interval_ms, peer_on_tx_timer, peer,
						   "peer tx pacing", err);
		return peer->tx_timer_id ? 0 : nl_error_wrap(err, "%s", peer->name);
	}
	return peer_want_out(peer, true, err);
}

/* peer_on_tx_timer() - pacing tick: the next batch */
static int peer_on_tx_timer(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err)
{
	struct peer *peer = ev->opaque;

	peer->tx_timer_id = 0;
	return peer_tx_batch(peer, err);
}

/* ---- receiving ---------------------------------------------------------------------------------- */

/* peer_handle_test() - check a frame_gen frame against the rx spec, count it, remember the first mismatch */
static void peer_handle_test(struct peer *peer, const uint8_t *frame, size_t len, const struct frame_header *hdr)
{
	struct peer_stats *st = &peer->stats;
	uint32_t index = hdr->index;
	long offset = frame_gen_verify(&peer->rx, index, frame, len);

	st->rx_test_frames++;
	if (offset >= 0) {
		size_t expected_len = frame_gen_build(&peer->rx, index, peer->frame, FRAME_GEN_MAX_LEN);
		struct peer_mismatch m = {
			.index = index, .offset = (size_t)offset, .len = len, .expected_len = expected_len,
			.got = (size_t)offset < len ? frame[offset] : -1,
			.expected = (size_t)offset < expected_len ? peer->frame[offset] : -1, .seed = hdr->seed,
		};

		if (!st->mismatch_seen) {
			st->mismatch_seen = true;
			st->first_mismatch = m;
		}
		if (st->rx_mismatched++ < PEER_LOG_MISMATCHES_MAX)
			peer_log(peer, "rx frame %u (seed %llu) MISMATCH at offset %zu: got %d, expected %d (length %zu, "
				 "expected %zu)", index, (unsigned long long)hdr->seed, m.offset, m.got, m.expected, len, expected_len);
		return;
	}
	if (peer->rx_expected && index >= peer->rx_expected) {
		st->rx_out_of_range++;
		peer_log(peer, "rx frame %u out of range (expected 0..%u)", index, peer->rx_expected - 1);
		return;
	}
	if (peer->rx_seen) {
		uint8_t bit = (uint8_t)(1u << (index % 8));

		if (peer->rx_seen[index / 8] & bit) {
			st->rx_duplicates++;
			return;
		}
		peer->rx_seen[index / 8] |= bit;
	}
	st->rx_verified++;
	st->last_rx_index = index;
}

/* peer_handle_arp() - answer an Ethernet/IPv4 ARP request for our address (RFC 826) */
static bool peer_handle_arp(struct peer *peer, const uint8_t *frame, size_t len)
{
	const uint8_t *arp = frame + ETH_HDR;
	uint8_t reply[FRAME_GEN_ETH_MIN];

	if (len < ETH_HDR + ARP_LEN || get_be16(arp) != 1 || get_be16(arp + 2) != ETHERTYPE_IPV4 || arp[4] != 6 ||
	    arp[5] != 4 || get_be16(arp + 6) != 1 || memcmp(arp + 24, &peer->ip, 4))
		return false;
	peer->stats.arp_requests++;
	memcpy(reply, arp + 8, 6);			/* eth dst: the sender's hardware address */
	memcpy(reply + 6, peer->mac, 6);
	put_be16(reply + 12, ETHERTYPE_ARP);
	memcpy(reply + ETH_HDR, arp, 6);		/* htype, ptype, hlen, plen */
	put_be16(reply + ETH_HDR + 6, 2);		/* op: reply */
	memcpy(reply + ETH_HDR + 8, peer->mac, 6);	/* sha */
	memcpy(reply + ETH_HDR + 14, &peer->ip, 4);	/* spa */
	memcpy(reply + ETH_HDR + 18, arp + 8, 10);	/* tha, tpa: the requester's sha, spa */
	if (peer->stats.arp_replies++ < 4)
		peer_log(peer, "ARP who-has %u.%u.%u.%u from %02x:%02x:%02x:%02x:%02x:%02x: replied", arp[24], arp[25],
			 arp[26], arp[27], arp[8], arp[9], arp[10], arp[11], arp[12], arp[13]);
	peer_send_reply(peer, reply, ETH_HDR + ARP_LEN, "ARP");
	return true;
}

/* peer_handle_ipv4() - answer ICMP echo requests to us, count echo replies; false if not for us */
static bool peer_handle_ipv4(struct peer *peer, const uint8_t *frame, size_t len)
{
	const uint8_t *ip = frame + ETH_HDR;
	size_t ihl, total, icmp_len;
	const uint8_t *icmp;
	uint8_t reply[FRAME_GEN_ETH_MAX];
	uint8_t *rip = reply + ETH_HDR, *ricmp = rip + IPV4_MIN_HDR;

	if (len < ETH_HDR + IPV4_MIN_HDR || ip[0] >> 4 != 4)
		return false;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	total = get_be16(ip + 2);
	if (ihl < IPV4_MIN_HDR || total < ihl + ICMP_HDR || total > len - ETH_HDR || ip[9] != 1 ||
	    memcmp(ip + 16, &peer->ip, 4) || (get_be16(ip + 6) & 0x3fff) || inet_checksum(ip, ihl) != 0)
		return false;
	icmp = ip + ihl;
	icmp_len = total - ihl;
	/* the reply must fit a standard frame: a longer (jumbo or crafted) request is not answered */
	if (ETH_HDR + IPV4_MIN_HDR + icmp_len > sizeof(reply) || inet_checksum(icmp, icmp_len) != 0 || icmp[1] != 0)
		return false;
	if (icmp[0] == ICMP_ECHO_REPLY) {
		peer->stats.ping_replies++;
		peer_log(peer, "ICMP echo reply id %u seq %u", get_be16(icmp + 4), get_be16(icmp + 6));
		return true;
	}
	if (icmp[0] != ICMP_ECHO_REQUEST)
		return false;
	peer->stats.icmp_echo_requests++;
	memcpy(reply, frame + 6, 6);
	memcpy(reply + 6, peer->mac, 6);
	put_be16(reply + 12, ETHERTYPE_IPV4);
	memset(rip, 0, IPV4_MIN_HDR);
	rip[0] = 0x45;
	put_be16(rip + 2, (uint16_t)(IPV4_MIN_HDR + icmp_len));
	memcpy(rip + 4, ip + 4, 2);			/* identification */
	rip[8] = 64;					/* TTL */
	rip[9] = 1;					/* ICMP */
	memcpy(rip + 12, &peer->ip, 4);
	memcpy(rip + 16, ip + 12, 4);
	put_be16(rip + 10, inet_checksum(rip, IPV4_MIN_HDR));
	memcpy(ricmp, icmp, icmp_len);
	ricmp[0] = ICMP_ECHO_REPLY;
	put_be16(ricmp + 2, 0);
	put_be16(ricmp + 2, inet_checksum(ricmp, icmp_len));
	if (peer->stats.icmp_echo_replies++ < 4)
		peer_log(peer, "ICMP echo request from %u.%u.%u.%u id %u seq %u: replied", ip[12], ip[13], ip[14],
			 ip[15], get_be16(icmp + 4), get_be16(icmp + 6));
	peer_send_reply(peer, reply, ETH_HDR + IPV4_MIN_HDR + icmp_len, "ICMP");
	return true;
}

/* peer_handle_frame() - classify one frame from the NIC and act on it */
static void peer_handle_frame(struct peer *peer, const uint8_t *frame, size_t len)
{
	struct frame_header hdr;
	bool handled = false;

	if (frame_gen_parse(frame, len, &hdr) == 0) {
		peer_handle_test(peer, frame, len, &hdr);
		return;
	}
	if (len >= ETH_HDR && (!memcmp(frame, peer->mac, 6) || !memcmp(frame, broadcast_mac, 6))) {
		uint16_t type = get_be16(frame + 12);

		if (type == ETHERTYPE_ARP)
			handled = peer_handle_arp(peer, frame, len);
		else if (type == ETHERTYPE_IPV4)
			handled = peer_handle_ipv4(peer, frame, len);
	}
	if (!handled)
		peer->stats.rx_other++;
}

/* peer_from_nic() - whether a datagram's source address (of @len bytes) is the NIC's socket */
static bool peer_from_nic(const struct peer *peer, const struct sockaddr_un *from, socklen_t len)
{
	size_t base = offsetof(struct sockaddr_un, sun_path), path_len;

	if (!peer->remote_set || len <= base || len > sizeof(*from) || from->sun_family != AF_UNIX)
		return false;
	path_len = strnlen(from->sun_path, len - base);
	return path_len == strlen(peer->remote.sun_path) && !memcmp(from->sun_path, peer->remote.sun_path, path_len);
}

/* peer_receive() - read what is queued (at most RX_PER_CALLBACK datagrams) */
static int peer_receive(struct peer *peer, nl_error_t *err)
{
	for (unsigned n = 0; n < RX_PER_CALLBACK; n++) {
		struct sockaddr_un from;
		struct iovec iov = { peer->buf, PEER_DGRAM_MAX_BYTES };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				      .msg_iovlen = 1 };
		ssize_t len = recvmsg(peer->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);

		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return nl_error(err, errno, "%s: receive", peer->name);
		}
		if (!peer_from_nic(peer, &from, msg.msg_namelen)) {
			if (peer->stats.rx_foreign++ < 4)
				peer_log(peer, "dropped a datagram from a foreign address '%.*s'",
					 (int)sizeof(from.sun_path),
					 msg.msg_namelen > offsetof(struct sockaddr_un, sun_path) ? from.sun_path : "");
			continue;
		}
		peer->stats.rx_datagrams++;
		peer->stats.rx_bytes += (uint64_t)len;
		if ((msg.msg_flags & MSG_TRUNC) || len > PEER_DGRAM_MAX_BYTES) {
			peer->stats.rx_truncated++;
			continue;
		}
		peer_handle_frame(peer, peer->buf, (size_t)len);
	}
	return 0;
}

/* peer_on_io() - the socket's loop callback */
static int peer_on_io(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err)
{
	struct peer *peer = ev->opaque;

	if ((ev->events & (EPOLLIN | EPOLLERR)) && peer_receive(peer, err) < 0)
		return -1;
	if ((ev->events & EPOLLOUT) && peer->tx_next < peer_tx_limit(peer) && !peer->tx_timer_id)
		return peer_tx_batch(peer, err);
	return 0;
}

/* ---- set-up ------------------------------------------------------------------------------------- */

/* unix_address() - @path as a sockaddr_un; -1 when it does not fit sun_path */
static int unix_address(const char *path, struct sockaddr_un *addr, nl_error_t *err)
{
	*addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (!path || !*path)
		return nl_error(err, EINVAL, "no socket path");
	if (snprintf(addr->sun_path, sizeof(addr->sun_path), "%s", path) >= (int)sizeof(addr->sun_path))
		return nl_error(err, ENAMETOOLONG, "socket path %s is %zu bytes, a unix socket allows %zu (use a "
				"shorter run directory)", path, strlen(path), sizeof(addr->sun_path) - 1);
	return 0;
}

/* dgram_bind() - a non-blocking unix datagram socket bound to @path (a stale socket file is replaced) */
static int dgram_bind(const char *path, struct sockaddr_un *bound, nl_error_t *err)
{
	cleanup_close int fd = -1;
	struct stat st;
	int ret;

	if (unix_address(path, bound, err) < 0)
		return -1;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return nl_error(err, errno, "unix datagram socket");
	if (bind(fd, (struct sockaddr *)bound, sizeof(*bound)) < 0)
		return nl_error(err, errno, "bind %s", path);
	ret = fd;
	fd = -1;
	return ret;
}

/* peer_spec_defaults() - the defaults of a frame spec: sizes 60..1514, an all-zero @mac_field = @mac */
static void peer_spec_defaults(struct frame_spec *spec, uint8_t *mac_field, const uint8_t *mac)
{
	static const uint8_t zero_mac[6];

	if (!spec->size_min && !spec->size_max) {
		spec->size_min = FRAME_GEN_ETH_MIN;
		spec->size_max = FRAME_GEN_ETH_MAX;
	}
	if (!memcmp(mac_field, zero_mac, 6))
		memcpy(mac_field, mac, 6);
}

/* peer_config_identity() - MAC, IP and frame specs from the config, with the defaults */
static int peer_config_identity(struct peer *peer, const struct peer_config *cfg, nl_error_t *err)
{
	static const uint8_t zero_mac[6], default_mac[6] = PEER_DEFAULT_MAC;
	const char *ip = cfg->ip ? cfg->ip : PEER_DEFAULT_IP;
	struct in_addr addr;

	memcpy(peer->mac, memcmp(cfg->mac, zero_mac, 6) ? cfg->mac : default_mac, 6);
	if (inet_pton(AF_INET, ip, &addr) != 1)
		return nl_error(err, EINVAL, "%s: IPv4 address '%s' (write it as a dotted quad)", peer->name, ip);
	peer->ip = addr.s_addr;
	peer->tx = cfg->tx;
	peer->rx = cfg->rx;
	peer_spec_defaults(&peer->tx, peer->tx.src, peer->mac);
	peer_spec_defaults(&peer->rx, peer->rx.dst, peer->mac);
	if (!frame_gen_spec_valid(&peer->tx) || !frame_gen_spec_valid(&peer->rx))
		return nl_error(err, EINVAL, "%s: frame sizes tx %u..%u, rx %u..%u: each must lie in %u..%u with "
				"min <= max, and the payload kind must be known", peer->name, peer->tx.size_min,
				peer->tx.size_max, peer->rx.size_min, peer->rx.size_max, FRAME_GEN_HDR_LEN,
				FRAME_GEN_MAX_LEN);
	return 0;
}

int peer_open(struct peer *peer, struct loop *loop, const struct peer_config *cfg, nl_error_t *err)
{
	int rcvbuf = PEER_RCVBUF_BYTES;

	*peer = (struct peer)PEER_INIT;
	peer->name = xstrdup(cfg->name ? cfg->name : "peer");
	peer->loop = loop;
	peer->t0_ms = now_ms();
	peer->tx_batch = cfg->tx_batch ? cfg->tx_batch : PEER_TX_BATCH_DEFAULT;
	peer->tx_interval_ms = cfg->tx_interval_ms;
	peer->rx_expected = cfg->rx_expected;
	if (peer_config_identity(peer, cfg, err) < 0)
		return -1;
	if (cfg->rx_expected)
		peer->rx_seen = xzalloc((cfg->rx_expected + 7) / 8);
	peer->buf = xmalloc(PEER_DGRAM_MAX_BYTES);
	peer->frame = xmalloc(FRAME_GEN_MAX_LEN);
	if (cfg->log_path) {
		peer->log = fopen(cfg->log_path, "ae");
		if (!peer->log)
			return nl_error(err, errno, "%s: open log %s", peer->name, cfg->log_path);
	}
	peer->fd = dgram_bind(cfg->sock_path, &peer->local, err);
	if (peer->fd < 0)
		return nl_error_wrap(err, "%s", peer->name);
	peer->bound = true;
	/* a bigger buffer absorbs bursts from the guest; the kernel caps it at net.core.rmem_max */
	(void)setsockopt(peer->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	peer->io_id = loop_add_fd(loop, LOOP_KIND_OTHER, peer->fd, EPOLLIN, peer_on_io, peer, peer->name, err);
	if (!peer->io_id)
		return nl_error_wrap(err, "%s", peer->name);
	peer_log(peer, "%s listening on %s as %02x:%02x:%02x:%02x:%02x:%02x", peer->name, peer->local.sun_path,
		 peer->mac[0], peer->mac[1], peer->mac[2], peer->mac[3], peer->mac[4], peer->mac[5]);
	return 0;
}

void peer_release(struct peer *peer)
{
	if (peer->log && peer->name) {
		cleanup_free char *summary = peer_stats_format(peer);

		peer_log(peer, "final: %s", summary);
	}
	if (peer->loop) {
		loop_remove(peer->loop, peer->io_id);
		loop_remove(peer->loop, peer->tx_timer_id);
	}
	if (peer->fd >= 0)
		close(peer->fd);
	if (peer->bound)
		unlink(peer->local.sun_path);
	if (peer->log)
		fclose(peer->log);
	free(peer->name);
	free(peer->rx_seen);
	free(peer->buf);
	free(peer->frame);
	*peer = (struct peer)PEER_INIT;
}

const char *peer_sock_path(const struct peer *peer)
{
	return peer->local.sun_path;
}

int peer_set_remote(struct peer *peer, const char *nic_sock_path, nl_error_t *err)
{
	if (unix_address(nic_sock_path, &peer->remote, err) < 0)
		return nl_error_wrap(err, "%s: the NIC's socket", peer->name);
	peer->remote_set = true;
	peer->connected = false;
	peer_log(peer, "NIC side is %s", nic_sock_path);
	return 0;
}

int peer_connect_remote(struct peer *peer, nl_error_t *err)
{
	if (peer_connect(peer) < 0)
		return nl_error(err, errno, "%s: connect to the NIC's socket %s (QEMU binds it when it starts)",
				peer->name, peer->remote_set ? peer->remote.sun_path : "(not set)");
	return 0;
}

int peer_send_frames(struct peer *peer, uint32_t first, uint32_t count, nl_error_t *err)
{
	if (!peer->remote_set)
		return nl_error(err, ENOTCONN, "%s: send frames: the NIC's socket is not set (peer_set_remote())",
				peer->name);
	if (count > UINT32_MAX - first)
		return nl_error(err, EINVAL, "%s: frames %u + %u overflow the index", peer->name, first, count);
	peer->tx_first = peer->tx_next = first;
	peer->tx_end = first + count;
	peer->tx_acked = 0;
	if (count)
		peer_log(peer, "sending frames %u..%u (seed %llu, %u..%u bytes, %s payload)", first, first + count - 1,
			 (unsigned long long)peer->tx.seed, peer->tx.size_min, peer->tx.size_max, frame_payload_name(peer->tx.payload));
	if (peer->tx_timer_id)
		return 0;	/* the pacing timer picks the new range up */
	return peer_want_out(peer, count > 0 && peer_tx_limit(peer) > peer->tx_next, err);
}

void peer_set_window(struct peer *peer, unsigned frames)
{
	peer->tx_window = frames;
}

int peer_ack(struct peer *peer, uint64_t received, nl_error_t *err)
{
	uint64_t sent = peer->tx_next - peer->tx_first;

	if (received > sent) {
		/* more than was sent: a confused or hostile receiver; it gains nothing beyond what is sent */
		if (peer->stats.acks_beyond_sent++ < 4)
			peer_log(peer, "the receiver reported %llu frames, only %llu were sent",
				 (unsigned long long)received, (unsigned long long)sent);
		received = sent;
	}
	if (received <= peer->tx_acked)
		return 0;
	peer->tx_acked = received;
	if (peer->tx_timer_id || peer->tx_next >= peer_tx_limit(peer))
		return 0;
	return peer_want_out(peer, true, err);
}

bool peer_tx_stalled(void *opaque)
{
	const struct peer *peer = opaque;

	return peer->tx_next < peer->tx_end && peer->tx_next >= peer_tx_limit(peer);
}

/* peer_tx_stalled_or_done() - loop_run_until() predicate: no frame may go out before the next report */
static bool peer_tx_stalled_or_done(void *opaque)
{
	return peer_tx_stalled(opaque) || peer_tx_done(opaque);
}

int peer_send_windowed(struct peer *peer, uint32_t first, uint32_t count, const struct peer_window *w,
		       nl_error_t *err)
{
	uint64_t t0 = now_ms(), received = 0, last_received = UINT64_MAX;
	int ret = -1;

	peer->tx_window = w->frames;
	if (peer_send_frames(peer, first, count, err) < 0)
		goto out;
	while (!peer_tx_done(peer)) {
		nl_error_t werr = NULL;
		bool stalled = peer_tx_stalled(peer);

		/* stalled with no news at the last report: give the receiver w->poll_ms before asking again */
		if (loop_run_until(peer->loop, stalled && received == last_received ? NULL : peer_tx_stalled_or_done,
				   peer, (int)w->poll_ms, &werr) < 0) {
			if (werr->errnum != ETIMEDOUT) {
				*err = werr;
				goto out;
			}
			nl_error_release(&werr);
		}
		if (peer_tx_done(peer))
			break;
		if (now_ms() - t0 >= w->timeout_ms) {
			nl_error(err, ETIMEDOUT, "%s: the receiver reported %llu of %u frames in %llu ms; the peer sends "
				 "at most %u frames ahead of it and stopped at frame %u", peer->name,
				 (unsigned long long)peer->tx_acked, count, (unsigned long long)(now_ms() - t0),
				 w->frames, peer->tx_next - first);
			goto out;
		}
		last_received = received;
		if (w->progress(w->opaque, &received, err) < 0) {
			nl_error_wrap(err, "%s: the receiver's progress", peer->name);
			goto out;
		}
		if (peer_ack(peer, received, err) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		peer->tx_end = peer->tx_next;	/* what is left is not sent later without its window */
	peer->tx_window = 0;
	return ret;
}

int peer_send_raw(struct peer *peer, const void *frame, size_t len, nl_error_t *err)
{
	if (peer_sendto(peer, frame, len) < 0)
		return nl_error(err, errno, "%s: send a %zu-byte frame", peer->name, len);
	return 0;
}

int peer_send_ping(struct peer *peer, const char *ip_dst, const uint8_t mac_dst[6], uint16_t id, uint16_t seq,
		   nl_error_t *err)
{
	uint8_t frame[ETH_HDR + IPV4_MIN_HDR + ICMP_HDR + PING_PAYLOAD_BYTES];
	uint8_t *ip = frame + ETH_HDR, *icmp = ip + IPV4_MIN_HDR;
	struct in_addr dst;

	if (inet_pton(AF_INET, ip_dst, &dst) != 1)
		return nl_error(err, EINVAL, "%s: ping: IPv4 address '%s'", peer->name, ip_dst);
	memcpy(frame, mac_dst, 6);
	memcpy(frame + 6, peer->mac, 6);
	put_be16(frame + 12, ETHERTYPE_IPV4);
	memset(ip, 0, IPV4_MIN_HDR);
	ip[0] = 0x45;
	put_be16(ip + 2, IPV4_MIN_HDR + ICMP_HDR + PING_PAYLOAD_BYTES);
	put_be16(ip + 4, seq);
	ip[8] = 64;
	ip[9] = 1;
	memcpy(ip + 12, &peer->ip, 4);
	memcpy(ip + 16, &dst.s_addr, 4);
	put_be16(ip + 10, inet_checksum(ip, IPV4_MIN_HDR));
	icmp[0] = ICMP_ECHO_REQUEST;
	icmp[1] = 0;
	put_be16(icmp + 2, 0);
	put_be16(icmp + 4, id);
	put_be16(icmp + 6, seq);
	for (unsigned i = 0; i < PING_PAYLOAD_BYTES; i++)
		icmp[ICMP_HDR + i] = (uint8_t)("nestlab-peer-ping-payload-0123456"[i]);
	put_be16(icmp + 2, inet_checksum(icmp, ICMP_HDR + PING_PAYLOAD_BYTES));
	if (peer_send_raw(peer, frame, sizeof(frame), err) < 0)
		return nl_error_wrap(err, "ping %s", ip_dst);
	peer->stats.pings_sent++;
	return 0;
}

bool peer_tx_done(void *opaque)
{
	const struct peer *peer = opaque;

	return peer->tx_next >= peer->tx_end;
}

bool peer_rx_complete(void *opaque)
{
	const struct peer *peer = opaque;

	return peer->rx_expected && peer->stats.rx_verified >= peer->rx_expected;
}

bool peer_done(void *opaque)
{
	return peer_tx_done(opaque) && peer_rx_complete(opaque);
}

char *peer_stats_format(const struct peer *peer)
{
	const struct peer_stats *st = &peer->stats;
	struct strbuf sb = STRBUF_INIT;

	strbuf_printf(&sb, "tx %llu frames (%llu errors); rx %llu verified of %u expected, %llu mismatched, "
			   "%llu duplicate, %llu out of range, %llu other, %llu foreign, %llu truncated; "
			   "ARP %llu/%llu, ICMP echo %llu/%llu, pings %llu/%llu, replies dropped %llu",
		      (unsigned long long)st->tx_frames, (unsigned long long)st->tx_errors,
		      (unsigned long long)st->rx_verified, peer->rx_expected, (unsigned long long)st->rx_mismatched,
		      (unsigned long long)st->rx_duplicates, (unsigned long long)st->rx_out_of_range,
		      (unsigned long long)st->rx_other, (unsigned long long)st->rx_foreign,
		      (unsigned long long)st->rx_truncated, (unsigned long long)st->arp_replies,
		      (unsigned long long)st->arp_requests, (unsigned long long)st->icmp_echo_replies,
		      (unsigned long long)st->icmp_echo_requests, (unsigned long long)st->ping_replies,
		      (unsigned long long)st->pings_sent, (unsigned long long)st->replies_dropped);
	if (st->acks_beyond_sent)
		strbuf_printf(&sb, "; %llu reports of more frames than were sent",
			      (unsigned long long)st->acks_beyond_sent);
	if (st->mismatch_seen) {
		const struct peer_mismatch *m = &st->first_mismatch;

		strbuf_printf(&sb, "; first mismatch: frame %u at offset %zu (got %d, expected %d; length %zu, "
				   "expected %zu; header seed %llu)", m->index, m->offset, m->got, m->expected, m->len,
			      m->expected_len, (unsigned long long)m->seed);
	}
	return strbuf_detach(&sb);
}
