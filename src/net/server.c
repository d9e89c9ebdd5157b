/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTPS transport: listeners, TLS over non-blocking sockets driven by
 * libevent (raw SSL_read/SSL_write, no bufferevents, so each response leaves
 * as one SSL_write and one TLS record when it fits), connection deadlines,
 * per-address and global connection limits, graceful drain, and certificate
 * reload.
 *
 * Threads: the main thread runs a small event_base for signals and the
 * ticket-key timer; each of [server] threads loop threads owns an event_base,
 * its listener, and every connection it accepted (no connection is touched by
 * another thread). The main thread talks to loops only by activating their
 * wake event (libevent built with pthread locking) after updating shared,
 * mutex-protected state (the current SSL_CTX) or atomics (drain flag).
 *
 * Secrets: the private key is held only by OpenSSL inside SSL_CTX; ticket keys
 * live in tls.c.
 */
#include "net/server.h"
#include "base/assert.h"
#include "base/config.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http_int.h"
#include "net/metrics.h"
#include "net/router.h"
#include "net/tls.h"
#include "net/workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MS        2000 /* how long to drain a closing client's input */
#define DRIVE_ROUNDS     32   /* reads per wake-up before yielding to others */
#define ACCEPTS_PER_WAKE 64
#define IP_BUCKETS       4096
#define LISTEN_BACKLOG   4096

enum srv_state { ST_STARTING = 0, ST_READY, ST_DRAINING };
enum conn_state { CS_HANDSHAKE, CS_OPEN, CS_LINGER };

struct loop;

struct conn {
	struct sr_http_conn http;
	struct loop *loop;
	struct conn *prev, *next;
	int fd;
	SSL *ssl;
	struct event rev, wev, tev;
	enum conn_state state;
	bool rev_on, torn_down, ip_counted;
	size_t wpending; /* length of an SSL_write that must be retried as is */
	enum sr_http_phase last_phase;
	uint64_t deadline, timer_at; /* monotonic ms; timer_at 0 = not armed */
	struct sockaddr_storage peer;
};

struct loop {
	struct sr_server *srv;
	unsigned idx;
	pthread_t thread;
	bool thread_started;
	struct event_base *base;
	int lfd;
	struct event *accept_ev, *wake_ev, *drain_ev;
	SSL_CTX *ctx;
	unsigned ctx_gen;
	struct conn *conns;
	unsigned long nconns;
	bool draining;
	struct sr_metrics_thread *mt;
};

struct ip_entry {
	struct ip_entry *next;
	unsigned char addr[16];
	unsigned len;
	long count;
};

struct sr_server {
	const struct sr_config *cfg;
	sr_server_metrics_fn extra_metrics;
	void *extra_metrics_arg;
	char *service;
	char host[256];
	unsigned port;
	char address[300];
	char *cert_path, *key_path;
	struct sr_router *router;
	struct sr_http_env env;
	struct sr_metrics *metrics;
	struct sr_workers *workers;
	struct event_base *main_base;
	struct event *sig_term, *sig_int, *sig_hup, *ticket_ev;
	struct loop *loops;
	unsigned nloops;
	_Atomic int state;
	_Atomic(const char *) waiting_status; /* /readyz word while starting; NULL: "starting" */
	atomic_bool stopping;

	pthread_mutex_t ctx_lock;
	SSL_CTX *ctx;
	unsigned ctx_gen;

	pthread_mutex_t ip_lock;
	struct ip_entry *ip_table[IP_BUCKETS];
	atomic_long nconns;
	long conns_max, per_ip_max;
	uint64_t header_timeout, body_timeout, idle_timeout, drain_timeout;
};

static void conn_drive(struct conn *k);
static void conn_close(struct conn *k);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- per-address limit */

static unsigned peer_key(const struct sockaddr_storage *ss, unsigned char out[16])
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		memcpy(out, &a->sin6_addr, 16);
		return 16;
	}
	const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
	memcpy(out, &a->sin_addr, 4);
	return 4;
}

static unsigned ip_hash(const unsigned char *a, unsigned len)
{
	uint32_t h = 2166136261u;
	for (unsigned i = 0; i < len; i++)
		h = (h ^ a[i]) * 16777619u;
	return h % IP_BUCKETS;
}

/* Adds one connection for the peer's address; returns the new count. */
static long ip_acquire(struct sr_server *srv, const struct sockaddr_storage *ss)
{
	unsigned char a[16];
	unsigned len = peer_key(ss, a);
	unsigned h = ip_hash(a, len);
	pthread_mutex_lock(&srv->ip_lock);
	struct ip_entry *e = srv->ip_table[h];
	while (e != NULL && !(e->len == len &&
			      memcmp(e->addr, a, len) == 0)) /* banned-ok: public address bytes */
		e = e->next;
	if (e == NULL) {
		e = sr_xcalloc(1, sizeof *e);
		memcpy(e->addr, a, len);
		e->len = len;
		e->next = srv->ip_table[h];
		srv->ip_table[h] = e;
	}
	long n = ++e->count;
	pthread_mutex_unlock(&srv->ip_lock);
	return n;
}

static void ip_release(struct sr_server *srv, const struct sockaddr_storage *ss)
{
	unsigned char a[16];
	unsigned len = peer_key(ss, a);
	unsigned h = ip_hash(a, len);
	pthread_mutex_lock(&srv->ip_lock);
	struct ip_entry **pp = &srv->ip_table[h];
	while (*pp != NULL &&
	       !((*pp)->len == len &&
		 memcmp((*pp)->addr, a, len) == 0)) /* banned-ok: public address bytes */
		pp = &(*pp)->next;
	if (*pp != NULL && --(*pp)->count <= 0) {
		struct ip_entry *dead = *pp;
		*pp = dead->next;
		free(dead);
	}
	pthread_mutex_unlock(&srv->ip_lock);
}

/* ---------------------------------------------------------------- deadlines */

static void timer_cb(evutil_socket_t fd, short what, void *arg);

static void set_deadline(struct conn *k, uint64_t at)
{
	k->deadline = at;
	/* Only move the timer earlier: a later deadline is honoured when the
	 * armed timer fires and finds time left. Saves a heap update on
	 * almost every request of a keep-alive connection. */
	if (k->timer_at != 0 && k->timer_at <= at)
		return;
	uint64_t now = now_ms();
	uint64_t ms = at > now ? at - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(&k->tev, &tv);
	k->timer_at = at;
}

/* Picks the deadline for what the connection is waiting for now. */
static void update_deadline(struct conn *k)
{
	if (k->state != CS_OPEN)
		return;
	struct sr_server *srv = k->loop->srv;
	enum sr_http_phase ph = k->http.phase;
	if (ph == k->last_phase && k->wpending == 0)
		return;
	k->last_phase = ph;
	uint64_t now = now_ms();
	if (k->wpending != 0)
		set_deadline(k, now + srv->idle_timeout);
	else if (ph == SR_HC_IDLE)
		set_deadline(k, now + srv->idle_timeout);
	else if (ph == SR_HC_HEAD)
		set_deadline(k, now + srv->header_timeout);
	else if (ph == SR_HC_BODY)
		set_deadline(k, now + srv->body_timeout);
	else
		k->deadline = UINT64_MAX; /* a worker job: drain_timeout bounds it */
}

/* ---------------------------------------------------------------- connections */

static void conn_free(struct conn *k)
{
	struct loop *l = k->loop;
	sr_http_conn_release(&k->http);
	free(k);
	if (l->draining && l->nconns == 0)
		event_base_loopexit(l->base, NULL);
}

/* Releases the socket side; the memory goes once no worker job needs it. */
static void conn_close(struct conn *k)
{
	if (!k->torn_down) {
		struct loop *l = k->loop;
		struct sr_server *srv = l->srv;
		k->torn_down = true;
		event_del(&k->rev);
		event_del(&k->wev);
		event_del(&k->tev);
		SSL_free(k->ssl);
		k->ssl = NULL;
		close(k->fd);
		k->fd = -1;
		if (k->ip_counted)
			ip_release(srv, &k->peer);
		atomic_fetch_sub(&srv->nconns, 1);
		sr_metrics_conn_closed(srv->metrics);
		if (k->prev)
			k->prev->next = k->next;
		else
			l->conns = k->next;
		if (k->next)
			k->next->prev = k->prev;
		l->nconns--;
	}
	if (sr_http_conn_abort(&k->http))
		conn_free(k);
}

/* After a defined last answer: close_notify, stop sending, then read and
 * discard what the client still sends for a moment, so that closing with
 * unread input does not reset the connection before the client has read
 * the answer. */
static void conn_linger(struct conn *k)
{
	k->state = CS_LINGER;
	/* One attempt; a client that never reads gets a plain close later. */
	int r = SSL_shutdown(k->ssl);
	(void)r;
	ERR_clear_error();
	shutdown(k->fd, SHUT_WR);
	event_del(&k->wev);
	if (!k->rev_on) {
		event_add(&k->rev, NULL);
		k->rev_on = true;
	}
	k->timer_at = 0;
	event_del(&k->tev);
	set_deadline(k, now_ms() + LINGER_MS);
}

static void linger_read(struct conn *k)
{
	char sink[4096];
	for (;;) {
		ssize_t n = read(k->fd, sink, sizeof sink);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(k);
		return;
	}
}

static void want_read(struct conn *k, bool on)
{
	if (on && !k->rev_on) {
		event_add(&k->rev, NULL);
		k->rev_on = true;
	} else if (!on && k->rev_on) {
		event_del(&k->rev);
		k->rev_on = false;
	}
}

/* Returns 1 when everything was written, 0 when blocked, -1 when closed. */
static int conn_flush(struct conn *k)
{
	while (k->http.out_len > 0) {
		size_t len = k->wpending ? k->wpending : k->http.out_len;
		size_t w = 0;
		if (SSL_write_ex(k->ssl, k->http.out, len, &w) == 1) {
			k->wpending = 0;
			sr_http_conn_consume(&k->http, w);
			continue;
		}
		switch (SSL_get_error(k->ssl, 0)) {
		case SSL_ERROR_WANT_WRITE:
			k->wpending = len;
			event_add(&k->wev, NULL);
			return 0;
		case SSL_ERROR_WANT_READ:
			k->wpending = len;
			want_read(k, true);
			return 0;
		default:
			ERR_clear_error();
			conn_close(k);
			return -1;
		}
	}
	return 1;
}

/* Advances the handshake: 1 done, 0 still going, -1 failed and closed (k
 * may be freed: the caller must not touch it again). */
static int conn_handshake(struct conn *k)
{
	struct sr_server *srv = k->loop->srv;
	int r = SSL_do_handshake(k->ssl);
	if (r == 1) {
		k->state = CS_OPEN;
		sr_metrics_handshake(srv->metrics, true);
		/* The first request gets the head deadline from the start. */
		k->last_phase = SR_HC_HEAD;
		k->timer_at = 0;
		event_del(&k->tev);
		set_deadline(k, now_ms() + srv->header_timeout);
		return 1;
	}
	switch (SSL_get_error(k->ssl, r)) {
	case SSL_ERROR_WANT_READ: want_read(k, true); return 0;
	case SSL_ERROR_WANT_WRITE: event_add(&k->wev, NULL); return 0;
	default:
		ERR_clear_error();
		sr_metrics_handshake(srv->metrics, false);
		conn_close(k);
		return -1;
	}
}

static void conn_drive(struct conn *k)
{
	if (k->state == CS_LINGER) {
		linger_read(k);
		return;
	}
	if (k->state == CS_HANDSHAKE) {
		if (conn_handshake(k) <= 0)
			return;
	}
	struct loop *l = k->loop;
	for (int round = 0;; round++) {
		int f = conn_flush(k);
		if (f < 0)
			return;
		if (f == 0)
			break;
		if (k->http.close_after && k->http.phase != SR_HC_WAIT) {
			conn_linger(k);
			return;
		}
		if (!sr_http_conn_wants_input(&k->http)) {
			want_read(k, false);
			break;
		}
		want_read(k, true);
		if (round >= DRIVE_ROUNDS) {
			/* Let other connections run; come back through the loop. */
			event_active(&k->rev, EV_READ, 0);
			break;
		}
		/* Requests already read but held back while the output was
		 * over its high-water mark: answer them before reading more;
		 * the socket may have nothing new to wake us for them. */
		if (k->http.in_parsed < k->http.in_len) {
			sr_http_conn_process(&k->http);
			continue;
		}
		unsigned char *p;
		size_t n;
		if (sr_http_conn_read_space(&k->http, &p, &n) != 0)
			continue; /* an error answer was queued */
		size_t got = 0;
		if (SSL_read_ex(k->ssl, p, n, &got) == 1) {
			sr_http_conn_commit(&k->http, got);
			sr_http_conn_process(&k->http);
			continue;
		}
		int e = SSL_get_error(k->ssl, 0);
		if (e == SSL_ERROR_WANT_READ) {
			/* Draining: a connection with nothing left to answer and
			 * nothing more to read closes now. Requests the client
			 * pipelined before the signal are read and answered
			 * first, even those still in the socket buffer. */
			if (l->draining && k->http.phase == SR_HC_IDLE &&
			    k->http.in_parsed == k->http.in_len) {
				conn_linger(k);
				return;
			}
			break;
		}
		if (e == SSL_ERROR_WANT_WRITE) {
			event_add(&k->wev, NULL);
			break;
		}
		/* close_notify, EOF or a TLS error: the client is gone. */
		ERR_clear_error();
		conn_close(k);
		return;
	}
	update_deadline(k);
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_drive(arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *k = arg;
	k->timer_at = 0;
	uint64_t now = now_ms();
	if (k->deadline == UINT64_MAX)
		return;
	if (now < k->deadline) {
		set_deadline(k, k->deadline);
		return;
	}
	if (k->state != CS_OPEN || k->wpending != 0 || k->http.out_len != 0) {
		conn_close(k);
		return;
	}
	if (sr_http_conn_timeout(&k->http)) {
		conn_drive(k); /* sends the 408 and closes */
		return;
	}
	conn_linger(k); /* idle keep-alive: close without an answer */
}

static void conn_kick(struct sr_http_conn *hc)
{
	struct conn *k = (struct conn *)((char *)hc - offsetof(struct conn, http));
	if (k->torn_down) {
		conn_free(k);
		return;
	}
	sr_http_conn_process(&k->http);
	conn_drive(k);
}

static void loop_take_ctx(struct loop *l)
{
	struct sr_server *srv = l->srv;
	pthread_mutex_lock(&srv->ctx_lock);
	if (l->ctx_gen != srv->ctx_gen || l->ctx == NULL) {
		SSL_CTX_up_ref(srv->ctx);
		SSL_CTX_free(l->ctx);
		l->ctx = srv->ctx;
		l->ctx_gen = srv->ctx_gen;
	}
	pthread_mutex_unlock(&srv->ctx_lock);
}

static void accept_one(struct loop *l, int fd, const struct sockaddr_storage *ss)
{
	struct sr_server *srv = l->srv;
	if (atomic_fetch_add(&srv->nconns, 1) >= srv->conns_max) {
		atomic_fetch_sub(&srv->nconns, 1);
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	struct conn *k = sr_xcalloc(1, sizeof *k);
	k->loop = l;
	k->fd = fd;
	k->peer = *ss;
	char ip[INET6_ADDRSTRLEN] = "-";
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
	sr_http_conn_init(&k->http, &srv->env, l->mt, l->base, ip);
	k->http.kick = conn_kick;
	k->ip_counted = true;
	if (ip_acquire(srv, ss) > srv->per_ip_max)
		k->http.reject_status = 429;

	k->ssl = SSL_new(l->ctx);
	SR_ASSERT(k->ssl != NULL);
	SSL_set_fd(k->ssl, fd);
	SSL_set_accept_state(k->ssl);
	event_assign(&k->rev, l->base, fd, EV_READ | EV_PERSIST, io_cb, k);
	event_assign(&k->wev, l->base, fd, EV_WRITE, io_cb, k);
	evtimer_assign(&k->tev, l->base, timer_cb, k);
	k->state = CS_HANDSHAKE;
	k->next = l->conns;
	if (l->conns)
		l->conns->prev = k;
	l->conns = k;
	l->nconns++;
	sr_metrics_conn_opened(srv->metrics);
	set_deadline(k, now_ms() + srv->header_timeout);
	/* TCP_DEFER_ACCEPT: the ClientHello is usually waiting already. */
	conn_drive(k);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	struct loop *l = arg;
	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4((int)lfd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				sr_log(SR_LOG_WARN, "accept failed",
				       SR_LS("service", l->srv->service),
				       SR_LS("error", strerror(errno)));
			return;
		}
		accept_one(l, fd, &ss);
	}
}

/* ---------------------------------------------------------------- loops */

static void drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct loop *l = arg;
	event_base_loopbreak(l->base);
}

static void loop_begin_drain(struct loop *l)
{
	if (l->draining)
		return;
	l->draining = true;
	if (l->accept_ev) {
		event_free(l->accept_ev);
		l->accept_ev = NULL;
	}
	if (l->lfd >= 0) {
		close(l->lfd);
		l->lfd = -1;
	}
	uint64_t ms = l->srv->drain_timeout;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	l->drain_ev = evtimer_new(l->base, drain_timeout_cb, l);
	evtimer_add(l->drain_ev, &tv);
	/* Idle keep-alive connections go now, busy ones once they are idle. A
	 * connection that looks idle may still have pipelined requests in the
	 * socket buffer: drive it, which reads and answers them and closes it
	 * only when there is nothing more to read (see conn_drive). */
	struct conn *k = l->conns;
	while (k != NULL) {
		struct conn *next = k->next;
		if (k->state == CS_HANDSHAKE) {
			/* A client whose handshake is complete on its side may
			 * already have sent requests: finish it and answer
			 * them. One that has sent nothing yet is closed. */
			int h = conn_handshake(k);
			if (h == 0)
				conn_close(k);
			else if (h == 1)
				conn_drive(k);
		} else if (k->state == CS_OPEN && k->http.phase == SR_HC_IDLE &&
			   k->http.out_len == 0 && k->http.in_parsed == k->http.in_len)
			conn_drive(k);
		k = next;
	}
	if (l->nconns == 0)
		event_base_loopexit(l->base, NULL);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct loop *l = arg;
	loop_take_ctx(l);
	if (atomic_load(&l->srv->stopping))
		loop_begin_drain(l);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	event_base_dispatch(l->base);
	return NULL;
}

static void wake_all(struct sr_server *srv)
{
	for (unsigned i = 0; i < srv->nloops; i++)
		if (srv->loops[i].wake_ev)
			event_active(srv->loops[i].wake_ev, EV_READ, 0);
}

/* ---------------------------------------------------------------- built-in routes */

static void h_healthz(struct sr_http_req *req, void *data)
{
	(void)data;
	static const char body[] = "{\"status\":\"ok\"}";
	sr_http_reply(req, 200, "application/json", body, sizeof body - 1);
}

static void h_readyz(struct sr_http_req *req, void *data)
{
	struct sr_server *srv = data;
	int st = atomic_load(&srv->state);
	if (st == ST_READY) {
		static const char body[] = "{\"status\":\"ready\"}";
		sr_http_reply(req, 200, "application/json", body, sizeof body - 1);
	} else if (st == ST_DRAINING) {
		static const char body[] = "{\"status\":\"draining\"}";
		sr_http_reply(req, 503, "application/json", body, sizeof body - 1);
	} else {
		const char *word = atomic_load(&srv->waiting_status);
		char body[96];
		int n = snprintf(body, sizeof body, "{\"status\":\"%s\"}",
				 word ? word : "starting");
		sr_http_reply(req, 503, "application/json", body, (size_t)n);
	}
}

static void h_metrics(struct sr_http_req *req, void *data)
{
	struct sr_server *srv = data;
	size_t len = 0;
	char *text = sr_metrics_render(srv->metrics, sr_workers_depth(srv->workers), &len);
	size_t elen = 0;
	char *extra = srv->extra_metrics ? srv->extra_metrics(srv->extra_metrics_arg, &elen) : NULL;
	if (extra != NULL && elen > 0) {
		text = sr_xrealloc(text, len + elen);
		memcpy(text + len, extra, elen);
		len += elen;
	}
	free(extra);
	sr_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* ---------------------------------------------------------------- public */

struct sr_server *sr_server_new(const struct sr_config *cfg, const char *service,
				const char *listen_override, char *err, size_t errlen)
{
	struct sr_server *srv = sr_xcalloc(1, sizeof *srv);
	srv->cfg = cfg;
	srv->service = sr_xstrdup(service);
	const char *listen =
		listen_override ? listen_override : sr_config_str(cfg, service, "listen");
	if (sr_config_split_hostport(listen, srv->host, sizeof srv->host, &srv->port) != 0) {
		snprintf(err, errlen, "bad listen address '%s' (want host:port)", listen);
		goto fail;
	}
	snprintf(srv->address, sizeof srv->address, "%s", listen);
	srv->cert_path = sr_config_path(cfg, service, "tls_cert");
	srv->key_path = sr_config_path(cfg, service, "tls_key");
	if (srv->cert_path == NULL || srv->key_path == NULL) {
		snprintf(err, errlen, "[%s] tls_cert and tls_key are required", service);
		goto fail;
	}
	srv->router = sr_router_new();
	pthread_mutex_init(&srv->ctx_lock, NULL);
	pthread_mutex_init(&srv->ip_lock, NULL);
	SR_ASSERT(sr_router_add(srv->router, "GET", "/healthz", h_healthz, srv, NULL) == 0);
	SR_ASSERT(sr_router_add(srv->router, "GET", "/readyz", h_readyz, srv, NULL) == 0);
	SR_ASSERT(sr_router_add(srv->router, "GET", "/metrics", h_metrics, srv, NULL) == 0);
	return srv;
fail:
	sr_server_free(srv);
	return NULL;
}

void sr_server_free(struct sr_server *srv)
{
	if (srv == NULL)
		return;
	sr_router_free(srv->router);
	free(srv->cert_path);
	free(srv->key_path);
	free(srv->service);
	for (unsigned i = 0; i < IP_BUCKETS; i++) {
		struct ip_entry *e = srv->ip_table[i];
		while (e != NULL) {
			struct ip_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	SSL_CTX_free(srv->ctx);
	free(srv);
}

struct sr_router *sr_server_router(struct sr_server *srv)
{
	return srv->router;
}

void sr_server_set_metrics_fn(struct sr_server *srv, sr_server_metrics_fn fn, void *arg)
{
	srv->extra_metrics = fn;
	srv->extra_metrics_arg = arg;
}

void sr_server_set_ready(struct sr_server *srv, bool ready)
{
	int expect = ready ? ST_STARTING : ST_READY;
	atomic_compare_exchange_strong(&srv->state, &expect, ready ? ST_READY : ST_STARTING);
}

void sr_server_set_waiting_status(struct sr_server *srv, const char *status)
{
	atomic_store(&srv->waiting_status, status);
}

struct sr_workers *sr_server_workers(struct sr_server *srv)
{
	return srv->workers;
}

const char *sr_server_address(const struct sr_server *srv)
{
	return srv->address;
}

void sr_server_stop(struct sr_server *srv)
{
	atomic_store(&srv->state, ST_DRAINING);
	if (atomic_exchange(&srv->stopping, true))
		return;
	atomic_store(&srv->env.draining, true);
	wake_all(srv);
	if (srv->main_base)
		event_base_loopexit(srv->main_base, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct sr_server *srv = arg;
	if (sig == SIGHUP) {
		char err[512];
		SSL_CTX *fresh = NULL;
		if (sr_tls_ctx_new(srv->cert_path, srv->key_path, &fresh, err, sizeof err) != 0) {
			sr_log(SR_LOG_ERROR, "certificate reload failed; keeping the current one",
			       SR_LS("service", srv->service), SR_LS("error", err));
			return;
		}
		pthread_mutex_lock(&srv->ctx_lock);
		SSL_CTX_free(srv->ctx);
		srv->ctx = fresh;
		srv->ctx_gen++;
		pthread_mutex_unlock(&srv->ctx_lock);
		wake_all(srv);
		sr_log(SR_LOG_INFO, "certificates reloaded", SR_LS("service", srv->service));
		return;
	}
	sr_log(SR_LOG_INFO, "stopping", SR_LS("service", srv->service),
	       SR_LS("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
	sr_server_stop(srv);
}

static void ticket_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sr_server *srv = arg;
	if (sr_tls_tickets_rotate() != 0)
		sr_log(SR_LOG_ERROR, "ticket key rotation failed", SR_LS("service", srv->service));
}

static int make_socket(const struct addrinfo *ai, bool reuseport, char *err, size_t errlen)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Binds one SO_REUSEPORT listener per loop. SO_REUSEPORT would let us join a
 * port another process (same user) already serves, splitting its traffic
 * silently; so first bind a probe without it, which fails if anyone holds
 * the port, and learn the real port when 0 was asked for. */
static int bind_listeners(struct sr_server *srv, char *err, size_t errlen)
{
	int rc = SR_E_IO;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%u", srv->port);
	int gai = getaddrinfo(srv->host[0] ? srv->host : NULL, port, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "cannot resolve %.280s: %.200s", srv->address,
			 gai_strerror(gai));
		goto out;
	}
	char why[256];
	int probe = make_socket(res, false, why, sizeof why);
	if (probe < 0) {
		snprintf(err, errlen, "cannot listen on %.280s: %.200s", srv->address, why);
		goto out;
	}
	if (listen(probe, 1) != 0) {
		snprintf(err, errlen, "cannot listen on %.280s: %.200s", srv->address,
			 strerror(errno));
		close(probe);
		goto out;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(probe, (struct sockaddr *)&ss, &sl);
	close(probe);
	unsigned real = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						       : ((struct sockaddr_in *)&ss)->sin_port);
	if (res->ai_family == AF_INET6)
		((struct sockaddr_in6 *)res->ai_addr)->sin6_port = htons((uint16_t)real);
	else
		((struct sockaddr_in *)res->ai_addr)->sin_port = htons((uint16_t)real);
	srv->port = real;
	if (res->ai_family == AF_INET6)
		snprintf(srv->address, sizeof srv->address, "[%s]:%u", srv->host, real);
	else
		snprintf(srv->address, sizeof srv->address, "%s:%u", srv->host, real);

	for (unsigned i = 0; i < srv->nloops; i++) {
		int fd = make_socket(res, true, why, sizeof why);
		if (fd < 0 || listen(fd, LISTEN_BACKLOG) != 0) {
			snprintf(err, errlen, "cannot listen on %.280s: %.200s", srv->address,
				 fd < 0 ? why : strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		int defer = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
		srv->loops[i].lfd = fd;
	}
	rc = 0;
out:
	if (res)
		freeaddrinfo(res);
	return rc;
}

int sr_server_run(struct sr_server *srv, sr_server_started_fn started, void *arg)
{
	int rc = 0;
	char err[512] = "";
	const struct sr_config *cfg = srv->cfg;

	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();

	srv->nloops = (unsigned)sr_config_int(cfg, "server", "threads");
	srv->conns_max = (long)sr_config_int(cfg, "limits", "connections_max");
	srv->per_ip_max = (long)sr_config_int(cfg, "limits", "connections_per_ip");
	srv->header_timeout = (uint64_t)sr_config_int(cfg, "limits", "header_timeout_ms");
	srv->body_timeout = (uint64_t)sr_config_int(cfg, "limits", "body_timeout_ms");
	srv->idle_timeout = (uint64_t)sr_config_int(cfg, "limits", "idle_timeout_ms");
	srv->drain_timeout = (uint64_t)sr_config_int(cfg, "server", "drain_timeout_ms");

	struct sr_http_limits limits;
	sr_http_limits_from_config(&limits, cfg);
	sr_http_env_init(&srv->env, srv->router, &limits);
	srv->env.service = srv->service;
	srv->metrics = sr_metrics_new(srv->router, srv->nloops);
	srv->env.metrics = srv->metrics;
	/* Twice the cores by default: a worker blocked in a database commit
	 * (fsync) leaves its core to another one that hashes or signs. */
	unsigned nworkers = (unsigned)sr_config_int(cfg, "server", "workers");
	if (nworkers == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		nworkers = 2 * (unsigned)(cpus > 0 ? cpus : 1);
	}
	srv->workers = sr_workers_new(nworkers,
				      (unsigned)sr_config_int(cfg, "server", "worker_queue_max"));
	srv->env.workers = srv->workers;

	srv->loops = sr_xcalloc(srv->nloops, sizeof *srv->loops);
	for (unsigned i = 0; i < srv->nloops; i++)
		srv->loops[i].lfd = -1;

	sr_log(SR_LOG_INFO, "starting", SR_LS("service", srv->service),
	       SR_LS("config", sr_config_file(cfg)), SR_LI("threads", srv->nloops));

	if (sr_tls_tickets_init() != 0) {
		snprintf(err, sizeof err, "cannot create TLS ticket keys");
		rc = SR_E_CRYPTO;
		goto out;
	}
	rc = sr_tls_ctx_new(srv->cert_path, srv->key_path, &srv->ctx, err, sizeof err);
	if (rc != 0)
		goto out;
	rc = bind_listeners(srv, err, sizeof err);
	if (rc != 0)
		goto out;

	srv->main_base = event_base_new();
	SR_ASSERT(srv->main_base != NULL);
	srv->sig_term = evsignal_new(srv->main_base, SIGTERM, signal_cb, srv);
	srv->sig_int = evsignal_new(srv->main_base, SIGINT, signal_cb, srv);
	srv->sig_hup = evsignal_new(srv->main_base, SIGHUP, signal_cb, srv);
	evsignal_add(srv->sig_term, NULL);
	evsignal_add(srv->sig_int, NULL);
	evsignal_add(srv->sig_hup, NULL);
	srv->ticket_ev = event_new(srv->main_base, -1, EV_PERSIST, ticket_cb, srv);
	struct timeval rot = {.tv_sec = (time_t)sr_config_int(cfg, "tls", "ticket_key_rotation_s")};
	event_add(srv->ticket_ev, &rot);

	for (unsigned i = 0; i < srv->nloops; i++) {
		struct loop *l = &srv->loops[i];
		l->srv = srv;
		l->idx = i;
		l->base = event_base_new();
		SR_ASSERT(l->base != NULL);
		l->mt = sr_metrics_thread(srv->metrics, i);
		loop_take_ctx(l);
		l->accept_ev = event_new(l->base, l->lfd, EV_READ | EV_PERSIST, accept_cb, l);
		event_add(l->accept_ev, NULL);
		l->wake_ev = event_new(l->base, -1, 0, wake_cb, l);
		if (sr_workers_attach(srv->workers, l->base) != 0) {
			snprintf(err, sizeof err, "cannot attach worker pool");
			rc = SR_E_INTERNAL;
			goto out;
		}
	}
	for (unsigned i = 0; i < srv->nloops; i++) {
		if (pthread_create(&srv->loops[i].thread, NULL, loop_main, &srv->loops[i]) != 0) {
			snprintf(err, sizeof err, "cannot start event-loop thread");
			rc = SR_E_INTERNAL;
			goto out;
		}
		srv->loops[i].thread_started = true;
	}
	sr_log(SR_LOG_INFO, "listening", SR_LS("service", srv->service),
	       SR_LS("address", srv->address));

	if (started != NULL) {
		rc = started(srv, arg);
		if (rc != 0) {
			snprintf(err, sizeof err, "start-up failed: %s", sr_strerror(rc));
			sr_server_stop(srv);
			goto out;
		}
	} else {
		sr_server_set_ready(srv, true);
	}
	if (!atomic_load(&srv->stopping))
		event_base_dispatch(srv->main_base);
out:
	if (srv->loops != NULL) {
		if (!atomic_load(&srv->stopping)) {
			atomic_store(&srv->stopping, true);
			atomic_store(&srv->env.draining, true);
		}
		wake_all(srv);
		for (unsigned i = 0; i < srv->nloops; i++)
			if (srv->loops[i].thread_started)
				pthread_join(srv->loops[i].thread, NULL);
	}
	/* Loops are stopped: no done callback can run any more. */
	sr_workers_free(srv->workers);
	srv->workers = NULL;
	for (unsigned i = 0; srv->loops != NULL && i < srv->nloops; i++) {
		struct loop *l = &srv->loops[i];
		while (l->conns != NULL) {
			struct conn *k = l->conns;
			k->http.phase = SR_HC_IDLE; /* any worker job is gone */
			l->draining = false;
			conn_close(k);
		}
		if (l->accept_ev)
			event_free(l->accept_ev);
		if (l->wake_ev)
			event_free(l->wake_ev);
		if (l->drain_ev)
			event_free(l->drain_ev);
		if (l->lfd >= 0)
			close(l->lfd);
		SSL_CTX_free(l->ctx);
		if (l->base)
			event_base_free(l->base);
	}
	free(srv->loops);
	srv->loops = NULL;
	if (srv->sig_term)
		event_free(srv->sig_term);
	if (srv->sig_int)
		event_free(srv->sig_int);
	if (srv->sig_hup)
		event_free(srv->sig_hup);
	if (srv->ticket_ev)
		event_free(srv->ticket_ev);
	if (srv->main_base)
		event_base_free(srv->main_base);
	srv->main_base = NULL;
	sr_metrics_free(srv->metrics);
	srv->metrics = NULL;
	sr_tls_tickets_free();
	if (rc != 0)
		sr_log(SR_LOG_ERROR, "cannot start", SR_LS("service", srv->service),
		       SR_LS("error", err));
	else
		sr_log(SR_LOG_INFO, "stopped", SR_LS("service", srv->service));
	return rc;
}
