/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_CONFIG_H
#define SR_BASE_CONFIG_H

/*
 * strongroom.conf: INI (libinih), validated against the table in settings.h,
 * with STRONGROOM_<SECTION>_<KEY> environment overrides. Unknown sections or
 * keys, bad values and unreadable files are refused with file, line and
 * reason. A loaded config is immutable and may be read from any thread.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct sr_config;

/*
 * Loads and validates path (NULL: defaults only, relative paths against the
 * current directory), then applies environment overrides. On failure returns
 * SR_E_CONFIG (or SR_E_IO) and writes "file:line: reason" into err.
 */
int sr_config_load(const char *path, struct sr_config **out, char *err, size_t errlen) SR_WUR;
void sr_config_free(struct sr_config *cfg);

/* The value of a setting, as text. Aborts if section.key is not in settings.h
 * (a programming error, not an input error). Never NULL. */
const char *sr_config_str(const struct sr_config *cfg, const char *section, const char *key);
long long sr_config_int(const struct sr_config *cfg, const char *section, const char *key);
bool sr_config_bool(const struct sr_config *cfg, const char *section, const char *key);
/* A PATH setting resolved against the config file's folder, freshly
 * allocated (caller frees); NULL when the value is empty. */
char *sr_config_path(const struct sr_config *cfg, const char *section, const char *key);
/* Resolves any relative path against the config file's folder (caller frees). */
char *sr_config_resolve(const struct sr_config *cfg, const char *relative);
/* The folder holding the config file (absolute), or the current directory. */
const char *sr_config_dir(const struct sr_config *cfg);
/* Where the config was read from, or "(defaults)". */
const char *sr_config_file(const struct sr_config *cfg);
/* True when [instance] environment = development. */
bool sr_config_is_development(const struct sr_config *cfg);

/* Splits "host:port" / "[v6]:port" into host and port. 0 or SR_E_INVAL. */
int sr_config_split_hostport(const char *s, char *host, size_t hostlen, unsigned *port) SR_WUR;

/*
 * Writes a commented strongroom.conf with every setting at its default, except
 * those named in overrides: a NULL-terminated list of "section", "key",
 * "value" triples. Returns 0 or SR_E_IO.
 */
int sr_config_write_template(FILE *f, const char *const *overrides) SR_WUR;

/*
 * Writes the settings reference as Markdown: one table per section with key,
 * type, default, allowed values, meaning and environment variable. This is
 * the settings part of docs/configuration.md (scripts/config-doc.sh keeps the
 * two equal). Returns 0 or SR_E_IO.
 */
int sr_config_write_reference(FILE *f) SR_WUR;

#endif
