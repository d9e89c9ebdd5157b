/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The route table. Patterns are pre-split into segments at start-up so that
 * matching a request is a linear scan with length-checked compares and no
 * allocation. A few hundred routes at most (SR_HTTP_ROUTES_MAX), so a scan is
 * simpler and as fast as a trie for our sizes.
 */
#include "net/router.h"
#include "base/mem.h"

#include <string.h>
#include <strings.h>

struct segment {
	const char *text; /* literal text, or the param name */
	size_t len;
	bool param;
};

struct entry {
	struct sr_route route;
	struct segment *segs;
	unsigned nsegs;
	char *buf; /* owns method, pattern and segment text */
};

struct sr_router {
	struct entry *entries;
	unsigned n;
};

struct sr_router *sr_router_new(void)
{
	return sr_xcalloc(1, sizeof(struct sr_router));
}

void sr_router_free(struct sr_router *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->n; i++) {
		free(r->entries[i].segs);
		free(r->entries[i].buf);
		free((char *)r->entries[i].route.method);
	}
	free(r->entries);
	free(r);
}

static bool method_ok(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n > SR_HTTP_METHOD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

/* Splits pattern into segments; buf is a private copy whose '/' become NULs. */
static int split_pattern(struct entry *e)
{
	char *p = e->buf + 1;
	unsigned nparams = 0;
	size_t nsegs = 1;
	for (const char *q = p; *q; q++)
		if (*q == '/')
			nsegs++;
	e->segs = sr_xcalloc(nsegs, sizeof *e->segs);
	for (;;) {
		char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct segment *s = &e->segs[e->nsegs++];
		if (len > 0 && p[0] == '{') {
			if (len < 3 || p[len - 1] != '}')
				return SR_E_INVAL;
			for (size_t i = 1; i + 1 < len; i++)
				if (p[i] == '{' || p[i] == '}')
					return SR_E_INVAL;
			if (++nparams > SR_HTTP_PATH_PARAMS_MAX)
				return SR_E_LIMIT;
			s->param = true;
			s->text = p + 1;
			s->len = len - 2;
			p[len - 1] = '\0';
		} else {
			if (memchr(p, '{', len) != NULL || memchr(p, '}', len) != NULL ||
			    memchr(p, '?', len) != NULL)
				return SR_E_INVAL;
			s->text = p;
			s->len = len;
		}
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return 0;
}

int sr_router_add(struct sr_router *r, const char *method, const char *pattern,
		  sr_http_handler_fn handler, void *data, const struct sr_route_opts *opts)
{
	if (!method_ok(method) || pattern == NULL || pattern[0] != '/' || handler == NULL)
		return SR_E_INVAL;
	if (r->n >= SR_HTTP_ROUTES_MAX)
		return SR_E_LIMIT;
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(r->entries[i].route.method, method) == 0 &&
		    strcmp(r->entries[i].route.pattern, pattern) == 0)
			return SR_E_EXISTS;

	struct entry e = {0};
	size_t plen = strlen(pattern);
	/* One allocation: the pattern as given, then a copy split into segments. */
	e.buf = sr_xmalloc(2 * plen + 2);
	memcpy(e.buf, pattern, plen + 1);
	memcpy(e.buf + plen + 1, pattern, plen + 1);
	char *split = e.buf + plen + 1;
	struct entry tmp = {.buf = split};
	int rc = split_pattern(&tmp);
	if (rc != 0) {
		free(tmp.segs);
		free(e.buf);
		return rc;
	}
	e.segs = tmp.segs;
	e.nsegs = tmp.nsegs;
	e.route.method = sr_xstrdup(method);
	e.route.pattern = e.buf;
	e.route.handler = handler;
	e.route.data = data;
	if (opts != NULL)
		e.route.opts = *opts;
	e.route.index = r->n;
	r->entries = sr_xreallocarray(r->entries, r->n + 1, sizeof *r->entries);
	r->entries[r->n++] = e;
	return 0;
}

/* Matches path against e; fills params when m is not NULL. */
static bool path_matches(const struct entry *e, const char *path, struct sr_route_match *m)
{
	if (path[0] != '/')
		return false;
	const char *p = path + 1;
	unsigned np = 0;
	for (unsigned i = 0; i < e->nsegs; i++) {
		const struct segment *s = &e->segs[i];
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (s->param) {
			if (len == 0)
				return false;
			if (m != NULL) {
				m->params[np].name = s->text;
				m->params[np].value = p;
				m->params[np].len = len;
			}
			np++;
		} else if (len != s->len || strncmp(p, s->text, len) != 0) {
			return false;
		}
		if (i + 1 == e->nsegs) {
			if (slash != NULL)
				return false;
		} else {
			if (slash == NULL)
				return false;
			p = slash + 1;
		}
	}
	if (m != NULL)
		m->nparams = np;
	return true;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
	/* Skip duplicates: a pattern may be registered for one method only once,
	 * but GET implies HEAD. */
	size_t mlen = strlen(method);
	for (const char *p = allow; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == mlen && strncmp(p, method, len) == 0)
			return;
		p = end ? end + 2 : p + len;
	}
	size_t used = strlen(allow);
	size_t need = (used ? 2 : 0) + mlen;
	if (used + need + 1 > cap)
		return;
	if (used) {
		allow[used++] = ',';
		allow[used++] = ' ';
	}
	memcpy(allow + used, method, mlen + 1);
}

enum sr_route_status sr_router_match(const struct sr_router *r, const char *method,
				     const char *path, struct sr_route_match *m)
{
	memset(m, 0, offsetof(struct sr_route_match, params));
	m->nparams = 0;
	m->allow[0] = '\0';
	bool head = strcmp(method, "HEAD") == 0;
	bool path_seen = false;
	for (unsigned i = 0; i < r->n; i++) {
		const struct entry *e = &r->entries[i];
		bool same = strcmp(e->route.method, method) == 0 ||
			    (head && strcmp(e->route.method, "GET") == 0);
		if (same && path_matches(e, path, m)) {
			m->route = &e->route;
			m->allow[0] = '\0';
			return SR_ROUTE_FOUND;
		}
		if (!same && path_matches(e, path, NULL)) {
			path_seen = true;
			allow_add(m->allow, sizeof m->allow, e->route.method);
			if (strcmp(e->route.method, "GET") == 0)
				allow_add(m->allow, sizeof m->allow, "HEAD");
		}
	}
	m->nparams = 0;
	return path_seen ? SR_ROUTE_METHOD_NOT_ALLOWED : SR_ROUTE_NOT_FOUND;
}

unsigned sr_router_count(const struct sr_router *r)
{
	return r->n;
}

const struct sr_route *sr_router_at(const struct sr_router *r, unsigned i)
{
	return i < r->n ? &r->entries[i].route : NULL;
}
