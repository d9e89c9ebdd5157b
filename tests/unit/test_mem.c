/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wiping allocation helpers (src/base/mem.c): a block is wiped over its
 * whole usable size, wiped reallocation keeps the data and loses the old
 * copy, and in release builds free() and realloc() themselves wipe what
 * they give back to glibc. The last is observed the only way a test can
 * without reading freed memory: glibc hands a just-freed small block to the
 * next malloc of the same size (its per-thread cache is last-in first-out),
 * and malloc does not clear it, so whatever free() left is visible there.
 * glibc's cache keeps two pointers in the first 16 bytes; the rest must be
 * zero.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/mem.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINKS 16 /* glibc tcache: next pointer and key */

/* Writes through a volatile pointer: a plain memset before free() is a
 * dead store the compiler may drop, and the test would prove nothing. */
static void fill(void *p, int byte, size_t n)
{
	volatile unsigned char *v = p;
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned char)byte;
}

/* An address kept as a number: comparing a pointer that has been freed is
 * something the compiler may fold to "different". */
static uintptr_t addr(const void *p)
{
	volatile uintptr_t a = (uintptr_t)p;
	return a;
}

static size_t nonzero_after(const unsigned char *p, size_t from, size_t n)
{
	size_t bad = 0;
	for (size_t i = from; i < n; i++)
		bad += p[i] != 0;
	return bad;
}

static void wipe_block_covers_usable_size(void **state)
{
	(void)state;
	unsigned char *p = malloc(100);
	assert_non_null(p);
	/* Only the requested bytes are written (_FORTIFY_SOURCE=3 knows the
	 * size); the wipe covers the usable size, which is at least that. */
	memset(p, 0xA5, 100);
	size_t usable = malloc_usable_size(p);
	assert_int_equal(sr_mem_wipe_block(p), usable);
	assert_true(usable >= 100);
	assert_int_equal(nonzero_after(p, 0, 100), 0);
	free(p);
	assert_int_equal(sr_mem_wipe_block(NULL), 0);
}

static void xrealloc_wiped_moves_data(void **state)
{
	(void)state;
	char *p = sr_xrealloc_wiped(NULL, 0, 8);
	memcpy(p, "secret!", 8);
	char *q = sr_xrealloc_wiped(p, 8, 4096);
	assert_string_equal(q, "secret!");
	/* Shrinking keeps the prefix that fits. */
	char *r = sr_xrealloc_wiped(q, 8, 4);
	assert_memory_equal(r, "secr", 4);
	sr_free_wiped(r, 4);
	sr_free_wiped(NULL, 10); /* accepts NULL */
}

static void free_wipes_the_block(void **state)
{
	(void)state;
	if (!sr_mem_wipes_on_free())
		skip(); /* sanitizer build: ASan fills freed blocks (free_fill_byte) */
	enum { N = 200 };
	unsigned char *p = malloc(N);
	assert_non_null(p);
	fill(p, 'S', N);
	uintptr_t was = addr(p);
	free(p);
	unsigned char *again = malloc(N);
	assert_non_null(again);
	if (addr(again) != was) {
		free(again);
		skip(); /* another allocator: nothing to observe */
	}
	assert_int_equal(nonzero_after(again, CACHE_LINKS, N), 0);
	free(again);
}

static void realloc_leaves_no_old_copy(void **state)
{
	(void)state;
	if (!sr_mem_wipes_on_free())
		skip();
	enum { N = 72 };
	unsigned char *p = malloc(N);
	/* A neighbour, so that glibc could not grow p in place either. */
	unsigned char *guard = malloc(N);
	assert_non_null(p);
	assert_non_null(guard);
	fill(p, 'P', N);
	uintptr_t was = addr(p);
	unsigned char *q = realloc(p, 64 * 1024);
	assert_non_null(q);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(q[i], 'P');
	unsigned char *old = malloc(N);
	assert_non_null(old);
	if (addr(old) != was)
		skip(); /* another allocator: nothing to observe */
	assert_int_equal(nonzero_after(old, CACHE_LINKS, N), 0);
	free(guard);
	/* Shrinking stays in place and keeps the data. */
	unsigned char *s = realloc(q, 16);
	assert_ptr_equal(s, q);
	assert_int_equal(s[15], 'P');
	free(s);
	free(old);
	/* realloc(NULL, n) allocates; realloc(p, 0) frees. */
	void *n = realloc(NULL, 10);
	assert_non_null(n);
	assert_null(realloc(n, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wipe_block_covers_usable_size),
		cmocka_unit_test(xrealloc_wiped_moves_data),
		cmocka_unit_test(free_wipes_the_block),
		cmocka_unit_test(realloc_leaves_no_old_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
