/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.c - start, wait for, time out and kill child processes; the registry of every live child
 *
 * Starting a child follows git's run-command.c: everything that may allocate (the path looked up in
 * $PATH, the environment vector, the descriptors of the child's stdin/stdout/stderr, the sorted list of
 * descriptors to keep) is prepared before fork(), and the child only makes async-signal-safe calls
 * between fork() and execve(). If any of them fails, the child writes the failing step and its errno into
 * an O_CLOEXEC pipe whose other end the parent reads: end of file means execve() succeeded, a message
 * means it did not, so "No such file or directory" is reported as such rather than guessed from exit
 * status 127.
 *
 * Waiting uses a pidfd (pidfd_open(2), Linux 5.3) polled with a timeout, with a polling fallback on
 * kernels without one. Termination goes to the whole process group: SIGTERM, a grace period, SIGKILL,
 * and the leader is reaped only after the group was killed, so that its pgid cannot be reused meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

/* the steps the child takes between fork() and execve(), reported by number on failure */
enum child_step {
	CHILD_STEP_SETPGID,
	CHILD_STEP_PDEATHSIG,
	CHILD_STEP_STDIO,
	CHILD_STEP_KEEP_FDS,
	CHILD_STEP_CLOSE_FDS,
	CHILD_STEP_CHDIR,
	CHILD_STEP_EXEC,
};

struct child_report {
	int step;
	int errnum;
};

/* everything the child needs, prepared by the parent so that the child does not allocate */
struct child_setup {
	const char *path;
	char **argv;
	char **envp;
	const char *cwd;
	int stdio_src[3];	/* descriptor to install as 0, 1, 2; -1: inherit */
	bool stderr_to_stdout;
	int *keep;		/* sorted; includes report_fd */
	size_t n_keep;
	int report_fd;
	pid_t parent_pid;
	unsigned max_fd;	/* for the close loop when neither close_range() nor /proc works */
};

static struct proc *registry_head;
static bool close_range_disabled;	/* tests exercise the /proc/self/fd fallback */

/* proc_testing_disable_close_range() - make children close fds by walking /proc/self/fd (tests only) */
void proc_testing_disable_close_range(bool disable)
{
	close_range_disabled = disable;
}

/* registry_add() - put a started child on the registry */
static void registry_add(struct proc *p)
{
	p->reg_prev = NULL;
	p->reg_next = registry_head;
	if (registry_head)
		registry_head->reg_prev = p;
	registry_head = p;
}

/* registry_del() - take a reaped child off the registry */
static void registry_del(struct proc *p)
{
	if (p->reg_prev)
		p->reg_prev->reg_next = p->reg_next;
	else if (registry_head == p)
		registry_head = p->reg_next;
	if (p->reg_next)
		p->reg_next->reg_prev = p->reg_prev;
	p->reg_prev = p->reg_next = NULL;
}

size_t proc_registry_count(void)
{
	size_t n = 0;

	for (struct proc *p = registry_head; p; p = p->reg_next)
		n++;
	return n;
}

void proc_init(struct proc *p)
{
	memset(p, 0, sizeof(*p));
	p->stdin_fd = p->stdout_fd = p->stderr_fd = p->pidfd = -1;
	p->grace_ms = PROC_GRACE_MS_DEFAULT;
}

/* close_fd() - close *fd if open and mark it closed */
static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void proc_release(struct proc *p)
{
	if (p->running)
		proc_kill(p);
	close_fd(&p->stdin_fd);
	close_fd(&p->stdout_fd);
	close_fd(&p->stderr_fd);
	close_fd(&p->pidfd);
	strv_free(p->argv);
	strv_free(p->env);
	free(p->name);
	p->argv = p->env = NULL;
	p->name = NULL;
}

/* ---- preparation in the parent ------------------------------------------------------------------ */

/**
 * resolve_in_path() - the file execve() should run for @name
 * @name:	argv[0]
 *
 * A name holding '/' is used as it is; otherwise the first executable regular file named @name in a
 * directory of $PATH (an empty entry means the current directory, as execvp(3) does).
 * Return: the path (free it), or NULL with errno ENOENT.
 */
static char *resolve_in_path(const char *name)
{
	const char *path = getenv("PATH");
	const char *p;

	if (strchr(name, '/'))
		return xstrdup(name);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		cleanup_free char *candidate = NULL;
		struct stat st;

		if (end == p)
			candidate = xstrdup(name);
		else
			candidate = xasprintf("%.*s/%s", (int)(end - p), p, name);
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
			char *ret = candidate;

			candidate = NULL;
			return ret;
		}
		if (!*end)
			break;
		p = end;
	}
	errno = ENOENT;
	return NULL;
}

/* env_key_len() - length of the KEY part of "KEY=VALUE" or "KEY" */
static size_t env_key_len(const char *entry)
{
	return strcspn(entry, "=");
}

/* env_overridden() - whether @entry of environ is set or unset by @changes */
static bool env_overridden(const char *entry, char *const *changes)
{
	size_t len = env_key_len(entry);

	for (size_t i = 0; changes && changes[i]; i++)
		if (env_key_len(changes[i]) == len && !strncmp(changes[i], entry, len))
			return true;
	return false;
}

/**
 * build_envp() - the child's environment: the parent's with @changes applied
 * @changes:	"KEY=VALUE" to set, "KEY" to unset; NULL: the parent's environment unchanged
 *
 * Return: a new string vector (strv_free() it).
 */
static char **build_envp(char *const *changes)
{
	char **envp = xcalloc(1, sizeof(char *));

	for (size_t i = 0; environ && environ[i]; i++)
		if (!env_overridden(environ[i], changes))
			strv_push(&envp, environ[i]);
	for (size_t i = 0; changes && changes[i]; i++)
		if (strchr(changes[i], '='))
			strv_push(&envp, changes[i]);
	return envp;
}

/**
 * open_stream() - prepare one of the child's standard streams
 * @io:		what the caller asked for
 * @stream:	0, 1 or 2
 * @src_fd:	the parent's descriptor for PROC_IO_FD
 * @child_fd:	set to the descriptor to install in the child (-1: inherit)
 * @parent_fd:	set to the parent's end of a pipe (-1: none)
 * @err:	error
 *
 * Every descriptor is O_CLOEXEC; the child's dup2() clears the flag on the copy it installs.
 * Return: 0 or -1.
 */
static int open_stream(const struct proc_io *io, int stream, int src_fd, int *child_fd, int *parent_fd,
		       nl_error_t *err)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };
	int fds[2], flags;

	*child_fd = *parent_fd = -1;
	switch (io->mode) {
	case PROC_IO_INHERIT:
	case PROC_IO_STDOUT:
		return 0;
	case PROC_IO_NULL:
		*child_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (*child_fd < 0)
			return nl_error(err, errno, "open /dev/null for %s", names[stream]);
		return 0;
	case PROC_IO_PIPE:
		if (pipe2(fds, O_CLOEXEC) < 0)
			return nl_error(err, errno, "pipe for %s", names[stream]);
		*child_fd = stream == 0 ? fds[0] : fds[1];
		*parent_fd = stream == 0 ? fds[1] : fds[0];
		return 0;
	case PROC_IO_FILE_TRUNC:
	case PROC_IO_FILE_APPEND:
		if (!io->path)
			return nl_error(err, EINVAL, "%s: file mode without a path", names[stream]);
		if (stream == 0)
			flags = O_RDONLY;
		else
			flags = O_WRONLY | O_CREAT | (io->mode == PROC_IO_FILE_TRUNC ? O_TRUNC : O_APPEND);
		*child_fd = open(io->path, flags | O_CLOEXEC | O_NOCTTY, 0644);
		if (*child_fd < 0)
			return nl_error(err, errno, "open %s for %s", io->path, names[stream]);
		return 0;
	case PROC_IO_FD:
		if (stream != 0)
			return nl_error(err, EINVAL, "%s: only stdin can be a given descriptor", names[stream]);
		*child_fd = fcntl(src_fd, F_DUPFD_CLOEXEC, 3);
		if (*child_fd < 0)
			return nl_error(err, errno, "duplicate descriptor %d for %s", src_fd, names[stream]);
		return 0;
	}
	return nl_error(err, EINVAL, "%s: unknown stream mode %d", names[stream], (int)io->mode);
}

/* cmp_int() - qsort() comparison of ints */
static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* max_open_fd() - bound for the last-resort close loop: RLIMIT_NOFILE, capped */
static unsigned max_open_fd(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
		return 1u << 20;
	return (unsigned)rl.rlim_cur;
}

/* ---- the child, between fork() and execve(): async-signal-safe calls only ------------------------- */

/* child_fail() - report @step and errno to the parent and exit */
__attribute__((noreturn)) static void child_fail(const struct child_setup *s, enum child_step step)
{
	struct child_report report = { .step = step, .errnum = errno };
	ssize_t unused UNUSED;

	unused = write(s->report_fd, &report, sizeof(report));
	_exit(127);
}

/* child_kept() - whether @fd is on the sorted keep list */
static bool child_kept(const struct child_setup *s, int fd)
{
	for (size_t i = 0; i < s->n_keep; i++)
		if (s->keep[i] == fd)
			return true;
	return false;
}

/* child_close_by_walk() - close fds >= 3 not kept, listed with getdents64 on /proc/self/fd */
static int child_close_by_walk(const struct child_setup *s)
{
	char buf[4096] __attribute__((aligned(8)));
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n;

	if (dir < 0) {
		for (unsigned fd = 3; fd < s->max_fd; fd++)
			if (!child_kept(s, (int)fd))
				close((int)fd);
		return 0;
	}
	while ((n = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int fd = 0;
			bool digits = d->d_name[0] != '\0';

			for (const char *c = d->d_name; *c; c++) {
				digits = digits && *c >= '0' && *c <= '9' && fd < INT_MAX / 10;
				fd = fd * 10 + (*c - '0');
			}
			if (digits && fd >= 3 && fd != dir && !child_kept(s, fd))
				close(fd);
			off += d->d_reclen;
		}
	}
	close(dir);
	return n < 0 ? -1 : 0;
}

/* child_close_fds() - close every fd >= 3 except the kept ones: close_range(2), else the walk */
static int child_close_fds(const struct child_setup *s)
{
	unsigned lo = 3;

	if (close_range_disabled)
		return child_close_by_walk(s);
	for (size_t i = 0; i < s->n_keep; i++) {
		unsigned k = (unsigned)s->keep[i];

		if (k < lo)
			continue;
		if (k > lo && close_range(lo, k - 1, 0) < 0)
			return errno == ENOSYS ? child_close_by_walk(s) : -1;
		lo = k + 1;
	}
	if (close_range(lo, ~0u, 0) < 0)
		return errno == ENOSYS ? child_close_by_walk(s) : -1;
	return 0;
}

/* child_setup_stdio() - install the prepared descriptors as 0, 1 and 2 */
static int child_setup_stdio(struct child_setup *s)
{
	/* move sources out of 0..2 first, so that installing one cannot clobber another */
	for (int i = 0; i < 3; i++)
		if (s->stdio_src[i] >= 0 && s->stdio_src[i] < 3) {
			s->stdio_src[i] = fcntl(s->stdio_src[i], F_DUPFD_CLOEXEC, 3);
			if (s->stdio_src[i] < 0)
				return -1;
		}
	for (int i = 0; i < 3; i++) {
		if (s->stdio_src[i] >= 0) {
			if (dup2(s->stdio_src[i], i) < 0)
				return -1;
		} else if (!(i == 2 && s->stderr_to_stdout)) {
			/* inherited: make sure it survives exec (ignore EBADF: the parent has none) */
			fcntl(i, F_SETFD, 0);
		}
	}
	if (s->stderr_to_stdout && dup2(1, 2) < 0)
		return -1;
	return 0;
}

/*
 * child_reset_signals() - every signal disposition back to SIG_DFL
 *
 * SIG_IGN survives execve(), and glibc's sigaction() refuses its two internal signals (32 and 33, which
 * a parent such as make may have ignored), so those go through the raw rt_sigaction system call, whose
 * struct layout (handler, flags, restorer, mask) is the generic one on x86-64 and arm64.
 */
static void child_reset_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, &dfl, NULL) == 0)
			continue;
#if defined(__x86_64__) || defined(__aarch64__)
		struct {
			void (*handler)(int);
			unsigned long flags;
			void (*restorer)(void);
			uint64_t mask;
		} kernel_dfl = { SIG_DFL, 0, NULL, 0 };

		syscall(SYS_rt_sigaction, sig, &kernel_dfl, NULL, sizeof(kernel_dfl.mask));
#endif
	}
}

/**
 * child_exec() - the child's side of proc_start(); never returns
 * @s:	prepared set-up
 *
 * Own process group, die with the parent, default signal dispositions, stdio, keep the passed fds,
 * close every other one, chdir, empty signal mask, execve().
 */
__attribute__((noreturn)) static void child_exec(struct child_setup *s)
{
	sigset_t empty;

	if (setpgid(0, 0) < 0)
		child_fail(s, CHILD_STEP_SETPGID);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(s, CHILD_STEP_PDEATHSIG);
	if (getppid() != s->parent_pid)	/* the parent died before prctl() */
		_exit(127);
	child_reset_signals();
	if (child_setup_stdio(s) < 0)
		child_fail(s, CHILD_STEP_STDIO);
	for (size_t i = 0; i < s->n_keep; i++)
		if (s->keep[i] != s->report_fd && s->keep[i] >= 3 && fcntl(s->keep[i], F_SETFD, 0) < 0)
			child_fail(s, CHILD_STEP_KEEP_FDS);
	if (child_close_fds(s) < 0)
		child_fail(s, CHILD_STEP_CLOSE_FDS);
	if (s->cwd && chdir(s->cwd) < 0)
		child_fail(s, CHILD_STEP_CHDIR);
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	execve(s->path, s->argv, s->envp);
	child_fail(s, CHILD_STEP_EXEC);
}

/* ---- the parent's side of start ------------------------------------------------------------------ */

/* child_report_error() - turn the child's report into an error message */
static int child_report_error(const struct proc *p, const struct child_setup *s,
			      const struct child_report *r, nl_error_t *err)
{
	switch (r->step) {
	case CHILD_STEP_EXEC:
		return nl_error(err, r->errnum, "start %s: exec %s", p->name, s->path);
	case CHILD_STEP_CHDIR:
		return nl_error(err, r->errnum, "start %s: chdir %s", p->name, s->cwd);
	case CHILD_STEP_STDIO:
		return nl_error(err, r->errnum, "start %s: set up stdin/stdout/stderr", p->name);
	case CHILD_STEP_KEEP_FDS:
		return nl_error(err, r->errnum, "start %s: pass descriptors", p->name);
	case CHILD_STEP_CLOSE_FDS:
		return nl_error(err, r->errnum, "start %s: close inherited descriptors", p->name);
	default:
		return nl_error(err, r->errnum, "start %s: set up process group", p->name);
	}
}

/* read_child_report() - wait for exec or the child's failure report; 1: failed, 0: exec'd, -1: error */
static int read_child_report(int fd, struct child_report *r)
{
	ssize_t n;

	do
		n = read(fd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(*r))
		return 1;
	r->step = CHILD_STEP_EXEC;
	r->errnum = n < 0 ? errno : EPROTO;
	return 1;
}

/* open_pidfd() - pidfd_open(2) of @pid with CLOEXEC (pidfds always are), -1 when unsupported */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	return -1;
#endif
}

/* keep_list() - sorted copy of p->keep_fds plus @report_fd */
static int *keep_list(const struct proc *p, int report_fd, size_t *n)
{
	int *keep = xcalloc(p->n_keep_fds + 1, sizeof(int));

	memcpy(keep, p->keep_fds, p->n_keep_fds * sizeof(int));
	keep[p->n_keep_fds] = report_fd;
	*n = p->n_keep_fds + 1;
	qsort(keep, *n, sizeof(int), cmp_int);
	return keep;
}

/* proc_fork() - fork with every signal blocked; the child runs child_exec(). Returns pid or -1. */
static pid_t proc_fork(struct child_setup *s)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(s);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/**
 * proc_start() - start the child described by @p
 * @p:		process description, see struct proc
 * @err:	error
 *
 * On success the child runs, is registered, and p->pid, p->pidfd and the parent's pipe ends are set.
 * A failure in the child before or at execve() comes back here with the child's errno, e.g.
 * "start qemu: exec /usr/bin/qemu: Permission denied"; a program not found in $PATH is reported without
 * forking.
 * Return: 0 or -1.
 */
int proc_start(struct proc *p, nl_error_t *err)
{
	struct child_setup s = { .cwd = p->cwd, .parent_pid = getpid(), .report_fd = -1 };
	cleanup_free char *path = NULL;
	cleanup_strv char **envp = NULL;
	cleanup_free int *keep = NULL;
	cleanup_close int report_r = -1;
	cleanup_close int report_w = -1;
	const struct proc_io *ios[3] = { &p->stdin_io, &p->stdout_io, &p->stderr_io };
	int child_fds[3] = { -1, -1, -1 }, parent_fds[3] = { -1, -1, -1 };
	struct child_report report;
	int pipe_fds[2], ret = -1;
	pid_t pid;

	if (p->running)
		return nl_error(err, EBUSY, "start %s: already running as pid %d", p->name, (int)p->pid);
	if (!p->argv || !p->argv[0])
		return nl_error(err, EINVAL, "start: empty argv");
	if (!p->name)
		p->name = xstrdup(strrchr(p->argv[0], '/') ? strrchr(p->argv[0], '/') + 1 : p->argv[0]);
	path = resolve_in_path(p->argv[0]);
	if (!path)
		return nl_error(err, ENOENT, "start %s: %s not found in PATH (is it installed?)", p->name,
				p->argv[0]);
	for (int i = 0; i < 3; i++)
		if (open_stream(ios[i], i, p->stdin_src_fd, &child_fds[i], &parent_fds[i], err) < 0)
			goto out;
	if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
		nl_error(err, errno, "start %s: pipe", p->name);
		goto out;
	}
	report_r = pipe_fds[0];
	report_w = pipe_fds[1];
	envp = build_envp(p->env);
	keep = keep_list(p, report_w, &s.n_keep);
	s.path = path;
	s.argv = p->argv;
	s.envp = envp;
	s.keep = keep;
	s.report_fd = report_w;
	s.max_fd = max_open_fd();
	s.stderr_to_stdout = p->stderr_io.mode == PROC_IO_STDOUT;
	memcpy(s.stdio_src, child_fds, sizeof(child_fds));

	pid = proc_fork(&s);
	if (pid < 0) {
		nl_error(err, errno, "start %s: fork", p->name);
		goto out;
	}
	setpgid(pid, pid);	/* also in the parent, so that killing the group works right away */
	close_fd(&report_w);
	if (read_child_report(report_r, &report)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		child_report_error(p, &s, &report, err);
		goto out;
	}
	p->pid = pid;
	p->pidfd = open_pidfd(pid);
	p->running = true;
	p->reaped = false;
	p->timed_out = false;
	p->exit_status = p->term_signal = 0;
	close_fd(&p->stdin_fd);	/* left from an earlier run of the same struct */
	close_fd(&p->stdout_fd);
	close_fd(&p->stderr_fd);
	p->stdin_fd = parent_fds[0];
	p->stdout_fd = parent_fds[1];
	p->stderr_fd = parent_fds[2];
	parent_fds[0] = parent_fds[1] = parent_fds[2] = -1;
	registry_add(p);
	ret = 0;
out:
	for (int i = 0; i < 3; i++) {
		close_fd(&child_fds[i]);
		close_fd(&parent_fds[i]);
	}
	return ret;
}

/* ---- waiting and killing ------------------------------------------------------------------------- */

/* sleep_ms() - nanosleep for @ms milliseconds */
static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* proc_has_exited() - whether the child is a zombie now, without reaping it */
static bool proc_has_exited(const struct proc *p)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;	/* reaped behind our back: nothing to wait for */
	return info.si_pid != 0;
}

/**
 * proc_wait_exit() - wait until the child has exited, without reaping it
 * @p:		running child
 * @timeout_ms:	at most this long; < 0: forever
 *
 * Return: true when it has exited, false on timeout.
 */
static bool proc_wait_exit(const struct proc *p, int timeout_ms)
{
	uint64_t deadline = now_ms() + (timeout_ms > 0 ? (uint64_t)timeout_ms : 0);

	for (;;) {
		uint64_t now = now_ms();
		int remaining = timeout_ms < 0 ? -1 : now >= deadline ? 0 : (int)(deadline - now);

		if (proc_has_exited(p))
			return true;
		if (remaining == 0)
			return false;
		if (p->pidfd >= 0) {
			struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

			if (poll(&pfd, 1, remaining) < 0 && errno != EINTR)
				sleep_ms(10);
		} else
			sleep_ms(remaining < 0 || remaining > 10 ? 10 : (unsigned)remaining);
	}
}

/* proc_reap() - collect the exited child's status and take it off the registry */
static void proc_reap(struct proc *p)
{
	int status = 0;
	pid_t r;

	do
		r = waitpid(p->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r == p->pid && WIFSIGNALED(status))
		p->term_signal = WTERMSIG(status);
	else if (r == p->pid && WIFEXITED(status))
		p->exit_status = WEXITSTATUS(status);
	else
		p->exit_status = 255;	/* reaped by someone else: status unknown */
	p->running = false;
	p->reaped = true;
	close_fd(&p->pidfd);
	registry_del(p);
}

/* proc_terminate() - SIGTERM the group, wait up to the grace period, SIGKILL the group, reap */
static void proc_terminate(struct proc *p)
{
	kill(-p->pid, SIGTERM);
	proc_wait_exit(p, (int)(p->grace_ms ? p->grace_ms : PROC_GRACE_MS_DEFAULT));
	kill(-p->pid, SIGKILL);
	proc_reap(p);
}

int proc_signal(struct proc *p, int sig)
{
	if (!p->running) {
		errno = ESRCH;
		return -1;
	}
	return kill(-p->pid, sig);
}

void proc_kill(struct proc *p)
{
	if (p->running)
		proc_terminate(p);
}

/**
 * proc_status_message() - describe how the child ended
 * @p:	reaped child
 *
 * Return: e.g. "qemu-system-x86_64 exited with status 1" or
 * "qemu-system-x86_64 killed by signal 9 (SIGKILL) after timeout 5000 ms"; free it.
 */
char *proc_status_message(const struct proc *p)
{
	cleanup_free char *after = NULL;
	const char *name = p->name ? p->name : "child";

	if (!p->reaped)
		return xasprintf("%s is %s", name, p->running ? "still running" : "not started");
	after = p->timed_out ? xasprintf(" after timeout %d ms", p->timeout_ms) : xstrdup("");
	if (p->term_signal) {
		const char *abbrev = sigabbrev_np(p->term_signal);

		return xasprintf("%s killed by signal %d (SIG%s)%s", name, p->term_signal,
				 abbrev ? abbrev : "?", after);
	}
	return xasprintf("%s exited with status %d%s", name, p->exit_status, after);
}

/**
 * proc_wait_internal() - proc_wait() with the timeout to report kept apart from the time left
 * @p:		child
 * @left_ms:	time left to wait (< 0: forever)
 * @timeout_ms:	the caller's timeout, for the message
 * @err:	error
 */
static int proc_wait_internal(struct proc *p, int left_ms, int timeout_ms, nl_error_t *err)
{
	cleanup_free char *msg = NULL;

	if (!p->running && !p->reaped)
		return nl_error(err, ECHILD, "wait %s: not started", p->name ? p->name : "child");
	if (p->running) {
		if (proc_wait_exit(p, left_ms)) {
			kill(-p->pid, SIGKILL);	/* whatever the leader left behind in its group */
			proc_reap(p);
		} else {
			p->timed_out = true;
			p->timeout_ms = timeout_ms;
			proc_terminate(p);
		}
	}
	if (!p->timed_out && !p->term_signal && p->exit_status == 0)
		return 0;
	msg = proc_status_message(p);
	nl_error(err, 0, "%s", msg);
	if (p->timed_out)
		(*err)->errnum = ETIMEDOUT;	/* for callers; the message already says "after timeout" */
	return -1;
}

/**
 * proc_wait() - wait for the child, killing its group on timeout; see proc.h
 * @p:		started child (or one already reaped, whose status is reported again)
 * @timeout_ms:	at most this long; < 0: forever
 * @err:	error: the status message, with ETIMEDOUT after a timeout
 *
 * Return: 0 when the child exited with status 0 in time, -1 otherwise.
 */
int proc_wait(struct proc *p, int timeout_ms, nl_error_t *err)
{
	return proc_wait_internal(p, timeout_ms, timeout_ms, err);
}

/* capture_read() - read what is available on @fd into @out (up to the cap); 0: EOF, 1: more, -1: error */
static int capture_read(int fd, struct strbuf *out, size_t *dropped)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (n == 0)
		return 0;
	if (out->len < PROC_RUN_OUTPUT_MAX_BYTES) {
		size_t room = PROC_RUN_OUTPUT_MAX_BYTES - out->len;
		size_t take = (size_t)n < room ? (size_t)n : room;

		strbuf_add(out, buf, take);
		*dropped += (size_t)n - take;
	} else
		*dropped += (size_t)n;
	return 1;
}

/**
 * proc_capture() - read the child's stdout until EOF, its exit, or @timeout_ms
 * @p:		started child with stdout_fd
 * @timeout_ms:	overall limit (< 0: none)
 * @out:	output
 * @dropped:	bytes beyond PROC_RUN_OUTPUT_MAX_BYTES
 *
 * When the child exits (its pidfd becomes readable), what it left in its group is killed by
 * proc_wait_internal(), so the remaining output is drained until EOF without waiting for grandchildren.
 * Return: the milliseconds left of @timeout_ms (-1 for none), 0 when it expired.
 */
static int proc_capture(struct proc *p, int timeout_ms, struct strbuf *out, size_t *dropped)
{
	uint64_t deadline = now_ms() + (timeout_ms > 0 ? (uint64_t)timeout_ms : 0);

	for (;;) {
		struct pollfd pfds[2] = { { .fd = p->stdout_fd, .events = POLLIN },
					  { .fd = p->pidfd, .events = POLLIN } };
		uint64_t now = now_ms();
		int left = timeout_ms < 0 ? -1 : now >= deadline ? 0 : (int)(deadline - now);
		int n;

		if (left == 0)
			return 0;
		n = poll(pfds, p->pidfd >= 0 ? 2 : 1, left);
		if (n < 0 && errno != EINTR)
			return left;
		if (n > 0 && pfds[0].revents && capture_read(p->stdout_fd, out, dropped) <= 0)
			return left;
		if (n > 0 && pfds[1].revents)
			return left;	/* exited: the rest is drained once its group is gone */
	}
}

/**
 * proc_run() - run a command to completion and capture its output
 * @argv:	command, argv[0] looked up in $PATH
 * @timeout_ms:	limit (< 0: none); on expiry the group is terminated as in proc_wait()
 * @output:	set to stdout and stderr interleaved, NUL-terminated; always set, free it
 * @err:	error: start failure or proc_wait()'s status message
 *
 * Return: 0 when the command exited with status 0 in time, -1 otherwise.
 */
int proc_run(char *const *argv, int timeout_ms, char **output, nl_error_t *err)
{
	cleanup_proc struct proc p;
	struct strbuf out = STRBUF_INIT;
	size_t dropped = 0;
	int left, ret;

	*output = NULL;
	proc_init(&p);
	for (size_t i = 0; argv && argv[i]; i++)
		strv_push(&p.argv, argv[i]);
	p.stdin_io.mode = PROC_IO_NULL;
	p.stdout_io.mode = PROC_IO_PIPE;
	p.stderr_io.mode = PROC_IO_STDOUT;
	if (proc_start(&p, err) < 0) {
		*output = xstrdup("");
		return -1;
	}
	left = proc_capture(&p, timeout_ms, &out, &dropped);
	ret = proc_wait_internal(&p, left, timeout_ms, err);
	/* the group is gone now: drain what is left in the pipe, briefly */
	for (uint64_t until = now_ms() + 1000; now_ms() < until;) {
		struct pollfd pfd = { .fd = p.stdout_fd, .events = POLLIN };

		if (poll(&pfd, 1, 100) <= 0 || capture_read(p.stdout_fd, &out, &dropped) <= 0)
			break;
	}
	if (dropped)
		strbuf_printf(&out, "\n[nestlab: output truncated, %zu more bytes dropped]\n", dropped);
	*output = strbuf_detach(&out);
	return ret;
}

/**
 * proc_registry_kill_all() - stop every child that was started and not reaped yet
 *
 * SIGTERM to every group at once, one shared grace period of PROC_GRACE_MS_DEFAULT, SIGKILL to every
 * group still there, then every child is reaped and taken off the registry.
 * Return: the number of children that were still registered.
 */
size_t proc_registry_kill_all(void)
{
	uint64_t deadline = now_ms() + PROC_GRACE_MS_DEFAULT;
	size_t n = 0;

	for (struct proc *p = registry_head; p; p = p->reg_next) {
		kill(-p->pid, SIGTERM);
		n++;
	}
	for (struct proc *p = registry_head; p; p = p->reg_next) {
		uint64_t now = now_ms();

		proc_wait_exit(p, now >= deadline ? 0 : (int)(deadline - now));
	}
	while (registry_head) {
		struct proc *p = registry_head;

		kill(-p->pid, SIGKILL);
		proc_reap(p);
	}
	return n;
}
