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
 *
 * The first pass runs as soon as the thread starts (sr_poller_start) or
 * after a first wait (sr_poller_start_after), for the periodic jobs whose
 * owner already ran one pass in line at start-up or that have nothing to do
 * until a period has gone by: the audit checkpoint, the token purge, the
 * payments maintenance.
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

/* As sr_poller_start, but the thread first sleeps first_ms (cut short by
 * sr_poller_wake or sr_poller_stop, which then runs no pass at all) before
 * its first pass. first_ms <= 0 is sr_poller_start. */
int sr_poller_start_after(const char *name, sr_poller_pass_fn pass, void *arg, int64_t first_ms,
			  int64_t poll_ms, struct sr_poller **out) SR_WUR;

/* Cuts the current sleep short. Any thread. */
void sr_poller_wake(struct sr_poller *p);

/* Asks the thread to stop after its current pass, joins it and frees p.
 * Accepts NULL. */
void sr_poller_stop(struct sr_poller *p);

#endif
