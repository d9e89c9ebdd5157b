/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_SVC_AUDIT_API_H
#define SR_SVC_AUDIT_API_H

/*
 * GET /v1/audit_events: a service's audit log over the API, newest first,
 * for its secret key. Every call is itself audited ("audit.read"), and every
 * request to it with a missing or wrong key is audited as "auth.failure"
 * before the 401 is sent, so an acknowledged failure is always on record.
 */
#include "base/err.h"

struct sr_router;
struct sr_runtime;

/* Adds the route; rt must outlive the router. Returns as sr_router_add. */
int sr_audit_api_add_routes(struct sr_router *r, struct sr_runtime *rt) SR_WUR;

#endif
