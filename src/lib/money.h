/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_LIB_MONEY_H
#define SR_LIB_MONEY_H

/*
 * Amounts are integer minor units plus an ISO 4217 alphabetic code; the
 * code's exponent (digits after the decimal point: 2 for EUR, 0 for JPY, 3
 * for KWD) says how to show them. No floating point anywhere. Pure, no
 * allocation, thread-safe.
 */
#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

/* Longest formatted amount: sign, 19 digits, point, NUL, with room. */
#define SR_MONEY_FMT_MAX 32

/*
 * The exponent of the ISO 4217 code (three ASCII letters, any case): 0..3,
 * or SR_E_INVAL for a malformed code, SR_E_NOTFOUND for a code outside the
 * built-in table (common currencies only; add rows as members need them).
 */
int sr_money_exponent(const char *currency) SR_WUR;

/*
 * Writes minor (in the currency's minor units) as a decimal with exactly
 * exponent fraction digits and a leading '-' when negative, e.g. 1234 EUR
 * -> "12.34", 500 JPY -> "500", -5 KWD -> "-0.005". No grouping, no symbol.
 * Returns 0, SR_E_INVAL / SR_E_NOTFOUND (currency), SR_E_LIMIT (outlen).
 */
int sr_money_format(int64_t minor, const char *currency, char *out, size_t outlen) SR_WUR;

#endif
