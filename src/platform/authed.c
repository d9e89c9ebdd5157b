/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session-authenticated route plumbing for the profile and MFA routes (see
 * authed.h). The session cookie and CSRF token are captured into sodium
 * memory on the loop thread (auth.h) and wiped when the job ends; request
 * bodies may hold passwords and codes, so the parsed body is never logged
 * and its strings are wiped before the JSON is freed.
 */
#include "platform/authed.h"
#include "audit/audit.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http.h"
#include "platform/accounts.h"
#include "store/store.h"
#include "svc/runtime.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void sr_authed_fail(struct sr_authed_job *job, int status, const char *type, const char *code,
		    const char *param, const char *message)
{
	job->err_status = status;
	job->err_type = type;
	job->err_code = code;
	job->err_param = param;
	snprintf(job->err_message, sizeof job->err_message, "%s", message);
}

int sr_authed_audit(struct sr_conn *c, const struct sr_authed_job *job, const char *action,
		    const char *object_type, const char *object_id, const char *outcome,
		    const char *details)
{
	struct sr_audit_event ev = {
		.actor_type = "user",
		.actor_id = job->ctx.user_id,
		.action = action,
		.object_type = object_type,
		.object_id = object_id,
		.outcome = outcome,
		.ip = job->auth.ip,
		.request_id = job->auth.request_id,
		.details = details,
	};
	return sr_audit_append(c, sr_runtime_audit_key(sr_accounts_runtime(job->acc)), &ev);
}

/* Scrubs every string in a parsed body (passwords, codes) in place before it
 * is freed: jansson keeps each string value in its own buffer. */
static void json_wipe(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_object(j)) {
		json_object_foreach(j, k, v) json_wipe(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) json_wipe(v);
	} else if (json_is_string(j)) {
		sodium_memzero((char *)json_string_value(j), json_string_length(j));
	}
}

static void job_free(struct sr_authed_job *job)
{
	if (job == NULL)
		return;
	sr_auth_request_clear(&job->auth);
	if (job->body != NULL)
		json_wipe(job->body);
	json_decref(job->body);
	json_decref(job->reply);
	free(job->param);
	free(job);
}

/* A path parameter as an audit object id: ids look like "usr_0a1b...";
 * anything else (the caller's text) is recorded as "invalid". */
static const char *tame_id(const char *v)
{
	if (v == NULL)
		return "";
	size_t n = strlen(v);
	if (n == 0 || n > 64)
		return "invalid";
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return "invalid";
	}
	return v;
}

static int authed_tx(struct sr_conn *c, void *arg)
{
	struct sr_authed_job *job = arg;
	json_decref(job->reply);
	job->reply = NULL;
	job->status = 200;
	job->err_status = 0;
	job->err_type = job->err_code = job->err_param = NULL;
	job->err_message[0] = '\0';
	int rc = sr_auth_resolve(c, job->acc, &job->auth, job->spec.allow_restricted, &job->ctx,
				 &job->auth_result);
	if (rc != 0 || job->auth_result != SR_AUTH_OK)
		return rc;
	if (job->spec.staff_only && !sr_auth_is_staff(&job->ctx)) {
		job->auth_result = SR_AUTH_FORBIDDEN;
		/* A member trying a staff route is worth a record. */
		if (job->spec.denied_action == NULL)
			return 0;
		return sr_authed_audit(c, job, job->spec.denied_action, "user", tame_id(job->param),
				       "denied", NULL);
	}
	if (job->spec.recent_auth && !sr_auth_recent(job->acc, &job->ctx)) {
		job->auth_result = SR_AUTH_REAUTH;
		return 0;
	}
	return job->spec.tx(c, job);
}

static void authed_work(void *arg)
{
	struct sr_authed_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(sr_accounts_runtime(job->acc)), SR_TX_WRITE,
			      authed_tx, job);
}

static void authed_done(struct sr_http_req *req, void *arg)
{
	struct sr_authed_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc == SR_E_CONFLICT && job->err_code != NULL)
		job->rc = 0; /* refused, rolled back, answered below */
	if (job->rc != 0) {
		sr_log(SR_LOG_ERROR, "request failed", SR_LS("route", req->path),
		       SR_LS("request_id", req->request_id), SR_LS("error", sr_strerror(job->rc)));
		sr_http_reply_failed(req, job->rc,
				     "The request could not be completed; try again.");
		goto out;
	}
	if (job->auth_result != SR_AUTH_OK) {
		sr_auth_reply_error(req, job->auth_result);
		goto out;
	}
	if (job->err_code != NULL) {
		sr_http_reply_error(req, job->err_status, job->err_type, job->err_code,
				    job->err_message, job->err_param);
		goto out;
	}
	if (job->reply == NULL)
		job->reply = json_object();
	/* The answer carries personal data or a one-time secret (TOTP secret,
	 * recovery codes): keep a reference so its strings are scrubbed once
	 * the HTTP layer has copied them out. */
	sr_http_reply_json(req, job->status, json_incref(job->reply));
	json_wipe(job->reply);
out:
	job_free(job);
}

void sr_authed_run(struct sr_http_req *req, struct sr_accounts *acc,
		   const struct sr_authed_spec *spec)
{
	if (!sr_accounts_ready(acc)) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The service is starting; try again shortly.", NULL);
		return;
	}
	struct sr_authed_job *job = sr_xcalloc(1, sizeof *job);
	job->acc = acc;
	job->spec = *spec;
	if (spec->body) {
		json_error_t jerr;
		if (req->body_len == 0) {
			job->body = json_object();
		} else {
			job->body = json_loadb((const char *)req->body, req->body_len,
					       JSON_REJECT_DUPLICATES, &jerr);
			if (job->body == NULL || !json_is_object(job->body)) {
				sr_http_reply_error(
					req, 400, "invalid_request_error", "invalid_json",
					"The request body must be a JSON object.", NULL);
				job_free(job);
				return;
			}
		}
	}
	if (spec->path_param != NULL) {
		const char *v = sr_http_param(req, spec->path_param);
		job->param = sr_xstrdup(v ? v : "");
	}
	sr_auth_capture(req, &job->auth);
	if (sr_http_submit(req, authed_work, authed_done, job) != 0) {
		sr_http_reply_busy(req);
		job_free(job);
	}
}
