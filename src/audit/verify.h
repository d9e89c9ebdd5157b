/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_AUDIT_VERIFY_H
#define SR_AUDIT_VERIFY_H

/*
 * The audit log verifier: walks audit_log in seq order (in pages, never the
 * whole log in memory) inside one read transaction and stops at the first
 * record that is not what the writer wrote.
 *
 * Checks, per record in this order: seq follows the previous one (else
 * DELETED); prev_hash is the previous record's hash (else REORDERED); the
 * hash recomputes from the fields (else CHANGED); the MAC verifies under the
 * audit key (else FORGED); any signed checkpoint at this seq names this
 * hash (else CHECKPOINT). Then: no signed checkpoint lies beyond the last
 * record and audit_head is not ahead of it (else TRUNCATED), and audit_head
 * names the last record (else HEAD). The checkpoint file is read and every
 * signature checked before the walk (else CHECKPOINT_FILE).
 */
#include "audit/chain.h"
#include "base/err.h"

#include <stdbool.h>
#include <stdint.h>

struct sr_store;
struct sr_audit_key;

enum sr_audit_problem {
	SR_AUDIT_INTACT = 0,
	SR_AUDIT_DELETED,         /* a seq is missing */
	SR_AUDIT_REORDERED,       /* prev_hash does not link to the previous record */
	SR_AUDIT_CHANGED,         /* fields do not hash to the stored hash */
	SR_AUDIT_FORGED,          /* MAC invalid: written without the audit key */
	SR_AUDIT_CHECKPOINT,      /* a record differs from its signed checkpoint */
	SR_AUDIT_TRUNCATED,       /* the log ends before a checkpoint or audit_head */
	SR_AUDIT_HEAD,            /* audit_head does not name the last record */
	SR_AUDIT_CHECKPOINT_FILE, /* a checkpoint line is malformed or its signature bad */
};

struct sr_audit_verify_result {
	enum sr_audit_problem problem;
	int64_t bad_seq;         /* the first bad record, or 0 */
	int64_t records;         /* records verified before stopping */
	int64_t last_seq;        /* seq of the last good record */
	unsigned checkpoints;    /* checkpoints whose signature verified */
	bool no_checkpoint_file; /* the file does not exist: truncation undetectable */
	bool torn_checkpoint;    /* the file's last line was cut short and skipped */
	char message[256];       /* one line for humans, naming seq and kind */
};

/* The problem's short name ("changed", "deleted", ...). */
const char *sr_audit_problem_name(enum sr_audit_problem p);

/*
 * Verifies service's log in st. checkpoint_path may be NULL (no checkpoint
 * file configured); checkpoint_pk is the Ed25519 public key that signed it
 * (required when checkpoint_path is given). Returns 0 when intact,
 * SR_E_TAMPER when not (out says what and where), SR_E_NOTFOUND when the
 * audit tables do not exist, SR_E_LIMIT/SR_E_IO for an unreadable checkpoint
 * file, or a store error. out is filled in every case.
 * Thread-safe (st may be shared).
 */
int sr_audit_verify(struct sr_store *st, const struct sr_audit_key *key, const char *service,
		    const uint8_t *checkpoint_pk, const char *checkpoint_path,
		    struct sr_audit_verify_result *out) SR_WUR;

/* 0 when audit_log and audit_head exist in st, else SR_E_NOTFOUND (or
 * another store error). Changes nothing. */
int sr_audit_tables_exist(struct sr_store *st) SR_WUR;

#endif
