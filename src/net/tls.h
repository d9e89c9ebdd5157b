/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_NET_TLS_H
#define SR_NET_TLS_H

/*
 * Server TLS contexts (OpenSSL 3): TLS 1.2 minimum, TLS 1.3 preferred, AEAD
 * suites with forward secrecy only, server preference, ALPN http/1.1, and
 * stateless session tickets whose keys rotate and never leave memory.
 */
#include "base/err.h"

#include <openssl/ssl.h>
#include <stddef.h>

/*
 * Builds a server SSL_CTX from a PEM chain and key. On failure returns
 * SR_E_CRYPTO (or SR_E_IO) and writes the reason into err. The caller owns
 * the context (SSL_CTX_free). Any thread.
 */
int sr_tls_ctx_new(const char *cert_file, const char *key_file, SSL_CTX **out, char *err,
		   size_t errlen) SR_WUR;

/* Creates the first ticket key (process-wide, shared by every context so a
 * certificate reload keeps sessions resumable). Returns 0 or SR_E_CRYPTO. */
int sr_tls_tickets_init(void) SR_WUR;
/* Makes a new current key; the old one still decrypts until the next
 * rotation. Call every [tls] ticket_key_rotation_s. Any thread. */
int sr_tls_tickets_rotate(void) SR_WUR;
/* Wipes and frees the keys. */
void sr_tls_tickets_free(void);

#endif
