/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_POLLER_H
#define SR_BASE_POLLER_H

/*
 * A background thread that does a job in passes: the notification
 * delivery job and the webhook sender (and any other "claim what is due,
 * handle it, look again later" loop) run on one. After a pass that says
 * more work may be waiting it runs the next pass at once; otherwise it
 * sleeps for the poll interval, or until sr_poller_wake. Stopping lets the
 * pass in hand finish, then joins the thread.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stdint.h>

struct sr_poller;

/* One pass; *more = true asks for the next pass without sleeping. The
 * return value is only logged (as "<name> pass failed"). */
typedef int (*sr_poller_pass_fn)(void *arg, bool *more);

/* Starts the thread. name (static) labels its log lines. Returns 0 or
 * SR_E_INTERNAL when no thread can be made. */
int sr_poller_start(const char *name, sr_poller_pass_fn pass, void *arg, int64_t poll_ms,
		    struct sr_poller **out) SR_WUR;

/* Cuts the current sleep short. Any thread. */
void sr_poller_wake(struct sr_poller *p);

/* Asks the thread to stop after its current pass, joins it and frees p.
 * Accepts NULL. */
void sr_poller_stop(struct sr_poller *p);

#endif
