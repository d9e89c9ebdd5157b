/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 on http-parser, without sockets: the request state machine, the
 * hard limits ([limits] settings), routing, and response building. Input
 * stays in one buffer per connection; header names, values and the path are
 * NUL-terminated in place once the head is complete, so handlers get strings
 * without copies. Chunked bodies are de-chunked in place. Each response is
 * built whole (status line, headers, body) in the output buffer so the
 * transport can send it in one TLS record.
 *
 * Never logged: query strings, header values, bodies.
 *
 * Never left behind: request bytes (passwords, API keys, session cookies,
 * unseal shares in heads and bodies) and response bytes (TOTP secrets,
 * recovery codes, CSRF tokens) are wiped once their request is over: the
 * read buffer's finished message in finish_request and the stale tail a
 * compaction leaves, the write buffer's sent bytes in consume, the request
 * arena when it is reset, and every buffer when it grows (no plain realloc:
 * it would free the old copy unwiped) or is released. The cost is one
 * memset of the bytes a request actually used (docs/security.md).
 */
#include "net/http_int.h"
#include "base/assert.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/metrics.h"
#include "net/workers.h"

#include <openssl/rand.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define IN_INITIAL     8192
#define IN_GROW_MIN    4096
#define OUT_INITIAL    4096
#define OUT_HIGH_WATER (256 * 1024) /* stop parsing while this much is unsent */
#define OUT_SHRINK     (64 * 1024)
#define ARENA_BLOCK    4096

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* ---------------------------------------------------------------- arena */

struct arena_block {
	struct arena_block *next;
	size_t cap, used;
	alignas(max_align_t) unsigned char data[];
};

static void *arena_alloc(struct sr_http_conn *c, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	struct arena_block *b = c->arena;
	if (b == NULL || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
		b = sr_xmalloc(sizeof *b + cap);
		b->cap = cap;
		b->used = 0;
		b->next = c->arena;
		c->arena = b;
		if (c->arena_first == NULL)
			c->arena_first = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

/* Frees all but the first block, which is kept for the next request. Every
 * block is wiped as far as it was used: responses are built here
 * (sr_http_reply_json) and handlers copy request values here. */
static void arena_reset(struct sr_http_conn *c)
{
	struct arena_block *b = c->arena;
	while (b != NULL && b != c->arena_first) {
		struct arena_block *next = b->next;
		sr_free_wiped(b, sizeof *b + b->used);
		b = next;
	}
	c->arena = b;
	if (b != NULL) {
		sr_wipe(b->data, b->used);
		b->used = 0;
	}
}

static void arena_free(struct sr_http_conn *c)
{
	struct arena_block *b = c->arena;
	while (b != NULL) {
		struct arena_block *next = b->next;
		sr_free_wiped(b, sizeof *b + b->used);
		b = next;
	}
	c->arena = c->arena_first = NULL;
}

/* ---------------------------------------------------------------- setup */

void sr_http_limits_from_config(struct sr_http_limits *l, const struct sr_config *cfg)
{
	l->request_line_max = (size_t)sr_config_int(cfg, "limits", "request_line_max");
	l->header_bytes_max = (size_t)sr_config_int(cfg, "limits", "header_bytes_max");
	l->header_count_max = (size_t)sr_config_int(cfg, "limits", "header_count_max");
	l->body_max = (size_t)sr_config_int(cfg, "limits", "body_max");
	l->requests_per_connection =
		(unsigned long)sr_config_int(cfg, "limits", "requests_per_connection");
}

void sr_http_env_init(struct sr_http_env *env, const struct sr_router *router,
		      const struct sr_http_limits *limits)
{
	memset(env, 0, sizeof *env);
	env->router = router;
	env->limits = *limits;
	env->service = "http";
	atomic_init(&env->draining, false);
	/* http-parser's own head ceiling is process-wide; keep it above ours so
	 * that our limits (and their status codes) decide. */
	size_t ceiling = limits->request_line_max + limits->header_bytes_max + 4096;
	http_parser_set_max_header_size(ceiling > UINT32_MAX ? UINT32_MAX : (uint32_t)ceiling);
}

static void reset_message(struct sr_http_conn *c)
{
	c->nhdrs = 0;
	c->url_off = c->url_len = 0;
	c->head_off = c->body_off = 0;
	c->body_len = 0;
	c->body_limit = c->env->limits.body_max;
	c->method_known = c->in_value = c->headers_started = c->headers_done = false;
	c->views_built = false;
	c->msg_complete = c->has_body = c->expect_continue = false;
	c->replied = c->deferred = c->is_head = false;
	c->err_status = 0;
	c->route_status = SR_ROUTE_NOT_FOUND;
	c->match.route = NULL;
	c->match.nparams = 0;
	c->rid[0] = '\0';
	c->csp = c->xfo = c->cache_control = NULL;
	c->xfo_set = false;
	c->nextra = 0;
	memset(&c->req, 0, sizeof c->req);
	c->req.remote_ip = c->remote_ip;
	c->req.query = "";
	c->req.path = "";
	c->req.method = "-";
}

void sr_http_conn_init(struct sr_http_conn *c, const struct sr_http_env *env,
		       struct sr_metrics_thread *mt, struct event_base *base, const char *remote_ip)
{
	memset(c, 0, sizeof *c);
	c->env = env;
	c->mt = mt;
	c->base = base;
	if (remote_ip != NULL) {
		size_t n = strlen(remote_ip);
		if (n >= sizeof c->remote_ip)
			n = sizeof c->remote_ip - 1;
		memcpy(c->remote_ip, remote_ip, n);
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	reset_message(c);
}

void sr_http_conn_release(struct sr_http_conn *c)
{
	/* Whole capacities: a connection that ends mid-request (timeout, abort,
	 * a limit) still holds that request's bytes. */
	sr_free_wiped(c->in, c->in_cap);
	sr_free_wiped(c->out, c->out_cap);
	free(c->hdrs);
	free(c->views);
	arena_free(c);
	c->in = c->out = NULL;
	c->hdrs = NULL;
	c->views = NULL;
	c->in_cap = c->in_len = c->out_cap = c->out_len = 0;
}

/* ---------------------------------------------------------------- output */

static void out_reserve(struct sr_http_conn *c, size_t n)
{
	if (c->out_cap - c->out_len >= n)
		return;
	size_t cap = c->out_cap ? c->out_cap : OUT_INITIAL;
	while (cap - c->out_len < n) {
		SR_ASSERT(cap < SIZE_MAX / 2);
		cap *= 2;
	}
	c->out = sr_xrealloc_wiped(c->out, c->out_len, cap);
	c->out_cap = cap;
}

static inline void out_put(struct sr_http_conn *c, const void *p, size_t n)
{
	if (n == 0)
		return;
	out_reserve(c, n);
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

#define OUT_LIT(c, s) out_put((c), (s), sizeof(s) - 1)

static inline void out_str(struct sr_http_conn *c, const char *s)
{
	out_put(c, s, strlen(s));
}

static void out_uint(struct sr_http_conn *c, unsigned long long v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	out_put(c, tmp + i, sizeof tmp - i);
}

void sr_http_conn_consume(struct sr_http_conn *c, size_t n)
{
	SR_ASSERT(n <= c->out_len);
	if (n == 0)
		return;
	memmove(c->out, c->out + n, c->out_len - n);
	c->out_len -= n;
	/* The sent bytes (and the stale copy the move leaves) may be secrets
	 * the response carried. */
	sr_wipe(c->out + c->out_len, n);
	if (c->out_len == 0 && c->out_cap > OUT_SHRINK) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

const char *sr_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Date header value, cached per thread and refreshed once a second. */
static const char *http_date(size_t *len)
{
	static _Thread_local char buf[40];
	static _Thread_local size_t blen;
	static _Thread_local time_t cached = -1;
	time_t now = time(NULL);
	if (now != cached) {
		struct tm tm;
		gmtime_r(&now, &tm);
		blen = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cached = now;
	}
	*len = blen;
	return buf;
}

static void gen_request_id(char *out)
{
	static const char hex[] = "0123456789abcdef";
	/* Random bytes come from a per-thread pool refilled in bulk: one
	 * RAND_bytes call per request was 7% of a keep-alive request's CPU. */
	static _Thread_local unsigned char pool[1000];
	static _Thread_local size_t used = sizeof pool;
	unsigned char *rnd;
	if (used + 10 > sizeof pool) {
		if (RAND_bytes(pool, sizeof pool) != 1)
			sr_assert_fail("RAND_bytes", __FILE__, __LINE__);
		used = 0;
	}
	rnd = pool + used;
	used += 10;
	memcpy(out, "req_", 4);
	for (size_t i = 0; i < 10; i++) {
		out[4 + 2 * i] = hex[rnd[i] >> 4];
		out[5 + 2 * i] = hex[rnd[i] & 15];
		rnd[i] = 0;
	}
	out[24] = '\0';
}

static bool request_id_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char ch = s[n];
		if (n >= SR_HTTP_REQUEST_ID_MAX)
			return false;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return n > 0;
}

static void ensure_request_id(struct sr_http_conn *c)
{
	if (c->rid[0] != '\0')
		return;
	const char *client = c->headers_done ? sr_http_header(&c->req, "X-Request-Id") : NULL;
	if (client != NULL && request_id_ok(client)) {
		size_t n = strlen(client);
		memcpy(c->rid, client, n + 1);
	} else {
		gen_request_id(c->rid);
	}
	c->req.request_id = c->rid;
}

static double elapsed_s(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void log_and_count(struct sr_http_conn *c, int status, size_t bytes)
{
	double secs = elapsed_s(&c->t_start);
	const struct sr_route *r = c->match.route;
	if (c->env->metrics != NULL && c->mt != NULL) {
		unsigned slot =
			sr_metrics_slot(c->env->metrics, r ? (int)r->index : -1, c->req.method);
		sr_metrics_observe(c->mt, slot, status, secs);
	}
	if (sr_log_enabled(SR_LOG_INFO))
		sr_log(SR_LOG_INFO, "request", SR_LS("service", c->env->service),
		       SR_LS("id", c->rid), SR_LS("method", c->req.method),
		       SR_LS("route", r ? r->pattern : "unmatched"), SR_LI("status", status),
		       SR_LD("duration_ms", secs * 1000.0), SR_LI("bytes", bytes));
}

/* Builds the whole response into out. */
static void write_response(struct sr_http_conn *c, int status, const char *ctype, const void *body,
			   size_t len)
{
	ensure_request_id(c);
	unsigned long max = c->env->limits.requests_per_connection;
	/* Draining is not a reason to close here: requests the client has
	 * already pipelined are still answered, and the server closes the
	 * connection once it is idle with nothing more to read. */
	if (c->served + 1 >= max || (c->headers_done && !http_should_keep_alive(&c->parser)))
		c->close_after = true;

	const struct sr_route *r = c->match.route;
	size_t start = c->out_len;
	out_reserve(c, 512 + len);
	OUT_LIT(c, "HTTP/1.1 ");
	out_uint(c, (unsigned)status);
	OUT_LIT(c, " ");
	out_str(c, sr_http_reason(status));
	OUT_LIT(c, "\r\nStrict-Transport-Security: max-age=63072000; includeSubDomains\r\n"
		   "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n");

	const char *csp = c->csp ? c->csp : (r && r->opts.csp ? r->opts.csp : NULL);
	if (csp == NULL) {
		OUT_LIT(c,
			"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n");
	} else {
		OUT_LIT(c, "Content-Security-Policy: ");
		out_str(c, csp);
		OUT_LIT(c, "\r\n");
	}
	const char *xfo = "DENY";
	if (c->xfo_set)
		xfo = c->xfo;
	else if (r && r->opts.omit_frame_options)
		xfo = NULL;
	else if (r && r->opts.frame_options)
		xfo = r->opts.frame_options;
	if (xfo != NULL) {
		OUT_LIT(c, "X-Frame-Options: ");
		out_str(c, xfo);
		OUT_LIT(c, "\r\n");
	}
	const char *cc = c->cache_control ? c->cache_control
					  : (r && r->opts.cache_control ? r->opts.cache_control
									: "no-store");
	OUT_LIT(c, "Cache-Control: ");
	out_str(c, cc);
	OUT_LIT(c, "\r\nX-Request-Id: ");
	out_str(c, c->rid);
	size_t dlen;
	const char *date = http_date(&dlen);
	OUT_LIT(c, "\r\nDate: ");
	out_put(c, date, dlen);
	if (ctype != NULL) {
		OUT_LIT(c, "\r\nContent-Type: ");
		out_str(c, ctype);
	}
	if (status >= 200 && status != 204 && status != 304) {
		OUT_LIT(c, "\r\nContent-Length: ");
		out_uint(c, len);
	}
	for (unsigned i = 0; i < c->nextra; i++) {
		OUT_LIT(c, "\r\n");
		out_str(c, c->extra[i][0]);
		OUT_LIT(c, ": ");
		out_str(c, c->extra[i][1]);
	}
	if (c->close_after)
		OUT_LIT(c, "\r\nConnection: close\r\n\r\n");
	else if (c->parser.http_minor == 0 && c->headers_done)
		OUT_LIT(c, "\r\nConnection: keep-alive\r\n\r\n");
	else
		OUT_LIT(c, "\r\n\r\n");
	if (!c->is_head && len > 0)
		out_put(c, body, len);
	log_and_count(c, status, c->out_len - start);
}

/* ---------------------------------------------------------------- handler API */

static struct sr_http_conn *conn_of(const struct sr_http_req *req)
{
	return container_of(req, struct sr_http_conn, req);
}

const char *sr_http_header(const struct sr_http_req *req, const char *name)
{
	for (unsigned i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

const char *sr_http_param(const struct sr_http_req *req, const char *name)
{
	for (unsigned i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

void *sr_http_alloc(struct sr_http_req *req, size_t n)
{
	return arena_alloc(conn_of(req), n);
}

char *sr_http_strdup(struct sr_http_req *req, const char *s)
{
	size_t n = strlen(s);
	char *p = sr_http_alloc(req, n + 1);
	memcpy(p, s, n + 1);
	return p;
}

static void assert_header_text(const char *s)
{
	SR_ASSERT(s != NULL && strpbrk(s, "\r\n") == NULL);
}

void sr_http_add_header(struct sr_http_req *req, const char *name, const char *value)
{
	struct sr_http_conn *c = conn_of(req);
	assert_header_text(name);
	assert_header_text(value);
	SR_ASSERT(c->nextra < SR_HTTP_RESPONSE_HEADERS_MAX);
	c->extra[c->nextra][0] = sr_http_strdup(req, name);
	c->extra[c->nextra][1] = sr_http_strdup(req, value);
	c->nextra++;
}

void sr_http_set_csp(struct sr_http_req *req, const char *csp)
{
	assert_header_text(csp);
	conn_of(req)->csp = sr_http_strdup(req, csp);
}

void sr_http_set_frame_options(struct sr_http_req *req, const char *value)
{
	struct sr_http_conn *c = conn_of(req);
	if (value != NULL)
		assert_header_text(value);
	c->xfo = value ? sr_http_strdup(req, value) : NULL;
	c->xfo_set = true;
}

void sr_http_set_cache_control(struct sr_http_req *req, const char *value)
{
	assert_header_text(value);
	conn_of(req)->cache_control = sr_http_strdup(req, value);
}

void sr_http_reply(struct sr_http_req *req, int status, const char *content_type, const void *body,
		   size_t len)
{
	struct sr_http_conn *c = conn_of(req);
	SR_ASSERT(!c->replied);
	SR_ASSERT(status >= 200 && status <= 599);
	if (content_type != NULL)
		assert_header_text(content_type);
	c->replied = true;
	if (c->aborted)
		return;
	write_response(c, status, content_type, body, len);
}

void sr_http_reply_json(struct sr_http_req *req, int status, json_t *body)
{
	SR_ASSERT(body != NULL);
	size_t n = json_dumpb(body, NULL, 0, JSON_COMPACT);
	char *buf = sr_http_alloc(req, n ? n : 1);
	if (n > 0 && json_dumpb(body, buf, n, JSON_COMPACT) != n)
		sr_assert_fail("json_dumpb", __FILE__, __LINE__);
	json_decref(body);
	sr_http_reply(req, status, "application/json", buf, n);
}

void sr_http_reply_error(struct sr_http_req *req, int status, const char *type, const char *code,
			 const char *message, const char *param)
{
	json_t *j = json_pack("{s:{s:s,s:s,s:s,s:s?}}", "error", "type", type, "code", code,
			      "message", message, "param", param);
	SR_ASSERT(j != NULL);
	sr_http_reply_json(req, status, j);
}

void sr_http_reply_busy(struct sr_http_req *req)
{
	sr_http_add_header(req, "Retry-After", "1");
	sr_http_reply_error(req, 503, "api_error", "service_unavailable",
			    "The server is busy; retry shortly.", NULL);
}

void sr_http_reply_failed(struct sr_http_req *req, int rc, const char *message)
{
	if (rc == SR_E_TIMEOUT) {
		sr_http_add_header(req, "Retry-After", "1");
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The database did not answer in time; nothing was changed. "
				    "Retry shortly.",
				    NULL);
		return;
	}
	sr_http_reply_error(req, 500, "api_error", "internal_error", message, NULL);
}

bool sr_http_aborted(const struct sr_http_req *req)
{
	return conn_of(req)->aborted;
}

/* ---------------------------------------------------------------- errors */

struct core_error {
	int status;
	const char *type, *code, *message;
};

static const struct core_error core_errors[] = {
	{400, "invalid_request_error", "bad_request", "The request could not be parsed."},
	{404, "invalid_request_error", "not_found", "No such route."},
	{405, "invalid_request_error", "method_not_allowed", "Method not allowed on this route."},
	{408, "invalid_request_error", "request_timeout", "The request took too long to arrive."},
	{413, "invalid_request_error", "body_too_large", "The request body is too large."},
	{414, "invalid_request_error", "uri_too_long", "The request line is too long."},
	{417, "invalid_request_error", "expectation_failed", "Unsupported Expect header."},
	{429, "rate_limit_error", "too_many_connections",
	 "Too many connections from this address."},
	{431, "invalid_request_error", "headers_too_large", "The request headers are too large."},
	{500, "api_error", "internal_error", "Internal error."},
	{501, "invalid_request_error", "not_implemented", "Unsupported transfer encoding."},
	{503, "api_error", "service_unavailable", "The service is unavailable."},
	{505, "invalid_request_error", "http_version_not_supported", "Use HTTP/1.1."},
};

/* Answers status with the standard error body. close: the connection ends
 * after it (every malformed-input answer closes). */
static void core_reply(struct sr_http_conn *c, int status, bool close)
{
	const struct core_error *e = &core_errors[0];
	for (size_t i = 0; i < sizeof core_errors / sizeof core_errors[0]; i++)
		if (core_errors[i].status == status)
			e = &core_errors[i];
	if (close)
		c->close_after = true;
	if (c->replied)
		return;
	/* A response to a half-parsed request must not be mistaken for a HEAD. */
	if (!c->headers_done)
		c->is_head = false;
	sr_http_reply_error(&c->req, status, e->type, e->code, e->message, NULL);
}

static void build_views(struct sr_http_conn *c);

static void fail(struct sr_http_conn *c, int status)
{
	/* The read buffer may have moved (grown) since the head's views were
	 * built, e.g. by a body over the limit: re-point them before the
	 * reply reads X-Request-Id from them. */
	if (c->views_built)
		build_views(c);
	core_reply(c, status, true);
	c->phase = SR_HC_IDLE;
}

/* ---------------------------------------------------------------- parser callbacks */

static inline struct sr_http_conn *pconn(http_parser *p)
{
	return p->data;
}

static inline uint32_t rel(struct sr_http_conn *c, const char *at)
{
	return (uint32_t)((const unsigned char *)at - (c->in + c->msg_start));
}

static int cb_url(http_parser *p, const char *at, size_t len)
{
	struct sr_http_conn *c = pconn(p);
	c->method_known = true;
	c->req.method = http_method_str((enum http_method)p->method);
	uint32_t off = rel(c, at);
	if (c->url_len == 0)
		c->url_off = off;
	else if (off != c->url_off + c->url_len)
		goto bad;
	c->url_len += (uint32_t)len;
	/* method + SP + target + " HTTP/1.1" */
	if ((size_t)c->url_off + c->url_len + 9 > c->env->limits.request_line_max) {
		c->err_status = 414;
		return -1;
	}
	return 0;
bad:
	c->err_status = 400;
	return -1;
}

static int check_head_bytes(struct sr_http_conn *c, const char *at, size_t len)
{
	size_t end = (size_t)rel(c, at) + len;
	if (end - c->head_off > c->env->limits.header_bytes_max) {
		c->err_status = 431;
		return -1;
	}
	return 0;
}

static int cb_header_field(http_parser *p, const char *at, size_t len)
{
	struct sr_http_conn *c = pconn(p);
	/* Trailers after a chunked body are dropped: nothing here uses them, and
	 * http-parser bounds their size like a head's. */
	if (c->headers_done)
		return 0;
	uint32_t off = rel(c, at);
	if (!c->headers_started) {
		c->headers_started = true;
		c->head_off = off;
		if (off > c->env->limits.request_line_max) {
			c->err_status = 414;
			return -1;
		}
	}
	if (check_head_bytes(c, at, len) != 0)
		return -1;
	if (c->nhdrs == 0 || c->in_value) {
		if (c->nhdrs >= c->env->limits.header_count_max) {
			c->err_status = 431;
			return -1;
		}
		if (c->nhdrs == c->hdrs_cap) {
			size_t cap = c->hdrs_cap ? c->hdrs_cap * 2 : 16;
			c->hdrs = sr_xreallocarray(c->hdrs, cap, sizeof *c->hdrs);
			c->hdrs_cap = cap;
		}
		c->hdrs[c->nhdrs++] = (struct hdr_off){off, (uint32_t)len, UINT32_MAX, 0};
		c->in_value = false;
		return 0;
	}
	struct hdr_off *h = &c->hdrs[c->nhdrs - 1];
	if (off != h->name_off + h->name_len) {
		c->err_status = 400;
		return -1;
	}
	h->name_len += (uint32_t)len;
	return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t len)
{
	struct sr_http_conn *c = pconn(p);
	if (c->headers_done)
		return 0;
	if (check_head_bytes(c, at, len) != 0)
		return -1;
	if (c->nhdrs == 0)
		return 0;
	struct hdr_off *h = &c->hdrs[c->nhdrs - 1];
	uint32_t off = rel(c, at);
	c->in_value = true;
	if (h->val_off == UINT32_MAX) {
		h->val_off = off;
		h->val_len = (uint32_t)len;
	} else if (off == h->val_off + h->val_len) {
		h->val_len += (uint32_t)len;
	} else {
		/* obs-fold: a value continued on the next line. RFC 9112 lets
		 * a server reject it, which beats rebuilding the value. */
		c->err_status = 400;
		return -1;
	}
	return 0;
}

/* Points the request's strings into the read buffer. Called when the head is
 * complete and again at dispatch: the buffer may have moved (grown) while the
 * body arrived, so only offsets are kept across reads. */
static void build_views(struct sr_http_conn *c)
{
	char *base = (char *)c->in + c->msg_start;
	c->req.path = base + c->url_off;
	c->req.query = c->query_off ? base + c->query_off : "";
	for (size_t i = 0; i < c->nhdrs; i++) {
		const struct hdr_off *h = &c->hdrs[i];
		c->views[i].name = base + h->name_off;
		c->views[i].value = h->val_off != UINT32_MAX ? base + h->val_off : "";
	}
	c->req.headers = c->views;
	c->req.nheaders = (unsigned)c->nhdrs;
	c->views_built = true;
}

/* NUL-terminates names, values and the path in place (their delimiters have
 * all been consumed by now), then builds the views. */
static int terminate_head(struct sr_http_conn *c)
{
	unsigned char *base = c->in + c->msg_start;
	if (c->url_len == 0)
		return 400;
	char *url = (char *)base + c->url_off;
	url[c->url_len] = '\0';
	if (url[0] != '/')
		return 400;
	if (strlen(url) != c->url_len)
		return 400;
	char *q = memchr(url, '?', c->url_len);
	char *frag = memchr(url, '#', c->url_len);
	if (frag != NULL)
		*frag = '\0';
	c->query_off = 0;
	if (q != NULL && (frag == NULL || q < frag)) {
		*q = '\0';
		c->query_off = (uint32_t)(q + 1 - (char *)base);
	}

	if (c->nhdrs > c->views_cap) {
		c->views = sr_xreallocarray(c->views, c->nhdrs, sizeof *c->views);
		c->views_cap = c->nhdrs;
	}
	for (size_t i = 0; i < c->nhdrs; i++) {
		struct hdr_off *h = &c->hdrs[i];
		char *name = (char *)base + h->name_off;
		name[h->name_len] = '\0';
		/* A NUL inside a name or value would hide what follows from us
		 * while another hop might see it. */
		if (strlen(name) != h->name_len)
			return 400;
		if (h->val_off != UINT32_MAX) {
			char *v = (char *)base + h->val_off;
			size_t n = h->val_len;
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			v[n] = '\0';
			if (strlen(v) != n)
				return 400;
		}
	}
	build_views(c);
	return 0;
}

static int cb_headers_complete(http_parser *p)
{
	struct sr_http_conn *c = pconn(p);
	c->headers_done = true;
	c->method_known = true;
	c->req.method = http_method_str((enum http_method)p->method);
	c->is_head = p->method == HTTP_HEAD;
	int st = terminate_head(c);
	if (st != 0)
		goto fail;
	if (p->http_major != 1) {
		st = 505;
		goto fail;
	}
	if (c->reject_status != 0) {
		st = c->reject_status;
		goto fail;
	}
	/* RFC 9112 3.2: an HTTP/1.1 request without Host, or with several, is
	 * answered 400; two hops disagreeing on the host is a smuggling vector. */
	unsigned nhost = 0;
	for (size_t i = 0; i < c->nhdrs; i++)
		if (strcasecmp(c->views[i].name, "Host") == 0)
			nhost++;
	if (nhost > 1 || (nhost == 0 && p->http_minor >= 1)) {
		st = 400;
		goto fail;
	}
	const char *te = sr_http_header(&c->req, "Transfer-Encoding");
	if (te != NULL && strcasecmp(te, "chunked") != 0) {
		st = 501;
		goto fail;
	}
	const char *expect = sr_http_header(&c->req, "Expect");
	if (expect != NULL) {
		if (strcasecmp(expect, "100-continue") != 0) {
			st = 417;
			goto fail;
		}
		c->expect_continue = true;
	}

	c->route_status =
		(int)sr_router_match(c->env->router, c->req.method, c->req.path, &c->match);
	for (unsigned i = 0; i < c->match.nparams; i++)
		c->param_off[i] = (uint32_t)(c->match.params[i].value - c->req.path);
	size_t limit = c->env->limits.body_max;
	if (c->match.route != NULL) {
		const struct sr_route_opts *o = &c->match.route->opts;
		if (o->no_body)
			limit = 0;
		else if (o->body_max != 0 && o->body_max < limit)
			limit = o->body_max;
	}
	c->body_limit = limit;
	c->has_body = (p->flags & F_CHUNKED) != 0 ||
		      ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > 0);
	if ((p->flags & F_CONTENTLENGTH) != 0 && p->content_length > limit) {
		st = 413;
		goto fail;
	}
	if (c->has_body) {
		c->phase = SR_HC_BODY;
		/* Only ask for the body when we will accept it. */
		if (c->expect_continue && c->route_status == SR_ROUTE_FOUND)
			OUT_LIT(c, "HTTP/1.1 100 Continue\r\n\r\n");
	}
	return 0;
fail:
	c->err_status = st;
	return -1;
}

static int cb_body(http_parser *p, const char *at, size_t len)
{
	struct sr_http_conn *c = pconn(p);
	if (len > c->body_limit || c->body_len > c->body_limit - len) {
		c->err_status = 413;
		return -1;
	}
	uint32_t off = rel(c, at);
	if (c->body_len == 0 && c->body_off == 0)
		c->body_off = off;
	size_t dst = (size_t)c->body_off + c->body_len;
	/* De-chunk in place: chunk framing only ever shrinks the data, so the
	 * destination never overtakes what the parser still has to read. */
	if (dst != off)
		memmove(c->in + c->msg_start + dst, at, len);
	c->body_len += len;
	return 0;
}

static int cb_message_complete(http_parser *p)
{
	struct sr_http_conn *c = pconn(p);
	c->msg_complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_url = cb_url,
	.on_header_field = cb_header_field,
	.on_header_value = cb_header_value,
	.on_headers_complete = cb_headers_complete,
	.on_body = cb_body,
	.on_message_complete = cb_message_complete,
};

/* ---------------------------------------------------------------- dispatch */

static void finish_request(struct sr_http_conn *c)
{
	c->served++;
	arena_reset(c);
	/* The message is done with (views, body, de-chunked copy): wipe its
	 * bytes now rather than when the buffer is next compacted, so an idle
	 * keep-alive connection holds no password. */
	sr_wipe(c->in + c->msg_start, c->in_parsed - c->msg_start);
	c->msg_start = c->in_parsed;
	reset_message(c);
	c->phase = SR_HC_IDLE;
}

static void run_handler(struct sr_http_conn *c)
{
	const struct sr_route *r = c->match.route;
	for (unsigned i = 0; i < c->match.nparams; i++) {
		const struct sr_route_param *mp = &c->match.params[i];
		char *v = arena_alloc(c, mp->len + 1);
		memcpy(v, c->req.path + c->param_off[i], mp->len);
		v[mp->len] = '\0';
		c->params[i].name = mp->name;
		c->params[i].value = v;
	}
	c->req.params = c->params;
	c->req.nparams = c->match.nparams;
	c->req.route = r;
	r->handler(&c->req, r->data);
}

static void dispatch(struct sr_http_conn *c)
{
	build_views(c);
	ensure_request_id(c);
	if (c->body_len > 0)
		c->req.body = c->in + c->msg_start + c->body_off;
	c->req.body_len = c->body_len;
	if (c->route_status == SR_ROUTE_NOT_FOUND) {
		core_reply(c, 404, false);
	} else if (c->route_status == SR_ROUTE_METHOD_NOT_ALLOWED) {
		sr_http_add_header(&c->req, "Allow", c->match.allow);
		core_reply(c, 405, false);
	} else {
		run_handler(c);
		if (c->deferred) {
			c->phase = SR_HC_WAIT;
			return;
		}
		if (SR_NEVER(!c->replied))
			core_reply(c, 500, true);
	}
	finish_request(c);
}

/* ---------------------------------------------------------------- driving */

int sr_http_conn_read_space(struct sr_http_conn *c, unsigned char **p, size_t *n)
{
	/* Compact between requests only: views into the buffer stay valid while
	 * a request is being handled. */
	if (c->msg_start > 0 && c->phase != SR_HC_WAIT) {
		memmove(c->in, c->in + c->msg_start, c->in_len - c->msg_start);
		c->in_len -= c->msg_start;
		c->in_parsed -= c->msg_start;
		/* The move leaves a stale copy of the pipelined bytes behind. */
		sr_wipe(c->in + c->in_len, c->msg_start);
		c->msg_start = 0;
	}
	const struct sr_http_limits *l = &c->env->limits;
	size_t ceiling = l->request_line_max + l->header_bytes_max + l->body_max + 64 * 1024;
	if (c->in_cap - c->in_len < IN_GROW_MIN && c->in_cap < ceiling) {
		size_t cap = c->in_cap ? c->in_cap * 2 : IN_INITIAL;
		if (cap > ceiling)
			cap = ceiling;
		c->in = sr_xrealloc_wiped(c->in, c->in_len, cap);
		c->in_cap = cap;
	}
	if (c->in_len == c->in_cap) {
		/* Only a chunked body with heavy framing overhead gets here. */
		fail(c, c->headers_done ? 413 : 431);
		*p = NULL;
		*n = 0;
		return SR_E_LIMIT;
	}
	*p = c->in + c->in_len;
	*n = c->in_cap - c->in_len;
	return 0;
}

void sr_http_conn_commit(struct sr_http_conn *c, size_t n)
{
	SR_ASSERT(n <= c->in_cap - c->in_len);
	c->in_len += n;
}

bool sr_http_conn_wants_input(const struct sr_http_conn *c)
{
	return !c->close_after && !c->aborted && c->phase != SR_HC_WAIT &&
	       c->out_len < OUT_HIGH_WATER;
}

static int parse_error_status(struct sr_http_conn *c)
{
	if (c->err_status != 0)
		return c->err_status;
	switch (HTTP_PARSER_ERRNO(&c->parser)) {
	case HPE_HEADER_OVERFLOW: return c->headers_started ? 431 : 414;
	case HPE_INVALID_TRANSFER_ENCODING: return 501;
	case HPE_INVALID_VERSION: return 505;
	default: return 400;
	}
}

void sr_http_conn_process(struct sr_http_conn *c)
{
	while (!c->close_after && !c->aborted && c->phase != SR_HC_WAIT) {
		if (c->out_len >= OUT_HIGH_WATER || c->in_parsed >= c->in_len)
			return;
		if (c->phase == SR_HC_IDLE) {
			c->phase = SR_HC_HEAD;
			clock_gettime(CLOCK_MONOTONIC, &c->t_start);
		}
		size_t avail = c->in_len - c->in_parsed;
		size_t n = http_parser_execute(&c->parser, &parser_settings,
					       (const char *)c->in + c->in_parsed, avail);
		c->in_parsed += n;
		if (c->msg_complete) {
			http_parser_pause(&c->parser, 0);
			dispatch(c);
			continue;
		}
		if (c->err_status != 0 || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
			fail(c, parse_error_status(c));
			return;
		}
		/* Limits on a head that has not finished arriving. */
		size_t got = c->in_parsed - c->msg_start;
		if (!c->headers_started && !c->headers_done &&
		    got > c->env->limits.request_line_max + 2) {
			fail(c, 414);
			return;
		}
		if (c->headers_started && !c->headers_done &&
		    got - c->head_off > c->env->limits.header_bytes_max + 2) {
			fail(c, 431);
			return;
		}
	}
}

bool sr_http_conn_timeout(struct sr_http_conn *c)
{
	if (c->phase == SR_HC_HEAD || c->phase == SR_HC_BODY) {
		fail(c, 408);
		return true;
	}
	c->close_after = true;
	return false;
}

bool sr_http_conn_abort(struct sr_http_conn *c)
{
	c->aborted = true;
	c->close_after = true;
	return c->phase != SR_HC_WAIT;
}

/* ---------------------------------------------------------------- deferral */

static void job_done(void *arg)
{
	struct sr_http_conn *c = arg;
	SR_ASSERT(c->phase == SR_HC_WAIT);
	c->done_fn(&c->req, c->done_arg);
	if (!c->aborted && !c->replied)
		core_reply(c, 500, true);
	finish_request(c);
	if (c->kick != NULL)
		c->kick(c);
}

/* Runs on a worker thread: only the job's own argument is touched there. */
static void job_run(void *arg)
{
	struct sr_http_conn *c = arg;
	c->job_fn(c->done_arg);
}

int sr_http_submit(struct sr_http_req *req, void (*job)(void *arg),
		   void (*done)(struct sr_http_req *req, void *arg), void *arg)
{
	struct sr_http_conn *c = conn_of(req);
	SR_ASSERT(!c->deferred && !c->replied);
	if (c->env->workers == NULL || c->base == NULL)
		return SR_E_UNAVAILABLE;
	/* The worker runs job(arg); the done side needs the connection, which
	 * job_done finds through c. Keep both in the connection. */
	c->job_fn = job;
	c->done_fn = done;
	c->done_arg = arg;
	c->deferred = true;
	int rc = sr_workers_submit(c->env->workers, c->base, job_run, job_done, c);
	if (rc != 0) {
		c->deferred = false;
		c->done_fn = NULL;
		c->done_arg = NULL;
	}
	return rc;
}
