/* SPDX-License-Identifier: Apache-2.0 */
/* The text for each SR_E_* code, for logs and CLI messages. */
#include "base/err.h"

const char *sr_strerror(int err)
{
	switch (err) {
	case SR_OK: return "success";
	case SR_E_NOMEM: return "out of memory";
	case SR_E_INVAL: return "invalid argument";
	case SR_E_LIMIT: return "limit exceeded";
	case SR_E_IO: return "input/output error";
	case SR_E_CONFIG: return "configuration error";
	case SR_E_CRYPTO: return "cryptographic operation failed";
	case SR_E_NOTFOUND: return "not found";
	case SR_E_EXISTS: return "already exists";
	case SR_E_STORE: return "database error";
	case SR_E_RETRY: return "transient conflict, retry";
	case SR_E_CONFLICT: return "conflict";
	case SR_E_AUTH: return "authentication failed";
	case SR_E_TAMPER: return "integrity check failed";
	case SR_E_SCHEMA: return "database schema is newer than this binary";
	case SR_E_UNAVAILABLE: return "unavailable";
	case SR_E_TIMEOUT: return "timed out";
	case SR_E_INTERNAL: return "internal error";
	}
	return "unknown error";
}
