/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log against real databases, on both backends: SQLite in a
 * temporary folder, and PostgreSQL in a database of its own created under
 * SR_TEST_PG_URL (skipped, loudly, when unset). Each test writes a fresh
 * chain of records, tampers with it the way someone with database access
 * but without the audit key would, and checks that `verify` names the right
 * record and the right kind of damage. Also: concurrent appenders produce one
 * gap-free chain, a rolled-back transaction leaves no record, and the
 * checkpoint writer refuses to sign a head that does not match its record.
 */
#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "audit/verify.h"
#include "store/migrate.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_testdb.h"

#define RECORDS 20

struct fixture {
	struct sr_store *st;
	struct sr_audit_key *key, *wrong_key;
	struct sr_audit_signer *signer;
	char dir[64];
	char cp_path[128];
	struct testdb db; /* the database under test, either backend */
};

/* ---- setup --------------------------------------------------------------- */

static int exec_sql(struct sr_store *st, const char *sql)
{
	struct sr_conn *c = NULL;
	int rc = sr_store_acquire(st, &c);
	if (rc == 0)
		rc = sr_conn_exec(c, sql);
	sr_store_release(c);
	return rc;
}

static void migrate(struct fixture *f)
{
	char msg[512] = "";
	if (sr_migrate(f->st, "platform", msg, sizeof msg) != 0)
		fail_msg("migrate: %s", msg);
}

static void keys_new(struct fixture *f)
{
	uint8_t k[32];
	memset(k, 0x11, sizeof k);
	assert_int_equal(sr_audit_key_from_bytes(k, sizeof k, &f->key), 0);
	memset(k, 0x22, sizeof k);
	assert_int_equal(sr_audit_key_from_bytes(k, sizeof k, &f->wrong_key), 0);
	memset(k, 0x33, sizeof k);
	assert_int_equal(sr_audit_signer_from_seed(k, sizeof k, &f->signer), 0);
	snprintf(f->dir, sizeof f->dir, "/tmp/sr-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->cp_path, sizeof f->cp_path, "%s/audit/platform.checkpoints", f->dir);
}

static int setup_on(void **state, enum sr_store_kind kind)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	keys_new(f);
	assert_int_equal(testdb_create(kind, &f->db), 0);
	f->st = testdb_open(&f->db, 4, 10000);
	assert_non_null(f->st);
	migrate(f);
	*state = f;
	return 0;
}

static int setup_sqlite(void **state)
{
	return setup_on(state, SR_STORE_SQLITE);
}

static int setup_pg(void **state)
{
	if (testdb_pg_admin_url() == NULL) {
		*state = NULL;
		return 0;
	}
	return setup_on(state, SR_STORE_POSTGRES);
}

static void rm_tree(struct fixture *f)
{
	unlink(f->cp_path);
	char sub[160];
	snprintf(sub, sizeof sub, "%s/audit", f->dir);
	rmdir(sub);
	rmdir(f->dir);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f == NULL)
		return 0;
	sr_store_close(f->st);
	testdb_drop(&f->db);
	sr_audit_key_free(f->key);
	sr_audit_key_free(f->wrong_key);
	sr_audit_signer_free(f->signer);
	rm_tree(f);
	free(f);
	return 0;
}

/* An empty log (tables from the real migration, run once per group) and
 * RECORDS records. */
static int fresh_log(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	assert_int_equal(exec_sql(f->st, "DELETE FROM audit_log; DELETE FROM audit_head;"), 0);
	unlink(f->cp_path);
	for (int i = 1; i <= RECORDS; i++) {
		char obj[32], details[64];
		snprintf(obj, sizeof obj, "po_%d", i);
		snprintf(details, sizeof details, "{\"amount\":%d,\"currency\":\"EUR\"}", i * 100);
		struct sr_audit_event ev = {
			.actor_type = i % 3 ? "user" : "api_key",
			.actor_id = i % 3 ? "usr_42" : "key_7",
			.action = "payout.approve",
			.object_type = "payout",
			.object_id = obj,
			.outcome = i % 5 ? "success" : "denied",
			.ip = "192.0.2.1",
			.request_id = "req_abc",
			.details = details,
		};
		assert_int_equal(sr_audit_record(f->st, f->key, &ev), 0);
	}
	return 0;
}

#define NEED_DB()                                                                                  \
	struct fixture *f = *state;                                                                \
	if (f == NULL) {                                                                           \
		skip();                                                                            \
	}

static int verify(struct fixture *f, struct sr_audit_verify_result *res)
{
	int rc = sr_audit_verify(f->st, f->key, "platform", sr_audit_signer_public_key(f->signer),
				 f->cp_path, res);
	if (rc != 0)
		fprintf(stderr, "  verify: %s\n", res->message);
	return rc;
}

static void expect(struct fixture *f, enum sr_audit_problem p, int64_t seq, const char *words)
{
	struct sr_audit_verify_result res;
	assert_int_equal(verify(f, &res), SR_E_TAMPER);
	assert_string_equal(sr_audit_problem_name(res.problem), sr_audit_problem_name(p));
	assert_int_equal(res.bad_seq, seq);
	if (strstr(res.message, words) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", res.message, words);
}

/* Runs one SQL statement: $1 = a (if used), then either $2 = b or, when blob
 * is given, $2 = blob. PostgreSQL wants every placeholder used, so the
 * numbers stay contiguous. */
static void sql1(struct fixture *f, const char *sql, int64_t a, int64_t b, const void *blob,
		 size_t blen)
{
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	int rc;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0 && strstr(sql, "$1"))
		rc = sr_stmt_bind_i64(s, 1, a);
	if (rc == 0 && strstr(sql, "$2"))
		rc = blob != NULL ? sr_stmt_bind_blob(s, 2, blob, blen) : sr_stmt_bind_i64(s, 2, b);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	sr_store_release(c); /* before asserting, so a failure leaks no connection */
	if (rc < 0)
		fail_msg("%s: %s", sql, sr_strerror(rc));
}

static void hash_of(struct fixture *f, int64_t seq, uint8_t out[32])
{
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	size_t len = 0;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, "SELECT hash FROM audit_log WHERE seq = $1", &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, seq), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	const void *h = sr_stmt_col_blob(s, 0, &len);
	assert_int_equal(len, 32);
	memcpy(out, h, 32);
	sr_stmt_done(s);
	sr_store_release(c);
}

/* ---- tests --------------------------------------------------------------- */

static void test_intact(void **state)
{
	NEED_DB();
	struct sr_audit_verify_result res;
	struct sr_audit_checkpoint cp;

	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.records, RECORDS);
	assert_int_equal(res.last_seq, RECORDS);
	assert_true(res.no_checkpoint_file);
	assert_non_null(strstr(res.message, "platform audit log intact: 20 records, last seq 20"));

	assert_int_equal(sr_audit_checkpoint(f->st, f->key, f->signer, "platform", f->cp_path, &cp),
			 0);
	assert_int_equal(cp.seq, RECORDS);
	struct sr_audit_event ev = {.actor_type = "system",
				    .actor_id = "platform",
				    .action = "service.stop",
				    .outcome = "success"};
	assert_int_equal(sr_audit_record(f->st, f->key, &ev), 0);
	assert_int_equal(
		sr_audit_checkpoint(f->st, f->key, f->signer, "platform", f->cp_path, NULL), 0);
	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.records, RECORDS + 1);
	assert_int_equal(res.checkpoints, 2);
	assert_false(res.no_checkpoint_file);
	assert_non_null(strstr(res.message, "2 checkpoints verified"));

	/* the checkpoint file is private */
	struct stat sb;
	assert_int_equal(stat(f->cp_path, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	/* a platform checkpoint file does not verify as the vault's */
	assert_int_equal(sr_audit_verify(f->st, f->key, "vault",
					 sr_audit_signer_public_key(f->signer), f->cp_path, &res),
			 SR_E_TAMPER);
	assert_int_equal(res.problem, SR_AUDIT_CHECKPOINT_FILE);
	/* nor under another audit key */
	assert_int_equal(sr_audit_verify(f->st, f->wrong_key, "platform",
					 sr_audit_signer_public_key(f->signer), f->cp_path, &res),
			 SR_E_TAMPER);
	assert_int_equal(res.problem, SR_AUDIT_FORGED);
	assert_int_equal(res.bad_seq, 1);
}

static void test_changed_field(void **state)
{
	NEED_DB();
	sql1(f, "UPDATE audit_log SET details = '{\"amount\":1}' WHERE seq = $1", 17, 0, NULL, 0);
	expect(f, SR_AUDIT_CHANGED, 17, "record seq 17: hash mismatch — record was changed");
}

static void test_changed_action(void **state)
{
	NEED_DB();
	sql1(f, "UPDATE audit_log SET action = 'payout.reject' WHERE seq = $1", 3, 0, NULL, 0);
	expect(f, SR_AUDIT_CHANGED, 3, "record seq 3: hash mismatch");
}

static void test_deleted(void **state)
{
	NEED_DB();
	sql1(f, "DELETE FROM audit_log WHERE seq = $1", 17, 0, NULL, 0);
	expect(f, SR_AUDIT_DELETED, 17, "seq 17 missing — record deleted (found 18 after 16)");
}

static void test_deleted_first(void **state)
{
	NEED_DB();
	sql1(f, "DELETE FROM audit_log WHERE seq = $1", 1, 0, NULL, 0);
	expect(f, SR_AUDIT_DELETED, 1, "seq 1 missing");
}

/* Every column of a swapped with every column of b, seq kept. */
static void swap_rows(struct fixture *f, int64_t a, int64_t b)
{
	const char *sql =
		"UPDATE audit_log SET ts = o.ts, actor_type = o.actor_type, actor_id = o.actor_id, "
		"action = o.action, object_type = o.object_type, object_id = o.object_id, "
		"outcome = o.outcome, ip = o.ip, request_id = o.request_id, details = o.details, "
		"prev_hash = o.prev_hash, hash = o.hash, mac = o.mac FROM audit_log AS o "
		"WHERE audit_log.seq = $1 AND o.seq = $2";
	/* Park a in a spare row so both updates read the originals. */
	sql1(f,
	     "INSERT INTO audit_log SELECT -1, ts, actor_type, actor_id, action, object_type, "
	     "object_id, outcome, ip, request_id, details, prev_hash, hash, mac FROM audit_log "
	     "WHERE seq = $1",
	     a, 0, NULL, 0);
	sql1(f, sql, a, b, NULL, 0);
	sql1(f, sql, b, -1, NULL, 0);
	sql1(f, "DELETE FROM audit_log WHERE seq = $1", -1, 0, NULL, 0);
}

static void test_swapped(void **state)
{
	NEED_DB();
	swap_rows(f, 5, 6);
	expect(f, SR_AUDIT_REORDERED, 5,
	       "record seq 5: prev_hash does not match record 4 — records reordered");
}

struct append_arg {
	struct sr_audit_key *key;
	int n;
	bool fail_after;
};

static int append_tx(struct sr_conn *c, void *argp)
{
	struct append_arg *a = argp;
	struct sr_audit_event ev = {.actor_type = "user",
				    .actor_id = "usr_1",
				    .action = "member.update",
				    .outcome = "success",
				    .object_type = "member",
				    .object_id = "usr_1"};
	for (int i = 0; i < a->n; i++) {
		int rc = sr_audit_append(c, a->key, &ev);
		if (rc != 0)
			return rc;
	}
	return a->fail_after ? SR_E_CONFLICT : 0;
}

static void test_forged_wrong_key(void **state)
{
	NEED_DB();
	struct append_arg a = {f->wrong_key, 1, false};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, append_tx, &a), 0);
	expect(f, SR_AUDIT_FORGED, RECORDS + 1,
	       "record seq 21: MAC invalid — record forged or inserted without the audit key");
}

/* A record with a correct chain hash but no way to compute its MAC. */
static void test_forged_no_key(void **state)
{
	NEED_DB();
	struct sr_audit_record r;
	uint8_t hash[32], mac[32];

	memset(&r, 0, sizeof r);
	memset(mac, 0, sizeof mac);
	hash_of(f, RECORDS, r.prev_hash);
	r.seq = RECORDS + 1;
	r.ts = sr_audit_text_of("2026-01-01T00:00:00.000Z");
	r.actor_type = sr_audit_text_of("system");
	r.actor_id = sr_audit_text_of("platform");
	r.action = sr_audit_text_of("service.start");
	r.object_type = r.object_id = r.ip = r.request_id = sr_audit_text_of("");
	r.outcome = sr_audit_text_of("success");
	r.details = sr_audit_text_of("{}");
	sr_audit_chain_hash(&r, hash);
	sql1(f,
	     "INSERT INTO audit_log VALUES ($1, '2026-01-01T00:00:00.000Z', 'system', 'platform', "
	     "'service.start', '', '', 'success', '', '', '{}', $2, $2, $2)",
	     r.seq, 0, r.prev_hash, 32);
	/* fix hash and mac to the forger's best effort */
	sql1(f, "UPDATE audit_log SET hash = $2 WHERE seq = $1", r.seq, 0, hash, 32);
	sql1(f, "UPDATE audit_log SET mac = $2 WHERE seq = $1", r.seq, 0, mac, 32);
	sql1(f, "UPDATE audit_head SET seq = $1, hash = $2", r.seq, 0, hash, 32);
	expect(f, SR_AUDIT_FORGED, RECORDS + 1, "record seq 21: MAC invalid");
}

static void test_truncated_with_checkpoint(void **state)
{
	NEED_DB();
	uint8_t h15[32];
	struct sr_audit_verify_result res;

	assert_int_equal(
		sr_audit_checkpoint(f->st, f->key, f->signer, "platform", f->cp_path, NULL), 0);
	hash_of(f, 15, h15);
	sql1(f, "DELETE FROM audit_log WHERE seq > $1", 15, 0, NULL, 0);
	sql1(f, "UPDATE audit_head SET seq = $1, hash = $2", 15, 0, h15, 32);
	expect(f, SR_AUDIT_TRUNCATED, 16,
	       "log ends at seq 15 but checkpoint at seq 20 — tail truncated");

	/* The same cut without the checkpoint file cannot be seen: that is
	 * what the file is for, and verify says so. */
	assert_int_equal(sr_audit_verify(f->st, f->key, "platform", NULL, NULL, &res), 0);
	assert_true(res.no_checkpoint_file);
}

static void test_truncated_head_left(void **state)
{
	NEED_DB();
	sql1(f, "DELETE FROM audit_log WHERE seq > $1", 12, 0, NULL, 0);
	expect(f, SR_AUDIT_TRUNCATED, 13, "log ends at seq 12 but audit_head says seq 20");
}

static void test_checkpoint_rewritten_log(void **state)
{
	NEED_DB();
	/* checkpoint at 20; then the log is rebuilt from 18 on with the real
	 * key (an insider with the key but not the signing key) */
	assert_int_equal(
		sr_audit_checkpoint(f->st, f->key, f->signer, "platform", f->cp_path, NULL), 0);
	uint8_t h17[32];
	hash_of(f, 17, h17);
	sql1(f, "DELETE FROM audit_log WHERE seq > $1", 17, 0, NULL, 0);
	sql1(f, "UPDATE audit_head SET seq = $1, hash = $2", 17, 0, h17, 32);
	struct append_arg a = {f->key, 3, false};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, append_tx, &a), 0);
	expect(f, SR_AUDIT_CHECKPOINT, 20, "record seq 20: differs from the signed checkpoint");
}

static void test_checkpoint_file_forged(void **state)
{
	NEED_DB();
	assert_int_equal(
		sr_audit_checkpoint(f->st, f->key, f->signer, "platform", f->cp_path, NULL), 0);
	/* flip one signature hex digit */
	FILE *fp = fopen(f->cp_path, "r+");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, -3, SEEK_END), 0);
	int ch = fgetc(fp);
	assert_int_equal(fseek(fp, -3, SEEK_END), 0);
	fputc(ch == '0' ? '1' : '0', fp);
	fclose(fp);
	expect(f, SR_AUDIT_CHECKPOINT_FILE, 0, "checkpoint file line 1: signature invalid");
}

static void test_head_tampered_refuses_checkpoint(void **state)
{
	NEED_DB();
	uint8_t junk[32];
	struct stat sb;
	memset(junk, 0xee, sizeof junk);
	sql1(f, "UPDATE audit_head SET hash = $2 WHERE id = $1", 1, 0, junk, 32);
	assert_int_equal(
		sr_audit_checkpoint(f->st, f->key, f->signer, "platform", f->cp_path, NULL),
		SR_E_TAMPER);
	assert_int_equal(stat(f->cp_path, &sb), -1);
	expect(f, SR_AUDIT_HEAD, RECORDS, "audit_head hash does not match record seq 20");
}

static void test_rollback_leaves_no_record(void **state)
{
	NEED_DB();
	struct sr_audit_verify_result res;
	struct append_arg a = {f->key, 2, true};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, append_tx, &a), SR_E_CONFLICT);
	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.last_seq, RECORDS);
	/* and the chain goes on from where it was */
	a.fail_after = false;
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, append_tx, &a), 0);
	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.last_seq, RECORDS + 2);
}

static void test_invalid_event_writes_nothing(void **state)
{
	NEED_DB();
	struct sr_audit_verify_result res;
	struct sr_audit_event ev = {.actor_type = "user",
				    .actor_id = "usr_1",
				    .action = "member.update",
				    .outcome = "success",
				    .details = "[\"not an object\"]"};
	assert_int_equal(sr_audit_record(f->st, f->key, &ev), SR_E_INVAL);
	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.last_seq, RECORDS);
}

/* More records than one verifier page, in one transaction. */
static void test_long_log(void **state)
{
	NEED_DB();
	struct sr_audit_verify_result res;
	struct append_arg a = {f->key, 1100, false};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, append_tx, &a), 0);
	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.last_seq, RECORDS + 1100);
	sql1(f, "DELETE FROM audit_log WHERE seq = $1", 1000, 0, NULL, 0);
	expect(f, SR_AUDIT_DELETED, 1000, "found 1001 after 999");
}

#define THREADS    4
#define PER_THREAD 15

static void *appender(void *argp)
{
	struct fixture *f = argp;
	struct sr_audit_event ev = {.actor_type = "system",
				    .actor_id = "platform",
				    .action = "job.run",
				    .outcome = "success"};
	intptr_t failures = 0;
	for (int i = 0; i < PER_THREAD; i++)
		if (sr_audit_record(f->st, f->key, &ev) != 0)
			failures++;
	return (void *)failures;
}

static void run_appenders(struct fixture *f, int64_t before)
{
	pthread_t t[THREADS];
	struct sr_audit_verify_result res;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, appender, f), 0);
	for (int i = 0; i < THREADS; i++) {
		void *failures = NULL;
		assert_int_equal(pthread_join(t[i], &failures), 0);
		assert_int_equal((intptr_t)failures, 0);
	}
	assert_int_equal(verify(f, &res), 0);
	assert_int_equal(res.records, before + THREADS * PER_THREAD);
}

static void test_concurrent_appenders(void **state)
{
	NEED_DB();
	run_appenders(f, RECORDS);
}

/* First appends on an empty log racing to create audit_head. */
static void test_concurrent_first_appenders(void **state)
{
	NEED_DB();
	sql1(f, "DELETE FROM audit_log", 0, 0, NULL, 0);
	sql1(f, "DELETE FROM audit_head", 0, 0, NULL, 0);
	run_appenders(f, 0);
}

/* Drops the tables: keep it the last test of the group. */
static void test_tables_missing(void **state)
{
	NEED_DB();
	struct sr_audit_verify_result res;
	assert_int_equal(exec_sql(f->st, "DROP TABLE audit_log; DROP TABLE audit_head;"), 0);
	assert_int_equal(sr_audit_tables_exist(f->st), SR_E_NOTFOUND);
	assert_int_equal(verify(f, &res), SR_E_NOTFOUND);
}

#define T(fn) cmocka_unit_test_setup(fn, fresh_log)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_intact),
		T(test_changed_field),
		T(test_changed_action),
		T(test_deleted),
		T(test_deleted_first),
		T(test_swapped),
		T(test_forged_wrong_key),
		T(test_forged_no_key),
		T(test_truncated_with_checkpoint),
		T(test_truncated_head_left),
		T(test_checkpoint_rewritten_log),
		T(test_checkpoint_file_forged),
		T(test_head_tampered_refuses_checkpoint),
		T(test_rollback_leaves_no_record),
		T(test_invalid_event_writes_nothing),
		T(test_long_log),
		T(test_concurrent_appenders),
		T(test_concurrent_first_appenders),
		T(test_tables_missing),
	};
	int failed;

	if (sodium_init() < 0)
		return 1;
	cmocka_set_message_output(CM_OUTPUT_STDOUT);
	failed = cmocka_run_group_tests_name("audit/sqlite", tests, setup_sqlite, teardown);
	if (getenv("SR_TEST_PG_URL") == NULL || *getenv("SR_TEST_PG_URL") == '\0') {
		printf("\n*** SKIP audit/postgres: SR_TEST_PG_URL is not set; the PostgreSQL "
		       "backend was NOT tested ***\n\n");
		return failed;
	}
	failed += cmocka_run_group_tests_name("audit/postgres", tests, setup_pg, teardown);
	return failed;
}
