/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_METRICS_H
#define SR_NET_METRICS_H

/*
 * Per-process HTTP metrics in Prometheus text format 0.0.4. Request counters
 * and latency histograms are kept per event-loop thread (each written only by
 * its own thread, so no atomic read-modify-write on the hot path) and summed
 * on scrape; connection and handshake counters are process-wide atomics.
 */
#include <stdbool.h>
#include <stddef.h>

struct sr_router;
struct sr_metrics;
struct sr_metrics_thread;

/* Method classes for requests that matched no route. */
#define SR_METRICS_METHOD_CLASSES 8

/* router is borrowed and must outlive the metrics. */
struct sr_metrics *sr_metrics_new(const struct sr_router *router, unsigned nthreads);
void sr_metrics_free(struct sr_metrics *m);
/* The counters of event-loop thread i (0 <= i < nthreads). */
struct sr_metrics_thread *sr_metrics_thread(struct sr_metrics *m, unsigned i);

/* The slot of a request: route index, or an "unmatched" slot per method. */
unsigned sr_metrics_slot(const struct sr_metrics *m, int route_index, const char *method);
/* Records one answered request. Only from the owning thread. */
void sr_metrics_observe(struct sr_metrics_thread *t, unsigned slot, int status, double seconds);

void sr_metrics_conn_opened(struct sr_metrics *m);
void sr_metrics_conn_closed(struct sr_metrics *m);
long sr_metrics_open_connections(const struct sr_metrics *m);
void sr_metrics_handshake(struct sr_metrics *m, bool ok);

/* Renders everything (plus the worker queue depth) as a fresh NUL-terminated
 * string (caller frees); *len is its length. Any thread. */
char *sr_metrics_render(struct sr_metrics *m, long worker_queue_depth, size_t *len);

#endif
