/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit checkpoints: a strict parser for the checkpoint file (outside input:
 * whoever can write the file can put anything there), its formatter, Ed25519
 * signing, and the periodic writer the services call.
 *
 * Secrets: the Ed25519 seed is read from its key file into sodium_malloc
 * memory. Only the service that owns the log signs; verifiers need only the
 * public half (today derived from the same seed file by the offline
 * verifier; it could be published instead).
 */
#include "audit/checkpoint.h"
#include "audit/audit.h"
#include "base/log.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CP_DOMAIN   "strongroom-audit-checkpoint-v1"
#define SERVICE_MAX 32

struct sr_audit_signer {
	uint8_t *sk; /* sodium_malloc, crypto_sign_SECRETKEYBYTES, read-only */
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
};

/* ---- keys ---------------------------------------------------------------- */

int sr_audit_signer_from_seed(const uint8_t *seed, size_t len, struct sr_audit_signer **out)
{
	struct sr_audit_signer *s;

	*out = NULL;
	if (seed == NULL || len != SR_AUDIT_SIGN_SEED_LEN)
		return SR_E_INVAL;
	s = calloc(1, sizeof *s);
	if (s == NULL)
		abort();
	s->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (s->sk == NULL)
		abort();
	if (crypto_sign_seed_keypair(s->pk, s->sk, seed) != 0) {
		sr_audit_signer_free(s);
		return SR_E_CRYPTO;
	}
	sodium_mprotect_readonly(s->sk);
	*out = s;
	return 0;
}

int sr_audit_signer_load(const char *path, struct sr_audit_signer **out)
{
	uint8_t *seed;
	int rc;

	*out = NULL;
	if (path == NULL || *path == '\0')
		return SR_E_CONFIG;
	seed = sodium_malloc(SR_AUDIT_SIGN_SEED_LEN);
	if (seed == NULL)
		abort();
	rc = sr_audit_read_keyfile(path, seed, SR_AUDIT_SIGN_SEED_LEN);
	if (rc == 0)
		rc = sr_audit_signer_from_seed(seed, SR_AUDIT_SIGN_SEED_LEN, out);
	sodium_free(seed);
	return rc;
}

void sr_audit_signer_free(struct sr_audit_signer *s)
{
	if (s == NULL)
		return;
	sodium_free(s->sk);
	free(s);
}

const uint8_t *sr_audit_signer_public_key(const struct sr_audit_signer *s)
{
	return s->pk;
}

/* ---- signing ------------------------------------------------------------- */

static void hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The signed message; service is bounded by the callers' checks. */
static int message(const char *service, const struct sr_audit_checkpoint *cp, char *buf, size_t len)
{
	char h[2 * SR_AUDIT_HASH_LEN + 1];
	int n;

	if (service == NULL || strlen(service) > SERVICE_MAX)
		return SR_E_INVAL;
	hex(cp->hash, SR_AUDIT_HASH_LEN, h);
	n = snprintf(buf, len, CP_DOMAIN "|%s|%lld|%s|%s", service, (long long)cp->seq, h, cp->ts);
	if (n < 0 || (size_t)n >= len)
		return SR_E_LIMIT;
	return n;
}

void sr_audit_checkpoint_sign(const struct sr_audit_signer *s, const char *service,
			      struct sr_audit_checkpoint *cp)
{
	char msg[256];
	int n = message(service, cp, msg, sizeof msg);

	if (n < 0) {
		/* A caller bug (service name); an all-zero signature never verifies. */
		memset(cp->sig, 0, sizeof cp->sig);
		return;
	}
	crypto_sign_detached(cp->sig, NULL, (const uint8_t *)msg, (size_t)n, s->sk);
}

bool sr_audit_checkpoint_sig_ok(const uint8_t pk[SR_AUDIT_SIGN_PK_LEN], const char *service,
				const struct sr_audit_checkpoint *cp)
{
	char msg[256];
	int n = message(service, cp, msg, sizeof msg);

	if (n < 0)
		return false;
	return crypto_sign_verify_detached(cp->sig, (const uint8_t *)msg, (size_t)n, pk) == 0;
}

/* ---- parsing ------------------------------------------------------------- */

static int unhex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is refused: one spelling per checkpoint */
}

static bool unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = unhex_digit(s[2 * i]), lo = unhex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", each part in range (not a calendar check). */
static bool ts_ok(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	for (size_t i = 0; i < SR_AUDIT_CP_TS_LEN; i++) {
		if (shape[i] == 'd' ? !digits(t + i, 1) : t[i] != shape[i])
			return false;
	}
	int mon = (t[5] - '0') * 10 + (t[6] - '0'), day = (t[8] - '0') * 10 + (t[9] - '0');
	int hh = (t[11] - '0') * 10 + (t[12] - '0'), mm = (t[14] - '0') * 10 + (t[15] - '0');
	int ss = (t[17] - '0') * 10 + (t[18] - '0');
	return mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hh <= 23 && mm <= 59 && ss <= 60;
}

int sr_audit_checkpoint_parse_line(const char *line, size_t len, struct sr_audit_checkpoint *out)
{
	size_t i = 0, start;
	int64_t seq = 0;

	memset(out, 0, sizeof *out);
	if (len < 3 || line[0] != 'v' || line[1] != '1' || line[2] != ' ')
		return SR_E_INVAL;
	i = 3;
	start = i;
	while (i < len && line[i] >= '0' && line[i] <= '9') {
		int d = line[i] - '0';
		if (seq > (INT64_MAX - d) / 10)
			return SR_E_INVAL;
		seq = seq * 10 + d;
		i++;
	}
	if (i == start || (line[start] == '0' && i - start > 1))
		return SR_E_INVAL;
	/* The rest has a fixed width. */
	if (len - i !=
	    1 + 2 * SR_AUDIT_HASH_LEN + 1 + SR_AUDIT_CP_TS_LEN + 1 + 2 * SR_AUDIT_CP_SIG_LEN)
		return SR_E_INVAL;
	if (line[i++] != ' ' || !unhex(line + i, SR_AUDIT_HASH_LEN, out->hash))
		return SR_E_INVAL;
	i += 2 * SR_AUDIT_HASH_LEN;
	if (line[i++] != ' ' || !ts_ok(line + i))
		return SR_E_INVAL;
	memcpy(out->ts, line + i, SR_AUDIT_CP_TS_LEN);
	out->ts[SR_AUDIT_CP_TS_LEN] = '\0';
	i += SR_AUDIT_CP_TS_LEN;
	if (line[i++] != ' ' || !unhex(line + i, SR_AUDIT_CP_SIG_LEN, out->sig))
		return SR_E_INVAL;
	out->seq = seq;
	return 0;
}

int sr_audit_checkpoint_format(const struct sr_audit_checkpoint *cp, char *buf, size_t len)
{
	char h[2 * SR_AUDIT_HASH_LEN + 1], sig[2 * SR_AUDIT_CP_SIG_LEN + 1];
	int n;

	hex(cp->hash, SR_AUDIT_HASH_LEN, h);
	hex(cp->sig, SR_AUDIT_CP_SIG_LEN, sig);
	n = snprintf(buf, len, "v1 %lld %s %s %s\n", (long long)cp->seq, h, cp->ts, sig);
	if (n < 0 || (size_t)n >= len)
		return SR_E_LIMIT;
	return n;
}

int sr_audit_checkpoint_parse(const char *buf, size_t len, sr_audit_cp_fn fn, void *arg,
			      struct sr_audit_cp_parse_info *info)
{
	struct sr_audit_checkpoint cp;
	size_t pos = 0;
	unsigned lineno = 0;
	int rc;

	memset(info, 0, sizeof *info);
	if (len > (size_t)SR_AUDIT_CP_FILE_MAX)
		return SR_E_LIMIT;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len;
		size_t n = end - pos;

		lineno++;
		if (n + 1 > SR_AUDIT_CP_LINE_MAX) {
			info->bad_line = lineno;
			return SR_E_LIMIT;
		}
		rc = sr_audit_checkpoint_parse_line(buf + pos, n, &cp);
		if (rc != 0) {
			if (nl == NULL) {
				/* Only the very last line may be cut short, and only
				 * by a crash during its write. */
				info->torn_tail = true;
				return 0;
			}
			info->bad_line = lineno;
			return rc;
		}
		info->lines++;
		if (fn != NULL) {
			rc = fn(&cp, lineno, arg);
			if (rc != 0)
				return rc;
		}
		pos = end + 1;
	}
	return 0;
}

int sr_audit_checkpoint_read(const char *path, sr_audit_cp_fn fn, void *arg,
			     struct sr_audit_cp_parse_info *info)
{
	struct stat sb;
	char *buf = NULL;
	size_t got = 0, size;
	int fd, rc;

	memset(info, 0, sizeof *info);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? SR_E_NOTFOUND : SR_E_IO;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = SR_E_IO;
		goto out;
	}
	if (sb.st_size > SR_AUDIT_CP_FILE_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	size = (size_t)sb.st_size;
	/* One byte more than allowed tells a file that grew past the limit. */
	buf = malloc(size + 1);
	if (buf == NULL)
		abort();
	for (;;) {
		ssize_t n = read(fd, buf + got, size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = SR_E_IO;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == size + 1) {
			/* Appended to while we read: verify what fstat saw. */
			got = size;
			break;
		}
	}
	rc = sr_audit_checkpoint_parse(buf, got, fn, arg, info);
out:
	free(buf);
	close(fd);
	return rc;
}

/* ---- writing ------------------------------------------------------------- */

/* Cuts a last line that lacks its '\n' (a write torn by a crash), so the
 * next line starts on a line of its own. */
static int cut_torn_tail(int fd)
{
	struct stat sb;
	char buf[SR_AUDIT_CP_LINE_MAX];
	off_t size, from;
	ssize_t n;

	if (fstat(fd, &sb) != 0)
		return SR_E_IO;
	size = sb.st_size;
	if (size == 0)
		return 0;
	from = size > (off_t)sizeof buf ? size - (off_t)sizeof buf : 0;
	n = pread(fd, buf, (size_t)(size - from), from);
	if (n != size - from)
		return SR_E_IO;
	if (buf[n - 1] == '\n')
		return 0;
	for (ssize_t i = n - 1; i >= 0; i--) {
		if (buf[i] == '\n')
			return ftruncate(fd, from + i + 1) == 0 ? 0 : SR_E_IO;
	}
	if (from == 0)
		return ftruncate(fd, 0) == 0 ? 0 : SR_E_IO;
	/* A "line" longer than any we write: not ours to cut; the verifier will
	 * report it. */
	return 0;
}

static int append_line(const char *path, const char *line, size_t len)
{
	int fd, rc = 0;
	size_t off = 0;

	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0 && errno == ENOENT) {
		char *dir = strdup(path), *slash;
		if (dir == NULL)
			abort();
		slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
				free(dir);
				return SR_E_IO;
			}
		}
		free(dir);
		fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
			  0600);
	}
	if (fd < 0)
		return SR_E_IO;
	rc = cut_torn_tail(fd);
	if (rc != 0)
		goto out;
	while (off < len) {
		ssize_t n = write(fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = SR_E_IO;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		rc = SR_E_IO;
out:
	close(fd);
	return rc;
}

struct head_arg {
	const struct sr_audit_key *key;
	struct sr_audit_checkpoint *cp;
};

/* Reads the head and checks it against the record it names. */
static int read_head(struct sr_conn *c, void *argp)
{
	struct head_arg *a = argp;
	struct sr_stmt *s = NULL;
	const void *blob, *mac;
	size_t blen = 0, mlen = 0;
	int rc;

	a->cp->seq = 0;
	memset(a->cp->hash, 0, SR_AUDIT_HASH_LEN);
	rc = sr_stmt_prepare(c, "SELECT seq, hash FROM audit_head WHERE id = 1", &s);
	if (rc != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc <= 0)
		goto out; /* no head yet: an empty log */
	a->cp->seq = sr_stmt_col_i64(s, 0);
	blob = sr_stmt_col_blob(s, 1, &blen);
	if (a->cp->seq < 0 || blob == NULL || blen != SR_AUDIT_HASH_LEN) {
		rc = SR_E_TAMPER;
		goto out;
	}
	memcpy(a->cp->hash, blob, SR_AUDIT_HASH_LEN);
	sr_stmt_done(s);
	s = NULL;
	if (a->cp->seq == 0) {
		rc = 0;
		goto out;
	}
	rc = sr_stmt_prepare(c, "SELECT hash, mac FROM audit_log WHERE seq = $1", &s);
	if (rc != 0)
		goto out;
	rc = sr_stmt_bind_i64(s, 1, a->cp->seq);
	if (rc != 0)
		goto out;
	rc = sr_stmt_step(s);
	if (rc < 0)
		goto out;
	blob = rc > 0 ? sr_stmt_col_blob(s, 0, &blen) : NULL;
	mac = rc > 0 ? sr_stmt_col_blob(s, 1, &mlen) : NULL;
	if (blob == NULL || blen != SR_AUDIT_HASH_LEN || !sr_audit_hash_eq(blob, a->cp->hash) ||
	    !sr_audit_chain_mac_ok(sr_audit_key_bytes(a->key), a->cp->hash, mac, mlen)) {
		rc = SR_E_TAMPER;
		goto out;
	}
	rc = 0;
out:
	sr_stmt_done(s);
	return rc;
}

int sr_audit_checkpoint(struct sr_store *st, const struct sr_audit_key *key,
			const struct sr_audit_signer *signer, const char *service, const char *path,
			struct sr_audit_checkpoint *cp_out)
{
	struct sr_audit_checkpoint cp;
	struct head_arg a = {key, &cp};
	char line[SR_AUDIT_CP_LINE_MAX];
	int rc, n;

	memset(&cp, 0, sizeof cp);
	if (service == NULL || *service == '\0' || strlen(service) > SERVICE_MAX || path == NULL)
		return SR_E_INVAL;
	rc = sr_store_tx(st, SR_TX_READ, read_head, &a);
	if (rc == SR_E_TAMPER)
		sr_log(SR_LOG_ERROR, "audit head does not match its record; checkpoint refused",
		       SR_LS("service", service), SR_LI("seq", cp.seq));
	if (rc != 0)
		return rc;
	sr_audit_now(cp.ts, sizeof cp.ts);
	sr_audit_checkpoint_sign(signer, service, &cp);
	n = sr_audit_checkpoint_format(&cp, line, sizeof line);
	if (n < 0)
		return n;
	rc = append_line(path, line, (size_t)n);
	if (rc != 0) {
		sr_log(SR_LOG_ERROR, "cannot append audit checkpoint", SR_LS("service", service),
		       SR_LS("path", path), SR_LS("error", strerror(errno)));
		return rc;
	}
	if (cp_out != NULL)
		*cp_out = cp;
	return 0;
}
