/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Query-string parameters: found, absent, percent-decoded, and refused when
 * malformed, repeated or too long.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "net/query.h"

#include <string.h>

static void test_found_and_absent(void **state)
{
	(void)state;
	char v[32];
	assert_int_equal(sr_query_get("limit=3&starting_after=17", "limit", v, sizeof v), 1);
	assert_string_equal(v, "3");
	assert_int_equal(sr_query_get("limit=3&starting_after=17", "starting_after", v, sizeof v),
			 1);
	assert_string_equal(v, "17");
	assert_int_equal(sr_query_get("limit=3", "starting_after", v, sizeof v), 0);
	assert_int_equal(sr_query_get("", "limit", v, sizeof v), 0);
	/* A prefix of another name is not that name. */
	assert_int_equal(sr_query_get("limits=3", "limit", v, sizeof v), 0);
	/* A bare name has an empty value. */
	assert_int_equal(sr_query_get("a&limit", "limit", v, sizeof v), 1);
	assert_string_equal(v, "");
}

static void test_decoding(void **state)
{
	(void)state;
	char v[32];
	assert_int_equal(sr_query_get("q=a%20b+c%2Bd", "q", v, sizeof v), 1);
	assert_string_equal(v, "a b c+d");
	assert_int_equal(sr_query_get("%6Cimit=5", "limit", v, sizeof v), 1);
	assert_string_equal(v, "5");
}

static void test_refusals(void **state)
{
	(void)state;
	char v[8];
	assert_int_equal(sr_query_get("limit=1&limit=2", "limit", v, sizeof v), SR_E_INVAL);
	assert_int_equal(sr_query_get("limit=%zz", "limit", v, sizeof v), SR_E_INVAL);
	assert_int_equal(sr_query_get("limit=%2", "limit", v, sizeof v), SR_E_INVAL);
	assert_int_equal(sr_query_get("limit=%", "limit", v, sizeof v), SR_E_INVAL);
	assert_int_equal(sr_query_get("limit=a%00b", "limit", v, sizeof v), SR_E_INVAL);
	assert_int_equal(sr_query_get("limit=12345678", "limit", v, sizeof v), SR_E_LIMIT);
	assert_int_equal(sr_query_get("limit=1234567", "limit", v, sizeof v), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_and_absent),
		cmocka_unit_test(test_decoding),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
