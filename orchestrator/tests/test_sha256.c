/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_sha256.c - unit tests for sha256.c against the examples of FIPS 180-4 (NIST CSRC "Examples with
 * intermediate values": "abc", the 448-bit message, one million 'a')
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "sha256.h"
#include "test.h"

static int test_sha256_vectors(void)
{
	char hex[SHA256_HEX_BYTES];
	struct sha256 h;
	static char million[1000000];

	sha256_init(&h);
	sha256_final_hex(&h, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_init(&h);
	sha256_update(&h, "abc", 3);
	sha256_final_hex(&h, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_init(&h);
	sha256_update(&h, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
	sha256_final_hex(&h, hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', sizeof(million));
	sha256_init(&h);
	for (size_t off = 0; off < sizeof(million); off += 999)	/* odd chunks cross block edges */
		sha256_update(&h, million + off, off + 999 > sizeof(million) ? sizeof(million) - off : 999);
	sha256_final_hex(&h, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	return TEST_PASS;
}

static int test_sha256_file(void)
{
	char path[] = "/tmp/nestlab-test-sha256-XXXXXX";
	char hex[SHA256_HEX_BYTES];
	cleanup_error nl_error_t err = NULL, err2 = NULL;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "abc", 3) == 3);
	close(fd);
	CHECK(sha256_file_hex(path, hex, &err) == 0);
	unlink(path);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(sha256_file_hex(path, hex, &err2) < 0);
	CHECK_CONTAINS(err2->msg, path);
	return TEST_PASS;
}

/* test_sha256_str() - strings are fed with their NUL, so that a boundary moves the hash */
static int test_sha256_str(void)
{
	char a[SHA256_HEX_BYTES], b[SHA256_HEX_BYTES];
	struct sha256 h;

	sha256_init(&h);
	sha256_update_str(&h, "ab");
	sha256_update_str(&h, "c");
	sha256_final_hex(&h, a);
	sha256_init(&h);
	sha256_update_str(&h, "a");
	sha256_update_str(&h, "bc");
	sha256_final_hex(&h, b);
	CHECK(strcmp(a, b) != 0);
	return TEST_PASS;
}

static const struct test_case tests[] = {
	TEST_CASE(test_sha256_vectors),
	TEST_CASE(test_sha256_file),
	TEST_CASE(test_sha256_str),
};

int main(void)
{
	return test_main(tests, ARRAY_SIZE(tests));
}
