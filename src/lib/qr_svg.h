/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_LIB_QR_SVG_H
#define SR_LIB_QR_SVG_H

/*
 * A QR code (libqrencode, error correction M, 8-bit mode) as a compact,
 * self-contained SVG: one white background rect and one path whose
 * subpaths are horizontal runs of dark modules ("M x y h n v1 h-n z"), a
 * quiet zone of 4 modules, a viewBox in module units, no external
 * references, no scripts. Used for the TOTP enrolment URI. Thread-safe
 * (libqrencode is reentrant when built with thread support, as Debian's is).
 */
#include "base/err.h"

#include <stddef.h>

#define SR_QR_QUIET_ZONE 4
#define SR_QR_TEXT_MAX   1024 /* bytes of text to encode */

/*
 * Encodes text (len bytes, no NUL) and returns the SVG in *out (malloc,
 * NUL-terminated; the caller frees, and wipes it first if text was secret).
 * Returns 0, SR_E_INVAL, SR_E_LIMIT (len > SR_QR_TEXT_MAX), SR_E_NOMEM or
 * SR_E_CRYPTO (libqrencode refused).
 */
int sr_qr_svg(const char *text, size_t len, char **out) SR_WUR;

#endif
