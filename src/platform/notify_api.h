/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_API_H
#define SR_PLATFORM_NOTIFY_API_H

/*
 * The member-facing routes of notifications (docs/notifications.md,
 * docs/openapi.yaml):
 *
 *   GET   /v1/messages              session: the member's messages, newest first
 *   POST  /v1/messages/verify       public, rate-limited per address: is a
 *                                   reference genuine (content for its owner)
 *   GET   /v1/me/notifications      session: the member's choices
 *   PATCH /v1/me/notifications      session + CSRF: {"sms": true|false}
 *   POST  /v1/webhooks/vault        the vault's signed webhooks -> member events
 *
 * Life cycle (platform/service.c): sr_notify_api_new and add_routes before
 * the server runs; sr_notify_api_start in on_started, after the accounts
 * module started (reads [platform] vault_webhook_secret_file); free after
 * the server stopped. Handlers answer 503 until started. Afterwards the
 * struct is read-only apart from its thread-safe rate limiter.
 */
#include "base/err.h"

#include <stddef.h>

struct sr_accounts;
struct sr_config;
struct sr_router;
struct sr_notify_api;

/* cfg and acc must outlive the module. No I/O. */
struct sr_notify_api *sr_notify_api_new(const struct sr_config *cfg, struct sr_accounts *acc);
/* Adds the routes above. Returns 0 or the router's error. */
int sr_notify_api_add_routes(struct sr_router *r, struct sr_notify_api *api) SR_WUR;
/* Reads the vault's webhook secret. Returns 0 or SR_E_CONFIG / SR_E_IO /
 * SR_E_LIMIT with a one-line reason (no secret) in err. */
int sr_notify_api_start(struct sr_notify_api *api, char *err, size_t errlen) SR_WUR;
/* Wipes the secret and frees. Accepts NULL. */
void sr_notify_api_free(struct sr_notify_api *api);

#endif
