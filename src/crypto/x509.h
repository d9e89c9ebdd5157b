/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CRYPTO_X509_H
#define SR_CRYPTO_X509_H

/*
 * Certificates for a development instance: an ECDSA P-256 CA and server
 * certificates it signs, built with OpenSSL 3's non-deprecated APIs only.
 * Production deployments bring their own certificates; these exist so that
 * `strongroom init` gives a laptop working HTTPS without a detour through
 * openssl(1). All functions are thread-safe (no shared state besides
 * OpenSSL's own thread-safe default library context).
 */
#include "base/err.h"

#include <openssl/types.h>
#include <stddef.h>
#include <sys/types.h>

/* The SAN every development server certificate carries. */
#define SR_X509_DEV_SAN     "DNS:localhost,IP:127.0.0.1,IP:::1"
#define SR_X509_CA_DAYS     3650 /* development CA: 10 years */
#define SR_X509_SERVER_DAYS 397  /* the CA/Browser Forum ceiling for leaves */

/* Generates a fresh ECDSA P-256 key into *out (cleared first; caller frees
 * with EVP_PKEY_free). Returns 0 or SR_E_CRYPTO. */
int sr_x509_keygen_p256(EVP_PKEY **out) SR_WUR;

/*
 * Builds a self-signed CA certificate for key: subject and issuer CN=cn,
 * basicConstraints critical CA:TRUE, keyUsage critical keyCertSign+cRLSign,
 * subjectKeyIdentifier, a random positive 128-bit serial, valid from an hour
 * ago (clock skew) for `days` days, signed with ECDSA-SHA256. *out is cleared
 * first; caller frees with X509_free. Returns 0, SR_E_INVAL or SR_E_CRYPTO.
 */
int sr_x509_make_ca(EVP_PKEY *key, const char *cn, int days, X509 **out) SR_WUR;

/*
 * Builds a server certificate for key, issued by ca_cert/ca_key: CN=cn,
 * subjectAltName san (OpenSSL syntax, e.g. SR_X509_DEV_SAN), basicConstraints
 * critical CA:FALSE, keyUsage critical digitalSignature, extendedKeyUsage
 * serverAuth, subject and authority key identifiers, random 128-bit serial,
 * `days` days of validity. Arguments are borrowed. *out as above.
 */
int sr_x509_make_server(EVP_PKEY *key, const char *cn, const char *san, int days, X509 *ca_cert,
			EVP_PKEY *ca_key, X509 **out) SR_WUR;

/*
 * Writes key as an unencrypted PKCS#8 PEM file ("BEGIN PRIVATE KEY") with
 * exactly `mode`, atomically (sr_keyfile_write). The PEM text only ever sits
 * in a buffer OpenSSL wipes when freed. Returns 0, SR_E_CRYPTO or SR_E_IO.
 */
int sr_x509_write_key(const char *path, EVP_PKEY *key, mode_t mode) SR_WUR;

/* Writes n certificates as concatenated PEM (leaf first, then issuers) with
 * `mode`, atomically. Returns 0, SR_E_INVAL, SR_E_CRYPTO or SR_E_IO. */
int sr_x509_write_certs(const char *path, X509 *const *certs, size_t n, mode_t mode) SR_WUR;

#endif
