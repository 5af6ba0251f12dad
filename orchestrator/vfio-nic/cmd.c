/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd.c - the device commands of nestlab-vfio-nic: info, rx, tx, echo, maps, unmap, dma-to, regs
 *
 * Each command prints its item lines (`frame ...`, `map ...`, `reg ...`) to the output as it goes and
 * leaves the key=value summary for the status line in a buffer; serve.c prints `ok cmd=...` or
 * `error cmd=... msg=...` (line format in vnic_cmd.h and docs/vfio-nic.md).
 *
 * The frame helpers at the top (frame_check_run, frame_line, rx_tally_add, frames_send) also serve the
 * socket commands of udp.c and pkt.c.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vnic.h"

#define HEAD_BYTES 16			/* first bytes of a frame printed as hex */

/**
 * frame_check_run() - check a frame against frame_gen
 * @cmd:	the expectations the command was given (--seed, --src, --dst, --payload, --size*); what it
 *		does not give is taken from the frame itself (frame_gen_self_spec())
 * @frame:	bytes
 * @len:	length
 * @fc:		result: not a frame_gen frame, byte-exact, or the first differing offset
 */
void frame_check_run(const struct vnic_cmd *cmd, const uint8_t *frame, size_t len, struct frame_check *fc)
{
	struct frame_spec spec;

	fc->is_fg = false;
	fc->diff_at = -1;
	if (frame_gen_self_spec(frame, len, &spec, &fc->index) < 0)
		return;
	fc->is_fg = true;
	if (cmd->seed_set)
		spec.seed = cmd->spec.seed;
	if (cmd->src_set)
		memcpy(spec.src, cmd->spec.src, 6);
	if (cmd->dst_set)
		memcpy(spec.dst, cmd->spec.dst, 6);
	if (cmd->payload_set)
		spec.payload = cmd->spec.payload;
	if (cmd->sizes_set) {
		spec.size_min = cmd->spec.size_min;
		spec.size_max = cmd->spec.size_max;
	}
	fc->diff_at = frame_gen_verify(&spec, fc->index, frame, len);
}

/* frame_line() - "@prefix crc32=... head=... fg=ok|bad|none [index=I] [diff_at=O]" */
void frame_line(FILE *out, const char *prefix, const uint8_t *frame, size_t len, const struct frame_check *fc)
{
	cleanup_free char *head = vnic_hex(frame, len, HEAD_BYTES);

	fprintf(out, "%s crc32=0x%08x head=%s", prefix, frame_gen_crc32(frame, len), head);
	if (!fc)
		fputc('\n', out);
	else if (!fc->is_fg)
		fputs(" fg=none\n", out);
	else if (fc->diff_at < 0)
		fprintf(out, " fg=ok index=%u\n", fc->index);
	else
		fprintf(out, " fg=bad index=%u diff_at=%ld\n", fc->index, fc->diff_at);
	fflush(out);
}

/**
 * frames_send() - build frames first_index .. first_index + count - 1 of @spec and hand each to @send,
 * with a `frame` line per frame (unless --quiet) and --gap-us between them; the loop of the socket
 * senders (udp-send, pkt-tx)
 * @cmd:	count, first index, gap, quiet
 * @spec:	the frames
 * @send:	hands one frame over; returns 0, or -1 with @err
 * @ctx:	for @send
 * @out:	frame lines
 * @tally:	frames and bytes handed over (also on failure)
 * @err:	from @send
 *
 * Return: 0, or -1 when @send failed; a signal ends the loop early with 0 (the caller compares counts)
 */
int frames_send(const struct vnic_cmd *cmd, const struct frame_spec *spec, frame_send_fn send, void *ctx,
		FILE *out, struct send_tally *tally, nl_error_t *err)
{
	uint8_t frame[FRAME_GEN_MAX_LEN];

	for (tally->sent = 0, tally->bytes = 0; tally->sent < cmd->count && !vnic_stop; tally->sent++) {
		uint32_t index = cmd->first_index + tally->sent;
		size_t len = frame_gen_build(spec, index, frame, sizeof(frame));

		if (send(ctx, frame, len, err) < 0)
			return nl_error_wrap(err, "frame %u", index);
		if (!cmd->quiet) {
			char prefix[96];

			snprintf(prefix, sizeof(prefix), "frame n=%u index=%u len=%zu", tally->sent, index, len);
			frame_line(out, prefix, frame, len, NULL);
		}
		tally->bytes += len;
		if (cmd->gap_us)
			sleep_us(cmd->gap_us);
	}
	return 0;
}

/* cmd_info() - everything in the status line */
static int cmd_info(struct nic *nic, struct strbuf *summary)
{
	char mac[18];

	nic_update_link(nic);
	vnic_format_mac(nic->mac, mac);
	strbuf_printf(summary, "bdf=%s model=%s vendor=0x%04x device=0x%04x mac=%s link=%s speed=%u group=%d "
		      "iommu=%s ring_size=%u rx_ring_iova=0x%llx tx_ring_iova=0x%llx rx_buf_iova=0x%llx "
		      "tx_buf_iova=0x%llx buf_stride=%u buf_bytes=%u maps=%zu rx_frames=%llu tx_frames=%llu",
		      nic->vfio.bdf, nic->ops->model, nic->vendor_id, nic->device_id, mac,
		      nic->link_up ? "up" : "down", nic->speed_mbps, nic->vfio.group_id, nic->vfio.iommu_name,
		      nic->cfg.ring_size, (unsigned long long)nic->pool.pages[nic->rx_ring_page].iova,
		      (unsigned long long)nic->pool.pages[nic->tx_ring_page].iova,
		      (unsigned long long)(nic->cfg.iova_base + VNIC_IOVA_RX_BUF),
		      (unsigned long long)(nic->cfg.iova_base + VNIC_IOVA_TX_BUF), VNIC_PAGE_BYTES, VNIC_BUF_BYTES,
		      dma_mapped_count(&nic->pool), (unsigned long long)nic->stats.rx_frames,
		      (unsigned long long)nic->stats.tx_frames);
	return 0;
}

/* rx_tally_add() - count one checked frame (struct rx_tally in vnic.h) */
void rx_tally_add(struct rx_tally *t, const struct frame_check *fc)
{
	t->received++;
	t->fg += fc->is_fg;
	if (fc->is_fg && fc->diff_at >= 0 && !t->bad++)
		t->first_bad = *fc;
}

void rx_progress_update(struct rx_progress *p, uint32_t received, bool force)
{
	char line[32], tmp[4096];
	int fd, len;

	if (!p->path || (p->started && (received == p->reported || (!force && received - p->reported < RX_PROGRESS_STEP))))
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", p->path) >= (int)sizeof(tmp))
		return;
	len = snprintf(line, sizeof(line), "received=%u\n", received);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)len) == len && close(fd) == 0 && rename(tmp, p->path) == 0) {
		p->reported = received;
		p->started = true;
		return;
	}
	close(fd);
}

/* rx_verdict() - the summary, and an error when frames are missing or differ */
static int rx_verdict(const struct vnic_cmd *cmd, const struct rx_tally *t, uint64_t t0, struct strbuf *summary,
		      nl_error_t *err)
{
	uint64_t elapsed = now_ms() - t0;

	strbuf_printf(summary, "received=%u fg=%u bad=%u elapsed_ms=%llu", t->received, t->fg, t->bad,
		      (unsigned long long)elapsed);
	if (t->received < cmd->count)
		return nl_error(err, 0, "%s received %u of %u frames in %llu ms%s", vnic_cmd_name(cmd->id),
				t->received, cmd->count, (unsigned long long)elapsed,
				vnic_stop ? " (interrupted)" : " (--timeout-ms)");
	if (t->bad)
		return nl_error(err, 0, "%u frames differ from frame_gen; first: index %u at offset %ld", t->bad,
				t->first_bad.index, t->first_bad.diff_at);
	return 0;
}

/**
 * cmd_rx() - receive --count frames within --timeout-ms (counted from the start of the command)
 * @nic:	started NIC
 * @cmd:	count, timeout, expectations, pcap, quiet
 * @out:	one `frame` line per frame
 * @summary:	received, frame_gen frames, mismatches, time
 * @err:	fewer frames than asked for, or frames that differ
 *
 * Return: 0 or -1
 */
static int cmd_rx(struct nic *nic, const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	cleanup_file FILE *pcap = NULL;
	uint64_t t0 = now_ms(), deadline = t0 + cmd->timeout_ms;
	struct rx_tally tally = { 0 };
	struct rx_progress progress = { .path = cmd->progress_path };
	unsigned spins = 0;

	if (cmd->pcap_path && !(pcap = pcap_open(cmd->pcap_path, err)))
		return -1;
	rx_progress_update(&progress, 0, true);
	while (tally.received < cmd->count) {
		struct vnic_rx_result res;
		struct frame_check fc;
		struct dma_page *buf;
		uint32_t slot;
		size_t len;

		if (!nic_rx_poll(nic, &slot, &res)) {
			if (now_ms() >= deadline || vnic_stop)
				break;
			if (spins == 0)
				rx_progress_update(&progress, tally.received, true);
			nic_idle(&spins);
			continue;
		}
		spins = 0;
		buf = nic_rx_buf(nic, slot);
		len = res.length < VNIC_BUF_BYTES ? res.length : VNIC_BUF_BYTES;
		frame_check_run(cmd, buf->vaddr, len, &fc);
		if (!cmd->quiet) {
			char prefix[160];

			snprintf(prefix, sizeof(prefix), "frame n=%u len=%zu iova=0x%llx slot=%u eop=%d errors=0x%x",
				 tally.received, len, (unsigned long long)buf->iova, slot, res.eop, res.errors);
			frame_line(out, prefix, buf->vaddr, len, &fc);
		}
		if (pcap)
			pcap_write(pcap, buf->vaddr, len);
		nic_rx_refill(nic, slot);
		rx_tally_add(&tally, &fc);
		rx_progress_update(&progress, tally.received, false);
	}
	rx_progress_update(&progress, tally.received, true);
	return rx_verdict(cmd, &tally, t0, summary, err);
}

/**
 * cmd_tx() - transmit frames first_index .. first_index + count - 1 of the frame_gen spec, from the
 * NIC's MAC address, then wait until the device completed them all
 * @nic:	started NIC
 * @cmd:	count, spec (dst, seed, sizes, payload), first index, gap, timeout for completions
 * @out:	one `frame` line per frame
 * @summary:	sent, bytes, indices
 * @err:	the ring stayed full, or completions did not come
 *
 * Return: 0 or -1
 */
static int cmd_tx(struct nic *nic, const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	struct frame_spec spec = cmd->spec;
	uint64_t t0 = now_ms(), bytes = 0;
	char src[18], dst[18];
	uint32_t sent = 0;
	int rc = 0;

	memcpy(spec.src, nic->mac, 6);
	for (; sent < cmd->count && !vnic_stop; sent++) {
		uint32_t slot, index = cmd->first_index + sent;
		struct dma_page *buf;
		size_t len;

		if (nic_tx_reserve(nic, cmd->timeout_ms, &slot, err) < 0) {
			rc = -1;
			break;
		}
		buf = nic_tx_buf(nic, slot);
		len = frame_gen_build(&spec, index, buf->vaddr, VNIC_BUF_BYTES);
		if (!cmd->quiet) {
			char prefix[160];

			snprintf(prefix, sizeof(prefix), "frame n=%u index=%u len=%zu iova=0x%llx slot=%u", sent, index,
				 len, (unsigned long long)buf->iova, slot);
			frame_line(out, prefix, buf->vaddr, len, NULL);
		}
		nic_tx_submit(nic, slot, buf->iova, (uint16_t)len);
		bytes += len;
		if (cmd->gap_us)
			sleep_us(cmd->gap_us);
	}
	if (rc == 0 && nic_tx_drain(nic, cmd->timeout_ms, err) < 0)
		rc = -1;
	if (rc == 0 && sent < cmd->count)
		rc = nl_error(err, 0, "tx interrupted after %u of %u frames", sent, cmd->count);
	vnic_format_mac(spec.src, src);
	vnic_format_mac(spec.dst, dst);
	strbuf_printf(summary, "sent=%u bytes=%llu first_index=%u seed=%llu src=%s dst=%s elapsed_ms=%llu", sent,
		      (unsigned long long)bytes, cmd->first_index, (unsigned long long)spec.seed, src, dst,
		      (unsigned long long)(now_ms() - t0));
	return rc;
}

/* echo_one() - send the frame in Rx @slot back out; prints its line */
static int echo_one(struct nic *nic, const struct vnic_cmd *cmd, uint32_t rx_slot, size_t len, uint32_t n,
		    FILE *out, nl_error_t *err)
{
	struct dma_page *rx_buf = nic_rx_buf(nic, rx_slot), *tx_buf;
	uint32_t tx_slot;

	if (nic_tx_reserve(nic, cmd->timeout_ms, &tx_slot, err) < 0)
		return -1;
	tx_buf = nic_tx_buf(nic, tx_slot);
	memcpy(tx_buf->vaddr, rx_buf->vaddr, len);
	if (cmd->swap_mac && len >= 12) {
		memcpy(tx_buf->vaddr, rx_buf->vaddr + 6, 6);
		memcpy(tx_buf->vaddr + 6, nic->mac, 6);
	}
	if (!cmd->quiet) {
		char prefix[200];

		snprintf(prefix, sizeof(prefix), "frame n=%u len=%zu rx_iova=0x%llx tx_iova=0x%llx", n, len,
			 (unsigned long long)rx_buf->iova, (unsigned long long)tx_buf->iova);
		frame_line(out, prefix, tx_buf->vaddr, len, NULL);
	}
	nic_tx_submit(nic, tx_slot, tx_buf->iova, (uint16_t)len);
	return 0;
}

/* cmd_echo() - receive --count frames and transmit each back (copied into a Tx buffer); frame_gen frames
 * are checked against their own header on the way (counted in the status line like rx) */
static int cmd_echo(struct nic *nic, const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary,
		    nl_error_t *err)
{
	cleanup_file FILE *pcap = NULL;
	uint64_t t0 = now_ms(), deadline = t0 + cmd->timeout_ms;
	struct rx_tally tally = { 0 };
	unsigned spins = 0;

	if (cmd->pcap_path && !(pcap = pcap_open(cmd->pcap_path, err)))
		return -1;
	while (tally.received < cmd->count) {
		struct vnic_rx_result res;
		struct frame_check fc;
		uint32_t slot;
		size_t len;
		int rc;

		if (!nic_rx_poll(nic, &slot, &res)) {
			if (now_ms() >= deadline || vnic_stop)
				break;
			nic_idle(&spins);
			continue;
		}
		spins = 0;
		len = res.length < VNIC_BUF_BYTES ? res.length : VNIC_BUF_BYTES;
		frame_check_run(cmd, nic_rx_buf(nic, slot)->vaddr, len, &fc);
		if (pcap)
			pcap_write(pcap, nic_rx_buf(nic, slot)->vaddr, len);
		rc = echo_one(nic, cmd, slot, len, tally.received, out, err);
		nic_rx_refill(nic, slot);
		if (rc < 0)
			return -1;
		rx_tally_add(&tally, &fc);
	}
	if (nic_tx_drain(nic, cmd->timeout_ms, err) < 0)
		return -1;
	return rx_verdict(cmd, &tally, t0, summary, err);
}

/* cmd_maps() - one line per 4 KiB page the driver holds: `map` while mapped, `stale` once unmapped */
static int cmd_maps(struct nic *nic, FILE *out, struct strbuf *summary)
{
	cleanup_close int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	size_t mapped = 0, stale = 0;

	for (size_t i = 0; i < nic->pool.n_pages; i++) {
		const struct dma_page *page = &nic->pool.pages[i];

		for (size_t off = 0; off < page->size; off += VNIC_PAGE_BYTES) {
			uint64_t gpa = vfio_virt_to_phys(pagemap, page->vaddr + off);
			char gpa_text[24] = "unknown";

			if (gpa)
				snprintf(gpa_text, sizeof(gpa_text), "0x%llx", (unsigned long long)gpa);
			fprintf(out, "%s iova=0x%llx size=%u vaddr=%p gpa=%s role=%s slot=%u\n",
				page->mapped ? "map" : "stale", (unsigned long long)(page->iova + off), VNIC_PAGE_BYTES,
				(void *)(page->vaddr + off), gpa_text, dma_role_name(page->role), page->slot);
			*(page->mapped ? &mapped : &stale) += 1;
		}
	}
	fflush(out);
	strbuf_printf(summary, "count=%zu stale=%zu", mapped, stale);
	return 0;
}

/* replace_buffer() - a fresh page at the next spare IOVA for ring slot @slot; returns its pool index */
static int replace_buffer(struct nic *nic, enum dma_role role, uint32_t slot, size_t *new_index, nl_error_t *err)
{
	uint64_t iova = nic->pool.spare_next;

	if (iova + VNIC_PAGE_BYTES > nic->cfg.iova_base + VNIC_IOVA_SPAN)
		return nl_error(err, 0, "no spare IOVA left for a replacement buffer");
	if (dma_alloc(&nic->pool, iova, VNIC_PAGE_BYTES, role, slot, new_index, err) < 0)
		return -1;
	nic->pool.spare_next += VNIC_PAGE_BYTES;
	return 0;
}

/*
 * unmap_rx_buf() - swap a fresh buffer into Rx slot @slot while reception is off (RCTL.EN clear: the
 * device then touches no Rx descriptor), so the slot never points at the IOVA being unmapped. A slot
 * that holds a received frame not yet read is refused rather than dropped: read it with rx first.
 */
static int unmap_rx_buf(struct nic *nic, uint32_t slot, size_t *new_index, nl_error_t *err)
{
	struct vnic_rx_result res;

	nic_rx_enable(nic, false);
	if (vnic_rx_desc_done(nic->ops->desc_format, nic_rx_desc(nic, slot), &res)) {
		nic_rx_enable(nic, true);
		return nl_error(err, 0, "Rx slot %u holds a received frame not yet read: read it with rx, then unmap",
				slot);
	}
	if (replace_buffer(nic, DMA_RX_BUF, slot, new_index, err) < 0) {
		nic_rx_enable(nic, true);
		return -1;
	}
	nic->rx_buf_page[slot] = *new_index;
	vnic_rx_desc_arm(nic->ops->desc_format, nic_rx_desc(nic, slot), nic->pool.pages[*new_index].iova);
	nic_rx_enable(nic, true);
	return 0;
}

/**
 * cmd_unmap() - VFIO_IOMMU_UNMAP_DMA one buffer and stop using it
 * @nic:	started NIC
 * @cmd:	--iova, anywhere inside the buffer
 * @summary:	what was unmapped and what replaced it
 * @err:	not ours, already unmapped, a ring, or the unmap failed
 *
 * The ring slot gets a new buffer at a fresh IOVA first, so the device keeps working and never sees the
 * old IOVA again; the old page stays allocated (`stale` in maps) for dma-to.
 *
 * Return: 0 or -1
 */
static int cmd_unmap(struct nic *nic, const struct vnic_cmd *cmd, struct strbuf *summary, nl_error_t *err)
{
	long index = dma_find(&nic->pool, cmd->iova);
	size_t new_index = 0;
	uint32_t slot;
	enum dma_role role;
	uint64_t iova;

	if (index < 0)
		return nl_error(err, 0, "IOVA 0x%llx is not mapped by this driver (see maps)",
				(unsigned long long)cmd->iova);
	role = nic->pool.pages[index].role;
	slot = nic->pool.pages[index].slot;
	iova = nic->pool.pages[index].iova;
	if (!nic->pool.pages[index].mapped)
		return nl_error(err, 0, "IOVA 0x%llx is already unmapped", (unsigned long long)iova);
	if (role == DMA_RX_RING || role == DMA_TX_RING)
		return nl_error(err, 0, "IOVA 0x%llx is the %s: the device reads it all the time, unmap a buffer "
				"(rx-buf or tx-buf in maps) instead", (unsigned long long)iova, dma_role_name(role));
	if (role == DMA_RX_BUF) {
		if (unmap_rx_buf(nic, slot, &new_index, err) < 0)
			return -1;
	} else {
		if (nic_tx_drain(nic, cmd->timeout_ms, err) < 0 ||
		    replace_buffer(nic, DMA_TX_BUF, slot, &new_index, err) < 0)
			return -1;
		nic->tx_buf_page[slot] = new_index;
	}
	if (dma_unmap(&nic->pool, (size_t)index, err) < 0)
		return -1;
	strbuf_printf(summary, "iova=0x%llx size=%u role=%s slot=%u replacement_iova=0x%llx maps=%zu",
		      (unsigned long long)iova, VNIC_PAGE_BYTES, dma_role_name(role), slot,
		      (unsigned long long)nic->pool.pages[new_index].iova, dma_mapped_count(&nic->pool));
	return 0;
}

/* page_crc() - CRC-32 of the page holding @iova, if the driver holds it (mapped or stale) */
static bool page_crc(struct nic *nic, uint64_t iova, uint32_t *crc)
{
	long index = dma_find(&nic->pool, iova);

	if (index < 0)
		return false;
	*crc = frame_gen_crc32(nic->pool.pages[index].vaddr, nic->pool.pages[index].size);
	return true;
}

/* drain_rx() - consume frames that already completed (they are not reported); returns how many */
static uint32_t drain_rx(struct nic *nic)
{
	struct vnic_rx_result res;
	uint32_t slot, n = 0;

	while (nic_rx_poll(nic, &slot, &res)) {
		nic_rx_refill(nic, slot);
		n++;
	}
	return n;
}

/*
 * dma_via_rx() - point the Rx descriptor the device fills next (the ring's clean slot) at @iova, let one
 * received frame complete it, and put the slot's own buffer back. The IOVA is written while RCTL.EN is
 * clear. Return: 1 when a frame completed the descriptor, 0 on timeout.
 */
static int dma_via_rx(struct nic *nic, const struct vnic_cmd *cmd, uint32_t *slot_out, uint32_t *drained,
		      struct vnic_rx_result *res)
{
	enum vnic_desc_format fmt = nic->ops->desc_format;
	uint64_t deadline = now_ms() + cmd->timeout_ms;
	uint32_t slot;
	unsigned spins = 0;
	int done = 0;

	*drained = drain_rx(nic);
	nic_rx_enable(nic, false);
	*drained += drain_rx(nic);
	slot = *slot_out = nic->rx.clean;
	vnic_rx_desc_arm(fmt, nic_rx_desc(nic, slot), cmd->iova);
	nic_rx_enable(nic, true);
	while (!(done = vnic_rx_desc_done(fmt, nic_rx_desc(nic, slot), res))) {
		if (now_ms() >= deadline || vnic_stop)
			break;
		nic_idle(&spins);
	}
	if (!done) {
		nic_rx_enable(nic, false);
		done = vnic_rx_desc_done(fmt, nic_rx_desc(nic, slot), res);
		if (!done)
			vnic_rx_desc_arm(fmt, nic_rx_desc(nic, slot), nic_rx_buf(nic, slot)->iova);
		nic_rx_enable(nic, true);
	}
	if (done) {
		vnic_ring_take(&nic->rx);
		nic_rx_refill(nic, slot);
	}
	return done;
}

/**
 * cmd_dma_to() - make the device access an arbitrary IOVA once: to show that a stale IOVA is blocked by
 * the IOMMU (a DMAR fault at the IOMMU that translates for the device, memory unchanged) and, as the
 * control, that a mapped one is not
 * @nic:	started NIC
 * @cmd:	--iova; --via rx (the next received frame is written there: a DMA write) or tx (a --length
 *		byte frame is sent from there: a DMA read); --timeout-ms
 * @summary:	slot, completion, whether the driver holds that page and whether its bytes changed
 * @err:	via rx: no frame arrived; via tx: the descriptor did not complete
 *
 * The device completes the descriptor either way (QEMU drops the failed DMA and still writes DD back),
 * so `completed=1` says the device tried; the IOMMU's fault log says whether it was blocked.
 *
 * Return: 0 or -1
 */
static int cmd_dma_to(struct nic *nic, const struct vnic_cmd *cmd, struct strbuf *summary, nl_error_t *err)
{
	uint32_t crc_before = 0, crc_after = 0, slot = 0, drained = 0, length = 0;
	bool held = page_crc(nic, cmd->iova, &crc_before);
	long index = dma_find(&nic->pool, cmd->iova);
	bool mapped = index >= 0 && nic->pool.pages[index].mapped;
	const char *memory = "unknown";
	int completed;

	if (cmd->via == VNIC_DMA_VIA_RX) {
		struct vnic_rx_result res = { 0 };

		completed = dma_via_rx(nic, cmd, &slot, &drained, &res);
		length = res.length;
		if (!completed)
			return nl_error(err, 0, "dma-to 0x%llx via rx: no frame arrived within %u ms to trigger the "
					"DMA (send one from the peer)", (unsigned long long)cmd->iova, cmd->timeout_ms);
	} else {
		if (nic_tx_reserve(nic, cmd->timeout_ms, &slot, err) < 0)
			return -1;
		nic_tx_submit(nic, slot, cmd->iova, cmd->length);
		if (nic_tx_drain(nic, cmd->timeout_ms, err) < 0)
			return nl_error_wrap(err, "dma-to 0x%llx via tx", (unsigned long long)cmd->iova);
		completed = 1;
		length = cmd->length;
	}
	if (held && page_crc(nic, cmd->iova, &crc_after))
		memory = crc_before == crc_after ? "unchanged" : "changed";
	strbuf_printf(summary, "iova=0x%llx via=%s slot=%u completed=%d length=%u held=%d mapped=%d memory=%s "
		      "drained=%u", (unsigned long long)cmd->iova, cmd->via == VNIC_DMA_VIA_RX ? "rx" : "tx", slot,
		      completed, length, held, mapped, memory, drained);
	return 0;
}

/* cmd_regs() - the registers that tell what the device is doing */
static int cmd_regs(struct nic *nic, FILE *out, struct strbuf *summary)
{
	const struct nic_ops *ops = nic->ops;
	const struct {
		const char *name;
		uint32_t off;
	} regs[] = {
		{ "CTRL", NIC_CTRL }, { "STATUS", NIC_STATUS }, { "RCTL", NIC_RCTL },  { "TCTL", NIC_TCTL },
		{ "RDBAL", ops->rdbal }, { "RDBAH", ops->rdbah }, { "RDLEN", ops->rdlen }, { "RDH", ops->rdh },
		{ "RDT", ops->rdt },	 { "TDBAL", ops->tdbal }, { "TDBAH", ops->tdbah }, { "TDLEN", ops->tdlen },
		{ "TDH", ops->tdh },	 { "TDT", ops->tdt },	  { "RAL0", NIC_RAL0 },	   { "RAH0", NIC_RAH0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		fprintf(out, "reg name=%s offset=0x%05x value=0x%08x\n", regs[i].name, regs[i].off,
			nic_read(nic, regs[i].off));
	fflush(out);
	strbuf_printf(summary, "count=%zu rx_clean=%u rx_tail=%u tx_clean=%u tx_tail=%u", ARRAY_SIZE(regs),
		      nic->rx.clean, nic->rx.tail, nic->tx.clean, nic->tx.tail);
	return 0;
}

int cmd_run(struct nic *nic, const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	switch (cmd->id) {
	case VNIC_CMD_INFO: return cmd_info(nic, summary);
	case VNIC_CMD_RX: return cmd_rx(nic, cmd, out, summary, err);
	case VNIC_CMD_TX: return cmd_tx(nic, cmd, out, summary, err);
	case VNIC_CMD_ECHO: return cmd_echo(nic, cmd, out, summary, err);
	case VNIC_CMD_MAPS: return cmd_maps(nic, out, summary);
	case VNIC_CMD_UNMAP: return cmd_unmap(nic, cmd, summary, err);
	case VNIC_CMD_DMA_TO: return cmd_dma_to(nic, cmd, summary, err);
	case VNIC_CMD_REGS: return cmd_regs(nic, out, summary);
	default: return nl_error(err, 0, "%s is not a device command", vnic_cmd_name(cmd->id));
	}
}
