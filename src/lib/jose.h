/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_LIB_JOSE_H
#define SR_LIB_JOSE_H

/*
 * Compact JWE parsing (RFC 7516 §7.1) for the one profile strongroom accepts
 * from browsers: alg "RSA-OAEP-256", enc "A256GCM", a "kid" naming one of the
 * vault's client-encryption keys. This is the untrusted-input half: it splits
 * and decodes, checks the protected header, and hands back the pieces; the
 * decryption is crypto/jwe. Nothing here is secret (the key and payload are
 * still encrypted). Thread-safe; allocates with malloc and reports failure.
 */
#include "base/err.h"
#include "base/limits.h"

#include <stddef.h>

#define SR_JWE_IV_LEN  12 /* A256GCM: 96-bit IV */
#define SR_JWE_TAG_LEN 16 /* A256GCM: 128-bit tag */

/*
 * One parsed compact JWE. Owned by the caller (on the stack is fine); filled
 * by sr_jose_parse, released by sr_jose_clear. The byte fields point into one
 * malloc'd block owned by the struct.
 */
struct sr_jose_jwe {
	char kid[SR_JWE_KID_MAX + 1]; /* printable ASCII, 1..SR_JWE_KID_MAX bytes */
	/* The first part exactly as received: the AAD of the content encryption. */
	const char *protected_b64;
	size_t protected_b64_len;
	const unsigned char *encrypted_key; /* the RSA-OAEP-wrapped CEK */
	size_t encrypted_key_len;
	unsigned char iv[SR_JWE_IV_LEN];
	const unsigned char *ciphertext; /* at least 1 byte */
	size_t ciphertext_len;
	unsigned char tag[SR_JWE_TAG_LEN];
	void *block; /* private: the allocation behind the pointers above */
};

/*
 * Parses len bytes of compact serialization (five base64url parts separated
 * by dots; no surrounding whitespace). *jwe is cleared first; input is not
 * kept. The protected header must be a JSON object without duplicate names,
 * holding exactly: "alg":"RSA-OAEP-256", "enc":"A256GCM", "kid":<string>, and
 * optionally "typ" and "cty" strings. Everything else is refused, notably
 * "zip" (compression before encryption leaks length) and "crit" (we support
 * no extensions), and key-carrying members ("jwk", "jku", "x5u", "x5c"), so
 * a sender can never steer which key or algorithm we use.
 * Returns 0, or:
 *   SR_E_LIMIT  len > SR_JWE_MAX, header > SR_JWE_HEADER_MAX, kid too long
 *   SR_E_INVAL  malformed: parts, base64url, JSON, a member, IV/tag length
 *   SR_E_NOMEM
 * Callers look the kid up themselves and answer "unknown kid" distinctly.
 */
int sr_jose_parse(const char *compact, size_t len, struct sr_jose_jwe *jwe) SR_WUR;

/* Frees what sr_jose_parse allocated and clears *jwe; accepts a cleared struct. */
void sr_jose_clear(struct sr_jose_jwe *jwe);

#endif
