/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.h - allocation that never fails, cleanup attributes, small string helpers
 *
 * Out-of-memory is not an error path in nestlab: x*alloc() abort with a message (passt util.c does the
 * same). Every local resource is declared with a cleanup attribute so that early returns cannot leak:
 *
 *	cleanup_free char *path = xasprintf("%s/qmp.sock", run_dir);
 *	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
 *
 * Ownership is handed off by moving the value out and clearing the local: `ret = fd; fd = -1; return ret;`.
 */
#ifndef NESTLAB_UTIL_H
#define NESTLAB_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define UNUSED __attribute__((unused))
#define PRINTF_FMT(f, a) __attribute__((format(printf, f, a)))

void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_FMT(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTF_FMT(1, 0);

void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_filep(FILE **f);
void cleanup_strvp(char ***strv);

#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_file __attribute__((cleanup(cleanup_filep)))
#define cleanup_strv __attribute__((cleanup(cleanup_strvp)))

/* NULL-terminated string vectors (argv, lists of names) */
size_t strv_len(char *const *strv);
void strv_push(char ***strv, const char *s);		/* copies s */
void strv_pushf(char ***strv, const char *fmt, ...) PRINTF_FMT(2, 3);
void strv_free(char **strv);

/*
 * Growing string buffer; buf->str is always NUL terminated once anything was appended.
 * Used by the plan printer, the XML writers and the JUnit writer.
 */
struct strbuf {
	char *str;
	size_t len;
	size_t alloc;
};
#define STRBUF_INIT { NULL, 0, 0 }
void strbuf_add(struct strbuf *sb, const char *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) PRINTF_FMT(2, 3);
void strbuf_add_xml_escaped(struct strbuf *sb, const char *s);
char *strbuf_detach(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
void cleanup_strbufp(struct strbuf *sb);
#define cleanup_strbuf __attribute__((cleanup(cleanup_strbufp)))

/* checked snprintf for fixed-size buffers (sun_path is 108 bytes): returns -1 on truncation */
int snprintf_checked(char *buf, size_t size, const char *fmt, ...) PRINTF_FMT(3, 4);

/* read_file_text() - the whole file as a NUL-terminated string, or NULL with errno set */
char *read_file_text(const char *path);

/* monotonic clock in milliseconds */
uint64_t now_ms(void);

/* how log_vline() stamps a line with the time since its log began */
enum log_stamp {
	LOG_STAMP_PLAIN,	/* "12.345 text" */
	LOG_STAMP_BRACKETED,	/* "[  12.345] text" */
};
/* log_vline() - append one stamped line to @f and flush it; nothing when @f is NULL */
void log_vline(FILE *f, enum log_stamp stamp, uint64_t t0_ms, const char *fmt, va_list ap) PRINTF_FMT(4, 0);

/* Levenshtein distance, for "did you mean" hints */
size_t edit_distance(const char *a, const char *b);

#endif /* NESTLAB_UTIL_H */
