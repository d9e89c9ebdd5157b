/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Member events (platform/events.c) on both backends: a money event queues
 * the email to the member's decrypted address and a marketplace webhook
 * without personal data; the SMS only once the member opted in AND the
 * phone is verified; recording the same event twice queues nothing more;
 * code-carrying account mail sends no webhook; a member whose key was
 * shredded gets SR_E_NOTFOUND; a rolled-back transaction leaves nothing.
 * The outbox holds no address, phone number or one-time code in clear: the
 * delivery hook (sr_events_open_outbox) finds the member's current ones, or
 * opens the sealed ones, only for the row they were sealed for, and not at
 * all once the member's key is destroyed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "platform/events.h"
#include "platform/pii.h"
#include "store/migrate.h"

#include "store_testdb.h"

#define MEMBER "usr_0123456789abcdef0123456789abcdef"

struct fixture {
	struct testdb db;
	struct sr_store *st;
	struct sr_pii *pii;
};

static int exec_sql(struct sr_conn *c, const char *sql, const char *a, const void *blob,
		    size_t blen)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0 && a != NULL)
		rc = sr_stmt_bind_text(s, 1, a, strlen(a));
	if (rc == 0 && blob != NULL)
		rc = sr_stmt_bind_blob(s, 2, blob, blen);
	if (rc == 0 && (rc = sr_stmt_step(s)) > 0)
		rc = 0;
	sr_stmt_done(s);
	return rc;
}

/* A member with a sealed address, as sign-up leaves it. */
static int add_member_tx(struct sr_conn *c, void *arg)
{
	struct fixture *f = arg;
	struct sr_pii_member_key *k = NULL;
	unsigned char *email = NULL, *name = NULL;
	size_t elen = 0, nlen = 0;
	int rc = exec_sql(c,
			  "INSERT INTO users (id, email_lookup, email_sealed, name_sealed, "
			  "password_hash, password_changed_at, created_at) VALUES ($1, 'lookup', "
			  "$2, $2, 'x', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
			  MEMBER, "", 0);
	if (rc == 0)
		rc = sr_pii_create_member_key(c, f->pii, MEMBER, &k);
	if (rc == 0)
		rc = sr_pii_seal_with(k, SR_PII_FIELD_EMAIL, "ada@example.org", 15, &email, &elen);
	if (rc == 0)
		rc = sr_pii_seal_with(k, SR_PII_FIELD_NAME, "Ada", 3, &name, &nlen);
	if (rc == 0)
		rc = exec_sql(c, "UPDATE users SET email_sealed = $2 WHERE id = $1", MEMBER, email,
			      elen);
	sr_pii_member_key_free(k);
	free(email);
	free(name);
	return rc;
}

/* The member's phone (sealed) with the verified flag, and the SMS choice. */
struct phone_args {
	struct fixture *f;
	int verified, sms;
};
static int set_phone_tx(struct sr_conn *c, void *arg)
{
	struct phone_args *p = arg;
	unsigned char *blob = NULL;
	size_t blen = 0;
	int rc = sr_pii_seal(c, p->f->pii, MEMBER, "phone", "+15005550006", 12, &blob, &blen);
	char sql[512];
	snprintf(sql, sizeof sql,
		 "INSERT INTO member_profile (user_id, phone_sealed, phone_verified, updated_at) "
		 "VALUES ($1, $2, %d, 'now') ON CONFLICT (user_id) DO UPDATE SET phone_verified = "
		 "%d",
		 p->verified, p->verified);
	if (rc == 0)
		rc = exec_sql(c, sql, MEMBER, blob, blen);
	snprintf(sql, sizeof sql,
		 "INSERT INTO notification_prefs (user_id, sms_enabled, updated_at) VALUES ($1, "
		 "%d, 'now') ON CONFLICT (user_id) DO UPDATE SET sms_enabled = %d",
		 p->sms, p->sms);
	if (rc == 0)
		rc = exec_sql(c, sql, MEMBER, NULL, 0);
	free(blob);
	return rc;
}

struct record_args {
	struct fixture *f;
	struct sr_member_event ev;
	struct sr_event_refs refs;
	int rc;
	bool rollback;
};
static int record_tx(struct sr_conn *c, void *arg)
{
	struct record_args *r = arg;
	r->rc = sr_events_record(c, r->f->pii, &r->ev, &r->refs);
	if (r->rc == 0 && r->rollback)
		return SR_E_CONFLICT; /* the caller's change failed after the event */
	return r->rc;
}

static int record(struct fixture *f, const char *name, const char *object_id, const char *vars,
		  struct sr_event_refs *refs)
{
	struct record_args r = {.f = f,
				.ev = {.name = name,
				       .object_id = object_id,
				       .member_id = MEMBER,
				       .variables_json = vars}};
	int rc = sr_store_tx(f->st, SR_TX_WRITE, record_tx, &r);
	if (refs != NULL)
		*refs = r.refs;
	return rc != 0 ? rc : r.rc;
}

/* One text column of the first row of sql (bound to a), "" for none. */
struct query_args {
	const char *sql, *a;
	char out[2048];
	long long count;
};
static int query_tx(struct sr_conn *c, void *arg)
{
	struct query_args *q = arg;
	struct sr_stmt *s = NULL;
	q->out[0] = '\0';
	q->count = 0;
	int rc = sr_stmt_prepare(c, q->sql, &s);
	if (rc == 0 && q->a != NULL)
		rc = sr_stmt_bind_text(s, 1, q->a, strlen(q->a));
	while (rc == 0 && (rc = sr_stmt_step(s)) == 1) {
		if (q->count++ == 0)
			snprintf(q->out, sizeof q->out, "%s", sr_stmt_col_text(s, 0, NULL));
		rc = 0;
	}
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}
static struct query_args query(struct fixture *f, const char *sql, const char *a)
{
	struct query_args q = {.sql = sql, .a = a};
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, query_tx, &q), 0);
	return q;
}

static int setup(void **state, enum sr_store_kind kind)
{
	struct fixture *f = calloc(1, sizeof *f);
	char err[512];
	unsigned char kek[SR_PII_KEK_LEN];
	if (testdb_create(kind, &f->db) != 0) {
		free(f);
		return -1;
	}
	f->st = testdb_open(&f->db, 2, 5000);
	assert_non_null(f->st);
	assert_int_equal(sr_migrate(f->st, "platform", err, sizeof err), 0);
	randombytes_buf(kek, sizeof kek);
	assert_int_equal(sr_pii_from_bytes(kek, &f->pii), 0);
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, add_member_tx, f), 0);
	*state = f;
	return 0;
}
static int setup_sqlite(void **state)
{
	return setup(state, SR_STORE_SQLITE);
}
static int setup_pg(void **state)
{
	return setup(state, SR_STORE_POSTGRES);
}
static int teardown(void **state)
{
	struct fixture *f = *state;
	sr_pii_free(f->pii);
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
	return 0;
}

#define PAYOUT_VARS                                                                                \
	"{\"amount_minor\":12550,\"currency\":\"eur\",\"destination\":\"Visa card ending in "      \
	"4242\"}"

static void money_event_queues_email_and_webhook(void **state)
{
	struct fixture *f = *state;
	struct sr_event_refs refs;
	assert_int_equal(record(f, "payout_sent", "po_1", PAYOUT_VARS, &refs), 0);
	assert_true(strncmp(refs.email, "msg_", 4) == 0);
	assert_string_equal(refs.sms, ""); /* no phone, no opt-in */
	assert_true(strncmp(refs.webhook_event, "evt_", 4) == 0);

	/* The address is not stored: delivery resolves it at send time. */
	struct query_args q =
		query(f, "SELECT recipient FROM outbox WHERE reference = $1", refs.email);
	assert_string_equal(q.out, "");
	q = query(f, "SELECT payload FROM webhook_events WHERE id = $1", refs.webhook_event);
	assert_non_null(strstr(q.out, "\"type\":\"member.payout.sent\""));
	assert_non_null(strstr(q.out, "\"amount\":12550"));
	assert_non_null(strstr(q.out, refs.email));
	assert_null(strstr(q.out, "ada@example.org")); /* no personal data */

	/* The same event again (a retried caller, a redelivered vault
	 * webhook): the same references, nothing more queued. */
	struct sr_event_refs again;
	assert_int_equal(record(f, "payout_sent", "po_1", PAYOUT_VARS, &again), 0);
	assert_string_equal(again.email, refs.email);
	assert_string_equal(again.webhook_event, refs.webhook_event);
	assert_int_equal(query(f, "SELECT id FROM outbox", NULL).count, 1);
	assert_int_equal(query(f, "SELECT id FROM webhook_events", NULL).count, 1);
}

static void sms_needs_opt_in_and_verified_phone(void **state)
{
	struct fixture *f = *state;
	struct sr_event_refs refs;
	/* Opted in, phone not verified: email only. */
	struct phone_args p = {.f = f, .verified = 0, .sms = 1};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, set_phone_tx, &p), 0);
	assert_int_equal(record(f, "money_received", "ch_1", PAYOUT_VARS, &refs), 0);
	assert_string_equal(refs.sms, "");
	/* Verified, not opted in: email only. */
	p = (struct phone_args){.f = f, .verified = 1, .sms = 0};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, set_phone_tx, &p), 0);
	assert_int_equal(record(f, "money_received", "ch_2", PAYOUT_VARS, &refs), 0);
	assert_string_equal(refs.sms, "");
	/* Both: the SMS goes to the decrypted number, with its own reference. */
	p = (struct phone_args){.f = f, .verified = 1, .sms = 1};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, set_phone_tx, &p), 0);
	assert_int_equal(record(f, "money_received", "ch_3", PAYOUT_VARS, &refs), 0);
	assert_true(strncmp(refs.sms, "msg_", 4) == 0);
	assert_string_not_equal(refs.sms, refs.email);
	/* The number is not stored: delivery looks up the current one. */
	struct query_args q =
		query(f, "SELECT recipient FROM outbox WHERE reference = $1", refs.sms);
	assert_string_equal(q.out, "");
	/* Security events are email only, even for an opted-in member. */
	assert_int_equal(record(f, "password_changed", "evt_pw1", NULL, &refs), 0);
	assert_string_equal(refs.sms, "");
	q = query(f, "SELECT type FROM webhook_events WHERE id = $1", refs.webhook_event);
	assert_string_equal(q.out, "member.security.password_changed");
}

static void code_mail_sends_no_webhook(void **state)
{
	struct fixture *f = *state;
	struct sr_event_refs refs;
	assert_int_equal(record(f, "email_verification", "tok_1", "{\"code\":\"123456\"}", &refs),
			 0);
	assert_string_equal(refs.webhook_event, "");
	assert_int_equal(query(f, "SELECT id FROM webhook_events", NULL).count, 0);
}

static void bad_events_and_rollback_leave_nothing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(record(f, "payout_teleported", "po_1", PAYOUT_VARS, NULL), SR_E_INVAL);
	assert_int_equal(record(f, "payout_sent", "po 1", PAYOUT_VARS, NULL), SR_E_INVAL);
	/* A template that would have a hole (no destination) is refused now. */
	assert_int_equal(
		record(f, "payout_sent", "po_2", "{\"amount_minor\":1,\"currency\":\"EUR\"}", NULL),
		SR_E_INVAL);
	struct record_args r = {.f = f,
				.ev = {.name = "payout_sent",
				       .object_id = "po_3",
				       .member_id = MEMBER,
				       .variables_json = PAYOUT_VARS},
				.rollback = true};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, record_tx, &r), SR_E_CONFLICT);
	assert_int_equal(query(f, "SELECT id FROM outbox", NULL).count, 0);
	assert_int_equal(query(f, "SELECT id FROM webhook_events", NULL).count, 0);
}

static int shred_tx(struct sr_conn *c, void *arg)
{
	(void)arg;
	bool shredded = false;
	return sr_pii_shred(c, MEMBER, &shredded);
}

static void shredded_member_is_not_found(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, shred_tx, NULL), 0);
	assert_int_equal(record(f, "payout_sent", "po_1", PAYOUT_VARS, NULL), SR_E_NOTFOUND);
	assert_int_equal(query(f, "SELECT id FROM outbox", NULL).count, 0);
}

/* A row's sealed columns, read back for the delivery hook. */
struct opened {
	struct fixture *f;
	const char *ref;
	char key[256], channel[8];
	unsigned char *rblob, *sblob;
	size_t rlen, slen;
	char rcpt[320], secret[512];
	struct sr_delivery_open o;
	int rc;
};
static unsigned char *dup_blob(struct sr_stmt *s, int col, size_t *len)
{
	*len = 0;
	if (sr_stmt_col_is_null(s, col))
		return NULL;
	const void *b = sr_stmt_col_blob(s, col, len);
	unsigned char *p = malloc(*len + 1);
	memcpy(p, b, *len);
	return p;
}
static int load_row_tx(struct sr_conn *c, void *arg)
{
	struct opened *x = arg;
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c,
				 "SELECT dedup_key, channel, recipient_sealed, secret_sealed FROM "
				 "outbox WHERE reference = $1",
				 &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, x->ref, strlen(x->ref));
	if (rc == 0 && (rc = sr_stmt_step(s)) == 1) {
		snprintf(x->key, sizeof x->key, "%s", sr_stmt_col_text(s, 0, NULL));
		snprintf(x->channel, sizeof x->channel, "%s", sr_stmt_col_text(s, 1, NULL));
		x->rblob = dup_blob(s, 2, &x->rlen);
		x->sblob = dup_blob(s, 3, &x->slen);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}
static int open_tx(struct sr_conn *c, void *arg)
{
	struct opened *x = arg;
	x->rc = sr_events_open_outbox(c, x->f->pii, &x->o);
	return 0;
}
/* Opens the row of ref as the delivery job would; key NULL: its own. */
static void open_row(struct fixture *f, const char *ref, const char *key, struct opened *x)
{
	memset(x, 0, sizeof *x);
	x->f = f;
	x->ref = ref;
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, load_row_tx, x), 0);
	assert_true(x->key[0] != '\0');
	x->o = (struct sr_delivery_open){
		.member_id = MEMBER,
		.dedup_key = key ? key : x->key,
		.channel = strcmp(x->channel, "sms") == 0 ? SR_OUTBOX_SMS : SR_OUTBOX_EMAIL,
		.recipient_sealed = x->rblob,
		.recipient_sealed_len = x->rlen,
		.secret_sealed = x->sblob,
		.secret_sealed_len = x->slen,
		.recipient = x->rcpt,
		.recipient_cap = sizeof x->rcpt,
		.secret_json = x->secret,
		.secret_cap = sizeof x->secret,
	};
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, open_tx, x), 0);
	free(x->rblob);
	free(x->sblob);
}

static bool bytes_contain(const unsigned char *b, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; b != NULL && i + k <= n; i++)
		if (strncmp((const char *)b + i, needle, k) == 0)
			return true;
	return false;
}

/* Mail to an explicit address with a one-time code (an email change's
 * verification): the table shows neither; the hook opens both, for this
 * row only. */
static void outbox_holds_code_and_address_sealed(void **state)
{
	struct fixture *f = *state;
	struct sr_event_refs refs;
	struct record_args r = {.f = f,
				.ev = {.name = "email_verification",
				       .object_id = "tok_9",
				       .member_id = MEMBER,
				       .variables_json = "{\"code\":\"K7QF-2M9X-PP3A\"}",
				       .email_to = "new.home@example.net"}};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, record_tx, &r), 0);
	refs = r.refs;
	assert_string_equal(
		query(f, "SELECT recipient FROM outbox WHERE reference = $1", refs.email).out, "");
	assert_string_equal(
		query(f, "SELECT variables FROM outbox WHERE reference = $1", refs.email).out,
		"{}");
	struct opened x;
	open_row(f, refs.email, NULL, &x);
	assert_int_equal(x.rc, 0);
	assert_string_equal(x.rcpt, "new.home@example.net");
	assert_string_equal(x.secret, "{\"code\":\"K7QF-2M9X-PP3A\"}");
	/* The raw blobs hold neither in clear. */
	struct opened raw = {.f = f, .ref = refs.email};
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, load_row_tx, &raw), 0);
	assert_non_null(raw.rblob);
	assert_non_null(raw.sblob);
	assert_false(bytes_contain(raw.rblob, raw.rlen, "new.home"));
	assert_false(bytes_contain(raw.sblob, raw.slen, "K7QF"));
	free(raw.rblob);
	free(raw.sblob);
	/* Sealed for this row: presented as another row's, they do not open. */
	open_row(f, refs.email, "email_verification:tok_10:email", &x);
	assert_int_equal(x.rc, SR_E_CRYPTO);
	assert_string_equal(x.rcpt, "");
	assert_string_equal(x.secret, "");
}

/* An SMS goes to the number verified when it is SENT: removed or no longer
 * verified in the meantime, it is not texted. Mail goes to the current
 * address. After the key is destroyed nothing opens. */
static void current_recipient_at_send_time(void **state)
{
	struct fixture *f = *state;
	struct sr_event_refs refs;
	struct phone_args p = {.f = f, .verified = 1, .sms = 1};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, set_phone_tx, &p), 0);
	assert_int_equal(record(f, "money_received", "ch_7", PAYOUT_VARS, &refs), 0);
	struct opened x;
	open_row(f, refs.sms, NULL, &x);
	assert_int_equal(x.rc, 0);
	assert_string_equal(x.rcpt, "+15005550006");
	assert_string_equal(x.secret, "");
	open_row(f, refs.email, NULL, &x);
	assert_int_equal(x.rc, 0);
	assert_string_equal(x.rcpt, "ada@example.org");

	p.verified = 0; /* the member changed the number; the new one is unverified */
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, set_phone_tx, &p), 0);
	open_row(f, refs.sms, NULL, &x);
	assert_int_equal(x.rc, SR_E_NOTFOUND);
	assert_string_equal(x.rcpt, "");
	assert_non_null(strstr(x.o.reason, "verified phone"));

	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, shred_tx, NULL), 0);
	open_row(f, refs.email, NULL, &x);
	assert_int_equal(x.rc, SR_E_NOTFOUND);
	assert_string_equal(x.rcpt, "");
	assert_non_null(strstr(x.o.reason, "erased"));
	assert_null(strstr(x.o.reason, "ada"));
}

static void names_and_types(void **state)
{
	(void)state;
	assert_true(sr_events_is_transaction("payout_failed"));
	assert_false(sr_events_is_transaction("password_changed"));
	assert_string_equal(sr_events_webhook_type("money_received"), "member.money.received");
	assert_null(sr_events_webhook_type("password_reset"));
	assert_null(sr_events_webhook_type("nope"));
}

int main(void)
{
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test(names_and_types),
		cmocka_unit_test_setup_teardown(money_event_queues_email_and_webhook, setup_sqlite,
						teardown),
		cmocka_unit_test_setup_teardown(sms_needs_opt_in_and_verified_phone, setup_sqlite,
						teardown),
		cmocka_unit_test_setup_teardown(code_mail_sends_no_webhook, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(bad_events_and_rollback_leave_nothing, setup_sqlite,
						teardown),
		cmocka_unit_test_setup_teardown(shredded_member_is_not_found, setup_sqlite,
						teardown),
		cmocka_unit_test_setup_teardown(outbox_holds_code_and_address_sealed, setup_sqlite,
						teardown),
		cmocka_unit_test_setup_teardown(current_recipient_at_send_time, setup_sqlite,
						teardown),
	};
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup_teardown(money_event_queues_email_and_webhook, setup_pg,
						teardown),
		cmocka_unit_test_setup_teardown(sms_needs_opt_in_and_verified_phone, setup_pg,
						teardown),
		cmocka_unit_test_setup_teardown(code_mail_sends_no_webhook, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(bad_events_and_rollback_leave_nothing, setup_pg,
						teardown),
		cmocka_unit_test_setup_teardown(shredded_member_is_not_found, setup_pg, teardown),
		cmocka_unit_test_setup_teardown(outbox_holds_code_and_address_sealed, setup_pg,
						teardown),
		cmocka_unit_test_setup_teardown(current_recipient_at_send_time, setup_pg, teardown),
	};
	int failed = cmocka_run_group_tests_name("events_sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("events_postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_events");
	return failed;
}
