/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration: parses strongroom.conf with libinih, checks every entry
 * against the settings table, fills defaults, then applies environment
 * overrides. Values are copied into the config; nothing here is secret
 * (secrets are given as file paths and read by whoever needs them).
 */
#include "base/config.h"
#include "base/limits.h"
#include "base/mem.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum setting_type { T_STR, T_INT, T_BOOL, T_PATH, T_HOSTPORT, T_ENUM };

struct setting {
	const char *section;
	const char *key;
	enum setting_type type;
	const char *def;
	const char *min; /* INT: lower bound as text; ENUM: "a|b|c" */
	long long max;
	const char *help;
};

#define T_ENUM_                           T_ENUM
#define SR_SETTING(s, k, t, d, mn, mx, h) {#s, #k, T_##t, d, mn, mx, h},
static const struct setting settings[] = {
#include "base/settings.h"
};
#undef SR_SETTING
#define NSETTINGS (sizeof settings / sizeof settings[0])

struct sr_config {
	char *file;
	char *dir;
	char *values[NSETTINGS];
	int lines[NSETTINGS]; /* where each was set, 0 = default */
	char *err;
	size_t errlen;
	bool failed;
	FILE *in;   /* while parsing: the file, read line by line */
	int lineno; /* while parsing: lines handed to libinih so far */
	char *line; /* while parsing: getline's buffer */
	size_t linecap;
};

static int find_setting(const char *section, const char *key)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0)
			return (int)i;
	return -1;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].section, section) == 0)
			return true;
	return false;
}

static bool parse_ll(const char *s, long long *out)
{
	char *end = NULL;
	errno = 0;
	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0")) {
		*out = false;
		return true;
	}
	return false;
}

static bool enum_has(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

int sr_config_split_hostport(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *colon;
	size_t hl;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return SR_E_INVAL;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		/* A bare IPv6 address is ambiguous ("::1:80"): it needs brackets. */
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL ||
		    memchr(s, ']', (size_t)(colon - s)) != NULL)
			return SR_E_INVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return SR_E_INVAL;
	/* Digits only: strtoll alone would also take "+80" or " 80". */
	const char *digits = colon + 1;
	if (strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 5)
		return SR_E_INVAL;
	long long p;
	if (!parse_ll(digits, &p) || p < 1 || p > 65535)
		return SR_E_INVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	*port = (unsigned)p;
	return 0;
}

/* Returns NULL if value is acceptable for s, else a static reason. */
static const char *check_value(const struct setting *s, const char *v)
{
	long long n;
	bool b;
	char host[256];
	unsigned port;
	if (strlen(v) > SR_CONFIG_VALUE_MAX)
		return "value too long";
	switch (s->type) {
	case T_STR:
	case T_PATH: return NULL;
	case T_INT:
		if (!parse_ll(v, &n))
			return "not an integer";
		long long lo = 0;
		if (!parse_ll(s->min, &lo) || n < lo || n > s->max)
			return "out of range";
		return NULL;
	case T_BOOL: return parse_bool(v, &b) ? NULL : "not a boolean (true/false)";
	case T_HOSTPORT:
		return sr_config_split_hostport(v, host, sizeof host, &port) == 0
			       ? NULL
			       : "not host:port (IPv6 as [addr]:port)";
	case T_ENUM: return enum_has(s->min, v) ? NULL : "not one of the allowed values";
	}
	return "unknown type";
}

static void fail(struct sr_config *c, const char *where, int line, const char *fmt_reason,
		 const char *section, const char *key)
{
	if (c->failed)
		return;
	c->failed = true;
	if (line > 0)
		snprintf(c->err, c->errlen, "%s:%d: [%s] %s: %s", where, line, section, key,
			 fmt_reason);
	else
		snprintf(c->err, c->errlen, "%s: [%s] %s: %s", where, section, key, fmt_reason);
}

/*
 * Debian's libinih passes no line numbers to handlers, so this reader counts
 * lines: libinih calls the handler right after reading the entry's line.
 * The reader also hands libinih whole lines only. Debian builds it with a
 * fixed 200-byte line buffer, and a longer line would otherwise be cut into
 * pieces parsed as separate lines (and miscounted); so an over-long comment
 * is shortened and any other over-long line refused. Leading whitespace is
 * dropped: libinih would take an indented line as the continuation of the
 * previous value (and this parser would then call it "set twice").
 */
static char *read_line(char *str, int num, void *stream)
{
	struct sr_config *c = stream;
	if (c->failed || num < 3)
		return NULL;
	ssize_t n = getline(&c->line, &c->linecap, c->in);
	if (n < 0)
		return NULL;
	c->lineno++;
	const char *p = c->line;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = (size_t)n - (size_t)(p - c->line);
	if (len >= (size_t)num) {
		if (*p != '#' && *p != ';') {
			c->failed = true;
			snprintf(c->err, c->errlen, "%s:%d: line longer than %d bytes", c->file,
				 c->lineno, num - 2);
			return NULL;
		}
		len = 1; /* keep only the comment marker */
		memcpy(str, p, len);
		str[len++] = '\n';
		str[len] = '\0';
		return str;
	}
	memcpy(str, p, len);
	str[len] = '\0';
	return str;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct sr_config *c = user;
	int lineno = c->lineno;
	if (c->failed)
		return 0;
	if (key == NULL) /* a section header alone (INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	if (!section_known(section)) {
		fail(c, c->file, lineno, "unknown section", section, key);
		return 0;
	}
	int i = find_setting(section, key);
	if (i < 0) {
		fail(c, c->file, lineno, "unknown key", section, key);
		return 0;
	}
	if (c->lines[i] > 0) {
		fail(c, c->file, lineno, "set twice", section, key);
		return 0;
	}
	const char *why = check_value(&settings[i], value);
	if (why != NULL) {
		char reason[512];
		snprintf(reason, sizeof reason, "%s (got \"%.64s\"%s%s)", why, value,
			 settings[i].type == T_ENUM ? ", allowed " : "",
			 settings[i].type == T_ENUM ? settings[i].min : "");
		fail(c, c->file, lineno, reason, section, key);
		return 0;
	}
	free(c->values[i]);
	c->values[i] = sr_xstrdup(value);
	c->lines[i] = lineno;
	return 1;
}

static void env_name(const struct setting *s, char *buf, size_t len)
{
	snprintf(buf, len, "STRONGROOM_%s_%s", s->section, s->key);
	for (char *p = buf; *p; p++)
		*p = (*p == '.' || *p == '-') ? '_' : (char)toupper((unsigned char)*p);
}

int sr_config_load(const char *path, struct sr_config **out, char *err, size_t errlen)
{
	int rc = 0;
	FILE *f = NULL;
	struct sr_config *c = sr_xcalloc(1, sizeof *c);
	*out = NULL;
	c->err = err;
	c->errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';

	if (path != NULL) {
		char *abs = realpath(path, NULL);
		struct stat st;
		if (abs == NULL || stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 abs == NULL ? strerror(errno) : "not a regular file");
			free(abs);
			rc = SR_E_IO;
			goto out;
		}
		if (st.st_size > SR_CONFIG_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %d bytes", path, SR_CONFIG_FILE_MAX);
			free(abs);
			rc = SR_E_CONFIG;
			goto out;
		}
		c->file = abs;
		char *slash = strrchr(abs, '/');
		c->dir = sr_xstrndup(abs, slash == abs ? 1 : (size_t)(slash - abs));
		f = fopen(abs, "r");
		if (f == NULL) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			rc = SR_E_IO;
			goto out;
		}
		c->in = f;
		int perr = ini_parse_stream(read_line, c, on_entry, c);
		free(c->line);
		c->line = NULL;
		c->in = NULL;
		if (c->failed) {
			rc = SR_E_CONFIG;
			goto out;
		}
		if (perr != 0) {
			snprintf(err, errlen,
				 "%s:%d: syntax error (expected [section] or key = value)", c->file,
				 perr);
			rc = SR_E_CONFIG;
			goto out;
		}
	} else {
		char cwd[PATH_MAX];
		c->file = sr_xstrdup("(defaults)");
		c->dir = sr_xstrdup(getcwd(cwd, sizeof cwd) ? cwd : "/");
	}

	for (size_t i = 0; i < NSETTINGS; i++) {
		char name[128];
		env_name(&settings[i], name, sizeof name);
		const char *v = getenv(name);
		if (v != NULL) {
			const char *why = check_value(&settings[i], v);
			if (why != NULL) {
				char reason[512];
				snprintf(reason, sizeof reason, "%s (from environment %s)", why,
					 name);
				fail(c, "environment", 0, reason, settings[i].section,
				     settings[i].key);
				rc = SR_E_CONFIG;
				goto out;
			}
			free(c->values[i]);
			c->values[i] = sr_xstrdup(v);
		}
		if (c->values[i] == NULL)
			c->values[i] = sr_xstrdup(settings[i].def);
	}
	*out = c;
	c = NULL;
out:
	if (f != NULL)
		fclose(f);
	sr_config_free(c);
	return rc;
}

void sr_config_free(struct sr_config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < NSETTINGS; i++)
		free(c->values[i]);
	free(c->file);
	free(c->dir);
	free(c->line);
	free(c);
}

static int must_find(const char *section, const char *key)
{
	int i = find_setting(section, key);
	if (i < 0) {
		fprintf(stderr, "strongroom: bug: setting [%s] %s is not in settings.h\n", section,
			key);
		abort();
	}
	return i;
}

const char *sr_config_str(const struct sr_config *c, const char *section, const char *key)
{
	return c->values[must_find(section, key)];
}

long long sr_config_int(const struct sr_config *c, const char *section, const char *key)
{
	long long v = 0;
	int i = must_find(section, key);
	if (!parse_ll(c->values[i], &v))
		abort(); /* validated at load */
	return v;
}

bool sr_config_bool(const struct sr_config *c, const char *section, const char *key)
{
	bool b = false;
	int i = must_find(section, key);
	if (!parse_bool(c->values[i], &b))
		abort();
	return b;
}

char *sr_config_resolve(const struct sr_config *c, const char *rel)
{
	if (rel[0] == '/')
		return sr_xstrdup(rel);
	return sr_xasprintf("%s/%s", c->dir, rel);
}

char *sr_config_path(const struct sr_config *c, const char *section, const char *key)
{
	const char *v = sr_config_str(c, section, key);
	if (v[0] == '\0')
		return NULL;
	return sr_config_resolve(c, v);
}

const char *sr_config_dir(const struct sr_config *c)
{
	return c->dir;
}

const char *sr_config_file(const struct sr_config *c)
{
	return c->file;
}

bool sr_config_is_development(const struct sr_config *c)
{
	return strcmp(sr_config_str(c, "instance", "environment"), "development") == 0;
}

static const char *override_for(const char *const *ov, const char *section, const char *key)
{
	for (; ov != NULL && ov[0] != NULL; ov += 3)
		if (strcmp(ov[0], section) == 0 && strcmp(ov[1], key) == 0)
			return ov[2];
	return NULL;
}

int sr_config_write_template(FILE *f, const char *const *overrides)
{
	const char *cur = NULL;
	fprintf(f, "# strongroom configuration. Every setting is listed with its default.\n"
		   "# Relative paths are relative to this file's folder. Any setting can be\n"
		   "# overridden from the environment as STRONGROOM_<SECTION>_<KEY>, e.g.\n"
		   "# STRONGROOM_DATABASE_URL or STRONGROOM_VAULT_LISTEN.\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (cur == NULL || strcmp(cur, s->section) != 0) {
			fprintf(f, "\n[%s]\n", s->section);
			cur = s->section;
		}
		fputs("\n", f);
		for (const char *p = s->help; *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			fprintf(f, "# %.*s\n", (int)len, p);
			p += len + (nl ? 1 : 0);
		}
		if (s->type == T_INT)
			fprintf(f, "# Integer, %s to %lld. Default: %s\n", s->min, s->max, s->def);
		else if (s->type == T_ENUM)
			fprintf(f, "# One of: %s. Default: %s\n", s->min, s->def);
		else
			fprintf(f, "# Default: %s\n", s->def[0] ? s->def : "(empty)");
		const char *ov = override_for(overrides, s->section, s->key);
		if (ov != NULL)
			fprintf(f, "%s = %s\n", s->key, ov);
		else
			fprintf(f, "%s%s = %s\n", "; ", s->key, s->def);
	}
	return ferror(f) ? SR_E_IO : 0;
}

static const char *type_name(enum setting_type t)
{
	switch (t) {
	case T_STR: return "string";
	case T_INT: return "int";
	case T_BOOL: return "bool";
	case T_PATH: return "path";
	case T_HOSTPORT: return "host:port";
	case T_ENUM: return "enum";
	}
	return "?";
}

int sr_config_write_reference(FILE *f)
{
	const char *cur = NULL;
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (cur == NULL || strcmp(cur, s->section) != 0) {
			fprintf(f,
				"%s### [%s]\n\n| key | type | default | allowed | meaning |\n"
				"|---|---|---|---|---|\n",
				cur == NULL ? "" : "\n", s->section);
			cur = s->section;
		}
		char name[128];
		env_name(s, name, sizeof name);
		fprintf(f, "| `%s` | %s | %s%s%s | ", s->key, type_name(s->type),
			s->def[0] ? "`" : "", s->def[0] ? s->def : "(empty)", s->def[0] ? "`" : "");
		if (s->type == T_INT)
			fprintf(f, "%s to %lld", s->min, s->max);
		else if (s->type == T_ENUM)
			for (const char *p = s->min; *p; p++)
				fputs(*p == '|' ? " \\| " : (char[]){*p, 0}, f);
		fputs(" | ", f);
		for (const char *p = s->help; *p; p++)
			fputc(*p == '\n' ? ' ' : *p, f);
		fprintf(f, " Env: `%s`. |\n", name);
	}
	return ferror(f) ? SR_E_IO : 0;
}
