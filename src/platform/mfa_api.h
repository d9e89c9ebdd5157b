/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_MFA_API_H
#define SR_PLATFORM_MFA_API_H

/*
 * The TOTP enrolment routes: POST /v1/mfa/totp, POST /v1/mfa/totp/confirm,
 * DELETE /v1/mfa/totp (mfa_api.c; docs/profile.md). Session cookie + CSRF,
 * recent authentication. acc must outlive the router.
 */
#include "base/err.h"

struct sr_router;
struct sr_accounts;

/* Returns 0 or sr_router_add's error. Before the server starts. */
int sr_mfa_api_add_routes(struct sr_router *r, struct sr_accounts *acc) SR_WUR;

#endif
