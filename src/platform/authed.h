/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_AUTHED_H
#define SR_PLATFORM_AUTHED_H

/*
 * The plumbing every session-authenticated route of the profile and MFA
 * work shares, so each route is only its own transaction:
 *
 *   loop thread    sr_authed_run(req, acc, &spec): 503 until accounts are
 *                  ready; the JSON body parsed (400 invalid_json, must be an
 *                  object); cookie, CSRF token, IP captured (auth.h); the
 *                  job submitted to the worker pool (503 when it is full).
 *   worker thread  one sr_store_tx: the session resolved (auth.h: 401/403,
 *                  CSRF for state-changing methods), then staff-only and
 *                  recent-authentication checks as spec says, then
 *                  spec.tx(c, job), which fills job->status + job->reply or
 *                  an error with sr_authed_fail.
 *   loop thread    the answer.
 *
 * spec.tx may run more than once (retries): it must only touch the job and
 * must reset what it sets (sr_authed_run's wrapper resets reply and error
 * before each run). To refuse and ROLL BACK what it wrote, it returns
 * SR_E_CONFLICT after sr_authed_fail; to refuse and COMMIT (a failure
 * counter, an audit record of the refusal), it returns 0 after
 * sr_authed_fail. Any other negative return is answered 500.
 */
#include "base/err.h"
#include "platform/auth.h"

#include <jansson.h>
#include <stdbool.h>

struct sr_conn;
struct sr_http_req;
struct sr_accounts;
struct sr_authed_job;

typedef int (*sr_authed_tx_fn)(struct sr_conn *c, struct sr_authed_job *job);

struct sr_authed_spec {
	sr_authed_tx_fn tx;
	bool body;        /* parse a JSON object body (else refuse any body) */
	bool recent_auth; /* 403 reauthentication_required past the window */
	bool staff_only;  /* 403 forbidden for members, audited as denied_action */
	const char *denied_action;
	bool allow_restricted;  /* restricted staff sessions may call it (MFA set-up) */
	const char *path_param; /* copy this {param} into job->param */
};

struct sr_authed_job {
	struct sr_accounts *acc;
	struct sr_authed_spec spec;
	struct sr_auth_request auth;
	struct sr_auth_ctx ctx;
	enum sr_auth_result auth_result;
	json_t *body; /* the parsed body, or NULL */
	char *param;  /* the path parameter, or NULL */
	/* Filled by spec.tx. */
	int status;    /* HTTP status of a success (default 200) */
	json_t *reply; /* the success body */
	int err_status;
	const char *err_type, *err_code, *err_param;
	char err_message[256];
	int rc;
};

/* Starts a route as described above. Answers req itself on every early
 * failure. Loop thread. */
void sr_authed_run(struct sr_http_req *req, struct sr_accounts *acc,
		   const struct sr_authed_spec *spec);

/* Sets the error answer (param may be NULL; message is copied). */
void sr_authed_fail(struct sr_authed_job *job, int status, const char *type, const char *code,
		    const char *param, const char *message);

/* Appends an audit record (actor: the session's user) for job inside c's
 * transaction. details: a JSON object of masked values, or NULL. */
int sr_authed_audit(struct sr_conn *c, const struct sr_authed_job *job, const char *action,
		    const char *object_type, const char *object_id, const char *outcome,
		    const char *details) SR_WUR;

#endif
