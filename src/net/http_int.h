/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_HTTP_INT_H
#define SR_NET_HTTP_INT_H

/*
 * The HTTP/1.1 half of a connection, with no socket in sight: bytes go in
 * (read_space + commit, then process), response bytes come out (out/out_len),
 * and flags say what the transport should do next. server.c drives it over
 * TLS; the unit tests and the fuzz target drive it with plain buffers.
 *
 * One request is handled at a time, in order (pipelining: later requests wait
 * in the read buffer). Parsed values are views into the read buffer, which is
 * compacted only between requests.
 */
#include "net/http.h"
#include "net/router.h"

#include <http_parser.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct sr_metrics;
struct sr_metrics_thread;
struct sr_workers;
struct sr_config;
struct event_base;

struct sr_http_limits {
	size_t request_line_max;
	size_t header_bytes_max;
	size_t header_count_max;
	size_t body_max;
	unsigned long requests_per_connection;
};

/* Shared by every connection of one server; read-only once serving, except
 * the draining flag. */
struct sr_http_env {
	const struct sr_router *router;
	struct sr_http_limits limits;
	struct sr_metrics *metrics; /* may be NULL */
	struct sr_workers *workers; /* may be NULL: sr_http_submit fails */
	const char *service;        /* for log lines */
	atomic_bool draining;       /* answer with Connection: close */
};

/* Fills limits from [limits]. */
void sr_http_limits_from_config(struct sr_http_limits *l, const struct sr_config *cfg);
/* Sets the process-wide http_parser head ceiling above our own limits. */
void sr_http_env_init(struct sr_http_env *env, const struct sr_router *router,
		      const struct sr_http_limits *limits);

enum sr_http_phase {
	SR_HC_IDLE = 0, /* between requests, no byte of the next one yet */
	SR_HC_HEAD,     /* reading a request head */
	SR_HC_BODY,     /* reading a request body */
	SR_HC_WAIT,     /* a handler deferred its answer to the worker pool */
};

struct hdr_off {
	uint32_t name_off, name_len, val_off, val_len;
};

struct arena_block;

struct sr_http_conn {
	struct sr_http_req req; /* the current request (public part) */
	const struct sr_http_env *env;
	struct sr_metrics_thread *mt; /* may be NULL */
	struct event_base *base;      /* for sr_http_submit */
	/* Called after a deferred request has been answered (the transport
	 * should flush and process again), or once an aborted connection may be
	 * freed. */
	void (*kick)(struct sr_http_conn *c);
	char remote_ip[48];

	http_parser parser;
	enum sr_http_phase phase;

	/* Read buffer: [0, msg_start) is done with, [msg_start, in_parsed) has
	 * been parsed for the current request, [in_parsed, in_len) waits. */
	unsigned char *in;
	size_t in_cap, in_len, in_parsed, msg_start;

	/* Write buffer: response bytes awaiting the transport. */
	unsigned char *out;
	size_t out_len, out_cap;

	/* Current message, offsets relative to msg_start. */
	struct hdr_off *hdrs;
	size_t nhdrs, hdrs_cap;
	struct sr_http_header *views;
	size_t views_cap;
	struct sr_http_param params[SR_HTTP_PATH_PARAMS_MAX];
	uint32_t url_off, url_len, query_off;
	uint32_t param_off[SR_HTTP_PATH_PARAMS_MAX];
	uint32_t head_off; /* first header byte */
	uint32_t body_off;
	size_t body_len, body_limit;
	bool method_known, in_value, headers_started, headers_done, msg_complete, has_body;
	bool views_built; /* this message's head was checked and its views point into in */
	bool expect_continue, replied, deferred, is_head;
	int err_status; /* set by a callback before it fails the parse */
	int route_status;
	struct sr_route_match match;
	char rid[SR_HTTP_REQUEST_ID_MAX + 1];
	struct timespec t_start;

	/* Response overrides. */
	const char *csp, *xfo, *cache_control;
	bool xfo_set;
	const char *extra[SR_HTTP_RESPONSE_HEADERS_MAX][2];
	unsigned nextra;

	struct arena_block *arena, *arena_first;

	unsigned long served;
	int reject_status; /* set by the transport: answer this to the first request */
	bool close_after;  /* no more requests: close once out is flushed */
	bool aborted;      /* the transport is gone */
	void (*job_fn)(void *arg);
	void (*done_fn)(struct sr_http_req *req, void *arg);
	void *done_arg;
};

/* Prepares c (zeroed by the caller or not). remote_ip may be NULL. */
void sr_http_conn_init(struct sr_http_conn *c, const struct sr_http_env *env,
		       struct sr_metrics_thread *mt, struct event_base *base,
		       const char *remote_ip);
/* Frees c's buffers (not c itself). */
void sr_http_conn_release(struct sr_http_conn *c);

/* Where the transport may write up to *n input bytes. Returns 0, or
 * SR_E_LIMIT when the buffer is at its ceiling (the conn has then queued an
 * error answer and set close_after). */
int sr_http_conn_read_space(struct sr_http_conn *c, unsigned char **p, size_t *n) SR_WUR;
void sr_http_conn_commit(struct sr_http_conn *c, size_t n);
/* Parses and answers everything it can. */
void sr_http_conn_process(struct sr_http_conn *c);
/* Whether reading more input is useful now (no deferred request, output not
 * backed up, not closing). */
bool sr_http_conn_wants_input(const struct sr_http_conn *c);
/* The transport wrote n bytes of out. */
void sr_http_conn_consume(struct sr_http_conn *c, size_t n);
/* A deadline passed: mid-request answers 408 and closes; returns true if
 * something was queued, false when the connection should just close. */
bool sr_http_conn_timeout(struct sr_http_conn *c);
/* The peer is gone. Returns true when c may be freed now, false when a
 * worker job still refers to it (kick is called once it may be freed). */
bool sr_http_conn_abort(struct sr_http_conn *c);

#endif
