/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Personal-data keys (platform/pii.c) on both backends: a field sealed for
 * one member opens only for that member and that field; the member key is
 * stored wrapped (its bytes appear nowhere in the row); a wrong KEK cannot
 * unwrap it; shredding deletes it so that the sealed email and name stay in
 * the users row but can no longer be opened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "accounts_test.h"
#include "platform/auth.h"
#include "platform/pii.h"

struct tx {
	struct acc_fixture *f;
	const char *user;
	int step;
	int rc;
	char *value;
	size_t len;
	unsigned char *blob;
	size_t blob_len;
	bool shredded;
};

static int seal_open_tx(struct sr_conn *c, void *arg)
{
	struct tx *t = arg;
	const struct sr_pii *p = sr_accounts_pii(t->f->acc);
	free(t->blob);
	t->blob = NULL;
	if (t->value != NULL)
		sodium_free(t->value);
	t->value = NULL;
	int rc = sr_pii_seal(c, p, t->user, "phone", "+15005550006", 12, &t->blob, &t->blob_len);
	if (rc != 0)
		return rc;
	rc = sr_pii_open(c, p, t->user, "phone", t->blob, t->blob_len, &t->value, &t->len);
	if (rc != 0)
		return rc;
	assert_string_equal(t->value, "+15005550006");
	sodium_free(t->value);
	t->value = NULL;
	/* Another field name, the same bytes: refused. */
	assert_int_equal(
		sr_pii_open(c, p, t->user, "address", t->blob, t->blob_len, &t->value, &t->len),
		SR_E_CRYPTO);
	assert_null(t->value);
	return 0;
}

static void test_seal_open_field_and_member_bound(void **state)
{
	struct acc_fixture *f = *state;
	char a[SR_USER_ID_SIZE], b[SR_USER_ID_SIZE];
	acc_member(f, "alice@example.test", "Alice Example", a);
	acc_member(f, "bob@example.test", "Bob Example", b);
	struct tx t = {.f = f, .user = a};
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, seal_open_tx, &t), 0);

	/* Bob's key does not open Alice's blob. */
	struct sr_conn *c = NULL;
	char *v = NULL;
	size_t n = 0;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(
		sr_pii_open(c, sr_accounts_pii(f->acc), b, "phone", t.blob, t.blob_len, &v, &n),
		SR_E_CRYPTO);
	/* A byte changed anywhere: refused. */
	t.blob[t.blob_len - 1] ^= 1;
	assert_int_equal(
		sr_pii_open(c, sr_accounts_pii(f->acc), a, "phone", t.blob, t.blob_len, &v, &n),
		SR_E_CRYPTO);
	/* Bad field names and oversize values are refused before any crypto. */
	unsigned char *blob = NULL;
	size_t bl = 0;
	assert_int_equal(sr_pii_seal(c, sr_accounts_pii(f->acc), a, "Phone!", "x", 1, &blob, &bl),
			 SR_E_INVAL);
	static char big[SR_PII_VALUE_MAX + 1];
	assert_int_equal(
		sr_pii_seal(c, sr_accounts_pii(f->acc), a, "phone", big, sizeof big, &blob, &bl),
		SR_E_LIMIT);
	assert_null(blob);
	sr_store_release(c);
	free(t.blob);
}

static int shred_tx(struct sr_conn *c, void *arg)
{
	struct tx *t = arg;
	return sr_pii_shred(c, t->user, &t->shredded);
}

static void test_shred_makes_fields_unreadable(void **state)
{
	struct acc_fixture *f = *state;
	char a[SR_USER_ID_SIZE];
	acc_member(f, "carol@example.test", "Carol Example", a);
	struct sr_conn *c = NULL;
	char *email = NULL, *name = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_auth_member_email(c, f->acc, a, &email), 0);
	assert_string_equal(email, "carol@example.test");
	assert_int_equal(sr_auth_member_name(c, f->acc, a, &name), 0);
	assert_string_equal(name, "Carol Example");
	sodium_free(email);
	sodium_free(name);
	sr_store_release(c);

	struct tx t = {.f = f, .user = a};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, shred_tx, &t), 0);
	assert_true(t.shredded);
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, shred_tx, &t), 0);
	assert_false(t.shredded);

	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	/* The ciphertext is still in the row ... */
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_stmt_prepare(c, "SELECT email_sealed FROM users WHERE id = $1", &s), 0);
	assert_int_equal(sr_stmt_bind_text(s, 1, a, strlen(a)), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	size_t bl = 0;
	sr_stmt_col_blob(s, 0, &bl);
	assert_true(bl > 18);
	sr_stmt_done(s);
	/* ... and nobody can open it. */
	assert_int_equal(sr_auth_member_email(c, f->acc, a, &email), SR_E_NOTFOUND);
	assert_null(email);
	sr_store_release(c);
}

static void test_wrong_kek_cannot_unwrap(void **state)
{
	struct acc_fixture *f = *state;
	char a[SR_USER_ID_SIZE];
	acc_member(f, "dave@example.test", "Dave Example", a);
	unsigned char other[SR_PII_KEK_LEN];
	randombytes_buf(other, sizeof other);
	struct sr_pii *p = NULL;
	assert_int_equal(sr_pii_from_bytes(other, &p), 0);
	struct sr_conn *c = NULL;
	struct sr_pii_member_key *k = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_pii_member_key_load(c, p, a, &k), SR_E_CRYPTO);
	assert_null(k);
	assert_int_equal(sr_pii_member_key_load(c, sr_accounts_pii(f->acc), a, &k), 0);
	assert_non_null(k);
	sr_pii_member_key_free(k);
	assert_int_equal(sr_pii_member_key_load(c, sr_accounts_pii(f->acc), "usr_nobody", &k),
			 SR_E_NOTFOUND);
	sr_store_release(c);
	sr_pii_free(p);
}

static int setup_sqlite(void **state)
{
	*state = acc_setup(SR_STORE_SQLITE);
	return 0;
}
static int setup_pg(void **state)
{
	*state = acc_setup(SR_STORE_POSTGRES);
	return 0;
}
static int teardown(void **state)
{
	acc_teardown(*state);
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(test_seal_open_field_and_member_bound), T(test_shred_makes_fields_unreadable),           \
		T(test_wrong_kek_cannot_unwrap)

int main(void)
{
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("pii/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("pii/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_pii");
	return failed;
}
