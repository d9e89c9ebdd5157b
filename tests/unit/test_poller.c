/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The background pass thread (src/base/poller.c) that the notification
 * delivery job and the webhook sender run on: a pass that reports more work
 * is followed at once, an idle one waits for the interval or a wake-up, and
 * stopping finishes the pass in hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/poller.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

struct counter {
	atomic_int passes;
	int busy_passes; /* the first ones report more work */
	useconds_t pass_us;
	atomic_bool in_pass;
};

static int pass(void *arg, bool *more)
{
	struct counter *c = arg;
	atomic_store(&c->in_pass, true);
	if (c->pass_us)
		usleep(c->pass_us);
	int n = atomic_fetch_add(&c->passes, 1) + 1;
	*more = n <= c->busy_passes;
	atomic_store(&c->in_pass, false);
	return 0;
}

static void wait_passes(struct counter *c, int n)
{
	for (int i = 0; i < 500 && atomic_load(&c->passes) < n; i++)
		usleep(2000);
}

static void more_work_runs_at_once_then_sleeps(void **state)
{
	(void)state;
	struct counter c = {.busy_passes = 5};
	struct sr_poller *p = NULL;
	/* A long interval: only "more" can explain passes 2..6. */
	assert_int_equal(sr_poller_start("test", pass, &c, 60000, &p), 0);
	wait_passes(&c, 6);
	assert_int_equal(atomic_load(&c.passes), 6);
	usleep(50000);
	assert_int_equal(atomic_load(&c.passes), 6); /* asleep now */
	sr_poller_stop(p);
}

static void wake_cuts_the_sleep_short(void **state)
{
	(void)state;
	struct counter c = {0};
	struct sr_poller *p = NULL;
	assert_int_equal(sr_poller_start("test", pass, &c, 60000, &p), 0);
	wait_passes(&c, 1);
	assert_int_equal(atomic_load(&c.passes), 1);
	sr_poller_wake(p);
	wait_passes(&c, 2);
	assert_int_equal(atomic_load(&c.passes), 2);
	sr_poller_stop(p);
}

static void interval_paces_idle_passes(void **state)
{
	(void)state;
	struct counter c = {0};
	struct sr_poller *p = NULL;
	assert_int_equal(sr_poller_start("test", pass, &c, 20, &p), 0);
	usleep(300000);
	int n = atomic_load(&c.passes);
	sr_poller_stop(p);
	/* ~15 passes in 300 ms at 20 ms; a busy machine runs fewer, never
	 * many more. */
	assert_true(n >= 3);
	assert_true(n <= 20);
}

static void stop_finishes_the_pass_in_hand(void **state)
{
	(void)state;
	struct counter c = {.pass_us = 100000};
	struct sr_poller *p = NULL;
	assert_int_equal(sr_poller_start("test", pass, &c, 60000, &p), 0);
	while (!atomic_load(&c.in_pass))
		usleep(1000);
	sr_poller_stop(p); /* returns only after the 100 ms pass ended */
	assert_false(atomic_load(&c.in_pass));
	assert_int_equal(atomic_load(&c.passes), 1);
	sr_poller_stop(NULL);
}

/* The periodic jobs (audit checkpoint, token purge, payments maintenance)
 * start with a wait: no pass until the first interval has gone by. */
static void start_after_waits_before_the_first_pass(void **state)
{
	(void)state;
	struct counter c = {0};
	struct sr_poller *p = NULL;
	assert_int_equal(sr_poller_start_after("test", pass, &c, 150, 60000, &p), 0);
	usleep(50000);
	assert_int_equal(atomic_load(&c.passes), 0); /* still in the first wait */
	wait_passes(&c, 1);
	assert_int_equal(atomic_load(&c.passes), 1);
	usleep(50000);
	assert_int_equal(atomic_load(&c.passes), 1); /* then the poll interval */
	sr_poller_stop(p);
}

static void wake_cuts_the_first_wait_short(void **state)
{
	(void)state;
	struct counter c = {0};
	struct sr_poller *p = NULL;
	assert_int_equal(sr_poller_start_after("test", pass, &c, 60000, 60000, &p), 0);
	usleep(20000);
	assert_int_equal(atomic_load(&c.passes), 0);
	sr_poller_wake(p);
	wait_passes(&c, 1);
	assert_int_equal(atomic_load(&c.passes), 1);
	sr_poller_stop(p);
}

/* Shutting down during the first wait neither hangs for the interval nor
 * runs a pass on the way out (the owner may be tearing its state down). */
static void stop_during_the_first_wait_runs_no_pass(void **state)
{
	(void)state;
	struct counter c = {0};
	struct sr_poller *p = NULL;
	struct timespec t0, t1;
	assert_int_equal(sr_poller_start_after("test", pass, &c, 60000, 60000, &p), 0);
	usleep(20000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sr_poller_stop(p);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(atomic_load(&c.passes), 0);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(more_work_runs_at_once_then_sleeps),
		cmocka_unit_test(wake_cuts_the_sleep_short),
		cmocka_unit_test(interval_paces_idle_passes),
		cmocka_unit_test(stop_finishes_the_pass_in_hand),
		cmocka_unit_test(start_after_waits_before_the_first_pass),
		cmocka_unit_test(wake_cuts_the_first_wait_short),
		cmocka_unit_test(stop_during_the_first_wait_runs_no_pass),
	};
	return cmocka_run_group_tests_name("poller", tests, NULL, NULL);
}
