/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_VAULT_SERVICE_H
#define SR_VAULT_SERVICE_H

/*
 * Entry point of the card vault (PCI zone: tokens, keys, processor connector):
 * builds its route table on the shared HTTPS core (src/net) and serves until
 * SIGTERM/SIGINT.
 */
#include "base/err.h"

struct sr_config;

/*
 * Runs the vault service with cfg (borrowed). listen_override (may be NULL)
 * replaces [vault] listen. Blocks; returns 0 after a clean drain, or a
 * negative SR_E_* when start-up failed (already logged).
 */
int sr_vault_run(const struct sr_config *cfg, const char *listen_override) SR_WUR;

#endif
