/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/money: ISO 4217 exponents for common currencies and formatting of
 * integer minor units, including the edges (zero, negative, fewer digits
 * than the exponent, INT64_MIN, unknown and malformed codes, short buffers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/money.h"

static void exponents(void **state)
{
	(void)state;
	assert_int_equal(sr_money_exponent("EUR"), 2);
	assert_int_equal(sr_money_exponent("usd"), 2);
	assert_int_equal(sr_money_exponent("JPY"), 0);
	assert_int_equal(sr_money_exponent("KWD"), 3);
	assert_int_equal(sr_money_exponent("AED"), 2);
	assert_int_equal(sr_money_exponent("ZAR"), 2);
	assert_int_equal(sr_money_exponent("XXX"), SR_E_NOTFOUND);
	assert_int_equal(sr_money_exponent("EU"), SR_E_INVAL);
	assert_int_equal(sr_money_exponent("EURO"), SR_E_INVAL);
	assert_int_equal(sr_money_exponent("E1R"), SR_E_INVAL);
	assert_int_equal(sr_money_exponent(NULL), SR_E_INVAL);
}

static void check(int64_t minor, const char *cur, const char *want)
{
	char out[SR_MONEY_FMT_MAX];
	assert_int_equal(sr_money_format(minor, cur, out, sizeof out), 0);
	assert_string_equal(out, want);
}

static void formatting(void **state)
{
	(void)state;
	check(1234, "EUR", "12.34");
	check(5, "EUR", "0.05");
	check(0, "EUR", "0.00");
	check(-150, "gbp", "-1.50");
	check(500, "JPY", "500");
	check(-5, "KWD", "-0.005");
	check(1000, "BHD", "1.000");
	check(INT64_MAX, "USD", "92233720368547758.07");
	check(INT64_MIN, "USD", "-92233720368547758.08");
	char out[8];
	assert_int_equal(sr_money_format(123456789, "EUR", out, sizeof out), SR_E_LIMIT);
	assert_int_equal(sr_money_format(1, "XYZ", out, sizeof out), SR_E_NOTFOUND);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exponents),
		cmocka_unit_test(formatting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
