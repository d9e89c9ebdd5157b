/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API keys: each service accepts only its own keys of the right kind, a
 * credentials file others can read is refused, and failures still name the
 * presented key by a digest-derived id, never by the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/apikey.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PSK "sk_test_platformplatformplatformplatform0001"
#define VSK "sk_test_vaultvaultvaultvaultvaultvaultvau0002"
#define VPK "pk_test_vaultvaultvaultvaultvaultvaultvau0003"

static char dir[64];
static char path[128];

static void write_file(const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sr-test-apikey-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/credentials.json", dir);
	write_file("{\"platform_secret_key\":\"" PSK "\",\"vault_secret_key\":\"" VSK
		   "\",\"vault_publishable_key\":\"" VPK "\"}",
		   0600);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_platform_keys(void **state)
{
	(void)state;
	struct sr_apikeys *k = NULL;
	char err[256], id[SR_APIKEY_ID_LEN];
	assert_int_equal(sr_apikeys_load(path, "platform", &k, err, sizeof err), 0);
	assert_int_equal(sr_apikeys_check(k, "Bearer " PSK, SR_APIKEY_SECRET, id), 0);
	assert_int_equal(strlen(id), SR_APIKEY_ID_LEN - 1);
	assert_int_equal(strncmp(id, "key_", 4), 0);
	assert_null(strstr(PSK, id + 4));
	/* Case of the scheme does not matter; the key's does. */
	assert_int_equal(sr_apikeys_check(k, "bearer " PSK, SR_APIKEY_SECRET, id), 0);
	assert_int_equal(sr_apikeys_check(k, "Bearer " VSK, SR_APIKEY_SECRET, id), SR_E_AUTH);
	assert_true(id[0] != '\0'); /* a well-formed unknown key is still named */
	assert_int_equal(sr_apikeys_check(k, "Bearer " PSK "x", SR_APIKEY_SECRET, id), SR_E_AUTH);
	assert_int_equal(sr_apikeys_check(k, "Basic " PSK, SR_APIKEY_SECRET, id), SR_E_AUTH);
	assert_int_equal(sr_apikeys_check(k, NULL, SR_APIKEY_SECRET, id), SR_E_AUTH);
	assert_int_equal(sr_apikeys_check(k, "Bearer sk_te'st", SR_APIKEY_SECRET, id), SR_E_AUTH);
	assert_string_equal(id, "");
	sr_apikeys_free(k);
}

static void test_vault_kinds(void **state)
{
	(void)state;
	struct sr_apikeys *k = NULL;
	char err[256], id[SR_APIKEY_ID_LEN], id2[SR_APIKEY_ID_LEN];
	assert_int_equal(sr_apikeys_load(path, "vault", &k, err, sizeof err), 0);
	assert_int_equal(sr_apikeys_check(k, "Bearer " VSK, SR_APIKEY_SECRET, id), 0);
	assert_int_equal(sr_apikeys_check(k, "Bearer " VPK, SR_APIKEY_PUBLISHABLE, id2), 0);
	assert_string_not_equal(id, id2);
	/* A publishable key is not a secret key, nor the reverse. */
	assert_int_equal(sr_apikeys_check(k, "Bearer " VPK, SR_APIKEY_SECRET, id), SR_E_AUTH);
	assert_int_equal(sr_apikeys_check(k, "Bearer " VSK, SR_APIKEY_PUBLISHABLE, id), SR_E_AUTH);
	assert_int_equal(sr_apikeys_check(k, "Bearer " PSK, SR_APIKEY_SECRET, id), SR_E_AUTH);
	sr_apikeys_free(k);
}

static void test_file_refusals(void **state)
{
	(void)state;
	struct sr_apikeys *k = NULL;
	char err[256];
	write_file("{\"platform_secret_key\":\"" PSK "\"}", 0644);
	assert_int_equal(sr_apikeys_load(path, "platform", &k, err, sizeof err), SR_E_CONFIG);
	assert_non_null(strstr(err, "chmod 0600"));
	assert_null(k);
	write_file("{\"platform_secret_key\":\"" PSK "\"}", 0600);
	assert_int_equal(sr_apikeys_load(path, "vault", &k, err, sizeof err), SR_E_CONFIG);
	assert_non_null(strstr(err, "no API key"));
	write_file("{\"platform_secret_key\":\"pk_test_wrongprefixwrongprefix\"}", 0600);
	assert_int_equal(sr_apikeys_load(path, "platform", &k, err, sizeof err), SR_E_CONFIG);
	assert_null(strstr(err, "wrongprefix")); /* the key text is never echoed */
	write_file("not json", 0600);
	assert_int_equal(sr_apikeys_load(path, "platform", &k, err, sizeof err), SR_E_CONFIG);
	assert_int_equal(
		sr_apikeys_load("/nonexistent/credentials.json", "platform", &k, err, sizeof err),
		SR_E_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_platform_keys),
		cmocka_unit_test(test_vault_kinds),
		cmocka_unit_test(test_file_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
