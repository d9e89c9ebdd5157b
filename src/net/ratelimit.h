/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_RATELIMIT_H
#define SR_NET_RATELIMIT_H

/*
 * Token buckets keyed by a short string (a client address), for limits that
 * protect the service rather than meter it: e.g. failed authentications per
 * address, each of which costs an audit-log write. Per process: several
 * instances each apply the limit on their own. The table is bounded; when
 * it is full, the least recently seen keys are forgotten (a forgotten key
 * starts with a full bucket again). Thread-safe.
 */
#include <stdbool.h>
#include <stdint.h>

struct sr_ratelimit;

/* burst tokens per key, refilled at per_minute tokens a minute; at most
 * max_keys keys are tracked. */
struct sr_ratelimit *sr_ratelimit_new(unsigned burst, unsigned per_minute, unsigned max_keys);
void sr_ratelimit_free(struct sr_ratelimit *rl);

/* Takes one token for key at now_ms (a monotonic clock). Returns true when
 * allowed; false when the bucket is empty, then *retry_after_s (may be NULL)
 * says when the next token comes. Keys longer than 63 bytes are truncated. */
bool sr_ratelimit_take(struct sr_ratelimit *rl, const char *key, uint64_t now_ms,
		       unsigned *retry_after_s);

#endif
