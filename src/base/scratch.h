/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_SCRATCH_H
#define SR_BASE_SCRATCH_H

/*
 * Per-thread locked scratch memory for secrets on hot paths.
 *
 * sodium_malloc gives memory that is locked (never swapped), excluded from
 * core dumps and guarded, but each call maps, locks and protects fresh pages:
 * several system calls and a TLB shoot-down on every core, which made up a
 * visible share of a card tokenization (bench/tokens). A scratch area is one
 * sodium_malloc block per thread, made on first use and released when the
 * thread exits; callers wipe what they put in it (sodium_memzero) before
 * they return, so a secret still lives for one request only.
 *
 * Declare one per use with file scope:
 *     static struct sr_scratch card_area = SR_SCRATCH_INIT(sizeof(struct x));
 * and get this thread's block with sr_scratch_get(&card_area). The block is
 * never shared between threads and must not be kept past the call that got
 * it (the next request on the thread reuses it).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct sr_scratch {
	size_t size;
	atomic_bool ready;
	pthread_key_t key;
};

#define SR_SCRATCH_INIT(sz)                                                                        \
	{                                                                                          \
		.size = (sz)                                                                       \
	}

/* This thread's block of s->size bytes, zeroed when first made and
 * otherwise holding what the last user wiped it to. Aborts when locked
 * memory cannot be had: the server core fails closed. */
void *sr_scratch_get(struct sr_scratch *s) __attribute__((returns_nonnull));

#endif
