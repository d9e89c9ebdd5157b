/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_SMTP_H
#define SR_PLATFORM_NOTIFY_SMTP_H

/*
 * Delivering one composed (and DKIM-signed) message to an SMTP relay with
 * libcurl. smtp://host:port requires STARTTLS (the connection fails if the
 * server does not offer it or the upgrade fails); smtps://host:port is
 * implicit TLS. The certificate is always verified (system CAs or ca_file),
 * TLS 1.2 at least. The only exception: smtp:// to a loopback address in a
 * development instance may stay plain (a local test relay).
 *
 * Blocking; one call per message; safe to call from several threads at once.
 */
#include "base/err.h"
#include "platform/notify/notify.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_config;

struct sr_smtp_opts {
	const char *url;     /* smtp://HOST:PORT[/EHLO-NAME] or smtps://... */
	const char *ca_file; /* PEM bundle; NULL: the system CAs */
	long timeout_ms;     /* whole delivery; connect gets the same bound */
	bool development;    /* [instance] environment = development */
};

/* Fills o from [email] smtp_url, smtp_ca_file, smtp_timeout_ms and
 * [instance] environment. o->ca_file is allocated (free it); url is
 * borrowed from cfg. */
void sr_smtp_opts_from_config(const struct sr_config *cfg, struct sr_smtp_opts *o);

/*
 * Sends msg (len bytes, CRLF lines) from envelope sender from_addr to
 * to_addr. On success res->id holds the server's reply to the message
 * (e.g. "2.0.0 Ok: queued as 4BC2F1"). Returns:
 *   0             accepted by the server
 *   SR_E_RETRY    temporary failure: 4xx reply, connection refused or lost,
 *                 timeout, TLS handshake/STARTTLS failure (retry with backoff)
 *   SR_E_INVAL    permanent: 5xx reply, or a bad envelope address
 *   SR_E_CONFIG   the URL is refused (scheme, unparsable)
 * res is always filled (cleared first): temporary, code, detail.
 */
int sr_smtp_send(const struct sr_smtp_opts *o, const char *from_addr, const char *to_addr,
		 const char *msg, size_t len, struct sr_notify_result *res) SR_WUR;

#endif
