/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * run_traffic.c - check a: test frames both ways between nestlab's peer at L0 and L2's driver
 *
 * L0 -> L2: L2 starts its receiver in the background (nestlab-vfio-nic pkt-rx on the kernel driver's
 * netdev, or `rx` on the userspace VFIO driver), then the peer sends `frames` frame_gen frames; the
 * receiver checks each byte-exact against the seed. L2 -> L0: L2's sender transmits `frames` frames of
 * seed + 1 and the peer checks them. The supervisor loop runs while L2's commands run, so the peer
 * keeps sending and receiving; L2's commands write their output to files in /run/nestlab that the run
 * reads back (l2-rx.out, l2-tx.out in the run directory).
 *
 * L0 -> L2 is sent with a window (peer_send_windowed()): the peer is never more than
 * TRAFFIC_WINDOW_FRAMES frames ahead of what L2's receiver reported received (nestlab-vfio-nic
 * --progress, testpmd's port counters), so a slow L2, or a host busy with other runs, makes the
 * traffic slower, never lossy. Every frame must still arrive; none is sent twice.
 *
 * With DPDK (driver: dpdk, the dpdk L2 image) L2 runs testpmd through /bin/nestlab-testpmd: hugepages,
 * the NIC on vfio-pci inside L2, testpmd interactive on a FIFO. testpmd cannot make or check frame_gen
 * frames, so the two directions are: an echo (`set fwd macswap`): the peer sends frames of seed + 1,
 * testpmd swaps their MAC addresses and sends them back, and what comes back is exactly the frame_gen
 * frame of seed + 1 from the NIC to the peer, which the peer verifies byte for byte as it does L2's own
 * frames; then L0 -> L2 (`set fwd rxonly`): the peer sends frames of the run's seed and testpmd counts
 * them (its forward statistics and the port's counters). The rxonly run comes last and leaves testpmd
 * stopped but running, so that L2's buffers still hold those frames, unchanged, and its vfio mappings
 * stay for the shadow check, which looks for the last of them in L2's domain.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

#define VNIC_SOCK RUN_GUEST_DIR "/vfio-nic.sock"
#define L2_TESTPMD "/bin/nestlab-testpmd"	/* images/l2/dpdk/files/bin/nestlab-testpmd */
/*
 * testpmd's mbuf pool: 2048 of 2176 bytes (testpmd wants more than 1024). With the rest of what testpmd
 * allocates, most of it its per-port state for RTE_MAX_ETHPORTS ports, it maps 10 hugepages of 2 MiB
 * (5120 pages of 4 KiB) through vfio; 9 with the smallest pool testpmd takes
 */
#define TESTPMD_MBUFS 2048
#define TESTPMD_START_TIMEOUT_MS 180000		/* hugepages, bind, EAL init and link up, nested */
/*
 * The window: frames the peer sends beyond what L2 reported received. 64 frames of at most 1514 bytes
 * (about 150 KB with the kernel's per-buffer overhead) fit every buffer on the way even without the
 * wire's flow control: a default socket buffer (208 KiB), the receive rings (128 descriptors for
 * nestlab-vfio-nic, 256 for Linux's igb and e1000e, more for testpmd) and pkt-rx's 16 MiB. The receiver
 * reports every 8 frames and when it goes idle, so the window is rarely empty.
 */
#define TRAFFIC_WINDOW_FRAMES 64
#define TRAFFIC_PROGRESS_POLL_MS 100	/* the loop runs this long between reports while the window is full */
#define L2_RX_PROGRESS RUN_GUEST_DIR "/rx.progress"	/* nestlab-vfio-nic --progress */
#define L2_RX_PROGRESS_MAX_BYTES 64

/* run_loop_tick() - let the loop run for @ms (peer I/O); SIGINT ends it with EINTR */
static bool never(void *opaque UNUSED)
{
	return false;
}

int run_loop_tick(struct run *r, int ms, nl_error_t *err)
{
	if (loop_run_until(&r->loop, never, NULL, ms, err) < 0) {
		if ((*err)->errnum == ETIMEDOUT) {
			nl_error_release(err);
			return 0;
		}
		return -1;
	}
	return 0;
}

/* run_l2_bg() - start @cmd in L2 in the background; output in /run/nestlab/@name.out, status in @name.rc */
int run_l2_bg(struct run *r, const char *name, const char *cmd, nl_error_t *err)
{
	cleanup_free char *q = plan_shell_quote(cmd);
	int status;

	run_logf(r, "L2: %s", cmd);
	if (run_sh(r, 2, 30000, NULL, &status, err,
		   "mkdir -p %s; rm -f %s/%s.out %s/%s.rc; setsid sh -c %s' >%s/%s.out 2>&1; echo $? >%s/%s.rc' "
		   "</dev/null >/dev/null 2>&1 &",
		   RUN_GUEST_DIR, RUN_GUEST_DIR, name, RUN_GUEST_DIR, name, q, RUN_GUEST_DIR, name, RUN_GUEST_DIR,
		   name) < 0)
		return -1;
	return status == 0 ? 0 : nl_error(err, 0, "L2 could not start %s", cmd);
}

/* run_l2_bg_done() - 1 when the background command @name has finished (*@rc its status), 0 while it runs */
static int run_l2_bg_done(struct run *r, const char *name, int *rc, nl_error_t *err)
{
	cleanup_free char *out = NULL;
	int status;

	if (run_sh(r, 2, 30000, &out, &status, err, "cat %s/%s.rc 2>/dev/null", RUN_GUEST_DIR, name) < 0)
		return -1;
	if (status != 0 || !out || !*out)
		return 0;
	*rc = atoi(out);
	return 1;
}

/* run_l2_bg_wait() - wait for @name to finish, running the loop; its output in *@out */
int run_l2_bg_wait(struct run *r, const char *name, uint64_t timeout_ms, char **out, int *rc, nl_error_t *err)
{
	uint64_t t0 = now_ms();
	cleanup_free char *path = xasprintf("%s/%s.out", RUN_GUEST_DIR, name);
	cleanup_free char *saved = xasprintf("l2-%s.out", name);
	size_t len = 0;
	int done = 0;

	while (!(done = run_l2_bg_done(r, name, rc, err))) {
		if (now_ms() - t0 > timeout_ms) {
			run_sh(r, 2, 10000, NULL, NULL, err, "pkill -f nestlab-vfio-nic; true");
			nl_error_release(err);
			*rc = -1;
			break;
		}
		if (run_loop_tick(r, 200, err) < 0)
			return -1;
	}
	if (done < 0)
		return -1;
	if (agent_client_read_file(r->agent, 2, path, 8u << 20, 30000, out, &len, err) < 0)
		return -1;
	run_save(r, saved, *out, len);
	return 0;
}

/* run_status_line() - the last "ok cmd=" / "error cmd=" line of vfio-nic output (points into @out), or NULL */
const char *run_status_line(const char *out)
{
	const char *last = NULL;

	for (const char *p = out; p && *p;) {
		if (!strncmp(p, "ok cmd=", 7) || !strncmp(p, "error cmd=", 10))
			last = p;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return last;
}

/* run_status_value() - the value of key @key in a status line, or 0 */
unsigned long run_status_value(const char *line, const char *key)
{
	cleanup_free char *pat = xasprintf(" %s=", key);
	const char *end = line ? strchr(line, '\n') : NULL;
	const char *p = line ? strstr(line, pat) : NULL;

	if (!p || (end && p > end))
		return 0;
	return strtoul(p + strlen(pat), NULL, 10);
}

/* run_line_copy() - one line as a string */
char *run_line_copy(const char *line)
{
	if (!line)
		return xstrdup("(no status line)");
	return xstrndup(line, strcspn(line, "\n"));
}

/* frame_opts() - the frame_gen options of the plan's traffic */
static char *frame_opts(const struct run *r, uint64_t seed)
{
	const struct plan_traffic *t = &r->plan->traffic;

	return xasprintf("--count %u --seed %llu --size-min %u --size-max %u --payload %s", t->frames,
			 (unsigned long long)seed,
			 t->size_min, t->size_max, scn_payload_name(t->payload ? t->payload : SCN_PAYLOAD_RANDOM));
}

/* l2_setup_kernel() - the kernel driver's netdev for the NIC: up, promiscuous, carrier */
static int l2_setup_kernel(struct run *r, nl_error_t *err)
{
	cleanup_free char *out = NULL;
	int status;

	if (run_sh(r, 2, 30000, &out, &status, err, "ls /sys/bus/pci/devices/%s/net/ 2>/dev/null | head -1",
		   r->plan->nic.l2_bdf) < 0)
		return -1;
	if (!out || !*out)
		return nl_error(err, 0, "L2 has no network interface for the NIC %s: is its kernel driver bound? "
					"see %s", r->plan->nic.l2_bdf, r->plan->l2_console_log);
	out[strcspn(out, "\n")] = '\0';
	r->l2_ifname = xstrdup(out);
	free(out);
	out = NULL;
	if (run_sh(r, 2, 60000, &out, &status, err, "%s pkt-up --ifname %s --timeout-ms 30000", RUN_L2_VNIC,
		   r->l2_ifname) < 0)
		return -1;
	run_save(r, "l2-pkt-up.out", out, strlen(out));
	if (status != 0)
		return nl_error(err, 0, "L2: %s did not come up: %s", r->l2_ifname, out);
	run_logf(r, "L2: %s up: %s", r->l2_ifname, out);
	return 0;
}

/* l2_setup_vfio() - nestlab-vfio-nic serve on the NIC (bound to vfio-pci in L2) */
static int l2_setup_vfio(struct run *r, nl_error_t *err)
{
	cleanup_free char *out = NULL;
	int status;

	if (run_sh(r, 2, 60000, &out, &status, err,
		   "%s --device %s bind && (setsid %s --device %s serve --socket %s >%s/vfio-nic.log 2>&1 </dev/null &);"
		   " %s --socket %s --wait-ms 30000 call info", RUN_L2_VNIC, r->plan->nic.l2_bdf, RUN_L2_VNIC,
		   r->plan->nic.l2_bdf, VNIC_SOCK, RUN_GUEST_DIR, RUN_L2_VNIC, VNIC_SOCK) < 0)
		return -1;
	run_save(r, "l2-vfio-nic-info.out", out, strlen(out));
	if (status != 0)
		return nl_error(err, 0, "L2: nestlab-vfio-nic did not take the NIC: %s(see l2-vfio-nic-info.out)", out);
	run_logf(r, "L2: nestlab-vfio-nic serves %s", r->plan->nic.l2_bdf);
	return 0;
}

/*
 * l2_rx_progress() - peer_progress_fn: the frames L2's receiver reported in L2_RX_PROGRESS
 * ("received=N", nestlab-vfio-nic --progress); 0 while the file is not there yet. The file is the
 * guest's: anything but that one line is an error (its text is not repeated), and a number larger
 * than what was sent gains it nothing (peer_ack() clamps it).
 */
static int l2_rx_progress(void *opaque, uint64_t *received, nl_error_t *err)
{
	struct run *r = opaque;
	cleanup_free char *data = NULL;
	unsigned long long n;
	char *end;

	if (agent_client_read_file(r->agent, 2, L2_RX_PROGRESS, L2_RX_PROGRESS_MAX_BYTES, 30000, &data, NULL, err) < 0) {
		if ((*err)->errnum != ENOENT)
			return -1;
		nl_error_release(err);
		*received = 0;
		return 0;
	}
	if (strncmp(data, "received=", 9) || data[9] < '0' || data[9] > '9')
		return nl_error(err, EPROTO, "L2's %s does not hold \"received=N\"", L2_RX_PROGRESS);
	errno = 0;
	n = strtoull(data + 9, &end, 10);
	if (errno || (*end != '\n' && *end != '\0'))
		return nl_error(err, EPROTO, "L2's %s does not hold \"received=N\"", L2_RX_PROGRESS);
	*received = n;
	return 0;
}

/* echo_count() - test frames that came back to the peer, good or not */
static long long echo_count(const struct run *r)
{
	return (long long)(r->peer.stats.rx_verified + r->peer.stats.rx_mismatched);
}

/* peer_echo_progress() - peer_progress_fn of the testpmd echo: the frames that came back since the start */
static int peer_echo_progress(void *opaque, uint64_t *received, nl_error_t *err UNUSED)
{
	const struct run *r = opaque;
	long long now = echo_count(r);

	*received = now > r->progress_base ? (uint64_t)(now - r->progress_base) : 0;
	return 0;
}

/*
 * send_to_l2() - the peer sends frames 0 .. frames-1 with the window and @progress; a receiver that
 * stops taking them within the traffic timeout is a failed point, not a run error: *@failure says why
 */
static int send_to_l2(struct run *r, peer_progress_fn progress, char **failure, nl_error_t *err)
{
	const struct plan_traffic *t = &r->plan->traffic;
	struct peer_window w = { .frames = TRAFFIC_WINDOW_FRAMES, .progress = progress, .opaque = r,
				 .poll_ms = TRAFFIC_PROGRESS_POLL_MS, .timeout_ms = r->plan->timeouts.traffic_ms };
	nl_error_t werr = NULL;

	*failure = NULL;
	if (peer_send_windowed(&r->peer, 0, t->frames, &w, &werr) == 0)
		return 0;
	if (werr->errnum != ETIMEDOUT) {
		*err = werr;
		return nl_error_wrap(err, "peer sending %u frames", t->frames);
	}
	*failure = xstrdup(werr->msg);
	nl_error_release(&werr);
	run_logf(r, "%s", *failure);
	return 0;
}

/* mac_text() - "52:54:00:12:34:56" */
static char *mac_text(const uint8_t mac[6])
{
	return xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/*
 * to_l2() - L0 -> L2: the receiver in L2 first (kernel driver: pkt-rx --background returns once its
 * socket is bound; vfio-user: `call rx` in the background), then the peer sends
 */
static int to_l2(struct run *r, nl_error_t *err)
{
	const struct plan_traffic *t = &r->plan->traffic;
	cleanup_free char *fo = frame_opts(r, r->seed);
	cleanup_free char *mac = mac_text(r->nic_mac);
	cleanup_free char *out = NULL, *status = NULL, *msg = NULL, *send_failure = NULL;
	unsigned long long tmo = (unsigned long long)r->plan->timeouts.traffic_ms;
	uint64_t t0 = now_ms();
	const char *sl;
	int rc = -1;
	bool ok;

	if (r->plan->driver == SCN_DRIVER_KERNEL) {
		if (run_sh(r, 2, 30000, &out, &rc, err,
			   "%s pkt-rx --ifname %s %s --src 02:00:00:00:00:01 --dst %s --timeout-ms %llu --quiet "
			   "--background --output %s/pkt-rx.out --progress %s", RUN_L2_VNIC, r->l2_ifname, fo, mac,
			   tmo, RUN_GUEST_DIR, L2_RX_PROGRESS) < 0)
			return -1;
		if (rc != 0)
			return nl_error(err, 0, "L2's receiver did not start: %s", out ? out : "");
	} else {
		cleanup_free char *cmd = xasprintf("%s --socket %s call rx %s --timeout-ms %llu --quiet --progress %s",
						   RUN_L2_VNIC, VNIC_SOCK, fo, tmo, L2_RX_PROGRESS);

		if (run_l2_bg(r, "rx", cmd, err) < 0 || run_loop_tick(r, 1000, err) < 0)
			return -1;
	}
	if (send_to_l2(r, l2_rx_progress, &send_failure, err) < 0)
		return -1;
	free(out);
	out = NULL;
	if (r->plan->driver == SCN_DRIVER_KERNEL) {
		if (run_sh(r, 2, (int)tmo + 20000, &out, &rc, err, "%s pkt-wait --output %s/pkt-rx.out --timeout-ms %llu",
			   RUN_L2_VNIC, RUN_GUEST_DIR, tmo + 10000) < 0)
			return -1;
		run_save(r, "l2-rx.out", out, strlen(out));
	} else if (run_l2_bg_wait(r, "rx", tmo, &out, &rc, err) < 0) {
		return -1;
	}
	sl = run_status_line(out);
	status = run_line_copy(sl);
	ok = !send_failure && rc == 0 && sl && !strncmp(sl, "ok ", 3) && run_status_value(sl, "fg") == t->frames &&
	     run_status_value(sl, "bad") == 0;
	if (!ok)
		msg = xasprintf("L2 receiver: %s (exit %d); the peer sent %llu of %u frames%s%s", status, rc,
				(unsigned long long)r->peer.stats.tx_frames, t->frames, send_failure ? ": " : "",
				send_failure ? send_failure : "");
	run_point(r, ok, now_ms() - t0, msg, "l2-rx.out", "traffic L0->L2: %u frames (%u..%u bytes) received "
		  "byte-exact by %s in L2", t->frames, t->size_min, t->size_max,
		  r->plan->driver == SCN_DRIVER_KERNEL ? r->l2_ifname : "nestlab-vfio-nic");
	return 0;
}

/* from_l2() - L2 -> L0: L2 sends, the peer verifies */
static int from_l2(struct run *r, nl_error_t *err)
{
	const struct plan_traffic *t = &r->plan->traffic;
	cleanup_free char *fo = frame_opts(r, r->seed + 1);
	cleanup_free char *cmd = NULL, *out = NULL, *stats = NULL, *msg = NULL;
	uint64_t t0 = now_ms();
	nl_error_t werr = NULL;
	int rc = -1;
	bool ok;

	if (r->plan->driver == SCN_DRIVER_KERNEL)
		cmd = xasprintf("%s pkt-tx --ifname %s %s --dst 02:00:00:00:00:01 --gap-us 200 --quiet", RUN_L2_VNIC,
				r->l2_ifname, fo);
	else
		cmd = xasprintf("%s --socket %s call tx %s --dst 02:00:00:00:00:01 --gap-us 200 --quiet", RUN_L2_VNIC,
				VNIC_SOCK, fo);
	if (run_l2_bg(r, "tx", cmd, err) < 0)
		return -1;
	if (loop_run_until(&r->loop, peer_rx_complete, &r->peer, (int)r->plan->timeouts.traffic_ms, &werr) < 0) {
		if (werr->errnum == EINTR) {
			*err = werr;
			return -1;
		}
		nl_error_release(&werr);
	}
	if (run_l2_bg_wait(r, "tx", r->plan->timeouts.traffic_ms, &out, &rc, err) < 0)
		return -1;
	/* frames still in flight after the sender finished */
	loop_run_until(&r->loop, peer_rx_complete, &r->peer, 3000, &werr);
	nl_error_release(&werr);
	stats = peer_stats_format(&r->peer);
	ok = r->peer.stats.rx_verified == t->frames && !r->peer.stats.mismatch_seen;
	if (!ok) {
		cleanup_free char *sl = run_line_copy(run_status_line(out));

		msg = xasprintf("peer: %s; L2 sender: %s (exit %d)", stats, sl, rc);
	}
	run_point(r, ok, now_ms() - t0, msg, "peer.log", "traffic L2->L0: %u frames received byte-exact by the peer "
		  "(%llu verified)", t->frames, (unsigned long long)r->peer.stats.rx_verified);
	return 0;
}

/* ---- DPDK testpmd ------------------------------------------------------------------------------ */

/* testpmd_stat() - the number after "@key:" in testpmd output at or after @from, or -1 when absent */
static long long testpmd_stat(const char *from, const char *key)
{
	cleanup_free char *pat = xasprintf("%s:", key);
	const char *p = from ? strstr(from, pat) : NULL;

	if (!p)
		return -1;
	p += strlen(pat);
	p += strspn(p, " ");
	return *p >= '0' && *p <= '9' ? strtoll(p, NULL, 10) : -1;
}

/*
 * testpmd_cmd() - one testpmd command through nestlab-testpmd in L2; its output in *@out (saved as
 * RUN/l2-testpmd-@save.out when @save is set). Return: 0, or -1 when it failed (the error has testpmd's
 * output).
 */
static int testpmd_cmd(struct run *r, const char *command, const char *save, char **out, nl_error_t *err)
{
	cleanup_free char *q = plan_shell_quote(command);
	const char *sl;
	int status;

	*out = NULL;
	run_logf(r, "L2 testpmd: %s", command);
	if (run_sh(r, 2, 60000, out, &status, err, "%s cmd %s 30", L2_TESTPMD, q) < 0)
		return -1;
	if (save) {
		cleanup_free char *name = xasprintf("l2-testpmd-%s.out", save);

		run_save(r, name, *out, strlen(*out));
	}
	sl = run_status_line(*out);
	if (status != 0 || !sl || strncmp(sl, "ok ", 3))
		return nl_error(err, 0, "L2: testpmd '%s' failed: %s", command, *out);
	return 0;
}

/* testpmd_cmds() - testpmd commands in order, output discarded */
static int testpmd_cmds(struct run *r, const char *const *commands, nl_error_t *err)
{
	for (size_t i = 0; commands[i]; i++) {
		cleanup_free char *out = NULL;

		if (testpmd_cmd(r, commands[i], NULL, &out, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * l2_setup_dpdk() - nestlab-testpmd start: hugepages (a quarter of L2's memory, 2 MiB each), the NIC on
 * vfio-pci in L2, testpmd up with the port started
 */
static int l2_setup_dpdk(struct run *r, nl_error_t *err)
{
	unsigned hugepages = (unsigned)(r->plan->l2.memory_bytes / 4 / (2u << 20));
	cleanup_free char *out = NULL, *status_line = NULL;
	int status;

	if (run_sh(r, 2, TESTPMD_START_TIMEOUT_MS, &out, &status, err, "%s start %s %u %u", L2_TESTPMD,
		   r->plan->nic.l2_bdf, hugepages, TESTPMD_MBUFS) < 0)
		return -1;
	run_save(r, "l2-testpmd-start.out", out, strlen(out));
	status_line = run_line_copy(run_status_line(out));
	if (status != 0)
		return nl_error(err, 0, "L2: testpmd did not start: %s (see l2-testpmd-start.out and %s)", status_line,
				r->plan->l2_console_log);
	run_logf(r, "L2: testpmd drives %s: %s", r->plan->nic.l2_bdf, status_line);
	return 0;
}

/* testpmd_fwd_stats() - "RX n, dropped n, TX n, dropped n" of a stop's forward statistics; caller frees */
static char *testpmd_fwd_stats(const char *out, long long *rx, long long *rx_dropped, long long *tx)
{
	const char *acc = out ? strstr(out, "Accumulated forward statistics") : NULL;
	long long tx_dropped;

	*rx = testpmd_stat(acc, "RX-packets");
	*rx_dropped = testpmd_stat(acc, "RX-dropped");
	*tx = testpmd_stat(acc, "TX-packets");
	tx_dropped = testpmd_stat(acc, "TX-dropped");
	return xasprintf("testpmd RX-packets %lld, RX-dropped %lld, TX-packets %lld, TX-dropped %lld", *rx,
			 *rx_dropped, *tx, tx_dropped);
}

/*
 * dpdk_echo() - L0 -> L2 -> L0: testpmd in macswap mode sends every frame back with its addresses
 * swapped, which makes the peer's frame of seed + 1 to the NIC the frame_gen frame of seed + 1 from the
 * NIC to the peer: the peer verifies each byte-exact
 */
static int dpdk_echo(struct run *r, nl_error_t *err)
{
	static const char *const begin[] = { "set fwd macswap", "start", NULL };
	const struct plan_traffic *t = &r->plan->traffic;
	cleanup_free char *out = NULL, *stats = NULL, *fwd = NULL, *msg = NULL, *send_failure = NULL;
	uint64_t t0 = now_ms();
	nl_error_t werr = NULL;
	long long rx, rx_dropped, tx;
	bool ok;

	if (testpmd_cmds(r, begin, err) < 0)
		return -1;
	r->peer.tx.seed = r->seed + 1;	/* echoed, it is the frame the peer expects from L2 */
	/* the window counts what came back: an echo in flight is a frame not yet received */
	r->progress_base = echo_count(r);
	if (send_to_l2(r, peer_echo_progress, &send_failure, err) < 0)
		return -1;
	if (loop_run_until(&r->loop, peer_rx_complete, &r->peer, (int)r->plan->timeouts.traffic_ms, &werr) < 0) {
		if (werr->errnum == EINTR) {
			*err = werr;
			return -1;
		}
		nl_error_release(&werr);
	}
	if (run_loop_tick(r, 1000, err) < 0 || testpmd_cmd(r, "stop", "echo", &out, err) < 0)
		return -1;
	r->peer.tx.seed = r->seed;
	fwd = testpmd_fwd_stats(out, &rx, &rx_dropped, &tx);
	stats = peer_stats_format(&r->peer);
	ok = !send_failure && r->peer.stats.rx_verified == t->frames && !r->peer.stats.mismatch_seen;
	if (!ok)
		msg = xasprintf("peer: %s; %s (l2-testpmd-echo.out)%s%s", stats, fwd, send_failure ? "; " : "",
				send_failure ? send_failure : "");
	run_point(r, ok, now_ms() - t0, msg, "peer.log", "traffic L2->L0: %u frames sent L0->L2 and echoed by testpmd "
		  "(macswap) in L2, received byte-exact by the peer (%llu verified; %s)", t->frames,
		  (unsigned long long)r->peer.stats.rx_verified, fwd);
	return 0;
}

/* testpmd_rx_progress() - peer_progress_fn of rxonly: the port's RX-packets since the start */
static int testpmd_rx_progress(void *opaque, uint64_t *received, nl_error_t *err)
{
	struct run *r = opaque;
	cleanup_free char *out = NULL;
	long long now;

	if (testpmd_cmd(r, "show port stats 0", NULL, &out, err) < 0)
		return -1;
	now = testpmd_stat(out, "RX-packets");
	*received = now > r->progress_base ? (uint64_t)(now - r->progress_base) : 0;
	return 0;
}

/*
 * dpdk_to_l2() - L0 -> L2: testpmd in rxonly mode counts the peer's frames of the run's seed; polled
 * through `show port stats 0` until they are all in (or the traffic timeout), then stopped, which
 * prints the forward statistics of the run
 */
static int dpdk_to_l2(struct run *r, nl_error_t *err)
{
	static const char *const begin[] = { "set fwd rxonly", "start", NULL };
	const struct plan_traffic *t = &r->plan->traffic;
	cleanup_free char *out = NULL, *fwd = NULL, *msg = NULL, *send_failure = NULL;
	uint64_t t0 = now_ms();
	long long base, now = -1, rx, rx_dropped, tx;
	bool ok;

	if (testpmd_cmd(r, "show port stats 0", NULL, &out, err) < 0)
		return -1;
	base = testpmd_stat(out, "RX-packets");
	if (base < 0)
		return nl_error(err, 0, "L2: testpmd's 'show port stats 0' has no RX-packets: %s", out);
	r->progress_base = base;
	if (testpmd_cmds(r, begin, err) < 0 || send_to_l2(r, testpmd_rx_progress, &send_failure, err) < 0)
		return -1;
	while (!send_failure && now_ms() - t0 < r->plan->timeouts.traffic_ms) {
		free(out);
		if (testpmd_cmd(r, "show port stats 0", NULL, &out, err) < 0)
			return -1;
		now = testpmd_stat(out, "RX-packets");
		if (base >= 0 && now >= base + (long long)t->frames)
			break;
		if (run_loop_tick(r, 500, err) < 0)
			return -1;
	}
	free(out);
	if (testpmd_cmd(r, "stop", "rx", &out, err) < 0)
		return -1;
	fwd = testpmd_fwd_stats(out, &rx, &rx_dropped, &tx);
	ok = !send_failure && rx == (long long)t->frames && rx_dropped == 0;
	if (!ok)
		msg = xasprintf("the peer sent %llu of %u frames; %s; port RX-packets %lld -> %lld (l2-testpmd-rx.out)%s%s",
				(unsigned long long)r->peer.stats.tx_frames, t->frames, fwd, base, now,
				send_failure ? "; " : "", send_failure ? send_failure : "");
	run_point(r, ok, now_ms() - t0, msg, "l2-testpmd-rx.out", "traffic L0->L2: %u frames (%u..%u bytes) counted "
		  "by testpmd (rxonly) in L2 (%s)", t->frames, t->size_min, t->size_max, fwd);
	return 0;
}

/* run_dpdk() - the echo first, then L0 -> L2, whose frames stay in L2's buffers for the shadow check */
static int run_dpdk(struct run *r, nl_error_t *err)
{
	const struct plan_traffic *t = &r->plan->traffic;

	if ((t->direction == SCN_DIR_BOTH || t->direction == SCN_DIR_FROM_L2) && dpdk_echo(r, err) < 0)
		return -1;
	if ((t->direction == SCN_DIR_BOTH || t->direction == SCN_DIR_TO_L2) && dpdk_to_l2(r, err) < 0)
		return -1;
	return 0;
}

int run_traffic(struct run *r, nl_error_t *err)
{
	const struct plan_traffic *t = &r->plan->traffic;

	if (r->plan->driver == SCN_DRIVER_KERNEL) {
		if (l2_setup_kernel(r, err) < 0)
			return -1;
	} else if (r->plan->driver == SCN_DRIVER_VFIO_USER) {
		if (l2_setup_vfio(r, err) < 0)
			return -1;
	} else if (l2_setup_dpdk(r, err) < 0) {
		return -1;
	}
	if (!r->plan->checks[SCN_CHECK_TRAFFIC])
		return 0;
	if (r->plan->driver == SCN_DRIVER_DPDK)
		return run_dpdk(r, err);
	if ((t->direction == SCN_DIR_BOTH || t->direction == SCN_DIR_TO_L2) && to_l2(r, err) < 0)
		return -1;
	if ((t->direction == SCN_DIR_BOTH || t->direction == SCN_DIR_FROM_L2) && from_l2(r, err) < 0)
		return -1;
	return 0;
}
