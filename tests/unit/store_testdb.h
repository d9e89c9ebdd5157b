/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_TESTS_STORE_TESTDB_H
#define SR_TESTS_STORE_TESTDB_H

/*
 * Throw-away databases for the store and migration tests, on either
 * backend: SQLite in a mktemp folder, PostgreSQL as a freshly created
 * database with a random name on the server at SR_TEST_PG_URL (dropped
 * afterwards). Header-only: included by every test that needs a real database.
 */
#include "base/mem.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct testdb {
	enum sr_store_kind kind;
	char *url;
	char *dir;    /* SQLite */
	char *dbname; /* PostgreSQL */
};

static inline const char *testdb_pg_admin_url(void)
{
	const char *u = getenv("SR_TEST_PG_URL");
	return u != NULL && u[0] != '\0' ? u : NULL;
}

/* Says loudly that the PostgreSQL half is not running. */
static inline void testdb_pg_skip_notice(const char *suite)
{
	fprintf(stderr,
		"\n*** %s: SR_TEST_PG_URL is not set: SKIPPING the PostgreSQL half of "
		"these tests ***\n*** run them with: eval \"$(scripts/pg-test.sh start)\" "
		"(make test does it) ***\n\n",
		suite);
}

/* url with its database name (the path) replaced by name. */
static inline char *testdb_pg_url_with_db(const char *url, const char *name)
{
	const char *auth = strstr(url, "://");
	auth = auth ? auth + 3 : url;
	const char *slash = auth + strcspn(auth, "/?");
	const char *query = strchr(slash, '?');
	return sr_xasprintf("%.*s/%s%s", (int)(slash - url), url, name, query ? query : "");
}

static inline int testdb_admin_exec(const char *sql)
{
	struct sr_store_options opt = {.pool_size = 1, .busy_timeout_ms = 5000};
	struct sr_store *st = NULL;
	struct sr_conn *c = NULL;
	char err[512];
	int rc = sr_store_open(testdb_pg_admin_url(), &opt, &st, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "testdb: %s\n", err);
		return rc;
	}
	rc = sr_store_acquire(st, &c);
	if (rc == 0)
		rc = sr_conn_exec(c, sql);
	if (rc != 0 && c != NULL)
		fprintf(stderr, "testdb: %s: %s\n", sql, sr_conn_errmsg(c));
	sr_store_release(c);
	sr_store_close(st);
	return rc;
}

/* Creates a fresh database. Returns 0, or -1 on failure. */
static inline int testdb_create(enum sr_store_kind kind, struct testdb *db)
{
	memset(db, 0, sizeof *db);
	db->kind = kind;
	if (sodium_init() < 0)
		return -1;
	if (kind == SR_STORE_SQLITE) {
		char tmpl[] = "/tmp/sr-store-test.XXXXXX";
		if (mkdtemp(tmpl) == NULL)
			return -1;
		db->dir = sr_xstrdup(tmpl);
		db->url = sr_xasprintf("sqlite:%s/test.db", tmpl);
		return 0;
	}
	unsigned char rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	char hex[sizeof rnd * 2 + 1];
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	db->dbname = sr_xasprintf("sr_test_%s", hex);
	char *sql = sr_xasprintf("CREATE DATABASE %s", db->dbname);
	int rc = testdb_admin_exec(sql);
	free(sql);
	if (rc != 0)
		return -1;
	db->url = testdb_pg_url_with_db(testdb_pg_admin_url(), db->dbname);
	return 0;
}

/* Drops the database; every store on it must be closed. */
static inline void testdb_drop(struct testdb *db)
{
	if (db->kind == SR_STORE_SQLITE && db->dir != NULL) {
		static const char *const files[] = {"test.db", "test.db-wal", "test.db-shm"};
		for (size_t i = 0; i < 3; i++) {
			char *p = sr_xasprintf("%s/%s", db->dir, files[i]);
			unlink(p);
			free(p);
		}
		rmdir(db->dir);
	} else if (db->dbname != NULL) {
		char *sql = sr_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db->dbname);
		(void)testdb_admin_exec(sql);
		free(sql);
	}
	free(db->url);
	free(db->dir);
	free(db->dbname);
	memset(db, 0, sizeof *db);
}

static inline struct sr_store *testdb_open(const struct testdb *db, unsigned pool, unsigned busy_ms)
{
	struct sr_store_options opt = {.pool_size = pool, .busy_timeout_ms = busy_ms};
	struct sr_store *st = NULL;
	char err[512];
	if (sr_store_open(db->url, &opt, &st, err, sizeof err) != 0) {
		fprintf(stderr, "testdb_open: %s\n", err);
		return NULL;
	}
	return st;
}

#endif
