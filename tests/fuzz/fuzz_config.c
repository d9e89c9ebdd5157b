/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for strongroom.conf parsing and validation: arbitrary file
 * contents through sr_config_load (libinih plus our line reader and the
 * settings table). A config that loads must give every setting a value.
 */
#include "base/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	/* sr_config_load resolves the path (realpath), so the input goes to a
	 * real file, one per process, rewritten for every input. */
	static char path[64];
	if (path[0] == '\0')
		snprintf(path, sizeof path, "/tmp/sr-fuzz-config-%d.conf", (int)getpid());
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return 0;
	size_t w = fwrite(data, 1, size, f);
	fclose(f);
	if (w != size)
		return 0;
	struct sr_config *cfg = NULL;
	char err[512];
	if (sr_config_load(path, &cfg, err, sizeof err) == 0) {
		if (sr_config_str(cfg, "platform", "listen")[0] == '\0' ||
		    sr_config_int(cfg, "limits", "body_max") < 0)
			abort();
		sr_config_free(cfg);
	}
	return 0;
}
