/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_MEM_H
#define SR_BASE_MEM_H

/*
 * Allocation for the server core: these abort on out-of-memory (fail closed,
 * never a half-written money transfer). Code in src/lib/ must not use them;
 * it returns SR_E_NOMEM instead so that it can be fuzzed and fault-tested.
 * Size arithmetic is overflow-checked here so that callers need not.
 */
#include <stdbool.h>
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
/* Wipes the first n bytes of p (its used size, which the caller knows) and
 * frees it; accepts NULL. For buffers that held request or response bytes. */
void sr_free_wiped(void *p, size_t n);
/* realloc for buffers that may hold secrets: moves the first used bytes of
 * p (p's used size, at most n) into a fresh block of n bytes, wipes p's old
 * used bytes and frees p; p may be NULL (used 0). Plain realloc would leave
 * the old block's bytes in freed heap memory. Aborts on out-of-memory. */
void *sr_xrealloc_wiped(void *p, size_t used, size_t n) __attribute__((returns_nonnull));

/*
 * Wipe-on-free, process-wide. This binary defines free() and realloc() (the
 * dynamic linker binds every library's calls to them, OpenSSL, jansson,
 * libpq, libqrencode, liboath included): a block is wiped over its whole
 * usable size before glibc gets it back, and realloc never leaves an old
 * copy behind (it moves into a fresh block and wipes the old one instead of
 * letting glibc free it unwiped). So text a library copied from a secret
 * (a QR encoder's input, a parser's string) does not outlive its free().
 * Not in sanitizer builds: ASan owns the allocator there and is told to
 * fill freed blocks with zeros instead (__asan_default_options in main.c).
 * What this cannot reach: memory that is never freed while it matters
 * (stacks, static buffers, live objects) and glibc-internal frees.
 */
/* Wipes p's whole usable size (malloc_usable_size); returns the bytes
 * wiped. p must be a live block from malloc; NULL gives 0. */
size_t sr_mem_wipe_block(void *p);
/* Whether free() wipes in this build (false under sanitizers, where ASan's
 * free_fill_byte does it). */
bool sr_mem_wipes_on_free(void);

#endif
