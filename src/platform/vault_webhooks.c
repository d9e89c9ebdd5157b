/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /v1/webhooks/vault: the vault tells the platform about money that
 * moved (a charge paid to a member, a payout created, paid, failed or
 * returned), signed with the secret both share ([platform]
 * vault_webhook_secret_file; docs/webhooks.md). Each accepted event for a
 * member (data.object.metadata.member = "usr_...") becomes a member event
 * (events.h): the email, the SMS if opted in, the marketplace webhook.
 *
 * Trust: the signature is checked on the event loop before the body is
 * parsed; a bad or stale one is a 401, recorded in the audit log
 * ("auth.failure" on webhook_endpoint/vault) before the answer goes out,
 * and counted against the address like a bad API key (429 past the limit,
 * then no audit write). The event id is recorded in the same
 * transaction as the notifications, so a redelivery changes nothing.
 * Nothing from the body reaches a log.
 */
#include "audit/audit.h"
#include "base/clock.h"
#include "base/mem.h"
#include "net/http.h"
#include "net/router.h"
#include "platform/accounts.h"
#include "platform/events.h"
#include "platform/notify_api_int.h"
#include "platform/vault_event.h"
#include "store/store.h"
#include "svc/runtime.h"
#include "svc/webhook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hook_job {
	struct sr_notify_api *api;
	struct sr_vault_event ev; /* parsed on the loop thread */
	/* results */
	int rc;
	bool duplicate, notified;
	struct sr_event_refs refs;
};

static int hook_tx(struct sr_conn *c, void *arg)
{
	struct hook_job *job = arg;
	struct sr_stmt *s = NULL;
	char now[SR_CLOCK_TEXT_SIZE];
	job->duplicate = job->notified = false;
	memset(&job->refs, 0, sizeof job->refs);
	sr_clock_text(0, now);
	int rc = sr_stmt_prepare(
		c,
		"INSERT INTO vault_webhook_receipts (event_id, type, outcome, "
		"received_at) VALUES ($1, $2, 'ignored', $3) ON CONFLICT (event_id) "
		"DO NOTHING",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->ev.event_id, strlen(job->ev.event_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, job->ev.type, strlen(job->ev.type));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	if (rc == 0 && (rc = sr_stmt_step(s)) >= 0) {
		job->duplicate = sr_stmt_changes(s) == 0;
		rc = 0;
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0 || job->duplicate || job->ev.event == NULL)
		return rc;
	struct sr_member_event ev = {
		.name = job->ev.event,
		.object_id = job->ev.object_id,
		.member_id = job->ev.member,
		.variables_json = job->ev.variables,
	};
	rc = sr_events_record(c, sr_accounts_pii(job->api->acc), &ev, &job->refs);
	if (rc == SR_E_NOTFOUND)
		return 0; /* no such member (or erased): kept as ignored */
	if (rc != 0)
		return rc;
	job->notified = true;
	rc = sr_stmt_prepare(c,
			     "UPDATE vault_webhook_receipts SET outcome = 'notified' WHERE "
			     "event_id = $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->ev.event_id, strlen(job->ev.event_id));
	if (rc == 0 && (rc = sr_stmt_step(s)) > 0)
		rc = 0;
	sr_stmt_done(s);
	return rc;
}

static void hook_work(void *arg)
{
	struct hook_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(sr_accounts_runtime(job->api->acc)), SR_TX_WRITE,
			      hook_tx, job);
}

static void hook_free(struct hook_job *job)
{
	sr_vault_event_clear(&job->ev);
	free(job);
}

static void hook_done(struct sr_http_req *req, void *arg)
{
	struct hook_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc == SR_E_INVAL || job->rc == SR_E_LIMIT) {
		/* The template refused a value (unknown currency, a
		 * destination with control characters): nothing was kept. */
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_event",
				    "The event's amount, currency or destination is not valid.",
				    NULL);
		goto out;
	}
	if (job->rc != 0) {
		sr_http_reply_failed(req, job->rc,
				     "The event could not be stored; deliver it again.");
		goto out;
	}
	json_t *body = json_pack("{s:b, s:s, s:b, s:s}", "received", true, "id", job->ev.event_id,
				 "duplicate", job->duplicate, "outcome",
				 job->duplicate  ? "duplicate"
				 : job->notified ? "notified"
						 : "ignored");
	if (job->notified)
		json_object_set_new(body, "reference", json_string(job->refs.email));
	sr_http_reply_json(req, 200, body);
out:
	hook_free(job);
}

/* A refused signature, on the record before the 401 goes out: someone
 * who can reach the endpoint is trying to fake money events. */
struct denied_job {
	struct sr_notify_api *api;
	char ip[64], request_id[64];
	bool expired;
	int rc;
};

static int denied_tx(struct sr_conn *c, void *arg)
{
	struct denied_job *job = arg;
	struct sr_runtime *rt = sr_accounts_runtime(job->api->acc);
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = "anonymous",
		.action = "auth.failure",
		.object_type = "webhook_endpoint",
		.object_id = "vault",
		.outcome = "denied",
		.ip = job->ip,
		.request_id = job->request_id,
		.details = job->expired ? "{\"reason\":\"timestamp_outside_tolerance\"}"
					: "{\"reason\":\"invalid_signature\"}",
	};
	return sr_audit_append(c, sr_runtime_audit_key(rt), &ev);
}

static void denied_work(void *arg)
{
	struct denied_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(sr_accounts_runtime(job->api->acc)), SR_TX_WRITE,
			      denied_tx, job);
}

static void reply_denied(struct sr_http_req *req, bool expired)
{
	if (expired)
		sr_http_reply_error(
			req, 401, "authentication_error", "timestamp_outside_tolerance",
			"The Strongroom-Signature timestamp is more than 5 minutes from "
			"this server's clock: re-sign the delivery.",
			SR_WEBHOOK_HEADER);
	else
		sr_http_reply_error(
			req, 401, "authentication_error", "invalid_signature",
			"Strongroom-Signature is missing or does not match the body under "
			"the vault's webhook secret.",
			SR_WEBHOOK_HEADER);
}

static void denied_done(struct sr_http_req *req, void *arg)
{
	struct denied_job *job = arg;
	if (!sr_http_aborted(req)) {
		if (job->rc != 0)
			sr_http_reply_failed(req, job->rc,
					     "The request could not be recorded; try again.");
		else
			reply_denied(req, job->expired);
	}
	free(job);
}

static void handle_hook(struct sr_http_req *req, void *data)
{
	struct sr_notify_api *api = data;
	if (!sr_notify_api_ready(api, req))
		return;
	int rc = sr_webhook_verify(api->vault_secret, api->vault_secret_len,
				   sr_http_header(req, SR_WEBHOOK_HEADER), req->body,
				   req->body ? req->body_len : 0, sr_clock_now_ms() / 1000,
				   SR_WEBHOOK_TOLERANCE_S);
	if (rc != 0) {
		unsigned retry = 0;
		if (!sr_runtime_auth_failure_allowed(sr_accounts_runtime(api->acc), req->remote_ip,
						     &retry)) {
			char secs[16];
			snprintf(secs, sizeof secs, "%u", retry ? retry : 1);
			sr_http_add_header(req, "Retry-After", secs);
			sr_http_reply_error(
				req, 429, "rate_limit_error", "too_many_failed_authentications",
				"Too many badly signed webhooks from this address; retry "
				"later.",
				NULL);
			return;
		}
		struct denied_job *dj = sr_xcalloc(1, sizeof *dj);
		dj->api = api;
		dj->expired = rc == SR_E_TIMEOUT;
		snprintf(dj->ip, sizeof dj->ip, "%s", req->remote_ip ? req->remote_ip : "");
		snprintf(dj->request_id, sizeof dj->request_id, "%s",
			 req->request_id ? req->request_id : "");
		if (sr_http_submit(req, denied_work, denied_done, dj) != 0) {
			free(dj);
			sr_http_reply_busy(req);
		}
		return;
	}
	struct hook_job *job = sr_xcalloc(1, sizeof *job);
	job->api = api;
	const char *why = NULL, *param = NULL;
	if (sr_vault_event_parse(req->body, req->body ? req->body_len : 0, &job->ev, &why,
				 &param) != 0) {
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_event", why, param);
		hook_free(job);
		return;
	}
	if (sr_http_submit(req, hook_work, hook_done, job) != 0) {
		hook_free(job);
		sr_http_reply_busy(req);
	}
}

int sr_vault_webhooks_add_routes(struct sr_router *r, struct sr_notify_api *api)
{
	struct sr_route_opts opts = {.body_max = SR_WEBHOOK_PAYLOAD_MAX};
	return sr_router_add(r, "POST", "/v1/webhooks/vault", handle_hook, api, &opts);
}
