/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qmp.h - QEMU Machine Protocol client (QEMU docs/interop/qmp-spec.rst) on jansson
 *
 *	cleanup_qmp struct qmp q = QMP_INIT;
 *	json_t *status = NULL;
 *
 *	qmp_init(&q, "l0");
 *	qmp_set_transcript(&q, "RUN/qmp-l0.log", err);	// every line sent and received
 *	if (qmp_connect(&q, "RUN/l0-qmp.sock", err) < 0)	// greeting + qmp_capabilities
 *		return -1;
 *	if (qmp_execute(&q, "query-status", NULL, &status, err) < 0)
 *		return -1;	// "QMP query-status: GenericError: ..." or a protocol error
 *
 * Each command carries an "id"; the reply is matched by it, replies with unknown ids are dropped (spec
 * "Commands Responses"), and asynchronous events that arrive meanwhile are queued (at most
 * QMP_EVENT_QUEUE_MAX, the oldest dropped first) for qmp_next_event() / qmp_wait_event().
 *
 * The monitor is treated as untrusted input: garbage, a line over QMP_LINE_MAX_BYTES, JSON that is not an
 * object, or a peer that closes in the middle of an exchange is an error with a clear message, never a
 * crash; after such a protocol error the connection is marked unusable. Every read is bounded by
 * q->timeout_ms (poll(2)). One command in flight at a time; not thread-safe.
 */
#ifndef NESTLAB_QMP_H
#define NESTLAB_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

#define QMP_LINE_MAX_BYTES (16u << 20)	/* a longer line from the peer is a protocol error */
#define QMP_EVENT_QUEUE_MAX 256
#define QMP_TIMEOUT_MS_DEFAULT 30000

struct qmp {
	int fd;
	char *name;			/* e.g. "l0": transcript and messages */
	int timeout_ms;			/* bound of every exchange; QMP_TIMEOUT_MS_DEFAULT */
	json_t *greeting;		/* the "QMP" member of the greeting: version, capabilities */
	int qemu_version[3];		/* major, minor, micro from the greeting */
	uint64_t next_id;

	/* received bytes not yet consumed: in.str[in_off .. in.len), no newline before in_scanned */
	struct strbuf in;
	size_t in_off, in_scanned;

	json_t *events[QMP_EVENT_QUEUE_MAX];	/* ring buffer of queued events */
	size_t events_head, events_count;
	size_t events_dropped;

	FILE *transcript;
	uint64_t start_ms;
	char *broken;			/* why the connection is unusable, or NULL */
};

#define QMP_INIT { .fd = -1, .timeout_ms = QMP_TIMEOUT_MS_DEFAULT }

/* qmp_init() - an unconnected client called @name ("l0", "l1") */
void qmp_init(struct qmp *q, const char *name);
/* qmp_release() - close the connection and transcript, free queued events */
void qmp_release(struct qmp *q);
/* qmp_set_transcript() - append every line sent ("->") and received ("<-") to @path */
int qmp_set_transcript(struct qmp *q, const char *path, nl_error_t *err);
/* qmp_connect() - connect to the unix socket @path, read the greeting, negotiate capabilities */
int qmp_connect(struct qmp *q, const char *path, nl_error_t *err);
/* qmp_adopt_fd() - the same on an already connected stream @fd, which q owns from now on (even on error) */
int qmp_adopt_fd(struct qmp *q, int fd, nl_error_t *err);
/*
 * qmp_execute() - run @command with @args (a JSON object, borrowed; NULL: none) and wait for its reply;
 * *@result (if @result is not NULL) gets the "return" value (json_decref() it). Return: 0 or -1; an error
 * reply becomes "QMP COMMAND: CLASS: DESC".
 */
int qmp_execute(struct qmp *q, const char *command, json_t *args, json_t **result, nl_error_t *err);
/* qmp_read_events() - read what arrives within @timeout_ms (0: only what is there), queue the events */
int qmp_read_events(struct qmp *q, int timeout_ms, nl_error_t *err);
/* qmp_next_event() - the oldest queued event ({"event": ..., "data": ...}), or NULL; json_decref() it */
json_t *qmp_next_event(struct qmp *q);
/* qmp_events_pending() - number of queued events */
size_t qmp_events_pending(const struct qmp *q);
/*
 * qmp_wait_event() - take the first event named @event from the queue, or read until it arrives (at most
 * @timeout_ms, < 0: q->timeout_ms), queueing the others; *@out gets it (json_decref() it; @out may be NULL)
 */
int qmp_wait_event(struct qmp *q, const char *event, int timeout_ms, json_t **out, nl_error_t *err);

#define cleanup_qmp __attribute__((cleanup(qmp_release)))

#endif /* NESTLAB_QMP_H */
