/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics storage and the Prometheus text renderer. Each event-loop thread
 * owns a block of counters it alone writes (relaxed atomic load + store, so a
 * concurrent scrape reads a torn-free, slightly stale value); the scrape sums
 * the blocks. Status codes map to a small fixed table so label cardinality and
 * memory stay bounded whatever a client sends.
 */
#include "net/metrics.h"
#include "base/mem.h"
#include "net/router.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const int statuses[] = {100, 200, 201, 202, 204, 301, 302, 303, 304, 307, 308, 400,
			       401, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413,
			       414, 415, 417, 422, 429, 431, 500, 501, 502, 503, 504, 505};
#define NSTATUS (sizeof statuses / sizeof statuses[0] + 1) /* + "other" */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

static const char *const method_classes[SR_METRICS_METHOD_CLASSES] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};

struct slot_stats {
	_Atomic uint64_t count[NSTATUS];
	_Atomic uint64_t bucket[NBUCKETS]; /* non-cumulative; summed on render */
	_Atomic uint64_t total;
	_Atomic uint64_t sum_us;
};

struct sr_metrics_thread {
	struct slot_stats *slots;
};

struct sr_metrics {
	const struct sr_router *router;
	unsigned nroutes, nslots, nthreads;
	struct sr_metrics_thread *threads;
	_Atomic long open_conns;
	_Atomic uint64_t handshakes_ok, handshakes_failed;
};

struct sr_metrics *sr_metrics_new(const struct sr_router *router, unsigned nthreads)
{
	struct sr_metrics *m = sr_xcalloc(1, sizeof *m);
	m->router = router;
	m->nroutes = router ? sr_router_count(router) : 0;
	m->nslots = m->nroutes + SR_METRICS_METHOD_CLASSES;
	m->nthreads = nthreads ? nthreads : 1;
	m->threads = sr_xcalloc(m->nthreads, sizeof *m->threads);
	for (unsigned i = 0; i < m->nthreads; i++)
		m->threads[i].slots = sr_xcalloc(m->nslots, sizeof(struct slot_stats));
	return m;
}

void sr_metrics_free(struct sr_metrics *m)
{
	if (m == NULL)
		return;
	for (unsigned i = 0; i < m->nthreads; i++)
		free(m->threads[i].slots);
	free(m->threads);
	free(m);
}

struct sr_metrics_thread *sr_metrics_thread(struct sr_metrics *m, unsigned i)
{
	return &m->threads[i % m->nthreads];
}

unsigned sr_metrics_slot(const struct sr_metrics *m, int route_index, const char *method)
{
	if (route_index >= 0 && (unsigned)route_index < m->nroutes)
		return (unsigned)route_index;
	unsigned c = SR_METRICS_METHOD_CLASSES - 1;
	for (unsigned i = 0; method != NULL && i + 1 < SR_METRICS_METHOD_CLASSES; i++)
		if (strcmp(method, method_classes[i]) == 0)
			c = i;
	return m->nroutes + c;
}

static unsigned status_index(int status)
{
	for (unsigned i = 0; i + 1 < NSTATUS; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

static inline void bump(_Atomic uint64_t *v, uint64_t by)
{
	/* Single writer: a load and a store, no locked instruction. */
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by,
			      memory_order_relaxed);
}

void sr_metrics_observe(struct sr_metrics_thread *t, unsigned slot, int status, double seconds)
{
	struct slot_stats *s = &t->slots[slot];
	bump(&s->count[status_index(status)], 1);
	unsigned b = 0;
	while (b < NBUCKETS && seconds > buckets[b])
		b++;
	if (b < NBUCKETS)
		bump(&s->bucket[b], 1);
	bump(&s->total, 1);
	bump(&s->sum_us, seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
}

void sr_metrics_conn_opened(struct sr_metrics *m)
{
	atomic_fetch_add_explicit(&m->open_conns, 1, memory_order_relaxed);
}

void sr_metrics_conn_closed(struct sr_metrics *m)
{
	atomic_fetch_sub_explicit(&m->open_conns, 1, memory_order_relaxed);
}

long sr_metrics_open_connections(const struct sr_metrics *m)
{
	return atomic_load_explicit(&m->open_conns, memory_order_relaxed);
}

void sr_metrics_handshake(struct sr_metrics *m, bool ok)
{
	atomic_fetch_add_explicit(ok ? &m->handshakes_ok : &m->handshakes_failed, 1,
				  memory_order_relaxed);
}

struct text {
	char *p;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n;
		t->p = sr_xrealloc(t->p, t->cap);
	}
}

static void slot_labels(const struct sr_metrics *m, unsigned slot, const char **route,
			const char **method)
{
	if (slot < m->nroutes) {
		const struct sr_route *r = sr_router_at(m->router, slot);
		*route = r->pattern;
		*method = r->method;
	} else {
		*route = "unmatched";
		*method = method_classes[slot - m->nroutes];
	}
}

static uint64_t ld(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

char *sr_metrics_render(struct sr_metrics *m, long worker_queue_depth, size_t *len)
{
	struct text t = {.cap = 8192};
	t.p = sr_xmalloc(t.cap);
	t.p[0] = '\0';

	put(&t, "# HELP sr_http_requests_total HTTP requests answered.\n"
		"# TYPE sr_http_requests_total counter\n");
	for (unsigned s = 0; s < m->nslots; s++) {
		const char *route, *method;
		slot_labels(m, s, &route, &method);
		for (unsigned k = 0; k < NSTATUS; k++) {
			uint64_t v = 0;
			for (unsigned th = 0; th < m->nthreads; th++)
				v += ld(&m->threads[th].slots[s].count[k]);
			if (v == 0)
				continue;
			char st[8];
			if (k + 1 < NSTATUS)
				snprintf(st, sizeof st, "%d", statuses[k]);
			else
				snprintf(st, sizeof st, "other");
			put(&t,
			    "sr_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} "
			    "%llu\n",
			    route, method, st, (unsigned long long)v);
		}
	}

	put(&t,
	    "# HELP sr_http_request_duration_seconds Time from first request byte to response.\n"
	    "# TYPE sr_http_request_duration_seconds histogram\n");
	for (unsigned s = 0; s < m->nslots; s++) {
		uint64_t total = 0, sum_us = 0, b[NBUCKETS] = {0};
		for (unsigned th = 0; th < m->nthreads; th++) {
			const struct slot_stats *st = &m->threads[th].slots[s];
			total += ld(&st->total);
			sum_us += ld(&st->sum_us);
			for (unsigned k = 0; k < NBUCKETS; k++)
				b[k] += ld(&st->bucket[k]);
		}
		/* Always list declared routes so dashboards see them at zero;
		 * an idle route gets only its +Inf bucket, sum and count (a
		 * valid histogram), which keeps /metrics small however many
		 * routes the services declare. */
		if (total == 0 && s >= m->nroutes)
			continue;
		const char *route, *method;
		slot_labels(m, s, &route, &method);
		uint64_t cum = 0;
		for (unsigned k = 0; total > 0 && k < NBUCKETS; k++) {
			cum += b[k];
			put(&t,
			    "sr_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le="
			    "\"%g\"} %llu\n",
			    route, method, buckets[k], (unsigned long long)cum);
		}
		put(&t,
		    "sr_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+"
		    "Inf\"} %llu\n"
		    "sr_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n"
		    "sr_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
		    route, method, (unsigned long long)total, route, method, (double)sum_us / 1e6,
		    route, method, (unsigned long long)total);
	}

	put(&t,
	    "# HELP sr_http_open_connections Open client connections.\n"
	    "# TYPE sr_http_open_connections gauge\n"
	    "sr_http_open_connections %ld\n"
	    "# HELP sr_tls_handshakes_total Completed TLS handshakes.\n"
	    "# TYPE sr_tls_handshakes_total counter\n"
	    "sr_tls_handshakes_total %llu\n"
	    "# HELP sr_tls_handshake_failures_total Failed TLS handshakes.\n"
	    "# TYPE sr_tls_handshake_failures_total counter\n"
	    "sr_tls_handshake_failures_total %llu\n"
	    "# HELP sr_worker_queue_depth Jobs waiting for the worker pool.\n"
	    "# TYPE sr_worker_queue_depth gauge\n"
	    "sr_worker_queue_depth %ld\n",
	    sr_metrics_open_connections(m), (unsigned long long)ld(&m->handshakes_ok),
	    (unsigned long long)ld(&m->handshakes_failed), worker_queue_depth);
	*len = t.len;
	return t.p;
}
