/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET and PATCH /v1/me/notifications: what a member may choose about their
 * notifications. Money and security email is not a choice (the promise:
 * "make sure you receive email notifications"); SMS for transaction events
 * is, and only towards a phone number the member verified, because an SMS
 * to an unverified number is an SMS to a stranger. Changing the choice is
 * audited ("notifications.sms_enabled" / "notifications.sms_disabled").
 */
#include "audit/audit.h"
#include "base/clock.h"
#include "base/mem.h"
#include "net/http.h"
#include "net/router.h"
#include "platform/accounts.h"
#include "platform/auth.h"
#include "platform/notify_api_int.h"
#include "store/store.h"
#include "svc/runtime.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prefs_job {
	struct sr_notify_api *api;
	struct sr_auth_request auth;
	int want_sms; /* -1: GET; 0/1: PATCH */
	/* results */
	int rc;
	enum sr_auth_result result;
	struct sr_auth_ctx ctx;
	bool sms, phone_verified, refused;
};

static int read_prefs(struct sr_conn *c, struct prefs_job *job)
{
	struct sr_stmt *s = NULL;
	const char *me = job->ctx.user_id;
	int rc = sr_stmt_prepare(c, "SELECT sms_enabled FROM notification_prefs WHERE user_id = $1",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, me, strlen(me));
	if (rc == 0 && (rc = sr_stmt_step(s)) == 1)
		job->sms = sr_stmt_col_i64(s, 0) == 1;
	sr_stmt_done(s);
	s = NULL;
	if (rc < 0)
		return rc;
	rc = sr_stmt_prepare(c,
			     "SELECT phone_verified FROM member_profile WHERE user_id = $1 AND "
			     "phone_sealed IS NOT NULL",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, me, strlen(me));
	if (rc == 0 && (rc = sr_stmt_step(s)) == 1)
		job->phone_verified = sr_stmt_col_i64(s, 0) == 1;
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

static int prefs_tx(struct sr_conn *c, void *arg)
{
	struct prefs_job *job = arg;
	struct sr_stmt *s = NULL;
	job->sms = job->phone_verified = job->refused = false;
	int rc = sr_auth_resolve(c, job->api->acc, &job->auth, false, &job->ctx, &job->result);
	if (rc != 0 || job->result != SR_AUTH_OK)
		return rc;
	if ((rc = read_prefs(c, job)) != 0 || job->want_sms < 0)
		return rc;
	if (job->want_sms == 1 && !job->phone_verified) {
		job->refused = true;
		return 0;
	}
	if ((job->want_sms == 1) == job->sms)
		return 0; /* nothing changes: nothing to audit */
	char now[SR_CLOCK_TEXT_SIZE];
	sr_clock_text(0, now);
	const char *me = job->ctx.user_id;
	rc = sr_stmt_prepare(c,
			     "INSERT INTO notification_prefs (user_id, sms_enabled, updated_at) "
			     "VALUES ($1, $2, $3) ON CONFLICT (user_id) DO UPDATE SET "
			     "sms_enabled = excluded.sms_enabled, updated_at = excluded.updated_at",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, me, strlen(me));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, job->want_sms);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	if (rc == 0 && (rc = sr_stmt_step(s)) > 0)
		rc = 0;
	sr_stmt_done(s);
	if (rc != 0)
		return rc;
	job->sms = job->want_sms == 1;
	struct sr_runtime *rt = sr_accounts_runtime(job->api->acc);
	struct sr_audit_event ev = {
		.actor_type = "user",
		.actor_id = me,
		.action = job->sms ? "notifications.sms_enabled" : "notifications.sms_disabled",
		.object_type = "user",
		.object_id = me,
		.outcome = "success",
		.ip = job->auth.ip,
		.request_id = job->auth.request_id,
		.details = "{}",
	};
	return sr_audit_append(c, sr_runtime_audit_key(rt), &ev);
}

static void prefs_work(void *arg)
{
	struct prefs_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(sr_accounts_runtime(job->api->acc)), SR_TX_WRITE,
			      prefs_tx, job);
}

static void prefs_free(struct prefs_job *job)
{
	sr_auth_request_clear(&job->auth);
	free(job);
}

static void prefs_done(struct sr_http_req *req, void *arg)
{
	struct prefs_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc != 0)
		sr_http_reply_failed(
			req, job->rc,
			"Notification settings could not be read or saved; try again.");
	else if (job->result != SR_AUTH_OK)
		sr_auth_reply_error(req, job->result);
	else if (job->refused)
		sr_http_reply_error(
			req, 409, "invalid_request_error", "phone_not_verified",
			"SMS alerts go only to a verified phone number: add your phone "
			"number to your profile and confirm the code we text you first.",
			"sms");
	else
		sr_http_reply_json(req, 200,
				   json_pack("{s:s, s:s, s:b, s:b}", "object",
					     "notification_settings", "email", "always", "sms",
					     job->sms, "phone_verified", job->phone_verified));
out:
	prefs_free(job);
}

static void submit(struct sr_http_req *req, struct sr_notify_api *api, int want_sms)
{
	struct prefs_job *job = sr_xcalloc(1, sizeof *job);
	job->api = api;
	job->want_sms = want_sms;
	sr_auth_capture(req, &job->auth);
	if (sr_http_submit(req, prefs_work, prefs_done, job) != 0) {
		prefs_free(job);
		sr_http_reply_busy(req);
	}
}

static void handle_get(struct sr_http_req *req, void *data)
{
	struct sr_notify_api *api = data;
	if (sr_notify_api_ready(api, req))
		submit(req, api, -1);
}

static void handle_patch(struct sr_http_req *req, void *data)
{
	struct sr_notify_api *api = data;
	const char *key;
	json_t *val;
	if (!sr_notify_api_ready(api, req))
		return;
	json_t *body = sr_notify_api_body(req);
	if (body == NULL)
		return;
	int want = -1;
	json_object_foreach(body, key, val)
	{
		if (strcmp(key, "email") == 0) {
			sr_http_reply_error(req, 400, "invalid_request_error",
					    "email_notifications_required",
					    "Email about money and account security cannot be "
					    "turned off.",
					    "email");
			goto out;
		}
		if (strcmp(key, "sms") != 0) {
			sr_http_reply_error(req, 400, "invalid_request_error", "parameter_unknown",
					    "Unknown parameter: only sms can be changed.", NULL);
			goto out;
		}
		if (!json_is_boolean(val)) {
			sr_http_reply_error(req, 400, "invalid_request_error", "parameter_invalid",
					    "sms must be true or false.", "sms");
			goto out;
		}
		want = json_is_true(val) ? 1 : 0;
	}
	if (want < 0) {
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_missing",
				    "sms is required: {\"sms\": true} or {\"sms\": false}.", "sms");
		goto out;
	}
	submit(req, api, want);
out:
	json_decref(body);
}

int sr_notify_prefs_add_routes(struct sr_router *r, struct sr_notify_api *api)
{
	struct sr_route_opts get = {.no_body = true};
	struct sr_route_opts small = {.body_max = 1024};
	int rc = sr_router_add(r, "GET", "/v1/me/notifications", handle_get, api, &get);
	if (rc == 0)
		rc = sr_router_add(r, "PATCH", "/v1/me/notifications", handle_patch, api, &small);
	return rc;
}
