/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Password hashing with a pepper and Argon2id. The password is first keyed
 * with HMAC-SHA256 under the pepper, and those 32 bytes are what Argon2id
 * hashes. Why a pre-hash rather than appending the pepper or encrypting the
 * hash: the pepper never mixes with attacker-chosen bytes in a way that
 * depends on their length, Argon2id always sees a fixed 32-byte input
 * (however long the password), and without the pepper a stolen database
 * cannot even be guessed against. Who holds what: the pepper lives in
 * sodium_malloc memory owned by the caller; the HMAC output lives in
 * sodium_malloc memory here and is wiped on every path; the password is
 * read, never copied.
 */
#include "crypto/password.h"

#include "base/config.h"
#include "crypto/keyfile.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX_VERSION "sr1$p"
#define MIN_MEMORY_KIB 19456ULL
#define MIN_ITERATIONS 2ULL

/* The concurrency limit: a counting gate (mutex + condition). */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_turn = PTHREAD_COND_INITIALIZER;
static unsigned gate_max, gate_running;

void sr_password_limit_concurrency(unsigned max)
{
	pthread_mutex_lock(&gate_lock);
	gate_max = max;
	pthread_cond_broadcast(&gate_turn);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_enter(void)
{
	pthread_mutex_lock(&gate_lock);
	while (gate_max != 0 && gate_running >= gate_max)
		pthread_cond_wait(&gate_turn, &gate_lock);
	gate_running++;
	pthread_mutex_unlock(&gate_lock);
}

static void gate_leave(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_running--;
	pthread_cond_signal(&gate_turn);
	pthread_mutex_unlock(&gate_lock);
}

void sr_password_params_from_config(const struct sr_config *cfg, struct sr_password_params *out)
{
	out->memory_kib = (unsigned long long)sr_config_int(cfg, "passwords", "memory_kib");
	out->iterations = (unsigned long long)sr_config_int(cfg, "passwords", "iterations");
}

int sr_password_pepper_load(const struct sr_config *cfg, struct sr_password_pepper *pepper)
{
	int rc;
	pepper->id = 0;
	pepper->key = NULL;
	char *path = sr_config_path(cfg, "passwords", "pepper_file");
	if (path == NULL)
		return SR_E_CONFIG;
	if ((rc = sr_keyfile_read(path, SR_PASSWORD_PEPPER_BYTES, &pepper->key)) != 0)
		goto out;
	pepper->id = 1;
out:
	free(path);
	return rc;
}

void sr_password_pepper_free(struct sr_password_pepper *pepper)
{
	if (pepper == NULL)
		return;
	sodium_free(pepper->key); /* wipes */
	pepper->key = NULL;
	pepper->id = 0;
}

static bool params_ok(const struct sr_password_params *p)
{
	return p->memory_kib >= MIN_MEMORY_KIB && p->iterations >= MIN_ITERATIONS &&
	       p->memory_kib <= SIZE_MAX / 1024 &&
	       p->memory_kib * 1024 <= crypto_pwhash_MEMLIMIT_MAX &&
	       p->iterations <= crypto_pwhash_OPSLIMIT_MAX;
}

/* The 32-byte Argon2id input, in fresh sodium_malloc memory, or NULL. */
static unsigned char *peppered(const struct sr_password_pepper *pepper, const char *password,
			       size_t len)
{
	unsigned char *mac = sodium_malloc(crypto_auth_hmacsha256_BYTES);
	if (mac == NULL)
		return NULL;
	crypto_auth_hmacsha256(mac, (const unsigned char *)password, len, pepper->key);
	return mac;
}

/* Parses "sr1$p<id>$" at the start of encoded; *rest points after it. */
static int parse_prefix(const char *encoded, unsigned *id, const char **rest)
{
	size_t plen = sizeof PREFIX_VERSION - 1;
	if (strncmp(encoded, PREFIX_VERSION, plen) != 0)
		return SR_E_INVAL;
	const char *p = encoded + plen;
	unsigned long v = 0;
	size_t digits = 0;
	while (*p >= '0' && *p <= '9' && digits < 10) {
		v = v * 10 + (unsigned long)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || *p != '$' || v == 0 || v > 0xffffffffUL)
		return SR_E_INVAL;
	*id = (unsigned)v;
	*rest = p + 1;
	if (strncmp(*rest, crypto_pwhash_argon2id_STRPREFIX,
		    sizeof crypto_pwhash_argon2id_STRPREFIX - 1) != 0)
		return SR_E_INVAL;
	return 0;
}

int sr_password_hash(const struct sr_password_params *params,
		     const struct sr_password_pepper *pepper, const char *password, size_t len,
		     char *out, size_t outlen)
{
	int rc = 0;
	unsigned char *mac = NULL;
	char str[crypto_pwhash_STRBYTES];

	if (out != NULL && outlen > 0)
		memset(out, 0, outlen);
	if (params == NULL || pepper == NULL || pepper->key == NULL || pepper->id == 0 ||
	    (password == NULL && len > 0) || out == NULL || !params_ok(params))
		return SR_E_INVAL;
	if (len > SR_PASSWORD_INPUT_MAX || outlen < SR_PASSWORD_HASH_MAX)
		return SR_E_LIMIT;
	if ((mac = peppered(pepper, password, len)) == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	gate_enter();
	int hashed = crypto_pwhash_str_alg(str, (const char *)mac, crypto_auth_hmacsha256_BYTES,
					   params->iterations, (size_t)params->memory_kib * 1024,
					   crypto_pwhash_ALG_ARGON2ID13);
	gate_leave();
	if (hashed != 0) {
		rc = SR_E_NOMEM; /* libsodium's only runtime failure is allocation */
		goto out;
	}
	int n = snprintf(out, outlen, PREFIX_VERSION "%u$%s", pepper->id, str);
	if (n < 0 || (size_t)n >= outlen) {
		memset(out, 0, outlen);
		rc = SR_E_LIMIT;
	}
out:
	sodium_free(mac);
	return rc;
}

int sr_password_verify(const struct sr_password_pepper *peppers, size_t n, const char *encoded,
		       const char *password, size_t len)
{
	int rc;
	unsigned id;
	const char *str;
	unsigned char *mac = NULL;
	const struct sr_password_pepper *pepper = NULL;

	if (peppers == NULL || encoded == NULL || (password == NULL && len > 0))
		return SR_E_INVAL;
	if (len > SR_PASSWORD_INPUT_MAX)
		return SR_E_LIMIT;
	if (strnlen(encoded, SR_PASSWORD_HASH_MAX) >= SR_PASSWORD_HASH_MAX)
		return SR_E_INVAL;
	if ((rc = parse_prefix(encoded, &id, &str)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (peppers[i].id == id && peppers[i].key != NULL)
			pepper = &peppers[i];
	if (pepper == NULL)
		return SR_E_NOTFOUND;
	if ((mac = peppered(pepper, password, len)) == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	gate_enter();
	rc = crypto_pwhash_str_verify(str, (const char *)mac, crypto_auth_hmacsha256_BYTES) == 0
		     ? 0
		     : SR_E_AUTH;
	gate_leave();
out:
	sodium_free(mac);
	return rc;
}

bool sr_password_needs_rehash(const struct sr_password_params *params, unsigned current_pepper_id,
			      const char *encoded)
{
	unsigned id;
	const char *str;
	if (params == NULL || encoded == NULL || !params_ok(params) ||
	    strnlen(encoded, SR_PASSWORD_HASH_MAX) >= SR_PASSWORD_HASH_MAX ||
	    parse_prefix(encoded, &id, &str) != 0 || id != current_pepper_id)
		return true;
	return crypto_pwhash_str_needs_rehash(str, params->iterations,
					      (size_t)params->memory_kib * 1024) != 0;
}
