/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nic.c - the device-independent part of the driver: probe through VFIO, reset, one Rx and one Tx ring,
 * link up, and polling. Steps follow the initialization chapter the two datasheets share (ch. 4
 * "Initialization", sections "Software Initialization Sequence", "Receive Initialization", "Transmit
 * Initialization"; citation convention in vnic.h):
 *
 *	mask interrupts, stop Rx/Tx, CTRL.RST, mask interrupts again      ("Interrupts During Initialization",
 *	                                                                   "Software Reset")
 *	read the MAC address from RAL0/RAH0 (loaded from the NVM at reset) (ch. 8 "Receive Address Low/High")
 *	Rx: ring registers, per-NIC queue set-up, tail, then RCTL.EN last  ("Receive Initialization")
 *	Tx: ring registers, per-NIC queue set-up, then TCTL.EN             ("Transmit Initialization")
 *	link: CTRL.SLU; if STATUS.LU stays clear, restart PHY auto-negotiation through MDIC
 *
 * No interrupts are used: Rx and Tx completions are found by polling the descriptors' DD bits, like a
 * DPDK poll-mode driver. Per-NIC differences (register offsets, descriptor format, queue enable bits)
 * are in nic_igb.c and nic_e1000e.c behind struct nic_ops.
 */
#include <errno.h>
#include <linux/pci_regs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vnic.h"

#define NIC_MDIC_OP_WRITE (1u << 26)
#define NIC_MDIC_READY (1u << 28)
#define NIC_MDIC_ERROR (1u << 30)
#define NIC_MDIC_PHY_ADDR 1u		/* the internal PHY (QEMU accepts only address 1) */
/* IEEE 802.3 clause 22 register 0, "PHY Control Register" in the PHY register chapter of both datasheets */
#define PHY_BMCR 0
#define PHY_BMCR_SPEED1000 0x0040
#define PHY_BMCR_FULL_DUPLEX 0x0100
#define PHY_BMCR_AN_RESTART 0x0200
#define PHY_BMCR_AN_ENABLE 0x1000

uint32_t nic_read(struct nic *nic, uint32_t reg)
{
	return *(volatile uint32_t *)(nic->vfio.bar0 + reg);
}

/* nic_write() - MMIO write; descriptor stores before it are ordered before it (x86 TSO + compiler
 * barrier, as DPDK's rte_io_wmb on x86) */
void nic_write(struct nic *nic, uint32_t reg, uint32_t value)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	*(volatile uint32_t *)(nic->vfio.bar0 + reg) = value;
}

void nic_log(const struct nic *nic, const char *fmt, ...)
{
	va_list ap;

	if (!nic->cfg.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "nestlab-vfio-nic: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* sleep_us() - pause @us microseconds (a signal may end it early) */
void sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* nic_idle() - back off while polling: spin a little, then sleep 50 us per round */
void nic_idle(unsigned *spins)
{
	if (++*spins < 256)
		__builtin_ia32_pause();
	else
		sleep_us(50);
}

/* nic_wait_bits() - poll until (@reg & @mask) == @want; returns 0, or -1 after @timeout_ms */
int nic_wait_bits(struct nic *nic, uint32_t reg, uint32_t mask, uint32_t want, uint32_t timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		if ((nic_read(nic, reg) & mask) == want)
			return 0;
		if (now_ms() >= deadline)
			return -1;
		sleep_us(100);
	}
}

volatile union vnic_desc *nic_rx_desc(struct nic *nic, uint32_t slot)
{
	return (volatile union vnic_desc *)nic->pool.pages[nic->rx_ring_page].vaddr + slot;
}

volatile union vnic_desc *nic_tx_desc(struct nic *nic, uint32_t slot)
{
	return (volatile union vnic_desc *)nic->pool.pages[nic->tx_ring_page].vaddr + slot;
}

struct dma_page *nic_rx_buf(struct nic *nic, uint32_t slot)
{
	return &nic->pool.pages[nic->rx_buf_page[slot]];
}

struct dma_page *nic_tx_buf(struct nic *nic, uint32_t slot)
{
	return &nic->pool.pages[nic->tx_buf_page[slot]];
}

/* nic_probe() - VFIO, ids, BAR0, memory decoding and bus mastering (PCI Local Bus 3.0 §6.2.2, Command) */
static int nic_probe(struct nic *nic, nl_error_t *err)
{
	char bdf[64];
	uint16_t ids[2], command;

	if (!nic->cfg.device || !strcmp(nic->cfg.device, "auto")) {
		if (vfio_find_device(bdf, sizeof(bdf), err) < 0)
			return -1;
	} else {
		snprintf(bdf, sizeof(bdf), "%s", nic->cfg.device);
	}
	if (vfio_open(&nic->vfio, bdf, err) < 0)
		return -1;
	if (vfio_config_read(&nic->vfio, PCI_VENDOR_ID, ids, sizeof(ids), err) < 0)
		return -1;
	nic->vendor_id = ids[0];
	nic->device_id = ids[1];
	if (ids[0] == 0x8086 && ids[1] == nic_igb_ops.device_id)
		nic->ops = &nic_igb_ops;
	else if (ids[0] == 0x8086 && ids[1] == nic_e1000e_ops.device_id)
		nic->ops = &nic_e1000e_ops;
	else
		return nl_error(err, 0, "%s is %04x:%04x: only igb (8086:10c9) and e1000e (8086:10d3) are driven",
				bdf, ids[0], ids[1]);
	if (vfio_map_bar0(&nic->vfio, err) < 0)
		return -1;
	if (vfio_config_read(&nic->vfio, PCI_COMMAND, &command, sizeof(command), err) < 0)
		return -1;
	command |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (vfio_config_write(&nic->vfio, PCI_COMMAND, &command, sizeof(command), err) < 0)
		return -1;
	nic_log(nic, "%s: %s, group %d, iommu %s, BAR0 %zu bytes", bdf, nic->ops->model, nic->vfio.group_id,
		nic->vfio.iommu_name, nic->vfio.bar0_size);
	return 0;
}

/*
 * nic_reset() - quiesce and reset the MAC (ch. 4 "Interrupts During Initialization": disable interrupts,
 * global reset, disable interrupts again; "Software Reset": wait at least 1 ms after CTRL.RST). QEMU clears
 * RST at once and resets every MAC register (igb_reset()/e1000e_reset() with sw = true).
 */
static int nic_reset(struct nic *nic, nl_error_t *err)
{
	nic->ops->mask_irqs(nic);
	nic_write(nic, NIC_RCTL, 0);
	nic_write(nic, NIC_TCTL, 0);
	(void)nic_read(nic, NIC_STATUS);	/* flush posted writes */
	sleep_us(10000);
	nic_write(nic, NIC_CTRL, nic_read(nic, NIC_CTRL) | NIC_CTRL_RST);
	sleep_us(1000);
	if (nic_wait_bits(nic, NIC_CTRL, NIC_CTRL_RST, 0, 100) < 0)
		return nl_error(err, 0, "%s: CTRL.RST did not clear within 100 ms", nic->vfio.bdf);
	nic->ops->mask_irqs(nic);
	(void)nic_read(nic, NIC_ICR);		/* read to clear */
	return 0;
}

/* nic_read_mac() - the station address from RAL0/RAH0 (set from the NVM by the reset) */
static int nic_read_mac(struct nic *nic, nl_error_t *err)
{
	uint32_t ral = nic_read(nic, NIC_RAL0), rah = nic_read(nic, NIC_RAH0);

	for (int i = 0; i < 4; i++)
		nic->mac[i] = (uint8_t)(ral >> (8 * i));
	nic->mac[4] = (uint8_t)rah;
	nic->mac[5] = (uint8_t)(rah >> 8);
	if (!(rah & NIC_RAH_AV) || (!ral && !(rah & 0xffff)))
		return nl_error(err, 0, "%s: no valid MAC address in RAL0/RAH0 after reset", nic->vfio.bdf);
	return 0;
}

/* nic_alloc_rings() - descriptor rings and one buffer page per slot, at the fixed IOVA layout */
static int nic_alloc_rings(struct nic *nic, nl_error_t *err)
{
	uint64_t base = nic->cfg.iova_base;
	uint32_t n = nic->cfg.ring_size;
	size_t ring_bytes = ((size_t)n * VNIC_DESC_BYTES + VNIC_PAGE_BYTES - 1) / VNIC_PAGE_BYTES * VNIC_PAGE_BYTES;

	nic->pool.vfio = &nic->vfio;
	nic->pool.spare_next = base + VNIC_IOVA_SPARE;
	if (!vfio_iova_usable(&nic->vfio, base, VNIC_IOVA_SPAN))
		return nl_error(err, 0, "IOVAs 0x%llx..0x%llx are not all usable on this IOMMU: choose another "
				"--iova-base", (unsigned long long)base,
				(unsigned long long)(base + VNIC_IOVA_SPAN - 1));
	if (dma_alloc(&nic->pool, base + VNIC_IOVA_RX_RING, ring_bytes, DMA_RX_RING, 0, &nic->rx_ring_page,
		      err) < 0 ||
	    dma_alloc(&nic->pool, base + VNIC_IOVA_TX_RING, ring_bytes, DMA_TX_RING, 0, &nic->tx_ring_page,
		      err) < 0)
		return -1;
	nic->rx_buf_page = xcalloc(n, sizeof(size_t));
	nic->tx_buf_page = xcalloc(n, sizeof(size_t));
	for (uint32_t i = 0; i < n; i++) {
		if (dma_alloc(&nic->pool, base + VNIC_IOVA_RX_BUF + (uint64_t)i * VNIC_PAGE_BYTES, VNIC_PAGE_BYTES,
			      DMA_RX_BUF, i, &nic->rx_buf_page[i], err) < 0 ||
		    dma_alloc(&nic->pool, base + VNIC_IOVA_TX_BUF + (uint64_t)i * VNIC_PAGE_BYTES, VNIC_PAGE_BYTES,
			      DMA_TX_BUF, i, &nic->tx_buf_page[i], err) < 0)
			return -1;
	}
	nic_log(nic, "%zu DMA mappings at 0x%llx..", nic->pool.n_pages, (unsigned long long)base);
	return 0;
}

/*
 * nic_start_rx() - ch. 4 "Receive Initialization" of both datasheets: ring base, length, head and
 * tail; the per-NIC set-up (buffer size, descriptor type, queue enable); the tail only after the queue
 * reads enabled; RCTL last. RCTL: promiscuous unicast and multicast, broadcast accept, strip the CRC
 * (SECRC, so lengths are frame lengths), BSIZE 00b = 2048-byte buffers (ch. 8 "Receive Control - RCTL").
 */
static int nic_start_rx(struct nic *nic, nl_error_t *err)
{
	const struct nic_ops *ops = nic->ops;
	uint64_t ring_iova = nic->pool.pages[nic->rx_ring_page].iova;
	uint32_t n = nic->cfg.ring_size;

	vnic_ring_init(&nic->rx, n);
	for (uint32_t i = 0; i < n; i++)
		vnic_rx_desc_arm(ops->desc_format, nic_rx_desc(nic, i), nic_rx_buf(nic, i)->iova);
	for (uint32_t i = 0; i + 1 < n; i++)
		vnic_ring_give(&nic->rx);
	nic_write(nic, ops->rdbal, (uint32_t)ring_iova);
	nic_write(nic, ops->rdbah, (uint32_t)(ring_iova >> 32));
	nic_write(nic, ops->rdlen, n * VNIC_DESC_BYTES);
	nic_write(nic, ops->rdh, 0);
	nic_write(nic, ops->rdt, 0);
	if (ops->init_rx(nic, err) < 0)
		return -1;
	nic_write(nic, ops->rdt, nic->rx.tail);
	nic_write(nic, NIC_RCTL, NIC_RCTL_EN | NIC_RCTL_UPE | NIC_RCTL_MPE | NIC_RCTL_BAM | NIC_RCTL_SECRC);
	return 0;
}

/*
 * nic_start_tx() - ch. 4 "Transmit Initialization" of both datasheets: ring registers, per-NIC
 * set-up, then TCTL: enable, pad short packets, collision threshold 0x0f and distance 0x3f (the
 * datasheets' full-duplex recommendation, ch. 8 "Transmit Control - TCTL").
 */
static int nic_start_tx(struct nic *nic, nl_error_t *err)
{
	const struct nic_ops *ops = nic->ops;
	uint64_t ring_iova = nic->pool.pages[nic->tx_ring_page].iova;

	vnic_ring_init(&nic->tx, nic->cfg.ring_size);
	nic_write(nic, ops->tdbal, (uint32_t)ring_iova);
	nic_write(nic, ops->tdbah, (uint32_t)(ring_iova >> 32));
	nic_write(nic, ops->tdlen, nic->cfg.ring_size * VNIC_DESC_BYTES);
	nic_write(nic, ops->tdh, 0);
	nic_write(nic, ops->tdt, 0);
	if (ops->init_tx(nic, err) < 0)
		return -1;
	nic_write(nic, NIC_TCTL, NIC_TCTL_EN | NIC_TCTL_PSP | NIC_TCTL_CT(0x0f) | NIC_TCTL_COLD(0x3f));
	return 0;
}

/* phy_write() - one MDIC write to the internal PHY (ch. 8 "MDI Control Register - MDIC") */
static int phy_write(struct nic *nic, unsigned reg, uint16_t value, nl_error_t *err)
{
	nic_write(nic, NIC_MDIC, value | (reg << 16) | (NIC_MDIC_PHY_ADDR << 21) | NIC_MDIC_OP_WRITE);
	if (nic_wait_bits(nic, NIC_MDIC, NIC_MDIC_READY, NIC_MDIC_READY, 100) < 0)
		return nl_error(err, 0, "%s: MDIC write of PHY register %u did not complete", nic->vfio.bdf, reg);
	if (nic_read(nic, NIC_MDIC) & NIC_MDIC_ERROR)
		return nl_error(err, 0, "%s: MDIC write of PHY register %u failed", nic->vfio.bdf, reg);
	return 0;
}

void nic_update_link(struct nic *nic)
{
	static const unsigned speeds[] = { 10, 100, 1000, 1000 };
	uint32_t status = nic_read(nic, NIC_STATUS);

	nic->link_up = status & NIC_STATUS_LU;
	nic->speed_mbps = nic->link_up ? speeds[(status >> NIC_STATUS_SPEED_SHIFT) & 3] : 0;
}

/*
 * nic_link_up() - CTRL.SLU ("Device Control Register - CTRL"), then wait for STATUS.LU ("Device Status
 * Register - STATUS"). After CTRL.RST QEMU's igb
 * reports the link down until the PHY auto-negotiates (igb_reset() clears STATUS.LU; its autoneg timer
 * runs 500 ms after a BMCR write with AN_RESTART), as the Linux igb driver's igb_copper_link_autoneg()
 * does on hardware; QEMU's e1000e comes out of reset with the link up.
 */
static int nic_link_up(struct nic *nic, nl_error_t *err)
{
	nic_write(nic, NIC_CTRL, nic_read(nic, NIC_CTRL) | NIC_CTRL_SLU);
	if (nic_wait_bits(nic, NIC_STATUS, NIC_STATUS_LU, NIC_STATUS_LU, 50) < 0) {
		nic_log(nic, "link down after SLU: restarting PHY auto-negotiation");
		if (phy_write(nic, PHY_BMCR, PHY_BMCR_AN_ENABLE | PHY_BMCR_AN_RESTART | PHY_BMCR_FULL_DUPLEX |
					     PHY_BMCR_SPEED1000, err) < 0)
			return -1;
		if (nic_wait_bits(nic, NIC_STATUS, NIC_STATUS_LU, NIC_STATUS_LU, nic->cfg.link_timeout_ms) < 0) {
			nic_update_link(nic);
			return nl_error(err, 0, "%s: link still down after %u ms (STATUS 0x%08x): is the netdev "
					"connected? (--link-timeout-ms)", nic->vfio.bdf, nic->cfg.link_timeout_ms,
					nic_read(nic, NIC_STATUS));
		}
	}
	nic_update_link(nic);
	return 0;
}

/**
 * nic_open() - find, open, reset and start the NIC
 * @nic:	zeroed struct; release with nic_close() also on error
 * @cfg:	device, ring size, IOVA base, link timeout
 * @err:	what failed and what to do
 *
 * Return: 0 or -1
 */
int nic_open(struct nic *nic, const struct nic_config *cfg, nl_error_t *err)
{
	nic->cfg = *cfg;
	nic->vfio = (struct vfio_dev)VFIO_DEV_INIT;
	if (!vnic_ring_size_valid(cfg->ring_size))
		return nl_error(err, 0, "ring size %u: use %u..%u, a multiple of 8", cfg->ring_size, VNIC_RING_MIN,
				VNIC_RING_MAX);
	if (cfg->iova_base % VNIC_PAGE_BYTES)
		return nl_error(err, 0, "--iova-base 0x%llx is not page aligned", (unsigned long long)cfg->iova_base);
	if (nic_probe(nic, err) < 0)
		return -1;
	nic->opened = true;
	if (nic_reset(nic, err) < 0 || nic_read_mac(nic, err) < 0 || nic_alloc_rings(nic, err) < 0 ||
	    nic_start_rx(nic, err) < 0 || nic_start_tx(nic, err) < 0 || nic_link_up(nic, err) < 0)
		return nl_error_wrap(err, "%s %s", nic->ops->model, nic->vfio.bdf);
	nic_log(nic, "ready: link %s %u Mb/s", nic->link_up ? "up" : "down", nic->speed_mbps);
	return 0;
}

/*
 * nic_close() - leave the device quiet before its memory goes: Rx/Tx off, reset (so no stale ring
 * address survives into the next user, cf. feasibility report obstacle 9), bus mastering off, then the
 * DMA mappings and the VFIO fds
 */
void nic_close(struct nic *nic)
{
	if (nic->opened && nic->vfio.bar0) {
		cleanup_error nl_error_t ignored = NULL;
		uint16_t command;

		nic_write(nic, NIC_RCTL, 0);
		nic_write(nic, NIC_TCTL, 0);
		nic_reset(nic, &ignored);
		if (vfio_config_read(&nic->vfio, PCI_COMMAND, &command, sizeof(command), &ignored) == 0) {
			command &= (uint16_t)~PCI_COMMAND_MASTER;
			vfio_config_write(&nic->vfio, PCI_COMMAND, &command, sizeof(command), &ignored);
		}
	}
	if (nic->pool.vfio)
		dma_release(&nic->pool);
	vfio_close(&nic->vfio);
	free(nic->rx_buf_page);
	free(nic->tx_buf_page);
	nic->rx_buf_page = nic->tx_buf_page = NULL;
	nic->opened = false;
}

/**
 * nic_rx_poll() - the next received frame, if the device completed one
 * @nic:	started NIC
 * @slot:	set to the completed slot; its buffer holds the frame until nic_rx_refill(@slot)
 * @res:	length, EOP, errors
 *
 * Return: true when a frame was taken
 */
bool nic_rx_poll(struct nic *nic, uint32_t *slot, struct vnic_rx_result *res)
{
	if (!vnic_ring_in_flight(&nic->rx) ||
	    !vnic_rx_desc_done(nic->ops->desc_format, nic_rx_desc(nic, nic->rx.clean), res))
		return false;
	*slot = vnic_ring_take(&nic->rx);
	nic->stats.rx_frames++;
	nic->stats.rx_bytes += res->length;
	return true;
}

/* nic_rx_refill() - re-arm @slot with its buffer and hand it back (it becomes the new tail) */
void nic_rx_refill(struct nic *nic, uint32_t slot)
{
	vnic_rx_desc_arm(nic->ops->desc_format, nic_rx_desc(nic, slot), nic_rx_buf(nic, slot)->iova);
	nic_write(nic, nic->ops->rdt, vnic_ring_give(&nic->rx));
}

/* nic_rx_enable() - RCTL.EN on or off; while off, the device touches no Rx descriptor */
void nic_rx_enable(struct nic *nic, bool on)
{
	uint32_t rctl = nic_read(nic, NIC_RCTL);

	nic_write(nic, NIC_RCTL, on ? rctl | NIC_RCTL_EN : rctl & ~NIC_RCTL_EN);
	(void)nic_read(nic, NIC_STATUS);
}

/* nic_tx_reclaim() - consume completed Tx descriptors; returns how many */
uint32_t nic_tx_reclaim(struct nic *nic)
{
	uint32_t n = 0;

	while (vnic_ring_in_flight(&nic->tx) &&
	       vnic_tx_desc_done(nic->ops->desc_format, nic_tx_desc(nic, nic->tx.clean))) {
		vnic_ring_take(&nic->tx);
		n++;
	}
	return n;
}

/**
 * nic_tx_reserve() - a free Tx slot (its buffer is nic_tx_buf(slot)), waiting for completions
 * @nic:	started NIC
 * @timeout_ms:	how long to wait for the device to complete a descriptor
 * @slot:	set to the slot to fill
 * @err:	when the ring stays full
 *
 * Return: 0 or -1
 */
int nic_tx_reserve(struct nic *nic, uint32_t timeout_ms, uint32_t *slot, nl_error_t *err)
{
	uint64_t deadline = now_ms() + timeout_ms;
	unsigned spins = 0;

	for (;;) {
		nic_tx_reclaim(nic);
		if (vnic_ring_space(&nic->tx)) {
			*slot = nic->tx.tail;
			return 0;
		}
		if (now_ms() >= deadline || vnic_stop)
			return nl_error(err, 0, "Tx ring full for %u ms: the device completes no descriptor "
					"(TDH 0x%x TDT 0x%x TCTL 0x%08x)", timeout_ms, nic_read(nic, nic->ops->tdh),
					nic_read(nic, nic->ops->tdt), nic_read(nic, NIC_TCTL));
		nic_idle(&spins);
	}
}

/* nic_tx_submit() - describe @len bytes at @iova in @slot (the tail) and hand it to the device */
void nic_tx_submit(struct nic *nic, uint32_t slot, uint64_t iova, uint16_t len)
{
	vnic_tx_desc_fill(nic->ops->desc_format, nic_tx_desc(nic, slot), iova, len);
	nic_write(nic, nic->ops->tdt, vnic_ring_give(&nic->tx));
	nic->stats.tx_frames++;
	nic->stats.tx_bytes += len;
}

/* nic_tx_drain() - wait until every submitted descriptor completed */
int nic_tx_drain(struct nic *nic, uint32_t timeout_ms, nl_error_t *err)
{
	uint64_t deadline = now_ms() + timeout_ms;
	unsigned spins = 0;

	while (nic_tx_reclaim(nic), vnic_ring_in_flight(&nic->tx)) {
		if (now_ms() >= deadline || vnic_stop)
			return nl_error(err, 0, "%u Tx descriptors not completed after %u ms (TDH 0x%x TDT 0x%x)",
					vnic_ring_in_flight(&nic->tx), timeout_ms, nic_read(nic, nic->ops->tdh),
					nic_read(nic, nic->ops->tdt));
		nic_idle(&spins);
	}
	return 0;
}
