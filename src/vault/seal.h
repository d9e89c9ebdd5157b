/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_SEAL_H
#define SR_VAULT_SEAL_H

/*
 * The sealed vault ([vault] kek_source = shares; operator guide in
 * docs/keys.md, "Production: a sealed vault").
 *
 * A sealed vault has its database and audit log but no KEK, hence no key
 * ring: it serves /healthz, /readyz (503 {"status":"sealed"}), /metrics and
 * the /v1/sys/... seal routes; every other route answers 503 vault_sealed
 * through one gate placed in front of all vault routes (sr_vault_seal_gate),
 * so routes added later are covered without code of their own.
 *
 * Operators unseal it one share at a time (POST /v1/sys/unseal, or
 * `strongroom vault unseal`). Shares are collected in sodium_malloc memory;
 * when the threshold (carried by the share text, crypto/shares.h) is
 * reached they are combined into the KEK, the key ring is opened with it,
 * and the collected shares and the KEK copy are wiped whatever the outcome.
 * A wrong set (shares of another split) fails the key ring's KEK check: the
 * vault stays sealed and starts again from zero shares.
 *
 * Threads: the object is shared by every event loop and worker; its state
 * is guarded by one mutex, and sr_vault_seal_is_sealed is a lock-free read.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_runtime;
struct sr_router;
struct sr_server;
struct sr_vault_keys;
struct sr_vault_seal;

/* Where unsealing stands. threshold is 0 until the first share is known. */
struct sr_vault_seal_status {
	bool sealed;
	unsigned threshold; /* shares needed (m), from the shares themselves */
	unsigned progress;  /* distinct valid shares held now */
};

/*
 * A seal, sealed or not. rt, keys and srv (all may be NULL in unit tests of
 * the share collector) must outlive it: when unsealing succeeds the ring is
 * stored in keys->ring and srv is marked ready. unseal_per_minute limits
 * POST /v1/sys/unseal per client address (burst and refill).
 */
struct sr_vault_seal *sr_vault_seal_new(bool sealed, struct sr_runtime *rt,
					struct sr_vault_keys *keys, struct sr_server *srv,
					unsigned unseal_per_minute);
/*
 * Start-up work that needs the key ring (e.g. unsealing the card
 * fingerprint key) and must finish before the vault serves: fn(arg) runs on
 * a worker thread once the ring is in keys->ring, before the gate opens and
 * /readyz turns 200. A non-zero return closes the ring again: the vault
 * stays sealed (the unseal call answers 503 unseal_error). Set before the
 * server runs.
 */
void sr_vault_seal_set_unsealed_fn(struct sr_vault_seal *seal, int (*fn)(void *arg), void *arg);

/* Wipes the collected shares and frees the seal and its gate. Accepts NULL. */
void sr_vault_seal_free(struct sr_vault_seal *seal);

/* Lock-free; any thread. */
bool sr_vault_seal_is_sealed(const struct sr_vault_seal *seal);
void sr_vault_seal_get_status(struct sr_vault_seal *seal, struct sr_vault_seal_status *out);

/*
 * Adds one share text (as typed: surrounding spaces allowed) while sealed.
 * On success *share_number gets the share's number (never secret) and
 * *status the new progress; when the share completes the threshold, *kek
 * gets the combined KEK (sodium_malloc, SR_SHARES_SECRET_LEN bytes; the
 * caller sodium_frees it) and the collected shares are wiped (progress 0),
 * otherwise *kek is NULL. The caller must then open the ring and call
 * sr_vault_seal_opened (success) or leave it sealed.
 * Returns 0; SR_E_INVAL (not a share text), SR_E_TAMPER (checksum: a typo),
 * SR_E_EXISTS (this share number was already given), SR_E_CONFLICT (the
 * share is from a split with another threshold than the shares held),
 * SR_E_UNAVAILABLE (not sealed), SR_E_CRYPTO / SR_E_NOMEM (combining).
 * Nothing changes on an error. Thread-safe.
 */
int sr_vault_seal_add_share(struct sr_vault_seal *seal, const char *text, unsigned *share_number,
			    struct sr_vault_seal_status *status, unsigned char **kek) SR_WUR;

/* Wipes the collected shares (progress back to 0). */
void sr_vault_seal_reset(struct sr_vault_seal *seal);

/*
 * Adds GET /v1/sys/seal-status and POST /v1/sys/unseal to r (the server's
 * own router: they are not gated). Returns as sr_router_add.
 */
int sr_vault_seal_add_routes(struct sr_vault_seal *seal, struct sr_router *r) SR_WUR;

/*
 * Copies every route of staging into dst, each behind the seal gate: while
 * the vault is sealed the gate answers 503 vault_sealed and the route's
 * handler never runs. Call once, after every vault route was added to
 * staging and before the server runs. Returns 0 or the error of
 * sr_router_add.
 */
int sr_vault_seal_gate(struct sr_vault_seal *seal, const struct sr_router *staging,
		       struct sr_router *dst) SR_WUR;

#endif
