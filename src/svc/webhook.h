/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_SVC_WEBHOOK_H
#define SR_SVC_WEBHOOK_H

/*
 * Signed webhooks, used by both services: the vault tells the platform of
 * asynchronous card outcomes (a payout that later fails or is returned), and
 * the platform tells the marketplace's backend of member events.
 *
 * Wire format (docs/webhooks.md), the same in both directions:
 *
 *   POST <endpoint>
 *   Content-Type: application/json
 *   Strongroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 *   {"id":"evt_...","object":"event","type":"payout.failed","created":<unix>,
 *    "data":{"object":{...}}}
 *
 * A receiver recomputes the HMAC over the exact bytes it received, compares
 * in constant time, and refuses a t more than the tolerance (5 minutes by
 * default) from its clock, so a captured delivery cannot be replayed later.
 * Several v1= entries may appear (secret rotation); any match is accepted.
 *
 * Sending is transactional like the notification outbox: code that changes
 * state calls sr_webhook_enqueue inside its own transaction (table
 * webhook_events, in both databases); a sender thread delivers due events
 * with libcurl, at least once, retrying with exponential backoff for
 * [webhooks] retry_window_s, then marks them failed (counted in /metrics).
 * Receivers deduplicate by event id.
 */
#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

struct sr_config;
struct sr_conn;
struct sr_store;
struct sr_webhook_sender;

#define SR_WEBHOOK_SECRET_MIN    32  /* bytes of a signing secret */
#define SR_WEBHOOK_SIG_MAX       96  /* "t=" + 20 digits + ",v1=" + 64 hex + NUL */
#define SR_WEBHOOK_TOLERANCE_S   300 /* default receiver tolerance */
#define SR_WEBHOOK_EVENT_ID_SIZE 40  /* "evt_" + 32 hex + NUL, with room */
#define SR_WEBHOOK_HEADER        "Strongroom-Signature"
#define SR_WEBHOOK_PAYLOAD_MAX   (64 * 1024)

/* Writes "t=<t>,v1=<hex>" for body into out. Returns 0 or SR_E_INVAL. */
int sr_webhook_sign(const unsigned char *secret, size_t secret_len, int64_t t, const void *body,
		    size_t len, char out[SR_WEBHOOK_SIG_MAX]) SR_WUR;

/*
 * Checks header (the Strongroom-Signature value, may be NULL) against body.
 * Returns 0 when one v1 signature matches and |now - t| <= tolerance_s;
 * SR_E_AUTH for a missing, malformed or wrong signature; SR_E_TIMEOUT for a
 * correct signature outside the tolerance. Constant time in the secret.
 */
int sr_webhook_verify(const unsigned char *secret, size_t secret_len, const char *header,
		      const void *body, size_t len, int64_t now, int64_t tolerance_s) SR_WUR;

/*
 * Queues one event for delivery on c, inside the caller's write
 * transaction. event_id ("evt_" + printable ASCII, at most
 * SR_WEBHOOK_EVENT_ID_SIZE - 1 bytes) is the deduplication key: queueing
 * the same id twice is a success that sends once (ON CONFLICT DO NOTHING,
 * safe on PostgreSQL). type is e.g. "payout.failed"; object_json is the
 * JSON object placed at data.object (masked values only: never a PAN, CVC,
 * password or personal data in clear). The envelope is built here.
 * Returns 0, SR_E_INVAL, or a store error (SR_E_RETRY lets sr_store_tx retry).
 */
int sr_webhook_enqueue(struct sr_conn *c, const char *event_id, const char *type,
		       const char *object_json) SR_WUR;

/* A fresh random event id "evt_<32 hex>". */
void sr_webhook_new_event_id(char out[SR_WEBHOOK_EVENT_ID_SIZE]);

/* Counters since start, for /metrics. failed is the alert. */
struct sr_webhook_stats {
	uint64_t sent, retried, failed;
};

struct sr_webhook_sender_opts {
	const char *url;             /* endpoint; NULL or "": the sender does not start */
	const unsigned char *secret; /* copied into locked memory */
	size_t secret_len;
	const char *ca_file; /* PEM bundle trusted for https; NULL: system CAs */
	long timeout_ms;     /* one delivery attempt */
	int64_t retry_base_ms, retry_max_ms, retry_window_s, poll_ms, lease_s;
};

/* Fills o from cfg for service ("platform": [platform] webhook_url /
 * webhook_secret_file; "vault": [vault] webhook_url / webhook_secret_file)
 * and [webhooks]. Reads the secret file. Returns 0, SR_E_CONFIG or SR_E_IO
 * with a reason in err; free with sr_webhook_sender_opts_free. */
int sr_webhook_sender_opts_from_config(const struct sr_config *cfg, const char *service,
				       struct sr_webhook_sender_opts *o, char *err,
				       size_t errlen) SR_WUR;
void sr_webhook_sender_opts_free(struct sr_webhook_sender_opts *o);

/* Prepares a sender on st without a thread (drive it with
 * sr_webhook_sender_run_once; tests and tools). With no url, *out is NULL
 * and 0 is returned. Free with sr_webhook_sender_stop. */
int sr_webhook_sender_new(struct sr_store *st, const struct sr_webhook_sender_opts *o,
			  struct sr_webhook_sender **out, char *err, size_t errlen) SR_WUR;
/* Starts the delivery thread on st (which must outlive it). With no url,
 * *out is NULL and 0 is returned: events stay queued until one is set. */
int sr_webhook_sender_start(struct sr_store *st, const struct sr_webhook_sender_opts *o,
			    struct sr_webhook_sender **out, char *err, size_t errlen) SR_WUR;
/* One delivery pass (tests, tools); not while the thread runs. */
int sr_webhook_sender_run_once(struct sr_webhook_sender *s, size_t *processed) SR_WUR;
void sr_webhook_sender_stats(struct sr_webhook_sender *s, struct sr_webhook_stats *out);
/* Stops after the delivery in hand and frees s. Accepts NULL. */
void sr_webhook_sender_stop(struct sr_webhook_sender *s);

#endif
