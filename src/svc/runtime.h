/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_SVC_RUNTIME_H
#define SR_SVC_RUNTIME_H

/*
 * What every service holds while it runs, apart from its network side: its
 * own database (opened, migrated, checked to be its own), its audit key and
 * checkpoint signer, and the background thread that checkpoints the audit
 * head to a file outside the database. Both the platform and the vault use
 * it; neither sees the other's.
 */
#include "base/err.h"

#include <stddef.h>

struct sr_config;
struct sr_store;
struct sr_audit_key;
struct sr_runtime;

/*
 * Opens service's database ("platform" or "vault"), applies pending
 * migrations, loads the audit keys, records "service.start" in the audit log
 * and starts the checkpoint thread. cfg must outlive the runtime. On failure
 * err holds a one-line reason (no secrets) and nothing is left open.
 * Returns 0 or an SR_E_* code (SR_E_SCHEMA for a newer schema, SR_E_CONFIG
 * for a database of the other service or a bad key file, SR_E_STORE, ...).
 */
int sr_runtime_open(const struct sr_config *cfg, const char *service, struct sr_runtime **out,
		    char *err, size_t errlen) SR_WUR;

/*
 * Stops the checkpoint thread, records "service.stop" (with reason, e.g.
 * "signal"), writes a last checkpoint and closes the database. Accepts NULL.
 */
void sr_runtime_close(struct sr_runtime *rt, const char *reason);

struct sr_store *sr_runtime_store(const struct sr_runtime *rt);
const struct sr_audit_key *sr_runtime_audit_key(const struct sr_runtime *rt);

#endif
