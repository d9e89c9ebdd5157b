/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_TEMPLATES_H
#define SR_PLATFORM_NOTIFY_TEMPLATES_H

/*
 * The notification templates: one plain-text and one HTML file per event in
 * src/platform/notify/templates/ (NAME.txt starts with a "Subject: ..."
 * line and a blank line), compiled into the binary by scripts/embed.cmake.
 * Templates reference variables as {{name}} ([a-z_]+).
 *
 * The renderer, not each template, puts the member's anti-phishing code
 * and the message reference at the top of every message and the "we never
 * ask" footer at the bottom, so no template can forget them.
 *
 * Variables come from a JSON object of strings and integers. Every value is
 * outside input (a name, a masked destination): it must be valid UTF-8
 * without control characters and at most SR_TEMPLATE_VALUE_MAX bytes; it is
 * HTML-escaped in the HTML part and the subject is checked to be
 * header-safe. Computed variables: {{amount}} from the integer
 * "amount_minor" and "currency" (ISO 4217 exponent, lib/money.h),
 * {{currency}} upper-cased, {{reference}}, and {{date}} when not given.
 * A template naming a variable that is not there is refused (SR_E_INVAL):
 * a message with a hole in it is a bug, not something to send.
 *
 * Pure apart from reading the embedded table; thread-safe.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

#define SR_TEMPLATE_VALUE_MAX 256  /* bytes of one variable's value */
#define SR_TEMPLATE_VARS_MAX  4096 /* bytes of the variables JSON */
#define SR_TEMPLATE_NAME_MAX  48

/* The events with templates, NULL-terminated. */
extern const char *const sr_template_names[];

/* Whether name is one of sr_template_names. */
bool sr_template_exists(const char *name);

/* Whether name's message carries a one-time code in {{code}}
 * (email_verification, password_reset, phone_verification): the outbox
 * refuses that code among the clear variables (it is stored only sealed,
 * outbox.h) and the app shows the message without it. */
bool sr_template_has_one_time_code(const char *name);

struct sr_template_ctx {
	const char *name;               /* one of sr_template_names */
	const char *variables_json;     /* JSON object of strings/integers; NULL: {} */
	const char *reference;          /* "msg_..." the member can verify; required */
	const char *anti_phishing_code; /* the member's code; NULL or "": none set */
	const char *date;               /* default {{date}}, e.g. "2024-05-01 12:00 UTC" */
	const char *official_domains;   /* for the footer, e.g. "example.com"; may be NULL */
};

/* A rendered message; every field heap-allocated and NUL-terminated. */
struct sr_rendered {
	char *subject; /* header-safe (sr_mail_check_header_value passed) */
	char *text;    /* plain-text body */
	char *html;    /* a whole HTML document */
	char *sms;     /* short form for SMS: no link, at most 320 characters */
};

/*
 * Renders ctx into *out (cleared first; on failure nothing is left to free).
 * Returns 0, SR_E_NOTFOUND (no such template), SR_E_INVAL (variables not an
 * object of strings/integers, a missing variable, a value with control
 * characters or bad UTF-8, unknown currency), SR_E_LIMIT (a value or the
 * JSON too long).
 */
int sr_template_render(const struct sr_template_ctx *ctx, struct sr_rendered *out) SR_WUR;

/* Wipes (a render may carry a one-time code) and frees what render
 * produced, and clears r. Accepts NULL. */
void sr_rendered_free(struct sr_rendered *r);

#endif
