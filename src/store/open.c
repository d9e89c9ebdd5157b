/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening a service's own database from the configuration: [database] url
 * when set (a per-service config file in production), otherwise the
 * service's [<service>] database_url. Used by the services at start and by
 * the migrate and audit commands, so all of them agree on which database is
 * the service's.
 */
#include "store/store.h"
#include "base/config.h"

#include <string.h>

const char *sr_store_url_for_service(const struct sr_config *cfg, const char *service)
{
	const char *url = sr_config_str(cfg, "database", "url");
	if (url[0] == '\0')
		url = sr_config_str(cfg, service, "database_url");
	return url;
}

int sr_store_open_for_service(const struct sr_config *cfg, const char *service, unsigned pool_size,
			      struct sr_store **out, char *err, size_t errlen)
{
	struct sr_store_options opt = {
		.pool_size = pool_size ? pool_size
				       : (unsigned)sr_config_int(cfg, "database", "pool_size"),
		.busy_timeout_ms = (unsigned)sr_config_int(cfg, "database", "busy_timeout_ms"),
		.statement_timeout_ms =
			(unsigned)sr_config_int(cfg, "database", "statement_timeout_ms"),
		.base_dir = sr_config_dir(cfg),
	};
	return sr_store_open(sr_store_url_for_service(cfg, service), &opt, out, err, errlen);
}
