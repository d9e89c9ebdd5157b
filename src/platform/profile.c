/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The member profile: GET/PATCH/DELETE /v1/me, POST /v1/me/phone/verify and
 * the audited staff read GET /v1/members/{id} (docs/profile.md).
 *
 * Who holds what: every personal value is sealed under the member's data
 * key (pii.h) before it reaches the database and opened only inside the
 * request's transaction, into sodium memory wiped right after it was copied
 * into the response. Nothing personal goes to the log or the audit trail
 * (audit details name the fields that changed, never their values).
 * Deleting the account removes the data key (crypto-shredding): the sealed
 * blobs stay, in the database and in every backup, and can no longer be
 * opened; the account row is kept, marked deleted, with its email lookup
 * replaced, so the address behaves at login exactly like an unknown one.
 *
 * The notification outbox holds nothing personal in clear either
 * (events.h): the verification text to a new number carries that pending
 * number and its code sealed under the member's data key, bound to the
 * outbox row, opened only by the delivery job when it sends; the "email
 * changed" notice to the old address carries that address sealed the same
 * way. Deleting the account therefore also makes queued mail unreadable:
 * those rows fail without being sent.
 */
#include "platform/profile.h"
#include "platform/events.h"
#include "audit/audit.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http.h"
#include "net/router.h"
#include "platform/accounts.h"
#include "platform/auth.h"
#include "platform/authed.h"
#include "platform/mfa_int.h"
#include "platform/notify/outbox.h"
#include "platform/pii.h"
#include "store/store.h"
#include "svc/runtime.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PHONE_CODE_TTL_S        600
#define PHONE_CODE_MAX_ATTEMPTS 5

/* Sealed columns of member_profile and their pii field names (fixed text:
 * the only strings ever pasted into SQL here). */
struct field {
	const char *name;   /* API name and pii field */
	const char *column; /* member_profile column */
};
static const struct field F_PHONE = {"phone", "phone_sealed"};
static const struct field F_APC = {"anti_phishing_code", "anti_phishing_sealed"};
static const struct field F_ADDRESS = {"address", "address_sealed"};
static const struct field F_DOB = {"date_of_birth", "date_of_birth_sealed"};
static const struct field F_CITIZENSHIP = {"citizenship", "citizenship_sealed"};
#define FIELD_PHONE_CODE "phone_code"

/* ---------------------------------------------------------------- helpers */

static int step_done(struct sr_stmt *s, int rc)
{
	if (rc == 0)
		rc = sr_stmt_step(s);
	rc = rc < 0 ? rc : 0;
	sr_stmt_done(s);
	return rc;
}

static int ensure_row(struct sr_conn *c, const char *uid)
{
	char now[32];
	sr_audit_now(now, sizeof now);
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c,
				 "INSERT INTO member_profile (user_id, updated_at) VALUES ($1, $2) "
				 "ON CONFLICT (user_id) DO NOTHING",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, now, strlen(now));
	return step_done(s, rc);
}

/* Stores value (NULL: clears) sealed as f for uid. */
static int store_field(struct sr_conn *c, const struct sr_pii_member_key *k, const char *uid,
		       const struct field *f, const char *value)
{
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	char sql[160], now[32];
	struct sr_stmt *s = NULL;
	sr_audit_now(now, sizeof now);
	int rc = 0;
	if (value != NULL)
		rc = sr_pii_seal_with(k, f->name, value, strlen(value), &blob, &blob_len);
	if (rc != 0)
		return rc;
	snprintf(sql, sizeof sql,
		 "UPDATE member_profile SET %s = $2, updated_at = $3 WHERE user_id = $1",
		 f->column);
	rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = blob ? sr_stmt_bind_blob(s, 2, blob, blob_len) : sr_stmt_bind_null(s, 2);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	free(blob);
	return step_done(s, rc);
}

/* The member_profile row, blobs copied out. */
struct profile_row {
	bool found;
	unsigned char *blob[5];
	size_t len[5];
	bool phone_verified;
	unsigned char *code_blob;
	size_t code_len;
	char code_expires[32];
	int64_t code_attempts;
};
enum { B_PHONE, B_APC, B_ADDRESS, B_DOB, B_CITIZENSHIP };

static void row_clear(struct profile_row *r)
{
	for (int i = 0; i < 5; i++)
		free(r->blob[i]);
	free(r->code_blob);
	memset(r, 0, sizeof *r);
}

static unsigned char *copy_blob(struct sr_stmt *s, int col, size_t *len)
{
	*len = 0;
	if (sr_stmt_col_is_null(s, col))
		return NULL;
	const void *b = sr_stmt_col_blob(s, col, len);
	unsigned char *p = sr_xmalloc(*len ? *len : 1);
	memcpy(p, b, *len);
	return p;
}

static int load_row(struct sr_conn *c, const char *uid, struct profile_row *r)
{
	struct sr_stmt *s = NULL;
	memset(r, 0, sizeof *r);
	int rc = sr_stmt_prepare(c,
				 "SELECT phone_sealed, anti_phishing_sealed, address_sealed, "
				 "date_of_birth_sealed, citizenship_sealed, phone_verified, "
				 "phone_code_sealed, phone_code_expires_at, phone_code_attempts "
				 "FROM member_profile WHERE user_id = $1",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		r->found = true;
		for (int i = 0; i < 5; i++)
			r->blob[i] = copy_blob(s, i, &r->len[i]);
		r->phone_verified = sr_stmt_col_i64(s, 5) != 0;
		r->code_blob = copy_blob(s, 6, &r->code_len);
		size_t n = 0;
		const char *t = sr_stmt_col_text(s, 7, &n);
		snprintf(r->code_expires, sizeof r->code_expires, "%.*s", (int)n, t ? t : "");
		r->code_attempts = sr_stmt_col_i64(s, 8);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

/* Opens blob as field into a JSON string (or JSON for the address);
 * json null when there is no blob. */
static int open_json(const struct sr_pii_member_key *k, const char *field,
		     const unsigned char *blob, size_t len, bool is_json, json_t **out)
{
	*out = NULL;
	if (blob == NULL) {
		*out = json_null();
		return 0;
	}
	char *v = NULL;
	size_t vl = 0;
	int rc = sr_pii_open_with(k, field, blob, len, &v, &vl);
	if (rc != 0)
		return rc;
	*out = is_json ? json_loadb(v, vl, 0, NULL) : json_stringn(v, vl);
	sodium_free(v);
	if (*out == NULL)
		*out = json_null();
	return 0;
}

static void random_hex_id(const char *prefix, char *out, size_t cap)
{
	unsigned char raw[16];
	char hex[33];
	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
	snprintf(out, cap, "%s%s", prefix, hex);
}

/* "+*******0123": what may be shown of a number outside the profile. */
static void mask_phone(const char *phone, char *out, size_t cap)
{
	size_t n = strlen(phone);
	if (n < 5) {
		snprintf(out, cap, "+***");
		return;
	}
	char stars[20];
	size_t k = n - 5 < sizeof stars - 1 ? n - 5 : sizeof stars - 1;
	memset(stars, '*', k);
	stars[k] = '\0';
	snprintf(out, cap, "+%s%s", stars, phone + n - 4);
}

/* "j***@example.com". */
static void mask_email(const char *email, char *out, size_t cap)
{
	const char *at = strrchr(email, '@');
	if (at == NULL || at == email) {
		snprintf(out, cap, "***");
		return;
	}
	snprintf(out, cap, "%c***%s", email[0], at);
}

/* One member event (events.h: the email, and the marketplace webhook for
 * security events unless webhook is false), each call its own occurrence. */
static int profile_event(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			 const char *template_name, const char *variables_json,
			 const char *to_email, bool webhook)
{
	char evt[48];
	random_hex_id("evt_", evt, sizeof evt);
	/* Without to_email the outbox row holds no address at all: delivery
	 * resolves the member's current one at send time (delivery hook
	 * "recipient"), so it is never stored in clear and shredding the
	 * member's key erases it from queued mail too. */
	struct sr_member_event ev = {
		.name = template_name,
		.object_id = evt,
		.member_id = user_id,
		.variables_json = variables_json,
		.email_to = to_email,
		.no_webhook = !webhook,
	};
	return sr_events_record(c, sr_accounts_pii(acc), &ev, NULL);
}

int sr_profile_notify(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		      const char *template_name, const char *variables_json, const char *to_email)
{
	return profile_event(c, acc, user_id, template_name, variables_json, to_email, true);
}

int sr_profile_phone(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		     char **phone, bool *verified)
{
	struct profile_row r;
	*phone = NULL;
	*verified = false;
	int rc = load_row(c, user_id, &r);
	if (rc == 0 && r.found && r.blob[B_PHONE] != NULL) {
		size_t n = 0;
		rc = sr_pii_open(c, sr_accounts_pii(acc), user_id, F_PHONE.name, r.blob[B_PHONE],
				 r.len[B_PHONE], phone, &n);
		if (rc == 0)
			*verified = r.phone_verified;
	}
	row_clear(&r);
	return rc;
}

struct apc_job {
	const struct sr_accounts *acc;
	const char *member_id;
	char *code;
	size_t len;
};

static int apc_tx(struct sr_conn *c, void *arg)
{
	struct apc_job *j = arg;
	struct sr_stmt *s = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	j->code[0] = '\0';
	int rc = sr_stmt_prepare(
		c, "SELECT anti_phishing_sealed FROM member_profile WHERE user_id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, j->member_id, strlen(j->member_id));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1)
		blob = copy_blob(s, 0, &blob_len);
	sr_stmt_done(s);
	if (rc < 0 || blob == NULL) {
		free(blob);
		return rc < 0 ? rc : 0;
	}
	char *v = NULL;
	size_t vl = 0;
	rc = sr_pii_open(c, sr_accounts_pii(j->acc), j->member_id, F_APC.name, blob, blob_len, &v,
			 &vl);
	free(blob);
	if (rc == SR_E_NOTFOUND)
		return 0; /* shredded: the member is gone, no code */
	if (rc != 0)
		return rc;
	if (vl < j->len)
		memcpy(j->code, v, vl + 1);
	sodium_free(v);
	return 0;
}

int sr_profile_anti_phishing_code(void *arg, const char *member_id, char *code, size_t len)
{
	struct sr_accounts *acc = arg;
	if (len == 0)
		return SR_E_INVAL;
	code[0] = '\0';
	if (member_id == NULL || member_id[0] == '\0')
		return 0;
	if (!sr_accounts_ready(acc))
		return SR_E_UNAVAILABLE;
	struct apc_job j = {.acc = acc, .member_id = member_id, .code = code, .len = len};
	return sr_store_tx(sr_runtime_store(sr_accounts_runtime(acc)), SR_TX_READ, apc_tx, &j);
}

/* ------------------------------------------------------------ the member */

/* The member object for user_id (GET /v1/me, staff read). *found false for
 * an unknown or deleted member. */
static int member_json(struct sr_conn *c, const struct sr_accounts *acc, const char *uid,
		       bool *found, json_t **out)
{
	struct sr_stmt *s = NULL;
	struct profile_row r = {0};
	struct sr_pii_member_key *k = NULL;
	char *email = NULL, *name = NULL;
	json_t *m = NULL;
	*found = false;
	*out = NULL;
	char role[16] = "", created[32] = "";
	bool email_verified = false;
	int rc = sr_stmt_prepare(c,
				 "SELECT role, email_verified, created_at FROM users WHERE id = $1 "
				 "AND state = 'active'",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		size_t n;
		const char *t = sr_stmt_col_text(s, 0, &n);
		snprintf(role, sizeof role, "%.*s", (int)n, t ? t : "");
		email_verified = sr_stmt_col_i64(s, 1) != 0;
		t = sr_stmt_col_text(s, 2, &n);
		snprintf(created, sizeof created, "%.*s", (int)n, t ? t : "");
	}
	sr_stmt_done(s);
	if (rc <= 0)
		return rc; /* 0: no such active member */
	rc = sr_pii_member_key_load(c, sr_accounts_pii(acc), uid, &k);
	if (rc == SR_E_NOTFOUND)
		return 0; /* shredded */
	if (rc != 0)
		goto out;
	if ((rc = sr_auth_member_email(c, acc, uid, &email)) != 0)
		goto out;
	if ((rc = sr_auth_member_name(c, acc, uid, &name)) != 0)
		goto out;
	if ((rc = load_row(c, uid, &r)) != 0)
		goto out;
	bool mfa = false;
	int64_t remaining = 0;
	if ((rc = sr_mfa_enabled(c, uid, &mfa)) != 0)
		goto out;
	if ((rc = sr_mfa_recovery_remaining(c, uid, &remaining)) != 0)
		goto out;
	json_t *phone, *apc, *addr, *dob, *cit;
	const struct field *fs[5] = {&F_PHONE, &F_APC, &F_ADDRESS, &F_DOB, &F_CITIZENSHIP};
	json_t **outs[5] = {&phone, &apc, &addr, &dob, &cit};
	m = json_object();
	for (int i = 0; i < 5; i++) {
		rc = open_json(k, fs[i]->name, r.blob[i], r.len[i], i == B_ADDRESS, outs[i]);
		if (rc != 0) {
			for (int j = 0; j < i; j++)
				json_decref(*outs[j]);
			goto out;
		}
	}
	json_object_set_new(m, "id", json_string(uid));
	json_object_set_new(m, "object", json_string("member"));
	json_object_set_new(m, "role", json_string(role));
	json_object_set_new(m, "email", json_string(email));
	json_object_set_new(m, "email_verified", json_boolean(email_verified));
	json_object_set_new(m, "name", json_string(name));
	json_object_set_new(m, "phone", phone);
	json_object_set_new(m, "phone_verified", json_boolean(r.blob[B_PHONE] && r.phone_verified));
	json_object_set_new(m, "anti_phishing_code", apc);
	json_object_set_new(m, "address", addr);
	json_object_set_new(m, "date_of_birth", dob);
	json_object_set_new(m, "citizenship", cit);
	json_object_set_new(m, "mfa",
			    json_pack("{s:b, s:I}", "enabled", mfa, "recovery_codes_remaining",
				      (json_int_t)(mfa ? remaining : 0)));
	json_object_set_new(m, "created", json_string(created));
	*found = true;
	*out = m;
	m = NULL;
out:
	json_decref(m);
	if (email != NULL)
		sodium_free(email);
	if (name != NULL)
		sodium_free(name);
	sr_pii_member_key_free(k);
	row_clear(&r);
	return rc;
}

static int me_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	bool found = false;
	int rc = member_json(c, job->acc, job->ctx.user_id, &found, &job->reply);
	if (rc == 0 && !found)
		sr_authed_fail(job, 404, "invalid_request_error", "member_not_found", NULL,
			       "No such member.");
	return rc;
}

/* --------------------------------------------------------------- PATCH */

struct patch {
	const char *name;
	const char *email;
	bool has_phone, has_apc, has_address, has_dob, has_citizenship;
	const char *phone, *apc, *dob;
	char citizenship[3];
	char *address; /* compact JSON, malloc'd; NULL: clear */
};

static int today_ymd(void)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static const char *const address_keys[] = {"line1",  "line2",       "city",
					   "region", "postal_code", "country"};

/* Checks the address object; on success *json is its canonical JSON. */
static bool check_address(struct sr_authed_job *job, json_t *v, char **json)
{
	static char param[48];
	*json = NULL;
	if (!json_is_object(v)) {
		sr_authed_fail(job, 400, "invalid_request_error", "parameter_invalid", "address",
			       "The address must be an object with line1, city and country "
			       "(and optionally line2, region, postal_code), or null.");
		return false;
	}
	const char *key;
	json_t *val;
	json_object_foreach(v, key, val)
	{
		bool known = false;
		for (size_t i = 0; i < sizeof address_keys / sizeof *address_keys; i++)
			known |= strcmp(key, address_keys[i]) == 0;
		if (!known) {
			sr_authed_fail(job, 400, "invalid_request_error", "parameter_unknown",
				       "address",
				       "The address has a field this API does not know.");
			return false;
		}
	}
	json_t *canon = json_object();
	for (size_t i = 0; i < sizeof address_keys / sizeof *address_keys; i++) {
		const char *k = address_keys[i];
		json_t *f = json_object_get(v, k);
		bool required = strcmp(k, "line1") == 0 || strcmp(k, "city") == 0 ||
				strcmp(k, "country") == 0;
		(void)param;
		const char *msg = NULL;
		if (f == NULL || json_is_null(f)) {
			if (required)
				msg = "The address needs line1, city and country.";
			else
				continue;
		} else if (!json_is_string(f)) {
			msg = "Each address field must be a string.";
		} else if (strcmp(k, "country") == 0) {
			msg = sr_profile_check_country(json_string_value(f));
		} else {
			msg = sr_profile_check_text(json_string_value(f), SR_PROFILE_ADDR_FIELD_MAX,
						    required);
		}
		if (msg != NULL) {
			json_decref(canon);
			sr_authed_fail(job, 400, "invalid_request_error", "parameter_invalid",
				       "address", msg);
			return false;
		}
		if (strcmp(k, "country") == 0) {
			const char *cv = json_string_value(f);
			char up[3] = {cv[0], cv[1], 0};
			for (int j = 0; j < 2; j++)
				if (up[j] >= 'a' && up[j] <= 'z')
					up[j] = (char)(up[j] - 'a' + 'A');
			json_object_set_new(canon, k, json_string(up));
		} else {
			json_object_set(canon, k, f);
		}
	}
	*json = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(canon);
	if (*json == NULL)
		abort();
	return true;
}

/* Reads and checks the PATCH body into p. false: job has the error. */
static bool parse_patch(struct sr_authed_job *job, struct patch *p)
{
	const char *key;
	json_t *v;
	memset(p, 0, sizeof *p);
	static const char *const known[] = {
		"name",    "email",         "phone",      "anti_phishing_code",
		"address", "date_of_birth", "citizenship"};
	json_object_foreach(job->body, key, v)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof known / sizeof *known; i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			/* key is the caller's text: name it only if it is tame. */
			const char *param = NULL;
			for (size_t i = 0; i < sizeof known / sizeof *known; i++)
				(void)i;
			sr_authed_fail(job, 400, "invalid_request_error", "parameter_unknown",
				       param,
				       "The body has a field the profile does not have; fields: "
				       "name, email, phone, anti_phishing_code, address, "
				       "date_of_birth, citizenship.");
			return false;
		}
	}
	/* Each field in a fixed order, so the first error is stable. */
	const char *msg = NULL;
	if ((v = json_object_get(job->body, "name")) != NULL) {
		if (!json_is_string(v))
			msg = "The name must be a string.";
		else
			msg = sr_profile_check_text(json_string_value(v), SR_PROFILE_NAME_MAX,
						    true);
		if (msg) {
			sr_authed_fail(job, 400, "invalid_request_error", "parameter_invalid",
				       "name", msg);
			return false;
		}
		p->name = json_string_value(v);
	}
	if ((v = json_object_get(job->body, "email")) != NULL) {
		char norm[255];
		if (!json_is_string(v) ||
		    sr_accounts_normalise_email(json_string_value(v), json_string_length(v),
						norm) != 0) {
			sr_authed_fail(job, 400, "invalid_request_error", "parameter_invalid",
				       "email",
				       "Give a valid email address, like name@example.com.");
			return false;
		}
		p->email = json_string_value(v);
	}
	struct {
		const char *key;
		bool *has;
		const char **val;
	} simple[] = {{"phone", &p->has_phone, &p->phone},
		      {"anti_phishing_code", &p->has_apc, &p->apc},
		      {"date_of_birth", &p->has_dob, &p->dob}};
	for (size_t i = 0; i < sizeof simple / sizeof *simple; i++) {
		if ((v = json_object_get(job->body, simple[i].key)) == NULL)
			continue;
		*simple[i].has = true;
		if (json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			msg = "This field must be a string, or null to remove it.";
		} else {
			const char *s = json_string_value(v);
			if (i == 0)
				msg = sr_profile_check_phone(s);
			else if (i == 1)
				msg = sr_profile_check_anti_phishing(s);
			else
				msg = sr_profile_check_date_of_birth(s, today_ymd());
		}
		if (msg) {
			sr_authed_fail(job, 400, "invalid_request_error", "parameter_invalid",
				       simple[i].key, msg);
			return false;
		}
		*simple[i].val = json_string_value(v);
	}
	if ((v = json_object_get(job->body, "address")) != NULL) {
		p->has_address = true;
		if (!json_is_null(v) && !check_address(job, v, &p->address))
			return false;
	}
	if ((v = json_object_get(job->body, "citizenship")) != NULL) {
		p->has_citizenship = true;
		if (!json_is_null(v)) {
			msg = json_is_string(v)
				      ? sr_profile_check_country(json_string_value(v))
				      : "The citizenship must be a two-letter country code.";
			if (msg) {
				sr_authed_fail(job, 400, "invalid_request_error",
					       "parameter_invalid", "citizenship", msg);
				return false;
			}
			const char *cv = json_string_value(v);
			for (int j = 0; j < 2; j++)
				p->citizenship[j] =
					(char)((cv[j] >= 'a' && cv[j] <= 'z') ? cv[j] - 'a' + 'A'
									      : cv[j]);
		}
	}
	return true;
}

/* The email change: new address sealed, lookup replaced, verification
 * reset and a fresh code sent to it; both addresses told. */
static int change_email(struct sr_conn *c, struct sr_authed_job *job,
			const struct sr_pii_member_key *k, const char *email, bool *changed)
{
	const char *uid = job->ctx.user_id;
	char norm[255], lookup[SR_ACCOUNTS_HASH_HEX];
	char *old = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	struct sr_stmt *s = NULL;
	*changed = false;
	int rc = sr_accounts_normalise_email(email, strlen(email), norm);
	if (rc != 0)
		return rc;
	sr_accounts_keyed_hash(job->acc, "email", norm, strlen(norm), lookup);
	if ((rc = sr_auth_member_email(c, job->acc, uid, &old)) != 0)
		goto out;
	char old_norm[255];
	if (sr_accounts_normalise_email(old, strlen(old), old_norm) == 0 &&
	    strcmp(old_norm, norm) == 0)
		goto out; /* same address: nothing to do */
	rc = sr_stmt_prepare(c, "SELECT 1 FROM users WHERE email_lookup = $1 AND id <> $2", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, lookup, strlen(lookup));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	s = NULL;
	if (rc < 0)
		goto out;
	if (rc == 1) {
		sr_authed_fail(job, 409, "invalid_request_error", "email_taken", "email",
			       "Another account uses that email address.");
		rc = SR_E_CONFLICT; /* roll back whatever this PATCH wrote */
		goto out;
	}
	if ((rc = sr_pii_seal_with(k, SR_PII_FIELD_EMAIL, norm, strlen(norm), &blob, &blob_len)) !=
	    0)
		goto out;
	rc = sr_stmt_prepare(c,
			     "UPDATE users SET email_lookup = $2, email_sealed = $3, "
			     "email_verified = 0, email_verified_at = NULL WHERE id = $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, lookup, strlen(lookup));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 3, blob, blob_len);
	if ((rc = step_done(s, rc)) != 0)
		goto out;
	char masked[300], vars[400];
	mask_email(norm, masked, sizeof masked);
	json_t *v = json_pack("{s:s}", "new_email", masked);
	char *vj = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	snprintf(vars, sizeof vars, "%s", vj);
	free(vj);
	if ((rc = sr_profile_notify(c, job->acc, uid, "email_changed", vars, old)) != 0)
		goto out;
	/* The same change told to the new address: one webhook is enough. */
	if ((rc = profile_event(c, job->acc, uid, "email_changed", vars, norm, false)) != 0)
		goto out;
	/* One working code for the new address: earlier codes (and their
	 * mails still waiting) are withdrawn. It goes to the address current
	 * when it is sent, which is this one unless it changes again. */
	rc = sr_accounts_issue_code(c, job->acc, uid, "email_verification",
				    sr_accounts_settings(job->acc)->verification_ttl_s, true);
	if (rc == 0)
		*changed = true;
out:
	if (old != NULL)
		sodium_free(old);
	free(blob);
	return rc;
}

/* A new phone: stored unverified, a code sealed and texted to it, the
 * member told by email. NULL phone: removed. */
static int change_phone(struct sr_conn *c, struct sr_authed_job *job,
			const struct sr_pii_member_key *k, const char *phone)
{
	const char *uid = job->ctx.user_id;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	struct sr_stmt *s = NULL;
	char code[8] = "";
	int rc = store_field(c, k, uid, &F_PHONE, phone);
	if (rc != 0)
		return rc;
	char expires[32] = "";
	if (phone != NULL) {
		snprintf(code, sizeof code, "%06u", (unsigned)randombytes_uniform(1000000));
		rc = sr_pii_seal_with(k, FIELD_PHONE_CODE, code, strlen(code), &blob, &blob_len);
		if (rc != 0)
			goto out;
		time_t t = time(NULL) + PHONE_CODE_TTL_S;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	}
	rc = sr_stmt_prepare(c,
			     "UPDATE member_profile SET phone_verified = 0, phone_verified_at = "
			     "NULL, phone_code_sealed = $2, phone_code_expires_at = $3, "
			     "phone_code_attempts = 0 WHERE user_id = $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = blob ? sr_stmt_bind_blob(s, 2, blob, blob_len) : sr_stmt_bind_null(s, 2);
	if (rc == 0)
		rc = phone ? sr_stmt_bind_text(s, 3, expires, strlen(expires))
			   : sr_stmt_bind_null(s, 3);
	if ((rc = step_done(s, rc)) != 0)
		goto out;
	char masked[32], vars[128];
	if (phone != NULL)
		mask_phone(phone, masked, sizeof masked);
	else
		snprintf(masked, sizeof masked, "(none: removed)");
	snprintf(vars, sizeof vars, "{\"new_phone\":\"%s\"}", masked);
	if ((rc = sr_profile_notify(c, job->acc, uid, "phone_changed", vars, NULL)) != 0)
		goto out;
	if (phone != NULL) {
		/* To the pending number it was made for (not the member's
		 * verified one), which with the code is stored only sealed and
		 * bound to this row. */
		char evt[48], dedup[SR_OUTBOX_DEDUP_MAX], ref[SR_OUTBOX_ID_SIZE];
		unsigned char *rblob = NULL, *sblob = NULL;
		size_t rlen = 0, slen = 0;
		random_hex_id("evt_", evt, sizeof evt);
		snprintf(dedup, sizeof dedup, "phone_verification:%s:sms", evt);
		snprintf(vars, sizeof vars, "{\"code\":\"%s\"}", code);
		rc = sr_events_seal_outbox(k, SR_EVENTS_FIELD_OUTBOX_RECIPIENT, dedup, phone,
					   &rblob, &rlen);
		if (rc == 0)
			rc = sr_events_seal_outbox(k, SR_EVENTS_FIELD_OUTBOX_SECRET, dedup, vars,
						   &sblob, &slen);
		if (rc == 0) {
			struct sr_outbox_item item = {
				.dedup_key = dedup,
				.channel = SR_OUTBOX_SMS,
				.member_id = uid,
				.recipient = phone,
				.recipient_sealed = rblob,
				.recipient_sealed_len = rlen,
				.template_name = "phone_verification",
				.variables_json = "{}",
				.secret_json = vars,
				.secret_sealed = sblob,
				.secret_sealed_len = slen,
			};
			rc = sr_outbox_enqueue(c, &item, ref);
		}
		sodium_memzero(vars, sizeof vars);
		free(rblob);
		free(sblob);
	}
out:
	sodium_memzero(code, sizeof code);
	free(blob);
	return rc;
}

/* Whether a verification text went out less than PHONE_CODE_GAP_S ago (a
 * code whose expiry is later than now + TTL - gap): one text per half
 * minute, so a session cannot be used to flood numbers with texts. */
#define PHONE_CODE_GAP_S 30
static int code_sent_recently(struct sr_conn *c, const char *uid, bool *soon)
{
	struct profile_row r;
	char limit[32];
	*soon = false;
	int rc = load_row(c, uid, &r);
	if (rc == 0 && r.found && r.code_blob != NULL) {
		time_t t = time(NULL) + PHONE_CODE_TTL_S - PHONE_CODE_GAP_S;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(limit, sizeof limit, "%Y-%m-%dT%H:%M:%S.999Z", &tm);
		*soon = strcmp(r.code_expires, limit) > 0;
	}
	row_clear(&r);
	return rc;
}

static int patch_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *uid = job->ctx.user_id;
	struct patch p;
	struct sr_pii_member_key *k = NULL;
	json_t *fields = json_array();
	int rc = 0;
	if (!parse_patch(job, &p))
		goto out;
	if ((p.email != NULL || p.has_phone) && !sr_auth_recent(job->acc, &job->ctx)) {
		job->auth_result = SR_AUTH_REAUTH;
		goto out;
	}
	if ((rc = ensure_row(c, uid)) != 0)
		goto out;
	if ((rc = sr_pii_member_key_load(c, sr_accounts_pii(job->acc), uid, &k)) != 0)
		goto out;
	if (p.name != NULL) {
		if ((rc = sr_auth_member_set_name(c, job->acc, uid, p.name, strlen(p.name))) != 0)
			goto out;
		json_array_append_new(fields, json_string("name"));
	}
	if (p.has_apc) {
		if ((rc = store_field(c, k, uid, &F_APC, p.apc)) != 0)
			goto out;
		json_array_append_new(fields, json_string("anti_phishing_code"));
	}
	if (p.has_address) {
		if ((rc = store_field(c, k, uid, &F_ADDRESS, p.address)) != 0)
			goto out;
		json_array_append_new(fields, json_string("address"));
	}
	if (p.has_dob) {
		if ((rc = store_field(c, k, uid, &F_DOB, p.dob)) != 0)
			goto out;
		json_array_append_new(fields, json_string("date_of_birth"));
	}
	if (p.has_citizenship) {
		if ((rc = store_field(c, k, uid, &F_CITIZENSHIP,
				      p.citizenship[0] ? p.citizenship : NULL)) != 0)
			goto out;
		json_array_append_new(fields, json_string("citizenship"));
	}
	if (p.has_phone) {
		char *cur = NULL;
		bool verified = false;
		if ((rc = sr_profile_phone(c, job->acc, uid, &cur, &verified)) != 0)
			goto out;
		bool same = (cur == NULL && p.phone == NULL) ||
			    (cur != NULL && p.phone != NULL && strcmp(cur, p.phone) == 0);
		if (cur != NULL)
			sodium_free(cur);
		/* The same number again re-sends a code only if it is not yet
		 * verified; a verified number stays verified. */
		if (!same || (p.phone != NULL && !verified)) {
			bool soon = false;
			if (p.phone != NULL && (rc = code_sent_recently(c, uid, &soon)) != 0)
				goto out;
			if (soon) {
				sr_authed_fail(job, 429, "rate_limit_error", "too_many_requests",
					       "phone",
					       "A code was texted less than 30 seconds ago; wait a "
					       "moment before asking for another.");
				rc = SR_E_CONFLICT; /* nothing of this PATCH is kept */
				goto out;
			}
			if ((rc = change_phone(c, job, k, p.phone)) != 0)
				goto out;
			json_array_append_new(fields, json_string("phone"));
		}
	}
	if (p.email != NULL) {
		bool changed = false;
		if ((rc = change_email(c, job, k, p.email, &changed)) != 0)
			goto out;
		if (changed)
			json_array_append_new(fields, json_string("email"));
	}
	if (json_array_size(fields) > 0) {
		json_t *d = json_pack("{s:O}", "fields", fields);
		char *details = json_dumps(d, JSON_COMPACT);
		json_decref(d);
		rc = sr_authed_audit(c, job, "profile.update", "user", uid, "success", details);
		free(details);
		if (rc != 0)
			goto out;
	}
	bool found = false;
	rc = member_json(c, job->acc, uid, &found, &job->reply);
out:
	json_decref(fields);
	free(p.address);
	sr_pii_member_key_free(k);
	return rc;
}

/* ------------------------------------------------------ phone verification */

static int phone_verify_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *uid = job->ctx.user_id;
	json_t *v = json_object_get(job->body, "code");
	struct profile_row r = {0};
	char *expected = NULL;
	size_t elen = 0;
	struct sr_stmt *s = NULL;
	int rc = 0;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		sr_authed_fail(job, 400, "invalid_request_error", "parameter_missing", "code",
			       "Enter the 6-digit code we texted to your phone.");
		return 0;
	}
	const char *code = json_string_value(v);
	int64_t until = 0;
	if ((rc = sr_auth_check_locked(c, uid, &until)) != 0)
		return rc;
	if (until > 0) {
		sr_authed_fail(job, 429, "rate_limit_error", "account_locked", NULL,
			       "Too many failed attempts: the account is locked for a while.");
		return 0;
	}
	if ((rc = load_row(c, uid, &r)) != 0)
		goto out;
	char now[32];
	sr_audit_now(now, sizeof now);
	if (!r.found || r.code_blob == NULL) {
		sr_authed_fail(job, 409, "invalid_request_error", "phone_verification_not_pending",
			       NULL,
			       r.found && r.phone_verified
				       ? "Your phone number is already verified."
				       : "There is no code to check: set a phone number first.");
		goto out;
	}
	if (strcmp(now, r.code_expires) > 0 || r.code_attempts >= PHONE_CODE_MAX_ATTEMPTS) {
		sr_authed_fail(job, 400, "invalid_request_error", "code_expired", "code",
			       "That code has expired. Set the phone number again to get a new "
			       "one.");
		goto out;
	}
	rc = sr_pii_open(c, sr_accounts_pii(job->acc), uid, FIELD_PHONE_CODE, r.code_blob,
			 r.code_len, &expected, &elen);
	if (rc != 0)
		goto out;
	bool match = strlen(code) == elen && sodium_memcmp(code, expected, elen) == 0;
	if (!match) {
		unsigned delay = 0;
		rc = sr_stmt_prepare(c,
				     "UPDATE member_profile SET phone_code_attempts = "
				     "phone_code_attempts + 1 WHERE user_id = $1",
				     &s);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
		if ((rc = step_done(s, rc)) != 0)
			goto out;
		if ((rc = sr_auth_record_failure(c, job->acc, uid, &job->auth, "phone_code",
						 &delay)) != 0)
			goto out;
		rc = sr_authed_audit(c, job, "phone.verify", "user", uid, "failure", NULL);
		sr_authed_fail(job, 400, "invalid_request_error", "code_invalid", "code",
			       "That code is not right. Check the text message and try again.");
		goto out;
	}
	rc = sr_stmt_prepare(
		c,
		"UPDATE member_profile SET phone_verified = 1, phone_verified_at = $2, "
		"phone_code_sealed = NULL, phone_code_expires_at = NULL, "
		"phone_code_attempts = 0 WHERE user_id = $1",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, now, strlen(now));
	if ((rc = step_done(s, rc)) != 0)
		goto out;
	if ((rc = sr_auth_record_success(c, uid)) != 0)
		goto out;
	if ((rc = sr_authed_audit(c, job, "phone.verify", "user", uid, "success", NULL)) != 0)
		goto out;
	bool found = false;
	rc = member_json(c, job->acc, uid, &found, &job->reply);
out:
	if (expected != NULL)
		sodium_free(expected);
	row_clear(&r);
	return rc;
}

/* ------------------------------------------------------------ deletion */

static int delete_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *uid = job->ctx.user_id;
	json_t *pw = json_object_get(job->body, "password");
	struct sr_stmt *s = NULL;
	int rc = 0;
	if (!json_is_string(pw) || json_string_length(pw) == 0) {
		sr_authed_fail(job, 400, "invalid_request_error", "parameter_missing", "password",
			       "Enter your password to delete your account.");
		return 0;
	}
	bool ok = false, locked = false;
	rc = sr_auth_verify_password(c, job->acc, uid, json_string_value(pw),
				     json_string_length(pw), &job->auth, &ok, &locked);
	if (rc != 0)
		return rc;
	if (locked) {
		sr_authed_fail(job, 429, "rate_limit_error", "account_locked", NULL,
			       "Too many failed attempts: the account is locked for a while.");
		return 0;
	}
	if (!ok) {
		sr_authed_fail(job, 400, "invalid_request_error", "password_incorrect", "password",
			       "That password is not right.");
		return sr_authed_audit(c, job, "account.delete", "user", uid, "failure",
				       "{\"reason\":\"password\"}");
	}
	bool removed = false, shredded = false;
	int64_t revoked = 0;
	if ((rc = sr_mfa_remove(c, uid, &removed)) != 0)
		return rc;
	/* The phone-code and pending state go; the sealed blobs stay, unreadable
	 * once the key is gone. */
	if ((rc = sr_pii_shred(c, uid, &shredded)) != 0)
		return rc;
	char now[32];
	sr_audit_now(now, sizeof now);
	rc = sr_stmt_prepare(c,
			     "UPDATE users SET state = 'deleted', deleted_at = $2, "
			     "email_lookup = 'deleted:' || id WHERE id = $1",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, uid, strlen(uid));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, now, strlen(now));
	if ((rc = step_done(s, rc)) != 0)
		return rc;
	if ((rc = sr_auth_revoke_sessions(c, uid, NULL, "account_deleted", &revoked)) != 0)
		return rc;
	char details[96];
	snprintf(details, sizeof details, "{\"key_shredded\":%s,\"sessions_revoked\":%lld}",
		 shredded ? "true" : "false", (long long)revoked);
	if ((rc = sr_authed_audit(c, job, "account.delete", "user", uid, "success", details)) != 0)
		return rc;
	job->reply = json_pack("{s:s, s:s, s:b}", "id", uid, "object", "member", "deleted", 1);
	return 0;
}

/* ----------------------------------------------------------- staff read */

static bool plausible_user_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 5 || n >= SR_USER_ID_SIZE || strncmp(id, "usr_", 4) != 0)
		return false;
	for (size_t i = 4; i < n; i++) {
		char ch = id[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return true;
}

static int staff_read_tx(struct sr_conn *c, struct sr_authed_job *job)
{
	const char *id = job->param;
	bool found = false;
	int rc = 0;
	if (plausible_user_id(id))
		rc = member_json(c, job->acc, id, &found, &job->reply);
	if (rc != 0)
		return rc;
	/* Every staff read of personal data is on record, found or not. */
	rc = sr_authed_audit(c, job, "member.personal_data.read", "user",
			     plausible_user_id(id) ? id : "invalid", found ? "success" : "failure",
			     found ? NULL : "{\"reason\":\"not_found\"}");
	if (rc == 0 && !found)
		sr_authed_fail(job, 404, "invalid_request_error", "member_not_found", "id",
			       "No such member.");
	return rc;
}

/* -------------------------------------------------------------- routes */

static void get_me(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {.tx = me_tx};
	sr_authed_run(req, data, &spec);
}

static void patch_me(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {.tx = patch_tx, .body = true};
	sr_authed_run(req, data, &spec);
}

static void delete_me(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {.tx = delete_tx, .body = true, .recent_auth = true};
	sr_authed_run(req, data, &spec);
}

static void verify_phone(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {.tx = phone_verify_tx, .body = true};
	sr_authed_run(req, data, &spec);
}

static void get_member(struct sr_http_req *req, void *data)
{
	struct sr_authed_spec spec = {.tx = staff_read_tx,
				      .staff_only = true,
				      .denied_action = "member.personal_data.read",
				      .path_param = "id"};
	sr_authed_run(req, data, &spec);
}

int sr_profile_add_routes(struct sr_router *r, struct sr_accounts *acc)
{
	struct sr_route_opts small = {.body_max = 8192};
	struct sr_route_opts none = {.no_body = true};
	int rc = sr_router_add(r, "GET", "/v1/me", get_me, acc, &none);
	if (rc == 0)
		rc = sr_router_add(r, "PATCH", "/v1/me", patch_me, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "DELETE", "/v1/me", delete_me, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/me/phone/verify", verify_phone, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "GET", "/v1/members/{id}", get_member, acc, &none);
	return rc;
}
