/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CMD_INIT_H
#define SR_CMD_INIT_H

/*
 * `strongroom init`: creates a development instance in a folder. The layout
 * (all relative to the folder, matching the defaults in base/settings.h):
 *
 *   strongroom.conf            every setting, commented, at its default;
 *                              [instance] environment = development
 *   tls/ca.crt  ca.key(0400)   development CA, ECDSA P-256, 10 years
 *   tls/platform.crt .key(0600) server certificates (leaf then CA), P-256,
 *   tls/vault.crt    .key(0600) SAN localhost, 127.0.0.1, ::1, 397 days
 *   keys/NAME.key (0400)       32 random bytes each, raw binary
 *   keys/dkim-rsa.key (0400)   RSA-2048 DKIM key, PKCS#8 PEM
 *   dkim-dns.txt (0644)        SEL._domainkey.DOMAIN TXT "v=DKIM1; k=rsa; p=..."
 *   audit/ (0700)              signed audit checkpoints go here
 *   credentials.json (0600)    the API keys for the marketplace backend
 *
 * strongroom.conf is written last, so its presence marks a complete
 * instance; a run that died half-way can simply be repeated.
 */
#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Where each raw key file goes (relative to the instance folder) and its
 * length; the same paths as the settings' defaults. */
struct sr_init_keyfile {
	const char *section;
	const char *key;
	const char *path;
	size_t len;
};
extern const struct sr_init_keyfile sr_init_keyfiles[];
extern const size_t sr_init_nkeyfiles;

/*
 * Creates (or with force, recreates) the instance in dir, creating dir and
 * its parents with mode 0700 when missing. Every file is written atomically.
 * Returns 0, or SR_E_EXISTS (dir/strongroom.conf exists and !force),
 * SR_E_IO, SR_E_CRYPTO or SR_E_CONFIG, with a one-line reason in err.
 * Not thread-safe with another init of the same folder.
 */
int sr_init_instance(const char *dir, bool force, char *err, size_t errlen) SR_WUR;

#endif
