/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_AUDIT_AUDIT_H
#define SR_AUDIT_AUDIT_H

/*
 * The tamper-evident audit log: the writer side.
 *
 * Every audited change calls sr_audit_append() INSIDE the transaction that
 * makes the change, so the change and its audit record commit together or
 * not at all: a crash can never leave a change without its record, nor a
 * half-written chain. Events that change nothing else (service start/stop)
 * use sr_audit_record(), which runs its own write transaction.
 *
 * Each record is chained to the one before it (SHA-256, see chain.h) and
 * tagged with HMAC-SHA256 under the service's audit key, so that someone with
 * write access to the database but not the key cannot change, delete,
 * reorder, insert or truncate records unnoticed by `strongroom audit verify`
 * (truncation of the tail is caught by the signed checkpoints of
 * checkpoint.h, kept outside the database).
 *
 * NEVER pass secrets or personal data in an event: card numbers, CVCs,
 * passwords, tokens, keys, full names, addresses. Pass masked values and
 * ids (last4, usr_..., key prefixes). The writer cannot tell a secret from
 * any other text; what it is given is kept forever.
 */
#include "audit/chain.h"
#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

struct sr_conn;
struct sr_store;

/* Field length ceilings; longer input is refused with SR_E_INVAL. */
#define SR_AUDIT_ACTION_MAX     64
#define SR_AUDIT_ID_MAX         128 /* actor_id, object_id */
#define SR_AUDIT_TYPE_MAX       64  /* object_type */
#define SR_AUDIT_IP_MAX         64
#define SR_AUDIT_REQUEST_ID_MAX 64
#define SR_AUDIT_DETAILS_MAX    4096

/* The HMAC key of one service's audit log, in sodium_malloc memory
 * (read-only after loading, wiped on free). */
struct sr_audit_key;

/*
 * Loads the audit key from path: exactly 32 raw bytes, a regular file that
 * neither group nor others may read (0400 or 0600). Returns 0, SR_E_IO
 * (cannot open/read; errno kept), SR_E_CONFIG (group/world readable, not a
 * regular file), SR_E_INVAL (not exactly 32 bytes).
 */
int sr_audit_key_load(const char *path, struct sr_audit_key **out) SR_WUR;
/* A key from 32 bytes in memory (tests, key-management tools). Copies. */
int sr_audit_key_from_bytes(const uint8_t *bytes, size_t len, struct sr_audit_key **out) SR_WUR;
/* Wipes and frees; accepts NULL. */
void sr_audit_key_free(struct sr_audit_key *key);
/* The 32 key bytes, for chain.h (do not copy them anywhere else). */
const uint8_t *sr_audit_key_bytes(const struct sr_audit_key *key);

/*
 * Reads a raw key file of exactly len bytes into out (caller's secret
 * memory), refusing files group or others can read. Returns as
 * sr_audit_key_load. The lead may replace this with a shared key-file reader.
 */
int sr_audit_read_keyfile(const char *path, uint8_t *out, size_t len) SR_WUR;

/*
 * One event. NULL text fields read as "" except where noted.
 *   actor_type  "user" | "api_key" | "system" (required)
 *   actor_id    usr_..., key id, or the service name for system events
 *   action      dotted name, e.g. "service.start", "payout.approve" (required;
 *               [a-z0-9._-], at most SR_AUDIT_ACTION_MAX)
 *   object_type, object_id  what was acted on ("" when nothing)
 *   outcome     "success" | "failure" | "denied" (required)
 *   ip          client address ("" for system events)
 *   request_id  the request's id ("" when none)
 *   details     a JSON object, at most 4 KiB; NULL means "{}". Masked values only.
 * Text fields must not contain control characters (they are shown in
 * terminals by `strongroom audit tail`).
 */
struct sr_audit_event {
	const char *actor_type;
	const char *actor_id;
	const char *action;
	const char *object_type;
	const char *object_id;
	const char *outcome;
	const char *ip;
	const char *request_id;
	const char *details;
};

/* Checks ev against the rules above. 0 or SR_E_INVAL. */
int sr_audit_event_validate(const struct sr_audit_event *ev) SR_WUR;

/*
 * Appends ev to the log on c, which must be inside a write transaction
 * (sr_store_tx with SR_TX_WRITE or SR_TX_SERIALIZABLE); the record commits
 * or rolls back with that transaction. Takes the audit_head row lock, so
 * concurrent appenders serialize on it until they commit: call it late in
 * the transaction.
 * Returns 0, SR_E_INVAL (bad event), SR_E_RETRY (lost a race; let
 * sr_store_tx run the transaction again), SR_E_TAMPER (audit_head and
 * audit_log disagree), SR_E_STORE or another store error.
 * Thread rules: those of c.
 */
int sr_audit_append(struct sr_conn *c, const struct sr_audit_key *key,
		    const struct sr_audit_event *ev) SR_WUR;

/*
 * Appends ev in a transaction of its own (SR_TX_WRITE): for events that
 * change nothing else, such as "service.start". Returns as sr_audit_append.
 * Thread-safe (st may be shared).
 */
int sr_audit_record(struct sr_store *st, const struct sr_audit_key *key,
		    const struct sr_audit_event *ev) SR_WUR;

/* Writes the current UTC time as RFC 3339 with milliseconds
 * ("2026-01-31T12:34:56.789Z") into buf (at least 25 bytes). */
void sr_audit_now(char *buf, size_t len);

#endif
