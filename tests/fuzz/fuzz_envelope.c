/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the stored envelope blob (crypto/envelope): blobs are read
 * back from the database, so the decoder must reject anything malformed
 * without reading out of bounds, and a blob must never open unless it is
 * exactly what was sealed. Two modes, chosen by the first byte:
 *  - 0xE7 (the magic): the input is a blob; parse it and try to open it
 *    with a fixed test key; success would mean a forged tag (abort);
 *  - anything else: the input is a plaintext; seal it, parse and open it,
 *    which must give it back, then flip one byte chosen by the input and
 *    check that opening fails.
 */
#include "crypto/envelope.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char test_key[SR_ENVELOPE_KEY_LEN] = "fuzz-envelope-key-protects-none";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_envelope_view v;
	unsigned char *pt = NULL, *blob = NULL;
	size_t pt_len = 0, blob_len = 0;

	if (sodium_init() < 0)
		abort();
	if (size > 0 && data[0] == SR_ENVELOPE_MAGIC) {
		if (sr_envelope_parse(data, size, &v) == 0 &&
		    (v.header_len + v.ciphertext_len + SR_ENVELOPE_TAG_LEN != size ||
		     strlen(v.key_id) == 0))
			abort();
		if (sr_envelope_open(test_key, NULL, data, size, "aad", 3, &pt, &pt_len) == 0)
			abort(); /* a random blob authenticated: forged tag */
		if (pt != NULL)
			abort();
		return 0;
	}
	if (sr_envelope_seal(test_key, "dk_fuzz", "aad", 3, data, size, &blob, &blob_len) != 0)
		return 0;
	if (sr_envelope_parse(blob, blob_len, &v) != 0 || strcmp(v.key_id, "dk_fuzz") != 0 ||
	    sr_envelope_open(test_key, "dk_fuzz", blob, blob_len, "aad", 3, &pt, &pt_len) != 0 ||
	    pt_len != size || (size > 0 && memcmp(pt, data, size) != 0))
		abort();
	sodium_free(pt);
	pt = NULL;
	size_t at = size > 0 ? data[0] % blob_len : 0;
	blob[at] ^= 0x5a;
	if (sr_envelope_open(test_key, NULL, blob, blob_len, "aad", 3, &pt, &pt_len) == 0)
		abort();
	free(blob);
	return 0;
}
