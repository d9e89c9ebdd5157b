/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Worker pool: one mutex-protected FIFO feeding N threads, and per event_base
 * a "home" (a completion list plus an eventfd registered on that base) to
 * bring done callbacks back to the loop that asked. The queue is bounded so a
 * burst of expensive requests turns into fast 503s instead of unbounded
 * memory and latency.
 */
#include "net/workers.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Nice value of worker threads relative to the process (see worker_main). */
#define SR_WORKER_NICE 4
#include "base/assert.h"
#include "base/mem.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define HOMES_MAX 64

struct job {
	struct job *next;
	sr_job_fn job, done;
	void *arg;
	struct home *home;
};

struct home {
	struct event_base *base;
	struct event *ev;
	int efd;
	pthread_mutex_t lock;
	struct job *head, *tail; /* completed, awaiting done */
};

struct sr_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	_Atomic long depth;
	long queue_max;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
	struct home homes[HOMES_MAX];
	_Atomic unsigned nhomes;
	pthread_mutex_t homes_lock;
};

static void *worker_main(void *arg)
{
	struct sr_workers *w = arg;
	/* Workers run the CPU-heavy jobs (Argon2id, RSA) that may keep every
	 * core busy; at a lower priority than the event-loop threads, a
	 * saturated pool does not stretch the latency of cheap requests
	 * (/healthz, reads) answered on the loops. Linux applies the nice
	 * value per thread; failure only loses the preference. */
	(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SR_WORKER_NICE);
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stopping) {
			pthread_mutex_unlock(&w->lock);
			return NULL;
		}
		struct job *j = w->head;
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		atomic_fetch_sub(&w->depth, 1);
		pthread_mutex_unlock(&w->lock);

		j->job(j->arg);

		struct home *h = j->home;
		j->next = NULL;
		pthread_mutex_lock(&h->lock);
		if (h->tail)
			h->tail->next = j;
		else
			h->head = j;
		h->tail = j;
		pthread_mutex_unlock(&h->lock);
		uint64_t one = 1;
		/* The eventfd counter cannot overflow in practice; a failed
		 * write still leaves the job on the list for the next wake. */
		ssize_t wr = write(h->efd, &one, sizeof one);
		(void)wr;
	}
}

struct sr_workers *sr_workers_new(unsigned threads, unsigned queue_max)
{
	struct sr_workers *w = sr_xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_init(&w->homes_lock, NULL);
	w->queue_max = queue_max ? queue_max : 1;
	w->nthreads = threads ? threads : 1;
	w->threads = sr_xcalloc(w->nthreads, sizeof *w->threads);
	for (unsigned i = 0; i < w->nthreads; i++)
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			sr_assert_fail("pthread_create(worker)", __FILE__, __LINE__);
	return w;
}

static void home_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct home *h = arg;
	uint64_t n;
	ssize_t rd = read((int)fd, &n, sizeof n);
	(void)rd;
	pthread_mutex_lock(&h->lock);
	struct job *j = h->head;
	h->head = h->tail = NULL;
	pthread_mutex_unlock(&h->lock);
	while (j != NULL) {
		struct job *next = j->next;
		j->done(j->arg);
		free(j);
		j = next;
	}
}

int sr_workers_attach(struct sr_workers *w, struct event_base *base)
{
	int rc = 0;
	pthread_mutex_lock(&w->homes_lock);
	unsigned n = atomic_load(&w->nhomes);
	if (n >= HOMES_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	struct home *h = &w->homes[n];
	h->base = base;
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->efd < 0) {
		rc = SR_E_IO;
		goto out;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->ev = event_new(base, h->efd, EV_READ | EV_PERSIST, home_cb, h);
	event_add(h->ev, NULL);
	atomic_store(&w->nhomes, n + 1);
out:
	pthread_mutex_unlock(&w->homes_lock);
	return rc;
}

int sr_workers_submit(struct sr_workers *w, struct event_base *origin, sr_job_fn job,
		      sr_job_fn done, void *arg)
{
	struct home *h = NULL;
	unsigned n = atomic_load(&w->nhomes);
	for (unsigned i = 0; i < n; i++)
		if (w->homes[i].base == origin)
			h = &w->homes[i];
	if (h == NULL)
		return SR_E_INVAL;
	int rc = 0;
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		rc = SR_E_UNAVAILABLE;
		goto out;
	}
	if (atomic_load(&w->depth) >= w->queue_max) {
		rc = SR_E_LIMIT;
		goto out;
	}
	struct job *j = sr_xcalloc(1, sizeof *j);
	j->job = job;
	j->done = done;
	j->arg = arg;
	j->home = h;
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	atomic_fetch_add(&w->depth, 1);
	pthread_cond_signal(&w->cond);
out:
	pthread_mutex_unlock(&w->lock);
	return rc;
}

long sr_workers_depth(const struct sr_workers *w)
{
	return w ? atomic_load(&((struct sr_workers *)w)->depth) : 0;
}

void sr_workers_free(struct sr_workers *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (struct job *j = w->head, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	unsigned n = atomic_load(&w->nhomes);
	for (unsigned i = 0; i < n; i++) {
		struct home *h = &w->homes[i];
		for (struct job *j = h->head, *next; j; j = next) {
			next = j->next;
			free(j);
		}
		event_free(h->ev);
		close(h->efd);
		pthread_mutex_destroy(&h->lock);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->homes_lock);
	free(w->threads);
	free(w);
}
