/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until this command lands. */
#include "cmd/cmd.h"
#include <stdio.h>
int sr_cmd_migrate(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "strongroom %s: not built yet\n", argv[0]);
	return 1;
}
