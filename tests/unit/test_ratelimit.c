/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token buckets: a burst is allowed, the next is refused with a retry hint,
 * tokens come back at the configured rate, keys are independent, and a full
 * table forgets the least recently seen keys rather than growing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/ratelimit.h"

#include <stdio.h>

static void test_burst_then_refill(void **state)
{
	(void)state;
	struct sr_ratelimit *rl = sr_ratelimit_new(5, 60, 100); /* 1 token a second */
	unsigned retry = 0;
	for (int i = 0; i < 5; i++)
		assert_true(sr_ratelimit_take(rl, "10.0.0.1", 1000, NULL));
	assert_false(sr_ratelimit_take(rl, "10.0.0.1", 1000, &retry));
	assert_int_equal(retry, 1);
	/* Another address is not affected. */
	assert_true(sr_ratelimit_take(rl, "10.0.0.2", 1000, NULL));
	/* Half a second later: still nothing; a second later: one token. */
	assert_false(sr_ratelimit_take(rl, "10.0.0.1", 1500, NULL));
	assert_true(sr_ratelimit_take(rl, "10.0.0.1", 2000, NULL));
	assert_false(sr_ratelimit_take(rl, "10.0.0.1", 2000, NULL));
	/* A long pause refills to the burst, not beyond. */
	for (int i = 0; i < 5; i++)
		assert_true(sr_ratelimit_take(rl, "10.0.0.1", 600000, NULL));
	assert_false(sr_ratelimit_take(rl, "10.0.0.1", 600000, NULL));
	sr_ratelimit_free(rl);
}

static void test_bounded_table(void **state)
{
	(void)state;
	struct sr_ratelimit *rl = sr_ratelimit_new(1, 1, 8);
	char key[32];
	/* Many more keys than the table holds: each still gets its burst. */
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "192.0.2.%d", i);
		assert_true(sr_ratelimit_take(rl, key, (uint64_t)i, NULL));
	}
	/* A key seen just now is still remembered and limited. */
	assert_false(sr_ratelimit_take(rl, key, 10000, NULL));
	sr_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_bounded_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
