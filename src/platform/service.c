/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The platform service: its routes and its start-up sequence. The shared
 * routes (/healthz, /readyz, /metrics) come with the server; service routes
 * are added in add_routes(). Start-up work that must finish before traffic
 * (database, migrations, keys) goes in on_started(), which runs once the
 * listeners accept and ends by marking the service ready, so /readyz stays
 * 503 "starting" until then.
 */
#include "platform/service.h"
#include "base/log.h"
#include "net/router.h"
#include "net/server.h"

#include <stdio.h>

static int add_routes(struct sr_router *r)
{
	(void)r; /* platform API routes are added here. */
	return 0;
}

static int on_started(struct sr_server *srv, void *arg)
{
	(void)arg;
	/* Open the database and load keys here; return an SR_E_* to abort. */
	sr_server_set_ready(srv, true);
	return 0;
}

int sr_platform_run(const struct sr_config *cfg, const char *listen_override)
{
	char err[512];
	int rc = 0;
	struct sr_server *srv = sr_server_new(cfg, "platform", listen_override, err, sizeof err);
	if (srv == NULL) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "platform"), SR_LS("error", err));
		rc = SR_E_CONFIG;
		goto out;
	}
	rc = add_routes(sr_server_router(srv));
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot add routes", SR_LS("service", "platform"),
		       SR_LS("error", sr_strerror(rc)));
		goto out;
	}
	rc = sr_server_run(srv, on_started, NULL);
out:
	sr_server_free(srv);
	return rc;
}
