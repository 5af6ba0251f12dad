/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.h - the one error contract of nestlab (after crun's design-docs/error_handling.md)
 *
 * A function that can fail takes `nl_error_t *err` last and returns a negative value on failure after
 * filling *err with an errno (0 when none applies) and a message that says what was wrong and what to do.
 * Callers add context on the way up:
 *
 *	if (qmp_connect(&qmp, path, err) < 0)
 *		return nl_error_wrap(err, "L1 QEMU monitor");
 *
 * which yields "L1 QEMU monitor: connect qmp.sock: Connection refused". Only main.c prints errors.
 * An error that was handled is released with nl_error_release().
 */
#ifndef NESTLAB_ERROR_H
#define NESTLAB_ERROR_H

#include "util.h"

struct nl_error_s {
	int errnum;	/* errno value, or 0 */
	char *msg;	/* full message, with context prefixes */
};
typedef struct nl_error_s *nl_error_t;

/* nl_error() - set *err (which must be NULL) from a format; returns -1 */
int nl_error(nl_error_t *err, int errnum, const char *fmt, ...) PRINTF_FMT(3, 4);
/* nl_error_wrap() - prefix the message in *err with "CONTEXT: "; returns -1 */
int nl_error_wrap(nl_error_t *err, const char *fmt, ...) PRINTF_FMT(2, 3);
/* nl_error_release() - free *err and set it to NULL */
void nl_error_release(nl_error_t *err);

#define cleanup_error __attribute__((cleanup(nl_error_release)))

#endif /* NESTLAB_ERROR_H */
