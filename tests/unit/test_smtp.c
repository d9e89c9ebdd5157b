/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SMTP delivery (platform/notify/smtp) against a real aiosmtpd server on a
 * free loopback port: a composed, DKIM-signed message arrives byte for byte
 * and dkimpy verifies it; STARTTLS with a test CA works and is required
 * outside development; a relay without STARTTLS is refused in production;
 * 451 replies are temporary and 550 permanent; a closed port is temporary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "cmd/init.h"
#include "platform/notify/dkim.h"
#include "platform/notify/mail.h"
#include "platform/notify/smtp.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "notify_test.h"

struct fixture {
	char dir[64];
	char inst[128], out[128], tls[128];
	struct sr_dkim *dkim;
	pid_t server;
	int port;
	char url[128];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct sr_config *cfg = NULL;
	char conf[256];
	nt_mkdtemp(f->dir, sizeof f->dir, "smtp");
	snprintf(f->inst, sizeof f->inst, "%s/inst", f->dir);
	snprintf(f->out, sizeof f->out, "%s/out", f->dir);
	snprintf(f->tls, sizeof f->tls, "%s/tls", f->dir);
	assert_int_equal(mkdir(f->out, 0700), 0);
	assert_int_equal(mkdir(f->tls, 0700), 0);
	if (sr_init_instance(f->inst, false, f->err, sizeof f->err) != 0)
		fail_msg("init: %s", f->err);
	snprintf(conf, sizeof conf, "%s/strongroom.conf", f->inst);
	assert_int_equal(sr_config_load(conf, &cfg, f->err, sizeof f->err), 0);
	if (sr_dkim_from_config(cfg, &f->dkim, f->err, sizeof f->err) != 0)
		fail_msg("dkim: %s", f->err);
	sr_config_free(cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	nt_stop(f->server);
	sr_dkim_free(f->dkim);
	nt_rmrf(f->dir);
	free(f);
	return 0;
}

/* Starts the SMTP server with extra arguments (NULL-terminated). */
static void start(struct fixture *f, const char *a1, const char *a2)
{
	const char *args[] = {"--out", f->out, a1, a2, NULL};
	f->port = nt_start("smtp_server.py", args, &f->server);
	snprintf(f->url, sizeof f->url, "smtp://127.0.0.1:%d", f->port);
}

static char *signed_message(struct fixture *f, const char *to, size_t *len)
{
	struct sr_mail_msg m = {
		.from_name = "strongroom",
		.from_addr = "no-reply@localhost",
		.to_name = "Søren Kierkegaard",
		.to_addr = to,
		.subject = "Überweisung eingegangen: 12,00 €",
		.text = "A transfer of 12.00 EUR reached your account.\n.\nCode: PLUM-42\n",
		.html = "<p>A transfer of <b>12.00 EUR</b> reached your account.</p>",
		.ref = "tr_1",
	};
	char *msg = NULL, *sig = NULL;
	size_t mlen;
	assert_int_equal(sr_mail_compose(&m, &msg, &mlen, NULL, 0), 0);
	assert_int_equal(sr_dkim_sign(f->dkim, msg, mlen, &sig, len), 0);
	free(msg);
	return sig;
}

static void check_received(struct fixture *f, int n, const char *sent, size_t len,
			   const char *transport)
{
	char path[256], txt[256], out[1024];
	size_t got_len = 0;
	snprintf(path, sizeof path, "%s/%d.eml", f->out, n);
	char *got = nt_read(path, &got_len);
	assert_non_null(got);
	/* Byte for byte what we signed (the "." line was dot-stuffed and
	 * unstuffed on the way). */
	assert_int_equal(got_len, len);
	assert_memory_equal(got, sent, len);
	snprintf(txt, sizeof txt, "%s/dkim-dns.txt", f->inst);
	const char *args[] = {path, txt, NULL};
	int rc = nt_run("dkim_verify.py", args, out, sizeof out);
	if (rc != 0)
		fail_msg("dkimpy: %s", out);
	free(got);
	snprintf(path, sizeof path, "%s/%d.env", f->out, n);
	char *env = nt_read(path, NULL);
	assert_non_null(env);
	char want[256];
	snprintf(want, sizeof want, "no-reply@localhost\nmember@example.com\n%s\n", transport);
	assert_string_equal(env, want);
	free(env);
}

static void plain_loopback_in_development(void **state)
{
	struct fixture *f = *state;
	struct sr_notify_result res;
	start(f, NULL, NULL);
	size_t len;
	char *msg = signed_message(f, "member@example.com", &len);
	struct sr_smtp_opts o = {.url = f->url, .timeout_ms = 10000, .development = true};
	int rc = sr_smtp_send(&o, "no-reply@localhost", "member@example.com", msg, len, &res);
	if (rc != 0)
		fail_msg("send: %s", res.detail);
	assert_int_equal(res.code, 250);
	assert_non_null(strstr(res.id, "queued as TEST0001"));
	check_received(f, 1, msg, len, "plain");

	/* The same plain relay in production: STARTTLS is required, the relay
	 * does not offer it, nothing is sent. */
	o.development = false;
	rc = sr_smtp_send(&o, "no-reply@localhost", "member@example.com", msg, len, &res);
	assert_int_equal(rc, SR_E_RETRY);
	assert_true(res.temporary);
	char path[256];
	snprintf(path, sizeof path, "%s/2.eml", f->out);
	assert_int_equal(access(path, F_OK), -1);
	free(msg);
}

static void starttls_required_and_verified(void **state)
{
	struct fixture *f = *state;
	struct sr_notify_result res;
	char ca[256];
	start(f, "--tls-dir", f->tls);
	snprintf(ca, sizeof ca, "%s/ca.crt", f->tls);
	size_t len;
	char *msg = signed_message(f, "member@example.com", &len);
	struct sr_smtp_opts o = {.url = f->url, .ca_file = ca, .timeout_ms = 10000};
	int rc = sr_smtp_send(&o, "no-reply@localhost", "member@example.com", msg, len, &res);
	if (rc != 0)
		fail_msg("send: %s", res.detail);
	check_received(f, 1, msg, len, "tls");

	/* Without the test CA the certificate does not verify: refused. */
	o.ca_file = NULL;
	char sysca[] = "/dev/null";
	o.ca_file = sysca;
	rc = sr_smtp_send(&o, "no-reply@localhost", "member@example.com", msg, len, &res);
	assert_int_equal(rc, SR_E_RETRY);
	free(msg);
}

static void temporary_then_success(void **state)
{
	struct fixture *f = *state;
	struct sr_notify_result res;
	start(f, "--fail-first", "2");
	size_t len;
	char *msg = signed_message(f, "member@example.com", &len);
	struct sr_smtp_opts o = {.url = f->url, .timeout_ms = 10000, .development = true};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sr_smtp_send(&o, "no-reply@localhost", "member@example.com", msg,
					      len, &res),
				 SR_E_RETRY);
		assert_true(res.temporary);
		assert_int_equal(res.code, 451);
		assert_non_null(strstr(res.detail, "451"));
	}
	assert_int_equal(
		sr_smtp_send(&o, "no-reply@localhost", "member@example.com", msg, len, &res), 0);
	assert_false(res.temporary);
	check_received(f, 1, msg, len, "plain");

	/* A 5xx is permanent. */
	assert_int_equal(
		sr_smtp_send(&o, "no-reply@localhost", "reject@example.com", msg, len, &res),
		SR_E_INVAL);
	assert_false(res.temporary);
	assert_int_equal(res.code, 550);
	free(msg);
}

static void refusals(void **state)
{
	struct fixture *f = *state;
	struct sr_notify_result res;
	static const char msg[] = "Subject: x\r\n\r\nx\r\n";
	/* A port nobody listens on: bind one, read it, close it. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	close(s);
	snprintf(f->url, sizeof f->url, "smtp://127.0.0.1:%d", ntohs(a.sin_port));
	struct sr_smtp_opts o = {.url = f->url, .timeout_ms = 5000, .development = true};
	assert_int_equal(
		sr_smtp_send(&o, "a@localhost", "b@example.com", msg, sizeof msg - 1, &res),
		SR_E_RETRY);
	assert_true(res.temporary);
	/* Envelope injection and wrong schemes never reach the network. */
	assert_int_equal(sr_smtp_send(&o, "a@localhost", "b@example.com>\r\nRCPT TO:<c@example.com",
				      msg, sizeof msg - 1, &res),
			 SR_E_INVAL);
	o.url = "http://127.0.0.1:25";
	assert_int_equal(
		sr_smtp_send(&o, "a@localhost", "b@example.com", msg, sizeof msg - 1, &res),
		SR_E_CONFIG);
	o.url = "";
	assert_int_equal(
		sr_smtp_send(&o, "a@localhost", "b@example.com", msg, sizeof msg - 1, &res),
		SR_E_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(plain_loopback_in_development, setup, teardown),
		cmocka_unit_test_setup_teardown(starttls_required_and_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(temporary_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
