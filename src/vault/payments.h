/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_PAYMENTS_H
#define SR_VAULT_PAYMENTS_H

/*
 * Stored cards, charges and push-to-card payouts of the vault, for callers
 * holding the vault's secret key (docs/payments.md, docs/openapi.yaml):
 *
 *   POST /v1/cards {token}                     GET|DELETE /v1/cards/{id}
 *   POST /v1/charges {card|token, amount, currency, description?, metadata?}
 *   POST /v1/payouts {card, amount, currency, metadata?}
 *   GET /v1/charges/{id}                       GET /v1/payouts/{id}
 *
 * Money is never moved twice. A charge or payout is written "pending", with
 * the card sealed under its id (ch_… / po_…), in one transaction, BEFORE
 * the processor is called with that id as its deduplication key; the
 * outcome is written in a second transaction that also stores the answer
 * under the request's Idempotency-Key (vault/idempotency.h), queues the
 * signed webhook event for the platform and appends the audit record. After
 * a crash between the two, sr_payments_recover re-drives the pending rows
 * (the processor answers a repeated id with its first outcome).
 *
 * Asynchronous outcomes (a paid payout that later fails or is returned)
 * arrive through sr_payments_event_sink, registered with the processor.
 *
 * No response, log line, audit record or webhook holds a PAN: cards are
 * shown as brand, last4 and expiry (and bin6 on the card object).
 */
#include "base/err.h"
#include "vault/processor.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_router;
struct sr_runtime;
struct sr_vault_keys;
struct sr_conn;

struct sr_payments;

/*
 * A payments service over rt's database and keys->ring, calling proc (which
 * may be filled in later, before the service turns ready). All three must
 * outlive it. Aborts on out-of-memory.
 */
struct sr_payments *sr_payments_new(struct sr_runtime *rt, struct sr_vault_keys *keys,
				    struct sr_processor *proc);
void sr_payments_free(struct sr_payments *p);

/* Adds the routes above. Returns as sr_router_add. */
int sr_payments_add_routes(struct sr_router *r, struct sr_payments *p) SR_WUR;

/*
 * Re-drives every charge and payout left "pending" (a crash or an
 * unreachable processor between the two transactions): calls the processor
 * again with the same operation id and records the outcome, answering the
 * Idempotency-Key that is waiting for it. Call at start-up once the ring
 * is open and before the service turns ready; blocks (processor calls):
 * never on an event-loop thread. *redriven (may be NULL) gets the number
 * resolved. Returns 0, or the first error (the others are still tried;
 * rows left pending are logged and tried on the next pass).
 */
int sr_payments_recover(struct sr_payments *p, size_t *redriven) SR_WUR;

/*
 * Starts a background thread that, every interval_ms, re-drives operations
 * pending for more than a minute (a processor that was unreachable when the
 * request ran) and deletes expired Idempotency-Key records. Call once, after
 * sr_payments_recover. Returns 0 or SR_E_INTERNAL (cannot start a thread).
 */
int sr_payments_start_maintenance(struct sr_payments *p, unsigned interval_ms) SR_WUR;
/* Stops that thread (waits for a pass in hand). Accepts NULL; idempotent. */
void sr_payments_stop_maintenance(struct sr_payments *p);

/*
 * The processor's event sink (processor.h): updates the payout of ev->op_id
 * (paid -> failed / returned) and queues the signed webhook and the audit
 * record, all on c inside the connector's transaction. arg is the struct
 * sr_payments. Returns 0 (also for an event already applied or naming no
 * payout of ours, which is logged) or a store error (the event is offered
 * again later).
 */
int sr_payments_event_sink(struct sr_conn *c, void *arg, const struct sr_proc_event *ev);

/* ---- the request core, without HTTP (unit tests call it directly) ---- */

enum sr_pay_op {
	SR_PAY_CARD_CREATE = 1,
	SR_PAY_CARD_GET,
	SR_PAY_CARD_DELETE,
	SR_PAY_CHARGE_CREATE,
	SR_PAY_CHARGE_GET,
	SR_PAY_PAYOUT_CREATE,
	SR_PAY_PAYOUT_GET,
};

/* One authenticated API call and its answer. */
struct sr_pay_call {
	enum sr_pay_op op;
	const char *api_key_id;    /* id of the secret key that authenticated */
	const char *id;            /* {id} of GET / DELETE */
	const char *idem_key;      /* Idempotency-Key header or NULL */
	const unsigned char *body; /* request body (JSON) or NULL */
	size_t body_len;
	const char *ip, *request_id; /* for the audit log; may be NULL */
	/* results (sr_pay_call_clear frees them) */
	int status;     /* HTTP status */
	char *response; /* JSON body, malloc'd */
	size_t response_len;
	bool replayed; /* answered from the Idempotency-Key record */
};

/* Runs call on the calling thread (database, processor: blocks). Always
 * fills status and response (500 api_error when something failed). */
void sr_payments_call(struct sr_payments *p, struct sr_pay_call *call);
void sr_pay_call_clear(struct sr_pay_call *call);

#endif
