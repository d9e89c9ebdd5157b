/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom init` and the certificates it makes (crypto/x509), checked the
 * way a client would: the server chains verify against ca.crt for localhost,
 * 127.0.0.1 and ::1 as TLS servers; keys are P-256 and match; secrets have
 * owner-only modes; credentials.json parses; an instance is not overwritten
 * without --force, and --force gives new keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"
#include "cmd/cmd.h"
#include "cmd/init.h"
#include "crypto/keyfile.h"
#include "crypto/password.h"
#include "crypto/x509.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
	char base[64];
	char dir[128]; /* base/inst/dev: init must create both levels */
	char err[1024];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	snprintf(f->base, sizeof f->base, "/tmp/sr-test-init-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof f->dir, "%s/inst/dev", f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];
	/* Test-only cleanup of a mkdtemp folder; src/ never shells out. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->base);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static char *in_dir(const struct fixture *f, const char *rel)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];
	snprintf(p, sizeof buf[0], "%s/%s", f->dir, rel);
	return p;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		fail_msg("%s: missing", path);
	return st.st_mode & 07777;
}

static void init_ok(struct fixture *f, bool force)
{
	int rc = sr_init_instance(f->dir, force, f->err, sizeof f->err);
	if (rc != 0)
		fail_msg("init: %s", f->err);
}

static X509 *read_cert(const char *path)
{
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	X509 *x = PEM_read_X509(in, NULL, NULL, NULL);
	fclose(in);
	assert_non_null(x);
	return x;
}

/* All certificates in a PEM file, in order. */
static STACK_OF(X509) * read_chain(const char *path)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	FILE *in = fopen(path, "r");
	X509 *x;
	assert_non_null(in);
	while ((x = PEM_read_X509(in, NULL, NULL, NULL)) != NULL)
		sk_X509_push(chain, x);
	fclose(in);
	return chain;
}

/* X509_verify_cert of leaf against ca alone, strict, as a TLS server for
 * host or ip (one of them NULL). Returns the verify error (X509_V_OK). */
static int verify(X509 *ca, X509 *leaf, const char *host, const char *ip)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
	if (host != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
	if (ip != NULL)
		assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
	int ok = X509_verify_cert(ctx);
	int err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok == 1 ? X509_V_OK : (err != X509_V_OK ? err : -1);
}

static void check_sans(X509 *leaf)
{
	static const unsigned char v4[4] = {127, 0, 0, 1};
	static const unsigned char v6[16] = {[15] = 1};
	bool dns = false, ip4 = false, ip6 = false;
	GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	assert_non_null(names);
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		if (n->type == GEN_DNS) {
			dns |= ASN1_STRING_length(n->d.dNSName) == 9 &&
			       memcmp(ASN1_STRING_get0_data(n->d.dNSName), "localhost", 9) == 0;
		} else if (n->type == GEN_IPADD) {
			int len = ASN1_STRING_length(n->d.iPAddress);
			const unsigned char *b = ASN1_STRING_get0_data(n->d.iPAddress);
			ip4 |= len == 4 && memcmp(b, v4, 4) == 0;
			ip6 |= len == 16 && memcmp(b, v6, 16) == 0;
		}
	}
	GENERAL_NAMES_free(names);
	assert_true(dns);
	assert_true(ip4);
	assert_true(ip6);
}

static void check_validity_days(X509 *x, int lo, int hi)
{
	int days = 0, secs = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
	if (days < lo || days > hi)
		fail_msg("valid for %d more days, expected %d..%d", days, lo, hi);
	assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
}

static int serial_bits(X509 *x)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_non_null(bn);
	assert_false(BN_is_negative(bn));
	int bits = BN_num_bits(bn);
	BN_free(bn);
	return bits;
}

static void check_server(const struct fixture *f, X509 *ca, const char *service)
{
	char rel[64];
	snprintf(rel, sizeof rel, "tls/%s.crt", service);
	STACK_OF(X509) *chain = read_chain(in_dir(f, rel));
	/* Leaf first, then the CA itself. */
	assert_int_equal(sk_X509_num(chain), 2);
	X509 *leaf = sk_X509_value(chain, 0);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 1), ca), 0);

	assert_int_equal(verify(ca, leaf, "localhost", NULL), X509_V_OK);
	assert_int_equal(verify(ca, leaf, NULL, "127.0.0.1"), X509_V_OK);
	assert_int_equal(verify(ca, leaf, NULL, "::1"), X509_V_OK);
	/* The checks above can fail: a name the certificate does not carry. */
	assert_int_equal(verify(ca, leaf, "example.com", NULL), X509_V_ERR_HOSTNAME_MISMATCH);
	check_sans(leaf);
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_true((X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER) != 0);
	assert_true((X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) != 0);
	check_validity_days(leaf, 396, 397);
	assert_true(serial_bits(leaf) > 120);

	snprintf(rel, sizeof rel, "tls/%s.key", service);
	assert_int_equal(mode_of(in_dir(f, rel)), 0600);
	FILE *in = fopen(in_dir(f, rel), "r");
	assert_non_null(in);
	EVP_PKEY *key = PEM_read_PrivateKey(in, NULL, NULL, NULL);
	fclose(in);
	assert_non_null(key);
	assert_true(EVP_PKEY_is_a(key, "EC"));
	char group[64];
	assert_int_equal(EVP_PKEY_get_group_name(key, group, sizeof group, NULL), 1);
	assert_string_equal(group, "prime256v1");
	assert_int_equal(X509_check_private_key(leaf, key), 1);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
}

static void check_credentials(const struct fixture *f)
{
	static const struct {
		const char *name, *prefix;
	} want[] = {
		{"vault_publishable_key", "pk_test_"},
		{"vault_secret_key", "sk_test_"},
		{"platform_secret_key", "sk_test_"},
	};
	json_error_t jerr;
	assert_int_equal(mode_of(in_dir(f, "credentials.json")), 0600);
	json_t *root = json_load_file(in_dir(f, "credentials.json"), JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		fail_msg("credentials.json: %s", jerr.text);
	assert_int_equal(json_object_size(root), 3);
	const char *seen[3];
	for (size_t i = 0; i < 3; i++) {
		const char *v = json_string_value(json_object_get(root, want[i].name));
		assert_non_null(v);
		assert_int_equal(strncmp(v, want[i].prefix, strlen(want[i].prefix)), 0);
		/* At least 256 bits: 43 base62 characters after the prefix. */
		const char *rnd = v + strlen(want[i].prefix);
		assert_true(strlen(rnd) >= 43);
		assert_int_equal(strspn(rnd, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					     "abcdefghijklmnopqrstuvwxyz"),
				 strlen(rnd));
		seen[i] = rnd;
	}
	assert_string_not_equal(seen[1], seen[2]);
	json_decref(root);
}

/* The DKIM key: 0400 PEM RSA-2048 where [email] dkim_key_file says, and
 * dkim-dns.txt publishing exactly its public half under the configured
 * selector and domain. */
static void check_dkim(const struct fixture *f, const struct sr_config *cfg)
{
	char *path = sr_config_path(cfg, "email", "dkim_key_file");
	assert_non_null(path);
	assert_int_equal(mode_of(path), 0400);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	EVP_PKEY *key = PEM_read_PrivateKey(in, NULL, NULL, NULL);
	fclose(in);
	free(path);
	assert_non_null(key);
	assert_true(EVP_PKEY_is_a(key, "RSA"));
	assert_int_equal(EVP_PKEY_get_bits(key), 2048);

	unsigned char *der = NULL;
	int derlen = i2d_PUBKEY(key, &der);
	assert_true(derlen > 0);
	char b64[1024];
	sodium_bin2base64(b64, sizeof b64, der, (size_t)derlen, sodium_base64_VARIANT_ORIGINAL);
	OPENSSL_free(der);
	EVP_PKEY_free(key);
	char want[1400], got[1400];
	snprintf(want, sizeof want, "%s._domainkey.%s TXT \"v=DKIM1; k=rsa; p=%s\"\n",
		 sr_config_str(cfg, "email", "dkim_selector"),
		 sr_config_str(cfg, "email", "dkim_domain"), b64);
	assert_int_equal(mode_of(in_dir(f, "dkim-dns.txt")), 0644);
	FILE *txt = fopen(in_dir(f, "dkim-dns.txt"), "r");
	assert_non_null(txt);
	memset(got, 0, sizeof got);
	assert_true(fread(got, 1, sizeof got - 1, txt) > 0);
	fclose(txt);
	assert_string_equal(got, want);
}

static void creates_an_instance(void **state)
{
	struct fixture *f = *state;
	init_ok(f, false);
	assert_int_equal(mode_of(f->dir), 0700);
	assert_int_equal(mode_of(in_dir(f, "audit")), 0700);
	assert_int_equal(mode_of(in_dir(f, "keys")), 0700);
	assert_int_equal(mode_of(in_dir(f, "tls")), 0700);

	/* The CA. */
	assert_int_equal(mode_of(in_dir(f, "tls/ca.key")), 0400);
	X509 *ca = read_cert(in_dir(f, "tls/ca.crt"));
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true((X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) != 0);
	assert_non_null(X509_get0_subject_key_id(ca));
	char cn[128];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName, cn,
					      sizeof cn) > 0);
	assert_int_equal(strncmp(cn, "strongroom development CA ", 26), 0);
	assert_true(strlen(cn) > 26);
	check_validity_days(ca, 3640, 3650);
	assert_true(serial_bits(ca) > 120);
	FILE *in = fopen(in_dir(f, "tls/ca.key"), "r");
	assert_non_null(in);
	EVP_PKEY *ca_key = PEM_read_PrivateKey(in, NULL, NULL, NULL);
	fclose(in);
	assert_non_null(ca_key);
	assert_int_equal(X509_check_private_key(ca, ca_key), 1);
	EVP_PKEY_free(ca_key);

	check_server(f, ca, "platform");
	check_server(f, ca, "vault");
	X509_free(ca);

	/* The raw keys: where the config says, 0400, 32 bytes, readable by the
	 * reader the services use. */
	char why[512];
	struct sr_config *cfg = NULL;
	assert_int_equal(sr_config_load(in_dir(f, "strongroom.conf"), &cfg, why, sizeof why), 0);
	assert_true(sr_config_is_development(cfg));
	for (size_t i = 0; i < sr_init_nkeyfiles; i++) {
		const struct sr_init_keyfile *k = &sr_init_keyfiles[i];
		char *path = sr_config_path(cfg, k->section, k->key);
		unsigned char *key = NULL;
		assert_non_null(path);
		assert_int_equal(mode_of(path), 0400);
		assert_int_equal(sr_keyfile_read(path, k->len, &key), 0);
		assert_false(sodium_is_zero(key, k->len));
		sodium_free(key);
		free(path);
	}
	static const char *const tls[][2] = {
		{"platform", "tls_cert"},
		{"platform", "tls_key"},
		{"vault", "tls_cert"},
		{"vault", "tls_key"},
	};
	for (size_t i = 0; i < 4; i++) {
		char *path = sr_config_path(cfg, tls[i][0], tls[i][1]);
		assert_int_equal(access(path, R_OK), 0);
		free(path);
	}
	check_dkim(f, cfg);
	/* The password pepper, as the platform will load it. */
	assert_int_equal(mode_of(in_dir(f, "keys/password-pepper.key")), 0400);
	struct sr_password_pepper pepper;
	assert_int_equal(sr_password_pepper_load(cfg, &pepper), 0);
	assert_int_equal(pepper.id, 1);
	assert_false(sodium_is_zero(pepper.key, SR_PASSWORD_PEPPER_BYTES));
	sr_password_pepper_free(&pepper);
	sr_config_free(cfg);
	check_credentials(f);
}

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *in = fopen(path, "rb");
	assert_non_null(in);
	memset(buf, 0, len);
	assert_true(fread(buf, 1, len - 1, in) > 0);
	fclose(in);
}

static void refuses_existing_without_force(void **state)
{
	struct fixture *f = *state;
	char before[4096], after[4096];
	init_ok(f, false);
	read_file(in_dir(f, "credentials.json"), before, sizeof before);
	assert_int_equal(sr_init_instance(f->dir, false, f->err, sizeof f->err), SR_E_EXISTS);
	assert_non_null(strstr(f->err, "--force"));
	read_file(in_dir(f, "credentials.json"), after, sizeof after);
	assert_string_equal(before, after);

	/* The command says so and exits 1. */
	char *argv[] = {"init", "--dir", f->dir, NULL};
	assert_int_equal(sr_cmd_init(3, argv), 1);
}

static void force_replaces_everything(void **state)
{
	struct fixture *f = *state;
	static const char *const files[] = {
		"tls/ca.crt",       "tls/ca.key",         "tls/platform.crt",
		"tls/vault.key",    "keys/vault-kek.key", "keys/platform-audit.key",
		"credentials.json",
	};
	enum { N = sizeof files / sizeof files[0] };
	char(*before)[4096] = calloc(N, sizeof *before);
	char after[4096];
	assert_non_null(before);
	init_ok(f, false);
	for (size_t i = 0; i < N; i++)
		read_file(in_dir(f, files[i]), before[i], sizeof before[i]);
	char *argv[] = {"init", "--dir", f->dir, "--force", NULL};
	assert_int_equal(sr_cmd_init(4, argv), 0);
	for (size_t i = 0; i < N; i++) {
		read_file(in_dir(f, files[i]), after, sizeof after);
		/* banned-ok: test comparing files, not secrets in memory */
		if (memcmp(before[i], after, sizeof after) == 0)
			fail_msg("%s unchanged by --force", files[i]);
	}
	free(before);
	/* Still a whole, consistent instance. */
	X509 *ca = read_cert(in_dir(f, "tls/ca.crt"));
	check_server(f, ca, "vault");
	X509_free(ca);
	assert_int_equal(mode_of(in_dir(f, "tls/ca.key")), 0400);
	assert_int_equal(mode_of(in_dir(f, "keys/vault-kek.key")), 0400);
}

/* --force never regenerates keys under a live database: the vault's card
 * data and both audit logs depend on them. */
static void force_refused_while_a_database_exists(void **state)
{
	struct fixture *f = *state;
	init_ok(f, false);
	char before[4096], after[4096];
	read_file(in_dir(f, "keys/vault-kek.key"), before, sizeof before);
	FILE *db = fopen(in_dir(f, "vault.db"), "w");
	assert_non_null(db);
	fclose(db);
	assert_int_equal(sr_init_instance(f->dir, true, f->err, sizeof f->err), SR_E_EXISTS);
	assert_non_null(strstr(f->err, "vault.db"));
	read_file(in_dir(f, "keys/vault-kek.key"), after, sizeof after);
	/* banned-ok: test comparing files, not secrets in memory */
	assert_int_equal(memcmp(before, after, sizeof after), 0);
	assert_int_equal(unlink(in_dir(f, "vault.db")), 0);
	assert_int_equal(sr_init_instance(f->dir, true, f->err, sizeof f->err), 0);
}

static void command_line(void **state)
{
	struct fixture *f = *state;
	char *help[] = {"init", "--help", NULL};
	char *none[] = {"init", NULL};
	char *extra[] = {"init", "--dir", f->dir, "stray", NULL};
	char *bogus[] = {"init", "--dri", f->dir, NULL};
	assert_int_equal(sr_cmd_init(2, help), 0);
	assert_int_equal(sr_cmd_init(1, none), 2);
	assert_int_equal(sr_cmd_init(4, extra), 2);
	assert_int_equal(sr_cmd_init(3, bogus), 2);
	assert_int_equal(access(f->dir, F_OK), -1); /* nothing created */
	char *ok[] = {"init", "-d", f->dir, NULL};
	assert_int_equal(sr_cmd_init(3, ok), 0);
	assert_int_equal(access(in_dir(f, "strongroom.conf"), F_OK), 0);
}

static void x509_refuses_bad_arguments(void **state)
{
	(void)state;
	EVP_PKEY *key = NULL;
	X509 *x = (X509 *)state; /* must be cleared */
	assert_int_equal(sr_x509_keygen_p256(&key), 0);
	assert_int_equal(sr_x509_make_ca(key, "", 10, &x), SR_E_INVAL);
	assert_null(x);
	assert_int_equal(sr_x509_make_ca(key, "ca", 0, &x), SR_E_INVAL);
	assert_int_equal(sr_x509_make_server(key, "s", SR_X509_DEV_SAN, 10, NULL, key, &x),
			 SR_E_INVAL);
	assert_int_equal(sr_x509_make_ca(key, "ca", 1, &x), 0);
	X509 *leaf = NULL;
	/* A SAN OpenSSL cannot parse is a crypto error, not a crash. */
	assert_int_equal(sr_x509_make_server(key, "s", "NOPE:x", 10, x, key, &leaf), SR_E_CRYPTO);
	assert_null(leaf);
	X509_free(x);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(creates_an_instance, setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_existing_without_force, setup, teardown),
		cmocka_unit_test_setup_teardown(force_replaces_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(force_refused_while_a_database_exists, setup,
						teardown),
		cmocka_unit_test_setup_teardown(command_line, setup, teardown),
		cmocka_unit_test(x509_refuses_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
