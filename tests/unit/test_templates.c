/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Notification templates: every event renders with the anti-phishing code
 * on top and the reference; values are HTML-escaped and refused with
 * control characters; a missing variable is refused; no template asks the
 * member for a password, card data or documents, or to reply or attach.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "platform/notify/templates.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *all_vars =
	"{\"amount_minor\":1050,\"currency\":\"usd\",\"destination\":\"card •••• 4242\","
	"\"code\":\"123456\",\"device\":\"Firefox on Linux\",\"location\":\"Paris, FR\","
	"\"new_email\":\"m•••@example.com\",\"new_phone\":\"+33 •• •• •• 12\"}";

static char *lower(const char *s)
{
	char *p = strdup(s);
	for (char *q = p; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	return p;
}

static void every_template(void **state)
{
	(void)state;
	/* Asking for these by email is what phishing does. */
	static const char *const forbidden[] = {"enter your password",
						"confirm your password",
						"send us",
						"reply with",
						"reply to this",
						"attach",
						"card number",
						"cvc",
						"cvv",
						"upload",
						"your passport",
						"click here",
						"http://",
						NULL};
	for (size_t i = 0; sr_template_names[i] != NULL; i++) {
		struct sr_rendered r;
		struct sr_template_ctx ctx = {.name = sr_template_names[i],
					      .variables_json = all_vars,
					      .reference = "msg_abc",
					      .anti_phishing_code = "PLUM-42",
					      .date = "2024-05-01 12:00 UTC",
					      .official_domains = "example.com"};
		if (sr_template_render(&ctx, &r) != 0)
			fail_msg("%s does not render", sr_template_names[i]);
		/* The code comes first, then the reference. */
		assert_int_equal(strncmp(r.text, "Your anti-phishing code: PLUM-42\n", 33), 0);
		assert_non_null(strstr(r.text, "msg_abc"));
		assert_non_null(strstr(r.html, "PLUM-42"));
		assert_true(strstr(r.html, "PLUM-42") < strstr(r.html, "<p>Message reference"));
		assert_null(strstr(r.text, "{{"));
		assert_null(strstr(r.html, "{{"));
		assert_non_null(r.sms);
		const char *parts[] = {r.subject, r.text, r.html, r.sms};
		for (size_t p = 0; p < 4; p++) {
			char *l = lower(parts[p]);
			for (size_t k = 0; forbidden[k] != NULL; k++)
				if (strstr(l, forbidden[k]) != NULL)
					fail_msg("%s contains '%s'", sr_template_names[i],
						 forbidden[k]);
			free(l);
		}
		sr_rendered_free(&r);
	}
}

static void money_and_escaping(void **state)
{
	(void)state;
	struct sr_rendered r;
	struct sr_template_ctx ctx = {.name = "payout_sent",
				      .variables_json =
					      "{\"amount_minor\":-5,\"currency\":\"KWD\","
					      "\"destination\":\"<b>Bank & Co</b> \\\"x\\\"\"}",
				      .reference = "msg_1",
				      .date = "2024-05-01 12:00 UTC"};
	assert_int_equal(sr_template_render(&ctx, &r), 0);
	assert_string_equal(r.subject, "Payout sent: -0.005 KWD");
	assert_non_null(strstr(r.html, "&lt;b&gt;Bank &amp; Co&lt;/b&gt; &quot;x&quot;"));
	assert_null(strstr(r.html, "<b>Bank"));
	assert_non_null(strstr(r.text, "<b>Bank & Co</b>"));
	/* No code set: no code line, the reference leads. */
	assert_int_equal(strncmp(r.text, "Message reference: msg_1\n", 25), 0);
	sr_rendered_free(&r);

	/* A line break in a value could forge a header or a text line. */
	ctx.variables_json =
		"{\"amount_minor\":1,\"currency\":\"EUR\",\"destination\":\"a\\r\\nBcc: x\"}";
	assert_int_equal(sr_template_render(&ctx, &r), SR_E_INVAL);
	assert_null(r.text);
	/* Missing variable, unknown currency, non-object, nested value. */
	ctx.variables_json = "{\"amount_minor\":1,\"currency\":\"EUR\"}";
	assert_int_equal(sr_template_render(&ctx, &r), SR_E_INVAL);
	ctx.variables_json = "{\"amount_minor\":1,\"currency\":\"XYZ\",\"destination\":\"a\"}";
	assert_int_equal(sr_template_render(&ctx, &r), SR_E_INVAL);
	ctx.variables_json = "[1]";
	assert_int_equal(sr_template_render(&ctx, &r), SR_E_INVAL);
	ctx.variables_json = "{\"destination\":{\"a\":1}}";
	assert_int_equal(sr_template_render(&ctx, &r), SR_E_INVAL);
	ctx.name = "nope";
	assert_int_equal(sr_template_render(&ctx, &r), SR_E_NOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_template),
		cmocka_unit_test(money_and_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
