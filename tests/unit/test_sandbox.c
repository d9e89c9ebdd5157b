/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault/sandbox, the sandbox processor, on both backends (SQLite in a
 * temporary folder; PostgreSQL at SR_TEST_PG_URL, skipped loudly when
 * unset): outcomes of every test card of cards.md for verification and
 * charges, push-to-card eligibility, deduplication by operation id, the
 * asynchronous payout outcomes (delivered once, kept across a restart,
 * offered again when the sink fails), and simulated latency.
 */
#include "store/migrate.h"
#include "vault/sandbox.h"

#include "store_testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

struct fixture {
	struct testdb db;
	struct sr_store *st;
};

static struct fixture *fx_new(void **state)
{
	struct fixture *f = sr_xcalloc(1, sizeof *f);
	char msg[256];
	assert_int_equal(testdb_create(*(enum sr_store_kind *)*state, &f->db), 0);
	f->st = testdb_open(&f->db, 4, 10000);
	assert_non_null(f->st);
	int rc = sr_migrate(f->st, "vault", msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "migrate: %s\n", msg);
	assert_int_equal(rc, 0);
	return f;
}

static void fx_free(struct fixture *f)
{
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
}

static struct sr_processor open_sandbox(struct fixture *f, unsigned latency, unsigned delay)
{
	struct sr_sandbox_options opt = {.latency_ms = latency, .async_delay_ms = delay};
	struct sr_processor p;
	assert_int_equal(sr_sandbox_open(f->st, &opt, &p), 0);
	assert_string_equal(p.name, "sandbox");
	return p;
}

struct card_buf {
	struct sr_card_pan pan;
	struct sr_proc_card pc;
};

static void card_of(struct card_buf *cb, const char *number, const char *cvc)
{
	assert_int_equal(sr_card_pan_parse(number, strlen(number), &cb->pan), 0);
	cb->pc = (struct sr_proc_card){
		.pan = &cb->pan, .exp_month = 12, .exp_year = 2040, .cvc = cvc, .name = ""};
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* cards.md, row by row. */
static const struct {
	const char *number;
	enum sr_proc_status status;
	const char *code;
	bool payouts;
} cards[] = {
	{"4242424242424242", SR_PROC_APPROVED, "", false},
	{"4000056655665556", SR_PROC_APPROVED, "", true},
	{"5555555555554444", SR_PROC_APPROVED, "", false},
	{"2223003122003222", SR_PROC_APPROVED, "", false},
	{"5200828282828210", SR_PROC_APPROVED, "", true},
	{"378282246310005", SR_PROC_APPROVED, "", false},
	{"6011111111111117", SR_PROC_APPROVED, "", false},
	{"3056930009020004", SR_PROC_APPROVED, "", false},
	{"3566002020360505", SR_PROC_APPROVED, "", false},
	{"6200000000000005", SR_PROC_APPROVED, "", false},
	{"4000000000000002", SR_PROC_DECLINED, "generic_decline", false},
	{"4000000000009995", SR_PROC_DECLINED, "insufficient_funds", false},
	{"4000000000000127", SR_PROC_DECLINED, "incorrect_cvc", false},
	{"4000000000000069", SR_PROC_DECLINED, "expired_card", false},
	{"4000000000000119", SR_PROC_ERROR, "processing_error", false},
	{"4000002760003184", SR_PROC_REQUIRES_AUTHENTICATION, "authentication_required", false},
};
#define NCARDS (sizeof cards / sizeof cards[0])

static void test_card_outcomes(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_processor p = open_sandbox(f, 0, 60000);
	for (size_t i = 0; i < NCARDS; i++) {
		struct card_buf cb;
		struct sr_proc_result r;
		char op[32];
		card_of(&cb, cards[i].number, strlen(cards[i].number) == 15 ? "1234" : "123");
		snprintf(op, sizeof op, "tok_verify%zu", i);
		assert_int_equal(p.verify(p.ctx, op, &cb.pc, &r), 0);
		/* Verification moves no money: insufficient funds passes it. */
		bool funds = strcmp(cards[i].code, "insufficient_funds") == 0;
		assert_int_equal(r.status, funds ? SR_PROC_APPROVED : cards[i].status);
		assert_string_equal(r.code, funds ? "" : cards[i].code);
		assert_string_equal(r.cvc_check,
				    strcmp(cards[i].code, "incorrect_cvc") == 0 ? "fail" : "pass");

		snprintf(op, sizeof op, "ch_%zu", i);
		assert_int_equal(p.charge(p.ctx, op, &cb.pc, 2000, "EUR", &r), 0);
		assert_int_equal(r.status, cards[i].status);
		assert_string_equal(r.code, cards[i].code);
		assert_true(strncmp(r.reference, "sbx_ch_", 7) == 0);

		snprintf(op, sizeof op, "po_%zu", i);
		assert_int_equal(p.payout(p.ctx, op, &cb.pc, 2000, "EUR", &r), 0);
		if (cards[i].payouts) {
			assert_int_equal(r.status, SR_PROC_APPROVED);
		} else {
			assert_int_equal(r.status, SR_PROC_DECLINED);
			assert_string_equal(r.code, "payouts_not_allowed");
		}
	}
	/* Verification needs the CVC; bad arguments are refused. */
	struct card_buf cb;
	struct sr_proc_result r;
	card_of(&cb, "4242424242424242", NULL);
	assert_int_equal(p.verify(p.ctx, "tok_x", &cb.pc, &r), SR_E_INVAL);
	assert_int_equal(p.charge(p.ctx, "ch_neg", &cb.pc, -5, "EUR", &r), SR_E_INVAL);
	assert_int_equal(p.charge(p.ctx, "ch_cur", &cb.pc, 5, "eur", &r), SR_E_INVAL);
	assert_int_equal(p.charge(p.ctx, "ch bad id", &cb.pc, 5, "EUR", &r), SR_E_INVAL);
	p.close(p.ctx);
	fx_free(f);
}

static void test_dedup_by_op_id(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_processor p = open_sandbox(f, 0, 60000);
	struct card_buf cb;
	struct sr_proc_result a, b;
	card_of(&cb, "4242424242424242", NULL);
	assert_int_equal(p.charge(p.ctx, "ch_same", &cb.pc, 1500, "USD", &a), 0);
	assert_int_equal(a.status, SR_PROC_APPROVED);
	assert_int_equal(p.charge(p.ctx, "ch_same", &cb.pc, 1500, "USD", &b), 0);
	assert_string_equal(a.reference, b.reference); /* the first outcome, not a second charge */
	/* Same op id, another request: refused. */
	assert_int_equal(p.charge(p.ctx, "ch_same", &cb.pc, 1600, "USD", &b), SR_E_CONFLICT);
	assert_int_equal(p.charge(p.ctx, "ch_same", &cb.pc, 1500, "EUR", &b), SR_E_CONFLICT);
	assert_int_equal(p.payout(p.ctx, "ch_same", &cb.pc, 1500, "USD", &b), SR_E_CONFLICT);

	/* A declined charge stays declined on repeat, even from another
	 * connector instance (a restart). */
	struct card_buf dcl;
	card_of(&dcl, "4000000000009995", NULL);
	assert_int_equal(p.charge(p.ctx, "ch_dcl", &dcl.pc, 100, "USD", &a), 0);
	p.close(p.ctx);
	struct sr_processor q = open_sandbox(f, 0, 60000);
	assert_int_equal(q.charge(q.ctx, "ch_dcl", &dcl.pc, 100, "USD", &b), 0);
	assert_int_equal(b.status, SR_PROC_DECLINED);
	assert_string_equal(b.code, "insufficient_funds");
	assert_string_equal(a.reference, b.reference);
	q.close(q.ctx);

	/* Exactly one row per op id. */
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, "SELECT COUNT(*) FROM sandbox_operations", &s), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 2);
	sr_stmt_done(s);
	sr_store_release(c);
	fx_free(f);
}

struct sink {
	int calls;
	int fail_next; /* return an error this many times */
	char op_id[64];
	enum sr_proc_event_kind kind;
	char code[64];
	int64_t amount;
};

static int sink_fn(struct sr_conn *c, void *arg, const struct sr_proc_event *ev)
{
	(void)c;
	struct sink *k = arg;
	if (k->fail_next > 0) {
		k->fail_next--;
		return SR_E_INVAL;
	}
	k->calls++;
	snprintf(k->op_id, sizeof k->op_id, "%s", ev->op_id);
	k->kind = ev->kind;
	snprintf(k->code, sizeof k->code, "%s", ev->code);
	k->amount = ev->amount;
	return 0;
}

static void test_async_payout_outcomes(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_processor p = open_sandbox(f, 0, 60000);
	struct card_buf cb;
	struct sr_proc_result r;
	struct sink k = {0};
	card_of(&cb, "4000056655665556", NULL);

	/* Approved now; failed / returned later. */
	assert_int_equal(
		p.payout(p.ctx, "po_fails", &cb.pc, SR_SANDBOX_AMOUNT_PAYOUT_FAILS, "EUR", &r), 0);
	assert_int_equal(r.status, SR_PROC_APPROVED);
	assert_int_equal(p.payout(p.ctx, "po_plain", &cb.pc, 5000, "EUR", &r), 0);
	assert_int_equal(r.status, SR_PROC_APPROVED);

	/* The vault restarts before the outcome is due: nothing is lost. */
	p.close(p.ctx);
	p = open_sandbox(f, 0, 60000);
	assert_int_equal(
		p.payout(p.ctx, "po_returns", &cb.pc, SR_SANDBOX_AMOUNT_PAYOUT_RETURNS, "EUR", &r),
		0);
	assert_int_equal(p.set_event_sink(p.ctx, sink_fn, &k), 0);
	int64_t later = now_ms() + 61000;
	/* Not due yet: nothing. */
	assert_int_equal(sr_sandbox_deliver_due(p.ctx, now_ms()), 0);
	assert_int_equal(k.calls, 0);

	/* A failing sink leaves the event due. */
	k.fail_next = 1;
	assert_true(sr_sandbox_deliver_due(p.ctx, later) < 0);
	assert_int_equal(k.calls, 0);

	assert_int_equal(sr_sandbox_deliver_due(p.ctx, later), 2);
	assert_int_equal(k.calls, 2);
	/* Delivered once: never again. */
	assert_int_equal(sr_sandbox_deliver_due(p.ctx, later + 1000), 0);
	assert_int_equal(k.calls, 2);
	p.close(p.ctx);

	/* Which events: check both by delivering again into a fresh sink from
	 * a connector over a fresh database. */
	fx_free(f);
	f = fx_new(state);
	p = open_sandbox(f, 0, 60000);
	struct sink k2 = {0};
	assert_int_equal(p.set_event_sink(p.ctx, sink_fn, &k2), 0);
	assert_int_equal(
		p.payout(p.ctx, "po_r", &cb.pc, SR_SANDBOX_AMOUNT_PAYOUT_RETURNS, "GBP", &r), 0);
	assert_int_equal(sr_sandbox_deliver_due(p.ctx, now_ms() + 61000), 1);
	assert_string_equal(k2.op_id, "po_r");
	assert_int_equal(k2.kind, SR_PROC_EVENT_PAYOUT_RETURNED);
	assert_string_equal(k2.code, "account_closed");
	assert_int_equal(k2.amount, SR_SANDBOX_AMOUNT_PAYOUT_RETURNS);
	assert_int_equal(p.payout(p.ctx, "po_f", &cb.pc, SR_SANDBOX_AMOUNT_PAYOUT_FAILS, "GBP", &r),
			 0);
	assert_int_equal(sr_sandbox_deliver_due(p.ctx, now_ms() + 61000), 1);
	assert_string_equal(k2.op_id, "po_f");
	assert_int_equal(k2.kind, SR_PROC_EVENT_PAYOUT_FAILED);
	assert_string_equal(k2.code, "could_not_process");
	/* Magic amounts on a card that cannot receive payouts: declined, no event. */
	struct card_buf no;
	card_of(&no, "4242424242424242", NULL);
	assert_int_equal(p.payout(p.ctx, "po_n", &no.pc, SR_SANDBOX_AMOUNT_PAYOUT_FAILS, "GBP", &r),
			 0);
	assert_string_equal(r.code, "payouts_not_allowed");
	assert_int_equal(sr_sandbox_deliver_due(p.ctx, now_ms() + 61000), 0);
	/* A second sink is refused. */
	assert_int_equal(p.set_event_sink(p.ctx, sink_fn, &k2), SR_E_INVAL);
	p.close(p.ctx);
	fx_free(f);
}

static void test_background_delivery_and_latency(void **state)
{
	struct fixture *f = fx_new(state);
	struct sr_sandbox_options opt = {.latency_ms = 60, .async_delay_ms = 0, .poll_ms = 20};
	struct sr_processor p;
	struct card_buf cb;
	struct sr_proc_result r;
	struct sink k = {0};
	assert_int_equal(sr_sandbox_open(f->st, &opt, &p), 0);
	card_of(&cb, "5200828282828210", "123");
	int64_t t0 = now_ms();
	assert_int_equal(p.verify(p.ctx, "tok_lat", &cb.pc, &r), 0);
	assert_true(now_ms() - t0 >= 60);
	assert_int_equal(p.set_event_sink(p.ctx, sink_fn, &k), 0);
	assert_int_equal(
		p.payout(p.ctx, "po_bg", &cb.pc, SR_SANDBOX_AMOUNT_PAYOUT_FAILS, "EUR", &r), 0);
	/* The delivery thread picks it up on its own. */
	for (int i = 0; i < 200 && __atomic_load_n(&k.calls, __ATOMIC_SEQ_CST) == 0; i++)
		usleep(10000);
	p.close(p.ctx); /* joins the thread: k is stable after this */
	assert_int_equal(k.calls, 1);
	assert_string_equal(k.op_id, "po_bg");
	fx_free(f);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	static enum sr_store_kind sqlite = SR_STORE_SQLITE, pg = SR_STORE_POSTGRES;
#define T(fn, k) cmocka_unit_test_prestate(fn, &k)
	const struct CMUnitTest on_sqlite[] = {
		T(test_card_outcomes, sqlite),
		T(test_dedup_by_op_id, sqlite),
		T(test_async_payout_outcomes, sqlite),
		T(test_background_delivery_and_latency, sqlite),
	};
	const struct CMUnitTest on_pg[] = {
		T(test_card_outcomes, pg),
		T(test_dedup_by_op_id, pg),
		T(test_async_payout_outcomes, pg),
		T(test_background_delivery_and_latency, pg),
	};
	int failed = cmocka_run_group_tests_name("sandbox/sqlite", on_sqlite, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("sandbox/postgres", on_pg, NULL, NULL);
	else
		testdb_pg_skip_notice("test_sandbox");
	return failed;
}
