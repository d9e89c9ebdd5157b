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
#include "platform/accounts.h"
#include "platform/mfa_api.h"
#include "platform/profile.h"
#include "platform/notify/delivery.h"
#include "platform/notify/mail.h"
#include "platform/notify_api.h"
#include "svc/audit_api.h"
#include "svc/runtime.h"

#include "base/mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_routes(struct sr_router *r, struct sr_runtime *rt, struct sr_accounts *acc,
		      struct sr_notify_api *notify)
{
	int rc = sr_audit_api_add_routes(r, rt);
	if (rc == 0)
		rc = sr_accounts_add_routes(r, acc);
	if (rc == 0)
		rc = sr_profile_add_routes(r, acc);
	if (rc == 0)
		rc = sr_mfa_api_add_routes(r, acc);
	if (rc == 0)
		rc = sr_notify_api_add_routes(r, notify);
	return rc;
}

struct platform {
	const struct sr_config *cfg;
	struct sr_runtime *rt;
	struct sr_accounts *accounts;
	struct sr_notify_api *notify;
	/* The notification outbox's sender; set once on the main thread,
	 * read by /metrics on the loop threads. */
	_Atomic(struct sr_delivery *) delivery;
};

/* Notification delivery counters for /metrics; failed is the one to alert on
 * (a notification given up after its retry window). */
static char *delivery_metrics(void *arg, size_t *len)
{
	struct platform *p = arg;
	struct sr_delivery_stats st = {0};
	struct sr_delivery *d = atomic_load(&p->delivery);
	if (d != NULL)
		sr_delivery_stats(d, &st);
	char *text =
		sr_xasprintf("# HELP sr_notifications_total Notifications by delivery outcome.\n"
			     "# TYPE sr_notifications_total counter\n"
			     "sr_notifications_total{outcome=\"sent\"} %llu\n"
			     "sr_notifications_total{outcome=\"retried\"} %llu\n"
			     "sr_notifications_total{outcome=\"failed\"} %llu\n"
			     "sr_notifications_total{outcome=\"lease_lost\"} %llu\n",
			     (unsigned long long)st.sent, (unsigned long long)st.retried,
			     (unsigned long long)st.failed, (unsigned long long)st.lease_lost);
	size_t more = 0;
	char *rt_text = sr_runtime_metrics(p->rt, &more);
	char *all = sr_xasprintf("%s%s", text, rt_text);
	free(text);
	free(rt_text);
	*len = strlen(all);
	return all;
}

/* Runs once the listeners accept: the database, migrations and keys must
 * be in place, and mail must be able to go out from an official domain,
 * before /readyz turns 200. */
static int on_started(struct sr_server *srv, void *arg)
{
	struct platform *p = arg;
	char err[512];
	/* Genuine mail comes only from the official domains: refuse to run
	 * with a From that members could not tell from phishing. */
	int rc = sr_mail_check_from(p->cfg, err, sizeof err);
	if (rc == 0)
		rc = sr_runtime_start(p->rt, err, sizeof err);
	if (rc == 0)
		rc = sr_accounts_start(p->accounts, err, sizeof err);
	if (rc == 0)
		rc = sr_notify_api_start(p->notify, err, sizeof err);
	if (rc == 0) {
		/* Every email shows the member's anti-phishing code, and a
		 * member's row gets its recipient (sealed, or the member's
		 * current address / phone) and its sealed one-time code, all
		 * opened with the member's data key at send time. */
		struct sr_delivery_hooks hooks = {.anti_phishing_code =
							  sr_profile_anti_phishing_code,
						  .open = sr_accounts_outbox_open,
						  .arg = p->accounts};
		struct sr_delivery *d = NULL;
		rc = sr_delivery_start(sr_runtime_store(p->rt), p->cfg, &hooks, &d, err,
				       sizeof err);
		atomic_store(&p->delivery, d);
	}
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "platform"),
		       SR_LS("error", err));
		return rc;
	}
	sr_server_set_ready(srv, true);
	return 0;
}

int sr_platform_run(const struct sr_config *cfg, const char *listen_override)
{
	char err[512];
	int rc = 0;
	struct sr_runtime *rt = NULL;
	struct sr_accounts *accounts = NULL;
	struct sr_notify_api *notify = NULL;
	struct sr_server *srv = sr_server_new(cfg, "platform", listen_override, err, sizeof err);
	if (srv == NULL) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "platform"),
		       SR_LS("error", err));
		rc = SR_E_CONFIG;
		goto out;
	}
	rt = sr_runtime_new(cfg, "platform");
	accounts = sr_accounts_new(cfg, rt);
	notify = sr_notify_api_new(cfg, accounts);
	rc = add_routes(sr_server_router(srv), rt, accounts, notify);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot add routes", SR_LS("service", "platform"),
		       SR_LS("error", sr_strerror(rc)));
		goto out;
	}
	struct platform p = {.cfg = cfg, .rt = rt, .accounts = accounts, .notify = notify};
	atomic_init(&p.delivery, NULL);
	sr_server_set_metrics_fn(srv, delivery_metrics, &p);
	rc = sr_server_run(srv, on_started, &p);
	/* The sender stops after the message in hand; what it had claimed
	 * comes back to a sender when its lease runs out. */
	sr_delivery_stop(atomic_exchange(&p.delivery, NULL));
out:
	/* After the server: no handler can still be using the runtime. */
	sr_server_free(srv);
	sr_runtime_close(rt, rc == 0 ? "shutdown" : "error");
	sr_notify_api_free(notify);
	sr_accounts_free(accounts);
	return rc;
}
