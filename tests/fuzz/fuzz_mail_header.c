/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzzes what composition takes from outside: display names, subjects and
 * addresses (platform/notify/mail). Whatever the input, an accepted value
 * must come out as a header that cannot inject: printable 7-bit ASCII,
 * only CRLF SP folding, encoded words of at most 75 characters; and a
 * composed message must have exactly one of each header we write.
 * Input: first byte selects the field, the rest is the value.
 */
#include "platform/notify/mail.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_header_text(const char *s)
{
	for (size_t i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r') {
			if (s[i + 1] != '\n' || s[i + 2] != ' ')
				abort();
			i += 2;
			continue;
		}
		if (c < 0x20 || c > 0x7e)
			abort();
	}
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	char *v = malloc(size);
	memcpy(v, data + 1, size - 1);
	v[size - 1] = '\0';
	char out[2048];
	int phrase = data[0] & 1;
	if (sr_mail_encode_header(v, SR_MAIL_SUBJECT_MAX, phrase, out, sizeof out) == 0) {
		check_header_text(out);
		if (strlen(v) > SR_MAIL_SUBJECT_MAX)
			abort();
	}
	char name[SR_MAIL_NAME_MAX + 1], addr[SR_MAIL_ADDR_MAX + 1];
	if (sr_mail_parse_mailbox(v, name, sizeof name, addr, sizeof addr) == 0) {
		if (sr_mail_check_addr(addr) != 0 || strpbrk(addr, "<>\r\n ") != NULL)
			abort();
	}

	struct sr_mail_msg m = {
		.from_name = "strongroom",
		.from_addr = "no-reply@localhost",
		.to_name = "x",
		.to_addr = "x@example.com",
		.subject = "s",
		.text = "t",
		.ref = "r",
		.date = 1,
	};
	switch ((data[0] >> 1) % 4) {
	case 0: m.subject = v; break;
	case 1: m.to_name = v; break;
	case 2: m.to_addr = v; break;
	case 3:
		m.text = v;
		m.html = v;
		break;
	}
	char *msg = NULL;
	size_t len;
	if (sr_mail_compose(&m, &msg, &len, NULL, 0) == 0) {
		char *end = strstr(msg, "\r\n\r\n");
		if (end == NULL || strlen(msg) != len)
			abort();
		end[2] = '\0';
		static const char *const once[] = {
			"\nTo: ", "\nSubject: ", "\nDate: ", "\nMessage-ID: ", "\nMIME-Version: "};
		for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
			if (count(msg, once[i]) != 1)
				abort();
		if (strncmp(msg, "From: ", 6) != 0 || count(msg, "\nFrom: ") != 0)
			abort();
		/* Every header line is a field or a folded continuation. */
		for (char *l = msg; *l; l = strstr(l, "\r\n") + 2) {
			if (*l != ' ' && strchr(l, ':') == NULL)
				abort();
			for (char *c = l; *c != '\r'; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
					abort();
		}
		free(msg);
	}
	free(v);
	return 0;
}
