/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Service runtime: the start-up and shut-down sequence shared by the
 * platform and the vault (database, migrations, audit keys, audit
 * checkpoints). The audit HMAC key and the checkpoint signing seed live in
 * sodium_malloc memory owned by the audit module; this file only passes them
 * along and never logs them.
 *
 * A background poller (base/poller.h) signs the current audit head into the
 * checkpoint file every [audit] checkpoint_interval_s, so that cutting records
 * off the end of the table is detected by `strongroom audit verify` even
 * though the attacker could also rewrite audit_head.
 */
#include "svc/runtime.h"
#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/poller.h"
#include "crypto/apikey.h"
#include "net/ratelimit.h"
#include "store/migrate.h"
#include "store/store.h"
#include "svc/webhook.h"
#include "version.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sr_runtime {
	const struct sr_config *cfg;
	const char *service;
	struct sr_store *store;
	struct sr_audit_key *audit_key;
	struct sr_audit_signer *signer;
	struct sr_apikeys *apikeys;
	char *checkpoint_path;
	struct sr_ratelimit *auth_failures; /* per client address */
	/* Delivers this service's signed webhooks (webhook.h); NULL when
	 * [service] webhook_url is empty. Read by /metrics on loop threads. */
	_Atomic(struct sr_webhook_sender *) webhooks;
	atomic_bool ready;
	long long interval_s;
	/* Signs a checkpoint every interval_s; started last, stopped first
	 * after the webhook sender. */
	struct sr_poller *checkpointer;
};

static void checkpoint(struct sr_runtime *rt)
{
	struct sr_audit_checkpoint cp;
	int rc = sr_audit_checkpoint(rt->store, rt->audit_key, rt->signer, rt->service,
				     rt->checkpoint_path, &cp);
	if (rc != 0)
		/* A head that fails its own MAC is tampering: say so loudly,
		 * and keep serving; `audit verify` names the record. */
		sr_log(rc == SR_E_TAMPER ? SR_LOG_ERROR : SR_LOG_WARN, "audit checkpoint failed",
		       SR_LS("service", rt->service), SR_LS("error", sr_strerror(rc)));
}

/* The poller's pass. Failures are logged by checkpoint() itself (a
 * tampered head at error level), so the poller has nothing to add. */
static int checkpoint_pass(void *arg, bool *more)
{
	(void)more;
	checkpoint(arg);
	return 0;
}

static int record(struct sr_runtime *rt, const char *action, const char *details)
{
	struct sr_audit_event ev = {
		.actor_type = "system",
		.actor_id = rt->service,
		.action = action,
		.object_type = "service",
		.object_id = rt->service,
		.outcome = "success",
		.details = details,
	};
	return sr_audit_record(rt->store, rt->audit_key, &ev);
}

struct sr_runtime *sr_runtime_new(const struct sr_config *cfg, const char *service)
{
	struct sr_runtime *rt = sr_xcalloc(1, sizeof *rt);
	rt->cfg = cfg;
	rt->service = service;
	rt->interval_s = sr_config_int(cfg, "audit", "checkpoint_interval_s");
	atomic_init(&rt->ready, false);
	atomic_init(&rt->webhooks, NULL);
	unsigned per_min = (unsigned)sr_config_int(cfg, "limits", "auth_failures_per_minute");
	rt->auth_failures = sr_ratelimit_new(per_min, per_min, 65536);
	return rt;
}

static void rt_unwind(struct sr_runtime *rt);

static void rt_free(struct sr_runtime *rt)
{
	rt_unwind(rt);
	sr_ratelimit_free(rt->auth_failures);
	free(rt);
}

/* Releases what start acquired, leaving rt as new. */
static void rt_unwind(struct sr_runtime *rt)
{
	/* The background threads first: they use the store. */
	sr_webhook_sender_stop(atomic_exchange(&rt->webhooks, NULL));
	sr_poller_stop(rt->checkpointer);
	rt->checkpointer = NULL;
	sr_apikeys_free(rt->apikeys);
	rt->apikeys = NULL;
	sr_audit_signer_free(rt->signer);
	rt->signer = NULL;
	sr_audit_key_free(rt->audit_key);
	rt->audit_key = NULL;
	sr_store_close(rt->store);
	rt->store = NULL;
	free(rt->checkpoint_path);
	rt->checkpoint_path = NULL;
}

int sr_runtime_start(struct sr_runtime *rt, char *err, size_t errlen)
{
	int rc;
	char *path = NULL;
	char msg[512];
	const struct sr_config *cfg = rt->cfg;
	const char *service = rt->service;

	msg[0] = '\0';
	rc = sr_store_open_for_service(cfg, service, 0, &rt->store, msg, sizeof msg);
	if (rc != 0) {
		snprintf(err, errlen, "cannot open the %s database: %s", service,
			 msg[0] ? msg : sr_strerror(rc));
		goto out;
	}
	rc = sr_migrate(rt->store, service, msg, sizeof msg);
	if (rc != 0) {
		snprintf(err, errlen, "%s (%s)", msg, sr_store_url_redacted(rt->store));
		goto out;
	}
	sr_log(SR_LOG_INFO, "database ready", SR_LS("service", service),
	       SR_LS("database", sr_store_url_redacted(rt->store)), SR_LS("schema", msg));

	path = sr_config_path(cfg, service, "audit_key_file");
	rc = path ? sr_audit_key_load(path, &rt->audit_key) : SR_E_CONFIG;
	if (rc != 0) {
		snprintf(err, errlen, "audit key %s: %s", path ? path : "(not set)",
			 rc == SR_E_CONFIG ? "must be a 32-byte file readable only by its owner"
					   : sr_strerror(rc));
		goto out;
	}
	free(path);
	path = sr_config_path(cfg, service, "audit_signing_key_file");
	rc = path ? sr_audit_signer_load(path, &rt->signer) : SR_E_CONFIG;
	if (rc != 0) {
		snprintf(err, errlen, "audit signing key %s: %s", path ? path : "(not set)",
			 rc == SR_E_CONFIG ? "must be a 32-byte file readable only by its owner"
					   : sr_strerror(rc));
		goto out;
	}
	free(path);
	path = sr_config_path(cfg, service, "credentials_file");
	rc = path ? sr_apikeys_load(path, service, &rt->apikeys, msg, sizeof msg) : SR_E_CONFIG;
	if (rc != 0) {
		snprintf(err, errlen, "API keys: %s", path ? msg : "[credentials_file] is not set");
		goto out;
	}
	rt->checkpoint_path = sr_config_path(cfg, service, "audit_checkpoint_file");
	if (rt->checkpoint_path == NULL) {
		snprintf(err, errlen, "[%s] audit_checkpoint_file is not set", service);
		rc = SR_E_CONFIG;
		goto out;
	}

	/* Webhooks queued by earlier runs go out as soon as we are up. */
	struct sr_webhook_sender_opts wo;
	struct sr_webhook_sender *ws = NULL;
	rc = sr_webhook_sender_opts_from_config(cfg, service, &wo, msg, sizeof msg);
	if (rc == 0) {
		rc = sr_webhook_sender_start(rt->store, &wo, &ws, msg, sizeof msg);
		sr_webhook_sender_opts_free(&wo);
	}
	if (rc != 0) {
		snprintf(err, errlen, "webhooks: %s", msg);
		goto out;
	}
	atomic_store(&rt->webhooks, ws);
	if (ws == NULL)
		sr_log(SR_LOG_INFO, "webhooks are queued, not sent: webhook_url is empty",
		       SR_LS("service", service));

	char details[128];
	snprintf(details, sizeof details, "{\"version\":\"%s\",\"pid\":%ld}", SR_VERSION,
		 (long)getpid());
	rc = record(rt, "service.start", details);
	if (rc != 0) {
		snprintf(err, errlen, "cannot write the audit log: %s", sr_strerror(rc));
		goto out;
	}
	/* One checkpoint now, in line, then one per interval. */
	checkpoint(rt);
	if (sr_poller_start_after("audit checkpoint", checkpoint_pass, rt, rt->interval_s * 1000,
				  rt->interval_s * 1000, &rt->checkpointer) != 0) {
		snprintf(err, errlen, "cannot start the audit checkpoint thread");
		rc = SR_E_INTERNAL;
		goto out;
	}

	atomic_store(&rt->ready, true);
out:
	free(path);
	if (rc != 0)
		rt_unwind(rt);
	return rc;
}

void sr_runtime_close(struct sr_runtime *rt, const char *reason)
{
	if (rt == NULL)
		return;
	if (!atomic_load(&rt->ready)) {
		rt_free(rt);
		return;
	}
	atomic_store(&rt->ready, false);
	sr_webhook_sender_stop(atomic_exchange(&rt->webhooks, NULL));
	sr_poller_stop(rt->checkpointer);
	rt->checkpointer = NULL;
	char details[96];
	snprintf(details, sizeof details, "{\"reason\":\"%s\"}", reason ? reason : "stop");
	int rc = record(rt, "service.stop", details);
	if (rc != 0)
		sr_log(SR_LOG_ERROR, "cannot write the audit log", SR_LS("service", rt->service),
		       SR_LS("error", sr_strerror(rc)));
	checkpoint(rt);
	rt_free(rt);
}

struct sr_store *sr_runtime_store(const struct sr_runtime *rt)
{
	return rt->store;
}

const struct sr_audit_key *sr_runtime_audit_key(const struct sr_runtime *rt)
{
	return rt->audit_key;
}

const struct sr_apikeys *sr_runtime_apikeys(const struct sr_runtime *rt)
{
	return rt->apikeys;
}

const char *sr_runtime_service(const struct sr_runtime *rt)
{
	return rt->service;
}

bool sr_runtime_auth_failure_allowed(struct sr_runtime *rt, const char *ip, unsigned *retry_after_s)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
	return sr_ratelimit_take(rt->auth_failures, ip ? ip : "", ms, retry_after_s);
}

bool sr_runtime_ready(const struct sr_runtime *rt)
{
	return atomic_load(&rt->ready);
}

char *sr_runtime_metrics(struct sr_runtime *rt, size_t *len)
{
	struct sr_webhook_stats st;
	sr_webhook_sender_stats(atomic_load(&rt->webhooks), &st);
	char *text = sr_xasprintf("# HELP sr_webhooks_total Webhook events by delivery outcome.\n"
				  "# TYPE sr_webhooks_total counter\n"
				  "sr_webhooks_total{outcome=\"sent\"} %llu\n"
				  "sr_webhooks_total{outcome=\"retried\"} %llu\n"
				  "sr_webhooks_total{outcome=\"failed\"} %llu\n",
				  (unsigned long long)st.sent, (unsigned long long)st.retried,
				  (unsigned long long)st.failed);
	*len = strlen(text);
	return text;
}
