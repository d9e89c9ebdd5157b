/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Notification templates: substitution of {{variables}} into the embedded
 * text and HTML files, with the layout every message shares (anti-phishing
 * code and reference on top, the "we never ask" footer below).
 *
 * Variables are outside input, so each one is checked (UTF-8, no control
 * characters, bounded), escaped for HTML, and the subject is re-checked as
 * a header value. The anti-phishing code is shown to the member only; it
 * is passed in at render time and never stored with the notification.
 */
#include "platform/notify/templates.h"
#include "base/embedded.h"
#include "base/mem.h"
#include "base/strbuf.h"
#include "lib/money.h"
#include "platform/notify/mail.h"
#include "platform/notify/sms.h"

#include <jansson.h>
#include <stdint.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sr_template_names[] = {
	"money_received",
	"payout_requested",
	"payout_held",
	"payout_sent",
	"payout_failed",
	"payout_returned",
	"verification_requested",
	"email_verification",
	"new_device_login",
	"password_changed",
	"password_reset",
	"account_locked",
	"mfa_enabled",
	"mfa_disabled",
	"email_changed",
	"phone_changed",
	"phone_verification",
	NULL,
};

bool sr_template_exists(const char *name)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; sr_template_names[i] != NULL; i++)
		if (strcmp(sr_template_names[i], name) == 0)
			return true;
	return false;
}

bool sr_template_has_one_time_code(const char *name)
{
	return name != NULL &&
	       (strcmp(name, "email_verification") == 0 || strcmp(name, "password_reset") == 0 ||
		strcmp(name, "phone_verification") == 0);
}

static void buf_html(struct sr_strbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sr_strbuf_str(b, "&amp;"); break;
		case '<': sr_strbuf_str(b, "&lt;"); break;
		case '>': sr_strbuf_str(b, "&gt;"); break;
		case '"': sr_strbuf_str(b, "&quot;"); break;
		case '\'': sr_strbuf_str(b, "&#39;"); break;
		default: sr_strbuf_add(b, s, 1);
		}
	}
}

/* The variables after checks and computed additions. */
struct vars {
	json_t *obj; /* name -> string */
};

static int check_value(const char *v)
{
	/* The header check is the strictest we have: UTF-8, no control
	 * character at all (so no line can be injected in text either). */
	return sr_mail_check_header_value(v, SR_TEMPLATE_VALUE_MAX);
}

static int set_var(json_t *obj, const char *key, const char *v)
{
	int rc = check_value(v);
	if (rc != 0)
		return rc;
	json_object_set_new(obj, key, json_string(v));
	return 0;
}

static int load_vars(const struct sr_template_ctx *ctx, json_t **out)
{
	int rc = 0;
	json_t *in = NULL, *obj = json_object();
	const char *key;
	json_t *val;
	*out = NULL;
	const char *js = ctx->variables_json ? ctx->variables_json : "{}";
	if (strlen(js) > SR_TEMPLATE_VARS_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	in = json_loads(js, JSON_REJECT_DUPLICATES, NULL);
	if (in == NULL || !json_is_object(in)) {
		rc = SR_E_INVAL;
		goto out;
	}
	json_object_foreach(in, key, val)
	{
		char num[32];
		size_t kl = strlen(key);
		if (kl == 0 || kl > 32 || strspn(key, "abcdefghijklmnopqrstuvwxyz_") != kl) {
			rc = SR_E_INVAL;
			goto out;
		}
		if (json_is_string(val)) {
			if (strlen(json_string_value(val)) != json_string_length(val)) {
				rc = SR_E_INVAL; /* embedded NUL */
				goto out;
			}
			rc = set_var(obj, key, json_string_value(val));
		} else if (json_is_integer(val)) {
			snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
			rc = set_var(obj, key, num);
		} else {
			rc = SR_E_INVAL;
		}
		if (rc != 0)
			goto out;
	}
	/* Computed: the formatted amount and the upper-case currency. */
	json_t *cur = json_object_get(in, "currency");
	json_t *minor = json_object_get(in, "amount_minor");
	if (cur != NULL) {
		char up[4] = "";
		if (!json_is_string(cur) || sr_money_exponent(json_string_value(cur)) < 0) {
			rc = SR_E_INVAL;
			goto out;
		}
		for (size_t i = 0; i < 3; i++) {
			char ch = json_string_value(cur)[i];
			up[i] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
		}
		json_object_set_new(obj, "currency", json_string(up));
		if (minor != NULL) {
			char amount[SR_MONEY_FMT_MAX];
			if (!json_is_integer(minor) ||
			    sr_money_format(json_integer_value(minor), up, amount, sizeof amount) !=
				    0) {
				rc = SR_E_INVAL;
				goto out;
			}
			json_object_set_new(obj, "amount", json_string(amount));
		}
	}
	if (ctx->date != NULL && json_object_get(obj, "date") == NULL &&
	    (rc = set_var(obj, "date", ctx->date)) != 0)
		goto out;
	if ((rc = set_var(obj, "reference", ctx->reference)) != 0)
		goto out;
	*out = obj;
	obj = NULL;
out:
	json_decref(in);
	json_decref(obj);
	return rc;
}

/* Substitutes {{name}} in tpl (len bytes) into b; html escapes values. */
static int expand(struct sr_strbuf *b, const char *tpl, size_t len, json_t *vars, bool html)
{
	const char *p = tpl, *end = tpl + len;
	while (p < end) {
		const char *open = NULL;
		for (const char *q = p; q + 1 < end; q++)
			if (q[0] == '{' && q[1] == '{') {
				open = q;
				break;
			}
		if (open == NULL) {
			sr_strbuf_add(b, p, (size_t)(end - p));
			break;
		}
		sr_strbuf_add(b, p, (size_t)(open - p));
		const char *name = open + 2, *close = name;
		while (close < end && ((*close >= 'a' && *close <= 'z') || *close == '_'))
			close++;
		if (close + 1 >= end || close[0] != '}' || close[1] != '}' || close == name ||
		    close - name > 32)
			return SR_E_INVAL;
		char key[40];
		snprintf(key, sizeof key, "%.*s", (int)(close - name), name);
		json_t *v = json_object_get(vars, key);
		if (v == NULL)
			return SR_E_INVAL;
		if (html)
			buf_html(b, json_string_value(v));
		else
			sr_strbuf_str(b, json_string_value(v));
		p = close + 2;
	}
	return 0;
}

static const struct sr_embedded_file *find(const char *name, const char *ext)
{
	char path[128];
	snprintf(path, sizeof path, "platform/notify/templates/%s.%s", name, ext);
	return sr_embedded_find(path);
}

int sr_template_render(const struct sr_template_ctx *ctx, struct sr_rendered *out)
{
	int rc;
	json_t *vars = NULL;
	struct sr_strbuf subj = {0}, text = {0}, html = {0}, sms = {0};
	memset(out, 0, sizeof *out);
	if (ctx == NULL || ctx->reference == NULL)
		return SR_E_INVAL;
	if (!sr_template_exists(ctx->name))
		return SR_E_NOTFOUND;
	const struct sr_embedded_file *ft = find(ctx->name, "txt");
	const struct sr_embedded_file *fh = find(ctx->name, "html");
	if (ft == NULL || fh == NULL)
		return SR_E_NOTFOUND;
	if ((rc = load_vars(ctx, &vars)) != 0)
		goto out;

	/* NAME.txt: "Subject: ...\n\n" then the body. */
	const char *t = (const char *)ft->data, *nl = strchr(t, '\n');
	if (strncmp(t, "Subject: ", 9) != 0 || nl == NULL || nl[1] != '\n') {
		rc = SR_E_INTERNAL;
		goto out;
	}
	if ((rc = expand(&subj, t + 9, (size_t)(nl - t - 9), vars, false)) != 0)
		goto out;
	if (subj.p == NULL || (rc = sr_mail_check_header_value(subj.p, SR_MAIL_SUBJECT_MAX)) != 0) {
		rc = rc ? rc : SR_E_INVAL;
		goto out;
	}

	const char *code = ctx->anti_phishing_code;
	bool has_code = code != NULL && code[0] != '\0';
	if (has_code && (rc = check_value(code)) != 0)
		goto out;
	const char *domains = ctx->official_domains ? ctx->official_domains : "";
	if ((rc = check_value(domains)) != 0)
		goto out;
	const char *ref = ctx->reference;

	/* Text: code and reference first, so they show in previews. */
	if (has_code) {
		sr_strbuf_str(&text, "Your anti-phishing code: ");
		sr_strbuf_str(&text, code);
		sr_strbuf_str(&text, "\n");
	}
	sr_strbuf_str(&text, "Message reference: ");
	sr_strbuf_str(&text, ref);
	sr_strbuf_str(&text, "\n\n");
	if ((rc = expand(&text, nl + 2, ft->len - (size_t)(nl + 2 - t), vars, false)) != 0)
		goto out;
	sr_strbuf_str(&text,
		      "\n--\nGenuine messages from strongroom show your anti-phishing code above");
	if (domains[0]) {
		sr_strbuf_str(&text, " and come only from ");
		sr_strbuf_str(&text, domains);
	}
	sr_strbuf_str(&text, ". We never ask by email for your password, card details, codes or "
			     "documents: for anything we need, sign in to the app.\n");

	sr_strbuf_str(&html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
	buf_html(&html, subj.p);
	sr_strbuf_str(&html, "</title></head>\n<body>\n");
	if (has_code) {
		sr_strbuf_str(&html, "<p><strong>Your anti-phishing code: ");
		buf_html(&html, code);
		sr_strbuf_str(&html, "</strong></p>\n");
	}
	sr_strbuf_str(&html, "<p>Message reference: <code>");
	buf_html(&html, ref);
	sr_strbuf_str(&html, "</code></p>\n");
	if ((rc = expand(&html, (const char *)fh->data, fh->len, vars, true)) != 0)
		goto out;
	sr_strbuf_str(&html,
		      "<hr>\n<p><small>Genuine messages from strongroom show your anti-phishing "
		      "code above");
	if (domains[0]) {
		sr_strbuf_str(&html, " and come only from ");
		buf_html(&html, domains);
	}
	sr_strbuf_str(&html, ". We never ask by email for your password, card details, codes or "
			     "documents: for anything we need, sign in to the app.</small></p>\n"
			     "</body></html>\n");

	/* SMS: the subject with the reference and code; no link ever. A
	 * form that does not pass the SMS rules is left NULL: that event
	 * cannot go by text. */
	sr_strbuf_str(&sms, "strongroom: ");
	sr_strbuf_str(&sms, subj.p);
	sr_strbuf_str(&sms, ". Ref ");
	sr_strbuf_str(&sms, ref);
	if (has_code) {
		sr_strbuf_str(&sms, ". Code ");
		sr_strbuf_str(&sms, code);
	}
	if (sr_sms_check_body(sms.p) != 0) {
		free(sms.p);
		sms.p = NULL;
	}
	out->subject = subj.p;
	out->text = text.p;
	out->html = html.p;
	out->sms = sms.p;
	subj.p = text.p = html.p = sms.p = NULL;
	rc = 0;
out:
	json_decref(vars);
	free(subj.p);
	free(text.p);
	free(html.p);
	free(sms.p);
	return rc;
}

void sr_rendered_free(struct sr_rendered *r)
{
	if (r == NULL)
		return;
	/* A render may carry a one-time code (verification, reset): wiped
	 * here, whoever rendered it, not by each caller that knows it might. */
	char *parts[] = {r->subject, r->text, r->html, r->sms};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (parts[i] != NULL)
			sodium_memzero(parts[i], strlen(parts[i]));
		free(parts[i]);
	}
	memset(r, 0, sizeof *r);
}
