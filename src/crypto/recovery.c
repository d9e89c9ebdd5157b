/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recovery codes for members who lost their second factor. Who holds what:
 * the pepper is the caller's (sodium_malloc memory); codes exist in clear
 * only in the caller's buffer for display and in the normalised copy here,
 * which is wiped; the database holds HMAC-SHA256(pepper, "sr-recovery-v1\0"
 * || code), the label keeping these MACs apart from password pre-hashes.
 */
#include "crypto/recovery.h"

#include <sodium.h>
#include <string.h>

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz"; /* Crockford */
static const char label[] = "sr-recovery-v1";

static void mac(const unsigned char *pepper, const char *norm, unsigned char out[32])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, pepper, 32);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, sizeof label);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)norm, SR_RECOVERY_CODE_CHARS);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

int sr_recovery_generate(const unsigned char *pepper,
			 char codes[SR_RECOVERY_CODES][SR_RECOVERY_CODE_TEXT],
			 unsigned char hashes[SR_RECOVERY_CODES][SR_RECOVERY_HASH_BYTES])
{
	if (pepper == NULL || codes == NULL || hashes == NULL || sodium_init() < 0)
		return SR_E_INVAL;
	for (size_t i = 0; i < SR_RECOVERY_CODES; i++) {
		char norm[SR_RECOVERY_CODE_CHARS];
		for (size_t j = 0; j < SR_RECOVERY_CODE_CHARS; j++)
			norm[j] = alphabet[randombytes_uniform(32)];
		size_t k = 0;
		for (size_t j = 0; j < SR_RECOVERY_CODE_CHARS; j++) {
			if (j > 0 && j % 4 == 0)
				codes[i][k++] = '-';
			codes[i][k++] = norm[j];
		}
		codes[i][k] = '\0';
		mac(pepper, norm, hashes[i]);
		sodium_memzero(norm, sizeof norm);
	}
	return 0;
}

/* Crockford decoding rules for one typed character; 0 to skip, -1 invalid. */
static int normalise(char c, char *out)
{
	if (c == '-' || c == ' ')
		return 0;
	if (c >= 'A' && c <= 'Z')
		c = (char)(c - 'A' + 'a');
	if (c == 'o')
		c = '0';
	else if (c == 'i' || c == 'l')
		c = '1';
	if (c == '\0' || strchr(alphabet, c) == NULL)
		return -1;
	*out = c;
	return 1;
}

int sr_recovery_verify(const unsigned char *pepper,
		       const unsigned char (*hashes)[SR_RECOVERY_HASH_BYTES], size_t n,
		       const char *text, size_t len, int *index)
{
	int rc = SR_E_AUTH;
	char norm[SR_RECOVERY_CODE_CHARS];
	unsigned char got[SR_RECOVERY_HASH_BYTES];
	size_t k = 0;

	if (index != NULL)
		*index = -1;
	if (pepper == NULL || (hashes == NULL && n > 0) || text == NULL || index == NULL ||
	    n > 1000)
		return SR_E_INVAL;
	if (len > 64)
		return SR_E_AUTH;
	for (size_t i = 0; i < len; i++) {
		char c;
		int r = normalise(text[i], &c);
		if (r < 0 || (r == 1 && k == SR_RECOVERY_CODE_CHARS))
			goto out;
		if (r == 1)
			norm[k++] = c;
	}
	if (k != SR_RECOVERY_CODE_CHARS)
		goto out;
	mac(pepper, norm, got);
	int found = -1;
	for (size_t i = 0; i < n; i++) {
		/* No early exit: every stored hash is compared. */
		int same = sodium_memcmp(hashes[i], got, SR_RECOVERY_HASH_BYTES) == 0;
		if (same)
			found = (int)i;
	}
	if (found >= 0) {
		*index = found;
		rc = 0;
	}
out:
	sodium_memzero(norm, sizeof norm);
	sodium_memzero(got, sizeof got);
	return rc;
}
