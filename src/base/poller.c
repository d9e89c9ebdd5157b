/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pass-and-sleep background thread of poller.h. Sleeping uses a
 * CLOCK_MONOTONIC condition variable, so a wall-clock jump neither wakes
 * every poller at once nor puts one to sleep for hours.
 */
#include "base/poller.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct sr_poller {
	const char *name;
	sr_poller_pass_fn pass;
	void *arg;
	int64_t poll_ms;
	int64_t first_ms; /* sleep before the first pass; 0: none */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping, woken;
};

/* Sleeps ms with p->lock held, until then, a wake-up or stop. */
static void sleep_locked(struct sr_poller *p, int64_t ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!p->stopping && !p->woken)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
			break;
}

static void *loop(void *arg)
{
	struct sr_poller *p = arg;
	pthread_mutex_lock(&p->lock);
	if (p->first_ms > 0)
		sleep_locked(p, p->first_ms);
	while (!p->stopping) {
		p->woken = false;
		pthread_mutex_unlock(&p->lock);
		bool more = false;
		int rc = p->pass(p->arg, &more);
		if (rc != 0)
			sr_log(SR_LOG_WARN, "background pass failed", SR_LS("job", p->name),
			       SR_LS("error", sr_strerror(rc)));
		pthread_mutex_lock(&p->lock);
		if (rc == 0 && more)
			continue;
		sleep_locked(p, p->poll_ms);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void poller_free(struct sr_poller *p)
{
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

int sr_poller_start(const char *name, sr_poller_pass_fn pass, void *arg, int64_t poll_ms,
		    struct sr_poller **out)
{
	return sr_poller_start_after(name, pass, arg, 0, poll_ms, out);
}

int sr_poller_start_after(const char *name, sr_poller_pass_fn pass, void *arg, int64_t first_ms,
			  int64_t poll_ms, struct sr_poller **out)
{
	struct sr_poller *p = sr_xcalloc(1, sizeof *p);
	pthread_condattr_t ca;
	p->name = name;
	p->pass = pass;
	p->arg = arg;
	p->poll_ms = poll_ms > 0 ? poll_ms : 1000;
	p->first_ms = first_ms > 0 ? first_ms : 0;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = NULL;
	if (pthread_create(&p->thread, NULL, loop, p) != 0) {
		poller_free(p);
		return SR_E_INTERNAL;
	}
	*out = p;
	return 0;
}

void sr_poller_wake(struct sr_poller *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->woken = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void sr_poller_stop(struct sr_poller *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	poller_free(p);
}
