/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Card fingerprints (HMAC-SHA256 of the PAN). The fingerprint key belongs to
 * the vault and is passed in by the caller; the PAN is read from the caller's
 * secret struct. Only the HMAC state and the raw MAC are held here, on the
 * stack, and both are wiped before returning.
 */
#include "crypto/fingerprint.h"
#include "lib/base64url.h"

#include <sodium.h>
#include <string.h>

int sr_fingerprint_pan(const unsigned char *key, size_t key_len, const struct sr_card_pan *pan,
		       enum sr_fingerprint_encoding enc, char *out, size_t cap)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	size_t n = 0;
	int rc = SR_E_INVAL;

	if (cap > 0)
		out[0] = '\0';
	if (key == NULL || key_len < SR_FINGERPRINT_KEY_MIN || pan == NULL ||
	    pan->len < SR_CARD_PAN_MIN || pan->len > SR_CARD_PAN_MAX)
		goto out;
	if (enc != SR_FINGERPRINT_HEX && enc != SR_FINGERPRINT_BASE64URL)
		goto out;
	size_t need = enc == SR_FINGERPRINT_HEX ? SR_FINGERPRINT_HEX_LEN : SR_FINGERPRINT_B64_LEN;
	if (cap < need + 1) {
		rc = SR_E_LIMIT;
		goto out;
	}
	if (sodium_init() < 0 || crypto_auth_hmacsha256_init(&st, key, key_len) != 0 ||
	    crypto_auth_hmacsha256_update(&st, (const unsigned char *)pan->digits, pan->len) != 0 ||
	    crypto_auth_hmacsha256_final(&st, mac) != 0) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	memcpy(out, "fp_", 3);
	if (enc == SR_FINGERPRINT_HEX)
		sodium_bin2hex(out + 3, cap - 3, mac, sizeof mac);
	else if (sr_base64url_encode(mac, sizeof mac, out + 3, cap - 3, &n) != 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(&st, sizeof st);
	sodium_memzero(mac, sizeof mac);
	if (rc != 0 && cap > 0)
		out[0] = '\0';
	return rc;
}
