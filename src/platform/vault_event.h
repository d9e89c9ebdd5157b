/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_VAULT_EVENT_H
#define SR_PLATFORM_VAULT_EVENT_H

/*
 * Reads one of the vault's webhook events (docs/webhooks.md) after its
 * signature was checked: charge.succeeded -> money_received,
 * payout.created|paid|failed|returned -> payout_requested|sent|failed|
 * returned, for the member in data.object.metadata.member. Pure and
 * thread-safe.
 */
#include "base/err.h"
#include "platform/accounts.h"
#include "svc/webhook.h"

#include <stddef.h>

struct sr_vault_event {
	char event_id[SR_WEBHOOK_EVENT_ID_SIZE]; /* "evt_..." */
	char type[64];                           /* "payout.paid" */
	const char *event;            /* member event (template) name; NULL: ignore the event */
	char member[SR_USER_ID_SIZE]; /* "usr_..." when event is set */
	char object_id[64];           /* the charge/payout id (else the event id): dedup */
	char *variables;              /* malloc'd JSON for the template when event is set */
};

/*
 * Parses len bytes of body into *ev (cleared first). An event of another
 * type, or not about a member, is a success with ev->event NULL (received
 * and ignored). Returns 0, or SR_E_INVAL with *why (a sentence for the
 * error message) and *param (the field at fault, or NULL) set; then
 * nothing is left to clear. Free with sr_vault_event_clear.
 */
int sr_vault_event_parse(const void *body, size_t len, struct sr_vault_event *ev, const char **why,
			 const char **param) SR_WUR;
/* Frees what parse allocated and clears ev. Accepts NULL. */
void sr_vault_event_clear(struct sr_vault_event *ev);

#endif
