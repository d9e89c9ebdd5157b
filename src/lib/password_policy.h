/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_LIB_PASSWORD_POLICY_H
#define SR_LIB_PASSWORD_POLICY_H

/*
 * Which passwords a member may choose (NIST SP 800-63B style): a minimum
 * length in characters (Unicode code points of valid UTF-8), a generous
 * maximum, no composition rules, and refusal of common passwords and of
 * passwords built from the member's own email or name. Every refusal says
 * why (an enum with a stable API code and an English message).
 *
 * The common-password list ships with the binary (data/common-passwords.txt,
 * embedded by scripts/embed.cmake); a caller may also parse its own.
 * A parsed list is immutable: share it between threads freely. Never aborts
 * on out-of-memory (SR_E_NOMEM).
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

#define SR_PASSWORD_MIN_CHARS     12  /* with a second factor */
#define SR_PASSWORD_MIN_CHARS_1FA 15  /* without one */
#define SR_PASSWORD_MAX_CHARS     128 /* code points */
/* Bytes: 4 per code point, so 128 characters of any script fit (64 CJK
 * characters are 192 bytes). */
#define SR_PASSWORD_MAX_BYTES       512
#define SR_PASSWORD_NAME_WORD_MIN   4 /* name words shorter than this are ignored */
#define SR_PASSWORD_EMAIL_LOCAL_MIN 4 /* ... and so are shorter email local parts */
#define SR_PASSWORD_LIST_MAX_BYTES  (4 * 1024 * 1024)

enum sr_password_problem {
	SR_PASSWORD_OK = 0,
	SR_PASSWORD_INVALID_ENCODING, /* not valid UTF-8, or contains NUL */
	SR_PASSWORD_TOO_LONG,
	SR_PASSWORD_TOO_SHORT,
	SR_PASSWORD_COMMON,         /* on the common/breached list */
	SR_PASSWORD_CONTAINS_EMAIL, /* equals or contains the email's local part */
	SR_PASSWORD_CONTAINS_NAME,  /* equals or contains a word of the member's name */
};

struct sr_password_list;

/* What the member typed and who they are. email and name may be NULL. */
struct sr_password_candidate {
	const char *password;
	size_t len;
	const char *email;
	size_t email_len;
	const char *name;
	size_t name_len;
	bool has_second_factor;
};

/*
 * Parses a list: one password per line (LF or CRLF), "#" comments and empty
 * lines ignored, compared case-insensitively (ASCII letters folded). *out is
 * cleared first; release with sr_password_list_free.
 * Returns 0, SR_E_LIMIT (len > SR_PASSWORD_LIST_MAX_BYTES) or SR_E_NOMEM.
 */
int sr_password_list_parse(const char *text, size_t len, struct sr_password_list **out) SR_WUR;
/* The list compiled into the binary (data/common-passwords.txt). Returns 0,
 * SR_E_NOTFOUND (not embedded) or SR_E_NOMEM. */
int sr_password_list_embedded(struct sr_password_list **out) SR_WUR;
/* Number of distinct entries. */
size_t sr_password_list_count(const struct sr_password_list *list);
void sr_password_list_free(struct sr_password_list *list);

/*
 * Checks a candidate. list may be NULL (no list check). Checks run in the
 * order of the enum and the first failure is returned. A password is
 * "common" when, ASCII-lowercased, it is on the list, or it is a list entry
 * with only digits and punctuation around it ("Password123!!!").
 * Thread-safe; reads only its arguments.
 */
enum sr_password_problem sr_password_policy_check(const struct sr_password_list *list,
						  const struct sr_password_candidate *c);

/* Static API code: "too_short", "too_long", "common", "contains_email",
 * "contains_name", "invalid_encoding"; NULL for SR_PASSWORD_OK. */
const char *sr_password_problem_code(enum sr_password_problem p);
/* Static English message for the member, "" for SR_PASSWORD_OK. For
 * too_short it names the minimum of the given situation. */
const char *sr_password_problem_message(enum sr_password_problem p, bool has_second_factor);

/* Counts the code points of valid UTF-8 (shortest forms, no surrogates, no
 * NUL); -1 when s is not. */
long sr_password_utf8_chars(const char *s, size_t len);

#endif
