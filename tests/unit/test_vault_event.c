/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault's webhook events as the platform reads them: the mapping to
 * member events, the masked destination a member recognises, the date the
 * money moved, currencies in upper case, and refusals naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "platform/vault_event.h"

#include <stdio.h>
#include <string.h>

static int parse(const char *body, struct sr_vault_event *ev, const char **param)
{
	const char *why = NULL, *p = NULL;
	int rc = sr_vault_event_parse(body, strlen(body), ev, &why, &p);
	if (param != NULL)
		*param = p;
	if (rc != 0)
		assert_non_null(why);
	return rc;
}

#define OBJ(type, obj)                                                                             \
	"{\"id\":\"evt_1\",\"type\":\"" type "\",\"created\":1764405600,\"data\":{\"object\":" obj \
	"}}"
#define MEMBER "\"metadata\":{\"member\":\"usr_abc\"}"

static void payout_paid_to_a_card(void **state)
{
	(void)state;
	struct sr_vault_event ev;
	assert_int_equal(parse(OBJ("payout.paid", "{\"id\":\"po_9\",\"amount\":12550,\"currency\":"
						  "\"eur\",\"created\":1764405600,\"destination\":{"
						  "\"type\":\"card\",\"brand\":\"visa\",\"last4\":"
						  "\"4242\"}," MEMBER "}"),
			       &ev, NULL),
			 0);
	assert_string_equal(ev.event, "payout_sent");
	assert_string_equal(ev.member, "usr_abc");
	assert_string_equal(ev.object_id, "po_9");
	assert_string_equal(ev.event_id, "evt_1");
	assert_non_null(strstr(ev.variables, "\"currency\":\"EUR\""));
	assert_non_null(strstr(ev.variables, "\"amount_minor\":12550"));
	assert_non_null(strstr(ev.variables, "\"destination\":\"Visa card ending in 4242\""));
	assert_non_null(strstr(ev.variables, "\"date\":\"2025-11-29 08:40 UTC\""));
	sr_vault_event_clear(&ev);
}

static void every_mapped_type(void **state)
{
	(void)state;
	static const char *const pairs[][2] = {
		{"charge.succeeded", "money_received"},
		{"payout.created", "payout_requested"},
		{"payout.failed", "payout_failed"},
		{"payout.returned", "payout_returned"},
	};
	for (size_t i = 0; i < 4; i++) {
		char body[512];
		struct sr_vault_event ev;
		snprintf(body, sizeof body,
			 "{\"id\":\"evt_2\",\"type\":\"%s\",\"data\":{\"object\":{\"amount\":1,"
			 "\"currency\":\"JPY\",\"destination\":{\"type\":\"bank_account\","
			 "\"last4\":\"6789\"}," MEMBER "}}}",
			 pairs[i][0]);
		assert_int_equal(parse(body, &ev, NULL), 0);
		assert_string_equal(ev.event, pairs[i][1]);
		/* No object id: the event id is the dedup key. */
		assert_string_equal(ev.object_id, "evt_2");
		if (strncmp(pairs[i][1], "payout_", 7) == 0)
			assert_non_null(strstr(ev.variables, "bank account ending in 6789"));
		sr_vault_event_clear(&ev);
	}
}

static void not_for_a_member_is_ignored(void **state)
{
	(void)state;
	struct sr_vault_event ev;
	assert_int_equal(parse(OBJ("card.updated", "{" MEMBER "}"), &ev, NULL), 0);
	assert_null(ev.event);
	assert_null(ev.variables);
	assert_int_equal(
		parse(OBJ("payout.paid", "{\"amount\":5,\"currency\":\"EUR\"}"), &ev, NULL), 0);
	assert_null(ev.event);
	assert_int_equal(parse(OBJ("payout.paid", "{\"amount\":5,\"currency\":\"EUR\","
						  "\"metadata\":{\"member\":\"acct_1\"}}"),
			       &ev, NULL),
			 0);
	assert_null(ev.event);
}

static void refusals_name_the_field(void **state)
{
	(void)state;
	struct sr_vault_event ev;
	const char *param = NULL;
	assert_int_equal(parse("{\"id\":", &ev, &param), SR_E_INVAL);
	assert_null(param);
	assert_int_equal(parse("{\"id\":\"x_1\",\"type\":\"payout.paid\",\"data\":{\"object\":{}}}",
			       &ev, &param),
			 SR_E_INVAL);
	assert_string_equal(param, "id");
	assert_int_equal(
		parse("{\"id\":\"evt_1\",\"type\":\"payout.paid\",\"data\":{}}", &ev, &param),
		SR_E_INVAL);
	assert_string_equal(param, "data.object");
	assert_int_equal(parse(OBJ("payout.paid", "{\"amount\":0,\"currency\":\"EUR\"," MEMBER "}"),
			       &ev, &param),
			 SR_E_INVAL);
	assert_string_equal(param, "data.object.amount");
	assert_int_equal(
		parse(OBJ("payout.paid", "{\"amount\":\"5\",\"currency\":\"EUR\"," MEMBER "}"), &ev,
		      &param),
		SR_E_INVAL);
	assert_string_equal(param, "data.object.amount");
	assert_int_equal(
		parse(OBJ("payout.paid", "{\"amount\":5,\"currency\":\"EURO\"," MEMBER "}"), &ev,
		      &param),
		SR_E_INVAL);
	assert_string_equal(param, "data.object.currency");
}

static void unknown_destination_shapes_stay_vague(void **state)
{
	(void)state;
	struct sr_vault_event ev;
	/* Anything but exactly four digits is not shown. */
	assert_int_equal(
		parse(OBJ("payout.paid", "{\"amount\":5,\"currency\":\"EUR\",\"destination\":"
					 "{\"last4\":\"4242424242424242\"}," MEMBER "}"),
		      &ev, NULL),
		0);
	assert_non_null(strstr(ev.variables, "\"destination\":\"your payout method\""));
	assert_null(strstr(ev.variables, "4242"));
	sr_vault_event_clear(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(payout_paid_to_a_card),
		cmocka_unit_test(every_mapped_type),
		cmocka_unit_test(not_for_a_member_is_ignored),
		cmocka_unit_test(refusals_name_the_field),
		cmocka_unit_test(unknown_destination_shapes_stay_vague),
	};
	return cmocka_run_group_tests_name("vault_event", tests, NULL, NULL);
}
