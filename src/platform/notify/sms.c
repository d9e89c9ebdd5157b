/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SMS delivery (Twilio-compatible REST API, or a development file). The
 * sender owns the API auth token: it sits in sodium_malloc memory and is
 * handed to libcurl only as the basic-auth password of each request (libcurl
 * keeps its own copy for the duration of the request; the error text we
 * keep never includes it). Phone numbers and message texts are personal
 * data: nothing here logs them.
 */
#include "platform/notify/sms.h"
#include "base/config.h"
#include "base/mem.h"
#include "platform/notify/secretfile.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (64 * 1024) /* bytes of an API reply we read */

struct sr_sms {
	char *api_base; /* NULL: development file */
	char *sid, *from, *file, *ca_file;
	char *token; /* sodium_malloc */
	long timeout_ms;
	bool plain_ok;
};

int sr_sms_check_number(const char *s)
{
	if (s == NULL || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return SR_E_INVAL;
	size_t n = strspn(s + 1, "0123456789");
	return s[1 + n] == '\0' && n >= 7 && n <= 15 ? 0 : SR_E_INVAL;
}

int sr_sms_check_body(const char *body)
{
	if (body == NULL || body[0] == '\0')
		return SR_E_INVAL;
	size_t chars = 0;
	const unsigned char *u = (const unsigned char *)body;
	for (size_t i = 0; u[i] != '\0';) {
		unsigned char c = u[i];
		size_t n = c < 0x80                 ? 1
			   : c >= 0xc2 && c <= 0xdf ? 2
			   : c >= 0xe0 && c <= 0xef ? 3
			   : c >= 0xf0 && c <= 0xf4 ? 4
						    : 0;
		if (n == 0 || (c < 0x20 && c != '\n') || c == 0x7f)
			return SR_E_INVAL;
		for (size_t k = 1; k < n; k++)
			if ((u[i + k] & 0xc0) != 0x80)
				return SR_E_INVAL;
		/* Overlong and surrogate forms. */
		if ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] >= 0xa0) ||
		    (c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] >= 0x90))
			return SR_E_INVAL;
		i += n;
		if (++chars > SR_SMS_BODY_MAX)
			return SR_E_LIMIT;
	}
	/* No links: the promise is short texts a member can trust, and a
	 * link is what a phishing text would carry. */
	static const char *const banned[] = {"http", "www.", "://"};
	for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++)
		for (const char *p = body; *p; p++)
			if (strncasecmp(p, banned[i], strlen(banned[i])) == 0)
				return SR_E_INVAL;
	return 0;
}

void sr_sms_free(struct sr_sms *s)
{
	if (s == NULL)
		return;
	if (s->token != NULL)
		sodium_free(s->token);
	free(s->api_base);
	free(s->sid);
	free(s->from);
	free(s->file);
	free(s->ca_file);
	free(s);
}

int sr_sms_new(const char *api_base, const char *account_sid, const char *token, const char *from,
	       const char *sms_file, const char *ca_file, long timeout_ms, bool development,
	       struct sr_sms **out, char *err, size_t errlen)
{
	int rc = 0;
	struct sr_sms *s = sr_xcalloc(1, sizeof *s);
	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	s->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
	if (ca_file != NULL && ca_file[0] != '\0')
		s->ca_file = sr_xstrdup(ca_file);
	if (api_base == NULL || api_base[0] == '\0') {
		if (!development) {
			snprintf(err, errlen, "[sms] api_base is required in production");
			rc = SR_E_CONFIG;
			goto out;
		}
		if (sms_file == NULL || sms_file[0] == '\0') {
			snprintf(err, errlen, "[sms] sms_file is required without api_base");
			rc = SR_E_INVAL;
			goto out;
		}
		s->file = sr_xstrdup(sms_file);
		s->from = sr_xstrdup(from != NULL ? from : "");
		goto out;
	}
	if ((rc = sr_notify_check_url(api_base, "https", "http", development, &s->plain_ok, err,
				      errlen)) != 0)
		goto out;
	if (strncasecmp(api_base, "http:", 5) == 0 && !s->plain_ok) {
		snprintf(err, errlen,
			 "[sms] api_base: http:// only to loopback in development; use https://");
		rc = SR_E_CONFIG;
		goto out;
	}
	/* The SID goes into the path: letters and digits only. */
	if (account_sid == NULL || account_sid[0] == '\0' || strlen(account_sid) > 64 ||
	    strspn(account_sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
		    strlen(account_sid)) {
		snprintf(err, errlen, "[sms] account_sid: letters and digits, at most 64");
		rc = SR_E_INVAL;
		goto out;
	}
	if (token == NULL || token[0] == '\0' || strlen(token) > 256) {
		snprintf(err, errlen, "[sms] auth token missing or too long");
		rc = SR_E_INVAL;
		goto out;
	}
	if (sr_sms_check_number(from) != 0) {
		snprintf(err, errlen, "[sms] from: not an E.164 number (+15005550006)");
		rc = SR_E_INVAL;
		goto out;
	}
	size_t tl = strlen(token);
	if (sodium_init() < 0 || (s->token = sodium_malloc(tl + 1)) == NULL)
		abort();
	memcpy(s->token, token, tl + 1);
	s->api_base = sr_xstrdup(api_base);
	/* A trailing '/' would double in the path. */
	size_t bl = strlen(s->api_base);
	while (bl > 0 && s->api_base[bl - 1] == '/')
		s->api_base[--bl] = '\0';
	s->sid = sr_xstrdup(account_sid);
	s->from = sr_xstrdup(from);
out:
	if (rc != 0)
		sr_sms_free(s);
	else
		*out = s;
	return rc;
}

int sr_sms_from_config(const struct sr_config *cfg, struct sr_sms **out, char *err, size_t errlen)
{
	int rc;
	char *token = NULL;
	size_t tlen = 0;
	const char *api = sr_config_str(cfg, "sms", "api_base");
	char *token_file = sr_config_path(cfg, "sms", "auth_token_file");
	char *file = sr_config_path(cfg, "sms", "sms_file");
	char *ca = sr_config_path(cfg, "email", "smtp_ca_file");
	if (api[0] != '\0') {
		if (token_file == NULL) {
			snprintf(err, errlen, "[sms] auth_token_file is required with api_base");
			rc = SR_E_CONFIG;
			goto out;
		}
		if ((rc = sr_secretfile_read(token_file, 1, &token, &tlen)) != 0) {
			snprintf(err, errlen, "[sms] auth_token_file %s: %s", token_file,
				 rc == SR_E_IO ? strerror(errno)
				 : rc == SR_E_CONFIG
					 ? "group or others may access it (chmod 0400 it)"
					 : sr_strerror(rc));
			goto out;
		}
	}
	rc = sr_sms_new(api, sr_config_str(cfg, "sms", "account_sid"), token,
			sr_config_str(cfg, "sms", "from"), file, ca,
			(long)sr_config_int(cfg, "email", "smtp_timeout_ms"),
			sr_config_is_development(cfg), out, err, errlen);
out:
	if (token != NULL)
		sodium_free(token);
	free(token_file);
	free(file);
	free(ca);
	return rc;
}

/* The development sink: one JSON line, appended with a single write so
 * concurrent senders never interleave. */
static int send_file(struct sr_sms *s, const char *to, const char *body,
		     struct sr_notify_result *res)
{
	int rc = 0;
	unsigned char r[8];
	char id[24], ts[32];
	randombytes_buf(r, sizeof r);
	memcpy(id, "dev_", 4);
	sodium_bin2hex(id + 4, sizeof id - 4, r, sizeof r);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "sid", id, "time", ts, "from", s->from,
			      "to", to, "body", body);
	char *line = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (line == NULL)
		abort();
	char *text = sr_xasprintf("%s\n", line);
	free(line);
	int fd = open(s->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t n = strlen(text);
	if (fd < 0 || write(fd, text, n) != (ssize_t)n) {
		snprintf(res->detail, sizeof res->detail, "%s: %s", s->file, strerror(errno));
		res->temporary = true;
		rc = SR_E_IO;
	} else {
		snprintf(res->id, sizeof res->id, "%s", id);
	}
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}

struct reply {
	char *p;
	size_t len;
	bool overflow;
};

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;
	if (r->len + n > REPLY_MAX) {
		r->overflow = true;
		return n; /* keep reading; the reply just is not parsed */
	}
	r->p = sr_xrealloc(r->p, r->len + n + 1);
	memcpy(r->p + r->len, data, n);
	r->len += n;
	r->p[r->len] = '\0';
	return n;
}

/* "key=value" with value percent-encoded by curl, appended to *form. */
static void form_add(CURL *h, char **form, const char *key, const char *value)
{
	char *esc = curl_easy_escape(h, value, 0);
	if (esc == NULL)
		abort();
	char *next = sr_xasprintf("%s%s%s=%s", *form ? *form : "", *form ? "&" : "", key, esc);
	curl_free(esc);
	free(*form);
	*form = next;
}

int sr_sms_send(struct sr_sms *s, const char *to, const char *body, struct sr_notify_result *res)
{
	int rc;
	CURL *h = NULL;
	char *url = NULL, *form = NULL;
	struct reply reply = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	sr_notify_result_clear(res);
	if (sr_sms_check_number(to) != 0) {
		snprintf(res->detail, sizeof res->detail, "recipient is not an E.164 number");
		return SR_E_INVAL;
	}
	if ((rc = sr_sms_check_body(body)) != 0) {
		snprintf(res->detail, sizeof res->detail,
			 "text refused: at most %d characters, no links", SR_SMS_BODY_MAX);
		return SR_E_INVAL;
	}
	if (s->api_base == NULL)
		return send_file(s, to, body, res);

	if ((h = curl_easy_init()) == NULL)
		abort();
	url = sr_xasprintf("%s/2010-04-01/Accounts/%s/Messages.json", s->api_base, s->sid);
	form_add(h, &form, "To", to);
	form_add(h, &form, "From", s->from);
	form_add(h, &form, "Body", body);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, s->plain_ok ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->sid);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->token);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "strongroom");

	CURLcode c = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	res->code = code;
	if (c != CURLE_OK) {
		snprintf(res->detail, sizeof res->detail, "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(c));
		res->temporary = true;
		rc = SR_E_RETRY;
		goto out;
	}
	/* The API's own message, when it sent one, says why (never our data). */
	json_t *j = reply.p != NULL && !reply.overflow ? json_loads(reply.p, 0, NULL) : NULL;
	const char *sid = json_string_value(json_object_get(j, "sid"));
	const char *msg = json_string_value(json_object_get(j, "message"));
	if (code >= 200 && code < 300 && sid != NULL && sid[0] != '\0' &&
	    strlen(sid) < sizeof res->id) {
		snprintf(res->id, sizeof res->id, "%s", sid);
		snprintf(res->detail, sizeof res->detail, "HTTP %ld", code);
		rc = 0;
	} else {
		snprintf(res->detail, sizeof res->detail, "HTTP %ld%s%.200s", code, msg ? ": " : "",
			 msg ? msg : "");
		res->temporary = !(code >= 400 && code < 500) || code == 408 || code == 429;
		rc = res->temporary ? SR_E_RETRY : SR_E_INVAL;
	}
	json_decref(j);
out:
	curl_easy_cleanup(h);
	free(url);
	free(form);
	free(reply.p);
	return rc;
}
