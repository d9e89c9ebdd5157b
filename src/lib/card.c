/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Card data validation for the vault: card numbers (normalised, Luhn, brand
 * by IIN, length per brand), expiry, CVC, cardholder name, display masking,
 * and the card JSON the browser encrypts. Rules follow
 * shared/data/testvectors/cards.md.
 *
 * Who holds what: the PAN and CVC are written only into the caller's
 * struct sr_card_pan / struct sr_card, which the vault keeps in sodium_malloc
 * memory; local copies are wiped before returning. jansson's copies of the
 * JSON strings are wiped on free once sr_card_json_wipe_on_free has run.
 * Nothing here logs.
 */
#include "lib/card.h"

#include <jansson.h>
#include <malloc.h>
#include <sodium.h>
#include <string.h>

const char *sr_card_brand_name(enum sr_card_brand brand)
{
	switch (brand) {
	case SR_CARD_BRAND_VISA: return "visa";
	case SR_CARD_BRAND_MASTERCARD: return "mastercard";
	case SR_CARD_BRAND_AMEX: return "amex";
	case SR_CARD_BRAND_DISCOVER: return "discover";
	case SR_CARD_BRAND_JCB: return "jcb";
	case SR_CARD_BRAND_DINERS: return "diners";
	case SR_CARD_BRAND_UNIONPAY: return "unionpay";
	case SR_CARD_BRAND_MAESTRO: return "maestro";
	case SR_CARD_BRAND_MIR: return "mir";
	case SR_CARD_BRAND_UNKNOWN: break;
	}
	return "unknown";
}

const char *sr_card_error_code(enum sr_card_error err)
{
	switch (err) {
	case SR_CARD_OK: return NULL;
	case SR_CARD_INVALID_NUMBER: return "invalid_number";
	case SR_CARD_INVALID_EXPIRY_MONTH: return "invalid_expiry_month";
	case SR_CARD_INVALID_EXPIRY_YEAR: return "invalid_expiry_year";
	case SR_CARD_EXPIRED: return "expired_card";
	case SR_CARD_INVALID_CVC: return "invalid_cvc";
	case SR_CARD_INVALID_NAME: return "invalid_name";
	case SR_CARD_INVALID_PAYLOAD: return "invalid_card_payload";
	}
	return "invalid_card_payload";
}

const char *sr_card_error_param(enum sr_card_error err)
{
	switch (err) {
	case SR_CARD_INVALID_NUMBER: return "number";
	case SR_CARD_INVALID_EXPIRY_MONTH: return "exp_month";
	case SR_CARD_INVALID_EXPIRY_YEAR: return "exp_year";
	case SR_CARD_INVALID_CVC: return "cvc";
	case SR_CARD_INVALID_NAME: return "name";
	case SR_CARD_OK:
	case SR_CARD_EXPIRED:
	case SR_CARD_INVALID_PAYLOAD: break;
	}
	return NULL;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int sr_card_luhn_ok(const char *digits, size_t len)
{
	unsigned sum = 0;
	if (len == 0)
		return 0;
	/* From the right: every second digit is doubled, 9 subtracted past 9. */
	for (size_t i = 0; i < len; i++) {
		char c = digits[len - 1 - i];
		if (!is_digit(c))
			return 0;
		unsigned d = (unsigned)(c - '0');
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

/* Value of the first k digits (k <= 6 and k <= len, all digits). */
static unsigned prefix(const char *digits, size_t k)
{
	unsigned v = 0;
	for (size_t i = 0; i < k; i++)
		v = v * 10 + (unsigned)(digits[i] - '0');
	return v;
}

static int in(unsigned v, unsigned lo, unsigned hi)
{
	return v >= lo && v <= hi;
}

enum sr_card_brand sr_card_brand_of(const char *digits, size_t len)
{
	if (len < 4)
		return SR_CARD_BRAND_UNKNOWN;
	for (size_t i = 0; i < 4; i++)
		if (!is_digit(digits[i]))
			return SR_CARD_BRAND_UNKNOWN;
	unsigned p1 = prefix(digits, 1), p2 = prefix(digits, 2), p3 = prefix(digits, 3),
		 p4 = prefix(digits, 4);

	if (in(p4, 2200, 2204))
		return SR_CARD_BRAND_MIR;
	if (in(p4, 2221, 2720) || in(p2, 51, 55))
		return SR_CARD_BRAND_MASTERCARD;
	if (p1 == 4)
		return SR_CARD_BRAND_VISA;
	if (p2 == 34 || p2 == 37)
		return SR_CARD_BRAND_AMEX;
	if (p4 == 6011 || in(p3, 644, 649) || p2 == 65)
		return SR_CARD_BRAND_DISCOVER;
	if (in(p4, 3528, 3589))
		return SR_CARD_BRAND_JCB;
	if (in(p3, 300, 305) || p2 == 36 || p2 == 38 || p2 == 39)
		return SR_CARD_BRAND_DINERS;
	if (p2 == 62 || p2 == 81)
		return SR_CARD_BRAND_UNIONPAY;
	if (p2 == 50 || in(p2, 56, 59) || p2 == 63 || p2 == 67)
		return SR_CARD_BRAND_MAESTRO;
	return SR_CARD_BRAND_UNKNOWN;
}

int sr_card_brand_length_ok(enum sr_card_brand brand, size_t len)
{
	switch (brand) {
	case SR_CARD_BRAND_VISA: return len == 13 || len == 16 || len == 19;
	case SR_CARD_BRAND_MASTERCARD: return len == 16;
	case SR_CARD_BRAND_AMEX: return len == 15;
	case SR_CARD_BRAND_DISCOVER:
	case SR_CARD_BRAND_JCB:
	case SR_CARD_BRAND_UNIONPAY:
	case SR_CARD_BRAND_MIR: return len >= 16 && len <= 19;
	case SR_CARD_BRAND_DINERS: return len >= 14 && len <= 19;
	case SR_CARD_BRAND_MAESTRO: return len >= 12 && len <= 19;
	case SR_CARD_BRAND_UNKNOWN: break;
	}
	return 0;
}

void sr_card_pan_wipe(struct sr_card_pan *pan)
{
	if (pan != NULL)
		sodium_memzero(pan, sizeof *pan);
}

int sr_card_pan_parse(const char *text, size_t len, struct sr_card_pan *pan)
{
	int rc = SR_E_INVAL;
	size_t n = 0;

	sr_card_pan_wipe(pan);
	if (len > SR_CARD_NUMBER_TEXT_MAX)
		goto out;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (is_digit(c)) {
			if (n == SR_CARD_PAN_MAX)
				goto out;
			pan->digits[n++] = c;
		} else if (c == ' ' || c == '-') {
			/* Only between two digits: not first, not last, not doubled. */
			if (i == 0 || i + 1 == len || !is_digit(text[i - 1]) ||
			    !is_digit(text[i + 1]))
				goto out;
		} else {
			goto out;
		}
	}
	if (n < SR_CARD_PAN_MIN || !sr_card_luhn_ok(pan->digits, n))
		goto out;
	pan->len = n;
	pan->digits[n] = '\0';
	pan->brand = sr_card_brand_of(pan->digits, n);
	if (!sr_card_brand_length_ok(pan->brand, n))
		goto out;
	rc = 0;
out:
	if (rc != 0)
		sr_card_pan_wipe(pan);
	return rc;
}

static int pan_ok(const struct sr_card_pan *pan)
{
	return pan != NULL && pan->len >= SR_CARD_PAN_MIN && pan->len <= SR_CARD_PAN_MAX;
}

int sr_card_pan_mask(const struct sr_card_pan *pan, char *out, size_t cap)
{
	if (!pan_ok(pan))
		return SR_E_INVAL;
	if (cap < pan->len + 1)
		return SR_E_LIMIT;
	/* At least 5 hidden: 16+ digits show 6+4, 15 show 6+4, 14 show 5+4, 12 show 3+4. */
	size_t lead = pan->len >= 15 ? 6 : pan->len - 9;
	for (size_t i = 0; i < pan->len; i++)
		out[i] = i < lead || i >= pan->len - 4 ? pan->digits[i] : '*';
	out[pan->len] = '\0';
	return 0;
}

int sr_card_pan_last4(const struct sr_card_pan *pan, char out[5])
{
	if (!pan_ok(pan))
		return SR_E_INVAL;
	memcpy(out, pan->digits + pan->len - 4, 4);
	out[4] = '\0';
	return 0;
}

int sr_card_pan_bin6(const struct sr_card_pan *pan, char out[7])
{
	if (!pan_ok(pan))
		return SR_E_INVAL;
	memcpy(out, pan->digits, 6);
	out[6] = '\0';
	return 0;
}

enum sr_card_error sr_card_expiry_check(long month, long year, time_t now, unsigned *year4)
{
	struct tm tm;

	if (year4 != NULL)
		*year4 = 0;
	if (month < 1 || month > 12)
		return SR_CARD_INVALID_EXPIRY_MONTH;
	if (year >= 0 && year <= 99)
		year += 2000;
	else if (year < 2000 || year > 2099)
		return SR_CARD_INVALID_EXPIRY_YEAR;
	if (gmtime_r(&now, &tm) == NULL)
		return SR_CARD_EXPIRED; /* a clock we cannot read fails closed */
	long cur_year = (long)tm.tm_year + 1900, cur_month = (long)tm.tm_mon + 1;
	if (year > cur_year + SR_CARD_EXPIRY_YEARS_MAX)
		return SR_CARD_INVALID_EXPIRY_YEAR;
	/* Valid through the last day of the month: only an earlier month is expired. */
	if (year < cur_year || (year == cur_year && month < cur_month))
		return SR_CARD_EXPIRED;
	if (year4 != NULL)
		*year4 = (unsigned)year;
	return SR_CARD_OK;
}

int sr_card_cvc_ok(const char *cvc, size_t len, enum sr_card_brand brand)
{
	size_t want = brand == SR_CARD_BRAND_AMEX ? 4 : 3;
	if (len != want)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_digit(cvc[i]))
			return 0;
	return 1;
}

/* Length of the UTF-8 sequence at s (shortest form, no surrogates), 0 if invalid; *cp gets it. */
static size_t utf8_seq(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned long c;
	size_t k;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		c = s[0] & 0x1f;
		k = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		c = s[0] & 0x0f;
		k = 3;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		c = s[0] & 0x07;
		k = 4;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && c < 0x800) || (k == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return k;
}

int sr_card_name_ok(const char *name, size_t len)
{
	const unsigned char *s = (const unsigned char *)name;
	int visible = 0;
	if (len == 0 || len > SR_CARD_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len;) {
		unsigned long cp;
		size_t k = utf8_seq(s + i, len - i, &cp);
		if (k == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return 0;
		if (cp != ' ')
			visible = 1;
		i += k;
	}
	return visible;
}

/* A JSON month or year: an integer, or a string of 1..max_digits ASCII digits. */
static int json_small_number(const json_t *v, size_t min_digits, size_t max_digits, long *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < -100000 || i > 100000)
			return 0;
		*out = (long)i;
		return 1;
	}
	if (!json_is_string(v))
		return 0;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n < min_digits || n > max_digits)
		return 0;
	long r = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return 0;
		r = r * 10 + (s[i] - '0');
	}
	*out = r;
	return 1;
}

static int nonce_ok(const char *s, size_t n)
{
	if (n < SR_CARD_NONCE_MIN || n > SR_CARD_NONCE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' ||
		      c == '_'))
			return 0;
	}
	return 1;
}

/* Validates the members of the payload object into *card; returns the reason. */
static enum sr_card_error check_fields(json_t *obj, time_t now, struct sr_card *card)
{
	json_t *number = NULL, *month = NULL, *year = NULL, *cvc = NULL, *name = NULL,
	       *nonce = NULL, *iat = NULL;
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return SR_CARD_INVALID_PAYLOAD;
	json_object_foreach(obj, key, v)
	{
		json_t **slot = strcmp(key, "number") == 0      ? &number
				: strcmp(key, "exp_month") == 0 ? &month
				: strcmp(key, "exp_year") == 0  ? &year
				: strcmp(key, "cvc") == 0       ? &cvc
				: strcmp(key, "name") == 0      ? &name
				: strcmp(key, "nonce") == 0     ? &nonce
				: strcmp(key, "iat") == 0       ? &iat
								: NULL;
		if (slot == NULL)
			return SR_CARD_INVALID_PAYLOAD;
		*slot = v;
	}
	/* Replay-protection fields first: without them nothing else matters. */
	if (!json_is_string(nonce) ||
	    !nonce_ok(json_string_value(nonce), json_string_length(nonce)))
		return SR_CARD_INVALID_PAYLOAD;
	if (!json_is_integer(iat) || json_integer_value(iat) < 0)
		return SR_CARD_INVALID_PAYLOAD;
	memcpy(card->nonce, json_string_value(nonce), json_string_length(nonce) + 1);
	card->iat = (int64_t)json_integer_value(iat);

	if (!json_is_string(number) ||
	    sr_card_pan_parse(json_string_value(number), json_string_length(number), &card->pan) !=
		    0)
		return SR_CARD_INVALID_NUMBER;

	long m = 0, y = 0;
	if (month == NULL || !json_small_number(month, 1, 2, &m))
		return SR_CARD_INVALID_EXPIRY_MONTH;
	if (year == NULL || !json_small_number(year, 2, 4, &y) ||
	    (json_is_string(year) && json_string_length(year) == 3))
		return SR_CARD_INVALID_EXPIRY_YEAR;
	enum sr_card_error e = sr_card_expiry_check(m, y, now, &card->exp_year);
	if (e != SR_CARD_OK)
		return e;
	card->exp_month = (unsigned)m;

	if (!json_is_string(cvc) ||
	    !sr_card_cvc_ok(json_string_value(cvc), json_string_length(cvc), card->pan.brand))
		return SR_CARD_INVALID_CVC;
	card->cvc_len = json_string_length(cvc);
	memcpy(card->cvc, json_string_value(cvc), card->cvc_len + 1);

	if (name != NULL) {
		if (!json_is_string(name) ||
		    !sr_card_name_ok(json_string_value(name), json_string_length(name)))
			return SR_CARD_INVALID_NAME;
		card->name_len = json_string_length(name);
		memcpy(card->name, json_string_value(name), card->name_len + 1);
	}
	return SR_CARD_OK;
}

int sr_card_payload_parse(const char *json, size_t len, time_t now, struct sr_card *card,
			  enum sr_card_error *why)
{
	json_error_t jerr;
	json_t *obj = NULL;
	int rc = SR_E_INVAL;

	sodium_memzero(card, sizeof *card);
	*why = SR_CARD_INVALID_PAYLOAD;
	if (len > SR_CARD_PAYLOAD_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			rc = SR_E_NOMEM;
		goto out;
	}
	*why = check_fields(obj, now, card);
	if (*why == SR_CARD_OK)
		rc = 0;
out:
	json_decref(obj); /* frees jansson's copies; wiped if sr_card_json_wipe_on_free ran */
	sodium_memzero(&jerr, sizeof jerr); /* its text may quote the input */
	if (rc != 0)
		sodium_memzero(card, sizeof *card);
	return rc;
}

struct sr_card *sr_card_new(void)
{
	if (sodium_init() < 0)
		return NULL;
	struct sr_card *card = sodium_malloc(sizeof *card);
	if (card != NULL)
		sodium_memzero(card, sizeof *card);
	return card;
}

void sr_card_free(struct sr_card *card)
{
	sodium_free(card); /* wipes; accepts NULL */
}

static void wiping_free(void *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

void sr_card_json_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, wiping_free);
}
