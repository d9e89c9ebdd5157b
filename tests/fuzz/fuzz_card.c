/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for lib/card: the same input goes to the card JSON parser, the
 * card number parser, the name and CVC checks. Invariants checked beyond "no
 * crash": an accepted number is Luhn-valid, 12..19 digits, of a known brand,
 * and its mask shows at most the first 6 and last 4 digits; a refusal leaves
 * nothing in the output struct.
 */
#include "base/err.h"
#include "lib/card.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_pan(const uint8_t *data, size_t size)
{
	struct sr_card_pan pan;
	char mask[SR_CARD_PAN_MAX + 1], last4[5], bin6[7];
	if (sr_card_pan_parse((const char *)data, size, &pan) != 0) {
		for (size_t i = 0; i < sizeof pan.digits; i++)
			if (pan.digits[i] != 0)
				abort();
		return;
	}
	if (pan.len < SR_CARD_PAN_MIN || pan.len > SR_CARD_PAN_MAX || pan.digits[pan.len] != '\0' ||
	    !sr_card_luhn_ok(pan.digits, pan.len) || pan.brand == SR_CARD_BRAND_UNKNOWN ||
	    !sr_card_brand_length_ok(pan.brand, pan.len))
		abort();
	if (sr_card_pan_mask(&pan, mask, sizeof mask) != 0 || sr_card_pan_last4(&pan, last4) != 0 ||
	    sr_card_pan_bin6(&pan, bin6) != 0)
		abort();
	size_t shown = 0;
	for (size_t i = 0; i < pan.len; i++) {
		if (mask[i] == '*')
			continue;
		if (mask[i] != pan.digits[i] || (i >= 6 && i < pan.len - 4))
			abort();
		shown++;
	}
	if (shown > 10 || pan.len - shown < 5)
		abort();
	sr_card_pan_wipe(&pan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		if (sodium_init() < 0)
			abort();
		sr_card_json_wipe_on_free();
		ready = 1;
	}
	struct sr_card *card = sr_card_new();
	enum sr_card_error why;
	if (card == NULL)
		abort();
	int rc = sr_card_payload_parse((const char *)data, size, 1700000000, card, &why);
	if ((rc == 0) != (why == SR_CARD_OK))
		abort();
	if (rc == 0 && (!sr_card_luhn_ok(card->pan.digits, card->pan.len) ||
			!sr_card_cvc_ok(card->cvc, card->cvc_len, card->pan.brand) ||
			card->exp_year < 2000 || card->exp_month < 1 || card->exp_month > 12 ||
			(card->name_len > 0 && !sr_card_name_ok(card->name, card->name_len))))
		abort();
	sr_card_free(card);

	check_pan(data, size);
	(void)sr_card_name_ok((const char *)data, size);
	(void)sr_card_cvc_ok((const char *)data, size, SR_CARD_BRAND_AMEX);
	(void)sr_card_brand_of((const char *)data, size);
	return 0;
}
