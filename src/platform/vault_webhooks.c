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
#include "lib/money.h"
#include "net/http.h"
#include "net/router.h"
#include "platform/accounts.h"
#include "platform/events.h"
#include "platform/notify_api_int.h"
#include "store/store.h"
#include "svc/runtime.h"
#include "svc/webhook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The vault events that concern a member, and what the member hears. */
static const struct {
	const char *type, *event;
} MAP[] = {
	{"charge.succeeded", "money_received"}, {"payout.created", "payout_requested"},
	{"payout.paid", "payout_sent"},         {"payout.failed", "payout_failed"},
	{"payout.returned", "payout_returned"},
};

struct hook_job {
	struct sr_notify_api *api;
	char event_id[SR_WEBHOOK_EVENT_ID_SIZE];
	char type[64];
	const char *event; /* member event name, NULL: ignored type */
	char member[SR_USER_ID_SIZE];
	char object_id[64];
	char *variables; /* JSON for the templates */
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
		rc = sr_stmt_bind_text(s, 1, job->event_id, strlen(job->event_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, job->type, strlen(job->type));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	if (rc == 0 && (rc = sr_stmt_step(s)) >= 0) {
		job->duplicate = sr_stmt_changes(s) == 0;
		rc = 0;
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0 || job->duplicate || job->event == NULL)
		return rc;
	struct sr_member_event ev = {
		.name = job->event,
		.object_id = job->object_id,
		.member_id = job->member,
		.variables_json = job->variables,
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
		rc = sr_stmt_bind_text(s, 1, job->event_id, strlen(job->event_id));
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
	free(job->variables);
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
		sr_http_reply_error(req, 500, "api_error", "internal_error",
				    "The event could not be stored; deliver it again.", NULL);
		goto out;
	}
	json_t *body = json_pack("{s:b, s:s, s:b, s:s}", "received", true, "id", job->event_id,
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

static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return false;
	return n > 0 && n <= max;
}

/* A card or bank account as the member recognises it, never more than the
 * last four digits: "Visa card ending in 4242", "bank account ending in
 * 6789". Accepts data.object.destination as such a string already, or as
 * an object {type, brand, last4}. */
static char *destination_text(json_t *obj)
{
	json_t *d = json_object_get(obj, "destination");
	if (json_is_string(d) && json_string_length(d) > 0 && json_string_length(d) <= 64)
		return sr_xstrdup(json_string_value(d));
	if (!json_is_object(d))
		return sr_xstrdup("your payout method");
	const char *last4 = json_string_value(json_object_get(d, "last4"));
	const char *brand = json_string_value(json_object_get(d, "brand"));
	const char *type = json_string_value(json_object_get(d, "type"));
	if (last4 == NULL || strlen(last4) != 4 || strspn(last4, "0123456789") != 4)
		return sr_xstrdup("your payout method");
	if (type != NULL && strcmp(type, "bank_account") == 0)
		return sr_xasprintf("bank account ending in %s", last4);
	if (brand != NULL && strlen(brand) <= 24 &&
	    strspn(brand, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ _-") == strlen(brand)) {
		char b[25];
		snprintf(b, sizeof b, "%s", brand);
		if (b[0] >= 'a' && b[0] <= 'z')
			b[0] = (char)(b[0] - 'a' + 'A');
		return sr_xasprintf("%s card ending in %s", b, last4);
	}
	return sr_xasprintf("card ending in %s", last4);
}

/* Fills job from the verified event. 0, or answers 400 and returns -1. */
static int parse_event(struct sr_http_req *req, struct hook_job *job)
{
	json_error_t e;
	const char *why = NULL, *param = NULL;
	json_t *ev = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	json_t *id = json_object_get(ev, "id"), *type = json_object_get(ev, "type");
	json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
	if (ev == NULL || !json_is_object(ev)) {
		why = "The body must be a JSON event object.";
	} else if (!json_is_string(id) || strncmp(json_string_value(id), "evt_", 4) != 0 ||
		   !printable(json_string_value(id), SR_WEBHOOK_EVENT_ID_SIZE - 1)) {
		why = "id must be the event id (evt_...).";
		param = "id";
	} else if (!json_is_string(type) || !printable(json_string_value(type), 63)) {
		why = "type must be the event type (e.g. payout.paid).";
		param = "type";
	} else if (!json_is_object(obj)) {
		why = "data.object must be the object the event is about.";
		param = "data.object";
	}
	if (why != NULL)
		goto out;
	snprintf(job->event_id, sizeof job->event_id, "%s", json_string_value(id));
	snprintf(job->type, sizeof job->type, "%s", json_string_value(type));
	for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
		if (strcmp(MAP[i].type, job->type) == 0)
			job->event = MAP[i].event;
	const char *member =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "member"));
	/* Not about a member (a marketplace charge, another type): received
	 * and ignored, so the vault stops retrying it. */
	if (job->event == NULL || member == NULL || strncmp(member, "usr_", 4) != 0 ||
	    !printable(member, SR_USER_ID_SIZE - 1)) {
		job->event = NULL;
		goto out;
	}
	snprintf(job->member, sizeof job->member, "%s", member);
	const char *oid = json_string_value(json_object_get(obj, "id"));
	snprintf(job->object_id, sizeof job->object_id, "%s",
		 oid && printable(oid, sizeof job->object_id - 1) ? oid : job->event_id);
	json_t *amount = json_object_get(obj, "amount");
	const char *currency = json_string_value(json_object_get(obj, "currency"));
	if (!json_is_integer(amount) || json_integer_value(amount) <= 0) {
		why = "data.object.amount must be a positive integer in minor units.";
		param = "data.object.amount";
		goto out;
	}
	if (currency == NULL || sr_money_exponent(currency) < 0) {
		why = "data.object.currency must be an ISO 4217 currency code.";
		param = "data.object.currency";
		goto out;
	}
	/* The date the member reads is when the money moved at the vault. */
	json_t *created = json_object_get(obj, "created");
	if (!json_is_integer(created))
		created = json_object_get(ev, "created");
	char date[32] = "";
	if (json_is_integer(created) && json_integer_value(created) > 0) {
		time_t t = (time_t)json_integer_value(created);
		struct tm tm;
		if (gmtime_r(&t, &tm) != NULL)
			strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
	}
	/* ISO 4217 codes are answered in upper case everywhere. */
	char cur[4] = "";
	for (size_t i = 0; i < 3 && currency[i]; i++)
		cur[i] = (char)(currency[i] >= 'a' && currency[i] <= 'z' ? currency[i] - 32
									 : currency[i]);
	json_t *vars = json_pack("{s:I, s:s}", "amount_minor",
				 (json_int_t)json_integer_value(amount), "currency", cur);
	if (date[0] != '\0')
		json_object_set_new(vars, "date", json_string(date));
	if (strncmp(job->event, "payout_", 7) == 0) {
		char *dest = destination_text(obj);
		json_object_set_new(vars, "destination", json_string(dest));
		free(dest);
	}
	job->variables = json_dumps(vars, JSON_COMPACT);
	json_decref(vars);
out:
	json_decref(ev);
	if (why != NULL) {
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_event", why, param);
		return -1;
	}
	return 0;
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
			sr_http_reply_error(req, 500, "api_error", "internal_error",
					    "The request could not be recorded; try again.", NULL);
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
	if (parse_event(req, job) != 0) {
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
