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

#include <stdbool.h>
#include <stddef.h>

struct sr_config;
struct sr_store;
struct sr_audit_key;
struct sr_runtime;
struct sr_apikeys;
struct sr_ratelimit;

/* A runtime for service ("platform" or "vault") that has not started: no
 * I/O yet, so routes can be given it before the server runs. cfg must
 * outlive it. */
struct sr_runtime *sr_runtime_new(const struct sr_config *cfg, const char *service);

/*
 * Opens the service's database, applies pending migrations, loads the audit
 * keys and API keys, starts the webhook sender (webhook.h), records
 * "service.start" in the audit log, starts the
 * checkpoint thread, then marks the runtime ready. On failure err holds a
 * one-line reason (no secrets) and nothing is left open. Returns 0 or an
 * SR_E_* code (SR_E_SCHEMA for a newer schema, SR_E_CONFIG for a database of
 * the other service or a bad key file, SR_E_STORE, ...). Call once.
 */
int sr_runtime_start(struct sr_runtime *rt, char *err, size_t errlen) SR_WUR;

/* True once sr_runtime_start succeeded; readable from any thread. Request
 * handlers answer 503 until then. */
bool sr_runtime_ready(const struct sr_runtime *rt);

/*
 * If started: stops the checkpoint thread, records "service.stop" (with
 * reason, e.g. "shutdown"), writes a last checkpoint and closes the
 * database. Then frees rt. Accepts NULL.
 */
void sr_runtime_close(struct sr_runtime *rt, const char *reason);

struct sr_store *sr_runtime_store(const struct sr_runtime *rt);
const struct sr_audit_key *sr_runtime_audit_key(const struct sr_runtime *rt);
const struct sr_apikeys *sr_runtime_apikeys(const struct sr_runtime *rt);
const char *sr_runtime_service(const struct sr_runtime *rt);

/*
 * Counts a failed authentication from ip against [limits]
 * auth_failures_per_minute. True: answer 401 and audit it. False: answer
 * 429 (retry after *retry_after_s) without writing the audit log, so a
 * flood of bad keys cannot fill it. Thread-safe.
 */
bool sr_runtime_auth_failure_allowed(struct sr_runtime *rt, const char *ip,
				     unsigned *retry_after_s);

/*
 * Prometheus text for what the runtime runs (webhook delivery counters:
 * sr_webhooks_total{outcome="failed"} is the one to alert on), for the
 * service's /metrics function to include. Caller frees. Any thread.
 */
char *sr_runtime_metrics(struct sr_runtime *rt, size_t *len);

#endif
