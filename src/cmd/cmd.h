/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SR_CMD_CMD_H
#define SR_CMD_CMD_H

/*
 * The subcommands of the strongroom binary. main.c holds the one table that
 * maps names to these; each takes the arguments after its own name (argv[0]
 * is the subcommand name), handles --help itself, and returns the process
 * exit status: 0 success, 1 failure, 2 usage error.
 */

int sr_cmd_init(int argc, char **argv);
int sr_cmd_platform(int argc, char **argv);
int sr_cmd_vault(int argc, char **argv);
/* `strongroom vault init-shares|rotate-keys`: argv[0] is the subcommand. */
int sr_cmd_vault_keys(int argc, char **argv);
int sr_cmd_migrate(int argc, char **argv);
int sr_cmd_audit(int argc, char **argv);
int sr_cmd_config(int argc, char **argv);
/* `strongroom user create`: platform accounts for staff. */
int sr_cmd_user(int argc, char **argv);

#endif
