/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SMTP delivery through libcurl. This module decides how strictly we talk to
 * the relay (TLS always, except a development relay on loopback), checks the
 * envelope addresses so that no CR/LF reaches an SMTP command, and turns
 * curl's outcome into "temporary" or "permanent" for the outbox. It logs
 * nothing itself: the caller logs res->detail, which holds only server
 * replies and curl's error text, never message content or credentials.
 */
#include "platform/notify/smtp.h"
#include "base/config.h"
#include "platform/notify/mail.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sr_smtp_opts_from_config(const struct sr_config *cfg, struct sr_smtp_opts *o)
{
	o->url = sr_config_str(cfg, "email", "smtp_url");
	o->ca_file = sr_config_path(cfg, "email", "smtp_ca_file");
	o->timeout_ms = (long)sr_config_int(cfg, "email", "smtp_timeout_ms");
	o->development = sr_config_is_development(cfg);
}

struct upload {
	const char *p;
	size_t left;
};

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb < u->left ? size * nmemb : u->left;
	memcpy(dst, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

/* Keeps the last line the server sent (its reply to our last command), made
 * printable, for res->id and res->detail. Only CURLINFO_HEADER_IN: what we
 * send (which may include AUTH) is never looked at. */
static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size, void *arg)
{
	(void)h;
	char *last = arg;
	if (type != CURLINFO_HEADER_IN)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < size && n < 255; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c == '\r' || c == '\n')
			break;
		last[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	last[n] = '\0';
	return 0;
}

int sr_smtp_send(const struct sr_smtp_opts *o, const char *from_addr, const char *to_addr,
		 const char *msg, size_t len, struct sr_notify_result *res)
{
	int rc = 0;
	bool plain_ok = false;
	CURL *h = NULL;
	struct curl_slist *rcpt = NULL;
	char last[256] = "", errbuf[CURL_ERROR_SIZE] = "";
	char env_from[SR_MAIL_ADDR_MAX + 3], env_to[SR_MAIL_ADDR_MAX + 3];
	sr_notify_result_clear(res);

	if (sr_mail_check_addr(from_addr) != 0 || sr_mail_check_addr(to_addr) != 0) {
		snprintf(res->detail, sizeof res->detail, "envelope address refused");
		return SR_E_INVAL;
	}
	if (o->url == NULL || o->url[0] == '\0') {
		snprintf(res->detail, sizeof res->detail, "no SMTP URL");
		return SR_E_CONFIG;
	}
	if ((rc = sr_notify_check_url(o->url, "smtps", "smtp", o->development, &plain_ok,
				      res->detail, sizeof res->detail)) != 0)
		return rc;
	snprintf(env_from, sizeof env_from, "<%s>", from_addr);
	snprintf(env_to, sizeof env_to, "<%s>", to_addr);

	struct upload up = {msg, len};
	if ((h = curl_easy_init()) == NULL || (rcpt = curl_slist_append(NULL, env_to)) == NULL)
		abort();
	curl_easy_setopt(h, CURLOPT_URL, o->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* Required unless the relay is a development one on loopback; even
	 * then, take TLS when the relay offers it. */
	curl_easy_setopt(h, CURLOPT_USE_SSL,
			 plain_ok ? (long)CURLUSESSL_TRY : (long)CURLUSESSL_ALL);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file != NULL && o->ca_file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, env_from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, last);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);

	CURLcode c = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	res->code = code;
	if (c == CURLE_OK) {
		/* The reply to the end of DATA, without its code: usually the
		 * relay's queue id. */
		const char *t = last;
		if (strlen(t) > 4 && t[3] == ' ')
			t += 4;
		size_t tl = strnlen(t, sizeof res->id - 1);
		memcpy(res->id, t, tl);
		res->id[tl] = '\0';
		snprintf(res->detail, sizeof res->detail, "%s", last);
		rc = 0;
		goto out;
	}
	snprintf(res->detail, sizeof res->detail, "%.120s%s%.120s",
		 errbuf[0] ? errbuf : curl_easy_strerror(c), last[0] ? "; server: " : "", last);
	if (code >= 500 && code < 600) {
		res->temporary = false;
		rc = SR_E_INVAL;
	} else if (code >= 400 && code < 500) {
		res->temporary = true;
		rc = SR_E_RETRY;
	} else {
		/* No SMTP verdict: connection refused or lost, timeout, TLS or
		 * STARTTLS failure, a misbehaving relay. All may be fixed on the
		 * other side, so the outbox retries rather than drops. */
		res->temporary = true;
		rc = SR_E_RETRY;
	}
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return rc;
}
