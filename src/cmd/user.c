/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strongroom user create --config FILE --role member|reviewer|admin
 *                        --email ADDRESS [--name NAME]
 *
 * Creates an account directly in the platform database, for staff (members
 * sign up through POST /v1/users). The password is read from the terminal
 * with echo off (asked twice), or from the first line of standard input
 * when that is not a terminal; never from an argument, where it would land
 * in shell history and in every process listing. The address counts as
 * verified (the operator vouches for it). Staff must set up a second factor
 * at their first login before anything else. Audited as user.create.
 */
#include "cmd/cmd.h"
#include "cmd/prompt.h"

#include "audit/audit.h"
#include "base/config.h"
#include "lib/password_policy.h"
#include "platform/accounts.h"
#include "platform/auth.h"
#include "store/migrate.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PW_BUF 1024

static void usage(FILE *f)
{
	fprintf(f, "usage: strongroom user create --config FILE --role ROLE --email ADDRESS "
		   "[--name NAME]\n"
		   "\n"
		   "Creates a platform account (for staff: reviewers and admins). The password\n"
		   "is asked on the terminal without echo, or read from the first line of\n"
		   "standard input when it is not a terminal; it is never an argument.\n"
		   "The address counts as verified. Staff set up two-step sign-in at their\n"
		   "first login.\n"
		   "\n"
		   "  --config FILE     strongroom.conf to read\n"
		   "  --role ROLE       member, reviewer or admin\n"
		   "  --email ADDRESS   the account's email address\n"
		   "  --name NAME       the person's name (default: the role)\n"
		   "  --help            this text\n");
}

static int user_create(int argc, char **argv)
{
	const char *config = NULL, *role_name = NULL, *email_in = NULL, *name = NULL;
	struct sr_config *cfg = NULL;
	struct sr_store *st = NULL;
	struct sr_audit_key *audit_key = NULL;
	struct sr_accounts *acc = NULL;
	char *pw = NULL, *pw2 = NULL, *audit_path = NULL;
	char err[1024], email[255], user_id[SR_USER_ID_SIZE];
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
			role_name = argv[++i];
		} else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc) {
			email_in = argv[++i];
		} else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--password") == 0 ||
			   strncmp(argv[i], "--password=", 11) == 0) {
			fprintf(stderr,
				"strongroom user create: the password is never an argument; "
				"type it at the prompt or pipe it on standard input\n");
			return 2;
		} else {
			fprintf(stderr, "strongroom user create: unexpected argument '%s'\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL || role_name == NULL || email_in == NULL) {
		fprintf(stderr,
			"strongroom user create: --config, --role and --email are required\n");
		usage(stderr);
		return 2;
	}
	enum sr_role role = sr_role_parse(role_name);
	if (role == 0) {
		fprintf(stderr,
			"strongroom user create: --role must be member, reviewer or admin\n");
		return 2;
	}
	if (sr_accounts_normalise_email(email_in, strlen(email_in), email) != 0) {
		fprintf(stderr, "strongroom user create: --email is not an address like "
				"name@example.com\n");
		return 2;
	}
	if (name == NULL)
		name = sr_role_name(role);
	long nchars = sr_password_utf8_chars(name, strlen(name));
	if (nchars <= 0 || nchars > 200) {
		fprintf(stderr, "strongroom user create: --name must be 1 to 200 characters\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	pw = sodium_malloc(PW_BUF);
	pw2 = sodium_malloc(PW_BUF);
	if (pw == NULL || pw2 == NULL)
		goto out;
	bool tty = sr_cmd_secret_from_tty();
	long n = sr_cmd_read_secret("Password: ", pw, PW_BUF);
	if (n <= 0) {
		fprintf(stderr, "strongroom user create: no password given\n");
		goto out;
	}
	if (tty) {
		long n2 = sr_cmd_read_secret("Password again: ", pw2, PW_BUF);
		if (n2 != n || sodium_memcmp(pw, pw2, (size_t)n) != 0) {
			fprintf(stderr, "strongroom user create: the passwords differ\n");
			goto out;
		}
	}
	struct sr_password_list *list = NULL;
	if (sr_password_list_embedded(&list) != 0)
		goto out;
	struct sr_password_candidate cand = {.password = pw,
					     .len = (size_t)n,
					     .email = email,
					     .email_len = strlen(email),
					     .name = name,
					     .name_len = strlen(name)};
	enum sr_password_problem p = sr_password_policy_check(list, &cand);
	sr_password_list_free(list);
	if (p != SR_PASSWORD_OK) {
		fprintf(stderr, "strongroom user create: password refused: %s\n",
			sr_password_problem_message(p, false));
		goto out;
	}

	if (sr_config_load(config, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "strongroom user create: %s\n", err);
		goto out;
	}
	if (sr_store_open_for_service(cfg, "platform", 1, &st, err, sizeof err) != 0 ||
	    sr_migrate(st, "platform", err, sizeof err) != 0) {
		fprintf(stderr, "strongroom user create: %s\n", err);
		goto out;
	}
	audit_path = sr_config_path(cfg, "platform", "audit_key_file");
	if (audit_path == NULL || sr_audit_key_load(audit_path, &audit_key) != 0) {
		fprintf(stderr, "strongroom user create: cannot read [platform] audit_key_file\n");
		goto out;
	}
	acc = sr_accounts_new(cfg, NULL);
	if (sr_accounts_start_offline(acc, st, audit_key, err, sizeof err) != 0) {
		fprintf(stderr, "strongroom user create: %s\n", err);
		goto out;
	}
	bool duplicate = false;
	int rc = sr_accounts_create_user(acc, email, name, pw, (size_t)n, (int)role, NULL, user_id,
					 &duplicate);
	if (rc != 0) {
		fprintf(stderr, "strongroom user create: %s\n", sr_strerror(rc));
		goto out;
	}
	if (duplicate) {
		fprintf(stderr,
			"strongroom user create: an account with this address exists already\n");
		goto out;
	}
	printf("%s\n", user_id);
	if (role != SR_ROLE_MEMBER)
		fprintf(stderr,
			"created %s %s; at the first login they must set up two-step "
			"sign-in (POST /v1/mfa/totp)\n",
			role_name, user_id);
	status = 0;
out:
	if (pw != NULL)
		sodium_free(pw);
	if (pw2 != NULL)
		sodium_free(pw2);
	free(audit_path);
	sr_accounts_free(acc);
	sr_audit_key_free(audit_key);
	sr_store_close(st);
	sr_config_free(cfg);
	return status;
}

int sr_cmd_user(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return user_create(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "strongroom user: expected 'create'\n");
	usage(stderr);
	return 2;
}
