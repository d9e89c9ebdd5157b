/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom vault init-shares --out-dir` as a custodian would check it:
 * the share files of a fresh instance, read back, recover exactly the bytes
 * of the instance's KEK file from any M of them (sr_shares_combine), and
 * fewer than M are refused. Plus the commands' usage errors and --help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "cmd/cmd.h"
#include "crypto/keyfile.h"
#include "crypto/shares.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 5
#define M 3

struct fixture {
	char base[64];
	char dir[128];
	char conf[160];
	char out[160];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	/* The instance must use its own SQLite file, whatever the shell says. */
	unsetenv("STRONGROOM_VAULT_DATABASE_URL");
	unsetenv("STRONGROOM_VAULT_KEK_FILE");
	snprintf(f->base, sizeof f->base, "/tmp/sr-test-vault-cli-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/inst", f->base);
	snprintf(f->conf, sizeof f->conf, "%s/strongroom.conf", f->dir);
	snprintf(f->out, sizeof f->out, "%s/shares", f->base);
	char *argv[] = {"init", "--dir", f->dir, NULL};
	assert_int_equal(sr_cmd_init(3, argv), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	/* Test-only cleanup of a mkdtemp folder; src/ never shells out. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->base);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static char *read_share(const struct fixture *f, unsigned k)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "%s/share-%u.txt", f->out, k);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0400);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *text = sodium_malloc(SR_SHARES_TEXT_MAX + 2);
	assert_non_null(text);
	assert_non_null(fgets(text, SR_SHARES_TEXT_MAX + 2, fp));
	fclose(fp);
	text[strcspn(text, "\n")] = '\0';
	return text;
}

static void combine_to_kek(char **texts, const unsigned *pick, size_t count,
			   const unsigned char *kek)
{
	const char *set[N];
	unsigned char *back = NULL;
	for (size_t i = 0; i < count; i++)
		set[i] = texts[pick[i]];
	assert_int_equal(sr_shares_combine(set, count, &back, NULL), 0);
	assert_int_equal(sodium_memcmp(back, kek, SR_SHARES_SECRET_LEN), 0);
	sodium_free(back);
}

static void test_share_files_recover_the_kek(void **state)
{
	struct fixture *f = *state;
	char n[8], m[8];
	snprintf(n, sizeof n, "%d", N);
	snprintf(m, sizeof m, "%d", M);
	char *vargv[] = {"vault", "init-shares", "--config", f->conf, "--shares", n, "--threshold",
			 m,       "--out-dir",   f->out,     NULL};
	assert_int_equal(sr_cmd_vault(10, vargv), 0);

	char kek_path[256];
	unsigned char *kek = NULL;
	snprintf(kek_path, sizeof kek_path, "%s/keys/vault-kek.key", f->dir);
	assert_int_equal(sr_keyfile_read(kek_path, SR_SHARES_SECRET_LEN, &kek), 0);

	char *texts[N];
	for (unsigned k = 1; k <= N; k++)
		texts[k - 1] = read_share(f, k);
	/* Every 3-subset of the 5 files. */
	for (unsigned a = 0; a < N; a++)
		for (unsigned b = a + 1; b < N; b++)
			for (unsigned c = b + 1; c < N; c++) {
				unsigned pick[M] = {a, b, c};
				combine_to_kek(texts, pick, M, kek);
			}
	/* All five, in reverse order, too. */
	unsigned all[N] = {4, 3, 2, 1, 0};
	combine_to_kek(texts, all, N, kek);
	/* Two are not enough. */
	const char *two[2] = {texts[0], texts[1]};
	unsigned char *back = NULL;
	assert_int_equal(sr_shares_combine(two, 2, &back, NULL), SR_E_LIMIT);
	assert_null(back);

	/* A second run never overwrites the shares already handed out. */
	char before[SR_SHARES_TEXT_MAX + 1];
	snprintf(before, sizeof before, "%s", texts[0]);
	assert_int_equal(sr_cmd_vault(10, vargv), 1);
	char *again = read_share(f, 1);
	assert_string_equal(again, before);
	sodium_free(again);

	for (unsigned k = 0; k < N; k++)
		sodium_free(texts[k]);
	sodium_free(kek);
}

static void test_usage(void **state)
{
	struct fixture *f = *state;
	char *help1[] = {"vault", "init-shares", "--help", NULL};
	char *help2[] = {"vault", "rotate-keys", "--help", NULL};
	char *help3[] = {"vault", "--help", NULL};
	char *m_gt_n[] = {"vault", "init-shares", "--config", f->conf, "--shares",
			  "2",     "--threshold", "3",        NULL};
	char *one[] = {"vault", "init-shares", "--config", f->conf, "--shares",
		       "1",     "--threshold", "1",        NULL};
	char *no_cfg[] = {"vault", "rotate-keys", NULL};
	char *only[] = {"vault", "rotate-keys", "--config", f->conf, "--rewrap-only", NULL};
	char *grace[] = {"vault", "rotate-keys", "--config", f->conf, "--rsa-grace-seconds",
			 "-1",    NULL};
	assert_int_equal(sr_cmd_vault(3, help1), 0);
	assert_int_equal(sr_cmd_vault(3, help2), 0);
	assert_int_equal(sr_cmd_vault(2, help3), 0);
	assert_int_equal(sr_cmd_vault(8, m_gt_n), 2);
	assert_int_equal(sr_cmd_vault(8, one), 2);
	assert_int_equal(sr_cmd_vault(2, no_cfg), 2);
	assert_int_equal(sr_cmd_vault(5, only), 2);
	assert_int_equal(sr_cmd_vault(6, grace), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_share_files_recover_the_kek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
