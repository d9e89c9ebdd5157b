/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for card JWEs: lib/jose parsing, crypto/jwe decryption and the
 * card JSON behind it, with a fixed RSA-2048 test key so that inputs reach
 * past the parser. The key is tests/unit/data/jwe-test-key.pem (made with
 * WebCrypto by tests/unit/data/make-jwe-vectors.mjs, like the corpus seeds);
 * it protects nothing.
 *
 * Two modes, chosen by the input itself:
 *  - input starting with "ey" (a base64url '{'): a compact JWE, decrypted
 *    with the test key; a successful decrypt feeds the card parser;
 *  - anything else: a plaintext, sealed here as a JWE under the test key and
 *    then decrypted, which must give it back byte for byte whenever the JWE
 *    fits SR_JWE_MAX; then the card parser gets it. This reaches the success
 *    path and card validation with arbitrary payloads, which mutation of a
 *    sealed JWE never would (the GCM tag stops it).
 * Both modes also check that base64url decoding is canonical: whatever
 * decodes must re-encode to the same text.
 */
#include "base/err.h"
#include "crypto/jwe.h"
#include "lib/base64url.h"
#include "lib/card.h"
#include "lib/jose.h"
#include "../unit/jwe_test_encrypt.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char test_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC4n/OWemqz4ghk\n"
	"1O9hJ3/UW04WPnL1xsS5/KN2GEnWvrKGE9s2UiggbLCUuMXMdqgjU62FohjHcBtM\n"
	"ahjGxJivBzn/o+OjQgy74AdXhiQyKuD052boUD4aKjkwJ6Sn4s5esIQ0SoT6jpHU\n"
	"Au4SB9/d0Llb/xrdDuoiUNXTpOqP+kKeb6c1+dkP7eRWZx6mLTIw0tNDr7ck9YS5\n"
	"vI22Fod64ikXAaxxQE0aFnbNdwwM0EluZ9c2tZfuD+IgCW2tZWFLaMAqxkmCdOb0\n"
	"91aN4Ixe0uZsJXDsSwmA5gcx1eY3CpOpdm//4J9v7Z060/LgWLW5m4Am3jErDUQD\n"
	"Vu/YTZK5AgMBAAECggEAGKHQjj5Rb6QD0i4drPTn52VyJuIYlOV62ESWa3pkmZfS\n"
	"OjS6fcYaz+6oZYM8cqHPH315zHc6vpscrUaHfTd8FngMmyiaxayZhdRnLlx5hk71\n"
	"uf8ImgygqH2DKUNUwshuF7CNxus9UC+G0cY9TJ8L1WyUWmuQAjfL8Z2e1bCuUdyL\n"
	"7I5++Hs499KSiKslB+7fK9sKiStuOS1Wz53wHDTMZZzHOnvaxCvZq6J0hTRt0Z9c\n"
	"uOGds5MDcwQ3UccZdAfBUlDzyVhkq4nTGoxfgqbAyJEaJF11QZO2/XlysfpOV3sr\n"
	"IO8EBm8+dLZ0c1g3khCNNg3d4GKZzEMxWJlpgRsoXQKBgQDqJNSOBv7vJGCyxnPN\n"
	"75qnOLIGNzrxDuNm2a/YeufdFu5r123c6yZ/i2+tENc8yWazdIwfmIuGED72gQH8\n"
	"lJZewyX6ERst5RfpM/eCDmD4JP7yxAVSQ8fcGuwVWGp7Y4WxQZ6rLbl7X97ibNWE\n"
	"zEoLvo0pPo/HfzwU5V57xiwIhQKBgQDJ28yqUqR4xhTuTbYATlhsP/pCdG5KtJDR\n"
	"XZgOuQAFyrSkcxFXHfhQQUI0wDC6XVcWL09ilrqOahjYxC2P94GNQ6Wir+OKdqLH\n"
	"VGhfevH6Q+NnjC031/r1jz7eHFllBVIc79IPkbnZXkxmLqwjoXHbdv68frN167O9\n"
	"5ckjFHJRpQKBgAogAZkKsGeC+TOB5WwYWmW0y+384W2fKTI/Y51G41PqM/Ex5axR\n"
	"9t45F2Eygzw7sVc9SPnszMvFVBOwzHcxrbb3VWMU7knzyC7rcl6LZKIWZ3f0Bg7i\n"
	"o3ffKipaInCngxaBMe1REt5E7Qx5jForw1/yo4QPEoSb+eslaAqOLUVJAoGBAKXu\n"
	"wfpM/xiss+4FAZSU0okBuoZAUZ2letowVtvbZdJdBEuer2VupH3Md1EHn8bDDeCV\n"
	"uWswvmBthMlD0rRi4CMwtYrbjW94AG1czIOYfCue/ONUzqL2Lz0GqMZKhY3OZuaU\n"
	"mZfk0eKGasUgnq6XexHOaq6mdH196P40Uzg8CZFlAoGBAMFMbF//NyloYe3TQv8e\n"
	"n4QtI912tP+ZKwJfnYCd5mCm8zx9+/6kIxQxpnyIDCqAZer6KRBkCnEODb8exeaZ\n"
	"7VbRnMs69tNzj5T0tDPlaIXsbOi/tE9ZLQBwJ0iFjCulYIADqY2iK3cHjlu1nsSn\n"
	"1MnDdU5DrSKSjHGgFrCJ2g/C\n"
	"-----END PRIVATE KEY-----\n";

static EVP_PKEY *test_key(void)
{
	static EVP_PKEY *key;
	if (key == NULL) {
		if (sodium_init() < 0 ||
		    sr_jwe_key_from_pem(test_key_pem, sizeof test_key_pem - 1, &key) != 0)
			abort();
		sr_card_json_wipe_on_free();
	}
	return key;
}

static void check_base64url(const uint8_t *data, size_t size)
{
	static unsigned char bin[SR_JWE_MAX];
	static char text[SR_JWE_MAX * 2];
	size_t n = 0, m = 0;
	if (size > SR_JWE_MAX)
		return;
	if (sr_base64url_decode((const char *)data, size, bin, sizeof bin, &n) != 0)
		return;
	if (sr_base64url_encode(bin, n, text, sizeof text, &m) != 0 || m != size ||
	    memcmp(text, data, size) != 0)
		abort(); /* two spellings of one value, or a lossy round trip */
}

static void parse_card(const unsigned char *plain, size_t len)
{
	struct sr_card *card = sr_card_new();
	enum sr_card_error why;
	if (card == NULL)
		return;
	if (sr_card_payload_parse((const char *)plain, len, 1700000000, card, &why) == 0) {
		if (why != SR_CARD_OK || !sr_card_luhn_ok(card->pan.digits, card->pan.len) ||
		    card->exp_month < 1 || card->exp_month > 12 ||
		    !sr_card_cvc_ok(card->cvc, card->cvc_len, card->pan.brand))
			abort();
	} else if (why == SR_CARD_OK) {
		abort();
	}
	sr_card_free(card);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *key = test_key();
	struct sr_jwe_key keys[] = {{"test-kid-1", key}};
	unsigned char *plain = NULL;
	size_t plain_len = 0;
	char kid[SR_JWE_KID_MAX + 1];

	check_base64url(data, size);
	if (size >= 2 && data[0] == 'e' && data[1] == 'y') {
		int rc = sr_jwe_decrypt_compact((const char *)data, size, keys, 1, kid, &plain,
						&plain_len);
		if (rc == 0)
			parse_card(plain, plain_len);
		else if (plain != NULL)
			abort();
	} else if (size > 0 && size <= SR_CARD_PAYLOAD_MAX + 16) {
		char *compact = tje_encrypt(
			key,
			"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\"}",
			data, size, 32);
		if (compact == NULL)
			abort();
		size_t clen = strlen(compact);
		int rc = sr_jwe_decrypt_compact(compact, clen, keys, 1, kid, &plain, &plain_len);
		if (clen <= SR_JWE_MAX &&
		    (rc != 0 || plain_len != size || memcmp(plain, data, size) != 0))
			abort();
		if (clen > SR_JWE_MAX && rc != SR_E_LIMIT)
			abort();
		if (rc == 0)
			parse_card(plain, plain_len);
		free(compact);
	}
	sodium_free(plain);
	return 0;
}
