/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The notification outbox and its delivery job, end to end on both
 * backends (SQLite in a temp folder; PostgreSQL in a fresh database at
 * SR_TEST_PG_URL, loudly skipped when unset) with the real aiosmtpd server
 * and the fake Twilio API of tests/tools/: a rolled-back enqueue sends
 * nothing; a committed one arrives once, DKIM-valid, with the anti-phishing
 * code and reference; duplicates send once; 451s are retried; 550 fails; an
 * expired lease is taken over; two workers deliver each row once; the
 * development maildir and SMS work. A member's row keeps no recipient and
 * no one-time code in clear: only the sealed blobs the caller gave (here a
 * stand-in "sealing": the notify layer never sees a key), opened through
 * the delivery hook at send time; a row whose blobs cannot be opened any
 * more (the member's key destroyed) fails at once without a send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "cmd/init.h"
#include "platform/notify/delivery.h"
#include "platform/notify/outbox.h"
#include "store/migrate.h"

#include "notify_test.h"
#include "store_testdb.h"

#include <dirent.h>

struct fixture {
	enum sr_store_kind kind;
	struct testdb db;
	struct sr_store *st;
	struct sr_config *cfg;
	char dir[64], inst[128], out[128];
	pid_t server;
	char err[512];
};

static int code_lookup(void *arg, const char *member_id, char *code, size_t len)
{
	(void)arg;
	snprintf(code, len, "%s", strcmp(member_id, "usr_1") == 0 ? "PLUM-42" : "");
	return 0;
}

/*
 * The stand-in for the platform's hook: a "sealed" blob is "sealed:<dedup
 * key>:<value>" (the real one is AES-GCM under the member's data key,
 * tests/unit/test_events.c); no blob means the member's current address or
 * phone. open_calls counts calls; open_rc forces a failure.
 */
static int open_calls;
static int open_rc;
#define CURRENT_ADDR  "member@example.com"
#define CURRENT_PHONE "+447700900123"

static int fake_unseal(const char *dedup_key, const unsigned char *blob, size_t len, char *out,
		       size_t cap)
{
	char prefix[256];
	int n = snprintf(prefix, sizeof prefix, "sealed:%s:", dedup_key);
	if (len < (size_t)n || strncmp((const char *)blob, prefix, (size_t)n) != 0 ||
	    len - (size_t)n >= cap)
		return SR_E_CRYPTO;
	memcpy(out, blob + n, len - (size_t)n);
	out[len - (size_t)n] = '\0';
	return 0;
}

static int fake_open(void *arg, struct sr_delivery_open *o)
{
	(void)arg;
	open_calls++;
	if (open_rc != 0) {
		if (open_rc == SR_E_NOTFOUND)
			snprintf(o->reason, sizeof o->reason,
				 "the member's personal data was erased");
		return open_rc;
	}
	int rc = 0;
	if (o->recipient_sealed != NULL)
		rc = fake_unseal(o->dedup_key, o->recipient_sealed, o->recipient_sealed_len,
				 o->recipient, o->recipient_cap);
	else
		snprintf(o->recipient, o->recipient_cap, "%s",
			 o->channel == SR_OUTBOX_SMS ? CURRENT_PHONE : CURRENT_ADDR);
	if (rc == 0 && o->secret_sealed != NULL)
		rc = fake_unseal(o->dedup_key, o->secret_sealed, o->secret_sealed_len,
				 o->secret_json, o->secret_cap);
	return rc;
}

static const struct sr_delivery_hooks hooks = {.anti_phishing_code = code_lookup,
					       .open = fake_open};

/* "sealed:<key>:<value>" as bytes, for items; free() it. */
static unsigned char *fake_seal(const char *key, const char *value, size_t *len)
{
	char *b = NULL;
	assert_true(asprintf(&b, "sealed:%s:%s", key, value) > 0);
	*len = strlen(b);
	return (unsigned char *)b;
}

static int setup(void **state, enum sr_store_kind kind)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->kind = kind;
	nt_mkdtemp(f->dir, sizeof f->dir, "outbox");
	snprintf(f->inst, sizeof f->inst, "%s/inst", f->dir);
	snprintf(f->out, sizeof f->out, "%s/out", f->dir);
	assert_int_equal(mkdir(f->out, 0700), 0);
	if (sr_init_instance(f->inst, false, f->err, sizeof f->err) != 0)
		fail_msg("init: %s", f->err);
	assert_int_equal(testdb_create(kind, &f->db), 0);
	f->st = testdb_open(&f->db, 4, 5000);
	assert_non_null(f->st);
	assert_int_equal(sr_migrate(f->st, "platform", f->err, sizeof f->err), 0);
	/* Fast retries and leases for tests. */
	setenv("STRONGROOM_NOTIFY_RETRY_BASE_MS", "20", 1);
	setenv("STRONGROOM_NOTIFY_RETRY_MAX_MS", "100", 1);
	setenv("STRONGROOM_NOTIFY_POLL_MS", "10", 1);
	setenv("STRONGROOM_NOTIFY_BATCH", "4", 1);
	open_calls = 0;
	open_rc = 0;
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
	nt_stop(f->server);
	sr_config_free(f->cfg);
	sr_store_close(f->st);
	testdb_drop(&f->db);
	nt_rmrf(f->dir);
	unsetenv("STRONGROOM_EMAIL_SMTP_URL");
	free(f);
	return 0;
}

/* Starts the SMTP server (extra args may be NULL) and loads the config
 * pointing at it; smtp false: the development maildir. */
static void configure(struct fixture *f, bool smtp, const char *a1, const char *a2)
{
	char url[128] = "", conf[256];
	if (smtp) {
		const char *args[] = {"--out", f->out, a1, a2, NULL};
		int port = nt_start("smtp_server.py", args, &f->server);
		snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
	}
	setenv("STRONGROOM_EMAIL_SMTP_URL", url, 1);
	snprintf(conf, sizeof conf, "%s/strongroom.conf", f->inst);
	if (sr_config_load(conf, &f->cfg, f->err, sizeof f->err) != 0)
		fail_msg("config: %s", f->err);
}

struct enq {
	struct sr_outbox_item item;
	char ref[SR_OUTBOX_ID_SIZE];
	int fail; /* the caller's transaction fails after the enqueue */
};

static int enq_tx(struct sr_conn *c, void *arg)
{
	struct enq *e = arg;
	int rc = sr_outbox_enqueue(c, &e->item, e->ref);
	return rc != 0 ? rc : e->fail;
}

/* A member's payout mail to `to`, sealed (NULL: the member's current
 * address). */
static void enqueue(struct fixture *f, const char *key, const char *to, char ref[SR_OUTBOX_ID_SIZE])
{
	size_t blen = 0;
	unsigned char *blob = to ? fake_seal(key, to, &blen) : NULL;
	struct enq e = {.item = {.dedup_key = key,
				 .channel = SR_OUTBOX_EMAIL,
				 .member_id = "usr_1",
				 .recipient = to,
				 .recipient_sealed = blob,
				 .recipient_sealed_len = blen,
				 .template_name = "payout_sent",
				 .variables_json = "{\"amount_minor\":123456,\"currency\":\"eur\","
						   "\"destination\":\"card •••• 4242\"}"}};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	free(blob);
	if (ref != NULL)
		memcpy(ref, e.ref, SR_OUTBOX_ID_SIZE);
}

struct rowq {
	const char *key;
	char state[16];
	int64_t attempts;
	int64_t count;
};

static int rowq_tx(struct sr_conn *c, void *arg)
{
	struct rowq *q = arg;
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, "SELECT state, attempts FROM outbox WHERE dedup_key = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, q->key, strlen(q->key));
	if (rc == 0 && (rc = sr_stmt_step(s)) == 1) {
		snprintf(q->state, sizeof q->state, "%s", sr_stmt_col_text(s, 0, NULL));
		q->attempts = sr_stmt_col_i64(s, 1);
	}
	sr_stmt_done(s);
	s = NULL;
	if (rc >= 0 && (rc = sr_stmt_prepare(c, "SELECT COUNT(*) FROM outbox", &s)) == 0 &&
	    (rc = sr_stmt_step(s)) == 1)
		q->count = sr_stmt_col_i64(s, 0);
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

static struct rowq row(struct fixture *f, const char *key)
{
	struct rowq q = {.key = key};
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, rowq_tx, &q), 0);
	return q;
}

static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);
		if (e->d_name[0] != '.' && l >= sl && strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void run_until_idle(struct sr_delivery *d, int max_passes)
{
	for (int i = 0; i < max_passes; i++) {
		size_t n = 0;
		assert_int_equal(sr_delivery_run_once(d, &n), 0);
		usleep(30000);
	}
}

static void rollback_commit_dedup(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	char ref[SR_OUTBOX_ID_SIZE], ref2[SR_OUTBOX_ID_SIZE], path[256], out[1024];
	configure(f, true, NULL, NULL);
	if (sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err) != 0)
		fail_msg("delivery: %s", f->err);

	/* The event's transaction fails: its notification goes with it. */
	struct enq e = {.item = {.dedup_key = "payout_sent:po_0:email",
				 .channel = SR_OUTBOX_EMAIL,
				 .recipient = "member@example.com",
				 .template_name = "payout_sent",
				 .variables_json = "{\"amount_minor\":1,\"currency\":\"EUR\","
						   "\"destination\":\"x\"}"},
			.fail = SR_E_CONFLICT};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_CONFLICT);
	assert_int_equal(row(f, "payout_sent:po_0:email").count, 0);

	enqueue(f, "payout_sent:po_1:email", "member@example.com", ref);
	enqueue(f, "payout_sent:po_1:email", "member@example.com", ref2);
	assert_string_equal(ref, ref2);
	assert_int_equal(strncmp(ref, "msg_", 4), 0);
	run_until_idle(d, 3);
	struct rowq q = row(f, "payout_sent:po_1:email");
	assert_string_equal(q.state, "sent");
	assert_int_equal(q.attempts, 1);
	assert_int_equal(q.count, 1);
	assert_int_equal(count_files(f->out, ".eml"), 1);

	snprintf(path, sizeof path, "%s/1.eml", f->out);
	char *msg = nt_read(path, NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "PLUM-42"));
	assert_non_null(strstr(msg, ref));
	assert_non_null(strstr(msg, "Message-ID: <ntf_"));
	assert_non_null(strstr(msg, "Subject: Payout sent: 1234.56 EUR"));
	free(msg);
	snprintf(out, sizeof out, "%s/dkim-dns.txt", f->inst);
	const char *args[] = {path, out, NULL};
	char vout[1024];
	if (nt_run("dkim_verify.py", args, vout, sizeof vout) != 0)
		fail_msg("dkimpy: %s", vout);
	struct sr_delivery_stats stats;
	sr_delivery_stats(d, &stats);
	assert_int_equal(stats.sent, 1);
	sr_delivery_stop(d);
}

static void temporary_then_sent(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	configure(f, true, "--fail-first", "2");
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	enqueue(f, "k:451", "member@example.com", NULL);
	run_until_idle(d, 12);
	struct rowq q = row(f, "k:451");
	assert_string_equal(q.state, "sent");
	assert_int_equal(q.attempts, 3);
	assert_int_equal(count_files(f->out, ".eml"), 1);
	struct sr_delivery_stats stats;
	sr_delivery_stats(d, &stats);
	assert_int_equal(stats.retried, 2);
	assert_int_equal(stats.sent, 1);
	sr_delivery_stop(d);
}

static void permanent_fails(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	configure(f, true, NULL, NULL);
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	enqueue(f, "k:550", "reject@example.com", NULL);
	run_until_idle(d, 3);
	struct rowq q = row(f, "k:550");
	assert_string_equal(q.state, "failed");
	assert_int_equal(q.attempts, 1);
	struct sr_delivery_stats stats;
	sr_delivery_stats(d, &stats);
	assert_int_equal(stats.failed, 1);
	sr_delivery_stop(d);
}

static void expired_lease_taken_over(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	struct sr_outbox_row *rows = NULL;
	size_t n = 0;
	configure(f, true, NULL, NULL);
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	enqueue(f, "k:crash", "member@example.com", NULL);
	/* A worker claims it for 200 ms and dies. */
	assert_int_equal(sr_outbox_claim(f->st, "crashed", 200, 10, &rows, &n), 0);
	assert_int_equal(n, 1);
	char id[SR_OUTBOX_ID_SIZE];
	memcpy(id, rows[0].id, sizeof id);
	sr_outbox_row_free(&rows[0]);
	free(rows);
	/* Under the lease nobody else takes it. */
	size_t got = 9;
	assert_int_equal(sr_delivery_run_once(d, &got), 0);
	assert_int_equal(got, 0);
	usleep(300000);
	run_until_idle(d, 3);
	struct rowq q = row(f, "k:crash");
	assert_string_equal(q.state, "sent");
	assert_int_equal(q.attempts, 2);
	assert_int_equal(count_files(f->out, ".eml"), 1);
	/* The dead worker's late completion changes nothing. */
	bool owned = true;
	assert_int_equal(sr_outbox_mark_sent(f->st, id, "crashed", "late", &owned), 0);
	assert_false(owned);
	sr_delivery_stop(d);
}

static void two_workers_once_each(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *a = NULL, *b = NULL;
	configure(f, true, NULL, NULL);
	enum { N = 12 };
	char key[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "k:%d", i);
		enqueue(f, key, "member@example.com", NULL);
	}
	struct sr_delivery_hooks ha = hooks, hb = hooks;
	ha.instance_id = "worker-a";
	hb.instance_id = "worker-b";
	assert_int_equal(sr_delivery_start(f->st, f->cfg, &ha, &a, f->err, sizeof f->err), 0);
	assert_int_equal(sr_delivery_start(f->st, f->cfg, &hb, &b, f->err, sizeof f->err), 0);
	for (int i = 0; i < 200 && count_files(f->out, ".eml") < N; i++)
		usleep(50000);
	usleep(200000);
	sr_delivery_stop(a);
	sr_delivery_stop(b);
	assert_int_equal(count_files(f->out, ".eml"), N);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof key, "k:%d", i);
		struct rowq q = row(f, key);
		assert_string_equal(q.state, "sent");
		assert_int_equal(q.attempts, 1);
	}
}

static void maildir_mode(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	char path[256];
	configure(f, false, NULL, NULL);
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	enqueue(f, "k:maildir", "member@example.com", NULL);
	run_until_idle(d, 2);
	assert_string_equal(row(f, "k:maildir").state, "sent");
	snprintf(path, sizeof path, "%s/mail/new", f->inst);
	assert_int_equal(count_files(path, ""), 1);
	sr_delivery_stop(d);
}

static void sms_via_fake_twilio(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	char log[256], base[128], tok[256];
	snprintf(log, sizeof log, "%s/twilio.log", f->dir);
	const char *args[] = {"--log", log, NULL};
	int port = nt_start("fake_twilio.py", args, &f->server);
	snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
	snprintf(tok, sizeof tok, "%s/sms.token", f->dir);
	nt_write(tok, "secret-token\n", 13);
	assert_int_equal(chmod(tok, 0400), 0);
	setenv("STRONGROOM_SMS_API_BASE", base, 1);
	setenv("STRONGROOM_SMS_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef", 1);
	setenv("STRONGROOM_SMS_AUTH_TOKEN_FILE", tok, 1);
	setenv("STRONGROOM_SMS_FROM", "+15005550006", 1);
	configure(f, false, NULL, NULL);
	unsetenv("STRONGROOM_SMS_API_BASE");
	unsetenv("STRONGROOM_SMS_ACCOUNT_SID");
	unsetenv("STRONGROOM_SMS_AUTH_TOKEN_FILE");
	unsetenv("STRONGROOM_SMS_FROM");
	if (sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err) != 0)
		fail_msg("delivery: %s", f->err);
	/* No recipient: the member's current verified number, at send time. */
	struct enq e = {.item = {.dedup_key = "money_received:tr_1:sms",
				 .channel = SR_OUTBOX_SMS,
				 .member_id = "usr_1",
				 .template_name = "money_received",
				 .variables_json = "{\"amount_minor\":500,\"currency\":\"JPY\"}"}};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	run_until_idle(d, 2);
	assert_string_equal(row(f, "money_received:tr_1:sms").state, "sent");
	char *got = nt_read(log, NULL);
	assert_non_null(got);
	assert_non_null(strstr(got, "Money received: 500 JPY"));
	assert_non_null(strstr(got, CURRENT_PHONE));
	assert_non_null(strstr(got, "PLUM-42"));
	assert_non_null(strstr(got, e.ref));
	free(got);
	sr_delivery_stop(d);
}

static void refuses_bad_items(void **state)
{
	struct fixture *f = *state;
	struct enq e = {.item = {.dedup_key = "k:bad",
				 .channel = SR_OUTBOX_EMAIL,
				 .recipient = "member@example.com",
				 .template_name = "payout_sent",
				 .variables_json = "{\"currency\":\"EUR\"}"}};
	/* The template needs amount and destination. */
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	e.item.template_name = "no_such_event";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_NOTFOUND);
	e.item.template_name = "mfa_enabled";
	e.item.recipient = "not an address";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	e.item.recipient = "member@example.com";
	e.item.dedup_key = "has space";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	assert_int_equal(row(f, "k:bad").count, 0);
}

/* Column 0 of `SELECT ... WHERE dedup_key = $1`, "NULL" for SQL NULL. */
struct colq {
	const char *sql, *key;
	char out[1024];
};
static int colq_tx(struct sr_conn *c, void *arg)
{
	struct colq *q = arg;
	struct sr_stmt *s = NULL;
	snprintf(q->out, sizeof q->out, "(no row)");
	int rc = sr_stmt_prepare(c, q->sql, &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, q->key, strlen(q->key));
	if (rc == 0 && (rc = sr_stmt_step(s)) == 1)
		snprintf(q->out, sizeof q->out, "%s",
			 sr_stmt_col_is_null(s, 0) ? "NULL" : sr_stmt_col_text(s, 0, NULL));
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}
static const char *col(struct fixture *f, const char *sql, const char *key)
{
	static struct colq q;
	q = (struct colq){.sql = sql, .key = key};
	assert_int_equal(sr_store_tx(f->st, SR_TX_READ, colq_tx, &q), 0);
	return q.out;
}

#define RESET_CODE "RST7-88XY-Z2K4"

/* What a DBA or a backup sees of a member's password-reset mail to an
 * explicit address while it waits (451s): no address, no code. Delivered,
 * it carries both; finished, the row keeps no blob either. */
static void member_secrets_stored_only_sealed(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	char path[256];
	const char *key = "password_reset:tok_1:email";
	configure(f, true, "--fail-first", "1");
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	size_t rlen = 0, slen = 0;
	unsigned char *rb = fake_seal(key, "old.address@example.net", &rlen);
	unsigned char *sb = fake_seal(key, "{\"code\":\"" RESET_CODE "\"}", &slen);
	struct enq e = {.item = {.dedup_key = key,
				 .channel = SR_OUTBOX_EMAIL,
				 .member_id = "usr_1",
				 .recipient = "old.address@example.net",
				 .recipient_sealed = rb,
				 .recipient_sealed_len = rlen,
				 .template_name = "password_reset",
				 .variables_json = "{}",
				 .secret_json = "{\"code\":\"" RESET_CODE "\"}",
				 .secret_sealed = sb,
				 .secret_sealed_len = slen}};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	free(rb);
	free(sb);
	run_until_idle(d, 1); /* refused with 451: waits for a retry */
	assert_string_equal(row(f, key).state, "pending");
	assert_string_equal(col(f, "SELECT recipient FROM outbox WHERE dedup_key = $1", key), "");
	assert_string_equal(col(f, "SELECT variables FROM outbox WHERE dedup_key = $1", key), "{}");
	assert_null(strstr(col(f, "SELECT last_error FROM outbox WHERE dedup_key = $1", key),
			   "old.address"));
	assert_string_equal(
		col(f,
		    "SELECT CASE WHEN recipient_sealed IS NOT NULL AND secret_sealed IS "
		    "NOT NULL THEN 'sealed' ELSE 'missing' END FROM outbox WHERE "
		    "dedup_key = $1",
		    key),
		"sealed");
	run_until_idle(d, 6);
	assert_string_equal(row(f, key).state, "sent");
	snprintf(path, sizeof path, "%s/1.eml", f->out);
	char *msg = nt_read(path, NULL);
	assert_non_null(msg);
	assert_non_null(strstr(msg, RESET_CODE));
	free(msg);
	snprintf(path, sizeof path, "%s/1.env", f->out);
	char *env = nt_read(path, NULL);
	assert_non_null(env);
	assert_non_null(strstr(env, "old.address@example.net"));
	free(env);
	assert_string_equal(
		col(f,
		    "SELECT CASE WHEN recipient_sealed IS NULL AND secret_sealed IS NULL THEN "
		    "'gone' ELSE 'kept' END FROM outbox WHERE dedup_key = $1",
		    key),
		"gone");
	sr_delivery_stop(d);
}

/* A member's recipient or one-time code offered in clear only is refused:
 * a caller that forgot to seal cannot leak into the table. */
static void refuses_clear_member_data(void **state)
{
	struct fixture *f = *state;
	size_t blen = 0;
	unsigned char *b = fake_seal("k:x", "{\"code\":\"1\"}", &blen);
	struct enq e = {.item = {.dedup_key = "k:x",
				 .channel = SR_OUTBOX_SMS,
				 .member_id = "usr_1",
				 .recipient = "+447700900123", /* and no sealed form */
				 .template_name = "phone_changed",
				 .variables_json = "{\"new_phone\":\"+*******0123\"}"}};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	/* A one-time code among the clear variables. */
	e.item = (struct sr_outbox_item){.dedup_key = "k:x",
					 .channel = SR_OUTBOX_EMAIL,
					 .member_id = "usr_1",
					 .template_name = "email_verification",
					 .variables_json = "{\"code\":\"ABCD-EFGH\"}"};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	/* A secret without its sealed form, or with no member to seal it for. */
	e.item.variables_json = "{}";
	e.item.secret_json = "{\"code\":\"1\"}";
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	e.item.member_id = NULL;
	e.item.recipient = "someone@example.com";
	e.item.secret_sealed = b;
	e.item.secret_sealed_len = blen;
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), SR_E_INVAL);
	assert_int_equal(row(f, "k:x").count, 0);
	/* Sealed properly, the same mail is accepted. */
	e.item.member_id = "usr_1";
	e.item.recipient = NULL;
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, enq_tx, &e), 0);
	assert_int_equal(row(f, "k:x").count, 1);
	free(b);
}

/* The member's data key is gone (DELETE /v1/me): the row fails at the
 * first attempt, says why without personal data, sends nothing and is not
 * retried. A hook that is only unavailable (starting) is retried. */
static void unopenable_row_fails_once(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	configure(f, true, NULL, NULL);
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	enqueue(f, "k:shredded", NULL, NULL);
	open_rc = SR_E_NOTFOUND;
	run_until_idle(d, 4);
	struct rowq q = row(f, "k:shredded");
	assert_string_equal(q.state, "failed");
	assert_int_equal(q.attempts, 1);
	assert_int_equal(open_calls, 1);
	assert_int_equal(count_files(f->out, ".eml"), 0);
	assert_non_null(
		strstr(col(f, "SELECT last_error FROM outbox WHERE dedup_key = $1", "k:shredded"),
		       "personal data was erased"));
	struct sr_delivery_stats stats;
	sr_delivery_stats(d, &stats);
	assert_int_equal(stats.failed, 1);
	assert_int_equal(stats.retried, 0);

	enqueue(f, "k:later", NULL, NULL);
	open_rc = SR_E_UNAVAILABLE;
	run_until_idle(d, 1);
	assert_string_equal(row(f, "k:later").state, "pending");
	open_rc = 0;
	run_until_idle(d, 4);
	assert_string_equal(row(f, "k:later").state, "sent");
	assert_int_equal(count_files(f->out, ".eml"), 1);
	sr_delivery_stop(d);
}

struct withdraw_args {
	unsigned n;
};

static int withdraw_tx(struct sr_conn *c, void *arg)
{
	struct withdraw_args *w = arg;
	return sr_outbox_withdraw(c, "usr_1", "payout_sent", "withdrawn: test", &w->n);
}

/* A voided code's mail: what waits is withdrawn, what a worker holds is
 * withdrawn too (the worker's outcome then changes nothing), what was sent
 * stays sent, and nothing withdrawn goes out afterwards. */
static void withdraw_waiting_rows(void **state)
{
	struct fixture *f = *state;
	struct sr_delivery *d = NULL;
	struct sr_outbox_row *rows = NULL;
	size_t n = 0;
	configure(f, true, NULL, NULL);
	assert_int_equal(sr_delivery_new(f->st, f->cfg, &hooks, &d, f->err, sizeof f->err), 0);
	enqueue(f, "k:sent", "member@example.com", NULL);
	run_until_idle(d, 1);
	assert_string_equal(row(f, "k:sent").state, "sent");
	enqueue(f, "k:held", "member@example.com", NULL);
	assert_int_equal(sr_outbox_claim(f->st, "worker", 60000, 10, &rows, &n), 0);
	assert_int_equal(n, 1);
	char id[SR_OUTBOX_ID_SIZE];
	memcpy(id, rows[0].id, sizeof id);
	sr_outbox_row_free(&rows[0]);
	free(rows);
	enqueue(f, "k:waiting", "member@example.com", NULL);

	struct withdraw_args w = {0};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, withdraw_tx, &w), 0);
	assert_int_equal(w.n, 2);
	assert_string_equal(row(f, "k:sent").state, "sent");
	assert_string_equal(row(f, "k:held").state, "failed");
	assert_string_equal(row(f, "k:waiting").state, "failed");
	/* The worker's SMTP attempt was refused: its retry finds the row gone. */
	assert_int_equal(sr_outbox_mark_retry(f->st, id, "worker", 10, false, "451"), 0);
	assert_string_equal(row(f, "k:held").state, "failed");
	run_until_idle(d, 3);
	assert_int_equal(count_files(f->out, ".eml"), 1);
	assert_string_equal(row(f, "k:waiting").state, "failed");
	sr_delivery_stop(d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, SETUP, teardown)
#define TESTS                                                                                      \
	T(rollback_commit_dedup), T(temporary_then_sent), T(permanent_fails),                      \
		T(expired_lease_taken_over), T(two_workers_once_each), T(maildir_mode),            \
		T(sms_via_fake_twilio), T(refuses_bad_items),                                      \
		T(member_secrets_stored_only_sealed), T(refuses_clear_member_data),                \
		T(unopenable_row_fails_once), T(withdraw_waiting_rows)

int main(void)
{
#define SETUP setup_sqlite
	const struct CMUnitTest sqlite_tests[] = {TESTS};
#undef SETUP
#define SETUP setup_pg
	const struct CMUnitTest pg_tests[] = {TESTS};
#undef SETUP
	int failed = cmocka_run_group_tests_name("outbox/sqlite", sqlite_tests, NULL, NULL);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("outbox/postgres", pg_tests, NULL, NULL);
	else
		testdb_pg_skip_notice("test_outbox");
	return failed;
}
