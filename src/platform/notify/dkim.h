/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_PLATFORM_NOTIFY_DKIM_H
#define SR_PLATFORM_NOTIFY_DKIM_H

/*
 * DKIM signing of composed messages with libopendkim: an rsa-sha256
 * signature with the RSA-2048 key, and, when an Ed25519 key is configured, a
 * second ed25519-sha256 signature (RFC 8463) so receivers that know Ed25519
 * can use it while the others still have RSA. The Ed25519 key is published
 * under its own selector, SELECTOR-ed25519 (one DNS name holds one key). relaxed/relaxed
 * canonicalization; the signed headers are From, To, Subject, Date,
 * Message-ID, MIME-Version and Content-Type, with From and Subject
 * "oversigned" so a relay cannot add a second one unnoticed.
 *
 * Known defect: Debian 12's libopendkim (2.11.0~beta2) leaks its parsed
 * Ed25519 key (an EVP_PKEY plus ~80 bytes, key material not wiped) on every
 * ed25519-sha256 signature; RSA does not leak. Leave dkim_ed25519_key_file
 * empty in long-running production services until the library is fixed.
 *
 * A signer holds its private keys in sodium_malloc memory from load to
 * sr_dkim_free. sr_dkim_sign may be called from several threads at once on
 * the same signer (each call has its own libopendkim context).
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

struct sr_config;
struct sr_dkim;

/*
 * Loads the PEM private keys (rsa_key_file required, ed25519_key_file NULL
 * for none) and makes a signer for d=domain, s=selector. Key files must be
 * owner-only. Returns 0, or SR_E_IO / SR_E_CONFIG / SR_E_LIMIT (the key
 * file), SR_E_INVAL (bad domain/selector), SR_E_CRYPTO (libopendkim refused
 * the key: it is test-signed once here), with a reason in err.
 */
int sr_dkim_new(const char *domain, const char *selector, const char *rsa_key_file,
		const char *ed25519_key_file, struct sr_dkim **out, char *err,
		size_t errlen) SR_WUR;

/* sr_dkim_new with [email] dkim_domain, dkim_selector, dkim_key_file,
 * dkim_ed25519_key_file. */
int sr_dkim_from_config(const struct sr_config *cfg, struct sr_dkim **out, char *err,
			size_t errlen) SR_WUR;

/* Frees the signer and wipes its keys. Accepts NULL. */
void sr_dkim_free(struct sr_dkim *d);

/*
 * Signs msg (CRLF line endings, as sr_mail_compose makes it) and returns in
 * *out (caller frees; NUL-terminated, *outlen without it) the message with
 * the DKIM-Signature header(s) prepended. Returns 0, SR_E_INVAL (no header
 * block) or SR_E_CRYPTO (libopendkim failed).
 */
int sr_dkim_sign(struct sr_dkim *d, const char *msg, size_t len, char **out, size_t *outlen) SR_WUR;

/* Whether this libopendkim can sign ed25519-sha256. */
bool sr_dkim_ed25519_supported(void);

#endif
