/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandbox processor (sandbox.h, docs/sandbox.md). It decides outcomes by
 * card number, like the test cards payment developers already know
 * (shared/data/testvectors/cards.md), and behaves like a real processor in
 * the ways the vault must be ready for: latency, deduplication by our
 * operation id, and outcomes that arrive later.
 *
 * Verification moves no money and its outcome follows from the card alone,
 * so it is answered without a record. Charges and payouts are recorded by
 * op id in the vault database before they are answered: a repeated op id
 * returns the recorded outcome. Asynchronous outcomes are rows with a due
 * time; a background poller (base/poller.h) hands each due row to the vault's sink inside a
 * write transaction that also marks it delivered, so an outcome is never
 * lost (a restart just finds it still due) nor delivered twice.
 *
 * Secrets: the PAN is read to pick the outcome; only its last four digits
 * are stored (for support, as a real processor's dashboard would show).
 * The CVC is read for nothing but "is this the incorrect-CVC test card".
 */
#include "vault/sandbox.h"
#include "audit/audit.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/poller.h"
#include "store/store.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS_DEFAULT 200
#define DELIVER_BATCH   64 /* events per poll, at most */

struct sandbox {
	struct sr_store *st;
	struct sr_sandbox_options opt;
	sr_proc_event_fn sink;
	void *sink_arg;
	struct sr_poller *deliverer; /* started with the event sink */
};

/* What a test card does. */
struct rule {
	const char *number;
	enum sr_proc_status status;
	const char *code;
	bool payouts; /* eligible for push-to-card payouts */
};

static const struct rule rules[] = {
	{"4000056655665556", SR_PROC_APPROVED, "", true},
	{"5200828282828210", SR_PROC_APPROVED, "", true},
	{"4000000000000002", SR_PROC_DECLINED, SR_PROC_CODE_GENERIC_DECLINE, false},
	{"4000000000009995", SR_PROC_DECLINED, SR_PROC_CODE_INSUFFICIENT_FUNDS, false},
	{"4000000000000127", SR_PROC_DECLINED, SR_PROC_CODE_INCORRECT_CVC, false},
	{"4000000000000069", SR_PROC_DECLINED, SR_PROC_CODE_EXPIRED_CARD, false},
	{"4000000000000119", SR_PROC_ERROR, SR_PROC_CODE_PROCESSING_ERROR, false},
	{"4000002760003184", SR_PROC_REQUIRES_AUTHENTICATION, SR_PROC_CODE_AUTHENTICATION_REQUIRED,
	 false},
};

/* Every other valid card is approved and cannot receive payouts. */
static const struct rule default_rule = {NULL, SR_PROC_APPROVED, "", false};

static const struct rule *rule_for(const struct sr_card_pan *pan)
{
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
		if (strcmp(rules[i].number, pan->digits) == 0)
			return &rules[i];
	return &default_rule;
}

static const char *status_name(enum sr_proc_status s)
{
	switch (s) {
	case SR_PROC_APPROVED: return "approved";
	case SR_PROC_DECLINED: return "declined";
	case SR_PROC_ERROR: return "error";
	case SR_PROC_REQUIRES_AUTHENTICATION: return "requires_authentication";
	}
	return "error";
}

static enum sr_proc_status status_parse(const char *s)
{
	if (strcmp(s, "approved") == 0)
		return SR_PROC_APPROVED;
	if (strcmp(s, "declined") == 0)
		return SR_PROC_DECLINED;
	if (strcmp(s, "requires_authentication") == 0)
		return SR_PROC_REQUIRES_AUTHENTICATION;
	return SR_PROC_ERROR;
}

static void simulate_latency(const struct sandbox *sb)
{
	if (sb->opt.latency_ms == 0)
		return;
	struct timespec ts = {
		.tv_sec = sb->opt.latency_ms / 1000,
		.tv_nsec = (long)(sb->opt.latency_ms % 1000) * 1000000L,
	};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool op_id_ok(const char *op_id)
{
	size_t n = op_id ? strnlen(op_id, SR_PROC_OP_ID_MAX + 1) : 0;
	if (n == 0 || n > SR_PROC_OP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = op_id[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool card_ok(const struct sr_proc_card *card)
{
	return card != NULL && card->pan != NULL && card->pan->len >= SR_CARD_PAN_MIN &&
	       card->pan->len <= SR_CARD_PAN_MAX && card->exp_month >= 1 && card->exp_month <= 12;
}

static void set_result(struct sr_proc_result *out, enum sr_proc_status status, const char *code)
{
	out->status = status;
	snprintf(out->code, sizeof out->code, "%s", status == SR_PROC_APPROVED ? "" : code);
}

static int sb_verify(void *ctx, const char *op_id, const struct sr_proc_card *card,
		     struct sr_proc_result *out)
{
	struct sandbox *sb = ctx;
	memset(out, 0, sizeof *out);
	if (!op_id_ok(op_id) || !card_ok(card) || card->cvc == NULL)
		return SR_E_INVAL;
	simulate_latency(sb);
	const struct rule *r = rule_for(card->pan);
	/* A zero-amount verification moves no money, so it cannot fail for
	 * lack of funds: that card tokenizes and its charges decline. */
	if (strcmp(r->code, SR_PROC_CODE_INSUFFICIENT_FUNDS) == 0)
		set_result(out, SR_PROC_APPROVED, "");
	else
		set_result(out, r->status, r->code);
	/* The CVC is checked for every card; only the incorrect-CVC test card
	 * has a "wrong" one. */
	snprintf(out->cvc_check, sizeof out->cvc_check, "%s",
		 strcmp(r->code, SR_PROC_CODE_INCORRECT_CVC) == 0 ? "fail" : "pass");
	snprintf(out->reference, sizeof out->reference, "sbx_vf_%s", op_id);
	return 0;
}

/* One money-moving operation, as recorded. */
struct op_job {
	const char *op_id;
	const char *kind; /* "charge" | "payout" */
	int64_t amount;
	const char *currency;
	char last4[5];
	enum sr_proc_status status;
	const char *code;
	char reference[SR_PROC_REFERENCE_MAX + 1];
	const char *event_kind; /* NULL: no async outcome */
	const char *event_code;
	int64_t due_ms;
	/* result: what is on record (ours, or the first call's) */
	struct sr_proc_result result;
};

static int op_tx(struct sr_conn *c, void *arg)
{
	struct op_job *job = arg;
	struct sr_stmt *s = NULL;
	char now[32];
	int rc;

	memset(&job->result, 0, sizeof job->result);
	sr_audit_now(now, sizeof now);
	rc = sr_stmt_prepare(
		c,
		"INSERT INTO sandbox_operations (op_id, kind, amount, currency, last4, "
		"status, code, reference, created_at) VALUES ($1, $2, $3, $4, $5, $6, "
		"$7, $8, $9) ON CONFLICT (op_id) DO NOTHING",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, job->kind, strlen(job->kind));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 3, job->amount);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 4, job->currency, strlen(job->currency));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 5, job->last4, strlen(job->last4));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 6, status_name(job->status),
				       strlen(status_name(job->status)));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 7, job->code, strlen(job->code));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 8, job->reference, strlen(job->reference));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 9, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	bool inserted = rc == 0 && sr_stmt_changes(s) == 1;
	sr_stmt_done(s);
	s = NULL;
	if (rc < 0)
		return rc;

	if (inserted) {
		job->result.status = job->status;
		snprintf(job->result.code, sizeof job->result.code, "%s", job->code);
		snprintf(job->result.reference, sizeof job->result.reference, "%s", job->reference);
		if (job->event_kind == NULL)
			return 0;
		rc = sr_stmt_prepare(
			c,
			"INSERT INTO sandbox_events (op_id, kind, code, due_ms) VALUES "
			"($1, $2, $3, $4)",
			&s);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 2, job->event_kind, strlen(job->event_kind));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 3, job->event_code, strlen(job->event_code));
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 4, job->due_ms);
		if (rc == 0)
			rc = sr_stmt_step(s);
		sr_stmt_done(s);
		return rc < 0 ? rc : 0;
	}

	/* A repeated op id: the first outcome, if it was the same request. */
	rc = sr_stmt_prepare(c,
			     "SELECT kind, amount, currency, status, code, reference FROM "
			     "sandbox_operations WHERE op_id = $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		size_t n;
		const char *kind = sr_stmt_col_text(s, 0, &n);
		const char *cur = sr_stmt_col_text(s, 2, &n);
		if (strcmp(kind, job->kind) != 0 || sr_stmt_col_i64(s, 1) != job->amount ||
		    strcmp(cur, job->currency) != 0) {
			rc = SR_E_CONFLICT;
		} else {
			job->result.status = status_parse(sr_stmt_col_text(s, 3, &n));
			snprintf(job->result.code, sizeof job->result.code, "%s",
				 sr_stmt_col_text(s, 4, &n));
			snprintf(job->result.reference, sizeof job->result.reference, "%s",
				 sr_stmt_col_text(s, 5, &n));
			rc = 0;
		}
	} else if (rc == 0) {
		rc = SR_E_RETRY; /* inserted by a transaction we could not see yet */
	}
	sr_stmt_done(s);
	return rc;
}

static bool currency_ok(const char *cur)
{
	if (cur == NULL || strlen(cur) != 3)
		return false;
	for (int i = 0; i < 3; i++)
		if (cur[i] < 'A' || cur[i] > 'Z')
			return false;
	return true;
}

static int money_op(struct sandbox *sb, const char *kind, const char *op_id,
		    const struct sr_proc_card *card, int64_t amount, const char *currency,
		    struct sr_proc_result *out)
{
	struct op_job job = {.op_id = op_id, .kind = kind, .amount = amount, .currency = currency};
	unsigned char rnd[8];
	char hex[sizeof rnd * 2 + 1];

	memset(out, 0, sizeof *out);
	if (!op_id_ok(op_id) || !card_ok(card) || amount <= 0 || !currency_ok(currency))
		return SR_E_INVAL;
	simulate_latency(sb);
	if (sr_card_pan_last4(card->pan, job.last4) != 0)
		return SR_E_INVAL;

	const struct rule *r = rule_for(card->pan);
	job.status = r->status;
	job.code = r->code;
	if (strcmp(kind, "payout") == 0) {
		if (!r->payouts) {
			job.status = SR_PROC_DECLINED;
			job.code = SR_PROC_CODE_PAYOUTS_NOT_ALLOWED;
		} else if (amount == SR_SANDBOX_AMOUNT_PAYOUT_FAILS) {
			job.event_kind = sr_proc_event_kind_name(SR_PROC_EVENT_PAYOUT_FAILED);
			job.event_code = SR_PROC_CODE_COULD_NOT_PROCESS;
		} else if (amount == SR_SANDBOX_AMOUNT_PAYOUT_RETURNS) {
			job.event_kind = sr_proc_event_kind_name(SR_PROC_EVENT_PAYOUT_RETURNED);
			job.event_code = SR_PROC_CODE_ACCOUNT_CLOSED;
		}
	}
	job.due_ms = sr_clock_now_ms() + (int64_t)sb->opt.async_delay_ms;
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(job.reference, sizeof job.reference, "sbx_%s_%s",
		 strcmp(kind, "payout") == 0 ? "po" : "ch", hex);

	int rc = sr_store_tx(sb->st, SR_TX_WRITE, op_tx, &job);
	if (rc == SR_E_CONFLICT || rc == SR_E_INVAL)
		return rc;
	if (rc != 0)
		return SR_E_UNAVAILABLE; /* outcome unknown to the caller: retry with the op id */
	*out = job.result;
	return 0;
}

static int sb_charge(void *ctx, const char *op_id, const struct sr_proc_card *card, int64_t amount,
		     const char *currency, struct sr_proc_result *out)
{
	return money_op(ctx, "charge", op_id, card, amount, currency, out);
}

static int sb_payout(void *ctx, const char *op_id, const struct sr_proc_card *card, int64_t amount,
		     const char *currency, struct sr_proc_result *out)
{
	return money_op(ctx, "payout", op_id, card, amount, currency, out);
}

/* One due event handed to the sink. */
struct deliver_job {
	struct sandbox *sb;
	int64_t now_ms;
	bool delivered;
	char op_id[SR_PROC_OP_ID_MAX + 1];
	char kind[32];
	char code[SR_PROC_CODE_MAX + 1];
	char reference[SR_PROC_REFERENCE_MAX + 1];
	char currency[8];
	int64_t amount;
};

static int copy_col(struct sr_stmt *s, int col, char *dst, size_t cap)
{
	size_t n;
	const char *v = sr_stmt_col_text(s, col, &n);
	if (v == NULL || n >= cap)
		return SR_E_INVAL;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int deliver_tx(struct sr_conn *c, void *arg)
{
	struct deliver_job *job = arg;
	struct sr_stmt *s = NULL;
	int rc;

	job->delivered = false;
	/* SKIP LOCKED: several vault instances deliver side by side, each
	 * event once. */
	rc = sr_stmt_prepare(c,
			     "SELECT op_id, kind, code FROM sandbox_events WHERE delivered_ms IS "
			     "NULL AND due_ms <= $1 ORDER BY due_ms, op_id LIMIT 1 FOR UPDATE "
			     "SKIP LOCKED",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, job->now_ms);
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		rc = copy_col(s, 0, job->op_id, sizeof job->op_id);
		if (rc == 0)
			rc = copy_col(s, 1, job->kind, sizeof job->kind);
		if (rc == 0)
			rc = copy_col(s, 2, job->code, sizeof job->code);
		if (rc == 0)
			rc = 1;
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc <= 0)
		return rc; /* nothing due, or an error */

	rc = sr_stmt_prepare(
		c,
		"SELECT reference, amount, currency FROM sandbox_operations WHERE op_id "
		"= $1",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		job->amount = sr_stmt_col_i64(s, 1);
		rc = copy_col(s, 0, job->reference, sizeof job->reference);
		if (rc == 0)
			rc = copy_col(s, 2, job->currency, sizeof job->currency);
	} else if (rc == 0) {
		rc = SR_E_INTERNAL; /* the foreign key makes this impossible */
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0)
		return rc;

	struct sr_proc_event ev = {
		.op_id = job->op_id,
		.kind = strcmp(job->kind, "payout.returned") == 0 ? SR_PROC_EVENT_PAYOUT_RETURNED
								  : SR_PROC_EVENT_PAYOUT_FAILED,
		.code = job->code,
		.reference = job->reference,
		.amount = job->amount,
		.currency = job->currency,
	};
	rc = job->sb->sink(c, job->sb->sink_arg, &ev);
	if (rc != 0)
		return rc < 0 ? rc : SR_E_INTERNAL;
	rc = sr_stmt_prepare(c, "UPDATE sandbox_events SET delivered_ms = $1 WHERE op_id = $2", &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, job->now_ms);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, job->op_id, strlen(job->op_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	if (rc < 0)
		return rc;
	job->delivered = true;
	return 0;
}

int sr_sandbox_deliver_due(void *ctx, int64_t now_ms_epoch)
{
	struct sandbox *sb = ctx;
	int n = 0;
	if (sb->sink == NULL)
		return 0;
	for (int i = 0; i < DELIVER_BATCH; i++) {
		struct deliver_job job = {.sb = sb, .now_ms = now_ms_epoch};
		int rc = sr_store_tx(sb->st, SR_TX_WRITE, deliver_tx, &job);
		if (rc != 0) {
			/* Left due: offered again at the next poll. */
			sr_log(SR_LOG_WARN, "sandbox: an asynchronous outcome was not delivered",
			       SR_LS("op_id", job.op_id), SR_LS("error", sr_strerror(rc)));
			return n > 0 ? n : rc;
		}
		if (!job.delivered)
			break;
		n++;
	}
	return n;
}

/* At once, then every poll_ms: up to DELIVER_BATCH due outcomes a pass. */
static int deliver_pass(void *arg, bool *more)
{
	(void)more;
	int delivered = sr_sandbox_deliver_due(arg, sr_clock_now_ms()); /* failures are logged */
	(void)delivered;
	return 0;
}

static int sb_set_event_sink(void *ctx, sr_proc_event_fn fn, void *arg)
{
	struct sandbox *sb = ctx;
	if (fn == NULL || sb->sink != NULL)
		return SR_E_INVAL;
	sb->sink = fn;
	sb->sink_arg = arg;
	unsigned poll = sb->opt.poll_ms ? sb->opt.poll_ms : POLL_MS_DEFAULT;
	if (sr_poller_start("sandbox delivery", deliver_pass, sb, poll, &sb->deliverer) != 0) {
		sb->sink = NULL;
		return SR_E_INTERNAL;
	}
	return 0;
}

static void sb_close(void *ctx)
{
	struct sandbox *sb = ctx;
	if (sb == NULL)
		return;
	sr_poller_stop(sb->deliverer);
	free(sb);
}

int sr_sandbox_open(struct sr_store *st, const struct sr_sandbox_options *opt,
		    struct sr_processor *out)
{
	memset(out, 0, sizeof *out);
	if (sodium_init() < 0)
		return SR_E_INTERNAL;
	struct sandbox *sb = sr_xcalloc(1, sizeof *sb);
	sb->st = st;
	if (opt != NULL)
		sb->opt = *opt;
	out->name = "sandbox";
	out->ctx = sb;
	out->verify = sb_verify;
	out->charge = sb_charge;
	out->payout = sb_payout;
	out->set_event_sink = sb_set_event_sink;
	out->close = sb_close;
	return 0;
}
