/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strongroom: one executable, one subcommand table. Each subcommand owns its
 * options and its --help; this file only dispatches.
 */
#include "cmd/cmd.h"
#include "lib/card.h"
#include "version.h"

#include <stdio.h>
#include <string.h>

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand commands[] = {
	{"init", sr_cmd_init, "create an instance: config, TLS certificates, keys, credentials"},
	{"platform", sr_cmd_platform, "run the platform service (accounts, ledger, payouts, ...)"},
	{"vault", sr_cmd_vault, "run the card vault service (PCI zone); vault key commands"},
	{"migrate", sr_cmd_migrate, "apply database migrations for a service"},
	{"audit", sr_cmd_audit, "verify or show a service's tamper-evident audit log"},
	{"user", sr_cmd_user, "create a platform account (staff) from the command line"},
	{"config", sr_cmd_config, "check a config file, or print the settings reference"},
	{"version", cmd_version, "print the version"},
	{"help", cmd_help, "list subcommands"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: strongroom <command> [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'strongroom <command> --help' for a command's options.\n");
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: strongroom version\n\nPrints the version of this binary.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "strongroom version: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	printf("strongroom %s\n", SR_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer build: ASan replaces malloc (base/mem.c's wiping free() is not
 * compiled in) and keeps freed blocks in a quarantine with their contents.
 * Fill them with zeros on free, whatever their size, so this build keeps
 * secrets no longer than the release build does
 * (tests/e2e/memory_scan.test.mjs runs against both). ASAN_OPTIONS in the
 * environment still win, key by key. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "free_fill_byte=0:max_free_fill_size=2147483647";
}
#endif

int main(int argc, char **argv)
{
	/* Before any thread: jansson's copies of parsed secrets (card data, API
	 * keys) are wiped when it frees them. */
	sr_card_json_wipe_on_free();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "strongroom: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
