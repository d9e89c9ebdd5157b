/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Development PKI: key generation, CA and server certificates, PEM output.
 * Private keys exist in EVP_PKEY objects owned by the caller and, while being
 * written, in an OpenSSL memory BIO (freed with OPENSSL_clear_free); they are
 * never printed or logged. OPENSSL_NO_DEPRECATED makes any use of a
 * deprecated OpenSSL API a compile error in this file.
 */
#define OPENSSL_NO_DEPRECATED 1

#include "crypto/x509.h"
#include "crypto/keyfile.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <string.h>

int sr_x509_keygen_p256(EVP_PKEY **out)
{
	*out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	return *out != NULL ? 0 : SR_E_CRYPTO;
}

/* RFC 5280 allows up to 20 octets; 16 random bytes (126 of them random
 * bits) are well past the CA/Browser Forum's 64-bit minimum. */
static int set_random_serial(X509 *x)
{
	int rc = SR_E_CRYPTO;
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	randombytes_buf(raw, sizeof raw);
	/* Exactly 127 bits: positive (top bit clear) and never shorter (next
	 * bit set), so every serial has the same length and full entropy
	 * bar one bit. */
	raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(raw, sizeof raw, NULL);
	if (bn == NULL)
		goto out;
	ASN1_INTEGER *serial = X509_get_serialNumber(x);
	if (BN_to_ASN1_INTEGER(bn, serial) == NULL)
		goto out;
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

static int set_cn(X509_NAME *name, const char *cn)
{
	return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					  -1, 0) == 1
		       ? 0
		       : SR_E_CRYPTO;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	if (ext == NULL)
		return SR_E_CRYPTO;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : SR_E_CRYPTO;
}

/* The fields every certificate here shares. issuer NULL: self-signed. */
static int new_cert(EVP_PKEY *key, const char *cn, int days, X509 *issuer, X509 **out)
{
	int rc = SR_E_CRYPTO;
	X509 *x = X509_new();
	*out = NULL;
	if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1)
		goto out;
	if ((rc = set_random_serial(x)) != 0)
		goto out;
	rc = SR_E_CRYPTO;
	if ((rc = set_cn(X509_get_subject_name(x), cn)) != 0)
		goto out;
	rc = SR_E_CRYPTO;
	if (X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
						   : X509_get_subject_name(x)) != 1)
		goto out;
	/* An hour of slack so a client whose clock is a little behind still
	 * accepts a certificate made a moment ago. */
	if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL)
		goto out;
	if (X509_set_pubkey(x, key) != 1)
		goto out;
	*out = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	return rc;
}

int sr_x509_make_ca(EVP_PKEY *key, const char *cn, int days, X509 **out)
{
	int rc;
	X509 *x = NULL;
	X509V3_CTX ctx;
	*out = NULL;
	if (key == NULL || cn == NULL || cn[0] == '\0' || days <= 0)
		return SR_E_INVAL;
	if ((rc = new_cert(key, cn, days, NULL, &x)) != 0)
		goto out;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) != 0)
		goto out;
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}

int sr_x509_make_server(EVP_PKEY *key, const char *cn, const char *san, int days, X509 *ca_cert,
			EVP_PKEY *ca_key, X509 **out)
{
	int rc;
	X509 *x = NULL;
	X509V3_CTX ctx;
	*out = NULL;
	if (key == NULL || cn == NULL || cn[0] == '\0' || san == NULL || days <= 0 ||
	    ca_cert == NULL || ca_key == NULL)
		return SR_E_INVAL;
	if ((rc = new_cert(key, cn, days, ca_cert, &x)) != 0)
		goto out;
	X509V3_set_ctx(&ctx, ca_cert, x, NULL, NULL, 0);
	if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_subject_alt_name, san)) != 0 ||
	    (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) != 0 ||
	    (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) != 0)
		goto out;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	*out = x;
	x = NULL;
out:
	X509_free(x);
	return rc;
}

/* Writes what a memory BIO holds to path; the BIO is the caller's. */
static int write_bio(const char *path, BIO *bio, mode_t mode)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || data == NULL)
		return SR_E_CRYPTO;
	return sr_keyfile_write(path, data, (size_t)len, mode);
}

int sr_x509_write_key(const char *path, EVP_PKEY *key, mode_t mode)
{
	int rc = SR_E_CRYPTO;
	/* A memory BIO grows with BUF_MEM_grow_clean and is released with
	 * OPENSSL_clear_free, so no copy of the PEM outlives this call. */
	BIO *bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	rc = write_bio(path, bio, mode);
out:
	BIO_free(bio);
	return rc;
}

int sr_x509_write_certs(const char *path, X509 *const *certs, size_t n, mode_t mode)
{
	int rc = SR_E_CRYPTO;
	BIO *bio = NULL;
	if (n == 0)
		return SR_E_INVAL;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (PEM_write_bio_X509(bio, certs[i]) != 1)
			goto out;
	rc = write_bio(path, bio, mode);
out:
	BIO_free(bio);
	return rc;
}
