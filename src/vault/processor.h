/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_PROCESSOR_H
#define SR_VAULT_PROCESSOR_H

/*
 * The processor connector: how the vault asks a card processor to verify a
 * card (zero amount, with the CVC), charge it, or push money to it (payout).
 * The built-in sandbox (vault/sandbox.h, docs/sandbox.md) implements it; a
 * real processor plugs in by filling the same struct.
 *
 * Idempotency. Every call carries OUR operation id (the token id for a
 * verification, the charge id, the payout id). A connector must deduplicate
 * by it: calling again with the same op id returns the outcome of the first
 * call and never moves money twice. So after a crash, a timeout or an
 * SR_E_UNAVAILABLE, the caller simply calls again with the same op id. An
 * op id reused for a different kind of call or a different amount/currency is
 * SR_E_CONFLICT.
 *
 * Synchronous results come back in struct sr_proc_result. Outcomes that come
 * later (a payout that was approved and then fails, or is returned by the
 * card issuer) come back through the event sink the vault registers with
 * set_event_sink: the connector calls it inside a write transaction of the
 * vault database, so the vault records the event (e.g. queues a webhook) in
 * the same commit in which the connector marks it delivered: no event is
 * lost or delivered twice, across restarts too.
 *
 * Threads: verify/charge/payout block (network, simulated latency, the
 * database) and may be called from any worker-pool thread at once; never on
 * an event-loop thread and never inside sr_store_tx (the connector may use
 * the vault database itself). Secrets: card->pan and card->cvc are only
 * read during the call; a connector must not copy them anywhere that
 * outlives the call (a real connector sends them to its processor over TLS
 * and wipes its buffers).
 */
#include "base/err.h"
#include "lib/card.h"

#include <stdint.h>

struct sr_conn;

#define SR_PROC_OP_ID_MAX     64 /* bytes of an operation id ("tok_…", "ch_…", "po_…") */
#define SR_PROC_CODE_MAX      40 /* bytes of a decline / event code */
#define SR_PROC_REFERENCE_MAX 64 /* bytes of the processor's own reference */

enum sr_proc_status {
	SR_PROC_APPROVED = 1,            /* money moved (charge, payout) / card verified */
	SR_PROC_DECLINED,                /* the issuer said no; code says why; final */
	SR_PROC_ERROR,                   /* processor-side failure; code processing_error; the
				      * same op id may be tried again later */
	SR_PROC_REQUIRES_AUTHENTICATION, /* 3-D Secure needed; code authentication_required */
};

/*
 * Decline / error codes a connector returns (in struct sr_proc_result.code
 * and in events), shared with the API's error codes:
 */
#define SR_PROC_CODE_CARD_DECLINED           "card_declined"
#define SR_PROC_CODE_GENERIC_DECLINE         "generic_decline"
#define SR_PROC_CODE_INSUFFICIENT_FUNDS      "insufficient_funds"
#define SR_PROC_CODE_INCORRECT_CVC           "incorrect_cvc"
#define SR_PROC_CODE_EXPIRED_CARD            "expired_card"
#define SR_PROC_CODE_PROCESSING_ERROR        "processing_error"
#define SR_PROC_CODE_AUTHENTICATION_REQUIRED "authentication_required"
#define SR_PROC_CODE_PAYOUTS_NOT_ALLOWED     "payouts_not_allowed"
/* Async payout outcomes (events): */
#define SR_PROC_CODE_COULD_NOT_PROCESS "could_not_process"
#define SR_PROC_CODE_ACCOUNT_CLOSED    "account_closed"

/* The card as a connector sees it: views, valid during the call only. */
struct sr_proc_card {
	const struct sr_card_pan *pan; /* digits + brand; secret */
	unsigned exp_month;            /* 1..12 */
	unsigned exp_year;             /* four digits */
	const char *cvc;               /* secret; NULL except for verify */
	const char *name;              /* cardholder name or "" */
};

struct sr_proc_result {
	enum sr_proc_status status;
	/* "" when approved; else one of SR_PROC_CODE_* */
	char code[SR_PROC_CODE_MAX + 1];
	/* the processor's id for this operation ("" if it gave none); not secret */
	char reference[SR_PROC_REFERENCE_MAX + 1];
	/* verify only: the CVC check, "pass" | "fail" | "unavailable" */
	char cvc_check[16];
};

enum sr_proc_event_kind {
	SR_PROC_EVENT_PAYOUT_FAILED = 1, /* an approved payout did not reach the card */
	SR_PROC_EVENT_PAYOUT_RETURNED,   /* it reached the card, then came back */
};

/* "payout.failed" / "payout.returned". */
const char *sr_proc_event_kind_name(enum sr_proc_event_kind kind);

struct sr_proc_event {
	const char *op_id; /* our operation id (the payout id) */
	enum sr_proc_event_kind kind;
	const char *code;      /* SR_PROC_CODE_* saying why */
	const char *reference; /* the processor's reference of the operation */
	int64_t amount;        /* minor units of the original operation */
	const char *currency;  /* ISO 4217 upper case */
};

/*
 * The vault's event sink. Called by the connector (on its own thread) inside
 * a write transaction on c of the vault database: record what the event
 * means there (payout state, webhook queue, audit) and return 0, and the
 * event is marked delivered in the same commit. Any other return rolls back
 * and the event is offered again later. Like any sr_store_tx function it may
 * run more than once: touch only c and arg.
 */
typedef int (*sr_proc_event_fn)(struct sr_conn *c, void *arg, const struct sr_proc_event *ev);

struct sr_processor {
	const char *name; /* "sandbox", … (for logs, metrics, audit) */
	void *ctx;

	/*
	 * Zero-amount verification, with the CVC (card->cvc must be set). Fills
	 * *out (cleared first) including cvc_check. Returns 0 (read out->status),
	 * SR_E_UNAVAILABLE (processor unreachable: outcome unknown, call again
	 * with the same op id), SR_E_CONFLICT (op_id used for another call),
	 * SR_E_INVAL, SR_E_STORE.
	 */
	int (*verify)(void *ctx, const char *op_id, const struct sr_proc_card *card,
		      struct sr_proc_result *out);

	/* Charges amount minor units of currency (upper case ISO 4217) to the
	 * card. Returns as verify. */
	int (*charge)(void *ctx, const char *op_id, const struct sr_proc_card *card, int64_t amount,
		      const char *currency, struct sr_proc_result *out);

	/* Pushes amount to the card (push-to-card payout). Cards that cannot
	 * receive push payments are declined with payouts_not_allowed. An
	 * approved payout may still fail or be returned later (events).
	 * Returns as verify. */
	int (*payout)(void *ctx, const char *op_id, const struct sr_proc_card *card, int64_t amount,
		      const char *currency, struct sr_proc_result *out);

	/*
	 * Registers the sink for asynchronous outcomes and starts delivering
	 * them (events that came due while no sink was set, e.g. during a
	 * restart, are delivered then). Call once, before traffic. fn/arg must
	 * stay valid until close. Returns 0 or SR_E_* (cannot start a thread).
	 */
	int (*set_event_sink)(void *ctx, sr_proc_event_fn fn, void *arg);

	/* Stops delivery (waits for an event in flight) and frees ctx. */
	void (*close)(void *ctx);
};

#endif
