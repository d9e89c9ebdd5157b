/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_CLOCK_H
#define SR_BASE_CLOCK_H

/*
 * Wall-clock time as the databases store it: RFC 3339 UTC with
 * milliseconds, fixed width ("2026-11-29T08:22:32.123Z", 24 characters), so
 * that text order is time order in both SQLite and PostgreSQL and "due"
 * queries can compare strings.
 */
#include <stdint.h>

#define SR_CLOCK_TEXT_SIZE 32

/* unix_ms (milliseconds since the epoch), formatted as above, into out. */
void sr_clock_format(int64_t unix_ms, char out[SR_CLOCK_TEXT_SIZE]);

/* Now + offset_ms, formatted as above, into out. Thread-safe. */
void sr_clock_text(int64_t offset_ms, char out[SR_CLOCK_TEXT_SIZE]);

/* Now, in milliseconds since the Unix epoch. */
int64_t sr_clock_now_ms(void);

#endif
