/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP/1.1 glue without sockets: bytes in, response bytes out. Checks
 * what a client would see: status lines, headers, bodies, order of pipelined
 * answers, every [limits] answer followed by a close.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/http_int.h"
#include "net/router.h"
#include "net/workers.h"

#include <event2/event.h>

static struct sr_router *router;
static struct sr_http_env env;

static void h_ok(struct sr_http_req *req, void *data)
{
	(void)data;
	sr_http_reply(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void h_echo(struct sr_http_req *req, void *data)
{
	(void)data;
	sr_http_reply(req, 200, "application/octet-stream", req->body, req->body_len);
}

/* Shows what the handler received: path param, query, a header. */
static void h_show(struct sr_http_req *req, void *data)
{
	(void)data;
	const char *tag = sr_http_header(req, "x-tag");
	json_t *j = json_pack("{s:s,s:s,s:s,s:s?}", "id", sr_http_param(req, "id"), "path",
			      req->path, "query", req->query, "tag", tag);
	sr_http_add_header(req, "X-Extra", "1");
	sr_http_reply_json(req, 200, j);
}

static void h_page(struct sr_http_req *req, void *data)
{
	(void)data;
	sr_http_set_csp(req, "default-src 'self'");
	sr_http_set_frame_options(req, NULL);
	sr_http_reply(req, 200, "text/html", "<p>", 3);
}

static int setup(void **state)
{
	(void)state;
	sr_log_set_level(SR_LOG_OFF);
	router = sr_router_new();
	struct sr_route_opts small = {.body_max = 10};
	assert_int_equal(sr_router_add(router, "GET", "/healthz", h_ok, NULL, NULL), 0);
	assert_int_equal(sr_router_add(router, "POST", "/echo", h_echo, NULL, NULL), 0);
	assert_int_equal(sr_router_add(router, "POST", "/small", h_echo, NULL, &small), 0);
	assert_int_equal(sr_router_add(router, "GET", "/v1/payouts/{id}", h_show, NULL, NULL), 0);
	assert_int_equal(sr_router_add(router, "GET", "/page", h_page, NULL, NULL), 0);
	struct sr_http_limits l = {.request_line_max = 256,
				   .header_bytes_max = 1024,
				   .header_count_max = 8,
				   .body_max = 4096,
				   .requests_per_connection = 100};
	sr_http_env_init(&env, router, &l);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sr_router_free(router);
	return 0;
}

/* Feeds data in pieces of chunk bytes (0: all at once); returns the output
 * as a fresh string and empties the conn's output buffer. */
static char *feed(struct sr_http_conn *c, const char *data, size_t len, size_t chunk)
{
	size_t off = 0;
	while (off < len && sr_http_conn_wants_input(c)) {
		unsigned char *p;
		size_t n;
		if (sr_http_conn_read_space(c, &p, &n) != 0)
			break;
		size_t take = len - off;
		if (chunk && take > chunk)
			take = chunk;
		if (take > n)
			take = n;
		memcpy(p, data + off, take);
		sr_http_conn_commit(c, take);
		off += take;
		sr_http_conn_process(c);
	}
	char *s = malloc(c->out_len + 1);
	if (c->out_len > 0)
		memcpy(s, c->out, c->out_len);
	s[c->out_len] = '\0';
	sr_http_conn_consume(c, c->out_len);
	return s;
}

static char *one(const char *req, bool *closed)
{
	struct sr_http_conn c;
	sr_http_conn_init(&c, &env, NULL, NULL, "127.0.0.1");
	char *out = feed(&c, req, strlen(req), 0);
	if (closed)
		*closed = c.close_after;
	sr_http_conn_release(&c);
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static void test_simple_get(void **state)
{
	(void)state;
	bool closed;
	char *out = one("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(
		out, "\r\nStrict-Transport-Security: max-age=63072000; includeSubDomains\r\n"));
	assert_non_null(strstr(out, "\r\nX-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(out, "\r\nReferrer-Policy: no-referrer\r\n"));
	assert_non_null(strstr(
		out,
		"\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"));
	assert_non_null(strstr(out, "\r\nX-Frame-Options: DENY\r\n"));
	assert_non_null(strstr(out, "\r\nCache-Control: no-store\r\n"));
	assert_non_null(strstr(out, "\r\nContent-Length: 15\r\n"));
	const char *rid = strstr(out, "\r\nX-Request-Id: req_");
	assert_non_null(rid);
	assert_int_equal(strspn(rid + 20, "0123456789abcdef"), 20);
	assert_memory_equal(rid + 40, "\r\n", 2);
	assert_non_null(strstr(out, "\r\n\r\n{\"status\":\"ok\"}"));
	assert_null(strstr(out, "Connection: close"));
	assert_false(closed);
	free(out);
}

static void test_request_id(void **state)
{
	(void)state;
	char *out =
		one("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc.DEF_1-2\r\n\r\n", NULL);
	assert_non_null(strstr(out, "\r\nX-Request-Id: abc.DEF_1-2\r\n"));
	free(out);
	out = one("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: bad id\r\n\r\n", NULL);
	assert_null(strstr(out, "bad id"));
	assert_non_null(strstr(out, "\r\nX-Request-Id: req_"));
	free(out);
	char big[200];
	snprintf(big, sizeof big, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: %065d\r\n\r\n",
		 7);
	out = one(big, NULL);
	assert_non_null(strstr(out, "\r\nX-Request-Id: req_"));
	free(out);
}

static void test_pipelined_in_order_any_split(void **state)
{
	(void)state;
	const char *reqs =
		"GET /v1/payouts/po_1 HTTP/1.1\r\nHost: x\r\n\r\n"
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
		"GET /v1/payouts/po_2?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	for (size_t chunk = 0; chunk <= 7; chunk++) {
		struct sr_http_conn c;
		sr_http_conn_init(&c, &env, NULL, NULL, NULL);
		char *out = feed(&c, reqs, strlen(reqs), chunk);
		const char *a = strstr(out, "\"id\":\"po_1\"");
		const char *b = strstr(out, "\r\n\r\nhello");
		const char *d = strstr(out, "HTTP/1.1 404");
		const char *e = strstr(out, "\r\n\r\nabcdefg");
		const char *f = strstr(out, "\"id\":\"po_2\"");
		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(d);
		assert_non_null(e);
		assert_non_null(f);
		assert_true(a < b && b < d && d < e && e < f);
		assert_int_equal(count(out, "HTTP/1.1 "), 5);
		assert_int_equal(count(out, "Connection: close"), 1);
		assert_true(c.close_after);
		assert_int_equal(c.served, 5);
		free(out);
		sr_http_conn_release(&c);
	}
}

static void test_params_query_headers(void **state)
{
	(void)state;
	char *out = one("GET /v1/payouts/po_42?limit=3&starting_after=x HTTP/1.1\r\nHost: x\r\n"
			"X-Tag:   padded value \t\r\n\r\n",
			NULL);
	assert_non_null(strstr(out, "\"id\":\"po_42\""));
	assert_non_null(strstr(out, "\"path\":\"/v1/payouts/po_42\""));
	assert_non_null(strstr(out, "\"query\":\"limit=3&starting_after=x\""));
	assert_non_null(strstr(out, "\"tag\":\"padded value\""));
	assert_non_null(strstr(out, "\r\nX-Extra: 1\r\n"));
	free(out);
}

static void test_route_overrides(void **state)
{
	(void)state;
	char *out = one("GET /page HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
	assert_non_null(strstr(out, "\r\nContent-Security-Policy: default-src 'self'\r\n"));
	assert_null(strstr(out, "X-Frame-Options"));
	free(out);
}

static void test_404_405(void **state)
{
	(void)state;
	bool closed;
	char *out = one("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
	assert_non_null(strstr(out, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(
		out, "{\"error\":{\"type\":\"invalid_request_error\",\"code\":\"not_found\""));
	assert_non_null(strstr(out, "\"param\":null}}"));
	assert_false(closed);
	free(out);
	out = one("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
	assert_non_null(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
	free(out);
}

static void test_head(void **state)
{
	(void)state;
	char *out = one("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", NULL);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out, "\r\nContent-Length: 15\r\n"));
	assert_null(strstr(out, "status"));
	free(out);
}

/* Every limit: the defined status, then Connection: close and close_after. */
static void expect_close(const char *req, const char *status_line)
{
	bool closed = false;
	char *out = one(req, &closed);
	if (strstr(out, status_line) == NULL)
		fail_msg("want %s, got: %.200s", status_line, out);
	assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(out, "{\"error\":{"));
	assert_true(closed);
	if (count(out, "HTTP/1.1 ") != 1)
		fail_msg("one answer expected, got: %s", out);
	free(out);
}

static void test_limits(void **state)
{
	(void)state;
	char buf[4096];
	/* request line over 256 */
	memset(buf, 0, sizeof buf);
	snprintf(buf, sizeof buf, "GET /%0300d HTTP/1.1\r\nHost: x\r\n\r\n", 1);
	expect_close(buf, "HTTP/1.1 414 ");
	/* a request line that never ends */
	snprintf(buf, sizeof buf, "GET /%0400d", 1);
	expect_close(buf, "HTTP/1.1 414 ");
	/* 9 headers > 8 */
	strcpy(buf, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); /* banned-ok: test */
	for (int i = 0; i < 9; i++)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "X-H%d: v\r\n", i);
	strncat(buf, "\r\n", sizeof buf - strlen(buf) - 1);
	expect_close(buf, "HTTP/1.1 431 ");
	/* header bytes > 1024 */
	snprintf(buf, sizeof buf, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %01100d\r\n\r\n", 1);
	expect_close(buf, "HTTP/1.1 431 ");
	/* Content-Length over body_max: refused before any body byte */
	expect_close("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
		     "HTTP/1.1 413 ");
	/* per-route limit */
	expect_close("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
		     "HTTP/1.1 413 ");
	/* chunked over the route limit */
	expect_close("POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n",
		     "HTTP/1.1 413 ");
	expect_close("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		     "HTTP/1.1 501 ");
	expect_close(
		"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 417 ");
	expect_close("GET /healthz HTTP/2.0\r\n\r\n", "HTTP/1.1 505 ");
}

static void test_malformed(void **state)
{
	(void)state;
	expect_close("GARBAGE\r\n\r\n", "HTTP/1.1 400 ");
	expect_close("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "HTTP/1.1 400 ");
	expect_close("GET http://example.com/healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 ");
	expect_close("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: "
		     "2\r\n\r\nxx",
		     "HTTP/1.1 400 ");
	expect_close("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
		     "chunked\r\n\r\n",
		     "HTTP/1.1 400 ");
	expect_close("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n",
		     "HTTP/1.1 400 ");
	expect_close("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		     "HTTP/1.1 400 ");
}

static void test_expect_continue(void **state)
{
	(void)state;
	char *out = one("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: "
			"2\r\n\r\nhi",
			NULL);
	assert_memory_equal(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42);
	assert_non_null(strstr(out, "\r\n\r\nhi"));
	free(out);
}

static void test_keepalive_rules(void **state)
{
	(void)state;
	bool closed;
	char *out = one("GET /healthz HTTP/1.0\r\n\r\n", &closed);
	assert_non_null(strstr(out, "Connection: close"));
	assert_true(closed);
	free(out);
	out = one("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &closed);
	assert_non_null(strstr(out, "Connection: keep-alive"));
	assert_false(closed);
	free(out);

	/* requests_per_connection: the last allowed answer carries close. */
	struct sr_http_env e2 = env;
	e2.limits.requests_per_connection = 2;
	struct sr_http_conn c;
	sr_http_conn_init(&c, &e2, NULL, NULL, NULL);
	const char *three =
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	out = feed(&c, three, strlen(three), 0);
	assert_int_equal(count(out, "HTTP/1.1 200"), 2);
	assert_int_equal(count(out, "Connection: close"), 1);
	assert_true(c.close_after);
	free(out);
	sr_http_conn_release(&c);

	/* draining: requests already pipelined are all answered; closing the
	 * idle connection afterwards is the server's job (server.c). */
	atomic_store(&env.draining, true);
	sr_http_conn_init(&c, &env, NULL, NULL, NULL);
	const char *two =
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	out = feed(&c, two, strlen(two), 0);
	atomic_store(&env.draining, false);
	assert_int_equal(count(out, "HTTP/1.1 200"), 2);
	assert_false(c.close_after);
	free(out);
	sr_http_conn_release(&c);
}

static void test_timeouts_and_reject(void **state)
{
	(void)state;
	struct sr_http_conn c;
	sr_http_conn_init(&c, &env, NULL, NULL, NULL);
	char *out = feed(&c, "GET /heal", 9, 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(c.phase, SR_HC_HEAD);
	assert_true(sr_http_conn_timeout(&c));
	out = feed(&c, "", 0, 0);
	assert_non_null(strstr(out, "HTTP/1.1 408 "));
	assert_true(c.close_after);
	free(out);
	sr_http_conn_release(&c);

	/* idle: nothing to answer, just close */
	sr_http_conn_init(&c, &env, NULL, NULL, NULL);
	assert_false(sr_http_conn_timeout(&c));
	assert_true(c.close_after);
	sr_http_conn_release(&c);

	/* over the per-address limit: the first request gets 429 */
	sr_http_conn_init(&c, &env, NULL, NULL, NULL);
	c.reject_status = 429;
	out = feed(&c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		   strlen("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
	assert_non_null(strstr(out, "HTTP/1.1 429 "));
	assert_non_null(strstr(out, "\"type\":\"rate_limit_error\""));
	assert_true(c.close_after);
	free(out);
	sr_http_conn_release(&c);
}

static void test_big_body_byte_by_byte(void **state)
{
	(void)state;
	char req[5000];
	int n = snprintf(req, sizeof req,
			 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n");
	memset(req + n, 'z', 4096);
	struct sr_http_conn c;
	sr_http_conn_init(&c, &env, NULL, NULL, NULL);
	char *out = feed(&c, req, (size_t)n + 4096, 1);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(out, "Content-Length: 4096\r\n"));
	assert_int_equal(strlen(strstr(out, "\r\n\r\n") + 4), 4096);
	free(out);
	sr_http_conn_release(&c);
}

struct slow {
	int in, out;
};

/* Whether needle occurs anywhere in the first n bytes of hay. */
static bool holds(const unsigned char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; hay != NULL && i + k <= n; i++)
		if (hay[i] == (unsigned char)needle[0] &&
		    strncmp((const char *)hay + i, needle, k) == 0)
			return true;
	return false;
}

/* Request and response bytes are wiped from the connection's buffers once
 * their request is over, while the connection stays open: a chunked body
 * (de-chunked in place), a header echoed in a JSON answer, both pipelined,
 * and both buffers grown on the way (a 4000-byte body and its echo). */
static void test_request_bytes_wiped(void **state)
{
	(void)state;
	struct sr_http_conn c;
	sr_http_conn_init(&c, &env, NULL, NULL, "127.0.0.1");
	char big[3989]; /* with "pw=SECRET-C!", a 4000-byte body */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char req[8192];
	int n = snprintf(req, sizeof req,
			 "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "b\r\npw=SECRET-A\r\n0\r\n\r\n"
			 "GET /v1/payouts/po_1 HTTP/1.1\r\nHost: a\r\nX-Tag: SECRET-B\r\n\r\n"
			 "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4000\r\n\r\n"
			 "%spw=SECRET-C!",
			 big);
	assert_true(n > 0 && (size_t)n < sizeof req);
	char *out = feed(&c, req, (size_t)n, 7);
	/* The handlers saw the secrets (the test means something)... */
	assert_int_equal(count(out, "HTTP/1.1 200"), 3);
	assert_non_null(strstr(out, "pw=SECRET-A"));
	assert_non_null(strstr(out, "\"tag\":\"SECRET-B\""));
	assert_non_null(strstr(out, "pw=SECRET-C!"));
	assert_false(c.close_after);
	/* ...and no buffer of the open connection still holds them. */
	for (const char *const *s = (const char *const[]){"SECRET-A", "SECRET-B", "SECRET-C", NULL};
	     *s != NULL; s++) {
		assert_false(holds(c.in, c.in_cap, *s));
		assert_false(holds(c.out, c.out_cap, *s));
	}
	free(out);
	sr_http_conn_release(&c);
}

static void slow_job(void *arg)
{
	struct slow *s = arg;
	s->out = s->in * 2;
}

static void slow_done(struct sr_http_req *req, void *arg)
{
	struct slow *s = arg;
	char body[32];
	int n = snprintf(body, sizeof body, "%d", s->out);
	free(s);
	if (!sr_http_aborted(req))
		sr_http_reply(req, 200, "text/plain", body, (size_t)n);
}

static void h_slow(struct sr_http_req *req, void *data)
{
	(void)data;
	struct slow *s = calloc(1, sizeof *s);
	s->in = 21;
	if (sr_http_submit(req, slow_job, slow_done, s) != 0) {
		free(s);
		sr_http_reply_busy(req);
	}
}

static int kicks;

static void on_kick(struct sr_http_conn *c)
{
	kicks++;
	sr_http_conn_process(c);
	event_base_loopbreak(c->base);
}

/* A deferred answer keeps pipelined requests behind it, in order; a full
 * queue answers 503. */
static void test_deferred(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct sr_workers *w = sr_workers_new(1, 4);
	assert_int_equal(sr_workers_attach(w, base), 0);
	struct sr_router *r = sr_router_new();
	assert_int_equal(sr_router_add(r, "GET", "/slow", h_slow, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "GET", "/healthz", h_ok, NULL, NULL), 0);
	struct sr_http_env e2 = env;
	e2.router = r;
	e2.workers = w;
	struct sr_http_conn c;
	sr_http_conn_init(&c, &e2, NULL, base, NULL);
	c.kick = on_kick;
	const char *two =
		"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char *out = feed(&c, two, strlen(two), 0);
	assert_string_equal(out, "");
	assert_int_equal(c.phase, SR_HC_WAIT);
	assert_false(sr_http_conn_wants_input(&c));
	free(out);
	event_base_dispatch(base);
	assert_int_equal(kicks, 1);
	out = feed(&c, "", 0, 0);
	const char *a = strstr(out, "\r\n\r\n42");
	const char *b = strstr(out, "{\"status\":\"ok\"}");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	free(out);
	sr_http_conn_release(&c);

	/* No pool: the handler answers 503 itself. */
	e2.workers = NULL;
	sr_http_conn_init(&c, &e2, NULL, base, NULL);
	out = feed(&c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n",
		   strlen("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
	assert_non_null(strstr(out, "HTTP/1.1 503 "));
	assert_non_null(strstr(out, "\"code\":\"service_unavailable\""));
	free(out);
	sr_http_conn_release(&c);
	sr_workers_free(w);
	sr_router_free(r);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_request_id),
		cmocka_unit_test(test_pipelined_in_order_any_split),
		cmocka_unit_test(test_params_query_headers),
		cmocka_unit_test(test_route_overrides),
		cmocka_unit_test(test_404_405),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_keepalive_rules),
		cmocka_unit_test(test_timeouts_and_reject),
		cmocka_unit_test(test_big_body_byte_by_byte),
		cmocka_unit_test(test_deferred),
		cmocka_unit_test(test_request_bytes_wiped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
