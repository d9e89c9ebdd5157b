/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token storage on both backends: sealed cards (vault/card_secret: round
 * trip, bound to their id, tamper-evident, no PAN in the ciphertext) and
 * sr_tokens_consume (single use, expiry, unknown ids, a rolled-back spend
 * leaves the token usable) plus sr_tokens_purge. The HTTP side is covered by
 * tests/e2e/vault_tokens.test.mjs.
 */
#include "store/migrate.h"
#include "vault/card_secret.h"
#include "vault/keyring.h"
#include "vault/tokens.h"

#include "store_testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct fixture {
	struct testdb db;
	struct sr_store *st;
	struct sr_keyring *ring;
};

static struct fixture *fx_new(void **state)
{
	struct fixture *f = sr_xcalloc(1, sizeof *f);
	unsigned char kek[SR_KEYRING_KEK_LEN];
	char msg[256];
	assert_int_equal(testdb_create(*(enum sr_store_kind *)*state, &f->db), 0);
	f->st = testdb_open(&f->db, 4, 10000);
	assert_non_null(f->st);
	assert_int_equal(sr_migrate(f->st, "vault", msg, sizeof msg), 0);
	randombytes_buf(kek, sizeof kek);
	assert_int_equal(sr_keyring_open(f->st, kek, &f->ring), 0);
	sodium_memzero(kek, sizeof kek);
	return f;
}

static void fx_free(struct fixture *f)
{
	sr_keyring_close(f->ring);
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
}

static struct sr_vault_card *sample_card(const char *number)
{
	struct sr_vault_card *c = sr_vault_card_new();
	assert_int_equal(sr_card_pan_parse(number, strlen(number), &c->pan), 0);
	c->exp_month = 7;
	c->exp_year = 2031;
	snprintf(c->name, sizeof c->name, "Jenny Rosen");
	assert_int_equal(sr_card_pan_bin6(&c->pan, c->bin6), 0);
	assert_int_equal(sr_card_pan_last4(&c->pan, c->last4), 0);
	snprintf(c->fingerprint, sizeof c->fingerprint, "fp_%043d", 7);
	snprintf(c->cvc_check, sizeof c->cvc_check, "pass");
	return c;
}

static bool contains(const unsigned char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (sodium_memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

static void test_seal_open(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_vault_card *c = sample_card("378282246310005"), *back = NULL;
	unsigned char *blob = NULL;
	size_t len = 0;
	assert_int_equal(sr_vault_card_seal(f->ring, "card_abc", c, &blob, &len), 0);
	assert_false(contains(blob, len, "378282246310005"));
	assert_false(contains(blob, len, "Jenny"));

	assert_int_equal(sr_vault_card_open(f->ring, "card_abc", blob, len, &back), 0);
	assert_string_equal(back->pan.digits, "378282246310005");
	assert_int_equal(back->pan.brand, SR_CARD_BRAND_AMEX);
	assert_string_equal(sr_vault_card_brand(back), "amex");
	assert_int_equal(back->exp_month, 7);
	assert_int_equal(back->exp_year, 2031);
	assert_string_equal(back->name, "Jenny Rosen");
	assert_string_equal(back->bin6, "378282");
	assert_string_equal(back->last4, "0005");
	assert_string_equal(back->fingerprint, c->fingerprint);
	assert_string_equal(back->cvc_check, "pass");
	struct sr_proc_card pc = sr_vault_card_proc(back);
	assert_ptr_equal(pc.pan, &back->pan);
	assert_null(pc.cvc); /* the vault keeps no CVC */
	sr_vault_card_free(back);
	back = NULL;

	/* Bound to its id: copied under another row, it does not open. */
	assert_int_equal(sr_vault_card_open(f->ring, "card_abd", blob, len, &back), SR_E_CRYPTO);
	assert_null(back);
	/* Tampered anywhere: refused. */
	for (size_t i = 0; i < len; i += 7) {
		blob[i] ^= 0x01;
		assert_int_not_equal(sr_vault_card_open(f->ring, "card_abc", blob, len, &back), 0);
		assert_null(back);
		blob[i] ^= 0x01;
	}
	/* Other data sealed by the ring is not a card. */
	unsigned char *other = NULL;
	size_t olen = 0;
	assert_int_equal(sr_keyring_encrypt(f->ring, "card_x", 6, "hello", 5, &other, &olen), 0);
	assert_int_equal(sr_vault_card_open(f->ring, "card_x", other, olen, &back), SR_E_CRYPTO);
	free(other);
	/* A card without a PAN is not sealed. */
	struct sr_vault_card *empty = sr_vault_card_new();
	unsigned char *b2 = NULL;
	size_t l2 = 0;
	assert_int_equal(sr_vault_card_seal(f->ring, "card_e", empty, &b2, &l2), SR_E_INVAL);
	assert_int_equal(sr_vault_card_seal(f->ring, "", c, &b2, &l2), SR_E_INVAL);
	assert_null(b2);
	sr_vault_card_free(empty);
	free(blob);
	sr_vault_card_free(c);
	fx_free(f);
}

/* Inserts a token row as POST /v1/tokens stores it. */
static void put_token(struct fixture *f, const char *id, int64_t created, int64_t expires)
{
	struct sr_vault_card *c = sample_card("4242424242424242");
	unsigned char *blob = NULL;
	size_t len = 0;
	struct sr_conn *conn = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_vault_card_seal(f->ring, id, c, &blob, &len), 0);
	assert_int_equal(sr_store_acquire(f->st, &conn), 0);
	assert_int_equal(
		sr_stmt_prepare(
			conn,
			"INSERT INTO vault_tokens (id, sealed_card, brand, bin6, last4, "
			"exp_month, exp_year, fingerprint, cvc_check, api_key_id, created_at, "
			"created_s, expires_s) VALUES ($1, $2, 'visa', '424242', '4242', 7, "
			"2031, 'fp_x', 'pass', 'key_x', '2026-01-01T00:00:00Z', $3, $4)",
			&s),
		0);
	assert_int_equal(sr_stmt_bind_text(s, 1, id, strlen(id)), 0);
	assert_int_equal(sr_stmt_bind_blob(s, 2, blob, len), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 3, created), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 4, expires), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);
	sr_store_release(conn);
	free(blob);
	sr_vault_card_free(c);
}

struct consume_job {
	struct sr_keyring *ring;
	const char *id;
	int64_t now;
	bool fail_after; /* roll the transaction back after spending */
	struct sr_vault_card *card;
};

static int consume_tx(struct sr_conn *c, void *arg)
{
	struct consume_job *j = arg;
	sr_vault_card_free(j->card); /* from an earlier run (retries) */
	j->card = NULL;
	int rc = sr_tokens_consume(c, j->ring, j->id, "card_test", j->now, &j->card);
	if (rc == 0 && j->fail_after)
		rc = SR_E_CONFLICT;
	return rc;
}

static int consume(struct fixture *f, const char *id, int64_t now, bool fail_after,
		   struct sr_vault_card **out)
{
	struct consume_job j = {.ring = f->ring, .id = id, .now = now, .fail_after = fail_after};
	int rc = sr_store_tx(f->st, SR_TX_WRITE, consume_tx, &j);
	if (rc == 0 && out != NULL) {
		*out = j.card;
		j.card = NULL;
	}
	sr_vault_card_free(j.card);
	return rc;
}

static void test_consume(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_vault_card *card = NULL;
	put_token(f, "tok_one", 1000, 1900);
	put_token(f, "tok_old", 1000, 1100);

	/* A spend that rolls back leaves the token usable. */
	assert_int_equal(consume(f, "tok_one", 1200, true, NULL), SR_E_CONFLICT);
	assert_int_equal(consume(f, "tok_one", 1200, false, &card), 0);
	assert_string_equal(card->pan.digits, "4242424242424242");
	assert_string_equal(card->last4, "4242");
	sr_vault_card_free(card);
	card = NULL;
	/* Single use. */
	assert_int_equal(consume(f, "tok_one", 1201, false, &card), SR_E_NOTFOUND);
	assert_null(card);
	/* Expired, unknown, malformed: all the same answer. */
	assert_int_equal(consume(f, "tok_old", 1200, false, &card), SR_E_NOTFOUND);
	assert_int_equal(consume(f, "tok_none", 1200, false, &card), SR_E_NOTFOUND);
	assert_int_equal(consume(f, "card_one", 1200, false, &card), SR_E_NOTFOUND);
	/* Expiry is exclusive: at expires_s the token is gone. */
	put_token(f, "tok_edge", 1000, 1500);
	assert_int_equal(consume(f, "tok_edge", 1500, false, &card), SR_E_NOTFOUND);

	/* The spend is on record with what it paid for. */
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	size_t n;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(
		sr_stmt_prepare(c, "SELECT used_s, used_by FROM vault_tokens WHERE id = 'tok_one'",
				&s),
		0);
	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 1200);
	assert_string_equal(sr_stmt_col_text(s, 1, &n), "card_test");
	sr_stmt_done(s);

	/* Purge: used and expired tokens older than keep_s go; live ones stay. */
	put_token(f, "tok_live", 5000, 5900);
	assert_int_equal(sr_tokens_purge(c, 5000, 60, 100), 3);
	assert_int_equal(sr_stmt_prepare(c, "SELECT id FROM vault_tokens", &s), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	assert_string_equal(sr_stmt_col_text(s, 0, &n), "tok_live");
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);
	sr_store_release(c);
	fx_free(f);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	static enum sr_store_kind sqlite = SR_STORE_SQLITE, pg = SR_STORE_POSTGRES;
#define T(fn, k) cmocka_unit_test_prestate(fn, &k)
	const struct CMUnitTest on_sqlite[] = {
		T(test_seal_open, sqlite),
		T(test_consume, sqlite),
	};
	const struct CMUnitTest on_pg[] = {
		T(test_seal_open, pg),
		T(test_consume, pg),
	};
	int failed = cmocka_run_group_tests_name("tokens/sqlite", on_sqlite, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("tokens/postgres", on_pg, NULL, NULL);
	else
		testdb_pg_skip_notice("test_tokens");
	return failed;
}
