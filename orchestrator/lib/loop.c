/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * loop.c - the supervisor loop: epoll with typed references, signalfd for signals, timerfd for deadlines
 *
 * Every registration lives in a slot of loop->slots; the 64-bit epoll data is a union loop_ref of the
 * slot index, the registration's kind and the slot's generation (passt's union epoll_ref does the same
 * with a type and a socket). A slot is reused after loop_remove() with a new generation, so an event still
 * queued for the old registration no longer matches and is dropped.
 *
 * Signals: SIGINT, SIGTERM and SIGCHLD are blocked in loop_init() and read from a signalfd(2), so they
 * are handled in the loop's own context rather than in a signal handler. Timers are timerfd(2)s on
 * CLOCK_MONOTONIC, one-shot, armed in milliseconds. The process deadline (loop.h) caps every
 * epoll_wait() and is checked before each one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 16

/* the process deadline (loop_deadline_set()) */
static uint64_t deadline_at_ms;
static char deadline_message[160];

void loop_deadline_set(uint64_t deadline_ms, const char *what)
{
	deadline_at_ms = deadline_ms;
	snprintf(deadline_message, sizeof(deadline_message), "%s expired", what ? what : "the deadline");
}

bool loop_deadline_expired(void)
{
	return deadline_at_ms && now_ms() >= deadline_at_ms;
}

const char *loop_deadline_message(void)
{
	return loop_deadline_expired() ? deadline_message : NULL;
}

bool loop_interrupt_pending(void)
{
	sigset_t pending;

	if (loop_deadline_expired())
		return true;
	if (sigpending(&pending) < 0)
		return false;
	return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
}

/* the epoll data of a registration */
union loop_ref {
	struct {
		uint32_t slot : 24;
		uint32_t kind : 8;
		uint32_t generation;
	};
	uint64_t u64;
};

const char *loop_kind_name(enum loop_kind kind)
{
	static const char *const names[LOOP_KIND_COUNT] = {
		[LOOP_KIND_NONE] = "none",	   [LOOP_KIND_SIGNAL] = "signal",
		[LOOP_KIND_TIMER] = "timer",	   [LOOP_KIND_QMP] = "qmp",
		[LOOP_KIND_AGENT] = "agent",	   [LOOP_KIND_CHILD_PIPE] = "child pipe",
		[LOOP_KIND_CHILD_EXIT] = "child exit", [LOOP_KIND_CONSOLE] = "console",
		[LOOP_KIND_OTHER] = "other",
	};

	return (unsigned)kind < LOOP_KIND_COUNT ? names[kind] : "unknown";
}

/* loop_slot_of() - the live slot @id refers to, or NULL when it was removed or never existed */
static struct loop_slot *loop_slot_of(struct loop *loop, loop_id_t id)
{
	union loop_ref ref = { .u64 = id };
	struct loop_slot *slot;

	if (!id || ref.slot >= loop->n_slots)
		return NULL;
	slot = &loop->slots[ref.slot];
	if (slot->kind == LOOP_KIND_NONE || slot->generation != ref.generation || slot->kind != ref.kind)
		return NULL;
	return slot;
}

/**
 * loop_register() - take a free slot and add @fd to the epoll with its typed reference
 * @loop:	loop
 * @kind:	what @fd is
 * @fd:		descriptor
 * @events:	epoll events
 * @err:	error
 *
 * Return: the id (the reference), or 0 with *err set.
 */
static loop_id_t loop_register(struct loop *loop, enum loop_kind kind, int fd, uint32_t events,
			       nl_error_t *err)
{
	struct epoll_event ev = { .events = events };
	struct loop_slot *slot = NULL;
	union loop_ref ref = { .u64 = 0 };
	size_t i;

	for (i = 0; i < loop->n_slots && !slot; i++)
		if (loop->slots[i].kind == LOOP_KIND_NONE)
			slot = &loop->slots[i];
	if (!slot) {
		if (loop->n_slots >= (1u << 24))
			return nl_error(err, ENOSPC, "event loop: too many registrations"), 0;
		loop->slots = xrealloc(loop->slots, (loop->n_slots + 1) * sizeof(*loop->slots));
		slot = &loop->slots[loop->n_slots++];
		memset(slot, 0, sizeof(*slot));
	}
	if (++slot->generation == 0)
		slot->generation = 1;
	ref.slot = (uint32_t)(slot - loop->slots);
	ref.kind = kind;
	ref.generation = slot->generation;
	ev.data.u64 = ref.u64;
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return nl_error(err, errno, "event loop: watch %s fd %d", loop_kind_name(kind), fd), 0;
	slot->kind = kind;
	slot->fd = fd;
	slot->owns_fd = false;
	slot->oneshot = false;
	return ref.u64;
}

/* loop_on_signal() - read the signalfd: SIGINT/SIGTERM interrupt the run, SIGCHLD calls on_sigchld */
static int loop_on_signal(struct loop *loop, const struct loop_event *ev, nl_error_t *err)
{
	struct signalfd_siginfo si;

	while (read(ev->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			loop->interrupted_by = loop->signal_seen = (int)si.ssi_signo;
		else if (si.ssi_signo == SIGCHLD && loop->on_sigchld) {
			struct loop_event chld = { .kind = LOOP_KIND_SIGNAL, .fd = ev->fd,
						   .opaque = loop->on_sigchld_opaque, .name = "SIGCHLD" };

			if (loop->on_sigchld(loop, &chld, err) < 0)
				return -1;
		}
	}
	return 0;
}

/**
 * loop_init() - set up the loop
 * @loop:	loop, LOOP_INIT or zeroed
 * @err:	error
 *
 * Blocks SIGINT, SIGTERM and SIGCHLD in the calling thread (the previous mask is restored by
 * loop_release()) and registers the signalfd that reads them.
 * Return: 0 or -1.
 */
int loop_init(struct loop *loop, nl_error_t *err)
{
	memset(loop, 0, sizeof(*loop));
	loop->epoll_fd = loop->signal_fd = -1;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0)
		return nl_error(err, errno, "event loop: epoll_create1");
	sigemptyset(&loop->signals);
	sigaddset(&loop->signals, SIGINT);
	sigaddset(&loop->signals, SIGTERM);
	sigaddset(&loop->signals, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &loop->signals, &loop->old_mask) < 0)
		return nl_error(err, errno, "event loop: block signals");
	loop->mask_saved = true;
	loop->signal_fd = signalfd(-1, &loop->signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (loop->signal_fd < 0)
		return nl_error(err, errno, "event loop: signalfd");
	if (!loop_register(loop, LOOP_KIND_SIGNAL, loop->signal_fd, EPOLLIN, err))
		return -1;
	loop->slots[0].fn = loop_on_signal;
	loop->slots[0].name = xstrdup("signals");
	return 0;
}

/* loop_slot_clear() - free a slot: out of the epoll, timerfd closed, name freed */
static void loop_slot_clear(struct loop *loop, struct loop_slot *slot)
{
	if (loop->epoll_fd >= 0)
		epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, slot->fd, NULL);
	if (slot->owns_fd)
		close(slot->fd);
	free(slot->name);
	slot->name = NULL;
	slot->kind = LOOP_KIND_NONE;
	slot->fd = -1;
	slot->fn = NULL;
	slot->opaque = NULL;
}

/**
 * loop_release() - tear the loop down
 * @loop:	loop (LOOP_INIT, failed or initialised)
 *
 * A SIGINT or SIGTERM this loop read, or one still pending, is handed on when the restored mask keeps
 * it blocked (an outer loop exists): it is raised again, so that the outer loop sees it and a nested loop
 * never swallows a Ctrl-C. When the restored mask lets it through (the outermost loop), pending ones are
 * consumed instead, so that a late SIGINT does not kill the process in the middle of its teardown.
 */
void loop_release(struct loop *loop)
{
	for (size_t i = 0; i < loop->n_slots; i++)
		if (loop->slots[i].kind != LOOP_KIND_NONE)
			loop_slot_clear(loop, &loop->slots[i]);
	free(loop->slots);
	loop->slots = NULL;
	loop->n_slots = 0;
	if (loop->signal_fd >= 0)
		close(loop->signal_fd);
	if (loop->epoll_fd >= 0)
		close(loop->epoll_fd);
	loop->signal_fd = loop->epoll_fd = -1;
	if (loop->mask_saved) {
		struct timespec zero = { 0, 0 };
		sigset_t drain;
		int sig;

		/* only what the restored mask would deliver is consumed; the rest stays pending */
		sigemptyset(&drain);
		for (sig = 1; sig < NSIG; sig++)
			if (sigismember(&loop->signals, sig) == 1 && sigismember(&loop->old_mask, sig) != 1)
				sigaddset(&drain, sig);
		while (sigtimedwait(&drain, NULL, &zero) > 0)
			;
		if (loop->signal_seen && sigismember(&loop->old_mask, loop->signal_seen) == 1)
			raise(loop->signal_seen);	/* blocked: pending for the outer loop */
		loop->signal_seen = 0;
		sigprocmask(SIG_SETMASK, &loop->old_mask, NULL);
		loop->mask_saved = false;
	}
}

loop_id_t loop_add_fd(struct loop *loop, enum loop_kind kind, int fd, uint32_t events, loop_fn fn,
		      void *opaque, const char *name, nl_error_t *err)
{
	loop_id_t id;
	struct loop_slot *slot;

	if (kind <= LOOP_KIND_TIMER || kind >= LOOP_KIND_COUNT)
		return nl_error(err, EINVAL, "event loop: %s cannot be added as a descriptor",
				loop_kind_name(kind)), 0;
	id = loop_register(loop, kind, fd, events, err);
	if (!id)
		return 0;
	slot = loop_slot_of(loop, id);
	slot->fn = fn;
	slot->opaque = opaque;
	slot->name = xstrdup(name ? name : loop_kind_name(kind));
	return id;
}

/**
 * loop_add_timer() - arm a one-shot deadline
 * @loop:	loop
 * @delay_ms:	milliseconds from now (0 fires at the next wait)
 * @fn:		called once when it expires; the timer is removed afterwards
 * @opaque:	for @fn
 * @name:	for messages
 * @err:	error
 *
 * Return: the id (loop_remove() cancels it), or 0 with *err set.
 */
loop_id_t loop_add_timer(struct loop *loop, unsigned delay_ms, loop_fn fn, void *opaque, const char *name,
			 nl_error_t *err)
{
	struct itimerspec its = { .it_value = { .tv_sec = delay_ms / 1000,
						.tv_nsec = (long)(delay_ms % 1000) * 1000000L } };
	cleanup_close int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct loop_slot *slot;
	loop_id_t id;

	if (fd < 0)
		return nl_error(err, errno, "event loop: timerfd for %s", name ? name : "timer"), 0;
	if (delay_ms == 0)
		its.it_value.tv_nsec = 1;	/* an all-zero it_value would disarm the timer */
	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		return nl_error(err, errno, "event loop: arm timer %s", name ? name : "timer"), 0;
	id = loop_register(loop, LOOP_KIND_TIMER, fd, EPOLLIN, err);
	if (!id)
		return 0;
	slot = loop_slot_of(loop, id);
	slot->owns_fd = true;
	slot->oneshot = true;
	slot->fn = fn;
	slot->opaque = opaque;
	slot->name = xstrdup(name ? name : "timer");
	fd = -1;
	return id;
}

int loop_modify(struct loop *loop, loop_id_t id, uint32_t events, nl_error_t *err)
{
	struct loop_slot *slot = loop_slot_of(loop, id);
	struct epoll_event ev = { .events = events, .data.u64 = id };

	if (!slot)
		return nl_error(err, ENOENT, "event loop: no such registration");
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, slot->fd, &ev) < 0)
		return nl_error(err, errno, "event loop: modify %s", slot->name);
	return 0;
}

void loop_remove(struct loop *loop, loop_id_t id)
{
	struct loop_slot *slot = loop_slot_of(loop, id);

	if (slot && slot->kind != LOOP_KIND_SIGNAL)
		loop_slot_clear(loop, slot);
}

void loop_stop(struct loop *loop)
{
	loop->stop = true;
}

/**
 * loop_dispatch() - call the callback of one epoll event
 * @loop:	loop
 * @e:		the event; stale references (removed in this batch) are dropped
 * @err:	error from the callback
 *
 * Timers: the expiration count is read first (nothing to read means the timer was re-armed or
 * cancelled meanwhile, and the event is dropped); a one-shot timer is removed after its callback.
 * Return: the callback's result.
 */
static int loop_dispatch(struct loop *loop, const struct epoll_event *e, nl_error_t *err)
{
	struct loop_slot *slot = loop_slot_of(loop, e->data.u64);
	struct loop_event ev;
	int ret;

	if (!slot)
		return 0;
	ev = (struct loop_event){ .id = e->data.u64, .kind = slot->kind, .fd = slot->fd, .events = e->events,
				  .expirations = 0, .opaque = slot->opaque, .name = slot->name };
	if (slot->kind == LOOP_KIND_TIMER &&
	    read(slot->fd, &ev.expirations, sizeof(ev.expirations)) != (ssize_t)sizeof(ev.expirations))
		return 0;
	ret = slot->fn ? slot->fn(loop, &ev, err) : 0;
	/* the callback may have grown loop->slots: look the slot up again */
	slot = loop_slot_of(loop, ev.id);
	if (slot && slot->oneshot)
		loop_slot_clear(loop, slot);
	return ret;
}

/* loop_error_errnum() - an error whose message does not repeat strerror(@errnum) */
static int loop_error_errnum(nl_error_t *err, int errnum, const char *msg)
{
	nl_error(err, 0, "%s", msg);
	(*err)->errnum = errnum;
	return -1;
}

/**
 * loop_run_until() - run the loop until a condition holds
 * @loop:	loop
 * @done:	predicate checked before every wait; NULL: run until loop_stop()
 * @opaque:	for @done
 * @timeout_ms:	limit (< 0: none), through epoll_wait()'s timeout
 * @err:	error
 *
 * Return: 0 when @done returned true or loop_stop() was called; -1 when a callback failed, on SIGINT or
 * SIGTERM ("interrupted by SIGINT", EINTR) and on timeout ("timed out after N ms", ETIMEDOUT).
 */
int loop_run_until(struct loop *loop, loop_done_fn done, void *opaque, int timeout_ms, nl_error_t *err)
{
	uint64_t deadline = now_ms() + (timeout_ms > 0 ? (uint64_t)timeout_ms : 0);

	loop->stop = false;
	for (;;) {
		struct epoll_event events[LOOP_MAX_EVENTS];
		uint64_t now = now_ms();
		int n, wait_ms;

		if (loop->stop || (done && done(opaque)))
			return 0;
		if (loop_deadline_expired())
			return loop_error_errnum(err, EINTR, deadline_message);
		if (timeout_ms >= 0 && now >= deadline) {
			cleanup_free char *msg = xasprintf("timed out after %d ms", timeout_ms);

			return loop_error_errnum(err, ETIMEDOUT, msg);
		}
		wait_ms = timeout_ms < 0 ? -1 : (int)(deadline - now);
		if (deadline_at_ms && (wait_ms < 0 || deadline_at_ms - now < (uint64_t)wait_ms))
			wait_ms = (int)(deadline_at_ms - now < INT32_MAX ? deadline_at_ms - now : INT32_MAX);
		n = epoll_wait(loop->epoll_fd, events, LOOP_MAX_EVENTS, wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "event loop: epoll_wait");
		loop->interrupted_by = 0;
		for (int i = 0; i < n; i++)
			if (loop_dispatch(loop, &events[i], err) < 0)
				return -1;
		if (loop->interrupted_by) {
			cleanup_free char *msg = xasprintf("interrupted by SIG%s",
							   sigabbrev_np(loop->interrupted_by));

			return loop_error_errnum(err, EINTR, msg);
		}
	}
}
