/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ISO 4217 exponents and amount formatting. The table holds the currencies
 * members are likely to be paid in; an unknown code is refused rather than
 * guessed, because showing 100x the amount in a payout email is worse than
 * showing nothing.
 */
#include "lib/money.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct exponent {
	char code[4];
	int exp;
};

/* Sorted by code. Source: ISO 4217 list one (minor unit column). */
static const struct exponent table[] = {
	{"AED", 2}, {"ARS", 2}, {"AUD", 2}, {"BGN", 2}, {"BHD", 3}, {"BRL", 2}, {"CAD", 2},
	{"CHF", 2}, {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"CZK", 2}, {"DKK", 2}, {"EGP", 2},
	{"EUR", 2}, {"GBP", 2}, {"HKD", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2},
	{"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KRW", 0}, {"KWD", 3}, {"MAD", 2},
	{"MXN", 2}, {"MYR", 2}, {"NGN", 2}, {"NOK", 2}, {"NZD", 2}, {"OMR", 3}, {"PEN", 2},
	{"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"SAR", 2},
	{"SEK", 2}, {"SGD", 2}, {"THB", 2}, {"TND", 3}, {"TRY", 2}, {"TWD", 2}, {"UAH", 2},
	{"UGX", 0}, {"USD", 2}, {"VND", 0}, {"XAF", 0}, {"XOF", 0}, {"ZAR", 2},
};

int sr_money_exponent(const char *currency)
{
	char up[4];
	if (currency == NULL || strlen(currency) != 3)
		return SR_E_INVAL;
	for (size_t i = 0; i < 3; i++) {
		char ch = currency[i];
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch < 'A' || ch > 'Z')
			return SR_E_INVAL;
		up[i] = ch;
	}
	up[3] = '\0';
	size_t lo = 0, hi = sizeof table / sizeof table[0];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(up, table[mid].code);
		if (c == 0)
			return table[mid].exp;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SR_E_NOTFOUND;
}

int sr_money_format(int64_t minor, const char *currency, char *out, size_t outlen)
{
	int exp = sr_money_exponent(currency);
	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (exp < 0)
		return exp;
	if (out == NULL)
		return SR_E_INVAL;
	/* Magnitude as unsigned so INT64_MIN has one too. */
	bool neg = minor < 0;
	uint64_t mag = neg ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
	if (n < 0)
		return SR_E_INVAL;
	char buf[SR_MONEY_FMT_MAX];
	size_t len = 0;
	size_t nd = (size_t)n, e = (size_t)exp;
	if (neg)
		buf[len++] = '-';
	if (nd <= e) {
		buf[len++] = '0';
		buf[len++] = '.';
		for (size_t i = nd; i < e; i++)
			buf[len++] = '0';
		memcpy(buf + len, digits, nd);
		len += nd;
	} else {
		memcpy(buf + len, digits, nd - e);
		len += nd - e;
		if (e > 0) {
			buf[len++] = '.';
			memcpy(buf + len, digits + nd - e, e);
			len += e;
		}
	}
	buf[len] = '\0';
	if (len + 1 > outlen)
		return SR_E_LIMIT;
	memcpy(out, buf, len + 1);
	return 0;
}
