/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_DELIVERY_H
#define SR_PLATFORM_NOTIFY_DELIVERY_H

/*
 * The delivery job of the notification outbox: a background thread that
 * claims due rows under a lease (outbox.h), renders their template, sends
 * them (email: composed, DKIM-signed, SMTP or the development maildir; SMS:
 * Twilio-compatible API or the development file) and records the outcome:
 * sent with the provider's id, a retry with exponential backoff
 * ([notify] retry_base_ms doubling up to retry_max_ms), or failed after
 * [notify] retry_window_s or on a permanent refusal.
 *
 * A member's row holds no recipient and no one-time secret in clear
 * (outbox.h): the hook `open` turns its sealed blobs (or the member's
 * current address / phone) into clear values for the one send, in
 * sodium memory wiped right after. A row whose member's data key was
 * destroyed fails at once, without a send and without retries.
 *
 * Several instances may run it on one database: leases keep them apart
 * and a lease that runs out (crashed instance) is taken over. Delivery is
 * at least once: a crash after the send and before the "sent" commit sends
 * again, with the same Message-ID (<ntf_...@domain>) so mail systems can
 * drop the duplicate. See docs/notifications.md.
 */
#include "base/err.h"
#include "platform/notify/outbox.h"

#include <stddef.h>
#include <stdint.h>

struct sr_config;
struct sr_store;
struct sr_delivery;

/* Looks up the member's anti-phishing code at send time into code (len
 * bytes). Returns 0 (code[0] == 0: none set), or an SR_E_* that makes the
 * attempt a temporary failure. Called from the delivery thread. */
typedef int (*sr_delivery_code_fn)(void *arg, const char *member_id, char *code, size_t len);

/*
 * What the `open` hook gets and gives for one row of a member: the row's
 * sealed blobs in (borrowed), the clear recipient and secret variables out,
 * into buffers the delivery job provides (sodium memory, wiped after the
 * send). The notify layer never holds a data key: the platform opens.
 */
struct sr_delivery_open {
	/* in */
	const char *member_id; /* never NULL */
	const char *dedup_key; /* the row's: a blob sealed for another row does not open */
	enum sr_outbox_channel channel;
	const unsigned char *recipient_sealed; /* NULL: the member's current one */
	size_t recipient_sealed_len;
	const unsigned char *secret_sealed; /* NULL: none */
	size_t secret_sealed_len;
	/* out */
	char *recipient; /* email address / E.164 number, NUL-terminated */
	size_t recipient_cap;
	char *secret_json; /* JSON object of the secret variables; "" when none */
	size_t secret_cap;
	char reason[96]; /* why it failed, for last_error: never personal data */
};

/*
 * Opens a member's row at send time: recipient_sealed, or else the
 * member's current email address (email) or verified phone number with SMS
 * still chosen (SMS); and secret_sealed. Returns 0; SR_E_NOTFOUND (no such
 * member, its data key was destroyed, or no verified phone now) or
 * SR_E_CRYPTO (a blob that does not open for this row) or SR_E_LIMIT (does
 * not fit): the row fails for good; another SR_E_* is a temporary failure.
 * Called from the delivery thread.
 */
typedef int (*sr_delivery_open_fn)(void *arg, struct sr_delivery_open *o);

struct sr_delivery_hooks {
	sr_delivery_code_fn anti_phishing_code; /* NULL: no codes yet */
	sr_delivery_open_fn open;               /* NULL: members' rows fail */
	void *arg;
	const char *instance_id; /* lease owner; NULL: host:pid:random */
};

/* Counters since start, for /metrics. failed is the alert. */
struct sr_delivery_stats {
	uint64_t sent, retried, failed, lease_lost;
};

/*
 * Prepares a job on st (which must outlive it) from cfg ([email], [sms],
 * [notify], [instance] environment): loads the DKIM key and SMS sender.
 * No thread yet. Returns 0 or SR_E_CONFIG / SR_E_IO / SR_E_CRYPTO with a
 * reason in err.
 */
int sr_delivery_new(struct sr_store *st, const struct sr_config *cfg,
		    const struct sr_delivery_hooks *hooks, struct sr_delivery **out, char *err,
		    size_t errlen) SR_WUR;

/* One pass: claim a batch and deliver it. *processed (may be NULL) gets
 * how many rows were claimed. Returns 0 or the claim's store error. Not
 * while the thread runs. */
int sr_delivery_run_once(struct sr_delivery *d, size_t *processed) SR_WUR;

/* sr_delivery_new, then starts the background thread. */
int sr_delivery_start(struct sr_store *st, const struct sr_config *cfg,
		      const struct sr_delivery_hooks *hooks, struct sr_delivery **out, char *err,
		      size_t errlen) SR_WUR;

/* Stops the thread (after the message in hand), frees the job. Accepts
 * NULL. Rows it had claimed but not finished come back when their lease
 * runs out. */
void sr_delivery_stop(struct sr_delivery *d);

/* Counters of this job. Thread-safe. */
void sr_delivery_stats(const struct sr_delivery *d, struct sr_delivery_stats *out);

#endif
