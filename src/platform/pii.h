/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_PII_H
#define SR_PLATFORM_PII_H

/*
 * Personal data at rest: one AES-256-GCM data key per member, created at
 * sign-up and stored in member_keys wrapped by the platform's personal-data
 * KEK ([platform] personal_data_kek_file, 32 bytes, 0400, written by
 * `strongroom init`). Each personal field (email, name, phone, address, ...)
 * is an envelope blob (crypto/envelope.h) sealed under that member key with
 * associated data "<user id>|<field>", so a blob moved to another member or
 * another field does not open.
 *
 * Crypto-shredding: sr_pii_shred deletes the wrapped key. The blobs stay
 * where they are (database, backups) and can no longer be opened by anyone.
 *
 * Who holds what: the KEK lives in sodium_malloc memory inside struct
 * sr_pii for the life of the service; an unwrapped member key lives in a
 * struct sr_pii_member_key only while a transaction uses it, and is wiped
 * when freed. Plaintexts returned here are sodium_malloc'd: release with
 * sodium_free (wipes). Never log them.
 *
 * Threads: struct sr_pii is immutable after sr_pii_load and may be shared;
 * functions taking a conn follow store.h (inside the caller's sr_store_tx
 * fn, which may run more than once: these functions have no effect outside
 * the database).
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_config;
struct sr_conn;
struct sr_pii;
struct sr_pii_member_key;

#define SR_PII_KEK_LEN   32
#define SR_PII_FIELD_MAX 32   /* bytes of a field name: [a-z_] */
#define SR_PII_VALUE_MAX 4096 /* bytes of one field's plaintext */

/* Field names used by accounts; the profile adds its own ([a-z_]+). */
#define SR_PII_FIELD_EMAIL "email"
#define SR_PII_FIELD_NAME  "name"

/*
 * Reads [platform] personal_data_kek_file into a new struct sr_pii.
 * Returns 0, SR_E_CONFIG (unset, or group/other-readable), SR_E_IO,
 * SR_E_LIMIT (not 32 bytes). *out is cleared first.
 */
int sr_pii_load(const struct sr_config *cfg, struct sr_pii **out) SR_WUR;
/* For tests and tools: a struct sr_pii from 32 raw KEK bytes (copied). */
int sr_pii_from_bytes(const unsigned char kek[SR_PII_KEK_LEN], struct sr_pii **out) SR_WUR;
/* Wipes and frees. Accepts NULL. */
void sr_pii_free(struct sr_pii *p);

/*
 * Creates a fresh random data key for user_id, wraps it under the KEK and
 * inserts it into member_keys (the users row must exist in this
 * transaction). If out is not NULL, the unwrapped key is returned there for
 * sealing the first fields (free with sr_pii_member_key_free).
 * Returns 0, SR_E_EXISTS (the member already has a key), SR_E_CRYPTO, or a
 * store error.
 */
int sr_pii_create_member_key(struct sr_conn *c, const struct sr_pii *p, const char *user_id,
			     struct sr_pii_member_key **out) SR_WUR;

/*
 * The two halves of sr_pii_create_member_key, for sign-up, where the users
 * row (holding fields sealed under the new key) must be inserted before the
 * member_keys row that references it: sr_pii_member_key_new makes a random
 * key in memory (no database), sr_pii_member_key_store wraps and inserts it.
 * Returns as sr_pii_create_member_key.
 */
int sr_pii_member_key_new(const char *user_id, struct sr_pii_member_key **out) SR_WUR;
int sr_pii_member_key_store(struct sr_conn *c, const struct sr_pii *p,
			    const struct sr_pii_member_key *k) SR_WUR;

/*
 * Loads and unwraps user_id's data key. Returns 0, SR_E_NOTFOUND (no key:
 * never created, or shredded), SR_E_CRYPTO (wrong KEK or tampered row), or
 * a store error.
 */
int sr_pii_member_key_load(struct sr_conn *c, const struct sr_pii *p, const char *user_id,
			   struct sr_pii_member_key **out) SR_WUR;
/* Wipes and frees. Accepts NULL. */
void sr_pii_member_key_free(struct sr_pii_member_key *k);

/*
 * Seals len bytes of value as field of the key's member. *blob is malloc'd
 * (no secret in it: free()). Returns 0, SR_E_INVAL (bad field name),
 * SR_E_LIMIT (len > SR_PII_VALUE_MAX), SR_E_CRYPTO. No database access.
 */
int sr_pii_seal_with(const struct sr_pii_member_key *k, const char *field, const void *value,
		     size_t len, unsigned char **blob, size_t *blob_len) SR_WUR;
/*
 * Opens a blob sealed as field of the key's member. *value is sodium_malloc'd,
 * NUL-terminated, *len bytes (sodium_free it). Returns 0, SR_E_INVAL,
 * SR_E_CRYPTO (another member's or field's blob, or tampered). No database.
 */
int sr_pii_open_with(const struct sr_pii_member_key *k, const char *field, const void *blob,
		     size_t blob_len, char **value, size_t *len) SR_WUR;

/* One-shot forms: load the member key, seal/open, wipe it. Same returns as
 * sr_pii_member_key_load plus those of seal/open. */
int sr_pii_seal(struct sr_conn *c, const struct sr_pii *p, const char *user_id, const char *field,
		const void *value, size_t len, unsigned char **blob, size_t *blob_len) SR_WUR;
int sr_pii_open(struct sr_conn *c, const struct sr_pii *p, const char *user_id, const char *field,
		const void *blob, size_t blob_len, char **value, size_t *len) SR_WUR;

/*
 * Crypto-shreds user_id's personal data: deletes the member_keys row, in the
 * caller's write transaction. *shredded tells whether a key was there.
 * Returns 0 or a store error.
 */
int sr_pii_shred(struct sr_conn *c, const char *user_id, bool *shredded) SR_WUR;

#endif
