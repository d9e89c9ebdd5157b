/* SPDX-License-Identifier: Apache-2.0 */
/* The PostgreSQL backend (libpq). Stub until it lands. */
#include "store/store_int.h"

#include <stdio.h>

static int pg_connect(struct sr_store *st, struct sr_conn **out, char *err, size_t errlen)
{
	(void)st;
	*out = NULL;
	snprintf(err, errlen, "PostgreSQL backend not built yet");
	return SR_E_STORE;
}

const struct sr_store_ops sr_store_pg_ops = {
	.kind = SR_STORE_POSTGRES,
	.connect = pg_connect,
};
