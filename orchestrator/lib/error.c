/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * error.c - nestlab's error contract: a message plus an errno, wrapped with context by each caller
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/**
 * nl_error() - record an error
 * @err:	where to store it; if it already holds an error, the new one replaces it
 * @errnum:	errno value (its strerror() is appended) or 0
 * @fmt:	what failed and what to do about it
 *
 * Return: -1, so that callers can write `return nl_error(err, ...)`.
 */
int nl_error(nl_error_t *err, int errnum, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);

	nl_error_release(err);
	*err = xzalloc(sizeof(**err));
	(*err)->errnum = errnum;
	if (errnum)
		(*err)->msg = xasprintf("%s: %s", msg, strerror(errnum));
	else {
		(*err)->msg = msg;
		msg = NULL;
	}
	return -1;
}

/**
 * nl_error_wrap() - prefix an existing error with context
 * @err:	an error set by nl_error(); if none is set, one is created from the context alone
 * @fmt:	the context, e.g. "boot %s"
 *
 * Return: -1
 */
int nl_error_wrap(nl_error_t *err, const char *fmt, ...)
{
	cleanup_free char *ctx = NULL;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	ctx = xvasprintf(fmt, ap);
	va_end(ap);

	if (!*err)
		return nl_error(err, 0, "%s: unknown error", ctx);
	msg = xasprintf("%s: %s", ctx, (*err)->msg);
	free((*err)->msg);
	(*err)->msg = msg;
	return -1;
}

/**
 * nl_error_release() - free an error and clear the pointer
 * @err:	pointer to the error; NULL or an empty error is fine
 */
void nl_error_release(nl_error_t *err)
{
	if (!err || !*err)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}
