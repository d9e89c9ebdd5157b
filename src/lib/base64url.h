/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_LIB_BASE64URL_H
#define SR_LIB_BASE64URL_H

/*
 * base64url without padding (RFC 4648 §5, as JOSE uses it, RFC 7515 §2).
 * Decoding is strict: no padding, no whitespace, no '+' or '/', and the unused
 * low bits of the last character must be zero, so every byte string has
 * exactly one accepted encoding. No allocation; thread-safe.
 */
#include "base/err.h"

#include <stddef.h>

/* Characters needed to encode n bytes (without the terminating NUL). */
size_t sr_base64url_encoded_len(size_t n);

/* Upper bound of the bytes that n characters decode to. */
size_t sr_base64url_decoded_max(size_t n);

/*
 * Encodes n bytes at in into out (cap bytes, NUL-terminated); *out_len gets
 * the characters written, without the NUL. out must not overlap in.
 * Returns 0 or SR_E_LIMIT (cap < sr_base64url_encoded_len(n) + 1).
 */
int sr_base64url_encode(const void *in, size_t n, char *out, size_t cap, size_t *out_len) SR_WUR;

/*
 * Decodes n characters at in into out (cap bytes); *out_len gets the bytes
 * written (cleared first). On failure out may hold partial output, which the
 * caller wipes if it is secret. Returns 0, SR_E_INVAL (a character outside the
 * alphabet, a length of 1 mod 4, or non-zero unused bits) or SR_E_LIMIT
 * (cap too small for the decoded bytes).
 */
int sr_base64url_decode(const char *in, size_t n, void *out, size_t cap, size_t *out_len) SR_WUR;

#endif
