/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_KEYFILE_H
#define SR_CRYPTO_KEYFILE_H

/*
 * Key files: small secret files (audit MAC keys, Ed25519 seeds, the
 * development KEK) stored as raw binary, exactly their key length, mode 0400,
 * plus the atomic file writer that `strongroom init` uses for every file it
 * creates. Thread-safe (no shared state); the functions block on disk I/O.
 */
#include "base/err.h"

#include <stddef.h>
#include <sys/types.h>

/*
 * Writes len bytes of data to path atomically: a temporary file in the same
 * folder created with exactly `mode` (umask does not apply), written, fsync'd,
 * renamed over path, then the folder fsync'd. A crash leaves either the old
 * file or the new one, never a torn one; on failure the temporary is removed.
 * data is not kept. Returns 0, SR_E_INVAL (empty path) or SR_E_IO (errno set).
 */
int sr_keyfile_write(const char *path, const void *data, size_t len, mode_t mode) SR_WUR;

/*
 * Fills len bytes (1..SR_KEY_FILE_MAX) from libsodium's CSPRNG and writes them
 * to path with sr_keyfile_write. The random bytes live in sodium_malloc memory
 * and are wiped before returning. Returns 0, SR_E_INVAL, SR_E_CRYPTO (libsodium
 * failed to initialise) or SR_E_IO.
 */
int sr_keyfile_write_random(const char *path, size_t len, mode_t mode) SR_WUR;

/*
 * Reads a raw key file into a fresh sodium_malloc buffer of expected_len
 * bytes, stored in *out (cleared first; the caller releases it with
 * sodium_free, which wipes it). The file is opened without following a final
 * symlink and must be a regular file that is not readable, writable or
 * executable by group or others, and exactly expected_len bytes long.
 * Returns 0, or:
 *   SR_E_INVAL  expected_len is 0 or larger than SR_KEY_FILE_MAX
 *   SR_E_CRYPTO libsodium failed to initialise
 *   SR_E_IO     cannot open or read it (errno set), or not a regular file
 *   SR_E_CONFIG its mode grants group/other access (fix: chmod 0400 path)
 *   SR_E_LIMIT  its length is not expected_len
 */
int sr_keyfile_read(const char *path, size_t expected_len, unsigned char **out) SR_WUR;

#endif
