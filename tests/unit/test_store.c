/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store interface on both backends: every test runs once on SQLite (a
 * temporary folder) and once on PostgreSQL (a fresh database on the server
 * at SR_TEST_PG_URL; skipped loudly when that is unset).
 */
#include "store/migrate.h"
#include "store/store.h"
#include "store/store_int.h"

#include "store_testdb.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

struct fixture {
	struct testdb db;
	struct sr_store *st;
};

static int group_setup(void **state, enum sr_store_kind kind)
{
	struct fixture *f = sr_xcalloc(1, sizeof *f);
	if (testdb_create(kind, &f->db) != 0)
		return -1;
	f->st = testdb_open(&f->db, 4, 5000);
	if (f->st == NULL)
		return -1;
	*state = f;
	return 0;
}

static int setup_sqlite(void **state)
{
	return group_setup(state, SR_STORE_SQLITE);
}

static int setup_pg(void **state)
{
	return group_setup(state, SR_STORE_POSTGRES);
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
	return 0;
}

/* Runs DDL written with migration tokens ({{BLOB}}). */
static void ddl(struct sr_store *st, const char *text)
{
	struct sr_conn *c = NULL;
	assert_int_equal(sr_store_acquire(st, &c), 0);
	char *sql = sr_migrate_render(text, sr_store_kind(st));
	int rc = sr_conn_exec(c, sql);
	if (rc != 0)
		fprintf(stderr, "ddl: %s\n", sr_conn_errmsg(c));
	assert_int_equal(rc, 0);
	free(sql);
	sr_store_release(c);
}

static int64_t query_i64(struct sr_store *st, const char *sql)
{
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, sql, &s), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	int64_t v = sr_stmt_col_i64(s, 0);
	sr_stmt_done(s);
	sr_store_release(c);
	return v;
}

static void test_open_close(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(sr_store_kind(f->st), f->db.kind);
	struct sr_conn *a = NULL, *b = NULL;
	assert_int_equal(sr_store_acquire(f->st, &a), 0);
	assert_int_equal(sr_store_acquire(f->st, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_int_equal(sr_conn_kind(a), f->db.kind);
	sr_store_release(a);
	sr_store_release(b);
	sr_store_release(NULL);

	/* A second store on the same database sees the first one's data. */
	struct sr_store *other = testdb_open(&f->db, 1, 1000);
	assert_non_null(other);
	ddl(f->st, "CREATE TABLE open_t (id BIGINT PRIMARY KEY)");
	assert_int_equal(query_i64(other, "SELECT COUNT(*) FROM open_t"), 0);
	sr_store_close(other);
	sr_store_close(NULL);
}

static void test_types_roundtrip(void **state)
{
	struct fixture *f = *state;
	ddl(f->st, "CREATE TABLE types_t (id BIGINT PRIMARY KEY, name TEXT, data {{BLOB}}, "
		   "n BIGINT)");
	static const unsigned char blob[] = {0x00, 0x01, 0x00, 0xff, 0x5c, 0x78, 0x00};
	const char text[] = "caf\xc3\xa9 'quoted' $1 \\x00";
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);

	const char *ins = "INSERT INTO types_t (id, name, data, n) VALUES ($1, $2, $3, $4)";
	assert_int_equal(sr_stmt_prepare(c, ins, &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 1), 0);
	assert_int_equal(sr_stmt_bind_text(s, 2, text, strlen(text)), 0);
	assert_int_equal(sr_stmt_bind_blob(s, 3, blob, sizeof blob), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 4, INT64_MIN), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	assert_int_equal(sr_stmt_changes(s), 1);
	sr_stmt_done(s);

	/* NULLs and empty values are different things. */
	assert_int_equal(sr_stmt_prepare(c, ins, &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 2), 0);
	assert_int_equal(sr_stmt_bind_null(s, 2), 0);
	assert_int_equal(sr_stmt_bind_null(s, 3), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 4, INT64_MAX), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);
	assert_int_equal(sr_stmt_prepare(c, ins, &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 3), 0);
	assert_int_equal(sr_stmt_bind_text(s, 2, "", 0), 0);
	assert_int_equal(sr_stmt_bind_blob(s, 3, NULL, 0), 0);
	assert_int_equal(sr_stmt_bind_null(s, 4), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);

	/* Out-of-range index and a NUL inside text are refused. */
	assert_int_equal(sr_stmt_prepare(c, ins, &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 5, 1), SR_E_INVAL);
	assert_int_equal(sr_stmt_bind_text(s, 2, "a\0b", 3), SR_E_INVAL);
	sr_stmt_done(s);

	assert_int_equal(sr_stmt_prepare(c,
					 "SELECT id, name, data, n FROM types_t WHERE id >= $1 "
					 "ORDER BY id",
					 &s),
			 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 1), 0);
	size_t len;
	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 1);
	const char *t = sr_stmt_col_text(s, 1, &len);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(t, text, len);
	const void *b = sr_stmt_col_blob(s, 2, &len);
	assert_int_equal(len, sizeof blob);
	assert_memory_equal(b, blob, sizeof blob);
	assert_true(sr_stmt_col_i64(s, 3) == INT64_MIN);
	assert_false(sr_stmt_col_is_null(s, 2));

	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 2);
	assert_true(sr_stmt_col_is_null(s, 1));
	assert_true(sr_stmt_col_is_null(s, 2));
	assert_null(sr_stmt_col_text(s, 1, &len));
	assert_int_equal(len, 0);
	assert_null(sr_stmt_col_blob(s, 2, &len));
	assert_true(sr_stmt_col_i64(s, 3) == INT64_MAX);

	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 3);
	assert_false(sr_stmt_col_is_null(s, 1));
	assert_false(sr_stmt_col_is_null(s, 2));
	assert_non_null(sr_stmt_col_text(s, 1, &len));
	assert_int_equal(len, 0);
	assert_non_null(sr_stmt_col_blob(s, 2, &len));
	assert_int_equal(len, 0);
	assert_true(sr_stmt_col_is_null(s, 3));
	assert_int_equal(sr_stmt_col_i64(s, 3), 0);

	assert_int_equal(sr_stmt_step(s), 0);
	assert_int_equal(sr_stmt_step(s), 0); /* stays done, does not re-run */
	sr_stmt_done(s);

	/* A placeholder lookalike inside a string literal is not a parameter. */
	assert_int_equal(sr_stmt_prepare(c,
					 "SELECT COUNT(*) FROM types_t WHERE name <> '$1' "
					 "AND id = $1",
					 &s),
			 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 1), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 1);
	sr_stmt_done(s);

	/* UPDATE reports how many rows changed. */
	assert_int_equal(sr_stmt_prepare(c, "UPDATE types_t SET n = $1 WHERE id >= $2", &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 7), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 2, 2), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	assert_int_equal(sr_stmt_changes(s), 2);
	sr_stmt_done(s);
	sr_store_release(c);
}

static void test_stmt_cache(void **state)
{
	struct fixture *f = *state;
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL, *s2 = NULL;
	const char *sql = "SELECT CAST($1 AS BIGINT) + 1";
	assert_int_equal(sr_store_acquire(f->st, &c), 0);

	/* PostgreSQL: the server's list of this session's prepared statements
	 * grows by one however often the same text is prepared. */
	int64_t before = 0;
	if (f->db.kind == SR_STORE_POSTGRES) {
		assert_int_equal(
			sr_stmt_prepare(c, "SELECT COUNT(*) FROM pg_prepared_statements", &s), 0);
		assert_int_equal(sr_stmt_step(s), 1);
		before = sr_stmt_col_i64(s, 0);
		sr_stmt_done(s);
	}
	struct sr_stmt *first = NULL;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sr_stmt_prepare(c, sql, &s), 0);
		if (i == 0)
			first = s;
		else if (f->db.kind == SR_STORE_SQLITE)
			assert_ptr_equal(s, first); /* the cached statement, reused */
		assert_int_equal(sr_stmt_bind_i64(s, 1, i), 0);
		assert_int_equal(sr_stmt_step(s), 1);
		assert_int_equal(sr_stmt_col_i64(s, 0), i + 1);
		sr_stmt_done(s);
	}
	if (f->db.kind == SR_STORE_POSTGRES) {
		assert_int_equal(
			sr_stmt_prepare(c, "SELECT COUNT(*) FROM pg_prepared_statements", &s), 0);
		assert_int_equal(sr_stmt_step(s), 1);
		assert_int_equal(sr_stmt_col_i64(s, 0), before + 1);
		sr_stmt_done(s);
	}

	/* The same text twice at once (a nested loop) gives two statements. */
	assert_int_equal(sr_stmt_prepare(c, sql, &s), 0);
	assert_int_equal(sr_stmt_prepare(c, sql, &s2), 0);
	assert_ptr_not_equal(s, s2);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 10), 0);
	assert_int_equal(sr_stmt_bind_i64(s2, 1, 20), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	assert_int_equal(sr_stmt_step(s2), 1);
	assert_int_equal(sr_stmt_col_i64(s, 0), 11);
	assert_int_equal(sr_stmt_col_i64(s2, 0), 21);
	sr_stmt_done(s2);
	sr_stmt_done(s);

	/* A syntax error is an error, with the backend's reason. */
	assert_int_equal(sr_stmt_prepare(c, "SELEKT 1", &s), SR_E_STORE);
	assert_null(s);
	assert_true(strlen(sr_conn_errmsg(c)) > 0);
	sr_store_release(c);
}

struct insert_arg {
	int64_t id;
	int fail_with;
	int calls;
};

static int insert_row(struct sr_conn *c, void *p)
{
	struct insert_arg *a = p;
	struct sr_stmt *s = NULL;
	a->calls++;
	int rc = sr_stmt_prepare(c, "INSERT INTO tx_t (id) VALUES ($1)", &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, a->id);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	if (rc < 0)
		return rc;
	return a->fail_with;
}

static int64_t count_tx_rows(struct sr_store *st, int64_t id)
{
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, "SELECT COUNT(*) FROM tx_t WHERE id = $1", &s), 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, id), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	int64_t n = sr_stmt_col_i64(s, 0);
	sr_stmt_done(s);
	sr_store_release(c);
	return n;
}

static void test_tx_commit_rollback(void **state)
{
	struct fixture *f = *state;
	ddl(f->st, "CREATE TABLE tx_t (id BIGINT PRIMARY KEY)");

	struct insert_arg ok = {.id = 1};
	assert_int_equal(sr_store_tx(f->st, SR_TX_SERIALIZABLE, insert_row, &ok), 0);
	assert_int_equal(ok.calls, 1);
	assert_int_equal(count_tx_rows(f->st, 1), 1);

	/* An error from fn rolls back its writes and comes back unchanged. */
	struct insert_arg bad = {.id = 2, .fail_with = SR_E_INVAL};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, insert_row, &bad), SR_E_INVAL);
	assert_int_equal(bad.calls, 1);
	assert_int_equal(count_tx_rows(f->st, 2), 0);

	/* A unique violation is SR_E_CONFLICT, not retried. */
	struct insert_arg dup = {.id = 1};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, insert_row, &dup), SR_E_CONFLICT);
	assert_int_equal(dup.calls, 1);

	/* A read-only transaction cannot write. */
	struct insert_arg ro = {.id = 3};
	assert_int_not_equal(sr_store_tx(f->st, SR_TX_READ, insert_row, &ro), 0);
	if (f->db.kind == SR_STORE_POSTGRES)
		assert_int_equal(count_tx_rows(f->st, 3), 0);

	/* Releasing a connection mid-transaction rolls it back. */
	struct sr_conn *c = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_conn_exec(c, "BEGIN"), 0);
	assert_int_equal(sr_conn_exec(c, "INSERT INTO tx_t (id) VALUES (4)"), 0);
	sr_store_release(c);
	assert_int_equal(count_tx_rows(f->st, 4), 0);
}

static int swallow_conflict(struct sr_conn *c, void *p)
{
	struct insert_arg *a = p;
	int rc = insert_row(c, a);
	assert_int_equal(rc, SR_E_CONFLICT);
	return 0; /* wrongly carries on */
}

/* PostgreSQL aborts the transaction at the first error; a commit after an
 * ignored error must not be reported as success. */
static void test_pg_commit_after_ignored_error(void **state)
{
	struct fixture *f = *state;
	if (f->db.kind != SR_STORE_POSTGRES)
		skip();
	ddl(f->st, "CREATE TABLE IF NOT EXISTS tx_t (id BIGINT PRIMARY KEY)");
	ddl(f->st, "INSERT INTO tx_t (id) VALUES (100) ON CONFLICT DO NOTHING");
	struct insert_arg a = {.id = 100};
	assert_int_equal(sr_store_tx(f->st, SR_TX_WRITE, swallow_conflict, &a), SR_E_STORE);
}

/* --- retries ----------------------------------------------------------- */

struct pg_conflict {
	struct sr_conn *other;
	int calls;
};

static int exec_one(struct sr_conn *c, const char *sql)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0)
		while ((rc = sr_stmt_step(s)) == 1)
			;
	sr_stmt_done(s);
	return rc;
}

/* First attempt: read the row, let another connection change and commit
 * it, then write it: a serialization failure that sr_store_tx retries. */
static int conflicting_update(struct sr_conn *c, void *p)
{
	struct pg_conflict *a = p;
	a->calls++;
	int rc = exec_one(c, "SELECT v FROM retry_t WHERE id = 1");
	if (rc == 0 && a->calls == 1)
		assert_int_equal(exec_one(a->other, "UPDATE retry_t SET v = v + 1 WHERE id = 1"),
				 0);
	if (rc == 0)
		rc = exec_one(c, "UPDATE retry_t SET v = v + 1 WHERE id = 1");
	return rc;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static int bump(struct sr_conn *c, void *p)
{
	int *calls = p;
	(*calls)++;
	return exec_one(c, "UPDATE retry_t SET v = v + 1 WHERE id = 1");
}

static void *commit_later(void *p)
{
	sleep_ms(400);
	if (sr_conn_exec(p, "COMMIT") != 0)
		return p;
	return NULL;
}

static void test_retry(void **state)
{
	struct fixture *f = *state;
	ddl(f->st, "CREATE TABLE retry_t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);"
		   "INSERT INTO retry_t (id, v) VALUES (1, 0)");

	if (f->db.kind == SR_STORE_POSTGRES) {
		struct pg_conflict a = {0};
		assert_int_equal(sr_store_acquire(f->st, &a.other), 0);
		assert_int_equal(sr_store_tx(f->st, SR_TX_SERIALIZABLE, conflicting_update, &a), 0);
		sr_store_release(a.other);
		assert_int_equal(a.calls, 2);
		assert_int_equal(query_i64(f->st, "SELECT v FROM retry_t WHERE id = 1"), 2);
		return;
	}

	/* SQLite: a second connection holds the write lock for 400 ms; with a
	 * 20 ms busy timeout the first attempts get SQLITE_BUSY and the loop
	 * keeps retrying until the holder commits. */
	struct sr_store *fast = testdb_open(&f->db, 1, 20);
	assert_non_null(fast);
	struct sr_conn *h = NULL;
	assert_int_equal(sr_store_acquire(f->st, &h), 0);
	assert_int_equal(sr_conn_exec(h, "BEGIN IMMEDIATE"), 0);
	assert_int_equal(sr_conn_exec(h, "UPDATE retry_t SET v = 100 WHERE id = 1"), 0);

	struct sr_conn *probe = NULL;
	assert_int_equal(sr_store_acquire(fast, &probe), 0);
	assert_int_equal(sr_conn_exec(probe, "BEGIN IMMEDIATE"), SR_E_RETRY);
	sr_store_release(probe);

	/* The holder commits from another thread after 400 ms. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, commit_later, h), 0);
	int calls = 0;
	assert_int_equal(sr_store_tx(fast, SR_TX_WRITE, bump, &calls), 0);
	void *res;
	pthread_join(t, &res);
	assert_null(res);
	sr_store_release(h);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* One attempt gives up after 20 ms; succeeding only after the holder
	 * let go (about 400 ms) means the loop retried. */
	long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(waited_ms >= 350);
	assert_int_equal(calls, 1);
	assert_int_equal(query_i64(f->st, "SELECT v FROM retry_t WHERE id = 1"), 101);
	sr_store_close(fast);
}

/* --- pool under threads ------------------------------------------------ */

#define POOL_THREADS 6
#define POOL_ITERS   25

static int increment_locked(struct sr_conn *c, void *p)
{
	(void)p;
	struct sr_stmt *s = NULL;
	/* Row lock on PostgreSQL; dropped on SQLite, where BEGIN IMMEDIATE
	 * already serializes writers. */
	int rc = sr_stmt_prepare(c, "SELECT n FROM pool_t WHERE id = 1 FOR UPDATE", &s);
	if (rc == 0)
		rc = sr_stmt_step(s);
	int64_t n = rc == 1 ? sr_stmt_col_i64(s, 0) : 0;
	sr_stmt_done(s);
	if (rc != 1)
		return rc < 0 ? rc : SR_E_NOTFOUND;
	rc = sr_stmt_prepare(c, "UPDATE pool_t SET n = $1 WHERE id = 1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, n + 1);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc;
}

static void *pool_worker(void *p)
{
	struct sr_store *st = p;
	for (int i = 0; i < POOL_ITERS; i++)
		if (sr_store_tx(st, SR_TX_WRITE, increment_locked, NULL) != 0)
			return (void *)1;
	return NULL;
}

static void pool_run(struct fixture *f, bool group_commit)
{
	ddl(f->st, "CREATE TABLE IF NOT EXISTS pool_t (id BIGINT PRIMARY KEY, n BIGINT NOT NULL);"
		   "DELETE FROM pool_t; INSERT INTO pool_t (id, n) VALUES (1, 0)");
	/* Fewer connections than threads: some wait on the pool. */
	struct sr_store_options opt = {
		.pool_size = 3, .busy_timeout_ms = 5000, .no_group_commit = !group_commit};
	struct sr_store *st = NULL;
	char err[256];
	assert_int_equal(sr_store_open(f->db.url, &opt, &st, err, sizeof err), 0);
	pthread_t t[POOL_THREADS];
	for (int i = 0; i < POOL_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, pool_worker, st), 0);
	for (int i = 0; i < POOL_THREADS; i++) {
		void *res;
		pthread_join(t[i], &res);
		assert_null(res);
	}
	sr_store_close(st);
	assert_int_equal(query_i64(f->st, "SELECT n FROM pool_t WHERE id = 1"),
			 POOL_THREADS * POOL_ITERS);
}

static void test_pool_threads(void **state)
{
	struct fixture *f = *state;
	pool_run(f, true);
	if (f->db.kind == SR_STORE_SQLITE)
		pool_run(f, false);
}

struct group_member {
	int64_t id;
	int fail_with;
};

static int group_insert(struct sr_conn *c, void *p)
{
	struct group_member *m = p;
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, "INSERT INTO group_t (id) VALUES ($1)", &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, m->id);
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc < 0 ? rc : m->fail_with;
}

/* SQLite group commit: members of one group succeed or fail on their own;
 * a failed member's writes are rolled back, the others' are committed. */
static void test_group_commit_members(void **state)
{
	struct fixture *f = *state;
	if (f->db.kind != SR_STORE_SQLITE)
		skip();
	ddl(f->st, "CREATE TABLE group_t (id BIGINT PRIMARY KEY)");
	struct group_member m[4] = {{1, 0}, {2, SR_E_INVAL}, {1, 0}, {3, 0}};
	struct sr_gc_req r[4];
	struct sr_gc_req *reqs[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct sr_gc_req){.fn = group_insert, .arg = &m[i], .rc = 99};
		reqs[i] = &r[i];
	}
	sr_store_group_run(f->st, reqs, 4);
	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[1].rc, SR_E_INVAL);
	assert_int_equal(r[2].rc, SR_E_CONFLICT);
	assert_int_equal(r[3].rc, 0);
	assert_int_equal(query_i64(f->st, "SELECT COUNT(*) FROM group_t"), 2);
	assert_int_equal(query_i64(f->st, "SELECT COUNT(*) FROM group_t WHERE id = 2"), 0);
	assert_int_equal(query_i64(f->st, "SELECT SUM(id) FROM group_t"), 4);
}

/* PostgreSQL restarted or the network cut: the pooled connection is dead
 * while idle. The next transaction reconnects instead of failing. */
static void test_pg_reconnect(void **state)
{
	struct fixture *f = *state;
	if (f->db.kind != SR_STORE_POSTGRES)
		skip();
	struct sr_store *one = testdb_open(&f->db, 1, 5000);
	assert_non_null(one);
	int64_t pid = query_i64(one, "SELECT pg_backend_pid()");
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_stmt_prepare(c, "SELECT pg_terminate_backend(CAST($1 AS INTEGER))", &s),
			 0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, pid), 0);
	assert_int_equal(sr_stmt_step(s), 1);
	sr_stmt_done(s);
	sr_store_release(c);
	sleep_ms(100);

	int calls = 0;
	ddl(f->st, "CREATE TABLE IF NOT EXISTS retry_t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL);"
		   "INSERT INTO retry_t (id, v) VALUES (1, 0) ON CONFLICT DO NOTHING");
	assert_int_equal(sr_store_tx(one, SR_TX_WRITE, bump, &calls), 0);
	assert_int_equal(calls, 1);
	assert_int_not_equal(query_i64(one, "SELECT pg_backend_pid()"), pid);
	sr_store_close(one);
}

/* --- statement timeout (PostgreSQL) ------------------------------------ */

struct hung_write {
	int calls;
	int sleep_rc;
};

/* Writes a row, then runs a statement that hangs past the timeout. */
static int write_then_hang(struct sr_conn *c, void *p)
{
	struct hung_write *a = p;
	a->calls++;
	int rc = exec_one(c, "INSERT INTO hang_t (id) VALUES (1)");
	if (rc == 0)
		rc = a->sleep_rc = exec_one(c, "SELECT pg_sleep(10)");
	return rc;
}

static int quick_write(struct sr_conn *c, void *p)
{
	(void)p;
	int rc = exec_one(c, "SELECT pg_sleep(0.01)");
	if (rc == 0)
		rc = exec_one(c, "INSERT INTO hang_t (id) VALUES (2)");
	return rc;
}

/* A hung query must not pin a pooled connection (and the worker waiting on
 * it) forever: past [database] statement_timeout_ms it is cancelled, the
 * caller gets SR_E_TIMEOUT (answered 503), nothing it wrote is kept, it is
 * not retried, and the one pooled connection serves the next transaction. */
static void test_pg_statement_timeout(void **state)
{
	struct fixture *f = *state;
	if (f->db.kind != SR_STORE_POSTGRES)
		skip();
	ddl(f->st, "CREATE TABLE hang_t (id BIGINT PRIMARY KEY)");
	struct sr_store_options opt = {
		.pool_size = 1, .busy_timeout_ms = 5000, .statement_timeout_ms = 200};
	struct sr_store *one = NULL;
	char err[512];
	assert_int_equal(sr_store_open(f->db.url, &opt, &one, err, sizeof err), 0);

	struct timespec t0, t1;
	struct hung_write hw = {0};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(sr_store_tx(one, SR_TX_WRITE, write_then_hang, &hw), SR_E_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(hw.sleep_rc, SR_E_TIMEOUT);
	assert_int_equal(hw.calls, 1); /* not retried: it would hang again */
	int64_t ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 150);
	assert_true(ms < 5000); /* cut at ~200 ms, not after pg_sleep's 10 s */
	assert_int_equal(query_i64(f->st, "SELECT COUNT(*) FROM hang_t"), 0); /* rolled back */

	/* The same (only) connection: a statement within the limit, a write. */
	assert_int_equal(sr_store_tx(one, SR_TX_WRITE, quick_write, NULL), 0);
	assert_int_equal(query_i64(one, "SELECT COUNT(*) FROM hang_t WHERE id = 2"), 1);
	sr_store_close(one);

	/* The default store of this suite (no statement_timeout_ms) does not
	 * cut a statement at 200 ms. */
	struct sr_conn *c = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(exec_one(c, "SELECT pg_sleep(0.3)"), 0);
	sr_store_release(c);
}

/* --- URLs -------------------------------------------------------------- */

static void test_bad_urls(void **state)
{
	(void)state;
	struct sr_store_options opt = {.pool_size = 1, .busy_timeout_ms = 100};
	struct sr_store *st = NULL;
	char err[512];

	assert_int_equal(
		sr_store_open("mysql://root:hunter2secret@db/x", &opt, &st, err, sizeof err),
		SR_E_INVAL);
	assert_null(st);
	assert_null(strstr(err, "hunter2secret"));
	assert_non_null(strstr(err, "sqlite:PATH or postgresql://"));

	assert_int_equal(sr_store_open("sqlite:", &opt, &st, err, sizeof err), SR_E_INVAL);
	assert_int_equal(
		sr_store_open("sqlite:/nonexistent-dir/x/y.db", &opt, &st, err, sizeof err),
		SR_E_STORE);
	assert_non_null(strstr(err, "/nonexistent-dir/x/y.db"));

	/* Nothing listens on port 1: the connection fails, and neither the
	 * password nor its percent-decoded form is in the message. */
	assert_int_equal(sr_store_open("postgresql://bob:p%40ss-s3cret@127.0.0.1:1/db", &opt, &st,
				       err, sizeof err),
			 SR_E_STORE);
	assert_null(st);
	assert_null(strstr(err, "s3cret"));
	assert_non_null(strstr(err, "postgresql://bob:***@127.0.0.1:1/db"));
	assert_int_equal(sr_store_open("postgres://127.0.0.1:1/db?password=qu3ry-secret", &opt, &st,
				       err, sizeof err),
			 SR_E_STORE);
	assert_null(strstr(err, "qu3ry-secret"));
	/* Malformed URI: libpq's own message may quote it. */
	assert_int_equal(sr_store_open("postgresql://bob:s3cret%zz@127.0.0.1:1/db", &opt, &st, err,
				       sizeof err),
			 SR_E_STORE);
	assert_null(strstr(err, "s3cret"));
}

static void test_sqlite_rewrite(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"SELECT $1, $12", "SELECT ?1, ?12"},
		{"SELECT '$1', \"a$2\", $3 -- $4\n", "SELECT '$1', \"a$2\", ?3 -- $4\n"},
		{"SELECT 'it''s $1' /* $2 */ , $3", "SELECT 'it''s $1' /* $2 */ , ?3"},
		{"SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE",
		 "SELECT seq FROM audit_head WHERE id = 1  "},
		{"SELECT x FROM jobs for  update skip locked LIMIT 1",
		 "SELECT x FROM jobs   LIMIT 1"},
		{"SELECT x FROM t FOR SHARE NOWAIT", "SELECT x FROM t  "},
		{"SELECT format FROM t WHERE 'FOR UPDATE' = x",
		 "SELECT format FROM t WHERE 'FOR UPDATE' = x"},
		{"SELECT before_update FROM t", "SELECT before_update FROM t"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = sr_store_sqlite_rewrite(cases[i].in);
		assert_string_equal(out, cases[i].out);
		free(out);
	}
}

#define STORE_TESTS                                                                                \
	cmocka_unit_test(test_open_close), cmocka_unit_test(test_types_roundtrip),                 \
		cmocka_unit_test(test_stmt_cache), cmocka_unit_test(test_tx_commit_rollback),      \
		cmocka_unit_test(test_pg_commit_after_ignored_error),                              \
		cmocka_unit_test(test_retry), cmocka_unit_test(test_pool_threads),                 \
		cmocka_unit_test(test_pg_reconnect), cmocka_unit_test(test_group_commit_members),  \
		cmocka_unit_test(test_pg_statement_timeout)

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test(test_sqlite_rewrite),
	};
	const struct CMUnitTest sqlite_tests[] = {STORE_TESTS};
	const struct CMUnitTest pg_tests[] = {STORE_TESTS};
	int failed = cmocka_run_group_tests_name("store", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("store/sqlite", sqlite_tests, setup_sqlite,
					      group_teardown);
	if (testdb_pg_admin_url() != NULL)
		failed += cmocka_run_group_tests_name("store/postgres", pg_tests, setup_pg,
						      group_teardown);
	else
		testdb_pg_skip_notice("test_store");
	return failed;
}
