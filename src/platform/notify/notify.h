/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_NOTIFY_H
#define SR_PLATFORM_NOTIFY_NOTIFY_H

/*
 * What the notification transports (smtp.c, sms.c) share: the outcome of
 * one delivery attempt, which the outbox uses to decide between "done",
 * "retry later" and "give up", and the rule that decides whether an
 * endpoint may be spoken to without TLS. Thread-safe.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Outcome of one delivery attempt. Filled by every send function. */
struct sr_notify_result {
	bool temporary;   /* failed, and a retry may succeed (4xx, 429, connect, timeout) */
	long code;        /* last SMTP reply or HTTP status, 0 if none */
	char id[128];     /* the provider's id: SMTP queue reply, SMS sid */
	char detail[256]; /* why it failed, or the last server reply; no secrets */
};

/*
 * Checks that url uses scheme tls_scheme (always allowed) or plain_scheme,
 * and that plain_scheme only reaches a loopback host (127.0.0.0/8, ::1 or
 * localhost). *plain_ok tells the caller whether the URL may be used without
 * TLS: true only for a loopback host when development is set; otherwise
 * the caller must insist on TLS (SMTP: STARTTLS required; HTTP: refuse).
 * Returns 0, or SR_E_CONFIG (not a URL, or another scheme) with a reason in
 * detail.
 */
int sr_notify_check_url(const char *url, const char *tls_scheme, const char *plain_scheme,
			bool development, bool *plain_ok, char *detail, size_t detaillen) SR_WUR;

/* Clears r. */
void sr_notify_result_clear(struct sr_notify_result *r);

#endif
