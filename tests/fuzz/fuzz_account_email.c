/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the email normaliser of sign-up, login and reset
 * (platform/auth.c sr_accounts_normalise_email): arbitrary bytes. An
 * accepted address is 3..254 bytes of printable ASCII without upper case,
 * with exactly one '@', and normalising it again gives the same text.
 */
#include "platform/accounts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[255], again[255];
	if (size > 1024)
		return 0;
	if (sr_accounts_normalise_email((const char *)data, size, out) != 0) {
		if (out[0] != '\0')
			abort();
		return 0;
	}
	size_t n = strlen(out), ats = 0;
	if (n < 3 || n > 254)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (out[i] <= 0x20 || out[i] >= 0x7f || (out[i] >= 'A' && out[i] <= 'Z'))
			abort();
		ats += out[i] == '@';
	}
	if (ats != 1)
		abort();
	if (sr_accounts_normalise_email(out, n, again) != 0 || strcmp(out, again) != 0)
		abort();
	return 0;
}
