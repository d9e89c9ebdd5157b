/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL backend (libpq): production and the scale-out path. Each
 * pooled connection prepares a SQL text once (PQprepare, named s1, s2, ...)
 * and executes it by name afterwards. Parameters go as text, except blobs,
 * which go binary so that NUL bytes need no escaping; results come as text
 * and BYTEA columns are decoded on read. Every connection runs with
 * synchronous_commit=on (a commit is durable when it returns), lock_timeout
 * from the busy timeout and statement_timeout from statement_timeout_ms.
 * SQLSTATEs that mean "try again" (serialization failure, deadlock, lock
 * timeout) become SR_E_RETRY for sr_store_tx; unique violations become
 * SR_E_CONFLICT; a statement cancelled by statement_timeout becomes
 * SR_E_TIMEOUT, which sr_store_tx does not retry: a query that ran out its
 * time once would most likely do so again, holding a worker all the while.
 *
 * The URL may hold a password: libpq keeps its own copy; this file never
 * copies it into a message (libpq's messages name host, port and user only;
 * store.c also scrubs them).
 */
#include "store/store_int.h"

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_BUCKETS 64
#define BYTEAOID      17
#define BOOLOID       16
#define PG_PARAMS_MAX 65535

struct pg_prepared {
	struct pg_prepared *next;
	uint64_t hash;
	char *sql;
	char name[16];
	int nparams;
};

struct pg_conn {
	struct sr_conn base;
	PGconn *pg;
	struct pg_prepared *buckets[CACHE_BUCKETS];
	unsigned nprepared;
};

struct pg_stmt {
	struct sr_stmt base;
	const struct pg_prepared *prep; /* NULL: cache full, run with PQexecParams */
	char *sql;                      /* uncached only */
	int nparams;
	char **values;
	int *lengths;
	int *formats;
	PGresult *res;
	int row, nrows, ncols;
	int64_t changes;
	bool executed;
	unsigned char **decoded; /* BYTEA columns of the current row, decoded */
	size_t *decoded_len;
};

/* Highest $N in sql outside quotes and comments: the parameter count. */
static int count_params(const char *sql)
{
	int max = 0;
	for (const char *p = sql; *p != '\0';) {
		if (*p == '\'' || *p == '"') {
			char q = *p++;
			while (*p != '\0' && !(*p == q && p[1] != q))
				p += (*p == q) ? 2 : 1;
			if (*p != '\0')
				p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			p += 2;
			while (*p != '\0' && !(p[0] == '*' && p[1] == '/'))
				p++;
			if (*p != '\0')
				p += 2;
		} else if (*p == '$' && isdigit((unsigned char)p[1])) {
			long n = strtol(p + 1, (char **)&p, 10);
			if (n > max && n <= PG_PARAMS_MAX)
				max = (int)n;
		} else {
			p++;
		}
	}
	return max;
}

/* Maps a failed result to SR_E_*, recording and (for unexpected errors)
 * logging the reason. Class 22 and 23 messages can quote a value, so they
 * are logged by SQLSTATE only. */
static int map_result(struct pg_conn *c, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char msg[SR_STORE_ERRMSG_MAX];
	if (state == NULL)
		state = "";
	if (primary == NULL)
		primary = PQerrorMessage(c->pg);
	snprintf(msg, sizeof msg, "%s%s%s", state, state[0] ? ": " : "", primary);
	sr_conn_set_errmsg(&c->base, msg);

	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0)
		return SR_E_RETRY;
	if (strcmp(state, "23505") == 0)
		return SR_E_CONFLICT;
	if (strcmp(state, "57014") == 0) {
		/* query_canceled: our statement_timeout, or an administrator's
		 * pg_cancel_backend. Either way the statement did not finish and
		 * the transaction is lost; the message quotes no SQL or value. */
		sr_log(SR_LOG_WARN, "postgres statement cancelled",
		       SR_LI("statement_timeout_ms", c->base.st->opt.statement_timeout_ms),
		       SR_LS("message", c->base.errmsg));
		return SR_E_TIMEOUT;
	}
	bool quotes_data = strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0;
	sr_log(SR_LOG_WARN, "postgres error", SR_LS("sqlstate", state),
	       SR_LS("message", quotes_data ? "(withheld: may quote a value)" : c->base.errmsg));
	return SR_E_STORE;
}

static int check(struct pg_conn *c, PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);
	int rc = (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) ? 0 : map_result(c, res);
	PQclear(res);
	return rc;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* "relation already exists, skipping" and the like */
}

static void pg_disconnect(struct sr_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	if (c == NULL)
		return;
	for (unsigned b = 0; b < CACHE_BUCKETS; b++) {
		struct pg_prepared *p = c->buckets[b];
		while (p != NULL) {
			struct pg_prepared *next = p->next;
			free(p->sql);
			free(p);
			p = next;
		}
	}
	PQfinish(c->pg);
	free(c);
}

static int pg_connect(struct sr_store *st, struct sr_conn **out, char *err, size_t errlen)
{
	int rc = 0;
	struct pg_conn *c = sr_xcalloc(1, sizeof *c);
	c->base.st = st;

	/* expand_dbname: the URL's own settings override these defaults. */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const vals[] = {"10", "strongroom", st->target, NULL};
	c->pg = PQconnectdbParams(keys, vals, 1);
	if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
		size_t n = strlen(err);
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
			err[--n] = '\0';
		rc = SR_E_STORE;
		goto out;
	}
	PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
	char setup[256];
	snprintf(setup, sizeof setup,
		 "SET synchronous_commit = on; SET lock_timeout = %u; SET statement_timeout = %u; "
		 "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'",
		 st->opt.busy_timeout_ms, st->opt.statement_timeout_ms);
	if (check(c, PQexec(c->pg, setup)) != 0) {
		snprintf(err, errlen, "%s", c->base.errmsg);
		rc = SR_E_STORE;
		goto out;
	}
	*out = &c->base;
	c = NULL;
out:
	pg_disconnect(c ? &c->base : NULL);
	return rc;
}

static bool pg_usable(struct sr_conn *base)
{
	return PQstatus(((struct pg_conn *)base)->pg) == CONNECTION_OK;
}

static bool pg_in_tx(struct sr_conn *base)
{
	return PQtransactionStatus(((struct pg_conn *)base)->pg) != PQTRANS_IDLE;
}

static int pg_exec(struct sr_conn *base, const char *sql)
{
	struct pg_conn *c = (struct pg_conn *)base;
	return check(c, PQexec(c->pg, sql));
}

static int pg_begin(struct sr_conn *base, enum sr_tx_mode mode)
{
	/* Where SERIALIZABLE and row locks are chosen: see enum sr_tx_mode in
	 * store.h. READ uses REPEATABLE READ so that all its statements see one
	 * snapshot. */
	static const char *const begin[] = {
		[SR_TX_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		[SR_TX_WRITE] = "BEGIN ISOLATION LEVEL READ COMMITTED",
		[SR_TX_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
	};
	return pg_exec(base, begin[mode]);
}

static int pg_commit(struct sr_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	/* COMMIT of a failed transaction "succeeds" as ROLLBACK: never let a
	 * caller that ignored an error believe its writes landed. */
	if (PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
		sr_conn_set_errmsg(base, "a statement failed earlier in the transaction; "
					 "rolled back instead of committing");
		return SR_E_STORE;
	}
	PGresult *res = PQexec(c->pg, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		int rc = map_result(c, res);
		PQclear(res);
		return rc;
	}
	bool committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
	PQclear(res);
	if (!committed) {
		sr_conn_set_errmsg(base, "transaction was rolled back by the server");
		return SR_E_STORE;
	}
	return 0;
}

static void pg_rollback(struct sr_conn *base)
{
	struct pg_conn *c = (struct pg_conn *)base;
	PQclear(PQexec(c->pg, "ROLLBACK"));
}

static int pg_prepare(struct sr_conn *base, const char *sql, struct sr_stmt **out)
{
	struct pg_conn *c = (struct pg_conn *)base;
	uint64_t h = sr_store_hash(sql);
	struct pg_prepared *p;
	for (p = c->buckets[h % CACHE_BUCKETS]; p != NULL; p = p->next)
		if (p->hash == h && strcmp(p->sql, sql) == 0)
			break;
	if (p == NULL && c->nprepared < SR_STORE_STMT_CACHE_MAX) {
		p = sr_xcalloc(1, sizeof *p);
		snprintf(p->name, sizeof p->name, "s%u", c->nprepared + 1);
		PGresult *res = PQprepare(c->pg, p->name, sql, 0, NULL);
		int rc = check(c, res);
		if (rc != 0) {
			free(p);
			return rc;
		}
		p->hash = h;
		p->sql = sr_xstrdup(sql);
		p->nparams = count_params(sql);
		p->next = c->buckets[h % CACHE_BUCKETS];
		c->buckets[h % CACHE_BUCKETS] = p;
		c->nprepared++;
	}

	/* Several sr_stmt may share one prepared statement: results are read
	 * whole at the first step, so they never interleave on the wire. */
	struct pg_stmt *s = sr_xcalloc(1, sizeof *s);
	s->base.c = base;
	s->prep = p;
	if (p == NULL)
		s->sql = sr_xstrdup(sql);
	s->nparams = p ? p->nparams : count_params(sql);
	if (s->nparams > 0) {
		s->values = sr_xcalloc((size_t)s->nparams, sizeof *s->values);
		s->lengths = sr_xcalloc((size_t)s->nparams, sizeof *s->lengths);
		s->formats = sr_xcalloc((size_t)s->nparams, sizeof *s->formats);
	}
	*out = &s->base;
	return 0;
}

static int set_param(struct pg_stmt *s, int idx, char *v, size_t len, int format)
{
	if (idx < 1 || idx > s->nparams || s->executed || len > INT32_MAX) {
		free(v);
		return idx < 1 || idx > s->nparams || s->executed ? SR_E_INVAL : SR_E_LIMIT;
	}
	free(s->values[idx - 1]);
	s->values[idx - 1] = v;
	s->lengths[idx - 1] = (int)len;
	s->formats[idx - 1] = format;
	return 0;
}

static int pg_bind_i64(struct sr_stmt *base, int idx, int64_t v)
{
	return set_param((struct pg_stmt *)base, idx, sr_xasprintf("%lld", (long long)v), 0, 0);
}

static int pg_bind_text(struct sr_stmt *base, int idx, const char *v, size_t len)
{
	/* Text format: NUL-terminated; store.c refused embedded NULs. */
	return set_param((struct pg_stmt *)base, idx, sr_xstrndup(v, len), 0, 0);
}

static int pg_bind_blob(struct sr_stmt *base, int idx, const void *v, size_t len)
{
	char *copy = sr_xmalloc(len ? len : 1); /* non-NULL even when empty: NULL means SQL NULL */
	if (len > 0)
		memcpy(copy, v, len);
	return set_param((struct pg_stmt *)base, idx, copy, len, 1);
}

static int pg_bind_null(struct sr_stmt *base, int idx)
{
	return set_param((struct pg_stmt *)base, idx, NULL, 0, 0);
}

static void clear_decoded(struct pg_stmt *s)
{
	for (int i = 0; s->decoded != NULL && i < s->ncols; i++) {
		PQfreemem(s->decoded[i]);
		s->decoded[i] = NULL;
	}
}

static int pg_step(struct sr_stmt *base)
{
	struct pg_stmt *s = (struct pg_stmt *)base;
	struct pg_conn *c = (struct pg_conn *)base->c;

	if (s->executed) {
		if (s->res == NULL || s->row >= s->nrows)
			return 0;
		clear_decoded(s);
		s->row++;
		return s->row < s->nrows ? 1 : 0;
	}
	s->executed = true;
	const char *const *values = (const char *const *)s->values;
	if (s->prep != NULL)
		s->res = PQexecPrepared(c->pg, s->prep->name, s->nparams, values, s->lengths,
					s->formats, 0);
	else
		s->res = PQexecParams(c->pg, s->sql, s->nparams, NULL, values, s->lengths,
				      s->formats, 0);
	ExecStatusType st = PQresultStatus(s->res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = map_result(c, s->res);
		PQclear(s->res);
		s->res = NULL;
		return rc;
	}
	const char *tuples = PQcmdTuples(s->res);
	/* For a SELECT the count is of rows returned, not changed. */
	bool select = strncmp(PQcmdStatus(s->res), "SELECT", 6) == 0;
	s->changes = tuples[0] && !select ? strtoll(tuples, NULL, 10) : 0;
	if (st == PGRES_COMMAND_OK)
		return 0;
	s->nrows = PQntuples(s->res);
	s->ncols = PQnfields(s->res);
	s->row = 0;
	if (s->ncols > 0) {
		s->decoded = sr_xcalloc((size_t)s->ncols, sizeof *s->decoded);
		s->decoded_len = sr_xcalloc((size_t)s->ncols, sizeof *s->decoded_len);
	}
	return s->nrows > 0 ? 1 : 0;
}

static bool have_value(struct pg_stmt *s, int col)
{
	return s->res != NULL && s->row < s->nrows && col >= 0 && col < s->ncols &&
	       !PQgetisnull(s->res, s->row, col);
}

static int64_t pg_col_i64(struct sr_stmt *base, int col)
{
	struct pg_stmt *s = (struct pg_stmt *)base;
	if (!have_value(s, col))
		return 0;
	const char *v = PQgetvalue(s->res, s->row, col);
	if (PQftype(s->res, col) == BOOLOID)
		return v[0] == 't';
	return strtoll(v, NULL, 10);
}

static const char *pg_col_text(struct sr_stmt *base, int col, size_t *len)
{
	struct pg_stmt *s = (struct pg_stmt *)base;
	if (!have_value(s, col)) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)PQgetlength(s->res, s->row, col);
	return PQgetvalue(s->res, s->row, col);
}

static const void *pg_col_blob(struct sr_stmt *base, int col, size_t *len)
{
	struct pg_stmt *s = (struct pg_stmt *)base;
	if (!have_value(s, col)) {
		*len = 0;
		return NULL;
	}
	if (PQftype(s->res, col) != BYTEAOID) {
		*len = (size_t)PQgetlength(s->res, s->row, col);
		return PQgetvalue(s->res, s->row, col);
	}
	if (s->decoded[col] == NULL) {
		size_t n = 0;
		s->decoded[col] =
			PQunescapeBytea((const unsigned char *)PQgetvalue(s->res, s->row, col), &n);
		SR_ASSERT(s->decoded[col] != NULL); /* out of memory: fail closed */
		s->decoded_len[col] = n;
	}
	*len = s->decoded_len[col];
	return s->decoded[col];
}

static bool pg_col_is_null(struct sr_stmt *base, int col)
{
	struct pg_stmt *s = (struct pg_stmt *)base;
	return s->res == NULL || s->row >= s->nrows || col < 0 || col >= s->ncols ||
	       PQgetisnull(s->res, s->row, col);
}

static int64_t pg_changes(struct sr_stmt *base)
{
	return ((struct pg_stmt *)base)->changes;
}

static void pg_done(struct sr_stmt *base)
{
	struct pg_stmt *s = (struct pg_stmt *)base;
	clear_decoded(s);
	free(s->decoded);
	free(s->decoded_len);
	PQclear(s->res);
	for (int i = 0; i < s->nparams; i++)
		free(s->values[i]);
	free(s->values);
	free(s->lengths);
	free(s->formats);
	free(s->sql);
	free(s);
}

const struct sr_store_ops sr_store_pg_ops = {
	.kind = SR_STORE_POSTGRES,
	.connect = pg_connect,
	.disconnect = pg_disconnect,
	.usable = pg_usable,
	.in_tx = pg_in_tx,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.exec = pg_exec,
	.prepare = pg_prepare,
	.bind_i64 = pg_bind_i64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.col_i64 = pg_col_i64,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.col_is_null = pg_col_is_null,
	.changes = pg_changes,
	.done = pg_done,
};
