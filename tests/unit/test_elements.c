/* SPDX-License-Identifier: Apache-2.0 */
/*
 * [vault] platform_origins parsing: origins normalised as browsers
 * serialise them (the CSP and the exact ?origin= comparison depend on it),
 * and every malformed list refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "vault/elements.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_all(char **o, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(o[i]);
}

static void test_normalised(void **state)
{
	(void)state;
	char *o[SR_ELEMENTS_ORIGINS_MAX];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(
		sr_elements_parse_origins(" HTTPS://Shop.Example:443/ ,https://a.example:8443,"
					  "\thttp://127.0.0.1:3000, http://LOCALHOST:80,"
					  "http://[::1]:9000, https://[2001:db8::1]",
					  o, SR_ELEMENTS_ORIGINS_MAX, &n, err, sizeof err),
		0);
	assert_int_equal(n, 6);
	assert_string_equal(o[0], "https://shop.example");
	assert_string_equal(o[1], "https://a.example:8443");
	assert_string_equal(o[2], "http://127.0.0.1:3000");
	assert_string_equal(o[3], "http://localhost");
	assert_string_equal(o[4], "http://[::1]:9000");
	assert_string_equal(o[5], "https://[2001:db8::1]");
	free_all(o, n);

	assert_int_equal(sr_elements_parse_origins("https://localhost:8443", o,
						   SR_ELEMENTS_ORIGINS_MAX, &n, err, sizeof err),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(o[0], "https://localhost:8443");
	free_all(o, n);
}

static void refused(const char *list, const char *why)
{
	char *o[SR_ELEMENTS_ORIGINS_MAX];
	size_t n = 99;
	char err[256] = "";
	assert_int_equal(
		sr_elements_parse_origins(list, o, SR_ELEMENTS_ORIGINS_MAX, &n, err, sizeof err),
		SR_E_CONFIG);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < SR_ELEMENTS_ORIGINS_MAX; i++)
		assert_null(o[i]);
	if (strstr(err, why) == NULL)
		fail_msg("'%s': reason '%s' does not say '%s'", list, err, why);
}

static void test_refused(void **state)
{
	(void)state;
	refused("", "empty origin");
	refused("  ", "empty origin");
	refused("https://a.example,", "empty origin");
	refused("https://a.example,,https://b.example", "empty origin");
	refused("*", "must start with https://");
	refused("shop.example", "must start with https://");
	refused("ftp://shop.example", "must start with https://");
	refused("javascript://shop.example", "must start with https://");
	refused("https://*.shop.example", "wildcard");
	refused("https://shop.example/pay", "no path");
	refused("https://shop.example?x=1", "no path");
	refused("https://user@shop.example", "user");
	refused("https://", "empty host");
	refused("https://:443", "empty host");
	refused("https://.example", "invalid host");
	refused("https://shop.example:0", "invalid port");
	refused("https://shop.example:65536", "invalid port");
	refused("https://shop.example:", "invalid port");
	refused("https://shop.example:08443", "invalid port");
	refused("https://shop.example:84a3", "invalid port");
	refused("https://[::1", "unclosed");
	refused("https://[zz]", "invalid [IPv6]");
	refused("http://shop.example", "http:// for a host other than localhost");
	refused("http://127.0.0.2", "http:// for a host other than localhost");
	refused("https://a.example, https://A.example:443", "listed twice");
	refused("https://a.example, https://b.example/, https://c.example/x", "no path");
}

static void test_limits(void **state)
{
	(void)state;
	char *o[SR_ELEMENTS_ORIGINS_MAX];
	size_t n;
	char err[256];
	char list[2048] = "";
	size_t off = 0;
	for (int i = 0; i <= SR_ELEMENTS_ORIGINS_MAX; i++)
		off += (size_t)snprintf(list + off, sizeof list - off, "%shttps://s%d.example",
					i ? "," : "", i);
	assert_int_equal(
		sr_elements_parse_origins(list, o, SR_ELEMENTS_ORIGINS_MAX, &n, err, sizeof err),
		SR_E_CONFIG);
	assert_non_null(strstr(err, "more than 16"));
	assert_int_equal(n, 0);

	char longest[400];
	memset(longest, 'a', sizeof longest);
	memcpy(longest, "https://", 8);
	longest[sizeof longest - 1] = '\0';
	refused(longest, "longer than 255");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalised),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
