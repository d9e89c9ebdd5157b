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
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	int fd = memfd_create("strongroom.conf", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct sr_config *cfg = NULL;
	char err[512];
	if (sr_config_load(path, &cfg, err, sizeof err) == 0) {
		if (sr_config_str(cfg, "platform", "listen")[0] == '\0' ||
		    sr_config_int(cfg, "limits", "body_max") < 0)
			abort();
		sr_config_free(cfg);
	}
	close(fd);
	return 0;
}
