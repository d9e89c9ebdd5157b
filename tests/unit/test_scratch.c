/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread locked scratch memory (src/base/scratch.c), which holds the
 * card and the JWE key material during a tokenization: each thread gets its
 * own block, the same one on every call, zeroed when first made, and two
 * areas never share a block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/scratch.h"

#include <pthread.h>
#include <string.h>

static struct sr_scratch area_a = SR_SCRATCH_INIT(4096);
static struct sr_scratch area_b = SR_SCRATCH_INIT(100);

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void *other_thread(void *arg)
{
	unsigned char **out = arg;
	unsigned char *p = sr_scratch_get(&area_a);
	/* A fresh thread's block is zeroed, whatever the first thread left in its own. */
	out[1] = all_zero(p, 4096) ? p : NULL;
	out[0] = p;
	return NULL;
}

static void test_same_block_per_thread(void **state)
{
	(void)state;
	unsigned char *a1 = sr_scratch_get(&area_a);
	assert_true(all_zero(a1, 4096));
	memset(a1, 0x5a, 4096);
	unsigned char *a2 = sr_scratch_get(&area_a);
	assert_ptr_equal(a1, a2);
	assert_int_equal(a2[4095], 0x5a); /* the caller wipes, not the getter */

	unsigned char *b = sr_scratch_get(&area_b);
	assert_ptr_not_equal(a1, b);
	assert_true(all_zero(b, 100));
	memset(a1, 0, 4096);
}

static void test_threads_get_their_own(void **state)
{
	(void)state;
	unsigned char *mine = sr_scratch_get(&area_a);
	memset(mine, 0x77, 4096);
	unsigned char *theirs[2] = {NULL, NULL};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, other_thread, theirs), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_non_null(theirs[0]);
	assert_ptr_not_equal(theirs[0], mine);
	assert_ptr_equal(theirs[1], theirs[0]); /* it was zeroed */
	assert_int_equal(mine[0], 0x77);        /* and ours untouched */
	memset(mine, 0, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_block_per_thread),
		cmocka_unit_test(test_threads_get_their_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
