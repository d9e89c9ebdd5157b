/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom platform` and `strongroom vault`: option parsing, config
 * loading and log level, then the service's run function. Exit status 0 after
 * a clean stop, 1 when start-up fails, 2 for a usage error.
 */
#include "cmd/cmd.h"
#include "base/config.h"
#include "base/log.h"
#include "platform/service.h"
#include "vault/service.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f, const char *name)
{
	fprintf(f,
		"usage: strongroom %s --config FILE [--listen HOST:PORT]\n\n"
		"Runs the %s service over HTTPS until SIGTERM or SIGINT (graceful drain).\n"
		"SIGHUP reloads its TLS certificate and key.\n\n"
		"options:\n"
		"  -c, --config FILE        strongroom.conf to load (required)\n"
		"  -l, --listen HOST:PORT   listen here instead of [%s] listen\n"
		"  -h, --help               show this help\n",
		name, name, name);
	if (strcmp(name, "vault") == 0)
		fprintf(f, "\nkey commands (each has --help):\n"
			   "  strongroom vault init-shares --config FILE --shares N --threshold M "
			   "[--out-dir DIR]\n"
			   "      split the KEK into M-of-N shares for custody\n"
			   "  strongroom vault rotate-keys --config FILE [--new-kek-file PATH] "
			   "[--rsa-grace-seconds S]\n"
			   "      rotate the data key and RSA key; re-wrap under a new KEK\n"
			   "  strongroom vault unseal --config FILE [--url URL]\n"
			   "      give one KEK share to a sealed vault (kek_source = shares)\n");
}

static int serve(int argc, char **argv, int (*run)(const struct sr_config *, const char *))
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *name = argv[0];
	const char *config = NULL, *listen = NULL;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'l': listen = optarg; break;
		case 'h': usage(stdout, name); return 0;
		default:
			fprintf(stderr, "strongroom %s: unknown or incomplete option '%s'\n", name,
				argv[optind - 1]);
			usage(stderr, name);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "strongroom %s: unexpected argument '%s'\n", name, argv[optind]);
		return 2;
	}
	if (config == NULL) {
		fprintf(stderr, "strongroom %s: --config FILE is required\n", name);
		usage(stderr, name);
		return 2;
	}
	char err[1024];
	struct sr_config *cfg = NULL;
	if (sr_config_load(config, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "strongroom %s: %s\n", name, err);
		return 1;
	}
	if (sr_log_set_level_name(sr_config_str(cfg, "log", "level")) != 0) {
		fprintf(stderr, "strongroom %s: bad [log] level\n", name);
		sr_config_free(cfg);
		return 1;
	}
	int rc = run(cfg, listen);
	sr_config_free(cfg);
	return rc == 0 ? 0 : 1;
}

int sr_cmd_platform(int argc, char **argv)
{
	return serve(argc, argv, sr_platform_run);
}

int sr_cmd_vault(int argc, char **argv)
{
	if (argc > 1 &&
	    (strcmp(argv[1], "init-shares") == 0 || strcmp(argv[1], "rotate-keys") == 0))
		return sr_cmd_vault_keys(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "unseal") == 0)
		return sr_cmd_vault_unseal(argc - 1, argv + 1);
	return serve(argc, argv, sr_vault_run);
}
