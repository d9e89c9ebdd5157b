/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox table: enqueue inside the caller's transaction, and the lease
 * protocol the delivery job uses to claim, complete and retry rows.
 *
 * Rows hold the recipient as given (or none: the member's address is then
 * looked up at send time) and masked variables only; the member's
 * anti-phishing code is not stored here but looked up at send time. The
 * one-time codes of email_verification/password_reset are blanked once sent. Ids and
 * references are 128 random bits.
 */
#include "platform/notify/outbox.h"
#include "base/clock.h"
#include "base/mem.h"
#include "platform/notify/mail.h"
#include "platform/notify/sms.h"
#include "platform/notify/templates.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void random_id(const char *prefix, char out[SR_OUTBOX_ID_SIZE])
{
	unsigned char rnd[16];
	char hex[33];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(out, SR_OUTBOX_ID_SIZE, "%s%s", prefix, hex);
}

void sr_outbox_time(int64_t offset_ms, char out[32])
{
	sr_clock_text(offset_ms, out);
}

static bool printable_ascii(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return false;
	return n > 0 && n <= max;
}

static int bind_all(struct sr_stmt *s, const char *const *v, int n)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		rc = v[i] ? sr_stmt_bind_text(s, i + 1, v[i], strlen(v[i]))
			  : sr_stmt_bind_null(s, i + 1);
	return rc;
}

int sr_outbox_enqueue(struct sr_conn *c, const struct sr_outbox_item *item,
		      char ref_out[SR_OUTBOX_ID_SIZE])
{
	int rc;
	struct sr_stmt *s = NULL;
	struct sr_rendered r = {0};
	char id[SR_OUTBOX_ID_SIZE], ref[SR_OUTBOX_ID_SIZE], now[32];
	ref_out[0] = '\0';
	if (item == NULL || item->dedup_key == NULL ||
	    !printable_ascii(item->dedup_key, SR_OUTBOX_DEDUP_MAX) ||
	    (item->member_id != NULL && !printable_ascii(item->member_id, SR_OUTBOX_MEMBER_MAX)))
		return SR_E_INVAL;
	/* No recipient: the member's own address, resolved when sending. */
	bool by_member = item->recipient == NULL;
	if (by_member && (item->member_id == NULL || item->channel != SR_OUTBOX_EMAIL))
		return SR_E_INVAL;
	if (by_member)
		rc = 0;
	else if (item->channel == SR_OUTBOX_EMAIL)
		rc = sr_mail_check_addr(item->recipient);
	else if (item->channel == SR_OUTBOX_SMS)
		rc = sr_sms_check_number(item->recipient);
	else
		rc = SR_E_INVAL;
	if (rc != 0)
		return rc;
	random_id("ntf_", id);
	random_id("msg_", ref);
	/* A trial render: a notification that can never be sent is refused
	 * now, where the caller can still react. */
	struct sr_template_ctx ctx = {
		.name = item->template_name,
		.variables_json = item->variables_json,
		.reference = ref,
		.date = "1970-01-01 00:00 UTC",
	};
	if ((rc = sr_template_render(&ctx, &r)) != 0)
		return rc;
	if (item->channel == SR_OUTBOX_SMS && r.sms == NULL) {
		rc = SR_E_INVAL;
		goto out;
	}
	sr_outbox_time(0, now);
	const char *vars = item->variables_json ? item->variables_json : "{}";
	const char *v[] = {id,
			   item->dedup_key,
			   item->channel == SR_OUTBOX_EMAIL ? "email" : "sms",
			   item->member_id,
			   by_member ? "" : item->recipient,
			   item->template_name,
			   vars,
			   ref,
			   now};
	if ((rc = sr_stmt_prepare(
		     c,
		     "INSERT INTO outbox (id, dedup_key, channel, member_id, "
		     "recipient, template, variables, reference, state, attempts, "
		     "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
		     "$8, 'pending', 0, $9, $9) ON CONFLICT (dedup_key) DO NOTHING",
		     &s)) != 0 ||
	    (rc = bind_all(s, v, 9)) != 0 || (rc = sr_stmt_step(s)) < 0)
		goto out;
	sr_stmt_done(s);
	s = NULL;
	/* Inserted or not, the row with this key is the one to report. */
	if ((rc = sr_stmt_prepare(c, "SELECT reference FROM outbox WHERE dedup_key = $1", &s)) !=
		    0 ||
	    (rc = sr_stmt_bind_text(s, 1, item->dedup_key, strlen(item->dedup_key))) != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc == 1) {
		snprintf(ref_out, SR_OUTBOX_ID_SIZE, "%s", sr_stmt_col_text(s, 0, NULL));
		rc = 0;
	} else if (rc == 0) {
		rc = SR_E_INTERNAL;
	}
out:
	sr_stmt_done(s);
	sr_rendered_free(&r);
	return rc;
}

void sr_outbox_row_free(struct sr_outbox_row *r)
{
	if (r == NULL)
		return;
	free(r->member_id);
	free(r->recipient);
	free(r->template_name);
	free(r->variables_json);
	free(r->created_at);
	memset(r, 0, sizeof *r);
}

struct claim {
	const char *owner;
	int64_t lease_ms;
	unsigned max;
	struct sr_outbox_row *rows;
	size_t n;
};

static char *col_dup(struct sr_stmt *s, int col)
{
	if (sr_stmt_col_is_null(s, col))
		return NULL;
	return sr_xstrdup(sr_stmt_col_text(s, col, NULL));
}

static void claim_reset(struct claim *cl)
{
	for (size_t i = 0; i < cl->n; i++)
		sr_outbox_row_free(&cl->rows[i]);
	free(cl->rows);
	cl->rows = NULL;
	cl->n = 0;
}

static int claim_tx(struct sr_conn *c, void *arg)
{
	struct claim *cl = arg;
	struct sr_stmt *s = NULL;
	int rc;
	char now[32], until[32];
	/* fn may run again after a retry: start from nothing. */
	claim_reset(cl);
	sr_outbox_time(0, now);
	sr_outbox_time(cl->lease_ms, until);
	/* Rows that are due and not leased by a live worker. The lease check
	 * covers a 'sending' row whose worker died. */
	if ((rc = sr_stmt_prepare(
		     c,
		     "SELECT id, reference, channel, member_id, recipient, template, variables, "
		     "created_at, attempts FROM outbox WHERE state IN ('pending', 'sending') AND "
		     "next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) "
		     "ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
		     &s)) != 0 ||
	    (rc = sr_stmt_bind_text(s, 1, now, strlen(now))) != 0 ||
	    (rc = sr_stmt_bind_i64(s, 2, cl->max)) != 0)
		goto out;
	cl->rows = sr_xcalloc(cl->max ? cl->max : 1, sizeof *cl->rows);
	while ((rc = sr_stmt_step(s)) == 1 && cl->n < cl->max) {
		struct sr_outbox_row *r = &cl->rows[cl->n++];
		snprintf(r->id, sizeof r->id, "%s", sr_stmt_col_text(s, 0, NULL));
		snprintf(r->reference, sizeof r->reference, "%s", sr_stmt_col_text(s, 1, NULL));
		r->channel = strcmp(sr_stmt_col_text(s, 2, NULL), "sms") == 0 ? SR_OUTBOX_SMS
									      : SR_OUTBOX_EMAIL;
		r->member_id = col_dup(s, 3);
		r->recipient = col_dup(s, 4);
		r->template_name = col_dup(s, 5);
		r->variables_json = col_dup(s, 6);
		r->created_at = col_dup(s, 7);
		r->attempts = sr_stmt_col_i64(s, 8) + 1;
	}
	if (rc < 0)
		goto out;
	sr_stmt_done(s);
	s = NULL;
	for (size_t i = 0; i < cl->n; i++) {
		struct sr_outbox_row *r = &cl->rows[i];
		if ((rc = sr_stmt_prepare(c,
					  "UPDATE outbox SET state = 'sending', lease_owner = $2, "
					  "lease_until = $3, attempts = attempts + 1 WHERE id = $1 "
					  "AND (lease_until IS NULL OR lease_until <= $4)",
					  &s)) != 0)
			goto out;
		const char *v[] = {r->id, cl->owner, until, now};
		if ((rc = bind_all(s, v, 4)) != 0 || (rc = sr_stmt_step(s)) < 0)
			goto out;
		if (sr_stmt_changes(s) != 1) {
			/* Unreachable under the row lock / SQLite write lock;
			 * never send a row we do not hold. */
			rc = SR_E_RETRY;
			goto out;
		}
		sr_stmt_done(s);
		s = NULL;
	}
	rc = 0;
out:
	sr_stmt_done(s);
	return rc;
}

int sr_outbox_claim(struct sr_store *st, const char *owner, int64_t lease_ms, unsigned max,
		    struct sr_outbox_row **rows, size_t *n)
{
	struct claim cl = {.owner = owner, .lease_ms = lease_ms, .max = max};
	*rows = NULL;
	*n = 0;
	int rc = sr_store_tx(st, SR_TX_WRITE, claim_tx, &cl);
	if (rc != 0) {
		claim_reset(&cl);
		return rc;
	}
	*rows = cl.rows;
	*n = cl.n;
	return 0;
}

struct complete {
	const char *id, *owner, *provider_id, *error;
	int64_t delay_ms;
	bool sent, failed, owned;
};

static int complete_tx(struct sr_conn *c, void *arg)
{
	struct complete *m = arg;
	struct sr_stmt *s = NULL;
	int rc;
	char now[32], next[32];
	sr_outbox_time(0, now);
	sr_outbox_time(m->delay_ms, next);
	m->owned = false;
	if (m->sent) {
		const char *v[] = {m->id, m->owner, m->provider_id ? m->provider_id : "", now};
		rc = sr_stmt_prepare(
			c,
			"UPDATE outbox SET state = 'sent', provider_id = $3, sent_at = "
			"$4, lease_owner = NULL, lease_until = NULL, last_error = NULL, "
			/* A sent one-time code has no business staying readable here. */
			"variables = CASE WHEN template IN ('email_verification', "
			"'password_reset', 'phone_verification') THEN '{}' ELSE variables "
			"END "
			"WHERE id = $1 AND lease_owner = $2 AND state = 'sending'",
			&s);
		if (rc == 0)
			rc = bind_all(s, v, 4);
	} else {
		char err[SR_OUTBOX_ERROR_MAX];
		snprintf(err, sizeof err, "%s", m->error ? m->error : "");
		const char *v[] = {m->id, m->owner, m->failed ? "failed" : "pending", next, err};
		rc = sr_stmt_prepare(c,
				     "UPDATE outbox SET state = $3, next_attempt_at = $4, "
				     "last_error = $5, lease_owner = NULL, lease_until = NULL "
				     "WHERE id = $1 AND lease_owner = $2 AND state = 'sending'",
				     &s);
		if (rc == 0)
			rc = bind_all(s, v, 5);
	}
	if (rc == 0 && (rc = sr_stmt_step(s)) >= 0) {
		m->owned = sr_stmt_changes(s) == 1;
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

int sr_outbox_mark_sent(struct sr_store *st, const char *id, const char *owner,
			const char *provider_id, bool *still_owned)
{
	struct complete m = {.id = id, .owner = owner, .provider_id = provider_id, .sent = true};
	int rc = sr_store_tx(st, SR_TX_WRITE, complete_tx, &m);
	if (still_owned != NULL)
		*still_owned = rc == 0 && m.owned;
	return rc;
}

int sr_outbox_mark_retry(struct sr_store *st, const char *id, const char *owner, int64_t delay_ms,
			 bool failed, const char *error)
{
	struct complete m = {
		.id = id, .owner = owner, .delay_ms = delay_ms, .failed = failed, .error = error};
	return sr_store_tx(st, SR_TX_WRITE, complete_tx, &m);
}
