/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secret input for CLI commands (prompt.h): `user create` passwords,
 * `vault unseal` shares and the shares that `vault init-shares` and
 * `vault rotate-keys` recover the KEK from.
 */
#include "cmd/prompt.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

static long read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	bool got = false;
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0) {
			if (!got)
				goto fail; /* end of input: no line at all */
			break;
		}
		got = true;
		if (ch == '\n')
			break;
		if (n + 1 >= cap) {
			sodium_memzero(&ch, 1);
			goto fail;
		}
		buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (long)n;
fail:
	sodium_memzero(buf, cap);
	return -1;
}

bool sr_cmd_secret_from_tty(void)
{
	return isatty(STDIN_FILENO) == 1;
}

long sr_cmd_read_secret(const char *prompt, char *buf, size_t cap)
{
	if (cap < 2)
		return -1;
	if (!sr_cmd_secret_from_tty())
		return read_line(STDIN_FILENO, buf, cap);
	int fd = STDIN_FILENO;
	struct termios old, quiet;
	if (tcgetattr(fd, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	/* Restore echo even on Ctrl-C: block it while echo is off. */
	sigset_t block, prev;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGTSTP);
	sigprocmask(SIG_BLOCK, &block, &prev);
	long n = -1;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0) {
		/* Prompt only once echo is off (TCSAFLUSH drops anything typed
		 * before): what is typed after the prompt is never shown. */
		fprintf(stderr, "%s", prompt);
		fflush(stderr);
		n = read_line(fd, buf, cap);
		(void)tcsetattr(fd, TCSANOW, &old);
	}
	sigprocmask(SIG_SETMASK, &prev, NULL);
	fputc('\n', stderr);
	return n;
}
