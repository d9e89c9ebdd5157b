/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_TOTP_H
#define SR_CRYPTO_TOTP_H

/*
 * Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps from
 * T0 = 0, 6 digits by default) through liboath, for the second factor of
 * member accounts. The secret is 20 random bytes, shown to the member once as
 * base32 inside an otpauth:// URI (and its QR code, lib/qr_svg), then stored
 * encrypted by the caller. Each time step is usable once: the caller stores
 * the step that last succeeded and passes it back.
 *
 * Thread-safe once sr_totp_init() has returned 0 (liboath's global set-up).
 */
#include "base/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SR_TOTP_SECRET_BYTES 20
#define SR_TOTP_STEP_SECONDS 30
#define SR_TOTP_DIGITS       6
#define SR_TOTP_URI_MAX      1024
#define SR_TOTP_LABEL_MAX    128 /* bytes of issuer, and of account */

/* Initialises liboath once per process (idempotent, thread-safe). Returns 0
 * or SR_E_CRYPTO. The other functions call it. */
int sr_totp_init(void) SR_WUR;

/* Fills secret with SR_TOTP_SECRET_BYTES from libsodium's CSPRNG. */
void sr_totp_secret_new(unsigned char secret[SR_TOTP_SECRET_BYTES]);

/*
 * The provisioning URI, NUL-terminated into out:
 *   otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1
 *   &digits=6&period=30
 * issuer and account are percent-encoded (all but RFC 3986 unreserved
 * characters). The URI holds the secret: wipe out after use.
 * Returns 0, SR_E_INVAL (empty or NUL-holding labels), SR_E_LIMIT (a label
 * longer than SR_TOTP_LABEL_MAX, or out too small), SR_E_CRYPTO.
 */
int sr_totp_uri(const unsigned char *secret, size_t secret_len, const char *issuer,
		const char *account, char *out, size_t outlen) SR_WUR;

/* The code for time t (digits 6..8), NUL-terminated into out[digits + 1].
 * Returns 0, SR_E_INVAL or SR_E_CRYPTO. */
int sr_totp_code(const unsigned char *secret, size_t secret_len, int64_t t, unsigned digits,
		 char *out, size_t outlen) SR_WUR;

/*
 * Checks code (digits ASCII digits) against the steps around now: the
 * current one and one either side (clock drift). A step <= last_used_step is
 * never accepted (replay); pass -1 when no code was ever used. The comparison
 * runs over all three steps in constant time. On success *matched_step is the
 * step that matched: store it as the new last_used_step.
 * Returns 0, SR_E_AUTH (no fresh step matches, or code has the wrong shape),
 * SR_E_INVAL (bad arguments) or SR_E_CRYPTO.
 */
int sr_totp_verify_digits(const unsigned char *secret, size_t secret_len, const char *code,
			  unsigned digits, int64_t now, int64_t last_used_step,
			  int64_t *matched_step) SR_WUR;
/* sr_totp_verify_digits with 6 digits. */
int sr_totp_verify(const unsigned char *secret, size_t secret_len, const char *code, int64_t now,
		   int64_t last_used_step, int64_t *matched_step) SR_WUR;

#endif
