/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_ACCOUNTS_INT_H
#define SR_PLATFORM_ACCOUNTS_INT_H

/*
 * Private to accounts.c and auth.c: the module state and the small helpers
 * both use (times, ids, audit, outbox, counters).
 */
#include "base/clock.h"
#include "crypto/password.h"
#include "platform/accounts.h"
#include "platform/auth.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sr_conn;
struct sr_store;
struct sr_audit_key;

struct sr_accounts {
	const struct sr_config *cfg;
	struct sr_runtime *rt;
	struct sr_accounts_settings set;
	struct sr_pii *pii;
	unsigned char *lookup_key; /* sodium_malloc, 32 bytes */
	struct sr_password_pepper pepper;
	struct sr_password_params pw_params;
	struct sr_password_list *list;
	/* A hash of a random password: unknown emails are checked against it
	 * so that they cost the same time as known ones. */
	char dummy_hash[SR_PASSWORD_HASH_MAX];
	struct sr_store *store;               /* the runtime's, or the CLI's */
	const struct sr_audit_key *audit_key; /* likewise */
	atomic_bool started;
};

#define SR_ACC_TIME_SIZE SR_CLOCK_TEXT_SIZE

/* Milliseconds since the epoch, wall clock. */
int64_t sr_acc_now_ms(void);
/* "YYYY-MM-DDTHH:MM:SS.mmmZ" for ms. */
void sr_acc_time_text(int64_t ms, char out[SR_ACC_TIME_SIZE]);
/* The reverse; -1 for NULL or malformed text. */
int64_t sr_acc_time_parse(const char *s);
/* prefix + 32 hex characters of fresh randomness. */
void sr_acc_random_id(const char *prefix, char out[SR_USER_ID_SIZE]);
/* "j***@example.com": what audit details may show of an address. */
void sr_acc_mask_email(const char *email, char *out, size_t cap);

/* Appends one audit record on c (actor "user" with actor_id, or
 * "anonymous"); r may be NULL (CLI). details NULL: {}. */
int sr_acc_audit(struct sr_conn *c, const struct sr_accounts *acc, const char *actor_id,
		 const char *action, const char *object_type, const char *object_id,
		 const char *outcome, const struct sr_auth_request *r, const char *details) SR_WUR;

/*
 * Queues an email to user_id with template and variables (borrowed JSON
 * object; NULL: {}), dedup key "<template>:<object_id>:email". The outbox
 * row holds no address: delivery resolves it with sr_accounts_outbox_open.
 * Returns 0 or an outbox/store error.
 */
int sr_acc_notify(struct sr_conn *c, const struct sr_accounts *acc, const char *user_id,
		  const char *template_name, const char *object_id, json_t *variables) SR_WUR;

/*
 * The per-address counter of failed authentications in the current hour.
 * add: count one more. *over: the address is past [accounts]
 * ip_failures_per_hour (before this one). Returns 0 or a store error.
 */
int sr_acc_ip_failures(struct sr_conn *c, const struct sr_accounts *acc, const char *ip, bool add,
		       bool *over) SR_WUR;

/* Throttle/lock state of a subject from its counters. */
struct sr_acc_guard {
	int64_t locked_until_ms;    /* > now: locked */
	int64_t throttled_until_ms; /* > now: progressive delay still running */
};
void sr_acc_guard_compute(const struct sr_accounts *acc, int64_t failures, int64_t last_failed_ms,
			  int64_t locked_until_ms, struct sr_acc_guard *g);

#endif
