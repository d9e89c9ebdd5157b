/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_MAILDIR_H
#define SR_PLATFORM_NOTIFY_MAILDIR_H

/*
 * The development mail sink: instead of an SMTP relay, each message becomes
 * one file in a Maildir (DIR/new/), which any mail reader (mutt -f DIR) or a
 * test can open. Thread-safe (unique names, no shared state).
 */
#include "base/err.h"

#include <stddef.h>

/*
 * Delivers msg (CRLF lines, as composed) into the Maildir dir, creating
 * dir, dir/tmp, dir/new and dir/cur (0700) when missing: written to tmp/,
 * fsync'd, then renamed into new/ so a reader never sees half a message.
 * Lines are stored with LF endings, as Maildir readers expect. The file name
 * (without folder) is copied to name when name is not NULL (namelen >= 128).
 * Returns 0, SR_E_INVAL or SR_E_IO (errno set).
 */
int sr_maildir_deliver(const char *dir, const char *msg, size_t len, char *name,
		       size_t namelen) SR_WUR;

#endif
