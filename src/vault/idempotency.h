/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_IDEMPOTENCY_H
#define SR_VAULT_IDEMPOTENCY_H

/*
 * Idempotency-Key records for the money-moving POSTs of the vault
 * (POST /v1/charges, POST /v1/payouts; docs/payments.md). A client that
 * retries a request with the same key and the same body gets the response
 * of the first request back, byte for byte, and nothing happens twice.
 *
 * A key is scoped to the API key that sent it, so two integrations never
 * see each other's keys. Its record (table vault_idempotency_keys) holds a
 * SHA-256 of the endpoint and the exact request body and, once the request
 * has been answered, the response status and body. Records live
 * SR_IDEM_TTL_S seconds; after that the key may be used again.
 *
 * Every function works inside the caller's write transaction on c, so that
 * claiming a key and recording what the request did (a pending charge, a
 * stored answer) commit together: a crash leaves either nothing or both.
 * Functions may run more than once (sr_store_tx retries): they reset their
 * outputs first.
 */
#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

struct sr_conn;

#define SR_IDEM_KEY_MAX  255         /* bytes of an Idempotency-Key value */
#define SR_IDEM_TTL_S    (24 * 3600) /* how long a key is remembered */
#define SR_IDEM_HASH_HEX 65          /* hex SHA-256 + NUL */
#define SR_IDEM_HEADER   "Idempotency-Key"

/* What a request with an Idempotency-Key should do. */
enum sr_idem_state {
	SR_IDEM_NEW = 1,   /* first use (or the old record expired): the key is now
			    * claimed "in flight" by this request; do the work and
			    * call sr_idem_finish in the transaction that answers */
	SR_IDEM_REPLAY,    /* answered before with the same request: send the stored
			    * status and body, with Idempotent-Replayed: true */
	SR_IDEM_MISMATCH,  /* used before with another endpoint or body: 409 */
	SR_IDEM_IN_FLIGHT, /* the first request with this key is still running: 409 */
};

struct sr_idem_record {
	enum sr_idem_state state;
	int status; /* SR_IDEM_REPLAY: the stored HTTP status */
	char *body; /* SR_IDEM_REPLAY: the stored body (malloc'd, NUL-terminated) */
	size_t body_len;
};

/*
 * Checks a header value: 1..SR_IDEM_KEY_MAX bytes of printable ASCII
 * (0x21..0x7e; no spaces, no control characters). Returns 0 or SR_E_INVAL
 * (NULL, empty, too long, bad byte).
 */
int sr_idem_key_check(const char *key) SR_WUR;

/* Hex SHA-256 over endpoint, a NUL, and body[0..len) (body may be NULL when
 * len is 0). Same endpoint and body bytes <=> same hash. */
void sr_idem_request_hash(const char *endpoint, const void *body, size_t len,
			  char out[SR_IDEM_HASH_HEX]);

/*
 * Looks up (scope, key) and claims it if it is unused or expired at now
 * (seconds since the epoch). *out is cleared first (its old body freed, so a
 * retried transaction may pass the same record). Safe against a concurrent
 * request with the same key on both backends (INSERT ... ON CONFLICT DO
 * NOTHING, then the row read FOR UPDATE).
 * Returns 0 (read out->state), SR_E_INVAL (bad scope/key/hash), or a store
 * error (SR_E_RETRY lets sr_store_tx retry).
 */
int sr_idem_begin(struct sr_conn *c, const char *scope, const char *key, const char *hash,
		  int64_t now, struct sr_idem_record *out) SR_WUR;

/*
 * Stores the answer (status, body of len bytes) for a key this request
 * claimed with sr_idem_begin, in the transaction that produced it.
 * Returns 0, SR_E_NOTFOUND (no in-flight record for scope/key), SR_E_INVAL,
 * or a store error.
 */
int sr_idem_finish(struct sr_conn *c, const char *scope, const char *key, int status,
		   const char *body, size_t len) SR_WUR;

/*
 * Forgets an in-flight claim whose request did nothing (an internal error
 * before any state change), so the client can retry with the same key.
 * Returns 0 (also when there was nothing to forget) or a store error.
 */
int sr_idem_release(struct sr_conn *c, const char *scope, const char *key) SR_WUR;

/* Deletes up to batch answered records that expired before now. Returns the
 * number deleted or a negative SR_E_*. In-flight records are kept: their
 * operation is still being resolved. */
int sr_idem_purge(struct sr_conn *c, int64_t now, unsigned batch) SR_WUR;

/* Frees out->body and clears *out. Accepts NULL. */
void sr_idem_record_clear(struct sr_idem_record *out);

#endif
