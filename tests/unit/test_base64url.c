/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64url: RFC 4648 vectors (in the URL-safe alphabet, unpadded), round
 * trips of every length, and strictness: one accepted spelling per value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "lib/base64url.h"

#include <sodium.h>
#include <string.h>

static void rfc4648_vectors(void **state)
{
	(void)state;
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		unsigned char back[16];
		size_t n;
		assert_int_equal(
			sr_base64url_encode(plain[i], strlen(plain[i]), out, sizeof out, &n), 0);
		assert_string_equal(out, enc[i]);
		assert_int_equal(n, strlen(enc[i]));
		assert_int_equal(sr_base64url_encoded_len(strlen(plain[i])), n);
		assert_int_equal(sr_base64url_decode(enc[i], n, back, sizeof back, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(back, plain[i], n);
	}
	/* The URL-safe alphabet: 0xfb 0xff → "-_8" (standard base64 would say "+/8"). */
	const unsigned char fb[] = {0xfb, 0xff};
	char out[8];
	size_t n;
	assert_int_equal(sr_base64url_encode(fb, 2, out, sizeof out, &n), 0);
	assert_string_equal(out, "-_8");
}

static void round_trip_every_length(void **state)
{
	(void)state;
	unsigned char in[200], back[200];
	char enc[300];
	randombytes_buf(in, sizeof in);
	for (size_t len = 0; len <= sizeof in; len++) {
		size_t n, m;
		assert_int_equal(sr_base64url_encode(in, len, enc, sizeof enc, &n), 0);
		assert_int_equal(strlen(enc), n);
		assert_true(sr_base64url_decoded_max(n) >= len);
		assert_int_equal(sr_base64url_decode(enc, n, back, len, &m), 0);
		assert_int_equal(m, len);
		assert_memory_equal(back, in, len);
		/* Exactly the needed room is enough; one byte less is a limit. */
		if (len > 0) {
			assert_int_equal(sr_base64url_decode(enc, n, back, len - 1, &m),
					 SR_E_LIMIT);
			assert_int_equal(m, 0);
		}
	}
}

static void strict_decoding(void **state)
{
	(void)state;
	unsigned char out[32];
	size_t n;
	const char *bad[] = {
		"Zg==",   /* padding */
		"Zm9v=",  /* padding */
		"Z",      /* 1 mod 4 */
		"Zm9vY",  /* 1 mod 4 */
		"Zm+v",   /* standard alphabet */
		"Zm/v",   /* standard alphabet */
		"Zm 9v",  /* whitespace */
		"Zm9v\n", /* trailing newline */
		"Zh",     /* "f" with non-zero unused bits */
		"Zm9",    /* "fo" with non-zero unused bits (canonical: "Zm8") */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sr_base64url_decode(bad[i], strlen(bad[i]), out, sizeof out, &n),
				 SR_E_INVAL);
	assert_int_equal(sr_base64url_decode("Zm8", 3, out, sizeof out, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sr_base64url_decode("Zm-", 3, out, sizeof out, &n), SR_E_INVAL);
	/* Every non-canonical spelling of one byte is refused: only "Zg" means "f". */
	int accepted = 0;
	for (const char *c = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"; *c;
	     c++) {
		char s[3] = {'Z', *c, 0};
		if (sr_base64url_decode(s, 2, out, sizeof out, &n) == 0 && n == 1 && out[0] == 'f')
			accepted++;
	}
	assert_int_equal(accepted, 1);
	/* A NUL inside the given length is not the end. */
	assert_int_equal(sr_base64url_decode("Zg\0\0", 4, out, sizeof out, &n), SR_E_INVAL);
}

static void encode_limits(void **state)
{
	(void)state;
	char out[8];
	size_t n = 99;
	/* "foobar" needs 8 characters plus the NUL. */
	assert_int_equal(sr_base64url_encode("foobar", 6, out, sizeof out, &n), SR_E_LIMIT);
	assert_int_equal(n, 0);
	char out9[9];
	assert_int_equal(sr_base64url_encode("foobar", 6, out9, sizeof out9, &n), 0);
	assert_string_equal(out9, "Zm9vYmFy");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc4648_vectors),
		cmocka_unit_test(round_trip_every_length),
		cmocka_unit_test(strict_decoding),
		cmocka_unit_test(encode_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
