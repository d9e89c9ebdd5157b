/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_SHARES_H
#define SR_CRYPTO_SHARES_H

/*
 * Shamir m-of-n sharing of the vault's 32-byte KEK (libgfshare, GF(2^8)),
 * for `strongroom vault init-shares` / `unseal`. Each share is as long as
 * the secret and is handed to a person as text:
 *
 *   srs1-<m>-<x>-<52 base32 chars>-<8 base32 chars>
 *
 * m is the threshold (2..255), x the share number (1..255), then the share
 * bytes in RFC 4648 base32 (lower case on output, any case on input, no
 * padding), then a checksum: the first 5 bytes of BLAKE2b-256 over
 * "srs1", m, x and the share bytes. A mistyped character changes the
 * checksum, so a typo is reported before combining instead of yielding a
 * wrong KEK. Fewer than m shares reveal nothing about the KEK.
 *
 * Share texts and recovered KEKs live in sodium_malloc memory. Thread-safe
 * (libgfshare's random source is set once to libsodium's CSPRNG).
 */
#include "base/err.h"

#include <stddef.h>

#define SR_SHARES_SECRET_LEN 32
#define SR_SHARES_TEXT_MAX   80 /* bytes of one share text, without NUL */
#define SR_SHARES_MAX        255

/*
 * Splits secret (SR_SHARES_SECRET_LEN bytes) into n shares, any m of which
 * recover it (2 <= m <= n <= SR_SHARES_MAX). *texts gets a malloc'd array of
 * n share texts, each in its own sodium_malloc buffer; release all with
 * sr_shares_free(). Returns 0, SR_E_INVAL (bad m/n), SR_E_NOMEM, SR_E_CRYPTO.
 */
int sr_shares_split(const unsigned char *secret, unsigned m, unsigned n, char ***texts) SR_WUR;

/* Wipes and frees the n texts from sr_shares_split and the array. Accepts NULL. */
void sr_shares_free(char **texts, size_t n);

/*
 * Decodes and checks one share text (surrounding spaces allowed). share
 * gets SR_SHARES_SECRET_LEN bytes (the caller's secret memory); *m and *x
 * the threshold and share number. Returns 0, SR_E_INVAL (not a share: wrong
 * prefix, fields, length or characters) or SR_E_TAMPER (checksum mismatch:
 * a mistyped share). On failure share is wiped.
 */
int sr_shares_decode(const char *text, unsigned *m, unsigned *x, unsigned char *share) SR_WUR;

/*
 * Recovers the secret from count share texts. *secret gets a fresh
 * sodium_malloc buffer of SR_SHARES_SECRET_LEN bytes (release with
 * sodium_free). Returns 0, or SR_E_INVAL (a text is not a share, or the
 * shares disagree on m), SR_E_TAMPER (a checksum failed; *bad_index, when
 * not NULL, names which text), SR_E_EXISTS (the same share number twice),
 * SR_E_LIMIT (fewer than m shares), SR_E_NOMEM. Only the first m shares are
 * used. A wrong but well-formed set (shares of another split) gives a wrong
 * secret: the key ring's KEK check catches it.
 */
int sr_shares_combine(const char *const *texts, size_t count, unsigned char **secret,
		      size_t *bad_index) SR_WUR;

#endif
