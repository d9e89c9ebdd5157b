/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend-neutral half of the store: URL parsing and dispatch to the
 * SQLite or PostgreSQL backend, the connection pool, and sr_store_tx, the
 * one place that decides how transactions begin, commit, roll back and
 * retry. A PostgreSQL URL may carry a password: it is kept only in
 * st->target (wiped on close) and never copied into a message; messages use
 * st->redacted.
 */
#include "store/store_int.h"

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Backoff between retries: full jitter over an exponentially growing cap,
 * so that two transactions that collided do not collide again in step. */
#define RETRY_BASE_US 2000u
#define RETRY_CAP_US  250000u

uint64_t sr_store_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void sr_conn_set_errmsg(struct sr_conn *c, const char *msg)
{
	snprintf(c->errmsg, sizeof c->errmsg, "%s", msg != NULL ? msg : "");
	/* libpq messages span lines; keep messages one line. */
	for (char *p = c->errmsg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	size_t n = strlen(c->errmsg);
	while (n > 0 && (c->errmsg[n - 1] == ' ' || c->errmsg[n - 1] == '\r'))
		c->errmsg[--n] = '\0';
}

/* Replaces every occurrence of needle in buf with "***", in place. */
static void scrub(char *buf, const char *needle)
{
	size_t nl = strlen(needle);
	if (nl == 0 || buf == NULL)
		return;
	char *p;
	while ((p = strstr(buf, needle)) != NULL) {
		size_t tail = strlen(p + nl);
		if (nl >= 3) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + nl, tail + 1);
		} else {
			/* Shorter than the mask: overwrite in place, never grow. */
			memset(p, '*', nl);
		}
	}
}

/*
 * Finds the password in "scheme://user:password@host...": sets *pw to its
 * start and *pwlen to its length, or *pw = NULL when there is none.
 */
static void url_password(const char *url, const char **pw, size_t *pwlen)
{
	*pw = NULL;
	*pwlen = 0;
	const char *auth = strstr(url, "://");
	if (auth == NULL)
		return;
	auth += 3;
	size_t authlen = strcspn(auth, "/?#");
	const char *at = NULL;
	for (size_t i = 0; i < authlen; i++)
		if (auth[i] == '@')
			at = auth + i; /* the last '@' ends the userinfo */
	if (at == NULL)
		return;
	const char *colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon == NULL)
		return;
	*pw = colon + 1;
	*pwlen = (size_t)(at - colon - 1);
}

/* The URL with "password=..." query values and the userinfo password masked. */
static char *redact_url(const char *url)
{
	const char *pw;
	size_t pwlen;
	url_password(url, &pw, &pwlen);
	char *out;
	if (pw != NULL)
		out = sr_xasprintf("%.*s***%s", (int)(pw - url), url, pw + pwlen);
	else
		out = sr_xstrdup(url);
	char *q = strstr(out, "password=");
	while (q != NULL) {
		char *v = q + strlen("password=");
		size_t vl = strcspn(v, "&#");
		char *rest = sr_xstrdup(v + vl);
		char *n = sr_xasprintf("%.*s***%s", (int)(v - out), out, rest);
		free(rest);
		size_t off = (size_t)(v - out) + 3;
		free(out);
		out = n;
		q = strstr(out + off, "password=");
	}
	return out;
}

/* Removes any trace of the URL's password (raw or percent-decoded) from a
 * message that a library built from the URL. */
static void scrub_password(char *msg, const char *url)
{
	const char *pw;
	size_t pwlen;
	url_password(url, &pw, &pwlen);
	if (pw != NULL && pwlen > 0) {
		char *raw = sr_xstrndup(pw, pwlen);
		char *dec = sr_xstrndup(pw, pwlen);
		size_t j = 0;
		for (size_t i = 0; raw[i] != '\0'; i++) {
			unsigned hi, lo;
			if (raw[i] == '%' && sscanf(raw + i + 1, "%1x%1x", &hi, &lo) == 2) {
				dec[j++] = (char)(hi * 16 + lo);
				i += 2;
			} else {
				dec[j++] = raw[i];
			}
		}
		dec[j] = '\0';
		scrub(msg, raw);
		scrub(msg, dec);
		sr_free_secret_str(raw);
		sr_free_secret_str(dec);
	}
	const char *q = strstr(url, "password=");
	while (q != NULL) {
		const char *v = q + strlen("password=");
		char *val = sr_xstrndup(v, strcspn(v, "&#"));
		scrub(msg, val);
		sr_free_secret_str(val);
		q = strstr(v, "password=");
	}
}

__attribute__((format(printf, 3, 4))) static void set_err(char *errbuf, size_t errlen,
							  const char *fmt, ...)
{
	if (errbuf == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

const char *sr_store_kind_name(enum sr_store_kind kind)
{
	return kind == SR_STORE_POSTGRES ? "postgres" : "sqlite";
}

int sr_store_open(const char *url, const struct sr_store_options *opt, struct sr_store **out,
		  char *errbuf, size_t errlen)
{
	int rc = 0;
	struct sr_store *st = NULL;
	struct sr_conn *first = NULL;
	char cerr[1024] = "";

	*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (sodium_init() < 0) {
		set_err(errbuf, errlen, "libsodium failed to initialise");
		return SR_E_CRYPTO;
	}
	if (url == NULL || opt == NULL || opt->pool_size < 1) {
		set_err(errbuf, errlen, "store: missing URL or pool size");
		return SR_E_INVAL;
	}

	st = sr_xcalloc(1, sizeof *st);
	st->opt = *opt;
	st->opt.base_dir = NULL; /* not kept: the caller owns it */
	if (strncmp(url, "sqlite:", 7) == 0) {
		const char *path = url + 7;
		if (path[0] == '\0' || strcmp(path, ":memory:") == 0) {
			/* Each pooled connection would see its own empty database. */
			set_err(errbuf, errlen, "database URL '%s': %s", url,
				"sqlite: needs a file path");
			rc = SR_E_INVAL;
			goto out;
		}
		st->ops = &sr_store_sqlite_ops;
		if (path[0] != '/' && opt->base_dir != NULL && opt->base_dir[0] != '\0')
			st->target = sr_xasprintf("%s/%s", opt->base_dir, path);
		else
			st->target = sr_xstrdup(path);
		st->redacted = sr_xasprintf("sqlite:%s", st->target);
	} else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
		st->ops = &sr_store_pg_ops;
		st->target = sr_xstrdup(url);
		st->redacted = redact_url(url);
	} else {
		char *red = redact_url(url);
		set_err(errbuf, errlen, "database URL '%s': %s", red,
			"expected sqlite:PATH or postgresql://...");
		free(red);
		rc = SR_E_INVAL;
		goto out;
	}

	st->nconns = opt->pool_size;
	st->conns = sr_xcalloc(st->nconns, sizeof *st->conns);
	st->busy = sr_xcalloc(st->nconns, sizeof *st->busy);
	int e1 = pthread_mutex_init(&st->mu, NULL);
	int e2 = pthread_cond_init(&st->cv, NULL);
	int e3 = pthread_mutex_init(&st->gc_mu, NULL);
	int e4 = pthread_cond_init(&st->gc_cv, NULL);
	SR_ASSERT(e1 == 0 && e2 == 0 && e3 == 0 && e4 == 0);
	st->gc_tail = &st->gc_head;
	st->group_commit = st->ops->kind == SR_STORE_SQLITE && !opt->no_group_commit;

	/* One connection now, so that a wrong URL fails at start, not at the
	 * first request; the others open on first use. */
	rc = st->ops->connect(st, &first, cerr, sizeof cerr);
	if (rc != 0) {
		scrub_password(cerr, url);
		set_err(errbuf, errlen, "cannot open database %s: %s", st->redacted, cerr);
		goto out;
	}
	first->slot = 0;
	st->conns[0] = first;
	*out = st;
	st = NULL;
out:
	if (st != NULL && rc != 0) {
		if (st->conns != NULL) {
			pthread_cond_destroy(&st->cv);
			pthread_mutex_destroy(&st->mu);
			pthread_cond_destroy(&st->gc_cv);
			pthread_mutex_destroy(&st->gc_mu);
		}
		free(st->conns);
		free(st->busy);
		sr_free_secret_str(st->target);
		free(st->redacted);
		free(st);
	}
	return rc;
}

void sr_store_close(struct sr_store *st)
{
	if (st == NULL)
		return;
	for (unsigned i = 0; i < st->nconns; i++) {
		SR_DASSERT(!st->busy[i]);
		if (st->conns[i] != NULL)
			st->ops->disconnect(st->conns[i]);
	}
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->gc_cv);
	pthread_mutex_destroy(&st->gc_mu);
	free(st->conns);
	free(st->busy);
	sr_free_secret_str(st->target);
	free(st->redacted);
	free(st);
}

enum sr_store_kind sr_store_kind(const struct sr_store *st)
{
	return st->ops->kind;
}

const char *sr_store_url_redacted(const struct sr_store *st)
{
	return st->redacted;
}

int sr_store_acquire(struct sr_store *st, struct sr_conn **out)
{
	unsigned slot = 0;
	*out = NULL;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		bool found = false;
		/* Prefer an open connection over opening a new one. */
		for (unsigned i = 0; i < st->nconns && !found; i++)
			if (!st->busy[i] && st->conns[i] != NULL) {
				slot = i;
				found = true;
			}
		for (unsigned i = 0; i < st->nconns && !found; i++)
			if (!st->busy[i]) {
				slot = i;
				found = true;
			}
		if (found)
			break;
		pthread_cond_wait(&st->cv, &st->mu);
	}
	st->busy[slot] = true;
	struct sr_conn *c = st->conns[slot];
	pthread_mutex_unlock(&st->mu);

	/* Opening and health checks happen outside the lock: they may block.
	 * The slot is ours (busy); st->conns is still only written under the
	 * lock because other threads scan it. */
	if (c != NULL && !st->ops->usable(c)) {
		sr_log(SR_LOG_WARN, "database connection lost; reconnecting",
		       SR_LS("backend", sr_store_kind_name(st->ops->kind)));
		pthread_mutex_lock(&st->mu);
		st->conns[slot] = NULL;
		pthread_mutex_unlock(&st->mu);
		st->ops->disconnect(c);
		c = NULL;
	}
	if (c == NULL) {
		char cerr[1024] = "";
		int rc = st->ops->connect(st, &c, cerr, sizeof cerr);
		if (rc != 0) {
			scrub_password(cerr, st->target);
			sr_log(SR_LOG_ERROR, "cannot connect to database",
			       SR_LS("url", st->redacted), SR_LS("reason", cerr));
			pthread_mutex_lock(&st->mu);
			st->busy[slot] = false;
			pthread_cond_signal(&st->cv);
			pthread_mutex_unlock(&st->mu);
			return SR_E_STORE;
		}
		c->slot = slot;
		pthread_mutex_lock(&st->mu);
		st->conns[slot] = c;
		pthread_mutex_unlock(&st->mu);
	}
	c->errmsg[0] = '\0';
	*out = c;
	return 0;
}

void sr_store_release(struct sr_conn *c)
{
	if (c == NULL)
		return;
	struct sr_store *st = c->st;
	if (c->open_stmts != 0) {
		/* A statement not given back with sr_stmt_done: a caller bug that
		 * would pin a cache slot (and on SQLite a read snapshot). */
		sr_log(SR_LOG_ERROR, "connection released with statements still open",
		       SR_LI("open", c->open_stmts));
		SR_DASSERT(c->open_stmts == 0);
	}
	if (st->ops->usable(c) && st->ops->in_tx(c))
		st->ops->rollback(c);
	pthread_mutex_lock(&st->mu);
	st->busy[c->slot] = false;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

static void backoff(unsigned attempt)
{
	uint32_t cap = RETRY_BASE_US << (attempt < 16 ? attempt : 16);
	if (cap > RETRY_CAP_US)
		cap = RETRY_CAP_US;
	uint32_t us = randombytes_uniform(cap) + 1;
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int call_fn(sr_tx_fn fn, struct sr_conn *c, void *arg)
{
	int rc = fn(c, arg);
	/* fn returns 0 or an SR_E_*; a stray step result (1) must not be
	 * taken for an error code or a success. */
	if (SR_NEVER(rc > 0))
		rc = SR_E_INTERNAL;
	return rc;
}

/* Ends a group whose transaction is gone: what succeeded is retried alone. */
static void group_lost(struct sr_gc_req **reqs, unsigned n, unsigned from, int rc)
{
	for (unsigned j = 0; j < n; j++)
		if (j >= from || reqs[j]->rc == 0)
			reqs[j]->rc = rc;
}

void sr_store_group_run(struct sr_store *st, struct sr_gc_req **reqs, unsigned n)
{
	struct sr_conn *c = NULL;
	int rc = sr_store_acquire(st, &c);
	if (rc == 0)
		rc = st->ops->begin(c, SR_TX_WRITE);
	if (rc != 0) {
		group_lost(reqs, n, 0, rc);
		sr_store_release(c);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct sr_gc_req *r = reqs[i];
		if ((rc = st->ops->exec(c, "SAVEPOINT sr_group")) != 0) {
			group_lost(reqs, n, i, SR_E_RETRY);
			goto out;
		}
		r->rc = call_fn(r->fn, c, r->arg);
		if (!st->ops->in_tx(c)) {
			/* Some SQLite errors (disk full, I/O) roll back the whole
			 * transaction: the members before this one lost their
			 * writes and run again alone. */
			group_lost(reqs, n, i + 1, SR_E_RETRY);
			goto out;
		}
		if (r->rc == 0)
			rc = st->ops->exec(c, "RELEASE sr_group");
		else if ((rc = st->ops->exec(c, "ROLLBACK TO sr_group")) == 0)
			rc = st->ops->exec(c, "RELEASE sr_group");
		if (rc != 0) {
			group_lost(reqs, n, i + 1, SR_E_RETRY);
			goto out;
		}
	}
	rc = st->ops->commit(c);
	if (rc != 0)
		for (unsigned j = 0; j < n; j++)
			if (reqs[j]->rc == 0)
				reqs[j]->rc = rc; /* nothing of the group is committed */
out:
	if (st->ops->usable(c) && st->ops->in_tx(c))
		st->ops->rollback(c);
	sr_store_release(c);
}

/*
 * Leader/follower group commit: the first waiting thread to find no leader
 * takes everything queued (up to SR_STORE_GROUP_MAX) and runs it as one
 * transaction; requests that arrive meanwhile form the next group. No timer:
 * a lone transaction commits at once, batching comes from fsync latency.
 */
static int group_tx(struct sr_store *st, sr_tx_fn fn, void *arg)
{
	struct sr_gc_req req = {.fn = fn, .arg = arg};
	struct sr_gc_req *batch[SR_STORE_GROUP_MAX];

	pthread_mutex_lock(&st->gc_mu);
	*st->gc_tail = &req;
	st->gc_tail = &req.next;
	while (!req.done) {
		if (st->gc_leader) {
			pthread_cond_wait(&st->gc_cv, &st->gc_mu);
			continue;
		}
		st->gc_leader = true;
		unsigned n = 0;
		while (st->gc_head != NULL && n < SR_STORE_GROUP_MAX) {
			batch[n++] = st->gc_head;
			st->gc_head = st->gc_head->next;
		}
		if (st->gc_head == NULL)
			st->gc_tail = &st->gc_head;
		pthread_mutex_unlock(&st->gc_mu);

		sr_store_group_run(st, batch, n);

		pthread_mutex_lock(&st->gc_mu);
		for (unsigned i = 0; i < n; i++)
			batch[i]->done = true;
		st->gc_leader = false;
		pthread_cond_broadcast(&st->gc_cv);
	}
	pthread_mutex_unlock(&st->gc_mu);
	return req.rc;
}

int sr_store_tx(struct sr_store *st, enum sr_tx_mode mode, sr_tx_fn fn, void *arg)
{
	struct sr_conn *c = NULL;
	unsigned first = 0;
	int rc;

	if (st->group_commit && mode != SR_TX_READ) {
		rc = group_tx(st, fn, arg);
		if (rc != SR_E_RETRY)
			return rc;
		first = 1; /* the group was attempt 0; go on alone, with backoff */
	}
	if ((rc = sr_store_acquire(st, &c)) != 0)
		return rc;

	for (unsigned attempt = first; attempt < SR_STORE_TX_ATTEMPTS; attempt++) {
		if (attempt > 0)
			backoff(attempt);
		rc = st->ops->begin(c, mode);
		if (rc != 0 && !st->ops->usable(c)) {
			/* The pooled connection died while idle (server restart):
			 * nothing ran yet, so reconnecting and retrying is safe. */
			sr_store_release(c);
			c = NULL;
			if ((rc = sr_store_acquire(st, &c)) != 0)
				return rc;
			rc = st->ops->begin(c, mode);
		}
		if (rc == 0)
			rc = call_fn(fn, c, arg);
		if (rc == 0)
			rc = st->ops->commit(c);
		if (rc != 0 && st->ops->usable(c) && st->ops->in_tx(c))
			st->ops->rollback(c);
		if (rc != SR_E_RETRY)
			break;
	}
	if (rc == SR_E_RETRY)
		sr_log(SR_LOG_WARN, "transaction gave up after retries",
		       SR_LI("attempts", SR_STORE_TX_ATTEMPTS));
	sr_store_release(c);
	return rc;
}

enum sr_store_kind sr_conn_kind(const struct sr_conn *c)
{
	return c->st->ops->kind;
}

const char *sr_conn_errmsg(const struct sr_conn *c)
{
	return c->errmsg;
}

int sr_conn_exec(struct sr_conn *c, const char *sql)
{
	return c->st->ops->exec(c, sql);
}

int sr_stmt_prepare(struct sr_conn *c, const char *sql, struct sr_stmt **out)
{
	*out = NULL;
	int rc = c->st->ops->prepare(c, sql, out);
	if (rc == 0)
		c->open_stmts++;
	return rc;
}

int sr_stmt_bind_i64(struct sr_stmt *s, int idx, int64_t v)
{
	return s->c->st->ops->bind_i64(s, idx, v);
}

int sr_stmt_bind_text(struct sr_stmt *s, int idx, const char *v, size_t len)
{
	if (v == NULL)
		return s->c->st->ops->bind_null(s, idx);
	/* PostgreSQL text cannot hold NUL; refuse it on both backends alike. */
	if (memchr(v, '\0', len) != NULL)
		return SR_E_INVAL;
	return s->c->st->ops->bind_text(s, idx, v, len);
}

int sr_stmt_bind_blob(struct sr_stmt *s, int idx, const void *v, size_t len)
{
	if (v == NULL && len > 0)
		return SR_E_INVAL;
	return s->c->st->ops->bind_blob(s, idx, v, len);
}

int sr_stmt_bind_null(struct sr_stmt *s, int idx)
{
	return s->c->st->ops->bind_null(s, idx);
}

int sr_stmt_step(struct sr_stmt *s)
{
	return s->c->st->ops->step(s);
}

int64_t sr_stmt_col_i64(struct sr_stmt *s, int col)
{
	return s->c->st->ops->col_i64(s, col);
}

const char *sr_stmt_col_text(struct sr_stmt *s, int col, size_t *len)
{
	size_t dummy;
	return s->c->st->ops->col_text(s, col, len != NULL ? len : &dummy);
}

const void *sr_stmt_col_blob(struct sr_stmt *s, int col, size_t *len)
{
	size_t dummy;
	return s->c->st->ops->col_blob(s, col, len != NULL ? len : &dummy);
}

bool sr_stmt_col_is_null(struct sr_stmt *s, int col)
{
	return s->c->st->ops->col_is_null(s, col);
}

int64_t sr_stmt_changes(struct sr_stmt *s)
{
	return s->c->st->ops->changes(s);
}

void sr_stmt_done(struct sr_stmt *s)
{
	if (s == NULL)
		return;
	struct sr_conn *c = s->c;
	SR_DASSERT(c->open_stmts > 0);
	c->open_stmts--;
	c->st->ops->done(s);
}
