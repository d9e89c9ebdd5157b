/* SPDX-License-Identifier: Apache-2.0 */
/* Route table: pattern validation, literal and {param} matching, 404 vs 405
 * with the Allow list, HEAD on GET routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "net/router.h"

static void h(struct sr_http_req *req, void *data)
{
	(void)req;
	(void)data;
}

static struct sr_router *table(void)
{
	struct sr_router *r = sr_router_new();
	assert_int_equal(sr_router_add(r, "GET", "/healthz", h, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "GET", "/v1/payouts", h, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "POST", "/v1/payouts", h, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "GET", "/v1/payouts/{id}", h, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "POST", "/v1/payouts/{id}/cancel", h, NULL, NULL), 0);
	assert_int_equal(
		sr_router_add(r, "GET", "/v1/members/{member}/cards/{card}", h, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "GET", "/", h, NULL, NULL), 0);
	return r;
}

static void test_literal_and_params(void **state)
{
	(void)state;
	struct sr_router *r = table();
	struct sr_route_match m;
	assert_int_equal(sr_router_match(r, "GET", "/healthz", &m), SR_ROUTE_FOUND);
	assert_string_equal(m.route->pattern, "/healthz");
	assert_int_equal(m.nparams, 0);

	assert_int_equal(sr_router_match(r, "GET", "/v1/payouts/po_123", &m), SR_ROUTE_FOUND);
	assert_string_equal(m.route->pattern, "/v1/payouts/{id}");
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.params[0].name, "id");
	assert_int_equal(m.params[0].len, 6);
	assert_memory_equal(m.params[0].value, "po_123", 6);

	assert_int_equal(sr_router_match(r, "GET", "/v1/members/usr_1/cards/card_2", &m),
			 SR_ROUTE_FOUND);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(m.params[1].name, "card");
	assert_memory_equal(m.params[1].value, "card_2", 6);

	assert_int_equal(sr_router_match(r, "POST", "/v1/payouts/po_9/cancel", &m), SR_ROUTE_FOUND);
	assert_string_equal(m.route->pattern, "/v1/payouts/{id}/cancel");
	assert_int_equal(sr_router_match(r, "GET", "/", &m), SR_ROUTE_FOUND);
	assert_string_equal(m.route->pattern, "/");
	sr_router_free(r);
}

static void test_not_found(void **state)
{
	(void)state;
	struct sr_router *r = table();
	struct sr_route_match m;
	const char *paths[] = {"/healthz/",
			       "/healthzz",
			       "/v1/payouts/",
			       "/v1/payouts//cancel",
			       "/v1/payouts/a/b",
			       "/V1/payouts",
			       "",
			       "healthz",
			       "//"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		assert_int_equal(sr_router_match(r, "GET", paths[i], &m), SR_ROUTE_NOT_FOUND);
		assert_null(m.route);
	}
	sr_router_free(r);
}

static void test_method_not_allowed(void **state)
{
	(void)state;
	struct sr_router *r = table();
	struct sr_route_match m;
	assert_int_equal(sr_router_match(r, "DELETE", "/v1/payouts", &m),
			 SR_ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "GET, HEAD, POST");
	assert_int_equal(sr_router_match(r, "POST", "/healthz", &m), SR_ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "GET, HEAD");
	assert_int_equal(sr_router_match(r, "GET", "/v1/payouts/x/cancel", &m),
			 SR_ROUTE_METHOD_NOT_ALLOWED);
	assert_string_equal(m.allow, "POST");
	/* HEAD is served by GET routes. */
	assert_int_equal(sr_router_match(r, "HEAD", "/healthz", &m), SR_ROUTE_FOUND);
	assert_string_equal(m.route->method, "GET");
	sr_router_free(r);
}

static void test_bad_patterns(void **state)
{
	(void)state;
	struct sr_router *r = sr_router_new();
	assert_int_equal(sr_router_add(r, "GET", "healthz", h, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "GET", "/a/{", h, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "GET", "/a/{}", h, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "GET", "/a/x{id}", h, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "GET", "/a?b", h, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "get", "/a", h, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "GET", "/a", NULL, NULL, NULL), SR_E_INVAL);
	assert_int_equal(sr_router_add(r, "GET", "/a/{p1}/{p2}/{p3}/{p4}/{p5}/{p6}/{p7}/{p8}/{p9}",
				       h, NULL, NULL),
			 SR_E_LIMIT);
	assert_int_equal(sr_router_add(r, "GET", "/a", h, NULL, NULL), 0);
	assert_int_equal(sr_router_add(r, "GET", "/a", h, NULL, NULL), SR_E_EXISTS);
	assert_int_equal(sr_router_count(r), 1);
	sr_router_free(r);
}

static void test_route_limit(void **state)
{
	(void)state;
	struct sr_router *r = sr_router_new();
	char p[32];
	for (int i = 0; i < SR_HTTP_ROUTES_MAX; i++) {
		snprintf(p, sizeof p, "/r%d", i);
		assert_int_equal(sr_router_add(r, "GET", p, h, NULL, NULL), 0);
	}
	assert_int_equal(sr_router_add(r, "GET", "/one-more", h, NULL, NULL), SR_E_LIMIT);
	struct sr_route_match m;
	assert_int_equal(sr_router_match(r, "GET", "/r255", &m), SR_ROUTE_FOUND);
	assert_int_equal(m.route->index, 255);
	sr_router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_and_params), cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_method_not_allowed), cmocka_unit_test(test_bad_patterns),
		cmocka_unit_test(test_route_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
