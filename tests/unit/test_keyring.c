/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault/keyring on both backends: SQLite in a temporary folder and
 * PostgreSQL in a fresh database at SR_TEST_PG_URL (skipped loudly when that
 * is unset). Each test gets its own migrated database.
 */
#include "crypto/envelope.h"
#include "crypto/jwe.h"
#include "store/migrate.h"
#include "vault/keyring.h"

#include "jwe_test_encrypt.h"
#include "store_testdb.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

struct fixture {
	struct testdb db;
	struct sr_store *st;
	unsigned char kek[SR_KEYRING_KEK_LEN];
};

static enum sr_store_kind kind_of(void **state)
{
	return *(enum sr_store_kind *)*state;
}

static struct fixture *fx_new(void **state)
{
	struct fixture *f = sr_xcalloc(1, sizeof *f);
	char msg[256];
	assert_int_equal(testdb_create(kind_of(state), &f->db), 0);
	f->st = testdb_open(&f->db, 4, 10000);
	assert_non_null(f->st);
	int rc = sr_migrate(f->st, "vault", msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "migrate: %s\n", msg);
	assert_int_equal(rc, 0);
	randombytes_buf(f->kek, sizeof f->kek);
	return f;
}

static void fx_free(struct fixture *f)
{
	sr_store_close(f->st);
	testdb_drop(&f->db);
	sodium_memzero(f, sizeof *f);
	free(f);
}

static int64_t count(struct fixture *f, const char *sql)
{
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, sql, &s), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	int64_t v = sr_stmt_col_i64(s, 0);
	sr_stmt_done(s);
	sr_store_release(c);
	return v;
}

static struct sr_keyring *open_ok(struct fixture *f, const unsigned char *kek)
{
	struct sr_keyring *r = NULL;
	assert_int_equal(sr_keyring_open(f->st, kek, &r), 0);
	assert_non_null(r);
	return r;
}

static void enc(struct sr_keyring *r, const char *aad, const char *pt, unsigned char **blob,
		size_t *len)
{
	assert_int_equal(sr_keyring_encrypt(r, aad, strlen(aad), pt, strlen(pt), blob, len), 0);
}

static void dec_ok(struct sr_keyring *r, const char *aad, const unsigned char *blob, size_t len,
		   const char *want)
{
	unsigned char *pt = NULL;
	size_t n = 0;
	assert_int_equal(sr_keyring_decrypt(r, aad, strlen(aad), blob, len, &pt, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(pt, want, n);
	sodium_free(pt);
}

static const char *blob_key(const unsigned char *blob, size_t len, char *out)
{
	struct sr_envelope_view v;
	assert_int_equal(sr_envelope_parse(blob, len, &v), 0);
	memcpy(out, v.key_id, strlen(v.key_id) + 1);
	return out;
}

static void test_first_open_and_reopen(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_keyring *r = open_ok(f, f->kek);
	char dk[SR_KEYRING_ID_MAX + 1], kid[SR_KEYRING_ID_MAX + 1], id[SR_KEYRING_ID_MAX + 1];
	assert_int_equal(sr_keyring_active_data_key(r, dk), 0);
	assert_int_equal(strncmp(dk, "dk_", 3), 0);
	assert_int_equal(sr_keyring_active_kid(r, kid), 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys"), 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_rsa_keys"), 1);

	unsigned char *blob = NULL;
	size_t len = 0;
	enc(r, "card_1", "4242424242424242", &blob, &len);
	assert_string_equal(blob_key(blob, len, id), dk);
	dec_ok(r, "card_1", blob, len, "4242424242424242");
	unsigned char *pt = NULL;
	size_t n = 0;
	assert_int_equal(sr_keyring_decrypt(r, "card_2", 6, blob, len, &pt, &n), SR_E_CRYPTO);
	blob[len - 1] ^= 1;
	assert_int_equal(sr_keyring_decrypt(r, "card_1", 6, blob, len, &pt, &n), SR_E_CRYPTO);
	blob[len - 1] ^= 1;
	sr_keyring_close(r);

	/* Reopen: the same keys, nothing new created. */
	r = open_ok(f, f->kek);
	char dk2[SR_KEYRING_ID_MAX + 1], kid2[SR_KEYRING_ID_MAX + 1];
	assert_int_equal(sr_keyring_active_data_key(r, dk2), 0);
	assert_int_equal(sr_keyring_active_kid(r, kid2), 0);
	assert_string_equal(dk, dk2);
	assert_string_equal(kid, kid2);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys"), 1);
	dec_ok(r, "card_1", blob, len, "4242424242424242");
	sr_keyring_close(r);
	free(blob);
	fx_free(f);
}

static void test_wrong_kek_refused(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_keyring *r = open_ok(f, f->kek);
	sr_keyring_close(r);
	unsigned char other[SR_KEYRING_KEK_LEN];
	memcpy(other, f->kek, sizeof other);
	other[31] ^= 0x80;
	r = (struct sr_keyring *)1;
	assert_int_equal(sr_keyring_open(f->st, other, &r), SR_E_AUTH);
	assert_null(r);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys"), 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_keks"), 1);
	fx_free(f);
}

static void test_rotate_data_key(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_keyring *r = open_ok(f, f->kek);
	char old_id[SR_KEYRING_ID_MAX + 1], new_id[SR_KEYRING_ID_MAX + 1],
		id[SR_KEYRING_ID_MAX + 1];
	unsigned char *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	assert_int_equal(sr_keyring_active_data_key(r, old_id), 0);
	enc(r, "card_1", "old", &b1, &l1);
	assert_int_equal(sr_keyring_rotate_data_key(r, new_id), 0);
	assert_string_not_equal(old_id, new_id);
	enc(r, "card_2", "new", &b2, &l2);
	assert_string_equal(blob_key(b2, l2, id), new_id);
	dec_ok(r, "card_1", b1, l1, "old");
	dec_ok(r, "card_2", b2, l2, "new");
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys WHERE state = 'active'"),
			 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys WHERE state = 'retired'"),
			 1);
	/* Another instance (its own ring) learns the new key on its own. */
	struct sr_keyring *r2 = open_ok(f, f->kek);
	dec_ok(r2, "card_1", b1, l1, "old");
	dec_ok(r2, "card_2", b2, l2, "new");
	sr_keyring_close(r2);
	sr_keyring_close(r);
	free(b1);
	free(b2);
	fx_free(f);
}

static void test_no_plain_key_in_db(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_keyring *r = open_ok(f, f->kek);
	/* Each wrapped key is an envelope under the KEK that names the KEK
	 * version, 32 key bytes plus overhead: never the raw 32 bytes. */
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys WHERE "
				  "LENGTH(wrapped_key) = 32"),
			 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys WHERE "
				  "LENGTH(wrapped_key) > 32"),
			 1);
	sr_keyring_close(r);
	fx_free(f);
}

struct stop_after {
	unsigned calls, stop_at;
	uint64_t last_done, last_total;
};

static int progress(void *arg, uint64_t done, uint64_t total)
{
	struct stop_after *s = arg;
	s->calls++;
	assert_true(done <= total);
	assert_true(done > s->last_done);
	s->last_done = done;
	s->last_total = total;
	return s->stop_at != 0 && s->calls >= s->stop_at;
}

static void test_rewrap(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_keyring *r = open_ok(f, f->kek);
	unsigned char *b1 = NULL, *b2 = NULL;
	size_t l1 = 0, l2 = 0;
	enc(r, "c1", "one", &b1, &l1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sr_keyring_rotate_data_key(r, NULL), 0);
	enc(r, "c2", "two", &b2, &l2);
	/* 5 data keys + 1 RSA key. */
	unsigned char kek2[SR_KEYRING_KEK_LEN];
	randombytes_buf(kek2, sizeof kek2);
	assert_int_equal(sr_keyring_rewrap(r, f->kek, 0, NULL, NULL), SR_E_INVAL);

	/* Interrupted after the first batch of 2. */
	struct stop_after stop = {.stop_at = 1};
	assert_int_equal(sr_keyring_rewrap(r, kek2, 2, progress, &stop), SR_E_UNAVAILABLE);
	assert_int_equal(stop.last_done, 2);
	assert_int_equal(stop.last_total, 6);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys WHERE kek_version = 2"), 2);
	/* The interrupted ring still works; the database still opens with the
	 * old KEK, not with a third one. */
	dec_ok(r, "c1", b1, l1, "one");
	sr_keyring_close(r);
	unsigned char kek3[SR_KEYRING_KEK_LEN];
	randombytes_buf(kek3, sizeof kek3);
	struct sr_keyring *bad = NULL;
	assert_int_equal(sr_keyring_open(f->st, kek3, &bad), SR_E_AUTH);
	r = open_ok(f, f->kek);
	/* A different new KEK cannot hijack the half-done re-wrap. */
	assert_int_equal(sr_keyring_rewrap(r, kek3, 2, NULL, NULL), SR_E_CONFLICT);
	/* Resume with the same new KEK: it continues from 2 of 6. */
	struct stop_after go = {.last_done = 2};
	assert_int_equal(sr_keyring_rewrap(r, kek2, 2, progress, &go), 0);
	assert_int_equal(go.last_done, 6);
	assert_int_equal(go.calls, 2);
	dec_ok(r, "c1", b1, l1, "one");
	dec_ok(r, "c2", b2, l2, "two");
	sr_keyring_close(r);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys WHERE kek_version <> 2"),
			 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_rsa_keys WHERE kek_version <> 2"), 0);

	/* Now the new KEK opens it and the old one is refused. */
	assert_int_equal(sr_keyring_open(f->st, f->kek, &bad), SR_E_AUTH);
	assert_null(bad);
	r = open_ok(f, kek2);
	dec_ok(r, "c1", b1, l1, "one");
	dec_ok(r, "c2", b2, l2, "two");
	char kid[SR_KEYRING_ID_MAX + 1];
	EVP_PKEY *pk = NULL;
	assert_int_equal(sr_keyring_active_kid(r, kid), 0);
	assert_int_equal(sr_keyring_rsa_for_kid(r, kid, &pk), 0);
	EVP_PKEY_free(pk);
	sr_keyring_close(r);
	free(b1);
	free(b2);
	fx_free(f);
}

static char *jwe_for(EVP_PKEY *pk, const char *kid, const char *msg)
{
	char hdr[160];
	snprintf(hdr, sizeof hdr, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"%s\"}",
		 kid);
	char *c = tje_encrypt(pk, hdr, (const unsigned char *)msg, strlen(msg), 32);
	assert_non_null(c);
	return c;
}

static void jwe_ok(struct sr_keyring *r, const char *compact, const char *want)
{
	struct sr_jose_jwe jwe;
	EVP_PKEY *pk = NULL;
	unsigned char *pt = NULL;
	size_t n = 0;
	assert_int_equal(sr_jose_parse(compact, strlen(compact), &jwe), 0);
	assert_int_equal(sr_keyring_rsa_for_kid(r, jwe.kid, &pk), 0);
	assert_int_equal(sr_jwe_decrypt(&jwe, pk, &pt, &n), 0);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(pt, want, n);
	sodium_free(pt);
	EVP_PKEY_free(pk);
	sr_jose_clear(&jwe);
}

static bool jwks_has(json_t *jwks, const char *kid)
{
	size_t i;
	json_t *k;
	json_array_foreach(json_object_get(jwks, "keys"), i, k)
	{
		if (strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0)
			return true;
	}
	return false;
}

static void test_rsa_rotation(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_keyring *r = open_ok(f, f->kek);
	char old_kid[SR_KEYRING_ID_MAX + 1], new_kid[SR_KEYRING_ID_MAX + 1];
	EVP_PKEY *pk = NULL;
	json_t *jwks = NULL;
	assert_int_equal(sr_keyring_active_kid(r, old_kid), 0);
	assert_int_equal(sr_keyring_jwks(r, &jwks), 0);
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
	json_t *k = json_array_get(json_object_get(jwks, "keys"), 0);
	assert_string_equal(json_string_value(json_object_get(k, "kty")), "RSA");
	assert_string_equal(json_string_value(json_object_get(k, "use")), "enc");
	assert_string_equal(json_string_value(json_object_get(k, "alg")), "RSA-OAEP-256");
	assert_string_equal(json_string_value(json_object_get(k, "e")), "AQAB");
	assert_int_equal(strlen(json_string_value(json_object_get(k, "n"))), 342); /* 256 bytes */
	assert_null(json_object_get(k, "d"));
	json_decref(jwks);

	assert_int_equal(sr_keyring_rsa_for_kid(r, old_kid, &pk), 0);
	char *old_jwe = jwe_for(pk, old_kid, "{\"n\":1}");
	EVP_PKEY_free(pk);

	assert_int_equal(sr_keyring_rotate_rsa(r, 2, new_kid), 0);
	assert_string_not_equal(old_kid, new_kid);
	/* During the grace period: both listed, the new one first, old still
	 * decrypts (also on an instance that opens now). */
	assert_int_equal(sr_keyring_jwks(r, &jwks), 0);
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(jwks, "keys"), 0), "kid")),
			    new_kid);
	assert_true(jwks_has(jwks, old_kid));
	json_decref(jwks);
	jwe_ok(r, old_jwe, "{\"n\":1}");
	struct sr_keyring *r2 = open_ok(f, f->kek);
	jwe_ok(r2, old_jwe, "{\"n\":1}");
	assert_int_equal(sr_keyring_rsa_for_kid(r, new_kid, &pk), 0);
	char *new_jwe = jwe_for(pk, new_kid, "{\"n\":2}");
	EVP_PKEY_free(pk);
	jwe_ok(r2, new_jwe, "{\"n\":2}");

	sleep(3);
	/* After the grace period: only the new kid. */
	assert_int_equal(sr_keyring_jwks(r, &jwks), 0);
	assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
	assert_true(jwks_has(jwks, new_kid));
	json_decref(jwks);
	assert_int_equal(sr_keyring_rsa_for_kid(r, old_kid, &pk), SR_E_NOTFOUND);
	assert_null(pk);
	assert_int_equal(sr_keyring_rsa_for_kid(r2, old_kid, &pk), SR_E_NOTFOUND);
	assert_int_equal(sr_keyring_rsa_for_kid(r, "rk_unknown", &pk), SR_E_NOTFOUND);
	jwe_ok(r, new_jwe, "{\"n\":2}");
	/* The next rotation records the expired one as retired. */
	assert_int_equal(sr_keyring_rotate_rsa(r, 0, NULL), 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_rsa_keys WHERE state = 'retired'"),
			 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_rsa_keys WHERE state = 'active'"), 1);
	sr_keyring_close(r2);
	sr_keyring_close(r);
	free(old_jwe);
	free(new_jwe);
	fx_free(f);
}

struct opener {
	struct fixture *f;
	int rc;
	struct sr_keyring *ring;
};

static void *open_thread(void *arg)
{
	struct opener *o = arg;
	o->rc = sr_keyring_open(o->f->st, o->f->kek, &o->ring);
	return NULL;
}

static void test_concurrent_first_open(void **state)
{
	struct fixture *f = fx_new(state);
	struct opener o[2] = {{.f = f}, {.f = f}};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(o[0].rc, 0);
	assert_int_equal(o[1].rc, 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_data_keys"), 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_rsa_keys"), 1);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM vault_keks"), 1);
	char a[SR_KEYRING_ID_MAX + 1], b[SR_KEYRING_ID_MAX + 1];
	assert_int_equal(sr_keyring_active_data_key(o[0].ring, a), 0);
	assert_int_equal(sr_keyring_active_data_key(o[1].ring, b), 0);
	assert_string_equal(a, b);
	sr_keyring_close(o[0].ring);
	sr_keyring_close(o[1].ring);
	fx_free(f);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	static enum sr_store_kind sqlite = SR_STORE_SQLITE, pg = SR_STORE_POSTGRES;
#define T(fn, k) cmocka_unit_test_prestate(fn, &k)
	const struct CMUnitTest on_sqlite[] = {
		T(test_first_open_and_reopen, sqlite),
		T(test_wrong_kek_refused, sqlite),
		T(test_rotate_data_key, sqlite),
		T(test_no_plain_key_in_db, sqlite),
		T(test_rewrap, sqlite),
		T(test_rsa_rotation, sqlite),
		T(test_concurrent_first_open, sqlite),
	};
	const struct CMUnitTest on_pg[] = {
		T(test_first_open_and_reopen, pg),
		T(test_wrong_kek_refused, pg),
		T(test_rotate_data_key, pg),
		T(test_no_plain_key_in_db, pg),
		T(test_rewrap, pg),
		T(test_rsa_rotation, pg),
		T(test_concurrent_first_open, pg),
	};
	int failed = cmocka_run_group_tests_name("keyring/sqlite", on_sqlite, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("keyring/postgres", on_pg, NULL, NULL);
	else
		testdb_pg_skip_notice("test_keyring");
	return failed;
}
