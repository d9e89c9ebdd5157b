/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maildir delivery (the development stand-in for SMTP). Unique names follow
 * the Maildir convention TIME.MmicrosPpidRrandom.HOST; the write goes
 * through tmp/ and a rename into new/, so readers see whole messages only.
 * Messages can hold personal data (names, the anti-phishing code), so the
 * files are 0600 in 0700 folders.
 */
#include "platform/notify/maildir.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static int mkdir_if_missing(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return SR_E_IO;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return SR_E_IO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int sr_maildir_deliver(const char *dir, const char *msg, size_t len, char *name, size_t namelen)
{
	int rc = 0, fd = -1;
	char *tmp = NULL, *new = NULL, *sub = NULL, *lf = NULL;
	if (name != NULL && namelen > 0)
		name[0] = '\0';
	if (dir == NULL || dir[0] == '\0' || (name != NULL && namelen < 128))
		return SR_E_INVAL;
	if ((rc = mkdir_if_missing(dir)) != 0)
		goto out;
	static const char *const subs[] = {"tmp", "new", "cur"};
	for (size_t i = 0; i < 3; i++) {
		sub = sr_xasprintf("%s/%s", dir, subs[i]);
		rc = mkdir_if_missing(sub);
		free(sub);
		sub = NULL;
		if (rc != 0)
			goto out;
	}

	struct timeval tv;
	gettimeofday(&tv, NULL);
	char host[64] = "localhost", rnd[17];
	unsigned char r[8];
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	/* '/' and ':' would break the name; Maildir escapes them as octal. */
	for (char *c = host; *c; c++)
		if (*c == '/' || *c == ':')
			*c = '_';
	randombytes_buf(r, sizeof r);
	sodium_bin2hex(rnd, sizeof rnd, r, sizeof r);
	char base[128];
	snprintf(base, sizeof base, "%lld.M%ldP%ldR%s.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
		 (long)getpid(), rnd, host);

	/* CRLF -> LF: Maildir files use the local line ending. */
	lf = sr_xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
			lf[n++] = msg[i];

	tmp = sr_xasprintf("%s/tmp/%s", dir, base);
	new = sr_xasprintf("%s/new/%s", dir, base);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
	    (rc = write_all(fd, lf, n)) != 0 || fsync(fd) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = SR_E_IO;
		goto out;
	}
	fd = -1;
	if (rename(tmp, new) != 0) {
		rc = SR_E_IO;
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* Make the rename durable too. */
	sub = sr_xasprintf("%s/new", dir);
	int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	if (name != NULL)
		snprintf(name, namelen, "%s", base);
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL && rc != 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
	}
	free(tmp);
	free(new);
	free(sub);
	free(lf);
	return rc;
}
