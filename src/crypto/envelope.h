/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_ENVELOPE_H
#define SR_CRYPTO_ENVELOPE_H

/*
 * Envelope encryption: AES-256-GCM with a random 96-bit nonce, sealed into a
 * versioned, self-describing blob that names the key it was sealed under.
 *
 * Blob layout (version 1), every field fixed or length-prefixed:
 *
 *   offset  size     field
 *   0       1        magic 0xE7
 *   1       1        version 0x01
 *   2       1        key id length L (1..SR_ENVELOPE_KEY_ID_MAX)
 *   3       L        key id, ASCII [A-Za-z0-9_-]
 *   3+L     12       nonce
 *   15+L    n        ciphertext (n = plaintext length)
 *   15+L+n  16       GCM tag
 *
 * The whole header (bytes 0..15+L) is authenticated together with the
 * caller's associated data (header first, then aad), so changing the key id,
 * version or nonce is detected like any change to the ciphertext.
 * Thread-safe: no shared state. Keys are the caller's (sodium_malloc memory
 * is expected); plaintexts returned here are sodium_malloc'd.
 */
#include "base/err.h"

#include <stddef.h>

#define SR_ENVELOPE_KEY_LEN       32
#define SR_ENVELOPE_KEY_ID_MAX    64
#define SR_ENVELOPE_NONCE_LEN     12
#define SR_ENVELOPE_TAG_LEN       16
#define SR_ENVELOPE_MAGIC         0xE7
#define SR_ENVELOPE_VERSION       1
#define SR_ENVELOPE_PLAINTEXT_MAX (1024 * 1024) /* bytes sealed in one blob */
/* Blob bytes beyond the plaintext for a key id of id_len bytes. */
#define SR_ENVELOPE_OVERHEAD(id_len) (3 + (id_len) + SR_ENVELOPE_NONCE_LEN + SR_ENVELOPE_TAG_LEN)

/* A parsed blob: views into the caller's bytes, valid while they are. */
struct sr_envelope_view {
	unsigned version;
	char key_id[SR_ENVELOPE_KEY_ID_MAX + 1]; /* NUL-terminated copy */
	size_t header_len;                       /* bytes authenticated as header */
	const unsigned char *nonce;
	const unsigned char *ciphertext;
	size_t ciphertext_len;
	const unsigned char *tag;
};

/*
 * Parses a blob without decrypting (to learn which key opens it). *v is
 * cleared first. Returns 0 or SR_E_CRYPTO for anything malformed (wrong
 * magic, unknown version, bad key id, truncated). No allocation.
 */
int sr_envelope_parse(const void *blob, size_t len, struct sr_envelope_view *v) SR_WUR;

/*
 * Seals pt_len bytes at pt under key (SR_ENVELOPE_KEY_LEN bytes) named
 * key_id, with aad (may be NULL when aad_len is 0) authenticated but not
 * stored. *blob is a fresh malloc'd buffer (free with free(); it holds no
 * secret) of *blob_len bytes; out-parameters are cleared first.
 * Returns 0, SR_E_INVAL (bad key id, NULL key), SR_E_LIMIT (pt_len above
 * SR_ENVELOPE_PLAINTEXT_MAX), SR_E_NOMEM or SR_E_CRYPTO.
 */
int sr_envelope_seal(const unsigned char *key, const char *key_id, const void *aad, size_t aad_len,
		     const void *pt, size_t pt_len, unsigned char **blob, size_t *blob_len) SR_WUR;

/*
 * Opens a blob with key. When expect_key_id is not NULL the blob must name
 * that key. On success *pt is a fresh sodium_malloc buffer of *pt_len + 1
 * bytes (NUL-terminated for convenience; release with sodium_free, which
 * wipes). Out-parameters are cleared first.
 * Returns 0, SR_E_CRYPTO for every kind of failure (malformed, other key id,
 * wrong key, wrong aad, any byte changed), or SR_E_NOMEM.
 */
int sr_envelope_open(const unsigned char *key, const char *expect_key_id, const void *blob,
		     size_t len, const void *aad, size_t aad_len, unsigned char **pt,
		     size_t *pt_len) SR_WUR;

/* True if id is a valid key id (1..SR_ENVELOPE_KEY_ID_MAX of [A-Za-z0-9_-]). */
int sr_envelope_key_id_ok(const char *id);

#endif
