/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key files and atomic writes. Whoever calls sr_keyfile_read holds the key in
 * sodium_malloc memory (guarded, locked, wiped on sodium_free) and nowhere
 * else: the file is read straight into that buffer, never through stdio,
 * whose buffers would keep a copy. Writing goes through a temporary file and
 * rename(2) so that a crash never leaves a half-written key or certificate.
 */
#include "crypto/keyfile.h"
#include "base/limits.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fsync of the folder makes the rename itself durable. */
static int sync_parent(const char *path)
{
	int rc = 0;
	char *copy = sr_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = SR_E_IO;
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	free(copy);
	return rc;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SR_E_IO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sr_keyfile_write(const char *path, const void *data, size_t len, mode_t mode)
{
	int rc = 0;
	int fd = -1;
	char *tmp = NULL;
	if (path == NULL || path[0] == '\0')
		return SR_E_INVAL;
	tmp = sr_xasprintf("%s.tmp.XXXXXX", path);
	/* mkstemp opens with O_EXCL and mode 0600, so nobody else can have the
	 * temporary open; fchmod then sets the final mode regardless of umask. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		return SR_E_IO;
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = SR_E_IO;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	rc = sync_parent(path);
out:
	if (rc != 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		unlink(tmp); /* after a failed rename only; harmless otherwise */
		errno = saved;
	}
	free(tmp);
	return rc;
}

int sr_keyfile_write_random(const char *path, size_t len, mode_t mode)
{
	if (len == 0 || len > SR_KEY_FILE_MAX)
		return SR_E_INVAL;
	if (sodium_init() < 0) /* idempotent; 1 when already done */
		return SR_E_CRYPTO;
	unsigned char *key = sodium_malloc(len);
	if (key == NULL)
		abort(); /* the core aborts on out-of-memory */
	randombytes_buf(key, len);
	int rc = sr_keyfile_write(path, key, len, mode);
	sodium_free(key);
	return rc;
}

int sr_keyfile_read(const char *path, size_t expected_len, unsigned char **out)
{
	int rc = 0;
	int fd = -1;
	unsigned char *key = NULL;
	struct stat st;
	*out = NULL;
	if (expected_len == 0 || expected_len > SR_KEY_FILE_MAX)
		return SR_E_INVAL;
	if (sodium_init() < 0)
		return SR_E_CRYPTO;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return SR_E_IO;
	if (fstat(fd, &st) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		rc = SR_E_IO;
		goto out;
	}
	/* Like OpenSSH with private keys: a key anyone else could read (or
	 * replace) is refused rather than used, so the mistake gets fixed. */
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		rc = SR_E_CONFIG;
		goto out;
	}
	if (st.st_size != (off_t)expected_len) {
		rc = SR_E_LIMIT;
		goto out;
	}
	key = sodium_malloc(expected_len);
	if (key == NULL)
		abort();
	size_t got = 0;
	while (got < expected_len) {
		ssize_t n = read(fd, key + got, expected_len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = SR_E_IO;
			goto out;
		}
		if (n == 0) { /* shrank since fstat */
			rc = SR_E_LIMIT;
			goto out;
		}
		got += (size_t)n;
	}
	/* Grew since fstat: one more byte means the length is wrong. */
	unsigned char extra;
	ssize_t more = read(fd, &extra, 1);
	if (more != 0) {
		rc = more > 0 ? SR_E_LIMIT : SR_E_IO;
		goto out;
	}
	*out = key;
	key = NULL;
out:
	if (key != NULL)
		sodium_free(key);
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}
