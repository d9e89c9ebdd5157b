/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_QUERY_H
#define SR_NET_QUERY_H

/*
 * Query-string parameters (application/x-www-form-urlencoded): finds one
 * parameter by name and percent-decodes it. Pure and bounded, so it can be
 * fuzzed on its own. The query string itself is never logged.
 */
#include "base/err.h"

#include <stddef.h>

/*
 * Looks for name in query (the text after '?', without it) and writes its
 * decoded value, NUL-terminated, into out. A name given twice is refused so
 * that two hops cannot read different values. Returns 1 found, 0 absent,
 * SR_E_INVAL (bad percent-escape, NUL, given twice), SR_E_LIMIT (value longer
 * than outlen - 1).
 */
int sr_query_get(const char *query, const char *name, char *out, size_t outlen) SR_WUR;

/* Decodes len bytes of a form-encoded component ('+' is a space) into out.
 * Returns the decoded length, SR_E_INVAL or SR_E_LIMIT as above. */
int sr_query_decode(const char *in, size_t len, char *out, size_t outlen) SR_WUR;

#endif
