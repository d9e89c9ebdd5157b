/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealed cards (see card_secret.h). The clear serialization of a card holds
 * the PAN, so it is built and parsed only in sodium_malloc memory and wiped
 * before it is freed; the only copy that reaches the database is the
 * key-ring ciphertext, bound to the id of its row by the AAD.
 *
 * Format inside the envelope (version 1), lengths in single bytes:
 *   "SRC1" | pan_len pan | exp_month | exp_year (2 bytes, big-endian)
 *   | fp_len fingerprint | check_len cvc_check | name_len name
 * Brand, bin6 and last4 are derived from the PAN when opening, so they can
 * never disagree with it.
 */
#include "vault/card_secret.h"
#include "base/mem.h"
#include "base/scratch.h"
#include "vault/keyring.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SEAL_MAGIC     "SRC1"
#define SEAL_MAGIC_LEN 4
#define SEAL_MAX       512

/*
 * The clear serialization is built in per-thread locked memory
 * (base/scratch.h) and wiped after every use: a sodium_malloc per call
 * would be a large share of a tokenization's cost.
 */
static struct sr_scratch seal_area = SR_SCRATCH_INIT(SEAL_MAX);

static unsigned char *seal_buf(void)
{
	return sr_scratch_get(&seal_area);
}

struct sr_vault_card *sr_vault_card_new(void)
{
	if (sodium_init() < 0)
		abort();
	struct sr_vault_card *card = sodium_malloc(sizeof *card);
	if (card == NULL)
		abort(); /* the server core fails closed on out-of-memory */
	memset(card, 0, sizeof *card);
	return card;
}

void sr_vault_card_free(struct sr_vault_card *card)
{
	if (card != NULL)
		sodium_free(card); /* wipes */
}

const char *sr_vault_card_brand(const struct sr_vault_card *card)
{
	return sr_card_brand_name(card->pan.brand);
}

struct sr_proc_card sr_vault_card_proc(const struct sr_vault_card *card)
{
	struct sr_proc_card pc = {
		.pan = &card->pan,
		.exp_month = card->exp_month,
		.exp_year = card->exp_year,
		.cvc = NULL,
		.name = card->name,
	};
	return pc;
}

static int put_str(unsigned char *buf, size_t *pos, const char *s, size_t len)
{
	if (len > 255 || *pos + 1 + len > SEAL_MAX)
		return SR_E_LIMIT;
	buf[(*pos)++] = (unsigned char)len;
	memcpy(buf + *pos, s, len);
	*pos += len;
	return 0;
}

int sr_vault_card_seal(struct sr_keyring *ring, const char *id, const struct sr_vault_card *card,
		       unsigned char **blob, size_t *blob_len)
{
	unsigned char *buf = NULL;
	size_t pos = SEAL_MAGIC_LEN;
	int rc;

	*blob = NULL;
	*blob_len = 0;
	if (id == NULL || id[0] == '\0' || card->pan.len < SR_CARD_PAN_MIN ||
	    card->pan.len > SR_CARD_PAN_MAX || card->exp_month < 1 || card->exp_month > 12 ||
	    card->exp_year > 0xffff)
		return SR_E_INVAL;
	buf = seal_buf();
	memcpy(buf, SEAL_MAGIC, SEAL_MAGIC_LEN);
	rc = put_str(buf, &pos, card->pan.digits, card->pan.len);
	if (rc != 0)
		goto out;
	buf[pos++] = (unsigned char)card->exp_month;
	buf[pos++] = (unsigned char)(card->exp_year >> 8);
	buf[pos++] = (unsigned char)(card->exp_year & 0xff);
	rc = put_str(buf, &pos, card->fingerprint,
		     strnlen(card->fingerprint, sizeof card->fingerprint));
	if (rc == 0)
		rc = put_str(buf, &pos, card->cvc_check,
			     strnlen(card->cvc_check, sizeof card->cvc_check - 1));
	if (rc == 0)
		rc = put_str(buf, &pos, card->name, strnlen(card->name, SR_CARD_NAME_MAX));
	if (rc == 0)
		rc = sr_keyring_encrypt(ring, id, strlen(id), buf, pos, blob, blob_len);
out:
	sodium_memzero(buf, SEAL_MAX);
	return rc;
}

/* Reads one length-prefixed field into dst (cap bytes with its NUL). */
static int get_str(const unsigned char *buf, size_t len, size_t *pos, char *dst, size_t cap,
		   size_t *out_len)
{
	if (*pos >= len)
		return SR_E_CRYPTO;
	size_t n = buf[(*pos)++];
	if (n >= cap || *pos + n > len)
		return SR_E_CRYPTO;
	memcpy(dst, buf + *pos, n);
	dst[n] = '\0';
	*pos += n;
	if (out_len != NULL)
		*out_len = n;
	return 0;
}

int sr_vault_card_open(struct sr_keyring *ring, const char *id, const void *blob, size_t blob_len,
		       struct sr_vault_card **out)
{
	unsigned char *pt = NULL;
	size_t pt_len = 0, pos = SEAL_MAGIC_LEN, n;
	struct sr_vault_card *card = NULL;
	int rc;

	*out = NULL;
	if (id == NULL || id[0] == '\0')
		return SR_E_CRYPTO;
	rc = sr_keyring_decrypt(ring, id, strlen(id), blob, blob_len, &pt, &pt_len);
	if (rc != 0)
		goto out;
	rc = SR_E_CRYPTO;
	if (pt_len < SEAL_MAGIC_LEN ||
	    memcmp(pt, SEAL_MAGIC, SEAL_MAGIC_LEN) != 0) /* banned-ok: public magic */
		goto out;
	card = sr_vault_card_new();
	if (get_str(pt, pt_len, &pos, card->pan.digits, sizeof card->pan.digits, &card->pan.len) !=
		    0 ||
	    pos + 3 > pt_len)
		goto out;
	card->exp_month = pt[pos];
	card->exp_year = (unsigned)pt[pos + 1] << 8 | pt[pos + 2];
	pos += 3;
	if (get_str(pt, pt_len, &pos, card->fingerprint, sizeof card->fingerprint, &n) != 0 ||
	    get_str(pt, pt_len, &pos, card->cvc_check, sizeof card->cvc_check, &n) != 0 ||
	    get_str(pt, pt_len, &pos, card->name, sizeof card->name, &n) != 0 || pos != pt_len)
		goto out;
	card->pan.brand = sr_card_brand_of(card->pan.digits, card->pan.len);
	if (card->pan.len < SR_CARD_PAN_MIN || card->exp_month < 1 || card->exp_month > 12 ||
	    sr_card_pan_bin6(&card->pan, card->bin6) != 0 ||
	    sr_card_pan_last4(&card->pan, card->last4) != 0)
		goto out;
	*out = card;
	card = NULL;
	rc = 0;
out:
	sr_vault_card_free(card);
	if (pt != NULL)
		sodium_free(pt);
	return rc;
}
