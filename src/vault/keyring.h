/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_KEYRING_H
#define SR_VAULT_KEYRING_H

/*
 * The vault's key hierarchy over its database (tables in
 * src/store/migrations/vault/0003_keys.sql; design and recovery in
 * docs/keys.md):
 *
 *   KEK (32 bytes, from a key file or unsealed from shares; never stored)
 *    ├─ data keys "dk_…" (AES-256-GCM; one active, retired ones still decrypt)
 *    └─ RSA-2048 client-encryption keys "rk_…" (active | retiring | retired)
 *
 * Data keys and RSA private keys are stored only wrapped under the KEK
 * (crypto/envelope, AAD = the key's id), each row naming the KEK version
 * that wraps it. A KEK verification value (HMAC-SHA256 of a fixed label) per
 * KEK version lets a wrong KEK be refused before anything is read or written.
 *
 * A ring caches unwrapped keys in sodium_malloc memory (RSA keys as OpenSSL
 * EVP_PKEYs). Threads: every function may be called from any thread on a
 * shared ring (a read/write lock guards the cache), except sr_keyring_close.
 * Several processes may share one database: changes are serialized by a
 * lock row, and a ring that meets a key it has not cached reloads (at most
 * once a second).
 */
#include "base/err.h"
#include "store/store.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define SR_KEYRING_KEK_LEN      32
#define SR_KEYRING_ID_MAX       40 /* bytes of a data key id or RSA kid */
#define SR_KEYRING_REWRAP_BATCH 64 /* default keys re-wrapped per transaction */

struct sr_keyring;

/*
 * Opens the key ring of the vault database st (migrated with
 * sr_migrate(st, "vault", ...)) with kek (SR_KEYRING_KEK_LEN bytes; copied
 * into secret memory, the caller keeps and wipes its own). On the first
 * open of a database it records the KEK's verification value and creates
 * the first data key and RSA key, inside one write transaction under the
 * lock row, so two instances starting at once create exactly one of each.
 * st must outlive the ring. *out is cleared first.
 * Returns 0, SR_E_AUTH (kek is not the database's KEK; nothing was read or
 * written), SR_E_STORE / SR_E_RETRY (database), SR_E_CRYPTO (a stored key
 * failed to unwrap: the database was altered), SR_E_INVAL.
 */
int sr_keyring_open(struct sr_store *st, const unsigned char *kek, struct sr_keyring **out) SR_WUR;

/* Wipes every cached key and frees the ring. Accepts NULL. */
void sr_keyring_close(struct sr_keyring *ring);

/* Re-reads every key from the database (keys other instances added or
 * retired). Returns 0, SR_E_STORE, SR_E_CRYPTO. */
int sr_keyring_reload(struct sr_keyring *ring) SR_WUR;

/*
 * Encrypts pt_len bytes with the active data key; aad (e.g. the card id) is
 * authenticated, not stored, and must be given again to decrypt. *blob is a
 * malloc'd envelope blob (crypto/envelope.h) naming the data key; free()
 * it. Returns 0, SR_E_LIMIT, SR_E_CRYPTO, SR_E_NOMEM, SR_E_UNAVAILABLE (no
 * active data key cached).
 */
int sr_keyring_encrypt(struct sr_keyring *ring, const void *aad, size_t aad_len, const void *pt,
		       size_t pt_len, unsigned char **blob, size_t *blob_len) SR_WUR;

/*
 * Decrypts a blob from sr_keyring_encrypt with the data key it names
 * (active or retired). *pt is sodium_malloc'd (*pt_len + 1 bytes,
 * NUL-terminated); release with sodium_free. Returns 0, SR_E_CRYPTO for
 * every failure (tampered, wrong aad, unknown key) or SR_E_NOMEM.
 */
int sr_keyring_decrypt(struct sr_keyring *ring, const void *aad, size_t aad_len, const void *blob,
		       size_t blob_len, unsigned char **pt, size_t *pt_len) SR_WUR;

/*
 * Creates a new active data key and retires the previous one (which still
 * decrypts). id_out (SR_KEYRING_ID_MAX + 1 bytes, may be NULL) gets the new
 * id. Returns 0, SR_E_AUTH (the ring's KEK no longer wraps this database's
 * keys: another instance finished a re-wrap), SR_E_STORE, SR_E_RETRY.
 */
int sr_keyring_rotate_data_key(struct sr_keyring *ring, char *id_out) SR_WUR;

/* Called after each re-wrap batch commits; a non-zero return stops the
 * re-wrap there (it can be resumed). */
typedef int (*sr_keyring_progress_fn)(void *arg, uint64_t done, uint64_t total);

/*
 * Re-wraps every stored key under new_kek, batch keys per transaction (0:
 * SR_KEYRING_REWRAP_BATCH), online: other instances keep serving with the
 * keys they cached. The first step records new_kek's verification value as
 * the next KEK version; each batch moves rows to it and commits; the last
 * step makes it the current KEK. The ring must have been opened with the
 * current KEK. After a crash or a stop, open with the OLD KEK and call this
 * again with the SAME new KEK: it continues where it stopped.
 * Returns 0 (the ring now holds new_kek), SR_E_INVAL (new_kek equals the
 * current KEK), SR_E_CONFLICT (a re-wrap to a different KEK is in progress),
 * SR_E_AUTH (the ring was opened with the new KEK: open with the old one),
 * SR_E_UNAVAILABLE (progress returned non-zero; resumable), SR_E_STORE,
 * SR_E_RETRY, SR_E_CRYPTO.
 */
int sr_keyring_rewrap(struct sr_keyring *ring, const unsigned char *new_kek, unsigned batch,
		      sr_keyring_progress_fn progress, void *arg) SR_WUR;

/*
 * Publishes a new RSA-2048 key as active; the previous active key becomes
 * "retiring": still listed and still decrypting for grace_seconds, then
 * retired. kid_out (SR_KEYRING_ID_MAX + 1 bytes, may be NULL) gets the new
 * kid. Returns 0, SR_E_INVAL (negative grace), SR_E_AUTH, SR_E_CRYPTO,
 * SR_E_STORE, SR_E_RETRY.
 */
int sr_keyring_rotate_rsa(struct sr_keyring *ring, int64_t grace_seconds, char *kid_out) SR_WUR;

/*
 * Builds the public JWKS: {"keys":[{"kty":"RSA","use":"enc",
 * "alg":"RSA-OAEP-256","kid":…,"n":…,"e":…}, …]} with every kid still
 * accepted (the active key first, then retiring keys within their grace).
 * *out is a new reference (json_decref). Returns 0, SR_E_CRYPTO, SR_E_NOMEM.
 */
int sr_keyring_jwks(struct sr_keyring *ring, json_t **out) SR_WUR;

/*
 * The private key of an accepted kid, for crypto/jwe.h. *out is a new
 * reference (EVP_PKEY_free). Returns 0 or SR_E_NOTFOUND (unknown, retired,
 * or past its grace period).
 */
int sr_keyring_rsa_for_kid(struct sr_keyring *ring, const char *kid, EVP_PKEY **out) SR_WUR;

/* The id of the active data key / RSA kid, into out (SR_KEYRING_ID_MAX + 1
 * bytes). Returns 0 or SR_E_NOTFOUND. */
int sr_keyring_active_data_key(struct sr_keyring *ring, char *out) SR_WUR;
int sr_keyring_active_kid(struct sr_keyring *ring, char *out) SR_WUR;

#endif
