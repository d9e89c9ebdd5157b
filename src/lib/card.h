/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_LIB_CARD_H
#define SR_LIB_CARD_H

/*
 * Card data validation: PAN (Luhn, brand by IIN, length per brand), expiry,
 * CVC, cardholder name, masking, and the card JSON that browsers send inside
 * a JWE. The rules are those of shared/data/testvectors/cards.md.
 *
 * Secrets: struct sr_card_pan and struct sr_card hold the PAN (and the CVC)
 * inline, with no pointers, so a caller decides where they live; the vault
 * keeps them in sodium_malloc memory (sr_card_new) and wipes them with
 * sr_card_free / sr_card_pan_wipe. Functions here copy digits only into the
 * caller's struct and wipe their own temporaries.
 *
 * Thread-safe (no shared state), except sr_card_json_wipe_on_free, which is
 * called once at start-up. Never aborts on out-of-memory (SR_E_NOMEM).
 */
#include "base/err.h"
#include "base/limits.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SR_CARD_PAN_MIN 12
#define SR_CARD_PAN_MAX 19

enum sr_card_brand {
	SR_CARD_BRAND_UNKNOWN = 0,
	SR_CARD_BRAND_VISA,
	SR_CARD_BRAND_MASTERCARD,
	SR_CARD_BRAND_AMEX,
	SR_CARD_BRAND_DISCOVER,
	SR_CARD_BRAND_JCB,
	SR_CARD_BRAND_DINERS,
	SR_CARD_BRAND_UNIONPAY,
	SR_CARD_BRAND_MAESTRO,
	SR_CARD_BRAND_MIR,
};

/*
 * Why card data was refused. Each maps to the API's error code and param
 * (sr_card_error_code, sr_card_error_param).
 */
enum sr_card_error {
	SR_CARD_OK = 0,
	SR_CARD_INVALID_NUMBER,       /* invalid_number, param number */
	SR_CARD_INVALID_EXPIRY_MONTH, /* invalid_expiry_month, param exp_month */
	SR_CARD_INVALID_EXPIRY_YEAR,  /* invalid_expiry_year, param exp_year */
	SR_CARD_EXPIRED,              /* expired_card, no param */
	SR_CARD_INVALID_CVC,          /* invalid_cvc, param cvc */
	SR_CARD_INVALID_NAME,         /* invalid_name, param name */
	SR_CARD_INVALID_PAYLOAD,      /* invalid_card_payload, no param: not our JSON shape */
};

/* A normalised PAN: digits only, NUL-terminated. Secret. */
struct sr_card_pan {
	char digits[SR_CARD_PAN_MAX + 1];
	size_t len;
	enum sr_card_brand brand;
};

/* One card as sent by the browser, validated. Secret (PAN and CVC). */
struct sr_card {
	struct sr_card_pan pan;
	unsigned exp_month; /* 1..12 */
	unsigned exp_year;  /* four digits */
	char cvc[5];        /* 3 digits, 4 for amex; NUL-terminated */
	size_t cvc_len;
	char name[SR_CARD_NAME_MAX + 1]; /* "" when the payload had none */
	size_t name_len;
	char nonce[SR_CARD_NONCE_MAX + 1]; /* base64url, for replay checks upstream */
	int64_t iat;                       /* seconds since the epoch, as sent */
};

/* Static lowercase names: "visa", "mastercard", "amex", …, "unknown". */
const char *sr_card_brand_name(enum sr_card_brand brand);
/* Static API error code ("invalid_number", …) or NULL for SR_CARD_OK. */
const char *sr_card_error_code(enum sr_card_error err);
/* Static API param name ("number", …) or NULL when the error has none. */
const char *sr_card_error_param(enum sr_card_error err);

/* Luhn (mod 10) over len ASCII digits; 1 when it holds, 0 otherwise. */
int sr_card_luhn_ok(const char *digits, size_t len);

/*
 * Brand of a digit string by its IIN, and whether len digits is a length the
 * brand issues. Returns SR_CARD_BRAND_UNKNOWN for prefixes in no listed range.
 */
enum sr_card_brand sr_card_brand_of(const char *digits, size_t len);
int sr_card_brand_length_ok(enum sr_card_brand brand, size_t len);

/*
 * Parses a card number as typed: digits, with single spaces or dashes allowed
 * between digits (groups), nothing before or after. Needs 12..19 digits, a
 * Luhn check digit, a known brand and a length that brand issues. *pan is
 * filled (and wiped on failure); text is not kept and not modified.
 * Returns 0 or SR_E_INVAL (the API's invalid_number). Unknown brands are
 * refused: we cannot route or check them.
 */
int sr_card_pan_parse(const char *text, size_t len, struct sr_card_pan *pan) SR_WUR;

/* Wipes *pan (accepts NULL). */
void sr_card_pan_wipe(struct sr_card_pan *pan);

/*
 * Masked form for display: at most the first 6 and the last 4 digits, the rest
 * '*', and always at least 5 digits hidden (so short PANs show fewer leading
 * digits): "424242******4242", "378282*****0005", "5678*****1234" (14).
 * Writes pan->len + 1 bytes into out. Returns 0 or SR_E_LIMIT (cap too small)
 * or SR_E_INVAL (pan not parsed).
 */
int sr_card_pan_mask(const struct sr_card_pan *pan, char *out, size_t cap) SR_WUR;
/* Last four digits into out[5]. Returns 0 or SR_E_INVAL. */
int sr_card_pan_last4(const struct sr_card_pan *pan, char out[5]) SR_WUR;
/* First six digits (the BIN, for routing in the vault) into out[7]. Returns 0 or SR_E_INVAL. */
int sr_card_pan_bin6(const struct sr_card_pan *pan, char out[7]) SR_WUR;

/*
 * Checks an expiry against now (UTC). month must be 1..12; year is two
 * digits (0..99 → 2000..2099) or four (2000..2099). The card is valid through
 * the last second of its expiry month in UTC. A year more than
 * SR_CARD_EXPIRY_YEARS_MAX ahead is invalid. *year4 (may be NULL) gets the
 * four-digit year. Returns SR_CARD_OK, SR_CARD_INVALID_EXPIRY_MONTH,
 * SR_CARD_INVALID_EXPIRY_YEAR or SR_CARD_EXPIRED.
 */
enum sr_card_error sr_card_expiry_check(long month, long year, time_t now, unsigned *year4);

/* CVC: exactly 3 ASCII digits, 4 for amex. 1 when acceptable, 0 otherwise. */
int sr_card_cvc_ok(const char *cvc, size_t len, enum sr_card_brand brand);

/*
 * Cardholder name: 1..SR_CARD_NAME_MAX bytes of valid UTF-8 (shortest form,
 * no surrogates), no control characters (C0, DEL, C1), not only spaces.
 * 1 when acceptable, 0 otherwise.
 */
int sr_card_name_ok(const char *name, size_t len);

/*
 * Parses and validates the decrypted card JSON:
 *   {"number": "4242 4242 4242 4242", "exp_month": 12 | "12", "exp_year": 2030 |
 *    "2030" | "30", "cvc": "123", "name": "…" (optional), "nonce": "<16..64
 *    base64url>", "iat": 1700000000}
 * Strict: an object of exactly these members, no duplicates, no others,
 * these types only. now is the current time for the expiry check (not for iat:
 * freshness and nonce replay are the caller's, with its clock and store).
 * *card is filled, and wiped on any failure; json is not kept or modified
 * (the caller wipes it). *why is set on every return.
 * Returns 0, or:
 *   SR_E_LIMIT  len > SR_CARD_PAYLOAD_MAX (why: SR_CARD_INVALID_PAYLOAD)
 *   SR_E_INVAL  why says which field, or SR_CARD_INVALID_PAYLOAD for JSON
 *               shape errors, bad nonce or iat. A missing card field gives
 *               that field's error.
 *   SR_E_NOMEM
 * jansson copies strings while parsing; see sr_card_json_wipe_on_free.
 */
int sr_card_payload_parse(const char *json, size_t len, time_t now, struct sr_card *card,
			  enum sr_card_error *why) SR_WUR;

/* A zeroed struct sr_card in sodium_malloc memory, or NULL. */
struct sr_card *sr_card_new(void);
/* Wipes and frees a card from sr_card_new (accepts NULL). */
void sr_card_free(struct sr_card *card);

/*
 * Makes jansson wipe every block it frees (its string copies and lexer
 * buffers would otherwise leave PAN and CVC digits in freed heap). jansson's
 * allocator hooks are process-wide, so this is a start-up call: make it once,
 * before threads start, in any process that parses card JSON. Allocation
 * stays plain malloc, so objects made before the call are still freed
 * correctly. Idempotent. Not thread-safe.
 */
void sr_card_json_wipe_on_free(void);

#endif
