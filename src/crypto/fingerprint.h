/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_FINGERPRINT_H
#define SR_CRYPTO_FINGERPRINT_H

/*
 * Card fingerprints: HMAC-SHA256 of the normalised PAN (digits only) under
 * the vault's fingerprint key, so the platform can tell "same card" without
 * ever holding the number, and nobody without the key can test guesses
 * (a PAN has too little entropy for a plain hash). Thread-safe.
 */
#include "base/err.h"
#include "lib/card.h"

#include <stddef.h>

#define SR_FINGERPRINT_KEY_MIN 32       /* bytes of key, at least the hash size */
#define SR_FINGERPRINT_HEX_LEN (3 + 64) /* "fp_" + 64 hex digits */
#define SR_FINGERPRINT_B64_LEN (3 + 43) /* "fp_" + 43 base64url characters */
#define SR_FINGERPRINT_MAX     (SR_FINGERPRINT_HEX_LEN + 1) /* buffer size for either, with NUL */

enum sr_fingerprint_encoding {
	SR_FINGERPRINT_HEX,       /* lowercase hex */
	SR_FINGERPRINT_BASE64URL, /* unpadded base64url */
};

/*
 * Writes "fp_" + the encoded HMAC-SHA256(key, pan->digits) into out (cap
 * bytes, NUL-terminated). key (key_len >= SR_FINGERPRINT_KEY_MIN bytes) and
 * pan are only read; the HMAC state is wiped. The result is not secret.
 * Returns 0, SR_E_INVAL (short key, unparsed pan, unknown encoding) or
 * SR_E_LIMIT (cap too small).
 */
int sr_fingerprint_pan(const unsigned char *key, size_t key_len, const struct sr_card_pan *pan,
		       enum sr_fingerprint_encoding enc, char *out, size_t cap) SR_WUR;

#endif
