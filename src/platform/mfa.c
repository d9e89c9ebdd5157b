/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The second factor: TOTP (RFC 6238 through crypto/totp) and recovery codes
 * (crypto/recovery), as login (mfa.h) and the enrolment routes (mfa_api.c)
 * use them.
 *
 * Who holds what: the 20-byte TOTP secret is sealed under the member's own
 * data key (pii.h, field "totp_secret") and opened here only for the length
 * of one check, into sodium_malloc memory that is wiped at once. Recovery
 * codes are stored only as MACs under a subkey of the lookup key. Each TOTP
 * time step is usable once: mfa_totp.last_used_step records the step of the
 * last accepted code and only a later step is accepted afterwards; the
 * UPDATE that records it is guarded by "last_used_step < new", so two
 * requests racing with the same code cannot both succeed (PostgreSQL's
 * row lock orders them, SQLite's write lock too).
 */
#include "platform/mfa.h"
#include "audit/audit.h"
#include "platform/accounts.h"
#include "platform/mfa_int.h"
#include "platform/pii.h"
#include "store/store.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t sr_mfa_now(void)
{
	return (int64_t)time(NULL);
}

void sr_mfa_recovery_key(const struct sr_accounts *acc, unsigned char key[32])
{
	char hex[SR_ACCOUNTS_HASH_HEX];
	static const char info[] = "strongroom recovery codes v1";
	sr_accounts_keyed_hash(acc, "recovery_codes", info, sizeof info - 1, hex);
	size_t n = 0;
	if (sodium_hex2bin(key, 32, hex, 64, NULL, &n, NULL) != 0 || n != 32)
		abort(); /* keyed_hash always gives 64 hex digits */
	sodium_memzero(hex, sizeof hex);
}

static bool is_totp_shape(const char *code)
{
	size_t n = strlen(code);
	if (n != SR_TOTP_DIGITS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

/* The TOTP secret of user_id's row in state want, opened. *secret is
 * sodium_malloc'd (sodium_free), NULL when there is no row. */
static int load_secret(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		       const char *want, char **secret, size_t *len, int64_t *last_step)
{
	struct sr_stmt *s = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	*secret = NULL;
	*len = 0;
	*last_step = -1;
	int rc = sr_stmt_prepare(c,
				 "SELECT secret_sealed, last_used_step FROM mfa_totp WHERE user_id "
				 "= $1 AND state = $2",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, want, strlen(want));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		size_t n = 0;
		const void *b = sr_stmt_col_blob(s, 0, &n);
		blob = malloc(n ? n : 1);
		if (blob == NULL)
			abort();
		memcpy(blob, b, n);
		blob_len = n;
		*last_step = sr_stmt_col_i64(s, 1);
		rc = 0;
	} else if (rc == 0) {
		goto out; /* no row */
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0)
		goto out;
	rc = sr_pii_open(c, sr_accounts_pii(acc), user_id, SR_MFA_FIELD_TOTP, blob, blob_len,
			 secret, len);
out:
	sr_stmt_done(s);
	free(blob);
	return rc;
}

static int check_totp(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		      const char *want, const char *code, bool *found, enum sr_mfa_check *out)
{
	char *secret = NULL;
	size_t len = 0;
	int64_t last = -1, matched = -1;
	struct sr_stmt *s = NULL;
	*found = false;
	int rc = load_secret(c, acc, user_id, want, &secret, &len, &last);
	if (rc != 0 || secret == NULL)
		goto out;
	*found = true;
	*out = SR_MFA_BAD_CODE;
	if (!is_totp_shape(code))
		goto out;
	int64_t now = sr_mfa_now();
	rc = sr_totp_verify((const unsigned char *)secret, len, code, now, last, &matched);
	if (rc == SR_E_AUTH) {
		/* Right code for a step already spent? Tell it apart for the
		 * caller's message and audit, never accept it. */
		int64_t again = -1;
		rc = 0;
		if (sr_totp_verify((const unsigned char *)secret, len, code, now, -1, &again) == 0)
			*out = SR_MFA_USED_CODE;
		goto out;
	}
	if (rc != 0)
		goto out;
	rc = sr_stmt_prepare(c,
			     "UPDATE mfa_totp SET last_used_step = $1 WHERE user_id = $2 AND "
			     "state = $3 AND last_used_step < $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, matched);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, want, strlen(want));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc >= 0) {
		*out = sr_stmt_changes(s) == 1 ? SR_MFA_OK : SR_MFA_USED_CODE;
		rc = 0;
	}
out:
	sr_stmt_done(s);
	if (secret != NULL)
		sodium_free(secret);
	return rc;
}

static int check_recovery(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			  const char *code, enum sr_mfa_check *out)
{
	unsigned char(*hashes)[SR_RECOVERY_HASH_BYTES] = NULL;
	int64_t idx[SR_RECOVERY_CODES];
	size_t n = 0;
	struct sr_stmt *s = NULL;
	unsigned char key[32];
	sr_mfa_recovery_key(acc, key);
	hashes = calloc(SR_RECOVERY_CODES, sizeof *hashes);
	if (hashes == NULL)
		abort();
	int rc = sr_stmt_prepare(c,
				 "SELECT idx, code_hash FROM mfa_recovery_codes WHERE user_id = $1 "
				 "AND used_at IS NULL ORDER BY idx",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	while (rc == 0 && n < SR_RECOVERY_CODES) {
		int r = sr_stmt_step(s);
		if (r < 0)
			rc = r;
		if (r <= 0)
			break;
		size_t hl = 0;
		const void *h = sr_stmt_col_blob(s, 1, &hl);
		if (hl != SR_RECOVERY_HASH_BYTES)
			continue; /* not ours; never matches */
		idx[n] = sr_stmt_col_i64(s, 0);
		memcpy(hashes[n], h, SR_RECOVERY_HASH_BYTES);
		n++;
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0 || n == 0)
		goto out;
	int which = -1;
	if (sr_recovery_verify(key, (const unsigned char(*)[SR_RECOVERY_HASH_BYTES])hashes, n, code,
			       strlen(code), &which) != 0 ||
	    which < 0)
		goto out;
	char now[32];
	sr_audit_now(now, sizeof now);
	rc = sr_stmt_prepare(c,
			     "UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND "
			     "idx = $3 AND used_at IS NULL",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 3, idx[which]);
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc >= 0) {
		if (sr_stmt_changes(s) == 1)
			*out = SR_MFA_OK_RECOVERY;
		rc = 0;
	}
out:
	sr_stmt_done(s);
	sodium_memzero(key, sizeof key);
	free(hashes);
	return rc;
}

int sr_mfa_verify(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		  const char *want, const char *code, bool allow_recovery, enum sr_mfa_check *out)
{
	*out = SR_MFA_NOT_ENROLLED;
	bool found = false;
	int rc = 0;
	if (code == NULL || code[0] == '\0') {
		/* Enrolled? Then the code is missing, which login reports as
		 * "otp required" without counting a failure. */
		char *secret = NULL;
		size_t len = 0;
		int64_t last = -1;
		rc = load_secret(c, acc, user_id, want, &secret, &len, &last);
		if (secret != NULL) {
			*out = SR_MFA_MISSING;
			sodium_free(secret);
		}
		return rc;
	}
	rc = check_totp(c, acc, user_id, want, code, &found, out);
	if (rc != 0 || !found)
		return rc;
	if (*out == SR_MFA_BAD_CODE && allow_recovery && !is_totp_shape(code))
		rc = check_recovery(c, acc, user_id, code, out);
	return rc;
}

int sr_mfa_check_login(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		       const char *otp, enum sr_mfa_check *out)
{
	return sr_mfa_verify(c, acc, user_id, "enabled", otp, true, out);
}

int sr_mfa_enabled(struct sr_conn *c, const char *user_id, bool *enabled)
{
	struct sr_stmt *s = NULL;
	*enabled = false;
	int rc = sr_stmt_prepare(
		c, "SELECT 1 FROM mfa_totp WHERE user_id = $1 AND state = 'enabled'", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc >= 0) {
		*enabled = rc == 1;
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

static int exec_user(struct sr_conn *c, const char *sql, const char *user_id)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	rc = rc < 0 ? rc : 0;
	sr_stmt_done(s);
	return rc;
}

int sr_mfa_new_recovery_codes(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			      char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT])
{
	unsigned char key[32];
	unsigned char hashes[SR_RECOVERY_CODES][SR_RECOVERY_HASH_BYTES];
	struct sr_stmt *s = NULL;
	char now[32];
	sr_audit_now(now, sizeof now);
	sr_mfa_recovery_key(acc, key);
	int rc = sr_recovery_generate(key, codes, hashes);
	if (rc == 0)
		rc = exec_user(c, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id);
	for (int i = 0; rc == 0 && i < SR_RECOVERY_CODES; i++) {
		rc = sr_stmt_prepare(c,
				     "INSERT INTO mfa_recovery_codes (user_id, idx, code_hash, "
				     "created_at) VALUES ($1, $2, $3, $4)",
				     &s);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 2, i);
		if (rc == 0)
			rc = sr_stmt_bind_blob(s, 3, hashes[i], SR_RECOVERY_HASH_BYTES);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 4, now, strlen(now));
		if (rc == 0)
			rc = sr_stmt_step(s);
		rc = rc < 0 ? rc : 0;
		sr_stmt_done(s);
		s = NULL;
	}
	sodium_memzero(key, sizeof key);
	if (rc != 0)
		sodium_memzero(codes, sizeof(char[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT]));
	return rc;
}

int sr_mfa_recovery_remaining(struct sr_conn *c, const char *user_id, int64_t *n)
{
	struct sr_stmt *s = NULL;
	*n = 0;
	int rc = sr_stmt_prepare(c,
				 "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND "
				 "used_at IS NULL",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1)
		*n = sr_stmt_col_i64(s, 0);
	rc = rc < 0 ? rc : 0;
	sr_stmt_done(s);
	return rc;
}

int sr_mfa_remove(struct sr_conn *c, const char *user_id, bool *removed)
{
	*removed = false;
	int rc = sr_mfa_enabled(c, user_id, removed);
	if (rc == 0)
		rc = exec_user(c, "DELETE FROM mfa_recovery_codes WHERE user_id = $1", user_id);
	if (rc == 0)
		rc = exec_user(c, "DELETE FROM mfa_totp WHERE user_id = $1", user_id);
	return rc;
}
