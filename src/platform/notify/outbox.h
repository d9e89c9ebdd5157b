/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_OUTBOX_H
#define SR_PLATFORM_NOTIFY_OUTBOX_H

/*
 * The transactional outbox of member notifications (table outbox, platform
 * database). Code that changes something a member must hear about calls
 * sr_outbox_enqueue INSIDE its own transaction, so the notification
 * commits with the change or not at all; the delivery job (delivery.h)
 * sends it later, at least once, and records the outcome.
 *
 * Row states: pending -> sending (claimed under a lease) -> sent | failed,
 * and sending -> pending again for a retry. A lease that ran out (its
 * worker crashed) makes the row claimable again.
 *
 * The claim/complete functions are what delivery.c uses; they are exported
 * for tests and for tools. Thread rules: as store.h (a conn on one thread).
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_conn;
struct sr_store;

#define SR_OUTBOX_ID_SIZE    40  /* "ntf_" / "msg_" + 32 hex + NUL, with room */
#define SR_OUTBOX_DEDUP_MAX  200 /* bytes of a dedup key */
#define SR_OUTBOX_MEMBER_MAX 64
#define SR_OUTBOX_ERROR_MAX  256 /* last_error is cut to this */

enum sr_outbox_channel { SR_OUTBOX_EMAIL = 1, SR_OUTBOX_SMS = 2 };

/*
 * What to send. All borrowed.
 *
 * Personal data and one-time secrets never reach the table in clear. For a
 * member's row (member_id set) the recipient column stays '' and:
 *   - recipient NULL: the member's CURRENT address (email) or verified
 *     phone number (SMS) is looked up when the row is sent (delivery hook
 *     `open`), so a changed or removed one is honoured;
 *   - recipient set: it is only checked here; what is stored is
 *     recipient_sealed, which the caller sealed under the member's data
 *     key (platform/events.h sr_events_seal_outbox). Both are required.
 *   - secret_json: the one-time secret variables (a JSON object, e.g.
 *     {"code":"..."}), used here only for the trial render; what is stored
 *     is secret_sealed, sealed likewise. Delivery merges them into the
 *     variables in memory, at send time.
 * A row without member_id (mail that belongs to no member) keeps its
 * recipient in clear and may carry no secret.
 */
struct sr_outbox_item {
	const char *dedup_key; /* "<event>:<object id>:<channel>", printable ASCII, required */
	enum sr_outbox_channel channel;
	const char *member_id; /* usr_..., may be NULL (no anti-phishing code then) */
	const char *recipient; /* email addr-spec or E.164 number, or NULL (see above) */
	const unsigned char *recipient_sealed;
	size_t recipient_sealed_len;
	const char *template_name;  /* one of sr_template_names (templates.h) */
	const char *variables_json; /* JSON object, masked values only; NULL: {} */
	const char *secret_json;    /* JSON object of secret strings; NULL: none */
	const unsigned char *secret_sealed;
	size_t secret_sealed_len;
};

/*
 * Adds item to the outbox on c, which must be inside the caller's write
 * transaction (sr_store_tx fn). The template is test-rendered first, so a
 * notification that could never be sent is refused now, in the caller's
 * transaction. If a row with the same dedup_key exists (committed, or
 * earlier in this transaction) nothing is added and its reference is
 * returned: enqueueing the same event twice is a success that sends once.
 * Uses INSERT ... ON CONFLICT DO NOTHING, never a caught unique violation
 * (PostgreSQL would abort the caller's transaction).
 * ref_out (SR_OUTBOX_ID_SIZE bytes) gets the "msg_..." reference.
 * Returns 0, SR_E_INVAL (bad item: key, recipient, a clear recipient or a
 * secret without its sealed form, variables, template placeholders, a
 * one-time "code" in variables_json instead of secret_json), SR_E_NOTFOUND
 * (no such template), SR_E_LIMIT, or a store error (SR_E_RETRY: let
 * sr_store_tx retry).
 */
int sr_outbox_enqueue(struct sr_conn *c, const struct sr_outbox_item *item,
		      char ref_out[SR_OUTBOX_ID_SIZE]) SR_WUR;

/* A claimed row, owned by the caller (sr_outbox_row_free). */
struct sr_outbox_row {
	char id[SR_OUTBOX_ID_SIZE];
	char reference[SR_OUTBOX_ID_SIZE];
	enum sr_outbox_channel channel;
	char *dedup_key;
	char *member_id; /* NULL when none */
	char *recipient; /* "" for a member's row (rows from before migration 0070 may differ) */
	unsigned char *recipient_sealed; /* NULL: none */
	size_t recipient_sealed_len;
	unsigned char *secret_sealed; /* NULL: none */
	size_t secret_sealed_len;
	char *template_name;
	char *variables_json; /* masked values only */
	char *created_at;
	int64_t attempts; /* including this one */
};
void sr_outbox_row_free(struct sr_outbox_row *r);

/*
 * The template variables of a row with its secret ones: the two JSON
 * objects' members in one object, in a new sodium_malloc'd string (*out;
 * sodium_free it: it holds the secret). secret_json NULL or "": a copy of
 * variables_json. Returns 0 or SR_E_INVAL (not two JSON object texts).
 */
int sr_outbox_merge_variables(const char *variables_json, const char *secret_json,
			      char **out) SR_WUR;

/* Now as the outbox writes times: "YYYY-MM-DDTHH:MM:SS.mmmZ" (25 bytes
 * with NUL), plus offset_ms. */
void sr_outbox_time(int64_t offset_ms, char out[32]);

/*
 * In one short write transaction, claims up to max due rows (pending or
 * sending, next_attempt_at passed, no live lease) for owner for lease_ms:
 * state 'sending', attempts + 1. PostgreSQL skips rows another worker has
 * locked (FOR UPDATE SKIP LOCKED); SQLite serializes writers. *rows gets a
 * malloc'd array of *n rows (free each, then the array).
 * Returns 0 or a store error.
 */
int sr_outbox_claim(struct sr_store *st, const char *owner, int64_t lease_ms, unsigned max,
		    struct sr_outbox_row **rows, size_t *n) SR_WUR;

/*
 * Withdraws a member's rows of one template that are not sent yet: they
 * end failed with reason as last_error (no secrets) and keep nothing
 * sealed. For mail whose one-time code was voided by a newer one, so a
 * stale code does not arrive after the fresh one. A row a delivery worker
 * holds (sending) is withdrawn too: the worker's outcome then finds the row
 * no longer its own and changes nothing, so a refused or failed attempt is
 * not retried; only a send already on the wire may still arrive. *withdrawn (may be NULL) gets the count. Inside the
 * caller's transaction. Returns 0 or a store error.
 */
int sr_outbox_withdraw(struct sr_conn *c, const char *member_id, const char *template_name,
		       const char *reason, unsigned *withdrawn) SR_WUR;

/* Marks id sent with the provider's id, if owner still holds its lease.
 * *still_owned tells whether it did (false: the lease ran out and another
 * worker may have sent it too). Returns 0 or a store error. */
int sr_outbox_mark_sent(struct sr_store *st, const char *id, const char *owner,
			const char *provider_id, bool *still_owned) SR_WUR;

/* Schedules a retry in delay_ms (state back to pending, lease released), or
 * with failed = true gives up. error (no secrets) is kept as last_error.
 * Only while owner holds the lease. Returns 0 or a store error. */
int sr_outbox_mark_retry(struct sr_store *st, const char *id, const char *owner, int64_t delay_ms,
			 bool failed, const char *error) SR_WUR;

#endif
