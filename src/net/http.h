/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_HTTP_H
#define SR_NET_HTTP_H

/*
 * What a route handler sees: one parsed HTTP/1.1 request and the calls that
 * answer it. Every string in struct sr_http_req is NUL-terminated and lives
 * until the response has been produced (views into the connection's read
 * buffer, or the request arena); copy what must outlive the request.
 *
 * Thread rules: a request belongs to the event-loop thread that parsed it.
 * All sr_http_* calls must be made on that thread (from the handler, or from
 * the done callback of sr_http_submit). Nothing here is safe to call from a
 * worker-pool thread.
 *
 * Never log query, headers (cookies, Authorization) or body.
 */
#include "base/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct sr_route;

struct sr_http_header {
	const char *name;  /* as sent; compare case-insensitively */
	const char *value; /* surrounding whitespace removed */
};

struct sr_http_param {
	const char *name;  /* from the pattern, e.g. "id" for {id} */
	const char *value; /* raw path segment, not percent-decoded */
};

struct sr_http_req {
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* request path without query string */
	const char *query;  /* after '?', "" when none. Never log it. */
	const struct sr_http_header *headers;
	unsigned nheaders;
	const unsigned char *body; /* not NUL-terminated; NULL when empty */
	size_t body_len;
	const struct sr_http_param *params;
	unsigned nparams;
	const char *request_id;       /* echoed in X-Request-Id */
	const char *remote_ip;        /* textual client address */
	const struct sr_route *route; /* NULL for core-generated answers */
};

/* A route handler. It must answer (sr_http_reply*) before returning, or defer
 * with sr_http_submit. data is the pointer given to sr_router_add. */
typedef void (*sr_http_handler_fn)(struct sr_http_req *req, void *data);

/* The value of the first header called name (case-insensitive), or NULL. */
const char *sr_http_header(const struct sr_http_req *req, const char *name);
/* The value of path parameter {name}, or NULL. */
const char *sr_http_param(const struct sr_http_req *req, const char *name);

/* Memory that lives until the response is done; freed in one go with the
 * request. Aborts on out-of-memory. */
void *sr_http_alloc(struct sr_http_req *req, size_t n);
char *sr_http_strdup(struct sr_http_req *req, const char *s);

/*
 * Response headers, set before replying. The value is copied. A name or value
 * holding CR or LF is a programming error and aborts (header injection).
 * At most SR_HTTP_RESPONSE_HEADERS_MAX extra headers.
 */
void sr_http_add_header(struct sr_http_req *req, const char *name, const char *value);
/* Overrides Content-Security-Policy for this response (default:
 * "default-src 'none'; frame-ancestors 'none'"). */
void sr_http_set_csp(struct sr_http_req *req, const char *csp);
/* Overrides X-Frame-Options (default DENY); NULL omits the header. */
void sr_http_set_frame_options(struct sr_http_req *req, const char *value);
/* Overrides Cache-Control (default no-store). */
void sr_http_set_cache_control(struct sr_http_req *req, const char *value);

/* Answers with status and body (copied). content_type NULL: no body type.
 * A second reply for the same request is a programming error (aborts). */
void sr_http_reply(struct sr_http_req *req, int status, const char *content_type, const void *body,
		   size_t len);
/* Answers with a JSON document; takes ownership of body (decref'd). */
void sr_http_reply_json(struct sr_http_req *req, int status, json_t *body);
/* Answers {"error":{"type","code","message","param"}}; param may be NULL. */
void sr_http_reply_error(struct sr_http_req *req, int status, const char *type, const char *code,
			 const char *message, const char *param);

/*
 * Runs job(arg) on the worker pool, then done(req, arg) back on this
 * request's event-loop thread; done must answer the request (unless
 * sr_http_aborted(req), in which case it only frees arg — the client has
 * gone and any reply is discarded). The handler returns right after a
 * successful submit. Returns 0, SR_E_LIMIT when the queue is full, or
 * SR_E_UNAVAILABLE with no pool: then nothing was queued and the handler must
 * answer itself (503 is the expected answer; sr_http_reply_busy does it).
 */
int sr_http_submit(struct sr_http_req *req, void (*job)(void *arg),
		   void (*done)(struct sr_http_req *req, void *arg), void *arg) SR_WUR;
bool sr_http_aborted(const struct sr_http_req *req);
/* 503 service_unavailable: the worker queue is full. */
void sr_http_reply_busy(struct sr_http_req *req);
/* Answers a request whose work failed with rc (a negative SR_E_*):
 * SR_E_TIMEOUT (a database statement ran past [database]
 * statement_timeout_ms; nothing was kept) is 503 service_unavailable with
 * Retry-After, anything else 500 internal_error with message. */
void sr_http_reply_failed(struct sr_http_req *req, int rc, const char *message);

/* The reason phrase for a status code ("Not Found"), "Unknown" if none. */
const char *sr_http_reason(int status);

#endif
