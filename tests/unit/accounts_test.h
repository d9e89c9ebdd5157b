/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_TESTS_ACCOUNTS_TEST_H
#define SR_TESTS_ACCOUNTS_TEST_H

/*
 * A platform database with the accounts module started offline, on either
 * backend, for test_pii.c and test_auth.c: an instance folder from
 * `strongroom init` (real key files), a fresh migrated database, the audit
 * key, and struct sr_accounts (whose private fields the tests may read).
 */
#include "audit/audit.h"
#include "base/config.h"
#include "cmd/init.h"
#include "platform/accounts.h"
#include "platform/accounts_int.h"
#include "store/migrate.h"

#include "store_testdb.h"

#include <stdlib.h>

static __attribute__((unused)) void nt_mkdtemp(char *dir, size_t len, const char *what)
{
	snprintf(dir, len, "/tmp/sr-test-%s-XXXXXX", what);
	assert_non_null(mkdtemp(dir));
}

static __attribute__((unused)) void nt_rmrf(const char *dir)
{
	char cmd[600];
	/* Test-only cleanup of a mkdtemp folder; src/ never shells out. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

struct acc_fixture {
	struct testdb db;
	struct sr_store *st;
	struct sr_config *cfg;
	struct sr_audit_key *audit_key;
	struct sr_accounts *acc;
	char dir[64], inst[128], err[512];
};

static __attribute__((unused)) struct acc_fixture *acc_setup(enum sr_store_kind kind)
{
	struct acc_fixture *f = calloc(1, sizeof *f);
	char conf[256], *path = NULL;
	nt_mkdtemp(f->dir, sizeof f->dir, "accounts");
	snprintf(f->inst, sizeof f->inst, "%s/inst", f->dir);
	if (sr_init_instance(f->inst, false, f->err, sizeof f->err) != 0)
		fail_msg("init: %s", f->err);
	snprintf(conf, sizeof conf, "%s/strongroom.conf", f->inst);
	/* Short test settings; the lowest Argon2id cost. */
	setenv("STRONGROOM_SESSIONS_IDLE_TIMEOUT_S", "60", 1);
	setenv("STRONGROOM_SESSIONS_ABSOLUTE_TIMEOUT_S", "600", 1);
	setenv("STRONGROOM_SESSIONS_REAUTH_WINDOW_S", "30", 1);
	setenv("STRONGROOM_ACCOUNTS_LOCKOUT_THRESHOLD", "3", 1);
	if (sr_config_load(conf, &f->cfg, f->err, sizeof f->err) != 0)
		fail_msg("config: %s", f->err);
	assert_int_equal(testdb_create(kind, &f->db), 0);
	f->st = testdb_open(&f->db, 2, 5000);
	assert_non_null(f->st);
	assert_int_equal(sr_migrate(f->st, "platform", f->err, sizeof f->err), 0);
	path = sr_config_path(f->cfg, "platform", "audit_key_file");
	assert_int_equal(sr_audit_key_load(path, &f->audit_key), 0);
	free(path);
	f->acc = sr_accounts_new(f->cfg, NULL);
	if (sr_accounts_start_offline(f->acc, f->st, f->audit_key, f->err, sizeof f->err) != 0)
		fail_msg("accounts: %s", f->err);
	return f;
}

static __attribute__((unused)) void acc_teardown(struct acc_fixture *f)
{
	sr_accounts_free(f->acc);
	sr_audit_key_free(f->audit_key);
	sr_config_free(f->cfg);
	sr_store_close(f->st);
	testdb_drop(&f->db);
	nt_rmrf(f->dir);
	free(f);
}

/* Creates a member; returns its id in out. */
static __attribute__((unused)) void acc_member(struct acc_fixture *f, const char *email,
					       const char *name, char out[SR_USER_ID_SIZE])
{
	bool dup = true;
	assert_int_equal(sr_accounts_create_user(f->acc, email, name, "a long test password", 20, 1,
						 NULL, out, &dup),
			 0);
	assert_false(dup);
}

#endif
