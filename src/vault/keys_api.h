/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_KEYS_API_H
#define SR_VAULT_KEYS_API_H

/*
 * The running vault's key ring and its public face: opening the ring from
 * the [vault] kek_file at start-up (also used by `strongroom vault
 * rotate-keys`), and GET /v1/jwks.json, the RSA-2048 client-encryption keys
 * browsers fetch to build a JWE of the card.
 */
#include "base/err.h"

#include <stdatomic.h>
#include <stddef.h>

struct sr_config;
struct sr_store;
struct sr_router;
struct sr_keyring;

/* Where routes find the ring: NULL until start-up opened it. Written once
 * (before the service turns ready), read by any thread. */
struct sr_vault_keys {
	_Atomic(struct sr_keyring *) ring;
	atomic_llong last_refresh; /* time() of the last JWKS-driven reload */
};

/*
 * Reads the KEK from cfg's [vault] kek_file (32 bytes, mode 0400/0600) and
 * opens the key ring of st with it; the KEK copy is wiped before returning
 * (the ring keeps its own). On failure err holds a one-line reason naming
 * the file, never key material. *out is cleared first. Returns 0 or the
 * SR_E_* of sr_keyfile_read / sr_keyring_open (SR_E_AUTH: the file holds
 * another KEK than the one that wraps this database's keys).
 */
int sr_vault_keys_open(const struct sr_config *cfg, struct sr_store *st, struct sr_keyring **out,
		       char *err, size_t errlen) SR_WUR;

/* Adds GET /v1/jwks.json (public, no API key). keys must outlive the
 * router. Returns as sr_router_add. */
int sr_vault_keys_add_routes(struct sr_router *r, struct sr_vault_keys *keys) SR_WUR;

#endif
