/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend: the embedded default. Every connection runs in WAL
 * mode with foreign keys on and synchronous=FULL (a commit is on disk before
 * it returns: money), with a busy timeout so that writers queue instead of
 * failing at once. SQL arrives in the portable dialect of store.h and is
 * rewritten once per connection and SQL text ($N -> ?N, row-lock clauses
 * dropped) into a cache of prepared statements keyed by the original text.
 * A connection is used by one thread at a time (the pool in store.c sees to
 * it), so the library runs in multi-thread mode without its own mutexes.
 */
#include "store/store_int.h"

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CACHE_BUCKETS 64

struct sq_stmt {
	struct sr_stmt base;
	sqlite3_stmt *st;
	struct sq_cached *entry; /* NULL: not cached, finalized at done */
	int64_t changes;
	bool finished; /* stepped to SQLITE_DONE or an error */
};

struct sq_cached {
	struct sq_cached *next;
	uint64_t hash;
	char *sql;
	bool in_use;
	struct sq_stmt stmt;
};

struct sq_conn {
	struct sr_conn base;
	sqlite3 *db;
	struct sq_cached *buckets[CACHE_BUCKETS];
	unsigned ncached;
	bool query_only; /* inside an SR_TX_READ transaction */
};

static bool word_at(const char *p, const char *word, size_t *len)
{
	size_t n = strlen(word);
	if (strncasecmp(p, word, n) != 0)
		return false;
	if (isalnum((unsigned char)p[n]) || p[n] == '_')
		return false;
	*len = n;
	return true;
}

static size_t skip_space(const char *p)
{
	size_t n = 0;
	while (p[n] != '\0' && isspace((unsigned char)p[n]))
		n++;
	return n;
}

/*
 * Length of a row-lock clause at p ("FOR UPDATE", "FOR SHARE", optionally
 * followed by "NOWAIT" or "SKIP LOCKED"), or 0. p is at a word start.
 */
static size_t lock_clause(const char *p)
{
	size_t n, w;
	if (!word_at(p, "FOR", &w))
		return 0;
	n = w + skip_space(p + w);
	if (n == w)
		return 0;
	if (!word_at(p + n, "UPDATE", &w) && !word_at(p + n, "SHARE", &w))
		return 0;
	n += w;
	size_t sp = skip_space(p + n);
	if (word_at(p + n + sp, "NOWAIT", &w)) {
		n += sp + w;
	} else if (word_at(p + n + sp, "SKIP", &w)) {
		size_t m = n + sp + w;
		size_t sp2 = skip_space(p + m);
		if (sp2 > 0 && word_at(p + m + sp2, "LOCKED", &w))
			n = m + sp2 + w;
	}
	return n;
}

char *sr_store_sqlite_rewrite(const char *sql)
{
	size_t len = strlen(sql);
	char *out = sr_xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		char ch = sql[i];
		if (ch == '\'' || ch == '"' || ch == '`') {
			/* Quoted string or identifier; a doubled quote escapes. */
			out[o++] = sql[i++];
			while (i < len) {
				if (sql[i] == ch && sql[i + 1] == ch) {
					out[o++] = sql[i++];
					out[o++] = sql[i++];
				} else if (sql[i] == ch) {
					out[o++] = sql[i++];
					break;
				} else {
					out[o++] = sql[i++];
				}
			}
		} else if (ch == '-' && sql[i + 1] == '-') {
			while (i < len && sql[i] != '\n')
				out[o++] = sql[i++];
		} else if (ch == '/' && sql[i + 1] == '*') {
			out[o++] = sql[i++];
			out[o++] = sql[i++];
			while (i < len && !(sql[i] == '*' && sql[i + 1] == '/'))
				out[o++] = sql[i++];
			if (i < len) {
				out[o++] = sql[i++];
				out[o++] = sql[i++];
			}
		} else if (ch == '$' && isdigit((unsigned char)sql[i + 1])) {
			out[o++] = '?';
			i++;
		} else if (isalpha((unsigned char)ch) || ch == '_') {
			size_t n = lock_clause(sql + i);
			if (n > 0) {
				/* BEGIN IMMEDIATE already holds the database write lock. */
				out[o++] = ' ';
				i += n;
			} else {
				while (i < len && (isalnum((unsigned char)sql[i]) ||
						   sql[i] == '_' || sql[i] == '$'))
					out[o++] = sql[i++];
			}
		} else {
			out[o++] = sql[i++];
		}
	}
	out[o] = '\0';
	return out;
}

static int map_err(struct sq_conn *c, int rc)
{
	sr_conn_set_errmsg(&c->base, sqlite3_errmsg(c->db));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return SR_E_RETRY;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return SR_E_CONFLICT;
		return SR_E_STORE;
	default:
		sr_log(SR_LOG_WARN, "sqlite error", SR_LI("code", rc),
		       SR_LS("message", c->base.errmsg));
		return SR_E_STORE;
	}
}

static int sq_exec_raw(struct sq_conn *c, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, &err);
	if (rc == SQLITE_OK)
		return 0;
	sqlite3_free(err);
	return map_err(c, sqlite3_extended_errcode(c->db));
}

static void sq_disconnect(struct sr_conn *base)
{
	struct sq_conn *c = (struct sq_conn *)base;
	if (c == NULL)
		return;
	for (unsigned b = 0; b < CACHE_BUCKETS; b++) {
		struct sq_cached *e = c->buckets[b];
		while (e != NULL) {
			struct sq_cached *next = e->next;
			SR_DASSERT(!e->in_use);
			sqlite3_finalize(e->stmt.st);
			free(e->sql);
			free(e);
			e = next;
		}
	}
	/* close_v2: a statement leaked by a bug cannot keep the file open. */
	sqlite3_close_v2(c->db);
	free(c);
}

static int sq_connect(struct sr_store *st, struct sr_conn **out, char *err, size_t errlen)
{
	int rc = 0;
	struct sq_conn *c = sr_xcalloc(1, sizeof *c);
	c->base.st = st;

	/* Create the file owner-only before SQLite does (it would use 0644);
	 * the -wal and -shm files copy the database file's mode. */
	int fd = open(st->target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	else if (errno != EEXIST) {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = SR_E_STORE;
		goto out;
	}

	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(st->target, &c->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", c->db ? sqlite3_errmsg(c->db) : "out of memory");
		rc = SR_E_STORE;
		goto out;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, (int)st->opt.busy_timeout_ms);
	/* journal_mode=WAL is persistent in the file; asking every time is
	 * cheap and repairs a file created by another tool. */
	static const char *const setup = "PRAGMA journal_mode=WAL;"
					 "PRAGMA synchronous=FULL;"
					 "PRAGMA foreign_keys=ON;"
					 "PRAGMA trusted_schema=OFF;";
	if (sq_exec_raw(c, setup) != 0) {
		snprintf(err, errlen, "%s", c->base.errmsg);
		rc = SR_E_STORE;
		goto out;
	}
	*out = &c->base;
	c = NULL;
out:
	sq_disconnect(c ? &c->base : NULL);
	return rc;
}

static bool sq_usable(struct sr_conn *base)
{
	(void)base;
	return true;
}

static bool sq_in_tx(struct sr_conn *base)
{
	return sqlite3_get_autocommit(((struct sq_conn *)base)->db) == 0;
}

/* Leaves read-only mode after an SR_TX_READ transaction. */
static void end_read(struct sq_conn *c)
{
	if (c->query_only) {
		(void)sq_exec_raw(c, "PRAGMA query_only=0");
		c->query_only = false;
	}
}

static int sq_begin(struct sr_conn *base, enum sr_tx_mode mode)
{
	struct sq_conn *c = (struct sq_conn *)base;
	if (mode == SR_TX_READ) {
		/* Refuse writes like PostgreSQL's READ ONLY does, so that a
		 * mistake shows on the embedded backend too. */
		int rc = sq_exec_raw(c, "PRAGMA query_only=1");
		if (rc == 0) {
			c->query_only = true;
			rc = sq_exec_raw(c, "BEGIN DEFERRED");
		}
		if (rc != 0)
			end_read(c);
		return rc;
	}
	/* Writers take the write lock up front: a deferred transaction that
	 * reads and then writes can fail with SQLITE_BUSY_SNAPSHOT midway,
	 * while BEGIN IMMEDIATE waits (busy timeout) at the start. */
	return sq_exec_raw(c, "BEGIN IMMEDIATE");
}

static int sq_commit(struct sr_conn *base)
{
	struct sq_conn *c = (struct sq_conn *)base;
	int rc = sq_exec_raw(c, "COMMIT");
	if (rc == 0)
		end_read(c);
	return rc;
}

static void sq_rollback(struct sr_conn *base)
{
	struct sq_conn *c = (struct sq_conn *)base;
	/* A statement still running would make ROLLBACK fail on old SQLite. */
	for (sqlite3_stmt *s = sqlite3_next_stmt(c->db, NULL); s != NULL;
	     s = sqlite3_next_stmt(c->db, s))
		sqlite3_reset(s);
	if (sqlite3_get_autocommit(c->db) == 0)
		(void)sq_exec_raw(c, "ROLLBACK");
	end_read(c);
}

static int sq_exec(struct sr_conn *base, const char *sql)
{
	struct sq_conn *c = (struct sq_conn *)base;
	char *rewritten = sr_store_sqlite_rewrite(sql);
	int rc = sq_exec_raw(c, rewritten);
	free(rewritten);
	return rc;
}

static int sq_prepare(struct sr_conn *base, const char *sql, struct sr_stmt **out)
{
	struct sq_conn *c = (struct sq_conn *)base;
	uint64_t h = sr_store_hash(sql);
	struct sq_cached *e;
	for (e = c->buckets[h % CACHE_BUCKETS]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->sql, sql) == 0)
			break;
	if (e != NULL && !e->in_use) {
		e->in_use = true;
		e->stmt.changes = 0;
		e->stmt.finished = false;
		*out = &e->stmt.base;
		return 0;
	}

	char *rewritten = sr_store_sqlite_rewrite(sql);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(c->db, rewritten, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	free(rewritten);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return map_err(c, rc);
	}
	if (st == NULL) { /* only a comment or whitespace */
		sr_conn_set_errmsg(base, "empty statement");
		return SR_E_INVAL;
	}

	struct sq_stmt *s;
	if (e == NULL && c->ncached < SR_STORE_STMT_CACHE_MAX) {
		e = sr_xcalloc(1, sizeof *e);
		e->hash = h;
		e->sql = sr_xstrdup(sql);
		e->in_use = true;
		e->next = c->buckets[h % CACHE_BUCKETS];
		c->buckets[h % CACHE_BUCKETS] = e;
		c->ncached++;
		s = &e->stmt;
		s->entry = e;
	} else {
		/* Same SQL already in use on this connection (nested loop), or
		 * the cache is full: a one-off statement, finalized at done. */
		s = sr_xcalloc(1, sizeof *s);
	}
	s->base.c = base;
	s->st = st;
	*out = &s->base;
	return 0;
}

static int bind_result(struct sq_stmt *s, int rc)
{
	if (rc == SQLITE_OK)
		return 0;
	if (rc == SQLITE_RANGE)
		return SR_E_INVAL;
	return map_err((struct sq_conn *)s->base.c, rc);
}

static int sq_bind_i64(struct sr_stmt *base, int idx, int64_t v)
{
	struct sq_stmt *s = (struct sq_stmt *)base;
	return bind_result(s, sqlite3_bind_int64(s->st, idx, v));
}

static int sq_bind_text(struct sr_stmt *base, int idx, const char *v, size_t len)
{
	struct sq_stmt *s = (struct sq_stmt *)base;
	if (len > INT32_MAX)
		return SR_E_LIMIT;
	/* A NULL pointer would bind SQL NULL; an empty string is not NULL. */
	return bind_result(s, sqlite3_bind_text64(s->st, idx, len ? v : "", len, SQLITE_TRANSIENT,
						  SQLITE_UTF8));
}

static int sq_bind_blob(struct sr_stmt *base, int idx, const void *v, size_t len)
{
	struct sq_stmt *s = (struct sq_stmt *)base;
	if (len > INT32_MAX)
		return SR_E_LIMIT;
	return bind_result(s, sqlite3_bind_blob64(s->st, idx, len ? v : "", len, SQLITE_TRANSIENT));
}

static int sq_bind_null(struct sr_stmt *base, int idx)
{
	struct sq_stmt *s = (struct sq_stmt *)base;
	return bind_result(s, sqlite3_bind_null(s->st, idx));
}

static int sq_step(struct sr_stmt *base)
{
	struct sq_stmt *s = (struct sq_stmt *)base;
	struct sq_conn *c = (struct sq_conn *)base->c;
	/* Stepping again after DONE would silently re-run the statement. */
	if (s->finished)
		return 0;
	int rc = sqlite3_step(s->st);
	if (rc == SQLITE_ROW)
		return 1;
	s->finished = true;
	if (rc == SQLITE_DONE) {
		/* Like PostgreSQL: a SELECT changes nothing. */
		s->changes = sqlite3_stmt_readonly(s->st) ? 0 : sqlite3_changes64(c->db);
		return 0;
	}
	rc = map_err(c, sqlite3_extended_errcode(c->db));
	sqlite3_reset(s->st);
	return rc;
}

static int64_t sq_col_i64(struct sr_stmt *base, int col)
{
	return sqlite3_column_int64(((struct sq_stmt *)base)->st, col);
}

static const char *sq_col_text(struct sr_stmt *base, int col, size_t *len)
{
	sqlite3_stmt *st = ((struct sq_stmt *)base)->st;
	const unsigned char *p = sqlite3_column_text(st, col);
	*len = p ? (size_t)sqlite3_column_bytes(st, col) : 0;
	return (const char *)p;
}

static const void *sq_col_blob(struct sr_stmt *base, int col, size_t *len)
{
	sqlite3_stmt *st = ((struct sq_stmt *)base)->st;
	if (sqlite3_column_type(st, col) == SQLITE_NULL) {
		*len = 0;
		return NULL;
	}
	const void *p = sqlite3_column_blob(st, col);
	*len = (size_t)sqlite3_column_bytes(st, col);
	/* SQLite answers NULL for an empty blob; callers tell NULL from
	 * empty by the pointer. */
	return p != NULL ? p : "";
}

static bool sq_col_is_null(struct sr_stmt *base, int col)
{
	return sqlite3_column_type(((struct sq_stmt *)base)->st, col) == SQLITE_NULL;
}

static int64_t sq_changes(struct sr_stmt *base)
{
	return ((struct sq_stmt *)base)->changes;
}

static void sq_done(struct sr_stmt *base)
{
	struct sq_stmt *s = (struct sq_stmt *)base;
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
	if (s->entry != NULL) {
		s->entry->in_use = false;
	} else {
		sqlite3_finalize(s->st);
		free(s);
	}
}

const struct sr_store_ops sr_store_sqlite_ops = {
	.kind = SR_STORE_SQLITE,
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.usable = sq_usable,
	.in_tx = sq_in_tx,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.bind_i64 = sq_bind_i64,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.col_i64 = sq_col_i64,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
	.col_is_null = sq_col_is_null,
	.changes = sq_changes,
	.done = sq_done,
};
