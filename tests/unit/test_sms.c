/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SMS delivery (platform/notify/sms) against a fake Twilio-compatible API on
 * a free loopback port (plain HTTP in development, HTTPS with a test CA in
 * production): the request's method, path with the account SID, basic auth
 * and form fields are what Twilio expects; the reply's sid comes back; 4xx
 * is permanent, 429/5xx temporary; texts with links and numbers that are
 * not E.164 never leave; the development file sink writes JSON lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "platform/notify/sms.h"

#include <jansson.h>

#include "notify_test.h"

#define SID   "ACtest0123456789"
#define TOKEN "tok-s3cret"

struct fixture {
	char dir[64], log[128], tls[128];
	pid_t server;
	int port;
	char base[128];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	nt_mkdtemp(f->dir, sizeof f->dir, "sms");
	snprintf(f->log, sizeof f->log, "%s/requests.log", f->dir);
	snprintf(f->tls, sizeof f->tls, "%s/tls", f->dir);
	assert_int_equal(mkdir(f->tls, 0700), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nt_stop(f->server);
	nt_rmrf(f->dir);
	free(f);
	return 0;
}

static void start(struct fixture *f, bool tls)
{
	const char *args[] = {"--log", f->log, tls ? "--tls-dir" : NULL, f->tls, NULL};
	f->port = nt_start("fake_twilio.py", args, &f->server);
	snprintf(f->base, sizeof f->base, "%s://127.0.0.1:%d", tls ? "https" : "http", f->port);
}

/* The n-th (1-based) recorded request; NULL if there are fewer. */
static json_t *request(const struct fixture *f, int n)
{
	char *text = nt_read(f->log, NULL);
	if (text == NULL)
		return NULL;
	char *line = text;
	for (int i = 1; i < n && line != NULL; i++) {
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	json_t *j = line != NULL && *line ? json_loadb(line, strcspn(line, "\n"), 0, NULL) : NULL;
	free(text);
	return j;
}

static const char *jstr(json_t *j, const char *a, const char *b)
{
	json_t *v = json_object_get(j, a);
	if (b != NULL)
		v = json_object_get(v, b);
	return json_string_value(v);
}

static void sends_like_twilio(void **state)
{
	struct fixture *f = *state;
	struct sr_sms *s = NULL;
	struct sr_notify_result res;
	start(f, false);
	if (sr_sms_new(f->base, SID, TOKEN, "+15005550006", NULL, NULL, 5000, true, &s, f->err,
		       sizeof f->err) != 0)
		fail_msg("sms: %s", f->err);
	const char *body = "strongroom: 12,00 € reçus. Code PLUM-42 & rien d'autre = ok";
	int rc = sr_sms_send(s, "+447700900123", body, &res);
	if (rc != 0)
		fail_msg("send: %s", res.detail);
	assert_string_equal(res.id, "SM00000000000000000000000000000001");
	assert_int_equal(res.code, 201);

	json_t *r = request(f, 1);
	assert_non_null(r);
	assert_string_equal(jstr(r, "method", NULL), "POST");
	assert_string_equal(jstr(r, "path", NULL), "/2010-04-01/Accounts/" SID "/Messages.json");
	assert_string_equal(jstr(r, "user", NULL), SID);
	assert_string_equal(jstr(r, "password", NULL), TOKEN);
	assert_string_equal(jstr(r, "content_type", NULL), "application/x-www-form-urlencoded");
	assert_string_equal(jstr(r, "form", "To"), "+447700900123");
	assert_string_equal(jstr(r, "form", "From"), "+15005550006");
	assert_string_equal(jstr(r, "form", "Body"), body);
	/* '+', '&' and '=' were percent-encoded, not taken as separators. */
	assert_non_null(strstr(jstr(r, "raw", NULL), "To=%2B447700900123"));
	assert_int_equal(json_object_size(json_object_get(r, "form")), 3);
	json_decref(r);

	/* The API's verdicts. */
	assert_int_equal(sr_sms_send(s, "+15005550001", "hello", &res), SR_E_INVAL);
	assert_false(res.temporary);
	assert_int_equal(res.code, 400);
	assert_non_null(strstr(res.detail, "not valid"));
	assert_int_equal(sr_sms_send(s, "+15005550002", "hello", &res), SR_E_RETRY);
	assert_true(res.temporary);
	assert_int_equal(res.code, 503);
	assert_int_equal(sr_sms_send(s, "+15005550003", "hello", &res), SR_E_RETRY);
	assert_int_equal(res.code, 429);
	assert_int_equal(sr_sms_send(s, "+15005550004", "hello", &res), SR_E_RETRY);
	assert_int_equal(res.code, 201); /* accepted but no sid: not proof of delivery */

	/* Refused before any request: links, length, numbers. */
	static const char *const links[] = {"see http://x.example", "HTTPS://x", "go to www.x.com",
					    "ftp://x", "Www.evil.example"};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
		assert_int_equal(sr_sms_send(s, "+447700900123", links[i], &res), SR_E_INVAL);
	char lng[SR_SMS_BODY_MAX * 2 + 3] = "";
	for (int i = 0; i < SR_SMS_BODY_MAX; i++)
		memcpy(lng + 2 * i, "é", 2); /* 320 characters, 640 bytes: fine */
	assert_int_equal(sr_sms_check_body(lng), 0);
	lng[2 * SR_SMS_BODY_MAX] = 'x';
	assert_int_equal(sr_sms_check_body(lng), SR_E_LIMIT);
	assert_int_equal(sr_sms_send(s, "+447700900123", lng, &res), SR_E_INVAL);
	static const char *const bad[] = {"447700900123",
					  "+0447700900123",
					  "+44 7700 900123",
					  "+1234",
					  "+1234567890123456",
					  "+44770090012a",
					  ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sr_sms_send(s, bad[i], "hello", &res), SR_E_INVAL);
	/* Five requests reached the server, no more. */
	json_t *last = request(f, 5), *none = request(f, 6);
	assert_non_null(last);
	assert_null(none);
	json_decref(last);
	sr_sms_free(s);
}

static void https_in_production(void **state)
{
	struct fixture *f = *state;
	struct sr_sms *s = NULL;
	struct sr_notify_result res;
	char ca[256];
	start(f, true);
	snprintf(ca, sizeof ca, "%s/ca.crt", f->tls);
	if (sr_sms_new(f->base, SID, TOKEN, "+15005550006", NULL, ca, 5000, false, &s, f->err,
		       sizeof f->err) != 0)
		fail_msg("sms: %s", f->err);
	int rc = sr_sms_send(s, "+447700900123", "Payout sent. Code PLUM-42", &res);
	if (rc != 0)
		fail_msg("send: %s", res.detail);
	assert_int_equal(strncmp(res.id, "SM", 2), 0);
	sr_sms_free(s);

	/* Plain HTTP is for a development instance on loopback only. */
	char plain[128];
	snprintf(plain, sizeof plain, "http://127.0.0.1:%d", f->port);
	assert_int_equal(sr_sms_new(plain, SID, TOKEN, "+15005550006", NULL, NULL, 5000, false, &s,
				    f->err, sizeof f->err),
			 SR_E_CONFIG);
	assert_int_equal(sr_sms_new("http://sms.example.com", SID, TOKEN, "+15005550006", NULL,
				    NULL, 5000, true, &s, f->err, sizeof f->err),
			 SR_E_CONFIG);
	assert_int_equal(sr_sms_new(f->base, "AC/../x", TOKEN, "+15005550006", NULL, NULL, 5000,
				    false, &s, f->err, sizeof f->err),
			 SR_E_INVAL);
	assert_int_equal(sr_sms_new(f->base, SID, TOKEN, "5550006", NULL, NULL, 5000, false, &s,
				    f->err, sizeof f->err),
			 SR_E_INVAL);
	/* No file sink in production. */
	assert_int_equal(sr_sms_new("", SID, TOKEN, "+15005550006", "sms.log", NULL, 5000, false,
				    &s, f->err, sizeof f->err),
			 SR_E_CONFIG);
}

static void development_file(void **state)
{
	struct fixture *f = *state;
	struct sr_sms *s = NULL;
	struct sr_notify_result res;
	char path[256];
	snprintf(path, sizeof path, "%s/sms.log", f->dir);
	assert_int_equal(sr_sms_new("", NULL, NULL, "+15005550006", path, NULL, 0, true, &s, f->err,
				    sizeof f->err),
			 0);
	assert_int_equal(sr_sms_send(s, "+447700900123", "Première \"ligne\"\nseconde", &res), 0);
	assert_int_equal(strncmp(res.id, "dev_", 4), 0);
	assert_int_equal(sr_sms_send(s, "+447700900124", "two", &res), 0);
	assert_int_equal(sr_sms_send(s, "+447700900124", "http://x", &res), SR_E_INVAL);
	char *text = nt_read(path, NULL);
	assert_non_null(text);
	char *nl = strchr(text, '\n');
	assert_non_null(nl);
	json_t *j = json_loadb(text, (size_t)(nl - text), 0, NULL);
	assert_non_null(j);
	assert_string_equal(jstr(j, "to", NULL), "+447700900123");
	assert_string_equal(jstr(j, "from", NULL), "+15005550006");
	assert_string_equal(jstr(j, "body", NULL), "Première \"ligne\"\nseconde");
	json_decref(j);
	assert_non_null(strstr(nl + 1, "\"two\""));
	assert_null(strchr(strchr(nl + 1, '\n') + 1, '\n'));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(text);
	sr_sms_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(sends_like_twilio, setup, teardown),
		cmocka_unit_test_setup_teardown(https_in_production, setup, teardown),
		cmocka_unit_test_setup_teardown(development_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
