/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Migrations on both backends: each test gets a fresh database (SQLite in a
 * temporary folder; PostgreSQL created on the server at SR_TEST_PG_URL,
 * skipped loudly when unset). Also the `strongroom migrate` command on
 * SQLite, through the built binary.
 */
#include "base/embedded.h"
#include "store/migrate.h"
#include "store/store.h"

#include "store_testdb.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

static enum sr_store_kind backend;

struct fixture {
	struct testdb db;
	struct sr_store *st;
};

static int setup(void **state)
{
	struct fixture *f = sr_xcalloc(1, sizeof *f);
	if (testdb_create(backend, &f->db) != 0)
		return -1;
	f->st = testdb_open(&f->db, 2, 5000);
	*state = f;
	return f->st == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sr_store_close(f->st);
	testdb_drop(&f->db);
	free(f);
	return 0;
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

static void test_embedded_set_is_consistent(void **state)
{
	(void)state;
	char msg[256] = "";
	int rc = sr_migrate_check_embedded(msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "%s\n", msg);
	assert_int_equal(rc, 0);
	assert_non_null(sr_embedded_find("store/migrations/common/0001_audit_log.sql"));
}

static void test_render_tokens(void **state)
{
	(void)state;
	const char *in = "CREATE TABLE t (a {{BLOB}}, b {{BLOB}} NOT NULL, c TEXT DEFAULT '{{x}}')";
	char *s = sr_migrate_render(in, SR_STORE_SQLITE);
	assert_string_equal(s, "CREATE TABLE t (a BLOB, b BLOB NOT NULL, c TEXT DEFAULT '{{x}}')");
	free(s);
	s = sr_migrate_render(in, SR_STORE_POSTGRES);
	assert_string_equal(s,
			    "CREATE TABLE t (a BYTEA, b BYTEA NOT NULL, c TEXT DEFAULT '{{x}}')");
	free(s);
}

static void test_apply_once_idempotent(void **state)
{
	struct fixture *f = *state;
	struct sr_migrate_result r;
	char msg[512];

	assert_int_equal(sr_migrate_run(f->st, "platform", &r, msg, sizeof msg), 0);
	assert_true(r.applied >= 1);
	assert_int_equal(r.version, r.known);
	int64_t rows = query_i64(f->st, "SELECT COUNT(*) FROM schema_migrations");
	assert_int_equal(rows, r.applied);
	char want[128];
	snprintf(want, sizeof want, "platform: schema at version %lld (applied %u)",
		 (long long)r.version, r.applied);
	assert_string_equal(msg, want);

	/* Second run: nothing to do, same version. */
	struct sr_migrate_result again;
	assert_int_equal(sr_migrate_run(f->st, "platform", &again, msg, sizeof msg), 0);
	assert_int_equal(again.applied, 0);
	assert_int_equal(again.version, r.version);
	assert_int_equal(query_i64(f->st, "SELECT COUNT(*) FROM schema_migrations"), rows);

	/* The audit tables exist with the agreed columns, blobs included. */
	struct sr_conn *c = NULL;
	struct sr_stmt *s = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(
		sr_stmt_prepare(c,
				"INSERT INTO audit_log (seq, ts, actor_type, actor_id, "
				"action, object_type, object_id, outcome, ip, request_id, "
				"details, prev_hash, hash, mac) VALUES ($1, $2, $3, $4, $5, "
				"$6, $7, $8, $9, $10, $11, $12, $13, $14)",
				&s),
		0);
	unsigned char h[32] = {0};
	h[5] = 0x42;
	assert_int_equal(sr_stmt_bind_i64(s, 1, 1), 0);
	for (int i = 2; i <= 11; i++)
		assert_int_equal(sr_stmt_bind_text(s, i, "x", 1), 0);
	for (int i = 12; i <= 14; i++)
		assert_int_equal(sr_stmt_bind_blob(s, i, h, sizeof h), 0);
	assert_int_equal(sr_stmt_step(s), 0);
	sr_stmt_done(s);
	assert_int_equal(
		sr_stmt_prepare(c, "INSERT INTO audit_head (id, seq, hash) VALUES ($1, 1, $2)", &s),
		0);
	assert_int_equal(sr_stmt_bind_i64(s, 1, 2), 0); /* CHECK (id = 1) */
	assert_int_equal(sr_stmt_bind_blob(s, 2, h, sizeof h), 0);
	assert_int_equal(sr_stmt_step(s), SR_E_STORE);
	sr_stmt_done(s);
	sr_store_release(c);
}

static void test_wrong_service_refused(void **state)
{
	struct fixture *f = *state;
	char msg[512];
	assert_int_equal(sr_migrate(f->st, "vault", msg, sizeof msg), 0);
	assert_int_equal(sr_migrate(f->st, "platform", msg, sizeof msg), SR_E_CONFIG);
	assert_non_null(strstr(msg, "belongs to the vault service, not platform"));
	/* Still usable by its owner. */
	assert_int_equal(sr_migrate(f->st, "vault", msg, sizeof msg), 0);
	assert_int_equal(sr_migrate(f->st, "billing", msg, sizeof msg), SR_E_INVAL);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct sr_migrate_result r;
	char msg[512];
	assert_int_equal(sr_migrate_run(f->st, "platform", &r, msg, sizeof msg), 0);

	struct sr_conn *c = NULL;
	assert_int_equal(sr_store_acquire(f->st, &c), 0);
	assert_int_equal(sr_conn_exec(c, "INSERT INTO schema_migrations (version, name, "
					 "applied_at) VALUES (9999, 'from_the_future', "
					 "'2030-01-01T00:00:00.000Z')"),
			 0);
	sr_store_release(c);

	assert_int_equal(sr_migrate(f->st, "platform", msg, sizeof msg), SR_E_SCHEMA);
	char want[160];
	snprintf(want, sizeof want,
		 "database schema version 9999 is newer than this binary (knows up to %lld); "
		 "upgrade strongroom",
		 (long long)r.known);
	assert_string_equal(msg, want);
}

struct racer {
	const char *url;
	int rc;
	unsigned applied;
};

static void *race(void *p)
{
	struct racer *r = p;
	struct sr_store_options opt = {.pool_size = 1, .busy_timeout_ms = 5000};
	struct sr_store *st = NULL;
	char msg[512];
	r->rc = sr_store_open(r->url, &opt, &st, msg, sizeof msg);
	if (r->rc == 0) {
		struct sr_migrate_result res;
		r->rc = sr_migrate_run(st, "vault", &res, msg, sizeof msg);
		r->applied = res.applied;
	}
	if (r->rc != 0)
		fprintf(stderr, "racer: %s\n", msg);
	sr_store_close(st);
	return NULL;
}

/* Two instances starting at once: each migration is applied exactly once. */
static void test_concurrent_migrate(void **state)
{
	struct fixture *f = *state;
	struct racer r[3];
	pthread_t t[3];
	for (int i = 0; i < 3; i++) {
		r[i] = (struct racer){.url = f->db.url};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	unsigned total = 0;
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].rc, 0);
		total += r[i].applied;
	}
	int64_t rows = query_i64(f->st, "SELECT COUNT(*) FROM schema_migrations");
	assert_true(rows >= 1);
	assert_int_equal(total, rows);
}

/* Runs the built binary with args; returns its exit status, output in out. */
static int run_cli(const char *args, char *out, size_t outlen)
{
	const char *build = getenv("SR_BUILD_DIR");
	char *cmd = sr_xasprintf("%s/strongroom %s 2>&1", build, args);
	FILE *p = popen(cmd, "r");
	free(cmd);
	assert_non_null(p);
	size_t n = fread(out, 1, outlen - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli(void **state)
{
	(void)state;
	if (getenv("SR_BUILD_DIR") == NULL)
		skip();
	char dir[] = "/tmp/sr-migrate-cli.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *conf = sr_xasprintf("%s/strongroom.conf", dir);
	FILE *fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp,
		"[platform]\ndatabase_url = sqlite:p.db\n[vault]\ndatabase_url = sqlite:v.db\n");
	fclose(fp);

	char out[2048];
	char *args = sr_xasprintf("migrate --config %s --service platform", conf);
	assert_int_equal(run_cli(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "platform: schema at version "));
	assert_non_null(strstr(out, "(applied "));
	assert_int_equal(run_cli(args, out, sizeof out), 0);
	assert_non_null(strstr(out, "(applied 0)"));
	free(args);

	/* The vault pointed at the platform's database is refused. */
	args = sr_xasprintf("migrate --config %s --service vault", conf);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp, "[database]\nurl = sqlite:p.db\n");
	fclose(fp);
	assert_int_equal(run_cli(args, out, sizeof out), 1);
	assert_non_null(strstr(out, "belongs to the platform service"));
	free(args);

	assert_int_equal(run_cli("migrate --help", out, sizeof out), 0);
	assert_non_null(strstr(out, "--service"));
	assert_int_equal(run_cli("migrate --service vault", out, sizeof out), 2);

	static const char *const files[] = {"p.db", "p.db-wal", "p.db-shm", "v.db",
					    "strongroom.conf"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char *p = sr_xasprintf("%s/%s", dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
	free(conf);
}

#define MIGRATE_TESTS                                                                              \
	cmocka_unit_test_setup_teardown(test_apply_once_idempotent, setup, teardown),              \
		cmocka_unit_test_setup_teardown(test_wrong_service_refused, setup, teardown),      \
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),       \
		cmocka_unit_test_setup_teardown(test_concurrent_migrate, setup, teardown)

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_embedded_set_is_consistent),
		cmocka_unit_test(test_render_tokens),
		cmocka_unit_test(test_cli),
	};
	const struct CMUnitTest per_backend[] = {MIGRATE_TESTS};
	int failed = cmocka_run_group_tests_name("migrate", pure, NULL, NULL);
	backend = SR_STORE_SQLITE;
	failed += cmocka_run_group_tests_name("migrate/sqlite", per_backend, NULL, NULL);
	if (testdb_pg_admin_url() != NULL) {
		backend = SR_STORE_POSTGRES;
		failed += cmocka_run_group_tests_name("migrate/postgres", per_backend, NULL, NULL);
	} else {
		testdb_pg_skip_notice("test_migrate");
	}
	return failed;
}
