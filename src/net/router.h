/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_ROUTER_H
#define SR_NET_ROUTER_H

/*
 * Routes: a method and a path pattern ("/v1/payouts/{id}") mapped to a
 * handler. Patterns are split on '/'; a segment is either literal text or a
 * {name} that matches one non-empty segment. Built once at start-up, then
 * read-only and shared by every event-loop thread.
 */
#include "base/err.h"
#include "base/limits.h"
#include "net/http.h"

#include <stddef.h>

struct sr_router;

/* Per-route options; zero means "the server default". */
struct sr_route_opts {
	size_t body_max;           /* lower than [limits] body_max; 0 = default */
	bool no_body;              /* refuse any body (413) */
	const char *csp;           /* Content-Security-Policy override */
	const char *frame_options; /* X-Frame-Options override ... */
	bool omit_frame_options;   /* ... or leave it out */
	const char *cache_control; /* Cache-Control override */
};

struct sr_route {
	const char *method;  /* "GET" */
	const char *pattern; /* "/v1/payouts/{id}" (used as the metrics/log label) */
	sr_http_handler_fn handler;
	void *data;
	struct sr_route_opts opts;
	unsigned index; /* position in the table, 0-based */
};

enum sr_route_status { SR_ROUTE_FOUND = 0, SR_ROUTE_NOT_FOUND, SR_ROUTE_METHOD_NOT_ALLOWED };

struct sr_route_param {
	const char *name;
	const char *value; /* points into the matched path; not NUL-terminated */
	size_t len;
};

struct sr_route_match {
	const struct sr_route *route; /* when SR_ROUTE_FOUND */
	struct sr_route_param params[SR_HTTP_PATH_PARAMS_MAX];
	unsigned nparams;
	char allow[96]; /* when SR_ROUTE_METHOD_NOT_ALLOWED: "GET, HEAD, POST" */
};

struct sr_router *sr_router_new(void);
/* Frees the table; accepts NULL. */
void sr_router_free(struct sr_router *r);

/*
 * Adds a route. method and pattern are copied; data is borrowed; opts may be
 * NULL. Returns 0, SR_E_INVAL for a bad pattern (must start with '/', params
 * as whole segments {name}), SR_E_LIMIT past SR_HTTP_ROUTES_MAX routes or
 * SR_HTTP_PATH_PARAMS_MAX params, SR_E_EXISTS for a duplicate method+pattern.
 * Not thread-safe: only before the server starts.
 */
int sr_router_add(struct sr_router *r, const char *method, const char *pattern,
		  sr_http_handler_fn handler, void *data, const struct sr_route_opts *opts) SR_WUR;

/*
 * Finds the route for method and path (no query string). HEAD matches GET
 * routes. Fills m and returns an enum sr_route_status. Thread-safe.
 */
enum sr_route_status sr_router_match(const struct sr_router *r, const char *method,
				     const char *path, struct sr_route_match *m);

unsigned sr_router_count(const struct sr_router *r);
const struct sr_route *sr_router_at(const struct sr_router *r, unsigned i);

#endif
