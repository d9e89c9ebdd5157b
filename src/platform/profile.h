/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_PROFILE_H
#define SR_PLATFORM_PROFILE_H

/*
 * The member profile (docs/profile.md): GET/PATCH/DELETE /v1/me, POST
 * /v1/me/phone/verify, and the staff read GET /v1/members/{id}. Personal
 * values (name, phone, address, date of birth, citizenship, anti-phishing
 * code) are sealed under the member's data key (pii.h) in member_profile
 * (the name in users, through auth.h); deleting the account shreds that
 * key.
 *
 * Also what other platform modules need from the profile: the
 * anti-phishing code for every email (a delivery hook), the phone number
 * and whether it was verified (SMS alerts go only to a verified phone),
 * and a helper that queues a security email to the member.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sr_conn;
struct sr_router;
struct sr_accounts;

/* Adds the routes above. acc must outlive the router. */
int sr_profile_add_routes(struct sr_router *r, struct sr_accounts *acc) SR_WUR;

/*
 * The delivery hook (notify/delivery.h sr_delivery_code_fn), arg = the
 * struct sr_accounts: looks up member_id's anti-phishing code in a read
 * transaction of its own and copies it into code (len bytes). code[0] == 0
 * when none is set, the member is unknown or their key was shredded.
 * Returns 0, or SR_E_UNAVAILABLE before accounts started / a store error
 * (the delivery retries later). Any thread.
 */
int sr_profile_anti_phishing_code(void *arg, const char *member_id, char *code, size_t len);

/*
 * user_id's phone number (E.164, sodium_malloc'd: sodium_free it; NULL when
 * none) and whether the member proved it with the SMS code. Inside a
 * transaction. Returns 0, SR_E_CRYPTO or a store error.
 */
int sr_profile_phone(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		     char **phone, bool *verified) SR_WUR;

/*
 * Queues template as an email to user_id, inside the caller's write
 * transaction: to to_email when given (an address the member is leaving,
 * or a new one being verified), else to the member's current address,
 * resolved at send time (no address is stored in the outbox then).
 * variables_json: a JSON object of masked values (NULL: {}). Each call is
 * its own event (a fresh dedup key), recorded through events.h, so security
 * events also reach the marketplace as signed webhooks. Returns 0,
 * SR_E_NOTFOUND (member gone or shredded) or an outbox/store error.
 */
int sr_profile_notify(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		      const char *template_name, const char *variables_json,
		      const char *to_email) SR_WUR;

/* Field rules, exported for the unit test. Each returns NULL when value is
 * acceptable, else a message for the member. */
#define SR_PROFILE_NAME_MAX       200
#define SR_PROFILE_APC_MIN        4
#define SR_PROFILE_APC_MAX        32
#define SR_PROFILE_ADDR_FIELD_MAX 200
/* E.164: '+', a country code not starting with 0, 8 to 15 digits in all. */
const char *sr_profile_check_phone(const char *v);
/* 4..32 characters: letters, digits, spaces, '-', '_', '.', '!'; no leading
 * or trailing space, no two spaces in a row. ASCII only, so it reads the
 * same in every mail client and SMS. */
const char *sr_profile_check_anti_phishing(const char *v);
/* YYYY-MM-DD, a real calendar date, not after today (UTC, given as
 * today_ymd = y*10000+m*100+d), not more than 130 years back. */
const char *sr_profile_check_date_of_birth(const char *v, int today_ymd);
/* ISO 3166-1 alpha-2, any case (stored upper case); the code must be an
 * assigned one. */
const char *sr_profile_check_country(const char *v);
/* 1..200 bytes of UTF-8 without control characters, not only spaces. */
const char *sr_profile_check_text(const char *v, size_t max, bool required);

#endif
