/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_loop.c - unit tests for loop.c: timers, readable descriptors, signals through the signalfd
 * (SIGINT with raise(), SIGTERM, SIGCHLD), timeouts, callback errors, stale events and teardown
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "loop.h"
#include "test.h"

struct counter {
	int calls;
	uint64_t fired_at_ms;
	struct loop_event last;	/* last.name is only valid during the callback: see name */
	char name[64];
};

static bool counter_done(void *opaque)
{
	return ((struct counter *)opaque)->calls > 0;
}

static int count_event(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	struct counter *c = ev->opaque;

	c->calls++;
	c->fired_at_ms = now_ms();
	c->last = *ev;
	snprintf(c->name, sizeof(c->name), "%s", ev->name);
	return 0;
}

static int test_loop_timer_fires(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	struct counter c = { 0 };
	uint64_t start = now_ms();
	loop_id_t id;

	CHECK(loop_init(&loop, &err) == 0);
	id = loop_add_timer(&loop, 50, count_event, &c, "boot deadline", &err);
	CHECK(id != 0);
	CHECK(loop_run_until(&loop, counter_done, &c, 5000, &err) == 0);
	CHECK(c.calls == 1);
	CHECK(c.fired_at_ms - start >= 45);
	CHECK(c.last.kind == LOOP_KIND_TIMER && c.last.expirations == 1);
	CHECK_STR(c.name, "boot deadline");
	/* one-shot: gone after firing, so removing it again is harmless */
	loop_remove(&loop, id);
	return TEST_PASS;
}

static int test_loop_timer_cancelled(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	struct counter early = { 0 }, late = { 0 };
	loop_id_t cancelled;

	CHECK(loop_init(&loop, &err) == 0);
	cancelled = loop_add_timer(&loop, 10, count_event, &early, "cancelled", &err);
	CHECK(loop_add_timer(&loop, 60, count_event, &late, "late", &err) != 0);
	loop_remove(&loop, cancelled);
	CHECK(loop_run_until(&loop, counter_done, &late, 5000, &err) == 0);
	CHECK(early.calls == 0 && late.calls == 1);
	/* the freed slot is reused with a new generation: the old id stays dead */
	CHECK(loop_add_timer(&loop, 0, count_event, &early, "reuse", &err) != cancelled);
	CHECK(loop_run_until(&loop, counter_done, &early, 5000, &err) == 0);
	CHECK(early.calls == 1);
	return TEST_PASS;
}

static int test_loop_fd_readable(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	cleanup_close int r = -1;
	cleanup_close int w = -1;
	struct counter c = { 0 };
	int fds[2];

	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	r = fds[0];
	w = fds[1];
	CHECK(loop_init(&loop, &err) == 0);
	CHECK(loop_add_fd(&loop, LOOP_KIND_CHILD_PIPE, r, EPOLLIN, count_event, &c, "qemu stderr", &err));
	/* nothing to read yet: the run times out */
	CHECK(loop_run_until(&loop, counter_done, &c, 30, &err) == -1);
	CHECK_STR(err->msg, "timed out after 30 ms");
	CHECK(err->errnum == ETIMEDOUT);
	nl_error_release(&err);
	CHECK(write(w, "x", 1) == 1);
	CHECK(loop_run_until(&loop, counter_done, &c, 5000, &err) == 0);
	CHECK(c.calls == 1 && c.last.fd == r && (c.last.events & EPOLLIN));
	CHECK(c.last.kind == LOOP_KIND_CHILD_PIPE);
	return TEST_PASS;
}

static int test_loop_sigint_interrupts(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	struct counter c = { 0 };

	CHECK(loop_init(&loop, &err) == 0);
	CHECK(loop_add_timer(&loop, 10000, count_event, &c, "never", &err));
	CHECK(raise(SIGINT) == 0);	/* blocked: stays pending until the signalfd reads it */
	CHECK(loop_run_until(&loop, counter_done, &c, 5000, &err) == -1);
	CHECK_STR(err->msg, "interrupted by SIGINT");
	CHECK(err->errnum == EINTR);
	CHECK(loop.interrupted_by == SIGINT);
	CHECK(c.calls == 0);
	return TEST_PASS;
}

static int send_sigterm(struct loop *loop UNUSED, const struct loop_event *ev UNUSED, nl_error_t *err UNUSED)
{
	kill(getpid(), SIGTERM);
	return 0;
}

static int test_loop_sigterm_during_run(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(loop_init(&loop, &err) == 0);
	CHECK(loop_add_timer(&loop, 20, send_sigterm, NULL, "kill", &err));
	CHECK(loop_run_until(&loop, NULL, NULL, 5000, &err) == -1);
	CHECK_STR(err->msg, "interrupted by SIGTERM");
	return TEST_PASS;
}

static int test_loop_sigchld(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	struct counter c = { 0 };
	pid_t pid;

	CHECK(loop_init(&loop, &err) == 0);
	loop.on_sigchld = count_event;
	loop.on_sigchld_opaque = &c;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK(loop_run_until(&loop, counter_done, &c, 5000, &err) == 0);
	CHECK(c.calls == 1);
	CHECK_STR(c.name, "SIGCHLD");
	CHECK(waitpid(pid, NULL, 0) == pid);
	return TEST_PASS;
}

static int fail_event(struct loop *loop UNUSED, const struct loop_event *ev, nl_error_t *err)
{
	return nl_error(err, 0, "%s: guest agent sent a bad frame", ev->name);
}

static int test_loop_callback_error(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(loop_init(&loop, &err) == 0);
	CHECK(loop_add_timer(&loop, 0, fail_event, NULL, "L2 agent", &err));
	CHECK(loop_run_until(&loop, NULL, NULL, 5000, &err) == -1);
	CHECK_STR(err->msg, "L2 agent: guest agent sent a bad frame");
	return TEST_PASS;
}

/* two registrations that each remove the other: only one callback may run, even in one batch */
struct pair {
	loop_id_t ids[2];
	int calls;
};

static int remove_other(struct loop *loop, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	struct pair *pair = ev->opaque;

	pair->calls++;
	loop_remove(loop, ev->id == pair->ids[0] ? pair->ids[1] : pair->ids[0]);
	loop_remove(loop, ev->id);
	loop_stop(loop);
	return 0;
}

static int test_loop_stale_event_dropped(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	int a[2], b[2];
	struct pair pair = { { 0, 0 }, 0 };

	CHECK(pipe2(a, O_CLOEXEC) == 0 && pipe2(b, O_CLOEXEC) == 0);
	CHECK(write(a[1], "x", 1) == 1 && write(b[1], "y", 1) == 1);
	CHECK(loop_init(&loop, &err) == 0);
	pair.ids[0] = loop_add_fd(&loop, LOOP_KIND_AGENT, a[0], EPOLLIN, remove_other, &pair, "a", &err);
	pair.ids[1] = loop_add_fd(&loop, LOOP_KIND_CONSOLE, b[0], EPOLLIN, remove_other, &pair, "b", &err);
	CHECK(pair.ids[0] && pair.ids[1]);
	CHECK(loop_run_until(&loop, NULL, NULL, 5000, &err) == 0);
	CHECK(pair.calls == 1);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	return TEST_PASS;
}

static int test_loop_bad_registrations(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(loop_init(&loop, &err) == 0);
	CHECK(loop_add_fd(&loop, LOOP_KIND_TIMER, 0, EPOLLIN, count_event, NULL, "x", &err) == 0);
	CHECK_CONTAINS(err->msg, "timer cannot be added as a descriptor");
	nl_error_release(&err);
	CHECK(loop_add_fd(&loop, LOOP_KIND_QMP, 9999, EPOLLIN, count_event, NULL, "qmp", &err) == 0);
	CHECK(err->errnum == EBADF);
	nl_error_release(&err);
	CHECK(loop_modify(&loop, 12345, EPOLLIN, &err) == -1);
	CHECK_STR(loop_kind_name(LOOP_KIND_CHILD_EXIT), "child exit");
	return TEST_PASS;
}

static int test_loop_release_restores_mask(void)
{
	struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;
	sigset_t mask;

	sigprocmask(SIG_SETMASK, NULL, &mask);
	CHECK(!sigismember(&mask, SIGINT));
	CHECK(loop_init(&loop, &err) == 0);
	sigprocmask(SIG_SETMASK, NULL, &mask);
	CHECK(sigismember(&mask, SIGINT) && sigismember(&mask, SIGTERM) && sigismember(&mask, SIGCHLD));
	raise(SIGINT);	/* pending and never read: must not kill us on release */
	loop_release(&loop);
	sigprocmask(SIG_SETMASK, NULL, &mask);
	CHECK(!sigismember(&mask, SIGINT) && !sigismember(&mask, SIGCHLD));
	CHECK(loop.epoll_fd == -1 && loop.signal_fd == -1);
	loop_release(&loop);	/* twice is fine */
	return TEST_PASS;
}

/* sig_pending() - @sig is pending for this thread or the process */
static bool sig_pending(int sig)
{
	sigset_t pending;

	return sigpending(&pending) == 0 && sigismember(&pending, sig) == 1;
}

/* test_loop_nested_release_keeps_signal() - a SIGINT pending when an inner loop goes stays for the outer */
static int test_loop_nested_release_keeps_signal(void)
{
	cleanup_loop struct loop outer = LOOP_INIT;
	struct loop inner = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(loop_init(&outer, &err) == 0);
	CHECK(loop_init(&inner, &err) == 0);
	CHECK(raise(SIGINT) == 0);	/* e.g. Ctrl-C after a build's last wait, before its loop_release() */
	loop_release(&inner);
	CHECK(sig_pending(SIGINT));
	CHECK(loop_run_until(&outer, NULL, NULL, 5000, &err) == -1);
	CHECK_STR(err->msg, "interrupted by SIGINT");
	return TEST_PASS;
}

/* test_loop_nested_read_signal_handed_on() - a SIGTERM an inner loop read reaches the outer loop too */
static int test_loop_nested_read_signal_handed_on(void)
{
	cleanup_loop struct loop outer = LOOP_INIT;
	struct loop inner = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(loop_init(&outer, &err) == 0);
	CHECK(loop_init(&inner, &err) == 0);
	CHECK(raise(SIGTERM) == 0);
	CHECK(loop_run_until(&inner, NULL, NULL, 5000, &err) == -1 && err->errnum == EINTR);
	nl_error_release(&err);
	CHECK(!sig_pending(SIGTERM));	/* the inner signalfd consumed it */
	loop_release(&inner);
	CHECK(sig_pending(SIGTERM));
	CHECK(loop_run_until(&outer, NULL, NULL, 5000, &err) == -1);
	CHECK_STR(err->msg, "interrupted by SIGTERM");
	return TEST_PASS;
}

/*
 * test_loop_deadline() - the process deadline ends a wait without a limit of its own, with EINTR and its
 * name; loop_deadline_expired() tells it from a real SIGTERM, which stays "interrupted by SIGTERM"
 */
static int test_loop_deadline(void)
{
	cleanup_loop struct loop loop = LOOP_INIT;
	cleanup_error nl_error_t err = NULL;

	CHECK(loop_init(&loop, &err) == 0);
	CHECK(!loop_interrupt_pending() && !loop_deadline_expired() && !loop_deadline_message());
	loop_deadline_set(now_ms() + 100, "timeouts.total (1 s)");
	CHECK(!loop_deadline_expired());
	CHECK(loop_run_until(&loop, NULL, NULL, -1, &err) == -1);
	CHECK(err->errnum == EINTR);
	CHECK_STR(err->msg, "timeouts.total (1 s) expired");
	CHECK(loop_deadline_expired() && loop_interrupt_pending());
	CHECK_STR(loop_deadline_message(), "timeouts.total (1 s) expired");
	nl_error_release(&err);
	/* a loop with its own shorter timeout is not affected by a later deadline */
	loop_deadline_set(now_ms() + 60000, "timeouts.total (60 s)");
	CHECK(loop_run_until(&loop, NULL, NULL, 20, &err) == -1 && err->errnum == ETIMEDOUT);
	nl_error_release(&err);
	loop_deadline_set(0, NULL);
	CHECK(!loop_deadline_expired() && !loop_interrupt_pending());
	CHECK(raise(SIGTERM) == 0);
	CHECK(loop_interrupt_pending() && !loop_deadline_expired());
	CHECK(loop_run_until(&loop, NULL, NULL, 5000, &err) == -1);
	CHECK_STR(err->msg, "interrupted by SIGTERM");
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_loop_nested_release_keeps_signal),
	TEST_CASE(test_loop_nested_read_signal_handed_on),
	TEST_CASE(test_loop_deadline),
	TEST_CASE(test_loop_timer_fires),	  TEST_CASE(test_loop_timer_cancelled),
	TEST_CASE(test_loop_fd_readable),	  TEST_CASE(test_loop_sigint_interrupts),
	TEST_CASE(test_loop_sigterm_during_run),  TEST_CASE(test_loop_sigchld),
	TEST_CASE(test_loop_callback_error),	  TEST_CASE(test_loop_stale_event_dropped),
	TEST_CASE(test_loop_bad_registrations),	  TEST_CASE(test_loop_release_restores_mask),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
