/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Token buckets per key (see ratelimit.h): an open-addressing table of
 * fixed size under one mutex. Tokens are kept in thousandths so refill
 * needs no floating point.
 */
#include "net/ratelimit.h"
#include "base/mem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 64

struct bucket {
	char key[KEY_MAX];
	uint64_t milli_tokens;
	uint64_t last_ms;
	bool used;
};

struct sr_ratelimit {
	pthread_mutex_t lock;
	uint64_t burst_milli;
	uint64_t per_minute;
	unsigned size; /* slots, a power of two >= 2 * max_keys */
	struct bucket *slots;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct sr_ratelimit *sr_ratelimit_new(unsigned burst, unsigned per_minute, unsigned max_keys)
{
	struct sr_ratelimit *rl = sr_xcalloc(1, sizeof *rl);
	pthread_mutex_init(&rl->lock, NULL);
	rl->burst_milli = (uint64_t)(burst ? burst : 1) * 1000;
	rl->per_minute = per_minute ? per_minute : 1;
	rl->size = 16;
	while (rl->size < 2 * (max_keys ? max_keys : 1) && rl->size < (1u << 24))
		rl->size *= 2;
	rl->slots = sr_xcalloc(rl->size, sizeof *rl->slots);
	return rl;
}

void sr_ratelimit_free(struct sr_ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl->slots);
	free(rl);
}

bool sr_ratelimit_take(struct sr_ratelimit *rl, const char *key, uint64_t now_ms,
		       unsigned *retry_after_s)
{
	char k[KEY_MAX];
	snprintf(k, sizeof k, "%s", key);
	bool ok;
	pthread_mutex_lock(&rl->lock);
	unsigned mask = rl->size - 1, i = hash(k) & mask, probes = 0;
	struct bucket *b = NULL, *oldest = NULL;
	/* Linear probing over a short window: the key's slot, a free slot,
	 * or else the least recently seen slot of the window is reused. */
	for (; probes < 16; probes++, i = (i + 1) & mask) {
		struct bucket *s = &rl->slots[i];
		if (s->used && strcmp(s->key, k) == 0) {
			b = s;
			break;
		}
		if (!s->used) {
			if (oldest == NULL || oldest->used)
				oldest = s;
			continue;
		}
		if (oldest == NULL || (oldest->used && s->last_ms < oldest->last_ms))
			oldest = s;
	}
	if (b == NULL) {
		b = oldest;
		memcpy(b->key, k, sizeof b->key);
		b->used = true;
		b->milli_tokens = rl->burst_milli;
		b->last_ms = now_ms;
	}
	if (now_ms > b->last_ms) {
		/* per_minute tokens per 60000 ms = per_minute milli-tokens per 60 ms. */
		uint64_t add = (now_ms - b->last_ms) * rl->per_minute / 60;
		b->milli_tokens = b->milli_tokens + add > rl->burst_milli ? rl->burst_milli
									  : b->milli_tokens + add;
		b->last_ms = now_ms;
	}
	ok = b->milli_tokens >= 1000;
	if (ok) {
		b->milli_tokens -= 1000;
	} else if (retry_after_s != NULL) {
		uint64_t missing = 1000 - b->milli_tokens;
		uint64_t ms = (missing * 60 + rl->per_minute - 1) / rl->per_minute;
		*retry_after_s = (unsigned)((ms + 999) / 1000);
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
