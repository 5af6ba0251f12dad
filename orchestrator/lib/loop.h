/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.h - the one supervisor loop of nestlab (after passt's epoll_type.h and passt.c)
 *
 * One epoll instance carries everything nestlab waits for while a scenario runs: signals (through a
 * signalfd), deadlines (through timerfds), QMP sockets, guest-agent channels, child pipes and pidfds,
 * serial consoles. Each registration has a kind and a callback; the epoll data is a typed reference
 * (kind, slot, generation) rather than a pointer, so an event for a registration removed earlier in the
 * same batch is recognised and dropped instead of touching freed memory.
 *
 *	cleanup_loop struct loop loop = LOOP_INIT;
 *
 *	if (loop_init(&loop, err) < 0)
 *		return -1;
 *	loop_add_fd(&loop, LOOP_KIND_QMP, qmp_fd, EPOLLIN, on_qmp, &vm, "L1 QMP", err);
 *	loop_add_timer(&loop, 30000, on_boot_timeout, &vm, "L1 boot", err);
 *	if (loop_run_until(&loop, booted, &vm, -1, err) < 0)
 *		return nl_error_wrap(err, "boot L1");	// e.g. "boot L1: interrupted by SIGINT"
 *
 * SIGINT, SIGTERM and SIGCHLD are blocked while the loop exists and read from the signalfd: SIGINT and
 * SIGTERM end loop_run_until() with an error "interrupted by SIGINT" (errnum EINTR) so that callers tear
 * down on their normal error path; SIGCHLD calls the optional on_sigchld callback. Single-threaded.
 *
 * Loops nest (a build or an image step opens its own inside a run's): a SIGINT or SIGTERM that an inner
 * loop read, or that is still pending when it is released, is left pending for the outer one.
 *
 * The process deadline (loop_deadline_set()) is one "stop everything at" time for the whole process, the
 * way a run's timeouts.total is: every loop_run_until() and every polling wait (loop_interrupt_pending())
 * ends when it passes, with errnum EINTR like an interruption and a message naming the deadline. The
 * caller tells the two apart with loop_deadline_expired(), never by the clock.
 */
#ifndef NESTLAB_LOOP_H
#define NESTLAB_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "error.h"

enum loop_kind {
	LOOP_KIND_NONE = 0,
	LOOP_KIND_SIGNAL,	/* the loop's own signalfd */
	LOOP_KIND_TIMER,	/* a timerfd of loop_add_timer() */
	LOOP_KIND_QMP,		/* a QEMU monitor socket */
	LOOP_KIND_AGENT,	/* a guest-agent channel (virtio-serial / vsock) */
	LOOP_KIND_CHILD_PIPE,	/* stdout/stderr pipe of a child process */
	LOOP_KIND_CHILD_EXIT,	/* pidfd of a child process */
	LOOP_KIND_CONSOLE,	/* a serial console socket or pty */
	LOOP_KIND_OTHER,
	LOOP_KIND_COUNT,
};

/* loop_kind_name() - "signal", "timer", "qmp", ... for messages */
const char *loop_kind_name(enum loop_kind kind);

typedef uint64_t loop_id_t;	/* a registration; 0 is never a valid one */

/* what a callback is told; name points into the registration and is valid during the callback only */
struct loop_event {
	loop_id_t id;
	enum loop_kind kind;
	int fd;
	uint32_t events;	/* EPOLLIN, EPOLLHUP, ... (EPOLLIN for a timer) */
	uint64_t expirations;	/* timers: how many times it expired (1 for one-shot) */
	void *opaque;
	const char *name;
};

struct loop;
/* a callback returns 0, or < 0 with *err set, which ends loop_run_until() with that error */
typedef int (*loop_fn)(struct loop *loop, const struct loop_event *ev, nl_error_t *err);
/* a predicate for loop_run_until(): true when the wait is over */
typedef bool (*loop_done_fn)(void *opaque);

struct loop_slot {
	enum loop_kind kind;		/* LOOP_KIND_NONE: free */
	uint32_t generation;
	int fd;
	bool owns_fd;			/* timers: the loop closes the timerfd */
	bool oneshot;			/* timers: removed after the callback ran */
	loop_fn fn;
	void *opaque;
	char *name;
};

struct loop {
	int epoll_fd;
	int signal_fd;
	sigset_t signals;		/* the blocked set */
	sigset_t old_mask;		/* restored by loop_release() */
	bool mask_saved;
	struct loop_slot *slots;
	size_t n_slots;
	bool stop;			/* set by loop_stop() */
	int interrupted_by;		/* SIGINT/SIGTERM seen, or 0 */
	int signal_seen;		/* SIGINT/SIGTERM read since loop_init(): handed on by loop_release() */
	loop_fn on_sigchld;		/* optional: called on SIGCHLD (reap through proc_wait()) */
	void *on_sigchld_opaque;
};

#define LOOP_INIT { .epoll_fd = -1, .signal_fd = -1 }

/* loop_init() - create the epoll and the signalfd, block SIGINT, SIGTERM and SIGCHLD */
int loop_init(struct loop *loop, nl_error_t *err);
/* loop_release() - close everything, free the registrations, restore the signal mask */
void loop_release(struct loop *loop);
/* loop_add_fd() - watch @fd (not owned) for @events; returns the id, or 0 with *err set */
loop_id_t loop_add_fd(struct loop *loop, enum loop_kind kind, int fd, uint32_t events, loop_fn fn,
		      void *opaque, const char *name, nl_error_t *err);
/* loop_add_timer() - a one-shot timer firing after @delay_ms; removed after its callback ran */
loop_id_t loop_add_timer(struct loop *loop, unsigned delay_ms, loop_fn fn, void *opaque, const char *name,
			 nl_error_t *err);
/* loop_modify() - change the epoll events of a registration */
int loop_modify(struct loop *loop, loop_id_t id, uint32_t events, nl_error_t *err);
/* loop_remove() - drop a registration (timers close their fd); unknown or stale ids are ignored */
void loop_remove(struct loop *loop, loop_id_t id);
/* loop_stop() - make the current or next loop_run_until() return 0 */
void loop_stop(struct loop *loop);
/*
 * loop_run_until() - dispatch events until @done(@opaque) is true (checked before each wait; NULL: until
 * loop_stop()), at most @timeout_ms (< 0: no limit). Return: 0; -1 on a callback error, on SIGINT or
 * SIGTERM ("interrupted by SIGINT", errnum EINTR), or on timeout ("timed out after N ms", ETIMEDOUT).
 */
int loop_run_until(struct loop *loop, loop_done_fn done, void *opaque, int timeout_ms, nl_error_t *err);

/*
 * loop_deadline_set() - the process deadline: at @deadline_ms (now_ms() clock; 0 clears it) every wait
 * ends with EINTR and the message "@what expired" (@what e.g. "timeouts.total (90 min)", copied)
 */
void loop_deadline_set(uint64_t deadline_ms, const char *what);
/* loop_deadline_expired() - a process deadline is set and has passed */
bool loop_deadline_expired(void);
/* loop_deadline_message() - "timeouts.total (90 min) expired", or NULL while none expired; static storage */
const char *loop_deadline_message(void);
/*
 * loop_interrupt_pending() - a wait must end: SIGINT or SIGTERM is pending (blocked by a loop), or the
 * process deadline has passed. For waits outside loop_run_until() (locks, polling); cheap.
 */
bool loop_interrupt_pending(void);

#define cleanup_loop __attribute__((cleanup(loop_release)))

#endif /* NESTLAB_LOOP_H */
