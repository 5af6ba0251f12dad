/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vnic.h - nestlab-vfio-nic: a polling userspace driver for QEMU's igb (82576) and e1000e (82574L)
 * behind VFIO, for checking nested device assignment (docs/vfio-nic.md)
 *
 * Layers, each a file:
 *   vfio.c         the VFIO legacy container/group API: open, BAR mmap, config space, DMA map/unmap
 *   dma.c          DMA pages: anonymous memory mapped at IOVAs this program chooses, never reused
 *   nic.c          the device-independent driver: reset, rings, link, Rx/Tx polling
 *   nic_igb.c      the 82576 specifics (struct nic_ops)
 *   nic_e1000e.c   the 82574L specifics (struct nic_ops)
 *   cmd.c          the commands (info, rx, tx, echo, maps, unmap, dma-to, regs)
 *   serve.c        one-shot, `serve` (stdin or unix socket) and `call`
 *   udp.c          host-side udp-send / udp-recv, the far end of QEMU's UDP netdev
 *   pkt.c          pkt-up / pkt-tx / pkt-rx / pkt-wait: the NIC under the kernel's own driver, AF_PACKET
 *   pcap.c         pcap file output
 *   main.c         global options and dispatch
 * The pure parts (command parsing, ring math, descriptor formats, frame_gen) live in orchestrator/lib.
 *
 * Datasheets: "Intel 82576EB GbE Controller Datasheet" (igb) and "Intel 82574 GbE Controller Family
 * Datasheet" (e1000e). Citations give the chapter and the section title, which stay put across datasheet
 * revisions; a section number is given only where it was checked (82576 §7.2.2.3, 82574 §7.1.8). QEMU's
 * hw/net/igb_core.c and e1000e_core.c (10.0) are cited for what the emulation actually does.
 */
#ifndef NESTLAB_VNIC_H
#define NESTLAB_VNIC_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "util.h"
#include "vnic_cmd.h"
#include "vnic_ring.h"

#define VNIC_PAGE_BYTES 4096u
#define VNIC_BUF_BYTES 2048u		/* Rx buffer size programmed into the NIC (one frame per buffer) */
#define VNIC_DEFAULT_RING 128
#define VNIC_DEFAULT_IOVA_BASE 0x10000000ull
/* IOVA layout, offsets from the base (docs/vfio-nic.md "IOVA layout") */
#define VNIC_IOVA_RX_RING 0x0000000ull
#define VNIC_IOVA_TX_RING 0x0100000ull
#define VNIC_IOVA_RX_BUF 0x1000000ull
#define VNIC_IOVA_TX_BUF 0x2000000ull
#define VNIC_IOVA_SPARE 0x3000000ull	/* replacement buffers, bump-allocated, never reused */
#define VNIC_IOVA_SPAN 0x4000000ull

extern volatile sig_atomic_t vnic_stop;	/* set by SIGTERM/SIGINT: finish the current command, exit */

/* ---- vfio.c --------------------------------------------------------------------------------- */
struct vfio_dev {
	int container_fd, group_fd, device_fd;
	int group_id;
	char bdf[32];
	const char *iommu_name;		/* "type1v2" or "type1" */
	uint64_t config_offset;		/* of the PCI config region in the device fd */
	volatile uint8_t *bar0;
	size_t bar0_size;
	struct vfio_iova_window {
		uint64_t start, end;	/* inclusive */
	} *iova_ranges;			/* from VFIO_IOMMU_GET_INFO; NULL when the kernel gave none */
	size_t n_iova_ranges;
};

#define VFIO_DEV_INIT { .container_fd = -1, .group_fd = -1, .device_fd = -1, .group_id = -1 }

int vfio_find_device(char *bdf, size_t size, nl_error_t *err);
int vfio_bind(const char *bdf, nl_error_t *err);
int vfio_open(struct vfio_dev *dev, const char *bdf, nl_error_t *err);
void vfio_close(struct vfio_dev *dev);
int vfio_config_read(struct vfio_dev *dev, unsigned off, void *buf, size_t len, nl_error_t *err);
int vfio_config_write(struct vfio_dev *dev, unsigned off, const void *buf, size_t len, nl_error_t *err);
int vfio_map_bar0(struct vfio_dev *dev, nl_error_t *err);
int vfio_dma_map(struct vfio_dev *dev, void *vaddr, uint64_t iova, size_t size, nl_error_t *err);
int vfio_dma_unmap(struct vfio_dev *dev, uint64_t iova, size_t size, nl_error_t *err);
bool vfio_iova_usable(const struct vfio_dev *dev, uint64_t start, uint64_t size);
uint64_t vfio_virt_to_phys(int pagemap_fd, const void *vaddr);

/* ---- dma.c ---------------------------------------------------------------------------------- */
enum dma_role {
	DMA_RX_RING,
	DMA_TX_RING,
	DMA_RX_BUF,
	DMA_TX_BUF,
};

struct dma_page {
	uint64_t iova;
	uint8_t *vaddr;
	size_t size;
	enum dma_role role;
	uint32_t slot;			/* ring slot of a buffer */
	bool mapped;			/* false once unmapped: kept (not freed) so dma-to can check it */
};

struct dma_pool {
	struct dma_page *pages;		/* indices stay valid; pointers do not survive dma_alloc() */
	size_t n_pages, alloc;
	uint64_t spare_next;		/* next replacement IOVA */
	struct vfio_dev *vfio;
};

const char *dma_role_name(enum dma_role role);
int dma_alloc(struct dma_pool *pool, uint64_t iova, size_t size, enum dma_role role, uint32_t slot,
	      size_t *index, nl_error_t *err);
int dma_unmap(struct dma_pool *pool, size_t index, nl_error_t *err);
long dma_find(const struct dma_pool *pool, uint64_t iova);
void dma_release(struct dma_pool *pool);
size_t dma_mapped_count(const struct dma_pool *pool);

/* ---- nic.c ---------------------------------------------------------------------------------- */
struct nic;

/* register offsets and the steps that differ between the 82576 and the 82574L */
struct nic_ops {
	const char *model;		/* "igb", "e1000e" */
	uint16_t device_id;
	enum vnic_desc_format desc_format;
	uint32_t rdbal, rdbah, rdlen, rdh, rdt;
	uint32_t tdbal, tdbah, tdlen, tdh, tdt;
	void (*mask_irqs)(struct nic *nic);
	int (*init_rx)(struct nic *nic, nl_error_t *err);	/* after the ring registers are written */
	int (*init_tx)(struct nic *nic, nl_error_t *err);
};

extern const struct nic_ops nic_igb_ops;
extern const struct nic_ops nic_e1000e_ops;

struct nic_config {
	const char *device;		/* BDF, or NULL / "auto" */
	uint32_t ring_size;
	uint64_t iova_base;
	uint32_t link_timeout_ms;
	bool verbose;
};

struct nic_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
};

struct nic {
	const struct nic_ops *ops;
	struct nic_config cfg;
	struct vfio_dev vfio;
	struct dma_pool pool;
	uint16_t vendor_id, device_id;
	uint8_t mac[6];
	bool link_up;
	unsigned speed_mbps;
	struct vnic_ring rx, tx;
	size_t rx_ring_page, tx_ring_page;	/* pool indices */
	size_t *rx_buf_page, *tx_buf_page;	/* pool index per slot */
	struct nic_stats stats;
	bool opened;
};

uint32_t nic_read(struct nic *nic, uint32_t reg);
void nic_write(struct nic *nic, uint32_t reg, uint32_t value);
int nic_wait_bits(struct nic *nic, uint32_t reg, uint32_t mask, uint32_t want, uint32_t timeout_ms);
void nic_log(const struct nic *nic, const char *fmt, ...) PRINTF_FMT(2, 3);
int nic_open(struct nic *nic, const struct nic_config *cfg, nl_error_t *err);
void nic_close(struct nic *nic);
volatile union vnic_desc *nic_rx_desc(struct nic *nic, uint32_t slot);
volatile union vnic_desc *nic_tx_desc(struct nic *nic, uint32_t slot);
struct dma_page *nic_rx_buf(struct nic *nic, uint32_t slot);
struct dma_page *nic_tx_buf(struct nic *nic, uint32_t slot);
bool nic_rx_poll(struct nic *nic, uint32_t *slot, struct vnic_rx_result *res);
void nic_rx_refill(struct nic *nic, uint32_t slot);
void nic_rx_enable(struct nic *nic, bool on);
int nic_tx_reserve(struct nic *nic, uint32_t timeout_ms, uint32_t *slot, nl_error_t *err);
void nic_tx_submit(struct nic *nic, uint32_t slot, uint64_t iova, uint16_t len);
uint32_t nic_tx_reclaim(struct nic *nic);
int nic_tx_drain(struct nic *nic, uint32_t timeout_ms, nl_error_t *err);
void nic_update_link(struct nic *nic);
void nic_idle(unsigned *spins);
void sleep_us(unsigned us);

/* register offsets shared by both NICs (82576 ch. 8 / 82574 ch. 10 register descriptions) */
#define NIC_CTRL 0x00000
#define NIC_STATUS 0x00008
#define NIC_MDIC 0x00020
#define NIC_ICR 0x000c0
#define NIC_IMC 0x000d8
#define NIC_RCTL 0x00100
#define NIC_TCTL 0x00400
#define NIC_RAL0 0x05400
#define NIC_RAH0 0x05404

#define NIC_CTRL_SLU (1u << 6)
#define NIC_CTRL_RST (1u << 26)
#define NIC_STATUS_LU (1u << 1)
#define NIC_STATUS_SPEED_SHIFT 6
#define NIC_RCTL_EN (1u << 1)
#define NIC_RCTL_UPE (1u << 3)
#define NIC_RCTL_MPE (1u << 4)
#define NIC_RCTL_BAM (1u << 15)
#define NIC_RCTL_SECRC (1u << 26)
#define NIC_TCTL_EN (1u << 1)
#define NIC_TCTL_PSP (1u << 3)
#define NIC_TCTL_CT(x) ((uint32_t)(x) << 4)
#define NIC_TCTL_COLD(x) ((uint32_t)(x) << 12)
#define NIC_RAH_AV (1u << 31)

/* ---- cmd.c ---------------------------------------------------------------------------------- */
/*
 * cmd_run() - execute one parsed device command; item lines go to @out, the key=value summary of the
 * status line to @summary. Returns 0 or -1 with @err (the caller prints the status line).
 */
int cmd_run(struct nic *nic, const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err);

/* ---- udp.c ---------------------------------------------------------------------------------- */
int udp_send(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err);
int udp_recv(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err);

/* ---- pkt.c ---------------------------------------------------------------------------------- */
int pkt_up(const struct vnic_cmd *cmd, struct strbuf *summary, nl_error_t *err);
int pkt_tx(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err);
int pkt_rx(const struct vnic_cmd *cmd, bool may_detach, FILE *out, struct strbuf *summary, nl_error_t *err);
int pkt_wait(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err);

/* ---- pcap.c --------------------------------------------------------------------------------- */
FILE *pcap_open(const char *path, nl_error_t *err);
void pcap_write(FILE *f, const uint8_t *frame, size_t len);

/* ---- frame reporting (cmd.c, shared with udp.c and pkt.c) ----------------------------------- */
struct frame_check {
	bool is_fg;			/* carries a frame_gen header */
	uint32_t index;
	long diff_at;			/* -1: byte-exact */
};

void frame_check_run(const struct vnic_cmd *cmd, const uint8_t *frame, size_t len, struct frame_check *fc);
void frame_line(FILE *out, const char *prefix, const uint8_t *frame, size_t len, const struct frame_check *fc);

/* what rx, echo and pkt-rx count: every frame, frame_gen ones, frame_gen ones that differ */
struct rx_tally {
	uint32_t received, fg, bad;
	struct frame_check first_bad;
};

void rx_tally_add(struct rx_tally *t, const struct frame_check *fc);

/*
 * The receiver's progress for the sender's window (--progress PATH): "received=N\n", replaced whole
 * through PATH.tmp and rename() so a reader never sees half of it. Written at the start (0), after
 * every RX_PROGRESS_STEP frames, when the receiver goes idle with frames not yet reported, and at the end.
 */
#define RX_PROGRESS_STEP 8
struct rx_progress {
	const char *path;		/* NULL: no progress file */
	uint32_t reported;
	bool started;
};

/* rx_progress_update() - report @received when it is due (@force: whenever it changed); errors ignored */
void rx_progress_update(struct rx_progress *p, uint32_t received, bool force);

/* what udp-send and pkt-tx count */
struct send_tally {
	uint32_t sent;
	uint64_t bytes;
};

typedef int (*frame_send_fn)(void *ctx, const uint8_t *frame, size_t len, nl_error_t *err);
int frames_send(const struct vnic_cmd *cmd, const struct frame_spec *spec, frame_send_fn send, void *ctx,
		FILE *out, struct send_tally *tally, nl_error_t *err);

/* ---- serve.c -------------------------------------------------------------------------------- */
struct serve_options {
	const char *socket_path;	/* NULL: stdin/stdout */
	uint32_t wait_ms;		/* call: how long to wait for the socket to appear */
};

int serve_one_shot(const struct nic_config *cfg, int argc, char **argv);
int serve_run(const struct nic_config *cfg, const struct serve_options *opts);
int serve_call(const struct serve_options *opts, int argc, char **argv);
void serve_status_line(FILE *out, const char *cmd, int rc, const struct strbuf *summary, nl_error_t err);

#endif /* NESTLAB_VNIC_H */
