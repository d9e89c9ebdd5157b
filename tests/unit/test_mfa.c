/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The second factor (platform/mfa.c) on both backends, against a real
 * member and a sealed secret: a pending secret does not guard login; an
 * enabled one needs a code; each time step is accepted once and an older
 * step never after a newer one; one step of drift is fine, two are not;
 * recovery codes work once each and are stored only as MACs; removal
 * deletes the secret and the codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "accounts_test.h"
#include "platform/mfa.h"
#include "platform/mfa_int.h"
#include "platform/pii.h"

#include <sodium.h>
#include <string.h>

struct ctx {
	struct acc_fixture *f;
	struct sr_conn *c;
	char user[SR_USER_ID_SIZE];
	unsigned char secret[SR_TOTP_SECRET_BYTES];
};

/* Stores a sealed secret for the member in state (pending|enabled). */
static void put_secret(struct ctx *x, const char *state)
{
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_pii_seal(x->c, sr_accounts_pii(x->f->acc), x->user, SR_MFA_FIELD_TOTP,
				     x->secret, sizeof x->secret, &blob, &blob_len),
			 0);
	assert_int_equal(
		sr_stmt_prepare(x->c,
				"INSERT INTO mfa_totp (user_id, secret_sealed, state, "
				"created_at) VALUES ($1, $2, $3, '2026-01-01T00:00:00.000Z')",
				&s),
		0);
	assert_int_equal(sr_stmt_bind_text(s, 1, x->user, strlen(x->user)), 0);
	assert_int_equal(sr_stmt_bind_blob(s, 2, blob, blob_len), 0);
	assert_int_equal(sr_stmt_bind_text(s, 3, state, strlen(state)), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);
	/* The secret's bytes are nowhere in the stored blob. */
	assert_null(memmem(blob, blob_len, x->secret, sizeof x->secret));
	free(blob);
}

static void code_at(struct ctx *x, int steps, char out[8])
{
	assert_int_equal(sr_totp_code(x->secret, sizeof x->secret,
				      sr_mfa_now() + steps * SR_TOTP_STEP_SECONDS, 6, out, 8),
			 0);
}

static enum sr_mfa_check login(struct ctx *x, const char *otp)
{
	enum sr_mfa_check r = SR_MFA_OK;
	assert_int_equal(sr_mfa_check_login(x->c, x->f->acc, x->user, otp, &r), 0);
	return r;
}

static int setup(void **state, enum sr_store_kind kind)
{
	struct ctx *x = calloc(1, sizeof *x);
	x->f = acc_setup(kind);
	acc_member(x->f, "mfa.member@example.test", "Mia Member", x->user);
	assert_int_equal(sr_store_acquire(x->f->st, &x->c), 0);
	randombytes_buf(x->secret, sizeof x->secret);
	*state = x;
	return 0;
}
static int setup_sqlite(void **state)
{
	return setup(state, SR_STORE_SQLITE);
}
static int setup_pg(void **state)
{
	return setup(state, SR_STORE_POSTGRES);
}
static int teardown(void **state)
{
	struct ctx *x = *state;
	sr_store_release(x->c);
	acc_teardown(x->f);
	free(x);
	return 0;
}

static void test_pending_does_not_guard_login(void **state)
{
	struct ctx *x = *state;
	bool on = true;
	assert_int_equal(login(x, NULL), SR_MFA_NOT_ENROLLED);
	put_secret(x, "pending");
	assert_int_equal(login(x, NULL), SR_MFA_NOT_ENROLLED);
	assert_int_equal(sr_mfa_enabled(x->c, x->user, &on), 0);
	assert_false(on);
	/* Confirmation checks the pending secret. */
	char code[8];
	code_at(x, 0, code);
	enum sr_mfa_check r;
	assert_int_equal(sr_mfa_verify(x->c, x->f->acc, x->user, "pending", code, false, &r), 0);
	assert_int_equal(r, SR_MFA_OK);
}

static void test_each_step_once_and_drift(void **state)
{
	struct ctx *x = *state;
	char prev[8], now[8], next[8], far[8];
	put_secret(x, "enabled");
	bool on = false;
	assert_int_equal(sr_mfa_enabled(x->c, x->user, &on), 0);
	assert_true(on);
	code_at(x, -1, prev);
	code_at(x, 0, now);
	code_at(x, 1, next);
	code_at(x, 2, far);
	assert_int_equal(login(x, NULL), SR_MFA_MISSING);
	assert_int_equal(login(x, ""), SR_MFA_MISSING);
	if (strcmp(far, now) != 0 && strcmp(far, prev) != 0 && strcmp(far, next) != 0)
		assert_int_equal(login(x, far), SR_MFA_BAD_CODE);
	assert_int_equal(login(x, prev), SR_MFA_OK); /* one step late: fine */
	assert_int_equal(login(x, prev), SR_MFA_USED_CODE);
	assert_int_equal(login(x, now), SR_MFA_OK);
	assert_int_equal(login(x, now), SR_MFA_USED_CODE);
	assert_int_equal(login(x, prev), SR_MFA_USED_CODE); /* older than the last */
	assert_int_equal(login(x, next), SR_MFA_OK);        /* one step early: fine */
	assert_int_equal(login(x, now), SR_MFA_USED_CODE);
	assert_int_equal(login(x, "12345"), SR_MFA_BAD_CODE);
	assert_int_equal(login(x, "abcdef"), SR_MFA_BAD_CODE);
}

static void test_recovery_codes_once_each(void **state)
{
	struct ctx *x = *state;
	char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT];
	int64_t left = 0;
	put_secret(x, "enabled");
	assert_int_equal(sr_mfa_new_recovery_codes(x->c, x->f->acc, x->user, codes), 0);
	assert_int_equal(sr_mfa_recovery_remaining(x->c, x->user, &left), 0);
	assert_int_equal(left, SR_RECOVERY_CODES);
	assert_int_equal(login(x, codes[2]), SR_MFA_OK_RECOVERY);
	assert_int_equal(login(x, codes[2]), SR_MFA_BAD_CODE);
	/* Typed loosely: upper case, spaces instead of dashes. */
	char loose[SR_RECOVERY_CODE_TEXT + 2];
	snprintf(loose, sizeof loose, "%s", codes[7]);
	for (char *p = loose; *p; p++)
		*p = *p == '-' ? ' ' : (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
	assert_int_equal(login(x, loose), SR_MFA_OK_RECOVERY);
	assert_int_equal(sr_mfa_recovery_remaining(x->c, x->user, &left), 0);
	assert_int_equal(left, SR_RECOVERY_CODES - 2);
	assert_int_equal(login(x, "0000-0000-0000"), SR_MFA_BAD_CODE);
	/* New codes replace the old ones. */
	char fresh[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT];
	assert_int_equal(sr_mfa_new_recovery_codes(x->c, x->f->acc, x->user, fresh), 0);
	assert_int_equal(login(x, codes[3]), SR_MFA_BAD_CODE);
	assert_int_equal(login(x, fresh[3]), SR_MFA_OK_RECOVERY);
}

static void test_remove(void **state)
{
	struct ctx *x = *state;
	char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT];
	bool removed = false, on = true;
	put_secret(x, "enabled");
	assert_int_equal(sr_mfa_new_recovery_codes(x->c, x->f->acc, x->user, codes), 0);
	assert_int_equal(sr_mfa_remove(x->c, x->user, &removed), 0);
	assert_true(removed);
	assert_int_equal(sr_mfa_enabled(x->c, x->user, &on), 0);
	assert_false(on);
	assert_int_equal(login(x, codes[0]), SR_MFA_NOT_ENROLLED);
	int64_t left = -1;
	assert_int_equal(sr_mfa_recovery_remaining(x->c, x->user, &left), 0);
	assert_int_equal(left, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(test_pending_does_not_guard_login), T(test_each_step_once_and_drift),                    \
		T(test_recovery_codes_once_each), T(test_remove)

int main(void)
{
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("mfa/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("mfa/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_mfa");
	return failed;
}
