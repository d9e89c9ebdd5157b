/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixed-width UTC timestamps for database columns (see clock.h). One
 * formatter for every table that stores or schedules by time (audit log,
 * outbox, webhooks, accounts), so their comparisons agree.
 */
#include "base/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t sr_clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sr_clock_text(int64_t offset_ms, char out[SR_CLOCK_TEXT_SIZE])
{
	sr_clock_format(sr_clock_now_ms() + offset_ms, out);
}

void sr_clock_format(int64_t ms, char out[SR_CLOCK_TEXT_SIZE])
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&sec, &tm);
	char buf[96];
	int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(ms % 1000));
	/* Always 24 characters for years 1000..9999. */
	size_t len = n > 0 && n < SR_CLOCK_TEXT_SIZE ? (size_t)n : 0;
	memcpy(out, buf, len);
	out[len] = '\0';
}
