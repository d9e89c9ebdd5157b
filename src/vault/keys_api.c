/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault's key ring at run time (see keys_api.h). The KEK is read from
 * its key file only to open the ring: the bytes live in sodium_malloc
 * memory and are freed (wiped) at once; from then on only the ring holds
 * unwrapped keys.
 *
 * GET /v1/jwks.json is public: it is what the card page and browsers fetch
 * to encrypt card data, and it holds public keys only. Another process
 * (`strongroom vault rotate-keys`) may publish a new kid while this vault
 * runs, so a request re-reads the ring from the database at most once a
 * second, on the worker pool (the event loop never touches the database).
 */
#include "vault/keys_api.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/keyfile.h"
#include "net/http.h"
#include "net/router.h"
#include "vault/keyring.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Long enough that browsers do not fetch it for every card form, short
 * enough to stay well inside any RSA grace period (default one day). */
#define JWKS_CACHE_CONTROL "public, max-age=300"

int sr_vault_keys_open(const struct sr_config *cfg, struct sr_store *st, struct sr_keyring **out,
		       char *err, size_t errlen)
{
	unsigned char *kek = NULL;
	char *path = sr_config_path(cfg, "vault", "kek_file");
	int rc;

	*out = NULL;
	if (path == NULL) {
		snprintf(err, errlen, "[vault] kek_file is not set");
		rc = SR_E_CONFIG;
		goto out;
	}
	rc = sr_keyfile_read(path, SR_KEYRING_KEK_LEN, &kek);
	if (rc != 0) {
		const char *why = sr_strerror(rc);
		if (rc == SR_E_CONFIG)
			why = "readable by group or others, or not a regular file (chmod 0400)";
		else if (rc == SR_E_LIMIT)
			why = "not exactly 32 bytes";
		else if (rc == SR_E_IO)
			why = strerror(errno);
		snprintf(err, errlen, "cannot read the KEK file %s: %s", path, why);
		goto out;
	}
	rc = sr_keyring_open(st, kek, out);
	if (rc == SR_E_AUTH)
		snprintf(err, errlen,
			 "the KEK in %s is not the KEK of this vault database (wrong kek_file; "
			 "after "
			 "a re-wrap, point [vault] kek_file at the new KEK file)",
			 path);
	else if (rc != 0)
		snprintf(err, errlen, "cannot open the vault key ring with the KEK in %s: %s", path,
			 sr_strerror(rc));
out:
	if (kek != NULL)
		sodium_free(kek); /* wipes */
	free(path);
	return rc;
}

struct jwks_job {
	struct sr_vault_keys *keys;
	int rc;
	json_t *jwks;
};

static void jwks_work(void *arg)
{
	struct jwks_job *job = arg;
	struct sr_keyring *ring = atomic_load(&job->keys->ring);
	long long now = (long long)time(NULL);
	long long last = atomic_load(&job->keys->last_refresh);

	/* One reload per second for the whole service: only the worker that
	 * wins the exchange reads the database. A failed reload keeps the
	 * cached keys, which are still valid. */
	if (now - last >= 1 &&
	    atomic_compare_exchange_strong(&job->keys->last_refresh, &last, now)) {
		int r = sr_keyring_reload(ring);
		if (r != 0)
			sr_log(SR_LOG_WARN, "key ring reload failed",
			       SR_LS("error", sr_strerror(r)));
	}
	job->rc = sr_keyring_jwks(ring, &job->jwks);
}

static void jwks_done(struct sr_http_req *req, void *arg)
{
	struct jwks_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->rc != 0 || json_array_size(json_object_get(job->jwks, "keys")) == 0) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "No client-encryption key is available; try again shortly.",
				    NULL);
		goto out;
	}
	sr_http_set_cache_control(req, JWKS_CACHE_CONTROL);
	sr_http_reply_json(req, 200, job->jwks);
	job->jwks = NULL;
out:
	json_decref(job->jwks);
	free(job);
}

static void handle_jwks(struct sr_http_req *req, void *data)
{
	struct sr_vault_keys *keys = data;
	if (atomic_load(&keys->ring) == NULL) {
		sr_http_reply_error(req, 503, "api_error", "service_unavailable",
				    "The service is starting; try again shortly.", NULL);
		return;
	}
	struct jwks_job *job = sr_xcalloc(1, sizeof *job);
	job->keys = keys;
	if (sr_http_submit(req, jwks_work, jwks_done, job) != 0) {
		free(job);
		sr_http_reply_busy(req);
	}
}

int sr_vault_keys_add_routes(struct sr_router *r, struct sr_vault_keys *keys)
{
	struct sr_route_opts opts = {.no_body = true};
	return sr_router_add(r, "GET", "/v1/jwks.json", handle_jwks, keys, &opts);
}
