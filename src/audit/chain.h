/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_AUDIT_CHAIN_H
#define SR_AUDIT_CHAIN_H

/*
 * The audit record's canonical encoding, its SHA-256 chain hash and its
 * HMAC-SHA256 tag. Pure functions of their arguments (no database, no
 * files), shared by the writer and the verifier so that both always agree,
 * and small enough to read in one sitting.
 *
 * hash = SHA-256( L("strongroom-audit-v1") || L(seq as 8 bytes big-endian)
 *                 || L(ts) || L(actor_type) || L(actor_id) || L(action)
 *                 || L(object_type) || L(object_id) || L(outcome) || L(ip)
 *                 || L(request_id) || L(details) || L(prev_hash) )
 * where L(x) = 8-byte big-endian length of x, then x. Every field carries
 * its own length, so ("ab","c") and ("a","bc") encode differently.
 * mac  = HMAC-SHA256(audit key, hash).
 *
 * Thread rules: none; everything here is reentrant.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_AUDIT_DOMAIN   "strongroom-audit-v1"
#define SR_AUDIT_HASH_LEN 32
#define SR_AUDIT_MAC_LEN  32
#define SR_AUDIT_KEY_LEN  32

/* A text field as stored: a view of len bytes, not necessarily NUL-ended. */
struct sr_audit_text {
	const char *p;
	size_t len;
};

/* One audit_log row. The views belong to the caller. */
struct sr_audit_record {
	int64_t seq;
	struct sr_audit_text ts, actor_type, actor_id, action, object_type, object_id, outcome, ip,
		request_id, details;
	uint8_t prev_hash[SR_AUDIT_HASH_LEN];
};

/* Computes the chain hash of r into out. Cannot fail. */
void sr_audit_chain_hash(const struct sr_audit_record *r, uint8_t out[SR_AUDIT_HASH_LEN]);

/* mac = HMAC-SHA256(key, hash). key is SR_AUDIT_KEY_LEN bytes (secret). */
void sr_audit_chain_mac(const uint8_t *key, const uint8_t hash[SR_AUDIT_HASH_LEN],
			uint8_t out[SR_AUDIT_MAC_LEN]);

/* True when mac (mac_len bytes, as read from the database) is the right tag
 * of hash under key. Constant-time in the tag's content. */
bool sr_audit_chain_mac_ok(const uint8_t *key, const uint8_t hash[SR_AUDIT_HASH_LEN],
			   const void *mac, size_t mac_len);

/* True when a and b are equal 32-byte hashes (public data, no early exit). */
bool sr_audit_hash_eq(const uint8_t *a, const uint8_t *b);

/* A view of a NUL-terminated string (NULL reads as ""). */
struct sr_audit_text sr_audit_text_of(const char *s);

#endif
