/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only compact JWE encoder (RSA-OAEP-256 + A256GCM) built straight on
 * OpenSSL, for tests/unit/test_jwe.c and tests/fuzz/fuzz_jwe.c. It is the
 * mirror image of crypto/jwe.c, so the WebCrypto vectors in tests/unit/data
 * are the independent check; this one lets tests vary every part.
 */
#ifndef SR_TEST_JWE_ENCRYPT_H
#define SR_TEST_JWE_ENCRYPT_H

#include "lib/base64url.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

/* base64url of n bytes appended at *o (within buf of cap); 0 on success. */
static int __attribute__((unused))
tje_append(char *buf, size_t cap, size_t *o, const void *p, size_t n, int dot)
{
	size_t w = 0;
	if (sr_base64url_encode(p, n, buf + *o, cap - *o, &w) != 0)
		return -1;
	*o += w;
	if (dot) {
		if (*o + 2 > cap)
			return -1;
		buf[(*o)++] = '.';
		buf[*o] = '\0';
	}
	return 0;
}

/*
 * Encrypts pt under the public half of pkey with a header given as JSON text.
 * cek_len lets a test wrap a CEK of the wrong size (the AES key is then the
 * first 32 bytes of a zero-padded copy). Returns a malloc'd compact JWE or NULL.
 */
static char *__attribute__((unused))
tje_encrypt(EVP_PKEY *pkey, const char *header_json, const unsigned char *pt, size_t pt_len,
	    size_t cek_len)
{
	unsigned char cek[64] = {0}, iv[12], tag[16], ek[1024];
	unsigned char *ct = malloc(pt_len + 1);
	size_t cap = 4 * (strlen(header_json) + pt_len + sizeof ek) + 64, o = 0, ek_len = sizeof ek;
	char *out = malloc(cap);
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
	int ok = ct != NULL && out != NULL && pctx != NULL && cctx != NULL && cek_len <= sizeof cek;
	int n = 0, fin = 0;

	ok = ok && RAND_bytes(cek, (int)cek_len) == 1 && RAND_bytes(iv, sizeof iv) == 1;
	ok = ok && EVP_PKEY_encrypt_init(pctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_encrypt(pctx, ek, &ek_len, cek, cek_len) == 1;
	ok = ok && tje_append(out, cap, &o, header_json, strlen(header_json), 1) == 0;
	size_t aad_len = o - 1;
	ok = ok && tje_append(out, cap, &o, ek, ek_len, 1) == 0 &&
	     tje_append(out, cap, &o, iv, sizeof iv, 1) == 0;
	ok = ok && EVP_EncryptInit_ex(cctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
	     EVP_EncryptInit_ex(cctx, NULL, NULL, cek, iv) == 1 &&
	     EVP_EncryptUpdate(cctx, NULL, &n, (const unsigned char *)out, (int)aad_len) == 1 &&
	     EVP_EncryptUpdate(cctx, ct, &n, pt, (int)pt_len) == 1 &&
	     EVP_EncryptFinal_ex(cctx, ct + n, &fin) == 1 &&
	     EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
	ok = ok && tje_append(out, cap, &o, ct, pt_len, 1) == 0 &&
	     tje_append(out, cap, &o, tag, sizeof tag, 0) == 0;
	EVP_PKEY_CTX_free(pctx);
	EVP_CIPHER_CTX_free(cctx);
	free(ct);
	if (!ok) {
		free(out);
		out = NULL;
	}
	return out;
}

#endif
