/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for lib/password_policy. The input is split at the first two
 * NUL bytes into (password, email, name); the password is also parsed as a
 * common-password list. Invariants beyond "no crash": an accepted password is
 * valid UTF-8 of 12..128 code points (15 without a second factor); a second
 * factor never makes a verdict stricter; every verdict has a code iff it is a
 * refusal; a list built from a line refuses that line.
 */
#include "base/err.h"
#include "lib/password_policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sr_password_list *shipped;
	if (shipped == NULL && sr_password_list_embedded(&shipped) != 0)
		abort();
	const char *p = (const char *)data;
	const char *nul1 = memchr(p, '\0', size);
	size_t plen = nul1 != NULL ? (size_t)(nul1 - p) : size;
	const char *email = nul1 != NULL ? nul1 + 1 : NULL;
	size_t rest = nul1 != NULL ? size - plen - 1 : 0;
	const char *nul2 = email != NULL ? memchr(email, '\0', rest) : NULL;
	size_t elen = nul2 != NULL ? (size_t)(nul2 - email) : rest;
	const char *name = nul2 != NULL ? nul2 + 1 : NULL;
	size_t nlen = nul2 != NULL ? rest - elen - 1 : 0;

	struct sr_password_candidate c = {p, plen, email, elen, name, nlen, false};
	enum sr_password_problem one = sr_password_policy_check(shipped, &c);
	c.has_second_factor = true;
	enum sr_password_problem two = sr_password_policy_check(shipped, &c);
	long chars = sr_password_utf8_chars(p, plen);
	if (one == SR_PASSWORD_OK && (chars < SR_PASSWORD_MIN_CHARS_1FA || two != SR_PASSWORD_OK))
		abort();
	if (two == SR_PASSWORD_OK &&
	    (chars < SR_PASSWORD_MIN_CHARS || chars > SR_PASSWORD_MAX_CHARS ||
	     plen > SR_PASSWORD_MAX_BYTES))
		abort();
	if ((sr_password_problem_code(two) == NULL) != (two == SR_PASSWORD_OK))
		abort();

	struct sr_password_list *mine = NULL;
	int rc = sr_password_list_parse(p, plen, &mine);
	if (rc != 0 && rc != SR_E_LIMIT && rc != SR_E_NOMEM)
		abort();
	if (rc == 0 && plen > 0 && memchr(p, '\n', plen) == NULL && p[0] != '#' &&
	    p[plen - 1] != '\r') {
		struct sr_password_candidate self = {p, plen, NULL, 0, NULL, 0, true};
		enum sr_password_problem v = sr_password_policy_check(mine, &self);
		if (v == SR_PASSWORD_OK || v == SR_PASSWORD_CONTAINS_EMAIL ||
		    v == SR_PASSWORD_CONTAINS_NAME)
			abort();
	}
	sr_password_list_free(mine);
	return 0;
}
