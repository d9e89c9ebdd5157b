/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_AUDIT_CHECKPOINT_H
#define SR_AUDIT_CHECKPOINT_H

/*
 * Signed checkpoints of the audit head, appended to a file OUTSIDE the
 * database. Someone who can write the database can delete the last records
 * and move audit_head back; the chain alone cannot show that. A checkpoint
 * says "at time ts the log had seq records ending in hash", signed with the
 * service's Ed25519 checkpoint key, so the verifier can tell that the log
 * once went further.
 *
 * One line per checkpoint, ASCII, ending in '\n':
 *
 *   v1 <seq> <hash: 64 lowercase hex> <ts: YYYY-MM-DDTHH:MM:SS.mmmZ> <sig: 128 lowercase hex>
 *
 * sig = Ed25519 over "strongroom-audit-checkpoint-v1|<service>|<seq>|<hash hex>|<ts>",
 * so a vault checkpoint does not verify as a platform one. The file is
 * outside input to the verifier: lines are at most SR_AUDIT_CP_LINE_MAX
 * bytes, the file at most SR_AUDIT_CP_FILE_MAX; parsing is strict.
 *
 * Thread rules: the parsing and signing functions are reentrant;
 * sr_audit_checkpoint() may run in any thread but only one at a time per
 * file (the service's checkpoint timer).
 */
#include "audit/chain.h"
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_AUDIT_CP_LINE_MAX   512                 /* bytes of one line, '\n' included */
#define SR_AUDIT_CP_FILE_MAX   (64L * 1024 * 1024) /* bytes of the checkpoint file */
#define SR_AUDIT_CP_TS_LEN     24                  /* "2026-01-31T12:34:56.789Z" */
#define SR_AUDIT_CP_SIG_LEN    64
#define SR_AUDIT_SIGN_SEED_LEN 32
#define SR_AUDIT_SIGN_PK_LEN   32

struct sr_audit_key;
struct sr_store;

struct sr_audit_checkpoint {
	int64_t seq;
	uint8_t hash[SR_AUDIT_HASH_LEN];
	char ts[SR_AUDIT_CP_TS_LEN + 1];
	uint8_t sig[SR_AUDIT_CP_SIG_LEN];
};

/* The Ed25519 checkpoint key pair; the secret half in sodium_malloc memory. */
struct sr_audit_signer;

/*
 * Loads the 32-byte Ed25519 seed from path (same rules as audit keys:
 * exactly 32 bytes, not group/world readable) and derives the key pair.
 * Returns 0, SR_E_IO, SR_E_CONFIG, SR_E_INVAL, SR_E_CRYPTO.
 */
int sr_audit_signer_load(const char *path, struct sr_audit_signer **out) SR_WUR;
int sr_audit_signer_from_seed(const uint8_t *seed, size_t len, struct sr_audit_signer **out) SR_WUR;
void sr_audit_signer_free(struct sr_audit_signer *s);
/* The public key (SR_AUDIT_SIGN_PK_LEN bytes), valid while s lives. */
const uint8_t *sr_audit_signer_public_key(const struct sr_audit_signer *s);

/* Fills cp->sig for service. */
void sr_audit_checkpoint_sign(const struct sr_audit_signer *s, const char *service,
			      struct sr_audit_checkpoint *cp);
/* True when cp->sig is service's signature under pk. */
bool sr_audit_checkpoint_sig_ok(const uint8_t pk[SR_AUDIT_SIGN_PK_LEN], const char *service,
				const struct sr_audit_checkpoint *cp);

/*
 * Parses one line (len bytes, without its '\n'). Returns 0 or SR_E_INVAL
 * (anything but the exact format above; seq must fit int64 and have no
 * leading zeros). Does not check the signature.
 */
int sr_audit_checkpoint_parse_line(const char *line, size_t len,
				   struct sr_audit_checkpoint *out) SR_WUR;

/* Writes cp as one line with its '\n' and a NUL into buf. Returns the line's
 * length, or SR_E_LIMIT if buf is too small. */
int sr_audit_checkpoint_format(const struct sr_audit_checkpoint *cp, char *buf, size_t len) SR_WUR;

/* Called for each parsed line (1-based line number); a nonzero return stops
 * parsing and is returned. */
typedef int (*sr_audit_cp_fn)(const struct sr_audit_checkpoint *cp, unsigned line, void *arg);

struct sr_audit_cp_parse_info {
	unsigned lines;    /* complete checkpoint lines seen */
	unsigned bad_line; /* line number of the malformed/overlong line, else 0 */
	bool torn_tail;    /* the last line had no '\n' and did not parse: a write
			       cut short by a crash; skipped */
};

/*
 * Parses a whole checkpoint file held in buf. Returns 0, SR_E_INVAL (line
 * info->bad_line is malformed), SR_E_LIMIT (a line or the file is too
 * long), or what fn returned. Empty lines are malformed.
 */
int sr_audit_checkpoint_parse(const char *buf, size_t len, sr_audit_cp_fn fn, void *arg,
			      struct sr_audit_cp_parse_info *info) SR_WUR;

/* Reads path (at most SR_AUDIT_CP_FILE_MAX) and parses it as above. Returns
 * SR_E_NOTFOUND when the file does not exist, SR_E_IO, or as above. */
int sr_audit_checkpoint_read(const char *path, sr_audit_cp_fn fn, void *arg,
			     struct sr_audit_cp_parse_info *info) SR_WUR;

/*
 * Takes a checkpoint of service's audit log in st: reads audit_head, checks
 * that the record it points at exists with that hash and a valid MAC under
 * key (so a head already tampered with is never signed), signs it and
 * appends the line to path with O_APPEND and fsync (creating the file 0600,
 * and its folder 0700 if missing). A line left torn by an earlier crash is
 * cut off first. An empty log checkpoints seq 0 with an all-zero hash.
 * Returns 0, SR_E_TAMPER (head and log disagree; nothing written), SR_E_IO,
 * or a store error. If cp_out is not NULL it receives the checkpoint.
 */
int sr_audit_checkpoint(struct sr_store *st, const struct sr_audit_key *key,
			const struct sr_audit_signer *signer, const char *service, const char *path,
			struct sr_audit_checkpoint *cp_out) SR_WUR;

#endif
