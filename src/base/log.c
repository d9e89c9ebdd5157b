/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON-lines logger on stderr. Each line is built in a stack buffer and sent
 * with one write(2); strings are JSON-escaped and truncated at a fixed size
 * so a hostile value can neither break the line nor grow it without bound.
 */
#include "base/log.h"
#include "base/err.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX  4096
#define LOG_VALUE_MAX 512

static _Atomic int log_level = SR_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void sr_log_set_level(enum sr_log_level lvl)
{
	atomic_store(&log_level, (int)lvl);
}

int sr_log_set_level_name(const char *name)
{
	for (int i = 0; i <= SR_LOG_OFF; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			sr_log_set_level((enum sr_log_level)i);
			return 0;
		}
	}
	return SR_E_INVAL;
}

bool sr_log_enabled(enum sr_log_level lvl)
{
	return (int)lvl >= atomic_load(&log_level) && lvl != SR_LOG_OFF;
}

struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	/* Keep room for the closing "}\n". */
	if (l->len + n > sizeof l->buf - 2)
		n = sizeof l->buf - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void putstr(struct line *l, const char *s)
{
	put(l, "\"", 1);
	size_t used = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : "");
	     *p && used < LOG_VALUE_MAX; p++, used++) {
		char esc[8];
		switch (*p) {
		case '"': put(l, "\\\"", 2); break;
		case '\\': put(l, "\\\\", 2); break;
		case '\n': put(l, "\\n", 2); break;
		case '\r': put(l, "\\r", 2); break;
		case '\t': put(l, "\\t", 2); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				int n = snprintf(esc, sizeof esc, "\\u%04x", *p);
				put(l, esc, (size_t)n);
			} else {
				put(l, (const char *)p, 1);
			}
		}
	}
	if (s != NULL && strlen(s) > LOG_VALUE_MAX)
		put(l, "...", 3);
	put(l, "\"", 1);
}

static void putkey(struct line *l, const char *k)
{
	put(l, ",", 1);
	putstr(l, k);
	put(l, ":", 1);
}

void sr_log_fields(enum sr_log_level lvl, const char *msg, const struct sr_log_field *fields,
		   unsigned nfields)
{
	if (!sr_log_enabled(lvl))
		return;
	struct line l = {.len = 0};
	/* The formatted second is cached per thread: strftime and the time
	 * zone lookup on every line were a visible share of a request. */
	static _Thread_local time_t cached_sec = -1;
	static _Thread_local char cached[24];
	char ts[32];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != cached_sec) {
		struct tm tm;
		gmtime_r(&now.tv_sec, &tm);
		strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = now.tv_sec;
	}
	long ms = now.tv_nsec / 1000000;
	memcpy(ts, cached, 19);
	ts[19] = '.';
	ts[20] = (char)('0' + ms / 100);
	ts[21] = (char)('0' + ms / 10 % 10);
	ts[22] = (char)('0' + ms % 10);
	ts[23] = 'Z';
	ts[24] = '\0';

	put(&l, "{\"ts\":", 6);
	putstr(&l, ts);
	putkey(&l, "level");
	putstr(&l, level_names[lvl]);
	putkey(&l, "msg");
	putstr(&l, msg);
	for (unsigned i = 0; i < nfields; i++) {
		const struct sr_log_field *f = &fields[i];
		char num[64];
		int m = 0;
		putkey(&l, f->key);
		switch (f->type) {
		case SR_LF_STR: putstr(&l, f->s); break;
		case SR_LF_INT:
			m = snprintf(num, sizeof num, "%lld", f->i);
			put(&l, num, (size_t)m);
			break;
		case SR_LF_DBL:
			/* Durations and the like: three decimals, formatted by
			 * hand for the common range (printf's %g is slow). */
			if (f->d >= 0 && f->d < 1e12) {
				unsigned long long milli =
					(unsigned long long)(f->d * 1000.0 + 0.5);
				m = snprintf(num, sizeof num, "%llu.%03llu", milli / 1000,
					     milli % 1000);
			} else {
				m = snprintf(num, sizeof num, "%.6g", f->d);
			}
			put(&l, num, (size_t)m);
			break;
		case SR_LF_BOOL: put(&l, f->i ? "true" : "false", f->i ? 4 : 5); break;
		case SR_LF_END: put(&l, "null", 4); break;
		}
	}
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	/* One write per line; a short write to a pipe is retried for the rest. */
	size_t off = 0;
	while (off < l.len) {
		ssize_t w = write(STDERR_FILENO, l.buf + off, l.len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}
