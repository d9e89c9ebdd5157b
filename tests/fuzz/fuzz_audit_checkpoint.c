/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the audit checkpoint file parser (src/audit/checkpoint.c).
 * The file lives outside the database and anyone who can write it can put
 * anything there, so the verifier must never crash on it, never read past
 * the buffer, and accept only lines that format back to exactly themselves
 * (one spelling per checkpoint). Signatures are checked too, to drive the
 * verification path with arbitrary parsed values.
 */
#include "audit/checkpoint.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pk[SR_AUDIT_SIGN_PK_LEN];

struct ctx {
	const char *buf;
	size_t len;
	size_t pos; /* start of the line being parsed */
};

static int check(const struct sr_audit_checkpoint *cp, unsigned line, void *argp)
{
	struct ctx *c = argp;
	char out[SR_AUDIT_CP_LINE_MAX];
	int n = sr_audit_checkpoint_format(cp, out, sizeof out);
	const char *nl;

	(void)line;
	if (n <= 0)
		abort();
	nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
	/* the accepted line, with its '\n' if it had one, is what format gives */
	size_t linelen = nl ? (size_t)(nl - (c->buf + c->pos)) : c->len - c->pos;
	if ((size_t)n - 1 != linelen || strncmp(out, c->buf + c->pos, linelen) != 0)
		abort();
	c->pos += linelen + (nl ? 1 : 0);
	(void)sr_audit_checkpoint_sig_ok(pk, "platform", cp);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct sr_audit_cp_parse_info info;
	struct ctx c = {(const char *)data, size, 0};

	if (!ready) {
		uint8_t seed[32], sk[64];
		if (sodium_init() < 0)
			abort();
		memset(seed, 0x33, sizeof seed);
		crypto_sign_seed_keypair(pk, sk, seed);
		ready = 1;
	}
	int rc = sr_audit_checkpoint_parse(c.buf, size, check, &c, &info);
	/* every complete line before the stop was accepted and checked */
	if (rc == 0 && !info.torn_tail && c.pos != size)
		abort();
	return 0;
}
