/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stored cards (card_…): POST /v1/cards spends a token (tok_…) and keeps
 * its card, re-sealed under the card's own id (the AAD), so a sealed card
 * copied to another row does not open. Only brand, bin6, last4, expiry and
 * the keyed fingerprint are kept in clear and shown. DELETE removes the
 * sealed data for good (the row stays, as a tombstone, so the id keeps
 * answering "deleted" and the audit trail keeps its object).
 *
 * Runs on worker-pool threads, called through sr_payments_call (payments.c
 * holds the HTTP glue and authentication). The clear card exists only in
 * sodium_malloc memory for the length of one transaction.
 */
#include "audit/audit.h"
#include "store/store.h"
#include "svc/runtime.h"
#include "vault/card_secret.h"
#include "vault/payments_int.h"
#include "vault/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The public card object; j_row columns: see CARD_COLS. */
#define CARD_COLS "id, brand, bin6, last4, exp_month, exp_year, fingerprint, created_s, deleted_s"

static json_t *card_json(struct sr_stmt *s)
{
	size_t n;
	json_t *j = json_object();
	json_object_set_new(j, "id", json_string(sr_stmt_col_text(s, 0, &n)));
	json_object_set_new(j, "object", json_string("card"));
	if (!sr_stmt_col_is_null(s, 8)) {
		json_object_set_new(j, "deleted", json_true());
		return j;
	}
	json_object_set_new(j, "brand", json_string(sr_stmt_col_text(s, 1, &n)));
	json_object_set_new(j, "bin6", json_string(sr_stmt_col_text(s, 2, &n)));
	json_object_set_new(j, "last4", json_string(sr_stmt_col_text(s, 3, &n)));
	json_object_set_new(j, "exp_month", json_integer(sr_stmt_col_i64(s, 4)));
	json_object_set_new(j, "exp_year", json_integer(sr_stmt_col_i64(s, 5)));
	json_object_set_new(j, "fingerprint", json_string(sr_stmt_col_text(s, 6, &n)));
	json_object_set_new(j, "created", json_integer(sr_stmt_col_i64(s, 7)));
	return j;
}

/* Reads card id (deleted or not) into *out; 0, SR_E_NOTFOUND or store error. */
static int card_read(struct sr_conn *c, const char *id, json_t **out)
{
	struct sr_stmt *s = NULL;
	*out = NULL;
	int rc = sr_stmt_prepare(c, "SELECT " CARD_COLS " FROM vault_cards WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, id, strlen(id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 1) {
			*out = card_json(s);
			rc = 0;
		} else if (rc == 0) {
			rc = SR_E_NOTFOUND;
		}
	}
	sr_stmt_done(s);
	return rc;
}

int sr_pay_card_load(struct sr_conn *c, struct sr_keyring *ring, const char *card_id,
		     struct sr_vault_card **out)
{
	struct sr_stmt *s = NULL;
	size_t n = 0;
	*out = NULL;
	int rc = sr_stmt_prepare(
		c,
		"SELECT sealed_card FROM vault_cards WHERE id = $1 AND deleted_s IS "
		"NULL AND sealed_card IS NOT NULL",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, card_id, strlen(card_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 1) {
			const void *blob = sr_stmt_col_blob(s, 0, &n);
			rc = sr_vault_card_open(ring, card_id, blob, n, out);
		} else if (rc == 0) {
			rc = SR_E_NOTFOUND;
		}
	}
	sr_stmt_done(s);
	return rc;
}

struct create_job {
	struct sr_payments *p;
	struct sr_pay_call *call;
	const char *token;
	char id[SR_PAY_ID_MAX];
	/* results */
	bool token_missing;
	json_t *card;
};

static int create_tx(struct sr_conn *c, void *arg)
{
	struct create_job *job = arg;
	struct sr_vault_card *card = NULL;
	struct sr_stmt *s = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	char details[256];
	int64_t now = (int64_t)time(NULL);
	int rc;

	json_decref(job->card);
	job->card = NULL;
	job->token_missing = false;

	rc = sr_tokens_consume(c, sr_pay_ring(job->p), job->token, job->id, now, &card);
	if (rc == SR_E_NOTFOUND) {
		job->token_missing = true;
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	rc = sr_vault_card_seal(sr_pay_ring(job->p), job->id, card, &blob, &blob_len);
	if (rc != 0)
		goto out;
	rc = sr_stmt_prepare(c,
			     "INSERT INTO vault_cards (id, sealed_card, brand, bin6, last4, "
			     "exp_month, exp_year, fingerprint, api_key_id, created_s) VALUES ($1, "
			     "$2, $3, $4, $5, $6, $7, $8, $9, $10)",
			     &s);
	const char *brand = sr_vault_card_brand(card);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->id, strlen(job->id));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 2, blob, blob_len);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, brand, strlen(brand));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 4, card->bin6, strlen(card->bin6));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 5, card->last4, strlen(card->last4));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 6, card->exp_month);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 7, card->exp_year);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 8, card->fingerprint, strlen(card->fingerprint));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 9, job->call->api_key_id, strlen(job->call->api_key_id));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 10, now);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
	}
	sr_stmt_done(s);
	if (rc != 0)
		goto out;
	snprintf(details, sizeof details,
		 "{\"token\":\"%s\",\"brand\":\"%s\",\"last4\":\"%s\",\"fingerprint\":\"%s\"}",
		 job->token, brand, card->last4, card->fingerprint);
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = job->call->api_key_id,
		.action = "card.create",
		.object_type = "card",
		.object_id = job->id,
		.outcome = "success",
		.ip = job->call->ip,
		.request_id = job->call->request_id,
		.details = details,
	};
	rc = sr_audit_append(c, sr_pay_audit_key(job->p), &ev);
	if (rc == 0)
		rc = card_read(c, job->id, &job->card);
out:
	free(blob);
	sr_vault_card_free(card);
	return rc;
}

void sr_pay_card_create(struct sr_payments *p, struct sr_pay_call *call)
{
	static const char *const allowed[] = {"token", NULL};
	struct create_job job = {.p = p, .call = call};
	json_t *body = sr_pay_parse_body(call);
	if (body == NULL)
		return;
	if (sr_pay_only_params(call, body, allowed) != 0)
		goto out;
	json_t *tok = json_object_get(body, "token");
	if (tok == NULL) {
		sr_pay_set_error(call, 400, "invalid_request_error", "parameter_missing",
				 "token is required: the tok_... id from POST /v1/tokens", "token");
		goto out;
	}
	if (!json_is_string(tok) || !sr_pay_id_ok(json_string_value(tok), "tok_")) {
		sr_pay_set_error(call, 400, "invalid_request_error", "parameter_invalid",
				 "token must be a token id (tok_...)", "token");
		goto out;
	}
	job.token = json_string_value(tok);
	sr_pay_new_id("card_", job.id);
	int rc = sr_store_tx(sr_pay_store(p), SR_TX_WRITE, create_tx, &job);
	if (rc != 0) {
		sr_pay_set_error(call, 500, "api_error", "internal_error",
				 "The card could not be stored; try again.", NULL);
	} else if (job.token_missing) {
		sr_pay_set_error(call, 400, "invalid_request_error", "resource_missing",
				 "No such token: it does not exist, was already used or expired",
				 "token");
	} else {
		sr_pay_set_json(call, 201, job.card);
		job.card = NULL;
	}
out:
	json_decref(job.card);
	json_decref(body);
}

struct get_job {
	const char *id;
	json_t *card;
};

static int get_tx(struct sr_conn *c, void *arg)
{
	struct get_job *job = arg;
	json_decref(job->card);
	job->card = NULL;
	int rc = card_read(c, job->id, &job->card);
	return rc == SR_E_NOTFOUND ? 0 : rc;
}

static void no_such_card(struct sr_pay_call *call, bool deleted)
{
	sr_pay_set_error(call, 404, "invalid_request_error", "resource_missing",
			 deleted ? "No such card: it was deleted" : "No such card", "id");
}

static bool is_deleted(const json_t *card)
{
	return json_is_true(json_object_get(card, "deleted"));
}

void sr_pay_card_get(struct sr_payments *p, struct sr_pay_call *call)
{
	struct get_job job = {.id = call->id};
	if (!sr_pay_id_ok(call->id, "card_")) {
		no_such_card(call, false);
		return;
	}
	int rc = sr_store_tx(sr_pay_store(p), SR_TX_READ, get_tx, &job);
	if (rc != 0)
		sr_pay_set_error(call, 500, "api_error", "internal_error",
				 "The card could not be read; try again.", NULL);
	else if (job.card == NULL || is_deleted(job.card)) {
		no_such_card(call, job.card != NULL);
		json_decref(job.card);
	} else
		sr_pay_set_json(call, 200, job.card);
}

struct delete_job {
	struct sr_payments *p;
	struct sr_pay_call *call;
	/* results */
	int found; /* 0 none, 1 deleted now, 2 deleted before */
	json_t *card;
};

static int delete_tx(struct sr_conn *c, void *arg)
{
	struct delete_job *job = arg;
	struct sr_stmt *s = NULL;
	json_decref(job->card);
	job->card = NULL;
	job->found = 0;
	int rc = sr_stmt_prepare(
		c,
		"UPDATE vault_cards SET sealed_card = NULL, deleted_s = $2 WHERE id "
		"= $1 AND deleted_s IS NULL",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->call->id, strlen(job->call->id));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, (int64_t)time(NULL));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc >= 0) {
			job->found = sr_stmt_changes(s) == 1 ? 1 : 0;
			rc = 0;
		}
	}
	sr_stmt_done(s);
	if (rc != 0)
		return rc;
	rc = card_read(c, job->call->id, &job->card);
	if (rc == SR_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (job->found == 0) {
		job->found = 2; /* deleted earlier: 404, audited once */
		return 0;
	}
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = job->call->api_key_id,
		.action = "card.delete",
		.object_type = "card",
		.object_id = job->call->id,
		.outcome = "success",
		.ip = job->call->ip,
		.request_id = job->call->request_id,
	};
	return sr_audit_append(c, sr_pay_audit_key(job->p), &ev);
}

void sr_pay_card_delete(struct sr_payments *p, struct sr_pay_call *call)
{
	struct delete_job job = {.p = p, .call = call};
	if (!sr_pay_id_ok(call->id, "card_")) {
		no_such_card(call, false);
		return;
	}
	int rc = sr_store_tx(sr_pay_store(p), SR_TX_WRITE, delete_tx, &job);
	if (rc != 0)
		sr_pay_set_error(call, 500, "api_error", "internal_error",
				 "The card could not be deleted; try again.", NULL);
	else if (job.card == NULL || job.found == 2)
		no_such_card(call, job.card != NULL);
	else {
		sr_pay_set_json(call, 200, job.card);
		job.card = NULL;
	}
	json_decref(job.card);
}
