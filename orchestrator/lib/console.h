/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * console.h - a guest's serial console: connect, log, wait for markers, type
 *
 * QEMU exposes each serial port as a unix socket in the run directory (`-chardev socket,...,server=on,
 * wait=off` from plan_qemu.c, `<serial type='unix'><source mode='bind'>` from plan_libvirt.c). A console
 * connects to it (retrying until QEMU has created it, bounded), reads it continuously through the
 * supervisor loop, and writes
 *   - a raw log: every byte as received;
 *   - a timestamped log: cleaned lines "[  12.345] text", seconds since the console's time origin;
 * and keeps a bounded window of cleaned text in which console_wait_for() looks for markers.
 *
 *	cleanup_console struct console con = CONSOLE_INIT;
 *	struct console_config cfg = { .name = "L1 console", .sock_path = plan->l1_console_sock,
 *				      .raw_log = "RUN/l1-console.raw", .ts_log = "RUN/l1-console.ts.log" };
 *
 *	if (console_open(&con, &loop, &cfg, err) < 0)
 *		return -1;
 *	if (console_wait_for(&con, "L1-READY", plan->timeouts.l1_boot_ms, err) < 0)
 *		return -1;	// "L1 console: 'L1-READY' did not appear within 60000 ms; last output: ...;
 *				//  see RUN/l1-console.ts.log"
 *
 * Cleaning: ANSI/VT100 escape sequences (CSI "ESC [ ... final", OSC "ESC ] ... BEL|ESC \", two-byte
 * "ESC x" and "ESC ( x") are removed; CR LF, LF, CR CR LF end one line; a lone CR ends a line too; other
 * control bytes and NUL are dropped; bytes >= 0x80 (UTF-8) are kept. A guest is untrusted: whatever it
 * prints (binary, endless escape sequences, a flood without newlines) is handled within fixed bounds:
 * CONSOLE_WINDOW_BYTES of text for matching, CONSOLE_LINE_MAX_BYTES per logged line, and a size cap on
 * each log.
 *
 * Matching: each console has a cursor. console_wait_for() searches the text after the cursor (text that
 * arrived before the call counts, so a marker printed early is not missed) and moves the cursor past the
 * match, so the same marker is not found twice. Patterns match within one line, complete or not (a prompt
 * without newline matches). When the window overflows, the oldest text is dropped (counted).
 */
#ifndef NESTLAB_CONSOLE_H
#define NESTLAB_CONSOLE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "loop.h"
#include "proc.h"

#define CONSOLE_WINDOW_BYTES (256u << 10)	/* cleaned text kept for matching */
#define CONSOLE_LINE_MAX_BYTES 4096		/* a longer line is broken in the timestamped log */
#define CONSOLE_LOG_MAX_BYTES_DEFAULT (256ull << 20)	/* each log stops growing here (a note says so) */
#define CONSOLE_CONNECT_TIMEOUT_MS_DEFAULT 10000
#define CONSOLE_READ_CHUNK_BYTES 65536
#define CONSOLE_ESCAPE_MAX_BYTES 256		/* a longer escape sequence is abandoned, text resumes */
#define CONSOLE_TAIL_LINES 8			/* lines of output quoted in a timeout message */

struct console_config {
	const char *name;		/* for messages: "L1 console" */
	const char *sock_path;		/* the chardev's unix socket */
	const char *raw_log;		/* every byte received, or NULL */
	const char *ts_log;		/* cleaned, timestamped lines, or NULL */
	uint64_t t0_ms;			/* now_ms() value the timestamps count from; 0: console_open()'s time */
	int connect_timeout_ms;		/* how long the socket may take to appear; 0: the default */
	uint64_t log_max_bytes;		/* cap of each log; 0: CONSOLE_LOG_MAX_BYTES_DEFAULT */
};

enum console_escape_state { CONSOLE_ESC_NONE = 0, CONSOLE_ESC_ESC, CONSOLE_ESC_INTER, CONSOLE_ESC_CSI,
			    CONSOLE_ESC_OSC, CONSOLE_ESC_OSC_ESC };

/* a log file with a size cap */
struct console_log {
	FILE *f;
	char *path;
	uint64_t bytes, max_bytes;
	bool capped;
};

struct console {
	char *name;
	char *sock_path;
	int fd;
	struct loop *loop;
	loop_id_t id;
	uint64_t t0_ms;
	struct console_log raw, ts;

	/* decoder */
	enum console_escape_state esc;
	size_t esc_len;
	bool pending_cr;
	char line[CONSOLE_LINE_MAX_BYTES];	/* current line, for the timestamped log */
	size_t line_len;
	uint64_t line_start_ms;
	bool line_open;				/* a line has begun (its timestamp is taken) */

	/* matching */
	char *window;				/* cleaned text, NUL-terminated, at most CONSOLE_WINDOW_BYTES */
	size_t window_len;
	size_t cursor;				/* searches start here */
	size_t scanned;				/* text before this was searched for the current pattern */

	/* counters */
	uint64_t bytes_read, lines, window_dropped_bytes, escapes_removed;
	bool eof;				/* the socket closed (QEMU exited or closed the chardev) */
	char *eof_reason;
};

#define CONSOLE_INIT { .fd = -1 }

/*
 * console_open() - connect to cfg->sock_path, retrying while it does not exist or refuses (the loop keeps
 * running meanwhile, so SIGINT ends the wait), open the logs, register in @loop; @con must not move
 */
int console_open(struct console *con, struct loop *loop, const struct console_config *cfg, nl_error_t *err);
/* console_release() - flush a partial line, leave the loop, close the socket and the logs */
void console_release(struct console *con);
/*
 * console_wait_for() - run the loop until @substring appears after the cursor, at most @timeout_ms
 * (< 0: no limit); moves the cursor past it. Errors: ETIMEDOUT (with the last lines of output and the
 * log to read), EPIPE when the console closed first, EINTR on SIGINT/SIGTERM.
 */
int console_wait_for(struct console *con, const char *substring, int timeout_ms, nl_error_t *err);
/*
 * console_wait_for_regex() - the same with a POSIX extended regular expression matched within a line;
 * *@line (if not NULL) gets the whole line that matched (caller frees)
 */
int console_wait_for_regex(struct console *con, const char *regex, int timeout_ms, char **line,
			   nl_error_t *err);
/* console_write() - send @len bytes to the guest, waiting at most @timeout_ms for the socket to take them */
int console_write(struct console *con, const void *data, size_t len, int timeout_ms, nl_error_t *err);
/* console_send_line() - console_write() of @text and "\n" */
int console_send_line(struct console *con, const char *text, int timeout_ms, nl_error_t *err);
/* console_skip() - move the cursor to the end: later waits only see output from now on */
void console_skip(struct console *con);
/* console_tail() - the last @n lines of cleaned output (possibly a partial last line); caller frees */
char *console_tail(const struct console *con, unsigned n);
/* console_log_hint() - the log to point users to: the timestamped one, else the raw one, else the socket */
const char *console_log_hint(const struct console *con);

#define cleanup_console __attribute__((cleanup(console_release)))

/*
 * Capture: a serial port's log written by a child process, whatever the run is doing. QEMU's own
 * chardev logfile has no size limit, so a guest printing forever would fill the disk; and nestlab's
 * supervisor thread sits in agent waits for minutes, where a console it read itself would stop being
 * read and the guest's UART would stall. So the log is written by `head -c MAX` reading the chardev
 * socket (started before the guest runs: the VM is started paused, the socket connected, the child
 * started, then the VM resumed, so no byte is lost). At MAX bytes head exits; QEMU then discards what
 * the port prints (a socket chardev without a client drops output, it never blocks the guest), and
 * console_capture_finish() appends a line saying the log was capped.
 */
#define CONSOLE_CAPTURE_MAX_BYTES_DEFAULT (32ull << 20)	/* each console log: 32 MiB */

struct console_capture {
	char *name;			/* "L1 console" */
	char *log_path;
	uint64_t max_bytes;
	struct proc *proc;		/* head -c, NULL when not started */
};

#define CONSOLE_CAPTURE_INIT { 0 }

/*
 * console_capture_start() - connect to @sock_path (retrying up to @connect_timeout_ms while it is
 * missing or refuses) and start the child that copies at most @max_bytes (0: the default) to @log_path
 */
int console_capture_start(struct console_capture *cc, const char *name, const char *sock_path,
			  const char *log_path, uint64_t max_bytes, int connect_timeout_ms, nl_error_t *err);
/*
 * console_capture_finish() - after the guest's QEMU is gone: wait up to @timeout_ms for the child to
 * see end of file (then kill it), note in the log when it was capped, release; safe to call twice
 */
void console_capture_finish(struct console_capture *cc, int timeout_ms);

#endif /* NESTLAB_CONSOLE_H */
