/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durable single-row inserts per second through the store, each insert its
 * own sr_store_tx (BEGIN, INSERT, COMMIT with the commit on disk), on SQLite
 * and PostgreSQL; and, for SQLite, the reference measured in the same run:
 * a raw sqlite3 C loop with WAL + synchronous=FULL doing the same
 * transactions. The PostgreSQL reference (pgbench) is run by bench/store.sh.
 *
 *   store_bench --seconds N [--sqlite-dir DIR] [--pg-url URL]
 *
 * Prints key=value lines: store.sqlite.inserts_per_s, raw.sqlite.inserts_per_s,
 * store.postgres.inserts_per_s.
 */
#include "base/mem.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAYLOAD "bench-payload-0123456789abcdef0123456789abcdef0123456789abcdef"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ins {
	int64_t id;
};

static int insert_one(struct sr_conn *c, void *p)
{
	struct ins *a = p;
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, "INSERT INTO bench_insert (id, payload) VALUES ($1, $2)", &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, a->id);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, PAYLOAD, strlen(PAYLOAD));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc;
}

static int bench_store(const char *name, const char *url, double seconds)
{
	struct sr_store_options opt = {.pool_size = 1, .busy_timeout_ms = 5000};
	struct sr_store *st = NULL;
	struct sr_conn *c = NULL;
	char err[512];
	if (sr_store_open(url, &opt, &st, err, sizeof err) != 0) {
		fprintf(stderr, "store_bench: %s\n", err);
		return 1;
	}
	if (sr_store_acquire(st, &c) != 0 ||
	    sr_conn_exec(
		    c,
		    "DROP TABLE IF EXISTS bench_insert;"
		    "CREATE TABLE bench_insert (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)") !=
		    0) {
		fprintf(stderr, "store_bench: setup failed: %s\n", c ? sr_conn_errmsg(c) : "");
		sr_store_release(c);
		sr_store_close(st);
		return 1;
	}
	sr_store_release(c);

	struct ins a = {0};
	double start = now_s(), end = start + seconds, t = start;
	while (t < end) {
		a.id++;
		int rc = sr_store_tx(st, SR_TX_WRITE, insert_one, &a);
		if (rc != 0) {
			fprintf(stderr, "store_bench: insert failed: %s\n", sr_strerror(rc));
			sr_store_close(st);
			return 1;
		}
		t = now_s();
	}
	printf("store.%s.inserts_per_s=%.0f\n", name, (double)a.id / (t - start));
	sr_store_close(st);
	return 0;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "store_bench: raw sqlite: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	return 0;
}

/* The reference: what a careful C program gets from SQLite with the same
 * durability (WAL, synchronous=FULL) and the same transaction shape. */
static int bench_raw_sqlite(const char *path, double seconds)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	int status = 1;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	if (raw_exec(db,
		     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		     "DROP TABLE IF EXISTS bench_insert;"
		     "CREATE TABLE bench_insert (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)"))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO bench_insert (id, payload) VALUES (?1, ?2)", -1,
			       &ins, NULL) != SQLITE_OK)
		goto out;
	int64_t n = 0;
	double start = now_s(), end = start + seconds, t = start;
	while (t < end) {
		n++;
		if (raw_exec(db, "BEGIN IMMEDIATE"))
			goto out;
		sqlite3_bind_int64(ins, 1, n);
		sqlite3_bind_text(ins, 2, PAYLOAD, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fprintf(stderr, "store_bench: raw insert: %s\n", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(ins);
		if (raw_exec(db, "COMMIT"))
			goto out;
		t = now_s();
	}
	printf("raw.sqlite.inserts_per_s=%.0f\n", (double)n / (t - start));
	status = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	return status;
}

int main(int argc, char **argv)
{
	double seconds = 3;
	const char *dir = NULL, *pg = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--sqlite-dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--pg-url") == 0 && i + 1 < argc)
			pg = argv[++i];
		else {
			fprintf(stderr, "usage: store_bench --seconds N [--sqlite-dir DIR] "
					"[--pg-url URL]\n");
			return 2;
		}
	}
	if (seconds <= 0 || seconds > 600) {
		fprintf(stderr, "store_bench: --seconds must be in (0, 600]\n");
		return 2;
	}
	int status = 0;
	if (dir != NULL) {
		char *url = sr_xasprintf("sqlite:%s/store.db", dir);
		char *raw = sr_xasprintf("%s/raw.db", dir);
		status |= bench_store("sqlite", url, seconds);
		status |= bench_raw_sqlite(raw, seconds);
		free(url);
		free(raw);
	}
	if (pg != NULL)
		status |= bench_store("postgres", pg, seconds);
	return status;
}
