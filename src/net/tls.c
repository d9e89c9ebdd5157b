/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS policy and session-ticket keys. Only this file decides protocol
 * versions, suites and groups. Ticket keys are secrets: they live in
 * sodium_malloc'd memory, come from RAND_bytes, are wiped when they retire,
 * and are never logged. The key ring is process-wide (not per SSL_CTX) so a
 * SIGHUP certificate reload does not break resumption; it is read under a
 * reader lock on every handshake and written only on rotation.
 */
#include "net/tls.h"
#include "base/mem.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* TLS 1.2: ECDHE only (forward secrecy), AEAD only (no CBC, no RSA key
 * exchange). ECDSA first: our certificates are P-256. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
				    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
				    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char groups[] = "X25519:P-256:P-384";

struct ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

struct ticket_ring {
	struct ticket_key cur, prev;
	int have_prev;
};

static struct ticket_ring *ring; /* sodium_malloc'd */
static pthread_rwlock_t ring_lock = PTHREAD_RWLOCK_INITIALIZER;

static int fill_key(struct ticket_key *k)
{
	if (RAND_bytes(k->name, sizeof k->name) != 1 || RAND_bytes(k->aes, sizeof k->aes) != 1 ||
	    RAND_bytes(k->hmac, sizeof k->hmac) != 1)
		return SR_E_CRYPTO;
	return 0;
}

int sr_tls_tickets_init(void)
{
	int rc = 0;
	if (sodium_init() < 0)
		return SR_E_CRYPTO;
	pthread_rwlock_wrlock(&ring_lock);
	if (ring == NULL) {
		ring = sodium_malloc(sizeof *ring);
		if (ring == NULL) {
			rc = SR_E_NOMEM;
			goto out;
		}
		sodium_memzero(ring, sizeof *ring);
		rc = fill_key(&ring->cur);
	}
out:
	pthread_rwlock_unlock(&ring_lock);
	return rc;
}

int sr_tls_tickets_rotate(void)
{
	struct ticket_key fresh;
	int rc = fill_key(&fresh);
	if (rc != 0)
		goto out;
	pthread_rwlock_wrlock(&ring_lock);
	if (ring != NULL) {
		ring->prev = ring->cur;
		ring->have_prev = 1;
		ring->cur = fresh;
	}
	pthread_rwlock_unlock(&ring_lock);
out:
	sodium_memzero(&fresh, sizeof fresh);
	return rc;
}

void sr_tls_tickets_free(void)
{
	pthread_rwlock_wrlock(&ring_lock);
	if (ring != NULL)
		sodium_free(ring); /* wipes */
	ring = NULL;
	pthread_rwlock_unlock(&ring_lock);
}

static int set_keys(const struct ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *cctx,
		    EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						  sizeof k->hmac),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	if (EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv, enc) != 1)
		return -1;
	return 0;
}

/* OpenSSL's ticket callback: 1 = key set, 2 = decrypted with the previous key
 * (issue a fresh ticket), 0 = unknown key (full handshake), -1 = error. The
 * ticket format itself is OpenSSL's (AES-256-CBC + HMAC-SHA256). */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
		     EVP_MAC_CTX *hctx, int enc)
{
	(void)s;
	int rc = 0;
	pthread_rwlock_rdlock(&ring_lock);
	if (ring == NULL) {
		rc = enc ? -1 : 0;
		goto out;
	}
	if (enc) {
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) {
			rc = -1;
			goto out;
		}
		memcpy(key_name, ring->cur.name, 16);
		rc = set_keys(&ring->cur, iv, cctx, hctx, 1) == 0 ? 1 : -1;
	} else if (sodium_memcmp(key_name, ring->cur.name, 16) == 0) {
		rc = set_keys(&ring->cur, iv, cctx, hctx, 0) == 0 ? 1 : -1;
	} else if (ring->have_prev && sodium_memcmp(key_name, ring->prev.name, 16) == 0) {
		rc = set_keys(&ring->prev, iv, cctx, hctx, 0) == 0 ? 2 : -1;
	}
out:
	pthread_rwlock_unlock(&ring_lock);
	return rc;
}

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)s;
	(void)arg;
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) ==
	    OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	/* A client offering only h2 gets no ALPN rather than a fatal alert. */
	return SSL_TLSEXT_ERR_NOACK;
}

static void ssl_reason(char *err, size_t errlen, const char *what, const char *path)
{
	char buf[256] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	snprintf(err, errlen, "%s %s: %s", what, path, buf);
}

int sr_tls_ctx_new(const char *cert_file, const char *key_file, SSL_CTX **out, char *err,
		   size_t errlen)
{
	int rc = SR_E_CRYPTO;
	*out = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_reason(err, errlen, "TLS", "context");
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, groups) != 1) {
		ssl_reason(err, errlen, "TLS", "policy");
		goto out;
	}
	/* CLEANSE_PLAINTEXT: OpenSSL decrypts records in place in its read
	 * buffer and by default leaves the plaintext (request heads and bodies:
	 * passwords, API keys) there until later records overwrite it, and
	 * frees the buffer unwiped. With it, the plaintext is cleansed once
	 * SSL_read has handed it over, and on SSL_free. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_COMPRESSION | SSL_OP_SINGLE_ECDH_USE |
					 SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Read whole socket buffers instead of a 5-byte record header and then
	 * the record: one read(2) per request instead of two. Safe because the
	 * connection loop (server.c conn_drive) always reads until OpenSSL
	 * says WANT_READ, which it only says once its own buffer is empty. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* Stateless tickets only: no cross-thread session cache to lock. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	static const unsigned char sid_ctx[] = "strongroom";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1) {
		ssl_reason(err, errlen, "TLS", "tickets");
		goto out;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		ssl_reason(err, errlen, "cannot load certificate", cert_file);
		rc = SR_E_IO;
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		ssl_reason(err, errlen, "cannot load private key", key_file);
		rc = SR_E_IO;
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(err, errlen, "private key does not match certificate", cert_file);
		goto out;
	}
	*out = ctx;
	ctx = NULL;
	rc = 0;
out:
	SSL_CTX_free(ctx);
	return rc;
}
