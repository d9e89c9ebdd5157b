/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread locked scratch memory (scratch.h). The pthread key of each area
 * is made on first use under one lock; after that a get is a
 * pthread_getspecific. The key's destructor frees (and thereby wipes) the
 * block when its thread exits.
 */
#include "base/scratch.h"

#include <sodium.h>
#include <stdlib.h>

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

static void block_free(void *p)
{
	sodium_free(p); /* wipes */
}

void *sr_scratch_get(struct sr_scratch *s)
{
	if (!atomic_load_explicit(&s->ready, memory_order_acquire)) {
		pthread_mutex_lock(&keys_lock);
		if (!atomic_load_explicit(&s->ready, memory_order_relaxed)) {
			if (sodium_init() < 0 || pthread_key_create(&s->key, block_free) != 0)
				abort();
			atomic_store_explicit(&s->ready, true, memory_order_release);
		}
		pthread_mutex_unlock(&keys_lock);
	}
	void *p = pthread_getspecific(s->key);
	if (p == NULL) {
		p = sodium_malloc(s->size);
		if (p == NULL || pthread_setspecific(s->key, p) != 0)
			abort();
		sodium_memzero(p, s->size);
	}
	return p;
}
