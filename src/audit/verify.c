/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit log verifier (see verify.h for the checks and their order). It holds
 * the audit HMAC key to check MACs and the checkpoint public key; it writes
 * nothing. Records are read in pages of PAGE rows by seq, so memory stays
 * flat however long the log is; the signed checkpoints (40 bytes each, the
 * file is bounded by SR_AUDIT_CP_FILE_MAX) are held sorted by seq and
 * matched as the walk passes them.
 */
#include "audit/verify.h"
#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 512

struct cp_entry {
	int64_t seq;
	unsigned line;
	uint8_t hash[SR_AUDIT_HASH_LEN];
};

struct walk {
	const struct sr_audit_key *key;
	const struct cp_entry *cps;
	size_t ncps;
	struct sr_audit_verify_result *out;
};

const char *sr_audit_problem_name(enum sr_audit_problem p)
{
	switch (p) {
	case SR_AUDIT_INTACT: return "intact";
	case SR_AUDIT_DELETED: return "deleted";
	case SR_AUDIT_REORDERED: return "reordered";
	case SR_AUDIT_CHANGED: return "changed";
	case SR_AUDIT_FORGED: return "forged";
	case SR_AUDIT_CHECKPOINT: return "checkpoint-mismatch";
	case SR_AUDIT_TRUNCATED: return "truncated";
	case SR_AUDIT_HEAD: return "head-mismatch";
	case SR_AUDIT_CHECKPOINT_FILE: return "checkpoint-file";
	}
	return "unknown";
}

static int fail(struct sr_audit_verify_result *out, enum sr_audit_problem p, int64_t seq,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct sr_audit_verify_result *out, enum sr_audit_problem p, int64_t seq,
		const char *fmt, ...)
{
	va_list ap;

	out->problem = p;
	out->bad_seq = seq;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof out->message, fmt, ap);
	va_end(ap);
	return SR_E_TAMPER;
}

/* ---- checkpoints --------------------------------------------------------- */

struct cp_load {
	const uint8_t *pk;
	const char *service;
	struct cp_entry *v;
	size_t n, cap;
	unsigned bad_line;
};

static int cp_collect(const struct sr_audit_checkpoint *cp, unsigned line, void *argp)
{
	struct cp_load *a = argp;

	if (!sr_audit_checkpoint_sig_ok(a->pk, a->service, cp)) {
		a->bad_line = line;
		return SR_E_TAMPER;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = reallocarray(a->v, a->cap, sizeof *a->v);
		if (a->v == NULL)
			abort();
	}
	a->v[a->n].seq = cp->seq;
	a->v[a->n].line = line;
	memcpy(a->v[a->n].hash, cp->hash, SR_AUDIT_HASH_LEN);
	a->n++;
	return 0;
}

static int cp_cmp(const void *x, const void *y)
{
	const struct cp_entry *a = x, *b = y;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

static int load_checkpoints(const char *path, const uint8_t *pk, const char *service,
			    struct cp_load *a, struct sr_audit_verify_result *out)
{
	struct sr_audit_cp_parse_info info;
	int rc;

	a->pk = pk;
	a->service = service;
	rc = sr_audit_checkpoint_read(path, cp_collect, a, &info);
	out->torn_checkpoint = info.torn_tail;
	if (rc == SR_E_NOTFOUND) {
		out->no_checkpoint_file = true;
		return 0;
	}
	if (rc == SR_E_TAMPER)
		return fail(out, SR_AUDIT_CHECKPOINT_FILE, 0,
			    "checkpoint file line %u: signature invalid — checkpoint forged or "
			    "signed with another key",
			    a->bad_line);
	if (rc == SR_E_INVAL)
		return fail(out, SR_AUDIT_CHECKPOINT_FILE, 0,
			    "checkpoint file line %u: malformed — checkpoint file edited",
			    info.bad_line);
	if (rc == SR_E_LIMIT && info.bad_line != 0)
		return fail(
			out, SR_AUDIT_CHECKPOINT_FILE, 0,
			"checkpoint file line %u: longer than %d bytes — checkpoint file edited",
			info.bad_line, SR_AUDIT_CP_LINE_MAX);
	if (rc != 0)
		return rc;
	qsort(a->v, a->n, sizeof *a->v, cp_cmp);
	out->checkpoints = (unsigned)a->n;
	return 0;
}

/* ---- the walk ------------------------------------------------------------ */

static struct sr_audit_text col_text(struct sr_stmt *s, int col)
{
	struct sr_audit_text t = {NULL, 0};
	t.p = sr_stmt_col_text(s, col, &t.len);
	return t;
}

static int check_head(struct sr_conn *c, struct walk *w, const uint8_t *last_hash)
{
	struct sr_audit_verify_result *out = w->out;
	struct sr_stmt *s = NULL;
	const void *blob;
	size_t blen = 0;
	int64_t head_seq;
	int rc;

	rc = sr_stmt_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1", &s);
	if (rc != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		rc = out->last_seq == 0 ? 0
					: fail(out, SR_AUDIT_HEAD, 0,
					       "audit_head missing but the log has %lld records",
					       (long long)out->records);
		goto out;
	}
	head_seq = sr_stmt_col_i64(s, 0);
	blob = sr_stmt_col_blob(s, 1, &blen);
	if (head_seq > out->last_seq) {
		rc = fail(out, SR_AUDIT_TRUNCATED, out->last_seq + 1,
			  "log ends at seq %lld but audit_head says seq %lld — tail truncated",
			  (long long)out->last_seq, (long long)head_seq);
	} else if (head_seq < out->last_seq) {
		rc = fail(out, SR_AUDIT_HEAD, head_seq + 1,
			  "audit_head says seq %lld but the log goes on to seq %lld — records "
			  "appended behind the writer's back",
			  (long long)head_seq, (long long)out->last_seq);
	} else if (blob == NULL || blen != SR_AUDIT_HASH_LEN ||
		   !sr_audit_hash_eq(blob, last_hash)) {
		rc = fail(out, SR_AUDIT_HEAD, head_seq,
			  "audit_head hash does not match record seq %lld — audit_head changed",
			  (long long)head_seq);
	} else {
		rc = 0;
	}
out:
	sr_stmt_done(s);
	return rc;
}

static int walk_tx(struct sr_conn *c, void *argp)
{
	struct walk *w = argp;
	struct sr_audit_verify_result *out = w->out;
	const uint8_t *key = sr_audit_key_bytes(w->key);
	struct sr_stmt *s = NULL;
	uint8_t prev[SR_AUDIT_HASH_LEN] = {0}, hash[SR_AUDIT_HASH_LEN];
	size_t cpi = 0;
	bool more = true;
	int rc = 0;

	/* sr_store_tx may run this again: start from nothing each time. */
	out->records = 0;
	out->last_seq = 0;
	while (more) {
		int64_t page_rows = 0;

		rc = sr_stmt_prepare(
			c,
			"SELECT seq, ts, actor_type, actor_id, action, object_type, "
			"object_id, outcome, ip, request_id, details, prev_hash, hash, "
			"mac FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
			&s);
		if (rc != 0)
			goto out;
		rc = sr_stmt_bind_i64(s, 1, out->last_seq);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 2, PAGE);
		if (rc != 0)
			goto out;
		while ((rc = sr_stmt_step(s)) > 0) {
			struct sr_audit_record r;
			const void *ph, *h, *mac;
			size_t phlen = 0, hlen = 0, maclen = 0;
			int64_t want = out->last_seq + 1;

			page_rows++;
			memset(&r, 0, sizeof r);
			r.seq = sr_stmt_col_i64(s, 0);
			if (r.seq != want) {
				rc = want == 1 ? fail(out, SR_AUDIT_DELETED, want,
						      "seq 1 missing — record deleted (found %lld "
						      "at the start)",
						      (long long)r.seq)
					       : fail(out, SR_AUDIT_DELETED, want,
						      "seq %lld missing — record deleted (found "
						      "%lld after %lld)",
						      (long long)want, (long long)r.seq,
						      (long long)out->last_seq);
				goto out;
			}
			r.ts = col_text(s, 1);
			r.actor_type = col_text(s, 2);
			r.actor_id = col_text(s, 3);
			r.action = col_text(s, 4);
			r.object_type = col_text(s, 5);
			r.object_id = col_text(s, 6);
			r.outcome = col_text(s, 7);
			r.ip = col_text(s, 8);
			r.request_id = col_text(s, 9);
			r.details = col_text(s, 10);
			ph = sr_stmt_col_blob(s, 11, &phlen);
			h = sr_stmt_col_blob(s, 12, &hlen);
			mac = sr_stmt_col_blob(s, 13, &maclen);

			if (ph == NULL || phlen != SR_AUDIT_HASH_LEN ||
			    !sr_audit_hash_eq(ph, prev)) {
				rc = want == 1 ? fail(out, SR_AUDIT_REORDERED, want,
						      "record seq 1: prev_hash is not the "
						      "all-zero start of the chain — records "
						      "reordered")
					       : fail(out, SR_AUDIT_REORDERED, want,
						      "record seq %lld: prev_hash does not match "
						      "record %lld — records reordered",
						      (long long)want, (long long)out->last_seq);
				goto out;
			}
			memcpy(r.prev_hash, ph, SR_AUDIT_HASH_LEN);
			sr_audit_chain_hash(&r, hash);
			if (h == NULL || hlen != SR_AUDIT_HASH_LEN || !sr_audit_hash_eq(h, hash)) {
				rc = fail(out, SR_AUDIT_CHANGED, want,
					  "record seq %lld: hash mismatch — record was changed",
					  (long long)want);
				goto out;
			}
			if (!sr_audit_chain_mac_ok(key, hash, mac, maclen)) {
				rc = fail(
					out, SR_AUDIT_FORGED, want,
					"record seq %lld: MAC invalid — record forged or inserted "
					"without the audit key",
					(long long)want);
				goto out;
			}
			while (cpi < w->ncps && w->cps[cpi].seq < want)
				cpi++; /* seq 0: the empty log; nothing to match */
			for (; cpi < w->ncps && w->cps[cpi].seq == want; cpi++) {
				if (!sr_audit_hash_eq(w->cps[cpi].hash, hash)) {
					rc = fail(out, SR_AUDIT_CHECKPOINT, want,
						  "record seq %lld: differs from the signed "
						  "checkpoint on line %u — log rewritten",
						  (long long)want, w->cps[cpi].line);
					goto out;
				}
			}
			memcpy(prev, hash, sizeof prev);
			out->records++;
			out->last_seq = want;
		}
		if (rc < 0)
			goto out;
		sr_stmt_done(s);
		s = NULL;
		more = page_rows == PAGE;
	}
	if (w->ncps > 0 && w->cps[w->ncps - 1].seq > out->last_seq) {
		rc = fail(out, SR_AUDIT_TRUNCATED, out->last_seq + 1,
			  "log ends at seq %lld but checkpoint at seq %lld — tail truncated",
			  (long long)out->last_seq, (long long)w->cps[w->ncps - 1].seq);
		goto out;
	}
	rc = check_head(c, w, prev);
out:
	sr_stmt_done(s);
	/* A tampered log is a finding, not a failed transaction. */
	return rc;
}

static int probe_tx(struct sr_conn *c, void *arg)
{
	struct sr_stmt *s = NULL;
	int rc;

	(void)arg;
	rc = sr_stmt_prepare(c, "SELECT seq FROM audit_log WHERE seq = 0", &s);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	s = NULL;
	if (rc >= 0)
		rc = sr_stmt_prepare(c, "SELECT seq FROM audit_head WHERE id = 0", &s);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

int sr_audit_tables_exist(struct sr_store *st)
{
	int rc = sr_store_tx(st, SR_TX_READ, probe_tx, NULL);
	return rc == SR_E_STORE ? SR_E_NOTFOUND : rc;
}

int sr_audit_verify(struct sr_store *st, const struct sr_audit_key *key, const char *service,
		    const uint8_t *checkpoint_pk, const char *checkpoint_path,
		    struct sr_audit_verify_result *out)
{
	struct cp_load cps;
	struct walk w;
	int rc;

	memset(out, 0, sizeof *out);
	memset(&cps, 0, sizeof cps);
	if (key == NULL || service == NULL || (checkpoint_path != NULL && checkpoint_pk == NULL))
		return SR_E_INVAL;
	rc = sr_audit_tables_exist(st);
	if (rc != 0) {
		snprintf(out->message, sizeof out->message, "no audit tables in this database");
		goto out;
	}
	if (checkpoint_path != NULL) {
		rc = load_checkpoints(checkpoint_path, checkpoint_pk, service, &cps, out);
		if (rc != 0)
			goto out;
	} else {
		out->no_checkpoint_file = true;
	}
	w.key = key;
	w.cps = cps.v;
	w.ncps = cps.n;
	w.out = out;
	rc = sr_store_tx(st, SR_TX_READ, walk_tx, &w);
	if (rc == 0)
		snprintf(
			out->message, sizeof out->message,
			"%s audit log intact: %lld records, last seq %lld, %u checkpoints verified",
			service, (long long)out->records, (long long)out->last_seq,
			out->checkpoints);
out:
	free(cps.v);
	return rc;
}
