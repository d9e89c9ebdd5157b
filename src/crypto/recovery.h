/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_RECOVERY_H
#define SR_CRYPTO_RECOVERY_H

/*
 * MFA recovery codes: SR_RECOVERY_CODES single-use codes of 12 characters
 * from Crockford's base32 alphabet (60 bits each), shown once as
 * "xxxx-xxxx-xxxx" and stored only as HMAC-SHA256 under the password pepper.
 * HMAC, not Argon2id: a 60-bit random code cannot be guessed offline even at
 * HMAC speed, and the pepper keeps a stolen database useless on its own.
 * Typing is forgiving: case, dashes and spaces are ignored, and o/i/l read as
 * 0/1/1. Thread-safe (no shared state).
 */
#include "base/err.h"

#include <stddef.h>

#define SR_RECOVERY_CODES      10
#define SR_RECOVERY_CODE_CHARS 12
#define SR_RECOVERY_CODE_TEXT  15 /* "xxxx-xxxx-xxxx" + NUL */
#define SR_RECOVERY_HASH_BYTES 32

/*
 * Makes SR_RECOVERY_CODES fresh codes: codes[i] is the text to show (secret:
 * wipe after display), hashes[i] what to store. pepper is the 32-byte
 * password pepper. Returns 0 or SR_E_INVAL.
 */
int sr_recovery_generate(const unsigned char *pepper,
			 char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT],
			 unsigned char hashes[SR_RECOVERY_CODES][SR_RECOVERY_HASH_BYTES]) SR_WUR;

/*
 * Checks typed text against the n stored hashes (the unused ones: the caller
 * deletes a hash once it has matched, which makes each code single-use). All
 * n are compared in constant time. On a match *index is its position.
 * Returns 0, SR_E_AUTH (no match, or text not shaped like a code; *index -1)
 * or SR_E_INVAL.
 */
int sr_recovery_verify(const unsigned char *pepper,
		       const unsigned char (*hashes)[SR_RECOVERY_HASH_BYTES], size_t n,
		       const char *text, size_t len, int *index) SR_WUR;

#endif
