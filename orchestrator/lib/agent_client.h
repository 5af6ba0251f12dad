/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * agent_client.h - the host side of the guest agent protocol (docs/agent-protocol.md): L1's agent and,
 * through its relay, L2's
 *
 *	cleanup_agent_client struct agent_client *c = NULL;
 *	cleanup_free char *out = NULL;
 *	int status;
 *
 *	if (agent_client_connect(plan->l1_agent_sock, 10000, "RUN/agent.log", &c, err) < 0)
 *		return -1;			// the chardev socket of L1's virtio-serial port
 *	if (agent_client_wait_ready(c, 1, 300000, NULL, err) < 0)
 *		return -1;			// HELLO until READY: L1 has booted
 *	if (agent_client_sh(c, 1, "uname -r", 30000, &out, &status, err) < 0)
 *		return -1;			// "L1 agent: EXEC /bin/sh: exec: ..." or a transport error
 *	if (agent_client_wait_ready(c, 2, 600000, NULL, err) < 0)
 *		return -1;			// HELLO inside RELAY until L2's agent answers
 *	agent_client_read_file(c, 2, "/sys/kernel/debug/...", 0, 30000, &data, &len, err);
 *
 * Level 1 talks to the agent on the socket; level 2 wraps each request, with AGENT_FLAG_INNER, in a RELAY
 * to L1's agent, which forwards it to L2's agent and wraps L2's answer in a RELAY back (same request id).
 * Request ids come from one counter per client (never 0, never reused on a connection), so a reply that
 * arrives after its request timed out is recognised as stale and dropped.
 *
 * Everything from the guest is untrusted: frames are length- and checksum-checked by agent_proto.c, a
 * reply must carry the request's id and the request's reply type (else it is dropped, or an error when
 * the id is ours), guest strings are escaped before they reach the log or an error message, and a
 * malformed frame never crashes the host. An ERROR reply becomes an nl_error "L1 agent: EXEC ls: exec:
 * MESSAGE" with the guest's errno. When the agent closes the connection, the client is unusable.
 *
 * Unsolicited frames that arrive while a call waits, and those agent_client_poll_logs() reads: LOG
 * lines of both levels (L2's come inside RELAYs) are appended to the log ("SECONDS.MS l2 LOG kmsg:
 * TEXT") and handed to the log callback, unsolicited READYs are logged. The log also holds a transcript
 * of every request and reply. The log is capped: lines the guest caused unasked (LOG lines, each cut at
 * 4 KiB of text, and frames nobody waits for) stop at AGENT_CLIENT_LOG_GUEST_MAX_BYTES, everything at
 * AGENT_CLIENT_LOG_MAX_BYTES; a line says so, and the lines not written are counted.
 *
 * Every wait has a deadline and is interruptible: SIGINT and SIGTERM are blocked by the supervisor
 * loop, and a wait that finds one pending (vm_signal_pending()) ends within AGENT_CLIENT_POLL_SLICE_MS
 * with an error (errnum EINTR). A timeout is an error with errnum ETIMEDOUT; the connection stays
 * usable. One request in flight at a time; not thread-safe.
 */
#ifndef NESTLAB_AGENT_CLIENT_H
#define NESTLAB_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_proto.h"
#include "error.h"

#define AGENT_CLIENT_CONNECT_RETRY_MS 100	/* socket missing or refusing: try again after this */
#define AGENT_CLIENT_HELLO_RESEND_MS 3000	/* wait_ready: HELLO again when nothing answered */
#define AGENT_CLIENT_POLL_SLICE_MS 100		/* how often a wait looks for SIGINT/SIGTERM */
#define AGENT_CLIENT_REPLY_MARGIN_MS 15000	/* an EXEC's reply may come this long after its timeout */
#define AGENT_CLIENT_READ_MAX_DEFAULT (16u << 20) /* read_file with max_total 0 */
#define AGENT_CLIENT_LOG_MAX_BYTES (64ull << 20)	/* the client's log stops growing here */
#define AGENT_CLIENT_LOG_GUEST_MAX_BYTES (16ull << 20)	/* of it, lines the guest caused unasked */

struct agent_client;

/* agent_client_log_fn() - called for every LOG line; @level 1 or 2, @log valid during the call only */
typedef void (*agent_client_log_fn)(void *opaque, int level, const struct agent_log *log);

/*
 * agent_client_connect() - connect to the unix socket @sock_path (QEMU's chardev of L1's agent port),
 * retrying every AGENT_CLIENT_CONNECT_RETRY_MS while it is missing or refuses, at most @timeout_ms.
 * @log_path: the log (LOG lines, transcript) is appended there; NULL: none.
 * Return: 0 with *@out (free with agent_client_free()), or -1.
 */
int agent_client_connect(const char *sock_path, uint64_t timeout_ms, const char *log_path,
			 struct agent_client **out, nl_error_t *err);
/*
 * agent_client_adopt_fd() - the same on an already connected stream @fd (a socketpair in tests), which
 * the client owns from now on, even on error; @name says what it is in messages ("socketpair")
 */
int agent_client_adopt_fd(int fd, const char *name, const char *log_path, struct agent_client **out,
			  nl_error_t *err);
/* agent_client_free() - close the connection and the log; NULL is fine */
void agent_client_free(struct agent_client *c);
void cleanup_agent_clientp(struct agent_client **c);
#define cleanup_agent_client __attribute__((cleanup(cleanup_agent_clientp)))

/* agent_client_set_log_fn() - also hand every LOG line to @fn (NULL: only the log file) */
void agent_client_set_log_fn(struct agent_client *c, agent_client_log_fn fn, void *opaque);
/* agent_client_fd() - the connection, for the supervisor loop (readable: call agent_client_poll_logs()) */
int agent_client_fd(const struct agent_client *c);

/*
 * agent_client_wait_ready() - send HELLO to the agent at @level (1 or 2) and wait for its READY, at most
 * @timeout_ms. HELLO is sent again every AGENT_CLIENT_HELLO_RESEND_MS and at once when an unsolicited
 * READY from that level arrives; at level 2, "no-relay" ERRORs from L1 (its relay connects to L2's
 * chardev lazily, L2 is still booting) only mean "not yet". The READY must name the level ("l1"/"l2").
 * @out (may be NULL) gets the READY's fields; free them with agent_client_ready_release().
 */
int agent_client_wait_ready(struct agent_client *c, int level, uint64_t timeout_ms, struct agent_ready *out,
			    nl_error_t *err);
/* agent_client_ready_release() - free the strings of a READY from agent_client_wait_ready() */
void agent_client_ready_release(struct agent_ready *ready);

/*
 * agent_client_exec() - run @argv (no shell) at @level with @stdin_data (NULL: none) and the agent
 * timeout @timeout_ms (0: AGENT_DEFAULT_TIMEOUT_MS); wait for the result at most that long plus the
 * kill grace and AGENT_CLIENT_REPLY_MARGIN_MS. A command that ran is 0 whatever its status: look at
 * @res (exit_status, term_signal, timed_out, output; release with agent_client_result_release()).
 * Return: 0, or -1 when it could not run (ERROR reply, timeout, connection, interrupted).
 */
int agent_client_exec(struct agent_client *c, int level, char *const argv[], const void *stdin_data,
		      size_t stdin_len, uint64_t timeout_ms, struct agent_exec_result *res, nl_error_t *err);
/* agent_client_result_release() - free the output of an agent_client_exec() result */
void agent_client_result_release(struct agent_exec_result *res);

/*
 * agent_client_sh() - run @script with /bin/sh -c at @level; *@out (may be NULL) gets its stdout as a
 * string (free it); *@status its exit status, 128+signal when a signal ended it, -1 when it timed out.
 * With @status NULL, a status other than 0 is an error quoting the end of its stderr.
 */
int agent_client_sh(struct agent_client *c, int level, const char *script, uint64_t timeout_ms, char **out,
		    int *status, nl_error_t *err);

/*
 * agent_client_read_file() - read @path at @level with READ_FILE requests at growing offsets until end
 * of file, a read that would block (trace_pipe: what is there), or @max_total bytes (0:
 * AGENT_CLIENT_READ_MAX_DEFAULT), all within @timeout_ms. *@data gets the bytes plus a NUL (free it),
 * *@len their number (may be NULL).
 */
int agent_client_read_file(struct agent_client *c, int level, const char *path, size_t max_total,
			   uint64_t timeout_ms, char **data, size_t *len, nl_error_t *err);

/*
 * agent_client_poll_logs() - read what arrives within @timeout_ms (0: only what is there) with no
 * request in flight: LOG lines of L1 and of L2 (relayed) go to the log and the callback, stale replies
 * are dropped. Return: the number of LOG lines, or -1.
 */
int agent_client_poll_logs(struct agent_client *c, uint64_t timeout_ms, nl_error_t *err);

#endif /* NESTLAB_AGENT_CLIENT_H */
