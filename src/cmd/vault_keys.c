/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom vault init-shares` and `strongroom vault rotate-keys`: the
 * operator's key commands for the vault (procedures in docs/keys.md).
 *
 * Who holds what: both commands read the vault's KEK from [vault] kek_file
 * into sodium_malloc memory and wipe it before exiting; they run as the
 * vault's user on the vault's host. init-shares splits the KEK into m-of-n
 * Shamir shares for custody and hands each share to one person only (one at
 * a time on the terminal, or one file each): shares are never printed
 * together and never logged or audited. rotate-keys works on the live
 * database next to running vault instances (the key ring serializes changes
 * on its lock row); running instances pick up new keys from the database.
 */
#include "audit/audit.h"
#include "base/config.h"
#include "base/mem.h"
#include "cmd/cmd.h"
#include "cmd/prompt.h"
#include "crypto/keyfile.h"
#include "crypto/shares.h"
#include "store/migrate.h"
#include "store/store.h"
#include "vault/keyring.h"
#include "vault/keys_api.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_RSA_GRACE_S 86400
#define PROGRESS_WIDTH      30

/* ---- shared ---------------------------------------------------------------- */

/* What both commands open: the config, the vault database and its audit key. */
struct vault_ctx {
	const char *cmd;
	struct sr_config *cfg;
	struct sr_store *st;
	struct sr_audit_key *audit_key;
};

static int ctx_open(struct vault_ctx *c, const char *config)
{
	char err[512] = "";
	char *path = NULL;
	int rc = sr_config_load(config, &c->cfg, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "strongroom vault %s: %s\n", c->cmd, err);
		goto out;
	}
	rc = sr_store_open_for_service(c->cfg, "vault", 1, &c->st, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "strongroom vault %s: cannot open the vault database: %s\n", c->cmd,
			err[0] ? err : sr_strerror(rc));
		goto out;
	}
	/* As the vault does on start: the key tables may be newer than the
	 * database (an instance never started since an upgrade). */
	rc = sr_migrate(c->st, "vault", err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "strongroom vault %s: cannot migrate the vault database: %s\n",
			c->cmd, err[0] ? err : sr_strerror(rc));
		goto out;
	}
	path = sr_config_path(c->cfg, "vault", "audit_key_file");
	rc = sr_audit_key_load(path, &c->audit_key);
	if (rc != 0)
		fprintf(stderr, "strongroom vault %s: cannot use the audit key %s: %s\n", c->cmd,
			path ? path : "(unset)", sr_strerror(rc));
out:
	free(path);
	return rc;
}

static void ctx_close(struct vault_ctx *c)
{
	sr_audit_key_free(c->audit_key);
	sr_store_close(c->st);
	sr_config_free(c->cfg);
}

/* Records a key-management event by the operator's command. */
static int audit(struct vault_ctx *c, const char *action, const char *outcome, const char *details)
{
	struct sr_audit_event ev = {
		.actor_type = "system",
		.actor_id = "cli",
		.action = action,
		.object_type = "keyring",
		.object_id = "vault",
		.outcome = outcome,
		.details = details,
	};
	int rc = sr_audit_record(c->st, c->audit_key, &ev);
	if (rc != 0)
		fprintf(stderr, "strongroom vault %s: cannot record %s in the audit log: %s\n",
			c->cmd, action, sr_strerror(rc));
	return rc;
}

/*
 * The KEK from M of its shares, for a production vault (kek_source =
 * shares) that has no KEK file anywhere: the operators type their shares
 * one after another (no echo), or they come one per line on stdin. Each is
 * checked as it comes: a mistyped one, one of another split or one given
 * twice is refused (and asked again on a terminal) before anything is
 * combined. The KEK is as strong as the shares' custody for the length of
 * this command only; the texts are wiped once combined.
 */
#define SHARE_INPUT_MAX (SR_SHARES_TEXT_MAX + 64)
static int kek_from_shares(const char *cmd, unsigned char **kek)
{
	char *texts[SR_SHARES_MAX] = {0};
	unsigned xs[SR_SHARES_MAX];
	unsigned m = 0, got = 0;
	unsigned char *share = sodium_malloc(SR_SHARES_SECRET_LEN);
	bool tty = sr_cmd_secret_from_tty();
	int rc = SR_E_NOMEM;

	*kek = NULL;
	if (share == NULL)
		goto out;
	if (tty)
		fprintf(stderr, "Each operator enters one KEK share; the threshold is read from "
				"the first.\n");
	while (m == 0 || got < m) {
		if (texts[got] == NULL &&
		    (texts[got] = sodium_malloc(SHARE_INPUT_MAX + 1)) == NULL) {
			rc = SR_E_NOMEM;
			goto out;
		}
		char prompt[80];
		if (m == 0)
			snprintf(prompt, sizeof prompt, "KEK share 1 (input is hidden): ");
		else
			snprintf(prompt, sizeof prompt,
				 "KEK share %u of %u (input is hidden): ", got + 1, m);
		if (sr_cmd_read_secret(prompt, texts[got], SHARE_INPUT_MAX + 1) < 0) {
			fprintf(stderr, "strongroom vault %s: %s\n", cmd,
				m == 0 ? "no KEK share was given"
				       : "the input ended before the threshold of shares was "
					 "given");
			rc = SR_E_INVAL;
			goto out;
		}
		unsigned sm = 0, x = 0;
		rc = sr_shares_decode(texts[got], &sm, &x, share);
		sodium_memzero(share, SR_SHARES_SECRET_LEN);
		const char *why = NULL;
		if (rc == SR_E_TAMPER)
			why = "that share is mistyped (its checksum does not match)";
		else if (rc != 0)
			why = "that is not a KEK share (srs1-M-X-...)";
		else if (m != 0 && sm != m)
			why = "that share belongs to another split (its threshold differs)";
		for (unsigned i = 0; why == NULL && i < got; i++)
			if (xs[i] == x)
				why = "that share was already given";
		if (why != NULL) {
			fprintf(stderr, "strongroom vault %s: %s\n", cmd, why);
			sodium_memzero(texts[got], SHARE_INPUT_MAX + 1);
			rc = SR_E_INVAL;
			if (!tty)
				goto out;
			continue;
		}
		m = sm;
		xs[got++] = x;
		fprintf(stderr, "share %u of %u accepted\n", got, m);
	}
	rc = sr_shares_combine((const char *const *)texts, got, kek, NULL);
	if (rc != 0)
		fprintf(stderr, "strongroom vault %s: cannot combine the shares: %s\n", cmd,
			sr_strerror(rc));
out:
	for (size_t i = 0; i < SR_SHARES_MAX && texts[i] != NULL; i++)
		sodium_free(texts[i]); /* wipes */
	if (share != NULL)
		sodium_free(share);
	return rc;
}

/*
 * The vault's key ring, opened with the KEK from [vault] kek_file or, with
 * from_shares, from the operators' shares; *kek (when not NULL) gets the KEK
 * in sodium memory for the caller to use and sodium_free. The ring's KEK
 * check refuses a KEK that is not this vault's.
 */
static int open_ring(struct vault_ctx *c, bool from_shares, unsigned char **kek,
		     struct sr_keyring **ring)
{
	char err[512] = "";
	unsigned char *k = NULL;
	int rc;
	if (kek != NULL)
		*kek = NULL;
	if (!from_shares) {
		rc = sr_vault_keys_open(c->cfg, c->st, ring, err, sizeof err);
		if (rc != 0) {
			fprintf(stderr, "strongroom vault %s: %s\n", c->cmd, err);
			return rc;
		}
		if (kek == NULL)
			return 0;
		char *path = sr_config_path(c->cfg, "vault", "kek_file");
		rc = sr_keyfile_read(path, SR_SHARES_SECRET_LEN, &k);
		free(path);
		if (rc != 0) {
			fprintf(stderr, "strongroom vault %s: cannot read the KEK file: %s\n",
				c->cmd, sr_strerror(rc));
			return rc;
		}
		*kek = k;
		return 0;
	}
	if ((rc = kek_from_shares(c->cmd, &k)) != 0)
		return rc;
	rc = sr_keyring_open(c->st, k, ring);
	if (rc == SR_E_AUTH)
		fprintf(stderr,
			"strongroom vault %s: these shares do not recover this vault's KEK "
			"(shares of another vault, or from before a KEK re-wrap)\n",
			c->cmd);
	else if (rc != 0)
		fprintf(stderr, "strongroom vault %s: cannot open the key ring: %s\n", c->cmd,
			sr_strerror(rc));
	if (rc == 0 && kek != NULL) {
		*kek = k;
		k = NULL;
	}
	if (k != NULL)
		sodium_free(k);
	return rc;
}

static int parse_uint(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
		      long long *out)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "strongroom vault %s: %s wants %lld..%lld, not '%s'\n", cmd, opt,
			lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- init-shares ---------------------------------------------------------- */

static void usage_init_shares(FILE *f)
{
	fprintf(f,
		"usage: strongroom vault init-shares --config FILE --shares N --threshold M\n"
		"                                    [--out-dir DIR] [--kek-from-shares]\n"
		"\n"
		"Splits the vault's KEK ([vault] kek_file) into N Shamir shares, any M of which\n"
		"recover it, for production custody (one share per operator). The shares are\n"
		"checked (M of them must combine back to the KEK) before any is shown.\n"
		"With --kek-from-shares the KEK comes from the current shares instead of a file\n"
		"(operators enter theirs one at a time): a new split, e.g. to replace an\n"
		"operator or change N and M; the old shares keep working until the KEK changes.\n"
		"\n"
		"Without --out-dir, shares are shown on the terminal ONE AT A TIME: 'Share K of\n"
		"N for operator K', then Enter clears the screen before the next share. Only\n"
		"operator K should look at the screen while share K is shown.\n"
		"With --out-dir DIR, each share goes to its own file DIR/share-K.txt (mode 0400,\n"
		"existing files are never overwritten) for distribution; nothing is printed.\n"
		"The audit log records keys.init_shares with M and N, never the shares.\n"
		"\n"
		"options:\n"
		"  -c, --config FILE     strongroom.conf of the instance (required)\n"
		"  -n, --shares N        number of shares, 2..%d (required)\n"
		"  -m, --threshold M     shares needed to recover the KEK, 2..N (required)\n"
		"  -o, --out-dir DIR     write one file per share instead of showing them\n"
		"  -s, --kek-from-shares recover the KEK from M current shares (hidden input,\n"
		"                        or one per line on stdin) instead of kek_file\n"
		"  -h, --help            show this help\n",
		SR_SHARES_MAX);
}

/* Splits again and again is pointless; check the split we hand out: the
 * first M and the last M shares must both recover the KEK. */
static int check_split(char **texts, unsigned m, unsigned n, const unsigned char *kek)
{
	int rc = 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		unsigned char *back = NULL;
		const char *const *set = (const char *const *)(pass == 0 ? texts : texts + (n - m));
		rc = sr_shares_combine(set, m, &back, NULL);
		if (rc == 0 && sodium_memcmp(back, kek, SR_SHARES_SECRET_LEN) != 0)
			rc = SR_E_CRYPTO;
		if (back != NULL)
			sodium_free(back);
	}
	return rc;
}

static int write_share_files(const char *dir, char **texts, unsigned n)
{
	int rc = 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "strongroom vault init-shares: cannot create %s: %s\n", dir,
			strerror(errno));
		return SR_E_IO;
	}
	/* Refuse before writing anything: a share of an earlier split must not
	 * be replaced by one that does not combine with its siblings. */
	for (unsigned k = 1; k <= n; k++) {
		char *p = sr_xasprintf("%s/share-%u.txt", dir, k);
		bool exists = access(p, F_OK) == 0;
		if (exists)
			fprintf(stderr,
				"strongroom vault init-shares: %s exists; refusing to overwrite a "
				"share (use an empty folder)\n",
				p);
		free(p);
		if (exists)
			return SR_E_EXISTS;
	}
	for (unsigned k = 1; k <= n && rc == 0; k++) {
		char *p = sr_xasprintf("%s/share-%u.txt", dir, k);
		size_t len = strlen(texts[k - 1]);
		char *line = sodium_malloc(len + 2);
		if (line == NULL) {
			rc = SR_E_NOMEM;
		} else {
			memcpy(line, texts[k - 1], len);
			line[len] = '\n';
			rc = sr_keyfile_write(p, line, len + 1, 0400);
			sodium_free(line);
		}
		if (rc != 0)
			fprintf(stderr, "strongroom vault init-shares: cannot write %s: %s\n", p,
				sr_strerror(rc));
		free(p);
	}
	return rc;
}

/* Waits for Enter from the terminal (stdin when there is none). */
static void wait_enter(void)
{
	FILE *tty = fopen("/dev/tty", "r");
	FILE *in = tty ? tty : stdin;
	int ch;
	while ((ch = fgetc(in)) != EOF && ch != '\n')
		;
	if (tty != NULL)
		fclose(tty);
}

static void show_shares(char **texts, unsigned m, unsigned n)
{
	/* ESC[2J clears the screen, ESC[3J the scrollback, ESC[H homes the cursor. */
	static const char clear[] = "\033[2J\033[3J\033[H";
	printf("%s", clear);
	for (unsigned k = 1; k <= n; k++) {
		printf("Share %u of %u for operator %u (any %u shares recover the vault KEK)\n\n"
		       "    %s\n\n"
		       "Operator %u: write this share down or store it in your safe now; do not\n"
		       "show it to anyone. Press Enter to clear the screen.",
		       k, n, k, m, texts[k - 1], k);
		fflush(stdout);
		wait_enter();
		printf("%s", clear);
		fflush(stdout);
	}
	printf("All %u shares were shown. Any %u of them recover the vault KEK.\n", n, m);
}

static int cmd_init_shares(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"shares", required_argument, NULL, 'n'},
		{"threshold", required_argument, NULL, 'm'},
		{"out-dir", required_argument, NULL, 'o'},
		{"kek-from-shares", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct vault_ctx c = {.cmd = "init-shares"};
	bool from_shares = false;
	const char *config = NULL, *out_dir = NULL;
	long long n = 0, m = 0;
	unsigned char *kek = NULL;
	struct sr_keyring *ring = NULL;
	char **texts = NULL;
	int ch, rc, status = 1;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:n:m:o:sh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'n':
			if (parse_uint(c.cmd, "--shares", optarg, 2, SR_SHARES_MAX, &n) != 0)
				return 2;
			break;
		case 'm':
			if (parse_uint(c.cmd, "--threshold", optarg, 2, SR_SHARES_MAX, &m) != 0)
				return 2;
			break;
		case 'o': out_dir = optarg; break;
		case 's': from_shares = true; break;
		case 'h': usage_init_shares(stdout); return 0;
		default:
			fprintf(stderr,
				"strongroom vault init-shares: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage_init_shares(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "strongroom vault init-shares: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (config == NULL || n == 0 || m == 0) {
		fprintf(stderr, "strongroom vault init-shares: --config, --shares and --threshold "
				"are required\n");
		usage_init_shares(stderr);
		return 2;
	}
	if (m > n) {
		fprintf(stderr,
			"strongroom vault init-shares: --threshold (%lld) exceeds --shares "
			"(%lld)\n",
			m, n);
		return 2;
	}
	if (ctx_open(&c, config) != 0)
		goto out;
	/* Split only the KEK that really opens this vault: shares of a wrong
	 * file would be discovered on the day they are needed. */
	if (open_ring(&c, from_shares, &kek, &ring) != 0)
		goto out;
	rc = sr_shares_split(kek, (unsigned)m, (unsigned)n, &texts);
	if (rc == 0)
		rc = check_split(texts, (unsigned)m, (unsigned)n, kek);
	if (rc != 0) {
		fprintf(stderr, "strongroom vault init-shares: cannot split the KEK: %s\n",
			sr_strerror(rc));
		goto out;
	}
	if (out_dir != NULL)
		rc = write_share_files(out_dir, texts, (unsigned)n);
	else
		show_shares(texts, (unsigned)m, (unsigned)n);
	char details[128];
	snprintf(details, sizeof details,
		 "{\"m\":%lld,\"n\":%lld,\"delivery\":\"%s\",\"kek_from\":\"%s\"}", m, n,
		 out_dir ? "files" : "terminal", from_shares ? "shares" : "file");
	if (rc != 0) {
		(void)audit(&c, "keys.init_shares", "failure", details);
		goto out;
	}
	if (audit(&c, "keys.init_shares", "success", details) != 0)
		goto out;
	if (out_dir != NULL)
		printf("Wrote %lld shares (any %lld recover the KEK) to %s/share-1.txt .. "
		       "share-%lld.txt, mode 0400.\nGive each file to one operator and delete it "
		       "here "
		       "once delivered.\n",
		       n, m, out_dir, n);
	status = 0;
out:
	sr_shares_free(texts, (size_t)n);
	if (kek != NULL)
		sodium_free(kek);
	sr_keyring_close(ring);
	ctx_close(&c);
	return status;
}

/* ---- rotate-keys ---------------------------------------------------------- */

static void usage_rotate_keys(FILE *f)
{
	fprintf(f,
		"usage: strongroom vault rotate-keys --config FILE [--new-kek-file PATH]\n"
		"                                    [--rsa-grace-seconds S] [--rewrap-only]\n"
		"                                    [--kek-from-shares]\n"
		"\n"
		"Rotates the vault's keys in its database, while vault instances keep running:\n"
		"  - a new active data key (the previous one still decrypts);\n"
		"  - a new RSA-2048 client-encryption key, published in /v1/jwks.json first;\n"
		"    the previous kid stays listed and keeps decrypting for S seconds\n"
		"    (default %d; pick more than the JWKS cache time, 300 s);\n"
		"  - with --new-kek-file, then re-wraps every stored key under the KEK in PATH\n"
		"    (32 bytes, mode 0400; store it, or its shares, safely BEFORE running),\n"
		"    showing progress on stderr. When it finishes, point [vault] kek_file at\n"
		"    PATH and restart the vault instances: the old KEK no longer opens it.\n"
		"\n"
		"If a re-wrap stops (crash, Ctrl-C, database error), nothing is lost: keep both\n"
		"KEK files and run the same command again with the OLD kek_file and the SAME\n"
		"--new-kek-file (add --rewrap-only to skip another rotation); it resumes where\n"
		"it stopped. See docs/keys.md.\n"
		"A vault that runs with kek_source = shares has no KEK file: --kek-from-shares\n"
		"recovers the current KEK from M shares entered by the operators one at a time.\n"
		"The audit log records keys.rotate and keys.rewrap with counts.\n"
		"\n"
		"options:\n"
		"  -c, --config FILE             strongroom.conf of the instance (required)\n"
		"  -k, --new-kek-file PATH       re-wrap all keys under this new KEK\n"
		"  -g, --rsa-grace-seconds S     grace of the previous RSA kid (default %d)\n"
		"  -r, --rewrap-only             skip the data/RSA key rotation (resume a "
		"re-wrap)\n"
		"  -s, --kek-from-shares         recover the current KEK from M shares (hidden\n"
		"                                input, or one per line on stdin)\n"
		"  -h, --help                    show this help\n",
		DEFAULT_RSA_GRACE_S, DEFAULT_RSA_GRACE_S);
}

struct progress {
	bool tty;
	uint64_t total;
	uint64_t done;
};

static int on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	char bar[PROGRESS_WIDTH + 1];
	size_t fill = total ? (size_t)(done * PROGRESS_WIDTH / total) : PROGRESS_WIDTH;
	for (size_t i = 0; i < PROGRESS_WIDTH; i++)
		bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
	if (fill > 0 && fill < PROGRESS_WIDTH)
		bar[fill - 1] = '=';
	bar[PROGRESS_WIDTH] = '\0';
	p->done = done;
	p->total = total;
	/* In place on a terminal; one line per batch into logs and pipes. */
	fprintf(stderr, "%sre-wrapping keys: %" PRIu64 "/%" PRIu64 " [%s]%s", p->tty ? "\r" : "",
		done, total, bar, p->tty ? "" : "\n");
	fflush(stderr);
	return 0;
}

static int cmd_rotate_keys(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"new-kek-file", required_argument, NULL, 'k'},
		{"rsa-grace-seconds", required_argument, NULL, 'g'},
		{"rewrap-only", no_argument, NULL, 'r'},
		{"kek-from-shares", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct vault_ctx c = {.cmd = "rotate-keys"};
	const char *config = NULL, *new_kek_path = NULL;
	long long grace = DEFAULT_RSA_GRACE_S;
	bool rewrap_only = false, from_shares = false;
	struct sr_keyring *ring = NULL;
	unsigned char *new_kek = NULL;
	char dk[SR_KEYRING_ID_MAX + 1] = "", kid[SR_KEYRING_ID_MAX + 1] = "";
	char old_kid[SR_KEYRING_ID_MAX + 1] = "";
	char details[512];
	int ch, rc, status = 1;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:k:g:rsh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'k': new_kek_path = optarg; break;
		case 'g':
			if (parse_uint(c.cmd, "--rsa-grace-seconds", optarg, 0, 366LL * 86400,
				       &grace) != 0)
				return 2;
			break;
		case 'r': rewrap_only = true; break;
		case 's': from_shares = true; break;
		case 'h': usage_rotate_keys(stdout); return 0;
		default:
			fprintf(stderr,
				"strongroom vault rotate-keys: unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage_rotate_keys(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "strongroom vault rotate-keys: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (config == NULL) {
		fprintf(stderr, "strongroom vault rotate-keys: --config FILE is required\n");
		usage_rotate_keys(stderr);
		return 2;
	}
	if (rewrap_only && new_kek_path == NULL) {
		fprintf(stderr,
			"strongroom vault rotate-keys: --rewrap-only needs --new-kek-file\n");
		return 2;
	}
	if (ctx_open(&c, config) != 0)
		goto out;
	/* Read the new KEK before changing anything: a bad file must not leave
	 * a rotation done and a re-wrap not started. */
	if (new_kek_path != NULL) {
		rc = sr_keyfile_read(new_kek_path, SR_KEYRING_KEK_LEN, &new_kek);
		if (rc != 0) {
			fprintf(stderr,
				"strongroom vault rotate-keys: cannot read the new KEK file %s: "
				"%s%s\n",
				new_kek_path, sr_strerror(rc),
				rc == SR_E_CONFIG  ? " (chmod 0400)"
				: rc == SR_E_LIMIT ? " (must be exactly 32 bytes)"
						   : "");
			goto out;
		}
	}
	if (open_ring(&c, from_shares, NULL, &ring) != 0)
		goto out;
	if (!rewrap_only) {
		if (sr_keyring_active_kid(ring, old_kid) != 0)
			old_kid[0] = '\0';
		rc = sr_keyring_rotate_data_key(ring, dk);
		if (rc == 0)
			rc = sr_keyring_rotate_rsa(ring, grace, kid);
		snprintf(details, sizeof details,
			 "{\"data_keys_rotated\":%d,\"rsa_keys_rotated\":%d,\"data_key\":\"%s\","
			 "\"kid\":\"%s\",\"previous_kid\":\"%s\",\"rsa_grace_seconds\":%lld}",
			 dk[0] ? 1 : 0, kid[0] ? 1 : 0, dk, kid, old_kid, grace);
		if (rc != 0) {
			fprintf(stderr, "strongroom vault rotate-keys: rotation failed: %s\n",
				sr_strerror(rc));
			(void)audit(&c, "keys.rotate", "failure", details);
			goto out;
		}
		if (audit(&c, "keys.rotate", "success", details) != 0)
			goto out;
		printf("Rotated: new data key %s; new RSA kid %s published (previous kid %s "
		       "accepted for %lld more seconds).\n",
		       dk, kid, old_kid[0] ? old_kid : "-", grace);
		fflush(stdout);
	}
	if (new_kek != NULL) {
		struct progress p = {.tty = isatty(STDERR_FILENO) == 1};
		rc = sr_keyring_rewrap(ring, new_kek, 0, on_progress, &p);
		if (p.tty && p.total > 0)
			fputc('\n', stderr);
		snprintf(details, sizeof details,
			 "{\"keys\":%" PRIu64 ",\"rewrapped\":%" PRIu64 "}", p.total, p.done);
		if (rc != 0) {
			(void)audit(&c, "keys.rewrap", "failure", details);
			if (rc == SR_E_INVAL)
				fprintf(stderr,
					"strongroom vault rotate-keys: the new KEK is the current "
					"KEK; generate a new one\n");
			else if (rc == SR_E_CONFLICT)
				fprintf(stderr, "strongroom vault rotate-keys: a re-wrap to a "
						"DIFFERENT KEK is "
						"in progress; finish it first with that KEK file "
						"(--rewrap-only --new-kek-file THAT_FILE)\n");
			else
				fprintf(stderr,
					"strongroom vault rotate-keys: re-wrap stopped after "
					"%" PRIu64 " of %" PRIu64 " keys: %s.\n"
					"Nothing is lost: keep BOTH KEK files. Resume with the "
					"same "
					"command and the current [vault] kek_file (the OLD KEK):\n"
					"  strongroom vault rotate-keys --config %s --new-kek-file "
					"%s "
					"--rewrap-only\n"
					"See docs/keys.md, 'Recovery after a crash or a stop'.\n",
					p.done, p.total, sr_strerror(rc), config, new_kek_path);
			goto out;
		}
		if (audit(&c, "keys.rewrap", "success", details) != 0)
			goto out;
		printf("Re-wrap complete: %" PRIu64
		       " keys are now wrapped under the new KEK in %s.\n"
		       "Now point [vault] kek_file at %s (or set STRONGROOM_VAULT_KEK_FILE) and "
		       "restart every vault instance: the old KEK no longer opens this vault.\n"
		       "If you hold the KEK as shares, run 'strongroom vault init-shares' again "
		       "for the new KEK.\n",
		       p.total, new_kek_path, new_kek_path);
	}
	status = 0;
out:
	if (new_kek != NULL)
		sodium_free(new_kek);
	sr_keyring_close(ring);
	ctx_close(&c);
	return status;
}

int sr_cmd_vault_keys(int argc, char **argv)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "strongroom vault: libsodium failed to initialise\n");
		return 1;
	}
	if (strcmp(argv[0], "init-shares") == 0)
		return cmd_init_shares(argc, argv);
	return cmd_rotate_keys(argc, argv);
}
