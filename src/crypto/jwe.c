/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Card JWE decryption. Holds, for the duration of one call, the unwrapped
 * content-encryption key (per-thread locked memory, wiped) and produces the
 * card JSON in the caller's locked buffer (or a fresh sodium_malloc one). The RSA private keys belong to the
 * caller (the vault's key ring) and are only used, never copied.
 *
 * Oracle resistance: RSA-OAEP decoding failures are not reported as such.
 * Whether the unwrap failed or produced the wrong length, we continue with a
 * random CEK, selected without branching, and run AES-GCM anyway; the tag
 * check then fails. Every failure returns SR_E_CRYPTO after the same work,
 * in the spirit of RFC 7516 §11.5, and the OpenSSL error queue is cleared so
 * that no later log line carries the reason.
 */
#include "crypto/jwe.h"
#include "base/scratch.h"

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <string.h>

#define CEK_LEN      32
#define RSA_MIN_BITS 2048

int sr_jwe_key_from_pem(const char *pem, size_t len, EVP_PKEY **out)
{
	OSSL_DECODER_CTX *dctx = NULL;
	EVP_PKEY *pkey = NULL;
	const unsigned char *p = (const unsigned char *)pem;
	int rc = SR_E_INVAL;

	*out = NULL;
	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA", OSSL_KEYMGMT_SELECT_KEYPAIR,
					     NULL, NULL);
	if (dctx == NULL) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	if (!OSSL_DECODER_from_data(dctx, &p, &len) || pkey == NULL)
		goto out;
	if (!EVP_PKEY_is_a(pkey, "RSA"))
		goto out;
	if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pkey);
	OSSL_DECODER_CTX_free(dctx);
	ERR_clear_error();
	return rc;
}

/* RSA-OAEP-256 unwrap into buf (rsa_size bytes); returns a mask of all ones on success. */
static unsigned char unwrap(EVP_PKEY *pkey, const struct sr_jose_jwe *jwe, unsigned char *buf,
			    size_t rsa_size)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	size_t outlen = rsa_size;
	int ok = ctx != NULL && EVP_PKEY_decrypt_init(ctx) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
		 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1;
	int dec =
		ok ? EVP_PKEY_decrypt(ctx, buf, &outlen, jwe->encrypted_key, jwe->encrypted_key_len)
		   : 0;
	EVP_PKEY_CTX_free(ctx);
	/* Branch-free from here: both facts fold into one byte mask. */
	unsigned good = (unsigned)(dec == 1) & (unsigned)(outlen == CEK_LEN);
	return (unsigned char)(0u - good);
}

/* The RSA unwrap buffer and the CEK: per-thread locked memory, wiped after
 * every call (see base/scratch.h for why not sodium_malloc per call). */
#define RSA_MAX_BYTES 1024 /* 8192-bit keys; the vault makes 2048-bit ones */
struct unwrap_area {
	unsigned char buf[RSA_MAX_BYTES];
	unsigned char cek[CEK_LEN];
};
static struct sr_scratch unwrap_scratch = SR_SCRATCH_INIT(sizeof(struct unwrap_area));

int sr_jwe_decrypt_into(const struct sr_jose_jwe *jwe, EVP_PKEY *pkey, unsigned char *out,
			size_t cap, size_t *out_len)
{
	struct unwrap_area *a = NULL;
	EVP_CIPHER_CTX *cctx = NULL;
	size_t rsa_size = 0;
	int rc = SR_E_CRYPTO;

	*out_len = 0;
	if (jwe == NULL || jwe->block == NULL || pkey == NULL || jwe->ciphertext_len > SR_JWE_MAX)
		goto out;
	if (cap < jwe->ciphertext_len + 1) {
		rc = SR_E_LIMIT;
		goto out;
	}
	int size = EVP_PKEY_get_size(pkey);
	if (size <= 0 || (size_t)size > RSA_MAX_BYTES)
		goto out;
	rsa_size = (size_t)size;
	/*
	 * A wrapped key of the wrong length is public information (it is the
	 * size of the modulus), so refusing it early leaks nothing.
	 */
	if (jwe->encrypted_key_len != rsa_size)
		goto out;
	a = sr_scratch_get(&unwrap_scratch);
	unsigned char *cek = a->cek;
	randombytes_buf(cek, CEK_LEN);
	sodium_memzero(a->buf, rsa_size);
	unsigned char mask = unwrap(pkey, jwe, a->buf, rsa_size);
	for (size_t i = 0; i < CEK_LEN; i++)
		cek[i] = (unsigned char)((a->buf[i] & mask) | (cek[i] & (unsigned char)~mask));

	int n = 0, fin = 0;
	int gcm_ok =
		(cctx = EVP_CIPHER_CTX_new()) != NULL &&
		EVP_DecryptInit_ex(cctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, SR_JWE_IV_LEN, NULL) == 1 &&
		EVP_DecryptInit_ex(cctx, NULL, NULL, cek, jwe->iv) == 1 &&
		EVP_DecryptUpdate(cctx, NULL, &n, (const unsigned char *)jwe->protected_b64,
				  (int)jwe->protected_b64_len) == 1 &&
		EVP_DecryptUpdate(cctx, out, &n, jwe->ciphertext, (int)jwe->ciphertext_len) == 1 &&
		EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_TAG, SR_JWE_TAG_LEN, (void *)jwe->tag) ==
			1 &&
		EVP_DecryptFinal_ex(cctx, out + n, &fin) == 1;
	if (!(gcm_ok & (mask == 0xff)) || (size_t)n + (size_t)fin != jwe->ciphertext_len) {
		sodium_memzero(out,
			       jwe->ciphertext_len); /* unauthenticated plaintext never leaves */
		goto out;
	}
	out[jwe->ciphertext_len] = '\0';
	*out_len = jwe->ciphertext_len;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(cctx);
	if (a != NULL)
		sodium_memzero(a, sizeof *a);
	ERR_clear_error();
	return rc;
}

int sr_jwe_decrypt(const struct sr_jose_jwe *jwe, EVP_PKEY *pkey, unsigned char **plain,
		   size_t *plain_len)
{
	*plain = NULL;
	*plain_len = 0;
	if (jwe == NULL || jwe->ciphertext_len > SR_JWE_MAX || sodium_init() < 0)
		return SR_E_CRYPTO;
	unsigned char *pt = sodium_malloc(jwe->ciphertext_len + 1);
	if (pt == NULL)
		return SR_E_NOMEM;
	int rc = sr_jwe_decrypt_into(jwe, pkey, pt, jwe->ciphertext_len + 1, plain_len);
	if (rc != 0) {
		sodium_free(pt);
		return rc;
	}
	*plain = pt;
	return 0;
}

int sr_jwe_decrypt_compact(const char *compact, size_t len, const struct sr_jwe_key *keys,
			   size_t nkeys, char kid_out[SR_JWE_KID_MAX + 1], unsigned char **plain,
			   size_t *plain_len)
{
	struct sr_jose_jwe jwe;
	int rc;

	*plain = NULL;
	*plain_len = 0;
	if (kid_out != NULL)
		kid_out[0] = '\0';
	rc = sr_jose_parse(compact, len, &jwe);
	if (rc != 0)
		goto out;
	if (kid_out != NULL)
		memcpy(kid_out, jwe.kid, sizeof jwe.kid);
	rc = SR_E_NOTFOUND;
	for (size_t i = 0; i < nkeys; i++) {
		/* kids are public names: a plain comparison is fine. */
		if (keys[i].kid != NULL && strcmp(keys[i].kid, jwe.kid) == 0) {
			rc = sr_jwe_decrypt(&jwe, keys[i].pkey, plain, plain_len);
			break;
		}
	}
out:
	sr_jose_clear(&jwe);
	return rc;
}
