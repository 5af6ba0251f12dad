/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nic_igb.c - Intel 82576 (QEMU `-device igb`, 8086:10c9): queue 0 with advanced descriptors
 *
 * What differs from the 82574L (82576 datasheet ch. 4 "Receive Initialization" / "Transmit
 * Initialization", ch. 8 register descriptions):
 *   - queue 0's registers sit at 0xC000 (Rx) and 0xE000 (Tx); the 0x2800/0x3800 aliases exist, but
 *     QEMU's igb_regs.h names the 0xC000 layout;
 *   - SRRCTL0 selects the descriptor type (DESCTYPE 001b, advanced one-buffer; QEMU implements no other
 *     for igb) and the buffer size (BSIZEPACKET in 1 KiB units, overriding RCTL.BSIZE);
 *   - Rx and Tx queues have an enable bit, RXDCTL/TXDCTL.ENABLE (bit 25), that must read back 1 before
 *     the tail is written; QEMU drops frames for, and does not transmit from, a disabled queue
 *     (igb_receive_internal(), igb_tx_enabled());
 *   - extended interrupts: EIMC masks them as IMC masks the legacy causes.
 */
#include "vnic.h"

#define IGB_EIMC 0x01528
#define IGB_RDBAL0 0x0c000
#define IGB_RDBAH0 0x0c004
#define IGB_RDLEN0 0x0c008
#define IGB_SRRCTL0 0x0c00c
#define IGB_RDH0 0x0c010
#define IGB_RDT0 0x0c018
#define IGB_RXDCTL0 0x0c028
#define IGB_TDBAL0 0x0e000
#define IGB_TDBAH0 0x0e004
#define IGB_TDLEN0 0x0e008
#define IGB_TDH0 0x0e010
#define IGB_TDT0 0x0e018
#define IGB_TXDCTL0 0x0e028

#define IGB_SRRCTL_BSIZEPKT_1K 1u		/* bits 6:0, 1 KiB units */
#define IGB_SRRCTL_DESCTYPE_ADV_ONEBUF (1u << 25)
#define IGB_SRRCTL_DROP_EN (1u << 31)
#define IGB_XDCTL_WTHRESH(x) ((uint32_t)(x) << 16)
#define IGB_XDCTL_ENABLE (1u << 25)

static void igb_mask_irqs(struct nic *nic)
{
	nic_write(nic, NIC_IMC, 0xffffffffu);
	nic_write(nic, IGB_EIMC, 0xffffffffu);
}

/* igb_enable_queue() - set ENABLE in RXDCTL/TXDCTL and poll until it reads back (ch. 4: the tail must
 * not be bumped before) */
static int igb_enable_queue(struct nic *nic, uint32_t reg, const char *name, nl_error_t *err)
{
	nic_write(nic, reg, IGB_XDCTL_ENABLE | IGB_XDCTL_WTHRESH(1));
	if (nic_wait_bits(nic, reg, IGB_XDCTL_ENABLE, IGB_XDCTL_ENABLE, 100) < 0)
		return nl_error(err, 0, "%s.ENABLE did not read back 1 within 100 ms", name);
	return 0;
}

/* igb_init_rx() - SRRCTL0: 2 KiB buffers, advanced one-buffer descriptors, drop when out of
 * descriptors; then enable queue 0 */
static int igb_init_rx(struct nic *nic, nl_error_t *err)
{
	nic_write(nic, IGB_SRRCTL0, (VNIC_BUF_BYTES / 1024) * IGB_SRRCTL_BSIZEPKT_1K |
					    IGB_SRRCTL_DESCTYPE_ADV_ONEBUF | IGB_SRRCTL_DROP_EN);
	return igb_enable_queue(nic, IGB_RXDCTL0, "RXDCTL0", err);
}

static int igb_init_tx(struct nic *nic, nl_error_t *err)
{
	return igb_enable_queue(nic, IGB_TXDCTL0, "TXDCTL0", err);
}

const struct nic_ops nic_igb_ops = {
	.model = "igb",
	.device_id = 0x10c9,
	.desc_format = VNIC_DESC_ADVANCED,
	.rdbal = IGB_RDBAL0,
	.rdbah = IGB_RDBAH0,
	.rdlen = IGB_RDLEN0,
	.rdh = IGB_RDH0,
	.rdt = IGB_RDT0,
	.tdbal = IGB_TDBAL0,
	.tdbah = IGB_TDBAH0,
	.tdlen = IGB_TDLEN0,
	.tdh = IGB_TDH0,
	.tdt = IGB_TDT0,
	.mask_irqs = igb_mask_irqs,
	.init_rx = igb_init_rx,
	.init_tx = igb_init_tx,
};
