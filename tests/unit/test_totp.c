/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/totp: the RFC 6238 SHA-1 vectors (shared/data/testvectors); a code is
 * accepted one step either side and not beyond; a used step is refused
 * (replay) and the matched step is reported; malformed codes are refused;
 * the otpauth URI has the secret in unpadded base32 and percent-encoded
 * labels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/totp.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const unsigned char rfc_secret[] = "12345678901234567890";

static void rfc6238_vectors(void **state)
{
	(void)state;
	FILE *f = fopen(SR_SOURCE_DIR "/../shared/data/testvectors/totp-rfc6238.txt", "r");
	assert_non_null(f);
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		int64_t t;
		char want[16], got[9];
		if (line[0] == '#' || sscanf(line, "%" SCNd64 " %15s", &t, want) != 2)
			continue;
		assert_int_equal(sr_totp_code(rfc_secret, 20, t, 8, got, sizeof got), 0);
		assert_string_equal(got, want);
		int64_t step;
		assert_int_equal(sr_totp_verify_digits(rfc_secret, 20, want, 8, t, -1, &step), 0);
		assert_int_equal(step, t / 30);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 6);
}

static void window_and_replay(void **state)
{
	(void)state;
	unsigned char secret[SR_TOTP_SECRET_BYTES];
	sr_totp_secret_new(secret);
	const int64_t now = 1700000015; /* step 56666667 */
	const int64_t step = now / 30;
	char code[7];
	int64_t m;
	for (int d = -3; d <= 3; d++) {
		assert_int_equal(
			sr_totp_code(secret, sizeof secret, (step + d) * 30, 6, code, sizeof code),
			0);
		int rc = sr_totp_verify(secret, sizeof secret, code, now, -1, &m);
		if (d >= -1 && d <= 1) {
			assert_int_equal(rc, 0);
			assert_int_equal(m, step + d);
		} else {
			assert_int_equal(rc, SR_E_AUTH);
			assert_int_equal(m, -1);
		}
	}
	/* Replay: after using the current step, its code and older ones fail. */
	assert_int_equal(sr_totp_code(secret, sizeof secret, now, 6, code, sizeof code), 0);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, code, now, -1, &m), 0);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, code, now, m, &m), SR_E_AUTH);
	assert_int_equal(sr_totp_code(secret, sizeof secret, now - 30, 6, code, sizeof code), 0);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, code, now, step, &m), SR_E_AUTH);
	/* ... but the next step's code is still fresh. */
	assert_int_equal(sr_totp_code(secret, sizeof secret, now + 30, 6, code, sizeof code), 0);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, code, now, step, &m), 0);
	assert_int_equal(m, step + 1);
}

static void refuses_malformed_codes(void **state)
{
	(void)state;
	unsigned char secret[SR_TOTP_SECRET_BYTES] = {1, 2, 3};
	char code[7];
	int64_t m;
	const int64_t now = 1700000000;
	assert_int_equal(sr_totp_code(secret, sizeof secret, now, 6, code, sizeof code), 0);
	char longer[9];
	snprintf(longer, sizeof longer, "%s0", code);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, longer, now, -1, &m), SR_E_AUTH);
	char shorter[7];
	memcpy(shorter, code, 5);
	shorter[5] = '\0';
	assert_int_equal(sr_totp_verify(secret, sizeof secret, shorter, now, -1, &m), SR_E_AUTH);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, "12a456", now, -1, &m), SR_E_AUTH);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, "", now, -1, &m), SR_E_AUTH);
	assert_int_equal(sr_totp_verify(NULL, 0, code, now, -1, &m), SR_E_INVAL);
	assert_int_equal(sr_totp_code(secret, sizeof secret, now, 9, longer, sizeof longer),
			 SR_E_INVAL);
	assert_int_equal(sr_totp_verify(secret, sizeof secret, code, now, -1, &m), 0);
}

static void otpauth_uri(void **state)
{
	(void)state;
	char uri[SR_TOTP_URI_MAX];
	assert_int_equal(
		sr_totp_uri(rfc_secret, 20, "Acme Market", "ada+1@example.com", uri, sizeof uri),
		0);
	assert_string_equal(uri, "otpauth://totp/Acme%20Market:ada%2B1%40example.com"
				 "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Market"
				 "&algorithm=SHA1&digits=6&period=30");
	/* A 10-byte secret would need padding: it is dropped. */
	assert_int_equal(sr_totp_uri(rfc_secret, 11, "a:b", "é", uri, sizeof uri), 0);
	assert_null(strstr(uri, "=&"));
	assert_non_null(strstr(uri, "totp/a%3Ab:%C3%A9?"));
	assert_int_equal(sr_totp_uri(rfc_secret, 20, "Acme", "ada", uri, 40), SR_E_LIMIT);
	assert_string_equal(uri, "");
	assert_int_equal(sr_totp_uri(rfc_secret, 20, "", "ada", uri, sizeof uri), SR_E_INVAL);
	char big[SR_TOTP_LABEL_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(sr_totp_uri(rfc_secret, 20, "Acme", big, uri, sizeof uri), SR_E_LIMIT);
}

static int setup(void **state)
{
	(void)state;
	return sr_totp_init();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc6238_vectors),
		cmocka_unit_test(window_and_replay),
		cmocka_unit_test(refuses_malformed_codes),
		cmocka_unit_test(otpauth_uri),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
