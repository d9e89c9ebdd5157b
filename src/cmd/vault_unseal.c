/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `strongroom vault unseal`: one operator gives one KEK share to a running,
 * sealed vault (procedure in docs/keys.md, "Production: a sealed vault").
 *
 * Who holds what: the share is read from the terminal with echo off (or
 * from stdin when it is not a terminal: a pipe from a password manager),
 * never from an argument, where ps and shell history would keep it. It is
 * read byte by byte into sodium_malloc memory (no stdio buffer holds a
 * copy), checked locally (its checksum catches a typo before anything is
 * sent), sent once over TLS to the vault, verified against the instance's
 * CA (tls/ca.crt next to the config, or --ca), and wiped. The vault answers
 * with the progress, which is printed: "2 of 3 shares; 1 more needed" or
 * "unsealed".
 */
#include "base/config.h"
#include "base/mem.h"
#include "cmd/cmd.h"
#include "cmd/prompt.h"
#include "crypto/shares.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD             "strongroom vault unseal"
#define SHARE_INPUT_MAX (SR_SHARES_TEXT_MAX + 64)
#define RESPONSE_MAX    65536

static void usage(FILE *f)
{
	fprintf(f, "usage: strongroom vault unseal --config FILE [--url URL] [--ca FILE]\n"
		   "\n"
		   "Gives ONE KEK share (from 'strongroom vault init-shares') to a running vault\n"
		   "that was started sealed ([vault] kek_source = shares), and prints the\n"
		   "progress: \"2 of 3 shares; 1 more needed\", or \"unsealed\" once the\n"
		   "threshold is reached and the vault opened its key ring. Each operator runs\n"
		   "it with their own share; the vault keeps the shares entered so far. A vault\n"
		   "that is not sealed is left alone (no share is read).\n"
		   "\n"
		   "The share is read from the terminal without echo, or from stdin when stdin\n"
		   "is not a terminal (one line). It is never accepted as an argument.\n"
		   "\n"
		   "options:\n"
		   "  -c, --config FILE   strongroom.conf of the instance (required)\n"
		   "  -u, --url URL       the vault, https://HOST:PORT (default: https:// and\n"
		   "                      [vault] listen)\n"
		   "      --ca FILE       CA certificate to trust (default: tls/ca.crt next to\n"
		   "                      the config file)\n"
		   "  -h, --help          show this help\n");
}

/* ---- reading the share ------------------------------------------------------ */

/* The share, from the terminal without echo or from stdin (cmd/prompt.h). */
static int read_share(char *buf, size_t cap)
{
	if (sr_cmd_read_secret("Enter your unseal share (input is hidden): ", buf, cap) >= 0)
		return 0;
	if (sr_cmd_secret_from_tty())
		fprintf(stderr, CMD ": cannot read the share from the terminal\n");
	else
		fprintf(stderr,
			CMD ": cannot read a share from stdin (one line, at most %d characters)\n",
			(int)cap - 1);
	return -1;
}

/* ---- HTTPS ----------------------------------------------------------------- */

struct target {
	char host[256];
	unsigned port;
};

static int parse_url(const char *url, struct target *t)
{
	static const char scheme[] = "https://";
	char hostport[300];
	if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
		fprintf(stderr, CMD ": --url must start with https:// (got '%s')\n", url);
		return -1;
	}
	const char *p = url + sizeof scheme - 1;
	size_t len = strcspn(p, "/");
	if (len == 0 || len >= sizeof hostport || (p[len] == '/' && p[len + 1] != '\0')) {
		fprintf(stderr, CMD ": --url must be https://HOST:PORT (got '%s')\n", url);
		return -1;
	}
	memcpy(hostport, p, len);
	hostport[len] = '\0';
	if (sr_config_split_hostport(hostport, t->host, sizeof t->host, &t->port) != 0) {
		fprintf(stderr, CMD ": --url must be https://HOST:PORT (got '%s')\n", url);
		return -1;
	}
	return 0;
}

static void print_ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	fprintf(stderr, CMD ": %s%s%s\n", what, buf[0] ? ": " : "", buf);
}

/*
 * Sends one request (POST with body of len bytes, or GET when body is NULL)
 * to path over TLS, verifying the server against ca_file and t->host. *resp
 * gets the raw response (malloc'd, NUL-terminated). Returns 0 or -1
 * (message printed).
 */
static int https_call(const struct target *t, const char *ca_file, const char *path,
		      const char *body, size_t len, char **resp, size_t *resp_len)
{
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	SSL *ssl = NULL;
	char *head = NULL, *buf = NULL;
	size_t n = 0;
	int rc = -1;
	bool ipv6 = strchr(t->host, ':') != NULL;

	*resp = NULL;
	*resp_len = 0;
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		print_ssl_error("cannot set up TLS");
		goto out;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		fprintf(stderr, CMD ": cannot load the CA certificate %s\n", ca_file);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	bio = BIO_new_ssl_connect(ctx);
	if (bio == NULL || BIO_get_ssl(bio, &ssl) != 1 || ssl == NULL) {
		print_ssl_error("cannot set up TLS");
		goto out;
	}
	char conn[300];
	snprintf(conn, sizeof conn, ipv6 ? "[%s]:%u" : "%s:%u", t->host, t->port);
	BIO_set_conn_hostname(bio, conn);
	/* The certificate must name the host we dial (SAN DNS or IP). */
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char ipbuf[16];
	if (inet_pton(AF_INET, t->host, ipbuf) == 1 || inet_pton(AF_INET6, t->host, ipbuf) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, t->host) != 1)
			goto out;
	} else {
		SSL_set_tlsext_host_name(ssl, t->host);
		if (X509_VERIFY_PARAM_set1_host(vp, t->host, 0) != 1)
			goto out;
	}
	if (BIO_do_connect(bio) != 1 || BIO_do_handshake(bio) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			fprintf(stderr,
				CMD ": the vault at https://%s is not trusted: %s (CA %s)\n", conn,
				X509_verify_cert_error_string(v), ca_file);
		else
			print_ssl_error("cannot connect to the vault");
		if (v == X509_V_OK)
			fprintf(stderr, CMD ": is the vault running at https://%s ?\n", conn);
		goto out;
	}
	if (body != NULL)
		head = sr_xasprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: "
				    "application/json\r\nAccept: application/json\r\nUser-Agent: "
				    "strongroom-cli\r\nContent-Length: %zu\r\nConnection: "
				    "close\r\n\r\n",
				    path, conn, len);
	else
		head = sr_xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
				    "User-Agent: strongroom-cli\r\nConnection: close\r\n\r\n",
				    path, conn);
	if (BIO_write(bio, head, (int)strlen(head)) != (int)strlen(head) ||
	    (body != NULL && BIO_write(bio, body, (int)len) != (int)len) || BIO_flush(bio) != 1) {
		print_ssl_error("cannot send to the vault");
		goto out;
	}
	buf = sr_xmalloc(RESPONSE_MAX + 1);
	for (;;) {
		int r = BIO_read(bio, buf + n, (int)(RESPONSE_MAX - n));
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == RESPONSE_MAX)
			break;
	}
	if (n == 0) {
		print_ssl_error("the vault closed the connection without an answer");
		goto out;
	}
	buf[n] = '\0';
	*resp = buf;
	*resp_len = n;
	buf = NULL;
	rc = 0;
out:
	free(head);
	free(buf);
	BIO_free_all(bio);
	SSL_CTX_free(ctx);
	return rc;
}

/* Splits a raw HTTP/1.1 response into status and parsed JSON body. */
static int parse_response(const char *resp, size_t len, int *status, json_t **body)
{
	*body = NULL;
	*status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", status) != 1)
		return -1;
	const char *sep = strstr(resp, "\r\n\r\n");
	if (sep == NULL)
		return -1;
	sep += 4;
	*body = json_loadb(sep, len - (size_t)(sep - resp), 0, NULL);
	return *body ? 0 : -1;
}

/* ---- the command -------------------------------------------------------------- */

int sr_cmd_vault_unseal(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"url", required_argument, NULL, 'u'},
		{"ca", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *url = NULL, *ca = NULL;
	struct sr_config *cfg = NULL;
	char *ca_path = NULL, *default_url = NULL, *share = NULL, *req = NULL, *resp = NULL;
	unsigned char *bytes = NULL;
	json_t *body = NULL;
	struct target t = {0};
	char err[512];
	int ch, status = 1;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:u:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'u': url = optarg; break;
		case 'a': ca = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, CMD ": unknown or incomplete option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, CMD
			": unexpected argument; the share is never taken as an argument (ps and "
			"shell history would keep it): run the command and type it, or pipe it "
			"on stdin\n");
		return 2;
	}
	if (config == NULL) {
		fprintf(stderr, CMD ": --config FILE is required\n");
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, CMD ": libsodium failed to initialise\n");
		return 1;
	}
	if (sr_config_load(config, &cfg, err, sizeof err) != 0) {
		fprintf(stderr, CMD ": %s\n", err);
		goto out;
	}
	if (url == NULL) {
		char host[256];
		unsigned port = 0;
		const char *listen = sr_config_str(cfg, "vault", "listen");
		if (sr_config_split_hostport(listen, host, sizeof host, &port) != 0) {
			fprintf(stderr, CMD ": bad [vault] listen '%s'; give --url\n", listen);
			goto out;
		}
		/* A wildcard listener is reached on loopback. */
		const char *h = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
				: strcmp(host, "::") == 0    ? "::1"
							     : host;
		default_url =
			sr_xasprintf(strchr(h, ':') ? "https://[%s]:%u" : "https://%s:%u", h, port);
		url = default_url;
	}
	if (parse_url(url, &t) != 0)
		goto out;
	ca_path = ca ? sr_xstrdup(ca) : sr_config_resolve(cfg, "tls/ca.crt");

	/* Ask first: a vault that is not sealed (or not reachable, or not
	 * trusted) needs no share, so none is typed or sent. */
	{
		size_t slen0 = 0;
		int st0 = 0;
		if (https_call(&t, ca_path, "/v1/sys/seal-status", NULL, 0, &resp, &slen0) != 0)
			goto out;
		if (parse_response(resp, slen0, &st0, &body) != 0 || st0 != 200) {
			fprintf(stderr,
				CMD ": the vault at %s does not answer GET /v1/sys/seal-status "
				    "(HTTP %d)\n",
				url, st0);
			goto out;
		}
		if (!json_is_true(json_object_get(body, "sealed"))) {
			printf("the vault is not sealed; no share is needed\n");
			status = 0;
			goto out;
		}
		free(resp);
		resp = NULL;
		json_decref(body);
		body = NULL;
	}
	share = sodium_malloc(SHARE_INPUT_MAX + 1);
	bytes = sodium_malloc(SR_SHARES_SECRET_LEN);
	if (share == NULL || bytes == NULL) {
		fprintf(stderr, CMD ": out of secure memory\n");
		goto out;
	}
	if (read_share(share, SHARE_INPUT_MAX + 1) != 0)
		goto out;
	/* Check it here first: a typo is reported before anything is sent. */
	unsigned m = 0, x = 0;
	int rc = sr_shares_decode(share, &m, &x, bytes);
	sodium_memzero(bytes, SR_SHARES_SECRET_LEN);
	if (rc == SR_E_TAMPER) {
		fprintf(stderr, CMD ": this share failed its checksum: a character is mistyped. "
				    "Nothing was sent; check it and try again.\n");
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, CMD ": this is not a KEK share (srs1-M-X-... as given by "
				    "'strongroom vault init-shares'). Nothing was sent.\n");
		goto out;
	}
	/* Trimmed, a decoded share holds only [A-Za-z0-9-]: no JSON escaping. */
	size_t slen = strlen(share), lead = 0;
	while (lead < slen && isspace((unsigned char)share[lead]))
		lead++;
	memmove(share, share + lead, slen - lead + 1);
	slen -= lead;
	while (slen > 0 && isspace((unsigned char)share[slen - 1]))
		share[--slen] = '\0';
	size_t cap = slen + 32;
	req = sodium_malloc(cap);
	if (req == NULL) {
		fprintf(stderr, CMD ": out of secure memory\n");
		goto out;
	}
	int blen = snprintf(req, cap, "{\"share\":\"%s\"}", share);
	sodium_memzero(share, slen);
	size_t resp_len = 0;
	rc = https_call(&t, ca_path, "/v1/sys/unseal", req, (size_t)blen, &resp, &resp_len);
	sodium_memzero(req, cap);
	if (rc != 0)
		goto out;
	int http_status = 0;
	if (parse_response(resp, resp_len, &http_status, &body) != 0) {
		fprintf(stderr, CMD ": unexpected answer from the vault (HTTP %d)\n", http_status);
		goto out;
	}
	if (http_status != 200) {
		json_t *e = json_object_get(body, "error");
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		fprintf(stderr, CMD ": share %u refused (HTTP %d %s): %s\n", x, http_status,
			code ? code : "?", msg ? msg : "no message");
		goto out;
	}
	if (!json_is_true(json_object_get(body, "sealed"))) {
		printf("unsealed: the vault opened its key ring and is ready\n");
	} else {
		json_int_t thr = json_integer_value(json_object_get(body, "threshold"));
		json_int_t prog = json_integer_value(json_object_get(body, "progress"));
		printf("%lld of %lld shares; %lld more needed\n", (long long)prog, (long long)thr,
		       (long long)(thr - prog));
	}
	status = 0;
out:
	json_decref(body);
	free(resp);
	sodium_free(req);
	sodium_free(share);
	sodium_free(bytes);
	free(ca_path);
	free(default_url);
	sr_config_free(cfg);
	return status;
}
