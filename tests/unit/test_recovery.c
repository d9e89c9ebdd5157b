/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/recovery: ten distinct codes shaped "xxxx-xxxx-xxxx" from the
 * Crockford alphabet; each verifies to its own index, forgivingly typed;
 * a deleted (used) hash no longer matches; another pepper or a changed
 * character does not match; junk is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/recovery.h"

#include <sodium.h>
#include <string.h>

static void codes_verify_to_their_index(void **state)
{
	(void)state;
	unsigned char pepper[32], other[32];
	memset(pepper, 7, sizeof pepper);
	memset(other, 8, sizeof other);
	char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT];
	unsigned char hashes[SR_RECOVERY_CODES][SR_RECOVERY_HASH_BYTES];
	assert_int_equal(sr_recovery_generate(pepper, codes, hashes), 0);
	for (int i = 0; i < SR_RECOVERY_CODES; i++) {
		assert_int_equal(strlen(codes[i]), 14);
		assert_true(codes[i][4] == '-' && codes[i][9] == '-');
		for (int j = 0; j < 14; j++)
			if (j != 4 && j != 9)
				assert_non_null(
					strchr("0123456789abcdefghjkmnpqrstvwxyz", codes[i][j]));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(codes[i], codes[j]);
		int idx;
		assert_int_equal(
			sr_recovery_verify(pepper, hashes, SR_RECOVERY_CODES, codes[i], 14, &idx),
			0);
		assert_int_equal(idx, i);
		assert_int_equal(
			sr_recovery_verify(other, hashes, SR_RECOVERY_CODES, codes[i], 14, &idx),
			SR_E_AUTH);
		assert_int_equal(idx, -1);
	}
	/* Typed forgivingly: upper case, no dashes, spaces. */
	char typed[32];
	size_t k = 0;
	for (size_t j = 0; j < 14; j++)
		if (codes[3][j] != '-')
			typed[k++] = (char)(codes[3][j] >= 'a' ? codes[3][j] - 32 : codes[3][j]);
	typed[k++] = ' ';
	int idx;
	assert_int_equal(sr_recovery_verify(pepper, hashes, SR_RECOVERY_CODES, typed, k, &idx), 0);
	assert_int_equal(idx, 3);
	/* One character changed. */
	char wrong[SR_RECOVERY_CODE_TEXT];
	memcpy(wrong, codes[5], sizeof wrong);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	assert_int_equal(sr_recovery_verify(pepper, hashes, SR_RECOVERY_CODES, wrong, 14, &idx),
			 SR_E_AUTH);
	/* Used: the caller removed hash 9; code 9 no longer works. */
	assert_int_equal(sr_recovery_verify(pepper, hashes, 9, codes[9], 14, &idx), SR_E_AUTH);
	/* Junk. */
	assert_int_equal(sr_recovery_verify(pepper, hashes, 10, "", 0, &idx), SR_E_AUTH);
	assert_int_equal(sr_recovery_verify(pepper, hashes, 10, "uuuu-uuuu-uuuu", 14, &idx),
			 SR_E_AUTH);
	char longer[20];
	memcpy(longer, codes[0], 14);
	memcpy(longer + 14, "a", 2);
	assert_int_equal(sr_recovery_verify(pepper, hashes, 10, longer, 15, &idx), SR_E_AUTH);
}

static void ambiguous_letters_read_as_digits(void **state)
{
	(void)state;
	unsigned char pepper[32] = {1};
	char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT];
	unsigned char hashes[SR_RECOVERY_CODES][SR_RECOVERY_HASH_BYTES];
	assert_int_equal(sr_recovery_generate(pepper, codes, hashes), 0);
	for (int i = 0; i < SR_RECOVERY_CODES; i++) {
		char t[SR_RECOVERY_CODE_TEXT];
		memcpy(t, codes[i], sizeof t);
		for (int j = 0; j < 14; j++)
			t[j] = t[j] == '0' ? 'O' : t[j] == '1' ? 'l' : t[j];
		int idx;
		assert_int_equal(sr_recovery_verify(pepper, hashes, SR_RECOVERY_CODES, t, 14, &idx),
				 0);
		assert_int_equal(idx, i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(codes_verify_to_their_index),
		cmocka_unit_test(ambiguous_letters_read_as_digits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
