/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message composition for notification email. Names, addresses and subjects
 * reach this file from members and templates, so it is a boundary: every
 * header value is validated (no CR/LF/control characters: a member called
 * "x\r\nBcc: victim" must not add a header), encoded so that the result is
 * 7-bit ASCII with lines under 998 octets, and bounded. Bodies are
 * quoted-printable, which keeps lines short, survives any relay, and can
 * never contain the "=_" that opens our multipart boundary. The message holds
 * no secret; the anti-phishing code the caller puts in a body is personal
 * data, so nothing here logs.
 */
#include "platform/notify/mail.h"
#include "base/config.h"
#include "base/mem.h"
#include "base/strbuf.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid:
 * overlong forms, surrogates and code points above U+10FFFF are refused. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

int sr_mail_check_header_value(const char *s, size_t maxlen)
{
	if (s == NULL)
		return SR_E_INVAL;
	size_t len = strnlen(s, maxlen + 1);
	if (len > maxlen)
		return SR_E_LIMIT;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return SR_E_INVAL;
	}
	return utf8_valid(s, len) ? 0 : SR_E_INVAL;
}

static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

/* A host name of LDH labels, 1..63 octets each, not starting or ending in
 * '-'; at least one label. */
static bool domain_ok(const char *d, size_t len)
{
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || d[i] == '.') {
			if (label == 0 || label > 63 || d[i - 1] == '-' || d[i - label] == '-')
				return false;
			label = 0;
		} else if (is_ldh((unsigned char)d[i])) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

int sr_mail_check_addr(const char *addr)
{
	if (addr == NULL)
		return SR_E_INVAL;
	size_t len = strnlen(addr, SR_MAIL_ADDR_MAX + 1);
	if (len > SR_MAIL_ADDR_MAX)
		return SR_E_LIMIT;
	const char *at = memchr(addr, '@', len);
	if (at == NULL || at == addr)
		return SR_E_INVAL;
	size_t local = (size_t)(at - addr);
	if (local > 64 || addr[0] == '.' || addr[local - 1] == '.')
		return SR_E_INVAL;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c == '.' ? addr[i + 1] == '.' : !is_atext(c))
			return SR_E_INVAL;
	}
	return domain_ok(at + 1, len - local - 1) ? 0 : SR_E_INVAL;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Appends to out at *pos, keeping room for the NUL. */
static int put(char *out, size_t outlen, size_t *pos, const char *s, size_t n)
{
	if (n >= outlen - *pos)
		return SR_E_LIMIT;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return 0;
}

int sr_mail_encode_header(const char *s, size_t maxlen, int phrase, char *out, size_t outlen)
{
	int rc;
	size_t pos = 0;
	if (out == NULL || outlen == 0)
		return SR_E_INVAL;
	out[0] = '\0';
	if ((rc = sr_mail_check_header_value(s, maxlen)) != 0)
		return rc;
	size_t len = strlen(s);
	/* "=?" in plain text would be read back as an encoded word, so such
	 * text is encoded too. */
	if (printable_ascii(s) && strstr(s, "=?") == NULL) {
		if (!phrase)
			return put(out, outlen, &pos, s, len);
		if ((rc = put(out, outlen, &pos, "\"", 1)) != 0)
			return rc;
		for (size_t i = 0; i < len; i++) {
			if ((s[i] == '"' || s[i] == '\\') &&
			    (rc = put(out, outlen, &pos, "\\", 1)) != 0)
				return rc;
			if ((rc = put(out, outlen, &pos, s + i, 1)) != 0)
				return rc;
		}
		return put(out, outlen, &pos, "\"", 1);
	}
	/* RFC 2047: an encoded word is at most 75 characters. We take 39 octets
	 * of text (52 base64 characters, 64 with "=?UTF-8?B?" and "?="), so the
	 * first word still fits a 78-character line after "Subject: "; each
	 * word ends on a character boundary so no word holds half a character. */
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t chunk = 0;
		while (i + chunk < len) {
			size_t n = utf8_seq(u + i + chunk, len - i - chunk);
			if (n == 0)
				return SR_E_INVAL; /* checked above; defensive */
			if (chunk + n > 39)
				break;
			chunk += n;
		}
		char b64[sodium_base64_ENCODED_LEN(39, sodium_base64_VARIANT_ORIGINAL)];
		sodium_bin2base64(b64, sizeof b64, u + i, chunk, sodium_base64_VARIANT_ORIGINAL);
		if ((i > 0 && (rc = put(out, outlen, &pos, "\r\n ", 3)) != 0) ||
		    (rc = put(out, outlen, &pos, "=?UTF-8?B?", 10)) != 0 ||
		    (rc = put(out, outlen, &pos, b64, strlen(b64))) != 0 ||
		    (rc = put(out, outlen, &pos, "?=", 2)) != 0)
			return rc;
		i += chunk;
	}
	return 0;
}

int sr_mail_parse_mailbox(const char *s, char *name, size_t namelen, char *addr, size_t addrlen)
{
	int rc;
	if (s == NULL || namelen == 0 || addrlen == 0)
		return SR_E_INVAL;
	name[0] = addr[0] = '\0';
	if ((rc = sr_mail_check_header_value(s, SR_MAIL_NAME_MAX + SR_MAIL_ADDR_MAX + 4)) != 0)
		return rc;
	const char *lt = strrchr(s, '<');
	const char *a = s, *aend = s + strlen(s);
	if (lt != NULL) {
		const char *gt = strchr(lt, '>');
		if (gt == NULL || gt[1] != '\0')
			return SR_E_INVAL;
		a = lt + 1;
		aend = gt;
		/* The name: what precedes '<', trimmed, without surrounding quotes. */
		const char *n = s, *nend = lt;
		while (n < nend && *n == ' ')
			n++;
		while (nend > n && nend[-1] == ' ')
			nend--;
		if (nend - n >= 2 && *n == '"' && nend[-1] == '"') {
			n++;
			nend--;
		}
		if ((size_t)(nend - n) >= namelen || (size_t)(nend - n) > SR_MAIL_NAME_MAX)
			return SR_E_LIMIT;
		if (memchr(n, '"', (size_t)(nend - n)) != NULL ||
		    memchr(n, '<', (size_t)(nend - n)) != NULL)
			return SR_E_INVAL;
		memcpy(name, n, (size_t)(nend - n));
		name[nend - n] = '\0';
	}
	if ((size_t)(aend - a) >= addrlen)
		return SR_E_LIMIT;
	memcpy(addr, a, (size_t)(aend - a));
	addr[aend - a] = '\0';
	return sr_mail_check_addr(addr);
}

/* Quoted-printable (RFC 2045 6.7) with CRLF hard line breaks: LF or CRLF in
 * the input end a line; lines are cut with soft breaks before 76 characters;
 * '=', non-ASCII, controls, trailing white space and a '.' opening a line
 * (which SMTP would otherwise have to dot-stuff) are encoded. */
static void qp_encode(struct sr_strbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' || (c == '\r' && i + 1 < len && s[i + 1] == '\n')) {
			if (c == '\r')
				i++;
			sr_strbuf_add(b, "\r\n", 2);
			col = 0;
			continue;
		}
		bool at_eol = i + 1 == len || s[i + 1] == '\n' ||
			      (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n');
		bool literal = (c >= 33 && c <= 126 && c != '=' && !(c == '.' && col == 0)) ||
			       ((c == ' ' || c == '\t') && !at_eol);
		size_t need = literal ? 1 : 3;
		/* Room for the soft break "=" at column 76 at the latest. */
		if (col + need > 75) {
			sr_strbuf_add(b, "=\r\n", 3);
			col = 0;
			if (c == '.') {
				literal = false;
				need = 3;
			}
		}
		if (literal) {
			sr_strbuf_add(b, s + i, 1);
		} else {
			char e[3] = {'=', hex[c >> 4], hex[c & 15]};
			sr_strbuf_add(b, e, 3);
		}
		col += need;
	}
}

static int check_body(const char *s)
{
	size_t len = strnlen(s, SR_MAIL_BODY_MAX + 1);
	if (len > SR_MAIL_BODY_MAX)
		return SR_E_LIMIT;
	return utf8_valid(s, len) ? 0 : SR_E_INVAL;
}

static bool ref_ok(const char *ref)
{
	size_t len = strnlen(ref, SR_MAIL_REF_MAX + 1);
	if (len == 0 || len > SR_MAIL_REF_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_ldh((unsigned char)ref[i]) && ref[i] != '_')
			return false;
	return true;
}

static void add_mailbox(struct sr_strbuf *b, const char *field, const char *name, const char *enc,
			const char *addr)
{
	/* After encoded words the address goes on a folded line of its own,
	 * keeping lines short. */
	if (name != NULL && name[0] != '\0')
		sr_strbuf_fmt(b, "%s: %s%s<%s>\r\n", field, enc, strstr(enc, "=?") ? "\r\n " : " ",
			      addr);
	else
		sr_strbuf_fmt(b, "%s: <%s>\r\n", field, addr);
}

static void add_part(struct sr_strbuf *b, const char *boundary, const char *type, const char *body)
{
	if (boundary != NULL)
		sr_strbuf_fmt(b, "--%s\r\n", boundary);
	sr_strbuf_fmt(b,
		      "Content-Type: %s; charset=utf-8\r\n"
		      "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
		      type);
	qp_encode(b, body, strlen(body));
	sr_strbuf_str(b, "\r\n");
}

int sr_mail_compose(const struct sr_mail_msg *m, char **out, size_t *outlen, char *msgid,
		    size_t msgidlen)
{
	int rc;
	struct sr_strbuf b = {0};
	/* Encoded names and subjects grow to at most 4/3 plus 15 octets per 39. */
	char from_enc[SR_MAIL_NAME_MAX * 3], to_enc[SR_MAIL_NAME_MAX * 3];
	char subj_enc[SR_MAIL_SUBJECT_MAX * 3];
	char id[SR_MAIL_MSGID_MAX];
	*out = NULL;
	*outlen = 0;
	if (msgid != NULL && msgidlen > 0)
		msgid[0] = '\0';
	if (m == NULL || m->text == NULL || m->ref == NULL || m->subject == NULL ||
	    !ref_ok(m->ref) || (msgid != NULL && msgidlen < SR_MAIL_MSGID_MAX))
		return SR_E_INVAL;
	if ((rc = sr_mail_check_addr(m->from_addr)) != 0 ||
	    (rc = sr_mail_check_addr(m->to_addr)) != 0 ||
	    (rc = sr_mail_encode_header(m->from_name ? m->from_name : "", SR_MAIL_NAME_MAX, 1,
					from_enc, sizeof from_enc)) != 0 ||
	    (rc = sr_mail_encode_header(m->to_name ? m->to_name : "", SR_MAIL_NAME_MAX, 1, to_enc,
					sizeof to_enc)) != 0 ||
	    (rc = sr_mail_encode_header(m->subject, SR_MAIL_SUBJECT_MAX, 0, subj_enc,
					sizeof subj_enc)) != 0 ||
	    (rc = check_body(m->text)) != 0 || (m->html != NULL && (rc = check_body(m->html)) != 0))
		return rc;

	unsigned char rnd[16];
	char rhex[33], boundary[48];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
	snprintf(id, sizeof id, "%s.%s@%s", m->ref, rhex, strchr(m->from_addr, '@') + 1);
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(rhex, sizeof rhex, rnd, sizeof rnd);
	snprintf(boundary, sizeof boundary, "=_sr_%s", rhex);

	/* RFC 5322 date in UTC: fixed English names, never the locale's. */
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = m->date != 0 ? m->date : time(NULL);
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL)
		return SR_E_INVAL;

	add_mailbox(&b, "From", m->from_name, from_enc, m->from_addr);
	add_mailbox(&b, "To", m->to_name, to_enc, m->to_addr);
	sr_strbuf_fmt(&b, "Subject: %s\r\n", subj_enc);
	sr_strbuf_fmt(&b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", wd[tm.tm_wday],
		      tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		      tm.tm_sec);
	sr_strbuf_fmt(&b, "Message-ID: <%s>\r\n", id);
	sr_strbuf_str(&b, "MIME-Version: 1.0\r\n");
	if (m->html != NULL) {
		sr_strbuf_fmt(&b,
			      "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n",
			      boundary);
		sr_strbuf_str(&b, "This is a MIME message in text and HTML.\r\n\r\n");
		add_part(&b, boundary, "text/plain", m->text);
		add_part(&b, boundary, "text/html", m->html);
		sr_strbuf_fmt(&b, "--%s--\r\n", boundary);
	} else {
		add_part(&b, NULL, "text/plain", m->text);
	}
	if (msgid != NULL)
		snprintf(msgid, msgidlen, "%s", id);
	*out = b.p;
	*outlen = b.len;
	return 0;
}

/* Is domain (len bytes) one of the comma-separated list's entries? */
static bool in_list(const char *list, const char *domain)
{
	size_t dlen = strlen(domain);
	const char *p = list;
	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != ',')
			e++;
		const char *t = e;
		while (t > p && t[-1] == ' ')
			t--;
		if ((size_t)(t - p) == dlen && dlen > 0 && strncasecmp(p, domain, dlen) == 0)
			return true;
		p = e;
	}
	return false;
}

int sr_mail_check_from(const struct sr_config *cfg, char *err, size_t errlen)
{
	char name[SR_MAIL_NAME_MAX + 1], addr[SR_MAIL_ADDR_MAX + 1];
	const char *from = sr_config_str(cfg, "email", "from");
	const char *list = sr_config_str(cfg, "email", "official_domains");
	const char *dkim = sr_config_str(cfg, "email", "dkim_domain");
	if (errlen > 0)
		err[0] = '\0';
	if (sr_mail_parse_mailbox(from, name, sizeof name, addr, sizeof addr) != 0) {
		snprintf(err, errlen,
			 "[email] from: not \"Name <local@domain>\" or \"local@domain\"");
		return SR_E_CONFIG;
	}
	const char *domain = strchr(addr, '@') + 1;
	if (!in_list(list, domain)) {
		snprintf(err, errlen,
			 "[email] from: domain %s is not one of [email] official_domains (%s)",
			 domain, list);
		return SR_E_CONFIG;
	}
	/* Receivers (DMARC) compare the signing domain with the From domain;
	 * a signature by a domain members were not told about proves nothing. */
	if (!in_list(list, dkim)) {
		snprintf(err, errlen,
			 "[email] dkim_domain: %s is not one of [email] official_domains (%s)",
			 dkim, list);
		return SR_E_CONFIG;
	}
	return 0;
}
