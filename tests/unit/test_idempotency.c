/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Idempotency-Key records (src/vault/idempotency.c) on both backends: a new
 * key is claimed, a retry of the same request replays the stored answer, a
 * different body or a request still in flight is refused, keys are scoped
 * to the API key, expire after 24 hours, and the claim rolls back with the
 * transaction that made it.
 */
#include "store/migrate.h"
#include "store/store.h"
#include "vault/idempotency.h"

#include "store_testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define NOW 1800000000LL

struct fixture {
	struct testdb db;
	struct sr_store *st;
};

static int setup(void **state, enum sr_store_kind kind)
{
	char err[512];
	struct fixture *f = calloc(1, sizeof *f);
	assert_int_equal(testdb_create(kind, &f->db), 0);
	f->st = testdb_open(&f->db, 4, 5000);
	assert_non_null(f->st);
	if (sr_migrate(f->st, "vault", err, sizeof err) != 0)
		fail_msg("migrate: %s", err);
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
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
	return 0;
}

/* One request's worth of work: begin, and when new and told to, finish. */
struct job {
	const char *scope, *key, *body;
	int64_t now;
	int finish_status; /* 0: leave in flight */
	int fail_after;    /* return this error after begin (rollback test) */
	struct sr_idem_record rec;
};

static int job_tx(struct sr_conn *c, void *arg)
{
	struct job *j = arg;
	char hash[SR_IDEM_HASH_HEX];
	sr_idem_request_hash("/v1/charges", j->body, strlen(j->body), hash);
	int rc = sr_idem_begin(c, j->scope, j->key, hash, j->now, &j->rec);
	if (rc != 0)
		return rc;
	if (j->fail_after != 0)
		return j->fail_after;
	if (j->rec.state == SR_IDEM_NEW && j->finish_status != 0) {
		char resp[128];
		snprintf(resp, sizeof resp, "{\"echo\":%s}", j->body);
		rc = sr_idem_finish(c, j->scope, j->key, j->finish_status, resp, strlen(resp));
	}
	return rc;
}

static struct sr_idem_record run(struct fixture *f, const char *scope, const char *key,
				 const char *body, int64_t now, int finish_status)
{
	struct job j = {.scope = scope,
			.key = key,
			.body = body,
			.now = now,
			.finish_status = finish_status};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, job_tx, &j), 0);
	return j.rec;
}

static void key_syntax(void **state)
{
	(void)state;
	char longkey[SR_IDEM_KEY_MAX + 2];
	memset(longkey, 'k', sizeof longkey - 1);
	longkey[sizeof longkey - 1] = '\0';
	assert_int_equal(sr_idem_key_check("order-42:attempt_1"), 0);
	assert_int_equal(sr_idem_key_check(NULL), SR_E_INVAL);
	assert_int_equal(sr_idem_key_check(""), SR_E_INVAL);
	assert_int_equal(sr_idem_key_check("has space"), SR_E_INVAL);
	assert_int_equal(sr_idem_key_check("tab\there"), SR_E_INVAL);
	assert_int_equal(sr_idem_key_check("caf\xc3\xa9"), SR_E_INVAL);
	assert_int_equal(sr_idem_key_check(longkey), SR_E_INVAL);
	longkey[SR_IDEM_KEY_MAX] = '\0';
	assert_int_equal(sr_idem_key_check(longkey), 0);
}

static void hash_separates_endpoint_and_body(void **state)
{
	(void)state;
	char a[SR_IDEM_HASH_HEX], b[SR_IDEM_HASH_HEX], c[SR_IDEM_HASH_HEX];
	sr_idem_request_hash("/v1/charges", "{\"amount\":1}", 12, a);
	sr_idem_request_hash("/v1/payouts", "{\"amount\":1}", 12, b);
	sr_idem_request_hash("/v1/charges", "{\"amount\":2}", 12, c);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	sr_idem_request_hash("/v1/charges", "{\"amount\":1}", 12, b);
	assert_string_equal(a, b);
}

static void new_then_replay_same_body(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "k1", "{\"amount\":100}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_NEW);
	sr_idem_record_clear(&r);
	r = run(f, "sk_1", "k1", "{\"amount\":100}", NOW + 10, 201);
	assert_int_equal(r.state, SR_IDEM_REPLAY);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"echo\":{\"amount\":100}}");
	assert_int_equal(r.body_len, strlen(r.body));
	sr_idem_record_clear(&r);
}

static void different_body_is_mismatch(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "k2", "{\"amount\":100}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_NEW);
	r = run(f, "sk_1", "k2", "{\"amount\":101}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_MISMATCH);
	assert_null(r.body);
	/* The stored answer is untouched by the refused request. */
	r = run(f, "sk_1", "k2", "{\"amount\":100}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_REPLAY);
	assert_string_equal(r.body, "{\"echo\":{\"amount\":100}}");
	sr_idem_record_clear(&r);
}

static void in_flight_is_refused_then_replayed(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "k3", "{}", NOW, 0);
	assert_int_equal(r.state, SR_IDEM_NEW);
	r = run(f, "sk_1", "k3", "{}", NOW, 200);
	assert_int_equal(r.state, SR_IDEM_IN_FLIGHT);
	/* An in-flight key never expires by itself: its operation is unresolved. */
	r = run(f, "sk_1", "k3", "{}", NOW + SR_IDEM_TTL_S + 5, 200);
	assert_int_equal(r.state, SR_IDEM_IN_FLIGHT);
}

struct finish_job {
	const char *key;
	int rc;
};
static int finish_tx(struct sr_conn *c, void *arg)
{
	struct finish_job *j = arg;
	j->rc = sr_idem_finish(c, "sk_1", j->key, 402, "{\"error\":1}", 11);
	return 0;
}

static void finish_stores_answer_once(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "k4", "{}", NOW, 0);
	assert_int_equal(r.state, SR_IDEM_NEW);
	struct finish_job fj = {.key = "k4"};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, finish_tx, &fj), 0);
	assert_int_equal(fj.rc, 0);
	/* A second finish (say a recovery pass racing the request) changes nothing. */
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, finish_tx, &fj), 0);
	assert_int_equal(fj.rc, SR_E_NOTFOUND);
	fj.key = "never-claimed";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, finish_tx, &fj), 0);
	assert_int_equal(fj.rc, SR_E_NOTFOUND);
	r = run(f, "sk_1", "k4", "{}", NOW, 0);
	assert_int_equal(r.state, SR_IDEM_REPLAY);
	assert_int_equal(r.status, 402);
	assert_string_equal(r.body, "{\"error\":1}");
	sr_idem_record_clear(&r);
}

static void scoped_to_api_key(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "shared", "{\"a\":1}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_NEW);
	r = run(f, "sk_2", "shared", "{\"b\":2}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_NEW);
	r = run(f, "sk_2", "shared", "{\"b\":2}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_REPLAY);
	assert_string_equal(r.body, "{\"echo\":{\"b\":2}}");
	sr_idem_record_clear(&r);
}

static void expires_after_a_day(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "k5", "{\"v\":1}", NOW, 201);
	assert_int_equal(r.state, SR_IDEM_NEW);
	r = run(f, "sk_1", "k5", "{\"v\":2}", NOW + SR_IDEM_TTL_S - 1, 201);
	assert_int_equal(r.state, SR_IDEM_MISMATCH);
	r = run(f, "sk_1", "k5", "{\"v\":2}", NOW + SR_IDEM_TTL_S, 201);
	assert_int_equal(r.state, SR_IDEM_NEW);
	r = run(f, "sk_1", "k5", "{\"v\":2}", NOW + SR_IDEM_TTL_S + 1, 201);
	assert_int_equal(r.state, SR_IDEM_REPLAY);
	assert_string_equal(r.body, "{\"echo\":{\"v\":2}}");
	sr_idem_record_clear(&r);
}

struct purge_job {
	int64_t now;
	int n;
};
static int purge_tx(struct sr_conn *c, void *arg)
{
	struct purge_job *j = arg;
	j->n = sr_idem_purge(c, j->now, 100);
	return j->n < 0 ? j->n : 0;
}

static void purge_keeps_live_and_in_flight(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "old", "{}", NOW, 201);
	r = run(f, "sk_1", "stuck", "{}", NOW, 0);
	r = run(f, "sk_1", "young", "{}", NOW + 100, 201);
	(void)r;
	struct purge_job pj = {.now = NOW + SR_IDEM_TTL_S};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, purge_tx, &pj), 0);
	assert_int_equal(pj.n, 1);
	r = run(f, "sk_1", "young", "{}", NOW + SR_IDEM_TTL_S, 201);
	assert_int_equal(r.state, SR_IDEM_REPLAY);
	sr_idem_record_clear(&r);
	r = run(f, "sk_1", "stuck", "{}", NOW + SR_IDEM_TTL_S, 201);
	assert_int_equal(r.state, SR_IDEM_IN_FLIGHT);
}

static void claim_rolls_back_with_its_transaction(void **state)
{
	struct fixture *f = *state;
	struct job j = {
		.scope = "sk_1", .key = "k6", .body = "{}", .now = NOW, .fail_after = SR_E_INVAL};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, job_tx, &j), SR_E_INVAL);
	sr_idem_record_clear(&j.rec);
	struct sr_idem_record r = run(f, "sk_1", "k6", "{\"other\":1}", NOW, 0);
	assert_int_equal(r.state, SR_IDEM_NEW);
}

struct release_job {
	int rc;
};
static int release_tx(struct sr_conn *c, void *arg)
{
	struct release_job *j = arg;
	j->rc = sr_idem_release(c, "sk_1", "k7");
	return j->rc;
}

static void release_frees_the_key(void **state)
{
	struct fixture *f = *state;
	struct sr_idem_record r = run(f, "sk_1", "k7", "{}", NOW, 0);
	assert_int_equal(r.state, SR_IDEM_NEW);
	struct release_job rj = {0};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, release_tx, &rj), 0);
	r = run(f, "sk_1", "k7", "{\"x\":1}", NOW, 0);
	assert_int_equal(r.state, SR_IDEM_NEW);
}

static void bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct job j = {.scope = "", .key = "k", .body = "{}", .now = NOW};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, job_tx, &j), SR_E_INVAL);
	j.scope = "sk_1";
	j.key = "bad key";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, job_tx, &j), SR_E_INVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(new_then_replay_same_body), T(different_body_is_mismatch),                               \
		T(in_flight_is_refused_then_replayed), T(finish_stores_answer_once),               \
		T(scoped_to_api_key), T(expires_after_a_day), T(purge_keeps_live_and_in_flight),   \
		T(claim_rolls_back_with_its_transaction), T(release_frees_the_key),                \
		T(bad_arguments)

int main(void)
{
	const struct CMUnitTest pure[] = {cmocka_unit_test(key_syntax),
					  cmocka_unit_test(hash_separates_endpoint_and_body)};
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("idempotency", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("idempotency/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("idempotency/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_idempotency");
	return failed;
}
