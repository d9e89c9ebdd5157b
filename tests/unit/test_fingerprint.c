/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Card fingerprints: HMAC-SHA256 of the normalised PAN, checked against
 * OpenSSL's HMAC; the same card typed differently gives the same
 * fingerprint, another key or card a different one; short keys refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/fingerprint.h"
#include "lib/base64url.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <string.h>

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";

static void matches_openssl_hmac(void **state)
{
	(void)state;
	struct sr_card_pan pan;
	assert_int_equal(sr_card_pan_parse("4242 4242 4242 4242", 19, &pan), 0);
	unsigned char mac[32];
	unsigned int mac_len = 0;
	assert_non_null(HMAC(EVP_sha256(), key, sizeof key,
			     (const unsigned char *)"4242424242424242", 16, mac, &mac_len));
	char hex[65], want[80];
	sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
	memcpy(want, "fp_", 3);
	memcpy(want + 3, hex, 65);

	char fp[SR_FINGERPRINT_MAX];
	assert_int_equal(
		sr_fingerprint_pan(key, sizeof key, &pan, SR_FINGERPRINT_HEX, fp, sizeof fp), 0);
	assert_string_equal(fp, want);
	assert_int_equal(strlen(fp), SR_FINGERPRINT_HEX_LEN);

	char b64[50];
	size_t n;
	assert_int_equal(sr_base64url_encode(mac, sizeof mac, b64, sizeof b64, &n), 0);
	assert_int_equal(
		sr_fingerprint_pan(key, sizeof key, &pan, SR_FINGERPRINT_BASE64URL, fp, sizeof fp),
		0);
	assert_memory_equal(fp, "fp_", 3);
	assert_string_equal(fp + 3, b64);
	assert_int_equal(strlen(fp), SR_FINGERPRINT_B64_LEN);
}

static void same_card_same_fingerprint(void **state)
{
	(void)state;
	struct sr_card_pan a, b, c;
	char fa[SR_FINGERPRINT_MAX], fb[SR_FINGERPRINT_MAX], fc[SR_FINGERPRINT_MAX];
	assert_int_equal(sr_card_pan_parse("4242-4242-4242-4242", 19, &a), 0);
	assert_int_equal(sr_card_pan_parse("4242424242424242", 16, &b), 0);
	assert_int_equal(sr_card_pan_parse("5555555555554444", 16, &c), 0);
	assert_int_equal(sr_fingerprint_pan(key, sizeof key, &a, SR_FINGERPRINT_HEX, fa, sizeof fa),
			 0);
	assert_int_equal(sr_fingerprint_pan(key, sizeof key, &b, SR_FINGERPRINT_HEX, fb, sizeof fb),
			 0);
	assert_int_equal(sr_fingerprint_pan(key, sizeof key, &c, SR_FINGERPRINT_HEX, fc, sizeof fc),
			 0);
	assert_string_equal(fa, fb);
	assert_string_not_equal(fa, fc);
	unsigned char other[32];
	memcpy(other, key, sizeof other);
	other[0] ^= 1;
	assert_int_equal(
		sr_fingerprint_pan(other, sizeof other, &a, SR_FINGERPRINT_HEX, fc, sizeof fc), 0);
	assert_string_not_equal(fa, fc);
	/* The fingerprint does not contain the number. */
	assert_null(strstr(fa, "4242"));
}

static void refusals(void **state)
{
	(void)state;
	struct sr_card_pan pan, empty = {0};
	char fp[SR_FINGERPRINT_MAX];
	assert_int_equal(sr_card_pan_parse("4242424242424242", 16, &pan), 0);
	assert_int_equal(sr_fingerprint_pan(key, 31, &pan, SR_FINGERPRINT_HEX, fp, sizeof fp),
			 SR_E_INVAL);
	assert_int_equal(sr_fingerprint_pan(key, 32, &empty, SR_FINGERPRINT_HEX, fp, sizeof fp),
			 SR_E_INVAL);
	assert_int_equal(
		sr_fingerprint_pan(key, 32, &pan, SR_FINGERPRINT_HEX, fp, SR_FINGERPRINT_HEX_LEN),
		SR_E_LIMIT);
	assert_string_equal(fp, "");
	assert_int_equal(sr_fingerprint_pan(key, 32, &pan, SR_FINGERPRINT_BASE64URL, fp,
					    SR_FINGERPRINT_B64_LEN + 1),
			 0);
	assert_int_equal(
		sr_fingerprint_pan(key, 32, &pan, (enum sr_fingerprint_encoding)7, fp, sizeof fp),
		SR_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(matches_openssl_hmac),
		cmocka_unit_test(same_card_same_fingerprint),
		cmocka_unit_test(refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
