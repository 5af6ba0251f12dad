/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runstate.c - a run's private directory and record of what it started, and the cleaner of the records
 * that runs killed with SIGKILL left behind (runstate.h)
 *
 * Liveness: the run holds flock(LOCK_EX) on RUNDIR/lock; the kernel drops it when the process dies,
 * however it dies, and the descriptor is O_CLOEXEC so no child (QEMU, libvirt's helpers) keeps it. A record
 * counts as abandoned only when that lock can be taken AND its nestlab pid is gone or now has another
 * start time (/proc/PID/stat field 22): a pid reused by another program never makes a run look alive,
 * and a live run never looks abandoned.
 *
 * What belongs to an abandoned run, among the processes of the machine: a process whose recorded pid
 * still has the recorded start time; one whose command line names the run's private directory (QEMU
 * under the embedded libvirt root names its monitor socket and log there); a QEMU (comm "qemu-*")
 * whose command line names the run's domain (guest=nestlab-NAME-ID, unique per run) or its run
 * directory (the raw QEMU backend, libguestfs' appliance on the overlay). They get SIGTERM, then
 * SIGKILL after RUNSTATE_TERM_GRACE_MS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "rundir.h"
#include "runstate.h"

#define RUNSTATE_PREFIX "run-"
#define RUNSTATE_TERM_GRACE_MS 3000
#define RUNSTATE_KILL_WAIT_MS 5000
#define RUNSTATE_YOUNG_S 60	/* a directory without its lock yet may be a run being created */
#define RUNSTATE_MAX_TARGETS 64

/* ---- the base directory ------------------------------------------------------------------------- */

/* base_check() - @path is a directory of ours that nobody else can enter (0700, not a link) */
static int base_check(const char *path, nl_error_t *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return nl_error(err, errno, "state directory %s", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return nl_error(err, EPERM, "state directory %s must be a directory owned by uid %u with mode 0700, "
				"not a link (it is %s, uid %u, mode %04o); hint: remove it, nestlab makes it again",
				path, (unsigned)geteuid(), S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ?
				"a symbolic link" : "not a directory", (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

int runstate_base(char **out, nl_error_t *err)
{
	const char *env = getenv("NESTLAB_STATE_DIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	cleanup_free char *path = NULL;
	cleanup_free char *parent = NULL;
	char *slash;

	if (env && *env)
		path = xstrdup(env);
	else if (geteuid() == 0)
		path = xstrdup("/run/nestlab");
	else if (xdg && *xdg == '/')
		path = xasprintf("%s/nestlab", xdg);
	else {
		cleanup_free char *cache = fs_cache_dir(err);

		if (!cache)
			return -1;
		path = xasprintf("%s/state", cache);
	}
	if (path[0] != '/')
		return nl_error(err, EINVAL, "state directory %s (NESTLAB_STATE_DIR) must be an absolute path", path);
	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (fs_mkdir_p(parent, err) < 0)
			return -1;
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return nl_error(err, errno, "create the state directory %s", path);
	if (base_check(path, err) < 0)
		return -1;
	*out = path;
	path = NULL;
	return 0;
}

/* ---- processes ---------------------------------------------------------------------------------- */

/* pid_stat() - state letter and start time of @pid; false when it is gone */
static bool pid_stat(pid_t pid, char *state, unsigned long long *start)
{
	char path[64];
	cleanup_free char *text = NULL;
	const char *p;
	int field = 3;

	if (pid <= 0 || snprintf_checked(path, sizeof(path), "/proc/%d/stat", (int)pid) < 0)
		return false;
	text = read_file_text(path);
	/* "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses; fields count from the last ')' */
	p = text ? strrchr(text, ')') : NULL;
	if (!p || p[1] != ' ')
		return false;
	p += 2;
	*state = *p;
	while (*p && field < 22) {
		if (*p++ == ' ')
			field++;
	}
	*start = strtoull(p, NULL, 10);
	return true;
}

unsigned long long runstate_pid_start(pid_t pid)
{
	unsigned long long start = 0;
	char state;

	return pid_stat(pid, &state, &start) ? start : 0;
}

/* pid_alive() - @pid exists, is not a zombie, and (when @start is not 0) started at @start */
static bool pid_alive(pid_t pid, unsigned long long start)
{
	unsigned long long now_start = 0;
	char state = 0;

	if (!pid_stat(pid, &state, &now_start) || state == 'Z' || state == 'X')
		return false;
	return !start || now_start == start;
}

/* pid_text() - /proc/@pid/@file (cmdline: NULs as spaces), or NULL; caller frees */
static char *pid_text(pid_t pid, const char *file)
{
	char path[64], buf[8192];
	cleanup_close int fd = -1;
	ssize_t len;

	if (snprintf_checked(path, sizeof(path), "/proc/%d/%s", (int)pid, file) < 0)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	len = read(fd, buf, sizeof(buf) - 1);
	if (len <= 0)
		return NULL;
	for (ssize_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\n'))
		len--;
	buf[len] = '\0';
	return xstrdup(buf);
}

/* ---- the record --------------------------------------------------------------------------------- */

/* record_write() - the record to DIR/state (DIR/state.tmp, then rename: never half written) */
static int record_write(struct runstate *rs, nl_error_t *err)
{
	cleanup_strbuf struct strbuf sb = STRBUF_INIT;
	cleanup_free char *tmp = xasprintf("%s/state.tmp", rs->dir);
	cleanup_free char *path = xasprintf("%s/state", rs->dir);
	cleanup_close int fd = -1;

	for (size_t i = 0; rs->record && rs->record[i]; i++)
		strbuf_printf(&sb, "%s\n", rs->record[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, sb.str ? sb.str : "", sb.len) != (ssize_t)sb.len || rename(tmp, path) < 0)
		return nl_error(err, errno, "write the run's record %s", path);
	return 0;
}

int runstate_set(struct runstate *rs, const char *key, const char *value, nl_error_t *err)
{
	if (!rs->dir)
		return 0;
	strv_pushf(&rs->record, "%s %s", key, value);
	return record_write(rs, err);
}

int runstate_set_pid(struct runstate *rs, const char *what, pid_t pid, nl_error_t *err)
{
	cleanup_free char *value = xasprintf("%d %llu", (int)pid, runstate_pid_start(pid));

	if (pid <= 0)
		return 0;
	return runstate_set(rs, what, value, err);
}

/* record_get() - the value of the first "@key VALUE" line of @record, or NULL (points into @record) */
static const char *record_get(char **record, const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; record && record[i]; i++)
		if (!strncmp(record[i], key, n) && record[i][n] == ' ')
			return record[i] + n + 1;
	return NULL;
}

/* ---- removal ------------------------------------------------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st UNUSED, int type UNUSED, struct FTW *ftw UNUSED)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* remove_tree() - rm -rf @path (links are removed, never followed) */
static int remove_tree(const char *path, nl_error_t *err)
{
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return nl_error(err, errno, "remove %s", path);
	return 0;
}

int runstate_create(struct runstate *rs, const char *run_dir, nl_error_t *err)
{
	cleanup_free char *base = NULL;
	cleanup_free char *lock = NULL;
	cleanup_free char *lock_tmp = NULL;
	cleanup_free char *pid = NULL;

	if (runstate_base(&base, err) < 0)
		return -1;
	rs->dir = xasprintf("%s/" RUNSTATE_PREFIX "XXXXXX", base);
	if (!mkdtemp(rs->dir)) {
		nl_error(err, errno, "create a run directory under %s", base);
		free(rs->dir);
		rs->dir = NULL;
		return -1;
	}
	/* locked under another name first: a cleaner never sees "lock" unlocked while this run lives */
	lock_tmp = xasprintf("%s/lock.tmp", rs->dir);
	lock = xasprintf("%s/lock", rs->dir);
	rs->lock_fd = open(lock_tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (rs->lock_fd < 0 || flock(rs->lock_fd, LOCK_EX | LOCK_NB) < 0 || rename(lock_tmp, lock) < 0)
		return nl_error(err, errno, "lock %s", lock);
	rs->libvirt_root = xasprintf("%s/libvirt", rs->dir);
	pid = xasprintf("%d %llu", (int)getpid(), runstate_pid_start(getpid()));
	if (runstate_set(rs, "nestlab", pid, err) < 0 || runstate_set(rs, "run_dir", run_dir, err) < 0 ||
	    runstate_set(rs, "libvirt_root", rs->libvirt_root, err) < 0)
		return -1;
	return 0;
}

void runstate_remove(struct runstate *rs)
{
	cleanup_error nl_error_t err = NULL;

	if (rs->dir && remove_tree(rs->dir, &err) < 0)
		fprintf(stderr, "nestlab: warning: %s\n", err->msg);
	runstate_release(rs);
}

void runstate_release(struct runstate *rs)
{
	if (rs->lock_fd >= 0)
		close(rs->lock_fd);
	rs->lock_fd = -1;
	free(rs->dir);
	free(rs->libvirt_root);
	strv_free(rs->record);
	*rs = (struct runstate)RUNSTATE_INIT;
}

/* ---- the cleaner -------------------------------------------------------------------------------- */

struct target {
	pid_t pid;
	unsigned long long start;
	char *what;
};

/* targets_add() - @pid (started at @start) once in @t */
static void targets_add(struct target *t, size_t *n, pid_t pid, unsigned long long start, char *what)
{
	for (size_t i = 0; i < *n; i++)
		if (t[i].pid == pid) {
			free(what);
			return;
		}
	if (*n >= RUNSTATE_MAX_TARGETS) {
		free(what);
		return;
	}
	t[(*n)++] = (struct target){ pid, start, what };
}

/* find_targets() - the processes that belong to the abandoned run of @record in private directory @dir */
static void find_targets(char **record, const char *dir, struct target *t, size_t *n)
{
	const char *domain = record_get(record, "domain");
	const char *run_dir = record_get(record, "run_dir");
	/* with their delimiters, so that no other run's longer name matches: -name guest=NAME,... (libvirt),
	 * -name NAME,... (the raw QEMU backend), paths under the directories */
	cleanup_free char *guest = domain ? xasprintf("guest=%s,", domain) : NULL;
	cleanup_free char *name = domain ? xasprintf(" %s,", domain) : NULL;
	cleanup_free char *under_dir = xasprintf("%s/", dir);
	cleanup_free char *under_run = run_dir ? xasprintf("%s/", run_dir) : NULL;
	DIR *proc;
	struct dirent *de;

	/* recorded pids ("qemu PID START", "pid PID START") that still have their start time */
	for (size_t i = 0; record && record[i]; i++) {
		int pid;
		unsigned long long start;
		char what[32];

		if (sscanf(record[i], "%31s %d %llu", what, &pid, &start) == 3 && strcmp(what, "nestlab") &&
		    pid > 0 && start && pid != getpid() && pid_alive(pid, start))
			targets_add(t, n, pid, start, xasprintf("%s (pid %d, recorded)", what, pid));
	}
	proc = opendir("/proc");
	while (proc && (de = readdir(proc))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		cleanup_free char *cmd = NULL;
		cleanup_free char *comm = NULL;
		unsigned long long start = 0;
		char state;

		if (*end || pid <= 0 || pid == getpid() || !pid_stat((pid_t)pid, &state, &start) || state == 'Z')
			continue;
		cmd = pid_text((pid_t)pid, "cmdline");
		if (!cmd)
			continue;
		comm = pid_text((pid_t)pid, "comm");
		if (strstr(cmd, under_dir) ||
		    (comm && !strncmp(comm, "qemu", 4) &&
		     ((guest && strstr(cmd, guest)) || (name && strstr(cmd, name)) || (under_run && strstr(cmd, under_run)))))
			targets_add(t, n, (pid_t)pid, start, xasprintf("%s (pid %d)", comm ? comm : "process", (int)pid));
	}
	if (proc)
		closedir(proc);
}

/* stop_targets() - SIGTERM, grace, SIGKILL; one report line each. Return: how many are still alive */
static size_t stop_targets(struct target *t, size_t n, const char *domain, FILE *report)
{
	uint64_t deadline;
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		(void)kill(t[i].pid, SIGTERM);
	for (int pass = 0; pass < 2; pass++) {
		deadline = now_ms() + (pass ? RUNSTATE_KILL_WAIT_MS : RUNSTATE_TERM_GRACE_MS);
		for (;;) {
			bool any = false;

			for (size_t i = 0; i < n; i++)
				any = any || pid_alive(t[i].pid, t[i].start);
			if (!any || now_ms() >= deadline)
				break;
			{
				struct timespec ts = { 0, 50 * 1000000L };

				nanosleep(&ts, NULL);
			}
		}
		if (pass == 0)
			for (size_t i = 0; i < n; i++)
				if (pid_alive(t[i].pid, t[i].start)) {
					(void)kill(t[i].pid, SIGKILL);
					free(t[i].what);
					t[i].what = xasprintf("%s, SIGKILL after %d s", t[i].what ? t[i].what : "?",
							      RUNSTATE_TERM_GRACE_MS / 1000);
				}
	}
	for (size_t i = 0; i < n; i++) {
		bool alive = pid_alive(t[i].pid, t[i].start);

		fprintf(report, "nestlab clean: %s %s%s%s\n", alive ? "could not stop" : "stopped", t[i].what,
			domain ? " of libvirt domain " : "", domain ? domain : "");
		left += alive;
	}
	return left;
}

/* copy_qemu_log() - L1's QEMU log from the libvirt root into the run directory, when both exist */
static void copy_qemu_log(char **record, FILE *report)
{
	const char *root = record_get(record, "libvirt_root");
	const char *domain = record_get(record, "domain");
	const char *run_dir = record_get(record, "run_dir");
	cleanup_free char *from = NULL;
	cleanup_free char *text = NULL;
	cleanup_error nl_error_t err = NULL;

	if (!root || !domain || !run_dir || access(run_dir, W_OK) != 0)
		return;
	from = xasprintf("%s/log/qemu/%s.log", root, domain);
	text = read_file_text(from);
	if (text && rundir_write_file(run_dir, "l1-qemu.log", text, &err) == 0)
		fprintf(report, "nestlab clean: kept L1's QEMU log as %s/l1-qemu.log\n", run_dir);
}

/*
 * clean_one() - look at the private directory @dir of one run: leave it when the run lives, else stop
 * and remove what its record lists. Return: 1 cleaned, 0 live (or too young to judge), -1 error.
 */
static int clean_one(const char *dir, FILE *report, nl_error_t *err)
{
	cleanup_free char *lock = xasprintf("%s/lock", dir);
	cleanup_free char *state = xasprintf("%s/state", dir);
	cleanup_free char *text = NULL;
	cleanup_strv char **record = NULL;
	cleanup_close int fd = open(lock, O_RDWR | O_CLOEXEC);
	struct target targets[RUNSTATE_MAX_TARGETS];
	size_t n = 0;
	const char *nestlab;
	int pid = 0;
	unsigned long long start = 0;
	struct stat st;

	if (fd < 0) {
		/* a run between mkdtemp() and its lock, or one killed right there (nothing started yet) */
		if (stat(dir, &st) < 0 || time(NULL) - st.st_mtime < RUNSTATE_YOUNG_S)
			return 0;
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		return 0;	/* its nestlab holds the lock: alive */
	}
	text = read_file_text(state);
	for (char *line = text, *next; line && *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (*line)
			strv_push(&record, line);
	}
	nestlab = record_get(record, "nestlab");
	if (nestlab && sscanf(nestlab, "%d %llu", &pid, &start) == 2 && pid_alive(pid, start))
		return 0;	/* no lock but the same process: never touch it */
	fprintf(report, "nestlab clean: %s was left by nestlab pid %d, which is gone; run directory %s\n", dir, pid,
		record_get(record, "run_dir") ? record_get(record, "run_dir") : "(unknown)");
	find_targets(record, dir, targets, &n);
	if (stop_targets(targets, n, record_get(record, "domain"), report)) {
		for (size_t i = 0; i < n; i++)
			free(targets[i].what);
		return nl_error(err, EBUSY, "%s: a process of the abandoned run could not be stopped (listed above); "
				"kill it by hand, then run 'nestlab clean' again", dir);
	}
	for (size_t i = 0; i < n; i++)
		free(targets[i].what);
	copy_qemu_log(record, report);
	for (size_t i = 0; record && record[i]; i++) {
		if (strncmp(record[i], "overlay ", 8))
			continue;
		if (unlink(record[i] + 8) == 0)
			fprintf(report, "nestlab clean: removed the overlay %s\n", record[i] + 8);
	}
	if (remove_tree(dir, err) < 0)
		return -1;
	fprintf(report, "nestlab clean: removed %s%s\n", dir,
		record_get(record, "libvirt_root") ? " and the libvirt root in it" : "");
	return 1;
}

int runstate_clean(FILE *report, size_t *cleaned, size_t *live, nl_error_t *err)
{
	cleanup_free char *base = NULL;
	DIR *d;
	struct dirent *de;
	int ret = 0;

	*cleaned = *live = 0;
	if (runstate_base(&base, err) < 0)
		return -1;
	d = opendir(base);
	if (!d)
		return nl_error(err, errno, "open the state directory %s", base);
	while ((de = readdir(d))) {
		cleanup_free char *dir = NULL;
		cleanup_error nl_error_t one = NULL;
		int r;

		if (strncmp(de->d_name, RUNSTATE_PREFIX, strlen(RUNSTATE_PREFIX)))
			continue;
		dir = xasprintf("%s/%s", base, de->d_name);
		r = clean_one(dir, report, &one);
		if (r > 0)
			(*cleaned)++;
		else if (r == 0)
			(*live)++;
		else if (!*err) {
			*err = one;
			one = NULL;
			ret = -1;
		} else {
			fprintf(report, "nestlab clean: %s\n", one->msg);
		}
	}
	closedir(d);
	return ret;
}
