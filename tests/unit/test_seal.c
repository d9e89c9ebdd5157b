/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vault/seal: the share collector behind POST /v1/sys/unseal. Shares are
 * taken one at a time; a typo, junk, a duplicate or a share of a split
 * with another threshold is refused without changing the progress; the
 * share that completes the threshold yields the KEK and leaves nothing
 * held; an unsealed vault takes no share. The first test combines fixed
 * shares in a process that never split a secret (as the unsealing vault
 * does), which once crashed inside libgfshare.
 */
#include "crypto/shares.h"
#include "vault/seal.h"

#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* A 3-of-5 split of FIXED_KEK made by `strongroom vault init-shares`. */
static const unsigned char FIXED_KEK[SR_SHARES_SECRET_LEN] = {
	0x1c, 0x57, 0x54, 0x30, 0x80, 0xfa, 0xdc, 0xde, 0xa0, 0xa5, 0x04,
	0xd8, 0x5e, 0x80, 0x5c, 0x8c, 0xf3, 0x97, 0x05, 0x9e, 0x3a, 0x32,
	0x58, 0x88, 0xb7, 0xb7, 0xb6, 0xb0, 0xd8, 0x7b, 0x73, 0xae,
};
static const char *const FIXED[] = {
	"srs1-3-1-tzft4sqb3l7dzb7p3znptd3slc5fjjuptml42kovu6rynzkjyiaa-cfj2aay6",
	"srs1-3-3-bekry6m5pltnrf2xqfpljbbxh35riqinuv5nz3mletw5mkbjrrqa-frwyde5z",
	"srs1-3-5-v5zikfysecrr3qrst4tbxtm475jz7pzmpzixp2r3bkznnbeztjca-zqa6smtz",
};
/* Share 2 of the same shape from another vault's KEK. */
static const char FOREIGN[] =
	"srs1-3-2-qrwvz7n3nsqvcjthatd6jr277q72ssv23x5yc6ztqqv2kaj5kmfq-itzxv3xl";

static struct sr_vault_seal *sealed(void)
{
	return sr_vault_seal_new(true, NULL, NULL, NULL, 10);
}

static void add_ok(struct sr_vault_seal *s, const char *text, unsigned want_x,
		   unsigned want_progress, unsigned char **kek)
{
	struct sr_vault_seal_status st;
	unsigned x = 0;
	assert_int_equal(sr_vault_seal_add_share(s, text, &x, &st, kek), 0);
	assert_int_equal(x, want_x);
	assert_int_equal(st.progress, want_progress);
	assert_true(st.sealed);
	assert_int_equal(st.threshold, 3);
}

static void test_fixed_shares_recover_kek_without_a_split(void **state)
{
	(void)state;
	struct sr_vault_seal *s = sealed();
	unsigned char *kek = NULL;
	add_ok(s, FIXED[0], 1, 1, &kek);
	assert_null(kek);
	/* As pasted from a file: surrounding spaces and a line end. */
	add_ok(s, "  srs1-3-3-bekry6m5pltnrf2xqfpljbbxh35riqinuv5nz3mletw5mkbjrrqa-frwyde5z\r\n", 3,
	       2, &kek);
	assert_null(kek);
	add_ok(s, FIXED[2], 5, 0, &kek); /* completes: nothing held any more */
	assert_non_null(kek);
	assert_memory_equal(kek, FIXED_KEK, SR_SHARES_SECRET_LEN);
	sodium_free(kek);
	struct sr_vault_seal_status st;
	sr_vault_seal_get_status(s, &st);
	assert_int_equal(st.progress, 0);
	assert_int_equal(st.threshold, 0);
	sr_vault_seal_free(s);
}

static void test_refusals_change_nothing(void **state)
{
	(void)state;
	struct sr_vault_seal *s = sealed();
	struct sr_vault_seal_status st;
	unsigned char *kek = NULL;
	unsigned x = 0;
	add_ok(s, FIXED[0], 1, 1, &kek);

	/* The same share again. */
	assert_int_equal(sr_vault_seal_add_share(s, FIXED[0], &x, &st, &kek), SR_E_EXISTS);
	assert_int_equal(x, 1);
	/* A typo in the share bytes: the checksum catches it. */
	char typo[SR_SHARES_TEXT_MAX + 1];
	snprintf(typo, sizeof typo, "%s", FIXED[1]);
	typo[20] = typo[20] == 'a' ? 'b' : 'a';
	assert_int_equal(sr_vault_seal_add_share(s, typo, &x, &st, &kek), SR_E_TAMPER);
	/* Junk and empty input. */
	assert_int_equal(sr_vault_seal_add_share(s, "hunter2", &x, &st, &kek), SR_E_INVAL);
	assert_int_equal(sr_vault_seal_add_share(s, "", &x, &st, &kek), SR_E_INVAL);
	/* A share of a split with another threshold. */
	char **two = NULL;
	unsigned char other[SR_SHARES_SECRET_LEN] = {1};
	assert_int_equal(sr_shares_split(other, 2, 3, &two), 0);
	assert_int_equal(sr_vault_seal_add_share(s, two[1], &x, &st, &kek), SR_E_CONFLICT);
	sr_shares_free(two, 3);
	assert_null(kek);

	sr_vault_seal_get_status(s, &st);
	assert_int_equal(st.progress, 1);
	assert_int_equal(st.threshold, 3);

	/* The good shares still complete it. */
	add_ok(s, FIXED[1], 3, 2, &kek);
	add_ok(s, FIXED[2], 5, 0, &kek);
	assert_memory_equal(kek, FIXED_KEK, SR_SHARES_SECRET_LEN);
	sodium_free(kek);
	sr_vault_seal_free(s);
}

static void test_foreign_share_gives_another_kek(void **state)
{
	(void)state;
	/* Well-formed but from another vault: the collector cannot tell; the
	 * combined KEK differs and the key ring's KEK check refuses it. */
	struct sr_vault_seal *s = sealed();
	unsigned char *kek = NULL;
	add_ok(s, FIXED[0], 1, 1, &kek);
	add_ok(s, FOREIGN, 2, 2, &kek);
	add_ok(s, FIXED[1], 3, 0, &kek);
	assert_non_null(kek);
	assert_true(sodium_memcmp(kek, FIXED_KEK, SR_SHARES_SECRET_LEN) != 0);
	sodium_free(kek);
	sr_vault_seal_free(s);
}

static void test_reset_and_unsealed(void **state)
{
	(void)state;
	struct sr_vault_seal *s = sealed();
	struct sr_vault_seal_status st;
	unsigned char *kek = NULL;
	unsigned x = 0;
	add_ok(s, FIXED[0], 1, 1, &kek);
	sr_vault_seal_reset(s);
	sr_vault_seal_get_status(s, &st);
	assert_int_equal(st.progress, 0);
	/* After a reset the same share counts again. */
	add_ok(s, FIXED[0], 1, 1, &kek);
	/* Freed with a share held: wiped, and no leak under ASan. */
	sr_vault_seal_free(s);

	struct sr_vault_seal *open = sr_vault_seal_new(false, NULL, NULL, NULL, 10);
	assert_false(sr_vault_seal_is_sealed(open));
	assert_int_equal(sr_vault_seal_add_share(open, FIXED[0], &x, &st, &kek), SR_E_UNAVAILABLE);
	assert_null(kek);
	sr_vault_seal_free(open);
	sr_vault_seal_free(NULL);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		/* First: no split has happened in this process yet. */
		cmocka_unit_test(test_fixed_shares_recover_kek_without_a_split),
		cmocka_unit_test(test_refusals_change_nothing),
		cmocka_unit_test(test_foreign_share_gives_another_kek),
		cmocka_unit_test(test_reset_and_unsealed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
