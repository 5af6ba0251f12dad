/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udp.c - host-side udp-send and udp-recv: the far end of QEMU's `-netdev dgram` / `-netdev socket,udp=`
 * wire, where one UDP datagram carries one Ethernet frame without FCS (QEMU net/dgram.c). They let the
 * driver be tested against a guest without the orchestrator's traffic peer, with the same frame_gen.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vnic.h"

/* parse_addr() - "HOST:PORT" with a dotted-quad IPv4 host */
static int parse_addr(const char *text, struct sockaddr_in *sa, nl_error_t *err)
{
	cleanup_free char *host = NULL;
	const char *colon = strrchr(text, ':');
	uint64_t port;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (!colon || vnic_parse_u64(colon + 1, 65535, &port) < 0)
		return nl_error(err, 0, "%s: expected IPV4:PORT, e.g. 127.0.0.1:10000", text);
	host = xstrndup(text, (size_t)(colon - text));
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return nl_error(err, 0, "%s: %s is not an IPv4 address", text, host);
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

/* open_socket() - a UDP socket, bound to @bind_addr when given, with a large receive buffer */
static int open_socket(const char *bind_addr, nl_error_t *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rcvbuf = 16 << 20;
	struct sockaddr_in sa;
	int ret;

	if (fd < 0)
		return nl_error(err, errno, "socket");
	/* the guest can send a burst of a whole ring: avoid drops in the default ~200 KiB buffer */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind_addr) {
		if (parse_addr(bind_addr, &sa, err) < 0)
			return -1;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return nl_error(err, errno, "bind %s", bind_addr);
	}
	ret = fd;
	fd = -1;
	return ret;
}

/* the destination of udp-send */
struct udp_dest {
	int fd;
	struct sockaddr_in remote;
	const char *text;
};

/* udp_send_one() - one frame as one datagram (a frame_send_fn) */
static int udp_send_one(void *ctx, const uint8_t *frame, size_t len, nl_error_t *err)
{
	const struct udp_dest *dest = ctx;

	if (sendto(dest->fd, frame, len, 0, (const struct sockaddr *)&dest->remote, sizeof(dest->remote)) !=
	    (ssize_t)len)
		return nl_error(err, errno, "sendto %s", dest->text);
	return 0;
}

/**
 * udp_send() - send frame_gen frames first_index.. as datagrams to --remote
 * @cmd:	spec (src defaults to 02:00:00:00:00:01), count, gap, optional --bind
 * @out:	one `frame` line per frame unless --quiet
 * @summary:	sent, bytes
 * @err:	socket errors
 *
 * Return: 0 or -1
 */
int udp_send(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	cleanup_close int fd = open_socket(cmd->bind_addr, err);
	struct udp_dest dest = { .fd = fd, .text = cmd->remote_addr };
	struct send_tally tally;

	if (fd < 0 || parse_addr(cmd->remote_addr, &dest.remote, err) < 0)
		return -1;
	if (frames_send(cmd, &cmd->spec, udp_send_one, &dest, out, &tally, err) < 0)
		return -1;
	strbuf_printf(summary, "sent=%u bytes=%llu first_index=%u seed=%llu", tally.sent,
		      (unsigned long long)tally.bytes, cmd->first_index, (unsigned long long)cmd->spec.seed);
	return tally.sent == cmd->count ? 0 :
	       nl_error(err, 0, "interrupted after %u of %u frames", tally.sent, cmd->count);
}

/**
 * udp_recv() - receive --count datagrams on --bind within --timeout-ms and check each against frame_gen
 * @cmd:	count, timeout, expectations, pcap, quiet
 * @out:	one `frame` line per datagram unless --quiet
 * @summary:	received, verified (byte-exact frame_gen frames), bad, not frame_gen
 * @err:	timeout with fewer frames, or frames that differ
 *
 * Return: 0 or -1
 */
int udp_recv(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	cleanup_close int fd = open_socket(cmd->bind_addr, err);
	cleanup_file FILE *pcap = NULL;
	uint64_t t0 = now_ms(), deadline = t0 + cmd->timeout_ms;
	uint32_t received = 0, verified = 0, bad = 0, other = 0;
	struct frame_check first_bad = { 0 };
	static uint8_t frame[65536];

	if (fd < 0)
		return -1;
	if (cmd->pcap_path && !(pcap = pcap_open(cmd->pcap_path, err)))
		return -1;
	while (received < cmd->count && !vnic_stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		struct frame_check fc;
		ssize_t n;

		if (now >= deadline)
			break;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		n = recv(fd, frame, sizeof(frame), 0);
		if (n < 0)
			continue;
		frame_check_run(cmd, frame, (size_t)n, &fc);
		if (!cmd->quiet) {
			char prefix[64];

			snprintf(prefix, sizeof(prefix), "frame n=%u len=%zd", received, n);
			frame_line(out, prefix, frame, (size_t)n, &fc);
		}
		if (pcap)
			pcap_write(pcap, frame, (size_t)n);
		received++;
		if (!fc.is_fg)
			other++;
		else if (fc.diff_at < 0)
			verified++;
		else if (!bad++)
			first_bad = fc;
	}
	strbuf_printf(summary, "received=%u verified=%u bad=%u other=%u elapsed_ms=%llu", received, verified, bad,
		      other, (unsigned long long)(now_ms() - t0));
	if (received < cmd->count)
		return nl_error(err, 0, "udp-recv received %u of %u datagrams in %u ms", received, cmd->count,
				cmd->timeout_ms);
	if (bad)
		return nl_error(err, 0, "%u frames differ from frame_gen; first: index %u at offset %ld", bad,
				first_bad.index, first_bad.diff_at);
	return 0;
}
