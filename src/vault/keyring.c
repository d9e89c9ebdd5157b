/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The vault key ring (see keyring.h and docs/keys.md). Who holds what: the
 * KEK is handed in by the caller and copied into sodium_malloc memory; data
 * keys are unwrapped into sodium_malloc memory; RSA private keys are held as
 * OpenSSL EVP_PKEYs (their DER form passes through sodium_malloc only). The
 * database sees only envelope blobs (crypto/envelope) and HMAC check values.
 * Nothing secret is logged; errors name ids and versions only.
 *
 * Every change takes the lock row (vault_keyring, id 1) with SELECT ... FOR
 * UPDATE inside a write transaction (on SQLite the write transaction itself
 * is the lock), so instances that open, rotate or re-wrap at the same time
 * run one after another, and the partial unique indexes make "one active
 * key" hold even against a bug here.
 */
#include "vault/keyring.h"
#include "base/log.h"
#include "base/mem.h"
#include "crypto/envelope.h"
#include "lib/base64url.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEK_CHECK_LABEL "strongroom vault kek check v1"
#define RSA_BITS        2048

enum rsa_state { RSA_ACTIVE, RSA_RETIRING, RSA_RETIRED };

struct data_key {
	char id[SR_KEYRING_ID_MAX + 1];
	int64_t version;
	bool active;
	unsigned char *key; /* sodium_malloc, SR_ENVELOPE_KEY_LEN */
};

struct rsa_key {
	char kid[SR_KEYRING_ID_MAX + 1];
	enum rsa_state state;
	time_t retire_after; /* for RSA_RETIRING */
	EVP_PKEY *pkey;
};

struct sr_keyring {
	struct sr_store *st;
	pthread_rwlock_t lock; /* guards everything below */
	unsigned char *kek;    /* sodium_malloc */
	int64_t kek_version;
	unsigned char *next_kek; /* during a re-wrap: the KEK being moved to */
	int64_t next_version;
	struct data_key *dks;
	size_t ndk;
	struct rsa_key *rks;
	size_t nrk;
	time_t last_reload;
};

/* ---- small helpers ---------------------------------------------------- */

static void fmt_time(time_t t, char out[32])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static time_t parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return 0;
	return timegm(&tm);
}

static void new_id(const char *prefix, char out[SR_KEYRING_ID_MAX + 1])
{
	unsigned char rnd[12];
	char hex[sizeof rnd * 2 + 1];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(out, SR_KEYRING_ID_MAX + 1, "%s%s", prefix, hex);
}

static void kek_name(int64_t version, char out[32])
{
	snprintf(out, 32, "kek-%lld", (long long)version);
}

static void kek_check(const unsigned char *kek, unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state s;
	crypto_auth_hmacsha256_init(&s, kek, SR_KEYRING_KEK_LEN);
	crypto_auth_hmacsha256_update(&s, (const unsigned char *)KEK_CHECK_LABEL,
				      sizeof KEK_CHECK_LABEL - 1);
	crypto_auth_hmacsha256_final(&s, out);
	sodium_memzero(&s, sizeof s);
}

static bool kek_matches(const unsigned char *kek, const void *stored, size_t len)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES];
	kek_check(kek, want);
	bool ok = len == sizeof want && sodium_memcmp(want, stored, sizeof want) == 0;
	sodium_memzero(want, sizeof want);
	return ok;
}

static unsigned char *secret_copy(const unsigned char *p, size_t n)
{
	unsigned char *s = sodium_malloc(n);
	if (s == NULL)
		abort(); /* the core fails closed on out-of-memory */
	memcpy(s, p, n);
	return s;
}

/* Wraps a secret under kek (version v) with the key's id as AAD. */
static int wrap(const unsigned char *kek, int64_t v, const char *id, const unsigned char *secret,
		size_t len, unsigned char **blob, size_t *blob_len)
{
	char name[32];
	kek_name(v, name);
	return sr_envelope_seal(kek, name, id, strlen(id), secret, len, blob, blob_len);
}

static int unwrap(const unsigned char *kek, int64_t v, const char *id, const void *blob, size_t len,
		  unsigned char **secret, size_t *secret_len)
{
	char name[32];
	kek_name(v, name);
	return sr_envelope_open(kek, name, blob, len, id, strlen(id), secret, secret_len);
}

/* Runs a statement that returns no rows; binds nothing when nparams is 0. */
static int exec1(struct sr_conn *c, const char *sql)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

static int query_i64(struct sr_conn *c, const char *sql, int64_t bind1, int nbind, int64_t *v)
{
	struct sr_stmt *s = NULL;
	*v = 0;
	int rc = sr_stmt_prepare(c, sql, &s);
	if (rc == 0 && nbind > 0)
		rc = sr_stmt_bind_i64(s, 1, bind1);
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 1) {
			*v = sr_stmt_col_i64(s, 0);
			rc = 0;
		} else if (rc == 0) {
			rc = SR_E_NOTFOUND;
		}
	}
	sr_stmt_done(s);
	return rc;
}

/* Locks the key ring row; *cur and *next get the KEK versions (next 0 when no
 * re-wrap runs). */
static int lock_ring(struct sr_conn *c, int64_t *cur, int64_t *next)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(
		c, "SELECT kek_version, rewrap_to FROM vault_keyring WHERE id = 1 FOR UPDATE", &s);
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		*cur = sr_stmt_col_i64(s, 0);
		*next = sr_stmt_col_is_null(s, 1) ? 0 : sr_stmt_col_i64(s, 1);
		rc = 0;
	} else if (rc == 0) {
		rc = SR_E_SCHEMA; /* the migration inserts the row */
	}
	sr_stmt_done(s);
	return rc;
}

/* Does kek match the stored check value of KEK version v? */
static int check_kek(struct sr_conn *c, int64_t v, const unsigned char *kek, bool *ok)
{
	struct sr_stmt *s = NULL;
	*ok = false;
	int rc = sr_stmt_prepare(c, "SELECT check_value FROM vault_keks WHERE version = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, v);
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc == 1) {
		size_t len = 0;
		const void *p = sr_stmt_col_blob(s, 0, &len);
		*ok = kek_matches(kek, p, len);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

static int insert_kek(struct sr_conn *c, int64_t v, const unsigned char *kek)
{
	unsigned char check[crypto_auth_hmacsha256_BYTES];
	char now[32];
	struct sr_stmt *s = NULL;
	fmt_time(time(NULL), now);
	kek_check(kek, check);
	int rc = sr_stmt_prepare(
		c, "INSERT INTO vault_keks (version, check_value, created_at) VALUES ($1, $2, $3)",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, v);
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 2, check, sizeof check);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	sodium_memzero(check, sizeof check);
	return rc < 0 ? rc : 0;
}

/* Inserts a fresh active data key wrapped under kek (version v). */
static int insert_data_key(struct sr_conn *c, const unsigned char *kek, int64_t v, char *id_out)
{
	unsigned char *key = sodium_malloc(SR_ENVELOPE_KEY_LEN), *blob = NULL;
	size_t blob_len = 0;
	int64_t version = 0;
	struct sr_stmt *s = NULL;
	char id[SR_KEYRING_ID_MAX + 1], now[32];
	int rc = SR_E_NOMEM;

	if (key == NULL)
		goto out;
	randombytes_buf(key, SR_ENVELOPE_KEY_LEN);
	new_id("dk_", id);
	fmt_time(time(NULL), now);
	rc = wrap(kek, v, id, key, SR_ENVELOPE_KEY_LEN, &blob, &blob_len);
	if (rc == 0)
		rc = query_i64(c, "SELECT COALESCE(MAX(version), 0) FROM vault_data_keys", 0, 0,
			       &version);
	if (rc == 0)
		rc = sr_stmt_prepare(c,
				     "INSERT INTO vault_data_keys (id, version, wrapped_key, "
				     "kek_version, state, created_at) VALUES ($1, $2, $3, $4, "
				     "'active', $5)",
				     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, id, strlen(id));
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, version + 1);
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 3, blob, blob_len);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 4, v);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 5, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc >= 0) {
		rc = 0;
		if (id_out != NULL)
			memcpy(id_out, id, sizeof id);
	}
out:
	sr_stmt_done(s);
	sodium_free(key);
	free(blob);
	return rc;
}

static EVP_PKEY *generate_rsa(void)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, RSA_BITS) != 1 ||
	    EVP_PKEY_generate(ctx, &pkey) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* PKCS#8 DER of pkey into sodium_malloc memory. */
static int pkcs8_der(EVP_PKEY *pkey, unsigned char **der, size_t *der_len)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pkey);
	int rc = SR_E_CRYPTO;
	*der = NULL;
	*der_len = 0;
	if (p8 == NULL)
		goto out;
	int n = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL);
	if (n <= 0)
		goto out;
	unsigned char *buf = sodium_malloc((size_t)n), *p = buf;
	if (buf == NULL) {
		rc = SR_E_NOMEM;
		goto out;
	}
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n) {
		sodium_free(buf);
		goto out;
	}
	*der = buf;
	*der_len = (size_t)n;
	rc = 0;
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rc;
}

/* Inserts pkey as the active RSA key, private half wrapped under kek. */
static int insert_rsa_key(struct sr_conn *c, const unsigned char *kek, int64_t v, EVP_PKEY *pkey,
			  char *kid_out)
{
	unsigned char *der = NULL, *blob = NULL, *spki = NULL;
	size_t der_len = 0, blob_len = 0;
	struct sr_stmt *s = NULL;
	char kid[SR_KEYRING_ID_MAX + 1], now[32];
	int rc;

	new_id("rk_", kid);
	fmt_time(time(NULL), now);
	rc = pkcs8_der(pkey, &der, &der_len);
	if (rc == 0)
		rc = wrap(kek, v, kid, der, der_len, &blob, &blob_len);
	int spki_len = rc == 0 ? i2d_PUBKEY(pkey, &spki) : 0;
	if (rc == 0 && spki_len <= 0)
		rc = SR_E_CRYPTO;
	if (rc == 0)
		rc = sr_stmt_prepare(c,
				     "INSERT INTO vault_rsa_keys (kid, public_key, "
				     "wrapped_private_key, kek_version, state, created_at) VALUES "
				     "($1, $2, $3, $4, 'active', $5)",
				     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, kid, strlen(kid));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 2, spki, (size_t)spki_len);
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 3, blob, blob_len);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 4, v);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 5, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	if (rc >= 0) {
		rc = 0;
		if (kid_out != NULL)
			memcpy(kid_out, kid, sizeof kid);
	}
	sr_stmt_done(s);
	sodium_free(der);
	free(blob);
	OPENSSL_free(spki);
	return rc;
}

/* ---- loading ------------------------------------------------------------ */

struct row {
	char id[SR_KEYRING_ID_MAX + 1];
	int64_t version; /* data key version */
	int64_t kek_version;
	char state[16];
	char retire_after[32];
	unsigned char *blob;
	size_t blob_len;
};

struct snapshot {
	struct row *rows;
	size_t nrows, ndata; /* rows[0..ndata) are data keys, the rest RSA keys */
};

static void snapshot_clear(struct snapshot *sn)
{
	for (size_t i = 0; i < sn->nrows; i++)
		free(sn->rows[i].blob);
	free(sn->rows);
	memset(sn, 0, sizeof *sn);
}

static void copy_text(struct sr_stmt *s, int col, char *out, size_t cap)
{
	size_t len = 0;
	const char *t = sr_stmt_col_text(s, col, &len);
	if (t == NULL || len >= cap)
		len = 0;
	if (len > 0)
		memcpy(out, t, len);
	out[len] = '\0';
}

static int read_rows(struct sr_conn *c, const char *sql, struct snapshot *sn, bool data)
{
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(c, sql, &s);
	while (rc == 0 && (rc = sr_stmt_step(s)) == 1) {
		sn->rows = sr_xreallocarray(sn->rows, sn->nrows + 1, sizeof *sn->rows);
		struct row *r = &sn->rows[sn->nrows++];
		memset(r, 0, sizeof *r);
		copy_text(s, 0, r->id, sizeof r->id);
		r->version = sr_stmt_col_i64(s, 1);
		r->kek_version = sr_stmt_col_i64(s, 2);
		copy_text(s, 3, r->state, sizeof r->state);
		if (!data)
			copy_text(s, 4, r->retire_after, sizeof r->retire_after);
		const void *b = sr_stmt_col_blob(s, 5, &r->blob_len);
		r->blob = sr_xmalloc(r->blob_len + 1);
		if (r->blob_len > 0)
			memcpy(r->blob, b, r->blob_len);
		rc = 0;
	}
	sr_stmt_done(s);
	return rc;
}

static int load_fn(struct sr_conn *c, void *arg)
{
	struct snapshot *sn = arg;
	snapshot_clear(sn); /* a retried transaction starts over */
	int rc = read_rows(c,
			   "SELECT id, version, kek_version, state, '', wrapped_key "
			   "FROM vault_data_keys ORDER BY version",
			   sn, true);
	sn->ndata = sn->nrows;
	if (rc == 0)
		rc = read_rows(c,
			       "SELECT kid, 0, kek_version, state, retire_after, "
			       "wrapped_private_key FROM vault_rsa_keys ORDER BY created_at, kid",
			       sn, false);
	return rc;
}

static void free_keys(struct data_key *dks, size_t ndk, struct rsa_key *rks, size_t nrk)
{
	for (size_t i = 0; i < ndk; i++)
		sodium_free(dks[i].key);
	free(dks);
	for (size_t i = 0; i < nrk; i++)
		EVP_PKEY_free(rks[i].pkey);
	free(rks);
}

/* The KEK that wraps rows of version v, if the ring holds it. */
static const unsigned char *kek_for(const struct sr_keyring *ring, int64_t v)
{
	if (v == ring->kek_version)
		return ring->kek;
	if (ring->next_kek != NULL && v == ring->next_version)
		return ring->next_kek;
	return NULL;
}

/* Reads and unwraps every key; replaces the cache. Caller holds no lock. */
static int reload(struct sr_keyring *ring)
{
	struct snapshot sn = {0};
	struct data_key *dks = NULL;
	struct rsa_key *rks = NULL;
	size_t ndk = 0, nrk = 0, skipped = 0;
	int rc = sr_store_tx(ring->st, SR_TX_READ, load_fn, &sn);
	if (rc != 0)
		goto out;
	pthread_rwlock_rdlock(&ring->lock);
	dks = sr_xcalloc(sn.ndata + 1, sizeof *dks);
	rks = sr_xcalloc(sn.nrows - sn.ndata + 1, sizeof *rks);
	for (size_t i = 0; i < sn.nrows && rc == 0; i++) {
		struct row *r = &sn.rows[i];
		bool data = i < sn.ndata;
		unsigned char *secret = NULL;
		size_t len = 0;
		const unsigned char *kek = kek_for(ring, r->kek_version);
		if (!data && strcmp(r->state, "retired") == 0)
			continue; /* never used again: do not hold it */
		if (kek == NULL) {
			/* Wrapped under a KEK this ring does not hold: another
			 * process re-wrapped it to a new KEK while this one runs.
			 * The key itself is unchanged, so a copy this ring
			 * already unwrapped stays usable (a running vault keeps
			 * serving through an online re-wrap); only a key it has
			 * never seen is skipped until it restarts with the new
			 * KEK. */
			if (data) {
				const struct data_key *old = NULL;
				for (size_t j = 0; j < ring->ndk && old == NULL; j++)
					if (strcmp(ring->dks[j].id, r->id) == 0)
						old = &ring->dks[j];
				if (old != NULL) {
					secret = sodium_malloc(SR_ENVELOPE_KEY_LEN);
					if (secret == NULL)
						abort();
					memcpy(secret, old->key, SR_ENVELOPE_KEY_LEN);
					len = SR_ENVELOPE_KEY_LEN;
				}
			} else {
				const struct rsa_key *old = NULL;
				for (size_t j = 0; j < ring->nrk && old == NULL; j++)
					if (strcmp(ring->rks[j].kid, r->id) == 0)
						old = &ring->rks[j];
				if (old != NULL) {
					struct rsa_key *k = &rks[nrk++];
					memcpy(k->kid, r->id, sizeof k->kid);
					k->state = strcmp(r->state, "active") == 0 ? RSA_ACTIVE
										   : RSA_RETIRING;
					k->retire_after = parse_time(r->retire_after);
					EVP_PKEY_up_ref(old->pkey);
					k->pkey = old->pkey;
					continue;
				}
			}
			if (secret == NULL) {
				skipped++;
				continue;
			}
		} else {
			rc = unwrap(kek, r->kek_version, r->id, r->blob, r->blob_len, &secret,
				    &len);
		}
		if (rc != 0) {
			sr_log(SR_LOG_ERROR, "vault key does not unwrap", SR_LS("key_id", r->id),
			       SR_LI("kek_version", r->kek_version));
			break;
		}
		if (data) {
			if (len != SR_ENVELOPE_KEY_LEN) {
				rc = SR_E_CRYPTO;
			} else {
				struct data_key *d = &dks[ndk++];
				memcpy(d->id, r->id, sizeof d->id);
				d->version = r->version;
				d->active = strcmp(r->state, "active") == 0;
				d->key = secret;
				secret = NULL;
			}
		} else {
			const unsigned char *p = secret;
			EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
			if (pkey == NULL) {
				rc = SR_E_CRYPTO;
			} else {
				struct rsa_key *k = &rks[nrk++];
				memcpy(k->kid, r->id, sizeof k->kid);
				k->state =
					strcmp(r->state, "active") == 0 ? RSA_ACTIVE : RSA_RETIRING;
				k->retire_after = parse_time(r->retire_after);
				k->pkey = pkey;
			}
		}
		sodium_free(secret);
	}
	pthread_rwlock_unlock(&ring->lock);
	if (rc != 0)
		goto out;
	if (skipped > 0)
		sr_log(SR_LOG_WARN,
		       "vault keys wrapped under another KEK version were not loaded; "
		       "finish the KEK re-wrap",
		       SR_LI("keys", skipped));
	pthread_rwlock_wrlock(&ring->lock);
	free_keys(ring->dks, ring->ndk, ring->rks, ring->nrk);
	ring->dks = dks;
	ring->ndk = ndk;
	ring->rks = rks;
	ring->nrk = nrk;
	ring->last_reload = time(NULL);
	pthread_rwlock_unlock(&ring->lock);
	dks = NULL;
	rks = NULL;
	ndk = nrk = 0;
out:
	free_keys(dks, ndk, rks, nrk);
	snapshot_clear(&sn);
	return rc;
}

int sr_keyring_reload(struct sr_keyring *ring)
{
	return reload(ring);
}

/* Reloads on a cache miss, at most once a second (an unknown kid in a
 * request must not turn into a database read per request). */
static bool reload_on_miss(struct sr_keyring *ring)
{
	pthread_rwlock_rdlock(&ring->lock);
	bool due = time(NULL) - ring->last_reload >= 1;
	pthread_rwlock_unlock(&ring->lock);
	return due && reload(ring) == 0;
}

/* ---- open ----------------------------------------------------------------- */

struct open_arg {
	const unsigned char *kek;
	EVP_PKEY *rsa;   /* generated before the transaction if one may be needed */
	int64_t version; /* out: the KEK version kek is */
	int64_t next;    /* out: rewrap_to */
};

static int open_fn(struct sr_conn *c, void *arg)
{
	struct open_arg *a = arg;
	int64_t cur = 0, next = 0, n = 0;
	bool ok = false;
	int rc = lock_ring(c, &cur, &next);
	if (rc != 0)
		return rc;
	if (cur == 0) {
		/* First open: this KEK becomes version 1. */
		rc = insert_kek(c, 1, a->kek);
		if (rc == 0)
			rc = exec1(c, "UPDATE vault_keyring SET kek_version = 1 WHERE id = 1");
		if (rc != 0)
			return rc;
		a->version = 1;
	} else {
		rc = check_kek(c, cur, a->kek, &ok);
		if (rc == 0 && ok)
			a->version = cur;
		else if (rc == 0 && next != 0 && (rc = check_kek(c, next, a->kek, &ok)) == 0 && ok)
			a->version = next;
		if (rc != 0)
			return rc;
		if (!ok)
			return SR_E_AUTH;
	}
	a->next = next;
	rc = query_i64(c, "SELECT COUNT(*) FROM vault_data_keys WHERE state = 'active'", 0, 0, &n);
	if (rc == 0 && n == 0)
		rc = insert_data_key(c, a->kek, a->version, NULL);
	if (rc == 0)
		rc = query_i64(c, "SELECT COUNT(*) FROM vault_rsa_keys WHERE state = 'active'", 0,
			       0, &n);
	if (rc == 0 && n == 0) {
		if (a->rsa == NULL)
			a->rsa = generate_rsa();
		rc = a->rsa != NULL ? insert_rsa_key(c, a->kek, a->version, a->rsa, NULL)
				    : SR_E_CRYPTO;
	}
	return rc;
}

static int has_active_rsa_fn(struct sr_conn *c, void *arg)
{
	return query_i64(c, "SELECT COUNT(*) FROM vault_rsa_keys WHERE state = 'active'", 0, 0,
			 arg);
}

int sr_keyring_open(struct sr_store *st, const unsigned char *kek, struct sr_keyring **out)
{
	struct sr_keyring *ring = NULL;
	struct open_arg a = {.kek = kek};
	int64_t n_rsa = 0;
	int rc = SR_E_INVAL;

	*out = NULL;
	if (st == NULL || kek == NULL)
		goto out;
	rc = SR_E_CRYPTO;
	if (sodium_init() < 0)
		goto out;
	/* RSA key generation takes a while: do it before taking the lock when a
	 * key will probably be needed (the loser of a race discards it). */
	rc = sr_store_tx(st, SR_TX_READ, has_active_rsa_fn, &n_rsa);
	if (rc != 0)
		goto out;
	if (n_rsa == 0 && (a.rsa = generate_rsa()) == NULL) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	rc = sr_store_tx(st, SR_TX_WRITE, open_fn, &a);
	if (rc != 0)
		goto out;
	ring = sr_xcalloc(1, sizeof *ring);
	ring->st = st;
	pthread_rwlock_init(&ring->lock, NULL);
	ring->kek = secret_copy(kek, SR_KEYRING_KEK_LEN);
	ring->kek_version = a.version;
	rc = reload(ring);
	if (rc != 0)
		goto out;
	*out = ring;
	ring = NULL;
out:
	EVP_PKEY_free(a.rsa);
	sr_keyring_close(ring);
	return rc;
}

void sr_keyring_close(struct sr_keyring *ring)
{
	if (ring == NULL)
		return;
	free_keys(ring->dks, ring->ndk, ring->rks, ring->nrk);
	sodium_free(ring->kek);
	sodium_free(ring->next_kek);
	pthread_rwlock_destroy(&ring->lock);
	free(ring);
}

/* ---- data keys ---------------------------------------------------------- */

int sr_keyring_encrypt(struct sr_keyring *ring, const void *aad, size_t aad_len, const void *pt,
		       size_t pt_len, unsigned char **blob, size_t *blob_len)
{
	int rc = SR_E_UNAVAILABLE;
	*blob = NULL;
	*blob_len = 0;
	pthread_rwlock_rdlock(&ring->lock);
	for (size_t i = 0; i < ring->ndk; i++) {
		if (ring->dks[i].active) {
			rc = sr_envelope_seal(ring->dks[i].key, ring->dks[i].id, aad, aad_len, pt,
					      pt_len, blob, blob_len);
			break;
		}
	}
	pthread_rwlock_unlock(&ring->lock);
	return rc;
}

static int decrypt_cached(struct sr_keyring *ring, const char *id, const void *aad, size_t aad_len,
			  const void *blob, size_t blob_len, unsigned char **pt, size_t *pt_len,
			  bool *found)
{
	int rc = SR_E_CRYPTO;
	*found = false;
	pthread_rwlock_rdlock(&ring->lock);
	for (size_t i = 0; i < ring->ndk; i++) {
		if (strcmp(ring->dks[i].id, id) == 0) {
			*found = true;
			rc = sr_envelope_open(ring->dks[i].key, id, blob, blob_len, aad, aad_len,
					      pt, pt_len);
			break;
		}
	}
	pthread_rwlock_unlock(&ring->lock);
	return rc;
}

int sr_keyring_decrypt(struct sr_keyring *ring, const void *aad, size_t aad_len, const void *blob,
		       size_t blob_len, unsigned char **pt, size_t *pt_len)
{
	struct sr_envelope_view v;
	bool found = false;
	*pt = NULL;
	*pt_len = 0;
	if (sr_envelope_parse(blob, blob_len, &v) != 0)
		return SR_E_CRYPTO;
	int rc = decrypt_cached(ring, v.key_id, aad, aad_len, blob, blob_len, pt, pt_len, &found);
	if (!found && reload_on_miss(ring))
		rc = decrypt_cached(ring, v.key_id, aad, aad_len, blob, blob_len, pt, pt_len,
				    &found);
	return rc == SR_E_NOMEM ? rc : (rc != 0 ? SR_E_CRYPTO : 0);
}

struct change_arg {
	struct sr_keyring *ring;
	EVP_PKEY *rsa;
	int64_t grace;
	char id[SR_KEYRING_ID_MAX + 1];
};

/* Takes the lock row and picks the KEK (and its version) new keys are
 * wrapped under: the ring's own, if the database still accepts it. */
static int lock_for_change(struct sr_conn *c, struct sr_keyring *ring, const unsigned char **kek,
			   int64_t *v)
{
	int64_t cur = 0, next = 0;
	int rc = lock_ring(c, &cur, &next);
	if (rc != 0)
		return rc;
	if (ring->kek_version != cur && ring->kek_version != next)
		return SR_E_AUTH;
	*kek = ring->kek;
	*v = ring->kek_version;
	return 0;
}

static int rotate_data_fn(struct sr_conn *c, void *arg)
{
	struct change_arg *a = arg;
	const unsigned char *kek = NULL;
	int64_t v = 0;
	char now[32];
	struct sr_stmt *s = NULL;
	int rc = lock_for_change(c, a->ring, &kek, &v);
	fmt_time(time(NULL), now);
	if (rc == 0)
		rc = sr_stmt_prepare(
			c,
			"UPDATE vault_data_keys SET state = 'retired', retired_at = $1 "
			"WHERE state = 'active'",
			&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	if (rc >= 0)
		rc = insert_data_key(c, kek, v, a->id);
	return rc;
}

int sr_keyring_rotate_data_key(struct sr_keyring *ring, char *id_out)
{
	struct change_arg a = {.ring = ring};
	int rc = sr_store_tx(ring->st, SR_TX_WRITE, rotate_data_fn, &a);
	if (rc == 0)
		rc = reload(ring);
	if (rc == 0) {
		sr_log(SR_LOG_INFO, "vault data key rotated", SR_LS("key_id", a.id));
		if (id_out != NULL)
			memcpy(id_out, a.id, sizeof a.id);
	}
	return rc;
}

int sr_keyring_active_data_key(struct sr_keyring *ring, char *out)
{
	int rc = SR_E_NOTFOUND;
	out[0] = '\0';
	pthread_rwlock_rdlock(&ring->lock);
	for (size_t i = 0; i < ring->ndk; i++)
		if (ring->dks[i].active) {
			memcpy(out, ring->dks[i].id, SR_KEYRING_ID_MAX + 1);
			rc = 0;
		}
	pthread_rwlock_unlock(&ring->lock);
	return rc;
}

/* ---- RSA keys ----------------------------------------------------------- */

static int rotate_rsa_fn(struct sr_conn *c, void *arg)
{
	struct change_arg *a = arg;
	const unsigned char *kek = NULL;
	int64_t v = 0;
	char now[32], until[32];
	struct sr_stmt *s = NULL;
	time_t t = time(NULL);
	fmt_time(t, now);
	fmt_time(t + (time_t)a->grace, until);
	int rc = lock_for_change(c, a->ring, &kek, &v);
	/* Keys whose grace has passed are retired for good. */
	if (rc == 0)
		rc = sr_stmt_prepare(c,
				     "UPDATE vault_rsa_keys SET state = 'retired' WHERE state = "
				     "'retiring' AND retire_after <= $1",
				     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	s = NULL;
	if (rc >= 0)
		rc = sr_stmt_prepare(c,
				     "UPDATE vault_rsa_keys SET state = 'retiring', retire_after = "
				     "$1 WHERE state = 'active'",
				     &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, until, strlen(until));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	/* Same transaction: the new kid is published no later than the old one
	 * starts retiring, so there is never a moment without an active key. */
	if (rc >= 0)
		rc = insert_rsa_key(c, kek, v, a->rsa, a->id);
	return rc;
}

int sr_keyring_rotate_rsa(struct sr_keyring *ring, int64_t grace_seconds, char *kid_out)
{
	struct change_arg a = {.ring = ring, .grace = grace_seconds};
	int rc = SR_E_INVAL;
	if (grace_seconds < 0 || grace_seconds > 366LL * 24 * 3600)
		goto out;
	rc = SR_E_CRYPTO;
	a.rsa = generate_rsa();
	if (a.rsa == NULL)
		goto out;
	rc = sr_store_tx(ring->st, SR_TX_WRITE, rotate_rsa_fn, &a);
	if (rc == 0)
		rc = reload(ring);
	if (rc == 0) {
		sr_log(SR_LOG_INFO, "vault RSA key rotated", SR_LS("kid", a.id),
		       SR_LI("grace_seconds", grace_seconds));
		if (kid_out != NULL)
			memcpy(kid_out, a.id, sizeof a.id);
	}
out:
	EVP_PKEY_free(a.rsa);
	return rc;
}

static bool rsa_accepted(const struct rsa_key *k, time_t now)
{
	return k->state == RSA_ACTIVE || (k->state == RSA_RETIRING && now < k->retire_after);
}

int sr_keyring_active_kid(struct sr_keyring *ring, char *out)
{
	int rc = SR_E_NOTFOUND;
	out[0] = '\0';
	pthread_rwlock_rdlock(&ring->lock);
	for (size_t i = 0; i < ring->nrk; i++)
		if (ring->rks[i].state == RSA_ACTIVE) {
			memcpy(out, ring->rks[i].kid, SR_KEYRING_ID_MAX + 1);
			rc = 0;
		}
	pthread_rwlock_unlock(&ring->lock);
	return rc;
}

static json_t *bn_b64(EVP_PKEY *pkey, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char buf[RSA_BITS / 8 + 8];
	char text[sizeof buf * 2];
	size_t n = 0;
	json_t *j = NULL;
	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1 || BN_num_bytes(bn) > (int)sizeof buf)
		goto out;
	int len = BN_bn2bin(bn, buf);
	if (len > 0 && sr_base64url_encode(buf, (size_t)len, text, sizeof text, &n) == 0)
		j = json_stringn(text, n);
out:
	BN_free(bn);
	return j;
}

static json_t *jwk(const struct rsa_key *k)
{
	json_t *n = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N);
	json_t *e = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E);
	if (n == NULL || e == NULL) {
		json_decref(n);
		json_decref(e);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "kty", "RSA", "use", "enc", "alg",
			 "RSA-OAEP-256", "kid", k->kid, "n", n, "e", e);
}

int sr_keyring_jwks(struct sr_keyring *ring, json_t **out)
{
	json_t *keys = json_array();
	int rc = 0;
	time_t now = time(NULL);
	*out = NULL;
	pthread_rwlock_rdlock(&ring->lock);
	/* Active first: clients that take the first key pick the newest. */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (size_t i = 0; i < ring->nrk && rc == 0; i++) {
			const struct rsa_key *k = &ring->rks[i];
			if (!rsa_accepted(k, now) || (k->state == RSA_ACTIVE) != (pass == 0))
				continue;
			json_t *j = jwk(k);
			if (j == NULL || json_array_append_new(keys, j) != 0)
				rc = SR_E_CRYPTO;
		}
	}
	pthread_rwlock_unlock(&ring->lock);
	if (rc == 0) {
		*out = json_pack("{s:o}", "keys", keys);
		keys = NULL;
		if (*out == NULL)
			rc = SR_E_NOMEM;
	}
	json_decref(keys);
	return rc;
}

static EVP_PKEY *find_rsa(struct sr_keyring *ring, const char *kid)
{
	EVP_PKEY *p = NULL;
	time_t now = time(NULL);
	pthread_rwlock_rdlock(&ring->lock);
	for (size_t i = 0; i < ring->nrk; i++) {
		if (strcmp(ring->rks[i].kid, kid) == 0 && rsa_accepted(&ring->rks[i], now) &&
		    EVP_PKEY_up_ref(ring->rks[i].pkey) == 1) {
			p = ring->rks[i].pkey;
			break;
		}
	}
	pthread_rwlock_unlock(&ring->lock);
	return p;
}

int sr_keyring_rsa_for_kid(struct sr_keyring *ring, const char *kid, EVP_PKEY **out)
{
	*out = NULL;
	if (kid == NULL || kid[0] == '\0' || strlen(kid) > SR_KEYRING_ID_MAX)
		return SR_E_NOTFOUND;
	*out = find_rsa(ring, kid);
	if (*out == NULL && reload_on_miss(ring))
		*out = find_rsa(ring, kid);
	return *out != NULL ? 0 : SR_E_NOTFOUND;
}

/* ---- KEK re-wrap -------------------------------------------------------- */

struct rewrap_arg {
	struct sr_keyring *ring;
	const unsigned char *new_kek;
	unsigned batch;
	int64_t target;
	uint64_t total, done; /* begin: counts; batch: done = rows moved */
};

static int rewrap_begin_fn(struct sr_conn *c, void *arg)
{
	struct rewrap_arg *a = arg;
	int64_t cur = 0, next = 0, n = 0, moved = 0;
	bool ok = false;
	int rc = lock_ring(c, &cur, &next);
	if (rc != 0)
		return rc;
	if (a->ring->kek_version != cur)
		return SR_E_AUTH; /* opened with the new KEK, or another instance finished */
	if (next == 0) {
		rc = query_i64(c, "SELECT COALESCE(MAX(version), 0) FROM vault_keks", 0, 0, &next);
		if (rc == 0)
			rc = insert_kek(c, ++next, a->new_kek);
		struct sr_stmt *s = NULL;
		if (rc == 0)
			rc = sr_stmt_prepare(
				c, "UPDATE vault_keyring SET rewrap_to = $1 WHERE id = 1", &s);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 1, next);
		if (rc == 0)
			rc = sr_stmt_step(s);
		sr_stmt_done(s);
		if (rc < 0)
			return rc;
	} else {
		rc = check_kek(c, next, a->new_kek, &ok);
		if (rc != 0)
			return rc;
		if (!ok)
			return SR_E_CONFLICT;
	}
	a->target = next;
	rc = query_i64(c,
		       "SELECT (SELECT COUNT(*) FROM vault_data_keys) + (SELECT COUNT(*) FROM "
		       "vault_rsa_keys)",
		       0, 0, &n);
	if (rc == 0)
		rc = query_i64(c,
			       "SELECT (SELECT COUNT(*) FROM vault_data_keys WHERE kek_version = "
			       "$1) + (SELECT COUNT(*) FROM vault_rsa_keys WHERE kek_version = $1)",
			       next, 1, &moved);
	a->total = (uint64_t)n;
	a->done = (uint64_t)moved;
	return rc;
}

/* Moves up to a->batch rows of one table to the target KEK. */
static int rewrap_table(struct sr_conn *c, struct rewrap_arg *a, bool data, unsigned *moved)
{
	struct snapshot sn = {0};
	struct sr_stmt *s = NULL;
	int rc = sr_stmt_prepare(
		c,
		data ? "SELECT id, version, kek_version, state, '', wrapped_key FROM "
		       "vault_data_keys WHERE kek_version <> $1 ORDER BY id LIMIT $2"
		     : "SELECT kid, 0, kek_version, state, '', wrapped_private_key FROM "
		       "vault_rsa_keys WHERE kek_version <> $1 ORDER BY kid LIMIT $2",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, a->target);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 2, (int64_t)(a->batch - *moved));
	while (rc == 0 && (rc = sr_stmt_step(s)) == 1) {
		sn.rows = sr_xreallocarray(sn.rows, sn.nrows + 1, sizeof *sn.rows);
		struct row *r = &sn.rows[sn.nrows++];
		memset(r, 0, sizeof *r);
		copy_text(s, 0, r->id, sizeof r->id);
		r->kek_version = sr_stmt_col_i64(s, 2);
		const void *b = sr_stmt_col_blob(s, 5, &r->blob_len);
		r->blob = sr_xmalloc(r->blob_len + 1);
		if (r->blob_len > 0)
			memcpy(r->blob, b, r->blob_len);
		rc = 0;
	}
	sr_stmt_done(s);
	for (size_t i = 0; i < sn.nrows && rc == 0; i++) {
		struct row *r = &sn.rows[i];
		unsigned char *secret = NULL, *blob = NULL;
		size_t len = 0, blob_len = 0;
		if (r->kek_version != a->ring->kek_version) {
			rc = SR_E_AUTH;
			break;
		}
		rc = unwrap(a->ring->kek, r->kek_version, r->id, r->blob, r->blob_len, &secret,
			    &len);
		if (rc == 0)
			rc = wrap(a->new_kek, a->target, r->id, secret, len, &blob, &blob_len);
		sodium_free(secret);
		s = NULL;
		if (rc == 0)
			rc = sr_stmt_prepare(
				c,
				data ? "UPDATE vault_data_keys SET wrapped_key = $1, "
				       "kek_version = $2 WHERE id = $3"
				     : "UPDATE vault_rsa_keys SET wrapped_private_key = "
				       "$1, kek_version = $2 WHERE kid = $3",
				&s);
		if (rc == 0)
			rc = sr_stmt_bind_blob(s, 1, blob, blob_len);
		if (rc == 0)
			rc = sr_stmt_bind_i64(s, 2, a->target);
		if (rc == 0)
			rc = sr_stmt_bind_text(s, 3, r->id, strlen(r->id));
		if (rc == 0)
			rc = sr_stmt_step(s);
		if (rc > 0)
			rc = 0;
		sr_stmt_done(s);
		free(blob);
		if (rc == 0)
			(*moved)++;
	}
	snapshot_clear(&sn);
	return rc;
}

static int rewrap_batch_fn(struct sr_conn *c, void *arg)
{
	struct rewrap_arg *a = arg;
	int64_t cur = 0, next = 0;
	unsigned moved = 0;
	a->done = 0;
	int rc = lock_ring(c, &cur, &next);
	if (rc != 0)
		return rc;
	if (next != a->target || cur != a->ring->kek_version)
		return SR_E_CONFLICT; /* another instance finished or changed it */
	rc = rewrap_table(c, a, true, &moved);
	if (rc == 0 && moved < a->batch)
		rc = rewrap_table(c, a, false, &moved);
	a->done = moved;
	return rc;
}

static int rewrap_finish_fn(struct sr_conn *c, void *arg)
{
	struct rewrap_arg *a = arg;
	int64_t cur = 0, next = 0, left = 0;
	char now[32];
	struct sr_stmt *s = NULL;
	int rc = lock_ring(c, &cur, &next);
	if (rc != 0)
		return rc;
	if (next != a->target)
		return SR_E_CONFLICT;
	rc = query_i64(c,
		       "SELECT (SELECT COUNT(*) FROM vault_data_keys WHERE kek_version <> $1) + "
		       "(SELECT COUNT(*) FROM vault_rsa_keys WHERE kek_version <> $1)",
		       a->target, 1, &left);
	if (rc == 0 && left != 0)
		rc = SR_E_CONFLICT; /* a key was added under the old KEK meanwhile: go again */
	fmt_time(time(NULL), now);
	if (rc == 0)
		rc = sr_stmt_prepare(c,
				     "UPDATE vault_keyring SET kek_version = $1, rewrap_to = NULL, "
				     "updated_at = $2 WHERE id = 1",
				     &s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, a->target);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 2, now, strlen(now));
	if (rc == 0)
		rc = sr_stmt_step(s);
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

int sr_keyring_rewrap(struct sr_keyring *ring, const unsigned char *new_kek, unsigned batch,
		      sr_keyring_progress_fn progress, void *arg)
{
	struct rewrap_arg a = {
		.ring = ring, .new_kek = new_kek, .batch = batch ? batch : SR_KEYRING_REWRAP_BATCH};
	int rc = SR_E_INVAL;
	if (new_kek == NULL || sodium_memcmp(new_kek, ring->kek, SR_KEYRING_KEK_LEN) == 0)
		goto out;
	rc = sr_store_tx(ring->st, SR_TX_WRITE, rewrap_begin_fn, &a);
	if (rc != 0)
		goto out;
	/* Hold the new KEK too, so this ring can reload keys already moved. */
	pthread_rwlock_wrlock(&ring->lock);
	sodium_free(ring->next_kek);
	ring->next_kek = secret_copy(new_kek, SR_KEYRING_KEK_LEN);
	ring->next_version = a.target;
	pthread_rwlock_unlock(&ring->lock);
	sr_log(SR_LOG_INFO, "vault KEK re-wrap started", SR_LI("kek_version", ring->kek_version),
	       SR_LI("to_kek_version", a.target), SR_LI("keys", a.total));
	uint64_t done = a.done, total = a.total;
	for (;;) {
		rc = sr_store_tx(ring->st, SR_TX_WRITE, rewrap_batch_fn, &a);
		if (rc != 0)
			goto out;
		if (a.done == 0)
			break;
		done += a.done;
		if (done > total)
			total = done; /* keys were added meanwhile */
		if (progress != NULL && progress(arg, done, total) != 0) {
			sr_log(SR_LOG_WARN, "vault KEK re-wrap stopped; run it again to resume",
			       SR_LI("done", done), SR_LI("keys", total));
			rc = SR_E_UNAVAILABLE;
			goto out;
		}
	}
	rc = sr_store_tx(ring->st, SR_TX_WRITE, rewrap_finish_fn, &a);
	if (rc != 0)
		goto out;
	pthread_rwlock_wrlock(&ring->lock);
	sodium_free(ring->kek);
	ring->kek = ring->next_kek;
	ring->kek_version = ring->next_version;
	ring->next_kek = NULL;
	ring->next_version = 0;
	pthread_rwlock_unlock(&ring->lock);
	sr_log(SR_LOG_INFO, "vault KEK re-wrap finished", SR_LI("kek_version", a.target),
	       SR_LI("keys", total));
	rc = reload(ring);
out:
	return rc;
}
