/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /v1/audit_events (see audit_api.h). The handler checks the API key on
 * the event loop (one SHA-256), then moves the database work to the worker
 * pool: the audit record of this very request ("audit.read", or
 * "auth.failure" for a bad key) commits before the answer goes out, so a
 * client that saw a 401 knows the failure is on record.
 *
 * The response never contains key material: keys appear only as their ids.
 */
#include "svc/audit_api.h"
#include "audit/audit.h"
#include "base/mem.h"
#include "crypto/apikey.h"
#include "net/http.h"
#include "net/query.h"
#include "net/router.h"
#include "store/store.h"
#include "svc/runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100

struct list_job {
	struct sr_runtime *rt;
	bool authenticated;
	char key_id[SR_APIKEY_ID_LEN];
	char *ip;
	char *request_id;
	long long limit;
	long long starting_after; /* only seq below this; INT64_MAX: from the newest */
	/* results */
	int rc;
	json_t *data;
	bool has_more;
};

static json_t *event_json(struct sr_stmt *s)
{
	size_t n;
	json_t *ev = json_object();
	long long seq = sr_stmt_col_i64(s, 0);
	char id[32];
	snprintf(id, sizeof id, "ae_%lld", seq);
	json_object_set_new(ev, "id", json_string(id));
	json_object_set_new(ev, "object", json_string("audit_event"));
	json_object_set_new(ev, "seq", json_integer(seq));
	json_object_set_new(ev, "created", json_string(sr_stmt_col_text(s, 1, &n)));
	json_object_set_new(ev, "actor",
			    json_pack("{s:s, s:s}", "type", sr_stmt_col_text(s, 2, &n), "id",
				      sr_stmt_col_text(s, 3, &n)));
	json_object_set_new(ev, "action", json_string(sr_stmt_col_text(s, 4, &n)));
	json_object_set_new(ev, "target",
			    json_pack("{s:s, s:s}", "type", sr_stmt_col_text(s, 5, &n), "id",
				      sr_stmt_col_text(s, 6, &n)));
	json_object_set_new(ev, "outcome", json_string(sr_stmt_col_text(s, 7, &n)));
	json_object_set_new(ev, "ip", json_string(sr_stmt_col_text(s, 8, &n)));
	json_object_set_new(ev, "request_id", json_string(sr_stmt_col_text(s, 9, &n)));
	const char *details = sr_stmt_col_text(s, 10, &n);
	json_t *d = json_loadb(details, n, 0, NULL);
	json_object_set_new(ev, "details", d ? d : json_object());
	return ev;
}

/* One transaction: the page (for an authenticated caller), then this
 * request's own audit record. May run more than once (retries), and on any
 * thread (group commit): it only touches job. */
static int list_tx(struct sr_conn *c, void *arg)
{
	struct list_job *job = arg;
	int rc = 0;
	struct sr_stmt *s = NULL;
	json_decref(job->data);
	job->data = NULL;
	job->has_more = false;

	if (job->authenticated) {
		job->data = json_array();
		rc = sr_stmt_prepare(c,
				     "SELECT seq, ts, actor_type, actor_id, action, object_type, "
				     "object_id, outcome, ip, request_id, details FROM audit_log "
				     "WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
				     &s);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 1, job->starting_after);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 2, job->limit + 1);
		while (rc == 0) {
			int r = sr_stmt_step(s);
			if (r < 0)
				rc = r;
			if (r <= 0)
				break;
			if ((long long)json_array_size(job->data) == job->limit) {
				job->has_more = true;
				break;
			}
			json_array_append_new(job->data, event_json(s));
		}
		sr_stmt_done(s);
		if (rc != 0)
			return rc;
	}
	struct sr_audit_event ev = {
		.actor_type = "api_key",
		.actor_id = job->key_id[0] ? job->key_id : "anonymous",
		.action = job->authenticated ? "audit.read" : "auth.failure",
		.object_type = "audit_log",
		.object_id = sr_runtime_service(job->rt),
		.outcome = job->authenticated ? "success" : "denied",
		.ip = job->ip,
		.request_id = job->request_id,
		.details = job->authenticated ? "{}" : "{\"reason\":\"invalid_api_key\"}",
	};
	return sr_audit_append(c, sr_runtime_audit_key(job->rt), &ev);
}

static void list_work(void *arg)
{
	struct list_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(job->rt), SR_TX_WRITE, list_tx, job);
}

static void job_free(struct list_job *job)
{
	json_decref(job->data);
	free(job->ip);
	free(job->request_id);
	free(job);
}

static void list_done(struct sr_http_req *req, void *arg)
{
	struct list_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc != 0) {
		sr_http_reply_failed(req, job->rc, "The audit log could not be read; try again.");
		goto out;
	}
	if (!job->authenticated) {
		sr_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"strongroom\"");
		sr_http_reply_error(req, 401, "authentication_error", "invalid_api_key",
				    "A valid secret key is required: Authorization: Bearer sk_...",
				    NULL);
		goto out;
	}
	json_t *body = json_pack("{s:s, s:O, s:b}", "object", "list", "data", job->data, "has_more",
				 job->has_more);
	sr_http_reply_json(req, 200, body);
out:
	job_free(job);
}

/* Parses an optional integer query parameter in [lo, hi]. 0 ok, else the
 * request has been answered. */
static int int_param(struct sr_http_req *req, const char *name, long long lo, long long hi,
		     long long *out)
{
	char buf[32];
	int r = sr_query_get(req->query, name, buf, sizeof buf);
	if (r == 0)
		return 0;
	char *end = NULL;
	errno = 0;
	long long v = r > 0 ? strtoll(buf, &end, 10) : 0;
	if (r < 0 || errno != 0 || end == buf || *end != '\0' || v < lo || v > hi) {
		char msg[128];
		snprintf(msg, sizeof msg, "%s must be an integer from %lld to %lld", name, lo, hi);
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_invalid", msg,
				    name);
		return -1;
	}
	*out = v;
	return 0;
}

static void handle_list(struct sr_http_req *req, void *data)
{
	struct sr_runtime *rt = data;
	if (!sr_runtime_ready(rt)) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The service is starting; try again shortly.", NULL);
		return;
	}
	struct list_job *job = sr_xcalloc(1, sizeof *job);
	job->rt = rt;
	job->limit = LIST_LIMIT_DEFAULT;
	job->starting_after = INT64_MAX;
	job->authenticated =
		sr_apikeys_check(sr_runtime_apikeys(rt), sr_http_header(req, "Authorization"),
				 SR_APIKEY_SECRET, job->key_id) == 0;
	/* Parameters are checked only for a caller we know: an anonymous
	 * caller learns nothing but 401. */
	if (job->authenticated &&
	    (int_param(req, "limit", 1, LIST_LIMIT_MAX, &job->limit) != 0 ||
	     int_param(req, "starting_after", 1, INT64_MAX, &job->starting_after) != 0)) {
		job_free(job);
		return;
	}
	unsigned retry = 0;
	if (!job->authenticated && !sr_runtime_auth_failure_allowed(rt, req->remote_ip, &retry)) {
		char secs[16];
		snprintf(secs, sizeof secs, "%u", retry ? retry : 1);
		sr_http_add_header(req, "Retry-After", secs);
		sr_http_reply_error(req, 429, "rate_limit_error", "too_many_failed_authentications",
				    "Too many requests with invalid API keys from this address; "
				    "retry later.",
				    NULL);
		job_free(job);
		return;
	}
	job->ip = sr_xstrdup(req->remote_ip ? req->remote_ip : "");
	job->request_id = sr_xstrdup(req->request_id ? req->request_id : "");
	int rc = sr_http_submit(req, list_work, list_done, job);
	if (rc != 0) {
		job_free(job);
		sr_http_reply_busy(req);
	}
}

int sr_audit_api_add_routes(struct sr_router *r, struct sr_runtime *rt)
{
	struct sr_route_opts opts = {.no_body = true};
	return sr_router_add(r, "GET", "/v1/audit_events", handle_list, rt, &opts);
}
