/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom audit verify|tail`: the operator's view of a service's
 * tamper-evident audit log. verify loads the service's audit HMAC key and
 * checkpoint signing seed (it needs the first to check MACs and derives the
 * checkpoint public key from the second), so it must run as the service's
 * user on the service's host. tail reads records only and needs no key.
 * Neither command migrates or writes the database.
 */
#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "audit/verify.h"
#include "base/config.h"
#include "base/mem.h"
#include "cmd/cmd.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAIL_DEFAULT 20
#define TAIL_MAX     10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: strongroom audit verify --config FILE --service platform|vault\n"
		"       strongroom audit tail --config FILE --service platform|vault [-n N] "
		"[--json]\n"
		"\n"
		"verify  walks the whole audit log of the service and checks that no record was\n"
		"        changed, deleted, reordered, forged or cut off the end, against the\n"
		"        audit key and the signed checkpoints. Exit 0 when intact, 1 naming the\n"
		"        first bad record otherwise.\n"
		"tail    shows the latest N records (default %d, at most %d); --json prints one\n"
		"        JSON object per line.\n"
		"\n"
		"options:\n"
		"  --config FILE   strongroom.conf of the instance\n"
		"  --service NAME  platform or vault\n"
		"  -n N            (tail) number of records\n"
		"  --json          (tail) JSON lines instead of a table\n"
		"  -h, --help      this text\n",
		TAIL_DEFAULT, TAIL_MAX);
}

struct opts {
	const char *config;
	const char *service;
	long n;
	bool json;
};

/* Parses the options after the verb; returns -1 to go on, else an exit status. */
static int parse(int argc, char **argv, bool tail, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"service", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	o->n = TAIL_DEFAULT;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+n:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; break;
		case 's': o->service = optarg; break;
		case 'j':
		case 'n':
			if (!tail) {
				fprintf(stderr, "strongroom audit %s: unexpected option '%s'\n",
					argv[0], argv[optind - 1]);
				return 2;
			}
			if (ch == 'j') {
				o->json = true;
			} else {
				char *end = NULL;
				errno = 0;
				o->n = strtol(optarg, &end, 10);
				if (errno != 0 || end == optarg || *end != '\0' || o->n < 1 ||
				    o->n > TAIL_MAX) {
					fprintf(stderr,
						"strongroom audit tail: -n wants 1..%d, not '%s'\n",
						TAIL_MAX, optarg);
					return 2;
				}
			}
			break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "strongroom audit %s: unknown or incomplete option '%s'\n",
				argv[0], argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "strongroom audit %s: unexpected argument '%s'\n", argv[0],
			argv[optind]);
		return 2;
	}
	if (o->config == NULL || o->service == NULL) {
		fprintf(stderr, "strongroom audit %s: --config and --service are required\n",
			argv[0]);
		return 2;
	}
	if (strcmp(o->service, "platform") != 0 && strcmp(o->service, "vault") != 0) {
		fprintf(stderr, "strongroom audit %s: --service must be platform or vault\n",
			argv[0]);
		return 2;
	}
	return -1;
}

/* Loads the config and opens the service's database (not migrated). */
static int open_store(const struct opts *o, struct sr_config **cfg, struct sr_store **st)
{
	char err[512];
	const char *url;
	int rc;

	rc = sr_config_load(o->config, cfg, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "strongroom audit: %s\n", err);
		return rc;
	}
	url = sr_store_url_for_service(*cfg, o->service);
	/* Opening a missing SQLite file would create an empty database; an
	 * audit command must not leave one behind. */
	if (strncmp(url, "sqlite:", 7) == 0) {
		char *path = url[7] == '/' ? sr_xstrdup(url + 7) : sr_config_resolve(*cfg, url + 7);
		bool missing = access(path, F_OK) != 0;
		if (missing)
			fprintf(stderr, "strongroom audit: no %s database at %s\n", o->service,
				path);
		free(path);
		if (missing)
			return SR_E_NOTFOUND;
	}
	err[0] = '\0';
	rc = sr_store_open_for_service(*cfg, o->service, 1, st, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "strongroom audit: cannot open the %s database: %s\n", o->service,
			err[0] ? err : sr_strerror(rc));
		return rc;
	}
	rc = sr_audit_tables_exist(*st);
	if (rc != 0)
		fprintf(stderr,
			"strongroom audit: the %s database has no audit log (%s); run "
			"'strongroom migrate --config %s --service %s' first\n",
			o->service, sr_strerror(rc), o->config, o->service);
	return rc;
}

static void key_error(const char *what, const char *path, int rc)
{
	const char *why = sr_strerror(rc);

	if (rc == SR_E_CONFIG)
		why = "readable by group or others, or not a regular file (chmod 0400)";
	else if (rc == SR_E_INVAL)
		why = "not exactly 32 bytes";
	else if (rc == SR_E_IO)
		why = strerror(errno);
	fprintf(stderr, "strongroom audit: cannot use %s %s: %s\n", what, path ? path : "(unset)",
		why);
}

static int cmd_verify(const struct opts *o)
{
	struct sr_config *cfg = NULL;
	struct sr_store *st = NULL;
	struct sr_audit_key *key = NULL;
	struct sr_audit_signer *signer = NULL;
	struct sr_audit_verify_result res;
	char *key_path = NULL, *seed_path = NULL, *cp_path = NULL;
	int rc, status = 1;

	if (open_store(o, &cfg, &st) != 0)
		goto out;
	key_path = sr_config_path(cfg, o->service, "audit_key_file");
	seed_path = sr_config_path(cfg, o->service, "audit_signing_key_file");
	cp_path = sr_config_path(cfg, o->service, "audit_checkpoint_file");
	rc = sr_audit_key_load(key_path, &key);
	if (rc != 0) {
		key_error("audit key", key_path, rc);
		goto out;
	}
	if (cp_path != NULL) {
		rc = sr_audit_signer_load(seed_path, &signer);
		if (rc != 0) {
			key_error("audit signing key", seed_path, rc);
			goto out;
		}
	}
	rc = sr_audit_verify(st, key, o->service,
			     signer ? sr_audit_signer_public_key(signer) : NULL, cp_path, &res);
	if (res.no_checkpoint_file)
		fprintf(stderr,
			"strongroom audit verify: warning: no checkpoint file%s%s: records cut "
			"off the end of the log cannot be detected\n",
			cp_path ? " at " : " configured", cp_path ? cp_path : "");
	if (res.torn_checkpoint)
		fprintf(stderr, "strongroom audit verify: warning: the last checkpoint line was "
				"cut short (a crash while writing it) and was skipped\n");
	if (rc == 0) {
		printf("%s\n", res.message);
		status = 0;
	} else if (rc == SR_E_TAMPER) {
		printf("%s audit log NOT intact (%s): %s\n", o->service,
		       sr_audit_problem_name(res.problem), res.message);
		if (res.records > 0)
			printf("%lld records up to seq %lld verified before that\n",
			       (long long)res.records, (long long)res.last_seq);
	} else {
		fprintf(stderr, "strongroom audit verify: cannot verify: %s%s%s\n", sr_strerror(rc),
			res.message[0] ? ": " : "", res.message);
	}
out:
	sr_audit_signer_free(signer);
	sr_audit_key_free(key);
	free(key_path);
	free(seed_path);
	free(cp_path);
	sr_store_close(st);
	sr_config_free(cfg);
	return status;
}

/* ---- tail ---------------------------------------------------------------- */

struct tail_row {
	int64_t seq;
	char *f[10]; /* ts actor_type actor_id action object_type object_id outcome ip request_id details */
};

struct tail_arg {
	long want;
	struct tail_row *rows;
	size_t n;
};

static void free_rows(struct tail_arg *a)
{
	for (size_t i = 0; i < a->n; i++)
		for (size_t j = 0; j < 10; j++)
			free(a->rows[i].f[j]);
	a->n = 0;
}

static int tail_tx(struct sr_conn *c, void *argp)
{
	struct tail_arg *a = argp;
	struct sr_stmt *s = NULL;
	int rc;

	free_rows(a);
	rc = sr_stmt_prepare(
		c,
		"SELECT seq, ts, actor_type, actor_id, action, object_type, object_id, "
		"outcome, ip, request_id, details FROM audit_log ORDER BY seq DESC "
		"LIMIT $1",
		&s);
	if (rc == 0)
		rc = sr_stmt_bind_i64(s, 1, a->want);
	while (rc == 0 && (rc = sr_stmt_step(s)) > 0 && a->n < (size_t)a->want) {
		struct tail_row *r = &a->rows[a->n++];
		r->seq = sr_stmt_col_i64(s, 0);
		for (int j = 0; j < 10; j++) {
			size_t len = 0;
			const char *t = sr_stmt_col_text(s, j + 1, &len);
			r->f[j] = sr_xstrndup(t ? t : "", t ? len : 0);
		}
		rc = 0;
	}
	sr_stmt_done(s);
	return rc < 0 ? rc : 0;
}

/* What an attacker with database access wrote must not drive the terminal. */
static const char *printable(char *s)
{
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

static json_t *jstr(const char *s)
{
	json_t *v = json_string(s);
	if (v == NULL) { /* not UTF-8: show it, mangled, rather than hide it */
		char *copy = sr_xstrdup(s);
		for (char *p = copy; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		v = json_string(copy);
		free(copy);
	}
	return v;
}

static void print_json(const struct tail_row *r)
{
	static const char *const names[] = {"ts",      "actor_type",  "actor_id",
					    "action",  "object_type", "object_id",
					    "outcome", "ip",          "request_id"};
	json_t *o = json_object();
	json_t *details;
	char *line;

	json_object_set_new(o, "seq", json_integer(r->seq));
	for (int j = 0; j < 9; j++)
		json_object_set_new(o, names[j], jstr(r->f[j]));
	details = json_loads(r->f[9], JSON_REJECT_DUPLICATES, NULL);
	json_object_set_new(o, "details", details ? details : jstr(r->f[9]));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line != NULL)
		printf("%s\n", line);
	free(line);
	json_decref(o);
}

static int cmd_tail(const struct opts *o)
{
	struct sr_config *cfg = NULL;
	struct sr_store *st = NULL;
	struct tail_arg a = {.want = o->n};
	int rc, status = 1;

	a.rows = sr_xcalloc((size_t)o->n, sizeof *a.rows);
	if (open_store(o, &cfg, &st) != 0)
		goto out;
	rc = sr_store_tx(st, SR_TX_READ, tail_tx, &a);
	if (rc != 0) {
		fprintf(stderr, "strongroom audit tail: cannot read the audit log: %s\n",
			sr_strerror(rc));
		goto out;
	}
	if (!o->json)
		printf("%-8s %-24s %-28s %-24s %-28s %-8s %s\n", "SEQ", "TIME", "ACTOR", "ACTION",
		       "OBJECT", "OUTCOME", "REQUEST");
	for (size_t i = a.n; i-- > 0;) {
		struct tail_row *r = &a.rows[i];
		if (o->json) {
			print_json(r);
			continue;
		}
		char *actor = sr_xasprintf("%s:%s", r->f[1], r->f[2]);
		char *object = r->f[4][0] || r->f[5][0] ? sr_xasprintf("%s:%s", r->f[4], r->f[5])
							: sr_xstrdup("-");
		printf("%-8lld %-24s %-28s %-24s %-28s %-8s %s\n", (long long)r->seq,
		       printable(r->f[0]), printable(actor), printable(r->f[3]), printable(object),
		       printable(r->f[6]), r->f[8][0] ? printable(r->f[8]) : "-");
		free(actor);
		free(object);
	}
	status = 0;
out:
	free_rows(&a);
	free(a.rows);
	sr_store_close(st);
	sr_config_free(cfg);
	return status;
}

int sr_cmd_audit(int argc, char **argv)
{
	struct opts o = {0};
	bool tail;
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "strongroom audit: libsodium failed to initialise\n");
		return 1;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "tail") != 0) {
		fprintf(stderr, "strongroom audit: unknown action '%s' (verify or tail)\n\n",
			argv[1]);
		usage(stderr);
		return 2;
	}
	tail = strcmp(argv[1], "tail") == 0;
	rc = parse(argc - 1, argv + 1, tail, &o);
	if (rc >= 0)
		return rc;
	return tail ? cmd_tail(&o) : cmd_verify(&o);
}
