/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_STRBUF_H
#define SR_BASE_STRBUF_H

/*
 * A growing, always NUL-terminated text buffer for the server core (mail
 * composition, templates). Aborts on out-of-memory like the rest of the
 * core; src/lib/ code must not use it. Start from {0}; the caller frees p
 * (wiping it first if it held a secret). Not thread-safe per buffer.
 */
#include <stddef.h>

struct sr_strbuf {
	char *p;
	size_t len, cap;
};

/* Appends n bytes of data. */
void sr_strbuf_add(struct sr_strbuf *b, const void *data, size_t n);
/* Appends a NUL-terminated string. */
void sr_strbuf_str(struct sr_strbuf *b, const char *s);
/* Appends printf output of at most 1023 bytes (bounded values only; a
 * longer result is a bug and aborts). */
void sr_strbuf_fmt(struct sr_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
