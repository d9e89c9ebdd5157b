/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Member events (events.h): one event becomes an email, maybe an SMS and a
 * marketplace webhook, all queued in the caller's transaction.
 *
 * Who holds what: the member's email address and phone number are opened
 * here with the member's data key (pii.h) for the few microseconds it takes
 * to hand them to the outbox, in sodium_malloc memory, then wiped. They are
 * never logged and never put into the webhook, which carries ids, the
 * message reference and masked money fields only.
 */
#include "platform/events.h"
#include "base/mem.h"
#include "platform/pii.h"
#include "store/store.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every event a member hears about. webhook NULL: none (account mail with a
 * one-time code, which the marketplace has no use for). */
static const struct event_kind {
	const char *name;
	const char *webhook;
	bool transaction; /* also by SMS, to members who opted in */
} KINDS[] = {
	{"money_received", "member.money.received", true},
	{"payout_requested", "member.payout.requested", true},
	{"payout_held", "member.payout.held", true},
	{"payout_sent", "member.payout.sent", true},
	{"payout_failed", "member.payout.failed", true},
	{"payout_returned", "member.payout.returned", true},
	{"verification_requested", "member.verification.requested", false},
	{"new_device_login", "member.security.new_device_login", false},
	{"password_changed", "member.security.password_changed", false},
	{"account_locked", "member.security.account_locked", false},
	{"mfa_enabled", "member.security.mfa_enabled", false},
	{"mfa_disabled", "member.security.mfa_disabled", false},
	{"email_changed", "member.security.email_changed", false},
	{"phone_changed", "member.security.phone_changed", false},
	{"email_verification", NULL, false},
	{"password_reset", NULL, false},
};

static const struct event_kind *kind_of(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
		if (strcmp(KINDS[i].name, name) == 0)
			return &KINDS[i];
	return NULL;
}

bool sr_events_is_transaction(const char *name)
{
	const struct event_kind *k = kind_of(name);
	return k != NULL && k->transaction;
}

const char *sr_events_webhook_type(const char *name)
{
	const struct event_kind *k = kind_of(name);
	return k != NULL ? k->webhook : NULL;
}

/* An object id names the occurrence and goes into dedup keys (printable
 * ASCII) and, hashed, into the webhook id: "po_1", "usr_1@2026-...Z". */
static bool object_id_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (s == NULL)
		return false;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e || s[n] == '"' ||
		    s[n] == '\\')
			return false;
	return n > 0 && n <= max;
}

static bool id_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (s == NULL)
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n > 0 && n <= max;
}

/*
 * Opens one sealed column of the member (sql selects exactly that blob for
 * $1, or no row). *value is sodium_malloc'd; NULL with 0 returned when
 * there is no row or the column is NULL.
 */
static int open_sealed(struct sr_conn *c, const struct sr_pii *pii, const char *member_id,
		       const char *sql, const char *field, char **value)
{
	struct sr_stmt *s = NULL;
	unsigned char *blob = NULL;
	size_t blen = 0, vlen = 0;
	*value = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, member_id, strlen(member_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc < 0)
		goto out;
	if (rc == 0 || sr_stmt_col_is_null(s, 0)) {
		rc = 0;
		goto out;
	}
	/* Copied out: opening loads the member key with another statement. */
	const void *b = sr_stmt_col_blob(s, 0, &blen);
	blob = sr_xmalloc(blen ? blen : 1);
	memcpy(blob, b, blen);
	sr_stmt_done(s);
	s = NULL;
	rc = sr_pii_open(c, pii, member_id, field, blob, blen, value, &vlen);
out:
	sr_stmt_done(s);
	free(blob);
	return rc;
}

/* The webhook's data.object: ids, the references and the masked money
 * fields. Never the address, the phone, a code or a device. */
static char *webhook_object(const struct sr_member_event *ev, const struct sr_event_refs *refs)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "object", "member_event", "event",
			      ev->name, "member", ev->member_id, "object_id", ev->object_id,
			      "reference", refs->email);
	json_t *vars = ev->variables_json ? json_loads(ev->variables_json, 0, NULL) : NULL;
	if (vars != NULL && json_is_object(vars)) {
		json_t *v;
		if ((v = json_object_get(vars, "amount_minor")) != NULL && json_is_integer(v))
			json_object_set(o, "amount", v);
		if ((v = json_object_get(vars, "currency")) != NULL && json_is_string(v))
			json_object_set(o, "currency", v);
		if ((v = json_object_get(vars, "destination")) != NULL && json_is_string(v))
			json_object_set(o, "destination", v);
	}
	json_decref(vars);
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* "evt_" + the first 128 bits of SHA-256(name ":" object id), in hex: the
 * same event always has the same webhook id, so the queue deduplicates. */
static void webhook_event_id(const struct sr_member_event *ev, char out[SR_WEBHOOK_EVENT_ID_SIZE])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[33];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)ev->name, strlen(ev->name));
	crypto_hash_sha256_update(&st, (const unsigned char *)":", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)ev->object_id, strlen(ev->object_id));
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, sizeof hex, h, 16);
	snprintf(out, SR_WEBHOOK_EVENT_ID_SIZE, "evt_%s", hex);
}

int sr_events_record(struct sr_conn *c, const struct sr_pii *pii, const struct sr_member_event *ev,
		     struct sr_event_refs *out)
{
	struct sr_event_refs refs;
	char *email = NULL, *phone = NULL, *object = NULL;
	char key[SR_OUTBOX_DEDUP_MAX + 1];
	int rc;
	memset(&refs, 0, sizeof refs);
	if (out != NULL)
		memset(out, 0, sizeof *out);
	const struct event_kind *k = ev != NULL ? kind_of(ev->name) : NULL;
	if (k == NULL || pii == NULL || !id_ok(ev->member_id, SR_OUTBOX_MEMBER_MAX) ||
	    !object_id_ok(ev->object_id, 100))
		return SR_E_INVAL;

	/* A member whose row is gone or whose key was shredded cannot be
	 * reached: SR_E_NOTFOUND, and the caller decides. */
	if (ev->email_to == NULL) {
		rc = open_sealed(
			c, pii, ev->member_id,
			"SELECT email_sealed FROM users WHERE id = $1 AND state = 'active'",
			SR_PII_FIELD_EMAIL, &email);
		if (rc == 0 && email == NULL)
			rc = SR_E_NOTFOUND;
		if (rc != 0)
			goto out;
	}
	snprintf(key, sizeof key, "%s:%s:email", ev->name, ev->object_id);
	struct sr_outbox_item mail = {
		.dedup_key = key,
		.channel = SR_OUTBOX_EMAIL,
		.member_id = ev->member_id,
		/* NULL: the delivery job resolves the member's current address
		 * when it sends (delivery hook "recipient"), so the outbox never
		 * holds it and shredding the member's key erases it here too. */
		.recipient = ev->email_to,
		.template_name = ev->name,
		.variables_json = ev->variables_json,
	};
	if ((rc = sr_outbox_enqueue(c, &mail, refs.email)) != 0)
		goto out;

	/* SMS: a transaction event, the member opted in, and the phone is
	 * verified now (a changed, unverified number gets nothing). */
	if (k->transaction) {
		rc = open_sealed(c, pii, ev->member_id,
				 "SELECT p.phone_sealed FROM notification_prefs n JOIN "
				 "member_profile p ON p.user_id = n.user_id WHERE n.user_id = $1 "
				 "AND n.sms_enabled = 1 AND p.phone_verified = 1",
				 "phone", &phone);
		if (rc != 0)
			goto out;
		if (phone != NULL) {
			snprintf(key, sizeof key, "%s:%s:sms", ev->name, ev->object_id);
			struct sr_outbox_item sms = {
				.dedup_key = key,
				.channel = SR_OUTBOX_SMS,
				.member_id = ev->member_id,
				.recipient = phone,
				.template_name = ev->name,
				.variables_json = ev->variables_json,
			};
			if ((rc = sr_outbox_enqueue(c, &sms, refs.sms)) != 0)
				goto out;
		}
	}

	if (k->webhook != NULL && !ev->no_webhook) {
		webhook_event_id(ev, refs.webhook_event);
		object = webhook_object(ev, &refs);
		if (object == NULL) {
			rc = SR_E_INVAL;
			goto out;
		}
		if ((rc = sr_webhook_enqueue(c, refs.webhook_event, k->webhook, object)) != 0)
			goto out;
	}
	if (out != NULL)
		*out = refs;
	rc = 0;
out:
	if (email != NULL)
		sodium_free(email);
	if (phone != NULL)
		sodium_free(phone);
	free(object);
	return rc;
}
