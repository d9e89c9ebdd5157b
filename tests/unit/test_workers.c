/* SPDX-License-Identifier: Apache-2.0 */
/* Worker pool: jobs run off the loop thread, done callbacks come back on the
 * submitting event_base's thread, the queue bound gives SR_E_LIMIT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "net/workers.h"

struct item {
	pthread_t loop_thread, job_thread, done_thread;
	int value, result;
	atomic_int *remaining;
	struct event_base *base;
};

static void square(void *arg)
{
	struct item *it = arg;
	it->job_thread = pthread_self();
	it->result = it->value * it->value;
}

static void finished(void *arg)
{
	struct item *it = arg;
	it->done_thread = pthread_self();
	if (atomic_fetch_sub(it->remaining, 1) == 1)
		event_base_loopexit(it->base, NULL);
}

static void test_jobs_and_done_on_origin(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct sr_workers *w = sr_workers_new(3, 100);
	assert_int_equal(sr_workers_attach(w, base), 0);
	atomic_int remaining = 50;
	struct item items[50];
	for (int i = 0; i < 50; i++) {
		items[i] = (struct item){.loop_thread = pthread_self(),
					 .value = i,
					 .remaining = &remaining,
					 .base = base};
		assert_int_equal(sr_workers_submit(w, base, square, finished, &items[i]), 0);
	}
	event_base_dispatch(base);
	assert_int_equal(atomic_load(&remaining), 0);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(items[i].result, i * i);
		assert_false(pthread_equal(items[i].job_thread, pthread_self()));
		assert_true(pthread_equal(items[i].done_thread, pthread_self()));
	}
	assert_int_equal(sr_workers_depth(w), 0);
	sr_workers_free(w);
	event_base_free(base);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void blocked(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
}

static void nothing(void *arg)
{
	(void)arg;
}

static void test_queue_full(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct event_base *other = event_base_new();
	struct sr_workers *w = sr_workers_new(1, 2);
	assert_int_equal(sr_workers_attach(w, base), 0);
	assert_int_equal(sr_workers_submit(w, other, nothing, nothing, NULL), SR_E_INVAL);
	pthread_mutex_lock(&gate);
	/* One job occupies the only thread; wait until it has been taken. */
	assert_int_equal(sr_workers_submit(w, base, blocked, nothing, NULL), 0);
	for (int i = 0; i < 1000 && sr_workers_depth(w) != 0; i++)
		usleep(1000);
	assert_int_equal(sr_workers_submit(w, base, nothing, nothing, NULL), 0);
	assert_int_equal(sr_workers_submit(w, base, nothing, nothing, NULL), 0);
	assert_int_equal(sr_workers_depth(w), 2);
	assert_int_equal(sr_workers_submit(w, base, nothing, nothing, NULL), SR_E_LIMIT);
	pthread_mutex_unlock(&gate);
	for (int i = 0; i < 1000 && sr_workers_depth(w) != 0; i++)
		usleep(1000);
	assert_int_equal(sr_workers_depth(w), 0);
	assert_int_equal(sr_workers_submit(w, base, nothing, nothing, NULL), 0);
	sr_workers_free(w);
	event_base_free(base);
	event_base_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_and_done_on_origin),
		cmocka_unit_test(test_queue_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
