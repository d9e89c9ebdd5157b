/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault's webhook events as the platform reads them (vault_event.h):
 * which member event a vault event is, for whom, and the masked values the
 * member's message shows. Pure (no I/O), so it is fuzzed on its own
 * (tests/fuzz/fuzz_vault_event.c). Input is outside data even after the
 * signature check: every value is bounded and checked here, and the
 * templates check them again when rendering.
 */
#include "platform/vault_event.h"
#include "base/mem.h"
#include "lib/money.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The vault events that concern a member, and what the member hears. */
static const struct {
	const char *type, *event;
} MAP[] = {
	{"charge.succeeded", "money_received"}, {"payout.created", "payout_requested"},
	{"payout.paid", "payout_sent"},         {"payout.failed", "payout_failed"},
	{"payout.returned", "payout_returned"},
};

static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return false;
	return n > 0 && n <= max;
}

/* A card or bank account as the member recognises it, never more than the
 * last four digits: "Visa card ending in 4242", "bank account ending in
 * 6789". Accepts data.object.destination as such a string already, or as
 * an object {type, brand, last4}. */
static char *destination_text(json_t *obj)
{
	json_t *d = json_object_get(obj, "destination");
	if (json_is_string(d) && json_string_length(d) > 0 && json_string_length(d) <= 64)
		return sr_xstrdup(json_string_value(d));
	if (!json_is_object(d))
		return sr_xstrdup("your payout method");
	const char *last4 = json_string_value(json_object_get(d, "last4"));
	const char *brand = json_string_value(json_object_get(d, "brand"));
	const char *type = json_string_value(json_object_get(d, "type"));
	if (last4 == NULL || strlen(last4) != 4 || strspn(last4, "0123456789") != 4)
		return sr_xstrdup("your payout method");
	if (type != NULL && strcmp(type, "bank_account") == 0)
		return sr_xasprintf("bank account ending in %s", last4);
	if (brand != NULL && strlen(brand) <= 24 &&
	    strspn(brand, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ _-") == strlen(brand)) {
		char b[25];
		snprintf(b, sizeof b, "%s", brand);
		if (b[0] >= 'a' && b[0] <= 'z')
			b[0] = (char)(b[0] - 'a' + 'A');
		return sr_xasprintf("%s card ending in %s", b, last4);
	}
	return sr_xasprintf("card ending in %s", last4);
}

int sr_vault_event_parse(const void *body, size_t len, struct sr_vault_event *job,
			 const char **why_out, const char **param_out)
{
	json_error_t e;
	const char *why = NULL, *param = NULL;
	memset(job, 0, sizeof *job);
	*why_out = *param_out = NULL;
	json_t *ev = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &e);
	json_t *id = json_object_get(ev, "id"), *type = json_object_get(ev, "type");
	json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
	if (ev == NULL || !json_is_object(ev)) {
		why = "The body must be a JSON event object.";
	} else if (!json_is_string(id) || strncmp(json_string_value(id), "evt_", 4) != 0 ||
		   !printable(json_string_value(id), SR_WEBHOOK_EVENT_ID_SIZE - 1)) {
		why = "id must be the event id (evt_...).";
		param = "id";
	} else if (!json_is_string(type) || !printable(json_string_value(type), 63)) {
		why = "type must be the event type (e.g. payout.paid).";
		param = "type";
	} else if (!json_is_object(obj)) {
		why = "data.object must be the object the event is about.";
		param = "data.object";
	}
	if (why != NULL)
		goto out;
	snprintf(job->event_id, sizeof job->event_id, "%s", json_string_value(id));
	snprintf(job->type, sizeof job->type, "%s", json_string_value(type));
	for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
		if (strcmp(MAP[i].type, job->type) == 0)
			job->event = MAP[i].event;
	const char *member =
		json_string_value(json_object_get(json_object_get(obj, "metadata"), "member"));
	/* Not about a member (a marketplace charge, another type): received
	 * and ignored, so the vault stops retrying it. */
	if (job->event == NULL || member == NULL || strncmp(member, "usr_", 4) != 0 ||
	    !printable(member, SR_USER_ID_SIZE - 1)) {
		job->event = NULL;
		goto out;
	}
	snprintf(job->member, sizeof job->member, "%s", member);
	const char *oid = json_string_value(json_object_get(obj, "id"));
	snprintf(job->object_id, sizeof job->object_id, "%s",
		 oid && printable(oid, sizeof job->object_id - 1) ? oid : job->event_id);
	json_t *amount = json_object_get(obj, "amount");
	const char *currency = json_string_value(json_object_get(obj, "currency"));
	if (!json_is_integer(amount) || json_integer_value(amount) <= 0) {
		why = "data.object.amount must be a positive integer in minor units.";
		param = "data.object.amount";
		goto out;
	}
	if (currency == NULL || sr_money_exponent(currency) < 0) {
		why = "data.object.currency must be an ISO 4217 currency code.";
		param = "data.object.currency";
		goto out;
	}
	/* The date the member reads is when the money moved at the vault. */
	json_t *created = json_object_get(obj, "created");
	if (!json_is_integer(created))
		created = json_object_get(ev, "created");
	char date[32] = "";
	if (json_is_integer(created) && json_integer_value(created) > 0) {
		time_t t = (time_t)json_integer_value(created);
		struct tm tm;
		if (gmtime_r(&t, &tm) != NULL)
			strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
	}
	/* ISO 4217 codes are answered in upper case everywhere. */
	char cur[4] = "";
	for (size_t i = 0; i < 3 && currency[i]; i++)
		cur[i] = (char)(currency[i] >= 'a' && currency[i] <= 'z' ? currency[i] - 32
									 : currency[i]);
	json_t *vars = json_pack("{s:I, s:s}", "amount_minor",
				 (json_int_t)json_integer_value(amount), "currency", cur);
	if (date[0] != '\0')
		json_object_set_new(vars, "date", json_string(date));
	if (strncmp(job->event, "payout_", 7) == 0) {
		char *dest = destination_text(obj);
		json_object_set_new(vars, "destination", json_string(dest));
		free(dest);
	}
	job->variables = json_dumps(vars, JSON_COMPACT);
	json_decref(vars);
out:
	json_decref(ev);
	if (why != NULL) {
		sr_vault_event_clear(job);
		*why_out = why;
		*param_out = param;
		return SR_E_INVAL;
	}
	return 0;
}

void sr_vault_event_clear(struct sr_vault_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->variables);
	memset(ev, 0, sizeof *ev);
}
