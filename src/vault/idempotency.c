/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Idempotency-Key records (see idempotency.h). The record is claimed with
 * INSERT ... ON CONFLICT DO NOTHING rather than "insert and catch the
 * unique violation": PostgreSQL aborts a transaction after any error, and a
 * concurrent INSERT of the same key waits for the first transaction to end
 * instead of racing it. The loser then reads the winner's row FOR UPDATE and
 * answers 409 (in flight) or replays the stored response.
 *
 * Nothing secret is stored: the key is chosen by the client and the body
 * is only hashed; the stored response is what the client was sent (masked
 * card data only, never a PAN).
 */
#include "vault/idempotency.h"
#include "store/store.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int sr_idem_key_check(const char *key)
{
	if (key == NULL)
		return SR_E_INVAL;
	size_t n = strnlen(key, SR_IDEM_KEY_MAX + 1);
	if (n == 0 || n > SR_IDEM_KEY_MAX)
		return SR_E_INVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
			return SR_E_INVAL;
	return 0;
}

void sr_idem_request_hash(const char *endpoint, const void *body, size_t len,
			  char out[SR_IDEM_HASH_HEX])
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_init(&st);
	/* The NUL separates endpoint and body: "/a" + "bc" != "/ab" + "c". */
	crypto_hash_sha256_update(&st, (const unsigned char *)endpoint, strlen(endpoint) + 1);
	if (len > 0)
		crypto_hash_sha256_update(&st, body, len);
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, SR_IDEM_HASH_HEX, h, sizeof h);
}

void sr_idem_record_clear(struct sr_idem_record *out)
{
	if (out == NULL)
		return;
	free(out->body);
	memset(out, 0, sizeof *out);
}

static bool args_ok(const char *scope, const char *key)
{
	return scope != NULL && scope[0] != '\0' && sr_idem_key_check(key) == 0;
}

/* Runs a statement with no result rows; *changes gets the rows changed. */
static int exec_changes(struct sr_stmt *s, int64_t *changes)
{
	int rc = sr_stmt_step(s);
	if (rc > 0)
		rc = 0;
	if (rc == 0 && changes != NULL)
		*changes = sr_stmt_changes(s);
	return rc;
}

int sr_idem_begin(struct sr_conn *c, const char *scope, const char *key, const char *hash,
		  int64_t now, struct sr_idem_record *out)
{
	struct sr_stmt *s = NULL;
	int64_t changes = 0;
	int rc;

	sr_idem_record_clear(out);
	if (!args_ok(scope, key) || hash == NULL || strlen(hash) != SR_IDEM_HASH_HEX - 1)
		return SR_E_INVAL;

	rc = sr_stmt_prepare(
		c,
		"INSERT INTO vault_idempotency_keys (scope, idem_key, request_hash, "
		"state, created_s, expires_s) VALUES ($1, $2, $3, 'in_flight', $4, $5) "
		"ON CONFLICT (scope, idem_key) DO NOTHING",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, scope, strlen(scope));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, key, strlen(key));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, hash, strlen(hash));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 4, now);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 5, now + SR_IDEM_TTL_S);
	if (rc == 0)
		rc = exec_changes(s, &changes);
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0)
		goto out;
	if (changes == 1) {
		out->state = SR_IDEM_NEW;
		goto out;
	}

	rc = sr_stmt_prepare(
		c,
		"SELECT request_hash, state, response_status, response_body, expires_s "
		"FROM vault_idempotency_keys WHERE scope = $1 AND idem_key = $2 "
		"FOR UPDATE",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, scope, strlen(scope));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, key, strlen(key));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			rc = SR_E_RETRY; /* deleted between our two statements: start over */
	}
	if (rc < 0)
		goto out;
	rc = 0;
	size_t n = 0;
	const char *stored_hash = sr_stmt_col_text(s, 0, &n);
	bool same = stored_hash != NULL && n == SR_IDEM_HASH_HEX - 1 &&
		    sodium_memcmp(stored_hash, hash, n) == 0;
	const char *state = sr_stmt_col_text(s, 1, &n);
	bool done = state != NULL && strcmp(state, "done") == 0;
	int64_t expires = sr_stmt_col_i64(s, 4);

	if (done && expires <= now) {
		/* An answered key past its 24 hours is a new key. An in-flight
		 * one is never reused: its operation is still being resolved. */
		sr_stmt_done(s);
		s = NULL;
		rc = sr_stmt_prepare(
			c,
			"UPDATE vault_idempotency_keys SET request_hash = $3, state = "
			"'in_flight', response_status = NULL, response_body = NULL, "
			"created_s = $4, expires_s = $5 WHERE scope = $1 AND idem_key = $2",
			&s);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 1, scope, strlen(scope));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 2, key, strlen(key));
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 3, hash, strlen(hash));
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 4, now);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 5, now + SR_IDEM_TTL_S);
		if (rc == 0)
			rc = exec_changes(s, NULL);
		if (rc == 0)
			out->state = SR_IDEM_NEW;
		goto out;
	}
	if (!same) {
		out->state = SR_IDEM_MISMATCH;
	} else if (!done) {
		out->state = SR_IDEM_IN_FLIGHT;
	} else {
		const char *body = sr_stmt_col_text(s, 3, &n);
		out->state = SR_IDEM_REPLAY;
		out->status = (int)sr_stmt_col_i64(s, 2);
		out->body = malloc(n + 1);
		if (out->body == NULL) {
			rc = SR_E_NOMEM;
			goto out;
		}
		if (n > 0)
			memcpy(out->body, body, n);
		out->body[n] = '\0';
		out->body_len = n;
	}
out:
	sr_stmt_done(s);
	if (rc != 0)
		sr_idem_record_clear(out);
	return rc;
}

int sr_idem_finish(struct sr_conn *c, const char *scope, const char *key, int status,
		   const char *body, size_t len)
{
	struct sr_stmt *s = NULL;
	int64_t changes = 0;
	if (!args_ok(scope, key) || body == NULL || status < 100 || status > 599)
		return SR_E_INVAL;
	int rc =
		sr_stmt_prepare(c,
				"UPDATE vault_idempotency_keys SET state = 'done', response_status "
				"= $3, response_body = $4 WHERE scope = $1 AND idem_key = $2 AND "
				"state = 'in_flight'",
				&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, scope, strlen(scope));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, key, strlen(key));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 3, status);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 4, body, len);
	if (rc == 0)
		rc = exec_changes(s, &changes);
	sr_stmt_done(s);
	if (rc == 0 && changes != 1)
		rc = SR_E_NOTFOUND;
	return rc;
}

int sr_idem_release(struct sr_conn *c, const char *scope, const char *key)
{
	struct sr_stmt *s = NULL;
	if (!args_ok(scope, key))
		return SR_E_INVAL;
	int rc = sr_stmt_prepare(
		c,
		"DELETE FROM vault_idempotency_keys WHERE scope = $1 AND idem_key = "
		"$2 AND state = 'in_flight'",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, scope, strlen(scope));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, key, strlen(key));
	if (rc == 0)
		rc = exec_changes(s, NULL);
	sr_stmt_done(s);
	return rc;
}

int sr_idem_purge(struct sr_conn *c, int64_t now, unsigned batch)
{
	struct sr_stmt *s = NULL;
	int64_t changes = 0;
	int rc =
		sr_stmt_prepare(c,
				"DELETE FROM vault_idempotency_keys WHERE (scope, idem_key) IN "
				"(SELECT scope, idem_key FROM vault_idempotency_keys WHERE state = "
				"'done' AND expires_s <= $1 LIMIT $2)",
				&s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, now);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, batch);
	if (rc == 0)
		rc = exec_changes(s, &changes);
	sr_stmt_done(s);
	return rc == 0 ? (int)changes : rc;
}
