/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_SMS_H
#define SR_PLATFORM_NOTIFY_SMS_H

/*
 * Text messages through a Twilio-compatible HTTP API:
 *   POST {api_base}/2010-04-01/Accounts/{sid}/Messages.json
 * with HTTP basic auth sid:token and form fields To, From, Body; the reply's
 * "sid" identifies the message. Development instances without an api_base
 * append each text as a JSON line to a file instead.
 *
 * The promise says texts are short and carry no links (a link in a text is
 * what phishing looks like), so bodies are at most 320 characters and any
 * "http", "www." or "://" is refused. Numbers are E.164 ("+" and 7 to 15
 * digits). A sender holds the auth token in sodium_malloc memory; sending is
 * blocking and may run on several threads at once with one sender.
 */
#include "base/err.h"
#include "platform/notify/notify.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_config;
struct sr_sms;

#define SR_SMS_BODY_MAX 320 /* characters (Unicode code points) */

/* "+" then 7..15 digits, the first not 0. Returns 0 or SR_E_INVAL. */
int sr_sms_check_number(const char *e164) SR_WUR;

/* Valid UTF-8, 1..SR_SMS_BODY_MAX characters, no control characters but
 * newline, no URL ("http", "www.", "://", any case). Returns 0, SR_E_INVAL
 * or SR_E_LIMIT. */
int sr_sms_check_body(const char *body) SR_WUR;

/*
 * A sender. api_base "" or NULL selects the development file sms_file.
 * token is copied into sodium_malloc memory (the caller wipes its own copy).
 * An http:// api_base is accepted only on loopback in development.
 * Returns 0, SR_E_INVAL (from not E.164, missing sid/token/file) or
 * SR_E_CONFIG, with a reason in err.
 */
int sr_sms_new(const char *api_base, const char *account_sid, const char *token, const char *from,
	       const char *sms_file, const char *ca_file, long timeout_ms, bool development,
	       struct sr_sms **out, char *err, size_t errlen) SR_WUR;

/* sr_sms_new from [sms] (token read from auth_token_file, wiped after) and
 * [email] smtp_ca_file / smtp_timeout_ms for TLS and deadline. */
int sr_sms_from_config(const struct sr_config *cfg, struct sr_sms **out, char *err,
		       size_t errlen) SR_WUR;

/* Frees the sender and wipes its token. Accepts NULL. */
void sr_sms_free(struct sr_sms *s);

/*
 * Sends body to the number to. On success res->id holds the provider's sid
 * (or "dev_..." for the file sink). Returns:
 *   0           accepted (HTTP 2xx with a "sid"), or appended to the file
 *   SR_E_INVAL  refused before sending (number, body) or by the API (4xx
 *               but 408/429): permanent
 *   SR_E_RETRY  temporary: 408, 429, 5xx, connection or TLS failure, a 2xx
 *               without a sid
 *   SR_E_IO     the development file could not be written (errno set)
 * res is always filled.
 */
int sr_sms_send(struct sr_sms *s, const char *to, const char *body,
		struct sr_notify_result *res) SR_WUR;

#endif
