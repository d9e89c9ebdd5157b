/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the vault's webhook events as the platform reads them
 * (sr_vault_event_parse): whatever the body, the answer is 0 or SR_E_INVAL
 * with a reason; an accepted member event has a known event name, a usr_
 * member, and variables that are a JSON object with a positive amount.
 */
#include "base/err.h"
#include "platform/vault_event.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_vault_event ev;
	const char *why = NULL, *param = NULL;
	if (size > 65536)
		return 0;
	int rc = sr_vault_event_parse(data, size, &ev, &why, &param);
	if (rc == SR_E_INVAL) {
		if (why == NULL || ev.variables != NULL)
			abort();
		return 0;
	}
	if (rc != 0)
		abort();
	if (ev.event != NULL) {
		if (strncmp(ev.member, "usr_", 4) != 0 || ev.variables == NULL)
			abort();
		json_t *v = json_loads(ev.variables, 0, NULL);
		if (!json_is_object(v) ||
		    json_integer_value(json_object_get(v, "amount_minor")) <= 0)
			abort();
		json_decref(v);
	}
	sr_vault_event_clear(&ev);
	return 0;
}
