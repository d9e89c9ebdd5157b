/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durable single-row inserts per second through the store, each insert its
 * own sr_store_tx (BEGIN, INSERT, COMMIT with the commit on disk), on SQLite
 * and PostgreSQL; and, for SQLite, the reference measured in the same run:
 * a raw sqlite3 C loop with WAL + synchronous=FULL doing the same
 * transactions, interleaved with the store's in short slices. The
 * PostgreSQL reference (pgbench) is run by bench/store.sh.
 *
 *   store_bench --seconds N [--sqlite-dir DIR] [--pg-url URL]
 *
 * Prints key=value lines: store.sqlite.inserts_per_s, raw.sqlite.inserts_per_s,
 * store.sqlite.threads8.group.inserts_per_s and .nogroup. (8 writers at once,
 * with and without SQLite group commit), store.postgres.inserts_per_s.
 */
#include "base/mem.h"
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
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

#define SLICE 20 /* transactions per slice when interleaving */

static int store_setup(const char *url, struct sr_store **out)
{
	struct sr_store_options opt = {.pool_size = 1, .busy_timeout_ms = 5000};
	struct sr_conn *c = NULL;
	char err[512];
	*out = NULL;
	if (sr_store_open(url, &opt, out, err, sizeof err) != 0) {
		fprintf(stderr, "store_bench: %s\n", err);
		return 1;
	}
	int rc = sr_store_acquire(*out, &c);
	if (rc == 0)
		rc = sr_conn_exec(c, "DROP TABLE IF EXISTS bench_insert;"
				     "CREATE TABLE bench_insert (id BIGINT PRIMARY KEY, "
				     "payload TEXT NOT NULL)");
	if (rc != 0)
		fprintf(stderr, "store_bench: setup failed: %s\n", c ? sr_conn_errmsg(c) : "");
	sr_store_release(c);
	return rc != 0;
}

/* n store transactions; returns 0 or 1 */
static int store_slice(struct sr_store *st, struct ins *a, int n)
{
	for (int i = 0; i < n; i++) {
		a->id++;
		int rc = sr_store_tx(st, SR_TX_WRITE, insert_one, a);
		if (rc != 0) {
			fprintf(stderr, "store_bench: insert failed: %s\n", sr_strerror(rc));
			return 1;
		}
	}
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
static int raw_slice(sqlite3 *db, sqlite3_stmt *ins, int64_t *id, int n)
{
	for (int i = 0; i < n; i++) {
		++*id;
		if (raw_exec(db, "BEGIN IMMEDIATE"))
			return 1;
		sqlite3_bind_int64(ins, 1, *id);
		sqlite3_bind_text(ins, 2, PAYLOAD, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fprintf(stderr, "store_bench: raw insert: %s\n", sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(ins);
		if (raw_exec(db, "COMMIT"))
			return 1;
	}
	return 0;
}

/*
 * SQLite: the store and the raw loop alternate in slices of SLICE
 * transactions on two files in the same folder, each timed on its own, so
 * that the noise of a shared disk falls on both alike.
 */
static int bench_sqlite(const char *dir, double seconds)
{
	char *url = sr_xasprintf("sqlite:%s/store.db", dir);
	char *raw = sr_xasprintf("%s/raw.db", dir);
	struct sr_store *st = NULL;
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	int status = 1;

	if (store_setup(url, &st))
		goto out;
	if (sqlite3_open(raw, &db) != SQLITE_OK)
		goto out;
	if (raw_exec(db,
		     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		     "DROP TABLE IF EXISTS bench_insert;"
		     "CREATE TABLE bench_insert (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)"))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO bench_insert (id, payload) VALUES (?1, ?2)", -1,
			       &ins, NULL) != SQLITE_OK)
		goto out;

	struct ins a = {0};
	int64_t raw_id = 0;
	double t_store = 0, t_raw = 0, end = now_s() + 2 * seconds;
	while (now_s() < end) {
		double t0 = now_s();
		if (store_slice(st, &a, SLICE))
			goto out;
		double t1 = now_s();
		if (raw_slice(db, ins, &raw_id, SLICE))
			goto out;
		double t2 = now_s();
		t_store += t1 - t0;
		t_raw += t2 - t1;
	}
	printf("store.sqlite.inserts_per_s=%.0f\n", (double)a.id / t_store);
	printf("raw.sqlite.inserts_per_s=%.0f\n", (double)raw_id / t_raw);
	status = 0;
out:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	sr_store_close(st);
	free(url);
	free(raw);
	return status;
}

#define CONC_THREADS 8

struct conc {
	struct sr_store *st;
	pthread_mutex_t *mu;
	int64_t *next_id;
	double end;
	int64_t done;
	int failed;
};

static int insert_next(struct sr_conn *c, void *p)
{
	return insert_one(c, p);
}

static void *conc_worker(void *p)
{
	struct conc *w = p;
	while (now_s() < w->end) {
		struct ins a;
		pthread_mutex_lock(w->mu);
		a.id = ++*w->next_id;
		pthread_mutex_unlock(w->mu);
		if (sr_store_tx(w->st, SR_TX_WRITE, insert_next, &a) != 0) {
			w->failed = 1;
			break;
		}
		w->done++;
	}
	return NULL;
}

/* CONC_THREADS writers at once through one store: what SQLite group commit
 * buys (several transactions per fsync), with and without it. */
static int bench_sqlite_concurrent(const char *dir, double seconds, bool group)
{
	char *url = sr_xasprintf("sqlite:%s/conc.db", dir);
	struct sr_store *st = NULL;
	struct sr_store_options opt = {
		.pool_size = CONC_THREADS, .busy_timeout_ms = 5000, .no_group_commit = !group};
	char err[512];
	int status = 1;
	if (store_setup(url, &st))
		goto out;
	sr_store_close(st);
	st = NULL;
	if (sr_store_open(url, &opt, &st, err, sizeof err) != 0) {
		fprintf(stderr, "store_bench: %s\n", err);
		goto out;
	}
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int64_t next_id = 0;
	struct conc w[CONC_THREADS];
	pthread_t t[CONC_THREADS];
	double start = now_s();
	for (int i = 0; i < CONC_THREADS; i++) {
		w[i] = (struct conc){
			.st = st, .mu = &mu, .next_id = &next_id, .end = start + seconds};
		if (pthread_create(&t[i], NULL, conc_worker, &w[i]) != 0)
			abort();
	}
	int64_t total = 0;
	int failed = 0;
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += w[i].done;
		failed |= w[i].failed;
	}
	double elapsed = now_s() - start;
	if (failed) {
		fprintf(stderr, "store_bench: a concurrent insert failed\n");
		goto out;
	}
	printf("store.sqlite.threads%d.%s.inserts_per_s=%.0f\n", CONC_THREADS,
	       group ? "group" : "nogroup", (double)total / elapsed);
	status = 0;
out:
	sr_store_close(st);
	free(url);
	return status;
}

static int bench_pg(const char *url, double seconds)
{
	struct sr_store *st = NULL;
	if (store_setup(url, &st))
		return 1;
	struct ins a = {0};
	double start = now_s(), t = start;
	int status = 0;
	while (t < start + seconds && status == 0) {
		status = store_slice(st, &a, SLICE);
		t = now_s();
	}
	if (status == 0)
		printf("store.postgres.inserts_per_s=%.0f\n", (double)a.id / (t - start));
	sr_store_close(st);
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
		status |= bench_sqlite(dir, seconds);
		status |= bench_sqlite_concurrent(dir, seconds, true);
		status |= bench_sqlite_concurrent(dir, seconds, false);
	}
	if (pg != NULL)
		status |= bench_pg(pg, seconds);
	return status;
}
