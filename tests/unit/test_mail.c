/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message composition (platform/notify/mail) and the Maildir sink: header
 * injection through names, addresses and subjects is refused; non-ASCII
 * subjects and names become RFC 2047 words that decode back; Message-IDs
 * are unique and carry the reference; bodies are quoted-printable with short
 * lines; the From check against official domains; a delivered Maildir file
 * is the same message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "platform/notify/mail.h"
#include "platform/notify/maildir.h"

#include <dirent.h>
#include <sodium.h>

#include "notify_test.h"

static struct sr_mail_msg base_msg(void)
{
	struct sr_mail_msg m = {
		.from_name = "strongroom",
		.from_addr = "no-reply@localhost",
		.to_name = "Ada Lovelace",
		.to_addr = "ada@example.com",
		.subject = "Payout sent",
		.text = "Your payout of 10.00 EUR is on its way.\n",
		.html = "<p>Your payout of 10.00 EUR is on its way.</p>",
		.ref = "po_42",
		.date = 1700000000,
	};
	return m;
}

static void header_injection_refused(void **state)
{
	(void)state;
	static const char *const evil[] = {
		"x\r\nBcc: victim@example.com",
		"x\nBcc: v@example.com",
		"x\rBcc: v@example.com",
		"tab\there",
		"nul",
		"bad utf8 \xc3\x28",
		"overlong \xc0\xaf",
	};
	char *out = NULL;
	size_t len;
	for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
		struct sr_mail_msg m = base_msg();
		m.subject = evil[i];
		if (i == 4) {
			/* An embedded NUL simply ends the C string; the rest is
			 * invisible and harmless. Check DEL instead. */
			m.subject = "del \x7f";
		}
		assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), SR_E_INVAL);
		assert_null(out);
		m = base_msg();
		m.to_name = evil[i];
		if (i == 4)
			m.to_name = "del \x7f";
		assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), SR_E_INVAL);
		m = base_msg();
		m.from_name = evil[i];
		if (i == 4)
			m.from_name = "del \x7f";
		assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), SR_E_INVAL);
	}
	static const char *const bad_addr[] = {
		"ada@example.com\r\nBcc: v@example.com",
		"ada@example.com>",
		"<ada@example.com",
		"ada example@example.com",
		"ada@",
		"@example.com",
		"ada@exa mple.com",
		"ada@-example.com",
		"ada..x@example.com",
		"ada@[127.0.0.1]",
		"\"ada\"@example.com",
	};
	for (size_t i = 0; i < sizeof bad_addr / sizeof bad_addr[0]; i++) {
		struct sr_mail_msg m = base_msg();
		m.to_addr = bad_addr[i];
		if (sr_mail_compose(&m, &out, &len, NULL, 0) != SR_E_INVAL)
			fail_msg("accepted to=%s", bad_addr[i]);
	}
	/* Too long. */
	char lng[SR_MAIL_SUBJECT_MAX + 2];
	memset(lng, 'a', sizeof lng - 1);
	lng[sizeof lng - 1] = '\0';
	struct sr_mail_msg m = base_msg();
	m.subject = lng;
	assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), SR_E_LIMIT);
	/* A reference that could break the Message-ID. */
	m = base_msg();
	m.ref = "a>b";
	assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), SR_E_INVAL);
}

/* Decodes all =?UTF-8?B?...?= words of a header value (joined, folding
 * removed) into out. */
static void decode_words(const char *v, char *out, size_t outlen)
{
	size_t n = 0;
	const char *p = v;
	while ((p = strstr(p, "=?UTF-8?B?")) != NULL) {
		p += 10;
		const char *e = strstr(p, "?=");
		assert_non_null(e);
		/* RFC 2047: at most 75 characters per word. */
		assert_true((size_t)(e - p) + 12 <= 75);
		size_t got = 0;
		assert_int_equal(sodium_base642bin((unsigned char *)out + n, outlen - n - 1, p,
						   (size_t)(e - p), NULL, &got, NULL,
						   sodium_base64_VARIANT_ORIGINAL),
				 0);
		n += got;
		p = e + 2;
	}
	out[n] = '\0';
}

/* The value of header name (first occurrence, with folded lines). */
static char *header(const char *msg, const char *name)
{
	char key[64];
	snprintf(key, sizeof key, "\r\n%s: ", name);
	const char *p = strncmp(msg, key + 2, strlen(key) - 2) == 0 ? msg + strlen(key) - 2 : NULL;
	if (p == NULL) {
		p = strstr(msg, key);
		assert_non_null(p);
		p += strlen(key);
	}
	const char *e = p;
	while (!(e[0] == '\r' && e[1] == '\n' && e[2] != ' ' && e[2] != '\t'))
		e++;
	return strndup(p, (size_t)(e - p));
}

static void non_ascii_encoded(void **state)
{
	(void)state;
	struct sr_mail_msg m = base_msg();
	/* Long enough to need several encoded words, with multi-byte
	 * characters that must not be split between words. */
	m.subject = "Virement reçu : 1 234,56 € — merci, Zoë ! Ünïcödé ✓ 支付已收到 🎉 fin";
	m.to_name = "Zoë \"the\" Ångström";
	char *out = NULL;
	size_t len;
	assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), 0);
	/* Every byte 7-bit, every line under 998 octets (78 for headers). */
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		assert_true((unsigned char)out[i] < 0x80);
		line = out[i] == '\n' ? 0 : line + 1;
		assert_true(line <= 78);
	}
	char *subj = header(out, "Subject");
	assert_non_null(strstr(subj, "\r\n ")); /* folded */
	char dec[512];
	decode_words(subj, dec, sizeof dec);
	assert_string_equal(dec, m.subject);
	char *to = header(out, "To");
	decode_words(to, dec, sizeof dec);
	assert_string_equal(dec, m.to_name);
	assert_non_null(strstr(to, "<ada@example.com>"));
	/* An ASCII name with a quote becomes a quoted-string. */
	char *from = header(out, "From");
	assert_string_equal(from, "\"strongroom\" <no-reply@localhost>");
	char *date = header(out, "Date");
	assert_string_equal(date, "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_non_null(strstr(out, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(out, "Content-Type: multipart/alternative;\r\n boundary=\"=_sr_"));
	assert_non_null(strstr(out, "Content-Type: text/plain; charset=utf-8\r\n"
				    "Content-Transfer-Encoding: quoted-printable\r\n"));
	assert_non_null(strstr(out, "Content-Type: text/html; charset=utf-8\r\n"));
	free(subj);
	free(to);
	free(from);
	free(date);
	free(out);

	char enc[64];
	assert_int_equal(sr_mail_encode_header("Ada \"A\" L.", 64, 1, enc, sizeof enc), 0);
	assert_string_equal(enc, "\"Ada \\\"A\\\" L.\"");
	/* Text that looks like an encoded word is encoded, not passed through. */
	assert_int_equal(sr_mail_encode_header("=?UTF-8?B?eA==?=", 64, 0, enc, sizeof enc), 0);
	decode_words(enc, dec, sizeof dec);
	assert_string_equal(dec, "=?UTF-8?B?eA==?=");
	/* Output too small: a defined error, never a truncated header. */
	assert_int_equal(sr_mail_encode_header("Zoë Ångström", 64, 1, enc, 10), SR_E_LIMIT);
}

static void quoted_printable_body(void **state)
{
	(void)state;
	struct sr_mail_msg m = base_msg();
	char text[600];
	/* A long line, '=' signs, a leading dot, trailing space, UTF-8. */
	snprintf(text, sizeof text, "%s\n.hidden\ntrailing \nx=y café\n",
		 "0123456789012345678901234567890123456789012345678901234567890123456789"
		 "0123456789012345678901234567890123456789");
	m.text = text;
	m.html = NULL;
	char *out = NULL;
	size_t len;
	assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), 0);
	const char *body = strstr(out, "\r\n\r\n") + 4;
	assert_non_null(strstr(out, "Content-Type: text/plain; charset=utf-8\r\n"));
	assert_null(strstr(out, "multipart"));
	assert_non_null(strstr(body, "=\r\n"));             /* soft break */
	assert_non_null(strstr(body, "\r\n=2Ehidden\r\n")); /* no bare leading dot */
	assert_non_null(strstr(body, "trailing=20\r\n"));
	assert_non_null(strstr(body, "x=3Dy caf=C3=A9\r\n"));
	for (const char *l = body; *l;) {
		const char *e = strstr(l, "\r\n");
		assert_non_null(e);
		assert_true(e - l <= 76);
		l = e + 2;
	}
	free(out);
	/* Invalid UTF-8 in a body is refused. */
	m.text = "caf\xe9";
	assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), SR_E_INVAL);
}

static void message_ids_unique(void **state)
{
	(void)state;
	enum { N = 200 };
	static char ids[N][SR_MAIL_MSGID_MAX];
	for (int i = 0; i < N; i++) {
		struct sr_mail_msg m = base_msg();
		char *out = NULL;
		size_t len;
		assert_int_equal(sr_mail_compose(&m, &out, &len, ids[i], sizeof ids[i]), 0);
		/* <ref.random@domain> */
		const char *h = strstr(out, "\r\nMessage-ID: <");
		assert_non_null(h);
		h += 15;
		assert_int_equal(strncmp(h, ids[i], strlen(ids[i])), 0);
		assert_int_equal(strncmp(h + strlen(ids[i]), ">\r\n", 3), 0);
		assert_int_equal(strncmp(ids[i], "po_42.", 6), 0);
		assert_int_equal(strlen(ids[i]), 6 + 32 + strlen("@localhost"));
		assert_string_equal(ids[i] + 6 + 32, "@localhost");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ids[i], ids[j]);
		free(out);
	}
}

static void from_must_be_official(void **state)
{
	(void)state;
	struct sr_config *cfg = NULL;
	char err[512];
	assert_int_equal(sr_config_load(NULL, &cfg, err, sizeof err), 0);
	assert_int_equal(sr_mail_check_from(cfg, err, sizeof err), 0);
	sr_config_free(cfg);

	setenv("STRONGROOM_EMAIL_FROM", "Market <no-reply@market.example>", 1);
	setenv("STRONGROOM_EMAIL_OFFICIAL_DOMAINS", "mail.market.example, Market.Example", 1);
	setenv("STRONGROOM_EMAIL_DKIM_DOMAIN", "market.example", 1);
	assert_int_equal(sr_config_load(NULL, &cfg, err, sizeof err), 0);
	assert_int_equal(sr_mail_check_from(cfg, err, sizeof err), 0);
	sr_config_free(cfg);

	setenv("STRONGROOM_EMAIL_FROM", "Market <no-reply@market-security.example>", 1);
	assert_int_equal(sr_config_load(NULL, &cfg, err, sizeof err), 0);
	assert_int_equal(sr_mail_check_from(cfg, err, sizeof err), SR_E_CONFIG);
	assert_non_null(strstr(err, "market-security.example"));
	sr_config_free(cfg);

	/* A suffix is not the domain. */
	setenv("STRONGROOM_EMAIL_FROM", "no-reply@evilmarket.example", 1);
	assert_int_equal(sr_config_load(NULL, &cfg, err, sizeof err), 0);
	assert_int_equal(sr_mail_check_from(cfg, err, sizeof err), SR_E_CONFIG);
	sr_config_free(cfg);

	setenv("STRONGROOM_EMAIL_FROM", "no-reply@market.example", 1);
	setenv("STRONGROOM_EMAIL_DKIM_DOMAIN", "other.example", 1);
	assert_int_equal(sr_config_load(NULL, &cfg, err, sizeof err), 0);
	assert_int_equal(sr_mail_check_from(cfg, err, sizeof err), SR_E_CONFIG);
	assert_non_null(strstr(err, "dkim_domain"));
	sr_config_free(cfg);
	unsetenv("STRONGROOM_EMAIL_FROM");
	unsetenv("STRONGROOM_EMAIL_OFFICIAL_DOMAINS");
	unsetenv("STRONGROOM_EMAIL_DKIM_DOMAIN");

	char name[200], addr[300];
	assert_int_equal(sr_mail_parse_mailbox("\"A B\" <a@b.example>", name, sizeof name, addr,
					       sizeof addr),
			 0);
	assert_string_equal(name, "A B");
	assert_string_equal(addr, "a@b.example");
	assert_int_equal(sr_mail_parse_mailbox("a@b.example", name, sizeof name, addr, sizeof addr),
			 0);
	assert_string_equal(name, "");
	assert_int_equal(
		sr_mail_parse_mailbox("A <a@b.example> x", name, sizeof name, addr, sizeof addr),
		SR_E_INVAL);
}

static void maildir_same_message(void **state)
{
	(void)state;
	char dir[64], md[128], name[128], path[512];
	nt_mkdtemp(dir, sizeof dir, "maildir");
	snprintf(md, sizeof md, "%s/mail", dir);
	struct sr_mail_msg m = base_msg();
	char *out = NULL;
	size_t len;
	assert_int_equal(sr_mail_compose(&m, &out, &len, NULL, 0), 0);
	assert_int_equal(sr_maildir_deliver(md, out, len, name, sizeof name), 0);
	snprintf(path, sizeof path, "%s/new/%s", md, name);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	size_t flen = 0;
	char *file = nt_read(path, &flen);
	assert_non_null(file);
	/* Same message, LF line endings: restore CRLF and compare. */
	assert_null(strstr(file, "\r"));
	char *crlf = malloc(2 * flen + 1);
	size_t n = 0;
	for (size_t i = 0; i < flen; i++) {
		if (file[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = file[i];
	}
	assert_int_equal(n, len);
	assert_memory_equal(crlf, out, len);
	/* Nothing left in tmp/; a second message gets another name. */
	snprintf(path, sizeof path, "%s/tmp", md);
	DIR *d = opendir(path);
	assert_non_null(d);
	struct dirent *e;
	int count = 0;
	while ((e = readdir(d)) != NULL)
		count += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(count, 0);
	char name2[128];
	assert_int_equal(sr_maildir_deliver(md, out, len, name2, sizeof name2), 0);
	assert_string_not_equal(name, name2);
	free(crlf);
	free(file);
	free(out);
	nt_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_injection_refused), cmocka_unit_test(non_ascii_encoded),
		cmocka_unit_test(quoted_printable_body),    cmocka_unit_test(message_ids_unique),
		cmocka_unit_test(from_must_be_official),    cmocka_unit_test(maildir_same_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
