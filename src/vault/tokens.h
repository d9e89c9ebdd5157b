/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_TOKENS_H
#define SR_VAULT_TOKENS_H

/*
 * Card tokens (tok_…): POST /v1/tokens turns a browser-encrypted card (a
 * compact JWE, RSA-OAEP-256 + A256GCM, under a kid of the vault's JWKS) into
 * a single-use token that lives [vault] token_ttl_s seconds. The card is
 * checked (lib/card), verified with the processor using its CVC (which then
 * is wiped and never written anywhere), and stored sealed under the token id
 * (vault/card_secret.h) with only brand, bin6, last4, expiry and the
 * fingerprint in clear. Tables: migrations/vault/0010_tokens.sql. The API
 * and its errors: docs/vault.md, docs/openapi.yaml.
 *
 * The payments code (POST /v1/cards, /v1/charges) spends a token with
 * sr_tokens_consume inside its own write transaction, so that spending the
 * token and creating what it pays for commit together.
 */
#include "base/err.h"
#include "vault/card_secret.h"

#include <stdint.h>

struct sr_conn;
struct sr_keyring;
struct sr_router;
struct sr_runtime;
struct sr_vault_keys;
struct sr_config;
struct sr_processor;

#define SR_TOKEN_ID_MAX 40 /* bytes of "tok_" + id */

/*
 * Spends token_id: inside the caller's write transaction on c (SR_TX_WRITE
 * or SR_TX_SERIALIZABLE), marks it used by used_by (the id of what it pays
 * for, e.g. "card_…" or "ch_…", kept for the audit trail) at now (seconds
 * since the epoch) and opens its card. *out is cleared first and, on
 * success, is a new card in sodium_malloc memory (sr_vault_card_free). If
 * the caller's transaction rolls back, the token is unspent again; the
 * caller's tx function, which may run more than once, must free a card left
 * from an earlier run before calling this again.
 * Returns 0, SR_E_NOTFOUND (no such token, already used, or expired: the
 * API answers all three alike), SR_E_CRYPTO (the sealed card does not open:
 * the row was altered), SR_E_RETRY / SR_E_STORE (database).
 * Thread rules: those of c; ring may be shared.
 */
int sr_tokens_consume(struct sr_conn *c, struct sr_keyring *ring, const char *token_id,
		      const char *used_by, int64_t now, struct sr_vault_card **out) SR_WUR;

/* What POST /v1/tokens needs while the vault runs; owned by service.c. */
struct sr_tokens;

/*
 * A tokens service reading its [vault] settings from cfg (token_ttl_s,
 * token_iat_skew_s, the rate limits). rt, keys and proc must outlive it;
 * proc may be filled in later but before the service turns ready. Aborts on
 * out-of-memory.
 */
struct sr_tokens *sr_tokens_new(const struct sr_config *cfg, struct sr_runtime *rt,
				struct sr_vault_keys *keys, struct sr_processor *proc);
void sr_tokens_free(struct sr_tokens *t);

/*
 * Loads (first start: creates) the fingerprint key, sealed with the key ring
 * in the vault database; call once the ring is open, before ready.
 * Returns 0 or SR_E_*.
 */
int sr_tokens_start(struct sr_tokens *t) SR_WUR;

/* Adds POST /v1/tokens. Returns as sr_router_add. */
int sr_tokens_add_routes(struct sr_router *r, struct sr_tokens *t) SR_WUR;

/*
 * Deletes tokens that expired or were used more than keep_s seconds
 * before now, and replay nonces older than the iat window (at most batch
 * rows each). Returns the number of rows deleted or a negative SR_E_*.
 */
int sr_tokens_purge(struct sr_conn *c, int64_t now, int64_t keep_s, unsigned batch) SR_WUR;

#endif
