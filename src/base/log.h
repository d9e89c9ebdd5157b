/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_LOG_H
#define SR_BASE_LOG_H

/*
 * Structured logs: one JSON object per line on stderr, written with a single
 * write(2) so lines from several threads never interleave.
 *
 *   sr_log(SR_LOG_INFO, "listening", SR_LS("service", "vault"), SR_LI("port", 8444));
 *
 * Never pass a secret, a body, a cookie, an Authorization header, a query
 * string or a personal-data value: the helpers escape text, they cannot know
 * what it means. Thread-safe.
 */
#include <stdbool.h>

enum sr_log_level { SR_LOG_DEBUG = 0, SR_LOG_INFO, SR_LOG_WARN, SR_LOG_ERROR, SR_LOG_OFF };

enum sr_log_type { SR_LF_END = 0, SR_LF_STR, SR_LF_INT, SR_LF_DBL, SR_LF_BOOL };

struct sr_log_field {
	const char *key;
	enum sr_log_type type;
	const char *s;
	long long i;
	double d;
};

#define SR_LS(k, v)                                                                                \
	{                                                                                          \
		.key = (k), .type = SR_LF_STR, .s = (v)                                            \
	}
#define SR_LI(k, v)                                                                                \
	{                                                                                          \
		.key = (k), .type = SR_LF_INT, .i = (long long)(v)                                 \
	}
#define SR_LD(k, v)                                                                                \
	{                                                                                          \
		.key = (k), .type = SR_LF_DBL, .d = (double)(v)                                    \
	}
#define SR_LB(k, v)                                                                                \
	{                                                                                          \
		.key = (k), .type = SR_LF_BOOL, .i = (v) ? 1 : 0                                   \
	}

#define sr_log(lvl, msg, ...)                                                                      \
	do {                                                                                       \
		const struct sr_log_field sr_lf_[] = {{0}, ##__VA_ARGS__};                         \
		sr_log_fields((lvl), (msg), sr_lf_ + 1, sizeof sr_lf_ / sizeof sr_lf_[0] - 1);     \
	} while (0)

/* Writes one line if lvl is at or above the current level. */
void sr_log_fields(enum sr_log_level lvl, const char *msg, const struct sr_log_field *fields,
		   unsigned nfields);

/* Sets the minimum level; "debug", "info", "warn", "error" or "off".
 * Returns 0, or SR_E_INVAL for an unknown name (level unchanged). */
int sr_log_set_level_name(const char *name);
void sr_log_set_level(enum sr_log_level lvl);
bool sr_log_enabled(enum sr_log_level lvl);

#endif
