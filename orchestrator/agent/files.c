/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * files.c - READ_FILE and the watched log files that stream as LOG frames
 *
 * READ_FILE targets sysfs, debugfs, tracefs and procfs, whose files report a size of 0 or 4096 whatever
 * they hold, so the agent never trusts st_size: it reads in a loop until end of file, the requested
 * maximum, or a read that would block (trace_pipe; files are opened O_NONBLOCK so one cannot hang the
 * agent). An offset is applied with lseek(), or by reading and dropping bytes where seeking fails.
 *
 * A watch (--watch NAME=PATH) streams a file line by line: /dev/kmsg (one record per read(); EPIPE means
 * records were overwritten, Documentation/ABI/testing/dev-kmsg), trace_pipe, a FIFO through epoll, or a
 * regular file re-read every AGENT_WATCH_POLL_MS because epoll refuses regular files (EPERM).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define SKIP_MAX_BYTES (16u << 20)	/* an offset reached by reading, not seeking, is capped */
#define WATCH_READ_BYTES 8192		/* /dev/kmsg refuses reads shorter than a record */
#define WATCH_READS_PER_EVENT 64

/* clock_boottime_ms() - milliseconds since the guest booted, including suspend */
uint64_t clock_boottime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* skip_to() - move @fd to @offset, by lseek or by reading; returns 0 or -1 with @err set */
static int skip_to(int fd, const char *path, uint64_t offset, nl_error_t *err)
{
	char buf[8192];
	uint64_t left = offset;

	if (offset > (uint64_t)INT64_MAX)
		return nl_error(err, EINVAL, "read %s at offset %llu", path, (unsigned long long)offset);
	if (lseek(fd, (off_t)offset, SEEK_SET) == (off_t)offset)
		return 0;
	if (errno != ESPIPE && errno != EINVAL)
		return nl_error(err, errno, "seek %s to %llu", path, (unsigned long long)offset);
	if (offset > SKIP_MAX_BYTES)
		return nl_error(err, ESPIPE, "%s cannot seek and offset %llu is above %u", path,
				(unsigned long long)offset, SKIP_MAX_BYTES);
	while (left) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "read %s", path);
		if (n == 0)
			break;
		left -= (uint64_t)n;
	}
	return 0;
}

/*
 * read_loop() - read up to @max bytes into @buf; *@eof says whether end of file was reached.
 * Returns bytes read or -1 with @err set.
 */
static ssize_t read_loop(int fd, const char *path, uint8_t *buf, size_t max, bool *eof,
			 nl_error_t *err)
{
	size_t got = 0;

	*eof = false;
	while (got < max) {
		ssize_t n = read(fd, buf + got, max - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return nl_error(err, errno, "read %s", path);
		if (n == 0) {
			*eof = true;
			break;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/**
 * files_read() - answer READ_FILE with FILE_DATA
 * @a:		agent
 * @msg:	decoded READ_FILE
 * @err:	error
 *
 * Return: 0 (FILE_DATA sent), or -AGENT_ERR_IO / -AGENT_ERR_INVALID with @err set
 */
int files_read(struct agent *a, const struct agent_msg *msg, nl_error_t *err)
{
	const struct agent_read_file *rf = &msg->u.read_file;
	struct agent_msg reply = { .type = AGENT_MSG_FILE_DATA, .request_id = msg->request_id };
	size_t max = rf->max_bytes && rf->max_bytes < AGENT_MAX_DATA_BYTES ? (size_t)rf->max_bytes :
									      AGENT_MAX_DATA_BYTES;
	cleanup_free uint8_t *buf = NULL;
	cleanup_close int fd = -1;
	bool eof;
	ssize_t n;

	if (!rf->path[0]) {
		nl_error(err, 0, "READ_FILE needs a path");
		return -AGENT_ERR_INVALID;
	}
	fd = open(rf->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		nl_error(err, errno, "open %s", rf->path);
		return -AGENT_ERR_IO;
	}
	if (rf->offset && skip_to(fd, rf->path, rf->offset, err) < 0)
		return -AGENT_ERR_IO;
	buf = xmalloc(max);
	n = read_loop(fd, rf->path, buf, max, &eof, err);
	if (n < 0)
		return -AGENT_ERR_IO;
	reply.u.file_data.offset = rf->offset;
	reply.u.file_data.data.data = buf;
	reply.u.file_data.data.len = (size_t)n;
	reply.u.file_data.eof = eof;
	agent_send(a, &reply);
	return 0;
}

/**
 * watch_add() - remember a --watch NAME=PATH option (opened later by watch_start_all())
 * @a:		agent
 * @spec:	"kmsg=/dev/kmsg"
 * @err:	error
 *
 * Return: 0 or -1 when @spec is not NAME=PATH
 */
int watch_add(struct agent *a, const char *spec, nl_error_t *err)
{
	const char *eq = strchr(spec, '=');
	struct watch *w;

	if (!eq || eq == spec || !eq[1])
		return nl_error(err, 0, "--watch %s: expected NAME=PATH, e.g. kmsg=/dev/kmsg", spec);
	a->watches = xrealloc(a->watches, (a->n_watches + 1) * sizeof(*a->watches));
	w = &a->watches[a->n_watches++];
	memset(w, 0, sizeof(*w));
	w->source = xstrndup(spec, (size_t)(eq - spec));
	w->path = xstrdup(eq + 1);
	w->fd = -1;
	return 0;
}

/* watch_emit() - one LOG frame; NUL bytes (which a string cannot carry) become '?' */
static void watch_emit(struct agent *a, struct watch *w, char *text, size_t len)
{
	struct agent_msg msg = { .type = AGENT_MSG_LOG };
	cleanup_free char *line = xstrndup(text, len);

	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			line[i] = '?';
	line[len] = '\0';
	msg.u.log.source = w->source;
	msg.u.log.text = line;
	msg.u.log.time_ms = clock_boottime_ms();
	agent_send(a, &msg);
}

/* watch_consume() - split new bytes into lines, emitting each complete (or overlong) one */
static void watch_consume(struct agent *a, struct watch *w, const char *data, size_t len)
{
	strbuf_add(&w->partial, data, len);
	for (;;) {
		char *nl = memchr(w->partial.str, '\n', w->partial.len);
		size_t line_len = nl ? (size_t)(nl - w->partial.str) : w->partial.len;
		size_t used;

		if (!nl && w->partial.len < AGENT_WATCH_LINE_MAX)
			return;
		if (line_len > AGENT_WATCH_LINE_MAX)
			line_len = AGENT_WATCH_LINE_MAX;
		watch_emit(a, w, w->partial.str, line_len);
		used = nl && line_len == (size_t)(nl - w->partial.str) ? line_len + 1 : line_len;
		memmove(w->partial.str, w->partial.str + used, w->partial.len - used + 1);
		w->partial.len -= used;
	}
}

static void watch_close(struct agent *a, struct watch *w)
{
	if (w->fd < 0)
		return;
	if (!w->polled)
		agent_epoll_set(a, EPOLL_CTL_DEL, w->fd, 0, 0);
	close(w->fd);
	w->fd = -1;
}

/* watch_read() - read what a watched file has now */
static void watch_read(struct agent *a, struct watch *w)
{
	char buf[WATCH_READ_BYTES];

	for (int i = 0; i < WATCH_READS_PER_EVENT && w->fd >= 0; i++) {
		ssize_t n = read(w->fd, buf, sizeof(buf));

		if (n > 0) {
			watch_consume(a, w, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			agent_diag(a, "watch %s: some records were overwritten before they were read",
				   w->source);
			continue;
		}
		if ((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) || (n == 0 && w->polled))
			return;
		if (n < 0)
			agent_diag(a, "watch %s: read %s: %s; no longer watched", w->source, w->path,
				   strerror(errno));
		watch_close(a, w);
	}
}

/* watch_start_all() - open every watch; one that cannot be opened is reported and skipped */
void watch_start_all(struct agent *a)
{
	for (size_t i = 0; i < a->n_watches; i++) {
		struct watch *w = &a->watches[i];

		struct stat st;
		/* a FIFO reads as end of file while no writer has it open: hold one ourselves */
		int mode = stat(w->path, &st) == 0 && S_ISFIFO(st.st_mode) ? O_RDWR : O_RDONLY;

		w->fd = open(w->path, mode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (w->fd < 0) {
			agent_diag(a, "watch %s: open %s: %s; not watched", w->source, w->path,
				   strerror(errno));
			continue;
		}
		if (agent_epoll_set(a, EPOLL_CTL_ADD, w->fd, EPOLLIN, EV_REF(EV_WATCH, i)) < 0) {
			if (errno != EPERM) {
				agent_diag(a, "watch %s: epoll: %s; not watched", w->source, strerror(errno));
				close(w->fd);
				w->fd = -1;
				continue;
			}
			w->polled = true;
		}
		watch_read(a, w);
	}
	a->next_watch_poll_ms = now_ms() + AGENT_WATCH_POLL_MS;
}

/* watch_handle_event() - an epoll-watched file is readable */
void watch_handle_event(struct agent *a, size_t index)
{
	if (index < a->n_watches)
		watch_read(a, &a->watches[index]);
}

/* watch_tick() - re-read the polled (regular) files */
void watch_tick(struct agent *a, uint64_t now)
{
	if (now < a->next_watch_poll_ms)
		return;
	a->next_watch_poll_ms = now + AGENT_WATCH_POLL_MS;
	for (size_t i = 0; i < a->n_watches; i++) {
		if (a->watches[i].polled)
			watch_read(a, &a->watches[i]);
	}
}

/* watch_release_all() - close and free every watch */
void watch_release_all(struct agent *a)
{
	for (size_t i = 0; i < a->n_watches; i++) {
		watch_close(a, &a->watches[i]);
		free(a->watches[i].source);
		free(a->watches[i].path);
		strbuf_release(&a->watches[i].partial);
	}
	free(a->watches);
	a->watches = NULL;
	a->n_watches = 0;
}
