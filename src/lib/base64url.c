/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base64url without padding, strict in what it accepts: JOSE objects arrive
 * from browsers we do not trust, and a lenient decoder would let one JWE have
 * many spellings (padding, stray bits), which defeats byte-wise comparison
 * and replay detection upstream. Only public data passes through here in the
 * JWE path (headers, wrapped keys, ciphertext); the table lookups are
 * therefore not constant-time.
 */
#include "lib/base64url.h"

#include <stdint.h>

static const char alphabet[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of a base64url character, or -1. */
static int value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t sr_base64url_encoded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t sr_base64url_decoded_max(size_t n)
{
	return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

int sr_base64url_encode(const void *in, size_t n, char *out, size_t cap, size_t *out_len)
{
	const unsigned char *p = in;
	size_t need = sr_base64url_encoded_len(n);
	size_t o = 0;
	int rc = 0;

	*out_len = 0;
	/* n up to SIZE_MAX/4*3 keeps need from wrapping; anything larger cannot fit. */
	if (n > SIZE_MAX / 4 * 3 || cap < need + 1) {
		rc = SR_E_LIMIT;
		goto out;
	}
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	*out_len = o;
out:
	return rc;
}

int sr_base64url_decode(const char *in, size_t n, void *out, size_t cap, size_t *out_len)
{
	unsigned char *d = out;
	size_t o = 0;
	int rc = 0;

	*out_len = 0;
	if (n % 4 == 1) {
		rc = SR_E_INVAL;
		goto out;
	}
	if (cap < sr_base64url_decoded_max(n)) {
		rc = SR_E_LIMIT;
		goto out;
	}
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = value_of((unsigned char)in[i]);
		if (v < 0) {
			rc = SR_E_INVAL;
			goto out;
		}
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* Leftover bits (2 or 4) are padding inside the last character: must be zero. */
	if ((acc & ((1u << bits) - 1)) != 0) {
		rc = SR_E_INVAL;
		goto out;
	}
	*out_len = o;
out:
	return rc;
}
