/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/tokens: card tokenization (tokens.h, docs/vault.md).
 *
 * Who holds what. The event loop sees only the publishable key (hashed and
 * compared in crypto/apikey) and the JWE, which is ciphertext. Everything
 * after that runs on the worker pool: the RSA private-key operation, the card
 * JSON (decrypted into sodium_malloc memory, parsed into a struct sr_card in
 * sodium_malloc memory, i.e. locked and never swapped, and wiped on free;
 * jansson's own copies are wiped by sr_card_json_wipe_on_free), and the
 * processor's zero-amount verification, the one use of the CVC, after which
 * the CVC is wiped at once. What reaches the database is the card sealed
 * under the token id plus brand, bin6, last4, expiry and the keyed
 * fingerprint; what reaches the audit log is brand, last4 and the outcome.
 *
 * Order of checks, cheapest and least revealing first: key, content type,
 * per-key and per-address rate limits (event loop); then JWE shape, kid,
 * decryption, card fields, iat window, per-card rate limit, nonce replay
 * (worker). A replayed nonce is checked by a read before the processor is
 * asked and enforced by the nonce row's primary key in the one durable
 * transaction that also stores the token and its audit record.
 */
#include "vault/tokens.h"
#include "audit/audit.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/poller.h"
#include "base/scratch.h"
#include "crypto/apikey.h"
#include "crypto/fingerprint.h"
#include "crypto/jwe.h"
#include "lib/card.h"
#include "lib/jose.h"
#include "net/http.h"
#include "net/ratelimit.h"
#include "net/router.h"
#include "store/store.h"
#include "svc/runtime.h"
#include "vault/keyring.h"
#include "vault/keys_api.h"
#include "vault/processor.h"

#include <inttypes.h>
#include <pthread.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FP_KEY_LEN       32
#define FP_KEY_AAD       "vault_fingerprint_key"
#define RATELIMIT_KEYS   65536
#define TOKEN_RAND_BYTES 12 /* 96 bits: unguessable, and ids stay short */
#define PURGE_INTERVAL_S 60
#define PURGE_BATCH      1000

struct sr_tokens {
	const struct sr_config *cfg;
	struct sr_runtime *rt;
	struct sr_vault_keys *keys;
	struct sr_processor *proc;
	int64_t ttl_s;
	int64_t skew_s;
	struct sr_ratelimit *per_key;
	struct sr_ratelimit *per_ip;
	struct sr_ratelimit *per_card;
	unsigned char *fp_key; /* sodium_malloc, FP_KEY_LEN; read-only once started */
	atomic_bool started;
	struct sr_poller *purger; /* started by sr_tokens_start */
};

/* How a tokenization ended, for the reply. */
enum outcome {
	OUT_NONE = 0,
	OUT_CREATED,      /* 201 */
	OUT_UNAUTHORIZED, /* 401, audited */
	OUT_BAD_REQUEST,  /* 400 with code/param/message */
	OUT_RATE_LIMITED, /* 429 (per card) */
	OUT_DECLINED,     /* 402 card_error */
	OUT_UNAVAILABLE,  /* 503: key ring or processor unavailable */
	OUT_INTERNAL,     /* 500 */
};

struct token_job {
	struct sr_tokens *t;
	char key_id[SR_APIKEY_ID_LEN];
	bool authenticated;
	char *ip;
	char *request_id;
	char *jwe; /* the body: ciphertext, not secret */
	size_t jwe_len;
	int64_t now;
	/* set by the work */
	enum outcome outcome;
	const char *code;  /* static */
	const char *param; /* static or NULL */
	char message[200];
	unsigned retry_after;
	char id[SR_TOKEN_ID_MAX + 1];
	char kid[SR_JWE_KID_MAX + 1];
	char brand[16];
	char last4[5];
	char fingerprint[SR_FINGERPRINT_MAX];
	char nonce[SR_CARD_NONCE_MAX + 1];
	unsigned exp_month, exp_year;
	char cvc_check[16];
	struct sr_proc_result verdict;
	bool verified; /* the processor answered (approved or not) */
	unsigned char *sealed;
	size_t sealed_len;
	char bin6[7];
	bool replay_seen; /* the nonce was on record before the processor was asked */
	bool replayed;    /* the nonce is on record: no token */
};

/* ---------------------------------------------------------------- helpers */

/*
 * Where a worker thread holds the card while it tokenizes: the decrypted
 * JWE payload, the parsed card and its sealed form, in per-thread locked
 * memory (base/scratch.h) wiped after every request.
 */
struct card_scratch {
	unsigned char plain[SR_JWE_MAX + 1];
	struct sr_card card;
	struct sr_vault_card vc;
};

static struct sr_scratch card_area = SR_SCRATCH_INIT(sizeof(struct card_scratch));

static struct card_scratch *scratch_get(void)
{
	struct card_scratch *sc = sr_scratch_get(&card_area);
	sodium_memzero(sc, sizeof *sc);
	return sc;
}

static void fmt_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void new_token_id(char out[SR_TOKEN_ID_MAX + 1])
{
	unsigned char rnd[TOKEN_RAND_BYTES];
	char hex[sizeof rnd * 2 + 1];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(out, SR_TOKEN_ID_MAX + 1, "tok_%s", hex);
}

static void bad_request(struct token_job *job, const char *code, const char *param,
			const char *message)
{
	job->outcome = OUT_BAD_REQUEST;
	job->code = code;
	job->param = param;
	snprintf(job->message, sizeof job->message, "%s", message);
}

/* ---------------------------------------------------------------- consume */

int sr_tokens_consume(struct sr_conn *c, struct sr_keyring *ring, const char *token_id,
		      const char *used_by, int64_t now, struct sr_vault_card **out)
{
	struct sr_stmt *s = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	int rc;

	*out = NULL;
	if (token_id == NULL || strncmp(token_id, "tok_", 4) != 0 ||
	    strlen(token_id) > SR_TOKEN_ID_MAX || used_by == NULL)
		return SR_E_NOTFOUND;
	/* One statement decides "unused and unexpired" and spends it, so two
	 * transactions racing for a token cannot both win (row lock on
	 * PostgreSQL, the write lock on SQLite). */
	rc = sr_stmt_prepare(c,
			     "UPDATE vault_tokens SET used_s = $1, used_by = $2 WHERE id = $3 AND "
			     "used_s IS NULL AND expires_s > $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, now);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, used_by, strlen(used_by));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, token_id, strlen(token_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 0 && sr_stmt_changes(s) != 1)
		rc = SR_E_NOTFOUND;
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0)
		return rc;
	rc = sr_stmt_prepare(c, "SELECT sealed_card FROM vault_tokens WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, token_id, strlen(token_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		const void *b = sr_stmt_col_blob(s, 0, &blob_len);
		blob = sr_xmalloc(blob_len ? blob_len : 1);
		memcpy(blob, b, blob_len);
		rc = 0;
	} else if (rc == 0) {
		rc = SR_E_NOTFOUND;
	}
	sr_stmt_done(s);
	if (rc == 0)
		rc = sr_vault_card_open(ring, token_id, blob, blob_len, out);
	free(blob);
	return rc;
}

int sr_tokens_purge(struct sr_conn *c, int64_t now, int64_t keep_s, unsigned batch)
{
	struct sr_stmt *s = NULL;
	int64_t total = 0;
	int rc;
	/* Sub-selects with LIMIT keep each statement bounded on both backends. */
	static const char *const sql[] = {
		"DELETE FROM vault_tokens WHERE id IN (SELECT id FROM vault_tokens WHERE "
		"COALESCE(used_s, expires_s) < $1 LIMIT $2)",
		"DELETE FROM vault_token_nonces WHERE nonce IN (SELECT nonce FROM "
		"vault_token_nonces WHERE seen_s < $1 LIMIT $2)",
	};
	for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
		rc = sr_stmt_prepare(c, sql[i], &s);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 1, now - keep_s);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 2, batch ? batch : 1000);
		if (rc == 0)
			rc = sr_stmt_step(s);
		if (rc == 0)
			total += sr_stmt_changes(s);
		sr_stmt_done(s);
		s = NULL;
		if (rc < 0)
			return rc;
	}
	return total > INT32_MAX ? INT32_MAX : (int)total;
}

struct purge_job {
	int64_t now;
	int64_t keep_s;
	int deleted;
};

static int purge_tx(struct sr_conn *c, void *arg)
{
	struct purge_job *job = arg;
	job->deleted = 0;
	int n = sr_tokens_purge(c, job->now, job->keep_s, PURGE_BATCH);
	if (n < 0)
		return n;
	job->deleted = n;
	return 0;
}

/* ---------------------------------------------------------------- fingerprint key */

struct fpkey_job {
	const unsigned char *candidate; /* sealed fresh key, used if none is stored */
	size_t candidate_len;
	unsigned char *sealed; /* out: the stored one */
	size_t sealed_len;
};

static int fpkey_tx(struct sr_conn *c, void *arg)
{
	struct fpkey_job *job = arg;
	struct sr_stmt *s = NULL;
	char now[32];
	int rc;

	free(job->sealed);
	job->sealed = NULL;
	job->sealed_len = 0;
	fmt_time((int64_t)time(NULL), now);
	/* Two instances starting at once: the first insert wins, both read it. */
	rc = sr_stmt_prepare(
		c,
		"INSERT INTO vault_fingerprint_key (id, sealed_key, created_at) VALUES "
		"(1, $1, $2) ON CONFLICT (id) DO NOTHING",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 1, job->candidate, job->candidate_len);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	s = NULL;
	if (rc < 0)
		return rc;
	rc = sr_stmt_prepare(c, "SELECT sealed_key FROM vault_fingerprint_key WHERE id = 1", &s);
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		const void *b = sr_stmt_col_blob(s, 0, &job->sealed_len);
		job->sealed = sr_xmalloc(job->sealed_len ? job->sealed_len : 1);
		memcpy(job->sealed, b, job->sealed_len);
		rc = 0;
	} else if (rc == 0) {
		rc = SR_E_INTERNAL;
	}
	sr_stmt_done(s);
	return rc;
}

/*
 * Spent and expired tokens hold sealed card numbers: they are deleted soon
 * (data minimisation), once no request can still be racing for them. A
 * nonce can be forgotten once a JWE carrying it would be refused by its iat
 * anyway: accepted at seen_s means |iat - seen_s| <= skew, and a replay at
 * T needs |iat - T| <= skew, so T <= seen_s + 2 * skew.
 */
static int purge_pass(void *arg, bool *more)
{
	struct sr_tokens *t = arg;
	(void)more; /* one batch per interval */
	struct purge_job job = {.now = (int64_t)time(NULL), .keep_s = 2 * t->skew_s + 60};
	int rc = sr_store_tx(sr_runtime_store(t->rt), SR_TX_WRITE, purge_tx, &job);
	if (rc != 0)
		sr_log(SR_LOG_WARN, "token purge failed", SR_LS("error", sr_strerror(rc)));
	else if (job.deleted > 0)
		sr_log(SR_LOG_INFO, "spent and expired tokens purged", SR_LI("rows", job.deleted));
	return 0;
}

int sr_tokens_start(struct sr_tokens *t)
{
	struct sr_keyring *ring = atomic_load(&t->keys->ring);
	unsigned char *fresh = NULL, *pt = NULL;
	unsigned char *candidate = NULL;
	size_t candidate_len = 0, pt_len = 0;
	struct fpkey_job job = {0};
	int rc;

	if (ring == NULL)
		return SR_E_UNAVAILABLE;
	fresh = sodium_malloc(FP_KEY_LEN);
	if (fresh == NULL)
		abort();
	randombytes_buf(fresh, FP_KEY_LEN);
	rc = sr_keyring_encrypt(ring, FP_KEY_AAD, sizeof FP_KEY_AAD - 1, fresh, FP_KEY_LEN,
				&candidate, &candidate_len);
	sodium_free(fresh);
	if (rc != 0)
		goto out;
	job.candidate = candidate;
	job.candidate_len = candidate_len;
	rc = sr_store_tx(sr_runtime_store(t->rt), SR_TX_WRITE, fpkey_tx, &job);
	if (rc != 0)
		goto out;
	rc = sr_keyring_decrypt(ring, FP_KEY_AAD, sizeof FP_KEY_AAD - 1, job.sealed, job.sealed_len,
				&pt, &pt_len);
	if (rc != 0)
		goto out;
	if (pt_len != FP_KEY_LEN) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	memcpy(t->fp_key, pt, FP_KEY_LEN);
	sodium_mprotect_readonly(t->fp_key);
	atomic_store(&t->started, true);
	/* The first purge after one interval, like every later one. Without a
	 * thread tokens still work; they are only kept longer, so say so. */
	if (t->purger == NULL &&
	    sr_poller_start_after("token purge", purge_pass, t, PURGE_INTERVAL_S * 1000,
				  PURGE_INTERVAL_S * 1000, &t->purger) != 0)
		sr_log(SR_LOG_ERROR, "cannot start the token purge thread: spent tokens are kept");
out:
	if (pt != NULL)
		sodium_free(pt);
	free(candidate);
	free(job.sealed);
	return rc;
}

/* ---------------------------------------------------------------- the work */

struct nonce_check {
	const char *nonce;
	bool seen;
};

static int nonce_seen_tx(struct sr_conn *c, void *arg)
{
	struct nonce_check *nc = arg;
	struct sr_stmt *s = NULL;
	nc->seen = false;
	int rc = sr_stmt_prepare(c, "SELECT 1 FROM vault_token_nonces WHERE nonce = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, nc->nonce, strlen(nc->nonce));
	if (rc == 0)
		rc = sr_stmt_step(s);
	nc->seen = rc == 1;
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

/* The durable part: the nonce, the token (when approved) and the audit
 * record commit together. May run more than once: only touches job. */
static int store_tx(struct sr_conn *c, void *arg)
{
	struct token_job *job = arg;
	struct sr_stmt *s = NULL;
	char created[32], details[512];
	int rc;

	bool approved = false;
	job->replayed = job->replay_seen;
	if (job->replay_seen)
		goto audit; /* a replay is recorded, never processed */
	rc = sr_stmt_prepare(c,
			     "INSERT INTO vault_token_nonces (nonce, seen_s) VALUES ($1, $2) ON "
			     "CONFLICT (nonce) DO NOTHING",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->nonce, strlen(job->nonce));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, job->now);
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 0 && sr_stmt_changes(s) != 1)
		job->replayed = true;
	sr_stmt_done(s);
	s = NULL;
	if (rc < 0)
		return rc;

	approved = !job->replayed && job->verdict.status == SR_PROC_APPROVED;
	if (approved) {
		fmt_time(job->now, created);
		rc = sr_stmt_prepare(
			c,
			"INSERT INTO vault_tokens (id, sealed_card, brand, bin6, last4, exp_month, "
			"exp_year, fingerprint, cvc_check, api_key_id, created_at, created_s, "
			"expires_s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
			"$13)",
			&s);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 1, job->id, strlen(job->id));
		if (rc == 0)
			rc = sr_stmt_bind_blob(s, 2, job->sealed, job->sealed_len);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 3, job->brand, strlen(job->brand));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 4, job->bin6, strlen(job->bin6));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 5, job->last4, strlen(job->last4));
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 6, job->exp_month);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 7, job->exp_year);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 8, job->fingerprint, strlen(job->fingerprint));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 9, job->cvc_check, strlen(job->cvc_check));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 10, job->key_id, strlen(job->key_id));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 11, created, strlen(created));
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 12, job->now);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 13, job->now + job->t->ttl_s);
		if (rc == 0)
			rc = sr_stmt_step(s);
		sr_stmt_done(s);
		if (rc < 0)
			return rc;
	}

audit:
	/* Masked details only: brand, last4, the outcome. */
	const char *outcome = job->replayed ? "replayed" : approved ? "approved" : "declined";
	if (!job->replayed && job->verdict.status == SR_PROC_ERROR)
		outcome = "error";
	snprintf(details, sizeof details,
		 "{\"brand\":\"%s\",\"last4\":\"%s\",\"outcome\":\"%s\",\"code\":\"%s\","
		 "\"cvc_check\":\"%s\",\"kid\":\"%s\",\"processor\":\"%s\"}",
		 job->brand, job->last4, outcome,
		 job->replayed ? "replayed_jwe" : job->verdict.code,
		 job->replayed ? "" : job->cvc_check, job->kid, job->t->proc->name);
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = job->key_id,
		.action = "token.create",
		.object_type = "token",
		.object_id = approved ? job->id : "",
		.outcome = approved        ? "success"
			   : job->replayed ? "denied"
					   : "failure",
		.ip = job->ip,
		.request_id = job->request_id,
		.details = details,
	};
	return sr_audit_append(c, sr_runtime_audit_key(job->t->rt), &ev);
}

/* The 401 of a bad key, on record before the client hears it. */
static int auth_failure_tx(struct sr_conn *c, void *arg)
{
	struct token_job *job = arg;
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = job->key_id[0] ? job->key_id : "anonymous",
		.action = "auth.failure",
		.object_type = "token",
		.object_id = "",
		.outcome = "denied",
		.ip = job->ip,
		.request_id = job->request_id,
		.details = "{\"reason\":\"invalid_api_key\",\"route\":\"POST /v1/tokens\"}",
	};
	return sr_audit_append(c, sr_runtime_audit_key(job->t->rt), &ev);
}

static void decline(struct token_job *job)
{
	job->outcome = OUT_DECLINED;
	job->code = job->verdict.code[0] ? job->verdict.code : SR_PROC_CODE_CARD_DECLINED;
	job->param = NULL;
	switch (job->verdict.status) {
	case SR_PROC_ERROR:
		snprintf(job->message, sizeof job->message,
			 "An error occurred while processing the card; try again later.");
		break;
	case SR_PROC_REQUIRES_AUTHENTICATION:
		snprintf(job->message, sizeof job->message,
			 "The card issuer requires authentication (3-D Secure) for this card.");
		break;
	default:
		if (strcmp(job->code, SR_PROC_CODE_INCORRECT_CVC) == 0) {
			job->param = "cvc";
			snprintf(job->message, sizeof job->message,
				 "The card's security code is incorrect.");
		} else if (strcmp(job->code, SR_PROC_CODE_EXPIRED_CARD) == 0) {
			job->param = "exp_month";
			snprintf(job->message, sizeof job->message, "The card has expired.");
		} else if (strcmp(job->code, SR_PROC_CODE_INSUFFICIENT_FUNDS) == 0) {
			snprintf(job->message, sizeof job->message,
				 "The card has insufficient funds.");
		} else {
			snprintf(job->message, sizeof job->message, "The card was declined.");
		}
	}
}

static void card_error(struct token_job *job, enum sr_card_error why)
{
	const char *code = sr_card_error_code(why);
	const char *param = sr_card_error_param(why);
	switch (why) {
	case SR_CARD_INVALID_NUMBER:
		bad_request(job, code, param,
			    "The card number is not valid (check digit, brand or length).");
		break;
	case SR_CARD_INVALID_EXPIRY_MONTH:
		bad_request(job, code, param, "exp_month must be a month from 1 to 12.");
		break;
	case SR_CARD_INVALID_EXPIRY_YEAR:
		bad_request(job, code, param, "exp_year is not a valid expiry year.");
		break;
	case SR_CARD_EXPIRED:
		bad_request(job, "expired_card", "exp_year", "The card's expiry date has passed.");
		break;
	case SR_CARD_INVALID_CVC:
		bad_request(job, code, param, "cvc must be 3 digits (4 for American Express).");
		break;
	case SR_CARD_INVALID_NAME:
		bad_request(job, code, param, "name is not a valid cardholder name.");
		break;
	default:
		bad_request(job, code ? code : "invalid_card_payload", NULL,
			    "The decrypted payload must be exactly {number, exp_month, exp_year, "
			    "cvc, name, nonce, iat} with valid types.");
	}
}

/* Verifies with the processor (the one use of the CVC, wiped right after)
 * and seals the card. Fills job; returns with the card wiped. */
static void verify_and_seal(struct token_job *job, struct sr_keyring *ring, struct sr_card *card,
			    struct sr_vault_card *vc)
{
	struct sr_tokens *t = job->t;
	struct sr_proc_card pc = {
		.pan = &card->pan,
		.exp_month = card->exp_month,
		.exp_year = card->exp_year,
		.cvc = card->cvc,
		.name = card->name,
	};
	int rc = t->proc->verify(t->proc->ctx, job->id, &pc, &job->verdict);
	sodium_memzero(card->cvc, sizeof card->cvc);
	card->cvc_len = 0;
	if (rc != 0) {
		sr_log(SR_LOG_WARN, "card verification did not complete",
		       SR_LS("processor", t->proc->name), SR_LS("error", sr_strerror(rc)));
		job->outcome = OUT_UNAVAILABLE;
		return;
	}
	job->verified = true;
	snprintf(job->cvc_check, sizeof job->cvc_check, "%s",
		 job->verdict.cvc_check[0] ? job->verdict.cvc_check : "unavailable");
	if (job->verdict.status != SR_PROC_APPROVED)
		return;

	vc->pan = card->pan;
	vc->exp_month = card->exp_month;
	vc->exp_year = card->exp_year;
	memcpy(vc->name, card->name, sizeof vc->name);
	memcpy(vc->bin6, job->bin6, sizeof vc->bin6);
	memcpy(vc->last4, job->last4, sizeof vc->last4);
	memcpy(vc->fingerprint, job->fingerprint, sizeof vc->fingerprint);
	memcpy(vc->cvc_check, job->cvc_check, sizeof vc->cvc_check);
	rc = sr_vault_card_seal(ring, job->id, vc, &job->sealed, &job->sealed_len);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot seal a card", SR_LS("error", sr_strerror(rc)));
		job->outcome = rc == SR_E_UNAVAILABLE ? OUT_UNAVAILABLE : OUT_INTERNAL;
	}
}

static void token_work(void *arg)
{
	struct token_job *job = arg;
	struct sr_tokens *t = job->t;
	struct sr_store *st = sr_runtime_store(t->rt);
	struct sr_keyring *ring = atomic_load(&t->keys->ring);
	struct sr_jose_jwe jwe = {0};
	EVP_PKEY *pkey = NULL;
	size_t plain_len = 0;
	struct card_scratch *sc = NULL;
	struct sr_card *card = NULL;
	enum sr_card_error why = SR_CARD_OK;
	int rc;

	job->now = (int64_t)time(NULL);
	if (!job->authenticated) {
		rc = sr_store_tx(st, SR_TX_WRITE, auth_failure_tx, job);
		job->outcome = rc == 0 ? OUT_UNAUTHORIZED : OUT_INTERNAL;
		goto out;
	}
	if (ring == NULL) {
		job->outcome = OUT_UNAVAILABLE;
		goto out;
	}
	rc = sr_jose_parse(job->jwe, job->jwe_len, &jwe);
	if (rc == SR_E_NOMEM) {
		job->outcome = OUT_INTERNAL;
		goto out;
	}
	if (rc != 0) {
		bad_request(job, "invalid_jwe", NULL,
			    "The body must be a compact JWE with alg RSA-OAEP-256, enc A256GCM "
			    "and the kid of a key from /v1/jwks.json.");
		goto out;
	}
	snprintf(job->kid, sizeof job->kid, "%s", jwe.kid);
	/* The ring reloads itself (at most once a second) on an unknown kid,
	 * so a kid another instance just published is found. */
	if (sr_keyring_rsa_for_kid(ring, jwe.kid, &pkey) != 0) {
		bad_request(job, "unknown_kid", NULL,
			    "The JWE's kid is not a current key of this vault; fetch "
			    "/v1/jwks.json again.");
		goto out;
	}
	sc = scratch_get();
	rc = sr_jwe_decrypt_into(&jwe, pkey, sc->plain, sizeof sc->plain, &plain_len);
	if (rc != 0) {
		bad_request(job, "invalid_jwe", NULL,
			    "The JWE could not be decrypted with the key its kid names.");
		goto out;
	}
	card = &sc->card;
	rc = sr_card_payload_parse((const char *)sc->plain, plain_len, (time_t)job->now, card,
				   &why);
	sodium_memzero(sc->plain, plain_len); /* the JSON with the PAN and CVC */
	if (rc == SR_E_NOMEM) {
		job->outcome = OUT_INTERNAL;
		goto out;
	}
	if (rc != 0) {
		card_error(job, why);
		goto out;
	}
	if (card->iat < job->now - t->skew_s || card->iat > job->now + t->skew_s) {
		bad_request(job, "stale_jwe", "iat",
			    "The JWE's iat is outside the allowed clock skew; encrypt the card "
			    "again.");
		goto out;
	}
	snprintf(job->nonce, sizeof job->nonce, "%s", card->nonce);
	snprintf(job->brand, sizeof job->brand, "%s", sr_card_brand_name(card->pan.brand));
	job->exp_month = card->exp_month;
	job->exp_year = card->exp_year;
	if (sr_card_pan_last4(&card->pan, job->last4) != 0 ||
	    sr_card_pan_bin6(&card->pan, job->bin6) != 0 ||
	    sr_fingerprint_pan(t->fp_key, FP_KEY_LEN, &card->pan, SR_FINGERPRINT_BASE64URL,
			       job->fingerprint, sizeof job->fingerprint) != 0) {
		job->outcome = OUT_INTERNAL;
		goto out;
	}
	/* Card testing tries many numbers from few places, or one number with
	 * many CVCs/expiries: the per-card limit catches the second. */
	if (!sr_ratelimit_take(t->per_card, job->fingerprint, mono_ms(), &job->retry_after)) {
		job->outcome = OUT_RATE_LIMITED;
		job->code = "card_rate_limited";
		goto out;
	}
	struct nonce_check nc = {.nonce = job->nonce};
	rc = sr_store_tx(st, SR_TX_READ, nonce_seen_tx, &nc);
	if (rc != 0) {
		/* A statement past [database] statement_timeout_ms: 503. */
		job->outcome = rc == SR_E_TIMEOUT ? OUT_UNAVAILABLE : OUT_INTERNAL;
		goto out;
	}
	job->replay_seen = nc.seen;
	if (!nc.seen) {
		new_token_id(job->id);
		verify_and_seal(job, ring, card, &sc->vc);
	}
	if (job->outcome != OUT_NONE)
		goto out;
	rc = sr_store_tx(st, SR_TX_WRITE, store_tx, job);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot store a token", SR_LS("error", sr_strerror(rc)));
		job->outcome = rc == SR_E_TIMEOUT ? OUT_UNAVAILABLE : OUT_INTERNAL;
	} else if (job->replayed) {
		bad_request(job, "replayed_jwe", "nonce",
			    "This JWE was already submitted; encrypt the card again.");
	} else if (job->verdict.status == SR_PROC_APPROVED) {
		job->outcome = OUT_CREATED;
	} else {
		decline(job);
	}
out:
	if (sc != NULL)
		sodium_memzero(sc, sizeof *sc); /* wipes the payload and the PAN */
	EVP_PKEY_free(pkey);
	sr_jose_clear(&jwe);
}

/* ---------------------------------------------------------------- replies */

static void job_free(struct token_job *job)
{
	free(job->ip);
	free(job->request_id);
	free(job->jwe);
	free(job->sealed);
	free(job);
}

static void reply_rate_limited(struct sr_http_req *req, unsigned retry, const char *code,
			       const char *message)
{
	char secs[16];
	snprintf(secs, sizeof secs, "%u", retry ? retry : 1);
	sr_http_add_header(req, "Retry-After", secs);
	sr_http_reply_error(req, 429, "rate_limit_error", code, message, NULL);
}

static void token_done(struct sr_http_req *req, void *arg)
{
	struct token_job *job = arg;
	char created[32], expires[32];

	if (sr_http_aborted(req))
		goto out;
	switch (job->outcome) {
	case OUT_CREATED: {
		fmt_time(job->now, created);
		fmt_time(job->now + job->t->ttl_s, expires);
		json_t *body = json_pack(
			"{s:s, s:s, s:{s:s, s:s, s:I, s:I, s:s}, s:s, s:s, s:s}", "id", job->id,
			"object", "token", "card", "brand", job->brand, "last4", job->last4,
			"exp_month", (json_int_t)job->exp_month, "exp_year",
			(json_int_t)job->exp_year, "fingerprint", job->fingerprint, "cvc_check",
			job->cvc_check, "created", created, "expires_at", expires);
		sr_http_reply_json(req, 201, body);
		break;
	}
	case OUT_UNAUTHORIZED:
		sr_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"strongroom\"");
		sr_http_reply_error(req, 401, "authentication_error", "invalid_api_key",
				    "A valid publishable key is required: Authorization: Bearer "
				    "pk_... (never send a secret key from a browser).",
				    NULL);
		break;
	case OUT_BAD_REQUEST:
		sr_http_reply_error(req, 400, "invalid_request_error", job->code, job->message,
				    job->param);
		break;
	case OUT_RATE_LIMITED:
		reply_rate_limited(req, job->retry_after, job->code,
				   "Too many tokenizations of this card; retry later.");
		break;
	case OUT_DECLINED:
		sr_http_reply_error(req, 402, "card_error", job->code, job->message, job->param);
		break;
	case OUT_UNAVAILABLE:
		sr_http_add_header(req, "Retry-After", "1");
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The card could not be verified right now; try again shortly.",
				    NULL);
		break;
	default:
		sr_http_reply_error(req, 500, "api_error", "internal_error",
				    "The card could not be tokenized; try again.", NULL);
	}
out:
	job_free(job);
}

/* Content-Type application/jose, parameters allowed, case-insensitive. */
static bool content_type_ok(const char *ct)
{
	static const char want[] = "application/jose";
	if (ct == NULL || strncasecmp(ct, want, sizeof want - 1) != 0)
		return false;
	char next = ct[sizeof want - 1];
	return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

static void handle_create(struct sr_http_req *req, void *data)
{
	struct sr_tokens *t = data;
	unsigned retry = 0;
	uint64_t now_ms = mono_ms();

	if (!sr_runtime_ready(t->rt) || !atomic_load(&t->started)) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The service is starting; try again shortly.", NULL);
		return;
	}
	struct token_job *job = sr_xcalloc(1, sizeof *job);
	job->t = t;
	job->authenticated =
		sr_apikeys_check(sr_runtime_apikeys(t->rt), sr_http_header(req, "Authorization"),
				 SR_APIKEY_PUBLISHABLE, job->key_id) == 0;
	if (!job->authenticated) {
		if (!sr_runtime_auth_failure_allowed(t->rt, req->remote_ip, &retry)) {
			reply_rate_limited(req, retry, "too_many_failed_authentications",
					   "Too many requests with invalid API keys from this "
					   "address; retry later.");
			job_free(job);
			return;
		}
	} else if (!content_type_ok(sr_http_header(req, "Content-Type"))) {
		sr_http_reply_error(req, 415, "invalid_request_error", "unsupported_media_type",
				    "The body must be a compact JWE sent as Content-Type: "
				    "application/jose.",
				    NULL);
		job_free(job);
		return;
	} else if (req->body_len == 0) {
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_jwe",
				    "The body must be a compact JWE of the card.", NULL);
		job_free(job);
		return;
	} else if (!sr_ratelimit_take(t->per_key, job->key_id, now_ms, &retry)) {
		reply_rate_limited(
			req, retry, "rate_limited",
			"Too many tokenizations with this publishable key; retry later.");
		job_free(job);
		return;
	} else if (!sr_ratelimit_take(t->per_ip, req->remote_ip ? req->remote_ip : "", now_ms,
				      &retry)) {
		reply_rate_limited(req, retry, "rate_limited",
				   "Too many tokenizations from this address; retry later.");
		job_free(job);
		return;
	} else {
		job->jwe = sr_xmalloc(req->body_len);
		memcpy(job->jwe, req->body, req->body_len);
		job->jwe_len = req->body_len;
	}
	job->ip = sr_xstrdup(req->remote_ip ? req->remote_ip : "");
	job->request_id = sr_xstrdup(req->request_id ? req->request_id : "");
	if (sr_http_submit(req, token_work, token_done, job) != 0) {
		job_free(job);
		sr_http_reply_busy(req);
	}
}

/* ---------------------------------------------------------------- lifecycle */

struct sr_tokens *sr_tokens_new(const struct sr_config *cfg, struct sr_runtime *rt,
				struct sr_vault_keys *keys, struct sr_processor *proc)
{
	struct sr_tokens *t = sr_xcalloc(1, sizeof *t);
	t->cfg = cfg;
	t->rt = rt;
	t->keys = keys;
	t->proc = proc;
	t->ttl_s = sr_config_int(cfg, "vault", "token_ttl_s");
	t->skew_s = sr_config_int(cfg, "vault", "token_iat_skew_s");
	unsigned k = (unsigned)sr_config_int(cfg, "vault", "tokens_per_minute_per_key");
	unsigned ip = (unsigned)sr_config_int(cfg, "vault", "tokens_per_minute_per_ip");
	unsigned cd = (unsigned)sr_config_int(cfg, "vault", "tokens_per_minute_per_card");
	t->per_key = sr_ratelimit_new(k, k, 1024);
	t->per_ip = sr_ratelimit_new(ip, ip, RATELIMIT_KEYS);
	t->per_card = sr_ratelimit_new(cd, cd, RATELIMIT_KEYS);
	if (sodium_init() < 0 || (t->fp_key = sodium_malloc(FP_KEY_LEN)) == NULL)
		abort();
	atomic_init(&t->started, false);
	return t;
}

void sr_tokens_free(struct sr_tokens *t)
{
	if (t == NULL)
		return;
	sr_poller_stop(t->purger);
	sr_ratelimit_free(t->per_key);
	sr_ratelimit_free(t->per_ip);
	sr_ratelimit_free(t->per_card);
	sodium_free(t->fp_key);
	free(t);
}

int sr_tokens_add_routes(struct sr_router *r, struct sr_tokens *t)
{
	struct sr_route_opts opts = {.body_max = SR_JWE_MAX};
	return sr_router_add(r, "POST", "/v1/tokens", handle_create, t, &opts);
}
