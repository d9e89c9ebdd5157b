/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Member events (events.h): one event becomes an email, maybe an SMS and a
 * marketplace webhook, all queued in the caller's transaction.
 *
 * Who holds what: the member's data key (pii.h) is loaded here for the
 * transaction that queues the event, to check the member can be reached and
 * to seal what the outbox must not hold in clear (an explicit recipient,
 * the one-time "code"); the same key opens them again at send time
 * (sr_events_open_outbox, the delivery hook). Clear values live in
 * sodium_malloc memory or are wiped after use; they are never logged and
 * never put into the webhook, which carries ids, the message reference and
 * masked money fields only.
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
 * The blob of the first row of sql (which selects exactly that column for
 * $1 = member_id), copied out (*blob malloc'd); NULL with 0 returned when
 * there is no row or the column is NULL.
 */
static int select_blob(struct sr_conn *c, const char *member_id, const char *sql,
		       unsigned char **blob, size_t *blen)
{
	struct sr_stmt *s = NULL;
	*blob = NULL;
	*blen = 0;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, member_id, strlen(member_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1 && !sr_stmt_col_is_null(s, 0)) {
		const void *b = sr_stmt_col_blob(s, 0, blen);
		*blob = sr_xmalloc(*blen ? *blen : 1);
		if (*blen > 0)
			memcpy(*blob, b, *blen);
	}
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

#define SQL_EMAIL "SELECT email_sealed FROM users WHERE id = $1 AND state = 'active'"
/* The number an SMS goes to: verified, and SMS still chosen. */
#define SQL_PHONE                                                                                  \
	"SELECT p.phone_sealed FROM notification_prefs n JOIN member_profile p ON p.user_id = "    \
	"n.user_id WHERE n.user_id = $1 AND n.sms_enabled = 1 AND p.phone_verified = 1"

int sr_events_seal_outbox(const struct sr_pii_member_key *k, const char *field,
			  const char *dedup_key, const char *value, unsigned char **blob,
			  size_t *blob_len)
{
	*blob = NULL;
	*blob_len = 0;
	size_t kn = strlen(dedup_key), vn = strlen(value);
	if (kn + vn + 2 > SR_PII_VALUE_MAX)
		return SR_E_LIMIT;
	char *text = sodium_malloc(kn + vn + 2);
	if (text == NULL)
		return SR_E_NOMEM;
	memcpy(text, dedup_key, kn);
	text[kn] = '\n';
	memcpy(text + kn + 1, value, vn + 1);
	int rc = sr_pii_seal_with(k, field, text, kn + 1 + vn, blob, blob_len);
	sodium_free(text);
	return rc;
}

/* Opens a blob of sr_events_seal_outbox for dedup_key into out (cap bytes).
 * SR_E_CRYPTO: not this member's, field's or row's. */
static int open_bound(const struct sr_pii_member_key *k, const char *field, const char *dedup_key,
		      const unsigned char *blob, size_t blen, char *out, size_t cap)
{
	char *text = NULL;
	size_t tn = 0, kn = strlen(dedup_key);
	int rc = sr_pii_open_with(k, field, blob, blen, &text, &tn);
	if (rc != 0)
		return rc;
	if (tn <= kn || strncmp(text, dedup_key, kn) != 0 || text[kn] != '\n')
		rc = SR_E_CRYPTO;
	else if (tn - kn - 1 >= cap)
		rc = SR_E_LIMIT;
	else
		memcpy(out, text + kn + 1, tn - kn); /* with the NUL */
	sodium_free(text);
	return rc;
}

/* Opens the member's current address or phone (sql) into out. */
static int open_current(struct sr_conn *c, const struct sr_pii_member_key *k, const char *member_id,
			const char *sql, const char *field, char *out, size_t cap)
{
	unsigned char *blob = NULL;
	size_t blen = 0;
	char *v = NULL;
	size_t vn = 0;
	int rc = select_blob(c, member_id, sql, &blob, &blen);
	if (rc == 0 && blob == NULL)
		rc = SR_E_NOTFOUND;
	if (rc == 0)
		rc = sr_pii_open_with(k, field, blob, blen, &v, &vn);
	if (rc == 0) {
		if (vn < cap)
			memcpy(out, v, vn + 1);
		else
			rc = SR_E_LIMIT;
		sodium_free(v);
	}
	free(blob);
	return rc;
}

int sr_events_open_outbox(struct sr_conn *c, const struct sr_pii *pii, struct sr_delivery_open *o)
{
	struct sr_pii_member_key *k = NULL;
	if (o->recipient_cap > 0)
		o->recipient[0] = '\0';
	if (o->secret_cap > 0)
		o->secret_json[0] = '\0';
	o->reason[0] = '\0';
	if (o->member_id == NULL || o->dedup_key == NULL || o->recipient_cap == 0 ||
	    o->secret_cap == 0)
		return SR_E_INVAL;
	int rc = sr_pii_member_key_load(c, pii, o->member_id, &k);
	if (rc == SR_E_NOTFOUND) {
		snprintf(o->reason, sizeof o->reason, "the member's personal data was erased");
		goto out;
	}
	if (rc != 0)
		goto out;
	if (o->recipient_sealed != NULL) {
		rc = open_bound(k, SR_EVENTS_FIELD_OUTBOX_RECIPIENT, o->dedup_key,
				o->recipient_sealed, o->recipient_sealed_len, o->recipient,
				o->recipient_cap);
	} else if (o->channel == SR_OUTBOX_SMS) {
		rc = open_current(c, k, o->member_id, SQL_PHONE, "phone", o->recipient,
				  o->recipient_cap);
		if (rc == SR_E_NOTFOUND)
			snprintf(o->reason, sizeof o->reason,
				 "no verified phone number with SMS chosen any more");
	} else {
		rc = open_current(c, k, o->member_id, SQL_EMAIL, SR_PII_FIELD_EMAIL, o->recipient,
				  o->recipient_cap);
		if (rc == SR_E_NOTFOUND)
			snprintf(o->reason, sizeof o->reason, "no active member");
	}
	if (rc == SR_E_CRYPTO && o->reason[0] == '\0')
		snprintf(o->reason, sizeof o->reason,
			 "sealed recipient does not open for this row");
	if (rc == 0 && o->secret_sealed != NULL) {
		rc = open_bound(k, SR_EVENTS_FIELD_OUTBOX_SECRET, o->dedup_key, o->secret_sealed,
				o->secret_sealed_len, o->secret_json, o->secret_cap);
		if (rc == SR_E_CRYPTO)
			snprintf(o->reason, sizeof o->reason,
				 "sealed secret does not open for this row");
	}
out:
	if (rc != 0) {
		sodium_memzero(o->recipient, o->recipient_cap);
		sodium_memzero(o->secret_json, o->secret_cap);
	}
	sr_pii_member_key_free(k);
	return rc;
}

/*
 * Splits the event's variables into the clear ones (*clear, malloc'd) and
 * the one-time secret ones (*secret, sodium_malloc'd JSON object text, NULL
 * when none): a "code" never goes to the outbox in clear.
 */
static int split_secret(const char *variables_json, char **clear, char **secret)
{
	int rc = 0;
	*clear = NULL;
	*secret = NULL;
	json_t *vars = json_loads(variables_json ? variables_json : "{}", 0, NULL);
	json_t *code = json_object_get(vars, "code");
	char *text = NULL;
	if (!json_is_object(vars))
		return SR_E_INVAL; /* json_decref(NULL) is nothing to do */
	if (code != NULL) {
		json_t *sec = json_pack("{s:O}", "code", code);
		text = sec ? json_dumps(sec, JSON_COMPACT) : NULL;
		json_decref(sec);
		if (json_is_string(code))
			sodium_memzero((char *)json_string_value(code), json_string_length(code));
		json_object_del(vars, "code");
		if (text == NULL) {
			rc = SR_E_INVAL;
			goto out;
		}
		size_t n = strlen(text);
		*secret = sodium_malloc(n + 1);
		if (*secret == NULL) {
			rc = SR_E_NOMEM;
			goto out;
		}
		memcpy(*secret, text, n + 1);
	}
	*clear = json_dumps(vars, JSON_COMPACT);
	if (*clear == NULL)
		rc = SR_E_INVAL;
out:
	if (text != NULL) {
		sodium_memzero(text, strlen(text));
		free(text);
	}
	json_decref(vars);
	if (rc != 0 && *secret != NULL) {
		sodium_free(*secret);
		*secret = NULL;
	}
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

/* One outbox row of the event: the explicit recipient (NULL: the member's
 * current one) and the secret sealed for this row's key. */
static int enqueue(struct sr_conn *c, const struct sr_pii_member_key *k,
		   const struct sr_member_event *ev, enum sr_outbox_channel channel,
		   const char *recipient, const char *clear_vars, const char *secret,
		   char ref[SR_OUTBOX_ID_SIZE])
{
	char key[SR_OUTBOX_DEDUP_MAX + 1];
	unsigned char *rblob = NULL, *sblob = NULL;
	size_t rlen = 0, slen = 0;
	int rc = 0;
	snprintf(key, sizeof key, "%s:%s:%s", ev->name, ev->object_id,
		 channel == SR_OUTBOX_SMS ? "sms" : "email");
	if (recipient != NULL)
		rc = sr_events_seal_outbox(k, SR_EVENTS_FIELD_OUTBOX_RECIPIENT, key, recipient,
					   &rblob, &rlen);
	if (rc == 0 && secret != NULL)
		rc = sr_events_seal_outbox(k, SR_EVENTS_FIELD_OUTBOX_SECRET, key, secret, &sblob,
					   &slen);
	if (rc == 0) {
		struct sr_outbox_item item = {
			.dedup_key = key,
			.channel = channel,
			.member_id = ev->member_id,
			.recipient = recipient,
			.recipient_sealed = rblob,
			.recipient_sealed_len = rlen,
			.template_name = ev->name,
			.variables_json = clear_vars,
			.secret_json = secret,
			.secret_sealed = sblob,
			.secret_sealed_len = slen,
		};
		rc = sr_outbox_enqueue(c, &item, ref);
	}
	free(rblob);
	free(sblob);
	return rc;
}

int sr_events_record(struct sr_conn *c, const struct sr_pii *pii, const struct sr_member_event *ev,
		     struct sr_event_refs *out)
{
	struct sr_event_refs refs;
	struct sr_pii_member_key *k = NULL;
	char *object = NULL, *clear_vars = NULL, *secret = NULL;
	unsigned char *blob = NULL;
	size_t blen = 0;
	int rc;
	memset(&refs, 0, sizeof refs);
	if (out != NULL)
		memset(out, 0, sizeof *out);
	const struct event_kind *kind = ev != NULL ? kind_of(ev->name) : NULL;
	if (kind == NULL || pii == NULL || !id_ok(ev->member_id, SR_OUTBOX_MEMBER_MAX) ||
	    !object_id_ok(ev->object_id, 100))
		return SR_E_INVAL;

	/* A member whose row is gone or whose key was shredded cannot be
	 * reached: SR_E_NOTFOUND, and the caller decides. */
	if ((rc = sr_pii_member_key_load(c, pii, ev->member_id, &k)) != 0)
		goto out;
	if (ev->email_to == NULL) {
		char addr[SR_PII_VALUE_MAX];
		rc = open_current(c, k, ev->member_id, SQL_EMAIL, SR_PII_FIELD_EMAIL, addr,
				  sizeof addr);
		sodium_memzero(addr, sizeof addr);
		if (rc != 0)
			goto out;
	}
	if ((rc = split_secret(ev->variables_json, &clear_vars, &secret)) != 0)
		goto out;
	/* email_to NULL: the delivery job resolves the member's current address
	 * when it sends, so the outbox never holds it. Otherwise it is sealed. */
	if ((rc = enqueue(c, k, ev, SR_OUTBOX_EMAIL, ev->email_to, clear_vars, secret,
			  refs.email)) != 0)
		goto out;

	/* SMS: a transaction event, the member opted in, and the phone is
	 * verified now (a changed, unverified number gets nothing). The number
	 * itself is looked up again when the text is sent. */
	if (kind->transaction) {
		if ((rc = select_blob(c, ev->member_id, SQL_PHONE, &blob, &blen)) != 0)
			goto out;
		if (blob != NULL && (rc = enqueue(c, k, ev, SR_OUTBOX_SMS, NULL, clear_vars, secret,
						  refs.sms)) != 0)
			goto out;
	}

	if (kind->webhook != NULL && !ev->no_webhook) {
		webhook_event_id(ev, refs.webhook_event);
		object = webhook_object(ev, &refs);
		if (object == NULL) {
			rc = SR_E_INVAL;
			goto out;
		}
		if ((rc = sr_webhook_enqueue(c, refs.webhook_event, kind->webhook, object)) != 0)
			goto out;
	}
	if (out != NULL)
		*out = refs;
	rc = 0;
out:
	sr_pii_member_key_free(k);
	if (secret != NULL)
		sodium_free(secret);
	free(clear_vars);
	free(blob);
	free(object);
	return rc;
}
