/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strongroom.conf as an operator meets it: a good file loads, every kind of
 * mistake is refused with the file and the right line, environment overrides
 * apply and are validated, and the template `strongroom init` writes loads
 * back to the defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[128];
	char err[1024];
	struct sr_config *cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/sr-test-config-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/strongroom.conf", f->dir);
	unsetenv("STRONGROOM_LIMITS_BODY_MAX");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sr_config_free(f->cfg);
	unlink(f->path);
	rmdir(f->dir);
	unsetenv("STRONGROOM_LIMITS_BODY_MAX");
	free(f);
	return 0;
}

static void write_conf(struct fixture *f, const char *text)
{
	FILE *out = fopen(f->path, "w");
	assert_non_null(out);
	assert_int_equal(fputs(text, out) >= 0, 1);
	assert_int_equal(fclose(out), 0);
}

/* Loads text and expects a refusal at `line` whose message contains `why`. */
static void expect_refused(struct fixture *f, const char *text, int line, const char *why)
{
	char where[PATH_MAX + 32];
	char real[PATH_MAX];
	write_conf(f, text);
	int rc = sr_config_load(f->path, &f->cfg, f->err, sizeof f->err);
	assert_int_equal(rc, SR_E_CONFIG);
	assert_null(f->cfg);
	assert_non_null(realpath(f->path, real));
	snprintf(where, sizeof where, "%s:%d: ", real, line);
	if (strncmp(f->err, where, strlen(where)) != 0)
		fail_msg("expected \"%s...\", got \"%s\"", where, f->err);
	if (strstr(f->err, why) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", why, f->err);
}

static void loads_a_valid_file(void **state)
{
	struct fixture *f = *state;
	write_conf(f, "# production instance\n"
		      "[instance]\n"
		      "environment = production\n"
		      "\n"
		      "[limits]\n"
		      "body_max = 2048 ; inline comment\n"
		      "[vault]\n"
		      "  listen = [::1]:9444\n"
		      "\tkek_file = /etc/strongroom/kek\n" /* indented: not a continuation */
		      "[platform]\n"
		      "database_url = postgresql://strongroom@db.internal/platform\n");
	assert_int_equal(sr_config_load(f->path, &f->cfg, f->err, sizeof f->err), 0);
	assert_false(sr_config_is_development(f->cfg));
	assert_int_equal(sr_config_int(f->cfg, "limits", "body_max"), 2048);
	assert_string_equal(sr_config_str(f->cfg, "vault", "listen"), "[::1]:9444");
	assert_string_equal(sr_config_str(f->cfg, "platform", "database_url"),
			    "postgresql://strongroom@db.internal/platform");
	/* Unset settings keep their defaults. */
	assert_int_equal(sr_config_int(f->cfg, "server", "threads"), 2);
	assert_string_equal(sr_config_str(f->cfg, "log", "level"), "info");
	/* Relative paths resolve against the file's folder, absolute stay. */
	char real[PATH_MAX];
	assert_non_null(realpath(f->dir, real));
	assert_string_equal(sr_config_dir(f->cfg), real);
	char *p = sr_config_path(f->cfg, "vault", "tls_cert");
	char want[PATH_MAX + 32];
	snprintf(want, sizeof want, "%s/tls/vault.crt", real);
	assert_string_equal(p, want);
	free(p);
	p = sr_config_path(f->cfg, "vault", "kek_file");
	assert_string_equal(p, "/etc/strongroom/kek");
	free(p);
	/* An empty STR setting stays empty, and as a path it is NULL. */
	assert_string_equal(sr_config_str(f->cfg, "database", "url"), "");
}

static void refuses_unknown_section(void **state)
{
	expect_refused(*state, "[instance]\nenvironment = development\n\n[nosuch]\nkey = 1\n", 5,
		       "[nosuch] key: unknown section");
}

static void refuses_unknown_key(void **state)
{
	expect_refused(*state, "# comment\n[server]\nthreads = 2\nthread = 3\n", 4,
		       "[server] thread: unknown key");
}

static void refuses_bad_int(void **state)
{
	expect_refused(*state, "[server]\n\n\nworkers = two\n", 4, "not an integer");
}

static void refuses_out_of_range(void **state)
{
	expect_refused(*state, "[server]\nthreads = 65\n", 2, "[server] threads: out of range");
}

static void refuses_int_with_trailing_text(void **state)
{
	expect_refused(*state, "[limits]\nbody_max = 10k\n", 2, "not an integer");
}

static void refuses_bad_enum(void **state)
{
	expect_refused(*state, "[log]\nlevel = loud\n", 2, "allowed debug|info|warn|error");
}

static void refuses_syntax_error(void **state)
{
	/* Not key = value at all: libinih's own syntax error, still with a line. */
	expect_refused(*state, "[log]\nlevel = info\njust words\n", 3, "syntax error");
}

static void refuses_bad_hostport(void **state)
{
	expect_refused(*state, "[platform]\nlisten = localhost\n", 2, "not host:port");
}

static void refuses_bare_ipv6_listen(void **state)
{
	expect_refused(*state, "[vault]\n# bare v6 needs brackets\nlisten = ::1:8444\n", 3,
		       "[vault] listen: not host:port");
}

static void refuses_key_set_twice(void **state)
{
	expect_refused(*state, "[server]\nthreads = 2\nworkers = 2\nthreads = 4\n", 4,
		       "[server] threads: set twice");
}

static void refuses_over_long_line_but_not_long_comment(void **state)
{
	struct fixture *f = *state;
	char text[1024];
	char longval[400];
	memset(longval, 'x', sizeof longval - 1);
	longval[sizeof longval - 1] = '\0';
	/* A long comment is fine and does not shift the line count. */
	snprintf(text, sizeof text, "# %s\n[server]\nthreads = 99\n", longval);
	expect_refused(f, text, 3, "out of range");
	snprintf(text, sizeof text, "[database]\n# ok\nurl = postgresql://%s\n", longval);
	expect_refused(f, text, 3, "line longer than");
}

static void applies_environment_override(void **state)
{
	struct fixture *f = *state;
	write_conf(f, "[limits]\nbody_max = 2048\n");
	setenv("STRONGROOM_LIMITS_BODY_MAX", "4096", 1);
	assert_int_equal(sr_config_load(f->path, &f->cfg, f->err, sizeof f->err), 0);
	assert_int_equal(sr_config_int(f->cfg, "limits", "body_max"), 4096);
	sr_config_free(f->cfg);
	f->cfg = NULL;
	/* Also without a file at all. */
	assert_int_equal(sr_config_load(NULL, &f->cfg, f->err, sizeof f->err), 0);
	assert_int_equal(sr_config_int(f->cfg, "limits", "body_max"), 4096);
}

static void refuses_bad_environment_override(void **state)
{
	struct fixture *f = *state;
	write_conf(f, "[limits]\nbody_max = 2048\n");
	static const char *const bad[] = {"lots", "67108865", "-1", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("STRONGROOM_LIMITS_BODY_MAX", bad[i], 1);
		assert_int_equal(sr_config_load(f->path, &f->cfg, f->err, sizeof f->err),
				 SR_E_CONFIG);
		assert_null(f->cfg);
		if (strstr(f->err, "STRONGROOM_LIMITS_BODY_MAX") == NULL)
			fail_msg("variable not named for \"%s\": %s", bad[i], f->err);
	}
}

static void refuses_missing_file(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(
		sr_config_load("/nonexistent/strongroom.conf", &f->cfg, f->err, sizeof f->err),
		SR_E_IO);
	assert_non_null(strstr(f->err, "/nonexistent/strongroom.conf: cannot read"));
}

/* Every default in settings.h, to compare the loaded template against. */
struct default_value {
	const char *section, *key, *value;
};
#define SR_SETTING(s, k, t, d, mn, mx, h) {#s, #k, d},
static const struct default_value defaults[] = {
#include "base/settings.h"
};
#undef SR_SETTING

static void template_round_trips(void **state)
{
	struct fixture *f = *state;
	FILE *out = fopen(f->path, "w");
	assert_non_null(out);
	assert_int_equal(sr_config_write_template(out, NULL), 0);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(sr_config_load(f->path, &f->cfg, f->err, sizeof f->err), 0);
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		assert_string_equal(sr_config_str(f->cfg, defaults[i].section, defaults[i].key),
				    defaults[i].value);
}

static void template_applies_overrides(void **state)
{
	struct fixture *f = *state;
	static const char *const ov[] = {"instance", "environment", "production", "server",
					 "threads",  "8",           NULL};
	FILE *out = fopen(f->path, "w");
	assert_non_null(out);
	assert_int_equal(sr_config_write_template(out, ov), 0);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(sr_config_load(f->path, &f->cfg, f->err, sizeof f->err), 0);
	assert_false(sr_config_is_development(f->cfg));
	assert_int_equal(sr_config_int(f->cfg, "server", "threads"), 8);
	assert_int_equal(sr_config_int(f->cfg, "server", "workers"), 0); /* default: two per core */
}

static void split_hostport(void **state)
{
	(void)state;
	char host[64];
	unsigned port = 0;
	struct {
		const char *in, *host;
		unsigned port;
	} good[] = {
		{"127.0.0.1:8443", "127.0.0.1", 8443},
		{"localhost:1", "localhost", 1},
		{"[::1]:8444", "::1", 8444},
		{"[2001:db8::1]:65535", "2001:db8::1", 65535},
		{"0.0.0.0:443", "0.0.0.0", 443},
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		assert_int_equal(sr_config_split_hostport(good[i].in, host, sizeof host, &port), 0);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
	}
	static const char *const bad[] = {
		"localhost", "localhost:", ":8443",     "host:0",   "host:65536",  "host:8x",
		"host:+80",  "host: 80",   "host:-1",   "::1:8443", "[::1]",       "[::1]:",
		"[]:80",     "[::1]8443",  "[::1:8443", "a]:80",    "host:080808", "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (sr_config_split_hostport(bad[i], host, sizeof host, &port) != SR_E_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	/* A host that does not fit the caller's buffer is refused, not cut. */
	char tiny[4];
	assert_int_equal(sr_config_split_hostport("localhost:80", tiny, sizeof tiny, &port),
			 SR_E_INVAL);
	assert_int_equal(sr_config_split_hostport("abc:80", tiny, sizeof tiny, &port), 0);
	assert_string_equal(tiny, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(loads_a_valid_file, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_unknown_section, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_unknown_key, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_int, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_int_with_trailing_text, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_enum, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_syntax_error, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_hostport, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bare_ipv6_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_key_set_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_over_long_line_but_not_long_comment, setup,
						teardown),
		cmocka_unit_test_setup_teardown(applies_environment_override, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_bad_environment_override, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(template_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(template_applies_overrides, setup, teardown),
		cmocka_unit_test(split_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
