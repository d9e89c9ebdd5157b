/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_STORE_STORE_INT_H
#define SR_STORE_STORE_INT_H

/*
 * What store.c (pool, transactions, URL dispatch) shares with the backends
 * sqlite.c and pg.c. Each backend fills one struct sr_store_ops; its
 * connection and statement structs start with struct sr_conn / struct
 * sr_stmt so that store.c can hand them to the ops unchanged.
 */
#include "store/store.h"

#include <pthread.h>

/* Statements cached per connection before new SQL texts go uncached. */
#define SR_STORE_STMT_CACHE_MAX 512
/* Bytes kept of a backend error message. */
#define SR_STORE_ERRMSG_MAX 512

struct sr_store_ops {
	enum sr_store_kind kind;
	/* Opens one connection to st->target; on failure a reason in err. */
	int (*connect)(struct sr_store *st, struct sr_conn **out, char *err, size_t errlen);
	void (*disconnect)(struct sr_conn *c);
	/* False when the connection is broken and must be reopened. */
	bool (*usable)(struct sr_conn *c);
	/* True while a transaction is open (including a failed one). */
	bool (*in_tx)(struct sr_conn *c);
	int (*begin)(struct sr_conn *c, enum sr_tx_mode mode);
	int (*commit)(struct sr_conn *c);
	void (*rollback)(struct sr_conn *c);
	int (*exec)(struct sr_conn *c, const char *sql);
	int (*prepare)(struct sr_conn *c, const char *sql, struct sr_stmt **out);
	int (*bind_i64)(struct sr_stmt *s, int idx, int64_t v);
	int (*bind_text)(struct sr_stmt *s, int idx, const char *v, size_t len);
	int (*bind_blob)(struct sr_stmt *s, int idx, const void *v, size_t len);
	int (*bind_null)(struct sr_stmt *s, int idx);
	int (*step)(struct sr_stmt *s);
	int64_t (*col_i64)(struct sr_stmt *s, int col);
	const char *(*col_text)(struct sr_stmt *s, int col, size_t *len);
	const void *(*col_blob)(struct sr_stmt *s, int col, size_t *len);
	bool (*col_is_null)(struct sr_stmt *s, int col);
	int64_t (*changes)(struct sr_stmt *s);
	void (*done)(struct sr_stmt *s);
};

struct sr_conn {
	struct sr_store *st;
	unsigned slot;
	unsigned open_stmts; /* prepared and not yet done */
	char errmsg[SR_STORE_ERRMSG_MAX];
};

struct sr_stmt {
	struct sr_conn *c;
};

/* One write transaction waiting for the SQLite group commit. */
struct sr_gc_req {
	struct sr_gc_req *next;
	sr_tx_fn fn;
	void *arg;
	int rc;
	bool done;
};

/* Most transactions one SQLite commit carries. */
#define SR_STORE_GROUP_MAX 64

struct sr_store {
	const struct sr_store_ops *ops;
	/* SQLite: the file path. PostgreSQL: the URL (may hold a password; wiped
	 * on close). */
	char *target;
	char *redacted; /* the URL with its password replaced, for messages */
	struct sr_store_options opt;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned nconns;
	struct sr_conn **conns; /* NULL slot: not opened yet or dropped */
	bool *busy;

	/* SQLite group commit (see sr_store_tx). */
	bool group_commit;
	pthread_mutex_t gc_mu;
	pthread_cond_t gc_cv;
	struct sr_gc_req *gc_head, **gc_tail;
	bool gc_leader;
};

/* Runs reqs[0..n) in one SQLite transaction, each in a savepoint, and
 * commits once; sets every req's rc (SR_E_RETRY: run it again alone).
 * Exposed for tests. */
void sr_store_group_run(struct sr_store *st, struct sr_gc_req **reqs, unsigned n);

extern const struct sr_store_ops sr_store_sqlite_ops;
extern const struct sr_store_ops sr_store_pg_ops;

/* Records a backend error message on c (truncated). */
void sr_conn_set_errmsg(struct sr_conn *c, const char *msg);

/* The SQLite dialect of a portable statement: $N -> ?N outside quotes and
 * comments, FOR UPDATE / FOR SHARE [NOWAIT | SKIP LOCKED] removed. Caller
 * frees. */
char *sr_store_sqlite_rewrite(const char *sql);

/* FNV-1a of a string, for the statement caches. */
uint64_t sr_store_hash(const char *s);

#endif
