/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_SERVER_H
#define SR_NET_SERVER_H

/*
 * One HTTPS service: [server] threads event loops (libevent, one event_base
 * and one SO_REUSEPORT listener each), TLS from the service's tls_cert and
 * tls_key, the worker pool, /healthz /readyz /metrics, signal handling
 * (SIGTERM/SIGINT drain and stop, SIGHUP reloads certificates).
 *
 * Life cycle (main thread):
 *   srv = sr_server_new(cfg, "platform", listen_override, err, sizeof err);
 *   sr_router_add(sr_server_router(srv), "GET", "/v1/...", handler, data, NULL);
 *   rc = sr_server_run(srv, on_listening, arg);   // blocks until stopped
 *   sr_server_free(srv);
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_config;
struct sr_router;
struct sr_server;
struct sr_workers;

/*
 * Prepares a server for service ("platform" or "vault": the config section
 * holding listen, tls_cert and tls_key). listen_override (may be NULL)
 * replaces [service] listen. cfg is borrowed and must outlive the server.
 * Returns NULL with a message in err for a bad address.
 * /healthz, /readyz and /metrics are already routed.
 */
struct sr_server *sr_server_new(const struct sr_config *cfg, const char *service,
				const char *listen_override, char *err, size_t errlen);
void sr_server_free(struct sr_server *srv);

/* The route table; add routes before sr_server_run. */
struct sr_router *sr_server_router(struct sr_server *srv);

/*
 * Called on the main thread once every loop accepts connections (after the
 * "listening" log line). It may take its time (open the database, run
 * migrations): /healthz answers meanwhile and /readyz says "starting". It
 * calls sr_server_set_ready(srv, true) when the service can take traffic.
 * A non-zero return stops the server, and sr_server_run returns it.
 */
typedef int (*sr_server_started_fn)(struct sr_server *srv, void *arg);

/*
 * Loads the certificate, binds (refusing an address another process already
 * holds), serves until SIGTERM/SIGINT or sr_server_stop, drains, and returns
 * 0. Returns SR_E_IO (address in use, cannot bind), SR_E_CRYPTO (bad
 * certificate), or what started returned; each failure is logged with a
 * clear message first. started may be NULL (ready at once).
 */
int sr_server_run(struct sr_server *srv, sr_server_started_fn started, void *arg) SR_WUR;

/* /readyz answers 200 once ready is true. Any thread. */
void sr_server_set_ready(struct sr_server *srv, bool ready);

/*
 * The word /readyz shows while not ready ({"status":"sealed"}), instead of
 * "starting"; NULL restores "starting". status must be a static string of
 * at most 64 plain characters (it is not escaped). Any thread.
 */
void sr_server_set_waiting_status(struct sr_server *srv, const char *status);

/*
 * Adds a service's own metrics to GET /metrics: fn returns freshly
 * allocated Prometheus text (or NULL) that is appended to the server's own.
 * Called on event-loop threads, so fn must be thread-safe. Set before
 * sr_server_run.
 */
typedef char *(*sr_server_metrics_fn)(void *arg, size_t *len);
void sr_server_set_metrics_fn(struct sr_server *srv, sr_server_metrics_fn fn, void *arg);
/* Begins a drain as SIGTERM does. Any thread. */
void sr_server_stop(struct sr_server *srv);
/* The worker pool, for code that submits outside a request. Valid during run. */
struct sr_workers *sr_server_workers(struct sr_server *srv);
/* "host:port" actually bound (after run has bound), else the configured one. */
const char *sr_server_address(const struct sr_server *srv);

#endif
