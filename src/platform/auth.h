/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_AUTH_H
#define SR_PLATFORM_AUTH_H

/*
 * How every cookie-authenticated platform route authenticates its caller.
 *
 *   handler (event-loop thread):
 *       struct my_job *job = ...;
 *       sr_auth_capture(req, &job->auth);          // copies cookie, CSRF, IP, UA
 *       sr_http_submit(req, work, done, job);
 *   work (worker thread): sr_store_tx(..., my_tx, job)
 *   my_tx (inside the transaction, may run more than once):
 *       rc = sr_auth_resolve(c, acc, &job->auth, &job->ctx, &job->result);
 *       if (rc != 0 || job->result != SR_AUTH_OK) return rc;
 *       if (!sr_auth_recent(acc, &job->ctx)) { job->result = SR_AUTH_REAUTH; return 0; }
 *       ... the route's own work ...
 *   done (loop thread):
 *       if (job->result != SR_AUTH_OK) { sr_auth_reply_error(req, job->result); ... }
 *
 * The session cookie is __Host-strongroom_session (HttpOnly; Secure;
 * SameSite=Lax; Path=/). Its value is a random token, stored only as a keyed
 * hash; so is the CSRF token (X-CSRF-Token header), checked in constant time
 * for every method other than GET/HEAD/OPTIONS.
 *
 * Secrets captured from a request (cookie, CSRF token) are held in
 * sodium_malloc memory and wiped by sr_auth_request_clear.
 */
#include "base/err.h"
#include "platform/accounts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_conn;
struct sr_http_req;

#define SR_SESSION_COOKIE "__Host-strongroom_session"
#define SR_CSRF_HEADER    "X-CSRF-Token"
#define SR_AUTH_UA_MAX    256 /* bytes of User-Agent kept */
#define SR_AUTH_IP_MAX    64

enum sr_role { SR_ROLE_MEMBER = 1, SR_ROLE_REVIEWER = 2, SR_ROLE_ADMIN = 3 };
/* "member", "reviewer", "admin"; and back (0 for an unknown name). */
const char *sr_role_name(enum sr_role r);
enum sr_role sr_role_parse(const char *name);

/* What a handler copies from the request on the loop thread. */
struct sr_auth_request {
	char *session_token; /* sodium_malloc; NULL when no cookie */
	char *csrf_token;    /* sodium_malloc; NULL when no header */
	char ip[SR_AUTH_IP_MAX];
	char user_agent[SR_AUTH_UA_MAX + 1]; /* cut, control characters replaced */
	char request_id[64];
	bool state_changing; /* method other than GET/HEAD/OPTIONS */
};

/* Fills *out from req (cleared first). Loop thread only. Never fails. */
void sr_auth_capture(const struct sr_http_req *req, struct sr_auth_request *out);
/* Wipes and frees the secrets. Accepts a cleared or already cleared struct. */
void sr_auth_request_clear(struct sr_auth_request *r);

/* Who is calling, once resolved. */
struct sr_auth_ctx {
	char user_id[SR_USER_ID_SIZE];
	char session_id[SR_SESSION_ID_SIZE];
	enum sr_role role;
	bool email_verified;
	bool mfa_enabled;  /* from sr_mfa_enabled */
	bool restricted;   /* staff session without a second factor: MFA set-up only */
	int64_t auth_time; /* unix seconds of the last password/OTP authentication */
	int64_t created;   /* unix seconds the session was created */
};

enum sr_auth_result {
	SR_AUTH_OK = 0,
	SR_AUTH_NO_SESSION, /* 401 authentication_required: no/unknown cookie */
	SR_AUTH_EXPIRED,    /* 401 session_expired: idle or absolute timeout, or revoked */
	SR_AUTH_CSRF,       /* 403 csrf_token_invalid: missing or wrong X-CSRF-Token */
	SR_AUTH_REAUTH,     /* 403 reauthentication_required: auth_time too old */
	SR_AUTH_FORBIDDEN,  /* 403 forbidden: role not allowed */
	SR_AUTH_RESTRICTED, /* 403 mfa_enrollment_required: restricted staff session */
	SR_AUTH_UNVERIFIED, /* 403 email_unverified */
};

/*
 * Inside the caller's transaction (SR_TX_WRITE: it updates last_seen_at):
 * finds the session by the keyed hash of r->session_token, refuses it when
 * revoked, idle longer than [sessions] idle_timeout_s or older than
 * absolute_timeout_s, or the user is deleted; for a state-changing request
 * checks r->csrf_token against the session's (constant time). Then fills
 * *ctx and touches last_seen_at. A restricted session yields
 * SR_AUTH_RESTRICTED unless allow_restricted.
 * *result says the outcome; the return value is 0 or a store error only.
 * Resets its outputs first (safe under retries).
 */
int sr_auth_resolve(struct sr_conn *c, const struct sr_accounts *acc,
		    const struct sr_auth_request *r, bool allow_restricted, struct sr_auth_ctx *ctx,
		    enum sr_auth_result *result) SR_WUR;

/* True when ctx->auth_time is within [sessions] reauth_window_s (15 min). */
bool sr_auth_recent(const struct sr_accounts *acc, const struct sr_auth_ctx *ctx);
/* True for reviewer and admin. */
bool sr_auth_is_staff(const struct sr_auth_ctx *ctx);

/* Answers the 401/403 error object for result (not SR_AUTH_OK). Loop thread. */
void sr_auth_reply_error(struct sr_http_req *req, enum sr_auth_result result);

/*
 * A member's email address or name, decrypted (sodium_malloc'd, NUL-
 * terminated; sodium_free it). Returns 0, SR_E_NOTFOUND (no such user, or
 * shredded), SR_E_CRYPTO, or a store error. Inside a transaction.
 */
int sr_auth_member_email(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			 char **email) SR_WUR;
int sr_auth_member_name(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			char **name) SR_WUR;
/* Replaces the member's name (sealed). Returns 0, SR_E_NOTFOUND, SR_E_LIMIT,
 * SR_E_CRYPTO or a store error. Inside a write transaction. */
int sr_auth_member_set_name(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			    const char *name, size_t len) SR_WUR;
/* The member's role. Returns 0, SR_E_NOTFOUND or a store error. */
int sr_auth_member_role(struct sr_conn *c, const char *user_id, enum sr_role *role) SR_WUR;

/*
 * The brute-force counters, for every secret a member proves (password,
 * one-time code, recovery code). Inside a write transaction:
 *  - sr_auth_check_locked: *locked_until_s > 0 (unix seconds) while the
 *    account is locked; callers refuse the attempt without checking it.
 *  - sr_auth_record_failure: one more consecutive failure; at [accounts]
 *    lockout_threshold the account locks for lockout_duration_s, the member
 *    gets an account_locked email and "account.locked" is audited.
 *    *delay_ms is the progressive delay the caller should wait before
 *    answering (0 early on).
 *  - sr_auth_record_success: resets the consecutive counter.
 * r gives the IP and request id for the audit record. Return 0 or a store
 * error.
 */
int sr_auth_check_locked(struct sr_conn *c, const char *user_id, int64_t *locked_until_s) SR_WUR;
int sr_auth_record_failure(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			   const struct sr_auth_request *r, const char *what,
			   unsigned *delay_ms) SR_WUR;
int sr_auth_record_success(struct sr_conn *c, const char *user_id) SR_WUR;

/*
 * Verifies password against user_id's stored hash (slow: Argon2id; only on
 * a worker thread, inside its transaction), counting the outcome with the
 * counters above. *ok tells the result; a locked account gives *ok false
 * and *locked true without hashing. Return 0, SR_E_NOTFOUND or a store
 * error. For routes that re-ask the password (disabling MFA, deleting the
 * account).
 */
int sr_auth_verify_password(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			    const char *password, size_t len, const struct sr_auth_request *r,
			    bool *ok, bool *locked) SR_WUR;

/*
 * Revokes user_id's sessions, except keep_session_id when not NULL, with a
 * reason ("password_changed", "password_reset", "account_deleted", ...).
 * *count gets how many were live. Inside a write transaction.
 */
int sr_auth_revoke_sessions(struct sr_conn *c, const char *user_id, const char *keep_session_id,
			    const char *reason, int64_t *count) SR_WUR;

#endif
