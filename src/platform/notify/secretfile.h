/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_SECRETFILE_H
#define SR_PLATFORM_NOTIFY_SECRETFILE_H

/*
 * Text secrets of the notification senders (a PEM DKIM key, an SMS API
 * token) read from owner-only files into sodium_malloc memory. Raw binary
 * keys of a fixed length use sr_keyfile_read instead. Thread-safe.
 */
#include "base/err.h"

#include <stddef.h>

/*
 * Reads path (not following a final symlink; a regular file without any
 * group/other permission, at most SR_KEY_FILE_MAX bytes) into a fresh
 * sodium_malloc buffer, NUL-terminated, *out (caller releases it with
 * sodium_free, which wipes it) and *len (without the NUL). With trim,
 * trailing CR/LF/space is dropped (a token file written by an editor).
 * Returns 0, SR_E_IO (errno set), SR_E_CONFIG (group/other may read it),
 * SR_E_LIMIT (too large or empty) or SR_E_CRYPTO (libsodium init).
 */
int sr_secretfile_read(const char *path, int trim, char **out, size_t *len) SR_WUR;

#endif
