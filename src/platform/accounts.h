/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_ACCOUNTS_H
#define SR_PLATFORM_ACCOUNTS_H

/*
 * Member accounts on the platform: sign-up, email verification, sessions
 * (login/logout/list/revoke), password change and reset, lockout. This is
 * the module state every cookie-authenticated route of the platform shares:
 * the keys (personal-data KEK, lookup key, password pepper), the password
 * policy list and the [accounts]/[sessions] settings. Routes: see
 * docs/accounts.md and docs/openapi.yaml.
 *
 * Life cycle (platform/service.c): sr_accounts_new before the server runs
 * (routes get the pointer), sr_accounts_start in on_started after the
 * runtime started (reads key files), sr_accounts_free after the server
 * stopped. Handlers answer 503 until started. After start the struct is
 * read-only: share it between threads freely.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SR_USER_ID_SIZE    40 /* "usr_" + 32 hex + NUL, with room */
#define SR_SESSION_ID_SIZE 40 /* "ses_" + 32 hex + NUL, with room */

struct sr_config;
struct sr_runtime;
struct sr_router;
struct sr_accounts;
struct sr_pii;
struct sr_password_list;
struct sr_conn;

/* Allocates the module (no I/O). cfg and rt must outlive it. */
struct sr_accounts *sr_accounts_new(const struct sr_config *cfg, struct sr_runtime *rt);
/* Reads the KEK, lookup key, pepper and the common-password list. err holds
 * a one-line reason (no secrets). Returns 0, SR_E_CONFIG, SR_E_IO, ... */
int sr_accounts_start(struct sr_accounts *acc, char *err, size_t errlen) SR_WUR;
/*
 * For CLI tools (strongroom user create): as sr_accounts_start, but with a
 * store and audit key the tool opened itself (rt may be NULL). Both must
 * outlive acc.
 */
struct sr_store;
struct sr_audit_key;
int sr_accounts_start_offline(struct sr_accounts *acc, struct sr_store *st,
			      const struct sr_audit_key *audit_key, char *err,
			      size_t errlen) SR_WUR;
/* Wipes and frees. Accepts NULL. */
void sr_accounts_free(struct sr_accounts *acc);
/* True once sr_accounts_start succeeded (and the runtime is ready). */
bool sr_accounts_ready(const struct sr_accounts *acc);

/* Adds /v1/users*, /v1/sessions*, /v1/password* routes. */
int sr_accounts_add_routes(struct sr_router *r, struct sr_accounts *acc) SR_WUR;

struct sr_runtime *sr_accounts_runtime(const struct sr_accounts *acc);
const struct sr_config *sr_accounts_config(const struct sr_accounts *acc);
/* The personal-data key holder (pii.h). Valid after start. */
const struct sr_pii *sr_accounts_pii(const struct sr_accounts *acc);
/* The common-password list for sr_password_policy_check. Valid after start. */
const struct sr_password_list *sr_accounts_password_list(const struct sr_accounts *acc);

/* [sessions] and [accounts] settings, read once at sr_accounts_new. */
struct sr_accounts_settings {
	int64_t idle_timeout_s;     /* session idle timeout */
	int64_t absolute_timeout_s; /* session lifetime since login */
	int64_t reauth_window_s;    /* "recent authentication" */
	int64_t lockout_threshold;  /* consecutive failures that lock */
	int64_t lockout_duration_s;
	int64_t delay_after;   /* failures before the progressive delay starts */
	int64_t delay_step_ms; /* delay per failure past delay_after (doubling, capped) */
	int64_t ip_failures_per_hour;
	int64_t verification_ttl_s;
	int64_t reset_ttl_s;
};
const struct sr_accounts_settings *sr_accounts_settings(const struct sr_accounts *acc);

/*
 * Keyed hash (lower-case hex HMAC-SHA256, 64 chars + NUL) of len bytes of
 * data under the subkey for purpose ("session", "csrf", "token", "email",
 * "ip", "device"). Used to store and look up secrets and addresses.
 */
#define SR_ACCOUNTS_HASH_HEX 65
void sr_accounts_keyed_hash(const struct sr_accounts *acc, const char *purpose, const void *data,
			    size_t len, char out[SR_ACCOUNTS_HASH_HEX]);

/*
 * Issues a one-time code of purpose ("email_verification" or
 * "password_reset") for user_id, valid for ttl_s and stored only as its
 * keyed hash, and queues the mail of the same name (the code sealed in the
 * outbox) to the member's address as it is when the mail is sent. With
 * supersede, the member's earlier unused codes of that purpose are voided
 * and their mails still waiting are withdrawn: after an email change the
 * new address gets exactly one code that works. Inside the caller's
 * transaction. Returns 0 or a store / outbox error.
 */
int sr_accounts_issue_code(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
			   const char *purpose, int64_t ttl_s, bool supersede) SR_WUR;

/*
 * The lookup form of an email address: trimmed, lower-cased (ASCII), at
 * most 254 bytes, one '@' with a non-empty local part and a dotted domain.
 * out must hold 255 bytes. Returns 0 or SR_E_INVAL.
 */
int sr_accounts_normalise_email(const char *in, size_t len, char out[255]) SR_WUR;

/*
 * The delivery hook `open` (notify/delivery.h sr_delivery_open_fn; arg is
 * the struct sr_accounts): opens a member's outbox row at send time (its
 * sealed recipient, or the member's current address / verified phone, and
 * its sealed one-time secrets) with the member's data key, in a read
 * transaction (platform/events.h sr_events_open_outbox). Returns as that,
 * or SR_E_UNAVAILABLE (not started). Thread-safe.
 */
struct sr_delivery_open;
int sr_accounts_outbox_open(void *arg, struct sr_delivery_open *o) SR_WUR;

/*
 * Creates an account with a verified address (operator-created staff;
 * members sign up through POST /v1/users), audited with actor (may be NULL).
 * Hashes the password (slow). *duplicate: the address is taken and nothing
 * was created. Returns 0 or an SR_E_* error. role is an enum sr_role.
 */
int sr_accounts_create_user(const struct sr_accounts *acc, const char *email, const char *name,
			    const char *password, size_t password_len, int role, const char *actor,
			    char user_id[SR_USER_ID_SIZE], bool *duplicate) SR_WUR;

#endif
