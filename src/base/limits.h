/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_BASE_LIMITS_H
#define SR_BASE_LIMITS_H

/*
 * Every hard limit in one place. Limits an operator may tune are settings
 * (src/base/settings.h, section [limits]) whose bounds are checked at load;
 * these are the compile-time ceilings and the limits nobody should tune.
 * Exceeding any of them gives a defined error, never undefined behaviour.
 */

#define SR_CONFIG_FILE_MAX  (256 * 1024) /* bytes of strongroom.conf */
#define SR_CONFIG_VALUE_MAX 4096         /* bytes of one setting's value */
#define SR_KEY_FILE_MAX     16384        /* bytes of one key file */

#define SR_HTTP_METHOD_MAX           16  /* longest method we recognise */
#define SR_HTTP_PATH_PARAMS_MAX      8   /* {params} in one route pattern */
#define SR_HTTP_ROUTES_MAX           256 /* routes per service */
#define SR_HTTP_RESPONSE_HEADERS_MAX 32  /* headers a handler may add */
#define SR_HTTP_REQUEST_ID_MAX       64  /* accepted client X-Request-Id length */

#define SR_JSON_DEPTH_MAX 32 /* nesting of accepted JSON bodies */

/* Card data sent by the browser as a compact JWE (lib/jose, crypto/jwe, lib/card). */
#define SR_JWE_MAX               8192 /* bytes of one compact JWE */
#define SR_JWE_HEADER_MAX        1024 /* bytes of its decoded protected header */
#define SR_JWE_KID_MAX           64   /* bytes of a key id */
#define SR_CARD_PAYLOAD_MAX      4096 /* bytes of the decrypted card JSON */
#define SR_CARD_NUMBER_TEXT_MAX  64   /* bytes of a card number as typed */
#define SR_CARD_NAME_MAX         100  /* bytes (UTF-8) of a cardholder name */
#define SR_CARD_NONCE_MIN        16   /* base64url characters of a payload nonce */
#define SR_CARD_NONCE_MAX        64
#define SR_CARD_EXPIRY_YEARS_MAX 50 /* how far ahead an expiry year may be */

#endif
