/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key files: written atomically with exactly the mode asked for, read back
 * only when private to the owner, of the right length, and not a symlink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/keyfile.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/sr-test-keyfile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/test.key", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char p[512];
		snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
		if (e->d_name[0] != '.')
			assert_int_equal(remove(p), 0);
	}
	if (d != NULL)
		closedir(d);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static size_t entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void round_trip(void **state)
{
	struct fixture *f = *state;
	unsigned char *key = NULL;
	unsigned char raw[32];
	assert_int_equal(sr_keyfile_write_random(f->path, 32, 0400), 0);
	assert_int_equal(mode_of(f->path), 0400);
	FILE *in = fopen(f->path, "rb");
	assert_non_null(in);
	assert_int_equal(fread(raw, 1, sizeof raw, in), 32);
	fclose(in);
	assert_int_equal(sr_keyfile_read(f->path, 32, &key), 0);
	assert_non_null(key);
	assert_memory_equal(key, raw, 32);
	assert_false(sodium_is_zero(key, 32));
	sodium_free(key);
	/* Overwriting a 0400 file works (rename, not open for writing), gives
	 * new bytes, and leaves no temporary behind. */
	assert_int_equal(sr_keyfile_write_random(f->path, 32, 0400), 0);
	assert_int_equal(sr_keyfile_read(f->path, 32, &key), 0);
	assert_memory_not_equal(key, raw, 32);
	sodium_free(key);
	assert_int_equal(entries(f->dir), 1);
}

static void mode_ignores_umask(void **state)
{
	struct fixture *f = *state;
	mode_t old = umask(0);
	assert_int_equal(sr_keyfile_write(f->path, "x", 1, 0400), 0);
	assert_int_equal(mode_of(f->path), 0400);
	umask(077);
	assert_int_equal(sr_keyfile_write(f->path, "x", 1, 0644), 0);
	assert_int_equal(mode_of(f->path), 0644);
	umask(old);
}

static void refuses_shared_modes(void **state)
{
	struct fixture *f = *state;
	unsigned char *key = (unsigned char *)f; /* must be cleared on failure */
	static const mode_t bad[] = {0440, 0404, 0420, 0402, 0410, 0644};
	assert_int_equal(sr_keyfile_write_random(f->path, 32, 0400), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(chmod(f->path, bad[i]), 0);
		assert_int_equal(sr_keyfile_read(f->path, 32, &key), SR_E_CONFIG);
		assert_null(key);
	}
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(sr_keyfile_read(f->path, 32, &key), 0);
	sodium_free(key);
}

static void refuses_wrong_length(void **state)
{
	struct fixture *f = *state;
	unsigned char *key = NULL;
	assert_int_equal(sr_keyfile_write_random(f->path, 31, 0400), 0);
	assert_int_equal(sr_keyfile_read(f->path, 32, &key), SR_E_LIMIT);
	assert_null(key);
	assert_int_equal(sr_keyfile_write_random(f->path, 33, 0400), 0);
	assert_int_equal(sr_keyfile_read(f->path, 32, &key), SR_E_LIMIT);
	assert_int_equal(sr_keyfile_read(f->path, 0, &key), SR_E_INVAL);
	assert_null(key);
}

static void refuses_symlink_dir_and_missing(void **state)
{
	struct fixture *f = *state;
	unsigned char *key = NULL;
	char link[160];
	assert_int_equal(sr_keyfile_read(f->path, 32, &key), SR_E_IO); /* missing */
	assert_int_equal(sr_keyfile_write_random(f->path, 32, 0400), 0);
	snprintf(link, sizeof link, "%s/link.key", f->dir);
	assert_int_equal(symlink(f->path, link), 0);
	assert_int_equal(sr_keyfile_read(link, 32, &key), SR_E_IO);
	assert_int_equal(sr_keyfile_read(f->dir, 32, &key), SR_E_IO);
	assert_null(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(mode_ignores_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_shared_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_wrong_length, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_symlink_dir_and_missing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
