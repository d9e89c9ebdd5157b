/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_ELEMENTS_H
#define SR_VAULT_ELEMENTS_H

/*
 * The hosted card form ("elements"): the pages a marketplace's checkout
 * embeds so that card data is typed into, encrypted in, and sent from a
 * page of the vault's origin, never the marketplace's.
 *
 *   GET /v1/strongroom.js    the script the marketplace page includes
 *   GET /elements/card       the iframe page (?origin=PARENT&key=pk_...)
 *   GET /elements/card.js    its script (WebCrypto JWE, POST /v1/tokens)
 *   GET /elements/card.css   its style sheet
 *
 * The files are the embedded web/strongroom.js and the files of web/elements. Which
 * pages may frame the form is [vault] platform_origins: the card page's
 * Content-Security-Policy frame-ancestors lists exactly those origins, and
 * the page refuses an ?origin= that is not one of them (its script sends
 * tokens only to that origin and listens only to it).
 */
#include "base/err.h"

#include <stddef.h>

struct sr_config;
struct sr_router;
struct sr_vault_elements;

/* At most this many platform origins, each at most this long. */
#define SR_ELEMENTS_ORIGINS_MAX    16
#define SR_ELEMENTS_ORIGIN_LEN_MAX 255

/*
 * Parses a comma-separated list of origins ("https://shop.example,
 * http://127.0.0.1:3000") into normalised origins as browsers serialise
 * them: lower case, default port (443 / 80) removed, no trailing slash.
 * Each item is scheme://host[:port] with scheme https, or http for a
 * loopback host (localhost, 127.0.0.1, [::1]) only, since browsers give
 * only those a secure context. out receives up to max pointers to malloc'd
 * strings (the caller frees each), *n their count; both cleared first.
 * Returns 0, or SR_E_CONFIG with a one-line reason in err (empty list, bad
 * item, too many, too long, duplicate). Pure; any thread.
 */
int sr_elements_parse_origins(const char *list, char **out, size_t max, size_t *n, char *err,
			      size_t errlen) SR_WUR;

/*
 * Reads [vault] platform_origins from cfg and prepares the pages (looks up
 * the embedded files, builds the card page's CSP, computes ETags). *out is
 * cleared first. Returns 0, SR_E_CONFIG (bad origins; err says why) or
 * SR_E_NOTFOUND when an embedded file is missing (a broken build). Start-up
 * only.
 */
int sr_vault_elements_new(const struct sr_config *cfg, struct sr_vault_elements **out, char *err,
			  size_t errlen) SR_WUR;
/* Frees el; accepts NULL. Only once the server no longer runs. */
void sr_vault_elements_free(struct sr_vault_elements *el);

/* Adds the four GET routes above; el must outlive the router. Returns as
 * sr_router_add. */
int sr_vault_elements_add_routes(struct sr_router *r, struct sr_vault_elements *el) SR_WUR;

#endif
