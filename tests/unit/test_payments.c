/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The payments core (src/vault/payments.c, cards_api.c) on both backends,
 * with a scripted processor instead of the sandbox so that what the
 * sandbox cannot show through the HTTP API is tested too: every decline
 * code on a charge (the sandbox already declines those cards at
 * tokenization), a processor that cannot be reached or whose answer is lost
 * (the operation stays pending, its Idempotency-Key stays in flight, and the
 * recovery pass completes it with money moved once), and the asynchronous
 * event sink (paid -> failed / returned, once, with its webhook). The HTTP
 * side is tests/e2e/vault_payments.test.mjs.
 */
#include "audit/audit.h"
#include "base/log.h"
#include "store/migrate.h"
#include "vault/card_secret.h"
#include "vault/keyring.h"
#include "vault/keys_api.h"
#include "vault/payments_int.h"

#include "store_testdb.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---- a scripted processor: outcome by PAN, dedup by op id ---- */

#define FAKE_OPS_MAX 64

struct fake_proc {
	bool unreachable; /* every call: SR_E_UNAVAILABLE, nothing recorded */
	bool lose_answer; /* record the outcome, then answer SR_E_UNAVAILABLE */
	int calls;
	struct {
		char op_id[SR_PROC_OP_ID_MAX + 1];
		struct sr_proc_result result;
	} ops[FAKE_OPS_MAX];
	int nops;  /* money-moving operations recorded (approved or not) */
	int moved; /* approved charges/payouts: money moved */
};

static const struct {
	const char *pan;
	enum sr_proc_status status;
	const char *code;
} script[] = {
	{"4000000000000002", SR_PROC_DECLINED, SR_PROC_CODE_GENERIC_DECLINE},
	{"4000000000009995", SR_PROC_DECLINED, SR_PROC_CODE_INSUFFICIENT_FUNDS},
	{"4000000000000127", SR_PROC_DECLINED, SR_PROC_CODE_INCORRECT_CVC},
	{"4000000000000069", SR_PROC_DECLINED, SR_PROC_CODE_EXPIRED_CARD},
	{"4000000000000119", SR_PROC_ERROR, SR_PROC_CODE_PROCESSING_ERROR},
	{"4000002760003184", SR_PROC_REQUIRES_AUTHENTICATION, SR_PROC_CODE_AUTHENTICATION_REQUIRED},
};

static int fake_op(void *ctx, const char *op_id, const struct sr_proc_card *card, bool payout,
		   struct sr_proc_result *out)
{
	struct fake_proc *fp = ctx;
	memset(out, 0, sizeof *out);
	fp->calls++;
	if (fp->unreachable)
		return SR_E_UNAVAILABLE;
	for (int i = 0; i < fp->nops; i++)
		if (strcmp(fp->ops[i].op_id, op_id) == 0) {
			*out = fp->ops[i].result; /* dedup: the first outcome */
			return 0;
		}
	out->status = SR_PROC_APPROVED;
	for (size_t i = 0; i < sizeof script / sizeof script[0]; i++)
		if (strcmp(card->pan->digits, script[i].pan) == 0) {
			out->status = script[i].status;
			snprintf(out->code, sizeof out->code, "%s", script[i].code);
		}
	if (payout && out->status == SR_PROC_APPROVED && card->pan->digits[0] != '5') {
		out->status = SR_PROC_DECLINED;
		snprintf(out->code, sizeof out->code, "%s", SR_PROC_CODE_PAYOUTS_NOT_ALLOWED);
	}
	snprintf(out->reference, sizeof out->reference, "fake_%s", op_id);
	assert_true(fp->nops < FAKE_OPS_MAX);
	snprintf(fp->ops[fp->nops].op_id, sizeof fp->ops[0].op_id, "%s", op_id);
	fp->ops[fp->nops++].result = *out;
	if (out->status == SR_PROC_APPROVED)
		fp->moved++;
	return fp->lose_answer ? SR_E_UNAVAILABLE : 0;
}

static int fake_charge(void *ctx, const char *op_id, const struct sr_proc_card *card,
		       int64_t amount, const char *currency, struct sr_proc_result *out)
{
	(void)amount;
	(void)currency;
	return fake_op(ctx, op_id, card, false, out);
}

static int fake_payout(void *ctx, const char *op_id, const struct sr_proc_card *card,
		       int64_t amount, const char *currency, struct sr_proc_result *out)
{
	(void)amount;
	(void)currency;
	return fake_op(ctx, op_id, card, true, out);
}

/* ---- fixture ---- */

struct fixture {
	enum sr_store_kind kind;
	struct testdb db;
	struct sr_store *st;
	struct sr_audit_key *akey;
	struct sr_vault_keys keys;
	struct fake_proc fp;
	struct sr_processor proc;
	struct sr_payments *p;
};

static int setup(void **state, enum sr_store_kind kind)
{
	struct fixture *f = sr_xcalloc(1, sizeof *f);
	unsigned char kek[SR_KEYRING_KEK_LEN], ak[32];
	struct sr_keyring *ring = NULL;
	char msg[256];
	f->kind = kind;
	assert_int_equal(testdb_create(kind, &f->db), 0);
	f->st = testdb_open(&f->db, 4, 10000);
	assert_non_null(f->st);
	assert_int_equal(sr_migrate(f->st, "vault", msg, sizeof msg), 0);
	randombytes_buf(kek, sizeof kek);
	assert_int_equal(sr_keyring_open(f->st, kek, &ring), 0);
	sodium_memzero(kek, sizeof kek);
	randombytes_buf(ak, sizeof ak);
	assert_int_equal(sr_audit_key_from_bytes(ak, sizeof ak, &f->akey), 0);
	atomic_init(&f->keys.ring, ring);
	atomic_init(&f->keys.last_refresh, 0);
	f->proc = (struct sr_processor){
		.name = "fake", .ctx = &f->fp, .charge = fake_charge, .payout = fake_payout};
	f->p = sr_payments_new_from_parts(f->st, f->akey, &f->keys, &f->proc);
	*state = f;
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
	struct fixture *f = *state;
	sr_payments_free(f->p);
	sr_keyring_close(atomic_load(&f->keys.ring));
	sr_audit_key_free(f->akey);
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
	return 0;
}

/* Stores a card as POST /v1/cards would; returns its id in id. */
static void put_card(struct fixture *f, const char *number, const char *id)
{
	struct sr_vault_card *c = sr_vault_card_new();
	unsigned char *blob = NULL;
	size_t len = 0;
	struct sr_conn *conn = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_card_pan_parse(number, strlen(number), &c->pan), 0);
	c->exp_month = 7;
	c->exp_year = 2031;
	assert_int_equal(sr_card_pan_bin6(&c->pan, c->bin6), 0);
	assert_int_equal(sr_card_pan_last4(&c->pan, c->last4), 0);
	snprintf(c->fingerprint, sizeof c->fingerprint, "fp_test");
	assert_int_equal(sr_vault_card_seal(atomic_load(&f->keys.ring), id, c, &blob, &len), 0);
	assert_int_equal(sr_store_acquire(f->st, &conn), 0);
	assert_int_equal(
		sr_stmt_prepare(conn,
				"INSERT INTO vault_cards (id, sealed_card, brand, bin6, "
				"last4, exp_month, exp_year, fingerprint, api_key_id, "
				"created_s) VALUES ($1, $2, $3, $4, $5, 7, 2031, 'fp_test', "
				"'key_test', 1)",
				&s),
		0);
	assert_int_equal(sr_stmt_bind_text(s, 1, id, strlen(id)), 0);
	assert_int_equal(sr_stmt_bind_blob(s, 2, blob, len), 0);
	assert_int_equal(
		sr_stmt_bind_text(s, 3, sr_vault_card_brand(c), strlen(sr_vault_card_brand(c))), 0);
	assert_int_equal(sr_stmt_bind_text(s, 4, c->bin6, 6), 0);
	assert_int_equal(sr_stmt_bind_text(s, 5, c->last4, 4), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);
	sr_store_release(conn);
	free(blob);
	sr_vault_card_free(c);
}

/* One call; returns the parsed response (caller decrefs). */
static json_t *do_call(struct fixture *f, enum sr_pay_op op, const char *id, const char *idem,
		       const char *body, int *status, bool *replayed)
{
	struct sr_pay_call call = {
		.op = op,
		.api_key_id = "key_test",
		.id = id,
		.idem_key = idem,
		.body = (const unsigned char *)body,
		.body_len = body ? strlen(body) : 0,
	};
	sr_payments_call(f->p, &call);
	*status = call.status;
	if (replayed)
		*replayed = call.replayed;
	json_t *j = json_loadb(call.response, call.response_len, 0, NULL);
	assert_non_null(j);
	sr_pay_call_clear(&call);
	return j;
}

static const char *jstr(json_t *j, const char *path1, const char *path2)
{
	json_t *v = json_object_get(j, path1);
	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

static int64_t count_rows(struct fixture *f, const char *sql, const char *arg)
{
	struct sr_conn *conn = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &conn), 0);
	assert_int_equal(sr_stmt_prepare(conn, sql, &s), 0);
	if (arg)
		assert_int_equal(sr_stmt_bind_text(s, 1, arg, strlen(arg)), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	int64_t n = sr_stmt_col_i64(s, 0);
	sr_stmt_done(s);
	sr_store_release(conn);
	return n;
}

static void every_decline_code_is_402_and_stored_failed(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
		char card[40], body[160];
		int status;
		snprintf(card, sizeof card, "card_decline%zu", i);
		put_card(f, script[i].pan, card);
		snprintf(body, sizeof body,
			 "{\"card\":\"%s\",\"amount\":2000,\"currency\":\"eur\",\"metadata\":"
			 "{\"member\":\"usr_9\"}}",
			 card);
		json_t *r = do_call(f, SR_PAY_CHARGE_CREATE, NULL, NULL, body, &status, NULL);
		assert_int_equal(status, 402);
		assert_string_equal(jstr(r, "error", "type"), "card_error");
		assert_string_equal(jstr(r, "error", "code"), script[i].code);
		assert_string_equal(jstr(r, "error", "decline_code"), script[i].code);
		char ch[64];
		snprintf(ch, sizeof ch, "%s", jstr(r, "error", "charge"));
		json_decref(r);

		r = do_call(f, SR_PAY_CHARGE_GET, ch, NULL, NULL, &status, NULL);
		assert_int_equal(status, 200);
		assert_string_equal(jstr(r, "status", NULL), "failed");
		assert_string_equal(jstr(r, "failure_code", NULL), script[i].code);
		assert_string_equal(jstr(r, "metadata", "member"), "usr_9");
		assert_string_equal(jstr(r, "card", "last4"), script[i].pan + 12);
		json_decref(r);
		/* The sealed copy is gone once the outcome is known; the
		 * platform hears of it by webhook. */
		assert_int_equal(
			count_rows(f,
				   "SELECT COUNT(*) FROM vault_operations WHERE id = $1 AND "
				   "sealed_card IS NULL AND status = 'failed'",
				   ch),
			1);
		assert_int_equal(count_rows(f,
					    "SELECT COUNT(*) FROM webhook_events WHERE type = "
					    "'charge.failed' AND payload LIKE '%' || $1 || '%'",
					    ch),
				 1);
	}
	assert_int_equal(f->fp.moved, 0);
}

static void unreachable_processor_then_recovery_moves_money_once(void **state)
{
	struct fixture *f = *state;
	int status;
	bool replayed = false;
	const char *body = "{\"card\":\"card_ok1\",\"amount\":1234,\"currency\":\"usd\"}";
	put_card(f, "5555555555554444", "card_ok1");

	/* The processor is down: the charge is recorded pending, the client
	 * is told so and must not create it again. */
	f->fp.unreachable = true;
	json_t *r = do_call(f, SR_PAY_CHARGE_CREATE, NULL, "order-1", body, &status, NULL);
	assert_int_equal(status, 503);
	assert_string_equal(jstr(r, "error", "code"), "outcome_pending");
	char ch[64];
	snprintf(ch, sizeof ch, "%s", jstr(r, "error", "charge"));
	json_decref(r);
	r = do_call(f, SR_PAY_CHARGE_GET, ch, NULL, NULL, &status, NULL);
	assert_string_equal(jstr(r, "status", NULL), "pending");
	json_decref(r);
	r = do_call(f, SR_PAY_CHARGE_CREATE, NULL, "order-1", body, &status, NULL);
	assert_int_equal(status, 409);
	assert_string_equal(jstr(r, "error", "code"), "idempotency_key_in_use");
	json_decref(r);

	/* Back up, but the answer of the first call is lost on the way: the
	 * processor moved the money, we still see "pending". */
	f->fp.unreachable = false;
	f->fp.lose_answer = true;
	size_t n = 99;
	assert_int_equal(sr_payments_recover(f->p, &n), SR_E_UNAVAILABLE);
	assert_int_equal(n, 0);
	assert_int_equal(f->fp.moved, 1);

	/* The next pass asks again with the same op id and gets the first
	 * outcome: completed, and money moved once. */
	f->fp.lose_answer = false;
	assert_int_equal(sr_payments_recover(f->p, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(f->fp.moved, 1);
	assert_int_equal(sr_payments_recover(f->p, &n), 0);
	assert_int_equal(n, 0);

	/* The waiting Idempotency-Key now replays the final answer. */
	r = do_call(f, SR_PAY_CHARGE_CREATE, NULL, "order-1", body, &status, &replayed);
	assert_int_equal(status, 201);
	assert_true(replayed);
	assert_string_equal(jstr(r, "id", NULL), ch);
	assert_string_equal(jstr(r, "status", NULL), "succeeded");
	json_decref(r);
	assert_int_equal(count_rows(f,
				    "SELECT COUNT(*) FROM webhook_events WHERE type = "
				    "'charge.succeeded' AND payload LIKE '%' || $1 || '%'",
				    ch),
			 1);
	assert_int_equal(
		count_rows(f, "SELECT COUNT(*) FROM vault_operations WHERE kind = 'charge'", NULL),
		1);
}

struct sink_job {
	struct fixture *f;
	struct sr_proc_event ev;
	int rc;
};
static int sink_tx(struct sr_conn *c, void *arg)
{
	struct sink_job *j = arg;
	j->rc = sr_payments_event_sink(c, j->f->p, &j->ev);
	return j->rc;
}

static void payout_events_apply_once(void **state)
{
	struct fixture *f = *state;
	int status;
	put_card(f, "5200828282828210", "card_debit");
	json_t *r = do_call(f, SR_PAY_PAYOUT_CREATE, NULL, NULL,
			    "{\"card\":\"card_debit\",\"amount\":5000,\"currency\":\"eur\","
			    "\"metadata\":{\"member\":\"usr_p\"}}",
			    &status, NULL);
	assert_int_equal(status, 201);
	assert_string_equal(jstr(r, "status", NULL), "paid");
	char po[64];
	snprintf(po, sizeof po, "%s", jstr(r, "id", NULL));
	json_decref(r);

	struct sink_job j = {.f = f,
			     .ev = {.op_id = po,
				    .kind = SR_PROC_EVENT_PAYOUT_RETURNED,
				    .code = SR_PROC_CODE_ACCOUNT_CLOSED,
				    .reference = "fake",
				    .amount = 5000,
				    .currency = "EUR"}};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, sink_tx, &j), 0);
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, sink_tx, &j), 0); /* redelivered */
	r = do_call(f, SR_PAY_PAYOUT_GET, po, NULL, NULL, &status, NULL);
	assert_string_equal(jstr(r, "status", NULL), "returned");
	assert_string_equal(jstr(r, "failure_code", NULL), "account_closed");
	json_decref(r);
	assert_int_equal(count_rows(f,
				    "SELECT COUNT(*) FROM webhook_events WHERE type = "
				    "'payout.returned' AND payload LIKE '%usr_p%'",
				    NULL),
			 1);
	assert_int_equal(count_rows(f,
				    "SELECT COUNT(*) FROM audit_log WHERE action = "
				    "'payout.returned' AND object_id = $1",
				    po),
			 1);

	/* An event for a payout still pending is offered again later; one
	 * for an id we do not know is dropped (logged). */
	f->fp.unreachable = true;
	r = do_call(f, SR_PAY_PAYOUT_CREATE, NULL, NULL,
		    "{\"card\":\"card_debit\",\"amount\":10,\"currency\":\"eur\"}", &status, NULL);
	assert_int_equal(status, 503);
	snprintf(po, sizeof po, "%s", jstr(r, "error", "payout"));
	json_decref(r);
	j.ev.op_id = po;
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, sink_tx, &j), SR_E_UNAVAILABLE);
	j.ev.op_id = "po_unknown";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, sink_tx, &j), 0);
}

static void no_pan_at_rest(void **state)
{
	struct fixture *f = *state;
	int status;
	if (f->kind != SR_STORE_SQLITE)
		skip();
	put_card(f, "5200828282828210", "card_scan");
	json_t *r = do_call(f, SR_PAY_CHARGE_CREATE, NULL, "scan",
			    "{\"card\":\"card_scan\",\"amount\":99,\"currency\":\"eur\"}", &status,
			    NULL);
	assert_int_equal(status, 201);
	json_decref(r);
	/* The database and its write-ahead log, where fresh rows live. */
	const char *pan = "5200828282828210";
	static unsigned char buf[8 << 20];
	int scanned = 0;
	bool last4_seen = false; /* proof the rows are in what we scanned */
	for (int w = 0; w < 2; w++) {
		char *path = sr_xasprintf("%s/test.db%s", f->db.dir, w ? "-wal" : "");
		FILE *fh = fopen(path, "rb");
		free(path);
		if (fh == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof buf, fh);
		fclose(fh);
		scanned++;
		for (size_t i = 0; i + 16 <= n; i++) {
			assert_false(sodium_memcmp(buf + i, pan, 16) == 0);
			last4_seen = last4_seen || sodium_memcmp(buf + i, "8210", 4) == 0;
		}
	}
	assert_true(scanned >= 1);
	assert_true(last4_seen);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(every_decline_code_is_402_and_stored_failed),                                            \
		T(unreachable_processor_then_recovery_moves_money_once),                           \
		T(payout_events_apply_once), T(no_pan_at_rest)

int main(void)
{
	sr_log_set_level(SR_LOG_WARN);
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("payments/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("payments/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_payments");
	return failed;
}
