/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DKIM key material: RSA-2048 and Ed25519 generation, and the public record
 * receivers fetch from DNS. Only public halves are encoded here; private
 * keys stay in the caller's EVP_PKEY and are written with sr_x509_write_key.
 */
#define OPENSSL_NO_DEPRECATED 1

#include "crypto/dkimkey.h"
#include "base/mem.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdlib.h>

int sr_dkimkey_generate_rsa(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)SR_DKIMKEY_RSA_BITS);
	return *out != NULL ? 0 : SR_E_CRYPTO;
}

int sr_dkimkey_generate_ed25519(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return *out != NULL ? 0 : SR_E_CRYPTO;
}

int sr_dkimkey_dns_txt(EVP_PKEY *key, const char *selector, const char *domain, char **out)
{
	int rc = SR_E_CRYPTO;
	unsigned char *der = NULL;
	char *b64 = NULL;
	size_t len = 0;
	const char *k;
	*out = NULL;
	if (EVP_PKEY_is_a(key, "RSA")) {
		k = "rsa";
		int n = i2d_PUBKEY(key, &der);
		if (n <= 0)
			goto out;
		len = (size_t)n;
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		k = "ed25519";
		der = OPENSSL_malloc(32);
		len = 32;
		if (der == NULL || EVP_PKEY_get_raw_public_key(key, der, &len) != 1 || len != 32)
			goto out;
	} else {
		rc = SR_E_INVAL;
		goto out;
	}
	size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	b64 = sr_xmalloc(b64len);
	sodium_bin2base64(b64, b64len, der, len, sodium_base64_VARIANT_ORIGINAL);
	*out = sr_xasprintf("%s._domainkey.%s TXT \"v=DKIM1; k=%s; p=%s\"", selector, domain, k,
			    b64);
	rc = 0;
out:
	OPENSSL_free(der);
	free(b64);
	return rc;
}
