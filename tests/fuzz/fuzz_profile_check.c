/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for platform/profile_check: the member's own text (phone,
 * anti-phishing code, date of birth, country, free text) through every
 * rule. Beyond "no crash, no read past the NUL": whatever a rule accepts
 * keeps its promise - an accepted phone is '+' and digits only, an accepted
 * anti-phishing code holds no byte that could be markup or a header break,
 * accepted free text holds no control character.
 */
#include "platform/profile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	size_t n = strlen(s);
	if (sr_profile_check_phone(s) == NULL) {
		if (s[0] != '+' || strspn(s + 1, "0123456789") != n - 1)
			abort();
	}
	if (sr_profile_check_anti_phishing(s) == NULL) {
		if (n < SR_PROFILE_APC_MIN || n > SR_PROFILE_APC_MAX ||
		    strpbrk(s, "<>&\"'\r\n\t") != NULL)
			abort();
	}
	if (sr_profile_check_date_of_birth(s, 20260115) == NULL && n != 10)
		abort();
	if (sr_profile_check_country(s) == NULL && n != 2)
		abort();
	if (sr_profile_check_text(s, 200, true) == NULL) {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				abort();
	}
	free(s);
	return 0;
}
