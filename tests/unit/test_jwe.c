/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Card JWEs: vectors made by Node's WebCrypto (tests/unit/data, see
 * make-jwe-vectors.mjs) decrypt to the card JSON; every tampered part fails
 * with the one error SR_E_CRYPTO; an unknown kid is told apart at the parse
 * stage; other algorithms, compression, critical extensions and oversize
 * inputs are refused before any key is used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "crypto/jwe.h"
#include "lib/base64url.h"
#include "lib/card.h"
#include "lib/jose.h"
#include "jwe_test_encrypt.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HDR "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\"}"
#define PAYLOAD                                                                                    \
	"{\"number\":\"4242424242424242\",\"exp_month\":12,\"exp_year\":2099,\"cvc\":\"123\","     \
	"\"nonce\":\"AAECAwQFBgcICQoLDA0ODw\",\"iat\":1700000000}"

static EVP_PKEY *key;       /* the WebCrypto-made test key */
static EVP_PKEY *other_key; /* a different RSA-2048 key */

static char *slurp(const char *name, size_t *len)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/unit/data/%s", SR_SOURCE_DIR, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 65536);
	assert_non_null(buf);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	(void)state;
	size_t len;
	char *pem = slurp("jwe-test-key.pem", &len);
	assert_int_equal(sr_jwe_key_from_pem(pem, len, &key), 0);
	free(pem);
	other_key = EVP_RSA_gen(2048);
	assert_non_null(other_key);
	sr_card_json_wipe_on_free();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return 0;
}

static int decrypt(const char *compact, EVP_PKEY *k, char **plain)
{
	struct sr_jwe_key keys[] = {{"old-kid", other_key}, {"test-kid-1", k}};
	unsigned char *pt = NULL;
	size_t n = 0;
	char kid[SR_JWE_KID_MAX + 1];
	int rc = sr_jwe_decrypt_compact(compact, strlen(compact), keys, 2, kid, &pt, &n);
	if (rc == 0) {
		assert_int_equal(strlen((char *)pt), n);
		if (plain != NULL) {
			*plain = strdup((char *)pt);
		}
		sodium_free(pt);
	} else {
		assert_null(pt);
		assert_int_equal(n, 0);
	}
	return rc;
}

static void webcrypto_vectors_decrypt_to_cards(void **state)
{
	(void)state;
	/* 2050-01-01: the vectors expire in 2099, within SR_CARD_EXPIRY_YEARS_MAX of it. */
	time_t now = 2524608000;
	struct {
		const char *file;
		int card_rc;
		enum sr_card_error why;
		enum sr_card_brand brand;
	} cases[] = {
		{"jwe-webcrypto-visa.jwe", 0, SR_CARD_OK, SR_CARD_BRAND_VISA},
		{"jwe-webcrypto-amex.jwe", 0, SR_CARD_OK, SR_CARD_BRAND_AMEX},
		{"jwe-webcrypto-expired.jwe", SR_E_INVAL, SR_CARD_EXPIRED, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len;
		char *compact = slurp(cases[i].file, &len);
		unsigned char *pt = NULL;
		size_t n = 0;
		struct sr_jwe_key keys[] = {{"test-kid-1", key}};
		char kid[SR_JWE_KID_MAX + 1];
		assert_int_equal(sr_jwe_decrypt_compact(compact, len, keys, 1, kid, &pt, &n), 0);
		assert_string_equal(kid, "test-kid-1");
		struct sr_card *card = sr_card_new();
		enum sr_card_error why;
		assert_int_equal(sr_card_payload_parse((char *)pt, n, now, card, &why),
				 cases[i].card_rc);
		assert_int_equal(why, cases[i].why);
		if (cases[i].card_rc == 0)
			assert_int_equal(card->pan.brand, cases[i].brand);
		if (i == 0) {
			assert_string_equal(card->pan.digits, "4242424242424242");
			assert_int_equal(card->exp_month, 12);
			assert_int_equal(card->exp_year, 2099);
			assert_string_equal(card->cvc, "123");
			assert_string_equal(card->name, "Jane Q. Public");
			assert_int_equal(card->iat, 1700000000);
		}
		if (i == 1) {
			assert_int_equal(card->exp_month, 1);
			assert_int_equal(card->exp_year, 2099);
			assert_string_equal(card->cvc, "1234");
			assert_int_equal(card->name_len, 0);
		}
		sr_card_free(card);
		sodium_free(pt);
		free(compact);
	}
}

static void own_encoder_round_trip(void **state)
{
	(void)state;
	char *compact = tje_encrypt(key, HDR, (const unsigned char *)PAYLOAD, strlen(PAYLOAD), 32);
	assert_non_null(compact);
	char *plain = NULL;
	assert_int_equal(decrypt(compact, key, &plain), 0);
	assert_string_equal(plain, PAYLOAD);
	free(plain);
	free(compact);
}

/* The tokenization path decrypts into its own locked buffer: the payload
 * lands there exactly, a buffer one byte short is refused before any work,
 * and a tampered JWE leaves no plaintext behind in it. */
static void decrypt_into_caller_buffer(void **state)
{
	(void)state;
	char *compact = tje_encrypt(key, HDR, (const unsigned char *)PAYLOAD, strlen(PAYLOAD), 32);
	assert_non_null(compact);
	struct sr_jose_jwe jwe = {0};
	assert_int_equal(sr_jose_parse(compact, strlen(compact), &jwe), 0);
	unsigned char buf[1024];
	size_t n = 99;
	assert_int_equal(sr_jwe_decrypt_into(&jwe, key, buf, strlen(PAYLOAD), &n), SR_E_LIMIT);
	assert_int_equal(n, 0);
	assert_int_equal(sr_jwe_decrypt_into(&jwe, key, buf, sizeof buf, &n), 0);
	assert_int_equal(n, strlen(PAYLOAD));
	assert_string_equal((char *)buf, PAYLOAD);

	memset(buf, 0, sizeof buf);
	jwe.tag[0] ^= 1;
	assert_int_equal(sr_jwe_decrypt_into(&jwe, key, buf, sizeof buf, &n), SR_E_CRYPTO);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < sizeof buf; i++)
		assert_int_equal(buf[i], 0);
	sr_jose_clear(&jwe);
	free(compact);
}

/* Flips one bit of byte `at` (from the end when negative) of decoded part `part`. */
static char *tamper(const char *compact, int part, long at)
{
	char *copy = strdup(compact), *parts[5], *save = copy;
	for (int i = 0; i < 5; i++) {
		parts[i] = save;
		char *dot = strchr(save, '.');
		if (dot != NULL) {
			*dot = '\0';
			save = dot + 1;
		}
	}
	unsigned char bin[8192];
	size_t n;
	assert_int_equal(sr_base64url_decode(parts[part], strlen(parts[part]), bin, sizeof bin, &n),
			 0);
	size_t idx = at >= 0 ? (size_t)at : n - (size_t)(-at);
	bin[idx] ^= 0x01;
	char enc[12000];
	size_t w;
	assert_int_equal(sr_base64url_encode(bin, n, enc, sizeof enc, &w), 0);
	size_t cap = strlen(compact) + 16;
	char *out = malloc(cap);
	out[0] = '\0';
	for (int i = 0; i < 5; i++) {
		size_t o = strlen(out);
		snprintf(out + o, cap - o, "%s%s", i == part ? enc : parts[i], i < 4 ? "." : "");
	}
	free(copy);
	return out;
}

static void every_tampered_part_fails_alike(void **state)
{
	(void)state;
	size_t len;
	char *compact = slurp("jwe-webcrypto-visa.jwe", &len);
	assert_int_equal(decrypt(compact, key, NULL), 0);
	struct {
		int part;
		long at;
	} cases[] = {
		{1, 0}, {1, 100}, {1, -1}, /* encrypted key: first, middle, last byte */
		{2, 0}, {2, -1},           /* IV */
		{3, 0}, {3, -1},           /* ciphertext */
		{4, 0}, {4, -1},           /* tag */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *bad = tamper(compact, cases[i].part, cases[i].at);
		assert_int_equal(decrypt(bad, key, NULL), SR_E_CRYPTO);
		free(bad);
	}
	free(compact);

	/* Header tampering: a header that still parses and names the same key, but
	 * is not the AAD the sender sealed, must fail too. Same ciphertext, other header. */
	char *orig = tje_encrypt(key, HDR, (const unsigned char *)PAYLOAD, strlen(PAYLOAD), 32);
	char hdr2[256];
	size_t w;
	const char *h2 = "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\","
			 "\"typ\":\"JWE\"}";
	assert_int_equal(sr_base64url_encode(h2, strlen(h2), hdr2, sizeof hdr2, &w), 0);
	const char *rest = strchr(orig, '.');
	size_t cap = strlen(orig) + 64;
	char *swapped = malloc(cap);
	snprintf(swapped, cap, "%s%s", hdr2, rest);
	assert_int_equal(decrypt(swapped, key, NULL), SR_E_CRYPTO);
	free(swapped);
	free(orig);
}

static void wrong_key_and_wrong_cek_size_fail_alike(void **state)
{
	(void)state;
	char *compact = tje_encrypt(key, HDR, (const unsigned char *)PAYLOAD, strlen(PAYLOAD), 32);
	assert_int_equal(decrypt(compact, other_key, NULL), SR_E_CRYPTO);
	free(compact);
	/* A 16- or 33-byte CEK unwraps fine under RSA but is not an A256GCM key. */
	size_t sizes[] = {16, 31, 33};
	for (size_t i = 0; i < 3; i++) {
		compact = tje_encrypt(key, HDR, (const unsigned char *)PAYLOAD, strlen(PAYLOAD),
				      sizes[i]);
		assert_non_null(compact);
		assert_int_equal(decrypt(compact, key, NULL), SR_E_CRYPTO);
		free(compact);
	}
}

static void unknown_kid_is_told_apart(void **state)
{
	(void)state;
	char *compact = tje_encrypt(
		key, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"retired-kid\"}",
		(const unsigned char *)PAYLOAD, strlen(PAYLOAD), 32);
	struct sr_jwe_key keys[] = {{"test-kid-1", key}};
	unsigned char *pt = NULL;
	size_t n = 0;
	char kid[SR_JWE_KID_MAX + 1];
	assert_int_equal(sr_jwe_decrypt_compact(compact, strlen(compact), keys, 1, kid, &pt, &n),
			 SR_E_NOTFOUND);
	assert_string_equal(kid, "retired-kid");
	assert_null(pt);
	free(compact);
}

static void refused_headers(void **state)
{
	(void)state;
	const char *bad[] = {
		"{\"alg\":\"RSA1_5\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\"}",
		"{\"alg\":\"dir\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\"}",
		"{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A128CBC-HS256\",\"kid\":\"test-kid-1\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A128GCM\",\"kid\":\"test-kid-1\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\",\"zip\":"
		"\"DEF\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\",\"crit\":["
		"\"exp\"],\"exp\":1}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\",\"jku\":"
		"\"https://x\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"kid\":\"test-kid-1\"}",
		"{\"enc\":\"A256GCM\",\"kid\":\"test-kid-1\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"a b\"}",
		"{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":7}",
		"{\"alg\":\"RSA-OAEP-256\",\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":"
		"\"k\"}",
		"[\"RSA-OAEP-256\"]",
		"not json",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *compact = tje_encrypt(key, bad[i], (const unsigned char *)PAYLOAD,
					    strlen(PAYLOAD), 32);
		assert_non_null(compact);
		struct sr_jose_jwe jwe;
		int rc = sr_jose_parse(compact, strlen(compact), &jwe);
		if (rc != SR_E_INVAL)
			print_error("header %zu: %s -> %d\n", i, bad[i], rc);
		assert_int_equal(rc, SR_E_INVAL);
		assert_null(jwe.block);
		assert_int_equal(decrypt(compact, key, NULL), SR_E_INVAL);
		free(compact);
	}
	/* A kid one byte too long is a limit; at the limit it parses. */
	char hdr[256], kid[SR_JWE_KID_MAX + 2];
	memset(kid, 'k', sizeof kid - 1);
	kid[sizeof kid - 1] = '\0';
	snprintf(hdr, sizeof hdr, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"%s\"}",
		 kid);
	char *compact = tje_encrypt(key, hdr, (const unsigned char *)"x", 1, 32);
	assert_int_equal(decrypt(compact, key, NULL), SR_E_LIMIT);
	free(compact);
	kid[SR_JWE_KID_MAX] = '\0';
	snprintf(hdr, sizeof hdr, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"%s\"}",
		 kid);
	compact = tje_encrypt(key, hdr, (const unsigned char *)"x", 1, 32);
	struct sr_jose_jwe jwe;
	assert_int_equal(sr_jose_parse(compact, strlen(compact), &jwe), 0);
	assert_string_equal(jwe.kid, kid);
	sr_jose_clear(&jwe);
	free(compact);
}

static void malformed_and_oversize(void **state)
{
	(void)state;
	char *good = tje_encrypt(key, HDR, (const unsigned char *)PAYLOAD, strlen(PAYLOAD), 32);
	struct sr_jose_jwe jwe;
	assert_int_equal(sr_jose_parse(good, strlen(good), &jwe), 0);
	assert_int_equal(jwe.ciphertext_len, strlen(PAYLOAD));
	assert_int_equal(jwe.encrypted_key_len, 256);
	sr_jose_clear(&jwe);
	sr_jose_clear(&jwe); /* twice is fine */

	const char *bad[] = {
		"",
		"....",
		"a.b.c.d",
		"a.b.c.d.e.f",
		"eyJ9.AA.AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sr_jose_parse(bad[i], strlen(bad[i]), &jwe), SR_E_INVAL);

	/* Each part mangled: padding, foreign characters, wrong IV/tag length, empty ct. */
	size_t n = strlen(good);
	char *mod = malloc(n + 8);
	const char *dots[4];
	const char *p = good;
	for (int i = 0; i < 4; i++) {
		dots[i] = strchr(p, '.');
		p = dots[i] + 1;
	}
	/* '=' padding appended to the tag */
	snprintf(mod, n + 8, "%s==", good);
	assert_int_equal(sr_jose_parse(mod, strlen(mod), &jwe), SR_E_INVAL);
	/* IV one character short */
	snprintf(mod, n + 8, "%.*s%s", (int)(dots[2] - good - 1), good, dots[2]);
	assert_int_equal(sr_jose_parse(mod, strlen(mod), &jwe), SR_E_INVAL);
	/* empty ciphertext */
	snprintf(mod, n + 8, "%.*s%s", (int)(dots[2] - good + 1), good, dots[3]);
	assert_int_equal(sr_jose_parse(mod, strlen(mod), &jwe), SR_E_INVAL);
	/* a '+' in the wrapped key */
	memcpy(mod, good, n + 1);
	mod[dots[0] - good + 5] = '+';
	assert_int_equal(sr_jose_parse(mod, strlen(mod), &jwe), SR_E_INVAL);
	/* whitespace around the serialization */
	snprintf(mod, n + 8, "%s\n", good);
	assert_int_equal(sr_jose_parse(mod, strlen(mod), &jwe), SR_E_INVAL);
	free(mod);
	free(good);

	/* Over SR_JWE_MAX: refused by size alone, even though it would decrypt. */
	size_t big_len = SR_JWE_MAX; /* ciphertext grows by 4/3 in base64url */
	unsigned char *big = calloc(1, big_len);
	memset(big, ' ', big_len);
	char *huge = tje_encrypt(key, HDR, big, big_len, 32);
	assert_true(strlen(huge) > SR_JWE_MAX);
	assert_int_equal(decrypt(huge, key, NULL), SR_E_LIMIT);
	free(huge);
	free(big);

	/* A header over SR_JWE_HEADER_MAX (with an otherwise small JWE). */
	char hdr[SR_JWE_HEADER_MAX + 128];
	snprintf(hdr, sizeof hdr,
		 "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\",\"kid\":\"k\",\"typ\":\"%*s\"}",
		 SR_JWE_HEADER_MAX, "x");
	huge = tje_encrypt(key, hdr, (const unsigned char *)"x", 1, 32);
	assert_int_equal(sr_jose_parse(huge, strlen(huge), &jwe), SR_E_LIMIT);
	free(huge);
}

static void keys_from_pem(void **state)
{
	(void)state;
	EVP_PKEY *k = NULL;
	assert_int_equal(sr_jwe_key_from_pem("nonsense", 8, &k), SR_E_INVAL);
	assert_null(k);
	/* 1024-bit keys are too weak for card data. */
	EVP_PKEY *small = EVP_RSA_gen(1024);
	BIO *bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, small, NULL, NULL, 0, NULL, NULL), 1);
	char *pem;
	long len = BIO_get_mem_data(bio, &pem);
	assert_int_equal(sr_jwe_key_from_pem(pem, (size_t)len, &k), SR_E_CRYPTO);
	assert_null(k);
	BIO_free(bio);
	EVP_PKEY_free(small);
	/* Not RSA. */
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &pem);
	assert_int_equal(sr_jwe_key_from_pem(pem, (size_t)len, &k), SR_E_INVAL);
	BIO_free(bio);
	EVP_PKEY_free(ec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(webcrypto_vectors_decrypt_to_cards),
		cmocka_unit_test(own_encoder_round_trip),
		cmocka_unit_test(decrypt_into_caller_buffer),
		cmocka_unit_test(every_tampered_part_fails_alike),
		cmocka_unit_test(wrong_key_and_wrong_cek_size_fail_alike),
		cmocka_unit_test(unknown_kid_is_told_apart),
		cmocka_unit_test(refused_headers),
		cmocka_unit_test(malformed_and_oversize),
		cmocka_unit_test(keys_from_pem),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
