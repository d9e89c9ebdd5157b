/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signed webhooks (see webhook.h): the signature scheme, the transactional
 * queue (table webhook_events, common migration 0009) and the sender
 * thread that delivers it with libcurl.
 *
 * The sender follows the notification outbox's lease protocol: a batch of
 * due rows is claimed in one transaction (FOR UPDATE SKIP LOCKED on
 * PostgreSQL, the write lock on SQLite) and leased to this sender; each is
 * POSTed, then marked sent, or rescheduled with exponential backoff, or
 * failed once the retry window has passed. A sender that dies leaves its
 * lease to run out and another takes the row over, so delivery is at least
 * once and receivers deduplicate by event id.
 *
 * Each attempt is signed afresh with the current time: a receiver checks
 * that t is within its tolerance, so a retry hours later still verifies
 * while a captured old delivery cannot be replayed.
 */
#include "svc/webhook.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/poller.h"
#include "crypto/keyfile.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIG_HEADER_MAX 1024 /* bytes of a Strongroom-Signature value we parse */
#define SIG_V1_MAX     8    /* v1= entries considered (secret rotation) */
#define TYPE_MAX       64
#define BATCH          16
#define ERROR_MAX      256
#define REPLY_MAX      4096 /* bytes of a receiver's answer we keep (discarded) */

/* ------------------------------------------------------------ signature */

static int mac(const unsigned char *secret, size_t secret_len, int64_t t, const void *body,
	       size_t len, unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	char ts[24];
	int n = snprintf(ts, sizeof ts, "%" PRId64 ".", t);
	if (n <= 0 || (size_t)n >= sizeof ts)
		return SR_E_INVAL;
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, secret, secret_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, (size_t)n);
	if (len > 0)
		crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
	return 0;
}

int sr_webhook_sign(const unsigned char *secret, size_t secret_len, int64_t t, const void *body,
		    size_t len, char out[SR_WEBHOOK_SIG_MAX])
{
	unsigned char m[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof m + 1];
	out[0] = '\0';
	if (secret == NULL || secret_len < SR_WEBHOOK_SECRET_MIN || t < 0 ||
	    (body == NULL && len > 0))
		return SR_E_INVAL;
	int rc = mac(secret, secret_len, t, body, len, m);
	if (rc != 0)
		return rc;
	sodium_bin2hex(hex, sizeof hex, m, sizeof m);
	snprintf(out, SR_WEBHOOK_SIG_MAX, "t=%" PRId64 ",v1=%s", t, hex);
	sodium_memzero(m, sizeof m);
	return 0;
}

/* Parses one decimal timestamp of 1..19 digits. */
static bool parse_t(const char *s, size_t n, int64_t *out)
{
	if (n == 0 || n > 18)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int sr_webhook_verify(const unsigned char *secret, size_t secret_len, const char *header,
		      const void *body, size_t len, int64_t now, int64_t tolerance_s)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES];
	unsigned char got[SIG_V1_MAX][crypto_auth_hmacsha256_BYTES];
	size_t ngot = 0;
	int64_t t = -1;
	if (secret == NULL || secret_len < SR_WEBHOOK_SECRET_MIN || header == NULL ||
	    (body == NULL && len > 0))
		return SR_E_AUTH;
	size_t hlen = strnlen(header, SIG_HEADER_MAX + 1);
	if (hlen == 0 || hlen > SIG_HEADER_MAX)
		return SR_E_AUTH;
	/* Comma-separated key=value items; unknown keys (future schemes)
	 * are skipped, a second t= is malformed. */
	for (const char *p = header; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		if (n > 2 && p[0] == 't' && p[1] == '=') {
			if (t >= 0 || !parse_t(p + 2, n - 2, &t))
				return SR_E_AUTH;
		} else if (n == 3 + 2 * sizeof want && strncmp(p, "v1=", 3) == 0) {
			size_t bin_len = 0;
			if (ngot < SIG_V1_MAX &&
			    sodium_hex2bin(got[ngot], sizeof got[ngot], p + 3, n - 3, NULL,
					   &bin_len, NULL) == 0 &&
			    bin_len == sizeof want)
				ngot++;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (t < 0 || ngot == 0)
		return SR_E_AUTH;
	if (mac(secret, secret_len, t, body, len, want) != 0)
		return SR_E_AUTH;
	bool match = false;
	for (size_t i = 0; i < ngot; i++)
		match |= sodium_memcmp(got[i], want, sizeof want) == 0;
	sodium_memzero(want, sizeof want);
	if (!match)
		return SR_E_AUTH;
	int64_t skew = now > t ? now - t : t - now;
	return skew <= tolerance_s ? 0 : SR_E_TIMEOUT;
}

/* ---------------------------------------------------------------- queue */

void sr_webhook_new_event_id(char out[SR_WEBHOOK_EVENT_ID_SIZE])
{
	unsigned char rnd[16];
	char hex[33];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(out, SR_WEBHOOK_EVENT_ID_SIZE, "evt_%s", hex);
}

static bool id_ok(const char *id)
{
	size_t n = id ? strnlen(id, SR_WEBHOOK_EVENT_ID_SIZE) : 0;
	if (n <= 4 || n >= SR_WEBHOOK_EVENT_ID_SIZE || strncmp(id, "evt_", 4) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e || id[i] == '"' ||
		    id[i] == '\\')
			return false;
	return true;
}

static bool type_ok(const char *type)
{
	size_t n = type ? strnlen(type, TYPE_MAX + 1) : 0;
	if (n == 0 || n > TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((type[i] >= 'a' && type[i] <= 'z') || (type[i] >= '0' && type[i] <= '9') ||
		      type[i] == '.' || type[i] == '_'))
			return false;
	return true;
}

int sr_webhook_enqueue(struct sr_conn *c, const char *event_id, const char *type,
		       const char *object_json)
{
	int rc = SR_E_INVAL;
	struct sr_stmt *s = NULL;
	char *payload = NULL;
	char now[SR_CLOCK_TEXT_SIZE];
	if (!id_ok(event_id) || !type_ok(type) || object_json == NULL ||
	    strlen(object_json) > SR_WEBHOOK_PAYLOAD_MAX)
		return SR_E_INVAL;
	json_t *obj = json_loads(object_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return SR_E_INVAL;
	}
	json_t *env = json_pack("{s:s, s:s, s:s, s:I, s:{s:o}}", "id", event_id, "object", "event",
				"type", type, "created", (json_int_t)(sr_clock_now_ms() / 1000),
				"data", "object", obj);
	if (env == NULL)
		return SR_E_INVAL;
	payload = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	if (payload == NULL || strlen(payload) > SR_WEBHOOK_PAYLOAD_MAX)
		goto out;
	sr_clock_text(0, now);
	if ((rc = sr_stmt_prepare(
		     c,
		     "INSERT INTO webhook_events (id, type, payload, next_attempt_at, "
		     "created_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
		     &s)) != 0 ||
	    (rc = sr_stmt_bind_text(s, 1, event_id, strlen(event_id))) != 0 ||
	    (rc = sr_stmt_bind_text(s, 2, type, strlen(type))) != 0 ||
	    (rc = sr_stmt_bind_text(s, 3, payload, strlen(payload))) != 0 ||
	    (rc = sr_stmt_bind_text(s, 4, now, strlen(now))) != 0)
		goto out;
	rc = sr_stmt_step(s);
	rc = rc < 0 ? rc : 0;
out:
	sr_stmt_done(s);
	free(payload);
	return rc;
}

/* --------------------------------------------------------------- config */

int sr_webhook_sender_opts_from_config(const struct sr_config *cfg, const char *service,
				       struct sr_webhook_sender_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof *o);
	const char *url = sr_config_str(cfg, service, "webhook_url");
	o->url = url;
	o->timeout_ms = (long)sr_config_int(cfg, "webhooks", "timeout_ms");
	o->retry_base_ms = sr_config_int(cfg, "webhooks", "retry_base_ms");
	o->retry_max_ms = sr_config_int(cfg, "webhooks", "retry_max_ms");
	o->retry_window_s = sr_config_int(cfg, "webhooks", "retry_window_s");
	o->poll_ms = sr_config_int(cfg, "webhooks", "poll_ms");
	o->lease_s = sr_config_int(cfg, "webhooks", "lease_s");
	if (url == NULL || url[0] == '\0')
		return 0;
	if (strncmp(url, "https://", 8) != 0 &&
	    !(sr_config_is_development(cfg) && strncmp(url, "http://127.0.0.1:", 17) == 0)) {
		snprintf(err, errlen,
			 "[%s] webhook_url must be https:// (plain http only to 127.0.0.1 in "
			 "development)",
			 service);
		return SR_E_CONFIG;
	}
	char *ca = sr_config_path(cfg, service, "webhook_ca_file");
	if (ca != NULL && ca[0] == '\0') {
		free(ca);
		ca = NULL;
	}
	o->ca_file = ca;
	char *path = sr_config_path(cfg, service, "webhook_secret_file");
	unsigned char *key = NULL;
	int rc = path ? sr_keyfile_read(path, 32, &key) : SR_E_CONFIG;
	if (rc != 0) {
		snprintf(err, errlen, "[%s] webhook_secret_file %s: %s", service,
			 path ? path : "(unset)", sr_strerror(rc));
		free(path);
		sr_webhook_sender_opts_free(o);
		return rc;
	}
	free(path);
	o->secret = key;
	o->secret_len = 32;
	return 0;
}

void sr_webhook_sender_opts_free(struct sr_webhook_sender_opts *o)
{
	if (o == NULL)
		return;
	free((char *)o->ca_file);
	if (o->secret != NULL)
		sodium_free((unsigned char *)o->secret);
	o->ca_file = NULL;
	o->secret = NULL;
	o->secret_len = 0;
}

/* --------------------------------------------------------------- sender */

struct sr_webhook_sender {
	struct sr_store *st;
	char *url, *ca_file;
	unsigned char *secret; /* sodium_malloc */
	size_t secret_len;
	long timeout_ms;
	int64_t base_ms, max_ms, window_ms, poll_ms, lease_ms;
	char owner[128];
	bool plain_ok;
	struct sr_poller *poller; /* NULL: driven by sr_webhook_sender_run_once */
	atomic_uint_fast64_t sent, retried, failed;
};

struct row {
	char id[SR_WEBHOOK_EVENT_ID_SIZE];
	char *payload;
	char created_at[SR_CLOCK_TEXT_SIZE];
	int64_t attempts; /* including this one */
};

struct claim {
	const char *owner;
	int64_t lease_ms;
	struct row rows[BATCH];
	size_t n;
};

static void claim_reset(struct claim *cl)
{
	for (size_t i = 0; i < cl->n; i++)
		free(cl->rows[i].payload);
	cl->n = 0;
}

static int claim_tx(struct sr_conn *c, void *arg)
{
	struct claim *cl = arg;
	struct sr_stmt *s = NULL;
	char now[SR_CLOCK_TEXT_SIZE], until[SR_CLOCK_TEXT_SIZE];
	int rc;
	claim_reset(cl);
	sr_clock_text(0, now);
	sr_clock_text(cl->lease_ms, until);
	if ((rc = sr_stmt_prepare(
		     c,
		     "SELECT id, payload, created_at, attempts FROM webhook_events "
		     "WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1 AND "
		     "(lease_until IS NULL OR lease_until <= $1) ORDER BY "
		     "next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
		     &s)) != 0 ||
	    (rc = sr_stmt_bind_text(s, 1, now, strlen(now))) != 0 ||
	    (rc = sr_stmt_bind_i64(s, 2, BATCH)) != 0)
		goto out;
	while (cl->n < BATCH && (rc = sr_stmt_step(s)) == 1) {
		struct row *r = &cl->rows[cl->n++];
		snprintf(r->id, sizeof r->id, "%s", sr_stmt_col_text(s, 0, NULL));
		r->payload = sr_xstrdup(sr_stmt_col_text(s, 1, NULL));
		snprintf(r->created_at, sizeof r->created_at, "%s", sr_stmt_col_text(s, 2, NULL));
		r->attempts = sr_stmt_col_i64(s, 3) + 1;
	}
	if (rc < 0)
		goto out;
	sr_stmt_done(s);
	s = NULL;
	for (size_t i = 0; i < cl->n; i++) {
		if ((rc = sr_stmt_prepare(
			     c,
			     "UPDATE webhook_events SET state = 'sending', lease_owner = "
			     "$2, lease_until = $3, attempts = attempts + 1 WHERE id = $1 "
			     "AND (lease_until IS NULL OR lease_until <= $4)",
			     &s)) != 0 ||
		    (rc = sr_stmt_bind_text(s, 1, cl->rows[i].id, strlen(cl->rows[i].id))) != 0 ||
		    (rc = sr_stmt_bind_text(s, 2, cl->owner, strlen(cl->owner))) != 0 ||
		    (rc = sr_stmt_bind_text(s, 3, until, strlen(until))) != 0 ||
		    (rc = sr_stmt_bind_text(s, 4, now, strlen(now))) != 0 ||
		    (rc = sr_stmt_step(s)) < 0)
			goto out;
		if (sr_stmt_changes(s) != 1) {
			rc = SR_E_RETRY; /* never deliver a row we do not hold */
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

struct complete {
	const char *id, *owner, *error;
	long status;
	int64_t delay_ms;
	bool sent, failed;
};

static int complete_tx(struct sr_conn *c, void *arg)
{
	struct complete *m = arg;
	struct sr_stmt *s = NULL;
	char now[SR_CLOCK_TEXT_SIZE], next[SR_CLOCK_TEXT_SIZE];
	sr_clock_text(0, now);
	sr_clock_text(m->delay_ms, next);
	const char *state = m->sent ? "sent" : m->failed ? "failed" : "pending";
	const char *err = m->error ? m->error : "";
	int rc = sr_stmt_prepare(
		c,
		"UPDATE webhook_events SET state = $3, next_attempt_at = $4, last_status = $5, "
		"last_error = $6, sent_at = CASE WHEN $3 = 'sent' THEN $7 ELSE sent_at END, "
		"lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2 AND "
		"state = 'sending'",
		&s);
	if (rc == 0 && ((rc = sr_stmt_bind_text(s, 1, m->id, strlen(m->id))) != 0 ||
			(rc = sr_stmt_bind_text(s, 2, m->owner, strlen(m->owner))) != 0 ||
			(rc = sr_stmt_bind_text(s, 3, state, strlen(state))) != 0 ||
			(rc = sr_stmt_bind_text(s, 4, next, strlen(next))) != 0 ||
			(rc = sr_stmt_bind_i64(s, 5, m->status)) != 0 ||
			(rc = sr_stmt_bind_text(s, 6, err, strlen(err))) != 0 ||
			(rc = sr_stmt_bind_text(s, 7, now, strlen(now))) != 0))
		goto out;
	if (rc == 0)
		rc = sr_stmt_step(s) < 0 ? SR_E_STORE : 0;
out:
	sr_stmt_done(s);
	return rc;
}

static size_t discard_cb(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	size_t *total = arg;
	*total += size * n;
	return *total > REPLY_MAX ? 0 : size * n; /* a receiver that talks on is cut */
}

/* One POST. 0: the receiver accepted it (2xx). Otherwise err says why. */
static int post(struct sr_webhook_sender *w, const struct row *r, long *status, char *err,
		size_t errlen)
{
	char sig[SR_WEBHOOK_SIG_MAX], hdr[sizeof sig + 32];
	char errbuf[CURL_ERROR_SIZE] = "";
	size_t reply = 0;
	int rc = sr_webhook_sign(w->secret, w->secret_len, sr_clock_now_ms() / 1000, r->payload,
				 strlen(r->payload), sig);
	if (rc != 0) {
		snprintf(err, errlen, "cannot sign: %s", sr_strerror(rc));
		return rc;
	}
	snprintf(hdr, sizeof hdr, "%s: %s", SR_WEBHOOK_HEADER, sig);
	CURL *h = curl_easy_init();
	if (h == NULL)
		abort();
	struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
	hl = curl_slist_append(hl, hdr);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, w->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, w->plain_ok ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (w->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, w->ca_file);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->payload);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(r->payload));
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, w->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, w->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "strongroom-webhooks");
	CURLcode c = curl_easy_perform(h);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (c != CURLE_OK && !(c == CURLE_WRITE_ERROR && *status >= 200 && *status < 300)) {
		snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(c));
		rc = SR_E_RETRY;
	} else if (*status < 200 || *status >= 300) {
		snprintf(err, errlen, "HTTP %ld", *status);
		rc = SR_E_RETRY;
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);
	return rc;
}

static void deliver(struct sr_webhook_sender *w, const struct row *r)
{
	char err[ERROR_MAX] = "";
	long status = 0;
	int rc = post(w, r, &status, err, sizeof err);
	struct complete m = {.id = r->id, .owner = w->owner, .status = status, .error = err};
	if (rc == 0) {
		m.sent = true;
		atomic_fetch_add(&w->sent, 1);
	} else {
		/* Every failure is retried: a receiver's 4xx may be a deploy
		 * in progress; the window bounds it. */
		int64_t delay = w->base_ms;
		for (int64_t i = 1; i < r->attempts && delay < w->max_ms; i++)
			delay *= 2;
		if (delay > w->max_ms)
			delay = w->max_ms;
		char deadline[SR_CLOCK_TEXT_SIZE];
		sr_clock_text(-w->window_ms + delay, deadline);
		m.failed = strcmp(r->created_at, deadline) < 0;
		m.delay_ms = delay;
		if (m.failed) {
			atomic_fetch_add(&w->failed, 1);
			sr_log(SR_LOG_ERROR, "webhook failed", SR_LS("id", r->id),
			       SR_LI("attempts", r->attempts), SR_LS("error", err));
		} else {
			atomic_fetch_add(&w->retried, 1);
			sr_log(SR_LOG_WARN, "webhook will be retried", SR_LS("id", r->id),
			       SR_LI("attempts", r->attempts), SR_LI("delay_ms", delay),
			       SR_LS("error", err));
		}
	}
	rc = sr_store_tx(w->st, SR_TX_WRITE, complete_tx, &m);
	if (rc != 0)
		sr_log(SR_LOG_WARN, "webhook outcome not recorded", SR_LS("id", r->id),
		       SR_LS("error", sr_strerror(rc)));
}

int sr_webhook_sender_run_once(struct sr_webhook_sender *w, size_t *processed)
{
	struct claim cl = {.owner = w->owner, .lease_ms = w->lease_ms};
	if (processed != NULL)
		*processed = 0;
	int rc = sr_store_tx(w->st, SR_TX_WRITE, claim_tx, &cl);
	if (rc != 0) {
		claim_reset(&cl);
		return rc;
	}
	for (size_t i = 0; i < cl.n; i++)
		deliver(w, &cl.rows[i]);
	if (processed != NULL)
		*processed = cl.n;
	claim_reset(&cl);
	return 0;
}

/* One pass of the sender thread: a full batch means more may be due. */
static int pass(void *arg, bool *more)
{
	size_t n = 0;
	int rc = sr_webhook_sender_run_once(arg, &n);
	*more = n == BATCH;
	return rc;
}

static void sender_free(struct sr_webhook_sender *w)
{
	if (w == NULL)
		return;
	free(w->url);
	free(w->ca_file);
	if (w->secret != NULL)
		sodium_free(w->secret);
	free(w);
}

int sr_webhook_sender_new(struct sr_store *st, const struct sr_webhook_sender_opts *o,
			  struct sr_webhook_sender **out, char *err, size_t errlen)
{
	*out = NULL;
	if (o->url == NULL || o->url[0] == '\0')
		return 0;
	if (o->secret == NULL || o->secret_len < SR_WEBHOOK_SECRET_MIN) {
		snprintf(err, errlen, "webhook secret missing or shorter than %d bytes",
			 SR_WEBHOOK_SECRET_MIN);
		return SR_E_CONFIG;
	}
	struct sr_webhook_sender *w = sr_xcalloc(1, sizeof *w);
	w->st = st;
	w->url = sr_xstrdup(o->url);
	w->plain_ok = strncmp(o->url, "http://", 7) == 0;
	w->ca_file = o->ca_file ? sr_xstrdup(o->ca_file) : NULL;
	w->secret = sodium_malloc(o->secret_len);
	if (w->secret == NULL)
		abort();
	memcpy(w->secret, o->secret, o->secret_len);
	w->secret_len = o->secret_len;
	w->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	w->base_ms = o->retry_base_ms > 0 ? o->retry_base_ms : 30000;
	w->max_ms = o->retry_max_ms > 0 ? o->retry_max_ms : 3600000;
	w->window_ms = (o->retry_window_s > 0 ? o->retry_window_s : 259200) * 1000;
	w->poll_ms = o->poll_ms > 0 ? o->poll_ms : 1000;
	w->lease_ms = (o->lease_s > 0 ? o->lease_s : 60) * 1000;
	char host[64] = "host";
	unsigned char rnd[6];
	char hex[13];
	(void)gethostname(host, sizeof host - 1);
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(w->owner, sizeof w->owner, "%.63s:%ld:%s", host, (long)getpid(), hex);
	*out = w;
	return 0;
}

int sr_webhook_sender_start(struct sr_store *st, const struct sr_webhook_sender_opts *o,
			    struct sr_webhook_sender **out, char *err, size_t errlen)
{
	int rc = sr_webhook_sender_new(st, o, out, err, errlen);
	if (rc != 0 || *out == NULL)
		return rc;
	if (sr_poller_start("webhooks", pass, *out, (*out)->poll_ms, &(*out)->poller) != 0) {
		snprintf(err, errlen, "cannot start the webhook sender thread");
		sender_free(*out);
		*out = NULL;
		return SR_E_INTERNAL;
	}
	return 0;
}

void sr_webhook_sender_stats(struct sr_webhook_sender *w, struct sr_webhook_stats *out)
{
	memset(out, 0, sizeof *out);
	if (w == NULL)
		return;
	out->sent = atomic_load(&w->sent);
	out->retried = atomic_load(&w->retried);
	out->failed = atomic_load(&w->failed);
}

void sr_webhook_sender_stop(struct sr_webhook_sender *w)
{
	if (w == NULL)
		return;
	sr_poller_stop(w->poller);
	sender_free(w);
}
