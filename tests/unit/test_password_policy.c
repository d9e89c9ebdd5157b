/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/password_policy: length counts code points (12 with a second factor,
 * 15 without, up to 128); invalid UTF-8 is refused; no composition rules;
 * the shipped list is embedded and refuses common passwords in any case and
 * padded with digits; the email's local part and name words of 4+ characters
 * are refused; every refusal has a code and a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "lib/password_policy.h"

#include <stdio.h>
#include <string.h>

static struct sr_password_list *list;

static int setup(void **state)
{
	(void)state;
	return sr_password_list_embedded(&list) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	sr_password_list_free(list);
	return 0;
}

static enum sr_password_problem check(const char *pw, bool mfa)
{
	struct sr_password_candidate c = {
		pw, strlen(pw), "ada.lovelace@example.com", 24, "Ada King Lovelace", 17, mfa};
	return sr_password_policy_check(list, &c);
}

static void length_counts_code_points(void **state)
{
	(void)state;
	assert_int_equal(check("abcdefghjkm", true), SR_PASSWORD_TOO_SHORT);   /* 11 */
	assert_int_equal(check("abcdefghjkmn", true), SR_PASSWORD_OK);         /* 12 */
	assert_int_equal(check("abcdefghjkmn", false), SR_PASSWORD_TOO_SHORT); /* 1FA: 15 */
	assert_int_equal(check("abcdefghjkmnpqr", false), SR_PASSWORD_OK);
	/* 12 two-byte characters are 24 bytes but 12 characters; 11 are too few
	 * even though 22 bytes > 12. */
	assert_int_equal(check("ééééééééééé", true), SR_PASSWORD_TOO_SHORT);
	assert_int_equal(check("éééééééééééé", true), SR_PASSWORD_OK);
	/* 64 CJK characters (192 bytes) and 128 ASCII ones are accepted; 129 are not. */
	char buf[600] = "";
	for (int i = 0; i < 64; i++)
		strncat(buf, "密", sizeof buf - strlen(buf) - 1);
	assert_int_equal(check(buf, false), SR_PASSWORD_OK);
	memset(buf, 'x', 128);
	buf[128] = '\0';
	for (int i = 0; i < 128; i += 3)
		buf[i] = (char)('a' + i % 26);
	assert_int_equal(check(buf, false), SR_PASSWORD_OK);
	buf[128] = 'y';
	buf[129] = '\0';
	assert_int_equal(check(buf, false), SR_PASSWORD_TOO_LONG);
	assert_string_equal(sr_password_problem_code(SR_PASSWORD_TOO_LONG), "too_long");
}

static void refuses_invalid_utf8(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"abcdefghjkmn\xff",
		"abcdefghjkmn\xc3",
		"abcdefghjkmn\xc0\xaf",         /* overlong '/' */
		"abcdefghjkmn\xed\xa0\x80",     /* surrogate */
		"abcdefghjkmn\xf4\x90\x80\x80", /* > U+10FFFF */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(check(bad[i], true), SR_PASSWORD_INVALID_ENCODING);
	struct sr_password_candidate nul = {"abcdefghjkmn\0pqrs", 17, NULL, 0, NULL, 0, true};
	assert_int_equal(sr_password_policy_check(list, &nul), SR_PASSWORD_INVALID_ENCODING);
	assert_int_equal(sr_password_utf8_chars("a\xf0\x9f\x94\x91", 5), 2);
}

static void no_composition_rules(void **state)
{
	(void)state;
	assert_int_equal(check("correct horse battery staple", false), SR_PASSWORD_OK);
	assert_int_equal(check("zzzzyyyyxxxxwwww", false), SR_PASSWORD_OK);
	assert_int_equal(check("1593574862059384", false), SR_PASSWORD_OK);
}

static void refuses_common_passwords(void **state)
{
	(void)state;
	assert_true(sr_password_list_count(list) > 3000);
	assert_int_equal(check("winniethepooh", true), SR_PASSWORD_COMMON);
	assert_int_equal(check("WinnieThePooh", true), SR_PASSWORD_COMMON);
	assert_int_equal(check("password123456", true), SR_PASSWORD_COMMON);
	assert_int_equal(check("!!qwerty!!2024", true), SR_PASSWORD_COMMON);
	assert_int_equal(check("2024Monkey!!!!!!", false), SR_PASSWORD_COMMON);
	/* A listed word inside other words is fine: length is what counts. */
	assert_int_equal(check("my monkey eats pasta", false), SR_PASSWORD_OK);
	assert_string_equal(sr_password_problem_code(SR_PASSWORD_COMMON), "common");
}

static void list_parsing(void **state)
{
	(void)state;
	struct sr_password_list *l = NULL;
	const char text[] = "# comment\r\nHunter2Hunter2\r\n\nhunter2hunter2\nlast-line-no-newline";
	assert_int_equal(sr_password_list_parse(text, sizeof text - 1, &l), 0);
	assert_int_equal(sr_password_list_count(l), 2);
	struct sr_password_candidate c = {"HUNTER2hunter2", 14, NULL, 0, NULL, 0, true};
	assert_int_equal(sr_password_policy_check(l, &c), SR_PASSWORD_COMMON);
	c.password = "last-line-no-newline";
	c.len = strlen(c.password);
	assert_int_equal(sr_password_policy_check(l, &c), SR_PASSWORD_COMMON);
	c.password = "# comment";
	c.len = strlen(c.password);
	c.has_second_factor = true;
	assert_int_equal(sr_password_policy_check(l, &c), SR_PASSWORD_TOO_SHORT);
	sr_password_list_free(l);
	assert_int_equal(sr_password_list_parse("", 0, &l), 0);
	assert_int_equal(sr_password_list_count(l), 0);
	sr_password_list_free(l);
	assert_int_equal(sr_password_list_parse("x", SR_PASSWORD_LIST_MAX_BYTES + 1, &l),
			 SR_E_LIMIT);
	assert_null(l);
}

static void refuses_email_and_name(void **state)
{
	(void)state;
	assert_int_equal(check("ada.lovelace", true), SR_PASSWORD_CONTAINS_EMAIL);
	assert_int_equal(check("xxADA.LOVELACExx", true), SR_PASSWORD_CONTAINS_EMAIL);
	assert_int_equal(check("lovelace rules ok", false), SR_PASSWORD_CONTAINS_NAME);
	assert_int_equal(check("the KING of numbers", false), SR_PASSWORD_CONTAINS_NAME);
	/* "Ada" is shorter than 4 characters: ignored. */
	assert_int_equal(check("ada likes numbers", false), SR_PASSWORD_OK);
	/* A short local part is ignored too, a long one is matched whole. */
	struct sr_password_candidate c = {
		"bobby tables forever", 20, "bob@example.com", 15, NULL, 0, false};
	assert_int_equal(sr_password_policy_check(list, &c), SR_PASSWORD_OK);
	c.email = "bobby@example.com";
	c.email_len = 17;
	assert_int_equal(sr_password_policy_check(list, &c), SR_PASSWORD_CONTAINS_EMAIL);
	/* Non-ASCII name words count characters, not bytes. */
	c.email = NULL;
	c.name = "Zoë Øre";
	c.name_len = strlen(c.name);
	c.password = "zoë øre is not in here";
	c.len = strlen(c.password);
	assert_int_equal(sr_password_policy_check(list, &c), SR_PASSWORD_OK);
	c.name = "Zoëy";
	c.name_len = strlen(c.name);
	c.password = "i am zoëy, hello there";
	c.len = strlen(c.password);
	assert_int_equal(sr_password_policy_check(list, &c), SR_PASSWORD_CONTAINS_NAME);
}

static void every_problem_has_code_and_message(void **state)
{
	(void)state;
	assert_null(sr_password_problem_code(SR_PASSWORD_OK));
	for (int p = SR_PASSWORD_INVALID_ENCODING; p <= SR_PASSWORD_CONTAINS_NAME; p++) {
		assert_non_null(sr_password_problem_code((enum sr_password_problem)p));
		assert_true(strlen(sr_password_problem_message((enum sr_password_problem)p, true)) >
			    10);
	}
	assert_non_null(strstr(sr_password_problem_message(SR_PASSWORD_TOO_SHORT, false), "15"));
	assert_non_null(strstr(sr_password_problem_message(SR_PASSWORD_TOO_SHORT, true), "12"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(length_counts_code_points),
		cmocka_unit_test(refuses_invalid_utf8),
		cmocka_unit_test(no_composition_rules),
		cmocka_unit_test(refuses_common_passwords),
		cmocka_unit_test(list_parsing),
		cmocka_unit_test(refuses_email_and_name),
		cmocka_unit_test(every_problem_has_code_and_message),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
