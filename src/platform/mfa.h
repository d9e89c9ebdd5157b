/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_MFA_H
#define SR_PLATFORM_MFA_H

/*
 * What logging in needs from the second factor (TOTP and recovery codes).
 * Implemented by the profile work (platform/mfa.c: enrolment, secrets sealed
 * under the member key, used time steps, recovery codes); accounts.c calls
 * only these two functions. Both run inside the caller's write transaction
 * on a worker thread (store.h rules: may run more than once).
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_conn;
struct sr_accounts;

enum sr_mfa_check {
	SR_MFA_NOT_ENROLLED = 0, /* no confirmed second factor */
	SR_MFA_OK,               /* a valid TOTP code, now marked used */
	SR_MFA_OK_RECOVERY,      /* a valid recovery code, now consumed */
	SR_MFA_BAD_CODE,         /* wrong code */
	SR_MFA_USED_CODE,        /* right code, but its time step was already used */
	SR_MFA_MISSING,          /* enrolled, and otp is NULL or empty */
};

/*
 * Checks otp (a 6-digit TOTP code or a recovery code; may be NULL) for
 * user_id. Does not count failures: the caller does (auth.h counters).
 * Returns 0 with *out set, or a store/crypto error.
 */
int sr_mfa_check_login(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		       const char *otp, enum sr_mfa_check *out) SR_WUR;

/* Whether user_id has a confirmed second factor. Returns 0 or a store error. */
int sr_mfa_enabled(struct sr_conn *c, const char *user_id, bool *enabled) SR_WUR;

#endif
