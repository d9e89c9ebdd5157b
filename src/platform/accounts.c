/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Member accounts: sign-up, email verification, login/logout, the session
 * list, password change and reset, lockout (docs/accounts.md).
 *
 * Every route follows one shape: the handler (event loop) validates the
 * JSON it can check without the database, copies secrets into
 * sodium_malloc memory and the cookie/CSRF/IP/UA through sr_auth_capture,
 * then submits a job to the worker pool; the job runs Argon2id outside any
 * transaction (a SQLite write lock is never held across a hash) and its
 * transactions (which may run more than once) only set the job's answer;
 * the done callback sends it.
 *
 * Enumeration: an unknown email costs the same Argon2id verification (a
 * dummy hash), is counted and throttled/locked like a real account (the
 * auth_failures row "em:<lookup hash>"), and gets byte-identical answers;
 * sign-up with an address already taken answers 201 with an id that
 * exists nowhere; reset always answers 202.
 *
 * Secrets: passwords, one-time codes, session and CSRF tokens live in
 * sodium_malloc memory and are wiped; the database holds keyed hashes and
 * Argon2id hashes; logs never see any of them nor an address or a name.
 */
#include "platform/accounts.h"
#include "platform/notify/outbox.h"
#include "base/assert.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/keyfile.h"
#include "lib/base64url.h"
#include "lib/password_policy.h"
#include "net/http.h"
#include "net/router.h"
#include "platform/accounts_int.h"
#include "platform/auth.h"
#include "platform/mfa.h"
#include "platform/pii.h"
#include "store/store.h"
#include "svc/runtime.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_CHARS  200
#define TOKEN_BYTES     32 /* session and CSRF tokens: 256 bits, base64url */
#define CODE_GROUPS     4  /* one-time codes: 4 groups of 5 of 32 symbols = 100 bits */
#define CODE_GROUP_LEN  5
#define CODE_LEN        (CODE_GROUPS * (CODE_GROUP_LEN + 1) - 1)
#define RESET_RESEND_MS (60 * 1000) /* at most one reset mail a minute per account */
#define LIST_MAX        100

/* ---- module ------------------------------------------------------------- */

struct sr_accounts *sr_accounts_new(const struct sr_config *cfg, struct sr_runtime *rt)
{
	struct sr_accounts *acc = sr_xcalloc(1, sizeof *acc);
	acc->cfg = cfg;
	acc->rt = rt;
	struct sr_accounts_settings *s = &acc->set;
	s->idle_timeout_s = sr_config_int(cfg, "sessions", "idle_timeout_s");
	s->absolute_timeout_s = sr_config_int(cfg, "sessions", "absolute_timeout_s");
	s->reauth_window_s = sr_config_int(cfg, "sessions", "reauth_window_s");
	s->lockout_threshold = sr_config_int(cfg, "accounts", "lockout_threshold");
	s->lockout_duration_s = sr_config_int(cfg, "accounts", "lockout_duration_s");
	s->delay_after = sr_config_int(cfg, "accounts", "delay_after");
	s->delay_step_ms = sr_config_int(cfg, "accounts", "delay_step_ms");
	s->ip_failures_per_hour = sr_config_int(cfg, "accounts", "ip_failures_per_hour");
	s->verification_ttl_s = sr_config_int(cfg, "accounts", "verification_ttl_s");
	s->reset_ttl_s = sr_config_int(cfg, "accounts", "reset_ttl_s");
	sr_password_params_from_config(cfg, &acc->pw_params);
	/* One Argon2id run per core at most: more at once would only slow each
	 * and crowd out the event loops (the pool has more workers than cores
	 * so that database commits overlap the hashing). */
	long hashes = sr_config_int(cfg, "passwords", "max_concurrent_hashes");
	if (hashes == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		hashes = cpus > 0 ? cpus : 1;
	}
	sr_password_limit_concurrency((unsigned)hashes);
	atomic_init(&acc->started, false);
	return acc;
}

int sr_accounts_start(struct sr_accounts *acc, char *err, size_t errlen)
{
	return sr_accounts_start_offline(acc, sr_runtime_store(acc->rt),
					 sr_runtime_audit_key(acc->rt), err, errlen);
}

int sr_accounts_start_offline(struct sr_accounts *acc, struct sr_store *st,
			      const struct sr_audit_key *audit_key, char *err, size_t errlen)
{
	int rc = 0;
	acc->store = st;
	acc->audit_key = audit_key;
	char *path = NULL;
	if ((rc = sr_pii_load(acc->cfg, &acc->pii)) != 0) {
		snprintf(err, errlen, "[platform] personal_data_kek_file: %s", sr_strerror(rc));
		goto out;
	}
	path = sr_config_path(acc->cfg, "platform", "lookup_key_file");
	rc = path == NULL ? SR_E_CONFIG : sr_keyfile_read(path, 32, &acc->lookup_key);
	if (rc != 0) {
		snprintf(err, errlen, "[platform] lookup_key_file: %s", sr_strerror(rc));
		goto out;
	}
	if ((rc = sr_password_pepper_load(acc->cfg, &acc->pepper)) != 0) {
		snprintf(err, errlen, "[passwords] pepper_file: %s", sr_strerror(rc));
		goto out;
	}
	if ((rc = sr_password_list_embedded(&acc->list)) != 0) {
		snprintf(err, errlen, "common-password list: %s", sr_strerror(rc));
		goto out;
	}
	unsigned char rnd[24];
	char pw[64];
	size_t n = 0;
	randombytes_buf(rnd, sizeof rnd);
	rc = sr_base64url_encode(rnd, sizeof rnd, pw, sizeof pw, &n);
	if (rc == 0)
		rc = sr_password_hash(&acc->pw_params, &acc->pepper, pw, n, acc->dummy_hash,
				      sizeof acc->dummy_hash);
	sodium_memzero(pw, sizeof pw);
	sodium_memzero(rnd, sizeof rnd);
	if (rc != 0) {
		snprintf(err, errlen, "password hashing: %s", sr_strerror(rc));
		goto out;
	}
	atomic_store(&acc->started, true);
out:
	free(path);
	return rc;
}

void sr_accounts_free(struct sr_accounts *acc)
{
	if (acc == NULL)
		return;
	sr_pii_free(acc->pii);
	if (acc->lookup_key != NULL)
		sodium_free(acc->lookup_key);
	sr_password_pepper_free(&acc->pepper);
	sr_password_list_free(acc->list);
	free(acc);
}

bool sr_accounts_ready(const struct sr_accounts *acc)
{
	return atomic_load(&((struct sr_accounts *)acc)->started) &&
	       (acc->rt == NULL || sr_runtime_ready(acc->rt));
}

struct sr_runtime *sr_accounts_runtime(const struct sr_accounts *acc)
{
	return acc->rt;
}
const struct sr_config *sr_accounts_config(const struct sr_accounts *acc)
{
	return acc->cfg;
}
const struct sr_pii *sr_accounts_pii(const struct sr_accounts *acc)
{
	return acc->pii;
}
const struct sr_password_list *sr_accounts_password_list(const struct sr_accounts *acc)
{
	return acc->list;
}
const struct sr_accounts_settings *sr_accounts_settings(const struct sr_accounts *acc)
{
	return &acc->set;
}

/* ---- jobs --------------------------------------------------------------- */

struct acc_job;
typedef void (*acc_work_fn)(struct acc_job *job);

struct acc_job {
	struct sr_accounts *acc;
	struct sr_auth_request auth;
	acc_work_fn work;
	/* inputs (secrets in sodium_malloc memory) */
	char email[255]; /* normalised */
	char *name;
	char *password;
	size_t password_len;
	char *new_password;
	size_t new_password_len;
	char *otp;
	char *token;
	char path_id[SR_SESSION_ID_SIZE];
	enum sr_role role; /* sign-up: the role to create (CLI: staff) */
	/* scratch shared between a job's phases */
	char user_id[SR_USER_ID_SIZE];
	char stored_hash[SR_PASSWORD_HASH_MAX];
	char new_hash[SR_PASSWORD_HASH_MAX];
	bool known;
	bool password_ok;
	struct sr_auth_ctx ctx;
	char *member_email; /* sodium_malloc */
	char *member_name;  /* sodium_malloc */
	bool mfa_enabled;
	/* the answer */
	int rc;
	int status;
	json_t *reply;
	const char *etype, *ecode, *eparam;
	char emsg[256];
	enum sr_auth_result auth_result;
	unsigned retry_after;
	char *set_cookie;
};

static void free_secret(char **p)
{
	if (*p != NULL)
		sodium_free(*p);
	*p = NULL;
}

static void job_free(struct acc_job *job)
{
	sr_auth_request_clear(&job->auth);
	free_secret(&job->name);
	free_secret(&job->password);
	free_secret(&job->new_password);
	free_secret(&job->otp);
	free_secret(&job->token);
	free_secret(&job->member_email);
	free_secret(&job->member_name);
	free_secret(&job->set_cookie);
	json_decref(job->reply);
	sodium_memzero(job, sizeof *job);
	free(job);
}

/* Clears the answer: every transaction function starts with this, since it
 * may run more than once. */
static void answer_reset(struct acc_job *job)
{
	json_decref(job->reply);
	job->reply = NULL;
	job->status = 0;
	job->etype = job->ecode = job->eparam = NULL;
	job->emsg[0] = '\0';
	job->auth_result = SR_AUTH_OK;
	job->retry_after = 0;
	free_secret(&job->set_cookie);
}

static void answer_error(struct acc_job *job, int status, const char *type, const char *code,
			 const char *param, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static void answer_error(struct acc_job *job, int status, const char *type, const char *code,
			 const char *param, const char *fmt, ...)
{
	json_decref(job->reply);
	job->reply = NULL;
	job->status = status;
	job->etype = type;
	job->ecode = code;
	job->eparam = param;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(job->emsg, sizeof job->emsg, fmt, ap);
	va_end(ap);
}

static void answer_json(struct acc_job *job, int status, json_t *body)
{
	json_decref(job->reply);
	job->reply = body;
	job->status = status;
	job->etype = NULL;
}

static void answer_auth(struct acc_job *job, enum sr_auth_result r)
{
	answer_reset(job);
	job->auth_result = r;
	job->status = -1;
}

static void answer_retry_later(struct acc_job *job, const char *code, int64_t until_ms,
			       const char *what)
{
	int64_t left = until_ms - sr_acc_now_ms();
	unsigned s = left <= 0 ? 1 : (unsigned)((left + 999) / 1000);
	answer_error(job, 429, "rate_limit_error", code, NULL, "%s Try again in %u second%s.", what,
		     s, s == 1 ? "" : "s");
	job->retry_after = s;
}

static void answer_ip_limited(struct acc_job *job)
{
	answer_error(job, 429, "rate_limit_error", "too_many_requests", NULL,
		     "Too many failed attempts from your network. Try again later.");
	job->retry_after = 3600;
}

static void job_run(void *arg)
{
	struct acc_job *job = arg;
	job->work(job);
	if (job->rc != 0) {
		sr_log(SR_LOG_ERROR, "accounts request failed",
		       SR_LS("request_id", job->auth.request_id),
		       SR_LS("error", sr_strerror(job->rc)));
		answer_reset(job);
		/* A database past its statement timeout is a 503 with Retry-After
		 * (as sr_http_reply_failed answers elsewhere), anything else a 500. */
		if (job->rc == SR_E_TIMEOUT) {
			answer_error(job, 503, "api_error", "service_unavailable", NULL,
				     "The database did not answer in time; nothing was changed. "
				     "Retry shortly.");
			job->retry_after = 1;
		} else {
			answer_error(job, 500, "api_error", "internal_error", NULL,
				     "Something went wrong on our side; nothing was changed. Try "
				     "again.");
		}
	}
}

static void job_done(struct sr_http_req *req, void *arg)
{
	struct acc_job *job = arg;
	if (sr_http_aborted(req))
		goto out;
	if (job->status == -1) {
		sr_auth_reply_error(req, job->auth_result);
		goto out;
	}
	if (job->set_cookie != NULL)
		sr_http_add_header(req, "Set-Cookie", job->set_cookie);
	if (job->retry_after > 0) {
		char ra[16];
		snprintf(ra, sizeof ra, "%u", job->retry_after);
		sr_http_add_header(req, "Retry-After", ra);
	}
	if (job->etype != NULL || job->reply == NULL) {
		sr_http_reply_error(
			req, job->status ? job->status : 500, job->etype ? job->etype : "api_error",
			job->ecode ? job->ecode : "internal_error", job->emsg, job->eparam);
	} else {
		sr_http_reply_json(req, job->status, job->reply);
		job->reply = NULL;
	}
out:
	job_free(job);
}

static void submit(struct sr_http_req *req, struct acc_job *job)
{
	sr_auth_capture(req, &job->auth);
	if (sr_http_submit(req, job_run, job_done, job) != 0) {
		job_free(job);
		sr_http_reply_busy(req);
	}
}

static bool ready_or_503(struct sr_http_req *req, struct sr_accounts *acc)
{
	if (sr_accounts_ready(acc))
		return true;
	sr_http_reply_error(req, 503, "api_error", "service_unavailable",
			    "The service is starting; try again shortly.", NULL);
	return false;
}

/* ---- request parsing (event loop) --------------------------------------- */

/* The body as a JSON object whose keys are all in allowed (NULL-
 * terminated); NULL when the request has been answered. */
static json_t *body_object(struct sr_http_req *req, const char *const *allowed)
{
	json_error_t e;
	json_t *o = req->body_len > 0 ? json_loadb((const char *)req->body, req->body_len,
						   JSON_REJECT_DUPLICATES, &e)
				      : NULL;
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		sr_http_reply_error(req, 400, "invalid_request_error", "invalid_json",
				    "The body must be a JSON object.", NULL);
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] != NULL && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			char msg[160];
			snprintf(msg, sizeof msg, "Unknown parameter: %.64s.", key);
			/* The param is the caller's own text: bounded, and printed
			 * only inside the JSON error. */
			char param[65];
			snprintf(param, sizeof param, "%.64s", key);
			sr_http_reply_error(req, 400, "invalid_request_error", "parameter_unknown",
					    msg, param);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* Wipes the string's bytes inside the parsed document (passwords). */
static void wipe_json_string(json_t *v)
{
	if (json_is_string(v))
		sodium_memzero((void *)json_string_value(v), json_string_length(v));
}

/*
 * A string field: required or optional, non-empty, at most max bytes, no
 * NUL. secret: copied into sodium_malloc memory and wiped in the document.
 * Returns 1 found, 0 absent (optional), -1 answered.
 */
static int str_field(struct sr_http_req *req, json_t *o, const char *name, bool required,
		     size_t max, bool secret, char **out, size_t *len)
{
	json_t *v = json_object_get(o, name);
	char msg[160];
	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(msg, sizeof msg, "%s is required.", name);
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_missing", msg,
				    name);
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(msg, sizeof msg, "%s must be a string.", name);
		sr_http_reply_error(req, 400, "invalid_request_error", "parameter_invalid", msg,
				    name);
		return -1;
	}
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n == 0 || (max > 0 && n > max) || memchr(s, '\0', n) != NULL) {
		if (n == 0)
			snprintf(msg, sizeof msg, "%s must not be empty.", name);
		else
			snprintf(msg, sizeof msg, "%s must be at most %zu bytes of text.", name,
				 max);
		sr_http_reply_error(req, 400, "invalid_request_error",
				    n == 0 ? "parameter_missing" : "parameter_invalid", msg, name);
		if (secret)
			wipe_json_string(v);
		return -1;
	}
	char *copy = sodium_malloc(n + 1);
	SR_ASSERT(copy != NULL);
	memcpy(copy, s, n);
	copy[n] = '\0';
	if (secret)
		wipe_json_string(v);
	*out = copy;
	if (len != NULL)
		*len = n;
	return 1;
}

static int email_field(struct sr_http_req *req, json_t *o, char out[255])
{
	char *raw = NULL;
	size_t n = 0;
	int r = str_field(req, o, "email", true, 320, false, &raw, &n);
	if (r < 0)
		return -1;
	int rc = sr_accounts_normalise_email(raw, n, out);
	free_secret(&raw);
	if (rc != 0) {
		sr_http_reply_error(req, 400, "invalid_request_error", "email_invalid",
				    "email must be an address like name@example.com.", "email");
		return -1;
	}
	return 0;
}

/* A name: 1..NAME_MAX_CHARS characters of valid UTF-8, no control
 * characters, not only spaces. */
static int name_check(struct sr_http_req *req, const char *name, size_t n)
{
	long chars = sr_password_utf8_chars(name, n);
	bool ok = chars > 0 && chars <= NAME_MAX_CHARS;
	bool visible = false;
	for (size_t i = 0; ok && i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == 0x7f)
			ok = false;
		if (ch != ' ')
			visible = true;
	}
	if (!ok || !visible) {
		sr_http_reply_error(req, 400, "invalid_request_error", "name_invalid",
				    "name must be 1 to 200 characters of text, without control "
				    "characters.",
				    "name");
		return -1;
	}
	return 0;
}

/* The policy check with the member's own email and name: NULL when the
 * password is acceptable, else a static API code ("password_too_short", ...)
 * with the reason in msg. */
static const char *policy_refusal(const struct sr_accounts *acc, const char *pw, size_t len,
				  const char *email, const char *name, bool mfa, char *msg,
				  size_t msglen)
{
	struct sr_password_candidate cand = {
		.password = pw,
		.len = len,
		.email = email,
		.email_len = email ? strlen(email) : 0,
		.name = name,
		.name_len = name ? strlen(name) : 0,
		.has_second_factor = mfa,
	};
	enum sr_password_problem p = sr_password_policy_check(acc->list, &cand);
	snprintf(msg, msglen, "%s", sr_password_problem_message(p, mfa));
	switch (p) {
	case SR_PASSWORD_OK: return NULL;
	case SR_PASSWORD_INVALID_ENCODING: return "password_invalid_encoding";
	case SR_PASSWORD_TOO_LONG: return "password_too_long";
	case SR_PASSWORD_TOO_SHORT: return "password_too_short";
	case SR_PASSWORD_COMMON: return "password_common";
	case SR_PASSWORD_CONTAINS_EMAIL: return "password_contains_email";
	case SR_PASSWORD_CONTAINS_NAME: return "password_contains_name";
	}
	return "password_invalid";
}

static struct acc_job *job_new(struct sr_accounts *acc, acc_work_fn work)
{
	struct acc_job *job = sr_xcalloc(1, sizeof *job);
	job->acc = acc;
	job->work = work;
	return job;
}

/* ---- shared database steps ---------------------------------------------- */

static int bind_texts(struct sr_stmt *s, const char *const *v, int n)
{
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++)
		rc = v[i] == NULL ? sr_stmt_bind_null(s, i + 1)
				  : sr_stmt_bind_text(s, i + 1, v[i], strlen(v[i]));
	return rc;
}

static int exec_texts(struct sr_conn *c, const char *sql, const char *const *v, int n,
		      int64_t *changes)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		rc = bind_texts(s, v, n);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
	}
	if (rc == 0 && changes != NULL)
		*changes = sr_stmt_changes(s);
	sr_stmt_done(s);
	return rc;
}

/* A random one-time code "ABCDE-FGHJK-MNPQR-STVWX" (Crockford base32: no
 * I, L, O, U), 100 bits. */
static void new_code(char out[CODE_LEN + 1])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	size_t k = 0;
	for (int g = 0; g < CODE_GROUPS; g++) {
		if (g > 0)
			out[k++] = '-';
		for (int i = 0; i < CODE_GROUP_LEN; i++)
			out[k++] = alphabet[randombytes_uniform(32)];
	}
	out[k] = '\0';
}

/* The canonical form of a code as typed: upper case, without spaces and
 * dashes, O->0, I/L->1. Empty when it cannot be a code. */
static void code_canonical(const char *in, char out[CODE_GROUPS * CODE_GROUP_LEN + 1])
{
	size_t k = 0;
	for (size_t i = 0; in[i]; i++) {
		char ch = in[i];
		if (ch == '-' || ch == ' ')
			continue;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 32);
		if (ch == 'O')
			ch = '0';
		if (ch == 'I' || ch == 'L')
			ch = '1';
		if (k == CODE_GROUPS * CODE_GROUP_LEN ||
		    strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", ch) == NULL) {
			out[0] = '\0';
			return;
		}
		out[k++] = ch;
	}
	out[k] = '\0';
	if (k != CODE_GROUPS * CODE_GROUP_LEN)
		out[0] = '\0';
}

static void code_hash(const struct sr_accounts *acc, const char *code,
		      char out[SR_ACCOUNTS_HASH_HEX])
{
	char canon[CODE_GROUPS * CODE_GROUP_LEN + 1];
	code_canonical(code, canon);
	sr_accounts_keyed_hash(acc, "token", canon, strlen(canon), out);
	sodium_memzero(canon, sizeof canon);
}

int sr_accounts_issue_code(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			   const char *purpose, int64_t ttl_s, bool supersede)
{
	char code[CODE_LEN + 1];
	char hash[SR_ACCOUNTS_HASH_HEX];
	char now[SR_ACC_TIME_SIZE], exp[SR_ACC_TIME_SIZE];
	int64_t t = sr_acc_now_ms();
	int rc = 0;
	sr_acc_time_text(t, now);
	sr_acc_time_text(t + ttl_s * 1000, exp);
	if (supersede) {
		const char *u[] = {user_id, purpose, now};
		rc = exec_texts(c,
				"UPDATE account_tokens SET used_at = $3 WHERE user_id = $1 AND "
				"purpose = $2 AND used_at IS NULL",
				u, 3, NULL);
		if (rc == 0)
			rc = sr_outbox_withdraw(c, user_id, purpose,
						"withdrawn: a newer code was issued", NULL);
		if (rc != 0)
			return rc;
	}
	new_code(code);
	code_hash(acc, code, hash);
	const char *v[] = {hash, user_id, purpose, now, exp};
	rc = exec_texts(c,
			"INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, "
			"expires_at) VALUES ($1, $2, $3, $4, $5)",
			v, 5, NULL);
	if (rc == 0) {
		json_t *vars = json_pack("{s:s}", "code", code);
		rc = sr_acc_notify(c, acc, user_id, purpose, hash, vars);
		json_decref(vars);
	}
	sodium_memzero(code, sizeof code);
	return rc;
}

/* The user a live code of purpose belongs to; *user_id "" when none. */
static int find_code(struct sr_conn *c, const struct sr_accounts *acc, const char *code,
		     const char *purpose, char hash[SR_ACCOUNTS_HASH_HEX],
		     char user_id[SR_USER_ID_SIZE])
{
	struct sr_stmt *s = NULL;
	char now[SR_ACC_TIME_SIZE];
	size_t n;
	user_id[0] = '\0';
	code_hash(acc, code, hash);
	sr_acc_time_text(sr_acc_now_ms(), now);
	int rc = sr_stmt_prepare(
		c,
		"SELECT t.user_id FROM account_tokens t JOIN users u ON u.id = "
		"t.user_id WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at "
		"IS NULL AND t.expires_at > $3 AND u.state = 'active'",
		&s);
	const char *v[] = {hash, purpose, now};
	if (rc == 0)
		rc = bind_texts(s, v, 3);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0) {
			snprintf(user_id, SR_USER_ID_SIZE, "%s", sr_stmt_col_text(s, 0, &n));
			rc = 0;
		}
	}
	sr_stmt_done(s);
	return rc;
}

static json_t *user_json(const char *id, const char *role, bool verified, const char *created)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", id, "object", "user", "role", role,
			 "email_verified", verified, "created", created);
}

/* ---- sign-up ------------------------------------------------------------ */

struct create_args {
	const struct sr_accounts *acc;
	const char *email; /* normalised */
	const char *name;
	const char *hash;
	enum sr_role role;
	bool verified; /* staff created by an operator */
	const struct sr_auth_request *r;
	const char *actor; /* NULL: the member signs up */
	/* out */
	char user_id[SR_USER_ID_SIZE];
	char created[SR_ACC_TIME_SIZE];
	bool duplicate;
	bool limited; /* the client address is past its hourly budget */
};

static int create_tx(struct sr_conn *c, void *arg)
{
	struct create_args *a = arg;
	const struct sr_accounts *acc = a->acc;
	struct sr_pii_member_key *k = NULL;
	unsigned char *email_blob = NULL, *name_blob = NULL;
	size_t email_len = 0, name_len = 0;
	char lookup[SR_ACCOUNTS_HASH_HEX];
	char masked[80];
	struct sr_stmt *s = NULL;
	a->duplicate = false;
	a->limited = false;
	if (a->r != NULL && a->r->ip[0]) {
		/* Each sign-up mails a code to an address the caller chose: it
		 * spends the client address's hourly budget like a failure. */
		int lrc = sr_acc_ip_failures(c, acc, a->r->ip, true, &a->limited);
		if (lrc != 0 || a->limited)
			return lrc;
	}
	sr_acc_random_id("usr_", a->user_id);
	sr_acc_time_text(sr_acc_now_ms(), a->created);
	sr_accounts_keyed_hash(acc, "email", a->email, strlen(a->email), lookup);
	sr_acc_mask_email(a->email, masked, sizeof masked);

	int rc = sr_pii_member_key_new(a->user_id, &k);
	if (rc == 0)
		rc = sr_pii_seal_with(k, SR_PII_FIELD_EMAIL, a->email, strlen(a->email),
				      &email_blob, &email_len);
	if (rc == 0)
		rc = sr_pii_seal_with(k, SR_PII_FIELD_NAME, a->name, strlen(a->name), &name_blob,
				      &name_len);
	if (rc != 0)
		goto out;
	/* ON CONFLICT: a concurrent sign-up with the same address is a
	 * duplicate, not an error that would abort a PostgreSQL transaction. */
	rc = sr_stmt_prepare(
		c,
		"INSERT INTO users (id, role, email_lookup, email_sealed, name_sealed, "
		"email_verified, email_verified_at, password_hash, password_changed_at, "
		"created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) "
		"ON CONFLICT (email_lookup) DO NOTHING",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, a->user_id, strlen(a->user_id));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, sr_role_name(a->role), strlen(sr_role_name(a->role)));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, lookup, strlen(lookup));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 4, email_blob, email_len);
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 5, name_blob, name_len);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 6, a->verified ? 1 : 0);
	if (rc == 0)
		rc = a->verified ? sr_stmt_bind_text(s, 7, a->created, strlen(a->created))
				 : sr_stmt_bind_null(s, 7);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 8, a->hash, strlen(a->hash));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 9, a->created, strlen(a->created));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
	}
	int64_t changes = rc == 0 ? sr_stmt_changes(s) : 0;
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0)
		goto out;
	char details[160];
	if (changes == 0) {
		a->duplicate = true;
		snprintf(details, sizeof details, "{\"email\":\"%s\",\"reason\":\"email_taken\"}",
			 masked);
		rc = sr_acc_audit(c, acc, a->actor, "user.create", "user", "", "denied", a->r,
				  details);
		goto out;
	}
	rc = sr_pii_member_key_store(c, acc->pii, k);
	if (rc == 0 && !a->verified)
		rc = sr_accounts_issue_code(c, acc, a->user_id, "email_verification",
					    acc->set.verification_ttl_s, false);
	if (rc == 0) {
		snprintf(details, sizeof details, "{\"email\":\"%s\",\"role\":\"%s\"}", masked,
			 sr_role_name(a->role));
		rc = sr_acc_audit(c, acc, a->actor ? a->actor : a->user_id, "user.create", "user",
				  a->user_id, "success", a->r, details);
	}
out:
	sr_stmt_done(s);
	free(email_blob);
	free(name_blob);
	sr_pii_member_key_free(k);
	return rc;
}

int sr_accounts_create_user(const struct sr_accounts *acc, const char *email, const char *name,
			    const char *password, size_t password_len, int role, const char *actor,
			    char user_id[SR_USER_ID_SIZE], bool *duplicate)
{
	struct create_args a = {.acc = acc,
				.email = email,
				.name = name,
				.role = (enum sr_role)role,
				.verified = true,
				.actor = actor};
	char hash[SR_PASSWORD_HASH_MAX];
	user_id[0] = '\0';
	*duplicate = false;
	int rc = sr_password_hash(&acc->pw_params, &acc->pepper, password, password_len, hash,
				  sizeof hash);
	a.hash = hash;
	if (rc == 0)
		rc = sr_store_tx(acc->store, SR_TX_WRITE, create_tx, &a);
	if (rc == 0) {
		*duplicate = a.duplicate;
		snprintf(user_id, SR_USER_ID_SIZE, "%s", a.duplicate ? "" : a.user_id);
	}
	return rc;
}

static void signup_work(struct acc_job *job)
{
	struct sr_accounts *acc = job->acc;
	job->rc = sr_password_hash(&acc->pw_params, &acc->pepper, job->password, job->password_len,
				   job->new_hash, sizeof job->new_hash);
	if (job->rc != 0)
		return;
	struct create_args a = {.acc = acc,
				.email = job->email,
				.name = job->name,
				.hash = job->new_hash,
				.role = SR_ROLE_MEMBER,
				.r = &job->auth};
	job->rc = sr_store_tx(acc->store, SR_TX_WRITE, create_tx, &a);
	if (job->rc != 0)
		return;
	if (a.limited) {
		answer_ip_limited(job);
		return;
	}
	/* A taken address gets the same answer as a new one, with an id that
	 * exists nowhere: sign-up must not tell who has an account. */
	if (a.duplicate)
		sr_acc_random_id("usr_", a.user_id);
	answer_json(job, 201, user_json(a.user_id, "member", false, a.created));
}

static void handle_signup(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"email", "password", "name", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, signup_work);
	char msg[200];
	const char *code;
	if (email_field(req, o, job->email) < 0)
		goto fail;
	size_t nlen = 0;
	if (str_field(req, o, "name", true, 4 * NAME_MAX_CHARS, false, &job->name, &nlen) < 0 ||
	    name_check(req, job->name, nlen) < 0)
		goto fail;
	if (str_field(req, o, "password", true, SR_PASSWORD_INPUT_MAX, true, &job->password,
		      &job->password_len) < 0)
		goto fail;
	if ((code = policy_refusal(acc, job->password, job->password_len, job->email, job->name,
				   false, msg, sizeof msg)) != NULL) {
		sr_http_reply_error(req, 400, "invalid_request_error", code, msg, "password");
		goto fail;
	}
	json_decref(o);
	submit(req, job);
	return;
fail:
	json_decref(o);
	job_free(job);
}

/* ---- email verification ------------------------------------------------- */

static int verify_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	char hash[SR_ACCOUNTS_HASH_HEX];
	char now[SR_ACC_TIME_SIZE];
	bool over = false;
	answer_reset(job);
	int rc = sr_acc_ip_failures(c, acc, job->auth.ip, false, &over);
	if (rc != 0)
		return rc;
	if (over) {
		answer_ip_limited(job);
		return 0;
	}
	rc = find_code(c, acc, job->token, "email_verification", hash, job->user_id);
	if (rc != 0)
		return rc;
	if (job->user_id[0] == '\0') {
		answer_error(job, 400, "invalid_request_error", "token_invalid", "token",
			     "This code is wrong, already used or expired. Ask for a new one.");
		return sr_acc_ip_failures(c, acc, job->auth.ip, true, &over);
	}
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {hash, now};
	rc = exec_texts(c, "UPDATE account_tokens SET used_at = $2 WHERE token_hash = $1", v, 2,
			NULL);
	const char *w[] = {job->user_id, now};
	if (rc == 0)
		rc = exec_texts(c,
				"UPDATE users SET email_verified = 1, email_verified_at = $2 WHERE "
				"id = $1",
				w, 2, NULL);
	if (rc == 0)
		rc = sr_acc_audit(c, acc, job->user_id, "user.email_verified", "user", job->user_id,
				  "success", &job->auth, NULL);
	if (rc == 0)
		answer_json(job, 200,
			    json_pack("{s:s, s:s, s:b}", "id", job->user_id, "object", "user",
				      "email_verified", 1));
	return rc;
}

static void verify_work(struct acc_job *job)
{
	job->rc = sr_store_tx(job->acc->store, SR_TX_WRITE, verify_tx, job);
}

static void handle_verify_email(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"token", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, verify_work);
	if (str_field(req, o, "token", true, 64, true, &job->token, NULL) < 0) {
		json_decref(o);
		job_free(job);
		return;
	}
	json_decref(o);
	submit(req, job);
}

/* A new verification code for the signed-in member (the first one expired
 * or got lost); at most one a minute. */
static int resend_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	enum sr_auth_result ar;
	struct sr_stmt *s = NULL;
	bool over = false;
	int64_t recent = 0;
	char cut[SR_ACC_TIME_SIZE];
	answer_reset(job);
	int rc = sr_auth_resolve(c, acc, &job->auth, true, &job->ctx, &ar);
	if (rc != 0 || ar != SR_AUTH_OK) {
		answer_auth(job, ar);
		return rc;
	}
	if (job->ctx.email_verified) {
		answer_error(job, 400, "invalid_request_error", "email_already_verified", NULL,
			     "Your email address is already confirmed.");
		return 0;
	}
	rc = sr_acc_ip_failures(c, acc, job->auth.ip, true, &over);
	if (rc != 0)
		return rc;
	if (over) {
		answer_ip_limited(job);
		return 0;
	}
	sr_acc_time_text(sr_acc_now_ms() - RESET_RESEND_MS, cut);
	rc = sr_stmt_prepare(c,
			     "SELECT COUNT(*) FROM account_tokens WHERE user_id = $1 AND purpose = "
			     "'email_verification' AND used_at IS NULL AND created_at > $2",
			     &s);
	const char *v[] = {job->ctx.user_id, cut};
	if (rc == 0)
		rc = bind_texts(s, v, 2);
	if (rc == 0 && (rc = sr_stmt_step(s)) > 0) {
		recent = sr_stmt_col_i64(s, 0);
		rc = 0;
	}
	sr_stmt_done(s);
	if (rc == 0 && recent == 0)
		rc = sr_accounts_issue_code(c, acc, job->ctx.user_id, "email_verification",
					    acc->set.verification_ttl_s, false);
	if (rc == 0)
		answer_json(job, 202,
			    json_pack("{s:s, s:s}", "object", "email_verification", "message",
				      "We sent a new code to your email address (at most one a "
				      "minute)."));
	return rc;
}

static void resend_work(struct acc_job *job)
{
	job->rc = sr_store_tx(job->acc->store, SR_TX_WRITE, resend_tx, job);
}

static void handle_resend(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	if (!ready_or_503(req, acc))
		return;
	submit(req, job_new(acc, resend_work));
}

/* ---- login -------------------------------------------------------------- */

/* Counters of an address that has no account, so that it is throttled and
 * locked exactly like one that has (no enumeration through 429s). */
static void unknown_subject(const struct sr_accounts *acc, const char *email,
			    char out[SR_ACCOUNTS_HASH_HEX + 4])
{
	char h[SR_ACCOUNTS_HASH_HEX];
	sr_accounts_keyed_hash(acc, "email", email, strlen(email), h);
	snprintf(out, SR_ACCOUNTS_HASH_HEX + 4, "em:%s", h);
}

/* The guard of the address in job->email, known or not; fills job->known,
 * user_id, stored_hash when known. */
static int load_guard(struct sr_conn *c, struct acc_job *job, struct sr_acc_guard *g)
{
	const struct sr_accounts *acc = job->acc;
	struct sr_stmt *s = NULL;
	char lookup[SR_ACCOUNTS_HASH_HEX];
	char subject[SR_ACCOUNTS_HASH_HEX + 4];
	size_t n;
	job->known = false;
	job->user_id[0] = '\0';
	job->stored_hash[0] = '\0';
	memset(g, 0, sizeof *g);
	sr_accounts_keyed_hash(acc, "email", job->email, strlen(job->email), lookup);
	int rc = sr_stmt_prepare(
		c,
		"SELECT id, password_hash, failed_logins, last_failed_at, "
		"locked_until FROM users WHERE email_lookup = $1 AND state = 'active'",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, lookup, strlen(lookup));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc > 0) {
		job->known = true;
		snprintf(job->user_id, sizeof job->user_id, "%s", sr_stmt_col_text(s, 0, &n));
		snprintf(job->stored_hash, sizeof job->stored_hash, "%s",
			 sr_stmt_col_text(s, 1, &n));
		int64_t failures = sr_stmt_col_i64(s, 2);
		int64_t last = sr_acc_time_parse(sr_stmt_col_text(s, 3, &n));
		int64_t locked = sr_acc_time_parse(sr_stmt_col_text(s, 4, &n));
		sr_acc_guard_compute(acc, failures, last, locked, g);
		rc = 0;
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc != 0 || job->known)
		return rc;
	unknown_subject(acc, job->email, subject);
	rc = sr_stmt_prepare(
		c, "SELECT failures, window_start FROM auth_failures WHERE subject = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, subject, strlen(subject));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc > 0) {
		int64_t failures = sr_stmt_col_i64(s, 0);
		int64_t last = sr_acc_time_parse(sr_stmt_col_text(s, 1, &n));
		int64_t locked = failures >= acc->set.lockout_threshold
					 ? last + acc->set.lockout_duration_s * 1000
					 : 0;
		sr_acc_guard_compute(acc, failures, last, locked, g);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

/* Refuses the attempt when the IP, lock or delay says so. True: answered. */
static int guard_refuses(struct sr_conn *c, struct acc_job *job, bool *refused)
{
	struct sr_acc_guard g;
	bool over = false;
	int64_t t = sr_acc_now_ms();
	*refused = true;
	int rc = sr_acc_ip_failures(c, job->acc, job->auth.ip, false, &over);
	if (rc == 0)
		rc = load_guard(c, job, &g);
	if (rc != 0)
		return rc;
	if (over)
		answer_ip_limited(job);
	else if (g.locked_until_ms > t)
		answer_retry_later(job, "account_locked", g.locked_until_ms,
				   "Too many failed sign-ins: this account is locked for now; we "
				   "emailed its owner.");
	else if (g.throttled_until_ms > t)
		answer_retry_later(job, "too_many_attempts", g.throttled_until_ms,
				   "Too many failed sign-ins in a row.");
	else
		*refused = false;
	return 0;
}

static int login_check_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	bool refused = false;
	answer_reset(job);
	int rc = guard_refuses(c, job, &refused);
	if (rc == 0 && refused)
		job->status = 429;
	return rc;
}

static void answer_bad_credentials(struct acc_job *job)
{
	answer_error(job, 401, "authentication_error", "invalid_credentials", NULL,
		     "The email address or password is incorrect.");
}

/* Creates the session row; *token and *csrf get fresh secrets (sodium). */
static int create_session(struct sr_conn *c, struct acc_job *job, const char *amr, bool restricted,
			  char session_id[SR_SESSION_ID_SIZE], char **token, char **csrf,
			  bool *new_device)
{
	const struct sr_accounts *acc = job->acc;
	unsigned char rnd[TOKEN_BYTES];
	char th[SR_ACCOUNTS_HASH_HEX], ch[SR_ACCOUNTS_HASH_HEX], dh[SR_ACCOUNTS_HASH_HEX];
	char now[SR_ACC_TIME_SIZE];
	size_t n = 0;
	struct sr_stmt *s = NULL;
	*token = sodium_malloc(64);
	*csrf = sodium_malloc(64);
	SR_ASSERT(*token != NULL && *csrf != NULL);
	randombytes_buf(rnd, sizeof rnd);
	int rc = sr_base64url_encode(rnd, sizeof rnd, *token, 64, &n);
	randombytes_buf(rnd, sizeof rnd);
	if (rc == 0)
		rc = sr_base64url_encode(rnd, sizeof rnd, *csrf, 64, &n);
	sodium_memzero(rnd, sizeof rnd);
	if (rc != 0)
		return rc;
	sr_accounts_keyed_hash(acc, "session", *token, strlen(*token), th);
	sr_accounts_keyed_hash(acc, "csrf", *csrf, strlen(*csrf), ch);
	char dev[SR_USER_ID_SIZE + SR_AUTH_UA_MAX + 2];
	snprintf(dev, sizeof dev, "%s|%s", job->user_id, job->auth.user_agent);
	sr_accounts_keyed_hash(acc, "device", dev, strlen(dev), dh);
	sr_acc_random_id("ses_", session_id);
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {session_id,
			   th,
			   job->user_id,
			   ch,
			   now,
			   amr,
			   restricted ? "1" : "0",
			   job->auth.ip,
			   job->auth.user_agent,
			   dh};
	rc = exec_texts(c,
			"INSERT INTO sessions (id, token_hash, user_id, csrf_hash, created_at, "
			"last_seen_at, auth_time, amr, restricted, ip, user_agent, device_hash) "
			"VALUES ($1, $2, $3, $4, $5, $5, $5, $6, CAST($7 AS INTEGER), $8, $9, $10)",
			v, 10, NULL);
	if (rc != 0)
		return rc;
	/* New device: a user agent this member never signed in with before,
	 * once they have signed in at least once (the first login is not news). */
	int64_t known_any = 0, known_this = 0;
	rc = sr_stmt_prepare(c,
			     "SELECT COUNT(*), SUM(CASE WHEN device_hash = $2 THEN 1 ELSE 0 END) "
			     "FROM known_devices WHERE user_id = $1",
			     &s);
	const char *w[] = {job->user_id, dh};
	if (rc == 0)
		rc = bind_texts(s, w, 2);
	if (rc == 0 && (rc = sr_stmt_step(s)) > 0) {
		known_any = sr_stmt_col_i64(s, 0);
		known_this = sr_stmt_col_i64(s, 1);
		rc = 0;
	}
	sr_stmt_done(s);
	if (rc != 0)
		return rc;
	*new_device = known_any > 0 && known_this == 0;
	const char *x[] = {job->user_id, dh, now};
	return exec_texts(
		c,
		"INSERT INTO known_devices (user_id, device_hash, first_seen_at, "
		"last_seen_at) VALUES ($1, $2, $3, $3) ON CONFLICT (user_id, device_hash) "
		"DO UPDATE SET last_seen_at = $3",
		x, 3, NULL);
}

static char *session_cookie(const struct sr_accounts *acc, const char *token)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s=%s; Path=/; Max-Age=%lld; Secure; HttpOnly; SameSite=Lax",
		 SR_SESSION_COOKIE, token, (long long)acc->set.absolute_timeout_s);
	char *s = sodium_malloc(strlen(buf) + 1);
	SR_ASSERT(s != NULL);
	memcpy(s, buf, strlen(buf) + 1);
	sodium_memzero(buf, sizeof buf);
	return s;
}

static int login_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	char masked[80], details[200];
	char session_id[SR_SESSION_ID_SIZE];
	char *token = NULL, *csrf = NULL;
	bool refused = false, over = false, new_device = false;
	unsigned delay = 0;
	enum sr_role role = 0;
	answer_reset(job);
	char saved_user[SR_USER_ID_SIZE];
	bool was_known = job->known;
	snprintf(saved_user, sizeof saved_user, "%s", job->user_id);
	/* Again under the write transaction: another instance may have locked
	 * the account while this one was hashing. */
	int rc = guard_refuses(c, job, &refused);
	if (rc != 0 || refused)
		goto out;
	if (job->known != was_known || strcmp(saved_user, job->user_id) != 0) {
		/* The account appeared or went away meanwhile: treat as wrong. */
		job->password_ok = false;
	}
	if (!job->known) {
		char subject[SR_ACCOUNTS_HASH_HEX + 4];
		char now[SR_ACC_TIME_SIZE], cutoff[SR_ACC_TIME_SIZE];
		char thr[24];
		int64_t t = sr_acc_now_ms();
		unknown_subject(acc, job->email, subject);
		sr_acc_time_text(t, now);
		sr_acc_time_text(t - acc->set.lockout_duration_s * 1000, cutoff);
		snprintf(thr, sizeof thr, "%lld", (long long)acc->set.lockout_threshold);
		const char *v[] = {subject, now, cutoff, thr};
		rc = exec_texts(
			c,
			"INSERT INTO auth_failures (subject, window_start, failures) VALUES "
			"($1, $2, 1) ON CONFLICT (subject) DO UPDATE SET failures = CASE "
			"WHEN auth_failures.failures >= CAST($4 AS INTEGER) AND "
			"auth_failures.window_start < CAST($3 AS TEXT) THEN 1 ELSE "
			"auth_failures.failures + 1 END, window_start = CAST($2 AS TEXT)",
			v, 4, NULL);
		if (rc == 0)
			rc = sr_acc_ip_failures(c, acc, job->auth.ip, true, &over);
		sr_acc_mask_email(job->email, masked, sizeof masked);
		snprintf(details, sizeof details, "{\"email\":\"%s\",\"reason\":\"unknown_email\"}",
			 masked);
		if (rc == 0)
			rc = sr_acc_audit(c, acc, NULL, "login.failure", "user", "", "failure",
					  &job->auth, details);
		answer_bad_credentials(job);
		goto out;
	}
	if (!job->password_ok) {
		rc = sr_auth_record_failure(c, acc, job->user_id, &job->auth, "password", &delay);
		answer_bad_credentials(job);
		goto out;
	}
	enum sr_mfa_check mfa = SR_MFA_NOT_ENROLLED;
	rc = sr_mfa_check_login(c, acc, job->user_id, job->otp, &mfa);
	if (rc == 0)
		rc = sr_auth_member_role(c, job->user_id, &role);
	if (rc != 0)
		goto out;
	if (mfa == SR_MFA_MISSING) {
		answer_error(job, 401, "authentication_error", "otp_required", "otp",
			     "Enter the code from your authenticator app (otp), or a recovery "
			     "code.");
		goto out;
	}
	if (mfa == SR_MFA_BAD_CODE || mfa == SR_MFA_USED_CODE) {
		rc = sr_auth_record_failure(c, acc, job->user_id, &job->auth, "otp", &delay);
		answer_error(job, 401, "authentication_error", "otp_invalid", "otp",
			     mfa == SR_MFA_USED_CODE
				     ? "This code was already used; wait for the next one."
				     : "The code is incorrect.");
		goto out;
	}
	bool second = mfa == SR_MFA_OK || mfa == SR_MFA_OK_RECOVERY;
	/* Staff must have a second factor: without one the session can only
	 * set it up (auth.h SR_AUTH_RESTRICTED). */
	bool restricted = !second && role != SR_ROLE_MEMBER;
	rc = sr_auth_record_success(c, job->user_id);
	if (rc == 0 && job->new_hash[0]) {
		const char *v[] = {job->user_id, job->new_hash};
		rc = exec_texts(c, "UPDATE users SET password_hash = $2 WHERE id = $1", v, 2, NULL);
	}
	if (rc == 0)
		rc = create_session(c, job, second ? "pwd otp" : "pwd", restricted, session_id,
				    &token, &csrf, &new_device);
	if (rc != 0)
		goto out;
	snprintf(details, sizeof details,
		 "{\"session\":\"%s\",\"second_factor\":%s,\"recovery_code\":%s,\"rehashed\":%s}",
		 session_id, second ? "true" : "false",
		 mfa == SR_MFA_OK_RECOVERY ? "true" : "false", job->new_hash[0] ? "true" : "false");
	rc = sr_acc_audit(c, acc, job->user_id, "login.success", "session", session_id, "success",
			  &job->auth, details);
	if (rc == 0 && new_device) {
		json_t *vars =
			json_pack("{s:s, s:s}", "device",
				  job->auth.user_agent[0] ? job->auth.user_agent : "unknown device",
				  "location", job->auth.ip[0] ? job->auth.ip : "unknown");
		rc = sr_acc_notify(c, acc, job->user_id, "new_device_login", session_id, vars);
		json_decref(vars);
	}
	if (rc != 0)
		goto out;
	char created[SR_ACC_TIME_SIZE], expires[SR_ACC_TIME_SIZE];
	int64_t t = sr_acc_now_ms();
	sr_acc_time_text(t, created);
	sr_acc_time_text(t + acc->set.absolute_timeout_s * 1000, expires);
	job->set_cookie = session_cookie(acc, token);
	answer_json(job, 201,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:s}}", "id", session_id,
			      "object", "session", "csrf_token", csrf, "created", created,
			      "expires_at", expires, "restricted", restricted, "user", "id",
			      job->user_id, "role", sr_role_name(role)));
out:
	if (token != NULL)
		sodium_free(token);
	if (csrf != NULL)
		sodium_free(csrf);
	return rc;
}

static void login_work(struct acc_job *job)
{
	struct sr_accounts *acc = job->acc;
	job->rc = sr_store_tx(acc->store, SR_TX_READ, login_check_tx, job);
	if (job->rc != 0 || job->status == 429)
		return;
	/* The same Argon2id work whether or not the address has an account. */
	const char *hash = job->known ? job->stored_hash : acc->dummy_hash;
	job->password_ok =
		sr_password_verify(&acc->pepper, 1, hash, job->password, job->password_len) == 0 &&
		job->known;
	job->new_hash[0] = '\0';
	if (job->password_ok && sr_password_needs_rehash(&acc->pw_params, acc->pepper.id, hash)) {
		int rc = sr_password_hash(&acc->pw_params, &acc->pepper, job->password,
					  job->password_len, job->new_hash, sizeof job->new_hash);
		if (rc != 0)
			job->new_hash[0] = '\0'; /* keep the old hash; try at the next login */
	}
	job->rc = sr_store_tx(acc->store, SR_TX_WRITE, login_tx, job);
}

static void handle_login(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"email", "password", "otp", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, login_work);
	/* A malformed address cannot have an account: same answer as a wrong
	 * password, after the same work, so nothing is learnt from it either. */
	char *raw = NULL;
	size_t n = 0;
	if (str_field(req, o, "email", true, 320, false, &raw, &n) < 0)
		goto fail;
	if (sr_accounts_normalise_email(raw, n, job->email) != 0)
		snprintf(job->email, sizeof job->email, "invalid:%.200s", raw);
	free_secret(&raw);
	if (str_field(req, o, "password", true, SR_PASSWORD_INPUT_MAX, true, &job->password,
		      &job->password_len) < 0)
		goto fail;
	if (str_field(req, o, "otp", false, 64, true, &job->otp, NULL) < 0)
		goto fail;
	json_decref(o);
	submit(req, job);
	return;
fail:
	json_decref(o);
	job_free(job);
}

/* ---- sessions ----------------------------------------------------------- */

static int list_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	struct sr_stmt *s = NULL;
	enum sr_auth_result ar;
	answer_reset(job);
	int rc = sr_auth_resolve(c, acc, &job->auth, true, &job->ctx, &ar);
	if (rc != 0 || ar != SR_AUTH_OK) {
		answer_auth(job, ar);
		return rc;
	}
	int64_t t = sr_acc_now_ms();
	char idle_cut[SR_ACC_TIME_SIZE], abs_cut[SR_ACC_TIME_SIZE];
	sr_acc_time_text(t - acc->set.idle_timeout_s * 1000, idle_cut);
	sr_acc_time_text(t - acc->set.absolute_timeout_s * 1000, abs_cut);
	rc = sr_stmt_prepare(
		c,
		"SELECT id, created_at, last_seen_at, ip, user_agent, amr FROM sessions "
		"WHERE user_id = $1 AND revoked_at IS NULL AND last_seen_at >= $2 AND "
		"created_at >= $3 ORDER BY created_at DESC, id LIMIT 101",
		&s);
	const char *v[] = {job->ctx.user_id, idle_cut, abs_cut};
	if (rc == 0)
		rc = bind_texts(s, v, 3);
	json_t *data = json_array();
	bool more = false;
	size_t n;
	while (rc == 0) {
		int r = sr_stmt_step(s);
		if (r < 0)
			rc = r;
		if (r <= 0)
			break;
		if (json_array_size(data) == LIST_MAX) {
			more = true;
			break;
		}
		const char *id = sr_stmt_col_text(s, 0, &n);
		json_array_append_new(
			data,
			json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "id", id, "object",
				  "session", "created", sr_stmt_col_text(s, 1, &n), "last_seen",
				  sr_stmt_col_text(s, 2, &n), "ip", sr_stmt_col_text(s, 3, &n),
				  "device", sr_stmt_col_text(s, 4, &n), "second_factor",
				  strcmp(sr_stmt_col_text(s, 5, &n), "pwd") != 0, "current",
				  strcmp(id, job->ctx.session_id) == 0));
	}
	sr_stmt_done(s);
	if (rc != 0) {
		json_decref(data);
		return rc;
	}
	answer_json(job, 200,
		    json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", more));
	return 0;
}

static void list_work(struct acc_job *job)
{
	job->rc = sr_store_tx(job->acc->store, SR_TX_WRITE, list_tx, job);
}

static void handle_list(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	if (!ready_or_503(req, acc))
		return;
	submit(req, job_new(acc, list_work));
}

static const char clear_cookie[] =
	SR_SESSION_COOKIE "=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax";

static int revoke_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	enum sr_auth_result ar;
	char now[SR_ACC_TIME_SIZE];
	int64_t changes = 0;
	answer_reset(job);
	int rc = sr_auth_resolve(c, acc, &job->auth, true, &job->ctx, &ar);
	if (rc != 0 || ar != SR_AUTH_OK) {
		answer_auth(job, ar);
		return rc;
	}
	bool current = strcmp(job->path_id, "current") == 0 ||
		       strcmp(job->path_id, job->ctx.session_id) == 0;
	const char *id = current ? job->ctx.session_id : job->path_id;
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {id, job->ctx.user_id, now, current ? "logout" : "revoked_by_member"};
	/* Only the member's own sessions: another member's id is "not found". */
	rc = exec_texts(
		c,
		"UPDATE sessions SET revoked_at = $3, revoked_reason = $4 WHERE id = $1 AND "
		"user_id = $2 AND revoked_at IS NULL",
		v, 4, &changes);
	if (rc != 0)
		return rc;
	if (changes == 0) {
		answer_error(job, 404, "invalid_request_error", "resource_missing", "id",
			     "No active session of yours has this id.");
		return 0;
	}
	rc = sr_acc_audit(c, acc, job->ctx.user_id, current ? "session.logout" : "session.revoke",
			  "session", id, "success", &job->auth, NULL);
	if (rc != 0)
		return rc;
	if (current) {
		job->set_cookie = sodium_malloc(sizeof clear_cookie);
		SR_ASSERT(job->set_cookie != NULL);
		memcpy(job->set_cookie, clear_cookie, sizeof clear_cookie);
	}
	answer_json(job, 200,
		    json_pack("{s:s, s:s, s:b, s:b}", "id", id, "object", "session", "revoked", 1,
			      "current", current));
	return 0;
}

static void revoke_work(struct acc_job *job)
{
	job->rc = sr_store_tx(job->acc->store, SR_TX_WRITE, revoke_tx, job);
}

static void handle_revoke(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	if (!ready_or_503(req, acc))
		return;
	const char *id = sr_http_param(req, "id");
	if (id == NULL || strlen(id) >= SR_SESSION_ID_SIZE) {
		sr_http_reply_error(req, 404, "invalid_request_error", "resource_missing",
				    "No active session of yours has this id.", "id");
		return;
	}
	struct acc_job *job = job_new(acc, revoke_work);
	snprintf(job->path_id, sizeof job->path_id, "%s", id);
	submit(req, job);
}

/* ---- re-authentication -------------------------------------------------- */

static int reauth_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	enum sr_auth_result ar;
	bool ok = false, locked = false;
	unsigned delay = 0;
	char now[SR_ACC_TIME_SIZE];
	answer_reset(job);
	int rc = sr_auth_resolve(c, acc, &job->auth, true, &job->ctx, &ar);
	if (rc != 0 || ar != SR_AUTH_OK) {
		answer_auth(job, ar);
		return rc;
	}
	int64_t until = 0;
	rc = sr_auth_check_locked(c, job->ctx.user_id, &until);
	if (rc != 0)
		return rc;
	if (until > 0) {
		answer_retry_later(job, "account_locked", until * 1000,
				   "Too many failed attempts: this account is locked for now.");
		return 0;
	}
	ok = job->password_ok;
	(void)locked;
	if (!ok) {
		rc = sr_auth_record_failure(c, acc, job->ctx.user_id, &job->auth, "password",
					    &delay);
		answer_error(job, 401, "authentication_error", "invalid_credentials", "password",
			     "The password is incorrect.");
		return rc;
	}
	enum sr_mfa_check mfa = SR_MFA_NOT_ENROLLED;
	rc = sr_mfa_check_login(c, acc, job->ctx.user_id, job->otp, &mfa);
	if (rc != 0)
		return rc;
	if (mfa == SR_MFA_MISSING) {
		answer_error(job, 401, "authentication_error", "otp_required", "otp",
			     "Enter the code from your authenticator app (otp).");
		return 0;
	}
	if (mfa == SR_MFA_BAD_CODE || mfa == SR_MFA_USED_CODE) {
		rc = sr_auth_record_failure(c, acc, job->ctx.user_id, &job->auth, "otp", &delay);
		answer_error(job, 401, "authentication_error", "otp_invalid", "otp",
			     "The code is incorrect.");
		return rc;
	}
	bool second = mfa == SR_MFA_OK || mfa == SR_MFA_OK_RECOVERY;
	rc = sr_auth_record_success(c, job->ctx.user_id);
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {job->ctx.session_id, now, second ? "pwd otp" : "pwd"};
	if (rc == 0)
		rc = exec_texts(
			c,
			"UPDATE sessions SET auth_time = $2, amr = CASE WHEN amr = 'pwd otp' "
			"THEN amr ELSE $3 END, restricted = CASE WHEN $3 = 'pwd otp' THEN 0 "
			"ELSE restricted END WHERE id = $1",
			v, 3, NULL);
	if (rc == 0)
		rc = sr_acc_audit(c, acc, job->ctx.user_id, "session.reauthenticate", "session",
				  job->ctx.session_id, "success", &job->auth, NULL);
	if (rc == 0)
		answer_json(job, 200,
			    json_pack("{s:s, s:s, s:s}", "id", job->ctx.session_id, "object",
				      "session", "auth_time", now));
	return rc;
}

/* Reads the member's password hash for a session (and resolves it). */
static int read_hash_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	enum sr_auth_result ar;
	struct sr_stmt *s = NULL;
	size_t n;
	answer_reset(job);
	free_secret(&job->member_email);
	free_secret(&job->member_name);
	job->stored_hash[0] = '\0';
	int rc = sr_auth_resolve(c, acc, &job->auth, true, &job->ctx, &ar);
	if (rc != 0 || ar != SR_AUTH_OK) {
		answer_auth(job, ar);
		return rc;
	}
	rc = sr_stmt_prepare(c, "SELECT password_hash FROM users WHERE id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, job->ctx.user_id, strlen(job->ctx.user_id));
	if (rc == 0 && (rc = sr_stmt_step(s)) > 0) {
		snprintf(job->stored_hash, sizeof job->stored_hash, "%s",
			 sr_stmt_col_text(s, 0, &n));
		rc = 0;
	}
	sr_stmt_done(s);
	/* The policy compares a new password with the member's own email and
	 * name. */
	if (rc == 0)
		rc = sr_auth_member_email(c, acc, job->ctx.user_id, &job->member_email);
	if (rc == 0)
		rc = sr_auth_member_name(c, acc, job->ctx.user_id, &job->member_name);
	job->mfa_enabled = job->ctx.mfa_enabled;
	return rc;
}

static void reauth_work(struct acc_job *job)
{
	struct sr_accounts *acc = job->acc;
	job->rc = sr_store_tx(acc->store, SR_TX_WRITE, read_hash_tx, job);
	if (job->rc != 0 || job->status != 0)
		return;
	job->password_ok = sr_password_verify(&acc->pepper, 1, job->stored_hash, job->password,
					      job->password_len) == 0;
	job->rc = sr_store_tx(acc->store, SR_TX_WRITE, reauth_tx, job);
}

static void handle_reauth(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"password", "otp", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, reauth_work);
	if (str_field(req, o, "password", true, SR_PASSWORD_INPUT_MAX, true, &job->password,
		      &job->password_len) < 0 ||
	    str_field(req, o, "otp", false, 64, true, &job->otp, NULL) < 0) {
		json_decref(o);
		job_free(job);
		return;
	}
	json_decref(o);
	submit(req, job);
}

/* ---- password change ---------------------------------------------------- */

static int set_password(struct sr_conn *c, struct acc_job *job, const char *user_id,
			const char *keep_session, const char *reason, const char *action,
			int64_t *revoked)
{
	const struct sr_accounts *acc = job->acc;
	char now[SR_ACC_TIME_SIZE];
	char object[SR_USER_ID_SIZE + SR_ACC_TIME_SIZE + 2];
	char details[96];
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {user_id, job->new_hash, now};
	int rc = exec_texts(c,
			    "UPDATE users SET password_hash = $2, password_changed_at = $3, "
			    "failed_logins = 0, locked_until = NULL WHERE id = $1",
			    v, 3, NULL);
	if (rc == 0)
		rc = sr_auth_revoke_sessions(c, user_id, keep_session, reason, revoked);
	if (rc != 0)
		return rc;
	snprintf(details, sizeof details, "{\"sessions_revoked\":%lld}", (long long)*revoked);
	rc = sr_acc_audit(c, acc, user_id, action, "user", user_id, "success", &job->auth, details);
	snprintf(object, sizeof object, "%s@%s", user_id, now);
	if (rc == 0)
		rc = sr_acc_notify(c, acc, user_id, "password_changed", object, NULL);
	if (rc == 0)
		answer_json(job, 200,
			    json_pack("{s:s, s:s, s:I}", "object", "password", "changed", now,
				      "sessions_revoked", (json_int_t)*revoked));
	return rc;
}

static int change_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	enum sr_auth_result ar;
	unsigned delay = 0;
	int64_t until = 0, revoked = 0;
	answer_reset(job);
	int rc = sr_auth_resolve(c, acc, &job->auth, false, &job->ctx, &ar);
	if (rc != 0 || ar != SR_AUTH_OK) {
		answer_auth(job, ar);
		return rc;
	}
	rc = sr_auth_check_locked(c, job->ctx.user_id, &until);
	if (rc != 0)
		return rc;
	if (until > 0) {
		answer_retry_later(job, "account_locked", until * 1000,
				   "Too many failed attempts: this account is locked for now.");
		return 0;
	}
	if (!job->password_ok) {
		rc = sr_auth_record_failure(c, acc, job->ctx.user_id, &job->auth, "password",
					    &delay);
		answer_error(job, 400, "invalid_request_error", "current_password_incorrect",
			     "current_password", "The current password is incorrect.");
		return rc;
	}
	rc = set_password(c, job, job->ctx.user_id, job->ctx.session_id, "password_changed",
			  "password.change", &revoked);
	if (rc != 0)
		return rc;
	/* Typing the current password is a fresh authentication. */
	char now[SR_ACC_TIME_SIZE];
	sr_acc_time_text(sr_acc_now_ms(), now);
	const char *v[] = {job->ctx.session_id, now};
	return exec_texts(c, "UPDATE sessions SET auth_time = $2 WHERE id = $1", v, 2, NULL);
}

static void change_work(struct acc_job *job)
{
	struct sr_accounts *acc = job->acc;
	char msg[200];
	job->rc = sr_store_tx(acc->store, SR_TX_WRITE, read_hash_tx, job);
	if (job->rc != 0 || job->status != 0)
		return;
	if (job->ctx.restricted) {
		answer_auth(job, SR_AUTH_RESTRICTED);
		return;
	}
	const char *code =
		policy_refusal(acc, job->new_password, job->new_password_len, job->member_email,
			       job->member_name, job->mfa_enabled, msg, sizeof msg);
	if (code != NULL) {
		answer_error(job, 400, "invalid_request_error", code, "new_password", "%s", msg);
		return;
	}
	job->password_ok = sr_password_verify(&acc->pepper, 1, job->stored_hash, job->password,
					      job->password_len) == 0;
	if (job->password_ok) {
		job->rc = sr_password_hash(&acc->pw_params, &acc->pepper, job->new_password,
					   job->new_password_len, job->new_hash,
					   sizeof job->new_hash);
		if (job->rc != 0)
			return;
	}
	job->rc = sr_store_tx(acc->store, SR_TX_WRITE, change_tx, job);
}

static void handle_change(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"current_password", "new_password", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, change_work);
	if (str_field(req, o, "current_password", true, SR_PASSWORD_INPUT_MAX, true, &job->password,
		      &job->password_len) < 0 ||
	    str_field(req, o, "new_password", true, SR_PASSWORD_INPUT_MAX, true, &job->new_password,
		      &job->new_password_len) < 0) {
		json_decref(o);
		job_free(job);
		return;
	}
	json_decref(o);
	submit(req, job);
}

/* ---- password reset ----------------------------------------------------- */

static json_t *reset_accepted(void)
{
	return json_pack("{s:s, s:s}", "object", "password_reset", "message",
			 "If an account uses this address, we sent it a code to reset the "
			 "password. It is valid for 30 minutes.");
}

static int reset_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	struct sr_acc_guard g;
	struct sr_stmt *s = NULL;
	bool over = false;
	char masked[80], details[160];
	answer_reset(job);
	/* Every request counts against the address: resets send mail, and
	 * mail bombing someone's inbox must be bounded too. */
	int rc = sr_acc_ip_failures(c, acc, job->auth.ip, true, &over);
	if (rc != 0)
		return rc;
	if (over) {
		answer_ip_limited(job);
		return 0;
	}
	rc = load_guard(c, job, &g);
	if (rc != 0)
		return rc;
	sr_acc_mask_email(job->email, masked, sizeof masked);
	snprintf(details, sizeof details, "{\"email\":\"%s\",\"known\":%s}", masked,
		 job->known ? "true" : "false");
	if (job->known) {
		/* At most one code a minute: the newest one stays valid. */
		char cut[SR_ACC_TIME_SIZE];
		int64_t recent = 0;
		sr_acc_time_text(sr_acc_now_ms() - RESET_RESEND_MS, cut);
		rc = sr_stmt_prepare(
			c,
			"SELECT COUNT(*) FROM account_tokens WHERE user_id = $1 AND "
			"purpose = 'password_reset' AND used_at IS NULL AND created_at "
			"> $2",
			&s);
		const char *v[] = {job->user_id, cut};
		if (rc == 0)
			rc = bind_texts(s, v, 2);
		if (rc == 0 && (rc = sr_stmt_step(s)) > 0) {
			recent = sr_stmt_col_i64(s, 0);
			rc = 0;
		}
		sr_stmt_done(s);
		if (rc == 0 && recent == 0)
			rc = sr_accounts_issue_code(c, acc, job->user_id, "password_reset",
						    acc->set.reset_ttl_s, false);
	}
	if (rc == 0)
		rc = sr_acc_audit(c, acc, job->known ? job->user_id : NULL,
				  "password.reset_request", "user", job->known ? job->user_id : "",
				  "success", &job->auth, details);
	if (rc == 0)
		answer_json(job, 202, reset_accepted());
	return rc;
}

static void reset_work(struct acc_job *job)
{
	job->rc = sr_store_tx(job->acc->store, SR_TX_WRITE, reset_tx, job);
}

static void handle_reset(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"email", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, reset_work);
	if (email_field(req, o, job->email) < 0) {
		json_decref(o);
		job_free(job);
		return;
	}
	json_decref(o);
	submit(req, job);
}

static int confirm_read_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	char hash[SR_ACCOUNTS_HASH_HEX];
	bool over = false;
	answer_reset(job);
	free_secret(&job->member_email);
	free_secret(&job->member_name);
	int rc = sr_acc_ip_failures(c, acc, job->auth.ip, false, &over);
	if (rc != 0)
		return rc;
	if (over) {
		answer_ip_limited(job);
		return 0;
	}
	rc = find_code(c, acc, job->token, "password_reset", hash, job->user_id);
	if (rc != 0)
		return rc;
	if (job->user_id[0] == '\0') {
		answer_error(job, 400, "invalid_request_error", "token_invalid", "token",
			     "This code is wrong, already used or expired. Ask for a new one.");
		return 0; /* counted by the write transaction that follows */
	}
	rc = sr_auth_member_email(c, acc, job->user_id, &job->member_email);
	if (rc == 0)
		rc = sr_auth_member_name(c, acc, job->user_id, &job->member_name);
	if (rc == 0)
		rc = sr_mfa_enabled(c, job->user_id, &job->mfa_enabled);
	return rc;
}

static int count_bad_code_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	bool over = false;
	return sr_acc_ip_failures(c, job->acc, job->auth.ip, true, &over);
}

static int confirm_tx(struct sr_conn *c, void *arg)
{
	struct acc_job *job = arg;
	const struct sr_accounts *acc = job->acc;
	char hash[SR_ACCOUNTS_HASH_HEX];
	char user_id[SR_USER_ID_SIZE];
	char now[SR_ACC_TIME_SIZE];
	int64_t revoked = 0, changes = 0;
	answer_reset(job);
	int rc = find_code(c, acc, job->token, "password_reset", hash, user_id);
	if (rc != 0)
		return rc;
	if (user_id[0] == '\0' || strcmp(user_id, job->user_id) != 0) {
		answer_error(job, 400, "invalid_request_error", "token_invalid", "token",
			     "This code is wrong, already used or expired. Ask for a new one.");
		return 0;
	}
	sr_acc_time_text(sr_acc_now_ms(), now);
	/* Single use: this code and every other open reset code of the member. */
	const char *v[] = {user_id, now};
	rc = exec_texts(c,
			"UPDATE account_tokens SET used_at = $2 WHERE user_id = $1 AND purpose = "
			"'password_reset' AND used_at IS NULL",
			v, 2, &changes);
	/* The code reached the member's inbox: the address is theirs. */
	if (rc == 0)
		rc = exec_texts(c,
				"UPDATE users SET email_verified = 1, email_verified_at = "
				"COALESCE(email_verified_at, $2) WHERE id = $1",
				v, 2, NULL);
	if (rc == 0)
		rc = set_password(c, job, user_id, NULL, "password_reset", "password.reset",
				  &revoked);
	return rc;
}

static void confirm_work(struct acc_job *job)
{
	struct sr_accounts *acc = job->acc;
	char msg[200];
	job->rc = sr_store_tx(acc->store, SR_TX_READ, confirm_read_tx, job);
	if (job->rc != 0 || job->status != 0) {
		if (job->rc == 0 && job->ecode != NULL && strcmp(job->ecode, "token_invalid") == 0)
			job->rc = sr_store_tx(acc->store, SR_TX_WRITE, count_bad_code_tx, job);
		return;
	}
	const char *code =
		policy_refusal(acc, job->new_password, job->new_password_len, job->member_email,
			       job->member_name, job->mfa_enabled, msg, sizeof msg);
	if (code != NULL) {
		answer_error(job, 400, "invalid_request_error", code, "new_password", "%s", msg);
		return;
	}
	job->rc = sr_password_hash(&acc->pw_params, &acc->pepper, job->new_password,
				   job->new_password_len, job->new_hash, sizeof job->new_hash);
	if (job->rc == 0)
		job->rc = sr_store_tx(acc->store, SR_TX_WRITE, confirm_tx, job);
}

static void handle_confirm(struct sr_http_req *req, void *data)
{
	struct sr_accounts *acc = data;
	static const char *const allowed[] = {"token", "new_password", NULL};
	if (!ready_or_503(req, acc))
		return;
	json_t *o = body_object(req, allowed);
	if (o == NULL)
		return;
	struct acc_job *job = job_new(acc, confirm_work);
	if (str_field(req, o, "token", true, 64, true, &job->token, NULL) < 0 ||
	    str_field(req, o, "new_password", true, SR_PASSWORD_INPUT_MAX, true, &job->new_password,
		      &job->new_password_len) < 0) {
		json_decref(o);
		job_free(job);
		return;
	}
	json_decref(o);
	submit(req, job);
}

/* ---- routes ------------------------------------------------------------- */

int sr_accounts_add_routes(struct sr_router *r, struct sr_accounts *acc)
{
	struct sr_route_opts small = {.body_max = 16 * 1024};
	struct sr_route_opts none = {.no_body = true};
	int rc = sr_router_add(r, "POST", "/v1/users", handle_signup, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/users/verify_email", handle_verify_email, acc,
				   &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/users/verify_email/resend", handle_resend, acc,
				   &none);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/sessions", handle_login, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "GET", "/v1/sessions", handle_list, acc, &none);
	if (rc == 0)
		rc = sr_router_add(r, "DELETE", "/v1/sessions/{id}", handle_revoke, acc, &none);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/sessions/current/reauthenticate", handle_reauth,
				   acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/password", handle_change, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/password/reset", handle_reset, acc, &small);
	if (rc == 0)
		rc = sr_router_add(r, "POST", "/v1/password/reset/confirm", handle_confirm, acc,
				   &small);
	return rc;
}
