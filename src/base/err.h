/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_ERR_H
#define SR_BASE_ERR_H

/*
 * One table of error codes for the whole tree. Fallible functions return 0 on
 * success or one of these negative values; sr_strerror() names them for logs
 * and CLI messages (never for API bodies, which carry their own codes).
 */

#define SR_WUR __attribute__((warn_unused_result))

enum sr_err {
	SR_OK = 0,
	SR_E_NOMEM = -1,        /* allocation failed (lib/ only; the core aborts) */
	SR_E_INVAL = -2,        /* bad argument or malformed input */
	SR_E_LIMIT = -3,        /* a hard limit from limits.h was exceeded */
	SR_E_IO = -4,           /* read/write/open failed; errno may say more */
	SR_E_CONFIG = -5,       /* configuration refused */
	SR_E_CRYPTO = -6,       /* a crypto library call failed */
	SR_E_NOTFOUND = -7,     /* no such object */
	SR_E_EXISTS = -8,       /* object already exists */
	SR_E_STORE = -9,        /* database error */
	SR_E_RETRY = -10,       /* transient conflict: serialization failure, busy */
	SR_E_CONFLICT = -11,    /* state conflict (idempotency, version) */
	SR_E_AUTH = -12,        /* authentication failed */
	SR_E_TAMPER = -13,      /* integrity check failed (audit chain, MAC, tag) */
	SR_E_SCHEMA = -14,      /* database schema is newer than this binary */
	SR_E_UNAVAILABLE = -15, /* service not ready, sealed, or shutting down */
	SR_E_TIMEOUT = -16,     /* deadline passed */
	SR_E_INTERNAL = -17,    /* an invariant failed; a bug */
};

/* Returns a static, human-readable name for an SR_E_* code. Thread-safe. */
const char *sr_strerror(int err);

#endif
