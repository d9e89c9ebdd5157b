/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sealed vault (see seal.h): the gate in front of every vault route,
 * the share collector, and the /v1/sys/seal-status and /v1/sys/unseal
 * routes.
 *
 * Who holds what: a share is a credential. It arrives in a request body,
 * is copied at once into sodium_malloc memory, and lives there until the
 * threshold is reached (then the shares are combined and wiped) or the
 * vault is unsealed or stopped (wiped). It is never logged, audited or
 * answered back; the audit log records only share numbers and progress.
 * The KEK combined from the shares exists only for the key ring's open
 * call (the ring keeps its own copy) and is wiped right after.
 *
 * Unseal requests run on the worker pool (combining, opening the key ring
 * and the audit write touch the database) and one at a time (unseal_lock),
 * so two operators pressing Enter together cannot both complete a set.
 */
#include "vault/seal.h"
#include "audit/audit.h"
#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/shares.h"
#include "net/http.h"
#include "net/ratelimit.h"
#include "net/router.h"
#include "net/server.h"
#include "svc/runtime.h"
#include "vault/keyring.h"
#include "vault/keys_api.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A share text as typed: the text itself plus generous surrounding space. */
#define SHARE_INPUT_MAX (SR_SHARES_TEXT_MAX + 64)
#define UNSEAL_BODY_MAX 1024

/* One route behind the gate: the real handler and its data. */
struct gated_route {
	struct sr_vault_seal *seal;
	sr_http_handler_fn handler;
	void *data;
};

struct sr_vault_seal {
	atomic_bool sealed;
	struct sr_runtime *rt;
	struct sr_vault_keys *keys;
	struct sr_server *srv;
	struct sr_ratelimit *limit;

	pthread_mutex_t lock; /* guards the fields below */
	unsigned threshold;   /* 0 until the first share */
	unsigned count;
	char *texts[SR_SHARES_MAX];       /* sodium_malloc, trimmed share texts */
	unsigned char nrs[SR_SHARES_MAX]; /* their share numbers */

	pthread_mutex_t unseal_lock; /* one unseal request at a time */
	int (*unsealed_fn)(void *arg);
	void *unsealed_arg;

	struct gated_route *gated;
	size_t ngated;
};

struct sr_vault_seal *sr_vault_seal_new(bool sealed, struct sr_runtime *rt,
					struct sr_vault_keys *keys, struct sr_server *srv,
					unsigned unseal_per_minute)
{
	struct sr_vault_seal *seal = sr_xcalloc(1, sizeof *seal);
	atomic_init(&seal->sealed, sealed);
	seal->rt = rt;
	seal->keys = keys;
	seal->srv = srv;
	if (unseal_per_minute == 0)
		unseal_per_minute = 1;
	seal->limit = sr_ratelimit_new(unseal_per_minute, unseal_per_minute, 4096);
	pthread_mutex_init(&seal->lock, NULL);
	pthread_mutex_init(&seal->unseal_lock, NULL);
	return seal;
}

void sr_vault_seal_set_unsealed_fn(struct sr_vault_seal *seal, int (*fn)(void *arg), void *arg)
{
	seal->unsealed_fn = fn;
	seal->unsealed_arg = arg;
}

/* Called with seal->lock held. */
static void reset_locked(struct sr_vault_seal *seal)
{
	for (unsigned i = 0; i < seal->count; i++) {
		sodium_free(seal->texts[i]); /* wipes */
		seal->texts[i] = NULL;
	}
	sodium_memzero(seal->nrs, sizeof seal->nrs);
	seal->count = 0;
	seal->threshold = 0;
}

void sr_vault_seal_reset(struct sr_vault_seal *seal)
{
	pthread_mutex_lock(&seal->lock);
	reset_locked(seal);
	pthread_mutex_unlock(&seal->lock);
}

void sr_vault_seal_free(struct sr_vault_seal *seal)
{
	if (seal == NULL)
		return;
	sr_vault_seal_reset(seal);
	pthread_mutex_destroy(&seal->lock);
	pthread_mutex_destroy(&seal->unseal_lock);
	sr_ratelimit_free(seal->limit);
	free(seal->gated);
	free(seal);
}

bool sr_vault_seal_is_sealed(const struct sr_vault_seal *seal)
{
	return atomic_load(&seal->sealed);
}

static void status_locked(struct sr_vault_seal *seal, struct sr_vault_seal_status *out)
{
	out->sealed = atomic_load(&seal->sealed);
	out->threshold = seal->threshold;
	out->progress = seal->count;
}

void sr_vault_seal_get_status(struct sr_vault_seal *seal, struct sr_vault_seal_status *out)
{
	pthread_mutex_lock(&seal->lock);
	status_locked(seal, out);
	pthread_mutex_unlock(&seal->lock);
}

int sr_vault_seal_add_share(struct sr_vault_seal *seal, const char *text, unsigned *share_number,
			    struct sr_vault_seal_status *status, unsigned char **kek)
{
	unsigned char *bytes = NULL;
	char *copy = NULL;
	unsigned m = 0, x = 0;
	int rc;

	*share_number = 0;
	*kek = NULL;
	memset(status, 0, sizeof *status);
	pthread_mutex_lock(&seal->lock);
	rc = SR_E_UNAVAILABLE;
	if (!atomic_load(&seal->sealed))
		goto out;
	rc = SR_E_NOMEM;
	bytes = sodium_malloc(SR_SHARES_SECRET_LEN);
	if (bytes == NULL)
		goto out;
	rc = sr_shares_decode(text, &m, &x, bytes);
	if (rc != 0)
		goto out;
	*share_number = x;
	rc = SR_E_CONFLICT;
	if (seal->threshold != 0 && m != seal->threshold)
		goto out;
	rc = SR_E_EXISTS;
	for (unsigned i = 0; i < seal->count; i++)
		if (seal->nrs[i] == x)
			goto out;
	/* Keep the text trimmed exactly as the decoder trims it (isspace), so
	 * what it accepted fits: sr_shares_combine decodes it again. */
	while (isspace((unsigned char)*text))
		text++;
	size_t len = strnlen(text, SHARE_INPUT_MAX);
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	rc = SR_E_NOMEM;
	copy = sodium_malloc(SR_SHARES_TEXT_MAX + 1);
	if (copy == NULL)
		goto out;
	SR_ASSERT(len <= SR_SHARES_TEXT_MAX); /* decode accepted it */
	memcpy(copy, text, len);
	copy[len] = '\0';
	seal->texts[seal->count] = copy;
	seal->nrs[seal->count] = (unsigned char)x;
	seal->count++;
	seal->threshold = m;
	copy = NULL;
	rc = 0;
	if (seal->count >= seal->threshold) {
		/* Whatever the outcome, these shares are spent: a wrong set
		 * starts again from zero rather than leaving a bad share in. */
		rc = sr_shares_combine((const char *const *)seal->texts, seal->count, kek, NULL);
		reset_locked(seal);
	}
	status_locked(seal, status);
	if (rc == 0 && *kek != NULL)
		status->threshold = m; /* the set that was just combined */
out:
	pthread_mutex_unlock(&seal->lock);
	sodium_free(bytes);
	sodium_free(copy);
	return rc;
}

/* ---- the gate ------------------------------------------------------------ */

static void reply_sealed(struct sr_http_req *req)
{
	sr_http_add_header(req, "Retry-After", "30");
	sr_http_reply_error(
		req, 503, "api_error", "vault_sealed",
		"The vault is sealed: it serves no request until operators unseal it "
		"with their key shares (strongroom vault unseal; GET /v1/sys/seal-status "
		"shows the progress).",
		NULL);
}

static void gate(struct sr_http_req *req, void *data)
{
	struct gated_route *g = data;
	if (atomic_load(&g->seal->sealed)) {
		reply_sealed(req);
		return;
	}
	g->handler(req, g->data);
}

int sr_vault_seal_gate(struct sr_vault_seal *seal, const struct sr_router *staging,
		       struct sr_router *dst)
{
	unsigned n = sr_router_count(staging);
	int rc = 0;
	SR_ASSERT(seal->gated == NULL);
	seal->gated = sr_xcalloc(n ? n : 1, sizeof *seal->gated);
	seal->ngated = n;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		const struct sr_route *r = sr_router_at(staging, i);
		struct gated_route *g = &seal->gated[i];
		g->seal = seal;
		g->handler = r->handler;
		g->data = r->data;
		rc = sr_router_add(dst, r->method, r->pattern, gate, g, &r->opts);
	}
	return rc;
}

/* ---- GET /v1/sys/seal-status ---------------------------------------------- */

static json_t *status_json(const struct sr_vault_seal_status *st)
{
	return json_pack("{s:s, s:b, s:o, s:i}", "object", "seal_status", "sealed", st->sealed,
			 "threshold", st->threshold ? json_integer(st->threshold) : json_null(),
			 "progress", (int)st->progress);
}

static void handle_status(struct sr_http_req *req, void *data)
{
	struct sr_vault_seal *seal = data;
	struct sr_vault_seal_status st;
	sr_vault_seal_get_status(seal, &st);
	sr_http_reply_json(req, 200, status_json(&st));
}

/* ---- POST /v1/sys/unseal ---------------------------------------------------- */

enum unseal_result {
	U_ACCEPTED,    /* share held; more needed */
	U_UNSEALED,    /* this share completed the set; the ring is open */
	U_NOT_SEALED,  /* nothing to do */
	U_BAD_SHARE,   /* rc says why; nothing changed */
	U_WRONG_SET,   /* the shares do not recover this vault's KEK */
	U_OPEN_FAILED, /* database or other error while opening the ring */
};

struct unseal_job {
	struct sr_vault_seal *seal;
	char *share; /* sodium_malloc; wiped by job_free */
	char *ip;
	char *request_id;
	/* results */
	enum unseal_result result;
	int rc;
	unsigned share_number;
	struct sr_vault_seal_status status;
};

static void job_free(struct unseal_job *job)
{
	sodium_free(job->share);
	free(job->ip);
	free(job->request_id);
	free(job);
}

static void audit_unseal(struct unseal_job *job, const char *action, const char *outcome,
			 const char *details)
{
	struct sr_vault_seal *seal = job->seal;
	struct sr_audit_event ev = {
		.actor_type = "system",
		.actor_id = "share-holder",
		.action = action,
		.object_type = "vault",
		.object_id = "seal",
		.outcome = outcome,
		.ip = job->ip,
		.request_id = job->request_id,
		.details = details,
	};
	int rc = sr_audit_record(sr_runtime_store(seal->rt), sr_runtime_audit_key(seal->rt), &ev);
	if (rc != 0)
		sr_log(SR_LOG_ERROR, "cannot record an unseal event in the audit log",
		       SR_LS("action", action), SR_LS("error", sr_strerror(rc)));
}

static const char *bad_share_reason(int rc)
{
	switch (rc) {
	case SR_E_TAMPER: return "share_mistyped";
	case SR_E_EXISTS: return "share_duplicate";
	case SR_E_CONFLICT: return "share_mismatch";
	case SR_E_INVAL: return "share_invalid";
	default: return "internal_error";
	}
}

/* Opens the key ring with kek and, on success, turns the vault ready.
 * Runs with unseal_lock held. */
static int open_ring(struct unseal_job *job, const unsigned char *kek, char *kid, char *dk)
{
	struct sr_vault_seal *seal = job->seal;
	struct sr_keyring *ring = NULL;
	int rc = sr_keyring_open(sr_runtime_store(seal->rt), kek, &ring);
	if (rc != 0)
		return rc;
	if (sr_keyring_active_kid(ring, kid) != 0)
		kid[0] = '\0';
	if (sr_keyring_active_data_key(ring, dk) != 0)
		dk[0] = '\0';
	/* The ring first, then the flag: a request that passes the gate
	 * finds the ring in place. Nothing passes the gate before the flag, so
	 * the ring can still be taken back if the start-up work fails. */
	atomic_store(&seal->keys->ring, ring);
	if (seal->unsealed_fn != NULL) {
		rc = seal->unsealed_fn(seal->unsealed_arg);
		if (rc != 0) {
			atomic_store(&seal->keys->ring, NULL);
			sr_keyring_close(ring);
			return rc == SR_E_AUTH ? SR_E_INTERNAL : rc; /* AUTH means wrong shares */
		}
	}
	atomic_store(&seal->sealed, false);
	sr_server_set_waiting_status(seal->srv, NULL);
	sr_server_set_ready(seal->srv, true);
	return 0;
}

static void unseal_work(void *arg)
{
	struct unseal_job *job = arg;
	struct sr_vault_seal *seal = job->seal;
	unsigned char *kek = NULL;
	char kid[SR_KEYRING_ID_MAX + 1] = "", dk[SR_KEYRING_ID_MAX + 1] = "";
	char details[256];

	pthread_mutex_lock(&seal->unseal_lock);
	job->rc = sr_vault_seal_add_share(seal, job->share, &job->share_number, &job->status, &kek);
	sodium_memzero(job->share, strlen(job->share));
	unsigned threshold = job->status.threshold;
	switch (job->rc) {
	case 0:
		if (kek == NULL) {
			job->result = U_ACCEPTED;
			break;
		}
		job->rc = open_ring(job, kek, kid, dk);
		job->result = job->rc == 0           ? U_UNSEALED
			      : job->rc == SR_E_AUTH ? U_WRONG_SET
						     : U_OPEN_FAILED;
		break;
	case SR_E_UNAVAILABLE: job->result = U_NOT_SEALED; break;
	case SR_E_INVAL:
	case SR_E_TAMPER:
	case SR_E_EXISTS:
	case SR_E_CONFLICT: job->result = U_BAD_SHARE; break;
	default: job->result = U_OPEN_FAILED; /* combining failed; the shares were wiped */
	}
	if (job->result != U_ACCEPTED)
		sr_vault_seal_get_status(seal, &job->status);
	sodium_free(kek); /* wipes */
	pthread_mutex_unlock(&seal->unseal_lock);

	switch (job->result) {
	case U_NOT_SEALED: break;
	case U_ACCEPTED:
		snprintf(details, sizeof details,
			 "{\"share_number\":%u,\"progress\":%u,\"threshold\":%u}",
			 job->share_number, job->status.progress, job->status.threshold);
		audit_unseal(job, "vault.unseal_share", "success", details);
		break;
	case U_BAD_SHARE:
		snprintf(details, sizeof details, "{\"reason\":\"%s\",\"share_number\":%u}",
			 bad_share_reason(job->rc), job->share_number);
		audit_unseal(job, "vault.unseal_share", "failure", details);
		break;
	case U_UNSEALED:
		snprintf(details, sizeof details,
			 "{\"share_number\":%u,\"threshold\":%u,\"active_kid\":\"%s\","
			 "\"active_data_key\":\"%s\"}",
			 job->share_number, threshold, kid, dk);
		audit_unseal(job, "vault.unseal", "success", details);
		sr_log(SR_LOG_INFO, "vault unsealed: key ring open", SR_LS("active_kid", kid));
		break;
	case U_WRONG_SET:
		snprintf(details, sizeof details,
			 "{\"reason\":\"wrong_shares\",\"share_number\":%u,\"threshold\":%u}",
			 job->share_number, threshold);
		audit_unseal(job, "vault.unseal", "failure", details);
		sr_log(SR_LOG_WARN, "unseal failed; still sealed", SR_LS("reason", "wrong_shares"));
		break;
	case U_OPEN_FAILED:
		snprintf(details, sizeof details, "{\"reason\":\"error\",\"error\":\"%s\"}",
			 sr_strerror(job->rc));
		audit_unseal(job, "vault.unseal", "failure", details);
		sr_log(SR_LOG_ERROR, "unseal failed; still sealed",
		       SR_LS("error", sr_strerror(job->rc)));
		break;
	}
}

static void unseal_done(struct sr_http_req *req, void *arg)
{
	struct unseal_job *job = arg;
	char msg[256];
	if (sr_http_aborted(req))
		goto out;
	switch (job->result) {
	case U_ACCEPTED:
	case U_UNSEALED:
	case U_NOT_SEALED: sr_http_reply_json(req, 200, status_json(&job->status)); break;
	case U_BAD_SHARE:
		switch (job->rc) {
		case SR_E_TAMPER:
			snprintf(
				msg, sizeof msg,
				"This share failed its checksum: a character is mistyped. Check it "
				"and enter it again.");
			break;
		case SR_E_EXISTS:
			snprintf(
				msg, sizeof msg,
				"Share number %u was already entered; the next operator must enter "
				"a different share.",
				job->share_number);
			break;
		case SR_E_CONFLICT:
			snprintf(
				msg, sizeof msg,
				"This share is from a split with another threshold than the shares "
				"entered so far; it is not a share of this vault's current KEK.");
			break;
		default:
			snprintf(msg, sizeof msg,
				 "share is not a strongroom KEK share (srs1-M-X-... as printed by "
				 "strongroom vault init-shares).");
		}
		sr_http_reply_error(req, 400, "invalid_request_error", bad_share_reason(job->rc),
				    msg, "share");
		break;
	case U_WRONG_SET:
		sr_http_reply_error(
			req, 400, "invalid_request_error", "unseal_failed",
			"These shares do not recover this vault's KEK (shares of another "
			"split, or of a KEK replaced since). The vault stays sealed and the "
			"shares entered were discarded: start again with shares of this "
			"vault's current KEK.",
			"share");
		break;
	case U_OPEN_FAILED:
		sr_http_reply_error(
			req, 503, "api_error", "unseal_error",
			"The key ring could not be opened (see the vault's log). The vault "
			"stays sealed and the shares entered were discarded; try again.",
			NULL);
		break;
	}
out:
	job_free(job);
}

static void handle_unseal(struct sr_http_req *req, void *data)
{
	struct sr_vault_seal *seal = data;
	struct unseal_job *job = NULL;
	json_t *body = NULL;
	unsigned retry = 0;

	if (!sr_runtime_ready(seal->rt)) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The service is starting; try again shortly.", NULL);
		goto out;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
	if (!sr_ratelimit_take(seal->limit, req->remote_ip ? req->remote_ip : "", ms, &retry)) {
		char secs[16];
		snprintf(secs, sizeof secs, "%u", retry ? retry : 1);
		sr_http_add_header(req, "Retry-After", secs);
		sr_http_reply_error(req, 429, "rate_limit_error", "too_many_unseal_attempts",
				    "Too many unseal attempts from this address; retry later.",
				    NULL);
		goto out;
	}
	json_error_t jerr;
	if (req->body != NULL)
		body = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES,
				  &jerr);
	if (!json_is_object(body)) {
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_json",
				    "The body must be a JSON object: {\"share\": \"srs1-...\"}.",
				    NULL);
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val)
	{
		if (strcmp(key, "share") != 0) {
			sr_http_reply_error(req, 400, "invalid_request_error", "parameter_unknown",
					    "Only \"share\" is accepted.", key);
			goto out;
		}
	}
	json_t *share = json_object_get(body, "share");
	if (share == NULL) {
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_missing",
				    "share is required: one KEK share per request.", "share");
		goto out;
	}
	size_t len = json_string_length(share);
	if (!json_is_string(share) || len == 0 || len > SHARE_INPUT_MAX ||
	    strlen(json_string_value(share)) != len) {
		sr_http_reply_error(req, 400, "invalid_request_error", "share_invalid",
				    "share must be one share text as printed by strongroom vault "
				    "init-shares (srs1-M-X-...).",
				    "share");
		goto out;
	}
	job = sr_xcalloc(1, sizeof *job);
	job->seal = seal;
	job->share = sodium_malloc(len + 1);
	SR_ASSERT(job->share != NULL);
	memcpy(job->share, json_string_value(share), len + 1);
	job->ip = sr_xstrdup(req->remote_ip ? req->remote_ip : "");
	job->request_id = sr_xstrdup(req->request_id ? req->request_id : "");
	if (sr_http_submit(req, unseal_work, unseal_done, job) != 0) {
		sr_http_reply_busy(req);
		goto out;
	}
	job = NULL;
out:
	/* jansson's copy of the share is wiped on free (main.c sets
	 * sr_card_json_wipe_on_free before any thread starts). */
	json_decref(body);
	if (job != NULL)
		job_free(job);
}

int sr_vault_seal_add_routes(struct sr_vault_seal *seal, struct sr_router *r)
{
	struct sr_route_opts get_opts = {.no_body = true};
	struct sr_route_opts post_opts = {.body_max = UNSEAL_BODY_MAX};
	int rc = sr_router_add(r, "GET", "/v1/sys/seal-status", handle_status, seal, &get_opts);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/sys/unseal", handle_unseal, seal, &post_opts);
	return rc;
}
