/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_API_INT_H
#define SR_PLATFORM_NOTIFY_API_INT_H

/* Shared by messages.c, notify_prefs.c and vault_webhooks.c. */
#include "platform/notify_api.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

struct sr_http_req;
struct sr_ratelimit;

struct sr_notify_api {
	const struct sr_config *cfg;
	struct sr_accounts *acc;
	struct sr_ratelimit *verify_limit; /* POST /v1/messages/verify per address */
	unsigned char *vault_secret;       /* sodium_malloc, SR_WEBHOOK_SECRET_MIN bytes */
	size_t vault_secret_len;
	atomic_bool started;
};

/* True when the module and accounts are started; otherwise answers 503. */
bool sr_notify_api_ready(struct sr_notify_api *api, struct sr_http_req *req);

/* Parses the request body as a JSON object; NULL after answering 400. */
json_t *sr_notify_api_body(struct sr_http_req *req);

int sr_notify_prefs_add_routes(struct sr_router *r, struct sr_notify_api *api);
int sr_vault_webhooks_add_routes(struct sr_router *r, struct sr_notify_api *api);

#endif
