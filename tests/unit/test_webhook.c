/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed webhooks (src/svc/webhook.c): the signature against an HMAC
 * computed independently (Python's hmac), what a receiver accepts and
 * refuses, the transactional queue on both backends (dedup, envelope,
 * refused input), and the sender delivering to a real HTTP receiver
 * (tests/tools/webhook_receiver.py, which checks the signature with its own
 * code) through failures, retries and the retry window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/migrate.h"
#include "svc/webhook.h"

#include "notify_test.h"
#include "store_testdb.h"

#include <jansson.h>

static unsigned char secret[32];

static void fill_secret(void)
{
	for (int i = 0; i < 32; i++)
		secret[i] = (unsigned char)(i + 1);
}

/* --------------------------------------------------------------- signing */

static void sign_matches_independent_hmac(void **state)
{
	(void)state;
	char sig[SR_WEBHOOK_SIG_MAX];
	const char *body = "{\"a\":1}";
	assert_int_equal(sr_webhook_sign(secret, 32, 1700000000, body, strlen(body), sig), 0);
	/* python3: hmac.new(bytes(range(1,33)), b'1700000000.{"a":1}', sha256) */
	assert_string_equal(
		sig,
		"t=1700000000,v1=af271c4474faf9bbb3bfe35599870d0bea89f60d82fc9118f418239279196c5f");
	assert_int_equal(sr_webhook_sign(secret, 16, 1, body, strlen(body), sig), SR_E_INVAL);
}

static void verify_accepts_and_refuses(void **state)
{
	(void)state;
	char sig[SR_WEBHOOK_SIG_MAX], two[3 * SR_WEBHOOK_SIG_MAX];
	const char *body = "{\"id\":\"evt_1\"}";
	size_t n = strlen(body);
	int64_t t = 1800000000;
	assert_int_equal(sr_webhook_sign(secret, 32, t, body, n, sig), 0);
	assert_int_equal(sr_webhook_verify(secret, 32, sig, body, n, t, 300), 0);
	assert_int_equal(sr_webhook_verify(secret, 32, sig, body, n, t + 300, 300), 0);
	assert_int_equal(sr_webhook_verify(secret, 32, sig, body, n, t - 300, 300), 0);
	/* Right signature, too old or from the future: a replay. */
	assert_int_equal(sr_webhook_verify(secret, 32, sig, body, n, t + 301, 300), SR_E_TIMEOUT);
	assert_int_equal(sr_webhook_verify(secret, 32, sig, body, n, t - 301, 300), SR_E_TIMEOUT);
	/* Another body, another secret. */
	assert_int_equal(sr_webhook_verify(secret, 32, sig, "{\"id\":\"evt_2\"}", n, t, 300),
			 SR_E_AUTH);
	unsigned char other[32];
	memcpy(other, secret, 32);
	other[0] ^= 1;
	assert_int_equal(sr_webhook_verify(other, 32, sig, body, n, t, 300), SR_E_AUTH);
	/* Rotation: several v1 entries, one of them right. */
	snprintf(two, sizeof two, "t=%lld,v1=%064d,%s", (long long)t, 0, strchr(sig, ',') + 1);
	assert_int_equal(sr_webhook_verify(secret, 32, two, body, n, t, 300), 0);
	/* A t changed after signing breaks the MAC. */
	snprintf(two, sizeof two, "t=%lld%s", (long long)t + 1, strchr(sig, ','));
	assert_int_equal(sr_webhook_verify(secret, 32, two, body, n, t, 300), SR_E_AUTH);
	/* Malformed headers. */
	static const char *const bad[] = {
		"",
		"t=1800000000",
		"v1=af271c4474faf9bbb3bfe35599870d0bea89f60d82fc9118f418239279196c5f",
		"t=abc,v1=af271c4474faf9bbb3bfe35599870d0bea89f60d82fc9118f418239279196c5f",
		"t=1,t=2,v1=af271c4474faf9bbb3bfe35599870d0bea89f60d82fc9118f418239279196c5f",
		"t=1800000000,v1=zz271c4474faf9bbb3bfe35599870d0bea89f60d82fc9118f418239279196c5f",
		"t=1800000000,v1=af27",
		"t=99999999999999999999999,v1="
		"af271c4474faf9bbb3bfe35599870d0bea89f60d82fc9118f418239279196c5f",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sr_webhook_verify(secret, 32, bad[i], body, n, t, 300), SR_E_AUTH);
	assert_int_equal(sr_webhook_verify(secret, 32, NULL, body, n, t, 300), SR_E_AUTH);
	char *huge = malloc(4096);
	memset(huge, 'v', 4095);
	huge[4095] = '\0';
	assert_int_equal(sr_webhook_verify(secret, 32, huge, body, n, t, 300), SR_E_AUTH);
	free(huge);
}

/* ----------------------------------------------------- queue and sender */

struct fixture {
	struct testdb db;
	struct sr_store *st;
	char dir[64], log[128], key[128];
	pid_t receiver;
};

static int setup(void **state, enum sr_store_kind kind)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];
	nt_mkdtemp(f->dir, sizeof f->dir, "webhook");
	snprintf(f->log, sizeof f->log, "%s/received.jsonl", f->dir);
	snprintf(f->key, sizeof f->key, "%s/secret.key", f->dir);
	nt_write(f->key, secret, sizeof secret);
	assert_int_equal(testdb_create(kind, &f->db), 0);
	f->st = testdb_open(&f->db, 2, 5000);
	assert_non_null(f->st);
	assert_int_equal(sr_migrate(f->st, "vault", err, sizeof err), 0);
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
	nt_stop(f->receiver);
	sr_store_close(f->st);
	testdb_drop(&f->db);
	nt_rmrf(f->dir);
	free(f);
	return 0;
}

struct enq {
	const char *id, *type, *obj;
	bool fail_after; /* roll the transaction back after queueing */
};

static int enq_tx(struct sr_conn *c, void *arg)
{
	struct enq *e = arg;
	int rc = sr_webhook_enqueue(c, e->id, e->type, e->obj);
	if (rc == 0 && e->fail_after)
		rc = SR_E_CONFLICT;
	return rc;
}

struct row {
	long long count;
	char state[16];
	long long attempts;
	char payload[1024];
};

static int row_tx(struct sr_conn *c, void *arg)
{
	struct row *r = arg;
	struct sr_stmt *s = NULL;
	memset(r, 0, sizeof *r);
	int rc = sr_stmt_prepare(c,
				 "SELECT state, attempts, payload, (SELECT COUNT(*) FROM "
				 "webhook_events) FROM webhook_events ORDER BY created_at LIMIT 1",
				 &s);
	if (rc == 0 && (rc = sr_stmt_step(s)) == 1) {
		snprintf(r->state, sizeof r->state, "%s", sr_stmt_col_text(s, 0, NULL));
		r->attempts = sr_stmt_col_i64(s, 1);
		snprintf(r->payload, sizeof r->payload, "%s", sr_stmt_col_text(s, 2, NULL));
		r->count = sr_stmt_col_i64(s, 3);
	}
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

static struct row get_row(struct fixture *f)
{
	struct row r;
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, row_tx, &r), 0);
	return r;
}

static void queue_commits_with_caller_and_dedups(void **state)
{
	struct fixture *f = *state;
	struct enq e = {.id = "evt_rollback",
			.type = "payout.failed",
			.obj = "{\"id\":\"po_1\"}",
			.fail_after = true};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_CONFLICT);
	assert_int_equal(get_row(f).count, 0);
	e.fail_after = false;
	e.id = "evt_1";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	e.obj = "{\"id\":\"po_other\"}";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	struct row r = get_row(f);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.state, "pending");
	/* The first one stays: same event id, sent once. */
	json_t *j = json_loads(r.payload, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "evt_1");
	assert_string_equal(json_string_value(json_object_get(j, "object")), "event");
	assert_string_equal(json_string_value(json_object_get(j, "type")), "payout.failed");
	assert_true(json_integer_value(json_object_get(j, "created")) > 1700000000);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(j, "data"), "object"), "id")),
			    "po_1");
	json_decref(j);
}

static void queue_refuses_bad_input(void **state)
{
	struct fixture *f = *state;
	static const struct enq bad[] = {
		{"nope_1", "payout.failed", "{}", false},
		{"evt_", "payout.failed", "{}", false},
		{"evt_1 2", "payout.failed", "{}", false},
		{"evt_1", "Payout Failed", "{}", false},
		{"evt_1", "payout.failed", "[1]", false},
		{"evt_1", "payout.failed", "{\"a\":", false},
		{"evt_1", "payout.failed", "{\"a\":1,\"a\":2}", false},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct enq e = bad[i];
		assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	}
	assert_int_equal(get_row(f).count, 0);
}

static struct sr_webhook_sender *sender_to(struct fixture *f, int fail, int64_t window_s)
{
	char port[16], url[64], err[256];
	const char *args[] = {"--log", f->log, "--secret-file", f->key, "--fail", port, NULL};
	snprintf(port, sizeof port, "%d", fail);
	int p = nt_start("webhook_receiver.py", args, &f->receiver);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hooks", p);
	struct sr_webhook_sender_opts o = {
		.url = url,
		.secret = secret,
		.secret_len = 32,
		.timeout_ms = 5000,
		.retry_base_ms = 1,
		.retry_max_ms = 1,
		.retry_window_s = window_s,
		.poll_ms = 10,
		.lease_s = 60,
	};
	struct sr_webhook_sender *w = NULL;
	assert_int_equal(sr_webhook_sender_new(f->st, &o, &w, err, sizeof err), 0);
	assert_non_null(w);
	return w;
}

static size_t run_once(struct sr_webhook_sender *w)
{
	size_t n = 0;
	assert_int_equal(sr_webhook_sender_run_once(w, &n), 0);
	usleep(5000); /* past the 1 ms backoff */
	return n;
}

static void sender_retries_then_delivers_signed(void **state)
{
	struct fixture *f = *state;
	struct enq e = {.id = "evt_deliver", .type = "payout.paid", .obj = "{\"id\":\"po_9\"}"};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	struct sr_webhook_sender *w = sender_to(f, 2, 3600);
	assert_int_equal(run_once(w), 1);
	assert_string_equal(get_row(f).state, "pending");
	assert_int_equal(run_once(w), 1);
	assert_int_equal(run_once(w), 1);
	struct row r = get_row(f);
	assert_string_equal(r.state, "sent");
	assert_int_equal(r.attempts, 3);
	assert_int_equal(run_once(w), 0); /* nothing left: sent once */
	struct sr_webhook_stats st;
	sr_webhook_sender_stats(w, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.retried, 2);
	sr_webhook_sender_stop(w);

	/* The receiver saw three signed POSTs of the same body, each valid
	 * under its own check. */
	size_t len = 0;
	char *log = nt_read(f->log, &len);
	assert_non_null(log);
	int lines = 0, valid = 0;
	for (char *p = log; *p != '\0';) {
		char *nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		json_t *j = json_loads(p, 0, NULL);
		assert_non_null(j);
		lines++;
		valid += json_is_true(json_object_get(j, "valid"));
		assert_string_equal(json_string_value(json_object_get(j, "content_type")),
				    "application/json");
		assert_string_equal(json_string_value(json_object_get(j, "body")), r.payload);
		json_decref(j);
		p = nl ? nl + 1 : p + strlen(p);
	}
	free(log);
	assert_int_equal(lines, 3);
	assert_int_equal(valid, 3);
}

static void sender_gives_up_after_window(void **state)
{
	struct fixture *f = *state;
	struct enq e = {.id = "evt_doomed", .type = "payout.paid", .obj = "{\"id\":\"po_8\"}"};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	struct sr_webhook_sender *w = sender_to(f, 1000, 1);
	assert_int_equal(run_once(w), 1);
	assert_string_equal(get_row(f).state, "pending");
	sleep(2); /* past the 1 s window */
	assert_int_equal(run_once(w), 1);
	assert_string_equal(get_row(f).state, "failed");
	assert_int_equal(run_once(w), 0);
	struct sr_webhook_stats st;
	sr_webhook_sender_stats(w, &st);
	assert_int_equal(st.failed, 1);
	sr_webhook_sender_stop(w);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(queue_commits_with_caller_and_dedups), T(queue_refuses_bad_input),                       \
		T(sender_retries_then_delivers_signed), T(sender_gives_up_after_window)

int main(void)
{
	fill_secret();
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(sign_matches_independent_hmac),
		cmocka_unit_test(verify_accepts_and_refuses),
	};
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("webhook", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("webhook/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("webhook/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_webhook");
	return failed;
}
