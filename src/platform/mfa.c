/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TEMPORARY (branch accounts only): the second-factor hooks login needs,
 * answering "not enrolled" for everyone. The profile branch implements the
 * real platform/mfa.c (TOTP, recovery codes); the lead drops this file when
 * merging it. Nothing here reads or stores a secret.
 */
#include "platform/mfa.h"

int sr_mfa_check_login(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		       const char *otp, enum sr_mfa_check *out)
{
	(void)c;
	(void)acc;
	(void)user_id;
	(void)otp;
	*out = SR_MFA_NOT_ENROLLED;
	return 0;
}

int sr_mfa_enabled(struct sr_conn *c, const char *user_id, bool *enabled)
{
	(void)c;
	(void)user_id;
	*enabled = false;
	return 0;
}
