/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nic_e1000e.c - Intel 82574L (QEMU `-device e1000e`, 8086:10d3): queue 0 with legacy descriptors
 *
 * What differs from the 82576 (82574 datasheet ch. 4 "Receive Initialization" / "Transmit
 * Initialization", ch. 10 register descriptions):
 *   - queue 0's registers are the classic e1000 ones at 0x2800 (Rx) and 0x3800 (Tx);
 *   - no queue enable bits: RCTL.EN and TCTL.EN alone start the queues;
 *   - the Rx descriptor format follows RFCTL.EXSTEN: clear means legacy descriptors, which is what QEMU
 *     uses then (e1000e_rx_use_legacy_descriptor()); the buffer size comes from RCTL.BSIZE (2048);
 *   - TIPG gets the datasheet's recommended inter-packet gap (QEMU ignores it), TXDCTL its bit 22, which
 *     the 82574 datasheet says must be written 1, plus descriptor granularity and WTHRESH 1.
 */
#include "vnic.h"

#define E1000E_TIPG 0x00410
#define E1000E_RDBAL 0x02800
#define E1000E_RDBAH 0x02804
#define E1000E_RDLEN 0x02808
#define E1000E_RDH 0x02810
#define E1000E_RDT 0x02818
#define E1000E_TDBAL 0x03800
#define E1000E_TDBAH 0x03804
#define E1000E_TDLEN 0x03808
#define E1000E_TDH 0x03810
#define E1000E_TDT 0x03818
#define E1000E_TXDCTL 0x03828
#define E1000E_RFCTL 0x05008

#define E1000E_RFCTL_EXSTEN (1u << 15)
#define E1000E_TIPG_DEFAULT (8u | 8u << 10 | 6u << 20)	/* IPGT 8, IPGR1 8, IPGR2 6 */
#define E1000E_TXDCTL_WTHRESH(x) ((uint32_t)(x) << 16)
#define E1000E_TXDCTL_BIT22 (1u << 22)
#define E1000E_TXDCTL_GRAN (1u << 24)

static void e1000e_mask_irqs(struct nic *nic)
{
	nic_write(nic, NIC_IMC, 0xffffffffu);
}

/* e1000e_init_rx() - legacy Rx descriptors: RFCTL.EXSTEN clear */
static int e1000e_init_rx(struct nic *nic, nl_error_t *err)
{
	(void)err;
	nic_write(nic, E1000E_RFCTL, nic_read(nic, E1000E_RFCTL) & ~E1000E_RFCTL_EXSTEN);
	return 0;
}

static int e1000e_init_tx(struct nic *nic, nl_error_t *err)
{
	(void)err;
	nic_write(nic, E1000E_TIPG, E1000E_TIPG_DEFAULT);
	nic_write(nic, E1000E_TXDCTL, E1000E_TXDCTL_GRAN | E1000E_TXDCTL_BIT22 | E1000E_TXDCTL_WTHRESH(1));
	return 0;
}

const struct nic_ops nic_e1000e_ops = {
	.model = "e1000e",
	.device_id = 0x10d3,
	.desc_format = VNIC_DESC_LEGACY,
	.rdbal = E1000E_RDBAL,
	.rdbah = E1000E_RDBAH,
	.rdlen = E1000E_RDLEN,
	.rdh = E1000E_RDH,
	.rdt = E1000E_RDT,
	.tdbal = E1000E_TDBAL,
	.tdbah = E1000E_TDBAH,
	.tdlen = E1000E_TDLEN,
	.tdh = E1000E_TDH,
	.tdt = E1000E_TDT,
	.mask_irqs = e1000e_mask_irqs,
	.init_rx = e1000e_init_rx,
	.init_tx = e1000e_init_tx,
};
