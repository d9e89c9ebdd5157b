/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Session resolution and CSRF (platform/auth.c) on both backends: a cookie
 * resolves only through the keyed hash of its token; GET needs no CSRF
 * token, any other method needs the session's own (a missing or different
 * one is refused); idle and absolute timeouts and revocation end a session
 * (and mark it revoked); restricted staff sessions are refused unless the
 * route allows them; the recent-authentication window; the failure counter
 * locks at the threshold and a success resets it; email normalisation and
 * the cookie/header capture.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "accounts_test.h"
#include "net/http.h"
#include "platform/auth.h"

#define TOKEN "tok-for-the-test-0123456789abcdefghijklmnopq"
#define CSRF  "csrf-for-the-test-0123456789abcdefghijklmno"

struct rtx {
	struct acc_fixture *f;
	struct sr_auth_request r;
	bool allow_restricted;
	struct sr_auth_ctx ctx;
	enum sr_auth_result result;
};

static int resolve_tx(struct sr_conn *c, void *arg)
{
	struct rtx *t = arg;
	return sr_auth_resolve(c, t->f->acc, &t->r, t->allow_restricted, &t->ctx, &t->result);
}

static enum sr_auth_result resolve(struct acc_fixture *f, const char *token, const char *csrf,
				   bool post, bool allow_restricted, struct sr_auth_ctx *ctx)
{
	struct rtx t = {.f = f, .allow_restricted = allow_restricted};
	if (token != NULL) {
		t.r.session_token = sodium_malloc(strlen(token) + 1);
		memcpy(t.r.session_token, token, strlen(token) + 1);
	}
	if (csrf != NULL) {
		t.r.csrf_token = sodium_malloc(strlen(csrf) + 1);
		memcpy(t.r.csrf_token, csrf, strlen(csrf) + 1);
	}
	t.r.state_changing = post;
	snprintf(t.r.ip, sizeof t.r.ip, "127.0.0.1");
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, resolve_tx, &t), 0);
	sr_auth_request_clear(&t.r);
	if (ctx != NULL)
		*ctx = t.ctx;
	return t.result;
}

static void sql(struct acc_fixture *f, const char *q, const char *a, const char *b)
{
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, q, &s), 0);
	if (a != NULL)
		assert_int_equal(sr_stmt_bind_text(s, 1, a, strlen(a)), 0);
	if (b != NULL)
		assert_int_equal(sr_stmt_bind_text(s, 2, b, strlen(b)), 0);
	assert_true(sr_stmt_step(s) >= 0);
	sr_stmt_done(s);
	sr_store_release(c);
}

/* A session for a new member, created `age_s` ago, last seen `idle_s` ago. */
static void make_session(struct acc_fixture *f, char user[SR_USER_ID_SIZE], int64_t age_s,
			 int64_t idle_s, bool restricted)
{
	char th[SR_ACCOUNTS_HASH_HEX], ch[SR_ACCOUNTS_HASH_HEX];
	char created[SR_ACC_TIME_SIZE], seen[SR_ACC_TIME_SIZE], q[1024];
	acc_member(f, "erin@example.test", "Erin Example", user);
	sr_accounts_keyed_hash(f->acc, "session", TOKEN, strlen(TOKEN), th);
	sr_accounts_keyed_hash(f->acc, "csrf", CSRF, strlen(CSRF), ch);
	int64_t now = sr_acc_now_ms();
	sr_acc_time_text(now - age_s * 1000, created);
	sr_acc_time_text(now - idle_s * 1000, seen);
	snprintf(q, sizeof q,
		 "INSERT INTO sessions (id, token_hash, user_id, csrf_hash, created_at, "
		 "last_seen_at, auth_time, restricted, ip, user_agent, device_hash) VALUES "
		 "('ses_t', '%s', $1, '%s', '%s', '%s', '%s', %d, '127.0.0.1', 'ua', 'd')",
		 th, ch, created, seen, created, restricted ? 1 : 0);
	sql(f, q, user, NULL);
}

static void test_cookie_and_csrf(void **state)
{
	struct acc_fixture *f = *state;
	char user[SR_USER_ID_SIZE];
	struct sr_auth_ctx ctx;
	make_session(f, user, 10, 5, false);
	assert_int_equal(resolve(f, NULL, NULL, false, false, NULL), SR_AUTH_NO_SESSION);
	assert_int_equal(resolve(f, "some-other-token", NULL, false, false, NULL),
			 SR_AUTH_NO_SESSION);
	assert_int_equal(resolve(f, TOKEN, NULL, false, false, &ctx), SR_AUTH_OK);
	assert_string_equal(ctx.user_id, user);
	assert_string_equal(ctx.session_id, "ses_t");
	assert_int_equal(ctx.role, SR_ROLE_MEMBER);
	assert_true(ctx.email_verified); /* created by an operator */
	assert_false(ctx.mfa_enabled);
	/* Writes need the session's own CSRF token. */
	assert_int_equal(resolve(f, TOKEN, NULL, true, false, NULL), SR_AUTH_CSRF);
	assert_int_equal(resolve(f, TOKEN, "csrf-of-someone-else", true, false, NULL),
			 SR_AUTH_CSRF);
	assert_int_equal(resolve(f, TOKEN, TOKEN, true, false, NULL), SR_AUTH_CSRF);
	assert_int_equal(resolve(f, TOKEN, CSRF, true, false, &ctx), SR_AUTH_OK);
	/* The token itself is not in the table, only its keyed hash. */
	assert_int_equal(resolve(f, "ses_t", NULL, false, false, NULL), SR_AUTH_NO_SESSION);
}

static void test_idle_timeout(void **state)
{
	struct acc_fixture *f = *state;
	char user[SR_USER_ID_SIZE];
	make_session(f, user, 100, 61, false); /* idle 60 s */
	assert_int_equal(resolve(f, TOKEN, NULL, false, false, NULL), SR_AUTH_EXPIRED);
	/* Marked revoked: it stays ended even if the clock were wrong later. */
	sql(f, "UPDATE sessions SET last_seen_at = created_at WHERE id = 'ses_t'", NULL, NULL);
	assert_int_equal(resolve(f, TOKEN, NULL, false, false, NULL), SR_AUTH_EXPIRED);
}

static void test_absolute_timeout(void **state)
{
	struct acc_fixture *f = *state;
	char user[SR_USER_ID_SIZE];
	make_session(f, user, 601, 1, false); /* absolute 600 s */
	assert_int_equal(resolve(f, TOKEN, NULL, false, false, NULL), SR_AUTH_EXPIRED);
}

static void test_revoked(void **state)
{
	struct acc_fixture *f = *state;
	char user[SR_USER_ID_SIZE];
	int64_t n = -1;
	make_session(f, user, 10, 1, false);
	struct sr_conn *c = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_auth_revoke_sessions(c, user, "ses_t", "test", &n), 0);
	assert_int_equal(n, 0); /* kept */
	assert_int_equal(sr_auth_revoke_sessions(c, user, NULL, "test", &n), 0);
	assert_int_equal(n, 1);
	sr_store_release(c);
	assert_int_equal(resolve(f, TOKEN, NULL, false, false, NULL), SR_AUTH_EXPIRED);
}

static void test_restricted_and_recent(void **state)
{
	struct acc_fixture *f = *state;
	char user[SR_USER_ID_SIZE];
	struct sr_auth_ctx ctx;
	make_session(f, user, 10, 1, true);
	assert_int_equal(resolve(f, TOKEN, NULL, false, false, NULL), SR_AUTH_RESTRICTED);
	assert_int_equal(resolve(f, TOKEN, NULL, false, true, &ctx), SR_AUTH_OK);
	assert_true(ctx.restricted);
	/* auth_time 10 s ago, window 30 s. */
	assert_true(sr_auth_recent(f->acc, &ctx));
	ctx.auth_time -= 25;
	assert_false(sr_auth_recent(f->acc, &ctx));
}

static int fail_tx(struct sr_conn *c, void *arg)
{
	void **a = arg;
	struct acc_fixture *f = a[0];
	unsigned delay = 0;
	return sr_auth_record_failure(c, f->acc, a[1], NULL, "password", &delay);
}

static void test_lockout_counter(void **state)
{
	struct acc_fixture *f = *state;
	char user[SR_USER_ID_SIZE];
	int64_t until = 0;
	acc_member(f, "frank@example.test", "Frank Example", user);
	void *a[] = {f, user};
	struct sr_conn *c = NULL;
	for (int i = 0; i < 2; i++)
		assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, fail_tx, a), 0);
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_auth_check_locked(c, user, &until), 0);
	assert_int_equal(until, 0);
	sr_store_release(c);
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, fail_tx, a), 0); /* threshold 3 */
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_auth_check_locked(c, user, &until), 0);
	assert_true(until > sr_acc_now_ms() / 1000 + 1700); /* 30 minutes */
	assert_int_equal(sr_auth_record_success(c, user), 0);
	assert_int_equal(sr_auth_check_locked(c, user, &until), 0);
	assert_int_equal(until, 0);
	sr_store_release(c);
}

static void test_email_normalisation(void **state)
{
	(void)state;
	char out[255];
	assert_int_equal(sr_accounts_normalise_email("  Ada.L@Example.COM ", 20, out), 0);
	assert_string_equal(out, "ada.l@example.com");
	const char *bad[] = {"",
			     "ada",
			     "@example.com",
			     "ada@",
			     "ada@example",
			     "a@b@c.com",
			     "ada@.com",
			     "ada@example..com",
			     "a da@example.com",
			     "ada@exa\"mple.com",
			     ".ada@example.com",
			     "ada.@example.com"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sr_accounts_normalise_email(bad[i], strlen(bad[i]), out),
				 SR_E_INVAL);
}

static void test_capture(void **state)
{
	(void)state;
	struct sr_http_header h[] = {
		{"Cookie", "theme=dark; __Host-strongroom_session=abc123; other=1"},
		{"X-CSRF-Token", "csrf-value"},
		{"User-Agent", "Agent\x01With\xc3\xa9"
			       "Bytes"},
	};
	struct sr_http_req req = {.method = "DELETE",
				  .path = "/",
				  .query = "",
				  .headers = h,
				  .nheaders = 3,
				  .remote_ip = "192.0.2.7",
				  .request_id = "req_1"};
	struct sr_auth_request r;
	sr_auth_capture(&req, &r);
	assert_string_equal(r.session_token, "abc123");
	assert_string_equal(r.csrf_token, "csrf-value");
	assert_string_equal(r.ip, "192.0.2.7");
	assert_string_equal(r.user_agent, "Agent?With??Bytes");
	assert_true(r.state_changing);
	sr_auth_request_clear(&r);
	assert_null(r.session_token);
	req.method = "GET";
	h[0].value = "__Host-strongroom_sessionx=evil; strongroom_session=abc";
	sr_auth_capture(&req, &r);
	assert_null(r.session_token);
	assert_false(r.state_changing);
	sr_auth_request_clear(&r);
}

static int setup_sqlite(void **state)
{
	*state = acc_setup(SR_STORE_SQLITE);
	return 0;
}
static int setup_pg(void **state)
{
	*state = acc_setup(SR_STORE_POSTGRES);
	return 0;
}
static int teardown(void **state)
{
	acc_teardown(*state);
	return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(test_cookie_and_csrf), T(test_idle_timeout), T(test_absolute_timeout), T(test_revoked),  \
		T(test_restricted_and_recent), T(test_lockout_counter)

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest pure[] = {cmocka_unit_test(test_email_normalisation),
					  cmocka_unit_test(test_capture)};
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("auth", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("auth/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("auth/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_auth");
	return failed;
}
