/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TOTP enrolment routes (docs/profile.md, docs/openapi.yaml):
 *
 *   POST   /v1/mfa/totp          recent auth; a fresh secret (pending), its
 *                                otpauth:// URI and QR code, shown once
 *   POST   /v1/mfa/totp/confirm  {code}: turns it on, returns ten recovery
 *                                codes, shown once
 *   DELETE /v1/mfa/totp          {password, code}: turns it off
 *
 * Who holds what: the secret exists in clear only in this request's
 * sodium memory and in the one response that shows it; at rest it is
 * sealed under the member's data key (mfa.c). Recovery codes are in clear
 * only in the confirm response. Wrong codes and passwords count in the
 * account's failure counters (auth.h), so they lock the account like
 * wrong login passwords do.
 */
#include "platform/mfa_api.h"
#include "audit/audit.h"
#include "base/mem.h"
#include "lib/qr_svg.h"
#include "net/router.h"
#include "platform/accounts.h"
#include "platform/authed.h"
#include "platform/mfa_int.h"
#include "platform/pii.h"
#include "platform/profile.h"
#include "store/store.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TOTP_ISSUER "strongroom"

static int exec1(struct sr_conn *c, const char *sql, const char *a, const char *b, const char *d,
		 int64_t *changes)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0 && a)
		rc = sr_stmt_bind_text(s, 1, a, strlen(a));
	if (rc == 0 && b)
		rc = sr_stmt_bind_text(s, 2, b, strlen(b));
	if (rc == 0 && d)
		rc = sr_stmt_bind_text(s, 3, d, strlen(d));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc >= 0) {
		if (changes)
			*changes = sr_stmt_changes(s);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

/* POST /v1/mfa/totp */
static int enrol_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *uid = job->ctx.user_id;
	bool enabled = false;
	char *email = NULL;
	unsigned char *secret = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	char *uri = NULL, *svg = NULL;
	int rc = sr_mfa_enabled(c, uid, &enabled);
	if (rc != 0)
		goto out;
	if (enabled) {
		sr_authed_fail(job, 409, "invalid_request_error", "mfa_already_enabled", NULL,
			       "Two-step sign-in is already on. Turn it off first to "
			       "enrol a new authenticator.");
		goto out;
	}
	if ((rc = sr_auth_member_email(c, job->acc, uid, &email)) != 0)
		goto out;
	secret = sodium_malloc(SR_TOTP_SECRET_BYTES);
	uri = sodium_malloc(SR_TOTP_URI_MAX);
	if (secret == NULL || uri == NULL)
		abort();
	sr_totp_secret_new(secret);
	if ((rc = sr_totp_uri(secret, SR_TOTP_SECRET_BYTES, TOTP_ISSUER, email, uri,
			      SR_TOTP_URI_MAX)) != 0)
		goto out;
	if ((rc = sr_qr_svg(uri, strlen(uri), &svg)) != 0)
		goto out;
	rc = sr_pii_seal(c, sr_accounts_pii(job->acc), uid, SR_MFA_FIELD_TOTP, secret,
			 SR_TOTP_SECRET_BYTES, &blob, &blob_len);
	if (rc != 0)
		goto out;
	/* A pending secret from an abandoned enrolment is replaced. */
	if ((rc = exec1(c, "DELETE FROM mfa_totp WHERE user_id = $1 AND state = 'pending'", uid,
			NULL, NULL, NULL)) != 0)
		goto out;
	char now[32];
	sr_audit_now(now, sizeof now);
	struct sr_stmt *s = NULL;
	rc = sr_stmt_prepare(c,
			     "INSERT INTO mfa_totp (user_id, secret_sealed, state, last_used_step, "
			     "created_at) VALUES ($1, $2, 'pending', -1, $3)",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 2, blob, blob_len);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	rc = rc < 0 ? rc : 0;
	sr_stmt_done(s);
	if (rc != 0)
		goto out;
	if ((rc = sr_authed_audit(c, job, "mfa.enroll", "user", uid, "success",
				  "{\"factor\":\"totp\"}")) != 0)
		goto out;
	/* The base32 secret, for typing by hand, is the URI's secret= value. */
	const char *b32 = strstr(uri, "secret=");
	size_t b32_len = 0;
	if (b32 != NULL) {
		b32 += 7;
		b32_len = strcspn(b32, "&");
	}
	job->reply = json_pack("{s:s, s:s, s:s%, s:s, s:s, s:s}", "object", "totp_enrollment",
			       "status", "pending", "secret", b32 ? b32 : "", b32_len,
			       "otpauth_uri", uri, "qr_code_svg", svg, "issuer", TOTP_ISSUER);
out:
	if (email != NULL)
		sodium_free(email);
	if (secret != NULL)
		sodium_free(secret);
	if (uri != NULL)
		sodium_free(uri);
	if (svg != NULL) {
		sodium_memzero(svg, strlen(svg));
		free(svg);
	}
	free(blob);
	return rc;
}

/* A failed code or password: counted in the account's failure counters and
 * answered, the count committed. */
static int refuse_counted(struct sr_conn *c, struct sr_authed_job *job, const char *what,
			  const char *param, const char *code, const char *message)
{
	unsigned delay_ms = 0;
	int rc = sr_auth_record_failure(c, job->acc, job->ctx.user_id, &job->auth, what, &delay_ms);
	if (rc == 0)
		rc = sr_authed_audit(c, job, "mfa.verify", "user", job->ctx.user_id, "failure",
				     NULL);
	sr_authed_fail(job, 400, "invalid_request_error", code, param, message);
	return rc;
}

static const char *body_str(const struct sr_authed_job *job, const char *key)
{
	json_t *v = json_object_get(job->body, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool check_locked(struct sr_conn *c, struct sr_authed_job *job, int *rc)
{
	int64_t until = 0;
	*rc = sr_auth_check_locked(c, job->ctx.user_id, &until);
	if (*rc == 0 && until > 0) {
		sr_authed_fail(job, 429, "rate_limit_error", "account_locked", NULL,
			       "Too many failed attempts: the account is locked for a while. "
			       "We sent you an email.");
		return true;
	}
	return *rc != 0;
}

/* POST /v1/mfa/totp/confirm {code} */
static int confirm_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *uid = job->ctx.user_id;
	const char *code = body_str(job, "code");
	char(*codes)[SR_RECOVERY_CODE_TEXT] = NULL;
	int rc = 0;
	if (code == NULL || code[0] == '\0') {
		sr_authed_fail(job, 400, "invalid_request_error", "parameter_missing", "code",
			       "Enter the 6-digit code your authenticator app shows.");
		return 0;
	}
	if (check_locked(c, job, &rc))
		return rc;
	enum sr_mfa_check res;
	if ((rc = sr_mfa_verify(c, job->acc, uid, "pending", code, false, &res)) != 0)
		return rc;
	if (res == SR_MFA_NOT_ENROLLED) {
		bool enabled = false;
		if ((rc = sr_mfa_enabled(c, uid, &enabled)) != 0)
			return rc;
		sr_authed_fail(job, 409, "invalid_request_error",
			       enabled ? "mfa_already_enabled" : "mfa_enrollment_not_started", NULL,
			       enabled ? "Two-step sign-in is already on."
				       : "Start with POST /v1/mfa/totp to get a secret first.");
		return 0;
	}
	if (res != SR_MFA_OK)
		return refuse_counted(c, job, "totp", "code", "code_invalid",
				      "That code is not right. Check the time on your phone and "
				      "enter the current 6-digit code.");
	char now[32];
	sr_audit_now(now, sizeof now);
	int64_t changed = 0;
	rc = exec1(c,
		   "UPDATE mfa_totp SET state = 'enabled', enabled_at = $2 WHERE user_id = $1 "
		   "AND state = 'pending'",
		   uid, now, NULL, &changed);
	if (rc != 0)
		return rc;
	codes = sodium_malloc(sizeof(char[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT]));
	if (codes == NULL)
		abort();
	if ((rc = sr_mfa_new_recovery_codes(c, job->acc, uid, codes)) != 0)
		goto out;
	if ((rc = sr_auth_record_success(c, uid)) != 0)
		goto out;
	/* This session has now proved both factors: a staff session that was
	 * restricted to MFA set-up becomes a full one. */
	rc = exec1(c, "UPDATE sessions SET restricted = 0, amr = 'pwd otp' WHERE id = $1",
		   job->ctx.session_id, NULL, NULL, NULL);
	if (rc == 0)
		rc = sr_profile_notify(c, job->acc, uid, "mfa_enabled", NULL, NULL);
	if (rc == 0)
		rc = sr_authed_audit(c, job, "mfa.enable", "user", uid, "success",
				     "{\"factor\":\"totp\"}");
	if (rc != 0)
		goto out;
	json_t *list = json_array();
	for (int i = 0; i < SR_RECOVERY_CODES; i++)
		json_array_append_new(list, json_string(codes[i]));
	job->reply = json_pack("{s:s, s:s, s:b, s:o}", "object", "totp", "status", "enabled",
			       "enabled", 1, "recovery_codes", list);
out:
	sodium_free(codes);
	return rc;
}

/* users.failed_logins (accounts' consecutive-failure counter). */
static int failed_logins(struct sr_conn *c, const char *uid, int64_t *n)
{
	struct sr_stmt *s = NULL;
	*n = 0;
	int rc = sr_stmt_prepare(c, "SELECT failed_logins FROM users WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1)
		*n = sr_stmt_col_i64(s, 0);
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

static int set_failed_logins(struct sr_conn *c, const char *uid, int64_t n)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, "UPDATE users SET failed_logins = $2 WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, n);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

/* DELETE /v1/mfa/totp {password, code} */
static int disable_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *uid = job->ctx.user_id;
	const char *password = body_str(job, "password");
	const char *code = body_str(job, "code");
	int rc = 0;
	if (password == NULL || password[0] == '\0') {
		sr_authed_fail(job, 400, "invalid_request_error", "parameter_missing", "password",
			       "Enter your password to turn two-step sign-in off.");
		return 0;
	}
	if (code == NULL || code[0] == '\0') {
		sr_authed_fail(job, 400, "invalid_request_error", "parameter_missing", "code",
			       "Enter a code from your authenticator app, or a recovery code.");
		return 0;
	}
	bool enabled = false;
	if ((rc = sr_mfa_enabled(c, uid, &enabled)) != 0)
		return rc;
	if (!enabled) {
		sr_authed_fail(job, 409, "invalid_request_error", "mfa_not_enabled", NULL,
			       "Two-step sign-in is not on.");
		return 0;
	}
	if (sr_auth_is_staff(&job->ctx)) {
		sr_authed_fail(job, 403, "invalid_request_error", "mfa_required_for_staff", NULL,
			       "Staff accounts must keep a second factor.");
		return 0;
	}
	if (check_locked(c, job, &rc))
		return rc;
	/* A right password resets the consecutive-failure counter
	 * (sr_auth_verify_password); a wrong code right after must not
	 * profit from that, or a thief with the password could try codes
	 * forever. Keep the count from before and restore it on a bad code. */
	int64_t failures_before = 0;
	if ((rc = failed_logins(c, uid, &failures_before)) != 0)
		return rc;
	bool ok = false, locked = false;
	rc = sr_auth_verify_password(c, job->acc, uid, password, strlen(password), &job->auth, &ok,
				     &locked);
	if (rc != 0)
		return rc;
	if (locked) {
		check_locked(c, job, &rc);
		if (job->err_code == NULL)
			sr_authed_fail(job, 429, "rate_limit_error", "account_locked", NULL,
				       "Too many failed attempts: the account is locked for a "
				       "while.");
		return rc;
	}
	if (!ok) {
		sr_authed_fail(job, 400, "invalid_request_error", "password_incorrect", "password",
			       "That password is not right.");
		return sr_authed_audit(c, job, "mfa.disable", "user", uid, "failure",
				       "{\"reason\":\"password\"}");
	}
	enum sr_mfa_check res;
	if ((rc = sr_mfa_verify(c, job->acc, uid, "enabled", code, true, &res)) != 0)
		return rc;
	if (res != SR_MFA_OK && res != SR_MFA_OK_RECOVERY) {
		if ((rc = set_failed_logins(c, uid, failures_before)) != 0)
			return rc;
		return refuse_counted(c, job, "totp", "code", "code_invalid",
				      "That code is not right. Enter the current code from your "
				      "authenticator app, or an unused recovery code.");
	}
	bool removed = false;
	if ((rc = sr_mfa_remove(c, uid, &removed)) != 0)
		return rc;
	if ((rc = sr_auth_record_success(c, uid)) != 0)
		return rc;
	if ((rc = sr_profile_notify(c, job->acc, uid, "mfa_disabled", NULL, NULL)) != 0)
		return rc;
	rc = sr_authed_audit(c, job, "mfa.disable", "user", uid, "success",
			     res == SR_MFA_OK_RECOVERY
				     ? "{\"factor\":\"totp\",\"with\":\"recovery_code\"}"
				     : "{\"factor\":\"totp\",\"with\":\"totp\"}");
	if (rc == 0)
		job->reply = json_pack("{s:s, s:s, s:b}", "object", "totp", "status", "disabled",
				       "enabled", 0);
	return rc;
}

static void enrol_route(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {
		.tx = enrol_tx, .body = true, .recent_auth = true, .allow_restricted = true};
	sr_authed_run(req, data, &spec);
}

static void confirm_route(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {
		.tx = confirm_tx, .body = true, .recent_auth = true, .allow_restricted = true};
	sr_authed_run(req, data, &spec);
}

static void disable_route(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {.tx = disable_tx, .body = true, .recent_auth = true};
	sr_authed_run(req, data, &spec);
}

int sr_mfa_api_add_routes(struct sr_router *r, struct sr_accounts *acc)
{
	struct sr_route_opts small = {.body_max = 4096};
	int rc = sr_router_add(r, "POST", "/v1/mfa/totp", enrol_route, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/mfa/totp/confirm", confirm_route, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "DELETE", "/v1/mfa/totp", disable_route, acc, &small);
	return rc;
}
