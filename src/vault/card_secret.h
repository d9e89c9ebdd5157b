/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_CARD_SECRET_H
#define SR_VAULT_CARD_SECRET_H

/*
 * A card as the vault holds it once it has been tokenized: the PAN and what
 * the vault knows about it, but never the CVC (it is checked once, at
 * tokenization, and forgotten). Lives only in sodium_malloc memory (locked,
 * guard pages, wiped on free) and on disk only sealed with the key ring
 * (AES-256-GCM under the active data key, AAD = the id of the row it is
 * stored under: a sealed card copied to another row does not open).
 *
 * Who uses it: tokens.c seals it under the token id; the payments code opens
 * a token with sr_tokens_consume (tokens.h) and re-seals the card under its
 * own id (card_…) with sr_vault_card_seal. Thread-safe (no shared state).
 */
#include "base/err.h"
#include "crypto/fingerprint.h"
#include "lib/card.h"
#include "vault/processor.h"

#include <stddef.h>

struct sr_keyring;

struct sr_vault_card {
	struct sr_card_pan pan;          /* digits, len, brand; secret */
	unsigned exp_month;              /* 1..12 */
	unsigned exp_year;               /* four digits */
	char name[SR_CARD_NAME_MAX + 1]; /* cardholder name, "" if none; personal data */
	char bin6[7]; /* first six digits (not secret by PCI, still kept sealed) */
	char last4[5];
	char fingerprint[SR_FINGERPRINT_MAX]; /* "fp_…" (crypto/fingerprint.h, base64url) */
	char cvc_check[16]; /* the verification's result at tokenization: "pass" */
};

/* A zeroed card in sodium_malloc memory; aborts on out-of-memory. */
struct sr_vault_card *sr_vault_card_new(void);
/* Wipes and frees (accepts NULL). */
void sr_vault_card_free(struct sr_vault_card *card);
/* Static brand name ("visa", …) of card->pan.brand. */
const char *sr_vault_card_brand(const struct sr_vault_card *card);
/* A processor view of card (no CVC: the vault has none after tokenization). */
struct sr_proc_card sr_vault_card_proc(const struct sr_vault_card *card);

/*
 * Seals card with ring's active data key, AAD = id (e.g. "card_…"), into a
 * malloc'd blob (free() it; it is ciphertext, safe to store). The clear
 * serialization exists only in sodium_malloc memory and is wiped. *blob
 * cleared first. Returns 0, SR_E_INVAL (empty id, card without PAN), or the
 * codes of sr_keyring_encrypt.
 */
int sr_vault_card_seal(struct sr_keyring *ring, const char *id, const struct sr_vault_card *card,
		       unsigned char **blob, size_t *blob_len) SR_WUR;

/*
 * Opens a blob from sr_vault_card_seal stored under id into a new card
 * (*out cleared first; free with sr_vault_card_free). Returns 0, SR_E_CRYPTO
 * (wrong id, tampered blob, unknown data key, not a sealed card),
 * SR_E_NOMEM.
 */
int sr_vault_card_open(struct sr_keyring *ring, const char *id, const void *blob, size_t blob_len,
		       struct sr_vault_card **out) SR_WUR;

#endif
