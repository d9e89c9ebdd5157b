/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_DKIMKEY_H
#define SR_CRYPTO_DKIMKEY_H

/*
 * DKIM signing keys: generation and the DNS TXT record that publishes the
 * public half (RFC 6376 3.6.1, RFC 8463). Signing itself is libopendkim's
 * (platform/notify/dkim.c). Thread-safe.
 */
#include "base/err.h"

#include <openssl/types.h>

#define SR_DKIMKEY_RSA_BITS 2048

/* Generates an RSA-2048 key (e = 65537) into *out (cleared first; caller
 * frees with EVP_PKEY_free, which clears it). Returns 0 or SR_E_CRYPTO. */
int sr_dkimkey_generate_rsa(EVP_PKEY **out) SR_WUR;

/* Generates an Ed25519 key into *out. Returns 0 or SR_E_CRYPTO. */
int sr_dkimkey_generate_ed25519(EVP_PKEY **out) SR_WUR;

/*
 * The whole TXT line for key's public half, freshly allocated in *out:
 *   SELECTOR._domainkey.DOMAIN TXT "v=DKIM1; k=rsa; p=BASE64"
 * with p= the base64 DER SubjectPublicKeyInfo for RSA, or k=ed25519 and the
 * raw 32-byte public key for Ed25519 (RFC 8463 4.2). Returns 0, SR_E_INVAL
 * (another key type) or SR_E_CRYPTO.
 */
int sr_dkimkey_dns_txt(EVP_PKEY *key, const char *selector, const char *domain, char **out) SR_WUR;

#endif
