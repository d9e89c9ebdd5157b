/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_APIKEY_H
#define SR_CRYPTO_APIKEY_H

/*
 * The API keys a service accepts (Authorization: Bearer sk_... / pk_...).
 * Keys are read from the service's credentials file at start; only their
 * SHA-256 digests are kept (in sodium_malloc memory), and a presented key is
 * compared against every digest in constant time. A key is named in logs
 * and the audit log only by its id: "key_" + the first 12 hex digits of its
 * digest, which says nothing usable about a 256-bit random key.
 */
#include "base/err.h"

#include <stddef.h>

enum sr_apikey_kind { SR_APIKEY_SECRET = 1, SR_APIKEY_PUBLISHABLE = 2 };

#define SR_APIKEY_ID_LEN 17 /* "key_" + 12 hex + NUL */

struct sr_apikeys;

/*
 * Loads the keys for service from path, a JSON object written by `strongroom
 * init`: the platform accepts "platform_secret_key"; the vault accepts
 * "vault_secret_key" and "vault_publishable_key". The file must be a regular
 * file that group and others cannot read. Returns 0, SR_E_IO, SR_E_CONFIG
 * (mode, shape, or no key for this service; err says which), SR_E_LIMIT.
 */
int sr_apikeys_load(const char *path, const char *service, struct sr_apikeys **out, char *err,
		    size_t errlen) SR_WUR;
void sr_apikeys_free(struct sr_apikeys *keys);

/*
 * Checks an Authorization header value ("Bearer <key>") against the keys of
 * kind want. On success writes the key's id into id (SR_APIKEY_ID_LEN bytes)
 * and returns 0. Returns SR_E_AUTH for a missing, malformed or unknown key,
 * or a key of another kind; id then names the presented key when it was
 * well-formed ("" otherwise), so repeated failures can be correlated without
 * logging the key. Thread-safe.
 */
int sr_apikeys_check(const struct sr_apikeys *keys, const char *authorization,
		     enum sr_apikey_kind want, char id[SR_APIKEY_ID_LEN]) SR_WUR;

#endif
