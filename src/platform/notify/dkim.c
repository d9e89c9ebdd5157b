/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DKIM signatures through libopendkim. The signer owns the DKIM private keys
 * of the platform: the PEM text sits in sodium_malloc memory, and
 * libopendkim is given allocators that wipe every block they free, because
 * it copies the key into its own context on each dkim_sign(). Nothing here
 * logs a key or a message.
 */
#include "platform/notify/dkim.h"
#include "base/config.h"
#include "base/mem.h"
#include "platform/notify/secretfile.h"

#include <errno.h>
#include <opendkim/dkim.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sr_dkim {
	DKIM_LIB *lib;
	char *domain, *selector;
	char *ed_selector; /* SELECTOR-ed25519 */
	char *rsa_pem;     /* sodium_malloc */
	size_t rsa_len;
	char *ed_pem; /* sodium_malloc, NULL when off */
	size_t ed_len;
};

/* Every block libopendkim allocates carries its size in front so that the
 * free hook can wipe it: the key copies and canonicalized headers live there. */
static void *wipe_malloc(void *closure, size_t n)
{
	(void)closure;
	if (n > SIZE_MAX - 16)
		return NULL;
	unsigned char *p = malloc(n + 16);
	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof n);
	return p + 16;
}

static void wipe_free(void *closure, void *ptr)
{
	(void)closure;
	if (ptr == NULL)
		return;
	unsigned char *p = (unsigned char *)ptr - 16;
	size_t n;
	memcpy(&n, p, sizeof n);
	sodium_memzero(p, n + 16);
	free(p);
}

bool sr_dkim_ed25519_supported(void)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (lib == NULL)
		return false;
	bool ok = dkim_libfeature(lib, DKIM_FEATURE_ED25519) &&
		  dkim_libfeature(lib, DKIM_FEATURE_SHA256);
	dkim_close(lib);
	return ok;
}

/* selector and domain: LDH labels with dots, as DNS names. */
static bool dns_name_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || (c == '.' && s[i + 1] != '.')))
			return false;
	}
	return true;
}

static int load_key(const char *path, const char *what, char **pem, size_t *len, char *err,
		    size_t errlen)
{
	int rc = sr_secretfile_read(path, 0, pem, len);
	if (rc == SR_E_IO)
		snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
	else if (rc == SR_E_CONFIG)
		snprintf(err, errlen, "%s %s: group or others may access it (chmod 0400 it)", what,
			 path);
	else if (rc != 0)
		snprintf(err, errlen, "%s %s: %s", what, path, sr_strerror(rc));
	else if (strncmp(*pem, "-----BEGIN ", 11) != 0) {
		snprintf(err, errlen, "%s %s: not a PEM private key", what, path);
		sodium_free(*pem);
		*pem = NULL;
		rc = SR_E_CRYPTO;
	}
	return rc;
}

int sr_dkim_new(const char *domain, const char *selector, const char *rsa_key_file,
		const char *ed25519_key_file, struct sr_dkim **out, char *err, size_t errlen)
{
	int rc = 0;
	struct sr_dkim *d = NULL;
	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (domain == NULL || selector == NULL || !dns_name_ok(domain) || !dns_name_ok(selector)) {
		snprintf(err, errlen, "DKIM domain and selector must be DNS names");
		return SR_E_INVAL;
	}
	if (rsa_key_file == NULL) {
		snprintf(err, errlen, "no DKIM RSA key file");
		return SR_E_INVAL;
	}
	d = sr_xcalloc(1, sizeof *d);
	d->domain = sr_xstrdup(domain);
	d->selector = sr_xstrdup(selector);
	d->ed_selector = sr_xasprintf("%s-ed25519", selector);
	if ((d->lib = dkim_init(wipe_malloc, wipe_free)) == NULL) {
		snprintf(err, errlen, "libopendkim failed to initialise");
		rc = SR_E_CRYPTO;
		goto out;
	}
	/* Sign exactly the headers a member sees and that say who and what. */
	static const char *sign[] = {"from",       "to",           "subject",      "date",
				     "message-id", "mime-version", "content-type", NULL};
	static const char *oversign[] = {"from", "subject", NULL};
	/* FIXCRLF: libopendkim takes CRLF or LF input alike. */
	unsigned int flags = 0;
	DKIM_STAT st = dkim_options(d->lib, DKIM_OP_GETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
	flags |= DKIM_LIBFLAGS_FIXCRLF;
	if (st == DKIM_STAT_OK)
		st = dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
	if (st == DKIM_STAT_OK)
		st = dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)sign,
				  sizeof(char **));
	if (st == DKIM_STAT_OK)
		st = dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversign,
				  sizeof(char **));
	if (st != DKIM_STAT_OK) {
		snprintf(err, errlen, "libopendkim refused the signing options");
		rc = SR_E_CRYPTO;
		goto out;
	}
	if ((rc = load_key(rsa_key_file, "DKIM RSA key", &d->rsa_pem, &d->rsa_len, err, errlen)) !=
	    0)
		goto out;
	if (ed25519_key_file != NULL) {
		if (!sr_dkim_ed25519_supported()) {
			snprintf(err, errlen,
				 "this libopendkim cannot sign ed25519-sha256; unset "
				 "[email] dkim_ed25519_key_file");
			rc = SR_E_CONFIG;
			goto out;
		}
		if ((rc = load_key(ed25519_key_file, "DKIM Ed25519 key", &d->ed_pem, &d->ed_len,
				   err, errlen)) != 0)
			goto out;
	}
	/* Sign a tiny message now, so a key libopendkim cannot use stops the
	 * service at start-up rather than every delivery later. */
	static const char probe[] = "From: <a@b.invalid>\r\nSubject: probe\r\n\r\nprobe\r\n";
	char *signed_probe = NULL;
	size_t signed_len;
	if ((rc = sr_dkim_sign(d, probe, sizeof probe - 1, &signed_probe, &signed_len)) != 0) {
		snprintf(err, errlen, "libopendkim cannot sign with the DKIM key(s) in %s%s%s",
			 rsa_key_file, ed25519_key_file ? " and " : "",
			 ed25519_key_file ? ed25519_key_file : "");
		goto out;
	}
	free(signed_probe);
out:
	if (rc != 0)
		sr_dkim_free(d);
	else
		*out = d;
	return rc;
}

int sr_dkim_from_config(const struct sr_config *cfg, struct sr_dkim **out, char *err, size_t errlen)
{
	char *rsa = sr_config_path(cfg, "email", "dkim_key_file");
	char *ed = sr_config_path(cfg, "email", "dkim_ed25519_key_file");
	int rc = sr_dkim_new(sr_config_str(cfg, "email", "dkim_domain"),
			     sr_config_str(cfg, "email", "dkim_selector"), rsa, ed, out, err,
			     errlen);
	free(rsa);
	free(ed);
	return rc;
}

void sr_dkim_free(struct sr_dkim *d)
{
	if (d == NULL)
		return;
	if (d->lib != NULL)
		dkim_close(d->lib);
	if (d->rsa_pem != NULL)
		sodium_free(d->rsa_pem);
	if (d->ed_pem != NULL)
		sodium_free(d->ed_pem);
	free(d->domain);
	free(d->selector);
	free(d->ed_selector);
	free(d);
}

#define SIG_PREFIX "DKIM-Signature: "

/* One signature over msg with one key; appends the header, CRLF-terminated,
 * to *hdrs. */
static int sign_one(struct sr_dkim *d, const char *pem, const char *selector, dkim_alg_t alg,
		    const char *msg, size_t hdrlen, size_t len, char **hdrs)
{
	int rc = SR_E_CRYPTO;
	DKIM_STAT st;
	u_char *sig = NULL;
	size_t siglen = 0;
	DKIM *k = dkim_sign(d->lib, (const unsigned char *)"strongroom", NULL, (dkim_sigkey_t)pem,
			    (const unsigned char *)selector, (const unsigned char *)d->domain,
			    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, alg, -1, &st);
	if (k == NULL)
		return SR_E_CRYPTO;
	/* Header fields one by one: a field is its first line plus the
	 * continuation lines that start with white space, without the final
	 * CRLF. */
	size_t i = 0;
	while (i < hdrlen) {
		size_t start = i;
		for (;;) {
			const char *nl = memchr(msg + i, '\n', hdrlen - i);
			i = nl != NULL ? (size_t)(nl - msg) + 1 : hdrlen;
			if (i >= hdrlen || (msg[i] != ' ' && msg[i] != '\t'))
				break;
		}
		size_t end = i;
		while (end > start && (msg[end - 1] == '\n' || msg[end - 1] == '\r'))
			end--;
		if (dkim_header(k, (u_char *)(msg + start), end - start) != DKIM_STAT_OK)
			goto out;
	}
	if (dkim_eoh(k) != DKIM_STAT_OK)
		goto out;
	const char *body = msg + hdrlen + 2; /* past the empty line's CRLF */
	if (body < msg + len &&
	    dkim_body(k, (u_char *)body, (size_t)(msg + len - body)) != DKIM_STAT_OK)
		goto out;
	if (dkim_eom(k, NULL) != DKIM_STAT_OK ||
	    dkim_getsighdr_d(k, strlen(SIG_PREFIX), &sig, &siglen) != DKIM_STAT_OK)
		goto out;
	/* libopendkim folds with bare LF; SMTP needs CRLF. */
	char *h = *hdrs;
	size_t hl = h ? strlen(h) : 0;
	h = sr_xrealloc(h, hl + strlen(SIG_PREFIX) + 2 * siglen + 3);
	memcpy(h + hl, SIG_PREFIX, strlen(SIG_PREFIX));
	hl += strlen(SIG_PREFIX);
	for (size_t j = 0; j < siglen; j++) {
		if (sig[j] == '\r')
			continue;
		if (sig[j] == '\n')
			h[hl++] = '\r';
		h[hl++] = (char)sig[j];
	}
	memcpy(h + hl, "\r\n", 3);
	*hdrs = h;
	rc = 0;
out:
	dkim_free(k);
	return rc;
}

int sr_dkim_sign(struct sr_dkim *d, const char *msg, size_t len, char **out, size_t *outlen)
{
	int rc;
	char *hdrs = NULL;
	*out = NULL;
	*outlen = 0;
	/* The header block ends at the first empty line. */
	size_t hdrlen = 0;
	const char *p = msg;
	for (;;) {
		const char *e = memchr(p, '\n', len - (size_t)(p - msg));
		if (e == NULL)
			return SR_E_INVAL;
		if (e == p + 1 && *p == '\r') {
			hdrlen = (size_t)(p - msg);
			break;
		}
		p = e + 1;
	}
	if (hdrlen == 0)
		return SR_E_INVAL;
	if ((rc = sign_one(d, d->rsa_pem, d->selector, DKIM_SIGN_RSASHA256, msg, hdrlen, len,
			   &hdrs)) != 0)
		goto out;
	if (d->ed_pem != NULL &&
	    (rc = sign_one(d, d->ed_pem, d->ed_selector, DKIM_SIGN_ED25519SHA256, msg, hdrlen, len,
			   &hdrs)) != 0)
		goto out;
	size_t hl = strlen(hdrs);
	*out = sr_xmalloc(hl + len + 1);
	memcpy(*out, hdrs, hl);
	memcpy(*out + hl, msg, len);
	(*out)[hl + len] = '\0';
	*outlen = hl + len;
out:
	free(hdrs);
	return rc;
}
