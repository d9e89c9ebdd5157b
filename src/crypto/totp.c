/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TOTP (RFC 6238) over liboath. liboath computes the HOTP values; the
 * comparison with what the member typed is ours, constant-time over the whole
 * window, so timing says neither which step matched nor how many digits were
 * right. Who holds what: the secret belongs to the caller (decrypted from the
 * platform's personal-data store for the duration of one check); the codes
 * computed here live on the stack and are wiped before returning.
 */
#include "crypto/totp.h"

#include <liboath/oath.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_rc = SR_E_CRYPTO;

static void init_once(void)
{
	if (oath_init() == OATH_OK && sodium_init() >= 0)
		init_rc = 0;
}

int sr_totp_init(void)
{
	pthread_once(&once, init_once);
	return init_rc;
}

void sr_totp_secret_new(unsigned char secret[SR_TOTP_SECRET_BYTES])
{
	randombytes_buf(secret, SR_TOTP_SECRET_BYTES);
}

/* Appends s percent-encoded; false when it does not fit. */
static bool put_encoded(char *out, size_t outlen, size_t *pos, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		size_t need = plain ? 1 : 3;
		if (*pos + need >= outlen)
			return false;
		if (plain) {
			out[(*pos)++] = (char)c;
		} else {
			out[(*pos)++] = '%';
			out[(*pos)++] = hex[c >> 4];
			out[(*pos)++] = hex[c & 15];
		}
	}
	out[*pos] = '\0';
	return true;
}

static bool put_raw(char *out, size_t outlen, size_t *pos, const char *s, size_t len)
{
	if (*pos + len >= outlen)
		return false;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = '\0';
	return true;
}

int sr_totp_uri(const unsigned char *secret, size_t secret_len, const char *issuer,
		const char *account, char *out, size_t outlen)
{
	int rc = 0;
	char *b32 = NULL;
	size_t b32len = 0, pos = 0;

	if (out != NULL && outlen > 0)
		memset(out, 0, outlen);
	if (secret == NULL || secret_len == 0 || issuer == NULL || account == NULL || out == NULL ||
	    issuer[0] == '\0' || account[0] == '\0')
		return SR_E_INVAL;
	if (strnlen(issuer, SR_TOTP_LABEL_MAX + 1) > SR_TOTP_LABEL_MAX ||
	    strnlen(account, SR_TOTP_LABEL_MAX + 1) > SR_TOTP_LABEL_MAX)
		return SR_E_LIMIT;
	if ((rc = sr_totp_init()) != 0)
		return rc;
	if (oath_base32_encode((const char *)secret, secret_len, &b32, &b32len) != OATH_OK) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	/* Authenticator apps want the secret without '=' padding. */
	while (b32len > 0 && b32[b32len - 1] == '=')
		b32len--;
	static const char params[] = "&algorithm=SHA1&digits=6&period=30";
	if (!put_raw(out, outlen, &pos, "otpauth://totp/", 15) ||
	    !put_encoded(out, outlen, &pos, issuer) || !put_raw(out, outlen, &pos, ":", 1) ||
	    !put_encoded(out, outlen, &pos, account) ||
	    !put_raw(out, outlen, &pos, "?secret=", 8) ||
	    !put_raw(out, outlen, &pos, b32, b32len) ||
	    !put_raw(out, outlen, &pos, "&issuer=", 8) || !put_encoded(out, outlen, &pos, issuer) ||
	    !put_raw(out, outlen, &pos, params, sizeof params - 1)) {
		sodium_memzero(out, outlen);
		rc = SR_E_LIMIT;
	}
out:
	if (b32 != NULL) {
		sodium_memzero(b32, b32len);
		free(b32);
	}
	return rc;
}

int sr_totp_code(const unsigned char *secret, size_t secret_len, int64_t t, unsigned digits,
		 char *out, size_t outlen)
{
	int rc;
	if (out != NULL && outlen > 0)
		memset(out, 0, outlen);
	if (secret == NULL || secret_len == 0 || out == NULL || digits < 6 || digits > 8 ||
	    outlen < digits + 1 || t < 0)
		return SR_E_INVAL;
	if ((rc = sr_totp_init()) != 0)
		return rc;
	if (oath_totp_generate((const char *)secret, secret_len, (time_t)t, SR_TOTP_STEP_SECONDS, 0,
			       digits, out) != OATH_OK) {
		sodium_memzero(out, outlen);
		return SR_E_CRYPTO;
	}
	return 0;
}

int sr_totp_verify_digits(const unsigned char *secret, size_t secret_len, const char *code,
			  unsigned digits, int64_t now, int64_t last_used_step,
			  int64_t *matched_step)
{
	int rc = SR_E_AUTH;
	char want[3][9];
	char got[9] = {0};

	if (matched_step != NULL)
		*matched_step = -1;
	if (secret == NULL || secret_len == 0 || code == NULL || matched_step == NULL ||
	    digits < 6 || digits > 8 || now < SR_TOTP_STEP_SECONDS)
		return SR_E_INVAL;
	/* Shape first (not secret): exactly `digits` ASCII digits. */
	for (unsigned i = 0; i < digits; i++) {
		if (code[i] < '0' || code[i] > '9')
			return SR_E_AUTH;
		got[i] = code[i];
	}
	if (code[digits] != '\0')
		return SR_E_AUTH;

	int64_t step = now / SR_TOTP_STEP_SECONDS;
	int64_t found = -1;
	for (int k = 0; k < 3; k++) {
		int64_t s = step - 1 + k;
		if ((rc = sr_totp_code(secret, secret_len, s * SR_TOTP_STEP_SECONDS, digits,
				       want[k], sizeof want[k])) != 0)
			goto out;
	}
	/* All three compared, no early exit; the later step wins a tie. The
	 * replay rule is applied to the step numbers, which are not secret. */
	for (int k = 0; k < 3; k++) {
		int64_t s = step - 1 + k;
		int same = sodium_memcmp(want[k], got, digits) == 0;
		if (same && s > last_used_step)
			found = s;
	}
	if (found >= 0) {
		*matched_step = found;
		rc = 0;
	} else {
		rc = SR_E_AUTH;
	}
out:
	sodium_memzero(want, sizeof want);
	sodium_memzero(got, sizeof got);
	return rc;
}

int sr_totp_verify(const unsigned char *secret, size_t secret_len, const char *code, int64_t now,
		   int64_t last_used_step, int64_t *matched_step)
{
	return sr_totp_verify_digits(secret, secret_len, code, SR_TOTP_DIGITS, now, last_used_step,
				     matched_step);
}
