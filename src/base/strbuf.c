/* SPDX-License-Identifier: Apache-2.0 */
/* Growing text buffer; see strbuf.h. */
#include "base/strbuf.h"
#include "base/assert.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void sr_strbuf_add(struct sr_strbuf *b, const void *data, size_t n)
{
	size_t need;
	SR_ASSERT(!__builtin_add_overflow(b->len, n + 1, &need));
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < need)
			SR_ASSERT(!__builtin_mul_overflow(cap, 2, &cap));
		b->p = sr_xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sr_strbuf_str(struct sr_strbuf *b, const char *s)
{
	sr_strbuf_add(b, s, strlen(s));
}

void sr_strbuf_fmt(struct sr_strbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	SR_ASSERT(n >= 0 && (size_t)n < sizeof tmp);
	sr_strbuf_add(b, tmp, (size_t)n);
}
