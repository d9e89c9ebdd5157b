/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom init --dir DIR [--force]`: a development instance in one
 * folder, ready for `strongroom platform` and `strongroom vault`. This command
 * creates every secret the two services use (TLS keys, audit keys, the vault
 * KEK, API keys), writes each straight to its own file with owner-only
 * permissions and wipes it from memory; it never prints one. The folder is
 * owner-only (0700) because the platform and the vault of a development
 * instance share it; production gives each service its own folder and keys.
 */
#include "cmd/init.h"
#include "base/config.h"
#include "base/mem.h"
#include "cmd/cmd.h"
#include "crypto/dkimkey.h"
#include "crypto/keyfile.h"
#include "crypto/x509.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONF_NAME        "strongroom.conf"
#define CREDENTIALS_NAME "credentials.json"
#define DKIM_DNS_NAME    "dkim-dns.txt"
/* 43 base62 characters carry 43 * log2(62) = 256.03 bits, as much as the 32
 * random bytes they stand for, in a form that survives copy and paste. */
#define API_KEY_CHARS 43

const struct sr_init_keyfile sr_init_keyfiles[] = {
	{"platform", "audit_key_file", "keys/platform-audit.key", 32},
	{"platform", "audit_signing_key_file", "keys/platform-audit-sign.key", 32},
	{"platform", "personal_data_kek_file", "keys/platform-pii-kek.key", 32},
	{"platform", "lookup_key_file", "keys/platform-lookup.key", 32},
	{"vault", "kek_file", "keys/vault-kek.key", 32},
	{"vault", "audit_key_file", "keys/vault-audit.key", 32},
	{"vault", "audit_signing_key_file", "keys/vault-audit-sign.key", 32},
	{"passwords", "pepper_file", "keys/password-pepper.key", 32},
	{"platform", "webhook_secret_file", "keys/platform-webhook.key", 32},
	{"vault", "webhook_secret_file", "keys/vault-webhook.key", 32},
};
const size_t sr_init_nkeyfiles = sizeof sr_init_keyfiles / sizeof sr_init_keyfiles[0];

/* The one override a development instance needs; every other default is
 * already a path relative to the config file's folder. */
static const char *const conf_overrides[] = {"instance", "environment", "development", NULL};

/* mkdir -p with 0700 for every folder it creates; existing ones are kept
 * as they are. */
static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	int rc = 0;
	char *path = sr_xstrdup(dir);
	size_t len = strlen(path);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		struct stat st;
		if (mkdir(path, 0700) != 0 &&
		    (errno != EEXIST || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))) {
			snprintf(err, errlen, "%s: cannot create folder: %s", path,
				 errno == EEXIST ? "exists and is not a folder" : strerror(errno));
			rc = SR_E_IO;
			goto out;
		}
		path[i] = saved;
	}
out:
	free(path);
	return rc;
}

static int tls_files(const char *dir, char *err, size_t errlen)
{
	int rc;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *leaf = NULL;
	char *path = NULL;
	const char *what = "development CA";
	unsigned char suffix_raw[4];
	char suffix[2 * sizeof suffix_raw + 1];

	/* A random suffix tells apart the CAs of several instances in a trust
	 * store, and makes clear which one to remove. */
	randombytes_buf(suffix_raw, sizeof suffix_raw);
	sodium_bin2hex(suffix, sizeof suffix, suffix_raw, sizeof suffix_raw);
	char *cn = sr_xasprintf("strongroom development CA %s", suffix);
	if ((rc = sr_x509_keygen_p256(&ca_key)) != 0 ||
	    (rc = sr_x509_make_ca(ca_key, cn, SR_X509_CA_DAYS, &ca)) != 0)
		goto out;
	path = sr_xasprintf("%s/tls/ca.key", dir);
	if ((rc = sr_x509_write_key(path, ca_key, 0400)) != 0)
		goto out;
	free(path);
	path = sr_xasprintf("%s/tls/ca.crt", dir);
	if ((rc = sr_x509_write_certs(path, &ca, 1, 0644)) != 0)
		goto out;

	static const char *const services[] = {"platform", "vault"};
	for (size_t i = 0; i < 2; i++) {
		what = services[i];
		if ((rc = sr_x509_keygen_p256(&key)) != 0 ||
		    (rc = sr_x509_make_server(key, "localhost", SR_X509_DEV_SAN,
					      SR_X509_SERVER_DAYS, ca, ca_key, &leaf)) != 0)
			goto out;
		free(path);
		path = sr_xasprintf("%s/tls/%s.key", dir, services[i]);
		if ((rc = sr_x509_write_key(path, key, 0600)) != 0)
			goto out;
		/* Leaf then CA: a client that trusts ca.crt can verify, and one
		 * that pins the chain sees all of it. */
		X509 *chain[2] = {leaf, ca};
		free(path);
		path = sr_xasprintf("%s/tls/%s.crt", dir, services[i]);
		if ((rc = sr_x509_write_certs(path, chain, 2, 0644)) != 0)
			goto out;
		EVP_PKEY_free(key);
		key = NULL;
		X509_free(leaf);
		leaf = NULL;
	}
out:
	if (rc == SR_E_IO)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	else if (rc != 0)
		snprintf(err, errlen, "cannot create the %s certificate: %s", what,
			 sr_strerror(rc));
	/* EVP_PKEY_free clears the EC private scalar (BN_clear_free). */
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	X509_free(ca);
	X509_free(leaf);
	free(cn);
	free(path);
	return rc;
}

static int key_files(const char *dir, char *err, size_t errlen)
{
	for (size_t i = 0; i < sr_init_nkeyfiles; i++) {
		char *path = sr_xasprintf("%s/%s", dir, sr_init_keyfiles[i].path);
		int rc = sr_keyfile_write_random(path, sr_init_keyfiles[i].len, 0400);
		if (rc != 0)
			snprintf(err, errlen, "%s: cannot write: %s", path,
				 rc == SR_E_IO ? strerror(errno) : sr_strerror(rc));
		free(path);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The DKIM signing key, and the TXT record to publish for it. The record
 * names the defaults of [email] dkim_selector and dkim_domain; an operator
 * who changes them publishes under the new names (the key stays valid). */
static int dkim_files(const char *dir, char *err, size_t errlen)
{
	int rc;
	EVP_PKEY *key = NULL;
	char *txt = NULL, *path = NULL, *line = NULL;
	if ((rc = sr_dkimkey_generate_rsa(&key)) != 0 ||
	    (rc = sr_dkimkey_dns_txt(key, "strongroom", "localhost", &txt)) != 0) {
		snprintf(err, errlen, "cannot create the DKIM key: %s", sr_strerror(rc));
		goto out;
	}
	path = sr_xasprintf("%s/keys/dkim-rsa.key", dir);
	if ((rc = sr_x509_write_key(path, key, 0400)) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path,
			 rc == SR_E_IO ? strerror(errno) : sr_strerror(rc));
		goto out;
	}
	free(path);
	path = sr_xasprintf("%s/%s", dir, DKIM_DNS_NAME);
	line = sr_xasprintf("%s\n", txt);
	if ((rc = sr_keyfile_write(path, line, strlen(line), 0644)) != 0)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
out:
	EVP_PKEY_free(key);
	free(txt);
	free(line);
	free(path);
	return rc;
}

static void random_base62(char *out, size_t n)
{
	static const char alphabet[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	/* randombytes_uniform rejects samples itself, so there is no modulo bias. */
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	out[n] = '\0';
}

static int credentials_file(const char *dir, char *err, size_t errlen)
{
	int rc = 0;
	enum { NKEYS = 3, CAP = 512 };
	char *path = sr_xasprintf("%s/%s", dir, CREDENTIALS_NAME);
	/* One sodium_malloc block holds the three keys and the JSON text; it is
	 * wiped by sodium_free on every path. */
	char *mem = sodium_malloc(NKEYS * (API_KEY_CHARS + 1) + CAP);
	if (mem == NULL)
		abort();
	char *keys[NKEYS];
	for (size_t i = 0; i < NKEYS; i++) {
		keys[i] = mem + i * (API_KEY_CHARS + 1);
		random_base62(keys[i], API_KEY_CHARS);
	}
	char *json = mem + NKEYS * (API_KEY_CHARS + 1);
	/* Base62 needs no JSON escaping, so the text can be built directly
	 * rather than through jansson, whose buffers are not wiped. */
	int n = snprintf(json, CAP,
			 "{\n"
			 "  \"vault_publishable_key\": \"pk_test_%s\",\n"
			 "  \"vault_secret_key\": \"sk_test_%s\",\n"
			 "  \"platform_secret_key\": \"sk_test_%s\"\n"
			 "}\n",
			 keys[0], keys[1], keys[2]);
	if (n < 0 || n >= CAP) {
		snprintf(err, errlen, "credentials: buffer too small (bug)");
		rc = SR_E_INTERNAL;
		goto out;
	}
	rc = sr_keyfile_write(path, json, (size_t)n, 0600);
	if (rc != 0)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
out:
	sodium_free(mem);
	free(path);
	return rc;
}

static int conf_file(const char *dir, char *err, size_t errlen)
{
	int rc = 0;
	char *text = NULL;
	size_t len = 0;
	char *path = sr_xasprintf("%s/%s", dir, CONF_NAME);
	struct sr_config *cfg = NULL;
	FILE *mem = open_memstream(&text, &len);
	if (mem == NULL)
		abort();
	rc = sr_config_write_template(mem, conf_overrides);
	if (fclose(mem) != 0 && rc == 0)
		rc = SR_E_IO;
	if (rc != 0) {
		snprintf(err, errlen, "cannot format %s", CONF_NAME);
		goto out;
	}
	if ((rc = sr_keyfile_write(path, text, len, 0600)) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		goto out;
	}
	/* What init writes must be what the services accept. */
	char why[512];
	if ((rc = sr_config_load(path, &cfg, why, sizeof why)) != 0) {
		snprintf(err, errlen, "the written config does not load (bug): %s", why);
		goto out;
	}
	/* A STRONGROOM_* variable in this shell would point a service somewhere
	 * init did not write; say so now rather than at the service's start. */
	for (size_t i = 0; i < sr_init_nkeyfiles; i++) {
		char *want =
			sr_config_path(cfg, sr_init_keyfiles[i].section, sr_init_keyfiles[i].key);
		char *wrote = sr_xasprintf("%s/%s", sr_config_dir(cfg), sr_init_keyfiles[i].path);
		if (want == NULL || strcmp(want, wrote) != 0)
			fprintf(stderr,
				"strongroom init: warning: [%s] %s is overridden from the "
				"environment; the key was written to %s\n",
				sr_init_keyfiles[i].section, sr_init_keyfiles[i].key, wrote);
		free(want);
		free(wrote);
	}
out:
	sr_config_free(cfg);
	free(text);
	free(path);
	return rc;
}

int sr_init_instance(const char *dir, bool force, char *err, size_t errlen)
{
	int rc = 0;
	char *conf = NULL;
	struct stat st;
	if (errlen > 0)
		err[0] = '\0';
	if (dir == NULL || dir[0] == '\0') {
		snprintf(err, errlen, "no folder given");
		return SR_E_INVAL;
	}
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return SR_E_CRYPTO;
	}
	conf = sr_xasprintf("%s/%s", dir, CONF_NAME);
	if (lstat(conf, &st) == 0 && !force) {
		snprintf(err, errlen,
			 "%s exists: %s already holds an instance (use --force to replace its "
			 "keys, certificates and credentials)",
			 conf, dir);
		rc = SR_E_EXISTS;
		goto out;
	}
	/* --force regenerates the keys: never while a database of this instance
	 * exists, whose card data, personal data and audit MACs depend on the
	 * old ones. The operator moves the databases away first, deliberately. */
	static const char *const dbs[] = {"platform.db", "vault.db"};
	for (size_t i = 0; force && i < sizeof dbs / sizeof dbs[0]; i++) {
		char *db = sr_xasprintf("%s/%s", dir, dbs[i]);
		bool exists = lstat(db, &st) == 0;
		if (exists)
			snprintf(
				err, errlen,
				"%s exists and depends on this instance's keys; --force would make "
				"its data unreadable. Move it away first if that is what you want",
				db);
		free(db);
		if (exists) {
			rc = SR_E_EXISTS;
			goto out;
		}
	}
	if ((rc = mkdir_p(dir, err, errlen)) != 0)
		goto out;
	static const char *const subdirs[] = {"tls", "keys", "audit"};
	for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
		char *sub = sr_xasprintf("%s/%s", dir, subdirs[i]);
		rc = mkdir_p(sub, err, errlen);
		free(sub);
		if (rc != 0)
			goto out;
	}
	/* The config goes last: its presence marks a complete instance. */
	if ((rc = tls_files(dir, err, errlen)) != 0 || (rc = key_files(dir, err, errlen)) != 0 ||
	    (rc = dkim_files(dir, err, errlen)) != 0 ||
	    (rc = credentials_file(dir, err, errlen)) != 0 ||
	    (rc = conf_file(dir, err, errlen)) != 0)
		goto out;
out:
	free(conf);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: strongroom init --dir DIR [--force]\n"
		"\n"
		"Creates a development instance in DIR (created 0700 if missing):\n"
		"  strongroom.conf      every setting with its default, environment = development\n"
		"  tls/ca.crt           a development CA for your browser or client to trust\n"
		"  tls/*.crt, *.key     ECDSA P-256 certificates for the platform and the vault\n"
		"                       (localhost, 127.0.0.1, ::1)\n"
		"  keys/*.key           random 32-byte keys: audit MAC and signing keys, vault "
		"KEK,\n"
		"                       password pepper, personal-data KEK, lookup key\n"
		"  keys/dkim-rsa.key    RSA-2048 DKIM signing key (PEM)\n"
		"  dkim-dns.txt         the DKIM TXT record to publish for it\n"
		"  credentials.json     API keys: vault_publishable_key, vault_secret_key,\n"
		"                       platform_secret_key\n"
		"\n"
		"options:\n"
		"  -d, --dir DIR   the instance folder\n"
		"  -f, --force     replace an existing instance's keys, certificates, credentials\n"
		"                  and config; refused while its SQLite databases exist, whose\n"
		"                  data the old keys protect\n"
		"  -h, --help      show this help\n");
}

int sr_cmd_init(int argc, char **argv)
{
	static const struct option options[] = {
		{"dir", required_argument, NULL, 'd'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	bool force = false;
	int c;
	optind = 0; /* glibc: start a fresh scan, whoever parsed before */
	opterr = 0; /* our own messages, named after the subcommand */
	while ((c = getopt_long(argc, argv, "+d:fh", options, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f': force = true; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "strongroom init: %s '%s'\n",
				optopt == 'd' ? "missing folder after" : "unknown option",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "strongroom init: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "strongroom init: --dir is required\n");
		usage(stderr);
		return 2;
	}
	char err[1024];
	int rc = sr_init_instance(dir, force, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "strongroom init: %s\n", err);
		return 1;
	}
	char *abs = realpath(dir, NULL);
	const char *d = abs != NULL ? abs : dir;
	printf("strongroom: wrote a development instance in %s\n"
	       "  config:            %s/" CONF_NAME "\n"
	       "  CA to trust:       %s/tls/ca.crt\n"
	       "  API credentials:   %s/" CREDENTIALS_NAME " (secret: keep it to yourself)\n"
	       "Start it with: make run  (or strongroom platform|vault --config %s/" CONF_NAME
	       ")\n",
	       d, d, d, d, d);
	free(abs);
	return 0;
}
