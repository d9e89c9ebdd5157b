/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_JWE_H
#define SR_CRYPTO_JWE_H

/*
 * Decryption of card JWEs (RSA-OAEP-256 + A256GCM, RFC 7516/7518) with the
 * vault's RSA client-encryption keys. Parsing is lib/jose; this half holds
 * the private key operation. Every failure after parsing is the one code
 * SR_E_CRYPTO, taken along the same path, so that the endpoint is not a
 * padding oracle: a sender learns only "did not decrypt".
 * Thread-safe: keys are only read (OpenSSL 3 EVP_PKEY is safe to share for
 * decryption once built).
 */
#include "base/err.h"
#include "base/limits.h"
#include "lib/jose.h"

#include <openssl/evp.h>
#include <stddef.h>

/* One live client-encryption key; the caller owns both pointers. */
struct sr_jwe_key {
	const char *kid;
	EVP_PKEY *pkey; /* RSA private key, at least 2048 bits */
};

/*
 * Reads an RSA private key (PKCS#8 or traditional PEM, unencrypted) of at
 * least 2048 bits from len bytes at pem into *out (cleared first; free with
 * EVP_PKEY_free). pem is not kept; the caller wipes it.
 * Returns 0, SR_E_INVAL (not an RSA private key PEM) or SR_E_CRYPTO (too small).
 */
int sr_jwe_key_from_pem(const char *pem, size_t len, EVP_PKEY **out) SR_WUR;

/*
 * Decrypts a parsed JWE with pkey: unwraps the 32-byte CEK with RSA-OAEP
 * (SHA-256, MGF1-SHA-256, empty label), then AES-256-GCM with the ASCII of the
 * protected header as AAD. On success *plain is a fresh sodium_malloc buffer
 * of *plain_len + 1 bytes, NUL-terminated; the caller releases it with
 * sodium_free (which wipes). Out-parameters are cleared first. The CEK lives
 * only in locked memory and is wiped before returning.
 * Returns 0, SR_E_CRYPTO (anything wrong: wrong key, tampered part, bad
 * padding, wrong CEK length) or SR_E_NOMEM.
 */
int sr_jwe_decrypt(const struct sr_jose_jwe *jwe, EVP_PKEY *pkey, unsigned char **plain,
		   size_t *plain_len) SR_WUR;

/*
 * As sr_jwe_decrypt, into the caller's buffer out of cap bytes (locked
 * memory the caller wipes; the vault's tokenization passes its per-thread
 * card area), which must hold the ciphertext's length + 1. On failure out
 * holds no plaintext. Returns 0, SR_E_CRYPTO or SR_E_LIMIT (cap too small).
 */
int sr_jwe_decrypt_into(const struct sr_jose_jwe *jwe, EVP_PKEY *pkey, unsigned char *out,
			size_t cap, size_t *out_len) SR_WUR;

/*
 * Parses and decrypts a compact JWE with the key among keys[0..nkeys) whose
 * kid matches. *plain as for sr_jwe_decrypt. When kid_out is not NULL it gets
 * the header's kid (or "" if parsing failed), so callers can say which kid
 * was unknown. Returns 0, the codes of sr_jose_parse (SR_E_LIMIT, SR_E_INVAL,
 * SR_E_NOMEM), SR_E_NOTFOUND (no key has that kid) or SR_E_CRYPTO.
 */
int sr_jwe_decrypt_compact(const char *compact, size_t len, const struct sr_jwe_key *keys,
			   size_t nkeys, char kid_out[SR_JWE_KID_MAX + 1], unsigned char **plain,
			   size_t *plain_len) SR_WUR;

#endif
