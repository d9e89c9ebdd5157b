/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_EVENTS_H
#define SR_PLATFORM_EVENTS_H

/*
 * Member events: the one call every platform module makes when something
 * happens that a member must hear about (money received, a payout changing
 * state, a verification request, a security event). Inside the caller's
 * write transaction it queues everything the event implies, so all of it
 * commits with the change or not at all:
 *
 *   - the email (notify/outbox.h), always: money and security mail cannot
 *     be turned off;
 *   - the SMS, for transaction events (money_received, payout_*) when the
 *     member opted in (PATCH /v1/me/notifications) AND has a verified phone
 *     number at this moment;
 *   - a signed webhook to the marketplace's backend (svc/webhook.h), type
 *     "member.<...>" (table in docs/notifications.md), for every event but
 *     the account-mail ones that carry one-time codes (email_verification,
 *     password_reset).
 *
 * Deduplication: the event is identified by (name, object_id). Recording
 * the same pair twice - a retried transaction, a vault webhook delivered
 * twice - queues nothing more and returns the first references. So
 * object_id must name the occurrence, not the thing: a payout's id is right
 * for payout_sent (it is sent once), while a second password change needs
 * its own id (e.g. the audit sequence or a fresh random "evt" id).
 *
 * Personal data: nothing personal and no one-time secret goes into the
 * outbox in clear. The member's own address and phone number are not put
 * there at all: the delivery job looks up the CURRENT ones at send time
 * (sr_events_open_outbox), so a number removed or changed while a text waits
 * is not texted. An explicit recipient (email_to) and the one-time secret
 * variables ("code") are sealed under the member's data key (pii.h), bound
 * to the outbox row (sr_events_seal_outbox), and opened only at send time;
 * destroying the member's key makes them unreadable with everything else.
 * The webhook carries no personal data (member id, event, reference, and
 * the masked money fields amount_minor / currency / destination / payout
 * only).
 *
 * Threads: as store.h (on the conn's thread, inside sr_store_tx; no effect
 * outside the database, so safe under transaction retries).
 */
#include "base/err.h"
#include "platform/notify/delivery.h"
#include "platform/notify/outbox.h"
#include "svc/webhook.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_conn;
struct sr_pii;
struct sr_pii_member_key;

/* The pii fields (pii.h) of what the outbox holds sealed. */
#define SR_EVENTS_FIELD_OUTBOX_RECIPIENT "outbox_recipient"
#define SR_EVENTS_FIELD_OUTBOX_SECRET    "outbox_secret"

/* One member event. All strings borrowed. */
struct sr_member_event {
	const char *name;      /* a template name (notify/templates.h): "payout_sent" */
	const char *object_id; /* the occurrence: "po_...", "ch_...", "ses_...", "evt_..." */
	const char *member_id; /* "usr_..." */
	/* JSON object of the values the template needs (templates.h):
	 * amount_minor + currency + destination for money, code for
	 * email_verification ...; NULL: {}. A "code" is a one-time secret: it
	 * is sealed, never stored in clear. Everything else must be masked. */
	const char *variables_json;
	/* NULL: the member's own address, decrypted. Set it where the mail
	 * must go elsewhere (email_verification of a new address). */
	const char *email_to;
	/* A second copy of an event already reported (email_changed, sent to
	 * the old and to the new address): mail it, send no second webhook. */
	bool no_webhook;
};

/* What was queued. */
struct sr_event_refs {
	char email[SR_OUTBOX_ID_SIZE];                /* "msg_..." reference of the email */
	char sms[SR_OUTBOX_ID_SIZE];                  /* "msg_..." of the SMS; "" when none */
	char webhook_event[SR_WEBHOOK_EVENT_ID_SIZE]; /* "evt_..."; "" when none */
};

/*
 * Records ev on c (inside the caller's SR_TX_WRITE transaction) as above.
 * pii opens the member's address and phone. out (may be NULL) is cleared
 * first, then filled.
 * Returns 0; SR_E_INVAL (unknown event name, bad ids, variables the
 * template refuses); SR_E_NOTFOUND (no such member, or its personal data
 * was shredded: nobody to tell); SR_E_CRYPTO; or a store error
 * (SR_E_RETRY: let sr_store_tx retry).
 */
int sr_events_record(struct sr_conn *c, const struct sr_pii *pii, const struct sr_member_event *ev,
		     struct sr_event_refs *out) SR_WUR;

/*
 * Seals value (NUL-terminated) for the outbox row with dedup_key, as field
 * (SR_EVENTS_FIELD_OUTBOX_*) under the member key k: the sealed text is
 * "<dedup_key>\n<value>", so a blob copied to another row (or another
 * member: the pii associated data) does not open there. *blob is malloc'd
 * (free()). Returns 0 or an sr_pii_seal_with error. No database access.
 */
int sr_events_seal_outbox(const struct sr_pii_member_key *k, const char *field,
			  const char *dedup_key, const char *value, unsigned char **blob,
			  size_t *blob_len) SR_WUR;

/*
 * The body of the delivery hook `open` (notify/delivery.h) on c, inside a
 * read transaction (may run more than once: it resets o's outputs first).
 * Opens o's sealed recipient, or looks up the member's current address
 * (email; an active member) or verified phone with SMS chosen (SMS), and
 * the sealed secret variables, with the member's data key.
 * Returns 0, SR_E_NOTFOUND (member gone, its key destroyed, or nobody to
 * send to now; o->reason says which), SR_E_CRYPTO (a blob that does not
 * open for this row), SR_E_LIMIT, or a store error.
 */
int sr_events_open_outbox(struct sr_conn *c, const struct sr_pii *pii,
			  struct sr_delivery_open *o) SR_WUR;

/* Whether name is a transaction event (money_received, payout_*): the ones
 * that also go by SMS to members who opted in. */
bool sr_events_is_transaction(const char *name);

/* The webhook type for an event name ("payout_sent" -> "member.payout.sent"),
 * NULL for events that send no webhook or unknown names. */
const char *sr_events_webhook_type(const char *name);

#endif
