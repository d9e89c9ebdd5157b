/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API key verification for the services. Who holds what: the credentials
 * file holds the keys in clear (0600, written by init, read once at start);
 * this module keeps only SHA-256 digests in guarded memory. A presented key
 * is hashed and compared with sodium_memcmp against every stored digest, so
 * the time taken does not depend on which key, or how much of one, matched.
 */
#include "crypto/apikey.h"
#include "base/limits.h"
#include "base/mem.h"

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEYS     4
#define KEY_TEXT_MAX 128

struct stored_key {
	enum sr_apikey_kind kind;
	unsigned char digest[crypto_hash_sha256_BYTES];
};

struct sr_apikeys {
	unsigned n;
	struct stored_key *keys; /* sodium_malloc'd array of MAX_KEYS */
};

static void key_id(const unsigned char digest[crypto_hash_sha256_BYTES], char id[SR_APIKEY_ID_LEN])
{
	char hex[2 * 6 + 1];
	sodium_bin2hex(hex, sizeof hex, digest, 6);
	snprintf(id, SR_APIKEY_ID_LEN, "key_%s", hex);
}

static bool well_formed(const char *k, size_t len)
{
	if (len < 16 || len > KEY_TEXT_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

static int add_key(struct sr_apikeys *ks, json_t *root, const char *field, enum sr_apikey_kind kind,
		   const char *prefix, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, field);
	if (v == NULL)
		return 0;
	const char *text = json_string_value(v);
	size_t len = text ? json_string_length(v) : 0;
	if (text == NULL || !well_formed(text, len) || strncmp(text, prefix, strlen(prefix)) != 0) {
		snprintf(err, errlen, "%s must be a string starting with %s", field, prefix);
		return SR_E_CONFIG;
	}
	if (ks->n >= MAX_KEYS)
		return SR_E_LIMIT;
	ks->keys[ks->n].kind = kind;
	crypto_hash_sha256(ks->keys[ks->n].digest, (const unsigned char *)text, len);
	ks->n++;
	return 0;
}

int sr_apikeys_load(const char *path, const char *service, struct sr_apikeys **out, char *err,
		    size_t errlen)
{
	int rc = 0, fd = -1;
	char *buf = NULL;
	json_t *root = NULL;
	struct sr_apikeys *ks = NULL;
	struct stat st;
	ssize_t got = 0;

	*out = NULL;
	if (sodium_init() < 0)
		return SR_E_CRYPTO;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: cannot read", path);
		rc = SR_E_IO;
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: readable by group or others (chmod 0600)", path);
		rc = SR_E_CONFIG;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > SR_KEY_FILE_MAX) {
		snprintf(err, errlen, "%s: empty or larger than %d bytes", path, SR_KEY_FILE_MAX);
		rc = SR_E_LIMIT;
		goto out;
	}
	buf = sodium_malloc((size_t)st.st_size);
	if (buf == NULL)
		abort();
	while (got < st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)(st.st_size - got));
		if (r <= 0) {
			snprintf(err, errlen, "%s: cannot read", path);
			rc = SR_E_IO;
			goto out;
		}
		got += r;
	}
	json_error_t jerr;
	root = json_loadb(buf, (size_t)got, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		snprintf(err, errlen, "%s: not a JSON object", path);
		rc = SR_E_CONFIG;
		goto out;
	}
	ks = sr_xcalloc(1, sizeof *ks);
	ks->keys = sodium_malloc(MAX_KEYS * sizeof *ks->keys);
	if (ks->keys == NULL)
		abort();
	if (strcmp(service, "platform") == 0) {
		rc = add_key(ks, root, "platform_secret_key", SR_APIKEY_SECRET, "sk_", err, errlen);
	} else {
		rc = add_key(ks, root, "vault_secret_key", SR_APIKEY_SECRET, "sk_", err, errlen);
		if (rc == 0)
			rc = add_key(ks, root, "vault_publishable_key", SR_APIKEY_PUBLISHABLE,
				     "pk_", err, errlen);
	}
	if (rc == 0 && ks->n == 0) {
		snprintf(err, errlen, "%s: no API key for the %s", path, service);
		rc = SR_E_CONFIG;
	}
	if (rc != 0)
		goto out;
	*out = ks;
	ks = NULL;
out:
	/* jansson copied the key strings into its own heap: wipe them before
	 * giving the memory back. */
	if (root != NULL) {
		const char *k;
		json_t *v;
		json_object_foreach(root, k, v)
		{
			if (json_is_string(v))
				sr_wipe((void *)json_string_value(v), json_string_length(v));
		}
		json_decref(root);
	}
	if (buf != NULL)
		sodium_free(buf);
	if (fd >= 0)
		close(fd);
	sr_apikeys_free(ks);
	return rc;
}

void sr_apikeys_free(struct sr_apikeys *ks)
{
	if (ks == NULL)
		return;
	sodium_free(ks->keys);
	free(ks);
}

int sr_apikeys_check(const struct sr_apikeys *ks, const char *authorization,
		     enum sr_apikey_kind want, char id[SR_APIKEY_ID_LEN])
{
	id[0] = '\0';
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return SR_E_AUTH;
	const char *key = authorization + 7;
	size_t len = strlen(key);
	if (!well_formed(key, len))
		return SR_E_AUTH;
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(digest, (const unsigned char *)key, len);
	key_id(digest, id);
	int match = 0;
	for (unsigned i = 0; i < ks->n; i++) {
		int same = sodium_memcmp(digest, ks->keys[i].digest, sizeof digest) == 0;
		match |= same & (ks->keys[i].kind == want);
	}
	sodium_memzero(digest, sizeof digest);
	return match ? 0 : SR_E_AUTH;
}
