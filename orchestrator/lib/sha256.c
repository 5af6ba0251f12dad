/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sha256.c - SHA-256 for nestlab's content keys, on OpenSSL's libcrypto (EVP interface)
 *
 * A streaming wrapper so that cache keys can be fed piece by piece (strings with their NUL, files,
 * directory trees). The digest itself is libcrypto's: no hand-written crypto in nestlab.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "sha256.h"

/* libcrypto without sha256 is not a machine nestlab runs on: treat it like out-of-memory */
static void sha256_abort(void)
{
	static const char msg[] = "nestlab: libcrypto has no usable sha256\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void sha256_init(struct sha256 *h)
{
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
		sha256_abort();
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	if (len && !EVP_DigestUpdate(h->ctx, data, len))
		sha256_abort();
}

void sha256_final(struct sha256 *h, uint8_t digest[SHA256_BYTES])
{
	unsigned int md_len = 0;

	if (!EVP_DigestFinal_ex(h->ctx, digest, &md_len) || md_len != SHA256_BYTES)
		sha256_abort();
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_BYTES])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t digest[SHA256_BYTES];

	sha256_final(h, digest);
	for (int i = 0; i < SHA256_BYTES; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * SHA256_BYTES] = '\0';
}

void sha256_update_str(struct sha256 *h, const char *s)
{
	sha256_update(h, s, strlen(s) + 1);
}

int sha256_update_file(struct sha256 *h, const char *path, nl_error_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t buf[1 << 16];

	if (fd < 0)
		return nl_error(err, errno, "open %s", path);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return nl_error(err, errno, "read %s", path);
		if (n == 0)
			return 0;
		sha256_update(h, buf, (size_t)n);
	}
}

int sha256_file_hex(const char *path, char hex[SHA256_HEX_BYTES], nl_error_t *err)
{
	struct sha256 h;

	sha256_init(&h);
	if (sha256_update_file(&h, path, err) < 0)
		return -1;
	sha256_final_hex(&h, hex);
	return 0;
}
