/* SPDX-License-Identifier: Apache-2.0 */
/* Query-string parameter lookup with percent-decoding; see query.h. */
#include "net/query.h"

#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sr_query_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	if (outlen == 0)
		return SR_E_LIMIT;
	for (size_t i = 0; i < len; i++) {
		int ch = (unsigned char)in[i];
		if (ch == '+') {
			ch = ' ';
		} else if (ch == '%') {
			if (i + 2 >= len)
				return SR_E_INVAL;
			int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return SR_E_INVAL;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == 0)
			return SR_E_INVAL;
		if (o + 1 >= outlen)
			return SR_E_LIMIT;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return (int)o;
}

int sr_query_get(const char *query, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	int found = 0;
	const char *p = query;
	while (p != NULL && *p != '\0') {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		size_t klen = eq ? (size_t)(eq - p) : plen;
		char key[64];
		int kl = sr_query_decode(p, klen, key, sizeof key);
		if (kl == SR_E_INVAL)
			return SR_E_INVAL;
		if (kl >= 0 && (size_t)kl == nlen && strcmp(key, name) == 0) {
			if (found)
				return SR_E_INVAL;
			found = 1;
			const char *v = eq ? eq + 1 : p + plen;
			size_t vlen = eq ? plen - klen - 1 : 0;
			int r = sr_query_decode(v, vlen, out, outlen);
			if (r < 0)
				return r;
		}
		p = amp ? amp + 1 : NULL;
	}
	return found;
}
