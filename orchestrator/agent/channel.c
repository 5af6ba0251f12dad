/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * channel.c - the agent's byte-stream channels: the host port and the relay to the next level
 *
 * A channel is either a pair of inherited fds (--port -, --fd N, --relay-fd N; end of file there is
 * final) or a path (a virtio-serial port, a serial line, a pty or a unix socket) that is reopened after
 * a hang-up. Reopening matters for virtio-serial: while the host side is not connected, the guest
 * port polls as EPOLLHUP and reads return 0 (drivers/char/virtio_console.c, port_fops_poll), so the
 * agent closes it and tries again every AGENT_RETRY_MS instead of spinning. Serial lines and ptys are
 * put in raw mode (termios cfmakeraw) so that the line discipline does not rewrite binary frames.
 *
 * Output is queued and written without blocking; the host port's queue survives a disconnect so that
 * READY and boot-time LOG lines reach a host that connects later, the relay's queue does not. Input goes through an agent_decoder and every frame or decode error is
 * handed to dispatch.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

#define CHANNEL_READ_BYTES 65536
#define CHANNEL_READS_PER_EVENT 16

/* channel_init() - an unused channel named @name (for messages) */
void channel_init(struct channel *ch, enum channel_id id, const char *name)
{
	memset(ch, 0, sizeof(*ch));
	ch->id = id;
	ch->name = name;
	ch->rfd = ch->wfd = -1;
	agent_decoder_init(&ch->dec);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* tty_make_raw() - raw 8-bit mode, ignore modem lines; a no-op for anything but a terminal */
static void tty_make_raw(int fd)
{
	struct termios tio;

	if (!isatty(fd) || tcgetattr(fd, &tio) < 0)
		return;
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	tcsetattr(fd, TCSANOW, &tio);
}

/* channel_register() - add the channel's fds to epoll (reading, and writing when output is queued) */
static int channel_register(struct agent *a, struct channel *ch, nl_error_t *err)
{
	uint32_t in_events = EPOLLIN;
	bool want_out = ch->outq.len > ch->out_off;

	if (ch->rfd == ch->wfd && want_out)
		in_events |= EPOLLOUT;
	if (agent_epoll_set(a, EPOLL_CTL_ADD, ch->rfd, in_events, EV_REF(EV_CHANNEL_IN, ch->id)) < 0)
		return nl_error(err, errno, "%s: epoll add", ch->name);
	if (ch->rfd != ch->wfd && want_out &&
	    agent_epoll_set(a, EPOLL_CTL_ADD, ch->wfd, EPOLLOUT, EV_REF(EV_CHANNEL_OUT, ch->id)) < 0) {
		agent_epoll_set(a, EPOLL_CTL_DEL, ch->rfd, 0, 0);
		return nl_error(err, errno, "%s: epoll add of the write side", ch->name);
	}
	ch->registered = true;
	ch->out_armed = want_out;
	return 0;
}

/* channel_arm_out() - ask for (or stop asking for) EPOLLOUT */
static void channel_arm_out(struct agent *a, struct channel *ch, bool on)
{
	if (!ch->registered || ch->out_armed == on)
		return;
	if (ch->rfd == ch->wfd)
		agent_epoll_set(a, EPOLL_CTL_MOD, ch->rfd, EPOLLIN | (on ? EPOLLOUT : 0),
				EV_REF(EV_CHANNEL_IN, ch->id));
	else
		agent_epoll_set(a, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, ch->wfd, EPOLLOUT,
				EV_REF(EV_CHANNEL_OUT, ch->id));
	ch->out_armed = on;
}

/**
 * channel_open_fds() - use inherited fds as a channel
 * @a:		agent
 * @ch:		channel from channel_init()
 * @rfd:	fd to read frames from
 * @wfd:	fd to write frames to (may equal @rfd)
 * @err:	error
 *
 * Return: 0, or -1 when the fds are not open or cannot be polled
 */
int channel_open_fds(struct agent *a, struct channel *ch, int rfd, int wfd, nl_error_t *err)
{
	if (fcntl(rfd, F_GETFD) < 0 || fcntl(wfd, F_GETFD) < 0)
		return nl_error(err, EBADF, "%s: fd %d/%d is not open", ch->name, rfd, wfd);
	if (set_nonblock(rfd) < 0 || set_nonblock(wfd) < 0)
		return nl_error(err, errno, "%s: make fd non-blocking", ch->name);
	fcntl(rfd, F_SETFD, FD_CLOEXEC);
	fcntl(wfd, F_SETFD, FD_CLOEXEC);
	tty_make_raw(rfd);
	ch->mode = CHANNEL_FDS;
	ch->rfd = rfd;
	ch->wfd = wfd;
	return channel_register(a, ch, err);
}

/* path_open() - open a device or connect to a unix socket; returns the fd or -1 with @err set */
static int path_open(const char *name, const char *path, nl_error_t *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	struct stat st;
	int ret;

	if (stat(path, &st) < 0)
		return nl_error(err, errno, "%s: %s", name, path);
	if (!S_ISSOCK(st.st_mode)) {
		fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return nl_error(err, errno, "%s: open %s", name, path);
		tty_make_raw(fd);
		ret = fd;
		fd = -1;
		return ret;
	}
	if (snprintf_checked(sun.sun_path, sizeof(sun.sun_path), "%s", path) < 0)
		return nl_error(err, ENAMETOOLONG, "%s: socket path %s is longer than %zu bytes", name,
				path, sizeof(sun.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return nl_error(err, errno, "%s: socket", name);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return nl_error(err, errno, "%s: connect %s", name, path);
	ret = fd;
	fd = -1;
	return ret;
}

/**
 * channel_connect() - (re)open a path channel and register it
 * @a:		agent
 * @ch:		channel set up by channel_open_path()
 * @err:	error
 *
 * Return: 0 when the channel is usable, -1 when it is not (inherited fds that reached end of file, or
 * the path cannot be opened yet)
 */
int channel_connect(struct agent *a, struct channel *ch, nl_error_t *err)
{
	int fd;

	if (ch->registered)
		return 0;
	if (ch->mode != CHANNEL_DEVICE && ch->mode != CHANNEL_SOCKET)
		return nl_error(err, 0, "%s is closed", ch->name);
	fd = path_open(ch->name, ch->path, err);
	if (fd < 0)
		return -1;
	ch->rfd = ch->wfd = fd;
	if (channel_register(a, ch, err) < 0) {
		close(fd);
		ch->rfd = ch->wfd = -1;
		return -1;
	}
	return 0;
}

/**
 * channel_open_path() - use a device or unix socket path as a channel
 * @a:		agent
 * @ch:		channel from channel_init()
 * @path:	e.g. /dev/virtio-ports/org.nestlab.agent.0, /dev/ttyS1 or /run/nestlab/l2-agent.sock
 * @err:	set when the first attempt fails; the channel then retries every AGENT_RETRY_MS
 *
 * Return: 0 when connected now, -1 when not yet (not fatal: the path may appear later)
 */
int channel_open_path(struct agent *a, struct channel *ch, const char *path, nl_error_t *err)
{
	struct stat st;

	ch->path = path;
	ch->mode = stat(path, &st) == 0 && S_ISSOCK(st.st_mode) ? CHANNEL_SOCKET : CHANNEL_DEVICE;
	ch->retry_at_ms = now_ms() + AGENT_RETRY_MS;
	return channel_connect(a, ch, err);
}

/*
 * channel_disconnect() - forget the current connection; path channels retry later, inherited fds
 * are gone for good (and the agent stops when that was the host port)
 */
static void channel_disconnect(struct agent *a, struct channel *ch, const char *why)
{
	if (!ch->registered)
		return;
	agent_epoll_set(a, EPOLL_CTL_DEL, ch->rfd, 0, 0);
	if (ch->wfd != ch->rfd) {
		if (ch->out_armed)
			agent_epoll_set(a, EPOLL_CTL_DEL, ch->wfd, 0, 0);
		close(ch->wfd);
	}
	close(ch->rfd);
	ch->rfd = ch->wfd = -1;
	ch->registered = ch->out_armed = false;
	agent_decoder_release(&ch->dec);
	ch->retry_at_ms = now_ms() + AGENT_RETRY_MS;
	if (ch->id == CHANNEL_RELAY) {
		/* requests for an L2 that went away must not run on the next one (after a reboot) */
		strbuf_release(&ch->outq);
		ch->out_off = 0;
	}
	if (ch->mode == CHANNEL_FDS) {
		agent_diag(a, "%s: %s; closed for good", ch->name, why);
		ch->mode = CHANNEL_UNUSED;
		if (ch->id == CHANNEL_PORT)
			a->quit = true;
	}
}

/* channel_release() - close and free everything (at exit) */
void channel_release(struct agent *a, struct channel *ch)
{
	channel_disconnect(a, ch, "shutting down");
	agent_decoder_release(&ch->dec);
	strbuf_release(&ch->outq);
	ch->out_off = 0;
}

/* channel_usable() - connected right now */
bool channel_usable(const struct channel *ch)
{
	return ch->registered;
}

/* channel_flush() - write queued output until the fd would block */
static void channel_flush(struct agent *a, struct channel *ch)
{
	while (ch->registered && ch->out_off < ch->outq.len) {
		ssize_t n = write(ch->wfd, ch->outq.str + ch->out_off, ch->outq.len - ch->out_off);

		if (n > 0) {
			ch->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			channel_arm_out(a, ch, true);
			return;
		}
		channel_disconnect(a, ch, n < 0 ? strerror(errno) : "write returned 0");
		return;
	}
	if (ch->out_off && ch->out_off == ch->outq.len) {
		if (ch->outq.alloc > AGENT_MAX_PAYLOAD)
			strbuf_release(&ch->outq);
		ch->outq.len = 0;
		ch->out_off = 0;
	} else if (ch->out_off > 65536 && ch->out_off > ch->outq.len / 2) {
		memmove(ch->outq.str, ch->outq.str + ch->out_off, ch->outq.len - ch->out_off);
		ch->outq.len -= ch->out_off;
		ch->out_off = 0;
	}
	channel_arm_out(a, ch, false);
}

/**
 * channel_send_bytes() - queue bytes (whole frames) and write what the fd takes now
 * @a:		agent
 * @ch:		channel; if disconnected, the bytes wait for the reconnect
 * @data:	bytes
 * @len:	length
 */
void channel_send_bytes(struct agent *a, struct channel *ch, const void *data, size_t len)
{
	strbuf_add(&ch->outq, data, len);
	channel_flush(a, ch);
}

/* channel_drain() - hand every complete frame (or decode error) in the decoder to dispatch.c */
static void channel_drain(struct agent *a, struct channel *ch)
{
	for (;;) {
		cleanup_agent_frame struct agent_frame frame = { 0 };
		cleanup_error nl_error_t err = NULL;
		int rc = agent_decoder_next(&ch->dec, &frame, &err);

		if (rc == 0)
			return;
		if (rc < 0)
			dispatch_decode_error(a, ch, &frame, -rc, err->msg);
		else if (ch->id == CHANNEL_PORT)
			dispatch_port_frame(a, &frame);
		else
			dispatch_relay_frame(a, &frame);
	}
}

/* channel_read() - read what is available (bounded, epoll is level-triggered) and decode it */
static void channel_read(struct agent *a, struct channel *ch)
{
	static uint8_t buf[CHANNEL_READ_BYTES];

	for (int i = 0; i < CHANNEL_READS_PER_EVENT && ch->registered; i++) {
		ssize_t n = read(ch->rfd, buf, sizeof(buf));

		if (n > 0) {
			agent_decoder_feed(&ch->dec, buf, (size_t)n);
			channel_drain(a, ch);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		channel_disconnect(a, ch, n == 0 ? "end of file" : strerror(errno));
		return;
	}
}

/**
 * channel_handle_event() - react to epoll events on a channel
 * @a:		agent
 * @ch:		channel
 * @events:	EPOLL* bits
 * @write_side:	the event is for the separate write fd
 */
void channel_handle_event(struct agent *a, struct channel *ch, uint32_t events, bool write_side)
{
	if (!ch->registered)
		return;	/* stale event from before a disconnect in the same batch */
	if (write_side) {
		if (events & EPOLLERR)
			channel_disconnect(a, ch, "the reader went away");
		else
			channel_flush(a, ch);
		return;
	}
	if (events & EPOLLOUT)
		channel_flush(a, ch);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		channel_read(a, ch);	/* a hang-up shows as end of file after the last data */
}

/* channel_tick() - retry a disconnected path channel when its time has come */
void channel_tick(struct agent *a, struct channel *ch, uint64_t now)
{
	cleanup_error nl_error_t err = NULL;

	if (ch->registered || (ch->mode != CHANNEL_DEVICE && ch->mode != CHANNEL_SOCKET) ||
	    now < ch->retry_at_ms)
		return;
	ch->retry_at_ms = now + AGENT_RETRY_MS;
	if (channel_connect(a, ch, &err) == 0)
		channel_flush(a, ch);
}

/* channel_next_deadline() - when channel_tick() has work, or UINT64_MAX */
uint64_t channel_next_deadline(const struct channel *ch)
{
	if (ch->registered || (ch->mode != CHANNEL_DEVICE && ch->mode != CHANNEL_SOCKET))
		return UINT64_MAX;
	return ch->retry_at_ms;
}
