/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent.h - internals of nestlab-agent, the guest agent that runs in L1 and L2
 *
 * The agent is one single-threaded epoll loop (main.c) over typed event references: the host channel
 * ("port"), the optional channel to the next level's agent ("relay"), a signalfd for SIGCHLD and
 * SIGTERM, the pipes of running commands (exec.c) and watched log files (files.c). Frames are decoded by
 * lib/agent_proto.c and dispatched by dispatch.c; channel.c owns buffering, reconnects and writes.
 * Nothing here trusts what arrives on a channel: every request is checked and answered, errors as
 * ERROR frames. The program links statically against glibc, so it stays away from NSS (no getpwnam).
 */
#ifndef NESTLAB_AGENT_H
#define NESTLAB_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent_proto.h"
#include "error.h"
#include "util.h"

#define AGENT_MAX_JOBS 16		/* commands running at once; more get AGENT_ERR_BUSY */
#define AGENT_DRAIN_MS 500		/* after a command exits, wait this long for its pipes to close */
#define AGENT_RETRY_MS 500		/* reconnect / re-poll a disconnected channel */
#define AGENT_WATCH_POLL_MS 250		/* re-read watched regular files (epoll refuses them) */
#define AGENT_WATCH_LINE_MAX 4096	/* a longer line is sent in pieces */
#define AGENT_OUTQ_LOG_LIMIT (8u << 20)	/* LOG frames are dropped while this much output is queued */
#define AGENT_RELAY_QUEUE_LIMIT (4u << 20) /* RELAYs are refused (busy) while this much waits for L2 */

/* what an epoll event refers to: kind in the low byte, an index above it */
enum ev_kind {
	EV_CHANNEL_IN = 1,	/* index: enum channel_id; for rfd == wfd also carries EPOLLOUT */
	EV_CHANNEL_OUT,		/* index: enum channel_id; separate write fd (--port -) */
	EV_SIGNAL,
	EV_JOB_STDIN,		/* index: job slot */
	EV_JOB_STDOUT,
	EV_JOB_STDERR,
	EV_WATCH,		/* index: watch number */
};
#define EV_REF(kind, index) ((uint64_t)(kind) | (uint64_t)(index) << 8)
#define EV_KIND(ref) ((enum ev_kind)((ref) & 0xff))
#define EV_INDEX(ref) ((size_t)((ref) >> 8))

enum channel_id { CHANNEL_PORT = 0, CHANNEL_RELAY = 1, CHANNEL_COUNT };

enum channel_mode {
	CHANNEL_UNUSED = 0,
	CHANNEL_FDS,		/* inherited fds (--port -, --fd, --relay-fd): end of file is final */
	CHANNEL_DEVICE,		/* virtio port, serial line or pty: kept open, re-polled after a hang-up */
	CHANNEL_SOCKET,		/* unix socket (L2 QEMU's chardev inside L1): reconnected after a hang-up */
};

struct channel {
	enum channel_id id;
	const char *name;		/* "port" or "relay", for messages */
	enum channel_mode mode;
	const char *path;		/* device or socket path, NULL for CHANNEL_FDS */
	int rfd, wfd;			/* the same fd except for --port - (stdin, stdout) */
	bool registered;		/* in epoll; false while disconnected */
	bool out_armed;			/* EPOLLOUT requested */
	uint64_t retry_at_ms;		/* while disconnected: when to try again */
	struct agent_decoder dec;
	struct strbuf outq;		/* encoded frames not yet written */
	size_t out_off;			/* bytes of outq already written */
	uint64_t log_dropped;		/* LOG frames dropped because outq was full */
};

struct job {
	bool active;
	uint32_t request_id;
	pid_t pid;			/* also the process group id (the child calls setsid) */
	bool reaped;
	int wait_status;
	int stdin_fd, stdout_fd, stderr_fd;	/* parent ends, -1 once closed */
	struct agent_bytes stdin_data;	/* owned copy */
	size_t stdin_off;
	struct strbuf out, err;
	size_t cap_bytes;		/* per stream */
	bool out_truncated, err_truncated;
	uint64_t start_ms;
	uint64_t deadline_ms;		/* next timeout step; UINT64_MAX when none */
	uint64_t kill_grace_ms;
	int kill_stage;			/* 0 running, 1 SIGTERM sent, 2 SIGKILL sent */
	bool timed_out;
	uint64_t drain_deadline_ms;	/* set when reaped */
};

struct watch {
	char *source;			/* LOG source name */
	char *path;
	int fd;
	bool polled;			/* regular file: read on a timer instead of epoll */
	struct strbuf partial;		/* bytes after the last newline */
};

struct agent {
	const char *level;		/* "l1" or "l2" */
	uint16_t send_flags;		/* AGENT_FLAG_INNER when level is l2 */
	int epfd;
	int sigfd;
	struct channel channels[CHANNEL_COUNT];
	struct job jobs[AGENT_MAX_JOBS];
	struct watch *watches;
	size_t n_watches;
	uint64_t next_watch_poll_ms;
	bool quit;
};

/* main.c */
void agent_diag(struct agent *a, const char *fmt, ...) PRINTF_FMT(2, 3);
int agent_epoll_set(struct agent *a, int op, int fd, uint32_t events, uint64_t ref);

/* channel.c */
void channel_init(struct channel *ch, enum channel_id id, const char *name);
int channel_open_path(struct agent *a, struct channel *ch, const char *path, nl_error_t *err);
int channel_open_fds(struct agent *a, struct channel *ch, int rfd, int wfd, nl_error_t *err);
void channel_release(struct agent *a, struct channel *ch);
bool channel_usable(const struct channel *ch);
int channel_connect(struct agent *a, struct channel *ch, nl_error_t *err);
void channel_handle_event(struct agent *a, struct channel *ch, uint32_t events, bool write_side);
void channel_send_bytes(struct agent *a, struct channel *ch, const void *data, size_t len);
void channel_tick(struct agent *a, struct channel *ch, uint64_t now);
uint64_t channel_next_deadline(const struct channel *ch);

/* dispatch.c */
void dispatch_port_frame(struct agent *a, const struct agent_frame *frame);
void dispatch_relay_frame(struct agent *a, const struct agent_frame *frame);
void dispatch_decode_error(struct agent *a, struct channel *ch, const struct agent_frame *frame,
			   int code, const char *message);
void agent_send(struct agent *a, struct agent_msg *msg);
void agent_send_error(struct agent *a, uint32_t request_id, int code, int errnum, const char *fmt, ...)
	PRINTF_FMT(5, 6);
void agent_send_ready(struct agent *a, uint32_t request_id);

/* exec.c */
int exec_start(struct agent *a, const struct agent_msg *msg, nl_error_t *err);
void exec_handle_event(struct agent *a, size_t slot, enum ev_kind kind, uint32_t events);
void exec_reap(struct agent *a);
void exec_tick(struct agent *a, uint64_t now);
uint64_t exec_next_deadline(const struct agent *a);
void exec_kill_all(struct agent *a);

/* qmp.c: the `nestlab-agent qmp` command; returns the exit status */
int qmp_main(int argc, char **argv);

/* files.c */
int files_read(struct agent *a, const struct agent_msg *msg, nl_error_t *err);
int watch_add(struct agent *a, const char *spec, nl_error_t *err);
void watch_start_all(struct agent *a);
void watch_handle_event(struct agent *a, size_t index);
void watch_tick(struct agent *a, uint64_t now);
void watch_release_all(struct agent *a);
uint64_t clock_boottime_ms(void);

#endif /* NESTLAB_AGENT_H */
