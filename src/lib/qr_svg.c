/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QR codes as SVG for the TOTP enrolment page. The text is an otpauth URI
 * holding the member's TOTP secret: the intermediate module matrix and the
 * SVG are wiped before they are freed (the caller wipes the returned SVG).
 * Rendering is run-length per row, so a typical 33x33 code is a few KiB.
 */
#include "lib/qr_svg.h"

#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = malloc(cap);
		if (p == NULL)
			return SR_E_NOMEM;
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			sodium_memzero(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int put_str(struct buf *b, const char *s)
{
	return put(b, s, strlen(s));
}

static int put_int(struct buf *b, int v)
{
	char tmp[16];
	int n = snprintf(tmp, sizeof tmp, "%d", v);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return SR_E_INTERNAL;
	return put(b, tmp, (size_t)n);
}

int sr_qr_svg(const char *text, size_t len, char **out)
{
	int rc = 0;
	QRcode *qr = NULL;
	char *copy = NULL;
	struct buf b = {0};

	if (out != NULL)
		*out = NULL;
	if (text == NULL || out == NULL || len == 0 || memchr(text, '\0', len) != NULL)
		return SR_E_INVAL;
	if (len > SR_QR_TEXT_MAX)
		return SR_E_LIMIT;
	if ((copy = malloc(len + 1)) == NULL)
		return SR_E_NOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if ((qr = QRcode_encodeString8bit(copy, 0, QR_ECLEVEL_M)) == NULL) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	int w = qr->width, size = w + 2 * SR_QR_QUIET_ZONE;
	if ((rc = put_str(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ")) != 0 ||
	    (rc = put_int(&b, size)) != 0 || (rc = put_str(&b, " ")) != 0 ||
	    (rc = put_int(&b, size)) != 0 ||
	    (rc = put_str(&b, "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" "
			      "height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"")) != 0)
		goto out;
	for (int y = 0; y < w; y++) {
		for (int x = 0; x < w;) {
			if ((qr->data[y * w + x] & 1) == 0) {
				x++;
				continue;
			}
			int start = x;
			while (x < w && (qr->data[y * w + x] & 1) != 0)
				x++;
			if ((rc = put_str(&b, "M")) != 0 ||
			    (rc = put_int(&b, start + SR_QR_QUIET_ZONE)) != 0 ||
			    (rc = put_str(&b, " ")) != 0 ||
			    (rc = put_int(&b, y + SR_QR_QUIET_ZONE)) != 0 ||
			    (rc = put_str(&b, "h")) != 0 || (rc = put_int(&b, x - start)) != 0 ||
			    (rc = put_str(&b, "v1h-")) != 0 || (rc = put_int(&b, x - start)) != 0 ||
			    (rc = put_str(&b, "z")) != 0)
				goto out;
		}
	}
	if ((rc = put(&b, "\"/></svg>", 9)) != 0)
		goto out;
	*out = b.p;
	b.p = NULL;
out:
	if (b.p != NULL) {
		sodium_memzero(b.p, b.cap);
		free(b.p);
	}
	if (qr != NULL) {
		sodium_memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
		QRcode_free(qr);
	}
	sodium_memzero(copy, len);
	free(copy);
	return rc;
}
