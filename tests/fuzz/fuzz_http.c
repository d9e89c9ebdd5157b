/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the HTTP/1.1 glue: arbitrary bytes, split into reads of
 * varying sizes (chosen by the first input byte), go through the same parser,
 * limits, router and response builder a TLS connection uses. Tight limits
 * make every limit reachable. Must never crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/http_int.h"
#include "net/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sr_router *router;
static struct sr_http_env env;

static void h_ok(struct sr_http_req *req, void *d)
{
	(void)d;
	sr_http_reply(req, 200, "application/json", "{}", 2);
}

static void h_echo(struct sr_http_req *req, void *d)
{
	(void)d;
	const char *id = sr_http_param(req, "id");
	const char *x = sr_http_header(req, "x-request-id");
	sr_http_add_header(req, "X-Len", id ? id : (x ? "x" : "-"));
	sr_http_reply(req, 200, "application/octet-stream", req->body, req->body_len);
}

static void h_json(struct sr_http_req *req, void *d)
{
	(void)d;
	json_error_t err;
	json_t *j = json_loadb((const char *)req->body, req->body_len, 0, &err);
	if (j == NULL) {
		sr_http_reply_error(req, 400, "invalid_request_error", "bad_json", "bad", "body");
		return;
	}
	sr_http_reply_json(req, 200, j);
}

static void h_defer(struct sr_http_req *req, void *d)
{
	(void)d;
	/* No pool here: exercises the refusal path. */
	if (sr_http_submit(req, NULL, NULL, NULL) != 0)
		sr_http_reply_busy(req);
}

static void init(void)
{
	sr_log_set_level(SR_LOG_OFF);
	router = sr_router_new();
	struct sr_route_opts small = {.body_max = 16};
	if (sr_router_add(router, "GET", "/healthz", h_ok, NULL, NULL) != 0 ||
	    sr_router_add(router, "POST", "/v1/things/{id}", h_echo, NULL, NULL) != 0 ||
	    sr_router_add(router, "PUT", "/v1/things/{id}/{sub}", h_echo, NULL, &small) != 0 ||
	    sr_router_add(router, "POST", "/json", h_json, NULL, NULL) != 0 ||
	    sr_router_add(router, "GET", "/defer", h_defer, NULL, NULL) != 0)
		abort();
	struct sr_http_limits l = {.request_line_max = 128,
				   .header_bytes_max = 512,
				   .header_count_max = 8,
				   .body_max = 2048,
				   .requests_per_connection = 20};
	sr_http_env_init(&env, router, &l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (router == NULL)
		init();
	size_t chunk = size > 0 ? (size_t)(data[0] % 17) : 0; /* 0 = as much as fits */
	if (size > 0) {
		data++;
		size--;
	}
	struct sr_http_conn c;
	sr_http_conn_init(&c, &env, NULL, NULL, "192.0.2.1");
	size_t off = 0;
	while (off < size && sr_http_conn_wants_input(&c)) {
		unsigned char *p;
		size_t n;
		if (sr_http_conn_read_space(&c, &p, &n) != 0)
			break;
		size_t take = size - off;
		if (chunk != 0 && take > chunk)
			take = chunk;
		if (take > n)
			take = n;
		memcpy(p, data + off, take);
		sr_http_conn_commit(&c, take);
		off += take;
		sr_http_conn_process(&c);
		/* The transport drains output as it goes. */
		if (c.out_len > 0)
			sr_http_conn_consume(&c, c.out_len);
	}
	/* A deadline passing mid-request must also be safe. */
	if (!c.close_after && sr_http_conn_timeout(&c))
		sr_http_conn_process(&c);
	sr_http_conn_release(&c);
	return 0;
}
