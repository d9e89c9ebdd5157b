/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cookie authentication for platform routes (auth.h), and the helpers the
 * accounts routes share: keyed hashes, times, the brute-force counters,
 * audit records and outbox mail.
 *
 * Secrets that pass through here: the session token and the CSRF token of
 * a request (sodium_malloc, wiped by sr_auth_request_clear), the lookup key
 * (only inside struct sr_accounts), member keys and decrypted addresses
 * (sodium_malloc, wiped when freed). The database sees keyed hashes only.
 */
#include "platform/auth.h"
#include "base/clock.h"
#include "platform/events.h"
#include "audit/audit.h"
#include "base/assert.h"
#include "base/mem.h"
#include "net/http.h"
#include "platform/accounts_int.h"
#include "platform/mfa.h"
#include "platform/notify/outbox.h"
#include "platform/pii.h"
#include "store/store.h"
#include "svc/runtime.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- small helpers ------------------------------------------------------ */

int64_t sr_acc_now_ms(void)
{
	return sr_clock_now_ms();
}

void sr_acc_time_text(int64_t ms, char out[SR_ACC_TIME_SIZE])
{
	sr_clock_format(ms, out);
}

int64_t sr_acc_time_parse(const char *s)
{
	int y, mo, d, h, mi, sec, ms;
	char z;
	if (s == NULL || strlen(s) != 24)
		return -1;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) != 8 ||
	    z != 'Z')
		return -1;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = sec};
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return (int64_t)t * 1000 + ms;
}

void sr_acc_random_id(const char *prefix, char out[SR_USER_ID_SIZE])
{
	unsigned char rnd[16];
	char hex[33];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(out, SR_USER_ID_SIZE, "%s%s", prefix, hex);
}

void sr_acc_mask_email(const char *email, char *out, size_t cap)
{
	const char *at = email != NULL ? strrchr(email, '@') : NULL;
	if (at == NULL || at == email) {
		snprintf(out, cap, "***");
		return;
	}
	snprintf(out, cap, "%c***%s", email[0], at);
}

void sr_accounts_keyed_hash(const struct sr_accounts *acc, const char *purpose, const void *data,
			    size_t len, char out[SR_ACCOUNTS_HASH_HEX])
{
	/* One key, domain-separated by purpose: a session hash can never be
	 * mistaken for an email lookup. */
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_init(&st, acc->lookup_key, 32);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)purpose, strlen(purpose) + 1);
	crypto_auth_hmacsha256_update(&st, data, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, SR_ACCOUNTS_HASH_HEX, mac, sizeof mac);
	sodium_memzero(&st, sizeof st);
}

int sr_accounts_normalise_email(const char *in, size_t len, char out[255])
{
	out[0] = '\0';
	while (len > 0 && (*in == ' ' || *in == '\t')) {
		in++;
		len--;
	}
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (len < 3 || len > 254)
		return SR_E_INVAL;
	size_t at = len, ats = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		/* Printable ASCII without the characters that need quoting or
		 * could break a header; internationalised addresses are not
		 * accepted yet (docs/accounts.md). */
		if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),:;<>[\\]", ch) != NULL)
			goto bad;
		if (ch == '@') {
			at = i;
			ats++;
		}
		out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	out[len] = '\0';
	if (ats != 1 || at == 0 || at > 64 || at + 1 >= len)
		goto bad;
	const char *dom = out + at + 1;
	const char *dot = strrchr(dom, '.');
	if (dot == NULL || dot == dom || dot[1] == '\0' || dom[0] == '.' || strstr(dom, "..") ||
	    out[0] == '.' || out[at - 1] == '.')
		goto bad;
	return 0;
bad:
	out[0] = '\0';
	return SR_E_INVAL;
}

const char *sr_role_name(enum sr_role r)
{
	switch (r) {
	case SR_ROLE_MEMBER: return "member";
	case SR_ROLE_REVIEWER: return "reviewer";
	case SR_ROLE_ADMIN: return "admin";
	}
	return "member";
}

enum sr_role sr_role_parse(const char *name)
{
	if (name == NULL)
		return 0;
	if (strcmp(name, "member") == 0)
		return SR_ROLE_MEMBER;
	if (strcmp(name, "reviewer") == 0)
		return SR_ROLE_REVIEWER;
	if (strcmp(name, "admin") == 0)
		return SR_ROLE_ADMIN;
	return 0;
}

/* Steps a statement that returns no rows; 0 or an error. */
static int step_done(struct sr_stmt *s)
{
	int rc = sr_stmt_step(s);
	return rc > 0 ? 0 : rc;
}

static int bind_texts(struct sr_stmt *s, const char *const *v, int n)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		rc = v[i] == NULL ? sr_stmt_bind_null(s, i + 1)
				  : sr_stmt_bind_text(s, i + 1, v[i], strlen(v[i]));
	return rc;
}

/* Prepares sql, binds n texts and steps it to the end. */
static int exec_texts(struct sr_conn *c, const char *sql, const char *const *v, int n,
		      int64_t *changes)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = bind_texts(s, v, n);
	if (rc == 0)
		rc = step_done(s);
	if (rc == 0 && changes != NULL)
		*changes = sr_stmt_changes(s);
	sr_stmt_done(s);
	return rc;
}

int sr_acc_audit(struct sr_conn *c, const struct sr_accounts *acc, const char *actor_id,
		 const char *action, const char *object_type, const char *object_id,
		 const char *outcome, const struct sr_auth_request *r, const char *details)
{
	struct sr_audit_event ev = {
		.actor_type = actor_id != NULL && actor_id[0] ? "user" : "system",
		.actor_id = actor_id != NULL && actor_id[0] ? actor_id : "anonymous",
		.action = action,
		.object_type = object_type,
		.object_id = object_id,
		.outcome = outcome,
		.ip = r != NULL ? r->ip : "",
		.request_id = r != NULL ? r->request_id : "",
		.details = details,
	};
	return sr_audit_append(c, acc->audit_key, &ev);
}

int sr_acc_notify(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		  const char *template_name, const char *object_id, json_t *variables)
{
	char *vars = variables != NULL ? json_dumps(variables, JSON_COMPACT) : NULL;
	/* Email (the address is resolved when it is sent, so the outbox holds
	 * none) and the marketplace webhook for security events: events.h. */
	struct sr_member_event ev = {
		.name = template_name,
		.object_id = object_id,
		.member_id = user_id,
		.variables_json = vars,
	};
	int rc = sr_events_record(c, acc->pii, &ev, NULL);
	if (vars != NULL) {
		sodium_memzero(vars, strlen(vars)); /* may hold a one-time code */
		free(vars);
	}
	return rc;
}

struct outbox_open_args {
	const struct sr_accounts *acc;
	struct sr_delivery_open *o;
};

static int outbox_open_tx(struct sr_conn *c, void *arg)
{
	struct outbox_open_args *a = arg;
	return sr_events_open_outbox(c, a->acc->pii, a->o);
}

int sr_accounts_outbox_open(void *arg, struct sr_delivery_open *o)
{
	struct outbox_open_args a = {.acc = arg, .o = o};
	if (!sr_accounts_ready(a.acc))
		return SR_E_UNAVAILABLE;
	return sr_store_tx(a.acc->store, SR_TX_READ, outbox_open_tx, &a);
}

#define IP_WINDOW_MS (3600LL * 1000)

int sr_acc_ip_failures(struct sr_conn *c, const struct sr_accounts *acc, const char *ip, bool add,
		       bool *over)
{
	char subject[SR_ACCOUNTS_HASH_HEX + 8];
	char hash[SR_ACCOUNTS_HASH_HEX];
	char now[SR_ACC_TIME_SIZE], cutoff[SR_ACC_TIME_SIZE];
	struct sr_stmt *s = NULL;
	int64_t t = sr_acc_now_ms();
	*over = false;
	sr_accounts_keyed_hash(acc, "ip", ip, strlen(ip), hash);
	snprintf(subject, sizeof subject, "ip:%s", hash);
	sr_acc_time_text(t, now);
	sr_acc_time_text(t - IP_WINDOW_MS, cutoff);
	int rc = sr_stmt_prepare(c,
				 "SELECT failures FROM auth_failures WHERE subject = $1 AND "
				 "window_start >= $2",
				 &s);
	const char *v[] = {subject, cutoff};
	if (rc == 0)
		rc = bind_texts(s, v, 2);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0) {
			*over = sr_stmt_col_i64(s, 0) >= acc->set.ip_failures_per_hour;
			rc = 0;
		}
	}
	sr_stmt_done(s);
	if (rc != 0 || !add)
		return rc;
	const char *w[] = {subject, now, cutoff};
	return exec_texts(
		c,
		"INSERT INTO auth_failures (subject, window_start, failures) VALUES ($1, $2, 1) "
		"ON CONFLICT (subject) DO UPDATE SET "
		"failures = CASE WHEN auth_failures.window_start < CAST($3 AS TEXT) THEN 1 "
		"ELSE auth_failures.failures + 1 END, "
		"window_start = CASE WHEN auth_failures.window_start < CAST($3 AS TEXT) "
		"THEN CAST($2 AS TEXT) ELSE auth_failures.window_start END",
		w, 3, NULL);
}

void sr_acc_guard_compute(const struct sr_accounts *acc, int64_t failures, int64_t last_failed_ms,
			  int64_t locked_until_ms, struct sr_acc_guard *g)
{
	g->locked_until_ms = locked_until_ms > 0 ? locked_until_ms : 0;
	g->throttled_until_ms = 0;
	if (failures > acc->set.delay_after && last_failed_ms > 0 && acc->set.delay_step_ms > 0) {
		int64_t extra = failures - acc->set.delay_after - 1;
		int64_t d = acc->set.delay_step_ms;
		while (extra-- > 0 && d < 4000)
			d *= 2;
		if (d > 4000)
			d = 4000;
		g->throttled_until_ms = last_failed_ms + d;
	}
}

/* ---- request capture and session resolution ----------------------------- */

static char *secret_copy(const char *v, size_t n)
{
	char *s = sodium_malloc(n + 1);
	SR_ASSERT(s != NULL);
	memcpy(s, v, n);
	s[n] = '\0';
	return s;
}

/* The value of cookie name in a Cookie header, as a view; NULL if absent. */
static const char *cookie_value(const char *header, const char *name, size_t *len)
{
	size_t nlen = strlen(name);
	const char *p = header;
	while (p != NULL && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t seg = end != NULL ? (size_t)(end - p) : strlen(p);
		if (seg > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			*len = seg - nlen - 1;
			while (*len > 0 && p[nlen + *len] == ' ')
				(*len)--;
			return p + nlen + 1;
		}
		p = end;
	}
	return NULL;
}

void sr_auth_capture(const struct sr_http_req *req, struct sr_auth_request *out)
{
	memset(out, 0, sizeof *out);
	const char *cookie = sr_http_header(req, "Cookie");
	size_t n = 0;
	const char *v = cookie != NULL ? cookie_value(cookie, SR_SESSION_COOKIE, &n) : NULL;
	if (v != NULL && n > 0 && n <= 128)
		out->session_token = secret_copy(v, n);
	const char *csrf = sr_http_header(req, SR_CSRF_HEADER);
	if (csrf != NULL && csrf[0] && strlen(csrf) <= 128)
		out->csrf_token = secret_copy(csrf, strlen(csrf));
	snprintf(out->ip, sizeof out->ip, "%s", req->remote_ip ? req->remote_ip : "");
	snprintf(out->request_id, sizeof out->request_id, "%s",
		 req->request_id ? req->request_id : "");
	const char *ua = sr_http_header(req, "User-Agent");
	size_t i = 0;
	for (; ua != NULL && ua[i] && i < SR_AUTH_UA_MAX; i++) {
		unsigned char ch = (unsigned char)ua[i];
		out->user_agent[i] = ch < 0x20 || ch >= 0x7f ? '?' : (char)ch;
	}
	out->user_agent[i] = '\0';
	out->state_changing = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0 &&
			      strcmp(req->method, "OPTIONS") != 0;
}

void sr_auth_request_clear(struct sr_auth_request *r)
{
	if (r->session_token != NULL)
		sodium_free(r->session_token);
	if (r->csrf_token != NULL)
		sodium_free(r->csrf_token);
	r->session_token = NULL;
	r->csrf_token = NULL;
}

int sr_auth_resolve(struct sr_conn *c, const struct sr_accounts *acc,
		    const struct sr_auth_request *r, bool allow_restricted, struct sr_auth_ctx *ctx,
		    enum sr_auth_result *result)
{
	struct sr_stmt *s = NULL;
	char hash[SR_ACCOUNTS_HASH_HEX];
	char csrf_hash[SR_ACCOUNTS_HASH_HEX] = "";
	char now[SR_ACC_TIME_SIZE];
	int rc = 0;
	bool revoked = false, deleted = false;
	int64_t last_seen = -1;
	memset(ctx, 0, sizeof *ctx);
	*result = SR_AUTH_NO_SESSION;
	if (r->session_token == NULL)
		return 0;
	sr_accounts_keyed_hash(acc, "session", r->session_token, strlen(r->session_token), hash);
	rc = sr_stmt_prepare(c,
			     "SELECT s.id, s.user_id, s.csrf_hash, s.created_at, s.last_seen_at, "
			     "s.auth_time, s.restricted, s.revoked_at, u.role, u.email_verified, "
			     "u.state FROM sessions s JOIN users u ON u.id = s.user_id "
			     "WHERE s.token_hash = $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, hash, strlen(hash));
	if (rc != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc <= 0)
		goto out; /* 0: unknown session */
	rc = 0;
	size_t n;
	snprintf(ctx->session_id, sizeof ctx->session_id, "%s", sr_stmt_col_text(s, 0, &n));
	snprintf(ctx->user_id, sizeof ctx->user_id, "%s", sr_stmt_col_text(s, 1, &n));
	snprintf(csrf_hash, sizeof csrf_hash, "%s", sr_stmt_col_text(s, 2, &n));
	ctx->created = sr_acc_time_parse(sr_stmt_col_text(s, 3, &n)) / 1000;
	last_seen = sr_acc_time_parse(sr_stmt_col_text(s, 4, &n));
	ctx->auth_time = sr_acc_time_parse(sr_stmt_col_text(s, 5, &n)) / 1000;
	ctx->restricted = sr_stmt_col_i64(s, 6) != 0;
	revoked = !sr_stmt_col_is_null(s, 7);
	ctx->role = sr_role_parse(sr_stmt_col_text(s, 8, &n));
	ctx->email_verified = sr_stmt_col_i64(s, 9) != 0;
	deleted = strcmp(sr_stmt_col_text(s, 10, &n), "active") != 0;
	sr_stmt_done(s);
	s = NULL;

	int64_t t = sr_acc_now_ms();
	const char *why = NULL;
	if (last_seen < 0 || t - last_seen > acc->set.idle_timeout_s * 1000)
		why = "idle_timeout";
	else if (t - ctx->created * 1000 > acc->set.absolute_timeout_s * 1000)
		why = "absolute_timeout";
	if (revoked || deleted || why != NULL) {
		*result = SR_AUTH_EXPIRED;
		if (why != NULL && !revoked) {
			/* Mark it so the member's list stops showing it. */
			sr_acc_time_text(t, now);
			const char *v[] = {ctx->session_id, now, why};
			rc = exec_texts(c,
					"UPDATE sessions SET revoked_at = $2, revoked_reason = $3 "
					"WHERE id = $1 AND revoked_at IS NULL",
					v, 3, NULL);
		}
		goto clear;
	}
	if (r->state_changing) {
		char given[SR_ACCOUNTS_HASH_HEX];
		if (r->csrf_token == NULL) {
			*result = SR_AUTH_CSRF;
			goto clear;
		}
		sr_accounts_keyed_hash(acc, "csrf", r->csrf_token, strlen(r->csrf_token), given);
		if (strlen(csrf_hash) != SR_ACCOUNTS_HASH_HEX - 1 ||
		    sodium_memcmp(given, csrf_hash, SR_ACCOUNTS_HASH_HEX - 1) != 0) {
			*result = SR_AUTH_CSRF;
			goto clear;
		}
	}
	if (ctx->restricted && !allow_restricted) {
		*result = SR_AUTH_RESTRICTED;
		goto clear;
	}
	rc = sr_mfa_enabled(c, ctx->user_id, &ctx->mfa_enabled);
	if (rc != 0)
		goto out;
	sr_acc_time_text(t, now);
	const char *v[] = {ctx->session_id, now};
	rc = exec_texts(c, "UPDATE sessions SET last_seen_at = $2 WHERE id = $1", v, 2, NULL);
	if (rc == 0)
		*result = SR_AUTH_OK;
	goto out;
clear:
	/* Failed resolution: the caller learns nothing about the session. */
	memset(ctx, 0, sizeof *ctx);
out:
	sr_stmt_done(s);
	if (rc != 0) {
		memset(ctx, 0, sizeof *ctx);
		*result = SR_AUTH_NO_SESSION;
	}
	return rc;
}

bool sr_auth_recent(const struct sr_accounts *acc, const struct sr_auth_ctx *ctx)
{
	return sr_acc_now_ms() / 1000 - ctx->auth_time <= acc->set.reauth_window_s;
}

bool sr_auth_is_staff(const struct sr_auth_ctx *ctx)
{
	return ctx->role == SR_ROLE_REVIEWER || ctx->role == SR_ROLE_ADMIN;
}

void sr_auth_reply_error(struct sr_http_req *req, enum sr_auth_result result)
{
	switch (result) {
	case SR_AUTH_OK:
	case SR_AUTH_NO_SESSION:
		sr_http_reply_error(req, 401, "authentication_error", "authentication_required",
				    "Sign in first: this needs a session (POST /v1/sessions).",
				    NULL);
		return;
	case SR_AUTH_EXPIRED:
		sr_http_reply_error(req, 401, "authentication_error", "session_expired",
				    "The session has ended; sign in again.", NULL);
		return;
	case SR_AUTH_CSRF:
		sr_http_reply_error(req, 403, "authentication_error", "csrf_token_invalid",
				    "The X-CSRF-Token header is missing or does not match the "
				    "session.",
				    NULL);
		return;
	case SR_AUTH_REAUTH:
		sr_http_reply_error(req, 403, "authentication_error", "reauthentication_required",
				    "This change needs a recent sign-in: confirm your password "
				    "(POST /v1/sessions/current/reauthenticate) and try again.",
				    NULL);
		return;
	case SR_AUTH_FORBIDDEN:
		sr_http_reply_error(req, 403, "authentication_error", "forbidden",
				    "Your role does not allow this.", NULL);
		return;
	case SR_AUTH_RESTRICTED:
		sr_http_reply_error(req, 403, "authentication_error", "mfa_enrollment_required",
				    "Staff accounts must set up two-step sign-in before anything "
				    "else (POST /v1/mfa/totp).",
				    NULL);
		return;
	case SR_AUTH_UNVERIFIED:
		sr_http_reply_error(req, 403, "invalid_request_error", "email_unverified",
				    "Confirm your email address first (POST "
				    "/v1/users/verify_email).",
				    NULL);
		return;
	}
	sr_http_reply_error(req, 401, "authentication_error", "authentication_required",
			    "Sign in first.", NULL);
}

/* ---- member lookups ----------------------------------------------------- */

static int member_field(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			const char *column, const char *field, char **value)
{
	struct sr_stmt *s = NULL;
	size_t len = 0;
	char sql[128];
	*value = NULL;
	snprintf(sql, sizeof sql, "SELECT %s FROM users WHERE id = $1", column);
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			rc = SR_E_NOTFOUND;
		else if (rc > 0) {
			size_t bl = 0;
			const void *blob = sr_stmt_col_blob(s, 0, &bl);
			rc = sr_pii_open(c, acc->pii, user_id, field, blob, bl, value, &len);
		}
	}
	sr_stmt_done(s);
	return rc;
}

int sr_auth_member_email(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			 char **email)
{
	return member_field(c, acc, user_id, "email_sealed", SR_PII_FIELD_EMAIL, email);
}

int sr_auth_member_name(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			char **name)
{
	return member_field(c, acc, user_id, "name_sealed", SR_PII_FIELD_NAME, name);
}

int sr_auth_member_set_name(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			    const char *name, size_t len)
{
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	struct sr_stmt *s = NULL;
	int rc = sr_pii_seal(c, acc->pii, user_id, SR_PII_FIELD_NAME, name, len, &blob, &blob_len);
	if (rc == 0)
		rc = sr_stmt_prepare(c, "UPDATE users SET name_sealed = $2 WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 2, blob, blob_len);
	if (rc == 0)
		rc = step_done(s);
	if (rc == 0 && sr_stmt_changes(s) != 1)
		rc = SR_E_NOTFOUND;
	sr_stmt_done(s);
	free(blob);
	return rc;
}

int sr_auth_member_role(struct sr_conn *c, const char *user_id, enum sr_role *role)
{
	struct sr_stmt *s = NULL;
	size_t n;
	*role = 0;
	int rc = sr_stmt_prepare(c, "SELECT role FROM users WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			rc = SR_E_NOTFOUND;
		else if (rc > 0) {
			*role = sr_role_parse(sr_stmt_col_text(s, 0, &n));
			rc = 0;
		}
	}
	sr_stmt_done(s);
	return rc;
}

/* ---- counters ----------------------------------------------------------- */

int sr_auth_check_locked(struct sr_conn *c, const char *user_id, int64_t *locked_until_s)
{
	struct sr_stmt *s = NULL;
	size_t n;
	*locked_until_s = 0;
	int rc = sr_stmt_prepare(c, "SELECT locked_until FROM users WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			rc = SR_E_NOTFOUND;
		else if (rc > 0) {
			rc = 0;
			int64_t until = sr_acc_time_parse(sr_stmt_col_text(s, 0, &n));
			if (until > sr_acc_now_ms())
				*locked_until_s = (until + 999) / 1000;
		}
	}
	sr_stmt_done(s);
	return rc;
}

int sr_auth_record_failure(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			   const struct sr_auth_request *r, const char *what, unsigned *delay_ms)
{
	struct sr_stmt *s = NULL;
	char now[SR_ACC_TIME_SIZE], until[SR_ACC_TIME_SIZE];
	int64_t t = sr_acc_now_ms();
	int64_t failures = 0;
	bool over = false;
	*delay_ms = 0;
	sr_acc_time_text(t, now);
	/* A lock that ran out starts a fresh count. */
	int rc = sr_stmt_prepare(
		c,
		"UPDATE users SET failed_logins = CASE WHEN locked_until IS NOT NULL "
		"AND locked_until <= $2 THEN 1 ELSE failed_logins + 1 END, "
		"locked_until = CASE WHEN locked_until IS NOT NULL AND locked_until "
		"<= $2 THEN NULL ELSE locked_until END, last_failed_at = $2 "
		"WHERE id = $1 RETURNING failed_logins",
		&s);
	const char *v[] = {user_id, now};
	if (rc == 0)
		rc = bind_texts(s, v, 2);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			rc = SR_E_NOTFOUND;
		else if (rc > 0) {
			failures = sr_stmt_col_i64(s, 0);
			rc = step_done(s);
		}
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc == 0 && r != NULL && r->ip[0])
		rc = sr_acc_ip_failures(c, acc, r->ip, true, &over);
	if (rc != 0)
		return rc;
	char details[128];
	snprintf(details, sizeof details, "{\"factor\":\"%s\",\"consecutive_failures\":%lld}", what,
		 (long long)failures);
	rc = sr_acc_audit(c, acc, user_id, "login.failure", "user", user_id, "failure", r, details);
	if (rc != 0)
		return rc;
	if (failures == acc->set.lockout_threshold) {
		sr_acc_time_text(t + acc->set.lockout_duration_s * 1000, until);
		const char *w[] = {user_id, until};
		rc = exec_texts(c, "UPDATE users SET locked_until = $2 WHERE id = $1", w, 2, NULL);
		if (rc == 0)
			rc = sr_acc_audit(c, acc, user_id, "account.locked", "user", user_id,
					  "success", r, details);
		if (rc == 0) {
			char object[SR_USER_ID_SIZE + SR_ACC_TIME_SIZE + 2];
			snprintf(object, sizeof object, "%s@%s", user_id, now);
			/* The outbox refuses a row whose address is gone
			 * (shredded); locking must still happen. */
			rc = sr_acc_notify(c, acc, user_id, "account_locked", object, NULL);
			if (rc == SR_E_NOTFOUND)
				rc = 0;
		}
		return rc;
	}
	struct sr_acc_guard g;
	sr_acc_guard_compute(acc, failures, t, 0, &g);
	if (g.throttled_until_ms > t)
		*delay_ms = (unsigned)(g.throttled_until_ms - t);
	return 0;
}

int sr_auth_record_success(struct sr_conn *c, const char *user_id)
{
	const char *v[] = {user_id};
	return exec_texts(c,
			  "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
			  v, 1, NULL);
}

int sr_auth_verify_password(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			    const char *password, size_t len, const struct sr_auth_request *r,
			    bool *ok, bool *locked)
{
	struct sr_stmt *s = NULL;
	char hash[SR_PASSWORD_HASH_MAX] = "";
	size_t n;
	int64_t until = 0;
	*ok = false;
	*locked = false;
	int rc = sr_auth_check_locked(c, user_id, &until);
	if (rc != 0)
		return rc;
	if (until > 0) {
		*locked = true;
		return 0;
	}
	rc = sr_stmt_prepare(c, "SELECT password_hash FROM users WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			rc = SR_E_NOTFOUND;
		else if (rc > 0) {
			snprintf(hash, sizeof hash, "%s", sr_stmt_col_text(s, 0, &n));
			rc = 0;
		}
	}
	sr_stmt_done(s);
	if (rc != 0)
		return rc;
	*ok = sr_password_verify(&acc->pepper, 1, hash, password, len) == 0;
	if (*ok)
		return sr_auth_record_success(c, user_id);
	unsigned delay = 0;
	return sr_auth_record_failure(c, acc, user_id, r, "password", &delay);
}

int sr_auth_revoke_sessions(struct sr_conn *c, const char *user_id, const char *keep_session_id,
			    const char *reason, int64_t *count)
{
	char now[SR_ACC_TIME_SIZE];
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {user_id, now, reason, keep_session_id != NULL ? keep_session_id : ""};
	*count = 0;
	return exec_texts(
		c,
		"UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE user_id = "
		"$1 AND revoked_at IS NULL AND id <> $4",
		v, 4, count);
}
