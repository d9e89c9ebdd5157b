/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_MEM_H
#define SR_BASE_MEM_H

/*
 * Allocation for the server core: these abort on out-of-memory (fail closed,
 * never a half-written money transfer). Code in src/lib/ must not use them;
 * it returns SR_E_NOMEM instead so that it can be fuzzed and fault-tested.
 * Size arithmetic is overflow-checked here so that callers need not.
 */
#include <stddef.h>

void *sr_xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *sr_xcalloc(size_t nmemb, size_t size) __attribute__((malloc, returns_nonnull));
void *sr_xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
void *sr_xreallocarray(void *p, size_t nmemb, size_t size) __attribute__((returns_nonnull));
char *sr_xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *sr_xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));
/* printf into a fresh string; aborts on out-of-memory. */
char *sr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2), returns_nonnull));

/* Wipes n bytes at p in a way the compiler cannot drop (sodium_memzero). */
void sr_wipe(void *p, size_t n);
/* Wipes and frees a NUL-terminated secret string; accepts NULL. */
void sr_free_secret_str(char *s);

#endif
