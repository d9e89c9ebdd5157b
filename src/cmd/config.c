/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom config check|reference`: validate a config file (with the
 * environment overrides that would apply) before a deploy, and print the
 * settings reference that docs/configuration.md carries.
 */
#include "base/config.h"
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: strongroom config check --config FILE\n"
		   "       strongroom config reference\n\n"
		   "check      loads FILE as a service would (with STRONGROOM_* environment\n"
		   "           overrides) and reports the first problem with its file:line;\n"
		   "           exit 0 when the configuration would be accepted\n"
		   "reference  prints every setting as Markdown tables (docs/configuration.md)\n");
}

int sr_cmd_config(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "reference") == 0 && argc == 2)
		return sr_config_write_reference(stdout) == 0 ? 0 : 1;
	if (strcmp(argv[1], "check") == 0 && argc == 4 && strcmp(argv[2], "--config") == 0) {
		struct sr_config *cfg = NULL;
		char err[1024];
		if (sr_config_load(argv[3], &cfg, err, sizeof err) != 0) {
			fprintf(stderr, "strongroom config: %s\n", err);
			return 1;
		}
		printf("%s: configuration accepted (environment: %s)\n", sr_config_file(cfg),
		       sr_config_str(cfg, "instance", "environment"));
		sr_config_free(cfg);
		return 0;
	}
	usage(stderr);
	return 2;
}
