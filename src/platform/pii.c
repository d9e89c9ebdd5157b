/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-member personal-data keys (see pii.h). The platform's personal-data
 * KEK wraps each member's 32-byte data key into an envelope blob (key id
 * "pdkek1", AAD "member_key|<user id>") kept in member_keys; fields are
 * envelope blobs under the member key (key id "mk", AAD "<user id>|<field>").
 *
 * Secrets: the KEK and unwrapped member keys live only in sodium_malloc
 * memory and are wiped when freed; plaintexts go back to the caller in
 * sodium_malloc memory. Nothing here logs.
 */
#include "platform/pii.h"
#include "audit/audit.h"
#include "base/config.h"
#include "base/mem.h"
#include "crypto/envelope.h"
#include "crypto/keyfile.h"
#include "store/store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEK_ID        "pdkek1"
#define MEMBER_KEY_ID "mk"
#define AAD_MAX       (SR_PII_FIELD_MAX + 80)

struct sr_pii {
	unsigned char *kek; /* sodium_malloc, SR_PII_KEK_LEN */
};

struct sr_pii_member_key {
	unsigned char *key; /* sodium_malloc, SR_ENVELOPE_KEY_LEN */
	char user_id[72];
};

int sr_pii_from_bytes(const unsigned char kek[SR_PII_KEK_LEN], struct sr_pii **out)
{
	*out = NULL;
	if (sodium_init() < 0)
		return SR_E_CRYPTO;
	struct sr_pii *p = sr_xcalloc(1, sizeof *p);
	p->kek = sodium_malloc(SR_PII_KEK_LEN);
	if (p->kek == NULL) {
		free(p);
		return SR_E_NOMEM;
	}
	memcpy(p->kek, kek, SR_PII_KEK_LEN);
	*out = p;
	return 0;
}

int sr_pii_load(const struct sr_config *cfg, struct sr_pii **out)
{
	*out = NULL;
	int rc = 0;
	char *path = sr_config_path(cfg, "platform", "personal_data_kek_file");
	if (path == NULL)
		return SR_E_CONFIG;
	struct sr_pii *p = sr_xcalloc(1, sizeof *p);
	rc = sr_keyfile_read(path, SR_PII_KEK_LEN, &p->kek);
	if (rc != 0) {
		free(p);
		goto out;
	}
	*out = p;
out:
	free(path);
	return rc;
}

void sr_pii_free(struct sr_pii *p)
{
	if (p == NULL)
		return;
	sodium_free(p->kek);
	free(p);
}

void sr_pii_member_key_free(struct sr_pii_member_key *k)
{
	if (k == NULL)
		return;
	sodium_free(k->key);
	free(k);
}

static bool field_ok(const char *field)
{
	size_t n = 0;
	if (field == NULL)
		return false;
	for (; field[n]; n++)
		if (!((field[n] >= 'a' && field[n] <= 'z') || field[n] == '_'))
			return false;
	return n > 0 && n <= SR_PII_FIELD_MAX;
}

static bool user_id_ok(const char *id)
{
	return id != NULL && id[0] != '\0' &&
	       strlen(id) < sizeof((struct sr_pii_member_key *)0)->user_id;
}

static size_t kek_aad(const char *user_id, char out[AAD_MAX])
{
	int n = snprintf(out, AAD_MAX, "member_key|%s", user_id);
	return n > 0 && n < AAD_MAX ? (size_t)n : 0;
}

int sr_pii_member_key_new(const char *user_id, struct sr_pii_member_key **out)
{
	*out = NULL;
	if (!user_id_ok(user_id))
		return SR_E_INVAL;
	struct sr_pii_member_key *k = sr_xcalloc(1, sizeof *k);
	k->key = sodium_malloc(SR_ENVELOPE_KEY_LEN);
	if (k->key == NULL) {
		free(k);
		return SR_E_NOMEM;
	}
	randombytes_buf(k->key, SR_ENVELOPE_KEY_LEN);
	snprintf(k->user_id, sizeof k->user_id, "%s", user_id);
	*out = k;
	return 0;
}

int sr_pii_member_key_store(struct sr_conn *c, const struct sr_pii *p,
			    const struct sr_pii_member_key *k)
{
	int rc = 0;
	struct sr_stmt *s = NULL;
	unsigned char *blob = NULL;
	size_t blob_len = 0;
	char aad[AAD_MAX];
	char now[32];
	size_t aad_len = kek_aad(k->user_id, aad);
	rc = sr_envelope_seal(p->kek, KEK_ID, aad, aad_len, k->key, SR_ENVELOPE_KEY_LEN, &blob,
			      &blob_len);
	if (rc != 0)
		goto out;
	sr_audit_now(now, sizeof now);
	rc = sr_stmt_prepare(
		c,
		"INSERT INTO member_keys (user_id, wrapped, created_at) VALUES ($1, $2, "
		"$3) ON CONFLICT (user_id) DO NOTHING",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, k->user_id, strlen(k->user_id));
	if (rc == 0)
		rc = sr_stmt_bind_blob(s, 2, blob, blob_len);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 3, now, strlen(now));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0 && sr_stmt_changes(s) != 1)
			rc = SR_E_EXISTS;
		else if (rc > 0)
			rc = SR_E_INTERNAL;
	}
out:
	sr_stmt_done(s);
	free(blob);
	return rc;
}

int sr_pii_create_member_key(struct sr_conn *c, const struct sr_pii *p, const char *user_id,
			     struct sr_pii_member_key **out)
{
	struct sr_pii_member_key *k = NULL;
	if (out != NULL)
		*out = NULL;
	int rc = sr_pii_member_key_new(user_id, &k);
	if (rc == 0)
		rc = sr_pii_member_key_store(c, p, k);
	if (rc == 0 && out != NULL)
		*out = k;
	else
		sr_pii_member_key_free(k);
	return rc;
}

int sr_pii_member_key_load(struct sr_conn *c, const struct sr_pii *p, const char *user_id,
			   struct sr_pii_member_key **out)
{
	int rc = 0;
	struct sr_stmt *s = NULL;
	unsigned char *key = NULL;
	size_t key_len = 0;
	char aad[AAD_MAX];
	*out = NULL;
	if (!user_id_ok(user_id))
		return SR_E_INVAL;
	rc = sr_stmt_prepare(c, "SELECT wrapped FROM member_keys WHERE user_id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc == 0) {
		rc = SR_E_NOTFOUND;
		goto out;
	}
	if (rc < 0)
		goto out;
	size_t len = 0;
	const void *wrapped = sr_stmt_col_blob(s, 0, &len);
	size_t aad_len = kek_aad(user_id, aad);
	rc = sr_envelope_open(p->kek, KEK_ID, wrapped, len, aad, aad_len, &key, &key_len);
	if (rc != 0)
		goto out;
	if (key_len != SR_ENVELOPE_KEY_LEN) {
		rc = SR_E_CRYPTO;
		goto out;
	}
	struct sr_pii_member_key *k = sr_xcalloc(1, sizeof *k);
	k->key = key; /* sodium_malloc'd by envelope_open */
	key = NULL;
	snprintf(k->user_id, sizeof k->user_id, "%s", user_id);
	*out = k;
	rc = 0;
out:
	if (key != NULL)
		sodium_free(key);
	sr_stmt_done(s);
	return rc;
}

static size_t field_aad(const struct sr_pii_member_key *k, const char *field, char out[AAD_MAX])
{
	int n = snprintf(out, AAD_MAX, "%s|%s", k->user_id, field);
	return n > 0 && n < AAD_MAX ? (size_t)n : 0;
}

int sr_pii_seal_with(const struct sr_pii_member_key *k, const char *field, const void *value,
		     size_t len, unsigned char **blob, size_t *blob_len)
{
	char aad[AAD_MAX];
	*blob = NULL;
	*blob_len = 0;
	if (k == NULL || !field_ok(field) || (value == NULL && len > 0))
		return SR_E_INVAL;
	if (len > SR_PII_VALUE_MAX)
		return SR_E_LIMIT;
	size_t aad_len = field_aad(k, field, aad);
	return sr_envelope_seal(k->key, MEMBER_KEY_ID, aad, aad_len, value == NULL ? "" : value,
				len, blob, blob_len);
}

int sr_pii_open_with(const struct sr_pii_member_key *k, const char *field, const void *blob,
		     size_t blob_len, char **value, size_t *len)
{
	char aad[AAD_MAX];
	unsigned char *pt = NULL;
	*value = NULL;
	*len = 0;
	if (k == NULL || !field_ok(field) || blob == NULL)
		return SR_E_INVAL;
	size_t aad_len = field_aad(k, field, aad);
	int rc = sr_envelope_open(k->key, MEMBER_KEY_ID, blob, blob_len, aad, aad_len, &pt, len);
	if (rc == 0)
		*value = (char *)pt;
	return rc;
}

int sr_pii_seal(struct sr_conn *c, const struct sr_pii *p, const char *user_id, const char *field,
		const void *value, size_t len, unsigned char **blob, size_t *blob_len)
{
	struct sr_pii_member_key *k = NULL;
	*blob = NULL;
	*blob_len = 0;
	int rc = sr_pii_member_key_load(c, p, user_id, &k);
	if (rc == 0)
		rc = sr_pii_seal_with(k, field, value, len, blob, blob_len);
	sr_pii_member_key_free(k);
	return rc;
}

int sr_pii_open(struct sr_conn *c, const struct sr_pii *p, const char *user_id, const char *field,
		const void *blob, size_t blob_len, char **value, size_t *len)
{
	struct sr_pii_member_key *k = NULL;
	*value = NULL;
	*len = 0;
	int rc = sr_pii_member_key_load(c, p, user_id, &k);
	if (rc == 0)
		rc = sr_pii_open_with(k, field, blob, blob_len, value, len);
	sr_pii_member_key_free(k);
	return rc;
}

int sr_pii_shred(struct sr_conn *c, const char *user_id, bool *shredded)
{
	struct sr_stmt *s = NULL;
	*shredded = false;
	int rc = sr_stmt_prepare(c, "DELETE FROM member_keys WHERE user_id = $1", &s);
	if (rc == 0)
		rc = sr_stmt_bind_text(s, 1, user_id, strlen(user_id));
	if (rc == 0) {
		rc = sr_stmt_step(s);
		if (rc == 0)
			*shredded = sr_stmt_changes(s) > 0;
		else if (rc > 0)
			rc = SR_E_INTERNAL;
	}
	sr_stmt_done(s);
	return rc;
}
