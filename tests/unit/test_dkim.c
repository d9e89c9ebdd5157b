/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DKIM signing (platform/notify/dkim) checked by an independent verifier:
 * dkimpy (python3-dkim) with the TXT record `strongroom init` wrote standing
 * in for DNS. A signed message verifies; the same message with its subject
 * or body changed does not; an Ed25519 key adds a second signature that
 * verifies too; key files others can read are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "cmd/init.h"
#include "crypto/dkimkey.h"
#include "crypto/x509.h"
#include "platform/notify/dkim.h"
#include "base/mem.h"
#include "platform/notify/mail.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "notify_test.h"

/* Debian's libopendkim 2.11.0~beta2 leaks its Ed25519 key context (an
 * EVP_PKEY and the 80-byte struct holding it) on every ed25519-sha256
 * signature; see platform/notify/dkim.h. Only that leak is suppressed, so
 * any other one still fails the sanitizer build. */
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);
/* Full unwinding, so that leaks allocated inside OpenSSL on behalf of
 * libopendkim (no frame pointers) still show dkim_privkey_load. */
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
const char *__lsan_default_suppressions(void)
{
	return "leak:dkim_privkey_load\n";
}

struct fixture {
	char dir[64];
	char inst[128];
	struct sr_config *cfg;
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	nt_mkdtemp(f->dir, sizeof f->dir, "dkim");
	snprintf(f->inst, sizeof f->inst, "%s/inst", f->dir);
	if (sr_init_instance(f->inst, false, f->err, sizeof f->err) != 0)
		fail_msg("init: %s", f->err);
	char conf[256];
	snprintf(conf, sizeof conf, "%s/strongroom.conf", f->inst);
	assert_int_equal(sr_config_load(conf, &f->cfg, f->err, sizeof f->err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sr_config_free(f->cfg);
	nt_rmrf(f->dir);
	free(f);
	return 0;
}

static char *compose(const char *subject, size_t *len)
{
	struct sr_mail_msg m = {
		.from_name = "strongroom",
		.from_addr = "no-reply@localhost",
		.to_name = "Zoë Ångström",
		.to_addr = "zoe@example.com",
		.subject = subject,
		.text = "You received 12.00 EUR.\nYour anti-phishing code: PLUM-42\n",
		.html = "<p>You received <b>12.00 EUR</b>.</p><p>Code: PLUM-42</p>",
		.ref = "tr_123",
	};
	char *msg = NULL;
	assert_int_equal(sr_mail_compose(&m, &msg, len, NULL, 0), 0);
	return msg;
}

/* Runs dkim_verify.py on the message with the given TXT files; returns its
 * exit status and its report in out. */
static int verify(const struct fixture *f, const char *msg, size_t len, const char *txt1,
		  const char *txt2, char *out, size_t outlen)
{
	char path[256];
	snprintf(path, sizeof path, "%s/msg.eml", f->dir);
	nt_write(path, msg, len);
	const char *args[] = {path, txt1, txt2, NULL};
	return nt_run("dkim_verify.py", args, out, outlen);
}

static void rsa_signature_verifies(void **state)
{
	struct fixture *f = *state;
	struct sr_dkim *d = NULL;
	char txt[256], out[1024];
	snprintf(txt, sizeof txt, "%s/dkim-dns.txt", f->inst);
	if (sr_dkim_from_config(f->cfg, &d, f->err, sizeof f->err) != 0)
		fail_msg("dkim: %s", f->err);

	size_t len, slen;
	char *msg = compose("Payment received — 12,00 €", &len), *sig = NULL;
	assert_int_equal(sr_dkim_sign(d, msg, len, &sig, &slen), 0);
	assert_int_equal(strncmp(sig, "DKIM-Signature: ", 16), 0);
	assert_memory_equal(sig + slen - len, msg, len);
	assert_non_null(strstr(sig, "a=rsa-sha256"));
	assert_non_null(strstr(sig, "c=relaxed/relaxed"));
	assert_non_null(strstr(sig, "d=localhost"));
	assert_non_null(strstr(sig, "s=strongroom"));
	/* Every header the member reads is covered. */
	const char *h = sig;
	while ((h = strstr(h + 1, "h=")) != NULL && h[-1] != ' ' && h[-1] != '\t' && h[-1] != ';')
		; /* skip "bh=" */
	assert_non_null(h);
	char hl[512];
	size_t k = 0;
	for (const char *p = h; *p && *p != ';' && k < sizeof hl - 1; p++)
		if (*p != '\r' && *p != '\n' && *p != '\t' && *p != ' ')
			hl[k++] = (char)tolower((unsigned char)*p);
	hl[k] = '\0';
	static const char *const want[] = {"from",       "to",           "subject",     "date",
					   "message-id", "mime-version", "content-type"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (strstr(hl, want[i]) == NULL)
			fail_msg("%s not signed (%s)", want[i], hl);

	int rc = verify(f, sig, slen, txt, txt, out, sizeof out);
	if (rc != 0)
		fail_msg("dkimpy: %s", out);
	assert_non_null(strstr(out, "ok a=rsa-sha256 d=localhost s=strongroom"));

	/* Tampering is detected: the subject, then one body character. */
	char *bad = strdup(sig);
	char *s = strstr(bad, "\r\nSubject: ");
	assert_non_null(s);
	s[12] ^= 1;
	assert_int_equal(verify(f, bad, slen, txt, txt, out, sizeof out), 1);
	memcpy(bad, sig, slen);
	char *b = strstr(bad, "You received");
	assert_non_null(b);
	b[4] = 'X';
	assert_int_equal(verify(f, bad, slen, txt, txt, out, sizeof out), 1);
	/* ...and a key other than the published one does not verify either. */
	EVP_PKEY *other = NULL;
	char *othertxt = NULL, otherpath[256];
	assert_int_equal(sr_dkimkey_generate_rsa(&other), 0);
	assert_int_equal(sr_dkimkey_dns_txt(other, "strongroom", "localhost", &othertxt), 0);
	snprintf(otherpath, sizeof otherpath, "%s/other-dns.txt", f->dir);
	nt_write(otherpath, othertxt, strlen(othertxt));
	assert_int_equal(verify(f, sig, slen, otherpath, otherpath, out, sizeof out), 1);
	EVP_PKEY_free(other);
	free(othertxt);
	free(bad);
	free(sig);
	free(msg);
	sr_dkim_free(d);
}

static void ed25519_second_signature(void **state)
{
	struct fixture *f = *state;
	if (!sr_dkim_ed25519_supported())
		skip();
	EVP_PKEY *ed = NULL;
	char *edtxt = NULL, keypath[256], txtpath[256], out[1024];
	assert_int_equal(sr_dkimkey_generate_ed25519(&ed), 0);
	snprintf(keypath, sizeof keypath, "%s/ed25519.key", f->dir);
	assert_int_equal(sr_x509_write_key(keypath, ed, 0400), 0);
	/* The Ed25519 key is published under its own selector, SELECTOR-ed25519. */
	assert_int_equal(sr_dkimkey_dns_txt(ed, "strongroom-ed25519", "localhost", &edtxt), 0);
	assert_non_null(strstr(edtxt, "strongroom-ed25519._domainkey.localhost TXT "
				      "\"v=DKIM1; k=ed25519; p="));
	snprintf(txtpath, sizeof txtpath, "%s/ed-dns.txt", f->dir);
	nt_write(txtpath, edtxt, strlen(edtxt));
	char rsatxt[256];
	snprintf(rsatxt, sizeof rsatxt, "%s/dkim-dns.txt", f->inst);

	char *rsakey = sr_config_path(f->cfg, "email", "dkim_key_file");
	struct sr_dkim *d = NULL;
	if (sr_dkim_new("localhost", "strongroom", rsakey, keypath, &d, f->err, sizeof f->err) != 0)
		fail_msg("dkim: %s", f->err);
	size_t len, slen;
	char *msg = compose("Payout sent", &len), *sig = NULL;
	assert_int_equal(sr_dkim_sign(d, msg, len, &sig, &slen), 0);

	/* Both records published: both signatures verify. */
	int rc = verify(f, sig, slen, rsatxt, txtpath, out, sizeof out);
	if (rc != 0)
		fail_msg("dkimpy: %s", out);
	assert_non_null(strstr(out, "ok a=rsa-sha256 d=localhost s=strongroom\n"));
	assert_non_null(strstr(out, "ok a=ed25519-sha256 d=localhost s=strongroom-ed25519\n"));
	/* Without the Ed25519 record that signature fails: it is really checked. */
	rc = verify(f, sig, slen, rsatxt, rsatxt, out, sizeof out);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "ok a=rsa-sha256"));
	assert_non_null(strstr(out, "FAIL a=ed25519-sha256"));

	free(rsakey);
	free(sig);
	free(msg);
	free(edtxt);
	EVP_PKEY_free(ed);
	sr_dkim_free(d);
}

static void refuses_readable_or_bad_keys(void **state)
{
	struct fixture *f = *state;
	struct sr_dkim *d = NULL;
	char *rsakey = sr_config_path(f->cfg, "email", "dkim_key_file");
	char path[256];
	size_t len = 0;
	char *pem = nt_read(rsakey, &len);
	assert_non_null(pem);
	snprintf(path, sizeof path, "%s/readable.key", f->dir);
	nt_write(path, pem, len);
	chmod(path, 0644);
	assert_int_equal(sr_dkim_new("localhost", "s", path, NULL, &d, f->err, sizeof f->err),
			 SR_E_CONFIG);
	assert_null(d);
	assert_non_null(strstr(f->err, "chmod 0400"));
	/* Not a key at all. */
	snprintf(path, sizeof path, "%s/garbage.key", f->dir);
	nt_write(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58);
	chmod(path, 0400);
	assert_int_equal(sr_dkim_new("localhost", "s", path, NULL, &d, f->err, sizeof f->err),
			 SR_E_CRYPTO);
	/* A selector that is not a DNS name. */
	assert_int_equal(sr_dkim_new("localhost", "a b", rsakey, NULL, &d, f->err, sizeof f->err),
			 SR_E_INVAL);
	sr_wipe(pem, len);
	free(pem);
	free(rsakey);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rsa_signature_verifies, setup, teardown),
		cmocka_unit_test_setup_teardown(ed25519_second_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_readable_or_bad_keys, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
