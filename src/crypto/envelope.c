/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Envelope encryption (AES-256-GCM, OpenSSL EVP) and the stored blob format
 * described in envelope.h. The blob is read back from the database, so its
 * decoder treats it as outside input (fuzzed by tests/fuzz/fuzz_envelope.c).
 * Keys are passed in by the caller (the key ring keeps them in sodium_malloc
 * memory); this module holds no key beyond the OpenSSL cipher context, which
 * EVP_CIPHER_CTX_free cleanses. Plaintexts it returns are sodium_malloc'd.
 */
#include "crypto/envelope.h"

#include <limits.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int sr_envelope_key_id_ok(const char *id)
{
	if (id == NULL)
		return 0;
	size_t n = strlen(id);
	if (n == 0 || n > SR_ENVELOPE_KEY_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int sr_envelope_parse(const void *blob, size_t len, struct sr_envelope_view *v)
{
	const unsigned char *b = blob;
	memset(v, 0, sizeof *v);
	if (b == NULL || len < 3 || b[0] != SR_ENVELOPE_MAGIC || b[1] != SR_ENVELOPE_VERSION)
		return SR_E_CRYPTO;
	size_t id_len = b[2];
	if (id_len == 0 || id_len > SR_ENVELOPE_KEY_ID_MAX || len < SR_ENVELOPE_OVERHEAD(id_len))
		return SR_E_CRYPTO;
	memcpy(v->key_id, b + 3, id_len);
	v->key_id[id_len] = '\0';
	/* A NUL inside the id would make the copy differ from the bytes. */
	if (strlen(v->key_id) != id_len || !sr_envelope_key_id_ok(v->key_id)) {
		memset(v, 0, sizeof *v);
		return SR_E_CRYPTO;
	}
	v->version = b[1];
	v->header_len = 3 + id_len + SR_ENVELOPE_NONCE_LEN;
	v->nonce = b + 3 + id_len;
	v->ciphertext = b + v->header_len;
	v->ciphertext_len = len - SR_ENVELOPE_OVERHEAD(id_len);
	v->tag = b + len - SR_ENVELOPE_TAG_LEN;
	if (v->ciphertext_len > SR_ENVELOPE_PLAINTEXT_MAX) {
		memset(v, 0, sizeof *v);
		return SR_E_CRYPTO;
	}
	return 0;
}

int sr_envelope_seal(const unsigned char *key, const char *key_id, const void *aad, size_t aad_len,
		     const void *pt, size_t pt_len, unsigned char **blob, size_t *blob_len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *b = NULL;
	int rc = SR_E_INVAL, n = 0;

	*blob = NULL;
	*blob_len = 0;
	if (key == NULL || !sr_envelope_key_id_ok(key_id) || (pt == NULL && pt_len > 0) ||
	    (aad == NULL && aad_len > 0))
		goto out;
	if (pt_len > SR_ENVELOPE_PLAINTEXT_MAX || aad_len > INT_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	size_t id_len = strlen(key_id);
	size_t hdr = 3 + id_len + SR_ENVELOPE_NONCE_LEN;
	size_t total = SR_ENVELOPE_OVERHEAD(id_len) + pt_len;
	b = malloc(total);
	if (b == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	b[0] = SR_ENVELOPE_MAGIC;
	b[1] = SR_ENVELOPE_VERSION;
	b[2] = (unsigned char)id_len;
	memcpy(b + 3, key_id, id_len);
	rc = SR_E_CRYPTO;
	if (sodium_init() < 0)
		goto out;
	/* Random nonces: 2^-32 collision risk is reached only after ~2^32 seals
	 * under one data key, far beyond a data key's life (rotate sooner). */
	randombytes_buf(b + 3 + id_len, SR_ENVELOPE_NONCE_LEN);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SR_ENVELOPE_NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, b + 3 + id_len) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, b, (int)hdr) != 1)
		goto out;
	if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	int ct = 0, fin = 0;
	if (pt_len > 0 && EVP_EncryptUpdate(ctx, b + hdr, &ct, pt, (int)pt_len) != 1)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, b + hdr + ct, &fin) != 1 ||
	    (size_t)ct + (size_t)fin != pt_len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SR_ENVELOPE_TAG_LEN, b + hdr + pt_len) !=
		    1)
		goto out;
	*blob = b;
	*blob_len = total;
	b = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(b);
	return rc;
}

int sr_envelope_open(const unsigned char *key, const char *expect_key_id, const void *blob,
		     size_t len, const void *aad, size_t aad_len, unsigned char **pt,
		     size_t *pt_len)
{
	struct sr_envelope_view v;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *p = NULL;
	int rc = SR_E_CRYPTO, n = 0;

	*pt = NULL;
	*pt_len = 0;
	if (key == NULL || (aad == NULL && aad_len > 0) || aad_len > INT_MAX)
		goto out;
	if (sr_envelope_parse(blob, len, &v) != 0)
		goto out;
	if (expect_key_id != NULL && strcmp(expect_key_id, v.key_id) != 0)
		goto out;
	if (sodium_init() < 0)
		goto out;
	p = sodium_malloc(v.ciphertext_len + 1);
	if (p == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	int got = 0, fin = 0;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SR_ENVELOPE_NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, v.nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, blob, (int)v.header_len) != 1)
		goto out;
	if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	if (v.ciphertext_len > 0 &&
	    EVP_DecryptUpdate(ctx, p, &got, v.ciphertext, (int)v.ciphertext_len) != 1)
		goto out;
	/* OpenSSL wants a non-const tag pointer; it only reads it. */
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SR_ENVELOPE_TAG_LEN,
				(void *)(uintptr_t)v.tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, p + got, &fin) != 1 ||
	    (size_t)got + (size_t)fin != v.ciphertext_len)
		goto out;
	p[v.ciphertext_len] = '\0';
	*pt = p;
	*pt_len = v.ciphertext_len;
	p = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	sodium_free(p); /* wipes whatever was decrypted before the tag failed */
	return rc;
}
