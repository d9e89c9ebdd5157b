/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hosted card form's routes (see elements.h). Everything served here is
 * public and static; what makes it safe is in the headers:
 *
 * - /elements/card may be framed only by [vault] platform_origins: its CSP
 *   says frame-ancestors <those origins> and no X-Frame-Options is sent
 *   (ALLOW-FROM is obsolete and DENY would block the marketplace in
 *   browsers that still honour the header over CSP). Its CSP otherwise
 *   allows scripts, styles and fetches from the vault itself only, and no
 *   inline code, so nothing but card.js ever runs next to the card fields.
 * - The card page is never cached (no-store, the server default), so a
 *   change of platform_origins takes effect at once; the static scripts are
 *   cacheable for five minutes with an ETag, as a browser script should be.
 *
 * The ?key= publishable key is checked for shape only: validating it here
 * would give an unaudited, unthrottled key oracle. POST /v1/tokens, which
 * the form calls, authenticates it (audited, rate-limited). A secret key in
 * the URL is refused with a message saying why, since it would leak.
 */
#include "vault/elements.h"
#include "base/config.h"
#include "base/embedded.h"
#include "base/mem.h"
#include "net/http.h"
#include "net/query.h"
#include "net/router.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Short enough that a fixed strongroom.js reaches browsers within minutes,
 * long enough that a checkout does not refetch it on every page. */
#define ELEMENTS_ASSET_CACHE "public, max-age=300"
#define ELEMENTS_KEY_MAX     128

/* One embedded file served as is. */
struct asset {
	const char *content_type;
	const unsigned char *data;
	size_t len;
	char etag[2 + 2 * 16 + 1]; /* "\"" + 32 hex + "\"" */
};

struct sr_vault_elements {
	char *origins[SR_ELEMENTS_ORIGINS_MAX];
	size_t norigins;
	char *csp;       /* the card page's CSP */
	char *error_csp; /* for its error answers: framed, but nothing runs */
	struct asset script, page, page_js, page_css;
};

/* ------------------------------------------------------------ origins */

static int is_loopback_host(const char *host, size_t len)
{
	return (len == 9 && strncmp(host, "localhost", 9) == 0) ||
	       (len == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
	       (len == 5 && strncmp(host, "[::1]", 5) == 0);
}

static int host_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
}

/* Normalises one trimmed origin of len bytes into out (size
 * SR_ELEMENTS_ORIGIN_LEN_MAX + 1). Returns 0 or SR_E_CONFIG with err set. */
static int parse_origin(const char *item, size_t len, char *out, char *err, size_t errlen)
{
	char low[SR_ELEMENTS_ORIGIN_LEN_MAX + 1];
	const char *why = NULL;
	size_t hlen, plen = 0;
	const char *host, *port = NULL;
	int https;

	if (len > SR_ELEMENTS_ORIGIN_LEN_MAX) {
		snprintf(err, errlen, "an origin is longer than %d characters",
			 SR_ELEMENTS_ORIGIN_LEN_MAX);
		return SR_E_CONFIG;
	}
	for (size_t i = 0; i < len; i++)
		low[i] = (item[i] >= 'A' && item[i] <= 'Z') ? (char)(item[i] - 'A' + 'a') : item[i];
	low[len] = '\0';
	/* A trailing slash is the one harmless slip people make when copying
	 * a URL; anything after it is a path, which an origin never has. */
	if (len > 1 && low[len - 1] == '/' && low[len - 2] != '/')
		low[len - 1] = '\0';

	if (strncmp(low, "https://", 8) == 0) {
		https = 1;
		host = low + 8;
	} else if (strncmp(low, "http://", 7) == 0) {
		https = 0;
		host = low + 7;
	} else {
		why = "must start with https:// (or http:// for a loopback host)";
		goto bad;
	}
	hlen = strlen(host);
	if (host[0] == '[') {
		const char *close = strchr(host, ']');
		if (close == NULL) {
			why = "has an unclosed [IPv6] host";
			goto bad;
		}
		for (const char *c = host + 1; c < close; c++)
			if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || *c == ':' ||
			      *c == '.')) {
				why = "has an invalid [IPv6] host";
				goto bad;
			}
		if (close == host + 1) {
			why = "has an empty host";
			goto bad;
		}
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0') {
			why = "is not scheme://host[:port] (no path, query or user)";
			goto bad;
		}
		hlen = (size_t)(close + 1 - host);
	} else {
		const char *colon = strchr(host, ':');
		if (colon != NULL) {
			port = colon + 1;
			hlen = (size_t)(colon - host);
		}
		if (hlen == 0) {
			why = "has an empty host";
			goto bad;
		}
		for (size_t i = 0; i < hlen; i++)
			if (!host_char_ok(host[i])) {
				why = "is not scheme://host[:port] (no path, query, user or "
				      "wildcard)";
				goto bad;
			}
		if (host[0] == '.' || host[0] == '-' || host[hlen - 1] == '.') {
			why = "has an invalid host name";
			goto bad;
		}
	}
	if (port != NULL) {
		unsigned long v = 0;
		plen = strlen(port);
		if (plen == 0 || plen > 5) {
			why = "has an invalid port";
			goto bad;
		}
		for (size_t i = 0; i < plen; i++) {
			if (port[i] < '0' || port[i] > '9') {
				why = "has an invalid port (or a path after the host)";
				goto bad;
			}
			v = v * 10 + (unsigned long)(port[i] - '0');
		}
		if (v == 0 || v > 65535 || port[0] == '0') {
			why = "has an invalid port";
			goto bad;
		}
		/* Browsers serialise an origin without its scheme's default
		 * port; so must we, or the exact comparison never matches. */
		if ((https && v == 443) || (!https && v == 80))
			plen = 0;
	}
	if (!https && !is_loopback_host(host, hlen)) {
		why = "uses http:// for a host other than localhost, 127.0.0.1 or [::1]; use "
		      "https://";
		goto bad;
	}
	snprintf(out, SR_ELEMENTS_ORIGIN_LEN_MAX + 1, "%s%.*s%s%.*s",
		 https ? "https://" : "http://", (int)hlen, host, plen > 0 ? ":" : "", (int)plen,
		 plen > 0 ? port : "");
	return 0;
bad:
	snprintf(err, errlen, "origin '%.*s' %s", (int)(len > 80 ? 80 : len), item, why);
	return SR_E_CONFIG;
}

int sr_elements_parse_origins(const char *list, char **out, size_t max, size_t *n, char *err,
			      size_t errlen)
{
	char one[SR_ELEMENTS_ORIGIN_LEN_MAX + 1];
	int rc = 0;
	const char *p = list;

	*n = 0;
	for (size_t i = 0; i < max; i++)
		out[i] = NULL;
	if (list == NULL)
		p = "";
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *s = p;
		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0) {
			snprintf(
				err, errlen,
				"an empty origin in the list (give at least one, comma-separated)");
			rc = SR_E_CONFIG;
			goto out;
		}
		rc = parse_origin(s, len, one, err, errlen);
		if (rc != 0)
			goto out;
		for (size_t i = 0; i < *n; i++)
			if (strcmp(out[i], one) == 0) {
				snprintf(err, errlen, "origin '%s' is listed twice", one);
				rc = SR_E_CONFIG;
				goto out;
			}
		if (*n == max) {
			snprintf(err, errlen, "more than %zu origins", max);
			rc = SR_E_CONFIG;
			goto out;
		}
		out[(*n)++] = sr_xstrdup(one);
		if (end == NULL)
			break;
		p = end + 1;
	}
out:
	if (rc != 0) {
		for (size_t i = 0; i < *n; i++) {
			free(out[i]);
			out[i] = NULL;
		}
		*n = 0;
	}
	return rc;
}

/* ------------------------------------------------------------ assets */

static int load_asset(struct asset *a, const char *path, const char *content_type, char *err,
		      size_t errlen)
{
	unsigned char h[16];
	const struct sr_embedded_file *f = sr_embedded_find(path);
	if (f == NULL) {
		snprintf(err, errlen, "embedded file %s is missing (broken build)", path);
		return SR_E_NOTFOUND;
	}
	a->content_type = content_type;
	a->data = f->data;
	a->len = f->len;
	/* A content hash, so every instance running the same build answers
	 * the same ETag behind a load balancer. */
	crypto_generichash(h, sizeof h, f->data, f->len, NULL, 0);
	a->etag[0] = '"';
	sodium_bin2hex(a->etag + 1, sizeof a->etag - 2, h, sizeof h);
	a->etag[sizeof a->etag - 2] = '"';
	a->etag[sizeof a->etag - 1] = '\0';
	return 0;
}

/* True when If-None-Match lists etag (weak or strong) or is "*". */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, etag, elen) == 0 &&
		    (p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ' || p[elen] == '\t'))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* Serves a cacheable asset, or 304 when the client already has it. */
static void reply_asset(struct sr_http_req *req, const struct asset *a)
{
	const char *inm = sr_http_header(req, "If-None-Match");
	sr_http_set_cache_control(req, ELEMENTS_ASSET_CACHE);
	sr_http_add_header(req, "ETag", a->etag);
	if (inm != NULL && etag_matches(inm, a->etag)) {
		sr_http_reply(req, 304, NULL, NULL, 0);
		return;
	}
	sr_http_reply(req, 200, a->content_type, a->data, a->len);
}

static void handle_script(struct sr_http_req *req, void *data)
{
	struct sr_vault_elements *el = data;
	reply_asset(req, &el->script);
}

static void handle_page_js(struct sr_http_req *req, void *data)
{
	struct sr_vault_elements *el = data;
	reply_asset(req, &el->page_js);
}

static void handle_page_css(struct sr_http_req *req, void *data)
{
	struct sr_vault_elements *el = data;
	reply_asset(req, &el->page_css);
}

/* ------------------------------------------------------------ the card page */

static bool key_shape_ok(const char *key)
{
	size_t len = strlen(key);
	if (len < 4 || len > ELEMENTS_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = key[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* A 400 the embedding page's developer can read inside the frame: framed
 * by the same origins as the form, but with nothing allowed to run. */
static void page_error(struct sr_http_req *req, const struct sr_vault_elements *el,
		       const char *code, const char *message, const char *param)
{
	sr_http_set_csp(req, el->error_csp);
	sr_http_set_frame_options(req, NULL);
	sr_http_reply_error(req, 400, "invalid_request_error", code, message, param);
}

static void handle_page(struct sr_http_req *req, void *data)
{
	struct sr_vault_elements *el = data;
	char origin[SR_ELEMENTS_ORIGIN_LEN_MAX + 1];
	char key[ELEMENTS_KEY_MAX + 1];
	bool allowed = false;

	int rc = sr_query_get(req->query, "origin", origin, sizeof origin);
	if (rc != 1) {
		page_error(req, el, rc == 0 ? "parameter_missing" : "invalid_origin",
			   rc == 0 ? "origin is required: the parent page's origin, as "
				     "strongroom.js passes it."
				   : "origin is malformed or given twice.",
			   "origin");
		return;
	}
	for (size_t i = 0; i < el->norigins; i++)
		if (strcmp(origin, el->origins[i]) == 0)
			allowed = true;
	if (!allowed) {
		page_error(req, el, "origin_not_allowed",
			   "This origin may not embed the card form: add it to [vault] "
			   "platform_origins.",
			   "origin");
		return;
	}
	rc = sr_query_get(req->query, "key", key, sizeof key);
	if (rc != 1) {
		page_error(req, el, rc == 0 ? "parameter_missing" : "invalid_publishable_key",
			   rc == 0 ? "key is required: the vault's publishable key (pk_...)."
				   : "key is malformed or given twice.",
			   "key");
		return;
	}
	if (strncmp(key, "sk_", 3) == 0) {
		/* Already leaked into a URL and maybe a log upstream: say so
		 * plainly, so the developer rotates it. */
		page_error(req, el, "secret_key_in_browser",
			   "A secret key (sk_...) must never be used in a browser; use the "
			   "publishable key (pk_...) and rotate this secret key.",
			   "key");
		return;
	}
	if (strncmp(key, "pk_", 3) != 0 || !key_shape_ok(key)) {
		page_error(req, el, "invalid_publishable_key",
			   "key must be the vault's publishable key (pk_...).", "key");
		return;
	}
	sr_http_set_csp(req, el->csp);
	sr_http_set_frame_options(req, NULL);
	sr_http_reply(req, 200, el->page.content_type, el->page.data, el->page.len);
}

/* ------------------------------------------------------------ set-up */

/* "PREFIX frame-ancestors o1 o2 ..." */
static char *build_csp(const char *prefix, char *const *origins, size_t n)
{
	size_t len = strlen(prefix) + sizeof "frame-ancestors";
	for (size_t i = 0; i < n; i++)
		len += 1 + strlen(origins[i]);
	char *csp = sr_xmalloc(len + 1);
	size_t off = (size_t)snprintf(csp, len + 1, "%sframe-ancestors", prefix);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(csp + off, len + 1 - off, " %s", origins[i]);
	return csp;
}

int sr_vault_elements_new(const struct sr_config *cfg, struct sr_vault_elements **out, char *err,
			  size_t errlen)
{
	struct sr_vault_elements *el = sr_xcalloc(1, sizeof *el);
	char why[256];
	int rc;

	*out = NULL;
	rc = sr_elements_parse_origins(sr_config_str(cfg, "vault", "platform_origins"), el->origins,
				       SR_ELEMENTS_ORIGINS_MAX, &el->norigins, why, sizeof why);
	if (rc != 0) {
		snprintf(err, errlen, "[vault] platform_origins: %s", why);
		goto out;
	}
	rc = load_asset(&el->script, "web/strongroom.js", "text/javascript; charset=utf-8", err,
			errlen);
	if (rc == 0)
		rc = load_asset(&el->page, "web/elements/card.html", "text/html; charset=utf-8",
				err, errlen);
	if (rc == 0)
		rc = load_asset(&el->page_js, "web/elements/card.js",
				"text/javascript; charset=utf-8", err, errlen);
	if (rc == 0)
		rc = load_asset(&el->page_css, "web/elements/card.css", "text/css; charset=utf-8",
				err, errlen);
	if (rc != 0)
		goto out;
	/* form-action 'none': the form is never submitted by the browser, so
	 * card fields can never be posted anywhere, even by a bug. */
	el->csp = build_csp("default-src 'none'; script-src 'self'; style-src 'self'; "
			    "connect-src 'self'; base-uri 'none'; "
			    "form-action 'none'; ",
			    el->origins, el->norigins);
	el->error_csp = build_csp("default-src 'none'; ", el->origins, el->norigins);
	*out = el;
	el = NULL;
out:
	sr_vault_elements_free(el);
	return rc;
}

void sr_vault_elements_free(struct sr_vault_elements *el)
{
	if (el == NULL)
		return;
	for (size_t i = 0; i < el->norigins; i++)
		free(el->origins[i]);
	free(el->csp);
	free(el->error_csp);
	free(el);
}

int sr_vault_elements_add_routes(struct sr_router *r, struct sr_vault_elements *el)
{
	struct sr_route_opts opts = {.no_body = true};
	int rc = sr_router_add(r, "GET", "/v1/strongroom.js", handle_script, el, &opts);
	if (rc == 0)
		rc = sr_router_add(r, "GET", "/elements/card", handle_page, el, &opts);
	if (rc == 0)
		rc = sr_router_add(r, "GET", "/elements/card.js", handle_page_js, el, &opts);
	if (rc == 0)
		rc = sr_router_add(r, "GET", "/elements/card.css", handle_page_css, el, &opts);
	return rc;
}
