/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_MFA_INT_H
#define SR_PLATFORM_MFA_INT_H

/*
 * Inside the second factor: what mfa.c shares with its routes (mfa_api.c)
 * and its unit test, beyond the two calls login makes (mfa.h). Every
 * function taking a conn runs inside the caller's transaction and has no
 * effect outside the database (safe to repeat under sr_store_tx retries).
 */
#include "base/err.h"
#include "crypto/recovery.h"
#include "crypto/totp.h"
#include "platform/mfa.h"

#include <stdint.h>

/* Field name of the sealed TOTP secret (pii.h associated data). */
#define SR_MFA_FIELD_TOTP "totp_secret"

/*
 * The key recovery codes are MACed under: a subkey of the platform's lookup
 * key ("recovery_codes"), so a stolen database alone cannot test codes.
 * key is the caller's (wipe it after use).
 */
void sr_mfa_recovery_key(const struct sr_accounts *acc, unsigned char key[32]);

/* Seconds since the epoch, as TOTP sees them. A test can move it. */
int64_t sr_mfa_now(void);

/*
 * Checks code against user_id's TOTP row in state want ("enabled" or
 * "pending") and, when allow_recovery, against the unused recovery codes.
 * A TOTP match stores its step as last_used_step (a guarded UPDATE, so two
 * concurrent logins with one code cannot both win); a recovery match marks
 * that code used. *out: SR_MFA_NOT_ENROLLED (no such row), SR_MFA_MISSING
 * (code NULL/empty), SR_MFA_OK, SR_MFA_OK_RECOVERY, SR_MFA_USED_CODE (a
 * right TOTP code whose step was already used) or SR_MFA_BAD_CODE.
 * Returns 0 or a store/crypto error.
 */
int sr_mfa_verify(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		  const char *want, const char *code, bool allow_recovery,
		  enum sr_mfa_check *out) SR_WUR;

/*
 * Replaces user_id's recovery codes by SR_RECOVERY_CODES fresh ones; their
 * text goes to codes (secret: wipe after showing). Returns 0 or a store
 * error.
 */
int sr_mfa_new_recovery_codes(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			      char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT]) SR_WUR;

/* How many recovery codes user_id has left. Returns 0 or a store error. */
int sr_mfa_recovery_remaining(struct sr_conn *c, const char *user_id, int64_t *n) SR_WUR;

/* Deletes user_id's TOTP row and recovery codes (disable, account
 * deletion). *removed tells whether an enabled factor was there. */
int sr_mfa_remove(struct sr_conn *c, const char *user_id, bool *removed) SR_WUR;

#endif
