/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox table: enqueue inside the caller's transaction, and the lease
 * protocol the delivery job uses to claim, complete and retry rows.
 *
 * No personal data and no one-time secret in clear (outbox.h): a member's
 * row holds no recipient (the member's current address or verified phone is
 * looked up at send time) or one sealed by the caller under the member's
 * data key, masked variables, and the one-time secret variables sealed
 * likewise; this module never sees a key, it stores and hands back the
 * blobs, which the delivery hook `open` (delivery.h) opens at send time.
 * Clear secrets pass through here only for the trial render, in sodium
 * memory, wiped after. A finished row (sent or failed) loses its sealed
 * blobs: nothing reads them again. The member's anti-phishing code is not
 * stored here either but looked up at send time. Ids and references are
 * 128 random bits.
 */
#include "platform/notify/outbox.h"
#include "base/clock.h"
#include "base/mem.h"
#include "platform/notify/mail.h"
#include "platform/notify/sms.h"
#include "platform/notify/templates.h"
#include "store/store.h"

#include <jansson.h>
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

/* The members of a JSON object text, without its braces and surrounding
 * blanks: [*b, *e). false when text is not "{...}". */
static bool object_inner(const char *text, const char **b, const char **e)
{
	const char *p = text, *q = text + strlen(text);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r'))
		q--;
	if (q - p < 2 || *p != '{' || q[-1] != '}')
		return false;
	p++;
	q--;
	while (p < q && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r'))
		q--;
	*b = p;
	*e = q;
	return true;
}

int sr_outbox_merge_variables(const char *variables_json, const char *secret_json, char **out)
{
	const char *vb, *ve, *sb = NULL, *se = NULL;
	*out = NULL;
	if (!object_inner(variables_json ? variables_json : "{}", &vb, &ve))
		return SR_E_INVAL;
	if (secret_json != NULL && secret_json[0] != '\0' && !object_inner(secret_json, &sb, &se))
		return SR_E_INVAL;
	/* Textual, so the secret is copied only into memory we wipe; both
	 * halves are JSON object members, so "{" A "," B "}" is one object. */
	size_t vn = (size_t)(ve - vb), sn = sb ? (size_t)(se - sb) : 0;
	char *m = sodium_malloc(vn + sn + 4);
	if (m == NULL)
		return SR_E_NOMEM;
	size_t k = 0;
	m[k++] = '{';
	memcpy(m + k, vb, vn);
	k += vn;
	if (vn > 0 && sn > 0)
		m[k++] = ',';
	if (sn > 0)
		memcpy(m + k, sb, sn);
	k += sn;
	m[k++] = '}';
	m[k] = '\0';
	*out = m;
	return 0;
}

/*
 * The secret variables must be a JSON object of strings none of which the
 * clear variables also name, and a one-time code ("code") must never be a
 * clear variable: the outbox is no place to read one from.
 */
static int check_secret_split(const char *template_name, const char *variables_json,
			      const char *secret_json)
{
	int rc = 0;
	json_t *vars = json_loads(variables_json ? variables_json : "{}", 0, NULL);
	json_t *sec = secret_json ? json_loads(secret_json, 0, NULL) : NULL;
	if (!json_is_object(vars) || (secret_json != NULL && !json_is_object(sec))) {
		rc = SR_E_INVAL;
		goto out;
	}
	if (json_object_get(vars, "code") != NULL && sr_template_has_one_time_code(template_name))
		rc = SR_E_INVAL;
	const char *key;
	json_t *v;
	json_object_foreach(sec, key, v)
	{
		if (!json_is_string(v) || json_object_get(vars, key) != NULL)
			rc = SR_E_INVAL;
		else
			sodium_memzero((char *)json_string_value(v), json_string_length(v));
	}
out:
	json_decref(vars);
	json_decref(sec);
	return rc;
}

int sr_outbox_enqueue(struct sr_conn *c, const struct sr_outbox_item *item,
		      char ref_out[SR_OUTBOX_ID_SIZE])
{
	int rc;
	struct sr_stmt *s = NULL;
	struct sr_rendered r = {0};
	char *merged = NULL;
	char id[SR_OUTBOX_ID_SIZE], ref[SR_OUTBOX_ID_SIZE], now[32];
	ref_out[0] = '\0';
	if (item == NULL || item->dedup_key == NULL ||
	    !printable_ascii(item->dedup_key, SR_OUTBOX_DEDUP_MAX) ||
	    (item->member_id != NULL && !printable_ascii(item->member_id, SR_OUTBOX_MEMBER_MAX)))
		return SR_E_INVAL;
	/* A member's recipient is the current one (NULL) or a checked one that
	 * is stored only sealed; a secret is stored only sealed. Rows of no
	 * member hold a clear recipient and no secret. */
	bool has_sealed = item->recipient_sealed != NULL && item->recipient_sealed_len > 0;
	bool has_secret = item->secret_json != NULL;
	if (has_secret != (item->secret_sealed != NULL && item->secret_sealed_len > 0))
		return SR_E_INVAL;
	if (item->member_id != NULL ? (item->recipient != NULL) != has_sealed
				    : item->recipient == NULL || has_sealed || has_secret)
		return SR_E_INVAL;
	if (item->recipient == NULL)
		rc = item->channel == SR_OUTBOX_EMAIL || item->channel == SR_OUTBOX_SMS
			     ? 0
			     : SR_E_INVAL;
	else if (item->channel == SR_OUTBOX_EMAIL)
		rc = sr_mail_check_addr(item->recipient);
	else if (item->channel == SR_OUTBOX_SMS)
		rc = sr_sms_check_number(item->recipient);
	else
		rc = SR_E_INVAL;
	if (rc == 0)
		rc = check_secret_split(item->template_name, item->variables_json,
					item->secret_json);
	if (rc != 0)
		return rc;
	random_id("ntf_", id);
	random_id("msg_", ref);
	/* A trial render: a notification that can never be sent is refused
	 * now, where the caller can still react. */
	if ((rc = sr_outbox_merge_variables(item->variables_json, item->secret_json, &merged)) != 0)
		return rc;
	struct sr_template_ctx ctx = {
		.name = item->template_name,
		.variables_json = merged,
		.reference = ref,
		.date = "1970-01-01 00:00 UTC",
	};
	if ((rc = sr_template_render(&ctx, &r)) != 0)
		goto out;
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
			   item->member_id != NULL ? "" : item->recipient,
			   item->template_name,
			   vars,
			   ref,
			   now};
	if ((rc = sr_stmt_prepare(
		     c,
		     "INSERT INTO outbox (id, dedup_key, channel, member_id, "
		     "recipient, template, variables, reference, state, attempts, "
		     "next_attempt_at, created_at, recipient_sealed, secret_sealed) VALUES ($1, "
		     "$2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $10, $11) "
		     "ON CONFLICT (dedup_key) DO NOTHING",
		     &s)) != 0 ||
	    (rc = bind_all(s, v, 9)) != 0 ||
	    (rc = has_sealed ? sr_stmt_bind_blob(s, 10, item->recipient_sealed,
						 item->recipient_sealed_len)
			     : sr_stmt_bind_null(s, 10)) != 0 ||
	    (rc = has_secret
			  ? sr_stmt_bind_blob(s, 11, item->secret_sealed, item->secret_sealed_len)
			  : sr_stmt_bind_null(s, 11)) != 0 ||
	    (rc = sr_stmt_step(s)) < 0)
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
	if (merged != NULL)
		sodium_free(merged);
	return rc;
}

void sr_outbox_row_free(struct sr_outbox_row *r)
{
	if (r == NULL)
		return;
	free(r->dedup_key);
	free(r->member_id);
	free(r->recipient);
	free(r->recipient_sealed);
	free(r->secret_sealed);
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

static unsigned char *col_blob_dup(struct sr_stmt *s, int col, size_t *len)
{
	*len = 0;
	if (sr_stmt_col_is_null(s, col))
		return NULL;
	const void *b = sr_stmt_col_blob(s, col, len);
	unsigned char *copy = sr_xmalloc(*len ? *len : 1);
	if (*len > 0)
		memcpy(copy, b, *len);
	return copy;
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
		     "created_at, attempts, dedup_key, recipient_sealed, secret_sealed FROM outbox "
		     "WHERE state IN ('pending', 'sending') AND "
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
		r->dedup_key = col_dup(s, 9);
		r->recipient_sealed = col_blob_dup(s, 10, &r->recipient_sealed_len);
		r->secret_sealed = col_blob_dup(s, 11, &r->secret_sealed_len);
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

/* A finished row (sent or given up) keeps nothing that identifies the
 * recipient or opens a one-time code: its sealed blobs go, and a row from
 * before migration 0070 loses its clear recipient and code. */
#define FINISHED                                                                                   \
	"recipient_sealed = NULL, secret_sealed = NULL, "                                          \
	"recipient = CASE WHEN member_id IS NULL THEN recipient ELSE '' END, "                     \
	"variables = CASE WHEN template IN ('email_verification', 'password_reset', "              \
	"'phone_verification') THEN '{}' ELSE variables END "

int sr_outbox_withdraw(struct sr_conn *c, const char *member_id, const char *template_name,
		       const char *reason, unsigned *withdrawn)
{
	struct sr_stmt *s = NULL;
	char now[32];
	sr_outbox_time(0, now);
	if (withdrawn != NULL)
		*withdrawn = 0;
	const char *v[] = {member_id, template_name, reason, now};
	int rc = sr_stmt_prepare(
		c,
		"UPDATE outbox SET state = 'failed', last_error = $3, "
		"next_attempt_at = $4, lease_owner = NULL, lease_until = NULL, " FINISHED
		"WHERE member_id = $1 AND template = $2 AND state IN ('pending', "
		"'sending')",
		&s);
	if (rc == 0)
		rc = bind_all(s, v, 4);
	if (rc == 0 && (rc = sr_stmt_step(s)) >= 0) {
		if (withdrawn != NULL)
			*withdrawn = (unsigned)sr_stmt_changes(s);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

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
			"$4, lease_owner = NULL, lease_until = NULL, last_error = NULL, " FINISHED
			"WHERE id = $1 AND lease_owner = $2 AND state = 'sending'",
			&s);
		if (rc == 0)
			rc = bind_all(s, v, 4);
	} else {
		char err[SR_OUTBOX_ERROR_MAX];
		snprintf(err, sizeof err, "%s", m->error ? m->error : "");
		const char *v[] = {m->id, m->owner, m->failed ? "failed" : "pending", next, err};
		rc = sr_stmt_prepare(
			c,
			m->failed ? "UPDATE outbox SET state = $3, next_attempt_at = $4, "
				    "last_error = $5, lease_owner = NULL, "
				    "lease_until = NULL, " FINISHED
				    "WHERE id = $1 AND lease_owner = $2 AND "
				    "state = 'sending'"
				  : "UPDATE outbox SET state = $3, next_attempt_at = $4, "
				    "last_error = $5, lease_owner = NULL, "
				    "lease_until = NULL "
				    "WHERE id = $1 AND lease_owner = $2 AND "
				    "state = 'sending'",
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
