/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lib/qr_svg: the SVG is well-formed (one svg element, a viewBox of the
 * code's width plus two 4-module quiet zones, no references or scripts), and
 * the path, read back run by run, paints exactly the dark modules of
 * libqrencode's matrix for the same text, shifted by the quiet zone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "lib/qr_svg.h"

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_text(const char *text)
{
	char *svg = NULL;
	assert_int_equal(sr_qr_svg(text, strlen(text), &svg), 0);
	assert_non_null(svg);
	QRcode *qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
	assert_non_null(qr);
	int w = qr->width, size = w + 8;

	/* Well-formed: starts and ends as one element, tags balance, no links. */
	char head[128];
	snprintf(head, sizeof head,
		 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\"", size, size);
	assert_true(strncmp(svg, head, strlen(head)) == 0);
	size_t n = strlen(svg);
	assert_true(n > 6 && strcmp(svg + n - 6, "</svg>") == 0);
	int lt = 0, gt = 0, quotes = 0;
	for (const char *p = svg; *p; p++) {
		lt += *p == '<';
		gt += *p == '>';
		quotes += *p == '"';
	}
	assert_int_equal(lt, gt);
	assert_int_equal(lt, 4); /* <svg> <rect/> <path/> </svg> */
	assert_int_equal(quotes % 2, 0);
	assert_null(strstr(svg, "href"));
	assert_null(strstr(svg, "script"));
	assert_null(strstr(svg, "url("));

	/* Read the path back into a matrix. */
	const char *d = strstr(svg, " d=\"");
	assert_non_null(d);
	d += 4;
	unsigned char *painted = calloc((size_t)size * (size_t)size, 1);
	assert_non_null(painted);
	while (*d == 'M') {
		int x, y, run, back, used = 0;
		assert_int_equal(sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &run, &back, &used), 4);
		assert_true(used > 0);
		assert_int_equal(run, back);
		assert_true(x >= 4 && y >= 4 && run >= 1 && x + run <= size - 4 && y < size - 4);
		for (int i = 0; i < run; i++) {
			assert_int_equal(painted[y * size + x + i], 0); /* no overlaps */
			painted[y * size + x + i] = 1;
		}
		d += used;
	}
	assert_true(strncmp(d, "\"/></svg>", 9) == 0);
	for (int y = 0; y < size; y++)
		for (int x = 0; x < size; x++) {
			int dark = x >= 4 && y >= 4 && x < size - 4 && y < size - 4 &&
				   (qr->data[(y - 4) * w + (x - 4)] & 1);
			assert_int_equal(painted[y * size + x], dark);
		}
	free(painted);
	QRcode_free(qr);
	free(svg);
}

static void renders_the_module_matrix(void **state)
{
	(void)state;
	check_text("hello");
	check_text("otpauth://totp/Acme%20Market:ada%40example.com?secret="
		   "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Market&algorithm=SHA1&digits=6"
		   "&period=30");
}

static void refuses_bad_input(void **state)
{
	(void)state;
	char *svg = (char *)1;
	assert_int_equal(sr_qr_svg("", 0, &svg), SR_E_INVAL);
	assert_null(svg);
	assert_int_equal(sr_qr_svg("a\0b", 3, &svg), SR_E_INVAL);
	static char big[SR_QR_TEXT_MAX + 1];
	memset(big, 'a', sizeof big);
	assert_int_equal(sr_qr_svg(big, sizeof big, &svg), SR_E_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(renders_the_module_matrix),
		cmocka_unit_test(refuses_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
