/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_STORE_STORE_H
#define SR_STORE_STORE_H

/*
 * The one storage interface every module uses. Two backends: SQLite (the
 * embedded default, "sqlite:PATH") and PostgreSQL ("postgresql://..."). Only
 * src/store/ speaks SQL dialects and calls sqlite3_* or PQ*.
 *
 * SQL handed to this interface is the portable subset both backends accept,
 * with numbered placeholders $1, $2, ... (the SQLite backend maps them to
 * ?1, ?2, ...). Portability rules the backends rely on:
 *  - Row locks are written the PostgreSQL way, "SELECT ... FOR UPDATE" (also
 *    FOR SHARE, NOWAIT, SKIP LOCKED). The SQLite backend drops the clause:
 *    SR_TX_WRITE and SR_TX_SERIALIZABLE take SQLite's database write lock
 *    at BEGIN (BEGIN IMMEDIATE), which is stronger than any row lock.
 *  - After an error inside a transaction PostgreSQL refuses every further
 *    statement until rollback, SQLite does not. Code that expects a
 *    duplicate must say so in SQL (INSERT ... ON CONFLICT DO NOTHING, both
 *    backends) instead of catching SR_E_CONFLICT and carrying on.
 *  - A parameter whose type PostgreSQL cannot infer from context (for
 *    example "SELECT $1") needs CAST($1 AS BIGINT) / CAST($1 AS TEXT).
 *  - Booleans are INTEGER 0/1; binary columns are BLOB (BYTEA on PostgreSQL,
 *    see migrations/README.md); times are RFC 3339 TEXT.
 *
 * Threads: a struct sr_store may be shared by all threads; a struct sr_conn
 * and its statements belong to one thread between acquire and release.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_store;
struct sr_conn;
struct sr_stmt;

enum sr_store_kind { SR_STORE_SQLITE = 1, SR_STORE_POSTGRES = 2 };

struct sr_store_options {
	unsigned pool_size;            /* connections kept open (>= 1) */
	unsigned busy_timeout_ms;      /* SQLite busy timeout; PostgreSQL lock_timeout (0: SQLite
				     fails at once, PostgreSQL waits forever) */
	unsigned statement_timeout_ms; /* PostgreSQL statement_timeout (0: none; SQLite: unused).
					  A statement past it fails with SR_E_TIMEOUT */
	const char *base_dir;          /* relative sqlite: paths resolve against it (may be NULL) */
	bool no_group_commit;          /* SQLite: commit every write transaction alone */
};

/*
 * Opens a database by URL: "sqlite:PATH" or "postgresql://..." (also
 * "postgres://"). Does not migrate. On failure *out stays NULL and, when
 * errbuf is given, it holds a reason with no password in it.
 * Returns 0, SR_E_INVAL (bad URL), SR_E_STORE (cannot connect/open).
 */
int sr_store_open(const char *url, const struct sr_store_options *opt, struct sr_store **out,
		  char *errbuf, size_t errlen) SR_WUR;
struct sr_config;
/* The database URL of service ("platform" or "vault"): [database] url when
 * set, else [<service>] database_url. Points into cfg. */
const char *sr_store_url_for_service(const struct sr_config *cfg, const char *service);
/* sr_store_open on that URL with [database] busy_timeout_ms, relative
 * sqlite: paths against the config file's folder, and pool_size connections
 * (0: [database] pool_size). Returns as sr_store_open. */
int sr_store_open_for_service(const struct sr_config *cfg, const char *service, unsigned pool_size,
			      struct sr_store **out, char *err, size_t errlen) SR_WUR;

/* Closes every pooled connection. Accepts NULL. All conns must be released. */
void sr_store_close(struct sr_store *st);
enum sr_store_kind sr_store_kind(const struct sr_store *st);
/* "sqlite" or "postgres". */
const char *sr_store_kind_name(enum sr_store_kind kind);
/* The URL the store was opened with, password replaced by "***"; for
 * messages. Valid until sr_store_close. */
const char *sr_store_url_redacted(const struct sr_store *st);

/* Takes a connection from the pool, waiting while all are busy. A pooled
 * connection found broken (PostgreSQL restarted, network cut) is reopened
 * here. Returns 0 or SR_E_STORE (cannot reconnect). */
int sr_store_acquire(struct sr_store *st, struct sr_conn **out) SR_WUR;
/* Returns a connection; rolls back any transaction left open. Accepts NULL. */
void sr_store_release(struct sr_conn *c);

/*
 * Which mode to pick:
 *  - SR_TX_READ: one consistent snapshot, no writes (PostgreSQL REPEATABLE
 *    READ READ ONLY; SQLite deferred BEGIN).
 *  - SR_TX_WRITE: PostgreSQL READ COMMITTED. Each statement sees the latest
 *    committed rows, so the caller serializes what matters with explicit
 *    row locks (SELECT ... FOR UPDATE on a head/owner row: the audit head,
 *    a job lease, an idempotency key) or with unique constraints. Cheap, and
 *    it only retries on deadlock or lock_timeout.
 *  - SR_TX_SERIALIZABLE: PostgreSQL SERIALIZABLE, for money (ledger
 *    postings, balance checks, payout state changes): invariants that span
 *    several rows are kept without the caller naming every row to lock, at
 *    the price of serialization failures, which sr_store_tx retries.
 * SQLite takes its single write lock at BEGIN (BEGIN IMMEDIATE) for both
 * WRITE and SERIALIZABLE, so every SQLite write transaction is serial.
 */
enum sr_tx_mode {
	SR_TX_READ,  /* read-only snapshot */
	SR_TX_WRITE, /* SQLite: BEGIN IMMEDIATE; PostgreSQL: READ COMMITTED + explicit row locks */
	SR_TX_SERIALIZABLE /* SQLite: BEGIN IMMEDIATE; PostgreSQL: SERIALIZABLE (money) */
};

/* How many times sr_store_tx runs fn before giving up with SR_E_RETRY. */
#define SR_STORE_TX_ATTEMPTS 10

/*
 * Runs fn inside one transaction on a pooled connection and commits it; the
 * commit is durable (synchronous=FULL / synchronous_commit=on) before this
 * returns 0. If fn or the commit reports SR_E_RETRY (serialization failure,
 * deadlock, SQLITE_BUSY), the transaction is rolled back and fn runs again,
 * with backoff, a bounded number of times. Any other error from fn rolls
 * back and is returned as is. fn must have no effects outside the database
 * that it cannot repeat, and must not call sr_store_tx itself (it would
 * wait for a second connection, and on SQLite for the write lock it holds).
 *
 * Group commit (SQLite, SR_TX_WRITE and SR_TX_SERIALIZABLE, unless
 * no_group_commit): write transactions that arrive while another commit is
 * in flight are run one after another by one thread, each inside its own
 * SAVEPOINT (an error rolls back only that fn), and committed together with
 * one fsync. Nobody is answered before that commit is on disk; if it fails,
 * every transaction of the group fails or is retried alone. So fn may run
 * on another thread than its caller: it must use only arg and thread-safe
 * state, no thread-locals.
 * Returns 0, fn's error, SR_E_RETRY after SR_STORE_TX_ATTEMPTS tries,
 * SR_E_STORE, SR_E_TIMEOUT (a statement or the commit ran past
 * statement_timeout_ms; rolled back, not retried: answer 503). If fn returns 0 but left the PostgreSQL transaction failed
 * (it ignored a statement error), the commit is refused with SR_E_STORE.
 * Thread-safe; blocks while the pool is exhausted.
 */
/* fn returns 0 or a negative SR_E_* (a positive value is a bug:
 * SR_E_INTERNAL). */
typedef int (*sr_tx_fn)(struct sr_conn *c, void *arg);
int sr_store_tx(struct sr_store *st, enum sr_tx_mode mode, sr_tx_fn fn, void *arg) SR_WUR;

/* Runs SQL with no parameters and no result rows (DDL, several statements
 * allowed on both backends). Returns 0 or an SR_E_* as sr_stmt_step. */
int sr_conn_exec(struct sr_conn *c, const char *sql) SR_WUR;
/* Which backend c talks to, for the rare SQL that must differ. */
enum sr_store_kind sr_conn_kind(const struct sr_conn *c);
/* The backend's text for the last error on c ("" if none), for CLI
 * messages and tests. It can quote SQL and, for data errors, a value: do
 * not send it to clients. Valid until the next call on c. */
const char *sr_conn_errmsg(const struct sr_conn *c);

/*
 * Prepares sql on c (cached per connection by its text, so calling this in
 * a loop is cheap). The statement belongs to c; sr_stmt_done() returns it to
 * the cache. Placeholders are $1..$N.
 */
int sr_stmt_prepare(struct sr_conn *c, const char *sql, struct sr_stmt **out) SR_WUR;
/* Binds parameter idx (1-based). Text and blobs are copied. Binding is
 * allowed before the first step only; SR_E_INVAL for an idx out of range. */
int sr_stmt_bind_i64(struct sr_stmt *s, int idx, int64_t v) SR_WUR;
int sr_stmt_bind_text(struct sr_stmt *s, int idx, const char *v, size_t len) SR_WUR;
int sr_stmt_bind_blob(struct sr_stmt *s, int idx, const void *v, size_t len) SR_WUR;
int sr_stmt_bind_null(struct sr_stmt *s, int idx) SR_WUR;
/* Executes (first call) or advances: 1 a row is ready, 0 no more rows,
 * negative SR_E_* on error (SR_E_RETRY for serialization/busy, SR_E_CONFLICT
 * for a unique-constraint violation, SR_E_TIMEOUT for a PostgreSQL statement
 * cancelled by statement_timeout_ms: the transaction is then failed and
 * sr_store_tx rolls it back and returns SR_E_TIMEOUT without retrying). */
int sr_stmt_step(struct sr_stmt *s) SR_WUR;
/* Columns of the current row, 0-based. Pointers stay valid until the next
 * step or done. A NULL column reads as 0 / NULL with *len = 0. */
int64_t sr_stmt_col_i64(struct sr_stmt *s, int col);
const char *sr_stmt_col_text(struct sr_stmt *s, int col, size_t *len);
const void *sr_stmt_col_blob(struct sr_stmt *s, int col, size_t *len);
bool sr_stmt_col_is_null(struct sr_stmt *s, int col);
/* Rows changed by this INSERT/UPDATE/DELETE once stepped to the end (0 for
 * a SELECT). */
int64_t sr_stmt_changes(struct sr_stmt *s);
/* Resets the statement and returns it to the connection's cache. Accepts NULL. */
void sr_stmt_done(struct sr_stmt *s);

#endif
