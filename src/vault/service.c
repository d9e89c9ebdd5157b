/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault service: its routes and its start-up sequence. The shared
 * routes (/healthz, /readyz, /metrics) come with the server; service routes
 * are added in add_routes(). Start-up work that must finish before traffic
 * (database, migrations, keys) goes in on_started(), which runs once the
 * listeners accept and ends by marking the service ready, so /readyz stays
 * 503 "starting" until then.
 */
#include "vault/service.h"
#include "audit/audit.h"
#include "base/log.h"
#include "net/router.h"
#include "net/server.h"
#include "svc/audit_api.h"
#include "svc/runtime.h"
#include "vault/keyring.h"
#include "vault/keys_api.h"

#include <stdio.h>

/* What the vault holds while it runs: the shared runtime and the key ring. */
struct vault {
	const struct sr_config *cfg;
	struct sr_runtime *rt;
	struct sr_vault_keys keys;
};

/* /metrics: what the runtime runs (webhook delivery to the platform). */
static char *vault_metrics(void *arg, size_t *len)
{
	struct vault *v = arg;
	return sr_runtime_metrics(v->rt, len);
}

static int add_routes(struct sr_router *r, struct vault *v)
{
	int rc = sr_audit_api_add_routes(r, v->rt);
	if (rc == 0)
		rc = sr_vault_keys_add_routes(r, &v->keys);
	return rc;
}

/* Opens the key ring from [vault] kek_file and records it. A vault that
 * cannot unwrap its keys must not serve: the caller stops start-up. */
static int open_keyring(struct vault *v)
{
	char err[512];
	struct sr_keyring *ring = NULL;
	char kid[SR_KEYRING_ID_MAX + 1] = "";
	char dk[SR_KEYRING_ID_MAX + 1] = "";
	char details[256];
	int rc = sr_vault_keys_open(v->cfg, sr_runtime_store(v->rt), &ring, err, sizeof err);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "refusing to start: cannot open the vault key ring",
		       SR_LS("service", "vault"), SR_LS("error", err));
		return rc;
	}
	if (sr_keyring_active_kid(ring, kid) != 0 || sr_keyring_active_data_key(ring, dk) != 0)
		sr_log(SR_LOG_WARN, "vault key ring has no active key", SR_LS("service", "vault"));
	snprintf(details, sizeof details, "{\"active_kid\":\"%s\",\"active_data_key\":\"%s\"}", kid,
		 dk);
	struct sr_audit_event ev = {
		.actor_type = "system",
		.actor_id = "vault",
		.action = "keyring.open",
		.object_type = "keyring",
		.object_id = "vault",
		.outcome = "success",
		.details = details,
	};
	rc = sr_audit_record(sr_runtime_store(v->rt), sr_runtime_audit_key(v->rt), &ev);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot record keyring.open", SR_LS("service", "vault"),
		       SR_LS("error", sr_strerror(rc)));
		sr_keyring_close(ring);
		return rc;
	}
	atomic_store(&v->keys.ring, ring);
	sr_log(SR_LOG_INFO, "vault key ring open", SR_LS("active_kid", kid));
	return 0;
}

/* Runs once the listeners accept: the database, migrations and keys must
 * be in place before /readyz turns 200. */
static int on_started(struct sr_server *srv, void *arg)
{
	struct vault *v = arg;
	char err[512];
	int rc = sr_runtime_start(v->rt, err, sizeof err);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "vault"),
		       SR_LS("error", err));
		return rc;
	}
	rc = open_keyring(v);
	if (rc != 0)
		return rc;
	sr_server_set_ready(srv, true);
	return 0;
}

int sr_vault_run(const struct sr_config *cfg, const char *listen_override)
{
	char err[512];
	int rc = 0;
	struct vault v = {0};
	struct sr_server *srv = sr_server_new(cfg, "vault", listen_override, err, sizeof err);
	if (srv == NULL) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "vault"),
		       SR_LS("error", err));
		rc = SR_E_CONFIG;
		goto out;
	}
	atomic_init(&v.keys.ring, NULL);
	atomic_init(&v.keys.last_refresh, 0);
	v.cfg = cfg;
	v.rt = sr_runtime_new(cfg, "vault");
	rc = add_routes(sr_server_router(srv), &v);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot add routes", SR_LS("service", "vault"),
		       SR_LS("error", sr_strerror(rc)));
		goto out;
	}
	sr_server_set_metrics_fn(srv, vault_metrics, &v);
	rc = sr_server_run(srv, on_started, &v);
out:
	/* After the server: no handler can still be using the runtime or the
	 * ring; the ring before the runtime, whose store it reads. */
	sr_server_free(srv);
	sr_keyring_close(atomic_load(&v.keys.ring));
	sr_runtime_close(v.rt, rc == 0 ? "shutdown" : "error");
	return rc;
}
