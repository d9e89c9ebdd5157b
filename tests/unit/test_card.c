/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Card data validation against shared/data/testvectors/cards.md: every listed
 * number is valid with its brand; any single-digit change fails Luhn; lengths
 * per brand; every IIN range boundary; expiry through the last day of the
 * month; CVC length per brand; names; masking never shows more than 6+4;
 * the card JSON is strict and each refusal names the API code and param.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "lib/card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vector {
	char number[64];
	char brand[64];
};

/* The sandbox table of cards.md: "| number | brand ... | outcome |" rows. */
static size_t load_vectors(struct vector *v, size_t max)
{
	FILE *f = fopen(SR_SOURCE_DIR "/../shared/data/testvectors/cards.md", "r");
	assert_non_null(f);
	char line[512];
	size_t n = 0;
	while (fgets(line, sizeof line, f) != NULL && n < max) {
		char num[64], brand[64];
		if (sscanf(line, "| %63[0-9] | %63[a-z]", num, brand) == 2) {
			memcpy(v[n].number, num, sizeof num);
			memcpy(v[n].brand, brand, sizeof brand);
			n++;
		}
	}
	fclose(f);
	return n;
}

/* A Luhn-valid number: prefix, then zeros, then the check digit; len digits. */
static void make_pan(const char *prefix, size_t len, char *out)
{
	size_t p = strlen(prefix);
	assert_true(p < len);
	memcpy(out, prefix, p);
	memset(out + p, '0', len - p);
	out[len] = '\0';
	for (char d = '0'; d <= '9'; d++) {
		out[len - 1] = d;
		if (sr_card_luhn_ok(out, len))
			return;
	}
	fail();
}

static int parse(const char *text, struct sr_card_pan *pan)
{
	return sr_card_pan_parse(text, strlen(text), pan);
}

static void cards_md_numbers_are_valid_with_their_brand(void **state)
{
	(void)state;
	struct vector v[64];
	size_t n = load_vectors(v, 64);
	assert_true(n >= 16); /* the table as of writing */
	for (size_t i = 0; i < n; i++) {
		struct sr_card_pan pan;
		assert_int_equal(parse(v[i].number, &pan), 0);
		assert_string_equal(sr_card_brand_name(pan.brand), v[i].brand);
		assert_string_equal(pan.digits, v[i].number);
		assert_int_equal(pan.len, strlen(v[i].number));
	}
}

static void any_single_digit_change_fails(void **state)
{
	(void)state;
	struct vector v[64];
	size_t n = load_vectors(v, 64);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i].number);
		for (size_t pos = 0; pos < len; pos++) {
			for (char d = '0'; d <= '9'; d++) {
				char m[32];
				memcpy(m, v[i].number, len + 1);
				if (m[pos] == d)
					continue;
				m[pos] = d;
				struct sr_card_pan pan;
				assert_int_equal(parse(m, &pan), SR_E_INVAL);
				/* The struct is wiped on failure: no digits left behind. */
				assert_int_equal(pan.len, 0);
				assert_int_equal(pan.digits[0], '\0');
			}
		}
		/* Swapping two adjacent different digits is caught too (Luhn's other job). */
		char m[32];
		memcpy(m, v[i].number, len + 1);
		for (size_t pos = 0; pos + 1 < len; pos++) {
			if (m[pos] == m[pos + 1] || (m[pos] == '0' && m[pos + 1] == '9') ||
			    (m[pos] == '9' && m[pos + 1] == '0'))
				continue; /* 09/90 is Luhn's known blind spot */
			char t = m[pos];
			m[pos] = m[pos + 1];
			m[pos + 1] = t;
			struct sr_card_pan pan;
			assert_int_equal(parse(m, &pan), SR_E_INVAL);
			memcpy(m, v[i].number, len + 1);
		}
	}
}

static void separators_between_groups_only(void **state)
{
	(void)state;
	struct sr_card_pan pan;
	const char *ok[] = {"4242 4242 4242 4242", "4242-4242-4242-4242", "3782 822463 10005",
			    "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2", "4242-4242 4242-4242"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		assert_int_equal(parse(ok[i], &pan), 0);
		assert_true(pan.len == 16 || pan.len == 15);
	}
	const char *bad[] = {" 4242424242424242",
			     "4242424242424242 ",
			     "4242  4242 4242 4242",
			     "4242--4242-4242-4242",
			     "4242 -4242 4242 4242",
			     "-4242424242424242",
			     "4242\t4242424242424242",
			     "4242.4242.4242.4242",
			     "４２４２424242424242",
			     "4242424242424242\n",
			     "",
			     "424242424242424x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(parse(bad[i], &pan), SR_E_INVAL);
	/* An embedded NUL ends nothing: the length given is what is checked. */
	assert_int_equal(sr_card_pan_parse("4242424242424242\0", 17, &pan), SR_E_INVAL);
	/* Long text is refused by size before looking at it. */
	char longtext[SR_CARD_NUMBER_TEXT_MAX + 2];
	memset(longtext, '4', sizeof longtext - 1);
	longtext[sizeof longtext - 1] = '\0';
	assert_int_equal(parse(longtext, &pan), SR_E_INVAL);
}

static void lengths_per_brand(void **state)
{
	(void)state;
	struct {
		const char *prefix;
		size_t len;
		int ok;
	} cases[] = {
		{"4", 11, 0},    {"4", 12, 0},    {"4", 13, 1},    {"4", 14, 0},    {"4", 15, 0},
		{"4", 16, 1},    {"4", 17, 0},    {"4", 18, 0},    {"4", 19, 1},    {"4", 20, 0},
		{"51", 15, 0},   {"51", 16, 1},   {"51", 17, 0},   {"2221", 16, 1}, {"2221", 19, 0},
		{"34", 15, 1},   {"34", 16, 0},   {"37", 14, 0},   {"6011", 15, 0}, {"6011", 16, 1},
		{"6011", 19, 1}, {"3528", 15, 0}, {"3528", 16, 1}, {"3528", 19, 1}, {"36", 13, 0},
		{"36", 14, 1},   {"36", 19, 1},   {"62", 15, 0},   {"62", 16, 1},   {"62", 19, 1},
		{"50", 11, 0},   {"50", 12, 1},   {"50", 19, 1},   {"2200", 15, 0}, {"2200", 16, 1},
		{"2200", 19, 1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char num[32];
		make_pan(cases[i].prefix, cases[i].len, num);
		struct sr_card_pan pan;
		int rc = parse(num, &pan);
		if ((rc == 0) != cases[i].ok)
			print_error("%s (%zu digits): %d\n", num, cases[i].len, rc);
		assert_int_equal(rc == 0, cases[i].ok);
	}
}

static void iin_range_boundaries(void **state)
{
	(void)state;
	struct {
		const char *prefix;
		enum sr_card_brand brand;
	} cases[] = {
		{"2199", SR_CARD_BRAND_UNKNOWN},    {"2200", SR_CARD_BRAND_MIR},
		{"2204", SR_CARD_BRAND_MIR},        {"2205", SR_CARD_BRAND_UNKNOWN},
		{"2220", SR_CARD_BRAND_UNKNOWN},    {"2221", SR_CARD_BRAND_MASTERCARD},
		{"2500", SR_CARD_BRAND_MASTERCARD}, {"2720", SR_CARD_BRAND_MASTERCARD},
		{"2721", SR_CARD_BRAND_UNKNOWN},    {"3", SR_CARD_BRAND_DINERS},
		{"300", SR_CARD_BRAND_DINERS},      {"305", SR_CARD_BRAND_DINERS},
		{"306", SR_CARD_BRAND_UNKNOWN},     {"31", SR_CARD_BRAND_UNKNOWN},
		{"33", SR_CARD_BRAND_UNKNOWN},      {"34", SR_CARD_BRAND_AMEX},
		{"35", SR_CARD_BRAND_UNKNOWN},      {"3527", SR_CARD_BRAND_UNKNOWN},
		{"3528", SR_CARD_BRAND_JCB},        {"3589", SR_CARD_BRAND_JCB},
		{"3590", SR_CARD_BRAND_UNKNOWN},    {"36", SR_CARD_BRAND_DINERS},
		{"37", SR_CARD_BRAND_AMEX},         {"38", SR_CARD_BRAND_DINERS},
		{"39", SR_CARD_BRAND_DINERS},       {"4", SR_CARD_BRAND_VISA},
		{"49", SR_CARD_BRAND_VISA},         {"50", SR_CARD_BRAND_MAESTRO},
		{"51", SR_CARD_BRAND_MASTERCARD},   {"55", SR_CARD_BRAND_MASTERCARD},
		{"56", SR_CARD_BRAND_MAESTRO},      {"59", SR_CARD_BRAND_MAESTRO},
		{"60", SR_CARD_BRAND_UNKNOWN},      {"6010", SR_CARD_BRAND_UNKNOWN},
		{"6011", SR_CARD_BRAND_DISCOVER},   {"6012", SR_CARD_BRAND_UNKNOWN},
		{"61", SR_CARD_BRAND_UNKNOWN},      {"62", SR_CARD_BRAND_UNIONPAY},
		{"63", SR_CARD_BRAND_MAESTRO},      {"643", SR_CARD_BRAND_UNKNOWN},
		{"644", SR_CARD_BRAND_DISCOVER},    {"649", SR_CARD_BRAND_DISCOVER},
		{"65", SR_CARD_BRAND_DISCOVER},     {"66", SR_CARD_BRAND_UNKNOWN},
		{"67", SR_CARD_BRAND_MAESTRO},      {"68", SR_CARD_BRAND_UNKNOWN},
		{"80", SR_CARD_BRAND_UNKNOWN},      {"81", SR_CARD_BRAND_UNIONPAY},
		{"82", SR_CARD_BRAND_UNKNOWN},      {"1", SR_CARD_BRAND_UNKNOWN},
		{"7", SR_CARD_BRAND_UNKNOWN},       {"9", SR_CARD_BRAND_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* "3" alone means 3000…: diners 300. */
		enum sr_card_brand want = cases[i].brand;
		size_t len = want == SR_CARD_BRAND_AMEX ? 15 : 16;
		char num[32];
		make_pan(cases[i].prefix, len, num);
		if (sr_card_brand_of(num, len) != want)
			print_error("%s: got %s\n", num,
				    sr_card_brand_name(sr_card_brand_of(num, len)));
		assert_int_equal(sr_card_brand_of(num, len), want);
		struct sr_card_pan pan;
		assert_int_equal(parse(num, &pan), want == SR_CARD_BRAND_UNKNOWN ? SR_E_INVAL : 0);
		if (want != SR_CARD_BRAND_UNKNOWN)
			assert_int_equal(pan.brand, want);
	}
}

static time_t utc(int y, int mon, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mon - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};
	return timegm(&tm);
}

static void expiry_through_last_day_of_month(void **state)
{
	(void)state;
	unsigned y4;
	time_t last = utc(2024, 2, 29, 23, 59, 59), next = utc(2024, 3, 1, 0, 0, 0);
	assert_int_equal(sr_card_expiry_check(2, 2024, last, &y4), SR_CARD_OK);
	assert_int_equal(y4, 2024);
	assert_int_equal(sr_card_expiry_check(2, 24, last, &y4), SR_CARD_OK);
	assert_int_equal(y4, 2024);
	assert_int_equal(sr_card_expiry_check(2, 2024, next, &y4), SR_CARD_EXPIRED);
	assert_int_equal(y4, 0);
	assert_int_equal(sr_card_expiry_check(3, 2024, next, NULL), SR_CARD_OK);
	assert_int_equal(sr_card_expiry_check(12, 2023, next, NULL), SR_CARD_EXPIRED);
	assert_int_equal(sr_card_expiry_check(1, 2025, next, NULL), SR_CARD_OK);
	/* December rolls into the next year. */
	assert_int_equal(sr_card_expiry_check(12, 2024, utc(2024, 12, 31, 23, 59, 59), NULL),
			 SR_CARD_OK);
	assert_int_equal(sr_card_expiry_check(12, 2024, utc(2025, 1, 1, 0, 0, 0), NULL),
			 SR_CARD_EXPIRED);
	/* Months. */
	assert_int_equal(sr_card_expiry_check(0, 2030, next, NULL), SR_CARD_INVALID_EXPIRY_MONTH);
	assert_int_equal(sr_card_expiry_check(13, 2030, next, NULL), SR_CARD_INVALID_EXPIRY_MONTH);
	assert_int_equal(sr_card_expiry_check(-1, 2030, next, NULL), SR_CARD_INVALID_EXPIRY_MONTH);
	assert_int_equal(sr_card_expiry_check(1, 2030, next, NULL), SR_CARD_OK);
	assert_int_equal(sr_card_expiry_check(12, 2030, next, NULL), SR_CARD_OK);
	/* Years: two or four digits, not too far ahead. */
	assert_int_equal(sr_card_expiry_check(1, 2024 + SR_CARD_EXPIRY_YEARS_MAX, next, NULL),
			 SR_CARD_OK);
	assert_int_equal(sr_card_expiry_check(1, 2025 + SR_CARD_EXPIRY_YEARS_MAX, next, NULL),
			 SR_CARD_INVALID_EXPIRY_YEAR);
	assert_int_equal(sr_card_expiry_check(1, 100, next, NULL), SR_CARD_INVALID_EXPIRY_YEAR);
	assert_int_equal(sr_card_expiry_check(1, 1999, next, NULL), SR_CARD_INVALID_EXPIRY_YEAR);
	assert_int_equal(sr_card_expiry_check(1, 2100, next, NULL), SR_CARD_INVALID_EXPIRY_YEAR);
	assert_int_equal(sr_card_expiry_check(1, -5, next, NULL), SR_CARD_INVALID_EXPIRY_YEAR);
	assert_int_equal(sr_card_expiry_check(1, 0, next, NULL), SR_CARD_EXPIRED); /* 2000 */
}

static void cvc_per_brand(void **state)
{
	(void)state;
	assert_true(sr_card_cvc_ok("123", 3, SR_CARD_BRAND_VISA));
	assert_true(sr_card_cvc_ok("000", 3, SR_CARD_BRAND_MASTERCARD));
	assert_false(sr_card_cvc_ok("1234", 4, SR_CARD_BRAND_VISA));
	assert_false(sr_card_cvc_ok("12", 2, SR_CARD_BRAND_VISA));
	assert_false(sr_card_cvc_ok("12a", 3, SR_CARD_BRAND_VISA));
	assert_false(sr_card_cvc_ok("", 0, SR_CARD_BRAND_VISA));
	assert_true(sr_card_cvc_ok("1234", 4, SR_CARD_BRAND_AMEX));
	assert_false(sr_card_cvc_ok("123", 3, SR_CARD_BRAND_AMEX));
	assert_false(sr_card_cvc_ok("12345", 5, SR_CARD_BRAND_AMEX));
	assert_false(sr_card_cvc_ok("12 4", 4, SR_CARD_BRAND_AMEX));
}

static void names(void **state)
{
	(void)state;
	char hundred[SR_CARD_NAME_MAX + 2];
	memset(hundred, 'a', sizeof hundred);
	const char *ok[] = {"Jane Doe", "Zoë Ångström", "李小龍", "O'Brien-Smith", "A", "😀 x"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_true(sr_card_name_ok(ok[i], strlen(ok[i])));
	assert_true(sr_card_name_ok(hundred, SR_CARD_NAME_MAX));
	assert_false(sr_card_name_ok(hundred, SR_CARD_NAME_MAX + 1));
	const char *bad[] = {"",
			     "   ",
			     "a\tb",
			     "a\nb",
			     "a\x7f",
			     "a\xc2\x85",
			     "\xc0\xaf",
			     "\xed\xa0\x80",
			     "abc\xc3",
			     "\xf4\x90\x80\x80",
			     "\xe0\x80\xaf",
			     "\xff",
			     "a\xe2\x80"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_false(sr_card_name_ok(bad[i], strlen(bad[i])));
	assert_false(sr_card_name_ok("a\0b", 3));
}

/* Counts digits shown in a mask and checks they are the PAN's own. */
static void check_mask(const struct sr_card_pan *pan)
{
	char m[32], last4[5], bin6[7];
	assert_int_equal(sr_card_pan_mask(pan, m, sizeof m), 0);
	assert_int_equal(strlen(m), pan->len);
	size_t lead = 0, shown = 0;
	while (lead < pan->len && m[lead] != '*')
		lead++;
	for (size_t i = 0; i < pan->len; i++) {
		if (m[i] != '*') {
			assert_int_equal(m[i], pan->digits[i]);
			shown++;
		}
	}
	assert_true(lead <= 6);
	assert_true(shown <= 10);
	assert_true(pan->len - shown >= 5);
	assert_memory_equal(m + pan->len - 4, pan->digits + pan->len - 4, 4);
	assert_int_equal(sr_card_pan_last4(pan, last4), 0);
	assert_string_equal(last4, pan->digits + pan->len - 4);
	assert_int_equal(sr_card_pan_bin6(pan, bin6), 0);
	assert_memory_equal(bin6, pan->digits, 6);
	assert_int_equal(strlen(bin6), 6);
}

static void masking_shows_at_most_6_and_4(void **state)
{
	(void)state;
	struct sr_card_pan pan;
	char m[32];
	assert_int_equal(parse("4242424242424242", &pan), 0);
	assert_int_equal(sr_card_pan_mask(&pan, m, sizeof m), 0);
	assert_string_equal(m, "424242******4242");
	assert_int_equal(sr_card_pan_mask(&pan, m, 16), SR_E_LIMIT);
	assert_int_equal(parse("378282246310005", &pan), 0);
	assert_int_equal(sr_card_pan_mask(&pan, m, sizeof m), 0);
	assert_string_equal(m, "378282*****0005");
	struct vector v[64];
	size_t n = load_vectors(v, 64);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(parse(v[i].number, &pan), 0);
		check_mask(&pan);
	}
	for (size_t len = 12; len <= 19; len++) {
		char num[32];
		make_pan("50", len, num); /* maestro issues every length */
		assert_int_equal(parse(num, &pan), 0);
		check_mask(&pan);
	}
	struct sr_card_pan empty = {0};
	assert_int_equal(sr_card_pan_mask(&empty, m, sizeof m), SR_E_INVAL);
	assert_int_equal(sr_card_pan_last4(&empty, m), SR_E_INVAL);
	assert_int_equal(sr_card_pan_bin6(NULL, m), SR_E_INVAL);
}

static void error_codes_and_params(void **state)
{
	(void)state;
	struct {
		enum sr_card_error e;
		const char *code, *param;
	} cases[] = {
		{SR_CARD_INVALID_NUMBER, "invalid_number", "number"},
		{SR_CARD_INVALID_EXPIRY_MONTH, "invalid_expiry_month", "exp_month"},
		{SR_CARD_INVALID_EXPIRY_YEAR, "invalid_expiry_year", "exp_year"},
		{SR_CARD_EXPIRED, "expired_card", NULL},
		{SR_CARD_INVALID_CVC, "invalid_cvc", "cvc"},
		{SR_CARD_INVALID_NAME, "invalid_name", "name"},
		{SR_CARD_INVALID_PAYLOAD, "invalid_card_payload", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_string_equal(sr_card_error_code(cases[i].e), cases[i].code);
		if (cases[i].param == NULL)
			assert_null(sr_card_error_param(cases[i].e));
		else
			assert_string_equal(sr_card_error_param(cases[i].e), cases[i].param);
	}
	assert_null(sr_card_error_code(SR_CARD_OK));
}

#define NOW   ((time_t)1700000000) /* 2023-11-14 */
#define NONCE "\"nonce\":\"AAECAwQFBgcICQoLDA0ODw\",\"iat\":1700000000"

static int payload(const char *json, struct sr_card *card, enum sr_card_error *why)
{
	return sr_card_payload_parse(json, strlen(json), NOW, card, why);
}

static void payload_strict(void **state)
{
	(void)state;
	struct sr_card *card = sr_card_new();
	assert_non_null(card);
	enum sr_card_error why;

	assert_int_equal(payload("{\"number\":\"4242 4242 4242 4242\",\"exp_month\":\"03\","
				 "\"exp_year\":\"2030\",\"cvc\":\"123\",\"name\":\"Jane\"," NONCE
				 "}",
				 card, &why),
			 0);
	assert_int_equal(why, SR_CARD_OK);
	assert_string_equal(card->pan.digits, "4242424242424242");
	assert_int_equal(card->exp_month, 3);
	assert_int_equal(card->exp_year, 2030);
	assert_string_equal(card->cvc, "123");
	assert_int_equal(card->cvc_len, 3);
	assert_string_equal(card->name, "Jane");
	assert_string_equal(card->nonce, "AAECAwQFBgcICQoLDA0ODw");
	assert_int_equal(card->iat, 1700000000);

	struct {
		const char *json;
		int rc;
		enum sr_card_error why;
	} cases[] = {
		/* years and months in their accepted spellings */
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":30,\"cvc\":"
		 "\"123\"," NONCE "}",
		 0, SR_CARD_OK},
		{"{\"number\":\"4242424242424242\",\"exp_month\":\"3\",\"exp_year\":\"30\",\"cvc\":"
		 "\"123\"," NONCE "}",
		 0, SR_CARD_OK},
		{"{\"number\":\"378282246310005\",\"exp_month\":12,\"exp_year\":2030,\"cvc\":"
		 "\"1234\"," NONCE "}",
		 0, SR_CARD_OK},
		/* each field's own error */
		{"{\"number\":4242424242424242,\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_NUMBER},
		{"{\"number\":\"4242424242424241\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_NUMBER},
		{"{\"exp_month\":3,\"exp_year\":2030,\"cvc\":\"123\"," NONCE "}", SR_E_INVAL,
		 SR_CARD_INVALID_NUMBER},
		{"{\"number\":\"4242424242424242\",\"exp_month\":\"003\",\"exp_year\":2030,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_MONTH},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3.0,\"exp_year\":2030,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_MONTH},
		{"{\"number\":\"4242424242424242\",\"exp_month\":13,\"exp_year\":2030,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_MONTH},
		{"{\"number\":\"4242424242424242\",\"exp_month\":\" "
		 "3\",\"exp_year\":2030,\"cvc\":\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_MONTH},
		{"{\"number\":\"4242424242424242\",\"exp_year\":2030,\"cvc\":\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_MONTH},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":\"203\",\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_YEAR},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":\"3\",\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_YEAR},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":true,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_YEAR},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":99999999999,"
		 "\"cvc\":\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_EXPIRY_YEAR},
		{"{\"number\":\"4242424242424242\",\"exp_month\":10,\"exp_year\":2023,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_EXPIRED},
		{"{\"number\":\"4242424242424242\",\"exp_month\":11,\"exp_year\":2023,\"cvc\":"
		 "\"123\"," NONCE "}",
		 0, SR_CARD_OK},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "123," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_CVC},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"1234\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_CVC},
		{"{\"number\":\"378282246310005\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_CVC},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_CVC},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"name\":\"\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_NAME},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"name\":\"a\\u0007b\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_NAME},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"name\":null," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_NAME},
		/* shape: unknown members, duplicates, nonce, iat, not an object, not JSON */
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"zip\":\"12345\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"number\":\"5555555555554444\",\"exp_month\":3,"
		 "\"exp_year\":2030,\"cvc\":\"123\"," NONCE "}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"iat\":1}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"nonce\":\"AAECAwQFBgcICQo\",\"iat\":1}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"nonce\":\"AAECAwQFBgcICQoLDA0ODw==\",\"iat\":1}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"nonce\":\"AAECAwQFBgcICQoLDA0ODw\",\"iat\":\"1\"}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"nonce\":\"AAECAwQFBgcICQoLDA0ODw\",\"iat\":-1}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242424242424242\",\"exp_month\":3,\"exp_year\":2030,\"cvc\":"
		 "\"123\",\"nonce\":\"AAECAwQFBgcICQoLDA0ODw\",\"iat\":1.5}",
		 SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"[]", SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"{\"number\":\"4242", SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
		{"", SR_E_INVAL, SR_CARD_INVALID_PAYLOAD},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = payload(cases[i].json, card, &why);
		if (rc != cases[i].rc || why != cases[i].why)
			print_error("case %zu: %s -> %d %s\n", i, cases[i].json, rc,
				    sr_card_error_code(why));
		assert_int_equal(rc, cases[i].rc);
		assert_int_equal(why, cases[i].why);
		if (rc != 0) {
			/* Nothing of a refused card is left in the struct. */
			struct sr_card zero;
			memset(&zero, 0, sizeof zero);
			assert_memory_equal(card, &zero, sizeof zero);
		}
	}

	/* Size limit: a payload one byte over is refused unread. */
	char *big = malloc(SR_CARD_PAYLOAD_MAX + 2);
	memset(big, ' ', SR_CARD_PAYLOAD_MAX + 1);
	big[SR_CARD_PAYLOAD_MAX + 1] = '\0';
	assert_int_equal(payload(big, card, &why), SR_E_LIMIT);
	assert_int_equal(why, SR_CARD_INVALID_PAYLOAD);
	free(big);
	sr_card_free(card);
	sr_card_free(NULL);
}

int main(void)
{
	sr_card_json_wipe_on_free();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cards_md_numbers_are_valid_with_their_brand),
		cmocka_unit_test(any_single_digit_change_fails),
		cmocka_unit_test(separators_between_groups_only),
		cmocka_unit_test(lengths_per_brand),
		cmocka_unit_test(iin_range_boundaries),
		cmocka_unit_test(expiry_through_last_day_of_month),
		cmocka_unit_test(cvc_per_brand),
		cmocka_unit_test(names),
		cmocka_unit_test(masking_shows_at_most_6_and_4),
		cmocka_unit_test(error_codes_and_params),
		cmocka_unit_test(payload_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
