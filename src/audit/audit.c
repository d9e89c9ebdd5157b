/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit log writer: validates an event, chains it to the current head and
 * writes record and head in the caller's transaction.
 *
 * Secrets: the audit HMAC key is read from its key file into sodium_malloc
 * memory, made read-only, and only handed to chain.c. Whoever holds it can
 * forge records, so only the service that owns the log (and the offline
 * verifier) loads it. Events must carry masked values only (see audit.h).
 *
 * Concurrency: the first statement takes the audit_head row lock (an UPDATE
 * that changes nothing: a portable "SELECT ... FOR UPDATE" that both
 * SQLite and PostgreSQL accept). On SQLite the caller's BEGIN IMMEDIATE has
 * already serialized writers; on PostgreSQL the lock makes the next
 * appender wait for this transaction's commit, so seq stays gap-free.
 */
#include "audit/audit.h"
#include "base/clock.h"
#include "base/log.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sr_audit_key {
	uint8_t *bytes; /* sodium_malloc, SR_AUDIT_KEY_LEN, read-only */
};

/* ---- keys ---------------------------------------------------------------- */

int sr_audit_read_keyfile(const char *path, uint8_t *out, size_t len)
{
	struct stat sb;
	uint8_t extra;
	size_t got = 0;
	int fd = -1, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		rc = SR_E_IO;
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	/* A key others can read is a key others may have copied: refuse it
	 * rather than sign and MAC with it, as ssh does with private keys. */
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = SR_E_CONFIG;
		goto out;
	}
	if (sb.st_size != (off_t)len) {
		rc = SR_E_INVAL;
		goto out;
	}
	while (got < len) {
		ssize_t n = read(fd, out + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n == 0 ? SR_E_INVAL : SR_E_IO;
			goto out;
		}
		got += (size_t)n;
	}
	/* The file may have grown since fstat. */
	if (read(fd, &extra, 1) != 0)
		rc = SR_E_INVAL;
out:
	if (rc != 0)
		sodium_memzero(out, len);
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

static struct sr_audit_key *key_new(void)
{
	struct sr_audit_key *key = calloc(1, sizeof *key);
	if (key == NULL)
		abort();
	key->bytes = sodium_malloc(SR_AUDIT_KEY_LEN);
	if (key->bytes == NULL)
		abort();
	return key;
}

int sr_audit_key_load(const char *path, struct sr_audit_key **out)
{
	struct sr_audit_key *key = NULL;
	int rc;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return SR_E_CONFIG;
	key = key_new();
	rc = sr_audit_read_keyfile(path, key->bytes, SR_AUDIT_KEY_LEN);
	if (rc != 0)
		goto out;
	sodium_mprotect_readonly(key->bytes);
	*out = key;
	key = NULL;
out:
	sr_audit_key_free(key);
	return rc;
}

int sr_audit_key_from_bytes(const uint8_t *bytes, size_t len, struct sr_audit_key **out)
{
	struct sr_audit_key *key;

	*out = NULL;
	if (bytes == NULL || len != SR_AUDIT_KEY_LEN)
		return SR_E_INVAL;
	key = key_new();
	memcpy(key->bytes, bytes, SR_AUDIT_KEY_LEN);
	sodium_mprotect_readonly(key->bytes);
	*out = key;
	return 0;
}

void sr_audit_key_free(struct sr_audit_key *key)
{
	if (key == NULL)
		return;
	sodium_free(key->bytes); /* wipes */
	free(key);
}

const uint8_t *sr_audit_key_bytes(const struct sr_audit_key *key)
{
	return key->bytes;
}

/* ---- events -------------------------------------------------------------- */

static bool one_of(const char *s, const char *const *allowed)
{
	for (; *allowed != NULL; allowed++)
		if (strcmp(s, *allowed) == 0)
			return true;
	return false;
}

/* Printable, no control characters, at most max bytes. */
static bool text_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return true;
	for (; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];
		if (n >= max || ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

static bool action_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
			  ch == '_' || ch == '-';
		if (n >= SR_AUDIT_ACTION_MAX || !ok)
			return false;
	}
	return true;
}

static bool details_ok(const char *s)
{
	json_error_t jerr;
	json_t *v;
	bool ok;
	size_t len;

	if (s == NULL)
		return true;
	len = strlen(s);
	if (len == 0 || len > SR_AUDIT_DETAILS_MAX)
		return false;
	v = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	ok = v != NULL && json_is_object(v);
	json_decref(v);
	return ok;
}

int sr_audit_event_validate(const struct sr_audit_event *ev)
{
	static const char *const actor_types[] = {"user", "api_key", "system", NULL};
	static const char *const outcomes[] = {"success", "failure", "denied", NULL};

	if (ev == NULL || ev->actor_type == NULL || !one_of(ev->actor_type, actor_types))
		return SR_E_INVAL;
	if (ev->outcome == NULL || !one_of(ev->outcome, outcomes))
		return SR_E_INVAL;
	if (!action_ok(ev->action))
		return SR_E_INVAL;
	if (!text_ok(ev->actor_id, SR_AUDIT_ID_MAX) || !text_ok(ev->object_id, SR_AUDIT_ID_MAX) ||
	    !text_ok(ev->object_type, SR_AUDIT_TYPE_MAX) || !text_ok(ev->ip, SR_AUDIT_IP_MAX) ||
	    !text_ok(ev->request_id, SR_AUDIT_REQUEST_ID_MAX))
		return SR_E_INVAL;
	if (!details_ok(ev->details))
		return SR_E_INVAL;
	return 0;
}

void sr_audit_now(char *buf, size_t len)
{
	char now[SR_CLOCK_TEXT_SIZE];
	sr_clock_text(0, now);
	snprintf(buf, len, "%s", now);
}

/* ---- append -------------------------------------------------------------- */

/* Runs a prepared statement that returns no rows. */
static int run(struct sr_stmt *s)
{
	int rc = sr_stmt_step(s);
	return rc > 0 ? 0 : rc;
}

static int bind_text(struct sr_stmt *s, int idx, struct sr_audit_text t)
{
	return sr_stmt_bind_text(s, idx, t.p, t.len);
}

/* Locks audit_head (creating it on first use) and reads it. */
static int lock_head(struct sr_conn *c, int64_t *seq, uint8_t hash[SR_AUDIT_HASH_LEN])
{
	static const uint8_t zero[SR_AUDIT_HASH_LEN];
	struct sr_stmt *s = NULL;
	const void *blob;
	size_t blen = 0;
	int rc;

	rc = sr_stmt_prepare(c, "UPDATE audit_head SET seq = seq WHERE id = 1", &s);
	if (rc != 0)
		goto out;
	rc = run(s);
	if (rc != 0)
		goto out;
	if (sr_stmt_changes(s) == 0) {
		sr_stmt_done(s);
		s = NULL;
		rc = sr_stmt_prepare(c, "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1)",
				     &s);
		if (rc != 0)
			goto out;
		rc = sr_stmt_bind_blob(s, 1, zero, sizeof zero);
		if (rc == 0)
			rc = run(s);
		/* Two first appenders raced to create the head: run the whole
		 * transaction again and take the lock like everyone else. */
		if (rc == SR_E_CONFLICT)
			rc = SR_E_RETRY;
		if (rc != 0)
			goto out;
	}
	sr_stmt_done(s);
	s = NULL;
	rc = sr_stmt_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1", &s);
	if (rc != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc == 0)
		rc = SR_E_INTERNAL;
	if (rc < 0)
		goto out;
	*seq = sr_stmt_col_i64(s, 0);
	blob = sr_stmt_col_blob(s, 1, &blen);
	if (*seq < 0 || *seq == INT64_MAX || blob == NULL || blen != SR_AUDIT_HASH_LEN) {
		sr_log(SR_LOG_ERROR, "audit_head is malformed", SR_LI("seq", *seq));
		rc = SR_E_TAMPER;
		goto out;
	}
	memcpy(hash, blob, SR_AUDIT_HASH_LEN);
	rc = 0;
out:
	sr_stmt_done(s);
	return rc;
}

int sr_audit_append(struct sr_conn *c, const struct sr_audit_key *key,
		    const struct sr_audit_event *ev)
{
	struct sr_audit_record r;
	struct sr_stmt *s = NULL;
	uint8_t hash[SR_AUDIT_HASH_LEN], mac[SR_AUDIT_MAC_LEN];
	char ts[40];
	int64_t head_seq = 0;
	int rc;

	rc = sr_audit_event_validate(ev);
	if (rc != 0)
		goto out;
	memset(&r, 0, sizeof r);
	rc = lock_head(c, &head_seq, r.prev_hash);
	if (rc != 0)
		goto out;
	/* The time is taken after the lock, so ts never goes backwards along
	 * the chain on one clock. */
	sr_audit_now(ts, sizeof ts);
	r.seq = head_seq + 1;
	r.ts = sr_audit_text_of(ts);
	r.actor_type = sr_audit_text_of(ev->actor_type);
	r.actor_id = sr_audit_text_of(ev->actor_id);
	r.action = sr_audit_text_of(ev->action);
	r.object_type = sr_audit_text_of(ev->object_type);
	r.object_id = sr_audit_text_of(ev->object_id);
	r.outcome = sr_audit_text_of(ev->outcome);
	r.ip = sr_audit_text_of(ev->ip);
	r.request_id = sr_audit_text_of(ev->request_id);
	r.details = sr_audit_text_of(ev->details != NULL ? ev->details : "{}");
	sr_audit_chain_hash(&r, hash);
	sr_audit_chain_mac(sr_audit_key_bytes(key), hash, mac);

	rc = sr_stmt_prepare(
		c,
		"INSERT INTO audit_log (seq, ts, actor_type, actor_id, action, "
		"object_type, object_id, outcome, ip, request_id, details, prev_hash, "
		"hash, mac) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
		"$13, $14)",
		&s);
	if (rc != 0)
		goto out;
	if ((rc = sr_stmt_bind_i64(s, 1, r.seq)) != 0 || (rc = bind_text(s, 2, r.ts)) != 0 ||
	    (rc = bind_text(s, 3, r.actor_type)) != 0 || (rc = bind_text(s, 4, r.actor_id)) != 0 ||
	    (rc = bind_text(s, 5, r.action)) != 0 || (rc = bind_text(s, 6, r.object_type)) != 0 ||
	    (rc = bind_text(s, 7, r.object_id)) != 0 || (rc = bind_text(s, 8, r.outcome)) != 0 ||
	    (rc = bind_text(s, 9, r.ip)) != 0 || (rc = bind_text(s, 10, r.request_id)) != 0 ||
	    (rc = bind_text(s, 11, r.details)) != 0 ||
	    (rc = sr_stmt_bind_blob(s, 12, r.prev_hash, SR_AUDIT_HASH_LEN)) != 0 ||
	    (rc = sr_stmt_bind_blob(s, 13, hash, SR_AUDIT_HASH_LEN)) != 0 ||
	    (rc = sr_stmt_bind_blob(s, 14, mac, SR_AUDIT_MAC_LEN)) != 0)
		goto out;
	rc = run(s);
	if (rc == SR_E_CONFLICT) {
		/* We hold the head lock, so a record already at head+1 means
		 * the head was moved back behind the log's back. */
		sr_log(SR_LOG_ERROR, "audit_head is behind audit_log", SR_LI("seq", r.seq));
		rc = SR_E_TAMPER;
	}
	if (rc != 0)
		goto out;
	sr_stmt_done(s);
	s = NULL;

	rc = sr_stmt_prepare(c, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", &s);
	if (rc != 0)
		goto out;
	if ((rc = sr_stmt_bind_i64(s, 1, r.seq)) != 0 ||
	    (rc = sr_stmt_bind_blob(s, 2, hash, SR_AUDIT_HASH_LEN)) != 0)
		goto out;
	rc = run(s);
	if (rc == 0 && sr_stmt_changes(s) != 1)
		rc = SR_E_INTERNAL;
out:
	sr_stmt_done(s);
	sodium_memzero(mac, sizeof mac);
	return rc;
}

struct record_arg {
	const struct sr_audit_key *key;
	const struct sr_audit_event *ev;
};

static int record_tx(struct sr_conn *c, void *arg)
{
	struct record_arg *a = arg;
	return sr_audit_append(c, a->key, a->ev);
}

int sr_audit_record(struct sr_store *st, const struct sr_audit_key *key,
		    const struct sr_audit_event *ev)
{
	struct record_arg a = {key, ev};
	int rc = sr_audit_event_validate(ev);

	if (rc != 0)
		return rc;
	return sr_store_tx(st, SR_TX_WRITE, record_tx, &a);
}
