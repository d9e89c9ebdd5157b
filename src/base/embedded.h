/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_EMBEDDED_H
#define SR_BASE_EMBEDDED_H

/*
 * Files compiled into the binary by scripts/embed.cmake: database migrations
 * (path "store/migrations/NNNN_name.sql") and web assets ("web/..."). The
 * data is NUL-terminated (len excludes it). Read-only, any thread.
 */
#include <stddef.h>

struct sr_embedded_file {
	const char *path;
	const unsigned char *data;
	size_t len;
};

/* Sorted by path, migrations first; ends with a { NULL } entry. */
extern const struct sr_embedded_file sr_embedded_files[];

/* The file at path, or NULL. */
const struct sr_embedded_file *sr_embedded_find(const char *path);

#endif
