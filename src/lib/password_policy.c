/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Password policy for member accounts: length in code points, valid UTF-8,
 * the shipped common-password list, and the member's own email and name.
 * No composition rules (they push people to "Password1!" and add nothing, per
 * NIST SP 800-63B). Case folding is ASCII only: the list is ASCII, and a
 * full Unicode fold would need tables this module does not carry.
 *
 * Secrets: the candidate password is read in place; the lowercased copy made
 * for the email/name/list checks is wiped before it is freed. Nothing here
 * logs.
 */
#include "lib/password_policy.h"

#include "base/embedded.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	const char *s;
	size_t len;
};

struct sr_password_list {
	char *text; /* lowercased copy of the parsed text */
	struct entry *entries;
	size_t n;
};

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n > 0 ? strncmp(x->s, y->s, n) : 0;
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

void sr_password_list_free(struct sr_password_list *list)
{
	if (list == NULL)
		return;
	free(list->entries);
	free(list->text);
	free(list);
}

size_t sr_password_list_count(const struct sr_password_list *list)
{
	return list != NULL ? list->n : 0;
}

int sr_password_list_parse(const char *text, size_t len, struct sr_password_list **out)
{
	int rc = 0;
	struct sr_password_list *list = NULL;
	*out = NULL;
	if (len > SR_PASSWORD_LIST_MAX_BYTES)
		return SR_E_LIMIT;
	if ((list = calloc(1, sizeof *list)) == NULL || (list->text = malloc(len + 1)) == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	size_t lines = 1;
	for (size_t i = 0; i < len; i++) {
		list->text[i] = lower(text[i]);
		lines += text[i] == '\n';
	}
	list->text[len] = '\0';
	if ((list->entries = calloc(lines, sizeof *list->entries)) == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	for (size_t start = 0; start < len;) {
		const char *nl = memchr(list->text + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - list->text) : len;
		size_t l = end - start;
		if (l > 0 && list->text[start + l - 1] == '\r')
			l--;
		/* A NUL inside a line would make that entry unreachable; skip it. */
		if (l > 0 && list->text[start] != '#' &&
		    memchr(list->text + start, '\0', l) == NULL)
			list->entries[list->n++] = (struct entry){list->text + start, l};
		start = end + 1;
	}
	if (list->n > 0)
		qsort(list->entries, list->n, sizeof *list->entries, entry_cmp);
	size_t w = 0;
	for (size_t i = 0; i < list->n; i++)
		if (w == 0 || entry_cmp(&list->entries[w - 1], &list->entries[i]) != 0)
			list->entries[w++] = list->entries[i];
	list->n = w;
	*out = list;
	list = NULL;
out:
	sr_password_list_free(list);
	return rc;
}

int sr_password_list_embedded(struct sr_password_list **out)
{
	*out = NULL;
	const struct sr_embedded_file *f = sr_embedded_find("data/common-passwords.txt");
	if (f == NULL)
		return SR_E_NOTFOUND;
	return sr_password_list_parse((const char *)f->data, f->len, out);
}

static bool list_has(const struct sr_password_list *list, const char *s, size_t len)
{
	if (list == NULL || list->n == 0 || len == 0)
		return false;
	struct entry key = {s, len};
	return bsearch(&key, list->entries, list->n, sizeof *list->entries, entry_cmp) != NULL;
}

long sr_password_utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;
	for (size_t i = 0; i < len; n++) {
		unsigned char c = p[i];
		size_t k;
		uint32_t cp;
		if (c == 0)
			return -1;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1, cp = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2, cp = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3, cp = c & 0x07u;
		} else {
			return -1;
		}
		if (len - i - 1 < k)
			return -1;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i + j] & 0x3fu);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		i += k + 1;
	}
	return n;
}

static bool is_ascii_word_char(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* After ASCII folding: a letter, or part of a non-ASCII character. */
static bool is_letter(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z');
}

/* Characters of a fragment of text; invalid UTF-8 counts bytes. */
static size_t chars_of(const char *s, size_t len)
{
	long n = sr_password_utf8_chars(s, len);
	return n < 0 ? len : (size_t)n;
}

/* Does lowered (the lowercased password) contain s (any case)? */
static bool contains_folded(const char *lowered, size_t len, const char *s, size_t slen)
{
	if (slen == 0 || slen > len)
		return false;
	for (size_t i = 0; i + slen <= len; i++) {
		size_t j = 0;
		while (j < slen && lowered[i + j] == lower(s[j]))
			j++;
		if (j == slen)
			return true;
	}
	return false;
}

static bool contains_email(const char *lowered, size_t len, const char *email, size_t elen)
{
	if (email == NULL)
		return false;
	size_t local = elen;
	for (size_t i = elen; i > 0; i--)
		if (email[i - 1] == '@') {
			local = i - 1;
			break;
		}
	if (chars_of(email, local) < SR_PASSWORD_EMAIL_LOCAL_MIN)
		return false;
	return contains_folded(lowered, len, email, local);
}

static bool contains_name(const char *lowered, size_t len, const char *name, size_t nlen)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; i < nlen;) {
		while (i < nlen && !is_ascii_word_char((unsigned char)name[i]))
			i++;
		size_t start = i;
		while (i < nlen && is_ascii_word_char((unsigned char)name[i]))
			i++;
		if (i > start && chars_of(name + start, i - start) >= SR_PASSWORD_NAME_WORD_MIN &&
		    contains_folded(lowered, len, name + start, i - start))
			return true;
	}
	return false;
}

static bool is_common(const struct sr_password_list *list, const char *lowered, size_t len)
{
	if (list_has(list, lowered, len))
		return true;
	/* "monkey!!!!!!!!", "2024password2024": a listed word padded with digits
	 * and punctuation adds length, not strength. */
	size_t a = 0, b = len;
	while (a < b && !is_letter((unsigned char)lowered[a]))
		a++;
	while (b > a && !is_letter((unsigned char)lowered[b - 1]))
		b--;
	return (a > 0 || b < len) && list_has(list, lowered + a, b - a);
}

enum sr_password_problem sr_password_policy_check(const struct sr_password_list *list,
						  const struct sr_password_candidate *c)
{
	enum sr_password_problem why = SR_PASSWORD_OK;
	char *lowered = NULL;
	if (c == NULL || (c->password == NULL && c->len > 0))
		return SR_PASSWORD_INVALID_ENCODING;
	long chars = sr_password_utf8_chars(c->password, c->len);
	if (chars < 0)
		return SR_PASSWORD_INVALID_ENCODING;
	if (c->len > SR_PASSWORD_MAX_BYTES || chars > SR_PASSWORD_MAX_CHARS)
		return SR_PASSWORD_TOO_LONG;
	if (chars < (c->has_second_factor ? SR_PASSWORD_MIN_CHARS : SR_PASSWORD_MIN_CHARS_1FA))
		return SR_PASSWORD_TOO_SHORT;
	/* len <= SR_PASSWORD_MAX_BYTES and >= 12 here. */
	if ((lowered = malloc(c->len)) == NULL)
		return SR_PASSWORD_TOO_LONG; /* unreachable in practice; fail closed */
	for (size_t i = 0; i < c->len; i++)
		lowered[i] = lower(c->password[i]);
	if (is_common(list, lowered, c->len))
		why = SR_PASSWORD_COMMON;
	else if (contains_email(lowered, c->len, c->email, c->email_len))
		why = SR_PASSWORD_CONTAINS_EMAIL;
	else if (contains_name(lowered, c->len, c->name, c->name_len))
		why = SR_PASSWORD_CONTAINS_NAME;
	sodium_memzero(lowered, c->len);
	free(lowered);
	return why;
}

const char *sr_password_problem_code(enum sr_password_problem p)
{
	switch (p) {
	case SR_PASSWORD_OK: return NULL;
	case SR_PASSWORD_INVALID_ENCODING: return "invalid_encoding";
	case SR_PASSWORD_TOO_LONG: return "too_long";
	case SR_PASSWORD_TOO_SHORT: return "too_short";
	case SR_PASSWORD_COMMON: return "common";
	case SR_PASSWORD_CONTAINS_EMAIL: return "contains_email";
	case SR_PASSWORD_CONTAINS_NAME: return "contains_name";
	}
	return "invalid_encoding";
}

const char *sr_password_problem_message(enum sr_password_problem p, bool has_second_factor)
{
	switch (p) {
	case SR_PASSWORD_OK: return "";
	case SR_PASSWORD_INVALID_ENCODING: return "The password must be valid UTF-8 text.";
	case SR_PASSWORD_TOO_LONG: return "The password must be at most 128 characters long.";
	case SR_PASSWORD_TOO_SHORT:
		return has_second_factor
			       ? "The password must be at least 12 characters long."
			       : "The password must be at least 15 characters long (12 with "
				 "two-step verification turned on).";
	case SR_PASSWORD_COMMON:
		return "This password is too common: it appears in lists attackers try first.";
	case SR_PASSWORD_CONTAINS_EMAIL: return "The password must not contain your email address.";
	case SR_PASSWORD_CONTAINS_NAME: return "The password must not contain your name.";
	}
	return "The password was refused.";
}
