/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the Strongroom-Signature header a receiver parses
 * (sr_webhook_verify): the input is split at the first newline into the
 * header value and the body. Whatever arrives, the answer is one of the
 * three documented codes, and a header the library signed itself for that
 * body always verifies.
 */
#include "base/err.h"
#include "svc/webhook.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[32] = "fuzzing-secret-fuzzing-secret-32";
	if (size > 8192)
		return 0;
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl ? (size_t)(nl - data) : size;
	char *header = malloc(hlen + 1);
	if (header == NULL)
		return 0;
	memcpy(header, data, hlen);
	header[hlen] = '\0';
	const uint8_t *body = nl ? nl + 1 : data + size;
	size_t blen = (size_t)(data + size - body);
	int rc = sr_webhook_verify(key, sizeof key, header, body, blen, 1800000000, 300);
	if (rc != 0 && rc != SR_E_AUTH && rc != SR_E_TIMEOUT)
		abort();
	char sig[SR_WEBHOOK_SIG_MAX];
	if (sr_webhook_sign(key, sizeof key, 1800000000, body, blen, sig) != 0 ||
	    sr_webhook_verify(key, sizeof key, sig, body, blen, 1800000000, 300) != 0)
		abort();
	free(header);
	return 0;
}
