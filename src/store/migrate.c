/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applies the migrations embedded from src/store/migrations/ (see the
 * README there for the layout). The migrator owns two tables of its own,
 * created before any migration runs: schema_migrations (what is applied)
 * and strongroom_meta (which service owns the database; the platform and the
 * vault never share one). Each migration runs in its own transaction that
 * first takes a lock every migrating instance takes (SQLite: the write lock
 * of BEGIN IMMEDIATE; PostgreSQL: an advisory transaction lock), then
 * re-reads what is applied, so two instances starting together apply each
 * migration once.
 */
#include "store/migrate.h"

#include "base/embedded.h"
#include "base/log.h"
#include "base/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIG_PREFIX   "store/migrations/"
#define MIG_MAX      512
#define MIG_NAME_MAX 64
/* pg_advisory_xact_lock key: "srmigr" in ASCII, shared by all instances. */
#define MIG_PG_LOCK "SELECT pg_advisory_xact_lock(126896255494002)"

static const char *const bootstrap_sql =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS strongroom_meta ("
	" key TEXT PRIMARY KEY, value TEXT NOT NULL);";

struct migration {
	int64_t version;
	char name[MIG_NAME_MAX];
	char folder[16];
	const char *portable; /* NNNN_name.sql */
	const char *sqlite;   /* NNNN_name.sqlite.sql */
	const char *pg;       /* NNNN_name.pg.sql */
};

enum variant { V_ALL, V_SQLITE, V_PG };

struct token {
	const char *name, *sqlite, *pg;
};

/* The whole dialect gap the migrations may bridge with tokens. */
static const struct token tokens[] = {
	{"{{BLOB}}", "BLOB", "BYTEA"},
};

char *sr_migrate_render(const char *text, enum sr_store_kind kind)
{
	size_t cap = strlen(text) + 1, n = 0;
	char *out = sr_xmalloc(cap);
	while (*text != '\0') {
		const struct token *t = NULL;
		if (text[0] == '{' && text[1] == '{')
			for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
				if (strncmp(text, tokens[i].name, strlen(tokens[i].name)) == 0)
					t = &tokens[i];
		const char *rep = t ? (kind == SR_STORE_POSTGRES ? t->pg : t->sqlite) : NULL;
		size_t add = rep ? strlen(rep) : 1;
		if (n + add + 1 > cap) {
			cap = (n + add + 1) * 2;
			out = sr_xrealloc(out, cap);
		}
		if (rep != NULL) {
			memcpy(out + n, rep, add);
			text += strlen(t->name);
		} else {
			out[n] = *text++;
		}
		n += add;
	}
	out[n] = '\0';
	return out;
}

/*
 * Parses "store/migrations/FOLDER/NNNN_name[.sqlite|.pg].sql". Returns 0 and
 * fills the fields, 1 for a file that is not a migration (README), or
 * SR_E_INTERNAL for a malformed name.
 */
static int parse_path(const char *path, char *folder, size_t folderlen, int64_t *version,
		      char *name, size_t namelen, enum variant *variant)
{
	const char *p = path + strlen(MIG_PREFIX);
	const char *slash = strchr(p, '/');
	size_t len = strlen(p);
	if (len < 4 || strcmp(p + len - 4, ".sql") != 0)
		return 1;
	if (slash == NULL || (size_t)(slash - p) >= folderlen)
		return SR_E_INTERNAL;
	snprintf(folder, folderlen, "%.*s", (int)(slash - p), p);
	if (strcmp(folder, "common") != 0 && strcmp(folder, "platform") != 0 &&
	    strcmp(folder, "vault") != 0)
		return SR_E_INTERNAL;
	const char *f = slash + 1;
	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)f[i]))
			return SR_E_INTERNAL;
	if (f[4] != '_')
		return SR_E_INTERNAL;
	*version = (f[0] - '0') * 1000 + (f[1] - '0') * 100 + (f[2] - '0') * 10 + (f[3] - '0');
	const char *nm = f + 5;
	size_t nl = strcspn(nm, ".");
	if (nl == 0 || nl >= namelen)
		return SR_E_INTERNAL;
	for (size_t i = 0; i < nl; i++)
		if (!(islower((unsigned char)nm[i]) || isdigit((unsigned char)nm[i]) ||
		      nm[i] == '_'))
			return SR_E_INTERNAL;
	snprintf(name, namelen, "%.*s", (int)nl, nm);
	const char *ext = nm + nl;
	if (strcmp(ext, ".sql") == 0)
		*variant = V_ALL;
	else if (strcmp(ext, ".sqlite.sql") == 0)
		*variant = V_SQLITE;
	else if (strcmp(ext, ".pg.sql") == 0)
		*variant = V_PG;
	else
		return SR_E_INTERNAL;
	if (*version == 0)
		return SR_E_INTERNAL;
	return 0;
}

/* Loads every embedded migration, sorted by version. */
static int load_all(struct migration *out, size_t *count, char *msg, size_t msglen)
{
	size_t n = 0;
	*count = 0;
	for (const struct sr_embedded_file *f = sr_embedded_files; f->path != NULL; f++) {
		if (strncmp(f->path, MIG_PREFIX, strlen(MIG_PREFIX)) != 0)
			continue;
		char folder[16], name[MIG_NAME_MAX];
		int64_t version;
		enum variant variant;
		int rc = parse_path(f->path, folder, sizeof folder, &version, name, sizeof name,
				    &variant);
		if (rc == 1)
			continue;
		if (rc != 0) {
			snprintf(msg, msglen, "bad migration file name %s", f->path);
			return SR_E_INTERNAL;
		}
		struct migration *m = NULL;
		for (size_t i = 0; i < n; i++)
			if (out[i].version == version)
				m = &out[i];
		if (m == NULL) {
			if (n == MIG_MAX) {
				snprintf(msg, msglen, "more than %d migrations", MIG_MAX);
				return SR_E_INTERNAL;
			}
			m = &out[n++];
			memset(m, 0, sizeof *m);
			m->version = version;
			snprintf(m->name, sizeof m->name, "%s", name);
			snprintf(m->folder, sizeof m->folder, "%s", folder);
		} else if (strcmp(m->name, name) != 0 || strcmp(m->folder, folder) != 0) {
			snprintf(msg, msglen, "migration version %04lld used twice (%s/%s, %s/%s)",
				 (long long)version, m->folder, m->name, folder, name);
			return SR_E_INTERNAL;
		}
		const char **slot = variant == V_ALL      ? &m->portable
				    : variant == V_SQLITE ? &m->sqlite
							  : &m->pg;
		if (*slot != NULL) {
			snprintf(msg, msglen, "migration %04lld given twice", (long long)version);
			return SR_E_INTERNAL;
		}
		*slot = (const char *)f->data;
	}
	for (size_t i = 0; i < n; i++) {
		struct migration *m = &out[i];
		bool both = m->sqlite != NULL && m->pg != NULL;
		if (m->portable != NULL && (m->sqlite != NULL || m->pg != NULL)) {
			snprintf(msg, msglen,
				 "migration %04lld_%s: give either NNNN_name.sql or both "
				 ".sqlite.sql and .pg.sql",
				 (long long)m->version, m->name);
			return SR_E_INTERNAL;
		}
		if (m->portable == NULL && !both) {
			snprintf(msg, msglen, "migration %04lld_%s lacks a variant for one backend",
				 (long long)m->version, m->name);
			return SR_E_INTERNAL;
		}
	}
	/* Insertion sort: a handful of entries. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1].version > out[j].version; j--) {
			struct migration t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	*count = n;
	return 0;
}

int sr_migrate_check_embedded(char *msg, size_t msglen)
{
	size_t n;
	struct migration *all = sr_xcalloc(MIG_MAX, sizeof *all);
	int rc = load_all(all, &n, msg, msglen);
	free(all);
	return rc;
}

struct run {
	const char *service;
	enum sr_store_kind kind;
	const struct migration *list; /* this service's migrations, by version */
	size_t n;
	int64_t known;
	char *msg;
	size_t msglen;
	/* Results of the last step. */
	bool applied_one;
	int64_t version;
};

static int fail(struct run *r, struct sr_conn *c, int rc, const char *what)
{
	snprintf(r->msg, r->msglen, "%s: %s", what,
		 sr_conn_errmsg(c)[0] ? sr_conn_errmsg(c) : sr_strerror(rc));
	return rc;
}

static void now_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (ts.tv_nsec / 1000000) % 1000);
}

/* Checks (or records) which service owns the database. */
static int claim(struct run *r, struct sr_conn *c)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, "SELECT value FROM strongroom_meta WHERE key = 'service'", &s);
	if (rc != 0)
		return fail(r, c, rc, "reading strongroom_meta");
	rc = sr_stmt_step(s);
	if (rc == 1) {
		size_t len;
		const char *owner = sr_stmt_col_text(s, 0, &len);
		if (owner == NULL || strlen(r->service) != len ||
		    strncmp(owner, r->service, len) != 0) {
			snprintf(r->msg, r->msglen,
				 "this database belongs to the %.*s service, not %s: the platform "
				 "and the vault never share a database; check database_url",
				 (int)(owner ? len : 7), owner ? owner : "unknown", r->service);
			rc = SR_E_CONFIG;
		} else {
			rc = 0;
		}
		sr_stmt_done(s);
		return rc;
	}
	sr_stmt_done(s);
	if (rc < 0)
		return fail(r, c, rc, "reading strongroom_meta");
	rc = sr_stmt_prepare(c, "INSERT INTO strongroom_meta (key, value) VALUES ('service', $1)",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, r->service, strlen(r->service));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc < 0 ? fail(r, c, rc, "writing strongroom_meta") : 0;
}

/* One transaction: lock, check, apply the first pending migration if any. */
static int step(struct sr_conn *c, void *arg)
{
	struct run *r = arg;
	struct sr_stmt *s = NULL;
	int rc;
	int64_t *applied = NULL;
	size_t napplied = 0, cap = 0;

	r->applied_one = false;
	r->version = 0;
	/* A migration may rewrite a large table: [database]
	 * statement_timeout_ms bounds requests, not this (SET LOCAL ends with
	 * the transaction). */
	if (r->kind == SR_STORE_POSTGRES &&
	    (rc = sr_conn_exec(c, "SET LOCAL statement_timeout = 0")) != 0)
		return fail(r, c, rc, "lifting the statement timeout");
	if (r->kind == SR_STORE_POSTGRES && (rc = sr_conn_exec(c, MIG_PG_LOCK)) != 0)
		return fail(r, c, rc, "taking the migration lock");
	if ((rc = sr_conn_exec(c, bootstrap_sql)) != 0)
		return fail(r, c, rc, "creating schema_migrations");
	if ((rc = claim(r, c)) != 0)
		return rc;

	rc = sr_stmt_prepare(c, "SELECT version FROM schema_migrations ORDER BY version", &s);
	if (rc != 0)
		return fail(r, c, rc, "reading schema_migrations");
	while ((rc = sr_stmt_step(s)) == 1) {
		if (napplied == cap) {
			cap = cap ? cap * 2 : 32;
			applied = sr_xreallocarray(applied, cap, sizeof *applied);
		}
		applied[napplied++] = sr_stmt_col_i64(s, 0);
	}
	sr_stmt_done(s);
	if (rc < 0) {
		rc = fail(r, c, rc, "reading schema_migrations");
		goto out;
	}
	r->version = napplied ? applied[napplied - 1] : 0;
	if (r->version > r->known) {
		snprintf(r->msg, r->msglen,
			 "database schema version %lld is newer than this binary (knows up to "
			 "%lld); upgrade strongroom",
			 (long long)r->version, (long long)r->known);
		rc = SR_E_SCHEMA;
		goto out;
	}

	const struct migration *next = NULL;
	for (size_t i = 0; i < r->n && next == NULL; i++) {
		bool done = false;
		for (size_t j = 0; j < napplied && !done; j++)
			done = applied[j] == r->list[i].version;
		if (!done)
			next = &r->list[i];
	}
	if (next == NULL) {
		rc = 0;
		goto out;
	}

	const char *text = next->portable                 ? next->portable
			   : r->kind == SR_STORE_POSTGRES ? next->pg
							  : next->sqlite;
	char *sql = sr_migrate_render(text, r->kind);
	rc = sr_conn_exec(c, sql);
	free(sql);
	char what[128];
	snprintf(what, sizeof what, "migration %04lld_%s failed", (long long)next->version,
		 next->name);
	if (rc != 0) {
		rc = fail(r, c, rc, what);
		goto out;
	}
	char ts[64];
	now_rfc3339(ts, sizeof ts);
	rc = sr_stmt_prepare(c,
			     "INSERT INTO schema_migrations (version, name, applied_at) "
			     "VALUES ($1, $2, $3)",
			     &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, next->version);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, next->name, strlen(next->name));
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, ts, strlen(ts));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	if (rc < 0) {
		rc = fail(r, c, rc, what);
		goto out;
	}
	rc = 0;
	r->applied_one = true;
	if (next->version > r->version)
		r->version = next->version;
out:
	free(applied);
	return rc;
}

int sr_migrate_run(struct sr_store *st, const char *service, struct sr_migrate_result *res,
		   char *msg, size_t msglen)
{
	int rc;
	struct migration *all = sr_xcalloc(MIG_MAX, sizeof *all);
	struct migration *mine = sr_xcalloc(MIG_MAX, sizeof *mine);
	size_t nall = 0, nmine = 0;
	struct run r = {
		.service = service, .kind = sr_store_kind(st), .msg = msg, .msglen = msglen};
	char dummy[8];

	if (msg == NULL || msglen == 0) {
		r.msg = dummy;
		r.msglen = sizeof dummy;
	}
	r.msg[0] = '\0';
	if (res != NULL)
		memset(res, 0, sizeof *res);
	if (service == NULL ||
	    (strcmp(service, "platform") != 0 && strcmp(service, "vault") != 0)) {
		snprintf(r.msg, r.msglen, "unknown service '%s' (platform or vault)",
			 service ? service : "");
		rc = SR_E_INVAL;
		goto out;
	}
	if ((rc = load_all(all, &nall, r.msg, r.msglen)) != 0)
		goto out;
	for (size_t i = 0; i < nall; i++)
		if (strcmp(all[i].folder, "common") == 0 || strcmp(all[i].folder, service) == 0) {
			mine[nmine++] = all[i];
			r.known = all[i].version;
		}
	r.list = mine;
	r.n = nmine;

	unsigned applied = 0;
	do {
		rc = sr_store_tx(st, SR_TX_WRITE, step, &r);
		if (rc != 0)
			goto out;
		if (r.applied_one) {
			applied++;
			sr_log(SR_LOG_INFO, "migration applied", SR_LS("service", service),
			       SR_LI("version", r.version));
		}
	} while (r.applied_one);
	if (res != NULL) {
		res->version = r.version;
		res->applied = applied;
		res->known = r.known;
	}
	snprintf(r.msg, r.msglen, "%s: schema at version %lld (applied %u)", service,
		 (long long)r.version, applied);
out:
	free(all);
	free(mine);
	return rc;
}

int sr_migrate(struct sr_store *st, const char *service, char *msg, size_t msglen)
{
	return sr_migrate_run(st, service, NULL, msg, msglen);
}
