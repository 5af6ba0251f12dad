/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vnic_cmd.h - the commands of nestlab-vfio-nic: one table, one option parser, the reply line format
 *
 * The same words work on the command line (`nestlab-vfio-nic tx --count 10`) and as one line of the
 * `serve` protocol (`tx --count 10`), so both go through vnic_cmd_parse(). Pure code: no device access.
 * The protocol is documented in docs/vfio-nic.md.
 *
 * Replies are lines of space-separated key=value pairs. Values never hold spaces, except `msg=` which is
 * always the last key and runs to the end of the line. Every reply ends with exactly one status line,
 * `ok cmd=NAME ...` or `error cmd=NAME msg=...`; item lines before it start with another word
 * (`frame`, `map`, `info`, `reg`).
 */
#ifndef NESTLAB_VNIC_CMD_H
#define NESTLAB_VNIC_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "frame_gen.h"
#include "util.h"

enum vnic_cmd_id {
	VNIC_CMD_INFO,
	VNIC_CMD_RX,
	VNIC_CMD_TX,
	VNIC_CMD_ECHO,
	VNIC_CMD_MAPS,
	VNIC_CMD_UNMAP,
	VNIC_CMD_DMA_TO,
	VNIC_CMD_REGS,
	VNIC_CMD_HELP,
	VNIC_CMD_QUIT,
	/* host side, no device: the far end of QEMU's UDP netdev */
	VNIC_CMD_UDP_SEND,
	VNIC_CMD_UDP_RECV,
	/* guest side, no VFIO: the NIC through the kernel's own driver (an AF_PACKET socket on its netdev) */
	VNIC_CMD_PKT_UP,
	VNIC_CMD_PKT_TX,
	VNIC_CMD_PKT_RX,
	VNIC_CMD_PKT_WAIT,
	VNIC_CMD__COUNT,
};

enum vnic_dma_via {
	VNIC_DMA_VIA_RX,	/* the next received frame is written to the IOVA (a DMA write) */
	VNIC_DMA_VIA_TX,	/* a frame is transmitted from the IOVA (a DMA read) */
};

struct vnic_cmd {
	enum vnic_cmd_id id;
	uint32_t count;			/* rx, tx, echo, udp-*: frames [1] */
	uint32_t timeout_ms;		/* rx, echo, dma-to, udp-recv: wait at most; tx: for completions [5000] */
	struct frame_spec spec;		/* tx, udp-send: what to send; rx, udp-recv: what to expect */
	bool dst_set, src_set, seed_set, sizes_set, payload_set;
	uint32_t first_index;		/* tx, udp-send: index of the first frame [0] */
	uint32_t gap_us;		/* tx, udp-send: pause between frames [0] */
	uint64_t iova;			/* unmap, dma-to */
	bool iova_set;
	enum vnic_dma_via via;		/* dma-to [rx] */
	uint16_t length;		/* dma-to via tx: bytes to read [64] */
	char *pcap_path;		/* rx, echo, udp-recv: append frames to this pcap file */
	char *bind_addr;		/* udp-*: local HOST:PORT */
	char *remote_addr;		/* udp-send: destination HOST:PORT */
	bool quiet;			/* per-frame lines off, the status line only */
	bool swap_mac;			/* echo: send back to the source, from our MAC */
	char *ifname;			/* pkt-*: the network interface; NULL: the default (pkt.c) */
	char *ready_file;		/* pkt-rx: created once the socket is bound */
	char *output_path;		/* pkt-rx --background: the result file; pkt-wait: the file to wait for */
	bool background;		/* pkt-rx: return once bound, receive in a detached child */
	char *progress_path;		/* rx, pkt-rx: "received=N" kept up to date here (rename), for a sender's window */
};

/* vnic_cmd_name() - "dma-to" for VNIC_CMD_DMA_TO */
const char *vnic_cmd_name(enum vnic_cmd_id id);
/* vnic_cmd_needs_device() - false for help, quit and the udp-* and pkt-* commands */
bool vnic_cmd_needs_device(enum vnic_cmd_id id);
/* vnic_cmd_help() - the command summary, one command per line */
char *vnic_cmd_help(void);

/*
 * vnic_cmd_parse() - argv[0] is the command, then `--opt value` or `--opt=value`, flags bare.
 * Fills @cmd with defaults first; returns 0, or -1 with @err saying what was wrong (unknown command or
 * option with a "did you mean", a bad value with its allowed range, a missing required option).
 */
int vnic_cmd_parse(int argc, char *const *argv, struct vnic_cmd *cmd, nl_error_t *err);
/* vnic_cmd_release() - free the strings of @cmd */
void vnic_cmd_release(struct vnic_cmd *cmd);

/*
 * vnic_split_line() - split one protocol line at blanks into a NULL-terminated vector (no quoting:
 * values never hold blanks). Returns the number of words; 0 for an empty or blank line; -1 with @err
 * for a line with a control character or more than 64 words.
 */
int vnic_split_line(const char *line, char ***words, nl_error_t *err);

/* vnic_parse_mac() - "52:54:00:12:34:56" (or with '-'); returns 0 or -1 */
int vnic_parse_mac(const char *s, uint8_t mac[6]);
/* vnic_format_mac() - lower-case colon form into @out (18 bytes) */
void vnic_format_mac(const uint8_t mac[6], char out[18]);
/* vnic_parse_u64() - decimal or 0x hex, at most @max; returns 0 or -1 */
int vnic_parse_u64(const char *s, uint64_t max, uint64_t *value);
/* vnic_hex() - lower-case hex of at most @max bytes of @buf into a new string */
char *vnic_hex(const uint8_t *buf, size_t len, size_t max);

#endif /* NESTLAB_VNIC_CMD_H */
