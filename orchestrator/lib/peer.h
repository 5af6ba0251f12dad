/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * peer.h - nestlab's traffic peer: the far end of the emulated NIC's UDP backend at L0
 *
 * L0's QEMU carries the emulated NIC's wire over unix-domain datagram sockets in the run directory
 * (`-netdev dgram,local.type=unix,...,remote.type=unix,...`): one datagram is one Ethernet frame,
 * without length header and without FCS (QEMU net/dgram.c). The peer owns the other end of that wire. It
 *   - sends test frames generated from (seed, index), paced through the supervisor loop, and, with a
 *     window, never more than W frames ahead of what the receiver reported (peer_send_windowed());
 *   - verifies received test frames byte-exact against the same generator and counts them, with the
 *     index and first differing offset of the first mismatch for diagnostics;
 *   - plays a host at 10.0.0.1 / 02:00:00:00:00:01: answers ARP requests (RFC 826) and ICMP echo
 *     requests (RFC 792 over RFC 791 IPv4) so that a kernel driver in L2 can ping it, and can ping itself;
 *   - accepts datagrams only from the NIC's socket (anything else is counted as foreign and dropped).
 *
 *	cleanup_peer struct peer peer = PEER_INIT;
 *	struct peer_config cfg = { .sock_path = "RUN/wire-peer.sock",
 *				   .tx = { .seed = s, .size_min = 60, .size_max = 1514, .dst = nic_mac },
 *				   .rx = { .seed = s + 1, ... }, .rx_expected = 1000,
 *				   .log_path = "RUN/peer.log" };
 *
 *	peer_open(&peer, &loop, &cfg, err);		// bound to RUN/wire-peer.sock
 *	peer_set_remote(&peer, "RUN/wire-nic.sock", err);	// the path QEMU's side binds
 *	... plan with both paths, start QEMU ...
 *	peer_connect_remote(&peer, err);		// once QEMU is up
 *	peer_send_windowed(&peer, 0, 1000, &window, err);	// never more than window.frames ahead
 *	loop_run_until(&loop, peer_rx_complete, &peer, timeout_ms, err);	// rx complete
 *
 * Everything the wire brings is untrusted: short, long, malformed or hostile frames are counted, never
 * a crash. All I/O runs in loop callbacks (single-threaded), except peer_send_raw() and peer_send_ping()
 * which send one datagram at once.
 *
 * Test frames are lib/frame_gen's (shared with the L2 drivers): the peer builds them with
 * frame_gen_build() and checks each received one with frame_gen_parse() + frame_gen_verify().
 */
#ifndef NESTLAB_PEER_H
#define NESTLAB_PEER_H

#include <sys/un.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "frame_gen.h"
#include "loop.h"

#define PEER_DGRAM_MAX_BYTES 65536	/* receive buffer; longer datagrams are counted as truncated */
#define PEER_TX_BATCH_DEFAULT 32	/* frames sent per loop callback: keeps the receiver's buffer from
					 * overflowing when both ends share one loop */
#define PEER_LOG_MISMATCHES_MAX 16	/* mismatches written to the log; the rest are only counted */

/* the peer's identity on the wire unless the config says otherwise */
#define PEER_DEFAULT_MAC { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }
#define PEER_DEFAULT_IP "10.0.0.1"

struct peer_config {
	const char *name;		/* for messages and the log ["peer"] */
	uint8_t mac[6];			/* all zero: PEER_DEFAULT_MAC */
	const char *ip;			/* dotted quad; NULL: PEER_DEFAULT_IP */
	const char *sock_path;		/* the peer's unix datagram socket (bound; removed at release) */
	struct frame_spec tx;		/* frames the peer sends; an all-zero src becomes mac, sizes 0..0
					 * become FRAME_GEN_ETH_MIN..FRAME_GEN_ETH_MAX */
	struct frame_spec rx;		/* frames the peer expects; the same defaults (dst: mac) */
	uint32_t rx_expected;		/* indices 0 .. rx_expected-1 are expected (others count as out of
					 * range); 0: any index, no duplicate detection */
	unsigned tx_batch;		/* frames per loop callback; 0: PEER_TX_BATCH_DEFAULT */
	unsigned tx_interval_ms;	/* > 0: send tx_batch frames every tx_interval_ms (pacing for a slow
					 * guest) instead of whenever the socket is writable */
	const char *log_path;		/* event log (appended), or NULL */
};

/* the first mismatching test frame, for diagnostics */
struct peer_mismatch {
	uint32_t index;
	size_t offset;			/* first differing byte */
	size_t len, expected_len;
	int got, expected;		/* the bytes at offset, -1 beyond a frame's end */
	uint64_t seed;			/* the seed in the frame's header */
};

struct peer_stats {
	uint64_t tx_frames, tx_bytes, tx_errors;	/* test frames sent; send errors (dropped) */
	uint64_t rx_datagrams, rx_bytes;		/* everything from the NIC's address */
	uint64_t rx_foreign;				/* datagrams from any other address (dropped) */
	uint64_t rx_truncated;				/* longer than PEER_DGRAM_MAX_BYTES */
	uint64_t rx_test_frames, rx_verified, rx_mismatched, rx_duplicates, rx_out_of_range;
	uint64_t rx_other;				/* none of test, ARP or ICMP for us (IPv6 ND, ...) */
	uint64_t arp_requests, arp_replies;		/* requests for our IP; replies sent */
	uint64_t icmp_echo_requests, icmp_echo_replies;	/* echo requests to us; replies sent */
	uint64_t pings_sent, ping_replies;		/* peer_send_ping(); echo replies it received */
	uint64_t acks_beyond_sent;			/* receiver reports of more frames than were sent */
	uint64_t replies_dropped;			/* ARP/ICMP replies the socket did not take */
	bool mismatch_seen;
	struct peer_mismatch first_mismatch;
	uint32_t last_rx_index, last_tx_index;		/* valid once a frame was verified / sent */
};

struct peer {
	char *name;
	int fd;
	struct sockaddr_un local, remote;	/* the peer's socket, the NIC's (QEMU's) */
	bool bound, remote_set, connected;
	uint8_t mac[6];
	uint32_t ip;			/* network byte order */
	struct frame_spec tx, rx;
	uint32_t rx_expected;
	uint8_t *rx_seen;		/* bitmap of verified indices (rx_expected bits) */
	unsigned tx_batch, tx_interval_ms;
	uint32_t tx_first, tx_next, tx_end;	/* queued test frames [tx_next, tx_end) of [tx_first, tx_end) */
	unsigned tx_window;		/* > 0: at most this many frames past tx_first + tx_acked */
	uint64_t tx_acked;		/* frames of the queue the receiver reported (peer_ack()) */
	struct loop *loop;
	loop_id_t io_id, tx_timer_id;
	bool want_out;			/* EPOLLOUT requested */
	FILE *log;
	uint64_t t0_ms;
	uint8_t *buf;			/* PEER_DGRAM_MAX_BYTES receive buffer */
	uint8_t *frame;			/* FRAME_GEN_MAX_LEN transmit buffer */
	struct peer_stats stats;
};

#define PEER_INIT { .fd = -1 }

/* peer_open() - bind cfg->sock_path, register in @loop; @peer must not move afterwards */
int peer_open(struct peer *peer, struct loop *loop, const struct peer_config *cfg, nl_error_t *err);
/* peer_release() - log the final counters, leave the loop, close and remove the socket, close the log */
void peer_release(struct peer *peer);
/* peer_sock_path() - the peer's socket (give it to QEMU as the remote path) */
const char *peer_sock_path(const struct peer *peer);
/* peer_set_remote() - the NIC's side, the socket QEMU binds: where frames go, the only accepted source */
int peer_set_remote(struct peer *peer, const char *nic_sock_path, nl_error_t *err);
/*
 * peer_connect_remote() - connect to the NIC's socket now (after QEMU bound it); otherwise the first
 * send does. Connected, the peer's EPOLLOUT waits for room in QEMU's queue and QEMU's datagrams to the
 * peer are limited by QEMU's send buffer only.
 */
int peer_connect_remote(struct peer *peer, nl_error_t *err);
/* peer_send_frames() - queue test frames [@first, @first + @count) of the tx stream (replaces the queue) */
int peer_send_frames(struct peer *peer, uint32_t first, uint32_t count, nl_error_t *err);

/*
 * The window: the peer sends at most @frames frames beyond what the receiver reported to have
 * received, so no buffer between them (QEMU's socket, the NIC's ring, the receiver's socket) holds more
 * than that, however slow the receiver is. A receiver that stops reporting stops the sending; the
 * caller's timeout turns that into an error, never into lost frames.
 */
typedef int (*peer_progress_fn)(void *opaque, uint64_t *received, nl_error_t *err);
struct peer_window {
	unsigned frames;		/* W: frames past the last report, > 0 */
	peer_progress_fn progress;	/* how many frames of this stream the receiver has (monotonic) */
	void *opaque;
	unsigned poll_ms;		/* the loop runs this long between reports while the window is full */
	uint64_t timeout_ms;		/* the whole send */
};
/* peer_set_window() - send at most @frames ahead of peer_ack() from now on (0: no window) */
void peer_set_window(struct peer *peer, unsigned frames);
/* peer_ack() - the receiver has @received frames of the queued stream; more than sent is clamped */
int peer_ack(struct peer *peer, uint64_t received, nl_error_t *err);
/*
 * peer_send_windowed() - send frames [@first, @first + @count) with the window @w, asking w->progress
 * whenever the window is full (and at least every w->poll_ms), until every frame went out. Return 0, or
 * -1: ETIMEDOUT when the receiver did not take them within w->timeout_ms (the rest is not sent), or the
 * progress function's or the loop's error (EINTR on SIGINT).
 */
int peer_send_windowed(struct peer *peer, uint32_t first, uint32_t count, const struct peer_window *w,
		       nl_error_t *err);
/* peer_send_raw() - send one datagram at once (a crafted or corrupted frame); -1 when not taken */
int peer_send_raw(struct peer *peer, const void *frame, size_t len, nl_error_t *err);
/*
 * peer_send_ping() - send an ICMP echo request (id, seq, 32 bytes of payload) to @ip_dst ("10.0.0.2")
 * at MAC @mac_dst; replies are counted in stats.ping_replies
 */
int peer_send_ping(struct peer *peer, const char *ip_dst, const uint8_t mac_dst[6], uint16_t id, uint16_t seq,
		   nl_error_t *err);

/* loop_run_until() predicates, @opaque is the struct peer */
bool peer_tx_done(void *opaque);	/* every queued frame was handed to the socket */
bool peer_rx_complete(void *opaque);	/* every expected index was verified */
bool peer_done(void *opaque);		/* both */
bool peer_tx_stalled(void *opaque);	/* frames are queued but the window is full */

/* peer_stats_format() - one line: "tx 1000, rx 1000 verified, 0 mismatched, ...; first mismatch ..." */
char *peer_stats_format(const struct peer *peer);

#define cleanup_peer __attribute__((cleanup(peer_release)))

#endif /* NESTLAB_PEER_H */
