/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vnic_ring.c - ring index math and descriptor encoding for nestlab-vfio-nic (see vnic_ring.h)
 *
 * Descriptors are little endian on the wire (PCIe); the accessors convert, so the code stays right
 * on a big-endian host even though nestlab only runs on x86-64.
 */
#include <endian.h>

#include "vnic_ring.h"

bool vnic_ring_size_valid(uint32_t size)
{
	return size >= VNIC_RING_MIN && size <= VNIC_RING_MAX && size % 8 == 0;
}

void vnic_ring_init(struct vnic_ring *ring, uint32_t size)
{
	ring->size = size;
	ring->tail = 0;
	ring->clean = 0;
}

uint32_t vnic_ring_next(const struct vnic_ring *ring, uint32_t slot)
{
	return slot + 1 == ring->size ? 0 : slot + 1;
}

uint32_t vnic_ring_in_flight(const struct vnic_ring *ring)
{
	return (ring->tail + ring->size - ring->clean) % ring->size;
}

uint32_t vnic_ring_space(const struct vnic_ring *ring)
{
	return ring->size - 1 - vnic_ring_in_flight(ring);
}

/**
 * vnic_ring_give() - hand one more slot to the device
 * @ring:	ring with vnic_ring_space() > 0; the descriptor at ring->tail must be ready
 *
 * Return: the new tail, to be written to RDT/TDT after a write barrier
 */
uint32_t vnic_ring_give(struct vnic_ring *ring)
{
	ring->tail = vnic_ring_next(ring, ring->tail);
	return ring->tail;
}

/**
 * vnic_ring_take() - consume the oldest in-flight slot
 * @ring:	ring with vnic_ring_in_flight() > 0 whose slot at ring->clean the device completed
 *
 * Return: the slot that was consumed
 */
uint32_t vnic_ring_take(struct vnic_ring *ring)
{
	uint32_t slot = ring->clean;

	ring->clean = vnic_ring_next(ring, slot);
	return slot;
}

/**
 * vnic_rx_desc_arm() - make an Rx descriptor ready for the device
 * @fmt:	advanced (igb) or legacy (e1000e)
 * @desc:	the descriptor in DMA memory
 * @iova:	packet buffer address as the device sees it
 *
 * Advanced: read format, header address 0 (no header split), which also clears the DD bit that
 * overlays it. Legacy: the same 16 bytes carry the status that the device writes back, cleared here.
 */
void vnic_rx_desc_arm(enum vnic_desc_format fmt, volatile union vnic_desc *desc, uint64_t iova)
{
	if (fmt == VNIC_DESC_ADVANCED) {
		desc->adv_rx_read.pkt_addr = htole64(iova);
		desc->adv_rx_read.hdr_addr = 0;
		return;
	}
	desc->legacy_rx.buffer_addr = htole64(iova);
	desc->legacy_rx.length = 0;
	desc->legacy_rx.csum = 0;
	desc->legacy_rx.status = 0;
	desc->legacy_rx.errors = 0;
	desc->legacy_rx.special = 0;
}

uint64_t vnic_rx_desc_addr(enum vnic_desc_format fmt, const volatile union vnic_desc *desc)
{
	return fmt == VNIC_DESC_ADVANCED ? le64toh(desc->adv_rx_read.pkt_addr)
					 : le64toh(desc->legacy_rx.buffer_addr);
}

/**
 * vnic_rx_desc_done() - check whether the device completed an Rx descriptor
 * @fmt:	descriptor format
 * @desc:	the descriptor
 * @res:	filled when it did: length, end of packet, error bits
 *
 * Return: true when DD is set. The caller reads the buffer only after a read barrier.
 */
bool vnic_rx_desc_done(enum vnic_desc_format fmt, const volatile union vnic_desc *desc,
		       struct vnic_rx_result *res)
{
	if (fmt == VNIC_DESC_ADVANCED) {
		uint32_t status = le32toh(desc->adv_rx_wb.status_error);

		if (!(status & VNIC_RXD_STAT_DD))
			return false;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		res->length = le16toh(desc->adv_rx_wb.length);
		res->eop = status & VNIC_RXD_STAT_EOP;
		res->errors = status & VNIC_ADV_RXD_ERR_MASK;
		return true;
	}
	if (!(desc->legacy_rx.status & VNIC_RXD_STAT_DD))
		return false;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	res->length = le16toh(desc->legacy_rx.length);
	res->eop = desc->legacy_rx.status & VNIC_RXD_STAT_EOP;
	res->errors = desc->legacy_rx.errors;
	return true;
}

/**
 * vnic_tx_desc_fill() - describe a whole frame in one descriptor
 * @fmt:	descriptor format
 * @desc:	the descriptor at the ring's tail
 * @iova:	frame buffer address as the device sees it
 * @len:	frame length without FCS
 *
 * Commands: end of packet, insert FCS, report status (so the device writes DD back). Advanced data
 * descriptors also need DEXT and DTYP = 0011b, and PAYLEN = the whole frame when no offload is used
 * (82576 §7.2.2.3 "Advanced Transmit Data Descriptor").
 */
void vnic_tx_desc_fill(enum vnic_desc_format fmt, volatile union vnic_desc *desc, uint64_t iova,
		       uint16_t len)
{
	if (fmt == VNIC_DESC_ADVANCED) {
		desc->adv_tx_read.buffer_addr = htole64(iova);
		desc->adv_tx_read.cmd_type_len =
			htole32(len | VNIC_ADV_TXD_DTYP_DATA | VNIC_ADV_TXD_DCMD_DEXT | VNIC_ADV_TXD_DCMD_RS |
				VNIC_ADV_TXD_DCMD_IFCS | VNIC_ADV_TXD_DCMD_EOP);
		desc->adv_tx_read.olinfo_status = htole32((uint32_t)len << VNIC_ADV_TXD_PAYLEN_SHIFT);
		return;
	}
	desc->legacy_tx.buffer_addr = htole64(iova);
	desc->legacy_tx.length = htole16(len);
	desc->legacy_tx.cso = 0;
	desc->legacy_tx.cmd = VNIC_LEGACY_TXD_CMD_EOP | VNIC_LEGACY_TXD_CMD_IFCS | VNIC_LEGACY_TXD_CMD_RS;
	desc->legacy_tx.status = 0;
	desc->legacy_tx.css = 0;
	desc->legacy_tx.special = 0;
}

bool vnic_tx_desc_done(enum vnic_desc_format fmt, const volatile union vnic_desc *desc)
{
	if (fmt == VNIC_DESC_ADVANCED)
		return le32toh(desc->adv_tx_wb.status) & VNIC_TXD_STAT_DD;
	return desc->legacy_tx.status & VNIC_TXD_STAT_DD;
}
