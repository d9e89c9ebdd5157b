/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox delivery job. It holds the DKIM private key (through the dkim
 * module, in sodium_malloc memory) and the SMS auth token (sms module); it
 * logs ids and references, never recipients' codes or keys. For the one
 * row it is sending it holds that row's clear recipient and one-time secret
 * variables (from the `open` hook) in sodium memory, wiped when the row is
 * done. Provider replies kept as last_error are cut short, carry no secrets
 * (the transports promise that of their detail strings) and have the
 * recipient redacted.
 */
#include "platform/notify/delivery.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/poller.h"
#include "platform/notify/dkim.h"
#include "platform/notify/mail.h"
#include "platform/notify/maildir.h"
#include "platform/notify/outbox.h"
#include "platform/notify/sms.h"
#include "platform/notify/smtp.h"
#include "platform/notify/templates.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sr_delivery {
	struct sr_store *st;
	struct sr_delivery_hooks hooks;
	char owner[128];
	struct sr_dkim *dkim;
	struct sr_sms *sms; /* NULL: SMS not configured (rows retry, then fail) */
	struct sr_smtp_opts smtp;
	char *maildir;
	char from_name[SR_MAIL_NAME_MAX + 1], from_addr[SR_MAIL_ADDR_MAX + 1];
	char *domains;
	int64_t base_ms, max_ms, window_ms, lease_ms, poll_ms;
	unsigned batch;

	atomic_uint_fast64_t sent, retried, failed, lease_lost;

	struct sr_poller *poller; /* NULL: driven by sr_delivery_run_once */

	/* One row's clear recipient and secret variables while it is sent
	 * (sodium_malloc, wiped after each row; one row at a time). */
	char *rcpt, *secret;
};

#define RCPT_CAP   (SR_MAIL_ADDR_MAX + 1)
#define SECRET_CAP SR_TEMPLATE_VARS_MAX

/* Outcome of one attempt. */
enum outcome { SENT, RETRY, FAILED };

/* Replaces the random Message-ID sr_mail_compose made with <ID@DOMAIN>, so
 * a resend after a crash is recognisably the same message. */
static int stable_message_id(char **msg, size_t *len, const char *id, const char *domain)
{
	char *m = *msg;
	char *hdr_end = strstr(m, "\r\n\r\n");
	char *p = strstr(m, "\r\nMessage-ID: <");
	if (hdr_end == NULL || p == NULL || p > hdr_end)
		return SR_E_INVAL;
	p += 2;
	char *e = strstr(p, ">\r\n");
	if (e == NULL || e > hdr_end)
		return SR_E_INVAL;
	e += 3;
	char *nm = sr_xasprintf("%.*sMessage-ID: <%s@%s>\r\n%s", (int)(p - m), m, id, domain, e);
	free(m);
	*msg = nm;
	*len = strlen(nm);
	return 0;
}

static enum outcome send_email(struct sr_delivery *d, const struct sr_outbox_row *r,
			       const struct sr_rendered *rd, char *provider, size_t plen,
			       char *error, size_t elen)
{
	char *msg = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0;
	enum outcome o = FAILED;
	struct sr_mail_msg m = {
		.from_name = d->from_name[0] ? d->from_name : NULL,
		.from_addr = d->from_addr,
		.to_addr = r->recipient,
		.subject = rd->subject,
		.text = rd->text,
		.html = rd->html,
		.ref = r->reference,
	};
	int rc = sr_mail_compose(&m, &msg, &mlen, NULL, 0);
	if (rc == 0)
		rc = stable_message_id(&msg, &mlen, r->id, strchr(d->from_addr, '@') + 1);
	if (rc != 0) {
		snprintf(error, elen, "compose: %s", sr_strerror(rc));
		goto out;
	}
	if ((rc = sr_dkim_sign(d->dkim, msg, mlen, &sig, &slen)) != 0) {
		snprintf(error, elen, "dkim: %s", sr_strerror(rc));
		o = RETRY;
		goto out;
	}
	if (d->smtp.url == NULL || d->smtp.url[0] == '\0') {
		char name[128];
		rc = sr_maildir_deliver(d->maildir, sig, slen, name, sizeof name);
		if (rc == 0) {
			snprintf(provider, plen, "maildir:%s", name);
			o = SENT;
		} else {
			snprintf(error, elen, "maildir: %s", strerror(errno));
			o = RETRY;
		}
		goto out;
	}
	struct sr_notify_result res;
	rc = sr_smtp_send(&d->smtp, d->from_addr, r->recipient, sig, slen, &res);
	if (rc == 0) {
		snprintf(provider, plen, "%s", res.id);
		o = SENT;
	} else {
		snprintf(error, elen, "smtp %ld: %.200s", res.code, res.detail);
		o = rc == SR_E_INVAL ? FAILED : RETRY;
	}
out:
	free(msg);
	free(sig);
	return o;
}

static enum outcome send_sms(struct sr_delivery *d, const struct sr_outbox_row *r,
			     const struct sr_rendered *rd, char *provider, size_t plen, char *error,
			     size_t elen)
{
	struct sr_notify_result res;
	if (rd->sms == NULL) {
		snprintf(error, elen, "template %s has no SMS form", r->template_name);
		return FAILED;
	}
	if (d->sms == NULL) {
		snprintf(error, elen, "SMS is not configured ([sms])");
		return RETRY;
	}
	int rc = sr_sms_send(d->sms, r->recipient, rd->sms, &res);
	if (rc == 0) {
		snprintf(provider, plen, "%s", res.id);
		return SENT;
	}
	snprintf(error, elen, "sms %ld: %.200s", res.code, res.detail);
	return rc == SR_E_INVAL ? FAILED : RETRY;
}

/*
 * The clear recipient and secret variables of a member's row, from the
 * hook `open`, into d->rcpt / d->secret. Returns the outcome so far: SENT
 * meaning "go on", or FAILED / RETRY with error set (no personal data).
 */
static enum outcome open_row(struct sr_delivery *d, const struct sr_outbox_row *r, char *error,
			     size_t elen)
{
	struct sr_delivery_open op = {
		.member_id = r->member_id,
		.dedup_key = r->dedup_key ? r->dedup_key : "",
		.channel = r->channel,
		.recipient_sealed = r->recipient_sealed,
		.recipient_sealed_len = r->recipient_sealed_len,
		.secret_sealed = r->secret_sealed,
		.secret_sealed_len = r->secret_sealed_len,
		.recipient = d->rcpt,
		.recipient_cap = RCPT_CAP,
		.secret_json = d->secret,
		.secret_cap = SECRET_CAP,
	};
	d->rcpt[0] = '\0';
	d->secret[0] = '\0';
	int rc = d->hooks.open != NULL ? d->hooks.open(d->hooks.arg, &op) : SR_E_NOTFOUND;
	if (rc == 0 && d->rcpt[0] == '\0')
		rc = SR_E_NOTFOUND;
	if (rc == 0 && r->secret_sealed != NULL && d->secret[0] == '\0')
		rc = SR_E_CRYPTO;
	if (rc == 0)
		return SENT;
	op.reason[sizeof op.reason - 1] = '\0';
	snprintf(error, elen, "recipient: %s%s%s", sr_strerror(rc), op.reason[0] ? ": " : "",
		 op.reason);
	/* Gone for good (the member's key destroyed, a blob that will never
	 * open): fail now rather than retry for a day. */
	return rc == SR_E_NOTFOUND || rc == SR_E_CRYPTO || rc == SR_E_LIMIT ? FAILED : RETRY;
}

/* Servers echo the recipient in refusals ("550 <ada@example.org>: no such
 * user", "The 'To' number +44... is not valid"); last_error is stored in
 * the outbox and logged, so every copy of it becomes "***". */
static void redact(char *error, const char *recipient)
{
	size_t n = recipient != NULL ? strlen(recipient) : 0;
	char *p;
	if (n == 0)
		return;
	while ((p = strstr(error, recipient)) != NULL) {
		memcpy(p, "***", 3);
		memmove(p + 3, p + n, strlen(p + n) + 1);
	}
}

static void deliver(struct sr_delivery *d, const struct sr_outbox_row *r)
{
	struct sr_rendered rd = {0};
	char code[128] = "", provider[160] = "", error[SR_OUTBOX_ERROR_MAX] = "";
	char date[32];
	char *vars = NULL;
	enum outcome o = FAILED;
	int rc = 0;
	struct sr_outbox_row resolved = *r;
	bool clear = r->recipient != NULL && r->recipient[0] != '\0';
	d->rcpt[0] = '\0';
	d->secret[0] = '\0';
	if (r->member_id != NULL &&
	    (!clear || r->recipient_sealed != NULL || r->secret_sealed != NULL)) {
		/* A member's row: its recipient and secrets live sealed under
		 * the member's data key (or the recipient is the member's
		 * current one), never in the outbox in clear. */
		if ((o = open_row(d, r, error, sizeof error)) != SENT)
			goto done;
		resolved.recipient = d->rcpt;
		r = &resolved;
	} else if (!clear) {
		snprintf(error, sizeof error, "recipient: none");
		o = FAILED;
		goto done;
	}
	o = FAILED;
	if ((rc = sr_outbox_merge_variables(r->variables_json, d->secret, &vars)) != 0) {
		snprintf(error, sizeof error, "variables: %s", sr_strerror(rc));
		goto done;
	}
	if (r->member_id != NULL && d->hooks.anti_phishing_code != NULL)
		rc = d->hooks.anti_phishing_code(d->hooks.arg, r->member_id, code, sizeof code);
	if (rc != 0) {
		snprintf(error, sizeof error, "anti-phishing code: %s", sr_strerror(rc));
		o = RETRY;
		goto done;
	}
	/* The event's date is when it was enqueued: "YYYY-MM-DD HH:MM UTC". */
	snprintf(date, sizeof date, "%.10s %.5s UTC", r->created_at,
		 strlen(r->created_at) >= 16 ? r->created_at + 11 : "00:00");
	struct sr_template_ctx ctx = {
		.name = r->template_name,
		.variables_json = vars,
		.reference = r->reference,
		.anti_phishing_code = code,
		.date = date,
		.official_domains = d->domains,
	};
	if ((rc = sr_template_render(&ctx, &rd)) != 0) {
		snprintf(error, sizeof error, "template %s: %s", r->template_name, sr_strerror(rc));
		goto done;
	}
	o = r->channel == SR_OUTBOX_SMS
		    ? send_sms(d, r, &rd, provider, sizeof provider, error, sizeof error)
		    : send_email(d, r, &rd, provider, sizeof provider, error, sizeof error);
done:
	redact(error, r->recipient);
	sr_wipe(code, sizeof code);
	sodium_memzero(d->rcpt, RCPT_CAP);
	sodium_memzero(d->secret, SECRET_CAP);
	if (vars != NULL)
		sodium_free(vars);
	sr_rendered_free(&rd);
	if (o == SENT) {
		bool owned = false;
		rc = sr_outbox_mark_sent(d->st, r->id, d->owner, provider, &owned);
		atomic_fetch_add(&d->sent, 1);
		if (rc != 0 || !owned) {
			/* Sent, but the row may go out again: at least once. */
			atomic_fetch_add(&d->lease_lost, 1);
			sr_log(SR_LOG_WARN, "notification sent but not recorded",
			       SR_LS("id", r->id),
			       SR_LS("error", rc ? sr_strerror(rc) : "lease lost"));
		}
		return;
	}
	/* Exponential backoff from the attempt count; give up after the
	 * window (measured from creation) or on a permanent refusal. */
	int64_t delay = d->base_ms;
	for (int64_t i = 1; i < r->attempts && delay < d->max_ms; i++)
		delay *= 2;
	if (delay > d->max_ms)
		delay = d->max_ms;
	char deadline[32];
	sr_outbox_time(-d->window_ms + delay, deadline);
	if (o == RETRY && strcmp(r->created_at, deadline) < 0)
		o = FAILED;
	rc = sr_outbox_mark_retry(d->st, r->id, d->owner, delay, o == FAILED, error);
	if (o == FAILED) {
		atomic_fetch_add(&d->failed, 1);
		sr_log(SR_LOG_ERROR, "notification failed", SR_LS("id", r->id),
		       SR_LS("reference", r->reference), SR_LI("attempts", r->attempts),
		       SR_LS("error", error));
	} else {
		atomic_fetch_add(&d->retried, 1);
		sr_log(SR_LOG_WARN, "notification will be retried", SR_LS("id", r->id),
		       SR_LI("attempts", r->attempts), SR_LI("delay_ms", delay),
		       SR_LS("error", error));
	}
	if (rc != 0)
		sr_log(SR_LOG_WARN, "notification outcome not recorded", SR_LS("id", r->id),
		       SR_LS("error", sr_strerror(rc)));
}

int sr_delivery_run_once(struct sr_delivery *d, size_t *processed)
{
	struct sr_outbox_row *rows = NULL;
	size_t n = 0;
	if (processed != NULL)
		*processed = 0;
	int rc = sr_outbox_claim(d->st, d->owner, d->lease_ms, d->batch, &rows, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		deliver(d, &rows[i]);
		sr_outbox_row_free(&rows[i]);
	}
	free(rows);
	if (processed != NULL)
		*processed = n;
	return 0;
}

/* One pass of the delivery thread: a full batch means more may be due. */
static int pass(void *arg, bool *more)
{
	struct sr_delivery *d = arg;
	size_t n = 0;
	int rc = sr_delivery_run_once(d, &n);
	*more = n == d->batch;
	return rc;
}

static void job_free(struct sr_delivery *d)
{
	if (d == NULL)
		return;
	sr_dkim_free(d->dkim);
	sr_sms_free(d->sms);
	if (d->rcpt != NULL)
		sodium_free(d->rcpt);
	if (d->secret != NULL)
		sodium_free(d->secret);
	free((char *)d->smtp.ca_file);
	free(d->maildir);
	free(d->domains);
	free(d);
}

int sr_delivery_new(struct sr_store *st, const struct sr_config *cfg,
		    const struct sr_delivery_hooks *hooks, struct sr_delivery **out, char *err,
		    size_t errlen)
{
	int rc;
	char msg[256] = "";
	*out = NULL;
	struct sr_delivery *d = sr_xcalloc(1, sizeof *d);
	d->st = st;
	d->rcpt = sodium_malloc(RCPT_CAP);
	d->secret = sodium_malloc(SECRET_CAP);
	if (d->rcpt == NULL || d->secret == NULL)
		abort(); /* the server core fails closed on out-of-memory (base/mem.h) */
	if (hooks != NULL)
		d->hooks = *hooks;
	if (d->hooks.instance_id != NULL) {
		snprintf(d->owner, sizeof d->owner, "%s", d->hooks.instance_id);
	} else {
		char host[64] = "host";
		unsigned char rnd[6];
		char hex[13];
		(void)gethostname(host, sizeof host - 1);
		randombytes_buf(rnd, sizeof rnd);
		sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
		snprintf(d->owner, sizeof d->owner, "%.63s:%ld:%s", host, (long)getpid(), hex);
	}
	d->hooks.instance_id = NULL;
	d->base_ms = sr_config_int(cfg, "notify", "retry_base_ms");
	d->max_ms = sr_config_int(cfg, "notify", "retry_max_ms");
	d->window_ms = sr_config_int(cfg, "notify", "retry_window_s") * 1000;
	d->lease_ms = sr_config_int(cfg, "notify", "lease_s") * 1000;
	d->poll_ms = sr_config_int(cfg, "notify", "poll_ms");
	d->batch = (unsigned)sr_config_int(cfg, "notify", "batch");
	d->domains = sr_xstrdup(sr_config_str(cfg, "email", "official_domains"));
	if ((rc = sr_mail_check_from(cfg, msg, sizeof msg)) != 0) {
		snprintf(err, errlen, "%s", msg);
		goto out;
	}
	if ((rc = sr_mail_parse_mailbox(sr_config_str(cfg, "email", "from"), d->from_name,
					sizeof d->from_name, d->from_addr, sizeof d->from_addr)) !=
	    0) {
		snprintf(err, errlen, "[email] from is not a mailbox");
		rc = SR_E_CONFIG;
		goto out;
	}
	if ((rc = sr_dkim_from_config(cfg, &d->dkim, msg, sizeof msg)) != 0) {
		snprintf(err, errlen, "DKIM: %s", msg);
		goto out;
	}
	sr_smtp_opts_from_config(cfg, &d->smtp);
	d->maildir = sr_config_path(cfg, "email", "maildir");
	if ((d->smtp.url == NULL || d->smtp.url[0] == '\0') &&
	    (d->maildir == NULL || !sr_config_is_development(cfg))) {
		snprintf(err, errlen,
			 "[email] smtp_url is empty: only a development instance may "
			 "deliver to the maildir");
		rc = SR_E_CONFIG;
		goto out;
	}
	/* SMS is optional: without it SMS rows wait (and fail after the
	 * retry window), email still goes. */
	if (sr_sms_from_config(cfg, &d->sms, msg, sizeof msg) != 0) {
		d->sms = NULL;
		sr_log(SR_LOG_WARN, "SMS notifications are not configured", SR_LS("reason", msg));
	}
	*out = d;
	d = NULL;
	rc = 0;
out:
	job_free(d);
	return rc;
}

int sr_delivery_start(struct sr_store *st, const struct sr_config *cfg,
		      const struct sr_delivery_hooks *hooks, struct sr_delivery **out, char *err,
		      size_t errlen)
{
	int rc = sr_delivery_new(st, cfg, hooks, out, err, errlen);
	if (rc != 0)
		return rc;
	if (sr_poller_start("notifications", pass, *out, (*out)->poll_ms, &(*out)->poller) != 0) {
		snprintf(err, errlen, "cannot start the delivery thread");
		job_free(*out);
		*out = NULL;
		return SR_E_INTERNAL;
	}
	return 0;
}

void sr_delivery_stop(struct sr_delivery *d)
{
	if (d == NULL)
		return;
	sr_poller_stop(d->poller);
	job_free(d);
}

void sr_delivery_stats(const struct sr_delivery *d, struct sr_delivery_stats *out)
{
	memset(out, 0, sizeof *out);
	if (d == NULL)
		return;
	out->sent = atomic_load(&((struct sr_delivery *)d)->sent);
	out->retried = atomic_load(&((struct sr_delivery *)d)->retried);
	out->failed = atomic_load(&((struct sr_delivery *)d)->failed);
	out->lease_lost = atomic_load(&((struct sr_delivery *)d)->lease_lost);
}
