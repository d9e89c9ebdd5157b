/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_MAIL_H
#define SR_PLATFORM_NOTIFY_MAIL_H

/*
 * Composing the email the platform sends (RFC 5322 + MIME): a
 * multipart/alternative message with a UTF-8 text part and an optional UTF-8
 * HTML part, both quoted-printable, RFC 2047 encoded words for non-ASCII
 * subjects and display names, a Date and a unique Message-ID.
 *
 * Every header value comes from outside (member names, addresses, subjects
 * built from templates), so each is validated here: no CR, LF, NUL or other
 * control character (header injection), valid UTF-8, bounded length. All
 * functions are thread-safe (no shared state; randomness from libsodium).
 */
#include "base/err.h"

#include <stddef.h>
#include <time.h>

struct sr_config;

#define SR_MAIL_NAME_MAX    128          /* bytes of a display name (UTF-8) */
#define SR_MAIL_ADDR_MAX    254          /* bytes of an addr-spec (RFC 5321 path limit) */
#define SR_MAIL_SUBJECT_MAX 256          /* bytes of a subject (UTF-8) */
#define SR_MAIL_REF_MAX     64           /* bytes of the reference in a Message-ID */
#define SR_MAIL_BODY_MAX    (256 * 1024) /* bytes of one body part before encoding */
#define SR_MAIL_MSGID_MAX   (SR_MAIL_REF_MAX + SR_MAIL_ADDR_MAX + 40)

/* One message to compose. All strings are borrowed; NULL name means none. */
struct sr_mail_msg {
	const char *from_name; /* display name, may be NULL */
	const char *from_addr; /* addr-spec, local@domain (ASCII) */
	const char *to_name;   /* may be NULL */
	const char *to_addr;
	const char *subject; /* UTF-8, may be empty */
	const char *text;    /* UTF-8 plain-text body, required */
	const char *html;    /* UTF-8 HTML body, NULL for text only */
	const char *ref;     /* the reference the member can verify: [A-Za-z0-9_-]{1,64} */
	time_t date;         /* 0: now */
};

/*
 * A header value is acceptable: at most maxlen bytes, valid UTF-8 (no
 * overlong forms or surrogates), and no byte below 0x20 (CR, LF, NUL, tab
 * included) nor DEL. Returns 0, SR_E_INVAL or SR_E_LIMIT.
 */
int sr_mail_check_header_value(const char *s, size_t maxlen) SR_WUR;

/*
 * An addr-spec we are willing to put in From/To: dot-atom local part of
 * RFC 5322 atext, '@', a domain of LDH labels (or an IPv4/IPv6 literal is
 * refused: nobody we mail lives at one). Returns 0, SR_E_INVAL or SR_E_LIMIT.
 */
int sr_mail_check_addr(const char *addr) SR_WUR;

/*
 * Writes a header-safe form of the UTF-8 text s into out (NUL-terminated):
 * s itself when it is printable ASCII; otherwise RFC 2047 "B" encoded words
 * (=?UTF-8?B?...?=) of at most 75 characters, each holding whole UTF-8
 * characters, separated by CRLF SP (folding). As a display name (phrase=1),
 * ASCII text becomes a quoted-string. s is checked with
 * sr_mail_check_header_value(s, maxlen) first. Returns 0, SR_E_INVAL,
 * SR_E_LIMIT (s or out too long).
 */
int sr_mail_encode_header(const char *s, size_t maxlen, int phrase, char *out,
			  size_t outlen) SR_WUR;

/*
 * Splits "Name <local@domain>" or a bare "local@domain" (the form of
 * [email] from) into name (may come back empty) and addr, both validated.
 * Returns 0, SR_E_INVAL or SR_E_LIMIT.
 */
int sr_mail_parse_mailbox(const char *s, char *name, size_t namelen, char *addr,
			  size_t addrlen) SR_WUR;

/*
 * Composes m into a freshly allocated message with CRLF line endings,
 * NUL-terminated (*out, *outlen without the NUL; caller frees). The
 * Message-ID is "<REF.RANDOM@DOMAIN>" with DOMAIN the From address's domain
 * and RANDOM 128 bits in hex; it is copied (without brackets) into msgid when
 * msgid is not NULL (msgidlen >= SR_MAIL_MSGID_MAX). Returns 0, SR_E_INVAL
 * (a header value or body refused) or SR_E_LIMIT.
 */
int sr_mail_compose(const struct sr_mail_msg *m, char **out, size_t *outlen, char *msgid,
		    size_t msgidlen) SR_WUR;

/*
 * The start-up check: [email] from parses, and its domain is one of
 * [email] official_domains (case-insensitive), and so is [email]
 * dkim_domain. Returns 0, or SR_E_CONFIG with a one-line reason in err.
 */
int sr_mail_check_from(const struct sr_config *cfg, char *err, size_t errlen) SR_WUR;

#endif
