/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_PASSWORD_H
#define SR_CRYPTO_PASSWORD_H

/*
 * Password hashing: HMAC-SHA256(pepper, password) as the input of Argon2id
 * (libsodium crypto_pwhash_str, ALG_ARGON2ID13), stored as
 *
 *   "sr1$p<pepper id>$" + libsodium's "$argon2id$v=19$m=..,t=..,p=1$salt$hash"
 *
 * The pepper is a 32-byte secret in a key file outside the database
 * ([passwords] pepper_file): a stolen database alone cannot be attacked
 * offline. Its id in the prefix lets a new pepper replace an old one: verify
 * picks the pepper by id, needs_rehash says "rehash" when the id is not the
 * current one. See docs/passwords.md.
 *
 * SLOW ON PURPOSE: hash and verify take tens of milliseconds and 19+ MiB each.
 * Never call them on an event-loop thread: submit them to the service's
 * worker pool (net/workers.h). All functions are thread-safe once
 * sodium_init() has run; their one piece of shared state is the process-wide
 * limit on Argon2id runs at once (sr_password_limit_concurrency).
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_config;

#define SR_PASSWORD_PEPPER_BYTES 32
/* Longest encoded hash, NUL included: prefix (at most "sr1$p4294967295$",
 * 16 bytes) + crypto_pwhash_STRBYTES (128). */
#define SR_PASSWORD_HASH_MAX 144
/* Longest password accepted here (bytes); the policy refuses far shorter. */
#define SR_PASSWORD_INPUT_MAX 4096

/* Argon2id cost. libsodium fixes parallelism at 1. */
struct sr_password_params {
	unsigned long long memory_kib; /* >= 19456 (OWASP) */
	unsigned long long iterations; /* >= 2 */
};

/* A pepper: its id (>= 1, written into each hash) and 32 secret bytes in
 * sodium_malloc memory. The caller owns key. */
struct sr_password_pepper {
	unsigned id;
	unsigned char *key;
};

/*
 * At most max Argon2id computations run at once in this process; a caller
 * beyond that waits for its turn (0: no limit, the default). Hashing is pure
 * CPU, so more at once than there are cores only slows each one and keeps
 * the cores from the event loops; the worker pool itself is larger than the
 * core count so that database work (fsync) overlaps the hashing. The
 * platform sets it from [passwords] max_concurrent_hashes at start.
 */
void sr_password_limit_concurrency(unsigned max);

/* [passwords] memory_kib and iterations. Never fails (config.c checked the
 * bounds). */
void sr_password_params_from_config(const struct sr_config *cfg, struct sr_password_params *out);

/*
 * Reads [passwords] pepper_file (32 bytes, 0400) into pepper->key
 * (sodium_malloc; release with sr_password_pepper_free) with id 1. Returns 0
 * or the codes of sr_keyfile_read (SR_E_IO, SR_E_CONFIG for a group/other-
 * readable file, SR_E_LIMIT for a wrong length), SR_E_CONFIG when unset.
 */
int sr_password_pepper_load(const struct sr_config *cfg, struct sr_password_pepper *pepper) SR_WUR;
/* Wipes and frees pepper->key (accepts NULL and an empty pepper). */
void sr_password_pepper_free(struct sr_password_pepper *pepper);

/*
 * Hashes len bytes of password (not kept; any bytes; the policy decides what
 * is acceptable) into out, a NUL-terminated string of at most
 * SR_PASSWORD_HASH_MAX bytes. out is cleared first.
 * Returns 0, or:
 *   SR_E_INVAL  NULL argument, pepper id 0, params below the minimums
 *   SR_E_LIMIT  len > SR_PASSWORD_INPUT_MAX or outlen < SR_PASSWORD_HASH_MAX
 *   SR_E_NOMEM  libsodium could not allocate the Argon2id memory
 */
int sr_password_hash(const struct sr_password_params *params,
		     const struct sr_password_pepper *pepper, const char *password, size_t len,
		     char *out, size_t outlen) SR_WUR;

/*
 * Checks password against encoded, using the pepper of peppers[0..n) whose
 * id the hash names. Constant-time in the password (libsodium compares the
 * Argon2id output with a constant-time comparison).
 * Returns 0 on a match, or:
 *   SR_E_AUTH      wrong password
 *   SR_E_NOTFOUND  no pepper with the hash's id (rotated away: an operator
 *                  error, not the user's)
 *   SR_E_INVAL     encoded is not a hash this module wrote
 *   SR_E_LIMIT     len > SR_PASSWORD_INPUT_MAX
 */
int sr_password_verify(const struct sr_password_pepper *peppers, size_t n, const char *encoded,
		       const char *password, size_t len) SR_WUR;

/*
 * True when encoded should be replaced by a fresh hash at the next
 * successful login: its Argon2id parameters differ from params (they were
 * raised in the config), its pepper id is not current_pepper_id, or it is not
 * a hash this module understands.
 */
bool sr_password_needs_rehash(const struct sr_password_params *params, unsigned current_pepper_id,
			      const char *encoded);

#endif
