/* SPDX-License-Identifier: Apache-2.0 */
/*
 * platform/profile_check: the rules a profile value meets before it is
 * sealed. E.164 numbers, anti-phishing codes (length and characters),
 * dates of birth (real calendar dates, not in the future, not absurdly
 * old), ISO 3166-1 country codes, free text (UTF-8, no control
 * characters).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "platform/profile.h"

#include <string.h>

static void phone_numbers(void **state)
{
	(void)state;
	assert_null(sr_profile_check_phone("+447700900123"));
	assert_null(sr_profile_check_phone("+14155550100"));
	assert_null(sr_profile_check_phone("+4915112345678"));
	assert_null(sr_profile_check_phone("+123456789012345"));      /* 15 digits: the maximum */
	assert_non_null(sr_profile_check_phone("+1234567890123456")); /* 16 digits */
	assert_non_null(sr_profile_check_phone("447700900123"));      /* no '+' */
	assert_non_null(sr_profile_check_phone("+047700900123"));     /* country code 0 */
	assert_non_null(sr_profile_check_phone("+44 7700 900123"));   /* spaces */
	assert_non_null(sr_profile_check_phone("+44-7700-900123"));
	assert_non_null(sr_profile_check_phone("+4477009a0123"));
	assert_non_null(sr_profile_check_phone("+1234567")); /* too short */
	assert_non_null(sr_profile_check_phone(""));
}

static void anti_phishing_codes(void **state)
{
	(void)state;
	assert_null(sr_profile_check_anti_phishing("PLUM-42"));
	assert_null(sr_profile_check_anti_phishing("blue heron 7"));
	assert_null(sr_profile_check_anti_phishing("abcd"));
	assert_null(sr_profile_check_anti_phishing("a_b.c!d"));
	char max[SR_PROFILE_APC_MAX + 2];
	memset(max, 'x', SR_PROFILE_APC_MAX);
	max[SR_PROFILE_APC_MAX] = '\0';
	assert_null(sr_profile_check_anti_phishing(max));
	max[SR_PROFILE_APC_MAX] = 'x';
	max[SR_PROFILE_APC_MAX + 1] = '\0';
	assert_non_null(sr_profile_check_anti_phishing(max));   /* 33 */
	assert_non_null(sr_profile_check_anti_phishing("abc")); /* 3 */
	assert_non_null(sr_profile_check_anti_phishing(" abcd"));
	assert_non_null(sr_profile_check_anti_phishing("abcd "));
	assert_non_null(sr_profile_check_anti_phishing("ab  cd"));
	assert_non_null(sr_profile_check_anti_phishing("<b>hi</b>"));
	assert_non_null(sr_profile_check_anti_phishing("line\nbreak"));
	assert_non_null(sr_profile_check_anti_phishing("caf\xc3\xa9s")); /* non-ASCII */
	assert_non_null(sr_profile_check_anti_phishing("http://x"));
}

static void dates_of_birth(void **state)
{
	(void)state;
	int today = 20260115;
	assert_null(sr_profile_check_date_of_birth("1990-02-28", today));
	assert_null(sr_profile_check_date_of_birth("2000-02-29", today));     /* leap year */
	assert_null(sr_profile_check_date_of_birth("2026-01-15", today));     /* today */
	assert_non_null(sr_profile_check_date_of_birth("1900-02-29", today)); /* not leap */
	assert_non_null(sr_profile_check_date_of_birth("1990-02-30", today));
	assert_non_null(sr_profile_check_date_of_birth("1990-13-01", today));
	assert_non_null(sr_profile_check_date_of_birth("1990-00-10", today));
	assert_non_null(sr_profile_check_date_of_birth("2026-01-16", today)); /* future */
	assert_non_null(sr_profile_check_date_of_birth("1895-01-01", today)); /* > 130 y */
	assert_non_null(sr_profile_check_date_of_birth("1990-1-01", today));
	assert_non_null(sr_profile_check_date_of_birth("01/02/1990", today));
	assert_non_null(sr_profile_check_date_of_birth("1990-01-01T00:00", today));
	assert_non_null(sr_profile_check_date_of_birth("", today));
}

static void countries(void **state)
{
	(void)state;
	assert_null(sr_profile_check_country("DE"));
	assert_null(sr_profile_check_country("gb"));
	assert_null(sr_profile_check_country("Us"));
	assert_null(sr_profile_check_country("ZW"));
	assert_null(sr_profile_check_country("AD"));
	assert_non_null(sr_profile_check_country("UK")); /* not assigned: GB is */
	assert_non_null(sr_profile_check_country("XX"));
	assert_non_null(sr_profile_check_country("DEU"));
	assert_non_null(sr_profile_check_country("D"));
	assert_non_null(sr_profile_check_country("1A"));
	assert_non_null(sr_profile_check_country(""));
}

static void text(void **state)
{
	(void)state;
	assert_null(sr_profile_check_text("Ada Lovelace", 200, true));
	assert_null(sr_profile_check_text("Zo\xc3\xab \xe6\x9d\x8e", 200, true)); /* UTF-8 */
	assert_null(sr_profile_check_text("", 200, false));
	assert_non_null(sr_profile_check_text("", 200, true));
	assert_non_null(sr_profile_check_text("   ", 200, true));
	assert_non_null(sr_profile_check_text("a\tb", 200, true));
	assert_non_null(sr_profile_check_text("a\nb", 200, true));
	assert_non_null(sr_profile_check_text("a\x7f", 200, true));
	assert_non_null(sr_profile_check_text("\xc2\x85", 200, true));     /* C1 control */
	assert_non_null(sr_profile_check_text("\xc3\x28", 200, true));     /* bad UTF-8 */
	assert_non_null(sr_profile_check_text("\xc0\xaf", 200, true));     /* overlong */
	assert_non_null(sr_profile_check_text("\xed\xa0\x80", 200, true)); /* surrogate */
	assert_non_null(sr_profile_check_text("abcdef", 5, true));
	assert_null(sr_profile_check_text("abcde", 5, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(phone_numbers),  cmocka_unit_test(anti_phishing_codes),
		cmocka_unit_test(dates_of_birth), cmocka_unit_test(countries),
		cmocka_unit_test(text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
