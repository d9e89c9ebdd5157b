/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shamir sharing of the vault KEK on libgfshare, and the human text form of
 * a share (format in shares.h). The KEK and shares pass through libgfshare's
 * context, which it allocates on the ordinary heap; that memory is held only
 * for the duration of one call. Everything this module returns (share texts,
 * the recovered KEK) is in sodium_malloc memory.
 */
#include "crypto/shares.h"

#include <ctype.h>
#include <libgfshare.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX    "srs1"
#define SHARE_B32 52 /* base32 characters of 32 bytes */
#define CHECK_LEN 5
#define CHECK_B32 8

static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static void gf_rand(unsigned char *buf, unsigned int n)
{
	randombytes_buf(buf, n);
}

static pthread_once_t rand_once = PTHREAD_ONCE_INIT;
static int rand_ok;

static void set_rand(void)
{
	/* libgfshare's default fills polynomial coefficients from random(3). */
	rand_ok = sodium_init() >= 0;
	if (rand_ok)
		gfshare_fill_rand = gf_rand;
}

/* Encodes n bytes as unpadded base32 into out (must hold ceil(8n/5)+1). */
static void b32_encode(const unsigned char *in, size_t n, char *out)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

static int b32_value(char c)
{
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/* Decodes exactly len characters into exactly n bytes; unused bits must be 0. */
static int b32_decode(const char *in, size_t len, unsigned char *out, size_t n)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	if (len != (n * 8 + 4) / 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b32_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 5) | (unsigned)v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
		acc &= 0xff;
	}
	if (o != n || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return 0;
}

static void checksum(unsigned m, unsigned x, const unsigned char *share, unsigned char *out)
{
	unsigned char h[crypto_generichash_BYTES];
	unsigned char mx[2] = {(unsigned char)m, (unsigned char)x};
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)PREFIX, 4);
	crypto_generichash_update(&st, mx, 2);
	crypto_generichash_update(&st, share, SR_SHARES_SECRET_LEN);
	crypto_generichash_final(&st, h, sizeof h);
	memcpy(out, h, CHECK_LEN);
	sodium_memzero(&st, sizeof st);
	sodium_memzero(h, sizeof h);
}

void sr_shares_free(char **texts, size_t n)
{
	if (texts == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		sodium_free(texts[i]);
	free(texts);
}

int sr_shares_split(const unsigned char *secret, unsigned m, unsigned n, char ***texts)
{
	unsigned char nrs[SR_SHARES_MAX];
	unsigned char *work = NULL; /* secret copy + one share, in secret memory */
	gfshare_ctx *ctx = NULL;
	char **out = NULL;
	int rc = SR_E_INVAL;

	*texts = NULL;
	if (secret == NULL || m < 2 || n < m || n > SR_SHARES_MAX)
		goto out;
	rc = SR_E_CRYPTO;
	if (pthread_once(&rand_once, set_rand) != 0 || !rand_ok)
		goto out;
	rc = SR_E_NOMEM;
	out = calloc(n, sizeof *out);
	work = sodium_malloc(2 * SR_SHARES_SECRET_LEN);
	if (out == NULL || work == NULL)
		goto out;
	for (unsigned i = 0; i < n; i++)
		nrs[i] = (unsigned char)(i + 1); /* x = 0 would be the secret itself */
	memcpy(work, secret, SR_SHARES_SECRET_LEN);
	ctx = gfshare_ctx_init_enc(nrs, n, (unsigned char)m, SR_SHARES_SECRET_LEN);
	if (ctx == NULL)
		goto out;
	gfshare_ctx_enc_setsecret(ctx, work);
	for (unsigned i = 0; i < n; i++) {
		unsigned char *share = work + SR_SHARES_SECRET_LEN;
		unsigned char ck[CHECK_LEN];
		char b32[SHARE_B32 + 1], ckb32[CHECK_B32 + 1];
		gfshare_ctx_enc_getshare(ctx, (unsigned char)i, share);
		checksum(m, nrs[i], share, ck);
		b32_encode(share, SR_SHARES_SECRET_LEN, b32);
		b32_encode(ck, CHECK_LEN, ckb32);
		out[i] = sodium_malloc(SR_SHARES_TEXT_MAX + 1);
		if (out[i] == NULL) {
			sodium_memzero(b32, sizeof b32);
			goto out;
		}
		int w = snprintf(out[i], SR_SHARES_TEXT_MAX + 1, PREFIX "-%u-%u-%s-%s", m, nrs[i],
				 b32, ckb32);
		sodium_memzero(b32, sizeof b32);
		if (w < 0 || w > SR_SHARES_TEXT_MAX) {
			rc = SR_E_INTERNAL;
			goto out;
		}
	}
	*texts = out;
	out = NULL;
	rc = 0;
out:
	/* gfshare_ctx_free overwrites its buffers (coefficients, shares) with
	 * random bytes before freeing them. */
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	sodium_free(work);
	sr_shares_free(out, n);
	return rc;
}

/* Parses a decimal field of 1..3 digits without leading zeros. */
static int parse_small(const char *s, size_t len, unsigned *v)
{
	unsigned r = 0;
	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		r = r * 10 + (unsigned)(s[i] - '0');
	}
	*v = r;
	return 0;
}

int sr_shares_decode(const char *text, unsigned *m, unsigned *x, unsigned char *share)
{
	unsigned char ck[CHECK_LEN], want[CHECK_LEN];
	const char *f[5];
	size_t flen[5];
	int rc = SR_E_INVAL;

	*m = 0;
	*x = 0;
	if (text == NULL)
		goto out;
	while (isspace((unsigned char)*text))
		text++;
	size_t len = strnlen(text, SR_SHARES_TEXT_MAX + 64);
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (len > SR_SHARES_TEXT_MAX)
		goto out;
	/* Split into exactly five '-' separated fields. */
	size_t start = 0, nf = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || text[i] == '-') {
			if (nf == 5)
				goto out;
			f[nf] = text + start;
			flen[nf++] = i - start;
			start = i + 1;
		}
	}
	if (nf != 5 || flen[0] != 4 || strncasecmp(f[0], PREFIX, 4) != 0)
		goto out;
	unsigned mm = 0, xx = 0;
	if (parse_small(f[1], flen[1], &mm) != 0 || mm < 2 || mm > SR_SHARES_MAX ||
	    parse_small(f[2], flen[2], &xx) != 0 || xx < 1 || xx > SR_SHARES_MAX)
		goto out;
	if (b32_decode(f[3], flen[3], share, SR_SHARES_SECRET_LEN) != 0 ||
	    b32_decode(f[4], flen[4], ck, CHECK_LEN) != 0)
		goto out;
	rc = SR_E_CRYPTO;
	if (sodium_init() < 0)
		goto out;
	checksum(mm, xx, share, want);
	if (sodium_memcmp(ck, want, CHECK_LEN) != 0) {
		rc = SR_E_TAMPER;
		goto out;
	}
	*m = mm;
	*x = xx;
	rc = 0;
out:
	if (rc != 0 && share != NULL)
		sodium_memzero(share, SR_SHARES_SECRET_LEN);
	return rc;
}

int sr_shares_combine(const char *const *texts, size_t count, unsigned char **secret,
		      size_t *bad_index)
{
	unsigned char nrs[SR_SHARES_MAX];
	unsigned char *shares = NULL, *sec = NULL;
	gfshare_ctx *ctx = NULL;
	unsigned m = 0;
	int rc = SR_E_INVAL;

	*secret = NULL;
	if (bad_index != NULL)
		*bad_index = 0;
	if (texts == NULL || count == 0)
		goto out;
	if (count > SR_SHARES_MAX)
		count = SR_SHARES_MAX; /* more than 255 distinct shares cannot exist */
	rc = SR_E_NOMEM;
	shares = sodium_malloc(count * SR_SHARES_SECRET_LEN);
	sec = sodium_malloc(SR_SHARES_SECRET_LEN);
	if (shares == NULL || sec == NULL)
		goto out;
	for (size_t i = 0; i < count; i++) {
		unsigned mi = 0, xi = 0;
		rc = sr_shares_decode(texts[i], &mi, &xi, shares + i * SR_SHARES_SECRET_LEN);
		if (rc == 0 && m != 0 && mi != m)
			rc = SR_E_INVAL;
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (nrs[j] == xi)
				rc = SR_E_EXISTS;
		if (rc != 0) {
			if (bad_index != NULL)
				*bad_index = i;
			goto out;
		}
		m = mi;
		nrs[i] = (unsigned char)xi;
	}
	if (count < m) {
		rc = SR_E_LIMIT;
		goto out;
	}
	rc = SR_E_CRYPTO;
	/* gfshare_ctx_free fills the context with gfshare_fill_rand before
	 * freeing it, and Debian's libgfshare leaves that NULL until set: a
	 * process that combines without ever splitting (the unsealing vault)
	 * must set it too. */
	if (pthread_once(&rand_once, set_rand) != 0 || !rand_ok)
		goto out;
	ctx = gfshare_ctx_init_dec(nrs, m, SR_SHARES_SECRET_LEN);
	if (ctx == NULL)
		goto out;
	for (unsigned i = 0; i < m; i++)
		gfshare_ctx_dec_giveshare(ctx, (unsigned char)i, shares + i * SR_SHARES_SECRET_LEN);
	gfshare_ctx_dec_extract(ctx, sec);
	*secret = sec;
	sec = NULL;
	rc = 0;
out:
	if (ctx != NULL)
		gfshare_ctx_free(ctx);
	sodium_free(shares);
	sodium_free(sec);
	return rc;
}
