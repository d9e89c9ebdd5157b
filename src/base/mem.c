/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Aborting allocators for the server core, and wiping helpers. The process
 * aborts on out-of-memory rather than carry on with a half-built state.
 */
#include "base/mem.h"
#include "base/assert.h"

#include <malloc.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void __attribute__((noreturn)) oom(size_t n)
{
	fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
	abort();
}

void *sr_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom(n);
	return p;
}

void *sr_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *sr_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		oom(n);
	return q;
}

void *sr_xreallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n))
		oom(SIZE_MAX);
	return sr_xrealloc(p, n);
}

char *sr_xstrdup(const char *s)
{
	return sr_xstrndup(s, strlen(s));
}

char *sr_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *d = sr_xmalloc(len + 1);
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *sr_xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	SR_ASSERT(n >= 0);
	char *s = sr_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void sr_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		sodium_memzero(p, n);
}

void sr_free_secret_str(char *s)
{
	if (s == NULL)
		return;
	sr_wipe(s, strlen(s));
	free(s);
}

void sr_free_wiped(void *p, size_t n)
{
	if (p == NULL)
		return;
	sr_wipe(p, n);
	free(p);
}

void *sr_xrealloc_wiped(void *p, size_t used, size_t n)
{
	void *q = sr_xmalloc(n);
	if (p != NULL) {
		memcpy(q, p, used < n ? used : n);
		sr_free_wiped(p, used);
	}
	return q;
}

size_t sr_mem_wipe_block(void *p)
{
	size_t n = p != NULL ? malloc_usable_size(p) : 0;
	sr_wipe(p, n);
	return n;
}

#if defined(__SANITIZE_ADDRESS__)
#define SR_MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SR_MEM_ASAN 1
#endif
#endif

#ifdef SR_MEM_ASAN
bool sr_mem_wipes_on_free(void)
{
	return false;
}

#else
/* glibc's own entry points, exported for allocators that wrap it. */
void __libc_free(void *p);
void *__libc_malloc(size_t n);

bool sr_mem_wipes_on_free(void)
{
	return true;
}

void free(void *p)
{
	if (p == NULL)
		return;
	sr_mem_wipe_block(p);
	__libc_free(p);
}

void *realloc(void *p, size_t n)
{
	if (p == NULL)
		return __libc_malloc(n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	/* Shrinking in place moves nothing; growing moves into a fresh block
	 * (glibc would free the old one unwiped, or grow it in place, which
	 * this gives up: measured in docs/security.md). */
	size_t have = malloc_usable_size(p);
	if (n <= have)
		return p;
	void *q = __libc_malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, have);
	free(p);
	return q;
}
#endif

void sr_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr,
		"{\"level\":\"fatal\",\"msg\":\"assertion "
		"failed\",\"expr\":\"%s\",\"file\":\"%s\",\"line\":%d}\n",
		expr, file, line);
	abort();
}
