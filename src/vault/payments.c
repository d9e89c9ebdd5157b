/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Charges and push-to-card payouts (see payments.h for the contract), plus
 * the HTTP glue of every payments route, stored cards included.
 *
 * The order of events for POST /v1/charges and /v1/payouts is what keeps
 * money from moving twice:
 *   1. one write transaction claims the Idempotency-Key, spends the token
 *      or opens the stored card, and writes the operation "pending" with
 *      the card sealed under the operation id (AAD);
 *   2. the processor is called, outside any transaction, with that id: it
 *      deduplicates by it, so calling again after a crash is safe;
 *   3. one serializable transaction records the outcome (only if the row is
 *      still pending), drops the sealed copy, stores the answer under the
 *      Idempotency-Key, queues the signed webhook and appends the audit
 *      record.
 * A crash between 1 and 3 leaves a pending row and an in-flight key; the
 * start-up recovery pass (sr_payments_recover) runs 2 and 3 for it.
 *
 * Secrets: the clear card lives in sodium_malloc memory (card_secret.h) from
 * step 1 to step 2 and is then wiped. Responses, logs, audit records and
 * webhooks carry brand, last4 and expiry only.
 */
#include "vault/payments.h"
#include "audit/audit.h"
#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/poller.h"
#include "crypto/apikey.h"
#include "lib/money.h"
#include "net/http.h"
#include "net/router.h"
#include "store/store.h"
#include "svc/runtime.h"
#include "svc/webhook.h"
#include "vault/card_secret.h"
#include "vault/idempotency.h"
#include "vault/keys_api.h"
#include "vault/payments_int.h"
#include "vault/tokens.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY_MAX           (16 * 1024)
#define METADATA_KEYS_MAX  20
#define METADATA_KEY_MAX   40
#define METADATA_VALUE_MAX 500
#define DESCRIPTION_MAX    500
#define RECOVER_BATCH      500
#define AMOUNT_MAX_2DIGITS 99999999LL  /* 999,999.99 in a two-decimal currency */
#define AMOUNT_MAX_3DIGITS 999999999LL /* the same for KWD, BHD, ... */

/* ------------------------------------------------------------ helpers */

void sr_pay_new_id(const char *prefix, char out[SR_PAY_ID_MAX])
{
	unsigned char rnd[12];
	char hex[sizeof rnd * 2 + 1];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(out, SR_PAY_ID_MAX, "%s%s", prefix, hex);
}

struct sr_keyring *sr_pay_ring(const struct sr_payments *p)
{
	return atomic_load(&p->keys->ring);
}

static void set_body(struct sr_pay_call *call, int status, char *body)
{
	free(call->response);
	call->status = status;
	call->response = body;
	call->response_len = strlen(body);
}

void sr_pay_set_json(struct sr_pay_call *call, int status, json_t *j)
{
	SR_ASSERT(j != NULL);
	char *s = json_dumps(j, JSON_COMPACT);
	SR_ASSERT(s != NULL);
	json_decref(j);
	set_body(call, status, s);
}

static json_t *error_json(const char *type, const char *code, const char *message,
			  const char *param)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "type", type, "code", code, "message", message);
	SR_ASSERT(e != NULL);
	json_object_set_new(e, "param", param ? json_string(param) : json_null());
	return json_pack("{s:o}", "error", e);
}

void sr_pay_set_error(struct sr_pay_call *call, int status, const char *type, const char *code,
		      const char *message, const char *param)
{
	sr_pay_set_json(call, status, error_json(type, code, message, param));
}

static void bad_param(struct sr_pay_call *call, const char *code, const char *message,
		      const char *param)
{
	sr_pay_set_error(call, 400, "invalid_request_error", code, message, param);
}

json_t *sr_pay_parse_body(struct sr_pay_call *call)
{
	json_error_t jerr;
	json_t *j = NULL;
	if (call->body != NULL && call->body_len > 0)
		j = json_loadb((const char *)call->body, call->body_len, JSON_REJECT_DUPLICATES,
			       &jerr);
	if (!json_is_object(j)) {
		json_decref(j);
		bad_param(call, "body_invalid", "The body must be one JSON object", NULL);
		return NULL;
	}
	return j;
}

int sr_pay_only_params(struct sr_pay_call *call, json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(k, allowed[i]) == 0;
		if (!ok) {
			char msg[128];
			snprintf(msg, sizeof msg, "Unknown parameter: %.80s", k);
			/* The name is echoed only if it is short and printable. */
			bool printable = strlen(k) <= 40;
			for (const char *c = k; printable && *c; c++)
				printable = isalnum((unsigned char)*c) || *c == '_';
			bad_param(call, "parameter_unknown",
				  printable ? msg : "Unknown parameter in the body",
				  printable ? k : NULL);
			return -1;
		}
	}
	return 0;
}

bool sr_pay_id_ok(const char *s, const char *prefix)
{
	size_t pl = strlen(prefix);
	if (s == NULL || strncmp(s, prefix, pl) != 0)
		return false;
	size_t n = strnlen(s, SR_PAY_ID_MAX);
	if (n >= SR_PAY_ID_MAX || n == pl)
		return false;
	for (size_t i = pl; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

/* --------------------------------------------------- request validation */

struct money_req {
	const char *kind;               /* "charge" | "payout" */
	const char *card_id, *token_id; /* one of them; views into the body JSON */
	int64_t amount;
	char currency[4];        /* upper case */
	const char *description; /* NULL when absent */
	char *metadata;          /* compact JSON object (malloc'd) */
};

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Checks metadata: a small map of strings the platform uses to carry its
 * own references (e.g. {"member":"usr_..."}). Answers 400 and returns -1. */
static int parse_metadata(struct sr_pay_call *call, json_t *m, char **out)
{
	const char *k;
	json_t *v;
	*out = NULL;
	if (m == NULL || json_is_null(m)) {
		*out = sr_xstrdup("{}");
		return 0;
	}
	if (!json_is_object(m)) {
		bad_param(call, "parameter_invalid", "metadata must be an object of strings",
			  "metadata");
		return -1;
	}
	if (json_object_size(m) > METADATA_KEYS_MAX) {
		bad_param(call, "parameter_invalid", "metadata has at most 20 keys", "metadata");
		return -1;
	}
	json_object_foreach(m, k, v)
	{
		size_t kl = strlen(k);
		bool key_ok = kl >= 1 && kl <= METADATA_KEY_MAX;
		for (size_t i = 0; key_ok && i < kl; i++)
			key_ok = isalnum((unsigned char)k[i]) || k[i] == '_' || k[i] == '-' ||
				 k[i] == '.';
		if (!key_ok) {
			bad_param(call, "parameter_invalid",
				  "metadata keys are 1 to 40 characters of A-Z a-z 0-9 _ - .",
				  "metadata");
			return -1;
		}
		if (!json_is_string(v) || !text_ok(json_string_value(v), METADATA_VALUE_MAX)) {
			bad_param(call, "parameter_invalid",
				  "metadata values are strings of at most 500 bytes without "
				  "control characters",
				  "metadata");
			return -1;
		}
	}
	*out = json_dumps(m, JSON_COMPACT);
	SR_ASSERT(*out != NULL);
	return 0;
}

static int64_t amount_max(int exponent)
{
	return exponent >= 3 ? AMOUNT_MAX_3DIGITS : AMOUNT_MAX_2DIGITS;
}

/* Parses and checks the body of POST /v1/charges or /v1/payouts. body
 * keeps the views in req alive. 0, or -1 with the 400 answered. */
static int parse_money_req(struct sr_pay_call *call, json_t *body, struct money_req *req)
{
	static const char *const charge_params[] = {"card",        "token",    "amount", "currency",
						    "description", "metadata", NULL};
	static const char *const payout_params[] = {"card", "amount", "currency", "metadata", NULL};
	bool charge = call->op == SR_PAY_CHARGE_CREATE;
	req->kind = charge ? "charge" : "payout";
	if (sr_pay_only_params(call, body, charge ? charge_params : payout_params) != 0)
		return -1;

	json_t *card = json_object_get(body, "card");
	json_t *token = charge ? json_object_get(body, "token") : NULL;
	if (card != NULL && token != NULL) {
		bad_param(call, "parameter_invalid", "Give either card or token, not both",
			  "token");
		return -1;
	}
	if (card == NULL && token == NULL) {
		bad_param(call, "parameter_missing",
			  charge ? "card (card_...) or token (tok_...) is required"
				 : "card (card_...) is required",
			  "card");
		return -1;
	}
	if (card != NULL) {
		if (!json_is_string(card) || !sr_pay_id_ok(json_string_value(card), "card_")) {
			bad_param(call, "parameter_invalid", "card must be a card id (card_...)",
				  "card");
			return -1;
		}
		req->card_id = json_string_value(card);
	} else {
		if (!json_is_string(token) || !sr_pay_id_ok(json_string_value(token), "tok_")) {
			bad_param(call, "parameter_invalid", "token must be a token id (tok_...)",
				  "token");
			return -1;
		}
		req->token_id = json_string_value(token);
	}

	json_t *cur = json_object_get(body, "currency");
	if (cur == NULL) {
		bad_param(call, "parameter_missing", "currency is required (ISO 4217, e.g. eur)",
			  "currency");
		return -1;
	}
	int exponent = json_is_string(cur) && strlen(json_string_value(cur)) == 3
			       ? sr_money_exponent(json_string_value(cur))
			       : SR_E_INVAL;
	if (exponent < 0) {
		bad_param(call,
			  exponent == SR_E_NOTFOUND ? "currency_unsupported" : "parameter_invalid",
			  exponent == SR_E_NOTFOUND
				  ? "This currency is not supported"
				  : "currency must be a three-letter ISO 4217 code (e.g. eur)",
			  "currency");
		return -1;
	}
	for (int i = 0; i < 3; i++)
		req->currency[i] = (char)toupper((unsigned char)json_string_value(cur)[i]);
	req->currency[3] = '\0';

	json_t *amount = json_object_get(body, "amount");
	if (amount == NULL) {
		bad_param(call, "parameter_missing",
			  "amount is required: a positive integer in minor units (cents)",
			  "amount");
		return -1;
	}
	if (!json_is_integer(amount) || json_integer_value(amount) <= 0) {
		bad_param(call, "parameter_invalid",
			  "amount must be a positive integer in the currency's minor units "
			  "(e.g. 1050 for 10.50 EUR)",
			  "amount");
		return -1;
	}
	req->amount = json_integer_value(amount);
	if (req->amount > amount_max(exponent)) {
		char msg[160];
		char max[SR_MONEY_FMT_MAX];
		if (sr_money_format(amount_max(exponent), req->currency, max, sizeof max) != 0)
			snprintf(max, sizeof max, "%lld", (long long)amount_max(exponent));
		snprintf(msg, sizeof msg, "amount must be at most %s %s (%lld minor units)", max,
			 req->currency, (long long)amount_max(exponent));
		bad_param(call, "amount_too_large", msg, "amount");
		return -1;
	}

	json_t *desc = json_object_get(body, "description");
	if (desc != NULL && !json_is_null(desc)) {
		if (!json_is_string(desc) || !text_ok(json_string_value(desc), DESCRIPTION_MAX)) {
			bad_param(call, "parameter_invalid",
				  "description must be a string of at most 500 bytes without "
				  "control characters",
				  "description");
			return -1;
		}
		req->description = json_string_value(desc);
	}
	return parse_metadata(call, json_object_get(body, "metadata"), &req->metadata);
}

/* ------------------------------------------------- operations as JSON */

#define OP_COLS                                                                                    \
	"id, kind, status, amount, currency, description, metadata, card_id, token_id, brand, "    \
	"last4, exp_month, exp_year, failure_code, processor_reference, created_s, updated_s, "    \
	"idem_scope, idem_key"

static const char *failure_message(const char *code)
{
	static const struct {
		const char *code, *message;
	} messages[] = {
		{SR_PROC_CODE_GENERIC_DECLINE, "The card was declined."},
		{SR_PROC_CODE_CARD_DECLINED, "The card was declined."},
		{SR_PROC_CODE_INSUFFICIENT_FUNDS, "The card has insufficient funds."},
		{SR_PROC_CODE_INCORRECT_CVC, "The card's security code is incorrect."},
		{SR_PROC_CODE_EXPIRED_CARD, "The card has expired."},
		{SR_PROC_CODE_PROCESSING_ERROR,
		 "An error occurred while processing the card; try again later."},
		{SR_PROC_CODE_AUTHENTICATION_REQUIRED,
		 "The card requires authentication (3-D Secure)."},
		{SR_PROC_CODE_PAYOUTS_NOT_ALLOWED,
		 "This card cannot receive push-to-card payouts."},
		{SR_PROC_CODE_COULD_NOT_PROCESS, "The payout could not be delivered to the card."},
		{SR_PROC_CODE_ACCOUNT_CLOSED,
		 "The card account is closed; the payout was returned."},
	};
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
		if (strcmp(code, messages[i].code) == 0)
			return messages[i].message;
	return "The card was declined.";
}

static json_t *text_or_null(struct sr_stmt *s, int col)
{
	size_t n;
	return sr_stmt_col_is_null(s, col) ? json_null()
					   : json_string(sr_stmt_col_text(s, col, &n));
}

/* The public object of the operation row at s (OP_COLS). */
static json_t *op_json(struct sr_stmt *s)
{
	size_t n;
	char currency[4] = "";
	const char *kind = sr_stmt_col_text(s, 1, &n);
	bool charge = strcmp(kind, "charge") == 0;
	snprintf(currency, sizeof currency, "%s", sr_stmt_col_text(s, 4, &n));
	for (int i = 0; currency[i]; i++)
		currency[i] = (char)tolower((unsigned char)currency[i]);

	json_t *j = json_object();
	json_object_set_new(j, "id", json_string(sr_stmt_col_text(s, 0, &n)));
	json_object_set_new(j, "object", json_string(kind));
	json_object_set_new(j, "amount", json_integer(sr_stmt_col_i64(s, 3)));
	json_object_set_new(j, "currency", json_string(currency));
	json_object_set_new(j, "status", json_string(sr_stmt_col_text(s, 2, &n)));
	json_t *card = json_object();
	json_object_set_new(card, "id", text_or_null(s, 7));
	json_object_set_new(card, "brand", json_string(sr_stmt_col_text(s, 9, &n)));
	json_object_set_new(card, "last4", json_string(sr_stmt_col_text(s, 10, &n)));
	json_object_set_new(card, "exp_month", json_integer(sr_stmt_col_i64(s, 11)));
	json_object_set_new(card, "exp_year", json_integer(sr_stmt_col_i64(s, 12)));
	json_object_set_new(j, "card", card);
	if (charge) {
		json_object_set_new(j, "token", text_or_null(s, 8));
		json_object_set_new(j, "description", text_or_null(s, 5));
	}
	const char *meta = sr_stmt_col_text(s, 6, &n);
	json_t *m = json_loadb(meta, n, 0, NULL);
	json_object_set_new(j, "metadata", m ? m : json_object());
	json_object_set_new(j, "failure_code", text_or_null(s, 13));
	json_object_set_new(j, "failure_message",
			    sr_stmt_col_is_null(s, 13)
				    ? json_null()
				    : json_string(failure_message(sr_stmt_col_text(s, 13, &n))));
	json_object_set_new(j, "processor_reference", text_or_null(s, 14));
	json_object_set_new(j, "created", json_integer(sr_stmt_col_i64(s, 15)));
	json_object_set_new(j, "updated", json_integer(sr_stmt_col_i64(s, 16)));
	json_object_set_new(j, "livemode", json_false());
	return j;
}

/* What was known about one operation row. */
struct op_row {
	json_t *obj;
	char kind[8];
	char idem_scope[SR_APIKEY_ID_LEN + 8];
	char idem_key[SR_IDEM_KEY_MAX + 1];
};

static void op_row_clear(struct op_row *r)
{
	json_decref(r->obj);
	memset(r, 0, sizeof *r);
}

/* Reads operation id (optionally FOR UPDATE). 0, SR_E_NOTFOUND, store error. */
static int op_read(struct sr_conn *c, const char *id, bool lock, struct op_row *out)
{
	struct sr_stmt *s = NULL;
	size_t n;
	op_row_clear(out);
	int rc = sr_stmt_prepare(c,
				 lock ? "SELECT " OP_COLS " FROM vault_operations WHERE id = $1 "
					"FOR UPDATE"
				      : "SELECT " OP_COLS " FROM vault_operations WHERE id = $1",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, id, strlen(id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 1) {
			out->obj = op_json(s);
			snprintf(out->kind, sizeof out->kind, "%s", sr_stmt_col_text(s, 1, &n));
			if (!sr_stmt_col_is_null(s, 17)) {
				snprintf(out->idem_scope, sizeof out->idem_scope, "%s",
					 sr_stmt_col_text(s, 17, &n));
				snprintf(out->idem_key, sizeof out->idem_key, "%s",
					 sr_stmt_col_text(s, 18, &n));
			}
			rc = 0;
		} else if (rc == 0) {
			rc = SR_E_NOTFOUND;
		}
	}
	sr_stmt_done(s);
	return rc;
}

static const char *obj_str(const json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v ? v : "";
}

/*
 * The answer to the POST that created obj: 201 with the object once it
 * succeeded / was paid, 202 while the outcome is unknown, and for a failure
 * 402 card_error naming the decline code and the stored object's id.
 */
static int answer_for(const json_t *obj, char **body)
{
	const char *status = obj_str(obj, "status");
	const char *kind = obj_str(obj, "object");
	int code = 201;
	json_t *j;
	if (strcmp(status, "failed") == 0) {
		const char *fc = obj_str(obj, "failure_code");
		json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:n, s:s}", "type", "card_error",
				      "code", fc, "decline_code", fc, "message",
				      failure_message(fc), "param", kind, obj_str(obj, "id"));
		SR_ASSERT(e != NULL);
		j = json_pack("{s:o}", "error", e);
		code = 402;
	} else {
		j = json_deep_copy(obj);
		code = strcmp(status, "pending") == 0 ? 202 : 201;
	}
	*body = json_dumps(j, JSON_COMPACT);
	SR_ASSERT(*body != NULL);
	json_decref(j);
	return code;
}

/* "evt_" + 32 hex of SHA-256(op id "." type): the same event for the same
 * state change, so a re-driven outcome queues it once (ON CONFLICT). */
static void event_id_for(const char *op_id, const char *type, char out[SR_WEBHOOK_EVENT_ID_SIZE])
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[33];
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)op_id, strlen(op_id));
	crypto_hash_sha256_update(&st, (const unsigned char *)".", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)type, strlen(type));
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, sizeof hex, h, 16);
	snprintf(out, SR_WEBHOOK_EVENT_ID_SIZE, "evt_%s", hex);
}

static int enqueue_event(struct sr_conn *c, const char *type, const json_t *obj)
{
	char evt[SR_WEBHOOK_EVENT_ID_SIZE];
	event_id_for(obj_str(obj, "id"), type, evt);
	char *payload = json_dumps(obj, JSON_COMPACT);
	SR_ASSERT(payload != NULL);
	int rc = sr_webhook_enqueue(c, evt, type, payload);
	free(payload);
	return rc;
}

/* Audit record of an operation's state, masked. */
static int audit_op(struct sr_conn *c, struct sr_payments *p, const char *actor_type,
		    const char *actor_id, const char *action, const json_t *obj, const char *ip,
		    const char *request_id)
{
	char details[512];
	const json_t *card = json_object_get(obj, "card");
	const char *status = obj_str(obj, "status");
	const char *fc = json_string_value(json_object_get(obj, "failure_code"));
	snprintf(details, sizeof details,
		 "{\"status\":\"%s\",\"amount\":%lld,\"currency\":\"%s\",\"brand\":\"%s\","
		 "\"last4\":\"%s\",\"failure_code\":\"%s\"}",
		 status, (long long)json_integer_value(json_object_get(obj, "amount")),
		 obj_str(obj, "currency"), obj_str(card, "brand"), obj_str(card, "last4"),
		 fc ? fc : "");
	struct sr_audit_event ev = {
		.actor_type = actor_type,
		.actor_id = actor_id,
		.action = action,
		.object_type = obj_str(obj, "object"),
		.object_id = obj_str(obj, "id"),
		.outcome = strcmp(status, "failed") == 0 ? "failure" : "success",
		.ip = ip,
		.request_id = request_id,
		.details = details,
	};
	return sr_audit_append(c, sr_pay_audit_key(p), &ev);
}

/* ------------------------------------------- step 1: the pending record */

struct create_job {
	struct sr_payments *p;
	struct sr_pay_call *call;
	struct money_req req;
	char op_id[SR_PAY_ID_MAX];
	char hash[SR_IDEM_HASH_HEX];
	/* results */
	struct sr_idem_record idem;
	int early_status; /* != 0: answered in step 1 (early_body) */
	char *early_body;
	struct sr_vault_card *card;
};

static void create_job_reset(struct create_job *job)
{
	sr_idem_record_clear(&job->idem);
	free(job->early_body);
	job->early_body = NULL;
	job->early_status = 0;
	sr_vault_card_free(job->card);
	job->card = NULL;
}

static int insert_pending(struct sr_conn *c, struct create_job *job, const unsigned char *blob,
			  size_t blob_len, int64_t now)
{
	struct sr_stmt *s = NULL;
	const struct money_req *r = &job->req;
	const struct sr_pay_call *call = job->call;
	const char *brand = sr_vault_card_brand(job->card);
	int rc = sr_stmt_prepare(
		c,
		"INSERT INTO vault_operations (id, kind, status, amount, currency, description, "
		"metadata, card_id, token_id, brand, last4, exp_month, exp_year, sealed_card, "
		"api_key_id, idem_scope, idem_key, created_s, updated_s) VALUES ($1, $2, "
		"'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
		"$17)",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, r->kind, strlen(r->kind));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 3, r->amount);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 4, r->currency, strlen(r->currency));
	if (rc == 0)
		rc = r->description
			     ? sr_stmt_bind_text(s, 5, r->description, strlen(r->description))
			     : sr_stmt_bind_null(s, 5);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 6, r->metadata, strlen(r->metadata));
	if (rc == 0)
		rc = r->card_id ? sr_stmt_bind_text(s, 7, r->card_id, strlen(r->card_id))
				: sr_stmt_bind_null(s, 7);
	if (rc == 0)
		rc = r->token_id ? sr_stmt_bind_text(s, 8, r->token_id, strlen(r->token_id))
				 : sr_stmt_bind_null(s, 8);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 9, brand, strlen(brand));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 10, job->card->last4, strlen(job->card->last4));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 11, job->card->exp_month);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 12, job->card->exp_year);
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 13, blob, blob_len);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 14, call->api_key_id, strlen(call->api_key_id));
	if (rc == 0)
		rc = call->idem_key
			     ? sr_stmt_bind_text(s, 15, call->api_key_id, strlen(call->api_key_id))
			     : sr_stmt_bind_null(s, 15);
	if (rc == 0)
		rc = call->idem_key
			     ? sr_stmt_bind_text(s, 16, call->idem_key, strlen(call->idem_key))
			     : sr_stmt_bind_null(s, 16);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 17, now);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

static int create_tx(struct sr_conn *c, void *arg)
{
	struct create_job *job = arg;
	struct sr_pay_call *call = job->call;
	struct sr_keyring *ring = sr_pay_ring(job->p);
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	struct op_row row = {0};
	int64_t now = (int64_t)time(NULL);
	int rc = 0;

	create_job_reset(job);
	if (call->idem_key != NULL) {
		rc = sr_idem_begin(c, call->api_key_id, call->idem_key, job->hash, now, &job->idem);
		if (rc != 0 || job->idem.state != SR_IDEM_NEW)
			goto out;
	}
	if (job->req.card_id != NULL)
		rc = sr_pay_card_load(c, ring, job->req.card_id, &job->card);
	else
		rc = sr_tokens_consume(c, ring, job->req.token_id, job->op_id, now, &job->card);
	if (rc == SR_E_NOTFOUND) {
		/* A definite answer: stored under the key like any other. */
		const char *param = job->req.card_id ? "card" : "token";
		json_t *e = error_json("invalid_request_error", "resource_missing",
				       job->req.card_id
					       ? "No such card: it does not exist or was deleted"
					       : "No such token: it does not exist, was already "
						 "used or expired",
				       param);
		job->early_status = 400;
		job->early_body = json_dumps(e, JSON_COMPACT);
		json_decref(e);
		SR_ASSERT(job->early_body != NULL);
		rc = 0;
		if (call->idem_key != NULL)
			rc = sr_idem_finish(c, call->api_key_id, call->idem_key, job->early_status,
					    job->early_body, strlen(job->early_body));
		goto out;
	}
	if (rc != 0)
		goto out;
	rc = sr_vault_card_seal(ring, job->op_id, job->card, &blob, &blob_len);
	if (rc == 0)
		rc = insert_pending(c, job, blob, blob_len, now);
	if (rc == 0)
		rc = op_read(c, job->op_id, false, &row);
	if (rc == 0 && job->req.card_id != NULL) {
		char details[96];
		snprintf(details, sizeof details, "{\"operation\":\"%s\"}", job->op_id);
		struct sr_audit_event ev = {
			.actor_type = "api_key",
			.actor_id = call->api_key_id,
			.action = "card.use",
			.object_type = "card",
			.object_id = job->req.card_id,
			.outcome = "success",
			.ip = call->ip,
			.request_id = call->request_id,
			.details = details,
		};
		rc = sr_audit_append(c, sr_pay_audit_key(job->p), &ev);
	}
	if (rc == 0)
		rc = audit_op(c, job->p, "api_key", call->api_key_id,
			      strcmp(job->req.kind, "charge") == 0 ? "charge.create"
								   : "payout.create",
			      row.obj, call->ip, call->request_id);
	if (rc == 0 && strcmp(job->req.kind, "payout") == 0)
		rc = enqueue_event(c, "payout.created", row.obj);
out:
	op_row_clear(&row);
	free(blob);
	return rc;
}

/* ------------------------------------ steps 2 and 3: processor, outcome */

struct outcome_job {
	struct sr_payments *p;
	const char *op_id;
	const struct sr_proc_result *result;
	/* results */
	int status;
	char *body;
	bool recorded; /* this transaction wrote the outcome */
	bool approved, payout;
};

static int outcome_tx(struct sr_conn *c, void *arg)
{
	struct outcome_job *job = arg;
	struct sr_stmt *s = NULL;
	struct op_row row = {0};
	const struct sr_proc_result *res = job->result;
	int64_t changes = 0;
	int rc;

	free(job->body);
	job->body = NULL;
	job->recorded = false;
	rc = op_read(c, job->op_id, true, &row);
	if (rc != 0)
		goto out;
	bool payout = strcmp(row.kind, "payout") == 0;
	bool approved = res->status == SR_PROC_APPROVED;
	const char *status = approved ? (payout ? "paid" : "succeeded") : "failed";
	const char *code = approved ? NULL : (res->code[0] ? res->code : "card_declined");
	rc = sr_stmt_prepare(
		c,
		"UPDATE vault_operations SET status = $2, failure_code = $3, "
		"processor_reference = $4, sealed_card = NULL, updated_s = $5 WHERE id "
		"= $1 AND status = 'pending'",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, status, strlen(status));
	if (rc == 0)
		rc = code ? sr_stmt_bind_text(s, 3, code, strlen(code)) : sr_stmt_bind_null(s, 3);
	if (rc == 0)
		rc = res->reference[0]
			     ? sr_stmt_bind_text(s, 4, res->reference, strlen(res->reference))
			     : sr_stmt_bind_null(s, 4);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 5, (int64_t)time(NULL));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc >= 0) {
			changes = sr_stmt_changes(s);
			rc = 0;
		}
	}
	sr_stmt_done(s);
	if (rc == 0)
		rc = op_read(c, job->op_id, false, &row);
	if (rc != 0)
		goto out;
	job->status = answer_for(row.obj, &job->body);
	if (changes == 0)
		goto out; /* resolved before (a recovery pass, a racing retry) */
	job->recorded = true;
	job->approved = approved;
	job->payout = payout;
	if (row.idem_scope[0] != '\0') {
		rc = sr_idem_finish(c, row.idem_scope, row.idem_key, job->status, job->body,
				    strlen(job->body));
		if (rc == SR_E_NOTFOUND)
			rc = 0; /* expired and taken by someone else: nothing waits */
	}
	char type[32];
	snprintf(type, sizeof type, "%s.%s", row.kind, status);
	if (rc == 0)
		rc = enqueue_event(c, type, row.obj);
	if (rc == 0)
		rc = audit_op(c, job->p, "system",
			      job->p->proc->name ? job->p->proc->name : "processor", type, row.obj,
			      NULL, NULL);
out:
	op_row_clear(&row);
	return rc;
}

struct load_job {
	struct sr_payments *p;
	const char *op_id;
	/* results */
	bool pending;
	char kind[8];
	int64_t amount;
	char currency[4];
	struct sr_vault_card *card;
};

static int load_tx(struct sr_conn *c, void *arg)
{
	struct load_job *job = arg;
	struct sr_stmt *s = NULL;
	size_t n = 0;
	sr_vault_card_free(job->card);
	job->card = NULL;
	job->pending = false;
	int rc = sr_stmt_prepare(c,
				 "SELECT kind, amount, currency, sealed_card FROM vault_operations "
				 "WHERE id = $1 AND status = 'pending'",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->op_id, strlen(job->op_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 1) {
			job->pending = true;
			snprintf(job->kind, sizeof job->kind, "%s", sr_stmt_col_text(s, 0, &n));
			job->amount = sr_stmt_col_i64(s, 1);
			snprintf(job->currency, sizeof job->currency, "%s",
				 sr_stmt_col_text(s, 2, &n));
			const void *blob = sr_stmt_col_blob(s, 3, &n);
			rc = sr_vault_card_open(sr_pay_ring(job->p), job->op_id, blob, n,
						&job->card);
		}
	}
	sr_stmt_done(s);
	return rc;
}

/*
 * Steps 2 and 3 for op_id. card: the clear card from step 1, or NULL to
 * open the sealed copy (recovery). kind/amount/currency describe the
 * operation when card is given. On success *status and *body are the answer to
 * the creating POST. Returns 0, SR_E_UNAVAILABLE (processor unreachable:
 * still pending), or an SR_E_* (store, crypto).
 */
static int drive(struct sr_payments *p, const char *op_id, const struct sr_vault_card *card,
		 const char *kind, int64_t amount, const char *currency, int *status, char **body)
{
	struct load_job load = {.p = p, .op_id = op_id};
	struct sr_proc_result res;
	int rc = 0;
	*status = 0;
	*body = NULL;
	if (card == NULL) {
		rc = sr_store_tx(sr_pay_store(p), SR_TX_READ, load_tx, &load);
		if (rc != 0)
			goto out;
		if (!load.pending) {
			/* Resolved meanwhile: answer from the row. */
			memset(&res, 0, sizeof res);
			res.status = SR_PROC_APPROVED;
			goto record;
		}
		card = load.card;
		kind = load.kind;
		amount = load.amount;
		currency = load.currency;
	}
	struct sr_proc_card pc = sr_vault_card_proc(card);
	rc = strcmp(kind, "payout") == 0
		     ? p->proc->payout(p->proc->ctx, op_id, &pc, amount, currency, &res)
		     : p->proc->charge(p->proc->ctx, op_id, &pc, amount, currency, &res);
	if (rc == SR_E_UNAVAILABLE || rc == SR_E_TIMEOUT || rc == SR_E_STORE || rc == SR_E_RETRY) {
		sr_log(SR_LOG_WARN, "processor unreachable; operation stays pending",
		       SR_LS("operation", op_id), SR_LS("error", sr_strerror(rc)));
		atomic_fetch_add(&p->unreachable, 1);
		rc = SR_E_UNAVAILABLE;
		goto out;
	}
	if (rc != 0) {
		/* The processor refused the call itself (a bug on one side): the
		 * operation fails rather than stay pending forever. */
		sr_log(SR_LOG_ERROR, "processor refused the operation", SR_LS("operation", op_id),
		       SR_LS("error", sr_strerror(rc)));
		memset(&res, 0, sizeof res);
		res.status = SR_PROC_ERROR;
		snprintf(res.code, sizeof res.code, "%s", SR_PROC_CODE_PROCESSING_ERROR);
		rc = 0;
	}
record:;
	struct outcome_job oj = {.p = p, .op_id = op_id, .result = &res};
	rc = sr_store_tx(sr_pay_store(p), SR_TX_SERIALIZABLE, outcome_tx, &oj);
	if (rc == 0) {
		*status = oj.status;
		*body = oj.body;
		if (oj.recorded)
			atomic_fetch_add(
				oj.payout ? (oj.approved ? &p->payouts_paid : &p->payouts_failed)
					  : (oj.approved ? &p->charges_succeeded
							 : &p->charges_failed),
				1);
	} else {
		free(oj.body);
		sr_log(SR_LOG_ERROR, "cannot record the processor's outcome; recovery will retry",
		       SR_LS("operation", op_id), SR_LS("error", sr_strerror(rc)));
	}
out:
	sr_vault_card_free(load.card);
	return rc;
}

static void money_create(struct sr_payments *p, struct sr_pay_call *call)
{
	struct create_job job = {.p = p, .call = call};
	json_t *body = sr_pay_parse_body(call);
	if (body == NULL)
		return;
	if (parse_money_req(call, body, &job.req) != 0)
		goto out;
	sr_pay_new_id(call->op == SR_PAY_CHARGE_CREATE ? "ch_" : "po_", job.op_id);
	sr_idem_request_hash(call->op == SR_PAY_CHARGE_CREATE ? "POST /v1/charges"
							      : "POST /v1/payouts",
			     call->body, call->body_len, job.hash);
	int rc = sr_store_tx(sr_pay_store(p), SR_TX_WRITE, create_tx, &job);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot record the operation", SR_LS("kind", job.req.kind),
		       SR_LS("error", sr_strerror(rc)));
		/* A statement past [database] statement_timeout_ms is a
		 * temporary condition: 503, like an unreachable processor. */
		bool timeout = rc == SR_E_TIMEOUT;
		sr_pay_set_error(call, timeout ? 503 : 500, "api_error",
				 timeout ? "service_unavailable" : "internal_error",
				 "The request could not be recorded; nothing was charged. Try "
				 "again.",
				 NULL);
		goto out;
	}
	if (call->idem_key != NULL && job.idem.state != SR_IDEM_NEW) {
		if (job.idem.state == SR_IDEM_REPLAY) {
			set_body(call, job.idem.status, job.idem.body);
			job.idem.body = NULL;
			call->replayed = true;
		} else if (job.idem.state == SR_IDEM_MISMATCH) {
			sr_pay_set_error(call, 409, "invalid_request_error",
					 "idempotency_key_reused",
					 "This Idempotency-Key was used with another request; use "
					 "a new key for a new request",
					 NULL);
		} else {
			sr_pay_set_error(call, 409, "invalid_request_error",
					 "idempotency_key_in_use",
					 "A request with this Idempotency-Key is still being "
					 "processed; retry later",
					 NULL);
		}
		goto out;
	}
	if (job.early_status != 0) {
		set_body(call, job.early_status, job.early_body);
		job.early_body = NULL;
		goto out;
	}
	int status = 0;
	char *answer = NULL;
	rc = drive(p, job.op_id, job.card, job.req.kind, job.req.amount, job.req.currency, &status,
		   &answer);
	sr_vault_card_free(job.card); /* wipes the clear card */
	job.card = NULL;
	if (rc == 0) {
		set_body(call, status, answer);
	} else {
		/* Recorded as pending: a GET, a retry with the same key once it
		 * resolves, or the recovery pass will tell the outcome. */
		json_t *e = error_json(
			"api_error", "outcome_pending",
			"The processor could not be reached; the operation is pending and will "
			"be completed. Do not create it again: read it, or retry with the same "
			"Idempotency-Key.",
			NULL);
		json_object_set_new(json_object_get(e, "error"), job.req.kind,
				    json_string(job.op_id));
		sr_pay_set_json(call, 503, e);
	}
out:
	create_job_reset(&job);
	free(job.req.metadata);
	json_decref(body);
}

struct op_get_job {
	const char *id;
	struct op_row row;
};

static int op_get_tx(struct sr_conn *c, void *arg)
{
	struct op_get_job *job = arg;
	int rc = op_read(c, job->id, false, &job->row);
	return rc == SR_E_NOTFOUND ? 0 : rc;
}

static void money_get(struct sr_payments *p, struct sr_pay_call *call)
{
	bool charge = call->op == SR_PAY_CHARGE_GET;
	const char *what = charge ? "No such charge" : "No such payout";
	struct op_get_job job = {.id = call->id};
	if (!sr_pay_id_ok(call->id, charge ? "ch_" : "po_")) {
		sr_pay_set_error(call, 404, "invalid_request_error", "resource_missing", what,
				 "id");
		return;
	}
	int rc = sr_store_tx(sr_pay_store(p), SR_TX_READ, op_get_tx, &job);
	if (rc != 0)
		sr_pay_set_error(call, 500, "api_error", "internal_error",
				 "The object could not be read; try again.", NULL);
	else if (job.row.obj == NULL)
		sr_pay_set_error(call, 404, "invalid_request_error", "resource_missing", what,
				 "id");
	else {
		sr_pay_set_json(call, 200, job.row.obj);
		job.row.obj = NULL;
	}
	op_row_clear(&job.row);
}

void sr_payments_call(struct sr_payments *p, struct sr_pay_call *call)
{
	call->replayed = false;
	switch (call->op) {
	case SR_PAY_CARD_CREATE: sr_pay_card_create(p, call); break;
	case SR_PAY_CARD_GET: sr_pay_card_get(p, call); break;
	case SR_PAY_CARD_DELETE: sr_pay_card_delete(p, call); break;
	case SR_PAY_CHARGE_CREATE:
	case SR_PAY_PAYOUT_CREATE: money_create(p, call); break;
	case SR_PAY_CHARGE_GET:
	case SR_PAY_PAYOUT_GET: money_get(p, call); break;
	}
	if (call->response == NULL)
		sr_pay_set_error(call, 500, "api_error", "internal_error", "Internal error.", NULL);
}

void sr_pay_call_clear(struct sr_pay_call *call)
{
	free(call->response);
	call->response = NULL;
	call->response_len = 0;
	call->status = 0;
	call->replayed = false;
}

/* ------------------------------------------------------------ recovery */

#define STALE_PENDING_S 60 /* the maintenance pass leaves younger ones to their request */
#define PURGE_BATCH     1000

struct pending_job {
	char (*ids)[SR_PAY_ID_MAX];
	size_t n;
	int64_t cutoff; /* only operations last updated at or before this */
};

static int pending_tx(struct sr_conn *c, void *arg)
{
	struct pending_job *job = arg;
	struct sr_stmt *s = NULL;
	size_t len;
	job->n = 0;
	int rc = sr_stmt_prepare(c,
				 "SELECT id FROM vault_operations WHERE status = 'pending' AND "
				 "updated_s <= $2 ORDER BY created_s LIMIT $1",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, RECOVER_BATCH);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, job->cutoff);
	while (rc == 0) {
		int r = sr_stmt_step(s);
		if (r <= 0) {
			rc = r;
			break;
		}
		snprintf(job->ids[job->n++], SR_PAY_ID_MAX, "%s", sr_stmt_col_text(s, 0, &len));
	}
	sr_stmt_done(s);
	return rc;
}

static int recover_older_than(struct sr_payments *p, int64_t min_age_s, size_t *redriven)
{
	struct pending_job job = {.ids = sr_xcalloc(RECOVER_BATCH, SR_PAY_ID_MAX),
				  .cutoff = (int64_t)time(NULL) - min_age_s};
	size_t done = 0;
	int first = 0;
	int rc = sr_store_tx(sr_pay_store(p), SR_TX_READ, pending_tx, &job);
	if (rc != 0)
		first = rc;
	for (size_t i = 0; rc == 0 && i < job.n; i++) {
		int status = 0;
		char *body = NULL;
		int r = drive(p, job.ids[i], NULL, NULL, 0, NULL, &status, &body);
		free(body);
		if (r == 0) {
			done++;
			atomic_fetch_add(&p->recovered, 1);
			sr_log(SR_LOG_INFO, "pending operation re-driven",
			       SR_LS("operation", job.ids[i]));
		} else if (first == 0) {
			first = r;
		}
	}
	free(job.ids);
	if (redriven != NULL)
		*redriven = done;
	return first;
}

int sr_payments_recover(struct sr_payments *p, size_t *redriven)
{
	return recover_older_than(p, 0, redriven);
}

struct purge_job {
	int n;
};

static int purge_tx(struct sr_conn *c, void *arg)
{
	struct purge_job *job = arg;
	job->n = sr_idem_purge(c, (int64_t)time(NULL), PURGE_BATCH);
	return job->n < 0 ? job->n : 0;
}

/* Re-drives operations left pending by a lost process or an unreachable
 * processor, then forgets expired idempotency keys; failures are logged
 * here, with what failed. */
static int maintenance_pass(void *arg, bool *more)
{
	struct sr_payments *p = arg;
	(void)more; /* one batch of each per interval */
	size_t n = 0;
	int rc = recover_older_than(p, STALE_PENDING_S, &n);
	if (rc != 0 && rc != SR_E_UNAVAILABLE)
		sr_log(SR_LOG_WARN, "payments maintenance: recovery pass failed",
		       SR_LS("error", sr_strerror(rc)));
	struct purge_job pj = {0};
	rc = sr_store_tx(sr_pay_store(p), SR_TX_WRITE, purge_tx, &pj);
	if (rc != 0)
		sr_log(SR_LOG_WARN, "payments maintenance: idempotency purge failed",
		       SR_LS("error", sr_strerror(rc)));
	return 0;
}

int sr_payments_start_maintenance(struct sr_payments *p, unsigned interval_ms)
{
	if (p->maintenance != NULL)
		return 0;
	/* The first pass after one interval: at start-up the service has
	 * already run sr_payments_recover in line. */
	int64_t ms = interval_ms ? interval_ms : 60000;
	return sr_poller_start_after("payments maintenance", maintenance_pass, p, ms, ms,
				     &p->maintenance);
}

void sr_payments_stop_maintenance(struct sr_payments *p)
{
	if (p == NULL)
		return;
	sr_poller_stop(p->maintenance);
	p->maintenance = NULL;
}

/* ---------------------------------------------------------- event sink */

int sr_payments_event_sink(struct sr_conn *c, void *arg, const struct sr_proc_event *ev)
{
	struct sr_payments *p = arg;
	struct op_row row = {0};
	struct sr_stmt *s = NULL;
	const char *type = sr_proc_event_kind_name(ev->kind);
	const char *status = ev->kind == SR_PROC_EVENT_PAYOUT_RETURNED ? "returned" : "failed";
	int rc = op_read(c, ev->op_id, true, &row);
	if (rc == SR_E_NOTFOUND || (rc == 0 && strcmp(row.kind, "payout") != 0)) {
		sr_log(SR_LOG_WARN, "processor event for no payout of ours; ignored",
		       SR_LS("operation", ev->op_id), SR_LS("type", type));
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	const char *cur = obj_str(row.obj, "status");
	if (strcmp(cur, "pending") == 0) {
		/* Our own outcome is not on record yet: have it offered again. */
		rc = SR_E_UNAVAILABLE;
		goto out;
	}
	if (strcmp(cur, status) == 0 || strcmp(cur, "returned") == 0)
		goto out; /* applied before */
	rc = sr_stmt_prepare(
		c,
		"UPDATE vault_operations SET status = $2, failure_code = $3, updated_s "
		"= $4 WHERE id = $1",
		&s);
	const char *code = ev->code && ev->code[0] ? ev->code : SR_PROC_CODE_COULD_NOT_PROCESS;
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, ev->op_id, strlen(ev->op_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, status, strlen(status));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, code, strlen(code));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 4, (int64_t)time(NULL));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
	}
	sr_stmt_done(s);
	if (rc == 0)
		rc = op_read(c, ev->op_id, false, &row);
	if (rc == 0)
		rc = enqueue_event(c, type, row.obj);
	if (rc == 0)
		rc = audit_op(c, p, "system", p->proc->name ? p->proc->name : "processor", type,
			      row.obj, NULL, NULL);
out:
	op_row_clear(&row);
	return rc;
}

/* ----------------------------------------------------------- HTTP glue */

struct route_ctx {
	struct sr_payments *p;
	enum sr_pay_op op;
};

struct http_job {
	struct sr_payments *p;
	bool authenticated;
	char key_id[SR_APIKEY_ID_LEN];
	struct sr_pay_call call;
	char *ip, *request_id, *id, *idem_key;
	unsigned char *body;
};

static void http_job_free(struct http_job *job)
{
	sr_pay_call_clear(&job->call);
	free(job->ip);
	free(job->request_id);
	free(job->id);
	free(job->idem_key);
	free(job->body);
	free(job);
}

static void http_work(void *arg)
{
	struct http_job *job = arg;
	if (job->authenticated) {
		sr_payments_call(job->p, &job->call);
		return;
	}
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = job->key_id[0] ? job->key_id : "anonymous",
		.action = "auth.failure",
		.object_type = "api",
		.object_id = "payments",
		.outcome = "denied",
		.ip = job->ip,
		.request_id = job->request_id,
		.details = "{\"reason\":\"invalid_api_key\"}",
	};
	int rc = sr_audit_record(sr_pay_store(job->p), sr_pay_audit_key(job->p), &ev);
	if (rc != 0)
		sr_log(SR_LOG_ERROR, "cannot record auth.failure", SR_LS("error", sr_strerror(rc)));
}

static void http_done(struct sr_http_req *req, void *arg)
{
	struct http_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (!job->authenticated) {
		sr_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"strongroom\"");
		sr_http_reply_error(req, 401, "authentication_error", "invalid_api_key",
				    "A valid secret key is required: Authorization: Bearer sk_...",
				    NULL);
		goto out;
	}
	if (job->call.replayed)
		sr_http_add_header(req, "Idempotent-Replayed", "true");
	sr_http_reply(req, job->call.status, "application/json", job->call.response,
		      job->call.response_len);
out:
	http_job_free(job);
}

static bool is_post(enum sr_pay_op op)
{
	return op == SR_PAY_CARD_CREATE || op == SR_PAY_CHARGE_CREATE || op == SR_PAY_PAYOUT_CREATE;
}

static void handle(struct sr_http_req *req, void *data)
{
	const struct route_ctx *rc_ = data;
	struct sr_payments *p = rc_->p;
	if (!sr_runtime_ready(p->rt) || sr_pay_ring(p) == NULL) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The service is starting; try again shortly.", NULL);
		return;
	}
	struct http_job *job = sr_xcalloc(1, sizeof *job);
	job->p = p;
	job->authenticated =
		sr_apikeys_check(sr_runtime_apikeys(p->rt), sr_http_header(req, "Authorization"),
				 SR_APIKEY_SECRET, job->key_id) == 0;
	unsigned retry = 0;
	if (!job->authenticated &&
	    !sr_runtime_auth_failure_allowed(p->rt, req->remote_ip, &retry)) {
		char secs[16];
		snprintf(secs, sizeof secs, "%u", retry ? retry : 1);
		sr_http_add_header(req, "Retry-After", secs);
		sr_http_reply_error(req, 429, "rate_limit_error", "too_many_failed_authentications",
				    "Too many requests with invalid API keys from this address; "
				    "retry later.",
				    NULL);
		http_job_free(job);
		return;
	}
	if (job->authenticated && is_post(rc_->op)) {
		const char *ct = sr_http_header(req, "Content-Type");
		if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
			sr_http_reply_error(
				req, 415, "invalid_request_error", "unsupported_media_type",
				"Send the body as Content-Type: application/json", NULL);
			http_job_free(job);
			return;
		}
		const char *ik = sr_http_header(req, SR_IDEM_HEADER);
		if (ik != NULL && rc_->op != SR_PAY_CARD_CREATE) {
			if (sr_idem_key_check(ik) != 0) {
				sr_http_reply_error(req, 400, "invalid_request_error",
						    "idempotency_key_invalid",
						    "Idempotency-Key must be 1 to 255 printable "
						    "ASCII characters without spaces",
						    NULL);
				http_job_free(job);
				return;
			}
			job->idem_key = sr_xstrdup(ik);
		}
		if (req->body_len > 0) {
			job->body = sr_xmalloc(req->body_len);
			memcpy(job->body, req->body, req->body_len);
		}
	}
	const char *id = sr_http_param(req, "id");
	job->id = id ? sr_xstrdup(id) : NULL;
	job->ip = sr_xstrdup(req->remote_ip ? req->remote_ip : "");
	job->request_id = sr_xstrdup(req->request_id ? req->request_id : "");
	job->call = (struct sr_pay_call){
		.op = rc_->op,
		.api_key_id = job->key_id,
		.id = job->id,
		.idem_key = job->idem_key,
		.body = job->body,
		.body_len = job->body ? req->body_len : 0,
		.ip = job->ip,
		.request_id = job->request_id,
	};
	if (sr_http_submit(req, http_work, http_done, job) != 0) {
		http_job_free(job);
		sr_http_reply_busy(req);
	}
}

struct payments_holder {
	struct sr_payments p;
	struct route_ctx ctx[7];
};

struct sr_payments *sr_payments_new(struct sr_runtime *rt, struct sr_vault_keys *keys,
				    struct sr_processor *proc)
{
	struct payments_holder *h = sr_xcalloc(1, sizeof *h);
	h->p.rt = rt;
	h->p.keys = keys;
	h->p.proc = proc;
	return &h->p;
}

struct sr_payments *sr_payments_new_from_parts(struct sr_store *st,
					       const struct sr_audit_key *audit_key,
					       struct sr_vault_keys *keys,
					       struct sr_processor *proc)
{
	struct payments_holder *h = sr_xcalloc(1, sizeof *h);
	h->p.st = st;
	h->p.audit_key = audit_key;
	h->p.keys = keys;
	h->p.proc = proc;
	return &h->p;
}

struct sr_store *sr_pay_store(const struct sr_payments *p)
{
	return p->rt ? sr_runtime_store(p->rt) : p->st;
}

const struct sr_audit_key *sr_pay_audit_key(const struct sr_payments *p)
{
	return p->rt ? sr_runtime_audit_key(p->rt) : p->audit_key;
}

char *sr_payments_metrics(struct sr_payments *p, size_t *len)
{
	char *text = sr_xasprintf(
		"# HELP sr_vault_operations_total Charge and payout outcomes recorded.\n"
		"# TYPE sr_vault_operations_total counter\n"
		"sr_vault_operations_total{kind=\"charge\",status=\"succeeded\"} %llu\n"
		"sr_vault_operations_total{kind=\"charge\",status=\"failed\"} %llu\n"
		"sr_vault_operations_total{kind=\"payout\",status=\"paid\"} %llu\n"
		"sr_vault_operations_total{kind=\"payout\",status=\"failed\"} %llu\n"
		"# HELP sr_vault_operations_unreachable_total Processor calls that left an "
		"operation pending.\n"
		"# TYPE sr_vault_operations_unreachable_total counter\n"
		"sr_vault_operations_unreachable_total %llu\n"
		"# HELP sr_vault_operations_recovered_total Pending operations completed by a "
		"recovery pass.\n"
		"# TYPE sr_vault_operations_recovered_total counter\n"
		"sr_vault_operations_recovered_total %llu\n",
		(unsigned long long)atomic_load(&p->charges_succeeded),
		(unsigned long long)atomic_load(&p->charges_failed),
		(unsigned long long)atomic_load(&p->payouts_paid),
		(unsigned long long)atomic_load(&p->payouts_failed),
		(unsigned long long)atomic_load(&p->unreachable),
		(unsigned long long)atomic_load(&p->recovered));
	*len = strlen(text);
	return text;
}

void sr_payments_free(struct sr_payments *p)
{
	if (p == NULL)
		return;
	sr_payments_stop_maintenance(p);
	free(p); /* first member of the holder */
}

int sr_payments_add_routes(struct sr_router *r, struct sr_payments *p)
{
	struct payments_holder *h = (struct payments_holder *)p;
	static const struct {
		const char *method, *pattern;
		enum sr_pay_op op;
	} routes[] = {
		{"POST", "/v1/cards", SR_PAY_CARD_CREATE},
		{"GET", "/v1/cards/{id}", SR_PAY_CARD_GET},
		{"DELETE", "/v1/cards/{id}", SR_PAY_CARD_DELETE},
		{"POST", "/v1/charges", SR_PAY_CHARGE_CREATE},
		{"GET", "/v1/charges/{id}", SR_PAY_CHARGE_GET},
		{"POST", "/v1/payouts", SR_PAY_PAYOUT_CREATE},
		{"GET", "/v1/payouts/{id}", SR_PAY_PAYOUT_GET},
	};
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof routes / sizeof routes[0]; i++) {
		h->ctx[i] = (struct route_ctx){.p = p, .op = routes[i].op};
		struct sr_route_opts opts = {.no_body = !is_post(routes[i].op),
					     .body_max = is_post(routes[i].op) ? BODY_MAX : 0};
		rc = sr_router_add(r, routes[i].method, routes[i].pattern, handle, &h->ctx[i],
				   &opts);
	}
	return rc;
}
