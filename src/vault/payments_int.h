/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_PAYMENTS_INT_H
#define SR_VAULT_PAYMENTS_INT_H

/* Shared between cards_api.c (stored cards) and payments.c (charges,
 * payouts, HTTP glue). Not for other modules. */
#include "vault/payments.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sr_keyring;
struct sr_poller;

struct sr_payments {
	struct sr_runtime *rt; /* NULL when built from parts (tests) */
	struct sr_store *st;   /* from parts; else the runtime's */
	const struct sr_audit_key *audit_key;
	struct sr_vault_keys *keys;
	struct sr_processor *proc;
	/* counters for /metrics */
	atomic_ullong charges_succeeded, charges_failed, payouts_paid, payouts_failed;
	atomic_ullong unreachable, recovered;
	/* maintenance pass (sr_payments_start_maintenance); NULL when stopped */
	struct sr_poller *maintenance;
};

struct sr_store;
struct sr_audit_key;
/* A payments service over explicit parts instead of a runtime, for unit
 * tests and tools: no HTTP routes (they need the runtime's API keys). */
struct sr_payments *sr_payments_new_from_parts(struct sr_store *st,
					       const struct sr_audit_key *audit_key,
					       struct sr_vault_keys *keys,
					       struct sr_processor *proc);
/* The database and audit key in use. */
struct sr_store *sr_pay_store(const struct sr_payments *p);
const struct sr_audit_key *sr_pay_audit_key(const struct sr_payments *p);

#define SR_PAY_ID_MAX 40 /* "card_" / "ch_" / "po_" + 24 hex + NUL, with room */

/* prefix + 24 random hex digits. */
void sr_pay_new_id(const char *prefix, char out[SR_PAY_ID_MAX]);
/* The open key ring or NULL (not started). */
struct sr_keyring *sr_pay_ring(const struct sr_payments *p);
/* An {"error":{type, code, message, param}} answer (param may be NULL). */
void sr_pay_set_error(struct sr_pay_call *call, int status, const char *type, const char *code,
		      const char *message, const char *param);
/* An answer with body j (decref'd), dumped compactly. */
void sr_pay_set_json(struct sr_pay_call *call, int status, json_t *j);
/* Parses the request body as one JSON object; on failure answers 400 and
 * returns NULL. */
json_t *sr_pay_parse_body(struct sr_pay_call *call);
/* Answers 400 parameter_unknown if obj has a member not in allowed (NULL
 * terminated); returns -1 then, else 0. */
int sr_pay_only_params(struct sr_pay_call *call, json_t *obj, const char *const *allowed);
/* True when s looks like an id with this prefix ([A-Za-z0-9_] after it, at
 * most SR_PAY_ID_MAX - 1 bytes in all). */
bool sr_pay_id_ok(const char *s, const char *prefix);

/* The card routes' work (cards_api.c). */
void sr_pay_card_create(struct sr_payments *p, struct sr_pay_call *call);
void sr_pay_card_get(struct sr_payments *p, struct sr_pay_call *call);
void sr_pay_card_delete(struct sr_payments *p, struct sr_pay_call *call);

/*
 * Reads stored card card_id on c (not deleted) and opens its sealed data:
 * *out (cleared first; sr_vault_card_free) on success. Returns 0,
 * SR_E_NOTFOUND (no such card, or deleted), SR_E_CRYPTO, or a store error.
 */
struct sr_vault_card;
int sr_pay_card_load(struct sr_conn *c, struct sr_keyring *ring, const char *card_id,
		     struct sr_vault_card **out) SR_WUR;

#endif
