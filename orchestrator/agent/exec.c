/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * exec.c - EXEC: run a command in the guest with a timeout and capped output
 *
 * Each command runs as its own session and process group (setsid), with stdin, stdout and stderr on
 * pipes the agent polls, and argv passed to execvp() as is: there is no shell unless argv[0] is one.
 * An exec failure travels back over a close-on-exec status pipe (as git's run-command.c does), so a
 * missing program is an ERROR reply with its errno rather than an exit status of 127.
 *
 * On timeout the whole group gets SIGTERM, then SIGKILL after the grace period. Output beyond the cap
 * is read and dropped (so the command never blocks on a full pipe) and flagged as truncated. When the
 * command exits, its pipes get AGENT_DRAIN_MS to reach end of file: a command may leave a daemon behind
 * (L1 starting L2's QEMU), which is not killed, only no longer listened to.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define EXEC_READ_BYTES 65536

static void close_pipe(struct agent *a, int *fd)
{
	if (*fd < 0)
		return;
	agent_epoll_set(a, EPOLL_CTL_DEL, *fd, 0, 0);
	close(*fd);
	*fd = -1;
}

/*
 * child_exec() - in the forked child: reset signals, new session, wire up the pipes, exec.
 * Only async-signal-safe calls (plus putenv, fine in a single-threaded parent's child); on failure
 * the errno goes to @status_fd and the child exits 127.
 */
static void __attribute__((noreturn)) child_exec(const struct agent_exec *x, int in_fd, int out_fd,
						 int err_fd, int status_fd)
{
	sigset_t none;
	int e;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setsid();
	if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
	    dup2(err_fd, STDERR_FILENO) < 0)
		goto fail;
	for (size_t i = 0; x->env && x->env[i]; i++)
		putenv(x->env[i]);
	execvp(x->argv[0], x->argv);
fail:
	e = errno;
	(void)!write(status_fd, &e, sizeof(e));
	_exit(127);
}

/*
 * job_spawn() - fork and exec @x for @job; on success the job owns the parent ends of three pipes.
 * Return: 0, or -1 with @err set (errno of the failed pipe, fork or exec)
 */
static int job_spawn(struct job *job, const struct agent_exec *x, nl_error_t *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 }, status[2] = { -1, -1 };
	int child_errno = 0, ret = -1;
	ssize_t n;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(status, O_CLOEXEC) < 0) {
		nl_error(err, errno, "pipe for %s", x->argv[0]);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		nl_error(err, errno, "fork for %s", x->argv[0]);
		goto out;
	}
	if (pid == 0)
		child_exec(x, in[0], out[1], errp[1], status[1]);
	close(status[1]);
	status[1] = -1;
	do
		n = read(status[0], &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		nl_error(err, child_errno, "exec %s (argv is run without a shell; PATH=%s)", x->argv[0],
			 getenv("PATH") ? getenv("PATH") : "(unset)");
		goto out;
	}
	job->pid = pid;
	job->stdin_fd = in[1];
	job->stdout_fd = out[0];
	job->stderr_fd = errp[0];
	in[1] = out[0] = errp[0] = -1;
	fcntl(job->stdin_fd, F_SETFL, O_NONBLOCK);
	fcntl(job->stdout_fd, F_SETFL, O_NONBLOCK);
	fcntl(job->stderr_fd, F_SETFL, O_NONBLOCK);
	ret = 0;
out:
	for (int i = 0; i < 2; i++) {
		cleanup_closep(&in[i]);
		cleanup_closep(&out[i]);
		cleanup_closep(&errp[i]);
		cleanup_closep(&status[i]);
	}
	return ret;
}

/* exec_validate() - argv and env of a request; returns 0 or -AGENT_ERR_INVALID with @err set */
static int exec_validate(const struct agent_exec *x, nl_error_t *err)
{
	if (!x->argv || !x->argv[0] || !x->argv[0][0]) {
		nl_error(err, 0, "EXEC needs a non-empty argv[0]");
		return -AGENT_ERR_INVALID;
	}
	for (size_t i = 0; x->env && x->env[i]; i++) {
		const char *eq = strchr(x->env[i], '=');

		if (!eq || eq == x->env[i]) {
			nl_error(err, 0, "EXEC env entry \"%s\" is not KEY=VALUE", x->env[i]);
			return -AGENT_ERR_INVALID;
		}
	}
	return 0;
}

static void job_register(struct agent *a, struct job *job, size_t slot)
{
	if (job->stdin_data.len) {
		agent_epoll_set(a, EPOLL_CTL_ADD, job->stdin_fd, EPOLLOUT, EV_REF(EV_JOB_STDIN, slot));
	} else {
		close(job->stdin_fd);
		job->stdin_fd = -1;
	}
	agent_epoll_set(a, EPOLL_CTL_ADD, job->stdout_fd, EPOLLIN, EV_REF(EV_JOB_STDOUT, slot));
	agent_epoll_set(a, EPOLL_CTL_ADD, job->stderr_fd, EPOLLIN, EV_REF(EV_JOB_STDERR, slot));
}

/**
 * exec_start() - start the command of an EXEC request; the EXEC_RESULT follows when it ends
 * @a:		agent
 * @msg:	decoded EXEC
 * @err:	error
 *
 * Return: 0, or -AGENT_ERR_INVALID / -AGENT_ERR_BUSY / -AGENT_ERR_EXEC with @err set
 */
int exec_start(struct agent *a, const struct agent_msg *msg, nl_error_t *err)
{
	const struct agent_exec *x = &msg->u.exec;
	struct job *job = NULL;
	size_t slot;
	int rc;

	rc = exec_validate(x, err);
	if (rc < 0)
		return rc;
	for (slot = 0; slot < AGENT_MAX_JOBS && !job; slot++)
		job = a->jobs[slot].active ? NULL : &a->jobs[slot];
	if (!job) {
		nl_error(err, 0, "%d commands are already running: wait for one to finish",
			 AGENT_MAX_JOBS);
		return -AGENT_ERR_BUSY;
	}
	slot--;
	memset(job, 0, sizeof(*job));
	job->stdin_fd = job->stdout_fd = job->stderr_fd = -1;
	if (job_spawn(job, x, err) < 0)
		return -AGENT_ERR_EXEC;
	job->active = true;
	job->request_id = msg->request_id;
	job->cap_bytes = x->max_output_bytes && x->max_output_bytes < AGENT_MAX_EXEC_OUTPUT ?
				 (size_t)x->max_output_bytes : AGENT_MAX_EXEC_OUTPUT;
	job->start_ms = now_ms();
	job->deadline_ms = job->start_ms + (x->timeout_ms ? x->timeout_ms : AGENT_DEFAULT_TIMEOUT_MS);
	if (job->deadline_ms < job->start_ms)
		job->deadline_ms = UINT64_MAX;
	job->kill_grace_ms = x->kill_grace_ms ? x->kill_grace_ms : AGENT_DEFAULT_KILL_GRACE_MS;
	if (x->stdin_data.len) {
		job->stdin_data.data = xmalloc(x->stdin_data.len);
		memcpy(job->stdin_data.data, x->stdin_data.data, x->stdin_data.len);
		job->stdin_data.len = x->stdin_data.len;
	}
	job_register(a, job, slot);
	return 0;
}

/* job_finish() - send the EXEC_RESULT and free the slot */
static void job_finish(struct agent *a, struct job *job)
{
	struct agent_msg msg = { .type = AGENT_MSG_EXEC_RESULT, .request_id = job->request_id };
	struct agent_exec_result *r = &msg.u.exec_result;

	close_pipe(a, &job->stdin_fd);
	close_pipe(a, &job->stdout_fd);
	close_pipe(a, &job->stderr_fd);
	if (WIFSIGNALED(job->wait_status))
		r->term_signal = (uint64_t)WTERMSIG(job->wait_status);
	else
		r->exit_status = (uint64_t)WEXITSTATUS(job->wait_status);
	r->timed_out = job->timed_out;
	r->stdout_data.data = (uint8_t *)(job->out.str ? job->out.str : "");
	r->stdout_data.len = job->out.len;
	r->stderr_data.data = (uint8_t *)(job->err.str ? job->err.str : "");
	r->stderr_data.len = job->err.len;
	r->stdout_truncated = job->out_truncated;
	r->stderr_truncated = job->err_truncated;
	r->duration_ms = now_ms() - job->start_ms;
	agent_send(a, &msg);
	strbuf_release(&job->out);
	strbuf_release(&job->err);
	free(job->stdin_data.data);
	memset(job, 0, sizeof(*job));
	job->stdin_fd = job->stdout_fd = job->stderr_fd = -1;
}

static void job_maybe_finish(struct agent *a, struct job *job)
{
	if (job->active && job->reaped && job->stdout_fd < 0 && job->stderr_fd < 0)
		job_finish(a, job);
}

/* job_write_stdin() - feed the request's stdin; closed when done or when the command stops reading */
static void job_write_stdin(struct agent *a, struct job *job)
{
	while (job->stdin_off < job->stdin_data.len) {
		ssize_t n = write(job->stdin_fd, job->stdin_data.data + job->stdin_off,
				  job->stdin_data.len - job->stdin_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;	/* EPIPE: the command closed its stdin */
		job->stdin_off += (size_t)n;
	}
	close_pipe(a, &job->stdin_fd);
}

/* job_read_output() - read a stdout or stderr pipe, keeping up to the cap */
static void job_read_output(struct agent *a, struct job *job, int *fd, struct strbuf *sb,
			    bool *truncated)
{
	static char buf[EXEC_READ_BYTES];

	for (int i = 0; i < 16; i++) {
		ssize_t n = read(*fd, buf, sizeof(buf));
		size_t keep;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			close_pipe(a, fd);
			return;
		}
		keep = sb->len < job->cap_bytes ? job->cap_bytes - sb->len : 0;
		if ((size_t)n > keep)
			*truncated = true;
		else
			keep = (size_t)n;
		if (keep)
			strbuf_add(sb, buf, keep);
	}
}

/**
 * exec_handle_event() - a job's pipe is ready
 * @a:		agent
 * @slot:	job slot from the event reference
 * @kind:	EV_JOB_STDIN, EV_JOB_STDOUT or EV_JOB_STDERR
 * @events:	EPOLL* bits
 */
void exec_handle_event(struct agent *a, size_t slot, enum ev_kind kind, uint32_t events)
{
	struct job *job = slot < AGENT_MAX_JOBS ? &a->jobs[slot] : NULL;

	if (!job || !job->active)
		return;
	if (kind == EV_JOB_STDIN && job->stdin_fd >= 0) {
		if (events & EPOLLERR)
			close_pipe(a, &job->stdin_fd);
		else
			job_write_stdin(a, job);
	} else if (kind == EV_JOB_STDOUT && job->stdout_fd >= 0) {
		job_read_output(a, job, &job->stdout_fd, &job->out, &job->out_truncated);
	} else if (kind == EV_JOB_STDERR && job->stderr_fd >= 0) {
		job_read_output(a, job, &job->stderr_fd, &job->err, &job->err_truncated);
	}
	job_maybe_finish(a, job);
}

/**
 * exec_reap() - collect exited children (on SIGCHLD); children that are not jobs (orphans when the
 * agent is PID 1) are reaped and forgotten
 * @a:		agent
 */
void exec_reap(struct agent *a)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < AGENT_MAX_JOBS; i++) {
			struct job *job = &a->jobs[i];

			if (!job->active || job->reaped || job->pid != pid)
				continue;
			job->reaped = true;
			job->wait_status = status;
			job->drain_deadline_ms = now_ms() + AGENT_DRAIN_MS;
			if (job->timed_out)
				kill(-pid, SIGKILL);	/* stragglers in the group that ignored SIGTERM */
			job_maybe_finish(a, job);
		}
	}
}

/**
 * exec_tick() - timeouts (SIGTERM, then SIGKILL to the group) and drain deadlines
 * @a:		agent
 * @now:	now_ms()
 */
void exec_tick(struct agent *a, uint64_t now)
{
	for (size_t i = 0; i < AGENT_MAX_JOBS; i++) {
		struct job *job = &a->jobs[i];

		if (!job->active)
			continue;
		if (job->reaped) {
			if (now >= job->drain_deadline_ms)
				job_finish(a, job);
			continue;
		}
		if (now < job->deadline_ms)
			continue;
		if (job->kill_stage == 0) {
			job->timed_out = true;
			kill(-job->pid, SIGTERM);
			job->kill_stage = 1;
			job->deadline_ms = now + job->kill_grace_ms;
		} else {
			kill(-job->pid, SIGKILL);
			job->kill_stage = 2;
			job->deadline_ms = UINT64_MAX;
		}
	}
}

/* exec_next_deadline() - earliest time exec_tick() has work, or UINT64_MAX */
uint64_t exec_next_deadline(const struct agent *a)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < AGENT_MAX_JOBS; i++) {
		const struct job *job = &a->jobs[i];
		uint64_t t;

		if (!job->active)
			continue;
		t = job->reaped ? job->drain_deadline_ms : job->deadline_ms;
		if (t < next)
			next = t;
	}
	return next;
}

/* exec_kill_all() - SIGKILL every running command's group (agent shutdown) */
void exec_kill_all(struct agent *a)
{
	for (size_t i = 0; i < AGENT_MAX_JOBS; i++) {
		if (a->jobs[i].active && !a->jobs[i].reaped)
			kill(-a->jobs[i].pid, SIGKILL);
	}
}
