/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto/password: a hash verifies its password and no other; the encoded
 * form names the pepper and OWASP's Argon2id parameters; another pepper
 * cannot verify it; raising the parameters or rotating the pepper asks for a
 * rehash; weak parameters and malformed hashes are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/password.h"

#include <sodium.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>

static const struct sr_password_params owasp = {19456, 2};

static struct sr_password_pepper make_pepper(unsigned id, unsigned char fill)
{
	struct sr_password_pepper p = {id, sodium_malloc(SR_PASSWORD_PEPPER_BYTES)};
	assert_non_null(p.key);
	memset(p.key, fill, SR_PASSWORD_PEPPER_BYTES);
	return p;
}

static int setup(void **state)
{
	(void)state;
	return sodium_init() < 0 ? -1 : 0;
}

static void hash_verifies_only_its_password(void **state)
{
	(void)state;
	struct sr_password_pepper pep = make_pepper(1, 0x11);
	char h[SR_PASSWORD_HASH_MAX], h2[SR_PASSWORD_HASH_MAX];
	const char *pw = "correct horse battery staple";
	assert_int_equal(sr_password_hash(&owasp, &pep, pw, strlen(pw), h, sizeof h), 0);
	assert_true(strncmp(h, "sr1$p1$$argon2id$v=19$m=19456,t=2,p=1$", 38) == 0);
	assert_int_equal(sr_password_verify(&pep, 1, h, pw, strlen(pw)), 0);
	assert_int_equal(sr_password_verify(&pep, 1, h, "correct horse battery stapl", 27),
			 SR_E_AUTH);
	assert_int_equal(sr_password_verify(&pep, 1, h, "Correct horse battery staple", 28),
			 SR_E_AUTH);
	/* Random salt: the same password hashes differently each time. */
	assert_int_equal(sr_password_hash(&owasp, &pep, pw, strlen(pw), h2, sizeof h2), 0);
	assert_string_not_equal(h, h2);
	assert_int_equal(sr_password_verify(&pep, 1, h2, pw, strlen(pw)), 0);
	/* Bytes after a NUL count: the length is what the caller says. */
	assert_int_equal(sr_password_hash(&owasp, &pep, "ab\0cd", 5, h, sizeof h), 0);
	assert_int_equal(sr_password_verify(&pep, 1, h, "ab\0ce", 5), SR_E_AUTH);
	assert_int_equal(sr_password_verify(&pep, 1, h, "ab", 2), SR_E_AUTH);
	assert_int_equal(sr_password_verify(&pep, 1, h, "ab\0cd", 5), 0);
	sr_password_pepper_free(&pep);
	assert_null(pep.key);
}

static void pepper_is_needed_and_found_by_id(void **state)
{
	(void)state;
	struct sr_password_pepper peppers[2] = {make_pepper(2, 0x22), make_pepper(1, 0x11)};
	struct sr_password_pepper wrong = make_pepper(1, 0x33);
	char h[SR_PASSWORD_HASH_MAX];
	const char *pw = "a long enough passphrase";
	assert_int_equal(sr_password_hash(&owasp, &peppers[1], pw, strlen(pw), h, sizeof h), 0);
	/* Same id, other key (a database restored next to the wrong key file). */
	assert_int_equal(sr_password_verify(&wrong, 1, h, pw, strlen(pw)), SR_E_AUTH);
	/* Rotation: the old pepper is still found by its id among several. */
	assert_int_equal(sr_password_verify(peppers, 2, h, pw, strlen(pw)), 0);
	assert_int_equal(sr_password_verify(peppers, 1, h, pw, strlen(pw)), SR_E_NOTFOUND);
	assert_true(sr_password_needs_rehash(&owasp, 2, h));
	assert_false(sr_password_needs_rehash(&owasp, 1, h));
	sr_password_pepper_free(&peppers[0]);
	sr_password_pepper_free(&peppers[1]);
	sr_password_pepper_free(&wrong);
}

static void raised_parameters_ask_for_rehash(void **state)
{
	(void)state;
	struct sr_password_pepper pep = make_pepper(1, 0x44);
	char h[SR_PASSWORD_HASH_MAX];
	assert_int_equal(sr_password_hash(&owasp, &pep, "pw", 2, h, sizeof h), 0);
	struct sr_password_params more_time = {19456, 3}, more_memory = {32768, 2};
	assert_false(sr_password_needs_rehash(&owasp, 1, h));
	assert_true(sr_password_needs_rehash(&more_time, 1, h));
	assert_true(sr_password_needs_rehash(&more_memory, 1, h));
	assert_int_equal(sr_password_hash(&more_time, &pep, "pw", 2, h, sizeof h), 0);
	assert_non_null(strstr(h, "$m=19456,t=3,p=1$"));
	assert_false(sr_password_needs_rehash(&more_time, 1, h));
	/* Verification reads the parameters from the hash, not the config. */
	assert_int_equal(sr_password_verify(&pep, 1, h, "pw", 2), 0);
	assert_true(sr_password_needs_rehash(&owasp, 1, "not a hash"));
	sr_password_pepper_free(&pep);
}

static void refuses_weak_parameters_and_bad_input(void **state)
{
	(void)state;
	struct sr_password_pepper pep = make_pepper(1, 0x55);
	char h[SR_PASSWORD_HASH_MAX];
	struct sr_password_params weak_m = {19455, 2}, weak_t = {19456, 1};
	assert_int_equal(sr_password_hash(&weak_m, &pep, "pw", 2, h, sizeof h), SR_E_INVAL);
	assert_string_equal(h, "");
	assert_int_equal(sr_password_hash(&weak_t, &pep, "pw", 2, h, sizeof h), SR_E_INVAL);
	assert_int_equal(sr_password_hash(&owasp, &pep, "pw", 2, h, 100), SR_E_LIMIT);
	static char big[SR_PASSWORD_INPUT_MAX + 1];
	assert_int_equal(sr_password_hash(&owasp, &pep, big, sizeof big, h, sizeof h), SR_E_LIMIT);
	struct sr_password_pepper no_id = {0, pep.key};
	assert_int_equal(sr_password_hash(&owasp, &no_id, "pw", 2, h, sizeof h), SR_E_INVAL);

	/* Hashes this module did not write. */
	static const char *const bad[] = {
		"",
		"$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"sr1$p$$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"sr1$p0$$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"sr1$p1$$argon2i$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"sr1$p99999999999$$argon2id$v=19",
		"sr2$p1$$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sr_password_verify(&pep, 1, bad[i], "pw", 2), SR_E_INVAL);
	/* Right prefix, garbage after it: libsodium refuses, we say AUTH. */
	assert_int_equal(sr_password_verify(&pep, 1, "sr1$p1$$argon2id$v=19$m=1", "pw", 2),
			 SR_E_AUTH);
	sr_password_pepper_free(&pep);
}

struct hasher {
	struct sr_password_pepper *pep;
	int rc;
};

static void *hash_and_verify(void *arg)
{
	struct hasher *h = arg;
	char out[SR_PASSWORD_HASH_MAX];
	const char *pw = "a queue of people at one door";
	h->rc = sr_password_hash(&owasp, h->pep, pw, strlen(pw), out, sizeof out);
	if (h->rc == 0)
		h->rc = sr_password_verify(h->pep, 1, out, pw, strlen(pw));
	return NULL;
}

/* With the process-wide limit at one hash at a time, several threads still
 * all get correct hashes (they take turns; nobody is lost or deadlocked),
 * and raising the limit while they wait lets them go on. */
static void concurrency_limit_takes_turns(void **state)
{
	(void)state;
	struct sr_password_pepper pep = make_pepper(1, 0x66);
	enum { N = 4 };
	pthread_t th[N];
	struct hasher h[N];
	sr_password_limit_concurrency(1);
	for (int i = 0; i < N; i++) {
		h[i] = (struct hasher){.pep = &pep, .rc = -1};
		assert_int_equal(pthread_create(&th[i], NULL, hash_and_verify, &h[i]), 0);
	}
	sr_password_limit_concurrency(2);
	for (int i = 0; i < N; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(h[i].rc, 0);
	}
	sr_password_limit_concurrency(0);
	sr_password_pepper_free(&pep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hash_verifies_only_its_password),
		cmocka_unit_test(pepper_is_needed_and_found_by_id),
		cmocka_unit_test(raised_parameters_ask_for_rehash),
		cmocka_unit_test(refuses_weak_parameters_and_bad_input),
		cmocka_unit_test(concurrency_limit_takes_turns),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
