/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-app messages and reference checks (notify_api.h), plus the module's
 * life cycle.
 *
 * Every email and SMS a member was sent is an outbox row with the member's
 * id and the reference printed in the message, so the outbox is the
 * message store: GET /v1/messages renders the rows again from their
 * template and masked variables. One-time codes (email verification,
 * password reset) are shown masked: the app is not a second place to
 * read them from.
 *
 * POST /v1/messages/verify is public: anyone holding a suspicious email can
 * ask whether its reference is genuine. It answers the same shape whether
 * or not the reference exists, and shows the content only to the owner's
 * own session (cookie and CSRF token), so a phisher learns nothing from a
 * made-up reference but "not genuine".
 */
#include "base/config.h"
#include "base/mem.h"
#include "crypto/keyfile.h"
#include "net/http.h"
#include "net/query.h"
#include "net/ratelimit.h"
#include "net/router.h"
#include "platform/accounts.h"
#include "platform/auth.h"
#include "platform/notify/outbox.h"
#include "platform/notify/templates.h"
#include "platform/notify_api_int.h"
#include "store/store.h"
#include "svc/runtime.h"
#include "svc/webhook.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100
#define REFERENCE_MAX      64 /* longer input is refused, shorter is looked up */
#define VERIFY_BURST       10 /* checks per address at once, then per_minute */
#define VERIFY_KEYS_MAX    65536

struct sr_notify_api *sr_notify_api_new(const struct sr_config *cfg, struct sr_accounts *acc)
{
	struct sr_notify_api *api = sr_xcalloc(1, sizeof *api);
	api->cfg = cfg;
	api->acc = acc;
	unsigned per_minute = (unsigned)sr_config_int(cfg, "notify", "verify_per_minute");
	api->verify_limit = sr_ratelimit_new(per_minute < VERIFY_BURST ? per_minute : VERIFY_BURST,
					     per_minute, VERIFY_KEYS_MAX);
	atomic_init(&api->started, false);
	return api;
}

int sr_notify_api_start(struct sr_notify_api *api, char *err, size_t errlen)
{
	char *path = sr_config_path(api->cfg, "platform", "vault_webhook_secret_file");
	/* The vault signs with the same 32 bytes (init writes them once). */
	int rc = path != NULL ? sr_keyfile_read(path, 32, &api->vault_secret) : SR_E_CONFIG;
	api->vault_secret_len = rc == 0 ? 32 : 0;
	if (rc != 0)
		snprintf(err, errlen, "[platform] vault_webhook_secret_file %s: %s",
			 path ? path : "(unset)", sr_strerror(rc));
	free(path);
	if (rc == 0)
		atomic_store(&api->started, true);
	return rc;
}

void sr_notify_api_free(struct sr_notify_api *api)
{
	if (api == NULL)
		return;
	if (api->vault_secret != NULL)
		sodium_free(api->vault_secret);
	sr_ratelimit_free(api->verify_limit);
	free(api);
}

bool sr_notify_api_ready(struct sr_notify_api *api, struct sr_http_req *req)
{
	if (atomic_load(&api->started) && sr_accounts_ready(api->acc))
		return true;
	sr_http_reply_error(req, 503, "api_error", "service_unavailable",
			    "The service is starting; try again shortly.", NULL);
	return false;
}

json_t *sr_notify_api_body(struct sr_http_req *req)
{
	json_error_t e;
	json_t *body = req->body != NULL ? json_loadb((const char *)req->body, req->body_len,
						      JSON_REJECT_DUPLICATES, &e)
					 : NULL;
	if (body == NULL || !json_is_object(body)) {
		json_decref(body);
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_json",
				    "The request body must be a JSON object.", NULL);
		return NULL;
	}
	return body;
}

/* Renders one outbox row for the app: subject and the plain-text body (or
 * the SMS text), with one-time codes masked. NULL when it does not render
 * any more (a template changed incompatibly): the list still answers. */
static json_t *render(const char *name, const char *variables, const char *reference,
		      const char *channel, const char *created, const char *domains)
{
	struct sr_rendered r = {0};
	char date[32];
	json_t *vars = json_loads(variables, 0, NULL), *out = NULL;
	if (vars == NULL)
		return NULL;
	/* The outbox never holds these codes in clear (only sealed, in a
	 * column this module does not read): the app shows a placeholder. */
	if (sr_template_has_one_time_code(name) || json_object_get(vars, "code") != NULL)
		json_object_set_new(vars, "code",
				    json_string("(shown only in the message itself)"));
	char *vtext = json_dumps(vars, JSON_COMPACT);
	json_decref(vars);
	snprintf(date, sizeof date, "%.10s %.5s UTC", created,
		 strlen(created) >= 16 ? created + 11 : "00:00");
	struct sr_template_ctx ctx = {
		.name = name,
		.variables_json = vtext,
		.reference = reference,
		.date = date,
		.official_domains = domains,
	};
	if (vtext != NULL && sr_template_render(&ctx, &r) == 0)
		out = json_pack("{s:s, s:s}", "subject", r.subject, "body",
				strcmp(channel, "sms") == 0 && r.sms ? r.sms : r.text);
	sr_rendered_free(&r);
	free(vtext);
	return out;
}

/* The message object shared by the list and the verification answer. */
static json_t *message_json(struct sr_stmt *s, const char *domains)
{
	/* columns: reference, channel, template, variables, created_at, state, sent_at */
	const char *ref = sr_stmt_col_text(s, 0, NULL);
	const char *channel = sr_stmt_col_text(s, 1, NULL);
	const char *created = sr_stmt_col_text(s, 4, NULL);
	json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "object", "message", "id", ref,
			      "reference", ref, "channel", channel, "event",
			      sr_stmt_col_text(s, 2, NULL), "created", created);
	const char *state = sr_stmt_col_text(s, 5, NULL);
	json_object_set_new(m, "status",
			    json_string(strcmp(state, "sending") == 0 ? "pending" : state));
	json_object_set_new(m, "sent_at",
			    sr_stmt_col_is_null(s, 6) ? json_null()
						      : json_string(sr_stmt_col_text(s, 6, NULL)));
	json_t *content = render(sr_stmt_col_text(s, 2, NULL), sr_stmt_col_text(s, 3, NULL), ref,
				 channel, created, domains);
	json_object_set_new(m, "subject",
			    content ? json_incref(json_object_get(content, "subject"))
				    : json_null());
	json_object_set_new(m, "body",
			    content ? json_incref(json_object_get(content, "body")) : json_null());
	json_decref(content);
	return m;
}

#define MESSAGE_COLUMNS "reference, channel, template, variables, created_at, state, sent_at"

/* ---- GET /v1/messages ---- */

struct list_job {
	struct sr_notify_api *api;
	struct sr_auth_request auth;
	long long limit;
	char starting_after[REFERENCE_MAX + 1];
	/* results */
	int rc;
	enum sr_auth_result result;
	struct sr_auth_ctx ctx;
	bool bad_cursor;
	json_t *data;
	bool has_more;
};

static int list_tx(struct sr_conn *c, void *arg)
{
	struct list_job *job = arg;
	struct sr_stmt *s = NULL;
	char cur_time[32] = "9999", cur_ref[REFERENCE_MAX + 1] = "";
	json_decref(job->data);
	job->data = NULL;
	job->has_more = false;
	job->bad_cursor = false;
	int rc = sr_auth_resolve(c, job->api->acc, &job->auth, false, &job->ctx, &job->result);
	if (rc != 0 || job->result != SR_AUTH_OK)
		return rc;
	const char *me = job->ctx.user_id;
	if (job->starting_after[0] != '\0') {
		/* The cursor must be one of the caller's own messages. */
		rc = sr_stmt_prepare(c,
				     "SELECT created_at FROM outbox WHERE reference = $1 AND "
				     "member_id = $2",
				     &s);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 1, job->starting_after,
					       strlen(job->starting_after));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 2, me, strlen(me));
		if (rc == 0)
			rc = sr_stmt_step(s);
		if (rc == 1) {
			snprintf(cur_time, sizeof cur_time, "%s", sr_stmt_col_text(s, 0, NULL));
			snprintf(cur_ref, sizeof cur_ref, "%s", job->starting_after);
			rc = 0;
		} else if (rc == 0) {
			job->bad_cursor = true;
		}
		sr_stmt_done(s);
		s = NULL;
		if (rc != 0 || job->bad_cursor)
			return rc;
	}
	const char *domains = sr_config_str(job->api->cfg, "email", "official_domains");
	job->data = json_array();
	rc = sr_stmt_prepare(c,
			     "SELECT " MESSAGE_COLUMNS " FROM outbox WHERE member_id = $1 AND "
			     "(created_at < $2 OR (created_at = $2 AND reference < $3)) "
			     "ORDER BY created_at DESC, reference DESC LIMIT $4",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, me, strlen(me));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, cur_time, strlen(cur_time));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, cur_ref, strlen(cur_ref));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 4, job->limit + 1);
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
		json_array_append_new(job->data, message_json(s, domains));
	}
	sr_stmt_done(s);
	return rc;
}

static void list_work(void *arg)
{
	struct list_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(sr_accounts_runtime(job->api->acc)), SR_TX_WRITE,
			      list_tx, job);
}

static void list_free(struct list_job *job)
{
	sr_auth_request_clear(&job->auth);
	json_decref(job->data);
	free(job);
}

static void list_done(struct sr_http_req *req, void *arg)
{
	struct list_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc != 0)
		sr_http_reply_failed(req, job->rc, "Messages could not be read; try again.");
	else if (job->result != SR_AUTH_OK)
		sr_auth_reply_error(req, job->result);
	else if (job->bad_cursor)
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_invalid",
				    "starting_after must be the id of one of your messages.",
				    "starting_after");
	else
		sr_http_reply_json(req, 200,
				   json_pack("{s:s, s:O, s:b}", "object", "list", "data", job->data,
					     "has_more", job->has_more));
out:
	list_free(job);
}

static void handle_list(struct sr_http_req *req, void *data)
{
	struct sr_notify_api *api = data;
	char buf[32];
	if (!sr_notify_api_ready(api, req))
		return;
	struct list_job *job = sr_xcalloc(1, sizeof *job);
	job->api = api;
	job->limit = LIST_LIMIT_DEFAULT;
	int r = sr_query_get(req->query, "limit", buf, sizeof buf);
	if (r != 0) {
		char *end = NULL;
		errno = 0;
		long long v = r > 0 ? strtoll(buf, &end, 10) : 0;
		if (r < 0 || errno != 0 || end == buf || *end != '\0' || v < 1 ||
		    v > LIST_LIMIT_MAX) {
			sr_http_reply_error(req, 400, "invalid_request_error", "parameter_invalid",
					    "limit must be an integer from 1 to 100", "limit");
			list_free(job);
			return;
		}
		job->limit = v;
	}
	r = sr_query_get(req->query, "starting_after", job->starting_after,
			 sizeof job->starting_after);
	if (r < 0) {
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_invalid",
				    "starting_after must be the id of one of your messages.",
				    "starting_after");
		list_free(job);
		return;
	}
	sr_auth_capture(req, &job->auth);
	if (sr_http_submit(req, list_work, list_done, job) != 0) {
		list_free(job);
		sr_http_reply_busy(req);
	}
}

/* ---- POST /v1/messages/verify ---- */

struct verify_job {
	struct sr_notify_api *api;
	struct sr_auth_request auth;
	char reference[REFERENCE_MAX + 1];
	/* results */
	int rc;
	json_t *answer;
};

static int verify_tx(struct sr_conn *c, void *arg)
{
	struct verify_job *job = arg;
	struct sr_stmt *s = NULL;
	json_decref(job->answer);
	job->answer = json_pack("{s:s, s:s, s:b, s:n, s:n, s:n, s:n}", "object",
				"message_verification", "reference", job->reference, "genuine",
				false, "channel", "created", "sent_at", "message");
	int rc = sr_stmt_prepare(c,
				 "SELECT " MESSAGE_COLUMNS ", member_id FROM outbox WHERE "
				 "reference = $1",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->reference, strlen(job->reference));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc <= 0)
		goto out;
	rc = 0;
	json_object_set_new(job->answer, "genuine", json_true());
	json_object_set_new(job->answer, "channel", json_string(sr_stmt_col_text(s, 1, NULL)));
	json_object_set_new(job->answer, "created", json_string(sr_stmt_col_text(s, 4, NULL)));
	if (!sr_stmt_col_is_null(s, 6))
		json_object_set_new(job->answer, "sent_at",
				    json_string(sr_stmt_col_text(s, 6, NULL)));
	/* The content only for the owner's own live session. */
	if (job->auth.session_token != NULL && !sr_stmt_col_is_null(s, 7)) {
		char owner[SR_USER_ID_SIZE];
		snprintf(owner, sizeof owner, "%s", sr_stmt_col_text(s, 7, NULL));
		json_t *msg =
			message_json(s, sr_config_str(job->api->cfg, "email", "official_domains"));
		sr_stmt_done(s);
		s = NULL;
		struct sr_auth_ctx ctx;
		enum sr_auth_result result;
		rc = sr_auth_resolve(c, job->api->acc, &job->auth, false, &ctx, &result);
		if (rc == 0 && result == SR_AUTH_OK && strcmp(ctx.user_id, owner) == 0)
			json_object_set(job->answer, "message", msg);
		json_decref(msg);
	}
out:
	sr_stmt_done(s);
	return rc;
}

static void verify_work(void *arg)
{
	struct verify_job *job = arg;
	job->rc = sr_store_tx(sr_runtime_store(sr_accounts_runtime(job->api->acc)), SR_TX_WRITE,
			      verify_tx, job);
}

static void verify_free(struct verify_job *job)
{
	sr_auth_request_clear(&job->auth);
	json_decref(job->answer);
	free(job);
}

static void verify_done(struct sr_http_req *req, void *arg)
{
	struct verify_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc != 0) {
		sr_http_reply_failed(req, job->rc,
				     "The reference could not be checked; try again.");
		goto out;
	}
	sr_http_reply_json(req, 200, json_incref(job->answer));
out:
	verify_free(job);
}

static uint64_t monotonic_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static void handle_verify(struct sr_http_req *req, void *data)
{
	struct sr_notify_api *api = data;
	unsigned retry = 0;
	if (!sr_notify_api_ready(api, req))
		return;
	/* First the limit, so guessing references costs the guesser. */
	if (!sr_ratelimit_take(api->verify_limit, req->remote_ip ? req->remote_ip : "",
			       monotonic_ms(), &retry)) {
		char secs[16];
		snprintf(secs, sizeof secs, "%u", retry ? retry : 1);
		sr_http_add_header(req, "Retry-After", secs);
		sr_http_reply_error(req, 429, "rate_limit_error", "rate_limited",
				    "Too many reference checks from this address; retry later.",
				    NULL);
		return;
	}
	json_t *body = sr_notify_api_body(req);
	if (body == NULL)
		return;
	json_t *ref = json_object_get(body, "reference");
	const char *why = NULL, *code = "parameter_invalid";
	if (ref == NULL || json_is_null(ref)) {
		why = "reference is required: the msg_... reference printed in the message.";
		code = "parameter_missing";
	} else if (!json_is_string(ref)) {
		why = "reference must be a string.";
	}
	/* Copy-pasted references may carry spaces around them. */
	const char *v = why == NULL ? json_string_value(ref) : "";
	size_t len = why == NULL ? json_string_length(ref) : 0;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (why == NULL && (len == 0 || len > REFERENCE_MAX || memchr(v, '\0', len) != NULL))
		why = "reference must be the msg_... reference printed in the message.";
	if (why != NULL) {
		sr_http_reply_error(req, 400, "invalid_request_error", code, why, "reference");
		json_decref(body);
		return;
	}
	struct verify_job *job = sr_xcalloc(1, sizeof *job);
	job->api = api;
	memcpy(job->reference, v, len);
	job->reference[len] = '\0';
	json_decref(body);
	sr_auth_capture(req, &job->auth);
	if (sr_http_submit(req, verify_work, verify_done, job) != 0) {
		verify_free(job);
		sr_http_reply_busy(req);
	}
}

int sr_notify_api_add_routes(struct sr_router *r, struct sr_notify_api *api)
{
	struct sr_route_opts get = {.no_body = true};
	struct sr_route_opts small = {.body_max = 1024};
	int rc = sr_router_add(r, "GET", "/v1/messages", handle_list, api, &get);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/messages/verify", handle_verify, api, &small);
	if (rc == 0)
		rc = sr_notify_prefs_add_routes(r, api);
	if (rc == 0)
		rc = sr_vault_webhooks_add_routes(r, api);
	return rc;
}
