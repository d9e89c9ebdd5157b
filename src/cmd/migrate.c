/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strongroom migrate --config FILE --service platform|vault: opens the
 * service's own database (the [database] url override if set, else
 * [<service>] database_url) and applies pending migrations. Services also
 * migrate on start; this command lets an operator do it ahead of a rollout
 * and see the resulting version.
 */
#include "cmd/cmd.h"

#include "base/config.h"
#include "store/migrate.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: strongroom migrate --config FILE --service platform|vault\n"
		   "\n"
		   "Applies pending database migrations to the service's own database:\n"
		   "[database] url when set, otherwise [<service>] database_url.\n"
		   "Refuses a database that belongs to the other service, and a schema\n"
		   "newer than this binary.\n"
		   "\n"
		   "  --config FILE    strongroom.conf to read\n"
		   "  --service NAME   platform or vault\n"
		   "  --help           this text\n");
}

int sr_cmd_migrate(int argc, char **argv)
{
	const char *config = NULL, *service = NULL;
	struct sr_config *cfg = NULL;
	struct sr_store *st = NULL;
	char err[1024];
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--service") == 0 && i + 1 < argc) {
			service = argv[++i];
		} else {
			fprintf(stderr, "strongroom migrate: unexpected argument '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL || service == NULL) {
		fprintf(stderr, "strongroom migrate: --config and --service are required\n");
		usage(stderr);
		return 2;
	}
	if (strcmp(service, "platform") != 0 && strcmp(service, "vault") != 0) {
		fprintf(stderr,
			"strongroom migrate: --service must be platform or vault, not '%s'\n",
			service);
		return 2;
	}

	if (sr_config_load(config, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, "strongroom migrate: %s\n", err);
		goto out;
	}
	if (sr_store_open_for_service(cfg, service, 1, &st, err, sizeof err) != 0) {
		fprintf(stderr, "strongroom migrate: %s\n", err);
		goto out;
	}
	if (sr_migrate(st, service, err, sizeof err) != 0) {
		fprintf(stderr, "strongroom migrate: %s (%s)\n", err, sr_store_url_redacted(st));
		goto out;
	}
	printf("%s\n", err);
	status = 0;
out:
	sr_store_close(st);
	sr_config_free(cfg);
	return status;
}
