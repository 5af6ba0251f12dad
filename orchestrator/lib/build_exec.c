/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * build_exec.c - the child processes of a build: output to the log, one progress line, Ctrl-C
 *
 * Every program a build runs (tar, patch, apt-get, configure, ninja, make) goes through
 * build_exec_run(): the proc API starts it with stdout and stderr on one pipe, the build's loop reads
 * the pipe into the log file and counts progress from it, a timer repaints the progress line (in place
 * on a tty, one line every 10 s otherwise), and SIGINT/SIGTERM end the wait, after which the child's
 * process group is killed (proc_release()).
 *
 * Progress comes from the output: ninja prints "[n/N] description" per edge; kbuild prints one
 * "  CC      path" (or LD, AR) line per object, counted against the total of the last build.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"
#include "proc.h"

#define READ_CHUNK 65536
#define TAIL_KEEP_BYTES 8192		/* output kept for the error message */
#define TAIL_LINES 15			/* lines of it shown */

/* ---- progress lines ---------------------------------------------------------------------------- */

bool build_progress_parse_ninja(const char *line, unsigned *done, unsigned *total)
{
	unsigned long n, t;
	char *end;

	if (line[0] != '[' || line[1] < '0' || line[1] > '9')
		return false;
	n = strtoul(line + 1, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return false;
	t = strtoul(end + 1, &end, 10);
	if (*end != ']' || t == 0 || n > t || t > 10000000)
		return false;
	*done = (unsigned)n;
	*total = (unsigned)t;
	return true;
}

bool build_progress_is_kbuild_step(const char *line)
{
	static const char *const tags[] = { "CC", "LD", "AR" };
	size_t spaces = strspn(line, " ");

	if (spaces < 1 || spaces > 4)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(tags); i++)
		if (!strncmp(line + spaces, tags[i], 2) && line[spaces + 2] == ' ' &&
		    line[spaces + 2 + strspn(line + spaces + 2, " ")] != '\0')
			return true;
	return false;
}

char *build_duration_format(uint64_t ms)
{
	uint64_t s = ms / 1000;

	if (s >= 3600)
		return xasprintf("%lluh%02llum%02llus", (unsigned long long)(s / 3600),
				 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
	if (s >= 60)
		return xasprintf("%llum%02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
	return xasprintf("%llus", (unsigned long long)s);
}

char *build_progress_format(const char *name, unsigned done, unsigned total, bool estimated, uint64_t elapsed_ms,
			    uint64_t step_ms)
{
	cleanup_free char *elapsed = build_duration_format(elapsed_ms);
	cleanup_free char *eta = NULL;

	if (!total)
		return xasprintf("[%s] step %u elapsed %s", name, done, elapsed);
	if (estimated && done >= total)
		total = done + done / 50 + 1;	/* past the last build's count: keep the line honest */
	if (done > 0)
		eta = build_duration_format((uint64_t)((double)step_ms * (total - done) / done));
	return xasprintf("[%s] step %u/%s%u (%u%%) elapsed %s eta %s", name, done, estimated ? "~" : "", total,
			 (unsigned)((uint64_t)done * 100 / total), elapsed, eta ? eta : "?");
}

/* ---- the log ----------------------------------------------------------------------------------- */

static void log_write(struct build *b, const char *data, size_t len)
{
	while (b->log_fd >= 0 && len) {
		ssize_t n = write(b->log_fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;	/* a full disk shows up in the build's own errors */
		data += n;
		len -= (size_t)n;
	}
}

void build_log(struct build *b, const char *fmt, ...)
{
	cleanup_free char *text = NULL;
	cleanup_free char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	line = xasprintf("nestlab: %s\n", text);
	log_write(b, line, strlen(line));
}

/* ---- one child --------------------------------------------------------------------------------- */

struct exec_state {
	struct build *b;
	const struct build_exec *x;
	int fd;				/* the pipe */
	loop_id_t pipe_id, timer_id;
	bool eof;
	struct strbuf line;		/* the incomplete last line */
	struct strbuf tail;		/* the last TAIL_KEEP_BYTES or so of output */
	unsigned done, total;		/* progress */
	bool estimated;
	uint64_t step_start_ms;
	bool on_screen;			/* a tty line is showing */
};

static unsigned interval_ms(const struct build *b)
{
	if (b->opts->progress_interval_ms)
		return b->opts->progress_interval_ms;
	return b->opts->progress_tty ? 1000 : 10000;
}

/* show_progress() - the progress line, in place on a tty */
static void show_progress(struct exec_state *st)
{
	struct build *b = st->b;
	FILE *out = b->opts->progress;
	cleanup_free char *text = NULL;
	uint64_t now = now_ms();

	if (!out)
		return;
	if (st->x->progress == BUILD_PROGRESS_NONE) {
		cleanup_free char *elapsed = build_duration_format(now - b->started_ms);

		text = xasprintf("[%s] %s elapsed %s", b->comp->name, st->x->what, elapsed);
	} else {
		text = build_progress_format(b->comp->name, st->done, st->total, st->estimated, now - b->started_ms,
					     now - st->step_start_ms);
	}
	if (b->opts->progress_tty) {
		fprintf(out, "\r%s\033[K", text);
		st->on_screen = true;
	} else {
		fprintf(out, "%s\n", text);
	}
	fflush(out);
}

/* take_line() - one complete output line: progress counting */
static void take_line(struct exec_state *st, const char *line)
{
	unsigned done, total;

	if (st->x->progress == BUILD_PROGRESS_NINJA && build_progress_parse_ninja(line, &done, &total)) {
		st->done = done;
		st->total = total;
		st->b->progress_steps = total;
	} else if (st->x->progress == BUILD_PROGRESS_KBUILD && build_progress_is_kbuild_step(line)) {
		st->done++;
		st->b->progress_steps = st->done;
	}
}

static void take_output(struct exec_state *st, const char *data, size_t len)
{
	log_write(st->b, data, len);
	if (st->x->capture)
		strbuf_add(st->x->capture, data, len);
	strbuf_add(&st->tail, data, len);
	if (st->tail.len > 2 * TAIL_KEEP_BYTES) {
		memmove(st->tail.str, st->tail.str + st->tail.len - TAIL_KEEP_BYTES, TAIL_KEEP_BYTES + 1);
		st->tail.len = TAIL_KEEP_BYTES;
	}
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n' && data[i] != '\r') {
			strbuf_add(&st->line, data + i, 1);
			continue;
		}
		if (st->line.len)
			take_line(st, st->line.str);
		st->line.len = 0;
		if (st->line.str)
			st->line.str[0] = '\0';
	}
}

static int on_output(struct loop *loop, const struct loop_event *ev, nl_error_t *err UNUSED)
{
	struct exec_state *st = ev->opaque;
	char buf[READ_CHUNK];
	ssize_t n = read(st->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {	/* EOF (or EIO): the child and its group closed the pipe */
		st->eof = true;
		loop_remove(loop, st->pipe_id);
		st->pipe_id = 0;
		return 0;
	}
	take_output(st, buf, (size_t)n);
	return 0;
}

static int on_tick(struct loop *loop, const struct loop_event *ev, nl_error_t *err)
{
	struct exec_state *st = ev->opaque;

	show_progress(st);
	st->timer_id = loop_add_timer(loop, interval_ms(st->b), on_tick, st, "build progress", err);
	return st->timer_id ? 0 : -1;
}

static bool exec_done(void *opaque)
{
	return ((struct exec_state *)opaque)->eof;
}

/* tail_text() - the last TAIL_LINES lines of output, indented, for an error message */
static char *tail_text(const struct strbuf *tail)
{
	const char *start;
	unsigned lines = 0;

	if (!tail->len)
		return xstrdup("");
	start = tail->str + tail->len;
	while (start > tail->str) {
		if (start[-1] == '\n' && start != tail->str + tail->len && ++lines >= TAIL_LINES)
			break;
		start--;
	}
	{
		struct strbuf sb = STRBUF_INIT;

		strbuf_puts(&sb, "; last lines of its output:\n");
		for (const char *p = start; *p;) {
			size_t n = strcspn(p, "\n");

			strbuf_puts(&sb, "    ");
			strbuf_add(&sb, p, n);
			strbuf_puts(&sb, "\n");
			p += n + (p[n] == '\n');
		}
		sb.str[--sb.len] = '\0';	/* no trailing newline */
		return strbuf_detach(&sb);
	}
}

/* exec_start() - the child, its pipe in the loop and the progress timer */
static int exec_start(struct exec_state *st, struct proc *p, nl_error_t *err)
{
	struct build *b = st->b;
	const struct build_exec *x = st->x;

	for (size_t i = 0; x->argv[i]; i++)
		strv_push(&p->argv, x->argv[i]);
	for (size_t i = 0; x->env && x->env[i]; i++)
		strv_push(&p->env, x->env[i]);
	p->cwd = x->cwd;
	p->stdin_io.mode = PROC_IO_NULL;
	p->stdout_io.mode = PROC_IO_PIPE;
	p->stderr_io.mode = PROC_IO_STDOUT;
	p->grace_ms = 5000;
	if (proc_start(p, err) < 0)
		return -1;
	st->fd = p->stdout_fd;
	st->pipe_id = loop_add_fd(&b->loop, LOOP_KIND_CHILD_PIPE, st->fd, EPOLLIN, on_output, st, x->what, err);
	if (!st->pipe_id)
		return -1;
	if (b->opts->progress) {
		st->timer_id = loop_add_timer(&b->loop, b->opts->progress_tty ? 200 : interval_ms(b), on_tick, st,
					      "build progress", err);
		if (!st->timer_id)
			return -1;
	}
	return 0;
}

/* exec_log_header() - "$ argv (in cwd)" in the log */
static void exec_log_header(struct build *b, const struct build_exec *x)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; x->env && x->env[i]; i++)
		strbuf_printf(&sb, "%s ", x->env[i]);
	for (size_t i = 0; x->argv[i]; i++)
		strbuf_printf(&sb, "%s%s", i ? " " : "", x->argv[i]);
	build_log(b, "[%s] $ %s%s%s%s", x->what, sb.str, x->cwd ? " (in " : "", x->cwd ? x->cwd : "",
		  x->cwd ? ")" : "");
	strbuf_release(&sb);
}

int build_exec_run(struct build *b, const struct build_exec *x, nl_error_t *err)
{
	struct exec_state st = { .b = b, .x = x, .fd = -1, .step_start_ms = now_ms() };
	cleanup_proc struct proc p = PROC_INIT;
	int ret = -1;

	if (x->progress == BUILD_PROGRESS_KBUILD) {
		st.total = b->progress_last_total ? b->progress_last_total : b->comp->progress_estimate;
		st.estimated = true;
	}
	exec_log_header(b, x);
	if (exec_start(&st, &p, err) < 0)
		goto out;
	if (loop_run_until(&b->loop, exec_done, &st, b->opts->step_timeout_ms, err) < 0) {
		if ((*err)->errnum == EINTR)
			build_log(b, "[%s] interrupted: stopping %s", x->what, x->argv[0]);
		goto out;	/* proc_release() kills the group */
	}
	if (st.line.len)
		take_line(&st, st.line.str);
	if (proc_wait(&p, 30000, err) < 0) {
		cleanup_free char *tail = tail_text(&st.tail);
		char *msg = xasprintf("%s%s", (*err)->msg, tail);

		free((*err)->msg);
		(*err)->msg = msg;
		goto out;
	}
	ret = 0;
out:
	if (st.timer_id)
		loop_remove(&b->loop, st.timer_id);
	if (st.pipe_id)
		loop_remove(&b->loop, st.pipe_id);
	if (st.on_screen) {
		fprintf(b->opts->progress, "\r\033[K");
		fflush(b->opts->progress);
	}
	if (ret < 0 && *err)
		build_log(b, "[%s] %s", x->what, (*err)->msg);
	strbuf_release(&st.line);
	strbuf_release(&st.tail);
	return ret;
}
