/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/envelope: round trips, the blob layout, and that changing any part
 * of a blob (or the associated data, or the key) fails with SR_E_CRYPTO.
 */
#include "crypto/envelope.h"

#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static unsigned char *key(void)
{
	unsigned char *k = sodium_malloc(SR_ENVELOPE_KEY_LEN);
	assert_non_null(k);
	randombytes_buf(k, SR_ENVELOPE_KEY_LEN);
	return k;
}

static void seal(const unsigned char *k, const char *pt, unsigned char **blob, size_t *len)
{
	assert_int_equal(sr_envelope_seal(k, "dk_test1", "card_1", 6, pt, strlen(pt), blob, len),
			 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	unsigned char *k = key(), *blob = NULL, *pt = NULL;
	size_t len = 0, pt_len = 0;
	const char *msg = "4242424242424242|12|2030";
	seal(k, msg, &blob, &len);
	assert_int_equal(len, strlen(msg) + SR_ENVELOPE_OVERHEAD(strlen("dk_test1")));
	assert_null(memmem(blob, len, msg, strlen(msg))); /* not in the clear */
	assert_int_equal(sr_envelope_open(k, "dk_test1", blob, len, "card_1", 6, &pt, &pt_len), 0);
	assert_int_equal(pt_len, strlen(msg));
	assert_memory_equal(pt, msg, pt_len);
	assert_int_equal(pt[pt_len], '\0');
	sodium_free(pt);
	/* No expected id: the blob names its key. */
	assert_int_equal(sr_envelope_open(k, NULL, blob, len, "card_1", 6, &pt, &pt_len), 0);
	sodium_free(pt);

	struct sr_envelope_view v;
	assert_int_equal(sr_envelope_parse(blob, len, &v), 0);
	assert_string_equal(v.key_id, "dk_test1");
	assert_int_equal(v.version, SR_ENVELOPE_VERSION);
	assert_int_equal(v.ciphertext_len, strlen(msg));
	assert_int_equal(blob[0], SR_ENVELOPE_MAGIC);

	/* Two seals of one plaintext differ (random nonces). */
	unsigned char *blob2 = NULL;
	size_t len2 = 0;
	seal(k, msg, &blob2, &len2);
	assert_int_equal(len, len2);
	assert_true(memcmp(blob, blob2, len) != 0);
	free(blob2);
	free(blob);

	/* Empty plaintext and no aad. */
	assert_int_equal(sr_envelope_seal(k, "k", NULL, 0, "", 0, &blob, &len), 0);
	assert_int_equal(sr_envelope_open(k, "k", blob, len, NULL, 0, &pt, &pt_len), 0);
	assert_int_equal(pt_len, 0);
	sodium_free(pt);
	free(blob);
	sodium_free(k);
}

static void test_tamper_every_byte(void **state)
{
	(void)state;
	unsigned char *k = key(), *blob = NULL, *pt = NULL;
	size_t len = 0, pt_len = 0;
	seal(k, "secret card data", &blob, &len);
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			blob[i] ^= (unsigned char)(1u << bit);
			assert_int_equal(
				sr_envelope_open(k, NULL, blob, len, "card_1", 6, &pt, &pt_len),
				SR_E_CRYPTO);
			assert_null(pt);
			assert_int_equal(pt_len, 0);
			blob[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Truncated at every length, and one byte appended. */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(sr_envelope_open(k, NULL, blob, n, "card_1", 6, &pt, &pt_len),
				 SR_E_CRYPTO);
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, blob, len);
	longer[len] = 0;
	assert_int_equal(sr_envelope_open(k, NULL, longer, len + 1, "card_1", 6, &pt, &pt_len),
			 SR_E_CRYPTO);
	free(longer);
	assert_int_equal(sr_envelope_open(k, NULL, blob, len, "card_1", 6, &pt, &pt_len), 0);
	sodium_free(pt);
	free(blob);
	sodium_free(k);
}

static void test_wrong_aad_key_id(void **state)
{
	(void)state;
	unsigned char *k = key(), *k2 = key(), *blob = NULL, *pt = NULL;
	size_t len = 0, pt_len = 0;
	seal(k, "x", &blob, &len);
	assert_int_equal(sr_envelope_open(k, NULL, blob, len, "card_2", 6, &pt, &pt_len),
			 SR_E_CRYPTO);
	assert_int_equal(sr_envelope_open(k, NULL, blob, len, NULL, 0, &pt, &pt_len), SR_E_CRYPTO);
	assert_int_equal(sr_envelope_open(k2, NULL, blob, len, "card_1", 6, &pt, &pt_len),
			 SR_E_CRYPTO);
	assert_int_equal(sr_envelope_open(k, "dk_other", blob, len, "card_1", 6, &pt, &pt_len),
			 SR_E_CRYPTO);
	assert_null(pt);
	free(blob);
	sodium_free(k);
	sodium_free(k2);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	unsigned char *k = key(), *blob = NULL;
	size_t len = 0;
	assert_int_equal(sr_envelope_seal(k, "", NULL, 0, "x", 1, &blob, &len), SR_E_INVAL);
	assert_int_equal(sr_envelope_seal(k, "a b", NULL, 0, "x", 1, &blob, &len), SR_E_INVAL);
	char longid[SR_ENVELOPE_KEY_ID_MAX + 2];
	memset(longid, 'a', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_int_equal(sr_envelope_seal(k, longid, NULL, 0, "x", 1, &blob, &len), SR_E_INVAL);
	longid[SR_ENVELOPE_KEY_ID_MAX] = '\0';
	assert_int_equal(sr_envelope_seal(k, longid, NULL, 0, "x", 1, &blob, &len), 0);
	free(blob);
	assert_int_equal(sr_envelope_seal(NULL, "k", NULL, 0, "x", 1, &blob, &len), SR_E_INVAL);
	assert_int_equal(
		sr_envelope_seal(k, "k", NULL, 0, "x", SR_ENVELOPE_PLAINTEXT_MAX + 1, &blob, &len),
		SR_E_LIMIT);
	assert_null(blob);
	sodium_free(k);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_wrong_aad_key_id),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
