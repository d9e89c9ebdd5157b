/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for query-string parameters: arbitrary query text, looked up
 * under a few names; the decoded value must fit and never contain a NUL.
 */
#include "net/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *q = malloc(size + 1);
	if (q == NULL)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';
	static const char *const names[] = {"limit", "starting_after", "q", ""};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char out[16];
		int r = sr_query_get(q, names[i], out, sizeof out);
		if (r == 1 && strlen(out) >= sizeof out)
			abort();
	}
	free(q);
	return 0;
}
