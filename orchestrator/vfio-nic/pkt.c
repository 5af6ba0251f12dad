/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pkt.c - pkt-up, pkt-tx, pkt-rx and pkt-wait: the frame_gen traffic of tx and rx, but through the
 * kernel's own igb/e1000e driver instead of VFIO (scenarios with workload.driver: kernel). The frames go
 * through an AF_PACKET SOCK_RAW socket bound to the NIC's netdev (packet(7)); no VFIO device is opened.
 *
 * pkt-rx has to listen before the peer sends. It tells that in one of two ways (docs/vfio-nic.md,
 * "The NIC under the kernel's driver"):
 *   --ready-file PATH          PATH appears (written whole, by rename) once the socket is bound; the
 *                              command itself runs in the foreground and prints like rx
 *   --background --output PATH the command returns as soon as the socket is bound, printing the pid of a
 *                              detached receiver (own session, stdio on /dev/null) that writes the frame
 *                              lines and the status line to PATH.tmp and renames it to PATH at its end;
 *                              pkt-wait --output PATH waits for PATH and replays it
 *
 * The socket is created with protocol 0, so it queues nothing until bind() names the interface and
 * ETH_P_ALL: every frame it reports arrived on that interface after it was bound. PACKET_IGNORE_OUTGOING
 * (Linux 4.20) keeps frames this host sends (pkt-tx, the kernel's own IPv6) out of it; on older kernels
 * the PACKET_OUTGOING ones are skipped by hand.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vnic.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define PKT_RCVBUF_BYTES (16 << 20)	/* the NIC may deliver a whole burst (1000 frames) at once */
#define PKT_POLL_MS 10			/* pkt-up and pkt-wait check this often */

/* the interface a pkt-* command works on */
struct pkt_if {
	char name[IFNAMSIZ];
	int ifindex;
	uint8_t mac[6];
	short flags;			/* SIOCGIFFLAGS: IFF_UP, IFF_RUNNING, IFF_PROMISC */
	int mtu;
};

/* link_basename() - the last component of symlink @path's target into @buf, or "none" */
static void link_basename(const char *path, char *buf, size_t size)
{
	char target[512];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *name = "none";
	size_t len;

	if (n > 0) {
		target[n] = '\0';
		name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	}
	len = strnlen(name, size - 1);
	memcpy(buf, name, len);
	buf[len] = '\0';
}

/* if_sysfs_link() - basename of /sys/class/net/@name/@rel (a symlink), "none" when there is none */
static void if_sysfs_link(const char *name, const char *rel, char *buf, size_t size)
{
	char path[128];

	if (snprintf_checked(path, sizeof(path), "/sys/class/net/%s/%s", name, rel) < 0)
		snprintf(buf, size, "none");
	else
		link_basename(path, buf, size);
}

/* if_sysfs_word() - the first word of /sys/class/net/@name/@attr into @buf; false when unreadable */
static bool if_sysfs_word(const char *name, const char *attr, char *buf, size_t size)
{
	cleanup_free char *text = NULL;
	char path[128];
	size_t len;

	if (snprintf_checked(path, sizeof(path), "/sys/class/net/%s/%s", name, attr) < 0 ||
	    !(text = read_file_text(path)))
		return false;
	len = strcspn(text, " \n");
	if (len >= size)
		len = size - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	return true;
}

/* the link state pkt-up waits for */
struct if_link {
	char carrier[8];		/* /sys/class/net/IF/carrier: "1", "0"; "?" unreadable (interface down) */
	char operstate[24];		/* /sys/class/net/IF/operstate (RFC 2863); "?" without sysfs for IF */
	bool ready;
};

/*
 * if_link_read() - whether frames can pass: carrier 1 and operstate "up". The kernel's link watch sets
 * the operstate in the same step in which it activates the queueing discipline (net/core/link_watch.c
 * linkwatch_do_dev()); before that a frame sent is dropped silently, and a new device even reports
 * IFF_RUNNING with operstate "unknown" and no carrier. Without sysfs for this interface (not mounted, or
 * mounted for another network namespace) IFF_RUNNING has to do.
 */
static void if_link_read(const char *name, short flags, struct if_link *link)
{
	if (!if_sysfs_word(name, "carrier", link->carrier, sizeof(link->carrier)))
		snprintf(link->carrier, sizeof(link->carrier), "?");
	if (!if_sysfs_word(name, "operstate", link->operstate, sizeof(link->operstate))) {
		snprintf(link->operstate, sizeof(link->operstate), "?");
		link->ready = (flags & IFF_RUNNING) != 0;
		return;
	}
	link->ready = (flags & IFF_RUNNING) && !strcmp(link->carrier, "1") && !strcmp(link->operstate, "up");
}

/* if_request() - a struct ifreq naming @name (at most IFNAMSIZ - 1 bytes, checked by the parser) */
static void if_request(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* if_flags() - SIOCGIFFLAGS of @name; 0 when it cannot be read */
static short if_flags(int ctl_fd, const char *name)
{
	struct ifreq ifr;

	if_request(&ifr, name);
	return ioctl(ctl_fd, SIOCGIFFLAGS, &ifr) < 0 ? 0 : ifr.ifr_flags;
}

/*
 * default_ifname() - without --ifname: the first interface bound to igb or e1000e (the NIC under test),
 * else the first non-loopback interface that is up, else eth0
 */
static void default_ifname(int ctl_fd, char name[IFNAMSIZ])
{
	struct if_nameindex *list = if_nameindex();
	const char *nic = NULL, *first_up = NULL;

	for (struct if_nameindex *i = list; i && i->if_index; i++) {
		short flags = if_flags(ctl_fd, i->if_name);
		char driver[64];

		if (flags & IFF_LOOPBACK)
			continue;
		if_sysfs_link(i->if_name, "device/driver", driver, sizeof(driver));
		if (!nic && (!strcmp(driver, "igb") || !strcmp(driver, "e1000e")))
			nic = i->if_name;
		if (!first_up && (flags & IFF_UP))
			first_up = i->if_name;
	}
	snprintf(name, IFNAMSIZ, "%s", nic ? nic : first_up ? first_up : "eth0");
	if (list)
		if_freenameindex(list);
}

/**
 * pkt_if_resolve() - the interface of a pkt-* command: name, index, MAC, flags, MTU
 * @cmd:	--ifname, or NULL for default_ifname()
 * @pif:	filled
 * @err:	no such interface, or not Ethernet
 *
 * Return: 0 or -1
 */
static int pkt_if_resolve(const struct vnic_cmd *cmd, struct pkt_if *pif, nl_error_t *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;

	memset(pif, 0, sizeof(*pif));
	if (fd < 0)
		return nl_error(err, errno, "socket for interface ioctls");
	if (cmd->ifname)
		snprintf(pif->name, sizeof(pif->name), "%s", cmd->ifname);
	else
		default_ifname(fd, pif->name);
	if_request(&ifr, pif->name);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
		return nl_error(err, errno, "no network interface %s (the list is in /sys/class/net; choose one "
				"with --ifname)", pif->name);
	pif->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return nl_error(err, errno, "SIOCGIFHWADDR %s", pif->name);
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		return nl_error(err, 0, "%s is not an Ethernet interface (ARPHRD %u): frame_gen frames need one",
				pif->name, ifr.ifr_hwaddr.sa_family);
	memcpy(pif->mac, ifr.ifr_hwaddr.sa_data, 6);
	pif->flags = if_flags(fd, pif->name);
	if_request(&ifr, pif->name);
	pif->mtu = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? 0 : ifr.ifr_mtu;
	return 0;
}

/* pkt_if_describe() - "ifname=.. ifindex=.. mac=.. driver=.. bdf=.." for a status line */
static void pkt_if_describe(const struct pkt_if *pif, struct strbuf *sb)
{
	char mac[18], driver[64], device[64], subsystem[64];

	vnic_format_mac(pif->mac, mac);
	if_sysfs_link(pif->name, "device/driver", driver, sizeof(driver));
	if_sysfs_link(pif->name, "device", device, sizeof(device));
	if_sysfs_link(pif->name, "device/subsystem", subsystem, sizeof(subsystem));
	strbuf_printf(sb, "ifname=%s ifindex=%d mac=%s driver=%s bdf=%s", pif->name, pif->ifindex, mac, driver,
		      strcmp(subsystem, "pci") ? "none" : device);
}

/**
 * pkt_up() - `pkt-up`: set IFF_UP | IFF_PROMISC (SIOCSIFFLAGS) and wait until frames can pass
 * @cmd:	--ifname, --timeout-ms for the link
 * @summary:	the interface (name, index, MAC, driver, PCI function), MTU, flags, link state, time
 * @err:	no such interface, not allowed, or no link in time (see if_link_read())
 *
 * Return: 0 or -1
 */
int pkt_up(const struct vnic_cmd *cmd, struct strbuf *summary, nl_error_t *err)
{
	cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint64_t t0 = now_ms(), deadline = t0 + cmd->timeout_ms;
	struct if_link link;
	struct pkt_if pif;
	struct ifreq ifr;

	if (pkt_if_resolve(cmd, &pif, err) < 0)
		return -1;
	if (fd < 0)
		return nl_error(err, errno, "socket for interface ioctls");
	if_request(&ifr, pif.name);
	ifr.ifr_flags = (short)(pif.flags | IFF_UP | IFF_PROMISC);
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return nl_error(err, errno, "SIOCSIFFLAGS %s up and promiscuous (needs root or CAP_NET_ADMIN)",
				pif.name);
	for (;;) {
		pif.flags = if_flags(fd, pif.name);
		if_link_read(pif.name, pif.flags, &link);
		if (link.ready || now_ms() >= deadline || vnic_stop)
			break;
		sleep_us(PKT_POLL_MS * 1000);
	}
	pkt_if_describe(&pif, summary);
	strbuf_printf(summary, " mtu=%d flags=0x%x carrier=%s operstate=%s elapsed_ms=%llu", pif.mtu,
		      (unsigned short)pif.flags, link.carrier, link.operstate, (unsigned long long)(now_ms() - t0));
	if (!link.ready)
		return nl_error(err, 0, "%s is up but its link is not, after %u ms (%s): is it connected (QEMU "
				"set_link), and did the driver finish probing (dmesg)?", pif.name, cmd->timeout_ms,
				summary->str);
	return 0;
}

/* the destination of pkt-tx */
struct pkt_dest {
	int fd;
	struct sockaddr_ll to;
	const struct pkt_if *pif;
	uint64_t deadline;
};

/* pkt_send_one() - sendto, retried while the queue is full (ENOBUFS) until the deadline (a frame_send_fn) */
static int pkt_send_one(void *ctx, const uint8_t *frame, size_t len, nl_error_t *err)
{
	const struct pkt_dest *dest = ctx;

	for (;;) {
		if (sendto(dest->fd, frame, len, 0, (const struct sockaddr *)&dest->to, sizeof(dest->to)) ==
		    (ssize_t)len)
			return 0;
		if ((errno != ENOBUFS && errno != EAGAIN && errno != EINTR) || now_ms() >= dest->deadline ||
		    vnic_stop)
			return nl_error(err, errno, "send a %zu-byte frame on %s%s", len, dest->pif->name,
					errno == EMSGSIZE ? " (larger than the MTU?)" : "");
		sleep_us(100);
	}
}

/* wait_sent() - until the kernel freed every frame of the socket (SIOCOUTQ 0: the driver completed them) */
static int wait_sent(int fd, uint64_t deadline, const struct pkt_if *pif, nl_error_t *err)
{
	int queued = 0;

	while (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0 && now_ms() < deadline && !vnic_stop)
		sleep_us(1000);
	if (queued > 0)
		return nl_error(err, 0, "%d bytes of frames still queued on %s at --timeout-ms (link down?)", queued,
				pif->name);
	return 0;
}

/**
 * pkt_tx() - `pkt-tx`: transmit frames first_index .. first_index + count - 1 of the frame_gen spec from
 * the interface's MAC address, then wait until the kernel has handed them all to the NIC
 * @cmd:	--ifname, count, spec (dst, seed, sizes, payload), first index, gap, --timeout-ms for the
 *		whole command
 * @out:	one `frame` line per frame
 * @summary:	sent, bytes, indices, MACs, interface
 * @err:	interface down, send failed, or frames still queued at the timeout
 *
 * Return: 0 or -1
 */
int pkt_tx(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	cleanup_close int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);	/* protocol 0: send only */
	uint64_t t0 = now_ms();
	struct frame_spec spec = cmd->spec;
	struct pkt_if pif;
	struct pkt_dest dest = { .fd = fd, .pif = &pif, .deadline = t0 + cmd->timeout_ms,
				 .to = { .sll_family = AF_PACKET, .sll_protocol = htons(FRAME_GEN_ETHERTYPE),
					 .sll_halen = 6 } };
	struct send_tally tally = { 0 };
	char src[18], dst[18];
	struct if_link link;
	int rc;

	if (fd < 0)
		return nl_error(err, errno, "socket(AF_PACKET) (needs root or CAP_NET_RAW)");
	if (pkt_if_resolve(cmd, &pif, err) < 0)
		return -1;
	if_link_read(pif.name, pif.flags, &link);
	if (!(pif.flags & IFF_UP) || !link.ready)
		return nl_error(err, 0, "%s is %s (carrier=%s operstate=%s): run pkt-up --ifname %s first", pif.name,
				(pif.flags & IFF_UP) ? "up but its link is not" : "down", link.carrier, link.operstate,
				pif.name);
	memcpy(spec.src, pif.mac, 6);
	dest.to.sll_ifindex = pif.ifindex;
	memcpy(dest.to.sll_addr, spec.dst, 6);
	rc = frames_send(cmd, &spec, pkt_send_one, &dest, out, &tally, err);
	if (rc == 0)
		rc = wait_sent(fd, dest.deadline, &pif, err);
	if (rc == 0 && tally.sent < cmd->count)
		rc = nl_error(err, 0, "pkt-tx interrupted after %u of %u frames", tally.sent, cmd->count);
	vnic_format_mac(spec.src, src);
	vnic_format_mac(spec.dst, dst);
	strbuf_printf(summary, "sent=%u bytes=%llu first_index=%u seed=%llu src=%s dst=%s elapsed_ms=%llu ifname=%s",
		      tally.sent, (unsigned long long)tally.bytes, cmd->first_index, (unsigned long long)spec.seed, src, dst,
		      (unsigned long long)(now_ms() - t0), pif.name);
	return rc;
}

/**
 * rx_socket() - an AF_PACKET socket that receives every frame arriving on the interface from now on
 * @cmd:	--ifname
 * @pif:	filled with the interface
 * @err:	no permission, no such interface, interface down, bind failed
 *
 * Return: the socket, or -1
 */
static int rx_socket(const struct vnic_cmd *cmd, struct pkt_if *pif, nl_error_t *err)
{
	cleanup_close int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);	/* nothing queued before bind */
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq promisc = { .mr_type = PACKET_MR_PROMISC };
	int rcvbuf = PKT_RCVBUF_BYTES, one = 1, ret;

	if (fd < 0)
		return nl_error(err, errno, "socket(AF_PACKET) (needs root or CAP_NET_RAW)");
	if (pkt_if_resolve(cmd, pif, err) < 0)
		return -1;
	if (!(pif->flags & IFF_UP))
		return nl_error(err, 0, "%s is down: run pkt-up --ifname %s first", pif->name, pif->name);
	/* SO_RCVBUFFORCE goes past net.core.rmem_max (root); the default ~200 KiB drops a burst */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));	/* else filtered by hand */
	promisc.mr_ifindex = pif->ifindex;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &promisc, sizeof(promisc)) < 0)
		return nl_error(err, errno, "PACKET_ADD_MEMBERSHIP promiscuous on %s", pif->name);
	sll.sll_ifindex = pif->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return nl_error(err, errno, "bind the AF_PACKET socket to %s", pif->name);
	ret = fd;
	fd = -1;
	return ret;
}

/* pkttype_name() - sll_pkttype of a received frame */
static const char *pkttype_name(unsigned char type)
{
	switch (type) {
	case PACKET_HOST: return "host";
	case PACKET_BROADCAST: return "broadcast";
	case PACKET_MULTICAST: return "multicast";
	case PACKET_OTHERHOST: return "otherhost";
	default: return "other";
	}
}

/* rx_verdict() - the summary; an error when frame_gen frames are missing or differ (it repeats the
 * counters, which an error status line does not otherwise carry) */
static int rx_verdict(const struct vnic_cmd *cmd, int fd, const struct pkt_if *pif, const struct rx_tally *t,
		      uint64_t t0, struct strbuf *summary, nl_error_t *err)
{
	struct tpacket_stats stats = { 0 };
	socklen_t len = sizeof(stats);
	uint64_t elapsed = now_ms() - t0;

	getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &len);
	strbuf_printf(summary, "received=%u fg=%u bad=%u other=%u drops=%u elapsed_ms=%llu ifname=%s", t->received,
		      t->fg, t->bad, t->received - t->fg, stats.tp_drops, (unsigned long long)elapsed, pif->name);
	if (t->fg < cmd->count)
		return nl_error(err, 0, "pkt-rx got %u of %u frame_gen frames on %s in %llu ms%s; %s", t->fg,
				cmd->count, pif->name, (unsigned long long)elapsed,
				vnic_stop ? " (interrupted)" : " (--timeout-ms)", summary->str);
	if (t->bad)
		return nl_error(err, 0, "%u frames differ from frame_gen; first: index %u at offset %ld; %s", t->bad,
				t->first_bad.index, t->first_bad.diff_at, summary->str);
	return 0;
}

/**
 * rx_receive() - the receive loop of pkt-rx: until --count frame_gen frames arrived or --timeout-ms
 * (counted from @t0, the start of the command) passed
 * @cmd:	count, timeout, expectations, pcap, quiet
 * @fd:		the bound socket
 * @pif:	its interface
 * @t0:		start of the command
 * @out:	one `frame` line per frame, frame_gen or not
 * @summary:	counters
 * @err:	fewer frame_gen frames than --count, frames that differ, or a receive error
 *
 * Return: 0 or -1
 */
static int rx_receive(const struct vnic_cmd *cmd, int fd, const struct pkt_if *pif, uint64_t t0, FILE *out,
		      struct strbuf *summary, nl_error_t *err)
{
	static uint8_t frame[65536];
	cleanup_file FILE *pcap = NULL;
	uint64_t deadline = t0 + cmd->timeout_ms;
	struct rx_tally tally = { 0 };
	struct rx_progress progress = { .path = cmd->progress_path };

	if (cmd->pcap_path && !(pcap = pcap_open(cmd->pcap_path, err)))
		return -1;
	rx_progress_update(&progress, 0, true);
	while (tally.fg < cmd->count && !vnic_stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t from_len = sizeof(from);
		uint64_t now = now_ms();
		struct frame_check fc;
		uint64_t wait_ms;
		ssize_t n;
		size_t len;

		if (now >= deadline)
			break;
		/* nothing queued: report what is not reported yet, then wait */
		wait_ms = deadline - now;
		if (progress.path && progress.reported != tally.fg) {
			if (poll(&pfd, 1, 0) == 0)
				rx_progress_update(&progress, tally.fg, true);
		}
		if (poll(&pfd, 1, (int)wait_ms) <= 0)
			continue;
		n = recvfrom(fd, frame, sizeof(frame), MSG_TRUNC | MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return nl_error(err, errno, "receive on %s", pif->name);
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		len = (size_t)n < sizeof(frame) ? (size_t)n : sizeof(frame);
		frame_check_run(cmd, frame, len, &fc);
		if (!cmd->quiet) {
			char prefix[96];

			snprintf(prefix, sizeof(prefix), "frame n=%u len=%zu pkttype=%s", tally.received, len,
				 pkttype_name(from.sll_pkttype));
			frame_line(out, prefix, frame, len, &fc);
		}
		if (pcap)
			pcap_write(pcap, frame, len);
		rx_tally_add(&tally, &fc);
		rx_progress_update(&progress, tally.fg, false);
	}
	rx_progress_update(&progress, tally.fg, true);
	return rx_verdict(cmd, fd, pif, &tally, t0, summary, err);
}

/* write_whole() - @text into @path, through PATH.tmp and rename(), so a reader never sees half of it */
static int write_whole(const char *path, const char *text, nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp", path);
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		return nl_error(err, errno, "write %s", tmp);
	if (rename(tmp, path) < 0)
		return nl_error(err, errno, "rename %s to %s", tmp, path);
	return 0;
}

/*
 * rx_detached() - the receiver of pkt-rx --background, in the child: its own session (the agent kills
 * the group of the command it ran), stdio on /dev/null (the agent waits for its pipes to close), the
 * reply into @out_fd (PATH.tmp), renamed to PATH at the end. Never returns.
 */
static void rx_detached(const struct vnic_cmd *cmd, int fd, int out_fd, const struct pkt_if *pif, uint64_t t0)
{
	cleanup_strbuf struct strbuf summary = STRBUF_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_free char *tmp = xasprintf("%s.tmp", cmd->output_path);
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	FILE *out = fdopen(out_fd, "w");
	int rc;

	setsid();
	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		dup2(null_fd, STDOUT_FILENO);
		dup2(null_fd, STDERR_FILENO);
	}
	if (!out)
		_exit(1);
	rc = rx_receive(cmd, fd, pif, t0, out, &summary, &err);
	serve_status_line(out, "pkt-rx", rc, &summary, err);
	if (fclose(out) != 0 || rename(tmp, cmd->output_path) < 0)
		_exit(1);
	_exit(rc < 0);
}

/* rx_detach() - fork the background receiver; the parent keeps its pid in @child */
static int rx_detach(const struct vnic_cmd *cmd, int fd, const struct pkt_if *pif, uint64_t t0, pid_t *child,
		     nl_error_t *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp", cmd->output_path);
	cleanup_close int out_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (out_fd < 0)
		return nl_error(err, errno, "create %s", tmp);
	fflush(NULL);
	*child = fork();
	if (*child < 0)
		return nl_error(err, errno, "fork the background receiver");
	if (*child == 0)
		rx_detached(cmd, fd, out_fd, pif, t0);
	return 0;
}

/**
 * pkt_rx() - `pkt-rx`: bind to the interface, say so (--ready-file), then receive in this process or
 * (--background) in a detached child
 * @cmd:	--ifname, count, timeout, expectations, pcap, quiet, --ready-file, --background --output
 * @may_detach:	false in serve mode: a forked child would hold the VFIO device
 * @out:	frame lines (foreground)
 * @summary:	the counters (foreground), or the receiver's pid and the output file (background)
 * @err:	set-up failed, or (foreground) fewer frames than --count or frames that differ
 *
 * A ready file or output file left by an earlier run is removed first, so its presence always means
 * this run.
 *
 * Return: 0 or -1
 */
int pkt_rx(const struct vnic_cmd *cmd, bool may_detach, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	uint64_t t0 = now_ms();
	cleanup_free char *ready = NULL;
	cleanup_close int fd = -1;
	struct pkt_if pif;
	pid_t receiver = getpid();
	char mac[18];

	if (cmd->background && !may_detach)
		return nl_error(err, 0, "pkt-rx --background only from the command line, not in serve mode "
				"(the child would hold the device)");
	if (cmd->ready_file)
		unlink(cmd->ready_file);
	if (cmd->output_path)
		unlink(cmd->output_path);
	if (cmd->progress_path)
		unlink(cmd->progress_path);
	fd = rx_socket(cmd, &pif, err);
	if (fd < 0)
		return -1;
	if (cmd->background && rx_detach(cmd, fd, &pif, t0, &receiver, err) < 0)
		return -1;
	vnic_format_mac(pif.mac, mac);
	ready = xasprintf("ready cmd=pkt-rx ifname=%s ifindex=%d mac=%s pid=%d\n", pif.name, pif.ifindex, mac,
			  (int)receiver);
	if (cmd->ready_file && write_whole(cmd->ready_file, ready, err) < 0) {
		if (cmd->background)
			kill(receiver, SIGTERM);
		return -1;
	}
	if (!cmd->background)
		return rx_receive(cmd, fd, &pif, t0, out, summary, err);
	strbuf_printf(summary, "background=1 pid=%d ifname=%s ifindex=%d mac=%s output=%s", (int)receiver, pif.name,
		      pif.ifindex, mac, cmd->output_path);
	return 0;
}

/**
 * pkt_wait() - `pkt-wait`: wait for the result file of pkt-rx --background, copy its frame lines and
 * turn its status line into this command's
 * @cmd:	--output PATH, --timeout-ms
 * @out:	the frame lines of the file
 * @summary:	the keys of pkt-rx's `ok` line
 * @err:	pkt-rx's error message, or the file did not appear in time
 *
 * Return: 0 when pkt-rx succeeded, else -1
 */
int pkt_wait(const struct vnic_cmd *cmd, FILE *out, struct strbuf *summary, nl_error_t *err)
{
	uint64_t deadline = now_ms() + cmd->timeout_ms;
	cleanup_free char *text = NULL;
	char *status, *end;

	while (!(text = read_file_text(cmd->output_path))) {
		if (errno != ENOENT)
			return nl_error(err, errno, "read %s", cmd->output_path);
		if (now_ms() >= deadline || vnic_stop)
			return nl_error(err, 0, "%s did not appear within %u ms: pkt-rx --background is still receiving "
					"(until its own --timeout-ms) or was killed", cmd->output_path, cmd->timeout_ms);
		sleep_us(PKT_POLL_MS * 1000);
	}
	end = text + strlen(text);
	while (end > text && end[-1] == '\n')
		*--end = '\0';
	status = strrchr(text, '\n');
	status = status ? status + 1 : text;
	fwrite(text, 1, (size_t)(status - text), out);
	fflush(out);
	if (!strncmp(status, "ok cmd=pkt-rx", 13)) {
		strbuf_puts(summary, status[13] == ' ' ? status + 14 : "");
		return 0;
	}
	if (!strncmp(status, "error cmd=pkt-rx msg=", 21))
		return nl_error(err, 0, "%s", status + 21);
	return nl_error(err, 0, "%s has no pkt-rx status line at its end", cmd->output_path);
}
