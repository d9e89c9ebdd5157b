/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit record encoding, chain hash and MAC (see chain.h for the exact
 * layout). This file decides what "the same record" means for the audit log:
 * change one byte of any field, or move a byte from one field to the next,
 * and the hash changes. The MAC key is the only secret here; it is passed in
 * by the caller, who keeps it in sodium_malloc memory.
 */
#include "audit/chain.h"

#include <sodium.h>
#include <string.h>

static void put_len(crypto_hash_sha256_state *h, uint64_t n)
{
	uint8_t b[8];
	for (int i = 7; i >= 0; i--) {
		b[i] = (uint8_t)(n & 0xff);
		n >>= 8;
	}
	crypto_hash_sha256_update(h, b, sizeof b);
}

static void put_field(crypto_hash_sha256_state *h, const void *p, size_t len)
{
	put_len(h, (uint64_t)len);
	if (len > 0)
		crypto_hash_sha256_update(h, p, len);
}

static void put_text(crypto_hash_sha256_state *h, struct sr_audit_text t)
{
	put_field(h, t.p, t.p != NULL ? t.len : 0);
}

void sr_audit_chain_hash(const struct sr_audit_record *r, uint8_t out[SR_AUDIT_HASH_LEN])
{
	crypto_hash_sha256_state h;
	uint8_t seq[8];
	uint64_t s = (uint64_t)r->seq;

	for (int i = 7; i >= 0; i--) {
		seq[i] = (uint8_t)(s & 0xff);
		s >>= 8;
	}
	crypto_hash_sha256_init(&h);
	put_field(&h, SR_AUDIT_DOMAIN, sizeof SR_AUDIT_DOMAIN - 1);
	put_field(&h, seq, sizeof seq);
	put_text(&h, r->ts);
	put_text(&h, r->actor_type);
	put_text(&h, r->actor_id);
	put_text(&h, r->action);
	put_text(&h, r->object_type);
	put_text(&h, r->object_id);
	put_text(&h, r->outcome);
	put_text(&h, r->ip);
	put_text(&h, r->request_id);
	put_text(&h, r->details);
	put_field(&h, r->prev_hash, SR_AUDIT_HASH_LEN);
	crypto_hash_sha256_final(&h, out);
}

void sr_audit_chain_mac(const uint8_t *key, const uint8_t hash[SR_AUDIT_HASH_LEN],
			uint8_t out[SR_AUDIT_MAC_LEN])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, SR_AUDIT_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, hash, SR_AUDIT_HASH_LEN);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st); /* the state holds key-derived pads */
}

bool sr_audit_chain_mac_ok(const uint8_t *key, const uint8_t hash[SR_AUDIT_HASH_LEN],
			   const void *mac, size_t mac_len)
{
	uint8_t want[SR_AUDIT_MAC_LEN];
	bool ok;

	if (mac == NULL || mac_len != SR_AUDIT_MAC_LEN)
		return false;
	sr_audit_chain_mac(key, hash, want);
	ok = sodium_memcmp(want, mac, SR_AUDIT_MAC_LEN) == 0;
	sodium_memzero(want, sizeof want);
	return ok;
}

bool sr_audit_hash_eq(const uint8_t *a, const uint8_t *b)
{
	return sodium_memcmp(a, b, SR_AUDIT_HASH_LEN) == 0;
}

struct sr_audit_text sr_audit_text_of(const char *s)
{
	struct sr_audit_text t = {s != NULL ? s : "", s != NULL ? strlen(s) : 0};
	return t;
}
