/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_SANDBOX_H
#define SR_VAULT_SANDBOX_H

/*
 * The sandbox processor: a struct sr_processor (vault/processor.h) with the
 * outcomes of shared/data/testvectors/cards.md, for development and tests.
 * It keeps its state in the vault database (migrations/vault/0011_sandbox.sql):
 * one row per operation id (so a repeated op id returns the first outcome)
 * and one row per scheduled asynchronous event (so a restart loses none).
 * The rules, magic amounts and settings are in docs/sandbox.md.
 */
#include "base/err.h"
#include "vault/processor.h"

#include <stdint.h>

struct sr_store;

/* Payout amounts (minor units, any currency) that are approved, then turn
 * failed / returned asynchronously after async_delay_ms. */
#define SR_SANDBOX_AMOUNT_PAYOUT_FAILS   1313
#define SR_SANDBOX_AMOUNT_PAYOUT_RETURNS 1414

struct sr_sandbox_options {
	unsigned latency_ms;     /* simulated processor latency per call (0: none) */
	unsigned async_delay_ms; /* delay before an async outcome is due */
	unsigned poll_ms;        /* how often due events are looked for (0: 200) */
};

/*
 * Fills *out (cleared first) with a sandbox connector over st (a migrated
 * vault database, which must outlive it). Does no I/O and starts no thread
 * until set_event_sink. Returns 0 or SR_E_NOMEM.
 */
int sr_sandbox_open(struct sr_store *st, const struct sr_sandbox_options *opt,
		    struct sr_processor *out) SR_WUR;

/*
 * Delivers every event due at now_ms_epoch (milliseconds since the epoch)
 * through the registered sink, each in its own transaction, now, on the
 * calling thread (the delivery thread does the same every poll_ms). For
 * tests. Returns the number delivered or a negative SR_E_*.
 */
int sr_sandbox_deliver_due(void *ctx, int64_t now_ms_epoch) SR_WUR;

#endif
