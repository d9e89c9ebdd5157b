/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure parts of the audit log: the record encoding is unambiguous, every
 * field is covered by the hash, MACs depend on the key, event validation
 * refuses what must not be stored, and checkpoint lines round-trip, verify
 * only for their own service and key, and are parsed strictly.
 */
#include "audit/audit.h"
#include "audit/chain.h"
#include "audit/checkpoint.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct sr_audit_record sample(void)
{
	struct sr_audit_record r;
	memset(&r, 0, sizeof r);
	r.seq = 7;
	r.ts = sr_audit_text_of("2026-01-31T12:34:56.789Z");
	r.actor_type = sr_audit_text_of("user");
	r.actor_id = sr_audit_text_of("usr_123");
	r.action = sr_audit_text_of("payout.approve");
	r.object_type = sr_audit_text_of("payout");
	r.object_id = sr_audit_text_of("po_9");
	r.outcome = sr_audit_text_of("success");
	r.ip = sr_audit_text_of("127.0.0.1");
	r.request_id = sr_audit_text_of("req_1");
	r.details = sr_audit_text_of("{\"amount\":100}");
	memset(r.prev_hash, 0xab, sizeof r.prev_hash);
	return r;
}

static bool same_hash(const struct sr_audit_record *a, const struct sr_audit_record *b)
{
	uint8_t ha[SR_AUDIT_HASH_LEN], hb[SR_AUDIT_HASH_LEN];
	sr_audit_chain_hash(a, ha);
	sr_audit_chain_hash(b, hb);
	return sr_audit_hash_eq(ha, hb);
}

static void test_hash_is_deterministic(void **state)
{
	(void)state;
	struct sr_audit_record a = sample(), b = sample();
	assert_true(same_hash(&a, &b));
}

/* Moving bytes across a field boundary must change the hash. */
static void test_encoding_unambiguous(void **state)
{
	(void)state;
	struct sr_audit_record a = sample(), b = sample();
	a.actor_id = sr_audit_text_of("ab");
	a.action = sr_audit_text_of("c");
	b.actor_id = sr_audit_text_of("a");
	b.action = sr_audit_text_of("bc");
	assert_false(same_hash(&a, &b));

	/* an empty field next to a full one */
	a = sample();
	b = sample();
	a.ip = sr_audit_text_of("");
	a.request_id = sr_audit_text_of("x");
	b.ip = sr_audit_text_of("x");
	b.request_id = sr_audit_text_of("");
	assert_false(same_hash(&a, &b));
}

/* Every field, and seq and prev_hash, is covered. */
static void test_every_field_covered(void **state)
{
	(void)state;
	struct sr_audit_record base = sample();
	struct sr_audit_text *fields[] = {&base.ts,      &base.actor_type,  &base.actor_id,
					  &base.action,  &base.object_type, &base.object_id,
					  &base.outcome, &base.ip,          &base.request_id,
					  &base.details};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		struct sr_audit_record r = sample();
		struct sr_audit_text *f =
			(struct sr_audit_text *)((char *)&r + ((char *)fields[i] - (char *)&base));
		*f = sr_audit_text_of("changed");
		assert_false(same_hash(&base, &r));
	}
	struct sr_audit_record r = sample();
	r.seq = 8;
	assert_false(same_hash(&base, &r));
	r = sample();
	r.prev_hash[31] ^= 1;
	assert_false(same_hash(&base, &r));
}

static void test_mac_depends_on_key(void **state)
{
	(void)state;
	uint8_t k1[32], k2[32], h[32], mac[32];
	struct sr_audit_record r = sample();

	memset(k1, 1, sizeof k1);
	memset(k2, 2, sizeof k2);
	sr_audit_chain_hash(&r, h);
	sr_audit_chain_mac(k1, h, mac);
	assert_true(sr_audit_chain_mac_ok(k1, h, mac, sizeof mac));
	assert_false(sr_audit_chain_mac_ok(k2, h, mac, sizeof mac));
	assert_false(sr_audit_chain_mac_ok(k1, h, mac, 31));
	assert_false(sr_audit_chain_mac_ok(k1, h, NULL, 0));
	h[0] ^= 1;
	assert_false(sr_audit_chain_mac_ok(k1, h, mac, sizeof mac));

	/* HMAC-SHA256 as everyone computes it (cross-check with libsodium's one-shot). */
	uint8_t want[32];
	h[0] ^= 1;
	crypto_auth_hmacsha256(want, h, sizeof h, k1);
	assert_memory_equal(want, mac, 32);
}

static void test_event_validation(void **state)
{
	(void)state;
	struct sr_audit_event ok = {.actor_type = "system",
				    .actor_id = "platform",
				    .action = "service.start",
				    .outcome = "success"};
	struct sr_audit_event ev;
	char big[SR_AUDIT_DETAILS_MAX + 16];

	assert_int_equal(sr_audit_event_validate(&ok), 0);
	ev = ok;
	ev.details = "{\"a\":1}";
	assert_int_equal(sr_audit_event_validate(&ev), 0);

	ev = ok;
	ev.action = "";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev.action = NULL;
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev.action = "Service Start";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev = ok;
	ev.actor_type = "root";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev = ok;
	ev.outcome = "maybe";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev = ok;
	ev.actor_id = "evil\x1b[2J";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev = ok;
	ev.details = "[1,2]";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev.details = "{\"a\":1,\"a\":2}";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev.details = "{not json";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
	ev.details = "";
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);

	/* details: exactly the limit passes, one more byte does not */
	memset(big, ' ', sizeof big);
	big[0] = '{';
	big[SR_AUDIT_DETAILS_MAX - 1] = '}';
	big[SR_AUDIT_DETAILS_MAX] = '\0';
	ev.details = big;
	assert_int_equal(sr_audit_event_validate(&ev), 0);
	big[SR_AUDIT_DETAILS_MAX - 1] = ' ';
	big[SR_AUDIT_DETAILS_MAX] = '}';
	big[SR_AUDIT_DETAILS_MAX + 1] = '\0';
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);

	char longid[SR_AUDIT_ID_MAX + 2];
	memset(longid, 'x', sizeof longid);
	longid[SR_AUDIT_ID_MAX] = '\0';
	ev = ok;
	ev.object_id = longid;
	assert_int_equal(sr_audit_event_validate(&ev), 0);
	longid[SR_AUDIT_ID_MAX] = 'x';
	longid[SR_AUDIT_ID_MAX + 1] = '\0';
	assert_int_equal(sr_audit_event_validate(&ev), SR_E_INVAL);
}

/* ---- checkpoints ------------------------------------------------------- */

static struct sr_audit_signer *signer_with(uint8_t fill)
{
	uint8_t seed[32];
	struct sr_audit_signer *s = NULL;
	memset(seed, fill, sizeof seed);
	assert_int_equal(sr_audit_signer_from_seed(seed, sizeof seed, &s), 0);
	return s;
}

static struct sr_audit_checkpoint signed_cp(struct sr_audit_signer *s, const char *service,
					    int64_t seq)
{
	struct sr_audit_checkpoint cp;
	memset(&cp, 0, sizeof cp);
	cp.seq = seq;
	memset(cp.hash, 0x5a, sizeof cp.hash);
	memcpy(cp.ts, "2026-01-31T12:34:56.789Z", SR_AUDIT_CP_TS_LEN + 1);
	sr_audit_checkpoint_sign(s, service, &cp);
	return cp;
}

static void test_checkpoint_roundtrip(void **state)
{
	(void)state;
	struct sr_audit_signer *s = signer_with(3), *other = signer_with(4);
	struct sr_audit_checkpoint cp = signed_cp(s, "platform", 52), back;
	char line[SR_AUDIT_CP_LINE_MAX];
	int n = sr_audit_checkpoint_format(&cp, line, sizeof line);

	assert_true(n > 0 && n < SR_AUDIT_CP_LINE_MAX);
	assert_int_equal(line[n - 1], '\n');
	assert_int_equal(strncmp(line, "v1 52 5a5a", 10), 0);
	assert_int_equal(sr_audit_checkpoint_parse_line(line, (size_t)n - 1, &back), 0);
	assert_int_equal(back.seq, 52);
	assert_memory_equal(back.hash, cp.hash, 32);
	assert_string_equal(back.ts, cp.ts);
	assert_true(sr_audit_checkpoint_sig_ok(sr_audit_signer_public_key(s), "platform", &back));
	/* another service, another key, or any changed field: refused */
	assert_false(sr_audit_checkpoint_sig_ok(sr_audit_signer_public_key(s), "vault", &back));
	assert_false(
		sr_audit_checkpoint_sig_ok(sr_audit_signer_public_key(other), "platform", &back));
	back.seq = 53;
	assert_false(sr_audit_checkpoint_sig_ok(sr_audit_signer_public_key(s), "platform", &back));
	back.seq = 52;
	back.hash[0] ^= 1;
	assert_false(sr_audit_checkpoint_sig_ok(sr_audit_signer_public_key(s), "platform", &back));
	sr_audit_signer_free(s);
	sr_audit_signer_free(other);
}

static int parse_str(const char *line)
{
	struct sr_audit_checkpoint cp;
	return sr_audit_checkpoint_parse_line(line, strlen(line), &cp);
}

static void test_checkpoint_parse_strict(void **state)
{
	(void)state;
	struct sr_audit_signer *s = signer_with(3);
	struct sr_audit_checkpoint cp = signed_cp(s, "vault", 1);
	char line[SR_AUDIT_CP_LINE_MAX], bad[2 * SR_AUDIT_CP_LINE_MAX];
	int n = sr_audit_checkpoint_format(&cp, line, sizeof line);
	line[n - 1] = '\0';
	assert_int_equal(parse_str(line), 0);

	/* version, seq shape, separators, hex case, timestamp shape */
	snprintf(bad, sizeof bad, "v2%s", line + 2);
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "v1 01%s", line + 4);
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "v1 -1%s", line + 4);
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "v1 99999999999999999999%s", line + 4);
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "v1 9223372036854775807%s", line + 4);
	assert_int_equal(parse_str(bad), 0);
	snprintf(bad, sizeof bad, "%s", line);
	bad[10] = 'A';
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "%s", line);
	bad[5 + 64 + 5] = '/'; /* the '-' of the date */
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "%s ", line);
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	snprintf(bad, sizeof bad, "%s", line);
	bad[strlen(bad) - 1] = '\0';
	assert_int_equal(parse_str(bad), SR_E_INVAL);
	assert_int_equal(parse_str(""), SR_E_INVAL);
	assert_int_equal(parse_str("v1 "), SR_E_INVAL);
	sr_audit_signer_free(s);
}

static int count_cb(const struct sr_audit_checkpoint *cp, unsigned line, void *arg)
{
	(void)cp;
	(void)line;
	(*(unsigned *)arg)++;
	return 0;
}

static void test_checkpoint_file_parse(void **state)
{
	(void)state;
	struct sr_audit_signer *s = signer_with(3);
	struct sr_audit_cp_parse_info info;
	char file[4 * SR_AUDIT_CP_LINE_MAX];
	size_t len = 0;
	unsigned seen = 0;

	for (int64_t seq = 1; seq <= 3; seq++) {
		struct sr_audit_checkpoint cp = signed_cp(s, "platform", seq);
		int n = sr_audit_checkpoint_format(&cp, file + len, sizeof file - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	assert_int_equal(sr_audit_checkpoint_parse(file, len, count_cb, &seen, &info), 0);
	assert_int_equal(seen, 3);
	assert_int_equal(info.lines, 3);
	assert_false(info.torn_tail);

	/* a crash mid-write leaves a last line without '\n': skipped, reported */
	seen = 0;
	assert_int_equal(sr_audit_checkpoint_parse(file, len - 40, count_cb, &seen, &info), 0);
	assert_int_equal(seen, 2);
	assert_true(info.torn_tail);

	/* the same damage in the middle of the file is an error naming the line */
	char edited[sizeof file];
	memcpy(edited, file, len);
	edited[20] = 'x';
	assert_int_equal(sr_audit_checkpoint_parse(edited, len, NULL, NULL, &info), SR_E_INVAL);
	assert_int_equal(info.bad_line, 1);

	/* an empty line, an overlong line */
	assert_int_equal(sr_audit_checkpoint_parse("\n", 1, NULL, NULL, &info), SR_E_INVAL);
	char *lng = malloc(SR_AUDIT_CP_LINE_MAX + 2);
	memset(lng, 'v', SR_AUDIT_CP_LINE_MAX + 1);
	lng[SR_AUDIT_CP_LINE_MAX + 1] = '\n';
	assert_int_equal(
		sr_audit_checkpoint_parse(lng, SR_AUDIT_CP_LINE_MAX + 2, NULL, NULL, &info),
		SR_E_LIMIT);
	assert_int_equal(info.bad_line, 1);
	free(lng);
	assert_int_equal(sr_audit_checkpoint_parse("", 0, NULL, NULL, &info), 0);
	assert_int_equal(info.lines, 0);
	sr_audit_signer_free(s);
}

static void test_keyfile_permissions(void **state)
{
	(void)state;
	char dir[] = "/tmp/sr-audit-key-XXXXXX";
	char path[256];
	struct sr_audit_key *key = NULL;
	uint8_t bytes[32];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/audit.key", dir);
	memset(bytes, 7, sizeof bytes);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, sizeof bytes, f), sizeof bytes);
	fclose(f);

	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(sr_audit_key_load(path, &key), SR_E_CONFIG);
	assert_null(key);
	assert_int_equal(chmod(path, 0440), 0);
	assert_int_equal(sr_audit_key_load(path, &key), SR_E_CONFIG);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(sr_audit_key_load(path, &key), 0);
	assert_memory_equal(sr_audit_key_bytes(key), bytes, 32);
	sr_audit_key_free(key);

	/* wrong length */
	assert_int_equal(chmod(path, 0600), 0);
	f = fopen(path, "ab");
	fputc('x', f);
	fclose(f);
	assert_int_equal(sr_audit_key_load(path, &key), SR_E_INVAL);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(sr_audit_key_load(path, &key), SR_E_IO);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_is_deterministic),
		cmocka_unit_test(test_encoding_unambiguous),
		cmocka_unit_test(test_every_field_covered),
		cmocka_unit_test(test_mac_depends_on_key),
		cmocka_unit_test(test_event_validation),
		cmocka_unit_test(test_checkpoint_roundtrip),
		cmocka_unit_test(test_checkpoint_parse_strict),
		cmocka_unit_test(test_checkpoint_file_parse),
		cmocka_unit_test(test_keyfile_permissions),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
