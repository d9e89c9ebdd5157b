/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading text secrets (PEM keys, API tokens) for the notification senders.
 * The bytes go straight from read(2) into guarded sodium_malloc memory, so
 * no copy is left in stdio buffers; the caller wipes them with sodium_free.
 */
#include "platform/notify/secretfile.h"
#include "base/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

int sr_secretfile_read(const char *path, int trim, char **out, size_t *len)
{
	int rc = 0, fd = -1;
	char *buf = NULL;
	struct stat st;
	*out = NULL;
	*len = 0;
	if (sodium_init() < 0)
		return SR_E_CRYPTO;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		rc = SR_E_IO;
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		rc = SR_E_CONFIG;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > SR_KEY_FILE_MAX) {
		rc = SR_E_LIMIT;
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	if ((buf = sodium_malloc(size + 1)) == NULL) {
		rc = SR_E_IO;
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = SR_E_IO;
			goto out;
		}
		got += (size_t)n;
	}
	while (trim && got > 0 &&
	       (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' '))
		got--;
	if (got == 0) {
		rc = SR_E_LIMIT;
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	if (buf != NULL)
		sodium_free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}
