/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_WORKERS_H
#define SR_NET_WORKERS_H

/*
 * A bounded pool of threads for CPU-heavy work (Argon2id, RSA) so event loops
 * never stall. A job runs on a pool thread; its done callback then runs on the
 * event_base that submitted it (delivered through an eventfd watched by that
 * base), so done may touch that loop's connections freely.
 */
#include "base/err.h"

struct event_base;
struct sr_workers;

typedef void (*sr_job_fn)(void *arg);

/* Starts threads pool threads with room for queue_max waiting jobs. */
struct sr_workers *sr_workers_new(unsigned threads, unsigned queue_max);

/*
 * Lets base receive done callbacks. Call once per base, on the base's own
 * thread or before its loop starts, and before submitting from it.
 * Returns 0, or SR_E_LIMIT past 64 bases.
 */
int sr_workers_attach(struct sr_workers *w, struct event_base *base) SR_WUR;

/*
 * Queues job(arg); when it has run, done(arg) runs on origin's loop thread.
 * Returns 0, SR_E_LIMIT when queue_max jobs are already waiting (nothing
 * queued: answer 503), SR_E_INVAL when origin was not attached, or
 * SR_E_UNAVAILABLE while stopping. Any thread.
 */
int sr_workers_submit(struct sr_workers *w, struct event_base *origin, sr_job_fn job,
		      sr_job_fn done, void *arg) SR_WUR;

/* Jobs waiting (not yet started). Any thread. */
long sr_workers_depth(const struct sr_workers *w);

/*
 * Stops the threads after the job each is running; jobs still queued are
 * dropped without their done callbacks, and so are done callbacks not yet
 * delivered. Call after the event loops have stopped. Accepts NULL.
 */
void sr_workers_free(struct sr_workers *w);

#endif
