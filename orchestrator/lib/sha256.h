/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sha256.h - SHA-256 (FIPS 180-4) for cache keys: images, and whatever else nestlab keys by content
 *
 *	struct sha256 h;
 *	sha256_init(&h);
 *	sha256_update(&h, data, len);
 *	sha256_final_hex(&h, hex);	// 64 hex digits + NUL
 *
 * The digest is libcrypto's (sha256.c). sha256_init() allocates a context that sha256_final() (or
 * sha256_final_hex()) frees: every init must be finished.
 */
#ifndef NESTLAB_SHA256_H
#define NESTLAB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SHA256_BYTES 32
#define SHA256_HEX_BYTES (2 * SHA256_BYTES + 1)

struct evp_md_ctx_st;

struct sha256 {
	struct evp_md_ctx_st *ctx;	/* libcrypto's EVP_MD_CTX */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* sha256_final() - finish and write the 32-byte digest; @h must be re-initialised before reuse */
void sha256_final(struct sha256 *h, uint8_t digest[SHA256_BYTES]);
/* sha256_final_hex() - finish and write the digest as 64 lowercase hex digits and a NUL */
void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_BYTES]);
/* sha256_update_str() - feed a string and its terminating NUL (so that "ab","c" differs from "a","bc") */
void sha256_update_str(struct sha256 *h, const char *s);
/* sha256_update_file() - feed the bytes of file @path; returns 0 or -1 with @err set */
int sha256_update_file(struct sha256 *h, const char *path, nl_error_t *err);
/* sha256_file_hex() - sha256 of a file's bytes as hex; returns 0 or -1 with @err set */
int sha256_file_hex(const char *path, char hex[SHA256_HEX_BYTES], nl_error_t *err);

#endif /* NESTLAB_SHA256_H */
