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
#include "base/log.h"
#include "net/router.h"
#include "net/server.h"
#include "svc/audit_api.h"
#include "svc/runtime.h"

#include <stdio.h>

static int add_routes(struct sr_router *r, struct sr_runtime *rt)
{
	return sr_audit_api_add_routes(r, rt);
}

/* Runs once the listeners accept: the database, migrations and keys must
 * be in place before /readyz turns 200. */
static int on_started(struct sr_server *srv, void *arg)
{
	struct sr_runtime *rt = arg;
	char err[512];
	int rc = sr_runtime_start(rt, err, sizeof err);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "vault"),
		       SR_LS("error", err));
		return rc;
	}
	sr_server_set_ready(srv, true);
	return 0;
}

int sr_vault_run(const struct sr_config *cfg, const char *listen_override)
{
	char err[512];
	int rc = 0;
	struct sr_runtime *rt = NULL;
	struct sr_server *srv = sr_server_new(cfg, "vault", listen_override, err, sizeof err);
	if (srv == NULL) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "vault"),
		       SR_LS("error", err));
		rc = SR_E_CONFIG;
		goto out;
	}
	rt = sr_runtime_new(cfg, "vault");
	rc = add_routes(sr_server_router(srv), rt);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot add routes", SR_LS("service", "vault"),
		       SR_LS("error", sr_strerror(rc)));
		goto out;
	}
	rc = sr_server_run(srv, on_started, rt);
out:
	/* After the server: no handler can still be using the runtime. */
	sr_server_free(srv);
	sr_runtime_close(rt, rc == 0 ? "shutdown" : "error");
	return rc;
}
