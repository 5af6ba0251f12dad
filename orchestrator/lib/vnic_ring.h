/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vnic_ring.h - descriptor rings of nestlab-vfio-nic, the pure part: index math and the 16-byte descriptor
 * formats of the two NICs, with no device access (the driver in orchestrator/vfio-nic/ does the MMIO)
 *
 * Formats:
 *   igb (82576)      advanced descriptors. 82576 datasheet ch. 7 "Advanced Receive Descriptors"
 *                    (SRRCTL.DESCTYPE = 001b, one buffer) and §7.2.2.3 "Advanced Transmit Data
 *                    Descriptor". QEMU's igb implements only these (hw/net/igb_core.c:
 *                    igb_rx_use_legacy_descriptor() returns false, legacy Tx is a TODO).
 *   e1000e (82574L)  legacy descriptors. 82574 datasheet ch. 7 "Legacy Receive Descriptor Format"
 *                    (RFCTL.EXSTEN = 0) and "Legacy Transmit Descriptor Format"; QEMU's e1000e uses
 *                    the legacy Rx format while RFCTL.EXSTEN is clear (e1000e_rx_use_legacy_descriptor()).
 * (Citation convention: chapter and section title; numbers only where checked, see vfio-nic/vnic.h.)
 *
 * Ring ownership (both NICs, 82574 §7.1.8 "Receive Descriptor Queue Structure"): the device owns the
 * slots from its head (RDH/TDH) up to, not including, the tail (RDT/TDT) that software writes. Software
 * keeps two indices: @tail, the value it last wrote to the tail register, and @clean, the oldest slot it
 * has not yet seen completed. One slot always stays unowned so that head == tail means empty.
 *
 * Descriptor memory is shared with the device: the accessors take volatile pointers and the driver puts
 * the barriers around them (write descriptor, barrier, write tail; read DD, barrier, read the rest).
 */
#ifndef NESTLAB_VNIC_RING_H
#define NESTLAB_VNIC_RING_H

#include <stdbool.h>
#include <stdint.h>

#define VNIC_DESC_BYTES 16
#define VNIC_RING_MIN 8			/* RDLEN/TDLEN must be a multiple of 128 bytes = 8 descriptors */
#define VNIC_RING_MAX 4096		/* one ring stays within 64 KiB */

enum vnic_desc_format {
	VNIC_DESC_ADVANCED,		/* igb */
	VNIC_DESC_LEGACY,		/* e1000e */
};

/* 82576 "Advanced Receive Descriptors": read format (software -> device) */
struct vnic_adv_rx_read {
	uint64_t pkt_addr;		/* packet buffer address; bit 0 is A0 and must be written 0 */
	uint64_t hdr_addr;		/* header buffer address; bit 0 overlays DD, so it is written 0 */
};

/* 82576 "Advanced Receive Descriptors": write-back format (device -> software) */
struct vnic_adv_rx_wb {
	uint32_t lo_dword;		/* packet type, RSS type, header length */
	uint32_t hi_dword;		/* RSS hash or IP id + checksum */
	uint32_t status_error;		/* bit 0 DD, bit 1 EOP; errors in 31:20 */
	uint16_t length;		/* PKT_LEN: bytes written to the packet buffer */
	uint16_t vlan;
};

/* 82576 §7.2.2.3 advanced Tx data descriptor, read format */
struct vnic_adv_tx_read {
	uint64_t buffer_addr;
	uint32_t cmd_type_len;		/* DTALEN 15:0, DTYP 23:20, DCMD 31:24 */
	uint32_t olinfo_status;		/* PAYLEN 31:14 */
};

/* 82576 §7.2.2.3 advanced Tx data descriptor, write-back format (DD in the last dword) */
struct vnic_adv_tx_wb {
	uint64_t rsvd;
	uint32_t nxtseq_seed;
	uint32_t status;		/* bit 0 DD */
};

/* 82574 "Legacy Receive Descriptor Format" (read and write-back share the layout) */
struct vnic_legacy_rx {
	uint64_t buffer_addr;
	uint16_t length;
	uint16_t csum;
	uint8_t status;			/* bit 0 DD, bit 1 EOP */
	uint8_t errors;
	uint16_t special;
};

/* 82574 "Legacy Transmit Descriptor Format" */
struct vnic_legacy_tx {
	uint64_t buffer_addr;
	uint16_t length;
	uint8_t cso;
	uint8_t cmd;			/* bit 0 EOP, bit 1 IFCS, bit 3 RS */
	uint8_t status;			/* bit 0 DD */
	uint8_t css;
	uint16_t special;
};

union vnic_desc {
	struct vnic_adv_rx_read adv_rx_read;
	struct vnic_adv_rx_wb adv_rx_wb;
	struct vnic_adv_tx_read adv_tx_read;
	struct vnic_adv_tx_wb adv_tx_wb;
	struct vnic_legacy_rx legacy_rx;
	struct vnic_legacy_tx legacy_tx;
	uint8_t raw[VNIC_DESC_BYTES];
};

/* descriptor bits (the formats above) */
#define VNIC_RXD_STAT_DD 0x01u
#define VNIC_RXD_STAT_EOP 0x02u
#define VNIC_ADV_RXD_ERR_MASK 0xfff00000u	/* RXE, IPE, L4E, HBO ... */
#define VNIC_TXD_STAT_DD 0x01u
#define VNIC_LEGACY_TXD_CMD_EOP 0x01u
#define VNIC_LEGACY_TXD_CMD_IFCS 0x02u
#define VNIC_LEGACY_TXD_CMD_RS 0x08u
#define VNIC_ADV_TXD_DTYP_DATA 0x00300000u
#define VNIC_ADV_TXD_DCMD_EOP 0x01000000u
#define VNIC_ADV_TXD_DCMD_IFCS 0x02000000u
#define VNIC_ADV_TXD_DCMD_RS 0x08000000u
#define VNIC_ADV_TXD_DCMD_DEXT 0x20000000u
#define VNIC_ADV_TXD_PAYLEN_SHIFT 14

/* what a completed Rx descriptor says */
struct vnic_rx_result {
	uint16_t length;
	bool eop;
	uint32_t errors;		/* format-specific error bits, 0 when none */
};

struct vnic_ring {
	uint32_t size;			/* descriptors */
	uint32_t tail;			/* last value written to the tail register */
	uint32_t clean;			/* oldest slot not yet seen completed */
};

/* vnic_ring_size_valid() - VNIC_RING_MIN..VNIC_RING_MAX and a multiple of 8 (RDLEN % 128 == 0) */
bool vnic_ring_size_valid(uint32_t size);
/* vnic_ring_init() - empty ring of @size slots */
void vnic_ring_init(struct vnic_ring *ring, uint32_t size);
/* vnic_ring_next() - the slot after @slot */
uint32_t vnic_ring_next(const struct vnic_ring *ring, uint32_t slot);
/* vnic_ring_in_flight() - slots handed to the device and not yet seen completed */
uint32_t vnic_ring_in_flight(const struct vnic_ring *ring);
/* vnic_ring_space() - slots software may still hand to the device */
uint32_t vnic_ring_space(const struct vnic_ring *ring);
/* vnic_ring_give() - hand the slot at @tail to the device; returns the new tail value to write */
uint32_t vnic_ring_give(struct vnic_ring *ring);
/* vnic_ring_take() - the slot at @clean completed; returns that slot */
uint32_t vnic_ring_take(struct vnic_ring *ring);

/* vnic_rx_desc_arm() - point an Rx descriptor at @iova and clear its status, for the device to fill */
void vnic_rx_desc_arm(enum vnic_desc_format fmt, volatile union vnic_desc *desc, uint64_t iova);
/* vnic_rx_desc_done() - true once the device wrote the descriptor back (DD); fills @res then */
bool vnic_rx_desc_done(enum vnic_desc_format fmt, const volatile union vnic_desc *desc,
		       struct vnic_rx_result *res);
/* vnic_tx_desc_fill() - one-descriptor frame of @len bytes at @iova: EOP, insert FCS, report status */
void vnic_tx_desc_fill(enum vnic_desc_format fmt, volatile union vnic_desc *desc, uint64_t iova,
		       uint16_t len);
/* vnic_tx_desc_done() - true once the device wrote DD back */
bool vnic_tx_desc_done(enum vnic_desc_format fmt, const volatile union vnic_desc *desc);
/* vnic_rx_desc_addr() - the buffer address an armed Rx descriptor holds */
uint64_t vnic_rx_desc_addr(enum vnic_desc_format fmt, const volatile union vnic_desc *desc);

#endif /* NESTLAB_VNIC_RING_H */
