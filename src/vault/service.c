/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault service: its routes and its start-up sequence. The shared
 * routes (/healthz, /readyz, /metrics) come with the server; service routes
 * are added in add_routes(). Start-up work that must finish before traffic
 * (database, migrations, keys) goes in on_started(), which runs once the
 * listeners accept and ends by marking the service ready, so /readyz stays
 * 503 "starting" until then.
 *
 * With [vault] kek_source = shares the vault starts sealed (vault/seal.h):
 * no KEK, no key ring, /readyz 503 "sealed", and every vault route behind
 * the seal gate until operators unseal it over POST /v1/sys/unseal. Routes
 * are therefore added to a staging table (add_routes) and copied behind
 * the gate into the server's router: a new route needs no seal check of
 * its own.
 */
#include "vault/service.h"
#include "audit/audit.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/router.h"
#include "net/server.h"
#include "svc/audit_api.h"
#include "svc/runtime.h"
#include "vault/elements.h"
#include "vault/keyring.h"
#include "vault/keys_api.h"
#include "vault/payments.h"
#include "vault/seal.h"
#include "vault/processor.h"
#include "vault/sandbox.h"
#include "vault/tokens.h"
#include "lib/card.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the vault holds while it runs: the shared runtime and the key ring. */
struct vault {
	const struct sr_config *cfg;
	struct sr_runtime *rt;
	struct sr_vault_keys keys;
	struct sr_vault_seal *seal;
	struct sr_processor proc; /* the card processor connector (zeroed until start-up) */
	struct sr_tokens *tokens;
	struct sr_payments *payments;       /* cards, charges, payouts */
	struct sr_vault_elements *elements; /* the hosted card form */
};

/* /metrics: what the runtime runs (webhook delivery to the platform). */
static char *vault_metrics(void *arg, size_t *len)
{
	struct vault *v = arg;
	size_t a = 0, b = 0;
	char *rt = sr_runtime_metrics(v->rt, &a);
	char *pay = sr_payments_metrics(v->payments, &b);
	/* Alert on a vault that stays sealed (it serves nothing). */
	char *all = sr_xasprintf("%s%s# HELP sr_vault_sealed 1 while the vault waits for unseal "
				 "shares.\n# TYPE sr_vault_sealed gauge\nsr_vault_sealed %d\n",
				 rt ? rt : "", pay ? pay : "",
				 sr_vault_seal_is_sealed(v->seal) ? 1 : 0);
	free(rt);
	free(pay);
	*len = strlen(all);
	return all;
}

static int add_routes(struct sr_router *r, struct vault *v)
{
	int rc = sr_audit_api_add_routes(r, v->rt);
	if (rc == 0)
		rc = sr_vault_keys_add_routes(r, &v->keys);
	if (rc == 0)
		rc = sr_tokens_add_routes(r, v->tokens);
	if (rc == 0)
		rc = sr_payments_add_routes(r, v->payments);
	if (rc == 0)
		rc = sr_vault_elements_add_routes(r, v->elements);
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

/* Asynchronous processor outcomes (a payout that fails or is returned after
 * it was approved), inside the connector's write transaction: the payments
 * module updates the payout, queues the webhook and audits it there. */
static int on_processor_event(struct sr_conn *c, void *arg, const struct sr_proc_event *ev)
{
	struct vault *v = arg;
	return sr_payments_event_sink(c, v->payments, ev);
}

/* The processor connector over the vault database ([vault] processor). */
static int open_processor(struct vault *v)
{
	struct sr_sandbox_options opt = {
		.latency_ms = (unsigned)sr_config_int(v->cfg, "vault", "sandbox_latency_ms"),
		.async_delay_ms =
			(unsigned)sr_config_int(v->cfg, "vault", "sandbox_async_delay_ms"),
	};
	int rc = sr_sandbox_open(sr_runtime_store(v->rt), &opt, &v->proc);
	if (rc == 0)
		rc = v->proc.set_event_sink(v->proc.ctx, on_processor_event, v);
	if (rc != 0)
		sr_log(SR_LOG_ERROR, "cannot start the card processor connector",
		       SR_LS("processor", sr_config_str(v->cfg, "vault", "processor")),
		       SR_LS("error", sr_strerror(rc)));
	return rc;
}

/* Start-up work that needs the key ring (fingerprint key; pending charges
 * and payouts, whose cards it decrypts): at start with a KEK file, or on a
 * worker thread when the last unseal share arrives (seal.h). */
static int start_keyed(void *arg)
{
	struct vault *v = arg;
	int rc = sr_tokens_start(v->tokens);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot load the card fingerprint key",
		       SR_LS("error", sr_strerror(rc)));
		return rc;
	}
	/* Charges and payouts a crash left between "pending" and their outcome
	 * are completed before traffic (the processor dedups by their id). A
	 * failure here is logged and retried on the next start, not fatal. */
	size_t redriven = 0;
	rc = sr_payments_recover(v->payments, &redriven);
	if (rc != 0)
		sr_log(SR_LOG_WARN, "some pending operations are still pending",
		       SR_LS("error", sr_strerror(rc)));
	else if (redriven > 0)
		sr_log(SR_LOG_INFO, "pending operations recovered",
		       SR_LI("count", (long long)redriven));
	return sr_payments_start_maintenance(v->payments, 60000);
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
	bool sealed = sr_vault_seal_is_sealed(v->seal);
	if (!sealed) {
		rc = open_keyring(v);
		if (rc != 0)
			return rc;
	}
	rc = open_processor(v);
	if (rc != 0)
		return rc;
	if (sealed) {
		/* No KEK yet: ready only once unsealed (seal.c marks it then). */
		sr_server_set_waiting_status(srv, "sealed");
		sr_log(SR_LOG_WARN,
		       "vault sealed: waiting for KEK shares (strongroom vault unseal)",
		       SR_LS("service", "vault"));
		return 0;
	}
	rc = start_keyed(v);
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
	struct sr_router *staging = NULL;
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
	/* Before any thread parses card JSON: jansson's freed copies of PANs
	 * and CVCs must be wiped. */
	sr_card_json_wipe_on_free();
	v.tokens = sr_tokens_new(cfg, v.rt, &v.keys, &v.proc);
	rc = sr_vault_elements_new(cfg, &v.elements, err, sizeof err);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", "vault"),
		       SR_LS("error", err));
		rc = SR_E_CONFIG;
		goto out;
	}
	v.payments = sr_payments_new(v.rt, &v.keys, &v.proc);
	v.seal = sr_vault_seal_new(
		strcmp(sr_config_str(cfg, "vault", "kek_source"), "shares") == 0, v.rt, &v.keys,
		srv, (unsigned)sr_config_int(cfg, "vault", "unseal_attempts_per_minute"));
	sr_vault_seal_set_unsealed_fn(v.seal, start_keyed, &v);
	/* Every vault route goes behind the seal gate; only the seal routes
	 * (and the server's /healthz /readyz /metrics) are outside it. */
	staging = sr_router_new();
	rc = add_routes(staging, &v);
	if (rc == 0)
		rc = sr_vault_seal_add_routes(v.seal, sr_server_router(srv));
	if (rc == 0)
		rc = sr_vault_seal_gate(v.seal, staging, sr_server_router(srv));
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
	sr_router_free(staging);
	sr_vault_seal_free(v.seal);               /* wipes shares entered but not used */
	sr_payments_stop_maintenance(v.payments); /* it calls the processor */
	if (v.proc.close != NULL)
		v.proc.close(v.proc.ctx); /* before the store it uses */
	sr_tokens_free(v.tokens);
	sr_payments_free(v.payments);
	sr_keyring_close(atomic_load(&v.keys.ring));
	sr_vault_elements_free(v.elements);
	sr_runtime_close(v.rt, rc == 0 ? "shutdown" : "error");
	return rc;
}
