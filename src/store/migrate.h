/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_STORE_MIGRATE_H
#define SR_STORE_MIGRATE_H

/*
 * Schema migrations, compiled into the binary from src/store/migrations/
 * (layout and dialect rules: src/store/migrations/README.md). A database
 * belongs to one service, 'platform' or 'vault', recorded in
 * strongroom_meta on first migration; the other service is refused.
 */
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

struct sr_migrate_result {
	int64_t version;  /* highest version applied in the database after the run */
	unsigned applied; /* migrations applied by this call */
	int64_t known;    /* highest version this binary knows for the service */
};

/*
 * Applies every pending migration for service ("platform" or "vault"), each
 * in its own transaction, serialized against other instances migrating the
 * same database (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory
 * transaction lock). Idempotent. On failure msg holds a one-line reason.
 * Returns 0; SR_E_INVAL (unknown service); SR_E_CONFIG (the database belongs
 * to the other service); SR_E_SCHEMA ("database schema version N is newer
 * than this binary (knows up to M); upgrade strongroom"); SR_E_STORE (a
 * migration failed; nothing of that migration is applied); SR_E_INTERNAL
 * (the embedded migration set is inconsistent). Thread-safe (uses one
 * pooled connection).
 */
int sr_migrate(struct sr_store *st, const char *service, char *msg, size_t msglen) SR_WUR;
/* The same, also reporting versions (res may be NULL). */
int sr_migrate_run(struct sr_store *st, const char *service, struct sr_migrate_result *res,
		   char *msg, size_t msglen) SR_WUR;

/*
 * Checks the embedded migration set: names parse, every version has SQL for
 * both backends, no version is used twice. For tests and start-up.
 * Returns 0 or SR_E_INTERNAL with the reason in msg.
 */
int sr_migrate_check_embedded(char *msg, size_t msglen) SR_WUR;

/* The SQL of migration file text for a backend: {{TOKENS}} substituted.
 * Caller frees. Exposed for tests. */
char *sr_migrate_render(const char *text, enum sr_store_kind kind);

#endif
