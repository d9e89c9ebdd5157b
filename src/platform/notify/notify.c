/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared rules of the notification transports. The one security decision
 * here: an endpoint may be spoken to without TLS only when it is on this
 * machine's loopback and the instance is a development one; everything else
 * must use TLS with a verified certificate.
 */
#include "platform/notify/notify.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void sr_notify_result_clear(struct sr_notify_result *r)
{
	memset(r, 0, sizeof *r);
}

static bool is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char h[64];
	size_t len = strlen(host);
	if (strcasecmp(host, "localhost") == 0)
		return true; /* curl resolves it to loopback itself, never via DNS */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	/* curl gives IPv6 literals in brackets. */
	if (len >= 2 && len < sizeof h && host[0] == '[' && host[len - 1] == ']') {
		memcpy(h, host + 1, len - 2);
		h[len - 2] = '\0';
		return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

int sr_notify_check_url(const char *url, const char *tls_scheme, const char *plain_scheme,
			bool development, bool *plain_ok, char *detail, size_t detaillen)
{
	int rc = SR_E_CONFIG;
	char *scheme = NULL, *host = NULL;
	*plain_ok = false;
	CURLU *u = curl_url();
	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(detail, detaillen, "not a URL");
		goto out;
	}
	if (strcasecmp(scheme, tls_scheme) == 0) {
		rc = 0;
	} else if (strcasecmp(scheme, plain_scheme) == 0) {
		*plain_ok = development && is_loopback(host);
		rc = 0;
	} else {
		snprintf(detail, detaillen, "scheme %s: only %s:// or %s://", scheme, tls_scheme,
			 plain_scheme);
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}
