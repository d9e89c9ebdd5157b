/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the unseal share text (crypto/shares decoder, behind
 * POST /v1/sys/unseal and `strongroom vault unseal`): the text comes from
 * the network, so any input must be refused cleanly or decoded within its
 * bounds. The input is split on newlines into up to four share texts fed
 * one at a time to a sealed vault's share collector (vault/seal), as
 * operators would: every accepted share must carry a threshold of 2..255
 * and a share number of 1..255, progress may never exceed the threshold,
 * and a completed set always yields a KEK.
 */
#include "crypto/shares.h"
#include "vault/seal.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[SR_SHARES_TEXT_MAX + 80];
	unsigned char share[SR_SHARES_SECRET_LEN];

	if (sodium_init() < 0)
		abort();
	struct sr_vault_seal *seal = sr_vault_seal_new(true, NULL, NULL, NULL, 10);
	size_t start = 0;
	for (int n = 0; n < 4 && start <= size; n++) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t len = (nl ? (size_t)(nl - data) : size) - start;
		if (len >= sizeof text)
			len = sizeof text - 1;
		memcpy(text, data + start, len);
		text[len] = '\0';
		start += len + 1;

		unsigned m = 0, x = 0;
		int rc = sr_shares_decode(text, &m, &x, share);
		if (rc == 0 && (m < 2 || m > SR_SHARES_MAX || x < 1 || x > SR_SHARES_MAX))
			abort();
		if (rc != 0 && (m != 0 || x != 0))
			abort();

		struct sr_vault_seal_status st;
		unsigned char *kek = NULL;
		unsigned nr = 0;
		rc = sr_vault_seal_add_share(seal, text, &nr, &st, &kek);
		if (rc == 0 && (st.threshold < 2 || st.progress >= st.threshold) && kek == NULL)
			abort();
		if (rc != 0 && kek != NULL)
			abort();
		sodium_free(kek);
		if (nl == NULL)
			break;
	}
	sr_vault_seal_free(seal);
	return 0;
}
