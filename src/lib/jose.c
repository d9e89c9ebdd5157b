/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compact JWE parsing for card data arriving from browsers. Everything here
 * is attacker-controlled and public (the CEK and card are still encrypted), so
 * the aim is a small accepted language: one algorithm pair, bounded sizes,
 * canonical base64url, a header object with a closed set of members. A
 * refusal here happens before any private-key operation, so distinct errors
 * at this stage reveal nothing about keys.
 */
#include "lib/jose.h"
#include "lib/base64url.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct part {
	const char *p;
	size_t n;
};

/* Splits into exactly five dot-separated parts. */
static int split5(const char *s, size_t len, struct part parts[5])
{
	size_t start = 0, k = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (k == 5)
			return SR_E_INVAL;
		parts[k].p = s + start;
		parts[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == 5 ? 0 : SR_E_INVAL;
}

static int str_eq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Checks the decoded protected header and copies the kid out. */
static int check_header(const unsigned char *hdr, size_t n, struct sr_jose_jwe *jwe)
{
	json_error_t jerr;
	json_t *obj = NULL;
	int rc = SR_E_INVAL;
	int have_alg = 0, have_enc = 0, have_kid = 0;

	obj = json_loadb((const char *)hdr, n, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		/* jansson reports allocation failure as its own error code. */
		rc = json_error_code(&jerr) == json_error_out_of_memory ? SR_E_NOMEM : SR_E_INVAL;
		goto out;
	}
	if (!json_is_object(obj))
		goto out;
	const char *name;
	json_t *v;
	json_object_foreach(obj, name, v)
	{
		if (!json_is_string(v))
			goto out;
		const char *s = json_string_value(v);
		size_t slen = json_string_length(v);
		if (str_eq(name, "alg")) {
			if (!str_eq(s, "RSA-OAEP-256") || slen != strlen("RSA-OAEP-256"))
				goto out;
			have_alg = 1;
		} else if (str_eq(name, "enc")) {
			if (!str_eq(s, "A256GCM") || slen != strlen("A256GCM"))
				goto out;
			have_enc = 1;
		} else if (str_eq(name, "kid")) {
			if (slen == 0)
				goto out;
			if (slen > SR_JWE_KID_MAX) {
				rc = SR_E_LIMIT;
				goto out;
			}
			/* Printable ASCII only: the kid is echoed in errors and logs. */
			for (size_t i = 0; i < slen; i++)
				if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
					goto out;
			memcpy(jwe->kid, s, slen);
			jwe->kid[slen] = '\0';
			have_kid = 1;
		} else if (str_eq(name, "typ") || str_eq(name, "cty")) {
			if (slen > 64)
				goto out;
		} else {
			/* zip, crit, jwk, jku, x5u, x5c, epk, … and any unknown name. */
			goto out;
		}
	}
	if (have_alg && have_enc && have_kid)
		rc = 0;
out:
	json_decref(obj);
	return rc;
}

int sr_jose_parse(const char *compact, size_t len, struct sr_jose_jwe *jwe)
{
	struct part parts[5];
	unsigned char *block = NULL;
	unsigned char hdr[SR_JWE_HEADER_MAX];
	size_t n = 0;
	int rc;

	memset(jwe, 0, sizeof *jwe);
	if (len > SR_JWE_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	rc = split5(compact, len, parts);
	if (rc != 0)
		goto out;

	/* 1: protected header. An empty header cannot carry alg/enc. */
	if (parts[0].n == 0) {
		rc = SR_E_INVAL;
		goto out;
	}
	if (sr_base64url_decoded_max(parts[0].n) > sizeof hdr) {
		rc = SR_E_LIMIT;
		goto out;
	}
	rc = sr_base64url_decode(parts[0].p, parts[0].n, hdr, sizeof hdr, &n);
	if (rc != 0)
		goto out;
	rc = check_header(hdr, n, jwe);
	if (rc != 0)
		goto out;

	/*
	 * One block for the header text, the wrapped key and the ciphertext; the
	 * total stays below SR_JWE_MAX, so no size arithmetic can overflow.
	 */
	size_t ek_max = sr_base64url_decoded_max(parts[1].n);
	size_t ct_max = sr_base64url_decoded_max(parts[3].n);
	block = malloc(parts[0].n + ek_max + ct_max + 1);
	if (block == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	memcpy(block, parts[0].p, parts[0].n);
	jwe->protected_b64 = (const char *)block;
	jwe->protected_b64_len = parts[0].n;

	/* 2: encrypted key; RSA-OAEP always yields one. */
	unsigned char *ek = block + parts[0].n;
	rc = sr_base64url_decode(parts[1].p, parts[1].n, ek, ek_max, &jwe->encrypted_key_len);
	if (rc == 0 && jwe->encrypted_key_len == 0)
		rc = SR_E_INVAL;
	if (rc != 0)
		goto out;
	jwe->encrypted_key = ek;

	/* 3: IV, exactly 96 bits. */
	if (sr_base64url_decoded_max(parts[2].n) != SR_JWE_IV_LEN) {
		rc = SR_E_INVAL;
		goto out;
	}
	rc = sr_base64url_decode(parts[2].p, parts[2].n, jwe->iv, sizeof jwe->iv, &n);
	if (rc != 0)
		goto out;

	/* 4: ciphertext; a card payload is never empty. */
	unsigned char *ct = ek + ek_max;
	rc = sr_base64url_decode(parts[3].p, parts[3].n, ct, ct_max + 1, &jwe->ciphertext_len);
	if (rc == 0 && jwe->ciphertext_len == 0)
		rc = SR_E_INVAL;
	if (rc != 0)
		goto out;
	jwe->ciphertext = ct;

	/* 5: tag, exactly 128 bits. */
	if (sr_base64url_decoded_max(parts[4].n) != SR_JWE_TAG_LEN) {
		rc = SR_E_INVAL;
		goto out;
	}
	rc = sr_base64url_decode(parts[4].p, parts[4].n, jwe->tag, sizeof jwe->tag, &n);
	if (rc != 0)
		goto out;

	jwe->block = block;
	block = NULL;
out:
	free(block);
	if (rc != 0)
		memset(jwe, 0, sizeof *jwe);
	return rc;
}

void sr_jose_clear(struct sr_jose_jwe *jwe)
{
	if (jwe == NULL)
		return;
	free(jwe->block);
	memset(jwe, 0, sizeof *jwe);
}
